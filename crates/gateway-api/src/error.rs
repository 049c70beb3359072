//! `ApiError`: the only error type handlers return, rendered once as RFC 9457
//! `application/problem+json` with the contract's fields (docs/architecture.md).

use std::time::Duration;

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use gateway_core::{AdapterError, ErrorKind, FieldError};
use gateway_store::StoreError;
use serde::Serialize;
use utoipa::ToSchema;

/// Where a failure came from, so callers know whom to blame and what to fix.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    /// The gateway itself refused or failed.
    Gateway,
    /// The CRM answered with an error.
    Provider,
    /// The stored credential is refused or points at the wrong place.
    Credential,
}

/// One item of a problem's `errors` list: a body field (`pointer`) or a query parameter
/// (`parameter`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, ToSchema)]
pub struct ProblemItem {
    /// JSON pointer into the request body.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pointer: Option<String>,
    /// Name of the query parameter.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub parameter: Option<String>,
    /// Machine-readable code.
    pub code: String,
    /// A sentence for humans.
    pub message: String,
}

impl ProblemItem {
    /// An item about a query parameter.
    pub fn parameter(name: &str, code: &str, message: impl Into<String>) -> Self {
        Self {
            pointer: None,
            parameter: Some(name.to_owned()),
            code: code.to_owned(),
            message: message.into(),
        }
    }
}

impl From<FieldError> for ProblemItem {
    fn from(e: FieldError) -> Self {
        Self {
            pointer: Some(e.pointer),
            parameter: None,
            code: e.code,
            message: e.message,
        }
    }
}

/// The RFC 9457 body.
#[derive(Clone, Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Problem {
    /// `/problems/<code>`.
    #[serde(rename = "type")]
    pub type_: String,
    /// Short summary of the problem type.
    pub title: String,
    /// HTTP status.
    pub status: u16,
    /// What happened this time.
    pub detail: String,
    /// Machine-readable code.
    pub code: String,
    /// Who failed.
    pub source: Source,
    /// Field- or parameter-level detail.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<ProblemItem>,
    /// Whether the same request may succeed later.
    pub retryable: bool,
    /// The provider's HTTP status, when a provider answered.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub provider_status: Option<u16>,
    /// The provider's own error code.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub provider_code: Option<String>,
    /// The request id, also in the `x-request-id` header and the logs.
    pub request_id: String,
    /// Present on multi-step writes: what exists remotely despite the failure.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub remote_id: Option<String>,
}

/// Everything a handler can fail with.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// Malformed JSON, wrong types, bad query parameters.
    #[error("bad request: {message}")]
    BadRequest {
        /// Summary.
        message: String,
        /// Detail.
        errors: Vec<ProblemItem>,
    },
    /// Missing or bad API key.
    #[error("unauthorized")]
    Unauthorized,
    /// Unknown, or another tenant's, resource. Both look the same on purpose.
    #[error("{0} not found")]
    NotFound(&'static str),
    /// The gateway's own validation refused the input; nothing was sent anywhere.
    #[error("validation failed")]
    Validation {
        /// Summary.
        message: String,
        /// Every problem found.
        errors: Vec<ProblemItem>,
    },
    /// The operator's input to the admin API breaks a rule; nothing was changed.
    #[error("invalid admin input")]
    AdminValidation {
        /// Summary.
        message: String,
        /// Every problem found.
        errors: Vec<ProblemItem>,
    },
    /// `?verify=true`: the provider refused the secret or the settings; nothing was stored.
    #[error("the provider refused the credential")]
    CredentialRefused {
        /// Summary.
        message: String,
        /// Which field to fix.
        errors: Vec<ProblemItem>,
    },
    /// Body over the configured limit.
    #[error("payload too large")]
    PayloadTooLarge {
        /// The limit in bytes.
        limit: usize,
    },
    /// The contact exists in the index but was deleted in the provider.
    #[error("contact was deleted in the provider")]
    RemoteDeleted,
    /// A provider call failed.
    #[error(transparent)]
    Adapter(#[from] AdapterError),
    /// The `Idempotency-Key` was first used for a different request.
    #[error("idempotency key reused for a different request")]
    IdempotencyKeyReused,
    /// The first request with this `Idempotency-Key` is still running.
    #[error("a request with this idempotency key is in progress")]
    IdempotencyInProgress {
        /// Until the answer can change: the claim's holder died and it frees then, or (holder
        /// alive) a short poll.
        retry_after: Duration,
    },
    /// An earlier attempt with this key was interrupted after it may have reached the provider;
    /// a reconciliation of the credential is finding out whether it made the contact.
    #[error("write outcome being checked")]
    WriteOutcomePending {
        /// When to ask again.
        retry_after: Duration,
        /// The reconciliation that will tell.
        run: String,
    },
    /// The tenant spent its request budget (`[api.rate_limit]`).
    #[error("tenant rate limit")]
    RateLimited {
        /// Until one request is allowed again.
        retry_after: Duration,
    },
    /// The client address caused too many refused authentications (`[api.rate_limit]
    /// unauthenticated_*`).
    #[error("too many refused authentications")]
    AddressThrottled {
        /// Until one request is allowed again.
        retry_after: Duration,
    },
    /// Every permit of the credential stayed busy for `concurrency_wait`.
    #[error("credential busy")]
    CredentialBusy,
    /// The request took longer than `[api.connections] request_timeout` in total.
    #[error("request timed out")]
    RequestTimeout(Duration),
    /// The database is not reachable (readiness).
    #[error("not ready: {0}")]
    NotReady(String),
    /// Our own fault; details only in logs.
    #[error("internal error: {0:#}")]
    Internal(#[from] anyhow::Error),
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound => ApiError::NotFound("resource"),
            other => ApiError::Internal(anyhow::Error::new(other)),
        }
    }
}

