//! Outbound resilience shared by every adapter (docs/operations.md, "Resilience"):
//! [`ResilientAdapter`] wraps any `Arc<dyn CrmAdapter>` and adds, per credential,
//!
//! - **retries** with exponential backoff and full jitter, only where they are safe: reads
//!   (`get`, `list`, `health_check`) on `RateLimited`, `Unavailable` and `Timeout`; writes
//!   (`create`, `update`, `delete`) only when the provider provably did not apply them (its 429,
//!   or a connection that was never made). Never a write after a timeout or a 5xx: the
//!   provider may have applied it, and providers here take no idempotency key.
//!   `AdapterError::retry_after` (a `Retry-After` header, iClosed's body `retryAfter`) is the
//!   least wait; a wait longer than `max_retry_after` is not waited for, the caller gets it;
//! - a **rate budget** (token bucket) matched to the provider's documented limits, shared by
//!   every call through the credential: interactive calls (the default) wait at most
//!   `interactive_max_wait` for a token, else fail `RateLimited`; background calls
//!   ([`with_priority`]`(Priority::Background, …)`, for reconciliation) wait behind them;
//! - a **circuit breaker**: after `failure_threshold` consecutive `Unavailable`/`Timeout`
//!   answers it opens, and calls fail at once with `CircuitOpen` (the API's 503 with
//!   `Retry-After`) for `open_duration`; then one probe call goes through: success closes it,
//!   failure opens it again.
//!
//! The bucket and the breaker live in the registry, keyed by credential id, so they survive the
//! adapter being rebuilt when the credential changes.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use async_trait::async_trait;
use gateway_core::{
    AdapterError, ContactInput, CrmAdapter, ErrorKind, FieldError, ListPage, ListRequest,
    Operation, PlannedCall, ProviderDeclaration, ProviderKind, RemoteContact, RemoteId,
    WriteOutcome,
};
use gateway_transport::with_answer_limit;
use rand::Rng as _;
use serde::{Deserialize, Serialize};
use tokio::time::Instant;

/// Resolved settings of one provider.
#[derive(Clone, Debug, PartialEq)]
pub struct ResilienceConfig {
    /// Retries after the first attempt (0: none).
    pub max_retries: u32,
    /// First backoff step; doubled per retry.
    pub base_delay: Duration,
    /// Longest backoff step.
    pub max_delay: Duration,
    /// Longest `Retry-After` the gateway waits out itself; longer ones go to the caller.
    pub max_retry_after: Duration,
    /// Longest time one attempt may take (on top of the transport's per-call timeouts); `None`
    /// leaves it to the transport.
    pub attempt_timeout: Option<Duration>,
    /// Consecutive failures (`Unavailable`, `Timeout`) that open the breaker; 0 disables it.
    pub failure_threshold: u32,
    /// How long an open breaker fails calls before letting a probe through.
    pub open_duration: Duration,
    /// Sustained provider calls per second per credential; 0 disables the budget.
    pub rate_per_second: f64,
    /// Calls that may be made at once after a quiet period.
    pub burst: u32,
    /// Longest an interactive call waits for the budget before failing `RateLimited`.
    pub interactive_max_wait: Duration,
}

impl ResilienceConfig {
    /// The defaults for a provider; its rate budget comes from its own module's documented
    /// limits (`Provider::rate_budget`).
    pub fn for_provider(provider: ProviderKind) -> Self {
        let (rate, burst) =
            crate::providers::provider(provider).map_or((10.0, 10), |p| p.rate_budget());
        ResilienceConfig {
            max_retries: 3,
            base_delay: Duration::from_millis(200),
            max_delay: Duration::from_secs(5),
            max_retry_after: Duration::from_secs(10),
            attempt_timeout: None,
            failure_threshold: 5,
            open_duration: Duration::from_secs(30),
            rate_per_second: rate,
            burst,
            interactive_max_wait: Duration::from_secs(2),
        }
    }

    /// No retries, no budget, no breaker: the adapter as it is.
    pub fn off() -> Self {
        ResilienceConfig {
            max_retries: 0,
            failure_threshold: 0,
            rate_per_second: 0.0,
            ..Self::for_provider(ProviderKind::Karia)
        }
    }
}

