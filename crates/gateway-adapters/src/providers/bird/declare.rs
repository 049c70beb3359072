//! What Bird stores of the common model, and where (docs/providers/bird.md). This one
//! declaration drives write validation, `GET /crm/contacts/schema` and `GET /providers`;
//! the cross-field display-name rule the declaration cannot express is [`check_write`].

use std::sync::LazyLock;

use gateway_core::declare::{DeletionSignal, Operations};
use gateway_core::{
    ContactInput, FieldError, FieldSpec, Format, Normalize, Operation, ProviderDeclaration,
    ProviderKind, ValueKind,
};
use serde_json::Value;

use crate::providers::FAN_OUT_MAX_ITEMS;

/// docs/providers/bird.md.
pub(super) const DEFAULT_BASE_URL: &str = "https://api.bird.com";
/// `displayName` is 1–150 characters on create (docs/providers/bird.md, seed); counted in Unicode scalars.
pub(super) const DISPLAY_NAME_MAX: usize = 150;
/// Identifier values are 1–500 characters (docs/providers/bird.md).
const IDENTIFIER_VALUE_MAX: usize = 500;
/// Attribute keys follow the attribute-definition pattern (docs/providers/bird.md).
const ATTRIBUTE_KEY: &str = r"^[A-Za-z\d_-]{1,64}$";
/// Identifier keys (docs/providers/bird.md): lower-case words; `email` is a known integration mistake.
pub(super) const EMAIL_KEY: &str = "emailaddress";
/// See [`EMAIL_KEY`].
pub(super) const PHONE_KEY: &str = "phonenumber";
/// remoteFields that are top-level contact properties, not attributes (docs/providers/bird.md).
pub(super) const TOP_LEVEL_REMOTE: [&str; 3] = ["listIds", "accountIds", "companyRefs"];
/// Largest `limit` of the list call (docs/providers/bird.md).
pub(super) const MAX_PAGE_SIZE: u32 = 100;

/// The declaration, built once.
pub(super) fn declaration() -> &'static ProviderDeclaration {
    static DECLARATION: LazyLock<ProviderDeclaration> = LazyLock::new(build);
    &DECLARATION
}

