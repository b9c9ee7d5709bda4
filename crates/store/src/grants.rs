//! Front-door grants: when `/tools/invoke` forwards a tool call a person approved, OpenClaw's
//! `before_tool_call` hook asks Warden about that same call. A grant lets exactly that call
//! (by digest) through exactly once, named by a random nonce Warden put in the forwarded call,
//! and only until it expires; nothing else, and no other caller, can use it.

use crate::{Store, StoreError};

impl Store {
    /// Stores a grant for the call whose digests (one per way the hook may present its
    /// arguments) are `digests`, usable once until `expires_ms`.
    pub async fn create_grant(
        &self,
        nonce: &str,
        trace_id: &str,
        digests: &[String],
        expires_ms: i64,
    ) -> Result<(), StoreError> {
        sqlx::query("INSERT INTO tool_grants (nonce, trace_id, digests, expires_ms) VALUES ($1, $2, $3, $4)")
            .bind(nonce)
            .bind(trace_id)
            .bind(serde_json::to_string(digests).unwrap_or_else(|_| "[]".into()))
            .bind(expires_ms)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    /// Uses the grant `nonce` for a call of `digest`, once: the trace that granted it, or
    /// `None` when there is no such grant, it was used, it expired or the call differs.
    pub async fn use_grant(
        &self,
        nonce: &str,
        digest: &str,
        now_ms: i64,
    ) -> Result<Option<String>, StoreError> {
        let row: Option<(String, String)> = sqlx::query_as(
            "UPDATE tool_grants SET used_ms = $1 WHERE nonce = $2 AND used_ms IS NULL AND expires_ms > $1
             RETURNING trace_id, digests",
        )
        .bind(now_ms)
        .bind(nonce)
        .fetch_optional(self.pool())
        .await?;
        Ok(row.and_then(|(trace_id, digests)| {
            let digests: Vec<String> = serde_json::from_str(&digests).unwrap_or_default();
            digests.iter().any(|d| d == digest).then_some(trace_id)
        }))
    }

    /// Withdraws a grant that will not be asked about (the upstream refused the call).
    pub async fn revoke_grant(&self, nonce: &str, now_ms: i64) -> Result<(), StoreError> {
        sqlx::query("UPDATE tool_grants SET used_ms = $1 WHERE nonce = $2 AND used_ms IS NULL")
            .bind(now_ms)
            .bind(nonce)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    /// Forgets grants that expired before `before_ms`.
    pub async fn purge_grants(&self, before_ms: i64) -> Result<u64, StoreError> {
        let done = sqlx::query("DELETE FROM tool_grants WHERE expires_ms < $1")
            .bind(before_ms)
            .execute(self.pool())
            .await?;
        Ok(done.rows_affected())
    }
}

#[cfg(test)]
mod tests {
    use crate::on_both_engines;

    on_both_engines! {
        async fn a_grant_lets_its_one_call_through_once(s: Store) {
            let digests = vec!["sha256:a".to_string(), "sha256:b".to_string()];
            s.create_grant("n1", "t1", &digests, 10_000).await.unwrap();
            // Another call under the same nonce is refused, and so spends the grant.
            s.create_grant("n2", "t2", &digests, 10_000).await.unwrap();
            assert_eq!(s.use_grant("n2", "sha256:other", 1_000).await.unwrap(), None);
            assert_eq!(s.use_grant("n2", "sha256:a", 1_000).await.unwrap(), None);
            // The call itself, once.
            assert_eq!(s.use_grant("n1", "sha256:b", 1_000).await.unwrap().as_deref(), Some("t1"));
            assert_eq!(s.use_grant("n1", "sha256:b", 1_000).await.unwrap(), None);
            // Expired and revoked grants let nothing through.
            s.create_grant("n3", "t3", &digests, 2_000).await.unwrap();
            assert_eq!(s.use_grant("n3", "sha256:a", 2_000).await.unwrap(), None);
            s.create_grant("n4", "t4", &digests, 10_000).await.unwrap();
            s.revoke_grant("n4", 1_000).await.unwrap();
            assert_eq!(s.use_grant("n4", "sha256:a", 1_000).await.unwrap(), None);
            assert_eq!(s.use_grant("missing", "sha256:a", 1_000).await.unwrap(), None);
            assert_eq!(s.purge_grants(5_000).await.unwrap(), 1);
        }
    }
}
