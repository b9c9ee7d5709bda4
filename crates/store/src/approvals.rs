//! Approval requests and their votes, stored so that every state change is one transaction
//! and every guarantee holds across restarts: a request is decided by the right approvers, used
//! at most once, and expires, escalates and reminds on schedule.

use serde::Serialize;
use sqlx::{AnyConnection, Row};

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
    /// Only this tenant's requests.
    pub tenant: Option<String>,
    /// Only requests by this key (what a requester may see of the queue).
    pub requester_key: Option<String>,
}

fn list_of(json: &str) -> Vec<String> {
    serde_json::from_str(json).unwrap_or_default()
}

fn approval_from_row(row: &sqlx::any::AnyRow) -> Result<Approval, StoreError> {
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

async fn load(conn: &mut AnyConnection, id: &str) -> Result<Option<Approval>, StoreError> {
    let Some(row) = sqlx::query("SELECT * FROM approvals WHERE id = $1")
        .bind(id)
        .fetch_optional(&mut *conn)
        .await?
    else {
        return Ok(None);
    };
    let mut approval = approval_from_row(&row)?;
    let votes = sqlx::query("SELECT * FROM approval_votes WHERE approval_id = $1 ORDER BY ts_ms, approver")
        .bind(id)
        .fetch_all(&mut *conn)
        .await?;
    for v in votes {
        approval.votes.push(vote_from_row(&v)?);
    }
    Ok(Some(approval))
}

fn vote_from_row(v: &sqlx::any::AnyRow) -> Result<Vote, StoreError> {
    Ok(Vote {
        approver: v.try_get("approver")?,
        approver_name: v.try_get("approver_name")?,
        vote: v.try_get("vote")?,
        note: v.try_get("note")?,
        ts_ms: v.try_get("ts_ms")?,
    })
}

/// The channel PostgreSQL replicas hear decisions on; the payload is the approval id.
pub const DECISIONS_CHANNEL: &str = "warden_approval_decided";

/// Runs `work` on approval `$id` in a write transaction that holds the request against every
/// other writer (SQLite: the database write lock, `BEGIN IMMEDIATE`; PostgreSQL: the request's
/// row lock, on whichever replica), so a check and the change it allows cannot interleave
/// with another's. Commits only when `work` returns `Ok(Ok(_))`; dropping it rolls back.
macro_rules! locked {
    ($store:expr, $id:expr, |$conn:ident| $body:block) => {{
        let mut tx = if $store.is_postgres() {
            let mut tx = $store.pool().begin().await?;
            sqlx::query("SELECT id FROM approvals WHERE id = $1 FOR UPDATE")
                .bind($id)
                .execute(&mut *tx)
                .await?;
            tx
        } else {
            $store.pool().begin_with("BEGIN IMMEDIATE").await?
        };
        let $conn: &mut AnyConnection = &mut tx;
        let result: Result<_, StoreError> = async { $body }.await;
        if let Ok(Ok(_)) = &result {
            tx.commit().await?;
        }
        result
    }};
}

/// Tells every replica listening that approval `id` was decided. Inside a transaction the
/// notice goes out only if it commits; SQLite has one gateway and needs none.
async fn announce(store: &Store, conn: &mut AnyConnection, id: &str) -> Result<(), StoreError> {
    if store.is_postgres() {
        sqlx::query("SELECT pg_notify($1, $2)")
            .bind(DECISIONS_CHANNEL)
            .bind(id)
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
}

impl Store {
    /// Stores a new, pending approval request.
    pub async fn create_approval(&self, a: &NewApproval) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO approvals (id, trace_id, requester_key, requester, tenant, kind, digest, policy_version, rule, risk,
                decision, request, mode, required, groups, escalate_groups, status, created_ms, expires_ms, escalate_ms,
                escalated, remind_ms, remind_every_ms, on_expiry)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, 'pending', $17, $18, $19, 0, $20, $21, $22)",
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
        let mut sql = String::from("SELECT * FROM approvals WHERE 1 = 1");
        let mut args: Vec<String> = Vec::new();
        let mut condition = |sql: &mut String, template: &str, value: String| {
            args.push(value);
            sql.push_str(&template.replace("{}", &format!("${}", args.len())));
        };
        if let Some(status) = filter.status {
            condition(&mut sql, " AND status = {}", status.as_str().to_string());
        }
        if let Some(requester) = &filter.requester {
            condition(
                &mut sql,
                " AND (requester = {} OR requester_key = {})",
                requester.clone(),
            );
        }
        if let Some(rule) = &filter.rule {
            condition(&mut sql, " AND rule = {}", rule.clone());
        }
        if let Some(tenant) = &filter.tenant {
            condition(&mut sql, " AND tenant = {}", tenant.clone());
        }
        if let Some(key) = &filter.requester_key {
            condition(&mut sql, " AND requester_key = {}", key.clone());
        }
        sql.push_str(&format!(
            " ORDER BY created_ms DESC, id DESC LIMIT {}",
            filter.limit.unwrap_or(100).min(1000)
        ));
        let mut query = sqlx::query(&sql);
        for arg in args {
            query = query.bind(arg);
        }
        let mut out = query
            .fetch_all(self.pool())
            .await?
            .iter()
            .map(approval_from_row)
            .collect::<Result<Vec<Approval>, StoreError>>()?;
        // The votes of the whole page in one read per 500 requests, not one per request.
        let ids: Vec<String> = out.iter().map(|a| a.id.clone()).collect();
        let mut votes: std::collections::HashMap<String, Vec<Vote>> = std::collections::HashMap::new();
        for chunk in ids.chunks(500) {
            let placeholders: Vec<String> = (1..=chunk.len()).map(|i| format!("${i}")).collect();
            let sql = format!(
                "SELECT * FROM approval_votes WHERE approval_id IN ({}) ORDER BY ts_ms, approver",
                placeholders.join(", ")
            );
            let mut query = sqlx::query(&sql);
            for id in chunk {
                query = query.bind(id);
            }
            for v in query.fetch_all(self.pool()).await? {
                votes
                    .entry(v.try_get("approval_id")?)
                    .or_default()
                    .push(vote_from_row(&v)?);
            }
        }
        for a in &mut out {
            a.votes = votes.remove(&a.id).unwrap_or_default();
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
        locked!(self, id, |conn| {
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
                "INSERT INTO approval_votes (approval_id, approver, approver_name, vote, note, ts_ms) VALUES ($1, $2, $3, $4, $5, $6)",
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
                "SELECT COUNT(*) FROM approval_votes WHERE approval_id = $1 AND vote = 'approve'",
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
                sqlx::query("UPDATE approvals SET status = $1, decided_ms = $2, note = $3 WHERE id = $4 AND status = 'pending'")
                    .bind(status.as_str())
                    .bind(now_ms)
                    .bind(note)
                    .bind(id)
                    .execute(&mut *conn)
                    .await?;
                announce(self, conn, id).await?;
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
        locked!(self, id, |conn| {
            let Some(approval) = load(conn, id).await? else {
                return Ok(Err(ApprovalRefusal::NotFound(id.to_string())));
            };
            if approval.requester_key != requester_key {
                return Ok(Err(ApprovalRefusal::NotRequester));
            }
            if approval.status != ApprovalStatus::Pending {
                return Ok(Err(ApprovalRefusal::NotPending(approval.status.as_str())));
            }
            sqlx::query("UPDATE approvals SET status = 'cancelled', decided_ms = $1 WHERE id = $2 AND status = 'pending'")
                .bind(now_ms)
                .bind(id)
                .execute(&mut *conn)
                .await?;
            announce(self, conn, id).await?;
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
        locked!(self, id, |conn| {
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
                sqlx::query("UPDATE approvals SET status = 'expired', note = 'expired unused' WHERE id = $1 AND status = 'approved'")
                    .bind(id)
                    .execute(&mut *conn)
                    .await?;
                return Ok(Err(ApprovalRefusal::NotUsable("expired")));
            }
            let done = sqlx::query(
                "UPDATE approvals SET status = 'used', used_ms = $1 WHERE id = $2 AND status = 'approved'",
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

    /// How many requests by this requester are waiting for a decision.
    pub async fn pending_approvals_of(&self, requester_key: &str) -> Result<i64, StoreError> {
        let n: i64 = sqlx::query_scalar(
            "SELECT CAST(COUNT(*) AS BIGINT) FROM approvals WHERE requester_key = $1 AND status = 'pending'",
        )
        .bind(requester_key)
        .fetch_one(self.pool())
        .await?;
        Ok(n)
    }

    /// The newest request by this requester for this exact call that is still pending or
    /// approved and unused: a retried tool call finds its approval by what it is, not by id.
    pub async fn open_approval_for(
        &self,
        requester_key: &str,
        digest: &str,
    ) -> Result<Option<Approval>, StoreError> {
        let id: Option<String> = sqlx::query_scalar(
            "SELECT id FROM approvals WHERE requester_key = $1 AND digest = $2 AND status IN ('pending', 'approved')
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
               AND (expires_ms <= $1 OR (escalate_ms IS NOT NULL AND escalated = 0 AND escalate_ms <= $1)
                    OR (remind_ms IS NOT NULL AND remind_ms <= $1))
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
        let mut tx = self.pool().begin().await?;
        let done = sqlx::query(
            "UPDATE approvals SET status = $1, decided_ms = $2, note = 'expired' WHERE id = $3 AND status = 'pending' AND expires_ms <= $4",
        )
        .bind(outcome.as_str())
        .bind(now_ms)
        .bind(id)
        .bind(now_ms)
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() != 1 {
            return Ok(false);
        }
        announce(self, &mut tx, id).await?;
        tx.commit().await?;
        Ok(true)
    }

    /// Marks a pending request escalated, once.
    pub async fn escalate_approval(&self, id: &str, now_ms: i64) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE approvals SET escalated = 1 WHERE id = $1 AND status = 'pending' AND escalated = 0 AND escalate_ms <= $2",
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
            "UPDATE approvals SET remind_ms = $1 WHERE id = $2 AND status = 'pending' AND remind_ms = $3",
        )
        .bind(next_ms)
        .bind(id)
        .bind(due_ms)
        .execute(self.pool())
        .await?;
        Ok(done.rows_affected() == 1)
    }
}

/// Decisions taken on any replica, as they commit: PostgreSQL's LISTEN on
/// [`DECISIONS_CHANNEL`]. A notice can be missed while the connection is re-established, so
/// waiters also poll.
pub struct DecisionListener(sqlx::postgres::PgListener);

impl DecisionListener {
    /// The id of the next approval decided anywhere in the fleet.
    pub async fn recv(&mut self) -> Result<String, StoreError> {
        Ok(self.0.recv().await?.payload().to_string())
    }
}

impl Store {
    /// Listens for decisions taken on every replica; `None` on SQLite, whose one gateway
    /// hears its own decisions in process.
    pub async fn listen_decisions(&self) -> Result<Option<DecisionListener>, StoreError> {
        let crate::Engine::Postgres(options) = self.engine() else {
            return Ok(None);
        };
        let pool = sqlx::postgres::PgPoolOptions::new()
            .max_connections(1)
            .connect_with(options.clone())
            .await?;
        let mut listener = sqlx::postgres::PgListener::connect_with(&pool).await?;
        listener.listen(DECISIONS_CHANNEL).await?;
        Ok(Some(DecisionListener(listener)))
    }
}

/// Leases due deliveries: `$1` now, `$2` how many, `$3` the lease's end. The outer conditions
/// repeat the inner ones because PostgreSQL re-checks only those on a row another replica
/// changed while this statement waited for it: the loser of a race finds it no longer due.
const CLAIM_DUE_WEBHOOKS: &str = "UPDATE webhook_outbox SET next_ms = $3
     WHERE id IN (SELECT id FROM webhook_outbox
                  WHERE delivered_ms IS NULL AND failed_ms IS NULL AND next_ms <= $1 ORDER BY id LIMIT $2)
       AND delivered_ms IS NULL AND failed_ms IS NULL AND next_ms <= $1
     RETURNING id, hook, event, payload, attempts";

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
        sqlx::query("INSERT INTO webhook_outbox (hook, event, payload, next_ms) VALUES ($1, $2, $3, $4)")
            .bind(hook)
            .bind(event)
            .bind(payload)
            .bind(now_ms)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    /// Claims up to `limit` deliveries due at `now_ms` for this process until `lease_until_ms`,
    /// in one conditional update: replicas sharing the outbox never send one delivery twice at
    /// once (the loser of a race finds the row no longer due), and one whose sender died is
    /// taken again when its lease ends.
    pub async fn claim_due_webhooks(
        &self,
        now_ms: i64,
        limit: u32,
        lease_until_ms: i64,
    ) -> Result<Vec<Delivery>, StoreError> {
        let rows = sqlx::query(CLAIM_DUE_WEBHOOKS)
            .bind(now_ms)
            .bind(limit as i64)
            .bind(lease_until_ms)
            .fetch_all(self.pool())
            .await?;
        let mut claimed = rows
            .iter()
            .map(|r| {
                Ok(Delivery {
                    id: r.try_get("id")?,
                    hook: r.try_get("hook")?,
                    event: r.try_get("event")?,
                    payload: r.try_get("payload")?,
                    attempts: r.try_get("attempts")?,
                })
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        claimed.sort_by_key(|d| d.id);
        Ok(claimed)
    }

    pub async fn webhook_delivered(&self, id: i64, now_ms: i64) -> Result<(), StoreError> {
        sqlx::query("UPDATE webhook_outbox SET delivered_ms = $1, attempts = attempts + 1 WHERE id = $2")
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
            "UPDATE webhook_outbox SET attempts = attempts + 1, last_error = $1, next_ms = COALESCE($2, next_ms),
                failed_ms = CASE WHEN $3 IS NULL THEN $4 ELSE NULL END WHERE id = $5",
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
    use crate::on_both_engines;

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

    on_both_engines! {
        async fn quorum_self_approval_groups_and_single_use(s: Store) {
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

        async fn schedule_expires_escalates_and_reminds_once(s: Store) {
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

        async fn outbox_retries_then_gives_up(s: Store) {
            s.enqueue_webhook("slack", "approval.requested", "{}", 100)
                .await
                .unwrap();
            let due = s.claim_due_webhooks(100, 10, 60_100).await.unwrap();
            assert_eq!(due.len(), 1);
            assert!(
                s.claim_due_webhooks(100, 10, 60_100).await.unwrap().is_empty(),
                "a claimed delivery is not handed out twice"
            );
            s.webhook_failed(due[0].id, "503", Some(500), 100).await.unwrap();
            assert!(s.claim_due_webhooks(400, 10, 60_400).await.unwrap().is_empty());
            let retry = s.claim_due_webhooks(500, 10, 60_500).await.unwrap();
            assert_eq!(retry[0].attempts, 1);
            // A sender that dies holding its claim loses it when the lease ends.
            assert!(s.claim_due_webhooks(60_499, 10, 120_000).await.unwrap().is_empty());
            assert_eq!(s.claim_due_webhooks(60_500, 10, 120_500).await.unwrap().len(), 1);
            s.webhook_failed(due[0].id, "503", None, 60_600).await.unwrap();
            assert!(s.claim_due_webhooks(200_000, 10, 260_000).await.unwrap().is_empty());
        }

        async fn two_replicas_racing_to_use_one_approval_use_it_once(s: Store) {
            s.create_approval(&new_approval("a5", 1, &[])).await.unwrap();
            s.vote_approval("a5", &Voter { key: "b", name: "bob", groups: &[] }, true, None, 1_100)
                .await
                .unwrap()
                .unwrap();
            let mut racers = Vec::new();
            for _ in 0..8 {
                let s = s.clone();
                racers.push(tokio::spawn(async move { s.use_approval("a5", "req", "sha256:abc", 1_200).await }));
            }
            let mut used = 0;
            for r in racers {
                match r.await.unwrap().unwrap() {
                    Ok(a) => {
                        assert_eq!(a.status, ApprovalStatus::Used);
                        used += 1;
                    }
                    Err(refusal) => assert_eq!(refusal, ApprovalRefusal::NotUsable("used")),
                }
            }
            assert_eq!(used, 1, "exactly one use");
        }

        async fn lists_with_filters(s: Store) {
            s.create_approval(&new_approval("l1", 1, &[])).await.unwrap();
            let mut other = new_approval("l2", 1, &[]);
            other.requester = "zed".into();
            other.requester_key = "zk".into();
            other.created_ms = 2_000;
            s.create_approval(&other).await.unwrap();
            let all = s.list_approvals(&ApprovalFilter::default()).await.unwrap();
            assert_eq!(all.iter().map(|a| a.id.as_str()).collect::<Vec<_>>(), ["l2", "l1"]);
            let zed = ApprovalFilter { requester: Some("zed".into()), ..Default::default() };
            assert_eq!(s.list_approvals(&zed).await.unwrap().len(), 1);
            let by_key = ApprovalFilter { requester: Some("zk".into()), status: Some(ApprovalStatus::Pending), ..Default::default() };
            assert_eq!(s.list_approvals(&by_key).await.unwrap()[0].id, "l2");
            let none = ApprovalFilter { rule: Some("red.y".into()), ..Default::default() };
            assert!(s.list_approvals(&none).await.unwrap().is_empty());
        }
    }

    #[tokio::test]
    async fn a_replica_that_waited_for_anothers_claim_takes_nothing_it_took() {
        crate::testing::with_store("postgres", |s| async move {
            for _ in 0..5 {
                s.enqueue_webhook("hook", "requested", "{}", 100).await.unwrap();
            }
            // Replica A's claim, not yet committed, holds the rows...
            let mut a = s.pool().begin().await.unwrap();
            let taken = sqlx::query(CLAIM_DUE_WEBHOOKS)
                .bind(100i64)
                .bind(50i64)
                .bind(60_100i64)
                .fetch_all(&mut *a)
                .await
                .unwrap();
            assert_eq!(taken.len(), 5);
            // ...while replica B's claim, which saw them due, waits for them.
            let b = {
                let s = s.clone();
                tokio::spawn(async move { s.claim_due_webhooks(100, 50, 60_100).await })
            };
            tokio::time::sleep(std::time::Duration::from_millis(300)).await;
            a.commit().await.unwrap();
            let second = b.await.unwrap().unwrap();
            assert!(
                second.is_empty(),
                "B re-took deliveries A had claimed: {second:?}"
            );
        })
        .await;
    }

    #[tokio::test]
    async fn decisions_reach_every_listener_on_postgres() {
        crate::testing::with_store("postgres", |s| async move {
            let mut listener = s.listen_decisions().await.unwrap().expect("postgres listens");
            s.create_approval(&new_approval("n1", 1, &[])).await.unwrap();
            s.vote_approval(
                "n1",
                &Voter {
                    key: "b",
                    name: "bob",
                    groups: &[],
                },
                true,
                None,
                1_100,
            )
            .await
            .unwrap()
            .unwrap();
            let heard = tokio::time::timeout(std::time::Duration::from_secs(10), listener.recv()).await;
            assert_eq!(heard.unwrap().unwrap(), "n1");
        })
        .await;
        crate::testing::with_store("sqlite", |s| async move {
            assert!(s.listen_decisions().await.unwrap().is_none());
        })
        .await;
    }
}
