//! Readers for the emotion data sets, and the one definition of their splits, which
//! `train-emotions` and `eval-emotions` share.
//!
//! - GoEmotions (English Reddit comments, 27 emotions + neutral): its train file trains, less a
//!   fixed 10 % that tunes each emotion's threshold; its dev file is the evaluation set.
//! - EmoDIFT (French tweets about an industrial fire, intensities from 0 to 1 averaged over
//!   three annotators): 20 % held out by a seeded shuffle for evaluation, 10 % tunes, the rest
//!   trains. Five of its emotions are GoEmotions': Colere → anger, Degout → disgust, Peur →
//!   fear, Tristesse → sadness, Surprise → surprise, present from an intensity of 0.5 (the
//!   issue's reading of anger). Mefiance (distrust) and Ironie have no GoEmotions twin: they
//!   are left out, not forced onto a neighbour.

use std::path::Path;

use anyhow::Context;
use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::Deserialize;

use super::corpora::{column_of, SPLIT_SEED};
use crate::domain::Emotion;
use crate::nlp::sentiment::SentimentModel;

/// An EmoDIFT intensity from which the emotion counts as present.
pub const EMODIFT_PRESENT: f32 = 0.5;

/// A text and the emotions people found in it (0 or 1 per emotion, [`Emotion::ALL`] order).
#[derive(Debug, Clone)]
pub struct EmotionExample {
    pub text: String,
    pub present: Vec<f32>,
    /// GoEmotions' grouping into Ekman's six emotions and neutral, where the file gives it.
    pub ekman: Vec<String>,
}

/// The training, tuning and evaluation parts of one data set.
#[derive(Debug, Clone, Default)]
pub struct EmotionSplit {
    pub train: Vec<EmotionExample>,
    pub tune: Vec<EmotionExample>,
    pub eval: Vec<EmotionExample>,
}

#[derive(Deserialize)]
struct GoEmotionsRow {
    text: String,
    labels: String,
    ekman: String,
}

fn goemotions_file(path: &Path) -> anyhow::Result<Vec<EmotionExample>> {
    let mut reader = csv::Reader::from_path(path).with_context(|| format!("reading {}", path.display()))?;
    reader
        .deserialize::<GoEmotionsRow>()
        .map(|row| {
            let row = row.with_context(|| format!("reading {}", path.display()))?;
            let mut present = vec![0.0; Emotion::ALL.len()];
            for label in row.labels.split(';').filter(|l| *l != "neutral") {
                let emotion = Emotion::parse(label).with_context(|| format!("unknown GoEmotions label {label:?}"))?;
                present[emotion.index()] = 1.0;
            }
            Ok(EmotionExample { text: row.text, present, ekman: row.ekman.split(';').map(str::to_string).collect() })
        })
        .collect()
}

/// Takes `share` of `items` (after a seeded shuffle) off the front.
fn take_share<T>(items: &mut Vec<T>, share: f32) -> Vec<T> {
    let n = (items.len() as f32 * share).round() as usize;
    items.drain(..n).collect()
}

pub fn goemotions(data_dir: &Path) -> anyhow::Result<EmotionSplit> {
    let folder = data_dir.join("emotion");
    let mut train = goemotions_file(&folder.join("en_goemotions_train.csv"))?;
    train.shuffle(&mut ChaCha8Rng::seed_from_u64(SPLIT_SEED));
    let tune = take_share(&mut train, 0.1);
    Ok(EmotionSplit { train, tune, eval: goemotions_file(&folder.join("en_goemotions_dev.csv"))? })
}

/// EmoDIFT's emotions that GoEmotions names too.
const EMODIFT_EMOTIONS: [(&str, Emotion); 5] = [
    ("Colere", Emotion::Anger),
    ("Degout", Emotion::Disgust),
    ("Peur", Emotion::Fear),
    ("Tristesse", Emotion::Sadness),
    ("Surprise", Emotion::Surprise),
];

pub fn emodift(data_dir: &Path) -> anyhow::Result<EmotionSplit> {
    let path = data_dir.join("emotion/fr_emodift_train.csv");
    let mut reader = csv::Reader::from_path(&path).with_context(|| format!("reading {}", path.display()))?;
    let headers = reader.headers()?.clone();
    let column = |name: &str| column_of(&headers, name, &path);
    let text_column = column("tweet")?;
    let columns: Vec<(usize, Emotion)> =
        EMODIFT_EMOTIONS.iter().map(|(name, emotion)| Ok((column(name)?, *emotion))).collect::<anyhow::Result<_>>()?;
    let mut items = Vec::new();
    for record in reader.records() {
        let record = record.with_context(|| format!("reading {}", path.display()))?;
        let mut present = vec![0.0; Emotion::ALL.len()];
        for &(i, emotion) in &columns {
            let intensity: f32 = record[i].parse().with_context(|| format!("intensity {:?}", &record[i]))?;
            present[emotion.index()] = (intensity >= EMODIFT_PRESENT) as u8 as f32;
        }
        items.push(EmotionExample { text: record[text_column].to_string(), present, ekman: Vec::new() });
    }
    items.shuffle(&mut ChaCha8Rng::seed_from_u64(SPLIT_SEED));
    let eval = take_share(&mut items, 0.2);
    let tune = take_share(&mut items, 0.125);
    Ok(EmotionSplit { train: items, tune, eval })
}

