//! Helpers shared by the tests that run the real `crm-gateway` binary: the binary's path, a
//! command with no inherited `CRM_GATEWAY_*` settings, free ports, readiness polling, a fresh
//! PostgreSQL database per test, and JSON calls.
#![allow(dead_code, clippy::unwrap_used)]

use std::net::TcpListener;
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::Value;
use sqlx::Connection as _;

/// The binary under test.
pub const BIN: &str = env!("CARGO_BIN_EXE_crm-gateway");
/// A master key for test databases (32 bytes, base64).
pub const MASTER_KEY: &str = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=";

/// A port free on loopback right now.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// `crm-gateway` run in `dir`, configured only by what the test sets (the caller's
/// `CRM_GATEWAY_*` variables and `RUST_LOG` are removed).
pub fn command(dir: &std::path::Path) -> Command {
    let mut cmd = Command::new(BIN);
    cmd.current_dir(dir);
    for (k, _) in std::env::vars() {
        if k.starts_with("CRM_GATEWAY_") {
            cmd.env_remove(k);
        }
    }
    cmd.env_remove("RUST_LOG");
    // Tests run many gateways at once; the one that checks metrics sets its own port.
    cmd.env("CRM_GATEWAY_METRICS_LISTEN", "");
    cmd
}

/// Waits until `url` answers 2xx (or 404: the server is up), at most 30 s.
pub async fn wait_ready(url: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Ok(r) = reqwest::get(url).await {
            if r.status().is_success() || r.status().as_u16() == 404 {
                return;
            }
        }
        assert!(Instant::now() < deadline, "{url} never became ready");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Waits until the gateway at `api` answers `/healthz`.
pub async fn wait_healthy(api: &str) {
    wait_ready(&format!("{api}/healthz")).await;
}

/// A fresh database on the test PostgreSQL server, or `None` after saying on stderr why
/// `what` is skipped. Panics when `CRM_GATEWAY_REQUIRE_POSTGRES=1` and none is reachable.
pub async fn fresh_postgres(what: &str) -> Option<FreshPostgres> {
    let required = std::env::var("CRM_GATEWAY_REQUIRE_POSTGRES").is_ok_and(|v| v == "1");
    let Ok(admin) = std::env::var("CRM_GATEWAY_TEST_POSTGRES_URL") else {
        assert!(
            !required,
            "CRM_GATEWAY_REQUIRE_POSTGRES=1 but CRM_GATEWAY_TEST_POSTGRES_URL is not set"
        );
        eprintln!("{what} SKIPPED: CRM_GATEWAY_TEST_POSTGRES_URL is not set (it needs PostgreSQL)");
        return None;
    };
    let mut conn = match sqlx::PgConnection::connect(&admin).await {
        Ok(c) => c,
        Err(e) => {
            assert!(
                !required,
                "PostgreSQL at CRM_GATEWAY_TEST_POSTGRES_URL is unreachable: {e}"
            );
            eprintln!("{what} SKIPPED: PostgreSQL unreachable: {e}");
            return None;
        }
    };
    let name = format!("crm_bin_{}", uuid::Uuid::new_v4().simple());
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&mut conn)
        .await
        .unwrap();
    let _ = conn.close().await;
    let mut url = url::Url::parse(&admin).unwrap();
    url.set_path(&format!("/{name}"));
    Some(FreshPostgres {
        url: url.to_string(),
        admin,
        name,
    })
}

/// A database made by [`fresh_postgres`]: derefs to its URL, and is dropped (any connection
/// left open ended) with the value, so test runs do not fill the cluster.
pub struct FreshPostgres {
    /// URL of the database.
    pub url: String,
    admin: String,
    name: String,
}

impl std::ops::Deref for FreshPostgres {
    type Target = String;

    fn deref(&self) -> &String {
        &self.url
    }
}

impl Drop for FreshPostgres {
    fn drop(&mut self) {
        let (admin, name) = (self.admin.clone(), self.name.clone());
        // Drop cannot await: a thread with a runtime of its own does the work.
        let outcome = std::thread::spawn(move || -> Result<(), String> {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| e.to_string())?;
            rt.block_on(async {
                let mut conn = sqlx::PgConnection::connect(&admin)
                    .await
                    .map_err(|e| e.to_string())?;
                sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                    .execute(&mut conn)
                    .await
                    .map_err(|e| e.to_string())?;
                let _ = conn.close().await;
                Ok(())
            })
        })
        .join();
        if !matches!(outcome, Ok(Ok(()))) {
            eprintln!("test database {} was not dropped: {outcome:?}", self.name);
        }
    }
}

/// Sends `req` and reads its JSON answer.
pub async fn json(req: reqwest::RequestBuilder) -> Value {
    req.send().await.unwrap().json().await.unwrap()
}
