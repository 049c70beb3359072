//! Bird answers → `AdapterError` (docs/providers/bird.md). Bodies are `{code,
//! message}`, parsed best-effort; anything else is kept as trimmed raw text. Request headers
//! never reach this file, so no error can carry the access key from there.

use gateway_core::{AdapterError, ErrorKind, FieldError, ProviderKind};
use gateway_transport::retry_after;
use reqwest::header::HeaderMap;

use super::wire;

const PROVIDER: ProviderKind = ProviderKind::Bird;

/// Classifies a non-success answer. A 404 is `NotFound` here; calls on the workspace path
/// pass the result through [`workspace_path`].
pub(super) fn classify(status: u16, headers: &HeaderMap, body: &[u8]) -> AdapterError {
    let parsed = serde_json::from_slice::<wire::ErrorBody>(body)
        .ok()
        .filter(|b| b.code.is_some() || b.message.is_some());
    let (code, detail) = match parsed {
        Some(b) => (b.code, b.message.map(|m| trim(&m)).unwrap_or_default()),
        None => (None, trim(&String::from_utf8_lossy(body))),
    };
    let said = |what: &str| {
        let code = code.as_deref().map(|c| format!(" {c}")).unwrap_or_default();
        if detail.is_empty() {
            format!("{what} (Bird answered {status}{code})")
        } else {
            format!("{what} (Bird answered {status}{code}: {detail})")
        }
    };
    let (kind, message, fields) = match status {
        400 => (
            ErrorKind::InvalidInput,
            said("Bird rejected the request"),
            Vec::new(),
        ),
        401 | 403 => (
            ErrorKind::CredentialRejected,
            said("Bird refused the access key"),
            Vec::new(),
        ),
        404 => (ErrorKind::NotFound, said("not found at Bird"), Vec::new()),
        408 => (ErrorKind::Timeout, said("Bird timed out"), Vec::new()),
        409 => (
            ErrorKind::Conflict,
            said("conflicts with another Bird contact"),
            pointers(&detail, "conflict"),
        ),
        422 => (
            ErrorKind::InvalidInput,
            said("Bird rejected the contact"),
            pointers(&detail, "invalid"),
        ),
        429 => (
            ErrorKind::RateLimited,
            said("Bird rate limit reached"),
            Vec::new(),
        ),
        300..=399 => (
            ErrorKind::Misconfigured,
            said("Bird answered a redirect; check settings.baseUrl"),
            Vec::new(),
        ),
        200..=299 => (
            ErrorKind::Mapping,
            said("unexpected success status from Bird"),
            Vec::new(),
        ),
        402..=499 => (
            ErrorKind::InvalidInput,
            said("Bird refused the request"),
            Vec::new(),
        ),
        _ => (
            ErrorKind::Unavailable,
            said("Bird is unavailable"),
            Vec::new(),
        ),
    };
    let mut err = AdapterError::new(kind, PROVIDER, message)
        .with_status(status)
        .with_fields(fields);
    if let Some(code) = code {
        err = err.with_code(code);
    }
    if kind == ErrorKind::RateLimited {
        // Bird documents no Retry-After (docs/providers/bird.md); honour one if it ever appears.
        err = err.with_retry_after(retry_after(headers));
    }
    err
}

/// Provider text as sent, less surrounding space. Not cut here: the client removes the key
/// and `AdapterError::scrubbed` cuts after that, so no key prefix can survive a cut (the
/// transport already bounds the whole answer).
fn trim(text: &str) -> String {
    text.trim().to_owned()
}