/// GoEmotions' grouping of its emotions into Ekman's six (its `ekman_mapping.json`).
pub fn ekman(emotion: Emotion) -> &'static str {
    use Emotion::*;
    match emotion {
        Anger | Annoyance | Disapproval => "anger",
        Disgust => "disgust",
        Fear | Nervousness => "fear",
        Sadness | Disappointment | Embarrassment | Grief | Remorse => "sadness",
        Surprise | Realization | Confusion | Curiosity => "surprise",
        Joy | Amusement | Approval | Excitement | Gratitude | Love | Optimism | Relief | Pride | Admiration
        | Desire | Caring => "joy",
    }
}

/// Ekman's six emotions and neutral, the classes of GoEmotions' grouped evaluation.
pub const EKMAN: [&str; 7] = ["anger", "disgust", "fear", "joy", "sadness", "surprise", "neutral"];

/// F1 of a detector that found `predicted` where `gold` holds (one flag per text); 0 when it
/// found nothing right.
pub fn f1(predicted: impl IntoIterator<Item = bool>, gold: impl IntoIterator<Item = bool>) -> f32 {
    let (mut tp, mut fp, mut missed) = (0usize, 0usize, 0usize);
    for (p, g) in predicted.into_iter().zip(gold) {
        match (p, g) {
            (true, true) => tp += 1,
            (true, false) => fp += 1,
            (false, true) => missed += 1,
            (false, false) => {}
        }
    }
    if tp == 0 {
        return 0.0;
    }
    2.0 * tp as f32 / (2 * tp + fp + missed) as f32
}

/// F1 of emotion `e` found from a score of `threshold` in `scores`, against `gold` (rows ×
/// emotions, present from 0.5).
pub fn f1_at(scores: &[Vec<f32>], gold: &[Vec<f32>], e: usize, threshold: f32) -> f32 {
    f1(scores.iter().map(|s| s[e] >= threshold), gold.iter().map(|g| g[e] >= 0.5))
}

/// Per emotion, the threshold on `scores` that gives the best F1 against `gold` (both rows ×
/// emotions); emotions the tuning rows never show keep 0.5.
pub fn tuned_thresholds(scores: &[Vec<f32>], gold: &[Vec<f32>]) -> Vec<f32> {
    (0..Emotion::ALL.len())
        .map(|e| {
            if !gold.iter().any(|g| g[e] >= 0.5) {
                return 0.5;
            }
            let candidates = (1..=19).map(|i| i as f32 * 0.05);
            let f1 = |t: f32| f1_at(scores, gold, e, t);
            candidates.max_by(|a, b| f1(*a).total_cmp(&f1(*b))).expect("candidates")
        })
        .collect()
}

/// Where [`embeddings`] caches the embeddings of `texts` by the accurate sentiment model of
/// `version`: named by the texts themselves, so changed data never reads another's cache.
pub fn embeddings_cache(version: &str, name: &str, texts: &[&str]) -> std::path::PathBuf {
    let digest = crate::models::version_of(&texts.iter().flat_map(|t| [t.as_bytes(), b"\n"]).collect::<Vec<_>>());
    std::path::PathBuf::from(format!("target/tmp/emotion-embeddings/{version}/{name}-{}-{digest}.f32", texts.len()))
}

/// The accurate tier's embeddings of `texts`, read from `cache` when an earlier run saved
/// them (encoding GoEmotions takes minutes on two cores), else computed and saved there.
pub fn embeddings(model: &dyn SentimentModel, texts: &[&str], cache: &Path) -> anyhow::Result<Vec<Vec<f32>>> {
    if let Ok(bytes) = std::fs::read(cache) {
        let floats: Vec<f32> =
            bytes.chunks_exact(4).map(|c| f32::from_le_bytes(c.try_into().expect("4 bytes"))).collect();
        if !texts.is_empty() && floats.len().is_multiple_of(texts.len()) {
            let dimension = floats.len() / texts.len();
            return Ok(floats.chunks(dimension).map(<[f32]>::to_vec).collect());
        }
        anyhow::bail!("{} does not hold {} embeddings: delete it", cache.display(), texts.len());
    }
    let mut out = Vec::with_capacity(texts.len());
    for chunk in texts.chunks(256) {
        for encoding in model.encode(chunk)? {
            out.push(encoding.embedded()?.0.to_vec());
        }
    }
    if let Some(folder) = cache.parent() {
        std::fs::create_dir_all(folder).with_context(|| format!("creating {}", folder.display()))?;
    }
    let bytes: Vec<u8> = out.iter().flatten().flat_map(|f| f.to_le_bytes()).collect();
    std::fs::write(cache, bytes).with_context(|| format!("writing {}", cache.display()))?;
    Ok(out)
}
