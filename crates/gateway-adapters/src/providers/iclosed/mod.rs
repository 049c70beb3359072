//! iClosed, public API v1 (`https://public.api.iclosed.io/v1/…`, docs
//! <https://developer.iclosed.io/>), as described in `reference/docs/providers/iclosed.md and the seed
//! `iclosed-create-contact.txt`.
//!
//! Quirks that shape this module:
//! - auth is `Authorization: Bearer <key>`; keys start with `iclosed_` (portal, live service)
//!   or `iclosed-` (seed, older docs), so both prefixes are accepted (docs/providers/iclosed.md);
//! - create takes one email and one phone; the second of each exists only on update
//!   (`secondary_email`, `secondary_phoneNumber`), so a create carrying two is a create plus
//!   a follow-up `PUT` whose failure is reported as a failed step (docs/providers/iclosed.md);
//! - create nests the contact under `data.contact`, get and update under `data`; both are
//!   read everywhere (docs/providers/iclosed.md);
//! - update is `PUT /v1/contacts` with the integer id in the body and documents no way to
//!   clear a field (docs/providers/iclosed.md);
//! - list is zero-based `page` + `limit` ≤ 100 with a total `count` (docs/providers/iclosed.md);
//! - there is no public delete; `deletedAt` is a soft delete done elsewhere (docs/providers/iclosed.md);
//! - validation failures come in three body shapes (docs/providers/iclosed.md); a 429 carries `Retry-After` or a
//!   body `retryAfter` (docs/providers/iclosed.md).

mod adapter;
mod auth;
mod client;
mod declare;
mod error;
mod mapping;
mod settings;
mod wire;

#[cfg(test)]
mod tests;

use std::sync::Arc;

use gateway_core::{AdapterError, CrmAdapter, FieldError, ProviderDeclaration};
use gateway_transport::Transport;
use secrecy::SecretString;
use serde_json::{Map, Value};

pub use adapter::IclosedAdapter;
pub use settings::IclosedSettings;

use super::Provider;

/// The iClosed provider module, as the registry sees it.
pub(crate) struct Iclosed;

impl Provider for Iclosed {
    /// iClosed documents 20/s per endpoint; applied per credential.
    fn rate_budget(&self) -> (f64, u32) {
        (20.0, 20)
    }

    fn declaration(&self) -> &'static ProviderDeclaration {
        declare::declaration()
    }

    fn validate_settings(&self, settings: &Map<String, Value>) -> Result<Value, Vec<FieldError>> {
        settings::validate(settings)
    }

    fn validate_secret(&self, secret: &str) -> Result<(), FieldError> {
        if auth::key_shape_ok(secret) {
            Ok(())
        } else {
            Err(FieldError::new(
                "/secret",
                "format",
                "an iClosed API key starts with iclosed_ (or iclosed-) followed by the key, in printable ASCII",
            ))
        }
    }

    fn build(
        &self,
        transport: &Transport,
        settings: &Value,
        secret: SecretString,
    ) -> Result<Arc<dyn CrmAdapter>, AdapterError> {
        let settings = IclosedSettings::from_json(settings, transport.allow_private())
            .map_err(error::bad_settings)?;
        let auth = auth::IclosedAuth::new(secret).ok_or_else(error::bad_secret)?;
        Ok(Arc::new(IclosedAdapter::new(
            transport.clone(),
            settings,
            auth,
        )))
    }
}
