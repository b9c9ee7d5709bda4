//! The audit trail's hash chain: how a record's hash is computed, and how the trail is
//! verified so that any modified, deleted, inserted or reordered record is found, either whole
//! or from an anchor (a record known good and its hash) onwards.

use std::str::FromStr;

use futures_util::TryStreamExt;
use sha2::{Digest, Sha256};
use sqlx::postgres::PgConnectOptions;
use sqlx::{ConnectOptions, Connection, PgConnection, Row};
use tokio::sync::mpsc;

use crate::{Engine, Store, StoreError};

/// The `prev_hash` of the first record.
pub const GENESIS_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// SHA-256 over a length-prefixed encoding of the record and its predecessor's hash.
///
/// Length prefixes make the encoding unambiguous: no shifting of bytes between fields can
/// produce the same input. The payload is hashed as the exact text stored.
pub fn chain_hash(
    prev_hash: &str,
    seq: i64,
    trace_id: &str,
    ts: &str,
    stage: &str,
    actor: &str,
    payload: &str,
) -> String {
    let digest = chain_digest(
        seq,
        [
            prev_hash.as_bytes(),
            trace_id.as_bytes(),
            ts.as_bytes(),
            stage.as_bytes(),
            actor.as_bytes(),
            payload.as_bytes(),
        ],
    );
    hex(&digest)
}

/// [`chain_hash`] of the fields prev_hash, trace_id, ts, stage, actor and payload, in that
/// order, as raw bytes.
fn chain_digest(seq: i64, fields: [&[u8]; 6]) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(b"warden.audit.v1\0");
    h.update(seq.to_be_bytes());
    for field in fields {
        h.update((field.len() as u64).to_be_bytes());
        h.update(field);
    }
    h.finalize().into()
}

const HEX_DIGITS: &[u8; 16] = b"0123456789abcdef";

pub(crate) fn hex(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(HEX_DIGITS[(b >> 4) as usize] as char);
        s.push(HEX_DIGITS[(b & 0xf) as usize] as char);
    }
    s
}

/// Whether `stored` is the lowercase hex of `digest`, without allocating.
fn hex_matches(digest: &[u8; 32], stored: &[u8]) -> bool {
    stored.len() == 64
        && digest.iter().zip(stored.chunks_exact(2)).all(|(b, pair)| {
            pair[0] == HEX_DIGITS[(b >> 4) as usize] && pair[1] == HEX_DIGITS[(b & 0xf) as usize]
        })
}

/// A point of the chain known to be good: record `seq` carries `hash`. Verification from an
/// anchor checks that the record still carries it, then walks only the records after it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Anchor {
    pub seq: i64,
    pub hash: String,
}

impl Anchor {
    /// The start of every chain: no record, the genesis hash. Verifying from it is the full walk.
    pub fn genesis() -> Anchor {
        Anchor {
            seq: 0,
            hash: GENESIS_HASH.to_string(),
        }
    }
}

impl FromStr for Anchor {
    type Err = String;

    /// `SEQ:HASH`, as `warden audit verify` prints a chain head: `650000:0bcd9e3b...`.
    fn from_str(s: &str) -> Result<Anchor, String> {
        let (seq, hash) = s
            .split_once(':')
            .ok_or_else(|| format!("`{s}` is not SEQ:HASH (a record's seq, a colon, its 64-digit hash)"))?;
        let seq: i64 = seq
            .trim()
            .parse()
            .map_err(|_| format!("`{seq}` is not a record's seq"))?;
        let hash = hash.trim().to_ascii_lowercase();
        if hash.len() != 64 || !hash.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(format!("`{hash}` is not a chain hash (64 hex digits)"));
        }
        if seq < 0 || (seq == 0 && hash != GENESIS_HASH) {
            return Err(format!(
                "record {seq} cannot be an anchor (seq 0 is the genesis, whose hash is all zeros)"
            ));
        }
        Ok(Anchor { seq, hash })
    }
}

impl crate::Verification {
    /// Where the next incremental verification can start: the head this one found, if it
    /// found the chain intact and recorded its head.
    pub fn anchor(&self) -> Option<Anchor> {
        match &self.head {
            Some(hash) if self.ok => Some(Anchor {
                seq: self.records,
                hash: hash.clone(),
            }),
            _ => None,
        }
    }
}

