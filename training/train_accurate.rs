//! Trains the `accurate` tier's head on frozen multilingual-e5-small embeddings and writes it
//! where the binary embeds it from.
//!
//! ```sh
//! verbatim --models verbatim-data/models models install multilingual-e5-small
//! cargo run --release --bin train-accurate -- --data ../shared/data --models verbatim-data/models
//! ```
//!
//! Inputs per text: the encoder's embedding and the `fast` tier's log-probabilities
//! ([`head_input`]). The fast tier was trained on these same texts, so its probabilities on
//! them are overconfident; the head instead sees *out-of-fold* fast probabilities (K fast
//! models, each trained without one fold), as stacking requires. The training mix, labels and
//! class balancing are the fast tier's (`verbatim::nlp::corpora`). A seeded 10 % of the mix is
//! held out to pick the epoch. Embeddings are cached under `--cache` (computing them is the
//! slow part: minutes on two cores). Fixed seeds: same data, same flags, same bytes.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::Context;
use candle_core::{DType, Device, Tensor, Var, D};
use candle_nn::{AdamW, Linear, Module, Optimizer, ParamsAdamW};
use clap::Parser;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;
use verbatim::domain::SentimentLabel;
use verbatim::engine::{BertEncoder, Encoder};
use verbatim::models::{installed, sha256_hex};
use verbatim::nlp::corpora::{balanced_weights, sentiment_data, Labeled};
use verbatim::nlp::features::FeatureHasher;
use verbatim::nlp::linear::{Example, HashedLinear, TrainParams};
use verbatim::nlp::sentiment::accurate::{head_input, ENCODER};
use verbatim::nlp::sentiment::FastSentiment;

#[derive(Parser)]
struct Args {
    #[arg(long, default_value = "../shared/data")]
    data: PathBuf,
    /// Installed transformer models
    #[arg(long, env = "VERBATIM_MODELS", default_value = "verbatim-data/models")]
    models: PathBuf,
    #[arg(long, default_value = "models/sentiment-accurate-head.safetensors")]
    out: PathBuf,
    /// Embedding cache
    #[arg(long, default_value = "target/embeddings")]
    cache: PathBuf,
    /// Hidden units; 0 trains a linear head
    #[arg(long, default_value_t = 512)]
    hidden: usize,
    #[arg(long, default_value_t = 80)]
    epochs: usize,
    #[arg(long, default_value_t = 1e-3)]
    learning_rate: f64,
    #[arg(long, default_value_t = 1e-2)]
    weight_decay: f64,
    /// Folds for the out-of-fold fast-tier probabilities
    #[arg(long, default_value_t = 5)]
    folds: usize,
    /// Feed the head the embedding only (no fast-tier inputs): for comparison, not shipping
    #[arg(long)]
    embedding_only: bool,
}

const SEED: u64 = 20261124;

/// An evaluation set as the head sees it: name, binary, inputs, labels.
type EvalInputs<'a> = (&'a str, bool, Vec<Vec<f32>>, Vec<u32>);
const BATCH: usize = 256;

fn main() -> anyhow::Result<()> {
    verbatim::engine::keep_freed_buffers();
    let args = Args::parse();
    let data = sentiment_data(&args.data)?;
    let folder = installed(&args.models, ENCODER)
        .with_context(|| format!("{ENCODER} is not installed in {}", args.models.display()))?;
    let encoder = BertEncoder::load(&folder)?;

    let train_texts: Vec<&str> = data.train.iter().map(|i| i.text.as_str()).collect();
    let train_embeddings = cached_embeddings(&encoder, &train_texts, &args.cache)?;
    let fast_train = out_of_fold_fast(&data.train, args.folds)?;
    let inputs_of = |embeddings: &[Vec<f32>], fast: &[[f32; 3]]| -> Vec<Vec<f32>> {
        embeddings
            .iter()
            .zip(fast)
            .map(|(e, f)| if args.embedding_only { e.clone() } else { head_input(e, *f) })
            .collect()
    };
    let inputs = inputs_of(&train_embeddings, &fast_train);
    let labels: Vec<u32> = data.train.iter().map(|i| i.label.index() as u32).collect();
    let weights = balanced_weights(&data.train);

    let mut order: Vec<usize> = (0..inputs.len()).collect();
    order.shuffle(&mut ChaCha8Rng::seed_from_u64(SEED));
    let (validation, training) = order.split_at(inputs.len() / 10);
    let shipped_fast = FastSentiment::shipped()?;
    let evals: Vec<EvalInputs> = data
        .evals
        .iter()
        .map(|set| {
            let texts: Vec<&str> = set.items.iter().map(|i| i.text.as_str()).collect();
            let embeddings = cached_embeddings(&encoder, &texts, &args.cache)?;
            let fast = shipped_fast.probabilities(&texts);
            let labels = set.items.iter().map(|i| i.label.index() as u32).collect();
            Ok((set.name, set.binary, inputs_of(&embeddings, &fast), labels))
        })
        .collect::<anyhow::Result<_>>()?;

    let started = Instant::now();
    let head = train_head(&args, &inputs, &labels, &weights, training, validation)?;
    println!("trained in {:.1} s", started.elapsed().as_secs_f64());
    for (name, binary, inputs, labels) in &evals {
        let predicted = head.predict(inputs)?;
        let correct = predicted
            .iter()
            .zip(labels)
            .filter(|(p, &l)| {
                let guess = if *binary {
                    if p[0] > p[2] {
                        0
                    } else {
                        2
                    }
                } else {
                    argmax(p)
                };
                guess == l as usize
            })
            .count();
        println!("{name}: accuracy {:.3} (n = {})", correct as f64 / labels.len() as f64, labels.len());
    }
    if !args.embedding_only {
        head.save(&args.out)?;
        println!("wrote {} (sha256 {})", args.out.display(), sha256_hex(&std::fs::read(&args.out)?));
    }
    Ok(())
}

