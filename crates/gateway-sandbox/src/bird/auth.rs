//! Bird's access-key check and workspace check (docs/providers/bird.md).

use axum::http::{header, HeaderMap};

use super::errors::BirdError;
use crate::{BIRD_SANDBOX_KEY, BIRD_SANDBOX_WORKSPACE};

/// Accepts `Authorization: AccessKey <key>` only. The scheme word is compared
/// case-insensitively as RFC 9110 allows; `Bearer` (the generated samples' `Bearer JWT`) and
/// anything else is 401 (docs/providers/bird.md, Simulator line).
pub(crate) fn check(headers: &HeaderMap) -> Result<(), BirdError> {
    let Some(value) = headers.get(header::AUTHORIZATION) else {
        return Err(BirdError::unauthorized(
            "missing Authorization header; expected \"AccessKey <access-key>\"",
        ));
    };
    let Ok(value) = value.to_str() else {
        return Err(BirdError::unauthorized("invalid Authorization header"));
    };
    let mut parts = value.trim().splitn(2, [' ', '\t']);
    let scheme = parts.next().unwrap_or_default();
    let key = parts.next().unwrap_or_default().trim();
    if !scheme.eq_ignore_ascii_case("AccessKey") {
        return Err(BirdError::unauthorized(
            "unsupported authorization scheme; expected \"AccessKey <access-key>\"",
        ));
    }
    if key != BIRD_SANDBOX_KEY {
        return Err(BirdError::unauthorized("invalid access key"));
    }
    Ok(())
}

/// The path's workspace must be the sandbox workspace. A value that is not a UUID is 400
/// `InvalidParameter` (the path parameter is typed `string · uuid`, and the get page documents
/// a 4xx "request is invalid"); a well-formed but unknown UUID is 404 (docs/providers/bird.md).
pub(crate) fn check_workspace(workspace_id: &str) -> Result<(), BirdError> {
    let Ok(parsed) = uuid::Uuid::parse_str(workspace_id) else {
        return Err(BirdError::invalid_parameter(format!(
            "workspaceId must be a UUID, got {workspace_id:?}"
        )));
    };
    if parsed.hyphenated().to_string() != BIRD_SANDBOX_WORKSPACE {
        return Err(BirdError::not_found("workspace not found"));
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

    #[test]
    fn access_key_scheme_is_case_insensitive() {
        assert!(check(&with("AccessKey bird-sandbox-key")).is_ok());
        assert!(check(&with("accesskey bird-sandbox-key")).is_ok());
        assert!(check(&with("ACCESSKEY  bird-sandbox-key")).is_ok());
    }

    #[test]
    fn anything_else_is_rejected() {
        assert!(check(&HeaderMap::new()).is_err());
        assert!(check(&with("Bearer bird-sandbox-key")).is_err());
        assert!(check(&with("AccessKey wrong")).is_err());
        assert!(check(&with("AccessKey")).is_err());
        assert!(check(&with("bird-sandbox-key")).is_err());
        assert!(check(&with("AccessKey bird-sandbox-key-2")).is_err());
    }

    #[test]
    fn workspace_must_be_the_sandbox_uuid() {
        assert!(check_workspace(BIRD_SANDBOX_WORKSPACE).is_ok());
        assert!(check_workspace("2D7D5B6E-0000-4000-8000-000000000001").is_ok());
        let e = check_workspace("not-a-uuid").expect_err("malformed");
        assert_eq!(e.status.as_u16(), 400);
        let e = check_workspace("2d7d5b6e-0000-4000-8000-000000000002").expect_err("unknown");
        assert_eq!(e.status.as_u16(), 404);
    }
}