/// The result of walking the chain.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct VerifyReport {
    /// Records read (after the anchor, when verified from one).
    pub records: u64,
    /// Hash of the last good record.
    pub head: String,
    /// The first record that breaks the chain, and how.
    pub first_bad: Option<BadRecord>,
    /// The record the walk started after: 0 for a full walk, else the anchor's seq.
    pub after_seq: i64,
}

/// Where and how the chain breaks.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct BadRecord {
    pub seq: i64,
    pub trace_id: String,
    pub problem: String,
}

impl VerifyReport {
    pub fn ok(&self) -> bool {
        self.first_bad.is_none()
    }

    /// The seq of the last good record: the chain head's, when the chain is intact.
    pub fn last_seq(&self) -> i64 {
        self.after_seq
            .saturating_add(i64::try_from(self.records).unwrap_or(i64::MAX))
    }
}

/// Every column of a record, in the order the walk reads them, from seq `$1` on.
const WALK_SQL: &str = "SELECT seq, trace_id, ts, stage, actor, payload, prev_hash, hash FROM audit_events WHERE seq >= $1 ORDER BY seq";

/// The chain head row, read in the walk's snapshot.
const HEAD_SQL: &str = "SELECT seq, hash FROM audit_head WHERE id = 1";

/// How much of a SQLite file the walk reads through a memory map rather than copies
/// (SQLite's own ceiling, 2 GiB; the rest of a larger file is read as usual).
const SQLITE_MMAP_BYTES: i64 = 0x7fff_0000;

impl Store {
    /// Walks the whole audit trail in order and checks every link, then the recorded chain
    /// head.
    ///
    /// The walk and the head are read in one snapshot (a read transaction; REPEATABLE READ on
    /// PostgreSQL), so a trail that gateways keep appending to while it is verified is judged
    /// as it stood at one instant: a head that moved on during the walk is not a removed tail.
    ///
    /// Rows are read on a connection of the engine's own (SQLite's through `rusqlite`, each
    /// column borrowed in place), and their hashes recomputed on other threads while the
    /// reader checks the seqs and links; the first bad record reported is still the first in
    /// chain order.
    pub async fn verify_chain(&self) -> Result<VerifyReport, StoreError> {
        self.verify_chain_from(&Anchor::genesis()).await
    }

    /// [`Store::verify_chain`] from `anchor` on: checks that the anchor's record still carries
    /// the anchor's hash and matches it, then walks only the records after it, then the head.
    ///
    /// The anchor is only as strong as the place it was kept: one read back from the
    /// database being checked ([`crate::Verification::anchor`]) can be rewritten along with
    /// the trail; one kept elsewhere cannot.
    pub async fn verify_chain_from(&self, anchor: &Anchor) -> Result<VerifyReport, StoreError> {
        match self.engine() {
            Engine::Sqlite(options) => {
                let path = options.get_filename().to_path_buf();
                let anchor = anchor.clone();
                tokio::task::spawn_blocking(move || verify_sqlite(&path, &anchor))
                    .await
                    .map_err(|e| StoreError::Incomplete(format!("the reading thread stopped: {e}")))?
            }
            Engine::Postgres(options) => verify_postgres(options, anchor).await,
        }
    }
}

/// The first seq the walk selects: the anchor's own row, whose hash and content are checked;
/// from the genesis, every row, a forged one with a seq below 1 included.
fn first_selected(anchor: &Anchor) -> i64 {
    if anchor.seq > 0 { anchor.seq } else { i64::MIN }
}

/// The walk on SQLite, on a blocking thread: `rusqlite` steps through the rows and hands out
/// each column in place, where sqlx copies every value of every row to another thread.
fn verify_sqlite(path: &std::path::Path, anchor: &Anchor) -> Result<VerifyReport, StoreError> {
    use rusqlite::OpenFlags;
    let mut conn = rusqlite::Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    conn.busy_timeout(std::time::Duration::from_secs(10))?;
    conn.execute_batch(&format!(
        "PRAGMA query_only = ON; PRAGMA mmap_size = {SQLITE_MMAP_BYTES};"
    ))?;
    let mut walk = Walk::new(anchor, hashing_threads());
    // A deferred transaction: the walk and the head row are read in one snapshot.
    let tx = conn.transaction()?;
    {
        let mut statement = tx.prepare(&WALK_SQL.replace("$1", "?1"))?;
        let mut rows = statement.query([first_selected(anchor)])?;
        while let Some(row) = rows.next()? {
            let text = |i: usize| -> Result<&[u8], rusqlite::Error> {
                let value = row.get_ref(i)?;
                value
                    .as_bytes()
                    .map_err(|e| rusqlite::Error::FromSqlConversionFailure(i, value.data_type(), Box::new(e)))
            };
            let fields = [text(6)?, text(1)?, text(2)?, text(3)?, text(4)?, text(5)?];
            match walk.row(row.get(0)?, fields, text(7)?) {
                Step::Next => {}
                Step::Stop => break,
                Step::Full(chunk) => {
                    if !walk.hashers.submit(chunk) {
                        break;
                    }
                }
            }
        }
    }
    let head: Option<(i64, String)> = {
        let mut statement = tx.prepare(HEAD_SQL)?;
        let mut rows = statement.query([])?;
        match rows.next()? {
            Some(row) => Some((row.get(0)?, row.get(1)?)),
            None => None,
        }
    };
    tx.rollback()?;
    if let Some(chunk) = walk.rest() {
        walk.hashers.submit(chunk);
    }
    let mismatch = walk.hashers.wait_blocking()?;
    Ok(walk.report(mismatch, head))
}

