//! The analyzer holds the models and builds the pipelines that use them: the inline stages
//! ingestion runs on every verbatim, and the full pipeline `/v1/analyze` runs for a tier.
//!
//! `fast` is the project's hashed linear model, built into the binary; `accurate` reads the
//! multilingual encoder, loaded from the models folder on first use (it costs ~0.5 GB of
//! memory that a service only ingesting does not need) and `model_unavailable` until installed.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock, RwLock};

use rayon::prelude::*;
use serde::Serialize;

use super::{
    Annotated, AspectStage, Cause, KeyPhraseStage, LanguageStage, Pipeline, Placement, SentimentStage, Stage,
    TopicStage,
};
use crate::domain::{Document, ModelVersion, Sentiment, Tier, TopicAssignment, Verbatim};
use crate::nlp::aspects::{Aspect, AspectExtractor};
use crate::nlp::key_phrases::KeyPhrase;
use crate::nlp::sentiment::{AccurateSentiment, FastSentiment, SentenceSentiment, SentimentModel};
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
    /// As given, or detected: `fr`, `en` or `other`.
    pub language: String,
    pub sentiment: Sentiment,
    pub sentences: Vec<SentenceSentiment>,
    /// The things the text judges, in text order, each with its polarity and opinion word.
    pub aspects: Vec<Aspect>,
    /// The reasons the text states ("because…", "à cause de…"), in text order.
    pub causes: Vec<Cause>,
    /// The few phrases that say what the text is about, best first.
    pub key_phrases: Vec<KeyPhrase>,
}

/// Holds the loaded models; build once, share across threads.
pub struct Analyzer {
    fast: Arc<FastSentiment>,
    aspects: AspectExtractor,
    models_dir: PathBuf,
    accurate: OnceLock<AccurateSentiment>,
    /// Held while loading `accurate`, so concurrent first requests load it once.
    loading: Mutex<()>,
    /// The topic model in use (the store's newest), once a discovery has saved one.
    topics: RwLock<Option<Arc<TopicAssigner>>>,
}

impl Analyzer {
    /// `models_dir` is where `verbatim models install` puts the transformer models.
    pub fn new(models_dir: &Path) -> anyhow::Result<Analyzer> {
        Ok(Analyzer {
            fast: Arc::new(FastSentiment::shipped()?),
            aspects: AspectExtractor::shipped()?,
            models_dir: models_dir.to_path_buf(),
            accurate: OnceLock::new(),
            loading: Mutex::new(()),
            topics: RwLock::new(None),
        })
    }

    /// The sentiment model of `tier`. A failed load is not remembered: installing the model
    /// makes the next request succeed without a restart.
    pub fn model(&self, tier: Tier) -> Result<&dyn SentimentModel, AnalysisError> {
        match tier {
            Tier::Fast => Ok(self.fast.as_ref()),
            Tier::Accurate => {
                if let Some(model) = self.accurate.get() {
                    return Ok(model);
                }
                let _loading = self.loading.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
                if let Some(model) = self.accurate.get() {
                    return Ok(model);
                }
                let model = AccurateSentiment::load(&self.models_dir, self.fast.clone())
                    .map_err(AnalysisError::ModelUnavailable)?;
                Ok(self.accurate.get_or_init(|| model))
            }
        }
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

    /// What ingestion runs on every verbatim: the language when the client gave none (it picks
    /// the stemmer), the `fast` tier's document sentiment, and the topic once a model exists.
    /// Its stages are all inline.
    pub fn ingest_pipeline(&self) -> Pipeline<'_> {
        let mut stages: Vec<Box<dyn Stage>> =
            vec![Box::new(LanguageStage), Box::new(SentimentStage::documents(self.fast.as_ref()))];
        if let Some(assigner) = self.topics() {
            stages.push(Box::new(TopicStage::new(assigner)));
        }
        Pipeline::new(stages)
    }

    /// What `/v1/analyze` runs with `model`: the language, document and sentence sentiment,
    /// aspects and stated causes (judged by `model` too), key phrases.
    pub fn document_pipeline<'m>(&'m self, model: &'m dyn SentimentModel) -> Pipeline<'m> {
        Pipeline::new(vec![
            Box::new(LanguageStage),
            Box::new(SentimentStage::with_sentences(model)),
            Box::new(AspectStage::new(model, &self.fast, &self.aspects)),
            Box::new(KeyPhraseStage),
        ])
    }

    /// Runs the inline stages of [`Analyzer::ingest_pipeline`] and keeps their findings.
    pub fn enrich(&self, verbatims: &mut [Verbatim]) -> anyhow::Result<()> {
        type Found = (Option<String>, Option<Sentiment>, Option<ModelVersion>, Option<TopicAssignment>);
        let found: Vec<Found> = {
            let mut batch: Vec<Annotated<'_>> =
                verbatims.iter().map(|v| Annotated::new(&v.text, v.language.clone())).collect();
            self.ingest_pipeline().run(Some(Placement::Inline), &mut batch)?;
            batch.into_iter().map(|item| (item.language, item.sentiment, item.sentiment_model, item.topic)).collect()
        };
        for (verbatim, (language, sentiment, model, topic)) in verbatims.iter_mut().zip(found) {
            verbatim.language = language;
            verbatim.sentiment = sentiment;
            verbatim.sentiment_model = model;
            verbatim.topic = topic;
        }
        Ok(())
    }

    /// Assigns again, without the encoder, the verbatims whose topic is not of the model in
    /// use: analysed while a discovery saved a newer one. The writer calls this in the commit,
    /// where the model in use cannot change.
    pub fn assign_stale_topics(&self, verbatims: &mut [Verbatim]) {
        if let Some(assigner) = self.topics() {
            assigner.assign_stale(verbatims);
        }
    }

    /// Every stage of the document pipeline for `model`, on each document, in order.
    pub fn analyze(&self, model: &dyn SentimentModel, documents: &[Document]) -> anyhow::Result<Vec<AnalyzedDocument>> {
        let mut batch: Vec<Annotated<'_>> =
            documents.iter().map(|d| Annotated::new(&d.text, d.language.clone())).collect();
        self.document_pipeline(model).run(None, &mut batch)?;
        Ok(documents
            .iter()
            .zip(batch)
            .map(|(document, item)| AnalyzedDocument {
                id: document.id.clone(),
                language: item.language.expect("the language stage labels every text"),
                sentiment: item.sentiment.expect("the sentiment stage judges every text"),
                sentences: item.sentences.unwrap_or_default(),
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
