//! What root causes keep in the store: each verbatim's (in its row: the model's version and
//! each root cause's id and span, no text), the saved root-cause model (one row per version,
//! the newest in use, in `root_cause_models`, see [`super::Grouping`]) and analysts' names.
//!
//! The model holds centroids and names made from words several verbatims' mentions share, and
//! the search filter its discovery read, as a topic model does: after an erasure its names are
//! made again from the mentions left, and an erased customer is taken out of the filter.

use r2d2_sqlite::rusqlite::params;

use super::{analysis_columns, raw_row, Result, Store, StoreWriter, COLUMNS};
use crate::domain::{RootCauseAssignment, Verbatim};

/// Rows citing root cause `?1`.
const CITING: &str =
    "EXISTS (SELECT 1 FROM json_each(verbatims.root_causes, '$.causes') WHERE json_extract(value, '$.id') = ?1)";

impl Store {
    /// Every verbatim stating a root cause: its text, language and root causes (what names
    /// are made from again after an erasure).
    pub fn root_cause_texts(&self) -> Result<Vec<(String, Option<String>, RootCauseAssignment)>> {
        let conn = self.pool.get()?;
        let mut stmt = conn.prepare(
            "SELECT id, text, language, root_causes FROM verbatims
             WHERE json_array_length(root_causes, '$.causes') > 0",
        )?;
        let rows = stmt.query_map([], |r| {
            Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?, r.get::<_, Option<String>>(2)?, r.get::<_, String>(3)?))
        })?;
        rows.map(|row| {
            let (id, text, language, json) = row?;
            let found = super::json_column(&id, "root_causes", Some(&json))?.expect("a column read from a value");
            Ok((text, language, found))
        })
        .collect()
    }
}

impl StoreWriter<'_> {
    /// Stores each verbatim's root causes (as [`Verbatim::root_causes`] holds them), with a new
    /// `seq` so the index follows, if its text and language are still those that were read.
    /// Returns the rows updated, as stored.
    pub fn set_root_causes(&mut self, verbatims: &[Verbatim]) -> Result<Vec<Verbatim>> {
        self.update_as_read("root_causes = ?1", verbatims, |v| {
            let [_, _, _, _, root_causes, ..] = analysis_columns(v);
            vec![root_causes.into()]
        })
    }

    /// The verbatims citing root cause `id`.
    pub fn root_cause_members(&self, id: i64) -> Result<Vec<Verbatim>> {
        let mut stmt = self.tx.prepare(&format!("SELECT {COLUMNS} FROM verbatims WHERE {CITING}"))?;
        let rows = stmt.query_map(params![id], raw_row)?;
        rows.map(|row| row?.into_verbatim()).collect()
    }

    /// The verbatims without root causes of model `version`: stored before it was saved but
    /// not read by its discovery, or written meanwhile.
    pub fn without_root_causes_of(&self, version: u32) -> Result<Vec<Verbatim>> {
        let mut stmt = self.tx.prepare(&format!(
            "SELECT {COLUMNS} FROM verbatims
             WHERE root_causes IS NULL OR json_extract(root_causes, '$.model') IS NOT ?1"
        ))?;
        let rows = stmt.query_map([version], raw_row)?;
        rows.map(|row| row?.into_verbatim()).collect()
    }
}
