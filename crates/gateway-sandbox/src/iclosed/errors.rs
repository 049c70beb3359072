//! iClosed's error bodies (docs/providers/iclosed.md): the "V1 Zod Validation" 400 for every `/v1`
//! validation failure, `{"message", "code"?}` for 401/403/404/500 and other statuses, and the
//! documented 429 body with a `Retry-After` header.

use std::collections::BTreeMap;

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};

/// An error answered by the iClosed simulator.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum IclosedError {
    /// 400 in the V1 Zod shape: `formErrors` are object-level messages, `fieldErrors` every
    /// failing field with all its messages (zod reports every failing check).
    Validation {
        endpoint: &'static str,
        method: &'static str,
        form_errors: Vec<String>,
        field_errors: BTreeMap<String, Vec<String>>,
    },
    /// `{"message": …, "code"?: …}`.
    Plain {
        status: StatusCode,
        message: String,
        code: Option<String>,
    },
    /// 429 `RATE_LIMIT_EXCEEDED` (docs/providers/iclosed.md).
    RateLimited { retry_after_secs: u64, points: u32 },
}

impl IclosedError {
    /// 401 for a missing header, another scheme or a key without `iclosed_`/`iclosed-` (docs/providers/iclosed.md).
    pub(crate) fn missing_key() -> Self {
        Self::Plain {
            status: StatusCode::UNAUTHORIZED,
            message: "API key is required".into(),
            code: Some("MISSING_API_KEY".into()),
        }
    }

    /// 401 for a well-formed but unknown key: no `code`, as probed live (docs/providers/iclosed.md).
    pub(crate) fn invalid_key() -> Self {
        Self::Plain {
            status: StatusCode::UNAUTHORIZED,
            message: "Invalid API key".into(),
            code: None,
        }
    }

    pub(crate) fn contact_not_found() -> Self {
        Self::Plain {
            status: StatusCode::NOT_FOUND,
            message: "Contact not found".into(),
            code: Some("NOT_FOUND".into()),
        }
    }

    /// Unknown route or method (docs/providers/iclosed.md Simulator line): no `code`.
    pub(crate) fn route_not_found() -> Self {
        Self::Plain {
            status: StatusCode::NOT_FOUND,
            message: "Not found".into(),
            code: None,
        }
    }

    /// The body for an injected fault with `status`: 429 gets the rate-limit body, anything
    /// else `{message, code}` with the reason phrase (`Internal server error`,
    /// `INTERNAL_SERVER_ERROR`).
    pub(crate) fn for_status(status: StatusCode, points: u32, retry_after_secs: u64) -> Self {
        if status == StatusCode::TOO_MANY_REQUESTS {
            return Self::RateLimited {
                retry_after_secs,
                points,
            };
        }
        let reason = status.canonical_reason().unwrap_or("Error");
        let mut message = reason.to_ascii_lowercase();
        if let Some(first) = message.get_mut(0..1) {
            first.make_ascii_uppercase();
        }
        let code = reason
            .split(|c: char| !c.is_ascii_alphanumeric())
            .filter(|w| !w.is_empty())
            .map(str::to_ascii_uppercase)
            .collect::<Vec<_>>()
            .join("_");
        Self::Plain {
            status,
            message,
            code: Some(code),
        }
    }

    pub(crate) fn status(&self) -> StatusCode {
        match self {
            Self::Validation { .. } => StatusCode::BAD_REQUEST,
            Self::Plain { status, .. } => *status,
            Self::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
        }
    }
}

/// Collects zod-style issues for one request, then becomes the 400 (or nothing).
#[derive(Debug)]
pub(crate) struct Issues {
    endpoint: &'static str,
    method: &'static str,
    form_errors: Vec<String>,
    field_errors: BTreeMap<String, Vec<String>>,
}

impl Issues {
    pub(crate) fn new(method: &'static str, endpoint: &'static str) -> Self {
        Self {
            endpoint,
            method,
            form_errors: Vec::new(),
            field_errors: BTreeMap::new(),
        }
    }

    pub(crate) fn field(&mut self, name: &str, message: impl Into<String>) {
        self.field_errors
            .entry(name.to_owned())
            .or_default()
            .push(message.into());
    }

    pub(crate) fn form(&mut self, message: impl Into<String>) {
        self.form_errors.push(message.into());
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.form_errors.is_empty() && self.field_errors.is_empty()
    }

    /// A 400 right away, for a body that cannot be validated field by field.
    pub(crate) fn fail(mut self, message: impl Into<String>) -> IclosedError {
        self.form(message);
        self.into_error()
    }

    pub(crate) fn into_error(self) -> IclosedError {
        IclosedError::Validation {
            endpoint: self.endpoint,
            method: self.method,
            form_errors: self.form_errors,
            field_errors: self.field_errors,
        }
    }

    /// `Ok(())` when nothing failed, the 400 otherwise.
    pub(crate) fn finish(self) -> Result<(), IclosedError> {
        if self.is_empty() {
            Ok(())
        } else {
            Err(self.into_error())
        }
    }
}

impl IntoResponse for IclosedError {
    fn into_response(self) -> Response {
        let status = self.status();
        match self {
            Self::Validation {
                endpoint,
                method,
                form_errors,
                field_errors,
            } => (
                status,
                Json(json!({"message": {
                    "status": 400,
                    "details": {"formErrors": form_errors, "fieldErrors": field_errors},
                    "endpoint": endpoint,
                    "method": method,
                }})),
            )
                .into_response(),
            Self::Plain { message, code, .. } => {
                let body = match code {
                    Some(code) => json!({"message": message, "code": code}),
                    None => json!({"message": message}),
                };
                (status, Json(body)).into_response()
            }
            Self::RateLimited {
                retry_after_secs,
                points,
            } => {
                let body: Value = json!({
                    "code": "RATE_LIMIT_EXCEEDED",
                    "message": "Too many requests, please try again later.",
                    "retryAfter": retry_after_secs,
                    "limit": {"points": points, "windowSec": 1},
                });
                let mut resp = (status, Json(body)).into_response();
                // Retry-After only: no RateLimit-* / X-RateLimit-* headers (docs/providers/iclosed.md Simulator).
                if let Ok(v) = HeaderValue::from_str(&retry_after_secs.to_string()) {
                    resp.headers_mut().insert(header::RETRY_AFTER, v);
                }
                resp
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plain(e: IclosedError) -> (String, Option<String>) {
        match e {
            IclosedError::Plain { message, code, .. } => (message, code),
            other => panic!("not plain: {other:?}"),
        }
    }

    #[test]
    fn fault_bodies_use_reason_phrases() {
        assert_eq!(
            plain(IclosedError::for_status(
                StatusCode::INTERNAL_SERVER_ERROR,
                20,
                1
            )),
            (
                "Internal server error".to_owned(),
                Some("INTERNAL_SERVER_ERROR".to_owned())
            )
        );
        assert_eq!(
            plain(IclosedError::for_status(
                StatusCode::SERVICE_UNAVAILABLE,
                20,
                1
            )),
            (
                "Service unavailable".to_owned(),
                Some("SERVICE_UNAVAILABLE".to_owned())
            )
        );
        assert_eq!(
            IclosedError::for_status(StatusCode::TOO_MANY_REQUESTS, 20, 1),
            IclosedError::RateLimited {
                retry_after_secs: 1,
                points: 20
            }
        );
    }
}
