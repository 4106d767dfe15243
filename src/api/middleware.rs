//! Cross-cutting request handling: API-key authentication and Prometheus metrics.

use std::time::Instant;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::{header, StatusCode};
use actix_web::middleware::Next;
use actix_web::{web, Error};

use super::error::ApiError;
use super::AppState;

/// Paths open without a key: probes, scraping and the API description.
const PUBLIC_PATHS: [&str; 4] = ["/health", "/ready", "/metrics", "/v1/openapi.json"];

/// Requires `Authorization: Bearer <key>` on every non-public path when keys are configured.
pub async fn authenticate(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, Error> {
    let state = req.app_data::<web::Data<AppState>>().expect("state is registered");
    let keys = &state.config.api_keys;
    if !keys.is_empty() && !PUBLIC_PATHS.contains(&req.path()) {
        let presented = req
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::trim);
        let Some(presented) = presented else {
            return Err(ApiError::new(
                StatusCode::UNAUTHORIZED,
                "unauthorized",
                "send `Authorization: Bearer <API key>`",
            )
            .into());
        };
        if !keys.iter().any(|key| constant_time_eq(key.as_bytes(), presented.as_bytes())) {
            return Err(ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized", "the API key is not valid").into());
        }
    }
    next.call(req).await
}

/// Compares without an early exit, so response time does not leak how much of a key matched.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Counts requests and times them, labelled by route pattern (not raw path, to bound cardinality).
pub async fn track(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, Error> {
    let started = Instant::now();
    let state = req.app_data::<web::Data<AppState>>().expect("state is registered").clone();
    let method = req.method().to_string();
    let route = req.match_pattern().unwrap_or_else(|| "unmatched".to_string());
    let result = next.call(req).await;
    let status = match &result {
        Ok(response) => response.status(),
        Err(err) => err.as_response_error().status_code(),
    };
    state.metrics.observe(&method, &route, status.as_u16(), started.elapsed().as_secs_f64());
    result
}
