//! `gateway-bench requests`: create, get and list through `crm-gateway serve` (SQLite, and
//! PostgreSQL with `--postgres`) side by side with the same Bird calls sent straight to the
//! simulator and through a plain nginx reverse proxy, driven by `wrk`. Every server is its own
//! child process, so CPU time (`/proc/<pid>/stat`) and memory (`/proc/<pid>/status`) are each
//! process's own.

use std::fmt::Write as _;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use serde_json::{json, Value};
use sqlx::Connection as _;

use crate::{database, gateway_binary, gateway_command, mib, Options};

const ADMIN_TOKEN: &str = "bench-admin-token";
const WORKSPACE: &str = gateway_sandbox::BIRD_SANDBOX_WORKSPACE;
/// A placeholder the wrk script swaps for a unique address per request: the simulator, like
/// Bird, refuses a second contact with the same email identifier.
const EMAIL: &str = "benchemail@bench.example";
const LIST_SIZE: usize = 50;
const STARTS: usize = 5;

/// Answers `done()` as one JSON line so the numbers never depend on wrk's text layout.
/// `errors.status` counts every answer with a status of 400 or more.
const LUA: &str = r#"
local threads = {}
local counter = 0
function setup(thread)
  thread:set("tid", #threads)
  table.insert(threads, thread)
end
function request()
  counter = counter + 1
  local path = paths[(counter + tid * 7919) % #paths + 1]
  local b = nil
  if body then
    b = (body:gsub("benchemail", string.format("%s-%d-%d", tag, tid, counter)))
  end
  return wrk.format(method, path, headers, b)
end
function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    '\nWRKJSON {"requests":%d,"durationUs":%d,"errors":%d,"p50Us":%d,"p99Us":%d}\n',
    summary.requests, summary.duration,
    e.connect + e.read + e.write + e.status + e.timeout,
    latency:percentile(50), latency:percentile(99)))
end
"#;

/// A child process stopped with SIGTERM (nginx's master then stops its workers) when dropped.
struct Proc(Child);

impl Proc {
    fn pid(&self) -> u32 {
        self.0.id()
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.0.id().to_string()])
            .status();
        for _ in 0..100 {
            if matches!(self.0.try_wait(), Ok(Some(_))) {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// One thing to send load to: the same three operations, spelled for its API.
struct Target {
    name: String,
    base: String,
    auth: String,
    get_paths: Vec<String>,
    list_path: String,
    create_path: String,
    create_body: String,
    /// Processes whose CPU time is "the proxy's": the gateway, or nginx's master and workers.
    proxy_pids: Vec<u32>,
    /// The PostgreSQL database the gateway uses: its server backends work outside the
    /// gateway's process, so their CPU time is counted apart.
    pg_database: Option<String>,
}

fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

/// utime + stime of the processes, in microseconds.
fn cpu_us(pids: &[u32]) -> u64 {
    let tick = clock_ticks();
    pids.iter()
        .filter_map(|pid| {
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
            let f: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
            Some(f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?)
        })
        .sum::<u64>()
        * 1_000_000
        / tick
}

fn clock_ticks() -> u64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse().ok())
        .unwrap_or(100)
}

/// A `/proc/<pid>/status` figure in KiB (`VmRSS`, `VmHWM`).
fn status_kb(pid: u32, key: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(key))?
                .split_whitespace()
                .nth(1)?
                .parse()
                .ok()
        })
        .unwrap_or(0)
}

/// The server processes of one PostgreSQL database (their titles read
/// `postgres: [CLUSTER:] USER DATABASE HOST(PORT) STATE`).
fn pg_backends(database: &str) -> Vec<u32> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            std::fs::read(format!("/proc/{pid}/cmdline")).is_ok_and(|c| {
                let title = String::from_utf8_lossy(&c);
                title.starts_with("postgres: ")
                    && title.split_whitespace().take(4).any(|w| w == database)
            })
        })
        .collect()
}

fn children(parent: u32) -> Vec<u32> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            std::fs::read_to_string(format!("/proc/{pid}/stat"))
                .ok()
                .and_then(|s| {
                    s.rsplit_once(')')?
                        .1
                        .split_whitespace()
                        .nth(1)?
                        .parse()
                        .ok()
                })
                == Some(parent)
        })
        .collect()
}

