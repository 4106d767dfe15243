//! Topics over the stored verbatims, through the API: a discovery job saves a model, every
//! stored verbatim gets its topic, new ones get theirs at ingestion, topics filter and facet
//! search, and the list, one topic's page, names, trends and re-discovery keep their promises.
//! Both modes: the lightweight one (no encoder) and the encoder's, whose ingestion assigns by
//! words and whose `assign_topics` job refines.

mod common;

use std::collections::{BTreeMap, HashMap};

use common::{data_dir, installed_models, Server};
use serde_json::{json, Value};

const FIXTURE: &str = include_str!("fixtures/topics_bilingual.jsonl");
/// Trends are read up to this day; the refund complaints all come in the week before it.
const UNTIL: &str = "2026-11-20";

/// The fixture's forty verbatims, dated: refunds in the last week before [`UNTIL`], the other
/// themes spread over the ten weeks before that.
fn corpus() -> Vec<Value> {
    FIXTURE
        .lines()
        .enumerate()
        .map(|(i, line)| {
            let mut verbatim: Value = serde_json::from_str(line).unwrap();
            let day = if verbatim["id"].as_str().unwrap().starts_with("refund") {
                format!("2026-11-{:02}T10:00:00Z", 14 + i % 5)
            } else {
                (chrono::NaiveDate::from_ymd_opt(2026, 9, 1).unwrap() + chrono::Days::new(2 * i as u64))
                    .format("%Y-%m-%dT09:00:00Z")
                    .to_string()
            };
            verbatim["created_at"] = json!(day);
            verbatim["channel"] = json!("email");
            verbatim
        })
        .collect()
}

/// Runs a discovery through `POST /v1/topics/discover` and waits for its job to be done.
fn discover(server: &Server, body: Value) -> Value {
    let reply = server.post("/v1/topics/discover", &body);
    assert_eq!(reply.status, 202, "{}", reply.body);
    assert_eq!(reply.body["spec"]["kind"], "discover_topics");
    let id = reply.body["id"].as_str().unwrap().to_string();
    wait_done(server, &id)
}

/// Waits for job `id` to be done (failing at once if it fails).
fn wait_done(server: &Server, id: &str) -> Value {
    server.wait_job(id, |job| {
        assert_ne!(job["state"], "failed", "{job}");
        job["state"] == "done"
    })
}

fn verbatim(server: &Server, id: &str) -> Value {
    let reply = server.get(&format!("/v1/verbatims/{id}"));
    assert_eq!(reply.status, 200, "{}", reply.body);
    reply.body
}

/// Each fixture verbatim's topic id, as stored.
fn stored_topics(server: &Server) -> BTreeMap<String, i64> {
    corpus()
        .iter()
        .map(|v| {
            let id = v["id"].as_str().unwrap();
            (id.to_string(), verbatim(server, id)["topic"]["id"].as_i64().unwrap())
        })
        .collect()
}

fn topics(server: &Server, query: &str) -> Value {
    let reply = server.get(&format!("/v1/topics?{query}"));
    assert_eq!(reply.status, 200, "{}", reply.body);
    reply.body
}

