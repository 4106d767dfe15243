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
//! **Ranking** ([`Impact`]): each group's volume, its share of the negative verbatims, its lift
//! against the positive ones, and its NPS impact where scores exist (the NPS of all scored
//! verbatims minus the NPS of those not citing it, in points, as Thematic defines it), each
//! with the counts it comes from.

pub mod file;
pub mod report;
pub mod saved;

use std::collections::HashMap;
use std::ops::Range;

use serde::Serialize;

use crate::domain::{NpsGroup, Sentiment, SentimentLabel, Verbatim, OTHER_LANGUAGE};
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

impl<'t> MentionSource<'t> {
    /// A stored (or validated) verbatim, whose language the language stage has set.
    pub fn of(verbatim: &'t Verbatim) -> MentionSource<'t> {
        MentionSource {
            text: &verbatim.text,
            language: verbatim.language.as_deref().unwrap_or(OTHER_LANGUAGE),
            scored_unhappy: verbatim.unhappy_by_score(),
        }
    }
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
    Ok(mentions_and_sentiment(readers, sources)?.into_iter().map(|(found, _)| found).collect())
}

/// Each verbatim's mentions, strongest first, and its document sentiment (what a ranking
/// counts it as).
pub fn mentions_and_sentiment(
    readers: Readers<'_>,
    sources: &[MentionSource<'_>],
) -> anyhow::Result<Vec<(Vec<Mention>, SentimentLabel)>> {
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
        out.push((found, sentiment.label));
    }
    Ok(out)
}

/// A mention's text as vectors and names read it, when it has words: without `@handles` and
/// links, which name who was addressed, not what went wrong.
pub fn cleaned(text: &str) -> Option<String> {
    let kept = without_handles_and_links(text);
    kept.chars().any(char::is_alphanumeric).then(|| kept.into_owned())
}

/// The mentions that have words, cleaned for vectors and names, and whose each is:
/// (verbatim, mention), indices into the texts and mentions they were read from.
pub struct Worded {
    pub owners: Vec<(usize, usize)>,
    pub texts: Vec<String>,
}

/// The mentions of `found` (per text of `texts`) that have words (see [`cleaned`]).
pub fn worded(texts: &[&str], found: &[Vec<Mention>]) -> Worded {
    let mut worded = Worded { owners: Vec::new(), texts: Vec::new() };
    for (v, mentions) in found.iter().enumerate() {
        for (m, mention) in mentions.iter().enumerate() {
            if let Some(text) = cleaned(&texts[v][mention.bytes.clone()]) {
                worded.owners.push((v, m));
                worded.texts.push(text);
            }
        }
    }
    worded
}

/// A root cause a verbatim states: the group's id, and the bytes of the mention that states it.
pub type Cited = (i64, Range<usize>);

/// Per verbatim, the root causes it states: the group of each of its mentions (`groups`, per
/// worded mention, `None` when far from every group), strongest mention first, one per group,
/// with the mention's bytes.
pub fn cite(verbatims: usize, found: &[Vec<Mention>], worded: &Worded, groups: &[Option<i64>]) -> Vec<Vec<Cited>> {
    let mut cited: Vec<Vec<Cited>> = vec![Vec::new(); verbatims];
    for ((v, m), group) in worded.owners.iter().zip(groups) {
        let Some(id) = group else { continue };
        if !cited[*v].iter().any(|(cited, _)| cited == id) {
            cited[*v].push((*id, found[*v][*m].bytes.clone()));
        }
    }
    cited
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

/// Verbatims counted by document sentiment and NPS group: a set's totals, or those of its
/// verbatims citing one root cause.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Tally {
    pub verbatims: u64,
    pub negative: u64,
    pub positive: u64,
    pub promoters: u64,
    pub passives: u64,
    pub detractors: u64,
}

impl Tally {
    pub fn add(&mut self, label: SentimentLabel, nps: Option<u8>) {
        self.verbatims += 1;
        match label {
            SentimentLabel::Negative => self.negative += 1,
            SentimentLabel::Positive => self.positive += 1,
            SentimentLabel::Neutral | SentimentLabel::Mixed => {}
        }
        match nps.map(NpsGroup::of) {
            Some(NpsGroup::Promoter) => self.promoters += 1,
            Some(NpsGroup::Passive) => self.passives += 1,
            Some(NpsGroup::Detractor) => self.detractors += 1,
            None => {}
        }
    }

