//! The retry rules, the budget and the breaker against a scripted inner adapter, on tokio's
//! paused clock (sleeps advance time instantly and deterministically).

use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};

use super::*;

/// Answers each call with the next scripted outcome (`Ok` once the script is empty).
struct Scripted {
    script: Mutex<VecDeque<Option<AdapterError>>>,
    calls: AtomicUsize,
}

fn fail(kind: ErrorKind) -> Option<AdapterError> {
    Some(AdapterError::new(kind, ProviderKind::Bird, "scripted"))
}

impl Scripted {
    fn new(script: Vec<Option<AdapterError>>) -> Arc<Self> {
        Arc::new(Scripted {
            script: Mutex::new(script.into()),
            calls: AtomicUsize::new(0),
        })
    }

    fn next(&self) -> Result<(), AdapterError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        match self.script.lock().expect("lock").pop_front().flatten() {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    fn calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }
}

#[async_trait]
impl CrmAdapter for Scripted {
    fn provider(&self) -> ProviderKind {
        ProviderKind::Bird
    }
    fn declaration(&self) -> &ProviderDeclaration {
        crate::declaration(ProviderKind::Bird).expect("bird")
    }
    fn plan_write(&self, _: Operation, _: Option<&RemoteId>, _: &ContactInput) -> Vec<PlannedCall> {
        Vec::new()
    }
    async fn health_check(&self) -> Result<(), AdapterError> {
        self.next()
    }
    async fn create_contact(&self, _: &ContactInput) -> Result<WriteOutcome, AdapterError> {
        self.next()
            .map(|()| WriteOutcome::complete(RemoteContact::default()))
    }
    async fn get_contact(&self, _: &RemoteId) -> Result<RemoteContact, AdapterError> {
        self.next().map(|()| RemoteContact::default())
    }
    async fn delete_contact(&self, _: &RemoteId) -> Result<(), AdapterError> {
        self.next()
    }
}

/// A provider whose listing answers `page_size + extra` contacts.
struct Pages {
    extra: usize,
}

#[async_trait]
impl CrmAdapter for Pages {
    fn provider(&self) -> ProviderKind {
        ProviderKind::Bird
    }
    fn declaration(&self) -> &ProviderDeclaration {
        crate::declaration(ProviderKind::Bird).expect("bird")
    }
    fn plan_write(&self, _: Operation, _: Option<&RemoteId>, _: &ContactInput) -> Vec<PlannedCall> {
        Vec::new()
    }
    async fn health_check(&self) -> Result<(), AdapterError> {
        Ok(())
    }
    async fn create_contact(&self, _: &ContactInput) -> Result<WriteOutcome, AdapterError> {
        Ok(WriteOutcome::complete(RemoteContact::default()))
    }
    async fn get_contact(&self, _: &RemoteId) -> Result<RemoteContact, AdapterError> {
        Ok(RemoteContact::default())
    }
    async fn delete_contact(&self, _: &RemoteId) -> Result<(), AdapterError> {
        Ok(())
    }
    async fn list_contacts(&self, req: ListRequest) -> Result<ListPage, AdapterError> {
        Ok(ListPage {
            contacts: vec![RemoteContact::default(); req.page_size as usize + self.extra],
            next: Some("more".into()),
        })
    }
}

#[tokio::test]
async fn a_page_larger_than_asked_is_refused_not_passed_on() {
    let page = |extra| {
        let cfg = cfg();
        let guard = Arc::new(CredentialGuard::new(&cfg, ProviderKind::Bird));
        ResilientAdapter::new(Arc::new(Pages { extra }), cfg, guard)
    };
    let ok = page(0)
        .list_contacts(ListRequest {
            page_size: 3,
            cursor: None,
        })
        .await
        .expect("as asked");
    assert_eq!(ok.contacts.len(), 3);
    let err = page(1)
        .list_contacts(ListRequest {
            page_size: 3,
            cursor: None,
        })
        .await
        .expect_err("one more than asked");
    assert_eq!(err.kind, ErrorKind::Mapping);
    assert!(
        err.message.contains("4 contacts for a page of 3"),
        "{}",
        err.message
    );
}

fn cfg() -> ResilienceConfig {
    ResilienceConfig {
        max_retries: 3,
        base_delay: Duration::from_millis(100),
        max_delay: Duration::from_secs(1),
        max_retry_after: Duration::from_secs(5),
        attempt_timeout: None,
        failure_threshold: 0,
        open_duration: Duration::from_secs(10),
        rate_per_second: 0.0,
        burst: 1,
        interactive_max_wait: Duration::from_secs(1),
    }
}

