//! The root-cause model in use: groups found over the stored verbatims' mentions by a
//! `discover_root_causes` job and saved, like a topic model, with stable ids. Each verbatim
//! written afterwards has its mentions matched to the groups by their words (hashed TF-IDF,
//! microseconds a mention), so ingestion never waits for the encoder.

use std::collections::HashMap;

use super::{cite, mentions, worded, Cited, MentionSource, Readers};
use crate::domain::{CitedRootCause, RootCauseAssignment, Verbatim};
use crate::nlp::offsets::CodePoints;
use crate::store::GroupEdit;
use crate::topics::TopicAssigner;

/// The saved groups (a topic model over mentions, see [`crate::topics::SavedTopics`]) and the
/// label of each, an analyst's name where one was given.
#[derive(Debug, Clone)]
pub struct RootCauseModel {
    pub assigner: TopicAssigner,
    labels: HashMap<i64, String>,
}

impl RootCauseModel {
    pub fn new(assigner: TopicAssigner, edits: &HashMap<i64, GroupEdit>) -> RootCauseModel {
        let labels = assigner
            .saved
            .model
            .topics
            .iter()
            .map(|group| {
                let edited = edits.get(&group.id).and_then(|edit| edit.label.clone());
                (group.id, edited.unwrap_or_else(|| group.names.label.clone()))
            })
            .collect();
        RootCauseModel { assigner, labels }
    }

    pub fn version(&self) -> u32 {
        self.assigner.version
    }

    /// The label of root cause `id` (empty for an id the model no longer has).
    pub fn label(&self, id: i64) -> &str {
        self.labels.get(&id).map(String::as_str).unwrap_or_default()
    }

    /// Each verbatim's root causes under this model, strongest first, with their bytes.
    pub fn find(&self, readers: Readers<'_>, sources: &[MentionSource<'_>]) -> anyhow::Result<Vec<Vec<Cited>>> {
        let found = mentions(readers, sources)?;
        let texts: Vec<&str> = sources.iter().map(|s| s.text).collect();
        let worded = worded(&texts, &found);
        let inputs: Vec<(&str, Option<&str>)> = worded
            .texts
            .iter()
            .zip(&worded.owners)
            .map(|(text, (v, _))| (text.as_str(), Some(sources[*v].language)))
            .collect();
        let groups: Vec<Option<i64>> = self.assigner.assign_words(&inputs).iter().map(|a| a.topic()).collect();
        Ok(cite(sources.len(), &found, &worded, &groups))
    }

    /// [`RootCauseModel::find`] as the store keeps it: spans in code points, with the version.
    pub fn assign(
        &self,
        readers: Readers<'_>,
        sources: &[MentionSource<'_>],
    ) -> anyhow::Result<Vec<RootCauseAssignment>> {
        let found = self.find(readers, sources)?;
        Ok(sources.iter().zip(found).map(|(source, cited)| assignment(source.text, self.version(), cited)).collect())
    }

    /// Whether `assignment` is an answer of this model as it is now: of its version, citing
    /// only root causes it still has (none merged into another since).
    pub fn holds(&self, assignment: &RootCauseAssignment) -> bool {
        assignment.model == self.version() && assignment.ids().all(|id| self.assigner.saved.model.topic(id).is_some())
    }

    /// Finds again the root causes of the verbatims whose root causes are not of this model
    /// as it is now (written while a discovery or a merge changed it).
    pub fn assign_stale(&self, readers: Readers<'_>, verbatims: &mut [Verbatim]) -> anyhow::Result<()> {
        let mut stale: Vec<&mut Verbatim> =
            verbatims.iter_mut().filter(|v| !v.root_causes.as_ref().is_some_and(|a| self.holds(a))).collect();
        if stale.is_empty() {
            return Ok(());
        }
        let found = {
            let sources: Vec<MentionSource<'_>> = stale.iter().map(|v| MentionSource::of(v)).collect();
            self.assign(readers, &sources)?
        };
        for (verbatim, assignment) in stale.iter_mut().zip(found) {
            verbatim.root_causes = Some(assignment);
        }
        Ok(())
    }
}

/// The root causes `cited` in `text` (ids and bytes, strongest first) as the store keeps
/// them, under model `version`.
pub fn assignment(text: &str, version: u32, cited: Vec<Cited>) -> RootCauseAssignment {
    // Strongest first is not text order: each span is counted from the start.
    let causes = cited
        .into_iter()
        .map(|(id, bytes)| {
            let (offset, length) = CodePoints::new(text).span(bytes);
            CitedRootCause { id, offset, length }
        })
        .collect();
    RootCauseAssignment { model: version, causes }
}

/// The mentions the verbatims `cited` (text, language, root causes) hold, as names are made
/// from them: (cleaned text, language, root cause id).
pub fn mention_texts(cited: Vec<(String, Option<String>, RootCauseAssignment)>) -> Vec<(String, Option<String>, i64)> {
    let mut texts = Vec::new();
    for (text, language, found) in cited {
        for cause in &found.causes {
            let bytes = crate::nlp::offsets::byte_range(&text, cause.offset, cause.length);
            if let Some(mention) = super::cleaned(&text[bytes]) {
                texts.push((mention, language.clone(), cause.id));
            }
        }
    }
    texts
}
