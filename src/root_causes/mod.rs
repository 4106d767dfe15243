//! Root causes: why customers are unhappy, gathered across verbatims and languages, and ranked
//! by what they cost.
//!
//! **Mentions** ([`mentions`]): each verbatim's spans that say what went wrong, strongest
//! first: a cause it states ("because the parcel was lost", [`crate::nlp::causes`]) in a
//! negative sentence, or a sentence not positive of an unhappy verbatim; then its negative
//! aspects' clauses ("livraison très lente", [`crate::nlp::aspects`]), neutral ones too in an
//! unhappy verbatim; and, for an unhappy verbatim that holds none, its most negative sentence.
//! A verbatim is unhappy when its sentiment leans negative or its survey score says so (a
//! detractor); one that is not unhappy about anything states no root cause.
//!
//! **Groups** ([`group`]): the mentions' vectors (the multilingual encoder's, so "livraison en
//! retard" and "parcel arrived 5 days late" meet; hashed TF-IDF without it) are clustered and
//! named as topics are ([`crate::topics::discover`]), with a label per language present.
//! Mentions are short and say one thing, where whole verbatims mix a product, a brand and a
//! style: the groups follow causes, not airlines or writing habits.
//!
//! **Ranking** ([`ranking`]): each group's volume, its share of the unhappy verbatims, and its
//! NPS impact where scores exist (the NPS of all scored verbatims minus the NPS of those not
//! citing it, in points, as Thematic defines it), each with its count.

pub mod file;

use std::collections::HashMap;
use std::ops::Range;

use serde::Serialize;

use crate::domain::{NpsGroup, Sentiment, SentimentLabel};
use crate::nlp::aspects::{Aspect, AspectExtractor, Span};
use crate::nlp::causes::stated_causes;
use crate::nlp::features::without_handles_and_links;
use crate::nlp::sentences;
use crate::nlp::sentiment::{FastSentiment, SentimentModel};
use crate::topics::{discover, DiscoverySettings, TopicInput, TopicNames, VectorSpace};

/// Leiden's resolution for root causes, against topics': a quarter, for broader groups and a
/// ranking of tens of causes, not hundreds (measured in eval/RESULTS.md).
pub const GRANULARITY: f64 = 0.25;

/// A span of a verbatim that says what went wrong.
#[derive(Debug, Clone)]
pub struct Mention {
    pub bytes: Range<usize>,
}

/// A verbatim as mentions are read from it.
#[derive(Debug, Clone, Copy)]
pub struct MentionSource<'t> {
    pub text: &'t str,
    /// `fr`, `en` or other: picks the causal cues.
    pub language: &'t str,
    /// Whether its survey score makes it unhappy (a detractor, a low CSAT), when it has one:
    /// the comment then explains the score, however calmly worded.
    pub scored_unhappy: Option<bool>,
}

/// A verbatim's sentiment score (positive minus negative confidence) at or below this leans
/// unhappy: the fast tier calls many plain French complaints neutral while leaning them
/// negative.
const LEANS_UNHAPPY: f32 = -0.1;

/// The models mentions are read with.
#[derive(Clone, Copy)]
pub struct Readers<'m> {
    /// Judges sentiment: the tier asked for.
    pub model: &'m dyn SentimentModel,
    /// Reads opinion words.
    pub fast: &'m FastSentiment,
    pub aspects: &'m AspectExtractor,
}

/// Each verbatim's mentions, strongest first.
pub fn mentions(readers: Readers<'_>, sources: &[MentionSource<'_>]) -> anyhow::Result<Vec<Vec<Mention>>> {
    let Readers { model, fast, aspects: extractor } = readers;
    let texts: Vec<&str> = sources.iter().map(|s| s.text).collect();
    let texts = &texts[..];
    let aspects = extractor.aspects(model, fast, texts)?;
    let splits: Vec<Vec<Range<usize>>> =
        texts.iter().map(|t| sentences::split(t).iter().map(|s| s.bytes()).collect()).collect();
    // One call judges every verbatim and every sentence.
    let mut judged: Vec<&str> = texts.to_vec();
    for (text, sentences) in texts.iter().zip(&splits) {
        judged.extend(sentences.iter().map(|s| &text[s.clone()]));
    }
    let probabilities = model.predict(&judged)?;
    let mut next = texts.len();
    let mut out = Vec::with_capacity(texts.len());
    for (i, text) in texts.iter().enumerate() {
        let sentiment = Sentiment::from_probabilities(probabilities[i]);
        let document_unhappy = sentiment.score <= LEANS_UNHAPPY || sources[i].scored_unhappy == Some(true);
        let sentence_p = &probabilities[next..next + splits[i].len()];
        next += splits[i].len();
        let sentence_of = |at: usize| splits[i].iter().position(|s| s.start <= at && at < s.end);
        let unhappy = |at: usize| {
            let label = sentence_of(at).map(|s| Sentiment::from_probabilities(sentence_p[s]).label);
            label == Some(SentimentLabel::Negative) || (document_unhappy && label != Some(SentimentLabel::Positive))
        };
        let mut found: Vec<Mention> = stated_causes(text, sources[i].language)
            .into_iter()
            .filter(|cause| unhappy(cause.cue.start))
            .map(|cause| Mention { bytes: cause.bytes })
            .collect();
        let judged_badly = |a: &&Aspect| {
            a.polarity == SentimentLabel::Negative || (document_unhappy && a.polarity == SentimentLabel::Neutral)
        };
        for aspect in aspects[i].iter().filter(judged_badly) {
            let inside = |m: &Mention| m.bytes.start <= aspect.bytes.start && aspect.bytes.end <= m.bytes.end;
            if !found.iter().any(inside) {
                found.push(Mention { bytes: aspect.clause.clone() });
            }
        }
        if found.is_empty() && document_unhappy {
            let most_negative = (0..splits[i].len()).max_by(|&a, &b| sentence_p[a][0].total_cmp(&sentence_p[b][0]));
            if let Some(s) = most_negative {
                found.push(Mention { bytes: splits[i][s].clone() });
            }
        }
        found.dedup_by(|a, b| a.bytes == b.bytes);
        out.push(found);
    }
    Ok(out)
}

