//! The email outbox: delivery survives SMTP outages and restarts, permanent
//! rejections end in `failed`, and several instances share one queue
//! without sending an email twice.

use std::collections::HashSet;
use std::time::Duration;

use postgate::email::outbox::{EnqueueEmail, NewEmail};
use postgate::on_pool;
use reqwest::StatusCode;

use crate::helpers::{
    Backend, Options, SmtpSink, TestApp, closed_port, create_postgres_database, json_body,
    outbox_rows, wait_until,
};
use crate::on_both_backends;

/// A database URL that two servers started one after the other can share.
async fn shared_database(backend: Backend, folder: &tempfile::TempDir) -> String {
    match backend {
        Backend::Sqlite => format!(
            "sqlite://{}?mode=rwc",
            folder.path().join("shared.db").display()
        ),
        Backend::Postgres => create_postgres_database().await,
    }
}

async fn smtp_outage_delivers_later(backend: Backend) {
    let port = closed_port().await;
    let app = TestApp::spawn_with(
        backend,
        Options {
            smtp_port: Some(port),
            ..Options::default()
        },
    )
    .await;
    let response = app.register("Ann", "ann@example.com").await;
    assert_eq!(response.status(), StatusCode::CREATED);

    wait_until(10, "a failed first attempt", || async {
        outbox_rows(&app)
            .await
            .first()
            .is_some_and(|(_, attempts)| *attempts >= 1)
    })
    .await;
    assert_eq!(outbox_rows(&app).await[0].0, "queued");

    let sink = SmtpSink::start_on(port).await;
    let email = sink.wait_for("ann@example.com").await;
    assert_eq!(email.subject, "Verify your email address");
    wait_until(10, "the email marked sent", || async {
        outbox_rows(&app)
            .await
            .first()
            .is_some_and(|(status, _)| status == "sent")
    })
    .await;
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(
        sink.received_for("ann@example.com").len(),
        1,
        "delivered exactly once"
    );
}

/// Waits until the first outbox email is marked failed.
async fn wait_until_failed(app: &TestApp) {
    wait_until(15, "the email marked failed", || async {
        outbox_rows(app)
            .await
            .first()
            .is_some_and(|(status, _)| status == "failed")
    })
    .await;
}

