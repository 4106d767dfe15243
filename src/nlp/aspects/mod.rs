//! Aspects: the things a verbatim judges ("livraison", "the agent", "refund"), each with the
//! polarity of what is said about it and the opinion word that says it. "Great product but
//! delivery was a disaster" gives product → positive, delivery → negative.
//!
//! Terms come from the [`tagger`]; an aspect's polarity is its sentence's when it is the
//! sentence's only aspect, else its clause's ([`super::clauses`]), judged by the sentiment tier
//! the caller picked (measured against either alone in eval/RESULTS.md), so both tiers share one extractor and the
//! accurate tier's judgement carries over; the opinion is the clause's most polar word by the
//! `fast` model's reading of single words (French and English alike, no lexicon needed).

pub mod tagger;
mod vocabulary;

use std::ops::Range;

use anyhow::Context;
use serde::Serialize;

use super::clauses::clauses;
use super::linear::HashedLinear;
use super::sentences;
use super::sentiment::{FastSentiment, SentimentModel};
use super::stop_words::is_stop_word;
use super::words::words;
use crate::domain::{Sentiment, SentimentLabel};
pub use tagger::AspectTagger;

/// Trained by `cargo run --release --features training --bin train-aspects` (training/README.md).
const SHIPPED_TAGGER: &[u8] = include_bytes!("../../../models/aspects-fast.bin");
/// How much more positive than negative (or the reverse) a word alone must read to be an opinion.
const OPINION_STRENGTH: f32 = 0.3;

/// An aspect of a text, with code-point offsets.
#[derive(Debug, Clone, Serialize)]
pub struct Aspect {
    pub text: String,
    pub offset: usize,
    pub length: usize,
    pub polarity: SentimentLabel,
    /// The word that judges it, when its clause holds one.
    pub opinion: Option<Span>,
    #[serde(skip)]
    pub bytes: Range<usize>,
    /// What it took its polarity from: its sentence when no other aspect shares it, else its clause.
    #[serde(skip)]
    pub clause: Range<usize>,
}

/// A piece of a text, with code-point offsets.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Span {
    pub text: String,
    pub offset: usize,
    pub length: usize,
}

impl Span {
    pub fn of(text: &str, bytes: Range<usize>) -> Span {
        Span {
            text: text[bytes.clone()].to_string(),
            offset: text[..bytes.start].chars().count(),
            length: text[bytes].chars().count(),
        }
    }
}

/// Finds aspects and judges them.
pub struct AspectExtractor {
    tagger: AspectTagger,
}

impl AspectExtractor {
    /// The tagger built into the binary.
    pub fn shipped() -> anyhow::Result<AspectExtractor> {
        let model = HashedLinear::from_bytes(SHIPPED_TAGGER).context("the shipped aspect tagger")?;
        Ok(AspectExtractor { tagger: AspectTagger::new(model) })
    }

    pub fn new(tagger: AspectTagger) -> AspectExtractor {
        AspectExtractor { tagger }
    }

    /// Each text's aspects, in text order: terms by the tagger, judged by [`judge`].
    pub fn aspects(
        &self,
        model: &dyn SentimentModel,
        fast: &FastSentiment,
        texts: &[&str],
    ) -> anyhow::Result<Vec<Vec<Aspect>>> {
        judge(model, fast, texts, texts.iter().map(|text| self.tagger.terms(text)).collect())
    }
}

/// Aspects of the given terms (byte ranges, per text): polarity by `model` on each term's
/// clause (one call for the whole batch), opinion by `fast`.
pub fn judge(
    model: &dyn SentimentModel,
    fast: &FastSentiment,
    texts: &[&str],
    terms: Vec<Vec<Range<usize>>>,
) -> anyhow::Result<Vec<Vec<Aspect>>> {
    let terms: Vec<Vec<(Range<usize>, Range<usize>)>> = texts
        .iter()
        .zip(terms)
        .map(|(text, terms)| {
            let clauses = clauses(text);
            let sentences: Vec<Range<usize>> = sentences::split(text).iter().map(|s| s.bytes()).collect();
            let within = |span: &Range<usize>, term: &Range<usize>| span.start <= term.start && term.start < span.end;
            terms
                .iter()
                .map(|term| {
                    // A sentence that judges one aspect is its judgement; one that judges
                    // several splits into clauses, each aspect taking its own.
                    let sentence = sentences.iter().find(|s| within(s, term));
                    let alone = sentence.is_some_and(|s| terms.iter().filter(|t| within(s, t)).count() == 1);
                    let judged = if alone { sentence } else { clauses.iter().find(|c| within(c, term)) };
                    (term.clone(), judged.cloned().unwrap_or_else(|| term.clone()))
                })
                .collect()
        })
        .collect();
    let judged: Vec<&str> = texts
        .iter()
        .zip(&terms)
        .flat_map(|(text, terms)| terms.iter().map(move |(_, clause)| &text[clause.clone()]))
        .collect();
    let mut polarities = model.predict(&judged)?.into_iter().map(|p| Sentiment::from_probabilities(p).label);
    Ok(texts
        .iter()
        .zip(terms)
        .map(|(text, terms)| {
            terms
                .into_iter()
                .map(|(term, clause)| {
                    let polarity = polarities.next().expect("one polarity per aspect");
                    let opinion = opinion(fast, text, &term, &clause, polarity).map(|o| Span::of(text, o));
                    let span = Span::of(text, term.clone());
                    Aspect {
                        text: span.text,
                        offset: span.offset,
                        length: span.length,
                        polarity,
                        opinion,
                        bytes: term,
                        clause,
                    }
                })
                .collect()
        })
        .collect())
}

/// The word of `clause` (outside the term) that reads most strongly in the aspect's direction,
/// the nearest of equals.
fn opinion(
    fast: &FastSentiment,
    text: &str,
    term: &Range<usize>,
    clause: &Range<usize>,
    polarity: SentimentLabel,
) -> Option<Range<usize>> {
    let sign = match polarity {
        SentimentLabel::Negative => -1.0,
        SentimentLabel::Positive => 1.0,
        SentimentLabel::Neutral => return None,
    };
    let candidates: Vec<Range<usize>> = words(&text[clause.clone()])
        .into_iter()
        .map(|w| w.bytes.start + clause.start..w.bytes.end + clause.start)
        .filter(|w| (w.end <= term.start || w.start >= term.end) && !is_stop_word(&text[w.clone()].to_lowercase()))
        .collect();
    let readings = fast.probabilities(&candidates.iter().map(|w| &text[w.clone()]).collect::<Vec<_>>());
    candidates
        .into_iter()
        .zip(readings)
        .map(|(w, p)| {
            let distance = w.start.abs_diff(term.start) as f32;
            (sign * (p[2] - p[0]) - distance * 1e-4, w)
        })
        .filter(|(strength, _)| *strength >= OPINION_STRENGTH)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, w)| w)
}
