//! What a job request may ask for, validated field by field.

use std::collections::BTreeMap;
use std::path::{Component, Path};

use serde_json::{json, Value};

use crate::domain::Tier;
use crate::input::Format;
use crate::search::SearchRequest;
use crate::topics::Method;

/// The analysis stages a job may name; every analysis reports sentiment.
pub const STAGES: [&str; 2] = ["language", "sentiment"];
const KINDS: &str =
    "reprocess, analyze_file, discover_topics, assign_topics, split_topic, discover_root_causes, split_root_cause";

/// What a job does, validated.
#[derive(Debug, Clone, PartialEq)]
pub enum JobSpec {
    /// The stored verbatims the filter selects, through `model`, back into the store and index.
    Reprocess { filter: BTreeMap<String, String>, model: Tier, stages: Vec<String> },
    /// A file of the import directory (JSONL or CSV, gzip or not), through `model`, into the
    /// job's results file; `file` is relative to the import directory.
    AnalyzeFile { file: String, format: Option<Format>, model: Tier, stages: Vec<String> },
    /// A topic discovery over the stored verbatims the filter selects, saved as the model in use.
    DiscoverTopics(TopicsSpec),
    /// The encoder's topics for the verbatims ingestion assigned by words (see
    /// [`crate::topics::saved`]).
    AssignTopics,
    /// Topic `topic` of the model in use split into `topics` new ones found among its verbatims.
    SplitTopic { topic: i64, topics: usize, seed: u64 },
    /// Root causes found over the mentions of the stored verbatims the filter selects, saved
    /// as the model in use; `granularity` multiplies Leiden's resolution (see
    /// [`crate::root_causes::GRANULARITY`]).
    DiscoverRootCauses { filter: BTreeMap<String, String>, granularity: f64, seed: u64 },
    /// Root cause `root_cause` of the model in use split into `parts` new ones found among the
    /// mentions that cite it.
    SplitRootCause { root_cause: i64, parts: usize, seed: u64 },
}

/// What a `discover_topics` job asks for.
#[derive(Debug, Clone, PartialEq)]
pub struct TopicsSpec {
    pub filter: BTreeMap<String, String>,
    pub method: Method,
    /// `None`: chosen from the data.
    pub topics: Option<usize>,
    /// Purity first: verbatims far from every topic stay without one.
    pub strict: bool,
    pub seed: u64,
}

/// The most topics a discovery may be asked for.
pub const MAX_TOPICS: usize = 1_000;
/// The finest root causes may be asked for: four times topics' resolution.
pub const MAX_GRANULARITY: f64 = 4.0;
/// The most parts a topic may be split into.
pub const MAX_SPLIT: usize = 20;

/// Why a job request was refused, naming the field at fault.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct SpecError {
    pub code: &'static str,
    pub field: &'static str,
    pub message: String,
}

pub(super) fn spec_error(code: &'static str, field: &'static str, message: impl Into<String>) -> SpecError {
    SpecError { code, field, message: message.into() }
}