fn wrap(inner: &Arc<Scripted>, cfg: ResilienceConfig) -> ResilientAdapter {
    let guard = Arc::new(CredentialGuard::new(&cfg, ProviderKind::Bird));
    ResilientAdapter::new(inner.clone(), cfg, guard)
}

fn rid() -> RemoteId {
    RemoteId::from("1")
}

#[tokio::test(start_paused = true)]
async fn reads_retry_retryable_failures_and_give_up_after_max_retries() {
    for kind in [
        ErrorKind::Unavailable,
        ErrorKind::Timeout,
        ErrorKind::RateLimited,
    ] {
        let inner = Scripted::new(vec![fail(kind), fail(kind)]);
        let a = wrap(&inner, cfg());
        a.get_contact(&rid()).await.expect("third attempt succeeds");
        assert_eq!(inner.calls(), 3, "{kind}");
    }
    let inner = Scripted::new((0..10).map(|_| fail(ErrorKind::Unavailable)).collect());
    let a = wrap(&inner, cfg());
    let e = a
        .list_contacts(ListRequest {
            page_size: 1,
            cursor: None,
        })
        .await;
    // Scripted has no list: the trait default answers Unsupported, never retried.
    assert_eq!(e.expect_err("unsupported").kind, ErrorKind::Unsupported);
    let e = a.health_check().await.expect_err("exhausted");
    assert_eq!(e.kind, ErrorKind::Unavailable);
    assert_eq!(inner.calls(), 4, "one attempt and three retries");
}

#[tokio::test(start_paused = true)]
async fn reads_do_not_retry_what_a_retry_cannot_fix() {
    for kind in [
        ErrorKind::InvalidInput,
        ErrorKind::NotFound,
        ErrorKind::CredentialRejected,
        ErrorKind::Mapping,
    ] {
        let inner = Scripted::new(vec![fail(kind)]);
        let a = wrap(&inner, cfg());
        assert_eq!(a.get_contact(&rid()).await.expect_err("fails").kind, kind);
        assert_eq!(inner.calls(), 1, "{kind}");
    }
}

#[tokio::test(start_paused = true)]
async fn writes_retry_only_what_provably_was_not_applied() {
    for kind in [ErrorKind::Unavailable, ErrorKind::Timeout] {
        let inner = Scripted::new(vec![fail(kind)]);
        let a = wrap(&inner, cfg());
        let e = a
            .create_contact(&ContactInput::default())
            .await
            .expect_err("not retried");
        assert_eq!(e.kind, kind);
        assert_eq!(inner.calls(), 1, "a {kind} write may have been applied");
        let inner = Scripted::new(vec![fail(kind)]);
        let a = wrap(&inner, cfg());
        assert!(a.delete_contact(&rid()).await.is_err());
        assert_eq!(inner.calls(), 1);
    }
    let refused =
        AdapterError::new(ErrorKind::Unavailable, ProviderKind::Bird, "refused").with_not_applied();
    let inner = Scripted::new(vec![fail(ErrorKind::RateLimited), Some(refused)]);
    let a = wrap(&inner, cfg());
    a.create_contact(&ContactInput::default())
        .await
        .expect("429 and refused connection are retried");
    assert_eq!(inner.calls(), 3);
}

#[tokio::test(start_paused = true)]
async fn retry_after_is_the_least_wait_and_too_long_a_wait_goes_to_the_caller() {
    let limited = AdapterError::new(ErrorKind::RateLimited, ProviderKind::Iclosed, "429")
        .with_retry_after(Some(Duration::from_secs(3)));
    let inner = Scripted::new(vec![Some(limited)]);
    let a = wrap(&inner, cfg());
    let t = Instant::now();
    a.create_contact(&ContactInput::default())
        .await
        .expect("retried");
    assert!(t.elapsed() >= Duration::from_secs(3), "{:?}", t.elapsed());
    assert_eq!(inner.calls(), 2);

    let long = AdapterError::new(ErrorKind::RateLimited, ProviderKind::Iclosed, "429")
        .with_retry_after(Some(Duration::from_secs(60)));
    let inner = Scripted::new(vec![Some(long)]);
    let a = wrap(&inner, cfg());
    let t = Instant::now();
    let e = a.get_contact(&rid()).await.expect_err("not waited");
    assert_eq!(e.retry_after, Some(Duration::from_secs(60)));
    assert_eq!(t.elapsed(), Duration::ZERO);
    assert_eq!(inner.calls(), 1);
}

