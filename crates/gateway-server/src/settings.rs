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
    /// API address: an IP and port, or a host name and port resolved once at start.
    #[serde(deserialize_with = "listen_address")]
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
    /// Sandbox address, like `listen`.
    #[serde(deserialize_with = "listen_address")]
    pub sandbox_listen: SocketAddr,
    /// Where `GET /metrics` (Prometheus) is served, never on the API port; empty: off.
    #[serde(default, deserialize_with = "optional_listen_address")]
    pub metrics_listen: Option<SocketAddr>,
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

/// The shortest admin token accepted: a guessable token would open every tenant's keys.
pub const MIN_ADMIN_TOKEN_CHARS: usize = 16;

/// The database URL `config/default.toml` sets, to tell an operator when a command used it
/// because nothing else was configured.
pub const DEFAULT_DATABASE_URL: &str = "sqlite://data/crm-gateway.db?mode=rwc";

fn listen_address<'de, D: serde::Deserializer<'de>>(d: D) -> Result<SocketAddr, D::Error> {
    /// `CRM_GATEWAY_LISTEN=8080` arrives as a number: answered with what is missing, not with
    /// a type error.
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Raw {
        Text(String),
        Number(u64),
    }
    match Raw::deserialize(d)? {
        Raw::Text(text) => resolve_listen(&text),
        Raw::Number(n) => resolve_listen(&n.to_string()),
    }
    .map_err(serde::de::Error::custom)
}

/// Like [`listen_address`], with an empty value meaning "off".
fn optional_listen_address<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<Option<SocketAddr>, D::Error> {
    let text = Option::<String>::deserialize(d)?.unwrap_or_default();
    if text.trim().is_empty() {
        return Ok(None);
    }
    resolve_listen(&text)
        .map(Some)
        .map_err(serde::de::Error::custom)
}

/// `IP:PORT` (`127.0.0.1:8080`, `[::1]:8080`, `0.0.0.0:8080`) as is, or `HOST:PORT` with the
/// host name resolved now (`localhost:8080`); a name with IPv4 and IPv6 addresses binds the
/// IPv4 one, which is what `localhost` means to most clients.
pub fn resolve_listen(text: &str) -> Result<SocketAddr, String> {
    use std::net::ToSocketAddrs;
    let text = text.trim();
    if let Ok(addr) = text.parse::<SocketAddr>() {
        return Ok(addr);
    }
    let wanted = "an address and port: an IP (127.0.0.1:8080, 0.0.0.0:8080, [::]:8080) or a \
                  host name that resolves (localhost:8080)";
    let Some((host, port)) = text.rsplit_once(':') else {
        if text.parse::<u16>().is_ok() {
            return Err(format!(
                "{text:?} is only a port; expected {wanted}, e.g. 127.0.0.1:{text}"
            ));
        }
        return Err(format!("{text:?} has no port; expected {wanted}"));
    };
    let Ok(port) = port.parse::<u16>() else {
        return Err(format!(
            "{text:?}: {port:?} is not a port number (0-65535); expected {wanted}"
        ));
    };
    if host.is_empty() {
        return Err(format!("{text:?} has no host; expected {wanted}"));
    }
    let addrs: Vec<SocketAddr> = (host, port)
        .to_socket_addrs()
        .map_err(|e| {
            format!("{text:?}: the host name {host:?} does not resolve ({e}); expected {wanted}")
        })?
        .collect();
    addrs
        .iter()
        .find(|a| a.is_ipv4())
        .or_else(|| addrs.first())
        .copied()
        .ok_or_else(|| {
            format!("{text:?}: the host name {host:?} resolves to no address; expected {wanted}")
        })
}

