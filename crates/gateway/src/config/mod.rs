//! Configuration: one TOML file, parsed strictly into the raw structs of `raw` (unknown keys
//! are errors), then validated into the runtime `Config`, whose choices are enums. Command-line
//! flags and environment variables override the file.

mod console;
mod limits;
mod mcp;
mod raw;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use warden_store::Durability;

pub use console::*;
pub use limits::*;
pub use mcp::*;
pub use raw::*;

use crate::secret::Secret;

/// Values given on the command line or in the environment; they win over the file.
#[derive(Debug, Default, Clone)]
pub struct Overrides {
    pub listen: Option<String>,
    pub database_url: Option<String>,
    pub upstream: Option<String>,
    pub auto_approve: Option<bool>,
    /// The upstream token from the environment (`WARDEN_UPSTREAM_TOKEN`).
    pub upstream_token_env: Option<String>,
}

/// The validated runtime configuration.
#[derive(Debug, Clone)]
pub struct Config {
    pub listen: SocketAddr,
    pub max_body_bytes: usize,
    pub shutdown_grace: Duration,
    pub connections: ConnectionLimits,
    pub database_url: String,
    pub durability: Durability,
    /// `None`: the engine's default.
    pub max_connections: Option<u32>,
    pub upstream: UpstreamConfig,
    pub models: BTreeMap<String, String>,
    pub policy_file: Option<PathBuf>,
    /// `[policy] shadow_file`: judged beside the policy in force, recorded, not enforced.
    pub policy_shadow_file: Option<PathBuf>,
    pub policy_reload_interval: Duration,
    pub auto_approve: bool,
    pub approvals: ApprovalsConfig,
    pub audit_max_text_chars: usize,
    pub manual_clock: bool,
    pub tools: ToolsConfig,
    pub responses: ResponsesConfig,
    pub sessions: SessionsConfig,
    /// `[guard]`: a second opinion, if configured.
    pub guard: Option<GuardConfig>,
    /// `[mcp]`: the MCP servers governed at `/mcp/{name}`.
    pub mcp: McpConfig,
    /// `[console]`: the operators' web console.
    pub console: ConsoleConfig,
    /// `[metrics] enabled`: serve `GET /metrics`.
    pub metrics_enabled: bool,
    /// `[metrics] listen`: serve it there, and not on the gateway's own address.
    pub metrics_listen: Option<SocketAddr>,
    /// `[pricing]`: per upstream model, the price of a million input and output tokens.
    pub pricing: BTreeMap<String, RawPrice>,
    /// `[[limits]]`: rate limits and token budgets.
    pub limits: Vec<LimitConfig>,
    /// `[telemetry]`: OpenTelemetry traces, if configured.
    pub telemetry: Option<TelemetryConfig>,
}

/// `[telemetry]`, resolved.
#[derive(Debug, Clone)]
pub struct TelemetryConfig {
    pub otlp_endpoint: String,
    pub sample_ratio: f64,
    pub service_name: String,
    pub export_interval: Duration,
}

impl RawTelemetry {
    fn resolve(self) -> Result<Option<TelemetryConfig>, ConfigError> {
        let invalid = |key: &'static str, message: String| ConfigError::Invalid { key, message };
        let Some(endpoint) = self.otlp_endpoint else {
            return Ok(None);
        };
        if !(endpoint.starts_with("http://") || endpoint.starts_with("https://")) {
            return Err(invalid(
                "telemetry.otlp_endpoint",
                format!(
                    "{endpoint:?} must be an http:// or https:// URL, such as \"http://127.0.0.1:4318/v1/traces\""
                ),
            ));
        }
        let sample_ratio = self.sample_ratio.unwrap_or(1.0);
        if !(0.0..=1.0).contains(&sample_ratio) {
            return Err(invalid(
                "telemetry.sample_ratio",
                format!("{sample_ratio} is not between 0 and 1"),
            ));
        }
        Ok(Some(TelemetryConfig {
            otlp_endpoint: endpoint,
            sample_ratio,
            service_name: self.service_name.unwrap_or_else(|| "warden".into()),
            export_interval: match self.export_interval_ms.unwrap_or(2_000) {
                0 => {
                    return Err(invalid(
                        "telemetry.export_interval_ms",
                        "must be greater than 0".into(),
                    ));
                }
                ms => Duration::from_millis(ms),
            },
        }))
    }
}

