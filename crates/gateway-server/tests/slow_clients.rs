//! Slow and silent clients against the real binary: hundreds of connections that never finish
//! their headers do not stop `/healthz` from answering and are closed after the header-read
//! timeout; open connections are capped; a body that never arrives ends in 408.
#![allow(clippy::unwrap_used)]

mod common;

use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use common::{command, free_port, wait_healthy, MASTER_KEY};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

struct Serve {
    child: Child,
    addr: String,
    _dir: tempfile::TempDir,
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn serve(extra: &[(&str, &str)]) -> Serve {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let mut cmd = command(dir.path());
    cmd.arg("serve")
        .env("CRM_GATEWAY_LISTEN", format!("127.0.0.1:{port}"))
        .env(
            "CRM_GATEWAY_DATABASE_URL",
            format!("sqlite://{}/gw.db?mode=rwc", dir.path().display()),
        )
        .env("CRM_GATEWAY_MASTER_KEY", MASTER_KEY)
        .env("CRM_GATEWAY_ADMIN_TOKEN", "slow-clients-admin-token-0123")
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    for (k, v) in extra {
        cmd.env(k, v);
    }
    let child = cmd.spawn().unwrap();
    let addr = format!("127.0.0.1:{port}");
    wait_healthy(&format!("http://{addr}")).await;
    Serve {
        child,
        addr,
        _dir: dir,
    }
}

/// A connection that starts a request and never finishes its headers.
async fn half_open(addr: &str) -> TcpStream {
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    s
}

/// `GET /healthz` on a new connection: the status line, or `None` if nothing came in `wait`.
async fn healthz(addr: &str, wait: Duration) -> Option<String> {
    let attempt = async {
        let mut s = TcpStream::connect(addr).await.ok()?;
        s.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            .await
            .ok()?;
        let mut buf = vec![0u8; 4096];
        let n = s.read(&mut buf).await.ok()?;
        String::from_utf8_lossy(&buf[..n])
            .lines()
            .next()
            .map(str::to_owned)
    };
    tokio::time::timeout(wait, attempt).await.ok().flatten()
}

/// Whether the server closed `s` (EOF or reset) before `deadline`.
async fn closed_by_server(s: &mut TcpStream, deadline: Instant) -> bool {
    let mut buf = [0u8; 1024];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, s.read(&mut buf)).await {
            Err(_) => return false,
            Ok(Ok(0) | Err(_)) => return true,
            // a 408 or similar before the close is fine; keep reading until it closes
            Ok(Ok(_)) => continue,
        }
    }
}

#[tokio::test]
async fn silent_connections_cost_a_bounded_time_and_never_block_healthz() {
    let server = serve(&[("CRM_GATEWAY_API__CONNECTIONS__HEADER_READ_TIMEOUT", "2s")]).await;
    let mut silent = Vec::new();
    for _ in 0..300 {
        silent.push(half_open(&server.addr).await);
    }
    let started = Instant::now();
    let status = healthz(&server.addr, Duration::from_secs(20)).await;
    eprintln!(
        "/healthz answered in {:?} with 300 half-open connections",
        started.elapsed()
    );
    assert_eq!(status.as_deref(), Some("HTTP/1.1 200 OK"));

    // every half-open connection is closed by the server after the header-read timeout
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut still_open = 0;
    for s in &mut silent {
        if !closed_by_server(s, deadline).await {
            still_open += 1;
        }
    }
    eprintln!(
        "closed 300 silent connections within {:?}",
        started.elapsed()
    );
    assert_eq!(
        still_open, 0,
        "connections left open past the header timeout"
    );
}

#[tokio::test]
async fn open_connections_are_capped_and_freed_slots_are_reused() {
    let server = serve(&[
        ("CRM_GATEWAY_API__CONNECTIONS__MAX_CONNECTIONS", "20"),
        ("CRM_GATEWAY_API__CONNECTIONS__HEADER_READ_TIMEOUT", "30s"),
    ])
    .await;
    let mut silent = Vec::new();
    for _ in 0..20 {
        silent.push(half_open(&server.addr).await);
    }
    // give the server the time to accept all twenty (they hold every slot)
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        healthz(&server.addr, Duration::from_secs(1)).await,
        None,
        "a 21st connection must wait for a slot"
    );
    silent.truncate(5);
    assert_eq!(
        healthz(&server.addr, Duration::from_secs(20))
            .await
            .as_deref(),
        Some("HTTP/1.1 200 OK"),
        "a freed slot serves the next connection"
    );
}

#[tokio::test]
async fn a_body_that_never_arrives_ends_in_408() {
    let server = serve(&[("CRM_GATEWAY_API__CONNECTIONS__REQUEST_TIMEOUT", "2s")]).await;
    let mut s = TcpStream::connect(&server.addr).await.unwrap();
    s.write_all(
        b"POST /admin/tenants HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer slow-clients-admin-token-0123\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{\"name\":",
    )
    .await
    .unwrap();
    let mut answer = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(30), async {
        let mut buf = [0u8; 4096];
        // until the whole problem body is in (it ends the JSON object) or the server closes
        while !answer.ends_with(b"}") {
            match s.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => answer.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await;
    assert!(read.is_ok(), "the server never answered");
    let text = String::from_utf8_lossy(&answer);
    assert!(text.starts_with("HTTP/1.1 408"), "{text}");
    assert!(text.contains("request_timeout"), "{text}");
    assert!(text.contains("application/problem+json"), "{text}");
}
