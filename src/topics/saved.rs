//! A topic model as the service keeps it (saved in the store, one version at a time) and how
//! it assigns a verbatim at ingestion without waiting for the encoder.
//!
//! A model found in the lightweight mode assigns in its own space: hashed TF-IDF costs
//! microseconds. A model found with the encoder carries a stand-in for the write path: the
//! same topics (ids and names) described by their words, as centroids of their members'
//! hashed TF-IDF vectors. Ingestion assigns with the stand-in (`by: words`); an
//! `assign_topics` job later reads those verbatims with the encoder and replaces the
//! assignment (`by: model`).

use std::collections::BTreeMap;

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use super::{center_on, cluster, mean, Assignment, HashedTfIdf, Method, TopicInput, TopicModel, VectorSpace};
use crate::domain::{AssignedBy, TopicAssignment, Verbatim, NO_TOPIC};

/// What a discovery over the store saves.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct SavedTopics {
    pub model: TopicModel,
    /// For a model in the encoder's space: its topics in hashed TF-IDF, for ingestion.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub words: Option<TopicModel>,
    pub discovery: DiscoveryRecord,
    /// The last erasure (an audit row number) its names are clear of: names are made from the
    /// verbatims' words, so after an erasure they are made again from the verbatims left
    /// ([`SavedTopics::renamed`]).
    #[serde(default)]
    pub erasure_mark: u64,
    /// Merges made to it since its discovery: a discovery that started from this model
    /// commits only if it is still the model in use, unmerged since (its ids would otherwise
    /// bring a merged topic back).
    #[serde(default)]
    pub merges: u32,
}

/// How the saved model was found.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct DiscoveryRecord {
    /// The search filter that chose the verbatims read (empty: all of them).
    pub filter: BTreeMap<String, String>,
    pub method: Method,
    /// The number of topics asked for, if any.
    pub topics: Option<usize>,
    pub strict: bool,
    pub seed: u64,
    /// Verbatims the discovery read, and how many of them it left without a topic.
    pub verbatims: usize,
    pub outliers: usize,
}

/// The model in use, ready to assign.
#[derive(Debug, Clone)]
pub struct TopicAssigner {
    pub version: u32,
    pub saved: SavedTopics,
}

impl TopicAssigner {
    /// The model as the store keeps it (read with its JSON).
    pub fn from_saved(stored: &crate::store::SavedModel) -> anyhow::Result<TopicAssigner> {
        let version = stored.version;
        let json =
            stored.model.as_deref().ok_or_else(|| anyhow::anyhow!("topic model {version} read without its JSON"))?;
        let saved =
            serde_json::from_str(json).map_err(|e| anyhow::anyhow!("topic model {version} is unreadable: {e}"))?;
        Ok(TopicAssigner { version, saved })
    }

    /// Whether the model's space is the encoder's (its assignments at ingestion are refined later).
    pub fn needs_encoder(&self) -> bool {
        matches!(self.saved.model.space, VectorSpace::Encoder { .. })
    }

    /// Assigns texts (with their languages) without the encoder: in the model's own space
    /// when it is hashed TF-IDF, else with its words' stand-in.
    pub fn assign_words(&self, texts: &[(&str, Option<&str>)]) -> Vec<TopicAssignment> {
        let (model, by) = match (&self.saved.model.space, &self.saved.words) {
            (VectorSpace::Hashed(_), _) => (&self.saved.model, AssignedBy::Model),
            (VectorSpace::Encoder { .. }, Some(words)) => (words, AssignedBy::Words),
            (VectorSpace::Encoder { .. }, None) => {
                return texts.iter().map(|_| self.assignment(None, AssignedBy::Words)).collect()
            }
        };
        let VectorSpace::Hashed(tfidf) = &model.space else { unreachable!("the words' model is hashed") };
        tfidf.vectors(texts).par_iter().map(|vector| self.assignment(model.assign(vector), by)).collect()
    }

