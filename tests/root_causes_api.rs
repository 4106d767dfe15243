//! Root causes over the stored verbatims, through the API (lightweight mode, no encoder): a
//! discovery job saves the groups, every stored verbatim gets its root causes, new ones get
//! theirs at ingestion and in `/v1/analyze`, root causes filter and facet search, and the
//! ranking, names and merges keep their promises.

mod common;

use std::collections::BTreeSet;

use common::{data_dir, Server};
use serde_json::{json, Value};

/// Three causes, five verbatims each in French and in English with detractor scores, and five
/// happy verbatims with promoter scores.
const FIXTURE: &str = include_str!("fixtures/root_causes_bilingual.jsonl");

fn corpus() -> Vec<Value> {
    FIXTURE
        .lines()
        .map(|line| {
            let mut verbatim: Value = serde_json::from_str(line).unwrap();
            verbatim["channel"] = json!("email");
            verbatim
        })
        .collect()
}

fn discover(server: &Server, body: Value) -> Value {
    let reply = server.post("/v1/root-causes/discover", &body);
    assert_eq!(reply.status, 202, "{}", reply.body);
    assert_eq!(reply.body["spec"]["kind"], "discover_root_causes");
    let id = reply.body["id"].as_str().unwrap().to_string();
    server.wait_job(&id, |job| {
        assert_ne!(job["state"], "failed", "{job}");
        job["state"] == "done"
    })
}

fn ranking(server: &Server, query: &str) -> Value {
    let reply = server.get(&format!("/v1/root-causes?{query}"));
    assert_eq!(reply.status, 200, "{}", reply.body);
    reply.body
}

fn stored(server: &Server, id: &str) -> Value {
    let reply = server.get(&format!("/v1/verbatims/{id}"));
    assert_eq!(reply.status, 200, "{}", reply.body);
    reply.body
}

/// The root-cause ids a stored verbatim cites.
fn cited(server: &Server, id: &str) -> Vec<i64> {
    stored(server, id)["root_causes"]["causes"].as_array().unwrap().iter().map(|c| c["id"].as_i64().unwrap()).collect()
}

