//! End to end: inbound protection. The per-tenant rate limit (RateLimit-* headers, 429 +
//! Retry-After, tenants isolated, admin and public routes untouched) and the bounded
//! concurrency per credential (a slow Bird credential saturated with calls never delays an
//! iClosed credential; the call over the bound answers 503 `credential_busy`).
#![allow(clippy::unwrap_used)]

use std::time::{Duration, Instant};

use gateway_testkit::{TestApp, TestDb, ADMIN_TOKEN};
use reqwest::{Method, StatusCode};
use serde_json::json;

fn header(a: &gateway_testkit::Answer, name: &str) -> Option<u64> {
    a.headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
}

#[tokio::test]
async fn tenant_rate_limit_with_headers_and_isolation() {
    // One token every 10 s: nothing refills during the test, so counts are exact.
    let app = TestApp::spawn_with(TestDb::sqlite(), |s| {
        s.api.rate_limit.per_second = 0.1;
        s.api.rate_limit.burst = 3;
    })
    .await;
    let acme = app.tenant("acme").await;
    let other = app.tenant("other").await;

    let mut remaining = vec![];
    for _ in 0..3 {
        let a = app
            .call(Method::GET, "/credentials", Some(&acme.key), None)
            .await;
        assert_eq!(a.status, StatusCode::OK, "{}", a.text);
        assert_eq!(header(&a, "ratelimit-limit"), Some(3));
        let reset = header(&a, "ratelimit-reset").unwrap();
        assert!((1..=30).contains(&reset), "reset {reset}");
        remaining.push(header(&a, "ratelimit-remaining").unwrap());
    }
    assert_eq!(remaining, [2, 1, 0]);

    // The fourth in the burst is refused, whatever the route.
    let refused = app
        .call(
            Method::POST,
            "/crm/contacts?credentialId=cred_x",
            Some(&acme.key),
            Some(json!({"lastName": "Citizen"})),
        )
        .await;
    assert_eq!(refused.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(
        refused.headers["content-type"], "application/problem+json",
        "{:?}",
        refused.headers
    );
    assert_eq!(refused.body["code"], "rate_limited");
    assert_eq!(refused.body["source"], "gateway");
    assert_eq!(refused.body["retryable"], true);
    assert_eq!(refused.body["status"], 429);
    let retry_after = header(&refused, "retry-after").unwrap();
    assert!((1..=10).contains(&retry_after), "retry-after {retry_after}");
    assert_eq!(header(&refused, "ratelimit-remaining"), Some(0));
    assert!(refused.headers.contains_key("x-request-id"));

    // Another tenant has its own bucket.
    let b = app
        .call(Method::GET, "/credentials", Some(&other.key), None)
        .await;
    assert_eq!(b.status, StatusCode::OK, "{}", b.text);
    assert_eq!(header(&b, "ratelimit-remaining"), Some(2));

    // Admin, public and unauthenticated requests are not tenant-limited (nor counted).
    let admin = app
        .call(
            Method::POST,
            "/admin/tenants",
            Some(ADMIN_TOKEN),
            Some(json!({"name": "third"})),
        )
        .await;
    assert_eq!(admin.status, StatusCode::CREATED, "{}", admin.text);
    assert!(!admin.headers.contains_key("ratelimit-limit"));
    let health = app
        .call(Method::GET, "/healthz", Some(&acme.key), None)
        .await;
    assert_eq!(health.status, StatusCode::OK);
    assert!(!health.headers.contains_key("ratelimit-limit"));
    let anonymous = app.call(Method::GET, "/credentials", None, None).await;
    assert_eq!(anonymous.status, StatusCode::UNAUTHORIZED);
    assert!(!anonymous.headers.contains_key("ratelimit-limit"));
    let wrong = app
        .call(Method::GET, "/credentials", Some("not-a-key"), None)
        .await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);

    // Still refused: nothing above refilled acme's bucket.
    let again = app
        .call(Method::GET, "/providers", Some(&acme.key), None)
        .await;
    assert_eq!(again.status, StatusCode::TOO_MANY_REQUESTS);
    app.stop().await;
}

