//! Handlers of the `/api/posts` routes.

use axum::Json;
use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::json;
use uuid::Uuid;

use super::store::{self, ChangeOutcome, PostChanges, PostRow};
use crate::app::AppState;
use crate::auth::CurrentUser;
use crate::db::{self, serialize_timestamp};
use crate::error::{ApiError, ApiResult};
use crate::validation::{BodyFields, JsonBody, Length, PathId, QueryParams};

const TITLE: Length = Length { min: 1, max: 255 };
const CONTENT: Length = Length {
    min: 1,
    max: 100_000,
};
const CATEGORY: Length = Length { min: 1, max: 100 };
const IMAGE: Length = Length { min: 1, max: 2048 };
const MAX_SEARCH_CHARS: usize = 255;

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct PostAuthor {
    pub id: Uuid,
    pub name: String,
    pub email: String,
    pub photo: String,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct PostResponse {
    pub id: Uuid,
    pub title: String,
    pub content: String,
    pub category: String,
    pub image: String,
    pub user_id: Uuid,
    pub user: PostAuthor,
    #[serde(serialize_with = "serialize_timestamp")]
    pub created_at: DateTime<Utc>,
    #[serde(serialize_with = "serialize_timestamp")]
    pub updated_at: DateTime<Utc>,
}

impl From<PostRow> for PostResponse {
    fn from(row: PostRow) -> Self {
        Self {
            id: row.id,
            title: row.title,
            content: row.content,
            category: row.category,
            image: row.image,
            user_id: row.user_id,
            user: PostAuthor {
                id: row.user_id,
                name: row.user_name,
                email: row.user_email,
                photo: row.user_photo,
            },
            created_at: row.created_at,
            updated_at: row.updated_at,
        }
    }
}

fn not_found(id: Uuid) -> ApiError {
    ApiError::not_found(format!("No post with this id: {id} found"))
}

fn not_author() -> ApiError {
    ApiError::forbidden("You are not allowed to perform this action")
}

#[utoipa::path(
    get,
    path = "/api/posts",
    tag = "posts",
    security(("bearer" = []), ("cookie" = [])),
    params(
        ("limit" = Option<i64>, Query, description = "Posts per page, 1 to 100", example = 10),
        ("page" = Option<i64>, Query, description = "Page number, from 1", example = 1),
        ("search" = Option<String>, Query, description = "Case-insensitive text that titles contain; `%` and `_` are literal"),
    ),
    responses(
        (status = 200, description = "One page of posts, newest first", body = crate::docs::PostList),
        (status = 401, description = "Missing, invalid or revoked token, or the user is gone or unverified", body = crate::docs::ErrorBody),
        (status = 422, description = "Invalid field", body = crate::docs::ValidationErrorBody),
    )
)]
pub async fn list(
    State(state): State<AppState>,
    _user: CurrentUser,
    RawQuery(query): RawQuery,
) -> ApiResult<Json<serde_json::Value>> {
    let params = QueryParams::parse(query.as_deref());
    let mut errors = Vec::new();
    let limit = params.integer("limit", 10, 1, 100, &mut errors);
    let page = params.integer("page", 1, 1, i64::MAX, &mut errors);
    if !errors.is_empty() {
        return Err(ApiError::Validation(errors));
    }
    // A longer search cannot match a title of at most 255 characters.
    let search: String = params
        .get("search")
        .unwrap_or("")
        .chars()
        .take(MAX_SEARCH_CHARS + 1)
        .collect();

    // Body validation keeps U+0000 out of titles, so a search containing it
    // matches nothing. PostgreSQL rejects U+0000 in a text parameter, so the
    // query is skipped.
    if search.contains('\0') {
        return Ok(Json(json!({
            "status": "success",
            "results": 0,
            "total": 0,
            "posts": [],
        })));
    }

    let offset = (page - 1).saturating_mul(limit);
    let (total, rows) = store::list(&state.db, &search, limit, offset).await?;
    let posts: Vec<PostResponse> = rows.into_iter().map(PostResponse::from).collect();
    Ok(Json(json!({
        "status": "success",
        "results": posts.len(),
        "total": total,
        "posts": posts,
    })))
}

