//! The `postgate` binary: start-up checks, `migrate`, configured RS256 keys,
//! and graceful shutdown on SIGTERM.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const BINARY: &str = env!("CARGO_BIN_EXE_postgate");

/// A command for the binary with a clean environment, so settings from the
/// developer's shell or a `.env` file do not leak in.
fn postgate(dir: &Path) -> Command {
    let mut command = Command::new(BINARY);
    command
        .current_dir(dir)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default());
    command
}

fn run_failing(env: &[(&str, &str)]) -> String {
    let dir = tempfile::tempdir().unwrap();
    let output = postgate(dir.path())
        .envs(env.iter().copied())
        .output()
        .expect("binary runs");
    assert_eq!(
        output.status.code(),
        Some(2),
        "start with {env:?} fails as invalid settings, not as a crash"
    );
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[test]
fn invalid_settings_are_named() {
    let cases: &[(&[(&str, &str)], &str)] = &[
        (&[("PORT", "abc")], "--port"),
        (&[("PUBLIC_URL", "ftp://example.com")], "PUBLIC_URL"),
        (&[("DATABASE_URL", "mysql://localhost/db")], "DATABASE_URL"),
        (&[("CLIENT_ORIGIN", "not a url")], "CLIENT_ORIGIN"),
        (&[("JWT_PRIVATE_KEY", "abc")], "JWT_PUBLIC_KEY"),
        (
            &[("JWT_PRIVATE_KEY", "!!!"), ("JWT_PUBLIC_KEY", "!!!")],
            "JWT_PRIVATE_KEY",
        ),
        (
            &[("ACCESS_TOKEN_EXPIRES_IN", "0")],
            "ACCESS_TOKEN_EXPIRES_IN",
        ),
        (&[("EMAIL_FROM", "nobody")], "EMAIL_FROM"),
        (&[("EMAIL_URL", "http://mail.example.com")], "EMAIL_URL"),
        (&[("POSTGRES_HOSTNAME", "db.internal")], "POSTGRES_USER"),
        (&[("EMAIL_TLS", "maybe")], "--email-tls"),
        (&[("JWT_ALGORITHM", "HS256")], "JWT_ALGORITHM"),
        (
            &[("EMAIL_URL", "smtp://mail.example.com?tls=bogus")],
            "EMAIL_URL",
        ),
        (&[("RATE_LIMIT_LOGIN_IP", "lots")], "RATE_LIMIT_LOGIN_IP"),
        // Values so large that date arithmetic would overflow.
        (
            &[("RATE_LIMIT_LOGIN_IP", "1/99999999999999999d")],
            "RATE_LIMIT_LOGIN_IP",
        ),
        (
            &[("VERIFICATION_TOKEN_EXPIRES_IN", "999999999999")],
            "VERIFICATION_TOKEN_EXPIRES_IN",
        ),
        (
            &[("REFRESH_TOKEN_EXPIRES_IN", "999999999999")],
            "REFRESH_TOKEN_EXPIRES_IN",
        ),
        (
            &[("ACCESS_TOKEN_EXPIRES_IN", "307445734561825861")],
            "ACCESS_TOKEN_EXPIRES_IN",
        ),
        (
            &[("RESET_TOKEN_EXPIRES_IN", "525601")],
            "RESET_TOKEN_EXPIRES_IN",
        ),
        (
            &[("REFRESH_TOKEN_REUSE_INTERVAL", "10000000000000")],
            "REFRESH_TOKEN_REUSE_INTERVAL",
        ),
        (&[("EMAIL_LEASE", "1e13")], "EMAIL_LEASE"),
        (&[("EMAIL_RETRY_MAX", "inf")], "EMAIL_RETRY_MAX"),
        (&[("EMAIL_TIMEOUT", "99999999999")], "EMAIL_TIMEOUT"),
        (&[("REQUEST_TIMEOUT", "99999999999")], "REQUEST_TIMEOUT"),
        // A unit that is not ASCII must not split a character.
        (&[("RATE_LIMIT_LOGIN_IP", "10/5é")], "RATE_LIMIT_LOGIN_IP"),
        (&[("RATE_LIMIT_EMAIL_IP", "5/1ч")], "RATE_LIMIT_EMAIL_IP"),
        (
            &[("DATABASE_MAX_CONNECTIONS", "4294967295")],
            "DATABASE_MAX_CONNECTIONS",
        ),
        (&[("EMAIL_POLL_INTERVAL", "1e-9")], "EMAIL_POLL_INTERVAL"),
        (
            &[("EMAIL_LEASE", "5"), ("EMAIL_TIMEOUT", "10")],
            "EMAIL_LEASE",
        ),
        (
            &[("PUBLIC_URL", "http://user:pw@example.com")],
            "PUBLIC_URL",
        ),
        (
            &[("CLIENT_ORIGIN", "http://*.example.com")],
            "CLIENT_ORIGIN",
        ),
        (
            &[("CLIENT_ORIGIN", "http://%2A.example.com")],
            "CLIENT_ORIGIN",
        ),
        (
            &[("CLIENT_ORIGIN", "http://user:pw@example.com")],
            "CLIENT_ORIGIN",
        ),
        (
            &[("CLIENT_ORIGIN", "http://example.com/path")],
            "CLIENT_ORIGIN",
        ),
        (&[("PUBLIC_URL", "http://example.com:0")], "PUBLIC_URL"),
        (
            &[("EMAIL_HOST", "127.0.0.1"), ("EMAIL_PORT", "0")],
            "EMAIL_PORT",
        ),
        (
            &[("RATE_LIMIT_LOGIN_IP", "4294967295/1s")],
            "RATE_LIMIT_LOGIN_IP",
        ),
        // SMTP credentials must not travel without TLS.
        (
            &[(
                "EMAIL_URL",
                "smtp://u:pw@mail.example.com?tls=opportunistic",
            )],
            "EMAIL_URL",
        ),
        (
            &[("EMAIL_URL", "smtp://u:pw@mail.example.com")],
            "EMAIL_URL",
        ),
        (&[("TRUSTED_PROXIES", "not-an-ip")], "TRUSTED_PROXIES"),
        (
            &[("RESET_PASSWORD_URL", "https://app.example.com/reset")],
            "RESET_PASSWORD_URL",
        ),
    ];
    for (env, name) in cases {
        let stderr = run_failing(env);
        assert!(
            stderr.contains(name),
            "{env:?}: message should name {name}: {stderr}"
        );
    }
}

#[test]
fn malformed_env_file_stops_start() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join(".env"),
        "PORT=0\nbad line here\nACCESS_TOKEN_EXPIRES_IN=0\n",
    )
    .unwrap();
    let output = postgate(dir.path()).output().unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains(".env"), "{stderr}");

    // The value of a line that does not parse may be a password.
    std::fs::write(
        dir.path().join(".env"),
        "EMAIL_PASSWORD=hunter2 with spaces
",
    )
    .unwrap();
    let output = postgate(dir.path()).output().unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("line 1 (EMAIL_PASSWORD)"), "{stderr}");
    assert!(
        !stderr.contains("hunter2"),
        "the value was printed: {stderr}"
    );
}

