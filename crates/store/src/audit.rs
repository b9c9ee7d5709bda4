//! The append-only audit trail: one writer task that group-commits every record queued while
//! the previous commit ran, so a record is durable before its response is sent, yet durability
//! never serializes requests.

use std::io::Write;
use std::time::Duration;

use futures_util::TryStreamExt;
use sqlx::postgres::PgConnectOptions;
use sqlx::{Connection, PgConnection, Row, SqliteConnection};
use tokio::sync::{mpsc, oneshot};

use crate::chain::{GENESIS_HASH, chain_hash};
use crate::sessions::SessionWrite;
use crate::{Durability, Engine, Store, StoreError};

/// At most this many records per commit; a larger backlog takes several commits.
const MAX_BATCH: usize = 256;
/// Bound on queued appends; past it, callers wait (backpressure rather than unbounded memory).
const QUEUE_DEPTH: usize = 8192;

/// A record to append; the writer assigns `seq` and the chain hashes.
#[derive(Debug, Clone)]
pub struct NewEvent {
    pub trace_id: String,
    pub ts: String,
    pub stage: String,
    /// Who caused it: a principal id, `warden`, or an approver.
    pub actor: String,
    pub payload: serde_json::Value,
}

impl NewEvent {
    /// A record stamped with the current time.
    pub fn now(trace_id: &str, stage: &str, actor: &str, payload: serde_json::Value) -> NewEvent {
        NewEvent {
            trace_id: trace_id.to_string(),
            ts: crate::now_rfc3339(),
            stage: stage.to_string(),
            actor: actor.to_string(),
            payload,
        }
    }
}

/// A committed record, as read back.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct AuditRecord {
    pub seq: i64,
    pub trace_id: String,
    pub ts: String,
    pub stage: String,
    pub actor: String,
    pub payload: serde_json::Value,
    pub prev_hash: String,
    pub hash: String,
}

enum Command {
    Append {
        events: Vec<NewEvent>,
        /// Session memory written by the same writer once the events are committed.
        memory: Option<SessionWrite>,
        done: Option<oneshot::Sender<Result<i64, StoreError>>>,
    },
    /// A readiness probe: can the writer still write?
    Probe(oneshot::Sender<Result<(), StoreError>>),
    /// A run of the trail's search index to write (read and worked out by the caller).
    Index(
        Box<crate::trace_index::IndexBatch>,
        oneshot::Sender<Result<u64, StoreError>>,
    ),
    Shutdown(oneshot::Sender<()>),
}

/// Told of every group commit of the trail: how many records, how long the commit took,
/// whether it succeeded. The gateway's metrics implement it; the store depends on no metrics
/// library.
pub trait CommitObserver: Send + Sync + 'static {
    fn committed(&self, records: usize, took: std::time::Duration, ok: bool);
}

/// The handle requests use to append to the trail. Cheap to clone.
#[derive(Clone, Debug)]
pub struct AuditLog {
    tx: mpsc::Sender<Command>,
    /// Appends refused so far: a readiness check re-probes when this moves.
    failures: std::sync::Arc<std::sync::atomic::AtomicU64>,
    /// What the records committed lately say, for the console's index.
    recent: std::sync::Arc<crate::trace_index::RecentFacts>,
}

impl std::fmt::Debug for Command {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Command::Append { events, .. } => write!(f, "Append({} events)", events.len()),
            Command::Probe(_) => f.write_str("Probe"),
            Command::Index(..) => f.write_str("Index"),
            Command::Shutdown(_) => f.write_str("Shutdown"),
        }
    }
}

impl AuditLog {
    /// Starts the writer on its own connection to `store`.
    pub async fn start(store: &Store) -> Result<AuditLog, StoreError> {
        AuditLog::start_observed(store, None).await
    }

    /// [`AuditLog::start`], telling `observer` of every commit.
    pub async fn start_observed(
        store: &Store,
        observer: Option<std::sync::Arc<dyn CommitObserver>>,
    ) -> Result<AuditLog, StoreError> {
        let conn = match store.engine() {
            Engine::Sqlite(options) => Writer::Sqlite {
                conn: SqliteConnection::connect_with(options).await?,
                fsync: store.durability() == Durability::Fsync,
            },
            Engine::Postgres(options) => Writer::Postgres {
                conn: Some(PgConnection::connect_with(options).await?),
                options: Box::new(options.clone()),
            },
        };
        let flusher = match store.engine() {
            Engine::Postgres(options) if store.durability() == Durability::Fsync => {
                Some(Flusher::start(options).await?)
            }
            _ => None,
        };
        let (tx, rx) = mpsc::channel(QUEUE_DEPTH);
        let recent = std::sync::Arc::new(crate::trace_index::RecentFacts::default());
        tokio::spawn(writer(conn, rx, flusher, observer, recent.clone()));
        Ok(AuditLog {
            tx,
            failures: Default::default(),
            recent,
        })
    }

    /// Appends `events` in order and returns once they are committed (with the durability the
    /// store was opened with). Returns the last record's sequence number.
    pub async fn append(&self, events: Vec<NewEvent>) -> Result<i64, StoreError> {
        self.append_with(events, None).await
    }

    /// Appends `events` as [`append`](Self::append) does, then writes `memory` (what an
    /// agent-side session now holds) on the writer's own connection before returning: one
    /// writer for both, so they never contend for the database's write lock. The memory is
    /// advisory; failing to write it is logged, not returned.
    pub async fn append_remembering(
        &self,
        events: Vec<NewEvent>,
        memory: SessionWrite,
    ) -> Result<i64, StoreError> {
        self.append_with(events, Some(memory)).await
    }

