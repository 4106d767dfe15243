//! Erasure (GDPR) removes personal data from every file of the data directory, not just from
//! the answers: the raw bytes of the directory are scanned, and the index is read segment by
//! segment (a byte scan alone can pass falsely on compressed or prefix-shared data).

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use common::{data_dir, files_containing, Server};
use serde_json::{json, Value};
use tantivy::schema::FieldType;
use tantivy::Index;
use verbatim::service::DataPaths;

/// Personal data of the customer to erase: text, customer id, metadata value.
const CUSTOMER: &str = "cust-qzx-erase";
const TEXT_WORD: &str = "Xylophonique";
const METADATA_VALUE: &str = "wombat-mail";
/// The bound documented in docs/decisions.md.
const PURGE_BOUND: Duration = Duration::from_secs(60);

fn verbatims(prefix: &str, n: usize, customer: &str, word: &str, contact: &str) -> Vec<Value> {
    (0..n)
        .map(|i| {
            json!({"id": format!("{prefix}-{i}"), "text": format!("{word} plainte numéro {i}, livraison en retard"),
                   "language": "fr", "customer_id": customer, "metadata": {"contact": contact}})
        })
        .collect()
}

/// Everything the index still knows of the needles: deleted documents left in segments, and
/// terms (inverted index or columnar dictionaries) containing any needle, lower-cased.
fn index_traces(index_dir: &Path, needles: &[&str]) -> Vec<String> {
    let index = Index::open_in_dir(index_dir).unwrap();
    let searcher = index.reader().unwrap().searcher();
    let schema = index.schema();
    let needles: Vec<String> = needles.iter().map(|n| n.to_lowercase()).collect();
    let mut traces = Vec::new();
    for segment in searcher.segment_readers() {
        if segment.num_deleted_docs() > 0 {
            traces.push(format!(
                "segment {} keeps {} deleted documents",
                segment.segment_id(),
                segment.num_deleted_docs()
            ));
        }
        for (field, entry) in schema.fields() {
            if !matches!(entry.field_type(), FieldType::Str(_)) {
                continue;
            }
            let mut check = |origin: &str, term: &[u8]| {
                let term = String::from_utf8_lossy(term).to_lowercase();
                if needles.iter().any(|n| term.contains(n.as_str())) {
                    traces.push(format!("{origin} of `{}` holds `{term}`", entry.name()));
                }
            };
            if entry.is_indexed() {
                let inverted = segment.inverted_index(field).unwrap();
                let mut terms = inverted.terms().stream().unwrap();
                while terms.advance() {
                    check("term dictionary", terms.key());
                }
            }
            if entry.is_fast() {
                if let Some(column) = segment.fast_fields().str(entry.name()).unwrap() {
                    let mut terms = column.dictionary().stream().unwrap();
                    while terms.advance() {
                        check("column dictionary", terms.key());
                    }
                }
            }
        }
    }
    traces
}

fn traces(data: &Path) -> Vec<String> {
    // Topic names spell words in lower case.
    let lower = TEXT_WORD.to_lowercase();
    let mut traces: Vec<String> = [CUSTOMER, TEXT_WORD, lower.as_str(), METADATA_VALUE]
        .iter()
        .flat_map(|needle| files_containing(data, needle).into_iter().map(move |f| format!("`{needle}` in {f}")))
        .collect();
    traces.extend(index_traces(&DataPaths::new(data).index, &[CUSTOMER, "xylophon", METADATA_VALUE]));
    traces
}

