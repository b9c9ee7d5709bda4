//! Approval requests and their votes, stored so that every state change is one transaction
//! and every guarantee holds across restarts: a request is decided by the right approvers, used
//! at most once, and expires, escalates and reminds on schedule.

use serde::Serialize;
use sqlx::{Row, SqliteConnection};

use crate::{Store, StoreError};

/// Where an approval request stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ApprovalStatus {
    Pending,
    Approved,
    Rejected,
    Expired,
    Cancelled,
    /// Approved and then run: it cannot run again.
    Used,
}

impl ApprovalStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            ApprovalStatus::Pending => "pending",
            ApprovalStatus::Approved => "approved",
            ApprovalStatus::Rejected => "rejected",
            ApprovalStatus::Expired => "expired",
            ApprovalStatus::Cancelled => "cancelled",
            ApprovalStatus::Used => "used",
        }
    }

    pub fn parse(s: &str) -> Option<ApprovalStatus> {
        Some(match s {
            "pending" => ApprovalStatus::Pending,
            "approved" => ApprovalStatus::Approved,
            "rejected" => ApprovalStatus::Rejected,
            "expired" => ApprovalStatus::Expired,
            "cancelled" => ApprovalStatus::Cancelled,
            "used" => ApprovalStatus::Used,
            _ => return None,
        })
    }
}

/// A new approval request.
#[derive(Debug, Clone)]
pub struct NewApproval {
    pub id: String,
    pub trace_id: String,
    pub requester_key: String,
    pub requester: String,
    pub tenant: String,
    /// `chat` or `tool`.
    pub kind: String,
    /// `sha256:` of the canonical request: what an approval is bound to.
    pub digest: String,
    pub policy_version: String,
    pub rule: String,
    pub risk: String,
    pub decision: serde_json::Value,
    pub request: serde_json::Value,
    pub mode: String,
    pub required: u32,
    pub groups: Vec<String>,
    pub escalate_groups: Vec<String>,
    pub created_ms: i64,
    pub expires_ms: i64,
    pub escalate_ms: Option<i64>,
    pub remind_ms: Option<i64>,
    pub remind_every_ms: Option<i64>,
    /// What expiry does: `reject` (default) or `approve`.
    pub on_expiry: String,
}

/// One approver's vote.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Vote {
    pub approver: String,
    pub approver_name: String,
    pub vote: String,
    pub note: Option<String>,
    pub ts_ms: i64,
}

/// A stored approval request with its votes.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Approval {
    pub id: String,
    pub trace_id: String,
    pub requester_key: String,
    pub requester: String,
    pub tenant: String,
    pub kind: String,
    pub digest: String,
    pub policy_version: String,
    pub rule: String,
    pub risk: String,
    pub decision: serde_json::Value,
    pub request: serde_json::Value,
    pub mode: String,
    pub required: u32,
    pub groups: Vec<String>,
    pub escalate_groups: Vec<String>,
    pub status: ApprovalStatus,
    pub created_ms: i64,
    pub expires_ms: i64,
    pub escalate_ms: Option<i64>,
    pub escalated: bool,
    pub remind_ms: Option<i64>,
    pub remind_every_ms: Option<i64>,
    pub on_expiry: String,
    pub decided_ms: Option<i64>,
    pub used_ms: Option<i64>,
    pub note: Option<String>,
    pub votes: Vec<Vote>,
}

impl Approval {
    /// The groups whose members may vote now: the first groups, and after escalation the
    /// escalation groups too. Empty means any approver.
    pub fn eligible_groups(&self) -> Vec<String> {
        // No groups means any approver, before and after escalation alike.
        if self.groups.is_empty() {
            return Vec::new();
        }
        let mut groups = self.groups.clone();
        if self.escalated {
            groups.extend(self.escalate_groups.iter().cloned());
        }
        groups
    }

    /// Approving votes so far.
    pub fn approvals(&self) -> usize {
        self.votes.iter().filter(|v| v.vote == "approve").count()
    }
}

