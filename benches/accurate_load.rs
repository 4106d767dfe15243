//! Concurrent `accurate` clients: total throughput and the longest wait, through the real
//! server. 8 clients each post `LOAD_REQUESTS` requests (default 6) of 10 real customer texts
//! (reviews and complaints from the shared data, French and English) to `POST /v1/analyze`
//! with `"model":"accurate"`, each client waiting for its answer before sending the next.
//!
//! A second phase sends one large request (100 documents of about 2,500 characters, each
//! several reviews joined) while 7 clients keep sending small ones: the small requests' waits
//! show whether a large request holds the encoder.
//!
//! Run: `cargo bench --features training --bench accurate_load` (needs ../shared/data and the
//! models, installed by the test harness). `LOAD_BIN=/path/to/verbatim` measures another build
//! of the server with the same workload (the baseline in benches/RESULTS.md).
//! Prints a Markdown row for `benches/RESULTS.md`.

#[path = "../tests/common/mod.rs"]
mod common;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use serde_json::json;
use verbatim::training::corpora::sentiment_data;

const CLIENTS: usize = 8;
const DOCUMENTS_PER_REQUEST: usize = 10;

fn main() -> anyhow::Result<()> {
    if std::env::args().skip(1).any(|a| !a.starts_with("--") && a != "accurate_load") {
        return Ok(());
    }
    let requests: usize = std::env::var("LOAD_REQUESTS").ok().and_then(|v| v.parse().ok()).unwrap_or(6);
    let binary = std::env::var("LOAD_BIN").map(PathBuf::from).unwrap_or_else(|_| PathBuf::from(common::BIN));
    let data = sentiment_data(std::path::Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/data")))?;
    // Every other customer text of the mix, up to 600 characters: reviews, complaints, tweets.
    let texts: Vec<String> =
        data.train.iter().step_by(7).filter(|l| l.text.chars().count() <= 600).map(|l| l.text.clone()).collect();
    let models = common::installed_models();
    let (_guard, dir) = common::data_dir();
    let server = common::Server::start_binary(&binary, &dir, &["--models", models.to_str().unwrap()]);
    // Load the encoder before timing.
    let warm = server.post("/v1/analyze", &json!({"model": "accurate", "documents": [{"id": "w", "text": "ok"}]}));
    anyhow::ensure!(warm.status == 200, "warm-up failed: {} {}", warm.status, warm.body);

    let started = Instant::now();
    let results: Vec<(Vec<Duration>, usize, usize)> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..CLIENTS)
            .map(|client| {
                let (server, texts) = (&server, &texts);
                scope.spawn(move || {
                    let (mut latencies, mut documents, mut busy) = (Vec::new(), 0, 0);
                    for request in 0..requests {
                        let first = (client * requests + request) * DOCUMENTS_PER_REQUEST;
                        let documents_json: Vec<_> = (first..first + DOCUMENTS_PER_REQUEST)
                            .map(|i| json!({"id": i.to_string(), "text": texts[i % texts.len()]}))
                            .collect();
                        let sent = Instant::now();
                        let reply =
                            server.post("/v1/analyze", &json!({"model": "accurate", "documents": documents_json}));
                        latencies.push(sent.elapsed());
                        match reply.status {
                            200 => documents += reply.body["documents"].as_array().map_or(0, Vec::len),
                            503 => busy += 1,
                            other => panic!("unexpected {other}: {}", reply.body),
                        }
                    }
                    (latencies, documents, busy)
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let seconds = started.elapsed().as_secs_f64();
    let mut latencies: Vec<Duration> = results.iter().flat_map(|(l, _, _)| l.clone()).collect();
    latencies.sort();
    let documents: usize = results.iter().map(|(_, d, _)| d).sum();
    let busy: usize = results.iter().map(|(_, _, b)| b).sum();
    let p50 = latencies[latencies.len() / 2];
    let max = *latencies.last().unwrap();
    println!("| clients | requests × documents | documents/s | latency p50 | latency max | 503 encoder_busy |");
    println!("|---|---|---|---|---|---|");
    println!(
        "| {CLIENTS} | {} × {DOCUMENTS_PER_REQUEST} | {:.1} | {:.2} s | {:.2} s | {busy} |",
        CLIENTS * requests,
        documents as f64 / seconds,
        p50.as_secs_f64(),
        max.as_secs_f64()
    );

    // Phase 2: one large request among small ones.
    let long: Vec<String> = texts
        .chunks(12)
        .map(|chunk| chunk.join(" "))
        .filter(|t| t.chars().count() >= 2_000)
        .map(|t| t.chars().take(2_500).collect())
        .take(100)
        .collect();
    let large_done = std::sync::atomic::AtomicBool::new(false);
    let (large_seconds, small): (f64, Vec<(Duration, u16)>) = std::thread::scope(|scope| {
        let large = scope.spawn(|| {
            let documents: Vec<_> =
                long.iter().enumerate().map(|(i, t)| json!({"id": format!("L{i}"), "text": t})).collect();
            let sent = Instant::now();
            let reply = server.post("/v1/analyze", &json!({"model": "accurate", "documents": documents}));
            large_done.store(true, std::sync::atomic::Ordering::SeqCst);
            assert_eq!(reply.status, 200, "{}", reply.body);
            sent.elapsed().as_secs_f64()
        });
        std::thread::sleep(Duration::from_millis(500));
        let clients: Vec<_> = (0..CLIENTS - 1)
            .map(|client| {
                let (server, texts, large_done) = (&server, &texts, &large_done);
                scope.spawn(move || {
                    let mut replies = Vec::new();
                    let mut request = 0;
                    while !large_done.load(std::sync::atomic::Ordering::SeqCst) {
                        let first = (client * 1_000 + request) * DOCUMENTS_PER_REQUEST;
                        request += 1;
                        let documents: Vec<_> = (first..first + DOCUMENTS_PER_REQUEST)
                            .map(|i| json!({"id": i.to_string(), "text": texts[i % texts.len()]}))
                            .collect();
                        let sent = Instant::now();
                        let reply = server.post("/v1/analyze", &json!({"model": "accurate", "documents": documents}));
                        replies.push((sent.elapsed(), reply.status));
                        if reply.status == 503 {
                            std::thread::sleep(Duration::from_secs(1));
                        }
                    }
                    replies
                })
            })
            .collect();
        let small = clients.into_iter().flat_map(|c| c.join().unwrap()).collect();
        (large.join().unwrap(), small)
    });
    let answered: Vec<Duration> = small.iter().filter(|(_, status)| *status == 200).map(|(d, _)| *d).collect();
    let refused = small.iter().filter(|(_, status)| *status == 503).count();
    println!();
    println!("| large request (100 × ~2,500 characters) | small requests answered | small latency max | small 503 encoder_busy |");
    println!("|---|---|---|---|");
    println!(
        "| {large_seconds:.1} s | {} | {:.2} s | {refused} |",
        answered.len(),
        answered.iter().max().copied().unwrap_or_default().as_secs_f64()
    );
    server.stop();
    Ok(())
}
