//! The root-cause stage: the root causes each text states under the model in use, its
//! mentions matched to the saved groups by their words (see [`crate::root_causes::saved`]).
//! Mentions are read with the stage's sentiment tier, so its placement follows the tier.

use std::sync::Arc;

use super::{Annotated, Placement, Stage};
use crate::domain::OTHER_LANGUAGE;
use crate::root_causes::saved::RootCauseModel;
use crate::root_causes::{MentionSource, Readers};

pub struct RootCauseStage<'m> {
    model: Arc<RootCauseModel>,
    readers: Readers<'m>,
}

impl<'m> RootCauseStage<'m> {
    pub fn new(model: Arc<RootCauseModel>, readers: Readers<'m>) -> Self {
        RootCauseStage { model, readers }
    }
}

impl Stage for RootCauseStage<'_> {
    fn name(&self) -> &'static str {
        "root_causes"
    }

    fn placement(&self) -> Placement {
        Placement::of_tier(self.readers.model.tier())
    }

    fn run(&self, batch: &mut [Annotated<'_>]) -> anyhow::Result<()> {
        let found = {
            let sources: Vec<MentionSource<'_>> = batch
                .iter()
                .map(|item| MentionSource {
                    text: item.text,
                    language: item.language.as_deref().unwrap_or(OTHER_LANGUAGE),
                    scored_unhappy: item.scored_unhappy,
                })
                .collect();
            self.model.assign(self.readers, &sources)?
        };
        for (item, assignment) in batch.iter_mut().zip(found) {
            item.root_causes = Some(assignment);
        }
        Ok(())
    }
}
