//! The iClosed public API v1 simulator (docs/providers/iclosed.md), mounted under `/iclosed` (standing
//! for `https://public.api.iclosed.io`): one account, one key (`ICLOSED_SANDBOX_KEY`), integer
//! ids, soft deletes only through `_sim`, the V1 zod 400 shape, and iClosed's 429 body with
//! `Retry-After` when rate limiting is switched on.

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
use errors::IclosedError;
use store::IclosedStore;

/// 20 requests per second per endpoint per account (docs/providers/iclosed.md, Startup plan).
const DEFAULT_RATE_LIMIT: u32 = 20;

/// One simulated iClosed account.
pub(crate) struct Iclosed {
    core: SimCore,
    store: Mutex<IclosedStore>,
    rng: SimRng,
}

impl Iclosed {
    fn new(config: &SandboxConfig) -> Self {
        Self {
            core: SimCore::new(config.clock.clone(), config.rng_seed),
            store: Mutex::new(IclosedStore::default()),
            rng: SimRng::new(config.rng_seed),
        }
    }

    /// The active rate limit (`limit.points` of the 429 body).
    fn rate_limit_points(&self) -> u32 {
        lock(&self.core.faults).to_json()["rateLimit"]["perSecond"]
            .as_u64()
            .and_then(|n| u32::try_from(n).ok())
            .unwrap_or(DEFAULT_RATE_LIMIT)
    }

    /// Whole seconds until the current one-second window ends (always at least 1).
    fn retry_after_secs(&self) -> u64 {
        let into_window = self.core.clock.raw_ms().rem_euclid(1000);
        u64::try_from((1000 - into_window + 999) / 1000)
            .unwrap_or(1)
            .max(1)
    }
}

/// The iClosed routes plus its `_sim` control routes, with state of their own.
pub(crate) fn router(config: &SandboxConfig) -> Router {
    let ic = Arc::new(Iclosed::new(config));
    routes::router(ic.clone())
        .merge(control::router(ic))
        .fallback(routes::unknown_route)
        .method_not_allowed_fallback(routes::unknown_route)
}

/// Contact ids are positive integers; anything else is unknown.
fn parse_id(remote_id: &str) -> Option<u64> {
    remote_id.parse::<u64>().ok().filter(|id| *id >= 1)
}

impl Simulator for Iclosed {
    const PREFIX: &'static str = "/iclosed";

    fn core(&self) -> &SimCore {
        &self.core
    }

    /// 429 → the documented `RATE_LIMIT_EXCEEDED` body and `Retry-After`; any other status →
    /// `{"message": "<reason phrase>", "code": "<REASON_PHRASE>"}`.
    fn error_response(&self, status: StatusCode, _message: &str) -> Response {
        IclosedError::for_status(status, self.rate_limit_points(), self.retry_after_secs())
            .into_response()
    }

    /// iClosed has no delete: `PUT /v1/contacts` updates, `GET /v1/contacts/detail` reads one.
    fn operation(&self, method: &Method, template: &str) -> Option<Operation> {
        Some(match (method.as_str(), template) {
            ("GET", "/v1/contacts") => Operation::List,
            ("POST", "/v1/contacts") => Operation::Create,
            ("PUT", "/v1/contacts") => Operation::Update,
            ("GET", "/v1/contacts/detail") => Operation::Get,
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
        let batch = seed::generate(&mut rng, first_seq, count);
        let mut store = lock(&self.store);
        let now = self.core.clock.now_ms();
        let ids = store.add_seeded(batch, now);
        if return_ids {
            ids.map(|id| id.to_string()).collect()
        } else {
            Vec::new()
        }
    }

    /// Soft delete: `deletedAt` is set, detail still answers, lists leave it out.
    fn delete_out_of_band(&self, remote_id: &str) -> bool {
        let Some(id) = parse_id(remote_id) else {
            return false;
        };
        let mut store = lock(&self.store);
        let now = self.core.clock.now_ms();
        store.soft_delete(id, now)
    }

    fn raw_contact(&self, remote_id: &str) -> Option<Value> {
        let id = parse_id(remote_id)?;
        lock(&self.store).get(id).map(model::Contact::render)
    }

    /// Live contacts (soft-deleted ones are not counted).
    fn contact_count(&self) -> usize {
        lock(&self.store).live_count()
    }
}
