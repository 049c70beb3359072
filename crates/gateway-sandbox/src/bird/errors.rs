//! Bird's error body `{"code": "<PascalCase>", "message": "…"}` and the code for each status
//! (docs/providers/bird.md: only `InvalidPayload` is observed, the rest is the Simulator line).

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

/// An error answered by the Bird simulator.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct BirdError {
    pub(crate) status: StatusCode,
    pub(crate) message: String,
}

impl BirdError {
    pub(crate) fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
        }
    }

    pub(crate) fn invalid_parameter(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, message)
    }

    pub(crate) fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, message)
    }

    pub(crate) fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, message)
    }

    pub(crate) fn conflict(message: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, message)
    }

    pub(crate) fn invalid_payload(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNPROCESSABLE_ENTITY, message)
    }
}

/// The `code` Bird sends with `status`. Statuses outside the documented set get their reason
/// phrase in PascalCase, so a fault with any status still has a provider-shaped body.
pub(crate) fn code_for(status: StatusCode) -> String {
    let known = match status.as_u16() {
        400 => "InvalidParameter",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "NotFound",
        405 => "MethodNotAllowed",
        409 => "Conflict",
        422 => "InvalidPayload",
        429 => "TooManyRequests",
        500 => "InternalError",
        503 => "ServiceUnavailable",
        _ => "",
    };
    if !known.is_empty() {
        return known.to_owned();
    }
    let reason = status.canonical_reason().unwrap_or("Error");
    reason
        .split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(|w| {
            let mut chars = w.chars();
            match chars.next() {
                Some(first) => first.to_ascii_uppercase().to_string() + chars.as_str(),
                None => String::new(),
            }
        })
        .collect()
}

impl IntoResponse for BirdError {
    fn into_response(self) -> Response {
        // Deliberately no Retry-After on 429: Bird documents none (docs/providers/bird.md), and
        // the gateway's own backoff path must be exercised.
        (
            self.status,
            Json(json!({"code": code_for(self.status), "message": self.message})),
        )
            .into_response()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_pascal_case() {
        assert_eq!(code_for(StatusCode::BAD_REQUEST), "InvalidParameter");
        assert_eq!(code_for(StatusCode::UNPROCESSABLE_ENTITY), "InvalidPayload");
        assert_eq!(
            code_for(StatusCode::SERVICE_UNAVAILABLE),
            "ServiceUnavailable"
        );
        assert_eq!(code_for(StatusCode::BAD_GATEWAY), "BadGateway");
        assert_eq!(code_for(StatusCode::GATEWAY_TIMEOUT), "GatewayTimeout");
        assert_eq!(code_for(StatusCode::IM_A_TEAPOT), "IMATeapot");
    }
}
