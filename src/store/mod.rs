//! The system of record: verbatims in one SQLite file (WAL mode).
//!
//! Every write runs in one transaction, so a batch is stored whole or not at all, whatever
//! kills the process. Each stored row carries a `seq` drawn from a counter that only grows;
//! the search index remembers the last `seq` it has applied, which is how start-up finds the
//! rows a crash left unindexed (see [`crate::service`]).
//!
//! Erasure must leave no trace in the files: connections run with `secure_delete`, so SQLite
//! zeroes the cells and pages it frees, and [`Store::purge_wal`] truncates the write-ahead log,
//! which still holds the pages as they were before the erasure. Each erasure leaves an audit
//! row (when, what kind, the SHA-256 of the subject's id, how many verbatims) and nothing else.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use r2d2_sqlite::rusqlite::{self, params, params_from_iter, Connection, OpenFlags, OptionalExtension, Row};
use r2d2_sqlite::SqliteConnectionManager;

use crate::domain::{rfc3339, Channel, Verbatim};

mod alerts;
mod categories;
mod jobs;
mod root_causes;
mod topics;

pub use alerts::{Firing, FollowUpQuery, Outgoing, RuleDraft, VolumeFiring};
pub use categories::{Category, CategoryError};
pub use jobs::{JobProgress, JobRow, JobState};
pub use topics::{GroupEdit, Grouping, SavedModel, TopicCounts, TopicWeek};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("the store is full (its disk, or its configured size limit); nothing from this request was stored")]
    DiskFull,
    #[error("store database error: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("cannot get a store connection: {0}")]
    Pool(#[from] r2d2::Error),
    /// An analysis a write runs in its transaction (matching verbatims to a model saved in it).
    #[error("analysing within a write: {0}")]
    Analysis(String),
    #[error("stored row {id} is unreadable: {reason}")]
    Corrupt { id: String, reason: String },
    #[error("the store is at version {found}, written by a newer verbatim (this one reads up to {supported}); upgrade verbatim")]
    NewerVersion { found: i64, supported: i64 },
}

impl StoreError {
    fn classify(err: rusqlite::Error) -> StoreError {
        match err.sqlite_error_code() {
            Some(rusqlite::ErrorCode::DiskFull) => StoreError::DiskFull,
            _ => StoreError::Sqlite(err),
        }
    }
}

type Result<T> = std::result::Result<T, StoreError>;

/// How long a statement waits for a lock another connection or process holds.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);
/// The erasure purge's checkpoint waits less: it is retried, writes are not.
const PURGE_BUSY_TIMEOUT: Duration = Duration::from_millis(200);

