//! `BirdSettings` from a credential's `settings` (docs/operations.md): `workspaceId` (uuid,
//! required) and `baseUrl` (optional, default `https://api.bird.com`, docs/providers/bird.md).

use gateway_core::FieldError;
use serde_json::{Map, Value};
use url::Url;
use uuid::Uuid;

use super::declare::DEFAULT_BASE_URL;
use crate::providers::{base_url_setting, settings_pointer, unknown_settings};

const KEYS: [&str; 2] = ["workspaceId", "baseUrl"];

/// Where one Bird credential points.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BirdSettings {
    /// The workspace every contact path lives under.
    pub workspace_id: Uuid,
    /// API root; contact paths are joined below it.
    pub base_url: Url,
}

/// Checks the settings object and returns it with `workspaceId` in canonical lower-case
/// hyphenated form; `baseUrl` is kept exactly as sent (the default is applied at build time,
/// so a credential keeps following the provider default if it never set one).
pub(super) fn validate(settings: &Map<String, Value>) -> Result<Value, Vec<FieldError>> {
    let mut errors = unknown_settings(settings, &KEYS);
    let workspace = match settings.get("workspaceId") {
        None | Some(Value::Null) => {
            errors.push(FieldError::new(
                settings_pointer("workspaceId"),
                "required",
                "workspaceId is required for bird",
            ));
            None
        }
        Some(Value::String(s)) => match Uuid::parse_str(s.trim()) {
            Ok(id) => Some(id),
            Err(_) => {
                errors.push(FieldError::new(
                    settings_pointer("workspaceId"),
                    "format",
                    "workspaceId must be a uuid, e.g. 2d7d5b6e-0000-4000-8000-000000000001",
                ));
                None
            }
        },
        Some(_) => {
            errors.push(FieldError::new(
                settings_pointer("workspaceId"),
                "invalid_type",
                "workspaceId must be a string",
            ));
            None
        }
    };
    let base_url = base_url_setting(settings)
        .map_err(|e| errors.push(e))
        .ok()
        .flatten();
    match workspace {
        Some(id) if errors.is_empty() => {
            let mut out = Map::new();
            out.insert(
                "workspaceId".into(),
                Value::String(id.hyphenated().to_string()),
            );
            if let Some(url) = base_url {
                out.insert("baseUrl".into(), Value::String(url));
            }
            Ok(Value::Object(out))
        }
        _ => Err(errors),
    }
}

impl BirdSettings {
    /// Parses validated (or stored) settings. `allow_private` applies the send-time half of
    /// the base-URL rule so an adapter is never built for a URL the deployment forbids.
    pub fn from_json(settings: &Value, allow_private: bool) -> Result<Self, Vec<FieldError>> {
        let normalised = validate(&crate::providers::settings_object(settings)?)?;
        let workspace_id = normalised
            .get("workspaceId")
            .and_then(Value::as_str)
            .and_then(|s| Uuid::parse_str(s).ok())
            .ok_or_else(|| {
                vec![FieldError::new(
                    settings_pointer("workspaceId"),
                    "required",
                    "workspaceId is required for bird",
                )]
            })?;
        let base_url =
            crate::providers::resolved_base_url(&normalised, DEFAULT_BASE_URL, allow_private)?;
        Ok(Self {
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
    fn valid_settings_are_normalised_and_keep_base_url() {
        let out = validate(&obj(json!({"workspaceId": "2D7D5B6E-0000-4000-8000-000000000001", "baseUrl": "http://127.0.0.1:8090/bird"})))
            .expect("valid");
        assert_eq!(
            out,
            json!({"workspaceId": "2d7d5b6e-0000-4000-8000-000000000001", "baseUrl": "http://127.0.0.1:8090/bird"})
        );
        let out = validate(&obj(
            json!({"workspaceId": "2d7d5b6e-0000-4000-8000-000000000001"}),
        ))
        .expect("valid");
        assert!(
            out.get("baseUrl").is_none(),
            "the default is applied at build time, not stored"
        );
    }

    #[test]
    fn every_problem_is_reported_with_its_pointer() {
        let errs = validate(&obj(
            json!({"workspaceID": "x", "baseUrl": "ftp://x", "colour": 1}),
        ))
        .expect_err("invalid");
        let pointers: Vec<&str> = errs.iter().map(|e| e.pointer.as_str()).collect();
        assert!(pointers.contains(&"/settings/workspaceId"), "{pointers:?}");
        assert!(pointers.contains(&"/settings/workspaceID"));
        assert!(pointers.contains(&"/settings/colour"));
        assert!(pointers.contains(&"/settings/baseUrl"));
        assert!(errs
            .iter()
            .any(|e| e.message.starts_with("unknown setting")));

        let errs = validate(&obj(json!({"workspaceId": "not-a-uuid"}))).expect_err("invalid");
        assert_eq!(errs[0].code, "format");
        let errs = validate(&obj(json!({"workspaceId": 7}))).expect_err("invalid");
        assert_eq!(errs[0].code, "invalid_type");
        let errs =
            validate(&obj(json!({"workspaceId": "2d7d5b6e-0000-4000-8000-000000000001", "baseUrl": "https://u:p@x.example"})))
                .expect_err("userinfo");
        assert_eq!(errs[0].pointer, "/settings/baseUrl");
        assert!(!errs[0].message.contains("u:p"));
    }

    #[test]
    fn build_time_parse_applies_default_and_policy() {
        let s = BirdSettings::from_json(
            &json!({"workspaceId": "2d7d5b6e-0000-4000-8000-000000000001"}),
            false,
        )
        .expect("ok");
        assert_eq!(s.base_url.as_str(), "https://api.bird.com/");
        let err = BirdSettings::from_json(
            &json!({"workspaceId": "2d7d5b6e-0000-4000-8000-000000000001", "baseUrl": "http://127.0.0.1:1/bird"}),
            false,
        )
        .expect_err("private");
        assert_eq!(err[0].pointer, "/settings/baseUrl");
        assert!(BirdSettings::from_json(
            &json!({"workspaceId": "2d7d5b6e-0000-4000-8000-000000000001", "baseUrl": "http://127.0.0.1:1/bird"}),
            true,
        )
        .is_ok());
    }
}
