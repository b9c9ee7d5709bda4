//! Prometheus metrics for `GET /metrics`: one process-wide registry (prometheus-client) fed at
//! three choke points: a request's context when it ends (requests and stage latencies), each
//! record as it becomes an event (DLP findings, upstream errors, approvals closed and their
//! wait, policy reloads), and the audit writer's commits (batch sizes, commit latency). Labels
//! come from bounded sets only (surfaces, risks, statuses, the policy's rule ids, detector
//! names, error kinds, stage names): never a key, a tenant, a trace id or any text.

use std::sync::{Arc, LazyLock};
use std::time::Duration;

use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use serde_json::Value;

type Labels = Vec<(&'static str, String)>;

/// Seconds, from 100 µs to about 105 s (a stream's whole life).
fn latency_buckets() -> Histogram {
    Histogram::new(exponential_buckets(0.0001, 2.0, 21))
}

/// Every metric Warden exports.
pub struct Metrics {
    registry: Registry,
    requests: Family<Labels, Counter>,
    stage_seconds: Family<Labels, Histogram>,
    dlp_findings: Family<Labels, Counter>,
    upstream_errors: Family<Labels, Counter>,
    approvals_closed: Family<Labels, Counter>,
    approval_wait_seconds: Histogram,
    approvals_pending: Gauge,
    audit_batch_records: Histogram,
    audit_commit_seconds: Histogram,
    audit_commit_failures: Counter,
    policy_reloads: Family<Labels, Counter>,
    policy_info: Family<Labels, Gauge>,
    limit_refusals: Family<Labels, Counter>,
}

/// The process's metrics.
pub static METRICS: LazyLock<Metrics> = LazyLock::new(Metrics::new);

impl Metrics {
    fn new() -> Metrics {
        let mut registry = Registry::with_prefix("warden");
        let requests = Family::<Labels, Counter>::default();
        registry.register(
            "requests",
            "Governed requests, by surface, risk, status (x-warden-status) and deciding rule",
            requests.clone(),
        );
        let stage_seconds =
            Family::<Labels, Histogram>::new_with_constructor(latency_buckets as fn() -> Histogram);
        registry.register(
            "stage_duration_seconds",
            "Time spent in each stage of a governed request (parse, dlp, classify, approval, audit_commit, upstream, upstream_first_byte, total...)",
            stage_seconds.clone(),
        );
        let dlp_findings = Family::<Labels, Counter>::default();
        registry.register(
            "dlp_findings",
            "Secrets and personal data found, by direction (request, response), detector and action (redact, flag)",
            dlp_findings.clone(),
        );
        let upstream_errors = Family::<Labels, Counter>::default();
        registry.register(
            "upstream_errors",
            "Upstream calls that failed, by kind (timeout, unreachable, status, too_large, refused...)",
            upstream_errors.clone(),
        );
        let approvals_closed = Family::<Labels, Counter>::default();
        registry.register(
            "approvals_closed",
            "Approval requests closed, by outcome (granted, rejected, expired, cancelled)",
            approvals_closed.clone(),
        );
        let approval_wait_seconds = Histogram::new(exponential_buckets(1.0, 2.0, 18));
        registry.register(
            "approval_wait_seconds",
            "How long approval requests waited in the queue before they were closed",
            approval_wait_seconds.clone(),
        );
        let approvals_pending = Gauge::default();
        registry.register(
            "approvals_pending",
            "Approval requests pending now (read from the store at each scrape)",
            approvals_pending.clone(),
        );
        let audit_batch_records = Histogram::new([
            1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 512.0, 1024.0, 2048.0,
        ]);
        registry.register(
            "audit_batch_records",
            "Records per group commit of the audit trail",
            audit_batch_records.clone(),
        );
        let audit_commit_seconds = latency_buckets();
        registry.register(
            "audit_commit_seconds",
            "Time one group commit of the audit trail took",
            audit_commit_seconds.clone(),
        );
        let audit_commit_failures = Counter::default();
        registry.register(
            "audit_commit_failures",
            "Group commits of the audit trail that failed (their requests were refused)",
            audit_commit_failures.clone(),
        );
        let policy_reloads = Family::<Labels, Counter>::default();
        registry.register(
            "policy_reloads",
            "Policy reloads, by outcome (reloaded, refused)",
            policy_reloads.clone(),
        );
        let policy_info = Family::<Labels, Gauge>::default();
        registry.register(
            "policy_info",
            "The policy bundle in force: 1 for its name and version",
            policy_info.clone(),
        );
        let limit_refusals = Family::<Labels, Counter>::default();
        registry.register(
            "limit_refusals",
            "Requests refused by a [[limits]] rate or budget, by limit name and kind",
            limit_refusals.clone(),
        );
        Metrics {
            limit_refusals,
            registry,
            requests,
            stage_seconds,
            dlp_findings,
            upstream_errors,
            approvals_closed,
            approval_wait_seconds,
            approvals_pending,
            audit_batch_records,
            audit_commit_seconds,
            audit_commit_failures,
            policy_reloads,
            policy_info,
        }
    }

    /// A governed request has ended.
    pub fn request_ended(
        &self,
        surface: &str,
        risk: &str,
        status: &str,
        rule: &str,
        stages: &[(&'static str, u64)],
        total: Duration,
    ) {
        self.requests
            .get_or_create(&vec![
                ("surface", surface.to_string()),
                ("risk", risk.to_string()),
                ("status", status.to_string()),
                ("rule", rule.to_string()),
            ])
            .inc();
        for (stage, micros) in stages {
            self.stage_seconds
                .get_or_create(&vec![("stage", stage.to_string())])
                .observe(*micros as f64 / 1e6);
        }
        self.stage_seconds
            .get_or_create(&vec![("stage", "total".to_string())])
            .observe(total.as_secs_f64());
    }

    /// A request was refused by a limit.
    pub fn limit_refused(&self, limit: &str, kind: &str) {
        self.limit_refusals
            .get_or_create(&vec![("limit", limit.to_string()), ("kind", kind.to_string())])
            .inc();
    }

    /// A record is about to be written: what it says that is counted.
    pub fn record_written(&self, stage: &str, payload: &serde_json::Map<String, Value>) {
        match stage {
            "classification" => self.dlp(payload.get("dlp"), "request"),
            "executed" => self.dlp(
                payload.get("response_governance").and_then(|g| g.get("dlp")),
                "response",
            ),
            "upstream_error" => {
                let kind = payload.get("kind").and_then(Value::as_str).unwrap_or("error");
                self.upstream_errors
                    .get_or_create(&vec![("kind", kind.to_string())])
                    .inc();
            }
            "upstream_refused" => {
                self.upstream_errors
                    .get_or_create(&vec![("kind", "refused".to_string())])
                    .inc();
            }
            "approval_granted" | "approval_rejected" | "approval_expired" | "approval_cancelled" => {
                let outcome = stage.trim_start_matches("approval_");
                self.approvals_closed
                    .get_or_create(&vec![("outcome", outcome.to_string())])
                    .inc();
                if let Some(waited) = payload.get("waited_ms").and_then(Value::as_i64) {
                    self.approval_wait_seconds.observe(waited.max(0) as f64 / 1000.0);
                }
            }
            "policy_reloaded" | "policy_reload_failed" => {
                let outcome = if stage == "policy_reloaded" {
                    "reloaded"
                } else {
                    "refused"
                };
                self.policy_reloads
                    .get_or_create(&vec![("outcome", outcome.to_string())])
                    .inc();
            }
            _ => {}
        }
    }

    fn dlp(&self, report: Option<&Value>, direction: &str) {
        let Some(report) = report else { return };
        for (field, action) in [("redacted", "redact"), ("flagged", "flag")] {
            for finding in report.get(field).and_then(Value::as_array).into_iter().flatten() {
                let detector = finding
                    .get("detector")
                    .and_then(Value::as_str)
                    .filter(|d| !d.is_empty())
                    .unwrap_or("rule");
                self.dlp_findings
                    .get_or_create(&vec![
                        ("direction", direction.to_string()),
                        ("detector", detector.to_string()),
                        ("action", action.to_string()),
                    ])
                    .inc();
            }
        }
    }

    /// The text exposition, with the values read at scrape time set first.
    pub fn render(&self, pending: Option<i64>, policy_name: &str, policy_version: &str) -> String {
        if let Some(pending) = pending {
            self.approvals_pending.set(pending);
        }
        self.policy_info.clear();
        self.policy_info
            .get_or_create(&vec![
                ("name", policy_name.to_string()),
                ("version", policy_version.to_string()),
            ])
            .set(1);
        let mut out = String::new();
        if let Err(e) = encode(&mut out, &self.registry) {
            tracing::error!(error = %e, "metrics could not be encoded");
        }
        out
    }
}

/// Feeds the audit writer's commits to the metrics.
pub struct AuditCommits;

impl warden_store::CommitObserver for AuditCommits {
    fn committed(&self, records: usize, took: Duration, ok: bool) {
        let m = &*METRICS;
        m.audit_batch_records.observe(records as f64);
        m.audit_commit_seconds.observe(took.as_secs_f64());
        if !ok {
            m.audit_commit_failures.inc();
        }
    }
}

/// The observer to start the audit writer with.
pub fn audit_observer() -> Arc<dyn warden_store::CommitObserver> {
    Arc::new(AuditCommits)
}
