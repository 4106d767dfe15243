//! Every kind of bad input gets a clear problem response, and nothing good is lost with it.

mod common;

use common::{data_dir, Server};
use serde_json::{json, Value};

fn assert_problem(reply: &common::Reply, status: u16, code: &str) {
    assert_eq!(reply.status, status, "{}", reply.body);
    assert_eq!(reply.body["code"], code, "{}", reply.body);
    assert_eq!(reply.content_type, "application/problem+json");
    assert!(reply.body["detail"].as_str().is_some_and(|d| !d.is_empty()));
}

fn total(server: &Server) -> u64 {
    server.search("")["total"].as_u64().unwrap()
}

#[test]
fn malformed_json_reports_where() {
    let (_guard, data) = data_dir();
    let server = Server::start(&data, &[]);
    let reply = server.post_raw("/v1/verbatims", "{\"verbatims\": [\n  {\"id\": \"a\", \"text\": }\n]}", &[]);
    assert_problem(&reply, 400, "malformed_json");
    assert_eq!((reply.body["line"].as_u64(), reply.body["column"].as_u64()), (Some(2), Some(23)));
    assert_problem(&server.post_raw("/v1/verbatims", "", &[]), 400, "malformed_json");
    assert_eq!(total(&server), 0);
}

#[test]
fn invalid_utf8_is_refused_with_its_byte() {
    let (_guard, data) = data_dir();
    let server = Server::start(&data, &[]);
    let mut body = b"{\"verbatims\":[{\"id\":\"a\",\"text\":\"caf".to_vec();
    body.extend_from_slice(&[0xe9, b'"', b'}', b']', b'}']);
    let reply = server.post_raw("/v1/verbatims", body, &[]);
    assert_problem(&reply, 400, "invalid_utf8");
    assert_eq!(reply.body["byte"], 35);
}

#[test]
fn wrong_body_shapes_are_refused_whole() {
    let (_guard, data) = data_dir();
    let server = Server::start(&data, &[]);
    assert_problem(&server.post("/v1/verbatims", &json!({"verbatims": "nope"})), 400, "invalid_body");
    assert_problem(&server.post("/v1/verbatims", &json!([{"id":"a","text":"x"}])), 400, "invalid_body");
    // An array of the fields in order is no object either (serde alone would read it as one).
    assert_problem(&server.post("/v1/verbatims", &json!([[{"id":"a","text":"x"}]])), 400, "invalid_body");
    assert_problem(&server.post("/v1/verbatims", &json!({"verbatims": [], "extra": 1})), 400, "invalid_body");
    assert_problem(&server.post("/v1/verbatims", &json!({"verbatims": []})), 400, "empty_batch");
    let form =
        server.post_raw("/v1/verbatims", "verbatims=x", &[("content-type", "application/x-www-form-urlencoded")]);
    assert_problem(&form, 415, "unsupported_media_type");
}

