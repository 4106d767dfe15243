//! `verbatim root-causes --input FILE.jsonl`: the root causes of a file of verbatims, grouped
//! over the file itself.
//!
//! Lines are verbatims as `verbatim ingest` reads them (`id`, `text`, and optionally
//! `language`, `nps`…). Out comes one JSON line per input line, in order:
//! `{"id","root_causes":[{"id","label","text","offset","length"}]}`, strongest cause first and
//! one per group (an empty list when the verbatim states none), or `{"line","id","error"}` for
//! a line that is not a verbatim; and, with `--summary`, the ranking. Grouping reads every
//! line before it can answer any, so the file is held in memory.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::path::Path;

use serde::Serialize;
use serde_json::json;

use super::{
    cite, group, mentions_and_sentiment, ranking, worded, Grouping, Impact, MentionSource, Readers, StatedRootCause,
    Tally, Worded,
};
use crate::domain::Verbatim;
use crate::input::{item_id, jsonl_records, ItemError};
use crate::nlp::aspects::Span;
use crate::topics::{vectors_for_discovery, DiscoverySettings, TopicInput, TopicNames};

/// Verbatims analysed per model call.
const BATCH: usize = 256;

/// What `--summary` holds.
#[derive(Debug, Serialize)]
pub struct RootCauseSummary {
    /// `encoder` (multilingual-e5-small), `hashed` (hashed TF-IDF), or `none` when no verbatim
    /// states a cause.
    pub vectors: &'static str,
    /// The sentiment tier that judged what is negative.
    pub model: String,
    /// The file's verbatims, by document sentiment and NPS group.
    #[serde(flatten)]
    pub totals: Tally,
    /// Verbatims stating at least one root cause.
    pub unhappy: usize,
    /// Most cited first.
    pub root_causes: Vec<RankedRootCause>,
}

#[derive(Debug, Serialize)]
pub struct RankedRootCause {
    pub id: i64,
    #[serde(flatten)]
    pub names: TopicNames,
    #[serde(flatten)]
    pub impact: Impact,
    /// The mentions nearest the group's centre, nearest first.
    pub examples: Vec<RootCauseExample>,
}

#[derive(Debug, Serialize)]
pub struct RootCauseExample {
    /// The verbatim's id.
    pub id: String,
    pub text: String,
}

/// Finds and groups the root causes of `input`, writes the per-line answers to `out`; returns
/// the ranking and whether every line was a valid verbatim. `progress` hears how many verbatims
/// are analysed, then how many mentions have their vectors.
pub fn root_causes_of_file(
    models_dir: &Path,
    readers: Readers<'_>,
    input: impl Read,
    settings: &DiscoverySettings,
    mut out: impl Write,
    progress: &mut dyn FnMut(usize, usize),
) -> anyhow::Result<(RootCauseSummary, bool)> {
    let now = chrono::Utc::now();
    let mut lines: Vec<(u64, Option<String>, Result<Verbatim, ItemError>)> = Vec::new();
    for record in jsonl_records(input) {
        let (line, item) = record?;
        let id = item.as_ref().ok().and_then(item_id);
        lines.push((line, id, item.and_then(|value| Verbatim::from_json(&value, now))));
    }
    let verbatims: Vec<&Verbatim> = lines.iter().filter_map(|(_, _, v)| v.as_ref().ok()).collect();
    let languages: Vec<&str> = verbatims
        .iter()
        .map(|v| v.language.as_deref().unwrap_or_else(|| crate::nlp::language::detect(&v.text)))
        .collect();
    let mut found = Vec::with_capacity(verbatims.len());
    let mut labels_found = Vec::with_capacity(verbatims.len());
    for (chunk, languages) in verbatims.chunks(BATCH).zip(languages.chunks(BATCH)) {
        let sources: Vec<MentionSource<'_>> = chunk
            .iter()
            .zip(languages)
            .map(|(v, language)| MentionSource { text: &v.text, language, scored_unhappy: v.unhappy_by_score() })
            .collect();
        for (mentions, label) in mentions_and_sentiment(readers, &sources)? {
            found.push(mentions);
            labels_found.push(label);
        }
        progress(found.len(), verbatims.len());
    }
    let texts: Vec<&str> = verbatims.iter().map(|v| v.text.as_str()).collect();
    let Worded { owners, texts: worded_texts } = worded(&texts, &found);
    let inputs: Vec<TopicInput<'_>> = worded_texts
        .iter()
        .zip(&owners)
        .map(|(text, (v, _))| TopicInput { text, language: Some(languages[*v]) })
        .collect();
    let total = inputs.len();
    let grouping = if inputs.is_empty() {
        Grouping { groups: Vec::new(), assignments: Vec::new(), vectors: "none" }
    } else {
        let (space, vectors) = vectors_for_discovery(models_dir, &inputs, None, &mut |done| {
            progress(done, total);
            true
        })?;
        group(&inputs, space, &vectors, settings)?
    };
    let labels: HashMap<i64, &str> = grouping.groups.iter().map(|g| (g.id, g.names.label.as_str())).collect();
    let worded_mentions = Worded { owners, texts: worded_texts };
    let stated: Vec<Vec<StatedRootCause>> = cite(verbatims.len(), &found, &worded_mentions, &grouping.assignments)
        .into_iter()
        .zip(&texts)
        .map(|(cited, text)| {
            cited
                .into_iter()
                .map(|(id, bytes)| StatedRootCause { id, label: labels[&id].to_string(), span: Span::of(text, bytes) })
                .collect()
        })
        .collect();
    let cited: Vec<Vec<i64>> = stated.iter().map(|s| s.iter().map(|c| c.id).collect()).collect();
    let scores: Vec<Option<u8>> = verbatims.iter().map(|v| v.nps).collect();
    let (mut impacts, totals) = ranking(&cited, &labels_found, &scores);
    let mut root_causes: Vec<RankedRootCause> = grouping
        .groups
        .into_iter()
        .filter_map(|g| {
            let impact = impacts.remove(&g.id)?;
            let examples = g
                .examples
                .iter()
                .map(|&i| RootCauseExample {
                    id: verbatims[worded_mentions.owners[i].0].id.clone(),
                    text: worded_mentions.texts[i].clone(),
                })
                .collect();
            Some(RankedRootCause { id: g.id, names: g.names, impact, examples })
        })
        .collect();
    root_causes.sort_by(|a, b| b.impact.citing.verbatims.cmp(&a.impact.citing.verbatims).then(a.id.cmp(&b.id)));
    let summary = RootCauseSummary {
        vectors: grouping.vectors,
        model: readers.model.tier().as_str().to_string(),
        totals,
        unhappy: cited.iter().filter(|c| !c.is_empty()).count(),
        root_causes,
    };
    let mut answers = stated.into_iter();
    let mut all_ok = true;
    for (line, id, verbatim) in &lines {
        let answer = match verbatim {
            Ok(verbatim) => {
                json!({ "id": verbatim.id, "root_causes": answers.next().expect("one answer per verbatim") })
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
