//! The common contact model (field names from the unified-create-contact seed): what clients
//! send, what adapters return, and the warnings that make dropped values visible.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::{Map, Value};
use utoipa::ToSchema;

use crate::ids::{ContactId, RemoteId};

/// Provider-native fields the common model does not map, keyed by the provider's field names.
pub type RemoteFields = Map<String, Value>;

/// A postal address.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Address {
    /// e.g. `current`, `mailing`, `shipping`, `billing`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address_type: Option<String>,
    /// First line, e.g. `10 Example Street`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub street1: Option<String>,
    /// Second line.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub street2: Option<String>,
    /// City, town or suburb.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub city: Option<String>,
    /// State or province.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
    /// A finer subdivision of the country when `state` is not enough.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub country_subdivision: Option<String>,
    /// Country name or code, as the provider stores it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub country: Option<String>,
    /// Postal or ZIP code.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub postal_code: Option<String>,
}

/// An email address.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct EmailAddress {
    /// e.g. `main`, `secondary`, `work`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email_address_type: Option<String>,
    /// The address itself.
    pub email_address: String,
}

/// A phone number.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PhoneNumber {
    /// e.g. `mobile`, `primary`, `secondary`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phone_number_type: Option<String>,
    /// The number as given; each provider declares the format it accepts.
    pub phone_number: String,
}

/// A contact as a client writes it. On create `lastName` is required; on update every field
/// is optional and only the fields sent change: an absent field is left alone, `null` clears
/// a scalar, and an array (or `null`) replaces the whole list.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ContactInput {
    /// Given name.
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    #[schema(value_type = Option<String>)]
    pub first_name: Option<Option<String>>,
    /// Family name; required on create.
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    #[schema(value_type = Option<String>)]
    pub last_name: Option<Option<String>>,
    /// Name or id of the company the contact belongs to.
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    #[schema(value_type = Option<String>)]
    pub account: Option<Option<String>>,
    /// Postal addresses.
    #[serde(
        default,
        deserialize_with = "list",
        skip_serializing_if = "Option::is_none"
    )]
    #[schema(max_items = 100)]
    pub addresses: Option<Vec<Address>>,
    /// Email addresses, the first one being the main one.
    #[serde(
        default,
        deserialize_with = "list",
        skip_serializing_if = "Option::is_none"
    )]
    #[schema(max_items = 100)]
    pub email_addresses: Option<Vec<EmailAddress>>,
    /// Phone numbers, the first one being the main one.
    #[serde(
        default,
        deserialize_with = "list",
        skip_serializing_if = "Option::is_none"
    )]
    #[schema(max_items = 100)]
    pub phone_numbers: Option<Vec<PhoneNumber>>,
    /// Provider-native fields, validated against the provider's declaration.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub remote_fields: Option<RemoteFields>,
}

/// Most items each array of the input (`addresses`, `emailAddresses`, `phoneNumbers`) may
/// hold. Beyond it the request is refused (422 `too_many_items`) before any other work, so a
/// small body cannot buy unbounded validation, warnings or provider calls. Published in the
/// OpenAPI document (`maxItems`); docs/mapping.md "Limits".
pub const MAX_ITEMS: usize = 100;
/// Most keys `remoteFields` may hold, for the same reason (`maxProperties`).
pub const MAX_REMOTE_FIELDS: usize = 200;

/// Keeps `null` apart from an absent field: absent → `None`, `null` → `Some(None)`.
fn present<'de, D, T>(de: D) -> Result<Option<Option<T>>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(de).map(Some)
}

/// For lists, `null` means "clear", the same as `[]`.
fn list<'de, D, T>(de: D) -> Result<Option<Vec<T>>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<Vec<T>>::deserialize(de).map(|v| Some(v.unwrap_or_default()))
}

impl ContactInput {
    /// The value of a scalar field when it was sent with a value.
    pub fn first_name(&self) -> Option<&str> {
        self.first_name.as_ref().and_then(|v| v.as_deref())
    }
    /// See [`ContactInput::first_name`].
    pub fn last_name(&self) -> Option<&str> {
        self.last_name.as_ref().and_then(|v| v.as_deref())
    }
    /// See [`ContactInput::first_name`].
    pub fn account(&self) -> Option<&str> {
        self.account.as_ref().and_then(|v| v.as_deref())
    }
}

