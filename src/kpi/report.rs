//! The KPI report: tallies turned into KPIs with intervals and changes, per group and period,
//! as JSON (the API's body), CSV (for spreadsheets) or a table (for a terminal).

use std::collections::HashMap;
use std::io::Write;

use chrono::{Duration, NaiveDate};
use serde::Serialize;

use super::stats::{change, mean, net_score, share, Change, Estimate};
use super::tally::{Cells, Tally};
use super::KpiRequest;
use crate::domain::{day_start, NpsGroup, Period, SentimentLabel, CES_EASY, CES_SCALE, CSAT_SATISFIED};

/// The most periods one report lists (three years of days).
pub const MAX_PERIODS: usize = 1100;

/// A report would list more periods than [`MAX_PERIODS`].
#[derive(Debug, Clone, thiserror::Error)]
#[error("{periods} periods of a {period} are more than {MAX_PERIODS}; narrow the dates (from, to) or choose a longer period")]
pub struct TooManyPeriods {
    pub periods: usize,
    pub period: &'static str,
}

/// The KPIs, one way to compute each.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kpi {
    Nps,
    Csat,
    Ces,
    CesEasy,
    NetSentiment,
}

impl Kpi {
    fn estimate(self, tally: &Tally) -> Option<Estimate> {
        match self {
            Kpi::Nps => nps(tally),
            Kpi::Csat => share_in(&tally.csat, &CSAT_SATISFIED),
            Kpi::Ces => mean(
                (1u8..).zip(tally.ces).map(|(score, n)| (f64::from(score), n)),
                [f64::from(*CES_SCALE.start()), f64::from(*CES_SCALE.end())],
            ),
            Kpi::CesEasy => share_in(&tally.ces, &CES_EASY),
            Kpi::NetSentiment => {
                // `mixed` counts in neither share.
                let count = |label| tally.with_sentiment(label);
                let others = count(SentimentLabel::Neutral) + count(SentimentLabel::Mixed);
                net_score(count(SentimentLabel::Positive), others, count(SentimentLabel::Negative))
            }
        }
    }
}

/// The NPS of a tally, in points, with what its change test needs.
pub fn nps(tally: &Tally) -> Option<Estimate> {
    let (mut promoters, mut passives, mut detractors) = (0, 0, 0);
    for (score, answers) in (0u8..).zip(tally.nps) {
        match NpsGroup::of(score) {
            NpsGroup::Promoter => promoters += answers,
            NpsGroup::Passive => passives += answers,
            NpsGroup::Detractor => detractors += answers,
        }
    }
    net_score(promoters, passives, detractors)
}

/// The share of answers within `wanted`, from counts per score of a scale starting at 1.
fn share_in(answers: &[u64], wanted: &std::ops::RangeInclusive<u8>) -> Option<Estimate> {
    let hits = (1u8..).zip(answers).filter(|(score, _)| wanted.contains(score)).map(|(_, n)| n).sum();
    share(hits, answers.iter().sum())
}

/// The KPIs of a set of verbatims. Shares are in percent, NPS and net sentiment in points
/// (−100 to 100), CES on its 1–7 scale; each comes with its 95 % interval and the number of
/// answers it rests on, and is `null` without answers.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Kpis {
    /// Verbatims counted.
    pub count: u64,
    pub nps: Option<f64>,
    pub nps_ci: Option<[f64; 2]>,
    pub nps_count: u64,
    /// Share of CSAT answers 4–5 of 5.
    pub csat: Option<f64>,
    pub csat_ci: Option<[f64; 2]>,
    pub csat_count: u64,
    /// Mean CES answer.
    pub ces: Option<f64>,
    pub ces_ci: Option<[f64; 2]>,
    /// Share of CES answers 5–7 of 7.
    pub ces_easy: Option<f64>,
    pub ces_easy_ci: Option<[f64; 2]>,
    pub ces_count: u64,
    /// Share positive less share negative.
    pub net_sentiment: Option<f64>,
    pub net_sentiment_ci: Option<[f64; 2]>,
    pub net_sentiment_count: u64,
}

impl Kpis {
    pub fn of(tally: &Tally) -> Kpis {
        let value = |kpi: Kpi| kpi.estimate(tally);
        let (nps, csat, ces, easy, net) =
            (value(Kpi::Nps), value(Kpi::Csat), value(Kpi::Ces), value(Kpi::CesEasy), value(Kpi::NetSentiment));
        Kpis {
            count: tally.verbatims,
            nps: nps.map(|e| e.value),
            nps_ci: nps.and_then(|e| e.interval),
            nps_count: tally.nps.iter().sum(),
            csat: csat.map(|e| e.value),
            csat_ci: csat.and_then(|e| e.interval),
            csat_count: tally.csat.iter().sum(),
            ces: ces.map(|e| e.value),
            ces_ci: ces.and_then(|e| e.interval),
            ces_easy: easy.map(|e| e.value),
            ces_easy_ci: easy.and_then(|e| e.interval),
            ces_count: tally.ces.iter().sum(),
            net_sentiment: net.map(|e| e.value),
            net_sentiment_ci: net.and_then(|e| e.interval),
            net_sentiment_count: tally.sentiment.iter().sum(),
        }
    }
}