/// wrk and nginx are Debian packages; nothing is installed unless asked for.
fn tools(install: bool) -> anyhow::Result<()> {
    let missing: Vec<&str> = [("wrk", "wrk"), ("nginx", "nginx-light")]
        .into_iter()
        .filter(|(bin, _)| {
            !Command::new("sh")
                .args(["-c", &format!("command -v {bin} >/dev/null")])
                .status()
                .is_ok_and(|s| s.success())
        })
        .map(|(_, pkg)| pkg)
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    let cmd = format!("apt-get install -y {}", missing.join(" "));
    if !install {
        bail!("missing load tools: run `{cmd}` (as root), or pass --install-tools");
    }
    println!("installing: {cmd}");
    if !Command::new("sh").args(["-c", &cmd]).status()?.success() {
        bail!("`{cmd}` failed");
    }
    Ok(())
}

async fn wait_ok(http: &reqwest::Client, url: &str, child: &mut Proc) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        if let Some(status) = child.0.try_wait()? {
            bail!("{url}: the process exited ({status}) before answering");
        }
        if let Ok(r) = http.get(url).send().await {
            if r.status().is_success() {
                return Ok(());
            }
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    bail!("{url} did not answer 200 within 60 s")
}

fn log_file(dir: &Path, name: &str) -> anyhow::Result<Stdio> {
    Ok(std::fs::File::create(dir.join(format!("{name}.log")))?.into())
}

/// `crm-gateway serve` on `db`. `tuned`: inbound and outbound budgets far above what the
/// benchmark can reach, so they stay in the request path without being the ceiling.
fn serve(db: &str, dir: &Path, port: u16, tuned: bool, log: &str) -> anyhow::Result<Proc> {
    let mut cmd = gateway_command(db, dir)?;
    cmd.arg("serve")
        .env("CRM_GATEWAY_LISTEN", format!("127.0.0.1:{port}"))
        .env("CRM_GATEWAY_ADMIN_TOKEN", ADMIN_TOKEN)
        .env("CRM_GATEWAY_RECONCILE__ENABLED", "false")
        .stdout(Stdio::null())
        .stderr(log_file(dir, log)?);
    if tuned {
        for (k, v) in [
            ("API__RATE_LIMIT__PER_SECOND", "1000000"),
            ("API__RATE_LIMIT__BURST", "1000000"),
            ("API__MAX_CONCURRENT_PER_CREDENTIAL", "1024"),
            ("RESILIENCE__BIRD__RATE_PER_SECOND", "1000000"),
            ("RESILIENCE__BIRD__BURST", "1000000"),
        ] {
            cmd.env(format!("CRM_GATEWAY_{k}"), v);
        }
    }
    Ok(Proc(cmd.spawn()?))
}

fn nginx(dir: &Path, port: u16, upstream: u16) -> anyhow::Result<Proc> {
    let d = dir.join("nginx");
    std::fs::create_dir_all(&d)?;
    let p = d.display();
    // Debian's defaults (worker_processes auto) plus upstream keep-alive, as the gateway's own
    // client pools its connections; no temp files, so workers never touch the disk.
    let conf = format!(
        "daemon off;\nworker_processes auto;\npid {p}/nginx.pid;\nerror_log stderr warn;\n\
         events {{ worker_connections 1024; }}\n\
         http {{\n  access_log off;\n  client_body_temp_path {p}/body;\n  proxy_temp_path {p}/proxy;\n\
           fastcgi_temp_path {p}/fastcgi;\n  uwsgi_temp_path {p}/uwsgi;\n  scgi_temp_path {p}/scgi;\n\
           upstream simulator {{ server 127.0.0.1:{upstream}; keepalive 64; }}\n\
           server {{\n    listen 127.0.0.1:{port};\n    location / {{\n      proxy_pass http://simulator;\n\
               proxy_http_version 1.1;\n      proxy_set_header Connection \"\";\n\
               proxy_buffers 32 8k;\n      proxy_max_temp_file_size 0;\n    }}\n  }}\n}}\n"
    );
    let file = d.join("nginx.conf");
    std::fs::write(&file, conf)?;
    let child = Command::new("nginx")
        .arg("-e")
        .arg("stderr")
        .arg("-p")
        .arg(&d)
        .arg("-c")
        .arg(&file)
        .stdout(Stdio::null())
        .stderr(log_file(dir, "nginx")?)
        .spawn()
        .context("could not start nginx")?;
    Ok(Proc(child))
}

async fn json_call(req: reqwest::RequestBuilder) -> anyhow::Result<Value> {
    let r = req.send().await?;
    let status = r.status();
    let body: Value = r.json().await?;
    if !status.is_success() {
        bail!("{status}: {body}");
    }
    Ok(body)
}

