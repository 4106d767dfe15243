//! Encoder throughput: texts per second through [`BertEncoder`] on an installed model folder.
//!
//! ```sh
//! cargo bench --bench encoder -- --model DIR --texts FILE [--out embeddings.f32]
//! ```
//!
//! `FILE` holds one text per line. The whole file is encoded once to warm up (page in the
//! weights, size the allocator), then timed over `--rounds`. `--out` writes the embeddings
//! (little-endian f32, one row per text) so `benches/encoder_vs_sentence_transformers.sh` can
//! check that candle and PyTorch computed the same thing before comparing their speed. The
//! dense layers run in int8 where the CPU has AVX-512 VNNI, or in f32 with
//! `VERBATIM_ENCODER_INT8=off`, as in the service.

use std::path::PathBuf;
use std::time::Instant;

use verbatim::engine::{BertEncoder, Encoder, Precision};

fn main() -> anyhow::Result<()> {
    verbatim::engine::keep_freed_buffers();
    let mut model = None;
    let mut texts = None;
    let mut out = None;
    let mut rounds = 3usize;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--model" => model = args.next().map(PathBuf::from),
            "--texts" => texts = args.next().map(PathBuf::from),
            "--out" => out = args.next().map(PathBuf::from),
            "--rounds" => rounds = args.next().and_then(|r| r.parse().ok()).unwrap_or(rounds),
            _ => {} // cargo bench passes --bench
        }
    }
    let (Some(model), Some(texts)) = (model, texts) else {
        anyhow::bail!("usage: cargo bench --bench encoder -- --model DIR --texts FILE [--out FILE] [--rounds N]");
    };
    let content = std::fs::read_to_string(&texts)?;
    let lines: Vec<&str> = content.lines().filter(|l| !l.trim().is_empty()).collect();
    let encoder = BertEncoder::load(&model)?;
    let embeddings = encoder.encode(&lines)?;
    if let Some(out) = out {
        let bytes: Vec<u8> = embeddings.iter().flatten().flat_map(|v| v.to_le_bytes()).collect();
        std::fs::write(out, bytes)?;
    }
    let mut best = f64::INFINITY;
    for _ in 0..rounds {
        let started = Instant::now();
        encoder.encode(&lines)?;
        best = best.min(started.elapsed().as_secs_f64());
    }
    println!(
        "candle {}: {} texts, best of {rounds}: {:.2} s = {:.1} texts/s ({} threads, dense layers in {})",
        model.file_name().unwrap_or_default().to_string_lossy(),
        lines.len(),
        best,
        lines.len() as f64 / best,
        rayon::current_num_threads(),
        if Precision::Configured.uses_int8() { "int8" } else { "f32" }
    );
    Ok(())
}