#[tokio::test(start_paused = true)]
async fn backoff_is_capped_full_jitter() {
    let c = cfg();
    for attempt in 0..10 {
        let cap = c
            .base_delay
            .saturating_mul(1 << attempt.min(20))
            .min(c.max_delay);
        for _ in 0..50 {
            assert!(backoff(&c, attempt) <= cap);
        }
    }
}

#[tokio::test(start_paused = true)]
async fn breaker_opens_fails_fast_probes_and_closes() {
    let c = ResilienceConfig {
        max_retries: 0,
        failure_threshold: 3,
        ..cfg()
    };
    let inner = Scripted::new((0..4).map(|_| fail(ErrorKind::Unavailable)).collect());
    let a = wrap(&inner, c);
    for _ in 0..3 {
        assert_eq!(
            a.get_contact(&rid()).await.expect_err("503").kind,
            ErrorKind::Unavailable
        );
    }
    assert_eq!(a.guard.breaker_state(), BreakerState::Open);
    let e = a.get_contact(&rid()).await.expect_err("open");
    assert_eq!(e.kind, ErrorKind::CircuitOpen);
    assert!(e.is_retryable());
    assert_eq!(e.retry_after, Some(Duration::from_secs(10)));
    assert!(e.message.contains("circuit open"), "{}", e.message);
    assert_eq!(inner.calls(), 3, "an open breaker calls nothing");

    // After the open duration one probe goes through; it fails: open again.
    tokio::time::advance(Duration::from_secs(10)).await;
    assert_eq!(
        a.get_contact(&rid()).await.expect_err("probe").kind,
        ErrorKind::Unavailable
    );
    assert_eq!(inner.calls(), 4);
    assert_eq!(a.guard.breaker_state(), BreakerState::Open);
    assert_eq!(
        a.get_contact(&rid()).await.expect_err("open").kind,
        ErrorKind::CircuitOpen
    );

    // The next probe succeeds: closed, calls flow again.
    tokio::time::advance(Duration::from_secs(10)).await;
    a.get_contact(&rid()).await.expect("probe succeeds");
    assert_eq!(a.guard.breaker_state(), BreakerState::Closed);
    a.get_contact(&rid()).await.expect("closed");
    assert_eq!(inner.calls(), 6);
}

/// Fails its first read, never answers its second, answers the rest: a provider that is down,
/// then a probe whose caller gives up, then a provider that is back.
struct FailHangRecover {
    calls: AtomicUsize,
}

#[async_trait]
impl CrmAdapter for FailHangRecover {
    fn provider(&self) -> ProviderKind {
        ProviderKind::Bird
    }
    fn declaration(&self) -> &ProviderDeclaration {
        crate::declaration(ProviderKind::Bird).expect("bird")
    }
    fn plan_write(&self, _: Operation, _: Option<&RemoteId>, _: &ContactInput) -> Vec<PlannedCall> {
        Vec::new()
    }
    async fn health_check(&self) -> Result<(), AdapterError> {
        Ok(())
    }
    async fn create_contact(&self, _: &ContactInput) -> Result<WriteOutcome, AdapterError> {
        Ok(WriteOutcome::complete(RemoteContact::default()))
    }
    async fn get_contact(&self, _: &RemoteId) -> Result<RemoteContact, AdapterError> {
        match self.calls.fetch_add(1, Ordering::SeqCst) {
            0 => Err(AdapterError::new(
                ErrorKind::Unavailable,
                ProviderKind::Bird,
                "down",
            )),
            1 => std::future::pending().await,
            _ => Ok(RemoteContact::default()),
        }
    }
    async fn delete_contact(&self, _: &RemoteId) -> Result<(), AdapterError> {
        Ok(())
    }
}

/// A probe dropped mid-call (the API's caller hung up) must not leave the breaker half-open:
/// that refused every later call of the credential with `CircuitOpen`, for good.
#[tokio::test(start_paused = true)]
async fn a_probe_whose_caller_gives_up_does_not_wedge_the_breaker() {
    let c = ResilienceConfig {
        max_retries: 0,
        failure_threshold: 1,
        ..cfg()
    };
    let inner = Arc::new(FailHangRecover {
        calls: AtomicUsize::new(0),
    });
    let guard = Arc::new(CredentialGuard::new(&c, ProviderKind::Bird));
    let a = ResilientAdapter::new(inner.clone(), c, guard);
    a.get_contact(&rid()).await.expect_err("down");
    assert_eq!(a.guard.breaker_state(), BreakerState::Open);

    tokio::time::advance(Duration::from_secs(10)).await;
    let gave_up = tokio::time::timeout(Duration::from_secs(1), a.get_contact(&rid())).await;
    assert!(gave_up.is_err(), "the probe hangs and its caller gives up");

    // The next call probes again instead of being refused; the provider is back: closed.
    a.get_contact(&rid())
        .await
        .expect("a new probe goes through");
    assert_eq!(a.guard.breaker_state(), BreakerState::Closed);
    assert_eq!(inner.calls.load(Ordering::SeqCst), 3);
}