#[test]
fn bad_items_are_rejected_one_by_one_and_good_ones_stored() {
    let (_guard, data) = data_dir();
    let server = Server::start(&data, &[]);
    let items = json!([
        {"id":"ok1","text":"Très bien","language":"fr"},
        {"id":"empty","text":"   "},
        {"id":"long","text":"a".repeat(50_001)},
        {"id":"nps","text":"x","nps":11},
        {"id":"csat","text":"x","csat":"5"},
        {"id":"ces","text":"x","ces":0},
        {"id":"date","text":"x","created_at":"31/12/2026"},
        {"id":"unknown","text":"x","sentiment":"angry"},
        {"id":"channel","text":"x","channel":"carrier/pigeon"},
        {"text":"no id"},
        {"id":42,"text":"numeric id"},
        "just a string",
        {"id":"ok2","text":"a".repeat(50_000)}
    ]);
    let reply = server.post("/v1/verbatims", &json!({ "verbatims": items }));
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(reply.body["accepted"], json!(["ok1", "ok2"]));
    let errors: Vec<(u64, Value, String)> = reply.body["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["index"].as_u64().unwrap(), e["id"].clone(), e["code"].as_str().unwrap().to_string()))
        .collect();
    let expected = [
        (1, json!("empty"), "empty_text"),
        (2, json!("long"), "text_too_long"),
        (3, json!("nps"), "invalid_score"),
        (4, json!("csat"), "invalid_score"),
        (5, json!("ces"), "invalid_score"),
        (6, json!("date"), "invalid_date"),
        (7, json!("unknown"), "unknown_field"),
        (8, json!("channel"), "invalid_field"),
        (9, Value::Null, "missing_field"),
        (10, Value::Null, "invalid_field"),
        (11, Value::Null, "invalid_item"),
    ];
    let expected: Vec<(u64, Value, String)> = expected.into_iter().map(|(i, id, c)| (i, id, c.to_string())).collect();
    assert_eq!(errors, expected);
    assert_eq!(total(&server), 2);
    assert_eq!(server.get("/v1/verbatims/nps").status, 404);
}

#[test]
fn oversized_bodies_and_batches_get_413() {
    let (_guard, data) = data_dir();
    let server = Server::start(&data, &["--max-body-bytes", "20000", "--max-batch-items", "3"]);
    let big = json!({"verbatims":[{"id":"a","text":"x".repeat(30_000)}]});
    let reply = server.post("/v1/verbatims", &big);
    assert_problem(&reply, 413, "body_too_large");
    assert_eq!(reply.body["limit"], 20000);
    let many: Vec<Value> = (0..4).map(|i| json!({"id": i.to_string(), "text": "x"})).collect();
    let reply = server.post("/v1/verbatims", &json!({ "verbatims": many }));
    assert_problem(&reply, 413, "batch_too_large");
    assert_eq!(total(&server), 0);
    // The server is still healthy after refusing.
    server.ingest(json!([{"id":"a","text":"fine"}]));
    assert_eq!(total(&server), 1);
}

#[test]
fn bad_search_parameters_and_queries_are_named() {
    let (_guard, data) = data_dir();
    let server = Server::start(&data, &[]);
    for (query, parameter) in [
        ("colour=red", "colour"),
        ("nps_min=11", "nps_min"),
        ("limit=1000", "limit"),
        ("from=yesterday", "from"),
        ("channel=carrier%2Fpigeon", "channel"),
        ("sort=random", "sort"),
    ] {
        let reply = server.get(&format!("/v1/search?{query}"));
        assert_problem(&reply, 400, "invalid_parameter");
        assert_eq!(reply.body["parameter"], parameter);
    }
    assert_problem(&server.get("/v1/search?q=nosuchfield:x"), 400, "invalid_query");
}

#[test]
fn unknown_routes_and_methods_are_problems_too() {
    let (_guard, data) = data_dir();
    let server = Server::start(&data, &[]);
    assert_problem(&server.get("/v2/nothing"), 404, "not_found");
    assert_problem(&server.get("/v1/verbatims"), 405, "method_not_allowed");
    assert_problem(&server.delete("/v1/search"), 405, "method_not_allowed");
}

#[test]
fn api_keys_guard_data_but_not_probes() {
    let (_guard, data) = data_dir();
    let server = Server::start(&data, &["--api-key", "s3cret", "--api-key", "other"]);
    let denied = server.get("/v1/search");
    assert_problem(&denied, 401, "unauthorized");
    assert_problem(&server.get_with("/v1/search", &[("authorization", "Bearer wrong")]), 401, "unauthorized");
    assert_problem(&server.post("/v1/verbatims", &json!({"verbatims":[{"id":"a","text":"x"}]})), 401, "unauthorized");
    assert_eq!(server.get_with("/v1/search", &[("authorization", "Bearer s3cret")]).status, 200);
    assert_eq!(server.get_with("/v1/search", &[("authorization", "Bearer other")]).status, 200);
    for open in ["/health", "/ready", "/metrics", "/v1/openapi.json"] {
        assert_eq!(server.get(open).status, 200, "{open}");
    }
}

#[test]
fn health_ready_metrics_and_openapi() {
    let (_guard, data) = data_dir();
    let server = Server::start(&data, &[]);
    assert_eq!(server.get("/health").body["status"], "ok");
    assert_eq!(server.get("/ready").body["status"], "ready");
    server.ingest(json!([{"id":"a","text":"x"},{"id":"b","text":"y"}]));
    server.get("/v1/verbatims/missing");
    let metrics = server.get("/metrics");
    let text = metrics.body.as_str().unwrap();
    assert!(metrics.content_type.starts_with("text/plain"));
    assert!(
        text.contains("verbatim_http_requests_total{method=\"POST\",route=\"/v1/verbatims\",status=\"200\"} 1"),
        "{text}"
    );
    assert!(
        text.contains("verbatim_http_requests_total{method=\"GET\",route=\"/v1/verbatims/{id}\",status=\"404\"} 1"),
        "{text}"
    );
    assert!(text.contains("verbatim_verbatims_stored 2"), "{text}");
    assert!(text.contains("verbatim_verbatims_indexed 2"), "{text}");
    assert!(text.contains("verbatim_http_request_duration_seconds_bucket"));
    let store_bytes: u64 = text.lines().find_map(|l| l.strip_prefix("verbatim_store_bytes ")).unwrap().parse().unwrap();
    assert!(store_bytes > 0);

    let spec = server.get("/v1/openapi.json").body;
    assert_eq!(spec["openapi"], "3.1.0");
    for path in [
        "/v1/verbatims",
        "/v1/verbatims/{id}",
        "/v1/customers/{customer_id}",
        "/v1/search",
        "/health",
        "/ready",
        "/metrics",
    ] {
        assert!(spec["paths"][path].is_object(), "{path} is not documented");
    }
}
