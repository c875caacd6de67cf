//! Logging setup and the per-request middleware: request ids, the request
//! span, one access log line per request, and the JSON body of errors that
//! the router or a layer produced without one.

use std::io::IsTerminal;
use std::time::Instant;

use axum::extract::{MatchedPath, Request};
use axum::http::{HeaderName, HeaderValue, Method, header};
use axum::middleware::Next;
use axum::response::Response;
use tracing::Instrument;
use tracing_subscriber::EnvFilter;
use uuid::Uuid;

use crate::config::LogFormat;
use crate::error::detail_response;

pub const REQUEST_ID_HEADER: HeaderName = HeaderName::from_static("x-request-id");
const REQUEST_ID_MAX_CHARS: usize = 128;

/// The id of the current request, available to handlers as an extension.
#[derive(Debug, Clone)]
pub struct RequestId(pub String);

/// Installs the global log subscriber. `RUST_LOG` sets the filter
/// (default `info`); `format` chooses human-readable text or JSON lines.
pub fn init_logging(format: LogFormat) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false)
        .with_ansi(std::io::stdout().is_terminal());
    // A second call (tests start many servers in one process) keeps the first subscriber.
    let _ = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
    };
}

fn accepted_request_id(value: &HeaderValue) -> Option<String> {
    let value = value.to_str().ok()?;
    let valid = (1..=REQUEST_ID_MAX_CHARS).contains(&value.len())
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
    valid.then(|| value.to_owned())
}

/// Middleware that keeps a well-formed client request id or generates one,
/// runs the request inside a span that carries it, echoes it in the
/// response, and logs one line with method, route, status and latency.
pub async fn request_context(mut request: Request, next: Next) -> Response {
    let started = Instant::now();
    let id = request
        .headers()
        .get(&REQUEST_ID_HEADER)
        .and_then(accepted_request_id)
        .unwrap_or_else(|| Uuid::new_v4().to_string());
    request.extensions_mut().insert(RequestId(id.clone()));

    let method = request.method().clone();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(|path| path.as_str().to_owned())
        .unwrap_or_else(|| "unmatched".to_owned());
    let span = tracing::info_span!("request", request_id = %id, method = %method, route = %route);

    let mut response = next.run(request).instrument(span.clone()).await;
    response = add_missing_error_body(response);
    if let Ok(value) = HeaderValue::from_str(&id) {
        response.headers_mut().insert(REQUEST_ID_HEADER, value);
    }

    let status = response.status().as_u16();
    let latency = started.elapsed().as_secs_f64();
    record_request(&method, &route, status, latency);
    let latency_ms = latency * 1000.0;
    span.in_scope(|| tracing::info!(status, latency_ms, "request finished"));
    response
}

/// Counts the request and records its latency. The labels come from the
/// matched route template, never the raw path, so the number of series
/// stays bounded whatever clients send.
fn record_request(method: &Method, route: &str, status: u16, latency_seconds: f64) {
    // Clients may send any method token; only the standard ones get a
    // series of their own.
    let method = match *method {
        Method::GET
        | Method::HEAD
        | Method::POST
        | Method::PUT
        | Method::PATCH
        | Method::DELETE
        | Method::OPTIONS => method.as_str(),
        _ => "other",
    };
    let labels = [
        ("method", method.to_owned()),
        ("route", route.to_owned()),
        ("status", status.to_string()),
    ];
    metrics::counter!(crate::metrics::HTTP_REQUESTS, &labels).increment(1);
    metrics::histogram!(crate::metrics::HTTP_REQUEST_DURATION, &labels).record(latency_seconds);
}

/// Gives error responses that have no body (axum's 405, the timeout's 408)
/// the documented `{"detail": ...}` body, keeping their headers such as `Allow`.
fn add_missing_error_body(response: Response) -> Response {
    let status = response.status();
    if !(status.is_client_error() || status.is_server_error())
        || response.headers().contains_key(header::CONTENT_TYPE)
    {
        return response;
    }
    let (parts, _) = response.into_parts();
    let detail = match status.as_u16() {
        405 => "Method Not Allowed",
        404 => "Not Found",
        500 => "Internal Server Error",
        _ => status.canonical_reason().unwrap_or("Error"),
    };
    let replacement = detail_response(status, detail);
    let (new_parts, body) = replacement.into_parts();
    let mut response = Response::from_parts(parts, body);
    response.headers_mut().remove(header::CONTENT_LENGTH);
    if let Some(content_type) = new_parts.headers.get(header::CONTENT_TYPE) {
        response
            .headers_mut()
            .insert(header::CONTENT_TYPE, content_type.clone());
    }
    response
}
