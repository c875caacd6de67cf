//! Rules that hold across routes: trailing slashes, HEAD, 404 and 405
//! bodies, request ids, CORS, health checks and how request bodies are read.

use reqwest::header::{CONTENT_TYPE, HeaderValue};
use reqwest::{Method, RequestBuilder, Response, StatusCode};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::helpers::{Backend, TestApp, assert_validation, json_body};
use crate::on_both_backends;

/// The origin that the harness passes as `--client-origin`.
const ALLOWED_ORIGIN: &str = "http://localhost:3000";

/// Maximum request body size of the server in bytes (2 MiB).
const MAX_BODY_BYTES: usize = 2 * 1024 * 1024;

fn header(response: &Response, name: &str) -> Option<String> {
    response
        .headers()
        .get(name)
        .map(|value| value.to_str().expect("header is ASCII").to_owned())
}

/// Splits a comma-separated header such as `Allow` into sorted, upper-cased items.
fn header_items(response: &Response, name: &str) -> Vec<String> {
    let mut items: Vec<String> = header(response, name)
        .unwrap_or_default()
        .split(',')
        .map(|item| item.trim().to_ascii_uppercase())
        .filter(|item| !item.is_empty())
        .collect();
    items.sort();
    items
}

fn sorted(items: &[&str]) -> Vec<String> {
    let mut items: Vec<String> = items.iter().map(|item| item.to_string()).collect();
    items.sort();
    items
}

fn request(app: &TestApp, method: Method, path: &str) -> RequestBuilder {
    app.bare_client().request(method, app.url(path))
}

async fn send(builder: RequestBuilder) -> Response {
    builder.send().await.expect("request sent")
}

/// Signs in a user, creates one post and returns the token and the post's path.
async fn user_with_post(app: &TestApp) -> (String, String) {
    let token = app.signed_in_user("Ann", "ann@example.com").await;
    let body = json!({"title": "A post", "content": "Text", "category": "news", "image": "a.png"});
    let response = send(
        request(app, Method::POST, "/api/posts")
            .bearer_auth(&token)
            .json(&body),
    )
    .await;
    assert_eq!(response.status(), StatusCode::CREATED, "create a post");
    let post = json_body(response).await;
    let path = format!("/api/posts/{}", post["id"].as_str().expect("post id"));
    (token, path)
}

async fn total_posts(app: &TestApp, token: &str) -> Value {
    let response = send(request(app, Method::GET, "/api/posts").bearer_auth(token)).await;
    json_body(response).await["total"].clone()
}

/// Posts `body` to `/api/posts` as raw bytes with the given `Content-Type`, or none.
async fn post_raw(
    app: &TestApp,
    token: &str,
    content_type: Option<&str>,
    body: Vec<u8>,
) -> Response {
    let mut builder = request(app, Method::POST, "/api/posts")
        .bearer_auth(token)
        .body(body);
    if let Some(content_type) = content_type {
        builder = builder.header(CONTENT_TYPE, content_type);
    }
    send(builder).await
}

