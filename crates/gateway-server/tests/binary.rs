//! The real `crm-gateway` binary as an operator runs it: separate `sandbox` and `serve`
//! processes configured by environment, JSON logs, SIGTERM, and a search for secrets in the
//! logs and the database file afterwards.
#![allow(clippy::unwrap_used)]

use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

mod common;

use common::{command, free_port, wait_ready, MASTER_KEY};

fn terminate(child: &mut Child) -> std::process::ExitStatus {
    let _ = Command::new("kill")
        .arg("-TERM")
        .arg(child.id().to_string())
        .status();
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            return child.wait().unwrap();
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn tenant_create_prints_one_json_line() {
    let dir = tempfile::tempdir().unwrap();
    let out = command(dir.path())
        .args(["tenant", "create", "Acme"])
        .env(
            "CRM_GATEWAY_DATABASE_URL",
            format!("sqlite://{}/g.db?mode=rwc", dir.path().display()),
        )
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert_eq!(stdout.lines().count(), 1, "{stdout}");
    assert!(
        stdout.starts_with("{\"tenantId\":"),
        "the contract's field order: {stdout}"
    );
    let v: Value = serde_json::from_str(stdout.trim()).unwrap();
    assert!(v["tenantId"].as_str().unwrap().starts_with("ten_"));
    // The key's id comes with it (revoking is by id), between tenantId and apiKey.
    assert!(v["keyId"].as_str().unwrap().starts_with("key_"), "{stdout}");
    assert!(stdout.find("\"keyId\"").unwrap() < stdout.find("\"apiKey\"").unwrap());
    // Which database it wrote to, on stderr.
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&dir.path().join("g.db").display().to_string()),
        "{stderr}"
    );
    assert!(v["apiKey"].as_str().unwrap().len() >= 43);
}

#[test]
fn serve_refuses_to_start_without_a_master_key() {
    let dir = tempfile::tempdir().unwrap();
    let out = command(dir.path())
        .arg("serve")
        .env(
            "CRM_GATEWAY_DATABASE_URL",
            format!("sqlite://{}/g.db?mode=rwc", dir.path().display()),
        )
        .env("CRM_GATEWAY_LISTEN", format!("127.0.0.1:{}", free_port()))
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("CRM_GATEWAY_MASTER_KEY"));

    let bad = command(dir.path())
        .arg("serve")
        .env("CRM_GATEWAY_MASTER_KEY", "c2hvcnQ=")
        .output()
        .unwrap();
    assert!(!bad.status.success());
    let stderr = String::from_utf8_lossy(&bad.stderr);
    assert!(stderr.contains("32 bytes"), "{stderr}");
    assert!(!stderr.contains("c2hvcnQ="));

    let missing_file = command(dir.path())
        .args(["--config", "nope.toml", "migrate"])
        .output()
        .unwrap();
    assert!(!missing_file.status.success());
}

