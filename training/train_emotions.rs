//! Trains both tiers' emotion models and writes them where the binary embeds them from.
//!
//! ```sh
//! cargo run --release --features training --bin train-emotions -- --data ../shared/data \
//!     --models target/tmp/models
//! ```
//!
//! 1. The accurate tier's head: a perceptron over the embeddings the accurate sentiment
//!    model's encoder makes (frozen), trained with binary cross-entropy on GoEmotions and
//!    EmoDIFT's training parts (`verbatim::training::emotion_sets`). Embeddings are cached
//!    under `target/tmp/emotion-embeddings`.
//! 2. The fast tier's one-vs-rest hashed model, on the same texts, and on French customer
//!    reviews from the sentiment training mix scored by the new head (the only French customer
//!    text with emotions there is: GoEmotions is English, EmoDIFT is about a fire).
//! 3. The accurate tier's blend of the two: the fast model's weight that scores best on the
//!    tuning parts, and a bias per emotion.
//!
//! Each emotion's threshold is tuned on the tuning parts, then moved to 0.5 through a bias.
//! Without `--models` only the fast model is trained, without distilled French reviews.
//! Fixed seeds: the same data gives the same bytes.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use candle_core::{DType, Device, Tensor};
use candle_nn::{linear, AdamW, Optimizer, ParamsAdamW, VarBuilder, VarMap};
use clap::Parser;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use verbatim::domain::Emotion;
use verbatim::engine::Head;
use verbatim::nlp::emotions::{Blend, FastEmotions, ACCURATE_HEAD_PREFIX, BLEND_TENSOR, FAST_EMOTION_BUCKETS_LOG2};
use verbatim::nlp::features::FeatureHasher;
use verbatim::nlp::linear::{log_odds, sigmoid, Example, HashedLinear, Output, Target, TrainParams};
use verbatim::nlp::sentiment::{AccurateSentiment, FastSentiment, SentimentModel};
use verbatim::training::corpora::sentiment_data;
use verbatim::training::emotion_sets::{
    embeddings, embeddings_cache, emodift, f1_at, goemotions, tuned_thresholds, EmotionExample,
};

#[derive(Parser)]
struct Args {
    #[arg(long, default_value = "../shared/data")]
    data: PathBuf,
    /// Where multilingual-e5-small is installed; trains the accurate head when given
    #[arg(long)]
    models: Option<PathBuf>,
    #[arg(long, default_value = "models/emotions-fast.bin")]
    fast_out: PathBuf,
    #[arg(long, default_value = "models/emotions-accurate-head.safetensors")]
    accurate_out: PathBuf,
    /// How many more times a French (EmoDIFT) example counts than an English one (0: trains on
    /// English only, to measure what the encoder carries over to French)
    #[arg(long, default_value_t = 3.0)]
    french_weight: f32,
    /// French customer reviews scored by the accurate head for the fast model
    #[arg(long, default_value_t = 12000)]
    distilled: usize,
    /// Hidden units of the accurate head (0: a linear head)
    #[arg(long, default_value_t = 256)]
    hidden: usize,
    #[arg(long, default_value_t = 20)]
    head_epochs: usize,
    /// Heads trained, each from its own seed; the one that scores best on the tuning parts
    /// is kept (one head's score moves by about 0.01 from seed to seed)
    #[arg(long, default_value_t = 3)]
    head_seeds: u64,
    #[arg(long, default_value_t = 8)]
    fast_epochs: usize,
    #[arg(long, default_value_t = 0.1)]
    fast_learning_rate: f32,
}

/// Embeds texts with the accurate tier's encoder, caching under a name.
type Embed<'a> = dyn Fn(&str, Vec<&str>) -> anyhow::Result<Vec<Vec<f32>>> + 'a;

