//! Recovery that tells the truth after `kill -9`: keyed creates whose writes landed at the
//! provider but whose answers were lost with the process are retried, after a restart, by
//! clients that honour `Retry-After` exactly. Every key gets its one contact, with at most three
//! retries, on SQLite and on PostgreSQL; the time each key took is printed for the record
//! (docs/operations.md, "Writes whose outcome is unknown").
#![allow(clippy::unwrap_used)]

mod common;

use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use common::{command, free_port, fresh_postgres, json, wait_healthy, MASTER_KEY};
use serde_json::{json, Value};

const ADMIN: &str = "recovery-admin-token-0123456789";
const KEYS: usize = 24;
/// The settle time: how long after its send a create could still be applied.
const SETTLE: &str = "4s";
const BIRD_CREATE: &str = "POST /workspaces/{workspaceId}/contacts";

fn start(db: &str, dir: &std::path::Path, port: u16, log: &str) -> Child {
    command(dir)
        .arg("serve")
        .env("CRM_GATEWAY_LISTEN", format!("127.0.0.1:{port}"))
        .env("CRM_GATEWAY_DATABASE_URL", db)
        .env("CRM_GATEWAY_MASTER_KEY", MASTER_KEY)
        .env("CRM_GATEWAY_ADMIN_TOKEN", ADMIN)
        .env("CRM_GATEWAY_ALLOW_PRIVATE_BASE_URLS", "true")
        .env("CRM_GATEWAY_API__RATE_LIMIT__PER_SECOND", "10000")
        .env("CRM_GATEWAY_API__RATE_LIMIT__BURST", "10000")
        .env("CRM_GATEWAY_API__MAX_CONCURRENT_PER_CREDENTIAL", "64")
        // the defaults otherwise: a claim goes stale only after 60 s, and no periodic
        // reconciliation runs, so only prompt takeover and on-demand recovery can answer
        .env("CRM_GATEWAY_API__IDEMPOTENCY__SETTLE_AFTER", SETTLE)
        .env("CRM_GATEWAY_RECONCILE__ENABLED", "false")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(dir.join(log)).unwrap())
        .spawn()
        .unwrap()
}

async fn create(
    http: &reqwest::Client,
    url: &str,
    key: &str,
    idem: &str,
    body: &Value,
) -> Option<(u16, Value, Option<u64>)> {
    let resp = http
        .post(url)
        .bearer_auth(key)
        .header("Idempotency-Key", idem)
        .json(body)
        .send()
        .await
        .ok()?;
    let status = resp.status().as_u16();
    let retry = resp
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok());
    Some((status, resp.json().await.unwrap_or(Value::Null), retry))
}

