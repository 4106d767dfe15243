//! The analysts' workspace in a real browser: headless Chromium from Debian's `chromium` and
//! `chromium-driver` packages (which `.ci/run` installs), driven over WebDriver by
//! `fantoccini`, against the real server holding verbatims loaded through the API. Every
//! number the pages show is checked against the API's answer to the same question. If the
//! browser cannot start, the test fails and says why: nothing is skipped.
//!
//! Screenshots of each page land in the cargo target's tmp folder (`ui-screenshots/`).

#[path = "common/browser.rs"]
mod browser;
mod common;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use browser::{browser, start_driver};
use common::{data_dir, Server};
use fantoccini::{Client, Locator};
use serde_json::{json, Value};

const KEY: &str = "ui-test-key-0123456789";

/// Polls a JavaScript expression until it is true, for 30 s at most.
async fn wait_until(page: &Client, what: &str, expression: &str) {
    let started = Instant::now();
    loop {
        let value = page.execute(&format!("return Boolean({expression});"), vec![]).await.unwrap();
        if value == json!(true) {
            return;
        }
        if started.elapsed() > Duration::from_secs(30) {
            let body = page.execute("return document.body.innerText;", vec![]).await.unwrap();
            panic!("waited 30 s for {what} ({expression}); the page says: {body}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn script(page: &Client, expression: &str) -> Value {
    page.execute(&format!("return {expression};"), vec![]).await.unwrap()
}

async fn screenshot(page: &Client, name: &str) {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("ui-screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join(format!("{name}.png")), page.screenshot().await.unwrap()).unwrap();
}

/// Every control of the page has an accessible name.
async fn assert_controls_are_named(page: &Client, where_: &str) {
    let unnamed = script(
        page,
        "[...document.querySelectorAll('input, select, textarea, button')]
            .filter((e) => e.type !== 'hidden' && !e.labels?.length && !e.getAttribute('aria-label')
                     && !(e.tagName === 'BUTTON' && e.textContent.trim())).map((e) => e.outerHTML)",
    )
    .await;
    assert_eq!(unnamed, json!([]), "{where_}: controls without an accessible name");
}

fn api(server: &Server, path: &str) -> Value {
    let reply = server.get_with(path, &[("authorization", &format!("Bearer {KEY}"))]);
    assert_eq!(reply.status, 200, "{path}: {}", reply.body);
    reply.body
}

/// 48 verbatims over eight weeks, three channels, French and English, NPS 0 to 10, CSAT and
/// CES on some.
fn load(server: &Server) {
    let now = chrono::Utc::now();
    let texts = [
        ("fr", "La livraison est arrivée en retard et le colis était abîmé."),
        ("en", "Great support, thank you. The delivery was late though."),
        ("fr", "Remboursement toujours pas reçu après trois semaines."),
        ("en", "Perfect product, fast delivery!"),
    ];
    let verbatims: Vec<Value> = (0..48)
        .map(|i| {
            let (language, text) = texts[i % texts.len()];
            let (channel, store) = (["email", "web", "store"][i % 3], ["Lyon", "Paris"][i % 2]);
            let (csat, ces) = if i % 4 == 0 { (Some(1 + i % 5), Some(1 + i % 7)) } else { (None, None) };
            json!({"id": format!("v{i}"), "text": text, "language": language,
                   "channel": channel, "nps": (i * 7) % 11, "csat": csat, "ces": ces,
                   "customer_id": format!("c{}", i % 10),
                   "created_at": (now - chrono::Duration::days((i % 8) as i64 * 7 + 1)).to_rfc3339(),
                   "metadata": {"store": store}})
        })
        .collect();
    let auth = format!("Bearer {KEY}");
    let rule = json!({"name": "Détracteurs", "filter": {"nps_group": "detractor"}, "follow_up": {"due_hours": 48}});
    assert_eq!(server.post_raw("/v1/alerts/rules", rule.to_string(), &[("authorization", &auth)]).status, 201);
    let reply =
        server.post_raw("/v1/verbatims", json!({"verbatims": verbatims}).to_string(), &[("authorization", &auth)]);
    assert_eq!((reply.status, &reply.body["errors"]), (200, &json!([])), "{}", reply.body);
    let started = Instant::now();
    while api(server, "/v1/follow-ups").as_object().unwrap()["follow_ups"].as_array().unwrap().is_empty() {
        assert!(started.elapsed() < Duration::from_secs(30), "no follow-up opened");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[tokio::test(flavor = "current_thread")]
async fn analysts_search_filter_open_and_read_the_same_numbers_as_the_api() {
    let (_guard, data) = data_dir();
    let server = Server::start(&data, &["--api-key", KEY]);
    load(&server);
    let driver = start_driver();
    let page = browser(&driver).await;

    // A key-protected server: the workspace asks for the key, then goes where it was sent,
    // with the key in no URL.
    page.goto(&server.url("/ui/explore?q=livraison")).await.unwrap();
    wait_until(&page, "the login page", "location.pathname === '/ui/login'").await;
    assert_controls_are_named(&page, "login").await;
    page.find(Locator::Css("input[name=key]")).await.unwrap().send_keys(KEY).await.unwrap();
    page.find(Locator::Css("form button[type=submit]")).await.unwrap().click().await.unwrap();
    wait_until(&page, "the search", "document.querySelector('#total')").await;
    let url = page.current_url().await.unwrap();
    assert_eq!((url.path(), url.query()), ("/ui/explore", Some("q=livraison")));
    assert!(!url.as_str().contains(KEY));

    // Explore: the total and the hits are the API's, matched words marked.
    let expected = api(&server, "/v1/search?q=livraison");
    let expected_total = expected["total"].clone();
    assert_eq!(script(&page, "Number(document.querySelector('#total').dataset.total)").await, expected_total);
    let marks =
        script(&page, "[...document.querySelectorAll('.hit mark')].map((m) => m.textContent.toLowerCase())").await;
    let marks: Vec<String> = serde_json::from_value(marks).unwrap();
    assert!(
        !marks.is_empty() && marks.iter().all(|m| m.starts_with("livraison") || m.starts_with("deliver")),
        "{marks:?}"
    );
    assert_controls_are_named(&page, "explore").await;
    screenshot(&page, "explore").await;

    // By keyboard alone: a new query typed and entered.
    let search = page.find(Locator::Css("#q")).await.unwrap();
    search.clear().await.unwrap();
    search.send_keys("remboursement\u{E007}").await.unwrap();
    wait_until(&page, "the keyboard's search", "location.search === '?q=remboursement'").await;
    let expected = api(&server, "/v1/search?q=remboursement")["total"].clone();
    wait_until(&page, "its results", &format!("document.querySelector('#total')?.dataset.total === '{expected}'"))
        .await;
    page.back().await.unwrap();
    let again = format!(
        "location.search === '?q=livraison' && document.querySelector('#total')?.dataset.total === '{}'
         && document.querySelector('[data-facet=channel] a[data-value=email]')",
        expected_total
    );
    wait_until(&page, "the search before, shown again", &again).await;

    // A facet narrows the search, in the URL too.
    page.find(Locator::Css("[data-facet=channel] a[data-value=email]")).await.unwrap().click().await.unwrap();
    let narrowed = api(&server, "/v1/search?q=livraison&channel=email")["total"].clone();
    let shown = format!(
        "location.search.includes('channel=email') && document.querySelector('#total')?.dataset.total === '{narrowed}'"
    );
    wait_until(&page, "the narrowed search", &shown).await;

    // Opening a verbatim shows its analysis, sentence by sentence.
    page.find(Locator::Css(".hit button.link")).await.unwrap().click().await.unwrap();
    wait_until(&page, "the verbatim's analysis", "document.querySelector('dialog[open] .sentence')").await;
    screenshot(&page, "verbatim").await;
    page.find(Locator::Css("dialog[open] form button")).await.unwrap().click().await.unwrap();

    // Overview: the KPIs are the API's over the same window.
    let today = chrono::Utc::now().date_naive();
    let (from, to) = (today - chrono::Days::new(70), today + chrono::Days::new(1));
    page.goto(&server.url(&format!("/ui/overview?from={from}&to={to}&period=week"))).await.unwrap();
    wait_until(&page, "the KPIs", "document.querySelector('#kpis') && document.querySelector('#by-channel table')")
        .await;
    let kpis = api(&server, &format!("/v1/kpis?from={from}&to={to}&tz=UTC&period=week"));
    assert_eq!(script(&page, "Number(document.querySelector('#kpis').dataset.count)").await, kpis["total"]["count"]);
    for kpi in ["nps", "csat", "ces", "net_sentiment"] {
        let shown = script(&page, &format!("document.querySelector('[data-kpi={kpi}]').dataset.value")).await;
        let expected = kpis["total"][kpi].as_f64().unwrap_or_else(|| panic!("the data has {kpi} answers"));
        assert_eq!(shown.as_str().unwrap().parse::<f64>().ok(), Some(expected), "{kpi}");
    }
    for (grouping, table) in [("channel", "#by-channel"), ("language", "#by-language")] {
        let groups = api(&server, &format!("/v1/kpis?from={from}&to={to}&tz=UTC&group_by={grouping}"));
        let counts: Vec<String> = groups["groups"].as_array().unwrap().iter().map(|g| g["count"].to_string()).collect();
        let cells =
            format!("[...document.querySelectorAll('{table} tbody td:nth-child(2)')].map((c) => c.textContent)");
        let shown = script(&page, &cells).await;
        assert_eq!(shown, json!(counts), "{grouping}");
    }
    wait_until(&page, "the trend chart", "document.querySelector('.chart canvas')").await;
    assert_controls_are_named(&page, "overview").await;
    screenshot(&page, "overview").await;

    // Compare: two segments side by side, their counts the API's.
    page.goto(&server.url("/ui/compare?a=channel%3Demail&b=channel%3Dweb")).await.unwrap();
    wait_until(&page, "the comparison", "document.querySelector('#comparison')").await;
    let cells = script(
        &page,
        "[...document.querySelectorAll('#comparison tbody tr:first-child td')].map((c) => c.textContent)",
    )
    .await;
    let count = |segment: &str| api(&server, &format!("/v1/kpis?{segment}"))["total"]["count"].to_string();
    assert_eq!(cells[0].as_str(), Some(count("channel=email").as_str()));
    assert_eq!(cells[1].as_str(), Some(count("channel=web").as_str()));

    // Themes: loads, and says where the topics would come from.
    page.goto(&server.url("/ui/themes")).await.unwrap();
    wait_until(&page, "the themes", "document.querySelector('#topics') && !document.querySelector('.error')").await;

    // Follow-ups: overdue first; a status change reaches the API.
    page.goto(&server.url("/ui/follow-ups")).await.unwrap();
    wait_until(&page, "the follow-ups", "document.querySelector('#follow-ups tbody tr')").await;
    let first = script(&page, "document.querySelector('#follow-ups tbody tr').dataset.id").await;
    let first = first.as_str().unwrap().to_string();
    page.find(Locator::Css("#follow-ups tbody tr select")).await.unwrap().select_by_value("contacted").await.unwrap();
    page.find(Locator::Css("#follow-ups tbody tr td:last-child button")).await.unwrap().click().await.unwrap();
    wait_until(&page, "the saved status", "document.querySelector('#follow-ups tbody tr [role=status]').textContent")
        .await;
    assert_eq!(api(&server, &format!("/v1/follow-ups/{first}"))["status"], "contacted");
    // Reached, it leaves the queue to act on; "All" lists it again.
    let row = format!("document.querySelector('#follow-ups tbody tr[data-id=\"{first}\"]')");
    page.goto(&server.url("/ui/follow-ups")).await.unwrap();
    wait_until(&page, "the queue again", &format!("document.querySelector('#follow-ups tbody tr') && !{row}")).await;
    page.find(Locator::Css("select[name=status]")).await.unwrap().select_by_value("").await.unwrap();
    page.find(Locator::Css("form.controls button[type=submit]")).await.unwrap().click().await.unwrap();
    wait_until(&page, "every follow-up", &format!("location.search === '?status=' && {row}")).await;
    assert_controls_are_named(&page, "follow-ups").await;
    screenshot(&page, "follow-ups").await;

    // Analyse: pasted text, analysed by the model chosen.
    page.goto(&server.url("/ui/analyse")).await.unwrap();
    wait_until(&page, "the analyse page", "document.querySelector('textarea')").await;
    let text = "Colis arrivé cassé. Le livreur était très aimable.";
    page.find(Locator::Css("textarea")).await.unwrap().send_keys(text).await.unwrap();
    page.find(Locator::Css("form button[type=submit]")).await.unwrap().click().await.unwrap();
    wait_until(&page, "the analysis", "document.querySelectorAll('#analysis .sentence').length === 2").await;
    assert_controls_are_named(&page, "analyse").await;

    // On a tablet, nothing runs off the side; and nothing came from another origin.
    page.set_window_size(820, 1180).await.unwrap();
    page.goto(&server.url("/ui/explore?q=livraison")).await.unwrap();
    wait_until(&page, "the search on a tablet", "document.querySelector('#total')").await;
    assert_eq!(script(&page, "document.documentElement.scrollWidth <= window.innerWidth").await, json!(true));
    screenshot(&page, "explore-tablet").await;
    let foreign = script(
        &page,
        "performance.getEntriesByType('resource').map((r) => r.name).filter((u) => !u.startsWith(location.origin))",
    )
    .await;
    assert_eq!(foreign, json!([]));

    // In French.
    page.find(Locator::Css("#ui-language")).await.unwrap().select_by_value("fr").await.unwrap();
    wait_until(
        &page,
        "the French words",
        "document.querySelector('nav a[data-page=explore]').textContent === 'Explorer'",
    )
    .await;
    assert_eq!(script(&page, "document.documentElement.lang").await, "fr");

    page.close().await.unwrap();
}
