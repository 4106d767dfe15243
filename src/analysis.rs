//! The analysis stage: language first (it picks the analyzer), then sentiment, for documents
//! from any entry point (`POST /v1/analyze`, `verbatim analyze`).
//!
//! Tiers: `fast` is the project's hashed linear model, built into the binary; `accurate` reads
//! the multilingual encoder, loaded from the models folder on first use (it costs ~0.5 GB of
//! memory that a service only ingesting does not need) and `model_unavailable` until installed.
//! Ingestion always uses `fast`: it keeps up with the write path (~20,000 verbatims/s), where
//! the encoder manages tens per second on two cores.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};

use rayon::prelude::*;
use serde::Serialize;
use serde_json::{json, Value};

use crate::domain::{item_id, ItemError, Sentiment, TextItem, Verbatim};
use crate::ingest::jsonl_records;
use crate::nlp::language;
use crate::nlp::sentiment::{analyze_batch, AccurateSentiment, FastSentiment, SentenceSentiment, SentimentModel};

const DOCUMENT_FIELDS: [&str; 3] = ["id", "text", "language"];

#[derive(Debug, thiserror::Error)]
pub enum AnalysisError {
    #[error("unknown model `{0}`; models: fast, accurate")]
    UnknownModel(String),
    #[error("model `accurate` is not available: {0:#}")]
    ModelUnavailable(anyhow::Error),
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
    fast: Arc<FastSentiment>,
    models_dir: PathBuf,
    accurate: OnceLock<AccurateSentiment>,
    /// Held while loading `accurate`, so concurrent first requests load it once.
    loading: Mutex<()>,
}

impl Analyzer {
    /// `models_dir` is where `verbatim models install` puts the transformer models.
    pub fn new(models_dir: &Path) -> anyhow::Result<Analyzer> {
        Ok(Analyzer {
            fast: Arc::new(FastSentiment::shipped()?),
            models_dir: models_dir.to_path_buf(),
            accurate: OnceLock::new(),
            loading: Mutex::new(()),
        })
    }

    /// The tier called `name`. A failed load is not remembered: installing the model makes
    /// the next request succeed without a restart.
    pub fn model(&self, name: &str) -> Result<&dyn SentimentModel, AnalysisError> {
        match name {
            "fast" => Ok(self.fast.as_ref()),
            "accurate" => {
                if let Some(model) = self.accurate.get() {
                    return Ok(model);
                }
                let _loading = self.loading.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
                if let Some(model) = self.accurate.get() {
                    return Ok(model);
                }
                let model = AccurateSentiment::load(&self.models_dir, self.fast.clone())
                    .map_err(AnalysisError::ModelUnavailable)?;
                Ok(self.accurate.get_or_init(|| model))
            }
            other => Err(AnalysisError::UnknownModel(other.to_string())),
        }
    }

    /// Fills in what ingestion adds to each verbatim: the language when the client gave none
    /// (it picks the stemmer), and the `fast` tier's document sentiment.
    pub fn enrich(&self, verbatims: &mut [Verbatim]) {
        let texts: Vec<&str> = verbatims.iter().map(|v| v.text.as_str()).collect();
        let probabilities = self.fast.probabilities(&texts);
        verbatims.par_iter_mut().zip(probabilities).for_each(|(verbatim, p)| {
            if verbatim.language.is_none() {
                verbatim.language = Some(language::detect(&verbatim.text).to_string());
            }
            verbatim.sentiment = Some(Sentiment::from_probabilities(p));
        });
    }

    pub fn analyze(&self, model: &dyn SentimentModel, documents: &[Document]) -> anyhow::Result<Vec<AnalyzedDocument>> {
        let texts: Vec<&str> = documents.iter().map(|d| d.text.as_str()).collect();
        // Detection costs more than the fast model itself: spread it over the cores too.
        let languages: Vec<String> = documents
            .par_iter()
            .map(|d| d.language.clone().unwrap_or_else(|| language::detect(&d.text).to_string()))
            .collect();
        Ok(documents
            .iter()
            .zip(languages)
            .zip(analyze_batch(model, &texts)?)
            .map(|((document, language), result)| AnalyzedDocument {
                id: document.id.clone(),
                language,
                sentiment: result.sentiment,
                sentences: result.sentences,
            })
            .collect())
    }

    /// [`Analyzer::analyze`], each result encoded as JSON, in order. Encoding the answers
    /// costs as much as computing them: encode in parallel.
    pub fn analyze_to_json(&self, model: &dyn SentimentModel, documents: &[Document]) -> anyhow::Result<Vec<String>> {
        Ok(self.analyze(model, documents)?.par_iter().map(serde_json::to_string).collect::<Result<Vec<String>, _>>()?)
    }
}

/// Documents analysed together by [`analyze_lines`]: large enough to spread over cores.
const LINES_PER_BATCH: usize = 1000;

/// Reads JSONL documents and writes one JSON line per input line, in order: the analysis,
/// or `{"line","id","error"}` for a line that could not be analysed. Returns whether every
/// line succeeded.
pub fn analyze_lines(
    analyzer: &Analyzer,
    input: impl Read + 'static,
    model: &str,
    mut out: impl Write,
) -> anyhow::Result<bool> {
    let engine = analyzer.model(model)?;
    let mut all_ok = true;
    let mut pending: Vec<(u64, Option<String>, Result<Document, ItemError>)> = Vec::with_capacity(LINES_PER_BATCH);
    let mut flush = |pending: &mut Vec<(u64, Option<String>, Result<Document, ItemError>)>,
                     out: &mut dyn Write|
     -> anyhow::Result<()> {
        let documents: Vec<Document> =
            pending.iter_mut().filter_map(|(_, _, d)| d.as_mut().ok().map(std::mem::take)).collect();
        let mut encoded = analyzer.analyze_to_json(engine, &documents)?.into_iter();
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