fn argmax(p: &[f32; 3]) -> usize {
    (0..3).max_by(|&a, &b| p[a].total_cmp(&p[b])).unwrap()
}

/// Embeddings of `texts`, computed once and kept in `cache` under a hash of the texts.
fn cached_embeddings(encoder: &BertEncoder, texts: &[&str], cache: &Path) -> anyhow::Result<Vec<Vec<f32>>> {
    let key = sha256_hex(format!("{ENCODER}\0{:?}\0{}", encoder.settings(), texts.join("\0")).as_bytes());
    let path = cache.join(format!("{}.f32", &key[..16]));
    let dimension = encoder.dimension();
    if let Ok(bytes) = std::fs::read(&path) {
        if bytes.len() == texts.len() * dimension * 4 {
            let values: Vec<f32> = bytes.chunks_exact(4).map(|b| f32::from_le_bytes(b.try_into().unwrap())).collect();
            return Ok(values.chunks(dimension).map(|c| c.to_vec()).collect());
        }
    }
    let started = Instant::now();
    let mut embeddings = Vec::with_capacity(texts.len());
    for chunk in texts.chunks(512) {
        embeddings.extend(encoder.encode(chunk)?);
        eprintln!(
            "embedded {}/{} texts ({:.0}/s)",
            embeddings.len(),
            texts.len(),
            embeddings.len() as f64 / started.elapsed().as_secs_f64()
        );
    }
    std::fs::create_dir_all(cache)?;
    let bytes: Vec<u8> = embeddings.iter().flatten().flat_map(|v| v.to_le_bytes()).collect();
    std::fs::write(&path, bytes).with_context(|| format!("writing {}", path.display()))?;
    Ok(embeddings)
}

/// Fast-tier probabilities for each training text from a fast model that never saw it.
fn out_of_fold_fast(items: &[Labeled], folds: usize) -> anyhow::Result<Vec<[f32; 3]>> {
    let hasher = FeatureHasher { buckets_log2: 18 };
    let weights = balanced_weights(items);
    let fold_of: Vec<usize> = {
        let mut rng = ChaCha8Rng::seed_from_u64(SEED ^ 0xF01D);
        (0..items.len()).map(|_| rng.random_range(0..folds)).collect()
    };
    let features: Vec<Vec<u32>> = items.par_iter().map(|i| hasher.features(&i.text)).collect();
    let mut probabilities = vec![[0f32; 3]; items.len()];
    for fold in 0..folds {
        let mut examples: Vec<Example> = (0..items.len())
            .filter(|&i| fold_of[i] != fold)
            .map(|i| Example { features: features[i].clone(), label: items[i].label.index(), weight: weights[i] })
            .collect();
        let model = HashedLinear::train(hasher, SentimentLabel::ALL.len(), &mut examples, TrainParams::default());
        for i in (0..items.len()).filter(|&i| fold_of[i] == fold) {
            let p = model.probabilities(&features[i]);
            probabilities[i] = [p[0], p[1], p[2]];
        }
        eprintln!("fast tier fold {}/{folds} done", fold + 1);
    }
    Ok(probabilities)
}

struct TrainedHead {
    layers: Vec<(Var, Var)>,
}

impl TrainedHead {
    fn forward(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        let mut x = x.clone();
        for (i, (w, b)) in self.layers.iter().enumerate() {
            x = Linear::new(w.as_tensor().clone(), Some(b.as_tensor().clone())).forward(&x)?;
            if i + 1 < self.layers.len() {
                x = x.relu()?;
            }
        }
        Ok(x)
    }

    fn predict(&self, inputs: &[Vec<f32>]) -> anyhow::Result<Vec<[f32; 3]>> {
        let x = matrix(inputs, &(0..inputs.len()).collect::<Vec<_>>())?;
        let p = candle_nn::ops::softmax_last_dim(&self.forward(&x)?)?.to_vec2::<f32>()?;
        Ok(p.into_iter().map(|r| [r[0], r[1], r[2]]).collect())
    }

