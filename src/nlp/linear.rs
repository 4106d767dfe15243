//! A hashed linear classifier: multinomial logistic regression over [`FeatureHasher`]
//! buckets. Small (buckets × classes floats), fast (a few hundred additions per text), and
//! trained here from labeled files in seconds.
//!
//! File format (little-endian): `VHL2`, `u32` buckets_log2, `u32` classes, `f32` bias per
//! class, then `f32` weights bucket-major (`bucket * classes + class`). The magic names the
//! feature set as well as the layout: `VHL1` files were trained before the lexicon features
//! and would read today's features wrong, so they are refused rather than loaded.

use anyhow::{bail, ensure};
use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use super::features::{FeatureHasher, FLIPPED};

const MAGIC: &[u8; 4] = b"VHL2";
/// The previous feature set's magic, named in the error that refuses it.
const BEFORE_LEXICON: &[u8; 4] = b"VHL1";

pub struct HashedLinear {
    pub hasher: FeatureHasher,
    classes: usize,
    bias: Vec<f32>,
    weights: Vec<f32>,
}

/// One training example: its features, its class, and how much it counts.
#[derive(Clone)]
pub struct Example {
    pub features: Vec<u32>,
    pub label: usize,
    pub weight: f32,
}

/// Settings of [`HashedLinear::train`]; the defaults are the ones the shipped model used.
#[derive(Debug, Clone, Copy)]
pub struct TrainParams {
    pub epochs: usize,
    pub learning_rate: f32,
    pub l2: f32,
    pub seed: u64,
    /// Runs averaged into the model, each shuffling from its own seed (`seed`, `seed + 1`, …).
    pub runs: usize,
}

impl Default for TrainParams {
    fn default() -> TrainParams {
        TrainParams { epochs: 12, learning_rate: 0.2, l2: 1e-6, seed: 20261124, runs: 5 }
    }
}

impl HashedLinear {
    /// Class probabilities (softmax) for a text's features.
    pub fn probabilities(&self, features: &[u32]) -> Vec<f32> {
        let mut logits = self.bias.clone();
        let scale = feature_scale(features);
        for &feature in features {
            let (bucket, flipped) = split(feature);
            let row = &self.weights[bucket * self.classes..][..self.classes];
            for (class, logit) in logits.iter_mut().enumerate() {
                *logit += row[column(class, flipped, self.classes)] * scale;
            }
        }
        softmax(&mut logits);
        logits
    }

    /// Trains `params.runs` times with AdaGrad and averages the runs' weights. Each run ends at a
    /// different point near the optimum, depending on the order it met the examples in; their
    /// mean is closer to it (5-fold check: TweetEval macro-F1 0.518 for one run, 0.527 for the
    /// mean of 3 or 5; training/README.md). Fixed seeds: the same data gives the same model.
    pub fn train(hasher: FeatureHasher, classes: usize, examples: &mut [Example], params: TrainParams) -> HashedLinear {
        assert!(params.runs > 0, "training needs at least one run");
        let mut mean =
            HashedLinear { hasher, classes, bias: vec![0.0; classes], weights: vec![0.0; hasher.buckets() * classes] };
        let share = 1.0 / params.runs as f32;
        for run in 0..params.runs {
            let model =
                Self::train_once(hasher, classes, examples, TrainParams { seed: params.seed + run as u64, ..params });
            for (total, value) in
                mean.bias.iter_mut().chain(&mut mean.weights).zip(model.bias.iter().chain(&model.weights))
            {
                *total += value * share;
            }
        }
        mean
    }

