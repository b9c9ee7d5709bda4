//! The configuration file as written: serde structs that mirror the TOML one to one, with
//! unknown keys refused. `super::Config` is what the rest of the gateway reads, validated.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::Deserialize;
use warden_store::Durability;

/// The file as written. Every key is documented in `docs/configuration.md`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawConfig {
    /// The directory of the file this was read from: relative SQLite paths in it (and the
    /// default store) are resolved from there, not from wherever the command runs.
    #[serde(skip)]
    pub base_dir: Option<PathBuf>,
    #[serde(default)]
    pub server: RawServer,
    #[serde(default)]
    pub store: RawStore,
    #[serde(default)]
    pub upstream: RawUpstream,
    /// Client-visible model name -> upstream model (an OpenClaw agent such as `openclaw/main`).
    #[serde(default)]
    pub models: Option<BTreeMap<String, String>>,
    #[serde(default)]
    pub policy: RawPolicy,
    #[serde(default)]
    pub approvals: RawApprovals,
    #[serde(default)]
    pub audit: RawAudit,
    #[serde(default)]
    pub testing: RawTesting,
    #[serde(default)]
    pub tools: RawTools,
    #[serde(default)]
    pub responses: RawResponses,
    #[serde(default)]
    pub sessions: RawSessions,
    #[serde(default)]
    pub guard: RawGuard,
    #[serde(default)]
    pub mcp: super::mcp::RawMcp,
    #[serde(default)]
    pub console: super::console::RawConsole,
    #[serde(default)]
    pub metrics: RawMetrics,
    /// Price per model (the upstream's model name), for `warden usage`.
    #[serde(default)]
    pub pricing: BTreeMap<String, RawPrice>,
    /// Rate limits and token budgets, per key or tenant.
    #[serde(default)]
    pub limits: Vec<super::limits::RawLimit>,
    #[serde(default)]
    pub telemetry: RawTelemetry,
}

/// `[telemetry]`: OpenTelemetry traces over OTLP/HTTP. Off unless `otlp_endpoint` is set.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawTelemetry {
    /// The collector's traces URL, e.g. `http://127.0.0.1:4318/v1/traces`.
    pub otlp_endpoint: Option<String>,
    /// The share of requests traced when the client sent no sampled `traceparent`, 0 to 1.
    pub sample_ratio: Option<f64>,
    pub service_name: Option<String>,
    /// How often queued spans are sent.
    pub export_interval_ms: Option<u64>,
}

/// One model's price, in currency units per million tokens.
#[derive(Debug, Default, Clone, Copy, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct RawPrice {
    pub input_per_million: f64,
    pub output_per_million: f64,
}

impl RawPrice {
    /// What `input` and `output` tokens cost at this price.
    pub fn cost(&self, input: i64, output: i64) -> f64 {
        (input as f64 * self.input_per_million + output as f64 * self.output_per_million) / 1e6
    }
}

/// `[metrics]`: the Prometheus exposition at `GET /metrics`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawMetrics {
    /// Serve `/metrics` (default true). It needs no key and holds no secret, key, tenant or
    /// text; turn it off where even request volumes per rule must not be seen.
    pub enabled: Option<bool>,
    /// Serve it on its own address (e.g. `127.0.0.1:9464`) instead of the gateway's, so the
    /// port clients reach does not expose it.
    pub listen: Option<String>,
}

/// A second opinion from an external guard (an OpenAI-compatible guard model such as Llama
/// Guard, or a plain HTTP service). Off unless `url` is set.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawGuard {
    pub url: Option<String>,
    /// `openai` (default: a chat completion answered `safe` or `unsafe`) or `http`.
    pub format: Option<String>,
    pub model: Option<String>,
    /// The environment variable holding the guard's API key, sent as a bearer token.
    pub api_key_env: Option<String>,
    /// `all` (default) or `green_amber`: which verdicts of the rules the guard is asked about.
    pub ask: Option<String>,
    pub timeout_ms: Option<u64>,
    /// `open` (the rules' verdict stands) or `closed` (blocked) when the guard fails to answer
    /// in time. Required with `url`.
    pub on_failure: Option<String>,
    pub cache_entries: Option<usize>,
    pub cache_ttl_secs: Option<u64>,
}

/// The sessions the agent keeps on its side (OpenAI `user`, `x-openclaw-session-key`).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSessions {
    /// Whose sessions a key reaches: `key` (default: its own), `tenant` (its tenant's) or
    /// `shared` (any, as the names are sent).
    pub scope: Option<String>,
    /// Turns remembered per session to judge a confirmation with; 0 turns memory off.
    pub memory_turns: Option<usize>,
    /// A session unused this long is forgotten.
    pub memory_ttl_secs: Option<u64>,
}

