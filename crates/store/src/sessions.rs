//! Session memory: for a session the agent keeps on its side (OpenAI `user`, OpenClaw's
//! session key), the last turns Warden let through and the agent's answers to them, masked, so
//! that a latest turn that only confirms ("yes, go ahead") is judged with what it confirms.
//! Keyed by a digest of the session's name; shared by every replica on the store.

use crate::{Store, StoreError};

impl Store {
    /// The turns remembered for `session` (a JSON array), unless older than `since_ms`.
    pub async fn session_memory(&self, session: &str, since_ms: i64) -> Result<Option<String>, StoreError> {
        let row: Option<(String,)> =
            sqlx::query_as("SELECT turns FROM session_memory WHERE session = $1 AND updated_ms >= $2")
                .bind(session)
                .bind(since_ms)
                .fetch_optional(self.pool())
                .await?;
        Ok(row.map(|(turns,)| turns))
    }

    /// Replaces what is remembered for `session`.
    pub async fn remember_session(&self, session: &str, turns: &str, now_ms: i64) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO session_memory (session, turns, updated_ms) VALUES ($1, $2, $3)
             ON CONFLICT (session) DO UPDATE SET turns = excluded.turns, updated_ms = excluded.updated_ms",
        )
        .bind(session)
        .bind(turns)
        .bind(now_ms)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// Forgets sessions not used since `before_ms`.
    pub async fn purge_session_memory(&self, before_ms: i64) -> Result<u64, StoreError> {
        let done = sqlx::query("DELETE FROM session_memory WHERE updated_ms < $1")
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
        async fn a_session_is_remembered_replaced_and_forgotten(s: Store) {
            assert_eq!(s.session_memory("s1", 0).await.unwrap(), None);
            s.remember_session("s1", "[1]", 1_000).await.unwrap();
            s.remember_session("s1", "[1,2]", 2_000).await.unwrap();
            s.remember_session("s2", "[9]", 5_000).await.unwrap();
            assert_eq!(s.session_memory("s1", 0).await.unwrap().as_deref(), Some("[1,2]"));
            // Too old to count, though not purged yet.
            assert_eq!(s.session_memory("s1", 3_000).await.unwrap(), None);
            assert_eq!(s.purge_session_memory(3_000).await.unwrap(), 1);
            assert_eq!(s.session_memory("s1", 0).await.unwrap(), None);
            assert_eq!(s.session_memory("s2", 0).await.unwrap().as_deref(), Some("[9]"));
        }
    }
}