/// Overrides for one provider (`[resilience.<provider>]`); unset keys keep the provider's
/// default.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ProviderResilience {
    /// See [`ResilienceConfig::max_retries`].
    pub max_retries: Option<u32>,
    /// See [`ResilienceConfig::base_delay`].
    #[serde(with = "humantime_serde")]
    pub base_delay: Option<Duration>,
    /// See [`ResilienceConfig::max_delay`].
    #[serde(with = "humantime_serde")]
    pub max_delay: Option<Duration>,
    /// See [`ResilienceConfig::max_retry_after`].
    #[serde(with = "humantime_serde")]
    pub max_retry_after: Option<Duration>,
    /// See [`ResilienceConfig::attempt_timeout`].
    #[serde(with = "humantime_serde")]
    pub attempt_timeout: Option<Duration>,
    /// See [`ResilienceConfig::failure_threshold`].
    pub failure_threshold: Option<u32>,
    /// See [`ResilienceConfig::open_duration`].
    #[serde(with = "humantime_serde")]
    pub open_duration: Option<Duration>,
    /// See [`ResilienceConfig::rate_per_second`].
    pub rate_per_second: Option<f64>,
    /// See [`ResilienceConfig::burst`].
    pub burst: Option<u32>,
    /// See [`ResilienceConfig::interactive_max_wait`].
    #[serde(with = "humantime_serde")]
    pub interactive_max_wait: Option<Duration>,
}

impl ProviderResilience {
    fn apply(&self, mut c: ResilienceConfig) -> ResilienceConfig {
        macro_rules! take {
            ($($f:ident),*) => { $(if let Some(v) = self.$f { c.$f = v; })* };
        }
        take!(
            max_retries,
            base_delay,
            max_delay,
            max_retry_after,
            failure_threshold,
            open_duration,
            rate_per_second,
            burst,
            interactive_max_wait
        );
        if self.attempt_timeout.is_some() {
            c.attempt_timeout = self.attempt_timeout;
        }
        c
    }
}

/// `[resilience]`: one section per provider.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ResilienceSettings {
    /// `[resilience.bird]`.
    pub bird: ProviderResilience,
    /// `[resilience.karia]`.
    pub karia: ProviderResilience,
    /// `[resilience.iclosed]`.
    pub iclosed: ProviderResilience,
}

impl ResilienceSettings {
    /// The resolved settings of `provider`.
    pub fn resolve(&self, provider: ProviderKind) -> ResilienceConfig {
        let overrides = match provider {
            ProviderKind::Bird => &self.bird,
            ProviderKind::Karia => &self.karia,
            ProviderKind::Iclosed => &self.iclosed,
        };
        overrides.apply(ResilienceConfig::for_provider(provider))
    }
}

/// Who is asking: the API's callers go first, reconciliation waits behind them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Priority {
    /// A tenant's API call (the default).
    #[default]
    Interactive,
    /// Background work (reconciliation): waits for the budget behind interactive calls.
    Background,
}

impl Priority {
    /// The metrics label.
    pub fn as_str(self) -> &'static str {
        match self {
            Priority::Interactive => "interactive",
            Priority::Background => "background",
        }
    }
}

tokio::task_local! {
    static PRIORITY: Priority;
}

/// Runs `fut` with every adapter call in it at `priority`.
pub async fn with_priority<F: std::future::Future>(priority: Priority, fut: F) -> F::Output {
    PRIORITY.scope(priority, fut).await
}

fn current_priority() -> Priority {
    PRIORITY.try_with(|p| *p).unwrap_or_default()
}

// ------------------------------------------------------------------------------------------
// Rate budget
// ------------------------------------------------------------------------------------------

struct Bucket {
    /// May go negative: interactive calls reserve tokens ahead and wait for them.
    tokens: f64,
    refilled: Instant,
}

/// A token bucket; interactive calls reserve (queue fairly), background calls take only what is
/// left over, so they always come after interactive reservations.
pub struct RateBudget {
    rate: f64,
    burst: f64,
    state: Mutex<Bucket>,
}

impl RateBudget {
    /// `rate` tokens per second, at most `burst` stored; starts full.
    pub fn new(rate: f64, burst: u32) -> Self {
        let burst = f64::from(burst.max(1));
        RateBudget {
            rate,
            burst,
            state: Mutex::new(Bucket {
                tokens: burst,
                refilled: Instant::now(),
            }),
        }
    }