/// What a guard answers in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GuardFormat {
    /// A chat completion whose answer begins `safe` or `unsafe` (Llama Guard's convention).
    OpenAi,
    /// `POST {"text": ...}` answered `{"verdict": "safe" | "unsafe" | "green" | "amber" | "red"}`.
    Http,
}

impl Keyword for GuardFormat {
    const WORDS: &'static [(&'static str, Self)] = &[("openai", Self::OpenAi), ("http", Self::Http)];
}

/// Which of the rules' verdicts the guard is asked about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GuardAsk {
    All,
    GreenAmber,
}

impl Keyword for GuardAsk {
    const WORDS: &'static [(&'static str, Self)] = &[("all", Self::All), ("green_amber", Self::GreenAmber)];
}

/// What a guard that does not answer in time means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GuardFailure {
    /// The rules' verdict stands.
    Open,
    /// The request is blocked.
    Closed,
}

impl Keyword for GuardFailure {
    const WORDS: &'static [(&'static str, Self)] = &[("open", Self::Open), ("closed", Self::Closed)];
}

impl GuardFailure {
    pub fn as_str(self) -> &'static str {
        match self {
            GuardFailure::Open => "open",
            GuardFailure::Closed => "closed",
        }
    }
}

/// The guard, resolved.
#[derive(Debug, Clone)]
pub struct GuardConfig {
    pub url: String,
    pub format: GuardFormat,
    pub model: Option<String>,
    pub api_key: Option<Secret>,
    pub ask: GuardAsk,
    pub timeout: Duration,
    pub on_failure: GuardFailure,
    pub cache_entries: usize,
    pub cache_ttl: Duration,
}

impl raw::RawGuard {
    fn resolve(self, env: &dyn Fn(&str) -> Option<String>) -> Result<Option<GuardConfig>, ConfigError> {
        let invalid = |key: &'static str, message: String| ConfigError::Invalid { key, message };
        let Some(url) = self.url else {
            return Ok(None);
        };
        if !(url.starts_with("http://") || url.starts_with("https://")) {
            return Err(invalid(
                "guard.url",
                format!("{url:?} must start with http:// or https://"),
            ));
        }
        let on_failure = match self.on_failure.as_deref() {
            None => {
                return Err(invalid(
                    "guard.on_failure",
                    "must be set with guard.url: `open` (the rules' verdict stands) or `closed` (blocked)"
                        .into(),
                ));
            }
            some => keyword("guard.on_failure", some, GuardFailure::Open)?,
        };
        let api_key = match &self.api_key_env {
            Some(var) => Some(secret_from_env(env, "guard.api_key_env", var)?),
            None => None,
        };
        let timeout_ms = self.timeout_ms.unwrap_or(1500);
        if timeout_ms == 0 {
            return Err(invalid("guard.timeout_ms", "must be greater than 0".into()));
        }
        Ok(Some(GuardConfig {
            url,
            format: keyword("guard.format", self.format.as_deref(), GuardFormat::OpenAi)?,
            model: self.model,
            api_key,
            ask: keyword("guard.ask", self.ask.as_deref(), GuardAsk::All)?,
            timeout: Duration::from_millis(timeout_ms),
            on_failure,
            cache_entries: self.cache_entries.unwrap_or(1024),
            cache_ttl: Duration::from_secs(self.cache_ttl_secs.unwrap_or(600)),
        }))
    }
}

#[derive(Debug, Clone)]
pub struct UpstreamConfig {
    /// Root URL without a trailing slash, e.g. `http://127.0.0.1:18789`.
    pub url: String,
    pub token: Option<Secret>,
    pub connect_timeout: Duration,
    pub response_timeout: Duration,
    pub idle_timeout: Duration,
    pub health_path: String,
    /// Largest answer read whole.
    pub max_response_bytes: usize,
}

/// How connections are held: what keeps idle and slow sockets from piling up.
#[derive(Debug, Clone, Copy)]
pub struct ConnectionLimits {
    pub header_timeout: Duration,
    pub idle_timeout: Duration,
    pub body_timeout: Duration,
    pub max_connections: usize,
}

