//! Validation: a loosely typed JSON object in, a domain type or an [`ItemError`] out.
//!
//! Every entry point (HTTP batch, JSONL or CSV file) hands its items to [`Verbatim::from_json`]
//! or [`Document::from_json`], so the same item is accepted or rejected, with the same error
//! code, whichever way it arrives.

use std::collections::BTreeMap;
use std::fmt;
use std::ops::RangeInclusive;

use chrono::{DateTime, Datelike, Utc};
use serde::Serialize;
use serde_json::{Map, Value};

use crate::domain::{
    parse_timestamp, Channel, Document, Verbatim, CES_SCALE, CSAT_SCALE, MAX_ID_BYTES, MAX_METADATA_ENTRIES,
    MAX_METADATA_KEY_BYTES, MAX_METADATA_VALUE_BYTES, MAX_TEXT_CHARS, NPS_SCALE, SUPPORTED_YEARS,
};

/// Why one input item was rejected. `code` is stable and documented; `message` is for people.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ItemError {
    pub code: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    pub message: String,
}

impl ItemError {
    fn new(code: &'static str, field: &str, message: impl Into<String>) -> ItemError {
        ItemError { code, field: Some(field.to_string()), message: message.into() }
    }
}

impl fmt::Display for ItemError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code, self.message)
    }
}

const KNOWN_FIELDS: [&str; 10] =
    ["id", "text", "language", "channel", "created_at", "customer_id", "nps", "csat", "ces", "metadata"];

impl Verbatim {
    /// Validates one raw item. `now` stands in for a missing `created_at`.
    pub fn from_json(item: &Value, now: DateTime<Utc>) -> Result<Verbatim, ItemError> {
        let (TextItem { id, text, language }, fields) = TextItem::from_json(item, &KNOWN_FIELDS)?;
        let channel = match optional_string(fields, "channel")? {
            None => Channel::other(),
            Some(name) => Channel::parse(&name).map_err(|why| ItemError::new("invalid_field", "channel", why))?,
        };
        let created_at = match optional_string(fields, "created_at")? {
            None => now,
            Some(raw) => match parse_timestamp(&raw) {
                Some(ts) if SUPPORTED_YEARS.contains(&ts.year()) => ts,
                Some(_) => {
                    return Err(ItemError::new(
                        "invalid_date",
                        "created_at",
                        format!(
                            "`{raw}` is outside the years {} to {}",
                            SUPPORTED_YEARS.start(),
                            SUPPORTED_YEARS.end()
                        ),
                    ))
                }
                None => {
                    return Err(ItemError::new(
                        "invalid_date",
                        "created_at",
                        format!("`{raw}` is not an RFC 3339 timestamp or a YYYY-MM-DD date"),
                    ))
                }
            },
        };
        let customer_id = optional_string(fields, "customer_id")?;
        if let Some(customer) = &customer_id {
            check_id("customer_id", customer)?;
        }
        Ok(Verbatim {
            id,
            text,
            language,
            channel,
            created_at,
            customer_id,
            nps: score(fields, "nps", NPS_SCALE)?,
            csat: score(fields, "csat", CSAT_SCALE)?,
            ces: score(fields, "ces", CES_SCALE)?,
            metadata: metadata(fields)?,
            sentiment: None,
            sentiment_model: None,
            emotions: None,
            due: Vec::new(),
            topic: None,
            aspects: Vec::new(),
            root_causes: None,
        })
    }
}

const DOCUMENT_FIELDS: [&str; 3] = ["id", "text", "language"];

impl Document {
    /// Validates one document to analyse: the fields every text item has, and no others.
    pub fn from_json(item: &Value) -> Result<Document, ItemError> {
        let (TextItem { id, text, language }, _) = TextItem::from_json(item, &DOCUMENT_FIELDS)?;
        Ok(Document { id, text, language })
    }
}

/// The string `id` of a raw item, if it has one: what names a rejected item in an error.
pub fn item_id(item: &Value) -> Option<String> {
    item.get("id").and_then(Value::as_str).map(str::to_string)
}

/// What every text item has, wherever it arrives (a verbatim, a document to analyse):
/// an id, a text within limits, and maybe a language. Checked one way for all.
pub struct TextItem {
    pub id: String,
    pub text: String,
    pub language: Option<String>,
}

