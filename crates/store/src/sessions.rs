//! Session memory: for a session the agent keeps on its side (OpenAI `user`, OpenClaw's
//! session key), the last turns Warden let through and the agent's answers to them, masked, so
//! that a latest turn that only confirms ("yes, go ahead") is judged with what it confirms.
//! Keyed by a digest of the session's name; shared by every replica on the store. Written by
//! the audit writer beside the record of the request that ran
//! ([`AuditLog::append_remembering`](crate::AuditLog::append_remembering)).

use crate::{Store, StoreError};

/// What one session holds after a request ran.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionWrite {
    /// The digest of the session's name.
    pub session: String,
    /// The remembered turns, as a JSON array.
    pub turns: String,
    pub updated_ms: i64,
}

/// The upsert of `n` sessions (distinct), the same on both engines.
pub(crate) fn upsert_sql(n: usize) -> String {
    let mut sql = String::from("INSERT INTO session_memory (session, turns, updated_ms) VALUES ");
    for i in 0..n {
        if i > 0 {
            sql.push_str(", ");
        }
        let b = i * 3;
        sql.push_str(&format!("(${}, ${}, ${})", b + 1, b + 2, b + 3));
    }
    sql.push_str(
        " ON CONFLICT (session) DO UPDATE SET turns = excluded.turns, updated_ms = excluded.updated_ms",
    );
    sql
}

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
    use super::SessionWrite;
    use crate::on_both_engines;
    use crate::{AuditLog, NewEvent};

    fn write(session: &str, turns: &str, at: i64) -> SessionWrite {
        SessionWrite {
            session: session.into(),
            turns: turns.into(),
            updated_ms: at,
        }
    }

    on_both_engines! {
        async fn a_session_is_remembered_with_its_record_replaced_and_forgotten(s: Store) {
            let log = AuditLog::start(&s).await.unwrap();
            let event = || vec![NewEvent::now("t1", "executed", "alice", serde_json::json!({}))];
            assert_eq!(s.session_memory("s1", 0).await.unwrap(), None);
            log.append_remembering(event(), write("s1", "[1]", 1_000)).await.unwrap();
            // Remembered by the time the append returns: no wait for a reader.
            assert_eq!(s.session_memory("s1", 0).await.unwrap().as_deref(), Some("[1]"));
            // Several in one commit, the same session twice: the latest wins.
            let (a, b, c) = tokio::join!(
                log.append_remembering(event(), write("s1", "[1,2]", 2_000)),
                log.append_remembering(event(), write("s2", "[9]", 5_000)),
                log.append_remembering(event(), write("s1", "[1,2,3]", 2_500)),
            );
            a.unwrap();
            b.unwrap();
            c.unwrap();
            assert_eq!(s.session_memory("s1", 0).await.unwrap().as_deref(), Some("[1,2,3]"));
            // Too old to count, though not purged yet.
            assert_eq!(s.session_memory("s1", 3_000).await.unwrap(), None);
            assert_eq!(s.purge_session_memory(3_000).await.unwrap(), 1);
            assert_eq!(s.session_memory("s1", 0).await.unwrap(), None);
            assert_eq!(s.session_memory("s2", 0).await.unwrap().as_deref(), Some("[9]"));
            assert_eq!(s.audit_len().await.unwrap(), 4);
            log.shutdown().await;
        }
    }
}