    fn refill(&self, b: &mut Bucket) {
        let now = Instant::now();
        let gained = now.duration_since(b.refilled).as_secs_f64() * self.rate;
        b.tokens = (b.tokens + gained).min(self.burst);
        b.refilled = now;
    }

    /// Takes `cost` tokens. Interactive: reserves them and waits for them if that takes at most
    /// `max_wait`, else gives them back and answers how long it would have taken. Background:
    /// waits (without limit) until they are free and no interactive call is queued.
    pub async fn acquire(
        &self,
        cost: u32,
        priority: Priority,
        max_wait: Duration,
    ) -> Result<(), Duration> {
        if self.rate <= 0.0 {
            return Ok(());
        }
        let cost = f64::from(cost.max(1)).min(self.burst);
        match priority {
            Priority::Interactive => {
                let wait = {
                    let mut b = self.state.lock().unwrap_or_else(PoisonError::into_inner);
                    self.refill(&mut b);
                    b.tokens -= cost;
                    if b.tokens >= 0.0 {
                        Duration::ZERO
                    } else {
                        let wait = Duration::from_secs_f64(-b.tokens / self.rate);
                        if wait > max_wait {
                            b.tokens += cost;
                            return Err(wait);
                        }
                        wait
                    }
                };
                if !wait.is_zero() {
                    tokio::time::sleep(wait).await;
                }
                Ok(())
            }
            Priority::Background => loop {
                let wait = {
                    let mut b = self.state.lock().unwrap_or_else(PoisonError::into_inner);
                    self.refill(&mut b);
                    if b.tokens >= cost {
                        b.tokens -= cost;
                        return Ok(());
                    }
                    Duration::from_secs_f64((cost - b.tokens) / self.rate)
                };
                tokio::time::sleep(wait.max(Duration::from_millis(1))).await;
            },
        }
    }
}

// ------------------------------------------------------------------------------------------
// Circuit breaker
// ------------------------------------------------------------------------------------------

/// The breaker's state, for tests and logs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BreakerState {
    /// Calls go through; counting consecutive failures.
    Closed,
    /// Calls fail fast until the instant.
    Open,
    /// One probe call is in flight.
    HalfOpen,
}

#[derive(Debug)]
enum Breaker {
    Closed { failures: u32 },
    Open { until: Instant, failures: u32 },
    HalfOpen,
}

/// What the breaker says about a call about to be made.
enum Permit {
    Go,
    Probe,
    Refuse(Duration),
}

/// Per-credential state shared by every adapter built for the credential.
pub struct CredentialGuard {
    budget: RateBudget,
    breaker: Mutex<Breaker>,
    provider: ProviderKind,
}

impl Drop for CredentialGuard {
    /// A guard dropped while its breaker is open (swept as idle) leaves the open count.
    fn drop(&mut self) {
        let b = self.breaker.lock().unwrap_or_else(PoisonError::into_inner);
        if !matches!(*b, Breaker::Closed { .. }) {
            metrics::gauge!("circuit_breakers_open", "provider" => self.provider.as_str())
                .decrement(1.0);
        }
    }
}

impl CredentialGuard {
    /// Fresh state for `cfg` of a `provider` credential.
    pub fn new(cfg: &ResilienceConfig, provider: ProviderKind) -> Self {
        CredentialGuard {
            budget: RateBudget::new(cfg.rate_per_second, cfg.burst),
            breaker: Mutex::new(Breaker::Closed { failures: 0 }),
            provider,
        }
    }

    /// The breaker's state now.
    pub fn breaker_state(&self) -> BreakerState {
        match *self.breaker.lock().unwrap_or_else(PoisonError::into_inner) {
            Breaker::Closed { .. } => BreakerState::Closed,
            Breaker::Open { .. } => BreakerState::Open,
            Breaker::HalfOpen => BreakerState::HalfOpen,
        }
    }

