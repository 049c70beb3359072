//! Karia's API-key check and organisation/workspace scope (docs/providers/karia.md).

use axum::http::{header, HeaderMap};

use super::errors::KariaError;
use crate::{KARIA_SANDBOX_KEY, KARIA_SANDBOX_ORGANISATION, KARIA_SANDBOX_WORKSPACE};

/// The header of the reference pages (`ApiKeyAuth`, in header).
const API_KEY_HEADER: &str = "x-api-key";

/// Accepts `x-api-key: <key>` (reference) or `Authorization: Bearer <key>` (seed), the scheme
/// word compared case-insensitively (docs/providers/karia.md, Simulator line). The call passes when any key
/// presented is the sandbox key (adapters send both headers with the same key). Neither
/// header present, or both empty: 401 "Authorization not provided"; a key that is wrong or an
/// `Authorization` scheme other than Bearer: 401 "Invalid API key" / "… scheme".
pub(crate) fn check(headers: &HeaderMap) -> Result<(), KariaError> {
    let api_key = headers
        .get(API_KEY_HEADER)
        .map(|v| v.to_str().map(str::trim).unwrap_or("\u{0}"))
        .filter(|v| !v.is_empty());
    let authorization = headers
        .get(header::AUTHORIZATION)
        .map(|v| v.to_str().map(str::trim).unwrap_or("\u{0}"))
        .filter(|v| !v.is_empty());
    if api_key.is_none() && authorization.is_none() {
        return Err(KariaError::unauthorized("Authorization not provided"));
    }
    if api_key == Some(KARIA_SANDBOX_KEY) {
        return Ok(());
    }
    let mut bad_scheme = false;
    if let Some(value) = authorization {
        let mut parts = value.splitn(2, [' ', '\t']);
        let scheme = parts.next().unwrap_or_default();
        let key = parts.next().unwrap_or_default().trim();
        if !scheme.eq_ignore_ascii_case("Bearer") {
            bad_scheme = true;
        } else if key == KARIA_SANDBOX_KEY {
            return Ok(());
        }
    }
    if bad_scheme && api_key.is_none() {
        return Err(KariaError::unauthorized(
            "Invalid authorization scheme; expected \"Bearer <api-key>\" or x-api-key",
        ));
    }
    Err(KariaError::unauthorized("Invalid API key"))
}

/// The sandbox key reaches organisation 1 only; any other value (another number, `org_123`,
/// garbage) is 403 `FORBIDDEN` (docs/providers/karia.md, Simulator line).
pub(crate) fn check_organisation(org_id: &str) -> Result<(), KariaError> {
    if same_id(org_id, KARIA_SANDBOX_ORGANISATION) {
        Ok(())
    } else {
        Err(KariaError::forbidden())
    }
}

/// Organisation 1 and its workspace 1, else 403 `FORBIDDEN`.
pub(crate) fn check_scope(org_id: &str, workspace_id: &str) -> Result<(), KariaError> {
    check_organisation(org_id)?;
    if same_id(workspace_id, KARIA_SANDBOX_WORKSPACE) {
        Ok(())
    } else {
        Err(KariaError::forbidden())
    }
}

/// Path ids are strings in the reference but numeric in the model: compared as numbers, so
/// `01` is `1`.
fn same_id(raw: &str, expected: &str) -> bool {
    !raw.is_empty()
        && raw.bytes().all(|b| b.is_ascii_digit())
        && raw.trim_start_matches('0') == expected
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn with(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, HeaderValue::from_static(v));
        }
        h
    }

    fn message(r: Result<(), KariaError>) -> String {
        r.expect_err("rejected").message
    }

    #[test]
    fn either_header_form_is_accepted() {
        assert!(check(&with(&[("x-api-key", "karia-sandbox-key")])).is_ok());
        assert!(check(&with(&[("authorization", "Bearer karia-sandbox-key")])).is_ok());
        assert!(check(&with(&[("authorization", "bearer  karia-sandbox-key")])).is_ok());
        assert!(check(&with(&[
            ("authorization", "Bearer karia-sandbox-key"),
            ("x-api-key", "karia-sandbox-key")
        ]))
        .is_ok());
    }

    #[test]
    fn missing_and_wrong_keys_are_401() {
        assert_eq!(
            message(check(&HeaderMap::new())),
            "Authorization not provided"
        );
        assert_eq!(
            message(check(&with(&[("x-api-key", "")]))),
            "Authorization not provided"
        );
        assert_eq!(
            message(check(&with(&[("x-api-key", "nope")]))),
            "Invalid API key"
        );
        assert_eq!(
            message(check(&with(&[("authorization", "Bearer nope")]))),
            "Invalid API key"
        );
        assert!(check(&with(&[("authorization", "karia-sandbox-key")])).is_err());
        assert!(check(&with(&[("authorization", "AccessKey karia-sandbox-key")])).is_err());
        assert!(check(&with(&[("authorization", "Bearer")])).is_err());
    }

    #[test]
    fn scope_is_organisation_1_workspace_1() {
        assert!(check_scope("1", "1").is_ok());
        assert!(check_scope("01", "1").is_ok());
        for (o, w) in [
            ("2", "1"),
            ("1", "2"),
            ("org_123", "1"),
            ("", "1"),
            ("1", "0"),
        ] {
            let e = check_scope(o, w).expect_err("forbidden");
            assert_eq!(e.status.as_u16(), 403, "{o}/{w}");
        }
    }
}
