//! Topics: what customers talk about, found without labels, named, and stable over time.
//!
//! **Discovery** ([`discover`]) reads verbatims' vectors (the multilingual encoder's
//! embeddings, or [`HashedTfIdf`] in the lightweight mode), clusters a sample of them
//! ([`cluster`]), names the topics ([`labels`]) and picks each one's most typical verbatims.
//! The sample keeps its clusters; every other verbatim goes to its nearest topic. The result
//! is a [`TopicModel`]: the topics' centroids, names and ids, which assigns later verbatims
//! alone ([`TopicModel::assign`]).
//!
//! **Ids are stable** across discoveries: a new discovery's topics are matched to the previous
//! ones (optimal matching on shared verbatims, or on centroid similarity, [`matching`]); a
//! matched topic keeps its id, a new one gets the next id, and ids are never reused.

mod cluster;
pub mod file;
pub mod labels;
mod matching;
pub mod report;
pub mod saved;
mod vectors;

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

pub use cluster::{sample, Method};
pub use labels::TopicNames;
pub use saved::{SavedTopics, TopicAssigner};
pub use vectors::{topic_encoder, vectors_for_discovery, HashedTfIdf, Stopped, TOPIC_ENCODER};

/// Typical verbatims kept per topic.
const EXAMPLES: usize = 3;

/// What discovery reads of a verbatim.
#[derive(Debug, Clone, Copy)]
pub struct TopicInput<'t> {
    pub text: &'t str,
    /// `fr`, `en` or other: picks the stemmer that names topics.
    pub language: Option<&'t str>,
}

/// Where topic vectors come from; a model's topics only compare with vectors of its own space.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum VectorSpace {
    /// An installed encoder's normalised embeddings (the accurate mode).
    Encoder { model: String },
    /// Hashed TF-IDF with the weights learnt at discovery (the lightweight mode).
    Hashed(HashedTfIdf),
}

impl VectorSpace {
    /// `encoder` (the accurate mode) or `hashed` (the lightweight mode), as summaries say it.
    pub fn mode(&self) -> &'static str {
        match self {
            VectorSpace::Encoder { .. } => "encoder",
            VectorSpace::Hashed(_) => "hashed",
        }
    }
}

/// How a verbatim far from every topic is treated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outliers {
    /// The clustered sample keeps its topics; any other verbatim goes to its nearest topic
    /// unless it is less similar to it than 98 % of the clustered verbatims are to their own.
    #[default]
    Nearest,
    /// Purity first: any verbatim, clustered or not, less similar to its topic than 90 % of the
    /// clustered verbatims are to their own is left without a topic.
    Strict,
}

impl Outliers {
    /// The share of clustered verbatims whose similarity to their own centroid sets the floor.
    pub fn floor_quantile(self) -> f64 {
        match self {
            Outliers::Nearest => 0.02,
            Outliers::Strict => 0.10,
        }
    }
}

/// How a discovery runs.
#[derive(Debug, Clone)]
pub struct DiscoverySettings {
    /// `None`: chosen from the data. A given number of topics is always found by k-means.
    pub topics: Option<usize>,
    pub method: Method,
    pub outliers: Outliers,
    /// Same input and seed, same topics.
    pub seed: u64,
    /// Clustering reads at most this many verbatims (a seeded sample); the others are assigned
    /// to the nearest topic, which is what keeps 100,000 verbatims in minutes.
    pub sample: usize,
    /// Multiplies Leiden's resolution for a fresh discovery: below 1, fewer and broader groups
    /// (root causes are ranked, and a ranking of a hundred causes is not read).
    pub granularity: f64,
}

impl DiscoverySettings {
    /// The method that runs: k-means whenever the number of topics is given.
    pub fn method_run(&self) -> Method {
        match self.topics {
            Some(_) => Method::KMeans,
            None => self.method,
        }
    }
}

