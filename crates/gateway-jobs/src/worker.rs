//! The scheduler each `serve` (and `demo`) process runs: every `tick` it gives new credentials
//! a schedule, finds due ones, claims each with a lease in the database (one conditional
//! UPDATE, so of several processes exactly one wins), and runs the pass under a heartbeat.
//! A process that dies leaves its lease to expire; the next claimant resumes the run from its
//! last saved page with the same T0.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use chrono::{DateTime, Utc};
use gateway_core::{CredentialId, TenantId};
use gateway_store::{RunCounters, RunRecord, RunStatus, RunTrigger, ScheduleEntry, Store};
use rand::Rng;
use tokio::sync::watch;
use tokio::task::JoinSet;

use crate::reconciler::{PassEnd, ProgressFn, Reconciler};

/// A name for this process in lease and run rows: host, pid and a random part.
pub fn owner_name() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_owned())
        .unwrap_or_else(|_| "host".into());
    let random = uuid::Uuid::new_v4().simple().to_string();
    format!("{host}:{}:{}", std::process::id(), &random[..8])
}

fn chrono_dur(d: Duration) -> chrono::Duration {
    chrono::Duration::from_std(d).unwrap_or(chrono::Duration::MAX)
}

/// A uniformly random offset in `[-spread, +spread]`.
fn jitter(spread: Duration) -> chrono::Duration {
    if spread.is_zero() {
        return chrono::Duration::zero();
    }
    let ms = i64::try_from(spread.as_millis()).unwrap_or(i64::MAX / 2);
    chrono::Duration::milliseconds(rand::thread_rng().gen_range(-ms..=ms))
}

impl Reconciler {
    /// When the credential's next periodic run is due after a run ended now; `None` when
    /// periodic reconciliation is off.
    pub fn next_run_at(&self, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let c = self.config();
        c.enabled
            .then(|| now + chrono_dur(c.interval) + jitter(c.jitter))
    }

    /// Runs the credential's current (or a new) run under a lease `owner` already holds:
    /// heartbeat, pass, then the terminal status and lease release in one transaction.
    /// Answers the run as it ended, or `None` when it was interrupted (lease lost, `stop`).
    pub async fn run_leased(
        &self,
        entry_tenant: &gateway_core::TenantId,
        cred: &CredentialId,
        owner: &str,
        trigger: RunTrigger,
        stop: Arc<AtomicBool>,
        progress: Option<&ProgressFn>,
    ) -> Result<Option<RunRecord>, gateway_store::StoreError> {
        let store = self.store().clone();
        let run = store
            .run_take(entry_tenant, cred, owner, trigger, Utc::now())
            .await?;
        tracing::info!(credential = %cred, run = %run.id, resumed = run.counters.pages_fetched > 0 || run.confirmed, "reconciliation started");
        // Heartbeat: renews the lease; losing it stops the pass at the next page.
        let lost = Arc::new(AtomicBool::new(false));
        let beat = {
            let (store, cred, owner) = (store.clone(), cred.clone(), owner.to_owned());
            let (lost, stop) = (lost.clone(), stop.clone());
            let (every, ttl) = (self.config().heartbeat, self.config().lease_ttl);
            tokio::spawn(async move {
                loop {
                    tokio::time::sleep(every).await;
                    match store
                        .schedule_renew(&cred, &owner, Utc::now() + chrono_dur(ttl))
                        .await
                    {
                        Ok(true) => {}
                        Ok(false) => {
                            tracing::warn!(credential = %cred, "reconciliation lease lost; stopping");
                            lost.store(true, Ordering::Release);
                            stop.store(true, Ordering::Release);
                            return;
                        }
                        Err(e) => {
                            tracing::warn!(credential = %cred, error = %e, "lease heartbeat failed")
                        }
                    }
                }
            })
        };
        let result = self.pass(&run, owner, &stop, progress).await;
        beat.abort();
        let (status, counters, error) = match result {
            Ok(PassEnd::Finished {
                status,
                counters,
                error,
            }) => (status, counters, error),
            Ok(PassEnd::Interrupted) => {
                if !lost.load(Ordering::Acquire) {
                    // Shutdown: hand the run over at once instead of after the lease expires.
                    let _ = store.schedule_release(cred, owner).await;
                }
                tracing::info!(credential = %cred, run = %run.id, "reconciliation interrupted; its saved position stays for the next owner");
                return Ok(None);
            }
            Err(e) => {
                tracing::error!(credential = %cred, run = %run.id, error = %e, "reconciliation stopped by a database error");
                (
                    RunStatus::Failed,
                    run.counters,
                    Some(format!("internal error: {e}")),
                )
            }
        };
        let done = store
            .run_finish(
                &run.id,
                cred,
                owner,
                status,
                &counters,
                error.as_deref(),
                self.next_run_at(Utc::now()),
            )
            .await?;
        if !done {
            return Ok(None);
        }
        let ended = store.run_by_id(&run.id).await?;
        if let Some(r) = &ended {
            metrics::counter!("reconciliation_runs_total", "status" => r.status.as_str())
                .increment(1);
            metrics::counter!("reconciliation_pages_total").increment(r.counters.pages_fetched);
            metrics::counter!("reconciliation_flagged_total").increment(r.counters.flagged);
            tracing::info!(
                credential = %cred, run = %r.id, status = %r.status,
                pages = r.counters.pages_fetched, seen = r.counters.contacts_seen,
                flagged = r.counters.flagged, restored = r.counters.restored,
                discovered = r.counters.discovered, candidates = r.counters.candidates,
                error = r.error.as_deref().unwrap_or(""),
                "reconciliation finished"
            );
        }
        Ok(ended)
    }
}

