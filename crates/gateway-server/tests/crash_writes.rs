//! Crash safety of writes: the real `crm-gateway serve` binary is killed (SIGKILL) in the
//! middle of a stream of concurrent creates against a slow Bird simulator, then started again
//! on the same database. Clients retry every create they sent with an `Idempotency-Key` until
//! it is final; a reconciliation runs; then the simulator's contacts are compared with the
//! index: every remote contact is indexed exactly once, each keyed create made exactly one
//! remote contact (none lost, none doubled), and creates sent without a key that landed
//! unanswered were picked up as `discovered`. Both cases (creates that land before their
//! answer is held, and creates delayed before they land) run on SQLite and on PostgreSQL
//! (when configured).
#![allow(clippy::unwrap_used)]

use std::collections::{BTreeMap, HashMap, HashSet};
use std::process::{Child, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use gateway_core::{CredentialId, RemoteId, TenantId};
use gateway_store::{Cipher, Store};
use secrecy::SecretString;
use serde_json::{json, Value};

mod common;

use common::{command, free_port, fresh_postgres, json, wait_healthy, MASTER_KEY};

const ADMIN: &str = "crash-admin-token-0123456789";
const KEYED_CLIENTS: usize = 6;
const KEYLESS_CLIENTS: usize = 2;
const BIRD_CREATE: &str = "POST /workspaces/{workspaceId}/contacts";
/// Creates answered before the kill is prepared: enough that the stream is running.
const STREAMED: usize = 24;

fn start(db: &str, dir: &std::path::Path, port: u16, log: &str) -> Child {
    command(dir)
        .arg("serve")
        .env("RUST_LOG", "info")
        .env("CRM_GATEWAY_LOG__FORMAT", "json")
        .env("CRM_GATEWAY_LISTEN", format!("127.0.0.1:{port}"))
        .env("CRM_GATEWAY_DATABASE_URL", db)
        .env("CRM_GATEWAY_MASTER_KEY", MASTER_KEY)
        .env("CRM_GATEWAY_ADMIN_TOKEN", ADMIN)
        .env("CRM_GATEWAY_ALLOW_PRIVATE_BASE_URLS", "true")
        .env("CRM_GATEWAY_API__RATE_LIMIT__PER_SECOND", "10000")
        .env("CRM_GATEWAY_API__RATE_LIMIT__BURST", "10000")
        .env("CRM_GATEWAY_API__IDEMPOTENCY__STALE_AFTER", "1s")
        .env("CRM_GATEWAY_API__IDEMPOTENCY__SETTLE_AFTER", "1s")
        .env("CRM_GATEWAY_RECONCILE__ENABLED", "false")
        .env("CRM_GATEWAY_RECONCILE__TICK", "100ms")
        .env("CRM_GATEWAY_RECONCILE__MAX_PAGES_PER_SECOND", "0")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(dir.join(log)).unwrap())
        .spawn()
        .unwrap()
}

/// What one create request ended with.
#[derive(Debug, Clone)]
enum Sent {
    /// 200: the remote id it made.
    Made(String),
    /// No answer (the process died), or a 5xx.
    Unanswered,
}

struct Create {
    last_name: String,
    key: Option<String>,
    body: Value,
    sent: Sent,
}

fn body(name: &str, n: usize) -> Value {
    json!({
        "firstName": "Crash", "lastName": name,
        "emailAddresses": [{"emailAddress": format!("{}@example.com", name.to_lowercase().replace(' ', "."))}],
        "phoneNumbers": [{"phoneNumber": format!("+1 555 {:07}", 1_000_000 + n)}]
    })
}

async fn post(
    http: &reqwest::Client,
    url: &str,
    key: &str,
    idem: Option<&str>,
    body: &Value,
) -> Result<(u16, Value, Option<u64>), reqwest::Error> {
    let mut req = http.post(url).bearer_auth(key).json(body);
    if let Some(k) = idem {
        req = req.header("Idempotency-Key", k);
    }
    let resp = req.send().await?;
    let status = resp.status().as_u16();
    let retry = resp
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok());
    let text = resp.text().await?;
    Ok((
        status,
        serde_json::from_str(&text).unwrap_or(Value::Null),
        retry,
    ))
}

