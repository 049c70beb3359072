//! Reconciliation runs and the per-credential schedule with its lease (the background job that
//! finds contacts deleted in the remote CRM). Every claim is a conditional UPDATE that succeeds
//! for one process only, on SQLite and on PostgreSQL alike; a run's listing position is saved
//! after every page so whoever takes an expired lease over resumes it.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use gateway_core::{CredentialId, RunId, TenantId};
use serde::Serialize;

use crate::db::{from_ms, now, opt_from_ms, to_ms, truncate_ms, with_pool, BeginWrite, Store};
use crate::error::{classify, corrupt, ParseEnumError, Result, StoreError};

/// Where a run is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RunStatus {
    /// Asked for; waiting for a process to take it.
    Queued,
    /// A process is working on it.
    Running,
    /// Finished: every page listed, every candidate confirmed or left alone.
    Succeeded,
    /// Stopped by an error; nothing was flagged from an incomplete listing.
    Failed,
    /// Stopped by the mass-deletion brake: nothing flagged until an operator confirms.
    Held,
}

impl RunStatus {
    /// The stored and serialised name.
    pub fn as_str(self) -> &'static str {
        match self {
            RunStatus::Queued => "queued",
            RunStatus::Running => "running",
            RunStatus::Succeeded => "succeeded",
            RunStatus::Failed => "failed",
            RunStatus::Held => "held",
        }
    }

    /// Whether the run is over (succeeded, failed or held).
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            RunStatus::Succeeded | RunStatus::Failed | RunStatus::Held
        )
    }
}

/// Why a run exists.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RunTrigger {
    /// The periodic schedule.
    Schedule,
    /// `POST /credentials/{id}/reconciliations` (or a confirmation).
    Api,
    /// `crm-gateway reconcile --credential ID`.
    Cli,
    /// A retried create whose first attempt's outcome is unknown (docs/operations.md, "Writes
    /// whose outcome is unknown").
    Recovery,
}

impl RunTrigger {
    /// The stored and serialised name.
    pub fn as_str(self) -> &'static str {
        match self {
            RunTrigger::Schedule => "schedule",
            RunTrigger::Api => "api",
            RunTrigger::Cli => "cli",
            RunTrigger::Recovery => "recovery",
        }
    }
}

/// What a running run is doing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RunPhase {
    /// Paging through the provider's listing.
    Listing,
    /// Listing complete; confirming the candidates one by one.
    Confirming,
}

impl RunPhase {
    /// The stored and serialised name.
    pub fn as_str(self) -> &'static str {
        match self {
            RunPhase::Listing => "listing",
            RunPhase::Confirming => "confirming",
        }
    }
}

macro_rules! from_str_enum {
    ($t:ty, $kind:literal, [$($v:expr),* $(,)?]) => {
        impl FromStr for $t {
            type Err = ParseEnumError;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                $(if s == $v.as_str() { return Ok($v); })*
                Err(ParseEnumError { kind: $kind, value: s.to_owned() })
            }
        }
        impl fmt::Display for $t {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

from_str_enum!(
    RunStatus,
    "run status",
    [
        RunStatus::Queued,
        RunStatus::Running,
        RunStatus::Succeeded,
        RunStatus::Failed,
        RunStatus::Held
    ]
);
from_str_enum!(
    RunTrigger,
    "run trigger",
    [
        RunTrigger::Schedule,
        RunTrigger::Api,
        RunTrigger::Cli,
        RunTrigger::Recovery,
    ]
);
from_str_enum!(
    RunPhase,
    "run phase",
    [RunPhase::Listing, RunPhase::Confirming]
);

/// A run's live progress.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RunCounters {
    /// Listing pages fetched.
    pub pages_fetched: u64,
    /// Contacts the listing returned.
    pub contacts_seen: u64,
    /// Provider calls made (list pages and confirmation lookups).
    pub provider_calls: u64,
    /// Contacts new to the index.
    pub discovered: u64,
    /// Contacts flagged `remoteDeleted` by this run.
    pub flagged: u64,
    /// Contacts flagged before and seen alive again.
    pub restored: u64,
    /// Live index entries the complete listing did not contain.
    pub candidates: u64,
    /// Live index entries when the listing ended (the brake's base).
    pub known_contacts: u64,
    /// Confirmation lookups that failed (their contacts were left unflagged).
    pub confirm_errors: u64,
}

/// One reconciliation run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunRecord {
    /// The run's id.
    pub id: RunId,
    /// The owning tenant.
    pub tenant_id: TenantId,
    /// The credential reconciled.
    pub credential_id: CredentialId,
    /// Where it is.
    pub status: RunStatus,
    /// Why it exists.
    pub trigger: RunTrigger,
    /// `diff` or `native`, once started.
    pub strategy: Option<String>,
    /// Listing or confirming.
    pub phase: RunPhase,
    /// The adapter's position in the listing (resume point).
    pub cursor: Option<String>,
    /// An operator confirmed it after the brake held it.
    pub confirmed: bool,
    /// The process working on it.
    pub owner: Option<String>,
    /// Progress.
    pub counters: RunCounters,
    /// Why it failed or was held.
    pub error: Option<String>,
    /// When it was asked for.
    pub created_at: DateTime<Utc>,
    /// T0: when its listing started.
    pub started_at: Option<DateTime<Utc>>,
    /// When it ended.
    pub finished_at: Option<DateTime<Utc>>,
    /// Last progress.
    pub updated_at: DateTime<Utc>,
}