impl JobSpec {
    /// Reads a job request: `{"kind": "reprocess", "filter": {…}, "model": …, "stages": […]}`,
    /// `{"kind": "analyze_file", "file": …, "format": …, "model": …, "stages": […]}`,
    /// `{"kind": "discover_topics", "filter": {…}, "method": …, "topics": …, "strict": …,
    /// "seed": …}`, `{"kind": "assign_topics"}`, `{"kind": "split_topic", "topic": …}` or
    /// `{"kind": "discover_root_causes", "filter": {…}, "granularity": …, "seed": …}`. Unknown fields are refused, as elsewhere in
    /// the API.
    pub fn from_json(value: &Value) -> Result<JobSpec, SpecError> {
        let fields = value.as_object().ok_or_else(|| spec_error("invalid_type", "body", "a job is a JSON object"))?;
        let kind = fields
            .get("kind")
            .ok_or_else(|| spec_error("missing_field", "kind", "`kind` is required"))?
            .as_str()
            .ok_or_else(|| spec_error("invalid_type", "kind", "`kind` must be a string"))?;
        let allowed: &[&str] = match kind {
            "reprocess" => &["kind", "filter", "model", "stages"],
            "analyze_file" => &["kind", "file", "format", "model", "stages"],
            "discover_topics" => &["kind", "filter", "method", "topics", "strict", "seed"],
            "assign_topics" => &["kind"],
            "split_topic" => &["kind", "topic", "topics", "seed"],
            "discover_root_causes" => &["kind", "filter", "granularity", "seed"],
            "split_root_cause" => &["kind", "root_cause", "parts", "seed"],
            other => {
                return Err(spec_error("unknown_kind", "kind", format!("unknown job kind `{other}`; kinds: {KINDS}")))
            }
        };
        if let Some(unknown) = fields.keys().find(|key| !allowed.contains(&key.as_str())) {
            return Err(spec_error("unknown_field", "body", format!("unknown field `{unknown}` for a `{kind}` job")));
        }
        if kind == "assign_topics" {
            return Ok(JobSpec::AssignTopics);
        }
        if kind == "split_topic" {
            let (topic, topics) = split_of(fields, "topic", "a topic id", "topics")?;
            return Ok(JobSpec::SplitTopic { topic, topics, seed: seed_of(fields)? });
        }
        if kind == "split_root_cause" {
            let (root_cause, parts) = split_of(fields, "root_cause", "a root-cause id", "parts")?;
            return Ok(JobSpec::SplitRootCause { root_cause, parts, seed: seed_of(fields)? });
        }
        if kind == "discover_root_causes" {
            let granularity = match fields.get("granularity") {
                None | Some(Value::Null) => crate::root_causes::GRANULARITY,
                Some(value) => value.as_f64().filter(|g| *g > 0.0 && *g <= MAX_GRANULARITY).ok_or_else(|| {
                    spec_error(
                        "invalid_value",
                        "granularity",
                        format!("`granularity` is a number above 0, at most {MAX_GRANULARITY}"),
                    )
                })?,
            };
            return Ok(JobSpec::DiscoverRootCauses { filter: filter_of(fields)?, granularity, seed: seed_of(fields)? });
        }
        if kind == "discover_topics" {
            return Ok(JobSpec::DiscoverTopics(TopicsSpec::from_fields(fields)?));
        }
        let model = match fields.get("model") {
            None | Some(Value::Null) => Tier::default(),
            Some(Value::String(name)) => Tier::parse(name).ok_or_else(|| {
                spec_error("unknown_model", "model", format!("unknown model `{name}`; models: fast, accurate"))
            })?,
            Some(_) => return Err(spec_error("invalid_type", "model", "`model` must be a string")),
        };
        let stages = match fields.get("stages") {
            None | Some(Value::Null) => STAGES.iter().map(|s| s.to_string()).collect(),
            Some(Value::Array(items)) => items
                .iter()
                .map(|item| item.as_str().map(str::to_string))
                .collect::<Option<Vec<String>>>()
                .ok_or_else(|| spec_error("invalid_type", "stages", "`stages` must be an array of stage names"))?,
            Some(_) => return Err(spec_error("invalid_type", "stages", "`stages` must be an array of stage names")),
        };
        let stages = check_stages(stages)?;
        if kind == "analyze_file" {
            let file = match fields.get("file") {
                Some(Value::String(file)) => import_path(file)?,
                None | Some(Value::Null) => return Err(spec_error("missing_field", "file", "`file` is required")),
                Some(_) => return Err(spec_error("invalid_type", "file", "`file` must be a string")),
            };
            let format = match fields.get("format") {
                None | Some(Value::Null) => None,
                Some(Value::String(name)) if name == "jsonl" => Some(Format::Jsonl),
                Some(Value::String(name)) if name == "csv" => Some(Format::Csv),
                Some(_) => return Err(spec_error("invalid_value", "format", "`format` is `jsonl` or `csv`")),
            };
            return Ok(JobSpec::AnalyzeFile { file, format, model, stages });
        }
        Ok(JobSpec::Reprocess { filter: filter_of(fields)?, model, stages })
    }

    pub fn to_json(&self) -> Value {
        match self {
            JobSpec::Reprocess { filter, model, stages } => {
                json!({"kind": "reprocess", "filter": filter, "model": model, "stages": stages})
            }
            JobSpec::AnalyzeFile { file, format, model, stages } => {
                let format = format.map(|f| match f {
                    Format::Jsonl => "jsonl",
                    Format::Csv => "csv",
                });
                json!({"kind": "analyze_file", "file": file, "format": format, "model": model, "stages": stages})
            }
            JobSpec::DiscoverTopics(TopicsSpec { filter, method, topics, strict, seed }) => json!({
                "kind": "discover_topics", "filter": filter, "method": method, "topics": topics, "strict": strict,
                "seed": seed
            }),
            JobSpec::AssignTopics => json!({"kind": "assign_topics"}),
            JobSpec::SplitTopic { topic, topics, seed } => {
                json!({"kind": "split_topic", "topic": topic, "topics": topics, "seed": seed})
            }
            JobSpec::DiscoverRootCauses { filter, granularity, seed } => json!({
                "kind": "discover_root_causes", "filter": filter, "granularity": granularity, "seed": seed
            }),
            JobSpec::SplitRootCause { root_cause, parts, seed } => {
                json!({"kind": "split_root_cause", "root_cause": root_cause, "parts": parts, "seed": seed})
            }
        }
    }

    /// The sentiment tier the job runs, if it runs one.
    pub fn model(&self) -> Option<Tier> {
        match self {
            JobSpec::Reprocess { model, .. } | JobSpec::AnalyzeFile { model, .. } => Some(*model),
            JobSpec::DiscoverTopics(_)
            | JobSpec::AssignTopics
            | JobSpec::SplitTopic { .. }
            | JobSpec::DiscoverRootCauses { .. }
            | JobSpec::SplitRootCause { .. } => None,
        }
    }
}