/// Returns a JSON post body of exactly `size` bytes, padded in `content`.
fn post_body_of_size(size: usize) -> Vec<u8> {
    let frame = r#"{"title":"t","category":"c","image":"i","content":""}"#;
    let padding = "x".repeat(size - frame.len());
    let body = frame.replace(r#""content":"""#, &format!(r#""content":"{padding}""#));
    assert_eq!(body.len(), size, "padded body size");
    body.into_bytes()
}

async fn trailing_slash_answers_directly(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (token, post_path) = user_with_post(&app).await;
    let paths = [
        "/api/healthchecker",
        "/healthz",
        "/readyz",
        "/api/posts",
        "/api/users/me",
        post_path.as_str(),
    ];

    for path in paths {
        for variant in [path.to_owned(), format!("{path}/")] {
            let response = send(request(&app, Method::GET, &variant).bearer_auth(&token)).await;

            assert_eq!(response.status(), StatusCode::OK, "GET {variant}");
            assert_eq!(
                header(&response, "location"),
                None,
                "GET {variant} redirects"
            );
        }
    }

    let listed = send(request(&app, Method::GET, "/api/posts/?limit=1").bearer_auth(&token)).await;
    assert_eq!(
        listed.status(),
        StatusCode::OK,
        "query after a trailing slash"
    );
    assert_eq!(json_body(listed).await["results"], 1, "limit=1 applies");

    let body = json!({"title": "Slash", "content": "Text", "category": "news", "image": "a.png"});
    let created = send(
        request(&app, Method::POST, "/api/posts/")
            .bearer_auth(&token)
            .json(&body),
    )
    .await;
    assert_eq!(created.status(), StatusCode::CREATED, "POST /api/posts/");

    let updated = send(
        request(&app, Method::PATCH, &format!("{post_path}/"))
            .bearer_auth(&token)
            .json(&json!({"title": "Renamed"})),
    )
    .await;
    assert_eq!(updated.status(), StatusCode::OK, "PATCH {post_path}/");

    let deleted =
        send(request(&app, Method::DELETE, &format!("{post_path}/")).bearer_auth(&token)).await;
    assert_eq!(
        deleted.status(),
        StatusCode::NO_CONTENT,
        "DELETE {post_path}/"
    );
}

async fn head_answers_where_get_does(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (token, post_path) = user_with_post(&app).await;
    let paths = [
        "/api/healthchecker",
        "/healthz",
        "/readyz",
        "/api/posts",
        "/api/posts/",
        "/api/users/me",
        post_path.as_str(),
    ];

    for path in paths {
        let get = send(request(&app, Method::GET, path).bearer_auth(&token)).await;
        let head = send(request(&app, Method::HEAD, path).bearer_auth(&token)).await;

        assert_eq!(head.status(), StatusCode::OK, "HEAD {path}");
        assert_eq!(
            header(&head, "content-type"),
            header(&get, "content-type"),
            "Content-Type of HEAD {path}"
        );
        assert_eq!(
            head.text().await.expect("body"),
            "",
            "HEAD {path} has no body"
        );
    }

    let unknown = send(request(&app, Method::HEAD, "/api/nothing")).await;
    assert_eq!(
        unknown.status(),
        StatusCode::NOT_FOUND,
        "HEAD of an unknown route"
    );
    let anonymous = send(request(&app, Method::HEAD, "/api/users/me")).await;
    assert_eq!(
        anonymous.status(),
        StatusCode::UNAUTHORIZED,
        "HEAD without a token"
    );
}

async fn unknown_route_not_found(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (token, post_path) = user_with_post(&app).await;
    let comments = format!("{post_path}/comments");
    let cases = [
        (Method::GET, "/api/nothing"),
        (Method::GET, "/nothing"),
        (Method::GET, "/"),
        (Method::GET, "/api"),
        (Method::GET, comments.as_str()),
        (Method::POST, "/api/nothing"),
        (Method::DELETE, "/api/users"),
    ];

    for (method, path) in cases {
        let case = format!("{method} {path}");
        let response = send(request(&app, method, path).bearer_auth(&token)).await;

        assert_eq!(
            response.status(),
            StatusCode::NOT_FOUND,
            "status for {case}"
        );
        assert_eq!(
            header(&response, "content-type").as_deref(),
            Some("application/json"),
            "Content-Type for {case}"
        );
        assert_eq!(
            json_body(response).await,
            json!({"detail": "Not Found"}),
            "body for {case}"
        );
    }
}

async fn wrong_method_not_allowed(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (token, post_path) = user_with_post(&app).await;
    let post_path_slash = format!("{post_path}/");
    let cases: [(Method, &str, &[&str]); 7] = [
        (Method::DELETE, "/api/healthchecker", &["GET", "HEAD"]),
        (Method::POST, "/healthz", &["GET", "HEAD"]),
        (Method::POST, "/api/users/me", &["GET", "HEAD"]),
        (Method::PUT, "/api/posts", &["GET", "HEAD", "POST"]),
        (Method::DELETE, "/api/posts/", &["GET", "HEAD", "POST"]),
        (
            Method::POST,
            post_path.as_str(),
            &["GET", "HEAD", "PUT", "PATCH", "DELETE"],
        ),
        (
            Method::POST,
            post_path_slash.as_str(),
            &["GET", "HEAD", "PUT", "PATCH", "DELETE"],
        ),
    ];

    for (method, path, allowed) in cases {
        let case = format!("{method} {path}");
        let response = send(request(&app, method, path).bearer_auth(&token)).await;

        assert_eq!(
            response.status(),
            StatusCode::METHOD_NOT_ALLOWED,
            "status for {case}"
        );
        assert_eq!(
            header_items(&response, "allow"),
            sorted(allowed),
            "Allow header for {case}"
        );
        assert_eq!(
            json_body(response).await,
            json!({"detail": "Method Not Allowed"}),
            "body for {case}"
        );
    }
}

async fn request_id_echoed_when_valid(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let longest = "x".repeat(128);
    let uuid = Uuid::new_v4().to_string();
    let ids = [
        "a",
        "abc-123",
        "A.b_C-9",
        "...",
        longest.as_str(),
        uuid.as_str(),
    ];

    for id in ids {
        let response =
            send(request(&app, Method::GET, "/api/healthchecker").header("x-request-id", id)).await;

        assert_eq!(
            header(&response, "x-request-id").as_deref(),
            Some(id),
            "x-request-id {id:?} echoed"
        );
    }
}

async fn request_id_replaced_when_invalid(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let too_long = "x".repeat(129);
    let ids: [&[u8]; 8] = [
        b"",
        too_long.as_bytes(),
        b"has space",
        b"semi;colon",
        b"slash/",
        b"colon:",
        b"tab\tinside",
        "caf\u{e9}".as_bytes(),
    ];

    for id in ids {
        let case = String::from_utf8_lossy(id);
        let value = HeaderValue::from_bytes(id).expect("valid header bytes");
        let response =
            send(request(&app, Method::GET, "/api/healthchecker").header("x-request-id", value))
                .await;

        let returned = header(&response, "x-request-id")
            .unwrap_or_else(|| panic!("no x-request-id for {case:?}"));
        assert!(
            Uuid::parse_str(&returned).is_ok(),
            "{returned:?} returned for {case:?} is a UUID"
        );
        assert_ne!(returned.as_bytes(), id, "{case:?} is not echoed");
    }
}

async fn request_id_generated_when_absent(backend: Backend) {
    let app = TestApp::spawn(backend).await;

    let first = send(request(&app, Method::GET, "/api/healthchecker")).await;
    let second = send(request(&app, Method::GET, "/api/healthchecker")).await;

    let first = header(&first, "x-request-id").expect("first response has x-request-id");
    let second = header(&second, "x-request-id").expect("second response has x-request-id");
    assert!(Uuid::parse_str(&first).is_ok(), "{first:?} is a UUID");
    assert!(Uuid::parse_str(&second).is_ok(), "{second:?} is a UUID");
    assert_ne!(first, second, "each request gets its own id");
}

async fn request_id_on_error_responses(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let token = app.signed_in_user("Ann", "ann@example.com").await;
    let cases = [
        ("404", request(&app, Method::GET, "/api/nothing")),
        ("405", request(&app, Method::DELETE, "/api/healthchecker")),
        ("401", request(&app, Method::GET, "/api/users/me")),
        (
            "422",
            request(&app, Method::GET, "/api/posts/not-a-uuid").bearer_auth(&token),
        ),
        (
            "415",
            request(&app, Method::POST, "/api/posts")
                .bearer_auth(&token)
                .header(CONTENT_TYPE, "text/plain")
                .body("{}"),
        ),
        (
            "CORS preflight",
            request(&app, Method::OPTIONS, "/api/posts")
                .header("origin", ALLOWED_ORIGIN)
                .header("access-control-request-method", "POST"),
        ),
    ];

    for (case, builder) in cases {
        let response = send(builder.header("x-request-id", "trace-7")).await;

        assert_eq!(
            header(&response, "x-request-id").as_deref(),
            Some("trace-7"),
            "x-request-id on the {case} response ({})",
            response.status()
        );
    }
}

async fn cors_allows_configured_origin(backend: Backend) {
    let app = TestApp::spawn(backend).await;

    for (path, status) in [
        ("/api/healthchecker", StatusCode::OK),
        ("/api/users/me", StatusCode::UNAUTHORIZED),
    ] {
        let response =
            send(request(&app, Method::GET, path).header("origin", ALLOWED_ORIGIN)).await;

        assert_eq!(response.status(), status, "GET {path}");
        assert_eq!(
            header(&response, "access-control-allow-origin").as_deref(),
            Some(ALLOWED_ORIGIN),
            "allow-origin on GET {path}"
        );
        assert_eq!(
            header(&response, "access-control-allow-credentials").as_deref(),
            Some("true"),
            "allow-credentials on GET {path}"
        );
    }
}

async fn cors_preflight_allows_origin(backend: Backend) {
    let app = TestApp::spawn(backend).await;

    let response = send(
        request(
            &app,
            Method::OPTIONS,
            "/api/posts/00000000-0000-0000-0000-000000000000",
        )
        .header("origin", ALLOWED_ORIGIN)
        .header("access-control-request-method", "PATCH")
        .header(
            "access-control-request-headers",
            "authorization, content-type, x-request-id",
        ),
    )
    .await;

    assert!(
        response.status().is_success(),
        "preflight status {}",
        response.status()
    );
    assert_eq!(
        header(&response, "access-control-allow-origin").as_deref(),
        Some(ALLOWED_ORIGIN)
    );
    assert_eq!(
        header(&response, "access-control-allow-credentials").as_deref(),
        Some("true")
    );
    assert_eq!(
        header(&response, "access-control-max-age").as_deref(),
        Some("600")
    );
    let methods = header_items(&response, "access-control-allow-methods");
    for method in ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"] {
        assert!(
            methods.iter().any(|allowed| allowed == method),
            "{method} in allow-methods {methods:?}"
        );
    }
    let headers = header_items(&response, "access-control-allow-headers");
    for name in ["AUTHORIZATION", "CONTENT-TYPE", "X-REQUEST-ID"] {
        assert!(
            headers.iter().any(|allowed| allowed == name),
            "{name} in allow-headers {headers:?}"
        );
    }
}