fn build() -> ProviderDeclaration {
    let no_address = "Bird has no structured address; write standard attributes such as city, country or postalCode through remoteFields";
    let mut fields = vec![
        // A name is only a limit through displayName, which is built from both names; 150
        // each still refuses values that could never fit.
        FieldSpec::string("/firstName").max_len(DISPLAY_NAME_MAX).to("attributes.firstName"),
        FieldSpec::string("/lastName").required().max_len(DISPLAY_NAME_MAX).to("attributes.lastName").note(
            "displayName (firstName and lastName joined by a space, at most 150 characters) is required by Bird and built from the names unless remoteFields.displayName is given",
        ),
        // docs/providers/bird.md: accountIds/companyRefs are references, not a company name.
        FieldSpec::not_stored("/account", ValueKind::String)
            .note("Bird keeps no company name on a contact; use remoteFields.accountIds or remoteFields.companyRefs for references"),
        FieldSpec::not_stored("/addresses", ValueKind::Array).note(no_address),
        FieldSpec::array("/emailAddresses")
            .items(None, Some(FAN_OUT_MAX_ITEMS))
            .to("identifiers[key=emailaddress]")
            .note("each address is an emailaddress identifier; an update replaces the whole set through the identifier endpoints"),
        FieldSpec::string("/emailAddresses/*/emailAddress")
            .required()
            .length(Some(1), Some(IDENTIFIER_VALUE_MAX))
            .format(Format::Email)
            .to("identifiers[].value"),
        FieldSpec::not_stored("/emailAddresses/*/emailAddressType", ValueKind::String).note("Bird identifiers carry no type"),
        FieldSpec::array("/phoneNumbers")
            .items(None, Some(FAN_OUT_MAX_ITEMS))
            .to("identifiers[key=phonenumber]")
            .note("each number is a phonenumber identifier; an update replaces the whole set through the identifier endpoints"),
        // docs/providers/bird.md Simulator line: E.164 after removing the formatting people type.
        FieldSpec::string("/phoneNumbers/*/phoneNumber")
            .required()
            .normalize(Normalize::PhoneFormatting)
            .format(Format::E164)
            .to("identifiers[].value"),
        FieldSpec::not_stored("/phoneNumbers/*/phoneNumberType", ValueKind::String).note("Bird identifiers carry no type"),
        FieldSpec::array("/remoteFields/listIds")
            .item_kind(ValueKind::String)
            .format(Format::Uuid)
            .items(Some(1), Some(10))
            .to("listIds")
            .note("replaces the contact's list memberships"),
        // The update seed types accountIds as uuids; requiring them on create too keeps a
        // read-modify-write from failing on values the create accepted.
        FieldSpec::array("/remoteFields/accountIds")
            .item_kind(ValueKind::String)
            .format(Format::Uuid)
            .items(Some(1), Some(10))
            .to("accountIds")
            .note("replaces the contact's accounts; uuids (bird-update-contact seed)"),
        FieldSpec::array("/remoteFields/companyRefs").item_kind(ValueKind::String).to("companyRefs"),
        FieldSpec::string("/remoteFields/displayName")
            .length(Some(1), Some(DISPLAY_NAME_MAX))
            .to("displayName")
            .note("overrides the name built from firstName and lastName; null on update clears it"),
    ];
    for (key, kind) in [
        ("computedDisplayName", ValueKind::String),
        ("identifierCount", ValueKind::Number),
        ("isAnonymous", ValueKind::Boolean),
        ("workspaceId", ValueKind::String),
        ("featuredIdentifiers", ValueKind::Array),
    ] {
        fields.push(
            FieldSpec::read_only(&format!("/remoteFields/{key}"), kind).note("computed by Bird"),
        );
    }
    for key in [EMAIL_KEY, PHONE_KEY] {
        // docs/providers/bird.md: a PATCH writing these as attributes is a 422 at Bird.
        fields.push(
            FieldSpec::read_only(&format!("/remoteFields/{key}"), ValueKind::Any)
                .note("write emailAddresses/phoneNumbers"),
        );
    }
    for key in ["firstName", "lastName"] {
        fields.push(
            FieldSpec::not_stored(&format!("/remoteFields/{key}"), ValueKind::String)
                .note("use the common fields"),
        );
    }
    fields.push(
        FieldSpec::of("/remoteFields/*", ValueKind::Scalar)
            .key_pattern(ATTRIBUTE_KEY)
            .to("attributes.<key>")
            .note("any other key is a Bird attribute: a boolean, number, string or non-empty array of those; null on update clears it"),
    );
    for sub in [
        "addressType",
        "street1",
        "street2",
        "city",
        "state",
        "countrySubdivision",
        "country",
        "postalCode",
    ] {
        fields.push(
            FieldSpec::not_stored(&format!("/addresses/*/{sub}"), ValueKind::String)
                .note(no_address),
        );
    }

    ProviderDeclaration {
        provider: ProviderKind::Bird,
        name: "Bird".to_owned(),
        docs_url: "https://docs.bird.com/api/contacts-api".to_owned(),
        default_base_url: DEFAULT_BASE_URL.to_owned(),
        operations: Operations {
            create: true,
            get: true,
            list: true,
            update: true,
            delete: true,
        },
        deletion: DeletionSignal::HardDelete,
        max_page_size: MAX_PAGE_SIZE,
        fields,
    }
}

/// `displayName` from the names (docs/providers/bird.md): both joined by one space, empty parts skipped.
pub(super) fn display_name(first: Option<&str>, last: Option<&str>) -> String {
    [first, last]
        .into_iter()
        .flatten()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

fn too_long(pointer: &str, name: &str) -> Vec<FieldError> {
    let len = name.chars().count();
    if len > DISPLAY_NAME_MAX {
        vec![FieldError::new(
            pointer,
            "too_long",
            format!(
                "Bird's displayName (firstName and lastName joined by a space) must be at most {DISPLAY_NAME_MAX} characters, got {len}; set remoteFields.displayName to choose a shorter one. Values are never truncated"
            ),
        )]
    } else {
        Vec::new()
    }
}

/// The display-name limit, which spans two fields. On update a single name change is checked
/// against the stored other name when the adapter has read it.
pub(super) fn check_write(op: Operation, input: &ContactInput) -> Vec<FieldError> {
    let explicit = input
        .remote_fields
        .as_ref()
        .and_then(|m| m.get("displayName"));
    if let Some(Value::String(name)) = explicit {
        if name.chars().count() > DISPLAY_NAME_MAX {
            return vec![FieldError::new(
                "/remoteFields/displayName",
                "too_long",
                format!("must be at most {DISPLAY_NAME_MAX} characters, got {}; values are never truncated", name.chars().count()),
            )];
        }
    }
    let explicit_given = match op {
        Operation::Create => matches!(explicit, Some(Value::String(_))),
        _ => explicit.is_some(),
    };
    match op {
        Operation::Create if !explicit_given => too_long(
            "/lastName",
            &display_name(input.first_name(), input.last_name()),
        ),
        Operation::Update
            if !explicit_given && input.first_name.is_some() && input.last_name.is_some() =>
        {
            too_long(
                "/lastName",
                &display_name(input.first_name(), input.last_name()),
            )
        }
        _ => Vec::new(),
    }
}
