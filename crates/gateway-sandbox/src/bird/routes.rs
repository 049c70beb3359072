//! Bird's workspace Contacts API routes (docs/providers/bird.md): list, create, get, update,
//! delete, search, and the contact identifier endpoints, with Bird's paging (docs/providers/bird.md).

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, PathRejection};
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::middleware;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{json, Value};
use uuid::Uuid;

use super::errors::BirdError;
use super::model::{self, parse_json};
use super::{auth, Bird};
use crate::faults::provider_calls;
use crate::state::lock;

/// `limit` is 1–100, default 10; `pageToken` at most 8000 characters (docs/providers/bird.md, documented).
const DEFAULT_LIMIT: usize = 10;
const MAX_LIMIT: usize = 100;
const MAX_TOKEN_LEN: usize = 8000;

const TOKEN_CONTACTS: u8 = 1;
const TOKEN_IDENTIFIERS: u8 = 2;

/// The provider routes. Path parameters are named as in Bird's docs so that stats keys read
/// `GET /workspaces/{workspaceId}/contacts`.
pub(crate) fn router(bird: Arc<Bird>) -> Router {
    Router::new()
        .route(
            "/workspaces/{workspaceId}/contacts",
            get(list_contacts).post(create_contact),
        )
        .route(
            "/workspaces/{workspaceId}/contacts/search",
            post(search_contacts),
        )
        .route(
            "/workspaces/{workspaceId}/contacts/{contactId}",
            get(get_contact)
                .patch(update_contact)
                .delete(delete_contact),
        )
        .route(
            "/workspaces/{workspaceId}/contacts/{contactId}/identifiers",
            get(list_identifiers)
                .post(add_identifier)
                .delete(remove_identifier),
        )
        .route_layer(middleware::from_fn_with_state(
            bird.clone(),
            provider_calls::<Bird>,
        ))
        .with_state(bird)
}

/// Unknown routes and methods answer Bird's 404 body, never axum's empty 404/405.
pub(crate) async fn unknown_route() -> BirdError {
    BirdError::not_found("route not found")
}

fn path_error(e: PathRejection) -> BirdError {
    BirdError::invalid_parameter(format!("invalid path: {e}"))
}

fn body_error(e: BytesRejection) -> BirdError {
    BirdError::new(e.status(), format!("cannot read request body: {e}"))
}

/// A contact id that is not a UUID cannot exist: 404, like an unknown one (`contactId` is a
/// plain string in the docs, docs/providers/bird.md).
fn contact_id(raw: &str) -> Result<Uuid, BirdError> {
    Uuid::parse_str(raw).map_err(|_| BirdError::not_found("contact not found"))
}

