//! The OpenAPI document at `/openapi.json` and Swagger UI at `/docs`.

use std::collections::BTreeSet;
use std::process::Command;

use reqwest::{Method, StatusCode};
use serde_json::Value;

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

    // Every documented operation is routed: the answer is never the
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
}

/// Loads `/docs` in headless Chromium and returns the rendered DOM and every
/// URL that the browser requested.
fn render_in_chromium(url: &str) -> (String, Vec<String>) {
    let profile = tempfile::tempdir().unwrap();
    let net_log = profile.path().join("net-log.json");
    let output = Command::new("chromium")
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-default-apps",
            "--disable-domain-reliability",
            "--disable-client-side-phishing-detection",
            "--no-pings",
            // Chromium's own network-time query would otherwise reach out
            // to Google; the resolver rule keeps every other lookup on
            // loopback so that a stray request fails instead of leaving
            // the machine.
            "--disable-features=NetworkTimeServiceQuerying,OptimizationHints,MediaRouter,Translate",
            "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
            "--virtual-time-budget=15000",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .arg(format!("--log-net-log={}", net_log.display()))
        .arg("--dump-dom")
        .arg(url)
        .output()
        .expect("chromium is installed (scripts/test.sh installs Debian's chromium package)");
    assert!(
        output.status.success(),
        "chromium failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let log = std::fs::read_to_string(&net_log).unwrap_or_default();
    let urls = regex::Regex::new(r#""url":"([^"]+)""#)
        .unwrap()
        .captures_iter(&log)
        .map(|c| c[1].to_owned())
        .collect();
    (String::from_utf8_lossy(&output.stdout).into_owned(), urls)
}

async fn swagger_ui_works_offline(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let page = app.get("/docs/").await;
    assert_eq!(page.status(), StatusCode::OK);

    let url = app.url("/docs/");
    let (dom, requested) = tokio::task::spawn_blocking(move || render_in_chromium(&url))
        .await
        .unwrap();
    assert!(dom.contains("/api/posts/{id}"), "the routes are listed");
    assert!(dom.contains("/api/auth/login"), "the routes are listed");
    assert!(dom.contains("Authorize"), "the authorize button is shown");
    // The resolver rule above fails every lookup but loopback, so a UI that
    // needed a CDN would not have rendered the routes. Chromium's own
    // background requests (to Google's account and time services) show up
    // in the log too, so the log is checked for what the page fetched from
    // postgate rather than for the absence of other hosts.
    for asset in [
        "/docs/swagger-ui-bundle.js",
        "/docs/swagger-ui.css",
        "/openapi.json",
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
    swagger_ui_works_offline
);
