//! Data survives restarts and crashes: nothing acknowledged is lost, nothing is half-stored,
//! and the index is repaired at start-up to match the store.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use common::{data_dir, Server};
use serde_json::{json, Value};
use verbatim::domain::Verbatim;
use verbatim::service::DataPaths;
use verbatim::store::{Durability, Store};

fn open_store(data: &std::path::Path) -> Store {
    Store::open(&DataPaths::new(data).store, None, Durability::Full).unwrap()
}

fn batch(prefix: &str, n: usize) -> Vec<Value> {
    (0..n)
        .map(|i| json!({"id": format!("{prefix}-{i}"), "text": format!("retard de livraison numéro {i}"), "language": "fr"}))
        .collect()
}

fn stored_verbatim(id: &str, text: &str) -> Verbatim {
    Verbatim::from_json(&json!({"id": id, "text": text, "language": "fr"}), chrono::Utc::now()).unwrap()
}

#[test]
fn data_survives_a_restart() {
    let (_guard, data) = data_dir();
    let server = Server::start(&data, &[]);
    server.ingest(json!([{"id":"p1","text":"Service client injoignable","language":"fr","nps":3}]));
    server.stop();
    let server = Server::start(&data, &[]);
    assert_eq!(server.search_ids("q=injoignable"), ["p1"]);
    assert_eq!(server.get("/v1/verbatims/p1").body["nps"], 3);
}

#[test]
fn startup_indexes_what_the_store_has_and_the_index_lacks() {
    let (_guard, data) = data_dir();
    let server = Server::start(&data, &[]);
    server.ingest(json!([{"id":"a","text":"premier avis","language":"fr"}]));
    server.stop();
    // The state a crash between the store commit and the index commit leaves behind.
    open_store(&data).upsert(&mut [stored_verbatim("b", "colis abîmé")]).unwrap();
    let server = Server::start(&data, &[]);
    assert_eq!(server.search_ids("q=colis"), ["b"]);
    assert_eq!(server.search("")["total"], 2);
    // Written without analysis, it was analysed at start-up like any stored backlog.
    assert!(server.get("/v1/verbatims/b").body["sentiment"]["label"].is_string());
}

#[test]
fn startup_drops_from_the_index_what_the_store_erased() {
    let (_guard, data) = data_dir();
    let server = Server::start(&data, &[]);
    server.ingest(
        json!([{"id":"a","text":"premier avis","language":"fr"},{"id":"gone","text":"secret","language":"fr"}]),
    );
    server.stop();
    // An erasure that reached the store but not the index.
    assert!(open_store(&data).write(|store| store.delete("gone")).unwrap().0);
    let server = Server::start(&data, &[]);
    assert!(server.search_ids("q=secret").is_empty());
    assert_eq!(server.search("")["total"], 1);
}

#[test]
fn a_lost_index_is_rebuilt_from_the_store() {
    let (_guard, data) = data_dir();
    let server = Server::start(&data, &[]);
    server.ingest(json!(batch("x", 50)));
    server.stop();
    std::fs::remove_dir_all(DataPaths::new(&data).index).unwrap();
    let server = Server::start(&data, &[]);
    assert_eq!(server.search("q=livraison")["total"], 50);
}

