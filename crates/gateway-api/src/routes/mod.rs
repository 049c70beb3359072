//! One module per resource, each exposing `router()`.

pub mod admin;
pub mod contacts;
pub mod credentials;
pub mod events;
pub mod health;
pub mod providers;
pub mod reconciliations;
mod recovery;
