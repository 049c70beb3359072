//! `/credentials/{id}/reconciliations`: start a reconciliation of remote deletions now, watch
//! its live progress, and confirm a run the mass-deletion brake held
//! (`docs/reconciliation.md`). The runs themselves execute in the background scheduler of
//! whichever gateway process takes the credential's lease.

use axum::extract::{Request, State};

use crate::extract::Path;
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use chrono::{DateTime, Utc};
use gateway_core::RunId;
use gateway_store::{ConfirmError, RunPhase, RunRecord, RunStatus, RunTrigger};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::error::{problem_response, ApiError, ApiResult, Problem};
use crate::extract::{QueryParams, Tenant};
use crate::service::load_credential;
use crate::state::AppState;

/// Routes of this module.
pub fn router() -> Router<AppState> {
    Router::new()
        .route(
            "/credentials/{id}/reconciliations",
            post(start_reconciliation).get(list_reconciliations),
        )
        .route(
            "/credentials/{id}/reconciliations/{run_id}",
            get(get_reconciliation),
        )
        .route(
            "/credentials/{id}/reconciliations/{run_id}/confirm",
            post(confirm_reconciliation),
        )
}

/// Interactive priority: every `/crm/contacts` call holds its credential's interactive guard
/// while it runs, and the reconciler's provider calls for that credential wait for it (see
/// `gateway_jobs::gate`).
pub async fn interactive_priority(req: Request, next: Next) -> Response {
    let credential = req
        .uri()
        .path()
        .starts_with("/crm/contacts")
        .then(|| req.uri().query())
        .flatten()
        .and_then(|q| {
            form_urlencoded::parse(q.as_bytes())
                .find(|(k, _)| k == "credentialId")
                .map(|(_, v)| v.into_owned())
        });
    // Only well-formed ids: anything else is refused later, and must not get a gate slot.
    match credential.filter(|c| gateway_core::CredentialId::parse(c).is_ok()) {
        Some(cred) => {
            let _guard = gateway_jobs::gate::global().interactive(&cred);
            next.run(req).await
        }
        None => next.run(req).await,
    }
}

/// One reconciliation run with its live progress.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RunOut {
    /// `run_…`.
    #[schema(value_type = String)]
    pub id: RunId,
    /// The credential reconciled.
    pub credential_id: String,
    /// `queued`, `running`, `succeeded`, `failed` or `held`.
    pub status: RunStatus,
    /// `schedule`, `api`, `cli` or `recovery` (a retried create whose outcome is unknown).
    pub trigger: RunTrigger,
    /// `diff` (the provider hard-deletes: complete listing, then a lookup per vanished contact)
    /// or `native` (the provider keeps `deletedAt` tombstones).
    pub strategy: Option<String>,
    /// `listing` or `confirming`.
    pub phase: RunPhase,
    /// An operator confirmed the run after the brake held it.
    pub confirmed: bool,
    /// Listing pages fetched.
    pub pages_fetched: u64,
    /// Contacts the listing returned.
    pub contacts_seen: u64,
    /// Provider calls made (pages and confirmation lookups).
    pub provider_calls: u64,
    /// Contacts new to the index.
    pub discovered: u64,
    /// Contacts flagged `remoteDeleted`.
    pub flagged: u64,
    /// Contacts flagged before and seen alive again.
    pub restored: u64,
    /// Known live contacts the complete listing did not return.
    pub candidates: u64,
    /// Known live contacts when the listing ended.
    pub known_contacts: u64,
    /// Confirmation lookups that failed (those contacts were left unflagged).
    pub confirm_errors: u64,
    /// Time since the start (so far, while running).
    pub duration_ms: Option<i64>,
    /// Why the run failed or was held.
    pub error: Option<String>,
    /// When the run was asked for.
    pub created_at: DateTime<Utc>,
    /// T0: when the listing started.
    pub started_at: Option<DateTime<Utc>>,
    /// When it ended.
    pub finished_at: Option<DateTime<Utc>>,
    /// Last progress.
    pub updated_at: DateTime<Utc>,
}

impl From<RunRecord> for RunOut {
    fn from(r: RunRecord) -> Self {
        let duration_ms = r.started_at.map(|s| {
            let end = r.finished_at.unwrap_or_else(|| {
                if r.status.is_terminal() {
                    r.updated_at
                } else {
                    Utc::now()
                }
            });
            (end - s).num_milliseconds().max(0)
        });
        let c = r.counters;
        RunOut {
            id: r.id,
            credential_id: r.credential_id.to_string(),
            status: r.status,
            trigger: r.trigger,
            strategy: r.strategy,
            phase: r.phase,
            confirmed: r.confirmed,
            pages_fetched: c.pages_fetched,
            contacts_seen: c.contacts_seen,
            provider_calls: c.provider_calls,
            discovered: c.discovered,
            flagged: c.flagged,
            restored: c.restored,
            candidates: c.candidates,
            known_contacts: c.known_contacts,
            confirm_errors: c.confirm_errors,
            duration_ms,
            error: r.error,
            created_at: r.created_at,
            started_at: r.started_at,
            finished_at: r.finished_at,
            updated_at: r.updated_at,
        }
    }
}

/// `{"run": …}`.
#[derive(Serialize, ToSchema)]
pub struct RunEnvelope {
    /// The run.
    pub run: RunOut,
}

/// The credential's runs, newest first.
#[derive(Serialize, ToSchema)]
pub struct RunList {
    /// Newest first.
    pub runs: Vec<RunOut>,
}

/// Query of the run list.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RunListQuery {
    limit: Option<u32>,
    before: Option<String>,
}

fn run_id(text: &str) -> ApiResult<RunId> {
    RunId::parse(text).map_err(|_| ApiError::NotFound("reconciliation run"))
}

