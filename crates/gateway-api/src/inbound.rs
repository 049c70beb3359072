//! Inbound protection (docs/operations.md, "Inbound limits"): a request rate limit per tenant
//! and a bound on concurrent `/crm/contacts` calls per credential.
//!
//! **Rate limit.** A token bucket per tenant (`[api.rate_limit]`): `burst` tokens, refilled at
//! `per_second`. Every request on a tenant route (everything but `/admin/*`, `/healthz`,
//! `/readyz` and `/openapi.json`) that authenticates as a tenant spends one token; every such
//! answer carries the IETF draft headers `RateLimit-Limit` (the burst), `RateLimit-Remaining`
//! (whole tokens left) and `RateLimit-Reset` (seconds until the bucket is full again). Without a
//! token the answer is 429 `rate_limited` with `Retry-After` (seconds until one token is back).
//! Requests without a valid key are not counted: the handler answers 401 as usual.
//!
//! A small bucket map rather than the `governor` crate: the headers need the bucket's level
//! (`governor` exposes it only through its state-snapshot middleware, in GCRA terms), the
//! outbound budget (`gateway_adapters::resilience`) already uses the same arithmetic, and a full
//! bucket is the same as no bucket, so idle tenants are simply dropped from the map — memory
//! stays proportional to the tenants active within one refill period, with no extra dependency.
//!
//! **Concurrency.** A semaphore per (tenant, credential id) bounds the `/crm/contacts` calls in
//! flight (`max_concurrent_per_credential`); a call that gets no permit within
//! `concurrency_wait` answers 503 `credential_busy` with `Retry-After: 1`. A slow provider
//! behind one credential thus holds at most that many requests, and calls on other credentials
//! never queue behind it. The key includes the tenant, so naming another tenant's credential id
//! (which answers 404 anyway) never touches the owner's permits.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use axum::extract::{Request, State};
use axum::http::{HeaderName, HeaderValue};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use gateway_core::TenantId;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::error::ApiError;
use crate::state::{AppState, RateLimitConfig};

/// `RateLimit-Limit`.
pub const RATELIMIT_LIMIT: HeaderName = HeaderName::from_static("ratelimit-limit");
/// `RateLimit-Remaining`.
pub const RATELIMIT_REMAINING: HeaderName = HeaderName::from_static("ratelimit-remaining");
/// `RateLimit-Reset`.
pub const RATELIMIT_RESET: HeaderName = HeaderName::from_static("ratelimit-reset");

/// The tenant the inbound middleware authenticated, for the extractors further in (so a
/// request's key is looked up once).
#[derive(Clone, Debug)]
pub struct AuthenticatedTenant(pub TenantId);

/// Routes that belong to no tenant: the operator's and the public ones.
fn tenant_route(path: &str) -> bool {
    !(path == "/healthz"
        || path == "/readyz"
        || path == "/openapi.json"
        || path == "/admin"
        || path.starts_with("/admin/"))
}

// ------------------------------------------------------------------------------------------
// Rate limit
// ------------------------------------------------------------------------------------------

struct Bucket {
    tokens: f64,
    refilled: Instant,
}

/// What one request's check decided.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Decision {
    /// Whether the request may go on.
    pub allowed: bool,
    /// `RateLimit-Limit`: the burst.
    pub limit: u32,
    /// `RateLimit-Remaining`: whole tokens left.
    pub remaining: u32,
    /// `RateLimit-Reset`: until the bucket is full again.
    pub reset: Duration,
    /// When refused: until one token is back.
    pub retry_after: Duration,
}

/// Token buckets by tenant.
pub struct TenantLimiter {
    rate: f64,
    burst: f64,
    buckets: Mutex<Buckets>,
}

struct Buckets {
    map: HashMap<String, Bucket>,
    /// Size at which full buckets are swept out next.
    sweep_at: usize,
}

const MIN_SWEEP: usize = 1024;

impl TenantLimiter {
    /// `None` when the limit is off (`per_second = 0`).
    pub fn new(config: &RateLimitConfig) -> Option<Self> {
        (config.per_second > 0.0 && config.per_second.is_finite()).then(|| TenantLimiter {
            rate: config.per_second,
            burst: f64::from(config.burst.max(1)),
            buckets: Mutex::new(Buckets {
                map: HashMap::new(),
                sweep_at: MIN_SWEEP,
            }),
        })
    }

