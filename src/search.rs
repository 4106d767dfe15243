//! What an analyst asks for and what comes back, independent of the engine that answers.
//!
//! The HTTP API (`GET /v1/search?…`) and the `verbatim search` command share one parser,
//! [`SearchRequest::from_params`], so a filter means the same thing everywhere.

use std::collections::{BTreeMap, HashSet};
use std::ops::RangeInclusive;

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::domain::{
    aspect_key, clamp_to_supported, parse_timestamp, Channel, Emotion, NpsGroup, SentimentLabel, Verbatim, CES_SCALE,
    CSAT_SCALE, NO_EMOTION, NPS_SCALE,
};

pub const DEFAULT_LIMIT: usize = 10;
pub const MAX_LIMIT: usize = 100;
/// Deep pagination costs the engine `offset + limit` documents per page; past this, narrow the query.
pub const MAX_OFFSET: usize = 10_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Sort {
    #[default]
    Relevance,
    Newest,
}

/// An inclusive range over a survey score.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ScoreRange {
    pub min: Option<u8>,
    pub max: Option<u8>,
}

impl ScoreRange {
    pub fn is_open(&self) -> bool {
        self.min.is_none() && self.max.is_none()
    }
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct SearchRequest {
    /// Full-text query in Tantivy's syntax; `None` matches everything.
    pub query: Option<String>,
    pub languages: Vec<String>,
    pub channels: Vec<Channel>,
    pub nps_groups: Vec<NpsGroup>,
    pub sentiments: Vec<SentimentLabel>,
    /// Emotion names ([`crate::domain::Emotion`]), or `neutral` for verbatims expressing none:
    /// a verbatim expressing one of them matches.
    pub emotions: Vec<String>,
    /// Topic ids of the model in use (`-1`: verbatims near no topic).
    pub topics: Vec<i64>,
    /// Root-cause ids of the model in use: a verbatim stating one of them matches.
    pub root_causes: Vec<i64>,
    /// Aspects (see [`crate::domain::aspect_key`]), each alone (`livraison`) or with a
    /// polarity (`livraison:negative`): a verbatim judging one of them matches.
    pub aspects: Vec<String>,
    /// Category ids: a verbatim matches one of them (see [`CategoryRule`]).
    pub categories: Vec<i64>,
    /// The rules of `categories`, in the same order, read from the store by the reader that
    /// runs the request (the parser knows only the ids).
    pub category_rules: Vec<CategoryRule>,
    /// Inclusive bounds on the sentiment score, in [-1, 1].
    pub sentiment_score_min: Option<f64>,
    pub sentiment_score_max: Option<f64>,
    pub customer_id: Option<String>,
    /// Inclusive lower bound on `created_at`.
    pub from: Option<DateTime<Utc>>,
    /// Exclusive upper bound on `created_at`, so `from=2026-10-01&to=2026-11-01` is October.
    pub to: Option<DateTime<Utc>>,
    pub nps: ScoreRange,
    pub csat: ScoreRange,
    pub ces: ScoreRange,
    /// `metadata.KEY=VALUE` filters; all must hold.
    pub metadata: Vec<(String, String)>,
    pub sort: Sort,
    pub limit: usize,
    pub offset: usize,
}

/// Search parameters that shape a page of results rather than select verbatims: refused by
/// what counts every match (exports, KPIs) and by saved filters (jobs, alert rules).
pub const PAGING_PARAMETERS: [&str; 3] = ["sort", "limit", "offset"];

/// Parameters that take a list: repeating one adds to it (`channel=email&channel=chat`).
/// Any other parameter given twice is refused rather than one value silently winning.
const LIST_PARAMETERS: [&str; 9] =
    ["language", "channel", "nps_group", "sentiment", "emotion", "topic", "root_cause", "aspect", "category"];

/// A parameter the parser refused, named so the caller can fix it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("parameter `{parameter}`: {message}")]
pub struct ParamError {
    pub parameter: String,
    pub message: String,
}

fn param_error(parameter: &str, message: impl Into<String>) -> ParamError {
    ParamError { parameter: parameter.to_string(), message: message.into() }
}

impl SearchRequest {
    /// Whether the request matches every verbatim (no query, no filter).
    pub fn matches_everything(&self) -> bool {
        let paging =
            SearchRequest { sort: self.sort, limit: self.limit, offset: self.offset, ..SearchRequest::default() };
        *self == paging
    }

