//! `GET /v1/export`: every verbatim a search selects, as JSONL, CSV or Parquet (see
//! [`crate::export`]), streamed as it is read: memory stays bounded whatever the count.

use std::io::Write;

use actix_web::http::header;
use actix_web::web::Bytes;
use actix_web::{web, HttpRequest, HttpResponse};
use tokio::sync::mpsc;

use super::error::ApiError;
use super::AppState;
use crate::export::{export as write_export, ExportFormat};
use crate::search::SearchRequest;

/// Search parameters that shape a page of results; an export has no pages.
const PAGING: [&str; 3] = ["sort", "limit", "offset"];
/// Bytes gathered before a chunk goes to the client.
const CHUNK: usize = 64 * 1024;
/// Chunks waiting for a slow client before the export pauses.
const CHUNKS_AHEAD: usize = 8;

pub async fn export(state: web::Data<AppState>, req: HttpRequest) -> Result<HttpResponse, ApiError> {
    let params = web::Query::<Vec<(String, String)>>::from_query(req.query_string())
        .map_err(|e| ApiError::bad_request("invalid_parameter", e.to_string()))?;
    let mut format = ExportFormat::Jsonl;
    let mut filters = Vec::new();
    for (key, value) in params.iter() {
        match key.as_str() {
            "format" => {
                format = ExportFormat::parse(value).ok_or_else(|| {
                    ApiError::bad_request(
                        "invalid_parameter",
                        format!("parameter `format`: `{value}` is not jsonl, csv or parquet"),
                    )
                    .with("parameter", "format")
                })?
            }
            paging if PAGING.contains(&paging) => {
                return Err(ApiError::bad_request(
                    "invalid_parameter",
                    format!("parameter `{paging}`: an export has every match, in the order stored; it takes no paging"),
                )
                .with("parameter", paging))
            }
            _ => filters.push((key.as_str(), value.as_str())),
        }
    }
    let request = SearchRequest::from_params(filters)
        .map_err(|e| ApiError::bad_request("invalid_parameter", e.to_string()).with("parameter", e.parameter))?;
    let place = state.exports.clone().try_acquire_owned().map_err(|_| {
        ApiError::new(
            actix_web::http::StatusCode::TOO_MANY_REQUESTS,
            "too_many_exports",
            "too many exports are running; retry when one ends",
        )
        .with_header(header::RETRY_AFTER, header::HeaderValue::from_static("5"))
    })?;
    // A query the engine refuses is a 400 now, not a cut stream later.
    let (service, checked) = (state.service.clone(), request.clone());
    web::block(move || service.reader().matching(&checked, &[])).await??;

    let service = state.service.clone();
    let body = streamed("export", move |sink| {
        let _place = place;
        write_export(service.reader(), &request, format, sink).map(|_| ())
    })?;
    let filename = format!("verbatims.{}", format.as_str());
    Ok(HttpResponse::Ok()
        .content_type(format.media_type())
        .insert_header((header::CONTENT_DISPOSITION, format!("attachment; filename=\"{filename}\"")))
        .streaming(body))
}

/// A response body fed by `write`, run on a thread of its own, a chunk at a time: memory
/// stays bounded, and a client gone away ends `write` with an error. An error once the body
/// has begun can only cut it short; the log says why.
pub(super) fn streamed(
    what: &'static str,
    write: impl FnOnce(&mut ChunkSink) -> anyhow::Result<()> + Send + 'static,
) -> Result<impl futures_util::Stream<Item = Result<Bytes, std::io::Error>>, ApiError> {
    let (chunks, receiver) = mpsc::channel::<Result<Bytes, std::io::Error>>(CHUNKS_AHEAD);
    std::thread::Builder::new()
        .name(format!("verbatim-{what}"))
        .spawn(move || {
            let mut sink = ChunkSink { chunks: chunks.clone(), buffer: Vec::with_capacity(CHUNK) };
            if let Err(err) = write(&mut sink).and_then(|()| Ok(sink.flush()?)) {
                tracing::error!(error = %format!("{err:#}"), what, "streaming a response failed");
                let _ = chunks.blocking_send(Err(std::io::Error::other(format!("the {what} failed"))));
            }
        })
        .map_err(|e| ApiError::internal("internal", &e))?;
    Ok(futures_util::stream::unfold(receiver, |mut receiver| async move {
        receiver.recv().await.map(|chunk| (chunk, receiver))
    }))
}

/// Hands what the export writes to the response, a chunk at a time; a client gone away ends
/// the export with a write error.
pub(super) struct ChunkSink {
    chunks: mpsc::Sender<Result<Bytes, std::io::Error>>,
    buffer: Vec<u8>,
}

impl ChunkSink {
    fn send(&mut self) -> std::io::Result<()> {
        if self.buffer.is_empty() {
            return Ok(());
        }
        let chunk = Bytes::from(std::mem::replace(&mut self.buffer, Vec::with_capacity(CHUNK)));
        self.chunks
            .blocking_send(Ok(chunk))
            .map_err(|_| std::io::Error::new(std::io::ErrorKind::BrokenPipe, "the client went away"))
    }
}

impl Write for ChunkSink {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.buffer.extend_from_slice(bytes);
        if self.buffer.len() >= CHUNK {
            self.send()?;
        }
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.send()
    }
}
