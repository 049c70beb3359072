//! The OpenAPI 3.1 document, generated from the handlers' annotations and the model's types.

use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use crate::routes::{admin, contacts, credentials, events, health, providers, reconciliations};

/// The whole API.
#[derive(OpenApi)]
#[openapi(
    info(title = "crm-gateway", description = "Unified CRM contacts API: one model, many CRMs, honest errors."),
    paths(
        health::healthz, health::readyz,
        admin::create_tenant, admin::create_key, admin::revoke_key,
        credentials::create_credential, credentials::list_credentials, credentials::get_credential,
        credentials::update_credential, credentials::delete_credential, credentials::check_credential,
        contacts::create_contact, contacts::list_contacts, contacts::get_contact, contacts::update_contact, contacts::replace_contact,
        contacts::delete_contact, contacts::contact_schema,
        providers::list_providers, providers::get_provider,
        reconciliations::start_reconciliation, reconciliations::list_reconciliations,
        reconciliations::get_reconciliation, reconciliations::confirm_reconciliation,
        events::list_events,
    ),
    components(schemas(
        gateway_core::ContactInput, gateway_core::Address, gateway_core::EmailAddress, gateway_core::PhoneNumber,
        gateway_core::Contact, gateway_core::Warning, gateway_core::WriteStep, gateway_core::PlannedCall,
        crate::error::Problem, crate::error::ProblemItem, crate::error::Source, crate::pagination::PageInfo,
    )),
    modifiers(&Security),
    tags(
        (name = "contacts", description = "The unified contact model"),
        (name = "credentials", description = "One credential per connected CRM account"),
        (name = "providers", description = "What each provider supports"),
        (name = "reconciliation", description = "Background detection of contacts deleted in the CRM"),
        (name = "events", description = "The change feed"),
        (name = "admin", description = "Tenants and API keys"),
        (name = "operations", description = "Health and readiness"),
    )
)]
pub struct ApiDoc;

struct Security;

impl Modify for Security {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "apiKey",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some("a tenant API key"))
                    .build(),
            ),
        );
        components.add_security_scheme(
            "adminToken",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some("CRM_GATEWAY_ADMIN_TOKEN"))
                    .build(),
            ),
        );
    }
}
