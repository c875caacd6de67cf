//! The OpenAPI document. Routes register their `#[utoipa::path]` operation
//! together with their handler (see [`crate::app::router`]), so the document
//! and the router come from the same list. This module holds the document's
//! header, security schemes and the request and error schemas, which the
//! handlers parse by hand and therefore do not derive.

use std::collections::HashMap;

use utoipa::openapi::path::{Operation, PathItem};
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{ContentBuilder, Ref, RefOr, ResponseBuilder};
use utoipa::{Modify, OpenApi, ToSchema};

/// Security scheme names used by the `security(...)` of each operation.
pub const BEARER: &str = "bearer";
pub const COOKIE: &str = "cookie";

#[derive(OpenApi)]
#[openapi(
    info(
        title = "postgate",
        description = "Accounts with email verification, JWT sessions and posts. \
            Protected routes take the access token from `Authorization: Bearer` or the \
            `access_token` cookie that login sets.",
    ),
    modifiers(&SecurityAddon),
    tags(
        (name = "health", description = "Liveness, readiness and metrics"),
        (name = "auth", description = "Registration, login, tokens, sessions and account recovery"),
        (name = "users", description = "The logged-in user"),
        (name = "posts", description = "Posts: any verified user reads, only the author changes"),
    )
)]
pub struct ApiDoc;

struct SecurityAddon;

impl Modify for SecurityAddon {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            BEARER,
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .build(),
            ),
        );
        components.add_security_scheme(
            COOKIE,
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::new("access_token"))),
        );
    }
}

/// Completes the document built from the routes with the errors that
/// middleware and the JSON body reader produce on many routes, written once
/// here rather than on each handler. Also gives each method of a handler
/// that serves two methods its own operation id, which OpenAPI requires to
/// be unique.
pub fn complete(openapi: &mut utoipa::openapi::OpenApi) {
    let mut id_counts: HashMap<String, usize> = HashMap::new();
    for item in openapi.paths.paths.values_mut() {
        for (_, operation) in operations(item) {
            if let Some(id) = &operation.operation_id {
                *id_counts.entry(id.clone()).or_default() += 1;
            }
        }
    }
    for (path, item) in &mut openapi.paths.paths {
        let is_logout = path == "/api/auth/logout";
        for (method, operation) in operations(item) {
            if let Some(id) = &operation.operation_id
                && id_counts[id] > 1
            {
                operation.operation_id = Some(format!("{id}_{method}"));
            }
            add_error(
                operation,
                "408",
                "The request ran longer than REQUEST_TIMEOUT",
            );
            // The Content-Length check runs before routing, on every route.
            add_error(operation, "413", "The body is larger than 2 MiB");
            if operation.request_body.is_some() {
                add_error(
                    operation,
                    "415",
                    "The body is not JSON: Content-Type, charset or encoding",
                );
                add_response(
                    operation,
                    "422",
                    "A field is missing or invalid",
                    "ValidationErrorBody",
                );
            }
            if method != "get" || is_logout {
                add_error(
                    operation,
                    "403",
                    "Cookies authenticate the request, and its Origin is neither PUBLIC_URL's nor in CLIENT_ORIGIN",
                );
            }
        }
    }
}

fn operations(item: &mut PathItem) -> impl Iterator<Item = (&'static str, &mut Operation)> {
    [
        ("get", item.get.as_mut()),
        ("post", item.post.as_mut()),
        ("put", item.put.as_mut()),
        ("patch", item.patch.as_mut()),
        ("delete", item.delete.as_mut()),
    ]
    .into_iter()
    .filter_map(|(method, operation)| operation.map(|operation| (method, operation)))
}

/// Documents an `ErrorBody` response, or adds the case to the description of
/// the response that the operation already documents for `status`.
fn add_error(operation: &mut Operation, status: &str, description: &str) {
    add_response(operation, status, description, "ErrorBody");
}

/// Documents a JSON response with the body schema `schema`, or adds the case
/// to the description of the response already documented for `status`.
fn add_response(operation: &mut Operation, status: &str, description: &str, schema: &str) {
    match operation.responses.responses.get_mut(status) {
        Some(RefOr::T(response)) => {
            response.description = format!("{}; or: {description}", response.description);
        }
        Some(RefOr::Ref(_)) => {}
        None => {
            let response = ResponseBuilder::new()
                .description(description)
                .content(
                    "application/json",
                    ContentBuilder::new()
                        .schema(Some(Ref::from_schema_name(schema)))
                        .build(),
                )
                .build();
            operation
                .responses
                .responses
                .insert(status.to_owned(), RefOr::T(response));
        }
    }
}

/// Every error except validation: `{"detail": "<message>"}`.
#[derive(ToSchema)]
#[schema(example = json!({"detail": "Token is invalid or has expired"}))]
pub struct ErrorBody {
    pub detail: String,
}

