//! End-to-end benchmark of the foundation, on the real release binary:
//!
//! 1. ingest N generated verbatims through `POST /v1/verbatims` (batches of 1,000, 2 clients);
//! 2. ingest the same N through `verbatim ingest FILE` into a fresh data directory;
//! 3. run 1,000 searches (words, phrases, filters, newest-first) against the server;
//! 4. ingest the same N through many small concurrent requests (16 clients, 50 items each)
//!    into a fresh data directory while one client searches, measuring search latency under
//!    write load (group commit);
//! 5. `verbatim reprocess --model fast` over 200,000 generated verbatims (a file of its own),
//!    start-up included;
//! 6. N more through `POST /v1/verbatims` into a copy of step 1's data directory, then a topic
//!    discovery over step 1's N stored verbatims in the lightweight mode (no encoder: its job
//!    time is the store read, hashed vectors, clustering and the commit of every verbatim's
//!    topic), then the same N more with that topic model in use, each assigned its topic at
//!    ingestion: the two ingests differ only by the topic model.
//!
//! Run: `cargo bench --bench e2e` (N defaults to 100,000; `E2E_VERBATIMS=20000` for a quick run;
//! `E2E_BIN=/path/to/verbatim` measures another build, a baseline, with the same workload).
//! Prints a Markdown table for `benches/RESULTS.md`.

#[path = "../tests/common/mod.rs"]
mod common;

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{Server, BIN};

/// The build under test: this one, or `E2E_BIN`.
fn binary() -> std::path::PathBuf {
    std::env::var("E2E_BIN").map(Into::into).unwrap_or_else(|_| BIN.into())
}
use serde_json::{json, Value};
const BATCH: usize = 1_000;
const CLIENTS: usize = 2;
const SEARCHES: usize = 1_000;
const SMALL_CLIENTS: usize = 16;
const SMALL_BATCH: usize = 50;

const FR: [&str; 10] = [
    "La livraison est arrivée avec {n} jours de retard, {verdict}",
    "Service client {adj}, j'ai attendu {n} minutes au téléphone",
    "Produit conforme mais l'emballage était abîmé",
    "Très satisfait de la qualité, je recommande",
    "Le remboursement n'est toujours pas arrivé après {n} semaines",
    "Application {adj} : elle plante à chaque mise à jour",
    "Prix trop élevé pour ce que c'est, {verdict}",
    "Vendeur en magasin {adj} et de bon conseil",
    "Colis perdu, aucune réponse du transporteur",
    "Commande reçue rapidement, rien à redire",
];
const EN: [&str; 10] = [
    "Delivery was {n} days late and nobody told me, {verdict}",
    "Customer service was {adj}, waited {n} minutes on hold",
    "The product is fine but the packaging was damaged",
    "Really happy with the quality, would recommend",
    "Still waiting for my refund after {n} weeks",
    "The app is {adj}, it crashes after every update",
    "Way too expensive for what it is, {verdict}",
    "Staff in the store were {adj} and helpful",
    "Parcel lost, the carrier never answered",
    "Order arrived quickly, no complaints",
];
const ADJ_FR: [&str; 4] = ["désagréable", "excellent", "lent", "injoignable"];
const ADJ_EN: [&str; 4] = ["rude", "excellent", "slow", "unreachable"];
const VERDICT_FR: [&str; 3] = ["très déçu", "je ne reviendrai pas", "dommage"];
const VERDICT_EN: [&str; 3] = ["very disappointed", "never again", "shame"];
const CHANNELS: [&str; 8] = ["survey", "email", "review", "social", "chat", "ticket", "call", "other"];
const STORES: [&str; 5] = ["Lyon", "Paris", "Lille", "Nantes", "Bordeaux"];

/// xorshift64*: deterministic, so every run measures the same data.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[(self.next() % items.len() as u64) as usize]
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

