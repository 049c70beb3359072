//! The one outbound HTTP layer of crm-gateway. It knows no provider: adapters hand it a
//! prepared request and get back status, headers and body, or an `AdapterError` already
//! classified for transport failures (timeout, refused, reset). It also owns the SSRF guards
//! of docs/operations.md and sends the request id of docs/architecture.md to every provider.

mod base_url;
mod ip;
mod request_id;
mod resolver;
mod retry;

use std::sync::Arc;
use std::time::{Duration, Instant};

use gateway_core::{AdapterError, ErrorKind, ProviderKind};
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use serde::Deserialize;

pub mod answer_limit;

pub use answer_limit::{answer_limit, with_answer_limit};
pub use base_url::{
    check_base_url, check_base_url_syntax, origin_of, same_origin, BaseUrlError, DNS_TIMEOUT_SECS,
};
pub use ip::is_forbidden_ip;
pub use request_id::{current_request_id, with_request_id};
pub use retry::retry_after;

/// The header carrying the request id to providers (docs/architecture.md).
pub const REQUEST_ID_HEADER: &str = "x-request-id";

/// Largest provider answer read into memory; a bigger one is treated as unreadable rather
/// than risking the process on a misbehaving upstream.
pub const MAX_BODY_BYTES: usize = 16 * 1024 * 1024;

/// Settings of the outbound client. Durations take units in config files (`"5s"`).
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct TransportConfig {
    /// Longest wait for a TCP + TLS connection.
    #[serde(with = "humantime_serde")]
    pub connect_timeout: Duration,
    /// Longest wait for a whole call, body included.
    #[serde(with = "humantime_serde")]
    pub request_timeout: Duration,
    /// Lets `baseUrl` point at loopback/private addresses and use plain http (sandbox,
    /// tests); `CRM_GATEWAY_ALLOW_PRIVATE_BASE_URLS`.
    pub allow_private_base_urls: bool,
    /// `User-Agent` sent to providers.
    pub user_agent: String,
}

impl Default for TransportConfig {
    fn default() -> Self {
        Self {
            connect_timeout: Duration::from_secs(5),
            request_timeout: Duration::from_secs(30),
            allow_private_base_urls: false,
            user_agent: format!("crm-gateway/{}", env!("CARGO_PKG_VERSION")),
        }
    }
}

/// The client could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum TransportError {
    /// reqwest refused the configuration (TLS backend, user agent…).
    #[error("could not build the HTTP client")]
    Client(#[source] reqwest::Error),
}

/// A provider's answer, read in full.
#[derive(Clone, Debug)]
pub struct RawResponse {
    /// HTTP status.
    pub status: u16,
    /// Response headers.
    pub headers: HeaderMap,
    /// Response body.
    pub body: bytes::Bytes,
}

/// The shared outbound client: one connection pool for every adapter. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Transport {
    client: reqwest::Client,
    allow_private: bool,
    request_timeout: Duration,
}

impl Transport {
    /// Builds the client. Redirects are not followed (a redirect could lead a call to an
    /// address the base-URL check never saw) and system proxies are ignored (a proxy would
    /// resolve provider hosts outside the DNS guard below).
    pub fn new(cfg: &TransportConfig) -> Result<Transport, TransportError> {
        let mut builder = reqwest::Client::builder()
            .use_rustls_tls()
            .connect_timeout(cfg.connect_timeout)
            .timeout(cfg.request_timeout)
            .user_agent(cfg.user_agent.clone())
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy();
        if !cfg.allow_private_base_urls {
            // DNS-rebinding guard: a name that passed `check_base_url` may resolve to a
            // private address later, so every connection resolves through the filter.
            builder = builder
                .https_only(true)
                .dns_resolver(Arc::new(resolver::GuardedResolver));
        }
        let client = builder.build().map_err(TransportError::Client)?;
        Ok(Transport {
            client,
            allow_private: cfg.allow_private_base_urls,
            request_timeout: cfg.request_timeout,
        })
    }

