//! `/v1/topics`: discover topics over the stored verbatims (a `discover_topics` job), list the
//! topics of the model in use with what they hold and their trends, read one with its typical
//! verbatims and weeks, name or pin one, merge one into another (see [`crate::topics`]).

use actix_web::{web, HttpRequest, HttpResponse};
use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::Value;

use super::body::read_json;
use super::error::ApiError;
use super::jobs::{routed_job, submitted};
use super::AppState;
use crate::domain::parse_timestamp;
use crate::service::ServiceError;
use crate::topics::report::{topic_detail, topics_report, TopicOrder};

/// Longest name an analyst may give a topic, in characters.
const MAX_LABEL_CHARS: usize = 200;

/// 202 with the `discover_topics` job queued, and its address in `Location`. The body is the
/// job's, without `kind`.
pub async fn discover(
    state: web::Data<AppState>,
    req: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let body: Value = read_json(&req, payload, state.config.max_body_bytes).await?;
    submitted(&state, routed_job(body, "discover_topics", &[])?).await
}

/// The query of the topic list: `sort=size|emerging`, `until=` (trends end there; now by default).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ListQuery {
    sort: Option<String>,
    until: Option<String>,
}

/// The query of one topic or category: `until=`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct UntilQuery {
    pub until: Option<String>,
}

pub(super) fn query<T: serde::de::DeserializeOwned>(req: &HttpRequest) -> Result<T, ApiError> {
    web::Query::<T>::from_query(req.query_string())
        .map(web::Query::into_inner)
        .map_err(|e| ApiError::bad_request("invalid_parameter", e.to_string()))
}

/// Where trends end: `until=` when given, else now.
pub(super) fn until(given: Option<&str>) -> Result<DateTime<Utc>, ApiError> {
    given.map_or(Ok(Utc::now()), |text| {
        parse_timestamp(text).map(crate::domain::clamp_to_supported).ok_or_else(|| {
            ApiError::bad_request(
                "invalid_parameter",
                format!("`until`: `{text}` is not an RFC 3339 timestamp or YYYY-MM-DD"),
            )
            .with("parameter", "until")
        })
    })
}

pub async fn list(state: web::Data<AppState>, req: HttpRequest) -> Result<HttpResponse, ApiError> {
    let asked: ListQuery = query(&req)?;
    let order = match asked.sort.as_deref() {
        None | Some("size") => TopicOrder::Size,
        Some("emerging") => TopicOrder::Emerging,
        Some(_) => {
            return Err(
                ApiError::bad_request("invalid_parameter", "`sort` is `size` or `emerging`").with("parameter", "sort")
            )
        }
    };
    let until = until(asked.until.as_deref())?;
    let (service, analyzer) = (state.service.clone(), state.analyzer.clone());
    let report =
        web::block(move || topics_report(service.store(), analyzer.topics().as_deref(), until, order)).await??;
    Ok(HttpResponse::Ok().json(report))
}

/// The id in the path of a `what` (topic, category); one that is not a number names none.
pub(super) fn path_id(path: &str, what: &str) -> Result<i64, ApiError> {
    path.parse::<i64>().map_err(|_| ApiError::not_found(format!("no {what} `{path}`")))
}

fn topic_id(path: &str) -> Result<i64, ApiError> {
    path_id(path, "topic")
}

pub async fn get(
    state: web::Data<AppState>,
    req: HttpRequest,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let asked: UntilQuery = query(&req)?;
    let until = until(asked.until.as_deref())?;
    let id = topic_id(&id)?;
    let (service, analyzer) = (state.service.clone(), state.analyzer.clone());
    let detail = web::block(move || topic_detail(service.store(), analyzer.topics().as_deref(), id, until)).await??;
    let detail = detail.ok_or_else(|| ApiError::not_found(format!("no topic {id} in the topic model in use")))?;
    Ok(HttpResponse::Ok().json(detail))
}

/// What an analyst may change of a topic; what is absent stays as it was.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TopicChange {
    /// A name of their own; `null` gives the topic back its discovered name.
    #[serde(default, deserialize_with = "present")]
    label: Option<Value>,
    /// Kept by re-discoveries that do not find it again; `null` leaves it as it is.
    #[serde(default, deserialize_with = "present")]
    pinned: Option<Value>,
}

