//! One reconciliation pass of one credential: stream every page of the provider's listing into
//! the index, then — only after the last page came back without error — take the live entries
//! the listing did not return since the run's T0 as candidates, apply the mass-deletion brake,
//! and confirm each candidate with a direct lookup before flagging it.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use chrono::Utc;
use gateway_adapters::Registry;
use gateway_core::{
    AdapterError, ContactId, CrmAdapter, DeletionSignal, ListRequest, Operation, RemoteContact,
};
use gateway_store::{
    CredentialRecord, DetectedBy, IndexEntry, IndexOrigin, Intent, RunCounters, RunPhase,
    RunRecord, RunStatus, SeenContact, Store, StoreError,
};
use sha2::{Digest, Sha256};

use crate::config::ReconcileConfig;
use crate::gate;

/// Candidates read from the index per query during confirmation.
const CANDIDATE_BATCH: u32 = 200;

/// While candidates are confirmed, the run's figures are saved (and the progress callback
/// called) at least this often and after at most `PROGRESS_EVERY_CANDIDATES` lookups, so
/// `GET …/reconciliations/{runId}` shows `flagged` growing rather than jumping at the end
/// of a batch.
const PROGRESS_EVERY: std::time::Duration = std::time::Duration::from_millis(500);
const PROGRESS_EVERY_CANDIDATES: u32 = 20;

/// How a pass ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PassEnd {
    /// Terminal: the run's final status, counters and message.
    Finished {
        /// `succeeded`, `failed` or `held`.
        status: RunStatus,
        /// Final counters.
        counters: RunCounters,
        /// Why it failed or was held.
        error: Option<String>,
    },
    /// The process lost (or gave up) the run without finishing it: it stays `running` with its
    /// saved position for whoever takes the lease next.
    Interrupted,
}

/// Errors that stop a pass without a verdict about the provider.
#[derive(Debug, thiserror::Error)]
pub enum PassError {
    /// The database failed.
    #[error("database: {0}")]
    Store(#[from] StoreError),
}

/// Live progress, for the CLI's progress bar.
pub type ProgressFn = dyn Fn(RunPhase, &RunCounters) + Send + Sync;

/// Runs passes; cheap to clone.
#[derive(Clone)]
pub struct Reconciler {
    store: Store,
    registry: Registry,
    config: Arc<ReconcileConfig>,
}

/// The fingerprint the API computes for the same contact (routes/contacts.rs): a SHA-256 of
/// the contact's JSON, so a reconciliation of unchanged contacts changes nothing in the index.
pub fn fingerprint(contact: &RemoteContact) -> String {
    let bytes = serde_json::to_vec(contact).unwrap_or_default();
    Sha256::digest(&bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn seen(contact: &RemoteContact) -> SeenContact {
    SeenContact {
        remote_id: contact.remote_id.clone(),
        remote_created_at: contact.remote_created_at,
        remote_updated_at: contact.remote_updated_at,
        remote_deleted_at: contact.remote_deleted_at,
        fingerprint: fingerprint(contact),
    }
}

/// The strategy a provider's declaration calls for.
pub fn strategy(deletion: DeletionSignal) -> &'static str {
    match deletion {
        DeletionSignal::Tombstone => "native",
        DeletionSignal::HardDelete => "diff",
    }
}

struct Pass<'a> {
    r: &'a Reconciler,
    run: &'a RunRecord,
    owner: &'a str,
    stop: &'a AtomicBool,
    progress: Option<&'a ProgressFn>,
    counters: RunCounters,
    strategy: &'static str,
    adapter: Arc<dyn CrmAdapter>,
    origin: IndexOrigin,
    /// Creates whose outcome is unknown, matched against every listed contact.
    intents: Vec<Intent>,
}

impl Reconciler {
    /// A reconciler on `store`, building adapters with `registry` (shared with the API so
    /// both use the same cached adapter per credential).
    pub fn new(store: Store, registry: Registry, config: Arc<ReconcileConfig>) -> Self {
        Self {
            store,
            registry,
            config,
        }
    }

    /// The configuration.
    pub fn config(&self) -> &ReconcileConfig {
        &self.config
    }

    /// The store.
    pub fn store(&self) -> &Store {
        &self.store
    }