/// A 422: one entry per failing field.
#[derive(ToSchema)]
#[schema(example = json!({"detail": [{"loc": ["body", "password"], "msg": "ensure this value has at least 8 characters", "type": "value_error.any_str.min_length", "ctx": {"limit_value": 8}}]}))]
pub struct ValidationErrorBody {
    pub detail: Vec<FieldErrorSchema>,
}

/// One part of an error location: a name, or the index of a list item.
#[derive(serde::Serialize, ToSchema)]
#[serde(untagged)]
#[allow(dead_code)]
pub enum LocItem {
    Name(String),
    Index(u64),
}

/// One failing field: where (`body`, `query` or `path`, then the name or the
/// byte offset), a message, and a pydantic-style type code.
#[derive(ToSchema)]
#[schema(as = FieldError)]
pub struct FieldErrorSchema {
    #[schema(value_type = Vec<LocItem>)]
    pub loc: Vec<serde_json::Value>,
    pub msg: String,
    #[schema(rename = "type")]
    pub kind: String,
    #[schema(value_type = Option<Object>)]
    pub ctx: Option<serde_json::Value>,
}

#[derive(ToSchema)]
#[schema(example = json!({"name": "Ann Author", "email": "ann@example.com", "password": "correct-horse-1", "passwordConfirm": "correct-horse-1"}))]
pub struct RegisterRequest {
    /// 1 to 100 characters, one line.
    #[schema(min_length = 1, max_length = 100)]
    pub name: String,
    /// At most 254 characters; stored trimmed and lower-cased.
    #[schema(max_length = 254)]
    pub email: String,
    /// Defaults to `default.png`; 1 to 2048 characters, one line. May be
    /// left out, but not `null`.
    #[schema(nullable = false, min_length = 1, max_length = 2048)]
    pub photo: Option<String>,
    /// 8 to 128 characters.
    #[schema(min_length = 8, max_length = 128)]
    pub password: String,
    #[schema(rename = "passwordConfirm")]
    pub password_confirm: String,
}

#[derive(ToSchema)]
#[schema(example = json!({"email": "ann@example.com", "password": "correct-horse-1"}))]
pub struct LoginRequest {
    pub email: String,
    pub password: String,
}

#[derive(ToSchema)]
#[schema(example = json!({"email": "ann@example.com"}))]
pub struct EmailRequest {
    pub email: String,
}

#[derive(ToSchema)]
pub struct ResetPasswordRequest {
    /// The token from the reset link.
    pub token: String,
    /// 8 to 128 characters.
    #[schema(min_length = 8, max_length = 128)]
    pub password: String,
    #[schema(rename = "passwordConfirm")]
    pub password_confirm: String,
}

#[derive(ToSchema)]
#[schema(example = json!({"title": "Hello, world", "content": "First post.", "category": "news", "image": "cover.png"}))]
pub struct CreatePostRequest {
    /// 1 to 255 characters, one line.
    #[schema(min_length = 1, max_length = 255)]
    pub title: String,
    /// 1 to 100,000 characters.
    #[schema(min_length = 1, max_length = 100_000)]
    pub content: String,
    /// 1 to 100 characters, one line.
    #[schema(min_length = 1, max_length = 100)]
    pub category: String,
    /// 1 to 2048 characters, one line.
    #[schema(min_length = 1, max_length = 2048)]
    pub image: String,
}

/// Only the fields present change; `null` is rejected.
#[derive(ToSchema)]
#[schema(example = json!({"title": "Hello again"}))]
pub struct UpdatePostRequest {
    #[schema(nullable = false, min_length = 1, max_length = 255)]
    pub title: Option<String>,
    #[schema(nullable = false, min_length = 1, max_length = 100_000)]
    pub content: Option<String>,
    #[schema(nullable = false, min_length = 1, max_length = 100)]
    pub category: Option<String>,
    #[schema(nullable = false, min_length = 1, max_length = 2048)]
    pub image: Option<String>,
}

#[derive(ToSchema)]
#[schema(example = json!({"status": "success", "message": "Account verified successfully"}))]
pub struct StatusMessage {
    pub status: String,
    pub message: String,
}

#[derive(ToSchema)]
#[schema(example = json!({"status": "success"}))]
pub struct StatusOnly {
    pub status: String,
}

#[derive(ToSchema)]
pub struct LoginResponse {
    pub status: String,
    pub access_token: String,
}

#[derive(ToSchema)]
pub struct AccessTokenResponse {
    pub access_token: String,
}

#[derive(ToSchema)]
#[schema(example = json!({"message": "Hello World"}))]
pub struct HelloMessage {
    pub message: String,
}

#[derive(ToSchema)]
pub struct PostList {
    pub status: String,
    /// Posts on this page.
    pub results: usize,
    /// Posts that match the search, on every page.
    pub total: i64,
    pub posts: Vec<crate::posts::PostResponse>,
}

/// The JSON Web Key Set of the public verification keys.
#[derive(ToSchema)]
pub struct JwkSetSchema {
    #[schema(value_type = Vec<Object>)]
    pub keys: Vec<serde_json::Value>,
}
