//! `verbatim backup` beside a running, writing server, and `verbatim restore` into a fresh data
//! directory: the restored server answers every read and every search as the original did for
//! what the backup holds; damaged backups and occupied data directories are refused.

mod common;

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::thread;

use chrono::{Duration, TimeZone, Utc};
use common::{cli, data_dir, Server};
use serde_json::{json, Value};

const BASE: usize = 300;
const LIVE_BATCH: usize = 25;
const MAX_LIVE_ROUNDS: usize = 400;

/// Varied verbatims: both languages and undetected ones, every channel, customer ids, scores,
/// metadata and dates spread over most of a year (one apart each, so `sort=newest` is total).
fn base_verbatims() -> Vec<Value> {
    let channels = ["survey", "email", "review", "social", "chat", "ticket", "call"];
    let stores = ["Lyon", "Paris", "Lille"];
    let start = Utc.with_ymd_and_hms(2026, 1, 1, 8, 0, 0).unwrap();
    (0..BASE)
        .map(|i| {
            let text = match i % 4 {
                0 => format!("Livraison en retard de {i} jours, service client injoignable"),
                1 => format!("Great delivery, the parcel {i} arrived early and intact"),
                2 => format!("Produit conforme, très satisfait de la commande {i}"),
                _ => format!("Terrible support, order {i} was refunded after weeks"),
            };
            let mut item = json!({
                "id": format!("v-{i}"),
                "text": text,
                "channel": channels[i % channels.len()],
                "created_at": (start + Duration::hours(20 * i as i64)).to_rfc3339(),
                "metadata": {"store": stores[i % stores.len()], "batch": "base", "ticket": format!("T{i:04}")},
            });
            match i % 3 {
                0 => item["language"] = json!("fr"),
                1 => item["language"] = json!("en"),
                _ => {}
            }
            if i % 5 != 0 {
                item["customer_id"] = json!(format!("cust-{}", i % 23));
            }
            if i % 2 == 0 {
                item["nps"] = json!(i % 11);
            }
            if i % 3 == 0 {
                item["csat"] = json!(1 + i % 5);
            }
            if i % 4 == 0 {
                item["ces"] = json!(1 + i % 7);
            }
            item
        })
        .collect()
}

fn live_batch(round: usize) -> Vec<Value> {
    (0..LIVE_BATCH)
        .map(|i| {
            json!({"id": format!("live-{round}-{i}"), "text": format!("message en direct {round} {i}"),
                   "language": "fr", "channel": "other", "metadata": {"batch": "live"}})
        })
        .collect()
}

fn json_line(stdout: &str) -> Value {
    serde_json::from_str(stdout.trim()).unwrap_or_else(|e| panic!("not one JSON line ({e}): {stdout}"))
}

/// Runs `verbatim backup` (or `restore`) and returns its summary, asserting success.
fn run_ok(data: &Path, command: &str, dir: &Path) -> Value {
    let (code, stdout, stderr) = cli(data, &[command, dir.to_str().unwrap()], None);
    assert_eq!(code, 0, "{command} failed: {stderr}");
    json_line(&stdout)
}

/// Runs `verbatim backup` (or `restore`), asserts it failed with exit 1, returns its stderr.
fn run_refused(data: &Path, command: &str, dir: &Path) -> String {
    let (code, stdout, stderr) = cli(data, &[command, dir.to_str().unwrap()], None);
    assert_eq!(code, 1, "{command} should have been refused; stdout: {stdout}; stderr: {stderr}");
    stderr
}

fn ingest_offline(data: &Path, verbatims: &[Value]) {
    let lines: String = verbatims.iter().map(|v| format!("{v}\n")).collect();
    let (code, _, stderr) = cli(data, &["ingest", "-"], Some(&lines));
    assert_eq!(code, 0, "{stderr}");
}

