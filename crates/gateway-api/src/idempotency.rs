//! `Idempotency-Key` on writes (docs/operations.md, "Idempotency"): the first request with a
//! key runs and its answer is stored; a retry with the same key and the same request gets that
//! answer back (`Idempotent-Replayed: true`) without anything reaching the provider; the same key
//! with another request is 422 `idempotency_key_reused`; while the first still runs, 409
//! `idempotency_in_progress`.
//!
//! 2xx and 4xx answers are stored. 5xx (502, 503, 504 …) and 429 answers release the key, so the
//! client may retry with the same key: they say the provider failed or pushed back, and a retry
//! is exactly what the client should do. (A 504 may hide a write the provider applied; the
//! gateway cannot know, and keeping the key would only turn the client's retry into a replayed
//! 504.)
//!
//! The handler runs in its own task (as every request does, see `request_context`): a client
//! that hangs up cancels nothing, the answer is still stored for its retry, and a handler that
//! panics releases its key.

use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{header, HeaderName, HeaderValue, Method, Response, StatusCode};
use axum::middleware::Next;
use axum::response::IntoResponse;
use chrono::Utc;
use gateway_core::TenantId;
use gateway_store::{Claim, Claimant, StoredResponse};
use sha2::{Digest, Sha256};
use tracing::Instrument;

use crate::error::{ApiError, ProblemItem};
use crate::state::AppState;

/// The request header.
pub const IDEMPOTENCY_KEY: HeaderName = HeaderName::from_static("idempotency-key");
/// Set on a replayed answer.
pub const IDEMPOTENT_REPLAYED: HeaderName = HeaderName::from_static("idempotent-replayed");

/// Put in the request's extensions when it carries a key, so a create can record its intent
/// (docs/operations.md, "Writes whose outcome is unknown").
#[derive(Clone, Debug)]
pub struct KeyInUse(pub String);

/// Put in a response's extensions by a handler whose answer must not be stored for the key:
/// the request is waiting on something (a reconciliation), and the retry must run again.
#[derive(Clone, Copy, Debug)]
pub struct DoNotStore;

/// How often each process writes its heartbeat.
pub const HEARTBEAT_EVERY: Duration = Duration::from_secs(1);
/// A process whose heartbeat is this old is dead: its claims are taken over.
pub const DEAD_AFTER: Duration = Duration::from_secs(5);

/// Keeps this process's heartbeat fresh until aborted (the server aborts it, and forgets the
/// instance, at a clean stop); a failed write is logged and retried at the next beat. Also
/// sweeps idle cached adapters once a minute.
pub fn heartbeat(state: &AppState) -> tokio::task::JoinHandle<()> {
    let state = state.clone();
    tokio::spawn(async move {
        for beat in 0u64.. {
            if let Err(e) = state
                .store()
                .instance_heartbeat(state.instance_id(), Utc::now())
                .await
            {
                tracing::warn!(error = %e, "could not write the instance heartbeat");
            }
            // Once a minute, let idle adapters (and their decrypted secrets) go.
            if beat % 60 == 59 {
                state.registry().sweep_idle();
            }
            tokio::time::sleep(HEARTBEAT_EVERY).await;
        }
    })
}

/// Whether the route takes `Idempotency-Key`: writes to `/crm/contacts`, `/crm/contacts/{id}`,
/// `/credentials` and `/credentials/{id}` (the OpenAPI document says the same).
/// Only the methods each route has: any other answers 405 from the router, untouched.
fn covered(method: &Method, path: &str) -> bool {
    ["/crm/contacts", "/credentials"].iter().any(|base| {
        let item = path
            .strip_prefix(base)
            .and_then(|rest| rest.strip_prefix('/'))
            .is_some_and(|id| !id.is_empty() && !id.contains('/'));
        match *method {
            Method::POST => path == *base,
            Method::PATCH | Method::DELETE => item,
            Method::PUT => item && *base == "/crm/contacts",
            _ => false,
        }
    })
}

