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