#[test]
fn the_lightweight_mode_saves_topics_that_search_ingestion_trends_and_names_follow() {
    let (_guard, data) = data_dir();
    let server = Server::start(&data, &["--models", data.join("no-models").to_str().unwrap()]);
    let empty = topics(&server, "");
    assert_eq!((empty["model"].clone(), empty["topics"].clone()), (Value::Null, json!([])), "before any discovery");
    server.ingest(Value::Array(corpus()));

    let job = discover(&server, json!({}));
    assert_eq!((job["done"].as_u64(), job["total"].as_u64()), (Some(40), Some(40)), "{job}");
    let listed = topics(&server, &format!("until={UNTIL}"));
    assert_eq!(listed["model"]["version"], 1);
    assert_eq!(listed["model"]["vectors"], "hashed");
    assert_eq!(listed["model"]["verbatims"], 40);
    let list = listed["topics"].as_array().unwrap();
    assert!(list.len() >= 2, "{listed}");
    let sizes: u64 = list.iter().map(|t| t["size"]["verbatims"].as_u64().unwrap()).sum();
    assert_eq!(sizes + listed["unassigned"].as_u64().unwrap(), 40, "every verbatim counted once");
    assert!(list.windows(2).all(|w| w[0]["size"]["verbatims"].as_u64() >= w[1]["size"]["verbatims"].as_u64()));

    // Every stored verbatim has its topic, and the topic filters and facets search.
    let first = stored_topics(&server);
    for verbatim in corpus() {
        let stored = self::verbatim(&server, verbatim["id"].as_str().unwrap());
        assert_eq!((stored["topic"]["model"].as_u64(), stored["topic"]["by"].as_str()), (Some(1), Some("discovery")));
    }
    let biggest = &list[0];
    let id = biggest["id"].as_i64().unwrap();
    let found = server.search(&format!("topic={id}&limit=100"));
    let mut members: Vec<&String> = first.iter().filter(|(_, t)| **t == id).map(|(v, _)| v).collect();
    members.sort();
    let mut hits = common::hit_ids(&found);
    hits.sort();
    assert_eq!(hits.iter().collect::<Vec<_>>(), members);
    assert_eq!(found["facets"]["topic"][id.to_string()], biggest["size"]["verbatims"], "{}", found["facets"]);

    // One topic's page: its nearest verbatims (its own) and its weeks.
    let detail = server.get(&format!("/v1/topics/{id}?until={UNTIL}"));
    assert_eq!(detail.status, 200, "{}", detail.body);
    let examples = detail.body["examples"].as_array().unwrap();
    assert!(!examples.is_empty() && examples.len() <= 5);
    assert!(examples.iter().all(|e| first[e["id"].as_str().unwrap()] == id), "{}", detail.body);
    let weekly = |detail: &Value| -> u64 {
        detail["weeks"].as_array().unwrap().iter().map(|w| w["verbatims"].as_u64().unwrap()).sum()
    };
    assert_eq!(weekly(&detail.body), biggest["size"]["verbatims"].as_u64().unwrap());
    let earlier = server.get(&format!("/v1/topics/{id}?until=2026-10-01")).body;
    assert!(weekly(&earlier) < weekly(&detail.body), "weeks end at `until`: {earlier}");

    // The refund complaints all came in the last week: their topic is the one emerging.
    let emerging = topics(&server, &format!("sort=emerging&until={UNTIL}"));
    let top = &emerging["topics"][0];
    let refunds = first.iter().filter(|(v, t)| v.starts_with("refund") && **t == top["id"]).count();
    assert!(refunds >= 3 && top["trend"]["growth"].as_f64().unwrap() > 0.0, "{emerging}");

    // A new verbatim gets its topic at ingestion, in the model's own space.
    server.ingest(json!([{"id": "new", "text": "Remboursement toujours pas reçu, j'attends le remboursement", "channel": "chat"}]));
    let new = verbatim(&server, "new");
    assert_eq!((new["topic"]["model"].as_u64(), new["topic"]["by"].as_str()), (Some(1), Some("model")), "{new}");

    // An analyst's name stays while the id lives; null gives back the discovered one.
    let renamed = server.patch(&format!("/v1/topics/{id}"), &json!({"label": "Mes remboursements"}));
    assert_eq!(renamed.status, 200, "{}", renamed.body);
    assert_eq!(renamed.body["label"], "Mes remboursements");
    assert_eq!(renamed.body["discovered_label"], biggest["label"]);

    // Re-discovery over the same verbatims (the one new since assigned as it came): the same
    // topics, ids and name.
    discover(&server, json!({"seed": 42}));
    assert_eq!(stored_topics(&server), first);
    let listed = topics(&server, "");
    assert_eq!(listed["model"]["version"], 2);
    let same = listed["topics"].as_array().unwrap().iter().find(|t| t["id"] == id).unwrap();
    assert_eq!(same["label"], "Mes remboursements", "{same}");
    let reset = server.patch(&format!("/v1/topics/{id}"), &json!({"label": null}));
    assert_eq!((reset.status, &reset.body["label"]), (200, &same["discovered_label"]));
    assert!(reset.body.get("discovered_label").is_none(), "{}", reset.body);

    // Erasure takes the verbatim out of its topic's counts.
    let before: HashMap<i64, u64> = topic_sizes(&topics(&server, ""));
    assert_eq!(server.delete(&format!("/v1/verbatims/{}", members[0])).status, 204);
    let after = topic_sizes(&topics(&server, ""));
    assert_eq!(after[&id] + 1, before[&id]);
}

