//! Throughput of `verbatim analyze` (fast tier), end to end through the release binary:
//! JSONL in, one JSON line out per document, sentences included.
//!
//! Run: `cargo bench --features training --bench analyze` (needs ../shared/data; `ANALYZE_DOCUMENTS` sets the count,
//! default 100,000). Documents are real texts of the sentiment training mix, cycled: airline
//! tweets, French Trustpilot reviews, French TV-series reviews, film reviews, tweets, support
//! queries (the mix as it was before issue 14 added product reviews, titles and complaint
//! narratives).

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Instant;

use verbatim::training::corpora::sentiment_data;

const BIN: &str = env!("CARGO_BIN_EXE_verbatim");
/// Training sources left out of the benchmark's documents, so its figures stay comparable:
/// the long texts issue 14 added (product reviews, titles, complaint narratives).
const ADDED_IN_ISSUE_14: [&str; 4] = ["marc_fr", "marc_en", "titles", "cfpb"];

fn main() -> anyhow::Result<()> {
    if std::env::args().skip(1).any(|a| !a.starts_with("--") && a != "analyze") {
        return Ok(());
    }
    let n: usize = std::env::var("ANALYZE_DOCUMENTS").ok().and_then(|v| v.parse().ok()).unwrap_or(100_000);
    let data = sentiment_data(Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/data")))?;
    // The sources of the mix before issue 14 added long product reviews and titles: the same
    // documents as every figure in benches/RESULTS.md (airline tweets less their 20 % hold-out),
    // but for the support queries, 6,000 of two kinds since 2026-11-28 instead of 3,000.
    let texts: Vec<&str> =
        data.train.iter().filter(|l| !ADDED_IN_ISSUE_14.contains(&l.source)).map(|l| l.text.as_str()).collect();
    let work = tempfile::tempdir()?;
    let input = work.path().join("documents.jsonl");
    let mut out = std::io::BufWriter::new(std::fs::File::create(&input)?);
    let mut chars = 0;
    for (i, text) in texts.iter().cycle().take(n).enumerate() {
        chars += text.chars().count();
        writeln!(out, "{}", serde_json::json!({"id": i.to_string(), "text": text}))?;
    }
    drop(out);
    let started = Instant::now();
    let status = Command::new(BIN)
        .args(["analyze", "--model", "fast", "--input", input.to_str().unwrap()])
        .stdout(Stdio::null())
        .status()?;
    let seconds = started.elapsed().as_secs_f64();
    anyhow::ensure!(status.success(), "verbatim analyze failed: {status}");
    println!("| documents | mean characters | seconds | verbatims/s |\n|---|---|---|---|");
    println!("| {n} | {:.0} | {seconds:.2} | {:.0} |", chars as f64 / n as f64, n as f64 / seconds);
    Ok(())
}
