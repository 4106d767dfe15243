//! What KPIs are computed from: for each group and period, how many verbatims gave each score
//! and each sentiment. Counts add up exactly across index segments and merge in any order;
//! every KPI, its interval and its change are computed from them at the end.

use std::collections::HashMap;

use chrono::NaiveDate;

use crate::domain::{SentimentLabel, CES_SCALE, CSAT_SCALE, NPS_SCALE};

/// The answers of a set of verbatims, counted.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Tally {
    pub verbatims: u64,
    /// Answers per NPS score, 0 to 10.
    pub nps: [u64; 11],
    /// Answers per CSAT score, 1 to 5 (index 0 is 1).
    pub csat: [u64; 5],
    /// Answers per CES score, 1 to 7 (index 0 is 1).
    pub ces: [u64; 7],
    /// Verbatims per document sentiment, in the order of [`SentimentLabel::DOCUMENT`].
    pub sentiment: [u64; 4],
}

impl Tally {
    /// Counts one verbatim; a score off its scale (none is stored) is left out.
    pub fn count(&mut self, nps: Option<u64>, csat: Option<u64>, ces: Option<u64>, sentiment: Option<SentimentLabel>) {
        self.verbatims += 1;
        let on_scale = |score: Option<u64>, scale: &std::ops::RangeInclusive<u8>| {
            score.filter(|s| (u64::from(*scale.start())..=u64::from(*scale.end())).contains(s)).map(|s| s as usize)
        };
        if let Some(score) = on_scale(nps, &NPS_SCALE) {
            self.nps[score] += 1;
        }
        if let Some(score) = on_scale(csat, &CSAT_SCALE) {
            self.csat[score - 1] += 1;
        }
        if let Some(score) = on_scale(ces, &CES_SCALE) {
            self.ces[score - 1] += 1;
        }
        if let Some(label) = sentiment {
            self.sentiment[slot_of(label)] += 1;
        }
    }

    pub fn add(&mut self, other: &Tally) {
        self.verbatims += other.verbatims;
        let add = |mine: &mut [u64], theirs: &[u64]| mine.iter_mut().zip(theirs).for_each(|(m, t)| *m += t);
        add(&mut self.nps, &other.nps);
        add(&mut self.csat, &other.csat);
        add(&mut self.ces, &other.ces);
        add(&mut self.sentiment, &other.sentiment);
    }

    /// Verbatims with the given sentiment.
    pub fn with_sentiment(&self, label: SentimentLabel) -> u64 {
        self.sentiment[slot_of(label)]
    }
}

/// Where a sentiment is counted in [`Tally::sentiment`].
fn slot_of(label: SentimentLabel) -> usize {
    SentimentLabel::DOCUMENT.iter().position(|l| *l == label).expect("a document label")
}

/// A group's value (`None`: verbatims without one) and a period's first day (`None`: all time).
pub type CellKey = (Option<String>, Option<NaiveDate>);

/// The tallies of a KPI request: per group and period, and per period over every matching
/// verbatim (a verbatim can be in several groups, so the total is not the groups' sum).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Cells {
    pub groups: HashMap<CellKey, Tally>,
    pub total: HashMap<Option<NaiveDate>, Tally>,
}

impl Cells {
    pub fn merge(&mut self, other: Cells) {
        for (key, tally) in other.groups {
            self.groups.entry(key).or_default().add(&tally);
        }
        for (key, tally) in other.total {
            self.total.entry(key).or_default().add(&tally);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tallies_count_scores_on_their_scales_and_add_up() {
        let mut a = Tally::default();
        a.count(Some(10), Some(5), Some(1), Some(SentimentLabel::Mixed));
        a.count(Some(0), None, Some(7), None);
        a.count(Some(11), Some(0), Some(8), Some(SentimentLabel::Negative));
        assert_eq!((a.verbatims, a.nps[10], a.nps[0], a.csat[4], a.ces[0], a.ces[6]), (3, 1, 1, 1, 1, 1));
        assert_eq!(a.nps.iter().sum::<u64>() + a.csat.iter().sum::<u64>(), 3);
        let mut b = a.clone();
        b.add(&a);
        assert_eq!(b.verbatims, 6);
        assert_eq!(b.with_sentiment(SentimentLabel::Mixed), 2);
    }
}
