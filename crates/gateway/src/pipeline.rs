//! The governance pipeline for `POST /v1/chat/completions`, top to bottom in one function:
//! authenticate -> parse -> classify -> approve -> audit the decision -> execute.

use axum::body::Body;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use uuid::Uuid;

use crate::approvals;
use crate::approve::{self, Outcome};
use crate::auth::Role;
use crate::classify::classify;
use crate::error::ApiError;
use crate::execute::{self, governance_headers};
use crate::hold;
use crate::request::ChatRequest;
use crate::state::AppState;
use crate::trail;

/// The handler: every response carries the trace id; governed ones also the risk and status.
pub async fn chat_completions(State(state): State<AppState>, headers: HeaderMap, body: Body) -> Response {
    let trace_id = Uuid::now_v7().to_string();
    match govern_chat(&state, &trace_id, &headers, body).await {
        Ok(response) => response,
        Err(Refusal { error, risk, status }) => {
            let mut response = error.into_response_with(Some(&trace_id));
            if let (Some(risk), Some(status)) = (risk, status) {
                governance_headers(&mut response, &trace_id, risk, status);
            }
            response
        }
    }
}

/// A request that ends in an error; `risk` and `status` are set once it was classified.
struct Refusal {
    error: ApiError,
    risk: Option<&'static str>,
    status: Option<&'static str>,
}

impl From<ApiError> for Refusal {
    fn from(error: ApiError) -> Refusal {
        Refusal {
            error,
            risk: None,
            status: None,
        }
    }
}

async fn govern_chat(
    state: &AppState,
    trace_id: &str,
    headers: &HeaderMap,
    body: Body,
) -> Result<Response, Refusal> {
    // 1. Authenticate. Failures are logged, not audited: an unauthenticated flood must not
    //    be able to grow the trail.
    let principal = state.auth.authenticate(headers).await.inspect_err(|_| {
        tracing::warn!(trace_id, "request refused: invalid or missing API key");
    })?;
    let policy = state.policy.get();
    if let Err(error) = principal.require(Role::Requester) {
        tracing::warn!(trace_id, key = %principal.name, "request refused: the key lacks the requester role");
        record_rejection(state, trace_id, &principal, &error, policy.version()).await?;
        return Err(error.into());
    }

    // 2. Parse into the governed view; bad input is refused, recorded, and never forwarded.
    let parsed = match read_body(body, state.config.max_body_bytes).await {
        Ok(raw) => ChatRequest::parse(&raw, headers, &state.config),
        Err(e) => Err(e),
    };
    let mut request = match parsed {
        Ok(request) => request,
        Err(error) => {
            record_rejection(state, trace_id, &principal, &error, policy.version()).await?;
            return Err(error.into());
        }
    };

    // 3. Data-loss prevention, then classify (pure and synchronous). Secrets the policy
    //    redacts never reach the upstream; flagged ones are recorded and judged as absent.
    request.dlp = crate::dlp::apply_to_request(&policy, &mut request).to_json("prompt");
    request.recorded_text = policy.mask_sensitive(&request.text);
    request.recorded_context = policy.mask_sensitive(&request.context);
    let decision = classify(&policy, &request, &principal);

    // 4. Approve: green runs; red is refused unless a quorum may override it; amber waits
    //    in the queue (or is cleared by the explicit auto-approval setting). A retry that names
    //    an approval runs once, if it is the request that was approved.
    let mut approval = approve::decide(&decision, state.config.auto_approve);
    let risk = decision.risk.as_str();
    let refuse = |error: ApiError, status: &'static str| Refusal {
        error,
        risk: Some(risk),
        status: Some(status),
    };
    let mode = header(headers, "x-warden-approval-mode")?;
    if let Some(mode) = &mode
        && !matches!(mode.as_str(), "hold" | "defer")
    {
        return Err(ApiError::bad_request(
            "`x-warden-approval-mode` must be `hold` or `defer`.",
            None,
            "invalid_header",
        )
        .into());
    }
    if let Some(approval_id) = header(headers, "x-warden-approval-id")?
        && approval.outcome != Outcome::Blocked
    {
        let classification = trail::classification(
            trace_id,
            &principal,
            &request,
            &decision,
            state.config.audit_max_text_chars,
        );
        // The digest binds an approval to the exact request; only requests that take or ask for
        // an approval need it.
        let digest = approvals::digest::chat_digest(&request.body);
        match state
            .approvals
            .use_approval(&approval_id, &principal, &digest)
            .await
        {
            Ok(used) => {
                trail::commit(
                    &state.audit,
                    vec![classification, trail::approval_used(trace_id, &principal, &used)],
                    &decision.policy_version,
                )
                .await?;
                approval = approve::from_queue(&used);
                return execute::forward(state, trace_id, &principal, request, &decision, &approval)
                    .await
                    .map_err(|error| refuse(error, "upstream_error"));
            }
            Err(error) => {
                trail::commit(
                    &state.audit,
                    vec![
                        classification,
                        trail::halted(trace_id, &approval_id, "refused", &error),
                    ],
                    &decision.policy_version,
                )
                .await?;
                return Err(refuse(error, "pending_approval"));
            }
        }
    }
    if approval.outcome == Outcome::PendingApproval {
        return queue(state, trace_id, principal, request, decision, mode.as_deref()).await;
    }
    let refusal = refusal_for(&decision, &approval);

    // 5. Audit the decision: committed before anything leaves Warden.
    let records = trail::decision_records(
        trace_id,
        &principal,
        &request,
        &decision,
        &approval,
        refusal.as_ref(),
        state.config.audit_max_text_chars,
    );
    trail::commit(&state.audit, records, &decision.policy_version).await?;
    if let Some(error) = refusal {
        return Err(refuse(error, approval.status()));
    }

    // 6. Execute, recording the outcome.
    execute::forward(state, trace_id, &principal, request, &decision, &approval)
        .await
        .map_err(|error| refuse(error, "upstream_error"))
}

