//! Provider lookup, credential checks without network, and the per-credential adapter cache.
//! Knows providers only through `providers::provider`, the one `match ProviderKind`.

use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, PoisonError, RwLock};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use gateway_core::{
    AdapterError, CredentialId, CrmAdapter, ErrorKind, FieldError, ProviderDeclaration,
    ProviderKind,
};
use gateway_transport::Transport;
use secrecy::SecretString;
use serde_json::{Map, Value};

use crate::providers::karia::KariaConfig;
use crate::providers::provider;
use crate::resilience::{CredentialGuard, ResilienceSettings, ResilientAdapter};

/// Per-deployment adapter switches (`[adapters]` in the configuration). Today only Karia has
/// any: its list, update and delete endpoints are inferred, not documented.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AdaptersConfig {
    /// `[adapters.karia]`.
    pub karia: KariaConfig,
}

/// Longest secret accepted; provider keys are far shorter, and a huge value is a paste error.
const SECRET_MAX_CHARS: usize = 4096;

/// The declaration of a provider, or `None` while its adapter is not built.
pub fn declaration(provider_kind: ProviderKind) -> Option<&'static ProviderDeclaration> {
    provider(provider_kind).map(|p| p.declaration())
}

/// Providers credentials can be created for, in `ProviderKind::ALL` order.
pub fn available_providers() -> Vec<ProviderKind> {
    ProviderKind::ALL
        .into_iter()
        .filter(|p| provider(*p).is_some())
        .collect()
}

fn not_available(provider_kind: ProviderKind) -> FieldError {
    FieldError::new(
        "/provider",
        "not_available",
        format!("the {provider_kind} adapter is not available yet"),
    )
}

/// Checks a credential's `settings` (shape only, no network). Errors point at
/// `/settings/<key>`; a provider not built yet is one error at `/provider`. A missing or
/// `null` settings object counts as `{}`.
pub fn validate_settings(
    provider_kind: ProviderKind,
    settings: &Value,
) -> Result<Value, Vec<FieldError>> {
    let p = provider(provider_kind).ok_or_else(|| vec![not_available(provider_kind)])?;
    let empty = Map::new();
    let map = match settings {
        Value::Object(m) => m,
        Value::Null => &empty,
        _ => {
            return Err(vec![FieldError::new(
                "/settings",
                "invalid_type",
                "settings must be an object",
            )])
        }
    };
    p.validate_settings(map)
}

/// Checks a secret's shape: non-empty, at most 4096 characters, no whitespace or control
/// characters (a pasted key with a trailing newline fails here, not at the provider), then
/// the provider's own rules. Messages never quote the secret.
pub fn validate_secret(provider_kind: ProviderKind, secret: &str) -> Result<(), FieldError> {
    let p = provider(provider_kind).ok_or_else(|| not_available(provider_kind))?;
    if secret.is_empty() {
        return Err(FieldError::new(
            "/secret",
            "required",
            "secret must not be empty",
        ));
    }
    let len = secret.chars().count();
    if len > SECRET_MAX_CHARS {
        return Err(FieldError::new(
            "/secret",
            "too_long",
            format!("secret must be at most {SECRET_MAX_CHARS} characters, got {len}"),
        ));
    }
    if secret.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(FieldError::new(
            "/secret",
            "invalid",
            "secret must not contain spaces, line breaks or control characters",
        ));
    }
    p.validate_secret(secret)
}

/// `settings.baseUrl`, or the provider's default when unset (empty for a provider not built).
pub fn base_url(provider_kind: ProviderKind, settings: &Value) -> String {
    match settings.get("baseUrl").and_then(Value::as_str) {
        Some(url) => url.to_owned(),
        None => declaration(provider_kind)
            .map(|d| d.default_base_url.clone())
            .unwrap_or_default(),
    }
}

struct Cached {
    version: DateTime<Utc>,
    adapter: Arc<dyn CrmAdapter>,
    /// Milliseconds since [`Inner::epoch`] of the last use.
    used: AtomicU64,
}

/// A cached adapter (it holds a decrypted secret) unused for this long is dropped at the
/// next sweep; the next call rebuilds it from the store.
const IDLE: Duration = Duration::from_secs(600);
/// Sweeps run when a map reaches this size, then at twice what the sweep left.
const MIN_SWEEP: usize = 256;