/// Starts a reconciliation of this credential now (or answers the one already queued or
/// running).
#[utoipa::path(post, path = "/credentials/{id}/reconciliations", tag = "reconciliation",
    params(("id" = String, Path)),
    responses((status = 202, body = RunEnvelope), (status = 401, body = Problem, content_type = "application/problem+json"), (status = 404, body = Problem, content_type = "application/problem+json")),
    security(("apiKey" = [])))]
pub async fn start_reconciliation(
    State(state): State<AppState>,
    Tenant(tenant): Tenant,
    Path(id): Path<String>,
) -> ApiResult<(StatusCode, Json<RunEnvelope>)> {
    let cred = load_credential(&state, &tenant, &id).await?;
    let run = state
        .store()
        .run_request(&tenant, &cred.id, RunTrigger::Api)
        .await?;
    state.runs_requested().notify_one();
    Ok((StatusCode::ACCEPTED, Json(RunEnvelope { run: run.into() })))
}

/// The credential's reconciliation runs, newest first.
#[utoipa::path(get, path = "/credentials/{id}/reconciliations", tag = "reconciliation",
    params(("id" = String, Path), ("limit" = Option<u32>, Query, description = "1–100, default 20"),
           ("before" = Option<String>, Query, description = "a run id: only older runs")),
    responses((status = 401, body = Problem, content_type = "application/problem+json"), (status = 200, body = RunList), (status = 400, body = Problem, content_type = "application/problem+json"), (status = 404, body = Problem, content_type = "application/problem+json")),
    security(("apiKey" = [])))]
pub async fn list_reconciliations(
    State(state): State<AppState>,
    Tenant(tenant): Tenant,
    Path(id): Path<String>,
    QueryParams(q): QueryParams<RunListQuery>,
) -> ApiResult<Json<RunList>> {
    let cred = load_credential(&state, &tenant, &id).await?;
    let limit = match q.limit {
        None => 20,
        Some(n) if (1..=100).contains(&n) => n,
        Some(n) => {
            return Err(ApiError::bad_parameter(
                "limit",
                format!("must be between 1 and 100, got {n}"),
            ))
        }
    };
    let before = match q.before.as_deref() {
        None => None,
        Some(b) => {
            Some(RunId::parse(b).map_err(|_| ApiError::bad_parameter("before", "not a run id"))?)
        }
    };
    let runs = state
        .store()
        .runs_list(&tenant, &cred.id, before.as_ref(), limit)
        .await?;
    Ok(Json(RunList {
        runs: runs.into_iter().map(RunOut::from).collect(),
    }))
}

/// One run with its live progress.
#[utoipa::path(get, path = "/credentials/{id}/reconciliations/{runId}", tag = "reconciliation",
    params(("id" = String, Path), ("runId" = String, Path)),
    responses((status = 401, body = Problem, content_type = "application/problem+json"), (status = 200, body = RunEnvelope), (status = 404, body = Problem, content_type = "application/problem+json")),
    security(("apiKey" = [])))]
pub async fn get_reconciliation(
    State(state): State<AppState>,
    Tenant(tenant): Tenant,
    Path((id, run)): Path<(String, String)>,
) -> ApiResult<Json<RunEnvelope>> {
    let cred = load_credential(&state, &tenant, &id).await?;
    let run = run_id(&run)?;
    let run = state
        .store()
        .run_get(&tenant, &cred.id, &run)
        .await?
        .ok_or(ApiError::NotFound("reconciliation run"))?;
    Ok(Json(RunEnvelope { run: run.into() }))
}

/// Confirms a run the mass-deletion brake held: it is queued again and, when a worker takes
/// it, every candidate still unseen since the run's start is looked up once more and flagged
/// if the provider confirms it is gone. 409 when the run is not `held`.
#[utoipa::path(post, path = "/credentials/{id}/reconciliations/{runId}/confirm", tag = "reconciliation",
    params(("id" = String, Path), ("runId" = String, Path)),
    responses((status = 401, body = Problem, content_type = "application/problem+json"), (status = 202, body = RunEnvelope), (status = 404, body = Problem, content_type = "application/problem+json"), (status = 409, body = Problem, content_type = "application/problem+json")),
    security(("apiKey" = [])))]
pub async fn confirm_reconciliation(
    State(state): State<AppState>,
    Tenant(tenant): Tenant,
    Path((id, run)): Path<(String, String)>,
) -> Result<(StatusCode, Json<RunEnvelope>), Response> {
    let cred = load_credential(&state, &tenant, &id)
        .await
        .map_err(IntoResponse::into_response)?;
    let run = run_id(&run).map_err(IntoResponse::into_response)?;
    match state.store().run_confirm(&tenant, &cred.id, &run).await {
        Ok(run) => Ok((StatusCode::ACCEPTED, Json(RunEnvelope { run: run.into() }))),
        Err(ConfirmError::NotFound) => {
            Err(ApiError::NotFound("reconciliation run").into_response())
        }
        Err(ConfirmError::Store(e)) => Err(ApiError::from(e).into_response()),
        Err(e @ (ConfirmError::NotHeld(_) | ConfirmError::Busy(_))) => {
            let request_id = gateway_transport::current_request_id().unwrap_or_default();
            let (_, mut problem, _) = ApiError::NotFound("run").problem(request_id);
            problem.status = 409;
            problem.code = "run_not_confirmable".into();
            problem.type_ = "/problems/run_not_confirmable".into();
            problem.title = "The run cannot be confirmed now".into();
            problem.detail = e.to_string();
            Err(problem_response(StatusCode::CONFLICT, &problem, None))
        }
    }
}