/// A mention's text as vectors and names read it, when it has words: without `@handles` and
/// links, which name who was addressed, not what went wrong.
pub fn cleaned(text: &str) -> Option<String> {
    let kept = without_handles_and_links(text);
    kept.chars().any(char::is_alphanumeric).then(|| kept.into_owned())
}

/// Groups of mentions, found like topics.
pub struct Grouping {
    pub groups: Vec<Group>,
    /// Per mention, in order: its group's id, or `None` when it is far from every group.
    pub assignments: Vec<Option<i64>>,
    /// `encoder` or `hashed`.
    pub vectors: &'static str,
}

/// A root cause: its id, names and most typical mentions (indices into the input).
pub struct Group {
    pub id: i64,
    pub names: TopicNames,
    pub examples: Vec<usize>,
}

/// Clusters the mentions `inputs` (cleaned texts, with their languages) in `space` (their
/// vectors given), as a topic discovery does.
pub fn group(
    inputs: &[TopicInput<'_>],
    space: VectorSpace,
    vectors: &[Vec<f32>],
    settings: &DiscoverySettings,
) -> anyhow::Result<Grouping> {
    let mode = space.mode();
    // Nothing to group: no mention, or none with a word the vectors read.
    if !vectors.iter().any(|v| v.iter().any(|x| *x != 0.0)) {
        return Ok(Grouping { groups: Vec::new(), assignments: vec![None; inputs.len()], vectors: mode });
    }
    let found = discover(inputs, vectors, space, settings, None)?;
    let groups = found
        .model
        .topics
        .iter()
        .zip(found.examples)
        .map(|(topic, examples)| Group { id: topic.id, names: topic.names.clone(), examples })
        .collect();
    let assignments = found.assignments.iter().map(|a| a.as_ref().map(|a| a.topic_id)).collect();
    Ok(Grouping { groups, assignments, vectors: mode })
}

/// A root cause a verbatim states: its group and where.
#[derive(Debug, Clone, Serialize)]
pub struct StatedRootCause {
    pub id: i64,
    pub label: String,
    #[serde(flatten)]
    pub span: Span,
}

/// What ranks a root cause, over a set of verbatims.
#[derive(Debug, Clone, Serialize)]
pub struct Impact {
    /// Verbatims citing it.
    pub verbatims: usize,
    /// Its share of the unhappy verbatims (those stating any root cause).
    pub share_of_unhappy: f64,
    /// NPS of every scored verbatim minus NPS of the scored ones not citing it, in points;
    /// absent when no scored verbatim cites it, or every one does (nothing to compare with).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub nps_impact: Option<f64>,
    /// Scored verbatims citing it.
    pub scored: usize,
}

/// The impact of each group id, given each verbatim's cited groups and NPS score.
pub fn ranking(cited: &[Vec<i64>], scores: &[Option<u8>]) -> HashMap<i64, Impact> {
    let unhappy = cited.iter().filter(|c| !c.is_empty()).count();
    let nps = |rows: &mut dyn Iterator<Item = u8>| -> Option<f64> {
        let (mut n, mut net) = (0i64, 0i64);
        for score in rows {
            n += 1;
            net += match NpsGroup::of(score) {
                NpsGroup::Promoter => 1,
                NpsGroup::Passive => 0,
                NpsGroup::Detractor => -1,
            };
        }
        (n > 0).then(|| 100.0 * net as f64 / n as f64)
    };
    let all = nps(&mut scores.iter().flatten().copied());
    let mut ids: Vec<i64> = cited.iter().flatten().copied().collect();
    ids.sort_unstable();
    ids.dedup();
    ids.into_iter()
        .map(|id| {
            let citing = |i: &usize| cited[*i].contains(&id);
            let verbatims = (0..cited.len()).filter(citing).count();
            let scored = (0..cited.len()).filter(|i| citing(i) && scores[*i].is_some()).count();
            let without = nps(&mut (0..cited.len()).filter(|i| !citing(i)).filter_map(|i| scores[i]));
            let nps_impact = all.zip(without).map(|(all, without)| all - without);
            let share_of_unhappy = verbatims as f64 / unhappy.max(1) as f64;
            (id, Impact { verbatims, share_of_unhappy, nps_impact: nps_impact.filter(|_| scored > 0), scored })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nps_impact_is_all_minus_those_not_citing() {
        // Four scored verbatims: two detractors citing cause 1, a promoter and a passive not.
        let cited = vec![vec![1], vec![1, 2], vec![], vec![]];
        let scores = vec![Some(2), Some(5), Some(10), Some(8)];
        let impact = ranking(&cited, &scores);
        // All: (1 − 2) / 4 = −25; without cause 1: (1 − 0) / 2 = +50.
        assert_eq!(impact[&1].nps_impact, Some(-75.0));
        assert_eq!(impact[&1].verbatims, 2);
        assert_eq!(impact[&1].share_of_unhappy, 1.0);
        assert_eq!(impact[&2].share_of_unhappy, 0.5);
    }
}
