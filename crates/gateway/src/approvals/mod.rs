//! The approval queue: amber work (and red work a rule lets a quorum override) waits here for
//! people. Requests are created, voted on, used once, cancelled, expired, escalated and
//! reminded about; every transition is one store transaction followed by its audit record, and
//! interested parties hear of it: held connections at once, webhooks through the outbox.

pub mod digest;
pub mod routes;
pub mod webhooks;

use std::time::Duration;

use serde_json::{Value, json};
use tokio::sync::broadcast;
use warden_policy::{ApprovalSpec, Decision, Risk};
use warden_store::{Approval, ApprovalRefusal, ApprovalStatus, AuditLog, NewApproval, NewEvent, Store};

use crate::auth::Principal;
use crate::clock::{Clock, rfc3339};
use crate::config::ApprovalsConfig;
use crate::error::ApiError;

/// The settings one approval request is created with: the rule's, else the gateway's.
#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    pub mode: String,
    pub quorum: u32,
    pub groups: Vec<String>,
    pub escalate_to: Vec<String>,
    pub escalate_after: Option<Duration>,
    pub expires_after: Duration,
    pub on_expiry: String,
    pub remind_every: Option<Duration>,
}

/// The approval service. One per gateway.
pub struct Approvals {
    store: Store,
    audit: AuditLog,
    clock: Clock,
    pub config: ApprovalsConfig,
    /// Ids of requests that were just decided, for held connections waiting on them.
    decided: broadcast::Sender<String>,
}

fn store_error(e: warden_store::StoreError) -> ApiError {
    tracing::error!(error = %e, "approval store operation failed");
    ApiError::StoreUnavailable
}

fn refusal(r: ApprovalRefusal) -> ApiError {
    match r {
        ApprovalRefusal::NotFound(id) => ApiError::NotFound {
            what: format!("Approval request `{id}`"),
        },
        ApprovalRefusal::NotRequester => ApiError::ApprovalForbidden {
            message: "This approval request belongs to another requester.".into(),
        },
        ApprovalRefusal::SelfApproval | ApprovalRefusal::NotInGroup(_) => ApiError::ApprovalConflict {
            message: r.to_string(),
        }
        .forbidden(),
        other => ApiError::ApprovalConflict {
            message: other.to_string(),
        },
    }
}

impl ApiError {
    /// The same refusal, as a permission failure.
    fn forbidden(self) -> ApiError {
        match self {
            ApiError::ApprovalConflict { message } => ApiError::ApprovalForbidden { message },
            other => other,
        }
    }
}

/// A summary of a request for people and webhooks.
pub fn summary(a: &Approval) -> Value {
    json!({
        "id": a.id,
        "trace_id": a.trace_id,
        "status": a.status,
        "requester": a.requester,
        "tenant": a.tenant,
        "kind": a.kind,
        "rule": a.rule,
        "risk": a.risk,
        "reason": a.decision.get("reason"),
        "required": a.required,
        "approvals": a.approvals(),
        "groups": a.eligible_groups(),
        "escalated": a.escalated,
        "mode": a.mode,
        "digest": a.digest,
        "policy_version": a.policy_version,
        "created_at": rfc3339(a.created_ms),
        "expires_at": rfc3339(a.expires_ms),
    })
}

impl Approvals {
    pub fn new(store: Store, audit: AuditLog, clock: Clock, config: ApprovalsConfig) -> Approvals {
        let (decided, _) = broadcast::channel(1024);
        Approvals {
            store,
            audit,
            clock,
            config,
            decided,
        }
    }

    pub fn now_ms(&self) -> i64 {
        self.clock.now_ms()
    }

    /// The settings for a request: header mode, then the rule's, then the gateway's defaults.
    /// A red override always needs a quorum of at least two.
    pub fn settings(
        &self,
        spec: Option<&ApprovalSpec>,
        header_mode: Option<&str>,
        red_override: bool,
    ) -> Settings {
        let c = &self.config;
        let spec = spec.cloned().unwrap_or_default();
        let quorum = spec.quorum.unwrap_or(c.quorum);
        Settings {
            mode: header_mode
                .filter(|m| matches!(*m, "hold" | "defer"))
                .map(str::to_string)
                .or(spec.mode)
                .unwrap_or_else(|| c.mode.clone()),
            quorum: if red_override { quorum.max(2) } else { quorum },
            groups: if spec.groups.is_empty() {
                c.groups.clone()
            } else {
                spec.groups
            },
            escalate_to: if spec.escalate_to.is_empty() {
                c.escalate_to.clone()
            } else {
                spec.escalate_to
            },
            escalate_after: spec
                .escalate_after_secs
                .map(Duration::from_secs)
                .or(c.escalate_after),
            expires_after: spec
                .expires_after_secs
                .map(Duration::from_secs)
                .unwrap_or(c.expires_after),
            // Only people override red: its expiry always rejects.
            on_expiry: if red_override {
                "reject".into()
            } else {
                spec.on_expiry.unwrap_or_else(|| c.on_expiry.clone())
            },
            remind_every: spec.remind_every_secs.map(Duration::from_secs).or(c.remind_every),
        }
    }

