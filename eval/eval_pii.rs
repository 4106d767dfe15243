//! Scores personal-data detection on the project's labeled set (`eval/data/pii_cases.jsonl`,
//! written by `eval/data/make_pii_cases.py`): precision and recall per kind, and how many
//! messages with nothing personal (order numbers, dates, prices, codes) lost something.
//!
//! ```sh
//! cargo run --release --features training --bin eval-pii
//! ```
//!
//! A finding counts when its kind and its exact text equal a labeled value.

use std::collections::BTreeMap;
use std::path::PathBuf;

use clap::Parser;
use serde::Deserialize;
use verbatim::domain::PiiKind;
use verbatim::nlp::pii::find;

#[derive(Parser)]
struct Args {
    #[arg(long, default_value = "eval/data/pii_cases.jsonl")]
    cases: PathBuf,
    /// Print every miss and false alarm
    #[arg(long)]
    errors: bool,
}

#[derive(Deserialize)]
struct Case {
    language: String,
    text: String,
    pii: Vec<Labeled>,
}

#[derive(Deserialize, PartialEq)]
struct Labeled {
    #[serde(rename = "type")]
    kind: PiiKind,
    value: String,
}

#[derive(Default)]
struct Score {
    found: usize,
    expected: usize,
    right: usize,
}

impl Score {
    fn cells(&self) -> String {
        let ratio = |a: usize, b: usize| if b == 0 { "-".to_string() } else { format!("{:.3}", a as f64 / b as f64) };
        format!(
            "{} | {} | {} | {} |",
            self.expected,
            self.found,
            ratio(self.right, self.found),
            ratio(self.right, self.expected)
        )
    }
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let text = std::fs::read_to_string(&args.cases)?;
    let cases: Vec<Case> = text.lines().map(serde_json::from_str).collect::<Result<_, _>>()?;
    let mut by_kind: BTreeMap<&str, Score> = BTreeMap::new();
    let mut by_language: BTreeMap<String, Score> = BTreeMap::new();
    let mut clean = (0, 0);
    for case in &cases {
        let found: Vec<Labeled> = find(&case.text)
            .into_iter()
            .map(|f| Labeled { kind: f.kind, value: case.text[f.start..f.end].to_string() })
            .collect();
        if case.pii.is_empty() {
            clean.0 += 1;
            clean.1 += usize::from(!found.is_empty());
        }
        for kind in PiiKind::ALL {
            let score = by_kind.entry(kind.as_str()).or_default();
            let language = by_language.entry(case.language.clone()).or_default();
            let expected = case.pii.iter().filter(|l| l.kind == kind).count();
            let got: Vec<&Labeled> = found.iter().filter(|f| f.kind == kind).collect();
            let right = got.iter().filter(|f| case.pii.contains(f)).count();
            for s in [score, language] {
                s.expected += expected;
                s.found += got.len();
                s.right += right;
            }
        }
        if args.errors {
            for miss in case.pii.iter().filter(|l| !found.contains(l)) {
                println!("missed {} `{}` in: {}", miss.kind.as_str(), miss.value, case.text);
            }
            for alarm in found.iter().filter(|f| !case.pii.contains(f)) {
                println!("false {} `{}` in: {}", alarm.kind.as_str(), alarm.value, case.text);
            }
        }
    }
    println!("{} cases ({} with nothing personal)\n", cases.len(), clean.0);
    println!("| kind | labeled | found | precision | recall |");
    println!("|---|---|---|---|---|");
    let mut all = Score::default();
    for (kind, score) in &by_kind {
        println!("| {kind} | {}", score.cells());
        all.expected += score.expected;
        all.found += score.found;
        all.right += score.right;
    }
    println!("| **all** | {}", all.cells());
    for (language, score) in &by_language {
        println!("| all, `{language}` | {}", score.cells());
    }
    println!("\nmessages with nothing personal that lost something: {} of {}", clean.1, clean.0);
    Ok(())
}