struct Inner {
    transport: Transport,
    config: AdaptersConfig,
    /// Each available provider's declaration under `config`.
    declarations: HashMap<ProviderKind, ProviderDeclaration>,
    cache: RwLock<HashMap<CredentialId, Cached>>,
    resilience: ResilienceSettings,
    /// Rate budget and circuit breaker per credential; outlives cache entries, so a rebuilt
    /// adapter (credential changed) keeps the credential's budget and breaker.
    guards: RwLock<HashMap<CredentialId, Arc<CredentialGuard>>>,
    /// Clock origin of [`Cached::used`].
    epoch: Instant,
    /// Size of `cache` at which the next sweep runs.
    sweep_at: AtomicUsize,
    /// [`IDLE`] unless set otherwise.
    idle_ms: AtomicU64,
}

/// Builds adapters with the shared transport and caches one per credential, keyed by the
/// credential's `updated_at`, so a rotated secret or changed settings is never served from a
/// stale adapter. Cheap to clone; shareable across tasks.
#[derive(Clone)]
pub struct Registry {
    inner: Arc<Inner>,
}

impl fmt::Debug for Registry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let cached = self.inner.cache.read().map_or(0, |c| c.len());
        f.debug_struct("Registry")
            .field("cached", &cached)
            .finish_non_exhaustive()
    }
}

impl Registry {
    /// A registry whose adapters all use `transport`, with the default [`AdaptersConfig`].
    pub fn new(transport: Transport) -> Registry {
        Registry::with_config(transport, AdaptersConfig::default())
    }

    /// A registry whose adapters use `transport` and honour `config` (operations switched off
    /// there answer `Unsupported` and are absent from [`Registry::declaration`]).
    pub fn with_config(transport: Transport, config: AdaptersConfig) -> Registry {
        Registry::with_settings(transport, config, ResilienceSettings::default())
    }

    /// Like [`Registry::with_config`], with the outbound resilience settings
    /// (`[resilience.<provider>]`) every adapter is wrapped in.
    pub fn with_settings(
        transport: Transport,
        config: AdaptersConfig,
        resilience: ResilienceSettings,
    ) -> Registry {
        let declarations = ProviderKind::ALL
            .into_iter()
            .filter_map(|kind| provider(kind).map(|p| (kind, p.configured_declaration(&config))))
            .collect();
        Registry {
            inner: Arc::new(Inner {
                transport,
                config,
                declarations,
                cache: RwLock::new(HashMap::new()),
                resilience,
                guards: RwLock::new(HashMap::new()),
                epoch: Instant::now(),
                sweep_at: AtomicUsize::new(MIN_SWEEP),
                idle_ms: AtomicU64::new(u64::try_from(IDLE.as_millis()).unwrap_or(u64::MAX)),
            }),
        }
    }

    /// The declaration of a provider as this deployment offers it, or `None` while its adapter
    /// is not built. Adapters built here report the same declaration.
    pub fn declaration(&self, provider_kind: ProviderKind) -> Option<&ProviderDeclaration> {
        self.inner.declarations.get(&provider_kind)
    }

    /// The adapter switches this registry was built with.
    pub fn config(&self) -> &AdaptersConfig {
        &self.inner.config
    }

    /// The cached adapter for `credential` if it was built for this `version` (the
    /// credential's `updated_at`).
    pub fn cached(
        &self,
        credential: &CredentialId,
        version: DateTime<Utc>,
    ) -> Option<Arc<dyn CrmAdapter>> {
        // A panic while holding the lock cannot leave a half-written entry (inserts are one
        // call), so a poisoned lock is still safe to read.
        let cache = self
            .inner
            .cache
            .read()
            .unwrap_or_else(PoisonError::into_inner);
        let hit = cache.get(credential).filter(|c| c.version == version)?;
        hit.used.store(self.now_ms(), Ordering::Relaxed);
        Some(hit.adapter.clone())
    }