/// Kills the server with SIGKILL while batches stream in: every acknowledged batch must be
/// there after restart, every other batch wholly absent, and store and index must agree.
#[test]
fn a_kill_mid_write_loses_nothing_acknowledged_and_stores_nothing_half() {
    let (_guard, data) = data_dir();
    let server = Server::start(&data, &[]);
    let base = server.base.clone();
    let (acked_tx, acked_rx) = mpsc::channel();
    let writer = thread::spawn(move || {
        let agent: ureq::Agent = ureq::Agent::config_builder().http_status_as_error(false).build().into();
        for round in 0..200 {
            let body = json!({ "verbatims": batch(&format!("r{round}"), 200) });
            match agent.post(format!("{base}/v1/verbatims")).send_json(&body) {
                Ok(response) if response.status() == 200 => acked_tx.send(round).unwrap(),
                _ => return round,
            }
        }
        200
    });
    // Kill once a few batches are acknowledged, so the kill lands mid-stream on any machine.
    let mut acked: Vec<usize> = (0..5).map(|_| acked_rx.recv().expect("batches are acknowledged")).collect();
    server.kill();
    let stopped_at = writer.join().unwrap();
    acked.extend(acked_rx.try_iter());
    assert!(!acked.is_empty() && stopped_at < 200, "the kill must land mid-stream (acked {})", acked.len());

    let server = Server::start(&data, &[]);
    let store = Store::open_read_only(&DataPaths::new(&data).store).unwrap();
    for round in 0..=stopped_at {
        let ids: Vec<String> = (0..200).map(|i| format!("r{round}-{i}")).collect();
        let present = store.get_many(&ids).unwrap().len();
        if acked.contains(&round) {
            assert_eq!(present, 200, "acknowledged batch {round} lost rows");
        } else {
            assert!(present == 0 || present == 200, "batch {round} half-stored: {present} of 200");
        }
    }
    let stored = store.count().unwrap();
    assert_eq!(server.search("")["total"].as_u64().unwrap(), stored, "index and store disagree after repair");
}

/// SIGTERM while a batch is in flight (its head sent, its body still arriving): the server
/// finishes it, answers 200 with every item stored, then exits cleanly.
#[test]
fn graceful_shutdown_finishes_the_batch_in_flight() {
    let (_guard, data) = data_dir();
    let server = Server::start(&data, &[]);
    let body = json!({ "verbatims": batch("g", 1000) }).to_string();
    let host = server.base.trim_start_matches("http://").to_string();
    let mut connection = TcpStream::connect(&host).unwrap();
    let head = format!(
        "POST /v1/verbatims HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\nConnection: close\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    connection.write_all(head.as_bytes()).unwrap();
    connection.write_all(&body.as_bytes()[..body.len() / 2]).unwrap();
    // Half the body is in: the request is in flight whatever the machine's speed.
    thread::sleep(Duration::from_millis(200));
    server.terminate();
    thread::sleep(Duration::from_millis(200));
    connection.write_all(&body.as_bytes()[body.len() / 2..]).unwrap();
    let mut answer = String::new();
    connection.read_to_string(&mut answer).unwrap();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    server.wait_exit();
    let store = Store::open_read_only(&DataPaths::new(&data).store).unwrap();
    assert_eq!(store.count().unwrap(), 1000);
}

/// A full store (here a size quota, which fails exactly as a full disk does) refuses the
/// whole batch with 507, keeps every earlier batch, and goes on serving.
#[test]
fn a_full_store_refuses_the_batch_whole_and_keeps_serving() {
    let (_guard, data) = data_dir();
    let server = Server::start(&data, &["--max-store-bytes", "262144"]);
    let mut stored_rounds = 0;
    let mut refused = None;
    for round in 0..100 {
        let items: Vec<Value> = (0..50)
            .map(
                |i| json!({"id": format!("f{round}-{i}"), "text": format!("{} {i}", "avis très détaillé ".repeat(60))}),
            )
            .collect();
        let reply = server.post("/v1/verbatims", &json!({ "verbatims": items }));
        if reply.status == 507 {
            assert_eq!(reply.body["code"], "storage_full", "{}", reply.body);
            refused = Some(round);
            break;
        }
        assert_eq!(reply.status, 200, "{}", reply.body);
        stored_rounds += 1;
    }
    let refused = refused.expect("the quota must be reached");
    assert!(stored_rounds > 0);
    for i in [0, 49] {
        assert_eq!(server.get(&format!("/v1/verbatims/f{refused}-{i}")).status, 404, "refused batch half-stored");
        assert_eq!(server.get(&format!("/v1/verbatims/f0-{i}")).status, 200);
    }
    assert_eq!(server.search("")["total"], stored_rounds * 50);
    assert_eq!(server.get("/ready").status, 200);
    // Erasure still works on a full store, and frees room.
    assert_eq!(server.delete("/v1/verbatims/f0-0").status, 204);
}
