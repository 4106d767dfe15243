//! Bulk loading from files: JSONL (one verbatim object a line) or CSV (a header row).
//!
//! Each record becomes the same JSON object the HTTP API takes and goes through the same
//! validation. A bad record is reported with its line number and skipped; the rest loads.
//! In CSV, the columns `id, text, language, channel, created_at, customer_id, nps, csat,
//! ces` map to fields and every other non-empty column goes into `metadata`.

use std::io::{BufRead, BufReader, Read};

use chrono::Utc;
use serde::Serialize;
use serde_json::{Map, Value};

use crate::domain::{item_id, ItemError, Verbatim};
use crate::service::Service;

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

#[derive(Debug, Default, Serialize)]
pub struct IngestReport {
    pub accepted: u64,
    pub rejected: u64,
}

const SCORE_COLUMNS: [&str; 3] = ["nps", "csat", "ces"];
const TEXT_COLUMNS: [&str; 6] = ["id", "text", "language", "channel", "created_at", "customer_id"];

/// A record as read from the file, before validation, with its line number.
pub type RawRecord = (u64, Result<Value, ItemError>);

/// Reads, validates and stores every record, `batch_size` per transaction. Rejections go
/// to `on_error` as they are found; store or index failures stop the run.
pub fn ingest(
    service: &Service,
    input: impl Read + 'static,
    format: Format,
    batch_size: usize,
    mut on_error: impl FnMut(RecordError),
) -> anyhow::Result<IngestReport> {
    let mut report = IngestReport::default();
    let mut batch = Vec::with_capacity(batch_size);
    let now = Utc::now();
    for record in records(input, format)? {
        match validate(record?, now) {
            Ok(verbatim) => batch.push(verbatim),
            Err(rejection) => {
                report.rejected += 1;
                on_error(rejection);
            }
        }
        if batch.len() >= batch_size {
            flush(service, &mut batch, &mut report)?;
        }
    }
    flush(service, &mut batch, &mut report)?;
    Ok(report)
}

fn records(
    input: impl Read + 'static,
    format: Format,
) -> anyhow::Result<Box<dyn Iterator<Item = anyhow::Result<RawRecord>>>> {
    let input: Box<dyn Read> = Box::new(input);
    Ok(match format {
        Format::Jsonl => {
            Box::new(BufReader::new(input).split(b'\n').enumerate().filter_map(|(index, line)| match line {
                Ok(bytes) if bytes.iter().all(u8::is_ascii_whitespace) => None,
                Ok(bytes) => Some(Ok((index as u64 + 1, parse_json_line(&bytes)))),
                Err(err) => Some(Err(err.into())),
            }))
        }
        Format::Csv => {
            let mut reader = csv::ReaderBuilder::new().from_reader(input);
            let headers: Vec<String> =
                reader.byte_headers()?.iter().map(|h| String::from_utf8_lossy(h).trim().to_string()).collect();
            Box::new(reader.into_byte_records().map(move |record| {
                Ok(match record {
                    Ok(record) => (record.position().map_or(0, |p| p.line()), csv_record(&headers, &record)),
                    Err(err) => (err.position().map_or(0, |p| p.line()), Err(unreadable(err.to_string()))),
                })
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

fn validate((line, item): RawRecord, now: chrono::DateTime<Utc>) -> Result<Verbatim, RecordError> {
    let value = item.map_err(|error| RecordError { line, id: None, error })?;
    Verbatim::from_json(&value, now).map_err(|error| RecordError { line, id: item_id(&value), error })
}

fn flush(service: &Service, batch: &mut Vec<Verbatim>, report: &mut IngestReport) -> anyhow::Result<()> {
    report.accepted += batch.len() as u64;
    service.upsert(std::mem::take(batch))?;
    Ok(())
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
