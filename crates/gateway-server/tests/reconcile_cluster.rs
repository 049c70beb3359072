//! Scale-out: three `crm-gateway serve` processes of the real binary on one PostgreSQL
//! database share the reconciliation of 20 credentials through leases in the database. Each
//! credential has its own Bird simulator, so `_sim/stats` counts exactly the listing calls
//! made for it. Checks: every credential is reconciled, never by two processes at once, once
//! per interval; the provider sees exactly one call per page; and after one process is killed
//! (SIGKILL) in the middle of runs, its leases expire and the others resume and finish them.
//!
//! Needs PostgreSQL: SKIPPED (with a message) when `CRM_GATEWAY_TEST_POSTGRES_URL` is unset,
//! FAILS when `CRM_GATEWAY_REQUIRE_POSTGRES=1` and the server is missing or unreachable.
#![allow(clippy::unwrap_used)]

use std::collections::{BTreeMap, HashSet};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use gateway_core::{CredentialId, TenantId};
use gateway_store::{Cipher, RunRecord, RunStatus, Store};
use secrecy::SecretString;
use serde_json::{json, Value};

mod common;

use common::{command, free_port, fresh_postgres, wait_healthy, MASTER_KEY};

const ADMIN: &str = "cluster-admin-token-0123456789";
const CREDENTIALS: usize = 20;
const CONTACTS: usize = 250;
const PAGES: u64 = 3;
const INTERVAL: Duration = Duration::from_secs(4);
const LEASE_TTL: Duration = Duration::from_secs(3);
const LIST_ROUTE: &str = "GET /workspaces/{workspaceId}/contacts";

struct Node {
    child: Child,
    api: String,
    log: std::path::PathBuf,
}

fn start_node(db: &str, dir: &std::path::Path, n: usize) -> Node {
    let port = free_port();
    let log = dir.join(format!("node{n}.log"));
    let mut cmd = command(dir);
    cmd.arg("serve")
        .env("RUST_LOG", "info")
        .env("CRM_GATEWAY_LOG__FORMAT", "json")
        .env("CRM_GATEWAY_LISTEN", format!("127.0.0.1:{port}"))
        .env("CRM_GATEWAY_DATABASE_URL", db)
        .env("CRM_GATEWAY_MASTER_KEY", MASTER_KEY)
        .env("CRM_GATEWAY_ADMIN_TOKEN", ADMIN)
        .env("CRM_GATEWAY_ALLOW_PRIVATE_BASE_URLS", "true")
        .env("CRM_GATEWAY_RECONCILE__ENABLED", "true")
        .env("CRM_GATEWAY_RECONCILE__INTERVAL", "4s")
        .env("CRM_GATEWAY_RECONCILE__JITTER", "0s")
        .env("CRM_GATEWAY_RECONCILE__TICK", "200ms")
        .env("CRM_GATEWAY_RECONCILE__LEASE_TTL", "3s")
        .env("CRM_GATEWAY_RECONCILE__HEARTBEAT", "500ms")
        .env("CRM_GATEWAY_RECONCILE__MAX_PAGES_PER_SECOND", "0")
        .env("CRM_GATEWAY_RECONCILE__MAX_CONCURRENT_RUNS", "4")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap());
    Node {
        child: cmd.spawn().unwrap(),
        api: format!("http://127.0.0.1:{port}"),
        log,
    }
}

