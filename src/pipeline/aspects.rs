//! The aspect stage: each text's aspects (judged by the stage's sentiment tier) and the causes
//! it states, each cause linked to the aspect it speaks of. Its placement follows the tier, as
//! the sentiment stage's does.

use std::ops::Range;

use serde::Serialize;

use super::{Annotated, Placement, Stage};
use crate::nlp::aspects::{AspectExtractor, Span};
use crate::nlp::causes::stated_causes;
use crate::nlp::sentiment::{FastSentiment, SentimentModel};

/// A cause a text states, with the aspect it speaks of.
#[derive(Debug, Clone, Serialize)]
pub struct Cause {
    #[serde(flatten)]
    pub span: Span,
    /// Index, in the text's aspects, of the aspect inside the cause ("because the *delivery*
    /// was late") or else the nearest one before its cue in the same sentence.
    pub aspect: Option<usize>,
}

pub struct AspectStage<'m> {
    model: &'m dyn SentimentModel,
    fast: &'m FastSentiment,
    extractor: &'m AspectExtractor,
}

impl<'m> AspectStage<'m> {
    pub fn new(model: &'m dyn SentimentModel, fast: &'m FastSentiment, extractor: &'m AspectExtractor) -> Self {
        AspectStage { model, fast, extractor }
    }
}

impl Stage for AspectStage<'_> {
    fn name(&self) -> &'static str {
        "aspects"
    }

    fn placement(&self) -> Placement {
        Placement::of_tier(self.model.tier())
    }

    fn run(&self, batch: &mut [Annotated<'_>]) -> anyhow::Result<()> {
        let texts: Vec<&str> = batch.iter().map(|item| item.text).collect();
        let found = self.extractor.aspects(self.model, self.fast, &texts)?;
        for (item, aspects) in batch.iter_mut().zip(found) {
            let language = item.language.as_deref().unwrap_or(crate::domain::OTHER_LANGUAGE);
            let stated = stated_causes(item.text, language);
            let sentences: Vec<Range<usize>> = if stated.is_empty() {
                Vec::new()
            } else {
                crate::nlp::sentences::split(item.text).iter().map(|s| s.bytes()).collect()
            };
            let causes = stated
                .into_iter()
                .map(|cause| {
                    let within = aspects
                        .iter()
                        .position(|a| cause.bytes.start <= a.bytes.start && a.bytes.end <= cause.bytes.end);
                    let sentence = sentences.iter().find(|s| s.contains(&cause.cue.start));
                    let before = || {
                        aspects.iter().rposition(|a| {
                            a.bytes.end <= cause.cue.start && sentence.is_some_and(|s| s.contains(&a.bytes.start))
                        })
                    };
                    Cause { span: Span::of(item.text, cause.bytes), aspect: within.or_else(before) }
                })
                .collect();
            item.aspects = Some(aspects);
            item.causes = Some(causes);
        }
        Ok(())
    }
}
