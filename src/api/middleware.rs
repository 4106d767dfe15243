//! Cross-cutting request handling: host and origin checks, API keys and their scopes, and
//! Prometheus metrics.

use std::time::Instant;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::{header, Method, StatusCode};
use actix_web::middleware::Next;
use actix_web::{web, Error};

use super::access::Scope;
use super::error::ApiError;
use super::AppState;

/// Paths open without a key: probes, scraping and the API description.
const PUBLIC_PATHS: [&str; 4] = ["/health", "/ready", "/metrics", "/v1/openapi.json"];

/// Whether `path` is answered without an API key: the probes, the metrics, the API's
/// description and the workspace's pages (which hold no data).
pub fn is_public(path: &str) -> bool {
    PUBLIC_PATHS.contains(&path) || super::ui::is_ui_path(path)
}
/// Liveness and readiness, answered whatever the Host.
const PROBE_PATHS: [&str; 2] = ["/health", "/ready"];

fn state(req: &ServiceRequest) -> web::Data<AppState> {
    req.app_data::<web::Data<AppState>>().expect("state is registered").clone()
}

/// Refuses requests for a host we do not serve (DNS rebinding) and browser writes from a
/// foreign origin (cross-site requests), before anything else looks at them.
pub async fn guard_host_and_origin(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, Error> {
    let state = state(&req);
    let header_text = |name| req.headers().get(name).and_then(|v: &header::HeaderValue| v.to_str().ok());
    let host = header_text(header::HOST);
    // Probes answer under any name: orchestrators call them by IP, and they hold no data.
    let probe = PROBE_PATHS.contains(&req.path());
    if !probe && !state.config.hosts.host_allowed(host) {
        return Err(ApiError::new(
            StatusCode::MISDIRECTED_REQUEST,
            "host_not_allowed",
            "this server does not answer for that Host; add it to `allowed_hosts` if it is yours",
        )
        .into());
    }
    if let Some(origin) = req.headers().get(header::ORIGIN) {
        // An Origin that is not even text is nobody's own origin.
        let origin = origin.to_str().unwrap_or("null");
        if !state.config.hosts.origin_allowed(req.method(), origin, host) {
            return Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "cross_origin",
                "writes from a web page of another origin are refused; add the origin to `allowed_origins` to allow them",
            )
            .into());
        }
    }
    next.call(req).await
}

/// Requires `Authorization: Bearer <key>` on every non-public path when keys are configured,
/// and a key that grants the operation's scope.
pub async fn authenticate(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, Error> {
    let state = state(&req);
    let keys = &state.config.api_keys;
    if !keys.is_empty() && !is_public(req.path()) {
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
        // Compare with every key, not stopping at the first match, so timing says nothing.
        let key = keys.iter().fold(None, |found, key| {
            if constant_time_eq(key.secret.as_bytes(), presented.as_bytes()) {
                Some(key)
            } else {
                found
            }
        });
        let Some(key) = key else {
            return Err(ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized", "the API key is not valid").into());
        };
        let pattern = req.match_pattern().unwrap_or_else(|| req.path().to_string());
        if let Some(scope) = Scope::required(req.method(), &pattern) {
            if !key.grants(scope) {
                return Err(ApiError::new(
                    StatusCode::FORBIDDEN,
                    "forbidden",
                    format!("this API key lacks the `{}` scope this operation needs", scope.as_str()),
                )
                .with("scope", scope.as_str())
                .into());
            }
        }
    }
    next.call(req).await
}

/// Compares without an early exit, so response time does not leak how much of a key matched.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Counts requests and times them, labelled by route pattern (not raw path) and by a fixed
/// set of methods, so no request can add a label value of its own making.
pub async fn track(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, Error> {
    let started = Instant::now();
    let state = state(&req);
    let method = method_label(req.method());
    let route = req.match_pattern().unwrap_or_else(|| "unmatched".to_string());
    let result = next.call(req).await;
    let status = match &result {
        Ok(response) => response.status(),
        Err(err) => err.as_response_error().status_code(),
    };
    state.metrics.observe(method, &route, status.as_u16(), started.elapsed().as_secs_f64());
    result
}

fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::HEAD => "HEAD",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::OPTIONS => "OPTIONS",
        _ => "other",
    }
}
