//! Test harness: a real gateway (axum on 127.0.0.1:0) and the real provider sandbox, a fresh
//! SQLite file or PostgreSQL database per test, and small HTTP helpers. No mocks.
#![allow(clippy::unwrap_used, clippy::missing_panics_doc)]

pub mod conformance;
pub mod db;

use std::time::Duration;

use gateway_server::{RunningGateway, Settings};
use reqwest::{Method, StatusCode};
use secrecy::SecretString;
use serde_json::{json, Value};

pub use db::TestDb;

/// The admin token every test app uses.
pub const ADMIN_TOKEN: &str = "test-admin-token-0123456789";

/// A gateway and a sandbox, both on loopback.
pub struct TestApp {
    /// `http://127.0.0.1:PORT` of the gateway.
    pub api: String,
    /// `http://127.0.0.1:PORT/metrics` of the gateway, when metrics are on.
    pub metrics: Option<String>,
    /// `http://127.0.0.1:PORT` of the sandbox.
    pub sandbox: String,
    /// A plain HTTP client.
    pub http: reqwest::Client,
    gateway: Option<RunningGateway>,
    sandbox_task: tokio::task::JoinHandle<std::io::Result<()>>,
    /// Keeps the database alive for the test.
    pub db: TestDb,
}

/// A JSON answer.
#[derive(Debug)]
pub struct Answer {
    /// Status.
    pub status: StatusCode,
    /// Headers.
    pub headers: reqwest::header::HeaderMap,
    /// Body as JSON (`Null` when empty or not JSON).
    pub body: Value,
    /// Body as text.
    pub text: String,
}

/// A tenant and its key.
#[derive(Clone, Debug)]
pub struct TestTenant {
    /// `ten_…`.
    pub id: String,
    /// Its API key.
    pub key: String,
}

impl TestApp {
    /// A fresh app on SQLite.
    pub async fn spawn() -> TestApp {
        Self::spawn_on(TestDb::sqlite()).await
    }

    /// A fresh app on the given database.
    pub async fn spawn_on(db: TestDb) -> TestApp {
        Self::spawn_with(db, |_| {}).await
    }

    /// A fresh app with settings adjusted by `tweak`.
    pub async fn spawn_with(db: TestDb, tweak: impl FnOnce(&mut Settings)) -> TestApp {
        let sandbox_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let sandbox_addr = sandbox_listener.local_addr().unwrap();
        let sandbox_task = tokio::spawn(gateway_sandbox::serve(
            sandbox_listener,
            std::future::pending(),
        ));

        let mut settings = Settings::load(None).unwrap();
        settings.database_url = SecretString::from(db.url().to_owned());
        settings.master_key = Some(SecretString::from(
            "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=".to_owned(),
        ));
        settings.admin_token = Some(SecretString::from(ADMIN_TOKEN.to_owned()));
        settings.allow_private_base_urls = true;
        // Many apps run at once: each gets its own metrics port.
        settings.metrics_listen = Some("127.0.0.1:0".parse().unwrap());
        settings.transport.request_timeout = Duration::from_secs(5);
        // No periodic reconciliation unless a test asks for it: its provider calls would
        // disturb tests that count them. Runs asked for through the API still happen.
        settings.reconcile.enabled = false;
        // Runs asked for (by the API, or by a retried create whose outcome is unknown) start
        // within a tick; keep the wait short.
        settings.reconcile.tick = Duration::from_millis(100);
        // A create that failed after the provider answered settles at once; only a timeout
        // or a crash waits this long before the check.
        settings.api.idempotency.settle_after = Duration::from_secs(1);
        // Suites like conformance send hundreds of quick requests per tenant (validation and
        // dry runs that never reach a provider), above the default 50/s: keep the limit on (its
        // headers on every answer) but out of their way. tests/inbound.rs sets tiny limits.
        settings.api.rate_limit.per_second = 10_000.0;
        settings.api.rate_limit.burst = 10_000;
        // Every test client is 127.0.0.1, and suites check 401s on purpose.
        settings.api.rate_limit.unauthenticated_per_second = 10_000.0;
        settings.api.rate_limit.unauthenticated_burst = 10_000;
        tweak(&mut settings);

        let store = gateway_server::open_store(&settings, settings.cipher().unwrap())
            .await
            .unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let gateway = gateway_server::start_gateway(&settings, store, listener)
            .await
            .unwrap();
        TestApp {
            api: format!("http://{}", gateway.addr),
            metrics: gateway.metrics_addr.map(|a| format!("http://{a}/metrics")),
            sandbox: format!("http://{sandbox_addr}"),
            http: reqwest::Client::new(),
            gateway: Some(gateway),
            sandbox_task,
            db,
        }
    }