    async fn adapter(&self, cred: &CredentialRecord) -> Result<Arc<dyn CrmAdapter>, String> {
        if let Some(adapter) = self.registry.cached(&cred.id, cred.updated_at) {
            return Ok(adapter);
        }
        let secret = self
            .store
            .credential_secret(&cred.tenant_id, &cred.id)
            .await
            .map_err(|e| format!("the credential's secret cannot be opened: {e}"))?;
        let adapter = self
            .registry
            .build_for(&cred.id, cred.provider, &cred.settings, secret)
            .map_err(|e| format!("the credential cannot be used: {}", e.message))?;
        self.registry
            .insert(&cred.id, cred.updated_at, adapter.clone());
        Ok(adapter)
    }

    /// Works on `run` (already `running` and owned by `owner`) until it ends or `stop` is set
    /// (lease lost, shutdown). Does not write the terminal status: the caller does, together
    /// with releasing the lease.
    pub async fn pass(
        &self,
        run: &RunRecord,
        owner: &str,
        stop: &AtomicBool,
        progress: Option<&ProgressFn>,
    ) -> Result<PassEnd, PassError> {
        let counters = run.counters;
        let fail = |msg: String| PassEnd::Finished {
            status: RunStatus::Failed,
            counters,
            error: Some(msg),
        };
        let Some(cred) = self
            .store
            .get_credential(&run.tenant_id, &run.credential_id)
            .await?
        else {
            return Ok(fail("the credential no longer exists".into()));
        };
        let adapter = match self.adapter(&cred).await {
            Ok(a) => a,
            Err(msg) => return Ok(fail(msg)),
        };
        let decl = adapter.declaration();
        if !decl.supports(Operation::List) {
            return Ok(fail(format!(
                "the {} adapter cannot list contacts, so only detection on use applies",
                cred.provider
            )));
        }
        let mut pass = Pass {
            r: self,
            run,
            owner,
            stop,
            progress,
            counters,
            strategy: strategy(decl.deletion),
            adapter: adapter.clone(),
            origin: IndexOrigin::Reconciliation(run.id.clone()),
            intents: Vec::new(),
        };
        // Every provider call of the pass spends the credential's rate budget behind the
        // tenants' own API calls (the resilience layer orders waiters by priority).
        gateway_adapters::with_priority(gateway_adapters::Priority::Background, pass.execute())
            .await
    }
}

/// What a step of the pass decided.
enum Step {
    Continue,
    End(PassEnd),
}

impl Pass<'_> {
    fn report(&self, phase: RunPhase) {
        if let Some(progress) = self.progress {
            progress(phase, &self.counters);
        }
    }

    fn finished(&self, status: RunStatus, error: Option<String>) -> PassEnd {
        PassEnd::Finished {
            status,
            counters: self.counters,
            error,
        }
    }

    async fn save(&self, phase: RunPhase, cursor: Option<&str>) -> Result<bool, PassError> {
        Ok(self
            .r
            .store
            .run_progress(
                &self.run.id,
                self.owner,
                phase,
                cursor,
                self.strategy,
                &self.counters,
            )
            .await?)
    }

    fn stopped(&self) -> bool {
        self.stop.load(Ordering::Acquire)
    }

    /// Waits for the priority gate before a provider call.
    async fn call_slot(&self) {
        let c = &self.r.config;
        gate::global()
            .background(
                self.run.credential_id.as_str(),
                c.max_pages_per_second,
                c.priority_max_wait,
            )
            .await;
    }

    async fn execute(&mut self) -> Result<PassEnd, PassError> {
        if self.run.phase == RunPhase::Listing {
            if let Step::End(end) = self.list().await? {
                return Ok(end);
            }
        }
        self.confirm().await
    }