/// How each KPI moved from a previous set of verbatims; `null` where either side has too few
/// answers to tell.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Changes {
    pub nps: Option<Change>,
    pub csat: Option<Change>,
    pub ces: Option<Change>,
    pub ces_easy: Option<Change>,
    pub net_sentiment: Option<Change>,
}

impl Changes {
    fn between(current: &Tally, previous: &Tally) -> Changes {
        let moved = |kpi: Kpi| change(&kpi.estimate(current)?, &kpi.estimate(previous)?);
        Changes {
            nps: moved(Kpi::Nps),
            csat: moved(Kpi::Csat),
            ces: moved(Kpi::Ces),
            ces_easy: moved(Kpi::CesEasy),
            net_sentiment: moved(Kpi::NetSentiment),
        }
    }

    fn each(&self) -> [Option<Change>; 5] {
        [self.nps, self.csat, self.ces, self.ces_easy, self.net_sentiment]
    }
}

/// One period of a group.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PeriodKpis {
    /// When the period starts, in the request's time zone (RFC 3339).
    pub start: String,
    #[serde(flatten)]
    pub kpis: Kpis,
    /// Against the period before (`null` for the first listed).
    pub change: Option<Changes>,
}

/// A group's KPIs over the whole window, and per period when asked.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GroupKpis {
    /// The group's value (`null`: the verbatims without one, or the total).
    pub key: Option<String>,
    #[serde(flatten)]
    pub kpis: Kpis,
    /// Against the window as long just before `from` (only when `from` and `to` are given).
    pub change: Option<Changes>,
    pub periods: Vec<PeriodKpis>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct KpiReport {
    pub group_by: Option<String>,
    pub period: Option<Period>,
    pub tz: String,
    /// Every matching verbatim (a verbatim can be in several groups: the total is not their sum).
    pub total: GroupKpis,
    /// The largest groups first.
    pub groups: Vec<GroupKpis>,
}

/// Builds the report of `request` from its tallies; `previous` holds the tallies of
/// [`KpiRequest::previous_window`], without periods.
pub fn report(request: &KpiRequest, cells: &Cells, previous: Option<&Cells>) -> Result<KpiReport, TooManyPeriods> {
    let starts = period_starts(request, cells.total.keys().flatten().copied())?;
    let group = |key: Option<String>, tally_at: &dyn Fn(Option<NaiveDate>) -> Option<Tally>, before: Option<Tally>| {
        let whole = match request.period {
            Some(_) => starts.iter().filter_map(|s| tally_at(Some(*s))).fold(Tally::default(), |mut sum, t| {
                sum.add(&t);
                sum
            }),
            None => tally_at(None).unwrap_or_default(),
        };
        let mut periods = Vec::with_capacity(starts.len());
        let mut last: Option<Tally> = None;
        for start in &starts {
            let tally = tally_at(Some(*start)).unwrap_or_default();
            periods.push(PeriodKpis {
                start: day_start(*start, request.tz).to_rfc3339(),
                kpis: Kpis::of(&tally),
                change: last.as_ref().map(|before| Changes::between(&tally, before)),
            });
            last = Some(tally);
        }
        GroupKpis {
            key,
            kpis: Kpis::of(&whole),
            change: before.map(|before| Changes::between(&whole, &before)),
            periods,
        }
    };
    let previous_total = previous.map(|p| p.total.get(&None).cloned().unwrap_or_default());
    let total = group(None, &|start| cells.total.get(&start).cloned(), previous_total);

    // The largest groups first, chosen on their counts before any KPI is computed: a grouping
    // with many values (an order id in metadata) costs its counts, not its KPIs.
    let mut sizes: HashMap<&Option<String>, u64> = HashMap::new();
    for ((key, _), tally) in &cells.groups {
        *sizes.entry(key).or_default() += tally.verbatims;
    }
    let mut keys: Vec<(&Option<String>, u64)> = sizes.into_iter().collect();
    keys.sort_by(|(a, a_count), (b, b_count)| b_count.cmp(a_count).then_with(|| a.cmp(b)));
    keys.truncate(request.groups);
    let groups = match &request.group_by {
        None => Vec::new(),
        Some(_) => keys
            .into_iter()
            .map(|(key, _)| {
                let before = previous.map(|p| p.groups.get(&(key.clone(), None)).cloned().unwrap_or_default());
                group(key.clone(), &|start| cells.groups.get(&(key.clone(), start)).cloned(), before)
            })
            .collect(),
    };
    Ok(KpiReport {
        group_by: request.group_by.as_ref().map(|g| g.name()),
        period: request.period,
        tz: request.tz.name().to_string(),
        total,
        groups,
    })
}

