//! `/v1/alerts/rules` (rules on single verbatims or on volumes, see [`crate::alerts`]), `/v1/alerts` (the
//! alerts fired and their webhook delivery) and `/v1/follow-ups` (the actions they opened).
//! A rule's webhook secret is write-only: no answer carries it.

use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};
use chrono::Utc;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::body::read_json;
use super::error::ApiError;
use super::topics::{path_id, query};
use super::{list_limit, parameter, AppState};
use crate::alerts::rules::{self, RuleError};
use crate::domain::{parse_timestamp, DeliveryState, FollowUp, FollowUpStatus};
use crate::kpi::{loop_kpis, LoopGroupBy};
use crate::search::SearchRequest;
use crate::service::Service;
use crate::store::{FollowUpQuery, RuleDraft};

/// Longest follow-up note and owner, in characters.
const MAX_NOTE_CHARS: usize = 2000;
const MAX_OWNER_CHARS: usize = 200;

impl From<RuleError> for ApiError {
    fn from(err: RuleError) -> ApiError {
        ApiError::bad_request(err.code, err.message).with("field", err.field)
    }
}

fn rule_filter(raw: Option<&str>) -> Result<Option<i64>, ApiError> {
    parameter("rule", raw, |raw| raw.parse().ok(), "a rule id")
}

/// Refuses a rule whose filter the index cannot run: a query that does not parse, a category
/// that does not exist (evaluation would skip it for ever).
fn check_filter(service: &Service, draft: &RuleDraft) -> Result<(), ApiError> {
    let filter = SearchRequest::from_filter(&draft.filter)
        .map_err(|err| ApiError::bad_request(err.code, err.message).with("field", "filter"))?;
    service.reader().check_query(&filter).map_err(|err| ApiError::from(err).with("field", "filter"))
}

/// 201 with the rule and its address.
pub async fn create_rule(
    state: web::Data<AppState>,
    req: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let body: Value = read_json(&req, payload, state.config.max_body_bytes).await?;
    let (service, targets) = (state.service.clone(), state.config.webhook_targets);
    let rule = web::block(move || -> Result<_, ApiError> {
        let draft = rules::parse(&body, &targets, false)?;
        check_filter(&service, &draft)?;
        Ok(service.store().create_alert_rule(&draft)?)
    })
    .await??;
    let location = format!("/v1/alerts/rules/{}", rule.id);
    Ok(HttpResponse::Created().insert_header((header::LOCATION, location)).json(rule))
}

pub async fn list_rules(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let service = state.service.clone();
    let rules = web::block(move || service.store().alert_rules()).await??;
    Ok(HttpResponse::Ok().json(serde_json::json!({ "rules": rules })))
}

pub async fn get_rule(state: web::Data<AppState>, id: web::Path<String>) -> Result<HttpResponse, ApiError> {
    let id = path_id(&id, "alert rule")?;
    let service = state.service.clone();
    let rule = web::block(move || service.store().alert_rule(id)).await??;
    Ok(HttpResponse::Ok().json(rule.ok_or_else(|| ApiError::not_found(format!("no alert rule {id}")))?))
}

/// Replaces a rule's settings; a webhook without `secret` keeps the stored secret.
pub async fn update_rule(
    state: web::Data<AppState>,
    req: HttpRequest,
    id: web::Path<String>,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let id = path_id(&id, "alert rule")?;
    let body: Value = read_json(&req, payload, state.config.max_body_bytes).await?;
    let (service, targets) = (state.service.clone(), state.config.webhook_targets);
    let rule = web::block(move || -> Result<_, ApiError> {
        let draft = rules::parse(&body, &targets, true)?;
        check_filter(&service, &draft)?;
        let previous =
            service.store().alert_rule(id)?.ok_or_else(|| ApiError::not_found(format!("no alert rule {id}")))?;
        // A rule on single verbatims evaluates arrivals from its creation, a volume rule whole
        // periods: turned into one another, either would fire on what it was never meant to.
        if draft.volume.is_some() != previous.volume.is_some() {
            return Err(ApiError::bad_request(
                "invalid_value",
                "a rule on volumes cannot become a rule on single verbatims, nor the reverse; create a new rule",
            )
            .with("field", "volume"));
        }
        if draft.webhook.as_ref().is_some_and(|w| w.secret.is_empty()) && previous.webhook.is_none() {
            return Err(ApiError::bad_request("invalid_value", "`webhook.secret` is required for a new webhook")
                .with("field", "webhook"));
        }
        Ok(service.store().update_alert_rule(id, &draft)?)
    })
    .await??;
    Ok(HttpResponse::Ok().json(rule.ok_or_else(|| ApiError::not_found(format!("no alert rule {id}")))?))
}

