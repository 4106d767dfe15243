//! Training and evaluation support, built only with the `training` cargo feature: readers for
//! the labeled data sets (their file names and label mappings) have no place in the service.
//! The binaries in `training/` and `eval/` and the `analyze` benchmark use it.

pub mod absa;
pub mod corpora;
pub mod emotion_sets;
pub mod topic_sets;

use rayon::prelude::*;

use crate::nlp::features::FeatureHasher;
use crate::nlp::linear::{Example, Target};
use corpora::{balanced_weights, Labeled};

/// The fast tier's training examples, one recipe for `train-sentiment` and for the accurate
/// tier's out-of-fold fast models, so the two cannot drift apart: the items the tier trains on
/// ([`Labeled::trains_fast_tier`]), weighted by [`balanced_weights`] among themselves, each
/// paired with its index in `items`.
pub fn fast_tier_examples(items: &[Labeled], hasher: FeatureHasher) -> Vec<(usize, Example)> {
    let rows: Vec<usize> = (0..items.len()).filter(|&i| items[i].trains_fast_tier()).collect();
    let kept: Vec<Labeled> = rows.iter().map(|&i| items[i].clone()).collect();
    let weights = balanced_weights(&kept);
    rows.into_par_iter()
        .zip(weights)
        .map(|(i, weight)| {
            (
                i,
                Example {
                    features: hasher.features(&items[i].text),
                    target: Target::Class(items[i].label.index()),
                    weight,
                },
            )
        })
        .collect()
}
