//! Shared state of the API: the store, the adapter registry and the API's own settings.

use std::sync::Arc;
use std::time::Duration;

use gateway_adapters::Registry;
use gateway_store::Store;
use secrecy::SecretString;
use serde::Deserialize;

use crate::inbound::Inbound;

/// Settings owned by the API layer (`[api]` in `config/default.toml`).
#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ApiConfig {
    /// Largest accepted request body, in bytes.
    pub max_body_bytes: usize,
    /// Page size when a list call names none.
    pub default_page_size: u32,
    /// `Idempotency-Key` handling (`[api.idempotency]`).
    pub idempotency: IdempotencyConfig,
    /// Request rate limit per tenant (`[api.rate_limit]`).
    pub rate_limit: RateLimitConfig,
    /// `/crm/contacts` calls in flight per credential; 0 disables the bound.
    pub max_concurrent_per_credential: usize,
    /// Longest a call waits for one of those before answering 503 `credential_busy`.
    #[serde(with = "humantime_serde")]
    pub concurrency_wait: Duration,
    /// Connection handling (`[api.connections]`).
    pub connections: ConnectionConfig,
}

/// What one client connection may hold (`[api.connections]`, docs/operations.md, "Slow and
/// idle clients"): a slow or silent client costs a bounded time and one of a bounded number
/// of connections, never the whole server.
#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ConnectionConfig {
    /// A connection that has not sent a request's headers within this time (from its opening,
    /// or from the end of its previous answer) is closed.
    #[serde(with = "humantime_serde")]
    pub header_read_timeout: Duration,
    /// Open connections at most; past it, new ones wait in the listen backlog.
    pub max_connections: usize,
    /// Longest one request may take in total, body upload included: past it the client gets
    /// 408 `request_timeout`. The work already started still runs to its end (a provider write
    /// still gets its index row), and a keyed write's answer is kept for its retry.
    #[serde(with = "humantime_serde")]
    pub request_timeout: Duration,
}

impl Default for ConnectionConfig {
    fn default() -> Self {
        Self {
            header_read_timeout: Duration::from_secs(10),
            max_connections: 1024,
            request_timeout: Duration::from_secs(180),
        }
    }
}

/// The per-tenant token bucket (`[api.rate_limit]`, docs/operations.md, "Inbound limits").
#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RateLimitConfig {
    /// Tokens (requests) refilled per second; 0 disables the limit.
    pub per_second: f64,
    /// Bucket size: the requests a tenant may send at once.
    pub burst: u32,
    /// Refused authentications (401) per second one client address may cause; past it the
    /// address is answered 429 before anything else runs. 0 disables the throttle.
    pub unauthenticated_per_second: f64,
    /// Bucket size of that throttle.
    pub unauthenticated_burst: u32,
}

impl Default for RateLimitConfig {
    fn default() -> Self {
        Self {
            per_second: 50.0,
            burst: 100,
            unauthenticated_per_second: 5.0,
            unauthenticated_burst: 50,
        }
    }
}

/// How long idempotency keys live (`[api.idempotency]`, docs/operations.md).
#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct IdempotencyConfig {
    /// How long a finished request's answer is replayed for its key.
    #[serde(with = "humantime_serde")]
    pub window: Duration,
    /// A first request that has not reported progress for this long is judged abandoned (its
    /// process died); a retry with the same key may then run it again.
    #[serde(with = "humantime_serde")]
    pub stale_after: Duration,
    /// How long after a create was sent (or after the gateway stopped waiting for its answer)
    /// the provider could still apply it. A create whose outcome is unknown is resolved by a
    /// reconciliation listing that starts after that (docs/operations.md, "Writes whose
    /// outcome is unknown"); keep it above the provider request timeout.
    #[serde(with = "humantime_serde")]
    pub settle_after: Duration,
}

impl Default for IdempotencyConfig {
    fn default() -> Self {
        Self {
            window: Duration::from_secs(24 * 3600),
            stale_after: Duration::from_secs(60),
            settle_after: Duration::from_secs(60),
        }
    }
}

impl Default for ApiConfig {
    fn default() -> Self {
        Self {
            max_body_bytes: 1024 * 1024,
            default_page_size: 50,
            idempotency: IdempotencyConfig::default(),
            rate_limit: RateLimitConfig::default(),
            max_concurrent_per_credential: 8,
            concurrency_wait: Duration::from_secs(2),
            connections: ConnectionConfig::default(),
        }
    }
}

struct Inner {
    store: Store,
    registry: Registry,
    config: ApiConfig,
    allow_private_base_urls: bool,
    admin_token: Option<SecretString>,
    inbound: Inbound,
    /// This process's heartbeat id (crate::idempotency::heartbeat).
    instance: String,
    /// Wakes this process's reconciliation scheduler when a run is asked for.
    runs_requested: Arc<tokio::sync::Notify>,
}

/// Cheap to clone; one per process.
#[derive(Clone)]
pub struct AppState(Arc<Inner>);

impl AppState {
    /// Assembles the state.
    pub fn new(
        store: Store,
        registry: Registry,
        config: ApiConfig,
        allow_private_base_urls: bool,
        admin_token: Option<SecretString>,
    ) -> Self {
        let inbound = Inbound::new(&config);
        Self(Arc::new(Inner {
            inbound,
            store,
            registry,
            config,
            allow_private_base_urls,
            admin_token,
            instance: format!("inst_{:032x}", rand::random::<u128>()),
            runs_requested: Arc::default(),
        }))
    }

    /// This process's instance id: its idempotency claims name it, and its heartbeat keeps
    /// them from being taken over.
    pub fn instance_id(&self) -> &str {
        &self.0.instance
    }

    /// Notified after a reconciliation run is asked for, so this process's scheduler takes it
    /// at once rather than at its next tick.
    pub fn runs_requested(&self) -> &Arc<tokio::sync::Notify> {
        &self.0.runs_requested
    }

    /// The database.
    pub fn store(&self) -> &Store {
        &self.0.store
    }

    /// Adapters by credential.
    pub fn registry(&self) -> &Registry {
        &self.0.registry
    }

    /// API settings.
    pub fn config(&self) -> &ApiConfig {
        &self.0.config
    }

    /// Whether credentials may point at loopback and private addresses.
    pub fn allow_private_base_urls(&self) -> bool {
        self.0.allow_private_base_urls
    }

    /// The admin bearer token, when the admin API is on.
    pub fn admin_token(&self) -> Option<&SecretString> {
        self.0.admin_token.as_ref()
    }

    /// Rate limiter and concurrency slots.
    pub fn inbound(&self) -> &Inbound {
        &self.0.inbound
    }
}