/// 204; the rule's alerts stay listed, its undelivered ones fail ("rule deleted").
pub async fn delete_rule(state: web::Data<AppState>, id: web::Path<String>) -> Result<HttpResponse, ApiError> {
    let id = path_id(&id, "alert rule")?;
    let service = state.service.clone();
    match web::block(move || service.store().delete_alert_rule(id)).await?? {
        true => Ok(HttpResponse::NoContent().finish()),
        false => Err(ApiError::not_found(format!("no alert rule {id}"))),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AlertsQuery {
    delivery: Option<String>,
    rule: Option<String>,
    limit: Option<String>,
}

/// The alerts fired, newest first, with their delivery state (failures show their last error).
pub async fn list_alerts(state: web::Data<AppState>, req: HttpRequest) -> Result<HttpResponse, ApiError> {
    let asked: AlertsQuery = query(&req)?;
    let delivery =
        parameter("delivery", asked.delivery.as_deref(), DeliveryState::parse, "pending, delivered, failed or none")?;
    let (rule, limit) = (rule_filter(asked.rule.as_deref())?, list_limit(asked.limit.as_deref())?);
    let service = state.service.clone();
    let alerts = web::block(move || service.store().alerts(delivery, rule, limit)).await??;
    Ok(HttpResponse::Ok().json(serde_json::json!({ "alerts": alerts })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FollowUpsQuery {
    status: Option<String>,
    overdue: Option<String>,
    owner: Option<String>,
    rule: Option<String>,
    limit: Option<String>,
}

/// A follow-up with whether it is overdue now.
#[derive(Serialize)]
pub(super) struct FollowUpView {
    #[serde(flatten)]
    follow_up: FollowUp,
    overdue: bool,
}

pub(super) fn views(follow_ups: Vec<FollowUp>) -> Vec<FollowUpView> {
    let now = Utc::now();
    follow_ups.into_iter().map(|f| FollowUpView { overdue: f.overdue(now), follow_up: f }).collect()
}

/// Follow-ups, soonest due first: the queue of customers to call back.
pub async fn list_follow_ups(state: web::Data<AppState>, req: HttpRequest) -> Result<HttpResponse, ApiError> {
    let asked: FollowUpsQuery = query(&req)?;
    let statuses = parameter(
        "status",
        asked.status.as_deref(),
        |raw| {
            let given = raw.split(',').map(str::trim).filter(|s| !s.is_empty());
            given.map(FollowUpStatus::parse).collect::<Option<Vec<_>>>()
        },
        "open, in_progress, contacted or resolved, comma-separated",
    )?
    .unwrap_or_default();
    let overdue = parameter("overdue", asked.overdue.as_deref(), |raw| raw.parse::<bool>().ok(), "true or false")?;
    let wanted = FollowUpQuery {
        statuses,
        owner: asked.owner,
        rule_id: rule_filter(asked.rule.as_deref())?,
        overdue,
        limit: list_limit(asked.limit.as_deref())?,
    };
    let service = state.service.clone();
    let found = web::block(move || service.store().follow_ups(&wanted, Utc::now())).await??;
    Ok(HttpResponse::Ok().json(serde_json::json!({ "follow_ups": views(found) })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LoopQuery {
    group_by: Option<String>,
    from: Option<String>,
    to: Option<String>,
}

/// KPIs of the loop itself: of the follow-ups opened in `[from, to)`, the share of customers
/// reached in time and the median time to reach them, in total and by rule or owner.
pub async fn follow_up_kpis(state: web::Data<AppState>, req: HttpRequest) -> Result<HttpResponse, ApiError> {
    let asked: LoopQuery = query(&req)?;
    let group_by = parameter("group_by", asked.group_by.as_deref(), LoopGroupBy::parse, "rule or owner")?;
    let bound = |name, raw| parameter(name, raw, parse_timestamp, "an RFC 3339 timestamp or YYYY-MM-DD");
    let (from, to) = (bound("from", asked.from.as_deref())?, bound("to", asked.to.as_deref())?);
    let service = state.service.clone();
    let every = FollowUpQuery { limit: usize::MAX, ..FollowUpQuery::default() };
    let now = Utc::now();
    let mut found = web::block(move || service.store().follow_ups(&every, now)).await??;
    found.retain(|f| from.is_none_or(|from| f.created_at >= from) && to.is_none_or(|to| f.created_at < to));
    let (total, groups) = loop_kpis(&found, group_by, now);
    Ok(HttpResponse::Ok().json(serde_json::json!({ "total": total, "groups": groups })))
}

pub async fn get_follow_up(state: web::Data<AppState>, id: web::Path<String>) -> Result<HttpResponse, ApiError> {
    let id = path_id(&id, "follow-up")?;
    let service = state.service.clone();
    let found = web::block(move || service.store().follow_up(id)).await??;
    let found = found.ok_or_else(|| ApiError::not_found(format!("no follow-up {id}")))?;
    Ok(HttpResponse::Ok().json(views(vec![found]).pop()))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FollowUpChange {
    status: Option<FollowUpStatus>,
    /// `null` clears it.
    #[serde(default, deserialize_with = "present")]
    owner: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    note: Option<Option<String>>,
}

/// Tells a field given as `null` (`Some(None)`) from one left out (`None`).
fn present<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<Option<Option<String>>, D::Error> {
    Option::<String>::deserialize(deserializer).map(Some)
}

/// Changes a follow-up's status, owner or note: what the calling system or a person records.
pub async fn update_follow_up(
    state: web::Data<AppState>,
    req: HttpRequest,
    id: web::Path<String>,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let id = path_id(&id, "follow-up")?;
    let change: FollowUpChange = read_json(&req, payload, state.config.max_body_bytes).await?;
    for (field, value, max) in [("owner", &change.owner, MAX_OWNER_CHARS), ("note", &change.note, MAX_NOTE_CHARS)] {
        if value.as_ref().and_then(Option::as_ref).is_some_and(|v| v.chars().count() > max) {
            return Err(ApiError::bad_request("invalid_value", format!("`{field}` has at most {max} characters"))
                .with("field", field));
        }
    }
    let service = state.service.clone();
    let updated = web::block(move || {
        service.store().update_follow_up(
            id,
            change.status,
            change.owner.as_ref().map(Option::as_deref),
            change.note.as_ref().map(Option::as_deref),
        )
    })
    .await??;
    let updated = updated.ok_or_else(|| ApiError::not_found(format!("no follow-up {id}")))?;
    Ok(HttpResponse::Ok().json(views(vec![updated]).pop()))
}
