//! Topics over the stored verbatims: the `discover_topics` job, which finds the topics of the
//! verbatims a search filter selects and saves them as the model in use, and the
//! `assign_topics` job, which gives the encoder's topic to the verbatims ingestion assigned
//! by words (see [`crate::topics::saved`]).
//!
//! The `split_topic` job finds parts among one topic's verbatims and puts them in its place in
//! the model in use.
//!
//! A discovery (and a split) reads every selected verbatim before it can decide anything, so it is one step:
//! killed before its commit, it leaves nothing and runs again from the start at the next
//! start-up; its commit saves the model and every verbatim's topic at once
//! ([`Service::topics_discovered`]). An assignment goes page by page, each page's topics
//! committed with the job's progress, so it resumes after the last page.

use std::collections::BTreeMap;

use anyhow::Context;

use crate::domain::{AssignedBy, Verbatim};
use crate::engine::Encoder;
use crate::reprocess::Outcome;
use crate::search::SearchRequest;
use crate::service::Service;
use crate::store::{Grouping, JobProgress, JobRow};
use crate::topics::saved::{assigned, words_stand_in, DiscoveryRecord, SavedTopics};
use crate::topics::{discover, topic_encoder, vectors_for_discovery, DiscoverySettings, Outliers, Previous, Stopped};
use crate::topics::{TopicInput, VectorSpace};

/// Verbatims read from the store at a time.
const PAGE: usize = 5_000;
/// Verbatims the encoder reads, and whose topics are committed, at a time (assignment).
const ASSIGN_PAGE: usize = 256;

/// What a discovery over the store reads and how it runs.
pub struct StoredDiscovery {
    /// The search parameters that select the verbatims read, as the job gave them (saved with
    /// the model), and as a request.
    pub filter: BTreeMap<String, String>,
    pub selection: SearchRequest,
    pub settings: DiscoverySettings,
}

/// Runs the discovery recorded in `row`; `stop` is asked between pages and batches.
pub fn discover_stored(
    service: &Service,
    row: &JobRow,
    discovery: &StoredDiscovery,
    stop: &dyn Fn() -> bool,
) -> anyhow::Result<Outcome> {
    // Killed between its commit and its end: the model saved is this job's.
    if service
        .store()
        .saved_model_header(Grouping::Topics)?
        .is_some_and(|saved| saved.job_id.as_deref() == Some(row.id.as_str()))
    {
        return Ok(Outcome::Finished);
    }
    let settings = &discovery.settings;
    let Some(mut verbatims) = read_selected(service, &discovery.selection, row.snapshot, stop)? else {
        return Ok(Outcome::Stopped);
    };
    anyhow::ensure!(!verbatims.is_empty(), "no stored verbatim matches the job's filter: no topics to find");
    let store = service.store();
    let total = verbatims.len() as u64;
    let current = service.analyzer().topics();
    let (found, words) = {
        let inputs: Vec<TopicInput<'_>> =
            verbatims.iter().map(|v| TopicInput { text: &v.text, language: v.language.as_deref() }).collect();
        let mut progress = |done: usize| {
            let progress = JobProgress { id: row.id.clone(), cursor: 0, done: done as u64, errors: 0 };
            if let Err(err) = store.set_file_job_progress(&progress, total) {
                tracing::warn!(job = %row.id, error = %err, "recording the job's progress");
            }
            !stop()
        };
        let in_use = current.as_ref().map(|c| &c.saved.model.space);
        let models_dir = service.analyzer().models_dir();
        let (space, vectors) = match vectors_for_discovery(models_dir, &inputs, in_use, &mut progress) {
            Err(err) if err.is::<Stopped>() => return Ok(Outcome::Stopped),
            other => other?,
        };
        // Each verbatim's topic under the model in use: ids carry on where topics do.
        let previous_ids: Vec<Option<i64>> = verbatims
            .iter()
            .map(|v| v.topic.filter(|t| current.as_ref().is_some_and(|c| c.version == t.model)).and_then(|t| t.topic()))
            .collect();
        let pinned: Vec<i64> = service
            .store()
            .edits(Grouping::Topics)?
            .into_iter()
            .filter(|(_, edit)| edit.pinned)
            .map(|(id, _)| id)
            .collect();
        let previous =
            current.as_ref().map(|c| Previous { model: &c.saved.model, topic_ids: &previous_ids, pinned: &pinned });
        let found = discover(&inputs, &vectors, space, settings, previous)?;
        let words = matches!(found.model.space, VectorSpace::Encoder { .. })
            .then(|| words_stand_in(&found.model, &inputs, &found.assignments, settings.outliers.floor_quantile()));
        (found, words)
    };
    if stop() {
        return Ok(Outcome::Stopped);
    }
    let outliers = found.assignments.iter().filter(|a| a.is_none()).count();
    for (verbatim, assignment) in verbatims.iter_mut().zip(&found.assignments) {
        // The commit fills in the model's version.
        verbatim.topic = Some(assigned(*assignment, 0, AssignedBy::Discovery));
    }
    let saved = SavedTopics {
        model: found.model,
        words,
        discovery: DiscoveryRecord {
            filter: discovery.filter.clone(),
            method: settings.method_run(),
            topics: settings.topics,
            strict: settings.outliers == Outliers::Strict,
            seed: settings.seed,
            verbatims: verbatims.len(),
            outliers,
        },
        // Names are clear of the erasures before the job: it read the store after them.
        erasure_mark: row.erasure_mark,
        merges: 0,
    };
    let progress = JobProgress { id: row.id.clone(), cursor: row.snapshot, done: total, errors: 0 };
    let based_on = current.as_ref().map(|c| (c.version, c.saved.merges));
    let version = service.topics_discovered(saved, based_on, &row.id, verbatims, progress)?.context(
        "the topic model in use changed while the discovery ran (another discovery, or a merge): run it again",
    )?;
    tracing::info!(job = %row.id, version, verbatims = total, outliers, "topic model saved and in use");
    Ok(Outcome::Finished)
}