async fn permanent_rejection_marks_failed(backend: Backend) {
    let options = Options {
        args: vec!["--email-max-attempts".into(), "3".into()],
        ..Options::default()
    };
    let app = TestApp::spawn_with(backend, options).await;
    app.smtp.reject_all_recipients();
    assert_eq!(
        app.register("Ann", "ann@example.com").await.status(),
        StatusCode::CREATED
    );

    wait_until_failed(&app).await;
    assert_eq!(outbox_rows(&app).await, vec![("failed".to_owned(), 3)]);
    assert_eq!(app.smtp.recipient_attempts(), 3, "one SMTP attempt per try");
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(
        app.smtp.recipient_attempts(),
        3,
        "no attempt after the last"
    );

    // The server keeps serving, and the failure is counted.
    assert_eq!(app.get("/api/healthchecker").await.status(), StatusCode::OK);
    let metrics = app.get("/metrics").await.text().await.unwrap();
    assert!(
        metrics.contains(r#"postgate_outbox_emails{status="failed"} 1"#),
        "{metrics}"
    );
    assert!(
        metrics.contains("postgate_emails_failed_total"),
        "{metrics}"
    );
}

async fn restart_loses_no_email(backend: Backend) {
    let folder = tempfile::tempdir().unwrap();
    let database_url = shared_database(backend, &folder).await;
    let first = TestApp::spawn_with(
        backend,
        Options {
            smtp_port: Some(closed_port().await),
            database_url: Some(database_url.clone()),
            ..Options::default()
        },
    )
    .await;
    assert_eq!(
        first.register("Ann", "ann@example.com").await.status(),
        StatusCode::CREATED
    );
    wait_until(10, "a failed first attempt", || async {
        outbox_rows(&first)
            .await
            .first()
            .is_some_and(|(_, attempts)| *attempts >= 1)
    })
    .await;
    first.stop().await;

    let second = TestApp::spawn_with(
        backend,
        Options {
            database_url: Some(database_url),
            ..Options::default()
        },
    )
    .await;
    let link = second.verification_link("ann@example.com").await;
    let verified = second.client.get(&link).send().await.unwrap();
    assert_eq!(verified.status(), StatusCode::OK);
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(second.smtp.received_for("ann@example.com").len(), 1);
}

async fn two_instances_deliver_once(backend: Backend) {
    const COUNT: usize = 200;
    let folder = tempfile::tempdir().unwrap();
    let database_url = shared_database(backend, &folder).await;
    let sink = SmtpSink::start().await;
    let spawn = || {
        TestApp::spawn_with(
            backend,
            Options {
                smtp_port: Some(sink.port),
                database_url: Some(database_url.clone()),
                ..Options::default()
            },
        )
    };
    let first = spawn().await;
    let second = spawn().await;

    // Due a moment from now, so both workers are polling when they come due.
    let due = postgate::db::now() + chrono::Duration::milliseconds(500);
    on_pool!(&first.db, pool => {
        let mut tx = pool.begin().await.unwrap();
        for index in 0..COUNT {
            let recipient = format!("user{index}@example.com");
            let message = format!(
                "From: postgate <noreply@localhost>\r\nTo: {recipient}\r\nSubject: message {index}\r\n\r\nbody\r\n"
            );
            let email = NewEmail {
                kind: "test",
                user_id: None,
                recipient: &recipient,
                message: message.into_bytes(),
            };
            tx.enqueue_email(&email, due).await.unwrap();
        }
        tx.commit().await.unwrap();
    });

    wait_until(60, "every queued email delivered", || async {
        sink.received().len() >= COUNT
    })
    .await;
    tokio::time::sleep(Duration::from_millis(800)).await;
    let received = sink.received();
    let subjects: HashSet<String> = received.iter().map(|email| email.subject.clone()).collect();
    assert_eq!(received.len(), COUNT, "no duplicates");
    assert_eq!(subjects.len(), COUNT, "none missing");
    let rows = outbox_rows(&first).await;
    assert!(
        rows.iter()
            .all(|(status, attempts)| status == "sent" && *attempts == 1),
        "every email sent on its first claim"
    );
    drop(second);
}

async fn sent_email_drops_its_link(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.register("Ann", "ann@example.com").await;
    app.smtp.wait_for("ann@example.com").await;
    wait_until(10, "the email marked sent", || async {
        outbox_rows(&app)
            .await
            .first()
            .is_some_and(|(status, _)| status == "sent")
    })
    .await;
    let stored: Option<Vec<u8>> = on_pool!(&app.db, pool => {
        let (message,): (Option<Vec<u8>>,) = sqlx::query_as("SELECT message FROM email_outbox")
            .fetch_one(pool)
            .await
            .unwrap();
        message
    });
    assert!(
        stored.is_none(),
        "a sent message no longer holds the verification link"
    );

    let metrics = json_free_metrics(&app).await;
    assert!(
        metrics.contains(r#"postgate_outbox_emails{status="sent"} 1"#),
        "{metrics}"
    );
}

async fn json_free_metrics(app: &TestApp) -> String {
    let response = app.get("/metrics").await;
    assert_eq!(response.status(), StatusCode::OK);
    let content_type = response.headers()["content-type"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(content_type.starts_with("text/plain"), "{content_type}");
    response.text().await.unwrap()
}

async fn registration_answers_while_smtp_hangs(backend: Backend) {
    // An SMTP server that accepts the connection but never greets: the
    // request must not wait for it.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let _hold = tokio::spawn(async move {
        let mut open = Vec::new();
        while let Ok((stream, _)) = listener.accept().await {
            open.push(stream);
        }
    });
    let app = TestApp::spawn_with(
        backend,
        Options {
            smtp_port: Some(port),
            args: vec![
                "--email-timeout".into(),
                "1".into(),
                "--email-max-attempts".into(),
                "2".into(),
            ],
            ..Options::default()
        },
    )
    .await;
    let started = std::time::Instant::now();
    let response = app.register("Ann", "ann@example.com").await;
    assert_eq!(response.status(), StatusCode::CREATED);
    assert_eq!(json_body(response).await["status"], "success");
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "registration did not wait for SMTP"
    );

    // EMAIL_TIMEOUT bounds the whole delivery, not only the connect, so the
    // silent server costs each attempt one second and the email fails.
    wait_until_failed(&app).await;
    assert_eq!(outbox_rows(&app).await, vec![("failed".to_owned(), 2)]);
}

/// With credentials, the default opportunistic TLS becomes required
/// STARTTLS: a server that offers no STARTTLS never receives the password.
async fn credentials_require_starttls(backend: Backend) {
    let options = Options {
        args: vec![
            "--email-tls".into(),
            "opportunistic".into(),
            "--email-username".into(),
            "mailer".into(),
            "--email-password".into(),
            "smtp-secret".into(),
            "--email-max-attempts".into(),
            "1".into(),
        ],
        ..Options::default()
    };
    let app = TestApp::spawn_with(backend, options).await;
    assert_eq!(
        app.register("Ann", "ann@example.com").await.status(),
        StatusCode::CREATED
    );
    wait_until_failed(&app).await;
    assert_eq!(
        app.smtp.auth_attempts(),
        0,
        "no password went over plain text"
    );
    assert!(
        app.smtp.received().is_empty(),
        "nothing was sent without TLS"
    );
}

on_both_backends!(
    smtp_outage_delivers_later,
    permanent_rejection_marks_failed,
    restart_loses_no_email,
    two_instances_deliver_once,
    sent_email_drops_its_link,
    registration_answers_while_smtp_hangs,
    credentials_require_starttls,
);
