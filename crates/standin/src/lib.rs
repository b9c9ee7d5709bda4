//! A stand-in agent: a small OpenAI-compatible responder that serves `/v1/chat/completions`
//! as JSON or SSE, the way an OpenClaw Gateway does, with controllable delay and failure.
//!
//! `warden demo` runs it in-process as the agent behind the gateway; the integration tests
//! use it as the upstream they inspect; the benchmarks run its binary.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};

/// How the stand-in misbehaves, when asked to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Failure {
    /// Answer normally.
    #[default]
    None,
    /// Answer every completion with this HTTP status and an OpenAI-shaped error.
    Status(u16),
    /// Stream a first chunk, then send OpenClaw's mid-stream `error` object and `[DONE]`.
    MidStreamError,
}

/// A request the stand-in received, for tests to inspect.
#[derive(Debug, Clone)]
pub struct Received {
    /// `/v1/chat/completions`, `/v1/responses` or `/tools/invoke`.
    pub path: &'static str,
    pub headers: HeaderMap,
    pub body: Value,
}

/// Builder for a stand-in agent.
#[derive(Debug, Clone)]
pub struct StandIn {
    delay: Duration,
    chunk_delay: Duration,
    failure: Failure,
    token: Option<String>,
    record: bool,
    reply: Option<String>,
}

impl Default for StandIn {
    fn default() -> Self {
        StandIn::new()
    }
}

impl StandIn {
    pub fn new() -> StandIn {
        StandIn {
            delay: Duration::ZERO,
            chunk_delay: Duration::ZERO,
            failure: Failure::None,
            token: None,
            record: true,
            reply: None,
        }
    }

    /// Waits this long before answering a completion.
    pub fn delay(mut self, delay: Duration) -> StandIn {
        self.delay = delay;
        self
    }

    /// Waits this long between streamed chunks.
    pub fn chunk_delay(mut self, delay: Duration) -> StandIn {
        self.chunk_delay = delay;
        self
    }

    pub fn failure(mut self, failure: Failure) -> StandIn {
        self.failure = failure;
        self
    }

    /// Requires `Authorization: Bearer <token>`, as an OpenClaw Gateway with token auth does.
    pub fn token(mut self, token: &str) -> StandIn {
        self.token = Some(token.to_string());
        self
    }

    /// Whether to keep every request for inspection (off for benchmarks).
    pub fn record(mut self, record: bool) -> StandIn {
        self.record = record;
        self
    }

    /// A fixed reply instead of the default echo of the request.
    pub fn reply(mut self, reply: &str) -> StandIn {
        self.reply = Some(reply.to_string());
        self
    }

    /// The stand-in as an axum router, for embedding.
    pub fn router(self) -> (Router, Arc<Mutex<Vec<Received>>>) {
        let received = Arc::new(Mutex::new(Vec::new()));
        let state = Arc::new(Shared {
            config: self,
            received: received.clone(),
            runs: AtomicU64::new(0),
        });
        let router = Router::new()
            .route("/v1/chat/completions", post(completions))
            .route("/v1/responses", post(responses))
            .route("/v1/models", get(models))
            .route("/tools/invoke", post(invoke))
            .route("/healthz", get(|| async { axum::Json(json!({"ok": true})) }))
            .route("/readyz", get(|| async { axum::Json(json!({"ready": true})) }))
            .with_state(state);
        (router, received)
    }

    /// Binds `addr` and serves in a background task.
    pub async fn start(self, addr: &str) -> std::io::Result<Running> {
        let listener = tokio::net::TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let (router, received) = self.router();
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, router).await;
        });
        Ok(Running { addr, received, task })
    }
}

