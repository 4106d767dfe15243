//! Scores a sentiment tier on the evaluation sets and measures its throughput.
//!
//! ```sh
//! cargo run --release --bin eval-sentiment -- --data ../shared/data --model fast
//! cargo run --release --bin eval-sentiment -- --model accurate --models verbatim-data/models
//! ```
//!
//! Prints Markdown for `eval/RESULTS.md`: per set accuracy, macro-F1 and confusion matrix
//! (rows: truth, columns: prediction), a per-language summary, each set's expected calibration
//! error, language-detection accuracy, and documents per second.
//! Binary sets (no neutral gold label) read each prediction as the likelier of negative and
//! positive; three-class sets use the arg-max.
//!
//! ```sh
//! cargo run --release --bin eval-sentiment -- --cross-validate 5
//! ```
//!
//! scores the fast tier's *recipe* rather than the shipped model: it retrains the tier K times,
//! each time without one K-th of the MR and TweetEval files (training and hold-out parts alike),
//! and scores the pooled out-of-fold predictions on the whole files: 7,108 reviews and 2,000
//! tweets instead of 1,422 and 400, so a change to features or training is judged on five times
//! the texts, none of them trained on by the model that scored them.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use clap::Parser;
use verbatim::domain::SentimentLabel;
use verbatim::nlp::features::FeatureHasher;
use verbatim::nlp::language;
use verbatim::nlp::linear::{Example, HashedLinear, Output, TrainParams};
use verbatim::nlp::sentiment::{analyze_batch, AccurateSentiment, FastSentiment, SentimentModel, FAST_BUCKETS_LOG2};
use verbatim::training::corpora::{sentiment_data, EvalSet, Labeled, SentimentData};
use verbatim::training::fast_tier_examples;

#[derive(Parser)]
struct Args {
    #[arg(long, default_value = "../shared/data")]
    data: PathBuf,
    /// Which tier to score
    #[arg(long, default_value = "fast")]
    model: String,
    /// Score this model file instead of the shipped one (fast tier)
    #[arg(long)]
    model_file: Option<PathBuf>,
    /// Installed transformer models (accurate tier)
    #[arg(long, env = "VERBATIM_MODELS", default_value = "verbatim-data/models")]
    models: PathBuf,
    /// Score the fast tier's recipe by K-fold cross-validation on MR and TweetEval instead
    #[arg(long, value_name = "K")]
    cross_validate: Option<usize>,
}

fn main() -> anyhow::Result<()> {
    verbatim::engine::keep_freed_buffers();
    let args = Args::parse();
    if let Some(folds) = args.cross_validate {
        anyhow::ensure!(folds >= 2, "--cross-validate needs at least 2 folds");
        anyhow::ensure!(
            args.model == "fast" && args.model_file.is_none(),
            "--cross-validate retrains the fast tier's recipe: it takes no --model accurate or --model-file"
        );
        return cross_validate(sentiment_data(&args.data)?, folds);
    }
    let model: Box<dyn SentimentModel> = match (args.model.as_str(), &args.model_file) {
        ("fast", None) => Box::new(FastSentiment::shipped()?),
        ("fast", Some(path)) => Box::new(FastSentiment::load(path)?),
        ("accurate", None) => Box::new(AccurateSentiment::load(&args.models, Arc::new(FastSentiment::shipped()?))?),
        (other, _) => {
            anyhow::bail!("unknown model `{other}` (or --model-file with accurate); available: fast, accurate")
        }
    };
    let data = sentiment_data(&args.data)?;
    println!("Model: `{}`\n", model.tier());
    println!("| set | n | accuracy | macro-F1 |\n|---|---|---|---|");
    let mut by_language: BTreeMap<&str, (usize, usize)> = BTreeMap::new();
    let mut matrices = Vec::new();
    let mut calibration = Vec::new();
    for set in &data.evals {
        let texts: Vec<&str> = set.items.iter().map(|i| i.text.as_str()).collect();
        let probabilities = model.predict(&texts)?;
        let labels: Vec<SentimentLabel> = set.items.iter().map(|i| i.label).collect();
        calibration.push((set.name, set.items.len(), expected_calibration_error(&probabilities, &labels, set.binary)));
        let predicted: Vec<SentimentLabel> = probabilities.into_iter().map(|p| decide(p, set.binary)).collect();
        let scores = Scores::new(set, &predicted);
        println!(
            "| {} | {} | {:.3} | {:.3} |",
            set.name,
            set.items.len(),
            scores.accuracy(),
            scores.macro_f1(set.binary)
        );
        let entry = by_language.entry(set.items[0].language).or_default();
        entry.0 += scores.correct();
        entry.1 += set.items.len();
        matrices.push((set.name, scores));
    }
    println!("\n| language | n | accuracy (all its sets) |\n|---|---|---|");
    for (language, (correct, n)) in &by_language {
        println!("| {language} | {n} | {:.3} |", *correct as f64 / *n as f64);
    }
    for (name, scores) in &matrices {
        scores.print_confusion(name);
    }
    println!("\n| calibration | n | expected calibration error ({CALIBRATION_BINS} bins) |\n|---|---|---|");
    for (name, n, ece) in &calibration {
        println!("| {name} | {n} | {ece:.3} |");
    }

    println!("\n| language detection | n | detected correctly |\n|---|---|---|");
    for set in &data.evals {
        let correct = set.items.iter().filter(|i| language::detect(&i.text) == i.language).count();
        println!(
            "| {} ({}) | {} | {:.3} |",
            set.name,
            set.items[0].language,
            set.items.len(),
            correct as f64 / set.items.len() as f64
        );
    }

    let documents: Vec<&str> = data.evals.iter().flat_map(|s| s.items.iter().map(|i| i.text.as_str())).collect();
    let started = Instant::now();
    let analysed = analyze_batch(model.as_ref(), &documents)?;
    let seconds = started.elapsed().as_secs_f64();
    let sentences: usize = analysed.iter().map(|a| a.sentences.len()).sum();
    println!(
        "\nThroughput (documents and their sentences, {} threads): {} documents ({} sentences) in {:.3} s = {:.0} documents/s",
        rayon::current_num_threads(),
        documents.len(),
        sentences,
        seconds,
        documents.len() as f64 / seconds
    );
    Ok(())
}

