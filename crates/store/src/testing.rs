//! Throwaway databases for tests, on either engine: a SQLite file in a temporary directory or
//! a fresh database on the PostgreSQL server named by `WARDEN_TEST_POSTGRES_URL` (default
//! `postgres://postgres@127.0.0.1:5432/postgres`). Not for production use.

use std::sync::atomic::{AtomicU32, Ordering};

use sqlx::Connection;

use crate::StoreError;

/// Where test databases are created on PostgreSQL.
pub fn postgres_server_url() -> String {
    std::env::var("WARDEN_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_string())
}

/// A database that exists for one test. Drop it with [`TestDatabase::drop_database`]; a
/// PostgreSQL database left behind by a failed test is named `warden_t_*`.
#[derive(Debug)]
pub enum TestDatabase {
    Sqlite {
        dir: tempfile::TempDir,
        url: String,
    },
    Postgres {
        server: String,
        name: String,
        url: String,
    },
}

impl TestDatabase {
    /// A new empty SQLite file.
    pub fn sqlite() -> TestDatabase {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("no temporary directory: {e}"));
        let url = format!("sqlite://{}", dir.path().join("warden.db").display());
        TestDatabase::Sqlite { dir, url }
    }

    /// A new empty database on the test PostgreSQL server. Panics with what to do when the
    /// server does not answer: a test that needs PostgreSQL must not pass without it.
    pub async fn postgres() -> TestDatabase {
        static COUNTER: AtomicU32 = AtomicU32::new(0);
        let server = postgres_server_url();
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let name = format!(
            "warden_t_{}_{}_{nanos}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        );
        let mut admin = sqlx::PgConnection::connect(&server).await.unwrap_or_else(|e| {
            panic!(
                "PostgreSQL is not answering at {} ({e}); start it (`pg_ctlcluster 15 main start`) or point WARDEN_TEST_POSTGRES_URL at one",
                crate::redact_url(&server)
            )
        });
        sqlx::query(&format!("CREATE DATABASE {name}"))
            .execute(&mut admin)
            .await
            .unwrap_or_else(|e| panic!("cannot create test database {name}: {e}"));
        let _ = admin.close().await;
        let url = with_database(&server, &name);
        TestDatabase::Postgres { server, name, url }
    }

    /// Either engine by name: `sqlite` or `postgres`.
    pub async fn of(engine: &str) -> TestDatabase {
        match engine {
            "postgres" => TestDatabase::postgres().await,
            _ => TestDatabase::sqlite(),
        }
    }

    /// The URL to open it with.
    pub fn url(&self) -> &str {
        match self {
            TestDatabase::Sqlite { url, .. } | TestDatabase::Postgres { url, .. } => url,
        }
    }

    /// Removes the database (the SQLite directory goes when this is dropped).
    pub async fn drop_database(self) -> Result<(), StoreError> {
        if let TestDatabase::Postgres { server, name, .. } = self {
            let mut admin = sqlx::PgConnection::connect(&server).await?;
            sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                .execute(&mut admin)
                .await?;
            let _ = admin.close().await;
        }
        Ok(())
    }
}

/// Runs `test` on a store freshly opened on `engine`, then removes the database.
pub async fn with_store<F, Fut>(engine: &str, test: F)
where
    F: FnOnce(crate::Store) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let db = TestDatabase::of(engine).await;
    let store = crate::Store::open(db.url(), crate::Durability::Process)
        .await
        .unwrap_or_else(|e| panic!("cannot open a {engine} test store: {e}"));
    test(store.clone()).await;
    store.close().await;
    let _ = db.drop_database().await;
}

/// `url` with its database name replaced by `name` (query parameters kept).
fn with_database(url: &str, name: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    let scheme_end = base.find("://").map(|i| i + 3).unwrap_or(0);
    let host_end = base[scheme_end..]
        .find('/')
        .map(|i| scheme_end + i)
        .unwrap_or(base.len());
    let mut out = format!("{}/{name}", &base[..host_end]);
    if let Some(q) = query {
        out.push('?');
        out.push_str(q);
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn replaces_the_database_name() {
        assert_eq!(
            super::with_database("postgres://u@h:5432/postgres?sslmode=disable", "x"),
            "postgres://u@h:5432/x?sslmode=disable"
        );
        assert_eq!(super::with_database("postgres://u@h", "x"), "postgres://u@h/x");
    }
}