fn verbatims(n: usize) -> Vec<Value> {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    (0..n)
        .map(|i| {
            let french = rng.below(2) == 0;
            let (templates, adj, verdict, language) =
                if french { (&FR, &ADJ_FR, &VERDICT_FR, "fr") } else { (&EN, &ADJ_EN, &VERDICT_EN, "en") };
            let text = rng
                .pick(templates)
                .replace("{n}", &(2 + rng.below(20)).to_string())
                .replace("{adj}", rng.pick(adj))
                .replace("{verdict}", rng.pick(verdict));
            let created_at = format!("2026-{}T{:02}:00:00Z", date_of(rng.below(365)), rng.below(24));
            json!({
                "id": format!("v{i}"),
                "text": text,
                "language": language,
                "channel": rng.pick(&CHANNELS),
                "created_at": created_at,
                "customer_id": format!("c{}", rng.below(n as u64 / 3 + 1)),
                "nps": rng.below(11),
                "metadata": {"store": rng.pick(&STORES)}
            })
        })
        .collect()
}

/// `MM-DD` of day `day` (0-based) of a non-leap year.
fn date_of(day: u64) -> String {
    const MONTHS: [u64; 12] = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];
    let mut left = day;
    for (month, days) in MONTHS.iter().enumerate() {
        if left < *days {
            return format!("{:02}-{:02}", month + 1, left + 1);
        }
        left -= days;
    }
    "12-31".to_string()
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder().http_status_as_error(false).build().into()
}

fn ingest_http(base: &str, items: &[Value]) -> Duration {
    let batches: Vec<&[Value]> = items.chunks(BATCH).collect();
    let started = Instant::now();
    std::thread::scope(|scope| {
        for client in 0..CLIENTS {
            let batches = &batches;
            scope.spawn(move || {
                let agent = agent();
                for batch in batches.iter().skip(client).step_by(CLIENTS) {
                    let response = agent
                        .post(format!("{base}/v1/verbatims"))
                        .send_json(json!({ "verbatims": batch }))
                        .expect("POST");
                    assert_eq!(response.status(), 200);
                }
            });
        }
    });
    started.elapsed()
}

/// Many clients posting small batches (how feedback tools push in real time), retrying on 429
/// as `Retry-After` says, while one more client searches. Returns the ingest time, the search
/// latencies, and how many 429 answers there were.
fn ingest_small_batches_while_searching(base: &str, items: &[Value]) -> (Duration, Vec<Duration>, usize) {
    let batches: Vec<&[Value]> = items.chunks(SMALL_BATCH).collect();
    let done = std::sync::atomic::AtomicBool::new(false);
    let refused = std::sync::atomic::AtomicUsize::new(0);
    let started = Instant::now();
    let mut latencies = Vec::new();
    let mut elapsed = Duration::ZERO;
    std::thread::scope(|scope| {
        let writers: Vec<_> = (0..SMALL_CLIENTS)
            .map(|client| {
                let (batches, refused) = (&batches, &refused);
                scope.spawn(move || {
                    let agent = agent();
                    for batch in batches.iter().skip(client).step_by(SMALL_CLIENTS) {
                        loop {
                            let response = agent
                                .post(format!("{base}/v1/verbatims"))
                                .send_json(json!({ "verbatims": batch }))
                                .expect("POST");
                            match response.status().as_u16() {
                                200 => break,
                                429 => {
                                    refused.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                                    std::thread::sleep(Duration::from_millis(100));
                                }
                                other => panic!("POST answered {other}"),
                            }
                        }
                    }
                })
            })
            .collect();
        let searcher = scope.spawn(|| {
            let agent = agent();
            let mut latencies = Vec::new();
            for query in search_queries().iter().cycle() {
                if done.load(std::sync::atomic::Ordering::Relaxed) {
                    break;
                }
                let started = Instant::now();
                let response = agent.get(format!("{base}/v1/search?{query}")).call().expect("GET");
                latencies.push(started.elapsed());
                assert_eq!(response.status(), 200);
                std::thread::sleep(Duration::from_millis(20));
            }
            latencies
        });
        for writer in writers {
            writer.join().unwrap();
        }
        elapsed = started.elapsed();
        done.store(true, std::sync::atomic::Ordering::Relaxed);
        latencies = searcher.join().unwrap();
    });
    latencies.sort();
    (elapsed, latencies, refused.into_inner())
}