/// A stand-in serving in the background; stops when dropped.
#[derive(Debug)]
pub struct Running {
    pub addr: SocketAddr,
    received: Arc<Mutex<Vec<Received>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Running {
    /// Root URL, e.g. `http://127.0.0.1:41234`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Every completion request received so far.
    pub fn received(&self) -> Vec<Received> {
        self.received.lock().map(|r| r.clone()).unwrap_or_default()
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.task.abort();
    }
}

struct Shared {
    config: StandIn,
    received: Arc<Mutex<Vec<Received>>>,
    runs: AtomicU64,
}

/// Tools the stand-in runs; like OpenClaw over HTTP, any other tool is `not_found`.
const STANDIN_TOOLS: [&str; 4] = ["sessions_list", "fs_read", "fs_write", "notes_append"];

async fn invoke(State(shared): State<Arc<Shared>>, headers: HeaderMap, body: Bytes) -> Response {
    if let Some(refused) = unauthorized(&shared.config, &headers) {
        return refused;
    }
    let request: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    if shared.config.record
        && let Ok(mut received) = shared.received.lock()
    {
        received.push(Received {
            path: "/tools/invoke",
            headers: headers.clone(),
            body: request.clone(),
        });
    }
    let tool = request
        .get("tool")
        .or_else(|| request.get("name"))
        .and_then(Value::as_str)
        .unwrap_or("");
    if !STANDIN_TOOLS.contains(&tool) {
        let body = json!({"ok": false, "error": {"type": "not_found", "message": format!("Tool not available: {tool}")}});
        return (StatusCode::NOT_FOUND, axum::Json(body)).into_response();
    }
    let result = match tool {
        "sessions_list" => json!({"sessions": [{"key": "main", "agentId": "main"}]}),
        _ => json!({"tool": tool, "args": request.get("args")}),
    };
    axum::Json(json!({"ok": true, "result": result})).into_response()
}

async fn models(State(shared): State<Arc<Shared>>, headers: HeaderMap) -> Response {
    if let Some(refused) = unauthorized(&shared.config, &headers) {
        return refused;
    }
    axum::Json(json!({
        "object": "list",
        "data": [{"id": "openclaw/main", "object": "model", "created": 0, "owned_by": "openclaw"}]
    }))
    .into_response()
}

/// A 401 unless the request carries the token the stand-in was started with (if any).
fn unauthorized(config: &StandIn, headers: &HeaderMap) -> Option<Response> {
    let token = config.token.as_ref()?;
    let expected = format!("Bearer {token}");
    let sent = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok());
    (sent != Some(expected.as_str()))
        .then(|| error_response(StatusCode::UNAUTHORIZED, "Unauthorized", "unauthorized"))
}

fn error_response(status: StatusCode, message: &str, kind: &str) -> Response {
    (
        status,
        axum::Json(json!({"error": {"message": message, "type": kind}})),
    )
        .into_response()
}

/// What every agent route does first: checks the token, parses and records the request, waits
/// the configured delay and fails as configured. The request, or the answer that ends it.
async fn admit(
    shared: &Shared,
    path: &'static str,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Value, Response> {
    let config = &shared.config;
    if let Some(refused) = unauthorized(config, headers) {
        return Err(refused);
    }
    let Ok(request) = serde_json::from_slice::<Value>(body) else {
        return Err(error_response(
            StatusCode::BAD_REQUEST,
            "invalid JSON",
            "invalid_request_error",
        ));
    };
    if config.record
        && let Ok(mut received) = shared.received.lock()
    {
        received.push(Received {
            path,
            headers: headers.clone(),
            body: request.clone(),
        });
    }
    if !config.delay.is_zero() {
        tokio::time::sleep(config.delay).await;
    }
    if let Failure::Status(code) = config.failure {
        let status = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        return Err(error_response(
            status,
            "stand-in agent failure (configured)",
            "api_error",
        ));
    }
    Ok(request)
}

/// Sends `events` as a stream, `chunk_delay` apart.
fn event_stream(events: Vec<String>, chunk_delay: Duration) -> Response {
    let body = futures_util::stream::unfold(events.into_iter(), move |mut events| async move {
        let next = events.next()?;
        if !chunk_delay.is_zero() {
            tokio::time::sleep(chunk_delay).await;
        }
        Some((Ok::<Bytes, std::io::Error>(Bytes::from(next)), events))
    });
    Response::builder()
        .header(header::CONTENT_TYPE, "text/event-stream")
        .header(header::CACHE_CONTROL, "no-cache")
        .body(Body::from_stream(body))
        .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response())
}

