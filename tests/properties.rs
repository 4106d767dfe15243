//! Generated input through the paths that take untrusted text: the search query (parameters,
//! limits, grammar, prefix rewriting, the real index, highlights) and the JSON validators.
//! None may panic or overflow its stack; each answers with a value or a named refusal.

use std::collections::HashMap;
use std::thread;

use chrono::Utc;
use proptest::collection::vec;
use proptest::prelude::*;
use proptest::sample::select;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use serde_json::{json, Value};
use verbatim::domain::Document;
use verbatim::domain::Verbatim;
use verbatim::index::{IndexError, SearchIndex};
use verbatim::search::SearchRequest;

/// What actix gives a blocking task (tokio's default), where searches run in the server.
const SERVER_STACK_BYTES: usize = 2 * 1024 * 1024;

/// Runs `check` on a thread with the server's stack, so an overflow aborts this test.
fn on_server_stack(check: impl FnOnce() + Send + 'static) {
    thread::Builder::new().stack_size(SERVER_STACK_BYTES).spawn(check).unwrap().join().unwrap();
}

/// A small real index, and each verbatim's language and text for highlighting.
/// Each verbatim's language and text, by id.
type Texts = HashMap<String, (Option<String>, String)>;

fn corpus_index() -> (tempfile::TempDir, SearchIndex, Texts) {
    let dir = tempfile::tempdir().unwrap();
    let index = SearchIndex::open(&dir.path().join("index")).unwrap();
    let items = json!([
        {"id":"fr","text":"Les livraisons arrivent toujours en retard, très déçue","language":"fr","channel":"email"},
        {"id":"nfd","text":"Un e\u{301}te\u{301} à İstanbul (sans colis)","language":"fr"},
        {"id":"en","text":"The deliveries were late: \"refund\" please","language":"en","nps":2},
        {"id":"de","text":"Lieferung war zu spät","language":"de"}
    ]);
    let verbatims: Vec<Verbatim> =
        items.as_array().unwrap().iter().map(|item| Verbatim::from_json(item, Utc::now()).unwrap()).collect();
    index.upsert(&verbatims, 1).unwrap();
    let texts = verbatims.into_iter().map(|v| (v.id, (v.language, v.text))).collect();
    (dir, index, texts)
}

/// Searches `query` and highlights every hit: Ok, or refused as an invalid query.
fn search_answers(
    index: &SearchIndex,
    texts: &HashMap<String, (Option<String>, String)>,
    query: &str,
) -> Result<(), TestCaseError> {
    let request = SearchRequest::from_params([("q", query), ("limit", "100")])
        .map_err(|err| TestCaseError::fail(format!("{query:?}: {err}")))?;
    match index.search(&request) {
        Ok(results) => {
            for (id, _) in &results.hits {
                let (language, text) = &texts[id];
                let (_, highlights) = results.highlighter.highlight(language.as_deref(), text);
                let chars = text.chars().count();
                prop_assert!(highlights.iter().all(|h| h.offset + h.length <= chars), "{query:?}: {highlights:?}");
            }
            Ok(())
        }
        Err(IndexError::InvalidQuery(_) | IndexError::QueryTooLarge(_)) => Ok(()),
        Err(other) => Err(TestCaseError::fail(format!("{query:?}: {other}"))),
    }
}

/// Pieces of query syntax, words of the corpus and awkward Unicode.
#[rustfmt::skip]
const PIECES: &[&str] = &[
    "(", ")", "\"", "'", " ", "  ", " AND ", " OR ", "NOT ", "-", "+", "*", ":", "^2", "^", "~1", "~", "[", "]",
    "{", "}", "\\", "/", " TO ", " IN ", ">", "<=", "text_fr:", "text:", "channel:", "nps:", "created_at:",
    "livraison", "livr", "retard", "deliver", "e\u{301}", "\u{301}", "İ", "été", "ß", "ﬁ", "a", "b", "0", "-1",
    "1.5", "\u{0}", "\u{10FFFF}", "\u{200B}", "ǅ", "😀",
];

/// Words of the corpus in several spellings, some as prefixes.
#[rustfmt::skip]
const WORDS: &[&str] = &[
    "livraison", "Livraisons", "livr", "retard", "e\u{301}te\u{301}", "été", "ete", "İstanbul", "istanbul",
    "deliver", "refund", "late", "colis", "spät", "Straße", "l'appli", "tre\u{300}s", "\u{2474}", "x",
];

/// Queries that mostly parse: words and prefixes under operators, groups, phrases, fields.
fn well_formed() -> impl Strategy<Value = String> {
    let word =
        (select(WORDS), any::<bool>()).prop_map(|(w, prefix)| if prefix { format!("{w}*") } else { w.to_string() });
    word.prop_recursive(5, 32, 4, |inner| {
        prop_oneof![
            vec(inner.clone(), 1..4).prop_map(|q| q.join(" ")),
            (inner.clone(), select(&[" AND ", " OR ", " -", " +"][..]), inner.clone())
                .prop_map(|(a, op, b)| format!("{a}{op}{b}")),
            inner.clone().prop_map(|q| format!("({q})")),
            inner.clone().prop_map(|q| format!("NOT {q}")),
            inner.clone().prop_map(|q| format!("text_fr:({q})")),
            (vec(select(WORDS), 1..4), any::<bool>()).prop_map(|(w, prefix)| format!(
                "\"{}\"{}",
                w.join(" "),
                if prefix { "*" } else { "" }
            )),
        ]
    })
}

