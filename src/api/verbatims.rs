//! `/v1/verbatims` and `/v1/customers`: batch upsert, read, and erasure.

use actix_web::{web, HttpRequest, HttpResponse};
use chrono::Utc;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::body::read_json;
use super::error::ApiError;
use super::{check_batch_size, AppState, ItemRejection};
use crate::domain::Verbatim;

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
    let service = state.service.clone();
    web::block(move || service.upsert(&mut valid)).await??;
    state.metrics.accepted.inc_by(accepted.len() as u64);
    state.metrics.rejected.inc_by(errors.len() as u64);
    Ok(HttpResponse::Ok().json(BatchResult { accepted, errors }))
}

pub async fn get(state: web::Data<AppState>, id: web::Path<String>) -> Result<HttpResponse, ApiError> {
    let service = state.service.clone();
    let id = id.into_inner();
    let lookup = id.clone();
    match web::block(move || service.get(&lookup)).await?? {
        Some(verbatim) => Ok(HttpResponse::Ok().json(verbatim)),
        None => Err(ApiError::not_found(format!("no verbatim with id `{id}`"))),
    }
}

/// 204 once the verbatim is gone from the store and from search; 404 if there was none.
pub async fn delete(state: web::Data<AppState>, id: web::Path<String>) -> Result<HttpResponse, ApiError> {
    let service = state.service.clone();
    let id = id.into_inner();
    let target = id.clone();
    if web::block(move || service.delete(&target)).await?? {
        Ok(HttpResponse::NoContent().finish())
    } else {
        Err(ApiError::not_found(format!("no verbatim with id `{id}`")))
    }
}

/// Erasure of everything a customer said; answers how many verbatims were removed (maybe 0).
pub async fn delete_customer(
    state: web::Data<AppState>,
    customer_id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let service = state.service.clone();
    let customer_id = customer_id.into_inner();
    let target = customer_id.clone();
    let deleted = web::block(move || service.delete_customer(&target)).await??;
    Ok(HttpResponse::Ok().json(serde_json::json!({ "customer_id": customer_id, "deleted": deleted })))
}
