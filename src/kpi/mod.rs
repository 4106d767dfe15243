//! KPIs of the feedback: NPS, CSAT, CES and net sentiment, by segment and period, with their
//! 95 % intervals and whether they moved. The API (`GET /v1/kpis`) and `verbatim kpis` share
//! one request parser, [`KpiRequest::from_params`]: every search filter applies, as in search.
//!
//! The index counts the answers (see `crate::index` for the collector that reads its columns,
//! never the stored verbatims) into [`Cells`]; [`report`] turns them into KPIs.

mod follow_ups;
mod report;
mod stats;
mod tally;

use std::collections::HashSet;

use chrono::{DateTime, NaiveDate, Utc};
use chrono_tz::Tz;

pub use follow_ups::{loop_kpis, LoopGroupBy, LoopKpis};
pub use report::{nps, report, GroupKpis, KpiReport, Kpis, PeriodKpis, TooManyPeriods, MAX_PERIODS};
pub use stats::{change, mean, net_score, share, Change, Estimate};
pub use tally::{CellKey, Cells, Tally};

use crate::domain::{clamp_to_supported, day_start, Period};
use crate::search::{ParamError, SearchRequest, PAGING_PARAMETERS};

/// Groups listed by default, the largest first.
pub const DEFAULT_GROUPS: usize = 100;
pub const MAX_GROUPS: usize = 1000;

/// What KPIs are counted by.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GroupBy {
    Channel,
    Language,
    Topic,
    RootCause,
    Emotion,
    Sentiment,
    /// The value of one metadata key (`metadata.store`).
    Metadata(String),
}

impl GroupBy {
    pub fn parse(name: &str) -> Option<GroupBy> {
        Some(match name {
            "channel" => GroupBy::Channel,
            "language" => GroupBy::Language,
            "topic" => GroupBy::Topic,
            "root_cause" => GroupBy::RootCause,
            "emotion" => GroupBy::Emotion,
            "sentiment" => GroupBy::Sentiment,
            _ => GroupBy::Metadata(name.strip_prefix("metadata.").filter(|key| !key.is_empty())?.to_string()),
        })
    }

    /// Its name in a request, and in a report.
    pub fn name(&self) -> String {
        match self {
            GroupBy::Metadata(key) => format!("metadata.{key}"),
            other => other.index_field().to_string(),
        }
    }

    /// The index column holding the values (metadata's holds `key=value` for every key).
    pub fn index_field(&self) -> &'static str {
        match self {
            GroupBy::Channel => "channel",
            GroupBy::Language => "language",
            GroupBy::Topic => "topic",
            GroupBy::RootCause => "root_cause",
            GroupBy::Emotion => "emotion",
            GroupBy::Sentiment => "sentiment",
            GroupBy::Metadata(_) => "metadata",
        }
    }

    /// The group of a value of [`Self::index_field`], or `None` when the value is not this
    /// grouping's (another metadata key's).
    pub fn group_of<'a>(&self, value: &'a str) -> Option<&'a str> {
        match self {
            GroupBy::Metadata(key) => value.strip_prefix(key.as_str())?.strip_prefix('='),
            _ => Some(value),
        }
    }
}

/// A KPI request: which verbatims (a search's query and filters), grouped how, over which
/// periods.
#[derive(Debug, Clone, PartialEq)]
pub struct KpiRequest {
    pub filter: SearchRequest,
    pub group_by: Option<GroupBy>,
    pub period: Option<Period>,
    /// The zone of periods, of their starts, and of `from` and `to` given as plain dates
    /// (UTC unless given).
    pub tz: Tz,
    /// The most groups listed, the largest first.
    pub groups: usize,
}

