//! Faithful in-memory simulators of the providers' contact APIs (crates/gateway-sandbox/README.md), served by
//! axum: Bird under `/bird`, Karia under `/karia` and iClosed under `/iclosed`, each
//! with its own state and the shared `_sim` control routes (reset, seed, out-of-band delete,
//! faults, stats).
//!
//! A credential's `baseUrl` is `http://HOST:PORT/bird`; the adapter then calls
//! `{baseUrl}/workspaces/{workspaceId}/contacts…` exactly as against `https://api.bird.com`.
//! The simulators share no types with the adapters: both are pinned to `fixtures/<provider>/`.

mod bird;
mod control;
mod faults;
mod iclosed;
mod karia;
mod state;

use std::fmt;
use std::future::Future;
use std::sync::Arc;

use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::{Json, Router};
use serde_json::json;

pub use state::{Clock, ManualClock, SystemClock};

/// The one Bird access key the sandbox accepts (`Authorization: AccessKey bird-sandbox-key`).
pub const BIRD_SANDBOX_KEY: &str = "bird-sandbox-key";

/// The one Bird workspace the sandbox serves.
pub const BIRD_SANDBOX_WORKSPACE: &str = "2d7d5b6e-0000-4000-8000-000000000001";

/// The one iClosed API key the sandbox accepts (`Authorization: Bearer iclosed_sandbox_key`;
/// the seed's hyphen form `Bearer iclosed-sandbox_key` works too).
pub const ICLOSED_SANDBOX_KEY: &str = "iclosed_sandbox_key";

/// The one Karia API key the sandbox accepts (`x-api-key: karia-sandbox-key` or
/// `Authorization: Bearer karia-sandbox-key`).
pub const KARIA_SANDBOX_KEY: &str = "karia-sandbox-key";

/// The one Karia organisation the sandbox key reaches (credential setting `organisationId`).
pub const KARIA_SANDBOX_ORGANISATION: &str = "1";

/// The one Karia workspace of that organisation (credential setting `workspaceId`).
pub const KARIA_SANDBOX_WORKSPACE: &str = "1";

/// The user behind the Karia sandbox key: `createdBy` / `lastUpdatedBy` on what it writes.
pub const KARIA_SANDBOX_USER_ID: &str = "7b0c2a64-0000-4000-8000-000000000001";

/// Settings of the simulators. `Default` is what `crm-gateway sandbox` runs.
#[derive(Clone)]
pub struct SandboxConfig {
    /// Seeds ids, page-token secrets and random faults, for reproducible runs; `None` draws
    /// from the OS.
    pub rng_seed: Option<u64>,
    /// The clock stamping `createdAt`/`updatedAt` and driving rate-limit windows.
    pub clock: Arc<dyn Clock>,
    /// The `timezone` attribute Bird adds to new contacts (the documented examples show
    /// `America/Sao_Paulo`, docs/providers/bird.md).
    pub bird_timezone: String,
}

impl Default for SandboxConfig {
    fn default() -> Self {
        Self {
            rng_seed: None,
            clock: Arc::new(SystemClock),
            bird_timezone: "America/Sao_Paulo".to_owned(),
        }
    }
}

impl fmt::Debug for SandboxConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SandboxConfig")
            .field("rng_seed", &self.rng_seed)
            .field("bird_timezone", &self.bird_timezone)
            .finish_non_exhaustive()
    }
}

/// All simulators with default settings, each nested under its prefix with its own state.
pub fn router() -> Router {
    router_with(SandboxConfig::default())
}

/// All simulators with the given settings.
pub fn router_with(config: SandboxConfig) -> Router {
    Router::new()
        .nest("/bird", bird::router(&config))
        .nest("/iclosed", iclosed::router(&config))
        .nest("/karia", karia::router(&config))
        .fallback(|| async {
            (
                StatusCode::NOT_FOUND,
                Json(json!({"code": "NotFound", "message": "unknown sandbox route; providers live under /bird, /karia and /iclosed"})),
            )
                .into_response()
        })
}

