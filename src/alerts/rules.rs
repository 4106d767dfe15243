//! Reading an alert rule from the API: `{"name", "filter": {…search parameters}, "webhook":
//! {"url", "secret"}, "follow_up": {"due_hours", "owner"}, "volume": {"kind", …}, "enabled"}`,
//! every field checked.

use serde_json::Value;

use super::target::TargetPolicy;
use crate::domain::{FollowUpPolicy, Period, VolumeRule, VolumeTest, Webhook};
use crate::search::SearchRequest;
use crate::store::RuleDraft;

pub const MAX_NAME_CHARS: usize = 200;
/// A secret shorter than this is guessable.
pub const MIN_SECRET_BYTES: usize = 16;
pub const MAX_SECRET_BYTES: usize = 256;
/// A follow-up due in more than a year is not a follow-up.
pub const MAX_DUE_HOURS: u32 = 8760;
/// The longest spike baseline: a year of days.
pub const MAX_BASELINE_PERIODS: u32 = 366;

/// A rule the API refused, naming the field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct RuleError {
    pub code: &'static str,
    pub field: &'static str,
    pub message: String,
}

fn refuse(code: &'static str, field: &'static str, message: impl Into<String>) -> RuleError {
    RuleError { code, field, message: message.into() }
}

/// Reads a rule. On an update, `secret` may be left out to keep the stored one (`updating`).
pub fn parse(body: &Value, policy: &TargetPolicy, updating: bool) -> Result<RuleDraft, RuleError> {
    let Value::Object(fields) = body else { return Err(refuse("invalid_type", "body", "a rule is a JSON object")) };
    if let Some(unknown) =
        fields.keys().find(|k| !["name", "filter", "webhook", "follow_up", "volume", "enabled"].contains(&k.as_str()))
    {
        return Err(refuse("unknown_field", "body", format!("unknown field `{unknown}`")));
    }
    let name = match fields.get("name") {
        Some(Value::String(name)) if !name.trim().is_empty() && name.chars().count() <= MAX_NAME_CHARS => {
            name.trim().to_string()
        }
        _ => {
            return Err(refuse(
                "invalid_value",
                "name",
                format!("`name` is a non-empty string of at most {MAX_NAME_CHARS} characters"),
            ))
        }
    };
    let filter =
        SearchRequest::filter_params(fields.get("filter")).map_err(|err| refuse(err.code, "filter", err.message))?;
    let webhook = match fields.get("webhook") {
        None | Some(Value::Null) => None,
        Some(Value::Object(hook)) => {
            if let Some(unknown) = hook.keys().find(|k| !["url", "secret"].contains(&k.as_str())) {
                return Err(refuse("unknown_field", "webhook", format!("unknown field `webhook.{unknown}`")));
            }
            let Some(Value::String(url)) = hook.get("url") else {
                return Err(refuse("invalid_value", "webhook", "`webhook.url` is required"));
            };
            policy.check(url).map_err(|err| refuse("invalid_webhook", "webhook", err.to_string()))?;
            let secret = match hook.get("secret") {
                Some(Value::String(s)) if (MIN_SECRET_BYTES..=MAX_SECRET_BYTES).contains(&s.len()) => s.clone(),
                None if updating => String::new(),
                _ => {
                    return Err(refuse(
                        "invalid_value",
                        "webhook",
                        format!("`webhook.secret` is a string of {MIN_SECRET_BYTES} to {MAX_SECRET_BYTES} bytes"),
                    ))
                }
            };
            Some(Webhook { url: url.clone(), secret })
        }
        Some(_) => return Err(refuse("invalid_type", "webhook", "`webhook` is an object {url, secret}")),
    };
    let follow_up = match fields.get("follow_up") {
        None | Some(Value::Null) => None,
        Some(value) => {
            let policy: FollowUpPolicy = serde_json::from_value(value.clone()).map_err(|e| {
                refuse("invalid_value", "follow_up", format!("`follow_up` is {{due_hours, owner?}}: {e}"))
            })?;
            if !(1..=MAX_DUE_HOURS).contains(&policy.due_hours) {
                return Err(refuse(
                    "invalid_value",
                    "follow_up",
                    format!("`follow_up.due_hours` is from 1 to {MAX_DUE_HOURS}"),
                ));
            }
            Some(policy)
        }
    };
    let volume = match fields.get("volume") {
        None | Some(Value::Null) => None,
        Some(value) => Some(parse_volume(value)?),
    };
    let enabled = match fields.get("enabled") {
        None => true,
        Some(Value::Bool(enabled)) => *enabled,
        Some(_) => return Err(refuse("invalid_type", "enabled", "`enabled` is true or false")),
    };
    let not_counted = filter.keys().find(|key| ["customer_id", "from", "to"].contains(&key.as_str()));
    if let (Some(key), Some(_)) = (not_counted, &volume) {
        return Err(refuse(
            "invalid_filter",
            "filter",
            format!("a volume rule counts periods it chooses, over every customer: `{key}` is not one of its filters"),
        ));
    }
    if volume.is_some() && follow_up.is_some() {
        return Err(refuse(
            "invalid_value",
            "follow_up",
            "a volume rule opens no follow-up: follow-ups call a customer back about a verbatim",
        ));
    }
    if volume.is_none() && webhook.is_none() && follow_up.is_none() {
        return Err(refuse("invalid_value", "body", "a rule needs a webhook, a follow-up, or both"));
    }
    Ok(RuleDraft { name, filter, webhook, follow_up, volume, enabled })
}

