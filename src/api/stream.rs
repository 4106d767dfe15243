//! Response bodies written by blocking code (exports, job results), streamed a chunk at a
//! time: memory stays bounded whatever the length, and each stream holds one of a few places.

use std::io::Write;

use actix_web::http::{header, StatusCode};
use actix_web::web::{self, Bytes};
use tokio::sync::{mpsc, OwnedSemaphorePermit};

use super::error::ApiError;
use super::AppState;

/// Bytes gathered before a chunk goes to the client.
const CHUNK: usize = 64 * 1024;
/// Chunks waiting for a slow client before the writer pauses.
const CHUNKS_AHEAD: usize = 8;

/// Takes one of the places for streams (each holds a thread while it runs), or refuses with
/// 429 when all are taken.
pub(super) fn take_stream_place(state: &web::Data<AppState>) -> Result<OwnedSemaphorePermit, ApiError> {
    state.streams.clone().try_acquire_owned().map_err(|_| {
        ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "too_many_streams",
            "too many exports and downloads are running; retry when one ends",
        )
        .with_header(header::RETRY_AFTER, header::HeaderValue::from_static("5"))
    })
}

/// A response body fed by `write`, run on a thread of its own that keeps `place` until it
/// ends. A client gone away ends `write` with an error; an error once the body has begun can
/// only cut it short, and the log says why.
pub(super) fn streamed(
    what: &'static str,
    place: OwnedSemaphorePermit,
    write: impl FnOnce(&mut ChunkSink) -> anyhow::Result<()> + Send + 'static,
) -> Result<impl futures_util::Stream<Item = Result<Bytes, std::io::Error>>, ApiError> {
    let (chunks, receiver) = mpsc::channel::<Result<Bytes, std::io::Error>>(CHUNKS_AHEAD);
    std::thread::Builder::new()
        .name(format!("verbatim-{what}"))
        .spawn(move || {
            let _place = place;
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

/// Hands what is written to the response, a chunk at a time.
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