/// A setting that is one of a few words, each naming a variant.
pub trait Keyword: Copy + PartialEq + 'static {
    const WORDS: &'static [(&'static str, Self)];

    fn parse(text: &str) -> Option<Self> {
        Self::WORDS
            .iter()
            .find(|(word, _)| *word == text)
            .map(|(_, v)| *v)
    }

    fn as_str(self) -> &'static str {
        Self::WORDS
            .iter()
            .find(|(_, v)| *v == self)
            .map_or("", |(word, _)| word)
    }
}

/// The setting `key`: `raw`, or `default` when it is absent; another word is refused, naming
/// the words allowed.
fn keyword<T: Keyword>(key: &'static str, raw: Option<&str>, default: T) -> Result<T, ConfigError> {
    let Some(text) = raw else { return Ok(default) };
    T::parse(text).ok_or_else(|| {
        let words: Vec<String> = T::WORDS.iter().map(|(w, _)| format!("`{w}`")).collect();
        let allowed = match words.split_last() {
            Some((last, [])) => last.clone(),
            Some((last, rest)) => format!("{} or {last}", rest.join(", ")),
            None => String::new(),
        };
        ConfigError::Invalid {
            key,
            message: format!("must be {allowed}, not `{text}`"),
        }
    })
}

/// How an amber request waits for people.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ApprovalMode {
    /// The client's connection waits for the decision.
    Hold,
    /// The client is answered at once with the approval id, and sends the request again.
    Defer,
}

impl Keyword for ApprovalMode {
    const WORDS: &'static [(&'static str, Self)] = &[("hold", Self::Hold), ("defer", Self::Defer)];
}

/// What an approval request that nobody decided becomes when it expires.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnExpiry {
    Reject,
    Approve,
}

impl Keyword for OnExpiry {
    const WORDS: &'static [(&'static str, Self)] = &[("reject", Self::Reject), ("approve", Self::Approve)];
}

/// Whose agent-side sessions a key reaches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionScope {
    /// Its own: session names are prefixed with its tenant and name.
    Key,
    /// Its tenant's: session names are prefixed with its tenant.
    Tenant,
    /// Any: session names are forwarded as sent.
    Shared,
}

impl Keyword for SessionScope {
    const WORDS: &'static [(&'static str, Self)] = &[
        ("key", Self::Key),
        ("tenant", Self::Tenant),
        ("shared", Self::Shared),
    ];
}

/// Agent-side sessions, resolved.
#[derive(Debug, Clone)]
pub struct SessionsConfig {
    pub scope: SessionScope,
    pub memory_turns: usize,
    pub memory_ttl: Duration,
}

/// How tool calls in answers are treated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ToolCallMode {
    /// A red tool call replaces the answer with a refusal.
    Enforce,
    /// Judged and recorded; the answer passes.
    Annotate,
    Off,
}

impl Keyword for ToolCallMode {
    const WORDS: &'static [(&'static str, Self)] = &[
        ("enforce", Self::Enforce),
        ("annotate", Self::Annotate),
        ("off", Self::Off),
    ];
}

/// The shape of a webhook's body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WebhookFormat {
    /// A generic JSON event.
    Json,
    /// A Slack-compatible message.
    Slack,
}

impl Keyword for WebhookFormat {
    const WORDS: &'static [(&'static str, Self)] = &[("json", Self::Json), ("slack", Self::Slack)];
}

pub const DEFAULT_LISTEN: &str = "127.0.0.1:8787";
pub const DEFAULT_DATABASE_URL: &str = "sqlite://warden.db";
pub const DEFAULT_UPSTREAM: &str = "http://127.0.0.1:18789";

/// Why a configuration was refused.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read {path}: {source}")]
    Read { path: String, source: std::io::Error },
    #[error("{path}: {message}")]
    Parse { path: String, message: String },
    #[error("{key}: {message}")]
    Invalid { key: &'static str, message: String },
}

