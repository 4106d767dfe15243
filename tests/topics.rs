//! `verbatim topics`: a discovery over a file, with the real encoder and in the lightweight
//! mode. The fixture holds four themes customers write about (late deliveries, refunds, the
//! app's login, friendly staff), ten verbatims each, half in French and half in English.
//! Discovery quality is measured in eval/ (eval-topics); here the themes are distinct enough
//! that any working discovery separates them.

mod common;

use std::collections::{BTreeSet, HashMap};
use std::path::Path;

use common::{cli, data_dir, installed_models};
use serde_json::Value;

const FIXTURE: &str = include_str!("fixtures/topics_bilingual.jsonl");

/// The fixture and two bad lines, as a file; the command's exit code, output lines and summary.
fn run_topics(models: &Path, extra: &[&str]) -> (i32, Vec<Value>, Value) {
    let (guard, data) = data_dir();
    let input = guard.path().join("in.jsonl");
    std::fs::write(&input, format!("{FIXTURE}{{\"id\": \"no-text\"}}\nnot json\n")).unwrap();
    let summary = guard.path().join("summary.json");
    let mut args = vec!["--models", models.to_str().unwrap(), "topics", "--input", input.to_str().unwrap()];
    args.extend(["--summary", summary.to_str().unwrap()]);
    args.extend(extra);
    let (code, stdout, stderr) = cli(&data, &args, None);
    let lines = stdout.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let summary =
        std::fs::read(&summary).map(|b| serde_json::from_slice(&b).unwrap()).unwrap_or_else(|_| panic!("{stderr}"));
    (code, lines, summary)
}

/// Per theme (the id's prefix), how many of its verbatims each topic holds.
fn topics_by_theme(lines: &[Value]) -> HashMap<String, HashMap<i64, usize>> {
    let mut themes: HashMap<String, HashMap<i64, usize>> = HashMap::new();
    for line in lines.iter().filter(|l| l.get("topic_id").is_some()) {
        let theme = line["id"].as_str().unwrap().split('-').next().unwrap().to_string();
        *themes.entry(theme).or_default().entry(line["topic_id"].as_i64().unwrap()).or_default() += 1;
    }
    themes
}

#[test]
fn french_and_english_verbatims_about_the_same_thing_share_a_named_topic() {
    let models = installed_models();
    let (code, lines, summary) = run_topics(&models, &[]);
    assert_eq!(code, 2, "a bad line makes the exit code 2");
    assert_eq!(lines.len(), 42, "one line out per line in");
    assert_eq!(lines[40]["line"], 41);
    assert_eq!(lines[40]["error"]["code"], "missing_field");
    assert_eq!(lines[41]["error"]["code"], "unreadable_record");
    assert_eq!(summary["vectors"], "encoder");
    assert_eq!(summary["verbatims"], 40);

    let themes = topics_by_theme(&lines);
    let mut majority_topics = BTreeSet::new();
    for (theme, topics) in &themes {
        let (&topic, &count) = topics.iter().max_by_key(|(id, n)| (**n, -**id)).unwrap();
        assert!(count >= 8 && topic >= 0, "{theme}: {topics:?}");
        majority_topics.insert(topic);
        // Both languages are in it (the ids say which language each verbatim is in).
        let members: Vec<&Value> = lines.iter().filter(|l| l["topic_id"] == topic).collect();
        let french = members.iter().filter(|l| l["id"].as_str().unwrap().contains("-fr-")).count();
        assert!(french > 0 && french < members.len(), "{theme}: topic {topic} holds one language only");
        let described = summary["topics"].as_array().unwrap().iter().find(|t| t["id"] == topic).unwrap();
        assert!(!described["label"].as_str().unwrap().is_empty(), "{described}");
        assert!(described["labels"]["fr"].is_string() && described["labels"]["en"].is_string(), "{described}");
        for example in described["examples"].as_array().unwrap() {
            let line = lines.iter().find(|l| l["id"] == example["id"]).unwrap();
            assert_eq!(line["topic_id"], topic, "an example belongs to its topic");
            assert_eq!(line["topic_label"], described["label"]);
        }
    }
    assert_eq!(majority_topics.len(), 4, "four themes, four topics: {themes:?}");
    let delivery = themes["delivery"].iter().max_by_key(|(_, n)| **n).unwrap().0;
    let terms = &summary["topics"].as_array().unwrap().iter().find(|t| t["id"] == *delivery).unwrap()["terms"];
    assert!(
        terms
            .as_array()
            .unwrap()
            .iter()
            .any(|t| ["colis", "livraison", "package", "delivery", "parcel"].contains(&t.as_str().unwrap())),
        "{terms}"
    );

    // Same file, same seed: the same topics, line for line.
    let (_, again, _) = run_topics(&models, &[]);
    assert_eq!(again, lines);
}

#[test]
fn without_the_encoder_the_lightweight_mode_still_finds_topics() {
    let (guard, _) = data_dir();
    let empty_models = guard.path().join("no-models");
    let (code, lines, summary) = run_topics(&empty_models, &["--strict"]);
    assert_eq!(code, 2);
    assert_eq!(lines.len(), 42);
    assert_eq!(summary["vectors"], "hashed");
    let topics = summary["topics"].as_array().unwrap();
    assert!(topics.len() >= 2, "{summary}");
    let assigned = lines.iter().filter(|l| l["topic_id"].as_i64().is_some_and(|t| t >= 0)).count();
    assert_eq!(assigned + summary["outliers"].as_u64().unwrap() as usize, 40);
    for line in lines.iter().filter(|l| l["topic_id"] == -1) {
        assert!(line["topic_label"].is_null(), "{line}");
    }
}
