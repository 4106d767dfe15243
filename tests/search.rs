//! Ingest and search round trips through the real server: stemming, accents, Unicode
//! forms, prefixes, filters, facets, sorting, pagination, highlights, upsert and erasure.

mod common;

use common::{data_dir, hit_ids, Server};
use serde_json::{json, Value};

fn corpus() -> Value {
    json!([
        {"id":"fr1","text":"Les livraisons arrivent toujours en retard.","language":"fr","channel":"email","nps":2,
         "created_at":"2026-10-05T09:00:00Z","customer_id":"c1","metadata":{"store":"Lyon"}},
        {"id":"fr2","text":"Livraison rapide, très contente du service client","language":"fr","channel":"survey","nps":9,
         "created_at":"2026-10-20T09:00:00Z","customer_id":"c2","metadata":{"store":"Paris"}},
        {"id":"fr3","text":"L'application plante à chaque mise à jour","language":"fr","channel":"review","nps":4,"csat":2,
         "created_at":"2026-09-15T09:00:00Z","customer_id":"c1"},
        {"id":"en1","text":"The deliveries were late again","language":"en","channel":"email","nps":1,
         "created_at":"2026-10-10T09:00:00Z","customer_id":"c3","metadata":{"store":"Lyon"}},
        {"id":"en2","text":"Great delivery, friendly staff","language":"en","channel":"chat","nps":10,"csat":5,"ces":2,
         "created_at":"2026-11-02T09:00:00Z"},
        {"id":"en3","text":"Refund still pending after three weeks","language":"en","channel":"ticket","nps":0,
         "created_at":"2026-10-28T09:00:00Z"},
        {"id":"de1","text":"Lieferung war zu spät","language":"de","channel":"social","created_at":"2026-08-01T09:00:00Z"}
    ])
}

fn server_with_corpus() -> (tempfile::TempDir, Server) {
    let (guard, data) = data_dir();
    let server = Server::start(&data, &[]);
    server.ingest(corpus());
    (guard, server)
}

fn sorted(mut ids: Vec<String>) -> Vec<String> {
    ids.sort();
    ids
}

#[test]
fn french_search_ignores_case_plural_and_accents() {
    let (_guard, server) = server_with_corpus();
    for query in ["livraison", "LIVRAISONS", "Livraison"] {
        assert_eq!(sorted(server.search_ids(&format!("q={query}"))), ["fr1", "fr2"], "query {query}");
    }
    assert_eq!(server.search_ids("q=tres%20contente"), ["fr2"]);
    assert_eq!(server.search_ids("q=tr%C3%A8s"), ["fr2"]);
}

#[test]
fn english_search_stems() {
    let (_guard, server) = server_with_corpus();
    assert_eq!(sorted(server.search_ids("q=delivery")), ["en1", "en2"]);
    assert_eq!(server.search_ids("q=refunds"), ["en3"]);
}

#[test]
fn the_analyst_story_detractors_on_email_last_month() {
    let (_guard, server) = server_with_corpus();
    let found = server.search("q=livraison&nps_group=detractor&channel=email&from=2026-10-01&to=2026-11-01");
    assert_eq!(hit_ids(&found), ["fr1"]);
    assert_eq!(found["total"], 1);
    let hit = &found["hits"][0];
    // Snippets end on a word: the closing full stop is not part of any token.
    assert_eq!(hit["snippet"], "Les <em>livraisons</em> arrivent toujours en retard");
    assert_eq!(hit["highlights"], json!([{"offset":4,"length":10}]));
}

#[test]
fn facets_count_every_match_not_just_the_page() {
    let (_guard, server) = server_with_corpus();
    let all = server.search("limit=1");
    assert_eq!(all["total"], 7);
    assert_eq!(all["hits"].as_array().unwrap().len(), 1);
    assert_eq!(all["facets"]["channel"], json!({"email":2,"survey":1,"review":1,"chat":1,"ticket":1,"social":1}));
    assert_eq!(all["facets"]["language"], json!({"fr":3,"en":3,"de":1}));
    assert_eq!(all["facets"]["nps_group"], json!({"detractor":4,"promoter":2}));
    let sentiment_total: u64 =
        all["facets"]["sentiment"].as_object().unwrap().values().map(|v| v.as_u64().unwrap()).sum();
    assert_eq!(sentiment_total, 7, "every verbatim has a sentiment");
    let narrowed = server.search("q=livraison");
    assert_eq!(narrowed["facets"]["channel"], json!({"email":1,"survey":1}));
}

