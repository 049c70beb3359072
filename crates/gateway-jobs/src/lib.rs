//! Background jobs of crm-gateway. Today one: reconciliation of remote deletions
//! (`docs/reconciliation.md`) — the per-credential pass ([`Reconciler`]), the scheduler every
//! `serve` process runs with leases in the database ([`spawn`]), and the priority gate that
//! lets interactive API calls go first ([`gate`]).

pub mod config;
pub mod gate;
pub mod reconciler;
pub mod worker;

pub use config::ReconcileConfig;
pub use reconciler::{fingerprint, strategy, PassEnd, ProgressFn, Reconciler};
pub use worker::{owner_name, spawn, spawn_woken, summary, WorkerHandle};
