//! The `CurrentUser` extractor: a handler that takes it only runs for a
//! logged-in, verified user whose session is live.

use axum::extract::FromRequestParts;
use axum::http::HeaderMap;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use uuid::Uuid;

use super::cookies::{ACCESS_COOKIE, read_cookie};
use super::tokens::TokenType;
use crate::app::AppState;
use crate::db;
use crate::error::ApiError;
use crate::users::{User, store};

pub const NOT_LOGGED_IN: &str = "You are not logged in";
pub const INVALID_TOKEN: &str = "Token is invalid or has expired";
pub const USER_GONE: &str = "User no longer exist";
pub const NOT_VERIFIED: &str = "Please verify your account";

pub struct CurrentUser {
    pub user: User,
    pub session_id: Uuid,
}

/// Where a request carried its token, if anywhere.
pub enum TokenSource {
    Missing,
    /// An `Authorization` header that is not exactly `Bearer <token>`.
    Malformed,
    Found(String),
}

/// Reads the token from `Authorization: Bearer`, or else from `cookie_name`.
/// A present header decides even when the cookie holds a valid token.
pub fn find_token(headers: &HeaderMap, cookie_name: &str) -> TokenSource {
    if let Some(value) = headers.get(AUTHORIZATION) {
        let Ok(value) = value.to_str() else {
            return TokenSource::Malformed;
        };
        let mut parts = value.split_ascii_whitespace();
        return match (parts.next(), parts.next(), parts.next()) {
            (Some(scheme), Some(token), None) if scheme.eq_ignore_ascii_case("bearer") => {
                TokenSource::Found(token.to_owned())
            }
            _ => TokenSource::Malformed,
        };
    }
    match read_cookie(headers, cookie_name) {
        Some(token) if !token.is_empty() => TokenSource::Found(token),
        _ => TokenSource::Missing,
    }
}

impl FromRequestParts<AppState> for CurrentUser {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let token = match find_token(&parts.headers, ACCESS_COOKIE) {
            TokenSource::Missing => return Err(ApiError::Unauthorized(NOT_LOGGED_IN)),
            TokenSource::Malformed => return Err(ApiError::Unauthorized(INVALID_TOKEN)),
            TokenSource::Found(token) => token,
        };
        let verified = state
            .tokens
            .verify(&token, TokenType::Access)
            .map_err(|error| {
                tracing::debug!(%error, "rejected access token");
                ApiError::Unauthorized(INVALID_TOKEN)
            })?;

        let found =
            store::find_with_session(&state.db, verified.user_id, verified.session_id, db::now())
                .await?;
        let Some(found) = found else {
            return Err(ApiError::Unauthorized(USER_GONE));
        };
        if !found.session_live {
            return Err(ApiError::Unauthorized(INVALID_TOKEN));
        }
        if !found.user.verified {
            return Err(ApiError::Unauthorized(NOT_VERIFIED));
        }
        Ok(CurrentUser {
            user: found.user,
            session_id: verified.session_id,
        })
    }
}