impl ApiError {
    /// A 422 with one field error.
    pub fn invalid(pointer: &str, code: &str, message: impl Into<String>) -> Self {
        let message = message.into();
        ApiError::Validation {
            message: message.clone(),
            errors: vec![ProblemItem {
                pointer: Some(pointer.to_owned()),
                parameter: None,
                code: code.to_owned(),
                message,
            }],
        }
    }

    /// A 422 with one field error in an admin request, whose title speaks of no provider.
    pub fn invalid_admin(pointer: &str, code: &str, message: impl Into<String>) -> Self {
        match Self::invalid(pointer, code, message) {
            ApiError::Validation { message, errors } => {
                ApiError::AdminValidation { message, errors }
            }
            other => other,
        }
    }

    /// A 422 from field errors.
    pub fn validation(errors: Vec<FieldError>) -> Self {
        let message = match errors.as_slice() {
            [one] => format!("{}: {}", one.pointer, one.message),
            many => format!("{} fields failed validation", many.len()),
        };
        ApiError::Validation {
            message,
            errors: errors.into_iter().map(Into::into).collect(),
        }
    }

    /// A 400 about one query parameter.
    pub fn bad_parameter(name: &str, message: impl Into<String>) -> Self {
        let message = message.into();
        ApiError::BadRequest {
            message: format!("query parameter {name}: {message}"),
            errors: vec![ProblemItem::parameter(name, "invalid_parameter", message)],
        }
    }

