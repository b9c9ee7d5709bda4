//! One governed request's context: its trace id, its principal, the policy pinned for its whole
//! life (the request and the answer are judged, and every record stamped, under one version),
//! the records staged for the next commit, the time each stage took, and the record that
//! closes the trace, written when the context is dropped if nothing closed it before (a
//! stream's end, a client that hangs up).

use std::sync::Arc;
use std::time::Instant;

use serde_json::{Map, Value, json};
use warden_policy::{Policy, Risk};
use warden_store::AuditLog;

use super::records::{self, Record};
use crate::auth::Principal;
use crate::error::ApiError;

/// The context of one governed request.
pub struct RequestContext {
    pub trace_id: String,
    /// The surface's name (`chat_completions`, `tools_invoke`, ...), on every record.
    pub surface: &'static str,
    pub principal: Arc<Principal>,
    /// The policy this request is judged under, start to end.
    pub policy: Arc<Policy>,
    /// Once judged: the risk and the status the client is told in headers.
    pub risk: Option<Risk>,
    pub status: Option<&'static str>,
    /// The rule that decided the risk, once judged.
    pub rule: Option<String>,
    /// The upstream's HTTP status, once it answered (read off the closing record).
    upstream_status: Option<u64>,
    /// The price of the upstream model this request runs on (`[pricing]`), if known.
    pub price: Option<crate::config::RawPrice>,
    /// Its share of `[[limits]]`, settled from the reported usage when the request ends.
    pub reservation: Option<super::limits::Reservation>,
    /// What the upstream reported using: tokens, and their cost in millionths where priced.
    used: Option<super::limits::Estimate>,
    /// Its OpenTelemetry span, when `[telemetry]` is on.
    pub span: Option<crate::telemetry::RequestSpan>,
    audit: AuditLog,
    staged: Vec<Record>,
    started: Instant,
    mark: Instant,
    timings: Vec<(&'static str, u64)>,
    /// The record that ends the trace if nothing else does, set when an effect starts.
    closing: Option<Record>,
    /// What the agent's session will hold once it has answered.
    pub memory: Option<super::memory::PendingMemory>,
}

impl RequestContext {
    pub fn new(
        trace_id: String,
        surface: &'static str,
        principal: Principal,
        policy: Arc<Policy>,
        audit: AuditLog,
    ) -> RequestContext {
        let now = Instant::now();
        RequestContext {
            trace_id,
            surface,
            principal: Arc::new(principal),
            policy,
            risk: None,
            status: None,
            rule: None,
            upstream_status: None,
            price: None,
            reservation: None,
            used: None,
            span: None,
            audit,
            staged: Vec::new(),
            started: now,
            mark: now,
            timings: Vec::new(),
            closing: None,
            memory: None,
        }
    }

    /// The policy version every record of this request is stamped with.
    pub fn policy_version(&self) -> &str {
        self.policy.version()
    }

    /// Marks the end of a stage: the time since the previous mark is kept under `stage`.
    pub fn time(&mut self, stage: &'static str) {
        let now = Instant::now();
        self.timings
            .push((stage, now.duration_since(self.mark).as_micros() as u64));
        self.mark = now;
    }

    /// The stage timings so far, and the total, in microseconds.
    pub fn timings(&self) -> Value {
        let mut map: Map<String, Value> = self
            .timings
            .iter()
            .map(|(stage, us)| (stage.to_string(), json!(us)))
            .collect();
        map.insert("total".into(), json!(self.started.elapsed().as_micros() as u64));
        Value::Object(map)
    }

    /// Milliseconds since the request arrived.
    pub fn elapsed_ms(&self) -> u64 {
        self.started.elapsed().as_millis() as u64
    }

    fn stamp(&mut self, mut record: Record) -> Record {
        if let Some(status) = record.payload.get("upstream_status").and_then(Value::as_u64) {
            self.upstream_status = Some(status);
        }
        // What the reported usage was (for the limits) and cost, where the model has a price.
        if let Some((input, output)) = record.payload.get("usage").and_then(warden_store::usage_tokens) {
            self.used = Some(super::limits::Estimate {
                tokens: input + output,
                spend: self
                    .price
                    .map_or(0, |p| super::limits::spend_micros(p, input, output)),
            });
            if let Some(price) = self.price {
                record
                    .payload
                    .insert("cost".into(), json!(price.cost(input, output)));
            }
        }
        record
            .with("surface", json!(self.surface))
            .stamped(self.policy.version(), Some(&self.principal.tenant))
    }

    /// Stages a record for the next `commit`.
    pub fn stage(&mut self, record: Record) {
        let record = self.stamp(record);
        self.staged.push(record);
    }