/// Splits topic `topic` of the model in use into `parts` topics found among its verbatims (the
/// stored ones up to the job's snapshot), read in the model's own vector space: a k-means
/// discovery over them alone, grafted into the model in place of the topic (see
/// [`SavedTopics::split`]).
pub fn split_stored(
    service: &Service,
    row: &JobRow,
    topic: i64,
    parts: usize,
    seed: u64,
    stop: &dyn Fn() -> bool,
) -> anyhow::Result<Outcome> {
    // Killed between its commit and its end: the progress committed with the split says so.
    if row.cursor > 0 {
        return Ok(Outcome::Finished);
    }
    let assigner = service.analyzer().topics().context("no topic model yet: run a discover_topics job first")?;
    assigner.saved.model.topic(topic).with_context(|| format!("no topic {topic} in the topic model in use"))?;
    let selection = SearchRequest { topics: vec![topic], ..SearchRequest::default() };
    let Some(mut members) = read_selected(service, &selection, row.snapshot, stop)? else {
        return Ok(Outcome::Stopped);
    };
    anyhow::ensure!(
        members.len() >= 2 * parts,
        "topic {topic} holds {} verbatims: too few to split into {parts}",
        members.len()
    );
    let texts: Vec<(&str, Option<&str>)> = members.iter().map(|v| (v.text.as_str(), v.language.as_deref())).collect();
    let space = assigner.saved.model.space.clone();
    let Some(vectors) = vectors_in(service, &space, &texts, stop)? else { return Ok(Outcome::Stopped) };
    let inputs: Vec<TopicInput<'_>> =
        texts.iter().map(|(text, language)| TopicInput { text, language: *language }).collect();
    let settings = DiscoverySettings { topics: Some(parts), seed, ..DiscoverySettings::default() };
    let found = discover(&inputs, &vectors, space, &settings, None)?;
    let (saved, new_ids) = assigner.saved.split(topic, &found, &texts).context("the topic to split is gone")?;
    let assignments: Vec<_> = found
        .assignments
        .iter()
        .map(|a| {
            let moved = a.map(|a| crate::topics::Assignment { topic_id: new_ids[&a.topic_id], ..a });
            assigned(moved, assigner.version, AssignedBy::Model)
        })
        .collect();
    drop(inputs);
    drop(texts);
    for (member, assignment) in members.iter_mut().zip(assignments) {
        member.topic = Some(assignment);
    }
    let total = members.len() as u64;
    let progress = JobProgress { id: row.id.clone(), cursor: row.snapshot.max(1), done: total, errors: 0 };
    let based_on = (assigner.version, assigner.saved.merges);
    service.topic_split(saved, based_on, topic, members, progress)?.context(
        "the topic model in use changed while the split ran (a discovery, a merge or another split): run it again",
    )?;
    tracing::info!(job = %row.id, topic, parts, verbatims = total, "topic split");
    Ok(Outcome::Finished)
}