/// Every period from the one holding `from` (else the first with verbatims) to the one
/// holding the last instant before `to` (else the last with verbatims), empty ones included
/// so a chart's axis has no holes.
fn period_starts(
    request: &KpiRequest,
    seen: impl Iterator<Item = NaiveDate> + Clone,
) -> Result<Vec<NaiveDate>, TooManyPeriods> {
    let Some(period) = request.period else { return Ok(Vec::new()) };
    let first = request.filter.from.map(|from| period.of(from, request.tz)).or_else(|| seen.clone().min());
    let last = request.filter.to.map(|to| period.of(to - Duration::microseconds(1), request.tz)).or_else(|| seen.max());
    let (Some(first), Some(last)) = (first, last) else { return Ok(Vec::new()) };
    let starts: Vec<NaiveDate> = period.starts(first, period.next(last)).collect();
    if starts.len() > MAX_PERIODS {
        return Err(TooManyPeriods { periods: starts.len(), period: period.as_str() });
    }
    Ok(starts)
}

impl KpiReport {
    /// One CSV row per group and period (`total` rows first), with every KPI, its interval
    /// and its change.
    pub fn write_csv(&self, out: impl Write) -> anyhow::Result<()> {
        let mut csv = csv::Writer::from_writer(out);
        let mut header = vec!["row".to_string(), self.group_by.clone().unwrap_or_else(|| "group".into())];
        header.push("period_start".into());
        header.push("count".into());
        for name in KPI_NAMES {
            for suffix in ["", "_low", "_high", "_count", "_change", "_change_p", "_change_significant"] {
                header.push(format!("{name}{suffix}"));
            }
        }
        csv.write_record(&header)?;
        let groups = std::iter::once(("total", &self.total)).chain(self.groups.iter().map(|g| ("group", g)));
        for (row, group) in groups {
            let key = group.key.clone().unwrap_or_default();
            csv.write_record(csv_row(row, &key, "", &group.kpis, group.change.as_ref()))?;
            for period in &group.periods {
                csv.write_record(csv_row(row, &key, &period.start, &period.kpis, period.change.as_ref()))?;
            }
        }
        csv.flush()?;
        Ok(())
    }

    /// A table for a terminal: each group's (and period's) KPIs with their intervals.
    pub fn write_table(&self, mut out: impl Write) -> anyhow::Result<()> {
        let mut rows = vec![["group", "period", "count", "NPS", "CSAT %", "CES", "easy %", "net sentiment"]
            .map(str::to_string)
            .to_vec()];
        let groups = std::iter::once(&self.total).chain(&self.groups);
        for (i, group) in groups.enumerate() {
            let key = match (i, &group.key) {
                (0, _) => "(all)".to_string(),
                (_, Some(key)) => key.clone(),
                (_, None) => "(none)".to_string(),
            };
            rows.push(table_row(&key, "", &group.kpis));
            for period in &group.periods {
                rows.push(table_row("", &period.start[..10], &period.kpis));
            }
        }
        let widths: Vec<usize> =
            (0..rows[0].len()).map(|c| rows.iter().map(|r| r[c].chars().count()).max().unwrap_or(0)).collect();
        for row in rows {
            let cells: Vec<String> = row.iter().zip(&widths).map(|(cell, w)| format!("{cell:<w$}")).collect();
            writeln!(out, "{}", cells.join("  ").trim_end())?;
        }
        Ok(())
    }
}

const KPI_NAMES: [&str; 5] = ["nps", "csat", "ces", "ces_easy", "net_sentiment"];

fn values(kpis: &Kpis) -> [(Option<f64>, Option<[f64; 2]>, u64); 5] {
    [
        (kpis.nps, kpis.nps_ci, kpis.nps_count),
        (kpis.csat, kpis.csat_ci, kpis.csat_count),
        (kpis.ces, kpis.ces_ci, kpis.ces_count),
        (kpis.ces_easy, kpis.ces_easy_ci, kpis.ces_count),
        (kpis.net_sentiment, kpis.net_sentiment_ci, kpis.net_sentiment_count),
    ]
}

