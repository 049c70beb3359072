//! The API's accept loop: HTTP/1.1 connections with a header-read deadline, a cap on open
//! connections, the client's address on every request, and graceful shutdown.
//!
//! `axum::serve` has no header-read timeout (hyper's needs a timer it does not give) and no
//! connection cap, so a few hundred silent connections would each hold a task and a socket
//! for as long as the client liked (docs/operations.md, "Slow and idle clients"). HTTP/1 only:
//! hyper's protocol sniffing for HTTP/2 reads before any deadline applies, and the gateway
//! sits behind a TLS-terminating proxy that speaks HTTP/1.1 to it.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::ConnectInfo;
use axum::Router;
use gateway_api::ConnectionConfig;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tower::ServiceExt;

/// Serves `app` on `listener` until `shutdown` resolves, then waits for open connections to
/// finish their current request (the caller bounds that wait).
pub async fn serve(
    listener: TcpListener,
    app: Router,
    limits: &ConnectionConfig,
    shutdown: impl Future<Output = ()>,
) {
    let slots = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    let graceful = GracefulShutdown::new();
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout);
    tokio::pin!(shutdown);
    loop {
        // Wait for a free slot before accepting: past the cap, new clients queue in the
        // kernel's backlog instead of each costing a task here.
        let slot = tokio::select! {
            slot = slots.clone().acquire_owned() => match slot {
                Ok(slot) => slot,
                Err(_) => break,
            },
            () = &mut shutdown => break,
        };
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    // Usually "too many open files": back off instead of spinning.
                    tracing::warn!(error = %e, "accepting a connection failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let app = app.clone();
        let service = hyper::service::service_fn(move |mut req: hyper::Request<Incoming>| {
            req.extensions_mut().insert(ConnectInfo(peer));
            app.clone().oneshot(req.map(axum::body::Body::new))
        });
        let conn = graceful.watch(http.serve_connection(TokioIo::new(stream), service));
        tokio::spawn(async move {
            if let Err(e) = conn.await {
                tracing::debug!(error = %e, %peer, "connection ended with an error");
            }
            drop(slot);
        });
    }
    drop(listener);
    graceful.shutdown().await;
}
