//! What KPIs are computed from: for each group and period, how many verbatims gave each score
//! and each sentiment. Counts add up exactly across index segments and merge in any order;
//! every KPI, its interval and its change are computed from them at the end.

use std::collections::HashMap;

use chrono::{DateTime, Datelike, Days, NaiveDate, TimeZone, Utc};
use chrono_tz::Tz;
use serde::Serialize;

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

/// The calendar periods KPIs are followed by, in the request's time zone; weeks start on
/// Monday (ISO 8601).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Period {
    Day,
    Week,
    Month,
}

impl Period {
    pub fn parse(name: &str) -> Option<Period> {
        [Period::Day, Period::Week, Period::Month].into_iter().find(|p| p.as_str() == name)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Period::Day => "day",
            Period::Week => "week",
            Period::Month => "month",
        }
    }

    /// The first day of the period holding `day`.
    pub fn start(self, day: NaiveDate) -> NaiveDate {
        match self {
            Period::Day => day,
            Period::Week => day - Days::new(u64::from(day.weekday().num_days_from_monday())),
            Period::Month => day.with_day(1).expect("every month has a first day"),
        }
    }

    /// The first day of the period after the one starting on `start`.
    pub fn next(self, start: NaiveDate) -> NaiveDate {
        match self {
            Period::Day => start + Days::new(1),
            Period::Week => start + Days::new(7),
            Period::Month => start.checked_add_months(chrono::Months::new(1)).expect("dates are bounded"),
        }
    }

    /// The start of the period holding `at`, in `tz`.
    pub fn of(self, at: DateTime<Utc>, tz: Tz) -> NaiveDate {
        self.start(at.with_timezone(&tz).date_naive())
    }
}

/// The instant a local day starts in `tz`: midnight, or the first moment after midnight where
/// a daylight-saving change skips it.
pub fn day_start(day: NaiveDate, tz: Tz) -> DateTime<Tz> {
    (0..=3)
        .find_map(|hour| tz.from_local_datetime(&day.and_hms_opt(hour, 0, 0).expect("a valid hour")).earliest())
        .unwrap_or_else(|| tz.from_utc_datetime(&day.and_hms_opt(0, 0, 0).expect("midnight")))
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

    fn date(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    #[test]
    fn periods_start_on_the_first_day_weeks_on_monday() {
        // 2026-11-26 is a Thursday.
        assert_eq!(Period::Week.start(date("2026-11-26")), date("2026-11-23"));
        assert_eq!(Period::Week.start(date("2026-11-23")), date("2026-11-23"));
        assert_eq!(Period::Week.start(date("2026-11-29")), date("2026-11-23"));
        assert_eq!(Period::Month.start(date("2026-11-26")), date("2026-11-01"));
        assert_eq!(Period::Month.next(date("2026-12-01")), date("2027-01-01"));
    }

    #[test]
    fn periods_follow_the_time_zone() {
        let tz: Tz = "Europe/Paris".parse().unwrap();
        // 23:30 UTC on Sunday 29 November is 00:30 on Monday 30 November in Paris.
        let at = "2026-11-29T23:30:00Z".parse::<DateTime<Utc>>().unwrap();
        assert_eq!(Period::Week.of(at, Tz::UTC), date("2026-11-23"));
        assert_eq!(Period::Week.of(at, tz), date("2026-11-30"));
        assert_eq!(day_start(date("2026-11-30"), tz).to_rfc3339(), "2026-11-30T00:00:00+01:00");
        assert_eq!(day_start(date("2026-07-01"), tz).to_rfc3339(), "2026-07-01T00:00:00+02:00");
    }

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
