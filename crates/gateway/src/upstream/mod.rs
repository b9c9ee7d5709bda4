//! The upstream agent (an OpenClaw Gateway or any OpenAI-compatible server): one pooled HTTP
//! client, the upstream token attached here and nowhere else, failures sorted into kinds;
//! the streaming tee, the governance of answers, and the forwarding every surface shares.

pub mod answer;
pub mod forward;
pub mod hold;
pub mod sse;
pub mod tee;

use std::time::Duration;

use axum::http::{HeaderValue, header};
use bytes::Bytes;

use crate::config::UpstreamConfig;
use crate::error::ApiError;
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
    /// An answer larger than `max_response_bytes`.
    TooLarge { limit: usize },
}

impl UpstreamFailure {
    /// The audit `kind` of the failure.
    pub fn kind(&self) -> &'static str {
        match self {
            UpstreamFailure::Unreachable(_) => "unreachable",
            UpstreamFailure::Timeout => "timeout",
            UpstreamFailure::Status { .. } => "status",
            UpstreamFailure::TooLarge { .. } => "too_large",
        }
    }

    pub fn detail(&self) -> String {
        match self {
            UpstreamFailure::Unreachable(m) => m.clone(),
            UpstreamFailure::Timeout => "no response within upstream.response_timeout_ms".into(),
            UpstreamFailure::Status { status, .. } => format!("upstream answered {status}"),
            UpstreamFailure::TooLarge { limit } => {
                format!("answer larger than upstream.max_response_bytes ({limit})")
            }
        }
    }

    pub fn status(&self) -> Option<u16> {
        match self {
            UpstreamFailure::Status { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// The error a client gets when the failure is not passed through.
    pub fn api_error(&self) -> ApiError {
        match self {
            UpstreamFailure::Unreachable(_) => ApiError::UpstreamUnreachable,
            UpstreamFailure::Timeout => ApiError::UpstreamTimeout,
            UpstreamFailure::Status { status, .. } => ApiError::UpstreamStatus { status: *status },
            UpstreamFailure::TooLarge { limit } => ApiError::UpstreamTooLarge { limit: *limit },
        }
    }

    /// A client error from the upstream (bad parameters, say) is the client's to see (governed
    /// like any answer); an auth failure or a server error is Warden's problem and becomes a 502.
    pub fn passes_through(&self) -> bool {
        matches!(self, UpstreamFailure::Status { status, .. }
            if (400..500).contains(status) && !matches!(status, 401 | 403 | 407))
    }
}

/// A whole answer from the upstream.
pub struct Answer {
    pub status: axum::http::StatusCode,
    pub content_type: Option<HeaderValue>,
    pub body: Bytes,
}

impl Answer {
    /// The answer as a failure when its status is not a success.
    pub fn ok(self) -> Result<Answer, UpstreamFailure> {
        if self.status.is_success() {
            return Ok(self);
        }
        Err(UpstreamFailure::Status {
            status: self.status.as_u16(),
            content_type: self.content_type,
            body: self.body,
        })
    }
}

/// One call to the upstream.
pub struct Call<'a> {
    /// The path under the upstream's root, e.g. `/v1/chat/completions`.
    pub path: &'static str,
    pub body: Vec<u8>,
    pub headers: &'a [(&'static str, String)],
    pub stream: bool,
}

/// The paths Warden calls on the upstream, parsed once.
const PATHS: [&str; 3] = ["/v1/chat/completions", "/v1/responses", "/tools/invoke"];

/// The upstream client. Cheap to clone: one shared client and its settings.
#[derive(Clone, Debug)]
pub struct Upstream(std::sync::Arc<Client>);

/// What an `Upstream` shares.
#[derive(Debug)]
pub struct Client {
    client: reqwest::Client,
    root: String,
    urls: Vec<(&'static str, reqwest::Url)>,
    health_url: String,
    token: Option<Secret>,
    pub response_timeout: Duration,
    pub idle_timeout: Duration,
    pub max_response_bytes: usize,
}

impl std::ops::Deref for Upstream {
    type Target = Client;

    fn deref(&self) -> &Client {
        &self.0
    }
}

impl Upstream {
    pub fn new(config: &UpstreamConfig) -> Result<Upstream, reqwest::Error> {
        let client = reqwest::Client::builder()
            .connect_timeout(config.connect_timeout)
            .tcp_nodelay(true)
            .pool_idle_timeout(Duration::from_secs(60))
            .build()?;
        let urls = PATHS
            .iter()
            .filter_map(|path| {
                reqwest::Url::parse(&format!("{}{path}", config.url))
                    .ok()
                    .map(|url| (*path, url))
            })
            .collect();
        Ok(Upstream(std::sync::Arc::new(Client {
            client,
            root: config.url.clone(),
            urls,
            health_url: format!("{}{}", config.url, config.health_path),
            token: config.token.clone(),
            response_timeout: config.response_timeout,
            idle_timeout: config.idle_timeout,
            max_response_bytes: config.max_response_bytes,
        })))
    }

