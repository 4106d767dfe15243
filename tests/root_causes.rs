//! `verbatim root-causes`: why customers are unhappy, grouped over a file, with the fast tier
//! and hashed vectors, and with the accurate tier and the real encoder. The fixture holds three
//! causes (late deliveries, rude agents, a crashing app), five verbatims each in French and in
//! English, with detractor scores, and five happy verbatims with promoter scores. Grouping
//! quality is measured in eval/ (eval/root_causes.sh); here the causes are distinct enough that
//! any working grouping separates them.

mod common;

use std::collections::HashMap;
use std::path::Path;

use common::{cli, data_dir, installed_models};
use serde_json::Value;

const FIXTURE: &str = include_str!("fixtures/root_causes_bilingual.jsonl");

/// The fixture and two bad lines, as a file; the exit code, output lines and summary.
fn run_root_causes(models: &Path) -> (i32, Vec<Value>, Value) {
    let (guard, data) = data_dir();
    let input = guard.path().join("in.jsonl");
    std::fs::write(&input, format!("{FIXTURE}{{\"id\": \"no-text\"}}\nnot json\n")).unwrap();
    let summary = guard.path().join("summary.json");
    let args = ["--models", models.to_str().unwrap(), "root-causes", "--input", input.to_str().unwrap()];
    let (code, stdout, stderr) = cli(&data, &[&args[..], &["--summary", summary.to_str().unwrap()]].concat(), None);
    let lines = stdout.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let summary =
        std::fs::read(&summary).map(|b| serde_json::from_slice(&b).unwrap()).unwrap_or_else(|_| panic!("{stderr}"));
    (code, lines, summary)
}

/// What every run must give: one line per line, errors for bad ones, no cause for the happy,
/// spans at their offsets, a ranking most cited first with the NPS impact of each cause.
fn check_shape(code: i32, lines: &[Value], summary: &Value) {
    assert_eq!(code, 2, "a bad line makes the exit code 2");
    assert_eq!(lines.len(), 37, "one line out per line in");
    assert_eq!(lines[35]["error"]["code"], "missing_field");
    assert_eq!(lines[36]["error"]["code"], "unreadable_record");
    let texts: HashMap<String, String> = FIXTURE
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .map(|v| (v["id"].as_str().unwrap().to_string(), v["text"].as_str().unwrap().to_string()))
        .collect();
    for line in &lines[..35] {
        let id = line["id"].as_str().unwrap();
        let causes = line["root_causes"].as_array().unwrap();
        if id.starts_with("happy") {
            assert!(causes.is_empty(), "{line}");
            continue;
        }
        assert!(!causes.is_empty(), "an unhappy verbatim states a cause: {line}");
        for cause in causes {
            let (offset, length) =
                (cause["offset"].as_u64().unwrap() as usize, cause["length"].as_u64().unwrap() as usize);
            let by_offsets: String = texts[id].chars().skip(offset).take(length).collect();
            assert_eq!(by_offsets, cause["text"].as_str().unwrap());
            assert!(!cause["label"].as_str().unwrap().is_empty());
        }
    }
    assert_eq!(summary["verbatims"], 35);
    assert_eq!(summary["unhappy"], 30);
    assert_eq!((summary["promoters"].as_u64(), summary["detractors"].as_u64()), (Some(5), Some(30)), "{summary}");
    let ranked = summary["root_causes"].as_array().unwrap();
    assert!(ranked.windows(2).all(|w| w[0]["verbatims"].as_u64() >= w[1]["verbatims"].as_u64()), "{summary}");
    for cause in ranked {
        // Only detractors cite causes: leaving them out raises the NPS.
        assert!(cause["nps_impact"].as_f64().unwrap() < 0.0, "{cause}");
        assert!(cause["share_of_negative"].as_f64().unwrap() <= 1.0, "{cause}");
        assert_eq!(cause["detractors"], cause["verbatims"], "{cause}");
        assert_eq!(cause["promoters"], 0, "{cause}");
        assert!(!cause["examples"].as_array().unwrap().is_empty());
    }
}

