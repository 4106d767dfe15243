//! Encoder engines: texts in, one embedding per text out.
//!
//! The [`Encoder`] trait is what the rest of verbatim sees; [`BertEncoder`] implements it with
//! candle (tokenising, batching, pooling; the forward pass is in `transformer`) for any
//! BERT-family model stored as a standard folder (`config.json`,
//! `model.safetensors`, `tokenizer.json`, and optionally our `encoder.json`), optionally with
//! fine-tuned [`LowRankAdapters`] merged in. The CPU is the
//! default device; the `cuda` cargo feature runs the same code on an NVIDIA GPU.

mod adapters;
mod bert;
mod head;
mod int8;
mod kernels;
mod queue;
mod transformer;

pub use adapters::LowRankAdapters;
pub use bert::{BertEncoder, EncoderSettings, Pooling};
pub use head::Head;
pub use queue::{EncoderQueue, QueueSettings};
pub use transformer::Precision;

/// Texts in, embeddings out.
pub trait Encoder: Send + Sync {
    /// Length of every embedding this encoder returns.
    fn dimension(&self) -> usize;
    /// One embedding per text, in the order given.
    fn encode(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, EngineError>;
}

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error("reading model folder {path}: {message}")]
    Load { path: String, message: String },
    #[error("tokenising: {0}")]
    Tokenize(String),
    #[error("running the encoder: {0}")]
    Compute(#[from] candle_core::Error),
    #[error("the encoder is busy: the work queued ahead would take {} s", .wait.as_secs())]
    Busy { wait: std::time::Duration },
}

/// The device encoders run on: the first CUDA GPU when built with `cuda` and one is present,
/// else the CPU.
pub fn device() -> candle_core::Device {
    #[cfg(feature = "cuda")]
    if let Ok(device) = candle_core::Device::new_cuda(0) {
        return device;
    }
    candle_core::Device::Cpu
}

/// Keeps large freed buffers in the process instead of returning them to the OS at once.
///
/// glibc maps large blocks separately and unmaps them when freed, and trims the heap top
/// back to the OS, so each forward pass page-faults its activation buffers back in and zeroes
/// them (a share of the encoder's time: the profile is in benches/RESULTS.md). Blocks up to
/// 32 MB (glibc's ceiling, above every activation buffer of a 2,048-token batch) stay in the
/// heap, and the heap is not trimmed. Process-wide, so binaries that run the encoder call it once at start-up; a
/// long-lived process pairs it with [`release_freed_buffers`]. A no-op off glibc.
pub fn keep_freed_buffers() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only changes allocator tuning parameters; called before threads start.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 32 << 20);
        libc::mallopt(libc::M_TRIM_THRESHOLD, i32::MAX);
    }
}

/// Returns the free memory that [`keep_freed_buffers`] keeps to the OS, so a server does not
/// hold its largest request's peak for its life; the next request faults its buffers back in
/// once, not on every forward pass. A no-op off glibc.
pub fn release_freed_buffers() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only hands free pages back to the OS; it locks each arena it trims.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// How long the work queued ahead would take, when the encoder refused work as
/// [`EngineError::Busy`] somewhere in this error's chain.
pub fn busy_wait(error: &anyhow::Error) -> Option<std::time::Duration> {
    error.chain().find_map(|cause| match cause.downcast_ref::<EngineError>() {
        Some(EngineError::Busy { wait }) => Some(*wait),
        _ => None,
    })
}
