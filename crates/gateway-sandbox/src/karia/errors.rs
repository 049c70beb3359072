//! Karia's error body `{"code": "<UPPER_SNAKE>", "message": "…", "issues": […]}` (docs/providers/
//! docs/providers/karia.md): the documented codes and messages, the tRPC codes inferred for the other statuses,
//! and zod-style issues `{code, message, path}` on validation errors.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};

/// One zod-style issue: `{code, message, path: [key | index, …]}`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Issue {
    pub(crate) code: &'static str,
    pub(crate) message: String,
    pub(crate) path: Vec<Value>,
}

impl Issue {
    pub(crate) fn new(code: &'static str, message: impl Into<String>, path: Vec<Value>) -> Self {
        Self {
            code,
            message: message.into(),
            path,
        }
    }

    fn to_json(&self) -> Value {
        json!({"code": self.code, "message": self.message, "path": self.path})
    }
}

/// An error answered by the Karia simulator.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct KariaError {
    pub(crate) status: StatusCode,
    pub(crate) message: String,
    pub(crate) issues: Vec<Issue>,
}

impl KariaError {
    pub(crate) fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
            issues: Vec::new(),
        }
    }

    /// The status with its documented (or default) message and no issues: what faults send.
    pub(crate) fn status(status: StatusCode) -> Self {
        Self::new(status, default_message(status))
    }

    /// 400 `BAD_REQUEST` "Invalid input data" with the validation issues (docs/providers/karia.md).
    pub(crate) fn invalid(issues: Vec<Issue>) -> Self {
        Self {
            status: StatusCode::BAD_REQUEST,
            message: default_message(StatusCode::BAD_REQUEST).to_owned(),
            issues,
        }
    }

    pub(crate) fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, message)
    }

    pub(crate) fn forbidden() -> Self {
        Self::status(StatusCode::FORBIDDEN)
    }

    pub(crate) fn not_found() -> Self {
        Self::status(StatusCode::NOT_FOUND)
    }

    pub(crate) fn conflict(message: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, message)
    }
}

/// The documented messages (docs/providers/karia.md) and plain ones for the inferred codes.
pub(crate) fn default_message(status: StatusCode) -> &'static str {
    match status.as_u16() {
        400 => "Invalid input data",
        401 => "Authorization not provided",
        403 => "Insufficient access",
        404 => "Not found",
        409 => "Conflict",
        422 => "Unprocessable content",
        429 => "Too many requests",
        500 => "Internal server error",
        503 => "Service unavailable",
        _ => status.canonical_reason().unwrap_or("Error"),
    }
}

/// The `code` sent with `status`: the tRPC error-code vocabulary the documented codes belong
/// to (docs/providers/karia.md, inferred), else the reason phrase in UPPER_SNAKE so any fault status still has a
/// provider-shaped body.
pub(crate) fn code_for(status: StatusCode) -> String {
    let known = match status.as_u16() {
        400 => "BAD_REQUEST",
        401 => "UNAUTHORIZED",
        403 => "FORBIDDEN",
        404 => "NOT_FOUND",
        405 => "METHOD_NOT_SUPPORTED",
        408 => "TIMEOUT",
        409 => "CONFLICT",
        412 => "PRECONDITION_FAILED",
        413 => "PAYLOAD_TOO_LARGE",
        415 => "UNSUPPORTED_MEDIA_TYPE",
        422 => "UNPROCESSABLE_CONTENT",
        429 => "TOO_MANY_REQUESTS",
        499 => "CLIENT_CLOSED_REQUEST",
        500 => "INTERNAL_SERVER_ERROR",
        501 => "NOT_IMPLEMENTED",
        502 => "BAD_GATEWAY",
        503 => "SERVICE_UNAVAILABLE",
        504 => "GATEWAY_TIMEOUT",
        _ => "",
    };
    if !known.is_empty() {
        return known.to_owned();
    }
    status
        .canonical_reason()
        .unwrap_or("Error")
        .split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_ascii_uppercase)
        .collect::<Vec<_>>()
        .join("_")
}

impl IntoResponse for KariaError {
    fn into_response(self) -> Response {
        // No Retry-After on 429: nothing is documented (docs/providers/karia.md), and the gateway's own backoff
        // path must be exercised.
        (
            self.status,
            Json(json!({
                "code": code_for(self.status),
                "message": self.message,
                "issues": self.issues.iter().map(Issue::to_json).collect::<Vec<_>>(),
            })),
        )
            .into_response()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_trpc_upper_snake() {
        assert_eq!(code_for(StatusCode::BAD_REQUEST), "BAD_REQUEST");
        assert_eq!(
            code_for(StatusCode::UNPROCESSABLE_ENTITY),
            "UNPROCESSABLE_CONTENT"
        );
        assert_eq!(
            code_for(StatusCode::SERVICE_UNAVAILABLE),
            "SERVICE_UNAVAILABLE"
        );
        assert_eq!(code_for(StatusCode::IM_A_TEAPOT), "I_M_A_TEAPOT");
        assert_eq!(code_for(StatusCode::GONE), "GONE");
    }

    #[test]
    fn documented_messages() {
        assert_eq!(
            default_message(StatusCode::UNAUTHORIZED),
            "Authorization not provided"
        );
        assert_eq!(
            default_message(StatusCode::FORBIDDEN),
            "Insufficient access"
        );
        assert_eq!(default_message(StatusCode::BAD_GATEWAY), "Bad Gateway");
    }
}