/// Sources scored whole by `--cross-validate`, with the evaluation set holding their other part.
const CROSS_VALIDATED: [(&str, &str); 2] = [("mr", "en_mr_holdout20"), ("tweeteval", "en_tweeteval_val_holdout20")];

fn cross_validate(data: SentimentData, folds: usize) -> anyhow::Result<()> {
    let SentimentData { train, evals } = data;
    let (scored, rest): (Vec<Labeled>, Vec<Labeled>) =
        train.into_iter().partition(|item| CROSS_VALIDATED.iter().any(|(source, _)| item.source == *source));
    let mut sets: Vec<EvalSet> = evals
        .into_iter()
        .filter_map(|set| {
            let (source, _) = CROSS_VALIDATED.iter().find(|(_, name)| *name == set.name)?;
            let mut items: Vec<Labeled> = scored.iter().filter(|i| i.source == *source).cloned().collect();
            items.extend(set.items);
            Some(EvalSet { name: source, items, binary: set.binary })
        })
        .collect();
    sets.sort_by_key(|set| set.name);
    let hasher = FeatureHasher { buckets_log2: FAST_BUCKETS_LOG2 };
    let mut predicted: Vec<Vec<SentimentLabel>> =
        sets.iter().map(|set| vec![SentimentLabel::Neutral; set.items.len()]).collect();
    let started = Instant::now();
    for fold in 0..folds {
        let in_fold = |i: usize| i % folds == fold;
        let mut mix = rest.clone();
        for set in &sets {
            mix.extend(set.items.iter().enumerate().filter(|(i, _)| !in_fold(*i)).map(|(_, item)| item.clone()));
        }
        let mut examples: Vec<Example> = fast_tier_examples(&mix, hasher).into_iter().map(|(_, e)| e).collect();
        let model = FastSentiment::from_model(HashedLinear::train(
            hasher,
            Output::Exclusive,
            SentimentLabel::ALL.len(),
            &mut examples,
            TrainParams::default(),
        ));
        for (set, predicted) in sets.iter().zip(&mut predicted) {
            let rows: Vec<usize> = (0..set.items.len()).filter(|&i| in_fold(i)).collect();
            let texts: Vec<&str> = rows.iter().map(|&i| set.items[i].text.as_str()).collect();
            for (row, p) in rows.into_iter().zip(model.probabilities(&texts)) {
                predicted[row] = decide(p, set.binary);
            }
        }
    }
    println!("Fast tier recipe, {folds}-fold cross-validation ({:.0} s)\n", started.elapsed().as_secs_f64());
    println!("| file (whole) | n | accuracy | macro-F1 |\n|---|---|---|---|");
    for (set, predicted) in sets.iter().zip(&predicted) {
        let scores = Scores::new(set, predicted);
        println!(
            "| {} | {} | {:.3} | {:.3} |",
            set.name,
            set.items.len(),
            scores.accuracy(),
            scores.macro_f1(set.binary)
        );
    }
    for (set, predicted) in sets.iter().zip(&predicted).filter(|(set, _)| !set.binary) {
        Scores::new(set, predicted).print_confusion(set.name);
    }
    Ok(())
}

/// Equal-width confidence bins of the calibration error.
const CALIBRATION_BINS: usize = 10;

