//! `verbatim topics --input FILE.jsonl`: a fresh discovery over a file of verbatims.
//!
//! Lines are `{"id","text","language"?}` as `verbatim analyze` reads them. Out comes one JSON
//! line per input line, in order: `{"id","topic_id","topic_label"}` (`topic_id` is -1 and the
//! label null for an outlier), or `{"line","id","error"}` for a line that is not a verbatim;
//! and, with `--summary`, the topics with their names, sizes and typical verbatims.
//! Discovery reads every line before it can answer any, so the file is held in memory (100,000
//! verbatims are a few hundred megabytes with their vectors).

use std::io::{Read, Write};
use std::path::Path;

use serde::Serialize;
use serde_json::json;

use super::{discover, DiscoverySettings, Method, TopicInput, TopicNames};
use crate::domain::{Document, NO_TOPIC};
use crate::input::{item_id, jsonl_records, ItemError};

/// What `--summary` holds.
#[derive(Debug, Serialize)]
pub struct TopicSummary {
    /// `encoder` (the accurate mode) or `hashed` (the lightweight mode).
    pub vectors: &'static str,
    pub method: Method,
    pub verbatims: usize,
    /// Verbatims left without a topic.
    pub outliers: usize,
    pub topics: Vec<SummaryTopic>,
}

#[derive(Debug, Serialize)]
pub struct SummaryTopic {
    pub id: i64,
    #[serde(flatten)]
    pub names: TopicNames,
    pub size: usize,
    /// The verbatims nearest the topic's centre, nearest first.
    pub examples: Vec<SummaryExample>,
}

#[derive(Debug, Serialize)]
pub struct SummaryExample {
    pub id: String,
    pub text: String,
}

/// Runs the discovery over `input` and writes the per-line answers to `out`; returns the
/// summary and whether every line was a valid verbatim. `progress` hears how many verbatims
/// have their vectors.
pub fn topics_of_file(
    models_dir: &Path,
    input: impl Read,
    settings: &DiscoverySettings,
    mut out: impl Write,
    progress: &mut dyn FnMut(usize, usize),
) -> anyhow::Result<(TopicSummary, bool)> {
    let mut lines: Vec<(u64, Option<String>, Result<Document, ItemError>)> = Vec::new();
    for record in jsonl_records(input) {
        let (line, item) = record?;
        let id = item.as_ref().ok().and_then(item_id);
        lines.push((line, id, item.and_then(|value| Document::from_json(&value))));
    }
    let documents: Vec<&Document> = lines.iter().filter_map(|(_, _, d)| d.as_ref().ok()).collect();
    let languages: Vec<&str> = documents
        .iter()
        .map(|d| d.language.as_deref().unwrap_or_else(|| crate::nlp::language::detect(&d.text)))
        .collect();
    let inputs: Vec<TopicInput<'_>> = documents
        .iter()
        .zip(&languages)
        .map(|(d, language)| TopicInput { text: &d.text, language: Some(language) })
        .collect();
    let total = inputs.len();
    let (assignments, summary) = if inputs.is_empty() {
        (
            Vec::new(),
            TopicSummary { vectors: "none", method: settings.method, verbatims: 0, outliers: 0, topics: Vec::new() },
        )
    } else {
        let (space, vectors) = super::vectors::vectors_for_discovery(models_dir, &inputs, None, &mut |done| {
            progress(done, total);
            true
        })?;
        let mode = space.mode();
        let found = discover(&inputs, &vectors, space, settings, None)?;
        let topics = found
            .model
            .topics
            .iter()
            .zip(&found.examples)
            .map(|(topic, examples)| SummaryTopic {
                id: topic.id,
                names: topic.names.clone(),
                size: topic.size,
                examples: examples
                    .iter()
                    .map(|&i| SummaryExample { id: documents[i].id.clone(), text: documents[i].text.clone() })
                    .collect(),
            })
            .collect();
        let outliers = found.assignments.iter().filter(|a| a.is_none()).count();
        let summary = TopicSummary { vectors: mode, method: settings.method, verbatims: total, outliers, topics };
        let labels: std::collections::HashMap<i64, String> =
            found.model.topics.iter().map(|t| (t.id, t.names.label.clone())).collect();
        let answers: Vec<(i64, Option<String>)> = found
            .assignments
            .iter()
            .map(|a| match a {
                Some(a) => (a.topic_id, labels.get(&a.topic_id).cloned()),
                None => (NO_TOPIC, None),
            })
            .collect();
        (answers, summary)
    };
    let mut answers = assignments.into_iter();
    let mut all_ok = true;
    for (line, id, document) in &lines {
        let answer = match document {
            Ok(document) => {
                let (topic_id, topic_label) = answers.next().expect("one answer per verbatim");
                json!({ "id": document.id, "topic_id": topic_id, "topic_label": topic_label })
            }
            Err(error) => {
                all_ok = false;
                json!({ "line": line, "id": id, "error": error })
            }
        };
        serde_json::to_writer(&mut out, &answer)?;
        out.write_all(b"\n")?;
    }
    out.flush()?;
    Ok((summary, all_ok))
}
