//! Karia answers → `AdapterError` (docs/providers/karia.md). Bodies are `{code,
//! message, issues[]}` (tRPC style; issues are zod issues with a `path`), parsed best-effort.
//! Messages never carry the key (request headers never reach this file, and the client
//! redacts echoes) and never quote contact data: quoted text in provider messages is elided
//! and bodies that are not Karia's error JSON are not quoted at all.

use gateway_core::validate::pointer_segment;
use gateway_core::{AdapterError, ErrorKind, FieldError, ProviderKind};
use gateway_transport::retry_after;
use reqwest::header::HeaderMap;
use serde_json::Value;

use super::wire;

const PROVIDER: ProviderKind = ProviderKind::Karia;

/// Which request body a failure refers to, so `issues[].path` can be pointed back at the
/// caller's body.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Scope<'a> {
    /// No write body (get, list, delete, health check).
    Read,
    /// A contact create or PATCH body; `emails` is how many `contactMethods` items are emails
    /// (they come first, then the phones).
    Contact { emails: usize },
    /// `POST …/address` for `/addresses/{0}`.
    Address(usize),
    /// `POST …/method` for the item at this pointer (`/emailAddresses/1`).
    Method(&'a str),
}

/// Classifies a non-success answer; `scope` maps validation issues back to the common model
/// (`Scope::Read` for calls without a body).
pub(super) fn classify_in(
    status: u16,
    headers: &HeaderMap,
    body: &[u8],
    scope: Scope<'_>,
) -> AdapterError {
    let parsed = serde_json::from_slice::<wire::ErrorBody>(body)
        .ok()
        .filter(|b| b.code.is_some() || b.message.is_some());
    let (code, detail, issues) = match parsed {
        Some(b) => (
            b.code,
            b.message.map(|m| scrub(&m)).unwrap_or_default(),
            b.issues,
        ),
        None => (None, String::new(), Vec::new()),
    };
    let said = |what: &str| {
        let code = code.as_deref().map(|c| format!(" {c}")).unwrap_or_default();
        if detail.is_empty() {
            format!("{what} (Karia answered {status}{code})")
        } else {
            format!("{what} (Karia answered {status}{code}: {detail})")
        }
    };
    let (kind, message) = match status {
        400 | 422 => (ErrorKind::InvalidInput, said("Karia rejected the request")),
        401 => (
            ErrorKind::CredentialRejected,
            said("Karia refused the API key"),
        ),
        // docs/providers/karia.md: on the organisation/workspace path a 403 more likely means settings that point
        // where the key has no access than a bad key.
        403 => (
            ErrorKind::Misconfigured,
            said("Karia refused access to the organisation or workspace: check settings.organisationId, settings.workspaceId and the key's permission scopes"),
        ),
        404 => (ErrorKind::NotFound, said("not found at Karia")),
        408 => (ErrorKind::Timeout, said("Karia timed out")),
        409 => (ErrorKind::Conflict, said("Karia reported a conflict")),
        429 => (ErrorKind::RateLimited, said("Karia rate limit reached")),
        300..=399 => (
            ErrorKind::Misconfigured,
            said("Karia answered a redirect; check settings.baseUrl"),
        ),
        200..=299 => (
            ErrorKind::Mapping,
            said("unexpected success status from Karia"),
        ),
        402..=499 => (ErrorKind::InvalidInput, said("Karia refused the request")),
        _ => (ErrorKind::Unavailable, said("Karia is unavailable")),
    };
    let fields = if kind == ErrorKind::InvalidInput {
        issues.iter().map(|i| issue_field(i, scope)).collect()
    } else {
        Vec::new()
    };
    let mut err = AdapterError::new(kind, PROVIDER, message)
        .with_status(status)
        .with_fields(fields);
    if let Some(code) = code {
        err = err.with_code(code);
    }
    if kind == ErrorKind::RateLimited {
        // Karia documents no Retry-After (docs/providers/karia.md); honour one if it ever appears.
        err = err.with_retry_after(retry_after(headers));
    }
    err
}

/// Provider text with quoted parts elided (zod messages quote the offending value, e.g.
/// "Invalid enum value. Expected 'a', received 'b'").
pub(super) fn scrub(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut quote: Option<char> = None;
    for c in text.trim().chars() {
        match quote {
            Some(q) if c == q => {
                out.push('…');
                out.push(c);
                quote = None;
            }
            Some(_) => {}
            None if c == '"' || c == '\'' || c == '`' => {
                out.push(c);
                quote = Some(c);
            }
            None => out.push(c),
        }
    }
    if quote.is_some() {
        out.push('…');
    }
    // Not cut here: `AdapterError::scrubbed` cuts after the client removed the key, so a key
    // straddling the cut cannot leave a prefix behind.
    out
}

