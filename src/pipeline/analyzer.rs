//! The analyzer holds the models and builds the pipelines that use them: the inline stages
//! ingestion runs on every verbatim, and the full pipeline `/v1/analyze` runs for a tier.
//!
//! `fast` is the project's hashed linear models (sentiment, emotions), built into the binary;
//! `accurate` reads the multilingual encoder, loaded from the models folder on first use (it
//! costs ~0.5 GB of memory that a service only ingesting does not need) and
//! `model_unavailable` until installed. Each tier's emotion model reads the encodings its
//! sentiment model made.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock, RwLock};

use rayon::prelude::*;
use serde::Serialize;

use super::{
    Annotated, AspectStage, Cause, EmotionStage, KeyPhraseStage, LanguageStage, MixedStage, Pipeline, Placement,
    RootCauseStage, SentimentStage, Stage, TopicStage,
};
use crate::domain::{Document, EmotionScore, JudgedAspect, Redaction, Sentiment, Tier, Verbatim};
use crate::nlp::aspects::Span;
use crate::nlp::aspects::{Aspect, AspectExtractor};
use crate::nlp::emotions::{AccurateEmotions, EmotionModel, FastEmotions};
use crate::nlp::key_phrases::KeyPhrase;
use crate::nlp::pii::{Redacted, Redactor};
use crate::nlp::sentiment::{AccurateSentiment, FastSentiment, SentenceSentiment, SentimentModel};
use crate::root_causes::saved::RootCauseModel;
use crate::root_causes::{Readers, StatedRootCause};
use crate::topics::TopicAssigner;

#[derive(Debug, thiserror::Error)]
pub enum AnalysisError {
    #[error("unknown model `{0}`; models: fast, accurate")]
    UnknownModel(String),
    #[error("model `accurate` is not available: {0:#}")]
    ModelUnavailable(anyhow::Error),
}

#[derive(Debug, Clone, Serialize)]
pub struct AnalyzedDocument {
    pub id: String,
    /// The text analysed, when redaction removed personal data from the text given: the
    /// offsets of sentences, aspects, causes and key phrases are in it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub redacted_text: Option<String>,
    /// The personal data removed, by kind and place in the text given (never the values).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub redactions: Vec<Redaction>,
    /// As given, or detected: `fr`, `en` or `other`.
    pub language: String,
    pub sentiment: Sentiment,
    pub sentences: Vec<SentenceSentiment>,
    /// The emotions the text expresses, strongest first; none (an empty list) is neutral.
    pub emotions: Vec<EmotionScore>,
    /// The things the text judges, in text order, each with its polarity and opinion word.
    pub aspects: Vec<Aspect>,
    /// The reasons the text states ("because…", "à cause de…"), in text order.
    pub causes: Vec<Cause>,
    /// The few phrases that say what the text is about, best first.
    pub key_phrases: Vec<KeyPhrase>,
    /// The root causes it states under the root-cause model in use, strongest first (empty
    /// before the first discovery of root causes).
    pub root_causes: Vec<StatedRootCause>,
}

/// The `accurate` tier's models, loaded together: the emotion head reads the sentiment
/// model's embeddings.
struct AccurateTier {
    sentiment: AccurateSentiment,
    emotions: AccurateEmotions,
}

/// Holds the loaded models; build once, share across threads.
pub struct Analyzer {
    fast: Arc<FastSentiment>,
    fast_emotions: Arc<FastEmotions>,
    aspects: AspectExtractor,
    models_dir: PathBuf,
    accurate: OnceLock<AccurateTier>,
    /// Held while loading `accurate`, so concurrent first requests load it once.
    loading: Mutex<()>,
    /// The topic model in use (the store's newest), once a discovery has saved one.
    topics: RwLock<Option<Arc<TopicAssigner>>>,
    /// The root-cause model in use, once a discovery has saved one.
    root_causes: RwLock<Option<Arc<RootCauseModel>>>,
    /// The personal data removed from every text before any stage reads it.
    redactor: Redactor,
}

