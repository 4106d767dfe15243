//! Trains the aspect-term tagger and writes it where the binary embeds it from; prints its
//! span-level F1 on the held-out fifth of each language first.
//!
//! ```sh
//! cargo run --release --features training --bin train-aspects -- --data ../shared/data
//! ```
//!
//! The held-out fifth scores a model trained on the other four; the shipped model then trains
//! on every sentence. Fixed seeds: the same data gives the same bytes.

use std::path::PathBuf;

use anyhow::Context;
use clap::Parser;
use verbatim::nlp::aspects::tagger::{training_examples, AspectTagger, TAGGER_BUCKETS_LOG2};
use verbatim::nlp::features::FeatureHasher;
use verbatim::nlp::linear::{Example, HashedLinear, Output, TrainParams};
use verbatim::training::absa::{semeval16_targets, term_scores, TargetSentence};

#[derive(Parser)]
struct Args {
    #[arg(long, default_value = "../shared/data")]
    data: PathBuf,
    #[arg(long, default_value = "models/aspects-fast.bin")]
    out: PathBuf,
    /// Fewer epochs and a smaller step than the sentiment model: chosen on the held-out fifth
    /// (training/README.md)
    #[arg(long, default_value_t = 8)]
    epochs: usize,
    #[arg(long, default_value_t = 0.2)]
    learning_rate: f32,
    #[arg(long, default_value_t = 3)]
    runs: usize,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let hasher = FeatureHasher { buckets_log2: TAGGER_BUCKETS_LOG2 };
    let params = TrainParams {
        epochs: args.epochs,
        learning_rate: args.learning_rate,
        runs: args.runs,
        ..TrainParams::default()
    };
    let splits = [semeval16_targets(&args.data, "en")?, semeval16_targets(&args.data, "fr")?];
    let train = |sentences: &[&TargetSentence]| {
        let mut examples: Vec<Example> =
            sentences.iter().flat_map(|s| training_examples(hasher, &s.text, &s.terms)).collect();
        AspectTagger::new(HashedLinear::train(hasher, Output::Exclusive, 3, &mut examples, params))
    };
    let four_fifths: Vec<&TargetSentence> = splits.iter().flat_map(|s| &s.train).collect();
    let tagger = train(&four_fifths);
    for split in &splits {
        let scores = term_scores(&split.held_out, |text| tagger.terms(text));
        println!("{} held-out fifth ({} sentences): {scores}", split.held_out[0].language, split.held_out.len());
    }
    let all: Vec<&TargetSentence> = splits.iter().flat_map(|s| s.train.iter().chain(&s.held_out)).collect();
    let bytes = train(&all).model().to_bytes();
    std::fs::write(&args.out, &bytes).with_context(|| format!("writing {}", args.out.display()))?;
    println!("wrote {} ({} bytes, trained on {} sentences)", args.out.display(), bytes.len(), all.len());
    Ok(())
}
