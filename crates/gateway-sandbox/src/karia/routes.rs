//! Karia's routes (docs/providers/karia.md): utils, organisation and workspace discovery, and
//! the workspace-scoped contact endpoints, every answer wrapped in `{"response": …}` (docs/providers/karia.md).

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, PathRejection};
use axum::extract::{Path, RawQuery, State};
use axum::http::HeaderMap;
use axum::middleware;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{json, Value};

use super::errors::{Issue, KariaError};
use super::model::{self, parse_json};
use super::{auth, Karia};
use crate::faults::provider_calls;
use crate::state::lock;

/// `limit` default 50, at most 100; `offset` zero-based (docs/providers/karia.md, inferred).
const DEFAULT_LIMIT: usize = 50;
const MAX_LIMIT: usize = 100;

const CONTACTS: &str = "/organisation/{orgId}/workspace/{workspaceId}/contact";
const CONTACT: &str = "/organisation/{orgId}/workspace/{workspaceId}/contact/{contactId}";

/// The provider routes. Path parameters are named as in Karia's docs so that stats keys read
/// `GET /organisation/{orgId}/workspace/{workspaceId}/contact/{contactId}`.
pub(crate) fn router(karia: Arc<Karia>) -> Router {
    Router::new()
        .route("/utils/health", get(health))
        .route("/utils/ping", get(ping))
        .route("/organisation", get(list_organisations))
        .route("/organisation/{orgId}/workspace", get(list_workspaces))
        .route(CONTACTS, get(list_contacts).post(create_contact))
        .route(
            CONTACT,
            get(get_contact)
                .patch(update_contact)
                .put(update_contact)
                .delete(delete_contact),
        )
        .route(&format!("{CONTACT}/address"), post(create_address))
        .route(&format!("{CONTACT}/method"), post(create_method))
        .route_layer(middleware::from_fn_with_state(
            karia.clone(),
            provider_calls::<Karia>,
        ))
        .with_state(karia)
}

/// Unknown routes and methods answer Karia's 404 body, never axum's empty 404/405.
pub(crate) async fn unknown_route() -> KariaError {
    KariaError::not_found()
}

/// Every success is `{"response": …}` with 200 (docs/providers/karia.md Simulator lines).
fn ok(v: Value) -> Response {
    Json(json!({ "response": v })).into_response()
}

fn path_error(e: PathRejection) -> KariaError {
    KariaError::invalid(vec![Issue::new(
        "custom",
        format!("Invalid path: {e}"),
        Vec::new(),
    )])
}

fn body_error(e: BytesRejection) -> KariaError {
    KariaError::new(e.status(), format!("Cannot read request body: {e}"))
}

async fn health() -> Response {
    ok(json!({"ok": true, "status": "healthy"}))
}

async fn ping() -> Response {
    ok(json!({"ok": true, "message": "pong"}))
}

async fn list_organisations(headers: HeaderMap) -> Result<Response, KariaError> {
    auth::check(&headers)?;
    Ok(ok(
        json!({"organisations": [{"id": 1, "name": "Sandbox Organisation"}]}),
    ))
}

async fn list_workspaces(
    headers: HeaderMap,
    path: Result<Path<String>, PathRejection>,
) -> Result<Response, KariaError> {
    auth::check(&headers)?;
    let Path(org) = path.map_err(path_error)?;
    auth::check_organisation(&org)?;
    Ok(ok(
        json!({"workspaces": [{"id": 1, "name": "Sandbox Workspace"}]}),
    ))
}

/// Auth (401) first, then the organisation/workspace scope (403).
fn scope(
    headers: &HeaderMap,
    path: Result<Path<(String, String)>, PathRejection>,
) -> Result<(), KariaError> {
    auth::check(headers)?;
    let Path((org, ws)) = path.map_err(path_error)?;
    auth::check_scope(&org, &ws)
}

/// Auth and scope, then the contact id the path names (numeric id or `referenceId`).
fn contact_scope(
    karia: &Karia,
    headers: &HeaderMap,
    path: Result<Path<(String, String, String)>, PathRejection>,
) -> Result<Option<i32>, KariaError> {
    auth::check(headers)?;
    let Path((org, ws, cid)) = path.map_err(path_error)?;
    auth::check_scope(&org, &ws)?;
    Ok(lock(&karia.store).resolve(&cid))
}

