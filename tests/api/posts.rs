//! The `/api/posts` routes: create, list with paging and search, read,
//! partial update and delete, with their validation and ownership rules.

use chrono::{DateTime, FixedOffset};
use reqwest::{Method, Response, StatusCode};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::helpers::{Backend, TestApp, assert_detail, json_body};
use crate::on_both_backends;

const NOT_AUTHOR: &str = "You are not allowed to perform this action";

/// Each post field with its maximum length in characters.
const FIELD_LIMITS: [(&str, usize); 4] = [
    ("title", 255),
    ("content", 100_000),
    ("category", 100),
    ("image", 2048),
];

/// Values of every JSON type except string and null.
fn non_string_values() -> [Value; 5] {
    [
        json!(42),
        json!(4.5),
        json!(true),
        json!(["a"]),
        json!({"a": "b"}),
    ]
}

fn post_body(title: &str) -> Value {
    json!({
        "title": title,
        "content": "Some content",
        "category": "news",
        "image": "cover.png",
    })
}

fn post_path(id: &str) -> String {
    format!("/api/posts/{id}")
}

fn id_of(post: &Value) -> String {
    post["id"]
        .as_str()
        .unwrap_or_else(|| panic!("post has a string id: {post}"))
        .to_owned()
}

fn parse_time(value: &Value) -> DateTime<FixedOffset> {
    let text = value
        .as_str()
        .unwrap_or_else(|| panic!("timestamp is a string: {value}"));
    DateTime::parse_from_rfc3339(text).unwrap_or_else(|_| panic!("{text:?} is RFC 3339"))
}

fn sorted_keys(object: &Value) -> Vec<&str> {
    let mut keys: Vec<&str> = object
        .as_object()
        .unwrap_or_else(|| panic!("is an object: {object}"))
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort_unstable();
    keys
}

/// Sends a request as the holder of `token`, with `body` as JSON when given.
async fn send(
    app: &TestApp,
    method: Method,
    path: &str,
    token: &str,
    body: Option<&Value>,
) -> Response {
    let mut request = app
        .bare_client()
        .request(method, app.url(path))
        .bearer_auth(token);
    if let Some(body) = body {
        request = request.json(body);
    }
    request.send().await.expect("request sent")
}

/// Sends `GET /api/posts` with the query parameters URL-encoded.
async fn list_posts(app: &TestApp, token: &str, query: &[(&str, &str)]) -> Response {
    app.bare_client()
        .get(app.url("/api/posts"))
        .query(query)
        .bearer_auth(token)
        .send()
        .await
        .expect("request sent")
}

async fn list_body(app: &TestApp, token: &str, query: &[(&str, &str)]) -> Value {
    let response = list_posts(app, token, query).await;
    assert_eq!(response.status(), StatusCode::OK, "list with {query:?}");
    json_body(response).await
}

fn titles(list: &Value) -> Vec<String> {
    list["posts"]
        .as_array()
        .unwrap_or_else(|| panic!("posts is a list: {list}"))
        .iter()
        .map(|post| {
            post["title"]
                .as_str()
                .expect("title is a string")
                .to_owned()
        })
        .collect()
}

fn ids(list: &Value) -> Vec<String> {
    list["posts"]
        .as_array()
        .unwrap_or_else(|| panic!("posts is a list: {list}"))
        .iter()
        .map(id_of)
        .collect()
}

async fn create_post(app: &TestApp, token: &str, body: &Value) -> Value {
    let response = send(app, Method::POST, "/api/posts", token, Some(body)).await;
    assert_eq!(response.status(), StatusCode::CREATED, "create {body}");
    json_body(response).await
}

async fn read_post(app: &TestApp, token: &str, id: &str) -> Value {
    let response = send(app, Method::GET, &post_path(id), token, None).await;
    assert_eq!(response.status(), StatusCode::OK, "read post {id}");
    json_body(response).await
}

async fn total_posts(app: &TestApp, token: &str) -> Value {
    list_body(app, token, &[]).await["total"].clone()
}

/// Asserts a 422 whose body lists exactly one error, at `loc` with type
/// `kind`, and returns that error. `case` names the input in failure messages.
async fn assert_single_error(response: Response, case: &str, loc: Value, kind: &str) -> Value {
    assert_eq!(
        response.status(),
        StatusCode::UNPROCESSABLE_ENTITY,
        "status for {case}"
    );
    let body = json_body(response).await;
    let errors = body["detail"]
        .as_array()
        .unwrap_or_else(|| panic!("{case}: detail is not a list: {body}"));
    assert_eq!(errors.len(), 1, "{case}: number of errors in {body}");
    assert_eq!(errors[0]["loc"], loc, "{case}: loc in {body}");
    assert_eq!(errors[0]["type"], kind, "{case}: type in {body}");
    assert!(
        errors[0]["msg"].as_str().is_some_and(|msg| !msg.is_empty()),
        "{case}: msg is set in {body}"
    );
    errors[0].clone()
}