/// Serves [`router`] on `listener` until `shutdown` resolves.
pub async fn serve(
    listener: tokio::net::TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    serve_with(listener, SandboxConfig::default(), shutdown).await
}

/// Serves [`router_with`] on `listener` until `shutdown` resolves.
pub async fn serve_with(
    listener: tokio::net::TcpListener,
    config: SandboxConfig,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    tracing::info!(addr = ?listener.local_addr().ok(), "sandbox listening");
    axum::serve(listener, router_with(config))
        .with_graceful_shutdown(shutdown)
        .await
}

/// One simulated provider account: what a credential needs to reach it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SandboxAccount {
    /// The provider's name, as in `POST /credentials` `provider`.
    pub provider: &'static str,
    /// The credential's `baseUrl`.
    pub base_url: String,
    /// The one secret the simulator accepts.
    pub secret: &'static str,
    /// How the provider expects the secret (the gateway's adapter sends it so).
    pub auth_header: &'static str,
    /// The credential's `settings` besides `baseUrl`, as `(name, value)`.
    pub settings: Vec<(&'static str, &'static str)>,
}

impl SandboxAccount {
    /// The credential `settings` object, `baseUrl` included.
    pub fn settings_json(&self) -> serde_json::Value {
        let mut map = serde_json::Map::new();
        for (k, v) in &self.settings {
            map.insert((*k).to_owned(), json!(v));
        }
        map.insert("baseUrl".into(), json!(self.base_url));
        serde_json::Value::Object(map)
    }
}

/// The account of every simulator served under `root` (`http://HOST:PORT`), in the order the
/// sandbox serves them. The single source of these values: `crm-gateway sandbox` prints them,
/// `demo` uses them, the README lists them.
pub fn accounts(root: &str) -> Vec<SandboxAccount> {
    let root = root.trim_end_matches('/');
    vec![
        SandboxAccount {
            provider: "bird",
            base_url: format!("{root}/bird"),
            secret: BIRD_SANDBOX_KEY,
            auth_header: "Authorization: AccessKey <secret>",
            settings: vec![("workspaceId", BIRD_SANDBOX_WORKSPACE)],
        },
        SandboxAccount {
            provider: "karia",
            base_url: format!("{root}/karia"),
            secret: KARIA_SANDBOX_KEY,
            auth_header: "x-api-key: <secret>, or Authorization: Bearer <secret>",
            settings: vec![
                ("organisationId", KARIA_SANDBOX_ORGANISATION),
                ("workspaceId", KARIA_SANDBOX_WORKSPACE),
            ],
        },
        SandboxAccount {
            provider: "iclosed",
            base_url: format!("{root}/iclosed"),
            secret: ICLOSED_SANDBOX_KEY,
            auth_header: "Authorization: Bearer <secret>",
            settings: vec![],
        },
    ]
}

/// The accounts as a block of text for a terminal: per provider its base URL, secret and
/// settings, and a `POST /credentials` body that works as is.
pub fn describe_accounts(root: &str) -> String {
    let mut out =
        String::from("Sandbox accounts (one valid secret per provider; any other is refused):\n");
    for a in accounts(root) {
        out.push_str(&format!("\n  {}\n", a.provider));
        out.push_str(&format!("    baseUrl:   {}\n", a.base_url));
        out.push_str(&format!(
            "    secret:    {}   (sent as {})\n",
            a.secret, a.auth_header
        ));
        if a.settings.is_empty() {
            out.push_str("    settings:  (none besides baseUrl)\n");
        } else {
            let list: Vec<String> = a
                .settings
                .iter()
                .map(|(k, v)| format!("{k} = {v}"))
                .collect();
            out.push_str(&format!("    settings:  {}\n", list.join(", ")));
        }
        let body = json!({"provider": a.provider, "name": format!("Sandbox {}", a.provider), "secret": a.secret, "settings": a.settings_json()});
        out.push_str(&format!("    POST /credentials body: {body}\n"));
    }
    out
}