/// The rows the models train on, with how much each counts.
struct Weighted<'a> {
    example: &'a EmotionExample,
    weight: f32,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let english = goemotions(&args.data)?;
    let french = emodift(&args.data)?;
    let train: Vec<Weighted> = english
        .train
        .iter()
        .map(|example| Weighted { example, weight: 1.0 })
        .chain(french.train.iter().map(|example| Weighted { example, weight: args.french_weight }))
        .filter(|w| w.weight > 0.0)
        .collect();
    let tune: Vec<&EmotionExample> = english.tune.iter().chain(&french.tune).collect();
    let tune_gold: Vec<Vec<f32>> = tune.iter().map(|e| e.present.clone()).collect();
    println!(
        "training on {} English and {} French texts; tuning on {}",
        english.train.len(),
        french.train.len(),
        tune.len()
    );
    let Some(models) = &args.models else {
        let fast = train_fast(&args, &train, &[], &tune)?;
        return write(&args.fast_out, &fast.to_bytes());
    };

    // Loaded alone: the analyzer would load the emotion head this trains with it.
    let sentiment = AccurateSentiment::load(models, Arc::new(FastSentiment::shipped()?))?;
    let sentiment: &dyn SentimentModel = &sentiment;
    let embed = |name: &str, texts: Vec<&str>| {
        let cache = embeddings_cache(sentiment.version(), name, &texts);
        println!("embedding {name} ({})", cache.display());
        let started = std::time::Instant::now();
        let found = embeddings(sentiment, &texts, &cache);
        println!("embedded {name}: {} texts in {:.0} s", texts.len(), started.elapsed().as_secs_f32());
        found
    };
    let train_x = embed("train", train.iter().map(|w| w.example.text.as_str()).collect())?;
    let tune_x = embed("tune", tune.iter().map(|e| e.text.as_str()).collect())?;
    let tune_gold_ref = &tune_gold;
    let mut head: Option<(f32, TrainedHead)> = None;
    for seed in 0..args.head_seeds {
        let candidate = train_head(&args, &train, &train_x, HEAD_SEED + seed)?;
        let logits = candidate.logits(tune_x.iter().flatten().copied().collect(), tune_x.len())?;
        let scores: Vec<Vec<f32>> = logits.iter().map(|row| row.iter().map(|l| sigmoid(*l)).collect()).collect();
        let f1 = mean_f1(&scores, tune_gold_ref, &tuned_thresholds(&scores, tune_gold_ref));
        println!("head seed {seed}: tuning mean F1 {f1:.3}");
        if head.as_ref().is_none_or(|(best, _)| f1 > *best) {
            head = Some((f1, candidate));
        }
    }
    let (_, head) = head.context("--head-seeds must be at least 1")?;

    let distilled = distill(&args, &head, &embed)?;
    let fast = train_fast(&args, &train, &distilled, &tune)?;
    write(&args.fast_out, &fast.to_bytes())?;

    let features = FastSentiment::shipped()?;
    let head_logits = head.logits(tune_x.iter().flatten().copied().collect(), tune_x.len())?;
    let fast_logits: Vec<Vec<f32>> = tune.iter().map(|e| fast.logits(&features.features(&e.text))).collect();
    let blend = best_blend(&head_logits, &fast_logits, &tune_gold);
    println!("blend: fast weight {:.1}", blend.fast_weight);
    let mut tensors = head.tensors;
    tensors.insert(BLEND_TENSOR.to_string(), Tensor::from_vec(blend.to_vec(), 1 + Emotion::ALL.len(), &Device::Cpu)?);
    let path = std::env::temp_dir().join(format!("verbatim-emotion-head-{}.safetensors", std::process::id()));
    candle_core::safetensors::save(&tensors, &path)?;
    let bytes = std::fs::read(&path)?;
    std::fs::remove_file(&path)?;
    write(&args.accurate_out, &bytes)
}

fn write(path: &std::path::Path, bytes: &[u8]) -> anyhow::Result<()> {
    std::fs::write(path, bytes).with_context(|| format!("writing {}", path.display()))?;
    println!("wrote {} ({} bytes)", path.display(), bytes.len());
    Ok(())
}

/// The trained head: its tensors as they will be stored, and the head they make.
struct TrainedHead {
    tensors: HashMap<String, Tensor>,
    head: Head,
}

impl TrainedHead {
    fn logits(&self, inputs: Vec<f32>, rows: usize) -> anyhow::Result<Vec<Vec<f32>>> {
        self.head.logits(inputs, rows)
    }
}

/// The first head's seed (initial weights and the order of the examples).
const HEAD_SEED: u64 = 20261127;