/// The walk on PostgreSQL, in one REPEATABLE READ READ ONLY transaction on a connection of
/// its own, each column borrowed from the row as received.
async fn verify_postgres(options: &PgConnectOptions, anchor: &Anchor) -> Result<VerifyReport, StoreError> {
    let options = options.clone().disable_statement_logging();
    let mut conn = PgConnection::connect_with(&options).await?;
    let mut tx = conn.begin().await?;
    sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        .execute(&mut *tx)
        .await?;
    let mut walk = Walk::new(anchor, hashing_threads());
    {
        let mut rows = sqlx::query(WALK_SQL).bind(first_selected(anchor)).fetch(&mut *tx);
        while let Some(row) = rows.try_next().await? {
            let fields = [
                row.try_get::<&str, _>(6)?.as_bytes(),
                row.try_get::<&str, _>(1)?.as_bytes(),
                row.try_get::<&str, _>(2)?.as_bytes(),
                row.try_get::<&str, _>(3)?.as_bytes(),
                row.try_get::<&str, _>(4)?.as_bytes(),
                row.try_get::<&str, _>(5)?.as_bytes(),
            ];
            match walk.row(row.try_get(0)?, fields, row.try_get::<&str, _>(7)?.as_bytes()) {
                Step::Next => {}
                Step::Stop => break,
                Step::Full(chunk) => {
                    if !walk.hashers.submit(chunk) {
                        break;
                    }
                }
            }
        }
    }
    let head: Option<(i64, String)> = sqlx::query_as(HEAD_SQL).fetch_optional(&mut *tx).await?;
    tx.rollback().await?;
    conn.close().await?;
    if let Some(chunk) = walk.rest() {
        walk.hashers.submit(chunk);
    }
    let mismatch = walk.hashers.wait().await?;
    Ok(walk.report(mismatch, head))
}

/// Threads that recompute hashes while the walk reads: all cores but the reader's, at least
/// one, at most four.
fn hashing_threads() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get().saturating_sub(1))
        .unwrap_or(1)
        .clamp(1, 4)
}

/// Records per chunk handed to a hashing thread, and the bytes that close a chunk early.
const CHUNK_ROWS: usize = 1024;
const CHUNK_BYTES: usize = 1 << 19;
/// Chunks queued per hashing thread.
const CHUNKS_QUEUED: usize = 4;

/// Records whose seq and link the walk has checked, waiting for their hashes to be recomputed.
#[derive(Default)]
struct Chunk {
    /// The position in the walk of its first record.
    first: u64,
    /// Per record: its seq, and where in `data` each of its fields ends: the six hashed
    /// (prev_hash, trace_id, ts, stage, actor, payload), then the stored hash.
    rows: Vec<(i64, [usize; 7])>,
    data: Vec<u8>,
}

impl Chunk {
    fn push(&mut self, seq: i64, fields: [&[u8]; 6], hash: &[u8]) {
        let mut ends = [0usize; 7];
        for (end, field) in ends.iter_mut().zip(fields.iter().chain([&hash])) {
            self.data.extend_from_slice(field);
            *end = self.data.len();
        }
        self.rows.push((seq, ends));
    }

    fn is_full(&self) -> bool {
        self.rows.len() >= CHUNK_ROWS || self.data.len() >= CHUNK_BYTES
    }

