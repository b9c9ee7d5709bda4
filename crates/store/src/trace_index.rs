//! A derived index of the audit trail for the console: one row per trace (when, who, which
//! surface, risk, status, rule, tool, a masked one-line summary) and hourly counts, built by
//! reading the trail forward from the last record indexed. The trail stays the only source of
//! truth: the index can be dropped and rebuilt from it, and nothing on a request's path waits
//! for it.

use std::collections::HashMap;

use serde_json::Value;
use sqlx::Row;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::{Store, StoreError};

/// An hour, in milliseconds.
pub const HOUR_MS: i64 = 3_600_000;

/// The widths the counts are kept at: an hour, six hours and a day, so that a chart of a day, a
/// week or a month reads about thirty buckets, never a month of hours.
pub const ROLLUP_WIDTHS: [i64; 3] = [HOUR_MS, 6 * HOUR_MS, 24 * HOUR_MS];

/// The upper bounds, in seconds, of the buckets approval latencies are counted in; the last
/// (`inf`) holds the rest.
pub const LATENCY_BOUNDS: [&str; 19] = [
    "1", "2", "5", "10", "20", "30", "60", "120", "300", "600", "900", "1800", "3600", "7200", "14400",
    "28800", "86400", "172800", "inf",
];

/// The latency bucket of `ms`.
fn latency_bucket(ms: i64) -> &'static str {
    let secs = ms.max(0) as f64 / 1000.0;
    LATENCY_BOUNDS
        .iter()
        .find(|b| b.parse::<f64>().is_ok_and(|bound| secs <= bound))
        .copied()
        .unwrap_or("inf")
}

/// The stages that say how a trace ended (so far): the last one seen is its status.
pub const OUTCOME_STAGES: [&str; 11] = [
    "rejected",
    "blocked",
    "halted",
    "approval_granted",
    "approval_rejected",
    "approval_expired",
    "approval_cancelled",
    "allowed",
    "executed",
    "upstream_error",
    "upstream_refused",
];

/// One trace as the index knows it.
#[derive(Debug, Clone, PartialEq, Eq, Default, serde::Serialize)]
pub struct TraceRow {
    pub trace_id: String,
    pub started_ms: i64,
    pub updated_ms: i64,
    pub first_seq: i64,
    pub last_seq: i64,
    pub records: i64,
    pub tenant: String,
    pub key_name: String,
    pub surface: String,
    pub risk: String,
    pub status: String,
    pub rule: String,
    pub tool: String,
    pub summary: String,
}

/// A search of the index; every field narrows it. Newest first.
#[derive(Debug, Clone, Default)]
pub struct TraceQuery {
    pub from_ms: Option<i64>,
    pub to_ms: Option<i64>,
    pub tenant: Option<String>,
    pub key_name: Option<String>,
    pub surface: Option<String>,
    pub risk: Option<String>,
    pub status: Option<String>,
    pub rule: Option<String>,
    pub tool: Option<String>,
    pub trace_id: Option<String>,
    /// Keyset pagination: only traces older than this `(started_ms, trace_id)`.
    pub before: Option<(i64, String)>,
    pub limit: u32,
}

/// One count of a bucket.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct RollupRow {
    pub bucket_ms: i64,
    pub metric: String,
    pub label: String,
    pub n: i64,
}

/// The last verification of the chain, as recorded by whoever ran it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Verification {
    pub at_ms: i64,
    /// The seq of the last record it found good: the chain head's, when `ok`.
    pub records: i64,
    pub ok: bool,
    pub by: String,
    pub problem: Option<String>,
    /// The chain head's hash, when `ok`: where `warden audit verify --incremental` goes on from.
    pub head: Option<String>,
}

const TRACE_COLUMNS: &str = "trace_id, started_ms, updated_ms, first_seq, last_seq, records, tenant, key_name, surface, risk, status, rule, tool, summary";

/// Milliseconds since the epoch of an RFC 3339 timestamp, as the trail writes them.
pub fn parse_ts_ms(ts: &str) -> Option<i64> {
    let t = OffsetDateTime::parse(ts, &Rfc3339).ok()?;
    i64::try_from(t.unix_timestamp_nanos() / 1_000_000).ok()
}

fn text<'a>(v: &'a Value, path: &[&str]) -> Option<&'a str> {
    let mut at = v;
    for key in path {
        at = at.get(key)?;
    }
    at.as_str().filter(|s| !s.is_empty())
}

/// The input and output tokens of an upstream's usage object, in the chat vocabulary
/// (`prompt_tokens`, `completion_tokens`) or the Responses one (`input_tokens`,
/// `output_tokens`); `None` when it is not an object.
pub fn usage_tokens(usage: &Value) -> Option<(i64, i64)> {
    let usage = usage.as_object()?;
    let n = |names: [&str; 2]| {
        names
            .iter()
            .find_map(|k| usage.get(*k).and_then(Value::as_i64))
            .unwrap_or(0)
    };
    Some((
        n(["prompt_tokens", "input_tokens"]),
        n(["completion_tokens", "output_tokens"]),
    ))
}

/// What one record says about its trace.
#[derive(Debug, Default)]
struct Facts {
    tenant: Option<String>,
    key_name: Option<String>,
    surface: Option<String>,
    risk: Option<String>,
    rule: Option<String>,
    tool: Option<String>,
    status: Option<String>,
    summary: Option<String>,
    /// The rule of a block, which overrides the classification's.
    blocked_rule: Option<String>,
    upstream_error: Option<String>,
    /// An approval request queued (`requested`) or closed (`closed`), and how long a closed
    /// one waited.
    approval: Option<&'static str>,
    waited_ms: Option<i64>,
    /// An answer's reported usage (input, output tokens) and cost in millionths.
    tokens: Option<(i64, i64)>,
    cost_micros: Option<i64>,
}

