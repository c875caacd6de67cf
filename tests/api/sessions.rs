//! Refresh and logout: rotation, the reuse interval, and revocation.

use reqwest::StatusCode;
use reqwest::header::{AUTHORIZATION, SET_COOKIE};
use serde_json::Value;

use crate::helpers::{Backend, Options, PASSWORD, TestApp, assert_detail, json_body};
use crate::on_both_backends;

const CANNOT_REFRESH: &str = "Could not refresh access token";

/// Logs in and returns the access token and the refresh token from the cookie.
async fn login_tokens(app: &TestApp, email: &str) -> (String, String) {
    let response = app.login(email, PASSWORD).await;
    assert_eq!(response.status(), StatusCode::OK);
    let refresh = cookie_value(&response, "refresh_token").expect("refresh cookie set on login");
    let body: Value = response.json().await.unwrap();
    (body["access_token"].as_str().unwrap().to_owned(), refresh)
}

fn cookie_value(response: &reqwest::Response, name: &str) -> Option<String> {
    response
        .headers()
        .get_all(SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|c| {
            c.strip_prefix(&format!("{name}="))
                .map(|rest| rest.split(';').next().unwrap().to_owned())
        })
}

async fn refresh_with(app: &TestApp, refresh_token: &str) -> reqwest::Response {
    app.bare_client()
        .post(app.url("/api/auth/refresh"))
        .header(AUTHORIZATION, format!("Bearer {refresh_token}"))
        .send()
        .await
        .unwrap()
}

async fn spawn_with_reuse_interval(backend: Backend, seconds: u64) -> TestApp {
    let options = Options {
        args: vec!["--refresh-token-reuse-interval".into(), seconds.to_string()],
        ..Options::default()
    };
    TestApp::spawn_with(backend, options).await
}

async fn refresh_without_token(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let response = app
        .bare_client()
        .get(app.url("/api/auth/refresh"))
        .send()
        .await
        .unwrap();
    assert_detail(
        response,
        StatusCode::BAD_REQUEST,
        "Please provide refresh token",
    )
    .await;
}

async fn refresh_rotates_token(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.signed_in_user("Ann", "ann@example.com").await;
    let (_, refresh) = login_tokens(&app, "ann@example.com").await;
    let response = refresh_with(&app, &refresh).await;
    assert_eq!(response.status(), StatusCode::OK);
    let rotated = cookie_value(&response, "refresh_token").expect("a new refresh cookie");
    assert_ne!(rotated, refresh);
    assert!(cookie_value(&response, "access_token").is_some());
    assert!(cookie_value(&response, "logged_in").is_some());
    let body = json_body(response).await;
    let access = body["access_token"].as_str().unwrap();
    assert_eq!(
        app.get_with_token("/api/users/me", access).await.status(),
        StatusCode::OK
    );
    // The rotated token works in turn.
    assert_eq!(refresh_with(&app, &rotated).await.status(), StatusCode::OK);
}

async fn refresh_via_cookie(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.signed_in_user("Ann", "ann@example.com").await;
    for method in [reqwest::Method::GET, reqwest::Method::POST] {
        let response = app
            .client
            .request(method.clone(), app.url("/api/auth/refresh"))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{method}");
    }
}

async fn refresh_reuse_within_interval(backend: Backend) {
    let app = spawn_with_reuse_interval(backend, 30).await;
    app.signed_in_user("Ann", "ann@example.com").await;
    let (_, refresh) = login_tokens(&app, "ann@example.com").await;
    let (first, second) = tokio::join!(refresh_with(&app, &refresh), refresh_with(&app, &refresh));
    assert_eq!(first.status(), StatusCode::OK);
    assert_eq!(second.status(), StatusCode::OK);
    let rotated = [&first, &second]
        .iter()
        .filter(|r| cookie_value(r, "refresh_token").is_some())
        .count();
    assert_eq!(
        rotated, 1,
        "exactly one of the two requests rotates the token"
    );
    let again = refresh_with(&app, &refresh).await;
    assert_eq!(again.status(), StatusCode::OK);
    assert!(
        cookie_value(&again, "refresh_token").is_none(),
        "a retired token gets no new refresh cookie"
    );
}

