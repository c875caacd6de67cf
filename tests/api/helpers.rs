//! Test harness: a real postgate server per test on a random loopback port,
//! a fresh SQLite file or PostgreSQL database per test, and an in-process
//! SMTP server that receives the server's emails over a real SMTP conversation.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use clap::Parser;
use postgate::config::ConfigArgs;
use postgate::db::Db;
use postgate::{Application, on_pool};
use reqwest::{Client, Response, StatusCode};
use serde_json::{Value, json};
use tempfile::TempDir;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;
use tokio::sync::{Notify, oneshot};

pub const PASSWORD: &str = "correct-horse-1";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Generates one `#[tokio::test]` per backend for each named async test
/// function, which takes the [`Backend`] to run on.
#[macro_export]
macro_rules! on_both_backends {
    ($($name:ident),+ $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name($crate::helpers::Backend::Sqlite).await;
                }
            )+
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name($crate::helpers::Backend::Postgres).await;
                }
            )+
        }
    };
}

/// Later flags override earlier ones, so a test can replace a default below.
#[derive(Parser)]
#[command(args_override_self = true)]
struct TestCli {
    #[command(flatten)]
    config: ConfigArgs,
}

/// Options for [`TestApp::spawn_with`].
#[derive(Default)]
pub struct Options {
    /// Extra command-line settings, such as `["--refresh-token-reuse-interval", "0"]`.
    pub args: Vec<String>,
    /// Write emails as `.eml` files instead of sending them to the SMTP sink.
    pub file_mailer: bool,
    /// Point the server at this SMTP port instead of a running sink.
    pub smtp_port: Option<u16>,
    /// Use this database instead of a fresh one.
    pub database_url: Option<String>,
}

pub struct TestApp {
    pub address: String,
    pub client: Client,
    pub db: Db,
    /// The server's shared state, for counters that no route exposes.
    pub state: postgate::AppState,
    pub smtp: SmtpSink,
    pub data_dir: TempDir,
    shutdown: Option<oneshot::Sender<()>>,
    server: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
}

impl TestApp {
    pub async fn spawn(backend: Backend) -> Self {
        Self::spawn_with(backend, Options::default()).await
    }

    pub async fn spawn_with(backend: Backend, options: Options) -> Self {
        let data_dir = tempfile::tempdir().expect("create a temporary data folder");
        let smtp = SmtpSink::start().await;
        let database_url = match (backend, options.database_url.clone()) {
            (_, Some(url)) => url,
            (Backend::Sqlite, None) => {
                format!(
                    "sqlite://{}?mode=rwc",
                    data_dir.path().join("test.db").display()
                )
            }
            (Backend::Postgres, None) => create_postgres_database().await,
        };
        let mut args: Vec<String> = vec![
            "postgate".into(),
            "--host".into(),
            "127.0.0.1".into(),
            "--port".into(),
            "0".into(),
            "--public-url".into(),
            "http://127.0.0.1:9".into(),
            "--data-dir".into(),
            data_dir.path().display().to_string(),
            "--database-url".into(),
            database_url,
            "--database-max-connections".into(),
            "5".into(),
            "--client-origin".into(),
            "http://localhost:3000".into(),
            // Fast outbox retries, so delivery tests finish in seconds.
            "--email-poll-interval".into(),
            "0.2".into(),
            "--email-retry-base".into(),
            "0.2".into(),
            "--email-retry-max".into(),
            "1".into(),
        ];
        if !options.file_mailer {
            let port = options.smtp_port.unwrap_or(smtp.port);
            args.extend([
                "--email-host".into(),
                "127.0.0.1".into(),
                "--email-port".into(),
                port.to_string(),
                "--email-tls".into(),
                "none".into(),
                "--email-timeout".into(),
                "3".into(),
            ]);
        }
        args.extend(options.args);
        let settings = TestCli::try_parse_from(args)
            .expect("test settings parse")
            .config
            .into_settings()
            .expect("test settings are valid");

        let app = Application::build(settings).await.expect("server starts");
        let address = format!("http://{}", app.local_addr());
        let db = app.state().db.clone();
        let state = app.state().clone();
        let (shutdown, stopped) = oneshot::channel::<()>();
        let server = tokio::spawn(app.run_until(async move {
            let _ = stopped.await;
        }));
        let client = Client::builder()
            .cookie_store(true)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("build HTTP client");
        Self {
            address,
            client,
            db,
            state,
            smtp,
            data_dir,
            shutdown: Some(shutdown),
            server: Some(server),
        }
    }

