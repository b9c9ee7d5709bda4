//! The governance core every surface goes through, top to bottom in `govern`: check the role,
//! read the body, parse it into the governed view, redact what data-loss prevention finds,
//! judge the view, settle its approval (run, refuse, use an approval, queue, hold), commit the
//! decision, and only then let the surface execute what was judged.
//!
//! A surface (`crate::surfaces`) says how its requests parse into a `View`, what an approval
//! binds to, how the upstream is called and how errors look; the core owns everything else.

pub mod active_policy;
pub mod approvals;
pub mod context;
pub mod digest;
pub mod dlp;
pub mod guard;
pub mod hold;
pub mod judge;
pub mod limits;
pub mod memory;
pub mod records;
pub mod view;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::{HeaderMap, HeaderValue};
use axum::response::Response;
use serde_json::{Value, json};
use warden_policy::{Decision, Risk, Speaker};
use warden_store::{AuditLog, Store};

use self::active_policy::ActivePolicy;
use self::approvals::{Approvals, NewRequest};
use self::context::RequestContext;
use self::view::{Subject, View};
use crate::auth::{Principal, Role};
use crate::clock::Clock;
use crate::config::{ApprovalMode, Config, Keyword};
use crate::error::ApiError;

/// The services the core needs. One per gateway, shared by every request.
pub struct Core {
    pub config: Arc<Config>,
    pub policy: Arc<ActivePolicy>,
    pub audit: AuditLog,
    pub store: Store,
    pub approvals: Arc<Approvals>,
    pub memory: Arc<memory::SessionMemory>,
    pub clock: Clock,
    /// `[[limits]]`: rate limits and token budgets.
    pub limiter: Arc<limits::Limiter>,
    /// The second opinion of `[guard]`, if configured.
    pub guard: Option<Arc<guard::Guard>>,
}

/// A request as the router hands it over: authenticated, with its trace id.
pub struct Incoming {
    pub trace_id: String,
    pub principal: Principal,
    pub headers: HeaderMap,
    pub body: Body,
}

/// A request that ends in an error, and what its headers say.
#[derive(Debug)]
pub struct Refusal {
    pub error: ApiError,
    pub risk: Option<Risk>,
    pub status: Option<&'static str>,
}

/// What a surface found when asked for an approval to use.
pub enum Found {
    /// Use this approval (named by the client, or found for this exact call).
    Use(String),
    /// An approval for this exact call is still waiting: say so, queue nothing new.
    Pending(Box<warden_store::Approval>),
    /// Let the call through on a grant made where it was already decided (`/tools/invoke`).
    Granted {
        trace_id: String,
    },
    Nothing,
}

/// What let an allowed request through, for the governance message and the records.
#[derive(Debug, Clone)]
pub struct Allowed {
    pub decision: Decision,
    /// `{approved, reviewer, ...}` when a review happened.
    pub approval: Option<Value>,
    /// The approval spent on it, if any.
    pub approval_id: Option<String>,
}

