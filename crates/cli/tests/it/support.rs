//! Test fixtures that read like scenarios: a real `warden serve` process on 127.0.0.1:0 with a
//! temporary SQLite file, keys made with the real `warden keys create`, and helpers to call it.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;

/// Serves a hand-built upstream (or webhook receiver) on 127.0.0.1:0 for the rest of the
/// test; returns its base URL.
pub async fn serve(app: axum::Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    format!("http://{addr}")
}

pub const UPSTREAM_TOKEN: &str = "upstream-secret-token-4f9a7c1e2b";

pub fn warden_bin() -> &'static str {
    env!("CARGO_BIN_EXE_warden")
}

/// Runs a `warden` command to completion: (exit code, stdout, stderr).
pub fn warden(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(warden_bin())
        .args(args)
        .env_remove("WARDEN_CONFIG")
        .env("WARDEN_LOG", "warn")
        .output()
        .expect("run warden");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Builder for a gateway under test.
pub struct GatewayBuilder {
    upstream: String,
    config: String,
    auto_approve: bool,
    token: Option<String>,
    env: Vec<(String, String)>,
    database_url: Option<String>,
}

pub fn gateway(upstream: &str) -> GatewayBuilder {
    GatewayBuilder {
        upstream: upstream.to_string(),
        config: String::new(),
        auto_approve: false,
        token: Some(UPSTREAM_TOKEN.to_string()),
        env: Vec::new(),
        database_url: None,
    }
}

impl GatewayBuilder {
    /// Extra TOML for the config file.
    pub fn config(mut self, toml: &str) -> Self {
        self.config.push_str(toml);
        self.config.push('\n');
        self
    }

    pub fn auto_approve(mut self) -> Self {
        self.auto_approve = true;
        self
    }

    /// An environment variable for the gateway process.
    pub fn env(mut self, name: &str, value: &str) -> Self {
        self.env.push((name.to_string(), value.to_string()));
        self
    }

    /// A store other than the default temporary SQLite file (a PostgreSQL test database).
    pub fn database(mut self, url: &str) -> Self {
        self.database_url = Some(url.to_string());
        self
    }

    pub fn start(self) -> Gateway {
        let dir = tempfile::tempdir().expect("tempdir");
        let db_url = self
            .database_url
            .clone()
            .unwrap_or_else(|| format!("sqlite://{}", dir.path().join("warden.db").display()));
        let config_path = dir.path().join("warden.toml");
        std::fs::write(&config_path, &self.config).expect("write config");
        let key = |name: &str, role: &str| {
            let (code, out, err) = warden(&[
                "keys",
                "create",
                "--name",
                name,
                "--role",
                role,
                "--database-url",
                &db_url,
            ]);
            assert_eq!(code, 0, "keys create failed: {err}");
            out.trim().to_string()
        };
        let requester = key("alice", "requester");
        let auditor = key("audrey", "auditor");
        let mut g = Gateway {
            dir,
            db_url,
            config_path,
            upstream: self.upstream,
            auto_approve: self.auto_approve,
            token: self.token,
            env: self.env,
            child: None,
            logs: Arc::new(Mutex::new(String::new())),
            base: String::new(),
            requester,
            auditor,
        };
        g.spawn();
        g
    }
}

/// A running `warden serve`; killed when dropped.
pub struct Gateway {
    pub dir: tempfile::TempDir,
    pub db_url: String,
    pub config_path: PathBuf,
    upstream: String,
    auto_approve: bool,
    token: Option<String>,
    env: Vec<(String, String)>,
    child: Option<Child>,
    logs: Arc<Mutex<String>>,
    pub base: String,
    pub requester: String,
    pub auditor: String,
}

impl Gateway {
    fn spawn(&mut self) {
        let mut cmd = Command::new(warden_bin());
        cmd.args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--database-url",
            &self.db_url,
            "--upstream",
            &self.upstream,
        ])
        .arg("--config")
        .arg(&self.config_path)
        .env("WARDEN_LOG", "info")
        .env_remove("WARDEN_UPSTREAM_TOKEN")
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
        if self.auto_approve {
            cmd.arg("--auto-approve");
        }
        if let Some(token) = &self.token {
            cmd.env("WARDEN_UPSTREAM_TOKEN", token);
        }
        for (name, value) in &self.env {
            cmd.env(name, value);
        }
        let mut child = cmd.spawn().expect("spawn warden serve");
        let stderr = child.stderr.take().expect("stderr");
        let (tx, rx) = std::sync::mpsc::channel();
        let logs = self.logs.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                // Text logs end the line with the address; JSON logs close the string after it.
                if let Some(addr) = line.split("listening on ").nth(1) {
                    let addr = addr.split('"').next().unwrap_or(addr);
                    let _ = tx.send(addr.trim().to_string());
                }
                let mut logs = logs.lock().unwrap();
                logs.push_str(&line);
                logs.push('\n');
            }
        });
        let addr = rx
            .recv_timeout(Duration::from_secs(30))
            .unwrap_or_else(|_| panic!("warden did not report `listening on`: {}", self.logs()));
        self.base = format!("http://{addr}");
        self.child = Some(child);
    }

    /// Another `warden serve` on this one's store, config and keys: a second replica.
    pub fn replica(&self) -> Gateway {
        let mut g = Gateway {
            dir: tempfile::tempdir().expect("tempdir"),
            db_url: self.db_url.clone(),
            config_path: self.config_path.clone(),
            upstream: self.upstream.clone(),
            auto_approve: self.auto_approve,
            token: self.token.clone(),
            env: self.env.clone(),
            child: None,
            logs: Arc::new(Mutex::new(String::new())),
            base: String::new(),
            requester: self.requester.clone(),
            auditor: self.auditor.clone(),
        };
        g.spawn();
        g
    }

    /// A new key made with `warden keys create`.
    pub fn key(&self, name: &str, roles: &str, groups: &[&str]) -> String {
        let mut args = vec![
            "keys",
            "create",
            "--name",
            name,
            "--role",
            roles,
            "--database-url",
            &self.db_url,
        ];
        for g in groups {
            args.extend(["--group", g]);
        }
        let (code, out, err) = warden(&args);
        assert_eq!(code, 0, "keys create failed: {err}");
        out.trim().to_string()
    }

    /// A new key of another tenant, made with `warden keys create --tenant`.
    pub fn tenant_key(&self, name: &str, roles: &str, tenant: &str) -> String {
        let (code, out, err) = warden(&[
            "keys",
            "create",
            "--name",
            name,
            "--role",
            roles,
            "--tenant",
            tenant,
            "--database-url",
            &self.db_url,
        ]);
        assert_eq!(code, 0, "keys create failed: {err}");
        out.trim().to_string()
    }

    /// The trail exactly as `warden audit export --format <format>` prints it.
    pub fn export(&self, format: &str) -> String {
        let (code, out, err) = warden(&[
            "audit",
            "export",
            "--format",
            format,
            "--database-url",
            &self.db_url,
        ]);
        assert_eq!(code, 0, "export failed: {err}");
        out
    }

    /// Everything the process wrote to stderr so far.
    pub fn logs(&self) -> String {
        self.logs.lock().unwrap().clone()
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("running").id()
    }

    /// Sends a signal with the system `kill`.
    pub fn signal(&self, signal: &str) {
        let status = Command::new("kill")
            .arg(format!("-{signal}"))
            .arg(self.pid().to_string())
            .status()
            .expect("kill");
        assert!(status.success());
    }

    /// Waits for the process to exit and returns its exit code.
    pub fn wait_exit(&mut self, limit: Duration) -> Option<i32> {
        let child = self.child.as_mut()?;
        let start = Instant::now();
        while start.elapsed() < limit {
            if let Ok(Some(status)) = child.try_wait() {
                self.child = None;
                return Some(status.code().unwrap_or(-1));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }

    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Restarts the process on the same store and config.
    pub fn restart(&mut self) {
        self.kill();
        self.spawn();
    }

    pub fn db_path(&self) -> &Path {
        Path::new(self.db_url.trim_start_matches("sqlite://"))
    }

    /// The trail as exported by `warden audit export --format jsonl`.
    pub fn trail(&self) -> Vec<Value> {
        let (code, out, err) = warden(&[
            "audit",
            "export",
            "--format",
            "jsonl",
            "--database-url",
            &self.db_url,
        ]);
        assert_eq!(code, 0, "export failed: {err}");
        out.lines()
            .map(|l| serde_json::from_str(l).expect("jsonl line"))
            .collect()
    }

    /// Stages recorded for one trace, in order.
    pub fn stages(&self, trace_id: &str) -> Vec<String> {
        self.trail()
            .into_iter()
            .filter(|r| r["trace_id"] == trace_id)
            .map(|r| r["stage"].as_str().unwrap_or_default().to_string())
            .collect()
    }

    /// Waits up to ten seconds for `trace_id`'s record at `stage`; streams record their end
    /// after the client has its last byte, so tests poll for it.
    pub async fn wait_for_record(&self, trace_id: &str, stage: &str) -> Value {
        for _ in 0..200 {
            if let Some(record) = self
                .trail()
                .into_iter()
                .find(|r| r["trace_id"] == trace_id && r["stage"] == stage)
            {
                return record;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("no `{stage}` record for {trace_id}\n{}", self.logs());
    }

    /// `warden audit verify` on this gateway's store: (exit code, stdout).
    pub fn verify(&self) -> (i32, String) {
        let (code, out, _) = warden(&["audit", "verify", "--database-url", &self.db_url]);
        (code, out)
    }

    /// POSTs a chat completion with the requester key.
    pub async fn chat(&self, body: &Value) -> Reply {
        self.post(
            "/v1/chat/completions",
            &self.requester,
            body.to_string().into_bytes(),
            &[],
        )
        .await
    }

    pub async fn post(&self, path: &str, key: &str, body: Vec<u8>, headers: &[(&str, &str)]) -> Reply {
        let mut req = reqwest::Client::new()
            .post(self.url(path))
            .header("content-type", "application/json")
            .body(body);
        if !key.is_empty() {
            req = req.bearer_auth(key);
        }
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        self.reply(req).await
    }

    async fn reply(&self, req: reqwest::RequestBuilder) -> Reply {
        match req.send().await {
            Ok(response) => Reply::from(response).await,
            Err(e) => panic!("request to warden failed: {e}\nwarden's log:\n{}", self.logs()),
        }
    }

    /// Sends a chat request with the requester key and returns the response unread, for
    /// tests that read a stream as it comes.
    pub async fn open_chat(&self, body: &Value, headers: &[(&str, &str)]) -> reqwest::Response {
        let mut req = reqwest::Client::new()
            .post(self.url("/v1/chat/completions"))
            .bearer_auth(&self.requester)
            .body(body.to_string());
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        match req.send().await {
            Ok(response) => response,
            Err(e) => panic!("request to warden failed: {e}\nwarden's log:\n{}", self.logs()),
        }
    }

    pub async fn get(&self, path: &str, key: &str) -> Reply {
        let mut req = reqwest::Client::new().get(self.url(path));
        if !key.is_empty() {
            req = req.bearer_auth(key);
        }
        self.reply(req).await
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A response, read whole.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub bytes: Vec<u8>,
}

impl Reply {
    async fn from(r: reqwest::Response) -> Reply {
        Reply {
            status: r.status().as_u16(),
            headers: r.headers().clone(),
            bytes: r.bytes().await.expect("body").to_vec(),
        }
    }

    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.bytes)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&self.bytes)))
    }

    pub fn header(&self, name: &str) -> &str {
        self.headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or("")
    }

    pub fn trace_id(&self) -> String {
        self.header("x-warden-trace-id").to_string()
    }

    /// Asserts an OpenAI-shaped error with this status, type and code; returns the error object.
    pub fn assert_error(&self, status: u16, kind: &str, code: &str) -> Value {
        assert_eq!(
            self.status,
            status,
            "body: {}",
            String::from_utf8_lossy(&self.bytes)
        );
        let body = self.json();
        let error = body["error"].clone();
        assert_eq!(error["type"], kind, "{body}");
        assert_eq!(error["code"], code, "{body}");
        assert!(error["message"].as_str().is_some_and(|m| !m.is_empty()), "{body}");
        error
    }
}

/// Sends `text` as a held request (`x-warden-approval-mode: hold`) with the requester key, in
/// the background: the reply comes once someone decides.
pub fn send_held(g: &std::sync::Arc<Gateway>, text: &str) -> tokio::task::JoinHandle<Reply> {
    let (g, body) = (g.clone(), green(text).to_string().into_bytes());
    tokio::spawn(async move {
        g.post(
            "/v1/chat/completions",
            &g.requester,
            body,
            &[("x-warden-approval-mode", "hold")],
        )
        .await
    })
}

/// A green chat request.
pub fn green(text: &str) -> Value {
    serde_json::json!({"model": "openclaw", "messages": [{"role": "user", "content": text}]})
}