    /// The underlying client, to build requests with.
    pub fn client(&self) -> &reqwest::Client {
        &self.client
    }

    /// Whether private base URLs are allowed.
    pub fn allow_private(&self) -> bool {
        self.allow_private
    }

    /// Sends one request and reads the whole answer. Any HTTP status is a success here;
    /// providers classify their own statuses.
    pub async fn send(
        &self,
        provider: ProviderKind,
        req: reqwest::RequestBuilder,
    ) -> Result<RawResponse, AdapterError> {
        let mut request = req.build().map_err(|e| {
            AdapterError::new(
                ErrorKind::Misconfigured,
                provider,
                "the provider request could not be built; check settings.baseUrl",
            )
            .with_source(e.without_url())
        })?;
        if !self.allow_private {
            if let Err(e) = guard_url(request.url()) {
                return Err(AdapterError::new(
                    ErrorKind::Misconfigured,
                    provider,
                    e.to_string(),
                ));
            }
        }
        if let Some(id) = current_request_id() {
            if let Ok(value) = HeaderValue::from_str(&id) {
                request
                    .headers_mut()
                    .entry(HeaderName::from_static(REQUEST_ID_HEADER))
                    .or_insert(value);
            }
        }

        let method = request.method().clone();
        // Path only: query strings can carry page tokens and search values.
        let path = request.url().path().to_owned();
        let started = Instant::now();
        let outcome = self.exchange(provider, request).await;
        let elapsed_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
        match &outcome {
            Ok(resp) => {
                tracing::debug!(%provider, %method, path, status = resp.status, elapsed_ms, "provider call")
            }
            Err(e) => {
                tracing::debug!(%provider, %method, path, kind = %e.kind, elapsed_ms, "provider call failed")
            }
        }
        outcome
    }

    async fn exchange(
        &self,
        provider: ProviderKind,
        request: reqwest::Request,
    ) -> Result<RawResponse, AdapterError> {
        let mut resp = self
            .client
            .execute(request)
            .await
            .map_err(|e| self.classify(provider, e))?;
        let status = resp.status().as_u16();
        let headers = std::mem::take(resp.headers_mut());
        let limit = answer_limit();
        let too_large = || {
            AdapterError::mapping(
                provider,
                format!("the provider answer is larger than the {limit} bytes this call may read"),
            )
            .with_status(status)
        };
        // A declared length past the limit is refused before a byte is read.
        if resp
            .content_length()
            .is_some_and(|n| n > u64::try_from(limit).unwrap_or(u64::MAX))
        {
            return Err(too_large());
        }
        let mut body = bytes::BytesMut::new();
        while let Some(chunk) = resp.chunk().await.map_err(|e| self.classify(provider, e))? {
            if body.len() + chunk.len() > limit {
                return Err(too_large());
            }
            body.extend_from_slice(&chunk);
        }
        Ok(RawResponse {
            status,
            headers,
            body: body.freeze(),
        })
    }

    fn classify(&self, provider: ProviderKind, e: reqwest::Error) -> AdapterError {
        // A failure to connect (refused, unreachable, TLS handshake) happens before a byte of
        // the request is sent: the provider provably did not apply it, so even a write may be
        // retried (gateway-adapters' resilience layer relies on this).
        let not_applied = e.is_connect() && !e.is_timeout();
        let (kind, message) =
            if let Some(forbidden) = find_source::<resolver::ForbiddenResolution>(&e) {
                (ErrorKind::Misconfigured, forbidden.to_string())
            } else if e.is_timeout() {
                (
                    ErrorKind::Timeout,
                    format!("no answer within {:?}", self.request_timeout),
                )
            } else if e.is_connect() {
                (
                    ErrorKind::Unavailable,
                    "could not connect to the provider".to_owned(),
                )
            } else if e.is_body() || e.is_decode() {
                (
                    ErrorKind::Unavailable,
                    "the connection broke while reading the answer".to_owned(),
                )
            } else if e.is_builder() || e.is_redirect() {
                (
                    ErrorKind::Misconfigured,
                    "the provider request could not be made; check settings.baseUrl".to_owned(),
                )
            } else {
                (
                    ErrorKind::Unavailable,
                    "the connection to the provider failed".to_owned(),
                )
            };
        let err = AdapterError::new(kind, provider, message).with_source(e.without_url());
        if not_applied {
            err.with_not_applied()
        } else {
            err
        }
    }
}