/// A gateway target: tenant and credential made through the API, then every seeded contact
/// listed once so the index knows it (gets need the gateway's `con_…` ids).
/// Contacts a gateway target cycles its gets over (the seeded ones, listed once).
const GET_POOL: usize = 1000;

async fn gateway_target(
    http: &reqwest::Client,
    name: &str,
    gw: &str,
    sim: &str,
    pid: u32,
    db: &str,
) -> anyhow::Result<(Target, Value)> {
    let tenant = json_call(
        http.post(format!("{gw}/admin/tenants"))
            .bearer_auth(ADMIN_TOKEN)
            .json(&json!({"name": "bench"})),
    )
    .await?;
    let key = tenant["apiKey"].as_str().context("no apiKey")?.to_owned();
    let cred = json_call(
        http.post(format!("{gw}/credentials"))
            .bearer_auth(&key)
            .json(&json!({
        "provider": "bird", "name": "bench", "secret": gateway_sandbox::BIRD_SANDBOX_KEY,
        "settings": {"workspaceId": WORKSPACE, "baseUrl": format!("{sim}/bird")}})),
    )
    .await?;
    let cred = cred["credential"]["id"]
        .as_str()
        .context("no id")?
        .to_owned();
    let mut get_paths = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut req = http
            .get(format!("{gw}/crm/contacts"))
            .bearer_auth(&key)
            .query(&[("credentialId", cred.as_str()), ("pageSize", "100")]);
        if let Some(c) = &cursor {
            req = req.query(&[("cursor", c)]);
        }
        let page = json_call(req).await?;
        for c in page["contacts"].as_array().context("no contacts")? {
            let id = c["id"].as_str().context("no id")?;
            get_paths.push(format!("/crm/contacts/{id}?credentialId={cred}"));
        }
        // The seeded contacts come first; the creates of earlier cells (up to millions) need
        // not be listed, and at the shipped limits listing them all would take minutes.
        match page["pageInfo"]["nextCursor"].as_str() {
            Some(c) if get_paths.len() < GET_POOL => cursor = Some(c.to_owned()),
            _ => break,
        }
    }
    let input = json!({"firstName": "Bench", "lastName": "User", "emailAddresses": [{"emailAddress": EMAIL}]});
    // The exact Bird call the gateway makes for this input, for the direct baseline.
    let plan = json_call(
        http.post(format!("{gw}/crm/contacts"))
            .bearer_auth(&key)
            .query(&[("credentialId", cred.as_str()), ("dryRun", "true")])
            .json(&input),
    )
    .await?;
    let target = Target {
        name: name.into(),
        base: gw.into(),
        auth: format!("Bearer {key}"),
        get_paths,
        list_path: format!("/crm/contacts?credentialId={cred}&pageSize={LIST_SIZE}"),
        create_path: format!("/crm/contacts?credentialId={cred}"),
        create_body: input.to_string(),
        proxy_pids: vec![pid],
        pg_database: db
            .starts_with("postgres")
            .then(|| url::Url::parse(db).ok())
            .flatten()
            .map(|u| u.path().trim_start_matches('/').to_owned()),
    };
    Ok((target, plan["requests"][0]["body"].clone()))
}

/// The simulator's own wire API, with Bird's `AccessKey` header: the gateway's calls minus the
/// gateway. `base` is the simulator or nginx in front of it.
fn bird_target(name: &str, base: &str, ids: &[String], body: &Value, pids: Vec<u32>) -> Target {
    let contacts = format!("/bird/workspaces/{WORKSPACE}/contacts");
    Target {
        name: name.into(),
        base: base.into(),
        auth: format!("AccessKey {}", gateway_sandbox::BIRD_SANDBOX_KEY),
        get_paths: ids.iter().map(|id| format!("{contacts}/{id}")).collect(),
        list_path: format!("{contacts}?limit={LIST_SIZE}"),
        create_path: contacts.clone(),
        create_body: body.to_string(),
        proxy_pids: pids,
        pg_database: None,
    }
}

fn lua_str(s: &str) -> String {
    format!("[==[{s}]==]")
}

#[derive(Clone, Copy)]
enum Op {
    Create,
    Get,
    List,
}

impl Op {
    fn name(self) -> &'static str {
        match self {
            Op::Create => "create",
            Op::Get => "get",
            Op::List => "list (page of 50)",
        }
    }
}

