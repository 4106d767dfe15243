//! Reprocessing the stored corpus: every stored verbatim the search filters select, read in
//! row order up to the job's snapshot (the store's last row when the job was created, see
//! [`crate::store::Store::page`]), analysed by the chosen tier, its new analyses written back
//! to the store and the index.
//!
//! **Exactly once.** Each page's results and the job's progress (the row reached, the count
//! done) are one commit ([`Service::reanalysed`]). Killed at any moment, the job resumes after
//! the last committed page: no verbatim is analysed twice, none is skipped. A result is stored
//! only if the verbatim's text is still the one analysed; a row written back keeps its place
//! and takes a new `seq`, so the index follows as it follows any write.
//!
//! The language stays as stored (given by the client or detected at ingestion): detection is
//! an inline stage and ran on every stored verbatim already.

use std::time::Duration;

use crate::domain::{EmotionScore, Sentiment, Tier, Verbatim};
use crate::pipeline::{Annotated, EmotionStage, Pipeline, SentimentStage, Stage};
use crate::search::SearchRequest;
use crate::service::Service;
use crate::store::{JobProgress, JobRow};

use super::{batch_size, Outcome, Progress};

/// Stored verbatims read, analysed and committed together with the `fast` tier (see
/// [`batch_size`]): each page is one store transaction and one index commit, whose cost a
/// large page spreads.
const PAGE: usize = 5_000;

/// What a stored reprocess selects and runs.
#[derive(Debug, Clone)]
pub struct StoredJob {
    pub filter: SearchRequest,
    pub tier: Tier,
}

/// Runs (or resumes) `job` as recorded in `row`; `stop` is asked before each page.
pub fn reprocess_stored(
    service: &Service,
    row: &JobRow,
    job: &StoredJob,
    stop: &dyn Fn() -> bool,
    mut progress: impl FnMut(&Progress),
) -> anyhow::Result<Outcome> {
    let model = service.analyzer().model(job.tier)?;
    let version = model.model_version();
    let stages: Vec<Box<dyn Stage>> = vec![
        Box::new(SentimentStage::documents(model)),
        Box::new(EmotionStage::new(service.analyzer().emotions(job.tier)?)),
    ];
    let pipeline = Pipeline::new(stages);
    let page_size = batch_size(model, PAGE);
    let (mut cursor, mut done) = (row.cursor, row.done);
    loop {
        if stop() {
            return Ok(Outcome::Stopped);
        }
        let Some((last, mut selected)) = service.reader().select_page(&job.filter, cursor, row.snapshot, page_size)?
        else {
            return Ok(Outcome::Finished);
        };
        let found = analyse(&pipeline, &selected, stop)?;
        let Some(found) = found else { return Ok(Outcome::Stopped) };
        for (verbatim, (sentiment, emotions)) in selected.iter_mut().zip(found) {
            verbatim.set_sentiment(sentiment, emotions, version.clone());
            verbatim.mark_mixed_by_aspects();
        }
        done += selected.len() as u64;
        let committed = JobProgress { id: row.id.clone(), cursor: last, done, errors: row.errors };
        service.reanalysed(selected, committed)?;
        cursor = last;
        progress(&Progress { done, rejected: 0, position: done, length: row.total.max(done) });
    }
}

/// A verbatim's new sentiment and emotions.
type Judged = (Sentiment, Vec<EmotionScore>);

/// Runs the sentiment and emotion stages on the page; while the encoder is busy with live
/// requests, waits and tries again (a job is never in a hurry). `None` when asked to stop
/// meanwhile.
fn analyse(
    pipeline: &Pipeline<'_>,
    verbatims: &[Verbatim],
    stop: &dyn Fn() -> bool,
) -> anyhow::Result<Option<Vec<Judged>>> {
    loop {
        let mut batch: Vec<Annotated<'_>> =
            verbatims.iter().map(|v| Annotated::new(&v.text, v.language.clone())).collect();
        match pipeline.run(None, &mut batch) {
            Ok(()) => {
                return Ok(Some(
                    batch
                        .into_iter()
                        .map(|item| {
                            let sentiment = item.sentiment.expect("the sentiment stage judges every text");
                            (sentiment, item.emotions.expect("the emotion stage reads every text"))
                        })
                        .collect(),
                ))
            }
            Err(err) => match crate::engine::busy_wait(&err) {
                Some(wait) if !stop() => {
                    std::thread::sleep(wait.clamp(Duration::from_millis(100), Duration::from_secs(5)))
                }
                Some(_) => return Ok(None),
                None => return Err(err),
            },
        }
    }
}