    /// Puts a request in the queue and records `approval_requested` (in the same audit commit
    /// as `records_before`, the request's classification).
    #[allow(clippy::too_many_arguments)]
    pub async fn request(
        &self,
        trace_id: &str,
        principal: &Principal,
        kind: &str,
        digest: &str,
        decision: &Decision,
        request: Value,
        settings: &Settings,
        mut records_before: Vec<NewEvent>,
    ) -> Result<Approval, ApiError> {
        let now = self.now_ms();
        let id = uuid::Uuid::now_v7().to_string();
        let ms = |d: Duration| d.as_millis() as i64;
        let new = NewApproval {
            id: id.clone(),
            trace_id: trace_id.to_string(),
            requester_key: principal.key_id.clone(),
            requester: principal.name.clone(),
            tenant: principal.tenant.clone(),
            kind: kind.to_string(),
            digest: digest.to_string(),
            policy_version: decision.policy_version.clone(),
            rule: decision.deciding_rule().unwrap_or("policy").to_string(),
            risk: decision.risk.as_str().to_string(),
            decision: serde_json::to_value(decision).unwrap_or(Value::Null),
            request,
            mode: settings.mode.clone(),
            required: settings.quorum,
            groups: settings.groups.clone(),
            escalate_groups: settings.escalate_to.clone(),
            created_ms: now,
            expires_ms: now + ms(settings.expires_after),
            escalate_ms: settings
                .escalate_after
                .filter(|_| !settings.escalate_to.is_empty())
                .map(|d| now + ms(d)),
            remind_ms: settings.remind_every.map(|d| now + ms(d)),
            remind_every_ms: settings.remind_every.map(ms),
            on_expiry: settings.on_expiry.clone(),
        };
        self.store.create_approval(&new).await.map_err(store_error)?;
        let approval = self
            .store
            .approval(&id)
            .await
            .map_err(store_error)?
            .ok_or(ApiError::StoreUnavailable)?;
        records_before.push(NewEvent::now(
            trace_id,
            "approval_requested",
            &principal.actor(),
            json!({"approval": summary(&approval), "red_override": decision.risk == Risk::Red,
                   "policy_version": decision.policy_version}),
        ));
        self.audit
            .append(records_before)
            .await
            .map_err(|_| ApiError::AuditUnavailable)?;
        self.notify_webhooks("requested", &approval).await;
        Ok(approval)
    }