    fn level(&self, b: &Bucket, now: Instant) -> f64 {
        let gained = now.saturating_duration_since(b.refilled).as_secs_f64() * self.rate;
        (b.tokens + gained).min(self.burst)
    }

    /// How long until `key` has a token again, without spending one (`None`: it has one).
    pub fn empty_for(&self, key: &str, now: Instant) -> Option<Duration> {
        let buckets = self.buckets.lock().unwrap_or_else(PoisonError::into_inner);
        let level = buckets
            .map
            .get(key)
            .map_or(self.burst, |b| self.level(b, now));
        (level < 1.0).then(|| Duration::from_secs_f64((1.0 - level) / self.rate))
    }

    /// Spends one of the tenant's tokens, if there is one.
    pub fn check(&self, tenant: &str, now: Instant) -> Decision {
        let mut guard = self.buckets.lock().unwrap_or_else(PoisonError::into_inner);
        let buckets = &mut *guard;
        if buckets.map.len() >= buckets.sweep_at {
            // A full bucket is the same as none: forget idle tenants.
            let (rate, burst) = (self.rate, self.burst);
            buckets.map.retain(|_, b| {
                let gained = now.saturating_duration_since(b.refilled).as_secs_f64() * rate;
                b.tokens + gained < burst
            });
            buckets.sweep_at = (buckets.map.len() * 2).max(MIN_SWEEP);
        }
        let bucket = buckets.map.entry(tenant.to_owned()).or_insert(Bucket {
            tokens: self.burst,
            refilled: now,
        });
        let mut tokens = self.level(bucket, now);
        let allowed = tokens >= 1.0;
        if allowed {
            tokens -= 1.0;
        }
        bucket.tokens = tokens;
        bucket.refilled = now;
        let secs = |missing: f64| Duration::from_secs_f64((missing.max(0.0)) / self.rate);
        Decision {
            allowed,
            limit: self.burst as u32,
            remaining: tokens.floor().max(0.0) as u32,
            reset: secs(self.burst - tokens),
            retry_after: if allowed {
                Duration::ZERO
            } else {
                secs(1.0 - tokens)
            },
        }
    }
}

/// Whole seconds, rounded up.
fn ceil_secs(d: Duration) -> u64 {
    d.as_secs() + u64::from(d.subsec_nanos() > 0)
}

fn set_headers(resp: &mut Response, d: &Decision) {
    let headers = resp.headers_mut();
    for (name, value) in [
        (RATELIMIT_LIMIT, u64::from(d.limit)),
        (RATELIMIT_REMAINING, u64::from(d.remaining)),
        (RATELIMIT_RESET, ceil_secs(d.reset)),
    ] {
        headers.insert(name, HeaderValue::from(value));
    }
}

/// Outer middleware: authenticates tenant routes once (the key lookup the extractors reuse),
/// applies the tenant's rate limit and adds the `RateLimit-*` headers.
pub async fn rate_limit(State(state): State<AppState>, mut req: Request, next: Next) -> Response {
    if !tenant_route(req.uri().path()) {
        return next.run(req).await;
    }
    let Some(token) = crate::extract::bearer_header(req.headers()) else {
        return next.run(req).await;
    };
    let tenant = match state.store().authenticate(token).await {
        Ok(Some(t)) => t,
        // The handler answers 401 (or 404 for an unknown route): nothing to count.
        Ok(None) => return next.run(req).await,
        Err(e) => return ApiError::from(e).into_response(),
    };
    let decision = state
        .inbound()
        .limiter
        .as_ref()
        .map(|l| l.check(tenant.as_str(), Instant::now()));
    req.extensions_mut().insert(AuthenticatedTenant(tenant));
    let mut resp = match decision {
        Some(d) if !d.allowed => {
            tracing::debug!(
                retry_after_ms = d.retry_after.as_millis() as u64,
                "tenant rate limit"
            );
            ApiError::RateLimited {
                retry_after: d.retry_after,
            }
            .into_response()
        }
        _ => next.run(req).await,
    };
    if let Some(d) = decision {
        set_headers(&mut resp, &d);
    }
    resp
}

// ------------------------------------------------------------------------------------------
// Refused authentications per client address
// ------------------------------------------------------------------------------------------

