//! Reprocessing: verbatims through the analysis pipeline again, resumable after a kill with
//! every verbatim's result written exactly once, over a file ([`file`]: into an output file)
//! or over the stored corpus ([`stored`]: back into the store and the index).

mod file;
mod stored;

use std::time::Instant;

use crate::domain::Tier;
use crate::nlp::sentiment::SentimentModel;

pub use file::{errors_path, reprocess, OutputFormat, ReprocessJob, ReprocessReport};
pub use stored::{reprocess_stored, StoredJob};

/// How a run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Everything selected is analysed.
    Finished,
    /// Asked to stop (cancelled, or the process is shutting down) after a committed batch.
    Stopped,
}

/// Records analysed and committed together: `fast_batch` with the `fast` tier; with
/// `accurate`, as many as one request may give it (seconds of work), so that a job shares the
/// encoder fairly with live requests and hears a cancellation or a shutdown within seconds.
fn batch_size(model: &dyn SentimentModel, fast_batch: usize) -> usize {
    match model.tier() {
        Tier::Fast => fast_batch,
        Tier::Accurate => model.max_documents(),
    }
}

/// How far a run has come, as reported to the progress display.
pub struct Progress {
    /// Records read (files) or verbatims analysed (the store), this run and interrupted ones.
    pub done: u64,
    /// Records rejected, of `done`.
    pub rejected: u64,
    /// Completion, measured as `position` of `length`: bytes of a file, verbatims of the store.
    pub position: u64,
    pub length: u64,
}

/// Progress as structured log lines (when stderr is not a terminal), every few seconds: the
/// rate of this run, the share done and the time left.
#[derive(Default)]
pub struct ProgressLog {
    first: Option<(Instant, u64, u64)>,
    last: Option<Instant>,
}

impl ProgressLog {
    pub fn update(&mut self, progress: &Progress) {
        let (started, first_done, first_position) =
            *self.first.get_or_insert((Instant::now(), progress.done, progress.position));
        if self.last.is_some_and(|last| last.elapsed().as_secs() < 5) {
            return;
        }
        self.last = Some(Instant::now());
        let fraction = (progress.position as f64 / progress.length.max(1) as f64).min(1.0);
        let elapsed = started.elapsed().as_secs_f64().max(1e-3);
        let per_second = progress.done.saturating_sub(first_done) as f64 / elapsed;
        let position_per_second = progress.position.saturating_sub(first_position) as f64 / elapsed;
        let left = progress.length.saturating_sub(progress.position) as f64;
        let eta_seconds = if position_per_second > 0.0 { (left / position_per_second).round() as u64 } else { 0 };
        tracing::info!(
            done = progress.done,
            per_second = per_second.round() as u64,
            percent = format!("{:.1}", 100.0 * fraction),
            eta_seconds,
            "progress"
        );
    }
}