impl RawConfig {
    /// Reads and parses a config file; unknown keys are errors naming the key and line.
    pub fn from_file(path: &Path) -> Result<RawConfig, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.display().to_string(),
            source,
        })?;
        let mut raw = RawConfig::from_toml(&text, &path.display().to_string())?;
        raw.base_dir = path
            .parent()
            .map(|dir| {
                if dir.as_os_str().is_empty() {
                    Path::new(".")
                } else {
                    dir
                }
            })
            .map(Path::to_path_buf);
        Ok(raw)
    }

    pub fn from_toml(text: &str, origin: &str) -> Result<RawConfig, ConfigError> {
        toml::from_str(text).map_err(|e| ConfigError::Parse {
            path: origin.to_string(),
            message: e.to_string().trim_end().to_string(),
        })
    }

    /// Applies overrides and defaults, reads the token file, and checks every value.
    pub fn resolve(self, overrides: Overrides) -> Result<Config, ConfigError> {
        let millis = |v: Option<u64>, default: u64, key: &'static str| {
            let ms = v.unwrap_or(default);
            if ms == 0 {
                Err(ConfigError::Invalid {
                    key,
                    message: "must be greater than 0".into(),
                })
            } else {
                Ok(Duration::from_millis(ms))
            }
        };
        let listen_text = overrides
            .listen
            .or(self.server.listen)
            .unwrap_or_else(|| DEFAULT_LISTEN.to_string());
        let listen: SocketAddr = listen_text.parse().map_err(|e| ConfigError::Invalid {
            key: "server.listen",
            message: format!("{listen_text:?} is not an address like 127.0.0.1:8787 ({e})"),
        })?;
        let max_body_bytes = self.server.max_body_bytes.unwrap_or(2 * 1024 * 1024);
        let connections = ConnectionLimits {
            header_timeout: millis(self.server.header_timeout_ms, 10_000, "server.header_timeout_ms")?,
            idle_timeout: millis(self.server.idle_timeout_ms, 60_000, "server.idle_timeout_ms")?,
            body_timeout: millis(self.server.body_timeout_ms, 30_000, "server.body_timeout_ms")?,
            max_connections: match self.server.max_connections.unwrap_or(4096) {
                n @ 1..=1_000_000 => n,
                n => {
                    return Err(ConfigError::Invalid {
                        key: "server.max_connections",
                        message: format!("{n} is not between 1 and 1000000"),
                    });
                }
            },
        };
        if max_body_bytes < 1024 {
            return Err(ConfigError::Invalid {
                key: "server.max_body_bytes",
                message: "must be at least 1024".into(),
            });
        }
        let upstream_url = overrides
            .upstream
            .or(self.upstream.url)
            .unwrap_or_else(|| DEFAULT_UPSTREAM.to_string());
        let upstream_url = upstream_url.trim_end_matches('/').to_string();
        if !(upstream_url.starts_with("http://") || upstream_url.starts_with("https://")) {
            return Err(ConfigError::Invalid {
                key: "upstream.url",
                message: format!("{upstream_url:?} must start with http:// or https://"),
            });
        }
        // The environment wins over the file, as everywhere else; an empty token is an error,
        // not an `Authorization: Bearer ` with nothing after it.
        let env_token = overrides
            .upstream_token_env
            .map(|t| t.trim().to_string())
            .filter(|t| !t.is_empty());
        let token = match (env_token, &self.upstream.token_file) {
            (Some(token), _) => Some(Secret::new(token)),
            (None, Some(path)) => {
                let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
                    path: path.display().to_string(),
                    source,
                })?;
                let token = text.trim();
                if token.is_empty() {
                    return Err(ConfigError::Invalid {
                        key: "upstream.token_file",
                        message: format!("{} is empty", path.display()),
                    });
                }
                Some(Secret::new(token.to_string()))
            }
            (None, None) => None,
        };
        let health_path = self.upstream.health_path.unwrap_or_else(|| "/readyz".into());
        if !health_path.starts_with('/') {
            return Err(ConfigError::Invalid {
                key: "upstream.health_path",
                message: "must start with /".into(),
            });
        }
        let models = self.models.unwrap_or_else(|| {
            BTreeMap::from([
                ("openclaw".to_string(), "openclaw/main".to_string()),
                ("openclaw/main".to_string(), "openclaw/main".to_string()),
            ])
        });
        if models.is_empty() {
            return Err(ConfigError::Invalid {
                key: "models",
                message: "must map at least one client model name to an upstream model".into(),
            });
        }
        let responses = ResponsesConfig {
            tool_calls: keyword(
                "responses.tool_calls",
                self.responses.tool_calls.as_deref(),
                ToolCallMode::Enforce,
            )?,
            dlp_window_chars: self.responses.dlp_window_chars.unwrap_or(256),
            dlp_hold: Duration::from_millis(self.responses.dlp_hold_ms.unwrap_or(1000)),
        };
        let sessions = SessionsConfig {
            scope: keyword(
                "sessions.scope",
                self.sessions.scope.as_deref(),
                SessionScope::Key,
            )?,
            memory_turns: match self.sessions.memory_turns.unwrap_or(8) {
                n if n > 64 => {
                    return Err(ConfigError::Invalid {
                        key: "sessions.memory_turns",
                        message: format!("{n} is more than 64"),
                    });
                }
                n => n,
            },
            memory_ttl: Duration::from_secs(match self.sessions.memory_ttl_secs.unwrap_or(86_400) {
                0 => {
                    return Err(ConfigError::Invalid {
                        key: "sessions.memory_ttl_secs",
                        message: "must be at least 1".into(),
                    });
                }
                n => n,
            }),
        };
        let tools = self.tools.resolve()?;
        let auto_approve = overrides
            .auto_approve
            .or(self.approvals.auto_approve)
            .unwrap_or(false);
        let approvals = self.approvals.resolve(&|var: &str| std::env::var(var).ok())?;
        let guard = self.guard.resolve(&|var: &str| std::env::var(var).ok())?;
        let mcp = self.mcp.resolve(&|var: &str| std::env::var(var).ok())?;
        let console = self.console.resolve()?;
        Ok(Config {
            listen,
            max_body_bytes,
            shutdown_grace: Duration::from_secs(self.server.shutdown_grace_secs.unwrap_or(30)),
            connections,
            // A flag or the environment names a path from where the command runs; the file (or
            // its default) from where the file is.
            database_url: overrides.database_url.unwrap_or_else(|| {
                let written = self
                    .store
                    .database_url
                    .unwrap_or_else(|| DEFAULT_DATABASE_URL.to_string());
                relative_to(self.base_dir.as_deref(), written)
            }),
            durability: self.store.durability.unwrap_or_default(),
            max_connections: match self.store.max_connections {
                Some(n) if !(1..=1000).contains(&n) => {
                    return Err(ConfigError::Invalid {
                        key: "store.max_connections",
                        message: format!("{n} is not between 1 and 1000"),
                    });
                }
                n => n,
            },
            upstream: UpstreamConfig {
                url: upstream_url,
                token,
                connect_timeout: millis(
                    self.upstream.connect_timeout_ms,
                    5_000,
                    "upstream.connect_timeout_ms",
                )?,
                response_timeout: millis(
                    self.upstream.response_timeout_ms,
                    300_000,
                    "upstream.response_timeout_ms",
                )?,
                idle_timeout: millis(self.upstream.idle_timeout_ms, 120_000, "upstream.idle_timeout_ms")?,
                health_path,
                max_response_bytes: match self.upstream.max_response_bytes.unwrap_or(16 * 1024 * 1024) {
                    n if n < 1024 => {
                        return Err(ConfigError::Invalid {
                            key: "upstream.max_response_bytes",
                            message: "must be at least 1024".into(),
                        });
                    }
                    n => n,
                },
            },
            models,
            policy_file: self.policy.file,
            policy_shadow_file: self.policy.shadow_file,
            policy_reload_interval: millis(
                self.policy.reload_interval_ms,
                2_000,
                "policy.reload_interval_ms",
            )?,
            approvals,
            auto_approve,
            audit_max_text_chars: self.audit.max_text_chars.unwrap_or(4000),
            manual_clock: self.testing.manual_clock.unwrap_or(false),
            tools,
            responses,
            sessions,
            guard,
            mcp,
            console,
            metrics_enabled: self.metrics.enabled.unwrap_or(true),
            metrics_listen: match self.metrics.listen.as_deref() {
                None => None,
                Some(text) => Some(text.parse().map_err(|_| ConfigError::Invalid {
                    key: "metrics.listen",
                    message: format!("{text:?} is not an address such as \"127.0.0.1:9464\""),
                })?),
            },
            telemetry: self.telemetry.resolve()?,
            limits: self
                .limits
                .into_iter()
                .enumerate()
                .map(|(i, l)| l.resolve(i))
                .collect::<Result<_, _>>()?,
            pricing: {
                for (model, price) in &self.pricing {
                    let valid = |p: f64| p.is_finite() && p >= 0.0;
                    if !valid(price.input_per_million) || !valid(price.output_per_million) {
                        return Err(ConfigError::Invalid {
                            key: "pricing",
                            message: format!("the prices of {model:?} must be numbers of at least 0"),
                        });
                    }
                }
                self.pricing
            },
        })
    }
}

