//! Background jobs (`/v1/jobs`, `verbatim reprocess` over the store) and exports: real server,
//! real store and index, the real accurate model; killed and restarted mid-job.

mod common;

use std::collections::HashSet;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{cli, data_dir, installed_models, Server, BIN};
use serde_json::{json, Value};
use verbatim::store::Store;

/// Longest a job of these tests may take (the accurate tier on two cores, debug build).
const PATIENCE: Duration = Duration::from_secs(300);

/// `n` short verbatims, French and English, every third on `chat`.
fn corpus(prefix: &str, n: usize) -> Value {
    Value::Array(
        (0..n)
            .map(|i| {
                let text = match i % 4 {
                    0 => format!("Livraison {i} en retard, très déçu"),
                    1 => format!("Great staff, quick refund {i}"),
                    2 => format!("Colis {i} reçu, rien à dire"),
                    _ => format!("Still waiting for order {i}"),
                };
                json!({"id": format!("{prefix}{i}"), "text": text, "channel": if i % 3 == 0 { "chat" } else { "email" },
                       "customer_id": format!("cust-{}", i % 5)})
            })
            .collect(),
    )
}

fn models_args(models: &Path) -> [&str; 2] {
    ["--models", models.to_str().unwrap()]
}

fn submit(server: &Server, job: Value) -> String {
    let reply = server.post("/v1/jobs", &job);
    assert_eq!(reply.status, 202, "{}", reply.body);
    assert_eq!(reply.body["state"], "queued");
    reply.body["id"].as_str().unwrap().to_string()
}

fn verbatim(server: &Server, id: &str) -> Value {
    let reply = server.get(&format!("/v1/verbatims/{id}"));
    assert_eq!(reply.status, 200, "{}", reply.body);
    reply.body
}

#[test]
fn a_reprocess_job_analyses_what_its_filter_selects_into_the_store_and_the_index() {
    let (_guard, data) = data_dir();
    let models = installed_models();
    let server = Server::start(&data, &models_args(&models));
    server.ingest(corpus("v", 30));
    let id = submit(&server, json!({"kind": "reprocess", "filter": {"channel": "chat"}, "model": "accurate"}));
    let job = server.wait_job(&id, |job| job["state"] == "done");
    assert_eq!((job["done"].as_u64(), job["total"].as_u64()), (Some(10), Some(10)), "{job}");
    assert_eq!(job["spec"]["filter"]["channel"], "chat");

    let mut negative_chat = 0;
    let mut chat_emotions: std::collections::BTreeMap<String, usize> = Default::default();
    for i in 0..30 {
        let stored = verbatim(&server, &format!("v{i}"));
        let tier = if i % 3 == 0 { "accurate" } else { "fast" };
        assert_eq!(stored["sentiment_model"]["tier"], tier, "{stored}");
        assert!(stored["sentiment_model"]["version"].as_str().is_some_and(|v| v.len() == 12), "{stored}");
        negative_chat += usize::from(i % 3 == 0 && stored["sentiment"]["label"] == "negative");
        if i % 3 == 0 {
            for emotion in stored["emotions"].as_array().unwrap_or_else(|| panic!("{stored}")) {
                *chat_emotions.entry(emotion["label"].as_str().unwrap().to_string()).or_default() += 1;
            }
        }
    }
    // The index took the new analyses: its sentiment and emotion filters agree with the store.
    assert!(negative_chat > 0);
    assert_eq!(server.search("channel=chat&sentiment=negative")["total"], negative_chat);
    assert!(!chat_emotions.is_empty());
    for (emotion, count) in chat_emotions {
        assert_eq!(server.search(&format!("channel=chat&emotion={emotion}"))["total"], count, "{emotion}");
    }
    // What the job stored is the accurate tier's emotions, not ingestion's.
    let stored = verbatim(&server, "v0");
    let analysed = server.post(
        "/v1/analyze",
        &json!({"documents": [{"id": "v0", "text": stored["text"], "language": stored["language"]}], "model": "accurate"}),
    );
    let labels = |emotions: &Value| -> Vec<String> {
        emotions.as_array().unwrap().iter().map(|e| e["label"].as_str().unwrap().to_string()).collect()
    };
    assert_eq!(labels(&stored["emotions"]), labels(&analysed.body["documents"][0]["emotions"]), "{}", analysed.body);

    // Sent again with the same text, a verbatim keeps the accurate analysis; with a new text,
    // ingestion's fast tier speaks and the accurate analysis is owed.
    let same = verbatim(&server, "v0");
    server.ingest(json!([{"id": "v0", "text": same["text"], "channel": "chat", "customer_id": "cust-0", "nps": 3}]));
    let kept = verbatim(&server, "v0");
    assert_eq!((kept["sentiment_model"]["tier"].as_str(), kept["nps"].as_u64()), (Some("accurate"), Some(3)));
    assert_eq!((&kept["sentiment"], &kept["emotions"]), (&same["sentiment"], &same["emotions"]));
    assert!(kept.get("due").is_none(), "{kept}");
    server.ingest(json!([{"id": "v0", "text": "Remboursement refusé trois fois", "channel": "chat"}]));
    let changed = verbatim(&server, "v0");
    assert_eq!(changed["sentiment_model"]["tier"], "fast");
    assert_eq!(changed["due"], json!(["sentiment:accurate"]));

    // Reprocessing with the accurate tier settles what is owed.
    let again = submit(&server, json!({"kind": "reprocess", "filter": {"q": "remboursement"}, "model": "accurate"}));
    server.wait_job(&again, |job| job["state"] == "done");
    let settled = verbatim(&server, "v0");
    assert_eq!(settled["sentiment_model"]["tier"], "accurate");
    assert!(settled.get("due").is_none(), "{settled}");

    let listed = server.get("/v1/jobs").body;
    let ids: Vec<&str> = listed["jobs"].as_array().unwrap().iter().map(|j| j["id"].as_str().unwrap()).collect();
    assert_eq!(ids, [again.as_str(), id.as_str()], "newest first");
}