const RUN_COLUMNS: &str = "id, tenant_id, credential_id, status, trigger, strategy, phase, cursor, \
    confirmed, owner, pages_fetched, contacts_seen, provider_calls, discovered, flagged, restored, \
    candidates, known_contacts, confirm_errors, error, created_at, started_at, finished_at, updated_at";

#[derive(sqlx::FromRow)]
struct RunRow {
    id: String,
    tenant_id: String,
    credential_id: String,
    status: String,
    trigger: String,
    strategy: Option<String>,
    phase: String,
    cursor: Option<String>,
    confirmed: bool,
    owner: Option<String>,
    pages_fetched: i64,
    contacts_seen: i64,
    provider_calls: i64,
    discovered: i64,
    flagged: i64,
    restored: i64,
    candidates: i64,
    known_contacts: i64,
    confirm_errors: i64,
    error: Option<String>,
    created_at: i64,
    started_at: Option<i64>,
    finished_at: Option<i64>,
    updated_at: i64,
}

fn count(n: i64) -> u64 {
    u64::try_from(n).unwrap_or(0)
}

fn signed(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

impl TryFrom<RunRow> for RunRecord {
    type Error = StoreError;
    fn try_from(r: RunRow) -> Result<Self> {
        Ok(RunRecord {
            id: RunId::parse(&r.id).map_err(corrupt)?,
            tenant_id: TenantId::parse(&r.tenant_id).map_err(corrupt)?,
            credential_id: CredentialId::parse(&r.credential_id).map_err(corrupt)?,
            status: r.status.parse().map_err(corrupt)?,
            trigger: r.trigger.parse().map_err(corrupt)?,
            strategy: r.strategy,
            phase: r.phase.parse().map_err(corrupt)?,
            cursor: r.cursor,
            confirmed: r.confirmed,
            owner: r.owner,
            counters: RunCounters {
                pages_fetched: count(r.pages_fetched),
                contacts_seen: count(r.contacts_seen),
                provider_calls: count(r.provider_calls),
                discovered: count(r.discovered),
                flagged: count(r.flagged),
                restored: count(r.restored),
                candidates: count(r.candidates),
                known_contacts: count(r.known_contacts),
                confirm_errors: count(r.confirm_errors),
            },
            error: r.error,
            created_at: from_ms(r.created_at)?,
            started_at: opt_from_ms(r.started_at)?,
            finished_at: opt_from_ms(r.finished_at)?,
            updated_at: from_ms(r.updated_at)?,
        })
    }
}

/// A credential's scheduling row, as a worker sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScheduleEntry {
    /// The credential.
    pub credential_id: CredentialId,
    /// Its tenant.
    pub tenant_id: TenantId,
}