#[utoipa::path(
    post,
    path = "/api/posts",
    tag = "posts",
    security(("bearer" = []), ("cookie" = [])),
    request_body = crate::docs::CreatePostRequest,
    responses(
        (status = 201, description = "Post created", body = PostResponse),
        (status = 401, description = "Missing, invalid or revoked token, or the user is gone or unverified", body = crate::docs::ErrorBody),
    )
)]
pub async fn create(
    State(state): State<AppState>,
    current: CurrentUser,
    body: JsonBody,
) -> ApiResult<Response> {
    let mut fields = BodyFields::new(body)?;
    let title = fields.required_line("title", TITLE);
    let content = fields.required_str("content", CONTENT);
    let category = fields.required_line("category", CATEGORY);
    let image = fields.required_line("image", IMAGE);
    fields.finish()?;
    let (Some(title), Some(content), Some(category), Some(image)) =
        (title, content, category, image)
    else {
        return Err(anyhow::anyhow!("validated post fields are missing").into());
    };

    let new_post = store::NewPost {
        title: &title,
        content: &content,
        category: &category,
        image: &image,
    };
    let row = store::insert(&state.db, current.user.id, &new_post, db::now()).await?;
    tracing::info!(post_id = %row.id, user_id = %current.user.id, "created a post");
    Ok((StatusCode::CREATED, Json(PostResponse::from(row))).into_response())
}

#[utoipa::path(
    get,
    path = "/api/posts/{id}",
    tag = "posts",
    security(("bearer" = []), ("cookie" = [])),
    params(("id" = uuid::Uuid, Path, description = "Post id")),
    responses(
        (status = 200, description = "The post", body = PostResponse),
        (status = 401, description = "Missing, invalid or revoked token, or the user is gone or unverified", body = crate::docs::ErrorBody),
        (status = 404, description = "No post with this id", body = crate::docs::ErrorBody),
        (status = 422, description = "Invalid field", body = crate::docs::ValidationErrorBody),
    )
)]
pub async fn read(
    State(state): State<AppState>,
    _user: CurrentUser,
    PathId(id): PathId,
) -> ApiResult<Json<PostResponse>> {
    match store::find(&state.db, id).await? {
        Some(row) => Ok(Json(row.into())),
        None => Err(not_found(id)),
    }
}

#[utoipa::path(
    method(put, patch),
    path = "/api/posts/{id}",
    tag = "posts",
    security(("bearer" = []), ("cookie" = [])),
    params(("id" = uuid::Uuid, Path, description = "Post id")),
    request_body = crate::docs::UpdatePostRequest,
    responses(
        (status = 200, description = "The updated post", body = PostResponse),
        (status = 401, description = "Missing, invalid or revoked token, or the user is gone or unverified", body = crate::docs::ErrorBody),
        (status = 403, description = "You are not allowed to perform this action", body = crate::docs::ErrorBody),
        (status = 404, description = "No post with this id", body = crate::docs::ErrorBody),
    )
)]
pub async fn update(
    State(state): State<AppState>,
    current: CurrentUser,
    PathId(id): PathId,
    body: JsonBody,
) -> ApiResult<Json<PostResponse>> {
    let mut fields = BodyFields::new(body)?;
    let changes = PostChanges {
        title: fields.optional_line("title", TITLE),
        content: fields.optional_str("content", CONTENT),
        category: fields.optional_line("category", CATEGORY),
        image: fields.optional_line("image", IMAGE),
    };
    fields.finish()?;

    match store::update(&state.db, id, current.user.id, &changes, db::now()).await? {
        ChangeOutcome::Done(Some(row)) => Ok(Json(row.into())),
        ChangeOutcome::Done(None) | ChangeOutcome::NotFound => Err(not_found(id)),
        ChangeOutcome::NotAuthor => Err(not_author()),
    }
}

#[utoipa::path(
    delete,
    path = "/api/posts/{id}",
    tag = "posts",
    security(("bearer" = []), ("cookie" = [])),
    params(("id" = uuid::Uuid, Path, description = "Post id")),
    responses(
        (status = 204, description = "Post deleted"),
        (status = 401, description = "Missing, invalid or revoked token, or the user is gone or unverified", body = crate::docs::ErrorBody),
        (status = 403, description = "You are not allowed to perform this action", body = crate::docs::ErrorBody),
        (status = 404, description = "No post with this id", body = crate::docs::ErrorBody),
        (status = 422, description = "Invalid field", body = crate::docs::ValidationErrorBody),
    )
)]
pub async fn delete(
    State(state): State<AppState>,
    current: CurrentUser,
    PathId(id): PathId,
) -> ApiResult<StatusCode> {
    match store::delete(&state.db, id, current.user.id).await? {
        ChangeOutcome::Done(()) => {
            tracing::info!(post_id = %id, user_id = %current.user.id, "deleted a post");
            Ok(StatusCode::NO_CONTENT)
        }
        ChangeOutcome::NotFound => Err(not_found(id)),
        ChangeOutcome::NotAuthor => Err(not_author()),
    }
}