#[test]
fn a_job_killed_with_the_server_resumes_at_restart_and_analyses_every_verbatim_once() {
    let (_guard, data) = data_dir();
    let models = installed_models();
    let server = Server::start(&data, &models_args(&models));
    server.ingest(corpus("k", 240));
    let id = submit(&server, json!({"kind": "reprocess", "model": "accurate"}));
    // Killed once a page is committed and more remain.
    let job = server.wait_job(&id, |job| job["done"].as_u64().unwrap() > 0);
    assert!(job["done"].as_u64().unwrap() < 240, "{job}");
    assert!(job["rate"].as_f64().is_some() && job["eta_seconds"].as_u64().is_some(), "{job}");
    // Ingestion and search go on beside it.
    server.ingest(json!([{"id": "beside", "text": "Arrivé à l'heure, merci", "channel": "app"}]));
    assert_eq!(server.search("q=heure")["total"], 1);
    server.kill();

    let server = Server::start(&data, &models_args(&models));
    let job = server.wait_job(&id, |job| job["state"] == "done");
    // Progress is committed with the results it counts: a page done twice would count twice.
    assert_eq!((job["done"].as_u64(), job["total"].as_u64()), (Some(240), Some(240)), "{job}");
    for i in 0..240 {
        assert_eq!(verbatim(&server, &format!("k{i}"))["sentiment_model"]["tier"], "accurate", "k{i}");
    }
    assert_eq!(server.search("")["total"], 241, "store and index agree");
    assert_eq!(verbatim(&server, "beside")["sentiment_model"]["tier"], "fast", "added after the job began");
}