#[test]
fn mismatched_rsa_keys_stop_start() {
    let dir = tempfile::tempdir().unwrap();
    let (private_a, _) = rsa_key_pair(dir.path(), "a");
    let (_, public_b) = rsa_key_pair(dir.path(), "b");
    let output = postgate(dir.path())
        .env("JWT_PRIVATE_KEY", private_a)
        .env("JWT_PUBLIC_KEY", public_b)
        .env("PORT", "0")
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("JWT_PUBLIC_KEY does not match JWT_PRIVATE_KEY"),
        "{stderr}"
    );
}

/// Generates an RSA key pair with the openssl command and returns both
/// halves as base64 of PEM, the form the reference app's `.env` uses.
fn rsa_key_pair(dir: &Path, name: &str) -> (String, String) {
    use base64::Engine;
    let private = dir.join(format!("{name}.pem"));
    let public = dir.join(format!("{name}.pub.pem"));
    let status = Command::new("openssl")
        .args([
            "genpkey",
            "-algorithm",
            "RSA",
            "-pkeyopt",
            "rsa_keygen_bits:2048",
            "-out",
        ])
        .arg(&private)
        .stderr(Stdio::null())
        .status()
        .expect("openssl is installed (scripts/test.sh installs it)");
    assert!(status.success());
    let status = Command::new("openssl")
        .args(["pkey", "-pubout", "-in"])
        .arg(&private)
        .arg("-out")
        .arg(&public)
        .status()
        .unwrap();
    assert!(status.success());
    let encode = |path: &Path| {
        base64::engine::general_purpose::STANDARD.encode(std::fs::read(path).unwrap())
    };
    (encode(&private), encode(&public))
}