    /// Parses `key=value` pairs. Lists are comma-separated (`channel=email,chat`); metadata
    /// filters are `metadata.store=Lyon`; an unknown or repeated single-valued key is an
    /// error, not silently ignored.
    pub fn from_params<'a>(params: impl IntoIterator<Item = (&'a str, &'a str)>) -> Result<SearchRequest, ParamError> {
        let mut request = SearchRequest { limit: DEFAULT_LIMIT, ..SearchRequest::default() };
        let mut seen = HashSet::new();
        for (key, value) in params {
            if !LIST_PARAMETERS.contains(&key) && !seen.insert(key) {
                return Err(param_error(key, "given more than once; it takes a single value"));
            }
            match key {
                "q" => request.query = Some(value.to_string()).filter(|q| !q.trim().is_empty()),
                "language" => request.languages.extend(parse_list(key, value, |l| Some(l.to_string()), "a language")?),
                "channel" => {
                    request.channels.extend(parse_list(key, value, |name| Channel::parse(name).ok(), "a channel name")?)
                }
                "nps_group" => request.nps_groups.extend(parse_list(
                    key,
                    value,
                    NpsGroup::parse,
                    "detractor, passive or promoter",
                )?),
                "sentiment" => request.sentiments.extend(parse_list(
                    key,
                    value,
                    SentimentLabel::parse,
                    "negative, neutral, positive or mixed",
                )?),
                "emotion" => request.emotions.extend(parse_list(
                    key,
                    value,
                    |name| (name == NO_EMOTION || Emotion::parse(name).is_some()).then(|| name.to_string()),
                    "a GoEmotions emotion (anger, annoyance, joy, …) or neutral",
                )?),
                "topic" => request.topics.extend(parse_list(
                    key,
                    value,
                    |id| id.parse::<i64>().ok().filter(|id| *id >= -1),
                    "a topic id (-1 for none)",
                )?),
                "root_cause" => request.root_causes.extend(parse_list(
                    key,
                    value,
                    |id| id.parse::<i64>().ok().filter(|id| *id >= 0),
                    "a root cause id",
                )?),
                "aspect" => {
                    request.aspects.extend(parse_list(key, value, aspect_filter, "an aspect, or aspect:polarity")?)
                }
                "category" => request.categories.extend(parse_list(
                    key,
                    value,
                    |id| id.parse::<i64>().ok().filter(|id| *id >= 1),
                    "a category id",
                )?),
                "sentiment_score_min" => request.sentiment_score_min = Some(score(key, value)?),
                "sentiment_score_max" => request.sentiment_score_max = Some(score(key, value)?),
                "customer_id" => request.customer_id = Some(value.to_string()),
                "from" => request.from = Some(timestamp(key, value)?),
                "to" => request.to = Some(timestamp(key, value)?),
                "nps_min" => request.nps.min = Some(on_scale(key, value, NPS_SCALE)?),
                "nps_max" => request.nps.max = Some(on_scale(key, value, NPS_SCALE)?),
                "csat_min" => request.csat.min = Some(on_scale(key, value, CSAT_SCALE)?),
                "csat_max" => request.csat.max = Some(on_scale(key, value, CSAT_SCALE)?),
                "ces_min" => request.ces.min = Some(on_scale(key, value, CES_SCALE)?),
                "ces_max" => request.ces.max = Some(on_scale(key, value, CES_SCALE)?),
                "sort" => {
                    request.sort = match value {
                        "relevance" => Sort::Relevance,
                        "newest" => Sort::Newest,
                        _ => return Err(param_error(key, "expected `relevance` or `newest`")),
                    }
                }
                "limit" => request.limit = number(key, value, 1..=MAX_LIMIT)?,
                "offset" => request.offset = number(key, value, 0..=MAX_OFFSET)?,
                _ => match key.strip_prefix("metadata.") {
                    Some(meta_key) if !meta_key.is_empty() => {
                        request.metadata.push((meta_key.to_string(), value.to_string()))
                    }
                    _ => return Err(param_error(key, "unknown parameter")),
                },
            }
        }
        Ok(request)
    }
}

/// Why a saved filter (a job's, an alert rule's) was refused: `invalid_type` or `invalid_filter`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct FilterError {
    pub code: &'static str,
    pub message: String,
}

