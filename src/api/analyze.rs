//! `POST /v1/analyze`: language and sentiment for a batch of documents, nothing stored.
//! The shape follows Azure AI Language's: per-document results and per-document errors.
//!
//! The answer is streamed a chunk of documents at a time ([`CHUNK_TEXT_BYTES`]), each chunk
//! analysed and encoded on a blocking thread when the connection is ready for it. Every
//! sentence gets its text, offsets and scores, so a document of short sentences answers over
//! 30 times its size: built whole, a full request's answer took gigabytes. Streamed, memory is
//! bounded by a chunk and the bytes are those of the body built whole.

use std::convert::Infallible;
use std::sync::Arc;

use actix_web::http::header::{HeaderValue, RETRY_AFTER};
use actix_web::http::StatusCode;
use actix_web::web::Bytes;
use actix_web::{web, HttpRequest, HttpResponse};
use futures_util::{stream, StreamExt};
use serde::Deserialize;
use serde_json::Value;

use super::body::read_json;
use super::error::ApiError;
use super::{check_batch_size, AppState, ItemRejection};
use crate::domain::Document;
use crate::engine;
use crate::input::ItemError;
use crate::nlp::sentiment::accurate::ENCODER;
use crate::pipeline::{AnalysisError, Analyzer};

/// Text analysed and written per step, in bytes (a chunk holds at least one document). The
/// answer grows with the text, up to ~35 times for the shortest sentences: a chunk's stays
/// within tens of megabytes. Counted in text, not documents, so short documents still come in
/// batches large enough to keep the cores and the encoder's batches full.
const CHUNK_TEXT_BYTES: usize = 512 * 1024;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AnalyzeRequest {
    documents: Vec<Value>,
    #[serde(default = "default_model")]
    model: String,
}

fn default_model() -> String {
    "fast".to_string()
}

/// The answer when the requested model cannot serve: unknown, or not installed.
pub(super) fn model_refusal(error: &AnalysisError) -> ApiError {
    match error {
        AnalysisError::UnknownModel(_) => ApiError::bad_request("unknown_model", error.to_string()),
        // The load error names server folders and files: it goes to the log, not the client.
        AnalysisError::ModelUnavailable(cause) => {
            tracing::warn!(error = %format!("{cause:#}"), "the accurate tier is unavailable");
            ApiError::bad_request(
                "model_unavailable",
                format!(
                    "model `accurate` is not available on this server: its encoder is not installed or did not \
                     load; run `verbatim models install {ENCODER}` (the server log has the details)"
                ),
            )
        }
    }
}

pub async fn analyze(
    state: web::Data<AppState>,
    req: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let request: AnalyzeRequest = read_json(&req, payload, state.config.max_body_bytes).await?;
    // The first `accurate` request loads the encoder (about a second): off the async workers.
    let analyzer = state.analyzer.clone();
    let model = request.model.clone();
    let max_documents = web::block(move || analyzer.model_named(&model).map(|m| m.max_documents()))
        .await?
        .map_err(|e| model_refusal(&e).with("model", request.model.clone()))?;
    check_batch_size("documents", request.documents.len(), max_documents)?;
    let mut valid = Vec::with_capacity(request.documents.len());
    let mut errors = Vec::new();
    // Each raw item is dropped once read: the texts are held once, not twice.
    for (index, item) in request.documents.into_iter().enumerate() {
        match Document::from_json(&item) {
            Ok(document) => valid.push((index, document)),
            Err(error) => errors.push(ItemRejection::new(index, &item, error)),
        }
    }
    let mut answer = Answer {
        analyzer: state.analyzer.clone(),
        model: request.model,
        pending: valid.into_iter(),
        errors,
        written: 0,
    };
    // The first chunk is analysed before the status goes out, so an engine failing on it still
    // answers `500 analysis_failed`; after that, see [`Answer::next_part`].
    let first = match answer.analyze_next().await {
        None => Vec::new(),
        Some((_, Ok(encoded))) => answer.join(encoded),
        Some((_, Err(e))) => return Err(analysis_error(&e)),
    };
    let head =
        [format!("{{\"model\":{},\"documents\":[", Value::from(answer.model.as_str())).into_bytes(), first].concat();
    let rest = stream::unfold(Some(answer), |answer| async move {
        let mut answer = answer?;
        Some(match answer.next_part().await {
            Some(part) => (part, Some(answer)),
            None => (answer.tail(), None),
        })
    });
    let body = stream::once(async { head }).chain(rest).map(|part| Ok::<_, Infallible>(Bytes::from(part)));
    Ok(HttpResponse::Ok().content_type("application/json").streaming(body))
}