/// Per cause (the id's prefix) and language, how many of its verbatims each group holds first.
fn groups_by_theme(lines: &[Value]) -> HashMap<(String, String), HashMap<i64, usize>> {
    let mut themes: HashMap<(String, String), HashMap<i64, usize>> = HashMap::new();
    for line in lines.iter().filter(|l| l["root_causes"].as_array().is_some_and(|c| !c.is_empty())) {
        let mut parts = line["id"].as_str().unwrap().split('-');
        let key = (parts.next().unwrap().to_string(), parts.next().unwrap().to_string());
        *themes.entry(key).or_default().entry(line["root_causes"][0]["id"].as_i64().unwrap()).or_default() += 1;
    }
    themes
}

#[test]
fn the_fast_tier_groups_causes_over_a_file_without_the_encoder() {
    let (guard, _) = data_dir();
    let (code, lines, summary) = run_root_causes(&guard.path().join("no-models"));
    check_shape(code, &lines, &summary);
    assert_eq!((summary["vectors"].as_str(), summary["model"].as_str()), (Some("hashed"), Some("fast")));
    // Hashed words do not cross languages; within one, a cause's verbatims mostly meet.
    for ((theme, language), groups) in groups_by_theme(&lines) {
        assert!(groups.values().max().unwrap() >= &3, "{theme} {language}: {groups:?}");
    }
}

#[test]
fn french_and_english_verbatims_stating_the_same_cause_share_a_named_root_cause() {
    let models = installed_models();
    let (code, lines, summary) = run_root_causes(&models);
    check_shape(code, &lines, &summary);
    assert_eq!((summary["vectors"].as_str(), summary["model"].as_str()), (Some("encoder"), Some("accurate")));
    let themes = groups_by_theme(&lines);
    for theme in ["late", "agent", "app"] {
        let (english, french) = (&themes[&(theme.into(), "en".into())], &themes[&(theme.into(), "fr".into())]);
        let main = english.iter().max_by_key(|(_, n)| **n).unwrap().0;
        assert!(english[main] >= 4 && french.get(main).copied().unwrap_or(0) >= 4, "{theme}: {english:?} {french:?}");
        let ranked = summary["root_causes"].as_array().unwrap().iter().find(|c| c["id"] == *main).unwrap();
        assert!(ranked["labels"]["fr"].is_string() && ranked["labels"]["en"].is_string(), "{ranked}");
    }
}

/// A file where nobody is unhappy, or where the only unhappy verbatim has no words once its
/// handles and links are set aside, states no root cause: every line answers an empty list.
#[test]
fn a_file_without_stated_causes_answers_empty_lists() {
    let (guard, data) = data_dir();
    let input = guard.path().join("in.jsonl");
    std::fs::write(
        &input,
        "{\"id\":\"a\",\"text\":\"Parfait, merci beaucoup !\",\"nps\":10}\n\
         {\"id\":\"b\",\"text\":\"@united https://t.co/x\",\"nps\":0}\n",
    )
    .unwrap();
    let summary = guard.path().join("summary.json");
    let no_models = guard.path().join("no-models");
    let args = ["--models", no_models.to_str().unwrap(), "root-causes", "--input", input.to_str().unwrap()];
    let (code, stdout, stderr) = cli(&data, &[&args[..], &["--summary", summary.to_str().unwrap()]].concat(), None);
    assert_eq!(code, 0, "{stderr}");
    let lines: Vec<Value> = stdout.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines.len(), 2);
    assert!(lines.iter().all(|l| l["root_causes"] == serde_json::json!([])), "{lines:?}");
    let summary: Value = serde_json::from_slice(&std::fs::read(&summary).unwrap()).unwrap();
    assert_eq!((summary["unhappy"].as_u64(), summary["root_causes"].as_array().map(Vec::len)), (Some(0), Some(0)));

    std::fs::write(&input, "").unwrap();
    let (code, stdout, stderr) = cli(&data, &args, None);
    assert_eq!((code, stdout.as_str()), (0, ""), "{stderr}");
}
