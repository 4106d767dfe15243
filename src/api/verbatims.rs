//! `/v1/verbatims`, `/v1/customers` and `/v1/erasures`: batch upsert, read, erasure and the
//! erasure audit record.

use actix_web::{web, HttpRequest, HttpResponse};
use chrono::Utc;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::body::read_json;
use super::error::ApiError;
use super::{check_batch_size, list_limit, parameter, AppState, ItemRejection};
use crate::domain::Verbatim;
use crate::service::{Write, Written};
use crate::store::ErasureKind;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Batch {
    /// Kept loose so one malformed item is rejected alone, not the whole batch.
    verbatims: Vec<Value>,
}

#[derive(Serialize)]
struct BatchResult {
    accepted: Vec<String>,
    errors: Vec<ItemRejection>,
}

pub async fn upsert(
    state: web::Data<AppState>,
    req: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let batch: Batch = read_json(&req, payload, state.config.max_body_bytes).await?;
    check_batch_size("verbatims", batch.verbatims.len(), state.config.max_batch_items)?;
    let now = Utc::now();
    let mut valid = Vec::with_capacity(batch.verbatims.len());
    let mut errors = Vec::new();
    for (index, item) in batch.verbatims.iter().enumerate() {
        match Verbatim::from_json(item, now) {
            Ok(verbatim) => valid.push(verbatim),
            Err(error) => errors.push(ItemRejection::new(index, item, error)),
        }
    }
    let accepted: Vec<String> = valid.iter().map(|v| v.id.clone()).collect();
    if !valid.is_empty() {
        // A place is taken once the body is in: a client slow to send holds no place.
        let permit = state.service.admit()?;
        let service = state.service.clone();
        let written =
            web::block(move || service.analyze(&mut valid).map(|()| service.submit(Write::Upsert(valid), permit)))
                .await??;
        written.await?;
    }
    state.metrics.accepted.inc_by(accepted.len() as u64);
    state.metrics.rejected.inc_by(errors.len() as u64);
    Ok(HttpResponse::Ok().json(BatchResult { accepted, errors }))
}

pub async fn get(state: web::Data<AppState>, id: web::Path<String>) -> Result<HttpResponse, ApiError> {
    let service = state.service.clone();
    let id = id.into_inner();
    let lookup = id.clone();
    match web::block(move || service.reader().get(&lookup)).await?? {
        Some(verbatim) => Ok(HttpResponse::Ok().json(verbatim)),
        None => Err(ApiError::not_found(format!("no verbatim with id `{id}`"))),
    }
}

/// 204 once the verbatim is gone from the store and from search; 404 if there was none.
pub async fn delete(state: web::Data<AppState>, id: web::Path<String>) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    let permit = state.service.admit_erasure()?;
    let written = state.service.submit(Write::Delete(id.clone()), permit).await?;
    erase_from_job_results(&state).await?;
    match written {
        Written::Deleted(true) => Ok(HttpResponse::NoContent().finish()),
        _ => Err(ApiError::not_found(format!("no verbatim with id `{id}`"))),
    }
}

/// Carries an erasure into the results jobs keep in files. It runs again at every start-up
/// and with every erasure, so a failure here is repaired; the client hears of it (500) and
/// may retry.
async fn erase_from_job_results(state: &web::Data<AppState>) -> Result<(), ApiError> {
    let jobs = state.jobs.clone();
    web::block(move || jobs.erase_from_results())
        .await?
        .map_err(|e| ApiError::internal("erasure_incomplete", &format!("erasing from job results: {e}")))
}

/// Erasure of everything a customer said; answers how many verbatims were removed (maybe 0).
pub async fn delete_customer(
    state: web::Data<AppState>,
    customer_id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let customer_id = customer_id.into_inner();
    let permit = state.service.admit_erasure()?;
    let deleted = match state.service.submit(Write::DeleteCustomer(customer_id.clone()), permit).await? {
        Written::DeletedCustomer(count) => count,
        other => unreachable!("a customer erasure answered {other:?}"),
    };
    erase_from_job_results(&state).await?;
    Ok(HttpResponse::Ok().json(serde_json::json!({ "customer_id": customer_id, "deleted": deleted })))
}

/// Everything stored about one customer (the GDPR right of access): their verbatims with
/// every analysis, the alerts they fired and the follow-ups opened for them. Erasure
/// (`DELETE /v1/customers/{id}`) removes the same.
pub async fn export_customer(
    state: web::Data<AppState>,
    customer_id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let customer_id = customer_id.into_inner();
    let service = state.service.clone();
    let wanted = customer_id.clone();
    let (verbatims, (alerts, follow_ups)) = web::block(move || -> Result<_, ApiError> {
        Ok((service.reader().of_customer(&wanted)?, service.store().alerts_of_customer(&wanted)?))
    })
    .await??;
    Ok(HttpResponse::Ok()
        .insert_header((actix_web::http::header::CONTENT_DISPOSITION, "attachment; filename=\"customer-export.json\""))
        .json(serde_json::json!({
            "customer_id": customer_id,
            "exported_at": crate::domain::rfc3339::format(&chrono::Utc::now()),
            "verbatims": verbatims,
            "alerts": alerts,
            "follow_ups": super::alerts::views(follow_ups),
        })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ErasuresQuery {
    limit: Option<String>,
    kind: Option<String>,
}

/// The erasure audit record, newest first: when, what kind, the hashed subject, how many.
pub async fn erasures(state: web::Data<AppState>, req: HttpRequest) -> Result<HttpResponse, ApiError> {
    let query = web::Query::<ErasuresQuery>::from_query(req.query_string())
        .map_err(|e| ApiError::bad_request("invalid_parameter", e.to_string()))?;
    let limit = list_limit(query.limit.as_deref())?;
    let kind = parameter("kind", query.kind.as_deref(), ErasureKind::parse, "verbatim, customer or retention")?;
    let service = state.service.clone();
    let erasures = web::block(move || service.reader().erasures(kind, limit)).await??;
    Ok(HttpResponse::Ok().json(serde_json::json!({ "erasures": erasures })))
}
