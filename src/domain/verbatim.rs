//! A verbatim and a document to analyse, with the limits and survey scales they obey.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::{
    rfc3339, Channel, EmotionScore, JudgedAspect, ModelVersion, NpsGroup, RootCauseAssignment, Sentiment,
    SentimentLabel, Tier, TopicAssignment,
};

/// Longest accepted text, in Unicode code points (characters as a person counts them).
pub const MAX_TEXT_CHARS: usize = 50_000;
/// Longest client id or customer id, in bytes.
pub const MAX_ID_BYTES: usize = 256;
/// Metadata bounds: enough for store, product, segment and the like, not a document store.
pub const MAX_METADATA_ENTRIES: usize = 64;
pub const MAX_METADATA_KEY_BYTES: usize = 64;
pub const MAX_METADATA_VALUE_BYTES: usize = 1024;

/// One piece of customer feedback, validated (`crate::input` builds it from JSON). The
/// client's `id` is the key: sending the same id again replaces the verbatim.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Verbatim {
    pub id: String,
    pub text: String,
    /// Lower-case ISO 639 code (`fr`, `en`, …) when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub language: Option<String>,
    pub channel: Channel,
    #[serde(with = "rfc3339")]
    pub created_at: DateTime<Utc>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub customer_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub nps: Option<u8>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub csat: Option<u8>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ces: Option<u8>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub metadata: BTreeMap<String, String>,
    /// Document sentiment: the `fast` tier's, computed at ingestion, or the tier's a reprocess
    /// ran since (never taken from input).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sentiment: Option<Sentiment>,
    /// The model that produced `sentiment` (absent for rows analysed before versions were kept).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sentiment_model: Option<ModelVersion>,
    /// The emotions it expresses, strongest first (empty: neutral), by the tier of `sentiment`
    /// (absent for rows analysed before emotions were, until a reprocess reaches them).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub emotions: Option<Vec<EmotionScore>>,
    /// Deferred analyses owed since the text changed (`sentiment:accurate`): a reprocess with
    /// that model runs them again.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub due: Vec<String>,
    /// Its topic under the current topic model (absent before the first discovery).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub topic: Option<TopicAssignment>,
    /// The things it judges, with their polarity (the `fast` tier's, at ingestion), in text order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub aspects: Vec<JudgedAspect>,
    /// The root causes it states under the current root-cause model (absent before the first
    /// discovery of root causes).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub root_causes: Option<RootCauseAssignment>,
}

impl Verbatim {
    /// Applies the rule for a verbatim sent again under a stored id (`self` is what the inline
    /// stages just produced, `previous` what the store holds): with the same text and language,
    /// every stored analysis stays, whichever tier made it; with a new text, the inline stages'
    /// results stand and each deferred analysis the previous text had becomes due.
    pub fn keep_analyses_of(&mut self, previous: &Verbatim) {
        if previous.text == self.text && previous.language == self.language {
            if previous.sentiment.is_some() {
                self.sentiment = previous.sentiment;
                self.sentiment_model = previous.sentiment_model.clone();
                // Rows stored before emotions existed have none: they take the fast tier's, just
                // computed, when their sentiment is the fast tier's too.
                let same_tier = previous.sentiment_model.as_ref().is_none_or(|m| m.tier == Tier::Fast);
                if previous.emotions.is_some() || !same_tier {
                    self.emotions = previous.emotions.clone();
                }
            }
            // The stored topic may be the encoder's, better than the words' just given.
            if previous.topic.is_some_and(|stored| self.topic.is_none_or(|new| new.model == stored.model)) {
                self.topic = previous.topic;
            }
            self.due = previous.due.clone();
            return;
        }
        self.due = previous.due.clone();
        if let Some(model) = previous.sentiment_model.as_ref().filter(|m| m.tier != Tier::Fast) {
            let owed = model.due_name();
            if !self.due.contains(&owed) {
                self.due.push(owed);
            }
        }
    }

    /// Records a new sentiment and emotions from the tier of `model`, which settles what was
    /// owed to it.
    pub fn set_sentiment(&mut self, sentiment: Sentiment, emotions: Vec<EmotionScore>, model: ModelVersion) {
        let settled = model.due_name();
        self.due.retain(|owed| *owed != settled);
        self.sentiment = Some(sentiment);
        self.emotions = Some(emotions);
        self.sentiment_model = Some(model);
    }

