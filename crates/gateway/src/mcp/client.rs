//! Warden's side of an upstream MCP server: one connection per configured server, shared by
//! every client session (Warden is the upstream's only client), initialized once and again
//! whenever the upstream loses it. A `url` server is spoken to over streamable HTTP (JSON or
//! SSE answers, its session id kept server-side with the credentials); a `command` server is a
//! child process Warden starts, talks to over stdio (one JSON-RPC message per line) and starts
//! again on the next call after it exits.

use std::collections::HashMap;
use std::process::Stdio;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex as SyncMutex};

use futures_util::StreamExt;
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, ChildStdin, Command};
use tokio::sync::{Mutex, oneshot};

use crate::config::{McpServerConfig, McpTransport};

/// The protocol revisions Warden speaks, newest first.
pub const PROTOCOL_VERSIONS: [&str; 4] = ["2025-11-25", "2025-06-18", "2025-03-26", "2024-11-05"];

/// Largest message read from an upstream (one stdio line, one HTTP answer, one SSE event).
const MAX_MESSAGE_BYTES: usize = 16 * 1024 * 1024;

/// Why an upstream call failed.
#[derive(Debug, Clone)]
pub enum RpcError {
    /// The upstream answered with a JSON-RPC error.
    Remote {
        code: i64,
        message: String,
        data: Option<Value>,
    },
    /// It could not be reached, started, or understood.
    Unavailable(String),
    Timeout,
}

impl std::fmt::Display for RpcError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RpcError::Remote { code, message, .. } => {
                write!(f, "the server answered error {code}: {message}")
            }
            RpcError::Unavailable(why) => write!(f, "the server is unavailable: {why}"),
            RpcError::Timeout => f.write_str("the server did not answer in time"),
        }
    }
}

/// What the upstream said of itself when initialized.
#[derive(Debug, Clone)]
pub struct Handshake {
    pub protocol_version: String,
    pub capabilities: Value,
    pub server_info: Value,
    pub instructions: Option<String>,
}

/// A connected, initialized upstream.
enum Link {
    Stdio(StdioLink),
    Http(HttpLink),
}

/// The client of one upstream server.
pub struct McpClient {
    config: McpServerConfig,
    http: reqwest::Client,
    link: Mutex<Option<(Arc<Link>, Handshake)>>,
    /// Bumped whenever the upstream says its tool list changed (or it was started again).
    generation: Arc<AtomicU64>,
    next_id: AtomicU64,
}

impl McpClient {
    pub fn new(config: McpServerConfig, http: reqwest::Client) -> McpClient {
        McpClient {
            config,
            http,
            link: Mutex::new(None),
            generation: Arc::new(AtomicU64::new(0)),
            next_id: AtomicU64::new(1),
        }
    }

    pub fn config(&self) -> &McpServerConfig {
        &self.config
    }

    /// Changes each time the upstream's tools may have changed.
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// The upstream's handshake, connecting first if needed.
    pub async fn handshake(&self) -> Result<Handshake, RpcError> {
        self.connected().await.map(|(_, handshake)| handshake)
    }

    /// Calls `method` with `params` and returns its result.
    pub async fn request(&self, method: &str, params: Value) -> Result<Value, RpcError> {
        let (link, _) = self.connected().await?;
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let answer = self.exchange(&link, id, method, &params).await;
        match answer {
            // The upstream forgot Warden (restarted, session expired): connect again, once.
            Err(RpcError::Unavailable(_)) => {
                self.forget(&link).await;
                let (link, _) = self.connected().await?;
                let id = self.next_id.fetch_add(1, Ordering::Relaxed);
                self.exchange(&link, id, method, &params).await
            }
            other => other,
        }
    }

