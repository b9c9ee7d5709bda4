//! Storage errors, worded for operators and free of secrets.

/// Anything that can go wrong in the store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("unsupported database URL {0} (expected sqlite://PATH or postgres://USER@HOST/DB)")]
    UnsupportedUrl(String),
    #[error("no database at {0} (create one with `warden init` or `warden migrate`)")]
    Missing(String),
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error("database error: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("the audit writer has stopped; no record can be committed")]
    WriterClosed,
    #[error("audit record could not be encoded: {0}")]
    Encode(String),
    #[error("database schema version {found} is newer than this binary knows ({known}); upgrade warden")]
    SchemaTooNew { found: i64, known: i64 },
    #[error("export failed: {0}")]
    Export(String),
    #[error("the chain could not be verified to the end: {0}")]
    Incomplete(String),
}
