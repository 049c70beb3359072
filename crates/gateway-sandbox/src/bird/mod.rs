//! The Bird workspace Contacts API simulator (docs/providers/bird.md), mounted under `/bird`: one
//! workspace (`BIRD_SANDBOX_WORKSPACE`), one access key (`BIRD_SANDBOX_KEY`), hard deletes.

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
use uuid::Uuid;

use crate::control::{self, Simulator};
use crate::faults::Operation;
use crate::state::{lock, SimCore, SimRng, TokenSigner};
use crate::SandboxConfig;
use errors::BirdError;
use store::BirdStore;

/// One simulated Bird workspace.
pub(crate) struct Bird {
    core: SimCore,
    store: Mutex<BirdStore>,
    rng: SimRng,
    tokens: TokenSigner,
    /// The `timezone` attribute the server shows on contacts (docs/providers/bird.md).
    timezone: String,
}

impl Bird {
    fn new(config: &SandboxConfig) -> Self {
        let rng = SimRng::new(config.rng_seed);
        let secret = rng.with(|r| r.gen::<u64>());
        Self {
            core: SimCore::new(config.clock.clone(), config.rng_seed),
            store: Mutex::new(BirdStore::default()),
            rng,
            tokens: TokenSigner::new(secret),
            timezone: config.bird_timezone.clone(),
        }
    }
}

/// The Bird routes plus its `_sim` control routes, with state of their own.
pub(crate) fn router(config: &SandboxConfig) -> Router {
    let bird = Arc::new(Bird::new(config));
    routes::router(bird.clone())
        .merge(control::router(bird))
        .fallback(routes::unknown_route)
        .method_not_allowed_fallback(routes::unknown_route)
}

impl Simulator for Bird {
    const PREFIX: &'static str = "/bird";

    fn core(&self) -> &SimCore {
        &self.core
    }

    fn error_response(&self, status: StatusCode, message: &str) -> Response {
        BirdError::new(status, message).into_response()
    }

    /// Contacts and their identifiers: reading one contact or its identifiers is a get,
    /// search and the collection are listings, identifier changes update the contact.
    fn operation(&self, method: &Method, template: &str) -> Option<Operation> {
        let rest = template.strip_prefix("/workspaces/{workspaceId}/contacts")?;
        Some(match (method.as_str(), rest) {
            ("GET", "") | ("POST", "/search") => Operation::List,
            ("POST", "") => Operation::Create,
            ("GET", "/{contactId}") | ("GET", "/{contactId}/identifiers") => Operation::Get,
            ("PATCH", "/{contactId}")
            | ("POST", "/{contactId}/identifiers")
            | ("DELETE", "/{contactId}/identifiers") => Operation::Update,
            ("DELETE", "/{contactId}") => Operation::Delete,
            _ => return None,
        })
    }

    /// The Channels API figures on the same host: GET 50/s, POST 500/s per workspace
    /// (docs/providers/bird.md, documented for Channels only). PATCH and DELETE take the POST figure.
    fn default_rate_limit(&self, method: &Method) -> u32 {
        if method == Method::GET {
            50
        } else {
            500
        }
    }

    fn reset_store(&self) {
        lock(&self.store).clear();
    }

    fn seed(&self, count: usize, return_ids: bool) -> Vec<String> {
        // Reserve the numbers, build the batch without holding the store (a million contacts
        // take seconds and provider calls must not wait that long), then insert.
        let first_seq = {
            let mut store = lock(&self.store);
            let first = store.seed_seq;
            store.seed_seq = first.saturating_add(count as u64);
            first
        };
        let mut rng = self.rng.with(|r| StdRng::seed_from_u64(r.gen()));
        let now = self.core.clock.now_ms();
        let batch = seed::generate(&mut rng, first_seq, count, now);
        let ids = if return_ids {
            batch.iter().map(|c| c.id.to_string()).collect()
        } else {
            Vec::new()
        };
        lock(&self.store).add_seeded(batch);
        ids
    }

    fn delete_out_of_band(&self, remote_id: &str) -> bool {
        Uuid::parse_str(remote_id).is_ok_and(|id| lock(&self.store).delete(&id))
    }

    fn raw_contact(&self, remote_id: &str) -> Option<Value> {
        let id = Uuid::parse_str(remote_id).ok()?;
        lock(&self.store)
            .get(&id)
            .map(|c| c.render(&[], &self.timezone))
    }

    fn contact_count(&self) -> usize {
        lock(&self.store).len()
    }
}
