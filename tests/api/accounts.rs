//! Registration, email verification and login.

use std::time::Duration;

use futures::future::join_all;
use reqwest::StatusCode;
use reqwest::header::SET_COOKIE;
use serde_json::{Value, json};

use crate::helpers::{Backend, PASSWORD, TestApp, assert_detail, assert_validation, json_body};
use crate::on_both_backends;

fn registration(overrides: Value) -> Value {
    let mut body = json!({
        "name": "Ann",
        "email": "ann@example.com",
        "password": PASSWORD,
        "passwordConfirm": PASSWORD,
    });
    for (key, value) in overrides.as_object().unwrap() {
        if value.is_null() && key.starts_with('-') {
            body.as_object_mut().unwrap().remove(&key[1..]);
        } else {
            body[key] = value.clone();
        }
    }
    body
}

async fn user_count(app: &TestApp) -> i64 {
    postgate::on_pool!(&app.db, pool => {
        let (count,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM users").fetch_one(pool).await.unwrap();
        count
    })
}

async fn stored_column(app: &TestApp, column: &'static str, email: &str) -> Option<String> {
    let sql = match column {
        "password" => "SELECT password FROM users WHERE email = $1",
        "role" => "SELECT role FROM users WHERE email = $1",
        "photo" => "SELECT photo FROM users WHERE email = $1",
        other => panic!("no query for column {other}"),
    };
    postgate::on_pool!(&app.db, pool => {
        let row: Option<(String,)> = sqlx::query_as(sql).bind(email).fetch_optional(pool).await.unwrap();
        row.map(|(value,)| value)
    })
}

async fn register_missing_fields(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    for field in ["name", "email", "password", "passwordConfirm"] {
        let body = registration(json!({ format!("-{field}"): null }));
        let response = app.post_json("/api/auth/register", &body).await;
        assert_validation(response, json!(["body", field]), "value_error.missing").await;
    }
    assert_eq!(user_count(&app).await, 0);
}

async fn register_reports_every_bad_field(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let response = app.post_json("/api/auth/register", &json!({})).await;
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let body = json_body(response).await;
    assert_eq!(body["detail"].as_array().unwrap().len(), 4, "{body}");
}

async fn register_invalid_email(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    for email in [
        "not-an-email",
        "ann@",
        "ann@localhost",
        "ann example@example.com",
        "",
    ] {
        let response = app
            .post_json(
                "/api/auth/register",
                &registration(json!({ "email": email })),
            )
            .await;
        assert_eq!(
            response.status(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "email {email:?}"
        );
        let body = json_body(response).await;
        assert_eq!(
            body["detail"][0]["loc"],
            json!(["body", "email"]),
            "email {email:?}"
        );
    }
    let long = format!("{}@example.com", "a".repeat(250));
    let response = app
        .post_json(
            "/api/auth/register",
            &registration(json!({ "email": long })),
        )
        .await;
    let error = assert_validation(
        response,
        json!(["body", "email"]),
        "value_error.any_str.max_length",
    )
    .await;
    assert_eq!(error["ctx"], json!({ "limit_value": 254 }));
    assert_eq!(user_count(&app).await, 0);
}

async fn register_lookalike_emails(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    assert_eq!(
        app.register("Ann", "ü@exämple.com").await.status(),
        StatusCode::CREATED
    );
    for lookalike in [
        "u\u{0308}@exämple.com",
        "ü@xn--exmple-cua.com",
        "Ü@EXÄMPLE.COM",
    ] {
        let response = app.register("Ann", lookalike).await;
        assert_detail(response, StatusCode::CONFLICT, "Account already exist").await;
    }
    let invisible = app.register("Ann", "an\u{200B}n@example.com").await;
    assert_validation(invisible, json!(["body", "email"]), "value_error.email").await;
    assert_eq!(user_count(&app).await, 1);
}

async fn register_password_length(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    // (password, error type, ctx limit). A password of only spaces is blank,
    // and its limit of 1 matches the "other than whitespace" message.
    let cases = [
        ("short".to_owned(), "value_error.any_str.min_length", 8),
        ("p".repeat(129), "value_error.any_str.max_length", 128),
        (" ".repeat(8), "value_error.any_str.min_length", 1),
    ];
    for (password, kind, limit) in cases {
        let body = registration(json!({ "password": password, "passwordConfirm": password }));
        let error = assert_validation(
            app.post_json("/api/auth/register", &body).await,
            json!(["body", "password"]),
            kind,
        )
        .await;
        assert_eq!(
            error["ctx"],
            json!({ "limit_value": limit }),
            "{password:?}"
        );
        if password.trim().is_empty() {
            assert!(
                error["msg"].as_str().unwrap().contains("whitespace"),
                "{error}"
            );
        }
    }
    assert_eq!(user_count(&app).await, 0);
}

async fn register_name_too_long(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let body = registration(json!({ "name": "n".repeat(101) }));
    assert_validation(
        app.post_json("/api/auth/register", &body).await,
        json!(["body", "name"]),
        "value_error.any_str.max_length",
    )
    .await;
    let body = registration(json!({ "name": "é".repeat(100) }));
    assert_eq!(
        app.post_json("/api/auth/register", &body).await.status(),
        StatusCode::CREATED
    );
}

async fn register_wrong_types(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    for (field, value) in [
        ("name", json!(42)),
        ("email", json!(["a"])),
        ("password", json!(12345678)),
        ("photo", json!(true)),
    ] {
        let body = registration(json!({ field: value }));
        assert_validation(
            app.post_json("/api/auth/register", &body).await,
            json!(["body", field]),
            "type_error.str",
        )
        .await;
    }
    assert_eq!(user_count(&app).await, 0);
}

async fn register_duplicate_email_any_case(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    assert_eq!(
        app.register("Ann", "ann@example.com").await.status(),
        StatusCode::CREATED
    );
    let again = app.register("Other Ann", "  ANN@Example.COM ").await;
    assert_detail(again, StatusCode::CONFLICT, "Account already exist").await;
    // The conflict is reported before the password comparison.
    let mismatched =
        registration(json!({ "email": "Ann@example.com", "passwordConfirm": "different-1" }));
    let response = app.post_json("/api/auth/register", &mismatched).await;
    assert_detail(response, StatusCode::CONFLICT, "Account already exist").await;
    assert_eq!(user_count(&app).await, 1);
}

async fn register_password_mismatch(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let body = registration(json!({ "passwordConfirm": "something-else" }));
    assert_detail(
        app.post_json("/api/auth/register", &body).await,
        StatusCode::BAD_REQUEST,
        "Passwords do not match",
    )
    .await;
    assert_eq!(user_count(&app).await, 0);
    assert!(app.smtp.received().is_empty());
}

async fn register_ignores_role_and_verified(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let body = registration(json!({ "role": "admin", "verified": true, "photo": "me.png" }));
    assert_eq!(
        app.post_json("/api/auth/register", &body).await.status(),
        StatusCode::CREATED
    );
    assert_eq!(
        stored_column(&app, "role", "ann@example.com")
            .await
            .as_deref(),
        Some("user")
    );
    assert_eq!(
        stored_column(&app, "photo", "ann@example.com")
            .await
            .as_deref(),
        Some("me.png")
    );
    let login = app.login("ann@example.com", PASSWORD).await;
    assert_detail(
        login,
        StatusCode::UNAUTHORIZED,
        "Please verify your email address",
    )
    .await;
}

async fn register_concurrent_same_email(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let attempts = (0..6).map(|i| {
        let email = if i % 2 == 0 {
            "race@example.com"
        } else {
            "RACE@example.com"
        };
        app.register("Racer", email)
    });
    let statuses: Vec<StatusCode> = join_all(attempts)
        .await
        .iter()
        .map(|r| r.status())
        .collect();
    let created = statuses
        .iter()
        .filter(|s| **s == StatusCode::CREATED)
        .count();
    let conflicts = statuses
        .iter()
        .filter(|s| **s == StatusCode::CONFLICT)
        .count();
    assert_eq!(created, 1, "statuses {statuses:?}");
    assert_eq!(conflicts, 5, "statuses {statuses:?}");
    assert_eq!(user_count(&app).await, 1);
}

async fn verify_twice_is_rejected(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.register("Ann", "ann@example.com").await;
    let link = app.verification_link("ann@example.com").await;
    assert_eq!(
        app.client.get(&link).send().await.unwrap().status(),
        StatusCode::OK
    );
    let again = app.client.get(&link).send().await.unwrap();
    assert_detail(
        again,
        StatusCode::FORBIDDEN,
        "Email can only be verified once",
    )
    .await;
}

async fn verify_bad_tokens_are_rejected(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.register("Ann", "ann@example.com").await;
    for token in [
        "not-hex",
        "abc",
        "00",
        &"ab".repeat(32),
        &"f".repeat(300),
        "%00",
        "%FF%FE",
    ] {
        let response = app.get(&format!("/api/auth/verifyemail/{token}")).await;
        assert_eq!(response.status(), StatusCode::FORBIDDEN, "token {token:?}");
        let body = json_body(response).await;
        assert_eq!(
            body,
            json!({ "detail": "Email can only be verified once" }),
            "token {token:?}"
        );
    }
    let login = app.login("ann@example.com", PASSWORD).await;
    assert_eq!(
        login.status(),
        StatusCode::UNAUTHORIZED,
        "the account stays unverified"
    );
}

async fn verify_expired_link(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.register("Ann", "ann@example.com").await;
    let link = app.verification_link("ann@example.com").await;
    let past = chrono::Utc::now() - chrono::Duration::hours(1);
    postgate::on_pool!(&app.db, pool => {
        sqlx::query("UPDATE users SET verification_expires_at = $1").bind(past).execute(pool).await.unwrap();
    });
    let response = app.client.get(&link).send().await.unwrap();
    assert_detail(
        response,
        StatusCode::FORBIDDEN,
        "Verification link has expired",
    )
    .await;
}

async fn login_sets_cookies(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.signed_in_user("Ann", "ann@example.com").await;
    let response = app.login("ann@example.com", PASSWORD).await;
    assert_eq!(response.status(), StatusCode::OK);
    let cookies: Vec<String> = response
        .headers()
        .get_all(SET_COOKIE)
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .collect();
    let find = |name: &str| {
        cookies
            .iter()
            .find(|c| c.starts_with(&format!("{name}=")))
            .unwrap_or_else(|| panic!("no {name} cookie in {cookies:?}"))
            .clone()
    };
    let access = find("access_token");
    assert!(access.contains("HttpOnly"), "{access}");
    assert!(
        access.contains("Path=/;") || access.ends_with("Path=/"),
        "{access}"
    );
    assert!(access.contains("SameSite=Lax"), "{access}");
    assert!(access.contains("Max-Age=900"), "{access}");
    assert!(!access.contains("Secure"), "{access}");
    let refresh = find("refresh_token");
    assert!(refresh.contains("HttpOnly"), "{refresh}");
    assert!(refresh.contains("Path=/api/auth"), "{refresh}");
    assert!(refresh.contains("Max-Age=3600"), "{refresh}");
    let logged_in = find("logged_in");
    assert!(logged_in.starts_with("logged_in=True"), "{logged_in}");
    assert!(!logged_in.contains("HttpOnly"), "{logged_in}");
}

async fn login_unknown_and_wrong_match(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.signed_in_user("Ann", "ann@example.com").await;
    let unknown = app.login("nobody@example.com", PASSWORD).await;
    assert_detail(
        unknown,
        StatusCode::BAD_REQUEST,
        "Incorrect Email or Password",
    )
    .await;
    let wrong = app.login("ann@example.com", "wrong-password").await;
    assert_detail(
        wrong,
        StatusCode::BAD_REQUEST,
        "Incorrect Email or Password",
    )
    .await;
}

async fn login_unverified_wrong_password(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.register("Ann", "ann@example.com").await;
    // A wrong password must not reveal that the address is registered.
    let wrong = app.login("ann@example.com", "wrong-password").await;
    assert_detail(
        wrong,
        StatusCode::BAD_REQUEST,
        "Incorrect Email or Password",
    )
    .await;
    let right = app.login("ann@example.com", PASSWORD).await;
    assert_detail(
        right,
        StatusCode::UNAUTHORIZED,
        "Please verify your email address",
    )
    .await;
}

async fn login_invalid_fields(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let response = app
        .post_json(
            "/api/auth/login",
            &json!({ "email": "nope", "password": PASSWORD }),
        )
        .await;
    assert_validation(response, json!(["body", "email"]), "value_error.email").await;
    let response = app
        .post_json("/api/auth/login", &json!({ "email": "ann@example.com" }))
        .await;
    assert_validation(response, json!(["body", "password"]), "value_error.missing").await;
    let response = app
        .post_json(
            "/api/auth/login",
            &json!({ "email": 7, "password": PASSWORD }),
        )
        .await;
    assert_validation(response, json!(["body", "email"]), "type_error.str").await;
}

async fn login_upgrades_bcrypt_hash(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.signed_in_user("Ann", "ann@example.com").await;
    let legacy = bcrypt::hash("legacy-password", 4).unwrap();
    postgate::on_pool!(&app.db, pool => {
        sqlx::query("UPDATE users SET password = $1").bind(&legacy).execute(pool).await.unwrap();
    });
    assert_eq!(
        app.login("ann@example.com", "legacy-password")
            .await
            .status(),
        StatusCode::OK
    );
    let stored = stored_column(&app, "password", "ann@example.com")
        .await
        .unwrap();
    assert!(stored.starts_with("$argon2id$"), "stored hash {stored}");
    assert_eq!(
        app.login("ann@example.com", "legacy-password")
            .await
            .status(),
        StatusCode::OK
    );
}

async fn login_concurrent_burst(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.signed_in_user("Ann", "ann@example.com").await;
    let attempts: Vec<_> = (0..8)
        .map(|_| app.login("ann@example.com", PASSWORD))
        .collect();
    for response in join_all(attempts).await {
        assert_eq!(response.status(), StatusCode::OK);
    }
    // Health stays responsive after the burst.
    let health = tokio::time::timeout(Duration::from_secs(5), app.get("/api/healthchecker")).await;
    assert_eq!(health.expect("health answers").status(), StatusCode::OK);
}

async fn register_name_with_line_break(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    for name in ["Ann\r\nBcc: victim@example.com", "Ann\nSmith", "Ann\u{7}"] {
        let body = registration(json!({ "name": name }));
        let response = app.post_json("/api/auth/register", &body).await;
        assert_validation(response, json!(["body", "name"]), "value_error.str.regex").await;
    }
    for photo in ["cover.png\n<script>", "a\u{0}b", "tab\tbed.png"] {
        let body = registration(json!({ "photo": photo }));
        let response = app.post_json("/api/auth/register", &body).await;
        assert_validation(response, json!(["body", "photo"]), "value_error.str.regex").await;
    }
    assert_eq!(user_count(&app).await, 0);
    assert!(app.smtp.received().is_empty());
}

async fn register_non_ascii_json_escapes(backend: Backend) {
    // Python's json.dumps escapes every non-ASCII character. A name of 100
    // emoji sent that way counts 100 characters, not 1,200 bytes.
    let app = TestApp::spawn(backend).await;
    let name = "\\ud83d\\ude00".repeat(100);
    let raw = format!(
        r#"{{"name": "{name}", "email": "ann@example.com", "password": "{PASSWORD}", "passwordConfirm": "{PASSWORD}"}}"#
    );
    let response = app
        .client
        .post(app.url("/api/auth/register"))
        .header("content-type", "application/json")
        .body(raw)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
    let email = app.smtp.wait_for("ann@example.com").await;
    assert!(email.html.contains('😀'), "the name arrives decoded");
}

on_both_backends!(
    register_lookalike_emails,
    register_name_with_line_break,
    register_non_ascii_json_escapes,
    register_missing_fields,
    register_reports_every_bad_field,
    register_invalid_email,
    register_password_length,
    register_name_too_long,
    register_wrong_types,
    register_duplicate_email_any_case,
    register_password_mismatch,
    register_ignores_role_and_verified,
    register_concurrent_same_email,
    verify_twice_is_rejected,
    verify_bad_tokens_are_rejected,
    verify_expired_link,
    login_sets_cookies,
    login_unknown_and_wrong_match,
    login_unverified_wrong_password,
    login_invalid_fields,
    login_upgrades_bcrypt_hash,
    login_concurrent_burst,
);