async fn recovers(db: String) {
    let dir = tempfile::tempdir().unwrap();
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(60))
        .build()
        .unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let sandbox = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(gateway_sandbox::serve(listener, std::future::pending()));
    // Every create lands at once and its answer is held for a minute: the kill always finds
    // writes made but unanswered.
    http.post(format!("{sandbox}/bird/_sim/faults"))
        .json(&json!({"latencyMs": 60_000, "routes": [BIRD_CREATE], "applied": true}))
        .send()
        .await
        .unwrap();

    let port = free_port();
    let api = format!("http://127.0.0.1:{port}");
    let mut child = start(&db, dir.path(), port, "first.log");
    wait_healthy(&api).await;
    let tenant = json(
        http.post(format!("{api}/admin/tenants"))
            .bearer_auth(ADMIN)
            .json(&json!({"name": "recovery"})),
    )
    .await;
    let key = tenant["apiKey"].as_str().unwrap().to_owned();
    let (secret, settings) = gateway_server::demo::sandbox_credential(
        gateway_core::ProviderKind::Bird,
        &format!("{sandbox}/bird"),
    )
    .unwrap();
    let cred = json(
        http.post(format!("{api}/credentials"))
            .bearer_auth(&key)
            .json(&json!({"provider": "bird", "name": "recovery", "secret": secret, "settings": settings})),
    )
    .await;
    let cred = cred["credential"]["id"].as_str().unwrap().to_owned();
    let url = format!("{api}/crm/contacts?credentialId={cred}");
    let bodies: Vec<Value> = (0..KEYS)
        .map(|i| {
            json!({"firstName": "Kill", "lastName": format!("Nine {i}"),
            "emailAddresses": [{"emailAddress": format!("kill.nine.{i}@example.com")}]})
        })
        .collect();
    let mut first = Vec::new();
    for (i, body) in bodies.iter().enumerate() {
        let (http, url, key, body) = (http.clone(), url.clone(), key.clone(), body.clone());
        first.push(tokio::spawn(async move {
            create(&http, &url, &key, &format!("kill-{i}"), &body).await
        }));
    }
    // Kill once every create has reached the provider (evidence, not a fixed sleep).
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let stats = json(http.get(format!("{sandbox}/bird/_sim/stats"))).await;
        if stats["contacts"].as_u64() == Some(KEYS as u64) {
            break;
        }
        assert!(Instant::now() < deadline, "creates never landed: {stats}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    child.kill().unwrap();
    child.wait().unwrap();
    for f in first {
        assert!(f.await.unwrap().is_none(), "no answer survives the kill");
    }
    // Answers come at once from now on.
    http.delete(format!("{sandbox}/bird/_sim/faults"))
        .send()
        .await
        .unwrap();

    let port = free_port();
    let api = format!("http://127.0.0.1:{port}");
    let mut second = start(&db, dir.path(), port, "second.log");
    wait_healthy(&api).await;
    let restarted = Instant::now();
    let url = format!("{api}/crm/contacts?credentialId={cred}");
    let mut clients = Vec::new();
    for (i, body) in bodies.iter().enumerate() {
        let (http, url, key, body) = (http.clone(), url.clone(), key.clone(), body.clone());
        clients.push(tokio::spawn(async move {
            let mut retries = 0;
            let mut waits = Vec::new();
            loop {
                let (status, v, retry) = create(&http, &url, &key, &format!("kill-{i}"), &body)
                    .await
                    .expect("the restarted gateway answers");
                if status != 409 {
                    assert_eq!(status, 200, "kill-{i}: {v}");
                    let remote = v["contact"]["remoteId"].as_str().unwrap().to_owned();
                    return (remote, retries, waits, restarted.elapsed());
                }
                assert_eq!(v["code"], "idempotency_in_progress", "{v}");
                let wait = retry.expect("every 409 says when to come back");
                waits.push(wait);
                retries += 1;
                assert!(retries <= 10, "kill-{i}: still 409 after {waits:?}");
                tokio::time::sleep(Duration::from_secs(wait)).await;
            }
        }));
    }
    let mut remotes = std::collections::HashSet::new();
    let mut took = Vec::new();
    let mut most = 0;
    for c in clients {
        let (remote, retries, waits, elapsed) = c.await.unwrap();
        assert!(remotes.insert(remote), "one contact per key");
        most = most.max(retries);
        took.push(elapsed);
        if retries > 0 {
            eprintln!("retries {retries}, Retry-After {waits:?}, answered after {elapsed:?}");
        }
    }
    took.sort();
    eprintln!(
        "{KEYS} keys answered after the restart: p50 {:?}, max {:?}, at most {most} retries (settle time {SETTLE})",
        took[KEYS / 2],
        took[KEYS - 1]
    );
    assert!(most <= 3, "at most 3 retries per key, got {most}");
    let stats = json(http.get(format!("{sandbox}/bird/_sim/stats"))).await;
    assert_eq!(stats["contacts"], KEYS, "none doubled: {stats}");
    second.kill().unwrap();
    second.wait().unwrap();
}

#[tokio::test]
async fn keys_recover_promptly_after_a_kill_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    recovers(format!(
        "sqlite://{}?mode=rwc",
        dir.path().join("gateway.db").display()
    ))
    .await;
}

#[tokio::test]
async fn keys_recover_promptly_after_a_kill_on_postgres() {
    let Some(db) = fresh_postgres("crash recovery on PostgreSQL").await else {
        return;
    };
    recovers(db.url.clone()).await;
}