/// Renders figment's errors with the key as the operator wrote it (`api.max_body_bytes`, not
/// figment's profile-qualified `default.api.max_body_bytes`) and where it came from: the
/// environment variable's own name, or the file.
fn describe_config_error(error: figment::Error) -> String {
    use figment::Source;
    let mut lines = Vec::new();
    for e in error {
        let key = e.path.join(".");
        let origin = match e.metadata.as_ref() {
            Some(m) if m.name.contains("environment") => {
                let var = format!("CRM_GATEWAY_{}", e.path.join("__").to_ascii_uppercase());
                format!(" (from the environment variable {var})")
            }
            Some(m) => match &m.source {
                Some(Source::File(path)) => format!(" (in {})", path.display()),
                _ => String::new(),
            },
            None => String::new(),
        };
        // The value of a secret setting is never repeated, even inside a type error ("found
        // unsigned int `…`" would print an all-digits token).
        let secret = [
            "admin_token",
            "master_key",
            "database_url",
            "previous_master_keys",
        ]
        .iter()
        .any(|s| key == *s || key.starts_with(&format!("{s}.")));
        if key.is_empty() {
            lines.push(format!("{}{origin}", e.kind));
        } else if secret {
            lines.push(format!(
                "{key}: not a valid value (not shown: it is a secret; it must be text){origin}"
            ));
        } else {
            lines.push(format!("{key}: {}{origin}", e.kind));
        }
    }
    lines.join("; ")
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
        let mut settings: Settings = figment
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
            .map_err(|e| anyhow::anyhow!("invalid configuration: {}", describe_config_error(e)))?;
        // Set but empty (`CRM_GATEWAY_ADMIN_TOKEN=`, a blank line in a secrets file) means
        // unset: the admin API stays off (404), as the documentation says.
        if settings
            .admin_token
            .as_ref()
            .is_some_and(|t| t.expose_secret().trim().is_empty())
        {
            settings.admin_token = None;
        }
        settings.validate()?;
        Ok(settings)
    }

    fn validate(&self) -> anyhow::Result<()> {
        if let Some(token) = &self.admin_token {
            let chars = token.expose_secret().trim().chars().count();
            if chars < MIN_ADMIN_TOKEN_CHARS {
                bail!(
                    "admin_token (CRM_GATEWAY_ADMIN_TOKEN) is {chars} characters long; it must be at least \
                     {MIN_ADMIN_TOKEN_CHARS} (e.g. `openssl rand -hex 32`), or empty to turn the admin API off"
                );
            }
        }
        if !(1..=100).contains(&self.api.default_page_size) {
            bail!("api.default_page_size must be between 1 and 100");
        }
        // A silent client may hold a connection this long: bounded, and never zero (which
        // would close every connection before its first request).
        let header = self.api.connections.header_read_timeout;
        if header.is_zero() || header > Duration::from_secs(30) {
            bail!(
                "api.connections.header_read_timeout must be between 1ms and 30s, got {header:?}"
            );
        }
        if self.api.connections.max_connections == 0 {
            bail!("api.connections.max_connections must be at least 1");
        }
        if self.api.max_body_bytes < 1024 {
            bail!(
                "api.max_body_bytes must be at least 1024 (bytes), got {}",
                self.api.max_body_bytes
            );
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

    /// The environment variable (or setting) that holds the key of `version`, for errors.
    pub fn master_key_var(&self, version: u32) -> String {
        if version == self.master_key_version {
            format!(
                "CRM_GATEWAY_MASTER_KEY (the current key; CRM_GATEWAY_MASTER_KEY_VERSION={version})"
            )
        } else {
            format!("CRM_GATEWAY_PREVIOUS_MASTER_KEYS__{version}")
        }
    }

    /// Which database a command uses, for humans: the redacted URL, a SQLite file's absolute
    /// path, and whether it is only the built-in default.
    pub fn database_description(&self) -> String {
        let url = self.database_url.expose_secret();
        let mut text = self.database_url_redacted();
        if let Some(rest) = url.strip_prefix("sqlite:") {
            let path = rest.trim_start_matches("//");
            let path = path.split('?').next().unwrap_or(path);
            if !path.is_empty() && !path.contains(":memory:") {
                let abs = std::env::current_dir()
                    .map(|d| d.join(path))
                    .unwrap_or_else(|_| path.into());
                text = format!("{text} (file {})", abs.display());
            }
        }
        if url == DEFAULT_DATABASE_URL {
            text.push_str(
                " - the built-in default, relative to the current folder; set \
                 CRM_GATEWAY_DATABASE_URL to use your server's database",
            );
        }
        text
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

/// The one decoder of master keys (`gateway_store::decode_master_key`), so every place a key
/// is read accepts the same forms: standard or URL-safe base64, padded or not.
fn decode_key(name: &str, key: &SecretString) -> anyhow::Result<SecretSlice<u8>> {
    gateway_store::decode_master_key(name, key).map_err(|e| match e {
        gateway_store::StoreError::Crypto(message) => anyhow::anyhow!("{message}"),
        other => anyhow::anyhow!("{other}"),
    })
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
