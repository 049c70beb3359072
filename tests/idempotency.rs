//! End to end: `Idempotency-Key` on writes. A retried create is replayed (one remote contact),
//! a reused key with another body is 422, a concurrent duplicate is 409, a Karia create with a
//! failed step is replayed without a second remote contact, keys are per tenant, and keys expire.
//! Each scenario runs on SQLite and (when configured) PostgreSQL.
#![allow(clippy::unwrap_used)]

use std::time::{Duration, Instant};

use gateway_testkit::{Answer, TestApp, TestDb};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

async fn post(app: &TestApp, key: &str, path: &str, idem: Option<&str>, body: &Value) -> Answer {
    let mut req = app
        .http
        .post(format!("{}{path}", app.api))
        .bearer_auth(key)
        .json(body);
    if let Some(k) = idem {
        req = req.header("Idempotency-Key", k);
    }
    let resp = req.send().await.unwrap();
    let status = resp.status();
    let headers = resp.headers().clone();
    let text = resp.text().await.unwrap();
    Answer {
        status,
        headers,
        body: serde_json::from_str(&text).unwrap_or(Value::Null),
        text,
    }
}

async fn creates(app: &TestApp, provider: &str, route: &str) -> u64 {
    let stats = app.sim(Method::GET, provider, "/stats", None).await;
    stats.body["requests"][route].as_u64().unwrap_or(0)
}

const BIRD_CREATE: &str = "POST /workspaces/{workspaceId}/contacts";

async fn replay_and_reuse(app: TestApp) {
    let t = app.tenant("acme").await;
    let cred = app.credential(&t, "bird").await;
    let path = format!("/crm/contacts?credentialId={cred}");
    let body = json!({"firstName": "Jane", "lastName": "Citizen"});

    let first = post(&app, &t.key, &path, Some("create-jane-1"), &body).await;
    assert_eq!(first.status, StatusCode::OK, "{}", first.text);
    assert!(first.headers.get("idempotent-replayed").is_none());
    let again = post(&app, &t.key, &path, Some("create-jane-1"), &body).await;
    assert_eq!(again.status, StatusCode::OK, "{}", again.text);
    assert_eq!(again.text, first.text, "the replay is the identical body");
    assert_eq!(again.headers["idempotent-replayed"], "true");
    assert_eq!(again.headers["content-type"], "application/json");
    assert_eq!(creates(&app, "bird", BIRD_CREATE).await, 1);

    // Same key, another body: refused, nothing sent.
    let other = post(
        &app,
        &t.key,
        &path,
        Some("create-jane-1"),
        &json!({"firstName": "Janet", "lastName": "Citizen"}),
    )
    .await;
    assert_eq!(
        other.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        other.text
    );
    assert_eq!(other.body["code"], "idempotency_key_reused");
    assert_eq!(other.body["retryable"], false);
    assert_eq!(creates(&app, "bird", BIRD_CREATE).await, 1);

    // A 4xx is stored too; no key means no memory.
    let invalid = json!({"firstName": "NoLast"});
    let bad = post(&app, &t.key, &path, Some("bad-1"), &invalid).await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", bad.text);
    let bad2 = post(&app, &t.key, &path, Some("bad-1"), &invalid).await;
    assert_eq!(bad2.headers["idempotent-replayed"], "true");
    assert_eq!(bad2.text, bad.text);
    let plain = post(&app, &t.key, &path, None, &body).await;
    assert_eq!(plain.status, StatusCode::OK);
    assert_eq!(creates(&app, "bird", BIRD_CREATE).await, 2);

    // Malformed keys are a 400 naming the header.
    for k in ["", "has space", &"k".repeat(256)] {
        let a = post(&app, &t.key, &path, Some(k), &body).await;
        assert_eq!(a.status, StatusCode::BAD_REQUEST, "{k:?}: {}", a.text);
        assert!(a.text.contains("Idempotency-Key"), "{}", a.text);
    }

    // A provider 503 releases the key. The create may have landed, so the retry with the same
    // key first waits (409) for a reconciliation to find out, then runs and succeeds once
    // (tests/unknown_outcome.rs covers the cases where it had landed).
    app.sim(
        Method::POST,
        "bird",
        "/faults",
        Some(json!({"status": 503, "count": 1})),
    )
    .await;
    let failed = post(&app, &t.key, &path, Some("flaky-1"), &body).await;
    assert_eq!(failed.status, StatusCode::BAD_GATEWAY, "{}", failed.text);
    let mut retried = post(&app, &t.key, &path, Some("flaky-1"), &body).await;
    for _ in 0..100 {
        if retried.status != StatusCode::CONFLICT {
            break;
        }
        assert_eq!(retried.body["code"], "idempotency_in_progress");
        tokio::time::sleep(Duration::from_millis(100)).await;
        retried = post(&app, &t.key, &path, Some("flaky-1"), &body).await;
    }
    assert_eq!(retried.status, StatusCode::OK, "{}", retried.text);
    assert!(retried.headers.get("idempotent-replayed").is_none());

    // DELETE with a key: the replay answers the same 204 without calling the provider again.
    let id = first.body["contact"]["id"].as_str().unwrap();
    let del = |k: &'static str| {
        app.http
            .delete(format!("{}/crm/contacts/{id}?credentialId={cred}", app.api))
            .bearer_auth(&t.key)
            .header("Idempotency-Key", k)
            .send()
    };
    let d1 = del("del-1").await.unwrap();
    assert_eq!(d1.status(), StatusCode::NO_CONTENT);
    let d2 = del("del-1").await.unwrap();
    assert_eq!(d2.status(), StatusCode::NO_CONTENT);
    assert_eq!(d2.headers()["idempotent-replayed"], "true");
    app.stop().await;
}

