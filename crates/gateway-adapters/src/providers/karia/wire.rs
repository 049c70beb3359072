//! Karia's JSON, 1:1 (docs/providers/karia.md, pinned to `fixtures/karia/`). No logic. Reads
//! are unwrapped from `{"response": …}` (or taken bare) by the client before they reach these
//! types (docs/providers/karia.md).

use serde::{Deserialize, Serialize};
use serde_json::{Map, Number, Value};

/// An id: an int32 in the reference, a string such as `contact_123` in the guide (docs/providers/karia.md).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub(super) enum Id {
    Number(Number),
    Text(String),
}

impl Id {
    /// The id as the opaque string the gateway handles.
    pub(super) fn text(&self) -> String {
        match self {
            Id::Number(n) => n.to_string(),
            Id::Text(s) => s.clone(),
        }
    }
}

/// A contact as get, create, update, delete and list answer it (docs/providers/karia.md). The fields the common
/// model maps are typed; `other` keeps every other key as sent (numbers stay numbers).
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct Contact {
    pub(super) id: Id,
    #[serde(default)]
    pub(super) first_name: Option<String>,
    #[serde(default)]
    pub(super) last_name: Option<String>,
    #[serde(default)]
    pub(super) created_at: Option<String>,
    #[serde(default)]
    pub(super) last_updated_at: Option<String>,
    #[serde(default)]
    pub(super) deleted_at: Option<String>,
    #[serde(default)]
    pub(super) contact_methods: Option<Vec<ContactMethod>>,
    #[serde(default)]
    pub(super) addresses: Option<Vec<Address>>,
    #[serde(flatten)]
    pub(super) other: Map<String, Value>,
}

/// `{id, type, value, contactId}` (docs/providers/karia.md); `type` is `email` or `phone` in the seed.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct ContactMethod {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) id: Option<Value>,
    #[serde(default, rename = "type")]
    pub(super) kind: Option<String>,
    #[serde(default)]
    pub(super) value: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) contact_id: Option<Value>,
    #[serde(flatten)]
    pub(super) other: Map<String, Value>,
}

/// An address as read (docs/providers/karia.md): `postCode` on read, `postcode` accepted too (docs/providers/karia.md).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct Address {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) id: Option<Value>,
    #[serde(default)]
    pub(super) deleted_at: Option<Value>,
    #[serde(default, rename = "type")]
    pub(super) kind: Option<String>,
    #[serde(default)]
    pub(super) address_line1: Option<String>,
    #[serde(default)]
    pub(super) address_line2: Option<String>,
    #[serde(default)]
    pub(super) unit_number: Option<String>,
    #[serde(default)]
    pub(super) street_number: Option<String>,
    #[serde(default)]
    pub(super) street_name: Option<String>,
    #[serde(default)]
    pub(super) state: Option<String>,
    #[serde(default)]
    pub(super) suburb: Option<String>,
    #[serde(default)]
    pub(super) city: Option<String>,
    #[serde(default)]
    pub(super) post_code: Option<String>,
    #[serde(default, rename = "postcode", skip_serializing_if = "Option::is_none")]
    pub(super) postcode: Option<String>,
    #[serde(default)]
    pub(super) country: Option<String>,
    #[serde(flatten)]
    pub(super) other: Map<String, Value>,
}

/// `POST /organisation/{o}/workspace/{w}/contact` (docs/providers/karia.md, seed): names, contact methods and the
/// writable scalars (flattened into `fields`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct CreateContact {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) first_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) last_name: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(super) contact_methods: Vec<NewMethod>,
    #[serde(flatten)]
    pub(super) fields: Map<String, Value>,
}

/// `POST …/contact/{id}/method` body and a `contactMethods` item of the create body (docs/providers/karia.md).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(super) struct NewMethod {
    pub(super) value: String,
    #[serde(rename = "type")]
    pub(super) kind: String,
}

/// `POST …/contact/{id}/address` (docs/providers/karia.md, seed): note `postcode`, not the read model's
/// `postCode`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct NewAddress {
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    pub(super) kind: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) unit_number: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) street_number: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) street_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) address_line1: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) address_line2: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) suburb: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) state: Option<String>,
    #[serde(default, rename = "postcode", skip_serializing_if = "Option::is_none")]
    pub(super) postcode: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) country: Option<String>,
}

/// `PATCH …/contact/{id}` (inferred, docs/providers/karia.md): the scalar fields to change; `null` clears.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub(super) struct PatchContact {
    #[serde(flatten)]
    pub(super) fields: Map<String, Value>,
}

/// `GET …/contact?limit=&offset=` (inferred, docs/providers/karia.md): `{"contacts": […]}` inside the envelope.
#[derive(Clone, Debug, PartialEq, Deserialize)]
pub(super) struct ContactList {
    pub(super) contacts: Vec<Contact>,
}

/// `GET /organisation/{o}/workspace` (docs/providers/karia.md, seed).
#[derive(Clone, Debug, PartialEq, Deserialize)]
pub(super) struct WorkspaceList {
    pub(super) workspaces: Vec<Workspace>,
}

/// One workspace of the list.
#[derive(Clone, Debug, PartialEq, Deserialize)]
pub(super) struct Workspace {
    pub(super) id: Id,
    #[serde(default)]
    pub(super) name: Option<String>,
}

/// `{code, message, issues[]}` (docs/providers/karia.md); issues are zod issues `{code, message, path}`
/// (inferred).
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
pub(super) struct ErrorBody {
    #[serde(default)]
    pub(super) code: Option<String>,
    #[serde(default)]
    pub(super) message: Option<String>,
    #[serde(default)]
    pub(super) issues: Vec<Issue>,
}

/// One zod issue.
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
pub(super) struct Issue {
    #[serde(default)]
    pub(super) code: Option<String>,
    #[serde(default)]
    pub(super) message: Option<String>,
    #[serde(default)]
    pub(super) path: Vec<Value>,
}
