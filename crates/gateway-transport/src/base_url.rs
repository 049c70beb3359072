//! The `baseUrl` rule of docs/operations.md: https only, no credentials in the URL, and no
//! loopback, private, link-local or metadata address unless private base URLs are allowed.

use std::net::IpAddr;

use url::{Host, Url};

use crate::ip::is_forbidden_ip;

/// Why a `baseUrl` is refused. Messages never echo the URL itself: it may carry a password
/// or a token a user pasted by mistake.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BaseUrlError {
    /// Not an absolute URL.
    #[error("baseUrl is not an absolute URL")]
    Invalid,
    /// `user:password@` in the URL.
    #[error("baseUrl must not contain a user name or password; the provider key belongs in the credential's secret")]
    Userinfo,
    /// `http` (or anything else) where only `https` is allowed.
    #[error("baseUrl must use https")]
    NotHttps,
    /// Neither `http` nor `https`.
    #[error("baseUrl must use https (or http when private base URLs are allowed)")]
    Scheme,
    /// No host part.
    #[error("baseUrl has no host")]
    NoHost,
    /// A query or fragment, which would be lost or corrupt every path joined onto it.
    #[error("baseUrl must not have a query or a fragment")]
    QueryOrFragment,
    /// The host is, or resolves to, a forbidden address.
    #[error("baseUrl address {0} is not allowed: loopback, private, link-local and metadata addresses are refused unless CRM_GATEWAY_ALLOW_PRIVATE_BASE_URLS=true")]
    ForbiddenAddress(IpAddr),
    /// A name that always means this machine.
    #[error("baseUrl host {0} is not allowed: it names this machine (set CRM_GATEWAY_ALLOW_PRIVATE_BASE_URLS=true for local simulators)")]
    ForbiddenHost(String),
    /// DNS gave no address.
    #[error("baseUrl host {0} could not be resolved")]
    Unresolvable(String),
    /// DNS did not answer in time; the check fails closed rather than hold the request.
    #[error("baseUrl host {0} could not be resolved within {DNS_TIMEOUT_SECS} s")]
    DnsTimeout(String),
}

/// How long the save-time DNS check may take: a hostile or broken resolver for the
/// credential's host must not hold an API request (and its connection) open.
pub const DNS_TIMEOUT_SECS: u64 = 5;

/// The origin (scheme, host, port) of a base URL, as RFC 6454 defines it, with the port made
/// explicit: the unit a stored secret is bound to. `None` for a URL that does not parse.
pub fn origin_of(raw: &str) -> Option<(String, String, u16)> {
    let url = Url::parse(raw.trim()).ok()?;
    let host = url.host_str()?.trim_end_matches('.').to_ascii_lowercase();
    let port = url.port_or_known_default()?;
    Some((url.scheme().to_owned(), host, port))
}

/// Whether two base URLs share an origin. A URL that does not parse shares none, so a change
/// from or to it always counts as a new origin.
pub fn same_origin(a: &str, b: &str) -> bool {
    match (origin_of(a), origin_of(b)) {
        (Some(x), Some(y)) => x == y,
        _ => false,
    }
}

/// Every check that needs no network: shape, scheme, userinfo and IP-literal hosts. Used
/// where no DNS lookup can be awaited (building an adapter); the connect-time resolver of
/// [`crate::Transport`] covers names that resolve to forbidden addresses.
pub fn check_base_url_syntax(raw: &str, allow_private: bool) -> Result<Url, BaseUrlError> {
    let url = Url::parse(raw.trim()).map_err(|_| BaseUrlError::Invalid)?;
    if !url.username().is_empty() || url.password().is_some() {
        return Err(BaseUrlError::Userinfo);
    }
    match (url.scheme(), allow_private) {
        ("https", _) | ("http", true) => {}
        ("http", false) => return Err(BaseUrlError::NotHttps),
        _ => return Err(BaseUrlError::Scheme),
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(BaseUrlError::QueryOrFragment);
    }
    if !allow_private {
        match url.host() {
            None => return Err(BaseUrlError::NoHost),
            Some(Host::Ipv4(v4)) if is_forbidden_ip(IpAddr::V4(v4)) => {
                return Err(BaseUrlError::ForbiddenAddress(IpAddr::V4(v4)))
            }
            Some(Host::Ipv6(v6)) if is_forbidden_ip(IpAddr::V6(v6)) => {
                return Err(BaseUrlError::ForbiddenAddress(IpAddr::V6(v6)))
            }
            Some(Host::Domain(d)) if is_local_name(d) => {
                return Err(BaseUrlError::ForbiddenHost(d.to_owned()))
            }
            Some(_) => {}
        }
    } else if url.host().is_none() {
        return Err(BaseUrlError::NoHost);
    }
    Ok(url)
}

/// `localhost` and `*.localhost` resolve to loopback by definition (RFC 6761, section 6.3).
fn is_local_name(domain: &str) -> bool {
    let d = domain.trim_end_matches('.').to_ascii_lowercase();
    d == "localhost" || d.ends_with(".localhost")
}

