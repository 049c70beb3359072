//! `IclosedSettings` from a credential's `settings` (docs/operations.md): `baseUrl` only (optional,
//! default `https://public.api.iclosed.io`, docs/providers/iclosed.md); every route is joined below it
//! under `/v1`.

use gateway_core::FieldError;
use serde_json::{Map, Value};
use url::Url;

use super::declare::DEFAULT_BASE_URL;
use crate::providers::{base_url_setting, unknown_settings};

const KEYS: [&str; 1] = ["baseUrl"];

/// Where one iClosed credential points.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IclosedSettings {
    /// API root; `/v1/contacts…` is joined below it.
    pub base_url: Url,
}

/// Checks the settings object and returns it unchanged in meaning: `baseUrl` is kept exactly
/// as sent (the default is applied at build time, so a credential that never set one keeps
/// following the provider default).
pub(super) fn validate(settings: &Map<String, Value>) -> Result<Value, Vec<FieldError>> {
    let mut errors = unknown_settings(settings, &KEYS);
    let base_url = base_url_setting(settings)
        .map_err(|e| errors.push(e))
        .ok()
        .flatten();
    if !errors.is_empty() {
        return Err(errors);
    }
    let mut out = Map::new();
    if let Some(url) = base_url {
        out.insert("baseUrl".into(), Value::String(url));
    }
    Ok(Value::Object(out))
}

impl IclosedSettings {
    /// Parses validated (or stored) settings. `allow_private` applies the send-time half of
    /// the base-URL rule so an adapter is never built for a URL the deployment forbids.
    pub fn from_json(settings: &Value, allow_private: bool) -> Result<Self, Vec<FieldError>> {
        let normalised = validate(&crate::providers::settings_object(settings)?)?;
        let base_url =
            crate::providers::resolved_base_url(&normalised, DEFAULT_BASE_URL, allow_private)?;
        Ok(Self { base_url })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn obj(v: Value) -> Map<String, Value> {
        match v {
            Value::Object(m) => m,
            _ => Map::new(),
        }
    }

    #[test]
    fn base_url_is_the_only_setting() {
        assert_eq!(validate(&obj(json!({}))).expect("empty"), json!({}));
        assert_eq!(
            validate(&obj(json!({"baseUrl": "http://127.0.0.1:8090/iclosed"}))).expect("ok"),
            json!({"baseUrl": "http://127.0.0.1:8090/iclosed"})
        );
        assert_eq!(
            validate(&obj(json!({"baseUrl": null}))).expect("null"),
            json!({})
        );
        let errs = validate(&obj(
            json!({"workspaceId": "x", "baseURL": "https://x", "baseUrl": "ftp://x"}),
        ))
        .expect_err("invalid");
        let mut pointers: Vec<&str> = errs.iter().map(|e| e.pointer.as_str()).collect();
        pointers.sort_unstable();
        assert_eq!(
            pointers,
            [
                "/settings/baseURL",
                "/settings/baseUrl",
                "/settings/workspaceId"
            ]
        );
        let errs = validate(&obj(json!({"baseUrl": 5}))).expect_err("type");
        assert_eq!(errs[0].code, "invalid_type");
    }

    #[test]
    fn build_time_parse_applies_default_and_policy() {
        let s = IclosedSettings::from_json(&json!({}), false).expect("default");
        assert_eq!(s.base_url.as_str(), "https://public.api.iclosed.io/");
        let s = IclosedSettings::from_json(&Value::Null, false).expect("null settings");
        assert_eq!(s.base_url.as_str(), "https://public.api.iclosed.io/");
        let err =
            IclosedSettings::from_json(&json!({"baseUrl": "http://127.0.0.1:1/iclosed"}), false)
                .expect_err("private");
        assert_eq!(err[0].pointer, "/settings/baseUrl");
        assert!(IclosedSettings::from_json(
            &json!({"baseUrl": "http://127.0.0.1:1/iclosed"}),
            true
        )
        .is_ok());
        assert!(IclosedSettings::from_json(&json!([1]), true).is_err());
    }
}
