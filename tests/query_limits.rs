//! Search queries that once aborted the server are refused by name, and the server goes on.

mod common;

use common::{data_dir, Reply, Server};
use serde_json::json;

/// Percent-encodes a query for a URL, leaving parentheses and letters readable.
fn encoded(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b' ' => "+".to_string(),
            b if b.is_ascii_alphanumeric() || b"()-_.*".contains(&b) => (b as char).to_string(),
            b => format!("%{b:02X}"),
        })
        .collect()
}

fn search(server: &Server, query: &str) -> Reply {
    server.get(&format!("/v1/search?q={}", encoded(query)))
}

fn assert_refused(reply: &Reply, limit: &str, max: u64) {
    assert_eq!((reply.status, reply.body["code"].as_str()), (400, Some("invalid_query")), "{}", reply.body);
    let named = (reply.body["query_limit"].as_str(), reply.body["limit"].as_u64());
    assert_eq!(named, (Some(limit), Some(max)), "{}", reply.body);
    let detail = reply.body["detail"].as_str().unwrap();
    assert!(detail.contains(&format!("at most {max}")), "{detail}");
}

fn server() -> (tempfile::TempDir, Server) {
    let (guard, data) = data_dir();
    let server = Server::start(&data, &[]);
    server.ingest(json!([{"id":"a","text":"Livraison en retard","language":"fr"}]));
    (guard, server)
}

#[test]
fn queries_that_overflowed_the_parser_are_refused_and_the_server_lives_on() {
    let (_guard, server) = server();
    let nested = format!("{}a{}", "(".repeat(2_100), ")".repeat(2_100));
    let unclosed = "(a OR ".repeat(2_000);
    for query in [&unclosed, &nested] {
        assert_refused(&search(&server, query), "max_chars", 2_000);
    }
    assert_eq!(server.get("/health").status, 200);
    assert_eq!(server.search_ids("q=livraison"), ["a"]);
}

#[test]
fn each_limit_is_named_and_a_query_just_under_it_runs() {
    let (_guard, server) = server();
    let ids = |reply: Reply| {
        assert_eq!(reply.status, 200, "{}", reply.body);
        common::hit_ids(&reply.body)
    };
    let nested = |depth: usize| format!("{}livraison{}", "(".repeat(depth), ")".repeat(depth));
    assert_eq!(ids(search(&server, &nested(32))), ["a"]);
    assert_refused(&search(&server, &nested(33)), "max_depth", 32);
    let unclosed = "(livraison OR ".repeat(33);
    assert_refused(&search(&server, &unclosed), "max_depth", 32);
    assert_refused(&search(&server, &format!("{}livraison", "NOT ".repeat(33))), "max_depth", 32);

    let words = |n: usize| (1..n).fold("livraison".to_string(), |q, i| format!("{q} OR w{i}"));
    assert_eq!(ids(search(&server, &words(100))), ["a"]);
    assert_refused(&search(&server, &words(101)), "max_clauses", 100);

    let padded = |chars: usize| format!("{:<chars$}", "livraison");
    assert_eq!(ids(search(&server, &padded(2_000))), ["a"]);
    assert_refused(&search(&server, &padded(2_001)), "max_chars", 2_000);
    // Parentheses inside a phrase are text, not nesting.
    assert_eq!(ids(search(&server, &format!("\"{}livraison\"", "(".repeat(40)))), ["a"]);
}

#[test]
fn a_repeated_single_valued_parameter_is_refused_by_name_and_lists_add_up() {
    let (_guard, server) = server();
    for (query, parameter) in
        [("q=livraison&q=retard", "q"), ("limit=5&limit=6", "limit"), ("sort=newest&sort=relevance", "sort")]
    {
        let reply = server.get(&format!("/v1/search?{query}"));
        assert_eq!((reply.status, reply.body["code"].as_str()), (400, Some("invalid_parameter")), "{}", reply.body);
        assert_eq!(reply.body["parameter"], parameter);
        assert!(reply.body["detail"].as_str().unwrap().contains("more than once"), "{}", reply.body);
    }
    assert_eq!(server.search_ids("channel=email&channel=other&language=fr&language=en"), ["a"]);
    let reply = server.get("/v1/search?limit=101");
    assert_eq!(reply.body["parameter"], "limit");
    assert!(reply.body["detail"].as_str().unwrap().contains("from 1 to 100"), "{}", reply.body);
}