    /// Stops the server gracefully and waits until it has stopped.
    pub async fn stop(mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        if let Some(server) = self.server.take() {
            server
                .await
                .expect("server task")
                .expect("server stops cleanly");
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.address, path)
    }

    /// A client without the cookie store, for header-only requests.
    pub fn bare_client(&self) -> Client {
        Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("build HTTP client")
    }

    pub async fn post_json(&self, path: &str, body: &Value) -> Response {
        self.client
            .post(self.url(path))
            .json(body)
            .send()
            .await
            .expect("request sent")
    }

    pub async fn get(&self, path: &str) -> Response {
        self.client
            .get(self.url(path))
            .send()
            .await
            .expect("request sent")
    }

    pub async fn get_with_token(&self, path: &str, token: &str) -> Response {
        self.bare_client()
            .get(self.url(path))
            .bearer_auth(token)
            .send()
            .await
            .expect("request sent")
    }

    /// Posts `body` as JSON with a bearer token and no cookies.
    pub async fn post_json_with_token(&self, path: &str, token: &str, body: &Value) -> Response {
        self.bare_client()
            .post(self.url(path))
            .bearer_auth(token)
            .json(body)
            .send()
            .await
            .expect("request sent")
    }

    pub async fn register(&self, name: &str, email: &str) -> Response {
        self.post_json(
            "/api/auth/register",
            &json!({ "name": name, "email": email, "password": PASSWORD, "passwordConfirm": PASSWORD }),
        )
        .await
    }

    pub async fn login(&self, email: &str, password: &str) -> Response {
        self.post_json(
            "/api/auth/login",
            &json!({ "email": email, "password": password }),
        )
        .await
    }

    /// Registers, verifies through the emailed link and logs in; returns the access token.
    pub async fn signed_in_user(&self, name: &str, email: &str) -> String {
        assert_eq!(
            self.register(name, email).await.status(),
            StatusCode::CREATED
        );
        let link = self.verification_link(email).await;
        let verified = self.client.get(&link).send().await.expect("request sent");
        assert_eq!(
            verified.status(),
            StatusCode::OK,
            "verification link {link} works"
        );
        let login = self.login(email, PASSWORD).await;
        assert_eq!(login.status(), StatusCode::OK);
        let body: Value = login.json().await.expect("login body is JSON");
        body["access_token"]
            .as_str()
            .expect("access_token in body")
            .to_owned()
    }

    /// Waits for the verification email to `email` and returns the link in it,
    /// rewritten to this server's address (the configured PUBLIC_URL is a dummy).
    pub async fn verification_link(&self, email: &str) -> String {
        let message = self.smtp.wait_for(email).await;
        let link = extract_link(&message.html, "/api/auth/verifyemail/")
            .unwrap_or_else(|| panic!("no verification link in the HTML body of {}", message.raw));
        self.local_link(&link)
    }

    /// Points a link from an email at this server, whatever PUBLIC_URL is.
    pub fn local_link(&self, link: &str) -> String {
        match link.find("/api/") {
            Some(path) => format!("{}{}", self.address, &link[path..]),
            None => link.to_owned(),
        }
    }

    /// Runs a statement against the test database, for setting up states
    /// that no route creates (an expired link, a deleted user).
    pub async fn execute(&self, sql: &'static str, text: &str) {
        on_pool!(&self.db, pool => {
            sqlx::query(sql).bind(text).execute(pool).await.expect("test SQL runs");
        });
    }

    pub fn signing_key_pem(&self) -> String {
        std::fs::read_to_string(self.data_dir.path().join("jwt-ed25519.pem"))
            .expect("generated key exists")
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
    }
}

/// Creates an empty database on the test PostgreSQL server and returns its URL.
pub async fn create_postgres_database() -> String {
    let admin_url = std::env::var("POSTGATE_TEST_DATABASE_URL").expect(
        "POSTGATE_TEST_DATABASE_URL is not set; run the suite with scripts/test.sh, which starts PostgreSQL",
    );
    let name = format!("postgate_test_{}", uuid::Uuid::new_v4().simple());
    let admin = sqlx::PgPool::connect(&admin_url)
        .await
        .expect("connect to the test PostgreSQL server");
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&admin)
        .await
        .expect("create the test database");
    admin.close().await;
    let mut url = url::Url::parse(&admin_url).expect("POSTGATE_TEST_DATABASE_URL is a URL");
    url.set_path(&name);
    url.to_string()
}

