//! The OpenAPI document at `/openapi.json` and Swagger UI at `/docs`.

use std::collections::BTreeSet;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::browser::Browser;
use crate::helpers::{Backend, TestApp, json_body};
use crate::on_both_backends;

/// Every route of the HTTP contract, as (method, path). The document must
/// list each of them, and the server must serve each one it lists.
const CONTRACT_ROUTES: &[(&str, &str)] = &[
    ("get", "/api/healthchecker"),
    ("get", "/healthz"),
    ("get", "/readyz"),
    ("get", "/metrics"),
    ("get", "/.well-known/jwks.json"),
    ("post", "/api/auth/register"),
    ("get", "/api/auth/verifyemail/{token}"),
    ("post", "/api/auth/login"),
    ("get", "/api/auth/refresh"),
    ("post", "/api/auth/refresh"),
    ("get", "/api/auth/logout"),
    ("post", "/api/auth/logout"),
    ("post", "/api/auth/logout-all"),
    ("get", "/api/auth/sessions"),
    ("delete", "/api/auth/sessions/{id}"),
    ("post", "/api/auth/resend-verification"),
    ("post", "/api/auth/forgot-password"),
    ("get", "/api/auth/reset-password"),
    ("post", "/api/auth/reset-password"),
    ("get", "/api/users/me"),
    ("get", "/api/posts"),
    ("post", "/api/posts"),
    ("get", "/api/posts/{id}"),
    ("put", "/api/posts/{id}"),
    ("patch", "/api/posts/{id}"),
    ("delete", "/api/posts/{id}"),
];

fn documented_operations(document: &Value) -> BTreeSet<(String, String)> {
    let mut operations = BTreeSet::new();
    for (path, item) in document["paths"].as_object().expect("paths") {
        for method in ["get", "post", "put", "patch", "delete"] {
            if item.get(method).is_some() {
                operations.insert((method.to_owned(), path.clone()));
            }
        }
    }
    operations
}

async fn document_matches_routes(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let document = json_body(app.get("/openapi.json").await).await;
    assert!(
        document["openapi"].as_str().unwrap().starts_with("3.1"),
        "{}",
        document["openapi"]
    );

    let documented = documented_operations(&document);
    let contract: BTreeSet<(String, String)> = CONTRACT_ROUTES
        .iter()
        .map(|(method, path)| ((*method).to_owned(), (*path).to_owned()))
        .collect();
    assert_eq!(
        documented, contract,
        "documented operations differ from the contract's routes"
    );

    // Every documented operation is routed: the response is never the
    // router's own 404 or 405.
    for (method, path) in &documented {
        let concrete = path
            .replace("{id}", "00000000-0000-4000-8000-000000000000")
            .replace("{token}", "00");
        let method = Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
        let response = app
            .bare_client()
            .request(method.clone(), app.url(&concrete))
            .header("content-type", "application/json")
            .body("{}")
            .send()
            .await
            .unwrap();
        let status = response.status();
        assert_ne!(status, StatusCode::METHOD_NOT_ALLOWED, "{method} {path}");
        let text = response.text().await.unwrap();
        assert!(
            !(status == StatusCode::NOT_FOUND && text.contains("\"Not Found\"")),
            "{method} {path} is documented but not routed"
        );
    }
}

