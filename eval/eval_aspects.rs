//! Scores aspect polarity on the SemEval-2014 aspect instances, for a sentiment tier, and
//! prints the aspects and stated causes both tiers find in hand-picked customer verbatims.
//!
//! ```sh
//! cargo run --release --features training --bin eval-aspects -- --model fast
//! cargo run --release --features training --bin eval-aspects -- --model accurate --models verbatim-data/models
//! ```
//!
//! Each instance is judged on its aspect's clause (as the service does) and, for comparison, on
//! its whole sentence. The accurate tier's adapter trained on the sentences whose aspects all
//! agree (training/README.md), so its figure on all instances is optimistic; the instances of
//! sentences with aspects of different polarities were never trained on, and are scored apart.
//! Term extraction is scored by `train-aspects`, which holds its test sentences out itself.

use std::path::PathBuf;

use clap::Parser;
use verbatim::domain::Sentiment;
use verbatim::nlp::aspects::judge;
use verbatim::nlp::causes::stated_causes;
use verbatim::nlp::sentiment::{FastSentiment, SentimentModel};
use verbatim::pipeline::Analyzer;
use verbatim::training::absa::{semeval14_polarities, AspectPolarity};

#[derive(Parser)]
struct Args {
    #[arg(long, default_value = "../shared/data")]
    data: PathBuf,
    /// `fast` or `accurate`
    #[arg(long, default_value = "fast")]
    model: String,
    /// Installed transformer models (accurate tier)
    #[arg(long, env = "VERBATIM_MODELS", default_value = "verbatim-data/models")]
    models: PathBuf,
    /// Print the hand-picked customer verbatims' aspects and causes
    #[arg(long)]
    cases: bool,
}

/// Short customer verbatims, French and English, for the table in eval/RESULTS.md.
const CASES: [&str; 12] = [
    "Great product but delivery was a disaster",
    "Produit conforme mais livraison très lente",
    "The agent was rude and the refund never came",
    "Service client injoignable, remboursement toujours pas reçu",
    "Colis arrivé abîmé à cause du transporteur",
    "I cancelled because the app kept crashing",
    "Très bon accueil, personnel souriant et efficace",
    "Prix trop élevé pour la qualité",
    "Delivery was quick, packaging could be better",
    "Je résilie car les frais ont encore augmenté",
    "Love the app, hate the new fees",
    "Commande annulée suite à une erreur de stock",
];

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let analyzer = Analyzer::new(&args.models)?;
    let model = analyzer.model_named(&args.model)?;
    let fast = analyzer.fast();
    for file in ["Restaurants_Train.xml.seg", "Laptops_Train.xml.seg"] {
        let instances = semeval14_polarities(&args.data, file)?;
        let mixed: Vec<AspectPolarity> = instances.iter().filter(|i| i.mixed).cloned().collect();
        for (part, items) in [("all", &instances), ("mixed sentences", &mixed)] {
            let (clause, sentence) = accuracies(model, fast, items)?;
            println!(
                "{} {file}, {part} ({} instances): as served {clause:.3}, whole sentence {sentence:.3}",
                args.model,
                items.len()
            );
        }
    }
    if args.cases {
        let found = analyzer.aspects().aspects(model, fast, &CASES)?;
        for (text, aspects) in CASES.iter().zip(found) {
            let aspects: Vec<String> = aspects
                .iter()
                .map(|a| {
                    let opinion = a.opinion.as_ref().map_or(String::new(), |o| format!(" ({})", o.text));
                    format!("{} → {}{opinion}", a.text, a.polarity.as_str())
                })
                .collect();
            let causes: Vec<&str> = stated_causes(text, verbatim::nlp::language::detect(text))
                .into_iter()
                .map(|c| &text[c.bytes])
                .collect();
            println!("| {text} | {} | {} |", aspects.join("; "), causes.join("; "));
        }
    }
    Ok(())
}

/// Accuracy judging each instance as the service does (with the other aspects of its
/// sentence), and on its whole sentence.
fn accuracies(
    model: &dyn SentimentModel,
    fast: &FastSentiment,
    items: &[AspectPolarity],
) -> anyhow::Result<(f64, f64)> {
    let mut sentences: Vec<&str> = Vec::new();
    let mut terms: Vec<Vec<std::ops::Range<usize>>> = Vec::new();
    let mut at: Vec<(usize, usize)> = Vec::new();
    for item in items {
        let s = match sentences.iter().position(|s| *s == item.text) {
            Some(s) => s,
            None => {
                sentences.push(&item.text);
                terms.push(Vec::new());
                sentences.len() - 1
            }
        };
        terms[s].push(item.term.clone());
        at.push((s, terms[s].len() - 1));
    }
    let aspects = judge(model, fast, &sentences, terms)?;
    let by_service = items.iter().zip(&at).filter(|(i, (s, t))| aspects[*s][*t].polarity == i.label).count();
    let texts: Vec<&str> = items.iter().map(|i| i.text.as_str()).collect();
    let whole = model.predict(&texts)?;
    let by_sentence =
        items.iter().zip(whole).filter(|(i, p)| Sentiment::from_probabilities(*p).label == i.label).count();
    Ok((by_service as f64 / items.len().max(1) as f64, by_sentence as f64 / items.len().max(1) as f64))
}
