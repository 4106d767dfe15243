//! The `accurate` tier: multilingual-e5-small (installed, see [`crate::models`]) fine-tuned
//! for sentiment by the project. What ships inside the binary is one file: low-rank adapters
//! merged into the installed encoder's weights at load, and the head that reads its embedding
//! (`training/finetune_accurate.py`; training/README.md).
//!
//! The head sees the encoder's embedding and the `fast` tier's log-probabilities: the encoder
//! brings meaning across phrasing and languages, the n-gram model brings the negation and
//! contrast handling it was built for; measured together they beat either alone
//! (eval/RESULTS.md).

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use anyhow::{ensure, Context};
use candle_core::{Device, Module, Tensor};
use candle_nn::Linear;

use super::{version_of, FastSentiment, SentimentModel};
use crate::domain::Tier;
use crate::engine::{BertEncoder, Encoder, EncoderQueue, LowRankAdapters, QueueSettings};

/// The encoder the shipped adapters were trained on.
pub const ENCODER: &str = "multilingual-e5-small";
/// Adapters (`encoder.….lora_a|b`) and head (`head.layer{i}.weight|bias`), f32.
const SHIPPED: &[u8] = include_bytes!("../../../models/sentiment-accurate-adapter.safetensors");

/// Input of the head: the embedding, then the fast tier's three log-probabilities.
pub fn head_input(embedding: &[f32], fast: [f32; 3]) -> Vec<f32> {
    embedding.iter().copied().chain(fast.iter().map(|p| p.max(1e-6).ln())).collect()
}

/// A multi-layer perceptron: ReLU between layers, logits out. Small enough to run on the CPU
/// whatever device the encoder uses.
pub struct Head {
    layers: Vec<Linear>,
    inputs: usize,
}

impl Head {
    /// Reads `{prefix}.layer{i}.weight` / `.bias` for i = 0, 1, … out of `tensors`.
    pub fn from_tensors(tensors: &HashMap<String, Tensor>, prefix: &str) -> anyhow::Result<Head> {
        let mut layers = Vec::new();
        let mut shapes = Vec::new();
        while let Some(weight) = tensors.get(&format!("{prefix}.layer{}.weight", layers.len())) {
            let bias_name = format!("{prefix}.layer{}.bias", layers.len());
            let bias = tensors.get(&bias_name).with_context(|| format!("no {bias_name}"))?;
            shapes.push(weight.dims2()?);
            layers.push(Linear::new(weight.clone(), Some(bias.clone())));
        }
        ensure!(!layers.is_empty(), "no {prefix}.layer0.weight");
        ensure!(shapes.windows(2).all(|w| w[0].0 == w[1].1), "head layers do not chain: {shapes:?}");
        ensure!(shapes.last().unwrap().0 == 3, "the head must end in 3 classes, not {}", shapes.last().unwrap().0);
        Ok(Head { layers, inputs: shapes[0].1 })
    }

    pub fn inputs(&self) -> usize {
        self.inputs
    }

    /// Class probabilities for each row of `inputs` (rows × [`Head::inputs`]).
    pub fn probabilities(&self, inputs: Vec<f32>, rows: usize) -> anyhow::Result<Vec<[f32; 3]>> {
        let mut x = Tensor::from_vec(inputs, (rows, self.inputs), &Device::Cpu)?;
        for (i, layer) in self.layers.iter().enumerate() {
            x = layer.forward(&x)?;
            if i + 1 < self.layers.len() {
                x = x.relu()?;
            }
        }
        let p = candle_nn::ops::softmax_last_dim(&x)?.to_vec2::<f32>()?;
        Ok(p.into_iter().map(|r| [r[0], r[1], r[2]]).collect())
    }
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
        let head = Head::from_tensors(&shipped, "head").context("the shipped accurate-tier head")?;
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

    fn predict(&self, texts: &[&str]) -> anyhow::Result<Vec<[f32; 3]>> {
        if texts.is_empty() {
            return Ok(Vec::new());
        }
        let embeddings = self.encoder.encode(texts)?;
        let fast = self.fast.probabilities(texts);
        let inputs: Vec<f32> = embeddings.iter().zip(fast).flat_map(|(e, f)| head_input(e, f)).collect();
        self.head.probabilities(inputs, texts.len())
    }
}
