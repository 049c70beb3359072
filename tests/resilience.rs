//! End to end: outbound resilience against the simulators. Reads are retried through a 503
//! burst; a create is not retried after a 503 or a timeout but is after a 429 (and after
//! iClosed's `retryAfter`); the circuit breaker opens after repeated 503s, answers 503 with
//! `Retry-After` without calling the provider, and closes after a successful probe.
#![allow(clippy::unwrap_used)]

use std::time::{Duration, Instant};

use gateway_testkit::{Answer, TestApp, TestDb};
use reqwest::{Method, StatusCode};
use serde_json::json;

const BIRD_CREATE: &str = "POST /workspaces/{workspaceId}/contacts";
const BIRD_GET: &str = "GET /workspaces/{workspaceId}/contacts/{contactId}";
const ICLOSED_CREATE: &str = "POST /v1/contacts";

async fn count(app: &TestApp, provider: &str, route: &str) -> u64 {
    let stats = app.sim(Method::GET, provider, "/stats", None).await;
    stats.body["requests"][route].as_u64().unwrap_or(0)
}

async fn fault(app: &TestApp, provider: &str, rule: serde_json::Value) {
    let a = app.sim(Method::POST, provider, "/faults", Some(rule)).await;
    assert!(a.status.is_success(), "{}", a.text);
}

#[tokio::test]
async fn reads_are_retried_and_writes_only_when_not_applied() {
    let app = TestApp::spawn().await;
    let t = app.tenant("acme").await;
    let key = Some(t.key.as_str());
    let cred = app.credential(&t, "bird").await;
    let path = format!("/crm/contacts?credentialId={cred}");

    let created = app
        .call(
            Method::POST,
            &path,
            key,
            Some(json!({"lastName": "Citizen"})),
        )
        .await;
    assert_eq!(created.status, StatusCode::OK, "{}", created.text);
    let id = created.body["contact"]["id"].as_str().unwrap().to_owned();
    let one = format!("/crm/contacts/{id}?credentialId={cred}");

    // A 503 burst on a read is retried away.
    fault(
        &app,
        "bird",
        json!({"status": 503, "count": 2, "routes": [BIRD_GET]}),
    )
    .await;
    let got = app.call(Method::GET, &one, key, None).await;
    assert_eq!(got.status, StatusCode::OK, "{}", got.text);
    assert_eq!(count(&app, "bird", BIRD_GET).await, 3);

    // A 503 on a create is not retried: the provider may have applied it.
    fault(
        &app,
        "bird",
        json!({"status": 503, "count": 1, "routes": [BIRD_CREATE]}),
    )
    .await;
    let failed = app
        .call(Method::POST, &path, key, Some(json!({"lastName": "Once"})))
        .await;
    assert_eq!(failed.status, StatusCode::BAD_GATEWAY, "{}", failed.text);
    assert_eq!(failed.body["retryable"], true);
    assert_eq!(
        count(&app, "bird", BIRD_CREATE).await,
        2,
        "one POST for the 503"
    );

    // A 429 on a create is retried (a refused call was not applied) and succeeds once.
    fault(
        &app,
        "bird",
        json!({"status": 429, "count": 1, "routes": [BIRD_CREATE]}),
    )
    .await;
    let limited = app
        .call(Method::POST, &path, key, Some(json!({"lastName": "Twice"})))
        .await;
    assert_eq!(limited.status, StatusCode::OK, "{}", limited.text);
    assert_eq!(count(&app, "bird", BIRD_CREATE).await, 4);
    let stats = app.sim(Method::GET, "bird", "/stats", None).await;
    assert_eq!(stats.body["contacts"], 2);
    app.stop().await;
}

