//! The router, shared state and middleware, and serving with graceful shutdown.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::{Json, Router, middleware};
use metrics_exporter_prometheus::PrometheusHandle;
use serde_json::json;
use tokio::net::TcpListener;
use tokio::sync::{Notify, watch};
use tower::Layer;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::cors::{AllowHeaders, AllowOrigin, CorsLayer};
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::timeout::TimeoutLayer;
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use utoipa_swagger_ui::SwaggerUi;

use crate::auth::cookies::{ACCESS_COOKIE, CookieJar, REFRESH_COOKIE, read_cookie};
use crate::auth::keys::{KeyPair, VerifyingKey};
use crate::auth::password::Passwords;
use crate::auth::tokens::Tokens;
use crate::config::Settings;
use crate::db::Db;
use crate::docs::ApiDoc;
use crate::email::Mailer;
use crate::email::worker::Worker;
use crate::error::detail_response;
use crate::ratelimit::{RateLimiter, RateLimits};
use crate::telemetry::{REQUEST_ID_HEADER, request_context};
use crate::validation::{BODY_TOO_LARGE, MAX_BODY_BYTES};
use crate::{auth, posts, users};

/// Everything a handler needs; cheap to clone.
#[derive(Clone)]
pub struct AppState {
    pub db: Db,
    pub tokens: Arc<Tokens>,
    pub passwords: Passwords,
    pub mailer: Mailer,
    pub cookies: CookieJar,
    pub settings: Arc<Settings>,
    /// Wakes this instance's email worker after a request commits an email.
    pub email_wake: Arc<Notify>,
    pub metrics: PrometheusHandle,
    pub limits: Arc<RateLimits>,
}

/// A bound, ready-to-serve postgate instance.
pub struct Application {
    listener: TcpListener,
    state: AppState,
}

impl Application {
    /// Loads or generates the signing key, prepares the mailer, connects to
    /// the database, applies migrations and binds the listening socket.
    pub async fn build(settings: Settings) -> anyhow::Result<Self> {
        // Keys and mailer first: a bad key or SMTP URL stops the start before
        // the database is touched.
        let keys = KeyPair::load(settings.tokens.keys.as_ref(), &settings.data_dir)?;
        let extra_verifying = settings
            .tokens
            .verification_keys
            .iter()
            .map(|pem| VerifyingKey::from_public_pem(pem))
            .collect::<anyhow::Result<Vec<_>>>()?;
        let tokens = Tokens::new(
            keys,
            extra_verifying,
            settings.tokens.access_ttl,
            settings.tokens.refresh_ttl,
        )?;
        let concurrency = std::thread::available_parallelism()
            .map(usize::from)
            .unwrap_or(2);
        let passwords = Passwords::new(concurrency)?;
        let mailer = Mailer::new(&settings.email)?;
        let db = Db::connect(&settings.database).await?;
        db.migrate().await?;
        let listener = TcpListener::bind(settings.listen).await.with_context(|| {
            format!(
                "failed to listen on {} (check HOST and PORT)",
                settings.listen
            )
        })?;
        let limits = Arc::new(RateLimits {
            login_account: RateLimiter::new(settings.rate_limits.login_account),
            login_ip: RateLimiter::new(settings.rate_limits.login_ip),
            register_ip: RateLimiter::new(settings.rate_limits.register_ip),
            email_address: RateLimiter::new(settings.rate_limits.email_address),
            email_ip: RateLimiter::new(settings.rate_limits.email_ip),
        });
        let state = AppState {
            db,
            tokens: Arc::new(tokens),
            passwords,
            mailer,
            cookies: CookieJar::new(settings.cookie_secure, &settings.public_url),
            settings: Arc::new(settings),
            email_wake: Arc::new(Notify::new()),
            metrics: crate::metrics::handle(),
            limits,
        };
        Ok(Self { listener, state })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .expect("a bound listener has an address")
    }

    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// Serves until `shutdown` completes, then lets running requests finish.
    pub async fn run_until(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let addr = self.local_addr();
        let db = self.state.db.clone();
        let (stop_worker, worker_stopped) = watch::channel(false);
        let worker = Worker {
            db: db.clone(),
            mailer: self.state.mailer.clone(),
            settings: self.state.settings.email.outbox.clone(),
            wake: self.state.email_wake.clone(),
        };
        let worker = tokio::spawn(worker.run(worker_stopped));
        let settings = &self.state.settings;
        let timeouts = crate::server::Timeouts {
            header_read: settings.header_read_timeout,
            write_stall: settings.request_timeout,
            drain: settings.request_timeout + Duration::from_secs(5),
        };
        let router = router(self.state);
        let app = tower::util::MapRequestLayer::new(trim_trailing_slash).layer(router);
        tracing::info!(%addr, "postgate listening");
        crate::server::serve(self.listener, app, timeouts, shutdown).await;
        // The worker finishes the emails it already claimed; the rest stay
        // queued for the next start or another instance.
        let _ = stop_worker.send(true);
        if let Err(error) = worker.await {
            tracing::error!(%error, "email delivery worker failed");
        }
        db.close().await;
        tracing::info!(%addr, "postgate stopped");
        Ok(())
    }
}