/// Reads `volume`: `{"kind": "spike", "baseline_periods"?}` or `{"kind": "nps_drop",
/// "points"}`, with `period`, `tz`, `min_count` and `p_value` (defaults by kind).
fn parse_volume(value: &Value) -> Result<VolumeRule, RuleError> {
    let invalid = |message: String| refuse("invalid_value", "volume", message);
    let Value::Object(fields) = value else {
        return Err(refuse("invalid_type", "volume", "`volume` is an object {kind, …}"));
    };
    let kind = fields.get("kind").and_then(Value::as_str);
    let own: &[&str] = match kind {
        Some("spike") => &["baseline_periods"],
        Some("nps_drop") => &["points"],
        _ => return Err(invalid("`volume.kind` is spike or nps_drop".to_string())),
    };
    let common = ["kind", "period", "tz", "min_count", "p_value"];
    if let Some(unknown) = fields.keys().find(|k| !common.contains(&k.as_str()) && !own.contains(&k.as_str())) {
        return Err(refuse("unknown_field", "volume", format!("unknown field `volume.{unknown}`")));
    }
    let spike = kind == Some("spike");
    let period = match fields.get("period") {
        None => {
            if spike {
                Period::Day
            } else {
                Period::Week
            }
        }
        Some(value) => value
            .as_str()
            .and_then(Period::parse)
            .ok_or_else(|| invalid("`volume.period` is day, week or month".to_string()))?,
    };
    let tz = match fields.get("tz") {
        None => "UTC".to_string(),
        Some(Value::String(name)) if name.parse::<chrono_tz::Tz>().is_ok() => name.clone(),
        Some(_) => return Err(invalid("`volume.tz` is an IANA time zone name such as Europe/Paris".to_string())),
    };
    let integer = |name: &str, default: u64, range: std::ops::RangeInclusive<u64>| match fields.get(name) {
        None => Ok(default),
        Some(value) => value
            .as_u64()
            .filter(|n| range.contains(n))
            .ok_or_else(|| invalid(format!("`volume.{name}` is an integer from {} to {}", range.start(), range.end()))),
    };
    let number = |name: &str, default: Option<f64>, low: f64, high: f64| match (fields.get(name), default) {
        (None, Some(default)) => Ok(default),
        (value, _) => value
            .and_then(Value::as_f64)
            .filter(|x| *x > low && *x <= high)
            .ok_or_else(|| invalid(format!("`volume.{name}` is a number above {low}, at most {high}"))),
    };
    let test = if spike {
        let default = match period {
            Period::Day => 28,
            Period::Week | Period::Month => 12,
        };
        let periods = integer("baseline_periods", default, 3..=u64::from(MAX_BASELINE_PERIODS))?;
        VolumeTest::Spike { baseline_periods: periods as u32 }
    } else {
        VolumeTest::NpsDrop { points: number("points", None, 0.0, 200.0)? }
    };
    Ok(VolumeRule {
        test,
        period,
        tz,
        min_count: integer("min_count", if spike { 10 } else { 30 }, 1..=1_000_000_000)?,
        p_value: number("p_value", Some(if spike { 0.001 } else { 0.05 }), 0.0, 0.5)?,
    })
}