fn query_pairs(query: Option<&str>) -> Vec<(String, String)> {
    url::form_urlencoded::parse(query.unwrap_or_default().as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

/// `attribute` (string[]) on get and update: accepted as repeated `attribute=a&attribute=b`
/// and as `attribute[]=a` (docs/providers/bird.md).
fn extra_attributes(query: Option<&str>) -> Vec<String> {
    query_pairs(query)
        .into_iter()
        .filter(|(k, v)| (k == "attribute" || k == "attribute[]") && !v.is_empty())
        .map(|(_, v)| v)
        .collect()
}

struct PageParams {
    limit: usize,
    token: Option<String>,
    reverse: bool,
}

impl PageParams {
    /// 400 `InvalidParameter` for a limit outside 1–100 or a reverse that is not a boolean
    /// (docs/providers/bird.md, Simulator line). An empty `pageToken` means the first page.
    fn parse(query: Option<&str>) -> Result<Self, BirdError> {
        let mut p = Self {
            limit: DEFAULT_LIMIT,
            token: None,
            reverse: false,
        };
        for (k, v) in query_pairs(query) {
            match k.as_str() {
                "limit" => {
                    p.limit = v
                        .parse::<usize>()
                        .ok()
                        .filter(|n| (1..=MAX_LIMIT).contains(n))
                        .ok_or_else(|| {
                            BirdError::invalid_parameter(format!(
                                "limit must be an integer from 1 to {MAX_LIMIT}, got {v:?}"
                            ))
                        })?;
                }
                "pageToken" if v.is_empty() => p.token = None,
                "pageToken" if v.len() > MAX_TOKEN_LEN => {
                    return Err(BirdError::invalid_parameter(format!(
                        "pageToken must be at most {MAX_TOKEN_LEN} characters"
                    )))
                }
                "pageToken" => p.token = Some(v),
                "reverse" => {
                    p.reverse = match v.to_ascii_lowercase().as_str() {
                        "true" | "1" => true,
                        "false" | "0" | "" => false,
                        _ => {
                            return Err(BirdError::invalid_parameter(format!(
                                "reverse must be true or false, got {v:?}"
                            )))
                        }
                    }
                }
                _ => {}
            }
        }
        Ok(p)
    }
}

fn bad_token() -> BirdError {
    BirdError::invalid_parameter("invalid pageToken")
}

/// A page of `results`, with `nextPageToken` only when more follow: absent on the last page
/// (docs/providers/bird.md, documented).
fn page_body(results: Vec<Value>, next: Option<String>) -> Json<Value> {
    let mut body = json!({ "results": results });
    if let (Some(obj), Some(token)) = (body.as_object_mut(), next) {
        obj.insert("nextPageToken".into(), Value::String(token));
    }
    Json(body)
}

async fn list_contacts(
    State(bird): State<Arc<Bird>>,
    headers: HeaderMap,
    path: Result<Path<String>, PathRejection>,
    RawQuery(query): RawQuery,
) -> Result<Response, BirdError> {
    // Auth first: a bad key is 401 whatever else is wrong with the request.
    auth::check(&headers)?;
    let Path(ws) = path.map_err(path_error)?;
    auth::check_workspace(&ws)?;
    let params = PageParams::parse(query.as_deref())?;

    // The token carries the position and the direction it was minted for; the direction in
    // the token wins over a `reverse` that changed between pages.
    let (after, reverse) = match &params.token {
        None => (None, params.reverse),
        Some(t) => {
            let raw = bird.tokens.decode(t).ok_or_else(bad_token)?;
            match raw.as_slice() {
                [TOKEN_CONTACTS, rev, rest @ ..] if rest.len() == 24 => {
                    let (ms, id) = rest.split_at(8);
                    let ms = i64::from_be_bytes(ms.try_into().map_err(|_| bad_token())?);
                    let id = Uuid::from_slice(id).map_err(|_| bad_token())?;
                    (Some((ms, id)), *rev == 1)
                }
                _ => return Err(bad_token()),
            }
        }
    };

    let hidden = bird.core.hidden();
    let store = lock(&bird.store);
    let page = store.page(after, reverse, params.limit);
    let next = match (page.more, page.items.last()) {
        (true, Some(((ms, id), _))) => {
            let mut payload = vec![TOKEN_CONTACTS, u8::from(reverse)];
            payload.extend_from_slice(&ms.to_be_bytes());
            payload.extend_from_slice(id.as_bytes());
            Some(bird.tokens.encode(&payload))
        }
        _ => None,
    };
    // Hidden contacts (`hideFromListing`) drop out of the page they fall on; the token still
    // points past them, so paging goes on (a short page with a token is valid for Bird).
    let results = page
        .items
        .iter()
        .filter(|(_, c)| hidden.is_empty() || !hidden.contains(&c.id.to_string()))
        .map(|(_, c)| c.render(&[], &bird.timezone))
        .collect();
    Ok(page_body(results, next).into_response())
}

async fn create_contact(
    State(bird): State<Arc<Bird>>,
    headers: HeaderMap,
    path: Result<Path<String>, PathRejection>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, BirdError> {
    auth::check(&headers)?;
    let Path(ws) = path.map_err(path_error)?;
    auth::check_workspace(&ws)?;
    let value = parse_json(&body.map_err(body_error)?)?;
    let new = model::parse_create(&value)?;
    let id = bird.rng.with(crate::state::uuid_v4);
    let now = bird.core.clock.now_ms();
    let mut store = lock(&bird.store);
    let contact = store.create(id, new, now)?;
    // 201 as in the seed's schema; the doc examples' "200 - OK" is why adapters accept both.
    Ok((
        StatusCode::CREATED,
        Json(contact.render(&[], &bird.timezone)),
    )
        .into_response())
}

async fn get_contact(
    State(bird): State<Arc<Bird>>,
    headers: HeaderMap,
    path: Result<Path<(String, String)>, PathRejection>,
    RawQuery(query): RawQuery,
) -> Result<Response, BirdError> {
    auth::check(&headers)?;
    let Path((ws, cid)) = path.map_err(path_error)?;
    auth::check_workspace(&ws)?;
    let id = contact_id(&cid)?;
    let extra = extra_attributes(query.as_deref());
    let store = lock(&bird.store);
    let contact = store
        .get(&id)
        .ok_or_else(|| BirdError::not_found("contact not found"))?;
    Ok(Json(contact.render(&extra, &bird.timezone)).into_response())
}

async fn update_contact(
    State(bird): State<Arc<Bird>>,
    headers: HeaderMap,
    path: Result<Path<(String, String)>, PathRejection>,
    RawQuery(query): RawQuery,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, BirdError> {
    auth::check(&headers)?;
    let Path((ws, cid)) = path.map_err(path_error)?;
    auth::check_workspace(&ws)?;
    let id = contact_id(&cid)?;
    let value = parse_json(&body.map_err(body_error)?)?;
    let patch = model::parse_patch(&value)?;
    let extra = extra_attributes(query.as_deref());
    let now = bird.core.clock.now_ms();
    let mut store = lock(&bird.store);
    let contact = store.patch(&id, patch, now)?;
    Ok(Json(contact.render(&extra, &bird.timezone)).into_response())
}

async fn delete_contact(
    State(bird): State<Arc<Bird>>,
    headers: HeaderMap,
    path: Result<Path<(String, String)>, PathRejection>,
) -> Result<Response, BirdError> {
    auth::check(&headers)?;
    let Path((ws, cid)) = path.map_err(path_error)?;
    auth::check_workspace(&ws)?;
    let id = contact_id(&cid)?;
    // Hard delete; a repeated or unknown id is 404 (docs/providers/bird.md, documented).
    if lock(&bird.store).delete(&id) {
        Ok(StatusCode::NO_CONTENT.into_response())
    } else {
        Err(BirdError::not_found("contact not found"))
    }
}

async fn search_contacts(
    State(bird): State<Arc<Bird>>,
    headers: HeaderMap,
    path: Result<Path<String>, PathRejection>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, BirdError> {
    auth::check(&headers)?;
    let Path(ws) = path.map_err(path_error)?;
    auth::check_workspace(&ws)?;
    let value = parse_json(&body.map_err(body_error)?)?;
    // `{identifier: {key, value}, platformAddress?}`; platformAddress has no meaning here.
    let ident = value
        .get("identifier")
        .ok_or_else(|| BirdError::invalid_payload("identifier is required"))?;
    let (key, val) = model::identifier_ref(ident, "identifier")?;
    let store = lock(&bird.store);
    let results: Vec<Value> = store
        .holder(&key, &val)
        .and_then(|id| store.get(&id))
        .map(|c| c.render(&[], &bird.timezone))
        .into_iter()
        .collect();
    Ok(Json(json!({ "results": results })).into_response())
}

async fn list_identifiers(
    State(bird): State<Arc<Bird>>,
    headers: HeaderMap,
    path: Result<Path<(String, String)>, PathRejection>,
    RawQuery(query): RawQuery,
) -> Result<Response, BirdError> {
    auth::check(&headers)?;
    let Path((ws, cid)) = path.map_err(path_error)?;
    auth::check_workspace(&ws)?;
    let id = contact_id(&cid)?;
    let params = PageParams::parse(query.as_deref())?;
    let (offset, reverse) = match &params.token {
        None => (0usize, params.reverse),
        Some(t) => {
            let raw = bird.tokens.decode(t).ok_or_else(bad_token)?;
            match raw.as_slice() {
                [TOKEN_IDENTIFIERS, rev, rest @ ..] if rest.len() == 20 => {
                    let (cid_bytes, off) = rest.split_at(16);
                    if cid_bytes != id.as_bytes() {
                        return Err(bad_token());
                    }
                    let off = u32::from_be_bytes(off.try_into().map_err(|_| bad_token())?);
                    (off as usize, *rev == 1)
                }
                _ => return Err(bad_token()),
            }
        }
    };
    let store = lock(&bird.store);
    let contact = store
        .get(&id)
        .ok_or_else(|| BirdError::not_found("contact not found"))?;
    let ordered: Vec<&model::Identifier> = if reverse {
        contact.identifiers.iter().rev().collect()
    } else {
        contact.identifiers.iter().collect()
    };
    let end = offset.saturating_add(params.limit).min(ordered.len());
    let results: Vec<Value> = ordered
        .get(offset.min(end)..end)
        .unwrap_or_default()
        .iter()
        .map(|i| i.render(id))
        .collect();
    let next = (end < ordered.len()).then(|| {
        let mut payload = vec![TOKEN_IDENTIFIERS, u8::from(reverse)];
        payload.extend_from_slice(id.as_bytes());
        payload.extend_from_slice(&u32::try_from(end).unwrap_or(u32::MAX).to_be_bytes());
        bird.tokens.encode(&payload)
    });
    Ok(page_body(results, next).into_response())
}

async fn add_identifier(
    State(bird): State<Arc<Bird>>,
    headers: HeaderMap,
    path: Result<Path<(String, String)>, PathRejection>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, BirdError> {
    auth::check(&headers)?;
    let Path((ws, cid)) = path.map_err(path_error)?;
    auth::check_workspace(&ws)?;
    let id = contact_id(&cid)?;
    let value = parse_json(&body.map_err(body_error)?)?;
    let input = model::identifier(&value, "body")?;
    let now = bird.core.clock.now_ms();
    let ident = lock(&bird.store).add_identifier(&id, input, now)?;
    Ok((StatusCode::CREATED, Json(ident.render(id))).into_response())
}

async fn remove_identifier(
    State(bird): State<Arc<Bird>>,
    headers: HeaderMap,
    path: Result<Path<(String, String)>, PathRejection>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, BirdError> {
    auth::check(&headers)?;
    let Path((ws, cid)) = path.map_err(path_error)?;
    auth::check_workspace(&ws)?;
    let id = contact_id(&cid)?;
    let value = parse_json(&body.map_err(body_error)?)?;
    let (key, val) = model::identifier_ref(&value, "body")?;
    let now = bird.core.clock.now_ms();
    lock(&bird.store).remove_identifier(&id, &key, &val, now)?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