    async fn append_with(
        &self,
        events: Vec<NewEvent>,
        memory: Option<SessionWrite>,
    ) -> Result<i64, StoreError> {
        let (done, wait) = oneshot::channel();
        let result = async {
            self.tx
                .send(Command::Append {
                    events,
                    memory,
                    done: Some(done),
                })
                .await
                .map_err(|_| StoreError::WriterClosed)?;
            wait.await.map_err(|_| StoreError::WriterClosed)?
        }
        .await;
        if result.is_err() {
            self.failures.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
        result
    }

    /// How many appends this handle has seen refused.
    pub fn failed_appends(&self) -> u64 {
        self.failures.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Appends without waiting for the commit: for records written after the response has
    /// gone (a stream's end, a client disconnect), where nobody is left to wait.
    pub fn append_detached(&self, events: Vec<NewEvent>) {
        let command = Command::Append {
            events,
            memory: None,
            done: None,
        };
        if let Err(mpsc::error::TrySendError::Full(command)) = self.tx.try_send(command) {
            let tx = self.tx.clone();
            tokio::spawn(async move {
                let _ = tx.send(command).await;
            });
        }
    }

    /// Whether the trail can take records now: the writer, on its own connection, inserts a
    /// record into the trail and rolls it back (constraints, triggers, locks), and writes the
    /// health row (the disk). Nothing is added to the chain.
    pub async fn probe(&self) -> Result<(), StoreError> {
        let (done, wait) = oneshot::channel();
        self.tx
            .send(Command::Probe(done))
            .await
            .map_err(|_| StoreError::WriterClosed)?;
        wait.await.map_err(|_| StoreError::WriterClosed)?
    }

    /// Indexes up to `batch` records of the trail for the console (see
    /// [`Store::index_trail`]): read beside the writer, written by it between commits, so the
    /// index and the appends never wait for each other's hold on the database's write lock.
    pub async fn index_trail(&self, store: &crate::Store, batch: i64) -> Result<u64, StoreError> {
        let Some(prepared) = store.prepare_index(batch, Some(&self.recent)).await? else {
            return Ok(0);
        };
        let (done, wait) = oneshot::channel();
        self.tx
            .send(Command::Index(Box::new(prepared), done))
            .await
            .map_err(|_| StoreError::WriterClosed)?;
        wait.await.map_err(|_| StoreError::WriterClosed)?
    }

    /// Commits everything queued before this call, then stops the writer.
    pub async fn shutdown(&self) {
        let (done, wait) = oneshot::channel();
        if self.tx.send(Command::Shutdown(done)).await.is_ok() {
            let _ = tokio::time::timeout(Duration::from_secs(30), wait).await;
        }
    }
}

type Waiter = oneshot::Sender<Result<i64, StoreError>>;

/// Answers callers once their records are as durable as promised: on PostgreSQL with `fsync`,
/// after the WAL flush that follows the append. Flushes run beside the appends, each covering
/// every append committed before it, so a flush never holds up the next append.
struct Flusher {
    tx: mpsc::Sender<Vec<(Waiter, i64)>>,
    task: tokio::task::JoinHandle<()>,
}

impl Flusher {
    async fn start(options: &PgConnectOptions) -> Result<Flusher, StoreError> {
        let conn = flusher_connect(options).await?;
        let options = options.clone();
        let (tx, mut rx) = mpsc::channel::<Vec<(Waiter, i64)>>(QUEUE_DEPTH);
        let task = tokio::spawn(async move {
            let mut conn = Some(conn);
            while let Some(mut group) = rx.recv().await {
                while let Ok(more) = rx.try_recv() {
                    group.extend(more);
                }
                let result = async {
                    let live = match &mut conn {
                        Some(live) => live,
                        None => conn.insert(flusher_connect(&options).await?),
                    };
                    sqlx::query(FLUSH_WAL).execute(&mut *live).await?;
                    Ok::<_, StoreError>(())
                }
                .await;
                match result {
                    Ok(()) => {
                        for (done, seq) in group {
                            let _ = done.send(Ok(seq));
                        }
                    }
                    Err(e) => {
                        tracing::error!(error = %e, records = group.len(), "audit records committed but not flushed; requests waiting on them are refused");
                        conn = None;
                        let message = e.to_string();
                        for (done, _) in group {
                            let _ = done.send(Err(StoreError::Encode(message.clone())));
                        }
                    }
                }
            }
            if let Some(conn) = conn {
                let _ = conn.close().await;
            }
        });
        Ok(Flusher { tx, task })
    }
}

/// Answers the callers of a committed batch: at once, or after the flush when there is a
/// flusher (PostgreSQL with `fsync`, whose appends commit without waiting for the disk).
async fn answer(flusher: Option<&Flusher>, committed: Vec<(Waiter, i64)>) {
    match flusher {
        Some(flusher) => {
            if let Err(mpsc::error::SendError(committed)) = flusher.tx.send(committed).await {
                for (done, _) in committed {
                    let _ = done.send(Err(StoreError::WriterClosed));
                }
            }
        }
        None => {
            for (done, seq) in committed {
                let _ = done.send(Ok(seq));
            }
        }
    }
}

/// What the writer collected for its next commit.
#[derive(Default)]
struct Group {
    batch: Vec<NewEvent>,
    memory: Vec<SessionWrite>,
    /// Each caller waiting, with how many records of the batch are up to and including its own.
    waiters: Vec<(usize, Waiter)>,
}

impl Group {
    fn add(&mut self, events: Vec<NewEvent>, memory: Option<SessionWrite>, done: Option<Waiter>) {
        self.batch.extend(events);
        self.memory.extend(memory);
        if let Some(done) = done {
            self.waiters.push((self.batch.len(), done));
        }
    }

    /// Commits the batch (and writes the session memory beside it) and answers its waiters,
    /// or refuses them all; the group is empty afterwards.
    async fn commit(
        &mut self,
        conn: &mut Writer,
        head: &mut Option<(i64, String)>,
        flusher: Option<&Flusher>,
        observer: Option<&dyn CommitObserver>,
        recent: &crate::trace_index::RecentFacts,
    ) {
        if self.batch.is_empty() {
            return;
        }
        let Group {
            batch,
            memory,
            waiters,
        } = std::mem::take(self);
        let started = std::time::Instant::now();
        let result = conn.commit(&batch, head).await;
        if let Some(observer) = observer {
            observer.committed(batch.len(), started.elapsed(), result.is_ok());
        }
        match result {
            Ok(first_seq) => {
                // Before the waiters hear of the commit: a caller that has its answer finds the
                // session as it left it.
                if !memory.is_empty()
                    && let Err(e) = conn.remember(&memory).await
                {
                    tracing::warn!(error = %e, sessions = memory.len(), "session memory not written");
                }
                let committed = waiters
                    .into_iter()
                    .map(|(upto, done)| (done, first_seq + upto as i64 - 1))
                    .collect();
                answer(flusher, committed).await;
                // After the callers have their answer: the index can wait, they cannot.
                recent.remember(first_seq, batch);
            }
            Err(e) => {
                tracing::error!(error = %e, records = batch.len(), "audit commit failed; requests waiting on it are refused");
                let message = e.to_string();
                for (_, done) in waiters {
                    let _ = done.send(Err(StoreError::Encode(message.clone())));
                }
            }
        }
    }
}

async fn writer(
    mut conn: Writer,
    mut rx: mpsc::Receiver<Command>,
    flusher: Option<Flusher>,
    observer: Option<std::sync::Arc<dyn CommitObserver>>,
    recent: std::sync::Arc<crate::trace_index::RecentFacts>,
) {
    // The chain head as this writer last wrote it; re-read when another writer moved it.
    let mut head: Option<(i64, String)> = None;
    let mut group = Group::default();
    // Every commit goes the same way: chained onto the head, flushed where the store needs it,
    // counted, and remembered for the console's index.
    macro_rules! commit {
        ($group:expr) => {
            $group.commit(
                &mut conn,
                &mut head,
                flusher.as_ref(),
                observer.as_deref(),
                &recent,
            )
        };
    }
    let mut stop: Option<oneshot::Sender<()>> = None;
    while let Some(first) = rx.recv().await {
        // Let the requests already running reach their own appends first: one commit for
        // all of them costs about what one commit for the first would.
        tokio::task::yield_now().await;
        let mut next = Some(first);
        // Take everything already queued: the group in one commit.
        while let Some(command) = next.take() {
            match command {
                Command::Append { events, memory, done } => group.add(events, memory, done),
                Command::Shutdown(done) => {
                    stop = Some(done);
                    break;
                }
                Command::Probe(done) => {
                    // Behind the records queued before it, as a commit would be.
                    commit!(group).await;
                    let _ = done.send(conn.probe().await);
                }
                Command::Index(batch, done) => {
                    commit!(group).await;
                    let _ = done.send(conn.index(&batch).await);
                }
            }
            if group.batch.len() >= MAX_BATCH {
                break;
            }
            next = rx.try_recv().ok();
        }
        commit!(group).await;
        if let Some(done) = stop.take() {
            // Whatever was queued behind the shutdown still gets written.
            rx.close();
            while let Ok(command) = rx.try_recv() {
                if let Command::Append { events, memory, done } = command {
                    group.add(events, memory, done);
                }
            }
            commit!(group).await;
            if let Some(flusher) = flusher {
                drop(flusher.tx);
                let _ = flusher.task.await;
            }
            conn.close().await;
            let _ = done.send(());
            return;
        }
    }
}

/// The writer's own connection: appends never wait for a pooled connection.
enum Writer {
    Sqlite {
        conn: SqliteConnection,
        /// The trail is `fsync` (`synchronous = FULL`), which the index's runs step out of.
        fsync: bool,
    },
    Postgres {
        /// `None` after the connection was lost: the next commit opens a new one.
        conn: Option<PgConnection>,
        options: Box<PgConnectOptions>,
    },
}

/// The flusher's session: its flushes must wait for the disk whatever the server's default.
async fn flusher_connect(options: &PgConnectOptions) -> Result<PgConnection, StoreError> {
    let mut conn = PgConnection::connect_with(options).await?;
    sqlx::query("SET synchronous_commit = on")
        .execute(&mut conn)
        .await?;
    Ok(conn)
}

/// SQLite's multi-row INSERT for `n` records.
fn insert_sql(n: usize) -> String {
    let mut sql = String::with_capacity(100 + n * 48);
    sql.push_str(
        "INSERT INTO audit_events (seq, trace_id, ts, stage, actor, payload, prev_hash, hash) VALUES ",
    );
    for i in 0..n {
        let b = i * 8;
        if i > 0 {
            sql.push_str(", ");
        }
        use std::fmt::Write as _;
        let _ = write!(
            sql,
            "(${}, ${}, ${}, ${}, ${}, ${}, ${}, ${})",
            b + 1,
            b + 2,
            b + 3,
            b + 4,
            b + 5,
            b + 6,
            b + 7,
            b + 8
        );
    }
    sql
}

const READ_HEAD: &str = "SELECT seq, hash FROM audit_head WHERE id = 1";

/// PostgreSQL's append: one call of `warden_audit_append` (migration 3), which locks the
/// chain head row, chains the records onto it and inserts them, all on the server. The server
/// computes the same [`chain_hash`] (`warden audit verify` checks every record in Rust).
/// Returns the first seq.
///
/// The head's lock is what serializes replicas, so it is held as briefly as possible: the
/// append commits without waiting for the disk. With `fsync` durability its callers are
/// answered after a [`Flusher`] has seen the WAL flushed past that commit, with no lock held:
/// the flushes of several replicas overlap and PostgreSQL writes them as one, instead of each
/// replica flushing in turn while the others wait for the lock; and the next append does not
/// wait for the last one's flush. (`bench/fleet.sh` with a 2 ms flush measured two replicas at
/// about 2 to 2.5 times the throughput of flushing inside the lock.)
async fn pg_append(conn: &mut PgConnection, batch: &[NewEvent]) -> Result<i64, StoreError> {
    let payloads = batch
        .iter()
        .map(|e| serde_json::to_string(&e.payload))
        .collect::<Result<Vec<String>, _>>()
        .map_err(|e| StoreError::Encode(e.to_string()))?;
    let column = |field: fn(&NewEvent) -> &str| batch.iter().map(field).collect::<Vec<&str>>();
    let first: i64 = sqlx::query_scalar("SELECT warden_audit_append($1, $2, $3, $4, $5)")
        .bind(column(|e| &e.trace_id))
        .bind(column(|e| &e.ts))
        .bind(column(|e| &e.stage))
        .bind(column(|e| &e.actor))
        .bind(&payloads)
        .fetch_one(&mut *conn)
        .await?;
    Ok(first)
}

/// A transaction that writes one WAL record (a logical message no consumer needs) and so
/// commits with a flush: with `synchronous_commit = on` it returns once the WAL is on disk up
/// to its own commit, and so past every append this session committed before it.
const FLUSH_WAL: &str = "SELECT pg_logical_emit_message(true, 'warden.flush', '')";

/// The probe's record: inserted and rolled back, never committed.
const PROBE_INSERT: &str =
    "INSERT INTO audit_events (seq, trace_id, ts, stage, actor, payload, prev_hash, hash)
     VALUES (-1, '-', '', 'probe', 'warden', '{}', '', '')";
const PROBE_HEALTH: &str = "INSERT INTO warden_health (id, probe_ms) VALUES (1, $1)
     ON CONFLICT (id) DO UPDATE SET probe_ms = excluded.probe_ms";

impl Writer {
    /// Writes what sessions now hold, the latest write of each session winning.
    async fn remember(&mut self, writes: &[SessionWrite]) -> Result<(), StoreError> {
        let mut latest: Vec<&SessionWrite> = Vec::with_capacity(writes.len());
        for write in writes.iter().rev() {
            if !latest.iter().any(|w| w.session == write.session) {
                latest.push(write);
            }
        }
        let sql = crate::sessions::upsert_sql(latest.len());
        // The same statement on both engines, typed for each.
        macro_rules! run {
            ($conn:expr) => {{
                let mut query = sqlx::query(&sql);
                for write in &latest {
                    query = query
                        .bind(&write.session)
                        .bind(&write.turns)
                        .bind(write.updated_ms);
                }
                query.execute($conn).await?;
            }};
        }
        match self {
            Writer::Sqlite { conn, .. } => run!(&mut *conn),
            Writer::Postgres { conn: Some(conn), .. } => run!(&mut *conn),
            Writer::Postgres { conn: None, .. } => return Err(StoreError::WriterClosed),
        }
        Ok(())
    }

    /// Writes a run of the trail's search index.
    ///
    /// The index is derived from the trail and rebuilt from it, so on SQLite its runs commit
    /// without waiting for the disk even when the trail is `fsync`: the next append's sync
    /// carries them, and a run never costs the appends queued behind it an extra sync.
    async fn index(&mut self, batch: &crate::trace_index::IndexBatch) -> Result<u64, StoreError> {
        Ok(match self {
            Writer::Sqlite { conn, fsync } => {
                if !*fsync {
                    crate::trace_index::write_index!(&mut *conn, batch, false)
                } else {
                    sqlx::query("PRAGMA synchronous = NORMAL")
                        .execute(&mut *conn)
                        .await?;
                    let written = async {
                        Ok::<_, StoreError>(crate::trace_index::write_index!(&mut *conn, batch, false))
                    }
                    .await;
                    // Whatever the run did, the trail's own commits go back to waiting for the disk.
                    sqlx::query("PRAGMA synchronous = FULL")
                        .execute(&mut *conn)
                        .await?;
                    written?
                }
            }
            Writer::Postgres { conn, options } => {
                let live = match conn {
                    Some(live) => live,
                    None => conn.insert(PgConnection::connect_with(options).await?),
                };
                crate::trace_index::write_index!(&mut *live, batch, true)
            }
        })
    }

    async fn probe(&mut self) -> Result<(), StoreError> {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as i64)
            .unwrap_or(0);
        match self {
            Writer::Sqlite { conn, .. } => {
                let mut tx = conn.begin().await?;
                sqlx::query(PROBE_INSERT).execute(&mut *tx).await?;
                tx.rollback().await?;
                sqlx::query(PROBE_HEALTH).bind(now).execute(&mut *conn).await?;
            }
            Writer::Postgres { conn, options } => {
                let live = match conn {
                    Some(live) => live,
                    None => conn.insert(PgConnection::connect_with(options).await?),
                };
                let result = async {
                    let mut tx = live.begin().await?;
                    sqlx::query(PROBE_INSERT).execute(&mut *tx).await?;
                    tx.rollback().await?;
                    sqlx::query(PROBE_HEALTH).bind(now).execute(&mut *live).await?;
                    Ok::<_, StoreError>(())
                }
                .await;
                if result.is_err() && live.ping().await.is_err() {
                    *conn = None;
                }
                result?;
            }
        }
        Ok(())
    }

    /// Appends `batch` chained onto the head of the trail; returns the first seq.
    ///
    /// On SQLite the head is cached between commits, and the INSERT with it is one atomic
    /// statement (a trigger moves the head row with it). If another process on the same file
    /// appended meanwhile, the cached head is stale and the INSERT collides on `seq`, the
    /// primary key; nothing is written and the batch is chained afresh. On PostgreSQL the
    /// server chains the batch under the head row's lock ([`pg_append`]).
    async fn commit(
        &mut self,
        batch: &[NewEvent],
        head: &mut Option<(i64, String)>,
    ) -> Result<i64, StoreError> {
        match self {
            Writer::Sqlite { conn, .. } => {
                let sql = insert_sql(batch.len());
                for attempt in 0..3 {
                    let (start_seq, start_hash) = match head.take() {
                        Some(h) if attempt == 0 => h,
                        _ => sqlx::query_as(READ_HEAD)
                            .fetch_optional(&mut *conn)
                            .await?
                            .unwrap_or((0, GENESIS_HASH.to_string())),
                    };
                    let (rows, new_head) = chain_rows(batch, start_seq, &start_hash)?;
                    let mut query = sqlx::query(&sql);
                    for row in rows {
                        query = query
                            .bind(row.seq)
                            .bind(&row.event.trace_id)
                            .bind(&row.event.ts)
                            .bind(&row.event.stage)
                            .bind(&row.event.actor)
                            .bind(row.payload)
                            .bind(row.prev_hash)
                            .bind(row.hash);
                    }
                    match query.execute(&mut *conn).await {
                        Ok(_) => {
                            *head = Some(new_head);
                            return Ok(start_seq + 1);
                        }
                        Err(sqlx::Error::Database(e)) if e.is_unique_violation() => continue,
                        Err(e) => return Err(e.into()),
                    }
                }
                Err(StoreError::Encode(
                    "the chain head kept moving; another writer is appending".into(),
                ))
            }
            Writer::Postgres { conn, options } => {
                let live = match conn {
                    Some(live) => live,
                    None => conn.insert(PgConnection::connect_with(options).await?),
                };
                let result = pg_append(live, batch).await;
                // A database restart or a dropped connection must not stop the trail for good:
                // the batch is refused, and the next one goes over a new connection.
                if result.is_err() && live.ping().await.is_err() {
                    tracing::warn!(
                        "audit writer lost its database connection; reconnecting for the next commit"
                    );
                    *conn = None;
                }
                result
            }
        }
    }

    async fn close(self) {
        let _ = match self {
            Writer::Sqlite { conn, .. } => conn.close().await,
            Writer::Postgres { conn: Some(conn), .. } => conn.close().await,
            Writer::Postgres { conn: None, .. } => Ok(()),
        };
    }
}

/// One record ready to insert.
struct ChainedRow<'a> {
    seq: i64,
    event: &'a NewEvent,
    payload: String,
    prev_hash: String,
    hash: String,
}

