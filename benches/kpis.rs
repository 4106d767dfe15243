//! KPIs on a large index: how long `GET /v1/kpis` takes to count 1,000,000 verbatims grouped by
//! channel and week (the target: under a second on 2 cores), a few other shapes, and
//! the counts a volume alert rule runs on each evaluation (`crate::alerts::volume`).
//!
//! Run: `cargo bench --bench kpis`. `KPI_VERBATIMS` sets the corpus size (default 1,000,000).
//! The index is generated once (seeded: channels, stores, dates over two years, scores, sentiments
//! and emotions) into `target/tmp/kpi-bench-<count>` and reused by later runs; each shape is
//! timed 5 times on a warm index and the median reported.

use std::path::PathBuf;
use std::time::Instant;

use chrono::{Duration, TimeZone, Utc};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use verbatim::domain::{Channel, Emotion, EmotionScore, Sentiment, Verbatim};
use verbatim::index::SearchIndex;
use verbatim::kpi::{answer, KpiRequest};

const CHANNELS: [&str; 8] = ["email", "survey", "chat", "call", "review", "social", "ticket", "store"];
const TEXTS: [&str; 6] = [
    "Livraison rapide, très contente du service client",
    "The parcel arrived late and the box was damaged",
    "Merci pour votre réponse",
    "Great product but delivery was a disaster",
    "Trop cher pour ce que c'est",
    "Still waiting for my refund after three weeks",
];
const EMOTIONS: [&str; 4] = ["anger", "annoyance", "joy", "gratitude"];
const RUNS: usize = 5;

fn corpus(count: usize) -> impl Iterator<Item = Verbatim> {
    let mut random = ChaCha8Rng::seed_from_u64(17);
    let start = Utc.with_ymd_and_hms(2025, 1, 1, 0, 0, 0).unwrap();
    (0..count).map(move |i| {
        let mut score =
            |range: std::ops::RangeInclusive<u8>| random.random_bool(0.6).then(|| random.random_range(range));
        let (nps, csat, ces) = (score(0..=10), score(1..=5), score(1..=7));
        let p_positive: f32 = random.random();
        let p_negative = (1.0 - p_positive) * random.random::<f32>();
        let emotion = EMOTIONS[random.random_range(0..EMOTIONS.len())];
        Verbatim {
            id: format!("v{i}"),
            text: TEXTS[i % TEXTS.len()].to_string(),
            language: Some(["fr", "en"][i % 2].to_string()),
            channel: Channel::parse(CHANNELS[random.random_range(0..CHANNELS.len())]).unwrap(),
            created_at: start + Duration::seconds(random.random_range(0..2 * 365 * 86_400)),
            customer_id: Some(format!("c{}", random.random_range(0..200_000))),
            nps,
            csat,
            ces,
            metadata: [("store".to_string(), format!("store-{}", random.random_range(0..50)))].into(),
            sentiment: Some(Sentiment::from_probabilities([p_negative, 1.0 - p_positive - p_negative, p_positive])),
            sentiment_model: None,
            emotions: Some(vec![EmotionScore { label: Emotion::parse(emotion).unwrap(), score: 0.7 }]),
            due: Vec::new(),
            topic: None,
            aspects: Vec::new(),
            root_causes: None,
        }
    })
}

fn index(count: usize) -> anyhow::Result<SearchIndex> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(format!("target/tmp/kpi-bench-{count}"));
    let complete = dir.join("complete");
    if !complete.exists() {
        let _ = std::fs::remove_dir_all(&dir);
        let index = SearchIndex::open(&dir)?;
        let started = Instant::now();
        let mut batch = Vec::with_capacity(50_000);
        for (seq, verbatim) in corpus(count).enumerate() {
            batch.push(verbatim);
            if batch.len() == batch.capacity() {
                index.upsert(&batch, seq as u64)?;
                batch.clear();
            }
        }
        index.upsert(&batch, count as u64)?;
        index.purge_deleted()?;
        eprintln!("indexed {count} verbatims in {:.0?}", started.elapsed());
        std::fs::write(&complete, "")?;
    }
    SearchIndex::open(&dir)
}

fn main() -> anyhow::Result<()> {
    if std::env::args().skip(1).any(|a| !a.starts_with("--") && a != "kpis") {
        return Ok(());
    }
    let count = std::env::var("KPI_VERBATIMS").ok().and_then(|v| v.parse().ok()).unwrap_or(1_000_000);
    let index = index(count)?;
    println!("| request | verbatims | groups | periods | median seconds (of {RUNS}) |");
    println!("|---|---|---|---|---|");
    for query in [
        "group_by=channel&period=week",
        "group_by=channel&period=week&tz=Europe/Paris",
        "group_by=metadata.store&period=month",
        "group_by=emotion",
        "period=day&channel=email&nps_group=detractor&from=2026-01-01&to=2027-01-01",
        "group_by=channel&from=2026-06-01&to=2026-07-01",
        // What a volume rule counts on each tick: a daily spike rule on one channel (its 28
        // baseline days, the last complete day and the running one), a weekly NPS-drop rule
        // (two weeks).
        "period=day&channel=email&from=2026-11-01&to=2026-12-01",
        "period=week&channel=store&from=2026-11-09&to=2026-11-23",
    ] {
        let params: Vec<(&str, &str)> = query.split('&').map(|p| p.split_once('=').unwrap()).collect();
        let request = KpiRequest::from_params(params)?;
        let mut seconds = Vec::with_capacity(RUNS);
        let mut answered = None;
        for _ in 0..RUNS {
            let started = Instant::now();
            let group_by = request.group_by.as_ref();
            answered = Some(answer(&request, |filter, period| -> anyhow::Result<_> {
                Ok(index.kpi_cells(filter, group_by, period)?)
            })?);
            seconds.push(started.elapsed().as_secs_f64());
        }
        seconds.sort_by(f64::total_cmp);
        let answered = answered.expect("at least one run");
        println!(
            "| `{query}` | {} | {} | {} | {:.3} |",
            answered.total.kpis.count,
            answered.groups.len(),
            answered.total.periods.len(),
            seconds[RUNS / 2]
        );
    }
    Ok(())
}
