//! The sentiment stage, for either tier: the document's sentiment, and on request each
//! sentence's. It keeps each document's encoding for the tier's emotion model. Its placement
//! follows the tier: the `fast` model keeps up with ingestion, the `accurate` encoder does not.

use super::{Annotated, Placement, Stage};
use crate::domain::Sentiment;
use crate::nlp::sentiment::{analyze_batch, SentimentModel};

pub struct SentimentStage<'m> {
    model: &'m dyn SentimentModel,
    sentences: bool,
}

impl<'m> SentimentStage<'m> {
    /// The whole text's sentiment only (what ingestion stores).
    pub fn documents(model: &'m dyn SentimentModel) -> SentimentStage<'m> {
        SentimentStage { model, sentences: false }
    }

    /// The whole text's sentiment and each sentence's (what `/v1/analyze` answers).
    pub fn with_sentences(model: &'m dyn SentimentModel) -> SentimentStage<'m> {
        SentimentStage { model, sentences: true }
    }
}

impl Stage for SentimentStage<'_> {
    fn name(&self) -> &'static str {
        "sentiment"
    }

    fn placement(&self) -> Placement {
        Placement::of_tier(self.model.tier())
    }

    fn run(&self, batch: &mut [Annotated<'_>]) -> anyhow::Result<()> {
        let texts: Vec<&str> = batch.iter().map(|item| item.text).collect();
        let version = self.model.model_version();
        for item in batch.iter_mut() {
            item.sentiment_model = Some(version.clone());
        }
        if self.sentences {
            for (item, result) in batch.iter_mut().zip(analyze_batch(self.model, &texts)?) {
                item.sentiment = Some(result.sentiment);
                item.sentences = Some(result.sentences);
                item.encoding = Some(result.encoding);
            }
        } else {
            let encodings = self.model.encode(&texts)?;
            let probabilities = self.model.predict_encoded(&encodings.iter().collect::<Vec<_>>())?;
            for ((item, p), encoding) in batch.iter_mut().zip(probabilities).zip(encodings) {
                item.sentiment = Some(Sentiment::from_probabilities(p));
                item.encoding = Some(encoding);
            }
        }
        Ok(())
    }
}
