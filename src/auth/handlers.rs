//! Handlers of the `/api/auth` routes.

use std::time::Duration;

use axum::Json;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::http::header::USER_AGENT;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use lettre::message::Mailbox;
use serde::Serialize;
use serde_json::json;
use sha2::{Digest, Sha256};
use uuid::Uuid;

use super::cookies::REFRESH_COOKIE;
use super::extractor::{CurrentUser, TokenSource, find_token};
use super::password::Verification;
use super::sessions::{self, NewSession, RefreshOutcome};
use super::tokens::TokenType;
use crate::app::AppState;
use crate::db;
use crate::db::serialize_timestamp;
use crate::email::RenderedEmail;
use crate::email::outbox::NewEmail;
use crate::error::{ApiError, ApiResult, FieldError};
use crate::ratelimit::{ClientIp, too_many};
use crate::users::store::{self, InsertOutcome, NewUser, VerifyOutcome};
use crate::validation::{BodyFields, JsonBody, Length, PathId};

const NAME: Length = Length { min: 1, max: 100 };
const PHOTO: Length = Length { min: 1, max: 2048 };
const PASSWORD: Length = Length { min: 8, max: 128 };
const DEFAULT_PHOTO: &str = "default.png";
const USER_AGENT_MAX_CHARS: usize = 512;

const CANNOT_REFRESH: &str = "Could not refresh access token";

#[utoipa::path(
    post,
    path = "/api/auth/register",
    tag = "auth",
    request_body = crate::docs::RegisterRequest,
    responses(
        (status = 201, description = "Account created; the verification email is queued", body = crate::docs::StatusMessage),
        (status = 400, description = "Passwords do not match", body = crate::docs::ErrorBody),
        (status = 409, description = "Account already exist", body = crate::docs::ErrorBody),
        (status = 429, description = "Too many requests; see Retry-After", body = crate::docs::ErrorBody),
    )
)]
pub async fn register(
    State(state): State<AppState>,
    ClientIp(client_ip): ClientIp,
    body: JsonBody,
) -> ApiResult<Response> {
    let mut fields = BodyFields::new(body)?;
    let name = fields.required_line("name", NAME);
    let email = fields.required_email("email");
    let photo = fields.optional_line("photo", PHOTO);
    let password = fields.required_str("password", PASSWORD);
    let password_confirm = fields.required_str(
        "passwordConfirm",
        Length {
            min: 1,
            max: PASSWORD.max,
        },
    );
    fields.finish()?;
    // finish() succeeded, so every required field is present.
    let (Some(name), Some(email), Some(password), Some(password_confirm)) =
        (name, email, password, password_confirm)
    else {
        return Err(anyhow::anyhow!("validated register fields are missing").into());
    };

    state
        .limits
        .register_ip
        .hit(&client_ip.to_string())
        .map_err(too_many)?;

    if store::find_by_email(&state.db, &email).await?.is_some() {
        return Err(ApiError::conflict("Account already exist"));
    }
    if password != password_confirm {
        return Err(ApiError::bad_request("Passwords do not match"));
    }

    let user_id = Uuid::new_v4();
    let verification = verification_email(&state, user_id, &name, &email)?;
    let password_hash = state.passwords.hash(password).await?;
    let now = db::now();
    let new_user = NewUser {
        id: user_id,
        name: &name,
        email: &email,
        password_hash: &password_hash,
        photo: photo.as_deref().unwrap_or(DEFAULT_PHOTO),
        verification_code: &verification.code_hash,
        verification_expires_at: now + to_chrono(state.settings.tokens.verification_ttl),
    };
    match store::insert_unverified(&state.db, &new_user, &verification.email(), now).await? {
        InsertOutcome::Created(_) => {}
        InsertOutcome::EmailTaken => return Err(ApiError::conflict("Account already exist")),
    }
    tracing::info!(%user_id, "registered a new user");
    verification.log_link_in_file_mode(&state, user_id);
    state.email_wake.notify_one();

    let body = json!({
        "status": "success",
        "message": "Verification token successfully sent to your email",
    });
    Ok((StatusCode::CREATED, Json(body)).into_response())
}

