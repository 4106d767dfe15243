//! A hashed linear classifier: logistic regression over [`FeatureHasher`] buckets, either
//! multinomial (one class per text: sentiment) or one-vs-rest (any number of classes per text:
//! emotions). Small (buckets × classes floats), fast (a few hundred additions per text), and
//! trained here from labeled files in seconds.
//!
//! File format (little-endian): `VHL2` (exclusive classes) or `VHI2` (independent classes),
//! `u32` buckets_log2, `u32` classes, `f32` bias per class, then `f32` weights bucket-major
//! (`bucket * classes + class`). The magic names the feature set as well as the layout: `VHL1`
//! files were trained before the lexicon features and would read today's features wrong, so
//! they are refused rather than loaded.

use anyhow::{bail, ensure};
use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;

use super::features::{FeatureHasher, FLIPPED};

const MAGIC: &[u8; 4] = b"VHL2";
const MAGIC_INDEPENDENT: &[u8; 4] = b"VHI2";
/// Moves a negated word to another row of an independent-classes model (any fixed bit
/// pattern does: XOR is one-to-one, so negated words never share a row with each other more
/// than plain ones do).
const NEGATED_ROW: usize = 0x5bd1_e995;
/// The previous feature set's magic, named in the error that refuses it.
const BEFORE_LEXICON: &[u8; 4] = b"VHL1";

/// How the classes relate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Output {
    /// Exactly one class per text, probabilities summing to one (softmax). Features read
    /// polarity-shifted swap the first and last classes (negative and positive).
    Exclusive,
    /// Each class present or not on its own (a sigmoid per class); no polarity shift.
    Independent,
}

pub struct HashedLinear {
    pub hasher: FeatureHasher,
    output: Output,
    classes: usize,
    bias: Vec<f32>,
    weights: Vec<f32>,
}

/// One training example: its features, what it should predict, and how much it counts.
#[derive(Clone)]
pub struct Example {
    pub features: Vec<u32>,
    pub target: Target,
    pub weight: f32,
}

/// What an example should predict.
#[derive(Debug, Clone, PartialEq)]
pub enum Target {
    /// Its one class ([`Output::Exclusive`]).
    Class(usize),
    /// Each class's probability of being present, 0 or 1 when labeled by people, in between
    /// when labeled by another model ([`Output::Independent`]).
    Present(Vec<f32>),
}

impl Target {
    fn of(&self, class: usize) -> f32 {
        match self {
            Target::Class(c) => (*c == class) as u8 as f32,
            Target::Present(p) => p[class],
        }
    }
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
    /// Class probabilities for a text's features: softmax over exclusive classes, a sigmoid
    /// each for independent ones. Features hashed into more buckets than the model has are
    /// folded into its own (a bucket is the hash modulo a power of two), so models of several
    /// sizes read the same features.
    pub fn probabilities(&self, features: &[u32]) -> Vec<f32> {
        let mut logits = self.logits(features);
        match self.output {
            Output::Exclusive => softmax(&mut logits),
            Output::Independent => logits.iter_mut().for_each(|l| *l = sigmoid(*l)),
        }
        logits
    }

    /// The scores before softmax or sigmoid.
    pub fn logits(&self, features: &[u32]) -> Vec<f32> {
        let mut logits = self.bias.clone();
        let scale = feature_scale(features);
        for &feature in features {
            let (row, flipped) = self.row_of(feature);
            let row = &self.weights[row * self.classes..][..self.classes];
            for (class, logit) in logits.iter_mut().enumerate() {
                *logit += row[column(class, flipped, self.classes)] * scale;
            }
        }
        logits
    }

    pub fn output(&self) -> Output {
        self.output
    }

    pub fn classes(&self) -> usize {
        self.classes
    }