/// `url` with a relative SQLite path joined to `dir`; any other URL as it is.
fn relative_to(dir: Option<&Path>, url: String) -> String {
    let Some(dir) = dir.filter(|d| *d != Path::new(".")) else {
        return url;
    };
    let path = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"));
    match path {
        Some(path) if !path.is_empty() && !path.starts_with(':') && Path::new(path).is_relative() => {
            format!("sqlite://{}", dir.join(path).display())
        }
        _ => url,
    }
}

/// Approval defaults; a rule's `approval` table overrides them for its requests.
#[derive(Debug, Clone)]
pub struct ApprovalsConfig {
    pub mode: ApprovalMode,
    pub hold_timeout: Duration,
    pub keepalive: Duration,
    pub expires_after: Duration,
    pub quorum: u32,
    pub groups: Vec<String>,
    pub escalate_to: Vec<String>,
    pub escalate_after: Option<Duration>,
    pub remind_every: Option<Duration>,
    pub on_expiry: OnExpiry,
    pub scheduler_interval: Duration,
    pub poll_interval: Duration,
    pub max_pending_per_requester: u32,
    pub webhooks: Vec<WebhookConfig>,
}

/// A webhook to notify of approval events.
#[derive(Debug, Clone)]
pub struct WebhookConfig {
    pub name: String,
    pub url: String,
    pub format: WebhookFormat,
    pub secret: Option<Secret>,
    pub events: Vec<String>,
    pub max_attempts: u32,
}

