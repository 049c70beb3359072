//! Karia, the organisation/workspace CRM of karia.com.au
//! (`https://app.np.aws.karia.com.au/api/v0/organisation/{o}/workspace/{w}/contact…`, beta docs
//! <https://docs.sb.aws.karia.com.au/docs/beta/>), as described in `reference/docs/providers/karia.md
//! and the seed guide "Creating your first contact".
//!
//! Quirks that shape this module:
//! - auth: the reference says `x-api-key`, the guide says Bearer; both headers are sent with
//!   the same key (docs/providers/karia.md);
//! - bodies may come wrapped in `{"response": …}` (guide) or bare (reference): both are read on
//!   every call (docs/providers/karia.md);
//! - a create is several calls: the contact with its contact methods, then one call per
//!   address (docs/providers/karia.md); a failed address call leaves the contact in place and is reported as
//!   a failed step;
//! - addresses are written with `postcode` and read back as `postCode` (docs/providers/karia.md);
//! - ids are numbers in the reference and strings in the guide: treated as opaque strings
//!   (docs/providers/karia.md);
//! - a 403 on the organisation/workspace path most likely means wrong settings, not a bad key
//!   (docs/providers/karia.md);
//! - **list, update and delete are not documented** (docs/providers/karia.md): they are inferred, live together in
//!   the "Inferred" section of `client.rs`, and each can be switched off per deployment with
//!   [`KariaConfig`].

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

pub use adapter::KariaAdapter;
pub use settings::{KariaConfig, KariaSettings};

use super::Provider;
use crate::registry::AdaptersConfig;

/// The Karia provider module, as the registry sees it.
pub(crate) struct Karia;

impl Provider for Karia {
    /// Karia documents no limit: a conservative 10/s.
    fn rate_budget(&self) -> (f64, u32) {
        (10.0, 10)
    }

    fn declaration(&self) -> &'static ProviderDeclaration {
        declare::declaration()
    }

    fn configured_declaration(&self, config: &AdaptersConfig) -> ProviderDeclaration {
        declare::configured(&config.karia)
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
                "a Karia API key contains only printable ASCII characters",
            ))
        }
    }

    fn build(
        &self,
        transport: &Transport,
        settings: &Value,
        secret: SecretString,
    ) -> Result<Arc<dyn CrmAdapter>, AdapterError> {
        self.build_configured(transport, settings, secret, &AdaptersConfig::default())
    }

    fn build_configured(
        &self,
        transport: &Transport,
        settings: &Value,
        secret: SecretString,
        config: &AdaptersConfig,
    ) -> Result<Arc<dyn CrmAdapter>, AdapterError> {
        let settings = KariaSettings::from_json(settings, transport.allow_private())
            .map_err(error::bad_settings)?;
        let auth = auth::KariaAuth::new(secret).ok_or_else(error::bad_secret)?;
        Ok(Arc::new(KariaAdapter::new(
            transport.clone(),
            settings,
            auth,
            config.karia,
        )))
    }
}