fn topic_sizes(listed: &Value) -> HashMap<i64, u64> {
    listed["topics"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| (t["id"].as_i64().unwrap(), t["size"]["verbatims"].as_u64().unwrap()))
        .collect()
}

#[test]
fn bad_topic_requests_get_clear_errors() {
    let (_guard, data) = data_dir();
    let server = Server::start(&data, &["--models", data.join("no-models").to_str().unwrap()]);
    for (body, code, field) in [
        (json!({"kind": "reprocess"}), "unknown_field", None),
        (json!({"topics": 1}), "invalid_value", Some("topics")),
        (json!({"topics": "ten"}), "invalid_value", Some("topics")),
        (json!({"method": "magic"}), "invalid_value", Some("method")),
        (json!({"strict": "yes"}), "invalid_type", Some("strict")),
        (json!({"filter": {"channel": "fax/modem"}}), "invalid_filter", Some("filter")),
        (json!({"colour": "red"}), "unknown_field", None),
        (json!([1]), "invalid_body", None),
    ] {
        let reply = server.post("/v1/topics/discover", &body);
        assert_eq!((reply.status, reply.body["code"].as_str()), (400, Some(code)), "{body}: {}", reply.body);
        if let Some(field) = field {
            assert_eq!(reply.body["field"], field, "{}", reply.body);
        }
    }
    for path in ["/v1/topics/abc", "/v1/topics/7"] {
        assert_eq!(server.get(path).status, 404, "{path}");
    }
    assert_eq!(server.get("/v1/topics?sort=oldest").status, 400);
    assert_eq!(server.get("/v1/topics?until=yesterday").status, 400);
    assert_eq!(server.get("/v1/topics?colour=red").status, 400);
    assert_eq!(server.patch("/v1/topics/7", &json!({"label": "x"})).status, 404, "no model, no topic 7");

    // A discovery over nothing fails, saying why.
    let reply = server.post("/v1/topics/discover", &json!({}));
    let job = server.wait_job(reply.body["id"].as_str().unwrap(), |job| job["state"] == "failed");
    assert!(job["message"].as_str().unwrap().contains("no stored verbatim"), "{job}");

    server.ingest(Value::Array(corpus()));
    discover(&server, json!({"topics": 4, "method": "k_means", "strict": true}));
    let listed = topics(&server, "");
    assert_eq!(listed["topics"].as_array().unwrap().len(), 4, "{listed}");
    assert_eq!(listed["model"]["method"], "k_means");
    let id = listed["topics"][0]["id"].as_i64().unwrap();
    for label in [json!(""), json!("   "), json!("x".repeat(201)), json!(5)] {
        let reply = server.patch(&format!("/v1/topics/{id}"), &json!({ "label": label }));
        assert_eq!(reply.status, 400, "{label}: {}", reply.body);
    }
    for change in
        [json!({"pinned": "yes"}), json!({}), json!({"label": ["a"]}), json!({"colour": "red"}), json!(["x", true])]
    {
        assert_eq!(server.patch(&format!("/v1/topics/{id}"), &change).status, 400, "{change}");
    }
    assert_eq!(server.get("/v1/search?topic=first").status, 400);
}