#[test]
fn filters_on_scores_metadata_customer_language_and_dates() {
    let (_guard, server) = server_with_corpus();
    assert_eq!(server.search_ids("csat_max=2"), ["fr3"]);
    assert_eq!(server.search_ids("ces_min=2&ces_max=2"), ["en2"]);
    assert_eq!(sorted(server.search_ids("nps_min=9")), ["en2", "fr2"]);
    assert_eq!(sorted(server.search_ids("metadata.store=Lyon")), ["en1", "fr1"]);
    assert_eq!(sorted(server.search_ids("customer_id=c1")), ["fr1", "fr3"]);
    assert_eq!(sorted(server.search_ids("language=en,de")), ["de1", "en1", "en2", "en3"]);
    assert_eq!(sorted(server.search_ids("from=2026-10-28&to=2026-11-02T09:00:00Z")), ["en3"]);
    assert_eq!(sorted(server.search_ids("nps_group=passive")), Vec::<String>::new());
}

#[test]
fn sorts_newest_first_and_paginates() {
    let (_guard, server) = server_with_corpus();
    assert_eq!(server.search_ids("sort=newest"), ["en2", "en3", "fr2", "en1", "fr1", "fr3", "de1"]);
    let page = server.search("sort=newest&limit=2&offset=2");
    assert_eq!(hit_ids(&page), ["fr2", "en1"]);
    assert_eq!(page["total"], 7);
}

#[test]
fn highlight_offsets_count_code_points_not_bytes() {
    let (_guard, server) = server_with_corpus();
    let found = server.search("q=jour");
    assert_eq!(hit_ids(&found), ["fr3"]);
    let text = "L'application plante à chaque mise à jour";
    let byte_offset = text.find("jour").unwrap();
    let offset = text[..byte_offset].chars().count();
    assert_ne!(offset, byte_offset, "the text must have multi-byte characters before the match");
    assert_eq!(found["hits"][0]["highlights"], json!([{"offset": offset, "length": 4}]));
}

#[test]
fn decomposed_accents_and_dotted_capitals_meet_their_plain_spellings() {
    let (_guard, data) = data_dir();
    let server = Server::start(&data, &[]);
    server.ingest(json!([
        {"id":"nfd","text":"Un e\u{301}te\u{301} sans livraison","language":"fr"},
        {"id":"ist","text":"Livraison à İstanbul annulée","language":"fr"},
        {"id":"en","text":"Straße closed in ISTANBUL","language":"en"}
    ]));
    // été composed, plain, upper-case decomposed.
    for query in ["%C3%A9t%C3%A9", "ete", "E%CC%81TE%CC%81"] {
        assert_eq!(server.search_ids(&format!("q={query}")), ["nfd"], "query {query}");
    }
    for query in ["istanbul", "ISTANBUL", "%C4%B0stanbul"] {
        assert_eq!(sorted(server.search_ids(&format!("q={query}"))), ["en", "ist"], "query {query}");
    }
    assert_eq!(server.search_ids("q=strasse"), ["en"]);
    // Offsets count the code points of the stored text: the accent is two of them.
    let found = server.search("q=ete");
    assert_eq!(found["hits"][0]["highlights"], json!([{"offset":3,"length":5}]));
    assert_eq!(found["hits"][0]["snippet"], "Un <em>e\u{301}te\u{301}</em> sans livraison");
}

#[test]
fn a_trailing_star_matches_words_that_start_so() {
    let (_guard, server) = server_with_corpus();
    assert_eq!(sorted(server.search_ids("q=livr*")), ["fr1", "fr2"]);
    assert_eq!(sorted(server.search_ids("q=LIVRAISONS*")), ["fr1", "fr2"]);
    assert_eq!(sorted(server.search_ids("q=deliver*")), ["en1", "en2"]);
    assert_eq!(server.search_ids("q=refun*"), ["en3"]);
    assert_eq!(server.search_ids("q=livr*%20-rapide"), ["fr1"]);
    assert_eq!(server.search_ids("q=text_en:deliver*%20AND%20late"), ["en1"]);
    assert_eq!(server.search_ids("q=%22livraison%20rap%22*"), ["fr2"]);
    let found = server.search("q=livr*&channel=email");
    assert_eq!(hit_ids(&found), ["fr1"]);
    assert_eq!(found["hits"][0]["highlights"], json!([{"offset":4,"length":10}]));
    // Regular expressions stay refused: only prefixes are offered.
    let refused = server.get("/v1/search?q=%2Fliv.*%2F");
    assert_eq!((refused.status, refused.body["code"].as_str()), (400, Some("invalid_query")));
}

