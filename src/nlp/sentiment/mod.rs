//! Sentiment at document and sentence level, behind one trait so tiers are interchangeable.
//!
//! A [`SentimentModel`] maps texts to class probabilities; [`analyze_batch`] splits each
//! document into sentences, asks the model once for all documents and sentences (so batching
//! engines see one large batch), and assembles the results.

pub mod accurate;
mod fast;

pub use accurate::AccurateSentiment;
pub use fast::{FastSentiment, FAST_BUCKETS_LOG2};

use serde::Serialize;

use super::encoding::Encoding;
use super::sentences;
use crate::domain::{ModelVersion, Sentiment, Tier};

/// Texts in, probabilities out, in [`crate::domain::SentimentLabel::ALL`] order. The texts are
/// first encoded ([`SentimentModel::encode`]): the tier's other models read the same encodings.
pub trait SentimentModel: Send + Sync {
    fn tier(&self) -> Tier;
    /// Names the weights (a short hash): stored with each analysis the model makes.
    fn version(&self) -> &str;
    fn model_version(&self) -> ModelVersion {
        ModelVersion { tier: self.tier(), version: self.version().to_string() }
    }
    /// Most documents one request may ask of this tier: what it analyses in seconds, not minutes.
    fn max_documents(&self) -> usize;
    /// What this tier's models read of each text.
    fn encode(&self, texts: &[&str]) -> anyhow::Result<Vec<Encoding>>;
    /// Probabilities from encodings made by [`SentimentModel::encode`].
    fn predict_encoded(&self, encodings: &[&Encoding]) -> anyhow::Result<Vec<[f32; 3]>>;
    fn predict(&self, texts: &[&str]) -> anyhow::Result<Vec<[f32; 3]>> {
        let encodings = self.encode(texts)?;
        self.predict_encoded(&encodings.iter().collect::<Vec<_>>())
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct SentenceSentiment {
    pub text: String,
    /// Code points from the start of the document.
    pub offset: usize,
    /// Length in code points.
    pub length: usize,
    pub sentiment: Sentiment,
}

#[derive(Debug, Clone, Serialize)]
pub struct DocumentSentiment {
    pub sentiment: Sentiment,
    pub sentences: Vec<SentenceSentiment>,
    /// The document's encoding, for the tier's other models.
    #[serde(skip)]
    pub encoding: Encoding,
}

/// Analyses documents; the whole text is judged as a whole (not averaged from sentences),
/// since the verdict of "bien mais trop cher" is not the mean of its halves.
pub fn analyze_batch(model: &dyn SentimentModel, documents: &[&str]) -> anyhow::Result<Vec<DocumentSentiment>> {
    let split: Vec<Vec<sentences::Sentence<'_>>> = documents.iter().map(|d| sentences::split(d)).collect();
    let mut texts: Vec<&str> = documents.to_vec();
    for (document, sentences) in documents.iter().zip(&split) {
        // A one-sentence document is its own sentence: predict it once.
        if !(sentences.len() == 1 && sentences[0].text == document.trim()) {
            texts.extend(sentences.iter().map(|s| s.text));
        }
    }
    let mut encodings = model.encode(&texts)?;
    let probabilities = model.predict_encoded(&encodings.iter().collect::<Vec<_>>())?;
    encodings.truncate(documents.len());
    let mut next_sentence = documents.len();
    Ok(documents
        .iter()
        .zip(split)
        .zip(encodings)
        .enumerate()
        .map(|(i, ((document, sentences), encoding))| {
            let whole = Sentiment::from_probabilities(probabilities[i]);
            let reuse = sentences.len() == 1 && sentences[0].text == document.trim();
            let sentences = sentences
                .into_iter()
                .map(|s| {
                    let sentiment = if reuse {
                        whole
                    } else {
                        next_sentence += 1;
                        Sentiment::from_probabilities(probabilities[next_sentence - 1])
                    };
                    SentenceSentiment { text: s.text.to_string(), offset: s.offset, length: s.length, sentiment }
                })
                .collect();
            DocumentSentiment { sentiment: whole, sentences, encoding }
        })
        .collect())
}