/// The store's layout, one step per version: step N takes a file at version N - 1 (SQLite's
/// `user_version`; 0 is a new file) to version N. [`Store::open`] applies the steps above the
/// file's version in order, each in one transaction with the version it reaches, so an upgrade
/// cut short resumes at the step it stopped. Steps are never edited once released; a change
/// is a new step.
const MIGRATIONS: [&str; 10] = [
    // 1: verbatims, the customer index, and the `seq` counter.
    "CREATE TABLE verbatims (
        id          TEXT PRIMARY KEY,
        text        TEXT NOT NULL,
        language    TEXT,
        channel     TEXT NOT NULL,
        created_at  TEXT NOT NULL,
        customer_id TEXT,
        nps         INTEGER,
        csat        INTEGER,
        ces         INTEGER,
        metadata    TEXT NOT NULL,
        seq         INTEGER NOT NULL UNIQUE
    );
    CREATE INDEX verbatims_by_customer ON verbatims(customer_id);
    CREATE TABLE counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
    INSERT INTO counters(name, value) VALUES ('seq', 0);",
    // 2: the fast tier's document sentiment (JSON; NULL until analysed).
    "ALTER TABLE verbatims ADD COLUMN sentiment TEXT;",
    // 3: the erasure audit record, without personal data.
    "CREATE TABLE erasures (
        at             TEXT NOT NULL,
        kind           TEXT NOT NULL,
        subject_sha256 TEXT NOT NULL,
        deleted        INTEGER NOT NULL
    );",
    // 4: where each derived view kept in the store has caught up to (`crate::consumers`).
    "CREATE TABLE checkpoints (name TEXT PRIMARY KEY, seq INTEGER NOT NULL);",
    // 5: the model behind each stored sentiment, the deferred analyses owed, and the jobs
    // (`crate::jobs`) with their progress, committed with the results they cover.
    "ALTER TABLE verbatims ADD COLUMN sentiment_model TEXT;
    ALTER TABLE verbatims ADD COLUMN due TEXT;
    CREATE TABLE jobs (
        id         TEXT PRIMARY KEY,
        spec       TEXT NOT NULL,
        state      TEXT NOT NULL,
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL,
        snapshot   INTEGER NOT NULL,
        erasure_mark INTEGER NOT NULL,
        cursor     INTEGER NOT NULL,
        done       INTEGER NOT NULL,
        total      INTEGER NOT NULL,
        errors     INTEGER NOT NULL,
        message    TEXT
    );",
    // 6: topics (`crate::topics`): each verbatim's assignment (JSON, with its id apart for
    // counting), the saved topic model, what analysts changed of topics (names, pins), and
    // their rule-based categories (`crate::search::CategoryRule`).
    "ALTER TABLE verbatims ADD COLUMN topic TEXT;
    ALTER TABLE verbatims ADD COLUMN topic_id INTEGER;
    CREATE INDEX verbatims_by_topic ON verbatims(topic_id);
    CREATE TABLE topic_models (
        version    INTEGER PRIMARY KEY,
        created_at TEXT NOT NULL,
        job_id     TEXT,
        model      TEXT NOT NULL
    );
    CREATE TABLE topic_edits (
        topic_id   INTEGER PRIMARY KEY,
        label      TEXT,
        pinned     INTEGER NOT NULL,
        updated_at TEXT NOT NULL
    );
    CREATE TABLE categories (
        id         INTEGER PRIMARY KEY AUTOINCREMENT,
        name       TEXT NOT NULL UNIQUE,
        rule       TEXT NOT NULL,
        created_at TEXT NOT NULL
    );",
    // 7: aspects and root causes (`crate::root_causes`): each verbatim's aspects (JSON: span
    // and polarity) and root causes (JSON: the model, and each root cause's id and span), the
    // saved root-cause model, and analysts' names for root causes.
    "ALTER TABLE verbatims ADD COLUMN root_causes TEXT;
    ALTER TABLE verbatims ADD COLUMN aspects TEXT;
    CREATE TABLE root_cause_models (
        version    INTEGER PRIMARY KEY,
        created_at TEXT NOT NULL,
        job_id     TEXT,
        model      TEXT NOT NULL
    );
    CREATE TABLE root_cause_edits (
        root_cause_id INTEGER PRIMARY KEY,
        label      TEXT,
        pinned     INTEGER NOT NULL,
        updated_at TEXT NOT NULL
    );",
    // 8: emotions (`crate::nlp::emotions`): each verbatim's emotions (JSON: label and score
    // each; NULL for rows analysed before emotions were).
    "ALTER TABLE verbatims ADD COLUMN emotions TEXT;",
    // 9: alerts (`crate::alerts`): rules (their webhook secret apart), fired alerts with their
    // delivery (the outbox; `payload` is the body as first signed) and follow-ups; verbatims
    // by date, for retention (`crate::retention`); and the `seq` at which each verbatim was last
    // sent (`seq` moves with every analysis stored, this one only when a client sends it), so
    // alerts fire on arrivals, never on a reprocess (NULL for rows sent before).
    "CREATE TABLE alert_rules (
        id         INTEGER PRIMARY KEY AUTOINCREMENT,
        name       TEXT NOT NULL,
        rule       TEXT NOT NULL,
        secret     TEXT,
        enabled    INTEGER NOT NULL,
        since_seq  INTEGER NOT NULL,
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL
    );
    CREATE TABLE alerts (
        id              INTEGER PRIMARY KEY AUTOINCREMENT,
        rule_id         INTEGER NOT NULL,
        verbatim_id     TEXT NOT NULL,
        customer_id     TEXT,
        fired_at        TEXT NOT NULL,
        payload         TEXT NOT NULL,
        state           TEXT NOT NULL,
        attempts        INTEGER NOT NULL,
        next_attempt_at TEXT,
        last_error      TEXT,
        delivered_at    TEXT,
        UNIQUE (rule_id, verbatim_id)
    );
    CREATE INDEX alerts_due ON alerts(state, next_attempt_at);
    CREATE INDEX alerts_by_customer ON alerts(customer_id);
    CREATE TABLE follow_ups (
        id           INTEGER PRIMARY KEY AUTOINCREMENT,
        alert_id     INTEGER NOT NULL UNIQUE,
        rule_id      INTEGER NOT NULL,
        verbatim_id  TEXT NOT NULL,
        customer_id  TEXT,
        status       TEXT NOT NULL,
        owner        TEXT,
        note         TEXT,
        due_at       TEXT NOT NULL,
        contacted_at TEXT,
        created_at   TEXT NOT NULL,
        updated_at   TEXT NOT NULL
    );
    CREATE INDEX follow_ups_by_customer ON follow_ups(customer_id);
    CREATE INDEX verbatims_by_created_at ON verbatims(created_at);
    ALTER TABLE verbatims ADD COLUMN received_seq INTEGER;",
    // 10: alerts of volume rules (`crate::alerts::volume`): about a period (its kind and
    // start, once per rule and period) rather than a verbatim, with the figures the test read
    // (`volume`). SQLite cannot relax `verbatim_id`'s NOT NULL in place: the table is
    // rebuilt, and its id counter carried over so that no idempotency key is ever reused.
    "CREATE TABLE alerts_v10 (
        id              INTEGER PRIMARY KEY AUTOINCREMENT,
        rule_id         INTEGER NOT NULL,
        verbatim_id     TEXT,
        customer_id     TEXT,
        period          TEXT,
        period_start    TEXT,
        volume          TEXT,
        fired_at        TEXT NOT NULL,
        payload         TEXT NOT NULL,
        state           TEXT NOT NULL,
        attempts        INTEGER NOT NULL,
        next_attempt_at TEXT,
        last_error      TEXT,
        delivered_at    TEXT,
        UNIQUE (rule_id, verbatim_id),
        UNIQUE (rule_id, period, period_start),
        CHECK ((verbatim_id IS NULL) <> (period_start IS NULL)),
        CHECK ((period_start IS NULL) = (period IS NULL) AND (period_start IS NULL) = (volume IS NULL))
    );
    INSERT INTO alerts_v10 (id, rule_id, verbatim_id, customer_id, fired_at, payload, state, attempts,
        next_attempt_at, last_error, delivered_at)
      SELECT id, rule_id, verbatim_id, customer_id, fired_at, payload, state, attempts, next_attempt_at,
        last_error, delivered_at FROM alerts;
    DELETE FROM sqlite_sequence WHERE name = 'alerts_v10';
    INSERT INTO sqlite_sequence (name, seq) SELECT 'alerts_v10', seq FROM sqlite_sequence WHERE name = 'alerts';
    DROP TABLE alerts;
    ALTER TABLE alerts_v10 RENAME TO alerts;
    CREATE INDEX alerts_due ON alerts(state, next_attempt_at);
    CREATE INDEX alerts_by_customer ON alerts(customer_id);",
];
/// The version this build writes.
const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;
/// The first version whose connections zero what they free (`secure_delete`).
const SECURE_DELETE_VERSION: i64 = 3;

/// How hard SQLite works to keep an acknowledged write through a power loss.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Durability {
    /// `synchronous = FULL`: the write-ahead log is synced at every commit, so an acknowledged
    /// write survives a power loss. The default: the store is the system of record.
    #[default]
    Full,
    /// `synchronous = NORMAL`: survives a killed process, but a power loss may drop the last
    /// acknowledged commits. For those who prefer speed and can replay their input.
    Normal,
}