/// A request that needs people: queued, then deferred (answered at once with the approval id)
/// or held (the connection waits for the decision).
async fn queue(
    state: &AppState,
    trace_id: &str,
    principal: crate::auth::Principal,
    request: ChatRequest,
    decision: warden_policy::Decision,
    header_mode: Option<&str>,
) -> Result<Response, Refusal> {
    let digest = approvals::digest::chat_digest(&request.body);
    let risk = decision.risk.as_str();
    let refuse = |error: ApiError, status: &'static str| Refusal {
        error,
        risk: Some(risk),
        status: Some(status),
    };
    let red_override = decision.risk == warden_policy::Risk::Red;
    let settings = state
        .approvals
        .settings(decision.approval.as_ref(), header_mode, red_override);
    let classification = trail::stamp(
        vec![trail::classification(
            trace_id,
            &principal,
            &request,
            &decision,
            state.config.audit_max_text_chars,
        )],
        &decision.policy_version,
    );
    let exact = serde_json::Value::Object(request.body.clone());
    let queued = state
        .approvals
        .request(
            trace_id,
            &principal,
            "chat",
            &digest,
            &decision,
            exact,
            &settings,
            classification,
        )
        .await
        .map_err(|e| refuse(e, "pending_approval"))?;
    if settings.mode == "hold" {
        if request.stream {
            return Ok(hold::stream(
                state.clone(),
                trace_id.to_string(),
                principal,
                request,
                decision,
                queued.id,
                digest,
            ));
        }
        return match hold::wait(state, trace_id, &principal, &queued.id, &digest).await {
            hold::Held::Run(used) => {
                let approval = approve::from_queue(&used);
                execute::forward(state, trace_id, &principal, request, &decision, &approval)
                    .await
                    .map_err(|error| refuse(error, "upstream_error"))
            }
            hold::Held::Refused(error) => {
                let status = if matches!(error, ApiError::PendingApproval { .. }) {
                    "pending_approval"
                } else {
                    "rejected"
                };
                Err(refuse(error, status))
            }
        };
    }
    let rule = decision.deciding_rule().unwrap_or("policy").to_string();
    let alternative = decision.alternative.clone().unwrap_or_default();
    let error = ApiError::PendingApproval {
        message: format!(
            "This request requires human approval before it runs ({rule}: {}). It waits as approval request {id} (trace {trace_id}); once approved, send the identical request again with the header `x-warden-approval-id: {id}` and it runs once. {alternative}",
            decision.reason,
            id = queued.id,
        ),
        rule,
        approval_id: Some(queued.id.clone()),
    };
    let record = trail::halted(trace_id, &queued.id, "pending_approval", &error);
    trail::commit(&state.audit, vec![record], &decision.policy_version).await?;
    Err(refuse(error, "pending_approval"))
}

/// Records a refusal of an authenticated request (bad input, missing role) before answering it.
async fn record_rejection(
    state: &AppState,
    trace_id: &str,
    principal: &crate::auth::Principal,
    error: &ApiError,
    policy_version: &str,
) -> Result<(), ApiError> {
    let record = trail::rejected(trace_id, principal, error);
    trail::commit(&state.audit, vec![record], policy_version).await
}

/// A header's value, if present; an unreadable one is a bad request.
fn header(headers: &HeaderMap, name: &'static str) -> Result<Option<String>, ApiError> {
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

/// The error a refused request gets: why, and the safe alternative the policy offers.
/// (Pending approvals never reach here: the queue answers them.)
fn refusal_for(decision: &warden_policy::Decision, approval: &approve::Approval) -> Option<ApiError> {
    let rule = decision.deciding_rule().unwrap_or("policy").to_string();
    let alternative = decision.alternative.clone().unwrap_or_else(|| {
        "I can help by drafting a safe plan, a checklist, or an approval packet instead.".to_string()
    });
    match approval.outcome {
        Outcome::Proceed | Outcome::PendingApproval => None,
        Outcome::Blocked => Some(ApiError::Blocked {
            message: format!(
                "This request is blocked by governance policy ({}: {}). {alternative}",
                rule, decision.reason
            ),
            rule,
        }),
    }
}

/// Reads the body up to `limit` bytes; larger bodies are refused with 413.
pub async fn read_body(body: Body, limit: usize) -> Result<bytes::Bytes, ApiError> {
    axum::body::to_bytes(body, limit).await.map_err(|e| {
        let too_large = e.into_inner().is::<http_body_util::LengthLimitError>();
        if too_large {
            ApiError::PayloadTooLarge { limit }
        } else {
            ApiError::bad_request("The request body could not be read.", None, "invalid_body")
        }
    })
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        self.error.into_response()
    }
}