async fn list_calls(http: &reqwest::Client, sandbox: &str) -> u64 {
    let stats: Value = http
        .get(format!("{sandbox}/bird/_sim/stats"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    stats["requests"][LIST_ROUTE].as_u64().unwrap_or(0)
}

async fn all_runs(store: &Store, tenant: &TenantId, creds: &[CredentialId]) -> Vec<Vec<RunRecord>> {
    let mut out = Vec::new();
    for c in creds {
        let mut runs = store.runs_list(tenant, c, None, 100).await.unwrap();
        runs.reverse();
        out.push(runs);
    }
    out
}

fn pid_of(owner: &Option<String>) -> Option<u32> {
    owner.as_deref()?.split(':').nth(1)?.parse().ok()
}

fn dump_logs(nodes: &[Node]) {
    for n in nodes {
        let text = std::fs::read_to_string(&n.log).unwrap_or_default();
        let tail: Vec<&str> = text.lines().rev().take(30).collect();
        eprintln!("--- {} (last lines) ---", n.log.display());
        for l in tail.into_iter().rev() {
            eprintln!("{l}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_processes_share_the_work_and_survive_a_killed_one() {
    let Some(db) = fresh_postgres("multi-process reconciliation test").await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let http = reqwest::Client::new();

    // One Bird simulator per credential, each with 3 pages of contacts; listing pages are slow
    // enough (80 ms) that runs are in flight when a process is killed.
    let mut sandboxes = Vec::new();
    for _ in 0..CREDENTIALS {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(gateway_sandbox::serve(listener, std::future::pending()));
        let base = format!("http://{addr}");
        let r = http
            .post(format!("{base}/bird/_sim/seed"))
            .json(&json!({"count": CONTACTS, "returnIds": false}))
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success());
        let r = http
            .post(format!("{base}/bird/_sim/faults"))
            .json(&json!({"latencyMs": 80, "routes": [LIST_ROUTE]}))
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success());
        sandboxes.push(base);
    }

    let mut nodes: Vec<Node> = (0..3).map(|n| start_node(&db, dir.path(), n)).collect();
    for n in &nodes {
        wait_healthy(&n.api).await;
    }
    let started = Instant::now();
    let tenant: Value = http
        .post(format!("{}/admin/tenants", nodes[0].api))
        .bearer_auth(ADMIN)
        .json(&json!({"name": "cluster"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let key = tenant["apiKey"].as_str().unwrap().to_owned();
    let tenant_id = TenantId::parse(tenant["tenantId"].as_str().unwrap()).unwrap();
    let mut creds = Vec::new();
    for (i, sandbox) in sandboxes.iter().enumerate() {
        // Spread over the three processes' APIs; no ?verify (it would list once).
        let r = http
            .post(format!("{}/credentials", nodes[i % 3].api))
            .bearer_auth(&key)
            .json(&json!({"provider": "bird", "name": format!("cluster {i}"), "secret": gateway_sandbox::BIRD_SANDBOX_KEY,
                "settings": {"workspaceId": gateway_sandbox::BIRD_SANDBOX_WORKSPACE, "baseUrl": format!("{sandbox}/bird")}}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 201);
        let body: Value = r.json().await.unwrap();
        creds.push(CredentialId::parse(body["credential"]["id"].as_str().unwrap()).unwrap());
    }
    let store = Store::connect(
        &db,
        Cipher::from_base64(&SecretString::from(MASTER_KEY.to_owned())).unwrap(),
    )
    .await
    .unwrap();

    // Phase 1: every credential reconciled; wait for a second round to be under way.
    let deadline = Instant::now() + Duration::from_secs(40);
    loop {
        let runs = all_runs(&store, &tenant_id, &creds).await;
        let done = runs
            .iter()
            .filter(|r| r.iter().any(|x| x.status == RunStatus::Succeeded))
            .count();
        let second = runs.iter().filter(|r| r.len() >= 2).count();
        if done == CREDENTIALS && second >= CREDENTIALS / 2 {
            break;
        }
        if Instant::now() > deadline {
            dump_logs(&nodes);
            panic!("only {done} of {CREDENTIALS} credentials reconciled ({second} twice)");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // Phase 2: SIGKILL the process that owns a run in the middle of its listing.
    let pids: Vec<u32> = nodes.iter().map(|n| n.child.id()).collect();
    let deadline = Instant::now() + Duration::from_secs(30);
    let (victim, killed_runs) = loop {
        let runs = all_runs(&store, &tenant_id, &creds).await;
        let mid: Vec<&RunRecord> = runs
            .iter()
            .flatten()
            .filter(|r| {
                r.status == RunStatus::Running && (1..PAGES).contains(&r.counters.pages_fetched)
            })
            .collect();
        if let Some(run) = mid.first() {
            let pid = pid_of(&run.owner).unwrap();
            let victim = pids.iter().position(|p| *p == pid).unwrap();
            nodes[victim].child.kill().unwrap();
            nodes[victim].child.wait().unwrap();
            let killed: Vec<RunRecord> = all_runs(&store, &tenant_id, &creds)
                .await
                .into_iter()
                .flatten()
                .filter(|r| r.status == RunStatus::Running && pid_of(&r.owner) == Some(pid))
                .collect();
            break (victim, killed);
        }
        assert!(Instant::now() < deadline, "never saw a run mid-listing");
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    let killed_at = chrono::Utc::now();
    assert!(!killed_runs.is_empty());
    let victim_pid = pids[victim];

    // Every run the dead process held is resumed by another process and finishes, and every
    // credential completes a run after the kill.
    let deadline = Instant::now() + Duration::from_secs(40);
    loop {
        let mut pending = 0;
        for k in &killed_runs {
            let r = store.run_by_id(&k.id).await.unwrap().unwrap();
            if r.status != RunStatus::Succeeded {
                pending += 1;
            }
        }
        let runs = all_runs(&store, &tenant_id, &creds).await;
        let after_kill = runs
            .iter()
            .filter(|r| {
                r.iter().any(|x| {
                    x.status == RunStatus::Succeeded && x.finished_at.is_some_and(|f| f > killed_at)
                })
            })
            .count();
        if pending == 0 && after_kill == CREDENTIALS {
            break;
        }
        if Instant::now() > deadline {
            dump_logs(&nodes);
            panic!("{pending} killed runs not resumed; {after_kill} of {CREDENTIALS} credentials reconciled after the kill");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    for k in &killed_runs {
        let r = store.run_by_id(&k.id).await.unwrap().unwrap();
        assert_ne!(
            pid_of(&r.owner),
            Some(victim_pid),
            "run {} finished by the dead process?",
            r.id
        );
        assert_eq!(r.started_at, k.started_at, "a resumed run keeps its T0");
        assert_eq!(r.counters.pages_fetched, PAGES, "{r:?}");
        assert_eq!(r.counters.contacts_seen, CONTACTS as u64);
    }

    // Stop the survivors (SIGTERM: graceful), then compare the database with the simulators.
    for (i, n) in nodes.iter_mut().enumerate() {
        if i != victim {
            let _ = Command::new("kill")
                .arg("-TERM")
                .arg(n.child.id().to_string())
                .status();
            let deadline = Instant::now() + Duration::from_secs(15);
            while n.child.try_wait().unwrap().is_none() {
                if Instant::now() > deadline {
                    let _ = n.child.kill();
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        }
    }
    let elapsed = started.elapsed();
    let killed_ids: HashSet<_> = killed_runs.iter().map(|r| r.id.clone()).collect();
    let runs = all_runs(&store, &tenant_id, &creds).await;
    let mut owners = HashSet::new();
    let mut report = BTreeMap::new();
    for (i, cred_runs) in runs.iter().enumerate() {
        let calls = list_calls(&http, &sandboxes[i]).await;
        let pages: u64 = cred_runs.iter().map(|r| r.counters.pages_fetched).sum();
        let resumed = cred_runs
            .iter()
            .filter(|r| killed_ids.contains(&r.id))
            .count() as u64;
        // Exactly one provider call per page; a run resumed after the kill may have had its
        // page in flight fetched once more (the dead process never saved it).
        assert!(
            calls >= pages && calls <= pages + resumed,
            "credential {i}: {calls} list calls for {pages} pages ({resumed} resumed runs)"
        );
        if resumed == 0 {
            assert_eq!(calls, pages, "credential {i}");
        }
        for r in cred_runs {
            owners.insert(pid_of(&r.owner));
            if r.status == RunStatus::Succeeded {
                assert_eq!(r.counters.pages_fetched, PAGES, "{r:?}");
                assert_eq!(r.counters.flagged, 0);
            }
        }
        // One process at a time, once per interval: runs never overlap, and each starts at
        // least one interval after the previous one ended.
        for w in cred_runs.windows(2) {
            let (a, b) = (&w[0], &w[1]);
            let (Some(end), Some(start)) = (a.finished_at, b.started_at) else {
                panic!(
                    "credential {i}: run {} has a successor but never finished",
                    a.id
                );
            };
            assert!(
                start - end
                    >= chrono::Duration::from_std(INTERVAL).unwrap()
                        - chrono::Duration::milliseconds(50),
                "credential {i}: run {} started {} ms after {} ended",
                b.id,
                (start - end).num_milliseconds(),
                a.id
            );
        }
        let most = elapsed.as_secs_f64() / INTERVAL.as_secs_f64() + 1.0;
        assert!(
            (cred_runs.len() as f64) <= most,
            "credential {i}: {} runs in {elapsed:?}",
            cred_runs.len()
        );
        report.insert(i, (cred_runs.len(), calls));
    }
    assert!(
        owners.len() >= 2,
        "the work was not shared: owners {owners:?}"
    );
    let _ = LEASE_TTL;
    eprintln!("runs and list calls per credential: {report:?}; owners: {owners:?}; killed runs resumed: {}", killed_runs.len());
    store.close().await;
}