#[test]
fn saved_root_causes_follow_search_ingestion_analysis_names_and_merges() {
    let (_guard, data) = data_dir();
    let server = Server::start(&data, &["--models", data.join("no-models").to_str().unwrap()]);
    server.ingest(Value::Array(corpus()));
    let before = ranking(&server, "");
    assert_eq!((before["model"].clone(), before["root_causes"].clone()), (Value::Null, json!([])), "{before}");
    assert_eq!(before["totals"]["verbatims"], 35);
    let analyzed = server.post("/v1/analyze", &json!({"documents": [{"id": "a", "text": "Colis en retard."}]}));
    assert_eq!(analyzed.body["documents"][0]["root_causes"], json!([]), "no model yet: {}", analyzed.body);

    let job = discover(&server, json!({}));
    assert_eq!((job["done"].as_u64(), job["total"].as_u64()), (Some(35), Some(35)), "{job}");

    // Every stored verbatim has its root causes under model 1; the happy ones state none,
    // and each span is the verbatim's own text.
    let texts: Vec<(String, String)> = corpus()
        .iter()
        .map(|v| (v["id"].as_str().unwrap().to_string(), v["text"].as_str().unwrap().to_string()))
        .collect();
    for (id, text) in &texts {
        let found = &stored(&server, id)["root_causes"];
        assert_eq!(found["model"], 1, "{id}: {found}");
        let causes = found["causes"].as_array().unwrap();
        assert_eq!(causes.is_empty(), id.starts_with("happy"), "{id}: {found}");
        for cause in causes {
            let (offset, length) =
                (cause["offset"].as_u64().unwrap() as usize, cause["length"].as_u64().unwrap() as usize);
            assert!(offset + length <= text.chars().count() && length > 0, "{id}: {cause}");
        }
    }

    // The ranking counts on the index: every cited root cause, the happy promoters in none.
    let ranked = ranking(&server, "");
    assert_eq!(ranked["model"]["version"], 1);
    assert_eq!(ranked["model"]["vectors"], "hashed");
    assert_eq!((ranked["totals"]["promoters"].as_u64(), ranked["totals"]["detractors"].as_u64()), (Some(5), Some(30)));
    let causes = ranked["root_causes"].as_array().unwrap();
    assert!(causes.len() >= 3, "{ranked}");
    assert!(causes.windows(2).all(|w| w[0]["verbatims"].as_u64() >= w[1]["verbatims"].as_u64()), "{ranked}");
    for cause in causes {
        assert_eq!(cause["promoters"], 0, "{cause}");
        assert!(cause["nps_impact"].as_f64().unwrap() < 0.0, "{cause}");
        assert!(!cause["label"].as_str().unwrap().is_empty() && !cause["examples"].as_array().unwrap().is_empty());
        let example = &cause["examples"][0];
        let text = &texts.iter().find(|(id, _)| id == example["id"].as_str().unwrap()).unwrap().1;
        let span: String = text
            .chars()
            .skip(example["offset"].as_u64().unwrap() as usize)
            .take(example["length"].as_u64().unwrap() as usize)
            .collect();
        assert_eq!(span, example["text"].as_str().unwrap());
    }
    let by_cost = ranking(&server, "sort=nps_impact");
    let costs: Vec<f64> =
        by_cost["root_causes"].as_array().unwrap().iter().map(|c| c["nps_impact"].as_f64().unwrap()).collect();
    assert!(costs.windows(2).all(|w| w[0] <= w[1]), "the most costly first: {costs:?}");

    // Root causes filter and facet search, and narrow the ranking like any search filter.
    let top = causes[0]["id"].as_i64().unwrap();
    let members = server.search(&format!("root_cause={top}&limit=100"));
    assert_eq!(members["total"], causes[0]["verbatims"], "{members}");
    for id in common::hit_ids(&members) {
        assert!(cited(&server, &id).contains(&top), "{id}");
    }
    let facets = &server.search("")["facets"]["root_cause"];
    assert_eq!(facets[top.to_string()], causes[0]["verbatims"], "{facets}");
    let french = ranking(&server, "language=fr");
    assert_eq!(french["totals"]["verbatims"], server.search("language=fr")["total"], "{}", french["totals"]);
    assert!(french["root_causes"].as_array().unwrap().iter().all(|c| c["verbatims"].as_u64() <= Some(15)), "{french}");

    // A new verbatim gets its root causes at ingestion, and /v1/analyze names them.
    let late = texts.iter().find(|(id, _)| id == "late-en-0").unwrap();
    let late_cause = cited(&server, "late-en-0")[0];
    server.ingest(json!([{"id": "new-late", "text": late.1, "language": "en", "channel": "app", "nps": 2}]));
    assert_eq!(stored(&server, "new-late")["root_causes"]["causes"][0]["id"], late_cause);
    let analyzed = server.post("/v1/analyze", &json!({"documents": [{"id": "a", "text": late.1, "language": "en"}]}));
    let stated = &analyzed.body["documents"][0]["root_causes"][0];
    assert_eq!(stated["id"], late_cause, "{}", analyzed.body);
    assert!(!stated["label"].as_str().unwrap().is_empty() && !stated["text"].as_str().unwrap().is_empty(), "{stated}");

    // An analyst's name shows everywhere at once; null gives back the discovered one.
    let renamed = server.patch(&format!("/v1/root-causes/{late_cause}"), &json!({"label": "Livraison en retard"}));
    assert_eq!(
        (renamed.status, renamed.body["label"].as_str()),
        (200, Some("Livraison en retard")),
        "{}",
        renamed.body
    );
    let analyzed = server.post("/v1/analyze", &json!({"documents": [{"id": "a", "text": late.1, "language": "en"}]}));
    assert_eq!(analyzed.body["documents"][0]["root_causes"][0]["label"], "Livraison en retard");
    for (body, status) in [
        (json!({"label": ""}), 400),
        (json!({"label": 3}), 400),
        (json!({}), 400),
        (json!({"label": null, "x": 1}), 400),
    ] {
        assert_eq!(server.patch(&format!("/v1/root-causes/{late_cause}"), &body).status, status, "{body}");
    }
    assert_eq!(server.patch("/v1/root-causes/999", &json!({"label": "x"})).status, 404);
    let reset = server.patch(&format!("/v1/root-causes/{late_cause}"), &json!({"label": null}));
    assert_eq!(reset.body["label"], reset.body["discovered"]["label"], "{}", reset.body);

    // A merge moves every citing verbatim; the merged id leaves search and the ranking.
    let other = causes.iter().map(|c| c["id"].as_i64().unwrap()).find(|id| *id != late_cause).unwrap();
    let citing: BTreeSet<String> =
        common::hit_ids(&server.search(&format!("root_cause={other},{late_cause}&limit=100"))).into_iter().collect();
    for (body, status) in [(json!({"into": other}), 400), (json!({"into": 999}), 404), (json!({"to": 1}), 400)] {
        let path = if status == 400 && body["into"] == other {
            format!("/v1/root-causes/{other}/merge")
        } else {
            format!("/v1/root-causes/{late_cause}/merge")
        };
        assert_eq!(server.post(&path, &body).status, status, "{body}");
    }
    let merged = server.post(&format!("/v1/root-causes/{late_cause}/merge"), &json!({"into": other}));
    assert_eq!((merged.status, merged.body["id"].as_i64()), (200, Some(other)), "{}", merged.body);
    assert_eq!(merged.body["verbatims"].as_u64(), Some(citing.len() as u64), "{}", merged.body);
    assert_eq!(server.search(&format!("root_cause={late_cause}"))["total"], 0);
    assert!(ranking(&server, "")["root_causes"].as_array().unwrap().iter().all(|c| c["id"] != late_cause));
    assert_eq!(cited(&server, "late-en-0")[0], other);
    // Written after the merge, a text never cites the merged root cause again.
    server.ingest(json!([{"id": "newer-late", "text": late.1, "language": "en", "channel": "app", "nps": 2}]));
    assert!(!cited(&server, "newer-late").contains(&late_cause));

    // The root causes survive a restart.
    server.stop();
    let server = Server::start(&data, &["--models", data.join("no-models").to_str().unwrap()]);
    assert_eq!(ranking(&server, "")["model"]["version"], 1);
    let unchanged = texts.iter().find(|(id, _)| cited(&server, id).first().is_some_and(|c| *c != other)).unwrap();
    let cause = cited(&server, &unchanged.0)[0];
    server.ingest(json!([{"id": "after-restart", "text": unchanged.1, "channel": "app", "nps": 2}]));
    assert_eq!(cited(&server, "after-restart").first(), Some(&cause), "{}", stored(&server, "after-restart"));
}