/// With the encoder: French and English about one thing share a stored topic; ingestion
/// assigns by words at once, the `assign_topics` job gives the encoder's topic, and the model
/// in use survives a restart.
#[test]
fn with_the_encoder_ingestion_assigns_by_words_and_a_job_refines() {
    let (_guard, data) = data_dir();
    let models = installed_models();
    let args = ["--models", models.to_str().unwrap()];
    let server = Server::start(&data, &args);
    server.ingest(Value::Array(corpus()));
    discover(&server, json!({}));
    let listed = topics(&server, "");
    assert_eq!(listed["model"]["vectors"], "encoder", "{listed}");
    let stored = stored_topics(&server);
    for theme in ["delivery", "refund", "app", "staff"] {
        let mut counts: HashMap<i64, usize> = HashMap::new();
        for (_, topic) in stored.iter().filter(|(v, _)| v.starts_with(theme)) {
            *counts.entry(*topic).or_default() += 1;
        }
        let (&topic, &n) = counts.iter().max_by_key(|(id, n)| (**n, -**id)).unwrap();
        assert!(n >= 8 && topic >= 0, "{theme}: {counts:?}");
        let french = stored.iter().filter(|(v, t)| v.starts_with(theme) && v.contains("-fr-") && **t == topic).count();
        assert!(french > 0 && french < n, "{theme}: topic {topic} holds one language only: {stored:?}");
    }

    server.ingest(
        json!([{"id": "late", "text": "Ma livraison est encore en retard, colis introuvable", "channel": "app"}]),
    );
    let late = verbatim(&server, "late");
    assert_eq!(late["topic"]["by"], "words", "{late}");
    server.stop();

    let server = Server::start(&data, &args);
    server.ingest(json!([{"id": "after", "text": "The refund never arrived", "channel": "app"}]));
    assert_eq!(verbatim(&server, "after")["topic"]["model"], 1, "the model in use survives a restart");
    let reply = server.post("/v1/jobs", &json!({"kind": "assign_topics"}));
    assert_eq!(reply.status, 202, "{}", reply.body);
    wait_done(&server, reply.body["id"].as_str().unwrap());
    let delivery = stored["delivery-fr-5"];
    for id in ["late", "after"] {
        let refined = verbatim(&server, id);
        assert_eq!((refined["topic"]["by"].as_str(), refined["topic"]["model"].as_u64()), (Some("model"), Some(1)));
    }
    assert_eq!(verbatim(&server, "late")["topic"]["id"], delivery, "a late parcel is a delivery matter");

    // A re-discovery after 10 % more verbatims keeps the ids on the same verbatims.
    let more: Vec<Value> = corpus()
        .iter()
        .step_by(10)
        .map(|v| json!({"id": format!("{}-again", v["id"].as_str().unwrap()), "text": v["text"], "channel": "app"}))
        .collect();
    server.ingest(Value::Array(more));
    discover(&server, json!({}));
    let again = stored_topics(&server);
    let kept = stored.iter().filter(|(v, t)| again[*v] == **t).count();
    assert!(kept * 10 >= stored.len() * 9, "{kept} of {} kept their topic: {stored:?} then {again:?}", stored.len());
}