impl Analyzer {
    /// `models_dir` is where `verbatim models install` puts the transformer models.
    pub fn new(models_dir: &Path) -> anyhow::Result<Analyzer> {
        Ok(Analyzer {
            fast: Arc::new(FastSentiment::shipped()?),
            fast_emotions: Arc::new(FastEmotions::shipped()?),
            aspects: AspectExtractor::shipped()?,
            models_dir: models_dir.to_path_buf(),
            accurate: OnceLock::new(),
            loading: Mutex::new(()),
            topics: RwLock::new(None),
            root_causes: RwLock::new(None),
            redactor: Redactor::default(),
        })
    }

    /// Removes the personal data `redactor` finds from every text, before analysis: ingested
    /// verbatims are stored and indexed redacted, and `/v1/analyze` says what it removed.
    pub fn with_redaction(self, redactor: Redactor) -> Analyzer {
        Analyzer { redactor, ..self }
    }

    /// The sentiment model of `tier`. A failed load is not remembered: installing the model
    /// makes the next request succeed without a restart.
    pub fn model(&self, tier: Tier) -> Result<&dyn SentimentModel, AnalysisError> {
        match tier {
            Tier::Fast => Ok(self.fast.as_ref()),
            Tier::Accurate => Ok(&self.accurate()?.sentiment),
        }
    }

    /// The emotion model of `tier`, which reads what the sentiment model of `tier` encodes.
    pub fn emotions(&self, tier: Tier) -> Result<&dyn EmotionModel, AnalysisError> {
        match tier {
            Tier::Fast => Ok(self.fast_emotions.as_ref()),
            Tier::Accurate => Ok(&self.accurate()?.emotions),
        }
    }

    fn accurate(&self) -> Result<&AccurateTier, AnalysisError> {
        if let Some(tier) = self.accurate.get() {
            return Ok(tier);
        }
        let _loading = self.loading.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(tier) = self.accurate.get() {
            return Ok(tier);
        }
        let sentiment =
            AccurateSentiment::load(&self.models_dir, self.fast.clone()).map_err(AnalysisError::ModelUnavailable)?;
        let emotions = AccurateEmotions::shipped(self.fast_emotions.clone(), sentiment.version())
            .map_err(AnalysisError::ModelUnavailable)?;
        Ok(self.accurate.get_or_init(|| AccurateTier { sentiment, emotions }))
    }

    /// The `fast` tier, which every analysis may read (opinion words, the accurate tier's head).
    pub fn fast(&self) -> &FastSentiment {
        &self.fast
    }

    /// The aspect extractor, whichever tier judges the aspects.
    pub fn aspects(&self) -> &AspectExtractor {
        &self.aspects
    }

    /// The tier called `name` (as a client spells it).
    pub fn model_named(&self, name: &str) -> Result<&dyn SentimentModel, AnalysisError> {
        self.model(Tier::parse(name).ok_or_else(|| AnalysisError::UnknownModel(name.to_string()))?)
    }

    /// Where `verbatim models install` puts the transformer models.
    pub fn models_dir(&self) -> &Path {
        &self.models_dir
    }

    /// The topic model in use, if a discovery has saved one.
    pub fn topics(&self) -> Option<Arc<TopicAssigner>> {
        self.topics.read().unwrap_or_else(|poisoned| poisoned.into_inner()).clone()
    }

    /// Puts a topic model in use (the writer does, in the commit that saves or changes it).
    pub fn set_topics(&self, assigner: TopicAssigner) {
        *self.topics.write().unwrap_or_else(|poisoned| poisoned.into_inner()) = Some(Arc::new(assigner));
    }

    /// The root-cause model in use, if a discovery has saved one.
    pub fn root_causes(&self) -> Option<Arc<RootCauseModel>> {
        self.root_causes.read().unwrap_or_else(|poisoned| poisoned.into_inner()).clone()
    }