async fn completions(State(shared): State<Arc<Shared>>, headers: HeaderMap, body: Bytes) -> Response {
    let config = &shared.config;
    let request = match admit(&shared, "/v1/chat/completions", &headers, &body).await {
        Ok(request) => request,
        Err(answer) => return answer,
    };
    let run = shared.runs.fetch_add(1, Ordering::Relaxed);
    let id = format!("chatcmpl_standin-{run:08}");
    let model = request
        .get("model")
        .and_then(Value::as_str)
        .unwrap_or("openclaw")
        .to_string();
    let reply = config.reply.clone().unwrap_or_else(|| echo_reply(&request));
    let stream = request.get("stream").and_then(Value::as_bool).unwrap_or(false);
    if !stream {
        let body = json!({
            "id": id,
            "object": "chat.completion",
            "created": 1_764_000_000u64,
            "model": model,
            "choices": [{
                "index": 0,
                "message": {"role": "assistant", "content": reply},
                "finish_reason": "stop"
            }],
            "usage": {"prompt_tokens": 12, "completion_tokens": 9, "total_tokens": 21}
        });
        return axum::Json(body).into_response();
    }
    let include_usage = request
        .pointer("/stream_options/include_usage")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let events = sse_events(&id, &model, &reply, include_usage, config.failure);
    event_stream(events, config.chunk_delay)
}

/// `POST /v1/responses`: OpenAI's Responses API as OpenClaw serves it, JSON or typed events.
async fn responses(State(shared): State<Arc<Shared>>, headers: HeaderMap, body: Bytes) -> Response {
    let config = &shared.config;
    let request = match admit(&shared, "/v1/responses", &headers, &body).await {
        Ok(request) => request,
        Err(answer) => return answer,
    };
    let run = shared.runs.fetch_add(1, Ordering::Relaxed);
    let id = format!("resp_standin-{run:08}");
    let item_id = format!("msg_standin-{run:08}");
    let model = request
        .get("model")
        .and_then(Value::as_str)
        .unwrap_or("openclaw")
        .to_string();
    let reply = config.reply.clone().unwrap_or_else(|| echo_responses(&request));
    let message = |text: &str, status: &str| {
        json!({"type": "message", "id": item_id, "role": "assistant", "status": status,
               "content": [{"type": "output_text", "text": text, "annotations": []}]})
    };
    let response = |status: &str, output: Value| {
        json!({"id": id, "object": "response", "created_at": 1_764_000_000u64, "status": status, "model": model,
               "output": output, "usage": {"input_tokens": 12, "output_tokens": 9, "total_tokens": 21}})
    };
    if !request.get("stream").and_then(Value::as_bool).unwrap_or(false) {
        return axum::Json(response("completed", json!([message(&reply, "completed")]))).into_response();
    }
    let event = |v: Value| format!("event: {}\ndata: {v}\n\n", v["type"].as_str().unwrap_or(""));
    let mut events = vec![
        event(json!({"type": "response.created", "response": response("in_progress", json!([]))})),
        event(
            json!({"type": "response.output_item.added", "output_index": 0, "item": message("", "in_progress")}),
        ),
        event(
            json!({"type": "response.content_part.added", "item_id": item_id, "output_index": 0, "content_index": 0,
                     "part": {"type": "output_text", "text": "", "annotations": []}}),
        ),
    ];
    let words: Vec<&str> = reply.split_inclusive(' ').collect();
    for piece in words.chunks(4) {
        events.push(event(
            json!({"type": "response.output_text.delta", "item_id": item_id, "output_index": 0,
                                 "content_index": 0, "delta": piece.concat()}),
        ));
    }
    events.push(event(
        json!({"type": "response.output_text.done", "item_id": item_id, "output_index": 0,
                             "content_index": 0, "text": reply}),
    ));
    events.push(event(
        json!({"type": "response.output_item.done", "output_index": 0, "item": message(&reply, "completed")}),
    ));
    events.push(event(json!({"type": "response.completed", "response": response("completed", json!([message(&reply, "completed")]))})));
    event_stream(events, config.chunk_delay)
}

