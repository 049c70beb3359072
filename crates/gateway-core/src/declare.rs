//! Provider declarations: per field whether a provider stores it, its limits and how many list
//! items it keeps. One declaration drives write validation, `GET /crm/contacts/schema` and
//! `GET /providers`, so what is published can never disagree with what is enforced.

use serde::Serialize;
use utoipa::ToSchema;

use crate::ids::ProviderKind;

/// Whether a provider keeps a value written to a field.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Support {
    /// Written to the provider and read back.
    Stored,
    /// The provider has nowhere to put it: a value here comes back as a `not_supported`
    /// warning (or a 422 with `?strict=true`).
    NotStored,
    /// Returned on reads but cannot be written: a `read_only` warning on write.
    ReadOnly,
}

/// The JSON type a field takes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ValueKind {
    /// A string.
    String,
    /// An array (of objects or of strings; see `itemKind`).
    Array,
    /// A boolean.
    Boolean,
    /// A number.
    Number,
    /// An object.
    Object,
    /// A boolean, number, string, null, or a non-empty array of those (Bird attributes).
    Scalar,
    /// Anything JSON.
    Any,
}

/// A check the `regex` crate cannot express, or one that is clearer by name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Format {
    /// One `@` with something on both sides and a dot in the domain.
    Email,
    /// iClosed's documented email pattern, look-aheads included.
    EmailIclosed,
    /// E.164: `+` then 2–15 digits, no leading zero.
    E164,
    /// An absolute `http` or `https` URI.
    Uri,
    /// iClosed `joinedTime`: `YYYY-MM-DDTHH:MM[:SS[.f]]Z`, calendar-valid, UTC only.
    UtcDateTime,
    /// A uuid.
    Uuid,
    /// ISO 3166-1 alpha-2, upper case.
    CountryAlpha2,
}

/// A rewrite applied before checks, because the provider is strict about a format that
/// humans write loosely.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Normalize {
    /// Drop spaces, dashes, dots and brackets from phone numbers.
    PhoneFormatting,
    /// Country names and alpha-3 codes become alpha-2; anything unknown is left for the
    /// check to reject rather than guessed.
    CountryAlpha2,
}

/// How lengths are counted.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum LengthUnit {
    /// Unicode scalar values.
    #[default]
    Chars,
    /// UTF-16 code units, as JavaScript's `string.length` counts (zod limits).
    Utf16,
}

/// One field of the common model, as a provider treats it.
#[derive(Clone, Debug, PartialEq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct FieldSpec {
    /// JSON pointer template: `/firstName`, `/emailAddresses`, `/emailAddresses/*/emailAddress`,
    /// `/remoteFields/preferredName`, or `/remoteFields/*` for keys not declared one by one.
    pub pointer: String,
    /// Support on create.
    pub create: Support,
    /// Support on update.
    pub update: Support,
    /// Must be present and non-empty on create.
    pub required: bool,
    /// JSON type.
    pub kind: ValueKind,
    /// For arrays of scalars: the item type.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub item_kind: Option<ValueKind>,
    /// Shortest accepted string.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub min_length: Option<usize>,
    /// Longest accepted string; longer values are refused, never truncated.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_length: Option<usize>,
    /// How lengths are counted.
    pub length_unit: LengthUnit,
    /// Regular expression the (normalised) value must match.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pattern: Option<String>,
    /// Named format check.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub format: Option<Format>,
    /// Accepted values.
    #[serde(rename = "enum", skip_serializing_if = "Option::is_none")]
    pub enum_values: Option<Vec<String>>,
    /// Fewest items in an array.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub min_items: Option<usize>,
    /// How many array items the provider keeps; more are refused (`rejectExtraItems`) or come
    /// back as `not_supported` warnings.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_items: Option<usize>,
    /// Extra items beyond `maxItems` are a 422 instead of a warning (a provider limit, not a
    /// storage gap).
    pub reject_extra_items: bool,
    /// For `/remoteFields/*`: the pattern a key must match.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key_pattern: Option<String>,
    /// Rewrite applied before checks.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub normalize: Option<Normalize>,
    /// Where the value goes at the provider, e.g. `attributes.firstName`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub provider_field: Option<String>,
    /// The provider keeps the value but never returns it as written (iClosed turns `tag` into
    /// a `tagId`): reads will not show it, so a round trip cannot either.
    pub write_only: bool,
    /// `null` (or `[]` for a list) on update clears the value at the provider. When false,
    /// the provider has no way to clear it and a clear is a `not_supported` warning (a 422
    /// with `?strict=true`) instead of a silent no-op.
    pub clearable: bool,
    /// Anything a caller should know.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

impl FieldSpec {
    fn base(pointer: &str, support: Support, kind: ValueKind) -> Self {
        Self {
            pointer: pointer.to_owned(),
            create: support,
            update: support,
            required: false,
            kind,
            item_kind: None,
            min_length: None,
            max_length: None,
            length_unit: LengthUnit::Chars,
            pattern: None,
            format: None,
            enum_values: None,
            min_items: None,
            max_items: None,
            reject_extra_items: false,
            key_pattern: None,
            normalize: None,
            provider_field: None,
            write_only: false,
            clearable: true,
            note: None,
        }
    }