struct Measure {
    requests: u64,
    errors: u64,
    rps: f64,
    p50_ms: f64,
    p99_ms: f64,
    proxy_us: Option<f64>,
    db_us: Option<f64>,
    sim_us: f64,
}

/// One wrk run of `secs` seconds; CPU time of the proxy and the simulator over the run.
async fn run_wrk(
    dir: &Path,
    t: &Target,
    op: Op,
    conns: usize,
    secs: u64,
    sim_pid: u32,
) -> anyhow::Result<Measure> {
    let (method, paths, body) = match op {
        Op::Create => ("POST", vec![t.create_path.clone()], Some(&t.create_body)),
        Op::Get => ("GET", t.get_paths.clone(), None),
        Op::List => ("GET", vec![t.list_path.clone()], None),
    };
    let mut lua = String::new();
    let tag = uuid::Uuid::new_v4().simple().to_string();
    writeln!(lua, "tag = {}\nmethod = {}", lua_str(&tag), lua_str(method))?;
    writeln!(
        lua,
        "headers = {{[\"Authorization\"] = {}, [\"Content-Type\"] = \"application/json\"}}",
        lua_str(&t.auth)
    )?;
    match body {
        Some(b) => writeln!(lua, "body = {}", lua_str(b))?,
        None => writeln!(lua, "body = nil")?,
    }
    lua.push_str("paths = {\n");
    for p in &paths {
        writeln!(lua, "  {},", lua_str(p))?;
    }
    lua.push_str("}\n");
    lua.push_str(LUA);
    let script = dir.join("bench.lua");
    std::fs::write(&script, lua)?;

    let db_pids = t.pg_database.as_deref().map(pg_backends);
    let db0 = db_pids.as_deref().map(cpu_us);
    let (proxy0, sim0) = (cpu_us(&t.proxy_pids), cpu_us(&[sim_pid]));
    let out = tokio::process::Command::new("wrk")
        .kill_on_drop(true)
        .arg(format!("-t{}", conns.min(2)))
        .arg(format!("-c{conns}"))
        .arg(format!("-d{secs}s"))
        .args(["--timeout", "10s", "-s"])
        .arg(&script)
        .arg(&t.base)
        .output()
        .await?;
    let (proxy1, sim1) = (cpu_us(&t.proxy_pids), cpu_us(&[sim_pid]));
    let db1 = db_pids.as_deref().map(cpu_us);
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text
        .lines()
        .find_map(|l| l.strip_prefix("WRKJSON "))
        .with_context(|| {
            format!(
                "wrk printed no summary: {text}{}",
                String::from_utf8_lossy(&out.stderr)
            )
        })?;
    let v: Value = serde_json::from_str(line)?;
    let n = v["requests"].as_u64().unwrap_or(0);
    let per = |us: u64| us as f64 / n.max(1) as f64;
    Ok(Measure {
        requests: n,
        errors: v["errors"].as_u64().unwrap_or(0),
        rps: n as f64 / (v["durationUs"].as_f64().unwrap_or(1.0) / 1e6),
        p50_ms: v["p50Us"].as_f64().unwrap_or(0.0) / 1000.0,
        p99_ms: v["p99Us"].as_f64().unwrap_or(0.0) / 1000.0,
        proxy_us: (!t.proxy_pids.is_empty()).then(|| per(proxy1.saturating_sub(proxy0))),
        db_us: db0.zip(db1).map(|(a, b)| per(b.saturating_sub(a))),
        sim_us: per(sim1.saturating_sub(sim0)),
    })
}

fn print_row(target: &str, op: Op, conns: usize, m: &Measure) {
    let us = |v: Option<f64>| v.map_or("—".into(), |u| format!("{u:.0}"));
    println!(
        "| {target} | {} | {conns} | {:.0} | {:.2} | {:.2} | {} / {} | {} | {} | {:.0} |",
        op.name(),
        m.rps,
        m.p50_ms,
        m.p99_ms,
        m.errors,
        m.requests,
        us(m.proxy_us),
        us(m.db_us),
        m.sim_us
    );
}