    fn permit(&self, cfg: &ResilienceConfig) -> Permit {
        if cfg.failure_threshold == 0 {
            return Permit::Go;
        }
        let mut b = self.breaker.lock().unwrap_or_else(PoisonError::into_inner);
        match *b {
            Breaker::Closed { .. } => Permit::Go,
            Breaker::Open { until, .. } => {
                let now = Instant::now();
                if now >= until {
                    *b = Breaker::HalfOpen;
                    Permit::Probe
                } else {
                    Permit::Refuse(until - now)
                }
            }
            // A probe is in flight: others wait for its verdict outside.
            Breaker::HalfOpen => Permit::Refuse(Duration::from_secs(1)),
        }
    }

    /// Records one attempt's outcome: `failed` is true for `Unavailable` and `Timeout`.
    fn record(&self, cfg: &ResilienceConfig, failed: bool, provider: ProviderKind) {
        if cfg.failure_threshold == 0 {
            return;
        }
        let mut b = self.breaker.lock().unwrap_or_else(PoisonError::into_inner);
        let next = match (&*b, failed) {
            (_, false) => Breaker::Closed { failures: 0 },
            (Breaker::Closed { failures }, true) if failures + 1 < cfg.failure_threshold => {
                Breaker::Closed {
                    failures: failures + 1,
                }
            }
            (Breaker::Closed { failures }, true) | (Breaker::Open { failures, .. }, true) => {
                let failures = failures + 1;
                tracing::warn!(%provider, failures, open_for = ?cfg.open_duration, "circuit breaker opened");
                Breaker::Open {
                    until: Instant::now() + cfg.open_duration,
                    failures,
                }
            }
            (Breaker::HalfOpen, true) => {
                tracing::warn!(%provider, open_for = ?cfg.open_duration, "circuit breaker probe failed; open again");
                Breaker::Open {
                    until: Instant::now() + cfg.open_duration,
                    failures: cfg.failure_threshold,
                }
            }
        };
        if matches!(*b, Breaker::HalfOpen) && !failed {
            tracing::info!(%provider, "circuit breaker probe succeeded; closed");
        }
        let (was_closed, is_closed) = (
            matches!(*b, Breaker::Closed { .. }),
            matches!(next, Breaker::Closed { .. }),
        );
        if was_closed != is_closed {
            let open = metrics::gauge!("circuit_breakers_open", "provider" => provider.as_str());
            if is_closed {
                open.decrement(1.0);
            } else {
                open.increment(1.0);
            }
        }
        *b = next;
    }

    /// A probe that ended without a verdict (a 4xx, the budget refused it) closes nothing and
    /// opens nothing: let the next call probe again.
    fn release_probe(&self) {
        let mut b = self.breaker.lock().unwrap_or_else(PoisonError::into_inner);
        if matches!(*b, Breaker::HalfOpen) {
            *b = Breaker::Open {
                until: Instant::now(),
                failures: 0,
            };
        }
    }
}

/// A probe's claim on the half-open breaker. A call that ends without a verdict gives the probe
/// back on drop, and that includes a call whose future is dropped mid-flight (the API's caller
/// hung up): otherwise the breaker would stay half-open, refusing every call of the credential
/// for good.
struct ProbeClaim<'a> {
    guard: &'a CredentialGuard,
    armed: bool,
}

impl ProbeClaim<'_> {
    /// The call reached a verdict (recorded on the breaker): nothing to give back.
    fn settle(&mut self) {
        self.armed = false;
    }
}

impl Drop for ProbeClaim<'_> {
    fn drop(&mut self) {
        if self.armed {
            self.guard.release_probe();
        }
    }
}

// ------------------------------------------------------------------------------------------
// The decorator
// ------------------------------------------------------------------------------------------

/// Reads may be retried on any retryable failure; writes only when provably not applied.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Safety {
    Read,
    Write,
}

fn breaker_failure(e: &AdapterError) -> bool {
    matches!(e.kind, ErrorKind::Unavailable | ErrorKind::Timeout)
}

fn may_retry(e: &AdapterError, safety: Safety) -> bool {
    match safety {
        Safety::Read => matches!(
            e.kind,
            ErrorKind::RateLimited | ErrorKind::Unavailable | ErrorKind::Timeout
        ),
        Safety::Write => e.kind == ErrorKind::RateLimited || e.not_applied,
    }
}