    /// Labels its sentiment `mixed` when its stored aspects hold a positive and a negative one
    /// (what a job that judges only the document must not lose; see `crate::pipeline::MixedStage`).
    pub fn mark_mixed_by_aspects(&mut self) {
        let has = |polarity| self.aspects.iter().any(|a| a.polarity == polarity);
        if has(SentimentLabel::Positive) && has(SentimentLabel::Negative) {
            if let Some(sentiment) = self.sentiment.as_mut() {
                sentiment.label = SentimentLabel::Mixed;
            }
        }
    }

    pub fn nps_group(&self) -> Option<NpsGroup> {
        self.nps.map(NpsGroup::of)
    }

    /// Whether its survey scores say the customer is unhappy: a detractor, or CSAT 1–2 of 5
    /// (the NPS score first when both are there); `None` without either, or for a passive.
    pub fn unhappy_by_score(&self) -> Option<bool> {
        match (self.nps_group(), self.csat) {
            (Some(NpsGroup::Detractor), _) => Some(true),
            (Some(NpsGroup::Promoter), _) => Some(false),
            (Some(NpsGroup::Passive), _) => None,
            (None, Some(csat)) => Some(csat <= 2),
            (None, None) => None,
        }
    }
}

/// The language of a text neither French nor English (or of unknown language): one word for
/// detection, storage, the index and its facets.
pub const OTHER_LANGUAGE: &str = "other";

/// A text to analyse without storing it (`POST /v1/analyze`, `verbatim analyze`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Document {
    pub id: String,
    pub text: String,
    /// Lower-case ISO 639 code when the client gave one.
    pub language: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_verbatim_whose_aspects_disagree_stays_mixed_whatever_its_document_judgement() {
        let aspect = |polarity| JudgedAspect { offset: 0, length: 1, polarity };
        let mut verbatim = Verbatim::from_json(&serde_json::json!({"id": "a", "text": "x"}), Utc::now()).unwrap();
        verbatim.sentiment = Some(Sentiment::from_probabilities([0.1, 0.2, 0.7]));
        verbatim.aspects = vec![aspect(SentimentLabel::Positive), aspect(SentimentLabel::Neutral)];
        verbatim.mark_mixed_by_aspects();
        assert_eq!(verbatim.sentiment.unwrap().label, SentimentLabel::Positive);
        verbatim.aspects.push(aspect(SentimentLabel::Negative));
        verbatim.mark_mixed_by_aspects();
        assert_eq!(verbatim.sentiment.unwrap().label, SentimentLabel::Mixed);
    }

    /// A verbatim sent again with the same text keeps its stored emotions with its sentiment;
    /// one stored before emotions existed takes those just found, unless its sentiment is of
    /// another tier than the ones just found.
    #[test]
    fn the_same_text_sent_again_keeps_or_gains_its_emotions() {
        let fresh = |emotions: Option<Vec<EmotionScore>>, tier: Tier| {
            let mut v = Verbatim::from_json(&serde_json::json!({"id": "a", "text": "x"}), Utc::now()).unwrap();
            v.set_sentiment(
                Sentiment::from_probabilities([0.1, 0.2, 0.7]),
                Vec::new(),
                ModelVersion { tier, version: "v".into() },
            );
            v.emotions = emotions;
            v
        };
        let joy = vec![EmotionScore { label: crate::domain::Emotion::Joy, score: 0.9 }];
        let anger = vec![EmotionScore { label: crate::domain::Emotion::Anger, score: 0.8 }];
        for (stored, stored_tier, expected) in [
            (Some(anger.clone()), Tier::Accurate, Some(anger.clone())),
            (None, Tier::Fast, Some(joy.clone())),
            (None, Tier::Accurate, None),
        ] {
            let mut sent = fresh(Some(joy.clone()), Tier::Fast);
            sent.keep_analyses_of(&fresh(stored.clone(), stored_tier));
            assert_eq!(sent.emotions, expected, "stored {stored:?} by {stored_tier}");
        }
    }
}
