//! Reading an alert rule from the API: `{"name", "filter": {…search parameters}, "webhook":
//! {"url", "secret"}, "follow_up": {"due_hours", "owner"}, "enabled"}`, every field checked.

use serde_json::Value;

use super::target::TargetPolicy;
use crate::domain::{FollowUpPolicy, Webhook};
use crate::search::SearchRequest;
use crate::store::RuleDraft;

pub const MAX_NAME_CHARS: usize = 200;
/// A secret shorter than this is guessable.
pub const MIN_SECRET_BYTES: usize = 16;
pub const MAX_SECRET_BYTES: usize = 256;
/// A follow-up due in more than a year is not a follow-up.
pub const MAX_DUE_HOURS: u32 = 8760;

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
        fields.keys().find(|k| !["name", "filter", "webhook", "follow_up", "enabled"].contains(&k.as_str()))
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
    let enabled = match fields.get("enabled") {
        None => true,
        Some(Value::Bool(enabled)) => *enabled,
        Some(_) => return Err(refuse("invalid_type", "enabled", "`enabled` is true or false")),
    };
    if webhook.is_none() && follow_up.is_none() {
        return Err(refuse("invalid_value", "body", "a rule needs a webhook, a follow-up, or both"));
    }
    Ok(RuleDraft { name, filter, webhook, follow_up, enabled })
}
