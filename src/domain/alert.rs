//! Alerts and follow-ups, the closed loop: a rule says which verbatims need someone to act,
//! an alert records that one did (and its delivery to the systems that act), a follow-up
//! tracks the action until it is done.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::{rfc3339, Period};

/// A rule on single verbatims: those matching `filter` (search parameters, with the meaning
/// they have in search) fire an alert, delivered to `webhook` and opening a follow-up. With a
/// `volume` test, a rule watches the volumes of what `filter` selects instead, period by
/// period, and fires once per period that fails the test (see `crate::alerts::volume`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AlertRule {
    pub id: i64,
    pub name: String,
    pub filter: BTreeMap<String, String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub webhook: Option<Webhook>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub follow_up: Option<FollowUpPolicy>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub volume: Option<VolumeRule>,
    pub enabled: bool,
    /// Verbatims written after this store `seq` are evaluated: a new rule does not fire on
    /// the history.
    #[serde(skip)]
    pub since_seq: u64,
    #[serde(with = "rfc3339")]
    pub created_at: DateTime<Utc>,
    #[serde(with = "rfc3339")]
    pub updated_at: DateTime<Utc>,
}

/// What a volume rule watches: calendar periods of the verbatims its filter selects, in a
/// time zone, tested one way or another; no alert on fewer than `min_count` verbatims.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VolumeRule {
    #[serde(flatten)]
    pub test: VolumeTest,
    pub period: Period,
    /// IANA name of the zone periods start in.
    pub tz: String,
    /// Spikes: the fewest verbatims in the period; NPS drops: the fewest NPS answers in each
    /// of the two periods compared.
    pub min_count: u64,
    /// The test's significance level.
    pub p_value: f64,
}

/// The test a volume rule runs on each period.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum VolumeTest {
    /// More verbatims than the `baseline_periods` periods before make likely.
    Spike { baseline_periods: u32 },
    /// An NPS at least `points` below the previous period's.
    NpsDrop { points: f64 },
}

/// Why a volume rule fired: the period, and the figures its test read.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VolumeFinding {
    pub period: Period,
    #[serde(with = "rfc3339")]
    pub period_start: DateTime<Utc>,
    #[serde(with = "rfc3339")]
    pub period_end: DateTime<Utc>,
    /// False when the period was still running: a spike can be called before its day ends.
    pub complete: bool,
    /// The verbatims of the period (spikes) or its NPS answers (NPS drops).
    pub count: u64,
    pub p_value: f64,
    #[serde(flatten)]
    pub figures: VolumeFigures,
}

/// What each test compared.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum VolumeFigures {
    Spike {
        /// Verbatims per period, and their variance, over the baseline periods.
        baseline_mean: f64,
        baseline_variance: f64,
        baseline_periods: u32,
        distribution: CountDistribution,
    },
    NpsDrop {
        nps: f64,
        previous_nps: f64,
        previous_count: u64,
    },
}

/// The law a spike test takes a period's count to follow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CountDistribution {
    Poisson,
    /// When the baseline varies more than Poisson counts do.
    NegativeBinomial,
}

/// Where a rule's alerts are POSTed, and the secret they are signed with (never serialised,
/// never printed).
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Webhook {
    pub url: String,
    #[serde(skip_serializing, default)]
    pub secret: String,
}

impl std::fmt::Debug for Webhook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Webhook").field("url", &self.url).field("secret", &"…").finish()
    }
}

/// The follow-up an alert opens: due so many hours after the alert, for an owner.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FollowUpPolicy {
    pub due_hours: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
}

/// Where an alert's delivery stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryState {
    /// Waiting for its first or next attempt.
    Pending,
    Delivered,
    /// Given up after the last attempt, or its rule was deleted.
    Failed,
    /// Its rule has no webhook.
    None,
}

impl DeliveryState {
    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryState::Pending => "pending",
            DeliveryState::Delivered => "delivered",
            DeliveryState::Failed => "failed",
            DeliveryState::None => "none",
        }
    }

    pub fn parse(name: &str) -> Option<DeliveryState> {
        [DeliveryState::Pending, DeliveryState::Delivered, DeliveryState::Failed, DeliveryState::None]
            .into_iter()
            .find(|s| s.as_str() == name)
    }
}

/// An alert a rule fired on a verbatim, or on a period's volumes, with its delivery.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Alert {
    pub id: i64,
    pub rule_id: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub verbatim_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub volume: Option<VolumeFinding>,
    #[serde(with = "rfc3339")]
    pub fired_at: DateTime<Utc>,
    /// What a receiver gets as `Idempotency-Key`: the same on every attempt.
    pub idempotency_key: String,
    pub delivery: DeliveryState,
    pub attempts: u32,
    #[serde(with = "rfc3339::option", skip_serializing_if = "Option::is_none")]
    pub next_attempt_at: Option<DateTime<Utc>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
    #[serde(with = "rfc3339::option", skip_serializing_if = "Option::is_none")]
    pub delivered_at: Option<DateTime<Utc>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub follow_up_id: Option<i64>,
}

impl Alert {
    pub fn idempotency_key(id: i64) -> String {
        format!("verbatim-alert-{id}")
    }
}

/// Where a follow-up stands, in the order a call-back goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FollowUpStatus {
    Open,
    InProgress,
    Contacted,
    Resolved,
}

impl FollowUpStatus {
    pub const ALL: [FollowUpStatus; 4] =
        [FollowUpStatus::Open, FollowUpStatus::InProgress, FollowUpStatus::Contacted, FollowUpStatus::Resolved];

    pub fn as_str(self) -> &'static str {
        match self {
            FollowUpStatus::Open => "open",
            FollowUpStatus::InProgress => "in_progress",
            FollowUpStatus::Contacted => "contacted",
            FollowUpStatus::Resolved => "resolved",
        }
    }

    pub fn parse(name: &str) -> Option<FollowUpStatus> {
        FollowUpStatus::ALL.into_iter().find(|s| s.as_str() == name)
    }

    /// Whether the customer has been reached (what the due time is about).
    pub fn reached(self) -> bool {
        matches!(self, FollowUpStatus::Contacted | FollowUpStatus::Resolved)
    }
}

/// The action an alert asks for, until it is done.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FollowUp {
    pub id: i64,
    pub alert_id: i64,
    pub rule_id: i64,
    pub verbatim_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub customer_id: Option<String>,
    pub status: FollowUpStatus,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    #[serde(with = "rfc3339")]
    pub due_at: DateTime<Utc>,
    /// When it was first marked contacted (or resolved without being marked contacted).
    #[serde(with = "rfc3339::option", skip_serializing_if = "Option::is_none")]
    pub contacted_at: Option<DateTime<Utc>>,
    #[serde(with = "rfc3339")]
    pub created_at: DateTime<Utc>,
    #[serde(with = "rfc3339")]
    pub updated_at: DateTime<Utc>,
}

impl FollowUp {
    /// Not reached, and past its due time.
    pub fn overdue(&self, now: DateTime<Utc>) -> bool {
        !self.status.reached() && now > self.due_at
    }
}