/// Why a vote, a cancellation or a use was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ApprovalRefusal {
    #[error("no approval request `{0}`")]
    NotFound(String),
    #[error("the approval request is {0}, not pending")]
    NotPending(&'static str),
    #[error("a requester cannot decide on their own request")]
    SelfApproval,
    #[error("this approver has already voted on the request")]
    AlreadyVoted,
    #[error("this approver is in none of the groups that decide: {0}")]
    NotInGroup(String),
    #[error("only the requester may cancel the request")]
    NotRequester,
    #[error("the request differs from the one approved (digest {found}, approved {approved})")]
    DigestMismatch { found: String, approved: String },
    #[error("the approval request is {0}")]
    NotUsable(&'static str),
}

/// Who votes: their key id, name and approver groups.
#[derive(Debug, Clone, Copy)]
pub struct Voter<'a> {
    pub key: &'a str,
    pub name: &'a str,
    pub groups: &'a [String],
}

/// What a vote did.
#[derive(Debug, Clone, PartialEq)]
pub struct VoteOutcome {
    pub approval: Approval,
    /// Set when this vote decided the request: `approved` or `rejected`.
    pub decided: Option<ApprovalStatus>,
}

/// A filter for listing.
#[derive(Debug, Clone, Default)]
pub struct ApprovalFilter {
    pub status: Option<ApprovalStatus>,
    pub requester: Option<String>,
    pub rule: Option<String>,
    pub limit: Option<u32>,
}

fn list_of(json: &str) -> Vec<String> {
    serde_json::from_str(json).unwrap_or_default()
}

fn approval_from_row(row: &sqlx::sqlite::SqliteRow) -> Result<Approval, StoreError> {
    let status: String = row.try_get("status")?;
    let decision: String = row.try_get("decision")?;
    let request: String = row.try_get("request")?;
    Ok(Approval {
        id: row.try_get("id")?,
        trace_id: row.try_get("trace_id")?,
        requester_key: row.try_get("requester_key")?,
        requester: row.try_get("requester")?,
        tenant: row.try_get("tenant")?,
        kind: row.try_get("kind")?,
        digest: row.try_get("digest")?,
        policy_version: row.try_get("policy_version")?,
        rule: row.try_get("rule")?,
        risk: row.try_get("risk")?,
        decision: serde_json::from_str(&decision).unwrap_or(serde_json::Value::Null),
        request: serde_json::from_str(&request).unwrap_or(serde_json::Value::Null),
        mode: row.try_get("mode")?,
        required: row.try_get::<i64, _>("required")? as u32,
        groups: list_of(&row.try_get::<String, _>("groups")?),
        escalate_groups: list_of(&row.try_get::<String, _>("escalate_groups")?),
        status: ApprovalStatus::parse(&status).unwrap_or(ApprovalStatus::Cancelled),
        created_ms: row.try_get("created_ms")?,
        expires_ms: row.try_get("expires_ms")?,
        escalate_ms: row.try_get("escalate_ms")?,
        escalated: row.try_get::<i64, _>("escalated")? != 0,
        remind_ms: row.try_get("remind_ms")?,
        remind_every_ms: row.try_get("remind_every_ms")?,
        on_expiry: row.try_get("on_expiry")?,
        decided_ms: row.try_get("decided_ms")?,
        used_ms: row.try_get("used_ms")?,
        note: row.try_get("note")?,
        votes: Vec::new(),
    })
}

async fn load(conn: &mut SqliteConnection, id: &str) -> Result<Option<Approval>, StoreError> {
    let Some(row) = sqlx::query("SELECT * FROM approvals WHERE id = ?")
        .bind(id)
        .fetch_optional(&mut *conn)
        .await?
    else {
        return Ok(None);
    };
    let mut approval = approval_from_row(&row)?;
    let votes = sqlx::query("SELECT * FROM approval_votes WHERE approval_id = ? ORDER BY ts_ms, approver")
        .bind(id)
        .fetch_all(&mut *conn)
        .await?;
    for v in votes {
        approval.votes.push(Vote {
            approver: v.try_get("approver")?,
            approver_name: v.try_get("approver_name")?,
            vote: v.try_get("vote")?,
            note: v.try_get("note")?,
            ts_ms: v.try_get("ts_ms")?,
        });
    }
    Ok(Some(approval))
}

