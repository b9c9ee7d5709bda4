//! Versioned schema migrations, one list per engine with the same version numbers, applied in
//! order inside one transaction that holds a lock, so replicas starting together apply each
//! migration once.

use crate::{Store, StoreError};

/// An arbitrary constant: the advisory lock PostgreSQL replicas take while migrating.
const MIGRATION_LOCK: i64 = 0x5741_5244_454e_0001;

/// SQLite's `(version, sql)`; append only, never edit a released migration.
const SQLITE: &[(i64, &str)] = &[
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
    (
        4,
        // Front-door grants: a tool call `/tools/invoke` forwarded, which OpenClaw's hook asks
        // about once; and the row readiness probes write to prove the store takes writes.
        "CREATE TABLE tool_grants (
        nonce      TEXT PRIMARY KEY,
        trace_id   TEXT NOT NULL,
        digests    TEXT NOT NULL,
        expires_ms INTEGER NOT NULL,
        used_ms    INTEGER
    );
    CREATE INDEX tool_grants_expiry ON tool_grants (expires_ms);
    CREATE INDEX approvals_pending_by_requester ON approvals (requester_key, status);
    CREATE INDEX approvals_tenant ON approvals (tenant, created_ms);
    CREATE TABLE warden_health (
        id       INTEGER PRIMARY KEY CHECK (id = 1),
        probe_ms INTEGER NOT NULL
    );",
    ),
    (
        5,
        // What an agent-side session holds (the turns Warden let through and the agent's
        // answers, masked), so that a confirmation is judged with what it confirms.
        "CREATE TABLE session_memory (
        session    TEXT PRIMARY KEY,
        turns      TEXT NOT NULL,
        updated_ms INTEGER NOT NULL
    );
    CREATE INDEX session_memory_age ON session_memory (updated_ms);",
    ),
    (
        6,
        // MCP tool definitions an admin approved, per governed server.
        "CREATE TABLE mcp_pins (
        server      TEXT NOT NULL,
        tool        TEXT NOT NULL,
        digest      TEXT NOT NULL,
        definition  TEXT NOT NULL,
        approved_by TEXT NOT NULL,
        approved_ms INTEGER NOT NULL,
        PRIMARY KEY (server, tool)
    );",
    ),
    (
        7,
        // The console: its sign-in sessions, and a derived index of the trail (one row per
        // trace, counts per hour, 6 hours and day, the last verification) kept by
        // `Store::index_trail`, so searches and charts stay fast however long the trail grows.
        "CREATE TABLE console_sessions (
        id_hash    TEXT PRIMARY KEY,
        key_id     TEXT NOT NULL,
        csrf       TEXT NOT NULL,
        created_ms INTEGER NOT NULL,
        seen_ms    INTEGER NOT NULL,
        expires_ms INTEGER NOT NULL
    );
    CREATE INDEX console_sessions_expiry ON console_sessions (expires_ms);
    CREATE TABLE audit_traces (
        trace_id   TEXT PRIMARY KEY,
        started_ms INTEGER NOT NULL,
        updated_ms INTEGER NOT NULL,
        first_seq  INTEGER NOT NULL,
        last_seq   INTEGER NOT NULL,
        records    INTEGER NOT NULL,
        tenant     TEXT NOT NULL,
        key_name   TEXT NOT NULL,
        surface    TEXT NOT NULL,
        risk       TEXT NOT NULL,
        status     TEXT NOT NULL,
        rule       TEXT NOT NULL,
        tool       TEXT NOT NULL,
        summary    TEXT NOT NULL
    );
    CREATE INDEX audit_traces_started ON audit_traces (started_ms, trace_id);
    CREATE INDEX audit_traces_tenant ON audit_traces (tenant, started_ms);
    CREATE INDEX audit_traces_key ON audit_traces (key_name, started_ms);
    CREATE INDEX audit_traces_risk ON audit_traces (risk, started_ms);
    CREATE INDEX audit_traces_status ON audit_traces (status, started_ms);
    CREATE INDEX audit_traces_rule ON audit_traces (rule, started_ms);
    CREATE INDEX audit_traces_tool ON audit_traces (tool, started_ms);
    CREATE TABLE audit_rollup (
        width_ms  INTEGER NOT NULL,
        bucket_ms INTEGER NOT NULL,
        tenant    TEXT NOT NULL,
        metric    TEXT NOT NULL,
        label     TEXT NOT NULL,
        n         INTEGER NOT NULL,
        PRIMARY KEY (width_ms, bucket_ms, tenant, metric, label)
    );
    CREATE TABLE audit_index_state (
        id             INTEGER PRIMARY KEY CHECK (id = 1),
        indexed_seq    INTEGER NOT NULL,
        verified_ms    INTEGER,
        verified_seq   INTEGER,
        verified_ok    INTEGER,
        verified_by    TEXT,
        verify_problem TEXT
    );
    INSERT INTO audit_index_state (id, indexed_seq) VALUES (1, 0);
    CREATE INDEX approvals_tenant_status ON approvals (tenant, status, created_ms);",
    ),
    (
        8,
        // Limits and budgets shared by a fleet: what each counter's window has handed out to
        // gateways as leases (`Store::lease`), never more than its capacity.
        "CREATE TABLE limit_grants (
        counter   TEXT NOT NULL,
        window_ms INTEGER NOT NULL,
        granted   INTEGER NOT NULL,
        PRIMARY KEY (counter, window_ms)
    );
    CREATE INDEX limit_grants_window ON limit_grants (window_ms);",
    ),
    (
        9,
        // The chain head a good verification found, beside its seq (`verified_seq`): where
        // `warden audit verify --incremental` goes on from.
        "ALTER TABLE audit_index_state ADD COLUMN verified_hash TEXT;",
    ),
];

