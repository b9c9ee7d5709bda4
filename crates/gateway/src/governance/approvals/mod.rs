//! The approval queue: amber work (and red work a rule lets a quorum override) waits here for
//! people. Requests are created, voted on, used once, cancelled, expired, escalated and
//! reminded about; every transition is one store transaction followed by its audit record, and
//! interested parties hear of it: held connections at once, webhooks through the outbox.

pub mod webhooks;

use std::time::Duration;

use serde_json::{Value, json};
use tokio::sync::broadcast;
use warden_policy::{ApprovalSpec, Decision};
use warden_store::{Approval, ApprovalRefusal, ApprovalStatus, AuditLog, NewApproval, Store};

use super::records::{self, Record};
use crate::auth::Principal;
use crate::clock::{Clock, rfc3339};
use crate::config::{ApprovalMode, ApprovalsConfig, Keyword, OnExpiry};
use crate::error::ApiError;

/// The settings one approval request is created with: the rule's, else the gateway's.
#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    pub mode: ApprovalMode,
    pub quorum: u32,
    pub groups: Vec<String>,
    pub escalate_to: Vec<String>,
    pub escalate_after: Option<Duration>,
    pub expires_after: Duration,
    pub on_expiry: OnExpiry,
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

/// The refusal for an approval request the caller may not see: the same as for one that does
/// not exist, so that ids of other requesters and tenants are not confirmed.
pub fn not_found(id: &str) -> ApiError {
    ApiError::NotFound {
        what: format!("Approval request `{id}`"),
    }
}

fn refusal(r: ApprovalRefusal) -> ApiError {
    match r {
        ApprovalRefusal::NotFound(id) => not_found(&id),
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

/// A request to put in the queue.
pub struct NewRequest<'a> {
    pub trace_id: &'a str,
    pub principal: &'a Principal,
    /// `chat`, `responses`, `tool`...
    pub kind: &'a str,
    pub digest: &'a str,
    pub decision: &'a Decision,
    /// The exact request, secrets masked, for the people who decide.
    pub request: Value,
    pub settings: &'a Settings,
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
        header_mode: Option<ApprovalMode>,
        red_override: bool,
    ) -> Settings {
        let c = &self.config;
        let spec = spec.cloned().unwrap_or_default();
        let quorum = spec.quorum.unwrap_or(c.quorum);
        Settings {
            mode: header_mode
                .or(spec.mode.as_deref().and_then(ApprovalMode::parse))
                .unwrap_or(c.mode),
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
                OnExpiry::Reject
            } else {
                spec.on_expiry
                    .as_deref()
                    .and_then(OnExpiry::parse)
                    .unwrap_or(c.on_expiry)
            },
            remind_every: spec.remind_every_secs.map(Duration::from_secs).or(c.remind_every),
        }
    }

    /// Puts a request in the queue, unless its requester already has as many pending as they
    /// may. The caller records `approval_requested` with the request's other decisions.
    pub async fn request(&self, new: NewRequest<'_>) -> Result<Approval, ApiError> {
        let NewRequest {
            trace_id,
            principal,
            kind,
            digest,
            decision,
            request,
            settings,
        } = new;
        let pending = self
            .store
            .pending_approvals_of(&principal.key_id)
            .await
            .map_err(store_error)?;
        if pending >= i64::from(self.config.max_pending_per_requester) {
            return Err(ApiError::TooManyPending {
                limit: self.config.max_pending_per_requester,
            });
        }
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
            mode: settings.mode.as_str().to_string(),
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
            on_expiry: settings.on_expiry.as_str().to_string(),
        };
        self.store.create_approval(&new).await.map_err(store_error)?;
        self.store
            .approval(&id)
            .await
            .map_err(store_error)?
            .ok_or(ApiError::StoreUnavailable)
    }

    /// Tells the webhooks of a request now on the record.
    pub async fn announce_requested(&self, approval: &Approval) {
        self.notify_webhooks("requested", approval).await;
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
                    let record = records::vote_refused(&a, approver, approve, &refused.to_string());
                    records::write(&self.audit, vec![record]).await?;
                }
                return Err(refusal(refused));
            }
        };
        let a = &outcome.approval;
        let mut written = vec![records::vote(a, approver, approve, note)];
        if let Some(status) = outcome.decided {
            written.push(records::decided(
                a,
                approver,
                status == ApprovalStatus::Approved,
                note,
            ));
        }
        records::write(&self.audit, written).await?;
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
            .map_err(|r| match r {
                // Someone else's request is, to this caller, no request at all.
                ApprovalRefusal::NotRequester => not_found(id),
                other => refusal(other),
            })?;
        records::write(&self.audit, vec![records::cancelled(&a, requester)]).await?;
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
            // Someone else's request is, to this caller, no request at all.
            ApprovalRefusal::NotRequester => not_found(id),
            other => refusal(other),
        })
    }

    /// One pass of the scheduler: expire, escalate and remind what is due. Every change is a
    /// conditional update, so running it on several replicas acts once per request.
    pub async fn tick(&self) {
        let now = self.now_ms();
        // Front-door grants live seconds; an hour on, nothing can still be asking about them.
        if let Err(e) = self.store.purge_grants(now - 3_600_000).await {
            tracing::warn!(error = %e, "expired tool grants not purged");
        }
        let due = match self.store.due_approvals(now).await {
            Ok(due) => due,
            Err(e) => {
                tracing::error!(error = %e, "approval scheduler cannot read the queue");
                return;
            }
        };
        for a in due {
            if a.expires_ms <= now {
                let outcome = if OnExpiry::parse(&a.on_expiry) == Some(OnExpiry::Approve) {
                    ApprovalStatus::Approved
                } else {
                    ApprovalStatus::Expired
                };
                if let Ok(true) = self.store.expire_approval(&a.id, outcome, now).await {
                    self.record_scheduled(records::expired(&a, outcome, now)).await;
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
                self.record_scheduled(records::escalated(&a)).await;
                if let Ok(Some(now_a)) = self.store.approval(&a.id).await {
                    self.notify_webhooks("escalated", &now_a).await;
                }
            }
            if let Some(due_at) = a.remind_ms.filter(|at| *at <= now) {
                let every = a.remind_every_ms.unwrap_or(0).max(1000);
                let next = Some(due_at + every).filter(|n| *n < a.expires_ms);
                if let Ok(true) = self.store.remind_approval(&a.id, due_at, next).await {
                    self.record_scheduled(records::reminded(&a)).await;
                    self.notify_webhooks("reminder", &a).await;
                }
            }
        }
    }

    /// Records what the scheduler did. Nobody waits on it: the change it describes has already
    /// been made, and a record that cannot be committed is logged.
    async fn record_scheduled(&self, record: Record) {
        let _ = records::write(&self.audit, vec![record]).await;
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
            let payload = webhooks::payload(hook.format, event, a);
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