impl KpiRequest {
    /// Parses `group_by`, `period`, `tz`, `groups` and every search filter.
    pub fn from_params<'a>(params: impl IntoIterator<Item = (&'a str, &'a str)>) -> Result<KpiRequest, ParamError> {
        let mut request = KpiRequest {
            filter: SearchRequest::default(),
            group_by: None,
            period: None,
            tz: Tz::UTC,
            groups: DEFAULT_GROUPS,
        };
        let mut seen = HashSet::new();
        let mut filters = Vec::new();
        let mut local_days = Vec::new();
        let error = |parameter: &str, message: String| ParamError { parameter: parameter.to_string(), message };
        for (key, value) in params {
            let own = ["group_by", "period", "tz", "groups"].contains(&key);
            if own && !seen.insert(key) {
                return Err(error(key, "given more than once; it takes a single value".to_string()));
            }
            match key {
                "group_by" => {
                    request.group_by = Some(GroupBy::parse(value).ok_or_else(|| {
                        error(
                            key,
                            format!(
                                "`{value}` is not channel, language, topic, root_cause, emotion, sentiment or \
                                 metadata.KEY"
                            ),
                        )
                    })?)
                }
                "period" => {
                    request.period = Some(
                        Period::parse(value)
                            .ok_or_else(|| error(key, format!("`{value}` is not day, week or month")))?,
                    )
                }
                "tz" => {
                    request.tz = value.parse().map_err(|_| {
                        error(key, format!("`{value}` is not an IANA time zone name such as Europe/Paris or UTC"))
                    })?
                }
                "groups" => {
                    request.groups = value
                        .parse()
                        .ok()
                        .filter(|n| (1..=MAX_GROUPS).contains(n))
                        .ok_or_else(|| error(key, format!("expected an integer from 1 to {MAX_GROUPS}")))?
                }
                paging if PAGING_PARAMETERS.contains(&paging) => {
                    return Err(error(key, "KPIs count every match; they take no paging or sort".to_string()))
                }
                _ => {
                    if let ("from" | "to", Ok(day)) = (key, value.trim().parse::<NaiveDate>()) {
                        local_days.push((key, day));
                    }
                    filters.push((key, value))
                }
            }
        }
        request.filter = SearchRequest::from_params(filters)?;
        // A date without a time is a day in the request's zone: `from=2026-11-01&tz=Europe/Paris`
        // starts at midnight in Paris.
        for (key, day) in local_days {
            let start = Some(clamp_to_supported(day_start(day, request.tz).with_timezone(&Utc)));
            match key {
                "from" => request.filter.from = start,
                _ => request.filter.to = start,
            }
        }
        if let (Some(from), Some(to)) = (request.filter.from, request.filter.to) {
            if to <= from {
                return Err(error("to", "`to` must come after `from` (it is exclusive)".to_string()));
            }
        }
        Ok(request)
    }

    /// The window just before `[from, to)` and as long, with the same filters: what the
    /// totals' change is measured against. `None` unless both bounds are given.
    pub fn previous_window(&self) -> Option<SearchRequest> {
        let (from, to) = (self.filter.from?, self.filter.to?);
        let length = to.signed_duration_since(from);
        let previous_from: DateTime<Utc> = from.checked_sub_signed(length)?;
        Some(SearchRequest { from: Some(previous_from), to: Some(from), ..self.filter.clone() })
    }
}

/// Answers `request`: `count` tallies what a filter selects (per period when given one), for
/// the request's window and, with `from` and `to`, for the window before it.
pub fn answer<E: From<TooManyPeriods>>(
    request: &KpiRequest,
    count: impl Fn(&SearchRequest, Option<(Period, Tz)>) -> Result<Cells, E>,
) -> Result<KpiReport, E> {
    let cells = count(&request.filter, request.period.map(|p| (p, request.tz)))?;
    let previous = request.previous_window().map(|window| count(&window, None)).transpose()?;
    Ok(report(request, &cells, previous.as_ref())?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_groupings_periods_zones_and_filters() {
        let r = KpiRequest::from_params([
            ("group_by", "metadata.store"),
            ("period", "week"),
            ("tz", "Europe/Paris"),
            ("channel", "email"),
            ("from", "2026-11-01"),
            ("to", "2026-12-01"),
        ])
        .unwrap();
        assert_eq!(r.group_by, Some(GroupBy::Metadata("store".to_string())));
        assert_eq!((r.period, r.tz.name()), (Some(Period::Week), "Europe/Paris"));
        assert_eq!(r.filter.channels.len(), 1);
        let previous = r.previous_window().unwrap();
        // Plain dates are days in Paris (UTC+1 in November); the window before is as long.
        assert_eq!(r.filter.from.unwrap().to_rfc3339(), "2026-10-31T23:00:00+00:00");
        assert_eq!(previous.from.unwrap().to_rfc3339(), "2026-10-01T23:00:00+00:00");
        assert_eq!(previous.to, r.filter.from);
        assert_eq!(GroupBy::Metadata("store".into()).group_of("store=Lyon"), Some("Lyon"));
        assert_eq!(GroupBy::Metadata("store".into()).group_of("storey=2"), None);
    }

    #[test]
    fn refuses_what_it_does_not_understand() {
        for (key, value) in [
            ("group_by", "colour"),
            ("group_by", "metadata."),
            ("period", "year"),
            ("tz", "Mars/Olympus"),
            ("groups", "0"),
            ("limit", "5"),
            ("nps_min", "11"),
        ] {
            assert_eq!(KpiRequest::from_params([(key, value)]).unwrap_err().parameter, key);
        }
        let empty_window = [("from", "2026-01-01"), ("to", "2026-01-01")];
        assert_eq!(KpiRequest::from_params(empty_window).unwrap_err().parameter, "to");
        assert_eq!(KpiRequest::from_params([("groups", "1001")]).unwrap_err().parameter, "groups");
        assert!(KpiRequest::from_params([("period", "day"), ("period", "week")]).is_err());
    }
}