/// The records of `batch` chained onto (`seq`, `hash`), and the head they leave.
fn chain_rows<'a>(
    batch: &'a [NewEvent],
    start_seq: i64,
    start_hash: &str,
) -> Result<(Vec<ChainedRow<'a>>, (i64, String)), StoreError> {
    let mut seq = start_seq;
    let mut prev = start_hash.to_string();
    let mut rows = Vec::with_capacity(batch.len());
    for event in batch {
        seq += 1;
        let payload = serde_json::to_string(&event.payload).map_err(|e| StoreError::Encode(e.to_string()))?;
        let hash = chain_hash(
            &prev,
            seq,
            &event.trace_id,
            &event.ts,
            &event.stage,
            &event.actor,
            &payload,
        );
        let prev_hash = std::mem::replace(&mut prev, hash.clone());
        rows.push(ChainedRow {
            seq,
            event,
            payload,
            prev_hash,
            hash,
        });
    }
    Ok((rows, (seq, prev)))
}

fn record_from_row(row: &sqlx::any::AnyRow) -> Result<AuditRecord, StoreError> {
    let payload: String = row.try_get(5)?;
    Ok(AuditRecord {
        seq: row.try_get(0)?,
        trace_id: row.try_get(1)?,
        ts: row.try_get(2)?,
        stage: row.try_get(3)?,
        actor: row.try_get(4)?,
        // A payload that is not JSON (tampering) is still shown, as a string.
        payload: serde_json::from_str(&payload).unwrap_or(serde_json::Value::String(payload)),
        prev_hash: row.try_get(6)?,
        hash: row.try_get(7)?,
    })
}