/// An analyst's `label` as given: a name of 1 to [`MAX_LABEL_CHARS`] characters (trimmed),
/// or `null` (`None`) for the discovered name again.
pub(super) fn analyst_label(label: Value) -> Result<Option<String>, ApiError> {
    let label = match label {
        Value::Null => return Ok(None),
        Value::String(label) => label.trim().to_string(),
        _ => return Err(ApiError::bad_request("invalid_type", "`label` is a string or null").with("field", "label")),
    };
    let chars = label.chars().count();
    if chars == 0 || chars > MAX_LABEL_CHARS {
        return Err(ApiError::bad_request(
            "invalid_value",
            format!("`label` has 1 to {MAX_LABEL_CHARS} characters (or is null for the discovered name)"),
        )
        .with("field", "label"));
    }
    Ok(Some(label))
}

/// A field given, `null` included (serde reads a `null` `Option` as absent).
fn present<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<Option<Value>, D::Error> {
    Value::deserialize(deserializer).map(Some)
}

/// Names or pins a topic; answers the topic as `GET` shows it.
pub async fn change(
    state: web::Data<AppState>,
    req: HttpRequest,
    id: web::Path<String>,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let change: TopicChange = read_json(&req, payload, state.config.max_body_bytes).await?;
    let id = topic_id(&id)?;
    if change.label.is_none() && change.pinned.is_none() {
        return Err(ApiError::bad_request("missing_field", "give `label`, `pinned` or both"));
    }
    let pinned = match change.pinned {
        None | Some(Value::Null) => None,
        Some(Value::Bool(pinned)) => Some(pinned),
        Some(_) => {
            return Err(ApiError::bad_request("invalid_type", "`pinned` is true, false or null").with("field", "pinned"))
        }
    };
    let label = change.label.map(analyst_label).transpose()?;
    let (service, analyzer) = (state.service.clone(), state.analyzer.clone());
    let detail = web::block(move || {
        let assigner = analyzer.topics();
        if assigner.as_ref().is_none_or(|a| a.saved.model.topic(id).is_none()) {
            return Ok(None);
        }
        service.store().edit(crate::store::Grouping::Topics, id, label.as_ref().map(Option::as_deref), pinned)?;
        topic_detail(service.store(), assigner.as_deref(), id, Utc::now())
    })
    .await??;
    let detail = detail.ok_or_else(|| ApiError::not_found(format!("no topic {id} in the topic model in use")))?;
    Ok(HttpResponse::Ok().json(detail.topic))
}

/// 202 with a `split_topic` job queued for the topic of the path, and its address in
/// `Location`. The body is the job's (`topics`, `seed`), without `kind` and `topic`.
pub async fn split(
    state: web::Data<AppState>,
    req: HttpRequest,
    id: web::Path<String>,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let body: Value = read_json(&req, payload, state.config.max_body_bytes).await?;
    let topic = topic_id(&id)?;
    let spec = routed_job(body, "split_topic", &[("topic", topic.into())])?;
    if state.analyzer.topics().is_none_or(|a| a.saved.model.topic(topic).is_none()) {
        return Err(ApiError::not_found(format!("no topic {topic} in the topic model in use")));
    }
    submitted(&state, spec).await
}

/// A merge: the topic (or root cause) of the path goes into this one.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct Merge {
    pub into: i64,
}

/// Merges the topic into another: its verbatims move there, and it leaves the model in use.
/// Answers the topic merged into, as `GET` shows it.
pub async fn merge(
    state: web::Data<AppState>,
    req: HttpRequest,
    id: web::Path<String>,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let Merge { into } = read_json(&req, payload, state.config.max_body_bytes).await?;
    let from = topic_id(&id)?;
    if from == into {
        return Err(
            ApiError::bad_request("invalid_value", "a topic cannot be merged into itself").with("field", "into")
        );
    }
    let (service, analyzer) = (state.service.clone(), state.analyzer.clone());
    let detail = web::block(move || {
        let Some(_moved) = service.merge_topics(from, into)? else { return Ok(None) };
        topic_detail(service.store(), analyzer.topics().as_deref(), into, Utc::now()).map_err(ServiceError::from)
    })
    .await??;
    let detail = detail.ok_or_else(|| {
        ApiError::not_found(format!("topics {from} and {into} are not both in the topic model in use"))
    })?;
    Ok(HttpResponse::Ok().json(detail.topic))
}
