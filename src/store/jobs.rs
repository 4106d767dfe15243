//! The jobs table: each background job's spec, state and progress (see [`crate::jobs`]).
//!
//! A job's progress is written in the same transaction as the results it covers
//! ([`StoreWriter::set_job_progress`]), so a job killed at any moment resumes exactly after
//! its last committed results: nothing lost, nothing analysed twice.

use r2d2_sqlite::rusqlite::{params, OptionalExtension, Row};
use serde::{Deserialize, Serialize};

use super::{Result, Store, StoreError, StoreWriter};
use crate::domain::{parse_timestamp, rfc3339};

/// Where a job is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum JobState {
    /// Waiting for a free place (at most N jobs run at once).
    Queued,
    Running,
    Done,
    Failed,
}

impl JobState {
    const ALL: [JobState; 4] = [JobState::Queued, JobState::Running, JobState::Done, JobState::Failed];

    pub fn as_str(self) -> &'static str {
        match self {
            JobState::Queued => "queued",
            JobState::Running => "running",
            JobState::Done => "done",
            JobState::Failed => "failed",
        }
    }

    fn parse(name: &str) -> Option<JobState> {
        JobState::ALL.into_iter().find(|state| state.as_str() == name)
    }

    /// Whether the job has stopped for good.
    pub fn is_final(self) -> bool {
        matches!(self, JobState::Done | JobState::Failed)
    }
}

/// One job as stored. `spec` is the job's own JSON (its kind and parameters).
#[derive(Debug, Clone, Serialize)]
pub struct JobRow {
    pub id: String,
    pub spec: serde_json::Value,
    pub state: JobState,
    #[serde(with = "rfc3339")]
    pub created_at: chrono::DateTime<chrono::Utc>,
    #[serde(with = "rfc3339")]
    pub updated_at: chrono::DateTime<chrono::Utc>,
    /// The store's last row number when the job was created (see [`Store::page`]): rows
    /// added later are not the job's.
    #[serde(skip)]
    pub snapshot: u64,
    /// The last erasure the job's results are clear of: at creation, the last one recorded
    /// (earlier ones do not reach data submitted after them); moved on each time later ones
    /// are applied to its files. An audit row number, not a time, so a clock set back cannot
    /// hide an erasure.
    #[serde(skip)]
    pub erasure_mark: u64,
    /// The row number of the last row whose results are committed.
    #[serde(skip)]
    pub cursor: u64,
    pub done: u64,
    pub total: u64,
    pub errors: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// Progress committed with a page of results.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobProgress {
    pub id: String,
    pub cursor: u64,
    pub done: u64,
    pub errors: u64,
}

const JOB_COLUMNS: &str =
    "id, spec, state, created_at, updated_at, snapshot, erasure_mark, cursor, done, total, errors, message";

impl Store {
    /// Records a new job, queued, that will read the rows stored so far.
    pub fn insert_job(&self, id: &str, spec: &serde_json::Value, total: u64) -> Result<JobRow> {
        self.write(|writer| {
            let now = rfc3339::format(&chrono::Utc::now());
            let snapshot = super::last_row(writer.tx)? as i64;
            writer
                .tx
                .execute(
                    "INSERT INTO jobs (id, spec, state, created_at, updated_at, snapshot, erasure_mark, cursor, done,
                        total, errors)
                     VALUES (?1, ?2, 'queued', ?3, ?3, ?4, (SELECT COALESCE(MAX(rowid), 0) FROM erasures), 0, 0, ?5, 0)",
                    params![id, spec.to_string(), now, snapshot, total as i64],
                )
                .map_err(StoreError::classify)?;
            Ok(())
        })?;
        Ok(self.job(id)?.expect("just inserted"))
    }

    pub fn job(&self, id: &str) -> Result<Option<JobRow>> {
        let conn = self.pool.get()?;
        let row = conn.query_row(&format!("SELECT {JOB_COLUMNS} FROM jobs WHERE id = ?1"), [id], raw_job).optional()?;
        row.map(RawJob::into_job).transpose()
    }

    /// The newest `limit` jobs, newest first.
    pub fn jobs(&self, limit: usize) -> Result<Vec<JobRow>> {
        self.select_jobs(&format!("ORDER BY created_at DESC, rowid DESC LIMIT {}", limit.min(i64::MAX as usize)))
    }

    /// Jobs finished (done or failed), oldest first.
    pub fn finished_jobs(&self) -> Result<Vec<JobRow>> {
        self.select_jobs("WHERE state IN ('done', 'failed') ORDER BY created_at, rowid")
    }

    /// Jobs not yet finished, oldest first: the order they run in.
    pub fn unfinished_jobs(&self) -> Result<Vec<JobRow>> {
        self.select_jobs("WHERE state IN ('queued', 'running') ORDER BY created_at, rowid")
    }

    fn select_jobs(&self, clause: &str) -> Result<Vec<JobRow>> {
        let conn = self.pool.get()?;
        let mut stmt = conn.prepare(&format!("SELECT {JOB_COLUMNS} FROM jobs {clause}"))?;
        let rows = stmt.query_map([], raw_job)?;
        rows.map(|row| row?.into_job()).collect()
    }

    /// Moves a job to `state`, unless it has already finished or was deleted. Returns whether
    /// it moved.
    pub fn set_job_state(&self, id: &str, state: JobState, message: Option<&str>) -> Result<bool> {
        let (moved, _) = self.write(|writer| {
            writer
                .tx
                .execute(
                    "UPDATE jobs SET state = ?2, message = ?3, updated_at = ?4
                     WHERE id = ?1 AND state IN ('queued', 'running')",
                    params![id, state.as_str(), message, rfc3339::format(&chrono::Utc::now())],
                )
                .map_err(StoreError::classify)
        })?;
        Ok(moved > 0)
    }
    /// Forgets a job (its results files are the caller's to remove).
    pub fn delete_job(&self, id: &str) -> Result<bool> {
        let (deleted, _) = self
            .write(|writer| writer.tx.execute("DELETE FROM jobs WHERE id = ?1", [id]).map_err(StoreError::classify))?;
        Ok(deleted > 0)
    }

    /// Records that job `id`'s results are clear of every erasure up to `mark`.
    pub fn set_job_erasure_mark(&self, id: &str, mark: u64) -> Result<()> {
        self.write(|writer| {
            writer
                .tx
                .execute("UPDATE jobs SET erasure_mark = ?2 WHERE id = ?1", params![id, mark as i64])
                .map_err(StoreError::classify)
        })?;
        Ok(())
    }

    /// Records a file job's progress (its results are in files, checkpointed apart).
    pub fn set_file_job_progress(&self, progress: &JobProgress, total: u64) -> Result<()> {
        self.write(|writer| {
            writer.set_job_progress(progress)?;
            writer
                .tx
                .execute("UPDATE jobs SET total = ?2 WHERE id = ?1", params![progress.id, total as i64])
                .map_err(StoreError::classify)?;
            Ok(())
        })?;
        Ok(())
    }
    /// Lets a failed job run again from where it failed (the command line resumes it).
    pub fn resume_job(&self, id: &str) -> Result<()> {
        self.write(|writer| {
            writer
                .tx
                .execute("UPDATE jobs SET state = 'running', message = NULL WHERE id = ?1 AND state = 'failed'", [id])
                .map_err(StoreError::classify)
        })?;
        Ok(())
    }
}

