//! iClosed answers → `AdapterError` (docs/providers/iclosed.md). All three 400
//! shapes are parsed (docs/providers/iclosed.md): V1 zod `{"message": {"details": {"formErrors", "fieldErrors"}}}`,
//! standard `{"message", "errors": {field: […]}}` and `{"message", "code"}`; field names are
//! mapped back to the common model's pointers. Request headers never reach this file, so no
//! error can carry the key from there, and request values are never quoted.

use std::time::Duration;

use gateway_core::validate::pointer_segment;
use gateway_core::{AdapterError, ErrorKind, FieldError, ProviderKind};
use gateway_transport::retry_after;
use reqwest::header::HeaderMap;
use serde_json::{Map, Value};

use super::wire;

const PROVIDER: ProviderKind = ProviderKind::Iclosed;
/// A body `retryAfter` beyond this is not believed (a day): a typo must not park a job forever.
const RETRY_AFTER_MAX_SECS: f64 = 86_400.0;

/// What an error body said, reduced to text and field-level detail.
struct Said {
    code: Option<String>,
    detail: String,
    fields: Vec<FieldError>,
    retry_after: Option<Duration>,
}

fn read_body(body: &[u8]) -> Said {
    let Ok(parsed) = serde_json::from_slice::<wire::ErrorBody>(body) else {
        return Said {
            code: None,
            detail: trim(&String::from_utf8_lossy(body)),
            fields: Vec::new(),
            retry_after: None,
        };
    };
    let mut fields = Vec::new();
    let detail = match &parsed.message {
        Some(Value::String(m)) => trim(m),
        // V1 zod: the message is an object whose details carry the field errors.
        Some(Value::Object(obj)) => {
            let zod: wire::ZodMessage =
                serde_json::from_value(Value::Object(obj.clone())).unwrap_or_default();
            if let Some(details) = zod.details {
                fields.extend(
                    details
                        .form_errors
                        .iter()
                        .filter_map(Value::as_str)
                        .map(|m| FieldError::new("", "invalid", trim(m))),
                );
                fields.extend(field_errors(&details.field_errors));
            }
            "validation failed".to_owned()
        }
        _ => String::new(),
    };
    if let Some(errors) = &parsed.errors {
        fields.extend(field_errors(errors));
    }
    Said {
        code: parsed.code,
        detail,
        fields,
        retry_after: parsed.retry_after.as_ref().and_then(seconds),
    }
}

/// `{field: ["message", …]}` → one error per field, pointed at the common model.
fn field_errors(map: &Map<String, Value>) -> Vec<FieldError> {
    map.iter()
        .map(|(field, messages)| {
            let text = match messages {
                Value::Array(items) => items
                    .iter()
                    .filter_map(Value::as_str)
                    .map(trim)
                    .collect::<Vec<_>>()
                    .join("; "),
                Value::String(s) => trim(s),
                _ => String::new(),
            };
            let text = if text.is_empty() {
                "iClosed rejected this value".to_owned()
            } else {
                text
            };
            FieldError::new(pointer_for(field), "invalid", text)
        })
        .collect()
}

/// An iClosed body field → the common model pointer it was written from.
pub(super) fn pointer_for(field: &str) -> String {
    match field {
        "firstName" => "/firstName".to_owned(),
        "lastName" => "/lastName".to_owned(),
        "email" => "/emailAddresses/0/emailAddress".to_owned(),
        "secondary_email" => "/emailAddresses/1/emailAddress".to_owned(),
        "phoneNumber" => "/phoneNumbers/0/phoneNumber".to_owned(),
        "secondary_phoneNumber" => "/phoneNumbers/1/phoneNumber".to_owned(),
        "country" => "/addresses/0/country".to_owned(),
        other => format!("/remoteFields/{}", pointer_segment(other)),
    }
}

/// `retryAfter` in the 429 body (docs/providers/iclosed.md): seconds, as a number or numeric text.
fn seconds(value: &Value) -> Option<Duration> {
    let secs = match value {
        Value::Number(n) => n.as_f64()?,
        Value::String(s) => s.trim().parse::<f64>().ok()?,
        _ => return None,
    };
    (secs.is_finite() && (0.0..=RETRY_AFTER_MAX_SECS).contains(&secs))
        .then(|| Duration::from_secs_f64(secs))
}

