//! What sentiment analysis says, and the tiers that say it.

use serde::{Deserialize, Serialize};

/// The sentiment models on offer: `fast` (the project's n-gram model, built in, tens of
/// thousands of texts a second) and `accurate` (a fine-tuned transformer encoder, installed
/// separately, tens of texts a second on two cores).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Tier {
    #[default]
    Fast,
    Accurate,
}

impl Tier {
    pub const ALL: [Tier; 2] = [Tier::Fast, Tier::Accurate];

    pub fn as_str(self) -> &'static str {
        match self {
            Tier::Fast => "fast",
            Tier::Accurate => "accurate",
        }
    }

    pub fn parse(name: &str) -> Option<Tier> {
        Tier::ALL.into_iter().find(|t| t.as_str() == name)
    }
}

impl std::fmt::Display for Tier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The model behind a stored analysis: its tier and the version of its weights (a short
/// hash of them), so a partial reprocess shows which verbatims a new model has reached.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ModelVersion {
    pub tier: Tier,
    pub version: String,
}

impl ModelVersion {
    /// How an owed analysis by this model is named in [`crate::domain::Verbatim::due`].
    pub fn due_name(&self) -> String {
        format!("sentiment:{}", self.tier)
    }
}

/// A sentiment label: the three classes models emit probabilities for, in that order, and
/// `mixed`, which no model emits: a document with a clearly positive part and a clearly
/// negative one (see `crate::pipeline::MixedStage`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SentimentLabel {
    Negative,
    Neutral,
    Positive,
    Mixed,
}

impl SentimentLabel {
    /// The models' classes, in the order of their probabilities.
    pub const ALL: [SentimentLabel; 3] = [SentimentLabel::Negative, SentimentLabel::Neutral, SentimentLabel::Positive];
    /// Every label a document may carry, as search filters and facets name them.
    pub const DOCUMENT: [SentimentLabel; 4] =
        [SentimentLabel::Negative, SentimentLabel::Neutral, SentimentLabel::Positive, SentimentLabel::Mixed];

    pub fn as_str(self) -> &'static str {
        match self {
            SentimentLabel::Negative => "negative",
            SentimentLabel::Neutral => "neutral",
            SentimentLabel::Positive => "positive",
            SentimentLabel::Mixed => "mixed",
        }
    }

    pub fn parse(name: &str) -> Option<SentimentLabel> {
        SentimentLabel::DOCUMENT.into_iter().find(|l| l.as_str() == name)
    }

    /// Its class among [`SentimentLabel::ALL`]: `mixed` counts as neutral, as three-class
    /// evaluations count it.
    pub fn index(self) -> usize {
        match self {
            SentimentLabel::Mixed => SentimentLabel::Neutral as usize,
            class => class as usize,
        }
    }
}

/// Per-class probabilities; they sum to 1.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Confidence {
    pub negative: f32,
    pub neutral: f32,
    pub positive: f32,
}

/// A sentiment judgement: the likeliest class, a signed score, and every class's probability.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Sentiment {
    pub label: SentimentLabel,
    /// `positive - negative`, in [-1, 1]: sortable and averageable across verbatims.
    pub score: f32,
    pub confidence: Confidence,
}

impl Sentiment {
    /// From probabilities in [`SentimentLabel::ALL`] order.
    pub fn from_probabilities(p: [f32; 3]) -> Sentiment {
        let best = (0..3).fold(0, |best, i| if p[i] > p[best] { i } else { best });
        Sentiment {
            label: SentimentLabel::ALL[best],
            score: (p[2] - p[0]).clamp(-1.0, 1.0),
            confidence: Confidence { negative: p[0], neutral: p[1], positive: p[2] },
        }
    }
}
