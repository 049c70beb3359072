//! End to end: clients that hang up mid-request. Dozens of clients give up on reads and writes
//! after a few milliseconds, while SQLite writers queue for the write lock; afterwards the
//! gateway must still write (no connection left holding the lock inside an abandoned
//! transaction) and every contact whose create reached the provider is in the index.
#![allow(clippy::unwrap_used)]

use std::time::{Duration, Instant};

use gateway_testkit::{TestApp, TestDb};
use reqwest::{Method, StatusCode};
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_still_work_after_clients_hang_up() {
    let app = TestApp::spawn_on(TestDb::sqlite()).await;
    let t = app.tenant("acme").await;
    let cred = app.credential(&t, "bird").await;
    let base = format!("/crm/contacts?credentialId={cred}");
    let created = app
        .call(
            Method::POST,
            &base,
            Some(&t.key),
            Some(json!({"lastName": "Kept"})),
        )
        .await;
    assert_eq!(created.status, StatusCode::OK, "{}", created.text);
    let id = created.body["contact"]["id"].as_str().unwrap().to_owned();

    let until = Instant::now() + Duration::from_secs(3);
    // Requests the clients gave up on: the test is about hang-ups, so there must be some.
    let cut_off = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
    let mut clients = Vec::new();
    for c in 0..48u64 {
        let (api, key, base, id, cred, cut_off) = (
            app.api.clone(),
            t.key.clone(),
            base.clone(),
            id.clone(),
            cred.clone(),
            cut_off.clone(),
        );
        clients.push(tokio::spawn(async move {
            let mut n = 0u64;
            while Instant::now() < until {
                n += 1;
                // Give up after 1–20 ms: mid-request, often mid-transaction.
                let http = reqwest::Client::builder()
                    .timeout(Duration::from_millis(1 + (c * 7 + n) % 20))
                    .build()
                    .unwrap();
                let req = if c % 3 == 0 {
                    http.post(format!("{api}{base}")).json(
                        &json!({"lastName": format!("Hangup {c}-{n}"),
                                "emailAddresses": [{"emailAddress": format!("h{c}.{n}@example.com")}]}),
                    )
                } else {
                    http.get(format!("{api}/crm/contacts/{id}?credentialId={cred}"))
                };
                if let Err(e) = req.bearer_auth(&key).send().await {
                    if e.is_timeout() {
                        cut_off.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    }
                }
            }
        }));
    }
    for c in clients {
        c.await.unwrap();
    }
    let cut_off = cut_off.load(std::sync::atomic::Ordering::Relaxed);
    assert!(cut_off > 0, "no client hung up mid-request");
    eprintln!("{cut_off} requests cut off by their clients");

    // The database still takes writes: an admin write, a create, an update.
    let tenant = app
        .call(
            Method::POST,
            "/admin/tenants",
            Some(gateway_testkit::ADMIN_TOKEN),
            Some(json!({"name": "after"})),
        )
        .await;
    assert_eq!(tenant.status, StatusCode::CREATED, "{}", tenant.text);
    // Abandoned requests still running hold the credential's concurrency permits for a while:
    // `credential_busy` is retryable, so retry it (as a client would) until they are done.
    let deadline = Instant::now() + Duration::from_secs(60);
    let again = loop {
        let again = app
            .call(
                Method::POST,
                &base,
                Some(&t.key),
                Some(json!({"lastName": "After"})),
            )
            .await;
        if again.body["code"] != "credential_busy" || Instant::now() > deadline {
            break again;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(again.status, StatusCode::OK, "{}", again.text);

    // Every contact the provider holds is in the index: abandoned creates run to their end
    // (they are not cancelled by a hang-up), so wait for them to finish their work.
    let tenant_id = gateway_core::TenantId::parse(&t.id).unwrap();
    let cred_id = gateway_core::CredentialId::parse(&cred).unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let stats = app.sim(Method::GET, "bird", "/stats", None).await;
        let remote = stats.body["contacts"].as_u64().unwrap();
        let indexed = app.store().index_count(&tenant_id, &cred_id).await.unwrap();
        if indexed == remote {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "contacts created remotely but not indexed: {remote} remote, {indexed} indexed"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    app.stop().await;
}
