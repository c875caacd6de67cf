//! The verification email: SMTP delivery, content, and the file mailer.

use reqwest::StatusCode;

use crate::helpers::{Backend, Options, TestApp, closed_port, extract_link, json_body};
use crate::on_both_backends;

async fn smtp_delivers_one_html_email(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    assert_eq!(
        app.register("Ann", "ann@example.com").await.status(),
        StatusCode::CREATED
    );
    let email = app.smtp.wait_for("ann@example.com").await;
    assert_eq!(email.subject, "Verify your email address");
    assert!(
        email.raw.contains("multipart/alternative"),
        "HTML with a text alternative"
    );
    let html_link =
        extract_link(&email.html, "/api/auth/verifyemail/").expect("link in the HTML part");
    let text_link =
        extract_link(&email.text, "/api/auth/verifyemail/").expect("link in the text part");
    assert_eq!(html_link, text_link);
    assert!(
        html_link.starts_with("http://127.0.0.1:9/api/auth/verifyemail/"),
        "link uses PUBLIC_URL: {html_link}"
    );
    let token = html_link.rsplit('/').next().unwrap();
    assert_eq!(token.len(), 64, "32 random bytes in hex");

    let verified = app
        .client
        .get(app.local_link(&html_link))
        .send()
        .await
        .unwrap();
    assert_eq!(verified.status(), StatusCode::OK);
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    assert_eq!(
        app.smtp.received_for("ann@example.com").len(),
        1,
        "exactly one email"
    );
}

async fn email_escapes_user_name(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.register("<script>alert(1)</script>", "ann@example.com")
        .await;
    let email = app.smtp.wait_for("ann@example.com").await;
    assert!(!email.html.contains("<script>"), "{}", email.html);
    assert!(email.html.contains("&lt;script&gt;"), "{}", email.html);
}

async fn smtp_down_still_registers(backend: Backend) {
    let options = Options {
        smtp_port: Some(closed_port().await),
        ..Options::default()
    };
    let app = TestApp::spawn_with(backend, options).await;
    let response = app.register("Ann", "ann@example.com").await;
    assert_eq!(response.status(), StatusCode::CREATED);
    assert_eq!(json_body(response).await["status"], "success");
    let health = app.get("/api/healthchecker").await;
    assert_eq!(health.status(), StatusCode::OK);
}

async fn file_mailer_writes_eml(backend: Backend) {
    let options = Options {
        file_mailer: true,
        ..Options::default()
    };
    let app = TestApp::spawn_with(backend, options).await;
    assert_eq!(
        app.register("Ann", "ann@example.com").await.status(),
        StatusCode::CREATED
    );
    let outbox = app.data_dir.path().join("outbox");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let eml = loop {
        let found = std::fs::read_dir(&outbox)
            .unwrap()
            .filter_map(Result::ok)
            .find(|entry| entry.path().extension().is_some_and(|e| e == "eml"));
        if let Some(entry) = found {
            break std::fs::read_to_string(entry.path()).unwrap();
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no .eml file in {}",
            outbox.display()
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    };
    let message = mail_parser::MessageParser::default()
        .parse(eml.as_bytes())
        .expect("valid email");
    let html = message.body_html(0).expect("HTML part");
    let link = extract_link(&html, "/api/auth/verifyemail/").expect("verification link");
    let verified = app.client.get(app.local_link(&link)).send().await.unwrap();
    assert_eq!(verified.status(), StatusCode::OK);
    assert!(app.smtp.received().is_empty(), "nothing went over SMTP");
}

on_both_backends!(
    smtp_delivers_one_html_email,
    email_escapes_user_name,
    smtp_down_still_registers,
    file_mailer_writes_eml,
);
