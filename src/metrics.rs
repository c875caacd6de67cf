//! Prometheus metrics at `/metrics`. Counters, histograms and the pool
//! gauges are per instance; the outbox gauges are read from the database on
//! each scrape, so every instance reports the same shared queue.

use std::sync::OnceLock;

use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

use crate::app::AppState;
use crate::email::outbox;

/// Requests served, by method, matched route and status.
pub const HTTP_REQUESTS: &str = "postgate_http_requests_total";
/// Time from the moment postgate starts handling a request, after its head is
/// parsed, until the response head is ready, in seconds.
pub const HTTP_REQUEST_DURATION: &str = "postgate_http_request_duration_seconds";

/// Latency buckets in seconds: from a cached read to a slow password hash
/// or a request that ran into the timeout.
const LATENCY_BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

/// Returns the handle of the process-wide recorder, installing it on first use.
pub fn handle() -> PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let recorder = PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Full(HTTP_REQUEST_DURATION.to_owned()), LATENCY_BUCKETS)
                .expect("the latency buckets are not empty")
                .build_recorder();
            let handle = recorder.handle();
            if metrics::set_global_recorder(recorder).is_err() {
                tracing::warn!("another metrics recorder is installed; /metrics will show only the outbox gauges");
            }
            handle
        })
        .clone()
}

/// Renders every metric in the Prometheus text format.
#[utoipa::path(get, path = "/metrics", tag = "health", responses((status = 200, description = "Prometheus text format", content_type = "text/plain", body = String)))]
pub async fn render(State(state): State<AppState>) -> Response {
    match outbox::count_by_status(&state.db).await {
        Ok(counts) => {
            for status in ["queued", "sent", "failed"] {
                let count = counts
                    .iter()
                    .find(|(s, _)| s == status)
                    .map_or(0, |(_, n)| *n);
                #[allow(clippy::cast_precision_loss)]
                metrics::gauge!("postgate_outbox_emails", "status" => status).set(count as f64);
            }
        }
        Err(error) => tracing::warn!(%error, "failed to count outbox emails for /metrics"),
    }
    let pool = state.db.pool_stats();
    #[allow(clippy::cast_precision_loss)]
    {
        metrics::gauge!("postgate_db_connections", "state" => "in_use").set(pool.in_use as f64);
        metrics::gauge!("postgate_db_connections", "state" => "idle").set(pool.idle as f64);
        metrics::gauge!("postgate_db_connections_max").set(f64::from(pool.max));
    }
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        state.metrics.render(),
    )
        .into_response()
}