/// Starts the server and waits for its "listening" log line; returns the
/// child and the bound address.
fn start_server(command: &mut Command) -> (Child, String) {
    let (child, address, _) = start_server_with_logs(command);
    (child, address)
}

/// Like [`start_server`], and also returns the server's later stdout lines.
fn start_server_with_logs(
    command: &mut Command,
) -> (Child, String, std::sync::mpsc::Receiver<String>) {
    let mut child = command
        .env("PORT", "0")
        .env("RUST_LOG", "info")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("server starts");
    let stdout = child.stdout.take().unwrap();
    let (sender, receiver) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = sender.send(line);
        }
    });
    let deadline = Instant::now() + Duration::from_secs(30);
    let address = loop {
        let line = receiver
            .recv_timeout(deadline.saturating_duration_since(Instant::now()))
            .expect("server logs that it listens within 30 seconds");
        if line.contains("postgate listening") {
            // Text lines contain `addr=127.0.0.1:1234`, JSON lines `"addr":"127.0.0.1:1234"`.
            let address = line
                .split("addr=")
                .nth(1)
                .or_else(|| line.split("\"addr\":\"").nth(1))
                .expect("address in log line");
            break address
                .split(|c: char| c.is_whitespace() || c == '"')
                .next()
                .unwrap()
                .to_owned();
        }
    };
    (child, address, receiver)
}

fn stop_with_sigterm(mut child: Child) -> std::process::ExitStatus {
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        assert!(
            Instant::now() < deadline,
            "server did not stop within 15 seconds of SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn http_get(address: &str, path: &str) -> String {
    http_request(address, "GET", path, &[], "")
}

/// Sends one HTTP/1.1 request and returns the whole response as text.
fn http_request(address: &str, method: &str, path: &str, headers: &[&str], body: &str) -> String {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(address).unwrap();
    let mut request =
        format!("{method} {path} HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n");
    for header in headers {
        request.push_str(header);
        request.push_str("\r\n");
    }
    request.push_str(&format!("Content-Length: {}\r\n\r\n{body}", body.len()));
    stream.write_all(request.as_bytes()).unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    response
}

#[test]
fn default_start_and_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let (child, address) = start_server(&mut postgate(dir.path()));
    let response = http_get(&address, "/api/healthchecker");
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    assert!(
        response.contains(r#"{"message":"Hello World"}"#),
        "{response}"
    );

    let key = dir.path().join("data/jwt-ed25519.pem");
    assert!(key.exists(), "signing key generated into ./data");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&key).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "key file mode");
    }
    assert!(
        dir.path().join("data/postgate.db").exists(),
        "SQLite file under ./data"
    );
    assert!(
        dir.path().join("data/outbox").is_dir(),
        "email folder under ./data"
    );

    let status = stop_with_sigterm(child);
    assert!(status.success(), "graceful stop exits 0, got {status}");
}

#[test]
fn empty_settings_count_as_unset() {
    let dir = tempfile::tempdir().unwrap();
    let mut command = postgate(dir.path());
    for name in [
        "DATABASE_URL",
        "EMAIL_HOST",
        "EMAIL_URL",
        "PUBLIC_URL",
        "JWT_PRIVATE_KEY",
        "JWT_PUBLIC_KEY",
    ] {
        command.env(name, "");
    }
    let (child, address) = start_server(&mut command);
    assert!(http_get(&address, "/readyz").starts_with("HTTP/1.1 200"));
    assert!(
        dir.path().join("data/postgate.db").exists(),
        "empty DATABASE_URL means the SQLite default"
    );
    assert!(stop_with_sigterm(child).success());
}

#[test]
fn configured_rsa_keys_serve() {
    let dir = tempfile::tempdir().unwrap();
    let (private, public) = rsa_key_pair(dir.path(), "server");
    let mut command = postgate(dir.path());
    command
        .env("JWT_PRIVATE_KEY", private)
        .env("JWT_PUBLIC_KEY", public)
        .env("JWT_ALGORITHM", "RS256");
    let (child, address) = start_server(&mut command);
    assert!(http_get(&address, "/readyz").starts_with("HTTP/1.1 200"));
    assert!(
        !dir.path().join("data/jwt-ed25519.pem").exists(),
        "no key generated when one is configured"
    );
    assert!(stop_with_sigterm(child).success());
}

#[test]
fn migrate_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let output = postgate(dir.path()).arg("migrate").output().unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(dir.path().join("data/postgate.db").exists());
    // Running it again is a no-op.
    let again = postgate(dir.path()).arg("migrate").output().unwrap();
    assert!(again.status.success());
}

