//! End to end: creates whose outcome is unknown. The simulators' `applied` faults let a create
//! land and then lose its answer (a 500, a cut-off 200, a reply slower than the timeout); a
//! 503 fault refuses it without writing. A client that retries with its `Idempotency-Key` gets
//! 409 `idempotency_in_progress` while a reconciliation finds out, then exactly one answer:
//! the contact the first attempt made (warning `recovered`), or a fresh create when nothing was
//! made. Never a second remote contact. On every provider, SQLite and (when configured)
//! PostgreSQL.
#![allow(clippy::unwrap_used)]

use std::time::{Duration, Instant};

use gateway_testkit::{Answer, TestApp, TestDb};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

const BIRD_CREATE: &str = "POST /workspaces/{workspaceId}/contacts";
const KARIA_CREATE: &str = "POST /organisation/{orgId}/workspace/{workspaceId}/contact";
const ICLOSED_CREATE: &str = "POST /v1/contacts";

fn create_route(provider: &str) -> &'static str {
    match provider {
        "bird" => BIRD_CREATE,
        "karia" => KARIA_CREATE,
        _ => ICLOSED_CREATE,
    }
}

async fn post(app: &TestApp, key: &str, path: &str, idem: &str, body: &Value) -> Answer {
    let resp = app
        .http
        .post(format!("{}{path}", app.api))
        .bearer_auth(key)
        .header("Idempotency-Key", idem)
        .json(body)
        .send()
        .await
        .unwrap();
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

/// Retries like a well-behaved client: same key, same body, after Retry-After, until the
/// answer is final.
async fn settle(app: &TestApp, key: &str, path: &str, idem: &str, body: &Value) -> (Answer, u32) {
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut waits = 0;
    loop {
        let a = post(app, key, path, idem, body).await;
        if a.status != StatusCode::CONFLICT || Instant::now() > deadline {
            return (a, waits);
        }
        assert_eq!(a.body["code"], "idempotency_in_progress", "{}", a.text);
        assert_eq!(a.body["retryable"], true);
        assert!(a.headers.get("retry-after").is_some());
        waits += 1;
        tokio::time::sleep(Duration::from_millis(150)).await;
    }
}

async fn remote_contacts(app: &TestApp, provider: &str) -> u64 {
    let stats = app.sim(Method::GET, provider, "/stats", None).await;
    stats.body["contacts"].as_u64().unwrap()
}

async fn spawn(db: TestDb) -> TestApp {
    TestApp::spawn_with(db, |s| {
        s.reconcile.tick = Duration::from_millis(50);
        s.api.idempotency.settle_after = Duration::from_millis(0);
        s.transport.request_timeout = Duration::from_millis(800);
    })
    .await
}

/// Bird refuses a second contact with the same email or phone (409), so each is its own.
fn person(n: &str, i: u32) -> Value {
    json!({
        "firstName": "Ada", "lastName": format!("Lost {n}"),
        "emailAddresses": [{"emailAddress": format!("ada.{n}@example.com")}],
        "phoneNumbers": [{"phoneNumber": format!("+44 20 7946 09{i:02}")}]
    })
}

async fn lost_answers(db: TestDb, provider: &str) {
    let app = spawn(db).await;
    let t = app.tenant("acme").await;
    let cred = app.credential(&t, provider).await;
    let path = format!("/crm/contacts?credentialId={cred}");
    let route = create_route(provider);
    let before = remote_contacts(&app, provider).await;

    // Applied, then answered 500 / a cut-off 200 / too late: each is found, never re-made.
    let faults = [
        json!({"status": 500, "count": 1, "routes": [route], "applied": true}),
        json!({"malformed": true, "count": 1, "routes": [route], "applied": true}),
        json!({"latencyMs": 1500, "count": 1, "routes": [route], "applied": true}),
    ];
    for (i, fault) in faults.iter().enumerate() {
        let n = format!("{provider}-{i}");
        let body = person(&n, i as u32);
        let a = app
            .sim(Method::POST, provider, "/faults", Some(fault.clone()))
            .await;
        assert!(a.status.is_success(), "{}", a.text);
        let first = post(&app, &t.key, &path, &n, &body).await;
        assert!(first.status.is_server_error(), "{n}: {}", first.text);
        // A cut-off 200 is not worth retrying blindly (retryable: false), but with the key a
        // retry is how the client learns what was made.
        assert_eq!(
            first.body["retryable"],
            fault.get("malformed").is_none(),
            "{}",
            first.text
        );
        // The provider has it; the gateway does not know.
        assert_eq!(remote_contacts(&app, provider).await, before + i as u64 + 1);

        let (done, waits) = settle(&app, &t.key, &path, &n, &body).await;
        assert_eq!(done.status, StatusCode::OK, "{n}: {}", done.text);
        // The outcome settles within the retry's inline wait: it waits for the check in place
        // and answers, instead of a 409 and another round trip.
        assert_eq!(waits, 0, "the retry waited in place for the check");
        let warnings = done.body["warnings"].as_array().unwrap();
        assert!(
            warnings.iter().any(|w| w["code"] == "recovered"),
            "{n}: {}",
            done.text
        );
        assert_eq!(done.body["contact"]["lastName"], format!("Lost {n}"));
        // Still one remote contact for this key, and later retries replay the same answer.
        let count = remote_contacts(&app, provider).await;
        let again = post(&app, &t.key, &path, &n, &body).await;
        assert_eq!(again.text, done.text);
        assert_eq!(again.headers["idempotent-replayed"], "true");
        assert_eq!(remote_contacts(&app, provider).await, count);
    }
    let after_lost = remote_contacts(&app, provider).await;
    assert_eq!(after_lost, before + 3, "one remote contact per key");

    // Refused (503, nothing written): after the check, the retry creates it once.
    let n = format!("{provider}-refused");
    let body = person(&n, 50);
    app.sim(
        Method::POST,
        provider,
        "/faults",
        Some(json!({"status": 503, "count": 1, "routes": [route]})),
    )
    .await;
    let first = post(&app, &t.key, &path, &n, &body).await;
    assert!(first.status.is_server_error(), "{}", first.text);
    assert_eq!(remote_contacts(&app, provider).await, after_lost);
    let (done, _) = settle(&app, &t.key, &path, &n, &body).await;
    assert_eq!(done.status, StatusCode::OK, "{}", done.text);
    assert!(!done.text.contains("\"recovered\""), "{}", done.text);
    assert_eq!(remote_contacts(&app, provider).await, after_lost + 1);

    // The index agrees: every remote contact listed once through the gateway.
    let listed = app
        .call(
            Method::GET,
            &format!("{path}&pageSize=100"),
            Some(&t.key),
            None,
        )
        .await;
    assert_eq!(listed.status, StatusCode::OK, "{}", listed.text);
    let items = listed.body["contacts"].as_array().unwrap();
    assert_eq!(items.len() as u64, after_lost + 1, "{}", listed.text);
    let mut ids: Vec<&str> = items
        .iter()
        .map(|c| c["remoteId"].as_str().unwrap())
        .collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), items.len());
    app.stop().await;
}

#[tokio::test]
async fn bird_lost_answers_sqlite() {
    lost_answers(TestDb::sqlite(), "bird").await;
}

#[tokio::test]
async fn karia_lost_answers_sqlite() {
    lost_answers(TestDb::sqlite(), "karia").await;
}

#[tokio::test]
async fn iclosed_lost_answers_sqlite() {
    lost_answers(TestDb::sqlite(), "iclosed").await;
}

#[tokio::test]
async fn bird_lost_answers_postgres() {
    if let Some(db) = TestDb::postgres().await {
        lost_answers(db, "bird").await;
    }
}
