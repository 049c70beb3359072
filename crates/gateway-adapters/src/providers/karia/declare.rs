//! What Karia stores of the common model, and where (docs/providers/karia.md). This one
//! declaration drives write validation, `GET /crm/contacts/schema` and `GET /providers`;
//! [`check_write`] adds the one rule the declaration cannot express (an integer count).
//!
//! Karia documents no lengths, patterns, enums or required fields (docs/providers/karia.md), so none are
//! invented here: values are refused only where the common model or JSON types demand it.
//!
//! **Inferred operations.** `list`, `update` and `delete` rest on undocumented endpoints
//! (docs/providers/karia.md, see the "Inferred" section of `client.rs`); [`configured`] turns them off per
//! deployment ([`KariaConfig`]), and the published declaration then says so.

use std::sync::LazyLock;

use gateway_core::declare::{DeletionSignal, Operations};
use gateway_core::{
    ContactInput, FieldError, FieldSpec, Format, Operation, ProviderDeclaration, ProviderKind,
    ValueKind,
};
use serde_json::Value;

use crate::providers::FAN_OUT_MAX_ITEMS;

use super::settings::KariaConfig;

/// The only published host (docs/providers/karia.md); the production host is not published.
pub(super) const DEFAULT_BASE_URL: &str = "https://app.np.aws.karia.com.au/api/v0";
/// Largest `limit` of the (inferred) list call (docs/providers/karia.md).
pub(super) const MAX_PAGE_SIZE: u32 = 100;
/// Contact-method types (docs/providers/karia.md, seed).
pub(super) const EMAIL_TYPE: &str = "email";
/// See [`EMAIL_TYPE`].
pub(super) const PHONE_TYPE: &str = "phone";

/// Writable string scalars of the contact (docs/providers/karia.md read model; writable `[inferred]`, docs/providers/karia.md).
pub(super) const WRITABLE_STRINGS: [&str; 11] = [
    "preferredName",
    "middleNames",
    "title",
    "dateOfBirth",
    "status",
    "type",
    "externalReference",
    "description",
    "relationshipStatus",
    "residencyStatus",
    "metadata",
];
/// The writable integer (int32 in the reference examples, docs/providers/karia.md).
pub(super) const DEPENDENTS: &str = "numberOfDependents";
/// The writable array of strings.
pub(super) const PREFERRED_METHODS: &str = "preferredContactMethods";

/// Keys Karia computes or owns; returned in `remoteFields`, never written.
const READ_ONLY: [(&str, ValueKind); 15] = [
    ("id", ValueKind::Number),
    ("version", ValueKind::Number),
    ("createdAt", ValueKind::String),
    ("createdBy", ValueKind::String),
    ("lastUpdatedAt", ValueKind::String),
    ("lastUpdatedBy", ValueKind::String),
    ("deletedAt", ValueKind::String),
    ("referenceId", ValueKind::String),
    ("userId", ValueKind::String),
    ("employerId", ValueKind::Number),
    ("workspaceId", ValueKind::Number),
    ("organisationId", ValueKind::Number),
    ("fullNameSearch", ValueKind::String),
    ("contactMethods", ValueKind::Array),
    ("deletedAddresses", ValueKind::Array),
];

/// Whether a `remoteFields` key is one the adapter writes.
pub(super) fn is_writable(key: &str) -> bool {
    WRITABLE_STRINGS.contains(&key) || key == DEPENDENTS || key == PREFERRED_METHODS
}

/// The declaration with every operation on, built once.
pub(super) fn declaration() -> &'static ProviderDeclaration {
    static DECLARATION: LazyLock<ProviderDeclaration> = LazyLock::new(build);
    &DECLARATION
}

/// The declaration as a deployment configured it: switched-off inferred operations are
/// unavailable.
pub(super) fn configured(config: &KariaConfig) -> ProviderDeclaration {
    let mut decl = declaration().clone();
    decl.operations.list = config.list;
    decl.operations.update = config.update;
    decl.operations.delete = config.delete;
    decl
}