#[utoipa::path(
    get,
    path = "/api/auth/verifyemail/{token}",
    tag = "auth",
    params(("token" = String, Path, description = "Hex token from the verification email")),
    responses(
        (status = 200, description = "Account verified", body = crate::docs::StatusMessage),
        (status = 403, description = "Unknown, used or expired link", body = crate::docs::ErrorBody),
    )
)]
pub async fn verify_email(
    State(state): State<AppState>,
    token: Result<Path<String>, PathRejection>,
) -> ApiResult<Json<serde_json::Value>> {
    const USED: &str = "Email can only be verified once";
    // A segment that is not valid UTF-8 after percent-decoding cannot be a token.
    let Ok(Path(token)) = token else {
        return Err(ApiError::forbidden(USED));
    };
    // The link carries the hex of random bytes, and the database keeps the
    // SHA-256 of those bytes. The reference app uses the same scheme, so links
    // it already sent still work.
    let Ok(bytes) = hex::decode(token.trim()) else {
        return Err(ApiError::forbidden(USED));
    };
    if bytes.is_empty() || bytes.len() > 64 {
        return Err(ApiError::forbidden(USED));
    }
    match store::verify_by_code(&state.db, &sha256_hex(&bytes), db::now()).await? {
        VerifyOutcome::Verified => Ok(Json(json!({
            "status": "success",
            "message": "Account verified successfully",
        }))),
        VerifyOutcome::Expired => Err(ApiError::forbidden("Verification link has expired")),
        VerifyOutcome::NotFound => Err(ApiError::forbidden(USED)),
    }
}

