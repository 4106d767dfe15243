//! The `fast` tier's emotions: a one-vs-rest hashed linear model over the same features as the
//! fast sentiment model, shipped inside the binary.

use std::path::Path;

use anyhow::{ensure, Context};

use super::EmotionModel;
use crate::domain::{Emotion, Tier};
use crate::models::version_of;
use crate::nlp::encoding::Encoding;
use crate::nlp::linear::{map_batch, HashedLinear, Output};

/// Trained by `cargo run --release --features training --bin train-emotions`.
const SHIPPED_MODEL: &[u8] = include_bytes!("../../../models/emotions-fast.bin");
/// 2^16 buckets × 27 emotions (7 MB): the sentiment features' 2^18 buckets fold into these.
pub const FAST_EMOTION_BUCKETS_LOG2: u32 = 16;

pub struct FastEmotions {
    model: HashedLinear,
    version: String,
}

impl FastEmotions {
    /// The model built into the binary: always there, no download.
    pub fn shipped() -> anyhow::Result<FastEmotions> {
        FastEmotions::from_bytes(SHIPPED_MODEL).context("the shipped fast emotion model")
    }

    pub fn load(path: &Path) -> anyhow::Result<FastEmotions> {
        let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
        FastEmotions::from_bytes(&bytes).with_context(|| format!("loading {}", path.display()))
    }

    fn from_bytes(bytes: &[u8]) -> anyhow::Result<FastEmotions> {
        FastEmotions::from_model(HashedLinear::from_bytes(bytes)?)
    }

    pub fn from_model(model: HashedLinear) -> anyhow::Result<FastEmotions> {
        ensure!(model.output() == Output::Independent, "an emotion model scores independent classes");
        let classes = model.classes();
        ensure!(classes == Emotion::ALL.len(), "an emotion model has {} classes, not {classes}", Emotion::ALL.len());
        Ok(FastEmotions { version: version_of(&[&model.to_bytes()]), model })
    }
}

impl FastEmotions {
    /// Each emotion's log-odds for a text's features (the sentiment model's).
    pub fn logits(&self, features: &[u32]) -> Vec<f32> {
        self.model.logits(features)
    }

    /// The model file, as `train-emotions` writes it.
    pub fn to_bytes(&self) -> Vec<u8> {
        self.model.to_bytes()
    }
}

impl EmotionModel for FastEmotions {
    fn tier(&self) -> Tier {
        Tier::Fast
    }

    fn version(&self) -> &str {
        &self.version
    }

    fn scores(&self, encodings: &[&Encoding]) -> anyhow::Result<Vec<Vec<f32>>> {
        map_batch(encodings, |encoding| Ok(self.model.probabilities(encoding.hashed()?))).into_iter().collect()
    }
}