    async fn exchange(&self, link: &Link, id: u64, method: &str, params: &Value) -> Result<Value, RpcError> {
        let message = json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params});
        let timeout = self.config.timeout;
        let answer = match link {
            Link::Stdio(stdio) => tokio::time::timeout(timeout, stdio.request(id, &message)).await,
            Link::Http(http) => {
                tokio::time::timeout(timeout, http.request(&self.http, id, &message, &self.generation)).await
            }
        };
        match answer {
            Err(_) => Err(RpcError::Timeout),
            Ok(Err(e)) => Err(e),
            Ok(Ok(response)) => result_of(response),
        }
    }

    /// Drops `link` if it is still the current one, so the next call connects afresh.
    async fn forget(&self, link: &Arc<Link>) {
        let mut current = self.link.lock().await;
        if current.as_ref().is_some_and(|(l, _)| Arc::ptr_eq(l, link)) {
            *current = None;
        }
    }

    async fn connected(&self) -> Result<(Arc<Link>, Handshake), RpcError> {
        let mut current = self.link.lock().await;
        if let Some((link, handshake)) = current.as_ref()
            && link.alive()
        {
            return Ok((link.clone(), handshake.clone()));
        }
        let (link, handshake) = tokio::time::timeout(self.config.timeout, self.connect())
            .await
            .map_err(|_| RpcError::Timeout)??;
        let link = Arc::new(link);
        // A new connection may offer different tools.
        self.generation.fetch_add(1, Ordering::AcqRel);
        *current = Some((link.clone(), handshake.clone()));
        Ok((link, handshake))
    }

    async fn connect(&self) -> Result<(Link, Handshake), RpcError> {
        let link = match &self.config.transport {
            McpTransport::Stdio {
                program,
                args,
                env,
                cwd,
            } => Link::Stdio(StdioLink::spawn(
                &self.config.name,
                program,
                args,
                env,
                cwd.as_deref(),
                self.generation.clone(),
            )?),
            McpTransport::Http { url, headers } => Link::Http(HttpLink::new(url, headers)),
        };
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let initialize = json!({"jsonrpc": "2.0", "id": id, "method": "initialize", "params": {
            "protocolVersion": PROTOCOL_VERSIONS[0],
            "capabilities": {},
            "clientInfo": {"name": "warden", "version": env!("CARGO_PKG_VERSION")},
        }});
        let response = match &link {
            Link::Stdio(stdio) => stdio.request(id, &initialize).await?,
            Link::Http(http) => {
                http.request(&self.http, id, &initialize, &self.generation)
                    .await?
            }
        };
        let result = result_of(response)?;
        let protocol_version = result
            .get("protocolVersion")
            .and_then(Value::as_str)
            .filter(|v| PROTOCOL_VERSIONS.contains(v))
            .ok_or_else(|| {
                RpcError::Unavailable(format!(
                    "the server speaks an unknown protocol revision: {}",
                    result["protocolVersion"]
                ))
            })?
            .to_string();
        if let Link::Http(http) = &link
            && let Ok(mut version) = http.protocol_version.lock()
        {
            *version = Some(protocol_version.clone());
        }
        let initialized = json!({"jsonrpc": "2.0", "method": "notifications/initialized"});
        match &link {
            Link::Stdio(stdio) => stdio.send(&initialized).await?,
            Link::Http(http) => http.notify(&self.http, &initialized).await?,
        }
        let handshake = Handshake {
            protocol_version,
            capabilities: result.get("capabilities").cloned().unwrap_or_else(|| json!({})),
            server_info: result.get("serverInfo").cloned().unwrap_or_else(|| json!({})),
            instructions: result
                .get("instructions")
                .and_then(Value::as_str)
                .map(str::to_string),
        };
        Ok((link, handshake))
    }
}

/// A JSON-RPC response's result, or its error.
fn result_of(response: Value) -> Result<Value, RpcError> {
    if let Some(error) = response.get("error") {
        return Err(RpcError::Remote {
            code: error.get("code").and_then(Value::as_i64).unwrap_or(-32603),
            message: error
                .get("message")
                .and_then(Value::as_str)
                .unwrap_or("error")
                .to_string(),
            data: error.get("data").cloned(),
        });
    }
    response
        .get("result")
        .cloned()
        .ok_or_else(|| RpcError::Unavailable("the server's answer has neither result nor error".into()))
}