    /// Builds the problem body and status (no logging, no headers).
    pub fn problem(&self, request_id: String) -> (StatusCode, Problem, Option<Duration>) {
        let mut retry_after = None;
        let (
            status,
            code,
            title,
            detail,
            source,
            errors,
            retryable,
            provider_status,
            provider_code,
        ) = match self {
            ApiError::BadRequest { message, errors } => (
                StatusCode::BAD_REQUEST,
                "bad_request",
                "The request could not be read",
                message.clone(),
                Source::Gateway,
                errors.clone(),
                false,
                None,
                None,
            ),
            ApiError::Unauthorized => (
                StatusCode::UNAUTHORIZED,
                "unauthorized",
                "Missing or invalid API key",
                "send Authorization: Bearer <token>: a tenant API key, or the admin token for /admin".to_owned(),
                Source::Gateway,
                vec![],
                false,
                None,
                None,
            ),
            ApiError::NotFound(what) => (
                StatusCode::NOT_FOUND,
                "not_found",
                "Not found",
                format!("{what} not found"),
                Source::Gateway,
                vec![],
                false,
                None,
                None,
            ),
            ApiError::Validation { message, errors } => (
                StatusCode::UNPROCESSABLE_ENTITY,
                "validation_failed",
                "The input breaks a rule; nothing was sent to the provider",
                message.clone(),
                Source::Gateway,
                errors.clone(),
                false,
                None,
                None,
            ),
            ApiError::AdminValidation { message, errors } => (
                StatusCode::UNPROCESSABLE_ENTITY,
                "validation_failed",
                "The input breaks a rule; nothing was changed",
                message.clone(),
                Source::Gateway,
                errors.clone(),
                false,
                None,
                None,
            ),
            ApiError::CredentialRefused { message, errors } => (
                StatusCode::UNPROCESSABLE_ENTITY,
                "credential_rejected",
                "The provider refused this credential; nothing was stored",
                message.clone(),
                Source::Credential,
                errors.clone(),
                false,
                None,
                None,
            ),
            ApiError::PayloadTooLarge { limit } => (
                StatusCode::PAYLOAD_TOO_LARGE,
                "payload_too_large",
                "Request body too large",
                format!("the body exceeds the limit of {limit} bytes"),
                Source::Gateway,
                vec![],
                false,
                None,
                None,
            ),
            ApiError::RemoteDeleted => (
                StatusCode::NOT_FOUND,
                "remote_deleted",
                "Contact deleted in the provider",
                "the contact was deleted in the provider; GET it to see what the index knows"
                    .to_owned(),
                Source::Provider,
                vec![],
                false,
                None,
                None,
            ),
            ApiError::IdempotencyKeyReused => (
                StatusCode::UNPROCESSABLE_ENTITY,
                "idempotency_key_reused",
                "Idempotency key reused",
                "this Idempotency-Key was first used for a different request (tenant, credential, method, path, query or body differ); use a new key for a new request".to_owned(),
                Source::Gateway,
                vec![],
                false,
                None,
                None,
            ),
            ApiError::IdempotencyInProgress { retry_after: wait } => {
                retry_after = Some((*wait).max(Duration::from_secs(1)));
                (
                    StatusCode::CONFLICT,
                    "idempotency_in_progress",
                    "A request with this idempotency key is in progress",
                    "the first request with this Idempotency-Key has not finished; retry shortly to get its answer".to_owned(),
                    Source::Gateway,
                    vec![],
                    true,
                    None,
                    None,
                )
            }
            ApiError::WriteOutcomePending { retry_after: wait, run } => {
                retry_after = Some((*wait).max(Duration::from_secs(1)));
                (
                    StatusCode::CONFLICT,
                    "idempotency_in_progress",
                    "A request with this idempotency key is in progress",
                    format!("an earlier attempt with this Idempotency-Key was interrupted after it may have reached the provider; reconciliation run {run} is checking whether it made the contact. Retry with the same key after Retry-After: you get that contact, or the create runs again if it was never made"),
                    Source::Gateway,
                    vec![],
                    true,
                    None,
                    None,
                )
            }
            ApiError::RateLimited { retry_after: wait } => {
                retry_after = Some((*wait).max(Duration::from_secs(1)));
                (
                    StatusCode::TOO_MANY_REQUESTS,
                    "rate_limited",
                    "Too many requests",
                    "this tenant sent more requests than its rate limit allows; retry after Retry-After seconds".to_owned(),
                    Source::Gateway,
                    vec![],
                    true,
                    None,
                    None,
                )
            }
            ApiError::AddressThrottled { retry_after: wait } => {
                retry_after = Some((*wait).max(Duration::from_secs(1)));
                (
                    StatusCode::TOO_MANY_REQUESTS,
                    "rate_limited",
                    "Too many refused authentications",
                    "this client address sent too many requests with a missing or invalid key or token; retry after Retry-After seconds with a valid one".to_owned(),
                    Source::Gateway,
                    vec![],
                    true,
                    None,
                    None,
                )
            }
            ApiError::CredentialBusy => {
                retry_after = Some(Duration::from_secs(1));
                (
                    StatusCode::SERVICE_UNAVAILABLE,
                    "credential_busy",
                    "Too many calls in flight on this credential",
                    "every concurrent call allowed on this credential is still running (its provider may be slow); retry shortly".to_owned(),
                    Source::Gateway,
                    vec![],
                    true,
                    None,
                    None,
                )
            }
            ApiError::RequestTimeout(limit) => (
                StatusCode::REQUEST_TIMEOUT,
                "request_timeout",
                "The request took too long",
                format!("the request did not complete within {} s; work it started may still finish (a keyed write answers its retry)", limit.as_secs()),
                Source::Gateway,
                vec![],
                true,
                None,
                None,
            ),
            ApiError::NotReady(why) => (
                StatusCode::SERVICE_UNAVAILABLE,
                "not_ready",
                "Not ready",
                why.clone(),
                Source::Gateway,
                vec![],
                true,
                None,
                None,
            ),
            ApiError::Internal(_) => (
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal_error",
                "Internal error",
                "an internal error occurred; quote the requestId when reporting it".to_owned(),
                Source::Gateway,
                vec![],
                false,
                None,
                None,
            ),
            ApiError::Adapter(e) => {
                let (status, source, title) = match e.kind {
                    ErrorKind::InvalidInput => (
                        StatusCode::UNPROCESSABLE_ENTITY,
                        Source::Provider,
                        "The provider rejected the input",
                    ),
                    ErrorKind::Conflict => (
                        StatusCode::UNPROCESSABLE_ENTITY,
                        Source::Provider,
                        "The provider reported a conflicting record",
                    ),
                    ErrorKind::NotFound => (
                        StatusCode::NOT_FOUND,
                        Source::Provider,
                        "Not found at the provider",
                    ),
                    ErrorKind::CredentialRejected => (
                        StatusCode::BAD_GATEWAY,
                        Source::Credential,
                        "The provider refused the credential",
                    ),
                    ErrorKind::Misconfigured => (
                        StatusCode::BAD_GATEWAY,
                        Source::Credential,
                        "The credential's settings do not reach the provider account",
                    ),
                    ErrorKind::RateLimited => {
                        retry_after = Some(e.retry_after.unwrap_or(Duration::from_secs(1)));
                        // No provider status: the gateway's own budget for the credential
                        // refused the call before it was sent.
                        if e.provider_status.is_none() {
                            (
                                StatusCode::TOO_MANY_REQUESTS,
                                Source::Gateway,
                                "The gateway's rate budget for this credential is used up",
                            )
                        } else {
                            (
                                StatusCode::TOO_MANY_REQUESTS,
                                Source::Provider,
                                "The provider is rate limiting this credential",
                            )
                        }
                    }
                    ErrorKind::Unavailable => (
                        StatusCode::BAD_GATEWAY,
                        Source::Provider,
                        "The provider failed",
                    ),
                    ErrorKind::Mapping => (
                        StatusCode::BAD_GATEWAY,
                        Source::Provider,
                        "The provider's answer could not be read",
                    ),
                    ErrorKind::Timeout => (
                        StatusCode::GATEWAY_TIMEOUT,
                        Source::Provider,
                        "The provider did not answer in time",
                    ),
                    ErrorKind::CircuitOpen => {
                        retry_after = Some(e.retry_after.unwrap_or(Duration::from_secs(1)));
                        (
                            StatusCode::SERVICE_UNAVAILABLE,
                            Source::Provider,
                            "The provider is failing; calls are paused for this credential",
                        )
                    }
                    ErrorKind::Unsupported => (
                        StatusCode::NOT_IMPLEMENTED,
                        Source::Gateway,
                        "The provider does not support this operation",
                    ),
                };
                (
                    status,
                    e.kind.as_str(),
                    title,
                    e.message.clone(),
                    source,
                    e.fields.iter().cloned().map(Into::into).collect(),
                    e.is_retryable(),
                    e.provider_status,
                    e.provider_code.clone(),
                )
            }
        };
        let problem = Problem {
            type_: format!("/problems/{code}"),
            title: title.to_owned(),
            status: status.as_u16(),
            detail,
            code: code.to_owned(),
            source,
            errors,
            retryable,
            provider_status,
            provider_code,
            request_id,
            remote_id: None,
        };
        (status, problem, retry_after)
    }
}