impl Durability {
    fn pragma(self) -> &'static str {
        match self {
            Durability::Full => "FULL",
            Durability::Normal => "NORMAL",
        }
    }
}

/// What an erasure removed: one verbatim by its id, every verbatim of a customer, or one
/// verbatim past the retention age (by its id).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ErasureKind {
    Verbatim,
    Customer,
    Retention,
}

impl ErasureKind {
    const ALL: [ErasureKind; 3] = [ErasureKind::Verbatim, ErasureKind::Customer, ErasureKind::Retention];

    /// The name stored in the audit table (and serialised in the API).
    fn as_str(self) -> &'static str {
        match self {
            ErasureKind::Verbatim => "verbatim",
            ErasureKind::Customer => "customer",
            ErasureKind::Retention => "retention",
        }
    }

    /// Whether the audit row's subject is a verbatim id (else a customer id).
    pub fn names_a_verbatim(self) -> bool {
        self != ErasureKind::Customer
    }

    pub fn parse(name: &str) -> Option<ErasureKind> {
        ErasureKind::ALL.into_iter().find(|kind| kind.as_str() == name)
    }
}

/// One audit row: enough to prove an erasure happened, nothing of what was erased.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Erasure {
    #[serde(with = "rfc3339")]
    pub at: chrono::DateTime<chrono::Utc>,
    pub kind: ErasureKind,
    /// SHA-256 of the verbatim id or customer id, in hex: a requester's id can be checked
    /// against it, but it cannot be read back.
    pub subject_sha256: String,
    pub deleted: u64,
}

const COLUMNS: &str =
    "id, text, language, channel, created_at, customer_id, nps, csat, ces, metadata, sentiment, sentiment_model, due, topic,
    root_causes, aspects, emotions";
/// How many [`COLUMNS`] there are: a query that selects one more column after them reads it at
/// this index.
const COLUMN_COUNT: usize = 17;

pub struct Store {
    pool: r2d2::Pool<SqliteConnectionManager>,
    path: PathBuf,
}

impl Store {
    /// Opens (creating if needed) the store for reading and writing. With `max_bytes`, a
    /// write that would grow the database past it fails as [`StoreError::DiskFull`] does.
    pub fn open(path: &Path, max_bytes: Option<u64>, durability: Durability) -> Result<Store> {
        let manager = SqliteConnectionManager::file(path).with_init(move |conn| {
            conn.busy_timeout(BUSY_TIMEOUT)?;
            conn.execute_batch(&format!(
                "PRAGMA journal_mode = WAL; PRAGMA synchronous = {}; PRAGMA foreign_keys = ON; PRAGMA secure_delete = ON;",
                durability.pragma()
            ))?;
            if let Some(max_bytes) = max_bytes {
                let page_size = conn.query_row("PRAGMA page_size", [], |r| r.get::<_, i64>(0))?.max(512) as u64;
                conn.execute_batch(&format!("PRAGMA max_page_count = {}", (max_bytes / page_size).max(1)))?;
            }
            Ok(())
        });
        let pool = r2d2::Pool::builder().max_size(8).build(manager)?;
        migrate(&mut *pool.get()?, path)?;
        Ok(Store { pool, path: path.to_path_buf() })
    }

    /// Opens an existing store without the right to change it (the `search` command).
    pub fn open_read_only(path: &Path) -> Result<Store> {
        let manager = SqliteConnectionManager::file(path)
            .with_flags(OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX)
            .with_init(|conn| conn.busy_timeout(BUSY_TIMEOUT));
        let pool = r2d2::Pool::builder().max_size(2).build(manager)?;
        Ok(Store { pool, path: path.to_path_buf() })
    }

    /// Runs `writes` in one transaction and returns their result with the last `seq` after
    /// them: the whole group is stored, or nothing of it.
    pub fn write<T>(&self, writes: impl FnOnce(&mut StoreWriter<'_>) -> Result<T>) -> Result<(T, u64)> {
        let mut conn = self.pool.get()?;
        // IMMEDIATE takes the write lock first (waiting up to the busy timeout): a deferred
        // transaction that read first could not upgrade after another process checkpointed.
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let seq = read_seq(&tx)?;
        let mut writer = StoreWriter { tx: &tx, seq };
        let result = writes(&mut writer)?;
        let seq = writer.seq;
        write_seq(&tx, seq)?;
        tx.commit().map_err(StoreError::classify)?;
        Ok((result, seq))
    }

    /// Inserts or replaces one batch in its own transaction; returns the new last `seq`.
    pub fn upsert(&self, batch: &mut [Verbatim]) -> Result<u64> {
        Ok(self.write(|writer| writer.upsert(batch))?.1)
    }

    /// Copies the write-ahead log into the database and truncates it to zero bytes, so the
    /// page images it kept from before an erasure are gone from disk. Returns false when a
    /// reader still used an older snapshot and the log could not be emptied (try again).
    pub fn purge_wal(&self) -> Result<bool> {
        let conn = self.pool.get()?;
        // A truncating checkpoint holds the write lock while it waits for readers: wait briefly
        // and try again later rather than stall every write behind a long reader (a backup).
        conn.busy_timeout(PURGE_BUSY_TIMEOUT)?;
        let busy = conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |r| r.get::<_, i64>(0));
        conn.busy_timeout(BUSY_TIMEOUT)?;
        Ok(busy? == 0)
    }

    /// The newest `limit` erasure audit rows, newest first.
    pub fn erasures(&self, kind: Option<ErasureKind>, limit: usize) -> Result<Vec<Erasure>> {
        match kind {
            None => self.select_erasures("ORDER BY rowid DESC LIMIT ?1", &[&limit.to_string()]),
            Some(kind) => self
                .select_erasures("WHERE kind = ?2 ORDER BY rowid DESC LIMIT ?1", &[&limit.to_string(), kind.as_str()]),
        }
    }

