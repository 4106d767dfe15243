//! The HTTP API (v1): thin handlers that parse, call the [`Service`], and map errors.
//!
//! One file per resource; cross-cutting concerns (hosts and origins, keys and scopes, metrics)
//! live in [`middleware`], the rules they apply in [`access`]. Errors are problem documents
//! ([`error::ApiError`]).

pub mod access;
mod alerts;
mod analyze;
mod body;
mod categories;
mod error;
mod export;
mod jobs;
mod kpis;
mod metrics;
mod middleware;
mod ops;
mod root_causes;
mod search;
mod stream;
mod topics;
mod ui;
mod verbatims;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use actix_web::http::StatusCode;
use actix_web::middleware::from_fn;
use actix_web::{web, App, HttpResponse, HttpServer};

use access::{ApiKey, HostPolicy};
pub use error::ApiError;

use crate::alerts::target::TargetPolicy;
use crate::input::{item_id, ItemError};
use crate::jobs::Jobs;
use crate::pipeline::Analyzer;
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
    /// Accepted bearer keys and their scopes; empty means no authentication.
    pub api_keys: Vec<ApiKey>,
    /// A request body must have arrived within this, or the request gets 408.
    pub body_timeout: Duration,
    /// Open connections at once, over all workers; more wait in the listen queue.
    pub max_connections: usize,
    pub hosts: HostPolicy,
    /// Where alert rules' webhooks may point.
    pub webhook_targets: TargetPolicy,
}

/// Most items one list request returns (erasures, alerts, follow-ups), and the default.
const MAX_LIST: usize = 1000;
const DEFAULT_LIST: usize = 100;

/// An optional query parameter read by `parse`; a value it refuses is `invalid_parameter`,
/// naming the parameter and what it `expected`.
fn parameter<T>(
    name: &'static str,
    raw: Option<&str>,
    parse: impl FnOnce(&str) -> Option<T>,
    expected: &str,
) -> Result<Option<T>, ApiError> {
    raw.map(|raw| {
        parse(raw).ok_or_else(|| {
            ApiError::bad_request("invalid_parameter", format!("parameter `{name}`: expected {expected}"))
                .with("parameter", name)
        })
    })
    .transpose()
}

/// A list's `limit`: 1 to [`MAX_LIST`], [`DEFAULT_LIST`] when not given.
fn list_limit(raw: Option<&str>) -> Result<usize, ApiError> {
    let limit = parameter(
        "limit",
        raw,
        |raw| raw.parse().ok().filter(|n| (1..=MAX_LIST).contains(n)),
        &format!("1 to {MAX_LIST}"),
    )?;
    Ok(limit.unwrap_or(DEFAULT_LIST))
}

/// Exports and job results downloads streaming at once; more get 429.
const MAX_STREAMS: usize = 4;

pub struct AppState {
    pub service: Arc<Service>,
    /// The models `/v1/analyze` runs (ingestion's run inside the service).
    pub analyzer: Arc<Analyzer>,
    /// Background jobs, run beside the requests.
    pub jobs: Arc<Jobs>,
    /// Places for streamed bodies (exports, job results) at once: each holds a thread.
    streams: Arc<tokio::sync::Semaphore>,
    pub config: ApiConfig,
    metrics: metrics::Metrics,
}

