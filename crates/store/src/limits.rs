//! Limits and budgets shared by a fleet of gateways: each counter (a limit, for one key or
//! tenant, in one window) hands out leases of its capacity, and a lease is taken in one
//! conditional statement, so the replicas together are never granted more than the capacity.
//! Gateways spend their leases locally; the store sees one write per lease, not per request.

use sqlx::Row;

use crate::{Store, StoreError};

impl Store {
    /// Takes up to `want` of `counter`'s capacity in the window starting at `window_ms`:
    /// all of it when that much is left, else what is left. Returns what was granted (0 when
    /// the window's capacity is spent).
    pub async fn lease(
        &self,
        counter: &str,
        window_ms: i64,
        want: i64,
        capacity: i64,
    ) -> Result<i64, StoreError> {
        if want <= 0 || capacity <= 0 {
            return Ok(0);
        }
        sqlx::query("INSERT INTO limit_grants (counter, window_ms, granted) VALUES ($1, $2, 0) ON CONFLICT (counter, window_ms) DO NOTHING")
            .bind(counter)
            .bind(window_ms)
            .execute(self.pool())
            .await?;
        // Another gateway may take some between the read and the update: try again with what
        // is left then, a few times.
        let mut asking = want.min(capacity);
        for _ in 0..4 {
            let taken = sqlx::query(
                "UPDATE limit_grants SET granted = granted + $1 WHERE counter = $2 AND window_ms = $3 AND granted + $4 <= $5",
            )
            .bind(asking)
            .bind(counter)
            .bind(window_ms)
            .bind(asking)
            .bind(capacity)
            .execute(self.pool())
            .await?
            .rows_affected();
            if taken == 1 {
                return Ok(asking);
            }
            let granted: i64 =
                sqlx::query("SELECT granted FROM limit_grants WHERE counter = $1 AND window_ms = $2")
                    .bind(counter)
                    .bind(window_ms)
                    .fetch_one(self.pool())
                    .await?
                    .try_get(0)?;
            let left = capacity - granted;
            if left <= 0 {
                return Ok(0);
            }
            asking = asking.min(left);
        }
        Ok(0)
    }

    /// Forgets the grants of windows that started before `before_ms`.
    pub async fn purge_limit_grants(&self, before_ms: i64) -> Result<u64, StoreError> {
        Ok(sqlx::query("DELETE FROM limit_grants WHERE window_ms < $1")
            .bind(before_ms)
            .execute(self.pool())
            .await?
            .rows_affected())
    }
}

#[cfg(test)]
mod tests {
    crate::on_both_engines! {
        async fn leases_never_exceed_the_capacity_together(s: Store) {
            assert_eq!(s.lease("c", 0, 4, 10).await.unwrap(), 4);
            assert_eq!(s.lease("c", 0, 4, 10).await.unwrap(), 4);
            assert_eq!(s.lease("c", 0, 4, 10).await.unwrap(), 2, "what is left");
            assert_eq!(s.lease("c", 0, 4, 10).await.unwrap(), 0, "spent");
            assert_eq!(s.lease("c", 60_000, 4, 10).await.unwrap(), 4, "a new window");
            // Many gateways at once: never more than the capacity between them.
            let mut tasks = Vec::new();
            for _ in 0..20 {
                let s = s.clone();
                tasks.push(tokio::spawn(async move { s.lease("shared", 0, 3, 25).await.unwrap() }));
            }
            let mut total = 0;
            for t in tasks {
                total += t.await.unwrap();
            }
            assert_eq!(total, 25);
            assert_eq!(s.purge_limit_grants(60_000).await.unwrap(), 2);
        }
    }
}