/// Returns the first `http…` link in `html` whose path contains `marker`.
pub fn extract_link(html: &str, marker: &str) -> Option<String> {
    let pattern = regex::Regex::new(r#"https?://[^"'\s<>]+"#).expect("valid regex");
    pattern
        .find_iter(html)
        .map(|m| m.as_str().replace("&amp;", "&"))
        .find(|link| link.contains(marker))
}

/// An email as the SMTP sink received it.
#[derive(Debug, Clone)]
pub struct ReceivedEmail {
    pub recipients: Vec<String>,
    pub subject: String,
    pub html: String,
    pub text: String,
    pub raw: String,
}

/// A minimal SMTP server on 127.0.0.1 that accepts every message.
#[derive(Clone)]
pub struct SmtpSink {
    pub port: u16,
    received: Arc<Mutex<Vec<ReceivedEmail>>>,
    arrived: Arc<Notify>,
    /// When set, every `RCPT TO` gets a permanent 550 rejection.
    reject_recipients: Arc<AtomicBool>,
    /// Number of `RCPT TO` commands seen, accepted or not.
    recipient_attempts: Arc<AtomicUsize>,
    /// Number of `AUTH` commands seen. The sink offers AUTH but no STARTTLS,
    /// so any AUTH it receives came over plain text.
    auth_attempts: Arc<AtomicUsize>,
}

impl SmtpSink {
    pub async fn start() -> Self {
        Self::start_on(0).await
    }

    /// Starts a sink on a given loopback port (0 picks a free one).
    pub async fn start_on(port: u16) -> Self {
        let listener = TcpListener::bind(("127.0.0.1", port))
            .await
            .expect("bind SMTP sink");
        let port = listener.local_addr().expect("sink address").port();
        let sink = Self {
            port,
            received: Arc::default(),
            arrived: Arc::default(),
            reject_recipients: Arc::default(),
            recipient_attempts: Arc::default(),
            auth_attempts: Arc::default(),
        };
        let accepting = sink.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let sink = accepting.clone();
                tokio::spawn(async move {
                    let _ = sink.converse(stream).await;
                });
            }
        });
        sink
    }

    async fn converse(&self, stream: tokio::net::TcpStream) -> std::io::Result<()> {
        let (read, mut write) = stream.into_split();
        let mut lines = BufReader::new(read);
        write.write_all(b"220 sink.test ESMTP ready\r\n").await?;
        let mut recipients = Vec::new();
        let mut line = String::new();
        loop {
            line.clear();
            if lines.read_line(&mut line).await? == 0 {
                return Ok(());
            }
            let command = line.trim_end().to_ascii_uppercase();
            if command.starts_with("EHLO") {
                write
                    .write_all(
                        b"250-sink.test\r\n250-8BITMIME\r\n250-AUTH PLAIN\r\n250 SMTPUTF8\r\n",
                    )
                    .await?;
            } else if command.starts_with("AUTH") {
                self.auth_attempts.fetch_add(1, Ordering::SeqCst);
                write
                    .write_all(b"235 2.7.0 Authentication successful\r\n")
                    .await?;
            } else if command.starts_with("HELO")
                || command.starts_with("MAIL FROM")
                || command == "RSET"
                || command == "NOOP"
            {
                if command == "RSET" {
                    recipients.clear();
                }
                write.write_all(b"250 OK\r\n").await?;
            } else if command.starts_with("RCPT TO") {
                let address = line.trim_end()[8..]
                    .trim()
                    .trim_start_matches('<')
                    .trim_end_matches('>')
                    .to_lowercase();
                self.recipient_attempts.fetch_add(1, Ordering::SeqCst);
                if self.reject_recipients.load(Ordering::SeqCst) {
                    write
                        .write_all(b"550 5.1.1 Mailbox unavailable\r\n")
                        .await?;
                    continue;
                }
                recipients.push(address);
                write.write_all(b"250 OK\r\n").await?;
            } else if command == "DATA" {
                write
                    .write_all(b"354 End data with <CR><LF>.<CR><LF>\r\n")
                    .await?;
                let mut data = String::new();
                loop {
                    line.clear();
                    if lines.read_line(&mut line).await? == 0 {
                        return Ok(());
                    }
                    if line == ".\r\n" || line == ".\n" {
                        break;
                    }
                    // Undo dot-stuffing (RFC 5321, section 4.5.2).
                    data.push_str(line.strip_prefix('.').unwrap_or(&line));
                }
                self.store(std::mem::take(&mut recipients), data);
                write.write_all(b"250 OK: queued\r\n").await?;
            } else if command == "QUIT" {
                write.write_all(b"221 Bye\r\n").await?;
                return Ok(());
            } else {
                write.write_all(b"502 Command not implemented\r\n").await?;
            }
        }
    }

    fn store(&self, recipients: Vec<String>, raw: String) {
        let parsed = mail_parser::MessageParser::default().parse(raw.as_bytes());
        let (subject, html, text) = match &parsed {
            Some(message) => (
                message.subject().unwrap_or_default().to_owned(),
                message
                    .body_html(0)
                    .map(|b| b.into_owned())
                    .unwrap_or_default(),
                message
                    .body_text(0)
                    .map(|b| b.into_owned())
                    .unwrap_or_default(),
            ),
            None => Default::default(),
        };
        self.received
            .lock()
            .expect("sink lock")
            .push(ReceivedEmail {
                recipients,
                subject,
                html,
                text,
                raw,
            });
        self.arrived.notify_waiters();
    }

    /// Makes the sink reject every recipient permanently (SMTP 550).
    pub fn reject_all_recipients(&self) {
        self.reject_recipients.store(true, Ordering::SeqCst);
    }

    /// Number of `RCPT TO` commands seen so far.
    pub fn auth_attempts(&self) -> usize {
        self.auth_attempts.load(Ordering::SeqCst)
    }

    pub fn recipient_attempts(&self) -> usize {
        self.recipient_attempts.load(Ordering::SeqCst)
    }

    /// All emails received so far.
    pub fn received(&self) -> Vec<ReceivedEmail> {
        self.received.lock().expect("sink lock").clone()
    }

    /// Emails received so far for `address`.
    pub fn received_for(&self, address: &str) -> Vec<ReceivedEmail> {
        let address = address.to_lowercase();
        self.received()
            .into_iter()
            .filter(|email| email.recipients.contains(&address))
            .collect()
    }

    /// Waits up to 10 seconds for an email to `address` and returns the latest one.
    pub async fn wait_for(&self, address: &str) -> ReceivedEmail {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            let arrived = self.arrived.notified();
            if let Some(email) = self.received_for(address).pop() {
                return email;
            }
            if tokio::time::timeout_at(deadline, arrived).await.is_err() {
                panic!("no email to {address} arrived within 10 seconds");
            }
        }
    }
}