    /// Assigns by words the verbatims whose topic is not of this model (or who have none, or
    /// whose topic it no longer has: merged into another meanwhile).
    pub fn assign_stale(&self, verbatims: &mut [Verbatim]) {
        let stale: Vec<&mut Verbatim> =
            verbatims.iter_mut().filter(|v| !v.topic.as_ref().is_some_and(|t| self.holds(t))).collect();
        if stale.is_empty() {
            return;
        }
        let texts: Vec<(&str, Option<&str>)> = stale.iter().map(|v| (v.text.as_str(), v.language.as_deref())).collect();
        let topics = self.assign_words(&texts);
        for (verbatim, topic) in stale.into_iter().zip(topics) {
            verbatim.topic = Some(topic);
        }
    }

    /// Assigns normalised vectors of the model's own space (the encoder's embeddings).
    pub fn assign_vectors(&self, vectors: &[Vec<f32>]) -> Vec<TopicAssignment> {
        vectors.iter().map(|vector| self.assignment(self.saved.model.assign(vector), AssignedBy::Model)).collect()
    }

    fn assignment(&self, found: Option<Assignment>, by: AssignedBy) -> TopicAssignment {
        assigned(found, self.version, by)
    }

    /// Whether `topic` is an answer of this model as it is now: of its version, and a topic it
    /// still has (not one merged into another since).
    pub fn holds(&self, topic: &TopicAssignment) -> bool {
        topic.model == self.version && topic.topic().is_none_or(|id| self.saved.model.topic(id).is_some())
    }
}

/// What a verbatim is told of its topic: `found` by model `version`, `by` what means.
pub fn assigned(found: Option<Assignment>, version: u32, by: AssignedBy) -> TopicAssignment {
    match found {
        Some(a) => TopicAssignment { id: a.topic_id, model: version, similarity: a.similarity, by },
        None => TopicAssignment { id: NO_TOPIC, model: version, similarity: 0.0, by },
    }
}

impl SavedTopics {
    /// The same model with topic `from` merged into `into` (see [`TopicModel::merged`]).
    pub fn merged(&self, from: i64, into: i64) -> Option<SavedTopics> {
        let words = match &self.words {
            Some(words) => Some(words.merged(from, into)?),
            None => None,
        };
        Some(SavedTopics { model: self.model.merged(from, into)?, words, merges: self.merges + 1, ..self.clone() })
    }

    /// The same model with its topics named again from `verbatims` (text, language, topic id):
    /// the stored verbatims after an erasure, so that no name holds a word only erased
    /// verbatims had. `erasure_mark` is the last erasure they are clear of.
    pub fn renamed(&self, verbatims: &[(String, Option<String>, i64)], erasure_mark: u64) -> SavedTopics {
        let position = self.model.positions();
        let named: Vec<super::labels::Named<'_>> = verbatims
            .iter()
            .map(|(text, language, id)| super::labels::Named {
                text,
                language: language.as_deref(),
                topic: position.get(id).copied(),
            })
            .collect();
        let names = super::labels::name_topics(&named, self.model.topics.len());
        let rename = |model: &TopicModel| TopicModel {
            topics: model
                .topics
                .iter()
                .zip(&names)
                .map(|(topic, names)| super::Topic { names: names.clone(), ..topic.clone() })
                .collect(),
            ..model.clone()
        };
        SavedTopics {
            model: rename(&self.model),
            words: self.words.as_ref().map(rename),
            discovery: self.discovery.clone(),
            erasure_mark,
            merges: self.merges,
        }
    }