/// Asserts an error response with this status and `{"detail": detail}` body.
async fn assert_error(response: Response, case: &str, status: StatusCode, detail: &str) {
    assert_eq!(response.status(), status, "status for {case}");
    assert_eq!(
        json_body(response).await,
        json!({ "detail": detail }),
        "body for {case}"
    );
}

async fn create_returns_full_post(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let token = app.signed_in_user("Ann Author", "ann@example.com").await;
    let me = json_body(app.get_with_token("/api/users/me", &token).await).await;
    let body = json!({
        "title": "First post",
        "content": "Hello, world",
        "category": "news",
        "image": "https://images.test/cover.png",
    });

    let response = send(&app, Method::POST, "/api/posts", &token, Some(&body)).await;

    assert_eq!(response.status(), StatusCode::CREATED);
    let post = json_body(response).await;
    assert_eq!(
        sorted_keys(&post),
        [
            "category",
            "content",
            "created_at",
            "id",
            "image",
            "title",
            "updated_at",
            "user",
            "user_id"
        ]
    );
    assert!(
        Uuid::parse_str(&id_of(&post)).is_ok(),
        "id is a UUID: {post}"
    );
    assert_eq!(post["title"], "First post");
    assert_eq!(post["content"], "Hello, world");
    assert_eq!(post["category"], "news");
    assert_eq!(post["image"], "https://images.test/cover.png");
    assert_eq!(post["user_id"], me["id"]);
    assert_eq!(
        post["user"],
        json!({
            "id": me["id"],
            "name": "Ann Author",
            "email": "ann@example.com",
            "photo": "default.png",
        })
    );

    let timestamp = regex::Regex::new(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}\+00:00$")
        .expect("valid regex");
    for field in ["created_at", "updated_at"] {
        let value = post[field].as_str().unwrap_or_default();
        assert!(
            timestamp.is_match(value),
            "{field} {value:?} is RFC 3339 UTC with microseconds"
        );
    }
    assert_eq!(post["created_at"], post["updated_at"]);

    let stored = read_post(&app, &token, &id_of(&post)).await;
    assert_eq!(stored, post, "the stored post equals the created one");
}

async fn create_ignores_user_id(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let bob_token = app.signed_in_user("Bob", "bob@example.com").await;
    let bob = json_body(app.get_with_token("/api/users/me", &bob_token).await).await;
    let ann_token = app.signed_in_user("Ann", "ann@example.com").await;
    let ann = json_body(app.get_with_token("/api/users/me", &ann_token).await).await;

    for user_id in [
        bob["id"].clone(),
        json!(Uuid::new_v4()),
        json!("not-a-uuid"),
    ] {
        let mut body = post_body("Posing as someone else");
        body["user_id"] = user_id.clone();

        let post = create_post(&app, &ann_token, &body).await;

        assert_eq!(post["user_id"], ann["id"], "user_id {user_id} is ignored");
        assert_eq!(
            post["user"]["email"], "ann@example.com",
            "author for user_id {user_id}"
        );
    }
}

async fn create_rejects_missing_field(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let token = app.signed_in_user("Ann", "ann@example.com").await;

    for (field, _) in FIELD_LIMITS {
        let mut body = post_body("Missing a field");
        body.as_object_mut().expect("object").remove(field);

        let response = send(&app, Method::POST, "/api/posts", &token, Some(&body)).await;

        assert_single_error(
            response,
            &format!("without {field}"),
            json!(["body", field]),
            "value_error.missing",
        )
        .await;
    }
    assert_eq!(total_posts(&app, &token).await, 0, "no post was created");
}

async fn create_rejects_empty_string(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let token = app.signed_in_user("Ann", "ann@example.com").await;

    for (field, _) in FIELD_LIMITS {
        let mut body = post_body("Empty field");
        body[field] = json!("");
        let case = format!("empty {field}");

        let response = send(&app, Method::POST, "/api/posts", &token, Some(&body)).await;

        let error = assert_single_error(
            response,
            &case,
            json!(["body", field]),
            "value_error.any_str.min_length",
        )
        .await;
        assert_eq!(error["ctx"], json!({"limit_value": 1}), "ctx for {case}");
    }
    assert_eq!(total_posts(&app, &token).await, 0, "no post was created");
}