impl Default for DiscoverySettings {
    fn default() -> DiscoverySettings {
        DiscoverySettings {
            topics: None,
            method: Method::default(),
            outliers: Outliers::default(),
            seed: 42,
            sample: 20_000,
            granularity: 1.0,
        }
    }
}

/// One topic of a model.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Topic {
    /// Never reused, stable across discoveries while the topic does not change.
    pub id: i64,
    #[serde(flatten)]
    pub names: TopicNames,
    /// Verbatims assigned to it at discovery.
    pub size: usize,
    /// Normalised mean of its members' vectors: what later verbatims are compared with.
    pub centroid: Vec<f32>,
}

/// What a discovery found: enough to assign later verbatims, no verbatim text.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct TopicModel {
    pub space: VectorSpace,
    pub method: Method,
    /// The mean vector of the verbatims the model was found in. Topics live in the space of
    /// vectors minus this mean, normalised: every embedding shares a large common direction,
    /// and removing it spreads similarities apart (it scored higher on the dev data).
    pub center: Vec<f32>,
    /// Leiden's resolution, when Leiden found the topics: a re-discovery keeps it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resolution: Option<f64>,
    /// Below this cosine similarity to its nearest centroid, a verbatim has no topic.
    pub floor: f32,
    pub topics: Vec<Topic>,
    /// The id the next new topic gets.
    pub next_id: i64,
}

/// A verbatim's topic and how close it is to it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Assignment {
    pub topic_id: i64,
    pub similarity: f32,
}

/// A discovery's model, with what it found of the verbatims it read.
pub struct Discovery {
    pub model: TopicModel,
    /// Per input verbatim, in order: its topic, or `None` for an outlier.
    pub assignments: Vec<Option<Assignment>>,
    /// Per topic of the model, in order: its most typical verbatims (input indices), best first.
    pub examples: Vec<Vec<usize>>,
}

impl TopicModel {
    /// The nearest topic of a normalised `vector` of the model's space, if within the floor.
    pub fn assign(&self, vector: &[f32]) -> Option<Assignment> {
        let (c, similarity) =
            nearest(self.topics.iter().map(|t| t.centroid.as_slice()), &center_on(vector, &self.center))?;
        (similarity >= self.floor).then_some(Assignment { topic_id: self.topics[c].id, similarity })
    }

    /// A centroid of this model as an (unnormalised) vector of the original space, so that
    /// another model can center it on its own mean.
    pub(super) fn uncentered(&self, centroid: &[f32]) -> Vec<f32> {
        centroid.iter().zip(&self.center).map(|(x, c)| x + c).collect()
    }

    /// This model with topic `from` merged into topic `into`: one centroid, the mean of the
    /// two weighted by their sizes; `into` keeps its id and names. `None` if either is missing.
    pub fn merged(&self, from: i64, into: i64) -> Option<TopicModel> {
        let position = |id| self.topics.iter().position(|t| t.id == id);
        let (kept, gone) = (position(into)?, position(from)?);
        let mut model = self.clone();
        let (a, b) = (&self.topics[kept], &self.topics[gone]);
        let (wa, wb) = (a.size.max(1) as f32, b.size.max(1) as f32);
        let mut centroid: Vec<f32> = a.centroid.iter().zip(&b.centroid).map(|(x, y)| wa * x + wb * y).collect();
        normalize(&mut centroid);
        model.topics[kept].centroid = centroid;
        model.topics[kept].size += b.size;
        model.topics.remove(gone);
        Some(model)
    }

    /// Each topic's place in `topics`, by id.
    pub fn positions(&self) -> std::collections::HashMap<i64, usize> {
        self.topics.iter().enumerate().map(|(c, t)| (t.id, c)).collect()
    }

    pub fn topic(&self, id: i64) -> Option<&Topic> {
        self.topics.iter().find(|t| t.id == id)
    }
}