/// The part of the answer still to write: documents to analyse, and the per-document errors,
/// written last.
struct Answer {
    analyzer: Arc<Analyzer>,
    model: String,
    /// Valid documents with their positions in the request.
    pending: std::vec::IntoIter<(usize, Document)>,
    errors: Vec<ItemRejection>,
    /// Documents written so far: all but the first follow a comma.
    written: usize,
}

/// Once the answer is written or abandoned, the analysis buffers go back to the OS (see
/// [`engine::keep_freed_buffers`]), off the async workers: trimming walks the whole heap.
impl Drop for Answer {
    fn drop(&mut self) {
        actix_web::rt::task::spawn_blocking(engine::release_freed_buffers);
    }
}

/// Positions and ids of a chunk's documents, and their encoded analyses.
type AnalyzedChunk = (Vec<(usize, String)>, anyhow::Result<Vec<String>>);

impl Answer {
    /// Analyses and encodes the next chunk on a blocking thread; `None` when none is left.
    async fn analyze_next(&mut self) -> Option<AnalyzedChunk> {
        let (mut positions, mut documents) = (Vec::new(), Vec::new());
        let mut text_bytes = 0;
        while text_bytes < CHUNK_TEXT_BYTES {
            let Some((index, document)) = self.pending.next() else { break };
            text_bytes += document.text.len();
            positions.push((index, document.id.clone()));
            documents.push(document);
        }
        if documents.is_empty() {
            return None;
        }
        let analyzer = self.analyzer.clone();
        let model = self.model.clone();
        let encoded = web::block(move || analyzer.analyze_to_json(analyzer.model_named(&model)?, &documents)).await;
        Some((positions, encoded.map_err(anyhow::Error::from).and_then(|result| result)))
    }

    /// The next documents' JSON, after a comma when some were written before.
    fn join(&mut self, encoded: Vec<String>) -> Vec<u8> {
        let mut part = Vec::with_capacity(encoded.iter().map(|e| e.len() + 1).sum());
        for document in encoded {
            if self.written > 0 {
                part.push(b',');
            }
            part.extend_from_slice(document.as_bytes());
            self.written += 1;
        }
        part
    }

    /// The next chunk's bytes; `None` once every document is written or reported. The status
    /// is sent by then: a chunk the engine fails on is reported in `errors`, one
    /// `analysis_failed` per document, and the next chunks are still tried.
    async fn next_part(&mut self) -> Option<Vec<u8>> {
        loop {
            let (positions, encoded) = self.analyze_next().await?;
            match encoded {
                Ok(encoded) => return Some(self.join(encoded)),
                Err(e) => {
                    let error = match engine::busy_wait(&e) {
                        Some(wait) => ItemError {
                            code: "encoder_busy",
                            field: None,
                            message: format!(
                                "the encoder is busy ({} s of work queued); send this document again",
                                wait.as_secs()
                            ),
                        },
                        None => {
                            tracing::error!(error = %format!("{e:#}"), documents = positions.len(), "analysis failed mid-answer");
                            ItemError {
                                code: "analysis_failed",
                                field: None,
                                message: "the analysis engine failed on this document; the server log has the details"
                                    .to_string(),
                            }
                        }
                    };
                    self.errors.extend(positions.into_iter().map(|(index, id)| ItemRejection {
                        index,
                        id: Some(id),
                        error: error.clone(),
                    }));
                }
            }
        }
    }

    /// Closes the documents and writes the errors, in request order.
    fn tail(mut self) -> Vec<u8> {
        self.errors.sort_by_key(|rejection| rejection.index);
        let errors = serde_json::to_vec(&self.errors).expect("rejections serialise");
        [&b"],\"errors\":"[..], &errors, b"}"].concat()
    }
}

/// The answer to a request whose first chunk failed: `503 encoder_busy` (retry shortly) when
/// the encoder's queue refused it, else `500 analysis_failed`.
fn analysis_error(error: &anyhow::Error) -> ApiError {
    match engine::busy_wait(error) {
        Some(wait) => ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "encoder_busy",
            format!("the encoder has {} s of work queued; retry in a moment", wait.as_secs()),
        )
        .with_header(RETRY_AFTER, HeaderValue::from(wait.as_secs().clamp(1, 60))),
        None => ApiError::internal("analysis_failed", &format!("{error:#}")),
    }
}
