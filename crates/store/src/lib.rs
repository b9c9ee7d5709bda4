//! Warden's storage: the hash-chained audit trail (one writer, group commit), API keys and
//! schema migrations, behind one `Store` handle.
//!
//! SQLite is the embedded default (one file, WAL). The engine is chosen by the database URL;
//! `postgres://` support is planned behind the same interface.

mod approvals;
mod audit;
mod chain;
mod error;
mod keys;
mod migrate;
mod time_fmt;

pub use approvals::{
    Approval, ApprovalFilter, ApprovalRefusal, ApprovalStatus, Delivery, NewApproval, Vote, VoteOutcome,
    Voter,
};
pub use audit::{AuditLog, AuditRecord, ExportFormat, NewEvent};
pub use chain::{GENESIS_HASH, VerifyReport, chain_hash};
pub use error::StoreError;
pub use keys::KeyRecord;
pub use time_fmt::now_rfc3339;

use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use std::str::FromStr;
use std::time::Duration;

/// How durable a committed audit record is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Durability {
    /// Survives the gateway being killed at any instant (WAL, no fsync per commit).
    #[default]
    Process,
    /// Survives power loss: each group commit is fsynced before its responses are sent.
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

/// A handle on the database. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Store {
    pool: SqlitePool,
    options: SqliteConnectOptions,
}

impl Store {
    /// Opens (creating if missing) the database at `url` and brings its schema up to date.
    pub async fn open(url: &str, durability: Durability) -> Result<Store, StoreError> {
        Store::connect(url, durability, true).await
    }

    /// Opens the database at `url`, which must exist: for commands that only read or amend a
    /// store, where a mistyped path must be an error rather than a new, empty trail.
    pub async fn open_existing(url: &str, durability: Durability) -> Result<Store, StoreError> {
        Store::connect(url, durability, false).await
    }

    async fn connect(url: &str, durability: Durability, create: bool) -> Result<Store, StoreError> {
        let path = url
            .strip_prefix("sqlite://")
            .or_else(|| url.strip_prefix("sqlite:"))
            .ok_or_else(|| StoreError::UnsupportedUrl(redact_url(url)))?;
        if path.is_empty() || path.starts_with(":memory:") {
            return Err(StoreError::UnsupportedUrl(
                "an in-memory database cannot hold an audit trail; name a file".into(),
            ));
        }
        if !create && !std::path::Path::new(path).exists() {
            return Err(StoreError::Missing(path.to_string()));
        }
        let options = SqliteConnectOptions::from_str(&format!("sqlite://{path}"))
            .map_err(StoreError::from)?
            .create_if_missing(create)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(match durability {
                Durability::Process => SqliteSynchronous::Normal,
                Durability::Fsync => SqliteSynchronous::Full,
            })
            .busy_timeout(Duration::from_secs(10))
            .foreign_keys(true);
        let pool = SqlitePoolOptions::new()
            .max_connections(4)
            .min_connections(1)
            .connect_with(options.clone())
            .await?;
        let store = Store { pool, options };
        migrate::run(&store.pool).await?;
        Ok(store)
    }

    /// A cheap round trip, for readiness checks.
    pub async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    /// Applies pending migrations; returns the schema version now in force.
    pub async fn migrate(&self) -> Result<i64, StoreError> {
        migrate::run(&self.pool).await
    }

    /// Closes every pooled connection.
    pub async fn close(&self) {
        self.pool.close().await;
    }

    pub(crate) fn pool(&self) -> &SqlitePool {
        &self.pool
    }

    pub(crate) fn options(&self) -> &SqliteConnectOptions {
        &self.options
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

#[cfg(test)]
mod tests {
    #[test]
    fn redacts_passwords() {
        assert_eq!(
            super::redact_url("postgres://app:hunter2@db:5432/w"),
            "postgres://app:***@db:5432/w"
        );
        assert_eq!(super::redact_url("sqlite://warden.db"), "sqlite://warden.db");
    }
}