/// Mounts every route; shared by the server and by in-process tests. Every resource answers
/// other methods with 405 and the `Allow` header listing its own.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(resource("/health", "GET").get(ops::health))
        .service(resource("/ready", "GET").get(ops::ready))
        .service(resource("/metrics", "GET").get(ops::metrics))
        .service(resource("/v1/openapi.json", "GET").get(ops::openapi))
        .service(resource("/v1/verbatims", "POST").post(verbatims::upsert))
        .service(resource("/v1/verbatims/{id}", "GET, DELETE").get(verbatims::get).delete(verbatims::delete))
        .service(resource("/v1/customers/{customer_id}", "DELETE").delete(verbatims::delete_customer))
        .service(resource("/v1/customers/{customer_id}/export", "GET").get(verbatims::export_customer))
        .service(resource("/v1/erasures", "GET").get(verbatims::erasures))
        .service(resource("/v1/analyze", "POST").post(analyze::analyze))
        .service(resource("/v1/search", "GET").get(search::search))
        .service(resource("/v1/export", "GET").get(export::export))
        .service(resource("/v1/kpis", "GET").get(kpis::kpis))
        .service(resource("/v1/alerts", "GET").get(alerts::list_alerts))
        .service(resource("/v1/alerts/rules", "GET, POST").get(alerts::list_rules).post(alerts::create_rule))
        .service(
            resource("/v1/alerts/rules/{id}", "GET, PUT, DELETE")
                .get(alerts::get_rule)
                .put(alerts::update_rule)
                .delete(alerts::delete_rule),
        )
        .service(resource("/v1/follow-ups", "GET").get(alerts::list_follow_ups))
        .service(resource("/v1/follow-ups/kpis", "GET").get(alerts::follow_up_kpis))
        .service(
            resource("/v1/follow-ups/{id}", "GET, PATCH").get(alerts::get_follow_up).patch(alerts::update_follow_up),
        )
        .service(resource("/v1/jobs", "GET, POST").get(jobs::list).post(jobs::create))
        .service(resource("/v1/jobs/{id}", "GET, DELETE").get(jobs::get).delete(jobs::remove))
        .service(resource("/v1/jobs/{id}/results", "GET").get(jobs::results))
        .service(resource("/v1/jobs/{id}/rejected", "GET").get(jobs::rejected))
        .service(resource("/v1/topics", "GET").get(topics::list))
        .service(resource("/v1/topics/discover", "POST").post(topics::discover))
        .service(resource("/v1/topics/{id}", "GET, PATCH").get(topics::get).patch(topics::change))
        .service(resource("/v1/topics/{id}/merge", "POST").post(topics::merge))
        .service(resource("/v1/topics/{id}/split", "POST").post(topics::split))
        .service(resource("/v1/root-causes", "GET").get(root_causes::list))
        .service(resource("/v1/root-causes/discover", "POST").post(root_causes::discover))
        .service(resource("/v1/root-causes/{id}", "PATCH").patch(root_causes::change))
        .service(resource("/v1/root-causes/{id}/merge", "POST").post(root_causes::merge))
        .service(resource("/v1/root-causes/{id}/split", "POST").post(root_causes::split))
        .service(resource("/v1/categories", "GET, POST").get(categories::list).post(categories::create))
        .service(resource("/v1/categories/{id}", "GET, DELETE").get(categories::get).delete(categories::remove));
}

/// A resource whose unhandled methods get 405 naming `allow`.
fn resource(path: &str, allow: &'static str) -> actix_web::Resource {
    web::resource(path).default_service(web::to(move || async move {
        Err::<HttpResponse, ApiError>(ApiError::method_not_allowed(allow))
    }))
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

async fn no_route() -> Result<HttpResponse, ApiError> {
    Err(ApiError::not_found("no such endpoint; see /v1/openapi.json"))
}

/// Serves until SIGINT or SIGTERM, then lets in-flight requests finish (up to 30 s).
/// `on_bound` receives the listening address (useful with port 0).
pub async fn serve(
    service: Arc<Service>,
    analyzer: Arc<Analyzer>,
    jobs: Arc<Jobs>,
    addr: SocketAddr,
    config: ApiConfig,
    on_bound: impl FnOnce(SocketAddr),
) -> anyhow::Result<()> {
    allow_open_files(config.max_connections);
    let workers = std::thread::available_parallelism().map_or(1, |n| n.get());
    let per_worker = config.max_connections.div_ceil(workers).max(1);
    let state = web::Data::new(AppState {
        service,
        analyzer,
        jobs,
        config,
        streams: Arc::new(tokio::sync::Semaphore::new(MAX_STREAMS)),
        metrics: metrics::Metrics::default(),
    });
    let server = HttpServer::new(move || {
        // The last `wrap` runs first: metrics see every request, hosts are checked before keys.
        App::new()
            .app_data(state.clone())
            .wrap(from_fn(middleware::authenticate))
            .wrap(from_fn(middleware::guard_host_and_origin))
            .wrap(from_fn(middleware::track))
            .configure(routes)
            .configure(ui::routes)
            .default_service(web::to(no_route))
    })
    .workers(workers)
    .max_connections(per_worker)
    .shutdown_timeout(30)
    .bind(addr)?;
    let bound = *server.addrs().first().expect("bound to one address");
    on_bound(bound);
    server.run().await?;
    Ok(())
}

/// Raises the soft limit on open files to the hard one when it is too low for the connection
/// cap plus the store's and index's files: past it, even `/health` fails.
fn allow_open_files(max_connections: usize) {
    #[cfg(unix)]
    // SAFETY: getrlimit/setrlimit read and write a plain struct we own.
    unsafe {
        let mut limit = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) != 0 {
            return;
        }
        let wanted = (max_connections as libc::rlim_t).saturating_add(512).min(limit.rlim_max);
        if limit.rlim_cur < wanted {
            limit.rlim_cur = wanted;
            if libc::setrlimit(libc::RLIMIT_NOFILE, &limit) != 0 {
                tracing::warn!(wanted, "could not raise the open-file limit; lower max_connections if /health fails");
            }
        }
    }
}