/// Full jitter: a uniform wait in `[0, min(max_delay, base · 2^attempt)]`.
fn backoff(cfg: &ResilienceConfig, attempt: u32) -> Duration {
    let cap = cfg
        .base_delay
        .saturating_mul(2u32.saturating_pow(attempt))
        .min(cfg.max_delay);
    let nanos = u64::try_from(cap.as_nanos()).unwrap_or(u64::MAX);
    if nanos == 0 {
        return Duration::ZERO;
    }
    Duration::from_nanos(rand::thread_rng().gen_range(0..=nanos))
}

/// Wraps an adapter with retries, the credential's rate budget and its circuit breaker (see
/// the module documentation).
pub struct ResilientAdapter {
    inner: Arc<dyn CrmAdapter>,
    cfg: ResilienceConfig,
    guard: Arc<CredentialGuard>,
}

impl ResilientAdapter {
    /// Wraps `inner`, sharing `guard` with every other adapter of the credential.
    pub fn new(
        inner: Arc<dyn CrmAdapter>,
        cfg: ResilienceConfig,
        guard: Arc<CredentialGuard>,
    ) -> Self {
        ResilientAdapter { inner, cfg, guard }
    }

    /// Counts and times one call as the caller saw it (retries included): by provider,
    /// operation and outcome (`ok` or the error kind), all bounded label values.
    async fn observed<T>(
        &self,
        operation: &'static str,
        call: impl std::future::Future<Output = Result<T, AdapterError>>,
    ) -> Result<T, AdapterError> {
        let started = Instant::now();
        let result = call.await;
        let provider = self.inner.provider().as_str();
        let outcome = match &result {
            Ok(_) => "ok",
            Err(e) => e.kind.as_str(),
        };
        metrics::counter!("provider_calls_total", "provider" => provider, "operation" => operation, "outcome" => outcome)
            .increment(1);
        metrics::histogram!("provider_call_duration_seconds", "provider" => provider, "operation" => operation)
            .record(started.elapsed().as_secs_f64());
        result
    }

    async fn call<T, F, Fut>(
        &self,
        safety: Safety,
        cost: u32,
        mut attempt_fn: F,
    ) -> Result<T, AdapterError>
    where
        F: FnMut() -> Fut + Send,
        Fut: std::future::Future<Output = Result<T, AdapterError>> + Send,
        T: Send,
    {
        let provider = self.inner.provider();
        let priority = current_priority();
        let mut attempt = 0u32;
        loop {
            let probing = match self.guard.permit(&self.cfg) {
                Permit::Go => false,
                Permit::Probe => true,
                Permit::Refuse(wait) => {
                    let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
                    return Err(AdapterError::new(
                        ErrorKind::CircuitOpen,
                        provider,
                        format!(
                            "circuit open: {provider} failed repeatedly for this credential; calls are paused, retry after {}s",
                            secs.max(1)
                        ),
                    )
                    .with_retry_after(Some(wait.max(Duration::from_secs(1)))));
                }
            };
            let mut probe = ProbeClaim {
                guard: &self.guard,
                armed: probing,
            };
            let waiting = Instant::now();
            let budget = self
                .guard
                .budget
                .acquire(cost, priority, self.cfg.interactive_max_wait)
                .await;
            metrics::histogram!("rate_budget_wait_seconds", "provider" => provider.as_str(), "priority" => priority.as_str())
                .record(waiting.elapsed().as_secs_f64());
            if let Err(wait) = budget {
                drop(probe);
                return Err(AdapterError::new(
                    ErrorKind::RateLimited,
                    provider,
                    format!(
                        "the gateway's rate budget for this credential ({}/s) is used up; retry shortly",
                        self.cfg.rate_per_second
                    ),
                )
                .with_retry_after(Some(wait)));
            }
            let outcome = match self.cfg.attempt_timeout {
                Some(limit) => match tokio::time::timeout(limit, attempt_fn()).await {
                    Ok(r) => r,
                    Err(_) => Err(AdapterError::new(
                        ErrorKind::Timeout,
                        provider,
                        format!("no answer within {limit:?}"),
                    )),
                },
                None => attempt_fn().await,
            };
            match outcome {
                Ok(v) => {
                    probe.settle();
                    self.guard.record(&self.cfg, false, provider);
                    return Ok(v);
                }
                Err(e) => {
                    if breaker_failure(&e) {
                        probe.settle();
                        self.guard.record(&self.cfg, true, provider);
                    } else if e.kind == ErrorKind::RateLimited {
                        // A 429 says nothing about the provider being down.
                        drop(probe);
                    } else {
                        // The provider answered (4xx, unreadable 2xx…): it is up.
                        probe.settle();
                        self.guard.record(&self.cfg, false, provider);
                    }
                    if attempt >= self.cfg.max_retries || !may_retry(&e, safety) {
                        return Err(e);
                    }
                    let wait = backoff(&self.cfg, attempt).max(e.retry_after.unwrap_or_default());
                    if e.retry_after.is_some_and(|w| w > self.cfg.max_retry_after) {
                        return Err(e);
                    }
                    tracing::debug!(%provider, kind = %e.kind, attempt = attempt + 1, wait_ms = wait.as_millis() as u64, "retrying provider call");
                    tokio::time::sleep(wait).await;
                    attempt += 1;
                }
            }
        }
    }
}