impl SearchRequest {
    /// A saved filter as JSON: an object of search parameters, each a string or a number
    /// (absent or `null`: every verbatim), checked to make a valid search.
    pub fn filter_params(value: Option<&serde_json::Value>) -> Result<BTreeMap<String, String>, FilterError> {
        use serde_json::Value;
        let invalid_type = |message: String| FilterError { code: "invalid_type", message };
        let filter = match value {
            None | Some(Value::Null) => BTreeMap::new(),
            Some(Value::Object(entries)) => entries
                .iter()
                .map(|(key, value)| match value {
                    Value::String(text) => Ok((key.clone(), text.clone())),
                    Value::Number(number) => Ok((key.clone(), number.to_string())),
                    _ => Err(invalid_type(format!("filter `{key}` must be a string or a number"))),
                })
                .collect::<Result<_, _>>()?,
            Some(_) => return Err(invalid_type("`filter` must be an object of search parameters".to_string())),
        };
        SearchRequest::from_filter(&filter)?;
        Ok(filter)
    }

    /// The search a saved filter means (the parameters of `GET /v1/search`, without paging).
    pub fn from_filter(filter: &BTreeMap<String, String>) -> Result<SearchRequest, FilterError> {
        let invalid = |message: String| FilterError { code: "invalid_filter", message };
        if let Some(key) = filter.keys().find(|key| PAGING_PARAMETERS.contains(&key.as_str())) {
            return Err(invalid(format!("`{key}` shapes search results; it is not a filter")));
        }
        SearchRequest::from_params(filter.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .map_err(|err| invalid(err.to_string()))
    }
}

/// A rule-based category: a saved query per language, which analysts define beside the
/// discovered topics (it does not depend on them, so it survives every re-discovery).
/// `fr` matches French verbatims and `en` the others; a category with one query only applies
/// it to every verbatim (each language's field reads the words its own way).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CategoryRule {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fr: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub en: Option<String>,
}

/// A date bound, brought into the years a verbatim can be dated in.
fn timestamp(key: &str, value: &str) -> Result<DateTime<Utc>, ParamError> {
    parse_timestamp(value)
        .map(clamp_to_supported)
        .ok_or_else(|| param_error(key, format!("`{value}` is not an RFC 3339 timestamp or YYYY-MM-DD")))
}

/// A comma-separated list of names, each case-insensitive; `expected` says what a name may be.
fn parse_list<T>(
    key: &str,
    value: &str,
    parse: impl Fn(&str) -> Option<T>,
    expected: &str,
) -> Result<Vec<T>, ParamError> {
    value
        .split(',')
        .map(str::trim)
        .filter(|name| !name.is_empty())
        .map(|name| {
            parse(&name.to_ascii_lowercase()).ok_or_else(|| param_error(key, format!("`{name}` is not {expected}")))
        })
        .collect()
}

/// An `aspect` filter's value as the index holds it: the aspect's key, and its polarity when
/// one follows a colon (`livraison:negative`).
fn aspect_filter(value: &str) -> Option<String> {
    let (term, polarity) = match value.rsplit_once(':') {
        // Aspects are judged with the models' classes; none is mixed.
        Some((term, polarity)) => {
            (term, Some(SentimentLabel::ALL.into_iter().find(|l| l.as_str() == polarity.trim())?))
        }
        None => (value, None),
    };
    let key = aspect_key(term);
    if key.is_empty() {
        return None;
    }
    Some(match polarity {
        Some(polarity) => format!("{key}:{}", polarity.as_str()),
        None => key,
    })
}

fn score(key: &str, value: &str) -> Result<f64, ParamError> {
    value
        .parse::<f64>()
        .ok()
        .filter(|v| (-1.0..=1.0).contains(v))
        .ok_or_else(|| param_error(key, "expected a number from -1 to 1"))
}

/// A bound on a survey score, which must lie on the score's own scale.
fn on_scale(key: &str, value: &str, scale: RangeInclusive<u8>) -> Result<u8, ParamError> {
    let allowed = usize::from(*scale.start())..=usize::from(*scale.end());
    number(key, value, allowed).map(|n| n as u8)
}

fn number(key: &str, value: &str, allowed: RangeInclusive<usize>) -> Result<usize, ParamError> {
    value
        .parse::<usize>()
        .ok()
        .filter(|n| allowed.contains(n))
        .ok_or_else(|| param_error(key, format!("expected an integer from {} to {}", allowed.start(), allowed.end())))
}

/// A span of the verbatim's text that matched, in Unicode code points.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Highlight {
    pub offset: usize,
    pub length: usize,
}

