//! The `fast` tier: the project's hashed linear model, shipped inside the binary.

use std::path::Path;

use anyhow::Context;
use rayon::prelude::*;

use super::SentimentModel;
use crate::nlp::linear::HashedLinear;

/// Trained by `cargo run --release --bin train-sentiment` (see training/README.md).
const SHIPPED_MODEL: &[u8] = include_bytes!("../../../models/sentiment-fast.bin");
/// Below this many texts, spreading over threads costs more than it saves.
const PARALLEL_FROM: usize = 64;

pub struct FastSentiment {
    model: HashedLinear,
}

impl FastSentiment {
    /// The model built into the binary: always there, no download.
    pub fn shipped() -> anyhow::Result<FastSentiment> {
        Ok(FastSentiment {
            model: HashedLinear::from_bytes(SHIPPED_MODEL).context("the shipped fast sentiment model")?,
        })
    }

    pub fn load(path: &Path) -> anyhow::Result<FastSentiment> {
        let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
        Ok(FastSentiment {
            model: HashedLinear::from_bytes(&bytes).with_context(|| format!("loading {}", path.display()))?,
        })
    }

    pub fn from_model(model: HashedLinear) -> FastSentiment {
        FastSentiment { model }
    }

    fn predict_one(&self, text: &str) -> [f32; 3] {
        let p = self.model.probabilities(&self.model.hasher.features(text));
        [p[0], p[1], p[2]]
    }
}

impl SentimentModel for FastSentiment {
    fn name(&self) -> &'static str {
        "fast"
    }

    fn predict(&self, texts: &[&str]) -> Vec<[f32; 3]> {
        if texts.len() < PARALLEL_FROM {
            texts.iter().map(|t| self.predict_one(t)).collect()
        } else {
            texts.par_iter().map(|t| self.predict_one(t)).collect()
        }
    }
}
