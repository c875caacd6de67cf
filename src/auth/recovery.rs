//! Account recovery: resend the verification link, request a password
//! reset link, and reset the password with it.
//!
//! The two request routes return the same body whether or not the address
//! has an account, and do their work after responding, so neither the body
//! nor the timing tells which addresses are registered.

use std::net::IpAddr;

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use serde_json::{Value, json};
use tracing::Instrument;

use super::handlers::{password_reset_email, to_chrono, token_hash, verification_email};
use super::reset_tokens;
use crate::app::AppState;
use crate::db;
use crate::error::{ApiError, ApiResult};
use crate::ratelimit::{ClientIp, too_many};
use crate::users::store;
use crate::validation::{BodyFields, JsonBody, Length};

const PASSWORD: Length = Length { min: 8, max: 128 };
const INVALID_LINK: &str = "Invalid or expired reset link";

fn email_field(body: JsonBody) -> ApiResult<String> {
    let mut fields = BodyFields::new(body)?;
    let email = fields.required_email("email");
    fields.finish()?;
    email.ok_or_else(|| anyhow::anyhow!("validated email field is missing").into())
}

/// Applies the per-IP and per-address limits that resend and forgot-password
/// share. The limit applies to any address, registered or not, so a 429
/// reveals nothing either.
fn limit_email_request(state: &AppState, client_ip: IpAddr, email: &str) -> ApiResult<()> {
    state
        .limits
        .email_ip
        .hit(&client_ip.to_string())
        .map_err(too_many)?;
    state.limits.email_address.hit(email).map_err(too_many)?;
    Ok(())
}

/// Runs `work` after the response is sent; errors are logged, not returned.
fn run_after_response(
    kind: &'static str,
    work: impl Future<Output = ApiResult<()>> + Send + 'static,
) {
    let span = tracing::Span::current();
    tokio::spawn(
        async move {
            if let Err(error) = work.await {
                tracing::error!(kind, error = %error, "account email request failed");
            }
        }
        .instrument(span),
    );
}

#[utoipa::path(
    post,
    path = "/api/auth/resend-verification",
    tag = "auth",
    request_body = crate::docs::EmailRequest,
    responses(
        (status = 200, description = "The same answer for every address", body = crate::docs::StatusMessage),
        (status = 429, description = "Too many requests; see Retry-After", body = crate::docs::ErrorBody),
    )
)]
pub async fn resend_verification(
    State(state): State<AppState>,
    ClientIp(client_ip): ClientIp,
    body: JsonBody,
) -> ApiResult<Json<Value>> {
    let email = email_field(body)?;
    limit_email_request(&state, client_ip, &email)?;
    run_after_response("verification", async move {
        let Some(user) = store::find_by_email(&state.db, &email).await? else {
            return Ok(());
        };
        if user.verified {
            return Ok(());
        }
        let verification = verification_email(&state, user.id, &user.name, &user.email)?;
        let now = db::now();
        let expires_at = now + to_chrono(state.settings.tokens.verification_ttl);
        let replaced = store::replace_verification_code(
            &state.db,
            user.id,
            &verification.code_hash,
            expires_at,
            &verification.email(),
            now,
        )
        .await?;
        if replaced {
            tracing::info!(user_id = %user.id, "queued a new verification link");
            verification.log_link_in_file_mode(&state, user.id);
            state.email_wake.notify_one();
        }
        Ok(())
    });
    Ok(Json(json!({
        "status": "success",
        "message": "If an unverified account uses this address, a new verification link is on its way",
    })))
}

