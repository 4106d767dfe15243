//! The HTTP API (v1): thin handlers that parse, call the [`Service`], and map errors.
//!
//! One file per resource; cross-cutting concerns (authentication, metrics) live in
//! [`middleware`]. Errors are problem documents ([`error::ApiError`]).

mod analyze;
mod body;
mod error;
mod metrics;
mod middleware;
mod ops;
mod search;
mod verbatims;

use std::net::SocketAddr;
use std::sync::Arc;

use actix_web::http::StatusCode;
use actix_web::middleware::from_fn;
use actix_web::{web, App, HttpResponse, HttpServer};

pub use error::ApiError;
pub use ops::OPENAPI;

use crate::domain::{item_id, ItemError};
use crate::service::Service;

/// One rejected item of a batch request, named by its position (and id, when it has one).
#[derive(serde::Serialize)]
pub struct ItemRejection {
    index: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    id: Option<String>,
    #[serde(flatten)]
    error: ItemError,
}

impl ItemRejection {
    fn new(index: usize, item: &serde_json::Value, error: ItemError) -> ItemRejection {
        ItemRejection { index, id: item_id(item), error }
    }
}

/// Limits and credentials of the HTTP API.
#[derive(Debug, Clone)]
pub struct ApiConfig {
    pub max_body_bytes: usize,
    pub max_batch_items: usize,
    /// Accepted bearer keys; empty means no authentication.
    pub api_keys: Vec<String>,
}

pub struct AppState {
    pub service: Arc<Service>,
    pub config: ApiConfig,
    metrics: metrics::Metrics,
}

/// Mounts every route; shared by the server and by in-process tests.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/health", web::get().to(ops::health))
        .route("/ready", web::get().to(ops::ready))
        .route("/metrics", web::get().to(ops::metrics))
        .route("/v1/openapi.json", web::get().to(ops::openapi))
        .service(web::resource("/v1/verbatims").post(verbatims::upsert).default_service(web::to(method_not_allowed)))
        .service(
            web::resource("/v1/verbatims/{id}")
                .get(verbatims::get)
                .delete(verbatims::delete)
                .default_service(web::to(method_not_allowed)),
        )
        .service(
            web::resource("/v1/customers/{customer_id}")
                .delete(verbatims::delete_customer)
                .default_service(web::to(method_not_allowed)),
        )
        .service(web::resource("/v1/analyze").post(analyze::analyze).default_service(web::to(method_not_allowed)))
        .service(web::resource("/v1/search").get(search::search).default_service(web::to(method_not_allowed)));
}

/// Refuses a batch with no items (400) or more than `max` (413), naming its `field`.
fn check_batch_size(field: &str, len: usize, max: usize) -> Result<(), ApiError> {
    if len > max {
        return Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "batch_too_large",
            format!("{len} items in `{field}`; the limit is {max}"),
        )
        .with("limit", max));
    }
    if len == 0 {
        return Err(ApiError::bad_request("empty_batch", format!("`{field}` is empty")));
    }
    Ok(())
}

async fn method_not_allowed() -> Result<HttpResponse, ApiError> {
    Err(ApiError::new(StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed", "this method is not allowed here"))
}

async fn no_route() -> Result<HttpResponse, ApiError> {
    Err(ApiError::not_found("no such endpoint; see /v1/openapi.json"))
}

/// Serves until SIGINT or SIGTERM, then lets in-flight requests finish (up to 30 s).
/// `on_bound` receives the listening address (useful with port 0).
pub async fn serve(
    service: Arc<Service>,
    addr: SocketAddr,
    config: ApiConfig,
    on_bound: impl FnOnce(SocketAddr),
) -> anyhow::Result<()> {
    let state = web::Data::new(AppState { service, config, metrics: metrics::Metrics::default() });
    let server = HttpServer::new(move || {
        App::new()
            .app_data(state.clone())
            .wrap(from_fn(middleware::authenticate))
            .wrap(from_fn(middleware::track))
            .configure(routes)
            .default_service(web::to(no_route))
    })
    .shutdown_timeout(30)
    .bind(addr)?;
    let bound = *server.addrs().first().expect("bound to one address");
    on_bound(bound);
    server.run().await?;
    Ok(())
}
