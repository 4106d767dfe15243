//! The system of record: verbatims in one SQLite file (WAL mode).
//!
//! Every write runs in one transaction, so a batch is stored whole or not at all, whatever
//! kills the process. Each stored row carries a `seq` drawn from a counter that only grows;
//! the search index remembers the last `seq` it has applied, which is how start-up finds the
//! rows a crash left unindexed (see [`crate::service`]).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use r2d2_sqlite::rusqlite::{self, params, params_from_iter, Connection, OpenFlags, OptionalExtension, Row};
use r2d2_sqlite::SqliteConnectionManager;

use crate::domain::{rfc3339, Channel, Verbatim};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("the store is full (its disk, or its configured size limit); nothing from this request was stored")]
    DiskFull,
    #[error("store database error: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("cannot get a store connection: {0}")]
    Pool(#[from] r2d2::Error),
    #[error("stored row {id} is unreadable: {reason}")]
    Corrupt { id: String, reason: String },
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

/// Bumped when the table layout changes; `open` migrates older files.
/// 2: `sentiment` (JSON of the fast tier's document sentiment; NULL until analysed).
const SCHEMA_VERSION: i64 = 2;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS verbatims (
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
    seq         INTEGER NOT NULL UNIQUE,
    sentiment   TEXT
);
CREATE INDEX IF NOT EXISTS verbatims_by_customer ON verbatims(customer_id);
CREATE TABLE IF NOT EXISTS counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
INSERT OR IGNORE INTO counters(name, value) VALUES ('seq', 0);
";

const COLUMNS: &str = "id, text, language, channel, created_at, customer_id, nps, csat, ces, metadata, sentiment";

pub struct Store {
    pool: r2d2::Pool<SqliteConnectionManager>,
    path: PathBuf,
}

impl Store {
    /// Opens (creating if needed) the store for reading and writing. With `max_bytes`, a
    /// write that would grow the database past it fails as [`StoreError::DiskFull`] does.
    pub fn open(path: &Path, max_bytes: Option<u64>) -> Result<Store> {
        let manager = SqliteConnectionManager::file(path).with_init(move |conn| {
            conn.busy_timeout(Duration::from_secs(10))?;
            conn.execute_batch("PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON;")?;
            if let Some(max_bytes) = max_bytes {
                let page_size = conn.query_row("PRAGMA page_size", [], |r| r.get::<_, i64>(0))?.max(512) as u64;
                conn.execute_batch(&format!("PRAGMA max_page_count = {}", (max_bytes / page_size).max(1)))?;
            }
            Ok(())
        });
        let pool = r2d2::Pool::builder().max_size(8).build(manager)?;
        {
            let conn = pool.get()?;
            let version: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
            conn.execute_batch(SCHEMA).map_err(StoreError::classify)?;
            let has_sentiment: bool = conn.query_row(
                "SELECT COUNT(*) FROM pragma_table_info('verbatims') WHERE name = 'sentiment'",
                [],
                |r| r.get(0),
            )?;
            if !has_sentiment {
                conn.execute_batch("ALTER TABLE verbatims ADD COLUMN sentiment TEXT").map_err(StoreError::classify)?;
            }
            if version < SCHEMA_VERSION {
                conn.execute_batch(&format!("PRAGMA user_version = {SCHEMA_VERSION}"))?;
            }
        }
        Ok(Store { pool, path: path.to_path_buf() })
    }

    /// Opens an existing store without the right to change it (the `search` command).
    pub fn open_read_only(path: &Path) -> Result<Store> {
        let manager = SqliteConnectionManager::file(path)
            .with_flags(OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX)
            .with_init(|conn| conn.busy_timeout(Duration::from_secs(10)));
        let pool = r2d2::Pool::builder().max_size(2).build(manager)?;
        Ok(Store { pool, path: path.to_path_buf() })
    }

    /// Inserts or replaces the batch in one transaction and returns the new last `seq`.
    /// Within a batch, a later item with the same id wins.
    pub fn upsert(&self, batch: &[Verbatim]) -> Result<u64> {
        let mut conn = self.pool.get()?;
        let tx = conn.transaction()?;
        let mut seq = read_seq(&tx)?;
        {
            let mut insert = tx.prepare_cached(
                "INSERT INTO verbatims (id, text, language, channel, created_at, customer_id, nps, csat, ces, metadata, seq, sentiment)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)
                 ON CONFLICT(id) DO UPDATE SET text = excluded.text, language = excluded.language,
                   channel = excluded.channel, created_at = excluded.created_at,
                   customer_id = excluded.customer_id, nps = excluded.nps, csat = excluded.csat,
                   ces = excluded.ces, metadata = excluded.metadata, seq = excluded.seq,
                   sentiment = excluded.sentiment",
            )?;
            for v in batch {
                seq += 1;
                let metadata = serde_json::to_string(&v.metadata).expect("string map serialises");
                let sentiment = v.sentiment.map(|s| serde_json::to_string(&s).expect("sentiment serialises"));
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
                        seq as i64,
                        sentiment
                    ])
                    .map_err(StoreError::classify)?;
            }
        }
        write_seq(&tx, seq)?;
        tx.commit().map_err(StoreError::classify)?;
        Ok(seq)
    }

    pub fn get(&self, id: &str) -> Result<Option<Verbatim>> {
        let conn = self.pool.get()?;
        let row =
            conn.query_row(&format!("SELECT {COLUMNS} FROM verbatims WHERE id = ?1"), [id], raw_row).optional()?;
        row.map(RawRow::into_verbatim).transpose()
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

    /// Deletes one verbatim; returns whether it existed.
    pub fn delete(&self, id: &str) -> Result<bool> {
        let conn = self.pool.get()?;
        let deleted = conn.execute("DELETE FROM verbatims WHERE id = ?1", [id]).map_err(StoreError::classify)?;
        Ok(deleted > 0)
    }

    /// Deletes every verbatim of a customer (erasure); returns how many there were.
    pub fn delete_customer(&self, customer_id: &str) -> Result<usize> {
        let conn = self.pool.get()?;
        conn.execute("DELETE FROM verbatims WHERE customer_id = ?1", [customer_id]).map_err(StoreError::classify)
    }

    /// Visits, in `seq` order, every verbatim written after `after_seq`, in pages of `page`,
    /// each with the `seq` of its last row.
    pub fn for_each_since(
        &self,
        after_seq: u64,
        page: usize,
        mut visit: impl FnMut(Vec<Verbatim>, u64) -> anyhow::Result<()>,
    ) -> anyhow::Result<()> {
        let conn = self.pool.get()?;
        let mut stmt =
            conn.prepare(&format!("SELECT {COLUMNS}, seq FROM verbatims WHERE seq > ?1 ORDER BY seq LIMIT ?2"))?;
        let mut cursor = after_seq as i64;
        loop {
            let mut batch = Vec::with_capacity(page);
            let mut rows = stmt.query(params![cursor, page as i64])?;
            while let Some(row) = rows.next()? {
                cursor = row.get(11)?;
                batch.push(raw_row(row)?.into_verbatim()?);
            }
            if batch.is_empty() {
                return Ok(());
            }
            visit(batch, cursor as u64)?;
        }
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
    })
}

impl RawRow {
    fn into_verbatim(self) -> Result<Verbatim> {
        let corrupt = |reason: String| StoreError::Corrupt { id: self.id.clone(), reason };
        let channel = Channel::parse(&self.channel).ok_or_else(|| corrupt(format!("channel `{}`", self.channel)))?;
        let created_at = crate::domain::parse_timestamp(&self.created_at)
            .ok_or_else(|| corrupt(format!("created_at `{}`", self.created_at)))?;
        let metadata = serde_json::from_str(&self.metadata).map_err(|e| corrupt(format!("metadata: {e}")))?;
        let sentiment = self
            .sentiment
            .as_deref()
            .map(serde_json::from_str)
            .transpose()
            .map_err(|e| corrupt(format!("sentiment: {e}")))?;
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
        })
    }
}
