//! A minimal WebDriver client that drives Debian's headless Chromium through
//! chromedriver, for the tests of Swagger UI at `/docs`.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

/// The key under which WebDriver returns an element reference.
const ELEMENT_KEY: &str = "element-6066-11e4-a52e-4f735466cecf";

/// A headless Chromium session. Dropping it ends the browser and the driver.
pub struct Browser {
    driver: Child,
    base: String,
    session: String,
    http: reqwest::Client,
    net_log: PathBuf,
    _profile: tempfile::TempDir,
}

impl Browser {
    /// Starts chromedriver on a free loopback port and opens a browser whose
    /// host lookups all fail except for 127.0.0.1, so a page that needs
    /// another host breaks instead of reaching out.
    pub async fn start() -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let driver = Command::new("chromedriver")
            .arg(format!("--port={port}"))
            .arg("--allowed-ips=127.0.0.1")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect(
                "chromedriver is installed (scripts/test.sh installs Debian's chromium-driver)",
            );
        let base = format!("http://127.0.0.1:{port}");
        let http = reqwest::Client::new();
        let deadline = Instant::now() + Duration::from_secs(20);
        while http.get(format!("{base}/status")).send().await.is_err() {
            assert!(
                Instant::now() < deadline,
                "chromedriver did not start within 20 seconds"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }

        let profile = tempfile::tempdir().unwrap();
        let net_log = profile.path().join("net-log.json");
        let args = [
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
            "--disable-features=NetworkTimeServiceQuerying,OptimizationHints,MediaRouter,Translate",
            "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
        ]
        .map(str::to_owned)
        .into_iter()
        .chain([
            format!(
                "--user-data-dir={}",
                profile.path().join("profile").display()
            ),
            format!("--log-net-log={}", net_log.display()),
        ])
        .collect::<Vec<_>>();
        let capabilities = json!({
            "capabilities": {
                "alwaysMatch": {
                    "browserName": "chrome",
                    "goog:chromeOptions": { "binary": "/usr/bin/chromium", "args": args },
                }
            }
        });
        let mut browser = Self {
            driver,
            base,
            session: String::new(),
            http,
            net_log,
            _profile: profile,
        };
        let created = browser.command("POST", "/session", capabilities).await;
        browser.session = created["sessionId"]
            .as_str()
            .expect("session id")
            .to_owned();
        browser
    }

    async fn command(&self, method: &str, path: &str, body: Value) -> Value {
        let url = if self.session.is_empty() {
            format!("{}{path}", self.base)
        } else {
            format!("{}/session/{}{path}", self.base, self.session)
        };
        let request = match method {
            "GET" => self.http.get(url),
            "DELETE" => self.http.delete(url),
            _ => self.http.post(url).json(&body),
        };
        let response: Value = request.send().await.unwrap().json().await.unwrap();
        let value = response["value"].clone();
        assert!(
            value.get("error").is_none(),
            "WebDriver {method} {path} failed: {value}"
        );
        value
    }

    pub async fn open(&self, url: &str) {
        self.command("POST", "/url", json!({ "url": url })).await;
    }

    /// Runs `script` in the page, with `args` as its `arguments`, and returns its result.
    pub async fn run(&self, script: &str, args: Value) -> Value {
        self.command(
            "POST",
            "/execute/sync",
            json!({ "script": script, "args": args }),
        )
        .await
    }

    /// Runs `script` until it returns something other than null or false,
    /// and returns that; fails after `seconds`.
    pub async fn wait_for(
        &self,
        description: &str,
        seconds: u64,
        script: &str,
        args: Value,
    ) -> Value {
        let deadline = Instant::now() + Duration::from_secs(seconds);
        loop {
            let value = self.run(script, args.clone()).await;
            if !(value.is_null() || value == json!(false)) {
                return value;
            }
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {description}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    pub async fn click(&self, element: &Value) {
        let id = element_id(element);
        self.command("POST", &format!("/element/{id}/click"), json!({}))
            .await;
    }

    pub async fn type_into(&self, element: &Value, text: &str) {
        let id = element_id(element);
        self.command(
            "POST",
            &format!("/element/{id}/value"),
            json!({ "text": text }),
        )
        .await;
    }

    /// Ends the session and returns every URL that the browser requested,
    /// read from Chromium's network log.
    pub async fn finish(mut self) -> Vec<String> {
        self.command("DELETE", "", json!({})).await;
        let _ = self.driver.kill();
        let _ = self.driver.wait();
        requested_urls(&self.net_log)
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

fn element_id(element: &Value) -> String {
    element[ELEMENT_KEY]
        .as_str()
        .unwrap_or_else(|| panic!("not an element reference: {element}"))
        .to_owned()
}

fn requested_urls(net_log: &Path) -> Vec<String> {
    let log = std::fs::read_to_string(net_log).unwrap_or_default();
    regex::Regex::new(r#""url":"([^"]+)""#)
        .unwrap()
        .captures_iter(&log)
        .map(|capture| capture[1].to_owned())
        .collect()
}
