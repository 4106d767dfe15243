//! Alerts, webhooks and follow-ups through the real server and a real local HTTP receiver that
//! fails, times out and recovers: signed deliveries, retries, a SIGKILL during a delivery,
//! failures made visible, follow-ups updated, request forgery refused, erasure.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{data_dir, files_containing, Server};
use hmac::{Hmac, KeyInit, Mac};
use serde_json::{json, Value};
use sha2::Sha256;

const SECRET: &str = "a-secret-of-enough-length";

/// What the receiver does with a request.
#[derive(Clone, Copy, Debug)]
enum Answer {
    Status(u16),
    /// Waits this long before answering 200 (longer than the server's timeout: a timeout).
    Hang(Duration),
}

/// A request the receiver got.
#[derive(Clone, Debug)]
struct Received {
    headers: Vec<(String, String)>,
    body: String,
}

impl Received {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
}

/// A webhook receiver on a loopback port: answers from a script (then 200), records requests.
struct Receiver {
    url: String,
    received: Arc<Mutex<Vec<Received>>>,
}

impl Receiver {
    fn start(script: Vec<Answer>) -> Receiver {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/hooks/cx", listener.local_addr().unwrap());
        let received = Arc::new(Mutex::new(Vec::new()));
        let (log, script) = (received.clone(), Arc::new(Mutex::new(script.into_iter())));
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                let (log, script) = (log.clone(), script.clone());
                std::thread::spawn(move || {
                    let mut reader = BufReader::new(stream.try_clone().unwrap());
                    let mut headers = Vec::new();
                    let mut line = String::new();
                    reader.read_line(&mut line).unwrap();
                    loop {
                        line.clear();
                        if reader.read_line(&mut line).unwrap() == 0 || line == "\r\n" {
                            break;
                        }
                        let (name, value) = line.trim_end().split_once(':').unwrap();
                        headers.push((name.to_string(), value.trim().to_string()));
                    }
                    let length = headers
                        .iter()
                        .find(|(n, _)| n.eq_ignore_ascii_case("content-length"))
                        .map_or(0, |(_, v)| v.parse().unwrap());
                    let mut body = vec![0; length];
                    reader.read_exact(&mut body).unwrap();
                    log.lock().unwrap().push(Received { headers, body: String::from_utf8(body).unwrap() });
                    let answer = script.lock().unwrap().next().unwrap_or(Answer::Status(200));
                    let status = match answer {
                        Answer::Status(status) => status,
                        Answer::Hang(wait) => {
                            std::thread::sleep(wait);
                            200
                        }
                    };
                    let _ = write!(stream, "HTTP/1.1 {status} X\r\ncontent-length: 0\r\nconnection: close\r\n\r\n");
                });
            }
        });
        Receiver { url, received }
    }

    fn received(&self) -> Vec<Received> {
        self.received.lock().unwrap().clone()
    }
}

fn start(data: &std::path::Path) -> Server {
    Server::start(
        data,
        &[
            "--allow-private-webhooks",
            "--webhook-retry-secs",
            "1",
            "--webhook-timeout-secs",
            "2",
            "--webhook-max-attempts",
            "4",
        ],
    )
}

fn detractor_rule(server: &Server, url: &str) -> Value {
    let reply = server.post(
        "/v1/alerts/rules",
        &json!({"name": "Email detractors", "filter": {"nps_group": "detractor", "channel": "email"},
                "webhook": {"url": url, "secret": SECRET}, "follow_up": {"due_hours": 48, "owner": "cx-lyon"}}),
    );
    assert_eq!(reply.status, 201, "{}", reply.body);
    reply.body
}

fn alerts(server: &Server) -> Vec<Value> {
    server.get("/v1/alerts").body["alerts"].as_array().unwrap().clone()
}

