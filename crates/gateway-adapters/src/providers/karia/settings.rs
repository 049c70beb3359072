//! `KariaSettings` from a credential's `settings` (docs/operations.md): `organisationId` and
//! `workspaceId` (both required, opaque ids) and `baseUrl` (optional, default the only
//! published host, docs/providers/karia.md). Also [`KariaConfig`], the per-deployment switches for
//! the operations Karia does not document (docs/providers/karia.md).

use gateway_core::FieldError;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use url::Url;

use super::declare::DEFAULT_BASE_URL;
use crate::providers::{base_url_setting, settings_pointer, unknown_settings};

const KEYS: [&str; 3] = ["organisationId", "workspaceId", "baseUrl"];
/// Longest id accepted. Karia ids are int32 in the reference and short strings in the guide
/// (docs/providers/karia.md); anything longer is a paste error.
pub(super) const ID_MAX_CHARS: usize = 64;

/// Which of Karia's undocumented contact operations (docs/providers/karia.md) this deployment
/// offers. All on by default; switch one off (`[adapters.karia] delete = false`) when the real
/// Karia API turns out to differ from the inferred endpoint: the operation then answers 501
/// and the published declaration says it is unavailable.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct KariaConfig {
    /// `GET …/contact?limit=&offset=` (inferred).
    pub list: bool,
    /// `PATCH …/contact/{id}` (inferred).
    pub update: bool,
    /// `DELETE …/contact/{id}`, a soft delete (inferred).
    pub delete: bool,
}

impl Default for KariaConfig {
    fn default() -> Self {
        Self {
            list: true,
            update: true,
            delete: true,
        }
    }
}

/// Where one Karia credential points.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KariaSettings {
    /// The organisation every path lives under (opaque; numeric in the reference).
    pub organisation_id: String,
    /// The workspace every contact path lives under (opaque; numeric in the reference).
    pub workspace_id: String,
    /// API root; paths are joined below it.
    pub base_url: Url,
}

/// One id setting: a non-empty string of at most 64 visible characters, or a JSON integer
/// (the reference's ids are numbers), returned as a string.
fn id_setting(
    settings: &Map<String, Value>,
    key: &str,
    errors: &mut Vec<FieldError>,
) -> Option<String> {
    let pointer = settings_pointer(key);
    let raw = match settings.get(key) {
        None | Some(Value::Null) => {
            errors.push(FieldError::new(
                pointer,
                "required",
                format!("{key} is required for karia"),
            ));
            return None;
        }
        Some(Value::String(s)) => s.clone(),
        Some(Value::Number(n)) if n.is_u64() || n.is_i64() => n.to_string(),
        Some(Value::Number(_)) => {
            errors.push(FieldError::new(
                pointer,
                "format",
                format!("{key} must be a whole number or a string id"),
            ));
            return None;
        }
        Some(_) => {
            errors.push(FieldError::new(
                pointer,
                "invalid_type",
                format!("{key} must be a string (or a number)"),
            ));
            return None;
        }
    };
    let len = raw.chars().count();
    let problem = if raw.is_empty() {
        Some(("required", format!("{key} must not be empty")))
    } else if len > ID_MAX_CHARS {
        Some((
            "too_long",
            format!("{key} must be at most {ID_MAX_CHARS} characters, got {len}"),
        ))
    } else if raw.chars().any(|c| c.is_whitespace() || c.is_control()) {
        Some((
            "format",
            format!("{key} must not contain spaces, line breaks or control characters"),
        ))
    } else if raw == "." || raw == ".." {
        Some(("format", format!("{key} is not an id")))
    } else {
        None
    };
    match problem {
        Some((code, message)) => {
            errors.push(FieldError::new(pointer, code, message));
            None
        }
        None => Some(raw),
    }
}

/// Checks the settings object and returns it with both ids as strings; `baseUrl` is kept
/// exactly as sent (the default is applied at build time, so a credential keeps following the
/// provider default if it never set one).
pub(super) fn validate(settings: &Map<String, Value>) -> Result<Value, Vec<FieldError>> {
    let mut errors = unknown_settings(settings, &KEYS);
    let organisation = id_setting(settings, "organisationId", &mut errors);
    let workspace = id_setting(settings, "workspaceId", &mut errors);
    let base_url = base_url_setting(settings)
        .map_err(|e| errors.push(e))
        .ok()
        .flatten();
    match (organisation, workspace) {
        (Some(o), Some(w)) if errors.is_empty() => {
            let mut out = Map::new();
            out.insert("organisationId".into(), Value::String(o));
            out.insert("workspaceId".into(), Value::String(w));
            if let Some(url) = base_url {
                out.insert("baseUrl".into(), Value::String(url));
            }
            Ok(Value::Object(out))
        }
        _ => Err(errors),
    }
}