fn query() -> impl Strategy<Value = String> {
    let piece = || prop_oneof![select(PIECES).prop_map(String::from), any::<char>().prop_map(String::from)];
    prop_oneof![
        3 => well_formed(),
        2 => vec(piece(), 0..120).prop_map(|pieces| pieces.concat()),
        // Long runs of one piece: deep nesting, many clauses, long text.
        1 => (select(PIECES), 1..2_500usize).prop_map(|(piece, n)| piece.repeat(n)),
        // Nesting near the limit, then anything.
        1 => (select(&["(", "NOT ", "(a OR ", "-(", "+(", "text:(", "NOT ("][..]), 20..40usize, vec(piece(), 0..30))
            .prop_map(|(opener, n, tail)| format!("{}{}", opener.repeat(n), tail.concat())),
    ]
}

#[test]
fn generated_queries_never_panic_nor_overflow() {
    on_server_stack(|| {
        let (_dir, index, texts) = corpus_index();
        let mut runner = TestRunner::new(Config { cases: 400, failure_persistence: None, ..Config::default() });
        runner.run(&query(), |query| search_answers(&index, &texts, &query)).unwrap();
    });
}

/// Found by the generator above: excluding a phrase that repeats a word tripped a debug
/// assertion of Tantivy's phrase scorer (quickwit-oss/tantivy#2811; see `Cargo.toml`).
#[test]
fn an_excluded_phrase_repeating_a_word_runs() {
    on_server_stack(|| {
        let (_dir, index, texts) = corpus_index();
        for query in [r#"livraison -"livraison livraison""#, r#"retard -"retard retard retard""#] {
            search_answers(&index, &texts, query).unwrap();
        }
        let request = SearchRequest::from_params([("q", r#"livraison -"livraison livraison""#)]).unwrap();
        assert_eq!(index.search(&request).unwrap().total, 1, "the phrase is not in the text: nothing is excluded");
    });
}

/// Also found by the generator: `field:*` on a field without a column failed only when the
/// search ran, as an internal error; it is an invalid query, and works on fields with one.
#[test]
fn a_field_presence_query_runs_or_is_refused_as_invalid() {
    on_server_stack(|| {
        let (_dir, index, _) = corpus_index();
        for query in ["livraisontext_fr:*\t''", "text_fr:*", "nowhere:*"] {
            let request = SearchRequest::from_params([("q", query)]).unwrap();
            assert!(matches!(index.search(&request), Err(IndexError::InvalidQuery(_))), "{query}");
        }
        let request = SearchRequest::from_params([("q", "nps:*")]).unwrap();
        assert_eq!(index.search(&request).unwrap().total, 1, "one verbatim has an NPS answer");
    });
}

#[test]
fn queries_at_each_limit_run_and_past_it_are_refused() {
    on_server_stack(|| {
        let (_dir, index, texts) = corpus_index();
        for opener in ["(", "NOT ", "(a OR ", "-(", "+(", "text_fr:(", "NOT (", "(NOT "] {
            let closers = ")".repeat(opener.matches('(').count() * 32);
            let at_limit = format!("{}livraison{closers}", opener.repeat(32));
            search_answers(&index, &texts, &at_limit).unwrap();
            let past = format!("{}livraison{closers}", opener.repeat(33));
            let request = SearchRequest::from_params([("q", past.as_str())]).unwrap();
            assert!(matches!(index.search(&request), Err(IndexError::QueryTooLarge(_))), "{past:?}");
        }
        let request = SearchRequest::from_params([("q", "(".repeat(2_100).as_str())]).unwrap();
        assert!(matches!(index.search(&request), Err(IndexError::QueryTooLarge(_))));
    });
}

fn json_value() -> impl Strategy<Value = Value> {
    let text = || vec(any::<char>(), 0..30).prop_map(String::from_iter);
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>().prop_map(|f| json!(f)),
        select(&[0, 1, 5, 7, 10, 11, 255, 256, -1][..]).prop_map(Value::from),
        select(&["fr", "en", "de", "", "email", "2026-10-01", "2026-10-01T09:00:00Z", "2026-13-45T99:00:00+25:00"][..])
            .prop_map(Value::from),
        text().prop_map(Value::from),
    ];
    leaf.prop_recursive(4, 64, 8, move |inner| {
        let key = prop_oneof![
                select(
                    &[
                        "id",
                        "text",
                        "language",
                        "channel",
                        "created_at",
                        "customer_id",
                        "nps",
                        "csat",
                        "ces",
                        "metadata"
                    ][..]
                )
                .prop_map(String::from),
                vec(any::<char>(), 0..10).prop_map(String::from_iter),
            ];
        prop_oneof![
            vec(inner.clone(), 0..6).prop_map(Value::Array),
            vec((key, inner), 0..10).prop_map(|fields| Value::Object(fields.into_iter().collect())),
        ]
    })
}

#[test]
fn generated_json_items_never_panic_the_validators() {
    let mut runner = TestRunner::new(Config { cases: 400, failure_persistence: None, ..Config::default() });
    runner
        .run(&json_value(), |item| {
            let _ = Verbatim::from_json(&item, Utc::now());
            let _ = Document::from_json(&item);
            Ok(())
        })
        .unwrap();
}