async fn concurrent_duplicates(app: TestApp) {
    let t = app.tenant("acme").await;
    let cred = app.credential(&t, "bird").await;
    let path = format!("/crm/contacts?credentialId={cred}");
    let body = json!({"firstName": "Slow", "lastName": "Poke"});
    app.sim(
        Method::POST,
        "bird",
        "/faults",
        Some(json!({"latencyMs": 3000, "count": 1, "routes": [BIRD_CREATE]})),
    )
    .await;
    // The second request is sent once the first has reached the provider (the simulator
    // counts a call before its latency), so the key is in progress whatever the load.
    let (a, b) = tokio::join!(post(&app, &t.key, &path, Some("same-time"), &body), async {
        let deadline = Instant::now() + Duration::from_secs(60);
        while creates(&app, "bird", BIRD_CREATE).await < 1 {
            assert!(
                Instant::now() < deadline,
                "the first create never reached Bird"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        post(&app, &t.key, &path, Some("same-time"), &body).await
    });
    assert_eq!(a.status, StatusCode::OK, "{}", a.text);
    assert_eq!(b.status, StatusCode::CONFLICT, "{}", b.text);
    assert_eq!(b.body["code"], "idempotency_in_progress");
    assert_eq!(b.body["retryable"], true);
    assert_eq!(b.headers["retry-after"], "1");
    assert_eq!(creates(&app, "bird", BIRD_CREATE).await, 1);
    let stats = app.sim(Method::GET, "bird", "/stats", None).await;
    assert_eq!(stats.body["contacts"], 1);
    // Once the first finished, the same key replays its answer.
    let c = post(&app, &t.key, &path, Some("same-time"), &body).await;
    assert_eq!(c.text, a.text);
    app.stop().await;
}

async fn karia_partial_create_is_replayed(app: TestApp) {
    let t = app.tenant("acme").await;
    let cred = app.credential(&t, "karia").await;
    let path = format!("/crm/contacts?credentialId={cred}");
    let body = json!({
        "firstName": "Mele", "lastName": "Tūpou",
        "addresses": [{"addressType": "current", "street1": "10 Example Street", "city": "Sydney", "state": "NSW", "postalCode": "2000", "country": "Australia"}]
    });
    app.sim(Method::POST, "karia", "/faults", Some(json!({"status": 503, "routes": ["POST /organisation/{o}/workspace/{w}/contact/{c}/address"]})))
        .await;
    let first = post(&app, &t.key, &path, Some("karia-1"), &body).await;
    assert_eq!(first.status, StatusCode::OK, "{}", first.text);
    assert_eq!(first.body["complete"], false);
    let again = post(&app, &t.key, &path, Some("karia-1"), &body).await;
    assert_eq!(again.status, StatusCode::OK);
    assert_eq!(again.text, first.text);
    assert_eq!(again.headers["idempotent-replayed"], "true");
    let stats = app.sim(Method::GET, "karia", "/stats", None).await;
    assert_eq!(stats.body["contacts"], 1, "no second remote contact");
    assert_eq!(
        stats.body["requests"]["POST /organisation/{orgId}/workspace/{workspaceId}/contact"],
        1
    );
    app.stop().await;
}

async fn keys_are_per_tenant(app: TestApp) {
    let t1 = app.tenant("one").await;
    let t2 = app.tenant("two").await;
    let c1 = app.credential(&t1, "bird").await;
    let c2 = app.credential(&t2, "bird").await;
    let body = json!({"lastName": "Shared"});
    let a = post(
        &app,
        &t1.key,
        &format!("/crm/contacts?credentialId={c1}"),
        Some("k"),
        &body,
    )
    .await;
    let b = post(
        &app,
        &t2.key,
        &format!("/crm/contacts?credentialId={c2}"),
        Some("k"),
        &body,
    )
    .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.text);
    assert_eq!(b.status, StatusCode::OK, "{}", b.text);
    assert!(b.headers.get("idempotent-replayed").is_none());
    assert_ne!(a.body["contact"]["id"], b.body["contact"]["id"]);
    assert_eq!(creates(&app, "bird", BIRD_CREATE).await, 2);
    app.stop().await;
}

async fn keys_expire(db: TestDb) {
    // A window a replay sent right after the first answer hits on any machine; expiry is then
    // awaited as a state (see below), never timed.
    const WINDOW: Duration = Duration::from_secs(4);
    let app = TestApp::spawn_with(db, |s| {
        s.api.idempotency.window = WINDOW;
    })
    .await;
    let t = app.tenant("acme").await;
    let cred = app.credential(&t, "bird").await;
    let path = format!("/crm/contacts?credentialId={cred}");
    let body = json!({"lastName": "Brief"});
    let sent = Instant::now();
    let a = post(&app, &t.key, &path, Some("short"), &body).await;
    assert_eq!(a.status, StatusCode::OK);
    let b = post(&app, &t.key, &path, Some("short"), &body).await;
    assert_eq!(b.headers["idempotent-replayed"], "true");
    tokio::time::sleep(WINDOW.saturating_sub(sent.elapsed())).await;
    // Expired: the key is free again, even for another body. Until the window has passed on
    // the server's clock the other body is refused as a reuse (and makes nothing), so the
    // expiry is awaited, not assumed.
    let deadline = Instant::now() + Duration::from_secs(60);
    let c = loop {
        let c = post(
            &app,
            &t.key,
            &path,
            Some("short"),
            &json!({"lastName": "Other"}),
        )
        .await;
        if c.status == StatusCode::OK {
            break c;
        }
        assert_eq!(c.body["code"], "idempotency_key_reused", "{}", c.text);
        assert!(Instant::now() < deadline, "the key never expired");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(c.headers.get("idempotent-replayed").is_none());
    assert_eq!(creates(&app, "bird", BIRD_CREATE).await, 2);
    app.stop().await;
}

macro_rules! both {
    ($($name:ident: $body:expr;)*) => {
        mod on_sqlite {
            use super::*;
            $(#[tokio::test] async fn $name() { let run = $body; run(TestDb::sqlite()).await; })*
        }
        mod on_postgres {
            use super::*;
            $(#[tokio::test] async fn $name() {
                let Some(db) = TestDb::postgres().await else { return };
                let run = $body;
                run(db).await;
            })*
        }
    };
}

both! {
    replay_and_key_reuse: |db| async { replay_and_reuse(TestApp::spawn_on(db).await).await };
    concurrent_duplicate_is_409: |db| async { concurrent_duplicates(TestApp::spawn_on(db).await).await };
    karia_partial_create_replayed: |db| async { karia_partial_create_is_replayed(TestApp::spawn_on(db).await).await };
    tenants_do_not_share_keys: |db| async { keys_are_per_tenant(TestApp::spawn_on(db).await).await };
    expired_keys_are_forgotten: keys_expire;
}

#[tokio::test]
async fn openapi_documents_the_header_on_the_write_routes() {
    let app = TestApp::spawn().await;
    let doc = app.call(Method::GET, "/openapi.json", None, None).await;
    assert_eq!(doc.status, StatusCode::OK);
    let has_header = |path: &str, method: &str| {
        doc.body["paths"][path][method]["parameters"]
            .as_array()
            .is_some_and(|ps| {
                ps.iter()
                    .any(|p| p["name"] == "Idempotency-Key" && p["in"] == "header")
            })
    };
    for (path, method) in [
        ("/crm/contacts", "post"),
        ("/crm/contacts/{id}", "patch"),
        ("/crm/contacts/{id}", "delete"),
        ("/credentials", "post"),
        ("/credentials/{id}", "patch"),
        ("/credentials/{id}", "delete"),
    ] {
        assert!(has_header(path, method), "{method} {path}");
    }
    assert!(!has_header("/crm/contacts", "get"));
    app.stop().await;
}