/// `text` on one line, cut at `max` characters (marked `…` when cut).
pub fn one_line(text: &str, max: usize) -> String {
    let flat: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    match flat.char_indices().nth(max) {
        Some((cut, _)) => format!("{}…", &flat[..cut]),
        None => flat,
    }
}

/// Reads the fields the gateway writes (see `governance::records`): `tenant`, `surface`,
/// `principal.key`, `decision.risk` and `decision.rules`, the `tool` or `request` facts, a
/// block's `rule`, an upstream error's `kind`. A field missing is simply not indexed.
fn facts_of(stage: &str, actor: &str, payload: &Value) -> Facts {
    let mut f = Facts {
        tenant: text(payload, &["tenant"])
            .or_else(|| text(payload, &["principal", "tenant"]))
            .map(str::to_string),
        key_name: text(payload, &["principal", "key"])
            .or_else(|| actor.strip_prefix("key:"))
            .map(str::to_string),
        surface: text(payload, &["surface"]).map(str::to_string).or_else(|| {
            if stage.starts_with("mcp_") {
                Some("mcp".into())
            } else if stage.starts_with("policy_") || stage == "webhook_failed" {
                Some("gateway".into())
            } else {
                None
            }
        }),
        ..Facts::default()
    };
    match stage {
        "classification" => {
            let risk = text(payload, &["decision", "risk"]);
            f.risk = risk.map(str::to_string);
            let rules = payload
                .pointer("/decision/rules")
                .and_then(Value::as_array)
                .map(Vec::as_slice)
                .unwrap_or_default();
            let deciding = rules
                .iter()
                .find(|r| risk.is_some() && text(r, &["tier"]) == risk)
                .or_else(|| rules.first());
            f.rule = deciding.and_then(|r| text(r, &["id"])).map(str::to_string);
            let subject = payload.get("tool").or_else(|| payload.get("request"));
            if let Some(subject) = subject {
                if let Some(request) = text(subject, &["user_request"]) {
                    f.summary = Some(one_line(request, 160));
                } else if let Some(name) = text(subject, &["name"]) {
                    f.tool = Some(name.to_string());
                    let args = subject
                        .get("args")
                        .or_else(|| subject.get("arguments"))
                        .map(|a| match a {
                            Value::String(s) => s.clone(),
                            other => other.to_string(),
                        })
                        .unwrap_or_default();
                    f.summary = Some(one_line(&format!("{name} {args}"), 160));
                }
            }
        }
        "blocked" => {
            f.risk = text(payload, &["risk"]).map(str::to_string);
            f.blocked_rule = text(payload, &["rule"]).map(str::to_string);
        }
        "upstream_error" => {
            f.upstream_error = Some(text(payload, &["kind"]).unwrap_or("error").to_string());
        }
        "upstream_refused" => f.upstream_error = Some("refused".into()),
        "executed" => {
            f.tokens = payload.get("usage").and_then(usage_tokens);
            f.cost_micros = payload
                .get("cost")
                .and_then(Value::as_f64)
                .map(|c| (c * 1e6).round() as i64);
        }
        "approval_requested" => f.approval = Some("requested"),
        "approval_granted" | "approval_rejected" | "approval_expired" | "approval_cancelled" => {
            f.approval = Some("closed");
            f.waited_ms = payload.get("waited_ms").and_then(Value::as_i64);
        }
        "console" => {
            let action = text(payload, &["action"]).unwrap_or("action");
            f.status = Some(format!("console_{action}"));
            f.summary = Some(format!("console: {action}"));
        }
        "mcp_quarantine" => {
            f.tool = text(payload, &["tool"]).map(str::to_string);
            f.summary = Some(format!(
                "{} quarantined: {}",
                text(payload, &["tool"]).unwrap_or("tool"),
                text(payload, &["reason"]).unwrap_or("changed")
            ));
        }
        _ => {}
    }
    if f.status.is_some() {
        // Set above.
    } else if OUTCOME_STAGES.contains(&stage) {
        f.status = Some(stage.to_string());
    } else if !matches!(stage, "classification") && !stage.starts_with("approval") {
        // A trace of the gateway's own (a reload, an MCP listing) ends where it starts.
        if f.surface.as_deref().is_some_and(|s| s == "gateway" || s == "mcp") {
            f.status = Some(stage.to_string());
        }
    }
    f
}

impl TraceRow {
    /// Folds one record into the row; records arrive in chain order.
    fn absorb(&mut self, seq: i64, ts_ms: i64, f: Facts) {
        if self.records == 0 {
            self.started_ms = ts_ms;
            self.first_seq = seq;
        }
        self.started_ms = self.started_ms.min(ts_ms);
        self.updated_ms = self.updated_ms.max(ts_ms);
        self.first_seq = self.first_seq.min(seq);
        self.last_seq = self.last_seq.max(seq);
        self.records += 1;
        let fill = |slot: &mut String, value: Option<String>| {
            if slot.is_empty()
                && let Some(v) = value
            {
                *slot = v;
            }
        };
        fill(&mut self.tenant, f.tenant);
        fill(&mut self.key_name, f.key_name);
        fill(&mut self.surface, f.surface);
        fill(&mut self.tool, f.tool);
        fill(&mut self.summary, f.summary);
        if let Some(risk) = f.risk {
            self.risk = risk;
        }
        if let Some(rule) = f.blocked_rule {
            self.rule = rule;
        } else {
            fill(&mut self.rule, f.rule);
        }
        if let Some(status) = f.status {
            self.status = status;
        }
    }
}