    /// Streams every page into the index; the position is saved after each page.
    async fn list(&mut self) -> Result<Step, PassError> {
        let page_size = self.adapter.declaration().max_page_size;
        let mut cursor = self.run.cursor.clone();
        if !self.save(RunPhase::Listing, cursor.as_deref()).await? {
            return Ok(Step::End(PassEnd::Interrupted));
        }
        self.intents = self.r.store.intents_open(&self.run.credential_id).await?;
        let mut slice_pages = 0u64;
        loop {
            // Past its slice of pages the pass yields like a stopped one: its position is
            // saved, and another credential (of another tenant) gets the slot first.
            if self.stopped() || slice_pages >= self.r.config.max_pages_per_slice {
                return Ok(Step::End(PassEnd::Interrupted));
            }
            slice_pages += 1;
            self.call_slot().await;
            self.counters.provider_calls += 1;
            // The page is as of its request: a flag written while it was in flight stands.
            let fetched_at = Utc::now();
            let result = self
                .adapter
                .list_contacts(ListRequest {
                    page_size,
                    cursor: cursor.clone(),
                })
                .await;
            let page = match result {
                Ok(page) => page,
                Err(e) => {
                    // An incomplete listing proves nothing about what is missing: flag nothing.
                    let msg = format!(
                        "listing page {} failed, so nothing was flagged: {}",
                        self.counters.pages_fetched + 1,
                        describe(&e)
                    );
                    return Ok(Step::End(self.finished(RunStatus::Failed, Some(msg))));
                }
            };
            self.counters.pages_fetched += 1;
            self.counters.contacts_seen += page.contacts.len() as u64;
            let seen: Vec<SeenContact> = page.contacts.iter().map(seen).collect();
            let out = self
                .r
                .store
                .index_seen_with(
                    &self.run.tenant_id,
                    &self.run.credential_id,
                    &seen,
                    fetched_at,
                    &self.origin,
                )
                .await?;
            self.counters.discovered += out.discovered;
            self.counters.restored += out.restored;
            self.counters.flagged += out.flagged;
            if !self.intents.is_empty() {
                self.adopt(&page.contacts, &out.entries).await?;
            }
            cursor = page.next;
            if cursor.is_none() {
                // The listing is complete: an intent that had settled before it started and
                // matched nothing was never made.
                if let Some(t0) = self.run.started_at {
                    let absent = self
                        .r
                        .store
                        .intents_mark_absent(&self.run.credential_id, t0, Utc::now())
                        .await?;
                    if absent > 0 {
                        tracing::info!(credential = %self.run.credential_id, absent, "interrupted creates found never made");
                    }
                }
            }
            let phase = if cursor.is_none() {
                RunPhase::Confirming
            } else {
                RunPhase::Listing
            };
            if !self.save(phase, cursor.as_deref()).await? {
                return Ok(Step::End(PassEnd::Interrupted));
            }
            self.report(phase);
            if cursor.is_none() {
                return Ok(Step::Continue);
            }
        }
    }

    /// Gives each open intent the first listed contact that carries its identity and that no
    /// request created (the store refuses a contact someone already owns).
    async fn adopt(
        &mut self,
        contacts: &[RemoteContact],
        entries: &[IndexEntry],
    ) -> Result<(), PassError> {
        let salt = self.run.credential_id.as_str().to_owned();
        for (contact, entry) in contacts.iter().zip(entries) {
            let Some(at) = self
                .intents
                .iter()
                .position(|i| i.matcher.matches(&salt, contact))
            else {
                continue;
            };
            if self
                .r
                .store
                .intent_adopt(&self.intents[at], &entry.id, Utc::now())
                .await?
            {
                tracing::info!(credential = %self.run.credential_id, contact = %entry.id, "interrupted create found made");
                self.intents.remove(at);
            }
        }
        Ok(())
    }