fn build() -> ProviderDeclaration {
    let method_note =
        "Karia contact methods have a type of only email or phone, so this label is not kept";
    let mut fields = vec![
        FieldSpec::string("/firstName").to("firstName").note("null on update clears it"),
        FieldSpec::string("/lastName").required().to("lastName"),
        // docs/providers/karia.md: employerId is an integer reference, not a company name.
        FieldSpec::not_stored("/account", ValueKind::String)
            .note("Karia keeps no company name on a contact (employerId is a numeric reference, read-only here)"),
        FieldSpec::array("/emailAddresses")
            .items(None, Some(FAN_OUT_MAX_ITEMS))
            .to("contactMethods[type=email]")
            .note("sent in contactMethods on create; on update, addresses the contact lacks are added with POST …/method. Karia documents no way to remove one: those left over come back as not_supported warnings"),
        FieldSpec::string("/emailAddresses/*/emailAddress")
            .required()
            .length(Some(1), None)
            .format(Format::Email)
            .to("contactMethods[].value"),
        FieldSpec::not_stored("/emailAddresses/*/emailAddressType", ValueKind::String).note(method_note),
        FieldSpec::array("/phoneNumbers")
            .items(None, Some(FAN_OUT_MAX_ITEMS))
            .to("contactMethods[type=phone]")
            .note("sent in contactMethods on create; on update, numbers the contact lacks are added with POST …/method. Karia documents no way to remove one: those left over come back as not_supported warnings"),
        // Karia documents no phone format (docs/providers/karia.md): kept exactly as given.
        FieldSpec::string("/phoneNumbers/*/phoneNumber")
            .required()
            .length(Some(1), None)
            .to("contactMethods[].value")
            .note("stored as given; Karia documents no format"),
        FieldSpec::not_stored("/phoneNumbers/*/phoneNumberType", ValueKind::String).note(method_note),
        FieldSpec::array("/addresses")
            .items(None, Some(FAN_OUT_MAX_ITEMS))
            .to("POST …/contact/{id}/address")
            .note("one call per address after the contact is created; a failed address call is reported in failedSteps and the contact is kept. On update, addresses the contact lacks are added; Karia documents no way to remove one"),
        FieldSpec::string("/addresses/*/addressType").to("type"),
        FieldSpec::string("/addresses/*/street1")
            .to("unitNumber/streetNumber streetName, or addressLine1")
            .note("\"10 Example Street\" and \"5/10 Example Street\" are split into unitNumber, streetNumber and streetName (\"Unit 5, 10 Example Street\" is stored as 5/10 …); anything else is sent whole as addressLine1"),
        FieldSpec::string("/addresses/*/street2").to("addressLine2"),
        FieldSpec::string("/addresses/*/city").to("suburb"),
        FieldSpec::string("/addresses/*/state").to("state"),
        FieldSpec::string("/addresses/*/postalCode").to("postcode (read as postCode)"),
        FieldSpec::string("/addresses/*/country").to("country").note("stored as given, e.g. Australia"),
        FieldSpec::not_stored("/addresses/*/countrySubdivision", ValueKind::String)
            .note("Karia addresses have state and suburb only"),
    ];
    for key in WRITABLE_STRINGS {
        fields.push(
            FieldSpec::string(&format!("/remoteFields/{key}"))
                .to(key)
                .note("null on update clears it"),
        );
    }
    fields.push(
        FieldSpec::of(&format!("/remoteFields/{DEPENDENTS}"), ValueKind::Number)
            .to(DEPENDENTS)
            .note("a whole number (int32); null on update clears it"),
    );
    fields.push(
        FieldSpec::array(&format!("/remoteFields/{PREFERRED_METHODS}"))
            .item_kind(ValueKind::String)
            .to(PREFERRED_METHODS)
            .note("replaces the list; null on update clears it"),
    );
    for (key, kind) in READ_ONLY {
        let note = match key {
            "contactMethods" => {
                "contact methods of types other than email and phone, as Karia returns them"
            }
            "deletedAddresses" => {
                "addresses Karia has soft-deleted (deletedAt set), as Karia returns them"
            }
            _ => "set by Karia",
        };
        fields.push(FieldSpec::read_only(&format!("/remoteFields/{key}"), kind).note(note));
    }

    ProviderDeclaration {
        provider: ProviderKind::Karia,
        name: "Karia".to_owned(),
        docs_url:
            "https://docs.sb.aws.karia.com.au/docs/beta/references/openapi/contact/contact.get"
                .to_owned(),
        default_base_url: DEFAULT_BASE_URL.to_owned(),
        operations: Operations {
            create: true,
            get: true,
            list: true,
            update: true,
            delete: true,
        },
        deletion: DeletionSignal::Tombstone,
        max_page_size: MAX_PAGE_SIZE,
        fields,
    }
}

/// `numberOfDependents` is an int32 (docs/providers/karia.md); the declaration can only say "a number".
pub(super) fn check_write(_op: Operation, input: &ContactInput) -> Vec<FieldError> {
    match input.remote_fields.as_ref().and_then(|m| m.get(DEPENDENTS)) {
        Some(Value::Number(n)) if !n.as_i64().is_some_and(|v| i32::try_from(v).is_ok()) => {
            vec![FieldError::new(
                format!("/remoteFields/{DEPENDENTS}"),
                "invalid",
                "must be a whole number that fits Karia's 32-bit integer",
            )]
        }
        _ => Vec::new(),
    }
}
