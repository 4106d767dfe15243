//! KPIs through the real server and CLI, on generated verbatims whose answers the test counts
//! itself: NPS, CSAT, CES and net sentiment by segment and period, time zones, the change
//! against the previous window, CSV, and refusals.

mod common;

use std::collections::BTreeMap;

use common::{cli, data_dir, Server};
use serde_json::{json, Value};

/// A small deterministic generator, so the corpus is varied but the same on every run.
struct Lcg(u64);

impl Lcg {
    fn below(&mut self, n: u64) -> u64 {
        self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        (self.0 >> 33) % n
    }
}

const CHANNELS: [&str; 3] = ["email", "survey", "chat"];
const TEXTS: [&str; 4] = [
    "Livraison rapide, très contente du service client",
    "The parcel arrived late and the box was damaged",
    "Merci pour votre réponse",
    "Great product but delivery was a disaster",
];

/// 240 verbatims over October and November 2026, a third without each score.
fn corpus() -> Vec<Value> {
    let mut random = Lcg(7);
    (0..240)
        .map(|i| {
            let day = 1 + random.below(61);
            let store = ["Lyon", "Paris"][random.below(2) as usize];
            let (month, day) = if day <= 31 { (10, day) } else { (11, day - 31) };
            let mut v = json!({
                "id": format!("v{i}"),
                "text": TEXTS[random.below(4) as usize],
                "channel": CHANNELS[random.below(3) as usize],
                "created_at": format!("2026-{month:02}-{day:02}T{:02}:15:00Z", random.below(24)),
                "metadata": {"store": store},
            });
            if random.below(3) > 0 {
                v["nps"] = json!(random.below(11));
            }
            if random.below(3) > 0 {
                v["csat"] = json!(1 + random.below(5));
            }
            if random.below(3) > 0 {
                v["ces"] = json!(1 + random.below(7));
            }
            v
        })
        .collect()
}

/// What the test expects of a set of verbatims, counted here by hand.
fn expected(verbatims: &[&Value]) -> (usize, f64, f64, f64) {
    let scores = |name: &str| -> Vec<u64> { verbatims.iter().filter_map(|v| v[name].as_u64()).collect() };
    let (nps, csat, ces) = (scores("nps"), scores("csat"), scores("ces"));
    let promoters = nps.iter().filter(|s| **s >= 9).count() as f64;
    let detractors = nps.iter().filter(|s| **s <= 6).count() as f64;
    let satisfied = csat.iter().filter(|s| **s >= 4).count() as f64;
    (
        verbatims.len(),
        100.0 * (promoters - detractors) / nps.len() as f64,
        100.0 * satisfied / csat.len() as f64,
        ces.iter().sum::<u64>() as f64 / ces.len() as f64,
    )
}

fn close(a: &Value, b: f64) -> bool {
    (a.as_f64().unwrap() - b).abs() < 1e-9
}

fn assert_kpis(group: &Value, verbatims: &[&Value]) {
    let (count, nps, csat, ces) = expected(verbatims);
    assert_eq!(group["count"], json!(count), "{group}");
    assert!(close(&group["nps"], nps), "nps {} != {nps}", group["nps"]);
    assert!(close(&group["csat"], csat), "csat {} != {csat}", group["csat"]);
    assert!(close(&group["ces"], ces), "ces {} != {ces}", group["ces"]);
    for kpi in ["nps", "csat", "ces", "ces_easy", "net_sentiment"] {
        let (value, ci) = (group[kpi].as_f64().unwrap(), &group[format!("{kpi}_ci")]);
        let (low, high) = (ci[0].as_f64().unwrap(), ci[1].as_f64().unwrap());
        assert!(low <= value && value <= high && low < high, "{kpi}: {value} outside [{low}, {high}]");
    }
}

fn server_with_corpus() -> (tempfile::TempDir, Server, Vec<Value>) {
    let (guard, data) = data_dir();
    let server = Server::start(&data, &[]);
    let corpus = corpus();
    server.ingest(Value::Array(corpus.clone()));
    (guard, server, corpus)
}

fn kpis(server: &Server, query: &str) -> Value {
    let reply = server.get(&format!("/v1/kpis?{query}"));
    assert_eq!(reply.status, 200, "{}", reply.body);
    reply.body
}