    /// The weight row a feature reads, and whether it reads it polarity-shifted. Exclusive
    /// classes shift a negated word's weights (negative ↔ positive); independent ones have no
    /// opposite to shift to, so a negated word reads a row of its own: "I don't love it" must
    /// not count as love (it did when negated words shared their plain row, and adding a
    /// negation row to the plain one did not cancel it; training/README.md). Features hashed
    /// into more buckets than the model has fold into its own.
    fn row_of(&self, feature: u32) -> (usize, bool) {
        let (bucket, flipped) = split(feature);
        let mask = self.hasher.buckets() - 1;
        match (self.output, flipped) {
            (Output::Exclusive, _) | (Output::Independent, false) => (bucket & mask, flipped),
            (Output::Independent, true) => ((bucket ^ NEGATED_ROW) & mask, false),
        }
    }

    /// Moves each class's decision threshold: the probability `thresholds[class]` becomes
    /// 0.5, by shifting the class's bias by the threshold's log-odds. For independent classes,
    /// whose thresholds are tuned apart, so that "present" reads the same for each.
    pub fn center_thresholds(&mut self, thresholds: &[f32]) {
        assert_eq!(self.output, Output::Independent, "only independent classes have thresholds of their own");
        for (bias, &t) in self.bias.iter_mut().zip(thresholds) {
            *bias -= log_odds(t);
        }
    }