async fn create_rejects_too_long(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let token = app.signed_in_user("Ann", "ann@example.com").await;

    for (field, limit) in FIELD_LIMITS {
        let mut body = post_body("Long field");
        body[field] = json!("x".repeat(limit + 1));
        let case = format!("{field} of {} characters", limit + 1);

        let response = send(&app, Method::POST, "/api/posts", &token, Some(&body)).await;

        let error = assert_single_error(
            response,
            &case,
            json!(["body", field]),
            "value_error.any_str.max_length",
        )
        .await;
        assert_eq!(
            error["ctx"],
            json!({"limit_value": limit}),
            "ctx for {case}"
        );
    }
    assert_eq!(total_posts(&app, &token).await, 0, "no post was created");
}

/// Limits count characters, not bytes: every field at its limit in a
/// 4-byte character (U+1F600) is accepted and stored unchanged.
async fn create_accepts_maximum_lengths(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let token = app.signed_in_user("Ann", "ann@example.com").await;
    let mut body = json!({});
    for (field, limit) in FIELD_LIMITS {
        body[field] = json!("😀".repeat(limit));
    }

    let post = create_post(&app, &token, &body).await;

    let stored = read_post(&app, &token, &id_of(&post)).await;
    for (field, limit) in FIELD_LIMITS {
        assert_eq!(post[field], body[field], "{field} of {limit} characters");
        assert_eq!(stored[field], body[field], "stored {field}");
    }
}