/// Renders a problem with the right content type and headers.
pub fn problem_response(
    status: StatusCode,
    problem: &Problem,
    retry_after: Option<Duration>,
) -> Response {
    let body = serde_json::to_vec(problem).unwrap_or_else(|_| b"{}".to_vec());
    let mut resp = (status, body).into_response();
    let headers = resp.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/problem+json"),
    );
    if let Some(wait) = retry_after {
        let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
        if let Ok(v) = HeaderValue::from_str(&secs.max(1).to_string()) {
            headers.insert(header::RETRY_AFTER, v);
        }
    }
    if status == StatusCode::UNAUTHORIZED {
        headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    }
    resp
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let request_id = gateway_transport::current_request_id().unwrap_or_default();
        let (status, problem, retry_after) = self.problem(request_id);
        // Caller mistakes are routine; provider faults deserve attention; our own faults are
        // bugs and get the whole cause chain (never shown to the caller).
        match &self {
            ApiError::Internal(e) => {
                tracing::error!(error = ?e, code = %problem.code, "internal error")
            }
            ApiError::Adapter(e)
                if status.is_server_error() || status == StatusCode::TOO_MANY_REQUESTS =>
            {
                tracing::warn!(provider = %e.provider, kind = %e.kind, provider_status = ?e.provider_status, detail = %e.message, "provider call failed")
            }
            _ => {
                tracing::debug!(status = status.as_u16(), code = %problem.code, detail = %problem.detail, "request refused")
            }
        }
        problem_response(status, &problem, retry_after)
    }
}

/// Shorthand for handler results.
pub type ApiResult<T> = Result<T, ApiError>;