/// A contact as an adapter reads it from a provider, before the gateway adds its index fields.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RemoteContact {
    /// The provider's id, always a string.
    pub remote_id: RemoteId,
    /// Given name.
    pub first_name: Option<String>,
    /// Family name.
    pub last_name: Option<String>,
    /// Company name or id.
    pub account: Option<String>,
    /// Postal addresses.
    pub addresses: Vec<Address>,
    /// Email addresses.
    pub email_addresses: Vec<EmailAddress>,
    /// Phone numbers.
    pub phone_numbers: Vec<PhoneNumber>,
    /// Last activity the provider recorded, if it tracks one.
    pub last_activity_at: Option<DateTime<Utc>>,
    /// When the provider created the record.
    pub remote_created_at: Option<DateTime<Utc>>,
    /// When the provider last changed the record.
    pub remote_updated_at: Option<DateTime<Utc>>,
    /// A native tombstone (`deletedAt`) when the provider soft-deletes.
    pub remote_deleted_at: Option<DateTime<Utc>>,
    /// Everything the provider returned that the common model does not map.
    pub remote_fields: RemoteFields,
}

/// A contact as the API answers it: the provider's data plus the gateway's index fields.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Contact {
    /// The gateway's own stable id.
    #[schema(value_type = String, example = "con_0192f1c2a3b44c5d8e9f0a1b2c3d4e5f")]
    pub id: ContactId,
    /// The provider's id, always a string.
    #[schema(value_type = String)]
    pub remote_id: RemoteId,
    /// Given name.
    pub first_name: Option<String>,
    /// Family name.
    pub last_name: Option<String>,
    /// Company name or id.
    pub account: Option<String>,
    /// Postal addresses.
    pub addresses: Vec<Address>,
    /// Email addresses.
    pub email_addresses: Vec<EmailAddress>,
    /// Phone numbers.
    pub phone_numbers: Vec<PhoneNumber>,
    /// Last activity the provider recorded.
    pub last_activity_at: Option<DateTime<Utc>>,
    /// When the provider created the record.
    pub remote_created_at: Option<DateTime<Utc>>,
    /// When the provider last changed the record.
    pub remote_updated_at: Option<DateTime<Utc>>,
    /// The record was deleted in the provider.
    pub remote_deleted: bool,
    /// When the gateway learned of the deletion (or the provider's own tombstone time).
    pub remote_deleted_at: Option<DateTime<Utc>>,
    /// How the deletion was detected: `native` (the provider's own tombstone), `diff` (a
    /// complete listing no longer had it and a direct lookup confirmed it) or `on_use` (a
    /// provider 404 on a call through the gateway); absent while not deleted.
    #[serde(default)]
    #[schema(example = "diff")]
    pub deletion_detected_by: Option<String>,
    /// When a provider call (a read, a listing, a reconciliation) last returned the contact.
    #[serde(default)]
    pub last_seen_at: Option<DateTime<Utc>>,
    /// When the gateway first indexed the contact.
    pub created_at: DateTime<Utc>,
    /// When the gateway last changed its index entry.
    pub updated_at: DateTime<Utc>,
    /// Provider-native fields the common model does not map; send them back unchanged on
    /// update and nothing is lost.
    #[schema(value_type = Object)]
    pub remote_fields: RemoteFields,
}

/// A value that was not written, or was written differently, said out loud.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Warning {
    /// JSON pointer into the request body, e.g. `/emailAddresses/2`.
    pub pointer: String,
    /// `not_supported`, `read_only`, `normalized`, …
    pub code: String,
    /// A sentence for humans.
    pub message: String,
}

impl Warning {
    /// Builds a warning.
    pub fn new(pointer: impl Into<String>, code: &str, message: impl Into<String>) -> Self {
        Self {
            pointer: pointer.into(),
            code: code.to_owned(),
            message: message.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn absent_null_and_value_stay_apart() {
        let input: ContactInput = serde_json::from_str(
            r#"{"firstName": null, "lastName": "Citizen", "addresses": null}"#,
        )
        .expect("valid");
        assert_eq!(input.first_name, Some(None));
        assert_eq!(input.last_name, Some(Some("Citizen".into())));
        assert_eq!(input.account, None);
        assert_eq!(input.addresses, Some(vec![]));
        assert_eq!(input.email_addresses, None);
    }

    #[test]
    fn unknown_fields_are_refused_not_dropped() {
        let err = serde_json::from_str::<ContactInput>(r#"{"lastName":"A","middleName":"B"}"#)
            .expect_err("unknown field");
        assert!(err.to_string().contains("middleName"));
    }
}
