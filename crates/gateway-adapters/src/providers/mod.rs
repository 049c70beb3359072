//! One module per provider, and the single `match ProviderKind` that knows which exist.
//! Adding a provider is one `mod` line here and one arm in [`provider`].

pub(crate) mod bird;
pub(crate) mod iclosed;
pub(crate) mod karia;

use std::sync::Arc;

use gateway_core::{AdapterError, CrmAdapter, FieldError, ProviderDeclaration, ProviderKind};
use gateway_transport::{check_base_url_syntax, Transport};
use secrecy::SecretString;
use serde_json::{Map, Value};

use crate::registry::AdaptersConfig;

/// Most items of an array whose write costs one provider call per item (Bird identifiers on
/// update, Karia addresses and contact methods). The gateway's own bound, not a provider's:
/// it caps the calls one request can fan out to; more items are refused with 422 before any
/// call (docs/mapping.md "Limits").
pub(crate) const FAN_OUT_MAX_ITEMS: usize = 10;

/// What the registry needs from a provider module.
pub(crate) trait Provider: Send + Sync {
    /// The provider's declaration, built once.
    fn declaration(&self) -> &'static ProviderDeclaration;

    /// The default per-credential rate budget, from the provider's documented limits: sustained
    /// calls per second and burst (docs/operations.md, "Rate budget").
    fn rate_budget(&self) -> (f64, u32);

    /// Checks the settings object (already known to be an object) and returns it normalised.
    fn validate_settings(&self, settings: &Map<String, Value>) -> Result<Value, Vec<FieldError>>;

    /// Provider-specific secret shape, after the common checks passed.
    fn validate_secret(&self, _secret: &str) -> Result<(), FieldError> {
        Ok(())
    }

    /// An adapter bound to one credential.
    fn build(
        &self,
        transport: &Transport,
        settings: &Value,
        secret: SecretString,
    ) -> Result<Arc<dyn CrmAdapter>, AdapterError>;

    /// The declaration under a deployment's [`AdaptersConfig`] (operations it switched off
    /// are unavailable). Providers without switches answer their declaration.
    fn configured_declaration(&self, _config: &AdaptersConfig) -> ProviderDeclaration {
        self.declaration().clone()
    }

    /// [`Provider::build`] under a deployment's [`AdaptersConfig`].
    fn build_configured(
        &self,
        transport: &Transport,
        settings: &Value,
        secret: SecretString,
        _config: &AdaptersConfig,
    ) -> Result<Arc<dyn CrmAdapter>, AdapterError> {
        self.build(transport, settings, secret)
    }
}

/// The provider module for `kind`, or `None` while it is not built yet.
pub(crate) fn provider(kind: ProviderKind) -> Option<&'static dyn Provider> {
    match kind {
        ProviderKind::Bird => Some(&bird::Bird),
        ProviderKind::Iclosed => Some(&iclosed::Iclosed),
        ProviderKind::Karia => Some(&karia::Karia),
    }
}

/// The settings object of a credential; absent or `null` counts as `{}`.
pub(crate) fn settings_object(settings: &Value) -> Result<Map<String, Value>, Vec<FieldError>> {
    match settings {
        Value::Object(m) => Ok(m.clone()),
        Value::Null => Ok(Map::new()),
        _ => Err(vec![FieldError::new(
            "/settings",
            "invalid_type",
            "settings must be an object",
        )]),
    }
}

/// The base URL an adapter talks to: the validated `baseUrl` or the provider's default, with
/// the deployment's send-time rule (https and public addresses unless private ones are
/// allowed) applied, so an adapter is never built for a URL the deployment forbids.
pub(crate) fn resolved_base_url(
    normalised: &Value,
    default: &str,
    allow_private: bool,
) -> Result<url::Url, Vec<FieldError>> {
    let raw = normalised
        .get("baseUrl")
        .and_then(Value::as_str)
        .unwrap_or(default);
    check_base_url_syntax(raw, allow_private).map_err(|e| {
        vec![FieldError::new(
            settings_pointer("baseUrl"),
            "not_allowed",
            e.to_string(),
        )]
    })
}

/// JSON pointer of one settings key (RFC 6901 escaping, so an odd key cannot forge a path).
pub(crate) fn settings_pointer(key: &str) -> String {
    format!("/settings/{}", gateway_core::validate::pointer_segment(key))
}

/// Every key not in `allowed` is an error: a misspelt `workspaceID` must not be ignored and
/// leave the credential pointing somewhere unexpected.
pub(crate) fn unknown_settings(settings: &Map<String, Value>, allowed: &[&str]) -> Vec<FieldError> {
    settings
        .keys()
        .filter(|k| !allowed.contains(&k.as_str()))
        .map(|k| {
            FieldError::new(
                settings_pointer(k),
                "unknown_setting",
                format!(
                    "unknown setting; accepted settings are {}",
                    allowed.join(", ")
                ),
            )
        })
        .collect()
}

/// `baseUrl`: absent or null means the provider default. Only the shape is checked here (no
/// DNS, and whether private addresses are allowed is the deployment's call, enforced by
/// `gateway_transport::check_base_url` and again when the adapter is built and connects).
pub(crate) fn base_url_setting(
    settings: &Map<String, Value>,
) -> Result<Option<String>, FieldError> {
    let pointer = settings_pointer("baseUrl");
    match settings.get("baseUrl") {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => match check_base_url_syntax(s, true) {
            Ok(_) if s.trim() == s => Ok(Some(s.clone())),
            Ok(_) => Err(FieldError::new(
                pointer,
                "format",
                "baseUrl must not have leading or trailing spaces",
            )),
            Err(e) => Err(FieldError::new(pointer, "format", e.to_string())),
        },
        Some(_) => Err(FieldError::new(
            pointer,
            "invalid_type",
            "baseUrl must be a string",
        )),
    }
}