/// One governed surface: its parsing, its digest, its upstream call and its error shape.
pub trait Surface: Clone + Send + Sync + 'static {
    /// The surface's name on records (`chat_completions`, `tools_invoke`, ...).
    const NAME: &'static str;
    /// The kind of approval requests it makes (`chat`, `tool`, ...).
    const APPROVAL_KIND: &'static str;

    /// The largest body it accepts.
    fn body_limit(&self, config: &Config) -> usize {
        config.max_body_bytes
    }

    /// Parses and validates a request into the view that is judged and forwarded.
    fn parse(
        &self,
        core: &Core,
        ctx: &RequestContext,
        raw: &[u8],
        headers: &HeaderMap,
    ) -> Result<View, ApiError>;

    /// What an approval of this request binds to.
    fn digest(&self, view: &View) -> String;

    /// Whether a client of this surface can hold its connection open while people decide.
    fn can_hold(&self) -> bool {
        false
    }

    /// The approval this request may use: by default the one named by `x-warden-approval-id`.
    fn find_approval(
        &self,
        _core: &Core,
        _ctx: &RequestContext,
        _view: &View,
        _digest: &str,
        headers: &HeaderMap,
    ) -> impl Future<Output = Result<Found, ApiError>> + Send {
        let named = header(headers, "x-warden-approval-id");
        async move { Ok(named?.map(Found::Use).unwrap_or(Found::Nothing)) }
    }

    /// How a client resumes once approval `id` is granted.
    fn resume_hint(&self, id: &str) -> String {
        format!(
            "once approved, send the identical request again with the header `x-warden-approval-id: {id}` and it runs once"
        )
    }

    /// Runs an allowed request: builds the upstream call from `view`, governs the answer and
    /// closes the trace.
    fn execute(
        &self,
        core: Arc<Core>,
        ctx: RequestContext,
        view: View,
        allowed: Allowed,
    ) -> impl Future<Output = Response> + Send;

    /// A dry run's answer (the request was judged and recorded, not run).
    fn dry_run(&self, ctx: &RequestContext, decision: &Decision) -> Response {
        let _ = decision;
        self.refuse(
            ctx,
            Refusal {
                error: ApiError::bad_request("Dry runs are not offered here.", None, "unsupported"),
                risk: ctx.risk,
                status: None,
            },
        )
    }

    /// A refusal in the surface's own error shape, with the governance headers.
    fn refuse(&self, ctx: &RequestContext, refusal: Refusal) -> Response;
}

/// Governs one request on `surface`.
pub async fn govern<S: Surface>(core: &Arc<Core>, surface: &S, incoming: Incoming) -> Response {
    let traceparent = incoming.headers.get("traceparent").and_then(|v| v.to_str().ok());
    let span = crate::telemetry::RequestSpan::start(S::NAME, &incoming.trace_id, traceparent);
    let mut ctx = RequestContext::new(
        incoming.trace_id,
        S::NAME,
        incoming.principal,
        core.policy.get(),
        core.audit.clone(),
    );
    ctx.span = span;
    run(core, surface, ctx, incoming.headers, incoming.body).await
}

/// Refuses with `error`, the request's risk and `status` in the headers.
fn refuse<S: Surface>(
    surface: &S,
    ctx: &mut RequestContext,
    error: ApiError,
    status: Option<&'static str>,
) -> Response {
    ctx.status = status;
    let refusal = Refusal {
        error,
        risk: ctx.risk,
        status,
    };
    surface.refuse(ctx, refusal)
}

/// Records a request refused before it was judged, then refuses it.
async fn reject<S: Surface>(
    surface: &S,
    ctx: &mut RequestContext,
    error: ApiError,
    input: Option<&[u8]>,
) -> Response {
    let preview = input.map(|raw| {
        let text = String::from_utf8_lossy(&raw[..raw.len().min(4096)]);
        records::preview(&ctx.policy.mask_sensitive(&text), 500)
    });
    let record = records::rejected(&ctx.trace_id, &ctx.principal, S::NAME, &error, preview);
    if let Err(unrecorded) = ctx.record(record).await {
        return refuse(surface, ctx, unrecorded, None);
    }
    refuse(surface, ctx, error, None)
}