    /// The ids of at most `limit` verbatims dated before `before`: what retention erases next.
    pub fn dated_before(&self, before: &chrono::DateTime<chrono::Utc>, limit: usize) -> Result<Vec<String>> {
        let conn = self.pool.get()?;
        let mut stmt = conn.prepare("SELECT id FROM verbatims WHERE created_at < ?1 LIMIT ?2")?;
        let ids = stmt.query_map(params![rfc3339::format(before), limit as i64], |r| r.get::<_, String>(0))?;
        Ok(ids.collect::<rusqlite::Result<_>>()?)
    }

    /// The audit row number of the last erasure (0 when none).
    pub fn last_erasure(&self) -> Result<u64> {
        let conn = self.pool.get()?;
        Ok(conn.query_row("SELECT COALESCE(MAX(rowid), 0) FROM erasures", [], |r| r.get::<_, i64>(0))? as u64)
    }

    /// The erasures recorded after `mark` (see [`JobRow::erasure_mark`]), oldest first.
    pub fn erasures_after(&self, mark: u64) -> Result<Vec<Erasure>> {
        self.select_erasures("WHERE rowid > ?1 ORDER BY rowid", &[&mark.to_string()])
    }

    fn select_erasures(&self, clause: &str, parameters: &[&str]) -> Result<Vec<Erasure>> {
        let conn = self.pool.get()?;
        let mut stmt = conn.prepare(&format!("SELECT at, kind, subject_sha256, deleted FROM erasures {clause}"))?;
        let rows = stmt.query_map(params_from_iter(parameters), |r| {
            Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?, r.get::<_, String>(2)?, r.get::<_, i64>(3)?))
        })?;
        rows.map(|row| {
            let (at, kind, subject_sha256, deleted) = row?;
            let corrupt = |reason: String| StoreError::Corrupt { id: format!("erasure {subject_sha256}"), reason };
            Ok(Erasure {
                at: crate::domain::parse_timestamp(&at).ok_or_else(|| corrupt(format!("at `{at}`")))?,
                kind: ErasureKind::parse(&kind).ok_or_else(|| corrupt(format!("kind `{kind}`")))?,
                subject_sha256,
                deleted: deleted as u64,
            })
        })
        .collect()
    }

    pub fn get(&self, id: &str) -> Result<Option<Verbatim>> {
        let conn = self.pool.get()?;
        let row =
            conn.query_row(&format!("SELECT {COLUMNS} FROM verbatims WHERE id = ?1"), [id], raw_row).optional()?;
        row.map(RawRow::into_verbatim).transpose()
    }

    /// Every verbatim of a customer, oldest first (what a customer's access request gets).
    pub fn of_customer(&self, customer_id: &str) -> Result<Vec<Verbatim>> {
        let conn = self.pool.get()?;
        let mut stmt =
            conn.prepare(&format!("SELECT {COLUMNS} FROM verbatims WHERE customer_id = ?1 ORDER BY created_at, id"))?;
        let rows = stmt.query_map([customer_id], raw_row)?;
        rows.map(|row| row?.into_verbatim()).collect()
    }

    /// Loads the verbatims with these ids; missing ids are simply absent from the map.
    pub fn get_many(&self, ids: &[String]) -> Result<HashMap<String, Verbatim>> {
        let conn = self.pool.get()?;
        let mut found = HashMap::with_capacity(ids.len());
        // SQLite caps bound parameters; 500 a query stays far below every build's limit.
        for chunk in ids.chunks(500) {
            let placeholders = vec!["?"; chunk.len()].join(",");
            let mut stmt = conn.prepare(&format!("SELECT {COLUMNS} FROM verbatims WHERE id IN ({placeholders})"))?;
            let rows = stmt.query_map(params_from_iter(chunk), raw_row)?;
            for row in rows {
                let verbatim = row?.into_verbatim()?;
                found.insert(verbatim.id.clone(), verbatim);
            }
        }
        Ok(found)
    }

    /// Visits, in `seq` order, every verbatim written after `after_seq`, in pages of `page`,
    /// each with the `seq` of its last row.
    pub fn for_each_since(
        &self,
        after_seq: u64,
        page: usize,
        mut visit: impl FnMut(Vec<Verbatim>, u64) -> anyhow::Result<()>,
    ) -> anyhow::Result<()> {
        let mut cursor = after_seq;
        loop {
            let rows = self.page_since(cursor, page)?;
            let Some(last) = rows.last() else { return Ok(()) };
            cursor = last.seq;
            visit(rows.into_iter().map(|row| row.verbatim).collect(), cursor)?;
        }
    }

    /// Up to `limit` verbatims written after `after_seq`, in `seq` order.
    pub fn page_since(&self, after_seq: u64, limit: usize) -> Result<Vec<Sequenced>> {
        let conn = self.pool.get()?;
        let mut stmt = conn.prepare_cached(&format!(
            "SELECT {COLUMNS}, seq, received_seq FROM verbatims WHERE seq > ?1 ORDER BY seq LIMIT ?2"
        ))?;
        let mut rows = stmt.query(params![after_seq as i64, limit as i64])?;
        let mut page = Vec::with_capacity(limit);
        while let Some(row) = rows.next()? {
            let seq: i64 = row.get(COLUMN_COUNT)?;
            let received_seq: Option<i64> = row.get(COLUMN_COUNT + 1)?;
            page.push(Sequenced {
                seq: seq as u64,
                received_seq: received_seq.unwrap_or(0) as u64,
                verbatim: raw_row(row)?.into_verbatim()?,
            });
        }
        Ok(page)
    }

    /// Up to `limit` verbatims with `after < row <= through`, in row order, each with its row
    /// number (SQLite's `rowid`). Jobs and exports walk the store by row number: an update
    /// keeps a verbatim's row (an upsert updates in place), so a verbatim changed during a
    /// walk is still met once, at its place, and rows added later lie beyond `through`.
    pub fn page(&self, after: u64, through: u64, limit: usize) -> Result<Vec<(u64, Verbatim)>> {
        let conn = self.pool.get()?;
        let mut stmt = conn.prepare_cached(&format!(
            "SELECT {COLUMNS}, rowid FROM verbatims WHERE rowid > ?1 AND rowid <= ?2 ORDER BY rowid LIMIT ?3"
        ))?;
        let through = i64::try_from(through).unwrap_or(i64::MAX);
        let rows = stmt.query_map(params![after as i64, through, limit as i64], |row| {
            Ok((row.get::<_, i64>(COLUMN_COUNT)? as u64, raw_row(row)?))
        })?;
        rows.map(|row| {
            let (number, raw) = row?;
            Ok((number, raw.into_verbatim()?))
        })
        .collect()
    }

    /// The highest row number in use (0 for an empty store): where a walk started now ends.
    pub fn last_row(&self) -> Result<u64> {
        last_row(&*self.pool.get()?)
    }

    /// The last `seq` the consumer `name` recorded (see [`StoreWriter::set_checkpoint`]); 0 if none.
    pub fn checkpoint(&self, name: &str) -> Result<u64> {
        let conn = self.pool.get()?;
        let seq: Option<i64> =
            conn.query_row("SELECT seq FROM checkpoints WHERE name = ?1", [name], |r| r.get(0)).optional()?;
        Ok(seq.unwrap_or(0) as u64)
    }

    /// Up to `limit` verbatims stored before sentiment was computed at ingestion.
    pub fn unanalysed(&self, limit: usize) -> Result<Vec<Verbatim>> {
        let conn = self.pool.get()?;
        let mut stmt = conn.prepare(&format!("SELECT {COLUMNS} FROM verbatims WHERE sentiment IS NULL LIMIT ?1"))?;
        let rows = stmt.query_map([limit as i64], raw_row)?;
        rows.map(|row| row?.into_verbatim()).collect()
    }

    pub fn ids(&self) -> Result<Vec<String>> {
        let conn = self.pool.get()?;
        let mut stmt = conn.prepare("SELECT id FROM verbatims")?;
        let ids = stmt.query_map([], |r| r.get(0))?.collect::<rusqlite::Result<Vec<String>>>()?;
        Ok(ids)
    }

    pub fn count(&self) -> Result<u64> {
        let conn = self.pool.get()?;
        Ok(conn.query_row("SELECT COUNT(*) FROM verbatims", [], |r| r.get::<_, i64>(0))? as u64)
    }

    /// The `seq` of the latest write (0 for a new store).
    pub fn last_seq(&self) -> Result<u64> {
        let conn = self.pool.get()?;
        read_seq(&conn)
    }

    /// Bytes on disk: the database file and its write-ahead log.
    pub fn size_bytes(&self) -> u64 {
        let wal = PathBuf::from(format!("{}-wal", self.path.display()));
        [&self.path, &wal].iter().filter_map(|p| std::fs::metadata(p).ok()).map(|m| m.len()).sum()
    }

    /// A cheap round trip proving the database answers (readiness).
    pub fn ping(&self) -> Result<()> {
        let conn = self.pool.get()?;
        conn.query_row("SELECT 1", [], |_| Ok(()))?;
        Ok(())
    }
}