/// A model to re-discover from: its topics keep their ids where they match the new ones.
pub struct Previous<'p> {
    pub model: &'p TopicModel,
    /// Per input verbatim, the topic id it had (empty when unknown: topics are then matched by
    /// their centroids alone).
    pub topic_ids: &'p [Option<i64>],
    /// Topics an analyst pinned: kept, with their previous centroid, when the discovery does
    /// not find them again (in the same vector space).
    pub pinned: &'p [i64],
}

/// Finds the topics of `inputs`, whose normalised vectors in `space` are `vectors`.
pub fn discover(
    inputs: &[TopicInput<'_>],
    vectors: &[Vec<f32>],
    space: VectorSpace,
    settings: &DiscoverySettings,
    previous: Option<Previous<'_>>,
) -> anyhow::Result<Discovery> {
    anyhow::ensure!(inputs.len() == vectors.len(), "{} inputs but {} vectors", inputs.len(), vectors.len());
    anyhow::ensure!(!vectors.is_empty(), "no verbatims to find topics in");
    let topic_ids = previous.as_ref().map_or(&[][..], |p| p.topic_ids);
    let pinned = previous.as_ref().map_or(&[][..], |p| p.pinned);
    anyhow::ensure!(
        topic_ids.is_empty() || topic_ids.len() == inputs.len(),
        "{} previous topic ids for {} inputs",
        topic_ids.len(),
        inputs.len()
    );
    let previous = previous.map(|p| p.model);
    // Centroids compare only within one vector space; ids are numbered on whatever the space.
    let same_space = previous.filter(|p| p.space == space && !p.topics.is_empty());
    // A verbatim with no vector (the lightweight mode's text of stop words only) has no topic.
    let has_vector: Vec<bool> = vectors.iter().map(|v| v.iter().any(|x| *x != 0.0)).collect();
    let candidates: Vec<usize> = (0..vectors.len()).filter(|&i| has_vector[i]).collect();
    anyhow::ensure!(!candidates.is_empty(), "no verbatim has words to find topics in");
    let sample: Vec<usize> =
        sample(candidates.len(), settings.sample, settings.seed).into_iter().map(|i| candidates[i]).collect();
    let center = mean(sample.iter().map(|&i| vectors[i].as_slice()));
    let centered: Vec<Vec<f32>> = vectors.par_iter().map(|v| center_on(v, &center)).collect();
    let sampled: Vec<&[f32]> = sample.iter().map(|&i| centered[i].as_slice()).collect();
    // The previous topics, moved into this discovery's space.
    let previous_centroids: Option<Vec<Vec<f32>>> =
        same_space.map(|p| p.topics.iter().map(|t| center_on(&p.uncentered(&t.centroid), &center)).collect());
    let warm_start = previous_centroids.clone().unwrap_or_default();
    let same_method = same_space.filter(|p| p.method == settings.method_run());
    let clustering = cluster::cluster(&sampled, settings, &warm_start, same_method.and_then(|p| p.resolution))?;
    let mut centroids = cluster::means(&sampled, &clustering.labels, clustering.clusters);
    let floor = {
        let mut own: Vec<f32> = clustering
            .labels
            .iter()
            .zip(&sampled)
            .filter_map(|(label, v)| label.map(|c| dot(&centroids[c], v)))
            .collect();
        own.sort_by(f32::total_cmp);
        own.get(((own.len() as f64) * settings.outliers.floor_quantile()) as usize).copied().unwrap_or(f32::MIN)
    };
    // The sample keeps its clusters (strict mode drops members below the floor); every other
    // verbatim goes to its nearest topic, if within the floor.
    let mut clustered: Vec<Option<usize>> = vec![None; vectors.len()];
    for (&i, label) in sample.iter().zip(&clustering.labels) {
        clustered[i] = *label;
    }
    let mut found: Vec<Option<(usize, f32)>> = centered
        .par_iter()
        .zip(&clustered)
        .zip(&has_vector)
        .map(|((v, label), has_vector)| {
            if !has_vector || centroids.is_empty() {
                return None;
            }
            let (c, similarity) = match label {
                Some(c) => (*c, dot(&centroids[*c], v)),
                None => nearest(centroids.iter().map(Vec::as_slice), v)?,
            };
            let kept = similarity >= floor || (label.is_some() && settings.outliers == Outliers::Nearest);
            kept.then_some((c, similarity))
        })
        .collect();
    let labels: Vec<Option<usize>> = found.iter().map(|f| f.map(|(c, _)| c)).collect();
    let mut ids = matching::ids(
        &centroids,
        &labels,
        &matching::PreviousTopics {
            ids: previous.map(|p| p.topics.iter().map(|t| t.id).collect()).unwrap_or_default(),
            centroids: previous_centroids.clone(),
            topic_ids,
            next_id: previous.map_or(0, |p| p.next_id),
        },
        floor,
    );
    // A pinned topic the discovery did not find again stays, with its previous centroid: the
    // verbatims it held stay in it below while they fit it, and new ones may join it.
    if let (Some(p), Some(old)) = (same_space, &previous_centroids) {
        for (topic, centroid) in p.topics.iter().zip(old) {
            if pinned.contains(&topic.id) && !ids.ids.contains(&topic.id) {
                centroids.push(centroid.clone());
                ids.ids.push(topic.id);
            }
        }
    }
    // A verbatim whose topic lives on stays in it while it still fits it (within the floor):
    // a re-discovery moves only the verbatims their topic no longer holds.
    if topic_ids.len() == found.len() {
        let index: std::collections::HashMap<i64, usize> = ids.ids.iter().enumerate().map(|(c, id)| (*id, c)).collect();
        for ((topic, old), v) in found.iter_mut().zip(topic_ids).zip(&centered) {
            if let Some(&c) = old.and_then(|id| index.get(&id)) {
                let similarity = dot(&centroids[c], v);
                if similarity >= floor {
                    *topic = Some((c, similarity));
                }
            }
        }
    }
    let named: Vec<labels::Named<'_>> = inputs
        .iter()
        .zip(&found)
        .map(|(input, topic)| labels::Named { text: input.text, language: input.language, topic: topic.map(|t| t.0) })
        .collect();
    let names = labels::name_topics(&named, centroids.len());
    let mut members: Vec<Vec<(usize, f32)>> = vec![Vec::new(); centroids.len()];
    for (i, topic) in found.iter().enumerate() {
        if let Some((c, similarity)) = topic {
            members[*c].push((i, *similarity));
        }
    }
    let topics: Vec<Topic> = (0..centroids.len())
        .map(|c| Topic {
            id: ids.ids[c],
            names: names[c].clone(),
            size: members[c].len(),
            centroid: centroids[c].clone(),
        })
        .collect();
    let examples = members
        .into_iter()
        .map(|mut m| {
            m.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
            m.into_iter().take(EXAMPLES).map(|(i, _)| i).collect()
        })
        .collect();
    let assignments =
        found.iter().map(|t| t.map(|(c, similarity)| Assignment { topic_id: ids.ids[c], similarity })).collect();
    let model = TopicModel {
        space,
        method: settings.method_run(),
        center,
        resolution: clustering.resolution,
        floor,
        topics,
        next_id: ids.next_id,
    };
    Ok(Discovery { model, assignments, examples })
}

/// The most similar of `centroids` to `vector`, and the similarity.
fn nearest<'c>(centroids: impl IntoIterator<Item = &'c [f32]>, vector: &[f32]) -> Option<(usize, f32)> {
    centroids
        .into_iter()
        .enumerate()
        .map(|(c, centroid)| (c, dot(centroid, vector)))
        .max_by(|a, b| a.1.total_cmp(&b.1).then(b.0.cmp(&a.0)))
}

