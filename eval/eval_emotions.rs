//! Scores a tier's emotion model on the held-out emotion sets.
//!
//! ```sh
//! cargo run --release --features training --bin eval-emotions -- --data ../shared/data --model fast
//! cargo run --release --features training --bin eval-emotions -- --model accurate --models target/tmp/models
//! ```
//!
//! Prints Markdown for `eval/RESULTS.md`:
//! - GoEmotions dev (English Reddit comments): macro-F1 over the 27 emotions and neutral, and
//!   grouped into Ekman's six emotions and neutral as GoEmotions groups them (a text is
//!   neutral when the model finds no emotion), with each group's F1;
//! - EmoDIFT's held-out fifth (French tweets): anger detection F1, a tweet being angry when its
//!   `Colere` intensity is ≥ 0.5 and read as angry when `anger` is found;
//! - how many texts of each set get no emotion.
//!
//! The accurate tier's embeddings are cached under `target/tmp/emotion-embeddings` (its rate is
//! measured end to end by `verbatim analyze`, benches/RESULTS.md).

use std::path::PathBuf;
use std::sync::Arc;

use clap::Parser;
use verbatim::domain::{Emotion, EmotionScore, Tier};
use verbatim::nlp::emotions::{AccurateEmotions, EmotionModel, FastEmotions};
use verbatim::nlp::encoding::Encoding;
use verbatim::nlp::sentiment::FastSentiment;
use verbatim::pipeline::Analyzer;
use verbatim::training::emotion_sets::{
    ekman, embeddings, embeddings_cache, emodift, f1, goemotions, EmotionExample, EKMAN,
};

#[derive(Parser)]
struct Args {
    #[arg(long, default_value = "../shared/data")]
    data: PathBuf,
    /// Which tier to score
    #[arg(long, default_value = "fast")]
    model: Tier,
    /// Score this model file instead of the shipped one (the fast model, or the accurate head)
    #[arg(long)]
    model_file: Option<PathBuf>,
    /// Installed transformer models (accurate tier)
    #[arg(long, env = "VERBATIM_MODELS", default_value = "verbatim-data/models")]
    models: PathBuf,
}

/// Per-class F1 of multi-label predictions against gold label sets.
fn per_class_f1(classes: &[&str], predicted: &[Vec<&str>], gold: &[Vec<&str>]) -> Vec<f32> {
    classes
        .iter()
        .map(|class| f1(predicted.iter().map(|p| p.contains(class)), gold.iter().map(|g| g.contains(class))))
        .collect()
}