/// docs/operations.md in full: [`check_base_url_syntax`], then, unless `allow_private`, resolves the
/// host and refuses it if ANY address is forbidden (a name with one public and one private
/// address could be steered to the private one).
pub async fn check_base_url(url: &str, allow_private: bool) -> Result<Url, BaseUrlError> {
    let parsed = check_base_url_syntax(url, allow_private)?;
    if allow_private {
        return Ok(parsed);
    }
    if let Some(Host::Domain(domain)) = parsed.host() {
        let port = parsed.port_or_known_default().unwrap_or(443);
        let lookup = tokio::net::lookup_host((domain, port));
        let addrs: Vec<_> =
            tokio::time::timeout(std::time::Duration::from_secs(DNS_TIMEOUT_SECS), lookup)
                .await
                .map_err(|_| BaseUrlError::DnsTimeout(domain.to_owned()))?
                .map_err(|_| BaseUrlError::Unresolvable(domain.to_owned()))?
                .collect();
        if addrs.is_empty() {
            return Err(BaseUrlError::Unresolvable(domain.to_owned()));
        }
        if let Some(bad) = addrs.iter().find(|a| is_forbidden_ip(a.ip())) {
            return Err(BaseUrlError::ForbiddenAddress(bad.ip()));
        }
    }
    Ok(parsed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins_compare_scheme_host_and_port() {
        assert!(same_origin(
            "https://api.bird.com",
            "https://API.bird.com/v2/"
        ));
        assert!(same_origin(
            "https://api.bird.com",
            "https://api.bird.com:443/x"
        ));
        assert!(same_origin(
            "http://127.0.0.1:9/bird",
            "http://127.0.0.1:9/karia"
        ));
        assert!(!same_origin(
            "https://api.bird.com",
            "https://attacker.example"
        ));
        assert!(!same_origin("https://api.bird.com", "http://api.bird.com"));
        assert!(!same_origin(
            "https://api.bird.com",
            "https://api.bird.com:8443"
        ));
        assert!(!same_origin(
            "https://api.bird.com",
            "https://api.bird.com.evil.example"
        ));
        assert!(!same_origin("not a url", "not a url"));
    }

    #[tokio::test]
    async fn literal_forbidden_addresses_are_refused() {
        for url in [
            "https://127.0.0.1/",
            "https://10.0.0.5:8443/api",
            "https://169.254.169.254/latest/meta-data",
            "https://[::1]/",
            "https://[::ffff:127.0.0.1]/",
            "https://[fd00::1]/",
            "https://0x7f.1/",
            "https://2130706433/",
            "https://0.0.0.0/",
        ] {
            let err = check_base_url(url, false).await.expect_err(url);
            assert!(
                matches!(err, BaseUrlError::ForbiddenAddress(_)),
                "{url}: {err:?}"
            );
            assert!(err.to_string().contains("not allowed"));
        }
    }

    #[tokio::test]
    async fn localhost_is_refused_by_name_and_by_resolution() {
        for url in [
            "https://localhost/",
            "https://LOCALHOST.:8080/",
            "https://api.localhost/",
        ] {
            let err = check_base_url(url, false).await.expect_err(url);
            assert!(
                matches!(err, BaseUrlError::ForbiddenHost(_)),
                "{url}: {err:?}"
            );
        }
    }

    #[tokio::test]
    async fn https_is_required_unless_private_is_allowed() {
        assert_eq!(
            check_base_url("http://api.bird.com", false).await,
            Err(BaseUrlError::NotHttps)
        );
        assert_eq!(
            check_base_url("ftp://api.bird.com", false).await,
            Err(BaseUrlError::Scheme)
        );
        assert_eq!(
            check_base_url("ftp://127.0.0.1", true).await,
            Err(BaseUrlError::Scheme)
        );
        let ok = check_base_url("http://127.0.0.1:8090/bird", true)
            .await
            .expect("allowed");
        assert_eq!(ok.as_str(), "http://127.0.0.1:8090/bird");
        assert!(check_base_url("https://localhost:9/bird", true)
            .await
            .is_ok());
    }

    #[tokio::test]
    async fn userinfo_is_refused_without_echoing_it() {
        for url in [
            "https://user:hunter2secret@api.bird.com/",
            "https://hunter2secret@api.bird.com/",
            "https://:hunter2secret@api.bird.com/",
        ] {
            let err = check_base_url(url, true).await.expect_err(url);
            assert_eq!(err, BaseUrlError::Userinfo);
            assert!(!err.to_string().contains("hunter2secret"));
            assert!(!format!("{err:?}").contains("hunter2secret"));
        }
    }

    #[tokio::test]
    async fn shape_errors() {
        assert_eq!(
            check_base_url("not a url", true).await,
            Err(BaseUrlError::Invalid)
        );
        assert_eq!(
            check_base_url("/relative/path", true).await,
            Err(BaseUrlError::Invalid)
        );
        assert_eq!(
            check_base_url("https://api.bird.com/?token=x", false).await,
            Err(BaseUrlError::QueryOrFragment)
        );
        assert_eq!(
            check_base_url("https://api.bird.com/#frag", false).await,
            Err(BaseUrlError::QueryOrFragment)
        );
    }

    #[test]
    fn public_literal_passes_the_syntax_check() {
        let url = check_base_url_syntax("https://8.8.8.8/api", false).expect("public");
        assert_eq!(url.host_str(), Some("8.8.8.8"));
        assert!(check_base_url_syntax("https://api.bird.com", false).is_ok());
    }
}