/// `landed`: the simulator writes each create before its 40 ms delay, and before the kill
/// every client's last create lands with its answer held (the kill then finds writes made but
/// unanswered, one per client); otherwise each create is delayed 40 ms before it lands (the
/// kill finds writes not yet made).
async fn run(db: String, landed: bool) {
    let dir = tempfile::tempdir().unwrap();
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(20))
        .build()
        .unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let sandbox = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(gateway_sandbox::serve(listener, std::future::pending()));
    // Slow creates keep many writes in flight when the process dies, at every point of the
    // handler: before the provider call, during it, and between its answer and the index.
    http.post(format!("{sandbox}/bird/_sim/faults"))
        .json(&json!({"latencyMs": 40, "routes": [BIRD_CREATE], "applied": landed}))
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
            .json(&json!({"name": "crash"})),
    )
    .await;
    let key = tenant["apiKey"].as_str().unwrap().to_owned();
    let tenant_id = tenant["tenantId"].as_str().unwrap().to_owned();
    let (secret, settings) = gateway_server::demo::sandbox_credential(
        gateway_core::ProviderKind::Bird,
        &format!("{sandbox}/bird"),
    )
    .unwrap();
    let cred = json(
        http.post(format!("{api}/credentials"))
            .bearer_auth(&key)
            .json(&json!({"provider": "bird", "name": "crash", "secret": secret, "settings": settings})),
    )
    .await;
    let cred = cred["credential"]["id"].as_str().unwrap().to_owned();
    let create_url = format!("{api}/crm/contacts?credentialId={cred}");

    // The stream: each client creates contacts one after another until its request fails.
    let creates: Arc<Mutex<Vec<Create>>> = Arc::default();
    let mut clients = Vec::new();
    for c in 0..KEYED_CLIENTS + KEYLESS_CLIENTS {
        let (http, url, key, creates) = (
            http.clone(),
            create_url.clone(),
            key.clone(),
            creates.clone(),
        );
        clients.push(tokio::spawn(async move {
            for i in 0.. {
                let name = format!("C{c} N{i}");
                let n = c * 10_000 + i;
                let idem = (c < KEYED_CLIENTS).then(|| format!("crash-{c}-{i}"));
                let body = body(&name, n);
                let sent = match post(&http, &url, &key, idem.as_deref(), &body).await {
                    Ok((200, v, _)) => {
                        Sent::Made(v["contact"]["remoteId"].as_str().unwrap().to_owned())
                    }
                    Ok((s, v, _)) if s >= 500 => {
                        let _ = v;
                        Sent::Unanswered
                    }
                    Ok((s, v, _)) => panic!("create {name}: unexpected {s} {v}"),
                    Err(_) => Sent::Unanswered,
                };
                let stop = matches!(sent, Sent::Unanswered);
                creates.lock().unwrap().push(Create {
                    last_name: name,
                    key: idem,
                    body,
                    sent,
                });
                if stop {
                    return;
                }
            }
        }));
    }
    // Wait for the stream to be under way (answered creates), not for a fixed time.
    let answered = || creates.lock().unwrap().len();
    let deadline = Instant::now() + Duration::from_secs(120);
    while answered() < STREAMED {
        assert!(
            Instant::now() < deadline,
            "the stream never got going: {} creates answered",
            answered()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    if landed {
        // From now on every create lands at once and its answer is held far longer than the
        // test waits: each client's next write is made but unanswered when the process dies.
        // The kill waits for that state, seen in the simulator (each client's write counted
        // and stored beyond the answered ones), so at least one write per keyed client is
        // found by its retry whatever the machine's load.
        http.delete(format!("{sandbox}/bird/_sim/faults"))
            .send()
            .await
            .unwrap();
        http.post(format!("{sandbox}/bird/_sim/faults"))
            .json(&json!({"latencyMs": 60_000, "routes": [BIRD_CREATE], "applied": true}))
            .send()
            .await
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            let stats = json(http.get(format!("{sandbox}/bird/_sim/stats"))).await;
            let calls = stats["requests"][BIRD_CREATE].as_u64().unwrap_or(0) as usize;
            let stored = stats["contacts"].as_u64().unwrap_or(0) as usize;
            let done = answered();
            let clients = KEYED_CLIENTS + KEYLESS_CLIENTS;
            if calls == done + clients && stored == done + clients {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "writes never landed unanswered: {calls} calls, {stored} stored, {done} answered"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    child.kill().unwrap();
    child.wait().unwrap();
    // Nothing more may land after the kill (the held answers go to a dead connection).
    http.delete(format!("{sandbox}/bird/_sim/faults"))
        .send()
        .await
        .unwrap();
    for c in clients {
        c.await.unwrap();
    }
    let mut creates = std::mem::take(&mut *creates.lock().unwrap());
    let unanswered = creates
        .iter()
        .filter(|c| matches!(c.sent, Sent::Unanswered))
        .count();
    assert!(
        creates.len() >= STREAMED + KEYED_CLIENTS + KEYLESS_CLIENTS,
        "the stream was running: {}",
        creates.len()
    );
    assert_eq!(
        unanswered,
        KEYED_CLIENTS + KEYLESS_CLIENTS,
        "each client had a write cut off"
    );

    // Restart on the same database; every keyed create is retried with its key until final.
    let port = free_port();
    let api = format!("http://127.0.0.1:{port}");
    let mut child = start(&db, dir.path(), port, "second.log");
    wait_healthy(&api).await;
    let create_url = format!("{api}/crm/contacts?credentialId={cred}");
    let mut recovered = 0;
    for c in creates.iter_mut().filter(|c| c.key.is_some()) {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let (status, v, retry) = post(&http, &create_url, &key, c.key.as_deref(), &c.body)
                .await
                .unwrap();
            if status == 409 && Instant::now() < deadline {
                assert_eq!(v["code"], "idempotency_in_progress", "{v}");
                let wait = retry.unwrap_or(1).min(2);
                tokio::time::sleep(Duration::from_millis(200 * wait)).await;
                continue;
            }
            assert_eq!(status, 200, "{}: {v}", c.last_name);
            let remote = v["contact"]["remoteId"].as_str().unwrap().to_owned();
            if let Sent::Made(first) = &c.sent {
                assert_eq!(&remote, first, "a replay answers the same contact");
            }
            if v["warnings"]
                .as_array()
                .unwrap()
                .iter()
                .any(|w| w["code"] == "recovered")
            {
                recovered += 1;
            }
            c.sent = Sent::Made(remote);
            break;
        }
    }

    // A reconciliation indexes whatever the keyless cut-off creates left behind.
    let run = json(
        http.post(format!("{api}/credentials/{cred}/reconciliations"))
            .bearer_auth(&key),
    )
    .await;
    let run_id = run["run"]["id"]
        .as_str()
        .or(run["id"].as_str())
        .unwrap()
        .to_owned();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let r = json(
            http.get(format!("{api}/credentials/{cred}/reconciliations/{run_id}"))
                .bearer_auth(&key),
        )
        .await;
        let run = if r["run"].is_object() { &r["run"] } else { &r };
        match run["status"].as_str().unwrap() {
            "succeeded" => break,
            "queued" | "running" => {}
            other => panic!("reconciliation {other}: {r}"),
        }
        assert!(Instant::now() < deadline, "reconciliation never finished");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // The simulator's contacts, read through the gateway's live listing (counted against the
    // simulator's own figure).
    let mut remote: BTreeMap<String, String> = BTreeMap::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut url = format!("{api}/crm/contacts?credentialId={cred}&pageSize=100");
        if let Some(c) = &cursor {
            url.push_str(&format!("&cursor={c}"));
        }
        let page = json(http.get(url).bearer_auth(&key)).await;
        for c in page["contacts"].as_array().unwrap() {
            let prior = remote.insert(
                c["remoteId"].as_str().unwrap().to_owned(),
                c["lastName"].as_str().unwrap().to_owned(),
            );
            assert!(prior.is_none(), "listed twice: {c}");
        }
        cursor = page["pageInfo"]["nextCursor"].as_str().map(str::to_owned);
        if cursor.is_none() {
            break;
        }
    }
    let stats = json(http.get(format!("{sandbox}/bird/_sim/stats"))).await;
    assert_eq!(stats["contacts"].as_u64().unwrap() as usize, remote.len());

    // No duplicates: one remote contact per name at most, exactly one per keyed create.
    let mut per_name: HashMap<&str, usize> = HashMap::new();
    for name in remote.values() {
        *per_name.entry(name.as_str()).or_default() += 1;
    }
    assert!(
        per_name.values().all(|n| *n == 1),
        "a contact was made twice"
    );
    let mut made: HashSet<&str> = HashSet::new();
    for c in &creates {
        match (&c.sent, &c.key) {
            (Sent::Made(id), _) => {
                assert_eq!(remote.get(id), Some(&c.last_name), "{} lost", c.last_name);
                assert!(made.insert(id), "two creates answered the same contact");
            }
            (Sent::Unanswered, None) => {}
            (Sent::Unanswered, Some(_)) => unreachable!("keyed creates are all final"),
        }
    }
    let keyless_landed = remote.len() - made.len();
    assert!(keyless_landed <= KEYLESS_CLIENTS);

    // The index holds every remote contact exactly once, and nothing else.
    let cipher = Cipher::from_base64(&SecretString::from(MASTER_KEY.to_owned())).unwrap();
    let store = Store::connect(&db, cipher).await.unwrap();
    let tenant_id = TenantId::parse(&tenant_id).unwrap();
    let cred_id = CredentialId::parse(&cred).unwrap();
    assert_eq!(
        store.index_count(&tenant_id, &cred_id).await.unwrap() as usize,
        remote.len()
    );
    for id in remote.keys() {
        let entry = store
            .index_get_by_remote(&tenant_id, &cred_id, &RemoteId(id.clone()))
            .await
            .unwrap();
        assert!(entry.is_some_and(|e| !e.remote_deleted), "{id} not indexed");
    }
    if landed {
        // Every keyed client's last write landed before the kill: each retry finds it.
        assert_eq!(
            recovered, KEYED_CLIENTS,
            "writes made but unanswered were found and answered"
        );
        assert_eq!(
            keyless_landed, KEYLESS_CLIENTS,
            "every keyless write landed"
        );
    }
    eprintln!(
        "crash test: {} creates, {} cut off, {} keyed retries answered with a recovered contact, {} keyless cut-off creates landed",
        creates.len(),
        unanswered,
        recovered,
        keyless_landed
    );
    let _ = child.kill();
    let _ = child.wait();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_during_writes_on_sqlite_loses_and_doubles_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!(
        "sqlite://{}?mode=rwc",
        dir.path().join("crash.db").display()
    );
    run(db, true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_before_writes_landed_on_sqlite_loses_and_doubles_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!(
        "sqlite://{}?mode=rwc",
        dir.path().join("crash.db").display()
    );
    run(db, false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_during_writes_on_postgres_loses_and_doubles_nothing() {
    if let Some(db) = fresh_postgres("crash test on PostgreSQL").await {
        run(db.url.clone(), true).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_before_writes_landed_on_postgres_loses_and_doubles_nothing() {
    if let Some(db) = fresh_postgres("crash test on PostgreSQL").await {
        run(db.url.clone(), false).await;
    }
}
