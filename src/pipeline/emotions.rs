//! The emotion stage, for either tier: the emotions each document expresses. It reads the
//! encodings the sentiment stage made (the fast tier's features, the accurate tier's
//! embeddings), so it must run after it, with the same tier; its placement follows that tier.

use anyhow::Context;

use super::{Annotated, Placement, Stage};
use crate::nlp::emotions::EmotionModel;

pub struct EmotionStage<'m> {
    model: &'m dyn EmotionModel,
}

impl<'m> EmotionStage<'m> {
    pub fn new(model: &'m dyn EmotionModel) -> EmotionStage<'m> {
        EmotionStage { model }
    }
}

impl Stage for EmotionStage<'_> {
    fn name(&self) -> &'static str {
        "emotions"
    }

    fn placement(&self) -> Placement {
        Placement::of_tier(self.model.tier())
    }

    fn run(&self, batch: &mut [Annotated<'_>]) -> anyhow::Result<()> {
        let encodings = batch
            .iter()
            .map(|item| item.encoding.as_ref())
            .collect::<Option<Vec<_>>>()
            .context("emotions read the encodings of the sentiment stage, which must run first")?;
        let found = self.model.emotions(&encodings)?;
        for (item, emotions) in batch.iter_mut().zip(found) {
            item.emotions = Some(emotions);
        }
        Ok(())
    }
}