impl TextItem {
    /// Checks the shared fields of a JSON object whose allowed field names are `known`, and
    /// hands back the object for the caller's own fields.
    pub fn from_json<'a>(item: &'a Value, known: &[&str]) -> Result<(TextItem, &'a Map<String, Value>), ItemError> {
        let Value::Object(fields) = item else {
            return Err(ItemError {
                code: "invalid_item",
                field: None,
                message: format!("each item must be a JSON object, not {}", json_kind(item)),
            });
        };
        if let Some(unknown) = fields.keys().find(|k| !known.contains(&k.as_str())) {
            return Err(ItemError::new("unknown_field", unknown, format!("unknown field `{unknown}`")));
        }
        let id = required_string(fields, "id")?;
        check_id("id", &id)?;
        let text = required_string(fields, "text")?;
        if text.trim().is_empty() {
            return Err(ItemError::new("empty_text", "text", "text is empty"));
        }
        let chars = text.chars().count();
        if chars > MAX_TEXT_CHARS {
            return Err(ItemError::new(
                "text_too_long",
                "text",
                format!("text has {chars} characters; the limit is {MAX_TEXT_CHARS}"),
            ));
        }
        let language = optional_string(fields, "language")?.map(|l| parse_language(&l)).transpose()?;
        Ok((TextItem { id, text, language }, fields))
    }
}

/// `fr`, `FR`, `fr-CA` and `fr_FR` all mean French: keep the primary subtag, lower-cased.
fn parse_language(raw: &str) -> Result<String, ItemError> {
    let primary = raw.split(['-', '_']).next().unwrap_or_default().to_ascii_lowercase();
    if (2..=3).contains(&primary.len()) && primary.bytes().all(|b| b.is_ascii_lowercase()) {
        Ok(primary)
    } else {
        Err(ItemError::new(
            "invalid_field",
            "language",
            format!("`{raw}` is not an ISO 639 language code such as `fr` or `en`"),
        ))
    }
}

fn check_id(field: &str, value: &str) -> Result<(), ItemError> {
    if value.trim().is_empty() {
        return Err(ItemError::new("invalid_field", field, format!("{field} is empty")));
    }
    if value.len() > MAX_ID_BYTES || value.chars().any(char::is_control) {
        return Err(ItemError::new(
            "invalid_field",
            field,
            format!("{field} must be at most {MAX_ID_BYTES} bytes with no control characters"),
        ));
    }
    Ok(())
}

fn required_string(fields: &Map<String, Value>, name: &str) -> Result<String, ItemError> {
    optional_string(fields, name)?.ok_or_else(|| ItemError::new("missing_field", name, format!("`{name}` is required")))
}

/// A missing field and an explicit `null` both mean "not given".
fn optional_string(fields: &Map<String, Value>, name: &str) -> Result<Option<String>, ItemError> {
    match fields.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(other) => {
            Err(ItemError::new("invalid_field", name, format!("`{name}` must be a string, not {}", json_kind(other))))
        }
    }
}

fn score(fields: &Map<String, Value>, name: &str, scale: RangeInclusive<u8>) -> Result<Option<u8>, ItemError> {
    let (min, max) = (*scale.start(), *scale.end());
    let invalid = || ItemError::new("invalid_score", name, format!("`{name}` must be an integer from {min} to {max}"));
    match fields.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => {
            let value = n.as_u64().ok_or_else(invalid)?;
            if (u64::from(min)..=u64::from(max)).contains(&value) {
                Ok(Some(value as u8))
            } else {
                Err(invalid())
            }
        }
        Some(_) => Err(invalid()),
    }
}

