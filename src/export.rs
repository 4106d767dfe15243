//! Export of search results: every stored verbatim a query and filters select, as JSONL, CSV
//! or Parquet, streamed with bounded memory.
//!
//! Search pages by offset and stops at 10,000 (deep offsets cost the engine dearly); an export
//! instead walks the store by row number, a cursor (see [`crate::store::Store::page`]), a page
//! at a time, and keeps the rows the index says match. So it reaches every match, however
//! many, in the order they were first stored, and ends where the store ended when it began:
//! verbatims added meanwhile are left for the next export.

use std::io::Write;

use crate::domain::{Verbatim, NO_EMOTION};
use crate::search::SearchRequest;
use crate::service::Reader;
use crate::tabular::{column, Cell, Column, CsvTable, Kind, ParquetTable, TableWriter};

/// Rows read from the store and matched against the index together.
const PAGE: usize = 2_000;

/// What an export is written as.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum ExportFormat {
    /// One verbatim per line, as `GET /v1/verbatims/{id}` shows it.
    Jsonl,
    /// One row per verbatim, [`VERBATIM_COLUMNS`], with a header.
    Csv,
    /// The columns of CSV, typed and compressed, for analysts' tools.
    Parquet,
}

impl ExportFormat {
    pub const ALL: [ExportFormat; 3] = [ExportFormat::Jsonl, ExportFormat::Csv, ExportFormat::Parquet];

    pub fn as_str(self) -> &'static str {
        match self {
            ExportFormat::Jsonl => "jsonl",
            ExportFormat::Csv => "csv",
            ExportFormat::Parquet => "parquet",
        }
    }

    pub fn parse(name: &str) -> Option<ExportFormat> {
        ExportFormat::ALL.into_iter().find(|f| f.as_str() == name)
    }

    pub fn media_type(self) -> &'static str {
        match self {
            ExportFormat::Jsonl => "application/x-ndjson",
            ExportFormat::Csv => "text/csv; charset=utf-8",
            ExportFormat::Parquet => "application/vnd.apache.parquet",
        }
    }
}

/// The flat columns of an exported verbatim; `metadata` is its JSON object.
pub const VERBATIM_COLUMNS: [Column; 18] = [
    column("id", Kind::Text),
    column("text", Kind::Text),
    column("language", Kind::Text),
    column("channel", Kind::Text),
    column("created_at", Kind::Timestamp),
    column("customer_id", Kind::Text),
    column("nps", Kind::Integer),
    column("csat", Kind::Integer),
    column("ces", Kind::Integer),
    column("sentiment", Kind::Text),
    column("sentiment_score", Kind::Float),
    column("p_negative", Kind::Float),
    column("p_neutral", Kind::Float),
    column("p_positive", Kind::Float),
    column("sentiment_model", Kind::Text),
    column("sentiment_model_version", Kind::Text),
    column("emotions", Kind::Text),
    column("metadata", Kind::Text),
];

fn verbatim_row(v: Verbatim) -> Vec<Cell> {
    let sentiment = v.sentiment.as_ref();
    let model = v.sentiment_model.as_ref();
    vec![
        Cell::Text(v.id),
        Cell::Text(v.text),
        v.language.into(),
        v.channel.as_str().into(),
        Cell::Timestamp(v.created_at.timestamp_millis()),
        v.customer_id.into(),
        v.nps.into(),
        v.csat.into(),
        v.ces.into(),
        sentiment.map(|s| s.label.as_str()).into(),
        sentiment.map(|s| s.score).into(),
        sentiment.map(|s| s.confidence.negative).into(),
        sentiment.map(|s| s.confidence.neutral).into(),
        sentiment.map(|s| s.confidence.positive).into(),
        model.map(|m| m.tier.as_str()).into(),
        model.map(|m| m.version.clone()).into(),
        // Names, strongest first, comma-separated: a spreadsheet cell. `neutral` when none, so
        // it differs from a verbatim analysed before emotions were (an empty cell).
        v.emotions
            .map(|found| match found.is_empty() {
                true => NO_EMOTION.to_string(),
                false => found.iter().map(|e| e.label.as_str()).collect::<Vec<_>>().join(","),
            })
            .into(),
        Cell::Text(serde_json::to_string(&v.metadata).expect("string map serialises")),
    ]
}

/// Writes every verbatim the request selects (its query and filters; paging is ignored) to
/// `sink`; returns how many.
pub fn export(
    reader: &Reader,
    request: &SearchRequest,
    format: ExportFormat,
    sink: impl Write + Send,
) -> anyhow::Result<u64> {
    let mut output = match format {
        ExportFormat::Jsonl => Output::Lines(std::io::BufWriter::new(Box::new(sink))),
        ExportFormat::Csv => Output::Table(Box::new(CsvTable::new(sink, &VERBATIM_COLUMNS)?)),
        ExportFormat::Parquet => Output::Table(Box::new(ParquetTable::new(sink, "verbatim", &VERBATIM_COLUMNS)?)),
    };
    let through = reader.last_row()?;
    let (mut cursor, mut written) = (0, 0);
    while let Some((last, selected)) = reader.select_page(request, cursor, through, PAGE)? {
        cursor = last;
        written += selected.len() as u64;
        for verbatim in selected {
            output.write(verbatim)?;
        }
    }
    output.finish()?;
    Ok(written)
}

enum Output<'a> {
    Lines(std::io::BufWriter<Box<dyn Write + Send + 'a>>),
    Table(Box<dyn TableWriter + 'a>),
}

impl Output<'_> {
    fn write(&mut self, verbatim: Verbatim) -> anyhow::Result<()> {
        match self {
            Output::Lines(sink) => {
                serde_json::to_writer(&mut *sink, &verbatim)?;
                sink.write_all(b"\n")?;
            }
            Output::Table(table) => table.write_row(verbatim_row(verbatim))?,
        }
        Ok(())
    }

    fn finish(self) -> anyhow::Result<()> {
        match self {
            Output::Lines(mut sink) => sink.flush()?,
            Output::Table(table) => table.finish()?,
        }
        Ok(())
    }
}
