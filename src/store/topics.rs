//! What topics keep in the store: each verbatim's assignment (in its row), the saved topic
//! models (one row per version, the newest in use), and the names analysts gave topics.
//!
//! A topic model holds centroids, weights and names made from words several verbatims share,
//! and the search filter its discovery read: no verbatim text and no verbatim id. After an
//! erasure the names are made again from the verbatims left, and an erased customer is taken
//! out of the filter (its assignment goes with its row). Examples are read from the rows when
//! asked for.

use std::collections::HashMap;

use r2d2_sqlite::rusqlite::{params, OptionalExtension};
use serde::Serialize;

use super::{analysis_columns, raw_row, Result, Store, StoreError, StoreWriter, COLUMNS};
use crate::domain::{parse_timestamp, rfc3339, Verbatim};

/// What the service groups verbatims into, saves a model of, and lets analysts edit: topics
/// ([`crate::topics`]) and root causes ([`crate::root_causes`]), each with its own tables.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Grouping {
    Topics,
    RootCauses,
}

impl Grouping {
    fn models_table(self) -> &'static str {
        match self {
            Grouping::Topics => "topic_models",
            Grouping::RootCauses => "root_cause_models",
        }
    }

    /// The edits table and its id column.
    fn edits_table(self) -> (&'static str, &'static str) {
        match self {
            Grouping::Topics => ("topic_edits", "topic_id"),
            Grouping::RootCauses => ("root_cause_edits", "root_cause_id"),
        }
    }
}

/// A topic or root-cause model as saved: when and by which job, and its JSON (read by
/// `crate::topics`), which only loading it needs (it is the size of the model's centroids).
#[derive(Debug, Clone)]
pub struct SavedModel {
    pub version: u32,
    pub created_at: chrono::DateTime<chrono::Utc>,
    /// The job that discovered it.
    pub job_id: Option<String>,
    /// `None` when read without it ([`Store::topic_model_header`]).
    pub model: Option<String>,
}

/// How many verbatims a topic holds now, by document sentiment.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct TopicCounts {
    pub verbatims: u64,
    pub negative: u64,
    pub neutral: u64,
    pub positive: u64,
    pub mixed: u64,
}

/// What an analyst changed of a topic or a root cause.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GroupEdit {
    /// Their name for it, in place of the discovered one.
    pub label: Option<String>,
    /// Kept by re-discoveries that do not find it again.
    pub pinned: bool,
}

/// A topic's verbatims in one week (weeks start on Monday, UTC).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TopicWeek {
    /// The Monday that starts the week, `YYYY-MM-DD`.
    pub week: String,
    #[serde(flatten)]
    pub counts: TopicCounts,
}

/// The counting columns of a group of rows: how many, and how many of each sentiment.
const COUNTS: &str = "COUNT(*),
    SUM(json_extract(sentiment, '$.label') = 'negative'),
    SUM(json_extract(sentiment, '$.label') = 'neutral'),
    SUM(json_extract(sentiment, '$.label') = 'positive'),
    SUM(json_extract(sentiment, '$.label') = 'mixed')";

fn counts(row: &r2d2_sqlite::rusqlite::Row<'_>, first: usize) -> r2d2_sqlite::rusqlite::Result<TopicCounts> {
    let n = |i: usize| row.get::<_, Option<i64>>(first + i).map(|n| n.unwrap_or(0) as u64);
    Ok(TopicCounts { verbatims: n(0)?, negative: n(1)?, neutral: n(2)?, positive: n(3)?, mixed: n(4)? })
}

impl Store {
    /// The model of `grouping` in use: the newest saved, with its JSON.
    pub fn saved_model(&self, grouping: Grouping) -> Result<Option<SavedModel>> {
        self.newest_model(grouping, "model")
    }

    /// The model of `grouping` in use without its JSON: when and by which job it was saved.
    pub fn saved_model_header(&self, grouping: Grouping) -> Result<Option<SavedModel>> {
        self.newest_model(grouping, "NULL")
    }

    /// The newest saved model, its JSON read as the column expression `model`.
    fn newest_model(&self, grouping: Grouping, model: &str) -> Result<Option<SavedModel>> {
        let conn = self.pool.get()?;
        let table = grouping.models_table();
        let row = conn
            .query_row(
                &format!("SELECT version, created_at, job_id, {model} FROM {table} ORDER BY version DESC LIMIT 1"),
                [],
                |r| {
                    Ok((
                        r.get::<_, i64>(0)?,
                        r.get::<_, String>(1)?,
                        r.get::<_, Option<String>>(2)?,
                        r.get::<_, Option<String>>(3)?,
                    ))
                },
            )
            .optional()?;
        row.map(|(version, created_at, job_id, model)| {
            let created_at = parse_timestamp(&created_at).ok_or_else(|| StoreError::Corrupt {
                id: format!("{table} {version}"),
                reason: format!("created_at `{created_at}`"),
            })?;
            Ok(SavedModel { version: version as u32, created_at, job_id, model })
        })
        .transpose()
    }

