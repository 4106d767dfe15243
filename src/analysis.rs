//! The analysis stage: language first (it picks the analyzer), then sentiment, for documents
//! from any entry point (`POST /v1/analyze`, `verbatim analyze`).
//!
//! Tiers: `fast` is the project's hashed linear model, built into the binary; `accurate`
//! (the multilingual encoder) answers `model_unavailable` until its engine lands.

use std::io::{Read, Write};

use rayon::prelude::*;
use serde::Serialize;
use serde_json::{json, Value};

use crate::domain::{item_id, ItemError, Sentiment, TextItem, Verbatim};
use crate::ingest::jsonl_records;
use crate::nlp::language;
use crate::nlp::sentiment::{analyze_batch, FastSentiment, SentenceSentiment, SentimentModel};

/// Most documents in one request: ten times Azure AI Language's 10, since ours run locally.
pub const MAX_DOCUMENTS: usize = 1000;
const DOCUMENT_FIELDS: [&str; 3] = ["id", "text", "language"];

#[derive(Debug, thiserror::Error)]
pub enum AnalysisError {
    #[error("model `{0}` is not available; available: fast")]
    ModelUnavailable(String),
}

/// A document to analyse, validated.
#[derive(Default)]
pub struct Document {
    pub id: String,
    pub text: String,
    pub language: Option<String>,
}

impl Document {
    pub fn from_json(item: &Value) -> Result<Document, ItemError> {
        let (TextItem { id, text, language }, _) = TextItem::from_json(item, &DOCUMENT_FIELDS)?;
        Ok(Document { id, text, language })
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct AnalyzedDocument {
    pub id: String,
    /// As given, or detected: `fr`, `en` or `other`.
    pub language: String,
    pub sentiment: Sentiment,
    pub sentences: Vec<SentenceSentiment>,
}

/// Holds the loaded models; build once, share across threads.
pub struct Analyzer {
    fast: FastSentiment,
}

impl Analyzer {
    pub fn new() -> anyhow::Result<Analyzer> {
        Ok(Analyzer { fast: FastSentiment::shipped()? })
    }

    pub fn model(&self, name: &str) -> Result<&dyn SentimentModel, AnalysisError> {
        match name {
            "fast" => Ok(&self.fast),
            other => Err(AnalysisError::ModelUnavailable(other.to_string())),
        }
    }

    /// Fills in what ingestion adds to each verbatim: the language when the client gave none
    /// (it picks the stemmer), and the `fast` tier's document sentiment.
    pub fn enrich(&self, verbatims: &mut [Verbatim]) {
        let texts: Vec<&str> = verbatims.iter().map(|v| v.text.as_str()).collect();
        let probabilities = self.fast.predict(&texts);
        verbatims.par_iter_mut().zip(probabilities).for_each(|(verbatim, p)| {
            if verbatim.language.is_none() {
                verbatim.language = Some(language::detect(&verbatim.text).to_string());
            }
            verbatim.sentiment = Some(Sentiment::from_probabilities(p));
        });
    }

    pub fn analyze(&self, model: &dyn SentimentModel, documents: &[Document]) -> Vec<AnalyzedDocument> {
        let texts: Vec<&str> = documents.iter().map(|d| d.text.as_str()).collect();
        // Detection costs more than the fast model itself: spread it over the cores too.
        let languages: Vec<String> = documents
            .par_iter()
            .map(|d| d.language.clone().unwrap_or_else(|| language::detect(&d.text).to_string()))
            .collect();
        documents
            .iter()
            .zip(languages)
            .zip(analyze_batch(model, &texts))
            .map(|((document, language), result)| AnalyzedDocument {
                id: document.id.clone(),
                language,
                sentiment: result.sentiment,
                sentences: result.sentences,
            })
            .collect()
    }
}

/// Documents analysed together by [`analyze_lines`]: large enough to spread over cores.
const LINES_PER_BATCH: usize = 1000;

/// Reads JSONL documents and writes one JSON line per input line, in order: the analysis,
/// or `{"line","id","error"}` for a line that could not be analysed. Returns whether every
/// line succeeded.
pub fn analyze_lines(input: impl Read + 'static, model: &str, mut out: impl Write) -> anyhow::Result<bool> {
    let analyzer = Analyzer::new()?;
    let engine = analyzer.model(model)?;
    let mut all_ok = true;
    let mut pending: Vec<(u64, Option<String>, Result<Document, ItemError>)> = Vec::with_capacity(LINES_PER_BATCH);
    let mut flush = |pending: &mut Vec<(u64, Option<String>, Result<Document, ItemError>)>,
                     out: &mut dyn Write|
     -> anyhow::Result<()> {
        let documents: Vec<Document> =
            pending.iter_mut().filter_map(|(_, _, d)| d.as_mut().ok().map(std::mem::take)).collect();
        // Encoding the answers costs as much as computing them: encode in parallel, write in order.
        let mut encoded = analyzer
            .analyze(engine, &documents)
            .par_iter()
            .map(serde_json::to_string)
            .collect::<Result<Vec<String>, _>>()?
            .into_iter();
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