pub const WEBHOOK_EVENTS: [&str; 5] = ["requested", "decided", "expired", "escalated", "reminder"];

impl RawApprovals {
    fn resolve(self, env: &dyn Fn(&str) -> Option<String>) -> Result<ApprovalsConfig, ConfigError> {
        let invalid = |key: &'static str, message: String| ConfigError::Invalid { key, message };
        let mode = keyword("approvals.mode", self.mode.as_deref(), ApprovalMode::Defer)?;
        let on_expiry = keyword("approvals.on_expiry", self.on_expiry.as_deref(), OnExpiry::Reject)?;
        let quorum = self.quorum.unwrap_or(1);
        if !(1..=20).contains(&quorum) {
            return Err(invalid("approvals.quorum", "must lie in 1..=20".into()));
        }
        let mut webhooks = Vec::new();
        for hook in self.webhooks {
            let format = keyword(
                "approvals.webhooks.format",
                hook.format.as_deref(),
                WebhookFormat::Json,
            )?;
            if !(hook.url.starts_with("http://") || hook.url.starts_with("https://")) {
                return Err(invalid(
                    "approvals.webhooks.url",
                    format!("{:?} must start with http:// or https://", hook.url),
                ));
            }
            let secret = match (&hook.secret_env, &hook.secret_file) {
                (Some(var), _) => Some(secret_from_env(env, "approvals.webhooks.secret_env", var)?),
                (None, Some(path)) => {
                    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
                        path: path.display().to_string(),
                        source,
                    })?;
                    Some(Secret::new(text.trim().to_string()))
                }
                (None, None) => None,
            };
            let events = hook
                .events
                .unwrap_or_else(|| WEBHOOK_EVENTS.iter().map(|e| e.to_string()).collect());
            if let Some(e) = events.iter().find(|e| !WEBHOOK_EVENTS.contains(&e.as_str())) {
                return Err(invalid(
                    "approvals.webhooks.events",
                    format!("unknown event `{e}` (known: {})", WEBHOOK_EVENTS.join(", ")),
                ));
            }
            webhooks.push(WebhookConfig {
                name: hook.name,
                url: hook.url,
                format,
                secret,
                events,
                max_attempts: hook.max_attempts.unwrap_or(8).clamp(1, 50),
            });
        }
        let secs = |v: Option<u64>, default: u64| Duration::from_secs(v.unwrap_or(default).max(1));
        Ok(ApprovalsConfig {
            mode,
            hold_timeout: secs(self.hold_timeout_secs, 30),
            keepalive: secs(self.keepalive_secs, 10),
            expires_after: secs(self.expires_after_secs, 3600),
            quorum,
            groups: self.groups.unwrap_or_default(),
            escalate_to: self.escalate_to.unwrap_or_default(),
            escalate_after: self.escalate_after_secs.map(|s| Duration::from_secs(s.max(1))),
            remind_every: self.remind_every_secs.map(|s| Duration::from_secs(s.max(1))),
            on_expiry,
            scheduler_interval: Duration::from_millis(
                self.scheduler_interval_ms.unwrap_or(1000).clamp(10, 60_000),
            ),
            poll_interval: Duration::from_millis(self.poll_interval_ms.unwrap_or(500).clamp(10, 600_000)),
            max_pending_per_requester: match self.max_pending_per_requester.unwrap_or(50) {
                0 => {
                    return Err(invalid(
                        "approvals.max_pending_per_requester",
                        "must be at least 1".into(),
                    ));
                }
                n => n,
            },
            webhooks,
        })
    }
}