    /// The first record whose stored hash is not the hash of its content.
    fn first_mismatch(&self) -> Option<Mismatch> {
        let mut start = 0;
        for (i, (seq, ends)) in self.rows.iter().enumerate() {
            let field = |k: usize| {
                let from = if k == 0 { start } else { ends[k - 1] };
                self.data.get(from..ends[k]).unwrap_or_default()
            };
            let digest = chain_digest(*seq, [field(0), field(1), field(2), field(3), field(4), field(5)]);
            if !hex_matches(&digest, field(6)) {
                return Some(Mismatch {
                    position: self.first + i as u64,
                    seq: *seq,
                    trace_id: String::from_utf8_lossy(field(1)).into_owned(),
                    prev_hash: String::from_utf8_lossy(field(0)).into_owned(),
                });
            }
            start = ends[6];
        }
        None
    }
}

/// A record whose stored hash is not the hash of its content.
struct Mismatch {
    /// Its position in the walk: the records verified before it.
    position: u64,
    seq: i64,
    trace_id: String,
    /// The hash of the record before it (its link was checked): the last good head.
    prev_hash: String,
}

/// The threads recomputing hashes, each with its queue of chunks, and what they found.
///
/// A chunk goes to the next thread whose queue has room; when every queue is full, the walk
/// hashes it itself rather than wait, so the reader and the hashers share the cores whichever
/// is faster. Results come back in any order: the first mismatch in chain order is the one
/// with the lowest position. Chunks come back with their results, to be filled again.
struct Hashers {
    queues: Vec<mpsc::Sender<Chunk>>,
    next: usize,
    results: mpsc::UnboundedReceiver<(Option<Mismatch>, Chunk)>,
    sent: u64,
    received: u64,
    first: Option<Mismatch>,
    spare: Vec<Chunk>,
}

impl Hashers {
    /// Starts up to `threads` threads; with none started, the walk hashes every chunk.
    fn start(threads: usize) -> Hashers {
        let (results_tx, results) = mpsc::unbounded_channel();
        let mut queues = Vec::with_capacity(threads);
        for i in 0..threads {
            let (tx, mut rx) = mpsc::channel::<Chunk>(CHUNKS_QUEUED);
            let out = results_tx.clone();
            let spawned = std::thread::Builder::new()
                .name(format!("warden-verify-{i}"))
                .spawn(move || {
                    while let Some(chunk) = rx.blocking_recv() {
                        if out.send((chunk.first_mismatch(), chunk)).is_err() {
                            break;
                        }
                    }
                });
            if spawned.is_ok() {
                queues.push(tx);
            }
        }
        Hashers {
            queues,
            next: 0,
            results,
            sent: 0,
            received: 0,
            first: None,
            spare: Vec::new(),
        }
    }

    fn note(&mut self, found: Option<Mismatch>, mut chunk: Chunk) {
        self.received += 1;
        if let Some(m) = found
            && self.first.as_ref().is_none_or(|f| m.position < f.position)
        {
            self.first = Some(m);
        }
        chunk.rows.clear();
        chunk.data.clear();
        self.spare.push(chunk);
    }

    /// An empty chunk, one that came back if any.
    fn empty_chunk(&mut self) -> Chunk {
        self.spare.pop().unwrap_or_default()
    }

    /// Hands `chunk` to a thread with room for it, or hashes it here; then takes in what the
    /// threads have found so far. False once a record was found modified, after which the
    /// walk need read no further: nothing after it can come first.
    fn submit(&mut self, chunk: Chunk) -> bool {
        self.sent += 1;
        let mut chunk = Some(chunk);
        for _ in 0..self.queues.len() {
            let queue = &self.queues[self.next % self.queues.len()];
            self.next += 1;
            if let Some(c) = chunk.take() {
                chunk = queue.try_send(c).err().map(|refused| match refused {
                    mpsc::error::TrySendError::Full(c) | mpsc::error::TrySendError::Closed(c) => c,
                });
            }
        }
        if let Some(chunk) = chunk {
            let found = chunk.first_mismatch();
            self.note(found, chunk);
        }
        while let Ok((found, chunk)) = self.results.try_recv() {
            self.note(found, chunk);
        }
        self.first.is_none()
    }

    /// Waits for every chunk submitted: the first mismatch in chain order among them.
    async fn wait(&mut self) -> Result<Option<Mismatch>, StoreError> {
        self.queues.clear();
        while self.received < self.sent {
            match self.results.recv().await {
                Some((found, chunk)) => self.note(found, chunk),
                None => break,
            }
        }
        self.outcome()
    }