/// Expected calibration error: predictions are binned by the probability of the class they
/// decide, and each bin's gap between that mean probability and its accuracy is weighted by its
/// share of the predictions. On binary sets the decided class is the likelier of negative and
/// positive, its probability renormalised over the two (as binary sets are read).
fn expected_calibration_error(probabilities: &[[f32; 3]], truth: &[SentimentLabel], binary: bool) -> f64 {
    // Per bin: summed confidence, correct predictions.
    let mut bins = [(0.0f64, 0.0f64); CALIBRATION_BINS];
    for (p, truth) in probabilities.iter().zip(truth) {
        let decided = decide(*p, binary);
        let confidence = match binary {
            true => f64::from(p[decided.index()]) / f64::from(p[0] + p[2]).max(f64::MIN_POSITIVE),
            false => f64::from(p[decided.index()]),
        };
        let bin = ((confidence * CALIBRATION_BINS as f64) as usize).min(CALIBRATION_BINS - 1);
        bins[bin].0 += confidence;
        bins[bin].1 += f64::from(u8::from(decided == *truth));
    }
    // Each bin's |accuracy - mean confidence| × its share is |correct - summed confidence| / n.
    let n = probabilities.len().max(1) as f64;
    bins.iter().map(|(confidence, correct)| (confidence - correct).abs() / n).sum()
}

fn decide(p: [f32; 3], binary: bool) -> SentimentLabel {
    if binary {
        if p[0] > p[2] {
            SentimentLabel::Negative
        } else {
            SentimentLabel::Positive
        }
    } else {
        verbatim::domain::Sentiment::from_probabilities(p).label
    }
}

struct Scores {
    /// `matrix[truth][prediction]`
    matrix: [[usize; 3]; 3],
}

impl Scores {
    fn new(set: &EvalSet, predicted: &[SentimentLabel]) -> Scores {
        let mut matrix = [[0; 3]; 3];
        for (item, prediction) in set.items.iter().zip(predicted) {
            matrix[item.label.index()][prediction.index()] += 1;
        }
        Scores { matrix }
    }

    fn print_confusion(&self, name: &str) {
        println!("\nConfusion matrix, {name} (rows: truth; columns: negative, neutral, positive)\n");
        println!("| truth | negative | neutral | positive |\n|---|---|---|---|");
        for (label, row) in SentimentLabel::ALL.iter().zip(&self.matrix) {
            println!("| {} | {} | {} | {} |", label.as_str(), row[0], row[1], row[2]);
        }
    }

    fn correct(&self) -> usize {
        (0..3).map(|i| self.matrix[i][i]).sum()
    }

    fn accuracy(&self) -> f64 {
        self.correct() as f64 / self.matrix.iter().flatten().sum::<usize>() as f64
    }

    /// Mean F1 over the classes the set's labels use (negative and positive for binary sets).
    fn macro_f1(&self, binary: bool) -> f64 {
        let classes: &[usize] = if binary { &[0, 2] } else { &[0, 1, 2] };
        let f1 = |c: usize| {
            let tp = self.matrix[c][c] as f64;
            let predicted: usize = (0..3).map(|t| self.matrix[t][c]).sum();
            let actual: usize = self.matrix[c].iter().sum();
            if tp == 0.0 {
                0.0
            } else {
                2.0 * tp / (predicted + actual) as f64
            }
        };
        classes.iter().map(|&c| f1(c)).sum::<f64>() / classes.len() as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn calibration_error_is_the_weighted_gap_between_confidence_and_accuracy() {
        use SentimentLabel::{Negative, Positive};
        // Two predictions at 0.9 (bin 9): one right, one wrong; two at 0.65 (bin 6), both right.
        let p = [[0.9, 0.05, 0.05], [0.9, 0.05, 0.05], [0.2, 0.15, 0.65], [0.2, 0.15, 0.65]];
        let truth = [Negative, Positive, Positive, Positive];
        // Bin 9: |0.5 - 0.9| × 2/4; bin 6: |1.0 - 0.65| × 2/4.
        let expected = 0.4 * 0.5 + 0.35 * 0.5;
        assert!((expected_calibration_error(&p, &truth, false) - expected).abs() < 1e-6);
    }

    #[test]
    fn macro_f1_matches_a_hand_computation() {
        // truth negative: 8 right, 2 called positive; truth positive: 6 right, 4 called negative.
        let scores = Scores { matrix: [[8, 0, 2], [0, 0, 0], [4, 0, 6]] };
        assert!((scores.accuracy() - 0.7).abs() < 1e-9);
        let f1_neg = 2.0 * 8.0 / (12.0 + 10.0);
        let f1_pos = 2.0 * 6.0 / (8.0 + 10.0);
        assert!((scores.macro_f1(true) - (f1_neg + f1_pos) / 2.0).abs() < 1e-9);
    }
}