async fn run<S: Surface>(
    core: &Arc<Core>,
    surface: &S,
    mut ctx: RequestContext,
    headers: HeaderMap,
    body: Body,
) -> Response {
    // 1. The role this surface needs.
    if let Err(error) = ctx.principal.require(Role::Requester) {
        tracing::warn!(trace_id = %ctx.trace_id, key = %ctx.principal.name, "request refused: the key lacks the requester role");
        return reject(surface, &mut ctx, error, None).await;
    }

    // 2. The body, bounded in size and in time.
    let limit = surface.body_limit(&core.config);
    let raw = match read_body(body, limit, core.config.connections.body_timeout).await {
        Ok(raw) => raw,
        Err(error) => return reject(surface, &mut ctx, error, None).await,
    };

    // 3. Parse into the governed view; bad input is refused, recorded and never forwarded.
    let mut view = match surface.parse(core, &ctx, &raw, &headers) {
        Ok(view) => view,
        Err(error) => return reject(surface, &mut ctx, error, Some(&raw)).await,
    };
    drop(raw);
    view.cover_the_rest();
    ctx.time("parse");

    // 4. Data-loss prevention over every text of the view: redacted in what is forwarded,
    //    masked in what is judged.
    let (dlp, judged) = match dlp::govern_view(&ctx.policy, &mut view) {
        Ok(scanned) => scanned,
        Err(error) => return reject(surface, &mut ctx, error, None).await,
    };
    ctx.time("dlp");

    // 5. Judge, with what the agent's session already holds in front (the judging itself is
    //    pure and synchronous).
    if core.memory.enabled()
        && let Some(session) = &view.session
    {
        view.remembered = core.memory.recall(session).await;
        ctx.time("memory");
    }
    let decision = judge::judge(&ctx.policy, &core.config.tools, &ctx.principal, &view, &judged);
    ctx.risk = Some(decision.risk);
    // The guard's second opinion can raise the verdict, never lower it.
    let (decision, guard_record) = match &core.guard {
        Some(guard) if guard.wants(decision.risk) => {
            let (request, _) = judge::split_for_record(&view, &judged);
            let opinion = guard.ask(&request).await;
            ctx.time("guard");
            let record = guard.record(&opinion);
            (guard.apply(decision, &opinion), Some(record))
        }
        _ => (decision, None),
    };
    ctx.risk = Some(decision.risk);
    ctx.rule = decision.deciding_rule().map(str::to_string);
    // A shadow policy judges the same view; its verdict goes on the record only.
    let shadow = core
        .policy
        .shadow()
        .map(|shadow| judge::judge(&shadow, &core.config.tools, &ctx.principal, &view, &judged));
    ctx.time("classify");
    // What the agent's session will hold if this request runs (kept once it has answered;
    // dropped unused if it never runs).
    if core.memory.enabled()
        && let Some(session) = view.session.take()
    {
        let request = judge::turns(&view, &judged)
            .iter()
            .filter(|t| {
                matches!(
                    t.speaker,
                    Speaker::User | Speaker::Assistant | Speaker::Call | Speaker::Tool
                )
            })
            .map(|t| memory::Remembered::new(t.speaker, &t.text))
            .collect();
        ctx.memory = Some(core.memory.pending(session, &view.remembered, request));
    }
    let red_override = decision.risk == Risk::Red && decision.approval.as_ref().is_some_and(|a| a.r#override);
    let auto = core.config.auto_approve;
    // What an approval would bind to; only requests that take or ask for one need it.
    let needs_people = match decision.risk {
        Risk::Green => false,
        Risk::Amber => !auto,
        Risk::Red => red_override,
    };
    let digest = needs_people.then(|| surface.digest(&view));
    let facts = classification_facts(core, &ctx, &view, &judged, digest.as_deref());
    ctx.stage(
        records::classification(
            &ctx.trace_id,
            &ctx.principal,
            S::NAME,
            facts,
            &decision,
            dlp.to_json("prompt"),
        )
        .with_shadow(shadow.as_ref(), &decision)
        .with_guard(guard_record),
    );

    if view.dry_run {
        if let Err(error) = ctx.commit().await {
            return refuse(surface, &mut ctx, error, None);
        }
        ctx.status = Some("dry_run");
        return surface.dry_run(&ctx, &decision);
    }

    // 6. Approve: green runs; red is refused unless a quorum may override it; amber waits in
    //    the queue unless auto-approval clears it.
    let allowed = match decision.risk {
        Risk::Green => Allowed {
            decision,
            approval: None,
            approval_id: None,
        },
        Risk::Red if !red_override => {
            if auto {
                ctx.stage(records::auto_approval(
                    &ctx.trace_id,
                    false,
                    "Rejected automatically for red-risk request (approvals.auto_approve)",
                ));
            }
            let message = blocked_message(&decision);
            ctx.stage(records::blocked(&ctx.trace_id, &decision, &message));
            if let Err(error) = ctx.commit().await {
                return refuse(surface, &mut ctx, error, None);
            }
            let error = ApiError::Blocked {
                rule: decision.deciding_rule().unwrap_or("policy").to_string(),
                message,
            };
            return refuse(surface, &mut ctx, error, Some("blocked"));
        }
        Risk::Amber if auto => {
            let note = "Approved automatically for amber-risk request (approvals.auto_approve)";
            ctx.stage(records::auto_approval(&ctx.trace_id, true, note));
            Allowed {
                decision,
                approval: Some(json!({"approved": true, "reviewer": records::AUTO_REVIEWER, "note": note})),
                approval_id: None,
            }
        }
        _ => {
            let digest = digest.unwrap_or_else(|| surface.digest(&view));
            let judged = Judged {
                view,
                decision,
                digest,
            };
            let approved = match approve(core, surface, &mut ctx, &judged, &headers).await {
                Step::Run(approved) => approved,
                Step::Answered(response) => return response,
                Step::Queued(queue) => return queued(core, surface, ctx, judged, *queue).await,
            };
            view = judged.view;
            Allowed {
                decision: judged.decision,
                approval: Some(approved.record),
                approval_id: approved.approval_id,
            }
        }
    };

    // 7. The decision is durable before anything leaves Warden.
    if let Err(error) = ctx.commit().await {
        return refuse(surface, &mut ctx, error, None);
    }
    ctx.time("approval");

    // 8. Limits and budgets: the request's share reserved before anything goes upstream.
    if let Err(error) = reserve_limits(core, &mut ctx, &view).await {
        let record = records::rejected(&ctx.trace_id, &ctx.principal, S::NAME, &error, None);
        if let Err(unrecorded) = ctx.record(record).await {
            return refuse(surface, &mut ctx, unrecorded, None);
        }
        return refuse(surface, &mut ctx, error, Some("rate_limited"));
    }

    // 9. Execute what was judged.
    ctx.status = Some("executed");
    surface.execute(core.clone(), ctx, view, allowed).await
}

/// Output tokens assumed for a request that does not bound them, when reserving a budget.
const DEFAULT_OUTPUT_TOKENS: i64 = 1024;

/// Reserves the request's share of every `[[limits]]` counter that applies (one request, its
/// estimated tokens and spend), trued up from the reported usage when the request ends.
pub(crate) async fn reserve_limits(
    core: &Core,
    ctx: &mut RequestContext,
    view: &View,
) -> Result<(), ApiError> {
    if !core.limiter.enabled() {
        return Ok(());
    }
    // The upstream's name for the model (after `[models]`), as prices and limits name it.
    let model = view
        .facts
        .get("upstream_model")
        .or_else(|| view.body.get("model"))
        .and_then(Value::as_str)
        .map(str::to_string);
    let price = model.as_deref().and_then(|m| core.config.pricing.get(m).copied());
    // Only a call to a model uses tokens; a tool call counts as a request alone.
    let estimate = if model.is_some() {
        let bytes = serde_json::to_vec(&view.body).map(|b| b.len()).unwrap_or(0);
        limits::estimate(&view.body, bytes, DEFAULT_OUTPUT_TOKENS, price)
    } else {
        limits::Estimate::default()
    };
    let reservation = core
        .limiter
        .admit(&ctx.principal, model.as_deref(), estimate, core.clock.now_ms())
        .await?;
    ctx.reservation = Some(reservation);
    Ok(())
}

/// A request that needs people: its view, the decision, and what an approval binds to.
pub struct Judged {
    pub view: View,
    pub decision: Decision,
    pub digest: String,
}

/// What let a request through the queue: the review as the agent is told of it, and the
/// approval spent.
struct Approved {
    record: Value,
    approval_id: Option<String>,
}

/// A request put in the queue, and how it waits.
struct Queue {
    approval: warden_store::Approval,
    mode: ApprovalMode,
}

/// How the approval step ended.
enum Step {
    Run(Approved),
    Answered(Response),
    Queued(Box<Queue>),
}

/// The approval step of a request that needs people: use the approval it names (or the
/// surface finds), report one still pending, or queue it.
async fn approve<S: Surface>(
    core: &Arc<Core>,
    surface: &S,
    ctx: &mut RequestContext,
    judged: &Judged,
    headers: &HeaderMap,
) -> Step {
    let found = match surface
        .find_approval(core, ctx, &judged.view, &judged.digest, headers)
        .await
    {
        Ok(found) => found,
        Err(error) => return Step::Answered(refuse(surface, ctx, error, Some("pending_approval"))),
    };
    match found {
        Found::Use(id) => match core
            .approvals
            .use_approval(&id, &ctx.principal, &judged.digest)
            .await
        {
            Ok(used) => {
                ctx.stage(records::approval_used(&ctx.trace_id, &ctx.principal, &used));
                Step::Run(approved_by(&used))
            }
            Err(error) => {
                ctx.stage(records::halted(&ctx.trace_id, &id, "refused", &error));
                Step::Answered(answer_after_commit(surface, ctx, error, "pending_approval").await)
            }
        },
        Found::Granted { trace_id } => Step::Run(Approved {
            record: json!({"approved": true, "reviewer": "front_door", "granted_by_trace": trace_id}),
            approval_id: None,
        }),
        Found::Pending(a) => {
            let error = pending_error(surface, &judged.decision, &a.id, &ctx.trace_id);
            ctx.stage(records::halted(&ctx.trace_id, &a.id, "pending_approval", &error));
            Step::Answered(answer_after_commit(surface, ctx, error, "pending_approval").await)
        }
        Found::Nothing => {
            let mode = if surface.can_hold() {
                match header(headers, "x-warden-approval-mode").map(|m| m.map(|m| ApprovalMode::parse(&m))) {
                    Ok(None) => None,
                    Ok(Some(Some(mode))) => Some(mode),
                    Ok(Some(None)) => {
                        let error = ApiError::bad_request(
                            "`x-warden-approval-mode` must be `hold` or `defer`.",
                            None,
                            "invalid_header",
                        );
                        return Step::Answered(reject(surface, ctx, error, None).await);
                    }
                    Err(error) => return Step::Answered(reject(surface, ctx, error, None).await),
                }
            } else {
                // A tool caller cannot hold its connection open for a person.
                Some(ApprovalMode::Defer)
            };
            let decision = &judged.decision;
            let red_override = decision.risk == Risk::Red;
            let settings = core
                .approvals
                .settings(decision.approval.as_ref(), mode, red_override);
            let queued = core
                .approvals
                .request(NewRequest {
                    trace_id: &ctx.trace_id,
                    principal: &ctx.principal,
                    kind: S::APPROVAL_KIND,
                    digest: &judged.digest,
                    decision,
                    request: approval_request(&ctx.policy, &judged.view),
                    settings: &settings,
                })
                .await;
            match queued {
                Ok(approval) => {
                    let summary = approvals::summary(&approval);
                    ctx.stage(records::approval_requested(
                        &ctx.trace_id,
                        &ctx.principal,
                        summary,
                        red_override,
                    ));
                    if let Err(error) = ctx.commit().await {
                        return Step::Answered(refuse(surface, ctx, error, None));
                    }
                    core.approvals.announce_requested(&approval).await;
                    Step::Queued(Box::new(Queue {
                        approval,
                        mode: settings.mode,
                    }))
                }
                Err(error) => {
                    let status = match error {
                        ApiError::TooManyPending { .. } => "rejected",
                        _ => "pending_approval",
                    };
                    ctx.stage(records::halted(&ctx.trace_id, "-", "not_queued", &error));
                    Step::Answered(answer_after_commit(surface, ctx, error, status).await)
                }
            }
        }
    }
}

/// The approval of this exact call (by `digest`) for the caller's key: one approved is used,
/// one still waiting is reported, none means the call is queued.
pub async fn approval_for_call(core: &Core, ctx: &RequestContext, digest: &str) -> Result<Found, ApiError> {
    let open = core
        .store
        .open_approval_for(&ctx.principal.key_id, digest)
        .await
        .map_err(|_| ApiError::StoreUnavailable)?;
    Ok(match open {
        Some(a) if a.status == warden_store::ApprovalStatus::Approved => Found::Use(a.id),
        Some(a) => Found::Pending(Box::new(a)),
        None => Found::Nothing,
    })
}

/// Commits what is staged, then refuses with `error` (or, if the trail cannot commit, with
/// that).
async fn answer_after_commit<S: Surface>(
    surface: &S,
    ctx: &mut RequestContext,
    error: ApiError,
    status: &'static str,
) -> Response {
    match ctx.commit().await {
        Ok(()) => refuse(surface, ctx, error, Some(status)),
        Err(unrecorded) => refuse(surface, ctx, unrecorded, None),
    }
}

/// A queued request: deferred (answered at once with the approval id) or held (the
/// connection waits for the decision).
async fn queued<S: Surface>(
    core: &Arc<Core>,
    surface: &S,
    mut ctx: RequestContext,
    judged: Judged,
    queue: Queue,
) -> Response {
    let id = queue.approval.id;
    if queue.mode == ApprovalMode::Hold {
        if judged.view.stream {
            return hold::stream(core.clone(), surface.clone(), ctx, judged, id);
        }
        return match hold::wait(core, &mut ctx, &id, &judged.digest).await {
            hold::Held::Run(used) => {
                ctx.status = Some("executed");
                let allowed = allowed_by(judged.decision, &used);
                surface.execute(core.clone(), ctx, judged.view, allowed).await
            }
            hold::Held::Refused(error, status) => refuse(surface, &mut ctx, error, Some(status)),
        };
    }
    let error = pending_error(surface, &judged.decision, &id, &ctx.trace_id);
    let record = records::halted(&ctx.trace_id, &id, "pending_approval", &error);
    if let Err(unrecorded) = ctx.record(record).await {
        return refuse(surface, &mut ctx, unrecorded, None);
    }
    refuse(surface, &mut ctx, error, Some("pending_approval"))
}

/// The answer to a request waiting in the queue as `id`.
fn pending_error<S: Surface>(surface: &S, decision: &Decision, id: &str, trace_id: &str) -> ApiError {
    let rule = decision.deciding_rule().unwrap_or("policy").to_string();
    let alternative = decision.alternative.clone().unwrap_or_default();
    ApiError::PendingApproval {
        message: format!(
            "This request requires human approval before it runs ({rule}: {}). It waits as approval request {id} (trace {trace_id}); {}. {alternative}",
            decision.reason,
            surface.resume_hint(id),
        )
        .trim_end()
        .to_string(),
        rule,
        approval_id: Some(id.to_string()),
    }
}

/// The error a refused request gets: why, and the safe alternative the policy offers.
pub fn blocked_message(decision: &Decision) -> String {
    let rule = decision.deciding_rule().unwrap_or("policy");
    let alternative = decision.alternative.clone().unwrap_or_else(|| {
        "I can help by drafting a safe plan, a checklist, or an approval packet instead.".to_string()
    });
    format!(
        "This request is blocked by governance policy ({rule}: {}). {alternative}",
        decision.reason
    )
}

/// The review of a request approved in the queue, as the agent is told of it.
fn approved_by(used: &warden_store::Approval) -> Approved {
    let reviewers: Vec<&str> = used.votes.iter().map(|v| v.approver_name.as_str()).collect();
    Approved {
        record: json!({"approved": true, "reviewer": reviewers.join(","), "approval_id": used.id, "note": used.note}),
        approval_id: Some(used.id.clone()),
    }
}

/// What let a request through when it was approved in the queue.
pub fn allowed_by(decision: Decision, used: &warden_store::Approval) -> Allowed {
    let approved = approved_by(used);
    Allowed {
        decision,
        approval: Some(approved.record),
        approval_id: approved.approval_id,
    }
}

/// The exact request as the people who decide see it: the forwarded body and headers, every
/// secret masked.
fn approval_request(policy: &warden_policy::Policy, view: &View) -> Value {
    let mut request = dlp::mask_value(policy, &Value::Object(view.body.clone()));
    if !view.headers.is_empty()
        && let Value::Object(map) = &mut request
    {
        let headers: serde_json::Map<String, Value> = view
            .headers
            .iter()
            .map(|(name, value)| (name.to_string(), json!(policy.mask_sensitive(value))))
            .collect();
        map.insert("headers".into(), Value::Object(headers));
    }
    request
}

/// What the classification record says of the request: the surface's facts, the texts
/// judged (masked, bounded) and the digest.
fn classification_facts(
    core: &Core,
    ctx: &RequestContext,
    view: &View,
    judged: &[String],
    digest: Option<&str>,
) -> Value {
    let max = core.config.audit_max_text_chars;
    let mut facts = view.facts.clone();
    facts
        .values_mut()
        .for_each(|v| dlp::mask_in_place(&ctx.policy, v));
    let mask = |text: &str| records::preview(ctx.policy.mask_sensitive(text).trim_end(), max);
    match &view.subject {
        Subject::Conversation => {
            let (request, context) = judge::split_for_record(view, judged);
            facts.insert("user_request".into(), json!(mask(&request)));
            if !context.trim().is_empty() {
                facts.insert("context".into(), json!(mask(&context)));
            }
        }
        Subject::ToolCall { tool, action } => {
            facts.insert("name".into(), json!(tool));
            facts.insert("action".into(), json!(action));
        }
    }
    if let Some(digest) = digest {
        facts.insert("digest".into(), json!(digest));
    }
    if !view.remembered.is_empty() {
        let held: Vec<&str> = view.remembered.iter().map(|r| r.text.as_str()).collect();
        facts.insert(
            "session_memory".into(),
            json!({"turns": view.remembered.len(), "context": mask(&held.join("\n\n"))}),
        );
    }
    Value::Object(facts)
}

/// Adds `x-warden-trace-id`, `x-warden-risk` and `x-warden-status`.
pub fn governance_headers(response: &mut Response, trace_id: &str, risk: Option<Risk>, status: Option<&str>) {
    let headers = response.headers_mut();
    let risk = risk.map(Risk::as_str);
    for (name, value) in [
        ("x-warden-trace-id", Some(trace_id)),
        ("x-warden-risk", risk),
        ("x-warden-status", status),
    ] {
        if let Some(value) = value
            && let Ok(v) = HeaderValue::from_str(value)
        {
            headers.insert(name, v);
        }
    }
}

/// A header's value, trimmed, if present and not empty; an unreadable one is a bad request.
pub fn header(headers: &HeaderMap, name: &'static str) -> Result<Option<String>, ApiError> {
    match headers.get(name) {
        None => Ok(None),
        Some(v) => v
            .to_str()
            .map(|s| Some(s.trim().to_string()).filter(|s| !s.is_empty()))
            .map_err(|_| {
                ApiError::bad_request(
                    format!("Header `{name}` must be visible ASCII."),
                    None,
                    "invalid_header",
                )
            }),
    }
}

/// Reads the body up to `limit` bytes within `timeout`; larger bodies get 413, slower ones 408.
pub async fn read_body(body: Body, limit: usize, timeout: Duration) -> Result<bytes::Bytes, ApiError> {
    match tokio::time::timeout(timeout, axum::body::to_bytes(body, limit)).await {
        Err(_) => Err(ApiError::RequestTimeout),
        Ok(Ok(bytes)) => Ok(bytes),
        Ok(Err(e)) => {
            let too_large = e.into_inner().is::<http_body_util::LengthLimitError>();
            Err(if too_large {
                ApiError::PayloadTooLarge { limit }
            } else {
                ApiError::bad_request("The request body could not be read.", None, "invalid_body")
            })
        }
    }
}