impl Link {
    fn alive(&self) -> bool {
        match self {
            Link::Stdio(stdio) => stdio.alive(),
            Link::Http(_) => true,
        }
    }
}

type Pending = Arc<SyncMutex<Option<HashMap<u64, oneshot::Sender<Value>>>>>;

/// A child process spoken to over its stdin and stdout.
struct StdioLink {
    /// Shared with the reader, which answers the server's own requests (ping).
    stdin: Arc<Mutex<ChildStdin>>,
    /// Calls waiting for their answer; `None` once the child has exited.
    pending: Pending,
    _child: SyncMutex<Child>,
}

impl StdioLink {
    fn spawn(
        server: &str,
        program: &str,
        args: &[String],
        env: &std::collections::BTreeMap<String, String>,
        cwd: Option<&std::path::Path>,
        generation: Arc<AtomicU64>,
    ) -> Result<StdioLink, RpcError> {
        let mut command = Command::new(program);
        command
            .args(args)
            .env_clear()
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        // The server gets what a program needs to run, and what it was configured with; not
        // Warden's own environment, which holds Warden's secrets.
        for var in ["PATH", "HOME", "LANG", "TMPDIR"] {
            if let Ok(value) = std::env::var(var) {
                command.env(var, value);
            }
        }
        command.envs(env);
        if let Some(dir) = cwd {
            command.current_dir(dir);
        }
        let mut child = command
            .spawn()
            .map_err(|e| RpcError::Unavailable(format!("cannot start `{program}`: {e}")))?;
        let (Some(stdin), Some(stdout), Some(stderr)) =
            (child.stdin.take(), child.stdout.take(), child.stderr.take())
        else {
            return Err(RpcError::Unavailable("the child's pipes are missing".into()));
        };
        let pending: Pending = Arc::new(SyncMutex::new(Some(HashMap::new())));
        let stdin = Arc::new(Mutex::new(stdin));
        tokio::spawn(read_stdout(
            server.to_string(),
            stdout,
            pending.clone(),
            generation,
            stdin.clone(),
        ));
        let name = server.to_string();
        tokio::spawn(async move {
            let mut lines = BufReader::new(stderr).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                tracing::debug!(server = %name, "mcp server stderr: {}", line.chars().take(500).collect::<String>());
            }
        });
        tracing::info!(server, program, "started the MCP server");
        Ok(StdioLink {
            stdin,
            pending,
            _child: SyncMutex::new(child),
        })
    }

    fn alive(&self) -> bool {
        self.pending.lock().map(|p| p.is_some()).unwrap_or(false)
    }

    async fn send(&self, message: &Value) -> Result<(), RpcError> {
        write_line(&self.stdin, message).await
    }

    async fn request(&self, id: u64, message: &Value) -> Result<Value, RpcError> {
        let (tx, rx) = oneshot::channel();
        // A call given up on (its timeout) takes its waiter out of the map.
        let _forget = Forget {
            pending: &self.pending,
            id,
        };
        {
            let mut pending = self
                .pending
                .lock()
                .map_err(|_| RpcError::Unavailable("poisoned".into()))?;
            match pending.as_mut() {
                Some(map) => map.insert(id, tx),
                None => return Err(RpcError::Unavailable("the server exited".into())),
            };
        }
        self.send(message).await?;
        rx.await
            .map_err(|_| RpcError::Unavailable("the server exited before answering".into()))
    }
}

/// Removes a call's waiter when the call ends, answered or not.
struct Forget<'a> {
    pending: &'a Pending,
    id: u64,
}

impl Drop for Forget<'_> {
    fn drop(&mut self) {
        if let Ok(mut pending) = self.pending.lock()
            && let Some(map) = pending.as_mut()
        {
            map.remove(&self.id);
        }
    }
}

