//! The upstream agent (an OpenClaw Gateway or any OpenAI-compatible server): one pooled HTTP
//! client, the upstream token attached here and nowhere else, failures sorted into kinds.

use std::time::Duration;

use axum::http::{HeaderValue, header};
use bytes::Bytes;

use crate::config::UpstreamConfig;
use crate::error::ApiError;
use crate::request::ChatRequest;
use crate::secret::Secret;

/// How a call to the upstream failed.
#[derive(Debug)]
pub enum UpstreamFailure {
    /// No connection (refused, reset, DNS, TLS).
    Unreachable(String),
    /// No answer within `response_timeout`.
    Timeout,
    /// An answer with a non-success status; the body is kept (bounded) for pass-through.
    Status {
        status: u16,
        content_type: Option<HeaderValue>,
        body: Bytes,
    },
}

impl UpstreamFailure {
    /// The audit `kind` of the failure.
    pub fn kind(&self) -> &'static str {
        match self {
            UpstreamFailure::Unreachable(_) => "unreachable",
            UpstreamFailure::Timeout => "timeout",
            UpstreamFailure::Status { .. } => "status",
        }
    }

    pub fn detail(&self) -> String {
        match self {
            UpstreamFailure::Unreachable(m) => m.clone(),
            UpstreamFailure::Timeout => "no response within upstream.response_timeout_ms".into(),
            UpstreamFailure::Status { status, .. } => format!("upstream answered {status}"),
        }
    }

    /// The error a client gets when the failure is not passed through.
    pub fn api_error(&self) -> ApiError {
        match self {
            UpstreamFailure::Unreachable(_) => ApiError::UpstreamUnreachable,
            UpstreamFailure::Timeout => ApiError::UpstreamTimeout,
            UpstreamFailure::Status { status, .. } => ApiError::UpstreamStatus { status: *status },
        }
    }

    /// A client error from the upstream (bad parameters, say) is the client's to see, unchanged;
    /// an auth failure or a server error is Warden's problem and becomes a 502.
    pub fn passes_through(&self) -> bool {
        matches!(self, UpstreamFailure::Status { status, .. }
            if (400..500).contains(status) && !matches!(status, 401 | 403 | 407))
    }
}

/// The upstream client. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Upstream {
    client: reqwest::Client,
    completions_url: String,
    tools_url: String,
    health_url: String,
    token: Option<Secret>,
    pub response_timeout: Duration,
    pub idle_timeout: Duration,
}

/// Largest upstream error body kept for pass-through.
const MAX_ERROR_BODY: usize = 64 * 1024;

impl Upstream {
    pub fn new(config: &UpstreamConfig) -> Result<Upstream, reqwest::Error> {
        let client = reqwest::Client::builder()
            .connect_timeout(config.connect_timeout)
            .tcp_nodelay(true)
            .pool_idle_timeout(Duration::from_secs(60))
            .build()?;
        Ok(Upstream {
            client,
            completions_url: format!("{}/v1/chat/completions", config.url),
            tools_url: format!("{}/tools/invoke", config.url),
            health_url: format!("{}{}", config.url, config.health_path),
            token: config.token.clone(),
            response_timeout: config.response_timeout,
            idle_timeout: config.idle_timeout,
        })
    }

    /// Sends a completion and returns once the response headers are in, with a success status.
    pub async fn send_chat(
        &self,
        body: Vec<u8>,
        request: &ChatRequest,
    ) -> Result<reqwest::Response, UpstreamFailure> {
        let mut builder = self
            .client
            .post(&self.completions_url)
            .header(header::CONTENT_TYPE, "application/json")
            .header(
                header::ACCEPT,
                if request.stream {
                    "text/event-stream"
                } else {
                    "application/json"
                },
            )
            .body(body);
        if let Some(token) = &self.token {
            builder = builder.bearer_auth(token.expose());
        }
        if let Some(agent) = &request.agent_id {
            builder = builder.header("x-openclaw-agent-id", agent);
        }
        if let Some(session) = &request.session_key {
            builder = builder.header("x-openclaw-session-key", session);
        }
        if let Some(model) = &request.backend_model {
            builder = builder.header("x-openclaw-model", model);
        }
        let response = tokio::time::timeout(self.response_timeout, builder.send())
            .await
            .map_err(|_| UpstreamFailure::Timeout)?
            .map_err(classify)?;
        let status = response.status();
        if status.is_success() {
            return Ok(response);
        }
        let content_type = response.headers().get(header::CONTENT_TYPE).cloned();
        let body = read_bounded(response, MAX_ERROR_BODY).await;
        Err(UpstreamFailure::Status {
            status: status.as_u16(),
            content_type,
            body,
        })
    }

    /// Calls the upstream's `/tools/invoke`; returns its status, content type and body (any
    /// status: OpenClaw's tool errors are the client's to see).
    pub async fn invoke_tool(
        &self,
        body: Vec<u8>,
    ) -> Result<(u16, Option<HeaderValue>, Bytes), UpstreamFailure> {
        let mut builder = self
            .client
            .post(&self.tools_url)
            .header(header::CONTENT_TYPE, "application/json")
            .body(body);
        if let Some(token) = &self.token {
            builder = builder.bearer_auth(token.expose());
        }
        let work = async {
            let response = builder.send().await.map_err(classify)?;
            let status = response.status().as_u16();
            let content_type = response.headers().get(header::CONTENT_TYPE).cloned();
            let bytes = response.bytes().await.map_err(classify)?;
            Ok::<_, UpstreamFailure>((status, content_type, bytes))
        };
        tokio::time::timeout(self.response_timeout, work)
            .await
            .map_err(|_| UpstreamFailure::Timeout)?
    }

    /// Whether the upstream answers its health path with a success status.
    pub async fn ready(&self) -> Result<(), String> {
        let probe = self
            .client
            .get(&self.health_url)
            .timeout(Duration::from_secs(2))
            .send()
            .await;
        match probe {
            Ok(r) if r.status().is_success() => Ok(()),
            Ok(r) => Err(format!("upstream health check answered {}", r.status().as_u16())),
            Err(e) => Err(format!("upstream health check failed: {}", describe(&e))),
        }
    }
}

async fn read_bounded(mut response: reqwest::Response, limit: usize) -> Bytes {
    let mut out = Vec::new();
    while let Ok(Some(chunk)) = response.chunk().await {
        let room = limit.saturating_sub(out.len());
        out.extend_from_slice(&chunk[..chunk.len().min(room)]);
        if out.len() >= limit {
            break;
        }
    }
    Bytes::from(out)
}

pub(crate) fn classify(e: reqwest::Error) -> UpstreamFailure {
    if e.is_timeout() {
        UpstreamFailure::Timeout
    } else {
        UpstreamFailure::Unreachable(describe(&e))
    }
}

/// The error with its causes, which is where reqwest says what actually went wrong.
pub(crate) fn describe(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}