    /// A string field the provider stores.
    pub fn string(pointer: &str) -> Self {
        Self::base(pointer, Support::Stored, ValueKind::String)
    }
    /// An array field the provider stores.
    pub fn array(pointer: &str) -> Self {
        Self::base(pointer, Support::Stored, ValueKind::Array)
    }
    /// A field of another type the provider stores.
    pub fn of(pointer: &str, kind: ValueKind) -> Self {
        Self::base(pointer, Support::Stored, kind)
    }
    /// A field the provider cannot store.
    pub fn not_stored(pointer: &str, kind: ValueKind) -> Self {
        Self::base(pointer, Support::NotStored, kind)
    }
    /// A field returned on reads that cannot be written.
    pub fn read_only(pointer: &str, kind: ValueKind) -> Self {
        Self::base(pointer, Support::ReadOnly, kind)
    }
    /// Different support on create and update.
    pub fn support(mut self, create: Support, update: Support) -> Self {
        self.create = create;
        self.update = update;
        self
    }
    /// Required on create.
    pub fn required(mut self) -> Self {
        self.required = true;
        self
    }
    /// Length bounds.
    pub fn length(mut self, min: Option<usize>, max: Option<usize>) -> Self {
        self.min_length = min;
        self.max_length = max;
        self
    }
    /// Longest accepted value.
    pub fn max_len(mut self, max: usize) -> Self {
        self.max_length = Some(max);
        self
    }
    /// Counts lengths in UTF-16 code units.
    pub fn utf16(mut self) -> Self {
        self.length_unit = LengthUnit::Utf16;
        self
    }
    /// A regular expression the value must match.
    pub fn pattern(mut self, pattern: &str) -> Self {
        self.pattern = Some(pattern.to_owned());
        self
    }
    /// A named format check.
    pub fn format(mut self, format: Format) -> Self {
        self.format = Some(format);
        self
    }
    /// Accepted values.
    pub fn one_of(mut self, values: &[&str]) -> Self {
        self.enum_values = Some(values.iter().map(|v| (*v).to_owned()).collect());
        self
    }
    /// How many items the provider keeps (extra ones are warned about).
    pub fn max_items(mut self, max: usize) -> Self {
        self.max_items = Some(max);
        self
    }
    /// Item bounds that the provider enforces (extra ones are refused).
    pub fn items(mut self, min: Option<usize>, max: Option<usize>) -> Self {
        self.min_items = min;
        self.max_items = max;
        self.reject_extra_items = true;
        self
    }
    /// Item type of an array of scalars.
    pub fn item_kind(mut self, kind: ValueKind) -> Self {
        self.item_kind = Some(kind);
        self
    }
    /// Pattern for keys of a `/remoteFields/*` entry.
    pub fn key_pattern(mut self, pattern: &str) -> Self {
        self.key_pattern = Some(pattern.to_owned());
        self
    }
    /// Rewrite before checks.
    pub fn normalize(mut self, normalize: Normalize) -> Self {
        self.normalize = Some(normalize);
        self
    }
    /// Where the value lands at the provider.
    pub fn to(mut self, provider_field: &str) -> Self {
        self.provider_field = Some(provider_field.to_owned());
        self
    }
    /// The provider offers no way to clear the value once set.
    pub fn not_clearable(mut self) -> Self {
        self.clearable = false;
        self
    }
    /// Kept by the provider but not returned as written.
    pub fn write_only(mut self) -> Self {
        self.write_only = true;
        self
    }
    /// A note for callers.
    pub fn note(mut self, note: &str) -> Self {
        self.note = Some(note.to_owned());
        self
    }
    /// Support for one operation.
    pub fn support_for(&self, update: bool) -> Support {
        if update {
            self.update
        } else {
            self.create
        }
    }
}

/// Which operations a provider offers through the gateway.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Operations {
    /// Create contacts.
    pub create: bool,
    /// Read one contact.
    pub get: bool,
    /// List contacts.
    pub list: bool,
    /// Update contacts.
    pub update: bool,
    /// Delete contacts.
    pub delete: bool,
}

/// How the reconciler can learn of deletions at this provider.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DeletionSignal {
    /// Records vanish (hard delete): only a full-enumeration diff or a 404 tells.
    HardDelete,
    /// Records carry a `deletedAt` tombstone.
    Tombstone,
}

/// Everything the gateway knows about a provider's contact API, in one value.
#[derive(Clone, Debug, PartialEq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ProviderDeclaration {
    /// The provider.
    pub provider: ProviderKind,
    /// Human name.
    pub name: String,
    /// Where the provider documents its API.
    pub docs_url: String,
    /// Default API root when a credential sets no `baseUrl`.
    pub default_base_url: String,
    /// Supported operations.
    pub operations: Operations,
    /// How deletions show.
    pub deletion: DeletionSignal,
    /// Largest page the provider's list returns.
    pub max_page_size: u32,
    /// Per-field support and limits.
    pub fields: Vec<FieldSpec>,
}

impl ProviderDeclaration {
    /// The spec for a pointer template, if declared.
    pub fn field(&self, pointer: &str) -> Option<&FieldSpec> {
        self.fields.iter().find(|f| f.pointer == pointer)
    }

    /// Whether an operation is offered.
    pub fn supports(&self, op: crate::adapter::Operation) -> bool {
        use crate::adapter::Operation;
        match op {
            Operation::Create => self.operations.create,
            Operation::Get => self.operations.get,
            Operation::List => self.operations.list,
            Operation::Update => self.operations.update,
            Operation::Delete => self.operations.delete,
        }
    }
}