    /// Trains `params.runs` times with AdaGrad and averages the runs' weights. Each run ends at a
    /// different point near the optimum, depending on the order it met the examples in; their
    /// mean is closer to it (5-fold check: TweetEval macro-F1 0.518 for one run, 0.527 for the
    /// mean of 3 or 5; training/README.md). Fixed seeds: the same data gives the same model.
    pub fn train(
        hasher: FeatureHasher,
        output: Output,
        classes: usize,
        examples: &mut [Example],
        params: TrainParams,
    ) -> HashedLinear {
        assert!(params.runs > 0, "training needs at least one run");
        let fits = |e: &Example| match (&e.target, output) {
            (Target::Class(c), Output::Exclusive) => *c < classes,
            (Target::Present(p), Output::Independent) => p.len() == classes,
            _ => false,
        };
        assert!(examples.iter().all(fits), "every target must be one of {classes} classes ({output:?})");
        let mut mean = HashedLinear::zeros(hasher, output, classes);
        let share = 1.0 / params.runs as f32;
        for run in 0..params.runs {
            let model = Self::train_once(
                hasher,
                output,
                classes,
                examples,
                TrainParams { seed: params.seed + run as u64, ..params },
            );
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
        output: Output,
        classes: usize,
        examples: &mut [Example],
        params: TrainParams,
    ) -> HashedLinear {
        let mut model = HashedLinear::zeros(hasher, output, classes);
        let mut weight_sq = vec![1e-8f32; model.weights.len()];
        let mut bias_sq = vec![1e-8f32; classes];
        let mut rng = ChaCha8Rng::seed_from_u64(params.seed);
        for _ in 0..params.epochs {
            examples.shuffle(&mut rng);
            for example in examples.iter() {
                let p = model.probabilities(&example.features);
                let scale = feature_scale(&example.features);
                for class in 0..classes {
                    let error = (p[class] - example.target.of(class)) * example.weight;
                    bias_sq[class] += error * error;
                    model.bias[class] -= params.learning_rate * error / bias_sq[class].sqrt();
                    for &feature in &example.features {
                        let (row, flipped) = model.row_of(feature);
                        let i = row * classes + column(class, flipped, classes);
                        let gradient = error * scale + params.l2 * model.weights[i];
                        weight_sq[i] += gradient * gradient;
                        model.weights[i] -= params.learning_rate * gradient / weight_sq[i].sqrt();
                    }
                }
            }
        }
        model
    }

    fn zeros(hasher: FeatureHasher, output: Output, classes: usize) -> HashedLinear {
        HashedLinear {
            hasher,
            output,
            classes,
            bias: vec![0.0; classes],
            weights: vec![0.0; hasher.buckets() * classes],
        }
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(12 + 4 * (self.bias.len() + self.weights.len()));
        out.extend_from_slice(match self.output {
            Output::Exclusive => MAGIC,
            Output::Independent => MAGIC_INDEPENDENT,
        });
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
        ensure!(bytes.len() >= 12, "not a hashed linear model (too short)");
        let output = match &bytes[..4] {
            m if m == MAGIC => Output::Exclusive,
            m if m == MAGIC_INDEPENDENT => Output::Independent,
            _ => bail!("not a hashed linear model (bad magic)"),
        };
        let word = |i: usize| u32::from_le_bytes(bytes[i..i + 4].try_into().expect("4 bytes"));
        let (buckets_log2, classes) = (word(4), word(8) as usize);
        if !(8..=24).contains(&buckets_log2) || !(2..=64).contains(&classes) {
            bail!("implausible model header: 2^{buckets_log2} buckets, {classes} classes");
        }
        let hasher = FeatureHasher { buckets_log2 };
        let expected = 12 + 4 * classes * (1 + hasher.buckets());
        ensure!(bytes.len() == expected, "model file is {} bytes, expected {expected}", bytes.len());
        let mut floats = bytes[12..].chunks_exact(4).map(|c| f32::from_le_bytes(c.try_into().expect("4 bytes")));
        let bias = floats.by_ref().take(classes).collect();
        let weights = floats.collect();
        Ok(HashedLinear { hasher, output, classes, bias, weights })
    }
}

/// Below this many texts, spreading a hashed model's work over threads costs more than it saves.
const PARALLEL_FROM: usize = 64;

/// `f` of each item, in order: on this thread for a few items, on every core for many (a
/// hashed model reads a text in microseconds, so a small batch is not worth the threads).
pub fn map_batch<T: Sync, U: Send>(items: &[T], f: impl Fn(&T) -> U + Sync + Send) -> Vec<U> {
    if items.len() < PARALLEL_FROM {
        items.iter().map(f).collect()
    } else {
        items.par_iter().map(f).collect()
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

pub fn sigmoid(logit: f32) -> f32 {
    1.0 / (1.0 + (-logit).exp())
}

/// The log-odds of `p`: what [`sigmoid`] turns back into `p`.
pub fn log_odds(p: f32) -> f32 {
    (p / (1.0 - p)).ln()
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
            .map(|(t, label)| Example { features: hasher.features(t), target: Target::Class(*label), weight: 1.0 })
            .collect();
        let model = HashedLinear::train(hasher, Output::Exclusive, 3, &mut examples, TrainParams::default());
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

    #[test]
    fn independent_classes_learn_several_labels_and_centre_their_thresholds() {
        let hasher = FeatureHasher { buckets_log2: 10 };
        let texts =
            [("angry and sad", [1.0, 1.0]), ("so angry", [1.0, 0.0]), ("so sad", [0.0, 1.0]), ("fine", [0.0, 0.0])];
        let mut examples: Vec<Example> = texts
            .iter()
            .map(|(t, present)| Example {
                features: hasher.features(t),
                target: Target::Present(present.to_vec()),
                weight: 1.0,
            })
            .collect();
        let mut model = HashedLinear::train(hasher, Output::Independent, 2, &mut examples, TrainParams::default());
        let both = model.probabilities(&hasher.features("angry and sad"));
        assert!(both[0] > 0.5 && both[1] > 0.5, "{both:?}");
        let reloaded = HashedLinear::from_bytes(&model.to_bytes()).unwrap();
        assert_eq!(reloaded.output(), Output::Independent);
        assert_eq!(reloaded.probabilities(&hasher.features("fine")), model.probabilities(&hasher.features("fine")));
        let angry = model.probabilities(&hasher.features("so angry"))[0];
        model.center_thresholds(&[angry, 0.5]);
        let centred = model.probabilities(&hasher.features("so angry"))[0];
        assert!((centred - 0.5).abs() < 1e-4, "{centred}");
    }
}