impl StoreWriter<'_> {
    /// Records a job's progress in this transaction: with the results it covers, or not at all.
    pub fn set_job_progress(&mut self, progress: &JobProgress) -> Result<()> {
        self.tx
            .execute(
                "UPDATE jobs SET cursor = ?2, done = ?3, errors = ?4, updated_at = ?5 WHERE id = ?1",
                params![
                    progress.id,
                    progress.cursor as i64,
                    progress.done as i64,
                    progress.errors as i64,
                    rfc3339::format(&chrono::Utc::now())
                ],
            )
            .map_err(StoreError::classify)?;
        Ok(())
    }

    /// Removes a customer's id from the filters of recorded jobs (part of erasing the customer).
    /// A job that has not finished stops (`failed`, saying why): without its customer filter
    /// it would select every verbatim, and the customer it selected is gone.
    pub(super) fn forget_customer_in_jobs(&mut self, customer_id: &str) -> Result<()> {
        self.tx
            .execute(
                "UPDATE jobs SET spec = json_remove(spec, '$.filter.customer_id'), updated_at = ?2,
                   message = CASE WHEN state IN ('queued', 'running')
                     THEN 'stopped: the customer its filter selected was erased' ELSE message END,
                   state = CASE WHEN state IN ('queued', 'running') THEN 'failed' ELSE state END
                 WHERE json_extract(spec, '$.filter.customer_id') = ?1",
                params![customer_id, rfc3339::format(&chrono::Utc::now())],
            )
            .map_err(StoreError::classify)?;
        Ok(())
    }
}

struct RawJob {
    id: String,
    spec: String,
    state: String,
    created_at: String,
    updated_at: String,
    counts: [i64; 6],
    message: Option<String>,
}

fn raw_job(row: &Row<'_>) -> r2d2_sqlite::rusqlite::Result<RawJob> {
    Ok(RawJob {
        id: row.get(0)?,
        spec: row.get(1)?,
        state: row.get(2)?,
        created_at: row.get(3)?,
        updated_at: row.get(4)?,
        counts: [row.get(5)?, row.get(6)?, row.get(7)?, row.get(8)?, row.get(9)?, row.get(10)?],
        message: row.get(11)?,
    })
}

impl RawJob {
    fn into_job(self) -> Result<JobRow> {
        let corrupt = |reason: String| StoreError::Corrupt { id: format!("job {}", self.id), reason };
        let [snapshot, erasure_mark, cursor, done, total, errors] = self.counts.map(|n| n.max(0) as u64);
        Ok(JobRow {
            spec: serde_json::from_str(&self.spec).map_err(|e| corrupt(format!("spec: {e}")))?,
            state: JobState::parse(&self.state).ok_or_else(|| corrupt(format!("state `{}`", self.state)))?,
            created_at: parse_timestamp(&self.created_at)
                .ok_or_else(|| corrupt(format!("created_at `{}`", self.created_at)))?,
            updated_at: parse_timestamp(&self.updated_at)
                .ok_or_else(|| corrupt(format!("updated_at `{}`", self.updated_at)))?,
            snapshot,
            erasure_mark,
            cursor,
            done,
            total,
            errors,
            message: self.message,
            id: self.id,
        })
    }
}