/// Trains the accurate head with the encoder's embeddings of `train` as input, from `seed`.
fn train_head(args: &Args, train: &[Weighted], train_x: &[Vec<f32>], seed: u64) -> anyhow::Result<TrainedHead> {
    let device = Device::Cpu;
    let dimension = train_x[0].len();
    let emotions = Emotion::ALL.len();
    let varmap = VarMap::new();
    let vb = VarBuilder::from_varmap(&varmap, DType::F32, &device);
    let shapes = match args.hidden {
        0 => vec![(dimension, emotions)],
        hidden => vec![(dimension, hidden), (hidden, emotions)],
    };
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    for (i, (inputs, outputs)) in shapes.into_iter().enumerate() {
        // Creates the layer's variables in `varmap`, which the head reads; candle initialises
        // them from an unseeded generator, so they are set again from `seed` (the same
        // uniform ±1/√inputs as candle's, zero biases).
        linear(inputs, outputs, vb.pp(format!("{ACCURATE_HEAD_PREFIX}.layer{i}")))?;
        let bound = 1.0 / (inputs as f32).sqrt();
        let weights: Vec<f32> = (0..inputs * outputs).map(|_| rng.random_range(-bound..bound)).collect();
        let data = varmap.data().lock().expect("var map");
        data[&format!("{ACCURATE_HEAD_PREFIX}.layer{i}.weight")].set(&Tensor::from_vec(
            weights,
            (outputs, inputs),
            &device,
        )?)?;
        data[&format!("{ACCURATE_HEAD_PREFIX}.layer{i}.bias")].set(&Tensor::zeros(outputs, DType::F32, &device)?)?;
    }
    let tensors: HashMap<String, Tensor> = varmap
        .data()
        .lock()
        .expect("var map")
        .iter()
        .map(|(name, var)| (name.clone(), var.as_tensor().clone()))
        .collect();
    let head = Head::from_tensors(&tensors, ACCURATE_HEAD_PREFIX, emotions)?;
    let params = ParamsAdamW { lr: 1e-3, weight_decay: 1e-2, ..ParamsAdamW::default() };
    let mut optimizer = AdamW::new(varmap.all_vars(), params)?;
    // Weighted rows are repeated: a French row of weight 3 is seen three times an epoch.
    let mut order: Vec<usize> = train
        .iter()
        .enumerate()
        .flat_map(|(i, w)| std::iter::repeat_n(i, w.weight.round().max(1.0) as usize))
        .collect();
    let started = std::time::Instant::now();
    for epoch in 0..args.head_epochs {
        order.shuffle(&mut rng);
        let mut total = 0.0;
        for batch in order.chunks(128) {
            let x: Vec<f32> = batch.iter().flat_map(|&i| train_x[i].iter().copied()).collect();
            let y: Vec<f32> = batch.iter().flat_map(|&i| train[i].example.present.iter().copied()).collect();
            let x = Tensor::from_vec(x, (batch.len(), dimension), &device)?;
            let y = Tensor::from_vec(y, (batch.len(), emotions), &device)?;
            let loss = candle_nn::loss::binary_cross_entropy_with_logit(&head.forward(&x)?, &y)?;
            optimizer.backward_step(&loss)?;
            total += loss.to_scalar::<f32>()? * batch.len() as f32;
        }
        println!(
            "head epoch {epoch}: loss {:.4} ({:.0} s)",
            total / order.len() as f32,
            started.elapsed().as_secs_f32()
        );
    }
    Ok(TrainedHead { tensors, head })
}

/// The fast model's share of the blend, by tenths, that gives the best mean F1 over the
/// emotions on the tuning parts (each at its best threshold), with the biases that put those
/// thresholds at 0.5.
fn best_blend(head: &[Vec<f32>], fast: &[Vec<f32>], gold: &[Vec<f32>]) -> Blend {
    let neutral = Blend { fast_weight: 0.0, bias: vec![0.0; Emotion::ALL.len()] };
    let mut best: Option<(f32, Blend)> = None;
    for tenth in 0..=10 {
        let weighted = Blend { fast_weight: tenth as f32 / 10.0, ..neutral.clone() };
        let scores: Vec<Vec<f32>> = head.iter().zip(fast).map(|(h, f)| weighted.scores(h, f)).collect();
        let thresholds = tuned_thresholds(&scores, gold);
        let f1 = mean_f1(&scores, gold, &thresholds);
        println!("blend: fast weight {:.1}, tuning mean F1 {f1:.3}", weighted.fast_weight);
        if best.as_ref().is_none_or(|(top, _)| f1 > *top) {
            let bias = thresholds.iter().map(|t| -log_odds(*t)).collect();
            best = Some((f1, Blend { bias, ..weighted }));
        }
    }
    best.expect("eleven candidates").1
}