/// Classifies a non-success answer. A 404 is `NotFound` here; calls on the collection
/// (list, health check) pass the result through [`collection_path`].
pub(super) fn classify(status: u16, headers: &HeaderMap, body: &[u8]) -> AdapterError {
    let Said {
        code,
        detail,
        fields,
        retry_after: body_wait,
    } = read_body(body);
    let said = |what: &str| {
        let code = code.as_deref().map(|c| format!(" {c}")).unwrap_or_default();
        let named: Vec<&str> = fields
            .iter()
            .map(|f| f.pointer.as_str())
            .filter(|p| !p.is_empty())
            .collect();
        let on = if named.is_empty() {
            String::new()
        } else {
            format!(" on {}", named.join(", "))
        };
        if detail.is_empty() {
            format!("{what} (iClosed answered {status}{code}{on})")
        } else {
            format!("{what} (iClosed answered {status}{code}: {detail}{on})")
        }
    };
    let kind = match status {
        400 | 422 => ErrorKind::InvalidInput,
        401 | 403 => ErrorKind::CredentialRejected,
        404 => ErrorKind::NotFound,
        408 => ErrorKind::Timeout,
        409 => ErrorKind::Conflict,
        429 => ErrorKind::RateLimited,
        300..=399 => ErrorKind::Misconfigured,
        200..=299 => ErrorKind::Mapping,
        402..=499 => ErrorKind::InvalidInput,
        _ => ErrorKind::Unavailable,
    };
    let message = match kind {
        ErrorKind::InvalidInput if status == 400 || status == 422 => {
            said("iClosed rejected the contact")
        }
        ErrorKind::InvalidInput => said("iClosed refused the request"),
        ErrorKind::CredentialRejected => said("iClosed refused the API key"),
        ErrorKind::NotFound => said("not found at iClosed"),
        ErrorKind::Timeout => said("iClosed timed out"),
        ErrorKind::Conflict => said("conflicts with another iClosed contact"),
        ErrorKind::RateLimited => said("iClosed rate limit reached"),
        ErrorKind::Misconfigured => said("iClosed answered a redirect; check settings.baseUrl"),
        ErrorKind::Mapping => said("unexpected success status from iClosed"),
        _ => said("iClosed is unavailable"),
    };
    let mut err = AdapterError::new(kind, PROVIDER, message)
        .with_status(status)
        .with_fields(
            if kind == ErrorKind::InvalidInput || kind == ErrorKind::Conflict {
                fields
            } else {
                Vec::new()
            },
        );
    if let Some(code) = code {
        err = err.with_code(code);
    }
    if kind == ErrorKind::RateLimited {
        // The header (older docs, the simulator) or the body's retryAfter (portal docs),
        // whichever is present (docs/providers/iclosed.md); the header wins when both are.
        err = err.with_retry_after(retry_after(headers).or(body_wait));
    }
    err
}

/// Provider text as sent, less surrounding space. Not cut here: the client removes the key
/// and `AdapterError::scrubbed` cuts after that, so no key prefix can survive a cut (the
/// transport already bounds the whole answer).
fn trim(text: &str) -> String {
    text.trim().to_owned()
}

/// A 404 on `/v1/contacts` itself (list, health check) means the base URL is wrong, not
/// that a contact is missing.
pub(super) fn collection_path(err: AdapterError) -> AdapterError {
    if err.kind == ErrorKind::NotFound {
        AdapterError {
            kind: ErrorKind::Misconfigured,
            message: format!(
                "the iClosed contacts API was not found: check settings.baseUrl ({})",
                err.message
            ),
            ..err
        }
    } else {
        err
    }
}

/// A 2xx whose body is not what iClosed documents. The body is not quoted: it holds contact
/// data.
pub(super) fn unreadable(status: u16, e: serde_json::Error) -> AdapterError {
    let what = match e.classify() {
        serde_json::error::Category::Io
        | serde_json::error::Category::Syntax
        | serde_json::error::Category::Eof => "is not JSON",
        serde_json::error::Category::Data => "does not have the documented shape",
    };
    AdapterError::mapping(
        PROVIDER,
        format!("iClosed answered {status} with a body that {what}"),
    )
    .with_status(status)
    .with_source(e)
}

/// A write refused before any call, by a rule only the adapter can check.
pub(super) fn invalid_input(fields: Vec<FieldError>) -> AdapterError {
    let summary = fields
        .first()
        .map(|f| format!("{}: {}", f.pointer, f.message))
        .unwrap_or_default();
    AdapterError::new(
        ErrorKind::InvalidInput,
        PROVIDER,
        format!("the contact breaks an iClosed rule: {summary}"),
    )
    .with_fields(fields)
}

/// A list cursor this adapter did not produce.
pub(super) fn bad_cursor() -> AdapterError {
    AdapterError::new(
        ErrorKind::InvalidInput,
        PROVIDER,
        "the iClosed list position is not a page number",
    )
    .with_fields(vec![FieldError::new(
        "/cursor",
        "invalid",
        "pass the nextCursor of the previous page unchanged",
    )])
}

/// Settings that cannot produce an adapter.
pub(super) fn bad_settings(fields: Vec<FieldError>) -> AdapterError {
    let summary = fields
        .iter()
        .map(|f| format!("{}: {}", f.pointer, f.message))
        .collect::<Vec<_>>()
        .join("; ");
    AdapterError::new(
        ErrorKind::Misconfigured,
        PROVIDER,
        format!("invalid iclosed settings: {summary}"),
    )
    .with_fields(fields)
}

/// A key of the wrong shape. The key itself is never quoted.
pub(super) fn bad_secret() -> AdapterError {
    let message = "an iClosed API key starts with iclosed_ (or iclosed-) followed by the key, in printable ASCII";
    AdapterError::new(ErrorKind::CredentialRejected, PROVIDER, message)
        .with_fields(vec![FieldError::new("/secret", "format", message)])
}

/// An id that cannot name an iClosed contact (ids are integers, docs/providers/iclosed.md).
pub(super) fn impossible_id() -> AdapterError {
    AdapterError::new(ErrorKind::NotFound, PROVIDER, "not an iClosed contact id")
}

/// The base URL cannot take path segments (never for http/https, kept as a typed error).
pub(super) fn unusable_base_url() -> AdapterError {
    AdapterError::new(
        ErrorKind::Misconfigured,
        PROVIDER,
        "settings.baseUrl cannot be used as an API root",
    )
}