/// Lines in the reprocess phase's input.
const REPROCESS_LINES: usize = 200_000;

/// `verbatim reprocess` of a file of `REPROCESS_LINES` generated verbatims, timed from the
/// process start to its exit.
fn reprocess_file(work: &Path) -> Duration {
    let input = work.join("reprocess.jsonl");
    write_jsonl(&input, &verbatims(REPROCESS_LINES));
    let output = work.join("reprocessed.jsonl");
    timed_cli(
        &work.join("reprocess-data"),
        &["reprocess", "--model", "fast", "--input", input.to_str().unwrap(), "--output", output.to_str().unwrap()],
    )
}

fn ingest_cli(data: &Path, file: &Path) -> Duration {
    timed_cli(data, &["ingest", file.to_str().unwrap()])
}

/// Runs a `verbatim` command over `data`, asserts it succeeded, and times it from process start to exit.
fn timed_cli(data: &Path, args: &[&str]) -> Duration {
    let started = Instant::now();
    let status = Command::new(binary())
        .args(["--data", data.to_str().unwrap()])
        .args(args)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .status()
        .unwrap();
    assert!(status.success());
    started.elapsed()
}

fn write_jsonl(path: &Path, items: &[Value]) {
    let mut out = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    for item in items {
        writeln!(out, "{item}").unwrap();
    }
}

