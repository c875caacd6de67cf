//! User accounts: the stored user, its public view and `GET /api/users/me`.

pub mod store;

use axum::Json;
use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use crate::app::AppState;
use crate::auth::CurrentUser;
use crate::db::serialize_timestamp;

pub use store::User;

/// The user as the API shows it: never the password hash or verification code.
#[derive(Debug, Serialize, utoipa::ToSchema)]
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

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(me))
}

#[utoipa::path(
    get,
    path = "/api/users/me",
    tag = "users",
    security(("bearer" = []), ("cookie" = [])),
    responses(
        (status = 200, description = "The logged-in user", body = UserResponse),
        (status = 401, description = "Missing, invalid or revoked token, or the user is gone or unverified", body = crate::docs::ErrorBody),
    )
)]
async fn me(CurrentUser { user, .. }: CurrentUser) -> Json<UserResponse> {
    Json(user.into())
}