/// Why a held run could not be confirmed.
#[derive(Debug, thiserror::Error)]
pub enum ConfirmError {
    /// No such run for this tenant and credential.
    #[error("not found")]
    NotFound,
    /// The run is not `held` (it is in this status).
    #[error("the run is {0}, not held")]
    NotHeld(RunStatus),
    /// Another run of the credential is queued or running.
    #[error("another run of this credential is in progress ({0})")]
    Busy(RunId),
    /// The database failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<sqlx::Error> for ConfirmError {
    fn from(e: sqlx::Error) -> Self {
        ConfirmError::Store(StoreError::Database(e))
    }
}

/// Inserts a `queued` run inside the open transaction `$tx` and evaluates to its id. A macro
/// rather than a function because it runs inside `with_pool!`, once per backend's
/// transaction type.
macro_rules! insert_queued_run {
    ($tx:ident, $tenant:expr, $cred:expr, $trigger:expr, $at:expr) => {{
        let id = RunId::generate().to_string();
        sqlx::query(
            "INSERT INTO reconcile_runs (id, tenant_id, credential_id, status, trigger, \
             created_at, updated_at) VALUES ($1, $2, $3, 'queued', $4, $5, $5)",
        )
        .bind(&id)
        .bind($tenant.as_str())
        .bind($cred.as_str())
        .bind($trigger.as_str())
        .bind($at)
        .execute(&mut *$tx)
        .await
        .map_err(|e| classify(e, "run"))?;
        id
    }};
}

