//! A real headless browser for the dashboard's tests: Debian's `chromium`, driven by its
//! `chromedriver` over W3C WebDriver (plain HTTP/1.1 on loopback, a few calls, so no client crate).
//! `scripts/install-browser.sh` installs both; a missing one fails the test with that command.
//! Each test gets its own driver on a free port and its own profile directory, removed at the end.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::{json, Value};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;
use tokio::process::{Child, Command};

use crate::helpers::DEADLINE;

/// The browser and its driver, by environment or Debian's paths.
fn binaries() -> (PathBuf, PathBuf) {
    let path = |var: &str, default: &str| {
        std::env::var_os(var).map_or_else(|| PathBuf::from(default), PathBuf::from)
    };
    let chromium = path("BUENDEL_CHROMIUM", "/usr/bin/chromium");
    let driver = path("BUENDEL_CHROMEDRIVER", "/usr/bin/chromedriver");
    for binary in [&chromium, &driver] {
        assert!(
            binary.exists(),
            "{} is missing: run scripts/install-browser.sh (Debian's chromium and chromium-driver)",
            binary.display()
        );
    }
    (chromium, driver)
}

/// One browser session.
pub struct Browser {
    driver: Child,
    port: u16,
    session: String,
    profile: PathBuf,
}

impl Browser {
    /// Starts chromedriver on a free port and opens a headless session of `width`×`height`.
    pub async fn start(width: u32, height: u32) -> Browser {
        let (chromium, driver_path) = binaries();
        let port = buendel_testing::free_port();
        let profile =
            std::env::temp_dir().join(format!("buendel-chromium-{}", uuid::Uuid::new_v4()));
        let driver = Command::new(driver_path)
            .arg(format!("--port={port}"))
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("chromedriver starts");
        let mut browser = Browser {
            driver,
            port,
            session: String::new(),
            profile,
        };
        let deadline = tokio::time::Instant::now() + DEADLINE;
        loop {
            if let Ok(status) = browser.call("GET", "/status", None).await {
                if status["value"]["ready"] == true {
                    break;
                }
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "chromedriver did not get ready on port {port}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        // The flags of a machine without outside access: no background connections, no updates.
        let args = [
            "--headless=new".to_owned(),
            "--no-sandbox".to_owned(),
            "--disable-gpu".to_owned(),
            "--disable-quic".to_owned(),
            "--no-first-run".to_owned(),
            "--disable-background-networking".to_owned(),
            "--disable-component-update".to_owned(),
            "--disable-sync".to_owned(),
            "--disable-dev-shm-usage".to_owned(),
            format!("--window-size={width},{height}"),
            format!("--user-data-dir={}", browser.profile.display()),
        ];
        let capabilities = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {"binary": chromium, "args": args},
            "goog:loggingPrefs": {"browser": "ALL"},
        }}});
        let reply = browser
            .call("POST", "/session", Some(&capabilities))
            .await
            .expect("a browser session opens");
        browser.session = reply["value"]["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no session id in {reply}"))
            .to_owned();
        browser
    }

    /// Opens `url`.
    pub async fn open(&self, url: &str) {
        self.session_call("POST", "url", Some(&json!({ "url": url })))
            .await;
    }

    /// Runs `script` (a function body; `arguments[i]` are `args`) and returns what it returns.
    pub async fn run(&self, script: &str, args: Value) -> Value {
        let reply = self
            .session_call(
                "POST",
                "execute/sync",
                Some(&json!({"script": script, "args": args})),
            )
            .await;
        reply["value"].clone()
    }

    /// Polls `script` until it returns something truthy (not `null`, `false`, `""` or 0).
    pub async fn wait_for(&self, what: &str, script: &str) -> Value {
        let deadline = tokio::time::Instant::now() + DEADLINE;
        loop {
            let value = self.run(script, json!([])).await;
            let truthy = match &value {
                Value::Null | Value::Bool(false) => false,
                Value::String(s) => !s.is_empty(),
                Value::Number(n) => n.as_f64() != Some(0.0),
                _ => true,
            };
            if truthy {
                return value;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "the page did not show {what} within {DEADLINE:?}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Resizes the window (a phone: 390×844).
    pub async fn resize(&self, width: u32, height: u32) {
        self.session_call(
            "POST",
            "window/rect",
            Some(&json!({"width": width, "height": height})),
        )
        .await;
    }

    /// Writes a PNG of the window to `path`.
    pub async fn screenshot(&self, path: &Path) {
        use base64::Engine as _;
        let reply = self.session_call("GET", "screenshot", None).await;
        let png = base64::engine::general_purpose::STANDARD
            .decode(reply["value"].as_str().unwrap_or_default())
            .expect("the screenshot is base64");
        assert!(png.starts_with(b"\x89PNG"), "the screenshot is a PNG");
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).expect("the artefact directory");
        }
        std::fs::write(path, png).expect("the screenshot is written");
    }

    /// The browser's log entries since the last call (console messages, failed loads, errors).
    pub async fn log(&self) -> Vec<Value> {
        let reply = self
            .session_call("POST", "se/log", Some(&json!({"type": "browser"})))
            .await;
        reply["value"].as_array().cloned().unwrap_or_default()
    }

    /// Ends the session and the driver and removes the profile.
    pub async fn close(mut self) {
        let _ = self
            .call("DELETE", &format!("/session/{}", self.session), None)
            .await;
        let _ = self.driver.kill().await;
        let _ = std::fs::remove_dir_all(&self.profile);
    }

    async fn session_call(&self, method: &str, path: &str, body: Option<&Value>) -> Value {
        let path = format!("/session/{}/{path}", self.session);
        let reply = self
            .call(method, &path, body)
            .await
            .unwrap_or_else(|e| panic!("WebDriver {method} {path}: {e}"));
        assert!(
            reply["value"].get("error").is_none(),
            "WebDriver {method} {path}: {reply}"
        );
        reply
    }

    /// One WebDriver call: HTTP/1.1 with `Connection: close`, the body read to its end.
    async fn call(&self, method: &str, path: &str, body: Option<&Value>) -> anyhow::Result<Value> {
        let body = body.map(Value::to_string).unwrap_or_default();
        let mut stream = TcpStream::connect(("127.0.0.1", self.port)).await?;
        let request = format!(
            "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nContent-Type: application/json\r\n\
             Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
            self.port,
            body.len()
        );
        stream.write_all(request.as_bytes()).await?;
        // chromedriver keeps the connection open despite `Connection: close`: read the headers,
        // then exactly the body they announce.
        let read = async {
            let mut raw = Vec::new();
            let mut buffer = [0u8; 16 * 1024];
            loop {
                if let Some(split) = raw.windows(4).position(|w| w == b"\r\n\r\n") {
                    let head = String::from_utf8_lossy(&raw[..split]).to_ascii_lowercase();
                    let body = &raw[split + 4..];
                    if head.contains("transfer-encoding: chunked") {
                        if body.windows(5).any(|w| w == b"0\r\n\r\n") {
                            return dechunk(body);
                        }
                    } else {
                        let length = head
                            .lines()
                            .find_map(|l| l.strip_prefix("content-length:"))
                            .and_then(|l| l.trim().parse::<usize>().ok())
                            .unwrap_or(0);
                        if body.len() >= length {
                            return Ok(body[..length].to_vec());
                        }
                    }
                }
                let n = stream.read(&mut buffer).await?;
                anyhow::ensure!(n > 0, "the driver closed the connection mid-answer");
                raw.extend_from_slice(&buffer[..n]);
            }
        };
        let payload = tokio::time::timeout(DEADLINE * 3, read).await??;
        Ok(serde_json::from_slice(&payload)?)
    }
}

/// The body of a chunked response.
fn dechunk(mut raw: &[u8]) -> anyhow::Result<Vec<u8>> {
    let mut out = Vec::new();
    loop {
        let line = raw
            .windows(2)
            .position(|w| w == b"\r\n")
            .ok_or_else(|| anyhow::anyhow!("bad chunk"))?;
        let size_text = String::from_utf8_lossy(&raw[..line]);
        let size = usize::from_str_radix(size_text.split(';').next().unwrap_or("").trim(), 16)?;
        raw = &raw[line + 2..];
        if size == 0 {
            return Ok(out);
        }
        out.extend_from_slice(
            raw.get(..size)
                .ok_or_else(|| anyhow::anyhow!("short chunk"))?,
        );
        raw = raw.get(size + 2..).unwrap_or_default();
    }
}