#[test]
fn a_backup_taken_while_serving_and_writing_restores_every_verbatim_and_search_total() {
    let (guard, data) = data_dir();
    let server = Server::start(&data, &[]);
    for chunk in base_verbatims().chunks(50) {
        server.ingest(json!(chunk));
    }
    let erased = server.delete("/v1/customers/cust-4").body["deleted"].as_u64().unwrap() as usize;
    assert!(erased > 0);

    // A client keeps posting, one batch after another, until told to stop.
    let stop = Arc::new(AtomicBool::new(false));
    let (acked_tx, acked_rx) = mpsc::channel();
    let writer = {
        let (base, stop) = (server.base.clone(), stop.clone());
        thread::spawn(move || {
            let agent: ureq::Agent = ureq::Agent::config_builder().http_status_as_error(false).build().into();
            for round in 0..MAX_LIVE_ROUNDS {
                if stop.load(Ordering::SeqCst) {
                    return round;
                }
                let response = agent
                    .post(format!("{base}/v1/verbatims"))
                    .send_json(json!({ "verbatims": live_batch(round) }))
                    .expect("live batch posted");
                assert_eq!(response.status(), 200, "{:?}", response.into_body().read_to_string());
                acked_tx.send(round).unwrap();
            }
            MAX_LIVE_ROUNDS
        })
    };
    let mut acked_before_backup: Vec<usize> = (0..2).map(|_| acked_rx.recv().unwrap()).collect();
    acked_before_backup.extend(acked_rx.try_iter());

    let backup_dir = guard.path().join("backup");
    let summary = run_ok(&data, "backup", &backup_dir);
    stop.store(true, Ordering::SeqCst);
    let rounds_posted = writer.join().unwrap();
    assert!(rounds_posted < MAX_LIVE_ROUNDS, "the writer must still be posting when the backup ends");

    let manifest: Value = serde_json::from_slice(&std::fs::read(backup_dir.join("backup.json")).unwrap()).unwrap();
    let in_backup = manifest["verbatims"].as_u64().unwrap() as usize;
    assert_eq!(summary["verbatims"], manifest["verbatims"]);
    assert_eq!(summary["store_sha256"], manifest["store_sha256"]);
    // Batches are transactions and the client posts them in order: the snapshot holds the base
    // and a whole prefix of the live rounds, at least every round acknowledged before it began.
    let live_in_backup = in_backup - (BASE - erased);
    assert_eq!(live_in_backup % LIVE_BATCH, 0, "a batch was cut in two: {in_backup} verbatims");
    let rounds_in_backup = live_in_backup / LIVE_BATCH;
    assert!(rounds_in_backup >= acked_before_backup.len(), "{rounds_in_backup} < {acked_before_backup:?}");
    // v-4 belonged to the erased customer: not even its bytes are in the snapshot.
    let snapshot = std::fs::read(backup_dir.join("verbatim.sqlite3")).unwrap();
    assert!(!snapshot.windows(5).any(|w| w == b"T0004"), "erased metadata left in the backup's free pages");

    let restored_data = guard.path().join("restored");
    let report = run_ok(&restored_data, "restore", &backup_dir);
    assert_eq!(report["restored"], in_backup);
    assert_eq!(report["indexed"], in_backup);
    assert_eq!(report["last_seq"], manifest["last_seq"]);
    let restored = Server::start(&restored_data, &[]);

    let ids = (0..BASE)
        .map(|i| format!("v-{i}"))
        .chain((0..rounds_in_backup).flat_map(|r| (0..LIVE_BATCH).map(move |i| format!("live-{r}-{i}"))));
    for id in ids {
        let (original, copy) =
            (server.get(&format!("/v1/verbatims/{id}")), restored.get(&format!("/v1/verbatims/{id}")));
        assert_eq!((copy.status, &copy.body), (original.status, &original.body), "verbatim {id}");
    }
    if rounds_in_backup < rounds_posted {
        assert_eq!(restored.get(&format!("/v1/verbatims/live-{rounds_in_backup}-0")).status, 404);
    }

    assert_eq!(restored.search("")["total"], in_backup);
    assert_eq!(restored.search("q=direct")["total"], live_in_backup);
    assert_eq!(restored.search("customer_id=cust-4")["total"], 0);
    // The base is the same on both sides; the live rounds differ, so each query keeps to the base.
    for query in [
        "",
        "q=livraison",
        "q=delivery",
        "q=support+refunded",
        "channel=email",
        "nps_group=detractor",
        "metadata.store=Lyon",
        "customer_id=cust-7",
        "language=fr&csat_min=4",
        "sentiment=negative",
        "from=2026-03-01&to=2026-06-01",
    ] {
        let query = format!("{query}&metadata.batch=base&sort=newest&limit=100");
        let (original, copy) = (server.search(&query), restored.search(&query));
        assert!(original["total"].as_u64().unwrap() > 0, "{query} matches nothing");
        assert_eq!(copy["total"], original["total"], "{query}");
        assert_eq!(copy["facets"], original["facets"], "{query}");
        assert_eq!(common::hit_ids(&copy), common::hit_ids(&original), "{query}");
    }
}

