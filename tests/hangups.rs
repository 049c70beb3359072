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
    let mut clients = Vec::new();
    for c in 0..48u64 {
        let (api, key, base, id, cred) = (
            app.api.clone(),
            t.key.clone(),
            base.clone(),
            id.clone(),
            cred.clone(),
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
                let _ = req.bearer_auth(&key).send().await;
            }
        }));
    }
    for c in clients {
        c.await.unwrap();
    }
    // Requests the clients abandoned still run to their end; give them a moment.
    tokio::time::sleep(Duration::from_millis(500)).await;

    // The database still takes writes: an admin write, a create, an update.
    let started = Instant::now();
    let tenant = app
        .call(
            Method::POST,
            "/admin/tenants",
            Some(gateway_testkit::ADMIN_TOKEN),
            Some(json!({"name": "after"})),
        )
        .await;
    assert_eq!(tenant.status, StatusCode::CREATED, "{}", tenant.text);
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    let again = app
        .call(
            Method::POST,
            &base,
            Some(&t.key),
            Some(json!({"lastName": "After"})),
        )
        .await;
    assert_eq!(again.status, StatusCode::OK, "{}", again.text);

    // Every contact the provider holds is in the index: abandoned creates finished their work.
    let stats = app.sim(Method::GET, "bird", "/stats", None).await;
    let remote = stats.body["contacts"].as_u64().unwrap();
    let tenant_id = gateway_core::TenantId::parse(&t.id).unwrap();
    let cred_id = gateway_core::CredentialId::parse(&cred).unwrap();
    let indexed = app.store().index_count(&tenant_id, &cred_id).await.unwrap();
    assert_eq!(indexed, remote, "contacts created remotely but not indexed");
    app.stop().await;
}
