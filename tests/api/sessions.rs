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

/// Checks that refreshing with `refresh_token` fails with 401.
async fn assert_cannot_refresh(app: &TestApp, refresh_token: &str) {
    assert_detail(
        refresh_with(app, refresh_token).await,
        StatusCode::UNAUTHORIZED,
        CANNOT_REFRESH,
    )
    .await;
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

    assert_cannot_refresh(&app, &refresh).await;
    // The reuse revoked the whole session: its live refresh and access tokens too.
    assert_cannot_refresh(&app, &rotated).await;
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
    assert_cannot_refresh(&app, &access).await;
}

async fn refresh_rejects_garbage(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    for token in ["garbage", "a.b.c", "eyJhbGciOiJub25lIn0.e30."] {
        assert_cannot_refresh(&app, token).await;
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
    assert_cannot_refresh(&app, &refresh).await;
}

async fn refresh_for_deleted_user(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.signed_in_user("Ann", "ann@example.com").await;
    let (_, refresh) = login_tokens(&app, "ann@example.com").await;
    app.execute("DELETE FROM users WHERE email = $1", "ann@example.com")
        .await;
    assert_cannot_refresh(&app, &refresh).await;
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

async fn sessions_lists_live_logins(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let first = app.signed_in_user("Ann", "ann@example.com").await;
    let (second, _) = login_tokens(&app, "ann@example.com").await;
    let response = app.get_with_token("/api/auth/sessions", &second).await;
    assert_eq!(response.status(), StatusCode::OK);
    let listed = json_body(response).await;
    let listed = listed.as_array().expect("a list");
    assert_eq!(listed.len(), 2, "{listed:?}");
    assert_eq!(listed.iter().filter(|s| s["current"] == true).count(), 1);
    for session in listed {
        assert!(session["id"].is_string());
        assert!(session["created_at"].is_string());
        assert!(session["last_used_at"].is_string());
        assert_eq!(session["ip"], "127.0.0.1");
    }

    assert_eq!(
        app.get_with_token("/api/auth/logout", &first)
            .await
            .status(),
        StatusCode::OK
    );
    let after = json_body(app.get_with_token("/api/auth/sessions", &second).await).await;
    assert_eq!(
        after.as_array().unwrap().len(),
        1,
        "a logged-out session is not listed"
    );
    assert_eq!(after[0]["current"], true);
}

async fn session_delete_revokes_it(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let first = app.signed_in_user("Ann", "ann@example.com").await;
    let (second, _) = login_tokens(&app, "ann@example.com").await;
    let listed = json_body(app.get_with_token("/api/auth/sessions", &second).await).await;
    let other = listed
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["current"] == false)
        .expect("the first login is listed")["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let path = format!("/api/auth/sessions/{other}");
    let deleted = app
        .bare_client()
        .delete(app.url(&path))
        .bearer_auth(&second)
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        app.get_with_token("/api/users/me", &first).await.status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        app.get_with_token("/api/users/me", &second).await.status(),
        StatusCode::OK
    );

    let again = app
        .bare_client()
        .delete(app.url(&path))
        .bearer_auth(&second)
        .send()
        .await
        .unwrap();
    assert_detail(
        again,
        StatusCode::NOT_FOUND,
        &format!("No session with this id: {other} found"),
    )
    .await;
}

async fn session_delete_others_not_found(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let ann = app.signed_in_user("Ann", "ann@example.com").await;
    let bob = app.signed_in_user("Bob", "bob@example.com").await;
    let listed = json_body(app.get_with_token("/api/auth/sessions", &ann).await).await;
    let ann_session = listed[0]["id"].as_str().unwrap().to_owned();
    let path = format!("/api/auth/sessions/{ann_session}");
    let response = app
        .bare_client()
        .delete(app.url(&path))
        .bearer_auth(&bob)
        .send()
        .await
        .unwrap();
    assert_detail(
        response,
        StatusCode::NOT_FOUND,
        &format!("No session with this id: {ann_session} found"),
    )
    .await;
    assert_eq!(
        app.get_with_token("/api/users/me", &ann).await.status(),
        StatusCode::OK
    );

    let bad = app
        .bare_client()
        .delete(app.url("/api/auth/sessions/not-a-uuid"))
        .bearer_auth(&bob)
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), StatusCode::UNPROCESSABLE_ENTITY);
}

async fn logout_all_revokes_everything(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let first = app.signed_in_user("Ann", "ann@example.com").await;
    let (second, refresh) = login_tokens(&app, "ann@example.com").await;
    let response = app
        .bare_client()
        .post(app.url("/api/auth/logout-all"))
        .bearer_auth(&first)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert!(
        cookie_value(&response, "access_token").is_some_and(|v| v.is_empty()),
        "cookies cleared"
    );
    assert_eq!(
        json_body(response).await,
        serde_json::json!({ "status": "success" })
    );
    assert_eq!(
        app.get_with_token("/api/users/me", &first).await.status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        app.get_with_token("/api/users/me", &second).await.status(),
        StatusCode::UNAUTHORIZED
    );
    assert_cannot_refresh(&app, &refresh).await;
}

async fn auth_responses_are_not_cached(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let token = app.signed_in_user("Ann", "ann@example.com").await;
    let login = app.login("ann@example.com", PASSWORD).await;
    assert_eq!(login.headers()["cache-control"], "no-store");
    let me = app.get_with_token("/api/users/me", &token).await;
    assert_eq!(me.headers()["cache-control"], "no-store");
    for path in ["/api/healthchecker", "/api/users/me", "/nowhere"] {
        let response = app.get(path).await;
        assert_eq!(
            response.headers()["x-content-type-options"],
            "nosniff",
            "{path}"
        );
        assert_eq!(
            response.headers()["referrer-policy"],
            "no-referrer",
            "{path}"
        );
    }
}

on_both_backends!(
    sessions_lists_live_logins,
    session_delete_revokes_it,
    session_delete_others_not_found,
    logout_all_revokes_everything,
    auth_responses_are_not_cached,
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