/// Analysts shape the themes: a merge moves one topic's verbatims into another and removes it
/// from the model in use; a pinned topic stays through a re-discovery that no longer finds it.
#[test]
fn merged_topics_leave_the_model_and_pinned_ones_outlive_a_rediscovery() {
    let (_guard, data) = data_dir();
    let server = Server::start(&data, &["--models", data.join("no-models").to_str().unwrap()]);
    server.ingest(Value::Array(corpus()));
    discover(&server, json!({"topics": 4}));
    let first_topics = stored_topics(&server);
    let sizes = topic_sizes(&topics(&server, ""));
    let mut ids: Vec<i64> = sizes.keys().copied().collect();
    ids.sort();
    let (from, into) = (ids[0], ids[1]);

    for (body, status) in [(json!({"into": from}), 400), (json!({"into": 999}), 404), (json!({"to": into}), 400)] {
        let reply = server.post(&format!("/v1/topics/{from}/merge"), &body);
        assert_eq!(reply.status, status, "{body}: {}", reply.body);
    }
    let merged = server.post(&format!("/v1/topics/{from}/merge"), &json!({ "into": into }));
    assert_eq!(merged.status, 200, "{}", merged.body);
    assert_eq!(merged.body["id"], into);
    assert_eq!(merged.body["size"]["verbatims"].as_u64(), Some(sizes[&from] + sizes[&into]));
    let after = topic_sizes(&topics(&server, ""));
    assert!(!after.contains_key(&from) && after.len() == 3, "{after:?}");
    assert_eq!(server.search(&format!("topic={from}"))["total"], 0);
    assert_eq!(server.search(&format!("topic={into}"))["total"].as_u64(), Some(sizes[&from] + sizes[&into]));
    assert_eq!(server.get(&format!("/v1/topics/{from}")).status, 404);
    assert_eq!(server.post(&format!("/v1/topics/{from}/merge"), &json!({ "into": into })).status, 404);
    // The text of a verbatim that was in the merged topic, sent again under a new id.
    let member = common::hit_ids(&server.search(&format!("topic={into}&limit=100")))
        .into_iter()
        .find(|id| first_topics[id] == from)
        .expect("the merged topic had verbatims");
    server.ingest(json!([{"id": "again", "text": verbatim(&server, &member)["text"], "channel": "app"}]));
    assert_ne!(verbatim(&server, "again")["topic"]["id"], from, "a merged topic takes no new verbatim");

    // Pin the smallest topic, then re-discover over the other topics' verbatims only.
    let (&pinned, _) = after.iter().min_by_key(|(id, n)| (**n, **id)).unwrap();
    let reply = server.patch(&format!("/v1/topics/{pinned}"), &json!({"pinned": true}));
    assert_eq!((reply.status, reply.body["pinned"].as_bool()), (200, Some(true)), "{}", reply.body);
    let others: Vec<String> = after.keys().filter(|id| **id != pinned).map(i64::to_string).collect();
    discover(&server, json!({"filter": {"topic": others.join(",")}, "topics": 2}));
    let rediscovered = topics(&server, "");
    let kept = rediscovered["topics"].as_array().unwrap().iter().find(|t| t["id"] == pinned);
    let kept = kept.unwrap_or_else(|| panic!("the pinned topic is gone: {rediscovered}"));
    assert_eq!(kept["pinned"], true);
    assert!(kept["size"]["verbatims"].as_u64().unwrap() > 0, "{kept}");
    let reply = server.patch(&format!("/v1/topics/{pinned}"), &json!({"pinned": false}));
    assert_eq!(reply.body["pinned"], false, "{}", reply.body);

    // Split the largest topic in two: two new topics hold its verbatims, and it is gone.
    let sizes = topic_sizes(&topics(&server, ""));
    let (&largest, &size) = sizes.iter().max_by_key(|(id, n)| (**n, -**id)).unwrap();
    let before = stored_topics(&server);
    let members: Vec<&String> = before.iter().filter(|(_, t)| **t == largest).map(|(v, _)| v).collect();
    for (body, status) in [(json!({"topics": 1}), 400), (json!({"topic": 3}), 400), (json!({"parts": 2}), 400)] {
        let reply = server.post(&format!("/v1/topics/{largest}/split"), &body);
        assert_eq!(reply.status, status, "{body}: {}", reply.body);
    }
    assert_eq!(server.post("/v1/topics/999/split", &json!({})).status, 404);
    let reply = server.post(&format!("/v1/topics/{largest}/split"), &json!({"topics": 2}));
    assert_eq!(reply.status, 202, "{}", reply.body);
    let job = wait_done(&server, reply.body["id"].as_str().unwrap());
    assert_eq!(job["done"].as_u64(), Some(size), "{job}");
    let after = topic_sizes(&topics(&server, ""));
    assert!(!after.contains_key(&largest), "{after:?}");
    let parts: Vec<i64> = after.keys().filter(|id| !sizes.contains_key(id)).copied().collect();
    assert_eq!(parts.len(), 2, "two new ids: {after:?}");
    assert!(parts.iter().all(|id| *id > *sizes.keys().max().unwrap()), "new ids, never reused: {parts:?}");
    assert_eq!(parts.iter().map(|id| after[id]).sum::<u64>(), size, "{after:?}");
    let split = stored_topics(&server);
    assert!(members.iter().all(|v| parts.contains(&split[*v])), "its verbatims are in the parts: {split:?}");
    assert_eq!(server.search(&format!("topic={largest}"))["total"], 0);
    assert_eq!(server.post(&format!("/v1/topics/{largest}/split"), &json!({})).status, 404);
}

