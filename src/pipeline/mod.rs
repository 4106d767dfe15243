//! Analysis as a pipeline of stages: each stage reads a batch of texts and adds what it knows
//! (the language, the sentiment, emotions, aspects and stated causes, key phrases, topics,
//! root causes).
//!
//! A stage declares its [`Placement`]: **inline** stages are cheap enough to run on every
//! verbatim as it is ingested (thousands a second on two cores); **deferred** stages are
//! encoder-bound (tens a second) and run later, in jobs that follow the store. A new capability
//! is a new [`Stage`] added to the [`Analyzer`]'s lists, without touching the others. Stages
//! run in list order, so a stage may read what an earlier one added (emotions read the
//! encodings sentiment made). Personal data is redacted before the first stage (see
//! [`Analyzer::with_redaction`]): the stages take texts by reference, and redaction replaces
//! them, so no stage ever sees what it removes.

mod analyzer;
mod aspects;
mod emotions;
mod key_phrases;
mod language;
mod mixed;
mod root_causes;
mod sentiment;
mod topics;

pub use analyzer::{AnalysisError, AnalyzedDocument, Analyzer};
pub use aspects::{AspectStage, Cause};
pub use emotions::EmotionStage;
pub use key_phrases::KeyPhraseStage;
pub use language::LanguageStage;
pub use mixed::MixedStage;
pub use root_causes::RootCauseStage;
pub use sentiment::SentimentStage;
pub use topics::TopicStage;

use crate::domain::{EmotionScore, ModelVersion, RootCauseAssignment, Sentiment, Tier, TopicAssignment};
use crate::nlp::aspects::Aspect;
use crate::nlp::encoding::Encoding;
use crate::nlp::key_phrases::KeyPhrase;
use crate::nlp::sentiment::SentenceSentiment;

/// When a stage runs: on the write path, or later in a job.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Placement {
    /// At ingestion, before the verbatim is stored: the stage must keep up with the write path.
    Inline,
    /// After storage, by a job that follows the store: the stage is too slow for the write path.
    Deferred,
}

impl Placement {
    /// Where a stage that runs a sentiment tier belongs: the `fast` model keeps up with
    /// ingestion, the `accurate` encoder does not.
    pub fn of_tier(tier: Tier) -> Placement {
        match tier {
            Tier::Fast => Placement::Inline,
            Tier::Accurate => Placement::Deferred,
        }
    }
}

/// One text going through the pipeline, and what the stages have found so far.
#[derive(Debug, Clone, Default)]
pub struct Annotated<'t> {
    pub text: &'t str,
    /// Given by the client, or found by [`LanguageStage`]: `fr`, `en`, or another code.
    pub language: Option<String>,
    pub sentiment: Option<Sentiment>,
    /// The model behind `sentiment`.
    pub sentiment_model: Option<ModelVersion>,
    /// Per-sentence sentiment, for the stages asked to give it.
    pub sentences: Option<Vec<SentenceSentiment>>,
    /// What the sentiment stage's tier computed from the text, for the tier's other models.
    pub encoding: Option<Encoding>,
    /// The emotions the text expresses, strongest first (empty: neutral).
    pub emotions: Option<Vec<EmotionScore>>,
    pub key_phrases: Option<Vec<KeyPhrase>>,
    /// The things the text judges, with their polarity.
    pub aspects: Option<Vec<Aspect>>,
    /// The reasons the text states.
    pub causes: Option<Vec<Cause>>,
    /// The topic under the model in use, when there is one.
    pub topic: Option<TopicAssignment>,
    /// Whether its survey score makes the customer unhappy (see
    /// [`crate::domain::Verbatim::unhappy_by_score`]): a stored verbatim's, read by root causes.
    pub scored_unhappy: Option<bool>,
    /// The root causes it states under the root-cause model in use, when there is one.
    pub root_causes: Option<RootCauseAssignment>,
}

impl<'t> Annotated<'t> {
    pub fn new(text: &'t str, language: Option<String>) -> Annotated<'t> {
        Annotated { text, language, ..Annotated::default() }
    }
}

/// One step of analysis over a batch. Stages parallelise within the batch themselves: each
/// knows whether its work is worth spreading over the cores.
pub trait Stage: Send + Sync {
    /// Short and stable: names the stage in logs, and later in job names and checkpoints.
    fn name(&self) -> &'static str;
    fn placement(&self) -> Placement;
    fn run(&self, batch: &mut [Annotated<'_>]) -> anyhow::Result<()>;
}

/// Stages in the order they run.
pub struct Pipeline<'m> {
    stages: Vec<Box<dyn Stage + 'm>>,
}

impl<'m> Pipeline<'m> {
    pub fn new(stages: Vec<Box<dyn Stage + 'm>>) -> Pipeline<'m> {
        Pipeline { stages }
    }

    /// Runs, in order, the stages placed where `placement` says; `None` runs every stage, as
    /// on-demand analysis does (the client waits for all of them).
    pub fn run(&self, placement: Option<Placement>, batch: &mut [Annotated<'_>]) -> anyhow::Result<()> {
        for stage in self.stages.iter().filter(|s| placement.is_none_or(|p| s.placement() == p)) {
            stage.run(batch).map_err(|e| e.context(format!("analysis stage `{}`", stage.name())))?;
        }
        Ok(())
    }
}
