//! Warden's storage: the hash-chained audit trail (one writer, group commit), API keys and
//! schema migrations, behind one `Store` handle.
//!
//! The engine is chosen by the database URL: `sqlite://PATH` is the embedded default (one file,
//! WAL, one gateway); `postgres://...` lets a fleet of gateways share one trail, one approval
//! queue and one key table. Queries are written once, with `$N` placeholders both engines read.

mod approvals;
mod audit;
mod chain;
mod console_sessions;
mod error;
mod grants;
mod keys;
mod limits;
mod mcp_pins;
mod migrate;
mod sessions;
#[cfg(any(test, feature = "testing"))]
pub mod testing;
mod time_fmt;
mod trace_index;

pub use approvals::{
    Approval, ApprovalFilter, ApprovalRefusal, ApprovalStatus, DECISIONS_CHANNEL, DecisionListener, Delivery,
    NewApproval, Vote, VoteOutcome, Voter,
};
pub use audit::{AuditLog, AuditRecord, CommitObserver, ExportFormat, NewEvent};
pub use chain::{Anchor, BadRecord, GENESIS_HASH, VerifyReport, chain_hash};
pub use console_sessions::ConsoleSession;
pub use error::StoreError;
pub use keys::KeyRecord;
pub use mcp_pins::McpPin;
pub use sessions::SessionWrite;
pub use time_fmt::now_rfc3339;
pub use trace_index::{
    HOUR_MS, LATENCY_BOUNDS, OUTCOME_STAGES, ROLLUP_WIDTHS, RollupRow, TraceQuery, TraceRow, Verification,
    one_line, parse_ts_ms, usage_tokens,
};

use sqlx::AnyPool;
use sqlx::any::AnyPoolOptions;
use sqlx::postgres::PgConnectOptions;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqliteSynchronous};
use std::str::FromStr;
use std::time::Duration;

/// How durable a committed audit record is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Durability {
    /// Survives the gateway being killed at any instant: SQLite's WAL without an fsync per
    /// commit; on PostgreSQL, the server has the commit (`synchronous_commit = off`).
    #[default]
    Process,
    /// Survives power loss: each group commit is on disk (SQLite `synchronous = FULL`; on
    /// PostgreSQL a WAL flush after the append) before its responses are sent.
    Fsync,
}

impl Durability {
    pub fn as_str(self) -> &'static str {
        match self {
            Durability::Process => "process",
            Durability::Fsync => "fsync",
        }
    }
}

/// The database behind a store, with what its dedicated connections (the audit writer, the
/// decision listener) are opened with.
#[derive(Clone, Debug)]
pub(crate) enum Engine {
    Sqlite(SqliteConnectOptions),
    Postgres(PgConnectOptions),
}

/// A handle on the database. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Store {
    pool: AnyPool,
    engine: Engine,
    durability: Durability,
}

impl Store {
    /// Opens (creating if missing) the database at `url` and brings its schema up to date.
    pub async fn open(url: &str, durability: Durability) -> Result<Store, StoreError> {
        Store::connect(url, durability, true, None).await
    }

    /// [`Store::open`] with a pool of `max_connections` (`None`: 4 on SQLite, 8 on
    /// PostgreSQL). The audit writer has its own connection besides; on PostgreSQL so do the
    /// decision listener and, with `fsync` durability, the flusher.
    pub async fn open_pooled(
        url: &str,
        durability: Durability,
        max_connections: Option<u32>,
    ) -> Result<Store, StoreError> {
        Store::connect(url, durability, true, max_connections).await
    }

    /// Opens the database at `url`, which must exist: for commands that only read or amend a
    /// store, where a mistyped path must be an error rather than a new, empty trail.
    pub async fn open_existing(url: &str, durability: Durability) -> Result<Store, StoreError> {
        Store::connect(url, durability, false, None).await
    }

