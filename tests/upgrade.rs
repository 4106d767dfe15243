//! Upgrades: a data directory written by an earlier release opens, migrates and serves.
//!
//! Each fixture in `tests/fixtures/` is the data directory an earlier release's
//! `verbatim ingest input.jsonl` wrote (its README says which build):
//! - `release-2026-11-25`: store version 2, index analyzers of the first tokenizer (v1);
//! - `release-2026-11-26`: store version 3, index analyzers v2 (the current ones).
//!
//! The test works on a copy, so the committed files never change.

mod common;

use std::path::Path;

use common::{data_dir, Server};
use serde_json::Value;
use verbatim::service::DataPaths;

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

fn fixture(name: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures").join(name)
}

/// Opens a copy of `name` with this build, checks every verbatim of its input came through
/// whole and searchable, and that the store reached this build's version. Returns the log.
fn upgrade(name: &str) -> String {
    let (_guard, data) = data_dir();
    copy_dir(&fixture(name).join("data"), &data);
    let input = std::fs::read_to_string(fixture(name).join("input.jsonl")).unwrap();
    let items: Vec<Value> = input.lines().map(|line| serde_json::from_str(line).unwrap()).collect();

    let server = Server::start(&data, &[]);
    for item in &items {
        let id = item["id"].as_str().unwrap();
        let stored = server.get(&format!("/v1/verbatims/{id}"));
        assert_eq!(stored.status, 200, "{name}: {id} missing");
        for field in ["text", "channel", "customer_id", "nps", "csat", "ces", "metadata"] {
            if !item[field].is_null() {
                assert_eq!(stored.body[field], item[field], "{name}: {id}.{field}");
            }
        }
        assert!(stored.body["sentiment"]["label"].is_string(), "{name}: {id} has no sentiment");
        // Analysed before emotions were: none stored, which is not "neutral" (an empty list).
        assert!(stored.body.get("emotions").is_none(), "{name}: {id}: {}", stored.body);
    }
    assert_eq!(server.search("")["total"], items.len());
    // Stemmed, accent-folded search works on the old rows: the index is this build's.
    let mut delivery = server.search_ids("q=livraisons");
    delivery.sort();
    assert_eq!(delivery, ["fr-1"]);
    assert_eq!(server.search_ids("q=refunds"), ["en-3"]);
    assert_eq!(server.search_ids("q=remboursement&channel=ticket"), ["fr-4"]);
    assert_eq!(server.search("")["facets"]["channel"]["email"], 2);
    // It takes new writes beside the old ones.
    server.ingest(serde_json::json!([{"id":"new","text":"Livraison parfaite","language":"fr","channel":"app"}]));
    assert_eq!(server.search("q=livraison")["total"], 2);
    assert!(server.get("/v1/verbatims/new").body["emotions"].is_array(), "{name}: new writes get emotions");
    // The alert tables exist: a rule can be saved on an upgraded store.
    let rule = serde_json::json!({"name": "r", "filter": {"nps_group": "detractor"}, "follow_up": {"due_hours": 48}});
    assert_eq!(server.post("/v1/alerts/rules", &rule).status, 201, "{name}");
    let log = server.server_log();
    server.stop();

    let store = r2d2_sqlite::rusqlite::Connection::open(DataPaths::new(&data).store).unwrap();
    let version: i64 = store.query_row("PRAGMA user_version", [], |r| r.get(0)).unwrap();
    assert_eq!(version, 10, "{name}: store not at this build's version");
    log
}

#[test]
fn the_release_before_hardening_migrates_its_store_and_rebuilds_its_index() {
    let log = upgrade("release-2026-11-25");
    assert!(log.contains("store migrated"), "{log}");
    assert!(log.contains("rebuilding the index from the store"), "{log}");
    assert!(log.contains("index caught up with the store"), "{log}");
}

/// Since topics, the index holds each verbatim's topic: an index of an earlier release is
/// rebuilt from the store once.
#[test]
fn the_release_with_analyzers_v2_migrates_its_store_and_rebuilds_its_index_for_topics() {
    let log = upgrade("release-2026-11-26");
    assert!(log.contains("store migrated"), "{log}");
    assert!(log.contains("rebuilding the index from the store"), "{log}");
}

#[test]
fn the_release_with_checkpoints_migrates_its_store_and_rebuilds_its_index_for_topics() {
    let log = upgrade("release-2026-11-26b");
    assert!(log.contains("store migrated"), "{log}");
    assert!(log.contains("rebuilding the index from the store"), "{log}");
}