#[test]
fn backup_refuses_a_directory_that_is_not_empty() {
    let (guard, data) = data_dir();
    ingest_offline(&data, &base_verbatims()[..3]);

    let occupied = guard.path().join("occupied");
    std::fs::create_dir_all(&occupied).unwrap();
    std::fs::write(occupied.join("notes.txt"), "keep me").unwrap();
    let stderr = run_refused(&data, "backup", &occupied);
    assert!(stderr.contains("is not empty (it holds notes.txt)"), "{stderr}");
    assert_eq!(std::fs::read_dir(&occupied).unwrap().count(), 1);
    assert_eq!(std::fs::read_to_string(occupied.join("notes.txt")).unwrap(), "keep me");

    // No server runs here: the backup reads the store on its own.
    let target = guard.path().join("backup");
    assert_eq!(run_ok(&data, "backup", &target)["verbatims"], 3);
    let manifest = std::fs::read(target.join("backup.json")).unwrap();
    let stderr = run_refused(&data, "backup", &target);
    assert!(stderr.contains("already holds a backup"), "{stderr}");
    assert_eq!(std::fs::read(target.join("backup.json")).unwrap(), manifest);
}

#[test]
fn restore_refuses_a_data_directory_that_holds_a_store_or_a_server() {
    let (guard, data) = data_dir();
    ingest_offline(&data, &base_verbatims()[..3]);
    let backup = guard.path().join("backup");
    run_ok(&data, "backup", &backup);

    let other = guard.path().join("other");
    ingest_offline(&other, &[json!({"id": "mine", "text": "à garder"})]);
    let stderr = run_refused(&other, "restore", &backup);
    assert!(stderr.contains("already holds a verbatim store"), "{stderr}");
    let (code, stdout, stderr) = cli(&other, &["search"], None);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(common::hit_ids(&serde_json::from_str(&stdout).unwrap()), ["mine"]);

    // A write-ahead log left behind without its database would be replayed into the restore.
    let leftover = guard.path().join("leftover");
    std::fs::create_dir_all(&leftover).unwrap();
    std::fs::write(leftover.join("verbatim.sqlite3-wal"), b"stale").unwrap();
    let stderr = run_refused(&leftover, "restore", &backup);
    assert!(stderr.contains("-wal/-shm"), "{stderr}");

    let served = guard.path().join("served");
    let server = Server::start(&served, &[]);
    let stderr = run_refused(&served, "restore", &backup);
    assert!(stderr.contains("in use by another verbatim process"), "{stderr}");
    assert_eq!(server.search("")["total"], 0);
}

#[test]
fn restore_refuses_a_damaged_or_interrupted_backup() {
    let (guard, data) = data_dir();
    ingest_offline(&data, &base_verbatims());
    let backup = guard.path().join("backup");
    run_ok(&data, "backup", &backup);
    let snapshot = std::fs::read(backup.join("verbatim.sqlite3")).unwrap();
    let manifest = std::fs::read(backup.join("backup.json")).unwrap();
    let fresh = guard.path().join("fresh");

    std::fs::write(backup.join("verbatim.sqlite3"), &snapshot[..snapshot.len() / 2]).unwrap();
    let stderr = run_refused(&fresh, "restore", &backup);
    assert!(stderr.contains("the backup is truncated or damaged"), "{stderr}");
    assert!(!fresh.join("verbatim.sqlite3").exists());

    std::fs::write(backup.join("verbatim.sqlite3"), &snapshot).unwrap();
    std::fs::remove_file(backup.join("backup.json")).unwrap();
    let stderr = run_refused(&fresh, "restore", &backup);
    assert!(stderr.contains("not a verbatim backup, or one that was interrupted"), "{stderr}");

    // A manifest that disagrees with its snapshot's contents: caught once SQLite reads the copy.
    let mut wrong: Value = serde_json::from_slice(&manifest).unwrap();
    wrong["verbatims"] = json!(BASE + 1);
    std::fs::write(backup.join("backup.json"), wrong.to_string()).unwrap();
    let stderr = run_refused(&fresh, "restore", &backup);
    assert!(stderr.contains(&format!("holds {BASE} verbatims")), "{stderr}");
    assert!(!fresh.join("verbatim.sqlite3").exists() && !fresh.join("verbatim.sqlite3.restoring").exists());

    // What the refusals left behind does not stand in the way of the sound backup.
    std::fs::write(backup.join("backup.json"), &manifest).unwrap();
    assert_eq!(run_ok(&fresh, "restore", &backup)["restored"], BASE);
}
