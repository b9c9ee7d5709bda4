//! Versioned schema migrations, applied in order, each in its own transaction.

use sqlx::SqlitePool;

use crate::StoreError;

/// `(version, sql)`; append only, never edit a released migration.
const MIGRATIONS: &[(i64, &str)] = &[
    (
        1,
        "CREATE TABLE audit_events (
        seq       INTEGER PRIMARY KEY,
        trace_id  TEXT NOT NULL,
        ts        TEXT NOT NULL,
        stage     TEXT NOT NULL,
        actor     TEXT NOT NULL,
        payload   TEXT NOT NULL,
        prev_hash TEXT NOT NULL,
        hash      TEXT NOT NULL
    );
    CREATE INDEX audit_events_trace ON audit_events (trace_id);
    CREATE TABLE audit_head (
        id   INTEGER PRIMARY KEY CHECK (id = 1),
        seq  INTEGER NOT NULL,
        hash TEXT NOT NULL
    );
    CREATE TABLE api_keys (
        id          TEXT PRIMARY KEY,
        name        TEXT NOT NULL,
        roles       TEXT NOT NULL,
        tenant      TEXT NOT NULL,
        secret_hash TEXT NOT NULL,
        created_at  TEXT NOT NULL,
        revoked_at  TEXT
    );
    CREATE UNIQUE INDEX api_keys_name ON api_keys (name) WHERE revoked_at IS NULL;",
    ),
    (
        2,
        "ALTER TABLE api_keys ADD COLUMN groups TEXT NOT NULL DEFAULT '';
    CREATE TABLE approvals (
        id              TEXT PRIMARY KEY,
        trace_id        TEXT NOT NULL,
        requester_key   TEXT NOT NULL,
        requester       TEXT NOT NULL,
        tenant          TEXT NOT NULL,
        kind            TEXT NOT NULL,
        digest          TEXT NOT NULL,
        policy_version  TEXT NOT NULL,
        rule            TEXT NOT NULL,
        risk            TEXT NOT NULL,
        decision        TEXT NOT NULL,
        request         TEXT NOT NULL,
        mode            TEXT NOT NULL,
        required        INTEGER NOT NULL,
        groups          TEXT NOT NULL,
        escalate_groups TEXT NOT NULL,
        status          TEXT NOT NULL,
        created_ms      INTEGER NOT NULL,
        expires_ms      INTEGER NOT NULL,
        escalate_ms     INTEGER,
        escalated       INTEGER NOT NULL DEFAULT 0,
        remind_ms       INTEGER,
        remind_every_ms INTEGER,
        on_expiry       TEXT NOT NULL,
        decided_ms      INTEGER,
        used_ms         INTEGER,
        note            TEXT
    );
    CREATE INDEX approvals_status ON approvals (status, expires_ms);
    CREATE TABLE approval_votes (
        approval_id   TEXT NOT NULL REFERENCES approvals (id),
        approver      TEXT NOT NULL,
        approver_name TEXT NOT NULL,
        vote          TEXT NOT NULL,
        note          TEXT,
        ts_ms         INTEGER NOT NULL,
        PRIMARY KEY (approval_id, approver)
    );
    CREATE TABLE webhook_outbox (
        id           INTEGER PRIMARY KEY AUTOINCREMENT,
        hook         TEXT NOT NULL,
        event        TEXT NOT NULL,
        payload      TEXT NOT NULL,
        attempts     INTEGER NOT NULL DEFAULT 0,
        next_ms      INTEGER NOT NULL,
        delivered_ms INTEGER,
        failed_ms    INTEGER,
        last_error   TEXT
    );
    CREATE INDEX webhook_outbox_due ON webhook_outbox (delivered_ms, failed_ms, next_ms);",
    ),
    (
        3,
        // The chain head follows every append inside SQLite, so an append is one statement.
        "CREATE TRIGGER audit_head_follows AFTER INSERT ON audit_events
    BEGIN
        INSERT INTO audit_head (id, seq, hash) VALUES (1, NEW.seq, NEW.hash)
        ON CONFLICT (id) DO UPDATE SET seq = excluded.seq, hash = excluded.hash
        WHERE excluded.seq > audit_head.seq;
    END;",
    ),
];

/// Applies what is pending and returns the version in force.
pub(crate) async fn run(pool: &SqlitePool) -> Result<i64, StoreError> {
    sqlx::query(
        "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied_at TEXT NOT NULL)",
    )
    .execute(pool)
    .await?;
    let current: i64 = sqlx::query_scalar("SELECT COALESCE(MAX(version), 0) FROM schema_migrations")
        .fetch_one(pool)
        .await?;
    let known = MIGRATIONS.last().map(|m| m.0).unwrap_or(0);
    if current > known {
        return Err(StoreError::SchemaTooNew {
            found: current,
            known,
        });
    }
    for (version, sql) in MIGRATIONS.iter().filter(|m| m.0 > current) {
        let mut tx = pool.begin().await?;
        sqlx::raw_sql(sql).execute(&mut *tx).await?;
        sqlx::query("INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)")
            .bind(version)
            .bind(crate::now_rfc3339())
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
    }
    Ok(known.max(current))
}
