//! File readers: JSONL (one JSON object a line) or CSV (a header row), each record turned into
//! the JSON object the HTTP API takes, with its line number, for the same validation.
//!
//! A record that cannot be read (invalid UTF-8, malformed JSON) is an error of its own line;
//! the lines around it still read. In CSV, the columns `id, text, language, channel,
//! created_at, customer_id, nps, csat, ces` map to fields and every other non-empty column
//! goes into `metadata`.

use std::io::{BufRead, BufReader, Read};

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::{Map, Value};

use super::{item_id, ItemError};
use crate::domain::Verbatim;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Jsonl,
    Csv,
}

impl Format {
    /// `.csv` files are CSV; everything else (`.jsonl`, `.ndjson`, stdin) is JSONL.
    pub fn guess(path: &str) -> Format {
        if path.to_ascii_lowercase().ends_with(".csv") {
            Format::Csv
        } else {
            Format::Jsonl
        }
    }
}

/// One rejected record.
#[derive(Debug, Clone, Serialize)]
pub struct RecordError {
    pub line: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(flatten)]
    pub error: ItemError,
}

/// A record as read from the file, before validation, with its line number.
pub type RawRecord = (u64, Result<Value, ItemError>);

const SCORE_COLUMNS: [&str; 3] = ["nps", "csat", "ces"];
const TEXT_COLUMNS: [&str; 6] = ["id", "text", "language", "channel", "created_at", "customer_id"];

/// Every record of `input` in `format`. An I/O error ends the iteration with that error.
pub fn records(
    input: impl Read + 'static,
    format: Format,
) -> anyhow::Result<Box<dyn Iterator<Item = anyhow::Result<RawRecord>>>> {
    Ok(match format {
        Format::Jsonl => Box::new(jsonl_records(input)),
        Format::Csv => {
            let mut reader = csv::ReaderBuilder::new().from_reader(input);
            let headers: Vec<String> =
                reader.byte_headers()?.iter().map(|h| String::from_utf8_lossy(h).trim().to_string()).collect();
            Box::new(reader.into_byte_records().map(move |record| match record {
                Ok(record) => Ok((record.position().map_or(0, |p| p.line()), csv_record(&headers, &record))),
                // A file that cannot be read (a truncated gzip stream) is no record's fault.
                Err(err) if matches!(err.kind(), csv::ErrorKind::Io(_)) => Err(err.into()),
                Err(err) => Ok((err.position().map_or(0, |p| p.line()), Err(unreadable(err.to_string())))),
            }))
        }
    })
}

/// Non-blank lines of JSONL with their 1-based numbers, each parsed or refused on its own.
pub fn jsonl_records(input: impl Read) -> impl Iterator<Item = anyhow::Result<RawRecord>> {
    BufReader::new(input).split(b'\n').enumerate().filter_map(|(index, line)| match line {
        Ok(bytes) if bytes.iter().all(u8::is_ascii_whitespace) => None,
        Ok(bytes) => Some(Ok((index as u64 + 1, parse_json_line(&bytes)))),
        Err(err) => Some(Err(err.into())),
    })
}

/// Validates a record read from a file as a verbatim (the rules every entry point applies),
/// naming its line and id when it is refused.
pub fn validate_record((line, item): RawRecord, now: DateTime<Utc>) -> Result<Verbatim, RecordError> {
    let value = item.map_err(|error| RecordError { line, id: None, error })?;
    Verbatim::from_json(&value, now).map_err(|error| RecordError { line, id: item_id(&value), error })
}

fn unreadable(message: String) -> ItemError {
    ItemError { code: "unreadable_record", field: None, message }
}

fn parse_json_line(bytes: &[u8]) -> Result<Value, ItemError> {
    let text =
        std::str::from_utf8(bytes).map_err(|e| unreadable(format!("invalid UTF-8 at byte {}", e.valid_up_to())))?;
    serde_json::from_str(text).map_err(|e| unreadable(format!("malformed JSON at column {}: {e}", e.column())))
}

fn csv_record(headers: &[String], record: &csv::ByteRecord) -> Result<Value, ItemError> {
    let mut item = Map::new();
    let mut metadata = Map::new();
    for (header, raw) in headers.iter().zip(record.iter()) {
        let cell = std::str::from_utf8(raw)
            .map_err(|e| unreadable(format!("column `{header}`: invalid UTF-8 at byte {}", e.valid_up_to())))?;
        if cell.trim().is_empty() {
            continue;
        }
        let value = if SCORE_COLUMNS.contains(&header.as_str()) {
            // A score that is not a number stays a string, for the validator to reject by name.
            cell.trim().parse::<u64>().map_or_else(|_| Value::String(cell.to_string()), Value::from)
        } else {
            Value::String(cell.to_string())
        };
        if SCORE_COLUMNS.contains(&header.as_str()) || TEXT_COLUMNS.contains(&header.as_str()) {
            item.insert(header.clone(), value);
        } else {
            metadata.insert(header.clone(), value);
        }
    }
    if !metadata.is_empty() {
        item.insert("metadata".to_string(), Value::Object(metadata));
    }
    Ok(Value::Object(item))
}