async fn refresh_reuse_revokes_session(backend: Backend) {
    let app = spawn_with_reuse_interval(backend, 0).await;
    app.signed_in_user("Ann", "ann@example.com").await;
    let (access, refresh) = login_tokens(&app, "ann@example.com").await;
    let response = refresh_with(&app, &refresh).await;
    let rotated = cookie_value(&response, "refresh_token").unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;

    assert_detail(
        refresh_with(&app, &refresh).await,
        StatusCode::UNAUTHORIZED,
        CANNOT_REFRESH,
    )
    .await;
    // The reuse revoked the whole session: its live refresh and access tokens too.
    assert_detail(
        refresh_with(&app, &rotated).await,
        StatusCode::UNAUTHORIZED,
        CANNOT_REFRESH,
    )
    .await;
    assert_detail(
        app.get_with_token("/api/users/me", &access).await,
        StatusCode::UNAUTHORIZED,
        "Token is invalid or has expired",
    )
    .await;
}

async fn refresh_rejects_access_token(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let access = app.signed_in_user("Ann", "ann@example.com").await;
    assert_detail(
        refresh_with(&app, &access).await,
        StatusCode::UNAUTHORIZED,
        CANNOT_REFRESH,
    )
    .await;
}

async fn refresh_rejects_garbage(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    for token in ["garbage", "a.b.c", "eyJhbGciOiJub25lIn0.e30."] {
        assert_detail(
            refresh_with(&app, token).await,
            StatusCode::UNAUTHORIZED,
            CANNOT_REFRESH,
        )
        .await;
    }
    let malformed = app
        .bare_client()
        .get(app.url("/api/auth/refresh"))
        .header(AUTHORIZATION, "Basic abc")
        .send()
        .await
        .unwrap();
    assert_detail(malformed, StatusCode::UNAUTHORIZED, CANNOT_REFRESH).await;
}

async fn refresh_after_logout(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.signed_in_user("Ann", "ann@example.com").await;
    let (access, refresh) = login_tokens(&app, "ann@example.com").await;
    assert_eq!(
        app.get_with_token("/api/auth/logout", &access)
            .await
            .status(),
        StatusCode::OK
    );
    assert_detail(
        refresh_with(&app, &refresh).await,
        StatusCode::UNAUTHORIZED,
        CANNOT_REFRESH,
    )
    .await;
}

async fn refresh_for_deleted_user(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.signed_in_user("Ann", "ann@example.com").await;
    let (_, refresh) = login_tokens(&app, "ann@example.com").await;
    app.execute("DELETE FROM users WHERE email = $1", "ann@example.com")
        .await;
    assert_detail(
        refresh_with(&app, &refresh).await,
        StatusCode::UNAUTHORIZED,
        CANNOT_REFRESH,
    )
    .await;
}

async fn logout_clears_cookies(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.signed_in_user("Ann", "ann@example.com").await;
    let response = app
        .client
        .post(app.url("/api/auth/logout"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let cleared: Vec<String> = response
        .headers()
        .get_all(SET_COOKIE)
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .collect();
    for name in ["access_token", "refresh_token", "logged_in"] {
        let cookie = cleared
            .iter()
            .find(|c| c.starts_with(&format!("{name}=")))
            .unwrap_or_else(|| panic!("{name} not cleared in {cleared:?}"));
        assert!(cookie.contains("Max-Age=0"), "{cookie}");
    }
    assert_eq!(
        app.get("/api/users/me").await.status(),
        StatusCode::UNAUTHORIZED
    );
}

async fn logout_requires_login(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let response = app
        .bare_client()
        .get(app.url("/api/auth/logout"))
        .send()
        .await
        .unwrap();
    assert_detail(response, StatusCode::UNAUTHORIZED, "You are not logged in").await;
}

async fn logout_keeps_other_sessions(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let first = app.signed_in_user("Ann", "ann@example.com").await;
    let (second, _) = login_tokens(&app, "ann@example.com").await;
    assert_eq!(
        app.get_with_token("/api/auth/logout", &first)
            .await
            .status(),
        StatusCode::OK
    );
    assert_eq!(
        app.get_with_token("/api/users/me", &second).await.status(),
        StatusCode::OK
    );
}

on_both_backends!(
    refresh_without_token,
    refresh_rotates_token,
    refresh_via_cookie,
    refresh_reuse_within_interval,
    refresh_reuse_revokes_session,
    refresh_rejects_access_token,
    refresh_rejects_garbage,
    refresh_after_logout,
    refresh_for_deleted_user,
    logout_clears_cookies,
    logout_requires_login,
    logout_keeps_other_sessions,
);