    /// [`Hashers::wait`] from a thread outside the async runtime.
    fn wait_blocking(&mut self) -> Result<Option<Mismatch>, StoreError> {
        self.queues.clear();
        while self.received < self.sent {
            match self.results.blocking_recv() {
                Some((found, chunk)) => self.note(found, chunk),
                None => break,
            }
        }
        self.outcome()
    }

    fn outcome(&mut self) -> Result<Option<Mismatch>, StoreError> {
        if self.received < self.sent {
            return Err(StoreError::Incomplete(
                "a hashing thread stopped before it checked its records".into(),
            ));
        }
        Ok(self.first.take())
    }
}

/// Where the walk found the chain broken before hashing: a seq out of order, a broken link,
/// or the anchor no longer there.
struct Broken {
    position: u64,
    seq: i64,
    trace_id: String,
    problem: String,
    head: String,
}

/// What the walk does after a row.
enum Step {
    Next,
    /// A chunk is ready for the hashers.
    Full(Chunk),
    /// The chain is broken here: read no further.
    Stop,
}

/// The walk in chain order: checks each record's seq and link as it is read, and gathers the
/// records into chunks whose hashes the hashers recompute.
struct Walk {
    anchor: Anchor,
    /// Whether the anchor's record is still to be read (never, from the genesis).
    awaiting_anchor: bool,
    expected_seq: i64,
    /// The stored hash of the last record read (the anchor's to start with).
    prev: Vec<u8>,
    /// Records read after the anchor.
    position: u64,
    chunk: Chunk,
    hashers: Hashers,
    broken: Option<Broken>,
}

impl Walk {
    fn new(anchor: &Anchor, threads: usize) -> Walk {
        Walk {
            anchor: anchor.clone(),
            awaiting_anchor: anchor.seq > 0,
            expected_seq: anchor.seq.saturating_add(1),
            prev: anchor.hash.as_bytes().to_vec(),
            position: 0,
            chunk: Chunk::default(),
            hashers: Hashers::start(threads),
            broken: None,
        }
    }

    fn prev_text(&self) -> String {
        String::from_utf8_lossy(&self.prev).into_owned()
    }

    fn stop(&mut self, seq: i64, trace_id: &[u8], problem: String) -> Step {
        self.broken = Some(Broken {
            position: self.position,
            seq,
            trace_id: String::from_utf8_lossy(trace_id).into_owned(),
            problem,
            head: self.prev_text(),
        });
        Step::Stop
    }

    /// Takes the next row in seq order.
    fn row(&mut self, seq: i64, fields: [&[u8]; 6], hash: &[u8]) -> Step {
        let trace_id = fields[1];
        if self.awaiting_anchor {
            self.awaiting_anchor = false;
            let at = self.anchor.seq;
            let problem = if seq != at {
                anchor_gone(at)
            } else if hash != self.prev.as_slice() {
                format!(
                    "the anchor changed: record {at} now carries hash {}, not the anchor's {}: the trail was rewritten at or before it",
                    String::from_utf8_lossy(hash),
                    self.anchor.hash
                )
            } else if !hex_matches(&chain_digest(seq, fields), hash) {
                format!(
                    "the anchor changed: record {at}'s hash does not match its content: the record was modified"
                )
            } else {
                return Step::Next;
            };
            let trace_id = if seq == at { trace_id } else { b"" };
            return self.stop(at, trace_id, problem);
        }
        if seq != self.expected_seq {
            let last = self.expected_seq - 1;
            let problem = if seq > self.expected_seq {
                format!("sequence jumps from {last} to {seq}: records deleted")
            } else {
                format!("sequence goes back to {seq} after {last}")
            };
            return self.stop(seq, trace_id, problem);
        }
        if fields[0] != self.prev.as_slice() {
            let problem = "prev_hash does not match the previous record's hash: a record before it was deleted, inserted or reordered".to_string();
            return self.stop(seq, trace_id, problem);
        }
        if self.chunk.rows.is_empty() {
            self.chunk.first = self.position;
        }
        self.chunk.push(seq, fields, hash);
        self.prev.clear();
        self.prev.extend_from_slice(hash);
        self.expected_seq += 1;
        self.position += 1;
        if self.chunk.is_full() {
            let empty = self.hashers.empty_chunk();
            Step::Full(std::mem::replace(&mut self.chunk, empty))
        } else {
            Step::Next
        }
    }

