//! Rule-based categories: a name and a saved query per language (see
//! [`crate::search::CategoryRule`]). What a category holds is found by the index when asked,
//! so nothing is kept per verbatim and nothing here names a customer.

use r2d2_sqlite::rusqlite::{params, OptionalExtension};
use serde::Serialize;

use super::{Result, Store, StoreError};
use crate::domain::{parse_timestamp, rfc3339};
use crate::search::CategoryRule;

/// A category as stored.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Category {
    pub id: i64,
    pub name: String,
    /// The saved query per language.
    pub queries: CategoryRule,
    #[serde(with = "rfc3339")]
    pub created_at: chrono::DateTime<chrono::Utc>,
}

/// Why a category was not created.
#[derive(Debug, thiserror::Error)]
pub enum CategoryError {
    #[error("a category named `{0}` exists already")]
    NameTaken(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

const CATEGORY_COLUMNS: &str = "id, name, rule, created_at";

fn category(row: &r2d2_sqlite::rusqlite::Row<'_>) -> r2d2_sqlite::rusqlite::Result<(i64, String, String, String)> {
    Ok((row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?))
}

fn decoded((id, name, rule, created_at): (i64, String, String, String)) -> Result<Category> {
    let corrupt = |reason: String| StoreError::Corrupt { id: format!("category {id}"), reason };
    Ok(Category {
        id,
        name,
        queries: serde_json::from_str(&rule).map_err(|e| corrupt(format!("rule: {e}")))?,
        created_at: parse_timestamp(&created_at).ok_or_else(|| corrupt(format!("created_at `{created_at}`")))?,
    })
}

impl Store {
    /// Every category, oldest first.
    pub fn categories(&self) -> Result<Vec<Category>> {
        let conn = self.pool.get()?;
        let mut stmt = conn.prepare(&format!("SELECT {CATEGORY_COLUMNS} FROM categories ORDER BY id"))?;
        let rows = stmt.query_map([], category)?;
        rows.map(|row| decoded(row?)).collect()
    }

    pub fn category(&self, id: i64) -> Result<Option<Category>> {
        let conn = self.pool.get()?;
        let row = conn
            .query_row(&format!("SELECT {CATEGORY_COLUMNS} FROM categories WHERE id = ?1"), [id], category)
            .optional()?;
        row.map(decoded).transpose()
    }

    /// Records a category; its name must be new.
    pub fn insert_category(&self, name: &str, rule: &CategoryRule) -> std::result::Result<Category, CategoryError> {
        let conn = self.pool.get().map_err(StoreError::from)?;
        let inserted = conn.query_row(
            &format!(
                "INSERT INTO categories (name, rule, created_at) VALUES (?1, ?2, ?3) RETURNING {CATEGORY_COLUMNS}"
            ),
            params![
                name,
                serde_json::to_string(rule).expect("a rule serialises"),
                rfc3339::format(&chrono::Utc::now())
            ],
            category,
        );
        match inserted {
            Ok(row) => Ok(decoded(row)?),
            Err(err) if err.sqlite_error_code() == Some(r2d2_sqlite::rusqlite::ErrorCode::ConstraintViolation) => {
                Err(CategoryError::NameTaken(name.to_string()))
            }
            Err(err) => Err(StoreError::classify(err).into()),
        }
    }

    /// Deletes a category; returns whether it existed.
    pub fn delete_category(&self, id: i64) -> Result<bool> {
        let conn = self.pool.get()?;
        Ok(conn.execute("DELETE FROM categories WHERE id = ?1", [id]).map_err(StoreError::classify)? > 0)
    }
}