    async fn connect(
        url: &str,
        durability: Durability,
        create: bool,
        max_connections: Option<u32>,
    ) -> Result<Store, StoreError> {
        sqlx::any::install_default_drivers();
        let store = if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Store::connect_postgres(url, durability, max_connections.unwrap_or(8)).await?
        } else {
            Store::connect_sqlite(url, durability, create, max_connections.unwrap_or(4)).await?
        };
        migrate::run(&store).await?;
        Ok(store)
    }

    async fn connect_sqlite(
        url: &str,
        durability: Durability,
        create: bool,
        max_connections: u32,
    ) -> Result<Store, StoreError> {
        let path = url
            .strip_prefix("sqlite://")
            .or_else(|| url.strip_prefix("sqlite:"))
            .ok_or_else(|| StoreError::UnsupportedUrl(redact_url(url)))?;
        if path.is_empty() || path.starts_with(":memory:") {
            return Err(StoreError::UnsupportedUrl(
                "an in-memory database cannot hold an audit trail; name a file".into(),
            ));
        }
        if path.contains('?') {
            return Err(StoreError::UnsupportedUrl(format!(
                "{} (a SQLite URL takes no parameters; set durability in the config)",
                redact_url(url)
            )));
        }
        if !create && !std::path::Path::new(path).exists() {
            return Err(StoreError::Missing(path.to_string()));
        }
        let synchronous = match durability {
            Durability::Process => SqliteSynchronous::Normal,
            Durability::Fsync => SqliteSynchronous::Full,
        };
        let options = SqliteConnectOptions::from_str(&format!("sqlite://{path}"))
            .map_err(StoreError::from)?
            .create_if_missing(create)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(synchronous)
            .busy_timeout(Duration::from_secs(10))
            .foreign_keys(true);
        // One connection opens the file first, with the options that create it and switch it
        // to WAL; the pool then opens the existing file with the per-connection pragmas.
        let first = <sqlx::SqliteConnection as sqlx::Connection>::connect_with(&options).await?;
        sqlx::Connection::close(first).await?;
        let pragmas: &'static str = match durability {
            Durability::Process => {
                "PRAGMA busy_timeout = 10000; PRAGMA foreign_keys = ON; PRAGMA synchronous = NORMAL;"
            }
            Durability::Fsync => {
                "PRAGMA busy_timeout = 10000; PRAGMA foreign_keys = ON; PRAGMA synchronous = FULL;"
            }
        };
        let pool = AnyPoolOptions::new()
            .max_connections(max_connections)
            .min_connections(1)
            .after_connect(move |conn, _meta| {
                Box::pin(async move {
                    sqlx::Executor::execute(conn, pragmas).await?;
                    Ok(())
                })
            })
            .connect(&format!("sqlite://{path}"))
            .await?;
        Ok(Store {
            pool,
            engine: Engine::Sqlite(options),
            durability,
        })
    }

    async fn connect_postgres(
        url: &str,
        durability: Durability,
        max_connections: u32,
    ) -> Result<Store, StoreError> {
        let url = with_application_name(url);
        let options = PgConnectOptions::from_str(&url)
            .map_err(|e| StoreError::UnsupportedUrl(format!("{}: {e}", redact_url(&url))))?;
        // One plain connection first: a refused connection, a TLS or an authentication failure
        // is reported as itself, not as the pool's timeout after retrying it.
        let probe = <sqlx::PgConnection as sqlx::Connection>::connect_with(&options).await?;
        sqlx::Connection::close(probe).await?;
        let pool = AnyPoolOptions::new()
            .max_connections(max_connections)
            .min_connections(1)
            .acquire_timeout(Duration::from_secs(10))
            .connect(&url)
            .await?;
        Ok(Store {
            pool,
            engine: Engine::Postgres(options),
            durability,
        })
    }

    /// `sqlite` or `postgres`.
    pub fn engine_name(&self) -> &'static str {
        match self.engine {
            Engine::Sqlite(_) => "sqlite",
            Engine::Postgres(_) => "postgres",
        }
    }

    /// A cheap round trip, for readiness checks.
    pub async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    /// Applies pending migrations; returns the schema version now in force.
    pub async fn migrate(&self) -> Result<i64, StoreError> {
        migrate::run(self).await
    }

    /// Closes every pooled connection.
    pub async fn close(&self) {
        self.pool.close().await;
    }

    pub(crate) fn pool(&self) -> &AnyPool {
        &self.pool
    }

    pub(crate) fn engine(&self) -> &Engine {
        &self.engine
    }

    pub(crate) fn durability(&self) -> Durability {
        self.durability
    }

    pub(crate) fn is_postgres(&self) -> bool {
        matches!(self.engine, Engine::Postgres(_))
    }
}

