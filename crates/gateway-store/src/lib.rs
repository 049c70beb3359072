//! crm-gateway's persistence: tenants and API key hashes, credentials with encrypted secrets,
//! and the per-credential contact index, on SQLite or PostgreSQL through the same runtime
//! queries (no compile-time `query!`, which checks against one database only).

mod contact_index;
mod credentials;
mod crypto;
mod db;
mod error;
mod events;
mod idempotency;
mod intents;
mod keyring;
mod reconcile;
mod tenants;

pub use contact_index::{DetectedBy, IndexEntry, IndexOrigin, SeenContact, SeenOutcome};
pub use credentials::{CredentialPatch, CredentialRecord, Health, NewCredential};
pub use crypto::{decode_master_key, Cipher, Sealed, MASTER_KEY_VAR};
pub use db::{Backend, Store};
pub use error::{ParseEnumError, Result, StoreError};
pub use events::{Event, EventType};
pub use idempotency::{Claim, Claimant, StoredResponse};
pub use intents::{Intent, IntentState};
pub use keyring::{KeyProblem, ResealReport, SkippedSecret};
pub use reconcile::{
    ConfirmError, RunCounters, RunPhase, RunRecord, RunStatus, RunTrigger, ScheduleEntry,
};
pub use tenants::{ApiKeyInfo, IssuedKey, Tenant};