impl KariaSettings {
    /// Parses validated (or stored) settings. `allow_private` applies the send-time half of
    /// the base-URL rule so an adapter is never built for a URL the deployment forbids.
    pub fn from_json(settings: &Value, allow_private: bool) -> Result<Self, Vec<FieldError>> {
        let normalised = validate(&crate::providers::settings_object(settings)?)?;
        let text = |key: &str| {
            normalised
                .get(key)
                .and_then(Value::as_str)
                .map(str::to_owned)
                .ok_or_else(|| {
                    vec![FieldError::new(
                        settings_pointer(key),
                        "required",
                        format!("{key} is required for karia"),
                    )]
                })
        };
        let organisation_id = text("organisationId")?;
        let workspace_id = text("workspaceId")?;
        let base_url =
            crate::providers::resolved_base_url(&normalised, DEFAULT_BASE_URL, allow_private)?;
        Ok(Self {
            organisation_id,
            workspace_id,
            base_url,
        })
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
    fn ids_are_opaque_strings_and_numbers_are_stringified() {
        let out = validate(&obj(
            json!({"organisationId": 1, "workspaceId": "workspace_123"}),
        ))
        .expect("valid");
        assert_eq!(
            out,
            json!({"organisationId": "1", "workspaceId": "workspace_123"})
        );
        let out = validate(&obj(json!({
            "organisationId": "org_123", "workspaceId": "7",
            "baseUrl": "http://127.0.0.1:8090/karia"
        })))
        .expect("valid");
        assert_eq!(out["baseUrl"], "http://127.0.0.1:8090/karia");
    }

    #[test]
    fn every_problem_is_reported_with_its_pointer() {
        let errs = validate(&obj(
            json!({"workspaceID": "1", "colour": 1, "baseUrl": "ftp://x"}),
        ))
        .expect_err("invalid");
        let pointers: Vec<&str> = errs.iter().map(|e| e.pointer.as_str()).collect();
        for p in [
            "/settings/workspaceID",
            "/settings/colour",
            "/settings/organisationId",
            "/settings/workspaceId",
            "/settings/baseUrl",
        ] {
            assert!(pointers.contains(&p), "{p} in {pointers:?}");
        }
        for (value, code) in [
            (json!(""), "required"),
            (json!("a b"), "format"),
            (json!("x\n"), "format"),
            (json!(".."), "format"),
            (json!("x".repeat(65)), "too_long"),
            (json!(1.5), "format"),
            (json!(true), "invalid_type"),
            (json!(["1"]), "invalid_type"),
        ] {
            let errs = validate(&obj(json!({"organisationId": "1", "workspaceId": value})))
                .expect_err("invalid");
            assert_eq!(errs.len(), 1, "{errs:?}");
            assert_eq!(
                (errs[0].pointer.as_str(), errs[0].code.as_str()),
                ("/settings/workspaceId", code)
            );
        }
        assert!(validate(&obj(
            json!({"organisationId": "1", "workspaceId": "x".repeat(64)})
        ))
        .is_ok());
        assert!(validate(&obj(
            json!({"organisationId": "é", "workspaceId": "ワーク"})
        ))
        .is_ok());
    }

    #[test]
    fn build_time_parse_applies_default_and_policy() {
        let s = KariaSettings::from_json(&json!({"organisationId": 1, "workspaceId": 2}), false)
            .expect("ok");
        assert_eq!(
            s.base_url.as_str(),
            "https://app.np.aws.karia.com.au/api/v0"
        );
        assert_eq!(
            (s.organisation_id.as_str(), s.workspace_id.as_str()),
            ("1", "2")
        );
        let err = KariaSettings::from_json(
            &json!({"organisationId": "1", "workspaceId": "1", "baseUrl": "http://127.0.0.1:1/karia"}),
            false,
        )
        .expect_err("private");
        assert_eq!(err[0].pointer, "/settings/baseUrl");
        assert!(KariaSettings::from_json(
            &json!({"organisationId": "1", "workspaceId": "1", "baseUrl": "http://127.0.0.1:1/karia"}),
            true,
        )
        .is_ok());
    }

    #[test]
    fn config_defaults_to_everything_on_and_refuses_unknown_keys() {
        assert_eq!(
            KariaConfig::default(),
            KariaConfig {
                list: true,
                update: true,
                delete: true
            }
        );
        let partial: KariaConfig = serde_json::from_value(json!({"delete": false})).expect("ok");
        assert_eq!(
            partial,
            KariaConfig {
                list: true,
                update: true,
                delete: false
            }
        );
        assert!(serde_json::from_value::<KariaConfig>(json!({"remove": false})).is_err());
    }
}