/// Runs `work` in a write transaction taken up front (`BEGIN IMMEDIATE`), so a check and the
/// change it allows cannot be interleaved with another writer's.
macro_rules! immediate {
    ($store:expr, |$conn:ident| $body:block) => {{
        let mut pooled = $store.pool().acquire().await?;
        sqlx::query("BEGIN IMMEDIATE").execute(&mut *pooled).await?;
        let $conn: &mut SqliteConnection = &mut pooled;
        let result: Result<_, StoreError> = async { $body }.await;
        match &result {
            Ok(Ok(_)) => {
                sqlx::query("COMMIT").execute(&mut *pooled).await?;
            }
            _ => {
                let _ = sqlx::query("ROLLBACK").execute(&mut *pooled).await;
            }
        }
        result
    }};
}

impl Store {
    /// Stores a new, pending approval request.
    pub async fn create_approval(&self, a: &NewApproval) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO approvals (id, trace_id, requester_key, requester, tenant, kind, digest, policy_version, rule, risk,
                decision, request, mode, required, groups, escalate_groups, status, created_ms, expires_ms, escalate_ms,
                escalated, remind_ms, remind_every_ms, on_expiry)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'pending', ?, ?, ?, 0, ?, ?, ?)",
        )
        .bind(&a.id)
        .bind(&a.trace_id)
        .bind(&a.requester_key)
        .bind(&a.requester)
        .bind(&a.tenant)
        .bind(&a.kind)
        .bind(&a.digest)
        .bind(&a.policy_version)
        .bind(&a.rule)
        .bind(&a.risk)
        .bind(a.decision.to_string())
        .bind(a.request.to_string())
        .bind(&a.mode)
        .bind(a.required as i64)
        .bind(serde_json::to_string(&a.groups).unwrap_or_else(|_| "[]".into()))
        .bind(serde_json::to_string(&a.escalate_groups).unwrap_or_else(|_| "[]".into()))
        .bind(a.created_ms)
        .bind(a.expires_ms)
        .bind(a.escalate_ms)
        .bind(a.remind_ms)
        .bind(a.remind_every_ms)
        .bind(&a.on_expiry)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// One approval request with its votes.
    pub async fn approval(&self, id: &str) -> Result<Option<Approval>, StoreError> {
        let mut conn = self.pool().acquire().await?;
        load(&mut conn, id).await
    }

    /// Approval requests, newest first.
    pub async fn list_approvals(&self, filter: &ApprovalFilter) -> Result<Vec<Approval>, StoreError> {
        let mut q = sqlx::QueryBuilder::<sqlx::Sqlite>::new("SELECT id FROM approvals WHERE 1 = 1");
        if let Some(status) = filter.status {
            q.push(" AND status = ").push_bind(status.as_str());
        }
        if let Some(requester) = &filter.requester {
            q.push(" AND (requester = ").push_bind(requester.clone());
            q.push(" OR requester_key = ")
                .push_bind(requester.clone())
                .push(")");
        }
        if let Some(rule) = &filter.rule {
            q.push(" AND rule = ").push_bind(rule.clone());
        }
        q.push(" ORDER BY created_ms DESC, id DESC LIMIT ")
            .push_bind(filter.limit.unwrap_or(100).min(1000) as i64);
        let ids: Vec<String> = q.build_query_scalar().fetch_all(self.pool()).await?;
        let mut conn = self.pool().acquire().await?;
        let mut out = Vec::with_capacity(ids.len());
        for id in ids {
            if let Some(a) = load(&mut conn, &id).await? {
                out.push(a);
            }
        }
        Ok(out)
    }

    /// Records a vote and, when it decides the request, the decision; all in one transaction.
    /// `approver_groups` are the voter's groups.
    pub async fn vote_approval(
        &self,
        id: &str,
        voter: &Voter<'_>,
        approve: bool,
        note: Option<&str>,
        now_ms: i64,
    ) -> Result<Result<VoteOutcome, ApprovalRefusal>, StoreError> {
        let (approver, approver_name, approver_groups) = (voter.key, voter.name, voter.groups);
        immediate!(self, |conn| {
            let Some(approval) = load(conn, id).await? else {
                return Ok(Err(ApprovalRefusal::NotFound(id.to_string())));
            };
            if approval.status != ApprovalStatus::Pending {
                return Ok(Err(ApprovalRefusal::NotPending(approval.status.as_str())));
            }
            if approval.expires_ms <= now_ms {
                return Ok(Err(ApprovalRefusal::NotPending("expired")));
            }
            if approval.requester_key == approver {
                return Ok(Err(ApprovalRefusal::SelfApproval));
            }
            if approval.votes.iter().any(|v| v.approver == approver) {
                return Ok(Err(ApprovalRefusal::AlreadyVoted));
            }
            let eligible = approval.eligible_groups();
            if !eligible.is_empty() && !approver_groups.iter().any(|g| eligible.contains(g)) {
                return Ok(Err(ApprovalRefusal::NotInGroup(eligible.join(", "))));
            }
            sqlx::query(
                "INSERT INTO approval_votes (approval_id, approver, approver_name, vote, note, ts_ms) VALUES (?, ?, ?, ?, ?, ?)",
            )
            .bind(id)
            .bind(approver)
            .bind(approver_name)
            .bind(if approve { "approve" } else { "reject" })
            .bind(note)
            .bind(now_ms)
            .execute(&mut *conn)
            .await?;
            let approvals: i64 = sqlx::query_scalar(
                "SELECT COUNT(*) FROM approval_votes WHERE approval_id = ? AND vote = 'approve'",
            )
            .bind(id)
            .fetch_one(&mut *conn)
            .await?;
            // One rejection rejects; approval needs the quorum.
            let decided = if !approve {
                Some(ApprovalStatus::Rejected)
            } else if approvals >= approval.required as i64 {
                Some(ApprovalStatus::Approved)
            } else {
                None
            };
            if let Some(status) = decided {
                sqlx::query("UPDATE approvals SET status = ?, decided_ms = ?, note = ? WHERE id = ? AND status = 'pending'")
                    .bind(status.as_str())
                    .bind(now_ms)
                    .bind(note)
                    .bind(id)
                    .execute(&mut *conn)
                    .await?;
            }
            let approval = load(conn, id)
                .await?
                .ok_or_else(|| StoreError::Encode("approval vanished".into()))?;
            Ok(Ok(VoteOutcome { approval, decided }))
        })
    }

    /// The requester withdraws a pending request.
    pub async fn cancel_approval(
        &self,
        id: &str,
        requester_key: &str,
        now_ms: i64,
    ) -> Result<Result<Approval, ApprovalRefusal>, StoreError> {
        immediate!(self, |conn| {
            let Some(approval) = load(conn, id).await? else {
                return Ok(Err(ApprovalRefusal::NotFound(id.to_string())));
            };
            if approval.requester_key != requester_key {
                return Ok(Err(ApprovalRefusal::NotRequester));
            }
            if approval.status != ApprovalStatus::Pending {
                return Ok(Err(ApprovalRefusal::NotPending(approval.status.as_str())));
            }
            sqlx::query("UPDATE approvals SET status = 'cancelled', decided_ms = ? WHERE id = ? AND status = 'pending'")
                .bind(now_ms)
                .bind(id)
                .execute(&mut *conn)
                .await?;
            let approval = load(conn, id)
                .await?
                .ok_or_else(|| StoreError::Encode("approval vanished".into()))?;
            Ok(Ok(approval))
        })
    }

    /// Uses an approved request exactly once: checks who asks and that the request is the
    /// one approved, then marks it used. A second use finds it `used` and is refused.
    pub async fn use_approval(
        &self,
        id: &str,
        requester_key: &str,
        digest: &str,
        now_ms: i64,
    ) -> Result<Result<Approval, ApprovalRefusal>, StoreError> {
        immediate!(self, |conn| {
            let Some(approval) = load(conn, id).await? else {
                return Ok(Err(ApprovalRefusal::NotFound(id.to_string())));
            };
            if approval.requester_key != requester_key {
                return Ok(Err(ApprovalRefusal::NotRequester));
            }
            if approval.digest != digest {
                return Ok(Err(ApprovalRefusal::DigestMismatch {
                    found: digest.to_string(),
                    approved: approval.digest.clone(),
                }));
            }
            if approval.status != ApprovalStatus::Approved {
                return Ok(Err(ApprovalRefusal::NotUsable(approval.status.as_str())));
            }
            // An approval not used before its expiry lapses: nothing runs after expiry.
            if approval.expires_ms <= now_ms {
                sqlx::query("UPDATE approvals SET status = 'expired', note = 'expired unused' WHERE id = ? AND status = 'approved'")
                    .bind(id)
                    .execute(&mut *conn)
                    .await?;
                return Ok(Err(ApprovalRefusal::NotUsable("expired")));
            }
            let done = sqlx::query(
                "UPDATE approvals SET status = 'used', used_ms = ? WHERE id = ? AND status = 'approved'",
            )
            .bind(now_ms)
            .bind(id)
            .execute(&mut *conn)
            .await?;
            if done.rows_affected() != 1 {
                return Ok(Err(ApprovalRefusal::NotUsable("used")));
            }
            let approval = load(conn, id)
                .await?
                .ok_or_else(|| StoreError::Encode("approval vanished".into()))?;
            Ok(Ok(approval))
        })
    }

    /// The newest request by this requester for this exact call that is still pending or
    /// approved and unused: a retried tool call finds its approval by what it is, not by id.
    pub async fn open_approval_for(
        &self,
        requester_key: &str,
        digest: &str,
    ) -> Result<Option<Approval>, StoreError> {
        let id: Option<String> = sqlx::query_scalar(
            "SELECT id FROM approvals WHERE requester_key = ? AND digest = ? AND status IN ('pending', 'approved')
             ORDER BY created_ms DESC LIMIT 1",
        )
        .bind(requester_key)
        .bind(digest)
        .fetch_optional(self.pool())
        .await?;
        match id {
            Some(id) => self.approval(&id).await,
            None => Ok(None),
        }
    }

    /// Pending requests with something due at `now_ms`: expiry, escalation or a reminder.
    pub async fn due_approvals(&self, now_ms: i64) -> Result<Vec<Approval>, StoreError> {
        let ids: Vec<String> = sqlx::query_scalar(
            "SELECT id FROM approvals WHERE status = 'pending'
               AND (expires_ms <= ?1 OR (escalate_ms IS NOT NULL AND escalated = 0 AND escalate_ms <= ?1)
                    OR (remind_ms IS NOT NULL AND remind_ms <= ?1))
             ORDER BY expires_ms LIMIT 500",
        )
        .bind(now_ms)
        .fetch_all(self.pool())
        .await?;
        let mut conn = self.pool().acquire().await?;
        let mut out = Vec::new();
        for id in ids {
            if let Some(a) = load(&mut conn, &id).await? {
                out.push(a);
            }
        }
        Ok(out)
    }

    /// Expires a pending request with its configured outcome; `false` if it was no longer
    /// pending (another replica, or a vote, got there first).
    pub async fn expire_approval(
        &self,
        id: &str,
        outcome: ApprovalStatus,
        now_ms: i64,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE approvals SET status = ?, decided_ms = ?, note = 'expired' WHERE id = ? AND status = 'pending' AND expires_ms <= ?",
        )
        .bind(outcome.as_str())
        .bind(now_ms)
        .bind(id)
        .bind(now_ms)
        .execute(self.pool())
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Marks a pending request escalated, once.
    pub async fn escalate_approval(&self, id: &str, now_ms: i64) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE approvals SET escalated = 1 WHERE id = ? AND status = 'pending' AND escalated = 0 AND escalate_ms <= ?",
        )
        .bind(id)
        .bind(now_ms)
        .execute(self.pool())
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Moves a reminder on to `next_ms` (or none), once per due reminder.
    pub async fn remind_approval(
        &self,
        id: &str,
        due_ms: i64,
        next_ms: Option<i64>,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE approvals SET remind_ms = ? WHERE id = ? AND status = 'pending' AND remind_ms = ?",
        )
        .bind(next_ms)
        .bind(id)
        .bind(due_ms)
        .execute(self.pool())
        .await?;
        Ok(done.rows_affected() == 1)
    }
}