/// A stored verbatim with its place in the store's sequence.
pub struct Sequenced {
    /// Its last write (a client's, or an analysis stored).
    pub seq: u64,
    /// Its last write by a client (0 for rows sent before this was kept).
    pub received_seq: u64,
    pub verbatim: Verbatim,
}

/// The writes of one transaction (see [`Store::write`]); each row written takes the next `seq`.
pub struct StoreWriter<'a> {
    tx: &'a rusqlite::Transaction<'a>,
    seq: u64,
}

impl StoreWriter<'_> {
    /// Inserts or replaces the batch. A verbatim sent again keeps or owes its analyses as
    /// [`Verbatim::keep_analyses_of`] says; on return the batch holds what was stored. Within
    /// a batch, a later item with the same id wins.
    pub fn upsert(&mut self, batch: &mut [Verbatim]) -> Result<()> {
        let mut previous = self.tx.prepare_cached(&format!("SELECT {COLUMNS} FROM verbatims WHERE id = ?1"))?;
        let mut insert = self.tx.prepare_cached(
            "INSERT INTO verbatims (id, text, language, channel, created_at, customer_id, nps, csat, ces, metadata, seq,
                received_seq, sentiment, sentiment_model, due, topic, topic_id, root_causes, aspects, emotions)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19)
             ON CONFLICT(id) DO UPDATE SET text = excluded.text, language = excluded.language,
               channel = excluded.channel, created_at = excluded.created_at,
               customer_id = excluded.customer_id, nps = excluded.nps, csat = excluded.csat,
               ces = excluded.ces, metadata = excluded.metadata, seq = excluded.seq,
               received_seq = excluded.received_seq,
               sentiment = excluded.sentiment, sentiment_model = excluded.sentiment_model, due = excluded.due,
               topic = excluded.topic, topic_id = excluded.topic_id, root_causes = excluded.root_causes,
               aspects = excluded.aspects, emotions = excluded.emotions",
        )?;
        for v in batch.iter_mut() {
            if let Some(stored) = previous.query_row([&v.id], raw_row).optional()? {
                v.keep_analyses_of(&stored.into_verbatim()?);
            }
            self.seq += 1;
            let metadata = serde_json::to_string(&v.metadata).expect("string map serialises");
            let [sentiment, sentiment_model, due, topic, root_causes, aspects, emotions] = analysis_columns(v);
            insert
                .execute(params![
                    v.id,
                    v.text,
                    v.language,
                    v.channel.as_str(),
                    rfc3339::format(&v.created_at),
                    v.customer_id,
                    v.nps,
                    v.csat,
                    v.ces,
                    metadata,
                    self.seq as i64,
                    sentiment,
                    sentiment_model,
                    due,
                    topic,
                    v.topic.map(|t| t.id),
                    root_causes,
                    aspects,
                    emotions
                ])
                .map_err(StoreError::classify)?;
        }
        Ok(())
    }

    /// Stores analyses a job made of verbatims it read: each row takes its new analyses (and
    /// a new `seq`, so the index follows) only if its text and language are still those that
    /// were analysed; a verbatim changed or erased meanwhile is left as it now is. Returns the
    /// rows updated, as stored.
    pub fn reanalysed(&mut self, analysed: &[Verbatim]) -> Result<Vec<Verbatim>> {
        self.update_as_read("sentiment = ?1, sentiment_model = ?2, due = ?3, emotions = ?4", analysed, |v| {
            let [sentiment, sentiment_model, due, .., emotions] = analysis_columns(v);
            vec![sentiment.into(), sentiment_model.into(), due.into(), emotions.into()]
        })
    }

    /// Sets the columns `set` names (numbered from `?1`, `values` gives them) of each verbatim
    /// whose text and language are still those read, with a new `seq` so the index follows;
    /// a verbatim changed or erased meanwhile is left as it now is. Returns the rows updated.
    fn update_as_read(
        &mut self,
        set: &str,
        verbatims: &[Verbatim],
        values: impl Fn(&Verbatim) -> Vec<rusqlite::types::Value>,
    ) -> Result<Vec<Verbatim>> {
        let mut updated = Vec::with_capacity(verbatims.len());
        for v in verbatims {
            let mut row_values = values(v);
            let n = row_values.len();
            let mut update = self.tx.prepare_cached(&format!(
                "UPDATE verbatims SET {set}, seq = ?{} WHERE id = ?{} AND text = ?{} AND language IS ?{}
                 RETURNING {COLUMNS}",
                n + 1,
                n + 2,
                n + 3,
                n + 4
            ))?;
            row_values.extend([
                ((self.seq + 1) as i64).into(),
                v.id.clone().into(),
                v.text.clone().into(),
                v.language.clone().into(),
            ]);
            let row =
                update.query_row(params_from_iter(row_values), raw_row).optional().map_err(StoreError::classify)?;
            if let Some(row) = row {
                self.seq += 1;
                updated.push(row.into_verbatim()?);
            }
        }
        Ok(updated)
    }

    /// Records that the consumer `name` has applied every row up to `seq`, in this transaction:
    /// with the rows it derived, or not at all.
    pub fn set_checkpoint(&mut self, name: &str, seq: u64) -> Result<()> {
        self.tx
            .execute(
                "INSERT INTO checkpoints (name, seq) VALUES (?1, ?2) ON CONFLICT(name) DO UPDATE SET seq = excluded.seq",
                params![name, seq as i64],
            )
            .map_err(StoreError::classify)?;
        Ok(())
    }

    /// The transaction itself, for derived views that keep their rows beside the verbatims
    /// (only tests have one yet).
    #[cfg(test)]
    pub(crate) fn transaction(&self) -> &rusqlite::Transaction<'_> {
        self.tx
    }

    /// Erases one verbatim and records the erasure; returns whether it existed.
    pub fn delete(&mut self, id: &str) -> Result<bool> {
        let deleted = self.tx.execute("DELETE FROM verbatims WHERE id = ?1", [id]).map_err(StoreError::classify)?;
        self.forget_alerts_of_verbatim(id)?;
        self.audit(ErasureKind::Verbatim, id, deleted)?;
        Ok(deleted > 0)
    }

    /// Erases every verbatim of a customer and records the erasure; returns how many there were.
    pub fn delete_customer(&mut self, customer_id: &str) -> Result<usize> {
        self.forget_alerts_of_customer(customer_id)?;
        let deleted = self
            .tx
            .execute("DELETE FROM verbatims WHERE customer_id = ?1", [customer_id])
            .map_err(StoreError::classify)?;
        self.forget_customer_in_jobs(customer_id)?;
        self.forget_customer_in_models(customer_id)?;
        self.audit(ErasureKind::Customer, customer_id, deleted)?;
        Ok(deleted)
    }

    /// Erases those of `ids` still dated before `before` (one sent again with a later date
    /// stays), each recorded as a retention erasure; keeps in `ids` the ones erased.
    pub fn expire(&mut self, ids: &mut Vec<String>, before: &chrono::DateTime<chrono::Utc>) -> Result<()> {
        let before = rfc3339::format(before);
        let mut erased = Vec::with_capacity(ids.len());
        for id in ids.iter() {
            let deleted = self
                .tx
                .execute("DELETE FROM verbatims WHERE id = ?1 AND created_at < ?2", params![id, before])
                .map_err(StoreError::classify)?;
            if deleted > 0 {
                self.forget_alerts_of_verbatim(id)?;
                self.audit(ErasureKind::Retention, id, deleted)?;
                erased.push(id.clone());
            }
        }
        *ids = erased;
        Ok(())
    }

    fn audit(&self, kind: ErasureKind, subject: &str, deleted: usize) -> Result<()> {
        self.tx
            .execute(
                "INSERT INTO erasures (at, kind, subject_sha256, deleted) VALUES (?1, ?2, ?3, ?4)",
                params![
                    rfc3339::format(&chrono::Utc::now()),
                    kind.as_str(),
                    crate::models::sha256_hex(subject.as_bytes()),
                    deleted as i64
                ],
            )
            .map_err(StoreError::classify)?;
        Ok(())
    }
}

