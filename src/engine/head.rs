//! A head: the small perceptron that turns an encoder's embedding into a task's answer
//! (sentiment classes, emotions). Small enough to run on the CPU whatever device the encoder
//! uses; several heads read one embedding, so a text is encoded once for all of them.

use std::collections::HashMap;

use anyhow::{ensure, Context};
use candle_core::{Device, Module, Tensor};
use candle_nn::Linear;

/// A multi-layer perceptron: ReLU between layers, logits out.
pub struct Head {
    layers: Vec<Linear>,
    inputs: usize,
}

impl Head {
    /// Reads `{prefix}.layer{i}.weight` / `.bias` for i = 0, 1, … out of `tensors`; the last
    /// layer must give `outputs` logits.
    pub fn from_tensors(tensors: &HashMap<String, Tensor>, prefix: &str, outputs: usize) -> anyhow::Result<Head> {
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
        let last = shapes.last().expect("one layer or more").0;
        ensure!(last == outputs, "the head must end in {outputs} outputs, not {last}");
        Ok(Head { layers, inputs: shapes[0].1 })
    }

    pub fn inputs(&self) -> usize {
        self.inputs
    }

    /// The logits of each row of `inputs` (rows × [`Head::inputs`]), one row per input row.
    pub fn logits(&self, inputs: Vec<f32>, rows: usize) -> anyhow::Result<Vec<Vec<f32>>> {
        Ok(self.logit_tensor(inputs, rows)?.to_vec2::<f32>()?)
    }

    fn logit_tensor(&self, inputs: Vec<f32>, rows: usize) -> anyhow::Result<Tensor> {
        Ok(self.forward(&Tensor::from_vec(inputs, (rows, self.inputs), &Device::Cpu)?)?)
    }

    /// The logits of a rows × [`Head::inputs`] tensor (a head built from trainable variables
    /// records the operations for backpropagation: training runs the same code).
    pub fn forward(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        let mut x = x.clone();
        for (i, layer) in self.layers.iter().enumerate() {
            x = layer.forward(&x)?;
            if i + 1 < self.layers.len() {
                x = x.relu()?;
            }
        }
        Ok(x)
    }

    /// Probabilities of exclusive classes (softmax), one row per input row.
    pub fn softmax(&self, inputs: Vec<f32>, rows: usize) -> anyhow::Result<Vec<Vec<f32>>> {
        Ok(candle_nn::ops::softmax_last_dim(&self.logit_tensor(inputs, rows)?)?.to_vec2::<f32>()?)
    }
}
