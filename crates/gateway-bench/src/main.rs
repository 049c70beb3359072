//! `gateway-bench`: benchmarks of the reconciler and of the request path against the Bird
//! simulator, each gateway in its own process so its memory and CPU time are its own (read from
//! `/proc/<pid>/status` and `/proc/<pid>/stat`). Build the gateway first, in the same profile:
//!
//! ```text
//! cargo build --release -p gateway-server -p gateway-bench
//! target/release/gateway-bench reconcile-1m          # one credential, 1,000,000 contacts
//! target/release/gateway-bench many-credentials      # 10,000 credentials × 100 contacts
//! target/release/gateway-bench all                   # the two above
//! target/release/gateway-bench requests              # create/get/list vs. direct and nginx (wrk)
//! ```
//!
//! Options: `--contacts N`, `--credentials N`, `--concurrency N` (runs per process in
//! many-credentials), `--postgres ADMIN_URL` (a fresh database on that server instead of a
//! SQLite file; for `requests`, in addition to SQLite), `--duration SECONDS` and
//! `--connections 1,16,64` (requests), `--install-tools` (requests: apt-get install what is
//! missing of wrk and nginx). Figures go to stdout as text and one JSON line per case.

mod requests;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use gateway_core::{CredentialId, ProviderKind};
use gateway_store::{Cipher, NewCredential, Store};
use secrecy::SecretString;
use serde_json::{json, Value};
use sqlx::Connection as _;

const MASTER_KEY: &str = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=";
const LIST_ROUTE: &str = "GET /workspaces/{workspaceId}/contacts";
const PAGE: usize = 100;

struct Options {
    contacts: Option<usize>,
    credentials: usize,
    concurrency: usize,
    postgres: Option<String>,
    duration: u64,
    connections: Vec<usize>,
    install_tools: bool,
}

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let case = args.next().unwrap_or_else(|| "all".into());
    let mut o = Options {
        contacts: None,
        credentials: 10_000,
        concurrency: 8,
        postgres: None,
        duration: 10,
        connections: vec![1, 16, 64],
        install_tools: false,
    };
    while let Some(a) = args.next() {
        let mut value = || args.next().context("missing value");
        match a.as_str() {
            "--contacts" => o.contacts = Some(value()?.parse()?),
            "--credentials" => o.credentials = value()?.parse()?,
            "--concurrency" => o.concurrency = value()?.parse()?,
            "--postgres" => o.postgres = Some(value()?),
            "--duration" => o.duration = value()?.parse()?,
            "--connections" => {
                o.connections = value()?
                    .split(',')
                    .map(str::parse)
                    .collect::<Result<_, _>>()?
            }
            "--install-tools" => o.install_tools = true,
            other => bail!("unknown option {other}"),
        }
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(async move {
        machine();
        match case.as_str() {
            "reconcile-1m" => reconcile_one(&o).await,
            "many-credentials" => many_credentials(&o).await,
            "all" => {
                reconcile_one(&o).await?;
                many_credentials(&o).await
            }
            "requests" => requests::requests(&o).await,
            other => {
                bail!("unknown case {other}; use reconcile-1m, many-credentials, all or requests")
            }
        }
    })
}

fn machine() {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|t| {
            t.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|s| s.trim().to_owned())
        })
        .unwrap_or_default();
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let mem = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|t| t.lines().next().map(str::to_owned))
        .unwrap_or_default();
    println!("machine: {cores} cores, {cpu}, {mem}");
}

fn gateway_binary() -> anyhow::Result<PathBuf> {
    let me = std::env::current_exe()?;
    let bin = me.parent().context("no parent dir")?.join("crm-gateway");
    if !bin.is_file() {
        bail!(
            "{} not found: build it in the same profile first (cargo build --release -p gateway-server)",
            bin.display()
        );
    }
    Ok(bin)
}

/// A fresh database: a SQLite file in `dir`, or a new database on the PostgreSQL server.
async fn database(postgres: Option<&str>, dir: &Path) -> anyhow::Result<String> {
    match postgres {
        None => Ok(format!("sqlite://{}/bench.db?mode=rwc", dir.display())),
        Some(admin) => {
            let name = format!("crm_bench_{}", uuid::Uuid::new_v4().simple());
            let mut conn = sqlx::PgConnection::connect(admin).await?;
            sqlx::query(&format!("CREATE DATABASE {name}"))
                .execute(&mut conn)
                .await?;
            conn.close().await?;
            let mut url = url::Url::parse(admin)?;
            url.set_path(&format!("/{name}"));
            Ok(url.to_string())
        }
    }
}