async fn create_accepts_escaped_maximum(backend: Backend) {
    // Python's json.dumps sends every non-ASCII character as an escape, so
    // 100,000 emoji of content are 1.2 MB on the wire and must still fit.
    let app = TestApp::spawn(backend).await;
    let token = app.signed_in_user("Ann", "ann@example.com").await;
    let content = "\\ud83d\\ude00".repeat(100_000);
    let raw = format!(r#"{{"title": "t", "content": "{content}", "category": "c", "image": "i"}}"#);
    let response = app
        .bare_client()
        .post(app.url("/api/posts"))
        .bearer_auth(&token)
        .header("content-type", "application/json")
        .body(raw)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
    let post = json_body(response).await;
    assert_eq!(post["content"].as_str().unwrap().chars().count(), 100_000);
}

async fn create_rejects_blank_and_control(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let token = app.signed_in_user("Ann", "ann@example.com").await;
    let valid = json!({ "title": "t", "content": "c", "category": "x", "image": "i" });
    let cases = [
        ("title", json!("   "), "value_error.any_str.min_length"),
        ("content", json!("\n\t "), "value_error.any_str.min_length"),
        ("title", json!("a\u{7}b"), "value_error.str.regex"),
        ("category", json!("news\nBcc: x"), "value_error.str.regex"),
        ("image", json!("a\rb"), "value_error.str.regex"),
    ];
    for (field, value, kind) in cases {
        let mut body = valid.clone();
        body[field] = value.clone();
        let response = app
            .bare_client()
            .post(app.url("/api/posts"))
            .bearer_auth(&token)
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(
            response.status(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "{field} = {value}"
        );
        let errors = json_body(response).await;
        assert_eq!(
            errors["detail"][0]["loc"],
            json!(["body", field]),
            "{field} = {value}"
        );
        assert_eq!(errors["detail"][0]["type"], kind, "{field} = {value}");
    }
    // Line breaks are fine in the content.
    let mut body = valid.clone();
    body["content"] = json!("line one\nline two\ttabbed");
    let response = app.post_json_with_token("/api/posts", &token, &body).await;
    assert_eq!(response.status(), StatusCode::CREATED);
}

async fn create_rejects_wrong_type(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let token = app.signed_in_user("Ann", "ann@example.com").await;

    for (field, _) in FIELD_LIMITS {
        for value in non_string_values() {
            let mut body = post_body("Wrong type");
            body[field] = value.clone();

            let response = send(&app, Method::POST, "/api/posts", &token, Some(&body)).await;

            assert_single_error(
                response,
                &format!("{field} = {value}"),
                json!(["body", field]),
                "type_error.str",
            )
            .await;
        }
    }
    assert_eq!(total_posts(&app, &token).await, 0, "no post was created");
}

async fn create_rejects_null_field(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let token = app.signed_in_user("Ann", "ann@example.com").await;

    for (field, _) in FIELD_LIMITS {
        let mut body = post_body("Null field");
        body[field] = Value::Null;

        let response = send(&app, Method::POST, "/api/posts", &token, Some(&body)).await;

        assert_single_error(
            response,
            &format!("{field} = null"),
            json!(["body", field]),
            "type_error.none.not_allowed",
        )
        .await;
    }
    assert_eq!(total_posts(&app, &token).await, 0, "no post was created");
}

/// PostgreSQL cannot store U+0000 in text, so both backends reject it.
async fn create_rejects_nul_character(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let token = app.signed_in_user("Ann", "ann@example.com").await;

    for (field, _) in FIELD_LIMITS {
        let mut body = post_body("NUL character");
        body[field] = json!("before\u{0}after");

        let response = send(&app, Method::POST, "/api/posts", &token, Some(&body)).await;

        assert_single_error(
            response,
            &format!("{field} with U+0000"),
            json!(["body", field]),
            "value_error.str.regex",
        )
        .await;
    }
    assert_eq!(total_posts(&app, &token).await, 0, "no post was created");
}

async fn create_reports_every_bad_field(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let token = app.signed_in_user("Ann", "ann@example.com").await;
    let body = json!({"title": "", "content": 5, "image": null});

    let response = send(&app, Method::POST, "/api/posts", &token, Some(&body)).await;

    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let body = json_body(response).await;
    let errors = body["detail"].as_array().expect("detail is a list");
    assert_eq!(errors.len(), 4, "one error per bad field: {body}");
    let expected = [
        ("title", "value_error.any_str.min_length"),
        ("content", "type_error.str"),
        ("category", "value_error.missing"),
        ("image", "type_error.none.not_allowed"),
    ];
    for (field, kind) in expected {
        let error = errors
            .iter()
            .find(|error| error["loc"] == json!(["body", field]))
            .unwrap_or_else(|| panic!("no error for {field} in {body}"));
        assert_eq!(error["type"], kind, "type for {field}");
    }
}

async fn list_default_pages_newest_first(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let token = app.signed_in_user("Ann", "ann@example.com").await;
    let mut created = Vec::new();
    for number in 0..23 {
        let post = create_post(&app, &token, &post_body(&format!("Post {number:02}"))).await;
        created.push(id_of(&post));
    }
    let newest_first: Vec<String> = created.iter().rev().cloned().collect();

    let first = list_body(&app, &token, &[]).await;
    assert_eq!(first["status"], "success");
    assert_eq!(first["results"], 10, "default limit is 10");
    assert_eq!(first["total"], 23);
    assert_eq!(ids(&first), newest_first[..10], "page 1 is the newest ten");

    let second = list_body(&app, &token, &[("page", "2")]).await;
    assert_eq!(second["results"], 10);
    assert_eq!(second["total"], 23);
    assert_eq!(ids(&second), newest_first[10..20], "page 2");

    let third = list_body(&app, &token, &[("page", "3")]).await;
    assert_eq!(third["results"], 3);
    assert_eq!(third["total"], 23);
    assert_eq!(ids(&third), newest_first[20..], "page 3 holds the oldest");

    let beyond = list_body(&app, &token, &[("page", "4")]).await;
    assert_eq!(beyond["results"], 0);
    assert_eq!(beyond["total"], 23);
    assert_eq!(beyond["posts"], json!([]));
}

async fn list_custom_limit_covers_all(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let token = app.signed_in_user("Ann", "ann@example.com").await;
    for number in 0..16 {
        create_post(&app, &token, &post_body(&format!("Post {number:02}"))).await;
    }

    let everything = list_body(&app, &token, &[("limit", "100")]).await;
    assert_eq!(everything["results"], 16);
    assert_eq!(everything["total"], 16);
    let expected: Vec<String> = (0..16).rev().map(|n| format!("Post {n:02}")).collect();
    assert_eq!(titles(&everything), expected, "newest first");
    let times: Vec<_> = everything["posts"]
        .as_array()
        .expect("posts is a list")
        .iter()
        .map(|post| parse_time(&post["created_at"]))
        .collect();
    assert!(
        times.windows(2).all(|pair| pair[0] >= pair[1]),
        "created_at never increases down the list: {times:?}"
    );

    let mut paged = Vec::new();
    for (page, size) in [("1", 5), ("2", 5), ("3", 5), ("4", 1)] {
        let list = list_body(&app, &token, &[("limit", "5"), ("page", page)]).await;
        assert_eq!(list["results"], size, "results on page {page}");
        assert_eq!(list["total"], 16, "total on page {page}");
        paged.extend(ids(&list));
    }
    assert_eq!(
        paged,
        ids(&everything),
        "pages of 5 neither overlap nor skip"
    );

    let one = list_body(&app, &token, &[("limit", "1"), ("page", "16")]).await;
    assert_eq!(titles(&one), ["Post 00"], "limit 1, last page");
}

async fn list_rejects_bad_limit(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let token = app.signed_in_user("Ann", "ann@example.com").await;
    let cases = [
        ("0", "value_error.number.not_ge", Some(1)),
        ("-1", "value_error.number.not_ge", Some(1)),
        ("101", "value_error.number.not_le", Some(100)),
        ("abc", "type_error.integer", None),
        ("1.5", "type_error.integer", None),
        ("", "type_error.integer", None),
    ];

    for (limit, kind, bound) in cases {
        let case = format!("limit={limit:?}");
        let response = list_posts(&app, &token, &[("limit", limit)]).await;

        let error = assert_single_error(response, &case, json!(["query", "limit"]), kind).await;
        if let Some(bound) = bound {
            assert_eq!(
                error["ctx"],
                json!({"limit_value": bound}),
                "ctx for {case}"
            );
        }
    }
}

async fn list_rejects_bad_page(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let token = app.signed_in_user("Ann", "ann@example.com").await;
    let cases = [
        ("0", "value_error.number.not_ge"),
        ("-1", "value_error.number.not_ge"),
        ("x", "type_error.integer"),
    ];

    for (page, kind) in cases {
        let case = format!("page={page:?}");
        let response = list_posts(&app, &token, &[("page", page)]).await;

        let error = assert_single_error(response, &case, json!(["query", "page"]), kind).await;
        if kind == "value_error.number.not_ge" {
            assert_eq!(error["ctx"], json!({"limit_value": 1}), "ctx for {case}");
        }
    }
}

async fn list_reports_limit_and_page(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let token = app.signed_in_user("Ann", "ann@example.com").await;

    let response = list_posts(&app, &token, &[("limit", "0"), ("page", "x")]).await;

    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let body = json_body(response).await;
    let locs: Vec<&Value> = body["detail"]
        .as_array()
        .expect("detail is a list")
        .iter()
        .map(|error| &error["loc"])
        .collect();
    assert_eq!(
        locs,
        [&json!(["query", "limit"]), &json!(["query", "page"])],
        "both parameters reported in {body}"
    );
}

async fn search_ignores_case(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let token = app.signed_in_user("Ann", "ann@example.com").await;
    for title in ["Rust tips", "RUSTY nails", "Trust me", "Go basics"] {
        create_post(&app, &token, &post_body(title)).await;
    }

    for search in ["rust", "RUST", "rUsT"] {
        let list = list_body(&app, &token, &[("search", search)]).await;
        assert_eq!(list["total"], 3, "total for {search:?}");
        assert_eq!(list["results"], 3, "results for {search:?}");
        assert_eq!(
            titles(&list),
            ["Trust me", "RUSTY nails", "Rust tips"],
            "titles for {search:?}"
        );
    }

    let paged = list_body(
        &app,
        &token,
        &[("search", "rust"), ("limit", "2"), ("page", "2")],
    )
    .await;
    assert_eq!(paged["results"], 1, "second page of matches");
    assert_eq!(paged["total"], 3, "total counts every match");
    assert_eq!(titles(&paged), ["Rust tips"]);

    let none = list_body(&app, &token, &[("search", "python")]).await;
    assert_eq!(none["total"], 0);
    assert_eq!(none["posts"], json!([]));
}

async fn search_folds_non_ascii_case(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let token = app.signed_in_user("Ann", "ann@example.com").await;
    create_post(&app, &token, &post_body("Crème brûlée")).await;
    create_post(&app, &token, &post_body("Plain pudding")).await;

    for search in ["BRÛLÉE", "crème", "CRÈME BRÛLÉE"] {
        let list = list_body(&app, &token, &[("search", search)]).await;
        assert_eq!(titles(&list), ["Crème brûlée"], "titles for {search:?}");
    }
}

async fn search_takes_wildcards_literally(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let token = app.signed_in_user("Ann", "ann@example.com").await;
    for title in [
        "100% cotton",
        "1000 cotton",
        "snake_case",
        "snakeXcase",
        r"back\slash",
        "backslash",
        "dot.star",
        "dotstar",
    ] {
        create_post(&app, &token, &post_body(title)).await;
    }

    let cases: [(&str, &[&str]); 9] = [
        ("%", &["100% cotton"]),
        ("0%", &["100% cotton"]),
        ("_", &["snake_case"]),
        ("e_c", &["snake_case"]),
        (r"\", &[r"back\slash"]),
        (r"k\s", &[r"back\slash"]),
        (".", &["dot.star"]),
        ("%%", &[]),
        ("__", &[]),
    ];
    for (search, expected) in cases {
        let list = list_body(&app, &token, &[("search", search)]).await;
        assert_eq!(titles(&list), expected, "titles for {search:?}");
        assert_eq!(list["total"], expected.len(), "total for {search:?}");
    }

    let everything = list_body(&app, &token, &[("search", "")]).await;
    assert_eq!(everything["total"], 8, "an empty search matches all");
}

async fn search_with_nul_matches_nothing(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let token = app.signed_in_user("Ann", "ann@example.com").await;
    create_post(&app, &token, &post_body("Any title")).await;

    for search in ["\u{0}", "Any\u{0}"] {
        let list = list_body(&app, &token, &[("search", search)]).await;

        assert_eq!(list["total"], 0, "total for {search:?}");
        assert_eq!(list["results"], 0, "results for {search:?}");
        assert_eq!(list["posts"], json!([]), "posts for {search:?}");
    }
}

async fn read_returns_others_post(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let ann_token = app.signed_in_user("Ann", "ann@example.com").await;
    let bob_token = app.signed_in_user("Bob", "bob@example.com").await;
    let post = create_post(&app, &ann_token, &post_body("Ann's post")).await;

    let read = read_post(&app, &bob_token, &id_of(&post)).await;

    assert_eq!(read, post, "any verified user reads any post");
    let list = list_body(&app, &bob_token, &[]).await;
    assert_eq!(ids(&list), [id_of(&post)], "Bob's list shows Ann's post");
}

async fn non_uuid_id_rejected(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let token = app.signed_in_user("Ann", "ann@example.com").await;
    let update = json!({"title": "New title"});
    let bad_ids = [
        "not-a-uuid".to_owned(),
        "123".to_owned(),
        format!("{}0", Uuid::new_v4()),
        "00000000-0000-0000-0000-00000000000g".to_owned(),
    ];

    for method in [Method::GET, Method::PUT, Method::PATCH, Method::DELETE] {
        for id in &bad_ids {
            let body = matches!(method, Method::PUT | Method::PATCH).then_some(&update);

            let response = send(&app, method.clone(), &post_path(id), &token, body).await;

            assert_single_error(
                response,
                &format!("{method} {id}"),
                json!(["path", "id"]),
                "type_error.uuid",
            )
            .await;
        }
    }
}

async fn unknown_id_not_found(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let token = app.signed_in_user("Ann", "ann@example.com").await;
    create_post(&app, &token, &post_body("Some other post")).await;
    let id = Uuid::new_v4().to_string();
    let update = json!({"title": "New title"});

    for method in [Method::GET, Method::PUT, Method::PATCH, Method::DELETE] {
        let body = matches!(method, Method::PUT | Method::PATCH).then_some(&update);

        let response = send(&app, method.clone(), &post_path(&id), &token, body).await;

        assert_error(
            response,
            &format!("{method} unknown id"),
            StatusCode::NOT_FOUND,
            &format!("No post with this id: {id} found"),
        )
        .await;
    }
}

/// Updates one field at a time with `method`, then all four at once, and
/// checks that only the given fields change and `updated_at` moves forward.
async fn check_partial_update(app: &TestApp, method: Method) {
    let token = app.signed_in_user("Ann", "ann@example.com").await;
    let original = create_post(app, &token, &post_body("Original title")).await;
    let path = post_path(&id_of(&original));
    let changes = [
        json!({"title": "New title"}),
        json!({"content": "New content"}),
        json!({"category": "travel"}),
        json!({"image": "new.png"}),
        json!({"title": "T", "content": "C", "category": "K", "image": "I"}),
    ];

    let mut previous = original.clone();
    for change in changes {
        let response = send(app, method.clone(), &path, &token, Some(&change)).await;
        assert_eq!(response.status(), StatusCode::OK, "{method} {change}");
        let updated = json_body(response).await;

        for (field, _) in FIELD_LIMITS {
            let expected = change.get(field).unwrap_or(&previous[field]);
            assert_eq!(&updated[field], expected, "{field} after {method} {change}");
        }
        for field in ["id", "user_id", "user", "created_at"] {
            assert_eq!(
                updated[field], original[field],
                "{field} after {method} {change}"
            );
        }
        assert!(
            parse_time(&updated["updated_at"]) > parse_time(&previous["updated_at"]),
            "updated_at moves forward after {method} {change}: {} then {}",
            previous["updated_at"],
            updated["updated_at"]
        );
        assert_eq!(
            read_post(app, &token, &id_of(&original)).await,
            updated,
            "stored post after {method} {change}"
        );
        previous = updated;
    }
}

async fn put_changes_only_given_fields(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    check_partial_update(&app, Method::PUT).await;
}

async fn patch_changes_only_given_fields(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    check_partial_update(&app, Method::PATCH).await;
}

async fn update_empty_object_keeps_fields(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let token = app.signed_in_user("Ann", "ann@example.com").await;
    let original = create_post(&app, &token, &post_body("Unchanged")).await;

    let response = send(
        &app,
        Method::PUT,
        &post_path(&id_of(&original)),
        &token,
        Some(&json!({})),
    )
    .await;

    assert_eq!(response.status(), StatusCode::OK);
    let updated = json_body(response).await;
    for field in [
        "title",
        "content",
        "category",
        "image",
        "created_at",
        "updated_at",
        "user",
    ] {
        assert_eq!(updated[field], original[field], "{field}");
    }
}

/// Sends each invalid single-field update with PUT and with PATCH, and
/// checks the 422 and that the stored post did not change.
async fn check_rejected_updates(backend: Backend, cases: &[(&str, Value, &str)]) {
    let app = TestApp::spawn(backend).await;
    let token = app.signed_in_user("Ann", "ann@example.com").await;
    let original = create_post(&app, &token, &post_body("Original title")).await;
    let id = id_of(&original);

    for method in [Method::PUT, Method::PATCH] {
        for (field, value, kind) in cases {
            let case = format!("{method} {field} = {value}");
            let mut body = json!({});
            body[*field] = value.clone();

            let response = send(&app, method.clone(), &post_path(&id), &token, Some(&body)).await;

            assert_single_error(response, &case, json!(["body", field]), kind).await;
            assert_eq!(
                read_post(&app, &token, &id).await,
                original,
                "post unchanged after {case}"
            );
        }
    }
}

async fn update_rejects_null(backend: Backend) {
    let cases: Vec<_> = FIELD_LIMITS
        .iter()
        .map(|(field, _)| (*field, Value::Null, "type_error.none.not_allowed"))
        .collect();
    check_rejected_updates(backend, &cases).await;
}

async fn update_rejects_empty_string(backend: Backend) {
    let cases: Vec<_> = FIELD_LIMITS
        .iter()
        .map(|(field, _)| (*field, json!(""), "value_error.any_str.min_length"))
        .collect();
    check_rejected_updates(backend, &cases).await;
}

async fn update_rejects_wrong_type(backend: Backend) {
    let mut cases = Vec::new();
    for (field, _) in FIELD_LIMITS {
        for value in non_string_values() {
            cases.push((field, value, "type_error.str"));
        }
    }
    check_rejected_updates(backend, &cases).await;
}

async fn update_rejects_too_long(backend: Backend) {
    let cases: Vec<_> = FIELD_LIMITS
        .iter()
        .map(|(field, limit)| {
            (
                *field,
                json!("x".repeat(limit + 1)),
                "value_error.any_str.max_length",
            )
        })
        .collect();
    check_rejected_updates(backend, &cases).await;
}

async fn update_rejects_nul_character(backend: Backend) {
    let cases: Vec<_> = FIELD_LIMITS
        .iter()
        .map(|(field, _)| (*field, json!("before\u{0}after"), "value_error.str.regex"))
        .collect();
    check_rejected_updates(backend, &cases).await;
}

async fn update_partly_invalid_changes_nothing(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let token = app.signed_in_user("Ann", "ann@example.com").await;
    let original = create_post(&app, &token, &post_body("Original title")).await;
    let id = id_of(&original);
    let body = json!({"title": "Valid new title", "content": ""});

    let response = send(&app, Method::PUT, &post_path(&id), &token, Some(&body)).await;

    assert_single_error(
        response,
        "valid title with empty content",
        json!(["body", "content"]),
        "value_error.any_str.min_length",
    )
    .await;
    assert_eq!(read_post(&app, &token, &id).await, original);
}

async fn update_others_post_forbidden(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let ann_token = app.signed_in_user("Ann", "ann@example.com").await;
    let bob_token = app.signed_in_user("Bob", "bob@example.com").await;
    let original = create_post(&app, &ann_token, &post_body("Ann's post")).await;
    let id = id_of(&original);

    for method in [Method::PUT, Method::PATCH] {
        let body = json!({"title": "Taken over"});
        let response = send(
            &app,
            method.clone(),
            &post_path(&id),
            &bob_token,
            Some(&body),
        )
        .await;

        assert_error(
            response,
            &format!("{method} by another user"),
            StatusCode::FORBIDDEN,
            NOT_AUTHOR,
        )
        .await;
        assert_eq!(
            read_post(&app, &ann_token, &id).await,
            original,
            "post unchanged after {method} by another user"
        );
    }
}

async fn delete_others_post_forbidden(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let ann_token = app.signed_in_user("Ann", "ann@example.com").await;
    let bob_token = app.signed_in_user("Bob", "bob@example.com").await;
    let original = create_post(&app, &ann_token, &post_body("Ann's post")).await;
    let id = id_of(&original);

    let response = send(&app, Method::DELETE, &post_path(&id), &bob_token, None).await;

    assert_detail(response, StatusCode::FORBIDDEN, NOT_AUTHOR).await;
    assert_eq!(read_post(&app, &ann_token, &id).await, original);
}

async fn delete_returns_no_content(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let token = app.signed_in_user("Ann", "ann@example.com").await;
    let post = create_post(&app, &token, &post_body("Short-lived")).await;
    let kept = create_post(&app, &token, &post_body("Kept")).await;
    let id = id_of(&post);
    let not_found = format!("No post with this id: {id} found");

    let response = send(&app, Method::DELETE, &post_path(&id), &token, None).await;

    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    assert_eq!(response.text().await.expect("body"), "", "empty body");

    let read = send(&app, Method::GET, &post_path(&id), &token, None).await;
    assert_detail(read, StatusCode::NOT_FOUND, &not_found).await;
    let again = send(&app, Method::DELETE, &post_path(&id), &token, None).await;
    assert_detail(again, StatusCode::NOT_FOUND, &not_found).await;
    let list = list_body(&app, &token, &[]).await;
    assert_eq!(ids(&list), [id_of(&kept)], "only the other post is left");
}

async fn routes_require_login(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let token = app.signed_in_user("Ann", "ann@example.com").await;
    let post = create_post(&app, &token, &post_body("Protected")).await;
    let path = post_path(&id_of(&post));
    let body = post_body("Anonymous");
    let routes = [
        (Method::GET, "/api/posts"),
        (Method::POST, "/api/posts"),
        (Method::GET, path.as_str()),
        (Method::PUT, path.as_str()),
        (Method::PATCH, path.as_str()),
        (Method::DELETE, path.as_str()),
    ];

    for (method, route) in routes {
        let case = format!("{method} {route} without a token");
        let response = app
            .bare_client()
            .request(method, app.url(route))
            .json(&body)
            .send()
            .await
            .expect("request sent");

        assert_eq!(
            response
                .headers()
                .get("www-authenticate")
                .map(|v| v.as_bytes()),
            Some(b"Bearer".as_slice()),
            "WWW-Authenticate for {case}"
        );
        assert_error(
            response,
            &case,
            StatusCode::UNAUTHORIZED,
            "You are not logged in",
        )
        .await;
    }
    assert_eq!(read_post(&app, &token, &id_of(&post)).await, post);
    assert_eq!(total_posts(&app, &token).await, 1, "nothing was created");
}

on_both_backends!(
    create_returns_full_post,
    create_rejects_blank_and_control,
    create_accepts_escaped_maximum,
    create_ignores_user_id,
    create_rejects_missing_field,
    create_rejects_empty_string,
    create_rejects_too_long,
    create_accepts_maximum_lengths,
    create_rejects_wrong_type,
    create_rejects_null_field,
    create_rejects_nul_character,
    create_reports_every_bad_field,
    list_default_pages_newest_first,
    list_custom_limit_covers_all,
    list_rejects_bad_limit,
    list_rejects_bad_page,
    list_reports_limit_and_page,
    search_ignores_case,
    search_folds_non_ascii_case,
    search_takes_wildcards_literally,
    search_with_nul_matches_nothing,
    read_returns_others_post,
    non_uuid_id_rejected,
    unknown_id_not_found,
    put_changes_only_given_fields,
    patch_changes_only_given_fields,
    update_empty_object_keeps_fields,
    update_rejects_null,
    update_rejects_empty_string,
    update_rejects_wrong_type,
    update_rejects_too_long,
    update_rejects_nul_character,
    update_partly_invalid_changes_nothing,
    update_others_post_forbidden,
    delete_others_post_forbidden,
    delete_returns_no_content,
    routes_require_login,
);
