//! Bird's JSON, 1:1 (docs/providers/bird.md, pinned to `fixtures/bird/`). No logic.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// A contact as get, list, create and update answer it (docs/providers/bird.md). Only `id`, `createdAt` and
/// `updatedAt` are required by Bird's schema; `other` keeps any key Bird adds later.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct Contact {
    pub(super) id: String,
    pub(super) created_at: DateTime<Utc>,
    pub(super) updated_at: DateTime<Utc>,
    #[serde(default)]
    pub(super) computed_display_name: Option<String>,
    #[serde(default)]
    pub(super) workspace_id: Option<String>,
    #[serde(default)]
    pub(super) featured_identifiers: Option<Vec<Identifier>>,
    #[serde(default)]
    pub(super) attributes: Map<String, Value>,
    #[serde(default)]
    pub(super) identifier_count: Option<u64>,
    #[serde(default)]
    pub(super) account_ids: Option<Vec<String>>,
    #[serde(default)]
    pub(super) list_ids: Option<Vec<String>>,
    #[serde(default)]
    pub(super) company_refs: Option<Vec<String>>,
    #[serde(default)]
    pub(super) is_anonymous: Option<bool>,
    #[serde(flatten)]
    pub(super) other: Map<String, Value>,
}

/// `{key, value, properties?}`: in create bodies, `POST …/identifiers`, `DELETE
/// …/identifiers` (without properties) and `featuredIdentifiers` (docs/providers/bird.md).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(super) struct Identifier {
    pub(super) key: String,
    pub(super) value: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) properties: Option<Map<String, Value>>,
}

/// `POST /workspaces/{ws}/contacts` (docs/providers/bird.md).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct CreateContact {
    pub(super) display_name: String,
    #[serde(default)]
    pub(super) identifiers: Vec<Identifier>,
    #[serde(default)]
    pub(super) attributes: Map<String, Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) list_ids: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) account_ids: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) company_refs: Option<Vec<String>>,
}

/// `PATCH /workspaces/{ws}/contacts/{id}` (docs/providers/bird.md): attributes merge key by key, `null` clears;
/// the id arrays replace the whole set.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct PatchContact {
    #[serde(default, skip_serializing_if = "Map::is_empty")]
    pub(super) attributes: Map<String, Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) list_ids: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) account_ids: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) company_refs: Option<Vec<String>>,
}

/// `GET /workspaces/{ws}/contacts` (docs/providers/bird.md): `nextPageToken` is absent on the last page.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct ContactPage {
    pub(super) results: Vec<Contact>,
    #[serde(default)]
    pub(super) next_page_token: Option<String>,
}

/// `{code, message}` (docs/providers/bird.md, observed for 422; assumed for the rest).
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
pub(super) struct ErrorBody {
    #[serde(default)]
    pub(super) code: Option<String>,
    #[serde(default)]
    pub(super) message: Option<String>,
}
