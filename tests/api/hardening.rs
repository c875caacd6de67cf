//! Request and response details that protect clients: accepted body
//! encodings, CORS only when configured, caching, cookie paths behind a
//! path prefix, logout by cross-site navigation, and clients that never
//! finish their request head.

use reqwest::StatusCode;
use reqwest::header::{CONTENT_ENCODING, CONTENT_TYPE, ORIGIN, SET_COOKIE};
use serde_json::json;

use crate::helpers::{Backend, Options, PASSWORD, TestApp, assert_detail};
use crate::on_both_backends;

async fn spawn_with_args(backend: Backend, args: &[&str]) -> TestApp {
    let options = Options {
        args: args.iter().map(|arg| (*arg).to_owned()).collect(),
        ..Options::default()
    };
    TestApp::spawn_with(backend, options).await
}

async fn login_body(
    app: &TestApp,
    content_type: &str,
    encoding: Option<&str>,
) -> reqwest::Response {
    let mut request = app
        .client
        .post(app.url("/api/auth/login"))
        .header(CONTENT_TYPE, content_type)
        .body(json!({ "email": "ann@example.com", "password": PASSWORD }).to_string());
    if let Some(encoding) = encoding {
        request = request.header(CONTENT_ENCODING, encoding);
    }
    request.send().await.unwrap()
}

async fn non_utf8_charset_rejected(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.signed_in_user("Ann", "ann@example.com").await;
    for content_type in [
        "application/json; charset=latin1",
        "application/json;charset=\"ISO-8859-1\"",
    ] {
        let response = login_body(&app, content_type, None).await;
        assert_eq!(
            response.status(),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "{content_type}"
        );
    }
    for content_type in [
        "application/json; charset=utf-8",
        "application/json; charset=\"UTF-8\"",
    ] {
        let response = login_body(&app, content_type, None).await;
        assert_eq!(response.status(), StatusCode::OK, "{content_type}");
    }
}

async fn compressed_body_rejected(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.signed_in_user("Ann", "ann@example.com").await;
    let gzip = login_body(&app, "application/json", Some("gzip")).await;
    assert_detail(
        gzip,
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "Content-Encoding is not supported; send the body uncompressed",
    )
    .await;
    let identity = login_body(&app, "application/json", Some("identity")).await;
    assert_eq!(identity.status(), StatusCode::OK);
}

async fn no_cors_without_origins(backend: Backend) {
    let app = spawn_with_args(backend, &["--client-origin", ""]).await;
    let response = app.get("/api/healthchecker").await;
    assert_eq!(response.status(), StatusCode::OK);
    assert!(
        !response
            .headers()
            .contains_key("access-control-allow-credentials")
    );
    let preflight = app
        .client
        .request(reqwest::Method::OPTIONS, app.url("/api/posts"))
        .header(ORIGIN, "http://localhost:3000")
        .header("access-control-request-method", "POST")
        .send()
        .await
        .unwrap();
    for name in [
        "access-control-allow-origin",
        "access-control-allow-credentials",
        "access-control-allow-methods",
    ] {
        assert!(
            !preflight.headers().contains_key(name),
            "{name} sent without CLIENT_ORIGIN"
        );
    }
}

async fn posts_are_not_cached(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let token = app.signed_in_user("Ann", "ann@example.com").await;
    let response = app.get_with_token("/api/posts", &token).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["cache-control"], "no-store");
}

async fn cookie_paths_follow_public_url(backend: Backend) {
    let app = spawn_with_args(backend, &["--public-url", "http://127.0.0.1:9/gw/"]).await;
    app.signed_in_user("Ann", "ann@example.com").await;
    let login = app.login("ann@example.com", PASSWORD).await;
    let cookies: Vec<String> = login
        .headers()
        .get_all(SET_COOKIE)
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .collect();
    let find = |name: &str| {
        cookies
            .iter()
            .find(|c| c.starts_with(&format!("{name}=")))
            .unwrap()
            .clone()
    };
    assert!(find("access_token").contains("Path=/gw;"), "{cookies:?}");
    assert!(find("logged_in").contains("Path=/gw;"), "{cookies:?}");
    assert!(
        find("refresh_token").contains("Path=/gw/api/auth;"),
        "{cookies:?}"
    );
}

async fn cross_site_logout_navigation_rejected(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.signed_in_user("Ann", "ann@example.com").await;
    let response = app
        .client
        .get(app.url("/api/auth/logout"))
        .header("sec-fetch-site", "cross-site")
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["x-content-type-options"], "nosniff");
    assert_eq!(response.headers()["referrer-policy"], "no-referrer");
    assert_detail(
        response,
        StatusCode::FORBIDDEN,
        "Cross-site request rejected: Origin is not allowed",
    )
    .await;
    assert_eq!(
        app.get("/api/users/me").await.status(),
        StatusCode::OK,
        "still logged in"
    );
    // A sibling subdomain is the same site but another origin.
    let sibling = app
        .client
        .get(app.url("/api/auth/logout"))
        .header("sec-fetch-site", "same-site")
        .header("origin", "https://evil.example.com")
        .send()
        .await
        .unwrap();
    assert_eq!(
        sibling.status(),
        StatusCode::FORBIDDEN,
        "logout from a sibling subdomain"
    );
    assert_eq!(
        app.get("/api/users/me").await.status(),
        StatusCode::OK,
        "still logged in"
    );
    let same_site = app
        .client
        .get(app.url("/api/auth/logout"))
        .header("sec-fetch-site", "same-origin")
        .send()
        .await
        .unwrap();
    assert_eq!(same_site.status(), StatusCode::OK);
}