    /// The records read but not yet handed to the hashers.
    fn rest(&mut self) -> Option<Chunk> {
        (!self.chunk.rows.is_empty()).then(|| std::mem::take(&mut self.chunk))
    }

    /// The report, once every record read has been hashed (`mismatch`: the first modified
    /// one), with the head row read in the walk's snapshot.
    fn report(mut self, mismatch: Option<Mismatch>, head: Option<(i64, String)>) -> VerifyReport {
        if self.awaiting_anchor && self.broken.is_none() {
            // Not one row from the anchor's seq on.
            let at = self.anchor.seq;
            self.stop(at, b"", anchor_gone(at));
        }
        let after_seq = self.anchor.seq;
        let bad = |position: u64, seq: i64, trace_id: String, problem: String, head: String| VerifyReport {
            records: position,
            head,
            first_bad: Some(BadRecord {
                seq,
                trace_id,
                problem,
            }),
            after_seq,
        };
        // The hashers only saw records before the one the walk stopped at, if it stopped.
        match (mismatch, self.broken.take()) {
            (Some(m), broken) if broken.as_ref().is_none_or(|b| m.position < b.position) => {
                let problem = "hash does not match the record's content: the record was modified".to_string();
                return bad(m.position, m.seq, m.trace_id, problem, m.prev_hash);
            }
            (_, Some(b)) => return bad(b.position, b.seq, b.trace_id, b.problem, b.head),
            _ => {}
        }
        // The head row catches what the walk cannot: records cut off the end of the chain.
        let last = self.expected_seq - 1;
        let prev = self.prev_text();
        match head {
            Some((seq, hash)) if seq != last || hash != prev => bad(
                self.position,
                seq,
                String::new(),
                format!(
                    "the chain ends at record {last} but its recorded head is record {seq}: records were removed from the end or the head was altered"
                ),
                prev,
            ),
            None if last > 0 => bad(
                self.position,
                last,
                String::new(),
                "the chain head row is missing".into(),
                prev,
            ),
            _ => VerifyReport {
                records: self.position,
                head: prev,
                first_bad: None,
                after_seq,
            },
        }
    }
}