#[derive(Debug, Clone, Serialize)]
pub struct SearchHit {
    pub score: f32,
    pub verbatim: Verbatim,
    /// A short passage around the best match, HTML-escaped, matches wrapped in `<em>`.
    pub snippet: String,
    pub highlights: Vec<Highlight>,
}

#[derive(Debug, Clone, Serialize)]
pub struct SearchResponse {
    /// How many verbatims match, across all pages.
    pub total: usize,
    pub hits: Vec<SearchHit>,
    /// Counts over every match, per facet (`channel`, `language`, `nps_group`, `sentiment`,
    /// `topic`) and value.
    pub facets: BTreeMap<&'static str, BTreeMap<String, u64>>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn date_bounds_beyond_storable_years_are_clamped_not_overflowed() {
        let r = SearchRequest::from_params([("from", "1000-01-01"), ("to", "9999-12-31T00:00:00Z")]).unwrap();
        assert_eq!(r.from.unwrap().to_rfc3339(), "1900-01-01T00:00:00+00:00");
        assert_eq!(r.to.unwrap().to_rfc3339(), "2200-01-01T00:00:00+00:00");
    }

    #[test]
    fn parses_every_filter() {
        let r = SearchRequest::from_params([
            ("q", "livraison"),
            ("channel", "email, chat"),
            ("nps_group", "detractor"),
            ("from", "2026-10-01"),
            ("to", "2026-11-01T00:00:00Z"),
            ("csat_max", "2"),
            ("sentiment", "negative,neutral"),
            ("emotion", "Anger, neutral"),
            ("emotion", "annoyance"),
            ("sentiment_score_max", "-0.5"),
            ("metadata.store", "Lyon"),
            ("sort", "newest"),
            ("limit", "5"),
        ])
        .unwrap();
        assert_eq!(r.query.as_deref(), Some("livraison"));
        assert_eq!(r.channels, ["email", "chat"].map(|c| Channel::parse(c).unwrap()));
        assert_eq!(r.nps_groups, vec![NpsGroup::Detractor]);
        assert_eq!(r.csat, ScoreRange { min: None, max: Some(2) });
        assert_eq!(r.sentiments, vec![SentimentLabel::Negative, SentimentLabel::Neutral]);
        assert_eq!(r.emotions, ["anger", "neutral", "annoyance"]);
        assert_eq!(r.sentiment_score_max, Some(-0.5));
        assert_eq!(r.metadata, vec![("store".to_string(), "Lyon".to_string())]);
        assert_eq!((r.sort, r.limit), (Sort::Newest, 5));
        assert!(r.from.unwrap() < r.to.unwrap());
    }

    #[test]
    fn refuses_what_it_does_not_understand() {
        for (key, value) in [
            ("colour", "red"),
            ("nps_min", "11"),
            ("csat_min", "0"),
            ("ces_max", "8"),
            ("limit", "0"),
            ("limit", "500"),
            ("channel", "fax/modem"),
            ("sort", "oldest"),
            ("from", "last week"),
            ("emotion", "rage"),
        ] {
            let err = SearchRequest::from_params([(key, value)]).unwrap_err();
            assert_eq!(err.parameter, key);
        }
        let err = SearchRequest::from_params([("limit", "101")]).unwrap_err();
        assert_eq!(err.message, "expected an integer from 1 to 100");
    }

    #[test]
    fn a_single_valued_parameter_given_twice_is_refused_and_lists_add_up() {
        for (key, value) in
            [("q", "a"), ("limit", "5"), ("sort", "newest"), ("from", "2026-10-01"), ("metadata.store", "Lyon")]
        {
            assert!(SearchRequest::from_params([(key, value)]).is_ok());
            let err = SearchRequest::from_params([(key, value), (key, value)]).unwrap_err();
            assert_eq!(err.parameter, key);
            assert!(err.message.contains("more than once"), "{err}");
        }
        let r =
            SearchRequest::from_params([("channel", "email"), ("channel", "chat"), ("sentiment", "negative")]).unwrap();
        assert_eq!(r.channels, ["email", "chat"].map(|c| Channel::parse(c).unwrap()));
        // Distinct metadata keys are distinct parameters.
        let r = SearchRequest::from_params([("metadata.store", "Lyon"), ("metadata.region", "Sud")]).unwrap();
        assert_eq!(r.metadata.len(), 2);
    }
}