#[test]
fn an_index_from_before_the_unicode_analyzers_is_rebuilt_at_start_up() {
    let (_guard, data) = data_dir();
    let server = Server::start(&data, &[]);
    server.ingest(json!([{"id":"old","text":"Un e\u{301}te\u{301} pluvieux","language":"fr"}]));
    server.stop();
    // What the previous version wrote: the same fields with the analyzers of before.
    let meta = data.join("index").join("meta.json");
    let current = std::fs::read_to_string(&meta).unwrap();
    assert!(current.contains("verbatim_fr_v2"), "the analyzers carry their version");
    std::fs::write(&meta, current.replace("_v2\"", "\"")).unwrap();
    let server = Server::start(&data, &[]);
    assert_eq!(server.search_ids("q=ete"), ["old"]);
    assert!(server.server_log().contains("rebuilding"), "{}", server.server_log());
}

#[test]
fn tantivy_query_syntax_is_available() {
    let (_guard, server) = server_with_corpus();
    assert_eq!(server.search_ids("q=%22en%20retard%22"), ["fr1"]);
    assert_eq!(sorted(server.search_ids("q=channel:email")), ["en1", "fr1"]);
    assert_eq!(server.search_ids("q=livraison%20-rapide"), ["fr1"]);
    assert_eq!(sorted(server.search_ids("q=livraison%20OR%20refund")), ["en3", "fr1", "fr2"]);
}

#[test]
fn the_same_id_replaces_never_duplicates() {
    let (_guard, data) = data_dir();
    let server = Server::start(&data, &[]);
    server.ingest(json!([{"id":"u1","text":"colis perdu","language":"fr"}]));
    server.ingest(json!([{"id":"u1","text":"colis retrouvé","language":"fr","nps":9}]));
    assert_eq!(server.search_ids("q=perdu"), Vec::<String>::new());
    assert_eq!(server.search_ids("q=retrouve"), ["u1"]);
    assert_eq!(server.search("")["total"], 1);
    assert_eq!(server.get("/v1/verbatims/u1").body["nps"], 9);
    // Within one batch, the later item wins.
    server.ingest(json!([{"id":"u2","text":"premier","language":"fr"},{"id":"u2","text":"second","language":"fr"}]));
    assert_eq!(server.get("/v1/verbatims/u2").body["text"], "second");
    assert_eq!(server.search("")["total"], 2);
}

#[test]
fn get_returns_what_was_stored() {
    let (_guard, server) = server_with_corpus();
    let reply = server.get("/v1/verbatims/fr1");
    assert_eq!(reply.status, 200);
    let mut stored = reply.body.clone();
    let sentiment = stored.as_object_mut().unwrap().remove("sentiment").expect("sentiment is computed at ingestion");
    assert!(["negative", "neutral", "positive"].contains(&sentiment["label"].as_str().unwrap()));
    let model = stored.as_object_mut().unwrap().remove("sentiment_model").expect("with the model that computed it");
    assert_eq!(model["tier"], "fast");
    let aspects = stored.as_object_mut().unwrap().remove("aspects").expect("aspects are found at ingestion");
    assert_eq!((aspects[0]["offset"].as_u64(), aspects[0]["length"].as_u64()), (Some(4), Some(10)), "livraisons");
    let emotions = stored.as_object_mut().unwrap().remove("emotions").expect("emotions are found at ingestion");
    let analysed = server.post("/v1/analyze", &json!({"documents": [{"id": "x", "text": stored["text"]}]}));
    assert_eq!(emotions, analysed.body["documents"][0]["emotions"], "stored as the fast tier found them");
    let mut expected = corpus()[0].clone();
    expected["created_at"] = json!("2026-10-05T09:00:00.000Z"); // normalised to UTC milliseconds
    assert_eq!(stored, expected);
    let missing = server.get("/v1/verbatims/nope");
    assert_eq!((missing.status, missing.body["code"].as_str()), (404, Some("not_found")));
}