/// A webhook delivery waiting in the outbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    pub id: i64,
    pub hook: String,
    pub event: String,
    pub payload: String,
    pub attempts: i64,
}

impl Store {
    /// Queues a webhook delivery; the delivery worker sends it, never the request path.
    pub async fn enqueue_webhook(
        &self,
        hook: &str,
        event: &str,
        payload: &str,
        now_ms: i64,
    ) -> Result<(), StoreError> {
        sqlx::query("INSERT INTO webhook_outbox (hook, event, payload, next_ms) VALUES (?, ?, ?, ?)")
            .bind(hook)
            .bind(event)
            .bind(payload)
            .bind(now_ms)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    /// Deliveries due at `now_ms`.
    pub async fn due_webhooks(&self, now_ms: i64, limit: u32) -> Result<Vec<Delivery>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, hook, event, payload, attempts FROM webhook_outbox
             WHERE delivered_ms IS NULL AND failed_ms IS NULL AND next_ms <= ? ORDER BY id LIMIT ?",
        )
        .bind(now_ms)
        .bind(limit as i64)
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|r| {
                Ok(Delivery {
                    id: r.try_get("id")?,
                    hook: r.try_get("hook")?,
                    event: r.try_get("event")?,
                    payload: r.try_get("payload")?,
                    attempts: r.try_get("attempts")?,
                })
            })
            .collect()
    }

    pub async fn webhook_delivered(&self, id: i64, now_ms: i64) -> Result<(), StoreError> {
        sqlx::query("UPDATE webhook_outbox SET delivered_ms = ?, attempts = attempts + 1 WHERE id = ?")
            .bind(now_ms)
            .bind(id)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    /// Records a failed attempt: retried at `retry_ms`, or given up when `None`.
    pub async fn webhook_failed(
        &self,
        id: i64,
        error: &str,
        retry_ms: Option<i64>,
        now_ms: i64,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE webhook_outbox SET attempts = attempts + 1, last_error = ?, next_ms = COALESCE(?, next_ms),
                failed_ms = CASE WHEN ? IS NULL THEN ? ELSE NULL END WHERE id = ?",
        )
        .bind(error)
        .bind(retry_ms)
        .bind(retry_ms)
        .bind(now_ms)
        .bind(id)
        .execute(self.pool())
        .await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Durability;

    fn new_approval(id: &str, required: u32, groups: &[&str]) -> NewApproval {
        NewApproval {
            id: id.into(),
            trace_id: "t".into(),
            requester_key: "req".into(),
            requester: "alice".into(),
            tenant: "default".into(),
            kind: "chat".into(),
            digest: "sha256:abc".into(),
            policy_version: "sha256:1".into(),
            rule: "amber.x".into(),
            risk: "amber".into(),
            decision: serde_json::json!({}),
            request: serde_json::json!({"model": "m"}),
            mode: "defer".into(),
            required,
            groups: groups.iter().map(|g| g.to_string()).collect(),
            escalate_groups: vec!["security".into()],
            created_ms: 1_000,
            expires_ms: 10_000,
            escalate_ms: Some(5_000),
            remind_ms: Some(2_000),
            remind_every_ms: Some(1_000),
            on_expiry: "reject".into(),
        }
    }

    async fn store(dir: &tempfile::TempDir) -> Store {
        Store::open(
            &format!("sqlite://{}", dir.path().join("a.db").display()),
            Durability::Process,
        )
        .await
        .unwrap()
    }

    #[tokio::test]
    async fn quorum_self_approval_groups_and_single_use() {
        let dir = tempfile::tempdir().unwrap();
        let s = store(&dir).await;
        s.create_approval(&new_approval("a1", 2, &["finance"]))
            .await
            .unwrap();
        let fin = vec!["finance".to_string()];
        assert_eq!(
            s.vote_approval(
                "a1",
                &Voter {
                    key: "req",
                    name: "alice",
                    groups: &fin
                },
                true,
                None,
                1_500
            )
            .await
            .unwrap(),
            Err(ApprovalRefusal::SelfApproval)
        );
        assert!(matches!(
            s.vote_approval(
                "a1",
                &Voter {
                    key: "x",
                    name: "xavier",
                    groups: &[]
                },
                true,
                None,
                1_500
            )
            .await
            .unwrap(),
            Err(ApprovalRefusal::NotInGroup(_))
        ));
        let first = s
            .vote_approval(
                "a1",
                &Voter {
                    key: "b",
                    name: "bob",
                    groups: &fin,
                },
                true,
                None,
                1_600,
            )
            .await
            .unwrap()
            .unwrap();
        assert_eq!(first.decided, None);
        assert_eq!(
            s.vote_approval(
                "a1",
                &Voter {
                    key: "b",
                    name: "bob",
                    groups: &fin
                },
                true,
                None,
                1_700
            )
            .await
            .unwrap(),
            Err(ApprovalRefusal::AlreadyVoted)
        );
        let second = s
            .vote_approval(
                "a1",
                &Voter {
                    key: "c",
                    name: "carol",
                    groups: &fin,
                },
                true,
                Some("ok"),
                1_800,
            )
            .await
            .unwrap()
            .unwrap();
        assert_eq!(second.decided, Some(ApprovalStatus::Approved));
        assert!(matches!(
            s.use_approval("a1", "req", "sha256:other", 1_900).await.unwrap(),
            Err(ApprovalRefusal::DigestMismatch { .. })
        ));
        assert_eq!(
            s.use_approval("a1", "req", "sha256:abc", 1_900)
                .await
                .unwrap()
                .unwrap()
                .status,
            ApprovalStatus::Used
        );
        assert_eq!(
            s.use_approval("a1", "req", "sha256:abc", 2_000).await.unwrap(),
            Err(ApprovalRefusal::NotUsable("used"))
        );
    }

    #[tokio::test]
    async fn schedule_expires_escalates_and_reminds_once() {
        let dir = tempfile::tempdir().unwrap();
        let s = store(&dir).await;
        s.create_approval(&new_approval("a2", 1, &["finance"]))
            .await
            .unwrap();
        assert!(s.due_approvals(1_500).await.unwrap().is_empty());
        assert_eq!(s.due_approvals(2_000).await.unwrap().len(), 1);
        assert!(s.remind_approval("a2", 2_000, None).await.unwrap());
        assert!(!s.remind_approval("a2", 2_000, None).await.unwrap(), "once");
        assert!(s.escalate_approval("a2", 5_000).await.unwrap());
        assert!(!s.escalate_approval("a2", 5_001).await.unwrap(), "once");
        // After escalation the security group may decide too.
        let sec = vec!["security".to_string()];
        assert!(
            s.vote_approval(
                "a2",
                &Voter {
                    key: "d",
                    name: "dana",
                    groups: &sec
                },
                true,
                None,
                6_000
            )
            .await
            .unwrap()
            .is_ok()
        );
        s.create_approval(&new_approval("a3", 1, &[])).await.unwrap();
        assert!(
            !s.expire_approval("a3", ApprovalStatus::Rejected, 9_999)
                .await
                .unwrap(),
            "not yet"
        );
        assert!(
            s.expire_approval("a3", ApprovalStatus::Rejected, 10_000)
                .await
                .unwrap()
        );
        assert!(
            !s.expire_approval("a3", ApprovalStatus::Rejected, 10_001)
                .await
                .unwrap(),
            "once"
        );
        assert_eq!(
            s.approval("a3").await.unwrap().unwrap().status,
            ApprovalStatus::Rejected
        );
    }

    #[tokio::test]
    async fn outbox_retries_then_gives_up() {
        let dir = tempfile::tempdir().unwrap();
        let s = store(&dir).await;
        s.enqueue_webhook("slack", "approval.requested", "{}", 100)
            .await
            .unwrap();
        let due = s.due_webhooks(100, 10).await.unwrap();
        assert_eq!(due.len(), 1);
        s.webhook_failed(due[0].id, "503", Some(500), 100).await.unwrap();
        assert!(s.due_webhooks(400, 10).await.unwrap().is_empty());
        assert_eq!(s.due_webhooks(500, 10).await.unwrap()[0].attempts, 1);
        s.webhook_failed(due[0].id, "503", None, 500).await.unwrap();
        assert!(s.due_webhooks(10_000, 10).await.unwrap().is_empty());
    }
}
