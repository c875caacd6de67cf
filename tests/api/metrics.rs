//! `/metrics`: request counts and latencies by route and status, pool
//! gauges and login counters. The recorder is shared by every server in the
//! test process, so counts are compared before and after, never exactly.

use reqwest::{Method, StatusCode};
use uuid::Uuid;

use crate::helpers::{Backend, TestApp};
use crate::on_both_backends;

async fn scrape(app: &TestApp) -> String {
    let response = app.get("/metrics").await;
    assert_eq!(response.status(), StatusCode::OK);
    response.text().await.unwrap()
}

/// Returns the value of the series `name` whose labels include every `key="value"`
/// in `labels`; zero when there is no such series yet.
fn value(text: &str, name: &str, labels: &[(&str, &str)]) -> f64 {
    text.lines()
        .filter(|line| {
            line.starts_with(&format!("{name}{{")) || line.starts_with(&format!("{name} "))
        })
        .filter(|line| {
            labels
                .iter()
                .all(|(key, value)| line.contains(&format!("{key}=\"{value}\"")))
        })
        .map(|line| line.rsplit(' ').next().unwrap().parse::<f64>().unwrap())
        .sum()
}

async fn requests_are_counted_by_route_and_status(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let post = format!("/api/posts/{}", Uuid::new_v4());
    let stray = format!("/no-such-route-{}", Uuid::new_v4().simple());
    let labels = [
        ("method", "GET"),
        ("route", "/api/posts/{id}"),
        ("status", "401"),
    ];
    let before = scrape(&app).await;

    for _ in 0..3 {
        assert_eq!(app.get(&post).await.status(), StatusCode::UNAUTHORIZED);
    }
    assert_eq!(app.get(&stray).await.status(), StatusCode::NOT_FOUND);
    let brew = app
        .bare_client()
        .request(Method::from_bytes(b"BREW").unwrap(), app.url("/api/posts"))
        .send()
        .await
        .unwrap();
    assert_eq!(brew.status(), StatusCode::METHOD_NOT_ALLOWED);

    let after = scrape(&app).await;
    let counted = value(&after, "postgate_http_requests_total", &labels)
        - value(&before, "postgate_http_requests_total", &labels);
    assert!(
        counted >= 3.0,
        "three requests counted, got {counted}: {after}"
    );
    let timed = value(
        &after,
        "postgate_http_request_duration_seconds_count",
        &labels,
    ) - value(
        &before,
        "postgate_http_request_duration_seconds_count",
        &labels,
    );
    assert!(timed >= 3.0, "three latencies recorded, got {timed}");
    let mut slowest_bucket = labels.to_vec();
    slowest_bucket.push(("le", "+Inf"));
    assert!(
        value(
            &after,
            "postgate_http_request_duration_seconds_bucket",
            &slowest_bucket
        ) >= 3.0,
        "latency is a histogram with buckets: {after}"
    );

    // Labels come from route templates, so paths and methods that clients
    // make up do not become series of their own.
    assert!(
        value(
            &after,
            "postgate_http_requests_total",
            &[("route", "unmatched"), ("status", "404")]
        ) >= 1.0,
        "{after}"
    );
    assert!(!after.contains(&stray), "a raw path became a label");
    assert!(!after.contains(&post), "a raw path became a label");
    assert!(
        value(
            &after,
            "postgate_http_requests_total",
            &[("method", "other"), ("status", "405")]
        ) >= 1.0,
        "{after}"
    );
    assert!(!after.contains("BREW"), "a made-up method became a label");
}

async fn pool_and_login_metrics(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.signed_in_user("Metrics Reader", "metrics.reader@example.com")
        .await;
    let failed = app
        .login("metrics.reader@example.com", "not-the-password")
        .await;
    assert_eq!(failed.status(), StatusCode::BAD_REQUEST);

    let text = scrape(&app).await;
    assert!(
        value(&text, "postgate_db_connections_max", &[]) >= 1.0,
        "{text}"
    );
    for state in ["in_use", "idle"] {
        assert!(
            text.lines()
                .any(|line| line
                    .starts_with(&format!("postgate_db_connections{{state=\"{state}\"}}"))),
            "pool gauge {state}: {text}"
        );
    }
    for outcome in ["success", "failure"] {
        assert!(
            value(&text, "postgate_logins_total", &[("outcome", outcome)]) >= 1.0,
            "logins {outcome}: {text}"
        );
    }
    for status in ["queued", "sent", "failed"] {
        assert!(
            text.contains(&format!("postgate_outbox_emails{{status=\"{status}\"}}")),
            "outbox {status}: {text}"
        );
    }
}

on_both_backends!(
    requests_are_counted_by_route_and_status,
    pool_and_login_metrics
);