/// Points a Bird validation message back at the common model where it names a field. The
/// observed read-only message names the offending attribute first and then both identifier
/// kinds in its advice (docs/providers/bird.md), so that form is matched precisely.
fn pointers(message: &str, code: &str) -> Vec<FieldError> {
    let lower = message.to_ascii_lowercase();
    let field = |pointer: String| FieldError::new(pointer, code, message.to_owned());
    if let Some(rest) = lower.strip_prefix("cannot edit read-only attribute \"") {
        let attribute = rest.split('"').next().unwrap_or_default();
        return vec![field(pointer_for(attribute))];
    }
    let mut found: Vec<(usize, String)> = Vec::new();
    for (needle, pointer) in [
        ("displayname", "/lastName"),
        ("phonenumber", "/phoneNumbers"),
        ("emailaddress", "/emailAddresses"),
        ("listids", "/remoteFields/listIds"),
        ("accountids", "/remoteFields/accountIds"),
        ("companyrefs", "/remoteFields/companyRefs"),
    ] {
        if let Some(at) = lower.find(needle) {
            found.push((at, pointer.to_owned()));
        }
    }
    // `attributes.<key>` names a remote field (the only way a caller writes attributes).
    if let Some(at) = lower.find("attributes.") {
        let key: String = message[at + "attributes.".len()..]
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == '-')
            .collect();
        if !key.is_empty() {
            found.push((at, pointer_for(&key)));
        }
    }
    found.sort();
    found.dedup_by(|a, b| a.1 == b.1);
    found.into_iter().map(|(_, p)| field(p)).collect()
}

fn pointer_for(attribute: &str) -> String {
    match attribute {
        "emailaddress" => "/emailAddresses".to_owned(),
        "phonenumber" => "/phoneNumbers".to_owned(),
        "firstName" | "firstname" => "/firstName".to_owned(),
        "lastName" | "lastname" => "/lastName".to_owned(),
        other => format!(
            "/remoteFields/{}",
            gateway_core::validate::pointer_segment(other)
        ),
    }
}

/// A 404 on the workspace-level list (and health check) means the workspace itself is wrong.
pub(super) fn workspace_path(err: AdapterError) -> AdapterError {
    if err.kind == ErrorKind::NotFound {
        AdapterError {
            kind: ErrorKind::Misconfigured,
            message: format!(
                "workspace not found: check settings.workspaceId ({})",
                err.message
            ),
            ..err
        }
    } else {
        err
    }
}

/// A 2xx whose body is not what Bird documents. The body is not quoted: it holds contact data.
pub(super) fn unreadable(status: u16, e: serde_json::Error) -> AdapterError {
    let what = match e.classify() {
        serde_json::error::Category::Io
        | serde_json::error::Category::Syntax
        | serde_json::error::Category::Eof => "is not JSON",
        serde_json::error::Category::Data => "does not have the documented shape",
    };
    AdapterError::mapping(
        PROVIDER,
        format!("Bird answered {status} with a body that {what}"),
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
        format!("the contact breaks a Bird rule: {summary}"),
    )
    .with_fields(fields)
}

/// Which step of a multi-call update failed, in the message and (for adds) the pointer.
pub(super) fn step_failed(
    err: AdapterError,
    step: &str,
    pointer: Option<&str>,
    done: usize,
) -> AdapterError {
    let applied = if done == 0 {
        String::new()
    } else {
        format!("; {done} identifier change(s) before it were applied and the contact fields were not updated")
    };
    let mut fields = err.fields.clone();
    if let Some(p) = pointer {
        if fields.is_empty() || err.kind == ErrorKind::Conflict {
            fields = vec![FieldError::new(
                p,
                if err.kind == ErrorKind::Conflict {
                    "conflict"
                } else {
                    "invalid"
                },
                err.message.clone(),
            )];
        }
    }
    AdapterError {
        message: format!("{step} failed: {}{applied}", err.message),
        fields,
        ..err
    }
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
        format!("invalid bird settings: {summary}"),
    )
    .with_fields(fields)
}

/// A key that cannot be sent in a header. The key itself is never quoted.
pub(super) fn bad_secret() -> AdapterError {
    AdapterError::new(
        ErrorKind::CredentialRejected,
        PROVIDER,
        "the access key contains characters that cannot be sent in a header",
    )
    .with_fields(vec![FieldError::new(
        "/secret",
        "invalid",
        "the access key contains characters that cannot be sent in a header",
    )])
}

/// An id that cannot name a contact (empty, `.` or `..`, which URL joining would swallow).
pub(super) fn impossible_id() -> AdapterError {
    AdapterError::new(ErrorKind::NotFound, PROVIDER, "not a Bird contact id")
}

/// The base URL cannot take path segments (never for http/https, kept as a typed error).
pub(super) fn unusable_base_url() -> AdapterError {
    AdapterError::new(
        ErrorKind::Misconfigured,
        PROVIDER,
        "settings.baseUrl cannot be used as an API root",
    )
}