#[test]
fn erasure_removes_from_store_and_search_before_returning() {
    let (_guard, server) = server_with_corpus();
    let deleted = server.delete("/v1/verbatims/en3");
    assert_eq!(deleted.status, 204);
    assert_eq!(server.get("/v1/verbatims/en3").status, 404);
    assert!(server.search_ids("q=refund").is_empty());
    assert_eq!(server.delete("/v1/verbatims/en3").status, 404);

    let erased = server.delete("/v1/customers/c1");
    assert_eq!(erased.status, 200);
    assert_eq!(erased.body["deleted"], 2);
    assert!(server.search_ids("customer_id=c1").is_empty());
    assert!(server.search_ids("q=application").is_empty());
    assert_eq!(server.search_ids("q=livraison"), ["fr2"]);
    assert_eq!(server.get("/v1/verbatims/fr1").status, 404);
    assert_eq!(server.search("")["total"], 4);
}

#[test]
fn ingestion_detects_language_and_sentiment_becomes_a_filter_and_facet() {
    let (_guard, data) = data_dir();
    let server = Server::start(&data, &[]);
    server.ingest(json!([
        {"id":"n","text":"Service client horrible, je suis très déçu. Je ne recommande pas cette boutique.","nps":1},
        {"id":"p","text":"Excellent accueil, personnel adorable et livraisons rapides. Je recommande !","nps":10},
        {"id":"e","text":"Terrible experience, the worst customer service I have ever had.","language":"en"}
    ]));
    let stored = server.get("/v1/verbatims/n").body;
    assert_eq!(stored["language"], "fr", "detected when not given");
    assert_eq!(stored["sentiment"]["label"], "negative");
    // The detected language picked the French analyzer: the plural is found by the singular.
    assert_eq!(server.search_ids("q=livraison"), ["p"]);

    assert_eq!(sorted(server.search_ids("sentiment=negative")), ["e", "n"]);
    assert_eq!(server.search_ids("sentiment=positive&nps_group=promoter"), ["p"]);
    let all = server.search("");
    for hit in all["hits"].as_array().unwrap() {
        let label = hit["verbatim"]["sentiment"]["label"].as_str().unwrap();
        let score = hit["verbatim"]["sentiment"]["score"].as_f64().unwrap();
        let filtered = server.search_ids(&format!("sentiment={label}"));
        assert!(filtered.contains(&hit["verbatim"]["id"].as_str().unwrap().to_string()));
        let in_range = server.search_ids(&format!(
            "sentiment_score_min={}&sentiment_score_max={}",
            (score - 1e-3).max(-1.0),
            (score + 1e-3).min(1.0)
        ));
        assert!(in_range.contains(&hit["verbatim"]["id"].as_str().unwrap().to_string()), "score {score}");
    }
    assert_eq!(all["facets"]["sentiment"], json!({"negative":2,"positive":1}));
}

/// Feedback programmes name their own channels: any name is kept, in one spelling, faceted and
/// filterable, and common synonyms fold into the usual name.
#[test]
fn channels_are_an_open_vocabulary_with_aliases() {
    let (_guard, data) = data_dir();
    let server = Server::start(&data, &[]);
    server.ingest(json!([
        {"id":"p","text":"Rappelé deux fois, personne","language":"fr","channel":"Phone"},
        {"id":"t","text":"Hotline injoignable","language":"fr","channel":"téléphone"},
        {"id":"a","text":"The app crashes","language":"en","channel":"app"},
        {"id":"s","text":"Code reçu trop tard","language":"fr","channel":"SMS"},
        {"id":"w","text":"Checkout page broken","language":"en","channel":"Web Form"}
    ]));
    assert_eq!(server.search("")["facets"]["channel"], json!({"call":2,"app":1,"sms":1,"web_form":1}));
    assert_eq!(sorted(server.search_ids("channel=phone")), ["p", "t"]);
    assert_eq!(sorted(server.search_ids("channel=call,sms")), ["p", "s", "t"]);
    assert_eq!(server.search_ids("channel=web%20form"), ["w"]);
    assert_eq!(server.get("/v1/verbatims/s").body["channel"], "sms");
}

