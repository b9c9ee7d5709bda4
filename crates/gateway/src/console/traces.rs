//! The trace explorer: the trail searched by time, key, tenant, surface, risk, status, rule,
//! tool and trace id (through the trail's index, newest first, a page at a time); a trace's
//! records as a timeline with their chain links checked; the chain's last verification, run
//! again on demand; and the filtered set exported as CSV or JSONL.

use askama::Template;
use axum::Form;
use axum::extract::rejection::FormRejection;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use serde_json::{Value, json};
use warden_store::{ExportFormat, OUTCOME_STAGES, TraceQuery, TraceRow, one_line};

use super::render::{parse_input_time, short, when};
use super::session::CsrfForm;
use super::{ConsoleUser, Frame, error_page, html, store_failed};
use crate::auth::Role;
use crate::governance::records;
use crate::state::AppState;

const PAGE: u32 = 50;
/// Traces an export holds at most; a larger set is cut, and the file says how to narrow it.
const EXPORT_MAX_TRACES: u32 = 10_000;

/// The search form as sent; every field optional.
#[derive(Debug, Default, Clone, Deserialize)]
pub struct Filters {
    #[serde(default)]
    from: String,
    #[serde(default)]
    to: String,
    #[serde(default)]
    key: String,
    #[serde(default)]
    tenant: String,
    #[serde(default)]
    surface: String,
    #[serde(default)]
    risk: String,
    #[serde(default)]
    status: String,
    #[serde(default)]
    rule: String,
    #[serde(default)]
    tool: String,
    #[serde(default)]
    trace: String,
    /// `started_ms:trace_id` of the last trace on the previous page.
    #[serde(default)]
    before: String,
    /// `csv` or `jsonl`, for exports.
    #[serde(default)]
    format: String,
}

impl Filters {
    /// The query the filters mean, within the user's tenant unless they are an admin.
    fn query(&self, user: &ConsoleUser, limit: u32) -> Result<TraceQuery, String> {
        let field = |v: &str| {
            let v = v.trim();
            (!v.is_empty()).then(|| v.to_string())
        };
        let time = |name: &str, v: &str| -> Result<Option<i64>, String> {
            match v.trim() {
                "" => Ok(None),
                t => parse_input_time(t).map(Some).ok_or_else(|| {
                    format!("`{name}` must be a date and time such as 2026-12-06T09:30 (UTC).")
                }),
            }
        };
        let before = match self.before.split_once(':') {
            Some((ms, id)) => ms.parse::<i64>().ok().map(|ms| (ms, id.to_string())),
            None => None,
        };
        let tenant = match user.principal.tenant_scope() {
            Some(own) => Some(own.to_string()),
            None => field(&self.tenant),
        };
        Ok(TraceQuery {
            from_ms: time("from", &self.from)?,
            to_ms: time("to", &self.to)?,
            tenant,
            key_name: field(&self.key),
            surface: field(&self.surface),
            risk: field(&self.risk),
            status: field(&self.status),
            rule: field(&self.rule),
            tool: field(&self.tool),
            trace_id: field(&self.trace),
            before,
            limit,
        })
    }

    /// The filters as a query string, without the page cursor.
    fn query_string(&self) -> String {
        let pairs = [
            ("from", &self.from),
            ("to", &self.to),
            ("key", &self.key),
            ("tenant", &self.tenant),
            ("surface", &self.surface),
            ("risk", &self.risk),
            ("status", &self.status),
            ("rule", &self.rule),
            ("tool", &self.tool),
            ("trace", &self.trace),
        ];
        pairs
            .iter()
            .filter(|(_, v)| !v.trim().is_empty())
            .map(|(k, v)| format!("{k}={}", super::render::url_encode(v.trim(), false)))
            .collect::<Vec<_>>()
            .join("&")
    }
}

pub struct TraceLine {
    pub trace_id: String,
    pub when: String,
    pub tenant: String,
    pub key: String,
    pub surface: String,
    pub risk: String,
    pub status: String,
    pub rule: String,
    pub tool: String,
    pub summary: String,
    pub records: i64,
}

fn line(r: TraceRow) -> TraceLine {
    TraceLine {
        when: when(r.started_ms),
        trace_id: r.trace_id,
        tenant: r.tenant,
        key: r.key_name,
        surface: r.surface,
        risk: r.risk,
        status: r.status,
        rule: r.rule,
        tool: r.tool,
        summary: r.summary,
        records: r.records,
    }
}

pub struct VerificationView {
    pub when: String,
    pub ok: bool,
    pub records: i64,
    pub by: String,
    pub problem: String,
}

#[derive(Template)]
#[template(path = "console/traces.html")]
struct TracesPage {
    frame: Frame,
    f: Filters,
    admin: bool,
    statuses: Vec<&'static str>,
    lines: Vec<TraceLine>,
    next_page: Option<String>,
    query: String,
    error: Option<String>,
    verification: Option<VerificationView>,
    lag: i64,
}