fn metadata(fields: &Map<String, Value>) -> Result<BTreeMap<String, String>, ItemError> {
    let entries = match fields.get("metadata") {
        None | Some(Value::Null) => return Ok(BTreeMap::new()),
        Some(Value::Object(entries)) => entries,
        Some(other) => {
            return Err(ItemError::new(
                "invalid_field",
                "metadata",
                format!("`metadata` must be an object of strings, not {}", json_kind(other)),
            ))
        }
    };
    if entries.len() > MAX_METADATA_ENTRIES {
        return Err(ItemError::new(
            "invalid_field",
            "metadata",
            format!("`metadata` has {} entries; the limit is {MAX_METADATA_ENTRIES}", entries.len()),
        ));
    }
    entries
        .iter()
        .map(|(key, value)| {
            let field = format!("metadata.{key}");
            let key_ok = !key.is_empty()
                && key.len() <= MAX_METADATA_KEY_BYTES
                && key.chars().all(|c| c.is_alphanumeric() || "_-.".contains(c));
            if !key_ok {
                return Err(ItemError::new(
                    "invalid_field",
                    &field,
                    format!("metadata keys are 1 to {MAX_METADATA_KEY_BYTES} letters, digits, `_`, `-` or `.`"),
                ));
            }
            match value {
                Value::String(s) if s.len() <= MAX_METADATA_VALUE_BYTES => Ok((key.clone(), s.clone())),
                Value::String(_) => Err(ItemError::new(
                    "invalid_field",
                    &field,
                    format!("metadata values are at most {MAX_METADATA_VALUE_BYTES} bytes"),
                )),
                other => Err(ItemError::new(
                    "invalid_field",
                    &field,
                    format!("metadata values must be strings, not {}", json_kind(other)),
                )),
            }
        })
        .collect()
}

fn json_kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{rfc3339, NpsGroup};
    use serde_json::json;

    fn now() -> DateTime<Utc> {
        parse_timestamp("2026-01-01T00:00:00Z").unwrap()
    }

    fn code_of(item: Value) -> &'static str {
        Verbatim::from_json(&item, now()).unwrap_err().code
    }

    #[test]
    fn a_full_item_is_accepted_and_normalised() {
        let item = json!({"id":"a1","text":"Livraison en retard","language":"FR-fr","channel":"Email",
            "created_at":"2026-10-03T10:00:00+02:00","customer_id":"c9","nps":3,"csat":2,"ces":6,
            "metadata":{"store":"Lyon"}});
        let v = Verbatim::from_json(&item, now()).unwrap();
        assert_eq!(v.language.as_deref(), Some("fr"));
        assert_eq!(v.channel.as_str(), "email");
        assert_eq!(rfc3339::format(&v.created_at), "2026-10-03T08:00:00.000Z");
        assert_eq!(v.nps_group(), Some(NpsGroup::Detractor));
        assert_eq!(v.metadata["store"], "Lyon");
    }

    #[test]
    fn defaults_fill_channel_and_date() {
        let v = Verbatim::from_json(&json!({"id":"a","text":"ok"}), now()).unwrap();
        assert_eq!(v.channel, Channel::other());
        assert_eq!(v.created_at, now());
    }

    #[test]
    fn each_bad_field_has_its_own_code() {
        assert_eq!(code_of(json!({"text":"x"})), "missing_field");
        assert_eq!(code_of(json!({"id":"a","text":"  "})), "empty_text");
        assert_eq!(code_of(json!({"id":"a","text":"é".repeat(MAX_TEXT_CHARS + 1)})), "text_too_long");
        assert_eq!(code_of(json!({"id":"a","text":"x","nps":11})), "invalid_score");
        assert_eq!(code_of(json!({"id":"a","text":"x","csat":0})), "invalid_score");
        assert_eq!(code_of(json!({"id":"a","text":"x","ces":2.5})), "invalid_score");
        assert_eq!(code_of(json!({"id":"a","text":"x","created_at":"yesterday"})), "invalid_date");
        assert_eq!(code_of(json!({"id":"a","text":"x","created_at":"0042-01-01"})), "invalid_date");
        assert_eq!(code_of(json!({"id":"a","text":"x","created_at":"9999-12-31T00:00:00Z"})), "invalid_date");
        assert_eq!(code_of(json!({"id":"a","text":"x","colour":"red"})), "unknown_field");
        assert_eq!(code_of(json!({"id":7,"text":"x"})), "invalid_field");
        assert_eq!(code_of(json!({"id":"a","text":"x","channel":"fax/modem"})), "invalid_field");
        assert_eq!(code_of(json!({"id":"a","text":"x","metadata":{"k":1}})), "invalid_field");
        assert_eq!(code_of(json!(["a"])), "invalid_item");
    }

    #[test]
    fn the_text_limit_counts_characters_not_bytes() {
        let text = "é".repeat(MAX_TEXT_CHARS);
        assert!(Verbatim::from_json(&json!({"id":"a","text":text}), now()).is_ok());
    }
}