    fn save(&self, path: &Path) -> anyhow::Result<()> {
        let tensors: Vec<(String, Tensor)> = self
            .layers
            .iter()
            .enumerate()
            .flat_map(|(i, (w, b))| {
                [(format!("layer{i}.weight"), w.as_tensor().clone()), (format!("layer{i}.bias"), b.as_tensor().clone())]
            })
            .collect();
        candle_core::safetensors::save(&tensors.into_iter().collect(), path)?;
        Ok(())
    }

    fn snapshot(&self) -> anyhow::Result<Vec<(Tensor, Tensor)>> {
        Ok(self.layers.iter().map(|(w, b)| (w.as_tensor().copy().unwrap(), b.as_tensor().copy().unwrap())).collect())
    }

    fn restore(&self, snapshot: &[(Tensor, Tensor)]) -> anyhow::Result<()> {
        for ((w, b), (sw, sb)) in self.layers.iter().zip(snapshot) {
            w.set(sw)?;
            b.set(sb)?;
        }
        Ok(())
    }
}

fn matrix(inputs: &[Vec<f32>], rows: &[usize]) -> anyhow::Result<Tensor> {
    let width = inputs[0].len();
    let flat: Vec<f32> = rows.iter().flat_map(|&r| inputs[r].iter().copied()).collect();
    Ok(Tensor::from_vec(flat, (rows.len(), width), &Device::Cpu)?)
}

/// Seeded uniform init in ±1/sqrt(fan_in) (PyTorch's Linear default).
fn layer(rng: &mut ChaCha8Rng, inputs: usize, outputs: usize) -> anyhow::Result<(Var, Var)> {
    let bound = 1.0 / (inputs as f32).sqrt();
    let mut uniform = |n: usize| -> Vec<f32> { (0..n).map(|_| rng.random_range(-bound..bound)).collect() };
    let w = Tensor::from_vec(uniform(inputs * outputs), (outputs, inputs), &Device::Cpu)?;
    let b = Tensor::from_vec(uniform(outputs), outputs, &Device::Cpu)?;
    Ok((Var::from_tensor(&w)?, Var::from_tensor(&b)?))
}

/// Weighted cross-entropy, AdamW, minibatches in a seeded order; keeps the epoch with the
/// lowest weighted validation loss.
fn train_head(
    args: &Args,
    inputs: &[Vec<f32>],
    labels: &[u32],
    weights: &[f32],
    training: &[usize],
    validation: &[usize],
) -> anyhow::Result<TrainedHead> {
    let mut rng = ChaCha8Rng::seed_from_u64(SEED);
    let width = inputs[0].len();
    let layers = if args.hidden == 0 {
        vec![layer(&mut rng, width, 3)?]
    } else {
        vec![layer(&mut rng, width, args.hidden)?, layer(&mut rng, args.hidden, 3)?]
    };
    let head = TrainedHead { layers };
    let vars: Vec<Var> = head.layers.iter().flat_map(|(w, b)| [w.clone(), b.clone()]).collect();
    let mut optimizer = AdamW::new(
        vars,
        ParamsAdamW { lr: args.learning_rate, weight_decay: args.weight_decay, ..ParamsAdamW::default() },
    )?;
    let loss_of = |rows: &[usize]| -> anyhow::Result<Tensor> {
        let x = matrix(inputs, rows)?;
        let y = Tensor::from_vec(rows.iter().map(|&r| labels[r]).collect::<Vec<u32>>(), rows.len(), &Device::Cpu)?;
        let w = Tensor::from_vec(rows.iter().map(|&r| weights[r]).collect::<Vec<f32>>(), rows.len(), &Device::Cpu)?;
        let log_p = candle_nn::ops::log_softmax(&head.forward(&x)?, D::Minus1)?;
        let picked = log_p.gather(&y.unsqueeze(1)?, 1)?.squeeze(1)?;
        Ok((picked.mul(&w)?.sum_all()?.neg()? / w.sum_all()?.to_scalar::<f32>()? as f64)?)
    };
    let mut order = training.to_vec();
    let mut best = (f32::INFINITY, 0, head.snapshot()?);
    for epoch in 1..=args.epochs {
        order.shuffle(&mut rng);
        for batch in order.chunks(BATCH) {
            optimizer.backward_step(&loss_of(batch)?)?;
        }
        let validation_loss = loss_of(validation)?.to_dtype(DType::F32)?.to_scalar::<f32>()?;
        if validation_loss < best.0 {
            best = (validation_loss, epoch, head.snapshot()?);
        }
    }
    eprintln!("best epoch {} (validation loss {:.4})", best.1, best.0);
    head.restore(&best.2)?;
    Ok(head)
}
