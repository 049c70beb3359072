//! Layered settings: the embedded `config/default.toml`, an optional `--config` file, then
//! `CRM_GATEWAY_*` environment variables (nested keys joined by `__`).

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use anyhow::{bail, Context};
use figment::providers::{Env, Format, Toml};
use figment::Figment;
use gateway_api::ApiConfig;
use gateway_store::Cipher;
use gateway_transport::TransportConfig;
use secrecy::{ExposeSecret, SecretSlice, SecretString};
use serde::Deserialize;

/// The defaults, compiled in so the binary runs with no file at all.
pub const DEFAULT_TOML: &str = include_str!("../../../config/default.toml");

/// Log output settings.
#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LogConfig {
    /// `text` or `json`.
    pub format: String,
    /// Filter used when `RUST_LOG` is unset.
    pub level: String,
}

impl Default for LogConfig {
    fn default() -> Self {
        Self {
            format: "text".into(),
            level: "info".into(),
        }
    }
}

/// Shutdown settings.
#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ShutdownConfig {
    /// Time in-flight requests get after a stop signal.
    #[serde(with = "humantime_serde")]
    pub grace: Duration,
}

impl Default for ShutdownConfig {
    fn default() -> Self {
        Self {
            grace: Duration::from_secs(10),
        }
    }
}

/// Everything the binary reads. Each component owns its section.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// API address.
    pub listen: SocketAddr,
    /// Database URL; may hold a password, so it is never logged as is.
    pub database_url: SecretString,
    /// Base64 of the 32-byte master key.
    #[serde(default)]
    pub master_key: Option<SecretString>,
    /// Version of `master_key`.
    #[serde(default = "one")]
    pub master_key_version: u32,
    /// Older master keys by version.
    #[serde(default)]
    pub previous_master_keys: BTreeMap<String, SecretString>,
    /// Bearer token for `/admin/*`.
    #[serde(default)]
    pub admin_token: Option<SecretString>,
    /// Lets credentials point at private addresses.
    #[serde(default)]
    pub allow_private_base_urls: bool,
    /// Sandbox address.
    pub sandbox_listen: SocketAddr,
    /// API layer.
    #[serde(default)]
    pub api: ApiConfig,
    /// Outbound HTTP.
    #[serde(default)]
    pub transport: TransportConfig,
    /// Per-provider switches (Karia's inferred operations).
    #[serde(default)]
    pub adapters: gateway_adapters::AdaptersConfig,
    /// Outbound resilience per provider: retries, rate budget, circuit breaker.
    #[serde(default)]
    pub resilience: gateway_adapters::ResilienceSettings,
    /// Logs.
    #[serde(default)]
    pub log: LogConfig,
    /// Shutdown.
    #[serde(default)]
    pub shutdown: ShutdownConfig,
    /// Background reconciliation of remote deletions.
    #[serde(default)]
    pub reconcile: gateway_jobs::ReconcileConfig,
}

fn one() -> u32 {
    1
}

impl Settings {
    /// Loads the layers. A `--config` path that does not exist is an error, not a silent skip.
    pub fn load(config_file: Option<&Path>) -> anyhow::Result<Settings> {
        let mut figment = Figment::new().merge(Toml::string(DEFAULT_TOML));
        if let Some(path) = config_file {
            if !path.is_file() {
                bail!("config file {} does not exist", path.display());
            }
            figment = figment.merge(Toml::file_exact(path));
        }
        let settings: Settings = figment
            .merge(
                Env::prefixed("CRM_GATEWAY_")
                    // The test suite's own variables share the prefix; they are not settings.
                    .filter(|k| {
                        let k = k.as_str().to_ascii_lowercase();
                        !k.starts_with("test_") && k != "require_postgres"
                    })
                    .split("__"),
            )
            .extract()
            .context("invalid configuration")?;
        settings.validate()?;
        Ok(settings)
    }