    /// Verbatims with an NPS score.
    pub fn scored(&self) -> u64 {
        self.promoters + self.passives + self.detractors
    }

    /// Promoters minus detractors, in points of the scored verbatims; `None` without any.
    pub fn nps(&self) -> Option<f64> {
        let scored = self.scored();
        (scored > 0).then(|| 100.0 * (self.promoters as f64 - self.detractors as f64) / scored as f64)
    }

    /// Each count of `self` and `other` through `f`.
    fn zip(&self, other: &Tally, f: impl Fn(u64, u64) -> u64) -> Tally {
        Tally {
            verbatims: f(self.verbatims, other.verbatims),
            negative: f(self.negative, other.negative),
            positive: f(self.positive, other.positive),
            promoters: f(self.promoters, other.promoters),
            passives: f(self.passives, other.passives),
            detractors: f(self.detractors, other.detractors),
        }
    }
}

/// What ranks a root cause over a set of verbatims, each figure with the counts it comes from
/// (see [`Impact::of`]).
#[derive(Debug, Clone, Serialize)]
pub struct Impact {
    #[serde(flatten)]
    pub citing: Tally,
    /// Its share of the set's negative verbatims (document sentiment).
    pub share_of_negative: f64,
    /// Its share of the negative verbatims over its share of the positive ones, the positive
    /// count plus one (a cause no positive verbatim cites stays finite); absent when the set
    /// holds no negative verbatim.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lift: Option<f64>,
    /// NPS of every scored verbatim minus NPS of the scored ones not citing it, in points;
    /// absent when no scored verbatim cites it, or every one does (nothing to compare with).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub nps_impact: Option<f64>,
}

impl Impact {
    /// The impact of a root cause cited as `citing` counts, in a set counted as `all`.
    pub fn of(citing: Tally, all: &Tally) -> Impact {
        // Counted by separate searches, a part may outgrow the whole when writes land between
        // them: no part counts more than the whole.
        let citing = citing.zip(all, u64::min);
        let share_of_negative = citing.negative as f64 / all.negative.max(1) as f64;
        let share_of_positive = (citing.positive + 1) as f64 / (all.positive + 1) as f64;
        let lift = (all.negative > 0).then(|| share_of_negative / share_of_positive);
        let nps_impact = all.nps().zip(all.zip(&citing, u64::saturating_sub).nps()).map(|(all, without)| all - without);
        Impact { citing, share_of_negative, lift, nps_impact: nps_impact.filter(|_| citing.scored() > 0) }
    }
}

/// The impact of each group id, given each verbatim's cited groups, document sentiment and
/// NPS score; and the set's totals.
pub fn ranking(cited: &[Vec<i64>], labels: &[SentimentLabel], scores: &[Option<u8>]) -> (HashMap<i64, Impact>, Tally) {
    let mut all = Tally::default();
    let mut by_cause: HashMap<i64, Tally> = HashMap::new();
    for ((cited, label), score) in cited.iter().zip(labels).zip(scores) {
        all.add(*label, *score);
        for id in cited {
            by_cause.entry(*id).or_default().add(*label, *score);
        }
    }
    (by_cause.into_iter().map(|(id, citing)| (id, Impact::of(citing, &all))).collect(), all)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nps_impact_is_all_minus_those_not_citing() {
        // Four scored verbatims: two detractors citing cause 1, a promoter and a passive not.
        let cited = vec![vec![1], vec![1, 2], vec![], vec![]];
        let labels =
            [SentimentLabel::Negative, SentimentLabel::Negative, SentimentLabel::Positive, SentimentLabel::Neutral];
        let scores = vec![Some(2), Some(5), Some(10), Some(8)];
        let (impact, all) = ranking(&cited, &labels, &scores);
        // All: (1 − 2) / 4 = −25; without cause 1: (1 − 0) / 2 = +50.
        assert_eq!(impact[&1].nps_impact, Some(-75.0));
        assert_eq!(impact[&1].citing.verbatims, 2);
        assert_eq!(impact[&1].share_of_negative, 1.0);
        assert_eq!(impact[&2].share_of_negative, 0.5);
        // Half the negative verbatims, no positive one (of one): 0.5 / (1 / 2).
        assert_eq!(impact[&2].lift, Some(1.0));
        assert_eq!((all.verbatims, all.negative, all.positive, all.scored()), (4, 2, 1, 4));
    }
}
