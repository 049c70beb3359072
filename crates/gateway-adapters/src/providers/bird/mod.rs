//! Bird, workspace Contacts API (`https://api.bird.com/workspaces/{workspaceId}/contacts`,
//! docs <https://docs.bird.com/api>), as described in `reference/docs/providers/bird.md. Not the
//! newer `platform.bird.com/v1` API (docs/providers/bird.md): keys, envelopes and errors differ.
//!
//! Quirks that shape this module:
//! - auth is `Authorization: AccessKey <key>` (docs/providers/bird.md);
//! - `displayName` is required on create (1–150 chars) and is built from the names (docs/providers/bird.md);
//! - emails and phones are identifiers, read-only as attributes: they change only through
//!   the identifier endpoints (docs/providers/bird.md);
//! - list is cursor-paged with an opaque `pageToken`, absent on the last page (docs/providers/bird.md);
//! - delete is hard: a deleted contact answers 404 (docs/providers/bird.md).

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

pub use adapter::BirdAdapter;
pub use settings::BirdSettings;

use super::Provider;

/// The Bird provider module, as the registry sees it.
pub(crate) struct Bird;

impl Provider for Bird {
    /// Bird documents 50/s for GET and 500/s for POST (Channels figures); one budget serves
    /// both and reads dominate, so the read figure.
    fn rate_budget(&self) -> (f64, u32) {
        (50.0, 50)
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
                "a Bird access key contains only printable ASCII characters",
            ))
        }
    }

    fn build(
        &self,
        transport: &Transport,
        settings: &Value,
        secret: SecretString,
    ) -> Result<Arc<dyn CrmAdapter>, AdapterError> {
        let settings = BirdSettings::from_json(settings, transport.allow_private())
            .map_err(error::bad_settings)?;
        let auth = auth::BirdAuth::new(secret).ok_or_else(error::bad_secret)?;
        Ok(Arc::new(BirdAdapter::new(
            transport.clone(),
            settings,
            auth,
        )))
    }
}