/// Median, min and max time from spawn to the first 200 of `/readyz`, in milliseconds, on
/// `existing` (already migrated) or, without it, on a fresh database per start.
async fn startup(
    http: &reqwest::Client,
    dir: &Path,
    existing: Option<&str>,
    pg: Option<&str>,
    created: &mut Vec<String>,
) -> anyhow::Result<(f64, f64, f64)> {
    let mut ms = Vec::new();
    for _ in 0..STARTS {
        let url = match existing {
            Some(db) => db.to_owned(),
            None => {
                let sub = dir.join(uuid::Uuid::new_v4().simple().to_string());
                std::fs::create_dir(&sub)?;
                let db = database(pg, &sub).await?;
                created.push(db.clone());
                db
            }
        };
        let port = free_port()?;
        let t = Instant::now();
        let mut p = serve(&url, dir, port, true, "startup")?;
        wait_ok(http, &format!("http://127.0.0.1:{port}/readyz"), &mut p).await?;
        ms.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    ms.sort_by(f64::total_cmp);
    Ok((ms[ms.len() / 2], ms[0], ms[ms.len() - 1]))
}

/// Drops the PostgreSQL databases this run made (SQLite files go with the temp folder).
async fn drop_databases(admin: Option<&str>, urls: &[String]) {
    let Some(admin) = admin else { return };
    let Ok(mut conn) = sqlx::PgConnection::connect(admin).await else {
        return;
    };
    for u in urls.iter().filter(|u| u.starts_with("postgres")) {
        if let Ok(url) = url::Url::parse(u) {
            let name = url.path().trim_start_matches('/');
            let _ = sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                .execute(&mut conn)
                .await;
        }
    }
    let _ = conn.close().await;
}

/// Ctrl-C or SIGTERM drops the run, and with it every child process (see [`Proc`]), so an
/// interrupted benchmark leaves no servers behind.
pub async fn requests(o: &Options) -> anyhow::Result<()> {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    tokio::select! {
        r = run(o) => r,
        _ = tokio::signal::ctrl_c() => bail!("interrupted"),
        _ = term.recv() => bail!("terminated"),
    }
}

async fn run(o: &Options) -> anyhow::Result<()> {
    tools(o.install_tools)?;
    gateway_binary()?;
    let dir = tempfile::tempdir()?;
    let d = dir.path();
    let http = reqwest::Client::new();
    let seeded = o.contacts.unwrap_or(1000);

    let sim_port = free_port()?;
    let sim_url = format!("http://127.0.0.1:{sim_port}");
    let mut cmd = gateway_command("sqlite::memory:", d)?;
    cmd.arg("sandbox")
        .env(
            "CRM_GATEWAY_SANDBOX_LISTEN",
            format!("127.0.0.1:{sim_port}"),
        )
        .stdout(Stdio::null())
        .stderr(log_file(d, "sandbox")?);
    let mut sim = Proc(cmd.spawn()?);
    wait_ok(&http, &format!("{sim_url}/bird/_sim/stats"), &mut sim).await?;
    json_call(
        http.post(format!("{sim_url}/bird/_sim/seed"))
            .json(&json!({"count": seeded, "returnIds": false})),
    )
    .await?;

    let mut stores = vec![("gateway-sqlite", None)];
    if let Some(pg) = &o.postgres {
        stores.push(("gateway-postgres", Some(pg.as_str())));
    }
    let mut gateways = Vec::new();
    let mut targets = Vec::new();
    let mut plan = Value::Null;
    let mut memory = Vec::new();
    for (name, pg) in &stores {
        let db = database(*pg, d).await?;
        let port = free_port()?;
        let mut p = serve(&db, d, port, true, name)?;
        let gw = format!("http://127.0.0.1:{port}");
        wait_ok(&http, &format!("{gw}/readyz"), &mut p).await?;
        let idle = status_kb(p.pid(), "VmRSS:");
        let (t, body) = gateway_target(&http, name, &gw, &sim_url, p.pid(), &db).await?;
        memory.push((name.to_string(), idle, status_kb(p.pid(), "VmRSS:")));
        plan = body;
        targets.push(t);
        gateways.push((p, db, *pg));
    }
    // The simulator's ids in the gateway's index order, so both sides read the same contacts.
    let mut ids = Vec::new();
    let mut token = String::new();
    loop {
        let page = json_call(
            http.get(format!("{sim_url}/bird/workspaces/{WORKSPACE}/contacts"))
                .header(
                    "authorization",
                    format!("AccessKey {}", gateway_sandbox::BIRD_SANDBOX_KEY),
                )
                .query(&[("limit", "100"), ("pageToken", token.as_str())]),
        )
        .await?;
        for c in page["results"].as_array().context("no results")? {
            ids.push(c["id"].as_str().context("no id")?.to_owned());
        }
        match page["nextPageToken"].as_str() {
            Some(t) if !t.is_empty() => token = t.to_owned(),
            _ => break,
        }
    }
    targets.push(bird_target("direct", &sim_url, &ids, &plan, Vec::new()));
    let nginx_port = free_port()?;
    let mut ngx = nginx(d, nginx_port, sim_port)?;
    let ngx_url = format!("http://127.0.0.1:{nginx_port}");
    wait_ok(&http, &format!("{ngx_url}/bird/_sim/stats"), &mut ngx).await?;
    let mut ngx_pids = vec![ngx.pid()];
    ngx_pids.extend(children(ngx.pid()));
    targets.push(bird_target("nginx", &ngx_url, &ids, &plan, ngx_pids));

    let secs = o.duration;
    let conns = &o.connections;
    println!(
        "\n== requests: {seeded} seeded Bird contacts, {secs} s per cell, connections {conns:?}, wrk threads = min(connections, 2) =="
    );
    let warm = secs.clamp(1, 2);
    for t in &targets {
        for op in [Op::Get, Op::List, Op::Create] {
            run_wrk(d, t, op, 16, warm, sim.pid()).await?;
        }
    }
    println!("| target | operation | connections | requests/s | p50 ms | p99 ms | errors / requests | proxy CPU µs/request | PostgreSQL server CPU µs/request | simulator CPU µs/request |");
    println!("|---|---|---|---|---|---|---|---|---|---|");
    let mut lines = Vec::new();
    for op in [Op::Get, Op::List, Op::Create] {
        for &c in conns {
            for t in &targets {
                let m = run_wrk(d, t, op, c, secs, sim.pid()).await?;
                print_row(&t.name, op, c, &m);
                lines.push(json!({"case": "requests", "target": t.name, "operation": op.name(), "connections": c,
                    "requests": m.requests, "errors": m.errors, "rps": m.rps, "p50Ms": m.p50_ms, "p99Ms": m.p99_ms,
                    "proxyCpuUsPerRequest": m.proxy_us, "postgresCpuUsPerRequest": m.db_us, "simulatorCpuUsPerRequest": m.sim_us}));
            }
        }
    }
    for l in lines {
        println!("{l}");
    }

    println!("\n| gateway | RSS idle after start | RSS after setup | peak RSS (VmHWM) | RSS after load |");
    println!("|---|---|---|---|---|");
    for ((name, idle, setup), (p, _, _)) in memory.iter().zip(&gateways) {
        println!(
            "| {name} | {:.1} MiB | {:.1} MiB | {:.1} MiB | {:.1} MiB |",
            mib(*idle),
            mib(*setup),
            mib(status_kb(p.pid(), "VmHWM:")),
            mib(status_kb(p.pid(), "VmRSS:"))
        );
    }

    // Start-up and the default budgets, with the tuned gateways stopped.
    let kept: Vec<(String, Option<&str>)> = gateways
        .drain(..)
        .map(|(p, db, pg)| {
            drop(p);
            (db, pg)
        })
        .collect();
    let mut created: Vec<String> = kept.iter().map(|(db, _)| db.clone()).collect();
    println!("\n| store | database | start-up to ready, median (min–max) of {STARTS} |");
    println!("|---|---|---|");
    for ((name, _), (db, pg)) in stores.iter().zip(&kept) {
        for (label, existing) in [
            ("migrated", Some(db.as_str())),
            ("fresh (migrations run)", None),
        ] {
            let (med, lo, hi) = startup(&http, d, existing, *pg, &mut created).await?;
            println!("| {name} | {label} | {med:.0} ms ({lo:.0}–{hi:.0}) |");
        }
    }

    // The shipped limits: inbound 50/s per tenant, 8 calls per credential, Bird's 50/s budget.
    let (db, _) = &kept[0];
    let port = free_port()?;
    let mut p = serve(db, d, port, false, "defaults")?;
    let gw = format!("http://127.0.0.1:{port}");
    wait_ok(&http, &format!("{gw}/readyz"), &mut p).await?;
    let name = "gateway-sqlite, default limits";
    let t = gateway_target(&http, name, &gw, &sim_url, p.pid(), db)
        .await?
        .0;
    let m = run_wrk(d, &t, Op::Get, 16, secs, sim.pid()).await?;
    println!("\nwith the default limits (errors are 429s):");
    print_row(&t.name, Op::Get, 16, &m);
    drop(p);
    drop(ngx);
    drop(sim);
    drop_databases(o.postgres.as_deref(), &created).await;
    Ok(())
}