fn wait_for(what: &str, server: &Server, done: impl Fn() -> bool) {
    let started = Instant::now();
    while !done() {
        assert!(started.elapsed() < Duration::from_secs(30), "waited 30 s for {what}\n{}", server.server_log());
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn verify(request: &Received) {
    let timestamp = request.header("x-verbatim-timestamp").expect("a timestamp");
    let mut mac = Hmac::<Sha256>::new_from_slice(SECRET.as_bytes()).unwrap();
    mac.update(format!("{timestamp}.{}", request.body).as_bytes());
    let expected: String = mac.finalize().into_bytes().iter().map(|b| format!("{b:02x}")).collect();
    assert_eq!(request.header("x-verbatim-signature"), Some(format!("sha256={expected}").as_str()));
    let age = chrono::Utc::now().timestamp() - timestamp.parse::<i64>().unwrap();
    assert!((0..60).contains(&age), "signed {age} s ago");
}

#[test]
fn a_detractor_fires_a_signed_webhook_retried_until_delivered_and_opens_a_follow_up() {
    let (_guard, data) = data_dir();
    let server = start(&data);
    let receiver = Receiver::start(vec![Answer::Status(500), Answer::Hang(Duration::from_secs(4))]);
    let rule = detractor_rule(&server, &receiver.url);
    assert!(!rule.to_string().contains(SECRET), "the secret is never returned: {rule}");
    assert!(!server.get("/v1/alerts/rules").body.to_string().contains(SECRET));

    server.ingest(json!([
        {"id": "d1", "text": "Colis jamais reçu, service client injoignable", "channel": "email", "nps": 2,
         "customer_id": "cust-1"},
        {"id": "p1", "text": "Parfait, merci", "channel": "email", "nps": 10},
        {"id": "d2", "text": "Trop cher", "channel": "chat", "nps": 3},
    ]));
    wait_for("the delivery", &server, || alerts(&server).first().is_some_and(|a| a["delivery"] == "delivered"));
    let fired = alerts(&server);
    assert_eq!(fired.len(), 1, "{fired:?}");
    assert_eq!((fired[0]["verbatim_id"].as_str(), fired[0]["attempts"].as_u64()), (Some("d1"), Some(3)));

    // A 500, a timeout, then 200: three attempts of one alert, one key, each signed.
    let requests = receiver.received();
    assert_eq!(requests.len(), 3);
    let key = fired[0]["idempotency_key"].as_str().unwrap();
    for request in &requests {
        assert_eq!(request.header("idempotency-key"), Some(key));
        verify(request);
    }
    let body: Value = serde_json::from_str(&requests[2].body).unwrap();
    assert_eq!(body["verbatim"]["id"], "d1");
    assert_eq!(body["rule"]["name"], "Email detractors");
    assert_eq!(body["follow_up"]["owner"], "cx-lyon");

    // The follow-up: open, due in 48 h, then contacted with a note.
    let listed = server.get("/v1/follow-ups?status=open").body["follow_ups"].as_array().unwrap().clone();
    assert_eq!(listed.len(), 1);
    let follow_up = &listed[0];
    assert_eq!((follow_up["verbatim_id"].as_str(), follow_up["overdue"].as_bool()), (Some("d1"), Some(false)));
    let due: chrono::DateTime<chrono::Utc> = follow_up["due_at"].as_str().unwrap().parse().unwrap();
    let hours = (due - chrono::Utc::now()).num_minutes() as f64 / 60.0;
    assert!((47.0..=48.0).contains(&hours), "due in {hours} h");
    let id = follow_up["id"].as_i64().unwrap();
    let reply = server.patch(&format!("/v1/follow-ups/{id}"), &json!({"status": "contacted", "note": "rappelée"}));
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert!(reply.body["contacted_at"].is_string() && reply.body["note"] == "rappelée", "{}", reply.body);
    assert_eq!(server.patch(&format!("/v1/follow-ups/{id}"), &json!({"status": "called"})).status, 400);
    assert_eq!(server.get("/v1/follow-ups?overdue=true").body["follow_ups"], json!([]));

    // Sent again: no second alert, and the follow-up keeps its state.
    server.ingest(json!([{"id": "d1", "text": "Colis jamais reçu, toujours rien", "channel": "email", "nps": 1}]));
    server.ingest(json!([{"id": "d3", "text": "Remboursement refusé", "channel": "email", "nps": 0}]));
    wait_for("the second alert", &server, || alerts(&server).len() == 2);
    let follow_ups = server.get("/v1/follow-ups").body["follow_ups"].as_array().unwrap().clone();
    let states: Vec<(&str, &str)> =
        follow_ups.iter().map(|f| (f["verbatim_id"].as_str().unwrap(), f["status"].as_str().unwrap())).collect();
    assert_eq!(states, [("d1", "contacted"), ("d3", "open")]);

    // The loop's own KPIs: one customer reached in time, one not yet due.
    let reply = server.get("/v1/follow-ups/kpis?group_by=owner");
    assert_eq!(reply.status, 200, "{}", reply.body);
    let total = &reply.body["total"];
    let counts: Vec<u64> = ["follow_ups", "reached_in_time", "reached_late", "overdue", "pending"]
        .map(|k| total[k].as_u64().unwrap())
        .to_vec();
    assert_eq!(counts, [2, 1, 0, 0, 1], "{total}");
    assert_eq!(total["in_time"], 100.0);
    assert!(total["median_hours_to_contact"].as_f64().unwrap() < 0.1, "{total}");
    assert_eq!(reply.body["groups"][0]["key"], "cx-lyon");
    assert_eq!(server.get("/v1/follow-ups/kpis?group_by=channel").status, 400);
}

#[test]
fn a_rule_does_not_fire_on_history_and_failures_are_visible() {
    let (_guard, data) = data_dir();
    let server = start(&data);
    server.ingest(json!([{"id": "old", "text": "Nul", "channel": "email", "nps": 0}]));
    let receiver = Receiver::start(vec![Answer::Status(503); 10]);
    detractor_rule(&server, &receiver.url);
    server.ingest(json!([{"id": "new", "text": "Nul", "channel": "email", "nps": 0}]));
    wait_for("the last attempt", &server, || alerts(&server).first().is_some_and(|a| a["delivery"] == "failed"));
    let fired = alerts(&server);
    assert_eq!(fired.len(), 1, "only the verbatim written after the rule: {fired:?}");
    assert_eq!(fired[0]["attempts"], 4);
    assert!(fired[0]["last_error"].as_str().unwrap().contains("503"), "{}", fired[0]);
    assert_eq!(server.get("/v1/alerts?delivery=failed").body["alerts"].as_array().unwrap().len(), 1);
    assert_eq!(receiver.received().len(), 4);
}

#[test]
fn a_crash_during_a_delivery_loses_nothing_and_repeats_it_with_the_same_key() {
    let (_guard, data) = data_dir();
    let server = start(&data);
    let receiver = Receiver::start(vec![Answer::Hang(Duration::from_secs(1))]);
    detractor_rule(&server, &receiver.url);
    server.ingest(json!([{"id": "d1", "text": "Inadmissible", "channel": "email", "nps": 1}]));
    wait_for("the first attempt", &server, || !receiver.received().is_empty());
    server.kill();

    let server = start(&data);
    wait_for("the delivery", &server, || alerts(&server).first().is_some_and(|a| a["delivery"] == "delivered"));
    let requests = receiver.received();
    assert!(requests.len() >= 2, "{requests:?}");
    let keys: Vec<&str> = requests.iter().map(|r| r.header("idempotency-key").unwrap()).collect();
    assert!(keys.iter().all(|k| *k == keys[0]), "{keys:?}");
    assert_eq!(alerts(&server).len(), 1);
}

#[test]
fn webhooks_into_the_internal_network_are_refused_unless_allowed() {
    let (_guard, data) = data_dir();
    let server = Server::start(&data, &[]);
    for url in ["http://127.0.0.1:9/hook", "http://169.254.169.254/latest", "http://10.0.0.1/", "ftp://example.com/"] {
        let reply = server
            .post("/v1/alerts/rules", &json!({"name": "r", "filter": {}, "webhook": {"url": url, "secret": SECRET}}));
        assert_eq!(
            (reply.status, reply.body["code"].as_str()),
            (400, Some("invalid_webhook")),
            "{url}: {}",
            reply.body
        );
    }
    for (body, field) in [
        (json!({"name": "r", "filter": {"nps_min": "12"}, "follow_up": {"due_hours": 48}}), "filter"),
        (json!({"name": "r", "webhook": {"url": "https://8.8.8.8/", "secret": "short"}}), "webhook"),
        (json!({"name": "r", "follow_up": {"due_hours": 0}}), "follow_up"),
        (json!({"name": "", "follow_up": {"due_hours": 4}}), "name"),
        (json!({"name": "r"}), "body"),
        (json!({"name": "r", "follow_up": {"due_hours": 4}, "colour": "red"}), "body"),
    ] {
        let reply = server.post("/v1/alerts/rules", &body);
        assert_eq!((reply.status, reply.body["field"].as_str()), (400, Some(field)), "{body}: {}", reply.body);
    }
}

#[test]
fn erasure_removes_a_customers_alerts_follow_ups_and_outbox() {
    let (_guard, data) = data_dir();
    let server = Server::start(&data, &["--allow-private-webhooks", "--webhook-retry-secs", "3600"]);
    let receiver = Receiver::start(vec![Answer::Status(500)]);
    detractor_rule(&server, &receiver.url);
    server.ingest(json!([{"id": "d1", "text": "Xylophonique retard", "channel": "email", "nps": 1,
                          "customer_id": "cust-erase"}]));
    wait_for("the first attempt", &server, || !receiver.received().is_empty());
    let export = server.get("/v1/customers/cust-erase/export").body;
    assert_eq!((export["alerts"].as_array().unwrap().len(), export["follow_ups"].as_array().unwrap().len()), (1, 1));
    assert_eq!(server.delete("/v1/customers/cust-erase").status, 200);
    assert_eq!(alerts(&server), Vec::<Value>::new());
    assert_eq!(server.get("/v1/follow-ups").body["follow_ups"], json!([]));
    // The outbox held the text; it leaves the files as the verbatim does.
    let erased = Instant::now();
    while !files_containing(&data, "Xylophonique").is_empty() && erased.elapsed() < Duration::from_secs(60) {
        std::thread::sleep(Duration::from_millis(200));
    }
    assert_eq!(files_containing(&data, "Xylophonique"), Vec::<String>::new());
}

#[test]
fn alerts_fire_on_arrivals_only_and_rules_may_name_categories() {
    let (_guard, data) = data_dir();
    let server = Server::start(&data, &[]);
    let category = server.post("/v1/categories", &json!({"name": "livraison", "queries": {"fr": "livraison"}}));
    assert_eq!(category.status, 201, "{}", category.body);
    let filter = json!({"category": category.body["id"]});
    let missing = server
        .post("/v1/alerts/rules", &json!({"name": "r", "filter": {"category": 999}, "follow_up": {"due_hours": 4}}));
    assert_eq!((missing.status, missing.body["field"].as_str()), (400, Some("filter")), "{}", missing.body);
    let rule =
        server.post("/v1/alerts/rules", &json!({"name": "livraison", "filter": filter, "follow_up": {"due_hours": 4}}));
    assert_eq!(rule.status, 201, "{}", rule.body);
    let id = rule.body["id"].as_i64().unwrap();
    // Evaluation follows each commit, after its answer: wait for a matching arrival, then
    // every earlier one has been evaluated too.
    let fired = |server: &Server| -> Vec<String> {
        let mut ids: Vec<String> =
            alerts(server).iter().map(|a| a["verbatim_id"].as_str().unwrap().to_string()).collect();
        ids.sort();
        ids
    };
    let wait_fired = |server: &Server, last: &str| wait_for(last, server, || fired(server).iter().any(|id| id == last));

    server.ingest(json!([{"id": "x1", "text": "Produit parfait", "language": "fr"},
                         {"id": "a1", "text": "Livraison en retard", "language": "fr"}]));
    wait_fired(&server, "a1");
    assert_eq!(fired(&server), ["a1"]);
    assert_eq!(alerts(&server)[0]["delivery"], "none", "no webhook: nothing to deliver");

    // Off, then on again: what was sent meanwhile does not fire.
    let off = json!({"name": "livraison", "filter": filter, "follow_up": {"due_hours": 4}, "enabled": false});
    assert_eq!(server.put(&format!("/v1/alerts/rules/{id}"), &off).status, 200);
    server.ingest(json!([{"id": "a2", "text": "Livraison perdue", "language": "fr"}]));
    let on = json!({"name": "livraison", "filter": filter, "follow_up": {"due_hours": 4}, "enabled": true});
    assert_eq!(server.put(&format!("/v1/alerts/rules/{id}"), &on).status, 200);
    server.ingest(json!([{"id": "a3", "text": "Livraison abîmée", "language": "fr"}]));
    wait_fired(&server, "a3");
    assert_eq!(fired(&server), ["a1", "a3"]);

    // A reprocess stores new analyses of every verbatim: none of them is an arrival.
    let job = server.post("/v1/jobs", &json!({"kind": "reprocess", "model": "fast"}));
    assert_eq!(job.status, 202, "{}", job.body);
    server.wait_job(job.body["id"].as_str().unwrap(), |j| j["state"] == "done");
    server.ingest(json!([{"id": "a4", "text": "Livraison oubliée", "language": "fr"}]));
    wait_fired(&server, "a4");
    assert_eq!(fired(&server), ["a1", "a3", "a4"]);

    // Erasing a verbatim erases its alert and follow-up.
    assert_eq!(server.delete("/v1/verbatims/a1").status, 204);
    assert_eq!(fired(&server), ["a3", "a4"]);
    let follow_ups = server.get("/v1/follow-ups").body["follow_ups"].as_array().unwrap().clone();
    assert_eq!(follow_ups.len(), 2, "{follow_ups:?}");
}

/// Noon UTC so many days ago, or now for 0 (today, whatever the hour).
fn days_ago(days: u64) -> String {
    let now = chrono::Utc::now();
    if days == 0 {
        return now.to_rfc3339();
    }
    (now.date_naive() - chrono::Days::new(days)).and_hms_opt(12, 0, 0).unwrap().and_utc().to_rfc3339()
}

#[test]
fn volume_rules_call_a_spike_and_an_nps_drop_once_and_stay_quiet_on_flat_volumes() {
    // The data is dated from today: start past midnight UTC if it is near.
    let to_midnight = 86_400 - chrono::Timelike::num_seconds_from_midnight(&chrono::Utc::now());
    if to_midnight < 120 {
        std::thread::sleep(Duration::from_secs(u64::from(to_midnight) + 2));
    }
    let (_guard, data) = data_dir();
    let mut verbatims = Vec::new();
    // Five weeks of e-mail and web feedback, 3 to 7 a day in each channel; today, 40 e-mails.
    for day in 1..=35u64 {
        for channel in ["email", "web"] {
            for n in 0..(3 + (day * 7 + u64::from(channel == "web")) % 5) {
                verbatims.push(json!({"id": format!("{channel}-{day}-{n}"), "text": "Colis en retard",
                                      "channel": channel, "created_at": days_ago(day)}));
            }
        }
    }
    for n in 0..40 {
        verbatims.push(json!({"id": format!("email-today-{n}"), "text": "Colis jamais arrivé", "channel": "email",
                              "created_at": days_ago(0)}));
    }
    // In the store channel: the week before last at NPS +40, last week at −20 (ISO weeks, UTC).
    let today = chrono::Utc::now().date_naive();
    let monday = today - chrono::Days::new(u64::from(chrono::Datelike::weekday(&today).num_days_from_monday()));
    for (week, promoters, detractors) in [(2u64, 50, 10), (1, 20, 40)] {
        let day = (monday - chrono::Days::new(7 * week - 2)).and_hms_opt(12, 0, 0).unwrap().and_utc().to_rfc3339();
        for n in 0..100 {
            let nps = if n < promoters {
                10
            } else if n < promoters + detractors {
                2
            } else {
                8
            };
            verbatims.push(json!({"id": format!("store-{week}-{n}"), "text": "Magasin", "channel": "store",
                                  "nps": nps, "created_at": day}));
        }
    }
    let args = ["--allow-private-webhooks", "--volume-alerts-every-secs", "1"];
    let server = Server::start(&data, &args);
    for chunk in verbatims.chunks(500) {
        server.ingest(Value::Array(chunk.to_vec()));
    }
    let receiver = Receiver::start(Vec::new());
    let rule = |name: &str, channel: &str, volume: Value| {
        let reply = server.post(
            "/v1/alerts/rules",
            &json!({"name": name, "filter": {"channel": channel}, "volume": volume,
                    "webhook": {"url": receiver.url, "secret": SECRET}}),
        );
        assert_eq!(reply.status, 201, "{}", reply.body);
        reply.body["id"].as_i64().unwrap()
    };
    let spike = rule("E-mail spike", "email", json!({"kind": "spike", "min_count": 10}));
    rule("Web spike", "web", json!({"kind": "spike", "min_count": 1, "p_value": 0.01}));
    let drop = rule("Store NPS drop", "store", json!({"kind": "nps_drop", "points": 20}));
    // A rule refused: volume rules open no follow-up, and their tests are checked.
    for volume in [json!({"kind": "spike", "baseline_periods": 2}), json!({"kind": "nps_drop"}), json!({"kind": "x"})] {
        let reply = server.post("/v1/alerts/rules", &json!({"name": "r", "volume": volume}));
        assert_eq!((reply.status, reply.body["field"].as_str()), (400, Some("volume")), "{volume}: {}", reply.body);
    }
    let with_follow_up = json!({"name": "r", "volume": {"kind": "spike"}, "follow_up": {"due_hours": 4}});
    assert_eq!(server.post("/v1/alerts/rules", &with_follow_up).status, 400);
    let one_customer = json!({"name": "r", "volume": {"kind": "spike"}, "filter": {"customer_id": "c1"}});
    assert_eq!(server.post("/v1/alerts/rules", &one_customer).body["field"], "filter");
    let to_verbatims = json!({"name": "E-mail spike", "filter": {"channel": "email"}, "follow_up": {"due_hours": 4}});
    let switched = server.put(&format!("/v1/alerts/rules/{spike}"), &to_verbatims);
    assert_eq!((switched.status, switched.body["field"].as_str()), (400, Some("volume")), "{}", switched.body);

    wait_for("two deliveries", &server, || receiver.received().len() >= 2);
    // Several evaluations later, and after a restart (whose evaluations a new rule shows),
    // nothing fired twice.
    std::thread::sleep(Duration::from_secs(3));
    server.stop();
    let server = Server::start(&data, &args);
    let again = server.post(
        "/v1/alerts/rules",
        &json!({"name": "again", "filter": {"channel": "email"},
                                                          "volume": {"kind": "spike"}}),
    );
    let again = again.body["id"].as_i64().unwrap();
    wait_for("the new rule's alert", &server, || alerts(&server).iter().any(|a| a["rule_id"] == again));
    let fired: Vec<Value> = alerts(&server).into_iter().filter(|a| a["rule_id"] != again).collect();
    let mut rules: Vec<i64> = fired.iter().map(|a| a["rule_id"].as_i64().unwrap()).collect();
    rules.sort();
    assert_eq!(rules, [spike, drop], "the web channel's volumes are flat: {fired:#?}");
    let by_rule = |id: i64| fired.iter().find(|a| a["rule_id"] == id).unwrap().clone();

    let found = by_rule(spike)["volume"].clone();
    assert_eq!(
        (found["kind"].as_str(), found["count"].as_u64(), found["complete"].as_bool()),
        (Some("spike"), Some(40), Some(false))
    );
    assert_eq!(found["baseline_periods"], 28);
    assert!(found["baseline_mean"].as_f64().unwrap() < 8.0 && found["p_value"].as_f64().unwrap() < 0.001, "{found}");
    assert!(by_rule(spike).get("verbatim_id").is_none());

    let found = by_rule(drop)["volume"].clone();
    assert_eq!(
        (found["kind"].as_str(), found["nps"].as_f64(), found["previous_nps"].as_f64()),
        (Some("nps_drop"), Some(-20.0), Some(40.0))
    );
    assert_eq!(
        (found["count"].as_u64(), found["previous_count"].as_u64(), found["complete"].as_bool()),
        (Some(100), Some(100), Some(true))
    );
    let last_monday = (monday - chrono::Days::new(7)).and_hms_opt(0, 0, 0).unwrap().and_utc();
    assert_eq!(
        found["period_start"].as_str(),
        Some(last_monday.to_rfc3339_opts(chrono::SecondsFormat::Millis, true).as_str())
    );

    // Each delivery is signed, and carries the finding (no verbatim).
    let deliveries = receiver.received();
    assert_eq!(deliveries.len(), 2, "{deliveries:?}");
    for delivery in &deliveries {
        verify(delivery);
        let body: Value = serde_json::from_str(&delivery.body).unwrap();
        assert!(body["volume"]["p_value"].as_f64().unwrap() < 0.05 && body.get("verbatim").is_none(), "{body}");
    }
}