/// Writes one message as one line.
async fn write_line(stdin: &Mutex<ChildStdin>, message: &Value) -> Result<(), RpcError> {
    let mut line = serde_json::to_vec(message).map_err(|e| RpcError::Unavailable(e.to_string()))?;
    line.push(b'\n');
    let mut stdin = stdin.lock().await;
    stdin
        .write_all(&line)
        .await
        .map_err(|e| RpcError::Unavailable(format!("the server's stdin is closed: {e}")))?;
    stdin
        .flush()
        .await
        .map_err(|e| RpcError::Unavailable(e.to_string()))
}

/// Reads the child's messages: answers go to their callers, a changed tool list bumps the
/// generation, requests from the server are answered (ping) or declined. Ends when the child
/// closes its stdout, failing what still waits.
async fn read_stdout(
    server: String,
    stdout: tokio::process::ChildStdout,
    pending: Pending,
    generation: Arc<AtomicU64>,
    stdin: Arc<Mutex<ChildStdin>>,
) {
    let mut reader = BufReader::new(stdout);
    let mut line = Vec::new();
    loop {
        line.clear();
        let read = (&mut reader)
            .take(MAX_MESSAGE_BYTES as u64 + 1)
            .read_until(b'\n', &mut line)
            .await;
        match read {
            Ok(0) | Err(_) => break,
            Ok(n) if n > MAX_MESSAGE_BYTES => {
                tracing::warn!(
                    server,
                    "the MCP server sent a message over {MAX_MESSAGE_BYTES} bytes; stopping it"
                );
                break;
            }
            Ok(_) => {}
        }
        let Ok(message) = serde_json::from_slice::<Value>(&line) else {
            tracing::debug!(server, "a line from the MCP server that is not JSON");
            continue;
        };
        if let Some(reply) = dispatch(&server, message, &pending, &generation)
            && let Err(e) = write_line(&stdin, &reply).await
        {
            tracing::debug!(server, error = %e, "could not answer the MCP server");
        }
    }
    if let Ok(mut pending) = pending.lock() {
        // Dropping the senders fails every waiting call.
        *pending = None;
    }
    tracing::warn!(
        server,
        "the MCP server exited; it is started again on the next call"
    );
}

/// Routes one message from an upstream; returns the reply a request from it gets.
fn dispatch(server: &str, message: Value, pending: &Pending, generation: &AtomicU64) -> Option<Value> {
    match (message.get("id"), message.get("method").and_then(Value::as_str)) {
        (Some(id), None) => {
            let waiter = id.as_u64().and_then(|id| {
                pending
                    .lock()
                    .ok()
                    .and_then(|mut p| p.as_mut().and_then(|map| map.remove(&id)))
            });
            if let Some(waiter) = waiter {
                let _ = waiter.send(message);
            }
            None
        }
        (None, Some("notifications/tools/list_changed")) => {
            generation.fetch_add(1, Ordering::AcqRel);
            tracing::info!(server, "the MCP server's tools changed");
            None
        }
        (Some(id), Some("ping")) => Some(json!({"jsonrpc": "2.0", "id": id, "result": {}})),
        (Some(id), Some(method)) => {
            // Warden declares no client capabilities: it is never asked for roots, sampling
            // or elicitation, and declines those that ask anyway.
            tracing::debug!(server, method, "a request from the MCP server, declined");
            Some(
                json!({"jsonrpc": "2.0", "id": id, "error": {"code": -32601, "message": "Warden serves no client capabilities"}}),
            )
        }
        _ => None,
    }
}

/// A streamable-HTTP server.
struct HttpLink {
    url: String,
    headers: Vec<(String, crate::secret::Secret)>,
    session: SyncMutex<Option<String>>,
    protocol_version: SyncMutex<Option<String>>,
}

impl HttpLink {
    fn new(url: &str, headers: &[(String, crate::secret::Secret)]) -> HttpLink {
        HttpLink {
            url: url.to_string(),
            headers: headers.to_vec(),
            session: SyncMutex::new(None),
            protocol_version: SyncMutex::new(None),
        }
    }