async fn cors_ignores_other_origins(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let origins = [
        "http://evil.test",
        "http://localhost:3001",
        "https://localhost:3000",
        "null",
    ];

    for origin in origins {
        let simple =
            send(request(&app, Method::GET, "/api/healthchecker").header("origin", origin)).await;
        assert_eq!(simple.status(), StatusCode::OK, "GET from {origin}");
        assert_eq!(
            header(&simple, "access-control-allow-origin"),
            None,
            "allow-origin on GET from {origin}"
        );

        let preflight = send(
            request(&app, Method::OPTIONS, "/api/posts")
                .header("origin", origin)
                .header("access-control-request-method", "POST"),
        )
        .await;
        assert_eq!(
            header(&preflight, "access-control-allow-origin"),
            None,
            "allow-origin on preflight from {origin}"
        );
    }
}

async fn healthchecker_returns_hello_world(backend: Backend) {
    let app = TestApp::spawn(backend).await;

    let response = send(request(&app, Method::GET, "/api/healthchecker")).await;

    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        header(&response, "content-type").as_deref(),
        Some("application/json")
    );
    assert_eq!(json_body(response).await, json!({"message": "Hello World"}));
}

async fn health_probes_return_ok(backend: Backend) {
    let app = TestApp::spawn(backend).await;

    let live = send(request(&app, Method::GET, "/healthz")).await;
    let ready = send(request(&app, Method::GET, "/readyz")).await;

    assert_eq!(live.status(), StatusCode::OK, "/healthz");
    assert_eq!(ready.status(), StatusCode::OK, "/readyz");
}

