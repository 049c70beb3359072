//! iClosed's public API v1 contact routes (docs/providers/iclosed.md): create, list, detail, update.
//! There is no delete route; anything else answers 404 `{"message":"Not found"}`.

use std::collections::HashMap;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::middleware;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use chrono::{DateTime, NaiveDate, NaiveDateTime};
use serde_json::{json, Value};

use super::errors::{IclosedError, Issues};
use super::model;
use super::seed::preview_id;
use super::store::{Column, ListQuery};
use super::{auth, Iclosed};
use crate::faults::provider_calls;
use crate::state::lock;

/// `limit` at most 100, default 20; `page` zero-based (docs/providers/iclosed.md).
const MAX_LIMIT: f64 = 100.0;

/// The provider routes; stats keys read `GET /v1/contacts`, `GET /v1/contacts/detail`, …
pub(crate) fn router(ic: Arc<Iclosed>) -> Router {
    Router::new()
        .route(
            "/v1/contacts",
            get(list_contacts).post(create_contact).put(update_contact),
        )
        .route("/v1/contacts/detail", get(get_contact))
        .route_layer(middleware::from_fn_with_state(
            ic.clone(),
            provider_calls::<Iclosed>,
        ))
        .with_state(ic)
}

/// Unknown routes and methods (a contact DELETE included): 404 `{"message":"Not found"}`.
pub(crate) async fn unknown_route() -> IclosedError {
    IclosedError::route_not_found()
}

/// The request body as JSON. No body at all is `{}` (Express's `req.body` default); a body
/// that is not JSON is a 400 in the zod shape with a form error.
fn read_json(
    body: Result<Bytes, BytesRejection>,
    method: &'static str,
    endpoint: &'static str,
) -> Result<Value, IclosedError> {
    let bytes = body.map_err(|e| IclosedError::Plain {
        status: e.status(),
        message: e.body_text(),
        code: None,
    })?;
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(json!({}));
    }
    serde_json::from_slice(&bytes)
        .map_err(|_| Issues::new(method, endpoint).fail("Invalid JSON in request body"))
}

/// Query parameters; a repeated one keeps its last value.
fn query_map(query: Option<&str>) -> HashMap<String, String> {
    url::form_urlencoded::parse(query.unwrap_or_default().as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

/// zod's `z.coerce.number().int()` on a query string: JavaScript `Number()` (empty → 0), then
/// the integer check. The messages are zod's.
fn coerce_int(raw: &str) -> Result<f64, &'static str> {
    let s = raw.trim();
    if s.is_empty() {
        return Ok(0.0);
    }
    let numeric = s
        .chars()
        .all(|c| c.is_ascii_digit() || matches!(c, '+' | '-' | '.' | 'e' | 'E'));
    let n = numeric
        .then(|| s.parse::<f64>().ok())
        .flatten()
        .filter(|n| n.is_finite())
        .ok_or("Expected number, received nan")?;
    if n.fract() != 0.0 {
        return Err("Expected integer, received float");
    }
    Ok(n)
}

fn int_param(
    q: &HashMap<String, String>,
    name: &str,
    min: f64,
    max: Option<f64>,
    issues: &mut Issues,
) -> Option<f64> {
    let raw = q.get(name)?;
    match coerce_int(raw) {
        Err(m) => {
            issues.field(name, m);
            None
        }
        Ok(n) if n < min => {
            issues.field(
                name,
                format!("Number must be greater than or equal to {min}"),
            );
            None
        }
        Ok(n) if max.is_some_and(|m| n > m) => {
            issues.field(
                name,
                format!("Number must be less than or equal to {}", max.unwrap_or(n)),
            );
            None
        }
        Ok(n) => Some(n),
    }
}

/// An ISO 8601 bound for `timeFrom`/`timeTo`: RFC 3339 with any offset, a date-time without
/// one (UTC), or a date (midnight UTC).
fn parse_bound(s: &str) -> Option<i64> {
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Some(t.timestamp_millis());
    }
    if let Ok(t) = NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%.f") {
        return Some(t.and_utc().timestamp_millis());
    }
    NaiveDate::parse_from_str(s, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|t| t.and_utc().timestamp_millis())
}

