//! Aspects: the things a verbatim judges ("livraison", "the agent", "refund"), each with the
//! polarity of what is said about it and the opinion word that says it. "Great product but
//! delivery was a disaster" gives product → positive, delivery → negative.
//!
//! Terms come from the [`tagger`]; an aspect's polarity is its sentence's when it is the
//! sentence's only aspect, else its clause's ([`super::clauses`]), judged by the sentiment tier
//! the caller picked (measured against either alone in eval/RESULTS.md), so both tiers share
//! one extractor and the accurate tier's judgement carries over; the opinion is the clause's
//! most polar word by the `fast` model's reading of single words (French and English alike, no
//! lexicon needed).

pub mod tagger;
mod vocabulary;

use std::collections::HashMap;
use std::ops::Range;

use anyhow::Context;
use serde::Serialize;

use super::clauses::clauses;
use super::linear::HashedLinear;
use super::offsets::CodePoints;
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
/// How strongly a word alone must read, with no word reading strongly the other way, to turn a
/// neutral judgement of its clause.
const OVERRIDING_STRENGTH: f32 = 0.6;

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
        let (offset, length) = CodePoints::new(text).span(bytes.clone());
        Span { text: text[bytes].to_string(), offset, length }
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
            if terms.is_empty() {
                return Vec::new();
            }
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
    let mut readings = word_readings(fast, texts, &terms).into_iter();
    Ok(texts
        .iter()
        .zip(terms)
        .map(|(text, terms)| {
            let readings = readings.next().expect("readings per text");
            terms
                .into_iter()
                .map(|(term, clause)| {
                    let judged = polarities.next().expect("one polarity per aspect");
                    let (polarity, opinion) = polarity_and_opinion(judged, &readings, &term, &clause);
                    let opinion = opinion.map(|o| Span::of(text, o));
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

/// Per text, the words of its judged spans (its terms' clauses) outside every aspect term, each
/// with how it reads alone to the `fast` model: positive minus negative confidence. Shared by
/// a text's aspects; a word met in several texts of the batch is read once.
fn word_readings(
    fast: &FastSentiment,
    texts: &[&str],
    terms: &[Vec<(Range<usize>, Range<usize>)>],
) -> Vec<Vec<(Range<usize>, f32)>> {
    let candidates: Vec<Vec<Range<usize>>> = texts
        .iter()
        .zip(terms)
        .map(|(text, terms)| {
            if terms.is_empty() {
                return Vec::new();
            }
            let outside = |w: &Range<usize>| terms.iter().all(|(t, _)| w.end <= t.start || w.start >= t.end);
            let judged = |w: &Range<usize>| terms.iter().any(|(_, s)| s.start <= w.start && w.end <= s.end);
            words(text)
                .into_iter()
                .map(|w| w.bytes)
                .filter(|w| judged(w) && outside(w) && !is_stop_word(&text[w.clone()].to_lowercase()))
                .collect()
        })
        .collect();
    let mut unique: HashMap<&str, usize> = HashMap::new();
    for (text, words) in texts.iter().zip(&candidates) {
        for w in words {
            let next = unique.len();
            unique.entry(&text[w.clone()]).or_insert(next);
        }
    }
    let mut distinct: Vec<&str> = vec![""; unique.len()];
    for (word, at) in &unique {
        distinct[*at] = word;
    }
    let read: Vec<f32> = fast.probabilities(&distinct).into_iter().map(|p| p[2] - p[0]).collect();
    texts
        .iter()
        .zip(candidates)
        .map(|(text, words)| {
            words
                .into_iter()
                .map(|w| {
                    let reading = read[unique[&text[w.clone()]]];
                    (w, reading)
                })
                .collect()
        })
        .collect()
}

/// The polarity `judged` gives, unless it is neutral while a word of the span reads strongly
/// one way alone ("but delivery was a *disaster*"): short clauses are where the document
/// models hedge most. And the word that reads most strongly in the polarity's direction, the
/// nearest of equals, as the opinion.
fn polarity_and_opinion(
    judged: SentimentLabel,
    readings: &[(Range<usize>, f32)],
    term: &Range<usize>,
    span: &Range<usize>,
) -> (SentimentLabel, Option<Range<usize>>) {
    let strongest = |sign: f32| {
        readings
            .iter()
            .filter(|(w, _)| span.start <= w.start && w.end <= span.end)
            .map(|(w, reading)| (sign * reading, w))
            .max_by(|a, b| {
                a.0.total_cmp(&b.0).then(b.1.start.abs_diff(term.start).cmp(&a.1.start.abs_diff(term.start)))
            })
    };
    let polarity = match judged {
        SentimentLabel::Neutral => {
            let negative = strongest(-1.0).filter(|(strength, _)| *strength >= OVERRIDING_STRENGTH);
            let positive = strongest(1.0).filter(|(strength, _)| *strength >= OVERRIDING_STRENGTH);
            match (negative, positive) {
                (Some(_), None) => SentimentLabel::Negative,
                (None, Some(_)) => SentimentLabel::Positive,
                _ => SentimentLabel::Neutral,
            }
        }
        other => other,
    };
    let sign = match polarity {
        SentimentLabel::Negative => -1.0,
        SentimentLabel::Positive => 1.0,
        SentimentLabel::Neutral | SentimentLabel::Mixed => return (polarity, None),
    };
    let opinion = strongest(sign).filter(|(strength, _)| *strength >= OPINION_STRENGTH).map(|(_, w)| w.clone());
    (polarity, opinion)
}