/// PostgreSQL's `(version, sql)`, the same schema in its types; append only. The chain head
/// row exists from the start: appenders on every replica lock it to serialize the chain.
const POSTGRES: &[(i64, &str)] = &[
    (
        1,
        "CREATE TABLE audit_events (
        seq       BIGINT PRIMARY KEY,
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
        id   BIGINT PRIMARY KEY CHECK (id = 1),
        seq  BIGINT NOT NULL,
        hash TEXT NOT NULL
    );
    INSERT INTO audit_head (id, seq, hash)
        VALUES (1, 0, '0000000000000000000000000000000000000000000000000000000000000000');
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
        required        BIGINT NOT NULL,
        groups          TEXT NOT NULL,
        escalate_groups TEXT NOT NULL,
        status          TEXT NOT NULL,
        created_ms      BIGINT NOT NULL,
        expires_ms      BIGINT NOT NULL,
        escalate_ms     BIGINT,
        escalated       BIGINT NOT NULL DEFAULT 0,
        remind_ms       BIGINT,
        remind_every_ms BIGINT,
        on_expiry       TEXT NOT NULL,
        decided_ms      BIGINT,
        used_ms         BIGINT,
        note            TEXT
    );
    CREATE INDEX approvals_status ON approvals (status, expires_ms);
    CREATE INDEX approvals_requester_digest ON approvals (requester_key, digest);
    CREATE TABLE approval_votes (
        approval_id   TEXT NOT NULL REFERENCES approvals (id),
        approver      TEXT NOT NULL,
        approver_name TEXT NOT NULL,
        vote          TEXT NOT NULL,
        note          TEXT,
        ts_ms         BIGINT NOT NULL,
        PRIMARY KEY (approval_id, approver)
    );
    CREATE TABLE webhook_outbox (
        id           BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        hook         TEXT NOT NULL,
        event        TEXT NOT NULL,
        payload      TEXT NOT NULL,
        attempts     BIGINT NOT NULL DEFAULT 0,
        next_ms      BIGINT NOT NULL,
        delivered_ms BIGINT,
        failed_ms    BIGINT,
        last_error   TEXT
    );
    CREATE INDEX webhook_outbox_due ON webhook_outbox (delivered_ms, failed_ms, next_ms);",
    ),
    (
        3,
        // `warden_audit_append` is how replicas append: it locks the head row, chains the
        // records onto it with the hash of `chain::chain_hash` (SHA-256 over
        // "warden.audit.v1\0", the seq as 8 big-endian bytes, then each of prev_hash,
        // trace_id, ts, stage, actor and payload as its UTF-8 length in 8 big-endian bytes and
        // its bytes), inserts them and moves the head, in one call. `audit verify` recomputes
        // every hash in Rust. Its commit does not wait for the disk, so the head's lock is
        // released at once; a writer that promises `fsync` durability answers its callers after
        // a separate flush, outside the lock, where the flushes of several replicas are one
        // (`audit.rs`). No trigger moves the head: a record inserted any other way leaves the
        // head behind, and `audit verify` reports it.
        "    CREATE FUNCTION warden_chain_field(t TEXT) RETURNS BYTEA LANGUAGE sql IMMUTABLE STRICT AS $fn$
        SELECT int8send(octet_length(convert_to(t, 'UTF8'))::BIGINT) || convert_to(t, 'UTF8')
    $fn$;
    CREATE FUNCTION warden_audit_append(trace_ids TEXT[], tss TEXT[], stages TEXT[], actors TEXT[], payloads TEXT[])
    RETURNS BIGINT LANGUAGE plpgsql AS $fn$
    DECLARE
        head_seq BIGINT;
        prev TEXT;
        seqs BIGINT[] := '{}';
        prevs TEXT[] := '{}';
        hashes TEXT[] := '{}';
    BEGIN
        PERFORM set_config('synchronous_commit', 'off', true);
        SELECT seq, hash INTO head_seq, prev FROM audit_head WHERE id = 1 FOR UPDATE;
        FOR i IN 1 .. coalesce(cardinality(trace_ids), 0) LOOP
            seqs := seqs || (head_seq + i);
            prevs := prevs || prev;
            prev := encode(sha256(
                convert_to('warden.audit.v1', 'UTF8') || '\\x00'::BYTEA || int8send(head_seq + i)
                || warden_chain_field(prev) || warden_chain_field(trace_ids[i]) || warden_chain_field(tss[i])
                || warden_chain_field(stages[i]) || warden_chain_field(actors[i]) || warden_chain_field(payloads[i])
            ), 'hex');
            hashes := hashes || prev;
        END LOOP;
        INSERT INTO audit_events (seq, trace_id, ts, stage, actor, payload, prev_hash, hash)
        SELECT * FROM unnest(seqs, trace_ids, tss, stages, actors, payloads, prevs, hashes);
        UPDATE audit_head SET seq = head_seq + coalesce(cardinality(trace_ids), 0), hash = prev WHERE id = 1;
        RETURN head_seq + 1;
    END $fn$;",
    ),
    (
        4,
        "CREATE TABLE tool_grants (
        nonce      TEXT PRIMARY KEY,
        trace_id   TEXT NOT NULL,
        digests    TEXT NOT NULL,
        expires_ms BIGINT NOT NULL,
        used_ms    BIGINT
    );
    CREATE INDEX tool_grants_expiry ON tool_grants (expires_ms);
    CREATE INDEX approvals_pending_by_requester ON approvals (requester_key, status);
    CREATE INDEX approvals_tenant ON approvals (tenant, created_ms);
    CREATE TABLE warden_health (
        id       INTEGER PRIMARY KEY CHECK (id = 1),
        probe_ms BIGINT NOT NULL
    );",
    ),    (
        5,
        "CREATE TABLE session_memory (
        session    TEXT PRIMARY KEY,
        turns      TEXT NOT NULL,
        updated_ms BIGINT NOT NULL
    );
    CREATE INDEX session_memory_age ON session_memory (updated_ms);",
    ),
    (
        6,
        "CREATE TABLE mcp_pins (
        server      TEXT NOT NULL,
        tool        TEXT NOT NULL,
        digest      TEXT NOT NULL,
        definition  TEXT NOT NULL,
        approved_by TEXT NOT NULL,
        approved_ms BIGINT NOT NULL,
        PRIMARY KEY (server, tool)
    );",
    ),
    (
        7,
        // The console: its sign-in sessions, and a derived index of the trail (one row per
        // trace, counts per hour, 6 hours and day, the last verification) kept by
        // `Store::index_trail`, so searches and charts stay fast however long the trail grows.
        "CREATE TABLE console_sessions (
        id_hash    TEXT PRIMARY KEY,
        key_id     TEXT NOT NULL,
        csrf       TEXT NOT NULL,
        created_ms BIGINT NOT NULL,
        seen_ms    BIGINT NOT NULL,
        expires_ms BIGINT NOT NULL
    );
    CREATE INDEX console_sessions_expiry ON console_sessions (expires_ms);
    CREATE TABLE audit_traces (
        trace_id   TEXT PRIMARY KEY,
        started_ms BIGINT NOT NULL,
        updated_ms BIGINT NOT NULL,
        first_seq  BIGINT NOT NULL,
        last_seq   BIGINT NOT NULL,
        records    BIGINT NOT NULL,
        tenant     TEXT NOT NULL,
        key_name   TEXT NOT NULL,
        surface    TEXT NOT NULL,
        risk       TEXT NOT NULL,
        status     TEXT NOT NULL,
        rule       TEXT NOT NULL,
        tool       TEXT NOT NULL,
        summary    TEXT NOT NULL
    );
    CREATE INDEX audit_traces_started ON audit_traces (started_ms, trace_id);
    CREATE INDEX audit_traces_tenant ON audit_traces (tenant, started_ms);
    CREATE INDEX audit_traces_key ON audit_traces (key_name, started_ms);
    CREATE INDEX audit_traces_risk ON audit_traces (risk, started_ms);
    CREATE INDEX audit_traces_status ON audit_traces (status, started_ms);
    CREATE INDEX audit_traces_rule ON audit_traces (rule, started_ms);
    CREATE INDEX audit_traces_tool ON audit_traces (tool, started_ms);
    CREATE TABLE audit_rollup (
        width_ms  BIGINT NOT NULL,
        bucket_ms BIGINT NOT NULL,
        tenant    TEXT NOT NULL,
        metric    TEXT NOT NULL,
        label     TEXT NOT NULL,
        n         BIGINT NOT NULL,
        PRIMARY KEY (width_ms, bucket_ms, tenant, metric, label)
    );
    CREATE TABLE audit_index_state (
        id             BIGINT PRIMARY KEY CHECK (id = 1),
        indexed_seq    BIGINT NOT NULL,
        verified_ms    BIGINT,
        verified_seq   BIGINT,
        verified_ok    BIGINT,
        verified_by    TEXT,
        verify_problem TEXT
    );
    INSERT INTO audit_index_state (id, indexed_seq) VALUES (1, 0);
    CREATE INDEX approvals_tenant_status ON approvals (tenant, status, created_ms);",
    ),
    (
        8,
        // Limits and budgets shared by a fleet: what each counter's window has handed out to
        // gateways as leases (`Store::lease`), never more than its capacity.
        "CREATE TABLE limit_grants (
        counter   TEXT NOT NULL,
        window_ms BIGINT NOT NULL,
        granted   BIGINT NOT NULL,
        PRIMARY KEY (counter, window_ms)
    );
    CREATE INDEX limit_grants_window ON limit_grants (window_ms);",
    ),
    (
        9,
        // The chain head a good verification found, beside its seq (`verified_seq`): where
        // `warden audit verify --incremental` goes on from.
        "ALTER TABLE audit_index_state ADD COLUMN verified_hash TEXT;",
    ),
];