#[async_trait]
impl CrmAdapter for ResilientAdapter {
    fn provider(&self) -> ProviderKind {
        self.inner.provider()
    }

    fn declaration(&self) -> &ProviderDeclaration {
        self.inner.declaration()
    }

    fn check_write(&self, op: Operation, input: &ContactInput) -> Vec<FieldError> {
        self.inner.check_write(op, input)
    }

    fn plan_write(
        &self,
        op: Operation,
        remote_id: Option<&RemoteId>,
        input: &ContactInput,
    ) -> Vec<PlannedCall> {
        self.inner.plan_write(op, remote_id, input)
    }

    async fn health_check(&self) -> Result<(), AdapterError> {
        let call = self.call(Safety::Read, 1, || single(self.inner.health_check()));
        self.observed("health_check", call).await
    }

    async fn create_contact(&self, input: &ContactInput) -> Result<WriteOutcome, AdapterError> {
        // A multi-step write (Karia) spends one token per provider call it will make.
        let cost =
            u32::try_from(self.inner.plan_write(Operation::Create, None, input).len()).unwrap_or(1);
        let call = self.call(Safety::Write, cost, || {
            single(self.inner.create_contact(input))
        });
        self.observed("create", call).await
    }

    async fn get_contact(&self, id: &RemoteId) -> Result<RemoteContact, AdapterError> {
        let call = self.call(Safety::Read, 1, || single(self.inner.get_contact(id)));
        self.observed("get", call).await
    }

    async fn list_contacts(&self, req: ListRequest) -> Result<ListPage, AdapterError> {
        let asked = req.page_size as usize;
        let limit = gateway_transport::answer_limit::for_page(req.page_size);
        let call = self.call(Safety::Read, 1, || {
            with_answer_limit(limit, self.inner.list_contacts(req.clone()))
        });
        let page = self.observed("list", call).await?;
        // A page larger than asked would make every caller's work (answer size, index
        // transaction) unbounded; with a token cursor it cannot be trimmed without losing the
        // rest, so it is refused as an unreadable answer.
        if page.contacts.len() > asked {
            return Err(AdapterError::mapping(
                self.inner.declaration().provider,
                format!(
                    "the provider answered {} contacts for a page of {asked}",
                    page.contacts.len()
                ),
            ));
        }
        Ok(page)
    }

    async fn update_contact(
        &self,
        id: &RemoteId,
        input: &ContactInput,
    ) -> Result<WriteOutcome, AdapterError> {
        let cost = u32::try_from(
            self.inner
                .plan_write(Operation::Update, Some(id), input)
                .len(),
        )
        .unwrap_or(1);
        let call = self.call(Safety::Write, cost, || {
            single(self.inner.update_contact(id, input))
        });
        self.observed("update", call).await
    }

    async fn delete_contact(&self, id: &RemoteId) -> Result<(), AdapterError> {
        let call = self.call(Safety::Write, 1, || single(self.inner.delete_contact(id)));
        self.observed("delete", call).await
    }
}

/// A call about one record reads at most `SINGLE_RECORD_BYTES` of each answer.
fn single<F: std::future::Future>(fut: F) -> impl std::future::Future<Output = F::Output> {
    with_answer_limit(gateway_transport::answer_limit::SINGLE_RECORD_BYTES, fut)
}

#[cfg(test)]
mod tests;