#[test]
fn an_erased_customer_leaves_no_byte_in_the_data_directory() {
    let (guard, data) = data_dir();
    let import = guard.path().join("import");
    std::fs::create_dir_all(&import).unwrap();
    let import_args = ["--import-dir", import.to_str().unwrap()];
    let server = Server::start(&data, &import_args);
    // Some of the customer's verbatims reach the database file itself (a clean stop
    // checkpoints the log), others stay in the write-ahead log; both share index segments
    // with verbatims that stay.
    let mut first = verbatims("old", 30, CUSTOMER, TEXT_WORD, METADATA_VALUE);
    first.extend(verbatims("keep-a", 100, "cust-other", "Ordinaire", "autre"));
    server.ingest(Value::Array(first));
    server.stop();
    let server = Server::start(&data, &import_args);
    let mut second = verbatims("new", 30, CUSTOMER, TEXT_WORD, METADATA_VALUE);
    second.extend(verbatims("keep-b", 100, "cust-other", "Ordinaire", "autre"));
    server.ingest(Value::Array(second.clone()));
    // Jobs keep the customer too: a reprocess names it in its filter, a file job's results
    // hold its verbatims (ids, texts, customer id); the topic model names a topic after the
    // customer's word, and so does the root-cause model.
    let lines: Vec<String> = second.iter().map(Value::to_string).collect();
    std::fs::write(import.join("file.jsonl"), lines.join("\n")).unwrap();
    for job in [
        json!({"kind": "reprocess", "filter": {"customer_id": CUSTOMER}}),
        json!({"kind": "analyze_file", "file": "file.jsonl"}),
        json!({"kind": "discover_topics", "filter": {"customer_id": CUSTOMER}}),
        json!({"kind": "discover_root_causes", "filter": {"customer_id": CUSTOMER}}),
    ] {
        let reply = server.post("/v1/jobs", &job);
        assert_eq!(reply.status, 202, "{}", reply.body);
        let id = reply.body["id"].as_str().unwrap().to_string();
        let started = Instant::now();
        while server.get(&format!("/v1/jobs/{id}")).body["state"] != "done" {
            assert!(started.elapsed() < PURGE_BOUND, "{}", server.server_log());
            std::thread::sleep(Duration::from_millis(100));
        }
    }
    let kept = traces(&data);
    assert!(kept.iter().any(|t| t.contains("results.jsonl")), "the test must see the job's results: {kept:?}");
    let named = server.get("/v1/topics").body;
    assert!(named.to_string().contains(&TEXT_WORD.to_lowercase()), "the test must see a topic named after it: {named}");
    assert_eq!(named["model"]["filter"]["customer_id"], CUSTOMER, "and the discovery's filter naming it");
    let causes = server.get("/v1/root-causes").body;
    assert!(causes["root_causes"].to_string().contains(&TEXT_WORD.to_lowercase()), "and a root cause: {causes}");
    assert_eq!(causes["model"]["filter"]["customer_id"], CUSTOMER, "{causes}");

    let reply = server.delete(&format!("/v1/customers/{CUSTOMER}"));
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(reply.body["deleted"], 60);
    let erased_at = Instant::now();
    let mut left = traces(&data);
    while !left.is_empty() && erased_at.elapsed() < PURGE_BOUND {
        std::thread::sleep(Duration::from_millis(200));
        left = traces(&data);
    }
    assert!(left.is_empty(), "still there {PURGE_BOUND:?} after erasure: {left:#?}");
    assert_eq!(server.search("")["total"], 200);
    assert_eq!(server.search("q=ordinaire")["total"], 200);
    let renamed = server.get("/v1/topics").body;
    assert!(!renamed.to_string().to_lowercase().contains(&TEXT_WORD.to_lowercase()), "{renamed}");
    assert!(!renamed.to_string().contains(CUSTOMER), "{renamed}");
    let causes = server.get("/v1/root-causes").body;
    assert!(!causes["model"].to_string().to_lowercase().contains(&TEXT_WORD.to_lowercase()), "{causes}");
    assert!(!causes.to_string().contains(CUSTOMER), "{causes}");

    // The audit record says when, what and how many, and nothing personal.
    let audit = server.get("/v1/erasures");
    assert_eq!(audit.status, 200, "{}", audit.body);
    let rows = audit.body["erasures"].as_array().unwrap();
    assert_eq!(rows.len(), 1, "{}", audit.body);
    assert_eq!(rows[0]["kind"], "customer");
    assert_eq!(rows[0]["deleted"], 60);
    assert_eq!(rows[0]["subject_sha256"], verbatim::models::sha256_hex(CUSTOMER.as_bytes()));
    assert!(rows[0]["at"].as_str().is_some_and(|at| at.ends_with('Z')));
    assert!(!audit.body.to_string().contains(CUSTOMER));

    // Nothing comes back after a restart either.
    server.stop();
    let server = Server::start(&data, &import_args);
    assert_eq!(traces(&data), Vec::<String>::new());
    assert_eq!(server.search("")["total"], 200);
}

#[test]
fn an_erased_verbatim_is_purged_and_audited_too() {
    let (_guard, data) = data_dir();
    let server = Server::start(&data, &[]);
    let mut items = verbatims("one", 1, "cust-single", TEXT_WORD, METADATA_VALUE);
    items.extend(verbatims("keep", 20, "cust-other", "Ordinaire", "autre"));
    server.ingest(Value::Array(items));
    assert_eq!(server.delete("/v1/verbatims/one-0").status, 204);
    assert_eq!(server.delete("/v1/verbatims/one-0").status, 404);
    let erased_at = Instant::now();
    let needles = [TEXT_WORD, "cust-single", METADATA_VALUE];
    let left = || -> Vec<String> {
        let mut left: Vec<String> = needles.iter().flat_map(|n| files_containing(&data, n)).collect();
        left.extend(index_traces(&DataPaths::new(&data).index, &["cust-single", "xylophon", METADATA_VALUE]));
        left
    };
    while !left().is_empty() && erased_at.elapsed() < PURGE_BOUND {
        std::thread::sleep(Duration::from_millis(200));
    }
    assert_eq!(left(), Vec::<String>::new(), "{}", server.server_log());
    let rows = server.get("/v1/erasures?limit=10").body["erasures"].as_array().unwrap().clone();
    let kinds: Vec<(&str, u64)> =
        rows.iter().map(|r| (r["kind"].as_str().unwrap(), r["deleted"].as_u64().unwrap())).collect();
    // Newest first: the second request found nothing, and says so.
    assert_eq!(kinds, [("verbatim", 0), ("verbatim", 1)]);
    assert_eq!(server.get("/v1/erasures?limit=0").status, 400);
}

