//! `POST /v1/analyze` and `verbatim analyze` with the shipped fast model: response shape,
//! sentence offsets, language detection, per-item errors and limits. Accuracy is measured
//! in eval/, not here; the texts below are unambiguous, to check the wiring end to end.

mod common;

use std::io::BufReader;

use common::{cli, data_dir, installed_models, Server};
use serde::de::IgnoredAny;
use serde::Deserialize;
use serde_json::{json, Value};

const NEGATIVE_FR: &str = "Service client horrible, je suis très déçu. Je ne recommande pas cette boutique.";
const POSITIVE_FR: &str = "Excellent accueil, personnel adorable et livraison rapide. Je recommande !";
const NEGATIVE_EN: &str = "Terrible experience, the worst customer service I have ever had.";

fn analyze(server: &Server, body: Value) -> common::Reply {
    server.post("/v1/analyze", &body)
}

#[test]
fn documents_get_language_sentiment_and_sentences_with_offsets() {
    let (_guard, data) = data_dir();
    let server = Server::start(&data, &[]);
    let reply = analyze(
        &server,
        json!({"documents": [
            {"id": "n", "text": NEGATIVE_FR},
            {"id": "p", "text": POSITIVE_FR},
            {"id": "e", "text": NEGATIVE_EN, "language": "en"}
        ], "model": "fast"}),
    );
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(reply.body["model"], "fast");
    assert_eq!(reply.body["errors"], json!([]));
    let documents = reply.body["documents"].as_array().unwrap();
    let summary: Vec<(&str, &str, &str)> = documents
        .iter()
        .map(|d| {
            (d["id"].as_str().unwrap(), d["language"].as_str().unwrap(), d["sentiment"]["label"].as_str().unwrap())
        })
        .collect();
    assert_eq!(summary, [("n", "fr", "negative"), ("p", "fr", "positive"), ("e", "en", "negative")]);
    for document in documents {
        let scores: Vec<f64> =
            document["emotions"].as_array().unwrap().iter().map(|e| e["score"].as_f64().unwrap()).collect();
        assert!(scores.windows(2).all(|w| w[0] >= w[1]) && scores.iter().all(|s| *s >= 0.5), "{document}");
    }

    let negative = &documents[0];
    let score = negative["sentiment"]["score"].as_f64().unwrap();
    assert!((-1.0..0.0).contains(&score), "{score}");
    let confidence = &negative["sentiment"]["confidence"];
    let sum: f64 = ["negative", "neutral", "positive"].iter().map(|k| confidence[k].as_f64().unwrap()).sum();
    assert!((sum - 1.0).abs() < 1e-4, "{sum}");
    let sentences = negative["sentences"].as_array().unwrap();
    assert_eq!(sentences.len(), 2);
    for sentence in sentences {
        let (offset, length) =
            (sentence["offset"].as_u64().unwrap() as usize, sentence["length"].as_u64().unwrap() as usize);
        let by_offsets: String = NEGATIVE_FR.chars().skip(offset).take(length).collect();
        assert_eq!(by_offsets, sentence["text"].as_str().unwrap());
    }
    assert_eq!(sentences[1]["text"], "Je ne recommande pas cette boutique.");

    // Key phrases: what the text is about, best first, at the offsets given.
    let phrases = negative["key_phrases"].as_array().unwrap();
    assert!(phrases.iter().any(|p| p["text"].as_str().unwrap().starts_with("Service client")), "{phrases:?}");
    assert_eq!(phrases[0]["score"], 1.0);
    for phrase in phrases {
        let (offset, length) =
            (phrase["offset"].as_u64().unwrap() as usize, phrase["length"].as_u64().unwrap() as usize);
        let by_offsets: String = NEGATIVE_FR.chars().skip(offset).take(length).collect();
        assert_eq!(by_offsets, phrase["text"].as_str().unwrap());
    }
}

