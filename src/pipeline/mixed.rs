//! The mixed stage: a document with a clearly positive part and a clearly negative one is
//! `mixed` ("Great product but delivery was a disaster"), as Azure's sentiment says; its score
//! stays the balance, and the sentence and aspect sentiments show which part is which.
//!
//! A part is a sentence (of a document of two or more) whose likeliest class is positive or
//! negative with at least [`CLEAR`] probability, or an aspect judged positive or negative. It
//! runs after the sentiment and aspect stages and reads whatever they found, so its placement
//! follows the tier they ran with.

use super::{Annotated, Placement, Stage};
use crate::domain::{SentimentLabel, Tier};

/// How likely a sentence's class must be for the sentence to count as clearly that.
pub const CLEAR: f32 = 0.6;

pub struct MixedStage {
    tier: Tier,
}

impl MixedStage {
    pub fn new(tier: Tier) -> MixedStage {
        MixedStage { tier }
    }
}

/// Whether a document's parts (its sentences' judgements and its aspects' polarities) hold a
/// clearly positive part and a clearly negative one.
fn holds_both(item: &Annotated<'_>) -> bool {
    let mut polar = Vec::new();
    if let Some(sentences) = item.sentences.as_ref().filter(|s| s.len() >= 2) {
        for sentence in sentences {
            let p = sentence.sentiment.confidence;
            if p.positive >= CLEAR {
                polar.push(SentimentLabel::Positive);
            } else if p.negative >= CLEAR {
                polar.push(SentimentLabel::Negative);
            }
        }
    }
    polar.extend(item.aspects.iter().flatten().map(|a| a.polarity));
    polar.contains(&SentimentLabel::Positive) && polar.contains(&SentimentLabel::Negative)
}

impl Stage for MixedStage {
    fn name(&self) -> &'static str {
        "mixed"
    }

    fn placement(&self) -> Placement {
        Placement::of_tier(self.tier)
    }

    fn run(&self, batch: &mut [Annotated<'_>]) -> anyhow::Result<()> {
        for item in batch.iter_mut() {
            let mixed = holds_both(item);
            if let Some(sentiment) = item.sentiment.as_mut().filter(|_| mixed) {
                sentiment.label = SentimentLabel::Mixed;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Sentiment;
    use crate::nlp::sentiment::SentenceSentiment;

    fn sentence(p: [f32; 3]) -> SentenceSentiment {
        SentenceSentiment { text: String::new(), offset: 0, length: 0, sentiment: Sentiment::from_probabilities(p) }
    }

    fn labelled(sentences: Vec<SentenceSentiment>) -> SentimentLabel {
        let mut item = Annotated::new("", None);
        item.sentiment = Some(Sentiment::from_probabilities([0.2, 0.3, 0.5]));
        item.sentences = Some(sentences);
        let mut batch = [item];
        MixedStage::new(Tier::Fast).run(&mut batch).unwrap();
        batch[0].sentiment.unwrap().label
    }

    #[test]
    fn clear_praise_and_clear_blame_make_a_document_mixed() {
        let (praise, blame, hedge) = ([0.1, 0.1, 0.8], [0.7, 0.2, 0.1], [0.45, 0.1, 0.45]);
        assert_eq!(labelled(vec![sentence(praise), sentence(blame)]), SentimentLabel::Mixed);
        assert_eq!(labelled(vec![sentence(praise), sentence(hedge)]), SentimentLabel::Positive);
        assert_eq!(labelled(vec![sentence(praise), sentence(praise)]), SentimentLabel::Positive);
        // One sentence alone is the document's own judgement, not a part of it.
        assert_eq!(labelled(vec![sentence(blame)]), SentimentLabel::Positive);
    }
}