/// `url` naming the application `warden` unless it names one, so an operator can tell the
/// gateways' sessions apart in `pg_stat_activity`.
fn with_application_name(url: &str) -> String {
    if url.contains("application_name=") {
        url.to_string()
    } else if url.contains('?') {
        format!("{url}&application_name=warden")
    } else {
        format!("{url}?application_name=warden")
    }
}

/// A database URL safe to show: any password is replaced by `***`.
pub fn redact_url(url: &str) -> String {
    if let Some((scheme, rest)) = url.split_once("://")
        && let Some((userinfo, host)) = rest.split_once('@')
        && let Some((user, _password)) = userinfo.split_once(':')
    {
        return format!("{scheme}://{user}:***@{host}");
    }
    url.to_string()
}

/// Defines each test once and runs it on both engines: `<name>::sqlite` and
/// `<name>::postgres`, each on a fresh database.
#[cfg(test)]
macro_rules! on_both_engines {
    ($(async fn $name:ident($store:ident: Store) $body:block)*) => {$(
        mod $name {
            #[allow(unused_imports)]
            use super::*;
            async fn run($store: $crate::Store) $body
            #[tokio::test]
            async fn sqlite() {
                $crate::testing::with_store("sqlite", run).await;
            }
            #[tokio::test]
            async fn postgres() {
                $crate::testing::with_store("postgres", run).await;
            }
        }
    )*};
}
#[cfg(test)]
pub(crate) use on_both_engines;

#[cfg(test)]
mod tests {
    #[tokio::test]
    async fn pooled_sqlite_connections_wait_for_locks_and_keep_foreign_keys() {
        crate::testing::with_store("sqlite", |store| async move {
            for _ in 0..3 {
                let mut conn = store.pool().acquire().await.unwrap();
                let timeout: i64 = sqlx::query_scalar("PRAGMA busy_timeout")
                    .fetch_one(&mut *conn)
                    .await
                    .unwrap();
                let keys: i64 = sqlx::query_scalar("PRAGMA foreign_keys")
                    .fetch_one(&mut *conn)
                    .await
                    .unwrap();
                let sync: i64 = sqlx::query_scalar("PRAGMA synchronous")
                    .fetch_one(&mut *conn)
                    .await
                    .unwrap();
                let journal: String = sqlx::query_scalar("PRAGMA journal_mode")
                    .fetch_one(&mut *conn)
                    .await
                    .unwrap();
                assert_eq!((timeout, keys, sync, journal.as_str()), (10_000, 1, 1, "wal"));
            }
        })
        .await;
    }

    #[test]
    fn names_the_application_once() {
        assert_eq!(
            super::with_application_name("postgres://h/db"),
            "postgres://h/db?application_name=warden"
        );
        assert_eq!(
            super::with_application_name("postgres://h/db?sslmode=require"),
            "postgres://h/db?sslmode=require&application_name=warden"
        );
        assert_eq!(
            super::with_application_name("postgres://h/db?application_name=x"),
            "postgres://h/db?application_name=x"
        );
    }

    #[test]
    fn redacts_passwords() {
        assert_eq!(
            super::redact_url("postgres://app:hunter2@db:5432/w"),
            "postgres://app:***@db:5432/w"
        );
        assert_eq!(super::redact_url("sqlite://warden.db"), "sqlite://warden.db");
    }
}
