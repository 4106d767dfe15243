//! The emotions a document expresses, multi-label, named as GoEmotions names them
//! ([`crate::domain::Emotion`]), one engine per tier behind [`EmotionModel`].
//!
//! An emotion model reads the encodings its tier's sentiment model made of the same texts
//! ([`crate::nlp::encoding`]): the `fast` tier's hashed n-grams, the `accurate` tier's
//! embedding. Both are trained by `train-emotions` (training/README.md) on GoEmotions (English
//! Reddit comments) and EmoDIFT (French tweets); each model's bias puts its tuned threshold
//! for each emotion at [`EmotionScore::PRESENT`].

mod accurate;
mod fast;

pub use accurate::{AccurateEmotions, Blend, ACCURATE_HEAD_PREFIX, BLEND_TENSOR};
pub use fast::{FastEmotions, FAST_EMOTION_BUCKETS_LOG2};

use crate::domain::{EmotionScore, Tier};
use crate::nlp::encoding::Encoding;

/// Encodings in, a score per emotion out.
pub trait EmotionModel: Send + Sync {
    fn tier(&self) -> Tier;
    /// Names the weights (a short hash).
    fn version(&self) -> &str;
    /// Each encoding's scores, in [`crate::domain::Emotion::ALL`] order.
    fn scores(&self, encodings: &[&Encoding]) -> anyhow::Result<Vec<Vec<f32>>>;
    /// The emotions each encoded text expresses, strongest first (empty: neutral).
    fn emotions(&self, encodings: &[&Encoding]) -> anyhow::Result<Vec<Vec<EmotionScore>>> {
        Ok(self.scores(encodings)?.iter().map(|s| EmotionScore::present(s)).collect())
    }
}
