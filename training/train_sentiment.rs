//! Trains the `fast` sentiment model and writes it where the binary embeds it from.
//!
//! ```sh
//! cargo run --release --bin train-sentiment -- --data ../shared/data --out models/sentiment-fast.bin
//! ```
//!
//! The training mix and label mapping are defined once in `verbatim::training::corpora`. Classes
//! are balanced within each source (airline tweets are 63 % negative: unbalanced, the model
//! learns that tweets are negative), then classes are balanced overall so the rarer neutral
//! class is not ignored. Fixed seeds: the same data and flags give the same bytes.

use std::path::PathBuf;

use anyhow::Context;
use clap::Parser;
use verbatim::domain::SentimentLabel;
use verbatim::nlp::features::FeatureHasher;
use verbatim::nlp::linear::{Example, HashedLinear, Output, Target, TrainParams};
use verbatim::nlp::sentiment::FAST_BUCKETS_LOG2;
use verbatim::training::corpora::sentiment_data;
use verbatim::training::fast_tier_examples;

#[derive(Parser)]
struct Args {
    /// The shared labeled data folder
    #[arg(long, default_value = "../shared/data")]
    data: PathBuf,
    #[arg(long, default_value = "models/sentiment-fast.bin")]
    out: PathBuf,
    /// Model size: 2^N hash buckets
    #[arg(long, default_value_t = FAST_BUCKETS_LOG2)]
    buckets_log2: u32,
    #[arg(long, default_value_t = TrainParams::default().epochs)]
    epochs: usize,
    #[arg(long, default_value_t = TrainParams::default().learning_rate)]
    learning_rate: f32,
    /// Training runs (differently shuffled) whose weights are averaged
    #[arg(long, default_value_t = TrainParams::default().runs)]
    runs: usize,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let data = sentiment_data(&args.data)?;
    let hasher = FeatureHasher { buckets_log2: args.buckets_log2 };
    let mut examples: Vec<Example> = fast_tier_examples(&data.train, hasher).into_iter().map(|(_, e)| e).collect();
    let mut counts = [0usize; 3];
    for example in &examples {
        if let Target::Class(class) = example.target {
            counts[class] += 1;
        }
    }
    anyhow::ensure!(args.runs > 0, "--runs must be at least 1");
    let params = TrainParams {
        epochs: args.epochs,
        learning_rate: args.learning_rate,
        runs: args.runs,
        ..TrainParams::default()
    };
    let started = std::time::Instant::now();
    let model = HashedLinear::train(hasher, Output::Exclusive, SentimentLabel::ALL.len(), &mut examples, params);
    let bytes = model.to_bytes();
    std::fs::write(&args.out, &bytes).with_context(|| format!("writing {}", args.out.display()))?;
    println!(
        "trained on {} texts (negative {}, neutral {}, positive {}) in {:.1} s; {:?}; wrote {} ({} bytes)",
        examples.len(),
        counts[0],
        counts[1],
        counts[2],
        started.elapsed().as_secs_f64(),
        params,
        args.out.display(),
        bytes.len()
    );
    Ok(())
}