/// Rule-based categories sit beside the topics: a saved query per language, counted, trended
/// and spread over topics, a search filter like any other.
#[test]
fn categories_are_saved_queries_per_language_that_count_trend_and_filter() {
    let (_guard, data) = data_dir();
    let server = Server::start(&data, &["--models", data.join("no-models").to_str().unwrap()]);
    server.ingest(Value::Array(corpus()));
    discover(&server, json!({}));
    let refunds = json!({"name": "Remboursements", "queries": {"fr": "remboursement OR rembourser", "en": "refund*"}});
    let created = server.post("/v1/categories", &refunds);
    assert_eq!(created.status, 201, "{}", created.body);
    let id = created.body["id"].as_i64().unwrap();
    // Each language's query on its own verbatims, as two plain searches count them.
    let expected = server.search("q=remboursement%20OR%20rembourser&language=fr")["total"].as_u64().unwrap()
        + server.search("q=refund*&language=en,other")["total"].as_u64().unwrap();
    assert!(expected >= 8, "the fixture has ten refund complaints: {expected}");
    let listed = server.get(&format!("/v1/categories?until={UNTIL}"));
    assert_eq!(listed.status, 200, "{}", listed.body);
    let category = &listed.body["categories"][0];
    assert_eq!((category["id"].as_i64(), category["name"].as_str()), (Some(id), Some("Remboursements")));
    assert_eq!(category["queries"], refunds["queries"]);
    assert_eq!(category["size"]["verbatims"].as_u64(), Some(expected), "{category}");
    assert_eq!(server.search(&format!("category={id}"))["total"].as_u64(), Some(expected));
    let spread: u64 = category["topics"].as_object().unwrap().values().map(|n| n.as_u64().unwrap()).sum();
    assert_eq!(spread, expected, "its verbatims per topic: {category}");
    // The refund complaints came in the last week before UNTIL.
    assert_eq!(category["trend"]["recent"].as_u64(), Some(expected), "{category}");
    assert!(category["trend"]["growth"].as_f64().unwrap() > 0.0, "{category}");
    let one = server.get(&format!("/v1/categories/{id}?until={UNTIL}"));
    assert_eq!((one.status, &one.body["size"]), (200, &category["size"]));
    // A category with one query applies it to every verbatim.
    let english_only = server.post("/v1/categories", &json!({"name": "Refund (en)", "queries": {"en": "refund*"}}));
    assert_eq!(english_only.status, 201, "{}", english_only.body);
    assert_eq!(
        english_only.body["size"]["verbatims"],
        server.search("q=refund*")["total"],
        "one query only applies to every verbatim"
    );

    for (body, status, code) in [
        (refunds.clone(), 409, "category_exists"),
        (json!({"name": "x", "queries": {"fr": "livraison AND ("}}), 400, "invalid_query"),
        (json!({"name": "x", "queries": {}}), 400, "invalid_value"),
        (json!({"name": " ", "queries": {"en": "late"}}), 400, "invalid_value"),
        (json!({"name": "x", "queries": {"de": "spät"}}), 400, "invalid_body"),
        (json!({"name": "x"}), 400, "invalid_body"),
    ] {
        let reply = server.post("/v1/categories", &body);
        assert_eq!((reply.status, reply.body["code"].as_str()), (status, Some(code)), "{body}: {}", reply.body);
    }
    assert_eq!(server.get("/v1/search?category=999").status, 400);
    assert_eq!(server.get("/v1/categories/999").status, 404);
    assert_eq!(server.delete(&format!("/v1/categories/{id}")).status, 204);
    assert_eq!(server.get(&format!("/v1/categories/{id}")).status, 404);
    assert_eq!(server.delete(&format!("/v1/categories/{id}")).status, 404);
    assert_eq!(server.search("")["total"], 40, "the verbatims stay");
}