    /// Per topic id (-1: verbatims no topic is near), the verbatims it holds now.
    pub fn topic_counts(&self) -> Result<HashMap<i64, TopicCounts>> {
        let conn = self.pool.get()?;
        let mut stmt = conn.prepare(&format!(
            "SELECT topic_id, {COUNTS} FROM verbatims WHERE topic_id IS NOT NULL GROUP BY topic_id"
        ))?;
        let rows = stmt.query_map([], |r| Ok((r.get::<_, i64>(0)?, counts(r, 1)?)))?;
        Ok(rows.collect::<std::result::Result<_, _>>()?)
    }

    /// Topic `topic`'s verbatims created in `[since, until)`, week by week, oldest week first;
    /// weeks without any are absent.
    pub fn topic_weeks(
        &self,
        topic: i64,
        since: chrono::DateTime<chrono::Utc>,
        until: chrono::DateTime<chrono::Utc>,
    ) -> Result<Vec<TopicWeek>> {
        let conn = self.pool.get()?;
        // `-6 days` then `weekday 1`: the Monday on or before the day.
        let mut stmt = conn.prepare(&format!(
            "SELECT date(created_at, '-6 days', 'weekday 1') AS week, {COUNTS} FROM verbatims
             WHERE topic_id = ?1 AND created_at >= ?2 AND created_at < ?3
             GROUP BY week ORDER BY week"
        ))?;
        let rows = stmt.query_map(params![topic, rfc3339::format(&since), rfc3339::format(&until)], |r| {
            Ok(TopicWeek { week: r.get(0)?, counts: counts(r, 1)? })
        })?;
        Ok(rows.collect::<std::result::Result<_, _>>()?)
    }

    /// Per topic id, how many of its verbatims were created in `[recent, until)` and how many
    /// in `[baseline, recent)`: what trends compare.
    pub fn topic_activity(
        &self,
        baseline: chrono::DateTime<chrono::Utc>,
        recent: chrono::DateTime<chrono::Utc>,
        until: chrono::DateTime<chrono::Utc>,
    ) -> Result<HashMap<i64, (u64, u64)>> {
        let conn = self.pool.get()?;
        let mut stmt = conn.prepare(
            "SELECT topic_id, SUM(created_at >= ?2), SUM(created_at < ?2) FROM verbatims
             WHERE topic_id IS NOT NULL AND created_at >= ?1 AND created_at < ?3 GROUP BY topic_id",
        )?;
        let [baseline, recent, until] = [baseline, recent, until].map(|t| rfc3339::format(&t));
        let rows = stmt.query_map(params![baseline, recent, until], |r| {
            Ok((r.get::<_, i64>(0)?, (r.get::<_, i64>(1)? as u64, r.get::<_, i64>(2)? as u64)))
        })?;
        Ok(rows.collect::<std::result::Result<_, _>>()?)
    }

    /// The `limit` verbatims nearest the centre of topic `id`, nearest first.
    pub fn topic_examples(&self, id: i64, limit: usize) -> Result<Vec<Verbatim>> {
        let conn = self.pool.get()?;
        let mut stmt = conn.prepare(&format!(
            "SELECT {COLUMNS} FROM verbatims WHERE topic_id = ?1
             ORDER BY json_extract(topic, '$.similarity') DESC, id LIMIT ?2"
        ))?;
        let rows = stmt.query_map(params![id, limit as i64], raw_row)?;
        rows.map(|row| row?.into_verbatim()).collect()
    }

    /// The text, language and topic id of every verbatim in a topic: what names are made of.
    pub fn topic_texts(&self) -> Result<Vec<(String, Option<String>, i64)>> {
        let conn = self.pool.get()?;
        let mut stmt = conn.prepare("SELECT text, language, topic_id FROM verbatims WHERE topic_id >= 0")?;
        let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
        Ok(rows.collect::<std::result::Result<_, _>>()?)
    }

    /// What analysts changed of `grouping`'s topics or root causes, by id.
    pub fn edits(&self, grouping: Grouping) -> Result<HashMap<i64, GroupEdit>> {
        let conn = self.pool.get()?;
        let (table, id) = grouping.edits_table();
        let mut stmt = conn.prepare(&format!("SELECT {id}, label, pinned FROM {table}"))?;
        let rows = stmt.query_map([], |r| Ok((r.get(0)?, GroupEdit { label: r.get(1)?, pinned: r.get(2)? })))?;
        Ok(rows.collect::<std::result::Result<_, _>>()?)
    }