/// Governance of answers, resolved.
#[derive(Debug, Clone)]
pub struct ResponsesConfig {
    pub tool_calls: ToolCallMode,
    /// The look-behind of streamed text the detectors read, and the most that is held.
    pub dlp_window_chars: usize,
    /// How long a possible secret's start waits through an upstream pause (zero: no bound).
    pub dlp_hold: Duration,
}

/// Tool governance, resolved.
#[derive(Debug, Clone)]
pub struct ToolsConfig {
    pub http_deny: Vec<String>,
    pub tiers: BTreeMap<String, warden_policy::Risk>,
    pub max_body_bytes: usize,
}

/// OpenClaw refuses these over HTTP by default; Warden refuses them on `/tools/invoke` too.
pub const OPENCLAW_HTTP_DENY: [&str; 22] = [
    "exec",
    "spawn",
    "shell",
    "fs_write",
    "fs_delete",
    "fs_move",
    "apply_patch",
    "terminal",
    "portal",
    "sessions_spawn",
    "sessions_send",
    "conversations_list",
    "conversations_send",
    "conversations_turn",
    "automations",
    "cron",
    "gateway",
    "plugins",
    "nodes",
    "computer",
    "mobile_ui",
    "openclaw",
];

impl RawTools {
    fn resolve(self) -> Result<ToolsConfig, ConfigError> {
        // A tool's default tier comes from what its arguments do (`Policy::judge_tool_call`); a
        // configured tier is a floor under that.
        let mut tiers: BTreeMap<String, warden_policy::Risk> = BTreeMap::new();
        for (tool, tier) in self.tiers.unwrap_or_default() {
            // Tool names are compared trimmed and case-folded, here as at every enforcement point.
            let tool = fold_tool_name(&tool);
            let risk = warden_policy::Risk::parse(&tier).ok_or_else(|| ConfigError::Invalid {
                key: "tools.tiers",
                message: format!("`{tool}` has tier `{tier}`; expected green, amber or red"),
            })?;
            tiers.insert(tool, risk);
        }
        Ok(ToolsConfig {
            http_deny: self
                .http_deny
                .unwrap_or_else(|| OPENCLAW_HTTP_DENY.iter().map(|t| t.to_string()).collect())
                .iter()
                .map(|t| fold_tool_name(t))
                .collect(),
            tiers,
            max_body_bytes: self.max_body_bytes.unwrap_or(2 * 1024 * 1024),
        })
    }
}

/// A secret named by an environment variable, which must be set and not empty.
fn secret_from_env(
    env: &dyn Fn(&str) -> Option<String>,
    key: &'static str,
    var: &str,
) -> Result<Secret, ConfigError> {
    env(var)
        .filter(|v| !v.is_empty())
        .map(Secret::new)
        .ok_or_else(|| ConfigError::Invalid {
            key,
            message: format!("environment variable {var} is not set"),
        })
}

/// A tool name as it is compared: trimmed and case-folded, so `Exec` and `exec ` are `exec`.
pub fn fold_tool_name(name: &str) -> String {
    name.trim().to_lowercase()
}