#[utoipa::path(
    post,
    path = "/api/auth/login",
    tag = "auth",
    request_body = crate::docs::LoginRequest,
    responses(
        (status = 200, description = "Logged in; sets the access_token, refresh_token and logged_in cookies", body = crate::docs::LoginResponse),
        (status = 400, description = "Incorrect Email or Password", body = crate::docs::ErrorBody),
        (status = 401, description = "Please verify your email address", body = crate::docs::ErrorBody),
        (status = 429, description = "Too many requests; see Retry-After", body = crate::docs::ErrorBody),
    )
)]
pub async fn login(
    State(state): State<AppState>,
    ClientIp(client_ip): ClientIp,
    headers: HeaderMap,
    body: JsonBody,
) -> ApiResult<Response> {
    let mut fields = BodyFields::new(body)?;
    let email = fields.required_email("email");
    let password = fields.required_str("password", PASSWORD);
    fields.finish()?;
    let (Some(email), Some(password)) = (email, password) else {
        return Err(anyhow::anyhow!("validated login fields are missing").into());
    };
    state
        .limits
        .login_ip
        .hit(&client_ip.to_string())
        .map_err(too_many)?;
    // Only failures count against the account, so its owner is not locked
    // out by their own successful logins.
    state.limits.login_account.check(&email).map_err(too_many)?;

    let user = store::find_by_email(&state.db, &email).await?;
    // An unknown email is checked against a dummy hash, so both failures cost
    // the same time and get the same response.
    let stored_hash = user.as_ref().map(|u| u.password.clone());
    let verification = state
        .passwords
        .verify(password.clone(), stored_hash)
        .await?;
    let (user, needs_rehash) = match (user, verification) {
        (Some(user), Verification::Match { needs_rehash }) => (user, needs_rehash),
        _ => {
            state.limits.login_account.record(&email);
            metrics::counter!("postgate_logins_total", "outcome" => "failure").increment(1);
            return Err(ApiError::bad_request("Incorrect Email or Password"));
        }
    };
    if !user.verified {
        return Err(ApiError::client(
            StatusCode::UNAUTHORIZED,
            "Please verify your email address",
        ));
    }
    if needs_rehash {
        let hash = state.passwords.hash(password).await?;
        store::update_password_hash(&state.db, user.id, &hash, db::now()).await?;
        tracing::info!(user_id = %user.id, "upgraded a bcrypt password hash to argon2id");
    }

    let session_id = Uuid::new_v4();
    let refresh_jti = Uuid::new_v4();
    let now = db::now();
    let user_agent = headers
        .get(USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .map(|ua| ua.chars().take(USER_AGENT_MAX_CHARS).collect::<String>());
    let ip = client_ip.to_string();
    let session = NewSession {
        id: session_id,
        user_id: user.id,
        refresh_jti,
        expires_at: now + to_chrono(state.tokens.refresh_ttl),
        user_agent: user_agent.as_deref(),
        ip: Some(&ip),
    };
    sessions::create(&state.db, &session, now).await?;
    tracing::info!(user_id = %user.id, session_id = %session_id, "user logged in");
    metrics::counter!("postgate_logins_total", "outcome" => "success").increment(1);

    let access = state
        .tokens
        .issue(TokenType::Access, user.id, session_id, Uuid::new_v4())?;
    let refresh = state
        .tokens
        .issue(TokenType::Refresh, user.id, session_id, refresh_jti)?;
    let mut response = Json(json!({ "status": "success", "access_token": access })).into_response();
    state
        .cookies
        .set_access(response.headers_mut(), &access, state.tokens.access_ttl);
    state
        .cookies
        .set_refresh(response.headers_mut(), &refresh, state.tokens.refresh_ttl);
    Ok(response)
}

#[utoipa::path(
    method(get, post),
    path = "/api/auth/refresh",
    tag = "auth",
    description = "Takes the refresh token from `Authorization: Bearer` or the `refresh_token` cookie, returns a new access token and rotates the refresh token.",
    responses(
        (status = 200, description = "New access token; cookies updated", body = crate::docs::AccessTokenResponse),
        (status = 400, description = "Please provide refresh token", body = crate::docs::ErrorBody),
        (status = 401, description = "Could not refresh access token", body = crate::docs::ErrorBody),
    )
)]
pub async fn refresh(State(state): State<AppState>, headers: HeaderMap) -> ApiResult<Response> {
    let token = match find_token(&headers, REFRESH_COOKIE) {
        TokenSource::Missing => return Err(ApiError::bad_request("Please provide refresh token")),
        TokenSource::Malformed => {
            return Err(ApiError::client(StatusCode::UNAUTHORIZED, CANNOT_REFRESH));
        }
        TokenSource::Found(token) => token,
    };
    let cannot_refresh = || ApiError::client(StatusCode::UNAUTHORIZED, CANNOT_REFRESH);
    let verified = state
        .tokens
        .verify(&token, TokenType::Refresh)
        .map_err(|error| {
            tracing::debug!(%error, "rejected refresh token");
            cannot_refresh()
        })?;

    let new_jti = Uuid::new_v4();
    let now = db::now();
    let outcome = sessions::rotate(
        &state.db,
        verified.session_id,
        verified.jti,
        new_jti,
        now,
        now + to_chrono(state.tokens.refresh_ttl),
        state.settings.tokens.reuse_interval,
    )
    .await?;
    let (user_id, rotated) = match outcome {
        RefreshOutcome::Rotated { user_id } => (user_id, true),
        RefreshOutcome::Grace { user_id } => (user_id, false),
        RefreshOutcome::Reused => {
            tracing::warn!(
                session_id = %verified.session_id,
                user_id = %verified.user_id,
                "retired refresh token presented again; revoked the session as a possible token theft"
            );
            return Err(cannot_refresh());
        }
        RefreshOutcome::Invalid => return Err(cannot_refresh()),
    };
    match store::find_by_id(&state.db, user_id).await? {
        Some(user) if user.verified => {}
        _ => return Err(cannot_refresh()),
    }

    let access = state.tokens.issue(
        TokenType::Access,
        user_id,
        verified.session_id,
        Uuid::new_v4(),
    )?;
    let mut response = Json(json!({ "access_token": access })).into_response();
    state
        .cookies
        .set_access(response.headers_mut(), &access, state.tokens.access_ttl);
    if rotated {
        let refresh =
            state
                .tokens
                .issue(TokenType::Refresh, user_id, verified.session_id, new_jti)?;
        state
            .cookies
            .set_refresh(response.headers_mut(), &refresh, state.tokens.refresh_ttl);
    }
    Ok(response)
}

