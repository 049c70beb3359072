//! What a new operator sees from the real `crm-gateway` binary, step by step: the sandbox's
//! accounts at start, which database a command wrote to, a master key that does not fit the
//! database refused at start, master-key rotation, the admin token rules, `listen` with a host
//! name, and database and configuration errors printed once, clearly, and as JSON when asked.
#![allow(clippy::unwrap_used)]

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

mod common;

use common::{command, free_port, fresh_postgres, wait_healthy, MASTER_KEY};

/// Another valid master key (32 bytes), for "the wrong key" and rotation.
const OTHER_KEY: &str = "ZmVkY2JhOTg3NjU0MzIxMGZlZGNiYTk4NzY1NDMyMTA=";
const ADMIN: &str = "an-admin-token-of-enough-length";

fn terminate(child: &mut Child) {
    let _ = Command::new("kill")
        .arg("-TERM")
        .arg(child.id().to_string())
        .status();
    let deadline = Instant::now() + Duration::from_secs(15);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn sqlite_url(dir: &std::path::Path) -> String {
    format!("sqlite://{}?mode=rwc", dir.join("gateway.db").display())
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// `serve` on a free port with `env`; answers the process and its API root once healthy.
async fn serve(dir: &std::path::Path, env: &[(&str, &str)]) -> (Child, String) {
    let port = free_port();
    let mut cmd = command(dir);
    cmd.arg("serve")
        .env("CRM_GATEWAY_LISTEN", format!("127.0.0.1:{port}"))
        .env("CRM_GATEWAY_ALLOW_PRIVATE_BASE_URLS", "true")
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let child = cmd.spawn().unwrap();
    let api = format!("http://127.0.0.1:{port}");
    wait_healthy(&api).await;
    (child, api)
}

/// `crm-gateway sandbox` on a free port: the process and the `POST /credentials` bodies it
/// printed, one per provider.
fn sandbox(dir: &std::path::Path) -> (Child, String, Vec<Value>) {
    let port = free_port();
    let mut child = command(dir)
        .arg("sandbox")
        .env("CRM_GATEWAY_SANDBOX_LISTEN", format!("127.0.0.1:{port}"))
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut text = String::new();
    let mut bodies = Vec::new();
    while bodies.len() < 3 {
        let line = lines.next().expect("the sandbox stopped printing").unwrap();
        if let Some(body) = line.trim().strip_prefix("POST /credentials body: ") {
            bodies.push(serde_json::from_str(body).unwrap());
        }
        text.push_str(&line);
        text.push('\n');
    }
    std::thread::spawn(move || for _ in lines {});
    (child, text, bodies)
}

#[tokio::test]
async fn the_sandbox_prints_accounts_that_work_and_tenant_create_says_where_it_wrote() {
    let dir = tempfile::tempdir().unwrap();
    let (mut sim, text, bodies) = sandbox(dir.path());
    for shown in [
        "bird-sandbox-key",
        "AccessKey",
        "2d7d5b6e-0000-4000-8000-000000000001",
        "karia-sandbox-key",
        "organisationId = 1",
        "iclosed_sandbox_key",
        "/iclosed",
    ] {
        assert!(text.contains(shown), "{shown} missing:\n{text}");
    }
    let url = sqlite_url(dir.path());
    let created = command(dir.path())
        .args(["tenant", "create", "Acme"])
        .env("CRM_GATEWAY_DATABASE_URL", &url)
        .output()
        .unwrap();
    assert!(created.status.success(), "{}", stderr(&created));
    let tenant: Value = serde_json::from_slice(&created.stdout).unwrap();
    assert!(stderr(&created).contains(&dir.path().join("gateway.db").display().to_string()));

    // The printed accounts, pasted as they are, make verified credentials.
    let (mut gw, api) = serve(
        dir.path(),
        &[
            ("CRM_GATEWAY_DATABASE_URL", &url),
            ("CRM_GATEWAY_MASTER_KEY", MASTER_KEY),
            ("CRM_GATEWAY_ADMIN_TOKEN", ADMIN),
        ],
    )
    .await;
    let http = reqwest::Client::new();
    let key = tenant["apiKey"].as_str().unwrap();
    for body in &bodies {
        let r = http
            .post(format!("{api}/credentials?verify=true"))
            .bearer_auth(key)
            .json(body)
            .send()
            .await
            .unwrap();
        let status = r.status();
        assert_eq!(status, 201, "{body}: {}", r.text().await.unwrap());
    }
    // The keyId printed by the CLI is the one the admin API knows.
    let keys: Value = http
        .get(format!(
            "{api}/admin/tenants/{}/keys",
            tenant["tenantId"].as_str().unwrap()
        ))
        .bearer_auth(ADMIN)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(keys["keys"][0]["keyId"], tenant["keyId"], "{keys}");
    terminate(&mut gw);
    terminate(&mut sim);
}

#[test]
fn tenant_create_without_a_database_url_says_it_used_the_default_file() {
    let dir = tempfile::tempdir().unwrap();
    let out = command(dir.path())
        .args(["tenant", "create", "Acme"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let err = stderr(&out);
    let file = dir.path().join("data/crm-gateway.db");
    assert!(file.is_file());
    assert!(err.contains(&file.display().to_string()), "{err}");
    assert!(err.contains("CRM_GATEWAY_DATABASE_URL"), "{err}");
}

#[tokio::test]
async fn serve_refuses_a_master_key_that_does_not_fit_the_database() {
    let dir = tempfile::tempdir().unwrap();
    let url = sqlite_url(dir.path());
    let (mut gw, _) = serve(
        dir.path(),
        &[
            ("CRM_GATEWAY_DATABASE_URL", &url),
            ("CRM_GATEWAY_MASTER_KEY", MASTER_KEY),
        ],
    )
    .await;
    terminate(&mut gw);

    // Another key under the same version: refused at start, naming the version and the
    // variable, before any credential exists.
    let out = command(dir.path())
        .arg("serve")
        .env("CRM_GATEWAY_LISTEN", format!("127.0.0.1:{}", free_port()))
        .env("CRM_GATEWAY_DATABASE_URL", &url)
        .env("CRM_GATEWAY_MASTER_KEY", OTHER_KEY)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(err.contains("master key version 1"), "{err}");
    assert!(err.contains("CRM_GATEWAY_MASTER_KEY"), "{err}");
    assert!(
        !err.contains(OTHER_KEY) && !err.contains(MASTER_KEY),
        "{err}"
    );
    assert_eq!(err.trim().lines().count(), 1, "printed once: {err}");

    // The right key in its URL-safe, unpadded form is the same key.
    let url_safe = MASTER_KEY
        .replace('+', "-")
        .replace('/', "_")
        .replace('=', "");
    let (mut gw, _) = serve(
        dir.path(),
        &[
            ("CRM_GATEWAY_DATABASE_URL", &url),
            ("CRM_GATEWAY_MASTER_KEY", &url_safe),
        ],
    )
    .await;
    terminate(&mut gw);
}

fn rotate(dir: &std::path::Path, env: &[(&str, &str)]) -> (Output, Value) {
    let mut cmd = command(dir);
    cmd.arg("rotate-master-key");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().unwrap();
    let summary = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
    (out, summary)
}

#[tokio::test]
async fn rotate_master_key_reseals_every_secret_once_and_reports_what_it_cannot_open() {
    let dir = tempfile::tempdir().unwrap();
    let url = sqlite_url(dir.path());
    let (mut sim, _, bodies) = sandbox(dir.path());
    let created = command(dir.path())
        .args(["tenant", "create", "Acme"])
        .env("CRM_GATEWAY_DATABASE_URL", &url)
        .output()
        .unwrap();
    let tenant: Value = serde_json::from_slice(&created.stdout).unwrap();
    let key = tenant["apiKey"].as_str().unwrap().to_owned();
    let (mut gw, api) = serve(
        dir.path(),
        &[
            ("CRM_GATEWAY_DATABASE_URL", &url),
            ("CRM_GATEWAY_MASTER_KEY", MASTER_KEY),
        ],
    )
    .await;
    let http = reqwest::Client::new();
    let cred: Value = http
        .post(format!("{api}/credentials"))
        .bearer_auth(&key)
        .json(&bodies[0])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let cred = cred["credential"]["id"].as_str().unwrap().to_owned();
    terminate(&mut gw);

    // Version 2 current, version 1 kept (URL-safe without padding: every form is accepted).
    let old_url_safe = MASTER_KEY
        .replace('+', "-")
        .replace('/', "_")
        .replace('=', "");
    let v2 = [
        ("CRM_GATEWAY_DATABASE_URL", url.as_str()),
        ("CRM_GATEWAY_MASTER_KEY", OTHER_KEY),
        ("CRM_GATEWAY_MASTER_KEY_VERSION", "2"),
        ("CRM_GATEWAY_PREVIOUS_MASTER_KEYS__1", old_url_safe.as_str()),
    ];
    let (out, first) = rotate(dir.path(), &v2);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(first["currentKeyVersion"], 2, "{first}");
    assert_eq!(first["resealed"], 1, "{first}");
    assert_eq!(first["skipped"], 0, "{first}");
    assert!(stderr(&out).contains(&dir.path().join("gateway.db").display().to_string()));
    let (_, again) = rotate(dir.path(), &v2);
    assert_eq!(again["resealed"], 0, "idempotent: {again}");
    assert_eq!(
        again["secretsByKeyVersion"],
        json!([{"keyVersion": 2, "secrets": 1}])
    );

    // The old key retired: the gateway starts with version 2 alone and the secret opens.
    let (mut gw, api) = serve(
        dir.path(),
        &[
            ("CRM_GATEWAY_DATABASE_URL", &url),
            ("CRM_GATEWAY_MASTER_KEY", OTHER_KEY),
            ("CRM_GATEWAY_MASTER_KEY_VERSION", "2"),
        ],
    )
    .await;
    let check: Value = http
        .post(format!("{api}/credentials/{cred}/check"))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(check["health"], "ok", "{check}");
    terminate(&mut gw);

    // A wrong key for the current version: refused, nothing changed.
    let (out, _) = rotate(
        dir.path(),
        &[
            ("CRM_GATEWAY_DATABASE_URL", &url),
            ("CRM_GATEWAY_MASTER_KEY", MASTER_KEY),
            ("CRM_GATEWAY_MASTER_KEY_VERSION", "2"),
        ],
    );
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("refusing to re-seal"),
        "{}",
        stderr(&out)
    );

    // A wrong key for an older version: that secret is skipped and reported by id, exit 1.
    let (out, report) = rotate(
        dir.path(),
        &[
            ("CRM_GATEWAY_DATABASE_URL", &url),
            ("CRM_GATEWAY_MASTER_KEY", MASTER_KEY),
            ("CRM_GATEWAY_MASTER_KEY_VERSION", "3"),
            ("CRM_GATEWAY_PREVIOUS_MASTER_KEYS__2", MASTER_KEY),
        ],
    );
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert_eq!(report["resealed"], 0, "{report}");
    assert_eq!(report["skipped"], 1, "{report}");
    assert_eq!(
        report["skippedCredentials"][0]["credentialId"],
        cred.as_str()
    );
    assert!(!String::from_utf8_lossy(&out.stdout).contains("bird-sandbox-key"));
    terminate(&mut sim);
}

#[tokio::test]
async fn an_empty_admin_token_is_unset_and_a_short_one_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let url = sqlite_url(dir.path());
    let (mut gw, api) = serve(
        dir.path(),
        &[
            ("CRM_GATEWAY_DATABASE_URL", &url),
            ("CRM_GATEWAY_MASTER_KEY", MASTER_KEY),
            ("CRM_GATEWAY_ADMIN_TOKEN", ""),
        ],
    )
    .await;
    let r = reqwest::Client::new()
        .post(format!("{api}/admin/tenants"))
        .bearer_auth("anything")
        .json(&json!({"name": "x"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404, "the admin API is off");
    terminate(&mut gw);

    let out = command(dir.path())
        .arg("serve")
        .env("CRM_GATEWAY_DATABASE_URL", &url)
        .env("CRM_GATEWAY_MASTER_KEY", MASTER_KEY)
        .env("CRM_GATEWAY_ADMIN_TOKEN", "x")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(
        err.contains("CRM_GATEWAY_ADMIN_TOKEN") && err.contains("16"),
        "{err}"
    );
    assert!(!err.contains("\"x\""), "{err}");
}

#[tokio::test]
async fn listen_takes_a_host_name_or_says_what_it_wants() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let mut gw = command(dir.path())
        .arg("serve")
        .env("CRM_GATEWAY_LISTEN", format!("localhost:{port}"))
        .env("CRM_GATEWAY_DATABASE_URL", sqlite_url(dir.path()))
        .env("CRM_GATEWAY_MASTER_KEY", MASTER_KEY)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_healthy(&format!("http://127.0.0.1:{port}")).await;
    terminate(&mut gw);

    for (listen, says) in [
        ("nohost.invalid:8080", "does not resolve"),
        ("8080", "only a port"),
        ("localhost", "no port"),
    ] {
        let out = command(dir.path())
            .arg("serve")
            .env("CRM_GATEWAY_LISTEN", listen)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2));
        let err = stderr(&out);
        assert!(
            err.contains("listen") && err.contains(says),
            "{listen}: {err}"
        );
        assert!(err.contains("CRM_GATEWAY_LISTEN"), "{err}");
    }
}

#[test]
fn database_errors_are_clear_and_printed_once() {
    let dir = tempfile::tempdir().unwrap();
    // SQLite without ?mode=rwc and no file yet: the fix is named.
    let out = command(dir.path())
        .arg("migrate")
        .env(
            "CRM_GATEWAY_DATABASE_URL",
            format!("sqlite://{}", dir.path().join("missing.db").display()),
        )
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(err.contains("?mode=rwc"), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "{err}");

    // PostgreSQL where nothing listens: refused at once, with host and port.
    let port = free_port();
    let out = command(dir.path())
        .arg("migrate")
        .env(
            "CRM_GATEWAY_DATABASE_URL",
            format!("postgres://u:secret-pw@127.0.0.1:{port}/db"),
        )
        .output()
        .unwrap();
    // "At once" is shown by the error (refused, not a timeout), not by a time bound.
    let err = stderr(&out);
    assert!(
        err.contains(&format!("connection refused to 127.0.0.1:{port}")),
        "{err}"
    );
    assert!(!err.contains("secret-pw"), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    // No sentence repeated within the line.
    let first = err.find("connection refused").unwrap();
    assert!(!err[first + 1..].contains("connection refused"), "{err}");

    // Under --log-format json every line on stderr is JSON, the fatal error included.
    let out = command(dir.path())
        .args(["--log-format", "json", "migrate"])
        .env(
            "CRM_GATEWAY_DATABASE_URL",
            format!("postgres://u:p@127.0.0.1:{port}/db"),
        )
        .output()
        .unwrap();
    let err = stderr(&out);
    let lines: Vec<Value> = err
        .trim()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|_| panic!("not JSON: {l}")))
        .collect();
    assert_eq!(lines.len(), 1, "{err}");
    assert_eq!(lines[0]["level"], "ERROR");
    assert!(lines[0]["fields"]["error"]
        .as_str()
        .unwrap()
        .contains("connection refused"));

    // A configuration error before the log format is known from the file: JSON too.
    let out = command(dir.path())
        .args(["--log-format", "json", "migrate"])
        .env("CRM_GATEWAY_API__MAX_BODY_BYTES", "12")
        .output()
        .unwrap();
    let err = stderr(&out);
    let v: Value = serde_json::from_str(err.trim()).unwrap_or_else(|_| panic!("{err}"));
    assert!(v["fields"]["error"]
        .as_str()
        .unwrap()
        .contains("api.max_body_bytes"));
}