fn mean(values: &[f32]) -> f32 {
    values.iter().sum::<f32>() / values.len() as f32
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let english = goemotions(&args.data)?.eval;
    let french = emodift(&args.data)?.eval;
    let analyzer = Analyzer::new(&args.models)?;
    let from_file: Option<Box<dyn EmotionModel>> = match (&args.model_file, args.model) {
        (None, _) => None,
        (Some(path), Tier::Fast) => Some(Box::new(FastEmotions::load(path)?)),
        (Some(path), Tier::Accurate) => {
            let bytes = std::fs::read(path)?;
            let fast = Arc::new(FastEmotions::shipped()?);
            Some(Box::new(AccurateEmotions::from_bytes(&bytes, fast, analyzer.model(Tier::Accurate)?.version())?))
        }
    };
    let model: &dyn EmotionModel = match &from_file {
        Some(model) => model.as_ref(),
        None => analyzer.emotions(args.model)?,
    };
    let found = |set: &str, items: &[EmotionExample]| -> anyhow::Result<Vec<Vec<EmotionScore>>> {
        let texts: Vec<&str> = items.iter().map(|e| e.text.as_str()).collect();
        let hasher = FastSentiment::shipped()?;
        let encodings: Vec<Encoding> = match model.tier() {
            Tier::Fast => texts.iter().map(|t| Encoding::Hashed(hasher.features(t))).collect(),
            Tier::Accurate => {
                let sentiment = analyzer.model(Tier::Accurate)?;
                let cache = embeddings_cache(sentiment.version(), set, &texts);
                eprintln!("embedding {set} ({})", cache.display());
                embeddings(sentiment, &texts, &cache)?
                    .into_iter()
                    .zip(&texts)
                    .map(|(embedding, text)| Encoding::Embedded { embedding, features: hasher.features(text) })
                    .collect()
            }
        };
        model.emotions(&encodings.iter().collect::<Vec<_>>())
    };

    println!("## Emotions, {} tier (model {})\n", model.tier(), model.version());
    let predicted = found("goemotions-dev", &english)?;
    let names = |found: &[EmotionScore]| -> Vec<&'static str> {
        match found.is_empty() {
            true => vec!["neutral"],
            false => found.iter().map(|e| e.label.as_str()).collect(),
        }
    };
    let all: Vec<&str> = Emotion::ALL.iter().map(|e| e.as_str()).chain(["neutral"]).collect();
    let predicted_names: Vec<Vec<&str>> = predicted.iter().map(|f| names(f)).collect();
    let gold_names: Vec<Vec<&str>> = english
        .iter()
        .map(|e| {
            let present: Vec<&str> =
                Emotion::ALL.iter().filter(|em| e.present[em.index()] >= 0.5).map(|em| em.as_str()).collect();
            if present.is_empty() {
                vec!["neutral"]
            } else {
                present
            }
        })
        .collect();
    let fine = per_class_f1(&all, &predicted_names, &gold_names);
    let grouped_predicted: Vec<Vec<&str>> = predicted
        .iter()
        .map(|found| {
            let mut groups: Vec<&str> = found.iter().map(|e| ekman(e.label)).collect();
            groups.sort_unstable();
            groups.dedup();
            if groups.is_empty() {
                groups.push("neutral");
            }
            groups
        })
        .collect();
    let grouped_gold: Vec<Vec<&str>> = english.iter().map(|e| e.ekman.iter().map(String::as_str).collect()).collect();
    let grouped = per_class_f1(&EKMAN, &grouped_predicted, &grouped_gold);
    let none = predicted.iter().filter(|f| f.is_empty()).count();
    println!("| set | texts | macro-F1 | no emotion found |");
    println!("|---|---|---|---|");
    println!(
        "| GoEmotions dev, 27 emotions + neutral | {} | {:.3} | {:.1} % |",
        english.len(),
        mean(&fine),
        100.0 * none as f32 / english.len() as f32
    );
    println!("| GoEmotions dev, Ekman 6 + neutral | {} | **{:.3}** | |", english.len(), mean(&grouped));

    let predicted = found("emodift-holdout", &french)?;
    let says_angry: Vec<Vec<&str>> = predicted
        .iter()
        .map(|found| if found.iter().any(|e| e.label == Emotion::Anger) { vec!["anger"] } else { vec![] })
        .collect();
    let angry: Vec<Vec<&str>> =
        french.iter().map(|e| if e.present[Emotion::Anger.index()] >= 0.5 { vec!["anger"] } else { vec![] }).collect();
    let none = predicted.iter().filter(|f| f.is_empty()).count();
    println!(
        "| EmoDIFT hold-out (fr), anger F1 | {} ({} angry) | **{:.3}** | {:.1} % |",
        french.len(),
        angry.iter().filter(|a| !a.is_empty()).count(),
        per_class_f1(&["anger"], &says_angry, &angry)[0],
        100.0 * none as f32 / french.len() as f32
    );
    println!("\nEkman groups, F1 on GoEmotions dev:\n");
    println!("| {} |", EKMAN.join(" | "));
    println!("|{}", "---|".repeat(EKMAN.len()));
    println!("| {} |", grouped.iter().map(|f| format!("{f:.3}")).collect::<Vec<_>>().join(" | "));
    Ok(())
}
