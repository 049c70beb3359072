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
    servers((url = "/", description = "this gateway")),
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
                            .max_length(Some(255))
                            .pattern(Some(r"^[\x21-\x7E]{1,255}$")),
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

/// The document `/openapi.json` serves: [`ApiDoc`] made to say exactly what the server does,
/// from the rules the server follows rather than from each handler's list (which drifted):
/// which statuses every operation can answer, the bounds of parameters and bodies that the
/// handlers enforce, `security: []` on the open routes, and a create body that requires
/// `lastName`. Edited as JSON because most of it is data (and some of it, like
/// `propertyNames`, has no builder); schemathesis in CI holds it to the served API.
pub fn document() -> &'static serde_json::Value {
    static DOCUMENT: std::sync::LazyLock<serde_json::Value> = std::sync::LazyLock::new(|| {
        let mut doc = serde_json::to_value(ApiDoc::openapi()).unwrap_or_default();
        exact::statuses(&mut doc);
        exact::parameters(&mut doc);
        exact::bodies(&mut doc);
        doc
    });
    &DOCUMENT
}

mod exact {
    use serde_json::{json, Value};

    const METHODS: [&str; 5] = ["get", "post", "put", "patch", "delete"];

    fn problem(description: &str) -> Value {
        json!({"description": description, "content": {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}})
    }

    /// Writes that take `Idempotency-Key` (crate::idempotency::covered).
    fn idempotent(path: &str, method: &str) -> bool {
        matches!(
            (path, method),
            ("/crm/contacts" | "/credentials", "post")
                | ("/crm/contacts/{id}", "put" | "patch" | "delete")
                | ("/credentials/{id}", "patch" | "delete")
        )
    }

    /// Every status an operation can answer, by the rule that produces it.
    fn expected(path: &str, method: &str, op: &Value) -> Vec<(&'static str, &'static str)> {
        let open = matches!(path, "/healthz" | "/readyz" | "/openapi.json");
        let params = op["parameters"].as_array().map_or(0, Vec::len);
        let body = op.get("requestBody").is_some();
        let mut out = vec![
            (
                "500",
                "internal_error: the gateway's own fault; details are only in its logs",
            ),
            (
                "408",
                "request_timeout: the request took longer than [api.connections] request_timeout",
            ),
        ];
        if !open {
            out.push(("401", "unauthorized: missing or invalid bearer token"));
            out.push(("429", "rate_limited: too many refused authentications from this client address (or, on tenant routes, the tenant's request rate); retry after Retry-After"));
        }
        if params > 0 || body {
            out.push(("400", "bad_request: a malformed or unknown query parameter or header, or a body that is not a JSON object of the documented types"));
        }
        if body {
            out.push((
                "413",
                "payload_too_large: the body exceeds [api] max_body_bytes",
            ));
            out.push((
                "422",
                "validation_failed: a value breaks a rule; nothing was sent or stored",
            ));
        }
        if idempotent(path, method) {
            out.push((
                "400",
                "bad_request: Idempotency-Key is not 1–255 visible ASCII characters",
            ));
            out.push((
                "413",
                "payload_too_large: the body exceeds [api] max_body_bytes",
            ));
            out.push(("409", "idempotency_in_progress: the first request with this Idempotency-Key is still running, or its outcome is being checked; retry after Retry-After"));
            out.push((
                "422",
                "idempotency_key_reused: this Idempotency-Key was first used for another request",
            ));
        }
        if path.contains('{') && !open {
            out.push(("404", "not_found: no such resource for this tenant"));
        }
        let calls_provider = (path.starts_with("/crm/contacts") && path != "/crm/contacts/schema")
            || path == "/credentials/{id}/check"
            || (path.starts_with("/credentials")
                && op["parameters"]
                    .as_array()
                    .is_some_and(|ps| ps.iter().any(|p| p["name"] == "verify")));
        if path.starts_with("/crm/contacts")
            || path == "/events"
            || path.contains("reconciliations")
        {
            out.push((
                "404",
                "not_found: unknown credential (or contact) for this tenant",
            ));
        }
        if calls_provider {
            out.extend([
                ("422", "provider_rejected_input / credential_rejected: the provider refused the input or the credential"),
                ("429", "provider_rate_limited: the provider (or the gateway's rate budget for the credential) refused the call; retry after Retry-After"),
                ("501", "not_supported_by_provider: the provider has no such operation"),
                ("502", "the provider failed, answered something unreadable, or refused the credential (source credential)"),
                ("503", "provider_circuit_open or credential_busy: retry after Retry-After"),
                ("504", "provider_timeout: the provider did not answer in time"),
            ]);
        }
        if path == "/readyz" {
            out.push(("503", "not_ready: the database is not reachable"));
        }
        out
    }

