//! The labeled topic sets in `<data>/topics`: texts with the class a person gave them, to score
//! unsupervised topic discovery against (NMI), never to train it.

use std::path::Path;

use anyhow::Context;
use serde::Deserialize;

/// One text and its gold class.
#[derive(Debug, Clone)]
pub struct TopicExample {
    pub text: String,
    pub class: String,
}

/// BANKING77 (`banking77_train.csv`): short customer-support queries, 77 intents.
pub fn banking77(data_dir: &Path) -> anyhow::Result<Vec<TopicExample>> {
    let path = data_dir.join("topics/banking77_train.csv");
    let mut reader = csv::Reader::from_path(&path).with_context(|| format!("opening {}", path.display()))?;
    #[derive(Deserialize)]
    struct Row {
        text: String,
        category: String,
    }
    reader
        .deserialize::<Row>()
        .map(|row| {
            let row = row.with_context(|| format!("reading {}", path.display()))?;
            Ok(TopicExample { text: row.text, class: row.category })
        })
        .collect()
}

/// 20 Newsgroups train (`20ng_train.jsonl`), each post without its mail headers (the block
/// before the first blank line): the groups' names are in them.
pub fn newsgroups(data_dir: &Path) -> anyhow::Result<Vec<TopicExample>> {
    let path = data_dir.join("topics/20ng_train.jsonl");
    let text = std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    #[derive(Deserialize)]
    struct Line {
        label: String,
        text: String,
    }
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .enumerate()
        .map(|(i, line)| {
            let line: Line =
                serde_json::from_str(line).with_context(|| format!("{} line {}", path.display(), i + 1))?;
            let body = line.text.split_once("\n\n").map_or(line.text.as_str(), |(_, body)| body);
            Ok(TopicExample { text: body.trim().to_string(), class: line.label })
        })
        .collect()
}