/// `limit` and `offset` as non-negative integers: 400 with an issue per bad parameter.
fn page_params(query: Option<&str>) -> Result<(usize, usize), KariaError> {
    let mut limit = DEFAULT_LIMIT;
    let mut offset = 0usize;
    let mut issues = Vec::new();
    for (k, v) in url::form_urlencoded::parse(query.unwrap_or_default().as_bytes()) {
        match k.as_ref() {
            "limit" => match v.parse::<usize>() {
                Ok(n) if (1..=MAX_LIMIT).contains(&n) => limit = n,
                Ok(0) => issues.push(Issue::new(
                    "too_small",
                    "Number must be greater than or equal to 1",
                    vec![json!("limit")],
                )),
                Ok(_) => issues.push(Issue::new(
                    "too_big",
                    format!("Number must be less than or equal to {MAX_LIMIT}"),
                    vec![json!("limit")],
                )),
                Err(_) => issues.push(Issue::new(
                    "invalid_type",
                    format!("Expected integer, received {v:?}"),
                    vec![json!("limit")],
                )),
            },
            "offset" => match v.parse::<usize>() {
                Ok(n) => offset = n,
                Err(_) if v.starts_with('-') && v[1..].bytes().all(|b| b.is_ascii_digit()) => {
                    issues.push(Issue::new(
                        "too_small",
                        "Number must be greater than or equal to 0",
                        vec![json!("offset")],
                    ))
                }
                Err(_) => issues.push(Issue::new(
                    "invalid_type",
                    format!("Expected integer, received {v:?}"),
                    vec![json!("offset")],
                )),
            },
            _ => {}
        }
    }
    if issues.is_empty() {
        Ok((limit, offset))
    } else {
        Err(KariaError::invalid(issues))
    }
}

async fn list_contacts(
    State(karia): State<Arc<Karia>>,
    headers: HeaderMap,
    path: Result<Path<(String, String)>, PathRejection>,
    RawQuery(query): RawQuery,
) -> Result<Response, KariaError> {
    scope(&headers, path)?;
    let (limit, offset) = page_params(query.as_deref())?;
    let hidden = karia.core.hidden();
    let store = lock(&karia.store);
    let contacts: Vec<Value> = store
        .page(offset, limit, &hidden)
        .into_iter()
        .map(model::Contact::render)
        .collect();
    Ok(ok(json!({ "contacts": contacts })))
}

async fn create_contact(
    State(karia): State<Arc<Karia>>,
    headers: HeaderMap,
    path: Result<Path<(String, String)>, PathRejection>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, KariaError> {
    scope(&headers, path)?;
    let value = parse_json(&body.map_err(body_error)?)?;
    let new = model::parse_create(&value)?;
    let now = karia.core.clock.now_ms();
    let mut store = lock(&karia.store);
    let contact = store.create(new, now)?;
    // 200, not 201: create responses are undocumented; tRPC-style mutations answer 200 (docs/providers/karia.md).
    Ok(ok(contact.render()))
}

async fn get_contact(
    State(karia): State<Arc<Karia>>,
    headers: HeaderMap,
    path: Result<Path<(String, String, String)>, PathRejection>,
) -> Result<Response, KariaError> {
    let id = contact_scope(&karia, &headers, path)?.ok_or_else(KariaError::not_found)?;
    let store = lock(&karia.store);
    // Soft-deleted contacts are still answered, `deletedAt` set (docs/providers/karia.md).
    let contact = store.get(id).ok_or_else(KariaError::not_found)?;
    Ok(ok(contact.render()))
}

async fn update_contact(
    State(karia): State<Arc<Karia>>,
    headers: HeaderMap,
    path: Result<Path<(String, String, String)>, PathRejection>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, KariaError> {
    let id = contact_scope(&karia, &headers, path)?;
    // Input validation (400) comes before the lookup (404), as a zod-validated procedure does.
    let value = parse_json(&body.map_err(body_error)?)?;
    let patch = model::parse_patch(&value)?;
    let id = id.ok_or_else(KariaError::not_found)?;
    let now = karia.core.clock.now_ms();
    let mut store = lock(&karia.store);
    let contact = store.patch(id, patch, now)?;
    Ok(ok(contact.render()))
}

async fn delete_contact(
    State(karia): State<Arc<Karia>>,
    headers: HeaderMap,
    path: Result<Path<(String, String, String)>, PathRejection>,
) -> Result<Response, KariaError> {
    let id = contact_scope(&karia, &headers, path)?.ok_or_else(KariaError::not_found)?;
    let now = karia.core.clock.now_ms();
    let mut store = lock(&karia.store);
    let contact = store.soft_delete(id, now)?;
    Ok(ok(contact.render()))
}

async fn create_address(
    State(karia): State<Arc<Karia>>,
    headers: HeaderMap,
    path: Result<Path<(String, String, String)>, PathRejection>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, KariaError> {
    let id = contact_scope(&karia, &headers, path)?;
    let value = parse_json(&body.map_err(body_error)?)?;
    let fields = model::parse_address(&value)?;
    let id = id.ok_or_else(KariaError::not_found)?;
    let now = karia.core.clock.now_ms();
    let address = lock(&karia.store).add_address(id, fields, now)?;
    Ok(ok(address.render()))
}

async fn create_method(
    State(karia): State<Arc<Karia>>,
    headers: HeaderMap,
    path: Result<Path<(String, String, String)>, PathRejection>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, KariaError> {
    let id = contact_scope(&karia, &headers, path)?;
    let value = parse_json(&body.map_err(body_error)?)?;
    let (kind, val) = model::parse_method(&value)?;
    let id = id.ok_or_else(KariaError::not_found)?;
    let method = lock(&karia.store).add_method(id, kind, val)?;
    Ok(ok(method.render(id)))
}