/// Mean over the emotions of the F1 of `scores` at `thresholds` against `gold`.
fn mean_f1(scores: &[Vec<f32>], gold: &[Vec<f32>], thresholds: &[f32]) -> f32 {
    thresholds.iter().enumerate().map(|(e, &t)| f1_at(scores, gold, e, t)).sum::<f32>() / thresholds.len() as f32
}

/// French customer reviews of the sentiment training mix with the accurate head's
/// probabilities as targets: the fast model's only French customer text with emotions.
/// Probabilities rather than labels at the head's thresholds, which taught the fast model
/// wrong emotions on plain questions (training/README.md).
fn distill(args: &Args, head: &TrainedHead, embed: &Embed) -> anyhow::Result<Vec<EmotionExample>> {
    let mix = sentiment_data(&args.data)?;
    let sources = ["marc_fr", "trustpilot", "titles"];
    let texts: Vec<&str> = sources
        .iter()
        .flat_map(|source| {
            mix.train
                .iter()
                .filter(move |item| item.source == *source)
                .map(|item| item.text.as_str())
                .take(args.distilled / sources.len())
        })
        .collect();
    if texts.is_empty() {
        return Ok(Vec::new());
    }
    let embedded = embed("distilled", texts.clone())?;
    let logits = head.logits(embedded.iter().flatten().copied().collect(), embedded.len())?;
    println!("distilled {} French reviews", texts.len());
    Ok(texts
        .into_iter()
        .zip(logits)
        .map(|(text, logits)| EmotionExample {
            text: text.to_string(),
            present: logits.into_iter().map(sigmoid).collect(),
            ekman: Vec::new(),
        })
        .collect())
}

/// Trains the fast model, thresholds centred.
fn train_fast(
    args: &Args,
    train: &[Weighted],
    distilled: &[EmotionExample],
    tune: &[&EmotionExample],
) -> anyhow::Result<FastEmotions> {
    // Features as the sentiment model hashes them: the emotion model folds them into its buckets.
    let sentiment = FastSentiment::shipped()?;
    let example = |e: &EmotionExample, weight: f32| Example {
        features: sentiment.features(&e.text),
        target: Target::Present(e.present.clone()),
        weight,
    };
    let mut examples: Vec<Example> =
        train.iter().map(|w| example(w.example, w.weight)).chain(distilled.iter().map(|e| example(e, 1.0))).collect();
    let params = TrainParams {
        epochs: args.fast_epochs,
        learning_rate: args.fast_learning_rate,
        runs: 3,
        ..TrainParams::default()
    };
    let started = std::time::Instant::now();
    let mut model = HashedLinear::train(
        FeatureHasher { buckets_log2: FAST_EMOTION_BUCKETS_LOG2 },
        Output::Independent,
        Emotion::ALL.len(),
        &mut examples,
        params,
    );
    println!("fast model trained on {} examples in {:.0} s", examples.len(), started.elapsed().as_secs_f32());
    let scores: Vec<Vec<f32>> = tune.iter().map(|e| model.probabilities(&sentiment.features(&e.text))).collect();
    let gold: Vec<Vec<f32>> = tune.iter().map(|e| e.present.clone()).collect();
    let thresholds = tuned_thresholds(&scores, &gold);
    println!("fast thresholds: {}", describe(&thresholds));
    model.center_thresholds(&thresholds);
    FastEmotions::from_model(model)
}

fn describe(thresholds: &[f32]) -> String {
    Emotion::ALL.iter().zip(thresholds).map(|(e, t)| format!("{} {t:.2}", e.as_str())).collect::<Vec<_>>().join(", ")
}
