//! `verbatim analyze`: JSONL documents in, one JSON analysis out per line, nothing stored.

use std::io::{Read, Write};

use serde_json::json;

use crate::domain::{Document, Tier};
use crate::input::{item_id, jsonl_records, ItemError};
use crate::pipeline::Analyzer;

/// Documents analysed together: large enough to spread over cores.
const LINES_PER_BATCH: usize = 1000;

/// A line read: its number, the id it names if any, and the document or why it is not one.
type Line = (u64, Option<String>, Result<Document, ItemError>);

/// Reads JSONL documents and writes one JSON line per input line, in order: the analysis,
/// or `{"line","id","error"}` for a line that could not be analysed. Returns whether every
/// line succeeded.
pub fn analyze_lines(analyzer: &Analyzer, input: impl Read, tier: Tier, mut out: impl Write) -> anyhow::Result<bool> {
    let model = analyzer.model(tier)?;
    let mut all_ok = true;
    let mut pending: Vec<Line> = Vec::with_capacity(LINES_PER_BATCH);
    let mut flush = |pending: &mut Vec<Line>, out: &mut dyn Write| -> anyhow::Result<()> {
        let documents: Vec<Document> =
            pending.iter_mut().filter_map(|(_, _, d)| d.as_mut().ok().map(std::mem::take)).collect();
        let mut encoded = analyzer.analyze_to_json(model, &documents)?.into_iter();
        for (line, id, document) in pending.drain(..) {
            match document {
                Ok(_) => out.write_all(encoded.next().expect("one result per document").as_bytes())?,
                Err(error) => {
                    all_ok = false;
                    serde_json::to_writer(&mut *out, &json!({ "line": line, "id": id, "error": error }))?
                }
            }
            out.write_all(b"\n")?;
        }
        Ok(())
    };
    for record in jsonl_records(input) {
        let (line, item) = record?;
        let id = item.as_ref().ok().and_then(item_id);
        pending.push((line, id, item.and_then(|value| Document::from_json(&value))));
        if pending.len() >= LINES_PER_BATCH {
            flush(&mut pending, &mut out)?;
        }
    }
    flush(&mut pending, &mut out)?;
    out.flush()?;
    Ok(all_ok)
}