/// Returns a loopback port that nothing listens on right now.
pub async fn closed_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    listener.local_addr().expect("address").port()
}

/// Returns the outbox rows as (status, attempts), oldest first.
pub async fn outbox_rows(app: &TestApp) -> Vec<(String, i32)> {
    on_pool!(&app.db, pool => {
        sqlx::query_as("SELECT status, attempts FROM email_outbox ORDER BY created_at, id")
            .fetch_all(pool)
            .await
            .expect("outbox query")
    })
}

/// Polls `check` every 50 ms until it returns true, failing after `seconds`.
pub async fn wait_until<F, Fut>(seconds: u64, what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + Duration::from_secs(seconds);
    while !check().await {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out after {seconds} s waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Reads a JSON body, failing the test with the raw text when it is not JSON.
pub async fn json_body(response: Response) -> Value {
    let text = response.text().await.expect("response body");
    serde_json::from_str(&text).unwrap_or_else(|_| panic!("body is not JSON: {text:?}"))
}

/// Asserts status and `{"detail": ...}` body of an error response.
pub async fn assert_detail(response: Response, status: StatusCode, detail: &str) {
    assert_eq!(response.status(), status, "status");
    let body = json_body(response).await;
    assert_eq!(body, json!({ "detail": detail }));
}

/// Asserts a 422 whose first error has this `loc` and `type`.
pub async fn assert_validation(response: Response, loc: Value, kind: &str) -> Value {
    assert_eq!(
        response.status(),
        StatusCode::UNPROCESSABLE_ENTITY,
        "status"
    );
    let body = json_body(response).await;
    let errors = body["detail"]
        .as_array()
        .unwrap_or_else(|| panic!("detail is a list: {body}"));
    let found = errors
        .iter()
        .find(|e| e["loc"] == loc)
        .unwrap_or_else(|| panic!("no error at {loc} in {body}"));
    assert_eq!(found["type"], json!(kind), "type of the error at {loc}");
    assert!(
        found["msg"].as_str().is_some_and(|m| !m.is_empty()),
        "msg is set"
    );
    found.clone()
}