#[test]
fn bad_root_cause_requests_get_clear_errors() {
    let (_guard, data) = data_dir();
    let server = Server::start(&data, &["--models", data.join("no-models").to_str().unwrap()]);
    for query in ["sort=size", "limit=5", "offset=1", "root_cause=x", "nps_group=happy"] {
        let reply = server.get(&format!("/v1/root-causes?{query}"));
        assert_eq!(
            (reply.status, reply.body["code"].as_str()),
            (400, Some("invalid_parameter")),
            "{query}: {}",
            reply.body
        );
    }
    for body in
        [json!({"granularity": 0}), json!({"granularity": 9}), json!({"topics": 3}), json!({"filter": {"limit": 3}})]
    {
        let reply = server.post("/v1/root-causes/discover", &body);
        assert_eq!(reply.status, 400, "{body}: {}", reply.body);
    }
    // A discovery over nothing fails, saying why.
    let reply = server.post("/v1/root-causes/discover", &json!({}));
    let job = server.wait_job(reply.body["id"].as_str().unwrap(), |job| job["state"] == "failed");
    assert!(job["message"].as_str().unwrap().contains("no stored verbatim"), "{job}");
    assert_eq!(server.patch("/v1/root-causes/1", &json!({"label": "x"})).status, 404);
    assert_eq!(server.post("/v1/root-causes/1/merge", &json!({"into": 2})).status, 404);
}

#[test]
fn a_split_root_cause_hands_its_verbatims_to_new_ones() {
    let (_guard, data) = data_dir();
    let server = Server::start(&data, &["--models", data.join("no-models").to_str().unwrap()]);
    server.ingest(Value::Array(corpus()));
    discover(&server, json!({}));
    let before = ranking(&server, "");
    let biggest = &before["root_causes"][0];
    let id = biggest["id"].as_i64().unwrap();
    let members = common::hit_ids(&server.search(&format!("root_cause={id}&limit=100")));
    for (body, status) in [(json!({"parts": 1}), 400), (json!({"topics": 2}), 400)] {
        assert_eq!(server.post(&format!("/v1/root-causes/{id}/split"), &body).status, status, "{body}");
    }
    assert_eq!(server.post("/v1/root-causes/999/split", &json!({})).status, 404);
    let reply = server.post(&format!("/v1/root-causes/{id}/split"), &json!({"parts": 2}));
    assert_eq!(reply.status, 202, "{}", reply.body);
    assert_eq!(reply.body["spec"]["kind"], "split_root_cause");
    server.wait_job(reply.body["id"].as_str().unwrap(), |job| {
        assert_ne!(job["state"], "failed", "{job}");
        job["state"] == "done"
    });
    assert_eq!(server.search(&format!("root_cause={id}"))["total"], 0, "the split root cause is gone");
    let after = ranking(&server, "");
    let old: BTreeSet<i64> =
        before["root_causes"].as_array().unwrap().iter().map(|c| c["id"].as_i64().unwrap()).collect();
    let parts: BTreeSet<i64> = members.iter().flat_map(|m| cited(&server, m)).filter(|c| !old.contains(c)).collect();
    assert_eq!(parts.len(), 2, "its verbatims cite the two parts: {after}");
    let listed: BTreeSet<i64> =
        after["root_causes"].as_array().unwrap().iter().map(|c| c["id"].as_i64().unwrap()).collect();
    assert!(parts.is_subset(&listed) && !listed.contains(&id), "{after}");
    let cited_parts: u64 =
        parts.iter().map(|p| server.search(&format!("root_cause={p}"))["total"].as_u64().unwrap()).sum();
    assert_eq!(cited_parts, members.len() as u64, "every verbatim of the split cites one part");
}
