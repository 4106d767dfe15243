//! Throughput of personal-data redaction (what `redact_pii = ["all"]` adds to ingestion), on
//! one core, on real customer texts: the training mix of the sentiment data (reviews, titles,
//! tweets; French and English).
//!
//! Run: `cargo bench --features training --bench pii` (needs ../shared/data).

use std::path::Path;
use std::time::Instant;

use verbatim::domain::PiiKind;
use verbatim::nlp::pii::Redactor;
use verbatim::training::corpora::sentiment_data;

fn main() -> anyhow::Result<()> {
    if std::env::args().skip(1).any(|a| !a.starts_with("--") && a != "pii") {
        return Ok(());
    }
    let data = sentiment_data(Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/data")))?;
    let texts: Vec<&str> = data.train.iter().map(|l| l.text.as_str()).take(100_000).collect();
    let redactor = Redactor::new(PiiKind::ALL);
    // The patterns compile on first use; time the steady state.
    redactor.redact("warm-up 06 12 34 56 78");
    let started = Instant::now();
    let redacted = texts.iter().filter(|t| redactor.redact(t).is_some()).count();
    let seconds = started.elapsed().as_secs_f64();
    let chars: usize = texts.iter().map(|t| t.chars().count()).sum();
    println!("| verbatims | mean characters | seconds | verbatims/s (one core) | with something redacted |");
    println!("|---|---|---|---|---|");
    println!(
        "| {} | {:.0} | {seconds:.2} | {:.0} | {redacted} |",
        texts.len(),
        chars as f64 / texts.len() as f64,
        texts.len() as f64 / seconds
    );
    Ok(())
}