/// Outermost limit: every 401 (a missing, malformed, unknown or revoked tenant key, or a wrong
/// admin token) spends a token of the client address's bucket; an address with an empty
/// bucket is answered 429 before anything else runs, so guessing keys costs the guesser, not
/// the database. Requests that authenticate spend nothing. Behind a reverse proxy every client
/// shares the proxy's address: raise or disable it there (docs/operations.md).
pub async fn refused_auth_throttle(
    State(state): State<AppState>,
    req: Request,
    next: Next,
) -> Response {
    if !tenant_route(req.uri().path()) && !req.uri().path().starts_with("/admin") {
        return next.run(req).await;
    }
    let (Some(limiter), Some(addr)) = (
        state.inbound().refusals.as_ref(),
        req.extensions()
            .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
            .map(|c| c.0.ip().to_string()),
    ) else {
        return next.run(req).await;
    };
    if let Some(wait) = limiter.empty_for(&addr, Instant::now()) {
        tracing::info!(client = %addr, "too many refused authentications from this address");
        return ApiError::AddressThrottled { retry_after: wait }.into_response();
    }
    let response = next.run(req).await;
    if response.status() == axum::http::StatusCode::UNAUTHORIZED {
        limiter.check(&addr, Instant::now());
    }
    response
}

// ------------------------------------------------------------------------------------------
// Concurrency per credential
// ------------------------------------------------------------------------------------------

/// Semaphores by (tenant, credential id), present only while someone holds or awaits one.
pub struct CredentialSlots {
    max: usize,
    wait: Duration,
    slots: Mutex<HashMap<(String, String), Arc<Semaphore>>>,
}

/// A held permit; gives its slot back (and forgets an idle semaphore) when dropped.
pub struct Slot<'a> {
    owner: &'a CredentialSlots,
    key: (String, String),
    permit: Option<OwnedSemaphorePermit>,
}

impl Drop for Slot<'_> {
    fn drop(&mut self) {
        drop(self.permit.take());
        self.owner.forget_if_idle(&self.key);
    }
}

impl CredentialSlots {
    /// `None` when the bound is off (`max_concurrent_per_credential = 0`).
    pub fn new(max: usize, wait: Duration) -> Option<Self> {
        (max > 0).then(|| CredentialSlots {
            max,
            wait,
            slots: Mutex::new(HashMap::new()),
        })
    }

    fn forget_if_idle(&self, key: &(String, String)) {
        let mut slots = self.slots.lock().unwrap_or_else(PoisonError::into_inner);
        // Only the map's own reference left: nobody holds or awaits a permit.
        if slots.get(key).is_some_and(|s| Arc::strong_count(s) == 1) {
            slots.remove(key);
        }
    }

    /// A permit for the credential, waiting at most the configured bound.
    pub async fn acquire(&self, tenant: &str, credential: &str) -> Result<Slot<'_>, ApiError> {
        let key = (tenant.to_owned(), credential.to_owned());
        let semaphore = {
            let mut slots = self.slots.lock().unwrap_or_else(PoisonError::into_inner);
            slots
                .entry(key.clone())
                .or_insert_with(|| Arc::new(Semaphore::new(self.max)))
                .clone()
        };
        // From here the slot forgets an idle semaphore on every exit path.
        let mut slot = Slot {
            owner: self,
            key,
            permit: None,
        };
        match tokio::time::timeout(self.wait, semaphore.acquire_owned()).await {
            Ok(Ok(permit)) => {
                slot.permit = Some(permit);
                Ok(slot)
            }
            // Never closed; treat it like a timeout.
            Ok(Err(_)) | Err(_) => {
                tracing::info!(
                    credential_id = %slot.key.1,
                    max = self.max,
                    "credential busy: no permit within the bound"
                );
                Err(ApiError::CredentialBusy)
            }
        }
    }

    #[cfg(test)]
    fn tracked(&self) -> usize {
        self.slots
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }
}