/// Applies what is pending and returns the version in force.
pub(crate) async fn run(store: &Store) -> Result<i64, StoreError> {
    let migrations = if store.is_postgres() { POSTGRES } else { SQLITE };
    let mut tx = if store.is_postgres() {
        let mut tx = store.pool().begin().await?;
        // `CREATE TABLE IF NOT EXISTS` would otherwise log a notice on every start.
        sqlx::query("SET LOCAL client_min_messages = warning")
            .execute(&mut *tx)
            .await?;
        sqlx::query("SELECT pg_advisory_xact_lock($1)")
            .bind(MIGRATION_LOCK)
            .execute(&mut *tx)
            .await?;
        tx
    } else {
        store.pool().begin_with("BEGIN IMMEDIATE").await?
    };
    sqlx::query(
        "CREATE TABLE IF NOT EXISTS schema_migrations (version BIGINT PRIMARY KEY, applied_at TEXT NOT NULL)",
    )
    .execute(&mut *tx)
    .await?;
    let current: i64 =
        sqlx::query_scalar("SELECT CAST(COALESCE(MAX(version), 0) AS BIGINT) FROM schema_migrations")
            .fetch_one(&mut *tx)
            .await?;
    let known = migrations.last().map(|m| m.0).unwrap_or(0);
    if current > known {
        return Err(StoreError::SchemaTooNew {
            found: current,
            known,
        });
    }
    for (version, sql) in migrations.iter().filter(|m| m.0 > current) {
        sqlx::raw_sql(sql).execute(&mut *tx).await?;
        sqlx::query("INSERT INTO schema_migrations (version, applied_at) VALUES ($1, $2)")
            .bind(version)
            .bind(crate::now_rfc3339())
            .execute(&mut *tx)
            .await?;
    }
    tx.commit().await?;
    Ok(known.max(current))
}
