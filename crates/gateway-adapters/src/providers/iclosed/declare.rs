//! What iClosed stores of the common model, and where (seed `iclosed-create-contact.txt`,
//! docs/providers/iclosed.md). This one declaration drives write validation,
//! `GET /crm/contacts/schema` and `GET /providers`. Lengths are zod's, so they count UTF-16
//! code units. The one rule the declaration cannot express (ASCII digits in phone numbers,
//! as JavaScript's `\d` means) is [`check_write`].

use std::sync::LazyLock;

use gateway_core::declare::{DeletionSignal, Operations};
use gateway_core::{
    ContactInput, FieldError, FieldSpec, Format, Normalize, Operation, ProviderDeclaration,
    ProviderKind, Support, ValueKind,
};

/// docs/providers/iclosed.md.
pub(super) const DEFAULT_BASE_URL: &str = "https://public.api.iclosed.io";
/// Largest `limit` of the list call (docs/providers/iclosed.md).
pub(super) const MAX_PAGE_SIZE: u32 = 100;
/// `status` values on create and update (docs/providers/iclosed.md). Account-defined stages exist on list filters
/// but are not documented as writable.
pub(super) const STATUSES: [&str; 3] = ["POTENTIAL", "QUALIFIED", "DISQUALIFIED"];
/// The seed's email pattern, published in the field note: its look-aheads do not compile with
/// the `regex` crate, so [`Format::EmailIclosed`] enforces it.
pub(super) const EMAIL_PATTERN: &str = r"^(?!\.)(?!.*\.\.)([A-Za-z0-9_'+\-\.]*)[A-Za-z0-9_+-]@([A-Za-z0-9][A-Za-z0-9\-]*\.)+[A-Za-z]{2,}$";
/// The seed's phone pattern.
pub(super) const PHONE_PATTERN: &str = r"^\+?\d+$";

/// Remote fields written on create and on update (`PUT /v1/contacts`, docs/providers/iclosed.md).
pub(super) const REMOTE_BOTH: [&str; 2] = ["status", "referrerUrl"];

/// The declaration, built once.
pub(super) fn declaration() -> &'static ProviderDeclaration {
    static DECLARATION: LazyLock<ProviderDeclaration> = LazyLock::new(build);
    &DECLARATION
}