/// Aspects with the polarity of their own clause, opinion words and stated causes linked to
/// their aspect, all at the offsets given, French and English.
#[test]
fn aspects_and_stated_causes_come_with_polarity_links_and_offsets() {
    let (_guard, data) = data_dir();
    let server = Server::start(&data, &[]);
    let english = "Great product but delivery was a disaster because the courier lost it";
    let french = "Produit conforme mais livraison catastrophique à cause du transporteur.";
    let reply = analyze(&server, json!({"documents": [{"id": "en", "text": english}, {"id": "fr", "text": french}]}));
    assert_eq!(reply.status, 200, "{}", reply.body);
    for (document, text) in reply.body["documents"].as_array().unwrap().iter().zip([english, french]) {
        let spans = document["aspects"]
            .as_array()
            .unwrap()
            .iter()
            .chain(
                document["aspects"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .filter_map(|a| a.get("opinion").filter(|o| !o.is_null())),
            )
            .chain(document["causes"].as_array().unwrap());
        for span in spans {
            let (offset, length) =
                (span["offset"].as_u64().unwrap() as usize, span["length"].as_u64().unwrap() as usize);
            assert_eq!(text.chars().skip(offset).take(length).collect::<String>(), span["text"].as_str().unwrap());
        }
    }
    let aspects = |i: usize| -> Vec<(String, String)> {
        reply.body["documents"][i]["aspects"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| (a["text"].as_str().unwrap().to_string(), a["polarity"].as_str().unwrap().to_string()))
            .collect()
    };
    let english_aspects = aspects(0);
    assert!(english_aspects.contains(&("product".into(), "positive".into())), "{english_aspects:?}");
    assert!(english_aspects.contains(&("delivery".into(), "negative".into())), "{english_aspects:?}");
    // A positive aspect and a negative one: the document is mixed, its score the balance.
    assert_eq!(reply.body["documents"][0]["sentiment"]["label"], "mixed", "{}", reply.body);
    let cause = &reply.body["documents"][0]["causes"][0];
    assert_eq!(cause["text"], "the courier lost it");
    assert_eq!(reply.body["documents"][0]["aspects"][cause["aspect"].as_u64().unwrap() as usize]["text"], "courier");
    assert!(aspects(1).contains(&("livraison".into(), "negative".into())), "{:?}", aspects(1));
    assert_eq!(reply.body["documents"][1]["causes"][0]["text"], "transporteur");
}

#[test]
fn bad_documents_are_reported_one_by_one() {
    let (_guard, data) = data_dir();
    let server = Server::start(&data, &[]);
    let reply = analyze(
        &server,
        json!({"documents": [
            {"id": "ok", "text": NEGATIVE_EN},
            {"id": "empty", "text": " "},
            {"id": "long", "text": "a".repeat(50_001)},
            {"id": "extra", "text": "x", "nps": 3},
            {"text": "no id"}
        ]}),
    );
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(reply.body["documents"].as_array().unwrap().len(), 1);
    let codes: Vec<(u64, &str)> = reply.body["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["index"].as_u64().unwrap(), e["code"].as_str().unwrap()))
        .collect();
    assert_eq!(codes, [(1, "empty_text"), (2, "text_too_long"), (3, "unknown_field"), (4, "missing_field")]);
}

#[test]
fn a_hundred_long_documents_fit_in_one_request() {
    let (_guard, data) = data_dir();
    let server = Server::start(&data, &[]);
    let long: String = POSITIVE_FR.chars().cycle().take(5_120).collect();
    let documents: Vec<Value> = (0..100).map(|i| json!({"id": i.to_string(), "text": long})).collect();
    let reply = analyze(&server, json!({ "documents": documents }));
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(reply.body["documents"].as_array().unwrap().len(), 100);
}

/// The largest request of short sentences answers ~35 times its size (570 MB): the answer is
/// streamed, so the server's peak memory is bounded by a few documents, not by the request.
#[test]
fn a_full_request_of_short_sentences_is_answered_in_bounded_memory() {
    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Answer {
        model: String,
        documents: Vec<AnsweredDocument>,
        errors: Vec<Value>,
    }
    #[derive(Deserialize)]
    struct AnsweredDocument {
        id: String,
        sentences: Vec<IgnoredAny>,
    }

    let (_guard, data) = data_dir();
    let server = Server::start(&data, &[]);
    let text = "Bon. ".repeat(6_600);
    // Every hundredth document is refused: the errors' positions span the streamed chunks.
    let documents: Vec<Value> =
        (0..500).map(|i| json!({"id": i.to_string(), "text": if i % 100 == 7 { "" } else { text.as_str() }})).collect();
    let agent: ureq::Agent = ureq::Agent::config_builder().http_status_as_error(false).build().into();
    let mut response = agent
        .post(server.url("/v1/analyze"))
        .header("content-type", "application/json")
        .send(json!({ "documents": documents, "model": "fast" }).to_string())
        .unwrap();
    assert_eq!(response.status(), 200);
    let reader = BufReader::new(response.body_mut().with_config().limit(u64::MAX).reader());
    let answer: Answer = serde_json::from_reader(reader).unwrap();

    let peak_kb = std::fs::read_to_string(format!("/proc/{}/status", server.pid()))
        .unwrap()
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:")?.trim().strip_suffix(" kB")?.parse::<u64>().ok())
        .unwrap();
    assert!(peak_kb <= 300 * 1000, "the server peaked at {peak_kb} kB");
    assert_eq!(answer.model, "fast");
    let expected: Vec<String> = (0..500).filter(|i| i % 100 != 7).map(|i| i.to_string()).collect();
    let ids: Vec<&str> = answer.documents.iter().map(|d| d.id.as_str()).collect();
    assert_eq!(ids, expected);
    assert!(answer.documents.iter().all(|d| d.sentences.len() == 6_600));
    let refused: Vec<(u64, &str)> =
        answer.errors.iter().map(|e| (e["index"].as_u64().unwrap(), e["code"].as_str().unwrap())).collect();
    assert_eq!(refused, [7, 107, 207, 307, 407].map(|i| (i, "empty_text")));
}

#[test]
fn unknown_models_empty_and_oversized_batches_are_refused() {
    let (_guard, data) = data_dir();
    let server = Server::start(&data, &[]);
    let reply = analyze(&server, json!({"documents": [{"id": "a", "text": "x"}], "model": "huge"}));
    assert_eq!((reply.status, reply.body["code"].as_str()), (400, Some("unknown_model")));
    // The data directory has no models folder: the accurate tier says how to get one.
    let reply = analyze(&server, json!({"documents": [{"id": "a", "text": "x"}], "model": "accurate"}));
    assert_eq!((reply.status, reply.body["code"].as_str()), (400, Some("model_unavailable")));
    let detail = reply.body["detail"].as_str().unwrap();
    assert!(detail.contains("verbatim models install multilingual-e5-small"), "{detail}");
    let reply = analyze(&server, json!({"documents": []}));
    assert_eq!((reply.status, reply.body["code"].as_str()), (400, Some("empty_batch")));
    let many: Vec<Value> = (0..1001).map(|i| json!({"id": i.to_string(), "text": "x"})).collect();
    let reply = analyze(&server, json!({ "documents": many }));
    assert_eq!((reply.status, reply.body["code"].as_str()), (413, Some("batch_too_large")));
    let reply = analyze(&server, json!({"docs": []}));
    assert_eq!((reply.status, reply.body["code"].as_str()), (400, Some("invalid_body")));
}

#[test]
fn the_cli_writes_one_line_per_input_line_and_goes_on_after_bad_ones() {
    let (_guard, data) = data_dir();
    let input = format!(
        "{}\n{{\"id\":\"b\",\"text\":\"\"}}\nnot json\n{}\n",
        json!({"id": "a", "text": NEGATIVE_FR}),
        json!({"id": "c", "text": POSITIVE_FR, "language": "fr"})
    );
    let (code, stdout, stderr) = cli(&data, &["analyze", "--model", "fast"], Some(&input));
    assert_eq!(code, 2, "{stderr}");
    let lines: Vec<Value> = stdout.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines.len(), 4);
    assert_eq!((lines[0]["id"].as_str(), lines[0]["sentiment"]["label"].as_str()), (Some("a"), Some("negative")));
    assert_eq!((lines[1]["line"].as_u64(), lines[1]["error"]["code"].as_str()), (Some(2), Some("empty_text")));
    assert_eq!((lines[2]["line"].as_u64(), lines[2]["error"]["code"].as_str()), (Some(3), Some("unreadable_record")));
    assert_eq!((lines[3]["id"].as_str(), lines[3]["sentiment"]["label"].as_str()), (Some("c"), Some("positive")));
    let (code, _, stderr) = cli(&data, &["analyze", "--model", "accurate"], Some("{}\n"));
    assert_eq!(code, 1);
    assert!(stderr.contains("not available"), "{stderr}");
}

/// The accurate tier end to end: the real installed encoder and the shipped head, over HTTP and
/// the CLI. Texts are unambiguous; accuracy is measured in eval/.
#[test]
fn the_accurate_tier_analyses_documents_and_their_sentences() {
    let models = installed_models();
    let (_guard, data) = data_dir();
    let server = Server::start(&data, &["--models", models.to_str().unwrap()]);
    let reply = analyze(
        &server,
        json!({"documents": [
            {"id": "n", "text": NEGATIVE_FR},
            {"id": "p", "text": POSITIVE_FR},
            {"id": "e", "text": NEGATIVE_EN},
            {"id": "bad", "text": ""}
        ], "model": "accurate"}),
    );
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(reply.body["model"], "accurate");
    let labels: Vec<(&str, &str)> = reply.body["documents"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| (d["id"].as_str().unwrap(), d["sentiment"]["label"].as_str().unwrap()))
        .collect();
    assert_eq!(labels, [("n", "negative"), ("p", "positive"), ("e", "negative")]);
    assert_eq!(reply.body["errors"][0]["id"], "bad");
    let sentences = reply.body["documents"][0]["sentences"].as_array().unwrap();
    assert_eq!(sentences.len(), 2);
    assert_eq!(sentences[1]["sentiment"]["label"], "negative");

    // Emotions, by the encoder's head blended with the n-gram model, French and English.
    let reply = analyze(
        &server,
        json!({"documents": [
            {"id": "thanks", "text": "Thank you so much for your help!"},
            {"id": "scared", "text": "I'm scared my account was hacked"},
            {"id": "merci", "text": "Merci beaucoup pour votre aide"},
            {"id": "plain", "text": "Colis livré mardi"}
        ], "model": "accurate"}),
    );
    assert_eq!(reply.status, 200, "{}", reply.body);
    let strongest: Vec<Option<&str>> = reply.body["documents"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["emotions"].as_array().unwrap().first().map(|e| e["label"].as_str().unwrap()))
        .collect();
    assert_eq!(strongest, [Some("gratitude"), Some("fear"), Some("gratitude"), None], "{}", reply.body);

    let many: Vec<Value> = (0..101).map(|i| json!({"id": i.to_string(), "text": "x"})).collect();
    let reply = analyze(&server, json!({ "documents": many, "model": "accurate" }));
    assert_eq!(
        (reply.status, reply.body["code"].as_str(), reply.body["limit"].as_u64()),
        (413, Some("batch_too_large"), Some(100))
    );

    let input = format!("{}\n", json!({"id": "p", "text": POSITIVE_FR}));
    let models_arg = models.to_str().unwrap();
    let (code, stdout, stderr) = cli(&data, &["--models", models_arg, "analyze", "--model", "accurate"], Some(&input));
    assert_eq!(code, 0, "{stderr}");
    let line: Value = serde_json::from_str(stdout.trim()).unwrap();
    assert_eq!(line["sentiment"]["label"], "positive");
}