/// The commented starter configuration `warden init` writes.
pub const STARTER_CONFIG: &str = include_str!("../../../../docs/warden.example.toml");

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_sqlite_paths_in_a_file_are_read_from_its_directory() {
        let dir = Some(Path::new("/etc/warden"));
        assert_eq!(
            relative_to(dir, "sqlite://warden.db".into()),
            "sqlite:///etc/warden/warden.db"
        );
        assert_eq!(
            relative_to(dir, "sqlite:data/w.db".into()),
            "sqlite:///etc/warden/data/w.db"
        );
        assert_eq!(
            relative_to(dir, "sqlite:///var/lib/w.db".into()),
            "sqlite:///var/lib/w.db"
        );
        assert_eq!(relative_to(dir, "postgres://u@h/db".into()), "postgres://u@h/db");
        assert_eq!(
            relative_to(Some(Path::new(".")), "sqlite://warden.db".into()),
            "sqlite://warden.db"
        );
        assert_eq!(
            relative_to(None, "sqlite://warden.db".into()),
            "sqlite://warden.db"
        );
    }

    #[test]
    fn unknown_keys_are_refused_with_their_name() {
        let err = RawConfig::from_toml("[server]\nlisten = \"127.0.0.1:1\"\nlisen = 2\n", "w.toml")
            .unwrap_err()
            .to_string();
        assert!(err.contains("lisen") && err.starts_with("w.toml"), "{err}");
    }

    #[test]
    fn overrides_win_and_defaults_fill() {
        let raw = RawConfig::from_toml("[server]\nlisten = \"127.0.0.1:1\"\n", "w").unwrap();
        let config = raw
            .resolve(Overrides {
                listen: Some("127.0.0.1:0".into()),
                upstream_token_env: Some("tok".into()),
                ..Overrides::default()
            })
            .unwrap();
        assert_eq!(config.listen.port(), 0);
        assert_eq!(config.database_url, DEFAULT_DATABASE_URL);
        assert!(!config.auto_approve);
        assert_eq!(config.upstream.token.as_ref().map(|t| t.expose()), Some("tok"));
        assert_eq!(
            config.models.get("openclaw").map(String::as_str),
            Some("openclaw/main")
        );
    }

    #[test]
    fn the_environment_token_wins_and_an_empty_file_is_refused() {
        let dir = std::env::temp_dir().join(format!("warden-config-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("token");
        std::fs::write(&file, "from-file\n").unwrap();
        let raw = || RawConfig::from_toml(&format!("[upstream]\ntoken_file = {:?}\n", file), "w").unwrap();
        let with_env = raw().resolve(Overrides {
            upstream_token_env: Some("from-env".into()),
            ..Overrides::default()
        });
        assert_eq!(with_env.unwrap().upstream.token.unwrap().expose(), "from-env");
        let from_file = raw().resolve(Overrides::default()).unwrap();
        assert_eq!(from_file.upstream.token.unwrap().expose(), "from-file");
        std::fs::write(&file, "  \n").unwrap();
        let err = raw().resolve(Overrides::default()).unwrap_err().to_string();
        assert!(
            err.contains("upstream.token_file") && err.contains("empty"),
            "{err}"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn the_pool_size_is_checked() {
        let resolve = |toml: &str| {
            RawConfig::from_toml(toml, "w")
                .unwrap()
                .resolve(Overrides::default())
        };
        assert_eq!(resolve("").unwrap().max_connections, None);
        assert_eq!(
            resolve("[store]\nmax_connections = 3\n").unwrap().max_connections,
            Some(3)
        );
        let err = resolve("[store]\nmax_connections = 0\n").unwrap_err().to_string();
        assert!(err.contains("store.max_connections"), "{err}");
    }

    #[test]
    fn a_keyword_setting_names_the_words_it_takes() {
        let refused = |toml: &str| {
            RawConfig::from_toml(toml, "w")
                .unwrap()
                .resolve(Overrides::default())
                .unwrap_err()
                .to_string()
        };
        assert_eq!(
            refused("[approvals]\nmode = \"wait\""),
            "approvals.mode: must be `hold` or `defer`, not `wait`"
        );
        assert_eq!(
            refused("[sessions]\nscope = \"global\""),
            "sessions.scope: must be `key`, `tenant` or `shared`, not `global`"
        );
        let config = RawConfig::from_toml("[responses]\ntool_calls = \"off\"", "w")
            .unwrap()
            .resolve(Overrides::default())
            .unwrap();
        assert_eq!(config.responses.tool_calls, ToolCallMode::Off);
        assert_eq!(config.sessions.scope, SessionScope::Key);
        assert_eq!(ApprovalMode::Hold.as_str(), "hold");
    }

    #[test]
    fn the_starter_config_parses() {
        RawConfig::from_toml(STARTER_CONFIG, "starter")
            .unwrap()
            .resolve(Overrides::default())
            .unwrap();
    }
}
