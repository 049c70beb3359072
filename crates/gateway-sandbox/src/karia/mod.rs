//! The Karia contact API simulator (docs/providers/karia.md), mounted under `/karia`: organisation 1,
//! workspace 1, one API key (`KARIA_SANDBOX_KEY`), sequential int32 ids, soft deletes.

mod auth;
mod errors;
mod model;
mod routes;
mod seed;
mod store;

use std::sync::{Arc, Mutex};

use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Router;
use rand::rngs::StdRng;
use rand::{Rng as _, SeedableRng};
use serde_json::Value;

use crate::control::{self, Simulator};
use crate::faults::Operation;
use crate::state::{lock, SimCore, SimRng};
use crate::SandboxConfig;
use errors::KariaError;
use store::KariaStore;

/// Requests per second per route when rate limiting is switched on without a figure. Karia
/// documents no limit (docs/providers/karia.md); 10/s is a deliberately low, round guess.
const DEFAULT_RATE_LIMIT: u32 = 10;

/// Contacts generated and inserted per step of a seed call.
const SEED_CHUNK: usize = 10_000;

/// One simulated Karia workspace.
pub(crate) struct Karia {
    core: SimCore,
    store: Mutex<KariaStore>,
    rng: SimRng,
}

impl Karia {
    fn new(config: &SandboxConfig) -> Self {
        Self {
            core: SimCore::new(config.clock.clone(), config.rng_seed),
            store: Mutex::new(KariaStore::default()),
            rng: SimRng::new(config.rng_seed),
        }
    }
}

/// The Karia routes plus its `_sim` control routes, with state of their own.
pub(crate) fn router(config: &SandboxConfig) -> Router {
    let karia = Arc::new(Karia::new(config));
    routes::router(karia.clone())
        .merge(control::router(karia))
        .fallback(routes::unknown_route)
        .method_not_allowed_fallback(routes::unknown_route)
}

impl Simulator for Karia {
    const PREFIX: &'static str = "/karia";

    fn core(&self) -> &SimCore {
        &self.core
    }

    /// Faults answer the documented body for the status (docs/providers/karia.md), whatever the message.
    fn error_response(&self, status: StatusCode, _message: &str) -> Response {
        KariaError::status(status).into_response()
    }

    /// The contact routes; adding an address or a method updates the contact. Health and the
    /// organisation/workspace listings are no contact operation.
    fn operation(&self, method: &Method, template: &str) -> Option<Operation> {
        let rest =
            template.strip_prefix("/organisation/{orgId}/workspace/{workspaceId}/contact")?;
        Some(match (method.as_str(), rest) {
            ("GET", "") => Operation::List,
            ("POST", "") => Operation::Create,
            ("GET", "/{contactId}") => Operation::Get,
            ("PATCH" | "PUT", "/{contactId}")
            | ("POST", "/{contactId}/address" | "/{contactId}/method") => Operation::Update,
            ("DELETE", "/{contactId}") => Operation::Delete,
            _ => return None,
        })
    }

    fn default_rate_limit(&self, _method: &Method) -> u32 {
        DEFAULT_RATE_LIMIT
    }

    fn reset_store(&self) {
        lock(&self.store).clear();
    }

    fn seed(&self, count: usize, return_ids: bool) -> Vec<String> {
        // Reserve the numbers, build the batch without holding the store, then insert.
        let first_seq = {
            let mut store = lock(&self.store);
            let first = store.seed_seq;
            store.seed_seq = first.saturating_add(count as u64);
            first
        };
        let mut rng = self.rng.with(|r| StdRng::seed_from_u64(r.gen()));
        let now = self.core.clock.now_ms();
        // In chunks: the transient batch stays small (a million at once would leave its
        // memory behind in the allocator) and provider calls get the lock between chunks.
        let mut ids = Vec::new();
        let mut done = 0usize;
        while done < count {
            let n = SEED_CHUNK.min(count - done);
            let batch = seed::generate(&mut rng, first_seq.saturating_add(done as u64), n);
            let added = lock(&self.store).add_seeded(batch, now);
            if return_ids {
                ids.extend(added.iter().map(i32::to_string));
            }
            done += n;
        }
        ids
    }

    /// Soft delete, exactly like `DELETE …/contact/{contactId}` (crates/gateway-sandbox/README.md).
    fn delete_out_of_band(&self, remote_id: &str) -> bool {
        let now = self.core.clock.now_ms();
        let mut store = lock(&self.store);
        store
            .resolve(remote_id)
            .is_some_and(|id| store.soft_delete(id, now).is_ok())
    }

    /// The bare contact (no envelope), soft-deleted ones included.
    fn raw_contact(&self, remote_id: &str) -> Option<Value> {
        let store = lock(&self.store);
        let id = store.resolve(remote_id)?;
        store.get(id).map(model::Contact::render)
    }

    /// Live contacts (what the list shows).
    fn contact_count(&self) -> usize {
        lock(&self.store).live_len()
    }
}
