//! The language stage: detects the language of texts the client did not label. It runs first,
//! because the language picks the stemmer and, later, language-specific models.

use rayon::prelude::*;

use super::{Annotated, Placement, Stage};
use crate::nlp::language;

pub struct LanguageStage;

impl Stage for LanguageStage {
    fn name(&self) -> &'static str {
        "language"
    }

    fn placement(&self) -> Placement {
        Placement::Inline
    }

    /// Detection costs more than the fast sentiment model itself: spread over the cores.
    fn run(&self, batch: &mut [Annotated<'_>]) -> anyhow::Result<()> {
        batch.par_iter_mut().filter(|item| item.language.is_none()).for_each(|item| {
            item.language = Some(language::detect(item.text).to_string());
        });
        Ok(())
    }
}
