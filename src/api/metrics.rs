//! Prometheus metrics: request counts and latencies, and the size of what is stored.

use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, Opts, Registry, TextEncoder,
};

use crate::service::Service;

pub struct Metrics {
    registry: Registry,
    requests: IntCounterVec,
    latency: HistogramVec,
    pub accepted: IntCounter,
    pub rejected: IntCounter,
    stored: IntGauge,
    indexed: IntGauge,
    store_bytes: IntGauge,
}

impl Metrics {
    fn new() -> Metrics {
        let requests = IntCounterVec::new(
            Opts::new("verbatim_http_requests_total", "HTTP requests by method, route and status"),
            &["method", "route", "status"],
        )
        .expect("valid metric");
        let latency = HistogramVec::new(
            HistogramOpts::new("verbatim_http_request_duration_seconds", "HTTP request latency by route")
                .buckets(vec![0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0]),
            &["method", "route"],
        )
        .expect("valid metric");
        let accepted =
            IntCounter::new("verbatim_verbatims_accepted_total", "Verbatims stored through the API").expect("valid");
        let rejected =
            IntCounter::new("verbatim_verbatims_rejected_total", "Verbatims rejected by validation").expect("valid");
        let stored = IntGauge::new("verbatim_verbatims_stored", "Verbatims in the store").expect("valid");
        let indexed = IntGauge::new("verbatim_verbatims_indexed", "Verbatims in the search index").expect("valid");
        let store_bytes = IntGauge::new("verbatim_store_bytes", "Size of the SQLite store and its WAL").expect("valid");
        let registry = Registry::new();
        for collector in [
            Box::new(requests.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(latency.clone()),
            Box::new(accepted.clone()),
            Box::new(rejected.clone()),
            Box::new(stored.clone()),
            Box::new(indexed.clone()),
            Box::new(store_bytes.clone()),
        ] {
            registry.register(collector).expect("unique metric names");
        }
        Metrics { registry, requests, latency, accepted, rejected, stored, indexed, store_bytes }
    }

    pub fn observe(&self, method: &str, route: &str, status: u16, seconds: f64) {
        self.requests.with_label_values(&[method, route, &status.to_string()]).inc();
        self.latency.with_label_values(&[method, route]).observe(seconds);
    }

    /// The text exposition, with store gauges read now.
    pub fn render(&self, service: &Service) -> String {
        if let Ok(count) = service.reader().stored_count() {
            self.stored.set(count as i64);
        }
        self.indexed.set(service.reader().indexed_count() as i64);
        self.store_bytes.set(service.reader().store_bytes() as i64);
        let mut out = Vec::new();
        TextEncoder::new().encode(&self.registry.gather(), &mut out).expect("text encoding cannot fail");
        String::from_utf8(out).expect("prometheus text is UTF-8")
    }
}

impl Default for Metrics {
    fn default() -> Metrics {
        Metrics::new()
    }
}
