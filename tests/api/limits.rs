//! Rate limits, the client IP behind trusted proxies, equal work for unknown
//! accounts, and the cross-site checks on cookie-authenticated requests.

use reqwest::StatusCode;
use reqwest::header::{ORIGIN, RETRY_AFTER, SET_COOKIE};
use serde_json::json;

use crate::helpers::{Backend, Options, PASSWORD, TestApp, assert_detail, json_body};
use crate::on_both_backends;

async fn spawn_with_args(backend: Backend, args: &[&str]) -> TestApp {
    let options = Options {
        args: args.iter().map(|arg| (*arg).to_owned()).collect(),
        ..Options::default()
    };
    TestApp::spawn_with(backend, options).await
}

/// Asserts a 429 with a positive `Retry-After` and the documented body.
async fn assert_too_many(response: reqwest::Response) {
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    let retry_after: u64 = response.headers()[RETRY_AFTER]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(retry_after >= 1, "Retry-After {retry_after}");
    assert_eq!(
        json_body(response).await,
        json!({ "detail": "Too many requests" })
    );
}

async fn user_count(app: &TestApp) -> i64 {
    postgate::on_pool!(&app.db, pool => {
        let (count,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM users").fetch_one(pool).await.unwrap();
        count
    })
}

async fn login_account_limit(backend: Backend) {
    let app = spawn_with_args(backend, &["--rate-limit-login-account", "3/1m"]).await;
    app.signed_in_user("Ann", "ann@example.com").await;
    app.signed_in_user("Bob", "bob@example.com").await;
    for attempt in 1..=3 {
        let response = app.login("ann@example.com", "wrong-password").await;
        assert_eq!(
            response.status(),
            StatusCode::BAD_REQUEST,
            "failed attempt {attempt}"
        );
    }
    // The fourth attempt is refused even with the right password.
    assert_too_many(app.login("ann@example.com", PASSWORD).await).await;
    assert_too_many(app.login("ANN@example.com", PASSWORD).await).await;
    assert_eq!(
        app.login("bob@example.com", PASSWORD).await.status(),
        StatusCode::OK,
        "other accounts unaffected"
    );
}

async fn login_success_not_counted(backend: Backend) {
    let app = spawn_with_args(backend, &["--rate-limit-login-account", "2/1m"]).await;
    app.signed_in_user("Ann", "ann@example.com").await;
    for attempt in 1..=5 {
        let response = app.login("ann@example.com", PASSWORD).await;
        assert_eq!(
            response.status(),
            StatusCode::OK,
            "successful login {attempt}"
        );
    }
}

async fn login_ip_limit(backend: Backend) {
    let app = spawn_with_args(backend, &["--rate-limit-login-ip", "4/1m"]).await;
    app.signed_in_user("Ann", "ann@example.com").await;
    let attempts = [
        ("ann@example.com", PASSWORD),
        ("ann@example.com", "wrong-password"),
        ("nobody@example.com", PASSWORD),
    ];
    let mut made = 1; // signed_in_user logged in once.
    for (email, password) in attempts.iter().cycle().take(3) {
        let response = app.login(email, password).await;
        assert_ne!(
            response.status(),
            StatusCode::TOO_MANY_REQUESTS,
            "attempt {}",
            made + 1
        );
        made += 1;
    }
    assert_eq!(made, 4);
    assert_too_many(app.login("ann@example.com", PASSWORD).await).await;
}

async fn register_ip_limit(backend: Backend) {
    let app = spawn_with_args(backend, &["--rate-limit-register-ip", "2/1h"]).await;
    assert_eq!(
        app.register("Ann", "ann@example.com").await.status(),
        StatusCode::CREATED
    );
    assert_eq!(
        app.register("Bob", "bob@example.com").await.status(),
        StatusCode::CREATED
    );
    assert_too_many(app.register("Cat", "cat@example.com").await).await;
    assert_eq!(
        user_count(&app).await,
        2,
        "the refused registration created nothing"
    );
}

async fn email_address_limit(backend: Backend) {
    let app = spawn_with_args(backend, &["--rate-limit-email-address", "2/1h"]).await;
    for path in ["/api/auth/resend-verification", "/api/auth/forgot-password"] {
        let response = app
            .post_json(path, &json!({ "email": "ann@example.com" }))
            .await;
        assert_eq!(response.status(), StatusCode::OK, "{path}");
    }
    let third = app
        .post_json(
            "/api/auth/forgot-password",
            &json!({ "email": "ANN@example.com" }),
        )
        .await;
    assert_too_many(third).await;
    let other = app
        .post_json(
            "/api/auth/forgot-password",
            &json!({ "email": "bob@example.com" }),
        )
        .await;
    assert_eq!(other.status(), StatusCode::OK);
}

async fn email_ip_limit(backend: Backend) {
    let app = spawn_with_args(backend, &["--rate-limit-email-ip", "3/1h"]).await;
    for index in 0..3 {
        let response = app
            .post_json(
                "/api/auth/forgot-password",
                &json!({ "email": format!("user{index}@example.com") }),
            )
            .await;
        assert_eq!(response.status(), StatusCode::OK, "request {index}");
    }
    let response = app
        .post_json(
            "/api/auth/resend-verification",
            &json!({ "email": "user9@example.com" }),
        )
        .await;
    assert_too_many(response).await;
}

async fn limits_can_be_off(backend: Backend) {
    let app = spawn_with_args(
        backend,
        &[
            "--rate-limit-login-account",
            "off",
            "--rate-limit-login-ip",
            "off",
        ],
    )
    .await;
    app.signed_in_user("Ann", "ann@example.com").await;
    for attempt in 1..=15 {
        let response = app.login("ann@example.com", "wrong-password").await;
        assert_eq!(
            response.status(),
            StatusCode::BAD_REQUEST,
            "attempt {attempt}"
        );
    }
}

async fn register_with_forwarded_for(
    app: &TestApp,
    email: &str,
    client: &str,
) -> reqwest::Response {
    app.client
        .post(app.url("/api/auth/register"))
        .header("x-forwarded-for", client)
        .json(&json!({ "name": "Ann", "email": email, "password": PASSWORD, "passwordConfirm": PASSWORD }))
        .send()
        .await
        .unwrap()
}

async fn trusted_proxy_forwards_client(backend: Backend) {
    let app = spawn_with_args(
        backend,
        &[
            "--rate-limit-register-ip",
            "1/1h",
            "--trusted-proxies",
            "127.0.0.1",
        ],
    )
    .await;
    let first = register_with_forwarded_for(&app, "a@example.com", "203.0.113.1").await;
    assert_eq!(first.status(), StatusCode::CREATED);
    assert_too_many(register_with_forwarded_for(&app, "b@example.com", "203.0.113.1").await).await;
    let other = register_with_forwarded_for(&app, "c@example.com", "203.0.113.2").await;
    assert_eq!(
        other.status(),
        StatusCode::CREATED,
        "another client behind the proxy"
    );
}

async fn untrusted_forwarded_for_ignored(backend: Backend) {
    let app = spawn_with_args(backend, &["--rate-limit-register-ip", "1/1h"]).await;
    let first = register_with_forwarded_for(&app, "a@example.com", "203.0.113.1").await;
    assert_eq!(first.status(), StatusCode::CREATED);
    // Without a trusted proxy the header is the client's own claim.
    assert_too_many(register_with_forwarded_for(&app, "b@example.com", "203.0.113.2").await).await;
}

async fn unknown_email_costs_one_verification(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.signed_in_user("Ann", "ann@example.com").await;
    let before = app.state.passwords.verification_count();
    let unknown = app.login("nobody@example.com", PASSWORD).await;
    let after_unknown = app.state.passwords.verification_count();
    let wrong = app.login("ann@example.com", "wrong-password").await;
    let after_wrong = app.state.passwords.verification_count();
    assert_eq!(
        after_unknown - before,
        1,
        "an unknown email verifies a dummy hash"
    );
    assert_eq!(
        after_wrong - after_unknown,
        1,
        "a wrong password verifies the stored hash"
    );
    assert_eq!(unknown.status(), wrong.status());
    assert_eq!(json_body(unknown).await, json_body(wrong).await);
}

async fn create_with_origin(app: &TestApp, origin: Option<&str>) -> reqwest::Response {
    let mut request = app
        .client
        .post(app.url("/api/posts"))
        .json(&json!({ "title": "t", "content": "c", "category": "x", "image": "i" }));
    if let Some(origin) = origin {
        request = request.header(ORIGIN, origin);
    }
    request.send().await.unwrap()
}

async fn cross_site_cookie_post_rejected(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let token = app.signed_in_user("Ann", "ann@example.com").await;
    let rejected = create_with_origin(&app, Some("https://evil.example")).await;
    assert_detail(
        rejected,
        StatusCode::FORBIDDEN,
        "Cross-site request rejected: Origin is not allowed",
    )
    .await;
    let null_origin = create_with_origin(&app, Some("null")).await;
    assert_eq!(null_origin.status(), StatusCode::FORBIDDEN);
    let list = json_body(app.get_with_token("/api/posts", &token).await).await;
    assert_eq!(list["total"], 0, "nothing was created");

    let logout = app
        .client
        .post(app.url("/api/auth/logout"))
        .header(ORIGIN, "https://evil.example")
        .send()
        .await
        .unwrap();
    assert_eq!(logout.status(), StatusCode::FORBIDDEN);
    assert_eq!(
        app.get("/api/users/me").await.status(),
        StatusCode::OK,
        "the session survived"
    );
}

async fn allowed_origins_pass(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let token = app.signed_in_user("Ann", "ann@example.com").await;
    for origin in [
        Some("http://localhost:3000"),
        Some("http://127.0.0.1:9"),
        None,
    ] {
        let response = create_with_origin(&app, origin).await;
        assert_eq!(response.status(), StatusCode::CREATED, "origin {origin:?}");
    }
    // A bearer token is not sent by the browser on its own, so any origin may use it.
    let bearer = app
        .bare_client()
        .post(app.url("/api/posts"))
        .bearer_auth(&token)
        .header(ORIGIN, "https://evil.example")
        .json(&json!({ "title": "t", "content": "c", "category": "x", "image": "i" }))
        .send()
        .await
        .unwrap();
    assert_eq!(bearer.status(), StatusCode::CREATED);
}

async fn https_public_url_secures_cookies(backend: Backend) {
    let app = spawn_with_args(backend, &["--public-url", "https://api.example.com"]).await;
    let token = app.signed_in_user("Ann", "ann@example.com").await;
    assert!(!token.is_empty());
    let login = app.login("ann@example.com", PASSWORD).await;
    let cookies: Vec<String> = login
        .headers()
        .get_all(SET_COOKIE)
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .collect();
    assert_eq!(cookies.len(), 3);
    for cookie in &cookies {
        assert!(cookie.contains("Secure"), "{cookie}");
    }

    let app = spawn_with_args(
        backend,
        &[
            "--public-url",
            "https://api.example.com",
            "--cookie-secure",
            "false",
        ],
    )
    .await;
    app.signed_in_user("Ann", "ann@example.com").await;
    let login = app.login("ann@example.com", PASSWORD).await;
    for cookie in login.headers().get_all(SET_COOKIE) {
        assert!(!cookie.to_str().unwrap().contains("Secure"), "{cookie:?}");
    }
}

on_both_backends!(
    login_account_limit,
    login_success_not_counted,
    login_ip_limit,
    register_ip_limit,
    email_address_limit,
    email_ip_limit,
    limits_can_be_off,
    trusted_proxy_forwards_client,
    untrusted_forwarded_for_ignored,
    unknown_email_costs_one_verification,
    cross_site_cookie_post_rejected,
    allowed_origins_pass,
    https_public_url_secures_cookies,
);