/// A group's value as a spreadsheet cell: values come from clients' metadata, and a cell
/// starting with `=`, `+`, `-` or `@` would run as a formula in the analyst's spreadsheet.
fn inert(value: &str) -> String {
    match value.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        true => format!("'{value}"),
        false => value.to_string(),
    }
}

fn csv_row(row: &str, key: &str, start: &str, kpis: &Kpis, changes: Option<&Changes>) -> Vec<String> {
    let number = |v: Option<f64>| v.map(|v| v.to_string()).unwrap_or_default();
    let mut record = vec![row.to_string(), inert(key), start.to_string(), kpis.count.to_string()];
    let moves = changes.map(Changes::each).unwrap_or_default();
    for ((value, interval, count), moved) in values(kpis).into_iter().zip(moves) {
        record.push(number(value));
        record.push(number(interval.map(|i| i[0])));
        record.push(number(interval.map(|i| i[1])));
        record.push(count.to_string());
        record.push(number(moved.map(|c| c.delta)));
        record.push(number(moved.map(|c| c.p_value)));
        record.push(moved.map(|c| c.significant.to_string()).unwrap_or_default());
    }
    record
}

fn table_row(key: &str, start: &str, kpis: &Kpis) -> Vec<String> {
    let mut row = vec![key.to_string(), start.to_string(), kpis.count.to_string()];
    for (value, interval, _) in values(kpis) {
        row.push(match (value, interval) {
            (Some(v), Some([low, high])) => format!("{v:.1} [{low:.1}, {high:.1}]"),
            (Some(v), None) => format!("{v:.1}"),
            _ => "-".to_string(),
        });
    }
    row
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kpi::{GroupBy, KpiRequest};

    fn day(s: &str) -> Option<NaiveDate> {
        Some(s.parse().unwrap())
    }

    fn answers(nps: &[u64]) -> Tally {
        let mut tally = Tally::default();
        nps.iter().for_each(|score| tally.count(Some(*score), None, None, None));
        tally
    }

    #[test]
    fn periods_have_no_holes_groups_come_largest_first_and_changes_follow_the_periods() {
        let request = KpiRequest::from_params([("group_by", "emotion"), ("period", "week")]).unwrap();
        let mut cells = Cells::default();
        // Weeks of 2 and 16 November; the week of 9 November has no verbatim.
        let (first, last) = (day("2026-11-02"), day("2026-11-16"));
        cells.groups.insert((Some("anger".into()), first), answers(&[0, 1, 2, 10]));
        cells.groups.insert((Some("anger".into()), last), answers(&[9, 10]));
        cells.groups.insert((Some("joy".into()), last), answers(&[10]));
        cells.total.insert(first, answers(&[0, 1, 2, 10]));
        cells.total.insert(last, answers(&[9, 10]));
        let report = report(&request, &cells, None).unwrap();
        assert_eq!(report.group_by.as_deref(), Some("emotion"));
        let starts: Vec<&str> = report.total.periods.iter().map(|p| &p.start[..10]).collect();
        assert_eq!(starts, ["2026-11-02", "2026-11-09", "2026-11-16"]);
        assert_eq!(report.total.kpis.count, 6);
        // 3 promoters, 3 detractors.
        assert_eq!(report.total.kpis.nps, Some(0.0));
        let keys: Vec<_> = report.groups.iter().map(|g| g.key.as_deref().unwrap()).collect();
        assert_eq!(keys, ["anger", "joy"]);
        let anger = &report.groups[0];
        assert_eq!(anger.periods[0].kpis.nps, Some(-50.0));
        assert_eq!(anger.periods[1].kpis.nps, None);
        // Against an empty week there is nothing to compare; the first week has no week before.
        assert!(anger.periods[0].change.is_none());
        assert_eq!(anger.periods[2].change.as_ref().unwrap().nps, None);
        assert!(anger.change.is_none());

        let fewer = KpiRequest { groups: 1, group_by: Some(GroupBy::Emotion), ..request };
        assert_eq!(super::report(&fewer, &cells, None).unwrap().groups.len(), 1);
    }

    #[test]
    fn totals_compare_with_the_previous_window() {
        let request = KpiRequest::from_params([("from", "2026-11-01"), ("to", "2026-12-01")]).unwrap();
        let mut now = Cells::default();
        now.total.insert(None, answers(&[10; 80].iter().chain(&[0; 20]).copied().collect::<Vec<_>>()));
        let mut before = Cells::default();
        before.total.insert(None, answers(&[10; 50].iter().chain(&[0; 50]).copied().collect::<Vec<_>>()));
        let report = report(&request, &now, Some(&before)).unwrap();
        let change = report.total.change.unwrap().nps.unwrap();
        assert_eq!(change.delta, 60.0);
        assert!(change.significant);
    }
}