async fn verification(state: &AppState) -> Option<VerificationView> {
    state
        .core
        .store
        .last_verification()
        .await
        .ok()
        .flatten()
        .map(|v| VerificationView {
            when: when(v.at_ms),
            ok: v.ok,
            records: v.records,
            by: v.by,
            problem: v.problem.unwrap_or_default(),
        })
}

/// Brings the trail's index up to date before a search, a bounded step at a time, so a trace
/// recorded a moment ago is found without waiting for the background indexer. Returns how
/// many records are still not indexed.
async fn catch_up(state: &AppState) -> i64 {
    let store = &state.core.store;
    if let Ok((indexed, head)) = store.index_progress().await
        && indexed < head
    {
        if let Err(e) = state.core.audit.index_trail(store, 2000).await {
            tracing::warn!(error = %e, "the trail's index could not catch up");
        }
        if let Ok((indexed, head)) = store.index_progress().await {
            return head - indexed;
        }
    }
    0
}

pub async fn search(State(state): State<AppState>, user: ConsoleUser, Query(f): Query<Filters>) -> Response {
    if let Err(refused) = user.require(&state, Role::Auditor) {
        return refused.into_response();
    }
    let lag = catch_up(&state).await;
    let (lines, next_page, error) = match f.query(&user, PAGE + 1) {
        Ok(q) => match state.core.store.search_traces(&q).await {
            Ok(mut rows) => {
                let more = rows.len() > PAGE as usize;
                rows.truncate(PAGE as usize);
                let next = more
                    .then(|| rows.last().map(|r| format!("{}:{}", r.started_ms, r.trace_id)))
                    .flatten();
                (rows.into_iter().map(line).collect(), next, None)
            }
            Err(e) => return store_failed(&state, &user, e),
        },
        Err(message) => (Vec::new(), None, Some(message)),
    };
    let page = TracesPage {
        frame: Frame::new(&user, "Traces", "traces"),
        admin: user.principal.roles.contains(&Role::Admin),
        statuses: OUTCOME_STAGES.to_vec(),
        query: f.query_string(),
        f,
        lines,
        next_page,
        error,
        verification: verification(&state).await,
        lag,
    };
    html(page.render())
}

pub async fn export(State(state): State<AppState>, user: ConsoleUser, Query(f): Query<Filters>) -> Response {
    if let Err(refused) = user.require(&state, Role::Auditor) {
        return refused.into_response();
    }
    let (format, content_type, extension) = match f.format.as_str() {
        "jsonl" => (ExportFormat::Jsonl, "application/x-ndjson", "jsonl"),
        "csv" | "" => (ExportFormat::Csv, "text/csv; charset=utf-8", "csv"),
        other => {
            return error_page(
                &state,
                Some(&user),
                StatusCode::BAD_REQUEST,
                &format!("Unknown export format `{other}` (csv or jsonl)."),
            );
        }
    };
    catch_up(&state).await;
    let q = match f.query(&user, EXPORT_MAX_TRACES) {
        Ok(q) => q,
        Err(message) => return error_page(&state, Some(&user), StatusCode::BAD_REQUEST, &message),
    };
    let rows = match state.core.store.search_traces(&q).await {
        Ok(rows) => rows,
        Err(e) => return store_failed(&state, &user, e),
    };
    let ids: Vec<String> = rows.into_iter().map(|r| r.trace_id).collect();
    let (body, count) = match state.core.store.export_traces(format, &ids).await {
        Ok(done) => done,
        Err(e) => return store_failed(&state, &user, e),
    };
    // Exporting the trail is itself on the trail: who took which records.
    let record = records::console(
        &user.principal,
        "export",
        json!({"format": extension, "traces": ids.len(), "records": count, "filters": f.query_string()}),
    );
    if let Err(e) = records::write(&state.core.audit, vec![record]).await {
        tracing::warn!(error = ?e, "the export's record was not committed");
    }
    let mut response = (StatusCode::OK, body).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    if let Ok(disposition) =
        HeaderValue::from_str(&format!("attachment; filename=\"warden-traces.{extension}\""))
    {
        headers.insert(header::CONTENT_DISPOSITION, disposition);
    }
    if ids.len() as u32 >= EXPORT_MAX_TRACES {
        headers.insert("x-warden-export-truncated", HeaderValue::from_static("true"));
    }
    response
}

pub struct RecordView {
    pub seq: i64,
    pub when: String,
    pub stage: String,
    pub actor: String,
    pub payload: String,
    pub hash: String,
    pub hash_short: String,
    pub prev_hash: String,
    pub prev_short: String,
    /// The record's hash matches its content.
    pub sealed: bool,
    /// `prev_hash` is the hash of record `seq - 1`; `None` when that record could not be read.
    pub linked: Option<bool>,
    pub summary: String,
}

#[derive(Template)]
#[template(path = "console/trace.html")]
struct TracePage<'a> {
    frame: Frame,
    trace_id: &'a str,
    records: Vec<RecordView>,
    all_sealed: bool,
    verification: Option<VerificationView>,
}

