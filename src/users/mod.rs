//! User accounts: the stored user, its public view and `GET /api/users/me`.

pub mod store;

use axum::routing::get;
use axum::{Json, Router};
use chrono::{DateTime, Utc};
use serde::Serialize;
use uuid::Uuid;

use crate::app::AppState;
use crate::auth::CurrentUser;
use crate::db::serialize_timestamp;

pub use store::User;

/// The user as the API shows it: never the password hash or verification code.
#[derive(Debug, Serialize)]
pub struct UserResponse {
    pub id: Uuid,
    pub name: String,
    pub email: String,
    pub photo: String,
    pub role: String,
    pub verified: bool,
    #[serde(serialize_with = "serialize_timestamp")]
    pub created_at: DateTime<Utc>,
    #[serde(serialize_with = "serialize_timestamp")]
    pub updated_at: DateTime<Utc>,
}

impl From<User> for UserResponse {
    fn from(user: User) -> Self {
        Self {
            id: user.id,
            name: user.name,
            email: user.email,
            photo: user.photo,
            role: user.role,
            verified: user.verified,
            created_at: user.created_at,
            updated_at: user.updated_at,
        }
    }
}

pub fn router() -> Router<AppState> {
    Router::new().route("/api/users/me", get(me))
}

async fn me(CurrentUser { user, .. }: CurrentUser) -> Json<UserResponse> {
    Json(user.into())
}
