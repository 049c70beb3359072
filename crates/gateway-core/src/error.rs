//! `AdapterError`: what went wrong talking to a provider, classified once so the API, the
//! reconciler and retries can all act on the same kind.

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::ids::ProviderKind;

/// One field-level problem, located by a JSON pointer into the client's request body.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct FieldError {
    /// e.g. `/lastName`, `/emailAddresses/0/emailAddress`.
    pub pointer: String,
    /// `required`, `too_long`, `pattern`, `enum`, `not_supported`, `invalid`, …
    pub code: String,
    /// A sentence for humans.
    pub message: String,
}

impl FieldError {
    /// Builds a field error.
    pub fn new(pointer: impl Into<String>, code: &str, message: impl Into<String>) -> Self {
        Self {
            pointer: pointer.into(),
            code: code.to_owned(),
            message: message.into(),
        }
    }
}

/// Longest error message kept from a provider answer, in characters.
pub const MESSAGE_MAX_CHARS: usize = 500;
/// Longest provider error code (and field error code) kept.
pub const CODE_MAX_CHARS: usize = 64;
/// Longest field-level message kept.
pub const FIELD_MESSAGE_MAX_CHARS: usize = 300;
/// Most field-level errors kept from one provider answer.
pub const MAX_FIELDS: usize = 50;

/// Text from outside (a provider's error body) reduced to one bounded line: control
/// characters (line breaks, tabs, terminal escapes), Unicode line and paragraph separators
/// and bidirectional overrides become spaces, so the text cannot forge log lines or reorder
/// what an operator reads; runs of spaces collapse; past `max_chars` it is cut with `…`.
pub fn one_line(text: &str, max_chars: usize) -> String {
    let mut out = String::with_capacity(text.len().min(max_chars * 4));
    let mut count = 0;
    let mut pending_space = false;
    for c in text.chars() {
        let unsafe_char = c.is_control()
            || matches!(c, '\u{2028}' | '\u{2029}' | '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}');
        if unsafe_char || c.is_whitespace() {
            pending_space = count > 0;
            continue;
        }
        let needed = usize::from(pending_space) + 1;
        if count + needed > max_chars {
            out.push('…');
            return out;
        }
        if pending_space {
            out.push(' ');
            pending_space = false;
        }
        out.push(c);
        count += needed;
    }
    out
}

/// How a provider call failed. Exhaustive on purpose: a new kind must be placed in every
/// `match` that turns errors into statuses, health states and retry decisions.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    /// The provider rejected the input (its 400/422).
    InvalidInput,
    /// The provider refused because of a conflicting record (Bird 409 duplicate identifier).
    Conflict,
    /// The record (or the account path) does not exist at the provider.
    NotFound,
    /// The provider refused the credential (its 401/403).
    CredentialRejected,
    /// The credential's settings point at something the key cannot reach.
    Misconfigured,
    /// The provider answered 429.
    RateLimited,
    /// 5xx, connection refused or reset.
    Unavailable,
    /// A 2xx whose body the adapter could not read.
    Mapping,
    /// No answer in time.
    Timeout,
    /// The provider has no such operation.
    Unsupported,
    /// The gateway's circuit breaker for this credential is open after repeated provider
    /// failures: the call was not sent. The API answers 503 with `Retry-After`.
    CircuitOpen,
}

impl ErrorKind {
    /// Whether the same call may succeed if tried again later.
    pub fn is_retryable(self) -> bool {
        matches!(
            self,
            ErrorKind::RateLimited
                | ErrorKind::Unavailable
                | ErrorKind::Timeout
                | ErrorKind::CircuitOpen
        )
    }

    /// Stable snake_case name, used as the problem `code`.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::InvalidInput => "provider_rejected_input",
            ErrorKind::Conflict => "provider_conflict",
            ErrorKind::NotFound => "not_found",
            ErrorKind::CredentialRejected => "credential_rejected",
            ErrorKind::Misconfigured => "credential_misconfigured",
            ErrorKind::RateLimited => "provider_rate_limited",
            ErrorKind::Unavailable => "provider_unavailable",
            ErrorKind::Mapping => "provider_unreadable",
            ErrorKind::Timeout => "provider_timeout",
            ErrorKind::Unsupported => "not_supported_by_provider",
            ErrorKind::CircuitOpen => "provider_circuit_open",
        }
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A classified provider failure. `message` is sanitised: it never holds the secret, and
/// provider bodies are reduced to their code and message.
#[derive(Debug, thiserror::Error)]
#[error("{provider} {kind}: {message}")]
pub struct AdapterError {
    /// The classification.
    pub kind: ErrorKind,
    /// Which provider answered.
    pub provider: ProviderKind,
    /// The provider's HTTP status, when there was one.
    pub provider_status: Option<u16>,
    /// The provider's own error code, e.g. `InvalidPayload`, `BAD_REQUEST`.
    pub provider_code: Option<String>,
    /// How long the provider asked us to wait.
    pub retry_after: Option<Duration>,
    /// True when the request provably never reached the provider (the connection was
    /// refused), so even a write may be sent again.
    pub not_applied: bool,
    /// Sanitised explanation.
    pub message: String,
    /// Field-level detail, with pointers mapped back to the common model where possible.
    pub fields: Vec<FieldError>,
    /// The underlying cause, kept for logs.
    #[source]
    pub source: Option<Box<dyn std::error::Error + Send + Sync>>,
}

