//! Accounts and sessions: register, verify email, login, refresh, logout.

pub mod cookies;
pub mod extractor;
mod handlers;
pub mod keys;
pub mod password;
mod recovery;
pub mod reset_tokens;
pub mod sessions;
pub mod tokens;

use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::app::AppState;
pub use extractor::CurrentUser;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(handlers::register))
        .routes(routes!(handlers::verify_email))
        .routes(routes!(handlers::login))
        .routes(routes!(handlers::refresh))
        .routes(routes!(handlers::logout))
        .routes(routes!(handlers::logout_all))
        .routes(routes!(recovery::resend_verification))
        .routes(routes!(recovery::forgot_password))
        .routes(routes!(
            recovery::reset_password_page,
            recovery::reset_password
        ))
        .routes(routes!(handlers::list_sessions))
        .routes(routes!(handlers::delete_session))
}
