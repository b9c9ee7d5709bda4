//! Every way a request can fail, and the one place that turns a failure into an HTTP status and
//! an OpenAI-shaped body `{"error":{"message","type","code"}}`.

use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;

/// A failure a client sees.
#[derive(Debug, Clone)]
pub enum ApiError {
    /// Missing, malformed, unknown or revoked API key.
    Unauthorized,
    /// A valid key without the role this route needs.
    Forbidden {
        needed: &'static str,
    },
    /// The request is not a valid request for this route.
    BadRequest {
        message: String,
        param: Option<&'static str>,
        code: &'static str,
    },
    PayloadTooLarge {
        limit: usize,
    },
    ModelNotFound {
        model: String,
    },
    NotFound {
        what: String,
    },
    /// The policy refused the request.
    Blocked {
        rule: String,
        message: String,
    },
    /// The request needs a person's approval first; `approval_id` names the request waiting
    /// in the queue, to resume with `x-warden-approval-id` once approved.
    PendingApproval {
        rule: String,
        message: String,
        approval_id: Option<String>,
    },
    /// The approval request was rejected, expired or cancelled.
    ApprovalClosed {
        status: &'static str,
        approval_id: String,
    },
    /// The request differs from the one approved.
    ApprovalMismatch {
        approval_id: String,
    },
    /// The approval was already used: an approval runs its request once.
    ApprovalUsed {
        approval_id: String,
    },
    /// A decision on an approval that cannot be taken (not pending, already voted).
    ApprovalConflict {
        message: String,
    },
    /// A decision this principal may not take (their own request, not in the deciding group).
    ApprovalForbidden {
        message: String,
    },
    /// The requester already has as many approval requests pending as they may.
    TooManyPending {
        limit: u32,
    },
    /// A `[[limits]]` counter has nothing left in its window: a rate (per minute) or a quota
    /// (per day or month).
    LimitReached {
        limit: String,
        kind: &'static str,
        capacity: i64,
        quota: bool,
        retry_after_secs: u64,
    },
    /// The client took too long to send its request body.
    RequestTimeout,
    UpstreamUnreachable,
    UpstreamTimeout,
    /// The upstream answered with an error status Warden does not pass on.
    UpstreamStatus {
        status: u16,
    },
    /// The upstream's answer was larger than Warden reads whole.
    UpstreamTooLarge {
        limit: usize,
    },
    /// Something went wrong inside Warden (a task that could not finish).
    Internal,
    /// The audit trail cannot commit: nothing runs unrecorded.
    AuditUnavailable,
    /// The store cannot be read (key lookups, trace reads).
    StoreUnavailable,
}