#[utoipa::path(
    method(get, post),
    path = "/api/auth/logout",
    tag = "auth",
    security(("bearer" = []), ("cookie" = [])),
    responses(
        (status = 200, description = "Session revoked and cookies cleared", body = crate::docs::StatusOnly),
        (status = 401, description = "Missing, invalid or revoked token, or the user is gone or unverified", body = crate::docs::ErrorBody),
    )
)]
pub async fn logout(State(state): State<AppState>, current: CurrentUser) -> ApiResult<Response> {
    sessions::revoke(&state.db, current.session_id, db::now()).await?;
    tracing::info!(user_id = %current.user.id, session_id = %current.session_id, "user logged out");
    let mut response = Json(json!({ "status": "success" })).into_response();
    state.cookies.clear(response.headers_mut());
    Ok(response)
}

#[utoipa::path(
    post,
    path = "/api/auth/logout-all",
    tag = "auth",
    security(("bearer" = []), ("cookie" = [])),
    responses(
        (status = 200, description = "Every session of the user revoked", body = crate::docs::StatusOnly),
        (status = 401, description = "Missing, invalid or revoked token, or the user is gone or unverified", body = crate::docs::ErrorBody),
    )
)]
pub async fn logout_all(
    State(state): State<AppState>,
    current: CurrentUser,
) -> ApiResult<Response> {
    let revoked = sessions::revoke_all(&state.db, current.user.id, db::now()).await?;
    tracing::info!(user_id = %current.user.id, revoked, "user logged out of every session");
    let mut response = Json(json!({ "status": "success" })).into_response();
    state.cookies.clear(response.headers_mut());
    Ok(response)
}

/// A session in the `GET /api/auth/sessions` list.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct SessionResponse {
    pub id: Uuid,
    #[serde(serialize_with = "serialize_timestamp")]
    pub created_at: chrono::DateTime<chrono::Utc>,
    #[serde(serialize_with = "serialize_timestamp")]
    pub last_used_at: chrono::DateTime<chrono::Utc>,
    pub user_agent: Option<String>,
    pub ip: Option<String>,
    /// Whether this is the session of the request's own token.
    pub current: bool,
}

#[utoipa::path(
    get,
    path = "/api/auth/sessions",
    tag = "auth",
    security(("bearer" = []), ("cookie" = [])),
    responses(
        (status = 200, description = "The user's live sessions", body = Vec<SessionResponse>),
        (status = 401, description = "Missing, invalid or revoked token, or the user is gone or unverified", body = crate::docs::ErrorBody),
    )
)]
pub async fn list_sessions(
    State(state): State<AppState>,
    current: CurrentUser,
) -> ApiResult<Json<Vec<SessionResponse>>> {
    let live = sessions::list_live(&state.db, current.user.id, db::now()).await?;
    let listed = live
        .into_iter()
        .map(|session| SessionResponse {
            current: session.id == current.session_id,
            id: session.id,
            created_at: session.created_at,
            last_used_at: session.last_used_at,
            user_agent: session.user_agent,
            ip: session.ip,
        })
        .collect();
    Ok(Json(listed))
}

#[utoipa::path(
    delete,
    path = "/api/auth/sessions/{id}",
    tag = "auth",
    security(("bearer" = []), ("cookie" = [])),
    params(("id" = uuid::Uuid, Path, description = "Session id")),
    responses(
        (status = 204, description = "Session revoked"),
        (status = 401, description = "Missing, invalid or revoked token, or the user is gone or unverified", body = crate::docs::ErrorBody),
        (status = 404, description = "Not a live session of the user", body = crate::docs::ErrorBody),
        (status = 422, description = "Invalid field", body = crate::docs::ValidationErrorBody),
    )
)]
pub async fn delete_session(
    State(state): State<AppState>,
    current: CurrentUser,
    PathId(id): PathId,
) -> ApiResult<StatusCode> {
    if sessions::revoke_own(&state.db, id, current.user.id, db::now()).await? {
        tracing::info!(user_id = %current.user.id, session_id = %id, "user revoked a session");
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::not_found(format!(
            "No session with this id: {id} found"
        )))
    }
}

/// An email with a fresh single-use link, ready for the outbox, and the
/// SHA-256 of its token that the database keeps.
pub(super) struct LinkEmail {
    pub kind: &'static str,
    pub user_id: Uuid,
    pub recipient: String,
    pub message: Vec<u8>,
    pub code_hash: String,
    link: String,
}