#[utoipa::path(
    post,
    path = "/api/auth/forgot-password",
    tag = "auth",
    request_body = crate::docs::EmailRequest,
    responses(
        (status = 200, description = "The same answer for every address", body = crate::docs::StatusMessage),
        (status = 429, description = "Too many requests; see Retry-After", body = crate::docs::ErrorBody),
    )
)]
pub async fn forgot_password(
    State(state): State<AppState>,
    ClientIp(client_ip): ClientIp,
    body: JsonBody,
) -> ApiResult<Json<Value>> {
    let email = email_field(body)?;
    limit_email_request(&state, client_ip, &email)?;
    run_after_response("password_reset", async move {
        let Some(user) = store::find_by_email(&state.db, &email).await? else {
            return Ok(());
        };
        // Unverified accounts get a link too, so the owner of the mailbox
        // can take over an account that someone else registered with the
        // address. The reset also verifies the account.
        let reset = password_reset_email(&state, user.id, &user.name, &user.email)?;
        let now = db::now();
        let expires_at = now + to_chrono(state.settings.tokens.reset_ttl);
        reset_tokens::replace(
            &state.db,
            user.id,
            &reset.code_hash,
            expires_at,
            &reset.email(),
            now,
        )
        .await?;
        tracing::info!(user_id = %user.id, "queued a password reset link");
        reset.log_link_in_file_mode(&state, user.id);
        state.email_wake.notify_one();
        Ok(())
    });
    Ok(Json(json!({
        "status": "success",
        "message": "If an account uses this address, a password reset link is on its way",
    })))
}

#[utoipa::path(
    post,
    path = "/api/auth/reset-password",
    tag = "auth",
    request_body = crate::docs::ResetPasswordRequest,
    responses(
        (status = 200, description = "Password changed; every session revoked", body = crate::docs::StatusMessage),
        (status = 400, description = "Passwords do not match", body = crate::docs::ErrorBody),
        (status = 403, description = "Invalid or expired reset link", body = crate::docs::ErrorBody),
    )
)]
pub async fn reset_password(
    State(state): State<AppState>,
    body: JsonBody,
) -> ApiResult<Json<Value>> {
    let mut fields = BodyFields::new(body)?;
    let token = fields.required_str("token", Length { min: 1, max: 256 });
    let password = fields.required_str("password", PASSWORD);
    let password_confirm = fields.required_str(
        "passwordConfirm",
        Length {
            min: 1,
            max: PASSWORD.max,
        },
    );
    fields.finish()?;
    let (Some(token), Some(password), Some(password_confirm)) = (token, password, password_confirm)
    else {
        return Err(anyhow::anyhow!("validated reset fields are missing").into());
    };
    if password != password_confirm {
        return Err(ApiError::bad_request("Passwords do not match"));
    }
    let token = token.trim();
    if token.is_empty() || hex::decode(token).is_err() {
        return Err(ApiError::forbidden(INVALID_LINK));
    }
    let hash = token_hash(token);

    // Checked before hashing, so a forged link costs no password hashing.
    if reset_tokens::find_live(&state.db, &hash, db::now())
        .await?
        .is_none()
    {
        return Err(ApiError::forbidden(INVALID_LINK));
    }
    let password_hash = state.passwords.hash(password).await?;
    let Some(user_id) = reset_tokens::consume(&state.db, &hash, &password_hash, db::now()).await?
    else {
        return Err(ApiError::forbidden(INVALID_LINK));
    };
    tracing::info!(%user_id, "password reset; every session revoked");
    Ok(Json(json!({
        "status": "success",
        "message": "Password reset successfully",
    })))
}

/// Serves the minimal page that the default reset link opens, so password
/// reset works without a front end.
#[utoipa::path(
    get,
    path = "/api/auth/reset-password",
    tag = "auth",
    params(("token" = Option<String>, Query, description = "Read by the page's script, not by the server")),
    responses((status = 200, description = "A minimal HTML form that posts the new password", content_type = "text/html", body = String))
)]
pub async fn reset_password_page() -> Response {
    let mut response =
        Html(include_str!("../../templates/pages/reset_password.html")).into_response();
    response.headers_mut().insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; \
             connect-src 'self'; form-action 'none'; frame-ancestors 'none'; base-uri 'none'",
        ),
    );
    *response.status_mut() = StatusCode::OK;
    response
}