/// A configured duration as a timestamp offset; a figure beyond chrono's range becomes a
/// century, which still adds to "now" without overflowing.
pub(crate) fn as_chrono(d: Duration) -> chrono::Duration {
    chrono::Duration::from_std(d).unwrap_or(chrono::Duration::days(36_500))
}

fn valid_key(key: &[u8]) -> bool {
    (1..=255).contains(&key.len()) && key.iter().all(u8::is_ascii_graphic)
}

fn bad_key() -> ApiError {
    ApiError::BadRequest {
        message: "the Idempotency-Key header must be 1 to 255 visible ASCII characters".into(),
        errors: vec![ProblemItem {
            pointer: None,
            parameter: Some("Idempotency-Key".into()),
            code: "invalid_header".into(),
            message: "Idempotency-Key must be 1 to 255 visible ASCII characters (no spaces)".into(),
        }],
    }
}

/// SHA-256 over tenant, credential, method, path, the query with its pairs sorted, and the body;
/// fields separated by a NUL so no two requests share an encoding.
fn request_hash(
    tenant: &TenantId,
    method: &Method,
    path: &str,
    query: &str,
    body: &[u8],
) -> String {
    let mut pairs: Vec<(String, String)> = form_urlencoded::parse(query.as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    pairs.sort();
    let credential = pairs
        .iter()
        .find(|(k, _)| k == "credentialId")
        .map(|(_, v)| v.as_str())
        .or_else(|| {
            path.strip_prefix("/credentials/")
                .map(|r| r.split('/').next().unwrap_or(r))
        })
        .unwrap_or("");
    let canonical = form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs.iter())
        .finish();
    let mut h = Sha256::new();
    for part in [
        tenant.as_str().as_bytes(),
        credential.as_bytes(),
        method.as_str().as_bytes(),
        path.as_bytes(),
        canonical.as_bytes(),
    ] {
        h.update(part);
        h.update([0u8]);
    }
    h.update(body);
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

/// Whether an answer is kept for replay: 2xx and 4xx except 429.
fn stored(status: StatusCode) -> bool {
    (status.is_success() || status.is_client_error()) && status != StatusCode::TOO_MANY_REQUESTS
}

fn replay(resp: StoredResponse) -> Response<Body> {
    let status = StatusCode::from_u16(resp.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut out = (status, resp.body).into_response();
    let headers = out.headers_mut();
    headers.remove(header::CONTENT_TYPE);
    if let Some(v) = resp
        .content_type
        .and_then(|v| HeaderValue::from_str(&v).ok())
    {
        headers.insert(header::CONTENT_TYPE, v);
    }
    if let Some(v) = resp.location.and_then(|v| HeaderValue::from_str(&v).ok()) {
        headers.insert(header::LOCATION, v);
    }
    headers.insert(IDEMPOTENT_REPLAYED, HeaderValue::from_static("true"));
    out
}

/// The last time expired keys were purged (epoch ms), so purges run about once a minute.
static LAST_PURGE_MS: AtomicI64 = AtomicI64::new(0);

fn purge_now_and_then(state: &AppState) {
    let now = Utc::now().timestamp_millis();
    let last = LAST_PURGE_MS.load(Ordering::Relaxed);
    if now - last < 60_000
        || LAST_PURGE_MS
            .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
            .is_err()
    {
        return;
    }
    let store = state.store().clone();
    tokio::spawn(async move {
        match store.idempotency_purge_expired(Utc::now()).await {
            Ok(0) => {}
            Ok(n) => tracing::debug!(purged = n, "expired idempotency keys purged"),
            Err(e) => tracing::warn!(error = %e, "purging expired idempotency keys failed"),
        }
    });
}

/// The middleware; see the module documentation.
pub async fn idempotency(
    State(state): State<AppState>,
    req: Request,
    next: Next,
) -> Response<Body> {
    if !covered(req.method(), req.uri().path()) {
        return next.run(req).await;
    }
    let Some(raw_key) = req.headers().get(&IDEMPOTENCY_KEY) else {
        return next.run(req).await;
    };
    if !valid_key(raw_key.as_bytes()) {
        return bad_key().into_response();
    }
    let key = String::from_utf8_lossy(raw_key.as_bytes()).into_owned();
    let (mut parts, body) = req.into_parts();
    // Without a valid key the handler answers 401 as usual; nothing to remember.
    let known = parts
        .extensions
        .get::<crate::inbound::AuthenticatedTenant>()
        .map(|t| t.0.clone());
    let tenant = match known {
        Some(t) => t,
        None => match crate::extract::bearer(&parts) {
            Some(token) => match state.store().authenticate(token).await {
                Ok(Some(t)) => t,
                Ok(None) => return next.run(Request::from_parts(parts, body)).await,
                Err(e) => return ApiError::from(e).into_response(),
            },
            None => return next.run(Request::from_parts(parts, body)).await,
        },
    };
    let limit = state.config().max_body_bytes;
    let bytes = match axum::body::to_bytes(body, limit).await {
        Ok(b) => b,
        Err(_) => return ApiError::PayloadTooLarge { limit }.into_response(),
    };
    let hash = request_hash(
        &tenant,
        &parts.method,
        parts.uri.path(),
        parts.uri.query().unwrap_or(""),
        &bytes,
    );
    let cfg = &state.config().idempotency;
    let now = Utc::now();
    let (window, stale) = (as_chrono(cfg.window), as_chrono(cfg.stale_after));
    purge_now_and_then(&state);
    let claimant = Claimant {
        instance: state.instance_id(),
        dead_before: now - as_chrono(DEAD_AFTER),
        // A beat and a half: a live holder's heartbeat is never older, short of a stall.
        silent_before: now - as_chrono(HEARTBEAT_EVERY * 3 / 2),
    };
    let claim = state
        .store()
        .idempotency_claim(
            &tenant,
            &key,
            &hash,
            now,
            now + window,
            now - stale,
            claimant,
        )
        .await;
    let token = match claim {
        Ok(Claim::Claimed { token }) => token,
        Ok(Claim::Replay(resp)) => {
            tracing::info!(status = resp.status, "idempotent replay");
            return replay(resp);
        }
        Ok(Claim::InProgress { until }) => {
            // Honest: the time until the claim frees when its holder is dead; a short poll
            // while the holder runs (its end is what changes the answer).
            let retry_after = until
                .and_then(|t| (t - now).to_std().ok())
                .unwrap_or(Duration::from_secs(1));
            return ApiError::IdempotencyInProgress { retry_after }.into_response();
        }
        Ok(Claim::Mismatch) => return ApiError::IdempotencyKeyReused.into_response(),
        Err(e) => return ApiError::from(e).into_response(),
    };

    // Run the handler in its own task (see the module documentation), keeping the request id
    // and the log span, and keep the claim fresh while it runs.
    let request_id = gateway_transport::current_request_id().unwrap_or_default();
    parts.extensions.insert(KeyInUse(key.clone()));
    let req = Request::from_parts(parts, Body::from(bytes));
    let mut task = tokio::spawn(
        gateway_transport::with_request_id(request_id, next.run(req))
            .instrument(tracing::Span::current()),
    );
    let heartbeat = (cfg.stale_after / 3).max(Duration::from_millis(50));
    let outcome = loop {
        tokio::select! {
            joined = &mut task => break joined,
            () = tokio::time::sleep(heartbeat) => {
                if let Err(e) = state.store().idempotency_touch(&tenant, &key, &token, Utc::now()).await {
                    tracing::warn!(error = %e, "could not refresh an idempotency claim");
                }
            }
        }
    };
    let response = match outcome {
        Ok(r) => r,
        Err(e) => {
            let _ = state
                .store()
                .idempotency_release(&tenant, &key, &token)
                .await;
            return ApiError::Internal(anyhow::anyhow!("handler failed: {e}")).into_response();
        }
    };
    let status = response.status();
    if !stored(status) || response.extensions().get::<DoNotStore>().is_some() {
        if let Err(e) = state
            .store()
            .idempotency_release(&tenant, &key, &token)
            .await
        {
            tracing::warn!(error = %e, "could not release an idempotency key");
        }
        return response;
    }
    let (mut parts, body) = response.into_parts();
    // No size limit: the answer is already in memory (bounded by the input limits and the
    // transport's cap on provider answers), and a write that reached the provider must never
    // turn into an error because its answer is large.
    let body: Bytes = match axum::body::to_bytes(body, usize::MAX).await {
        Ok(b) => b,
        Err(e) => {
            let _ = state
                .store()
                .idempotency_release(&tenant, &key, &token)
                .await;
            return ApiError::Internal(anyhow::anyhow!("reading the answer failed: {e}"))
                .into_response();
        }
    };
    let header_text = |name: header::HeaderName| {
        parts
            .headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let record = StoredResponse {
        status: status.as_u16(),
        content_type: header_text(header::CONTENT_TYPE),
        location: header_text(header::LOCATION),
        body: body.to_vec(),
    };
    match state
        .store()
        .idempotency_complete(&tenant, &key, &token, &record, Utc::now())
        .await
    {
        Ok(true) => {}
        Ok(false) => tracing::warn!("idempotency claim was lost before the answer was stored"),
        Err(e) => tracing::warn!(error = %e, "could not store an idempotent answer"),
    }
    parts.headers.remove(header::CONTENT_LENGTH);
    Response::from_parts(parts, Body::from(body))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_and_routes() {
        assert!(valid_key(b"a"));
        assert!(valid_key(&[b'k'; 255]));
        assert!(!valid_key(b""));
        assert!(!valid_key(&[b'k'; 256]));
        assert!(!valid_key(b"has space"));
        assert!(!valid_key("é".as_bytes()));
        assert!(covered(&Method::POST, "/crm/contacts"));
        assert!(covered(&Method::DELETE, "/crm/contacts/con_1"));
        assert!(covered(&Method::PATCH, "/credentials/cred_1"));
        assert!(!covered(&Method::GET, "/crm/contacts"));
        assert!(!covered(&Method::POST, "/admin/tenants"));
        assert!(!covered(&Method::POST, "/credentials/cred_1/check"));
        // methods a route does not have are the router's 405, not the key's business
        assert!(!covered(&Method::PUT, "/credentials"));
        assert!(!covered(&Method::PUT, "/credentials/cred_1"));
        assert!(!covered(&Method::POST, "/crm/contacts/con_1"));
        assert!(!covered(&Method::DELETE, "/crm/contacts"));
        assert!(stored(StatusCode::OK) && stored(StatusCode::UNPROCESSABLE_ENTITY));
        assert!(!stored(StatusCode::TOO_MANY_REQUESTS) && !stored(StatusCode::BAD_GATEWAY));
    }

    #[test]
    fn hash_covers_every_part_and_ignores_query_order() {
        let t = TenantId::generate();
        let base = request_hash(
            &t,
            &Method::POST,
            "/crm/contacts",
            "credentialId=c&strict=true",
            b"{}",
        );
        assert_eq!(
            base,
            request_hash(
                &t,
                &Method::POST,
                "/crm/contacts",
                "strict=true&credentialId=c",
                b"{}"
            )
        );
        for other in [
            request_hash(
                &TenantId::generate(),
                &Method::POST,
                "/crm/contacts",
                "credentialId=c&strict=true",
                b"{}",
            ),
            request_hash(
                &t,
                &Method::PUT,
                "/crm/contacts",
                "credentialId=c&strict=true",
                b"{}",
            ),
            request_hash(
                &t,
                &Method::POST,
                "/crm/contacts/x",
                "credentialId=c&strict=true",
                b"{}",
            ),
            request_hash(
                &t,
                &Method::POST,
                "/crm/contacts",
                "credentialId=d&strict=true",
                b"{}",
            ),
            request_hash(
                &t,
                &Method::POST,
                "/crm/contacts",
                "credentialId=c&strict=true",
                b"{ }",
            ),
        ] {
            assert_ne!(base, other);
        }
    }
}
