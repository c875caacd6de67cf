//! Posts: create, list with paging and search, read, update and delete.
//! Any verified user reads every post; only the author changes or deletes one.

mod handlers;
pub mod store;

use axum::Router;
use axum::routing::get;

use crate::app::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/posts", get(handlers::list).post(handlers::create))
        .route(
            "/api/posts/{id}",
            get(handlers::read)
                .put(handlers::update)
                .patch(handlers::update)
                .delete(handlers::delete),
        )
}
