//! Real HTTP against a tiny axum server on 127.0.0.1:0: the request id reaches the server,
//! slow answers classify as Timeout, refused connections as Unavailable.

use std::time::Duration;

use axum::http::HeaderMap;
use axum::routing::get;
use axum::Router;
use gateway_core::{ErrorKind, ProviderKind};
use gateway_transport::{with_request_id, Transport, TransportConfig};

async fn spawn() -> String {
    let app = Router::new()
        .route(
            "/echo",
            get(|headers: HeaderMap| async move {
                headers
                    .get("x-request-id")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("none")
                    .to_owned()
            }),
        )
        .route(
            "/slow",
            get(|| async {
                tokio::time::sleep(Duration::from_secs(5)).await;
                "late"
            }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    format!("http://{addr}")
}

fn transport(request_timeout: Duration) -> Transport {
    Transport::new(&TransportConfig {
        request_timeout,
        allow_private_base_urls: true,
        ..TransportConfig::default()
    })
    .expect("transport")
}

#[tokio::test]
async fn request_id_is_sent_when_set() {
    let base = spawn().await;
    let t = transport(Duration::from_secs(5));
    let resp = with_request_id(
        "req-abc-123".into(),
        t.send(ProviderKind::Bird, t.client().get(format!("{base}/echo"))),
    )
    .await
    .expect("answer");
    assert_eq!(resp.status, 200);
    assert_eq!(&resp.body[..], b"req-abc-123");

    let resp = t
        .send(ProviderKind::Bird, t.client().get(format!("{base}/echo")))
        .await
        .expect("answer");
    assert_eq!(&resp.body[..], b"none");
}

#[tokio::test]
async fn slow_answer_is_a_timeout() {
    let base = spawn().await;
    let t = transport(Duration::from_millis(200));
    let err = t
        .send(ProviderKind::Bird, t.client().get(format!("{base}/slow")))
        .await
        .expect_err("timeout");
    assert_eq!(err.kind, ErrorKind::Timeout, "{err}");
    assert_eq!(err.provider, ProviderKind::Bird);
    assert!(err.is_retryable());
}

#[tokio::test]
async fn refused_connection_is_unavailable() {
    // Bind then drop: the port is very likely closed for the next instant.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    drop(listener);
    let t = transport(Duration::from_secs(5));
    let err = t
        .send(
            ProviderKind::Bird,
            t.client().get(format!("http://{addr}/x")),
        )
        .await
        .expect_err("refused");
    assert_eq!(err.kind, ErrorKind::Unavailable, "{err}");
}
