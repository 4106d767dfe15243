//! What the API shows of topics: the model in use, each topic with its names, what it holds
//! now (counted from the store, so verbatims ingested since the discovery count), its trend,
//! and for one topic its typical verbatims and its weeks.
//!
//! **Trends.** A topic's recent count (the last [`RECENT_DAYS`] days before `until`) is set
//! against its baseline, the mean count per [`RECENT_DAYS`] days over the
//! [`BASELINE_PERIODS`] periods before. `growth` is `(recent - baseline) / √(baseline + 1)`,
//! the excess in units of the Poisson noise a count that size has: a topic going from 2 to
//! 6 a week is not ahead of one going from 200 to 260. Sorting by it lists emerging issues.

use std::collections::HashMap;

use chrono::{DateTime, Duration, Utc};
use serde::Serialize;

use super::saved::DiscoveryRecord;
use super::{TopicAssigner, TopicNames};
use crate::domain::{Sentiment, Verbatim, NO_TOPIC};
use crate::store::{Grouping, SavedModel, Store, StoreError, TopicCounts, TopicWeek};

/// The recent period of a trend, in days.
pub const RECENT_DAYS: i64 = 7;
/// Periods of [`RECENT_DAYS`] that make a trend's baseline.
pub const BASELINE_PERIODS: i64 = 8;
/// Typical verbatims shown for one topic.
const EXAMPLES: usize = 5;
/// Weeks of history shown for one topic.
const WEEKS: i64 = 26;

/// How the topic list is ordered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TopicOrder {
    /// Largest first.
    #[default]
    Size,
    /// Fastest growing against their baseline first.
    Emerging,
}

/// `GET /v1/topics`.
#[derive(Debug, Serialize)]
pub struct TopicsReport {
    /// The model in use; `null` before the first discovery.
    pub model: Option<ModelInfo>,
    /// Verbatims the model in use places near no topic.
    pub unassigned: u64,
    pub topics: Vec<TopicView>,
}

#[derive(Debug, Serialize)]
pub struct ModelInfo {
    pub version: u32,
    #[serde(with = "crate::domain::rfc3339")]
    pub created_at: DateTime<Utc>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub job_id: Option<String>,
    /// `encoder` (the accurate mode) or `hashed` (the lightweight mode).
    pub vectors: &'static str,
    #[serde(flatten)]
    pub discovery: DiscoveryRecord,
}