fn anchor_gone(at: i64) -> String {
    format!("the anchor changed: there is no record {at} any more: records were deleted")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{AuditLog, NewEvent, on_both_engines};

    /// Appends `n` records in batches, as a busy gateway does.
    async fn append(store: &Store, n: usize) {
        let log = AuditLog::start(store).await.unwrap();
        let mut left = n;
        while left > 0 {
            let batch = left.min(500);
            let events = (0..batch)
                .map(|i| {
                    NewEvent::now(
                        &format!("t{}", n - left + i),
                        "classification",
                        "tester",
                        serde_json::json!({"i": i}),
                    )
                })
                .collect();
            log.append(events).await.unwrap();
            left -= batch;
        }
        log.shutdown().await;
    }

    async fn tamper(store: &Store, sql: &str) {
        sqlx::raw_sql(sql).execute(store.pool()).await.unwrap();
    }

    fn problem(report: &VerifyReport) -> (i64, &str) {
        let bad = report
            .first_bad
            .as_ref()
            .unwrap_or_else(|| panic!("not found: {report:?}"));
        (bad.seq, bad.problem.as_str())
    }

    on_both_engines! {
        async fn an_incremental_verify_after_appends_finds_a_record_modified_after_the_anchor(s: Store) {
            append(&s, 20).await;
            let full = s.verify_chain().await.unwrap();
            assert!(full.ok(), "{full:?}");
            s.record_verification(&full, "test", 1).await.unwrap();
            let anchor = s.last_verification().await.unwrap().unwrap().anchor().unwrap();
            assert_eq!(anchor, Anchor { seq: 20, hash: full.head.clone() });

            append(&s, 30).await;
            let more = s.verify_chain_from(&anchor).await.unwrap();
            assert!(more.ok(), "{more:?}");
            assert_eq!((more.records, more.after_seq, more.last_seq()), (30, 20, 50));
            assert_eq!(more.head, s.verify_chain().await.unwrap().head);
            s.record_verification(&more, "test", 2).await.unwrap();
            let next = s.last_verification().await.unwrap().unwrap();
            assert_eq!((next.records, next.head.as_deref()), (50, Some(more.head.as_str())));

            tamper(&s, "UPDATE audit_events SET payload = '{\"i\":-1}' WHERE seq = 33").await;
            let report = s.verify_chain_from(&anchor).await.unwrap();
            assert_eq!(problem(&report).0, 33);
            assert!(problem(&report).1.contains("modified"), "{report:?}");
            assert_eq!((report.records, report.last_seq()), (12, 32));
            s.record_verification(&report, "test", 3).await.unwrap();
            let failed = s.last_verification().await.unwrap().unwrap();
            assert_eq!((failed.ok, failed.head.clone(), failed.anchor()), (false, None, None), "a failed run anchors nothing");

            // A record before the anchor is beyond an incremental walk, not a full one.
            tamper(&s, "UPDATE audit_events SET payload = '{\"i\":-1}' WHERE seq = 33; UPDATE audit_events SET payload = '{\"i\":-2}' WHERE seq = 4").await;
            assert_eq!(problem(&s.verify_chain().await.unwrap()).0, 4);
            assert_eq!(problem(&s.verify_chain_from(&anchor).await.unwrap()).0, 33);
        }

        async fn an_anchor_whose_record_changed_is_reported(s: Store) {
            append(&s, 10).await;
            let full = s.verify_chain().await.unwrap();
            let anchor = Anchor { seq: 10, hash: full.head.clone() };
            let at_anchor = s.verify_chain_from(&anchor).await.unwrap();
            assert!(at_anchor.ok(), "{at_anchor:?}");
            assert_eq!((at_anchor.records, at_anchor.head.as_str()), (0, full.head.as_str()));
            let anchor6 = Anchor { seq: 6, hash: s.trace("t5").await.unwrap()[0].hash.clone() };
            assert_eq!(s.verify_chain_from(&anchor6).await.unwrap().records, 4);

            // Its content.
            tamper(&s, "UPDATE audit_events SET actor = 'mallory' WHERE seq = 6").await;
            let report = s.verify_chain_from(&anchor6).await.unwrap();
            assert_eq!(problem(&report).0, 6);
            assert!(problem(&report).1.starts_with("the anchor changed: record 6's hash does not match its content"), "{report:?}");
            assert_eq!(report.first_bad.unwrap().trace_id, "t5");
            tamper(&s, "UPDATE audit_events SET actor = 'tester' WHERE seq = 6").await;
            assert!(s.verify_chain_from(&anchor6).await.unwrap().ok());

            // Its hash, rewritten with the rest of the chain after it.
            tamper(&s, "UPDATE audit_events SET hash = CASE WHEN hash LIKE '0%' THEN '1' ELSE '0' END || substr(hash, 2) WHERE seq = 10").await;
            let report = s.verify_chain_from(&anchor).await.unwrap();
            assert_eq!(problem(&report).0, 10);
            assert!(problem(&report).1.starts_with("the anchor changed: record 10 now carries hash "), "{report:?}");

            // The record itself.
            tamper(&s, "DELETE FROM audit_events WHERE seq = 10").await;
            let report = s.verify_chain_from(&anchor).await.unwrap();
            assert_eq!(problem(&report), (10, "the anchor changed: there is no record 10 any more: records were deleted"));
        }

        async fn an_anchor_with_a_wrong_hash_is_refused(s: Store) {
            append(&s, 5).await;
            let wrong: Anchor = format!("3:{}", "ab".repeat(32)).parse().unwrap();
            let report = s.verify_chain_from(&wrong).await.unwrap();
            assert_eq!(problem(&report).0, 3);
            assert!(problem(&report).1.starts_with("the anchor changed: record 3 now carries hash"), "{report:?}");
            assert_eq!(report.records, 0);
            let beyond: Anchor = format!("9:{}", "ab".repeat(32)).parse().unwrap();
            assert_eq!(problem(&s.verify_chain_from(&beyond).await.unwrap()).0, 9);
            // From the genesis is the full walk.
            let genesis: Anchor = format!("0:{GENESIS_HASH}").parse().unwrap();
            assert_eq!(s.verify_chain_from(&genesis).await.unwrap(), s.verify_chain().await.unwrap());
        }

        async fn parallel_hashing_reports_the_first_bad_record_in_chain_order(s: Store) {
            // Records over several chunks, so they are hashed on more than one thread.
            let n = CHUNK_ROWS * 3 + 100;
            append(&s, n).await;
            assert_eq!(s.verify_chain().await.unwrap().records, n as u64);
            tamper(&s, &format!("UPDATE audit_events SET payload = '{{}}' WHERE seq IN (300, {})", CHUNK_ROWS * 2 + 7)).await;
            let report = s.verify_chain().await.unwrap();
            assert_eq!(problem(&report).0, 300, "{report:?}");
            assert_eq!(report.records, 299);
            let before: String = sqlx::query_scalar("SELECT hash FROM audit_events WHERE seq = 299")
                .fetch_one(s.pool())
                .await
                .unwrap();
            assert_eq!(report.head, before);

            // A modified record the hashers find comes before a broken link the reader finds.
            tamper(&s, &format!("DELETE FROM audit_events WHERE seq = {}", CHUNK_ROWS + 5)).await;
            assert_eq!(problem(&s.verify_chain().await.unwrap()).0, 300);
            tamper(&s, "UPDATE audit_events SET payload = '{\"i\":299}' WHERE seq = 300").await;
            // Then the reader's, in the chunk it never handed over.
            let report = s.verify_chain().await.unwrap();
            assert_eq!(problem(&report), ((CHUNK_ROWS + 6) as i64, format!("sequence jumps from {} to {}: records deleted", CHUNK_ROWS + 4, CHUNK_ROWS + 6).as_str()));
        }
    }

    #[tokio::test]
    async fn the_first_mismatch_in_chain_order_wins_whatever_order_threads_finish() {
        let chunk = |first: u64, bad: usize| {
            let mut c = Chunk {
                first,
                ..Chunk::default()
            };
            let mut prev = GENESIS_HASH.to_string();
            for i in 0..10usize {
                let seq = first as i64 + i as i64 + 1;
                let mut hash = chain_hash(&prev, seq, "t", "ts", "s", "a", "{}");
                if i == bad {
                    hash = GENESIS_HASH.to_string();
                }
                c.push(
                    seq,
                    [prev.as_bytes(), b"t", b"ts", b"s", b"a", b"{}"],
                    hash.as_bytes(),
                );
                prev = hash;
            }
            c
        };
        for threads in [0, 1, 3] {
            let mut hashers = Hashers::start(threads);
            // The later chunk first, as a faster thread would return it.
            hashers.submit(chunk(100, 2));
            hashers.submit(chunk(0, 7));
            hashers.submit(chunk(50, 99));
            let first = hashers.wait().await.unwrap().unwrap();
            assert_eq!((first.position, first.seq), (7, 8), "{threads} threads");
        }
    }

    #[test]
    fn anchors_parse_as_seq_colon_hash() {
        let hash = "AB".repeat(32);
        let a: Anchor = format!("650000:{hash}").parse().unwrap();
        assert_eq!((a.seq, a.hash), (650000, "ab".repeat(32)));
        for wrong in [
            "650000",
            "x:ab",
            "5:abc",
            &format!("-1:{hash}"),
            &format!("0:{hash}"),
            &format!("5:{}", "g".repeat(64)),
        ] {
            assert!(wrong.parse::<Anchor>().is_err(), "{wrong}");
        }
    }

    /// `chain_hash(GENESIS_HASH, 1, "t", "ts", "stage", "actor", "{}")`, as every release wrote it.
    const KNOWN: &str = "914d0d70d91787af8e0a1f2e2e26ae73040dd5a97e02f566d7f27d1766872d1a";

    #[test]
    fn the_hash_is_the_same_as_before() {
        // A record hashed by an earlier release: the chain's encoding must never change.
        assert_eq!(
            chain_hash(GENESIS_HASH, 1, "t", "ts", "stage", "actor", "{}"),
            KNOWN
        );
        let digest = chain_digest(
            1,
            [GENESIS_HASH.as_bytes(), b"t", b"ts", b"stage", b"actor", b"{}"],
        );
        assert!(hex_matches(&digest, KNOWN.as_bytes()));
        assert!(!hex_matches(&digest, KNOWN.to_uppercase().as_bytes()));
        assert!(!hex_matches(&digest, &KNOWN.as_bytes()[..63]));
    }

    #[test]
    fn any_field_change_changes_the_hash() {
        let base = chain_hash(GENESIS_HASH, 1, "t", "ts", "stage", "actor", "{}");
        assert_ne!(
            base,
            chain_hash(GENESIS_HASH, 2, "t", "ts", "stage", "actor", "{}")
        );
        assert_ne!(
            base,
            chain_hash(GENESIS_HASH, 1, "t", "ts", "stag", "eactor", "{}")
        );
        assert_ne!(
            base,
            chain_hash(GENESIS_HASH, 1, "t", "ts", "stage", "actor", "{ }")
        );
        assert_eq!(base.len(), 64);
    }
}
