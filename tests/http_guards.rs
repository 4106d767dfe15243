//! The HTTP surface holds against what an attacker or a careless client sends: foreign hosts
//! and origins, keys without the scope, bodies that never arrive, connection floods, made-up
//! methods, and more writes than the server can take at once.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use common::{data_dir, Server};
use serde_json::{json, Value};

fn assert_problem(reply: &common::Reply, status: u16, code: &str) {
    assert_eq!(reply.status, status, "{}", reply.body);
    assert_eq!(reply.body["code"], code, "{}", reply.body);
    assert_eq!(reply.content_type, "application/problem+json");
}

fn address(server: &Server) -> String {
    server.base.trim_start_matches("http://").to_string()
}

/// Sends raw bytes on a fresh connection and returns what the server wrote back before it
/// closed the connection or `wait` passed.
fn raw_exchange(server: &Server, request: &[u8], wait: Duration) -> String {
    let mut stream = TcpStream::connect(address(server)).unwrap();
    stream.set_read_timeout(Some(wait)).unwrap();
    stream.write_all(request).unwrap();
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer);
    String::from_utf8_lossy(&answer).into_owned()
}

fn post_verbatim(host: &str, extra_headers: &str) -> Vec<u8> {
    let body = r#"{"verbatims":[{"id":"x","text":"bonjour"}]}"#;
    format!(
        "POST /v1/verbatims HTTP/1.1\r\nHost: {host}\r\n{extra_headers}Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

fn status_line(answer: &str) -> &str {
    answer.lines().next().unwrap_or_default()
}

#[test]
fn bodies_must_say_they_are_json() {
    let (_guard, data) = data_dir();
    let server = Server::start(&data, &[]);
    // A bare `curl -d` or a cross-site form: no Content-Type at all.
    let answer = raw_exchange(&server, &post_verbatim(&address(&server), ""), Duration::from_secs(5));
    assert!(status_line(&answer).contains("415"), "{answer}");
    assert!(answer.contains("unsupported_media_type"), "{answer}");
    assert_eq!(server.search("")["total"], 0);
    let text = server.post_raw("/v1/analyze", r#"{"documents":[]}"#, &[("content-type", "text/plain")]);
    assert_problem(&text, 415, "unsupported_media_type");
}

#[test]
fn foreign_hosts_and_cross_origin_writes_are_refused() {
    let (_guard, data) = data_dir();
    let server = Server::start(&data, &[]);
    let json_type = "Content-Type: application/json\r\n";
    // DNS rebinding: a foreign name resolving to loopback.
    let answer = raw_exchange(&server, &post_verbatim("evil.example:8080", json_type), Duration::from_secs(5));
    assert!(status_line(&answer).contains("421") && answer.contains("host_not_allowed"), "{answer}");
    let read = raw_exchange(
        &server,
        b"GET /v1/search HTTP/1.1\r\nHost: evil.example\r\nConnection: close\r\n\r\n",
        Duration::from_secs(5),
    );
    assert!(status_line(&read).contains("421"), "{read}");
    // A page of another site posting with the user's browser.
    let foreign = format!("{json_type}Origin: https://evil.example\r\n");
    let answer = raw_exchange(&server, &post_verbatim(&address(&server), &foreign), Duration::from_secs(5));
    assert!(status_line(&answer).contains("403") && answer.contains("cross_origin"), "{answer}");
    assert_eq!(server.search("")["total"], 0);
    // The server's own origin, and plain clients without Origin, still write.
    let own = format!("{json_type}Origin: {}\r\n", server.base);
    let answer = raw_exchange(&server, &post_verbatim(&address(&server), &own), Duration::from_secs(5));
    assert!(status_line(&answer).contains("200"), "{answer}");
    assert_eq!(server.search("")["total"], 1);

    // Configured names and origins are served.
    let (_guard2, data2) = data_dir();
    let open =
        Server::start(&data2, &["--allowed-host", "verbatim.internal", "--allowed-origin", "https://cx.example"]);
    let allowed = format!("{json_type}Origin: https://cx.example\r\n");
    let answer = raw_exchange(&open, &post_verbatim("verbatim.internal:443", &allowed), Duration::from_secs(5));
    assert!(status_line(&answer).contains("200"), "{answer}");
    let answer = raw_exchange(&open, &post_verbatim(&address(&open), json_type), Duration::from_secs(5));
    assert!(status_line(&answer).contains("421"), "{answer}");
}

#[test]
fn keys_are_held_to_their_scopes() {
    let (_guard, data) = data_dir();
    let server = Server::start(&data, &["--api-key", "reader:read", "--api-key", "writer:write", "--api-key", "root"]);
    let bearer = |key: &str| format!("Bearer {key}");
    let item = json!({"verbatims":[{"id":"a","text":"Colis perdu","customer_id":"c1"}]}).to_string();
    let reader = bearer("reader");
    let writer = bearer("writer");
    let root = bearer("root");
    let post = |key: &str| server.post_raw("/v1/verbatims", &item, &[("authorization", key)]);
    let refused = post(&reader);
    assert_problem(&refused, 403, "forbidden");
    assert_eq!(refused.body["scope"], "write");
    assert_eq!(post(&writer).status, 200);
    assert_problem(&server.get_with("/v1/search", &[("authorization", &writer)]), 403, "forbidden");
    assert_eq!(server.get_with("/v1/search", &[("authorization", &reader)]).body["total"], 1);
    // Erasure and its audit are admin work: neither a reader nor a writer may erase.
    for key in [&reader, &writer] {
        let reply = server.delete_with("/v1/customers/c1", &[("authorization", key)]);
        assert_problem(&reply, 403, "forbidden");
        assert_eq!(reply.body["scope"], "admin");
        assert_problem(&server.get_with("/v1/erasures", &[("authorization", key)]), 403, "forbidden");
    }
    assert_eq!(server.get_with("/v1/search", &[("authorization", &reader)]).body["total"], 1);
    let erased = server.delete_with("/v1/customers/c1", &[("authorization", &root)]);
    assert_eq!(erased.body["deleted"], 1, "{}", erased.body);
    assert_eq!(server.get_with("/v1/erasures", &[("authorization", &root)]).status, 200);
}

#[test]
fn methods_outside_a_resource_get_405_with_allow_and_do_not_grow_metrics() {
    let (_guard, data) = data_dir();
    let server = Server::start(&data, &[]);
    for (method, path, allow) in
        [("TRACE", "/v1/search", "GET"), ("PUT", "/v1/verbatims", "POST"), ("PATCH", "/v1/verbatims/a", "GET, DELETE")]
    {
        let answer = raw_exchange(
            &server,
            format!("{method} {path} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n", address(&server)).as_bytes(),
            Duration::from_secs(5),
        );
        assert!(status_line(&answer).contains("405"), "{answer}");
        assert!(answer.to_ascii_lowercase().contains(&format!("allow: {}", allow.to_ascii_lowercase())), "{answer}");
    }
    let before = server.get("/metrics").body.as_str().unwrap().len();
    for i in 0..200 {
        raw_exchange(
            &server,
            format!("MADEUP{i} /x{i} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n", address(&server)).as_bytes(),
            Duration::from_secs(5),
        );
    }
    let metrics = server.get("/metrics").body.as_str().unwrap().to_string();
    assert!(!metrics.contains("MADEUP"), "a client-made method became a label");
    assert!(metrics.contains("method=\"other\",route=\"unmatched\",status=\"404\"} 200"), "{metrics}");
    // One new label set (and its histogram), not two hundred.
    assert!(metrics.len() < before + 4_000, "metrics grew from {before} to {} bytes", metrics.len());
}

#[test]
fn internal_details_stay_in_the_log() {
    let (_guard, data) = data_dir();
    let models = data.with_extension("no-models");
    let server = Server::start(&data, &["--models", models.to_str().unwrap()]);
    let reply = server.post("/v1/analyze", &json!({"documents":[{"id":"1","text":"bien"}],"model":"accurate"}));
    assert_problem(&reply, 400, "model_unavailable");
    let detail = reply.body["detail"].as_str().unwrap();
    assert!(!detail.contains(models.to_str().unwrap()) && !detail.contains('/'), "{detail}");
    assert!(detail.contains("verbatim models install"), "{detail}");
}

#[test]
fn a_body_that_never_arrives_is_dropped_and_idle_connections_are_capped() {
    let (_guard, data) = data_dir();
    let server = Server::start(&data, &["--body-timeout-secs", "1", "--max-connections", "8"]);
    // Declares 1,000 bytes, sends 10, then idles.
    let mut slow = TcpStream::connect(address(&server)).unwrap();
    slow.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(
        slow,
        "POST /v1/verbatims HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{{\"verbatim",
        address(&server)
    )
    .unwrap();
    let started = Instant::now();
    let mut answer = String::new();
    let _ = slow.read_to_string(&mut answer);
    assert!(status_line(&answer).contains("408") && answer.contains("body_timeout"), "{answer}");
    assert!(started.elapsed() < Duration::from_secs(8), "took {:?}", started.elapsed());

    // Many idle uploads: the process keeps a bounded number of sockets, and once the idle
    // ones time out, /health answers again.
    let sockets = || {
        std::fs::read_dir(format!("/proc/{}/fd", server.pid()))
            .unwrap()
            .flatten()
            .filter(|fd| std::fs::read_link(fd.path()).is_ok_and(|l| l.to_string_lossy().starts_with("socket:")))
            .count()
    };
    let listening = sockets();
    let idle: Vec<TcpStream> = (0..40)
        .filter_map(|_| TcpStream::connect(address(&server)).ok())
        .map(|mut s| {
            let _ = write!(s, "POST /v1/verbatims HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n");
            s
        })
        .collect();
    std::thread::sleep(Duration::from_millis(500));
    let open = sockets() - listening;
    assert!(open <= 8, "{open} connections open with a cap of 8");
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut health = 0;
    while Instant::now() < deadline && health != 200 {
        health = server.get("/health").status;
    }
    assert_eq!(health, 200);
    drop(idle);
}

#[test]
fn a_full_write_queue_answers_429_and_loses_nothing_it_acknowledged() {
    let (_guard, data) = data_dir();
    let server = Server::start(&data, &["--max-pending-writes", "2"]);
    let clients: Vec<_> = (0..12)
        .map(|client| {
            let url = server.url("/v1/verbatims");
            std::thread::spawn(move || {
                let agent: ureq::Agent = ureq::Agent::config_builder().http_status_as_error(false).build().into();
                let mut outcomes = Vec::new();
                for round in 0..10 {
                    let items: Vec<Value> = (0..200)
                        .map(
                            |i| json!({"id": format!("c{client}-r{round}-{i}"), "text": "Livraison rapide, très bien"}),
                        )
                        .collect();
                    let response = agent
                        .post(&url)
                        .header("content-type", "application/json")
                        .send(json!({"verbatims": items}).to_string())
                        .unwrap();
                    let retry_after = response.headers().get("retry-after").map(|v| v.to_str().unwrap().to_string());
                    outcomes.push((format!("c{client}-r{round}"), response.status().as_u16(), retry_after));
                }
                outcomes
            })
        })
        .collect();
    // Erasures keep places of their own: the flood of ingestion never refuses them.
    let erasures = {
        let url = server.url("/v1/customers/someone");
        std::thread::spawn(move || {
            let agent: ureq::Agent = ureq::Agent::config_builder().http_status_as_error(false).build().into();
            (0..20).map(|_| agent.delete(&url).call().unwrap().status().as_u16()).collect::<Vec<_>>()
        })
    };
    let outcomes: Vec<_> = clients.into_iter().flat_map(|c| c.join().unwrap()).collect();
    assert_eq!(erasures.join().unwrap(), vec![200; 20]);
    let accepted: Vec<_> = outcomes.iter().filter(|(_, status, _)| *status == 200).collect();
    let refused: Vec<_> = outcomes.iter().filter(|(_, status, _)| *status == 429).collect();
    assert_eq!(accepted.len() + refused.len(), outcomes.len(), "{outcomes:?}");
    assert!(!refused.is_empty(), "12 clients against a queue of 2 were never refused");
    assert!(refused.iter().all(|(_, _, retry)| retry.as_deref() == Some("1")));
    // Every acknowledged batch is searchable, every refused one wholly absent.
    assert_eq!(server.search("")["total"], accepted.len() as u64 * 200);
    for (batch, _, _) in &refused {
        assert_eq!(server.get(&format!("/v1/verbatims/{batch}-0")).status, 404);
    }
}
