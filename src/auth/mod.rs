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

use axum::Router;
use axum::routing::{delete, get, post};

use crate::app::AppState;
pub use extractor::CurrentUser;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/auth/register", post(handlers::register))
        .route("/api/auth/verifyemail/{token}", get(handlers::verify_email))
        .route("/api/auth/login", post(handlers::login))
        .route(
            "/api/auth/refresh",
            get(handlers::refresh).post(handlers::refresh),
        )
        .route(
            "/api/auth/logout",
            get(handlers::logout).post(handlers::logout),
        )
        .route("/api/auth/logout-all", post(handlers::logout_all))
        .route(
            "/api/auth/resend-verification",
            post(recovery::resend_verification),
        )
        .route("/api/auth/forgot-password", post(recovery::forgot_password))
        .route(
            "/api/auth/reset-password",
            get(recovery::reset_password_page).post(recovery::reset_password),
        )
        .route("/api/auth/sessions", get(handlers::list_sessions))
        .route("/api/auth/sessions/{id}", delete(handlers::delete_session))
}