/// Aspects are found at ingestion (the fast tier's) and stored as spans with their polarity;
/// search filters on an aspect, alone or with its polarity, and counts them as a facet.
#[test]
fn aspects_judged_at_ingestion_filter_and_facet_search() {
    let (_guard, data) = data_dir();
    let server = Server::start(&data, &[]);
    server.ingest(json!([
        {"id":"mixed","text":"Great product but the delivery was terrible","language":"en","channel":"review"},
        {"id":"late","text":"Terrible delivery, broken box","language":"en","channel":"email"},
        {"id":"fast","text":"Excellent product, fast delivery","language":"en","channel":"app"},
        {"id":"fr","text":"La livraison était parfaite, merci","language":"fr","channel":"survey"},
        {"id":"none","text":"Bonjour","language":"fr","channel":"chat"}
    ]));
    let stored = server.get("/v1/verbatims/mixed").body;
    let text = stored["text"].as_str().unwrap();
    let aspects: Vec<(String, String)> = stored["aspects"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            let span: String = text
                .chars()
                .skip(a["offset"].as_u64().unwrap() as usize)
                .take(a["length"].as_u64().unwrap() as usize)
                .collect();
            (span, a["polarity"].as_str().unwrap().to_string())
        })
        .collect();
    assert!(aspects.contains(&("delivery".to_string(), "negative".to_string())), "{stored}");
    assert!(aspects.contains(&("product".to_string(), "positive".to_string())), "{stored}");
    assert!(server.get("/v1/verbatims/none").body.get("aspects").is_none(), "no aspect, no field");
    // Praise and blame in one verbatim make it mixed, which search filters and counts.
    assert_eq!(stored["sentiment"]["label"], "mixed", "{stored}");
    assert_eq!(server.search_ids("sentiment=mixed"), ["mixed"]);
    assert_eq!(server.search("")["facets"]["sentiment"]["mixed"], 1);

    assert_eq!(sorted(server.search_ids("aspect=delivery")), ["fast", "late", "mixed"]);
    assert_eq!(sorted(server.search_ids("aspect=Delivery:negative")), ["late", "mixed"]);
    assert_eq!(server.search_ids("aspect=delivery:positive"), ["fast"]);
    assert_eq!(server.search_ids("aspect=livraison:positive"), ["fr"]);
    assert_eq!(sorted(server.search_ids("aspect=livraison,product")), ["fast", "fr", "mixed"]);
    let facets = &server.search("")["facets"]["aspect"];
    assert_eq!((facets["delivery"].as_u64(), facets["livraison"].as_u64()), (Some(3), Some(1)), "{facets}");
    for bad in ["aspect=delivery:great", "aspect=:negative"] {
        let reply = server.get(&format!("/v1/search?{bad}"));
        assert_eq!((reply.status, reply.body["parameter"].as_str()), (400, Some("aspect")), "{bad}: {}", reply.body);
    }
}

/// Emotions are found at ingestion (the fast tier's), stored with each verbatim strongest
/// first, and search filters and counts them; a verbatim expressing none is `neutral` there.
#[test]
fn emotions_found_at_ingestion_filter_and_facet_search() {
    let (_guard, data) = data_dir();
    let server = Server::start(&data, &[]);
    server.ingest(json!([
        {"id":"angry","text":"I am so angry, this is the worst service ever","language":"en"},
        {"id":"thanks","text":"Thank you so much for your help!","language":"en"},
        {"id":"merci","text":"Merci beaucoup pour votre aide","language":"fr"},
        {"id":"plain","text":"Order number 1234 was delivered on Tuesday","language":"en"},
        {"id":"scared","text":"I'm scared my account was hacked","language":"en"}
    ]));
    let emotions = |id: &str| -> Vec<(String, f64)> {
        let stored = server.get(&format!("/v1/verbatims/{id}")).body;
        stored["emotions"]
            .as_array()
            .unwrap_or_else(|| panic!("{stored}"))
            .iter()
            .map(|e| (e["label"].as_str().unwrap().to_string(), e["score"].as_f64().unwrap()))
            .collect()
    };
    let angry = emotions("angry");
    assert!(angry.iter().any(|(label, _)| label == "anger"), "{angry:?}");
    assert!(angry.windows(2).all(|w| w[0].1 >= w[1].1) && angry.iter().all(|(_, s)| *s >= 0.5), "{angry:?}");
    assert_eq!(emotions("thanks")[0].0, "gratitude");
    assert_eq!(emotions("merci")[0].0, "gratitude");
    assert_eq!(emotions("plain"), []);

    assert_eq!(server.search_ids("emotion=anger"), ["angry"]);
    assert_eq!(sorted(server.search_ids("emotion=Gratitude,fear")), ["merci", "scared", "thanks"]);
    assert_eq!(server.search_ids("emotion=neutral"), ["plain"]);
    let facets = &server.search("")["facets"]["emotion"];
    assert_eq!((facets["gratitude"].as_u64(), facets["neutral"].as_u64()), (Some(2), Some(1)), "{facets}");
    for bad in ["emotion=rage", "emotion=mixed"] {
        let reply = server.get(&format!("/v1/search?{bad}"));
        assert_eq!((reply.status, reply.body["parameter"].as_str()), (400, Some("emotion")), "{bad}: {}", reply.body);
    }
}