/// Inner middleware (inside idempotency, so a keyed request's detached handler keeps its
/// permit to the end): bounds the `/crm/contacts` calls in flight per credential.
pub async fn credential_concurrency(
    State(state): State<AppState>,
    req: Request,
    next: Next,
) -> Response {
    let Some(slots) = state.inbound().slots.as_ref() else {
        return next.run(req).await;
    };
    let path = req.uri().path();
    if !(path == "/crm/contacts" || path.starts_with("/crm/contacts/")) {
        return next.run(req).await;
    }
    let credential = req.uri().query().and_then(|q| {
        form_urlencoded::parse(q.as_bytes())
            .find(|(k, _)| k == "credentialId")
            .map(|(_, v)| v.into_owned())
    });
    let tenant = req
        .extensions()
        .get::<AuthenticatedTenant>()
        .map(|t| t.0.as_str().to_owned());
    // Unauthenticated or without a credential: the handler refuses it at once.
    let (Some(tenant), Some(credential)) = (tenant, credential) else {
        return next.run(req).await;
    };
    let _slot = match slots.acquire(&tenant, &credential).await {
        Ok(slot) => slot,
        Err(e) => return e.into_response(),
    };
    next.run(req).await
}

/// The per-process inbound state, built from the configuration.
pub struct Inbound {
    /// `None` when the rate limit is off.
    pub limiter: Option<TenantLimiter>,
    /// Refused authentications per client address; `None` when off.
    pub refusals: Option<TenantLimiter>,
    /// `None` when the concurrency bound is off.
    pub slots: Option<CredentialSlots>,
}

impl Inbound {
    /// From `[api]`.
    pub fn new(config: &crate::state::ApiConfig) -> Self {
        let refusals = RateLimitConfig {
            per_second: config.rate_limit.unauthenticated_per_second,
            burst: config.rate_limit.unauthenticated_burst,
            ..RateLimitConfig::default()
        };
        Inbound {
            limiter: TenantLimiter::new(&config.rate_limit),
            refusals: TenantLimiter::new(&refusals),
            slots: CredentialSlots::new(
                config.max_concurrent_per_credential,
                config.concurrency_wait,
            ),
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn limiter(per_second: f64, burst: u32) -> TenantLimiter {
        TenantLimiter::new(&RateLimitConfig {
            per_second,
            burst,
            ..RateLimitConfig::default()
        })
        .unwrap()
    }

    #[test]
    fn bucket_spends_refills_and_isolates_tenants() {
        let l = limiter(2.0, 3);
        let t0 = Instant::now();
        let seen: Vec<u32> = (0..3).map(|_| l.check("a", t0).remaining).collect();
        assert_eq!(seen, [2, 1, 0]);
        let refused = l.check("a", t0);
        assert!(!refused.allowed);
        assert_eq!(refused.retry_after, Duration::from_millis(500));
        assert_eq!(refused.reset, Duration::from_millis(1500));
        assert_eq!(refused.limit, 3);
        // Another tenant has its own bucket.
        assert!(l.check("b", t0).allowed);
        // Half a second later one token is back.
        let later = l.check("a", t0 + Duration::from_millis(500));
        assert!(later.allowed);
        assert_eq!(later.remaining, 0);
    }

    #[test]
    fn off_when_zero_and_idle_tenants_are_forgotten() {
        assert!(TenantLimiter::new(&RateLimitConfig {
            per_second: 0.0,
            burst: 10,
            ..RateLimitConfig::default()
        })
        .is_none());
        let l = limiter(1000.0, 1);
        let t0 = Instant::now();
        for i in 0..MIN_SWEEP {
            l.check(&format!("t{i}"), t0);
        }
        // A second later every bucket is full again; the next check sweeps them out.
        l.check("fresh", t0 + Duration::from_secs(1));
        let len = l
            .buckets
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .map
            .len();
        assert_eq!(len, 1);
    }

    #[test]
    fn routes_of_no_tenant() {
        assert!(!tenant_route("/admin/tenants"));
        assert!(!tenant_route("/healthz"));
        assert!(tenant_route("/crm/contacts"));
        assert!(tenant_route("/administrators"));
    }

    #[tokio::test]
    async fn slots_bound_and_forget() {
        let slots = CredentialSlots::new(1, Duration::from_millis(50)).unwrap();
        let held = slots.acquire("t", "c").await.expect("a free slot");
        assert!(matches!(
            slots.acquire("t", "c").await,
            Err(ApiError::CredentialBusy)
        ));
        // Another credential, or the same id under another tenant, is not affected.
        assert!(slots.acquire("t", "d").await.is_ok());
        assert!(slots.acquire("u", "c").await.is_ok());
        assert_eq!(slots.tracked(), 1);
        drop(held);
        assert_eq!(slots.tracked(), 0);
        assert!(slots.acquire("t", "c").await.is_ok());
    }
}
