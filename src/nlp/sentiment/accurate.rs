//! The `accurate` tier: multilingual-e5-small (installed, see [`crate::models`]) fine-tuned
//! for sentiment by the project. What ships inside the binary is one file: low-rank adapters
//! merged into the installed encoder's weights at load, and the head that reads its embedding
//! (`training/finetune_accurate.py`; training/README.md).
//!
//! The head sees the encoder's embedding and the `fast` tier's log-probabilities: the encoder
//! brings meaning across phrasing and languages, the n-gram model brings the negation and
//! contrast handling it was built for; measured together they beat either alone
//! (eval/RESULTS.md).

use std::path::Path;
use std::sync::Arc;

use anyhow::{ensure, Context};
use candle_core::Device;
use rayon::prelude::*;

use super::{FastSentiment, SentimentModel};
use crate::domain::Tier;
use crate::engine::{BertEncoder, Encoder, EncoderQueue, Head, LowRankAdapters, QueueSettings};
use crate::models::version_of;
use crate::nlp::encoding::Encoding;

/// The encoder the shipped adapters were trained on.
pub const ENCODER: &str = "multilingual-e5-small";
/// Adapters (`encoder.….lora_a|b`) and head (`head.layer{i}.weight|bias`), f32.
const SHIPPED: &[u8] = include_bytes!("../../../models/sentiment-accurate-adapter.safetensors");

/// Input of the head: the embedding, then the fast tier's three log-probabilities.
pub fn head_input(embedding: &[f32], fast: [f32; 3]) -> Vec<f32> {
    embedding.iter().copied().chain(fast.iter().map(|p| p.max(1e-6).ln())).collect()
}

pub struct AccurateSentiment {
    /// Shared by every caller: concurrent requests fill the same forward passes.
    encoder: EncoderQueue,
    fast: Arc<FastSentiment>,
    head: Head,
    version: String,
}

impl AccurateSentiment {
    /// Loads the installed encoder from `models_dir` with the shipped adapters and head;
    /// `fast` is the tier whose probabilities the head reads.
    pub fn load(models_dir: &Path, fast: Arc<FastSentiment>) -> anyhow::Result<AccurateSentiment> {
        let folder = crate::models::installed(models_dir, ENCODER).with_context(|| {
            format!("{ENCODER} is not installed in {}; run `verbatim models install {ENCODER}`", models_dir.display())
        })?;
        let shipped = candle_core::safetensors::load_buffer(SHIPPED, &Device::Cpu)
            .context("reading the shipped accurate-tier adapters")?;
        let head = Head::from_tensors(&shipped, "head", 3).context("the shipped accurate-tier head")?;
        let adapters = LowRankAdapters::from_tensors(&shipped).map_err(anyhow::Error::msg)?;
        let encoder = BertEncoder::load_adapted(&folder, adapters)?;
        ensure!(
            head.inputs() == encoder.dimension() + 3,
            "the head expects {} inputs, the encoder gives {} (+3)",
            head.inputs(),
            encoder.dimension()
        );
        let encoder =
            EncoderQueue::new(Box::new(encoder), QueueSettings::default()).context("starting the encoder queue")?;
        // The encoder's weights are pinned by the catalogue; the version changes with them, the
        // shipped adapters and head, or the fast tier the head reads.
        let pinned =
            crate::models::catalog().model.iter().find(|m| m.name == ENCODER).map(|m| format!("{:?}", m.files));
        let version = version_of(&[SHIPPED, pinned.unwrap_or_default().as_bytes(), fast.version().as_bytes()]);
        Ok(AccurateSentiment { encoder, fast, head, version })
    }
}

impl SentimentModel for AccurateSentiment {
    fn tier(&self) -> Tier {
        Tier::Accurate
    }

    fn version(&self) -> &str {
        &self.version
    }

    /// 100 of the longest documents a client is likely to send (5,120 characters, with their
    /// sentences) take minutes on two CPU cores (benches/RESULTS.md): more would outlast any
    /// client's timeout.
    fn max_documents(&self) -> usize {
        100
    }

    fn encode(&self, texts: &[&str]) -> anyhow::Result<Vec<Encoding>> {
        if texts.is_empty() {
            return Ok(Vec::new());
        }
        let embeddings = self.encoder.encode(texts)?;
        let features: Vec<Vec<u32>> = texts.par_iter().map(|t| self.fast.features(t)).collect();
        Ok(embeddings
            .into_iter()
            .zip(features)
            .map(|(embedding, features)| Encoding::Embedded { embedding, features })
            .collect())
    }

    fn predict_encoded(&self, encodings: &[&Encoding]) -> anyhow::Result<Vec<[f32; 3]>> {
        if encodings.is_empty() {
            return Ok(Vec::new());
        }
        let mut inputs = Vec::with_capacity(encodings.len() * self.head.inputs());
        for encoding in encodings {
            let (embedding, features) = encoding.embedded()?;
            inputs.extend(head_input(embedding, self.fast.from_features(features)));
        }
        let rows = self.head.softmax(inputs, encodings.len())?;
        Ok(rows.into_iter().map(|r| [r[0], r[1], r[2]]).collect())
    }
}
