//! The topic stage: each text's topic under the model in use, found from its words (hashed
//! TF-IDF, microseconds a text), so ingestion never waits for the encoder. For a model found
//! with the encoder this is a first assignment, which the `assign_topics` job refines.

use std::sync::Arc;

use super::{Annotated, Placement, Stage};
use crate::topics::TopicAssigner;

pub struct TopicStage {
    assigner: Arc<TopicAssigner>,
}

impl TopicStage {
    pub fn new(assigner: Arc<TopicAssigner>) -> TopicStage {
        TopicStage { assigner }
    }
}

impl Stage for TopicStage {
    fn name(&self) -> &'static str {
        "topics"
    }

    fn placement(&self) -> Placement {
        Placement::Inline
    }

    fn run(&self, batch: &mut [Annotated<'_>]) -> anyhow::Result<()> {
        let topics = {
            let texts: Vec<(&str, Option<&str>)> =
                batch.iter().map(|item| (item.text, item.language.as_deref())).collect();
            self.assigner.assign_words(&texts)
        };
        for (item, topic) in batch.iter_mut().zip(topics) {
            item.topic = Some(topic);
        }
        Ok(())
    }
}