    /// Records what an analyst changed of `grouping`'s `id`: `label` (`Some(None)` gives back
    /// the discovered name) and `pinned`, each left as it was when `None`. Kept by id, apart
    /// from the model, so that it outlives re-discoveries while the id does.
    pub fn edit(&self, grouping: Grouping, id: i64, label: Option<Option<&str>>, pinned: Option<bool>) -> Result<()> {
        let mut conn = self.pool.get()?;
        let (table, column) = grouping.edits_table();
        let tx = conn.transaction_with_behavior(r2d2_sqlite::rusqlite::TransactionBehavior::Immediate)?;
        let mut edit = tx
            .query_row(&format!("SELECT label, pinned FROM {table} WHERE {column} = ?1"), [id], |r| {
                Ok(GroupEdit { label: r.get(0)?, pinned: r.get(1)? })
            })
            .optional()?
            .unwrap_or_default();
        if let Some(label) = label {
            edit.label = label.map(str::to_string);
        }
        if let Some(pinned) = pinned {
            edit.pinned = pinned;
        }
        if edit == GroupEdit::default() {
            tx.execute(&format!("DELETE FROM {table} WHERE {column} = ?1"), [id])
        } else {
            tx.execute(
                &format!(
                    "INSERT INTO {table} ({column}, label, pinned, updated_at) VALUES (?1, ?2, ?3, ?4)
                     ON CONFLICT({column}) DO UPDATE SET label = excluded.label, pinned = excluded.pinned,
                       updated_at = excluded.updated_at"
                ),
                params![id, edit.label, edit.pinned, rfc3339::format(&chrono::Utc::now())],
            )
        }
        .map_err(StoreError::classify)?;
        tx.commit().map_err(StoreError::classify)?;
        Ok(())
    }
}

impl StoreWriter<'_> {
    /// Saves `model` (JSON) as `grouping`'s next version, the one in use; returns its version.
    pub fn save_model(&mut self, grouping: Grouping, job_id: Option<&str>, model: &str) -> Result<u32> {
        let table = grouping.models_table();
        let version: i64 =
            self.tx.query_row(&format!("SELECT COALESCE(MAX(version), 0) + 1 FROM {table}"), [], |r| r.get(0))?;
        self.tx
            .execute(
                &format!("INSERT INTO {table} (version, created_at, job_id, model) VALUES (?1, ?2, ?3, ?4)"),
                params![version, rfc3339::format(&chrono::Utc::now()), job_id, model],
            )
            .map_err(StoreError::classify)?;
        // Only the model in use is kept: an older one's names would escape renaming after an
        // erasure (see `crate::topics::SavedTopics::renamed`).
        self.tx.execute(&format!("DELETE FROM {table} WHERE version < ?1"), [version]).map_err(StoreError::classify)?;
        Ok(version as u32)
    }

    /// Stores each verbatim's topic (as [`Verbatim::topic`] holds it), with a new `seq` so the
    /// index follows, if its text and language are still those that were read; a verbatim
    /// changed or erased meanwhile is left as it now is. Returns the rows updated, as stored.
    pub fn set_topics(&mut self, verbatims: &[Verbatim]) -> Result<Vec<Verbatim>> {
        self.update_as_read("topic = ?1, topic_id = ?2", verbatims, |v| {
            let [_, _, _, topic, ..] = analysis_columns(v);
            vec![topic.into(), v.topic.map(|t| t.id).into()]
        })
    }

    /// The verbatims in topic `id`.
    pub fn topic_members(&self, id: i64) -> Result<Vec<Verbatim>> {
        let mut stmt = self.tx.prepare(&format!("SELECT {COLUMNS} FROM verbatims WHERE topic_id = ?1"))?;
        let rows = stmt.query_map([id], raw_row)?;
        rows.map(|row| row?.into_verbatim()).collect()
    }

    /// Replaces the JSON of `grouping`'s model `version` (a change to the model in use: a
    /// merge, its names).
    pub fn replace_model(&mut self, grouping: Grouping, version: u32, model: &str) -> Result<()> {
        let table = grouping.models_table();
        self.tx
            .execute(&format!("UPDATE {table} SET model = ?2 WHERE version = ?1"), params![version, model])
            .map_err(StoreError::classify)?;
        Ok(())
    }

    /// Removes an erased customer from the filter each saved discovery records.
    pub(super) fn forget_customer_in_models(&mut self, customer_id: &str) -> Result<()> {
        for grouping in [Grouping::Topics, Grouping::RootCauses] {
            let table = grouping.models_table();
            self.tx
                .execute(
                    &format!(
                        "UPDATE {table} SET model = json_remove(model, '$.discovery.filter.customer_id')
                         WHERE json_extract(model, '$.discovery.filter.customer_id') = ?1"
                    ),
                    [customer_id],
                )
                .map_err(StoreError::classify)?;
        }
        Ok(())
    }

    /// Forgets what analysts changed of `grouping`'s `id` (merged into another, or split).
    pub fn forget_edits(&mut self, grouping: Grouping, id: i64) -> Result<()> {
        let (table, column) = grouping.edits_table();
        self.tx.execute(&format!("DELETE FROM {table} WHERE {column} = ?1"), [id]).map_err(StoreError::classify)?;
        Ok(())
    }

    /// The verbatims without a topic of model `version`: stored before it was saved but not
    /// read by its discovery, or written meanwhile.
    pub fn without_topic_of(&self, version: u32) -> Result<Vec<Verbatim>> {
        let mut stmt = self.tx.prepare(&format!(
            "SELECT {COLUMNS} FROM verbatims WHERE topic IS NULL OR json_extract(topic, '$.model') IS NOT ?1"
        ))?;
        let rows = stmt.query_map([version], raw_row)?;
        rows.map(|row| row?.into_verbatim()).collect()
    }
}