/// A realistic mix: single words in both languages, phrases, boolean, filters, date sort.
fn search_queries() -> Vec<String> {
    let base = [
        "q=livraison",
        "q=delivery",
        "q=remboursement&nps_group=detractor",
        "q=refund&channel=email,ticket",
        "q=%22service%20client%22",
        "q=app%20OR%20application&sort=newest",
        "q=colis%20-perdu&metadata.store=Lyon",
        "q=expensive&from=2026-03-01&to=2026-04-01",
        "nps_group=detractor&channel=survey&sort=newest",
        "q=retard&nps_max=6&language=fr&limit=20",
    ];
    (0..SEARCHES).map(|i| base[i % base.len()].to_string()).collect()
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

fn main() {
    // `cargo bench` passes `--bench`; a filter argument that is not ours means skip.
    if std::env::args().skip(1).any(|a| !a.starts_with("--") && a != "e2e") {
        return;
    }
    let n: usize = std::env::var("E2E_VERBATIMS").ok().and_then(|v| v.parse().ok()).unwrap_or(100_000);
    let work = tempfile::tempdir().unwrap();
    let items = verbatims(n);
    let file = work.path().join("verbatims.jsonl");
    write_jsonl(&file, &items);

    let http_data = work.path().join("http");
    let server = Server::start_binary(&binary(), &http_data, &[]);
    let http = ingest_http(&server.base, &items);
    server.stop();

    let cli = ingest_cli(&work.path().join("cli"), &file);

    let server = Server::start_binary(&binary(), &http_data, &[]);
    let base = &server.base;
    let agent = agent();
    let mut latencies = Vec::with_capacity(SEARCHES);
    let mut total_hits = 0u64;
    let searching = Instant::now();
    for query in search_queries() {
        let started = Instant::now();
        let mut response = agent.get(format!("{base}/v1/search?{query}")).call().expect("GET");
        let body: Value = response.body_mut().read_json().unwrap();
        latencies.push(started.elapsed());
        assert_eq!(response.status(), 200);
        total_hits += body["total"].as_u64().unwrap();
    }
    let search_wall = searching.elapsed();
    server.stop();
    latencies.sort();

    let server = Server::start_binary(&binary(), &work.path().join("small-batches"), &[]);
    let (small, loaded_latencies, refused) = ingest_small_batches_while_searching(&server.base, &items);
    server.stop();

    let rate = |d: Duration| n as f64 / d.as_secs_f64();
    println!("| measure | value |");
    println!("|---|---|");
    println!("| verbatims | {n} |");
    println!(
        "| HTTP ingest ({CLIENTS} clients, batches of {BATCH}) | {:.0} verbatims/s ({:.1} s) |",
        rate(http),
        http.as_secs_f64()
    );
    println!(
        "| `verbatim ingest` (JSONL, batches of {BATCH}) | {:.0} verbatims/s ({:.1} s) |",
        rate(cli),
        cli.as_secs_f64()
    );
    println!(
        "| searches (sequential, 1 client) | {SEARCHES} in {:.2} s, {:.0}/s |",
        search_wall.as_secs_f64(),
        SEARCHES as f64 / search_wall.as_secs_f64()
    );
    println!("| search latency p50 | {:.2} ms |", percentile(&latencies, 0.50).as_secs_f64() * 1e3);
    println!("| search latency p99 | {:.2} ms |", percentile(&latencies, 0.99).as_secs_f64() * 1e3);
    println!("| mean matches per search | {:.0} |", total_hits as f64 / SEARCHES as f64);
    println!(
        "| HTTP ingest ({SMALL_CLIENTS} clients, batches of {SMALL_BATCH}) | {:.0} verbatims/s ({:.1} s, {refused} answers 429) |",
        rate(small),
        small.as_secs_f64()
    );
    println!(
        "| search latency under that load, p50 / p99 ({} searches) | {:.2} / {:.2} ms |",
        loaded_latencies.len(),
        percentile(&loaded_latencies, 0.50).as_secs_f64() * 1e3,
        percentile(&loaded_latencies, 0.99).as_secs_f64() * 1e3
    );
    if std::env::var("E2E_BIN").is_ok() {
        return; // A baseline build may predate `reprocess` and topics.
    }
    let reprocess = reprocess_file(work.path());
    println!(
        "| `verbatim reprocess --model fast` ({REPROCESS_LINES} lines, start-up included) | {:.0} lines/s ({:.1} s) |",
        REPROCESS_LINES as f64 / reprocess.as_secs_f64(),
        reprocess.as_secs_f64()
    );

    let no_models = work.path().join("no-models");
    let models = ["--models", no_models.to_str().unwrap()];
    let copy = work.path().join("http-copy");
    assert!(Command::new("cp").arg("-r").arg(&http_data).arg(&copy).status().unwrap().success());
    let more: Vec<Value> = items
        .iter()
        .map(|item| {
            let mut item = item.clone();
            item["id"] = json!(format!("t{}", item["id"].as_str().unwrap()));
            item
        })
        .collect();
    let server = Server::start_binary(&binary(), &copy, &models);
    let unassigned = ingest_http(&server.base, &more);
    server.stop();
    let server = Server::start_binary(&binary(), &http_data, &models);
    let (discovery, topics) = discover_topics(&server);
    let assigned = ingest_http(&server.base, &more);
    let new = server.get("/v1/verbatims/tv0").body;
    assert_eq!(new["topic"]["model"], 1, "{new}");
    server.stop();
    println!(
        "| topic discovery over the {n} stored verbatims (lightweight mode, job time) | {:.1} s, {topics} topics |",
        discovery.as_secs_f64()
    );
    println!(
        "| {n} more by HTTP ({CLIENTS} clients, batches of {BATCH}) into the {n}: no topic model / that one in use | {:.0} / {:.0} verbatims/s ({:.1} / {:.1} s) |",
        rate(unassigned),
        rate(assigned),
        unassigned.as_secs_f64(),
        assigned.as_secs_f64()
    );
}

/// Runs a `discover_topics` job over the whole store and waits for it; returns its time and
/// the number of topics it found.
fn discover_topics(server: &Server) -> (Duration, usize) {
    let started = Instant::now();
    let reply = server.post("/v1/topics/discover", &json!({}));
    assert_eq!(reply.status, 202, "{}", reply.body);
    server.wait_job(reply.body["id"].as_str().unwrap(), |job| {
        assert_ne!(job["state"], "failed", "{job}");
        job["state"] == "done"
    });
    let elapsed = started.elapsed();
    (elapsed, server.get("/v1/topics").body["topics"].as_array().unwrap().len())
}
