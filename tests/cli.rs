//! The command line: `ingest` (JSONL, CSV, stdin), `search`, `reindex`, and the data-dir lock.

mod common;

use common::{cli, data_dir, hit_ids, Server};
use serde_json::Value;

fn json(stdout: &str) -> Value {
    serde_json::from_str(stdout).unwrap_or_else(|e| panic!("not JSON ({e}): {stdout}"))
}

fn rejections(stderr: &str) -> Vec<(u64, String)> {
    stderr
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .map(|e| (e["line"].as_u64().unwrap(), e["code"].as_str().unwrap().to_string()))
        .collect()
}

#[test]
fn ingest_jsonl_reports_bad_lines_and_keeps_the_rest() {
    let (guard, data) = data_dir();
    let file = guard.path().join("in.jsonl");
    let mut content = Vec::new();
    content.extend_from_slice(
        b"{\"id\":\"j1\",\"text\":\"Livraison en retard\",\"language\":\"fr\",\"channel\":\"email\"}\n",
    );
    content.extend_from_slice(b"{\"id\":\"j2\",\"text\": oops}\n");
    content.extend_from_slice(b"\n");
    content.extend_from_slice(b"{\"id\":\"j3\",\"text\":\"caf\xe9\"}\n");
    content.extend_from_slice(b"{\"id\":\"j4\",\"text\":\"ok\",\"nps\":12}\n");
    content.extend_from_slice(b"{\"id\":\"j5\",\"text\":\"Great support\",\"language\":\"en\"}");
    std::fs::write(&file, content).unwrap();
    let (code, stdout, stderr) = cli(&data, &["ingest", file.to_str().unwrap()], None);
    assert_eq!(code, 2, "{stderr}");
    assert_eq!(json(&stdout), serde_json::json!({"accepted": 2, "rejected": 3}));
    assert_eq!(
        rejections(&stderr),
        [(2, "unreadable_record".to_string()), (4, "unreadable_record".to_string()), (5, "invalid_score".to_string())]
    );
    let (code, stdout, _) = cli(&data, &["search", "livraisons", "-f", "channel=email"], None);
    assert_eq!(code, 0);
    assert_eq!(hit_ids(&json(&stdout)), ["j1"]);
}

#[test]
fn ingest_csv_maps_columns_and_extra_columns_become_metadata() {
    let (guard, data) = data_dir();
    let file = guard.path().join("survey.csv");
    std::fs::write(
        &file,
        "id,text,language,channel,created_at,nps,store\n\
         c1,\"Trop cher, et livraison lente\",fr,survey,2026-10-01,3,Lyon\n\
         c2,\"Multi\nline answer\",en,survey,2026-10-02,abc,Paris\n\
         c3,Parfait,fr,survey,2026-10-03,10,\n",
    )
    .unwrap();
    let (code, stdout, stderr) = cli(&data, &["ingest", file.to_str().unwrap()], None);
    assert_eq!(code, 2, "{stderr}");
    assert_eq!(json(&stdout)["accepted"], 2);
    assert_eq!(rejections(&stderr), [(3, "invalid_score".to_string())]);
    let (_, stdout, _) = cli(&data, &["search", "", "-f", "metadata.store=Lyon", "-f", "nps_group=detractor"], None);
    let found = json(&stdout);
    assert_eq!(hit_ids(&found), ["c1"]);
    assert_eq!(found["hits"][0]["verbatim"]["text"], "Trop cher, et livraison lente");
}

#[test]
fn ingest_reads_stdin_and_reindex_rebuilds() {
    let (_guard, data) = data_dir();
    let input = "{\"id\":\"s1\",\"text\":\"Remboursement reçu\",\"language\":\"fr\"}\n\
                 {\"id\":\"s2\",\"text\":\"Refund received\",\"language\":\"en\"}\n";
    let (code, stdout, stderr) = cli(&data, &["ingest", "-"], Some(input));
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(json(&stdout)["accepted"], 2);
    let (code, stdout, _) = cli(&data, &["reindex"], None);
    assert_eq!(code, 0);
    assert_eq!(json(&stdout)["reindexed"], 2);
    let (_, stdout, _) = cli(&data, &["search", "remboursement OR refund"], None);
    assert_eq!(json(&stdout)["total"], 2);
}

#[test]
fn a_running_server_owns_the_data_dir_but_search_still_reads_it() {
    let (guard, data) = data_dir();
    let server = Server::start(&data, &[]);
    server.ingest(serde_json::json!([{"id":"a","text":"avis","language":"fr"}]));
    let file = guard.path().join("more.jsonl");
    std::fs::write(&file, "{\"id\":\"b\",\"text\":\"x\"}\n").unwrap();
    let (code, _, stderr) = cli(&data, &["ingest", file.to_str().unwrap()], None);
    assert_eq!(code, 1);
    assert!(stderr.contains("in use by another verbatim process"), "{stderr}");
    let (code, stdout, stderr) = cli(&data, &["search", "avis"], None);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(hit_ids(&json(&stdout)), ["a"]);
    let (code, _, stderr) = cli(&data, &["search", "x", "-f", "colour=red"], None);
    assert_eq!(code, 1);
    assert!(stderr.contains("colour"), "{stderr}");
}