const SELECT_RECORDS: &str =
    "SELECT seq, trace_id, ts, stage, actor, payload, prev_hash, hash FROM audit_events";

/// Export formats of `warden audit export`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExportFormat {
    Jsonl,
    Csv,
}

impl Store {
    /// Every record of one trace, in chain order.
    pub async fn trace(&self, trace_id: &str) -> Result<Vec<AuditRecord>, StoreError> {
        let rows = sqlx::query(&format!("{SELECT_RECORDS} WHERE trace_id = $1 ORDER BY seq"))
            .bind(trace_id)
            .fetch_all(self.pool())
            .await?;
        rows.iter().map(record_from_row).collect()
    }

    /// The hashes of the records numbered `seqs`, for showing a trace's links in the chain.
    pub async fn record_hashes(
        &self,
        seqs: &[i64],
    ) -> Result<std::collections::HashMap<i64, String>, StoreError> {
        let mut out = std::collections::HashMap::new();
        for chunk in seqs.chunks(500) {
            let placeholders: Vec<String> = (1..=chunk.len()).map(|i| format!("${i}")).collect();
            let sql = format!(
                "SELECT seq, hash FROM audit_events WHERE seq IN ({})",
                placeholders.join(", ")
            );
            let mut query = sqlx::query(&sql);
            for seq in chunk {
                query = query.bind(*seq);
            }
            for row in query.fetch_all(self.pool()).await? {
                out.insert(row.try_get::<i64, _>(0)?, row.try_get::<String, _>(1)?);
            }
        }
        Ok(out)
    }