    fn post(&self, http: &reqwest::Client, message: &Value) -> reqwest::RequestBuilder {
        let mut request = http
            .post(&self.url)
            .header("content-type", "application/json")
            .header("accept", "application/json, text/event-stream")
            .body(serde_json::to_vec(message).unwrap_or_default());
        for (name, value) in &self.headers {
            request = request.header(name.as_str(), value.expose());
        }
        if let Some(session) = self.session.lock().ok().and_then(|s| s.clone()) {
            request = request.header("mcp-session-id", session);
        }
        if let Some(version) = self.protocol_version.lock().ok().and_then(|v| v.clone()) {
            request = request.header("mcp-protocol-version", version);
        }
        request
    }

    async fn notify(&self, http: &reqwest::Client, message: &Value) -> Result<(), RpcError> {
        let response = self
            .post(http, message)
            .send()
            .await
            .map_err(|e| RpcError::Unavailable(without_url(&e)))?;
        if response.status().is_success() {
            Ok(())
        } else {
            Err(RpcError::Unavailable(format!(
                "the server answered HTTP {}",
                response.status().as_u16()
            )))
        }
    }

    async fn request(
        &self,
        http: &reqwest::Client,
        id: u64,
        message: &Value,
        generation: &AtomicU64,
    ) -> Result<Value, RpcError> {
        let response = self
            .post(http, message)
            .send()
            .await
            .map_err(|e| RpcError::Unavailable(without_url(&e)))?;
        let status = response.status();
        if status == reqwest::StatusCode::NOT_FOUND && self.session.lock().is_ok_and(|s| s.is_some()) {
            // The server ended Warden's session: a new one is made on the next connection.
            return Err(RpcError::Unavailable("the server ended the session".into()));
        }
        if !status.is_success() {
            let body = response.bytes().await.unwrap_or_default();
            // A JSON-RPC error with an HTTP error status is still the server's answer.
            if let Ok(value) = serde_json::from_slice::<Value>(&body)
                && value.get("error").is_some()
            {
                return Ok(value);
            }
            return Err(RpcError::Unavailable(format!(
                "the server answered HTTP {}",
                status.as_u16()
            )));
        }
        if let Some(session) = response
            .headers()
            .get("mcp-session-id")
            .and_then(|v| v.to_str().ok())
            && let Ok(mut current) = self.session.lock()
        {
            *current = Some(session.to_string());
        }
        let is_sse = response
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("text/event-stream"));
        if !is_sse {
            let body = read_bounded(response).await?;
            return serde_json::from_slice(&body)
                .map_err(|e| RpcError::Unavailable(format!("the server's answer is not JSON: {e}")));
        }
        // An SSE stream: notifications and requests may come first; the answer ends it.
        let mut stream = response.bytes_stream();
        let mut buffer: Vec<u8> = Vec::new();
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(|e| RpcError::Unavailable(without_url(&e)))?;
            buffer.extend_from_slice(&chunk);
            if buffer.len() > MAX_MESSAGE_BYTES {
                return Err(RpcError::Unavailable("the server's event is too large".into()));
            }
            while let Some(end) = event_end(&buffer) {
                let event: Vec<u8> = buffer.drain(..end.1).collect();
                let data = event_data(&event[..end.0]);
                let Ok(message) = serde_json::from_str::<Value>(&data) else {
                    continue;
                };
                if message.get("id").and_then(Value::as_u64) == Some(id) && message.get("method").is_none() {
                    return Ok(message);
                }
                if message.get("method").and_then(Value::as_str) == Some("notifications/tools/list_changed") {
                    generation.fetch_add(1, Ordering::AcqRel);
                }
            }
        }
        Err(RpcError::Unavailable(
            "the server's stream ended without an answer".into(),
        ))
    }
}

/// A transport error without the URL (which may carry credentials in its query).
fn without_url(e: &reqwest::Error) -> String {
    let e = e.without_url_ref();
    e.to_string()
}

trait WithoutUrl {
    fn without_url_ref(&self) -> String;
}