/// A few words on what a record says, for the timeline.
fn record_summary(stage: &str, payload: &Value) -> String {
    let s = |path: &str| payload.pointer(path).and_then(Value::as_str).unwrap_or("");
    let text = match stage {
        "classification" => {
            let subject = payload
                .pointer("/request/user_request")
                .or_else(|| payload.pointer("/tool/name"))
                .or_else(|| payload.pointer("/request/name"))
                .and_then(Value::as_str)
                .unwrap_or("");
            format!("{} via {}: {}", s("/decision/risk"), s("/surface"), subject)
        }
        "blocked" => format!("blocked by {}", s("/rule")),
        "halted" => format!("{}, approval {}", s("/status"), s("/approval_id")),
        "executed" => format!(
            "executed in {} ms",
            payload.get("duration_ms").and_then(Value::as_i64).unwrap_or(0)
        ),
        "approval_vote" => match s("/note") {
            "" => s("/vote").to_string(),
            note => format!("{}: “{note}”", s("/vote")),
        },
        "approval_requested" => format!("approval {} requested", s("/approval/id")),
        "upstream_error" => format!("upstream {}: {}", s("/kind"), s("/error")),
        "console" => format!("console: {}", s("/action")),
        _ => String::new(),
    };
    one_line(&text, 200)
}

pub async fn show(
    State(state): State<AppState>,
    user: ConsoleUser,
    Path(trace_id): Path<String>,
) -> Response {
    if let Err(refused) = user.require(&state, Role::Auditor) {
        return refused.into_response();
    }
    let store = &state.core.store;
    let records = match store.trace(&trace_id).await {
        Ok(r) => r,
        Err(e) => return store_failed(&state, &user, e),
    };
    let records = crate::api::audit::visible_records(&user.principal, records);
    if records.is_empty() {
        return error_page(
            &state,
            Some(&user),
            StatusCode::NOT_FOUND,
            "No such trace, or not one you may see.",
        );
    }
    let previous: Vec<i64> = records.iter().map(|r| r.seq - 1).filter(|s| *s > 0).collect();
    let hashes = store.record_hashes(&previous).await.unwrap_or_default();
    let views: Vec<RecordView> = records
        .iter()
        .map(|r| {
            // A record whose payload is not JSON was read back as a string: hash it as stored.
            let stored = match &r.payload {
                Value::String(raw) => raw.clone(),
                other => other.to_string(),
            };
            let sealed = warden_store::chain_hash(
                &r.prev_hash,
                r.seq,
                &r.trace_id,
                &r.ts,
                &r.stage,
                &r.actor,
                &stored,
            ) == r.hash;
            let linked = if r.seq == 1 {
                Some(r.prev_hash == warden_store::GENESIS_HASH)
            } else {
                hashes.get(&(r.seq - 1)).map(|h| *h == r.prev_hash)
            };
            RecordView {
                seq: r.seq,
                when: warden_store::parse_ts_ms(&r.ts)
                    .map(when)
                    .unwrap_or_else(|| r.ts.clone()),
                stage: r.stage.clone(),
                actor: r.actor.clone(),
                payload: serde_json::to_string_pretty(&r.payload).unwrap_or_default(),
                hash_short: short(&r.hash).to_string(),
                hash: r.hash.clone(),
                prev_short: short(&r.prev_hash).to_string(),
                prev_hash: r.prev_hash.clone(),
                sealed,
                linked,
                summary: record_summary(&r.stage, &r.payload),
            }
        })
        .collect();
    let page = TracePage {
        frame: Frame::new(&user, format!("Trace {}", short(&trace_id)), "traces"),
        trace_id: &trace_id,
        all_sealed: views.iter().all(|v| v.sealed && v.linked != Some(false)),
        records: views,
        verification: verification(&state).await,
    };
    html(page.render())
}

/// Verifies the whole chain now, records the outcome, and returns to the explorer.
pub async fn verify(
    State(state): State<AppState>,
    user: ConsoleUser,
    headers: HeaderMap,
    form: Result<Form<CsrfForm>, FormRejection>,
) -> Response {
    if let Err(refused) = user.accept(&state, &headers, form, Some(Role::Auditor)) {
        return refused.into_response();
    }
    let store = &state.core.store;
    let report = match store.verify_chain().await {
        Ok(report) => report,
        Err(e) => return store_failed(&state, &user, e),
    };
    let now = state.core.clock.now_ms();
    if let Err(e) = store
        .record_verification(&report, &user.principal.actor(), now)
        .await
    {
        return store_failed(&state, &user, e);
    }
    let record = records::console(
        &user.principal,
        "verify",
        json!({"ok": report.ok(), "records": report.records, "first_bad": report.first_bad}),
    );
    let _ = records::write(&state.core.audit, vec![record]).await;
    Redirect::to(&format!("{}/traces", user.base)).into_response()
}