impl LinkEmail {
    pub fn email(&self) -> NewEmail<'_> {
        NewEmail {
            kind: self.kind,
            user_id: Some(self.user_id),
            recipient: &self.recipient,
            message: self.message.clone(),
        }
    }

    /// Logs the link in development mode only: with no SMTP server the
    /// developer has no inbox to open. Never done when sending over SMTP.
    pub fn log_link_in_file_mode(&self, state: &AppState, user_id: Uuid) {
        if state.mailer.outbox_dir.is_some() {
            tracing::info!(%user_id, kind = self.kind, link = %self.link, "email link (file mailer)");
        }
    }
}

/// Builds the verification email for a user with a new random token. The
/// email is built before anything is stored, so one that cannot be built
/// fails the request without leaving an account that never gets its link.
pub(super) fn verification_email(
    state: &AppState,
    user_id: Uuid,
    name: &str,
    email: &str,
) -> ApiResult<LinkEmail> {
    let token = hex::encode(rand::random::<[u8; 32]>());
    let link = format!("{}/api/auth/verifyemail/{token}", state.settings.public_url);
    let ttl = state.settings.tokens.verification_ttl;
    let rendered =
        state
            .mailer
            .templates()
            .verification(name, email, &link, &human_duration(ttl))?;
    link_email(
        state,
        "verification",
        user_id,
        name,
        email,
        &token,
        link,
        rendered,
    )
}

/// Builds the password reset email for a user with a new random token.
pub(super) fn password_reset_email(
    state: &AppState,
    user_id: Uuid,
    name: &str,
    email: &str,
) -> ApiResult<LinkEmail> {
    let token = hex::encode(rand::random::<[u8; 32]>());
    let link = state.settings.reset_password_url.replace("{token}", &token);
    let ttl = state.settings.tokens.reset_ttl;
    let rendered =
        state
            .mailer
            .templates()
            .password_reset(name, email, &link, &human_duration(ttl))?;
    link_email(
        state,
        "password_reset",
        user_id,
        name,
        email,
        &token,
        link,
        rendered,
    )
}

#[allow(clippy::too_many_arguments)]
fn link_email(
    state: &AppState,
    kind: &'static str,
    user_id: Uuid,
    name: &str,
    email: &str,
    token: &str,
    link: String,
    rendered: RenderedEmail,
) -> ApiResult<LinkEmail> {
    // The address passed our validation; lettre must accept it too, or the
    // account could never receive its link.
    let Ok(address) = email.parse::<lettre::Address>() else {
        return Err(ApiError::validation(FieldError::new(
            vec![json!("body"), json!("email")],
            "value is not a valid email address",
            "value_error.email",
        )));
    };
    let message = state
        .mailer
        .build(Mailbox::new(Some(name.to_owned()), address), rendered)?;
    Ok(LinkEmail {
        kind,
        user_id,
        recipient: email.to_owned(),
        message: message.formatted(),
        code_hash: token_hash(token),
        link,
    })
}

/// Returns the SHA-256 hex of the bytes behind a hex token, the form the
/// database keeps (the reference app's scheme for verification codes).
pub(super) fn token_hash(token: &str) -> String {
    sha256_hex(&hex::decode(token).unwrap_or_default())
}

fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

pub(super) fn to_chrono(duration: Duration) -> chrono::Duration {
    chrono::Duration::from_std(duration).unwrap_or(chrono::Duration::MAX)
}

/// Formats a lifetime for an email, such as "24 hours" or "90 minutes".
pub fn human_duration(duration: Duration) -> String {
    let minutes = duration.as_secs() / 60;
    let plural = |n: u64, unit: &str| {
        if n == 1 {
            format!("1 {unit}")
        } else {
            format!("{n} {unit}s")
        }
    };
    if minutes >= 60 && minutes.is_multiple_of(60) {
        plural(minutes / 60, "hour")
    } else {
        plural(minutes, "minute")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn human_duration_picks_hours_when_whole() {
        assert_eq!(human_duration(Duration::from_secs(24 * 3600)), "24 hours");
        assert_eq!(human_duration(Duration::from_secs(3600)), "1 hour");
        assert_eq!(human_duration(Duration::from_secs(90 * 60)), "90 minutes");
    }
}