    /// The store behind the gateway.
    pub fn store(&self) -> &gateway_store::Store {
        &self.gateway.as_ref().unwrap().store
    }

    /// Sends a request; `key` is the bearer token.
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        key: Option<&str>,
        body: Option<Value>,
    ) -> Answer {
        let mut req = self.http.request(method, format!("{}{path}", self.api));
        if let Some(key) = key {
            req = req.bearer_auth(key);
        }
        if let Some(body) = body {
            req = req.json(&body);
        }
        answer(req.send().await.unwrap()).await
    }

    /// Sends a raw body with a content type.
    pub async fn call_raw(&self, method: Method, path: &str, key: &str, body: Vec<u8>) -> Answer {
        let req = self
            .http
            .request(method, format!("{}{path}", self.api))
            .bearer_auth(key)
            .header("content-type", "application/json")
            .body(body);
        answer(req.send().await.unwrap()).await
    }

    /// Creates a tenant through the admin API.
    pub async fn tenant(&self, name: &str) -> TestTenant {
        let a = self
            .call(
                Method::POST,
                "/admin/tenants",
                Some(ADMIN_TOKEN),
                Some(json!({"name": name})),
            )
            .await;
        assert_eq!(a.status, StatusCode::CREATED, "{}", a.text);
        TestTenant {
            id: a.body["tenantId"].as_str().unwrap().to_owned(),
            key: a.body["apiKey"].as_str().unwrap().to_owned(),
        }
    }

    /// `{base}/bird` etc.
    pub fn provider_base(&self, provider: &str) -> String {
        format!("{}/{provider}", self.sandbox)
    }

    /// Creates a verified credential on the sandbox account of `provider`; returns its id.
    pub async fn credential(&self, tenant: &TestTenant, provider: &str) -> String {
        let kind: gateway_core::ProviderKind = provider.parse().unwrap();
        let (secret, settings) =
            gateway_server::demo::sandbox_credential(kind, &self.provider_base(provider)).unwrap();
        let a = self
            .call(
                Method::POST,
                "/credentials?verify=true",
                Some(&tenant.key),
                Some(json!({"provider": provider, "name": format!("test {provider}"), "secret": secret, "settings": settings})),
            )
            .await;
        assert_eq!(a.status, StatusCode::CREATED, "{}", a.text);
        a.body["credential"]["id"].as_str().unwrap().to_owned()
    }

    /// A call to the sandbox's control routes.
    pub async fn sim(
        &self,
        method: Method,
        provider: &str,
        path: &str,
        body: Option<Value>,
    ) -> Answer {
        let mut req = self.http.request(
            method,
            format!("{}/_sim{path}", self.provider_base(provider)),
        );
        if let Some(body) = body {
            req = req.json(&body);
        }
        answer(req.send().await.unwrap()).await
    }

    /// Stops the gateway (graceful) and the sandbox.
    pub async fn stop(mut self) {
        if let Some(g) = self.gateway.take() {
            g.shutdown(Duration::from_secs(5)).await;
        }
        self.sandbox_task.abort();
    }
}

async fn answer(resp: reqwest::Response) -> Answer {
    let status = resp.status();
    let headers = resp.headers().clone();
    let text = resp.text().await.unwrap_or_default();
    let body = serde_json::from_str(&text).unwrap_or(Value::Null);
    Answer {
        status,
        headers,
        body,
        text,
    }
}