impl ApiError {
    /// The status, the error `type` and the error `code`.
    fn parts(&self) -> (StatusCode, &'static str, String) {
        match self {
            ApiError::Unauthorized => (
                StatusCode::UNAUTHORIZED,
                "authentication_error",
                "invalid_api_key".into(),
            ),
            ApiError::Forbidden { .. } => (
                StatusCode::FORBIDDEN,
                "permission_error",
                "insufficient_role".into(),
            ),
            ApiError::BadRequest { code, .. } => {
                (StatusCode::BAD_REQUEST, "invalid_request_error", (*code).into())
            }
            ApiError::PayloadTooLarge { .. } => (
                StatusCode::PAYLOAD_TOO_LARGE,
                "invalid_request_error",
                "request_too_large".into(),
            ),
            ApiError::ModelNotFound { .. } => (
                StatusCode::NOT_FOUND,
                "invalid_request_error",
                "model_not_found".into(),
            ),
            ApiError::NotFound { .. } => (StatusCode::NOT_FOUND, "invalid_request_error", "not_found".into()),
            ApiError::Blocked { rule, .. } => (StatusCode::FORBIDDEN, "governance_blocked", rule.clone()),
            ApiError::ApprovalClosed { status, .. } => (
                StatusCode::FORBIDDEN,
                "approval_denied",
                format!("approval_{status}"),
            ),
            ApiError::ApprovalMismatch { .. } => (
                StatusCode::CONFLICT,
                "approval_mismatch",
                "approval_digest_mismatch".into(),
            ),
            ApiError::ApprovalUsed { .. } => (
                StatusCode::CONFLICT,
                "approval_used",
                "approval_already_used".into(),
            ),
            ApiError::ApprovalConflict { .. } => (
                StatusCode::CONFLICT,
                "invalid_request_error",
                "approval_conflict".into(),
            ),
            ApiError::ApprovalForbidden { .. } => (
                StatusCode::FORBIDDEN,
                "permission_error",
                "approval_forbidden".into(),
            ),
            ApiError::PendingApproval { rule, .. } => {
                (StatusCode::FORBIDDEN, "approval_required", rule.clone())
            }
            ApiError::TooManyPending { .. } => (
                StatusCode::TOO_MANY_REQUESTS,
                "rate_limit_exceeded",
                "too_many_pending_approvals".into(),
            ),
            ApiError::LimitReached { quota: true, .. } => (
                StatusCode::TOO_MANY_REQUESTS,
                "insufficient_quota",
                "insufficient_quota".into(),
            ),
            ApiError::LimitReached { kind, .. } => (
                StatusCode::TOO_MANY_REQUESTS,
                if kind.starts_with("tokens") {
                    "tokens"
                } else {
                    "requests"
                },
                "rate_limit_exceeded".into(),
            ),
            ApiError::RequestTimeout => (
                StatusCode::REQUEST_TIMEOUT,
                "invalid_request_error",
                "request_timeout".into(),
            ),
            ApiError::UpstreamTooLarge { .. } => (
                StatusCode::BAD_GATEWAY,
                "upstream_error",
                "upstream_response_too_large".into(),
            ),
            ApiError::Internal => (
                StatusCode::INTERNAL_SERVER_ERROR,
                "server_error",
                "internal_error".into(),
            ),
            ApiError::UpstreamUnreachable => (
                StatusCode::BAD_GATEWAY,
                "upstream_error",
                "upstream_unreachable".into(),
            ),
            ApiError::UpstreamTimeout => (
                StatusCode::GATEWAY_TIMEOUT,
                "upstream_error",
                "upstream_timeout".into(),
            ),
            ApiError::UpstreamStatus { status: 401 | 403 } => (
                StatusCode::BAD_GATEWAY,
                "upstream_error",
                "upstream_auth_refused".into(),
            ),
            ApiError::UpstreamStatus { .. } => (
                StatusCode::BAD_GATEWAY,
                "upstream_error",
                "upstream_bad_status".into(),
            ),
            ApiError::AuditUnavailable => (
                StatusCode::SERVICE_UNAVAILABLE,
                "server_error",
                "audit_unavailable".into(),
            ),
            ApiError::StoreUnavailable => (
                StatusCode::SERVICE_UNAVAILABLE,
                "server_error",
                "store_unavailable".into(),
            ),
        }
    }

