//! The provider-independent heart of crm-gateway: typed ids, the common contact model,
//! per-provider declarations, write validation and the `CrmAdapter` trait. No IO lives here.
#![warn(missing_docs)]

pub mod adapter;
pub mod country;
pub mod declare;
pub mod error;
pub mod ids;
pub mod model;
pub mod recover;
pub mod validate;

pub use adapter::{
    CrmAdapter, ListPage, ListRequest, Operation, PlannedCall, WriteOutcome, WriteStep,
};
pub use declare::{
    DeletionSignal, FieldSpec, Format, Normalize, Operations, ProviderDeclaration, Support,
    ValueKind,
};
pub use error::{one_line, AdapterError, ErrorKind, FieldError};
pub use ids::{
    ApiKeyId, ContactId, CredentialId, EventId, ProviderKind, RemoteId, RunId, TenantId,
};
pub use model::{
    Address, Contact, ContactInput, EmailAddress, PhoneNumber, RemoteContact, RemoteFields, Warning,
};
pub use recover::CreateMatch;
pub use validate::{prepare_write, PreparedWrite, ValidationFailure, WriteMode};