    /// Puts a root-cause model in use (the writer does, in the commit that saves or changes it;
    /// a renaming only changes its labels).
    pub fn set_root_causes(&self, model: RootCauseModel) {
        *self.root_causes.write().unwrap_or_else(|poisoned| poisoned.into_inner()) = Some(Arc::new(model));
    }

    /// What reads mentions with the tier `model`.
    pub fn readers<'m>(&'m self, model: &'m dyn SentimentModel) -> Readers<'m> {
        Readers { model, fast: &self.fast, aspects: &self.aspects }
    }

    /// What ingestion runs on every verbatim: the language when the client gave none (it picks
    /// the stemmer), the `fast` tier's document sentiment, emotions and aspects (`mixed` when
    /// they hold clearly positive and negative parts), and the topic and the root causes once
    /// their models exist. Its stages are all inline.
    pub fn ingest_pipeline(&self) -> Pipeline<'_> {
        let fast = self.fast.as_ref();
        let mut stages: Vec<Box<dyn Stage>> = vec![
            Box::new(LanguageStage),
            Box::new(SentimentStage::documents(fast)),
            Box::new(EmotionStage::new(self.fast_emotions.as_ref())),
            Box::new(AspectStage::new(fast, fast, &self.aspects)),
            Box::new(MixedStage::new(Tier::Fast)),
        ];
        if let Some(assigner) = self.topics() {
            stages.push(Box::new(TopicStage::new(assigner)));
        }
        if let Some(model) = self.root_causes() {
            stages.push(Box::new(RootCauseStage::new(model, self.readers(self.fast.as_ref()))));
        }
        Pipeline::new(stages)
    }

    /// What `/v1/analyze` runs with `model`: the language, document and sentence sentiment,
    /// emotions (by the same tier), aspects and stated causes (judged by `model` too), key
    /// phrases, and the root causes once a model of them exists.
    pub fn document_pipeline<'m>(&'m self, model: &'m dyn SentimentModel) -> Result<Pipeline<'m>, AnalysisError> {
        self.document_pipeline_with(model, self.root_causes())
    }

    /// [`Analyzer::document_pipeline`] with the root-cause model `root_causes`, read once by
    /// a caller that labels what it finds.
    fn document_pipeline_with<'m>(
        &'m self,
        model: &'m dyn SentimentModel,
        root_causes: Option<Arc<RootCauseModel>>,
    ) -> Result<Pipeline<'m>, AnalysisError> {
        let mut stages: Vec<Box<dyn Stage + 'm>> = vec![
            Box::new(LanguageStage),
            Box::new(SentimentStage::with_sentences(model)),
            Box::new(EmotionStage::new(self.emotions(model.tier())?)),
            Box::new(AspectStage::new(model, &self.fast, &self.aspects)),
            Box::new(MixedStage::new(model.tier())),
            Box::new(KeyPhraseStage),
        ];
        if let Some(root_causes) = root_causes {
            stages.push(Box::new(RootCauseStage::new(root_causes, self.readers(model))));
        }
        Ok(Pipeline::new(stages))
    }

    /// Runs the inline stages of [`Analyzer::ingest_pipeline`] and keeps their findings.
    pub fn enrich(&self, verbatims: &mut [Verbatim]) -> anyhow::Result<()> {
        for verbatim in verbatims.iter_mut() {
            if let Some(redacted) = self.redactor.redact(&verbatim.text) {
                verbatim.text = redacted.text;
            }
        }
        let found: Vec<Annotated<'_>> = {
            let mut batch: Vec<Annotated<'_>> = verbatims
                .iter()
                .map(|v| Annotated {
                    scored_unhappy: v.unhappy_by_score(),
                    ..Annotated::new(&v.text, v.language.clone())
                })
                .collect();
            self.ingest_pipeline().run(Some(Placement::Inline), &mut batch)?;
            // The texts are borrowed from the verbatims about to take the findings.
            batch.into_iter().map(|item| Annotated { text: "", ..item }).collect()
        };
        for (verbatim, item) in verbatims.iter_mut().zip(found) {
            verbatim.language = item.language;
            verbatim.sentiment = item.sentiment;
            verbatim.sentiment_model = item.sentiment_model;
            verbatim.emotions = item.emotions;
            verbatim.topic = item.topic;
            verbatim.aspects = item
                .aspects
                .unwrap_or_default()
                .iter()
                .map(|a| JudgedAspect { offset: a.offset, length: a.length, polarity: a.polarity })
                .collect();
            verbatim.root_causes = item.root_causes;
        }
        Ok(())
    }

    /// Assigns again, without the encoder, the verbatims whose topic or root causes are not of
    /// the models in use: analysed while a discovery saved a newer one (or a merge changed
    /// it). The writer calls this in the commit, where the models in use cannot change.
    pub fn assign_stale(&self, verbatims: &mut [Verbatim]) -> anyhow::Result<()> {
        if let Some(assigner) = self.topics() {
            assigner.assign_stale(verbatims);
        }
        if let Some(model) = self.root_causes() {
            model.assign_stale(self.readers(self.fast.as_ref()), verbatims)?;
        }
        Ok(())
    }

    /// Every stage of the document pipeline for `model`, on each document, in order.
    pub fn analyze(&self, model: &dyn SentimentModel, documents: &[Document]) -> anyhow::Result<Vec<AnalyzedDocument>> {
        let redacted: Vec<Option<Redacted>> = documents.iter().map(|d| self.redactor.redact(&d.text)).collect();
        let texts: Vec<&str> =
            documents.iter().zip(&redacted).map(|(d, r)| r.as_ref().map_or(d.text.as_str(), |r| &r.text)).collect();
        let mut batch: Vec<Annotated<'_>> =
            documents.iter().zip(&texts).map(|(d, text)| Annotated::new(text, d.language.clone())).collect();
        let root_causes = self.root_causes();
        self.document_pipeline_with(model, root_causes.clone())?.run(None, &mut batch)?;
        let stated = |text: &str, found: Option<crate::domain::RootCauseAssignment>| -> Vec<StatedRootCause> {
            let (Some(model), Some(found)) = (&root_causes, found) else { return Vec::new() };
            found
                .causes
                .iter()
                .map(|cause| {
                    let bytes = crate::nlp::offsets::byte_range(text, cause.offset, cause.length);
                    StatedRootCause {
                        id: cause.id,
                        label: model.label(cause.id).to_string(),
                        span: Span::of(text, bytes),
                    }
                })
                .collect()
        };
        Ok(documents
            .iter()
            .zip(batch)
            .zip(texts.iter().zip(&redacted))
            .map(|((document, item), (text, redacted))| AnalyzedDocument {
                root_causes: stated(text, item.root_causes),
                redactions: redacted.as_ref().map(|r| r.redactions.clone()).unwrap_or_default(),
                redacted_text: redacted.as_ref().map(|r| r.text.clone()),
                id: document.id.clone(),
                language: item.language.expect("the language stage labels every text"),
                sentiment: item.sentiment.expect("the sentiment stage judges every text"),
                sentences: item.sentences.unwrap_or_default(),
                emotions: item.emotions.unwrap_or_default(),
                aspects: item.aspects.unwrap_or_default(),
                causes: item.causes.unwrap_or_default(),
                key_phrases: item.key_phrases.unwrap_or_default(),
            })
            .collect())
    }

    /// [`Analyzer::analyze`], each result encoded as JSON, in order. Encoding the answers
    /// costs as much as computing them: encode in parallel.
    pub fn analyze_to_json(&self, model: &dyn SentimentModel, documents: &[Document]) -> anyhow::Result<Vec<String>> {
        Ok(self.analyze(model, documents)?.par_iter().map(serde_json::to_string).collect::<Result<Vec<String>, _>>()?)
    }
}
