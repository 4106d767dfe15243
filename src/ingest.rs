//! `verbatim ingest`: bulk loading from a file into the store, through the same validation and
//! the same write path as the HTTP API. A bad record is reported with its line number and
//! skipped; the rest loads.

use std::io::Read;

use chrono::Utc;
use serde::Serialize;

use crate::domain::Verbatim;
use crate::input::{records, validate_record, Format, RecordError};
use crate::service::Service;

#[derive(Debug, Default, Serialize)]
pub struct IngestReport {
    pub accepted: u64,
    pub rejected: u64,
}

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
        match validate_record(record?, now) {
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

fn flush(service: &Service, batch: &mut Vec<Verbatim>, report: &mut IngestReport) -> anyhow::Result<()> {
    report.accepted += batch.len() as u64;
    service.upsert(std::mem::take(batch))?;
    Ok(())
}
