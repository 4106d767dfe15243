//! Personal data redaction through the real server: what is stored, indexed, searched and
//! logged when redaction is on, what `/v1/analyze` reports, and that order numbers, dates and
//! prices stay.

mod common;

use common::{data_dir, files_containing, Server};
use serde_json::{json, Value};

const EMAIL: &str = "claire.fontaine@exemple.fr";
const PHONE: &str = "06 12 34 56 78";
const IBAN: &str = "FR76 3000 6000 0112 3456 7890 189";
const NAME: &str = "Fontaine";
const TEXT: &str = "Bonjour, je m'appelle Claire Fontaine. Commande n° 123456789 du 12/11/2026 (89,90 €) jamais \
                    reçue : rappelez-moi au 06 12 34 56 78 ou claire.fontaine@exemple.fr, remboursement sur \
                    FR76 3000 6000 0112 3456 7890 189.";

fn chars(text: &str, offset: u64, length: u64) -> String {
    text.chars().skip(offset as usize).take(length as usize).collect()
}

#[test]
fn redaction_happens_before_anything_is_stored_indexed_or_logged() {
    let (_guard, data) = data_dir();
    let server = Server::start(&data, &["--redact-pii", "all"]);
    server.ingest(json!([{"id": "r1", "text": TEXT, "language": "fr", "customer_id": "c-77"}]));

    let stored = server.get("/v1/verbatims/r1").body;
    let text = stored["text"].as_str().unwrap();
    for value in [EMAIL, PHONE, IBAN, NAME] {
        assert!(!text.contains(value), "{value} stored: {text}");
    }
    for kept in ["123456789", "12/11/2026", "89,90 €", "[EMAIL]", "[PHONE]", "[IBAN]", "je m'appelle [PERSON]"] {
        assert!(text.contains(kept), "{kept} missing: {text}");
    }
    assert_eq!(server.search_ids("q=fontaine"), Vec::<String>::new());
    assert_eq!(server.search_ids("q=remboursement"), ["r1"]);

    // /v1/analyze analyses the redacted text and says what it removed, and where.
    let reply = server.post("/v1/analyze", &json!({"documents": [{"id": "a", "text": TEXT}]}));
    assert_eq!(reply.status, 200, "{}", reply.body);
    let document = &reply.body["documents"][0];
    assert_eq!(document["redacted_text"].as_str(), Some(text));
    let removed: Vec<(String, String)> = document["redactions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            let span = chars(TEXT, r["offset"].as_u64().unwrap(), r["length"].as_u64().unwrap());
            (r["type"].as_str().unwrap().to_string(), span)
        })
        .collect();
    let expected = [("person", "Claire Fontaine"), ("phone", PHONE), ("email", EMAIL), ("iban", IBAN)];
    assert_eq!(removed, expected.map(|(k, v)| (k.to_string(), v.to_string())));
    assert!(!reply.body.to_string().contains(EMAIL));

    // A refused item, whose text is personal, is not logged either.
    let reply = server.post("/v1/verbatims", &json!({"verbatims": [{"id": "r2", "text": TEXT, "nps": 11}]}));
    assert_eq!(reply.body["errors"][0]["index"], 0, "{}", reply.body);

    let log = server.server_log();
    server.stop();
    for value in [EMAIL, PHONE, IBAN, NAME] {
        assert_eq!(files_containing(&data, value), Vec::<String>::new(), "{value} on disk");
    }
    // No verbatim text in the log, personal or not.
    for value in [EMAIL, PHONE, IBAN, NAME, "remboursement"] {
        assert!(!log.contains(value), "{value} in the log:\n{log}");
    }
}

#[test]
fn only_the_kinds_asked_for_are_redacted() {
    let (_guard, data) = data_dir();
    let server = Server::start(&data, &["--redact-pii", "email,iban"]);
    server.ingest(json!([{"id": "r1", "text": TEXT, "language": "fr"}]));
    let text = server.get("/v1/verbatims/r1").body["text"].as_str().unwrap().to_string();
    assert!(text.contains("[EMAIL]") && text.contains("[IBAN]"), "{text}");
    assert!(text.contains(PHONE) && text.contains("Claire Fontaine"), "{text}");
    let reply = server.post("/v1/analyze", &json!({"documents": [{"id": "a", "text": "Rien de personnel ici."}]}));
    let document: &Value = &reply.body["documents"][0];
    assert!(document.get("redactions").is_none() && document.get("redacted_text").is_none(), "{document}");
}

#[test]
fn an_unknown_kind_is_refused_at_start() {
    let (_guard, data) = data_dir();
    let (code, _, stderr) = common::cli(&data, &["--redact-pii", "email,shoe_size", "kpis"], None);
    assert_ne!(code, 0);
    assert!(stderr.contains("shoe_size") && stderr.contains("email, phone"), "{stderr}");
}
