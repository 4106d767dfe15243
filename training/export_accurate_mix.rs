//! Writes the `accurate` tier's training inputs for `training/finetune_accurate.py`.
//!
//! ```sh
//! cargo run --release --bin export-accurate-mix -- --data ../shared/data --out target/accurate-mix
//! ```
//!
//! The mix, its labels and class weights are defined once (`verbatim::training::corpora`) for both
//! tiers; the accurate tier also reads the sources the fast tier skips. Each training text
//! carries the `fast` tier's probabilities, which the accurate head reads beside the embedding. The fast tier was trained
//! on these same texts, so its probabilities on them are overconfident; the export gives
//! *out-of-fold* probabilities instead (K fast models, each trained without one fold), as
//! stacking requires. Evaluation sets carry the shipped fast tier's probabilities, as at
//! inference. Fixed seeds: same data, same flags, same bytes.
//!
//! Output: `train.jsonl` and `eval-<set>.jsonl`, one `{"text","label","weight","fast"}` per
//! line (`label` 0 negative, 1 neutral, 2 positive; `binary` on evaluation rows whose set has
//! no neutral class).

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::Parser;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;
use serde_json::json;
use verbatim::domain::SentimentLabel;
use verbatim::nlp::features::FeatureHasher;
use verbatim::nlp::linear::{Example, HashedLinear, Output, TrainParams};
use verbatim::nlp::sentiment::{FastSentiment, FAST_BUCKETS_LOG2};
use verbatim::training::corpora::{balanced_weights, sentiment_data, Labeled};
use verbatim::training::fast_tier_examples;

#[derive(Parser)]
struct Args {
    #[arg(long, default_value = "../shared/data")]
    data: PathBuf,
    #[arg(long, default_value = "target/accurate-mix")]
    out: PathBuf,
    /// Folds for the out-of-fold fast-tier probabilities
    #[arg(long, default_value_t = 5)]
    folds: usize,
}

const SEED: u64 = 20261124;

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let data = sentiment_data(&args.data)?;
    std::fs::create_dir_all(&args.out).with_context(|| format!("creating {}", args.out.display()))?;

    let fast = out_of_fold_fast(&data.train, args.folds);
    let weights = balanced_weights(&data.train);
    let rows = data.train.iter().zip(&weights).zip(&fast).map(|((item, weight), fast)| {
        json!({"text": item.text, "label": item.label.index(), "weight": weight, "fast": fast})
    });
    write_jsonl(&args.out.join("train.jsonl"), rows)?;

    let shipped = FastSentiment::shipped()?;
    for set in &data.evals {
        let texts: Vec<&str> = set.items.iter().map(|i| i.text.as_str()).collect();
        let rows = set.items.iter().zip(shipped.probabilities(&texts)).map(|(item, fast)| {
            json!({"text": item.text, "label": item.label.index(), "weight": 1.0, "fast": fast, "binary": set.binary})
        });
        write_jsonl(&args.out.join(format!("eval-{}.jsonl", set.name)), rows)?;
    }
    println!(
        "wrote {} training texts and {} evaluation sets to {}",
        data.train.len(),
        data.evals.len(),
        args.out.display()
    );
    Ok(())
}

fn write_jsonl(path: &Path, rows: impl Iterator<Item = serde_json::Value>) -> anyhow::Result<()> {
    let mut out =
        std::io::BufWriter::new(std::fs::File::create(path).with_context(|| format!("creating {}", path.display()))?);
    for row in rows {
        writeln!(out, "{row}")?;
    }
    out.flush().with_context(|| format!("writing {}", path.display()))
}

/// Fast-tier probabilities for each training text from a fast model that never saw it: K
/// models trained as the fast tier is ([`fast_tier_examples`]), each without one fold.
fn out_of_fold_fast(items: &[Labeled], folds: usize) -> Vec<[f32; 3]> {
    let hasher = FeatureHasher { buckets_log2: FAST_BUCKETS_LOG2 };
    let examples = fast_tier_examples(items, hasher);
    let fold_of: Vec<usize> = {
        let mut rng = ChaCha8Rng::seed_from_u64(SEED ^ 0xF01D);
        (0..items.len()).map(|_| rng.random_range(0..folds)).collect()
    };
    let features: Vec<Vec<u32>> = items.par_iter().map(|i| hasher.features(&i.text)).collect();
    let mut probabilities = vec![[0f32; 3]; items.len()];
    for fold in 0..folds {
        let mut training: Vec<Example> =
            examples.iter().filter(|(i, _)| fold_of[*i] != fold).map(|(_, example)| example.clone()).collect();
        let model = HashedLinear::train(
            hasher,
            Output::Exclusive,
            SentimentLabel::ALL.len(),
            &mut training,
            TrainParams::default(),
        );
        for i in (0..items.len()).filter(|&i| fold_of[i] == fold) {
            let p = model.probabilities(&features[i]);
            probabilities[i] = [p[0], p[1], p[2]];
        }
        eprintln!("fast tier fold {}/{folds} done", fold + 1);
    }
    probabilities
}
