//! Prometheus metrics (docs/operations.md, "Metrics"): one recorder per process, rendered on
//! `GET /metrics` of its own listener (`metrics_listen`), never on the API's. Label values are
//! bounded by construction: route templates, methods, statuses, provider names, operation and
//! outcome words — never an id, a secret or a contact's data.

use std::future::Future;
use std::sync::OnceLock;
use std::time::Duration;

use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;
use gateway_store::Store;
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use tokio::net::TcpListener;

/// Histogram buckets in seconds: from a cached read to a provider call near its timeout.
const BUCKETS: [f64; 14] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

/// The process's recorder, installed on first use. Several gateways in one process (tests)
/// share it; `None` only if another recorder was installed first.
pub fn handle() -> Option<&'static PrometheusHandle> {
    static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let recorder = PrometheusBuilder::new()
                .set_buckets(&BUCKETS)
                .ok()?
                .build_recorder();
            let handle = recorder.handle();
            metrics::set_global_recorder(recorder).ok()?;
            Some(handle)
        })
        .as_ref()
}

/// Serves `GET /metrics` on `listener` until `stop`, and keeps the gauges that are read rather
/// than counted (database pool) fresh.
pub async fn serve(
    listener: TcpListener,
    store: Store,
    stop: impl Future<Output = ()> + Send + 'static,
) {
    let Some(handle) = handle() else {
        tracing::warn!("another metrics recorder is installed; /metrics is not served");
        return;
    };
    let upkeep = tokio::spawn(async move {
        loop {
            let (open, idle) = store.pool_connections();
            metrics::gauge!("db_pool_connections", "state" => "in_use")
                .set(f64::from(open) - idle as f64);
            metrics::gauge!("db_pool_connections", "state" => "idle").set(idle as f64);
            handle.run_upkeep();
            tokio::time::sleep(Duration::from_secs(5)).await;
        }
    });
    let app = Router::new().route(
        "/metrics",
        get(move || async move {
            (
                [(
                    header::CONTENT_TYPE,
                    "text/plain; version=0.0.4; charset=utf-8",
                )],
                handle.render(),
            )
                .into_response()
        }),
    );
    if let Err(e) = axum::serve(listener, app)
        .with_graceful_shutdown(stop)
        .await
    {
        tracing::warn!(error = %e, "the metrics listener failed");
    }
    upkeep.abort();
}