async fn malformed_json_rejected(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let token = app.signed_in_user("Ann", "ann@example.com").await;
    // Offsets are the ones Python's json module reports for the same text,
    // which is what clients of the reference app see.
    let cases = [
        (r#"{"title": }"#, 10),
        (r#"{"title": "x",}"#, 14),
        ("{\n  \"title\": }", 13),
        (r#"{"title": "x""#, 13),
        ("{", 1),
    ];

    for (body, offset) in cases {
        let response = post_raw(&app, &token, Some("application/json"), body.into()).await;

        assert_eq!(
            response.status(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "status for {body:?}"
        );
        let detail = json_body(response).await["detail"].clone();
        assert_eq!(
            detail.as_array().map(Vec::len),
            Some(1),
            "one error for {body:?}: {detail}"
        );
        assert_eq!(
            detail[0]["loc"],
            json!(["body", offset]),
            "loc for {body:?}"
        );
        assert_eq!(
            detail[0]["type"], "value_error.jsondecode",
            "type for {body:?}"
        );
    }
    assert_eq!(total_posts(&app, &token).await, 0, "no post was created");
}

/// serde_json stops a few bytes into an invalid literal where Python's json
/// module points at its start, so only the range of the offset is checked.
async fn invalid_literal_offset_in_body(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let token = app.signed_in_user("Ann", "ann@example.com").await;

    for body in ["not json", r#"{"title": tru}"#] {
        let response = post_raw(&app, &token, None, body.into()).await;

        assert_eq!(
            response.status(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "status for {body:?}"
        );
        let detail = json_body(response).await["detail"].clone();
        assert_eq!(
            detail[0]["type"], "value_error.jsondecode",
            "type for {body:?}"
        );
        assert_eq!(detail[0]["loc"][0], "body", "loc for {body:?}");
        let offset = detail[0]["loc"][1].as_u64();
        assert!(
            offset.is_some_and(|offset| offset < body.len() as u64),
            "offset {offset:?} lies inside {body:?}"
        );
    }
}

async fn non_object_body_rejected(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let token = app.signed_in_user("Ann", "ann@example.com").await;

    for body in ["[]", "[1, 2]", r#""text""#, "42", "true"] {
        let response = post_raw(&app, &token, Some("application/json"), body.into()).await;

        assert_eq!(
            response.status(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "status for {body}"
        );
        let detail = json_body(response).await["detail"].clone();
        assert_eq!(detail[0]["loc"], json!(["body"]), "loc for {body}");
        assert_eq!(detail[0]["type"], "type_error.dict", "type for {body}");
    }
    assert_eq!(total_posts(&app, &token).await, 0, "no post was created");
}

async fn non_json_content_type_rejected(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let token = app.signed_in_user("Ann", "ann@example.com").await;
    let body = json!({"title": "T", "content": "C", "category": "K", "image": "I"}).to_string();
    let content_types = [
        "text/plain",
        "text/html",
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=x",
    ];

    for content_type in content_types {
        let response = post_raw(&app, &token, Some(content_type), body.clone().into()).await;

        assert_eq!(
            response.status(),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "status for {content_type}"
        );
        let detail = json_body(response).await["detail"].clone();
        assert!(
            detail.as_str().is_some_and(|text| !text.is_empty()),
            "detail message for {content_type}: {detail}"
        );
    }
    assert_eq!(total_posts(&app, &token).await, 0, "no post was created");
}

async fn json_content_type_variants_accepted(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let token = app.signed_in_user("Ann", "ann@example.com").await;
    let body = json!({"title": "T", "content": "C", "category": "K", "image": "I"}).to_string();

    for content_type in ["application/json; charset=utf-8", "Application/JSON"] {
        let response = post_raw(&app, &token, Some(content_type), body.clone().into()).await;

        assert_eq!(
            response.status(),
            StatusCode::CREATED,
            "status for {content_type}"
        );
    }
}

async fn oversized_body_rejected(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let token = app.signed_in_user("Ann", "ann@example.com").await;

    let response = post_raw(
        &app,
        &token,
        Some("application/json"),
        post_body_of_size(MAX_BODY_BYTES + 1),
    )
    .await;

    assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
    let detail = json_body(response).await["detail"].clone();
    assert!(
        detail.as_str().is_some_and(|text| !text.is_empty()),
        "detail message: {detail}"
    );
    assert_eq!(total_posts(&app, &token).await, 0, "no post was created");
}

/// Checks that a client that announces a body over the limit gets 413 at
/// once, without the server waiting for the body.
async fn declared_oversized_body_rejected(backend: Backend) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let app = TestApp::spawn(backend).await;
    let address = app.address.trim_start_matches("http://");
    let mut stream = tokio::net::TcpStream::connect(address).await.unwrap();
    let head = format!(
        "POST /api/auth/login HTTP/1.1\r\nHost: {address}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{{}}",
        MAX_BODY_BYTES * 2
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    let mut response = vec![0; 4096];
    let read = tokio::time::timeout(
        std::time::Duration::from_secs(5),
        stream.read(&mut response),
    )
    .await
    .expect("the answer comes before the body")
    .unwrap();
    let response = String::from_utf8_lossy(&response[..read]);
    assert!(response.starts_with("HTTP/1.1 413"), "{response}");
    assert!(response.contains("Request body is too large"), "{response}");
}

/// Checks that a body of exactly the maximum size is read, so that the
/// content's own length limit rejects it.
async fn body_at_size_limit_read(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let token = app.signed_in_user("Ann", "ann@example.com").await;

    let response = post_raw(
        &app,
        &token,
        Some("application/json"),
        post_body_of_size(MAX_BODY_BYTES),
    )
    .await;

    assert_validation(
        response,
        json!(["body", "content"]),
        "value_error.any_str.max_length",
    )
    .await;
}

async fn empty_body_rejected(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let token = app.signed_in_user("Ann", "ann@example.com").await;
    let cases = [
        ("", Some("application/json")),
        ("", None),
        (" \r\n\t", Some("application/json")),
    ];

    for (body, content_type) in cases {
        let case = format!("body {body:?} with Content-Type {content_type:?}");
        let response = post_raw(&app, &token, content_type, body.into()).await;

        assert_eq!(
            response.status(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "status for {case}"
        );
        let detail = json_body(response).await["detail"].clone();
        assert_eq!(detail[0]["loc"], json!(["body"]), "loc for {case}");
        assert_eq!(detail[0]["type"], "value_error.missing", "type for {case}");
    }
}

async fn missing_content_type_read_as_json(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let token = app.signed_in_user("Ann", "ann@example.com").await;
    let body = json!({"title": "No type", "content": "C", "category": "K", "image": "I"});

    let created = post_raw(&app, &token, None, body.to_string().into()).await;

    assert_eq!(created.status(), StatusCode::CREATED);
    let post = json_body(created).await;
    assert_eq!(post["title"], "No type");

    let path = format!("/api/posts/{}", post["id"].as_str().expect("post id"));
    let updated = send(
        request(&app, Method::PUT, &path)
            .bearer_auth(&token)
            .body(json!({"title": "Still no type"}).to_string()),
    )
    .await;
    assert_eq!(updated.status(), StatusCode::OK, "PUT without Content-Type");
    assert_eq!(json_body(updated).await["title"], "Still no type");
}

on_both_backends!(
    declared_oversized_body_rejected,
    trailing_slash_answers_directly,
    head_answers_where_get_does,
    unknown_route_not_found,
    wrong_method_not_allowed,
    request_id_echoed_when_valid,
    request_id_replaced_when_invalid,
    request_id_generated_when_absent,
    request_id_on_error_responses,
    cors_allows_configured_origin,
    cors_preflight_allows_origin,
    cors_ignores_other_origins,
    healthchecker_returns_hello_world,
    health_probes_return_ok,
    malformed_json_rejected,
    invalid_literal_offset_in_body,
    non_object_body_rejected,
    non_json_content_type_rejected,
    json_content_type_variants_accepted,
    oversized_body_rejected,
    body_at_size_limit_read,
    empty_body_rejected,
    missing_content_type_read_as_json,
);