#[test]
fn verbatims_past_the_retention_age_are_erased_audited_and_purged() {
    let (_guard, data) = data_dir();
    let server = Server::start(&data, &[]);
    let mut old = verbatims("old", 3, "cust-old", TEXT_WORD, METADATA_VALUE);
    old.iter_mut().for_each(|v| v["created_at"] = json!("2020-03-01T10:00:00Z"));
    let mut recent = verbatims("new", 5, "cust-new", "Ordinaire", "autre");
    recent.iter_mut().for_each(|v| v["created_at"] = json!(chrono::Utc::now().to_rfc3339()));
    server.ingest(Value::Array(old.into_iter().chain(recent).collect()));
    server.stop();

    // The sweep runs at start.
    let server = Server::start(&data, &["--retention-days", "365"]);
    let swept = Instant::now();
    let left = || -> Vec<String> {
        let mut left: Vec<String> =
            [TEXT_WORD, "cust-old", METADATA_VALUE].iter().flat_map(|n| files_containing(&data, n)).collect();
        left.extend(index_traces(&DataPaths::new(&data).index, &["cust-old", "xylophon", METADATA_VALUE]));
        left
    };
    while !left().is_empty() && swept.elapsed() < PURGE_BOUND {
        std::thread::sleep(Duration::from_millis(200));
    }
    assert_eq!(left(), Vec::<String>::new(), "{}", server.server_log());
    assert_eq!(server.get("/v1/verbatims/old-0").status, 404);
    assert_eq!(server.search("")["total"], 5);
    let rows = server.get("/v1/erasures").body["erasures"].as_array().unwrap().clone();
    assert_eq!(rows.len(), 3);
    assert!(rows.iter().all(|r| r["kind"] == "retention" && r["deleted"] == 1), "{rows:?}");
    let hashed: Vec<&str> = rows.iter().map(|r| r["subject_sha256"].as_str().unwrap()).collect();
    assert_eq!(server.get("/v1/erasures?kind=retention").body["erasures"].as_array().unwrap().len(), 3);
    assert_eq!(server.get("/v1/erasures?kind=customer").body["erasures"], json!([]));
    assert_eq!(server.get("/v1/erasures?kind=bogus").status, 400);
    assert!(hashed.contains(&verbatim::models::sha256_hex(b"old-2").as_str()), "{hashed:?}");
    let (code, _, stderr) = common::cli(&data, &["serve", "--retention-days", "0"], None);
    assert!(code != 0 && stderr.contains("retention-days"), "{stderr}");
}

#[test]
fn a_customer_gets_everything_stored_about_them_then_erasure_removes_it() {
    let (_guard, data) = data_dir();
    let server = Server::start(&data, &["--api-key", "boss:admin+read+write", "--api-key", "analyst:read"]);
    let mut items = verbatims("mine", 3, "cust-7", "Colis", "contact-7");
    items.extend(verbatims("theirs", 2, "cust-8", "Autre", "contact-8"));
    let auth = [("authorization", "Bearer boss")];
    let reply = server.post_raw("/v1/verbatims", json!({ "verbatims": items }).to_string(), &auth);
    assert_eq!(reply.status, 200, "{}", reply.body);
    // Personal data: an analyst's read key is not enough.
    assert_eq!(server.get_with("/v1/customers/cust-7/export", &[("authorization", "Bearer analyst")]).status, 403);
    let export = server.get_with("/v1/customers/cust-7/export", &auth);
    assert_eq!(export.status, 200, "{}", export.body);
    assert_eq!(export.body["customer_id"], "cust-7");
    let ids: Vec<&str> =
        export.body["verbatims"].as_array().unwrap().iter().map(|v| v["id"].as_str().unwrap()).collect();
    assert_eq!(ids.len(), 3, "{ids:?}");
    assert!(ids.iter().all(|id| id.starts_with("mine-")));
    let first = &export.body["verbatims"][0];
    assert!(first["sentiment"].is_object() && first["metadata"]["contact"] == "contact-7", "{first}");
    assert_eq!(server.delete_with("/v1/customers/cust-7", &auth).status, 200);
    let export = server.get_with("/v1/customers/cust-7/export", &auth);
    assert_eq!(export.body["verbatims"], json!([]));
}
