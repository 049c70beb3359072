//! Provider adapters behind `gateway_core::CrmAdapter` (Bird now; Karia and iClosed later, as
//! sibling modules under `providers/`) and the registry that checks credential settings and
//! secrets, builds one adapter per credential and caches it until the credential changes.

mod providers;
mod registry;
pub mod resilience;

pub use providers::bird::{BirdAdapter, BirdSettings};
pub use providers::iclosed::{IclosedAdapter, IclosedSettings};
pub use providers::karia::{KariaAdapter, KariaConfig, KariaSettings};
pub use registry::{
    available_providers, base_url, declaration, validate_secret, validate_settings, AdaptersConfig,
    Registry,
};
pub use resilience::{
    with_priority, Priority, ProviderResilience, ResilienceConfig, ResilienceSettings,
    ResilientAdapter,
};