fn row_of(row: &sqlx::any::AnyRow) -> Result<TraceRow, StoreError> {
    Ok(TraceRow {
        trace_id: row.try_get(0)?,
        started_ms: row.try_get(1)?,
        updated_ms: row.try_get(2)?,
        first_seq: row.try_get(3)?,
        last_seq: row.try_get(4)?,
        records: row.try_get(5)?,
        tenant: row.try_get(6)?,
        key_name: row.try_get(7)?,
        surface: row.try_get(8)?,
        risk: row.try_get(9)?,
        status: row.try_get(10)?,
        rule: row.try_get(11)?,
        tool: row.try_get(12)?,
        summary: row.try_get(13)?,
    })
}

/// The counts one record adds to its buckets: (metric, label, amount).
fn counts_of(stage: &str, f: &Facts, row: &TraceRow) -> Vec<(&'static str, String, i64)> {
    let mut out = Vec::new();
    if stage == "classification" {
        let risk = f.risk.clone().unwrap_or_else(|| "unknown".into());
        let tool = f.tool.as_deref().unwrap_or(&row.tool);
        if !tool.is_empty() {
            out.push(("tool", format!("{tool}|{risk}"), 1));
        }
        out.push(("risk", risk, 1));
    }
    if let Some(status) = &f.status
        && OUTCOME_STAGES.contains(&status.as_str())
    {
        out.push(("status", status.clone(), 1));
    }
    if let Some(rule) = &f.blocked_rule {
        out.push(("blocked_rule", rule.clone(), 1));
    }
    if let Some(kind) = &f.upstream_error {
        out.push(("upstream_error", kind.clone(), 1));
    }
    if let Some(event) = f.approval {
        out.push(("approvals", event.to_string(), 1));
    }
    if let Some(waited) = f.waited_ms {
        out.push(("approval_latency", latency_bucket(waited).to_string(), 1));
    }
    if let Some((input, output)) = f.tokens {
        out.push(("tokens", "input".into(), input));
        out.push(("tokens", "output".into(), output));
    }
    if let Some(cost) = f.cost_micros {
        out.push(("cost_micros", "total".into(), cost));
    }
    out
}

/// What indexing a run of records will write: read and worked out beforehand, so the write
/// itself is a few statements (see [`write_index`]).
#[derive(Debug)]
pub struct IndexBatch {
    /// The last record indexed when the run was read: the write happens only if it still is.
    pub(crate) cursor: i64,
    pub(crate) last_seq: i64,
    pub(crate) records: u64,
    /// Each trace the run touched, as it stands with the run absorbed.
    pub(crate) traces: Vec<TraceRow>,
    /// (width, bucket, tenant, metric, label) and the amount to add.
    pub(crate) counts: Vec<(BucketKey, i64)>,
}