    /// The `classification` and `executed` records written from `since` up to `until`
    /// (RFC 3339 timestamps, compared as the trail writes them), in chain order: what
    /// `warden usage` adds up. Reads the whole trail: a report, not a request's work.
    pub async fn usage_records(&self, since: &str, until: &str) -> Result<Vec<AuditRecord>, StoreError> {
        let rows = sqlx::query(&format!(
            "{SELECT_RECORDS} WHERE stage IN ('classification', 'executed') AND ts >= $1 AND ts < $2 ORDER BY seq"
        ))
        .bind(since)
        .bind(until)
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(record_from_row).collect()
    }

    /// Number of records in the trail.
    pub async fn audit_len(&self) -> Result<i64, StoreError> {
        Ok(sqlx::query_scalar("SELECT COUNT(*) FROM audit_events")
            .fetch_one(self.pool())
            .await?)
    }

    /// Streams the whole trail to `out`: JSONL (one record a line) or CSV with the tutorial's
    /// columns (`trace_id, ts, stage, payload`) followed by the chain's.
    pub async fn export(&self, format: ExportFormat, out: &mut dyn Write) -> Result<u64, StoreError> {
        let sql = format!("{SELECT_RECORDS} ORDER BY seq");
        let mut rows = sqlx::query(&sql).fetch(self.pool());
        let mut writer = RecordWriter::new(format, out)?;
        while let Some(row) = rows.try_next().await? {
            writer.write(&row)?;
        }
        writer.finish()
    }

