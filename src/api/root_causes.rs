//! `/v1/root-causes`: discover root causes over the stored verbatims (a
//! `discover_root_causes` job), rank those of the model in use over the verbatims a search
//! filter selects, name one, merge one into another (see [`crate::root_causes`]).

use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;
use serde_json::Value;

use super::body::read_json;
use super::error::ApiError;
use super::jobs::{routed_job, submitted};
use super::topics::{analyst_label, path_id, Merge};
use super::AppState;
use crate::root_causes::report::{root_causes_report, RootCauseOrder, RootCausesReport};
use crate::search::SearchRequest;
use crate::service::{Service, ServiceError};
use crate::store::Grouping;
use crate::topics::report::ModelInfo;

/// Search parameters that shape a page of results, which a ranking does not have.
const PAGING: [&str; 2] = ["limit", "offset"];

/// 202 with the `discover_root_causes` job queued, and its address in `Location`. The body
/// is the job's, without `kind`.
pub async fn discover(
    state: web::Data<AppState>,
    req: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let body: Value = read_json(&req, payload, state.config.max_body_bytes).await?;
    submitted(&state, routed_job(body, "discover_root_causes", &[])?).await
}

/// The ranking over the verbatims the search parameters select, in the `sort` asked for
/// (`volume`, `negative`, `nps_impact`, `lift`).
pub async fn list(state: web::Data<AppState>, req: HttpRequest) -> Result<HttpResponse, ApiError> {
    let params = web::Query::<Vec<(String, String)>>::from_query(req.query_string())
        .map_err(|e| ApiError::bad_request("invalid_parameter", e.to_string()))?;
    let mut order = RootCauseOrder::default();
    let mut filters = Vec::new();
    for (key, value) in params.iter() {
        match key.as_str() {
            "sort" => {
                order = RootCauseOrder::parse(value).ok_or_else(|| {
                    ApiError::bad_request("invalid_parameter", "`sort` is `volume`, `negative`, `nps_impact` or `lift`")
                        .with("parameter", "sort")
                })?
            }
            paging if PAGING.contains(&paging) => {
                return Err(ApiError::bad_request(
                    "invalid_parameter",
                    format!("parameter `{paging}`: the ranking holds every root cause cited; it takes no paging"),
                )
                .with("parameter", paging))
            }
            _ => filters.push((key.as_str(), value.as_str())),
        }
    }
    let filter = SearchRequest::from_params(filters)
        .map_err(|e| ApiError::bad_request("invalid_parameter", e.to_string()).with("parameter", e.parameter))?;
    let service = state.service.clone();
    let report = web::block(move || ranking(&service, &filter, &[], order)).await??;
    Ok(HttpResponse::Ok().json(report))
}

/// The ranking over what `filter` selects, with the root causes `shown` even if uncited.
fn ranking(
    service: &Service,
    filter: &SearchRequest,
    shown: &[i64],
    order: RootCauseOrder,
) -> Result<RootCausesReport, ServiceError> {
    // A query the engine refuses is the client's error (400), not a failed ranking.
    service.reader().check_query(filter)?;
    let model = service.analyzer().root_causes();
    let info = match (&model, service.store().saved_model_header(Grouping::RootCauses)?) {
        (Some(model), Some(saved)) => Some(ModelInfo::of(saved, &model.assigner)),
        _ => None,
    };
    let search = |request: &SearchRequest| Ok(service.reader().search(request)?);
    Ok(root_causes_report(model.as_deref(), info, filter, shown, order, &search)?)
}

fn root_cause_id(path: &str) -> Result<i64, ApiError> {
    path_id(path, "root cause")
}

/// What an analyst may change of a root cause.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RootCauseChange {
    /// A name of their own; `null` gives the root cause back its discovered name. Required.
    label: Value,
}

/// The root cause `id` as the ranking over every stored verbatim shows it.
fn ranked(service: &Service, id: i64) -> Result<Option<Value>, ServiceError> {
    let report = ranking(service, &SearchRequest::default(), &[id], RootCauseOrder::default())?;
    let found = report.root_causes.into_iter().find(|cause| cause.id == id);
    Ok(found.map(|cause| serde_json::to_value(cause).expect("a root cause serialises")))
}

/// Names a root cause; answers it as the ranking over every stored verbatim shows it.
pub async fn change(
    state: web::Data<AppState>,
    req: HttpRequest,
    id: web::Path<String>,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let change: RootCauseChange = read_json(&req, payload, state.config.max_body_bytes).await?;
    let id = root_cause_id(&id)?;
    let label = analyst_label(change.label)?;
    let service = state.service.clone();
    let answer = web::block(move || {
        let in_use = service.analyzer().root_causes();
        if in_use.is_none_or(|model| model.assigner.saved.model.topic(id).is_none()) {
            return Ok(None);
        }
        service.rename_root_cause(id, label.as_deref())?;
        ranked(&service, id)
    })
    .await??;
    let answer =
        answer.ok_or_else(|| ApiError::not_found(format!("no root cause {id} in the root-cause model in use")))?;
    Ok(HttpResponse::Ok().json(answer))
}

/// 202 with a `split_root_cause` job queued for the root cause of the path, and its address
/// in `Location`. The body is the job's (`parts`, `seed`), without `kind` and `root_cause`.
pub async fn split(
    state: web::Data<AppState>,
    req: HttpRequest,
    id: web::Path<String>,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let body: Value = read_json(&req, payload, state.config.max_body_bytes).await?;
    let id = root_cause_id(&id)?;
    let spec = routed_job(body, "split_root_cause", &[("root_cause", id.into())])?;
    if state.analyzer.root_causes().is_none_or(|model| model.assigner.saved.model.topic(id).is_none()) {
        return Err(ApiError::not_found(format!("no root cause {id} in the root-cause model in use")));
    }
    submitted(&state, spec).await
}

/// Merges the root cause into another: its verbatims cite that one instead, and it leaves the
/// model in use. Answers the root cause merged into, as the ranking shows it.
pub async fn merge(
    state: web::Data<AppState>,
    req: HttpRequest,
    id: web::Path<String>,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let Merge { into } = read_json(&req, payload, state.config.max_body_bytes).await?;
    let from = root_cause_id(&id)?;
    if from == into {
        return Err(
            ApiError::bad_request("invalid_value", "a root cause cannot be merged into itself").with("field", "into")
        );
    }
    let service = state.service.clone();
    let answer = web::block(move || {
        let Some(_moved) = service.merge_root_causes(from, into)? else { return Ok(None) };
        ranked(&service, into)
    })
    .await??;
    let answer = answer.ok_or_else(|| {
        ApiError::not_found(format!("root causes {from} and {into} are not both in the root-cause model in use"))
    })?;
    Ok(HttpResponse::Ok().json(answer))
}