fn build() -> ProviderDeclaration {
    let create_only = |spec: FieldSpec| spec.support(Support::Stored, Support::NotStored);
    let mut fields = vec![
        FieldSpec::string("/firstName")
            .max_len(25)
            .utf16()
            .to("firstName")
            .not_clearable()
            .note("iClosed documents no way to clear it: null on update is a not_supported warning"),
        FieldSpec::string("/lastName")
            .required()
            .max_len(25)
            .utf16()
            .to("lastName"),
        FieldSpec::not_stored("/account", ValueKind::String)
            .note("iClosed keeps no company on a contact"),
        FieldSpec::array("/emailAddresses")
            .not_clearable()
            .max_items(2)
            .to("email, secondary_email")
            .note("the first is email, the second secondary_email; a create with two is a create plus a follow-up PUT (the create body has no secondary_email); iClosed cannot remove an email"),
        FieldSpec::string("/emailAddresses/*/emailAddress")
            .required()
            .max_len(255)
            .utf16()
            .format(Format::EmailIclosed)
            .note(&format!("iClosed's documented pattern: {EMAIL_PATTERN}")),
        FieldSpec::not_stored("/emailAddresses/*/emailAddressType", ValueKind::String)
            .note("iClosed emails carry no type; the order decides which is main"),
        FieldSpec::array("/phoneNumbers")
            .not_clearable()
            .max_items(2)
            .to("phoneNumber, secondary_phoneNumber")
            .note("the first is phoneNumber, the second secondary_phoneNumber; a create with two is a create plus a follow-up PUT (the create body has no secondary_phoneNumber); iClosed cannot remove a phone number"),
        FieldSpec::string("/phoneNumbers/*/phoneNumber")
            .required()
            .normalize(Normalize::PhoneFormatting)
            .pattern(PHONE_PATTERN)
            .max_len(20)
            .utf16()
            .note("spaces, dashes, dots and brackets are removed first; digits are ASCII 0-9"),
        FieldSpec::not_stored("/phoneNumbers/*/phoneNumberType", ValueKind::String)
            .note("iClosed phone numbers carry no type; the order decides which is main"),
        FieldSpec::array("/addresses")
            .not_clearable()
            .max_items(1)
            .to("country")
            .note("iClosed keeps only a country, set on create"),
        create_only(
            FieldSpec::string("/addresses/*/country")
                .normalize(Normalize::CountryAlpha2)
                .format(Format::CountryAlpha2)
                .to("country"),
        )
        .note("ISO 3166-1 alpha-2; alpha-3 codes and English names are converted, anything else is refused. Create only: the update body has no country"),
        FieldSpec::string("/remoteFields/status")
            .not_clearable()
            .one_of(&STATUSES)
            .to("status"),
        FieldSpec::string("/remoteFields/referrerUrl")
            .not_clearable()
            .max_len(500)
            .utf16()
            .format(Format::Uri)
            .to("referrerUrl"),
        create_only(FieldSpec::string("/remoteFields/tag").max_len(100).utf16().to("tag").write_only())
            .note("create only; iClosed answers it as a numeric tagId"),
        create_only(
            FieldSpec::string("/remoteFields/joinedTime")
                .format(Format::UtcDateTime)
                .to("joinedTime"),
        )
        .note("create only; UTC, e.g. 2024-01-15T10:00:00.000Z"),
        create_only(
            FieldSpec::string("/remoteFields/eventName")
                .max_len(255)
                .utf16()
                .to("eventName")
                .write_only(),
        )
        .note("create only"),
        create_only(FieldSpec::string("/remoteFields/utm").max_len(1000).utf16().to("utm").write_only())
            .note("create only; query-string style, e.g. utm_source=google&utm_medium=cpc; iClosed answers it parsed, as tracking"),
        create_only(
            FieldSpec::string("/remoteFields/timeZone")
                .max_len(50)
                .utf16()
                .to("timeZone"),
        )
        .note("create only; an IANA name such as America/New_York"),
        create_only(
            FieldSpec::string("/remoteFields/ipAddress")
                .max_len(45)
                .utf16()
                .to("ipAddress"),
        )
        .note("create only"),
    ];
    for (key, kind) in [
        ("id", ValueKind::Number),
        ("accountId", ValueKind::Number),
        ("userId", ValueKind::Number),
        ("previewId", ValueKind::String),
        ("tagId", ValueKind::Number),
        ("blockedByRecaptcha", ValueKind::Boolean),
        ("blockedId", ValueKind::Any),
        ("tracking", ValueKind::Object),
        ("createdAt", ValueKind::String),
        ("updatedAt", ValueKind::String),
        ("deletedAt", ValueKind::String),
    ] {
        fields.push(
            FieldSpec::read_only(&format!("/remoteFields/{key}"), kind).note("set by iClosed"),
        );
    }
    for (key, common) in [
        ("firstName", "firstName"),
        ("lastName", "lastName"),
        ("email", "emailAddresses/0"),
        ("secondary_email", "emailAddresses/1"),
        ("phoneNumber", "phoneNumbers/0"),
        ("secondary_phoneNumber", "phoneNumbers/1"),
        ("country", "addresses/0/country"),
    ] {
        fields.push(
            FieldSpec::not_stored(&format!("/remoteFields/{key}"), ValueKind::String)
                .note(&format!("use the common field {common}")),
        );
    }

    ProviderDeclaration {
        provider: ProviderKind::Iclosed,
        name: "iClosed".to_owned(),
        docs_url: "https://developer.iclosed.io/".to_owned(),
        default_base_url: DEFAULT_BASE_URL.to_owned(),
        operations: Operations {
            create: true,
            get: true,
            list: true,
            update: true,
            delete: false,
        },
        deletion: DeletionSignal::Tombstone,
        max_page_size: MAX_PAGE_SIZE,
        fields,
    }
}

/// JavaScript's `\d` (which iClosed's zod pattern uses) is ASCII only, while the `regex`
/// crate's is any Unicode digit: a number in, say, Arabic-Indic digits passes the declared
/// pattern here and would be refused by iClosed, so it is refused here first.
pub(super) fn check_write(_op: Operation, input: &ContactInput) -> Vec<FieldError> {
    input
        .phone_numbers
        .iter()
        .flatten()
        .enumerate()
        .filter(|(_, p)| !p.phone_number.is_ascii())
        .map(|(i, _)| {
            FieldError::new(
                format!("/phoneNumbers/{i}/phoneNumber"),
                "pattern",
                format!("must match {PHONE_PATTERN} with ASCII digits 0-9"),
            )
        })
        .collect()
}
