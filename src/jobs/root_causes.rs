//! Root causes over the stored verbatims: the `discover_root_causes` job reads the verbatims a
//! search filter selects, finds their mentions (what each says went wrong), groups them as a
//! topic discovery does and saves the groups as the root-cause model in use, with every
//! verbatim's root causes, in one commit ([`Service::root_causes_discovered`]).
//!
//! The `split_root_cause` job splits one root cause into parts found among the mentions that
//! cite it, as `split_topic` splits a topic.
//!
//! Like a topic discovery it is one step: killed before its commit, it leaves nothing and runs
//! again from the start at the next start-up.

use std::collections::{HashMap, HashSet};

use anyhow::Context;

use super::topics::{read_selected, vectors_in, StoredDiscovery};
use crate::domain::Verbatim;
use crate::reprocess::Outcome;
use crate::root_causes::saved::{assignment, RootCauseModel};
use crate::root_causes::{cite, mentions, worded, MentionSource};
use crate::search::SearchRequest;
use crate::service::Service;
use crate::store::{Grouping, JobProgress, JobRow};
use crate::topics::saved::{words_stand_in, DiscoveryRecord, SavedTopics};
use crate::topics::TopicAssigner;
use crate::topics::{
    discover, vectors_for_discovery, DiscoverySettings, Outliers, Previous, Stopped, TopicInput, VectorSpace,
};

/// Verbatims whose mentions are read at a time (between two looks at `stop`).
const BATCH: usize = 256;