impl AdapterError {
    /// A new error of `kind`.
    pub fn new(kind: ErrorKind, provider: ProviderKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            provider,
            provider_status: None,
            provider_code: None,
            retry_after: None,
            not_applied: false,
            message: message.into(),
            fields: Vec::new(),
            source: None,
        }
    }

    /// The provider has no such operation; the API answers 501.
    pub fn unsupported(provider: ProviderKind, operation: &str) -> Self {
        Self::new(
            ErrorKind::Unsupported,
            provider,
            format!("{provider} does not support {operation}"),
        )
    }

    /// A 2xx answer that could not be read.
    pub fn mapping(provider: ProviderKind, message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Mapping, provider, message)
    }

    /// Sets the provider's status.
    pub fn with_status(mut self, status: u16) -> Self {
        self.provider_status = Some(status);
        self
    }

    /// Sets the provider's error code.
    pub fn with_code(mut self, code: impl Into<String>) -> Self {
        self.provider_code = Some(code.into());
        self
    }

    /// Sets the wait the provider asked for.
    pub fn with_retry_after(mut self, wait: Option<Duration>) -> Self {
        self.retry_after = wait;
        self
    }

    /// Marks the request as provably not applied (it never reached the provider).
    pub fn with_not_applied(mut self) -> Self {
        self.not_applied = true;
        self
    }

    /// Adds field-level detail.
    pub fn with_fields(mut self, fields: Vec<FieldError>) -> Self {
        self.fields = fields;
        self
    }

    /// Keeps the cause for logs.
    pub fn with_source(mut self, source: impl std::error::Error + Send + Sync + 'static) -> Self {
        self.source = Some(Box::new(source));
        self
    }

    /// Makes every provider-supplied string of this error safe to answer, store and log:
    /// `redact` (which removes the credential's secret) runs first over the full text, then
    /// [`one_line`] cuts it. In that order a secret straddling the cut cannot leave a prefix.
    /// Field lists are bounded too: a provider answer cannot grow a problem without limit.
    pub fn scrubbed(mut self, redact: impl Fn(&str) -> String) -> Self {
        self.message = one_line(&redact(&self.message), MESSAGE_MAX_CHARS);
        self.provider_code = self
            .provider_code
            .take()
            .map(|c| one_line(&redact(&c), CODE_MAX_CHARS))
            .filter(|c| !c.is_empty());
        self.fields.truncate(MAX_FIELDS);
        for f in &mut self.fields {
            f.message = one_line(&redact(&f.message), FIELD_MESSAGE_MAX_CHARS);
            f.code = one_line(&redact(&f.code), CODE_MAX_CHARS);
            f.pointer = one_line(&redact(&f.pointer), FIELD_MESSAGE_MAX_CHARS);
        }
        self
    }

    /// The provider itself answered 404 for this record. Only this may mark a contact
    /// deleted: an adapter's own `NotFound` (an id it cannot even send) proves nothing.
    pub fn is_provider_not_found(&self) -> bool {
        self.kind == ErrorKind::NotFound && self.provider_status == Some(404)
    }

    /// Whether the call may succeed if tried again.
    pub fn is_retryable(&self) -> bool {
        self.kind.is_retryable()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_line_flattens_and_bounds() {
        assert_eq!(one_line("  a\nb\r\n\tc  ", 100), "a b c");
        assert_eq!(one_line("x\u{1b}[31my", 100), "x [31my");
        assert_eq!(one_line("a\u{2028}b\u{202e}c", 100), "a b c");
        assert_eq!(one_line("abcdef", 3), "abc…");
        assert_eq!(one_line("ab cd", 4), "ab c…");
        assert_eq!(one_line("", 3), "");
    }

    #[test]
    fn scrubbed_redacts_before_it_cuts() {
        let secret = "s3cr3t-KEY-0123456789";
        // the secret straddles the cut: cutting first would leave "s3cr3t-KEY" behind
        let message = format!("{}{secret} tail", "x".repeat(MESSAGE_MAX_CHARS - 10));
        let err = AdapterError::new(ErrorKind::InvalidInput, ProviderKind::Bird, message)
            .with_code(format!("code-{secret}\nforged log line"))
            .with_fields(vec![FieldError::new(
                "/a",
                "invalid",
                format!("{secret}\r\nx"),
            )]);
        let err = err.scrubbed(|t| t.replace(secret, "[REDACTED]"));
        assert!(!err.message.contains("s3cr3t"), "{}", err.message);
        assert!(err.message.chars().count() <= MESSAGE_MAX_CHARS + 1);
        let code = err.provider_code.expect("code kept");
        assert!(!code.contains("s3cr3t") && !code.contains('\n'), "{code}");
        assert!(code.chars().count() <= CODE_MAX_CHARS + 1);
        assert_eq!(err.fields[0].message, "[REDACTED] x");
    }

    #[test]
    fn scrubbed_bounds_the_field_list() {
        let fields = (0..500)
            .map(|i| FieldError::new(format!("/f{i}"), "invalid", "bad"))
            .collect();
        let err = AdapterError::new(ErrorKind::InvalidInput, ProviderKind::Bird, "m")
            .with_fields(fields)
            .scrubbed(str::to_owned);
        assert_eq!(err.fields.len(), MAX_FIELDS);
    }

    #[test]
    fn only_a_provider_404_proves_a_deletion() {
        let adapter_side = AdapterError::new(
            ErrorKind::NotFound,
            ProviderKind::Iclosed,
            "not an iClosed id",
        );
        assert!(!adapter_side.is_provider_not_found());
        let provider =
            AdapterError::new(ErrorKind::NotFound, ProviderKind::Iclosed, "gone").with_status(404);
        assert!(provider.is_provider_not_found());
        let other =
            AdapterError::new(ErrorKind::Unavailable, ProviderKind::Bird, "x").with_status(404);
        assert!(!other.is_provider_not_found());
    }
}
