//! Connect-time DNS guard (docs/operations.md): a host that passed the base-URL check can be made to
//! resolve to a private address later (DNS rebinding), so every connection the shared client
//! opens resolves through this filter when private base URLs are not allowed.

use std::net::SocketAddr;

use reqwest::dns::{Addrs, Name, Resolve, Resolving};

use crate::ip::is_forbidden_ip;

/// Resolves with tokio and drops every forbidden address.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct GuardedResolver;

/// Every address of a host was forbidden; found again in the error chain to classify the
/// failure as a misconfiguration rather than an outage.
#[derive(Debug, thiserror::Error)]
#[error("the address of {host} is not allowed: it resolves only to loopback, private, link-local or metadata addresses")]
pub(crate) struct ForbiddenResolution {
    host: String,
}

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let allowed: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0))
                .await?
                .filter(|addr| !is_forbidden_ip(addr.ip()))
                .collect();
            if allowed.is_empty() {
                return Err(Box::new(ForbiddenResolution { host })
                    as Box<dyn std::error::Error + Send + Sync>);
            }
            Ok(Box::new(allowed.into_iter()) as Addrs)
        })
    }
}