/// Builds the full router with its middleware.
pub fn router(state: AppState) -> Router {
    let timeout = state.settings.request_timeout;
    // With no allowed origin, no CORS header at all is sent.
    let cors = (!state.settings.allowed_origins.is_empty()).then(|| cors_layer(&state.settings));
    let (routes, mut openapi) = api_routes().split_for_parts();
    crate::docs::complete(&mut openapi);
    routes
        .merge(SwaggerUi::new("/docs").url("/openapi.json", openapi))
        .fallback(not_found)
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            timeout,
        ))
        .layer(CatchPanicLayer::custom(panic_response))
        .layer(middleware::from_fn(reject_declared_oversized_body))
        .layer(middleware::from_fn_with_state(
            state.clone(),
            reject_cross_site_cookie_requests,
        ))
        // The layers below wrap the ones above, so the 403 of the
        // cross-site check and the 500 of a panic get CORS and security
        // headers too.
        .layer(tower::util::option_layer(cors))
        .layer(SetResponseHeaderLayer::overriding(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ))
        .layer(SetResponseHeaderLayer::overriding(
            header::REFERRER_POLICY,
            HeaderValue::from_static("no-referrer"),
        ))
        .layer(middleware::from_fn(request_context))
        .with_state(state)
}

/// Removes trailing slashes from the path before routing, so `/api/posts/`
/// and `/api/posts` reach the same handler without a redirect. Swagger UI's
/// own `/docs/` is kept: its assets are relative to that folder, and
/// `/docs` redirects there.
fn trim_trailing_slash(mut request: axum::extract::Request) -> axum::extract::Request {
    let path = request.uri().path();
    if path.len() <= 1 || !path.ends_with('/') || path == "/docs/" {
        return request;
    }
    let trimmed = path.trim_end_matches('/');
    let trimmed = if trimmed.is_empty() { "/" } else { trimmed };
    let path_and_query = match request.uri().query() {
        Some(query) => format!("{trimmed}?{query}"),
        None => trimmed.to_owned(),
    };
    let mut parts = request.uri().clone().into_parts();
    if let Ok(value) = path_and_query.parse() {
        parts.path_and_query = Some(value);
        if let Ok(uri) = axum::http::Uri::from_parts(parts) {
            *request.uri_mut() = uri;
        }
    }
    request
}

/// Builds every documented route and the OpenAPI document from the same
/// registrations, so the two cannot drift apart.
pub fn api_routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(healthchecker))
        .routes(routes!(healthz))
        .routes(routes!(readyz))
        .routes(routes!(jwks))
        .routes(routes!(crate::metrics::render))
        .merge(
            auth::router()
                .merge(users::router())
                .merge(posts::router())
                .layer(no_store()),
        )
}

/// Keeps tokens and account data out of browser and proxy caches.
fn no_store() -> SetResponseHeaderLayer<HeaderValue> {
    SetResponseHeaderLayer::overriding(header::CACHE_CONTROL, HeaderValue::from_static("no-store"))
}

fn cors_layer(settings: &Settings) -> CorsLayer {
    CorsLayer::new()
        .allow_origin(AllowOrigin::list(settings.allowed_origins.clone()))
        .allow_credentials(true)
        .allow_methods([
            Method::GET,
            Method::HEAD,
            Method::POST,
            Method::PUT,
            Method::PATCH,
            Method::DELETE,
            Method::OPTIONS,
        ])
        .allow_headers(AllowHeaders::mirror_request())
        .expose_headers([REQUEST_ID_HEADER])
        .max_age(Duration::from_secs(600))
}

/// The `detail` of the 403 for a cookie-authenticated cross-site request.
const CROSS_SITE_REJECTED: &str = "Cross-site request rejected: Origin is not allowed";

