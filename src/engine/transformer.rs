//! A BERT encoder forward pass on candle tensors, written for inference throughput.
//!
//! It reads the standard Hugging Face BERT weights (the names candle-transformers and
//! transformers use) and differs from a textbook forward only in how it computes:
//! - query, key and value are one matrix product (their weights concatenated at load time);
//! - the attention scale 1/sqrt(head size) is folded into the query weights at load time;
//! - activations stay 2-D (`tokens × hidden`) between layers, so every dense layer is a single
//!   large matrix product;
//! - on the CPU, GELU, self-attention and each residual sum with its layer norm run as single
//!   parallel, vectorised passes (`kernels`): in candle these are several passes of copies,
//!   small products and scalar `exp` calls, the sums on a thread pool of candle's own whose
//!   threads spin against rayon's (the profiles are in benches/RESULTS.md);
//! - on CPUs with AVX-512 VNNI the dense layers run in 8-bit integers ([`Int8Dense`]), unless
//!   `VERBATIM_ENCODER_INT8=off`: 2.5× f32 with the accurate tier's labels unchanged on
//!   99.67 % of customer texts (benches/RESULTS.md).

use candle_core::{CpuStorage, CustomOp1, Layout, Module, Shape, Tensor};
use candle_nn::{Linear, VarBuilder};
use serde::Deserialize;

use super::int8::Int8Dense;
use super::kernels::{contiguous_f32, gelu, AddNorm, Attention};

/// The fields of a BERT `config.json` the forward pass needs.
#[derive(Debug, Clone, Deserialize)]
pub struct BertConfig {
    pub vocab_size: usize,
    pub hidden_size: usize,
    pub num_hidden_layers: usize,
    pub num_attention_heads: usize,
    pub intermediate_size: usize,
    pub max_position_embeddings: usize,
    #[serde(default = "BertConfig::default_type_vocab_size")]
    pub type_vocab_size: usize,
    #[serde(default = "BertConfig::default_layer_norm_eps")]
    pub layer_norm_eps: f64,
    #[serde(default = "BertConfig::default_hidden_act")]
    pub hidden_act: String,
}

impl BertConfig {
    fn default_type_vocab_size() -> usize {
        2
    }
    fn default_layer_norm_eps() -> f64 {
        1e-12
    }
    fn default_hidden_act() -> String {
        "gelu".to_string()
    }
}

struct Layer {
    qkv: Dense,
    attention_out: Dense,
    attention_norm: AddNorm,
    up: Dense,
    down: Dense,
    output_norm: AddNorm,
}

/// A dense layer in f32, or in 8-bit integers where the CPU has the instructions for it.
enum Dense {
    F32(Linear),
    Int8(Int8Dense),
}

impl Dense {
    fn new(linear: Linear, int8: bool) -> candle_core::Result<Dense> {
        if !int8 || !linear.weight().device().is_cpu() {
            return Ok(Dense::F32(linear));
        }
        let (outputs, inputs) = linear.weight().dims2()?;
        let weight = linear.weight().flatten_all()?.to_vec1::<f32>()?;
        let bias = match linear.bias() {
            Some(bias) => bias.to_vec1::<f32>()?,
            None => vec![0.0; outputs],
        };
        Ok(match Int8Dense::new(&weight, bias, outputs, inputs) {
            Some(layer) => Dense::Int8(layer),
            None => Dense::F32(linear),
        })
    }

    fn forward(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        match self {
            Dense::F32(linear) => linear.forward(x),
            Dense::Int8(layer) => x.contiguous()?.apply_op1_no_bwd(layer),
        }
    }
}

/// How the dense layers compute.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Precision {
    /// What the service runs: [`Precision::Int8`], or f32 where `VERBATIM_ENCODER_INT8` is
    /// `off` (or `0`, `false`).
    Configured,
    /// f32 throughout: the reference the int8 layers are measured against.
    F32,
    /// 8-bit integers where the CPU supports them, f32 elsewhere.
    Int8,
}

impl Precision {
    /// Whether the dense layers will run in int8 on this machine.
    pub fn uses_int8(self) -> bool {
        let asked = match self {
            Precision::Configured => std::env::var("VERBATIM_ENCODER_INT8")
                .map_or(true, |v| !matches!(v.to_ascii_lowercase().as_str(), "off" | "0" | "false")),
            Precision::F32 => false,
            Precision::Int8 => true,
        };
        asked && Int8Dense::supported()
    }
}

impl CustomOp1 for Int8Dense {
    fn name(&self) -> &'static str {
        "verbatim-int8-dense"
    }

    fn cpu_fwd(&self, storage: &CpuStorage, layout: &Layout) -> candle_core::Result<(CpuStorage, Shape)> {
        let values = contiguous_f32(storage, layout, "int8 dense")?;
        let (rows, columns) = layout.shape().dims2()?;
        if columns != self.inputs() {
            candle_core::bail!("int8 dense: {columns} inputs for a layer of {}", self.inputs())
        }
        let y = self.forward(values, rows);
        Ok((CpuStorage::F32(y), Shape::from((rows, self.outputs()))))
    }
}

/// How every layer of a forward pass attends: with the CPU kernel, or on other devices in
/// candle's operations, the padding mask as a bias built once for all layers.
enum Attending {
    Kernel(Attention),
    Candle { mask_bias: Tensor },
}

pub struct Bert {
    word_embeddings: Tensor,
    position_embeddings: Tensor,
    token_type_embeddings: Tensor,
    embedding_norm: AddNorm,
    layers: Vec<Layer>,
    heads: usize,
    hidden: usize,
}