    pub(super) fn statuses(doc: &mut Value) {
        let Some(paths) = doc["paths"].as_object_mut() else {
            return;
        };
        for (path, item) in paths.iter_mut() {
            for method in METHODS {
                let Some(op) = item.get_mut(method) else {
                    continue;
                };
                let wanted = expected(path, method, op);
                let responses = op["responses"].as_object_mut();
                let Some(responses) = responses else {
                    continue;
                };
                for (status, description) in wanted {
                    responses
                        .entry(status)
                        .or_insert_with(|| problem(description));
                }
                if matches!(path.as_str(), "/healthz" | "/readyz" | "/openapi.json") {
                    op["security"] = json!([]);
                }
            }
        }
    }

    /// Bounds the handlers enforce on query parameters, stated in the parameter schemas.
    pub(super) fn parameters(doc: &mut Value) {
        let Some(paths) = doc["paths"].as_object_mut() else {
            return;
        };
        for (path, item) in paths.iter_mut() {
            for method in METHODS {
                let Some(params) = item
                    .get_mut(method)
                    .and_then(|op| op.get_mut("parameters"))
                    .and_then(Value::as_array_mut)
                else {
                    continue;
                };
                for p in params.iter_mut() {
                    let schema = match (path.as_str(), p["name"].as_str().unwrap_or_default()) {
                        (_, "pageSize") => json!({"type": "integer", "minimum": 1, "maximum": 100}),
                        ("/events", "limit") => {
                            json!({"type": "integer", "minimum": 1, "maximum": 1000})
                        }
                        ("/events", "after") => {
                            json!({"type": "string", "pattern": "^[0-9]{0,18}$"})
                        }
                        (_, "operation") => json!({"type": "string", "enum": ["create", "update"]}),
                        (_, "cursor") => {
                            json!({"type": "string", "minLength": 1, "pattern": "^[A-Za-z0-9_-]+$",
                            "description": "opaque: pageInfo.nextCursor of the previous page, unchanged"})
                        }
                        (p, "limit") if p.ends_with("/reconciliations") => {
                            json!({"type": "integer", "minimum": 1, "maximum": 100})
                        }
                        (p, "before") if p.ends_with("/reconciliations") => {
                            json!({"type": "string", "pattern": "^run_[0-9a-fA-F]{32}$"})
                        }
                        _ => continue,
                    };
                    p["schema"] = schema;
                }
            }
        }
    }

    /// Body rules the handlers enforce: required fields, lengths, item counts, and a create
    /// body of its own (`lastName` required) beside the update body.
    pub(super) fn bodies(doc: &mut Value) {
        let schemas = &mut doc["components"]["schemas"];
        if let Some(input) = schemas.get("ContactInput").cloned() {
            let mut create = input;
            create["required"] = json!(["lastName"]);
            create["properties"]["lastName"] = json!({"type": "string", "minLength": 1, "pattern": "\\S", "description": "Family name; required on create"});
            create["description"] =
                json!("A new contact: the common model's input with lastName required.");
            schemas["ContactCreateInput"] = create;
        }
        if let Some(input) = schemas.get_mut("ContactInput") {
            input["properties"]["remoteFields"]["maxProperties"] = json!(200);
        }
        if let Some(create) = schemas.get_mut("ContactCreateInput") {
            create["properties"]["remoteFields"]["maxProperties"] = json!(200);
        }
        let tags = json!({"type": "object", "maxProperties": 50,
            "propertyNames": {"minLength": 1, "maxLength": 64},
            "additionalProperties": {"type": "string", "maxLength": 256}});
        let name = json!({"type": "string", "minLength": 1, "maxLength": 200, "pattern": "\\S"});
        let providers: Vec<String> = gateway_adapters::available_providers()
            .iter()
            .map(ToString::to_string)
            .collect();
        if let Some(c) = schemas.get_mut("CredentialIn") {
            c["required"] = json!(["provider", "name", "secret"]);
            c["properties"]["provider"] = json!({"type": "string", "enum": providers});
            c["properties"]["name"] = name.clone();
            c["properties"]["secret"] = json!({"type": "string", "minLength": 1, "pattern": "^[\\x21-\\x7E]+$", "writeOnly": true,
                "description": "The provider API key. Write-only: never returned, logged or echoed in errors."});
            c["properties"]["tags"] = tags.clone();
            c["properties"]["settings"]["type"] = json!("object");
        }
        if let Some(c) = schemas.get_mut("CredentialPatchIn") {
            c["properties"]["name"] = name.clone();
            c["properties"]["tags"] = tags;
            c["properties"]["secret"] = json!({"type": "string", "minLength": 1, "pattern": "^[\\x21-\\x7E]+$", "writeOnly": true,
                "description": "A new provider key; required when settings.baseUrl moves to another origin (scheme, host or port)."});
        }
        if let Some(t) = schemas.get_mut("TenantIn") {
            t["required"] = json!(["name"]);
            t["properties"]["name"] = name;
        }
        if let Some(op) = doc["paths"]["/crm/contacts"].get_mut("post") {
            op["requestBody"]["content"]["application/json"]["schema"] =
                json!({"$ref": "#/components/schemas/ContactCreateInput"});
        }
    }
}