    /// Writes what is staged, as the strictest of its stages requires; a decision that cannot
    /// be committed refuses the request.
    pub async fn commit(&mut self) -> Result<(), ApiError> {
        let staged = std::mem::take(&mut self.staged);
        let result = records::write(&self.audit, staged).await;
        self.time("audit_commit");
        result
    }

    /// Stages `record` and commits.
    pub async fn record(&mut self, record: Record) -> Result<(), ApiError> {
        self.stage(record);
        self.commit().await
    }

    /// Names the record that ends this trace if the request goes away before `close` (a client
    /// hanging up mid-stream): it is written when the context is dropped.
    pub fn expect_close(&mut self, record: Record) {
        self.closing = Some(record);
    }

    /// Updates the closing record as the effect goes on (bytes streamed, the run id seen).
    pub fn closing_mut(&mut self) -> Option<&mut Record> {
        self.closing.as_mut()
    }

    /// Ends the trace with `record` (with the stage timings), waiting for its commit.
    pub async fn close(&mut self, record: Record) {
        self.closing = None;
        let record = self.stamp(record).with("timings_us", self.timings());
        let _ = records::write(&self.audit, vec![record]).await;
    }

    /// Ends the trace with `record` and, when the request continues a session the agent keeps,
    /// writes what that session now holds (its pending turns and `answer`) with it: both are
    /// written before this returns, so a reply the client sends next is judged with them.
    pub async fn close_remembering(&mut self, record: Record, answer: Option<&str>) {
        let Some(memory) = self.memory.take() else {
            return self.close(record).await;
        };
        self.closing = None;
        let record = self.stamp(record).with("timings_us", self.timings());
        let (trace_id, stage) = (record.trace_id.clone(), record.stage.as_str());
        let write = memory.ready(answer);
        if let Err(e) = self
            .audit
            .append_remembering(vec![record.into_event()], write)
            .await
        {
            tracing::error!(trace_id, stage, error = %e, "records of what was done not committed; the answer goes out regardless");
        }
    }

    /// Ends the trace with `record` without waiting: for a stream's end, where the client
    /// already has its last byte.
    pub fn close_detached(&mut self, record: Record) {
        self.closing = None;
        let record = self.stamp(record).with("timings_us", self.timings());
        self.audit.append_detached(vec![record.into_event()]);
    }
}

impl Drop for RequestContext {
    fn drop(&mut self) {
        if let Some(record) = self.closing.take() {
            self.close_detached(record);
        }
        if let Some(reservation) = self.reservation.take() {
            reservation.settle(self.used);
        }
        if let Some(span) = self.span.take() {
            use opentelemetry::KeyValue;
            span.end(
                vec![
                    KeyValue::new("warden.key", self.principal.name.clone()),
                    KeyValue::new("warden.tenant", self.principal.tenant.clone()),
                    KeyValue::new("warden.risk", self.risk.map(|r| r.as_str()).unwrap_or("-")),
                    KeyValue::new("warden.status", self.status.unwrap_or("-")),
                    KeyValue::new("warden.rule", self.rule.clone().unwrap_or_else(|| "-".into())),
                    KeyValue::new("http.upstream_status", self.upstream_status.unwrap_or(0) as i64),
                ],
                &self.timings,
                self.started.elapsed(),
            );
        }
        crate::metrics::METRICS.request_ended(
            self.surface,
            self.risk.map(|r| r.as_str()).unwrap_or("-"),
            self.status.unwrap_or("-"),
            self.rule.as_deref().unwrap_or("-"),
            &self.timings,
            self.started.elapsed(),
        );
        // One line per governed request, when it is over: who, which surface, the verdict and
        // the outcome, how long it took. Never the request's text or a secret.
        tracing::info!(
            target: "warden::request",
            trace_id = %self.trace_id,
            key = %self.principal.name,
            tenant = %self.principal.tenant,
            surface = self.surface,
            risk = self.risk.map(|r| r.as_str()).unwrap_or("-"),
            status = self.status.unwrap_or("-"),
            rule = self.rule.as_deref().unwrap_or("-"),
            latency_ms = (self.started.elapsed().as_secs_f64() * 1e6).round() / 1000.0,
            upstream_status = self.upstream_status.unwrap_or(0),
            "request"
        );
        if !self.staged.is_empty() {
            // Staged but never committed: an early return skipped the commit. Written now so
            // the trail still says what was decided.
            let staged = std::mem::take(&mut self.staged);
            self.audit
                .append_detached(staged.into_iter().map(Record::into_event).collect());
        }
    }
}