#[test]
fn a_deleted_job_stops_and_a_finished_one_goes_with_its_record() {
    let (_guard, data) = data_dir();
    let models = installed_models();
    let server = Server::start(&data, &models_args(&models));
    server.ingest(corpus("c", 400));
    let id = submit(&server, json!({"kind": "reprocess", "model": "accurate"}));
    server.wait_job(&id, |job| job["done"].as_u64().unwrap() > 0);
    // One job runs at a time by default: the next waits, queued.
    let waiting = submit(&server, json!({"kind": "reprocess", "filter": {"customer_id": "cust-1"}}));
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(server.get(&format!("/v1/jobs/{waiting}")).body["state"], "queued");
    // Erasing the customer its filter names stops it (without the filter it would select
    // everything) and removes the id from its record.
    assert_eq!(server.delete("/v1/customers/cust-1").status, 200);
    let stopped = server.get(&format!("/v1/jobs/{waiting}")).body;
    assert_eq!(stopped["state"], "failed", "{stopped}");
    assert!(stopped["message"].as_str().unwrap().contains("erased"), "{stopped}");
    assert_eq!(stopped["spec"]["filter"], json!({}), "{stopped}");

    assert_eq!(server.delete(&format!("/v1/jobs/{id}")).status, 204);
    assert_eq!(server.get(&format!("/v1/jobs/{id}")).status, 404);
    assert_eq!(server.delete(&format!("/v1/jobs/{id}")).status, 404);
    // It stops after the page it was on: what it analysed stays, the rest is not reached.
    // (cust-1's verbatims, every fifth, are erased.)
    let kept: Vec<usize> = (0..400).filter(|i| i % 5 != 1).collect();
    let accurate =
        || kept.iter().filter(|i| verbatim(&server, &format!("c{i}"))["sentiment_model"]["tier"] == "accurate").count();
    std::thread::sleep(Duration::from_secs(8));
    let reached = accurate();
    assert!((1..kept.len()).contains(&reached), "{reached}");
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(accurate(), reached, "stopped");

    let done = submit(&server, json!({"kind": "reprocess", "filter": {"channel": "chat"}}));
    server.wait_job(&done, |job| job["state"] == "done");
    assert_eq!(server.delete(&format!("/v1/jobs/{done}")).status, 204);
    let listed = server.get("/v1/jobs").body;
    let ids: Vec<&str> = listed["jobs"].as_array().unwrap().iter().map(|j| j["id"].as_str().unwrap()).collect();
    assert_eq!(ids, [waiting.as_str()], "only the job the erasure stopped is left");
    let reply = server.get(&format!("/v1/jobs/{done}/results"));
    assert_eq!(reply.status, 404);

    // Refused up front, with the field at fault.
    for (job, code) in [
        (json!({"kind": "discover_topics", "topics": 1}), "invalid_value"),
        (json!({"kind": "assign_topics", "model": "fast"}), "unknown_field"),
        (json!({"kind": "reprocess", "filter": {"limit": 5}}), "invalid_filter"),
        (json!({"kind": "reprocess", "filter": {"channel": "email"}, "colour": 1}), "unknown_field"),
        (json!({"kind": "reprocess", "stages": ["language"]}), "invalid_stages"),
        (json!({"kind": "analyze_file", "file": "in.jsonl"}), "imports_disabled"),
        (json!({"kind": "reprocess", "model": "huge"}), "unknown_model"),
    ] {
        let reply = server.post("/v1/jobs", &job);
        assert_eq!((reply.status, reply.body["code"].as_str()), (400, Some(code)), "{job}: {}", reply.body);
    }
}

#[test]
fn an_analyze_file_job_reads_only_the_import_directory_and_keeps_its_results_for_download() {
    let (guard, data) = data_dir();
    let import = guard.path().join("import");
    std::fs::create_dir_all(&import).unwrap();
    let mut lines: Vec<String> = corpus("f", 50).as_array().unwrap().iter().map(Value::to_string).collect();
    lines.insert(7, "{not json".to_string());
    lines.insert(20, json!({"id": "no-text", "channel": "app"}).to_string());
    std::fs::write(import.join("survey.jsonl"), lines.join("\n") + "\n").unwrap();
    std::fs::write(guard.path().join("outside.jsonl"), lines.join("\n")).unwrap();
    std::os::unix::fs::symlink(guard.path().join("outside.jsonl"), import.join("link.jsonl")).unwrap();
    let server = Server::start(&data, &["--import-dir", import.to_str().unwrap()]);

    let id = submit(&server, json!({"kind": "analyze_file", "file": "survey.jsonl"}));
    let job = server.wait_job(&id, |job| job["state"] == "done");
    assert_eq!((job["done"].as_u64(), job["errors"].as_u64(), job["total"].as_u64()), (Some(52), Some(2), Some(52)));
    let results = server.get(&format!("/v1/jobs/{id}/results"));
    assert_eq!((results.status, results.content_type.as_str()), (200, "application/x-ndjson"));
    let results: Vec<Value> =
        results.body.as_str().unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(results.len(), 50);
    assert_eq!((results[0]["id"].as_str(), results[0]["customer_id"].as_str()), (Some("f0"), Some("cust-0")));
    assert_eq!(results[0]["sentiment"]["label"], "negative");
    let rejected = server.get(&format!("/v1/jobs/{id}/rejected")).body;
    let codes: Vec<(u64, String)> = rejected
        .as_str()
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .map(|e| (e["line"].as_u64().unwrap(), e["code"].as_str().unwrap().to_string()))
        .collect();
    assert_eq!(codes, [(8, "unreadable_record".to_string()), (21, "missing_field".to_string())]);

    for (file, code) in [
        ("../outside.jsonl", "invalid_path"),
        ("/etc/passwd", "invalid_path"),
        ("link.jsonl", "invalid_path"),
        ("none.jsonl", "file_not_found"),
    ] {
        let reply = server.post("/v1/jobs", &json!({"kind": "analyze_file", "file": file}));
        assert_eq!((reply.status, reply.body["code"].as_str()), (400, Some(code)), "{file}: {}", reply.body);
    }

    // Erasing a customer reaches the results kept for download.
    assert_eq!(server.delete("/v1/customers/cust-0").status, 200);
    let left = server.get(&format!("/v1/jobs/{id}/results")).body;
    let left: Vec<Value> = left.as_str().unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(left.len(), 40);
    assert!(left.iter().all(|r| r["customer_id"] != "cust-0"));
    // A reprocess job has no results file.
    let stored = submit(&server, json!({"kind": "reprocess"}));
    let reply = server.get(&format!("/v1/jobs/{stored}/results"));
    assert_eq!((reply.status, reply.body["code"].as_str()), (409, Some("no_results_file")), "{}", reply.body);
    // Deleting the job removes its files.
    assert_eq!(server.delete(&format!("/v1/jobs/{id}")).status, 204);
    assert!(!data.join("jobs").join(&id).exists());
}