impl Store {
    /// SQL taking a lock on one credential's schedule for the rest of the transaction:
    /// an advisory lock on PostgreSQL (it works before the row exists), a no-op on SQLite
    /// whose write transactions are already exclusive.
    fn schedule_lock_sql(&self) -> &'static str {
        match self.backend() {
            crate::Backend::Postgres => {
                "SELECT pg_advisory_xact_lock(hashtext('reconcile_schedule:' || $1))"
            }
            crate::Backend::Sqlite => "SELECT $1",
        }
    }

    /// Asks for a run of a credential now: the run already queued or running if there is one,
    /// else a new `queued` run, made due at once. `NotFound` for another tenant's credential.
    pub async fn run_request(
        &self,
        tenant: &TenantId,
        cred: &CredentialId,
        trigger: RunTrigger,
    ) -> Result<RunRecord> {
        let lock_sql = self.schedule_lock_sql();
        let at = to_ms(now());
        let id = with_pool!(self, |pool| {
            let mut tx = pool.begin_write().await?;
            // Serialise every read-then-write of this credential's schedule row (SQLite's
            // BEGIN IMMEDIATE already does): otherwise two requests, or a confirm racing a
            // claim, could each overwrite the other's run id and orphan a run.
            sqlx::query(lock_sql)
                .bind(cred.as_str())
                .execute(&mut *tx)
                .await?;
            let exists: Option<String> =
                sqlx::query_scalar("SELECT id FROM credentials WHERE id = $1 AND tenant_id = $2")
                    .bind(cred.as_str())
                    .bind(tenant.as_str())
                    .fetch_optional(&mut *tx)
                    .await?;
            if exists.is_none() {
                return Err(StoreError::NotFound);
            }
            let active: Option<String> = sqlx::query_scalar(
                "SELECT r.id FROM reconcile_schedule s JOIN reconcile_runs r ON r.id = s.run_id \
                 WHERE s.credential_id = $1 AND r.status IN ('queued', 'running')",
            )
            .bind(cred.as_str())
            .fetch_optional(&mut *tx)
            .await?;
            let id = match active {
                Some(id) => id,
                None => {
                    let id = insert_queued_run!(tx, tenant, cred, trigger, at);
                    sqlx::query(
                        "INSERT INTO reconcile_schedule (credential_id, tenant_id, next_run_at, run_id) \
                         VALUES ($1, $2, $3, $4) ON CONFLICT (credential_id) DO UPDATE SET \
                         next_run_at = excluded.next_run_at, run_id = excluded.run_id",
                    )
                    .bind(cred.as_str())
                    .bind(tenant.as_str())
                    .bind(at)
                    .bind(&id)
                    .execute(&mut *tx)
                    .await?;
                    id
                }
            };
            tx.commit().await?;
            id
        });
        let id = RunId::parse(&id).map_err(corrupt)?;
        self.run_get(tenant, cred, &id)
            .await?
            .ok_or(StoreError::NotFound)
    }

    /// One run of the tenant's credential.
    pub async fn run_get(
        &self,
        tenant: &TenantId,
        cred: &CredentialId,
        id: &RunId,
    ) -> Result<Option<RunRecord>> {
        let sql = format!(
            "SELECT {RUN_COLUMNS} FROM reconcile_runs WHERE id = $1 AND tenant_id = $2 AND credential_id = $3"
        );
        let row = with_pool!(self, |pool| {
            sqlx::query_as::<_, RunRow>(&sql)
                .bind(id.as_str())
                .bind(tenant.as_str())
                .bind(cred.as_str())
                .fetch_optional(pool)
                .await?
        });
        row.map(RunRecord::try_from).transpose()
    }

    /// A run by id alone (workers and the CLI, which act for every tenant).
    pub async fn run_by_id(&self, id: &RunId) -> Result<Option<RunRecord>> {
        let sql = format!("SELECT {RUN_COLUMNS} FROM reconcile_runs WHERE id = $1");
        let row = with_pool!(self, |pool| {
            sqlx::query_as::<_, RunRow>(&sql)
                .bind(id.as_str())
                .fetch_optional(pool)
                .await?
        });
        row.map(RunRecord::try_from).transpose()
    }

    /// The credential's runs, newest first, up to `limit`, older than `before` when given.
    pub async fn runs_list(
        &self,
        tenant: &TenantId,
        cred: &CredentialId,
        before: Option<&RunId>,
        limit: u32,
    ) -> Result<Vec<RunRecord>> {
        // Run ids are uuid v7: they sort by creation time.
        let sql = format!(
            "SELECT {RUN_COLUMNS} FROM reconcile_runs WHERE tenant_id = $1 AND credential_id = $2 \
             AND ($3 = '' OR id < $3) ORDER BY id DESC LIMIT $4"
        );
        let rows = with_pool!(self, |pool| {
            sqlx::query_as::<_, RunRow>(&sql)
                .bind(tenant.as_str())
                .bind(cred.as_str())
                .bind(before.map(RunId::as_str).unwrap_or(""))
                .bind(i64::from(limit))
                .fetch_all(pool)
                .await?
        });
        rows.into_iter().map(RunRecord::try_from).collect()
    }

    /// Puts a `held` run back in the queue with the brake released: the worker that takes it
    /// confirms the candidates unseen since the run's T0 and flags the confirmed ones.
    pub async fn run_confirm(
        &self,
        tenant: &TenantId,
        cred: &CredentialId,
        id: &RunId,
    ) -> std::result::Result<RunRecord, ConfirmError> {
        let lock_sql = self.schedule_lock_sql();
        let at = to_ms(now());
        let outcome: std::result::Result<(), ConfirmError> = with_pool!(self, |pool| {
            let mut tx = pool.begin_write().await?;
            // Serialise every read-then-write of this credential's schedule row (SQLite's
            // BEGIN IMMEDIATE already does): otherwise two requests, or a confirm racing a
            // claim, could each overwrite the other's run id and orphan a run.
            sqlx::query(lock_sql)
                .bind(cred.as_str())
                .execute(&mut *tx)
                .await?;
            let status: Option<String> = sqlx::query_scalar(
                "SELECT status FROM reconcile_runs WHERE id = $1 AND tenant_id = $2 AND credential_id = $3",
            )
            .bind(id.as_str())
            .bind(tenant.as_str())
            .bind(cred.as_str())
            .fetch_optional(&mut *tx)
            .await?;
            let status: RunStatus = match status {
                None => return Err(ConfirmError::NotFound),
                Some(s) => s.parse().map_err(corrupt)?,
            };
            if status != RunStatus::Held {
                return Err(ConfirmError::NotHeld(status));
            }
            let active: Option<String> = sqlx::query_scalar(
                "SELECT r.id FROM reconcile_schedule s JOIN reconcile_runs r ON r.id = s.run_id \
                 WHERE s.credential_id = $1 AND r.status IN ('queued', 'running')",
            )
            .bind(cred.as_str())
            .fetch_optional(&mut *tx)
            .await?;
            if let Some(other) = active {
                return Err(ConfirmError::Busy(RunId::parse(&other).map_err(corrupt)?));
            }
            sqlx::query(
                "UPDATE reconcile_runs SET status = 'queued', confirmed = $2, phase = 'confirming', \
                 finished_at = NULL, error = NULL, owner = NULL, updated_at = $3 WHERE id = $1",
            )
            .bind(id.as_str())
            .bind(true)
            .bind(at)
            .execute(&mut *tx)
            .await?;
            sqlx::query(
                "INSERT INTO reconcile_schedule (credential_id, tenant_id, next_run_at, run_id) \
                 VALUES ($1, $2, $3, $4) ON CONFLICT (credential_id) DO UPDATE SET \
                 next_run_at = excluded.next_run_at, run_id = excluded.run_id",
            )
            .bind(cred.as_str())
            .bind(tenant.as_str())
            .bind(at)
            .bind(id.as_str())
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
            Ok(())
        });
        outcome?;
        self.run_get(tenant, cred, id)
            .await?
            .ok_or(ConfirmError::NotFound)
    }

    /// Gives every credential without a schedule row one, due at `first_due()`, and does the
    /// same for idle rows with nothing due (left so by a run while periodic reconciliation was
    /// off). At most `limit` per call; answers how many it scheduled.
    pub async fn schedule_missing(
        &self,
        limit: u32,
        mut first_due: impl FnMut() -> DateTime<Utc> + Send,
    ) -> Result<u64> {
        let missing: Vec<(String, String)> = with_pool!(self, |pool| {
            sqlx::query_as(
                "SELECT c.id, c.tenant_id FROM credentials c LEFT JOIN reconcile_schedule s \
                 ON s.credential_id = c.id WHERE s.credential_id IS NULL \
                 OR (s.next_run_at IS NULL AND s.run_id IS NULL AND s.lease_owner IS NULL) \
                 ORDER BY c.id LIMIT $1",
            )
            .bind(i64::from(limit))
            .fetch_all(pool)
            .await?
        });
        if missing.is_empty() {
            return Ok(0);
        }
        let rows: Vec<(String, String, i64)> = missing
            .into_iter()
            .map(|(c, t)| (c, t, to_ms(truncate_ms(first_due()))))
            .collect();
        let n = rows.len() as u64;
        with_pool!(self, |pool| {
            let mut tx = pool.begin_write().await?;
            for (cred, tenant, due) in &rows {
                // WHERE EXISTS skips a credential deleted meanwhile (its foreign key would fail).
                sqlx::query(
                    "INSERT INTO reconcile_schedule (credential_id, tenant_id, next_run_at) \
                     SELECT $1, $2, $3 WHERE EXISTS (SELECT 1 FROM credentials WHERE id = $1) \
                     ON CONFLICT (credential_id) DO UPDATE SET next_run_at = excluded.next_run_at \
                     WHERE reconcile_schedule.next_run_at IS NULL AND reconcile_schedule.run_id IS NULL \
                     AND reconcile_schedule.lease_owner IS NULL",
                )
                .bind(cred)
                .bind(tenant)
                .bind(*due)
                .execute(&mut *tx)
                .await?;
            }
            tx.commit().await?;
        });
        Ok(n)
    }

    /// Schedule rows due at `at` whose lease is free or expired, most overdue first.
    pub async fn schedule_due(&self, at: DateTime<Utc>, limit: u32) -> Result<Vec<ScheduleEntry>> {
        let rows: Vec<(String, String)> = with_pool!(self, |pool| {
            sqlx::query_as(
                // A row with an unfinished run is due whatever its next time says: an
                // interrupted run (a killed CLI, a crashed process) must be resumed, not left
                // to block the credential. Tenants are interleaved (each one's first due
                // credential, then each one's second, …), so one tenant with many due
                // credentials cannot fill the whole answer and keep the others out of sight
                // of the fair scheduler (docs/reconciliation.md, "Fair slots").
                "SELECT credential_id, tenant_id FROM ( \
                   SELECT credential_id, tenant_id, next_run_at, (run_id IS NULL) AS fresh, \
                     ROW_NUMBER() OVER (PARTITION BY tenant_id \
                                        ORDER BY (run_id IS NULL), next_run_at) AS rank \
                   FROM reconcile_schedule \
                   WHERE (next_run_at <= $1 OR run_id IS NOT NULL) \
                   AND (lease_owner IS NULL OR lease_expires_at < $1) \
                 ) AS due ORDER BY rank, fresh, next_run_at LIMIT $2",
            )
            .bind(to_ms(at))
            .bind(i64::from(limit))
            .fetch_all(pool)
            .await?
        });
        rows.into_iter()
            .map(|(c, t)| {
                Ok(ScheduleEntry {
                    credential_id: CredentialId::parse(&c).map_err(corrupt)?,
                    tenant_id: TenantId::parse(&t).map_err(corrupt)?,
                })
            })
            .collect()
    }

    /// Takes the credential's lease for `owner` until `until` if it is due and the lease is
    /// free or expired. One conditional UPDATE: of several processes racing, exactly one gets
    /// `true` (PostgreSQL re-checks the condition on the row it locked).
    pub async fn schedule_claim(
        &self,
        cred: &CredentialId,
        owner: &str,
        at: DateTime<Utc>,
        until: DateTime<Utc>,
        require_due: bool,
    ) -> Result<bool> {
        let n = with_pool!(self, |pool| {
            sqlx::query(
                "UPDATE reconcile_schedule SET lease_owner = $2, lease_expires_at = $3 \
                 WHERE credential_id = $1 AND (lease_owner IS NULL OR lease_expires_at < $4) \
                 AND ($5 = 0 OR next_run_at <= $4 OR run_id IS NOT NULL)",
            )
            .bind(cred.as_str())
            .bind(owner)
            .bind(to_ms(until))
            .bind(to_ms(at))
            .bind(i64::from(require_due))
            .execute(pool)
            .await?
            .rows_affected()
        });
        Ok(n == 1)
    }

    /// Makes sure a credential has a schedule row (the CLI runs credentials the worker never
    /// scheduled); leaves an existing one alone.
    pub async fn schedule_ensure(&self, tenant: &TenantId, cred: &CredentialId) -> Result<()> {
        with_pool!(self, |pool| {
            sqlx::query(
                "INSERT INTO reconcile_schedule (credential_id, tenant_id) VALUES ($1, $2) \
                 ON CONFLICT (credential_id) DO NOTHING",
            )
            .bind(cred.as_str())
            .bind(tenant.as_str())
            .execute(pool)
            .await
            .map_err(|e| classify(e, "schedule"))?;
        });
        Ok(())
    }

    /// Extends `owner`'s lease to `until`; `false` when the lease is no longer `owner`'s.
    pub async fn schedule_renew(
        &self,
        cred: &CredentialId,
        owner: &str,
        until: DateTime<Utc>,
    ) -> Result<bool> {
        let n = with_pool!(self, |pool| {
            sqlx::query(
                "UPDATE reconcile_schedule SET lease_expires_at = $3 \
                 WHERE credential_id = $1 AND lease_owner = $2",
            )
            .bind(cred.as_str())
            .bind(owner)
            .bind(to_ms(until))
            .execute(pool)
            .await?
            .rows_affected()
        });
        Ok(n == 1)
    }

    /// Releases `owner`'s lease without finishing anything (shutdown, lost credential); the
    /// credential stays due, so another process picks the run up at once.
    pub async fn schedule_release(&self, cred: &CredentialId, owner: &str) -> Result<()> {
        with_pool!(self, |pool| {
            sqlx::query(
                "UPDATE reconcile_schedule SET lease_owner = NULL, lease_expires_at = NULL \
                 WHERE credential_id = $1 AND lease_owner = $2",
            )
            .bind(cred.as_str())
            .bind(owner)
            .execute(pool)
            .await?;
        });
        Ok(())
    }

    /// For the holder of the credential's lease: the run to work on. The queued or running run
    /// the schedule points at (a resumed run keeps its T0, cursor and counters), else a new one
    /// with this `trigger`. It becomes `running`, owned by `owner`, with T0 set if unset.
    pub async fn run_take(
        &self,
        tenant: &TenantId,
        cred: &CredentialId,
        owner: &str,
        trigger: RunTrigger,
        at: DateTime<Utc>,
    ) -> Result<RunRecord> {
        let lock_sql = self.schedule_lock_sql();
        let at = to_ms(truncate_ms(at));
        let id = with_pool!(self, |pool| {
            let mut tx = pool.begin_write().await?;
            // Serialise every read-then-write of this credential's schedule row (SQLite's
            // BEGIN IMMEDIATE already does): otherwise two requests, or a confirm racing a
            // claim, could each overwrite the other's run id and orphan a run.
            sqlx::query(lock_sql)
                .bind(cred.as_str())
                .execute(&mut *tx)
                .await?;
            let active: Option<String> = sqlx::query_scalar(
                "SELECT r.id FROM reconcile_schedule s JOIN reconcile_runs r ON r.id = s.run_id \
                 WHERE s.credential_id = $1 AND s.lease_owner = $2 AND r.status IN ('queued', 'running')",
            )
            .bind(cred.as_str())
            .bind(owner)
            .fetch_optional(&mut *tx)
            .await?;
            let id = match active {
                Some(id) => id,
                None => {
                    let id = insert_queued_run!(tx, tenant, cred, trigger, at);
                    let n = sqlx::query(
                        "UPDATE reconcile_schedule SET run_id = $3 WHERE credential_id = $1 AND lease_owner = $2",
                    )
                    .bind(cred.as_str())
                    .bind(owner)
                    .bind(&id)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
                    if n != 1 {
                        return Err(StoreError::NotFound);
                    }
                    id
                }
            };
            sqlx::query(
                "UPDATE reconcile_runs SET status = 'running', owner = $2, \
                 started_at = COALESCE(started_at, $3), updated_at = $3 WHERE id = $1",
            )
            .bind(&id)
            .bind(owner)
            .bind(at)
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
            id
        });
        let id = RunId::parse(&id).map_err(corrupt)?;
        self.run_by_id(&id).await?.ok_or(StoreError::NotFound)
    }

    /// Saves a running run's position and counters; `false` when `owner` no longer owns it
    /// (another process took it over after the lease expired): the caller must stop.
    pub async fn run_progress(
        &self,
        run: &RunId,
        owner: &str,
        phase: RunPhase,
        cursor: Option<&str>,
        strategy: &str,
        c: &RunCounters,
    ) -> Result<bool> {
        let n = with_pool!(self, |pool| {
            sqlx::query(
                "UPDATE reconcile_runs SET phase = $3, cursor = $4, strategy = $5, \
                 pages_fetched = $6, contacts_seen = $7, provider_calls = $8, discovered = $9, \
                 flagged = $10, restored = $11, candidates = $12, known_contacts = $13, \
                 confirm_errors = $14, updated_at = $15 \
                 WHERE id = $1 AND owner = $2 AND status = 'running'",
            )
            .bind(run.as_str())
            .bind(owner)
            .bind(phase.as_str())
            .bind(cursor)
            .bind(strategy)
            .bind(signed(c.pages_fetched))
            .bind(signed(c.contacts_seen))
            .bind(signed(c.provider_calls))
            .bind(signed(c.discovered))
            .bind(signed(c.flagged))
            .bind(signed(c.restored))
            .bind(signed(c.candidates))
            .bind(signed(c.known_contacts))
            .bind(signed(c.confirm_errors))
            .bind(to_ms(now()))
            .execute(pool)
            .await?
            .rows_affected()
        });
        Ok(n == 1)
    }

    /// Ends `owner`'s run with a terminal status and, in the same transaction, releases the
    /// lease and schedules the credential's next run at `next_run_at` (`None`: not periodic).
    /// A run asked for meanwhile (the schedule points at another run) stays due. `false` when
    /// `owner` no longer owns the run.
    #[allow(clippy::too_many_arguments)]
    pub async fn run_finish(
        &self,
        run: &RunId,
        cred: &CredentialId,
        owner: &str,
        status: RunStatus,
        c: &RunCounters,
        error: Option<&str>,
        next_run_at: Option<DateTime<Utc>>,
    ) -> Result<bool> {
        let at = to_ms(now());
        let next = next_run_at.map(|t| to_ms(truncate_ms(t)));
        let done = with_pool!(self, |pool| {
            let mut tx = pool.begin_write().await?;
            let n = sqlx::query(
                "UPDATE reconcile_runs SET status = $3, error = $4, finished_at = $5, updated_at = $5, \
                 cursor = NULL, pages_fetched = $6, contacts_seen = $7, provider_calls = $8, \
                 discovered = $9, flagged = $10, restored = $11, candidates = $12, \
                 known_contacts = $13, confirm_errors = $14 \
                 WHERE id = $1 AND owner = $2 AND status = 'running'",
            )
            .bind(run.as_str())
            .bind(owner)
            .bind(status.as_str())
            .bind(error)
            .bind(at)
            .bind(signed(c.pages_fetched))
            .bind(signed(c.contacts_seen))
            .bind(signed(c.provider_calls))
            .bind(signed(c.discovered))
            .bind(signed(c.flagged))
            .bind(signed(c.restored))
            .bind(signed(c.candidates))
            .bind(signed(c.known_contacts))
            .bind(signed(c.confirm_errors))
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if n == 1 {
                sqlx::query(
                    "UPDATE reconcile_schedule SET lease_owner = NULL, lease_expires_at = NULL, \
                     last_run_id = $3, \
                     next_run_at = CASE WHEN run_id IS NULL OR run_id = $3 THEN $4 ELSE next_run_at END, \
                     run_id = CASE WHEN run_id = $3 THEN NULL ELSE run_id END \
                     WHERE credential_id = $1 AND lease_owner = $2",
                )
                .bind(cred.as_str())
                .bind(owner)
                .bind(run.as_str())
                .bind(next)
                .execute(&mut *tx)
                .await?;
            }
            tx.commit().await?;
            n == 1
        });
        Ok(done)
    }

    /// Runs over the whole database: how many succeeded, and how many failed or were held
    /// (operations dashboards and the benchmark).
    pub async fn run_status_counts(&self) -> Result<(i64, i64)> {
        let counts: (i64, i64) = with_pool!(self, |pool| {
            sqlx::query_as(
                "SELECT COALESCE(SUM(CASE WHEN status = 'succeeded' THEN 1 ELSE 0 END), 0), \
                 COALESCE(SUM(CASE WHEN status IN ('failed', 'held') THEN 1 ELSE 0 END), 0) \
                 FROM reconcile_runs",
            )
            .fetch_one(pool)
            .await?
        });
        Ok(counts)
    }

    /// The tenant owning a credential, whoever asks (CLI and workers act for every tenant).
    pub async fn credential_tenant(&self, cred: &CredentialId) -> Result<Option<TenantId>> {
        let tenant: Option<String> = with_pool!(self, |pool| {
            sqlx::query_scalar("SELECT tenant_id FROM credentials WHERE id = $1")
                .bind(cred.as_str())
                .fetch_optional(pool)
                .await?
        });
        tenant
            .map(|t| TenantId::parse(&t).map_err(corrupt))
            .transpose()
    }

    /// Live (not flagged) index entries of a credential, and how many of them no provider call
    /// returned since `cutoff` (the diff's candidates after a listing that started then).
    pub async fn index_live_and_unseen(
        &self,
        tenant: &TenantId,
        cred: &CredentialId,
        cutoff: DateTime<Utc>,
    ) -> Result<(u64, u64)> {
        let (live, unseen): (i64, i64) = with_pool!(self, |pool| {
            sqlx::query_as(
                // "Known" means known before the pass began: contacts this pass discovered (or
                // the API created meanwhile) must not dilute the mass-deletion ratio, e.g. when
                // a key now points at another, bigger workspace.
                "SELECT COALESCE(SUM(CASE WHEN created_at < $4 THEN 1 ELSE 0 END), 0), \
                 COALESCE(SUM(CASE WHEN last_seen_at IS NULL OR last_seen_at < $4 \
                 THEN 1 ELSE 0 END), 0) FROM contact_index \
                 WHERE tenant_id = $1 AND credential_id = $2 AND remote_deleted = $3",
            )
            .bind(tenant.as_str())
            .bind(cred.as_str())
            .bind(false)
            .bind(to_ms(truncate_ms(cutoff)))
            .fetch_one(pool)
            .await?
        });
        Ok((count(live), count(unseen)))
    }
}