/// Governance of the model's answers.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawResponses {
    /// `enforce` (default: a red tool call is replaced by a refusal), `annotate` or `off`.
    pub tool_calls: Option<String>,
    /// Look-behind of streamed text held back for data-loss prevention, in characters;
    /// 0 passes stream bytes untouched (tool-call and DLP checks on streams then stop).
    pub dlp_window_chars: Option<usize>,
    /// How long text that could still become a secret waits for the rest of it when the
    /// upstream pauses, in milliseconds; 0 waits until the rest arrives or the stream ends.
    pub dlp_hold_ms: Option<u64>,
}

/// Tool governance: the base tier of each tool and the tools refused over HTTP.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawTools {
    /// Tools `/tools/invoke` refuses outright (default: OpenClaw's HTTP deny list).
    pub http_deny: Option<Vec<String>>,
    /// Base tier per tool at every enforcement point; the arguments may raise it, never lower it.
    pub tiers: Option<BTreeMap<String, String>>,
    pub max_body_bytes: Option<usize>,
}

/// Facilities for tests and rehearsals; never turn them on in production.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawTesting {
    /// Lets an admin run the clock ahead (`POST /v1/admin/clock`) to rehearse expiry and
    /// escalation without waiting.
    pub manual_clock: Option<bool>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawServer {
    pub listen: Option<String>,
    pub max_body_bytes: Option<usize>,
    pub shutdown_grace_secs: Option<u64>,
    /// Time a connection has to send a request's headers once it has sent its first byte,
    /// and a new connection to send its first byte at all.
    pub header_timeout_ms: Option<u64>,
    /// Time a kept-alive connection may sit idle between requests.
    pub idle_timeout_ms: Option<u64>,
    /// Time a request has to send its whole body.
    pub body_timeout_ms: Option<u64>,
    /// Connections served at once; past it, new ones wait in the kernel's backlog.
    pub max_connections: Option<usize>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawStore {
    pub database_url: Option<String>,
    pub durability: Option<Durability>,
    /// Pooled database connections per gateway (besides the audit writer's own).
    pub max_connections: Option<u32>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawUpstream {
    pub url: Option<String>,
    /// A file holding the upstream's bearer token; otherwise `WARDEN_UPSTREAM_TOKEN`.
    pub token_file: Option<PathBuf>,
    pub connect_timeout_ms: Option<u64>,
    pub response_timeout_ms: Option<u64>,
    pub idle_timeout_ms: Option<u64>,
    pub health_path: Option<String>,
    /// Largest upstream answer Warden reads whole (JSON answers, error bodies, tool results).
    pub max_response_bytes: Option<usize>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawPolicy {
    pub file: Option<PathBuf>,
    /// A candidate bundle judged beside the one in force on live traffic: its verdicts are
    /// recorded, never enforced.
    pub shadow_file: Option<PathBuf>,
    /// How often the policy file is checked for changes, in milliseconds.
    pub reload_interval_ms: Option<u64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawApprovals {
    pub auto_approve: Option<bool>,
    /// `defer` (default) or `hold`.
    pub mode: Option<String>,
    pub hold_timeout_secs: Option<u64>,
    /// Interval of the SSE comments that keep a held streaming client's connection alive.
    pub keepalive_secs: Option<u64>,
    pub expires_after_secs: Option<u64>,
    pub quorum: Option<u32>,
    pub groups: Option<Vec<String>>,
    pub escalate_to: Option<Vec<String>>,
    pub escalate_after_secs: Option<u64>,
    pub remind_every_secs: Option<u64>,
    /// `reject` (default) or `approve`.
    pub on_expiry: Option<String>,
    pub scheduler_interval_ms: Option<u64>,
    /// How often a held request re-reads its approval, in case a decision notice was missed.
    pub poll_interval_ms: Option<u64>,
    /// Approval requests one requester may have pending at once; past it, new ones get 429.
    pub max_pending_per_requester: Option<u32>,
    #[serde(default)]
    pub webhooks: Vec<RawWebhook>,
}

/// One `[[approvals.webhooks]]` entry.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawWebhook {
    pub name: String,
    pub url: String,
    /// `json` (default: a generic event) or `slack` (a Slack-compatible message).
    pub format: Option<String>,
    /// Environment variable holding the HMAC-SHA256 signing secret.
    pub secret_env: Option<String>,
    /// File holding the signing secret.
    pub secret_file: Option<PathBuf>,
    /// Events to send: `requested`, `decided`, `expired`, `escalated`, `reminder` (default: all).
    pub events: Option<Vec<String>>,
    pub max_attempts: Option<u32>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawAudit {
    pub max_text_chars: Option<usize>,
}