impl ModelInfo {
    /// What the API shows of the saved model `saved`, in use as `assigner`.
    pub fn of(saved: SavedModel, assigner: &TopicAssigner) -> ModelInfo {
        ModelInfo {
            version: saved.version,
            created_at: saved.created_at,
            job_id: saved.job_id,
            vectors: assigner.saved.model.space.mode(),
            discovery: assigner.saved.discovery.clone(),
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct TopicView {
    pub id: i64,
    /// The analyst's name when one was given, else the discovered one.
    pub label: String,
    /// The discovered label, when an analyst renamed the topic.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub discovered_label: Option<String>,
    /// Kept by re-discoveries that do not find it again.
    pub pinned: bool,
    #[serde(flatten)]
    pub names: DiscoveredNames,
    /// Verbatims it holds now, by document sentiment.
    pub size: TopicCounts,
    pub trend: Trend,
}

/// The discovered names other than the label.
#[derive(Debug, Clone, Serialize)]
pub struct DiscoveredNames {
    #[serde(skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub labels: std::collections::BTreeMap<String, String>,
    pub terms: Vec<String>,
    pub phrases: Vec<String>,
}

#[derive(Debug, Clone, Copy, Serialize)]
pub struct Trend {
    /// Verbatims created in the last [`RECENT_DAYS`] days.
    pub recent: u64,
    /// Mean verbatims per [`RECENT_DAYS`] days over the [`BASELINE_PERIODS`] periods before.
    pub baseline: f64,
    /// `(recent - baseline) / √(baseline + 1)`.
    pub growth: f64,
}

impl Trend {
    /// The trend of `recent` verbatims in the last period after `before` in the
    /// [`BASELINE_PERIODS`] periods before it.
    pub fn of(recent: u64, before: u64) -> Trend {
        let baseline = before as f64 / BASELINE_PERIODS as f64;
        let growth = (recent as f64 - baseline) / (baseline + 1.0).sqrt();
        Trend { recent, baseline, growth: (growth * 1000.0).round() / 1000.0 }
    }
}

/// `GET /v1/topics/{id}`.
#[derive(Debug, Serialize)]
pub struct TopicDetail {
    #[serde(flatten)]
    pub topic: TopicView,
    /// The verbatims nearest its centre, nearest first.
    pub examples: Vec<Example>,
    /// Its verbatims week by week over the last 26 weeks (weeks without any are absent).
    pub weeks: Vec<TopicWeek>,
}

#[derive(Debug, Serialize)]
pub struct Example {
    pub id: String,
    pub text: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub language: Option<String>,
    #[serde(with = "crate::domain::rfc3339")]
    pub created_at: DateTime<Utc>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sentiment: Option<Sentiment>,
    pub similarity: f32,
}

impl From<Verbatim> for Example {
    fn from(v: Verbatim) -> Example {
        Example {
            similarity: v.topic.map_or(0.0, |t| t.similarity),
            id: v.id,
            text: v.text,
            language: v.language,
            created_at: v.created_at,
            sentiment: v.sentiment,
        }
    }
}

/// The topics of the model in use, with what they hold now and their trends to `until`.
pub fn topics_report(
    store: &Store,
    assigner: Option<&TopicAssigner>,
    until: DateTime<Utc>,
    order: TopicOrder,
) -> Result<TopicsReport, StoreError> {
    let Some(assigner) = assigner else { return Ok(TopicsReport { model: None, unassigned: 0, topics: Vec::new() }) };
    let counts = store.topic_counts()?;
    let mut topics = views(store, assigner, &counts, until)?;
    match order {
        TopicOrder::Size => topics.sort_by(|a, b| b.size.verbatims.cmp(&a.size.verbatims).then(a.id.cmp(&b.id))),
        TopicOrder::Emerging => topics.sort_by(|a, b| b.trend.growth.total_cmp(&a.trend.growth).then(a.id.cmp(&b.id))),
    }
    let saved = store.saved_model_header(Grouping::Topics)?;
    Ok(TopicsReport {
        model: saved.map(|saved| ModelInfo::of(saved, assigner)),
        unassigned: counts.get(&NO_TOPIC).map_or(0, |c| c.verbatims),
        topics,
    })
}

/// One topic of the model in use, with its examples and weeks; `None` if it has no such topic.
pub fn topic_detail(
    store: &Store,
    assigner: Option<&TopicAssigner>,
    id: i64,
    until: DateTime<Utc>,
) -> Result<Option<TopicDetail>, StoreError> {
    let Some(assigner) = assigner else { return Ok(None) };
    let counts = store.topic_counts()?;
    let Some(topic) = views(store, assigner, &counts, until)?.into_iter().find(|t| t.id == id) else {
        return Ok(None);
    };
    Ok(Some(TopicDetail {
        examples: store.topic_examples(id, EXAMPLES)?.into_iter().map(Example::from).collect(),
        weeks: store.topic_weeks(id, until - Duration::weeks(WEEKS), until)?,
        topic,
    }))
}

/// Every topic of the model in use, as shown, in the model's order.
fn views(
    store: &Store,
    assigner: &TopicAssigner,
    counts: &HashMap<i64, TopicCounts>,
    until: DateTime<Utc>,
) -> Result<Vec<TopicView>, StoreError> {
    let edits = store.edits(Grouping::Topics)?;
    let recent_start = until - Duration::days(RECENT_DAYS);
    let activity =
        store.topic_activity(recent_start - Duration::days(RECENT_DAYS * BASELINE_PERIODS), recent_start, until)?;
    Ok(assigner
        .saved
        .model
        .topics
        .iter()
        .map(|topic| {
            let TopicNames { label, labels, terms, phrases } = topic.names.clone();
            let (recent, before) = activity.get(&topic.id).copied().unwrap_or_default();
            let edit = edits.get(&topic.id).cloned().unwrap_or_default();
            let (label, discovered_label) = match edit.label {
                Some(given) => (given, Some(label)),
                None => (label, None),
            };
            TopicView {
                id: topic.id,
                label,
                discovered_label,
                pinned: edit.pinned,
                names: DiscoveredNames { labels, terms, phrases },
                size: counts.get(&topic.id).copied().unwrap_or_default(),
                trend: Trend::of(recent, before),
            }
        })
        .collect())
}
