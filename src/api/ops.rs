//! Operations endpoints: liveness, readiness, metrics and the API description.

use actix_web::{web, HttpResponse};
use serde_json::json;

use super::error::ApiError;
use super::AppState;

/// The OpenAPI 3.1 description of this API, kept beside the handlers it describes.
pub const OPENAPI: &str = include_str!("openapi.json");

/// Alive: the process answers.
pub async fn health() -> HttpResponse {
    HttpResponse::Ok().json(json!({ "status": "ok" }))
}

/// Ready: the store answers (the index was repaired before the server started listening).
pub async fn ready(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let service = state.service.clone();
    web::block(move || service.store().ping())
        .await?
        .map_err(|e| ApiError::new(actix_web::http::StatusCode::SERVICE_UNAVAILABLE, "not_ready", e.to_string()))?;
    Ok(HttpResponse::Ok().json(json!({ "status": "ready" })))
}

pub async fn metrics(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let state = state.into_inner();
    let text = web::block(move || state.metrics.render(&state.service)).await?;
    Ok(HttpResponse::Ok().content_type("text/plain; version=0.0.4").body(text))
}

pub async fn openapi() -> HttpResponse {
    HttpResponse::Ok().content_type("application/json").body(OPENAPI)
}