    /// Brake, then confirm every candidate with a lookup.
    async fn confirm(&mut self) -> Result<PassEnd, PassError> {
        let Some(t0) = self.run.started_at else {
            return Ok(self.finished(RunStatus::Failed, Some("run has no start time".into())));
        };
        let tenant = &self.run.tenant_id;
        let cred = &self.run.credential_id;
        let (known, candidates) = self.r.store.index_live_and_unseen(tenant, cred, t0).await?;
        // An operator confirmed what the held pass showed; more vanishing since then is a new
        // decision to make, not one already made.
        let confirmed_for = self.run.counters.candidates;
        self.counters.known_contacts = known;
        self.counters.candidates = candidates;
        let c = &self.r.config;
        let braking =
            candidates > c.brake_min && (candidates as f64) > c.brake_fraction * (known as f64);
        if braking && (!self.run.confirmed || candidates > confirmed_for) {
            let msg = format!(
                "mass-deletion brake: {candidates} of {known} known contacts ({:.1}%) vanished in one pass \
                 (limit: more than {:.0}% and more than {}); nothing was flagged. If the deletions are real, \
                 confirm with POST /credentials/{cred}/reconciliations/{}/confirm",
                100.0 * candidates as f64 / known.max(1) as f64,
                100.0 * c.brake_fraction,
                c.brake_min,
                self.run.id
            );
            return Ok(self.finished(RunStatus::Held, Some(msg)));
        }
        if !self.save(RunPhase::Confirming, None).await? {
            return Ok(PassEnd::Interrupted);
        }
        let can_get = self.adapter.declaration().supports(Operation::Get);
        let mut after: Option<ContactId> = None;
        let mut last_error: Option<String> = None;
        let mut since_save: u32 = 0;
        let mut saved_at = std::time::Instant::now();
        loop {
            let batch = self
                .r
                .store
                .index_unseen_since(tenant, cred, t0, after.as_ref(), CANDIDATE_BATCH)
                .await?;
            let Some(last) = batch.last() else { break };
            after = Some(last.id.clone());
            for entry in batch {
                if self.stopped() {
                    return Ok(PassEnd::Interrupted);
                }
                if since_save >= PROGRESS_EVERY_CANDIDATES || saved_at.elapsed() >= PROGRESS_EVERY {
                    if !self.save(RunPhase::Confirming, None).await? {
                        return Ok(PassEnd::Interrupted);
                    }
                    self.report(RunPhase::Confirming);
                    since_save = 0;
                    saved_at = std::time::Instant::now();
                }
                since_save += 1;
                if !can_get {
                    // Nothing to confirm with: the complete listing is the evidence.
                    let (_, flipped) = self
                        .r
                        .store
                        .index_mark_deleted_with(
                            tenant,
                            cred,
                            &entry.id,
                            DetectedBy::Diff,
                            Utc::now(),
                            &self.origin,
                        )
                        .await?;
                    self.counters.flagged += u64::from(flipped);
                    continue;
                }
                self.call_slot().await;
                self.counters.provider_calls += 1;
                match self.adapter.get_contact(&entry.remote_id).await {
                    Err(e) if e.is_provider_not_found() => {
                        let marked = self
                            .r
                            .store
                            .index_mark_deleted_with(
                                tenant,
                                cred,
                                &entry.id,
                                DetectedBy::Diff,
                                Utc::now(),
                                &self.origin,
                            )
                            .await;
                        match marked {
                            Ok((_, flipped)) => self.counters.flagged += u64::from(flipped),
                            // Deleted through the API while this pass ran: nothing to flag.
                            Err(StoreError::NotFound) => {}
                            Err(other) => return Err(other.into()),
                        }
                    }
                    // Alive (the listing shifted under us) or carrying the provider's own
                    // tombstone: the index records what the lookup saw.
                    Ok(remote) => {
                        let out = self
                            .r
                            .store
                            .index_seen_with(
                                tenant,
                                cred,
                                &[seen(&remote)],
                                Utc::now(),
                                &self.origin,
                            )
                            .await?;
                        self.counters.flagged += out.flagged;
                        self.counters.restored += out.restored;
                    }
                    Err(e) => {
                        self.counters.confirm_errors += 1;
                        last_error = Some(describe(&e));
                    }
                }
            }
            if !self.save(RunPhase::Confirming, None).await? {
                return Ok(PassEnd::Interrupted);
            }
            self.report(RunPhase::Confirming);
            since_save = 0;
            saved_at = std::time::Instant::now();
        }
        self.report(RunPhase::Confirming);
        Ok(match last_error {
            None => self.finished(RunStatus::Succeeded, None),
            Some(e) => self.finished(
                RunStatus::Failed,
                Some(format!(
                    "{} confirmation lookup(s) failed and those contacts were left unflagged; last error: {e}",
                    self.counters.confirm_errors
                )),
            ),
        })
    }
}

fn describe(e: &AdapterError) -> String {
    match e.provider_status {
        Some(status) => format!("{} (provider status {status}): {}", e.kind, e.message),
        None => format!("{}: {}", e.kind, e.message),
    }
}
