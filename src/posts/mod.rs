//! Posts: create, list with paging and search, read, update and delete.
//! Any verified user reads every post; only the author changes or deletes one.

mod handlers;
pub use handlers::PostResponse;
pub mod store;

use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::app::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(handlers::list, handlers::create))
        .routes(routes!(handlers::read, handlers::update, handlers::delete))
}