#[test]
fn migrate_postgres() {
    let admin = std::env::var("POSTGATE_TEST_DATABASE_URL")
        .expect("POSTGATE_TEST_DATABASE_URL is not set; run the suite with scripts/test.sh");
    let name = format!("postgate_cli_{}", uuid::Uuid::new_v4().simple());
    let created = Command::new("psql")
        .args([
            admin.as_str(),
            "-q",
            "-c",
            &format!("CREATE DATABASE {name}"),
        ])
        .status()
        .expect("psql is installed with PostgreSQL");
    assert!(created.success());
    let mut url = url::Url::parse(&admin).unwrap();
    url.set_path(&name);

    let dir = tempfile::tempdir().unwrap();
    for _ in 0..2 {
        let output = postgate(dir.path())
            .arg("migrate")
            .env("DATABASE_URL", url.as_str())
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    let tables = Command::new("psql")
        .args([url.as_str(), "-At", "-c", "SELECT string_agg(table_name, ',' ORDER BY table_name) FROM information_schema.tables WHERE table_schema = 'public'"])
        .output()
        .unwrap();
    let tables = String::from_utf8_lossy(&tables.stdout);
    assert!(tables.contains("posts,sessions,users"), "{tables}");
}

#[test]
fn json_logs_describe_requests_without_secrets() {
    let dir = tempfile::tempdir().unwrap();
    let (child, address, logs) =
        start_server_with_logs(postgate(dir.path()).env("LOG_FORMAT", "json"));

    let password = "Sekrit-Passw0rd-in-body";
    let bearer = "bearer-secret-value";
    let cookie = "cookie-secret-value";
    let path_token = "path-secret-token";
    let login = http_request(
        &address,
        "POST",
        "/api/auth/login",
        &[
            "Content-Type: application/json",
            "X-Request-Id: login-request-1",
        ],
        &format!(r#"{{"email":"nobody@example.com","password":"{password}"}}"#),
    );
    assert!(login.starts_with("HTTP/1.1 400"), "{login}");
    let me = http_request(
        &address,
        "GET",
        "/api/users/me",
        &[
            &format!("Authorization: Bearer {bearer}"),
            &format!("Cookie: access_token={cookie}"),
        ],
        "",
    );
    assert!(me.starts_with("HTTP/1.1 401"), "{me}");
    let verify = http_get(&address, &format!("/api/auth/verifyemail/{path_token}"));
    assert!(verify.starts_with("HTTP/1.1 4"), "{verify}");
    let reset = http_get(
        &address,
        &format!("/api/auth/reset-password?token={path_token}"),
    );
    assert!(reset.starts_with("HTTP/1.1"), "{reset}");
    assert!(stop_with_sigterm(child).success());

    let lines: Vec<String> = logs.try_iter().collect();
    let finished: Vec<serde_json::Value> = lines
        .iter()
        .map(|line| {
            serde_json::from_str::<serde_json::Value>(line)
                .unwrap_or_else(|_| panic!("JSON log line: {line}"))
        })
        .filter(|line| line["message"] == "request finished")
        .collect();
    let login_line = finished
        .iter()
        .find(|line| line["span"]["request_id"] == "login-request-1")
        .unwrap_or_else(|| panic!("a line for the login request: {lines:#?}"));
    assert_eq!(login_line["span"]["method"], "POST");
    assert_eq!(login_line["span"]["route"], "/api/auth/login");
    assert_eq!(login_line["status"], 400);
    assert!(login_line["latency_ms"].is_number(), "{login_line}");
    assert!(
        finished
            .iter()
            .any(|line| line["span"]["route"] == "/api/auth/verifyemail/{token}"),
        "the route template, not the path, is logged: {lines:#?}"
    );
    for line in &lines {
        for secret in [password, bearer, cookie, path_token] {
            assert!(!line.contains(secret), "a secret reached the log: {line}");
        }
    }
}

#[test]
fn help_lists_every_setting() {
    let dir = tempfile::tempdir().unwrap();
    let output = postgate(dir.path()).arg("--help").output().unwrap();
    assert!(output.status.success());
    let help = String::from_utf8_lossy(&output.stdout);
    let settings = [
        ("HOST", Some("127.0.0.1")),
        ("PORT", Some("8000")),
        ("PUBLIC_URL", None),
        ("DATA_DIR", Some("./data")),
        ("DATABASE_URL", None),
        ("DATABASE_MAX_CONNECTIONS", Some("10")),
        ("JWT_PRIVATE_KEY", None),
        ("JWT_PUBLIC_KEY", None),
        ("JWT_VERIFICATION_KEYS", None),
        ("JWT_ALGORITHM", Some("RS256")),
        ("ACCESS_TOKEN_EXPIRES_IN", Some("15")),
        ("REFRESH_TOKEN_EXPIRES_IN", Some("60")),
        ("REFRESH_TOKEN_REUSE_INTERVAL", Some("10")),
        ("CLIENT_ORIGIN", None),
        ("EMAIL_HOST", None),
        ("EMAIL_URL", None),
        ("EMAIL_PASSWORD", None),
        ("RATE_LIMIT_LOGIN_ACCOUNT", Some("10/15m")),
        ("TRUSTED_PROXIES", None),
        ("LOG_FORMAT", Some("text")),
        ("REQUEST_TIMEOUT", Some("30")),
    ];
    for (name, default) in settings {
        assert!(
            help.contains(&format!("[env: {name}")),
            "{name} in --help:\n{help}"
        );
        if let Some(default) = default {
            assert!(
                help.contains(&format!("[default: {default}]")),
                "default of {name}"
            );
        }
    }
    for unit in ["in minutes", "in seconds"] {
        assert!(help.contains(unit), "units are named: {unit}");
    }
    let subcommand = postgate(dir.path())
        .args(["config", "check", "--help"])
        .output()
        .unwrap();
    let subcommand = String::from_utf8_lossy(&subcommand.stdout);
    assert!(
        subcommand.contains("[env: DATABASE_URL"),
        "subcommand help lists the settings"
    );
}

#[test]
fn config_check_masks_secrets() {
    let dir = tempfile::tempdir().unwrap();
    let (private, public) = rsa_key_pair(dir.path(), "check");
    let output = postgate(dir.path())
        .env(
            "DATABASE_URL",
            "postgres://app:db-secret-pw@db.internal:5432/app",
        )
        .env("EMAIL_HOST", "smtp.internal")
        .env("EMAIL_USERNAME", "mailer")
        .env("EMAIL_PASSWORD", "smtp-secret-pw")
        .env("JWT_PRIVATE_KEY", &private)
        .env("JWT_PUBLIC_KEY", &public)
        .env("RATE_LIMIT_LOGIN_IP", "off")
        .args(["config", "check"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    for line in [
        "DATABASE_URL=postgres://app:********@db.internal:5432/app",
        "EMAIL_HOST=smtp.internal",
        "EMAIL_PASSWORD=********",
        "RATE_LIMIT_LOGIN_IP=off",
        "ACCESS_TOKEN_EXPIRES_IN=15m",
    ] {
        assert!(stdout.lines().any(|l| l == line), "{line} in:\n{stdout}");
    }
    assert!(
        stdout.contains("JWT_PRIVATE_KEY=******** (RS256, kid "),
        "{stdout}"
    );
    for secret in ["db-secret-pw", "smtp-secret-pw", &private[..40], "BEGIN"] {
        assert!(!stdout.contains(secret), "a secret was printed: {stdout}");
    }
    assert!(!dir.path().join("data").exists(), "a check creates nothing");
}

#[test]
fn config_check_rejects_invalid_settings() {
    let dir = tempfile::tempdir().unwrap();
    let (private_a, _) = rsa_key_pair(dir.path(), "a");
    let (_, public_b) = rsa_key_pair(dir.path(), "b");
    let cases: &[(&[(&str, &str)], &str)] = &[
        (
            &[
                ("JWT_PRIVATE_KEY", &private_a),
                ("JWT_PUBLIC_KEY", &public_b),
            ],
            "does not match",
        ),
        (&[("EMAIL_URL", "ftp://mail")], "EMAIL_URL"),
        (&[("REQUEST_TIMEOUT", "0")], "REQUEST_TIMEOUT"),
        (
            &[("JWT_VERIFICATION_KEYS", "bm90IGEga2V5")],
            "JWT_VERIFICATION_KEYS",
        ),
    ];
    for (env, expected) in cases {
        let output = postgate(dir.path())
            .envs(env.iter().copied())
            .args(["config", "check"])
            .output()
            .unwrap();
        assert_eq!(output.status.code(), Some(2), "{env:?}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains(expected), "{expected} in {stderr}");
        assert!(
            output.stdout.is_empty(),
            "nothing printed for an invalid configuration"
        );
    }
}