async fn sandbox() -> anyhow::Result<String> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(gateway_sandbox::serve(listener, std::future::pending()));
    Ok(format!("http://{addr}/bird"))
}

async fn seed(http: &reqwest::Client, base: &str, n: usize) -> anyhow::Result<Duration> {
    let t = Instant::now();
    let r = http
        .post(format!("{base}/_sim/seed"))
        .json(&json!({"count": n, "returnIds": false}))
        .send()
        .await?;
    if !r.status().is_success() {
        bail!("seeding failed: {}", r.text().await?);
    }
    Ok(t.elapsed())
}

async fn list_calls(http: &reqwest::Client, base: &str) -> anyhow::Result<u64> {
    let stats: Value = http
        .get(format!("{base}/_sim/stats"))
        .send()
        .await?
        .json()
        .await?;
    Ok(stats["requests"][LIST_ROUTE].as_u64().unwrap_or(0))
}

/// The baseline: the same listing with a plain HTTP client, no gateway. Answers the time, the
/// pages, and the first `keep` remote ids.
async fn direct_listing(
    http: &reqwest::Client,
    base: &str,
    keep: usize,
) -> anyhow::Result<(Duration, u64, Vec<String>)> {
    let url = format!(
        "{base}/workspaces/{}/contacts",
        gateway_sandbox::BIRD_SANDBOX_WORKSPACE
    );
    let mut token: Option<String> = None;
    let mut pages = 0;
    let mut ids = Vec::new();
    let t = Instant::now();
    loop {
        let mut req = http
            .get(&url)
            .header(
                "authorization",
                format!("AccessKey {}", gateway_sandbox::BIRD_SANDBOX_KEY),
            )
            .query(&[("limit", PAGE.to_string())]);
        if let Some(tok) = &token {
            req = req.query(&[("pageToken", tok)]);
        }
        let page: Value = req.send().await?.error_for_status()?.json().await?;
        pages += 1;
        for c in page["results"].as_array().map(Vec::as_slice).unwrap_or(&[]) {
            if ids.len() < keep {
                if let Some(id) = c["id"].as_str() {
                    ids.push(id.to_owned());
                }
            }
        }
        match page["nextPageToken"].as_str() {
            Some(t) if !t.is_empty() => token = Some(t.to_owned()),
            _ => break,
        }
    }
    Ok((t.elapsed(), pages, ids))
}

async fn open_store(db: &str) -> anyhow::Result<Store> {
    let store = Store::connect(
        db,
        Cipher::from_base64(&SecretString::from(MASTER_KEY.to_owned()))?,
    )
    .await?;
    store.migrate().await?;
    Ok(store)
}

async fn credentials(store: &Store, base: &str, n: usize) -> anyhow::Result<Vec<CredentialId>> {
    let (tenant, _) = store.create_tenant("bench").await?;
    let mut ids = Vec::with_capacity(n);
    for i in 0..n {
        let id = CredentialId::generate();
        store
            .create_credential(
                &tenant.id,
                NewCredential {
                    id: id.clone(),
                    provider: ProviderKind::Bird,
                    name: format!("bench {i}"),
                    settings: json!({"workspaceId": gateway_sandbox::BIRD_SANDBOX_WORKSPACE, "baseUrl": base}),
                    tags: Default::default(),
                    secret: SecretString::from(gateway_sandbox::BIRD_SANDBOX_KEY.to_owned()),
                },
            )
            .await?;
        ids.push(id);
    }
    Ok(ids)
}

fn gateway_command(db: &str, dir: &Path) -> anyhow::Result<Command> {
    let mut cmd = Command::new(gateway_binary()?);
    for (k, _) in std::env::vars() {
        if k.starts_with("CRM_GATEWAY_") {
            cmd.env_remove(k);
        }
    }
    cmd.current_dir(dir)
        .env("RUST_LOG", "warn")
        .env("CRM_GATEWAY_DATABASE_URL", db)
        .env("CRM_GATEWAY_MASTER_KEY", MASTER_KEY)
        .env("CRM_GATEWAY_ALLOW_PRIVATE_BASE_URLS", "true")
        .env("CRM_GATEWAY_RECONCILE__MAX_PAGES_PER_SECOND", "0");
    Ok(cmd)
}