#[test]
fn kpis_by_channel_equal_the_answers_counted_by_hand() {
    let (_guard, server, corpus) = server_with_corpus();
    let report = kpis(&server, "group_by=channel");
    assert_kpis(&report["total"], &corpus.iter().collect::<Vec<_>>());
    let groups = report["groups"].as_array().unwrap();
    assert_eq!(groups.len(), 3);
    for group in groups {
        let channel = group["key"].as_str().unwrap();
        let members: Vec<&Value> = corpus.iter().filter(|v| v["channel"] == channel).collect();
        assert_kpis(group, &members);
    }
    // The largest group first.
    assert!(groups.windows(2).all(|w| w[0]["count"].as_u64() >= w[1]["count"].as_u64()));

    // Net sentiment from the sentiments search counts: positive less negative, mixed in neither.
    let facets = &server.search("limit=1")["facets"]["sentiment"];
    let count = |label: &str| facets[label].as_f64().unwrap_or(0.0);
    let net = 100.0 * (count("positive") - count("negative")) / corpus.len() as f64;
    assert!(close(&report["total"]["net_sentiment"], net), "{} != {net}", report["total"]["net_sentiment"]);
    assert!(count("mixed") > 0.0, "the corpus has a mixed text: {facets}");

    // Filters apply as in search.
    let report = kpis(&server, "group_by=metadata.store&channel=email&nps_min=5");
    for group in report["groups"].as_array().unwrap() {
        let store = group["key"].as_str().unwrap();
        let members: Vec<&Value> = corpus
            .iter()
            .filter(|v| v["metadata"]["store"] == store && v["channel"] == "email")
            .filter(|v| v["nps"].as_u64().is_some_and(|s| s >= 5))
            .collect();
        assert_kpis(group, &members);
    }
}

#[test]
fn periods_follow_the_time_zone_and_changes_compare_with_the_previous_window() {
    let (_guard, server, corpus) = server_with_corpus();
    // Sunday 29 November 23:30 UTC is Monday 30 November in Paris.
    server.ingest(json!([{"id": "late", "text": "Parfait", "channel": "chat", "nps": 10,
                          "created_at": "2026-11-29T23:30:00Z"}]));
    let utc = kpis(&server, "period=week&from=2026-11-23&to=2026-12-07");
    let paris = kpis(&server, "period=week&tz=Europe/Paris&from=2026-11-23&to=2026-12-07");
    let starts = |r: &Value| -> Vec<String> {
        r["total"]["periods"].as_array().unwrap().iter().map(|p| p["start"].as_str().unwrap().to_string()).collect()
    };
    assert_eq!(starts(&utc), ["2026-11-23T00:00:00+00:00", "2026-11-30T00:00:00+00:00"]);
    assert_eq!(starts(&paris), ["2026-11-23T00:00:00+01:00", "2026-11-30T00:00:00+01:00"]);
    let counts = |r: &Value| -> Vec<u64> {
        r["total"]["periods"].as_array().unwrap().iter().map(|p| p["count"].as_u64().unwrap()).collect()
    };
    // Counted here: Paris is one hour ahead of UTC all November.
    let weeks = |offset_hours: i64| -> Vec<u64> {
        let mut counts = vec![0; 2];
        for v in corpus.iter().chain([&json!({"created_at": "2026-11-29T23:30:00Z"})]) {
            let at: chrono::DateTime<chrono::Utc> = v["created_at"].as_str().unwrap().parse().unwrap();
            let local = (at + chrono::Duration::hours(offset_hours)).date_naive();
            let days = (local - chrono::NaiveDate::from_ymd_opt(2026, 11, 23).unwrap()).num_days();
            if (0..14).contains(&days) {
                counts[days as usize / 7] += 1;
            }
        }
        counts
    };
    assert_eq!(counts(&utc), weeks(0));
    assert_eq!(counts(&paris), weeks(1));
    assert_ne!(weeks(0), weeks(1), "the late verbatim moves to the next week in Paris");
    assert!(utc["total"]["periods"][0]["change"].is_null());
    assert!(paris["total"]["periods"][1]["change"].is_object());

    // November against the 30 days before it.
    let report = kpis(&server, "group_by=channel&from=2026-11-01&to=2026-12-01");
    let in_window = |v: &&Value, from: &str, to: &str| {
        let at = v["created_at"].as_str().unwrap();
        at >= from && at < to
    };
    let november: Vec<&Value> = corpus.iter().filter(|v| in_window(v, "2026-11-01", "2026-12-01")).collect();
    let before: Vec<&Value> = corpus.iter().filter(|v| in_window(v, "2026-10-02", "2026-11-01")).collect();
    let mut with_late = november.clone();
    let late = json!({"nps": 10});
    with_late.push(&late);
    let (_, nps_now, _, _) = expected(&with_late);
    let (_, nps_before, _, _) = expected(&before);
    let change = &report["total"]["change"]["nps"];
    assert!(close(&change["delta"], nps_now - nps_before), "{change} vs {}", nps_now - nps_before);
    let p = change["p_value"].as_f64().unwrap();
    assert!((0.0..=1.0).contains(&p) && change["significant"] == json!(p < 0.05), "{change}");
    for group in report["groups"].as_array().unwrap() {
        assert!(group["change"].is_object(), "{group}");
    }
}