    /// Waits until the request is decided or `timeout` passes; returns its status then.
    pub async fn wait(&self, id: &str, timeout: Duration) -> ApprovalStatus {
        let mut decided = self.decided.subscribe();
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            match self.store.approval(id).await {
                Ok(Some(a)) if a.status != ApprovalStatus::Pending => return a.status,
                Ok(None) => return ApprovalStatus::Cancelled,
                _ => {}
            }
            // Woken by a decision on this replica or (PostgreSQL) a notice from another; the
            // poll catches a notice lost while the listener reconnected. Decisions on other
            // requests are passed over without a read, so many held requests do not all query
            // the store on every decision.
            let poll = tokio::time::sleep(self.config.poll_interval);
            tokio::pin!(poll);
            loop {
                tokio::select! {
                    _ = tokio::time::sleep_until(deadline) => {
                        return self.store.approval(id).await.ok().flatten().map(|a| a.status).unwrap_or(ApprovalStatus::Pending);
                    }
                    _ = &mut poll => break,
                    message = decided.recv() => match message {
                        Ok(decided_id) if decided_id != id => continue,
                        Err(broadcast::error::RecvError::Closed) => return ApprovalStatus::Pending,
                        // This request, or notices missed (lagged): read it.
                        _ => break,
                    },
                }
            }
        }
    }

    /// An approver's vote.
    pub async fn vote(
        &self,
        id: &str,
        approver: &Principal,
        approve: bool,
        note: Option<&str>,
    ) -> Result<Approval, ApiError> {
        let now = self.now_ms();
        let outcome = self
            .store
            .vote_approval(
                id,
                &warden_store::Voter {
                    key: &approver.key_id,
                    name: &approver.name,
                    groups: &approver.groups,
                },
                approve,
                note,
                now,
            )
            .await
            .map_err(store_error)?;
        let outcome = match outcome {
            Ok(outcome) => outcome,
            Err(refused) => {
                // A refused decision is on the record too: a self-approval attempt, a vote from
                // outside the deciding groups, a vote on a closed request.
                if let Ok(Some(a)) = self.store.approval(id).await {
                    let record = NewEvent::now(
                        &a.trace_id,
                        "approval_vote_refused",
                        &approver.actor(),
                        json!({"approval_id": a.id, "vote": if approve { "approve" } else { "reject" },
                               "refusal": refused.to_string(), "policy_version": a.policy_version}),
                    );
                    self.audit
                        .append(vec![record])
                        .await
                        .map_err(|_| ApiError::AuditUnavailable)?;
                }
                return Err(refusal(refused));
            }
        };
        let a = &outcome.approval;
        let mut records = vec![NewEvent::now(
            &a.trace_id,
            "approval_vote",
            &approver.actor(),
            json!({"approval_id": a.id, "vote": if approve { "approve" } else { "reject" }, "note": note,
                   "approvals": a.approvals(), "required": a.required, "policy_version": a.policy_version}),
        )];
        if let Some(status) = outcome.decided {
            let stage = if status == ApprovalStatus::Approved {
                "approval_granted"
            } else {
                "approval_rejected"
            };
            let reviewers: Vec<&str> = a.votes.iter().map(|v| v.approver_name.as_str()).collect();
            records.push(NewEvent::now(
                &a.trace_id,
                stage,
                &approver.actor(),
                json!({"approval_id": a.id, "status": status, "reviewers": reviewers, "note": note, "policy_version": a.policy_version}),
            ));
        }
        self.audit
            .append(records)
            .await
            .map_err(|_| ApiError::AuditUnavailable)?;
        if outcome.decided.is_some() {
            let _ = self.decided.send(a.id.clone());
            self.notify_webhooks("decided", a).await;
        }
        Ok(outcome.approval)
    }

    /// The requester withdraws their request.
    pub async fn cancel(&self, id: &str, requester: &Principal) -> Result<Approval, ApiError> {
        let a = self
            .store
            .cancel_approval(id, &requester.key_id, self.now_ms())
            .await
            .map_err(store_error)?
            .map_err(refusal)?;
        let record = NewEvent::now(
            &a.trace_id,
            "approval_cancelled",
            &requester.actor(),
            json!({"approval_id": a.id, "policy_version": a.policy_version}),
        );
        self.audit
            .append(vec![record])
            .await
            .map_err(|_| ApiError::AuditUnavailable)?;
        let _ = self.decided.send(a.id.clone());
        self.notify_webhooks("decided", &a).await;
        Ok(a)
    }

    /// Uses an approved request, once; the result says why not otherwise.
    pub async fn use_approval(
        &self,
        id: &str,
        requester: &Principal,
        digest: &str,
    ) -> Result<Approval, ApiError> {
        let used = self
            .store
            .use_approval(id, &requester.key_id, digest, self.now_ms())
            .await
            .map_err(store_error)?;
        used.map_err(|r| match r {
            ApprovalRefusal::DigestMismatch { .. } => ApiError::ApprovalMismatch {
                approval_id: id.to_string(),
            },
            ApprovalRefusal::NotUsable("used") => ApiError::ApprovalUsed {
                approval_id: id.to_string(),
            },
            ApprovalRefusal::NotUsable("pending") => ApiError::PendingApproval {
                rule: "approval".into(),
                message: format!("Approval request {id} is still pending; retry once it is approved."),
                approval_id: Some(id.to_string()),
            },
            ApprovalRefusal::NotUsable(status) => ApiError::ApprovalClosed {
                status: match status {
                    "rejected" => "rejected",
                    "expired" => "expired",
                    _ => "cancelled",
                },
                approval_id: id.to_string(),
            },
            other => refusal(other),
        })
    }

    /// One pass of the scheduler: expire, escalate and remind what is due. Every change is a
    /// conditional update, so running it on several replicas acts once per request.
    pub async fn tick(&self) {
        let now = self.now_ms();
        let due = match self.store.due_approvals(now).await {
            Ok(due) => due,
            Err(e) => {
                tracing::error!(error = %e, "approval scheduler cannot read the queue");
                return;
            }
        };
        for a in due {
            if a.expires_ms <= now {
                let outcome = if a.on_expiry == "approve" {
                    ApprovalStatus::Approved
                } else {
                    ApprovalStatus::Expired
                };
                if let Ok(true) = self.store.expire_approval(&a.id, outcome, now).await {
                    let record = NewEvent::now(
                        &a.trace_id,
                        "approval_expired",
                        "warden",
                        json!({"approval_id": a.id, "outcome": outcome, "approvals": a.approvals(), "required": a.required,
                               "policy_version": a.policy_version}),
                    );
                    self.record_scheduled(record).await;
                    let _ = self.decided.send(a.id.clone());
                    if let Ok(Some(now_a)) = self.store.approval(&a.id).await {
                        self.notify_webhooks("expired", &now_a).await;
                    }
                }
                continue;
            }
            if a.escalate_ms.is_some_and(|at| at <= now)
                && !a.escalated
                && let Ok(true) = self.store.escalate_approval(&a.id, now).await
            {
                let record = NewEvent::now(
                    &a.trace_id,
                    "approval_escalated",
                    "warden",
                    json!({"approval_id": a.id, "to": a.escalate_groups, "policy_version": a.policy_version}),
                );
                self.record_scheduled(record).await;
                if let Ok(Some(now_a)) = self.store.approval(&a.id).await {
                    self.notify_webhooks("escalated", &now_a).await;
                }
            }
            if let Some(due_at) = a.remind_ms.filter(|at| *at <= now) {
                let every = a.remind_every_ms.unwrap_or(0).max(1000);
                let next = Some(due_at + every).filter(|n| *n < a.expires_ms);
                if let Ok(true) = self.store.remind_approval(&a.id, due_at, next).await {
                    let record = NewEvent::now(
                        &a.trace_id,
                        "approval_reminded",
                        "warden",
                        json!({"approval_id": a.id, "approvals": a.approvals(), "required": a.required,
                               "policy_version": a.policy_version}),
                    );
                    self.record_scheduled(record).await;
                    self.notify_webhooks("reminder", &a).await;
                }
            }
        }
    }

    /// Records what the scheduler did. Nobody waits on it, so a record that cannot be committed
    /// is logged rather than refused; the change it describes has already been made.
    async fn record_scheduled(&self, record: NewEvent) {
        if let Err(e) = self.audit.append(vec![record]).await {
            tracing::error!(error = %e, "scheduler record not committed");
        }
    }

    /// Queues the event for every webhook subscribed to it. The outbox is in the store, so a
    /// restart loses no notification, and delivery never runs on a request's path.
    async fn notify_webhooks(&self, event: &str, a: &Approval) {
        for hook in self
            .config
            .webhooks
            .iter()
            .filter(|h| h.events.iter().any(|e| e == event))
        {
            let payload = webhooks::payload(&hook.format, event, a);
            if let Err(e) = self
                .store
                .enqueue_webhook(&hook.name, event, &payload, self.now_ms())
                .await
            {
                tracing::error!(error = %e, hook = %hook.name, "webhook not queued");
            }
        }
    }
}

/// Wakes this replica's held requests when a decision is taken on any replica (PostgreSQL's
/// LISTEN/NOTIFY; nothing to do on SQLite, where the one gateway hears itself).
pub async fn spawn_decision_listener(
    approvals: std::sync::Arc<Approvals>,
) -> Result<(), warden_store::StoreError> {
    let Some(mut listener) = approvals.store.listen_decisions().await? else {
        return Ok(());
    };
    tokio::spawn(async move {
        loop {
            match listener.recv().await {
                Ok(id) => {
                    let _ = approvals.decided.send(id);
                }
                Err(e) => {
                    // The listener reconnects on the next call; held requests poll meanwhile.
                    tracing::warn!(error = %e, "decision notices interrupted; reconnecting");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            }
        }
    });
    Ok(())
}

/// Runs the scheduler until the process ends.
pub fn spawn_scheduler(approvals: std::sync::Arc<Approvals>) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(approvals.config.scheduler_interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        loop {
            tick.tick().await;
            approvals.tick().await;
        }
    });
}
