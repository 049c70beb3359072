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
        admin::create_tenant, admin::list_tenants, admin::delete_tenant,
        admin::create_key, admin::list_keys, admin::revoke_key,
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
    modifiers(&Security, &IdempotencyHeader, &InboundLimits),
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

/// Documents `Idempotency-Key` on every write that honours it (crate::idempotency).
struct IdempotencyHeader;

impl Modify for IdempotencyHeader {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::path::{ParameterBuilder, ParameterIn};
        use utoipa::openapi::{ObjectBuilder, Required, Type};
        for (path, item) in openapi.paths.paths.iter_mut() {
            if !matches!(
                path.as_str(),
                "/crm/contacts" | "/crm/contacts/{id}" | "/credentials" | "/credentials/{id}"
            ) {
                continue;
            }
            for op in [
                item.post.as_mut(),
                item.patch.as_mut(),
                item.put.as_mut(),
                item.delete.as_mut(),
            ]
            .into_iter()
            .flatten()
            {
                let param = ParameterBuilder::new()
                    .name("Idempotency-Key")
                    .parameter_in(ParameterIn::Header)
                    .required(Required::False)
                    .description(Some(
                        "1–255 visible ASCII characters. The first answer (2xx or 4xx) is stored \
                         and replayed for the same key and request within the window, with \
                         `Idempotent-Replayed: true`; the same key with another request is 422 \
                         `idempotency_key_reused`; while the first runs, 409 \
                         `idempotency_in_progress`. 5xx and 429 answers release the key.",
                    ))
                    .schema(Some(
                        ObjectBuilder::new()
                            .schema_type(Type::String)
                            .min_length(Some(1))
                            .max_length(Some(255)),
                    ))
                    .build();
                op.parameters.get_or_insert_with(Vec::new).push(param);
            }
        }
    }
}

/// Documents the inbound limits (crate::inbound): 429 `rate_limited` on every tenant route and
/// 503 `credential_busy` on the contact routes.
struct InboundLimits;

impl Modify for InboundLimits {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::{ContentBuilder, Ref, RefOr, ResponseBuilder};
        let problem = |description: &str| {
            RefOr::T(
                ResponseBuilder::new()
                    .description(description)
                    .content(
                        "application/problem+json",
                        ContentBuilder::new()
                            .schema(Some(Ref::from_schema_name("Problem")))
                            .build(),
                    )
                    .build(),
            )
        };
        const LIMITED: &str = "`rate_limited` (source gateway): the tenant's request rate limit \
                               is spent; retry after `Retry-After` seconds. Every answer to a \
                               tenant carries `RateLimit-Limit`, `RateLimit-Remaining` and \
                               `RateLimit-Reset`.";
        const BUSY: &str = "`credential_busy` (source gateway): every concurrent call allowed \
                            on this credential is still running; retry after `Retry-After` \
                            seconds.";
        for (path, item) in openapi.paths.paths.iter_mut() {
            if path.starts_with("/admin")
                || matches!(path.as_str(), "/healthz" | "/readyz" | "/openapi.json")
            {
                continue;
            }
            let contacts = path.starts_with("/crm/contacts");
            for op in [
                item.get.as_mut(),
                item.post.as_mut(),
                item.patch.as_mut(),
                item.put.as_mut(),
                item.delete.as_mut(),
            ]
            .into_iter()
            .flatten()
            {
                let responses = &mut op.responses.responses;
                match responses.get_mut("429") {
                    Some(RefOr::T(existing)) => {
                        existing.description = format!("{}; or {LIMITED}", existing.description);
                    }
                    Some(RefOr::Ref(_)) => {}
                    None => {
                        responses.insert("429".into(), problem(LIMITED));
                    }
                }
                if contacts {
                    match responses.get_mut("503") {
                        Some(RefOr::T(existing)) => {
                            existing.description = format!("{}; or {BUSY}", existing.description);
                        }
                        Some(RefOr::Ref(_)) => {}
                        None => {
                            responses.insert("503".into(), problem(BUSY));
                        }
                    }
                }
            }
        }
    }
}

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
