//! The `fast` tier: the project's hashed linear model, shipped inside the binary.

use std::path::Path;

use anyhow::Context;

use super::SentimentModel;
use crate::domain::Tier;
use crate::models::version_of;
use crate::nlp::encoding::Encoding;
use crate::nlp::linear::{map_batch, HashedLinear};

/// Trained by `cargo run --release --bin train-sentiment` (see training/README.md).
const SHIPPED_MODEL: &[u8] = include_bytes!("../../../models/sentiment-fast.bin");
/// The shipped model's size: 2^18 hash buckets (3 MB for three classes).
pub const FAST_BUCKETS_LOG2: u32 = 18;

pub struct FastSentiment {
    model: HashedLinear,
    version: String,
}

impl FastSentiment {
    /// The model built into the binary: always there, no download.
    pub fn shipped() -> anyhow::Result<FastSentiment> {
        Ok(FastSentiment {
            model: HashedLinear::from_bytes(SHIPPED_MODEL).context("the shipped fast sentiment model")?,
            version: version_of(&[SHIPPED_MODEL]),
        })
    }

    pub fn load(path: &Path) -> anyhow::Result<FastSentiment> {
        let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
        Ok(FastSentiment {
            model: HashedLinear::from_bytes(&bytes).with_context(|| format!("loading {}", path.display()))?,
            version: version_of(&[&bytes]),
        })
    }

    pub fn from_model(model: HashedLinear) -> FastSentiment {
        FastSentiment { version: version_of(&[&model.to_bytes()]), model }
    }

    fn predict_one(&self, text: &str) -> [f32; 3] {
        self.from_features(&self.model.hasher.features(text))
    }

    /// The features this tier reads of `text`.
    pub fn features(&self, text: &str) -> Vec<u32> {
        self.model.hasher.features(text)
    }

    pub fn from_features(&self, features: &[u32]) -> [f32; 3] {
        let p = self.model.probabilities(features);
        [p[0], p[1], p[2]]
    }

    /// [`SentimentModel::predict`] without the `Result`: this tier cannot fail.
    pub fn probabilities(&self, texts: &[&str]) -> Vec<[f32; 3]> {
        map_batch(texts, |t| self.predict_one(t))
    }
}

impl SentimentModel for FastSentiment {
    fn tier(&self) -> Tier {
        Tier::Fast
    }

    fn version(&self) -> &str {
        &self.version
    }

    /// Ten times Azure AI Language's 10: this tier runs locally at tens of thousands per second.
    fn max_documents(&self) -> usize {
        1000
    }

    fn encode(&self, texts: &[&str]) -> anyhow::Result<Vec<Encoding>> {
        Ok(map_batch(texts, |text| Encoding::Hashed(self.features(text))))
    }

    fn predict_encoded(&self, encodings: &[&Encoding]) -> anyhow::Result<Vec<[f32; 3]>> {
        map_batch(encodings, |encoding| Ok(self.from_features(encoding.hashed()?))).into_iter().collect()
    }

    fn predict(&self, texts: &[&str]) -> anyhow::Result<Vec<[f32; 3]>> {
        Ok(self.probabilities(texts))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn score(model: &FastSentiment, text: &str) -> f32 {
        crate::domain::Sentiment::from_probabilities(model.probabilities(&[text])[0]).score
    }

    /// Negation reverses polarity in the shipped model; a bag of words, where `not` and `pas`
    /// only add their own (negative) weight, would make each negated phrase *more* negative.
    #[test]
    fn negation_reverses_polarity() {
        let model = FastSentiment::shipped().unwrap();
        for (negated, plain) in [("not bad", "bad"), ("I was not disappointed", "disappointed")] {
            let (n, p) = (score(&model, negated), score(&model, plain));
            assert!(n > p + 0.4, "{negated:?} ({n}) should be well above {plain:?} ({p})");
        }
        for (negated, plain) in [("not good", "good"), ("pas content", "content")] {
            let (n, p) = (score(&model, negated), score(&model, plain));
            assert!(n < p - 0.8 && n < -0.5, "{negated:?} ({n}) should be well below {plain:?} ({p})");
        }
    }

    /// What follows `mais` / `but` weighs more: a good start does not rescue a bad ending.
    #[test]
    fn contrast_lets_the_ending_win() {
        let model = FastSentiment::shipped().unwrap();
        let turned = score(&model, "Le produit est bien mais la livraison était catastrophique");
        assert!(turned < -0.2 && turned < score(&model, "Le produit est bien") - 0.5, "{turned}");
    }
}
