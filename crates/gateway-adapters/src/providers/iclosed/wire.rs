//! iClosed's JSON, 1:1 (docs/providers/iclosed.md, seed `iclosed-create-contact.txt`, pinned to
//! `fixtures/iclosed/`). No logic beyond picking the contact out of its envelope.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// A contact (docs/providers/iclosed.md). The keys the common model maps are typed; every other documented key
/// (`accountId`, `userId`, `status`, `previewId`, `tagId`, `blockedByRecaptcha`, `joinedTime`,
/// `timeZone`, `ipAddress`, `blockedId`, `referrerUrl`, `tracking`, …) and any key iClosed
/// adds later stays in `other`.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct Contact {
    /// An integer (docs/providers/iclosed.md); a string is tolerated.
    pub(super) id: ContactId,
    #[serde(default)]
    pub(super) first_name: Option<String>,
    #[serde(default)]
    pub(super) last_name: Option<String>,
    #[serde(default)]
    pub(super) email: Option<String>,
    /// Only on update and in webhook payloads (docs/providers/iclosed.md).
    #[serde(default, rename = "secondary_email")]
    pub(super) secondary_email: Option<String>,
    #[serde(default)]
    pub(super) phone_number: Option<String>,
    /// See `secondary_email`.
    #[serde(default, rename = "secondary_phoneNumber")]
    pub(super) secondary_phone_number: Option<String>,
    #[serde(default)]
    pub(super) country: Option<String>,
    /// Timestamps are kept as text: one that does not parse stays in `remoteFields`.
    #[serde(default)]
    pub(super) created_at: Option<String>,
    #[serde(default)]
    pub(super) updated_at: Option<String>,
    /// Soft delete (docs/providers/iclosed.md).
    #[serde(default)]
    pub(super) deleted_at: Option<String>,
    #[serde(flatten)]
    pub(super) other: Map<String, Value>,
}

/// A contact id as iClosed writes it.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(untagged)]
pub(super) enum ContactId {
    Number(i64),
    Text(String),
}

/// `{"data": …}` around one contact: create nests it as `data.contact` (seed), get and update
/// put it directly under `data` (docs/providers/iclosed.md, observed). Either is accepted on every answer.
#[derive(Clone, Debug, PartialEq, Deserialize)]
pub(super) struct ContactEnvelope {
    data: Map<String, Value>,
}

impl ContactEnvelope {
    /// The contact, wherever the envelope put it.
    pub(super) fn into_contact(mut self) -> Result<Contact, serde_json::Error> {
        let nested = !self.data.contains_key("id")
            && matches!(self.data.get("contact"), Some(Value::Object(_)));
        if nested {
            let contact = self.data.remove("contact").unwrap_or_default();
            serde_json::from_value(contact)
        } else {
            serde_json::from_value(Value::Object(self.data))
        }
    }
}

/// `GET /v1/contacts` (docs/providers/iclosed.md): `count` is the total of matches, not the page size.
#[derive(Clone, Debug, PartialEq, Deserialize)]
pub(super) struct ContactPage {
    pub(super) data: ContactPageData,
}

#[derive(Clone, Debug, PartialEq, Deserialize)]
pub(super) struct ContactPageData {
    #[serde(default)]
    pub(super) count: Option<u64>,
    pub(super) contacts: Vec<Contact>,
}

/// `POST /v1/contacts` (docs/providers/iclosed.md, seed): every field optional.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct CreateContact {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) first_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) last_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) email: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) phone_number: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) status: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) tag: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) joined_time: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) event_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) utm: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) country: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) time_zone: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) ip_address: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) referrer_url: Option<String>,
}

/// `PUT /v1/contacts` (docs/providers/iclosed.md): the id in the body, then only the fields that change.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct UpdateContact {
    pub(super) id: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) first_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) last_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) email: Option<String>,
    #[serde(
        default,
        rename = "secondary_email",
        skip_serializing_if = "Option::is_none"
    )]
    pub(super) secondary_email: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) phone_number: Option<String>,
    #[serde(
        default,
        rename = "secondary_phoneNumber",
        skip_serializing_if = "Option::is_none"
    )]
    pub(super) secondary_phone_number: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) status: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) referrer_url: Option<String>,
}

impl UpdateContact {
    /// Whether the body changes anything beyond naming the contact.
    pub(super) fn is_empty(&self) -> bool {
        *self
            == UpdateContact {
                id: self.id,
                ..UpdateContact::default()
            }
    }
}

/// Every error body iClosed documents (docs/providers/iclosed.md), read leniently: `message` is a string in the
/// standard, `{message, code}` and 429 shapes and an object in the V1 zod shape.
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct ErrorBody {
    #[serde(default)]
    pub(super) message: Option<Value>,
    #[serde(default)]
    pub(super) code: Option<String>,
    /// Standard validation: field → messages.
    #[serde(default)]
    pub(super) errors: Option<Map<String, Value>>,
    /// 429: seconds to wait (docs/providers/iclosed.md).
    #[serde(default)]
    pub(super) retry_after: Option<Value>,
}

/// The object under `message` in the V1 zod shape.
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct ZodMessage {
    #[serde(default)]
    pub(super) details: Option<ZodDetails>,
}

/// zod's `flatten()`: form-level and field-level messages.
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct ZodDetails {
    #[serde(default)]
    pub(super) form_errors: Vec<Value>,
    #[serde(default)]
    pub(super) field_errors: Map<String, Value>,
}