/// The analysis columns of a row: sentiment, its model, what is due, the topic, the root
/// causes, the aspects and the emotions (JSON, NULL when absent).
fn analysis_columns(v: &Verbatim) -> [Option<String>; 7] {
    fn encode(value: &impl serde::Serialize) -> String {
        serde_json::to_string(value).expect("analyses serialise")
    }
    [
        v.sentiment.as_ref().map(encode),
        v.sentiment_model.as_ref().map(encode),
        (!v.due.is_empty()).then(|| encode(&v.due)),
        v.topic.as_ref().map(encode),
        v.root_causes.as_ref().map(encode),
        (!v.aspects.is_empty()).then(|| encode(&v.aspects)),
        v.emotions.as_ref().map(encode),
    ]
}

/// Brings the file to [`SCHEMA_VERSION`] (see [`MIGRATIONS`]); refuses a file from a newer build.
fn migrate(conn: &mut Connection, path: &Path) -> Result<()> {
    let version: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    if version > SCHEMA_VERSION {
        return Err(StoreError::NewerVersion { found: version, supported: SCHEMA_VERSION });
    }
    for (reached, step) in (1..).zip(MIGRATIONS).skip(version as usize) {
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        tx.execute_batch(step).map_err(StoreError::classify)?;
        tx.execute_batch(&format!("PRAGMA user_version = {reached}"))?;
        tx.commit().map_err(StoreError::classify)?;
        if version > 0 {
            tracing::info!(path = %path.display(), from = version, to = reached, "store migrated");
        }
    }
    if (1..SECURE_DELETE_VERSION).contains(&version) {
        // Stores written before `secure_delete` keep erased rows in their free pages: rewrite
        // the file once, leaving the free pages behind.
        tracing::info!(path = %path.display(), "rewriting the store once to clear what earlier erasures left in free pages");
        conn.execute_batch("VACUUM; PRAGMA wal_checkpoint(TRUNCATE);").map_err(StoreError::classify)?;
    }
    Ok(())
}