async fn document_describes_errors(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let document = json_body(app.get("/openapi.json").await).await;
    let schemes = &document["components"]["securitySchemes"];
    assert_eq!(schemes["bearer"]["scheme"], "bearer");
    assert_eq!(schemes["cookie"]["in"], "cookie");
    assert_eq!(schemes["cookie"]["name"], "access_token");
    for name in [
        "ErrorBody",
        "ValidationErrorBody",
        "PostResponse",
        "UserResponse",
        "RegisterRequest",
    ] {
        assert!(
            document["components"]["schemas"].get(name).is_some(),
            "schema {name}"
        );
    }
    let me = &document["paths"]["/api/users/me"]["get"];
    assert!(me["responses"].get("401").is_some(), "401 documented");
    assert!(
        me["security"].as_array().is_some_and(|s| !s.is_empty()),
        "security documented"
    );
    let register = &document["paths"]["/api/auth/register"]["post"];
    for status in ["201", "400", "409", "422", "429"] {
        assert!(
            register["responses"].get(status).is_some(),
            "register {status}"
        );
    }
    let example = &document["components"]["schemas"]["RegisterRequest"]["example"];
    assert!(example.get("email").is_some(), "request example: {example}");

    // Errors that middleware produces are documented on every route they
    // can reach.
    let create = &document["paths"]["/api/posts"]["post"]["responses"];
    for status in ["403", "408", "413", "415", "422"] {
        assert!(
            create.get(status).is_some(),
            "create post {status}: {create}"
        );
    }
    assert!(
        me["responses"].get("408").is_some(),
        "timeout documented on reads"
    );
    assert!(
        me["responses"].get("403").is_none(),
        "no cross-site 403 on a safe read"
    );
    let logout = &document["paths"]["/api/auth/logout"]["get"]["responses"];
    assert!(
        logout.get("403").is_some(),
        "cross-site logout 403: {logout}"
    );

    // A 422's `loc` contains names and list indexes.
    let loc_items = &document["components"]["schemas"]["FieldError"]["properties"]["loc"]["items"];
    let loc_items = match loc_items["$ref"].as_str() {
        Some(reference) => {
            &document["components"]["schemas"][reference.rsplit('/').next().unwrap()]
        }
        None => loc_items,
    };
    let kinds: Vec<&str> = loc_items["oneOf"]
        .as_array()
        .unwrap_or_else(|| panic!("loc items are one of several types: {loc_items}"))
        .iter()
        .filter_map(|item| item["type"].as_str())
        .collect();
    assert!(
        kinds.contains(&"string") && kinds.contains(&"integer"),
        "{loc_items}"
    );
}

async fn optional_fields_are_not_nullable(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let document = json_body(app.get("/openapi.json").await).await;
    let schemas = &document["components"]["schemas"];
    // The server rejects `null` for these fields, so the document must not offer it.
    assert_eq!(
        schemas["RegisterRequest"]["properties"]["photo"]["type"],
        "string"
    );
    assert_eq!(
        schemas["UpdatePostRequest"]["properties"]["title"]["type"],
        "string"
    );
    assert_eq!(
        schemas["CreatePostRequest"]["properties"]["title"]["maxLength"],
        255
    );
    let photo_null = json!({
        "name": "Ann", "email": "ann@example.com", "photo": null,
        "password": "correct-horse-1", "passwordConfirm": "correct-horse-1"
    });
    let response = app.post_json("/api/auth/register", &photo_null).await;
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
}

async fn operation_ids_are_unique(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let document = json_body(app.get("/openapi.json").await).await;
    let mut ids = BTreeSet::new();
    for (path, item) in document["paths"].as_object().unwrap() {
        for (method, operation) in item.as_object().unwrap() {
            let id = operation["operationId"]
                .as_str()
                .unwrap_or_else(|| panic!("{method} {path} has an operationId"));
            assert!(ids.insert(id.to_owned()), "operationId {id} is used twice");
        }
    }
    assert!(
        ids.contains("logout_get") && ids.contains("logout_post"),
        "{ids:?}"
    );
}

/// Finds the operation block of `arguments[0]` (method) and `arguments[1]`
/// (path) in Swagger UI, and in it the element that matches `arguments[2]`.
const FIND_IN_OPERATION: &str = r#"
    const [method, path, selector] = arguments;
    const block = [...document.querySelectorAll('.opblock.opblock-' + method)].find(block => {
        const summary = block.querySelector('.opblock-summary-path');
        const shown = summary && (summary.getAttribute('data-path') || summary.textContent.replace(/\u200b/g, ''));
        return shown === path;
    });
    return block ? block.querySelector(selector) : null;
"#;

/// Finds, in the open authorization dialog, the element that matches
/// `arguments[1]` within the section of security scheme `arguments[0]`.
const FIND_IN_AUTH_DIALOG: &str = r#"
    const [scheme, selector] = arguments;
    const section = [...document.querySelectorAll('.modal-ux .auth-container')]
        .find(section => section.textContent.includes(scheme));
    return section ? section.querySelector(selector) : null;