    /// The upstream token, for scrubbing it from answers.
    pub fn token(&self) -> Option<&Secret> {
        self.token.as_ref()
    }

    /// Sends a call and returns once the response headers are in, whatever the status.
    pub async fn send(&self, call: Call<'_>) -> Result<reqwest::Response, UpstreamFailure> {
        let url = match self.urls.iter().find(|(path, _)| *path == call.path) {
            Some((_, url)) => url.clone(),
            None => reqwest::Url::parse(&format!("{}{}", self.root, call.path))
                .map_err(|e| UpstreamFailure::Unreachable(e.to_string()))?,
        };
        let mut builder = self
            .client
            .post(url)
            .header(header::CONTENT_TYPE, "application/json")
            .header(
                header::ACCEPT,
                if call.stream {
                    "text/event-stream"
                } else {
                    "application/json"
                },
            )
            .body(call.body);
        if let Some(token) = &self.token {
            builder = builder.bearer_auth(token.expose());
        }
        for (name, value) in call.headers {
            builder = builder.header(*name, value);
        }
        tokio::time::timeout(self.response_timeout, builder.send())
            .await
            .map_err(|_| UpstreamFailure::Timeout)?
            .map_err(classify)
    }

    /// Sends a call and fails unless its status is a success; the failure keeps a bounded copy
    /// of the upstream's error body.
    pub async fn send_ok(&self, call: Call<'_>) -> Result<reqwest::Response, UpstreamFailure> {
        let response = self.send(call).await?;
        let status = response.status();
        if status.is_success() {
            return Ok(response);
        }
        let content_type = response.headers().get(header::CONTENT_TYPE).cloned();
        let body = self.read_capped(response).await.unwrap_or_default();
        Err(UpstreamFailure::Status {
            status: status.as_u16(),
            content_type,
            body,
        })
    }

    /// Sends a call and reads its whole answer (bounded), whatever its status.
    pub async fn exchange(&self, call: Call<'_>) -> Result<Answer, UpstreamFailure> {
        let response = self.send(call).await?;
        let status = response.status();
        let content_type = response.headers().get(header::CONTENT_TYPE).cloned();
        let body = self.read_capped(response).await?;
        Ok(Answer {
            status,
            content_type,
            body,
        })
    }

    /// Reads a whole answer, refusing one larger than `max_response_bytes`.
    pub async fn read_capped(&self, mut response: reqwest::Response) -> Result<Bytes, UpstreamFailure> {
        let limit = self.max_response_bytes;
        if response.content_length().is_some_and(|n| n > limit as u64) {
            return Err(UpstreamFailure::TooLarge { limit });
        }
        let mut out = Vec::new();
        let read = async {
            while let Some(chunk) = response.chunk().await.map_err(classify)? {
                if out.len() + chunk.len() > limit {
                    return Err(UpstreamFailure::TooLarge { limit });
                }
                out.extend_from_slice(&chunk);
            }
            Ok(())
        };
        tokio::time::timeout(self.response_timeout, read)
            .await
            .map_err(|_| UpstreamFailure::Timeout)??;
        Ok(Bytes::from(out))
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

/// What the upstream made of Warden's token, asked with an authenticated request.
#[derive(Debug, PartialEq, Eq)]
pub enum TokenCheck {
    /// It answered the authenticated request with a success.
    Accepted,
    /// It refused it (401 or 403): the token is wrong or missing.
    Refused(u16),
    /// It answered something else, which says nothing about the token.
    Inconclusive(String),
    /// It could not be reached.
    Unreachable(String),
}

impl Upstream {
    /// Asks the upstream for its models (`GET /v1/models`) with Warden's token, as a request
    /// would be sent: the check that the token is the one the upstream expects.
    pub async fn check_token(&self) -> TokenCheck {
        let url = format!("{}/v1/models", self.root.trim_end_matches('/'));
        let mut request = self.client.get(&url).timeout(Duration::from_secs(5));
        if let Some(token) = &self.token {
            request = request.bearer_auth(token.expose());
        }
        match request.send().await {
            Ok(r) if r.status().is_success() => TokenCheck::Accepted,
            Ok(r) if matches!(r.status().as_u16(), 401 | 403) => TokenCheck::Refused(r.status().as_u16()),
            Ok(r) => TokenCheck::Inconclusive(format!("GET /v1/models answered {}", r.status().as_u16())),
            Err(e) => TokenCheck::Unreachable(describe(&e)),
        }
    }
}

pub(crate) fn classify(e: reqwest::Error) -> UpstreamFailure {
    if e.is_timeout() {
        UpstreamFailure::Timeout
    } else {
        UpstreamFailure::Unreachable(describe(&e))
    }
}

pub(crate) use crate::error::describe;