fn issue_field(issue: &wire::Issue, scope: Scope<'_>) -> FieldError {
    let code = issue
        .code
        .as_deref()
        .filter(|c| !c.is_empty() && c.len() <= 64)
        .unwrap_or("invalid");
    let message = issue
        .message
        .as_deref()
        .map(scrub)
        .filter(|m| !m.is_empty())
        .unwrap_or_else(|| "Karia rejected this value".to_owned());
    FieldError::new(issue_pointer(&issue.path, scope), code, message)
}

/// Points a zod `path` back at the caller's body: `firstName` → `/firstName`,
/// `contactMethods.N` → `/emailAddresses` or `/phoneNumbers`, address fields →
/// `/addresses/i/<field>`, otherwise the step's own pointer (or the body root).
pub(super) fn issue_pointer(path: &[Value], scope: Scope<'_>) -> String {
    let first = path.first().and_then(Value::as_str).unwrap_or_default();
    match scope {
        Scope::Read => String::new(),
        Scope::Method(pointer) => pointer.to_owned(),
        Scope::Address(i) => {
            let field = match first {
                "type" => Some("addressType"),
                "unitNumber" | "streetNumber" | "streetName" | "addressLine1" => Some("street1"),
                "addressLine2" => Some("street2"),
                "suburb" | "city" => Some("city"),
                "state" => Some("state"),
                "postcode" | "postCode" => Some("postalCode"),
                "country" => Some("country"),
                _ => None,
            };
            match field {
                Some(f) => format!("/addresses/{i}/{f}"),
                None => format!("/addresses/{i}"),
            }
        }
        Scope::Contact { emails } => match first {
            "firstName" | "lastName" => format!("/{first}"),
            "contactMethods" => match path.get(1).and_then(Value::as_u64) {
                Some(n) if n < emails as u64 => "/emailAddresses".to_owned(),
                Some(_) => "/phoneNumbers".to_owned(),
                None => String::new(),
            },
            key if super::declare::is_writable(key) => {
                format!("/remoteFields/{}", pointer_segment(key))
            }
            _ => String::new(),
        },
    }
}

/// A 404 on the organisation path (health check) means the settings are wrong.
pub(super) fn organisation_path(err: AdapterError) -> AdapterError {
    if err.kind == ErrorKind::NotFound {
        AdapterError {
            kind: ErrorKind::Misconfigured,
            message: format!(
                "organisation not found: check settings.organisationId ({})",
                err.message
            ),
            ..err
        }
    } else {
        err
    }
}

/// The organisation answered but does not list the configured workspace.
pub(super) fn workspace_not_listed() -> AdapterError {
    AdapterError::new(
        ErrorKind::Misconfigured,
        PROVIDER,
        "workspace not found in organisation: check settings.workspaceId",
    )
}

/// A 2xx whose body is not what Karia documents. The body is not quoted: it holds contact
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
        format!("Karia answered {status} with a body that {what}"),
    )
    .with_status(status)
    .with_source(e)
}

/// A list position that did not come from this adapter.
pub(super) fn bad_cursor() -> AdapterError {
    AdapterError::new(
        ErrorKind::InvalidInput,
        PROVIDER,
        "the cursor is not a Karia list position",
    )
    .with_fields(vec![FieldError::new(
        "/cursor",
        "invalid",
        "not a cursor of this listing",
    )])
}

/// An inferred operation this deployment switched off (`[adapters.karia] <switch> = false`).
pub(super) fn switched_off(operation: &str, switch: &str) -> AdapterError {
    AdapterError::unsupported(
        PROVIDER,
        &format!(
            "{operation} in this deployment (Karia does not document the endpoint; [adapters.karia] {switch} = false)"
        ),
    )
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
        format!("the contact breaks a Karia rule: {summary}"),
    )
    .with_fields(fields)
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
        format!("invalid karia settings: {summary}"),
    )
    .with_fields(fields)
}

/// A key that cannot be sent in a header. The key itself is never quoted.
pub(super) fn bad_secret() -> AdapterError {
    AdapterError::new(
        ErrorKind::CredentialRejected,
        PROVIDER,
        "the API key contains characters that cannot be sent in a header",
    )
    .with_fields(vec![FieldError::new(
        "/secret",
        "invalid",
        "the API key contains characters that cannot be sent in a header",
    )])
}

/// An id that cannot name a contact (empty, `.` or `..`, which URL joining would swallow).
pub(super) fn impossible_id() -> AdapterError {
    AdapterError::new(ErrorKind::NotFound, PROVIDER, "not a Karia contact id")
}

/// The base URL cannot take path segments (never for http/https, kept as a typed error).
pub(super) fn unusable_base_url() -> AdapterError {
    AdapterError::new(
        ErrorKind::Misconfigured,
        PROVIDER,
        "settings.baseUrl cannot be used as an API root",
    )
}