fn enum_message(options: &[&str], received: &str) -> String {
    let expected: Vec<String> = options.iter().map(|o| format!("'{o}'")).collect();
    format!(
        "Invalid enum value. Expected {}, received '{received}'",
        expected.join(" | ")
    )
}

const ORDER_COLUMNS: [&str; 7] = [
    "id",
    "createdAt",
    "updatedAt",
    "joinedTime",
    "firstName",
    "lastName",
    "email",
];

/// Validates the list query (docs/providers/iclosed.md). `eventIds` and other unknown parameters are ignored.
fn parse_list_query(query: Option<&str>) -> Result<ListQuery, IclosedError> {
    let q = query_map(query);
    let mut issues = Issues::new("GET", "/v1/contacts");
    let mut out = ListQuery::default();
    if let Some(n) = int_param(&q, "limit", 1.0, Some(MAX_LIMIT), &mut issues) {
        out.limit = n as usize;
    }
    if let Some(n) = int_param(&q, "page", 0.0, None, &mut issues) {
        // Saturating: a huge page is simply past the end.
        out.page = n as usize;
    }
    if let Some(n) = int_param(&q, "userId", f64::MIN, None, &mut issues) {
        out.user_id = Some(if n < 0.0 { u64::MAX } else { n as u64 });
    }
    out.search = q
        .get("search")
        .filter(|s| !s.is_empty())
        .map(|s| s.to_lowercase());
    out.statuses = q.get("statuses").and_then(|s| {
        let list: Vec<String> = s
            .split(',')
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .map(str::to_owned)
            .collect();
        (!list.is_empty()).then_some(list)
    });
    for (name, slot) in [
        ("timeFrom", &mut out.time_from),
        ("timeTo", &mut out.time_to),
    ] {
        if let Some(raw) = q.get(name) {
            match parse_bound(raw) {
                Some(ms) => *slot = Some(ms),
                None => issues.field(name, "Invalid datetime"),
            }
        }
    }
    let order_by = q.get("orderBy").and_then(|v| match v.as_str() {
        "asc" => Some(false),
        "desc" => Some(true),
        other => {
            issues.field("orderBy", enum_message(&["asc", "desc"], other));
            None
        }
    });
    let order_column = q.get("orderColumn").and_then(|v| match Column::parse(v) {
        Some(c) => Some(c),
        None => {
            issues.field("orderColumn", enum_message(&ORDER_COLUMNS, v));
            None
        }
    });
    match (q.contains_key("orderBy"), q.contains_key("orderColumn")) {
        (true, false) | (false, true) => {
            issues.form("orderBy and orderColumn must be provided together");
        }
        _ => {}
    }
    issues.finish()?;
    if let (Some(desc), Some(col)) = (order_by, order_column) {
        out.order = Some((col, desc));
    }
    Ok(out)
}

