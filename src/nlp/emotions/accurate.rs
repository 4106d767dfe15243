//! The `accurate` tier's emotions: a head over the embedding the accurate sentiment model's
//! encoder computes (multilingual-e5-small with the sentiment adapters), so emotions cost no
//! second pass through the encoder, blended with the fast tier's emotion model, which reads
//! the n-grams the encoding carries too.
//!
//! The head was trained with the encoder frozen, on English (GoEmotions) and French (EmoDIFT):
//! the multilingual encoder carries what the English data teaches to French. The blend is a
//! weighted sum of the two models' log-odds plus a bias per emotion, the weight and biases
//! chosen on held-out data (`train-emotions`): the n-gram model catches the words the frozen
//! encoder's sentence embedding blurs.

use std::sync::Arc;

use anyhow::{ensure, Context};
use candle_core::Device;

use super::{EmotionModel, FastEmotions};
use crate::domain::{Emotion, Tier};
use crate::engine::Head;
use crate::models::version_of;
use crate::nlp::encoding::Encoding;
use crate::nlp::linear::sigmoid;

/// The head (`emotions.layer{i}.weight|bias`) and the blend (`emotions.blend`: the fast
/// model's weight, then a bias per emotion), f32.
const SHIPPED: &[u8] = include_bytes!("../../../models/emotions-accurate-head.safetensors");
/// Names the head's tensors in its file.
pub const ACCURATE_HEAD_PREFIX: &str = "emotions";
/// Names the blend's tensor in the head's file.
pub const BLEND_TENSOR: &str = "emotions.blend";

/// How the head's and the fast model's log-odds are combined.
#[derive(Debug, Clone, PartialEq)]
pub struct Blend {
    /// The fast model's share; the head has the rest.
    pub fast_weight: f32,
    /// Added to each emotion's blended log-odds: puts its tuned threshold at 0.5.
    pub bias: Vec<f32>,
}

impl Blend {
    /// Each emotion's probability from the two models' log-odds.
    pub fn scores(&self, head: &[f32], fast: &[f32]) -> Vec<f32> {
        head.iter()
            .zip(fast)
            .zip(&self.bias)
            .map(|((h, f), b)| sigmoid((1.0 - self.fast_weight) * h + self.fast_weight * f + b))
            .collect()
    }

    /// As stored: the weight, then the biases.
    pub fn to_vec(&self) -> Vec<f32> {
        std::iter::once(self.fast_weight).chain(self.bias.iter().copied()).collect()
    }
}

pub struct AccurateEmotions {
    head: Head,
    fast: Arc<FastEmotions>,
    blend: Blend,
    version: String,
}

impl AccurateEmotions {
    /// The shipped head, blended with `fast`, for embeddings of the accurate sentiment model
    /// whose version is `sentiment_version` (the head is only good for the encoder it was
    /// trained on).
    pub fn shipped(fast: Arc<FastEmotions>, sentiment_version: &str) -> anyhow::Result<AccurateEmotions> {
        AccurateEmotions::from_bytes(SHIPPED, fast, sentiment_version).context("the shipped accurate-tier emotion head")
    }

    pub fn from_bytes(
        bytes: &[u8],
        fast: Arc<FastEmotions>,
        sentiment_version: &str,
    ) -> anyhow::Result<AccurateEmotions> {
        let tensors = candle_core::safetensors::load_buffer(bytes, &Device::Cpu)?;
        let head = Head::from_tensors(&tensors, ACCURATE_HEAD_PREFIX, Emotion::ALL.len())?;
        let blend = tensors.get(BLEND_TENSOR).with_context(|| format!("no {BLEND_TENSOR}"))?.to_vec1::<f32>()?;
        ensure!(blend.len() == 1 + Emotion::ALL.len(), "{BLEND_TENSOR} holds {} values", blend.len());
        let blend = Blend { fast_weight: blend[0], bias: blend[1..].to_vec() };
        let version = version_of(&[bytes, fast.version().as_bytes(), sentiment_version.as_bytes()]);
        Ok(AccurateEmotions { head, fast, blend, version })
    }
}

impl EmotionModel for AccurateEmotions {
    fn tier(&self) -> Tier {
        Tier::Accurate
    }

    fn version(&self) -> &str {
        &self.version
    }

    fn scores(&self, encodings: &[&Encoding]) -> anyhow::Result<Vec<Vec<f32>>> {
        if encodings.is_empty() {
            return Ok(Vec::new());
        }
        let mut inputs = Vec::with_capacity(encodings.len() * self.head.inputs());
        let mut fast = Vec::with_capacity(encodings.len());
        for encoding in encodings {
            let (embedding, features) = encoding.embedded()?;
            inputs.extend_from_slice(embedding);
            fast.push(self.fast.logits(features));
        }
        let head = self.head.logits(inputs, encodings.len())?;
        Ok(head.iter().zip(&fast).map(|(h, f)| self.blend.scores(h, f)).collect())
    }
}