    /// Every record of `trace_ids`, in chain order, written as [`Store::export`] writes them;
    /// returns the file and the number of records.
    pub async fn export_traces(
        &self,
        format: ExportFormat,
        trace_ids: &[String],
    ) -> Result<(Vec<u8>, u64), StoreError> {
        let mut records: Vec<(i64, sqlx::any::AnyRow)> = Vec::new();
        for chunk in trace_ids.chunks(500) {
            let placeholders: Vec<String> = (1..=chunk.len()).map(|i| format!("${i}")).collect();
            let sql = format!("{SELECT_RECORDS} WHERE trace_id IN ({})", placeholders.join(", "));
            let mut query = sqlx::query(&sql);
            for id in chunk {
                query = query.bind(id);
            }
            for row in query.fetch_all(self.pool()).await? {
                records.push((row.try_get(0)?, row));
            }
        }
        records.sort_by_key(|(seq, _)| *seq);
        let mut out = Vec::new();
        let mut writer = RecordWriter::new(format, &mut out)?;
        for (_, row) in &records {
            writer.write(row)?;
        }
        let count = writer.finish()?;
        Ok((out, count))
    }
}

/// Writes records in an export format: the one place the columns are named.
enum RecordWriter<'a> {
    Jsonl(&'a mut dyn Write, u64),
    Csv(Box<csv::Writer<&'a mut dyn Write>>, u64),
}

fn export_err(e: &dyn std::fmt::Display) -> StoreError {
    StoreError::Export(e.to_string())
}

impl<'a> RecordWriter<'a> {
    fn new(format: ExportFormat, out: &'a mut dyn Write) -> Result<RecordWriter<'a>, StoreError> {
        Ok(match format {
            ExportFormat::Jsonl => RecordWriter::Jsonl(out, 0),
            ExportFormat::Csv => {
                let mut w = csv::Writer::from_writer(out);
                w.write_record([
                    "trace_id",
                    "ts",
                    "stage",
                    "payload",
                    "seq",
                    "actor",
                    "prev_hash",
                    "hash",
                ])
                .map_err(|e| export_err(&e))?;
                RecordWriter::Csv(Box::new(w), 0)
            }
        })
    }

    /// Writes one row of `SELECT_RECORDS`; CSV keeps the payload exactly as stored, so the
    /// chain can be re-hashed from the file.
    fn write(&mut self, row: &sqlx::any::AnyRow) -> Result<(), StoreError> {
        match self {
            RecordWriter::Jsonl(out, count) => {
                serde_json::to_writer(&mut **out, &record_from_row(row)?).map_err(|e| export_err(&e))?;
                out.write_all(b"\n").map_err(|e| export_err(&e))?;
                *count += 1;
            }
            RecordWriter::Csv(w, count) => {
                let seq: i64 = row.try_get(0)?;
                let fields: [String; 7] = [
                    row.try_get(1)?,
                    row.try_get(2)?,
                    row.try_get(3)?,
                    row.try_get(5)?,
                    row.try_get(4)?,
                    row.try_get(6)?,
                    row.try_get(7)?,
                ];
                let seq = seq.to_string();
                w.write_record([
                    &fields[0], &fields[1], &fields[2], &fields[3], &seq, &fields[4], &fields[5], &fields[6],
                ])
                .map_err(|e| export_err(&e))?;
                *count += 1;
            }
        }
        Ok(())
    }

    fn finish(self) -> Result<u64, StoreError> {
        match self {
            RecordWriter::Jsonl(out, count) => {
                out.flush().map_err(|e| export_err(&e))?;
                Ok(count)
            }
            RecordWriter::Csv(mut w, count) => {
                w.flush().map_err(|e| export_err(&e))?;
                Ok(count)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::on_both_engines;

    fn ev(trace: &str, stage: &str) -> NewEvent {
        NewEvent::now(trace, stage, "tester", serde_json::json!({"k": stage}))
    }

    async fn append_each(store: &Store, n: usize) {
        let log = AuditLog::start(store).await.unwrap();
        for i in 0..n {
            log.append(vec![ev(&format!("t{i}"), "classification")])
                .await
                .unwrap();
        }
        log.shutdown().await;
    }

    #[tokio::test]
    async fn the_trail_outlives_a_lost_database_connection() {
        crate::testing::with_store("postgres", |store| async move {
            let log = AuditLog::start(&store).await.unwrap();
            log.append(vec![ev("before", "classification")]).await.unwrap();
            // What a database restart or a failover does to every session of this database.
            let terminated: i64 = sqlx::query_scalar(
                "SELECT COUNT(pg_terminate_backend(pid)) FROM pg_stat_activity
                 WHERE datname = current_database() AND pid <> pg_backend_pid()",
            )
            .fetch_one(store.pool())
            .await
            .unwrap();
            assert!(terminated >= 1, "the writer's session was among them");
            // The batch in flight when the connection went may be refused; the trail goes on.
            let _ = log.append(vec![ev("during", "classification")]).await;
            let mut recovered = false;
            for _ in 0..50 {
                if log.append(vec![ev("after", "classification")]).await.is_ok() {
                    recovered = true;
                    break;
                }
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            }
            assert!(recovered, "the writer reconnected");
            log.shutdown().await;
            let report = store.verify_chain().await.unwrap();
            assert!(report.ok(), "{report:?}");
            assert_eq!(store.trace("after").await.unwrap().len(), 1);
        })
        .await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn replicas_appending_with_fsync_durability_share_one_chain() {
        // Two writers with `fsync` durability: appends queue on the head's lock and every
        // caller is answered after the separate WAL flush.
        let db = crate::testing::TestDatabase::postgres().await;
        let store = Store::open(db.url(), Durability::Fsync).await.unwrap();
        let a = AuditLog::start(&store).await.unwrap();
        let b = AuditLog::start(&store).await.unwrap();
        // Eight callers per writer, each appending one record after another: the writers keep
        // meeting at the lock for the whole run.
        let mut tasks = Vec::new();
        for caller in 0..16 {
            let log = if caller % 2 == 0 { a.clone() } else { b.clone() };
            tasks.push(tokio::spawn(async move {
                let mut seqs = Vec::new();
                for i in 0..20 {
                    let record = ev(&format!("f{caller}-{i}"), "classification");
                    seqs.push(log.append(vec![record]).await.unwrap());
                }
                seqs
            }));
        }
        let mut seqs = Vec::new();
        for t in tasks {
            seqs.extend(t.await.unwrap());
        }
        a.shutdown().await;
        b.shutdown().await;
        seqs.sort_unstable();
        assert_eq!(
            seqs,
            (1..=320).collect::<Vec<i64>>(),
            "every append answered with its own seq"
        );
        let report = store.verify_chain().await.unwrap();
        assert!(report.ok(), "{report:?}");
        assert_eq!(report.records, 320);
        store.close().await;
        db.drop_database().await.unwrap();
    }

    on_both_engines! {
        async fn the_probe_writes_nothing_to_the_chain_and_fails_when_the_trail_would(s: Store) {
            let log = AuditLog::start(&s).await.unwrap();
            log.append(vec![ev("t", "classification")]).await.unwrap();
            log.probe().await.unwrap();
            assert_eq!(s.audit_len().await.unwrap(), 1);
            assert!(s.verify_chain().await.unwrap().ok());
            // Every insert into the trail now fails, as it would on a full disk.
            let trigger = if s.is_postgres() {
                "CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'disk full'; END $$;
                 CREATE TRIGGER disk_full BEFORE INSERT ON audit_events FOR EACH ROW EXECUTE FUNCTION refuse();"
            } else {
                "CREATE TRIGGER disk_full BEFORE INSERT ON audit_events BEGIN SELECT RAISE(ABORT, 'disk full'); END;"
            };
            sqlx::raw_sql(trigger).execute(s.pool()).await.unwrap();
            assert!(log.probe().await.is_err());
            let drop = if s.is_postgres() {
                "DROP TRIGGER disk_full ON audit_events"
            } else {
                "DROP TRIGGER disk_full"
            };
            sqlx::raw_sql(drop).execute(s.pool()).await.unwrap();
            log.probe().await.unwrap();
            log.shutdown().await;
        }

        async fn concurrent_appends_form_one_verifiable_chain(store: Store) {
            let log = AuditLog::start(&store).await.unwrap();
            let mut tasks = Vec::new();
            for i in 0..50 {
                let log = log.clone();
                tasks.push(tokio::spawn(async move {
                    log.append(vec![
                        ev(&format!("t{i}"), "classification"),
                        ev(&format!("t{i}"), "executed"),
                    ])
                    .await
                }));
            }
            for t in tasks {
                t.await.unwrap().unwrap();
            }
            log.append_detached(vec![ev("late", "executed")]);
            log.shutdown().await;
            let report = store.verify_chain().await.unwrap();
            assert!(report.ok(), "{report:?}");
            assert_eq!(report.records, 101);
            assert_eq!(store.trace("t7").await.unwrap().len(), 2);
        }

        async fn writers_racing_on_one_trail_leave_one_chain(store: Store) {
            // Two writers (two replicas, or two processes on one file), each with its own
            // cached head, appending at once.
            let a = AuditLog::start(&store).await.unwrap();
            let b = AuditLog::start(&store).await.unwrap();
            let mut tasks = Vec::new();
            for i in 0..200 {
                let log = if i % 2 == 0 { a.clone() } else { b.clone() };
                tasks.push(tokio::spawn(async move {
                    log.append(vec![ev(&format!("r{i}"), "classification"), ev(&format!("r{i}"), "executed")])
                        .await
                }));
            }
            let mut seqs = Vec::new();
            for t in tasks {
                seqs.push(t.await.unwrap().unwrap());
            }
            a.shutdown().await;
            b.shutdown().await;
            seqs.sort_unstable();
            seqs.dedup();
            assert_eq!(seqs.len(), 200, "every append got its own place in the chain");
            let report = store.verify_chain().await.unwrap();
            assert!(report.ok(), "{report:?}");
            assert_eq!(report.records, 400);
            for i in [0, 77, 199] {
                let stages: Vec<String> = store
                    .trace(&format!("r{i}"))
                    .await
                    .unwrap()
                    .into_iter()
                    .map(|r| r.stage)
                    .collect();
                assert_eq!(stages, ["classification", "executed"], "a batch stays in order");
            }
        }

        async fn any_text_hashes_the_same_on_every_engine(store: Store) {
            // Multi-byte text, quotes, backslashes and escapes: the server's hash (PostgreSQL)
            // and the writer's (SQLite) must both match what `verify` recomputes in Rust.
            let log = AuditLog::start(&store).await.unwrap();
            let odd = "ünïcødé — 漢字 🙂 \"quoted\" back\\slash \u{0007} tab\t";
            log.append(vec![
                NewEvent::now(odd, odd, odd, serde_json::json!({"text": odd, "nul": "a\u{0000}b"})),
                NewEvent::now("", "", "", serde_json::json!(null)),
            ])
            .await
            .unwrap();
            log.shutdown().await;
            let report = store.verify_chain().await.unwrap();
            assert!(report.ok(), "{report:?}");
            let record = &store.trace(odd).await.unwrap()[0];
            assert_eq!(record.payload["text"], odd);
            assert_eq!(
                record.hash,
                chain_hash(GENESIS_HASH, 1, odd, &record.ts, odd, odd, &serde_json::to_string(&record.payload).unwrap())
            );
        }

        async fn verifying_while_gateways_append_sees_one_consistent_trail(store: Store) {
            let log = AuditLog::start(&store).await.unwrap();
            append_each(&store, 50).await;
            let writer = {
                let log = log.clone();
                tokio::spawn(async move {
                    for i in 0..400 {
                        log.append(vec![ev(&format!("w{i}"), "classification"), ev(&format!("w{i}"), "executed")])
                            .await
                            .unwrap();
                    }
                })
            };
            let mut verified = 0;
            while !writer.is_finished() {
                let report = store.verify_chain().await.unwrap();
                assert!(report.ok(), "a trail being appended to was judged broken: {report:?}");
                verified += 1;
            }
            writer.await.unwrap();
            log.shutdown().await;
            assert!(verified > 1, "verified {verified} times during the appends");
            assert_eq!(store.verify_chain().await.unwrap().records, 850);
        }

        async fn a_modified_record_is_found_and_named(store: Store) {
            append_each(&store, 5).await;
            assert!(store.verify_chain().await.unwrap().ok());
            sqlx::query("UPDATE audit_events SET payload = '{\"k\":\"forged\"}' WHERE seq = 3")
                .execute(store.pool())
                .await
                .unwrap();
            let report = store.verify_chain().await.unwrap();
            let bad = report.first_bad.unwrap();
            assert_eq!(bad.seq, 3);
            assert!(bad.problem.contains("modified"), "{}", bad.problem);
        }

        async fn a_truncated_tail_is_caught_by_the_head_row(store: Store) {
            append_each(&store, 3).await;
            sqlx::query("DELETE FROM audit_events WHERE seq = 3")
                .execute(store.pool())
                .await
                .unwrap();
            let report = store.verify_chain().await.unwrap();
            assert!(report.first_bad.unwrap().problem.contains("removed from the end"));
        }

        async fn any_single_byte_change_breaks_verification(store: Store) {
            append_each(&store, 3).await;
            for seq in 1..=3i64 {
                for column in ["trace_id", "ts", "stage", "actor", "payload", "prev_hash", "hash"] {
                    let original: String =
                        sqlx::query_scalar(&format!("SELECT {column} FROM audit_events WHERE seq = $1"))
                            .bind(seq)
                            .fetch_one(store.pool())
                            .await
                            .unwrap();
                    for at in [0, original.len() / 2, original.len() - 1] {
                        let mut bytes = original.clone().into_bytes();
                        bytes[at] = if bytes[at] == b'0' { b'1' } else { b'0' };
                        let changed = String::from_utf8(bytes).unwrap();
                        let set = format!("UPDATE audit_events SET {column} = $1 WHERE seq = $2");
                        sqlx::query(&set)
                            .bind(&changed)
                            .bind(seq)
                            .execute(store.pool())
                            .await
                            .unwrap();
                        let report = store.verify_chain().await.unwrap();
                        let bad = report
                            .first_bad
                            .unwrap_or_else(|| panic!("{column}[{at}] of {seq} changed unnoticed"));
                        assert!(bad.seq <= seq + 1, "{column} of {seq}: reported {}", bad.seq);
                        sqlx::query(&set)
                            .bind(&original)
                            .bind(seq)
                            .execute(store.pool())
                            .await
                            .unwrap();
                    }
                }
            }
            assert!(store.verify_chain().await.unwrap().ok());
        }

        async fn exports_jsonl_and_csv(store: Store) {
            let log = AuditLog::start(&store).await.unwrap();
            log.append(vec![ev("t1", "classification"), ev("t1", "executed")])
                .await
                .unwrap();
            log.shutdown().await;
            let mut jsonl = Vec::new();
            assert_eq!(store.export(ExportFormat::Jsonl, &mut jsonl).await.unwrap(), 2);
            let first: serde_json::Value =
                serde_json::from_str(String::from_utf8(jsonl).unwrap().lines().next().unwrap()).unwrap();
            assert_eq!(first["stage"], "classification");
            assert_eq!(first["payload"]["k"], "classification");
            let mut csv_out = Vec::new();
            store.export(ExportFormat::Csv, &mut csv_out).await.unwrap();
            let text = String::from_utf8(csv_out).unwrap();
            assert!(
                text.starts_with("trace_id,ts,stage,payload,seq,actor,prev_hash,hash\n"),
                "{text}"
            );
            assert_eq!(text.lines().count(), 3);
        }

        async fn migrating_again_changes_nothing(store: Store) {
            let version = store.migrate().await.unwrap();
            assert_eq!(store.migrate().await.unwrap(), version);
            assert!(version >= 3);
            assert_eq!(store.audit_len().await.unwrap(), 0);
            assert!(store.verify_chain().await.unwrap().ok(), "an empty trail verifies");
        }
    }
}