    /// One AdaGrad run, shuffling from `params.seed` (`params.runs` is not read).
    fn train_once(
        hasher: FeatureHasher,
        classes: usize,
        examples: &mut [Example],
        params: TrainParams,
    ) -> HashedLinear {
        let mut model =
            HashedLinear { hasher, classes, bias: vec![0.0; classes], weights: vec![0.0; hasher.buckets() * classes] };
        let mut weight_sq = vec![1e-8f32; model.weights.len()];
        let mut bias_sq = vec![1e-8f32; classes];
        let mut rng = ChaCha8Rng::seed_from_u64(params.seed);
        for _ in 0..params.epochs {
            examples.shuffle(&mut rng);
            for example in examples.iter() {
                let p = model.probabilities(&example.features);
                let scale = feature_scale(&example.features);
                for class in 0..classes {
                    let target = if class == example.label { 1.0 } else { 0.0 };
                    let error = (p[class] - target) * example.weight;
                    bias_sq[class] += error * error;
                    model.bias[class] -= params.learning_rate * error / bias_sq[class].sqrt();
                    for &feature in &example.features {
                        let (bucket, flipped) = split(feature);
                        let i = bucket * classes + column(class, flipped, classes);
                        let gradient = error * scale + params.l2 * model.weights[i];
                        weight_sq[i] += gradient * gradient;
                        model.weights[i] -= params.learning_rate * gradient / weight_sq[i].sqrt();
                    }
                }
            }
        }
        model
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(12 + 4 * (self.bias.len() + self.weights.len()));
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&self.hasher.buckets_log2.to_le_bytes());
        out.extend_from_slice(&(self.classes as u32).to_le_bytes());
        for value in self.bias.iter().chain(&self.weights) {
            out.extend_from_slice(&value.to_le_bytes());
        }
        out
    }

    pub fn from_bytes(bytes: &[u8]) -> anyhow::Result<HashedLinear> {
        ensure!(
            !bytes.starts_with(BEFORE_LEXICON),
            "a hashed linear model from an older feature set (before the lexicon features): retrain it with \
             `train-sentiment`"
        );
        ensure!(bytes.len() >= 12 && &bytes[..4] == MAGIC, "not a hashed linear model (bad magic)");
        let word = |i: usize| u32::from_le_bytes(bytes[i..i + 4].try_into().expect("4 bytes"));
        let (buckets_log2, classes) = (word(4), word(8) as usize);
        if !(8..=24).contains(&buckets_log2) || !(2..=16).contains(&classes) {
            bail!("implausible model header: 2^{buckets_log2} buckets, {classes} classes");
        }
        let hasher = FeatureHasher { buckets_log2 };
        let expected = 12 + 4 * classes * (1 + hasher.buckets());
        ensure!(bytes.len() == expected, "model file is {} bytes, expected {expected}", bytes.len());
        let mut floats = bytes[12..].chunks_exact(4).map(|c| f32::from_le_bytes(c.try_into().expect("4 bytes")));
        let bias = floats.by_ref().take(classes).collect();
        let weights = floats.collect();
        Ok(HashedLinear { hasher, classes, bias, weights })
    }
}

/// A feature's bucket, and whether its weights are read polarity-shifted.
fn split(feature: u32) -> (usize, bool) {
    ((feature & !FLIPPED) as usize, feature & FLIPPED != 0)
}

/// The weight column that feeds `class`: shifted features swap the first and last classes
/// (negative and positive), leaving the middle (neutral) as it is.
fn column(class: usize, flipped: bool, classes: usize) -> usize {
    if flipped && (class == 0 || class == classes - 1) {
        classes - 1 - class
    } else {
        class
    }
}

/// Features are scaled to unit norm (as if each were 1/√n), so long texts do not shout.
fn feature_scale(features: &[u32]) -> f32 {
    1.0 / (features.len().max(1) as f32).sqrt()
}

fn softmax(logits: &mut [f32]) {
    let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let mut sum = 0.0;
    for logit in logits.iter_mut() {
        *logit = (*logit - max).exp();
        sum += *logit;
    }
    for logit in logits.iter_mut() {
        *logit /= sum;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn learns_a_separable_toy_problem_and_round_trips_through_bytes() {
        let hasher = FeatureHasher { buckets_log2: 10 };
        let texts = [("super produit", 2), ("produit horrible", 0), ("service super", 2), ("service horrible", 0)];
        let mut examples: Vec<Example> = texts
            .iter()
            .map(|(t, label)| Example { features: hasher.features(t), label: *label, weight: 1.0 })
            .collect();
        let model = HashedLinear::train(hasher, 3, &mut examples, TrainParams::default());
        let p = model.probabilities(&hasher.features("super"));
        assert!(p[2] > p[0], "{p:?}");
        let reloaded = HashedLinear::from_bytes(&model.to_bytes()).unwrap();
        assert_eq!(
            reloaded.probabilities(&hasher.features("horrible")),
            model.probabilities(&hasher.features("horrible"))
        );
        assert!(HashedLinear::from_bytes(b"nope").is_err());
        let mut older = model.to_bytes();
        older[..4].copy_from_slice(BEFORE_LEXICON);
        let refused = HashedLinear::from_bytes(&older).err().expect("a VHL1 file is refused").to_string();
        assert!(refused.contains("older feature set"), "{refused}");
    }
}