    fn validate(&self) -> anyhow::Result<()> {
        if !(1..=100).contains(&self.api.default_page_size) {
            bail!("api.default_page_size must be between 1 and 100");
        }
        if self.api.max_body_bytes < 1024 {
            bail!("api.max_body_bytes must be at least 1024");
        }
        let rl = &self.api.rate_limit;
        if !(rl.per_second.is_finite() && rl.per_second >= 0.0) {
            bail!(
                "api.rate_limit.per_second must be a number of at least 0 (0 disables the limit)"
            );
        }
        if rl.per_second > 0.0 && rl.burst == 0 {
            bail!("api.rate_limit.burst must be at least 1 while the limit is on");
        }
        self.reconcile.validate().map_err(anyhow::Error::msg)?;
        if !matches!(self.log.format.as_str(), "text" | "json") {
            bail!("log.format must be \"text\" or \"json\"");
        }
        let url = self.database_url.expose_secret();
        if !(url.starts_with("sqlite:")
            || url.starts_with("postgres://")
            || url.starts_with("postgresql://"))
        {
            bail!("database_url must start with sqlite: or postgres://");
        }
        Ok(())
    }

    /// The cipher for credential secrets, or a clear error naming the variable.
    pub fn cipher(&self) -> anyhow::Result<Cipher> {
        let Some(current) = &self.master_key else {
            bail!("CRM_GATEWAY_MASTER_KEY is not set: generate one with `openssl rand -base64 32` (serve refuses to start without it)");
        };
        let mut keys = vec![(
            self.master_key_version,
            decode_key("CRM_GATEWAY_MASTER_KEY", current)?,
        )];
        for (version, key) in &self.previous_master_keys {
            let v: u32 = version.parse().with_context(|| {
                format!("previous_master_keys: {version:?} is not a version number")
            })?;
            if v == self.master_key_version {
                bail!("previous_master_keys.{v} has the same version as master_key_version");
            }
            keys.push((
                v,
                decode_key(&format!("CRM_GATEWAY_PREVIOUS_MASTER_KEYS__{v}"), key)?,
            ));
        }
        Cipher::new(self.master_key_version, keys).map_err(|e| anyhow::anyhow!("{e}"))
    }

    /// The database URL with any password masked, for logs.
    pub fn database_url_redacted(&self) -> String {
        redact_url(self.database_url.expose_secret())
    }

    /// Transport settings with the top-level private-address switch applied.
    pub fn transport_config(&self) -> TransportConfig {
        TransportConfig {
            allow_private_base_urls: self.allow_private_base_urls,
            ..self.transport.clone()
        }
    }
}

fn decode_key(name: &str, key: &SecretString) -> anyhow::Result<SecretSlice<u8>> {
    use base64::Engine;
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(key.expose_secret().trim())
        .map_err(|_| anyhow::anyhow!("{name} is not valid base64"))?;
    if bytes.len() != 32 {
        bail!(
            "{name} must be base64 of exactly 32 bytes, got {} bytes",
            bytes.len()
        );
    }
    Ok(SecretSlice::from(bytes))
}

/// Masks the password of `scheme://user:password@host/…`.
pub fn redact_url(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut parsed) if parsed.password().is_some() => {
            let _ = parsed.set_password(Some("****"));
            parsed.to_string()
        }
        _ => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_load_and_debug_hides_secrets() {
        let settings: Settings = Figment::new()
            .merge(Toml::string(DEFAULT_TOML))
            .merge(Toml::string("master_key = \"MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=\"\nadmin_token = \"admin-secret-token\"\ndatabase_url = \"postgres://u:hunter2@db/x\""))
            .extract()
            .expect("defaults parse");
        let debug = format!("{settings:?}");
        assert!(!debug.contains("admin-secret-token"));
        assert!(!debug.contains("MDEyMzQ1"));
        assert!(!debug.contains("hunter2"));
        assert_eq!(settings.listen.to_string(), "127.0.0.1:8080");
        assert!(!settings.database_url_redacted().contains("hunter2"));
        assert!(settings.cipher().is_ok());
    }

    #[test]
    fn wrong_master_key_is_named_not_echoed() {
        let settings: Settings = Figment::new()
            .merge(Toml::string(DEFAULT_TOML))
            .merge(Toml::string("master_key = \"dG9vLXNob3J0\""))
            .extract()
            .expect("parse");
        let err = settings
            .cipher()
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(err.contains("CRM_GATEWAY_MASTER_KEY"));
        assert!(!err.contains("dG9vLXNob3J0"));
    }
}