"#;

/// Opens `/docs` in headless Chromium as a user would: checks the routes,
/// authorizes with a bearer token, and calls `/api/users/me` with "Try it
/// out". Host lookups other than 127.0.0.1 fail in that browser, so the
/// page works only if everything it needs comes from postgate.
async fn swagger_ui_works_offline(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let token = app
        .signed_in_user("Docs Reader", "docs.reader@example.com")
        .await;
    let browser = Browser::start().await;
    browser.open(&app.url("/docs")).await;

    let paths = browser
        .wait_for(
            "Swagger UI to list the routes",
            30,
            r#"const paths = [...document.querySelectorAll('.opblock-summary-path')]
                   .map(e => e.getAttribute('data-path') || e.textContent.replace(/\u200b/g, ''));
               return paths.length ? paths : null;"#,
            json!([]),
        )
        .await;
    let paths: Vec<&str> = paths
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    for path in ["/api/auth/login", "/api/users/me", "/api/posts/{id}"] {
        assert!(paths.contains(&path), "{path} is listed: {paths:?}");
    }

    let authorize = browser
        .run(
            "return document.querySelector('.auth-wrapper .authorize')",
            json!([]),
        )
        .await;
    browser.click(&authorize).await;
    let cookie_input = browser
        .wait_for(
            "the cookie scheme",
            10,
            FIND_IN_AUTH_DIALOG,
            json!(["access_token", "input"]),
        )
        .await;
    assert!(
        !cookie_input.is_null(),
        "the dialog offers the cookie scheme"
    );
    let token_input = browser
        .wait_for(
            "the bearer token field",
            10,
            FIND_IN_AUTH_DIALOG,
            json!(["bearer", "input"]),
        )
        .await;
    browser.type_into(&token_input, &token).await;
    let submit = browser
        .run(FIND_IN_AUTH_DIALOG, json!(["bearer", "button.authorize"]))
        .await;
    browser.click(&submit).await;
    let close = browser
        .wait_for(
            "the close button",
            10,
            "return document.querySelector('.modal-ux .btn-done') || document.querySelector('.modal-ux .close-modal')",
            json!([]),
        )
        .await;
    browser.click(&close).await;

    let summary = browser
        .run(
            FIND_IN_OPERATION,
            json!([
                "get",
                "/api/users/me",
                ".opblock-summary-control, .opblock-summary"
            ]),
        )
        .await;
    browser.click(&summary).await;
    let try_out = browser
        .wait_for(
            "Try it out",
            10,
            FIND_IN_OPERATION,
            json!(["get", "/api/users/me", ".try-out__btn"]),
        )
        .await;
    browser.click(&try_out).await;
    let execute = browser
        .wait_for(
            "Execute",
            10,
            FIND_IN_OPERATION,
            json!(["get", "/api/users/me", ".execute"]),
        )
        .await;
    browser.click(&execute).await;
    let status = browser
        .wait_for(
            "the response of /api/users/me",
            15,
            r#"const cell = document.querySelector('.live-responses-table tr.response .response-col_status');
               return cell ? cell.textContent.trim() : null;"#,
            json!([]),
        )
        .await;
    assert_eq!(
        status, "200",
        "the call made with the bearer token succeeded"
    );
    let body = browser
        .run(
            "const code = document.querySelector('.live-responses-table .microlight, .live-responses-table pre'); return code ? code.textContent : '';",
            json!([]),
        )
        .await;
    assert!(
        body.as_str().unwrap().contains("docs.reader@example.com"),
        "{body}"
    );

    let requested = browser.finish().await;
    for asset in [
        "/docs/swagger-ui-bundle.js",
        "/openapi.json",
        "/api/users/me",
    ] {
        let wanted = format!("{}{asset}", app.address);
        assert!(
            requested.iter().any(|url| url == &wanted),
            "the page fetched {asset} from postgate: {requested:?}"
        );
    }
}

on_both_backends!(
    document_matches_routes,
    document_describes_errors,
    operation_ids_are_unique,
    optional_fields_are_not_nullable,
    swagger_ui_works_offline
);
