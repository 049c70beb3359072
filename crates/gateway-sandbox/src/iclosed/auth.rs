//! iClosed's API-key check (docs/providers/iclosed.md, Simulator line).

use axum::http::{header, HeaderMap};

use super::errors::IclosedError;
use crate::ICLOSED_SANDBOX_KEY;

/// The key prefixes: `iclosed_` (portal, live service) and `iclosed-` (seed, older docs).
const PREFIXES: [&str; 2] = ["iclosed_", "iclosed-"];

/// The account's key: the part of the sandbox key after its prefix (`sandbox_key`).
fn account_key() -> &'static str {
    PREFIXES
        .iter()
        .find_map(|p| ICLOSED_SANDBOX_KEY.strip_prefix(p))
        .unwrap_or(ICLOSED_SANDBOX_KEY)
}

/// Accepts `Authorization: Bearer iclosed_<key>` and `Bearer iclosed-<key>` (scheme word
/// case-insensitive, prefix exact) and compares `<key>` with the account's. Missing header,
/// another scheme, no prefix or nothing after it → 401 `MISSING_API_KEY`; a well-formed but
/// unknown key → 401 `Invalid API key`.
pub(crate) fn check(headers: &HeaderMap) -> Result<(), IclosedError> {
    let Some(value) = headers.get(header::AUTHORIZATION) else {
        return Err(IclosedError::missing_key());
    };
    let Ok(value) = value.to_str() else {
        return Err(IclosedError::missing_key());
    };
    let mut parts = value.trim().splitn(2, [' ', '\t']);
    let scheme = parts.next().unwrap_or_default();
    let token = parts.next().unwrap_or_default().trim();
    if !scheme.eq_ignore_ascii_case("Bearer") {
        return Err(IclosedError::missing_key());
    }
    let Some(key) = PREFIXES.iter().find_map(|p| token.strip_prefix(p)) else {
        return Err(IclosedError::missing_key());
    };
    if key.is_empty() {
        return Err(IclosedError::missing_key());
    }
    if key != account_key() {
        return Err(IclosedError::invalid_key());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn with(v: &'static str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(header::AUTHORIZATION, HeaderValue::from_static(v));
        h
    }

    fn missing(r: Result<(), IclosedError>) -> bool {
        r == Err(IclosedError::missing_key())
    }

    #[test]
    fn both_prefixes_and_any_scheme_case() {
        assert!(check(&with("Bearer iclosed_sandbox_key")).is_ok());
        assert!(check(&with("Bearer iclosed-sandbox_key")).is_ok());
        assert!(check(&with("bearer iclosed_sandbox_key")).is_ok());
        assert!(check(&with("BEARER  iclosed_sandbox_key ")).is_ok());
    }

    #[test]
    fn malformed_is_missing_and_unknown_is_invalid() {
        assert!(missing(check(&HeaderMap::new())));
        assert!(missing(check(&with("iclosed_sandbox_key"))));
        assert!(missing(check(&with("Basic iclosed_sandbox_key"))));
        assert!(missing(check(&with("Bearer sandbox_key"))));
        assert!(missing(check(&with("Bearer ICLOSED_sandbox_key"))));
        assert!(missing(check(&with("Bearer iclosed_"))));
        assert!(missing(check(&with("Bearer"))));
        assert_eq!(
            check(&with("Bearer iclosed_wrong")),
            Err(IclosedError::invalid_key())
        );
        assert_eq!(
            check(&with("Bearer iclosed_iclosed_sandbox_key")),
            Err(IclosedError::invalid_key())
        );
    }
}
