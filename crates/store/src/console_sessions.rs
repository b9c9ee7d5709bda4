//! The console's sign-in sessions: a random token's hash, the key it stands for and its CSRF
//! token, kept in the shared store so every replica of a fleet knows every session.

use sqlx::Row;

use crate::{Store, StoreError};

/// A signed-in console session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsoleSession {
    pub id_hash: String,
    pub key_id: String,
    pub csrf: String,
    pub created_ms: i64,
    pub seen_ms: i64,
    pub expires_ms: i64,
}

impl Store {
    pub async fn create_console_session(&self, s: &ConsoleSession) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO console_sessions (id_hash, key_id, csrf, created_ms, seen_ms, expires_ms) VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(&s.id_hash)
        .bind(&s.key_id)
        .bind(&s.csrf)
        .bind(s.created_ms)
        .bind(s.seen_ms)
        .bind(s.expires_ms)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// The session with this token hash, if it has not expired at `now_ms`.
    pub async fn console_session(
        &self,
        id_hash: &str,
        now_ms: i64,
    ) -> Result<Option<ConsoleSession>, StoreError> {
        let row = sqlx::query(
            "SELECT id_hash, key_id, csrf, created_ms, seen_ms, expires_ms FROM console_sessions WHERE id_hash = $1 AND expires_ms > $2",
        )
        .bind(id_hash)
        .bind(now_ms)
        .fetch_optional(self.pool())
        .await?;
        row.map(|r| {
            Ok(ConsoleSession {
                id_hash: r.try_get(0)?,
                key_id: r.try_get(1)?,
                csrf: r.try_get(2)?,
                created_ms: r.try_get(3)?,
                seen_ms: r.try_get(4)?,
                expires_ms: r.try_get(5)?,
            })
        })
        .transpose()
    }

    /// Slides an active session's idle expiry forward (never past `limit_ms`).
    pub async fn touch_console_session(
        &self,
        id_hash: &str,
        now_ms: i64,
        expires_ms: i64,
    ) -> Result<(), StoreError> {
        sqlx::query("UPDATE console_sessions SET seen_ms = $1, expires_ms = $2 WHERE id_hash = $3")
            .bind(now_ms)
            .bind(expires_ms)
            .bind(id_hash)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    pub async fn end_console_session(&self, id_hash: &str) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM console_sessions WHERE id_hash = $1")
            .bind(id_hash)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    /// Ends every session of a key (it was revoked); returns how many.
    pub async fn end_console_sessions_of(&self, key_id: &str) -> Result<u64, StoreError> {
        Ok(sqlx::query("DELETE FROM console_sessions WHERE key_id = $1")
            .bind(key_id)
            .execute(self.pool())
            .await?
            .rows_affected())
    }

    /// Forgets sessions that expired before `now_ms`.
    pub async fn purge_console_sessions(&self, now_ms: i64) -> Result<u64, StoreError> {
        Ok(sqlx::query("DELETE FROM console_sessions WHERE expires_ms <= $1")
            .bind(now_ms)
            .execute(self.pool())
            .await?
            .rows_affected())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn session(id: &str, key: &str, expires_ms: i64) -> ConsoleSession {
        ConsoleSession {
            id_hash: id.into(),
            key_id: key.into(),
            csrf: format!("csrf-{id}"),
            created_ms: 0,
            seen_ms: 0,
            expires_ms,
        }
    }

    crate::on_both_engines! {
        async fn sessions_expire_slide_and_end_with_their_key(s: Store) {
            s.create_console_session(&session("a", "k1", 1000)).await.unwrap();
            s.create_console_session(&session("b", "k1", 1000)).await.unwrap();
            s.create_console_session(&session("c", "k2", 1000)).await.unwrap();
            assert_eq!(s.console_session("a", 999).await.unwrap(), Some(session("a", "k1", 1000)));
            assert_eq!(s.console_session("a", 1000).await.unwrap(), None, "expired at its time");
            s.touch_console_session("a", 900, 5000).await.unwrap();
            assert_eq!(s.console_session("a", 4000).await.unwrap().map(|x| x.seen_ms), Some(900));
            assert_eq!(s.end_console_sessions_of("k1").await.unwrap(), 2);
            assert_eq!(s.console_session("a", 0).await.unwrap(), None);
            assert_eq!(s.purge_console_sessions(2000).await.unwrap(), 1, "c had expired");
            s.create_console_session(&session("d", "k2", 9000)).await.unwrap();
            s.end_console_session("d").await.unwrap();
            assert_eq!(s.console_session("d", 0).await.unwrap(), None);
        }
    }
}
