//! The lightweight mode's vectors, for machines without the encoder: hashed TF-IDF.
//!
//! Each kept word's stem and each pair of adjacent kept words is hashed into one of
//! [`BUCKETS`] buckets; a text's vector is the sum, over its terms, of `(1 + ln tf) · idf`,
//! folded into [`DIMENSIONS`] signed dimensions (a second hash picks the dimension and the
//! sign: a random projection that keeps inner products on average), then L2-normalised.
//! The inverse document frequencies are learnt from the texts a discovery reads and saved in
//! its topic model, so later verbatims are read with the same weights.

use std::collections::HashMap;
use std::path::Path;

use anyhow::Context;
use serde::{Deserialize, Serialize};

use super::labels::{adjacent_pairs, TermReader};
use super::{TopicInput, VectorSpace};
use crate::engine::{BertEncoder, Encoder};
use crate::nlp::features::fnv1a;

/// The encoder topics read when it is installed: the multilingual one, so that French and
/// English verbatims about the same thing land together.
pub const TOPIC_ENCODER: &str = "multilingual-e5-small";
/// Texts per encoder call (progress is reported between calls).
const ENCODER_BATCH: usize = 256;

/// The vectors of `inputs` for a discovery: the encoder's embeddings when it is installed in
/// `models_dir` (the accurate mode), else hashed TF-IDF, with the weights of `in_use` (the
/// space of the model a re-discovery starts from) when it is hashed too, so that the two
/// models share a space and ids, granularity and memberships carry over; else weights fitted
/// on the inputs. `progress` hears how many texts are done, and answers whether to go on: a
/// discovery told to stop fails with [`Stopped`].
pub fn vectors_for_discovery(
    models_dir: &Path,
    inputs: &[TopicInput<'_>],
    in_use: Option<&VectorSpace>,
    progress: &mut dyn FnMut(usize) -> bool,
) -> anyhow::Result<(VectorSpace, Vec<Vec<f32>>)> {
    let texts: Vec<(&str, Option<&str>)> = inputs.iter().map(|i| (i.text, i.language)).collect();
    match topic_encoder(models_dir)? {
        Some(encoder) => {
            let mut vectors = Vec::with_capacity(texts.len());
            for chunk in texts.chunks(ENCODER_BATCH) {
                let batch: Vec<&str> = chunk.iter().map(|(text, _)| *text).collect();
                vectors.extend(encoder.encode(&batch)?);
                if !progress(vectors.len()) {
                    return Err(Stopped.into());
                }
            }
            Ok((VectorSpace::Encoder { model: TOPIC_ENCODER.to_string() }, vectors))
        }
        None => {
            let model = match in_use {
                Some(VectorSpace::Hashed(weights)) => weights.clone(),
                _ => HashedTfIdf::fit(&texts),
            };
            let vectors = model.vectors(&texts);
            progress(vectors.len());
            Ok((VectorSpace::Hashed(model), vectors))
        }
    }
}

/// The encoder topics read, when it is installed in `models_dir`.
pub fn topic_encoder(models_dir: &Path) -> anyhow::Result<Option<BertEncoder>> {
    crate::models::installed(models_dir, TOPIC_ENCODER)
        .map(|folder| BertEncoder::load(&folder).with_context(|| format!("loading {TOPIC_ENCODER}")))
        .transpose()
}

/// A discovery or an assignment asked to stop before its end.
#[derive(Debug, thiserror::Error)]
#[error("stopped before the end")]
pub struct Stopped;

/// Buckets terms hash into for their document frequencies.
const BUCKETS: usize = 1 << 16;
/// Length of a lightweight vector.
pub const DIMENSIONS: usize = 512;

/// Document frequencies turned into weights: the lightweight "encoder" of a topic model.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct HashedTfIdf {
    /// `ln((1 + n) / (1 + df)) + 1` per bucket, as scikit-learn's smoothed idf.
    idf: Vec<f32>,
}

/// A text reduced to its hashed terms and their counts.
type Bag = HashMap<u64, f32>;

impl HashedTfIdf {
    /// Learns the weights from `texts` (with their languages, which pick the stemmer).
    pub fn fit(texts: &[(&str, Option<&str>)]) -> HashedTfIdf {
        let bags = bags(texts);
        let mut df = vec![0u32; BUCKETS];
        for bag in &bags {
            for hash in bag.keys() {
                df[(*hash as usize) % BUCKETS] += 1;
            }
        }
        let n = texts.len() as f32;
        HashedTfIdf { idf: df.iter().map(|&d| ((1.0 + n) / (1.0 + d as f32)).ln() + 1.0).collect() }
    }

    /// One normalised vector per text; a text with no kept word gets the zero vector.
    pub fn vectors(&self, texts: &[(&str, Option<&str>)]) -> Vec<Vec<f32>> {
        bags(texts)
            .into_iter()
            .map(|bag| {
                let mut vector = vec![0f32; DIMENSIONS];
                for (hash, count) in bag {
                    let weight = (1.0 + count.ln()) * self.idf[(hash as usize) % BUCKETS];
                    let spread = hash >> 32;
                    let sign = if spread & 1 == 0 { 1.0 } else { -1.0 };
                    vector[((spread >> 1) as usize) % DIMENSIONS] += sign * weight;
                }
                super::normalize(&mut vector);
                vector
            })
            .collect()
    }
}

fn bags(texts: &[(&str, Option<&str>)]) -> Vec<Bag> {
    use rayon::prelude::*;
    texts
        .par_chunks(512)
        .flat_map_iter(|chunk| {
            let mut reader = TermReader::new();
            chunk
                .iter()
                .map(|(text, language)| {
                    let words = reader.words(text, *language);
                    let mut bag = Bag::new();
                    for (_, _, stem) in &words {
                        *bag.entry(fnv1a([stem.as_bytes()])).or_default() += 1.0;
                    }
                    for (first, second) in adjacent_pairs(&words) {
                        *bag.entry(fnv1a([format!("{} {}", first.2, second.2).as_bytes()])).or_default() += 1.0;
                    }
                    bag
                })
                .collect::<Vec<_>>()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cosine(a: &[f32], b: &[f32]) -> f32 {
        a.iter().zip(b).map(|(x, y)| x * y).sum()
    }

    #[test]
    fn texts_sharing_rare_words_are_closer_than_texts_sharing_none() {
        let texts = [
            ("my card has not arrived yet", Some("en")),
            ("still waiting for my card to arrive", Some("en")),
            ("how do I reset my password", Some("en")),
            ("the refund is missing", Some("en")),
        ];
        let model = HashedTfIdf::fit(&texts);
        let v = model.vectors(&texts);
        assert!(
            cosine(&v[0], &v[1]) > cosine(&v[0], &v[2]) + 0.2,
            "{} vs {}",
            cosine(&v[0], &v[1]),
            cosine(&v[0], &v[2])
        );
        assert!((cosine(&v[3], &v[3]) - 1.0).abs() < 1e-5);
        assert!(model.vectors(&[("the and of", Some("en"))])[0].iter().all(|x| *x == 0.0));
    }
}