/// The mean of `vectors` (the empty vector when there are none).
pub(super) fn mean<'v>(vectors: impl Iterator<Item = &'v [f32]>) -> Vec<f32> {
    let mut sum: Vec<f32> = Vec::new();
    let mut count = 0usize;
    for vector in vectors {
        if sum.is_empty() {
            sum = vec![0.0; vector.len()];
        }
        sum.iter_mut().zip(vector).for_each(|(s, x)| *s += x);
        count += 1;
    }
    sum.iter_mut().for_each(|s| *s /= count.max(1) as f32);
    sum
}

/// `vector` minus `center`, normalised: the space topics live in. The zero vector (no words)
/// stays zero: it is nowhere, not at minus the mean.
pub(super) fn center_on(vector: &[f32], center: &[f32]) -> Vec<f32> {
    if vector.iter().all(|x| *x == 0.0) {
        return vector.to_vec();
    }
    let mut centered: Vec<f32> = vector.iter().zip(center).map(|(x, c)| x - c).collect();
    normalize(&mut centered);
    centered
}

pub(super) fn dot(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// Scales `vector` to length 1 (a zero vector stays zero).
pub fn normalize(vector: &mut [f32]) {
    let norm = vector.iter().map(|x| x * x).sum::<f32>().sqrt();
    if norm > 0.0 {
        vector.iter_mut().for_each(|x| *x /= norm);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Three tight groups of eight vectors around three axes, and one vector of zeros.
    fn groups() -> Vec<Vec<f32>> {
        let mut vectors: Vec<Vec<f32>> = (0..24)
            .map(|i| {
                let mut v = vec![0.05 * ((i * 7 % 5) as f32), 0.05 * ((i * 3 % 4) as f32), 0.0, 0.0];
                v[i / 8] += 1.0;
                normalize(&mut v);
                v
            })
            .collect();
        vectors.push(vec![0.0; 4]);
        vectors
    }

    fn ids(found: &Discovery) -> Vec<Option<i64>> {
        found.assignments.iter().map(|a| a.map(|a| a.topic_id)).collect()
    }

    #[test]
    fn separated_groups_become_topics_and_ids_are_kept_or_never_reused() {
        let vectors = groups();
        let inputs = vec![TopicInput { text: "x", language: None }; vectors.len()];
        let space = |name: &str| VectorSpace::Encoder { model: name.to_string() };
        let settings = DiscoverySettings::default();
        let first = discover(&inputs, &vectors, space("a"), &settings, None).unwrap();
        let found = ids(&first);
        assert_eq!(found[24], None, "a verbatim without a vector has no topic");
        for group in found[..24].chunks(8) {
            assert!(group.iter().all(|id| id.is_some() && *id == group[0]), "{found:?}");
        }
        let distinct: std::collections::BTreeSet<_> = found[..24].iter().collect();
        assert_eq!(distinct.len(), 3, "{found:?}");

        // Again with the verbatims' topics known: the same ids on the same verbatims.
        let previous = Previous { model: &first.model, topic_ids: &found, pinned: &[] };
        assert_eq!(ids(&discover(&inputs, &vectors, space("a"), &settings, Some(previous)).unwrap()), found);
        // In another vector space, with nothing to match on: new ids, none reused.
        let previous = Previous { model: &first.model, topic_ids: &[], pinned: &[] };
        let other = discover(&inputs, &vectors, space("b"), &settings, Some(previous)).unwrap();
        assert!(ids(&other).iter().flatten().all(|id| *id >= first.model.next_id), "{:?}", ids(&other));
        // A pinned topic outlives a re-discovery that no longer finds it; another does not.
        let third = first.assignments[16].unwrap().topic_id;
        let kept: Vec<Option<i64>> = found[..16].to_vec();
        let rediscover = |pinned: &[i64]| {
            let previous = Previous { model: &first.model, topic_ids: &kept, pinned };
            discover(&inputs[..16], &vectors[..16], space("a"), &settings, Some(previous)).unwrap().model
        };
        assert!(rediscover(&[third]).topic(third).is_some());
        assert!(rediscover(&[]).topic(third).is_none());
        // Too few verbatims to cluster make one topic.
        let few = discover(&inputs[..3], &vectors[..3], space("a"), &settings, None).unwrap();
        assert_eq!(few.model.topics.len(), 1);
    }
}