/// A running scheduler; stop it with [`WorkerHandle::shutdown`].
pub struct WorkerHandle {
    stop: watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

impl WorkerHandle {
    /// Stops claiming, asks running passes to stop at their next page (their runs stay
    /// resumable and their leases are released), and waits up to `grace`.
    pub async fn shutdown(self, grace: Duration) {
        let _ = self.stop.send(true);
        let mut task = self.task;
        if tokio::time::timeout(grace, &mut task).await.is_err() {
            task.abort();
        }
    }
}

/// Starts the scheduler loop of this process.
pub fn spawn(reconciler: Reconciler) -> WorkerHandle {
    spawn_woken(reconciler, Arc::default())
}

/// Starts the scheduler loop, which also looks for due runs as soon as `requested` is
/// notified: a run asked for in this process (a recovery of an interrupted create, an API
/// request) starts at once instead of at the next tick.
pub fn spawn_woken(reconciler: Reconciler, requested: Arc<tokio::sync::Notify>) -> WorkerHandle {
    let (stop_tx, stop_rx) = watch::channel(false);
    let task = tokio::spawn(worker_loop(reconciler, stop_rx, requested));
    WorkerHandle {
        stop: stop_tx,
        task,
    }
}

async fn worker_loop(
    reconciler: Reconciler,
    mut stop_rx: watch::Receiver<bool>,
    requested: Arc<tokio::sync::Notify>,
) {
    let owner = owner_name();
    let store: Store = reconciler.store().clone();
    let config = reconciler.config().clone();
    let running: Arc<Mutex<Slots>> = Arc::default();
    let stop_flag = Arc::new(AtomicBool::new(false));
    // A finished run wakes the loop at once, so a free slot is used without waiting a tick.
    let wake = Arc::new(tokio::sync::Notify::new());
    let mut tasks = JoinSet::new();
    tracing::info!(owner = %owner, periodic = config.enabled, interval = ?config.interval, "reconciliation scheduler started");
    loop {
        while tasks.try_join_next().is_some() {}
        let busy = match tick(
            &reconciler,
            &store,
            &owner,
            &running,
            &stop_flag,
            &wake,
            &mut tasks,
        )
        .await
        {
            Ok(busy) => busy,
            Err(e) => {
                tracing::warn!(error = %e, "reconciliation scheduler tick failed");
                false
            }
        };
        // Every slot taken while more were due: look again as soon as a run ends.
        tokio::select! {
            _ = tokio::time::sleep(config.tick) => {}
            _ = wake.notified(), if busy => {}
            _ = requested.notified() => {}
            _ = stop_rx.changed() => break,
        }
    }
    stop_flag.store(true, Ordering::Release);
    while tasks.join_next().await.is_some() {}
    tracing::info!("reconciliation scheduler stopped");
}

/// The runs this process works on, and when each tenant was last given a slot.
#[derive(Default)]
struct Slots {
    active: HashMap<CredentialId, TenantId>,
    /// Tenant → the turn (a counter) at which it last got a slot.
    served: HashMap<TenantId, u64>,
    turn: u64,
}

impl Slots {
    fn start(&mut self, entry: &ScheduleEntry) {
        self.turn += 1;
        if self.served.len() >= 4096 {
            // Forget the longest-served half: they sort first again, which is fair too.
            let mut turns: Vec<u64> = self.served.values().copied().collect();
            turns.sort_unstable();
            let cut = turns[turns.len() / 2];
            self.served.retain(|_, t| *t > cut);
        }
        self.served.insert(entry.tenant_id.clone(), self.turn);
        self.active
            .insert(entry.credential_id.clone(), entry.tenant_id.clone());
    }
}

/// Orders due credentials so that every tenant gets a fair share of the run slots: round
/// robin over tenants — those with the fewest runs in this process first, then those served
/// longest ago (so a pass that yields its slice goes behind the others) — each tenant's own
/// credentials in due order. One tenant with many credentials, or passes that never end, can
/// then hold at most its share while others wait.
fn fair_order(due: Vec<ScheduleEntry>, slots: &Slots) -> Vec<ScheduleEntry> {
    let mut by_tenant: Vec<(TenantId, VecDeque<ScheduleEntry>)> = Vec::new();
    for entry in due {
        match by_tenant.iter_mut().find(|(t, _)| *t == entry.tenant_id) {
            Some((_, queue)) => queue.push_back(entry),
            None => by_tenant.push((entry.tenant_id.clone(), [entry].into())),
        }
    }
    let held = |t: &TenantId| slots.active.values().filter(|r| *r == t).count();
    by_tenant.sort_by_key(|(t, _)| (held(t), slots.served.get(t).copied().unwrap_or(0)));
    let mut out = Vec::new();
    while by_tenant.iter().any(|(_, q)| !q.is_empty()) {
        for (_, queue) in &mut by_tenant {
            if let Some(entry) = queue.pop_front() {
                out.push(entry);
            }
        }
    }
    out
}

async fn tick(
    reconciler: &Reconciler,
    store: &Store,
    owner: &str,
    running: &Arc<Mutex<Slots>>,
    stop_flag: &Arc<AtomicBool>,
    wake: &Arc<tokio::sync::Notify>,
    tasks: &mut JoinSet<()>,
) -> Result<bool, gateway_store::StoreError> {
    let config = reconciler.config();
    if config.enabled {
        let spread = config.jitter;
        store
            .schedule_missing(1000, || {
                let ms = i64::try_from(spread.as_millis()).unwrap_or(0);
                let offset = if ms > 0 {
                    rand::thread_rng().gen_range(0..=ms)
                } else {
                    0
                };
                Utc::now() + chrono::Duration::milliseconds(offset)
            })
            .await?;
    }
    let busy = running
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .active
        .len();
    let free = config.max_concurrent_runs.saturating_sub(busy);
    if free == 0 {
        return Ok(true);
    }
    let now = Utc::now();
    // Look further than the free slots: the due list may start with one tenant's credentials.
    let due = store
        .schedule_due(now, u32::try_from(free * 8 + 8).unwrap_or(u32::MAX))
        .await?;
    let fetched = due.len();
    let due = fair_order(due, &running.lock().unwrap_or_else(PoisonError::into_inner));
    let mut started = 0;
    for entry in due {
        if started >= free {
            break;
        }
        if running
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .active
            .contains_key(&entry.credential_id)
        {
            continue;
        }
        let until = now + chrono_dur(config.lease_ttl);
        if !store
            .schedule_claim(&entry.credential_id, owner, now, until, true)
            .await?
        {
            continue;
        }
        started += 1;
        running
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .start(&entry);
        let (r, owner, running, stop, wake) = (
            reconciler.clone(),
            owner.to_owned(),
            running.clone(),
            stop_flag.clone(),
            wake.clone(),
        );
        tasks.spawn(async move {
            let cred = entry.credential_id.clone();
            // Each pass has its own stop flag (a lost lease stops only that pass), raised too
            // when the whole worker stops.
            let pass_stop = Arc::new(AtomicBool::new(false));
            let slice = r.config().max_slice;
            let watcher = {
                let (pass_stop, stop) = (pass_stop.clone(), stop.clone());
                tokio::spawn(async move {
                    // Past its slice the pass yields its slot (its run stays resumable).
                    let end = tokio::time::Instant::now() + slice;
                    while !stop.load(Ordering::Acquire) && tokio::time::Instant::now() < end {
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                    pass_stop.store(true, Ordering::Release);
                })
            };
            let result = r
                .run_leased(
                    &entry.tenant_id,
                    &cred,
                    &owner,
                    RunTrigger::Schedule,
                    pass_stop,
                    None,
                )
                .await;
            watcher.abort();
            if let Err(e) = result {
                tracing::warn!(credential = %cred, error = %e, "reconciliation could not run");
                let _ = r.store().schedule_release(&cred, &owner).await;
            }
            running
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .active
                .remove(&cred);
            wake.notify_one();
        });
    }
    Ok(started >= free && fetched > 0)
}

/// Counters of a run for callers that print them.
pub fn summary(run: &RunRecord) -> serde_json::Value {
    let c: &RunCounters = &run.counters;
    let duration_ms = match (run.started_at, run.finished_at) {
        (Some(s), Some(f)) => Some((f - s).num_milliseconds()),
        _ => None,
    };
    serde_json::json!({
        "id": run.id, "credentialId": run.credential_id, "status": run.status,
        "trigger": run.trigger, "strategy": run.strategy,
        "pagesFetched": c.pages_fetched, "contactsSeen": c.contacts_seen,
        "providerCalls": c.provider_calls, "discovered": c.discovered, "flagged": c.flagged,
        "restored": c.restored, "candidates": c.candidates, "knownContacts": c.known_contacts,
        "confirmErrors": c.confirm_errors, "durationMs": duration_ms,
        "startedAt": run.started_at, "finishedAt": run.finished_at, "error": run.error,
    })
}

#[cfg(test)]
mod fairness_tests {
    use super::*;

    fn entry(tenant: u32, cred: u32) -> ScheduleEntry {
        ScheduleEntry {
            credential_id: CredentialId::parse(&format!("cred_{cred:032x}")).expect("id"),
            tenant_id: TenantId::parse(&format!("ten_{tenant:032x}")).expect("id"),
        }
    }

    #[test]
    fn every_tenant_gets_a_turn_before_one_gets_a_second() {
        // Tenant 1 has eight credentials due before tenant 2's and 3's first.
        let mut due: Vec<ScheduleEntry> = (0..8).map(|c| entry(1, c)).collect();
        due.push(entry(2, 100));
        due.push(entry(3, 200));
        due.push(entry(2, 101));
        let order: Vec<u32> = fair_order(due, &Slots::default())
            .iter()
            .map(|e| u32::from_str_radix(&e.credential_id.as_str()[5..], 16).expect("hex"))
            .collect();
        assert_eq!(&order[..5], &[0, 100, 200, 1, 101]);
        // A tenant already holding runs in this process goes after those holding none.
        let mut slots = Slots::default();
        slots.start(&entry(1, 50));
        let first = &fair_order(vec![entry(1, 0), entry(2, 100)], &slots)[0];
        assert_eq!(first.tenant_id, entry(2, 0).tenant_id);
        // Served just now (its pass yielded a slice): behind a tenant served earlier.
        slots.active.clear();
        slots.start(&entry(2, 100));
        slots.active.clear();
        let first = &fair_order(vec![entry(2, 100), entry(1, 0)], &slots)[0];
        assert_eq!(first.tenant_id, entry(1, 0).tenant_id);
    }
}
