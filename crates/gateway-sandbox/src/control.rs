//! The `_sim` control routes every simulator mounts under its prefix (crates/gateway-sandbox/README.md): reset,
//! seed, out-of-band delete and raw read, faults, stats. No provider auth; never counted in
//! stats and never subject to faults. Generic over [`Simulator`], which each provider module
//! implements.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::faults::{FaultRequest, Operation};
use crate::state::{lock, SimCore};

/// Largest `count` one seed call accepts; the benchmark needs 1M, this leaves headroom while
/// refusing a typo that would exhaust memory.
pub(crate) const MAX_SEED: usize = 5_000_000;

/// What a provider simulator offers the shared control and fault machinery.
pub(crate) trait Simulator: Send + Sync + 'static {
    /// The path prefix the simulator is mounted under (`/bird`); stripped from route templates
    /// in stats and fault routes.
    const PREFIX: &'static str;

    fn core(&self) -> &SimCore;

    /// The provider's documented error response for `status` (used by faults).
    fn error_response(&self, status: StatusCode, message: &str) -> Response;

    /// The kind of provider call `method template` is (template without the prefix), for
    /// faults restricted by `operation`; `None` for calls that are no contact operation.
    fn operation(&self, method: &Method, template: &str) -> Option<Operation>;

    /// Requests per second per route and key when rate limiting is on without a figure.
    fn default_rate_limit(&self, method: &Method) -> u32;

    /// Empties the store (faults and counters are cleared by the caller).
    fn reset_store(&self);

    /// Creates `count` realistic contacts; their remote ids when `return_ids`.
    fn seed(&self, count: usize, return_ids: bool) -> Vec<String>;

    /// Deletes a contact the way the provider does (hard or soft); false when unknown.
    fn delete_out_of_band(&self, remote_id: &str) -> bool;

    /// The stored contact as the provider would render it, without auth; `None` when absent.
    fn raw_contact(&self, remote_id: &str) -> Option<Value>;

    fn contact_count(&self) -> usize;
}

/// The `_sim` routes of one simulator.
pub(crate) fn router<S: Simulator>(sim: Arc<S>) -> Router {
    Router::new()
        .route("/_sim/reset", post(reset::<S>))
        .route("/_sim/seed", post(seed::<S>))
        .route(
            "/_sim/contacts/{remoteId}",
            get(raw_contact::<S>).delete(delete_contact::<S>),
        )
        .route(
            "/_sim/faults",
            post(add_faults::<S>)
                .delete(clear_faults::<S>)
                .get(get_faults::<S>),
        )
        .route("/_sim/stats", get(stats::<S>))
        .with_state(sim)
}

/// Control-route errors use the same `{code, message}` form as the Bird simulator so one
/// parser reads both.
fn control_error(status: StatusCode, message: impl Into<String>) -> Response {
    let code = match status {
        StatusCode::NOT_FOUND => "NotFound",
        StatusCode::INTERNAL_SERVER_ERROR => "InternalError",
        _ => "InvalidParameter",
    };
    (
        status,
        Json(json!({"code": code, "message": message.into()})),
    )
        .into_response()
}

async fn reset<S: Simulator>(State(sim): State<Arc<S>>) -> StatusCode {
    sim.reset_store();
    sim.core().reset();
    StatusCode::NO_CONTENT
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct SeedRequest {
    count: usize,
    #[serde(default = "yes")]
    return_ids: bool,
}

fn yes() -> bool {
    true
}

async fn seed<S: Simulator>(State(sim): State<Arc<S>>, body: Bytes) -> Response {
    let req: SeedRequest = match serde_json::from_slice(&body) {
        Ok(r) => r,
        Err(e) => {
            return control_error(
                StatusCode::BAD_REQUEST,
                format!("expected {{\"count\": N, \"returnIds\"?: bool}}: {e}"),
            )
        }
    };
    if req.count > MAX_SEED {
        return control_error(
            StatusCode::BAD_REQUEST,
            format!("count must be at most {MAX_SEED}"),
        );
    }
    // A million contacts take a moment: keep the async workers free meanwhile.
    let worker = sim.clone();
    match tokio::task::spawn_blocking(move || worker.seed(req.count, req.return_ids)).await {
        Ok(ids) => Json(json!({"created": req.count, "remoteIds": ids})).into_response(),
        Err(_) => control_error(StatusCode::INTERNAL_SERVER_ERROR, "seeding failed"),
    }
}

async fn raw_contact<S: Simulator>(
    State(sim): State<Arc<S>>,
    Path(remote_id): Path<String>,
) -> Response {
    match sim.raw_contact(&remote_id) {
        Some(v) => Json(v).into_response(),
        None => control_error(StatusCode::NOT_FOUND, "no such contact"),
    }
}

async fn delete_contact<S: Simulator>(
    State(sim): State<Arc<S>>,
    Path(remote_id): Path<String>,
) -> Response {
    if sim.delete_out_of_band(&remote_id) {
        StatusCode::NO_CONTENT.into_response()
    } else {
        control_error(StatusCode::NOT_FOUND, "no such contact")
    }
}

async fn add_faults<S: Simulator>(State(sim): State<Arc<S>>, body: Bytes) -> Response {
    let req: FaultRequest = match serde_json::from_slice(&body) {
        Ok(r) => r,
        Err(e) => return control_error(StatusCode::BAD_REQUEST, format!("bad fault: {e}")),
    };
    let mut plan = lock(&sim.core().faults);
    match plan.add(req, S::PREFIX) {
        Ok(()) => Json(plan.to_json()).into_response(),
        Err(msg) => control_error(StatusCode::BAD_REQUEST, msg),
    }
}

async fn clear_faults<S: Simulator>(State(sim): State<Arc<S>>) -> Response {
    let mut plan = lock(&sim.core().faults);
    plan.clear();
    Json(plan.to_json()).into_response()
}

async fn get_faults<S: Simulator>(State(sim): State<Arc<S>>) -> Response {
    Json(lock(&sim.core().faults).to_json()).into_response()
}

async fn stats<S: Simulator>(State(sim): State<Arc<S>>) -> Response {
    let requests = lock(&sim.core().stats).clone();
    Json(json!({"contacts": sim.contact_count(), "requests": requests})).into_response()
}