fn last_row(conn: &Connection) -> Result<u64> {
    Ok(conn.query_row("SELECT COALESCE(MAX(rowid), 0) FROM verbatims", [], |r| r.get::<_, i64>(0))? as u64)
}

fn read_seq(conn: &Connection) -> Result<u64> {
    Ok(conn.query_row("SELECT value FROM counters WHERE name = 'seq'", [], |r| r.get::<_, i64>(0))? as u64)
}

fn write_seq(conn: &Connection, seq: u64) -> Result<()> {
    conn.execute("UPDATE counters SET value = ?1 WHERE name = 'seq'", [seq as i64]).map_err(StoreError::classify)?;
    Ok(())
}

/// A row as SQLite holds it, before the checks that turn it back into a [`Verbatim`].
struct RawRow {
    id: String,
    text: String,
    language: Option<String>,
    channel: String,
    created_at: String,
    customer_id: Option<String>,
    scores: [Option<u8>; 3],
    metadata: String,
    sentiment: Option<String>,
    sentiment_model: Option<String>,
    due: Option<String>,
    topic: Option<String>,
    root_causes: Option<String>,
    aspects: Option<String>,
    emotions: Option<String>,
}

fn raw_row(row: &Row<'_>) -> rusqlite::Result<RawRow> {
    Ok(RawRow {
        id: row.get(0)?,
        text: row.get(1)?,
        language: row.get(2)?,
        channel: row.get(3)?,
        created_at: row.get(4)?,
        customer_id: row.get(5)?,
        scores: [row.get(6)?, row.get(7)?, row.get(8)?],
        metadata: row.get(9)?,
        sentiment: row.get(10)?,
        sentiment_model: row.get(11)?,
        due: row.get(12)?,
        topic: row.get(13)?,
        root_causes: row.get(14)?,
        aspects: row.get(15)?,
        emotions: row.get(16)?,
    })
}

/// An analysis column: JSON, NULL when absent.
fn json_column<T: serde::de::DeserializeOwned>(id: &str, name: &str, column: Option<&str>) -> Result<Option<T>> {
    column
        .map(serde_json::from_str)
        .transpose()
        .map_err(|e| StoreError::Corrupt { id: id.to_string(), reason: format!("{name}: {e}") })
}

