//! Tables for analysts' tools: rows of typed cells written as CSV or Parquet, streamed with
//! bounded memory (a Parquet row group at a time). Exports of stored verbatims and reprocess
//! outputs describe their columns once ([`Column`]) and write rows through a [`TableWriter`].

mod parquet;

use std::io::Write;

use anyhow::Context;

pub use self::parquet::ParquetTable;

/// What a column holds; every column may be empty (null) in a row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Text,
    Integer,
    Float,
    /// Milliseconds since 1970 (UTC).
    Timestamp,
}

#[derive(Debug, Clone, Copy)]
pub struct Column {
    pub name: &'static str,
    pub kind: Kind,
}

pub const fn column(name: &'static str, kind: Kind) -> Column {
    Column { name, kind }
}

/// One value of a row, of its column's [`Kind`].
#[derive(Debug, Clone, PartialEq)]
pub enum Cell {
    Null,
    Text(String),
    Integer(i64),
    Float(f64),
    /// Milliseconds since 1970 (UTC).
    Timestamp(i64),
}

impl<T: Into<Cell>> From<Option<T>> for Cell {
    fn from(value: Option<T>) -> Cell {
        value.map_or(Cell::Null, Into::into)
    }
}

impl From<String> for Cell {
    fn from(value: String) -> Cell {
        Cell::Text(value)
    }
}

impl From<&str> for Cell {
    fn from(value: &str) -> Cell {
        Cell::Text(value.to_string())
    }
}

impl From<u8> for Cell {
    fn from(value: u8) -> Cell {
        Cell::Integer(i64::from(value))
    }
}

impl From<f32> for Cell {
    fn from(value: f32) -> Cell {
        Cell::Float(f64::from(value))
    }
}

/// Writes rows of cells, in the order of the columns it was made with.
pub trait TableWriter {
    fn write_row(&mut self, row: Vec<Cell>) -> anyhow::Result<()>;
    /// Writes what is buffered and the file's trailer (Parquet's footer).
    fn finish(self: Box<Self>) -> anyhow::Result<()>;
}

/// CSV with a header row; timestamps in RFC 3339, nulls as empty fields.
pub struct CsvTable<W: Write> {
    writer: csv::Writer<W>,
}

impl<W: Write> CsvTable<W> {
    pub fn new(sink: W, columns: &[Column]) -> anyhow::Result<CsvTable<W>> {
        let mut writer = csv::Writer::from_writer(sink);
        writer.write_record(columns.iter().map(|c| c.name)).context("writing the CSV header")?;
        Ok(CsvTable { writer })
    }
}

impl<W: Write> TableWriter for CsvTable<W> {
    fn write_row(&mut self, row: Vec<Cell>) -> anyhow::Result<()> {
        let fields = row.into_iter().map(|cell| match cell {
            Cell::Null => String::new(),
            Cell::Text(text) => text,
            Cell::Integer(n) => n.to_string(),
            Cell::Float(x) => x.to_string(),
            Cell::Timestamp(ms) => chrono::DateTime::from_timestamp_millis(ms)
                .map(|t| crate::domain::rfc3339::format(&t))
                .unwrap_or_default(),
        });
        self.writer.write_record(fields).context("writing a CSV row")
    }

    fn finish(mut self: Box<Self>) -> anyhow::Result<()> {
        self.writer.flush().context("writing the CSV file")
    }
}