/// A count's bucket: (width, bucket start, tenant, metric, label), all in milliseconds but the
/// names.
pub(crate) type BucketKey = (i64, i64, String, &'static str, String);

/// A record as the index reads it: (seq, trace id, time in ms, stage, what it says).
type Parsed = (i64, String, i64, String, Facts);

/// The records this process committed lately, as the index reads them: the index takes them
/// from here instead of reading the trail back and parsing every payload again. Only a run of
/// consecutive records that starts right after the last one indexed is taken; records another
/// replica wrote in between, or ones pushed out of this bounded queue, are read from the trail.
#[derive(Debug, Default)]
pub struct RecentFacts {
    entries: std::sync::Mutex<std::collections::VecDeque<Parsed>>,
}

/// How many committed records wait here for the index (about a minute of a busy gateway).
const RECENT_RECORDS: usize = 100_000;

impl RecentFacts {
    /// Notes the records of a batch just committed, the first of them as `first_seq`; the batch
    /// is done with, so its ids and stages are kept rather than copied.
    pub(crate) fn remember(&self, first_seq: i64, batch: Vec<crate::NewEvent>) {
        let parsed: Vec<Parsed> = batch
            .into_iter()
            .zip(first_seq..)
            .map(|(e, seq)| {
                let facts = facts_of(&e.stage, &e.actor, &e.payload);
                let ts_ms = parse_ts_ms(&e.ts).unwrap_or(0);
                (seq, e.trace_id, ts_ms, e.stage, facts)
            })
            .collect();
        if let Ok(mut entries) = self.entries.lock() {
            entries.extend(parsed);
            let excess = entries.len().saturating_sub(RECENT_RECORDS);
            entries.drain(..excess);
        }
    }

    /// Up to `max` records from `after + 1` on, when they are here one after another.
    fn take(&self, after: i64, max: usize) -> Option<Vec<Parsed>> {
        let mut entries = self.entries.lock().ok()?;
        while entries.front().is_some_and(|e| e.0 <= after) {
            entries.pop_front();
        }
        let run = entries
            .iter()
            .zip(after + 1..)
            .take(max)
            .take_while(|(e, expected)| e.0 == *expected)
            .count();
        (run > 0).then(|| entries.drain(..run).collect())
    }
}

/// Rows per multi-row statement: well under both engines' limits on bound parameters.
pub(crate) const ROWS_PER_STATEMENT: usize = 200;

/// Writes an [`IndexBatch`] on `$conn` (any connection of either engine): a transaction that
/// claims the run under the index's state row, so a run another writer indexed meanwhile is
/// skipped, then upserts the traces and adds the counts, a few hundred rows a statement.
/// Evaluates to the records indexed (0 when skipped).
macro_rules! write_index {
    ($conn:expr, $batch:expr, $postgres:expr) => {{
        let batch: &$crate::trace_index::IndexBatch = $batch;
        let mut tx = if $postgres {
            sqlx::Connection::begin($conn).await?
        } else {
            sqlx::Connection::begin_with($conn, "BEGIN IMMEDIATE").await?
        };
        let lock = if $postgres {
            "SELECT indexed_seq FROM audit_index_state WHERE id = 1 FOR UPDATE"
        } else {
            "SELECT indexed_seq FROM audit_index_state WHERE id = 1"
        };
        let now_cursor: i64 = sqlx::query_scalar(lock).fetch_one(&mut *tx).await?;
        if now_cursor != batch.cursor {
            // Another writer indexed these meanwhile.
            tx.rollback().await?;
            0
        } else {
            for chunk in batch.traces.chunks($crate::trace_index::ROWS_PER_STATEMENT) {
                let sql = $crate::trace_index::trace_upsert_sql(chunk.len());
                let mut query = sqlx::query(&sql);
                for r in chunk {
                    query = query
                        .bind(&r.trace_id)
                        .bind(r.started_ms)
                        .bind(r.updated_ms)
                        .bind(r.first_seq)
                        .bind(r.last_seq)
                        .bind(r.records)
                        .bind(&r.tenant)
                        .bind(&r.key_name)
                        .bind(&r.surface)
                        .bind(&r.risk)
                        .bind(&r.status)
                        .bind(&r.rule)
                        .bind(&r.tool)
                        .bind(&r.summary);
                }
                query.execute(&mut *tx).await?;
            }
            for chunk in batch.counts.chunks($crate::trace_index::ROWS_PER_STATEMENT) {
                let sql = $crate::trace_index::rollup_upsert_sql(chunk.len());
                let mut query = sqlx::query(&sql);
                for ((width, bucket, tenant, metric, label), n) in chunk {
                    query = query
                        .bind(*width)
                        .bind(*bucket)
                        .bind(tenant)
                        .bind(*metric)
                        .bind(label)
                        .bind(*n);
                }
                query.execute(&mut *tx).await?;
            }
            sqlx::query("UPDATE audit_index_state SET indexed_seq = $1 WHERE id = 1")
                .bind(batch.last_seq)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            batch.records
        }
    }};
}
pub(crate) use write_index;

/// `n` rows of `VALUES` with `width` numbered parameters each, for a multi-row statement.
fn values_sql(sql: &mut String, n: usize, width: usize) {
    use std::fmt::Write as _;
    for row in 0..n {
        sql.push_str(if row == 0 { "(" } else { ", (" });
        for col in 0..width {
            let _ = write!(
                sql,
                "{}${}",
                if col == 0 { "" } else { ", " },
                row * width + col + 1
            );
        }
        sql.push(')');
    }
}

/// Upserts `n` traces (each row with the trace as it now stands).
pub(crate) fn trace_upsert_sql(n: usize) -> String {
    let mut sql = format!("INSERT INTO audit_traces ({TRACE_COLUMNS}) VALUES ");
    values_sql(&mut sql, n, 14);
    sql.push_str(
        " ON CONFLICT (trace_id) DO UPDATE SET started_ms = excluded.started_ms, updated_ms = excluded.updated_ms,
         first_seq = excluded.first_seq, last_seq = excluded.last_seq, records = excluded.records,
         tenant = excluded.tenant, key_name = excluded.key_name, surface = excluded.surface, risk = excluded.risk,
         status = excluded.status, rule = excluded.rule, tool = excluded.tool, summary = excluded.summary",
    );
    sql
}

/// Adds `n` counts to their buckets.
pub(crate) fn rollup_upsert_sql(n: usize) -> String {
    let mut sql =
        String::from("INSERT INTO audit_rollup (width_ms, bucket_ms, tenant, metric, label, n) VALUES ");
    values_sql(&mut sql, n, 6);
    sql.push_str(
        " ON CONFLICT (width_ms, bucket_ms, tenant, metric, label) DO UPDATE SET n = audit_rollup.n + excluded.n",
    );
    sql
}

impl Store {
    /// Indexes up to `batch` records past the last one indexed; returns how many it read.
    /// Replicas may call it together: each batch is claimed under the index's state row, so a
    /// record is counted once. A gateway indexes through its audit writer instead
    /// ([`crate::AuditLog::index_trail`]), so that indexing never waits for the database's
    /// write lock, nor makes an append wait for it.
    pub async fn index_trail(&self, batch: i64) -> Result<u64, StoreError> {
        let Some(prepared) = self.prepare_index(batch, None).await? else {
            return Ok(0);
        };
        self.write_index(&prepared).await
    }

    /// Writes a prepared run of the index on a pooled connection; 0 when another writer
    /// indexed those records since it was read.
    pub async fn write_index(&self, batch: &IndexBatch) -> Result<u64, StoreError> {
        let mut conn = self.pool().acquire().await?;
        Ok(write_index!(&mut *conn, batch, self.is_postgres()))
    }

    /// Reads up to `batch` records past the last one indexed (from `recent` when it has them,
    /// else from the trail), and the traces they belong to, and works out what indexing them
    /// writes; `None` when there is nothing new.
    pub async fn prepare_index(
        &self,
        batch: i64,
        recent: Option<&RecentFacts>,
    ) -> Result<Option<IndexBatch>, StoreError> {
        let cursor: i64 = sqlx::query_scalar("SELECT indexed_seq FROM audit_index_state WHERE id = 1")
            .fetch_one(self.pool())
            .await?;
        let parsed = match recent.and_then(|r| r.take(cursor, usize::try_from(batch).unwrap_or(0))) {
            Some(parsed) => parsed,
            None => self.read_for_index(cursor, batch).await?,
        };
        let Some(last_seq) = parsed.last().map(|p| p.0) else {
            return Ok(None);
        };
        let records = parsed.len() as u64;

        let mut rows: HashMap<String, TraceRow> = HashMap::new();
        let mut order: Vec<String> = Vec::new();
        for (_, trace_id, _, _, _) in &parsed {
            if !rows.contains_key(trace_id) {
                rows.insert(trace_id.clone(), TraceRow::default());
                order.push(trace_id.clone());
            }
        }
        // The traces as indexed so far. Read outside the write's transaction: if another writer
        // changes them meanwhile, it has moved the cursor too, and the write is skipped.
        for chunk in order.chunks(ROWS_PER_STATEMENT) {
            let placeholders: Vec<String> = (1..=chunk.len()).map(|i| format!("${i}")).collect();
            let sql = format!(
                "SELECT {TRACE_COLUMNS} FROM audit_traces WHERE trace_id IN ({})",
                placeholders.join(", ")
            );
            let mut query = sqlx::query(&sql);
            for id in chunk {
                query = query.bind(id);
            }
            for row in query.fetch_all(self.pool()).await? {
                let existing = row_of(&row)?;
                rows.insert(existing.trace_id.clone(), existing);
            }
        }
        let mut counts: HashMap<BucketKey, i64> = HashMap::new();
        for (seq, trace_id, ts_ms, stage, facts) in parsed {
            let Some(row) = rows.get_mut(&trace_id) else {
                continue;
            };
            row.trace_id = trace_id;

            let tenant = facts
                .tenant
                .clone()
                .filter(|t| !t.is_empty())
                .unwrap_or_else(|| row.tenant.clone());
            let adds = counts_of(&stage, &facts, row);
            row.absorb(seq, ts_ms, facts);
            for (metric, label, amount) in adds {
                for width in ROLLUP_WIDTHS {
                    let bucket = ts_ms.div_euclid(width) * width;
                    *counts
                        .entry((width, bucket, tenant.clone(), metric, label.clone()))
                        .or_default() += amount;
                }
            }
        }
        let traces = order.iter().filter_map(|id| rows.remove(id)).collect();
        Ok(Some(IndexBatch {
            cursor,
            last_seq,
            records,
            traces,
            counts: counts.into_iter().collect(),
        }))
    }

    /// Up to `batch` records of the trail after `cursor`, read back and parsed.
    async fn read_for_index(&self, cursor: i64, batch: i64) -> Result<Vec<Parsed>, StoreError> {
        let events = sqlx::query(
            "SELECT seq, trace_id, ts, stage, actor, payload FROM audit_events WHERE seq > $1 ORDER BY seq LIMIT $2",
        )
        .bind(cursor)
        .bind(batch)
        .fetch_all(self.pool())
        .await?;
        let mut parsed = Vec::with_capacity(events.len());
        for row in &events {
            let seq: i64 = row.try_get(0)?;
            let trace_id: String = row.try_get(1)?;
            let ts: String = row.try_get(2)?;
            let stage: String = row.try_get(3)?;
            let actor: String = row.try_get(4)?;
            let payload: String = row.try_get(5)?;
            let payload: Value = serde_json::from_str(&payload).unwrap_or(Value::Null);
            let ts_ms = parse_ts_ms(&ts).unwrap_or(0);
            let facts = facts_of(&stage, &actor, &payload);
            parsed.push((seq, trace_id, ts_ms, stage, facts));
        }
        Ok(parsed)
    }

    /// Indexes everything committed so far, in batches of `batch`; returns the records read.
    pub async fn index_trail_fully(&self, batch: i64) -> Result<u64, StoreError> {
        let mut total = 0;
        loop {
            let n = self.index_trail(batch).await?;
            total += n;
            if n == 0 {
                return Ok(total);
            }
        }
    }

    /// How far the index lags the trail: (last record indexed, last record committed).
    pub async fn index_progress(&self) -> Result<(i64, i64), StoreError> {
        let indexed: i64 = sqlx::query_scalar("SELECT indexed_seq FROM audit_index_state WHERE id = 1")
            .fetch_one(self.pool())
            .await?;
        let head: Option<i64> = sqlx::query_scalar("SELECT seq FROM audit_head WHERE id = 1")
            .fetch_optional(self.pool())
            .await?;
        Ok((indexed, head.unwrap_or(0)))
    }

    /// Traces matching `q`, newest first.
    pub async fn search_traces(&self, q: &TraceQuery) -> Result<Vec<TraceRow>, StoreError> {
        let mut sql = format!("SELECT {TRACE_COLUMNS} FROM audit_traces WHERE 1 = 1");
        let mut n = 0usize;
        let mut next = || {
            n += 1;
            n
        };
        let equal = [
            ("tenant", &q.tenant),
            ("key_name", &q.key_name),
            ("surface", &q.surface),
            ("risk", &q.risk),
            ("status", &q.status),
            ("rule", &q.rule),
            ("tool", &q.tool),
            ("trace_id", &q.trace_id),
        ];
        // Placeholders are numbered as they are written, and bound in the same order.
        let mut binds: Vec<Bind> = Vec::new();
        for (column, value) in equal {
            if let Some(v) = value.as_ref().filter(|v| !v.is_empty()) {
                let i = next();
                sql.push_str(&format!(" AND {column} = ${i}"));
                binds.push(Bind::Text(v.clone()));
            }
        }
        if let Some(from) = q.from_ms {
            let i = next();
            sql.push_str(&format!(" AND started_ms >= ${i}"));
            binds.push(Bind::Int(from));
        }
        if let Some(to) = q.to_ms {
            let i = next();
            sql.push_str(&format!(" AND started_ms < ${i}"));
            binds.push(Bind::Int(to));
        }
        if let Some((ms, id)) = &q.before {
            let (a, b, c) = (next(), next(), next());
            sql.push_str(&format!(
                " AND (started_ms < ${a} OR (started_ms = ${b} AND trace_id < ${c}))"
            ));
            binds.push(Bind::Int(*ms));
            binds.push(Bind::Int(*ms));
            binds.push(Bind::Text(id.clone()));
        }
        sql.push_str(&format!(
            " ORDER BY started_ms DESC, trace_id DESC LIMIT {}",
            q.limit.clamp(1, 10_000)
        ));
        let mut query = sqlx::query(&sql);
        for bind in binds {
            query = match bind {
                Bind::Text(t) => query.bind(t),
                Bind::Int(i) => query.bind(i),
            };
        }
        query.fetch_all(self.pool()).await?.iter().map(row_of).collect()
    }

    /// The counts kept at `width_ms` (one of [`ROLLUP_WIDTHS`]) in the buckets from `from_ms`
    /// to `to_ms`, of one tenant or (`None`) of all, a row per tenant: the caller sums.
    pub async fn rollup(
        &self,
        tenant: Option<&str>,
        width_ms: i64,
        from_ms: i64,
        to_ms: i64,
    ) -> Result<Vec<RollupRow>, StoreError> {
        let sql = "SELECT bucket_ms, metric, label, n FROM audit_rollup WHERE width_ms = $1 AND bucket_ms >= $2 AND bucket_ms < $3";
        let rows = match tenant {
            Some(t) => {
                sqlx::query(&format!("{sql} AND tenant = $4"))
                    .bind(width_ms)
                    .bind(from_ms)
                    .bind(to_ms)
                    .bind(t.to_string())
                    .fetch_all(self.pool())
                    .await?
            }
            None => {
                sqlx::query(sql)
                    .bind(width_ms)
                    .bind(from_ms)
                    .bind(to_ms)
                    .fetch_all(self.pool())
                    .await?
            }
        };
        rows.iter()
            .map(|r| {
                Ok(RollupRow {
                    bucket_ms: r.try_get(0)?,
                    metric: r.try_get(1)?,
                    label: r.try_get(2)?,
                    n: r.try_get(3)?,
                })
            })
            .collect()
    }

    /// Approval requests pending now, of one tenant or (`None`) of all.
    pub async fn pending_approvals(&self, tenant: Option<&str>) -> Result<i64, StoreError> {
        let sql = "SELECT COUNT(*) FROM approvals WHERE status = 'pending'";
        Ok(match tenant {
            Some(t) => {
                sqlx::query_scalar(&format!("{sql} AND tenant = $1"))
                    .bind(t.to_string())
                    .fetch_one(self.pool())
                    .await?
            }
            None => sqlx::query_scalar(sql).fetch_one(self.pool()).await?,
        })
    }

    /// Records the outcome of a verification of the chain, for the console to show.
    pub async fn record_verification(
        &self,
        report: &crate::VerifyReport,
        by: &str,
        at_ms: i64,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE audit_index_state SET verified_ms = $1, verified_seq = $2, verified_ok = $3, verified_by = $4, verify_problem = $5, verified_hash = $6 WHERE id = 1",
        )
        .bind(at_ms)
        .bind(report.last_seq())
        .bind(i64::from(report.ok()))
        .bind(by.to_string())
        .bind(report.first_bad.as_ref().map(|b| format!("record {}: {}", b.seq, b.problem)))
        .bind(report.ok().then(|| report.head.clone()))
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// The last verification recorded, if any.
    pub async fn last_verification(&self) -> Result<Option<Verification>, StoreError> {
        let row = sqlx::query(
            "SELECT verified_ms, verified_seq, verified_ok, verified_by, verify_problem, verified_hash FROM audit_index_state WHERE id = 1",
        )
        .fetch_one(self.pool())
        .await?;
        let at_ms: Option<i64> = row.try_get(0)?;
        let Some(at_ms) = at_ms else { return Ok(None) };
        let ok: Option<i64> = row.try_get(2)?;
        Ok(Some(Verification {
            at_ms,
            records: row.try_get::<Option<i64>, _>(1)?.unwrap_or(0),
            ok: ok == Some(1),
            by: row.try_get::<Option<String>, _>(3)?.unwrap_or_default(),
            problem: row.try_get(4)?,
            head: row.try_get(5)?,
        }))
    }
}

enum Bind {
    Text(String),
    Int(i64),
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_classification_names_its_risk_rule_and_tool() {
        let payload = json!({"tenant": "acme", "surface": "tool_hook",
            "principal": {"key": "agent", "tenant": "acme"},
            "decision": {"risk": "amber", "rules": [{"id": "green.x", "tier": "green"}, {"id": "amber.exec", "tier": "amber"}]},
            "tool": {"name": "exec", "args": "{\"command\":\"ls\"}"}});
        let f = facts_of("classification", "key:agent", &payload);
        assert_eq!(f.risk.as_deref(), Some("amber"));
        assert_eq!(f.rule.as_deref(), Some("amber.exec"));
        assert_eq!(f.tool.as_deref(), Some("exec"));
        assert_eq!(f.key_name.as_deref(), Some("agent"));
        assert_eq!(f.summary.as_deref(), Some("exec {\"command\":\"ls\"}"));
        assert_eq!(f.status, None);
    }

    #[test]
    fn a_trace_ends_with_its_last_outcome_and_a_block_names_the_rule() {
        let mut row = TraceRow::default();
        let classification = json!({"tenant": "t", "surface": "chat_completions",
            "principal": {"key": "k"}, "decision": {"risk": "red", "rules": [{"id": "red.shell", "tier": "red"}]},
            "request": {"user_request": "Run  a\nshell command"}});
        row.absorb(5, 1000, facts_of("classification", "key:k", &classification));
        row.absorb(
            6,
            1001,
            facts_of("blocked", "warden", &json!({"rule": "red.money", "risk": "red"})),
        );
        assert_eq!(row.status, "blocked");
        assert_eq!(row.rule, "red.money");
        assert_eq!(row.summary, "Run a shell command");
        assert_eq!((row.first_seq, row.last_seq, row.records), (5, 6, 2));
        assert_eq!((row.started_ms, row.updated_ms), (1000, 1001));
    }

    #[test]
    fn only_a_run_right_after_the_cursor_is_taken_from_memory() {
        let recent = RecentFacts::default();
        let e = || event("t", "executed", json!({"status": "executed"}));
        recent.remember(1, vec![e(), e(), e()]);
        // Record 4 was written by another replica: not here.
        recent.remember(5, vec![e()]);
        let seqs = |v: Option<Vec<Parsed>>| v.map(|v| v.iter().map(|p| p.0).collect::<Vec<_>>());
        assert_eq!(
            seqs(recent.take(1, 10)),
            Some(vec![2, 3]),
            "what was indexed is dropped"
        );
        assert_eq!(seqs(recent.take(3, 10)), None, "a gap: read the trail");
        assert_eq!(seqs(recent.take(4, 10)), Some(vec![5]));
    }

    fn event(trace: &str, stage: &str, payload: Value) -> crate::NewEvent {
        crate::NewEvent {
            trace_id: trace.into(),
            ts: "2026-12-01T10:15:00.000001Z".into(),
            stage: stage.into(),
            actor: "key:agent".into(),
            payload,
        }
    }

    crate::on_both_engines! {
        async fn the_writer_indexes_many_traces_in_few_statements_and_skips_a_stale_run(s: Store) {
            let log = crate::AuditLog::start(&s).await.unwrap();
            let classified = json!({"tenant": "acme", "surface": "chat_completions",
                "principal": {"key": "agent", "tenant": "acme"},
                "decision": {"risk": "green", "rules": []}, "request": {"user_request": "hello"}});
            // More traces than one statement takes.
            let events = (0..450)
                .flat_map(|i| {
                    let trace = format!("t{i:03}");
                    [
                        event(&trace, "classification", classified.clone()),
                        event(&trace, "executed", json!({"tenant": "acme", "status": "executed"})),
                    ]
                })
                .collect::<Vec<_>>();
            log.append(events.clone()).await.unwrap();
            // What the writer remembers of its records reads as the trail read back does.
            let recent = RecentFacts::default();
            recent.remember(1, events.clone());
            let remembered = s.prepare_index(2000, Some(&recent)).await.unwrap().unwrap();
            let read_back = s.prepare_index(2000, None).await.unwrap().unwrap();
            let sorted = |b: &IndexBatch| {
                let mut counts = b.counts.clone();
                counts.sort();
                (b.cursor, b.last_seq, b.records, b.traces.clone(), counts)
            };
            assert_eq!(sorted(&remembered), sorted(&read_back));
            assert!(recent.take(0, 10).is_none(), "taken once");
            let stale = s.prepare_index(10, None).await.unwrap().unwrap();
            assert_eq!(log.index_trail(&s, 2000).await.unwrap(), 900);
            assert_eq!(s.write_index(&stale).await.unwrap(), 0, "a run indexed meanwhile is skipped");
            assert_eq!(s.index_progress().await.unwrap(), (900, 900));
            let all = s.search_traces(&TraceQuery { limit: 1000, ..TraceQuery::default() }).await.unwrap();
            assert_eq!(all.len(), 450);
            assert!(all.iter().all(|r| r.status == "executed" && r.records == 2 && r.risk == "green"));
            let day = parse_ts_ms("2026-12-01T00:00:00Z").unwrap();
            let counts = s.rollup(None, HOUR_MS, day, day + 86_400_000).await.unwrap();
            let n = |metric: &str, label: &str| {
                counts.iter().filter(|c| c.metric == metric && c.label == label).map(|c| c.n).sum::<i64>()
            };
            assert_eq!((n("risk", "green"), n("status", "executed")), (450, 450));
            log.shutdown().await;
        }

        async fn the_index_follows_the_trail_once_and_searches_by_every_field(s: Store) {
            let log = crate::AuditLog::start(&s).await.unwrap();
            let classified = |tenant: &str, risk: &str, rule: &str| json!({"tenant": tenant, "surface": "chat_completions",
                "principal": {"key": "agent", "tenant": tenant},
                "decision": {"risk": risk, "rules": [{"id": rule, "tier": risk}]},
                "request": {"user_request": "hello"}});
            log.append(vec![
                event("a", "classification", classified("acme", "green", "")),
                event("a", "executed", json!({"tenant": "acme", "status": "executed",
                    "usage": {"prompt_tokens": 12, "completion_tokens": 9}, "cost": 0.000054})),
                event("b", "classification", classified("acme", "red", "red.shell")),
            ])
            .await
            .unwrap();
            assert_eq!(s.index_trail(2).await.unwrap(), 2, "a batch is bounded");
            log.append(vec![
                event("b", "blocked", json!({"tenant": "acme", "rule": "red.shell", "risk": "red"})),
                event("c", "classification", classified("other", "amber", "amber.mail")),
            ])
            .await
            .unwrap();
            assert_eq!(log.index_trail(&s, 100).await.unwrap(), 3, "the audit writer indexes too");
            assert_eq!(s.index_trail_fully(100).await.unwrap(), 0, "nothing is indexed twice");
            assert_eq!(s.index_progress().await.unwrap(), (5, 5));

            let all = s.search_traces(&TraceQuery { limit: 10, ..TraceQuery::default() }).await.unwrap();
            assert_eq!(all.len(), 3);
            let b = all.iter().find(|r| r.trace_id == "b").unwrap();
            assert_eq!((b.status.as_str(), b.rule.as_str(), b.records), ("blocked", "red.shell", 2));
            let acme = s
                .search_traces(&TraceQuery { tenant: Some("acme".into()), limit: 10, ..TraceQuery::default() })
                .await
                .unwrap();
            assert_eq!(acme.len(), 2);
            let red = s
                .search_traces(&TraceQuery { risk: Some("red".into()), status: Some("blocked".into()), limit: 10, ..TraceQuery::default() })
                .await
                .unwrap();
            assert_eq!(red.iter().map(|r| r.trace_id.as_str()).collect::<Vec<_>>(), ["b"]);
            let page = s.search_traces(&TraceQuery { limit: 1, ..TraceQuery::default() }).await.unwrap();
            let older = s
                .search_traces(&TraceQuery {
                    before: Some((page[0].started_ms, page[0].trace_id.clone())),
                    limit: 10,
                    ..TraceQuery::default()
                })
                .await
                .unwrap();
            assert_eq!(older.len(), 2, "keyset pages do not overlap");
            assert!(older.iter().all(|r| r.trace_id != page[0].trace_id));

            let day = parse_ts_ms("2026-12-01T00:00:00Z").unwrap();
            let counts = s.rollup(Some("acme"), HOUR_MS, day, day + 86_400_000).await.unwrap();
            let n = |metric: &str, label: &str| {
                counts.iter().filter(|c| c.metric == metric && c.label == label).map(|c| c.n).sum::<i64>()
            };
            assert_eq!((n("risk", "green"), n("risk", "red"), n("risk", "amber")), (1, 1, 0));
            assert_eq!((n("status", "executed"), n("status", "blocked")), (1, 1));
            assert_eq!(n("blocked_rule", "red.shell"), 1);
            assert_eq!((n("tokens", "input"), n("tokens", "output")), (12, 9), "usage is summed, not counted");
            assert_eq!(n("cost_micros", "total"), 54);
            let everyone = s.rollup(None, HOUR_MS, day, day + 86_400_000).await.unwrap();
            let daily = s.rollup(None, 24 * HOUR_MS, day, day + 86_400_000).await.unwrap();
            let risks = |rows: &[RollupRow]| rows.iter().filter(|c| c.metric == "risk").map(|c| c.n).sum::<i64>();
            assert_eq!(risks(&daily), risks(&everyone), "every width counts the same");
            assert_eq!(everyone.iter().filter(|c| c.metric == "risk").map(|c| c.n).sum::<i64>(), 3);

            assert_eq!(s.last_verification().await.unwrap(), None);
            let report = s.verify_chain().await.unwrap();
            s.record_verification(&report, "key:auditor", 42).await.unwrap();
            let v = s.last_verification().await.unwrap().unwrap();
            assert_eq!((v.at_ms, v.records, v.ok, v.by.as_str()), (42, 5, true, "key:auditor"));
            log.shutdown().await;
        }
    }

    #[test]
    fn latencies_fall_in_the_first_bucket_that_holds_them() {
        assert_eq!(latency_bucket(0), "1");
        assert_eq!(latency_bucket(1500), "2");
        assert_eq!(latency_bucket(300_000), "300");
        assert_eq!(latency_bucket(10 * 86_400_000), "inf");
        let f = facts_of(
            "approval_granted",
            "key:hana",
            &json!({"tenant": "t", "waited_ms": 4000}),
        );
        assert_eq!((f.approval, f.waited_ms), (Some("closed"), Some(4000)));
    }

    #[test]
    fn timestamps_parse_to_milliseconds() {
        assert_eq!(parse_ts_ms("1970-01-01T00:00:01.5Z"), Some(1500));
        assert_eq!(parse_ts_ms("not a time"), None);
    }
}