impl WithoutUrl for reqwest::Error {
    fn without_url_ref(&self) -> String {
        if self.is_timeout() {
            "timed out".into()
        } else if self.is_connect() {
            "connection refused or unreachable".into()
        } else if self.is_body() || self.is_decode() {
            "the answer could not be read".into()
        } else {
            "the request failed".into()
        }
    }
}

async fn read_bounded(response: reqwest::Response) -> Result<Vec<u8>, RpcError> {
    let mut stream = response.bytes_stream();
    let mut body = Vec::new();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| RpcError::Unavailable(without_url(&e)))?;
        if body.len() + chunk.len() > MAX_MESSAGE_BYTES {
            return Err(RpcError::Unavailable("the server's answer is too large".into()));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// The end of the first complete event in `buffer`: (where its text ends, where the next
/// begins).
fn event_end(buffer: &[u8]) -> Option<(usize, usize)> {
    let lf = buffer.windows(2).position(|w| w == b"\n\n").map(|i| (i, i + 2));
    let crlf = buffer
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map(|i| (i, i + 4));
    match (lf, crlf) {
        (Some(a), Some(b)) => Some(if a.0 < b.0 { a } else { b }),
        (a, b) => a.or(b),
    }
}

/// The `data:` lines of one event, joined.
fn event_data(event: &[u8]) -> String {
    let text = String::from_utf8_lossy(event);
    let mut data = String::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("data:") {
            if !data.is_empty() {
                data.push('\n');
            }
            data.push_str(rest.strip_prefix(' ').unwrap_or(rest));
        }
    }
    data
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sse_events_are_split_and_joined() {
        let buffer = b"event: message\ndata: {\"a\":\ndata: 1}\n\nrest";
        let (text_end, next) = event_end(buffer).expect("an event");
        assert_eq!(&buffer[next..], b"rest");
        assert_eq!(event_data(&buffer[..text_end]), "{\"a\":\n1}");
        assert_eq!(event_end(b"data: x\r\n\r\n"), Some((7, 11)));
        assert_eq!(event_end(b"data: partial"), None);
    }

    #[test]
    fn answers_reach_their_caller_and_the_server_is_answered() {
        let (tx, mut rx) = oneshot::channel();
        let pending: Pending = Arc::new(SyncMutex::new(Some(HashMap::from([(7, tx)]))));
        let generation = AtomicU64::new(0);
        let answer = json!({"jsonrpc": "2.0", "id": 7, "result": {}});
        assert_eq!(dispatch("s", answer.clone(), &pending, &generation), None);
        assert_eq!(rx.try_recv().ok(), Some(answer));
        let changed = json!({"jsonrpc": "2.0", "method": "notifications/tools/list_changed"});
        assert_eq!(dispatch("s", changed, &pending, &generation), None);
        assert_eq!(generation.load(Ordering::Acquire), 1);
        let ping = dispatch(
            "s",
            json!({"jsonrpc": "2.0", "id": "p1", "method": "ping"}),
            &pending,
            &generation,
        );
        assert_eq!(ping, Some(json!({"jsonrpc": "2.0", "id": "p1", "result": {}})));
        let roots = dispatch(
            "s",
            json!({"jsonrpc": "2.0", "id": 2, "method": "roots/list"}),
            &pending,
            &generation,
        );
        assert_eq!(
            roots.and_then(|r| r.pointer("/error/code").cloned()),
            Some(json!(-32601))
        );
    }

    #[test]
    fn errors_and_results_are_told_apart() {
        assert!(matches!(
            result_of(json!({"jsonrpc": "2.0", "id": 1, "error": {"code": -32602, "message": "bad"}})),
            Err(RpcError::Remote { code: -32602, .. })
        ));
        assert_eq!(
            result_of(json!({"id": 1, "result": {"x": 1}})).ok(),
            Some(json!({"x": 1}))
        );
        assert!(matches!(
            result_of(json!({"id": 1})),
            Err(RpcError::Unavailable(_))
        ));
    }
}
