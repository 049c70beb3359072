//! `crm-gateway reconcile --credential ID`, the real binary: one pass in the foreground, the run
//! summary as one JSON line on stdout, exit 0 when it succeeded and 1 when the mass-deletion
//! brake held it.
#![allow(clippy::unwrap_used)]

use std::process::Command;

use gateway_core::{CredentialId, ProviderKind};
use gateway_store::{Cipher, NewCredential, Store};
use secrecy::SecretString;
use serde_json::{json, Value};

mod common;

use common::{BIN, MASTER_KEY};

/// Runs the command off the async workers: the simulator answering it lives in this process.
async fn reconcile(
    dir: &std::path::Path,
    db: &str,
    cred: &str,
) -> (Value, std::process::ExitStatus) {
    let (dir, db, cred) = (dir.to_owned(), db.to_owned(), cred.to_owned());
    tokio::task::spawn_blocking(move || reconcile_blocking(&dir, &db, &cred))
        .await
        .unwrap()
}

fn reconcile_blocking(
    dir: &std::path::Path,
    db: &str,
    cred: &str,
) -> (Value, std::process::ExitStatus) {
    let mut cmd = Command::new(BIN);
    for (k, _) in std::env::vars() {
        if k.starts_with("CRM_GATEWAY_") {
            cmd.env_remove(k);
        }
    }
    let out = cmd
        .current_dir(dir)
        .args(["reconcile", "--credential", cred])
        .env("CRM_GATEWAY_DATABASE_URL", db)
        .env("CRM_GATEWAY_MASTER_KEY", MASTER_KEY)
        .env("CRM_GATEWAY_ALLOW_PRIVATE_BASE_URLS", "true")
        .env("CRM_GATEWAY_RECONCILE__MAX_PAGES_PER_SECOND", "0")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let line = stdout.lines().last().unwrap_or_default();
    let summary: Value = serde_json::from_str(line).unwrap_or_else(|_| {
        panic!(
            "no JSON summary; stdout: {stdout}; stderr: {}",
            String::from_utf8_lossy(&out.stderr)
        )
    });
    (summary, out.status)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_pass_in_the_foreground_prints_its_summary_and_fails_when_held() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}/bird", listener.local_addr().unwrap());
    tokio::spawn(gateway_sandbox::serve(listener, std::future::pending()));
    let http = reqwest::Client::new();
    let seeded: Value = http
        .post(format!("{base}/_sim/seed"))
        .json(&json!({"count": 140}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let ids: Vec<String> = seeded["remoteIds"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_owned())
        .collect();

    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}/g.db?mode=rwc", dir.path().display());
    let store = Store::connect(
        &db,
        Cipher::from_base64(&SecretString::from(MASTER_KEY.to_owned())).unwrap(),
    )
    .await
    .unwrap();
    store.migrate().await.unwrap();
    let (tenant, _) = store.create_tenant("cli").await.unwrap();
    let cred = CredentialId::generate();
    store
        .create_credential(
            &tenant.id,
            NewCredential {
                id: cred.clone(),
                provider: ProviderKind::Bird,
                name: "cli".into(),
                settings: json!({"workspaceId": gateway_sandbox::BIRD_SANDBOX_WORKSPACE, "baseUrl": base}),
                tags: Default::default(),
                secret: SecretString::from(gateway_sandbox::BIRD_SANDBOX_KEY.to_owned()),
            },
        )
        .await
        .unwrap();
    store.close().await;

    let (summary, status) = reconcile(dir.path(), &db, cred.as_str()).await;
    assert!(status.success(), "{summary}");
    assert_eq!(summary["status"], "succeeded");
    assert_eq!(summary["trigger"], "cli");
    assert_eq!(summary["discovered"], 140);
    assert_eq!(summary["pagesFetched"], 2);
    assert_eq!(summary["providerCalls"], 2);

    // 40 of 140 vanish: the brake holds the run and the command fails.
    for id in &ids[..40] {
        http.delete(format!("{base}/_sim/contacts/{id}"))
            .send()
            .await
            .unwrap();
    }
    let (summary, status) = reconcile(dir.path(), &db, cred.as_str()).await;
    assert_eq!(status.code(), Some(1), "{summary}");
    assert_eq!(summary["status"], "held");
    assert_eq!(summary["flagged"], 0);
    assert_eq!(summary["candidates"], 40);

    // An unknown credential is an error, not a silent success.
    let out = Command::new(BIN)
        .current_dir(dir.path())
        .args([
            "reconcile",
            "--credential",
            CredentialId::generate().as_str(),
        ])
        .env("CRM_GATEWAY_DATABASE_URL", &db)
        .env("CRM_GATEWAY_MASTER_KEY", MASTER_KEY)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("no credential"));
    // Which database was searched, so a wrong CRM_GATEWAY_DATABASE_URL is obvious.
    assert!(
        stderr.contains(&dir.path().join("g.db").display().to_string()),
        "{stderr}"
    );
}