/// `verbatim reprocess` over the store, killed mid-job: the same command resumes it.
#[test]
fn the_stored_reprocess_command_resumes_after_a_kill() {
    let (_guard, data) = data_dir();
    let models = installed_models();
    let server = Server::start(&data, &[]);
    server.ingest(corpus("s", 240));
    server.stop();
    let args = ["--models", models.to_str().unwrap(), "reprocess", "--model", "accurate", "--filter", "channel=email"];
    let mut child = Command::new(BIN)
        .arg("--data")
        .arg(&data)
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let store = Store::open_read_only(&data.join("verbatim.sqlite3")).unwrap();
    let started = Instant::now();
    while store.jobs(1).unwrap().first().is_none_or(|job| job.done == 0) {
        assert!(started.elapsed() < PATIENCE, "no page committed");
        std::thread::sleep(Duration::from_millis(50));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let interrupted = store.jobs(1).unwrap().remove(0);
    assert!(interrupted.done < interrupted.total, "killed mid-job: {interrupted:?}");

    let (code, stdout, stderr) = cli(&data, &args, None);
    assert_eq!(code, 0, "{stderr}");
    assert!(stderr.contains("resuming an interrupted reprocess"), "{stderr}");
    let job: Value = serde_json::from_str(stdout.trim()).unwrap();
    assert_eq!(job["id"].as_str(), Some(interrupted.id.as_str()));
    assert_eq!(
        (job["state"].as_str(), job["done"].as_u64(), job["total"].as_u64()),
        (Some("done"), Some(160), Some(160))
    );
    let server = Server::start(&data, &[]);
    for i in 0..240 {
        let tier = if i % 3 == 0 { "fast" } else { "accurate" };
        assert_eq!(verbatim(&server, &format!("s{i}"))["sentiment_model"]["tier"], tier, "s{i}");
    }
}

/// An export reaches every match, past search's 10,000 offset cap, in JSONL, CSV and Parquet.
#[test]
fn exports_reach_every_match_in_every_format() {
    let (guard, data) = data_dir();
    let input = guard.path().join("many.jsonl");
    let lines: Vec<String> = (0..10_050)
        .map(|i| json!({"id": format!("e{i}"), "text": format!("avis {i}"), "language": "fr", "channel": if i % 2 == 0 { "email" } else { "chat" }}).to_string())
        .collect();
    std::fs::write(&input, lines.join("\n")).unwrap();
    let (code, _, stderr) = cli(&data, &["ingest", input.to_str().unwrap()], None);
    assert_eq!(code, 0, "{stderr}");
    let server = Server::start(&data, &[]);

    let all = server.get("/v1/export");
    assert_eq!((all.status, all.content_type.as_str()), (200, "application/x-ndjson"));
    let exported: Vec<Value> = all.body.as_str().unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let ids: Vec<String> = exported.iter().map(|v| v["id"].as_str().unwrap().to_string()).collect();
    assert_eq!(ids.len(), 10_050);
    assert_eq!(ids.iter().collect::<HashSet<_>>().len(), 10_050, "each once");
    assert_eq!((ids[0].as_str(), ids[10_049].as_str()), ("e0", "e10049"), "in the order stored");

    let csv = server.get("/v1/export?format=csv&channel=chat&q=avis");
    assert!(csv.content_type.starts_with("text/csv"), "{}", csv.content_type);
    let csv = csv.body.as_str().unwrap().to_string();
    let mut rows = csv::Reader::from_reader(csv.as_bytes());
    let headers = rows.headers().unwrap().clone();
    assert_eq!(headers.iter().take(3).collect::<Vec<_>>(), ["id", "text", "language"]);
    // Emotions as a spreadsheet reads them: names, strongest first; `neutral` when none.
    let column = headers.iter().position(|h| h == "emotions").expect("an emotions column");
    let emotions_of: std::collections::HashMap<&str, String> = exported
        .iter()
        .map(|v| {
            let names: Vec<&str> =
                v["emotions"].as_array().unwrap().iter().map(|e| e["label"].as_str().unwrap()).collect();
            (v["id"].as_str().unwrap(), if names.is_empty() { "neutral".to_string() } else { names.join(",") })
        })
        .collect();
    let records: Vec<csv::StringRecord> = rows.records().map(Result::unwrap).collect();
    assert_eq!(records.len(), 5_025);
    for record in &records {
        assert_eq!(record[column], emotions_of[&record[0]], "{record:?}");
    }

    for (query, code) in
        [("limit=5", "invalid_parameter"), ("format=xml", "invalid_parameter"), ("q=(avis", "invalid_query")]
    {
        let reply = server.get(&format!("/v1/export?{query}"));
        assert_eq!((reply.status, reply.body["code"].as_str()), (400, Some(code)), "{query}");
    }
    server.stop();

    // The command line writes Parquet that a Parquet reader reads back whole.
    let parquet = guard.path().join("chat.parquet");
    let (code, _, stderr) = cli(
        &data,
        &["export", "--format", "parquet", "--output", parquet.to_str().unwrap(), "-f", "channel=chat"],
        None,
    );
    assert_eq!(code, 0, "{stderr}");
    assert!(stderr.contains("\"exported\":5025"), "{stderr}");
    use parquet::file::reader::{FileReader, SerializedFileReader};
    let reader = SerializedFileReader::new(std::fs::File::open(&parquet).unwrap()).unwrap();
    assert_eq!(reader.metadata().file_metadata().num_rows(), 5_025);
    let first = reader.get_row_iter(None).unwrap().next().unwrap().unwrap();
    let columns: Vec<(String, String)> =
        first.get_column_iter().map(|(name, field)| (name.clone(), field.to_string())).collect();
    assert_eq!(columns[0], ("id".to_string(), "\"e1\"".to_string()), "{columns:?}");
    assert_eq!(columns[3], ("channel".to_string(), "\"chat\"".to_string()), "{columns:?}");
}

/// Over the store too, parallelism changes the speed, never the answer: one thread and all
/// threads leave the same verbatims (compared through an export of each).
#[test]
fn a_stored_reprocess_gives_the_same_store_on_one_thread_and_on_all() {
    let (guard, one) = data_dir();
    let input = guard.path().join("in.jsonl");
    let lines: Vec<String> = corpus("t", 3_000).as_array().unwrap().iter().map(Value::to_string).collect();
    std::fs::write(&input, lines.join("\n")).unwrap();
    assert_eq!(cli(&one, &["ingest", input.to_str().unwrap()], None).0, 0);
    let all = guard.path().join("all");
    assert!(Command::new("cp").arg("-r").arg(&one).arg(&all).status().unwrap().success());
    let reprocess = |data: &Path, threads: Option<&str>| {
        let mut command = Command::new(BIN);
        command.arg("--data").arg(data).args(["reprocess", "--filter", "channel=email"]);
        command.stdout(Stdio::null()).stderr(Stdio::null());
        if let Some(threads) = threads {
            command.env("RAYON_NUM_THREADS", threads);
        }
        assert!(command.status().unwrap().success());
    };
    reprocess(&one, Some("1"));
    reprocess(&all, None);
    let export = |data: &Path| {
        let (code, stdout, stderr) = cli(data, &["export"], None);
        assert_eq!(code, 0, "{stderr}");
        stdout
    };
    let (from_one, from_all) = (export(&one), export(&all));
    assert_eq!(from_one.lines().count(), 3_000);
    assert!(from_one == from_all, "one thread and all threads disagree");
}