impl TopicsSpec {
    fn from_fields(fields: &serde_json::Map<String, Value>) -> Result<TopicsSpec, SpecError> {
        let method = match fields.get("method") {
            None | Some(Value::Null) => Method::default(),
            Some(value) => serde_json::from_value(value.clone())
                .map_err(|_| spec_error("invalid_value", "method", "`method` is `leiden`, `k_means` or `hdbscan`"))?,
        };
        let topics = match fields.get("topics") {
            None | Some(Value::Null) => None,
            Some(value) => Some(value.as_u64().filter(|n| (2..=MAX_TOPICS as u64).contains(n)).ok_or_else(|| {
                spec_error("invalid_value", "topics", format!("`topics` is an integer from 2 to {MAX_TOPICS}"))
            })? as usize),
        };
        let strict = match fields.get("strict") {
            None | Some(Value::Null) => false,
            Some(Value::Bool(strict)) => *strict,
            Some(_) => return Err(spec_error("invalid_type", "strict", "`strict` must be true or false")),
        };
        let seed = seed_of(fields)?;
        Ok(TopicsSpec { filter: filter_of(fields)?, method, topics, strict, seed })
    }
}

/// What a split names: the id in field `id` (`what` it is), and the number of parts in field
/// `parts` (2 by default, at most [`MAX_SPLIT`]).
fn split_of(
    fields: &serde_json::Map<String, Value>,
    id: &'static str,
    what: &str,
    parts: &'static str,
) -> Result<(i64, usize), SpecError> {
    let split = match fields.get(id) {
        Some(value) => value
            .as_i64()
            .filter(|id| *id >= 0)
            .ok_or_else(|| spec_error("invalid_value", id, format!("`{id}` is {what}")))?,
        None => return Err(spec_error("missing_field", id, format!("`{id}` is required"))),
    };
    let count = match fields.get(parts) {
        None | Some(Value::Null) => 2,
        Some(value) => value.as_u64().filter(|n| (2..=MAX_SPLIT as u64).contains(n)).ok_or_else(|| {
            spec_error("invalid_value", parts, format!("`{parts}` is an integer from 2 to {MAX_SPLIT}"))
        })? as usize,
    };
    Ok((split, count))
}

/// A job's `seed` [default: discovery's].
fn seed_of(fields: &serde_json::Map<String, Value>) -> Result<u64, SpecError> {
    match fields.get("seed") {
        None | Some(Value::Null) => Ok(crate::topics::DiscoverySettings::default().seed),
        Some(value) => {
            value.as_u64().ok_or_else(|| spec_error("invalid_value", "seed", "`seed` is a non-negative integer"))
        }
    }
}

/// A job's `filter`: search parameters, each a string or a number, that must make a valid search.
fn filter_of(fields: &serde_json::Map<String, Value>) -> Result<BTreeMap<String, String>, SpecError> {
    SearchRequest::filter_params(fields.get("filter")).map_err(|err| spec_error(err.code, "filter", err.message))
}

/// Checks the stages a job names (see [`STAGES`]); they run in pipeline order whatever the
/// order given. Sentiment is required: every analysis reports it.
pub fn check_stages(stages: Vec<String>) -> Result<Vec<String>, SpecError> {
    if let Some(unknown) = stages.iter().find(|s| !STAGES.contains(&s.as_str())) {
        return Err(spec_error(
            "unknown_stage",
            "stages",
            format!("unknown stage `{unknown}`; stages: {}", STAGES.join(", ")),
        ));
    }
    if !stages.iter().any(|s| s == "sentiment") {
        return Err(spec_error("invalid_stages", "stages", "`sentiment` is required: every analysis reports it"));
    }
    Ok(STAGES.iter().filter(|s| stages.iter().any(|given| given == *s)).map(|s| s.to_string()).collect())
}

/// The search request a job's filter means (the parameters of `GET /v1/search`).
pub fn search_filter(filter: &BTreeMap<String, String>) -> Result<SearchRequest, SpecError> {
    SearchRequest::from_filter(filter).map_err(|err| spec_error(err.code, "filter", err.message))
}

/// A file named relative to the import directory, that cannot climb out of it: no absolute
/// path, no `..`. (Links inside the directory are checked when the job is submitted.)
fn import_path(file: &str) -> Result<String, SpecError> {
    let path = Path::new(file);
    let plain = !file.is_empty() && path.components().all(|c| matches!(c, Component::Normal(_) | Component::CurDir));
    if !plain {
        return Err(spec_error(
            "invalid_path",
            "file",
            "`file` is a path relative to the server's import directory, without `..`",
        ));
    }
    Ok(file.to_string())
}