    fn now_ms(&self) -> u64 {
        u64::try_from(self.inner.epoch.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    /// Drops adapters unused for the idle time (their decrypted secrets with them), then the rate
    /// budgets and breakers no adapter holds any more: a fresh guard is the same as an idle one
    /// (a full bucket, a closed breaker), so memory follows the credentials in use, not every
    /// credential ever used.
    fn sweep(&self, cache: &mut HashMap<CredentialId, Cached>) {
        let idle_ms = self.inner.idle_ms.load(Ordering::Relaxed);
        let now = self.now_ms();
        cache.retain(|_, c| now.saturating_sub(c.used.load(Ordering::Relaxed)) < idle_ms);
        let mut guards = self
            .inner
            .guards
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        guards.retain(|id, g| Arc::strong_count(g) > 1 || cache.contains_key(id));
        let next = (cache.len().max(guards.len()) * 2).max(MIN_SWEEP);
        self.inner.sweep_at.store(next, Ordering::Relaxed);
    }

    /// How many adapters and guards are kept (tests).
    pub fn tracked(&self) -> (usize, usize) {
        let cache = self.inner.cache.read().map_or(0, |c| c.len());
        let guards = self.inner.guards.read().map_or(0, |g| g.len());
        (cache, guards)
    }

    /// A new adapter for settings and a decrypted secret not stored as a credential yet
    /// (`?verify=true`): wrapped in retries, with a rate budget and breaker of its own. Settings
    /// that fail validation or a base URL the deployment forbids → `Misconfigured`; a
    /// provider not built yet → `Unsupported`.
    pub fn build(
        &self,
        provider_kind: ProviderKind,
        settings: &Value,
        secret: SecretString,
    ) -> Result<Arc<dyn CrmAdapter>, AdapterError> {
        let raw = self.build_raw(provider_kind, settings, secret)?;
        let cfg = self.inner.resilience.resolve(provider_kind);
        let guard = Arc::new(CredentialGuard::new(&cfg, provider_kind));
        Ok(Arc::new(ResilientAdapter::new(raw, cfg, guard)))
    }

    /// A new adapter for a stored credential: wrapped in retries and the credential's own
    /// rate budget and circuit breaker, shared with every adapter built for it (API calls and
    /// reconciliation alike) and kept across rebuilds.
    pub fn build_for(
        &self,
        credential: &CredentialId,
        provider_kind: ProviderKind,
        settings: &Value,
        secret: SecretString,
    ) -> Result<Arc<dyn CrmAdapter>, AdapterError> {
        let raw = self.build_raw(provider_kind, settings, secret)?;
        let cfg = self.inner.resilience.resolve(provider_kind);
        let guard = self.guard(credential, &cfg, provider_kind);
        Ok(Arc::new(ResilientAdapter::new(raw, cfg, guard)))
    }

    /// The adapter alone, without the resilience layer (adapter tests).
    pub fn build_raw(
        &self,
        provider_kind: ProviderKind,
        settings: &Value,
        secret: SecretString,
    ) -> Result<Arc<dyn CrmAdapter>, AdapterError> {
        let p = provider(provider_kind).ok_or_else(|| {
            AdapterError::new(
                ErrorKind::Unsupported,
                provider_kind,
                format!("the {provider_kind} adapter is not available yet"),
            )
        })?;
        p.build_configured(&self.inner.transport, settings, secret, &self.inner.config)
    }

    /// The credential's rate budget and breaker, made on first use.
    pub fn guard(
        &self,
        credential: &CredentialId,
        cfg: &crate::resilience::ResilienceConfig,
        provider_kind: ProviderKind,
    ) -> Arc<CredentialGuard> {
        if let Some(g) = self
            .inner
            .guards
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(credential)
        {
            return g.clone();
        }
        self.inner
            .guards
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .entry(credential.clone())
            .or_insert_with(|| Arc::new(CredentialGuard::new(cfg, provider_kind)))
            .clone()
    }

    /// Caches `adapter` for `credential` at `version`, replacing any older entry.
    pub fn insert(
        &self,
        credential: &CredentialId,
        version: DateTime<Utc>,
        adapter: Arc<dyn CrmAdapter>,
    ) {
        let mut cache = self
            .inner
            .cache
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        if cache.len() >= self.inner.sweep_at.load(Ordering::Relaxed) {
            self.sweep(&mut cache);
        }
        let used = AtomicU64::new(self.now_ms());
        cache.insert(
            credential.clone(),
            Cached {
                version,
                adapter,
                used,
            },
        );
    }

    /// Drops idle adapters and unheld guards now. The server calls it every minute, so a small
    /// deployment (whose maps never reach the size that triggers a sweep) also lets decrypted
    /// secrets go once they are idle.
    pub fn sweep_idle(&self) {
        let mut cache = self
            .inner
            .cache
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        self.sweep(&mut cache);
    }

    /// How long an unused adapter stays cached (default 10 minutes).
    pub fn set_idle(&self, idle: Duration) {
        let ms = u64::try_from(idle.as_millis()).unwrap_or(u64::MAX);
        self.inner.idle_ms.store(ms, Ordering::Relaxed);
    }

    /// Drops the cached adapter (credential deleted or changed).
    pub fn evict(&self, credential: &CredentialId) {
        let mut cache = self
            .inner
            .cache
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        cache.remove(credential);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use gateway_transport::TransportConfig;
    use serde_json::json;

    const WS: &str = "2d7d5b6e-0000-4000-8000-000000000001";

    fn registry() -> Registry {
        Registry::new(Transport::new(&TransportConfig::default()).expect("transport"))
    }

    #[test]
    fn idle_adapters_and_their_guards_are_swept() {
        let r = registry();
        let settings = json!({"workspaceId": WS, "baseUrl": "https://api.bird.com"});
        let build = |i: usize| {
            let id = CredentialId::parse(&format!("cred_{i:032x}")).expect("id");
            let adapter = r
                .build_for(
                    &id,
                    ProviderKind::Bird,
                    &settings,
                    SecretString::from("k".to_owned()),
                )
                .expect("adapter");
            r.insert(&id, Utc::now(), adapter);
        };
        for i in 0..MIN_SWEEP {
            build(i);
        }
        assert_eq!(r.tracked(), (MIN_SWEEP, MIN_SWEEP), "nothing idle yet");
        build(MIN_SWEEP);
        assert_eq!(
            r.tracked().0,
            MIN_SWEEP + 1,
            "recently used adapters are kept"
        );
        r.set_idle(Duration::ZERO);
        std::thread::sleep(Duration::from_millis(5));
        // The timed sweep empties a small registry too.
        let small = registry();
        let id = CredentialId::parse(&format!("cred_{:032x}", 1)).expect("id");
        let adapter = small
            .build_for(
                &id,
                ProviderKind::Bird,
                &settings,
                SecretString::from("k".to_owned()),
            )
            .expect("adapter");
        small.insert(&id, Utc::now(), adapter);
        small.sweep_idle();
        assert_eq!(small.tracked(), (1, 1), "not idle yet");
        small.set_idle(Duration::ZERO);
        std::thread::sleep(Duration::from_millis(5));
        small.sweep_idle();
        assert_eq!(
            small.tracked(),
            (0, 0),
            "idle: the adapter and its guard are gone"
        );
        for i in 0..2 * MIN_SWEEP + 2 {
            build(10_000 + i);
            if r.tracked().0 < MIN_SWEEP {
                break;
            }
        }
        let (adapters, guards) = r.tracked();
        assert!(adapters < MIN_SWEEP, "idle adapters swept: {adapters} left");
        assert!(
            guards <= adapters + 1,
            "their guards too: {guards} for {adapters}"
        );
    }

    #[test]
    fn every_provider_is_available() {
        assert_eq!(available_providers(), ProviderKind::ALL.to_vec());
        for p in ProviderKind::ALL {
            assert_eq!(declaration(p).map(|d| d.provider), Some(p));
            assert_eq!(registry().declaration(p), declaration(p));
        }
    }

    #[test]
    fn switched_off_karia_operations_leave_the_registry_declaration() {
        let config: AdaptersConfig =
            serde_json::from_value(json!({"karia": {"delete": false}})).expect("config");
        let reg = Registry::with_config(
            Transport::new(&TransportConfig::default()).expect("transport"),
            config,
        );
        let decl = reg.declaration(ProviderKind::Karia).expect("karia");
        assert!(!decl.operations.delete && decl.operations.update && decl.operations.list);
        assert!(declaration(ProviderKind::Karia).is_some_and(|d| d.operations.delete));
        assert_eq!(
            reg.declaration(ProviderKind::Bird),
            declaration(ProviderKind::Bird)
        );
        let adapter = reg
            .build(
                ProviderKind::Karia,
                &json!({"organisationId": "1", "workspaceId": "1"}),
                SecretString::from("k"),
            )
            .expect("build");
        assert_eq!(adapter.declaration(), decl);
        assert!(serde_json::from_value::<AdaptersConfig>(json!({"hubspot": {}})).is_err());
    }

    #[test]
    fn settings_must_be_an_object() {
        let errs = validate_settings(ProviderKind::Bird, &json!([1])).expect_err("array");
        assert_eq!(errs[0].pointer, "/settings");
        let errs =
            validate_settings(ProviderKind::Bird, &Value::Null).expect_err("missing workspace");
        assert_eq!(errs[0].pointer, "/settings/workspaceId");
        assert!(validate_settings(ProviderKind::Bird, &json!({"workspaceId": WS})).is_ok());
    }

    #[test]
    fn secret_shape() {
        assert!(validate_secret(ProviderKind::Bird, "bird-sandbox-key").is_ok());
        for (secret, code) in [
            ("", "required"),
            ("a b", "invalid"),
            ("key\n", "invalid"),
            ("k\u{7}", "invalid"),
        ] {
            let err = validate_secret(ProviderKind::Bird, secret).expect_err(secret);
            assert_eq!((err.pointer.as_str(), err.code.as_str()), ("/secret", code));
        }
        let long = "k".repeat(4097);
        assert_eq!(
            validate_secret(ProviderKind::Bird, &long)
                .expect_err("long")
                .code,
            "too_long"
        );
        assert!(validate_secret(ProviderKind::Bird, &"k".repeat(4096)).is_ok());
        assert_eq!(
            validate_secret(ProviderKind::Bird, "kéy")
                .expect_err("non-ascii")
                .code,
            "format"
        );
    }

    #[test]
    fn base_url_defaults() {
        assert_eq!(
            base_url(ProviderKind::Bird, &json!({"workspaceId": WS})),
            "https://api.bird.com"
        );
        assert_eq!(
            base_url(ProviderKind::Bird, &json!({"baseUrl": "http://x/bird"})),
            "http://x/bird"
        );
        assert_eq!(
            base_url(ProviderKind::Karia, &json!({})),
            "https://app.np.aws.karia.com.au/api/v0"
        );
    }

    #[test]
    fn cache_is_keyed_by_version() {
        let reg = registry();
        let cred = CredentialId::generate();
        let v1 = Utc::now();
        let v2 = v1 + chrono::Duration::seconds(1);
        let adapter = reg
            .build(
                ProviderKind::Bird,
                &json!({"workspaceId": WS}),
                SecretString::from("k"),
            )
            .expect("build");
        assert!(reg.cached(&cred, v1).is_none());
        reg.insert(&cred, v1, adapter);
        assert!(reg.cached(&cred, v1).is_some());
        assert!(
            reg.cached(&cred, v2).is_none(),
            "a changed credential is not served from cache"
        );
        reg.evict(&cred);
        assert!(reg.cached(&cred, v1).is_none());
        assert!(format!("{reg:?}").contains("cached"));
    }

    #[test]
    fn build_refuses_what_the_deployment_forbids() {
        let reg = registry();
        let err = reg
            .build(
                ProviderKind::Bird,
                &json!({"workspaceId": WS, "baseUrl": "http://127.0.0.1:9/bird"}),
                SecretString::from("k"),
            )
            .err()
            .expect("private");
        assert_eq!(err.kind, ErrorKind::Misconfigured);
        assert_eq!(err.fields[0].pointer, "/settings/baseUrl");
        let err = reg
            .build(ProviderKind::Bird, &json!({}), SecretString::from("k"))
            .err()
            .expect("no workspace");
        assert_eq!(err.kind, ErrorKind::Misconfigured);
        let err = reg
            .build(ProviderKind::Karia, &json!({}), SecretString::from("k"))
            .err()
            .expect("no organisation or workspace");
        assert_eq!(err.kind, ErrorKind::Misconfigured);
        let err = reg
            .build(
                ProviderKind::Bird,
                &json!({"workspaceId": WS}),
                SecretString::from("kéy"),
            )
            .err()
            .expect("non-ascii");
        assert_eq!(err.kind, ErrorKind::CredentialRejected);
        assert!(!err.to_string().contains("kéy"));
    }

    #[test]
    fn registry_is_send_sync_and_clone() {
        fn assert_traits<T: Send + Sync + Clone + 'static>() {}
        assert_traits::<Registry>();
    }
}
