//! The crm-gateway HTTP API: routes for tenants, credentials, contacts and providers, bearer
//! auth, request ids, body limits and problem+json errors.

pub mod cursor;
pub mod error;
pub mod extract;
pub mod idempotency;
pub mod inbound;
pub mod openapi;
pub mod pagination;
pub mod routes;
pub mod service;
pub mod state;

use std::time::Instant;

use axum::extract::{DefaultBodyLimit, MatchedPath, Request, State};
use axum::http::{header, HeaderName, HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::Router;
use tower_http::catch_panic::CatchPanicLayer;
use tracing::Instrument;

pub use error::{ApiError, Problem};
pub use state::{ApiConfig, AppState, ConnectionConfig, IdempotencyConfig, RateLimitConfig};

const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The whole API, ready to serve.
pub fn router(state: AppState) -> Router {
    let limit = state.config().max_body_bytes;
    Router::new()
        .merge(routes::health::router())
        .merge(routes::admin::router())
        .merge(routes::credentials::router())
        .merge(routes::contacts::router())
        .merge(routes::providers::router())
        .merge(routes::reconciliations::router())
        .merge(routes::events::router())
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(middleware::from_fn_with_state(
            state.clone(),
            inbound::credential_concurrency,
        ))
        .layer(middleware::from_fn_with_state(
            state.clone(),
            idempotency::idempotency,
        ))
        .layer(middleware::from_fn_with_state(
            state.clone(),
            inbound::rate_limit,
        ))
        .layer(middleware::from_fn(
            routes::reconciliations::interactive_priority,
        ))
        .layer(middleware::from_fn_with_state(
            state.clone(),
            inbound::refused_auth_throttle,
        ))
        .layer(DefaultBodyLimit::max(limit))
        .layer(CatchPanicLayer::custom(|_| {
            ApiError::Internal(anyhow::anyhow!("handler panicked")).into_response()
        }))
        .layer(middleware::from_fn_with_state(
            state.clone(),
            request_context,
        ))
        .with_state(state)
}

async fn not_found() -> ApiError {
    ApiError::NotFound("route")
}

async fn method_not_allowed() -> Response {
    let request_id = gateway_transport::current_request_id().unwrap_or_default();
    let (_, mut problem, _) = ApiError::NotFound("route").problem(request_id);
    problem.status = 405;
    problem.code = "method_not_allowed".into();
    problem.type_ = "/problems/method_not_allowed".into();
    problem.title = "Method not allowed".into();
    problem.detail = "this route does not accept that method".into();
    error::problem_response(StatusCode::METHOD_NOT_ALLOWED, &problem, None)
}

/// Accepts a caller's `x-request-id` when it is sane, or makes one; the id scopes the logs,
/// travels to the provider (via the transport's task-local) and comes back in the response.
async fn request_context(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let id = req
        .headers()
        .get(&REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.is_empty() && v.len() <= 128 && v.bytes().all(|b| b.is_ascii_graphic()))
        .map(str::to_owned)
        .unwrap_or_else(|| uuid::Uuid::new_v4().simple().to_string());
    let method = req.method().clone();
    // The matched route, not the raw path: ids in paths are fine, but query strings are not logged.
    let matched = req
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned());
    let route = matched
        .clone()
        .unwrap_or_else(|| req.uri().path().to_owned());
    let span = tracing::info_span!("request", request_id = %id, %method, route = %route);
    let started = Instant::now();
    // The request runs in its own task, so a client that hangs up does not cancel it half-way:
    // a provider write still gets its index row, and a database transaction (SQLite's BEGIN
    // IMMEDIATE above all) is never abandoned mid-statement on a pooled connection.
    let task = tokio::spawn(
        gateway_transport::with_request_id(id.clone(), next.run(req)).instrument(span.clone()),
    );
    let limit = state.config().connections.request_timeout;
    let mut response = match tokio::time::timeout(limit, task).await {
        Ok(Ok(response)) => response,
        Ok(Err(e)) => {
            ApiError::Internal(anyhow::anyhow!("request task failed: {e}")).into_response()
        }
        // The task is not aborted: whatever it started (a provider write, its index row, a
        // keyed answer for the retry) still runs to its end.
        Err(_) => {
            let mut timed_out = span.in_scope(|| ApiError::RequestTimeout(limit).into_response());
            // The body may still be arriving (a slow upload): close rather than wait for it.
            timed_out
                .headers_mut()
                .insert(header::CONNECTION, HeaderValue::from_static("close"));
            timed_out
        }
    };
    let headers = response.headers_mut();
    if let Ok(value) = HeaderValue::from_str(&id) {
        headers.insert(REQUEST_ID, value);
    }
    // Answers carry API keys (admin), contacts' personal data or credential details: no
    // shared or browser cache may keep any of them.
    headers
        .entry(header::CACHE_CONTROL)
        .or_insert(HeaderValue::from_static("no-store"));
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    span.in_scope(|| {
        tracing::info!(
            status = response.status().as_u16(),
            elapsed_ms = started.elapsed().as_millis() as u64,
            "request finished"
        );
    });
    // The route template only (ids in paths and every unmatched path would make the label
    // set unbounded).
    let template = matched.unwrap_or_else(|| "unmatched".to_owned());
    let (method, status) = (method.to_string(), response.status().as_u16().to_string());
    metrics::counter!("http_requests_total", "route" => template.clone(), "method" => method.clone(), "status" => status)
        .increment(1);
    metrics::histogram!("http_request_duration_seconds", "route" => template, "method" => method)
        .record(started.elapsed().as_secs_f64());
    response
}
