//! `[reconcile]` in the configuration.

use std::time::Duration;

use serde::Deserialize;

/// Settings of the reconciler and its scheduler (`[reconcile]` in `config/default.toml`).
#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ReconcileConfig {
    /// Reconcile every credential periodically. When off, runs still happen when asked for
    /// (`POST /credentials/{id}/reconciliations`, `crm-gateway reconcile`).
    pub enabled: bool,
    /// Time from the end of one run of a credential to the start of its next.
    #[serde(with = "humantime_serde")]
    pub interval: Duration,
    /// Random spread added to (or taken from) each `interval`, and the spread of first runs,
    /// so credentials do not all run at once.
    #[serde(with = "humantime_serde")]
    pub jitter: Duration,
    /// How long a process's claim on a credential lasts without a heartbeat; after that another
    /// process takes the run over and resumes it from its last saved page.
    #[serde(with = "humantime_serde")]
    pub lease_ttl: Duration,
    /// How often a running run renews its lease (well below `lease_ttl`).
    #[serde(with = "humantime_serde")]
    pub heartbeat: Duration,
    /// How often each process looks for due credentials.
    #[serde(with = "humantime_serde")]
    pub tick: Duration,
    /// Mass-deletion brake: a run whose vanished contacts are more than this share of the
    /// credential's known live contacts…
    pub brake_fraction: f64,
    /// …and more than this many, is `held` and flags nothing until an operator confirms it.
    pub brake_min: u64,
    /// Pace of reconciliation calls (listing pages and confirmation lookups) per credential;
    /// 0 means unpaced.
    pub max_pages_per_second: f64,
    /// Runs one process works on at the same time.
    pub max_concurrent_runs: usize,
    /// Longest a reconciliation call waits for the credential's interactive API calls to
    /// finish before it goes ahead anyway (so a busy credential is still reconciled).
    #[serde(with = "humantime_serde")]
    pub priority_max_wait: Duration,
    /// Longest one pass holds a run slot: past it the pass stops at its next page, keeps its
    /// saved position, and gives the slot back (the run resumes at a later tick).
    #[serde(with = "humantime_serde")]
    pub max_slice: Duration,
    /// Most provider pages one pass lists before it gives its slot back in the same way.
    pub max_pages_per_slice: u64,
}

impl Default for ReconcileConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            interval: Duration::from_secs(600),
            jitter: Duration::from_secs(60),
            lease_ttl: Duration::from_secs(60),
            heartbeat: Duration::from_secs(15),
            tick: Duration::from_secs(5),
            brake_fraction: 0.2,
            brake_min: 10,
            max_pages_per_second: 10.0,
            max_concurrent_runs: 4,
            priority_max_wait: Duration::from_secs(5),
            max_slice: Duration::from_secs(300),
            max_pages_per_slice: 2_000,
        }
    }
}

impl ReconcileConfig {
    /// Refuses settings that cannot work.
    pub fn validate(&self) -> Result<(), String> {
        if !(0.0..=1.0).contains(&self.brake_fraction) {
            return Err("reconcile.brake_fraction must be between 0 and 1".into());
        }
        if self.max_pages_per_second < 0.0 || !self.max_pages_per_second.is_finite() {
            return Err("reconcile.max_pages_per_second must be 0 (unpaced) or more".into());
        }
        if self.max_concurrent_runs == 0 {
            return Err("reconcile.max_concurrent_runs must be at least 1".into());
        }
        if self.heartbeat.is_zero() || self.heartbeat >= self.lease_ttl {
            return Err("reconcile.heartbeat must be above 0 and below reconcile.lease_ttl".into());
        }
        if self.tick.is_zero() || self.interval.is_zero() {
            return Err("reconcile.tick and reconcile.interval must be above 0".into());
        }
        Ok(())
    }
}