/// The vectors of `texts` in a saved model's `space` (what a split clusters); `None` when asked
/// to stop.
pub(super) fn vectors_in(
    service: &Service,
    space: &VectorSpace,
    texts: &[(&str, Option<&str>)],
    stop: &dyn Fn() -> bool,
) -> anyhow::Result<Option<Vec<Vec<f32>>>> {
    match space {
        VectorSpace::Hashed(tfidf) => Ok(Some(tfidf.vectors(texts))),
        VectorSpace::Encoder { .. } => {
            let encoder = topic_encoder(service.analyzer().models_dir())?
                .context("the model in use reads the encoder's vectors, and the encoder is not installed")?;
            let mut vectors = Vec::with_capacity(texts.len());
            for chunk in texts.chunks(ASSIGN_PAGE) {
                if stop() {
                    return Ok(None);
                }
                vectors.extend(encoder.encode(&chunk.iter().map(|(text, _)| *text).collect::<Vec<_>>())?);
            }
            Ok(Some(vectors))
        }
    }
}

/// Every stored verbatim `filter` selects up to row `through`; `None` when asked to stop.
pub(super) fn read_selected(
    service: &Service,
    filter: &SearchRequest,
    through: u64,
    stop: &dyn Fn() -> bool,
) -> anyhow::Result<Option<Vec<Verbatim>>> {
    let mut verbatims = Vec::new();
    let mut cursor = 0;
    while let Some((last, page)) = service.reader().select_page(filter, cursor, through, PAGE)? {
        if stop() {
            return Ok(None);
        }
        verbatims.extend(page);
        cursor = last;
    }
    Ok(Some(verbatims))
}

/// Runs (or resumes) the assignment recorded in `row`: every verbatim up to the job's snapshot
/// whose topic the model in use gave by words gets the encoder's. The model is read again for
/// each page: a merge or a discovery meanwhile is what the next page works with.
pub fn assign_stored(service: &Service, row: &JobRow, stop: &dyn Fn() -> bool) -> anyhow::Result<Outcome> {
    let in_use = || service.analyzer().topics().context("no topic model yet: run a discover_topics job first");
    anyhow::ensure!(
        in_use()?.needs_encoder(),
        "the topic model in use was found in the lightweight mode; ingestion already assigns in its space"
    );
    let encoder = topic_encoder(service.analyzer().models_dir())?
        .context("the topic model in use reads the encoder's vectors, and the encoder is not installed")?;
    let (mut cursor, mut done) = (row.cursor, row.done);
    loop {
        if stop() {
            return Ok(Outcome::Stopped);
        }
        let assigner = in_use()?;
        if !assigner.needs_encoder() {
            return Ok(Outcome::Finished);
        }
        let unrefined = |v: &Verbatim| v.topic.is_some_and(|t| t.by == AssignedBy::Words && assigner.holds(&t));
        let Some((last, page)) =
            service.reader().select_page(&SearchRequest::default(), cursor, row.snapshot, ASSIGN_PAGE)?
        else {
            return Ok(Outcome::Finished);
        };
        done += page.len() as u64;
        let mut owed: Vec<Verbatim> = page.into_iter().filter(|v| unrefined(v)).collect();
        let texts: Vec<&str> = owed.iter().map(|v| v.text.as_str()).collect();
        let vectors = if texts.is_empty() { Vec::new() } else { encoder.encode(&texts)? };
        for (verbatim, topic) in owed.iter_mut().zip(assigner.assign_vectors(&vectors)) {
            verbatim.topic = Some(topic);
        }
        service.topics_assigned(owed, JobProgress { id: row.id.clone(), cursor: last, done, errors: row.errors })?;
        cursor = last;
    }
}