#[test]
fn config_errors_name_keys_as_written() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("gw.toml"), "[api]\nmax_body_byte = 3\n").unwrap();
    let out = command(dir.path())
        .args(["--config", "gw.toml", "migrate"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(err.contains("api.max_body_byte:"), "{err}");
    assert!(err.contains("gw.toml"), "{err}");
    assert!(!err.contains("default."), "{err}");

    let out = command(dir.path())
        .arg("migrate")
        .env("CRM_GATEWAY_API__MAX_BODY_BYTES", "12")
        .output()
        .unwrap();
    let err = stderr(&out);
    assert!(
        err.contains("api.max_body_bytes must be at least 1024"),
        "{err}"
    );

    // A silent client may hold a connection at most 30 s.
    let out = command(dir.path())
        .arg("migrate")
        .env("CRM_GATEWAY_API__CONNECTIONS__HEADER_READ_TIMEOUT", "5m")
        .output()
        .unwrap();
    let err = stderr(&out);
    assert!(
        err.contains("header_read_timeout must be between 1ms and 30s"),
        "{err}"
    );

    // A secret setting of the wrong type is named, its value never repeated.
    let out = command(dir.path())
        .arg("migrate")
        .env("CRM_GATEWAY_ADMIN_TOKEN", "9876543210987654")
        .output()
        .unwrap();
    let err = stderr(&out);
    assert!(err.contains("admin_token"), "{err}");
    assert!(!err.contains("9876543210987654"), "{err}");
}

#[tokio::test]
async fn postgres_commands_print_no_server_notices() {
    let Some(url) = fresh_postgres("postgres_commands_print_no_server_notices").await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    for _ in 0..2 {
        let out = command(dir.path())
            .arg("migrate")
            .env("CRM_GATEWAY_DATABASE_URL", url.as_str())
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", stderr(&out));
        let err = stderr(&out);
        assert!(!err.contains("already exists, skipping"), "{err}");
        assert!(!err.contains("NOTICE") && !err.contains("notice"), "{err}");
    }
}
