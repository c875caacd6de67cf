//! Prometheus metrics at `/metrics`. Counters are per instance; the outbox
//! gauges are read from the database on each scrape, so every instance
//! reports the same shared queue.

use std::sync::OnceLock;

use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};

use crate::app::AppState;
use crate::email::outbox;

/// Returns the handle of the process-wide recorder, installing it on first use.
pub fn handle() -> PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let recorder = PrometheusBuilder::new().build_recorder();
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
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        state.metrics.render(),
    )
        .into_response()
}