/// Peak resident memory of a running process so far, in KiB.
fn vm_hwm(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

/// Runs `crm-gateway reconcile` as a child; answers its summary, wall time and peak RSS.
fn cli_reconcile(
    db: &str,
    dir: &Path,
    cred: &CredentialId,
) -> anyhow::Result<(Value, Duration, u64)> {
    let mut cmd = gateway_command(db, dir)?;
    cmd.args(["reconcile", "--credential", cred.as_str()])
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    let t = Instant::now();
    let mut child = cmd.spawn()?;
    let pid = child.id();
    let mut peak = 0;
    while child.try_wait()?.is_none() {
        if let Some(kb) = vm_hwm(pid) {
            peak = peak.max(kb);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let wall = t.elapsed();
    let out = child.wait_with_output()?;
    let text = String::from_utf8_lossy(&out.stdout);
    let summary: Value = serde_json::from_str(text.trim())
        .with_context(|| format!("reconcile printed no summary: {text}"))?;
    Ok((summary, wall, peak))
}

fn mib(kb: u64) -> f64 {
    kb as f64 / 1024.0
}

async fn reconcile_one(o: &Options) -> anyhow::Result<()> {
    let n = o.contacts.unwrap_or(1_000_000);
    let dir = tempfile::tempdir()?;
    let http = reqwest::Client::new();
    let base = sandbox().await?;
    let seeded = seed(&http, &base, n).await?;
    println!("\n== reconcile one credential: {n} Bird contacts, page size {PAGE} ==");
    println!("seeded in {:.1} s", seeded.as_secs_f64());
    let (direct, direct_pages, ids) = direct_listing(&http, &base, 1000).await?;
    println!(
        "baseline, plain HTTP client paging the simulator: {direct_pages} pages in {:.1} s ({:.2} ms/page)",
        direct.as_secs_f64(),
        direct.as_secs_f64() * 1000.0 / direct_pages as f64
    );
    let db = database(o.postgres.as_deref(), dir.path()).await?;
    let store = open_store(&db).await?;
    let cred = credentials(&store, &base, 1).await?.remove(0);
    store.close().await;

    for (label, delete) in [
        ("first pass (every contact new)", 0usize),
        ("second pass (1,000 deleted behind its back)", 1000),
    ] {
        for id in ids.iter().take(delete) {
            http.delete(format!("{base}/_sim/contacts/{id}"))
                .send()
                .await?
                .error_for_status()?;
        }
        let before = list_calls(&http, &base).await?;
        let (summary, wall, peak) = cli_reconcile(&db, dir.path(), &cred)?;
        let calls = list_calls(&http, &base).await? - before;
        let pages_now = (n - delete.min(n)).div_ceil(PAGE).max(1) as u64;
        let seen = summary["contactsSeen"].as_u64().unwrap_or(0);
        let run_s = summary["durationMs"].as_f64().unwrap_or(0.0) / 1000.0;
        println!("{label}:");
        println!(
            "  status {}, wall {:.1} s (process), run {:.1} s; list calls {calls} (minimum {pages_now}); provider calls {} (pages + lookups); flagged {}, discovered {}",
            summary["status"], wall.as_secs_f64(), run_s, summary["providerCalls"], summary["flagged"], summary["discovered"]
        );
        println!(
            "  peak memory of the gateway process {:.1} MiB; index rows written {:.0}/s; vs. baseline paging {:.2}x the time",
            mib(peak),
            seen as f64 / run_s.max(1e-9),
            wall.as_secs_f64() / direct.as_secs_f64()
        );
        let line = json!({"case": "reconcile-one", "pass": label, "contacts": n, "wallSeconds": wall.as_secs_f64(),
            "runSeconds": run_s, "listCalls": calls, "minimumListCalls": pages_now, "providerCalls": summary["providerCalls"],
            "peakRssMiB": mib(peak), "indexRowsPerSecond": seen as f64 / run_s.max(1e-9),
            "baselineSeconds": direct.as_secs_f64(), "baselinePages": direct_pages, "summary": summary});
        println!("{line}");
    }
    Ok(())
}

async fn many_credentials(o: &Options) -> anyhow::Result<()> {
    let n = o.credentials;
    let per = o.contacts.unwrap_or(100);
    let dir = tempfile::tempdir()?;
    let http = reqwest::Client::new();
    let base = sandbox().await?;
    seed(&http, &base, per).await?;
    println!("\n== {n} credentials × {per} contacts (one Bird workspace behind all), {} runs at a time ==", o.concurrency);
    let db = database(o.postgres.as_deref(), dir.path()).await?;
    let store = open_store(&db).await?;
    let t = Instant::now();
    credentials(&store, &base, n).await?;
    println!(
        "stored {n} credentials in {:.1} s",
        t.elapsed().as_secs_f64()
    );

    // Baseline: the same number of listings, as many at a time, with a plain HTTP client.
    let t = Instant::now();
    let mut set = tokio::task::JoinSet::new();
    let tasks = o.concurrency.max(1);
    for k in 0..tasks {
        // n listings split as evenly as possible.
        let per_task = n / tasks + usize::from(k < n % tasks);
        let (http, base) = (http.clone(), base.clone());
        set.spawn(async move {
            let mut pages = 0;
            for _ in 0..per_task {
                pages += direct_listing(&http, &base, 0).await?.1;
            }
            anyhow::Ok(pages)
        });
    }
    let mut direct_pages = 0;
    while let Some(r) = set.join_next().await {
        direct_pages += r??;
    }
    let direct = t.elapsed();
    println!(
        "baseline, plain HTTP client: {direct_pages} pages in {:.1} s",
        direct.as_secs_f64()
    );

    let before = list_calls(&http, &base).await?;
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let mut cmd = gateway_command(&db, dir.path())?;
    cmd.arg("serve")
        .env("CRM_GATEWAY_LISTEN", format!("127.0.0.1:{port}"))
        .env("CRM_GATEWAY_RECONCILE__ENABLED", "true")
        .env("CRM_GATEWAY_RECONCILE__INTERVAL", "24h")
        .env("CRM_GATEWAY_RECONCILE__JITTER", "0s")
        .env("CRM_GATEWAY_RECONCILE__TICK", "200ms")
        .env(
            "CRM_GATEWAY_RECONCILE__MAX_CONCURRENT_RUNS",
            o.concurrency.to_string(),
        )
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let t = Instant::now();
    let mut child = cmd.spawn()?;
    let pid = child.id();
    let mut peak = 0;
    let mut last_report = Instant::now();
    let finished = loop {
        if let Some(kb) = vm_hwm(pid) {
            peak = peak.max(kb);
        }
        if child.try_wait()?.is_some() {
            bail!("the gateway exited early");
        }
        let (done, failed): (i64, i64) = match &store_counts(&store).await {
            Ok(v) => *v,
            Err(_) => (0, 0),
        };
        if done + failed >= n as i64 {
            break (done, failed);
        }
        if last_report.elapsed() > Duration::from_secs(10) {
            eprintln!(
                "  … {done} runs done after {:.0} s",
                t.elapsed().as_secs_f64()
            );
            last_report = Instant::now();
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let wall = t.elapsed();
    let _ = Command::new("kill")
        .arg("-TERM")
        .arg(pid.to_string())
        .status();
    let _ = child.wait();
    let calls = list_calls(&http, &base).await? - before;
    let seen = finished.0 as u64 * per as u64;
    println!(
        "gateway serve: {} runs succeeded, {} failed in {:.1} s ({:.0} credentials/s); list calls {calls} (minimum {}); peak memory {:.1} MiB; index rows written {:.0}/s; vs. baseline {:.2}x the time",
        finished.0, finished.1, wall.as_secs_f64(), n as f64 / wall.as_secs_f64(), n as u64 * per.div_ceil(PAGE).max(1) as u64,
        mib(peak), seen as f64 / wall.as_secs_f64(), wall.as_secs_f64() / direct.as_secs_f64()
    );
    println!(
        "{}",
        json!({"case": "many-credentials", "credentials": n, "contactsEach": per, "concurrency": o.concurrency,
        "wallSeconds": wall.as_secs_f64(), "succeeded": finished.0, "failed": finished.1, "listCalls": calls,
        "peakRssMiB": mib(peak), "indexRowsPerSecond": seen as f64 / wall.as_secs_f64(),
        "baselineSeconds": direct.as_secs_f64(), "baselinePages": direct_pages})
    );
    store.close().await;
    Ok(())
}

async fn store_counts(store: &Store) -> anyhow::Result<(i64, i64)> {
    Ok(store.run_status_counts().await?)
}
