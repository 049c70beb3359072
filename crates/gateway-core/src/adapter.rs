//! The `CrmAdapter` trait: one provider bound to one credential, one method per operation.

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::declare::ProviderDeclaration;
use crate::error::{AdapterError, FieldError};
use crate::ids::{ProviderKind, RemoteId};
use crate::model::{ContactInput, RemoteContact, Warning};

/// A contact operation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Operation {
    /// Create a contact.
    Create,
    /// Read one contact.
    Get,
    /// List contacts.
    List,
    /// Update a contact.
    Update,
    /// Delete a contact.
    Delete,
}

impl Operation {
    /// The operation's name.
    pub fn as_str(self) -> &'static str {
        match self {
            Operation::Create => "create",
            Operation::Get => "get",
            Operation::List => "list",
            Operation::Update => "update",
            Operation::Delete => "delete",
        }
    }
}

/// One page request. `cursor` is the adapter's own position (a page token, a page number…),
/// produced by a previous [`ListPage::next`]; the API wraps it in its opaque cursor.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ListRequest {
    /// Items wanted, already clamped to the provider's maximum.
    pub page_size: u32,
    /// Where to continue, or `None` for the first page.
    pub cursor: Option<String>,
}

/// One page of contacts.
#[derive(Clone, Debug, PartialEq)]
pub struct ListPage {
    /// The contacts on this page.
    pub contacts: Vec<RemoteContact>,
    /// The adapter position of the next page; `None` once the listing is complete.
    pub next: Option<String>,
}

/// The fate of one provider call of a multi-step write.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct WriteStep {
    /// e.g. `contact.create`, `contact.address.create`, `identifier.add`.
    pub step: String,
    /// The part of the request body the step wrote, e.g. `/addresses/1`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pointer: Option<String>,
    /// `succeeded` or `failed`.
    pub status: String,
    /// Why it failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The provider's status for a failed step.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub provider_status: Option<u16>,
}

/// What a write did.
#[derive(Clone, Debug, PartialEq)]
pub struct WriteOutcome {
    /// The contact as the provider now has it.
    pub contact: RemoteContact,
    /// Adapter-side warnings (validation warnings are added by the caller).
    pub warnings: Vec<Warning>,
    /// Steps of a multi-step write that failed after the record was created.
    pub failed_steps: Vec<WriteStep>,
}

impl WriteOutcome {
    /// A write that fully succeeded.
    pub fn complete(contact: RemoteContact) -> Self {
        Self {
            contact,
            warnings: Vec::new(),
            failed_steps: Vec::new(),
        }
    }
}

/// A provider call a write would make, for `?dryRun=true`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct PlannedCall {
    /// HTTP method.
    pub method: String,
    /// Path below the credential's base URL.
    pub path: String,
    /// JSON body, if any.
    #[schema(value_type = Option<Object>)]
    pub body: Option<serde_json::Value>,
    /// Why this call, when it is conditional.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// One provider, bound to one credential. Adapters live as `Arc<dyn CrmAdapter>` and are built
/// per credential by the registry. Inputs reaching the write methods have been through
/// [`crate::prepare_write`]: every value in them is one the provider stores, so an adapter
/// maps all of it and drops nothing.
#[async_trait]
pub trait CrmAdapter: Send + Sync + 'static {
    /// Which provider this is.
    fn provider(&self) -> ProviderKind;

    /// Field support and limits; the single source for validation and published schemas.
    fn declaration(&self) -> &ProviderDeclaration;

    /// Rules that span several fields (Bird's display name built from both names).
    fn check_write(&self, _op: Operation, _input: &ContactInput) -> Vec<FieldError> {
        Vec::new()
    }

    /// The calls a write would make, without making them.
    fn plan_write(
        &self,
        op: Operation,
        remote_id: Option<&RemoteId>,
        input: &ContactInput,
    ) -> Vec<PlannedCall>;

    /// Checks that the credential works (`?verify=true`, `POST /credentials/{id}/check`).
    async fn health_check(&self) -> Result<(), AdapterError>;

    /// Creates a contact.
    async fn create_contact(&self, input: &ContactInput) -> Result<WriteOutcome, AdapterError>;

    /// Reads one contact.
    async fn get_contact(&self, id: &RemoteId) -> Result<RemoteContact, AdapterError>;

    /// Lists one page of contacts.
    async fn list_contacts(&self, _req: ListRequest) -> Result<ListPage, AdapterError> {
        Err(AdapterError::unsupported(
            self.provider(),
            "listing contacts",
        ))
    }

    /// Changes only the fields present in `input`.
    async fn update_contact(
        &self,
        _id: &RemoteId,
        _input: &ContactInput,
    ) -> Result<WriteOutcome, AdapterError> {
        Err(AdapterError::unsupported(
            self.provider(),
            "updating contacts",
        ))
    }

    /// Deletes a contact.
    async fn delete_contact(&self, _id: &RemoteId) -> Result<(), AdapterError> {
        Err(AdapterError::unsupported(
            self.provider(),
            "deleting contacts",
        ))
    }
}