/// The Responses stand-in's answer: what it was asked, and whether Warden's classification
/// came with it (in `instructions`).
fn echo_responses(request: &Value) -> String {
    let asked = match request.get("input") {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Array(items)) => items
            .iter()
            .rev()
            .find(|i| i.get("role").and_then(Value::as_str) == Some("user"))
            .and_then(|i| i.get("content"))
            .map(|c| match c {
                Value::String(s) => s.clone(),
                Value::Array(parts) => parts
                    .iter()
                    .filter_map(|p| p.get("text").and_then(Value::as_str))
                    .collect::<Vec<_>>()
                    .join(" "),
                other => other.to_string(),
            })
            .unwrap_or_default(),
        _ => String::new(),
    };
    let governed = request
        .get("instructions")
        .and_then(Value::as_str)
        .is_some_and(|i| i.contains("Governance classification:"));
    let preview: String = asked.chars().take(160).collect();
    format!(
        "[stand-in agent] Here is a draft response to: \"{preview}\". {}",
        if governed {
            "I saw Warden's governance classification and stayed within it."
        } else {
            "No governance classification was attached."
        }
    )
}

/// The SSE frames OpenClaw sends: role chunk, content chunks, finish chunk, optional usage
/// chunk, `[DONE]`.
fn sse_events(id: &str, model: &str, reply: &str, include_usage: bool, failure: Failure) -> Vec<String> {
    let chunk = |delta: Value, finish: Value| {
        let v = json!({
            "id": id, "object": "chat.completion.chunk", "created": 1_764_000_000u64, "model": model,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]
        });
        format!("data: {v}\n\n")
    };
    let mut out = vec![chunk(json!({"role": "assistant"}), Value::Null)];
    let words: Vec<&str> = reply.split_inclusive(' ').collect();
    for (i, piece) in words.chunks(4).enumerate() {
        if failure == Failure::MidStreamError && i == 1 {
            let err = json!({"error": {"message": "stand-in agent failed mid-stream (configured)", "type": "api_error"}});
            out.push(format!("data: {err}\n\n"));
            out.push("data: [DONE]\n\n".to_string());
            return out;
        }
        out.push(chunk(json!({"content": piece.concat()}), Value::Null));
    }
    out.push(chunk(json!({}), json!("stop")));
    if include_usage {
        let v = json!({
            "id": id, "object": "chat.completion.chunk", "created": 1_764_000_000u64, "model": model,
            "choices": [], "usage": {"prompt_tokens": 12, "completion_tokens": 9, "total_tokens": 21}
        });
        out.push(format!("data: {v}\n\n"));
    }
    out.push("data: [DONE]\n\n".to_string());
    out
}

/// A deterministic answer that shows what the agent was given.
fn echo_reply(request: &Value) -> String {
    let messages = request.get("messages").and_then(Value::as_array);
    let last_user = messages
        .and_then(|m| {
            m.iter()
                .rev()
                .find(|m| m.get("role").and_then(Value::as_str) == Some("user"))
        })
        .and_then(|m| m.get("content"))
        .map(|c| match c {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        })
        .unwrap_or_default();
    let governed = messages
        .map(|m| {
            m.iter().any(|m| {
                m.get("content")
                    .and_then(Value::as_str)
                    .is_some_and(|c| c.starts_with("Governance classification:"))
            })
        })
        .unwrap_or(false);
    let preview: String = last_user.chars().take(160).collect();
    format!(
        "[stand-in agent] Here is a draft response to: \"{preview}\". {}",
        if governed {
            "I saw Warden's governance classification and stayed within it."
        } else {
            "No governance classification was attached."
        }
    )
}