async fn list_contacts(
    State(ic): State<Arc<Iclosed>>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Result<Response, IclosedError> {
    // Auth first: a bad key is 401 whatever else is wrong with the request.
    auth::check(&headers)?;
    let q = parse_list_query(query.as_deref())?;
    let hidden = ic.core.hidden();
    let store = lock(&ic.store);
    let (count, page) = store.list(&q, &hidden);
    let contacts: Vec<Value> = page.iter().map(|c| c.render()).collect();
    Ok(Json(json!({"data": {"count": count, "contacts": contacts}})).into_response())
}

async fn create_contact(
    State(ic): State<Arc<Iclosed>>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, IclosedError> {
    auth::check(&headers)?;
    let value = read_json(body, "POST", "/v1/contacts")?;
    let new = model::parse_create(&value)?;
    let preview = ic.rng.with(preview_id);
    let mut store = lock(&ic.store);
    // Read under the lock so createdAt order is id order.
    let now = ic.core.clock.now_ms();
    let contact = store.create(new, preview, now);
    // 201 (docs/providers/iclosed.md Simulator line), the contact nested under data.contact (seed).
    Ok((
        StatusCode::CREATED,
        Json(json!({"data": {"contact": contact.render()}})),
    )
        .into_response())
}

async fn get_contact(
    State(ic): State<Arc<Iclosed>>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Result<Response, IclosedError> {
    auth::check(&headers)?;
    let q = query_map(query.as_deref());
    let mut issues = Issues::new("GET", "/v1/contacts/detail");
    let id = match q.get("contactId") {
        None => {
            issues.field("contactId", "Required");
            None
        }
        Some(raw) => match coerce_int(raw) {
            Ok(n) => Some(n),
            Err(m) => {
                issues.field("contactId", m);
                None
            }
        },
    };
    issues.finish()?;
    // `includeUtms` is accepted and ignored: `tracking` is always rendered.
    let id = id.filter(|n| *n >= 1.0).map(|n| n as u64).unwrap_or(0);
    let store = lock(&ic.store);
    // Soft-deleted contacts are still answered, with deletedAt set (docs/providers/iclosed.md Simulator line).
    let contact = store.get(id).ok_or_else(IclosedError::contact_not_found)?;
    Ok(Json(json!({"data": contact.render()})).into_response())
}

async fn update_contact(
    State(ic): State<Arc<Iclosed>>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, IclosedError> {
    auth::check(&headers)?;
    let value = read_json(body, "PUT", "/v1/contacts")?;
    let (id, update) = model::parse_update(&value)?;
    let mut store = lock(&ic.store);
    let now = ic.core.clock.now_ms();
    let contact = store.update(id, update, now)?;
    Ok(Json(json!({"data": contact.render()})).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn errors(q: &str) -> Value {
        let e = parse_list_query(Some(q)).expect_err("invalid");
        let body = match e {
            IclosedError::Validation {
                form_errors,
                field_errors,
                ..
            } => json!({"form": form_errors, "fields": field_errors}),
            other => panic!("{other:?}"),
        };
        body
    }

    #[test]
    fn list_query_defaults_and_limits() {
        let q = parse_list_query(None).expect("defaults");
        assert_eq!((q.limit, q.page, q.order), (20, 0, None));
        let q = parse_list_query(Some("limit=100&page=3&orderBy=desc&orderColumn=email"))
            .expect("valid");
        assert_eq!((q.limit, q.page), (100, 3));
        assert_eq!(q.order, Some((Column::Email, true)));
        assert_eq!(
            errors("limit=101")["fields"]["limit"],
            json!(["Number must be less than or equal to 100"])
        );
        assert_eq!(
            errors("limit=0")["fields"]["limit"],
            json!(["Number must be greater than or equal to 1"])
        );
        assert_eq!(
            errors("limit=abc&page=1.5")["fields"],
            json!({"limit": ["Expected number, received nan"], "page": ["Expected integer, received float"]})
        );
        assert_eq!(
            errors("orderBy=asc")["form"],
            json!(["orderBy and orderColumn must be provided together"])
        );
        assert!(errors("orderBy=up&orderColumn=name")["fields"]
            .as_object()
            .is_some_and(|f| f.len() == 2));
        assert_eq!(
            errors("timeFrom=yesterday")["fields"]["timeFrom"],
            json!(["Invalid datetime"])
        );
        let q =
            parse_list_query(Some("statuses=QUALIFIED,%20POTENTIAL,&search=JANE")).expect("valid");
        assert_eq!(
            q.statuses,
            Some(vec!["QUALIFIED".to_owned(), "POTENTIAL".to_owned()])
        );
        assert_eq!(q.search.as_deref(), Some("jane"));
    }

    #[test]
    fn bounds_accept_iso_8601_forms() {
        assert_eq!(parse_bound("1970-01-01T00:00:01Z"), Some(1_000));
        assert_eq!(parse_bound("1970-01-01T01:00:00+01:00"), Some(0));
        assert_eq!(parse_bound("1970-01-02"), Some(86_400_000));
        assert_eq!(parse_bound("1970-01-01T00:00:00.5"), Some(500));
        assert_eq!(parse_bound("soon"), None);
    }
}
