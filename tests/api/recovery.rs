//! Resending the verification link and resetting a forgotten password.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{
    Backend, Options, PASSWORD, TestApp, assert_detail, assert_validation, extract_link, json_body,
};
use crate::on_both_backends;

const NEW_PASSWORD: &str = "brand-new-secret-2";
const INVALID_LINK: &str = "Invalid or expired reset link";

async fn resend(app: &TestApp, email: &str) -> Value {
    let response = app
        .post_json("/api/auth/resend-verification", &json!({ "email": email }))
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    json_body(response).await
}

async fn forgot(app: &TestApp, email: &str) -> Value {
    let response = app
        .post_json("/api/auth/forgot-password", &json!({ "email": email }))
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    json_body(response).await
}

/// Waits for the reset email to `email` and returns the token in its link.
async fn reset_token(app: &TestApp, email: &str, previous: usize) -> String {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let emails: Vec<_> = app
            .smtp
            .received_for(email)
            .into_iter()
            .filter(|e| e.subject == "Reset your password")
            .collect();
        if emails.len() > previous {
            let link =
                extract_link(&emails.last().unwrap().html, "reset-password").expect("reset link");
            return link
                .split("token=")
                .nth(1)
                .expect("token in link")
                .to_owned();
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no reset email to {email}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn reset(app: &TestApp, token: &str, password: &str, confirm: &str) -> reqwest::Response {
    app.post_json(
        "/api/auth/reset-password",
        &json!({ "token": token, "password": password, "passwordConfirm": confirm }),
    )
    .await
}

/// Gives background work after a response a moment to finish, then counts emails.
async fn emails_after_settling(app: &TestApp, email: &str) -> usize {
    tokio::time::sleep(Duration::from_millis(700)).await;
    app.smtp.received_for(email).len()
}

async fn resend_sends_new_link(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.register("Ann", "ann@example.com").await;
    let first = app.verification_link("ann@example.com").await;
    resend(&app, "ANN@example.com").await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while app.smtp.received_for("ann@example.com").len() < 2 {
        assert!(tokio::time::Instant::now() < deadline, "no second email");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let second = app.verification_link("ann@example.com").await;
    assert_ne!(first, second);
    let old = app.client.get(&first).send().await.unwrap();
    assert_detail(
        old,
        StatusCode::FORBIDDEN,
        "Email can only be verified once",
    )
    .await;
    assert_eq!(
        app.client.get(&second).send().await.unwrap().status(),
        StatusCode::OK
    );
}

async fn resend_reveals_nothing(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.signed_in_user("Ann", "ann@example.com").await;
    let verified = resend(&app, "ann@example.com").await;
    let unknown = resend(&app, "nobody@example.com").await;
    assert_eq!(
        verified, unknown,
        "same body for a verified and an unknown address"
    );
    assert_eq!(
        emails_after_settling(&app, "ann@example.com").await,
        1,
        "only the first email"
    );
    assert_eq!(app.smtp.received_for("nobody@example.com").len(), 0);
}

async fn resend_rejects_invalid_email(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let response = app
        .post_json("/api/auth/resend-verification", &json!({ "email": "nope" }))
        .await;
    assert_validation(response, json!(["body", "email"]), "value_error.email").await;
    let response = app
        .post_json("/api/auth/resend-verification", &json!({}))
        .await;
    assert_validation(response, json!(["body", "email"]), "value_error.missing").await;
}

async fn reset_flow_end_to_end(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let old_access = app.signed_in_user("Ann", "ann@example.com").await;
    forgot(&app, "Ann@Example.com").await;
    let token = reset_token(&app, "ann@example.com", 0).await;
    assert_eq!(token.len(), 64);

    // The default link opens a page of postgate's own.
    let page = app
        .get(&format!("/api/auth/reset-password?token={token}"))
        .await;
    assert_eq!(page.status(), StatusCode::OK);
    assert!(
        page.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    assert!(page.headers().contains_key("content-security-policy"));
    let html = page.text().await.unwrap();
    assert!(html.contains("<form"), "{html}");
    assert!(
        !html.contains(&token),
        "the token is not echoed into the page"
    );

    let response = reset(&app, &token, NEW_PASSWORD, NEW_PASSWORD).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        json_body(response).await,
        json!({ "status": "success", "message": "Password reset successfully" })
    );
    assert_detail(
        app.get_with_token("/api/users/me", &old_access).await,
        StatusCode::UNAUTHORIZED,
        "Token is invalid or has expired",
    )
    .await;
    assert_eq!(
        app.login("ann@example.com", PASSWORD).await.status(),
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        app.login("ann@example.com", NEW_PASSWORD).await.status(),
        StatusCode::OK
    );
}

async fn reset_token_single_use(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.signed_in_user("Ann", "ann@example.com").await;
    forgot(&app, "ann@example.com").await;
    let token = reset_token(&app, "ann@example.com", 0).await;
    assert_eq!(
        reset(&app, &token, NEW_PASSWORD, NEW_PASSWORD)
            .await
            .status(),
        StatusCode::OK
    );
    let again = reset(&app, &token, "another-password-3", "another-password-3").await;
    assert_detail(again, StatusCode::FORBIDDEN, INVALID_LINK).await;
    assert_eq!(
        app.login("ann@example.com", NEW_PASSWORD).await.status(),
        StatusCode::OK
    );
}

async fn reset_new_link_retires_old(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.signed_in_user("Ann", "ann@example.com").await;
    forgot(&app, "ann@example.com").await;
    let first = reset_token(&app, "ann@example.com", 0).await;
    forgot(&app, "ann@example.com").await;
    let second = reset_token(&app, "ann@example.com", 1).await;
    assert_ne!(first, second);
    assert_detail(
        reset(&app, &first, NEW_PASSWORD, NEW_PASSWORD).await,
        StatusCode::FORBIDDEN,
        INVALID_LINK,
    )
    .await;
    assert_eq!(
        reset(&app, &second, NEW_PASSWORD, NEW_PASSWORD)
            .await
            .status(),
        StatusCode::OK
    );
}

async fn reset_rejects_forged_tokens(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.signed_in_user("Ann", "ann@example.com").await;
    let random = "ab".repeat(32);
    for token in [random.as_str(), "not-hex", "%00", "a"] {
        let response = reset(&app, token, NEW_PASSWORD, NEW_PASSWORD).await;
        assert_eq!(response.status(), StatusCode::FORBIDDEN, "token {token:?}");
        assert_eq!(
            json_body(response).await,
            json!({ "detail": INVALID_LINK }),
            "token {token:?}"
        );
    }
    let blank = reset(&app, "  ", NEW_PASSWORD, NEW_PASSWORD).await;
    assert_validation(
        blank,
        json!(["body", "token"]),
        "value_error.any_str.min_length",
    )
    .await;
    assert_eq!(
        app.login("ann@example.com", PASSWORD).await.status(),
        StatusCode::OK
    );
}

async fn reset_rejects_expired_token(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.signed_in_user("Ann", "ann@example.com").await;
    forgot(&app, "ann@example.com").await;
    let token = reset_token(&app, "ann@example.com", 0).await;
    let past = chrono::Utc::now() - chrono::Duration::minutes(1);
    postgate::on_pool!(&app.db, pool => {
        sqlx::query("UPDATE password_reset_tokens SET expires_at = $1").bind(past).execute(pool).await.unwrap();
    });
    assert_detail(
        reset(&app, &token, NEW_PASSWORD, NEW_PASSWORD).await,
        StatusCode::FORBIDDEN,
        INVALID_LINK,
    )
    .await;
    assert_eq!(
        app.login("ann@example.com", PASSWORD).await.status(),
        StatusCode::OK
    );
}

async fn reset_rejects_mismatch_and_invalid(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.signed_in_user("Ann", "ann@example.com").await;
    forgot(&app, "ann@example.com").await;
    let token = reset_token(&app, "ann@example.com", 0).await;
    assert_detail(
        reset(&app, &token, NEW_PASSWORD, "something-else-4").await,
        StatusCode::BAD_REQUEST,
        "Passwords do not match",
    )
    .await;
    let short = reset(&app, &token, "short", "short").await;
    assert_validation(
        short,
        json!(["body", "password"]),
        "value_error.any_str.min_length",
    )
    .await;
    let missing = app
        .post_json(
            "/api/auth/reset-password",
            &json!({ "password": NEW_PASSWORD, "passwordConfirm": NEW_PASSWORD }),
        )
        .await;
    assert_validation(missing, json!(["body", "token"]), "value_error.missing").await;
    // None of these used up the link.
    assert_eq!(
        reset(&app, &token, NEW_PASSWORD, NEW_PASSWORD)
            .await
            .status(),
        StatusCode::OK
    );
}

async fn forgot_reveals_nothing(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.signed_in_user("Ann", "ann@example.com").await;
    app.register("Unverified", "new@example.com").await;
    app.smtp.wait_for("new@example.com").await;
    let verified = forgot(&app, "ann@example.com").await;
    let unverified = forgot(&app, "new@example.com").await;
    let unknown = forgot(&app, "nobody@example.com").await;
    assert_eq!(verified, unknown);
    assert_eq!(unverified, unknown);
    assert_eq!(emails_after_settling(&app, "nobody@example.com").await, 0);
}

/// Someone who registers another person's address first cannot keep the
/// account: a reset proves the mailbox, replaces the password and verifies
/// the account.
async fn reset_claims_unverified_account(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.register("Squatter", "carol@example.com").await;
    let squatter_link = app.verification_link("carol@example.com").await;

    forgot(&app, "carol@example.com").await;
    let token = reset_token(&app, "carol@example.com", 0).await;
    let response = reset(&app, &token, NEW_PASSWORD, NEW_PASSWORD).await;
    assert_eq!(response.status(), StatusCode::OK);

    assert_eq!(
        app.login("carol@example.com", PASSWORD).await.status(),
        StatusCode::BAD_REQUEST,
        "the squatter's password no longer works"
    );
    assert_eq!(
        app.login("carol@example.com", NEW_PASSWORD).await.status(),
        StatusCode::OK,
        "the reset verified the account"
    );
    let spent = app.client.get(&squatter_link).send().await.unwrap();
    assert_eq!(
        spent.status(),
        StatusCode::FORBIDDEN,
        "the old verification link is spent"
    );
}

async fn reset_link_uses_configured_url(backend: Backend) {
    let options = Options {
        args: vec![
            "--reset-password-url".into(),
            "https://app.example.com/reset?t={token}".into(),
        ],
        ..Options::default()
    };
    let app = TestApp::spawn_with(backend, options).await;
    app.signed_in_user("Ann", "ann@example.com").await;
    forgot(&app, "ann@example.com").await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let email = loop {
        if let Some(email) = app
            .smtp
            .received_for("ann@example.com")
            .into_iter()
            .find(|e| e.subject == "Reset your password")
        {
            break email;
        }
        assert!(tokio::time::Instant::now() < deadline, "no reset email");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let link = extract_link(&email.html, "app.example.com").expect("configured link");
    assert!(
        link.starts_with("https://app.example.com/reset?t="),
        "{link}"
    );
    let token = link.split("t=").nth(1).unwrap();
    assert_eq!(
        reset(&app, token, NEW_PASSWORD, NEW_PASSWORD)
            .await
            .status(),
        StatusCode::OK
    );
}

on_both_backends!(
    resend_sends_new_link,
    resend_reveals_nothing,
    resend_rejects_invalid_email,
    reset_flow_end_to_end,
    reset_token_single_use,
    reset_new_link_retires_old,
    reset_rejects_forged_tokens,
    reset_rejects_expired_token,
    reset_rejects_mismatch_and_invalid,
    forgot_reveals_nothing,
    reset_claims_unverified_account,
    reset_link_uses_configured_url,
);