#[tokio::test(start_paused = true)]
async fn provider_answers_and_429s_do_not_open_the_breaker() {
    let c = ResilienceConfig {
        max_retries: 0,
        failure_threshold: 2,
        ..cfg()
    };
    let inner = Scripted::new(vec![
        fail(ErrorKind::Unavailable),
        fail(ErrorKind::NotFound),
        fail(ErrorKind::Unavailable),
        fail(ErrorKind::RateLimited),
        fail(ErrorKind::RateLimited),
    ]);
    let a = wrap(&inner, c);
    for _ in 0..5 {
        let _ = a.get_contact(&rid()).await;
    }
    assert_eq!(a.guard.breaker_state(), BreakerState::Closed);
    assert_eq!(inner.calls(), 5);
}

#[tokio::test(start_paused = true)]
async fn the_budget_paces_interactive_calls_and_refuses_long_waits() {
    let c = ResilienceConfig {
        rate_per_second: 2.0,
        burst: 2,
        interactive_max_wait: Duration::from_millis(600),
        ..cfg()
    };
    let inner = Scripted::new(vec![]);
    let a = wrap(&inner, c);
    let t = Instant::now();
    a.get_contact(&rid()).await.expect("burst");
    a.get_contact(&rid()).await.expect("burst");
    assert_eq!(t.elapsed(), Duration::ZERO);
    a.get_contact(&rid()).await.expect("waits 0.5 s");
    assert_eq!(t.elapsed(), Duration::from_millis(500));
    // Two more at once: the first waits 0.5 s, the second would need 1 s > 0.6 s.
    let id = rid();
    let (x, y) = tokio::join!(a.get_contact(&id), a.get_contact(&id));
    assert!(x.is_ok());
    let e = y.expect_err("over the bound");
    assert_eq!(e.kind, ErrorKind::RateLimited);
    assert!(e.retry_after.is_some());
    assert!(e.message.contains("rate budget"), "{}", e.message);
    assert_eq!(inner.calls(), 4, "a refused call is not sent");
}

#[tokio::test(start_paused = true)]
async fn background_calls_wait_behind_interactive_ones() {
    let budget = Arc::new(RateBudget::new(1.0, 1));
    budget
        .acquire(1, Priority::Interactive, Duration::ZERO)
        .await
        .expect("burst");
    // A background call starts waiting first…
    let b = budget.clone();
    let background = tokio::spawn(async move {
        b.acquire(1, Priority::Background, Duration::ZERO)
            .await
            .expect("eventually");
        Instant::now()
    });
    tokio::task::yield_now().await;
    // …but an interactive call that arrives later still gets the next token.
    let t = Instant::now();
    budget
        .acquire(1, Priority::Interactive, Duration::from_secs(5))
        .await
        .expect("next token");
    let interactive_at = Instant::now();
    let background_at = background.await.expect("join");
    assert_eq!(interactive_at - t, Duration::from_secs(1));
    assert!(
        background_at > interactive_at,
        "background went after interactive"
    );
    assert_eq!(background_at - t, Duration::from_secs(2));
}

#[tokio::test(start_paused = true)]
async fn priority_is_taken_from_the_task() {
    assert_eq!(current_priority(), Priority::Interactive);
    with_priority(Priority::Background, async {
        assert_eq!(current_priority(), Priority::Background);
    })
    .await;
}

#[test]
fn settings_override_provider_defaults() {
    let s: ResilienceSettings = serde_json::from_value(serde_json::json!({
        "iclosed": {"max_retries": 1, "open_duration": "2s"}
    }))
    .expect("parse");
    let ic = s.resolve(ProviderKind::Iclosed);
    assert_eq!(ic.max_retries, 1);
    assert_eq!(ic.open_duration, Duration::from_secs(2));
    assert_eq!(ic.rate_per_second, 20.0);
    assert_eq!(s.resolve(ProviderKind::Bird).rate_per_second, 50.0);
    assert_eq!(s.resolve(ProviderKind::Karia).rate_per_second, 10.0);
    assert!(
        serde_json::from_value::<ResilienceSettings>(serde_json::json!({"hubspot": {}})).is_err()
    );
}