#[test]
fn kpis_as_csv_and_from_the_cli_match_the_api() {
    let (_guard, server, corpus) = server_with_corpus();
    let json = kpis(&server, "group_by=channel&period=month");
    let csv = server.get("/v1/kpis?group_by=channel&period=month&format=csv");
    assert_eq!(csv.status, 200);
    assert!(csv.content_type.starts_with("text/csv"), "{}", csv.content_type);
    let text = csv.body.as_str().unwrap();
    let mut rows = csv::Reader::from_reader(text.as_bytes());
    let header = rows.headers().unwrap().clone();
    assert_eq!(header.iter().take(4).collect::<Vec<_>>(), ["row", "channel", "period_start", "count"]);
    let records: Vec<BTreeMap<String, String>> = rows.deserialize().map(Result::unwrap).collect();
    // A total row and a row per month, then the same for each of three channels.
    assert_eq!(records.len(), 4 * 3);
    let email_october = records
        .iter()
        .find(|r| r["channel"] == "email" && r["period_start"].starts_with("2026-10-01"))
        .expect("an email row for October");
    let october: Vec<&Value> =
        corpus.iter().filter(|v| v["channel"] == "email" && v["created_at"].as_str().unwrap() < "2026-11").collect();
    let (count, nps, _, _) = expected(&october);
    assert_eq!(email_october["count"], count.to_string());
    assert!((email_october["nps"].parse::<f64>().unwrap() - nps).abs() < 1e-9);

    let (code, stdout, stderr) =
        cli(&server.data, &["kpis", "--group-by", "channel", "--period", "month", "--format", "json"], None);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(serde_json::from_str::<Value>(&stdout).unwrap(), json);
    let (code, table, stderr) = cli(&server.data, &["kpis", "--group-by", "channel", "--format", "table"], None);
    assert_eq!(code, 0, "{stderr}");
    assert!(table.starts_with("group") && table.contains("(all)") && table.contains("email"), "{table}");
}

#[test]
fn refusals_name_the_parameter() {
    let (_guard, server, _) = server_with_corpus();
    for (query, parameter) in [
        ("group_by=colour", "group_by"),
        ("period=year", "period"),
        ("tz=Mars/Olympus", "tz"),
        ("limit=5", "limit"),
        ("format=xml", "format"),
        ("csat_min=9", "csat_min"),
    ] {
        let reply = server.get(&format!("/v1/kpis?{query}"));
        assert_eq!(reply.status, 400, "{query}: {}", reply.body);
        assert_eq!(reply.body["parameter"], parameter, "{query}: {}", reply.body);
    }
    let reply = server.get("/v1/kpis?period=day&from=1990-01-01&to=2026-01-01");
    assert_eq!(reply.status, 400, "{}", reply.body);
    assert_eq!(reply.body["code"], "too_many_periods", "{}", reply.body);
    // No match: every KPI is null rather than zero.
    let report = kpis(&server, "q=nothingmatchesthis");
    assert_eq!(report["total"]["count"], 0);
    assert!(report["total"]["nps"].is_null() && report["total"]["nps_ci"].is_null());
}