#[tokio::test]
async fn rate_limit_zero_disables_it() {
    let app = TestApp::spawn_with(TestDb::sqlite(), |s| {
        s.api.rate_limit.per_second = 0.0;
        s.api.rate_limit.burst = 1;
    })
    .await;
    let t = app.tenant("acme").await;
    for _ in 0..3 {
        let a = app
            .call(Method::GET, "/credentials", Some(&t.key), None)
            .await;
        assert_eq!(a.status, StatusCode::OK, "{}", a.text);
        assert!(!a.headers.contains_key("ratelimit-limit"));
    }
    app.stop().await;
}

async fn bird_calls(app: &TestApp) -> u64 {
    let stats = app.sim(Method::GET, "bird", "/stats", None).await;
    stats.body["requests"]
        .as_object()
        .map(|m| m.values().filter_map(serde_json::Value::as_u64).sum())
        .unwrap_or(0)
}

#[tokio::test]
async fn slow_credential_never_delays_another_and_is_bounded() {
    const SLOW_MS: u64 = 3000;
    const WAIT: Duration = Duration::from_millis(500);
    let app = TestApp::spawn_with(TestDb::sqlite(), |s| {
        s.api.max_concurrent_per_credential = 2;
        s.api.concurrency_wait = WAIT;
    })
    .await;
    let t = app.tenant("acme").await;
    let slow = app.credential(&t, "bird").await;
    let fast = app.credential(&t, "iclosed").await;

    // Every Bird call now takes SLOW_MS (only the slow credential talks to Bird).
    let before = bird_calls(&app).await;
    let fault = app
        .sim(
            Method::POST,
            "bird",
            "/faults",
            Some(json!({"latencyMs": SLOW_MS})),
        )
        .await;
    assert!(fault.status.is_success(), "{}", fault.text);

    // Saturate the slow credential: both permits held by calls stuck at the provider.
    let started = Instant::now();
    let mut slow_calls = vec![];
    for _ in 0..2 {
        let (api, key, cred) = (app.api.clone(), t.key.clone(), slow.clone());
        let http = app.http.clone();
        slow_calls.push(tokio::spawn(async move {
            let resp = http
                .get(format!("{api}/crm/contacts?credentialId={cred}"))
                .bearer_auth(key)
                .send()
                .await
                .unwrap();
            (resp.status(), Instant::now())
        }));
    }
    // Both have reached the provider (the simulator counts a call before its latency), so
    // both hold their permits.
    while bird_calls(&app).await < before + 2 {
        assert!(
            started.elapsed() < Duration::from_secs(SLOW_MS / 1000),
            "slow calls never reached Bird"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    // The other credential answers at once, repeatedly, while the slow ones are stuck.
    let fast_path = format!("/crm/contacts?credentialId={fast}");
    for _ in 0..3 {
        let a = app.call(Method::GET, &fast_path, Some(&t.key), None).await;
        assert_eq!(a.status, StatusCode::OK, "{}", a.text);
    }
    let fast_done = Instant::now();

    // A third call on the slow credential waits the bound, then gets 503 credential_busy.
    let asked = Instant::now();
    let busy = app
        .call(
            Method::GET,
            &format!("/crm/contacts?credentialId={slow}"),
            Some(&t.key),
            None,
        )
        .await;
    let waited = asked.elapsed();
    assert_eq!(
        busy.status,
        StatusCode::SERVICE_UNAVAILABLE,
        "{}",
        busy.text
    );
    assert_eq!(busy.body["code"], "credential_busy");
    assert_eq!(busy.body["source"], "gateway");
    assert_eq!(busy.body["retryable"], true);
    assert_eq!(busy.headers["content-type"], "application/problem+json");
    assert_eq!(header(&busy, "retry-after"), Some(1));
    assert!(busy.headers.contains_key("ratelimit-remaining"));
    assert!(
        waited >= WAIT,
        "answered after {waited:?}, before the bound"
    );
    let busy_done = Instant::now();
    assert_eq!(
        bird_calls(&app).await,
        before + 2,
        "the refused call never reached Bird"
    );

    // The slow calls succeed, after the fast ones and the refusal.
    for call in slow_calls {
        let (status, done) = call.await.unwrap();
        assert_eq!(status, StatusCode::OK);
        assert!(done.duration_since(started) >= Duration::from_millis(SLOW_MS));
        assert!(done > fast_done && done > busy_done);
    }

    // With the permits back, the slow credential is served again (slowly).
    let cleared = app.sim(Method::DELETE, "bird", "/faults", None).await;
    assert!(cleared.status.is_success(), "{}", cleared.text);
    let again = app
        .call(
            Method::GET,
            &format!("/crm/contacts?credentialId={slow}"),
            Some(&t.key),
            None,
        )
        .await;
    assert_eq!(again.status, StatusCode::OK, "{}", again.text);
    app.stop().await;
}

#[tokio::test]
async fn openapi_documents_the_inbound_limits() {
    let app = TestApp::spawn().await;
    let doc = app.call(Method::GET, "/openapi.json", None, None).await;
    assert_eq!(doc.status, StatusCode::OK);
    let paths = &doc.body["paths"];
    for (path, method) in [
        ("/crm/contacts", "get"),
        ("/crm/contacts", "post"),
        ("/crm/contacts/{id}", "delete"),
        ("/credentials", "get"),
    ] {
        let described = paths[path][method]["responses"]["429"]["description"]
            .as_str()
            .unwrap_or_default();
        assert!(
            described.contains("rate_limited"),
            "{method} {path}: {described}"
        );
    }
    let busy = paths["/crm/contacts"]["get"]["responses"]["503"]["description"]
        .as_str()
        .unwrap_or_default();
    assert!(busy.contains("credential_busy"), "{busy}");
    // The admin API has no tenant rate limit, only the throttle of refused authentications.
    let admin = paths["/admin/tenants"]["post"]["responses"]["429"]["description"]
        .as_str()
        .unwrap_or_default();
    assert!(admin.contains("refused authentications"), "{admin}");
    app.stop().await;
}

#[tokio::test]
async fn refused_authentications_are_throttled_per_client_address() {
    // Four refusals allowed, and nothing refills during the test.
    let app = TestApp::spawn_with(TestDb::sqlite(), |s| {
        s.api.rate_limit.unauthenticated_per_second = 0.01;
        s.api.rate_limit.unauthenticated_burst = 4;
    })
    .await;
    let t = app.tenant("acme").await;
    let wrong = [
        None,
        Some("not-a-key"),
        // the shape of a key, so this one costs a lookup: exactly what guessing would do
        Some("cgw_0123456789abcdef0123456789abcdef_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"),
    ];
    for key in wrong {
        let a = app.call(Method::GET, "/credentials", key, None).await;
        assert_eq!(a.status, StatusCode::UNAUTHORIZED, "{}", a.text);
    }
    // A valid key from the same address still authenticates (it spends nothing)…
    let ok = app
        .call(Method::GET, "/credentials", Some(&t.key), None)
        .await;
    assert_eq!(ok.status, StatusCode::OK, "{}", ok.text);
    // …but the next refusal finds the bucket empty: 429 before any key lookup, on tenant
    // routes and on the admin API alike; the open routes are never throttled.
    let mut empty = 0;
    for (path, key) in [
        ("/credentials", Some("wrong")),
        ("/credentials", Some(t.key.as_str())),
        ("/admin/tenants", Some("wrong-admin-token")),
    ] {
        let a = app.call(Method::GET, path, key, None).await;
        if a.status == StatusCode::TOO_MANY_REQUESTS {
            assert_eq!(a.body["code"], "rate_limited", "{}", a.text);
            assert!(
                a.body["detail"]
                    .as_str()
                    .unwrap()
                    .contains("client address"),
                "{}",
                a.text
            );
            assert!(header(&a, "retry-after").unwrap() >= 1);
            empty += 1;
        }
    }
    assert_eq!(
        empty, 2,
        "the first refusal spent the last token; the next two were refused"
    );
    let health = app.call(Method::GET, "/healthz", None, None).await;
    assert_eq!(health.status, StatusCode::OK);
    let doc = app.call(Method::GET, "/openapi.json", None, None).await;
    assert!(doc.body["paths"]["/admin/tenants"]["get"]["responses"]["429"].is_object());
    app.stop().await;
}
