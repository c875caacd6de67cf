//! The API's error type and its one conversion into the documented HTTP body:
//! `{"detail": "<message>"}`, or a list of field errors for a 422.

use std::borrow::Cow;

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde_json::{Value, json};

/// One failing input field in a 422 body, in the shape FastAPI (pydantic 1) uses.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct FieldError {
    pub loc: Vec<Value>,
    pub msg: String,
    #[serde(rename = "type")]
    pub kind: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ctx: Option<Value>,
}

impl FieldError {
    pub fn new(loc: Vec<Value>, msg: impl Into<String>, kind: &'static str) -> Self {
        Self {
            loc,
            msg: msg.into(),
            kind,
            ctx: None,
        }
    }

    pub fn with_ctx(mut self, ctx: Value) -> Self {
        self.ctx = Some(ctx);
        self
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// A client error with a fixed status and message; clients match on the message.
    #[error("{status}: {detail}")]
    Client {
        status: StatusCode,
        detail: Cow<'static, str>,
    },
    /// 401 with `WWW-Authenticate: Bearer`.
    #[error("unauthorized: {0}")]
    Unauthorized(&'static str),
    /// 429 with `Retry-After` in whole seconds.
    #[error("too many requests; retry after {retry_after:?}")]
    TooManyRequests { retry_after: std::time::Duration },
    #[error("validation failed: {0:?}")]
    Validation(Vec<FieldError>),
    /// Anything the client cannot fix. It is logged in full and the client gets a generic body.
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

impl ApiError {
    pub fn bad_request(detail: impl Into<Cow<'static, str>>) -> Self {
        Self::client(StatusCode::BAD_REQUEST, detail)
    }

    pub fn forbidden(detail: impl Into<Cow<'static, str>>) -> Self {
        Self::client(StatusCode::FORBIDDEN, detail)
    }

    pub fn not_found(detail: impl Into<Cow<'static, str>>) -> Self {
        Self::client(StatusCode::NOT_FOUND, detail)
    }

    pub fn conflict(detail: impl Into<Cow<'static, str>>) -> Self {
        Self::client(StatusCode::CONFLICT, detail)
    }

    pub fn client(status: StatusCode, detail: impl Into<Cow<'static, str>>) -> Self {
        Self::Client {
            status,
            detail: detail.into(),
        }
    }

    pub fn validation(error: FieldError) -> Self {
        Self::Validation(vec![error])
    }
}

impl From<sqlx::Error> for ApiError {
    fn from(error: sqlx::Error) -> Self {
        Self::Internal(anyhow::Error::new(error).context("database query failed"))
    }
}

/// Builds the `{"detail": ...}` response for any status. The router's own
/// 404, 405 and 413 responses use it too.
pub fn detail_response(status: StatusCode, detail: &str) -> Response {
    (status, axum::Json(json!({ "detail": detail }))).into_response()
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        match self {
            ApiError::Client { status, detail } => detail_response(status, &detail),
            ApiError::Unauthorized(detail) => {
                let mut response = detail_response(StatusCode::UNAUTHORIZED, detail);
                response
                    .headers_mut()
                    .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
                response
            }
            ApiError::TooManyRequests { retry_after } => {
                let mut response =
                    detail_response(StatusCode::TOO_MANY_REQUESTS, "Too many requests");
                // Rounded up, so a client that waits this long is let through.
                let seconds = retry_after.as_secs() + u64::from(retry_after.subsec_nanos() > 0);
                response
                    .headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from(seconds.max(1)));
                response
            }
            ApiError::Validation(errors) => (
                StatusCode::UNPROCESSABLE_ENTITY,
                axum::Json(json!({ "detail": errors })),
            )
                .into_response(),
            ApiError::Internal(error) => {
                // The request span carries the request id, so this line can be
                // matched with the client's x-request-id.
                tracing::error!(
                    error = format!("{error:#}"),
                    "request failed with an internal error"
                );
                detail_response(StatusCode::INTERNAL_SERVER_ERROR, "Internal Server Error")
            }
        }
    }
}

pub type ApiResult<T> = Result<T, ApiError>;