/// The send-time half of the base-URL rule, for URLs that skipped `check_base_url` (stored
/// before the rule tightened, or built by hand): https only, no forbidden IP literal. Names
/// are left to the resolver.
fn guard_url(url: &url::Url) -> Result<(), BaseUrlError> {
    if url.scheme() != "https" {
        return Err(BaseUrlError::NotHttps);
    }
    match url.host() {
        Some(url::Host::Ipv4(v4)) if is_forbidden_ip(v4.into()) => {
            Err(BaseUrlError::ForbiddenAddress(v4.into()))
        }
        Some(url::Host::Ipv6(v6)) if is_forbidden_ip(v6.into()) => {
            Err(BaseUrlError::ForbiddenAddress(v6.into()))
        }
        _ => Ok(()),
    }
}

fn find_source<'a, T: std::error::Error + 'static>(
    e: &'a (dyn std::error::Error + 'static),
) -> Option<&'a T> {
    let mut current = Some(e);
    while let Some(err) = current {
        if let Some(found) = err.downcast_ref::<T>() {
            return Some(found);
        }
        current = err.source();
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_reads_durations_with_units() {
        let cfg: TransportConfig =
            serde_json::from_str(r#"{"connect_timeout": "250ms", "request_timeout": "2s"}"#)
                .expect("config");
        assert_eq!(cfg.connect_timeout, Duration::from_millis(250));
        assert_eq!(cfg.request_timeout, Duration::from_secs(2));
        assert!(!cfg.allow_private_base_urls);
        assert!(cfg.user_agent.starts_with("crm-gateway/"));
    }

    #[tokio::test]
    async fn forbidden_literal_is_refused_before_any_connection() {
        let transport = Transport::new(&TransportConfig::default()).expect("transport");
        for url in [
            "https://169.254.169.254/latest",
            "https://[::1]:9/x",
            "http://8.8.8.8/",
        ] {
            let err = transport
                .send(ProviderKind::Bird, transport.client().get(url))
                .await
                .expect_err(url);
            assert_eq!(err.kind, ErrorKind::Misconfigured, "{url}");
            assert!(
                err.message.contains("not allowed") || err.message.contains("https"),
                "{}",
                err.message
            );
        }
    }

    #[tokio::test]
    async fn a_refused_connection_is_marked_not_applied() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("addr").port();
        drop(listener);
        let transport = Transport::new(&TransportConfig {
            allow_private_base_urls: true,
            ..TransportConfig::default()
        })
        .expect("transport");
        let err = transport
            .send(
                ProviderKind::Bird,
                transport
                    .client()
                    .post(format!("http://127.0.0.1:{port}/contacts")),
            )
            .await
            .expect_err("refused");
        assert_eq!(err.kind, ErrorKind::Unavailable, "{err}");
        assert!(err.not_applied, "nothing was sent: a write may be retried");
    }

    #[tokio::test]
    async fn names_resolving_to_loopback_are_dropped_at_connect_time() {
        let transport = Transport::new(&TransportConfig::default()).expect("transport");
        let err = transport
            .send(
                ProviderKind::Bird,
                transport.client().get("https://localhost:9/contacts"),
            )
            .await
            .expect_err("loopback");
        assert_eq!(err.kind, ErrorKind::Misconfigured, "{err}");
        assert!(err.message.contains("not allowed"), "{}", err.message);
    }
}