#[tokio::test]
async fn serve_and_sandbox_as_processes_keep_secrets_out_of_logs_and_database() {
    let dir = tempfile::tempdir().unwrap();
    let sandbox_port = free_port();
    let api_port = free_port();
    let db_path = dir.path().join("gateway.db");
    let admin = "admin-token-for-binary-test";

    let mut sandbox = command(dir.path())
        .arg("sandbox")
        .env(
            "CRM_GATEWAY_SANDBOX_LISTEN",
            format!("127.0.0.1:{sandbox_port}"),
        )
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let migrate = command(dir.path())
        .arg("migrate")
        .env(
            "CRM_GATEWAY_DATABASE_URL",
            format!("sqlite://{}?mode=rwc", db_path.display()),
        )
        .output()
        .unwrap();
    assert!(
        migrate.status.success(),
        "{}",
        String::from_utf8_lossy(&migrate.stderr)
    );
    let mut serve = command(dir.path())
        .args(["serve", "--log-format", "json"])
        .env("CRM_GATEWAY_LISTEN", format!("127.0.0.1:{api_port}"))
        .env(
            "CRM_GATEWAY_DATABASE_URL",
            format!("sqlite://{}?mode=rwc", db_path.display()),
        )
        .env("CRM_GATEWAY_MASTER_KEY", MASTER_KEY)
        .env("CRM_GATEWAY_ADMIN_TOKEN", admin)
        .env("CRM_GATEWAY_ALLOW_PRIVATE_BASE_URLS", "true")
        .env("RUST_LOG", "trace,hyper=info,h2=info,rustls=info,sqlx=info")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let api = format!("http://127.0.0.1:{api_port}");
    wait_ready(&format!("{api}/readyz")).await;
    wait_ready(&format!("http://127.0.0.1:{sandbox_port}/bird/_sim/stats")).await;

    let http = reqwest::Client::new();
    let tenant: Value = http
        .post(format!("{api}/admin/tenants"))
        .bearer_auth(admin)
        .json(&json!({"name": "ops"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let key = tenant["apiKey"].as_str().unwrap().to_owned();
    let cred: Value = http
        .post(format!("{api}/credentials?verify=true"))
        .bearer_auth(&key)
        .json(&json!({"provider": "bird", "name": "b", "secret": "bird-sandbox-key",
                      "settings": {"workspaceId": "2d7d5b6e-0000-4000-8000-000000000001", "baseUrl": format!("http://127.0.0.1:{sandbox_port}/bird")}}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let cred_id = cred["credential"]["id"].as_str().unwrap().to_owned();
    let created = http
        .post(format!("{api}/crm/contacts?credentialId={cred_id}"))
        .bearer_auth(&key)
        .header("x-request-id", "binary-test-req-1")
        .json(&json!({"firstName": "Log", "lastName": "Secret"}))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 200);
    assert_eq!(created.headers()["x-request-id"], "binary-test-req-1");
    // a rejected key travels through the error path too
    let rotate = http
        .patch(format!("{api}/credentials/{cred_id}"))
        .bearer_auth(&key)
        .json(&json!({"secret": "rotated-wrong-secret-xyz"}))
        .send()
        .await
        .unwrap();
    assert_eq!(rotate.status(), 200);
    let refused = http
        .get(format!("{api}/crm/contacts?credentialId={cred_id}"))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 502);

    let status = terminate(&mut serve);
    assert!(
        status.success(),
        "serve did not exit cleanly on SIGTERM: {status:?}"
    );
    let mut logs = String::new();
    serve
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut logs)
        .unwrap();
    terminate(&mut sandbox);

    assert!(
        logs.contains("binary-test-req-1"),
        "request id missing from logs"
    );
    assert!(
        logs.lines()
            .filter(|l| !l.trim().is_empty())
            .all(|l| serde_json::from_str::<Value>(l).is_ok()),
        "--log-format json wrote a non-JSON line"
    );
    for secret in [
        "bird-sandbox-key",
        "rotated-wrong-secret-xyz",
        MASTER_KEY,
        admin,
        key.as_str(),
    ] {
        assert!(!logs.contains(secret), "a secret leaked into the logs");
    }
    let mut db = std::fs::read(&db_path).unwrap();
    if let Ok(wal) = std::fs::read(format!("{}-wal", db_path.display())) {
        db.extend(wal);
    }
    let db = String::from_utf8_lossy(&db);
    for secret in ["bird-sandbox-key", "rotated-wrong-secret-xyz", key.as_str()] {
        assert!(
            !db.contains(secret),
            "a secret is stored in clear in the database"
        );
    }
}

#[tokio::test]
async fn demo_prints_a_working_first_call() {
    let dir = tempfile::tempdir().unwrap();
    let mut demo = command(dir.path())
        .args(["demo", "--data-dir", "demo-data"])
        .env("CRM_GATEWAY_LISTEN", "127.0.0.1:0")
        .env("CRM_GATEWAY_SANDBOX_LISTEN", "127.0.0.1:0")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = demo.stdout.take().unwrap();
    let lines = tokio::task::spawn_blocking(move || {
        let mut lines = Vec::new();
        let mut reader = BufReader::new(stdout).lines();
        for line in reader.by_ref() {
            let line = line.unwrap();
            let done = line.contains("Press Ctrl-C");
            lines.push(line);
            if done {
                break;
            }
        }
        // Keep draining so the demo never writes into a closed pipe.
        std::thread::spawn(move || for _ in reader {});
        lines
    })
    .await
    .unwrap();
    let text = lines.join("\n");
    // The sandbox's accounts, for pointing more credentials at it.
    for shown in [
        "Sandbox accounts",
        "bird-sandbox-key",
        "2d7d5b6e-0000-4000-8000-000000000001",
        "karia-sandbox-key",
        "organisationId",
        "iclosed_sandbox_key",
    ] {
        assert!(
            text.contains(shown),
            "{shown} missing from the banner:\n{text}"
        );
    }
    let export = lines
        .iter()
        .find(|l| l.starts_with("export API="))
        .expect("export line");
    let mut api = String::new();
    let mut key = String::new();
    let mut cred = String::new();
    for part in export.trim_start_matches("export ").split_whitespace() {
        let (k, v) = part.split_once('=').unwrap();
        match k {
            "API" => api = v.to_owned(),
            "KEY" => key = v.to_owned(),
            "CRED" => cred = v.to_owned(),
            _ => {}
        }
    }
    assert!(text.contains("curl"), "{text}");
    let r = reqwest::Client::new()
        .get(format!("{api}/crm/contacts?credentialId={cred}"))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let body: Value = r.json().await.unwrap();
    assert!(
        !body["contacts"].as_array().unwrap().is_empty(),
        "the demo contact is missing"
    );
    let status = terminate(&mut demo);
    let mut stderr = String::new();
    if let Some(mut e) = demo.stderr.take() {
        let _ = e.read_to_string(&mut stderr);
    }
    assert!(status.success(), "{status:?}\n{stderr}");
    assert!(dir.path().join("demo-data/master.key").is_file());
}
