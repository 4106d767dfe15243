//! What emotion analysis says: the emotions a text expresses, named as GoEmotions names them
//! (Demszky et al., 2020), so each label's meaning is documented outside this project.

use serde::{Deserialize, Serialize};

/// What filters, facets and counts call a text that expresses no emotion (GoEmotions' word).
pub const NO_EMOTION: &str = "neutral";

/// One of GoEmotions' 27 emotions. Its `neutral` is not among them: a text expressing none of
/// these (an empty list) is neutral.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Emotion {
    Admiration,
    Amusement,
    Anger,
    Annoyance,
    Approval,
    Caring,
    Confusion,
    Curiosity,
    Desire,
    Disappointment,
    Disapproval,
    Disgust,
    Embarrassment,
    Excitement,
    Fear,
    Gratitude,
    Grief,
    Joy,
    Love,
    Nervousness,
    Optimism,
    Pride,
    Realization,
    Relief,
    Remorse,
    Sadness,
    Surprise,
}

impl Emotion {
    /// In GoEmotions' order: the order of the models' outputs.
    pub const ALL: [Emotion; 27] = [
        Emotion::Admiration,
        Emotion::Amusement,
        Emotion::Anger,
        Emotion::Annoyance,
        Emotion::Approval,
        Emotion::Caring,
        Emotion::Confusion,
        Emotion::Curiosity,
        Emotion::Desire,
        Emotion::Disappointment,
        Emotion::Disapproval,
        Emotion::Disgust,
        Emotion::Embarrassment,
        Emotion::Excitement,
        Emotion::Fear,
        Emotion::Gratitude,
        Emotion::Grief,
        Emotion::Joy,
        Emotion::Love,
        Emotion::Nervousness,
        Emotion::Optimism,
        Emotion::Pride,
        Emotion::Realization,
        Emotion::Relief,
        Emotion::Remorse,
        Emotion::Sadness,
        Emotion::Surprise,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Emotion::Admiration => "admiration",
            Emotion::Amusement => "amusement",
            Emotion::Anger => "anger",
            Emotion::Annoyance => "annoyance",
            Emotion::Approval => "approval",
            Emotion::Caring => "caring",
            Emotion::Confusion => "confusion",
            Emotion::Curiosity => "curiosity",
            Emotion::Desire => "desire",
            Emotion::Disappointment => "disappointment",
            Emotion::Disapproval => "disapproval",
            Emotion::Disgust => "disgust",
            Emotion::Embarrassment => "embarrassment",
            Emotion::Excitement => "excitement",
            Emotion::Fear => "fear",
            Emotion::Gratitude => "gratitude",
            Emotion::Grief => "grief",
            Emotion::Joy => "joy",
            Emotion::Love => "love",
            Emotion::Nervousness => "nervousness",
            Emotion::Optimism => "optimism",
            Emotion::Pride => "pride",
            Emotion::Realization => "realization",
            Emotion::Relief => "relief",
            Emotion::Remorse => "remorse",
            Emotion::Sadness => "sadness",
            Emotion::Surprise => "surprise",
        }
    }

    pub fn parse(name: &str) -> Option<Emotion> {
        Emotion::ALL.into_iter().find(|e| e.as_str() == name)
    }

    pub fn index(self) -> usize {
        self as usize
    }
}

/// An emotion a text expresses, and how likely the model finds it (present from
/// [`EmotionScore::PRESENT`] up: see [`EmotionScore::present`]).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct EmotionScore {
    pub label: Emotion,
    pub score: f32,
}

impl EmotionScore {
    /// The score from which an emotion counts as present. Each model is trained so that its
    /// threshold for each emotion, tuned on held-out data, falls here (training/README.md).
    pub const PRESENT: f32 = 0.5;

    /// The emotions present among a model's scores (in [`Emotion::ALL`] order), strongest first.
    pub fn present(scores: &[f32]) -> Vec<EmotionScore> {
        let mut found: Vec<EmotionScore> = Emotion::ALL
            .into_iter()
            .zip(scores)
            .filter(|(_, &score)| score >= EmotionScore::PRESENT)
            .map(|(label, &score)| EmotionScore { label, score })
            .collect();
        found.sort_by(|a, b| b.score.total_cmp(&a.score).then(a.label.cmp(&b.label)));
        found
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_follow_goemotions_order() {
        for (i, emotion) in Emotion::ALL.into_iter().enumerate() {
            assert_eq!(emotion.index(), i);
            assert_eq!(Emotion::parse(emotion.as_str()), Some(emotion));
            assert_eq!(serde_json::to_value(emotion).unwrap(), emotion.as_str());
        }
        assert_eq!(Emotion::parse("neutral"), None);
    }

    #[test]
    fn present_keeps_scores_from_the_threshold_strongest_first() {
        let mut scores = [0.1; 27];
        scores[Emotion::Anger.index()] = 0.7;
        scores[Emotion::Annoyance.index()] = 0.9;
        scores[Emotion::Joy.index()] = 0.5;
        let found: Vec<Emotion> = EmotionScore::present(&scores).into_iter().map(|e| e.label).collect();
        assert_eq!(found, [Emotion::Annoyance, Emotion::Anger, Emotion::Joy]);
        assert!(EmotionScore::present(&[0.2; 27]).is_empty());
    }
}
