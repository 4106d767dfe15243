//! Throughput of aspects and stated causes (what `/v1/analyze` adds for them, and what root
//! causes read), in process, on real customer texts: the training mix of the sentiment data
//! (reviews, titles, tweets; French and English), cycled.
//!
//! Run: `cargo bench --features training --bench aspects` (needs ../shared/data).
//! `ASPECT_DOCUMENTS` sets the count for the fast tier (default 100,000); with
//! `VERBATIM_MODELS` naming a folder where multilingual-e5-small is installed, the accurate
//! tier is measured too, on `ASPECT_ACCURATE_DOCUMENTS` (default 1,000).

use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use rayon::prelude::*;
use verbatim::nlp::aspects::AspectExtractor;
use verbatim::nlp::causes::stated_causes;
use verbatim::nlp::sentiment::{AccurateSentiment, FastSentiment, SentimentModel};
use verbatim::training::corpora::sentiment_data;

/// Texts per call, as `/v1/analyze` chunks them.
const BATCH: usize = 512;

fn main() -> anyhow::Result<()> {
    if std::env::args().skip(1).any(|a| !a.starts_with("--") && a != "aspects") {
        return Ok(());
    }
    let count = |name: &str, default: usize| std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default);
    let data = sentiment_data(Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/data")))?;
    let texts: Vec<&str> = data.train.iter().map(|l| l.text.as_str()).collect();
    let fast = Arc::new(FastSentiment::shipped()?);
    let extractor = AspectExtractor::shipped()?;
    println!(
        "| tier | verbatims | mean characters | seconds | verbatims/s | aspects per verbatim | causes per verbatim |"
    );
    println!("|---|---|---|---|---|---|---|");
    let run = |model: &dyn SentimentModel, n: usize, parallel: bool| -> anyhow::Result<()> {
        let sample: Vec<&str> = texts.iter().cycle().take(n).copied().collect();
        let chars: usize = sample.iter().map(|t| t.chars().count()).sum();
        let started = Instant::now();
        let per_batch = |batch: &[&str]| -> anyhow::Result<(usize, usize)> {
            let aspects = extractor.aspects(model, &fast, batch)?;
            let causes: usize = batch.iter().map(|t| stated_causes(t, verbatim::nlp::language::detect(t)).len()).sum();
            Ok((aspects.iter().map(Vec::len).sum(), causes))
        };
        let counts: Vec<(usize, usize)> = if parallel {
            sample.par_chunks(BATCH).map(per_batch).collect::<anyhow::Result<_>>()?
        } else {
            sample.chunks(BATCH).map(per_batch).collect::<anyhow::Result<_>>()?
        };
        let seconds = started.elapsed().as_secs_f64();
        let (aspects, causes) = counts.iter().fold((0, 0), |(a, c), (x, y)| (a + x, c + y));
        println!(
            "| {} | {n} | {:.0} | {seconds:.2} | {:.0} | {:.2} | {:.3} |",
            model.tier().as_str(),
            chars as f64 / n as f64,
            n as f64 / seconds,
            aspects as f64 / n as f64,
            causes as f64 / n as f64
        );
        Ok(())
    };
    run(fast.as_ref(), count("ASPECT_DOCUMENTS", 100_000), true)?;
    if let Ok(models) = std::env::var("VERBATIM_MODELS") {
        let accurate = AccurateSentiment::load(Path::new(&models), fast.clone())?;
        // The encoder spreads each batch over the cores itself.
        run(&accurate, count("ASPECT_ACCURATE_DOCUMENTS", 1_000), false)?;
    }
    Ok(())
}