/// Checks that a front end on another site that CLIENT_ORIGIN allows may log
/// out, with its cookies or with a bearer token.
async fn allowed_cross_site_logout_passes(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let token = app.signed_in_user("Ann", "ann@example.com").await;
    let with_bearer = app
        .bare_client()
        .post(app.url("/api/auth/logout"))
        .bearer_auth(&token)
        .header("sec-fetch-site", "cross-site")
        .send()
        .await
        .unwrap();
    assert_eq!(
        with_bearer.status(),
        StatusCode::OK,
        "bearer logout from another site"
    );

    app.login("ann@example.com", PASSWORD).await;
    let with_cookies = app
        .client
        .get(app.url("/api/auth/logout"))
        .header("sec-fetch-site", "cross-site")
        .header("origin", "http://localhost:3000")
        .send()
        .await
        .unwrap();
    assert_eq!(
        with_cookies.status(),
        StatusCode::OK,
        "cookie logout from an allowed origin"
    );
    assert_eq!(
        with_cookies.headers()["access-control-allow-origin"],
        "http://localhost:3000"
    );
    assert_eq!(
        app.get("/api/users/me").await.status(),
        StatusCode::UNAUTHORIZED
    );
}

/// Checks that a client that never finishes its request head loses the
/// connection after HEADER_READ_TIMEOUT, so such clients cannot pile up, and
/// that others are still served.
async fn unfinished_request_head_closed(backend: Backend) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let app = spawn_with_args(backend, &["--header-read-timeout", "1"]).await;
    let address = app.address.trim_start_matches("http://");
    let mut stream = tokio::net::TcpStream::connect(address).await.unwrap();
    stream
        .write_all(format!("GET /healthz HTTP/1.1\r\nHost: {address}\r\nX-Slow: ").as_bytes())
        .await
        .unwrap();

    // A connection that sends nothing at all, and one that opens with the
    // HTTP/2 preface, which is not served, are closed the same way.
    let mut silent = tokio::net::TcpStream::connect(address).await.unwrap();
    let mut http2 = tokio::net::TcpStream::connect(address).await.unwrap();
    http2
        .write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n")
        .await
        .unwrap();

    for (name, connection) in [
        ("partial head", &mut stream),
        ("silent", &mut silent),
        ("HTTP/2", &mut http2),
    ] {
        let mut rest = Vec::new();
        let closed = tokio::time::timeout(
            std::time::Duration::from_secs(10),
            connection.read_to_end(&mut rest),
        )
        .await;
        assert!(
            closed.is_ok(),
            "the {name} connection is closed after the header timeout"
        );
    }
    assert_eq!(
        app.get("/healthz").await.status(),
        StatusCode::OK,
        "others are served"
    );
}

/// Checks that a client that requests a large response and never reads it
/// loses the connection once the server's writes have stalled for
/// REQUEST_TIMEOUT, so it cannot keep the buffered response in memory.
async fn stalled_reader_disconnected(backend: Backend) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let app = spawn_with_args(backend, &["--request-timeout", "2"]).await;
    let token = app.signed_in_user("Ann", "ann@example.com").await;
    let content = "x".repeat(100_000);
    for index in 0..90 {
        let body = json!({ "title": format!("Post {index}"), "content": content, "category": "c", "image": "i" });
        let response = app.post_json_with_token("/api/posts", &token, &body).await;
        assert_eq!(response.status(), StatusCode::CREATED);
    }
    let full = app
        .get_with_token("/api/posts?limit=100", &token)
        .await
        .bytes()
        .await
        .unwrap()
        .len();

    let address = app.address.trim_start_matches("http://").parse().unwrap();
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    let mut stream = socket.connect(address).await.unwrap();
    let request = format!(
        "GET /api/posts?limit=100 HTTP/1.1\r\nHost: {address}\r\nAuthorization: Bearer {token}\r\n\r\n"
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    // Long enough for the server's writes to stall and time out.
    tokio::time::sleep(std::time::Duration::from_secs(5)).await;

    let mut received = Vec::new();
    let outcome = tokio::time::timeout(
        std::time::Duration::from_secs(30),
        stream.read_to_end(&mut received),
    )
    .await;
    assert!(outcome.is_ok(), "the connection ends");
    assert!(
        received.len() < full,
        "the server gave up before sending all {full} bytes, got {}",
        received.len()
    );
}

on_both_backends!(
    unfinished_request_head_closed,
    stalled_reader_disconnected,
    non_utf8_charset_rejected,
    compressed_body_rejected,
    no_cors_without_origins,
    posts_are_not_cached,
    cookie_paths_follow_public_url,
    cross_site_logout_navigation_rejected,
    allowed_cross_site_logout_passes,
);
