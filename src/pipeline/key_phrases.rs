//! The key phrase stage: each text's few phrases that say what it is about. Cheap (no model),
//! so inline; run by on-demand analysis, whose answers carry them.

use rayon::prelude::*;

use super::{Annotated, Placement, Stage};
use crate::nlp::key_phrases::key_phrases;

pub struct KeyPhraseStage;

impl Stage for KeyPhraseStage {
    fn name(&self) -> &'static str {
        "key_phrases"
    }

    fn placement(&self) -> Placement {
        Placement::Inline
    }

    fn run(&self, batch: &mut [Annotated<'_>]) -> anyhow::Result<()> {
        batch.par_iter_mut().for_each(|item| item.key_phrases = Some(key_phrases(item.text)));
        Ok(())
    }
}
