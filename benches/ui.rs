//! The workspace on 1,000,000 stored verbatims: how long Explore and Overview take to show
//! their first paint and their data, in headless Chromium, against the release server.
//!
//! Run: `cargo bench --bench ui` (needs Debian's `chromium` and `chromium-driver`).
//! `UI_VERBATIMS` sets the corpus size (default 1,000,000). The data directory is generated
//! once (seeded: French and English feedback over two years, seven channels, NPS), ingested
//! with `verbatim ingest` into `target/tmp/ui-bench-<count>`, and reused. Each page is loaded
//! 5 times (a new document each time, after `about:blank`, in one tab of a warm browser and
//! server) and the median reported:
//! - first paint: the browser's `first-contentful-paint` (the workspace's frame and headings);
//! - data shown: the page's own `verbatim:<page>` mark, set once its numbers or hits are on
//!   screen — the time an analyst waits.

#[path = "../tests/common/browser.rs"]
mod browser;
#[path = "../tests/common/mod.rs"]
mod common;

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use browser::{browser, start_driver};
use common::{Server, BIN};
use fantoccini::Client;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde_json::json;

const RUNS: usize = 5;
const FR: [&str; 5] = [
    "La livraison est arrivée avec {n} jours de retard, très déçu",
    "Service client désagréable, j'ai attendu {n} minutes",
    "Produit conforme mais l'emballage était abîmé",
    "Très satisfait de la qualité, je recommande",
    "Le remboursement n'est toujours pas arrivé après {n} semaines",
];
const EN: [&str; 5] = [
    "Delivery was {n} days late and nobody told me",
    "Customer service was rude, waited {n} minutes on hold",
    "The product is fine but the packaging was damaged",
    "Really happy with the quality, would recommend",
    "Still waiting for my refund after {n} weeks",
];
const CHANNELS: [&str; 7] = ["survey", "email", "review", "app", "sms", "call", "store"];

/// The data directory, generated and ingested once.
fn data(count: usize) -> anyhow::Result<PathBuf> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(format!("target/tmp/ui-bench-{count}"));
    if dir.join("complete").exists() {
        return Ok(dir.join("data"));
    }
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir)?;
    let input = dir.join("input.jsonl");
    let mut out = std::io::BufWriter::new(std::fs::File::create(&input)?);
    let mut random = ChaCha8Rng::seed_from_u64(18);
    let now = chrono::Utc::now();
    for i in 0..count {
        let templates = if i % 2 == 0 { &FR } else { &EN };
        let text = templates[random.random_range(0..5)].replace("{n}", &random.random_range(2..30).to_string());
        let created_at = now - chrono::Duration::seconds(random.random_range(0..2 * 365 * 86_400));
        let (language, channel) = (["fr", "en"][i % 2], CHANNELS[random.random_range(0..CHANNELS.len())]);
        let line = json!({"id": format!("v{i}"), "text": text, "language": language, "channel": channel,
                          "nps": random.random_range(0..=10), "created_at": created_at.to_rfc3339()});
        writeln!(out, "{line}")?;
    }
    out.flush()?;
    drop(out);
    let started = Instant::now();
    let status = Command::new(BIN)
        .args(["--data", dir.join("data").to_str().unwrap(), "ingest", input.to_str().unwrap()])
        .stdout(Stdio::null())
        .status()?;
    anyhow::ensure!(status.success(), "verbatim ingest failed");
    eprintln!("ingested {count} verbatims in {:.0?}", started.elapsed());
    std::fs::remove_file(&input)?;
    std::fs::write(dir.join("complete"), "")?;
    Ok(dir.join("data"))
}

/// The median of the runs, in milliseconds.
fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

async fn timings(page: &Client, url: &str, name: &str) -> anyhow::Result<(f64, f64)> {
    let mut paints = Vec::new();
    let mut shown = Vec::new();
    for _ in 0..RUNS {
        page.goto("about:blank").await?;
        page.goto(url).await?;
        let started = Instant::now();
        loop {
            let found = page
                .execute(
                    &format!(
                        "const paint = performance.getEntriesByName('first-contentful-paint')[0];
                         const shown = performance.getEntriesByName('verbatim:{name}')[0];
                         return paint && shown ? [paint.startTime, shown.startTime] : null;"
                    ),
                    vec![],
                )
                .await?;
            if let Some([paint, data]) = found.as_array().map(|a| [a[0].as_f64(), a[1].as_f64()]) {
                paints.push(paint.unwrap_or(f64::NAN));
                shown.push(data.unwrap_or(f64::NAN));
                break;
            }
            anyhow::ensure!(started.elapsed() < Duration::from_secs(60), "{url} showed no data in 60 s");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    Ok((median(paints), median(shown)))
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    if std::env::args().skip(1).any(|a| !a.starts_with("--") && a != "ui") {
        return Ok(());
    }
    let count = std::env::var("UI_VERBATIMS").ok().and_then(|v| v.parse().ok()).unwrap_or(1_000_000);
    // Both stop when dropped, whatever happens below.
    let server = Server::start(&data(count)?, &[]);
    let driver = start_driver();
    let page = browser(&driver).await;
    let base = &server.base;
    // One load first, so every timed one finds the server and the browser warm.
    page.goto(&format!("{base}/ui/overview")).await?;
    println!("| page | verbatims | first paint, ms | data shown, ms (median of {RUNS}) |");
    println!("|---|---|---|---|");
    for (path, name) in [
        ("/ui/overview", "overview"),
        ("/ui/explore", "explore"),
        ("/ui/explore?q=livraison", "explore"),
        ("/ui/explore?q=refund&channel=email&nps_group=detractor", "explore"),
    ] {
        let (paint, shown) = timings(&page, &format!("{base}{path}"), name).await?;
        println!("| `{path}` | {count} | {paint:.0} | {shown:.0} |");
    }
    page.close().await?;
    Ok(())
}