    pub fn message(&self) -> String {
        match self {
            ApiError::Unauthorized => {
                "Invalid or missing API key. Send `Authorization: Bearer <key>` with a key from `warden keys create`.".into()
            }
            ApiError::Forbidden { needed } => format!("This key lacks the `{needed}` role needed here."),
            ApiError::BadRequest { message, .. } => message.clone(),
            ApiError::PayloadTooLarge { limit } => {
                format!("Request body exceeds the limit of {limit} bytes (server.max_body_bytes).")
            }
            ApiError::ModelNotFound { model } => format!(
                "The model `{model}` does not exist here. GET /v1/models lists the models this gateway serves."
            ),
            ApiError::NotFound { what } => format!("{what} not found."),
            ApiError::Blocked { message, .. } | ApiError::PendingApproval { message, .. } => message.clone(),
            ApiError::ApprovalClosed { status, approval_id } => {
                format!("Approval request {approval_id} was {status}; the request was not run.")
            }
            ApiError::ApprovalMismatch { approval_id } => format!(
                "This request differs from the one approved under {approval_id}; a changed request needs a new approval."
            ),
            ApiError::ApprovalUsed { approval_id } => {
                format!("Approval {approval_id} was already used; an approval runs its request exactly once.")
            }
            ApiError::ApprovalConflict { message } | ApiError::ApprovalForbidden { message } => message.clone(),
            ApiError::LimitReached {
                limit,
                kind,
                capacity,
                retry_after_secs,
                ..
            } => {
                let amount = if kind.starts_with("spend") {
                    format!("{:.2}", *capacity as f64 / 1e6)
                } else {
                    capacity.to_string()
                };
                format!(
                    "Limit `{limit}` reached: {amount} {} for your key or tenant. Try again in {retry_after_secs} s.",
                    kind.replace('_', " ")
                )
            }
            ApiError::TooManyPending { limit } => format!(
                "You already have {limit} approval requests waiting for a decision (approvals.max_pending_per_requester); cancel one or wait for decisions before asking for more."
            ),
            ApiError::RequestTimeout => {
                "The request body did not arrive in time (server.body_timeout_ms).".into()
            }
            ApiError::UpstreamTooLarge { limit } => format!(
                "The upstream agent's answer was larger than {limit} bytes (upstream.max_response_bytes)."
            ),
            ApiError::Internal => "Warden could not finish this request. Retry it.".into(),
            ApiError::UpstreamUnreachable => "The upstream agent could not be reached.".into(),
            ApiError::UpstreamTimeout => "The upstream agent did not answer in time.".into(),
            ApiError::UpstreamStatus { status: status @ (401 | 403) } => format!(
                "The upstream agent refused Warden's token (status {status}): the gateway's operator must set the token the upstream expects (WARDEN_UPSTREAM_TOKEN or upstream.token_file; for OpenClaw, its gateway.auth.token). `warden doctor` checks it."
            ),
            ApiError::UpstreamStatus { status } => format!("The upstream agent failed with status {status}."),
            ApiError::AuditUnavailable => {
                "The audit trail cannot record this request right now, so it was not executed. Retry later.".into()
            }
            ApiError::StoreUnavailable => "The store cannot be read right now. Retry later.".into(),
        }
    }

    pub fn status(&self) -> StatusCode {
        self.parts().0
    }

    /// The error's `type`.
    pub fn kind(&self) -> &'static str {
        self.parts().1
    }

    /// The error's `code`.
    pub fn code(&self) -> String {
        self.parts().2
    }

    /// The error as a response; `trace_id` is added to the body and headers when known.
    pub fn into_response_with(self, trace_id: Option<&str>) -> Response {
        let (status, kind, code) = self.parts();
        let mut error = json!({"message": self.message(), "type": kind, "code": code});
        if let ApiError::BadRequest {
            param: Some(param), ..
        } = &self
        {
            error["param"] = json!(param);
        }
        if let Some(trace_id) = trace_id {
            error["trace_id"] = json!(trace_id);
        }
        match &self {
            ApiError::PendingApproval {
                approval_id: Some(id),
                ..
            } => {
                error["approval_id"] = json!(id);
                error["approval_status"] = json!("pending");
            }
            ApiError::ApprovalClosed { approval_id, status } => {
                error["approval_id"] = json!(approval_id);
                error["approval_status"] = json!(status);
            }
            ApiError::ApprovalMismatch { approval_id } | ApiError::ApprovalUsed { approval_id } => {
                error["approval_id"] = json!(approval_id);
            }
            _ => {}
        }
        let mut response = (status, axum::Json(json!({ "error": error }))).into_response();
        if let Some(trace_id) = trace_id
            && let Ok(v) = HeaderValue::from_str(trace_id)
        {
            response.headers_mut().insert("x-warden-trace-id", v);
        }
        if let ApiError::LimitReached { retry_after_secs, .. } = &self
            && let Ok(v) = HeaderValue::from_str(&retry_after_secs.to_string())
        {
            response.headers_mut().insert("retry-after", v);
        }
        if matches!(self, ApiError::Unauthorized) {
            response
                .headers_mut()
                .insert("www-authenticate", HeaderValue::from_static("Bearer"));
        }
        response
    }

    pub fn bad_request(
        message: impl Into<String>,
        param: Option<&'static str>,
        code: &'static str,
    ) -> ApiError {
        ApiError::BadRequest {
            message: message.into(),
            param,
            code,
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        self.into_response_with(None)
    }
}

/// An error with its causes, which is where reqwest and sqlx say what actually went wrong.
pub fn describe(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}
