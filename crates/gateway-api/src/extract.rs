//! Extractors that turn bad input into problems naming the field: JSON bodies (with the
//! JSON pointer of the offending value), query strings, and the two kinds of bearer auth.

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{header, StatusCode};
use gateway_core::TenantId;
use secrecy::ExposeSecret;
use serde::de::DeserializeOwned;
use subtle::ConstantTimeEq;

use crate::error::{ApiError, ProblemItem};
use crate::state::AppState;

/// A JSON body; errors say where in the document the problem is.
pub struct JsonBody<T>(pub T);

impl<T: DeserializeOwned> FromRequest<AppState> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        let bytes = Bytes::from_request(req, state).await.map_err(|rejection| {
            if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::PayloadTooLarge {
                    limit: state.config().max_body_bytes,
                }
            } else {
                ApiError::BadRequest {
                    message: rejection.body_text(),
                    errors: vec![],
                }
            }
        })?;
        parse_json(&bytes).map(JsonBody)
    }
}

/// Parses JSON, turning serde's path into a JSON pointer.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::BadRequest {
            message: "the request body is empty; send a JSON object".into(),
            errors: vec![ProblemItem {
                pointer: Some(String::new()),
                parameter: None,
                code: "malformed_json".into(),
                message: "empty body".into(),
            }],
        });
    }
    // Every body of this API is an object; serde would otherwise fill a struct from an array
    // by position and accept `["Jane", "Citizen"]` as a contact.
    if bytes.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
        return Err(ApiError::BadRequest {
            message: "the request body must be a JSON object".into(),
            errors: vec![ProblemItem {
                pointer: Some(String::new()),
                parameter: None,
                code: "invalid_type".into(),
                message: "expected a JSON object".into(),
            }],
        });
    }
    let de = &mut serde_json::Deserializer::from_slice(bytes);
    serde_path_to_error::deserialize(de).map_err(|err| {
        let pointer = path_to_pointer(err.path());
        let inner = err.into_inner();
        let code = match inner.classify() {
            serde_json::error::Category::Syntax
            | serde_json::error::Category::Eof
            | serde_json::error::Category::Io => "malformed_json",
            serde_json::error::Category::Data => {
                let text = inner.to_string();
                if text.starts_with("unknown field") {
                    "unknown_field"
                } else if text.starts_with("missing field") {
                    "missing_field"
                } else {
                    "invalid_type"
                }
            }
        };
        // serde quotes the offending value ("invalid type: integer `9876…`"): that value may
        // be a secret, so only field names (unknown/missing field) keep their backticks.
        let message = match code {
            "unknown_field" | "missing_field" => inner.to_string(),
            _ => without_quoted_values(&inner.to_string()),
        };
        // A missing key is reported at its parent's path; name the key itself.
        let pointer = match (code, backticked(&message)) {
            ("unknown_field" | "missing_field", Some(key)) => {
                let segment = format!("/{}", gateway_core::validate::pointer_segment(key));
                if pointer.ends_with(&segment) {
                    pointer
                } else {
                    format!("{pointer}{segment}")
                }
            }
            _ => pointer,
        };
        ApiError::BadRequest {
            message: if pointer.is_empty() {
                message.clone()
            } else {
                format!("{pointer}: {message}")
            },
            errors: vec![ProblemItem {
                pointer: Some(pointer),
                parameter: None,
                code: code.into(),
                message,
            }],
        }
    })
}

/// Drops every `` `…` `` span from a serde message, keeping its words.
fn without_quoted_values(message: &str) -> String {
    let mut out = String::with_capacity(message.len());
    let mut inside = false;
    for c in message.chars() {
        if c == '`' {
            inside = !inside;
        } else if !inside {
            out.push(c);
        }
    }
    out.replace("  ", " ").replace(" ,", ",")
}

fn backticked(message: &str) -> Option<&str> {
    let start = message.find('`')? + 1;
    let len = message[start..].find('`')?;
    Some(&message[start..start + len])
}

fn path_to_pointer(path: &serde_path_to_error::Path) -> String {
    use serde_path_to_error::Segment;
    let mut out = String::new();
    for seg in path.iter() {
        match seg {
            Segment::Seq { index } => out.push_str(&format!("/{index}")),
            Segment::Map { key } => out.push_str(&format!(
                "/{}",
                gateway_core::validate::pointer_segment(key)
            )),
            Segment::Enum { variant } => out.push_str(&format!(
                "/{}",
                gateway_core::validate::pointer_segment(variant)
            )),
            Segment::Unknown => {}
        }
    }
    out
}

/// A query string; errors name the parameter.
pub struct QueryParams<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for QueryParams<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let query = parts.uri.query().unwrap_or_default();
        let de = serde_urlencoded::Deserializer::new(form_urlencoded::parse(query.as_bytes()));
        serde_path_to_error::deserialize(de)
            .map(QueryParams)
            .map_err(|err| {
                let name = err.path().to_string();
                let inner = err.into_inner().to_string();
                let name = if name == "." || name.is_empty() {
                    backticked(&inner).unwrap_or("query").to_owned()
                } else {
                    name
                };
                ApiError::bad_parameter(&name, inner)
            })
    }
}

/// Path parameters; a malformed one (bad percent-encoding) is a 400 problem, not axum's
/// plain-text rejection.
pub struct Path<T>(pub T);

impl<T: DeserializeOwned + Send, S: Send + Sync> FromRequestParts<S> for Path<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        axum::extract::Path::<T>::from_request_parts(parts, state)
            .await
            .map(|axum::extract::Path(v)| Path(v))
            .map_err(|rejection| ApiError::BadRequest {
                message: format!(
                    "invalid path parameter: {}",
                    without_quoted_values(&rejection.body_text())
                ),
                errors: vec![],
            })
    }
}

/// The tenant behind `Authorization: Bearer <apiKey>` (scheme word in any case).
pub struct Tenant(pub TenantId);

impl FromRequestParts<AppState> for Tenant {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        if let Some(crate::inbound::AuthenticatedTenant(tenant)) = parts.extensions.get() {
            return Ok(Tenant(tenant.clone()));
        }
        let token = bearer(parts).ok_or(ApiError::Unauthorized)?;
        match state.store().authenticate(token).await? {
            Some(tenant) => Ok(Tenant(tenant)),
            None => Err(ApiError::Unauthorized),
        }
    }
}

/// The operator, holding `CRM_GATEWAY_ADMIN_TOKEN`. Without a configured token the admin API
/// does not exist (404), rather than existing and refusing.
pub struct Admin;

impl FromRequestParts<AppState> for Admin {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let Some(expected) = state.admin_token() else {
            return Err(ApiError::NotFound("route"));
        };
        let presented = bearer(parts).ok_or(ApiError::Unauthorized)?;
        if bool::from(
            presented
                .as_bytes()
                .ct_eq(expected.expose_secret().as_bytes()),
        ) {
            Ok(Admin)
        } else {
            Err(ApiError::Unauthorized)
        }
    }
}

pub(crate) fn bearer(parts: &Parts) -> Option<&str> {
    bearer_header(&parts.headers)
}

/// The token of `Authorization: Bearer <token>`.
pub(crate) fn bearer_header(headers: &axum::http::HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?.trim();
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim())
        .filter(|t| !t.is_empty())
}
