//! The `accurate` tier: multilingual-e5-small embeddings (installed, see [`crate::models`])
//! read by a small head the project trains (`cargo run --release --bin train-accurate`) and
//! ships inside the binary.
//!
//! The head sees the encoder's embedding and the `fast` tier's log-probabilities: the encoder
//! brings meaning across phrasing and languages, the n-gram model brings the negation and
//! contrast handling it was built for; measured together they beat either alone
//! (eval/RESULTS.md).

use std::path::Path;

use anyhow::{ensure, Context};
use candle_core::{DType, Device, Module, Tensor};
use candle_nn::{Linear, VarBuilder};

use super::{FastSentiment, SentimentModel};
use crate::engine::{BertEncoder, Encoder};

/// The encoder the shipped head was trained on.
pub const ENCODER: &str = "multilingual-e5-small";
const SHIPPED_HEAD: &[u8] = include_bytes!("../../../models/sentiment-accurate-head.safetensors");

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
    /// Reads `layer{i}.weight` / `layer{i}.bias` tensors (f32) from safetensors bytes.
    pub fn from_safetensors(bytes: &[u8]) -> anyhow::Result<Head> {
        let vb = VarBuilder::from_buffered_safetensors(bytes.to_vec(), DType::F32, &Device::Cpu)?;
        let mut layers = Vec::new();
        let mut shapes = Vec::new();
        while vb.contains_tensor(&format!("layer{}.weight", layers.len())) {
            let prefix = format!("layer{}", layers.len());
            let weight = vb.get_unchecked_dtype(&format!("{prefix}.weight"), DType::F32)?;
            let bias = vb.get_unchecked_dtype(&format!("{prefix}.bias"), DType::F32)?;
            shapes.push(weight.dims2()?);
            layers.push(Linear::new(weight, Some(bias)));
        }
        ensure!(!layers.is_empty(), "no layer0.weight in the head file");
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
    encoder: BertEncoder,
    fast: FastSentiment,
    head: Head,
}

impl AccurateSentiment {
    /// Loads the installed encoder from `models_dir` with the shipped head.
    pub fn load(models_dir: &Path) -> anyhow::Result<AccurateSentiment> {
        let folder = crate::models::installed(models_dir, ENCODER).with_context(|| {
            format!("{ENCODER} is not installed in {}; run `verbatim models install {ENCODER}`", models_dir.display())
        })?;
        let encoder = BertEncoder::load(&folder)?;
        let head = Head::from_safetensors(SHIPPED_HEAD).context("the shipped accurate-tier head")?;
        ensure!(
            head.inputs() == encoder.dimension() + 3,
            "the head expects {} inputs, the encoder gives {} (+3)",
            head.inputs(),
            encoder.dimension()
        );
        Ok(AccurateSentiment { encoder, fast: FastSentiment::shipped()?, head })
    }
}

impl SentimentModel for AccurateSentiment {
    fn name(&self) -> &'static str {
        "accurate"
    }

    /// 100 documents of 5,120 characters, with their sentences, took 2 min 52 s on two CPU
    /// cores; more would outlast any client's timeout.
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