impl RawRow {
    fn into_verbatim(self) -> Result<Verbatim> {
        let corrupt = |reason: String| StoreError::Corrupt { id: self.id.clone(), reason };
        let channel = Channel::parse(&self.channel).map_err(|_| corrupt(format!("channel `{}`", self.channel)))?;
        let created_at = crate::domain::parse_timestamp(&self.created_at)
            .ok_or_else(|| corrupt(format!("created_at `{}`", self.created_at)))?;
        let metadata = serde_json::from_str(&self.metadata).map_err(|e| corrupt(format!("metadata: {e}")))?;
        let sentiment = json_column(&self.id, "sentiment", self.sentiment.as_deref())?;
        let sentiment_model = json_column(&self.id, "sentiment_model", self.sentiment_model.as_deref())?;
        let due = json_column(&self.id, "due", self.due.as_deref())?.unwrap_or_default();
        let topic = json_column(&self.id, "topic", self.topic.as_deref())?;
        let root_causes = json_column(&self.id, "root_causes", self.root_causes.as_deref())?;
        let aspects = json_column(&self.id, "aspects", self.aspects.as_deref())?.unwrap_or_default();
        let emotions = json_column(&self.id, "emotions", self.emotions.as_deref())?;
        let [nps, csat, ces] = self.scores;
        Ok(Verbatim {
            id: self.id,
            text: self.text,
            language: self.language,
            channel,
            created_at,
            customer_id: self.customer_id,
            nps,
            csat,
            ces,
            metadata,
            sentiment,
            sentiment_model,
            emotions,
            due,
            topic,
            aspects,
            root_causes,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn column_count_counts_the_columns() {
        assert_eq!(COLUMNS.split(',').count(), COLUMN_COUNT);
    }

    #[test]
    fn every_connection_syncs_as_configured_and_zeroes_what_it_frees() {
        let dir = tempfile::tempdir().unwrap();
        for (durability, synchronous) in [(Durability::Full, 2), (Durability::Normal, 1)] {
            let store = Store::open(&dir.path().join(format!("{synchronous}.sqlite3")), None, durability).unwrap();
            let conn = store.pool.get().unwrap();
            let read = |pragma: &str| conn.query_row(&format!("PRAGMA {pragma}"), [], |r| r.get::<_, i64>(0)).unwrap();
            assert_eq!((read("synchronous"), read("secure_delete")), (synchronous, 1));
        }
    }

    /// The layout releases before versioned migrations wrote, as their sources had it
    /// (fd31f14 wrote version 1, fc6c002 version 2), with the row each would have stored.
    const RELEASED: [(i64, &str); 2] = [
        (
            1,
            "CREATE TABLE verbatims (id TEXT PRIMARY KEY, text TEXT NOT NULL, language TEXT,
                channel TEXT NOT NULL, created_at TEXT NOT NULL, customer_id TEXT, nps INTEGER,
                csat INTEGER, ces INTEGER, metadata TEXT NOT NULL, seq INTEGER NOT NULL UNIQUE);
             CREATE INDEX verbatims_by_customer ON verbatims(customer_id);
             CREATE TABLE counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
             INSERT INTO counters(name, value) VALUES ('seq', 1);
             INSERT INTO verbatims VALUES ('old', 'Colis abîmé', 'fr', 'email', '2026-10-01T00:00:00.000Z',
                'c1', 3, NULL, NULL, '{}', 1);
             PRAGMA user_version = 1;",
        ),
        (
            2,
            "CREATE TABLE verbatims (id TEXT PRIMARY KEY, text TEXT NOT NULL, language TEXT,
                channel TEXT NOT NULL, created_at TEXT NOT NULL, customer_id TEXT, nps INTEGER,
                csat INTEGER, ces INTEGER, metadata TEXT NOT NULL, seq INTEGER NOT NULL UNIQUE,
                sentiment TEXT);
             CREATE INDEX verbatims_by_customer ON verbatims(customer_id);
             CREATE TABLE counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
             INSERT INTO counters(name, value) VALUES ('seq', 1);
             INSERT INTO verbatims VALUES ('old', 'Colis abîmé', 'fr', 'email', '2026-10-01T00:00:00.000Z',
                'c1', 3, NULL, NULL, '{}', 1, NULL);
             PRAGMA user_version = 2;",
        ),
    ];

    #[test]
    fn every_released_layout_migrates_and_keeps_its_rows() {
        let dir = tempfile::tempdir().unwrap();
        for (version, layout) in RELEASED {
            let path = dir.path().join(format!("v{version}.sqlite3"));
            Connection::open(&path).unwrap().execute_batch(layout).unwrap();
            let store = Store::open(&path, None, Durability::Full).unwrap();
            let conn = store.pool.get().unwrap();
            assert_eq!(conn.query_row("PRAGMA user_version", [], |r| r.get::<_, i64>(0)).unwrap(), SCHEMA_VERSION);
            drop(conn);
            let old = store.get("old").unwrap().expect("the row survives");
            assert_eq!((old.text.as_str(), old.nps, old.sentiment), ("Colis abîmé", Some(3), None));
            assert_eq!(store.last_seq().unwrap(), 1, "from version {version}");
            // What later versions added works on the migrated file.
            assert_eq!(store.write(|w| w.delete_customer("c1")).unwrap().0, 1);
            assert_eq!(store.erasures(None, 10).unwrap().len(), 1);
        }
    }

    #[test]
    fn alerts_survive_the_rebuild_of_version_10_and_their_ids_are_never_reused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("v9.sqlite3");
        let conn = Connection::open(&path).unwrap();
        for step in &MIGRATIONS[..9] {
            conn.execute_batch(step).unwrap();
        }
        conn.execute_batch(
            "INSERT INTO alert_rules (name, rule, enabled, since_seq, created_at, updated_at)
               VALUES ('r', '{\"filter\":{},\"webhook_url\":null,\"follow_up\":null}', 1, 0,
                 '2026-11-01T00:00:00.000Z', '2026-11-01T00:00:00.000Z');
             INSERT INTO alerts (rule_id, verbatim_id, fired_at, payload, state, attempts)
               VALUES (1, 'v1', '2026-11-01T00:00:00.000Z', '{}', 'none', 0),
                      (1, 'v2', '2026-11-01T00:00:00.000Z', '{}', 'none', 0);
             DELETE FROM alerts WHERE verbatim_id = 'v2';
             PRAGMA user_version = 9;",
        )
        .unwrap();
        drop(conn);
        let store = Store::open(&path, None, Durability::Full).unwrap();
        let alerts = store.alerts(None, None, 10).unwrap();
        assert_eq!(alerts.iter().map(|a| (a.id, a.verbatim_id.as_deref())).collect::<Vec<_>>(), [(1, Some("v1"))]);
        let conn = store.pool.get().unwrap();
        conn.execute(
            "INSERT INTO alerts (rule_id, period, period_start, volume, fired_at, payload, state, attempts)
             VALUES (1, 'day', '2026-11-02T00:00:00.000Z', '{}', '2026-11-03T00:00:00.000Z', '{}', 'none', 0)",
            [],
        )
        .unwrap();
        assert_eq!(conn.last_insert_rowid(), 3, "the id of the erased alert is not given again");
        let neither = conn.execute(
            "INSERT INTO alerts (rule_id, fired_at, payload, state, attempts) VALUES (1, '2026-11-03', '', 'none', 0)",
            [],
        );
        assert!(neither.is_err(), "an alert is about a verbatim or a period");
        let without_figures = conn.execute(
            "INSERT INTO alerts (rule_id, period, period_start, fired_at, payload, state, attempts)
             VALUES (1, 'day', '2026-11-04', '2026-11-05', '', 'none', 0)",
            [],
        );
        assert!(without_figures.is_err(), "a period's alert says why it fired");
    }

    #[test]
    fn a_store_from_a_newer_build_is_refused_untouched() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("future.sqlite3");
        Connection::open(&path)
            .unwrap()
            .execute_batch(&format!("PRAGMA user_version = {}", SCHEMA_VERSION + 1))
            .unwrap();
        let err = Store::open(&path, None, Durability::Full).err().expect("refused");
        assert!(matches!(err, StoreError::NewerVersion { .. }), "{err}");
    }
}