/// Rejects a state-changing request that only cookies authenticate when its
/// `Origin` is neither the server's own nor an allowed CORS origin. SameSite=Lax
/// cookies already stay off cross-site POSTs in current browsers; this also
/// covers sibling subdomains, which count as same-site. A request without an
/// `Origin` header comes from a non-browser client and passes, except for a
/// cross-site navigation to logout (see below).
async fn reject_cross_site_cookie_requests(
    State(state): State<AppState>,
    request: axum::extract::Request,
    next: middleware::Next,
) -> Response {
    let headers = request.headers();
    let cookie_authenticated = !headers.contains_key(header::AUTHORIZATION)
        && (read_cookie(headers, ACCESS_COOKIE).is_some()
            || read_cookie(headers, REFRESH_COOKIE).is_some());
    if !cookie_authenticated {
        return next.run(request).await;
    }
    let origin = headers.get(header::ORIGIN);
    let origin_allowed = origin.map(|origin| {
        origin
            .to_str()
            .is_ok_and(|o| o == state.settings.public_origin)
            || state
                .settings
                .allowed_origins
                .iter()
                .any(|allowed| allowed == origin)
    });
    // GET logout is kept for the reference app's clients but changes state.
    // Lax cookies ride along on a top-level navigation from another site,
    // which carries no Origin, so such a request is rejected unless it comes
    // from an allowed origin's script.
    let is_logout = request.uri().path().trim_end_matches('/') == "/api/auth/logout";
    if is_logout && is_other_site_fetch(headers) && origin_allowed != Some(true) {
        tracing::warn!(origin = ?origin, "rejected a cross-site request to logout");
        return detail_response(StatusCode::FORBIDDEN, CROSS_SITE_REJECTED);
    }
    let safe_method = matches!(
        *request.method(),
        Method::GET | Method::HEAD | Method::OPTIONS
    );
    if safe_method || origin_allowed != Some(false) {
        return next.run(request).await;
    }
    tracing::warn!(origin = ?origin, "rejected a cookie-authenticated request from another origin");
    detail_response(StatusCode::FORBIDDEN, CROSS_SITE_REJECTED)
}

/// Rejects with 413 at once when `Content-Length` announces a body over the limit,
/// instead of waiting for a body that may never come in full.
async fn reject_declared_oversized_body(
    request: axum::extract::Request,
    next: middleware::Next,
) -> Response {
    let declared = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.trim().parse::<u64>().ok());
    if declared.is_some_and(|length| length > MAX_BODY_BYTES as u64) {
        return detail_response(StatusCode::PAYLOAD_TOO_LARGE, BODY_TOO_LARGE);
    }
    next.run(request).await
}

/// Tells whether a browser marked the request as coming from another site
/// or from another origin of the same site, such as a sibling subdomain
/// (`Sec-Fetch-Site: cross-site` or `same-site`, sent by current browsers).
fn is_other_site_fetch(headers: &axum::http::HeaderMap) -> bool {
    headers.get("sec-fetch-site").is_some_and(|value| {
        value.as_bytes().eq_ignore_ascii_case(b"cross-site")
            || value.as_bytes().eq_ignore_ascii_case(b"same-site")
    })
}

/// Turns a panic in a handler into the documented 500 body instead of a
/// dropped connection. The panic is a bug, so it is logged as an error.
fn panic_response(panic: Box<dyn std::any::Any + Send + 'static>) -> Response {
    let message = panic
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| panic.downcast_ref::<&str>().copied())
        .unwrap_or("non-string panic payload");
    tracing::error!(panic = message, "request handler panicked");
    detail_response(StatusCode::INTERNAL_SERVER_ERROR, "Internal Server Error")
}

async fn not_found() -> Response {
    detail_response(StatusCode::NOT_FOUND, "Not Found")
}

#[utoipa::path(get, path = "/api/healthchecker", tag = "health", responses((status = 200, description = "The reference app's health check", body = crate::docs::HelloMessage)))]
async fn healthchecker() -> Json<serde_json::Value> {
    Json(json!({ "message": "Hello World" }))
}

/// Serves the public keys that verify access tokens, as a JWK set.
#[utoipa::path(get, path = "/.well-known/jwks.json", tag = "auth", responses((status = 200, description = "Public keys that verify access tokens", body = crate::docs::JwkSetSchema)))]
async fn jwks(State(state): State<AppState>) -> Result<Response, crate::error::ApiError> {
    let set = state.tokens.jwks()?;
    let mut response = Json(set).into_response();
    response.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=300"),
    );
    Ok(response)
}

#[utoipa::path(get, path = "/healthz", tag = "health", responses((status = 200, description = "The process is up", body = crate::docs::StatusOnly)))]
async fn healthz() -> Json<serde_json::Value> {
    Json(json!({ "status": "ok" }))
}

#[utoipa::path(
    get,
    path = "/readyz",
    tag = "health",
    responses(
        (status = 200, description = "The database answers", body = crate::docs::StatusOnly),
        (status = 503, description = "Database unavailable", body = crate::docs::ErrorBody),
    )
)]
async fn readyz(State(state): State<AppState>) -> Response {
    match state.db.ping().await {
        Ok(()) => Json(json!({ "status": "ok" })).into_response(),
        Err(error) => {
            tracing::warn!(%error, "readiness check failed: database unreachable");
            detail_response(StatusCode::SERVICE_UNAVAILABLE, "Database unavailable")
        }
    }
}