#[tokio::test]
async fn iclosed_retry_after_is_honoured_on_a_create() {
    let app = TestApp::spawn().await;
    let t = app.tenant("acme").await;
    let cred = app.credential(&t, "iclosed").await;
    fault(
        &app,
        "iclosed",
        json!({"status": 429, "count": 1, "routes": [ICLOSED_CREATE]}),
    )
    .await;
    let started = Instant::now();
    let created = app
        .call(
            Method::POST,
            &format!("/crm/contacts?credentialId={cred}"),
            Some(&t.key),
            Some(json!({"lastName": "Patient"})),
        )
        .await;
    assert_eq!(created.status, StatusCode::OK, "{}", created.text);
    // The simulator's retryAfter is the rest of its one-second window, rounded up to ≥ 1 s.
    assert!(
        started.elapsed() >= Duration::from_millis(950),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(count(&app, "iclosed", ICLOSED_CREATE).await, 2);
    let stats = app.sim(Method::GET, "iclosed", "/stats", None).await;
    assert_eq!(stats.body["contacts"], 1);
    app.stop().await;
}

#[tokio::test]
async fn a_write_that_times_out_is_504_and_not_retried() {
    let app = TestApp::spawn_with(TestDb::sqlite(), |s| {
        s.transport.request_timeout = Duration::from_millis(700);
    })
    .await;
    let t = app.tenant("acme").await;
    let cred = app.credential(&t, "bird").await;
    fault(
        &app,
        "bird",
        json!({"latencyMs": 1500, "count": 1, "routes": [BIRD_CREATE]}),
    )
    .await;
    let a = app
        .call(
            Method::POST,
            &format!("/crm/contacts?credentialId={cred}"),
            Some(&t.key),
            Some(json!({"lastName": "Slow"})),
        )
        .await;
    assert_eq!(a.status, StatusCode::GATEWAY_TIMEOUT, "{}", a.text);
    tokio::time::sleep(Duration::from_millis(1000)).await;
    assert_eq!(count(&app, "bird", BIRD_CREATE).await, 1, "no second POST");
    app.stop().await;
}

#[tokio::test]
async fn the_breaker_opens_fails_fast_and_closes_after_a_probe() {
    let app = TestApp::spawn_with(TestDb::sqlite(), |s| {
        s.resilience.bird.max_retries = Some(0);
        s.resilience.bird.failure_threshold = Some(3);
        // Long enough that the call right after the third failure falls inside the window
        // on any machine; the probe is then awaited, not timed.
        s.resilience.bird.open_duration = Some(Duration::from_secs(8));
    })
    .await;
    let t = app.tenant("acme").await;
    let key = Some(t.key.as_str());
    let cred = app.credential(&t, "bird").await;
    let created = app
        .call(
            Method::POST,
            &format!("/crm/contacts?credentialId={cred}"),
            key,
            Some(json!({"lastName": "Citizen"})),
        )
        .await;
    let id = created.body["contact"]["id"].as_str().unwrap().to_owned();
    let one = format!("/crm/contacts/{id}?credentialId={cred}");

    fault(&app, "bird", json!({"status": 503, "routes": [BIRD_GET]})).await;
    for _ in 0..3 {
        let a = app.call(Method::GET, &one, key, None).await;
        assert_eq!(a.status, StatusCode::BAD_GATEWAY, "{}", a.text);
    }
    assert_eq!(count(&app, "bird", BIRD_GET).await, 3);

    // Failing fast is shown by the provider's count, not by a time bound.
    let open = app.call(Method::GET, &one, key, None).await;
    assert_eq!(
        open.status,
        StatusCode::SERVICE_UNAVAILABLE,
        "{}",
        open.text
    );
    assert_eq!(open.body["code"], "provider_circuit_open");
    assert_eq!(open.body["retryable"], true);
    assert!(open.headers.get("retry-after").is_some());
    assert_eq!(
        count(&app, "bird", BIRD_GET).await,
        3,
        "nothing reached the provider"
    );

    // The provider recovers; after the open duration a probe goes through and closes it.
    // Until the window ends every call is refused without reaching the provider; the first
    // one after it is the probe.
    app.sim(Method::DELETE, "bird", "/faults", None).await;
    let deadline = Instant::now() + Duration::from_secs(60);
    let probe = loop {
        let a = app.call(Method::GET, &one, key, None).await;
        if a.status != StatusCode::SERVICE_UNAVAILABLE {
            break a;
        }
        assert_eq!(a.body["code"], "provider_circuit_open", "{}", a.text);
        assert!(
            Instant::now() < deadline,
            "the breaker never let a probe through"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(probe.status, StatusCode::OK, "{}", probe.text);
    let after = app.call(Method::GET, &one, key, None).await;
    assert_eq!(after.status, StatusCode::OK, "{}", after.text);
    assert_eq!(count(&app, "bird", BIRD_GET).await, 5);
    app.stop().await;
}

#[tokio::test]
async fn a_used_up_budget_is_the_gateways_429_not_the_providers() {
    let app = TestApp::spawn_with(TestDb::sqlite(), |s| {
        s.resilience.bird.rate_per_second = Some(0.5);
        s.resilience.bird.burst = Some(1);
        s.resilience.bird.interactive_max_wait = Some(Duration::from_millis(50));
    })
    .await;
    let t = app.tenant("acme").await;
    let cred = app.credential(&t, "bird").await;
    let path = format!("/crm/contacts?credentialId={cred}&pageSize=10");
    // One token, refilled every 2 s: within a few quick calls the budget is empty.
    let list_calls = |stats: &Answer| {
        stats.body["requests"]["GET /workspaces/{workspaceId}/contacts"]
            .as_u64()
            .unwrap_or(0)
    };
    let mut refused = None;
    for _ in 0..3 {
        let before = list_calls(&app.sim(Method::GET, "bird", "/stats", None).await);
        let a = app.call(Method::GET, &path, Some(&t.key), None).await;
        if a.status == StatusCode::TOO_MANY_REQUESTS {
            let after = list_calls(&app.sim(Method::GET, "bird", "/stats", None).await);
            assert_eq!(after, before, "the refused call never reached the provider");
            refused = Some(a);
            break;
        }
    }
    let refused = refused.expect("the budget refused a call");
    assert_eq!(refused.body["code"], "provider_rate_limited");
    assert_eq!(refused.body["source"], "gateway", "{}", refused.text);
    assert!(refused.headers.get("retry-after").is_some());
    app.stop().await;
}