/// Runs the root-cause discovery recorded in `row`; `stop` is asked between batches.
pub fn discover_stored(
    service: &Service,
    row: &JobRow,
    discovery: &StoredDiscovery,
    stop: &dyn Fn() -> bool,
) -> anyhow::Result<Outcome> {
    let store = service.store();
    // Killed between its commit and its end: the model saved is this job's.
    if store.saved_model_header(Grouping::RootCauses)?.is_some_and(|saved| saved.job_id.as_deref() == Some(&row.id)) {
        return Ok(Outcome::Finished);
    }
    let Some(mut verbatims) = read_selected(service, &discovery.selection, row.snapshot, stop)? else {
        return Ok(Outcome::Stopped);
    };
    anyhow::ensure!(!verbatims.is_empty(), "no stored verbatim matches the job's filter: no root causes to find");
    let total = verbatims.len() as u64;
    let record = |done: usize| {
        let progress = JobProgress { id: row.id.clone(), cursor: 0, done: done as u64, errors: 0 };
        if let Err(err) = store.set_file_job_progress(&progress, total) {
            tracing::warn!(job = %row.id, error = %err, "recording the job's progress");
        }
    };
    let analyzer = service.analyzer();
    let readers = analyzer.readers(analyzer.fast());
    let mut found = Vec::with_capacity(verbatims.len());
    for chunk in verbatims.chunks(BATCH) {
        if stop() {
            return Ok(Outcome::Stopped);
        }
        let sources: Vec<MentionSource<'_>> = chunk.iter().map(MentionSource::of).collect();
        found.extend(mentions(readers, &sources)?);
        record(found.len() / 2);
    }
    let texts: Vec<&str> = verbatims.iter().map(|v| v.text.as_str()).collect();
    let worded = worded(&texts, &found);
    anyhow::ensure!(!worded.texts.is_empty(), "none of the {total} verbatims selected states what went wrong");
    let current = analyzer.root_causes();
    let (found_groups, words) = {
        let sources: Vec<MentionSource<'_>> = verbatims.iter().map(MentionSource::of).collect();
        let inputs: Vec<TopicInput<'_>> = worded
            .texts
            .iter()
            .zip(&worded.owners)
            .map(|(text, (v, _))| TopicInput { text, language: Some(sources[*v].language) })
            .collect();
        let mentions_total = inputs.len();
        let mut progress = |done: usize| {
            record(verbatims.len() / 2 + done * verbatims.len() / 2 / mentions_total.max(1));
            !stop()
        };
        let in_use = current.as_ref().map(|c| &c.assigner.saved.model.space);
        let (space, vectors) = match vectors_for_discovery(analyzer.models_dir(), &inputs, in_use, &mut progress) {
            Err(err) if err.is::<Stopped>() => return Ok(Outcome::Stopped),
            other => other?,
        };
        // Each mention's root cause under the model in use (the verbatim cited it at the same
        // place): ids carry on where root causes do.
        let previous_ids: Vec<Option<i64>> = worded
            .owners
            .iter()
            .map(|(v, m)| {
                let verbatim = &verbatims[*v];
                let stored = verbatim.root_causes.as_ref().filter(|r| current.as_ref().is_some_and(|c| c.holds(r)))?;
                let bytes = found[*v][*m].bytes.clone();
                let (offset, _) = crate::nlp::offsets::CodePoints::new(&verbatim.text).span(bytes);
                stored.causes.iter().find(|c| c.offset == offset).map(|c| c.id)
            })
            .collect();
        let previous = current.as_ref().map(|c| Previous {
            model: &c.assigner.saved.model,
            topic_ids: &previous_ids,
            pinned: &[],
        });
        let settings = &discovery.settings;
        let found_groups = discover(&inputs, &vectors, space, settings, previous)?;
        let words = matches!(found_groups.model.space, VectorSpace::Encoder { .. }).then(|| {
            words_stand_in(&found_groups.model, &inputs, &found_groups.assignments, settings.outliers.floor_quantile())
        });
        (found_groups, words)
    };
    if stop() {
        return Ok(Outcome::Stopped);
    }
    let groups: Vec<Option<i64>> = found_groups.assignments.iter().map(|a| a.map(|a| a.topic_id)).collect();
    let cited = cite(verbatims.len(), &found, &worded, &groups);
    // Verbatims that say what went wrong, yet in words no root cause holds.
    let outliers = found.iter().zip(&cited).filter(|(found, cited)| !found.is_empty() && cited.is_empty()).count();
    for (verbatim, cited) in verbatims.iter_mut().zip(cited) {
        // The commit fills in the model's version.
        verbatim.root_causes = Some(assignment(&verbatim.text, 0, cited));
    }
    let settings = &discovery.settings;
    let saved = SavedTopics {
        model: found_groups.model,
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
    // The verbatims outside the filter take root causes of the new model too, matched here
    // rather than in the commit, which holds the write lock.
    if !discovery.selection.matches_everything() {
        let model = RootCauseModel::new(TopicAssigner { version: 0, saved: saved.clone() }, &HashMap::new());
        let read: HashSet<String> = verbatims.iter().map(|v| v.id.clone()).collect();
        let mut cursor = 0;
        while let Some((last, page)) =
            service.reader().select_page(&SearchRequest::default(), cursor, row.snapshot, BATCH)?
        {
            if stop() {
                return Ok(Outcome::Stopped);
            }
            let mut others: Vec<Verbatim> = page.into_iter().filter(|v| !read.contains(&v.id)).collect();
            let sources: Vec<MentionSource<'_>> = others.iter().map(MentionSource::of).collect();
            let found = model.assign(readers, &sources)?;
            drop(sources);
            others.iter_mut().zip(found).for_each(|(v, found)| v.root_causes = Some(found));
            verbatims.extend(others);
            cursor = last;
        }
    }
    let progress = JobProgress { id: row.id.clone(), cursor: row.snapshot, done: total, errors: 0 };
    let based_on = current.as_ref().map(|c| (c.version(), c.assigner.saved.merges));
    let version = service.root_causes_discovered(saved, based_on, &row.id, verbatims, progress)?.context(
        "the root-cause model in use changed while the discovery ran (another discovery, or a merge): run it again",
    )?;
    tracing::info!(job = %row.id, version, verbatims = total, "root-cause model saved and in use");
    Ok(Outcome::Finished)
}

/// Splits root cause `id` of the model in use into `parts` found among the mentions that cite
/// it (the stored verbatims up to the job's snapshot), read in the model's own vector space: a
/// k-means discovery over them alone, grafted into the model in place of the root cause (see
/// [`SavedTopics::split`]), as a topic is split.
pub fn split_stored(
    service: &Service,
    row: &JobRow,
    id: i64,
    parts: usize,
    seed: u64,
    stop: &dyn Fn() -> bool,
) -> anyhow::Result<Outcome> {
    // Killed between its commit and its end: the progress committed with the split says so.
    if row.cursor > 0 {
        return Ok(Outcome::Finished);
    }
    let model =
        service.analyzer().root_causes().context("no root-cause model yet: run a discover_root_causes job first")?;
    model
        .assigner
        .saved
        .model
        .topic(id)
        .with_context(|| format!("no root cause {id} in the root-cause model in use"))?;
    let selection = SearchRequest { root_causes: vec![id], ..SearchRequest::default() };
    let Some(mut members) = read_selected(service, &selection, row.snapshot, stop)? else {
        return Ok(Outcome::Stopped);
    };
    // Each member's mention of the root cause, with words.
    let mentions: Vec<(usize, String)> = members
        .iter()
        .enumerate()
        .filter_map(|(m, member)| {
            let cause = member.root_causes.as_ref()?.causes.iter().find(|c| c.id == id)?;
            let bytes = crate::nlp::offsets::byte_range(&member.text, cause.offset, cause.length);
            Some((m, crate::root_causes::cleaned(&member.text[bytes])?))
        })
        .collect();
    anyhow::ensure!(
        mentions.len() >= 2 * parts,
        "root cause {id} is stated by {} verbatims: too few to split into {parts}",
        mentions.len()
    );
    let texts: Vec<(&str, Option<&str>)> =
        mentions.iter().map(|(m, text)| (text.as_str(), members[*m].language.as_deref())).collect();
    let space = model.assigner.saved.model.space.clone();
    let Some(vectors) = vectors_in(service, &space, &texts, stop)? else { return Ok(Outcome::Stopped) };
    let inputs: Vec<TopicInput<'_>> =
        texts.iter().map(|(text, language)| TopicInput { text, language: *language }).collect();
    let settings = DiscoverySettings { topics: Some(parts), seed, ..DiscoverySettings::default() };
    let found = discover(&inputs, &vectors, space, &settings, None)?;
    let (saved, new_ids) = model.assigner.saved.split(id, &found, &texts).context("the root cause to split is gone")?;
    let moved: Vec<Option<i64>> = found.assignments.iter().map(|a| a.map(|a| new_ids[&a.topic_id])).collect();
    drop(inputs);
    drop(texts);
    for ((m, _), part) in mentions.iter().zip(moved) {
        if let Some(found) = members[*m].root_causes.as_mut() {
            match part {
                Some(part) => found.merge(id, part),
                None => found.causes.retain(|c| c.id != id),
            }
        }
    }
    let total = members.len() as u64;
    let progress = JobProgress { id: row.id.clone(), cursor: row.snapshot.max(1), done: total, errors: 0 };
    let based_on = (model.version(), model.assigner.saved.merges);
    service.root_cause_split(saved, based_on, id, members, progress)?.context(
        "the root-cause model in use changed while the split ran (a discovery, a merge or another split): run it again",
    )?;
    tracing::info!(job = %row.id, root_cause = id, parts, verbatims = total, "root cause split");
    Ok(Outcome::Finished)
}
