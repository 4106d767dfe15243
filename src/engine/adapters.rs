//! Low-rank adapters (LoRA): fine-tuned changes to an installed encoder, shipped apart from it.
//!
//! The encoders' weights come from third-party packages at install time; what the project
//! trains on top (`training/finetune_accurate.py`) is, for each adapted weight `W`, two small
//! matrices `A` (rank × inputs) and `B` (outputs × rank, scale folded in). The encoder is then
//! read as `W + B·A`: merged once at load, so inference costs nothing extra.

use std::collections::HashMap;

use candle_core::safetensors::MmapedSafetensors;
use candle_core::{DType, Device, Shape, Tensor};
use candle_nn::var_builder::SimpleBackend;

/// `{weight}.lora_a` / `{weight}.lora_b` pairs, keyed by the weight they change.
pub struct LowRankAdapters {
    updates: HashMap<String, (Tensor, Tensor)>,
}

impl LowRankAdapters {
    /// Picks the adapter pairs out of `tensors` (other tensors are ignored). Every `lora_a`
    /// needs its `lora_b` and their ranks must agree.
    pub fn from_tensors(tensors: &HashMap<String, Tensor>) -> Result<LowRankAdapters, String> {
        let mut updates = HashMap::new();
        for (name, a) in tensors {
            let Some(weight) = name.strip_suffix(".lora_a") else { continue };
            let b = tensors.get(&format!("{weight}.lora_b")).ok_or_else(|| format!("{name} has no lora_b"))?;
            let (rank, _) = a.dims2().map_err(|e| format!("{name}: {e}"))?;
            let (_, rank_b) = b.dims2().map_err(|e| format!("{weight}.lora_b: {e}"))?;
            if rank != rank_b {
                return Err(format!("{weight}: lora_a has rank {rank}, lora_b {rank_b}"));
            }
            updates.insert(weight.to_string(), (a.clone(), b.clone()));
        }
        if updates.is_empty() {
            return Err("no `*.lora_a` tensors".to_string());
        }
        Ok(LowRankAdapters { updates })
    }

    /// Names of the weights these adapters change.
    pub fn weights(&self) -> impl Iterator<Item = &str> {
        self.updates.keys().map(String::as_str)
    }
}

/// A model file read through its adapters: adapted weights come out merged.
pub(super) struct AdaptedWeights {
    base: MmapedSafetensors,
    adapters: LowRankAdapters,
}

impl AdaptedWeights {
    /// Refuses adapters for a weight `base` does not have: they would silently change nothing.
    pub fn new(base: MmapedSafetensors, adapters: LowRankAdapters) -> Result<AdaptedWeights, String> {
        if let Some(missing) = adapters.weights().find(|w| !SimpleBackend::contains_tensor(&base, w)) {
            return Err(format!("the adapters change `{missing}`, which the model does not have"));
        }
        Ok(AdaptedWeights { base, adapters })
    }

    fn merge(&self, name: &str, weight: Tensor) -> candle_core::Result<Tensor> {
        match self.adapters.updates.get(name) {
            None => Ok(weight),
            Some((a, b)) => {
                let update = b.to_device(weight.device())?.matmul(&a.to_device(weight.device())?)?;
                let update = update.to_dtype(weight.dtype())?;
                weight + update
            }
        }
    }
}

impl SimpleBackend for AdaptedWeights {
    fn get(&self, s: Shape, name: &str, h: candle_nn::Init, dtype: DType, dev: &Device) -> candle_core::Result<Tensor> {
        self.merge(name, SimpleBackend::get(&self.base, s, name, h, dtype, dev)?)
    }

    fn get_unchecked(&self, name: &str, dtype: DType, dev: &Device) -> candle_core::Result<Tensor> {
        self.merge(name, SimpleBackend::get_unchecked(&self.base, name, dtype, dev)?)
    }

    fn contains_tensor(&self, name: &str) -> bool {
        SimpleBackend::contains_tensor(&self.base, name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn zeros(rows: usize, columns: usize) -> Tensor {
        Tensor::zeros((rows, columns), DType::F32, &Device::Cpu).unwrap()
    }

    fn adapters(pairs: &[(&str, Tensor)]) -> Result<LowRankAdapters, String> {
        LowRankAdapters::from_tensors(&pairs.iter().map(|(n, t)| (n.to_string(), t.clone())).collect())
    }

    #[test]
    fn pairs_are_matched_by_weight_name_and_checked() {
        let ok = adapters(&[("w.lora_a", zeros(4, 8)), ("w.lora_b", zeros(6, 4)), ("head.layer0.weight", zeros(3, 3))]);
        assert_eq!(ok.unwrap().weights().collect::<Vec<_>>(), ["w"]);
        let missing = adapters(&[("w.lora_a", zeros(4, 8))]).err().unwrap();
        assert!(missing.contains("w.lora_a has no lora_b"), "{missing}");
        let ranks = adapters(&[("w.lora_a", zeros(4, 8)), ("w.lora_b", zeros(6, 2))]).err().unwrap();
        assert!(ranks.contains("rank 4") && ranks.contains("2"), "{ranks}");
        assert!(adapters(&[("head.layer0.weight", zeros(3, 3))]).is_err());
    }
}