    /// This model with topic `id` replaced by the topics `parts` found among its members alone
    /// (a discovery over them, in this model's vector space; `texts` are theirs, in order):
    /// each part gets a new id and its centroid moved into this model's space; the words'
    /// stand-in of an encoder model gets the parts too, from the members' words. Returns the
    /// model and each part's new id, by the part's id in `parts`; `None` if `id` is not a
    /// topic of this model.
    pub fn split(
        &self,
        id: i64,
        parts: &super::Discovery,
        texts: &[(&str, Option<&str>)],
    ) -> Option<(SavedTopics, std::collections::HashMap<i64, i64>)> {
        self.model.topic(id)?;
        let new_ids: std::collections::HashMap<i64, i64> =
            parts.model.topics.iter().zip(self.model.next_id..).map(|(part, new)| (part.id, new)).collect();
        let graft = |model: &TopicModel, centroids: Vec<Vec<f32>>| TopicModel {
            topics: model
                .topics
                .iter()
                .filter(|t| t.id != id)
                .cloned()
                .chain(parts.model.topics.iter().zip(centroids).map(|(part, centroid)| super::Topic {
                    id: new_ids[&part.id],
                    centroid,
                    ..part.clone()
                }))
                .collect(),
            next_id: model.next_id + parts.model.topics.len() as i64,
            ..model.clone()
        };
        let moved: Vec<Vec<f32>> = parts
            .model
            .topics
            .iter()
            .map(|part| center_on(&parts.model.uncentered(&part.centroid), &self.model.center))
            .collect();
        let words = self.words.as_ref().map(|words| {
            let VectorSpace::Hashed(tfidf) = &words.space else { unreachable!("the words' model is hashed") };
            let position = parts.model.positions();
            let labels: Vec<Option<usize>> =
                parts.assignments.iter().map(|a| a.and_then(|a| position.get(&a.topic_id).copied())).collect();
            let centered: Vec<Vec<f32>> = tfidf.vectors(texts).iter().map(|v| center_on(v, &words.center)).collect();
            let points: Vec<&[f32]> = centered.iter().map(Vec::as_slice).collect();
            graft(words, cluster::means(&points, &labels, parts.model.topics.len()))
        });
        let saved = SavedTopics { model: graft(&self.model, moved), words, merges: self.merges + 1, ..self.clone() };
        Some((saved, new_ids))
    }
}

/// The stand-in of `model` for ingestion: the same topics, each the normalised mean of its
/// members' hashed TF-IDF vectors (weights learnt from `inputs`), with a floor set as the
/// discovery's was (`floor_quantile` of members below it).
pub fn words_stand_in(
    model: &TopicModel,
    inputs: &[TopicInput<'_>],
    assignments: &[Option<Assignment>],
    floor_quantile: f64,
) -> TopicModel {
    let texts: Vec<(&str, Option<&str>)> = inputs.iter().map(|i| (i.text, i.language)).collect();
    let tfidf = HashedTfIdf::fit(&texts);
    let vectors = tfidf.vectors(&texts);
    let center = mean(vectors.iter().zip(assignments).filter(|(_, a)| a.is_some()).map(|(v, _)| v.as_slice()));
    let centered: Vec<Vec<f32>> = vectors.iter().map(|v| center_on(v, &center)).collect();
    let position = model.positions();
    let labels: Vec<Option<usize>> =
        assignments.iter().map(|a| a.and_then(|a| position.get(&a.topic_id).copied())).collect();
    let points: Vec<&[f32]> = centered.iter().map(Vec::as_slice).collect();
    let centroids = cluster::means(&points, &labels, model.topics.len());
    let mut own: Vec<f32> = labels
        .iter()
        .zip(&points)
        .filter(|(_, v)| v.iter().any(|x| *x != 0.0))
        .filter_map(|(label, v)| label.map(|c| super::dot(&centroids[c], v)))
        .collect();
    own.sort_by(f32::total_cmp);
    let floor = own.get(((own.len() as f64) * floor_quantile) as usize).copied().unwrap_or(f32::MIN);
    let topics = model
        .topics
        .iter()
        .zip(centroids)
        .map(|(topic, centroid)| super::Topic { centroid, ..topic.clone() })
        .collect();
    TopicModel {
        space: VectorSpace::Hashed(tfidf),
        method: model.method,
        center,
        resolution: None,
        floor,
        topics,
        next_id: model.next_id,
    }
}