fn linear(vb: &VarBuilder, inputs: usize, outputs: usize) -> candle_core::Result<Linear> {
    Ok(Linear::new(vb.get((outputs, inputs), "weight")?, Some(vb.get(outputs, "bias")?)))
}

fn layer_norm(vb: &VarBuilder, size: usize, eps: f64) -> candle_core::Result<AddNorm> {
    AddNorm::new(vb.get(size, "weight")?, vb.get(size, "bias")?, eps)
}

impl Bert {
    pub fn load(vb: VarBuilder, config: &BertConfig, precision: Precision) -> candle_core::Result<Bert> {
        if config.hidden_act != "gelu" {
            candle_core::bail!("hidden_act `{}` is not supported (only the exact `gelu`)", config.hidden_act);
        }
        let vb = if vb.contains_tensor("bert.embeddings.word_embeddings.weight") { vb.pp("bert") } else { vb };
        let (h, eps) = (config.hidden_size, config.layer_norm_eps);
        let heads = config.num_attention_heads;
        let scale = 1.0 / ((h / heads) as f64).sqrt();
        let e = vb.pp("embeddings");
        let int8 = precision.uses_int8();
        let mut layers = Vec::with_capacity(config.num_hidden_layers);
        for i in 0..config.num_hidden_layers {
            let l = vb.pp(format!("encoder.layer.{i}"));
            let a = l.pp("attention.self");
            let (q, k, v) = (linear(&a.pp("query"), h, h)?, linear(&a.pp("key"), h, h)?, linear(&a.pp("value"), h, h)?);
            let weight = Tensor::cat(&[(q.weight() * scale)?, k.weight().clone(), v.weight().clone()], 0)?;
            let bias =
                Tensor::cat(&[(q.bias().unwrap() * scale)?, k.bias().unwrap().clone(), v.bias().unwrap().clone()], 0)?;
            layers.push(Layer {
                qkv: Dense::new(Linear::new(weight, Some(bias)), int8)?,
                attention_out: Dense::new(linear(&l.pp("attention.output.dense"), h, h)?, int8)?,
                attention_norm: layer_norm(&l.pp("attention.output.LayerNorm"), h, eps)?,
                up: Dense::new(linear(&l.pp("intermediate.dense"), h, config.intermediate_size)?, int8)?,
                down: Dense::new(linear(&l.pp("output.dense"), config.intermediate_size, h)?, int8)?,
                output_norm: layer_norm(&l.pp("output.LayerNorm"), h, eps)?,
            });
        }
        Ok(Bert {
            word_embeddings: e.get((config.vocab_size, h), "word_embeddings.weight")?,
            position_embeddings: e.get((config.max_position_embeddings, h), "position_embeddings.weight")?,
            token_type_embeddings: e.get((config.type_vocab_size, h), "token_type_embeddings.weight")?,
            embedding_norm: layer_norm(&e.pp("LayerNorm"), h, eps)?,
            layers,
            heads,
            hidden: h,
        })
    }

    /// Hidden states `[batch, length, hidden]` for `ids` and `type_ids` (`[batch, length]`, u32)
    /// under `mask` (`[batch, length]`, 1 for tokens, 0 for padding).
    pub fn forward(&self, ids: &Tensor, type_ids: &Tensor, mask: &Tensor) -> candle_core::Result<Tensor> {
        let (batch, length) = ids.dims2()?;
        let (h, heads) = (self.hidden, self.heads);
        let words = self.word_embeddings.embedding(&ids.flatten_all()?)?.reshape((batch, length, h))?;
        let types = self.token_type_embeddings.embedding(&type_ids.flatten_all()?)?.reshape((batch, length, h))?;
        let positions = self.position_embeddings.narrow(0, 0, length)?;
        let x = (words + types)?.broadcast_add(&positions)?.reshape((batch * length, h))?;
        let mut x = self.embedding_norm.norm(&x)?;
        let attending = match Attention::over(mask, heads)? {
            Some(op) => Attending::Kernel(op),
            // 0 where attended, a large negative number on padding: added to the attention scores.
            None => Attending::Candle {
                mask_bias: ((mask.to_dtype(x.dtype())? - 1.0)? * 1e9)?.reshape((batch, 1, 1, length))?,
            },
        };
        for layer in &self.layers {
            let qkv = layer.qkv.forward(&x)?;
            let attention = match &attending {
                Attending::Kernel(op) => qkv.apply_op1_no_bwd(op)?,
                Attending::Candle { mask_bias } => self.attention_on_device(&qkv, mask_bias, batch, length)?,
            };
            x = layer.attention_norm.forward(&layer.attention_out.forward(&attention)?, &x)?;
            let inner = gelu(&layer.up.forward(&x)?)?;
            x = layer.output_norm.forward(&layer.down.forward(&inner)?, &x)?;
        }
        x.reshape((batch, length, h))
    }

    /// Self-attention in candle's own operations, for devices without [`Attention`]'s kernel.
    fn attention_on_device(
        &self,
        qkv: &Tensor,
        mask_bias: &Tensor,
        batch: usize,
        length: usize,
    ) -> candle_core::Result<Tensor> {
        let (h, heads) = (self.hidden, self.heads);
        let qkv = qkv.reshape((batch, length, 3, heads, h / heads))?;
        let qkv = qkv.permute((2, 0, 3, 1, 4))?.contiguous()?; // [3, batch, heads, length, head]
        let (q, k, v) = (qkv.get(0)?, qkv.get(1)?, qkv.get(2)?);
        let scores = q.matmul(&k.t()?)?.broadcast_add(mask_bias)?;
        let attention = candle_nn::ops::softmax_last_dim(&scores)?.matmul(&v)?;
        attention.transpose(1, 2)?.contiguous()?.reshape((batch * length, h))
    }
}
