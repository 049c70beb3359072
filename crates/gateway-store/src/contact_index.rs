//! The contact index (README.md): per credential, the gateway id ↔ remote id mapping with
//! remote timestamps, deletion state and a content fingerprint. No names, emails or phones.

use std::collections::HashMap;
use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use gateway_core::{ContactId, CredentialId, RemoteId, TenantId};
use serde::{Deserialize, Serialize};

use gateway_core::RunId;
use serde_json::{json, Value};

use crate::db::{from_ms, opt_from_ms, to_ms, truncate_ms, with_pool, Backend, BeginWrite, Store};
use crate::error::{classify, corrupt, ParseEnumError, Result, StoreError};
use crate::events::{write_events, EventType, NewEvent};

/// How the gateway learned that a remote contact is gone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DetectedBy {
    /// The provider marks it deleted itself (a `deletedAt` field).
    Native,
    /// The reconciler's full listing no longer contains it.
    Diff,
    /// A read or write through the gateway got the provider's "not found".
    OnUse,
}

impl DetectedBy {
    /// The stored and serialised name.
    pub fn as_str(self) -> &'static str {
        match self {
            DetectedBy::Native => "native",
            DetectedBy::Diff => "diff",
            DetectedBy::OnUse => "on_use",
        }
    }
}

impl fmt::Display for DetectedBy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for DetectedBy {
    type Err = ParseEnumError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(match s {
            "native" => DetectedBy::Native,
            "diff" => DetectedBy::Diff,
            "on_use" => DetectedBy::OnUse,
            other => {
                return Err(ParseEnumError {
                    kind: "deletion detection",
                    value: other.to_owned(),
                })
            }
        })
    }
}

/// One remote contact as a provider call just returned it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeenContact {
    /// The provider's id.
    pub remote_id: RemoteId,
    /// The provider's creation time, if it reports one.
    pub remote_created_at: Option<DateTime<Utc>>,
    /// The provider's last-modified time, if it reports one.
    pub remote_updated_at: Option<DateTime<Utc>>,
    /// Set when the provider itself reports the contact deleted (soft delete).
    pub remote_deleted_at: Option<DateTime<Utc>>,
    /// A digest of the remote content, for change detection without keeping the content.
    pub fingerprint: String,
}

/// What the index knows about one contact.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct IndexEntry {
    /// The gateway's stable contact id.
    pub id: ContactId,
    /// The owning tenant.
    pub tenant_id: TenantId,
    /// The credential the contact was seen through.
    pub credential_id: CredentialId,
    /// The provider's id.
    pub remote_id: RemoteId,
    /// The provider's creation time, if known.
    pub remote_created_at: Option<DateTime<Utc>>,
    /// The provider's last-modified time, if known.
    pub remote_updated_at: Option<DateTime<Utc>>,
    /// Whether the contact is gone remotely.
    pub remote_deleted: bool,
    /// When it was deleted (the provider's time for native deletions, detection time otherwise).
    pub remote_deleted_at: Option<DateTime<Utc>>,
    /// How the deletion was detected; `None` while not deleted.
    pub deletion_detected_by: Option<DetectedBy>,
    /// When a provider call last returned it.
    pub last_seen_at: Option<DateTime<Utc>>,
    /// The last seen content fingerprint.
    pub fingerprint: Option<String>,
    /// When the index first saw it.
    pub created_at: DateTime<Utc>,
    /// When any indexed value last changed (being seen unchanged does not count).
    pub updated_at: DateTime<Utc>,
}

/// Why contacts are being recorded: decides the change-feed event of a contact the index did
/// not know yet (`contact.created`, `contact.updated` or `contact.discovered`) and what the
/// events say about their source. Restores and native tombstones get their own events whatever
/// the origin.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IndexOrigin {
    /// A create through the gateway; with the `Idempotency-Key` it was sent under, whose write
    /// intent is settled (adopted) in the same transaction as the index row, so a process
    /// killed after this commit answers a retry with this contact instead of creating another.
    Created(Option<String>),
    /// An update through the gateway.
    Updated,
    /// A read or a listing through the gateway.
    Read,
    /// A reconciliation run.
    Reconciliation(RunId),
}

impl IndexOrigin {
    fn source(&self) -> &'static str {
        match self {
            IndexOrigin::Created(_) | IndexOrigin::Updated => "api_write",
            IndexOrigin::Read => "api_read",
            IndexOrigin::Reconciliation(_) => "reconciliation",
        }
    }

    fn data(&self, mut data: Value) -> Value {
        if let Value::Object(map) = &mut data {
            map.insert("source".into(), Value::from(self.source()));
            if let IndexOrigin::Reconciliation(run) = self {
                map.insert("runId".into(), Value::from(run.as_str()));
            }
        }
        data
    }
}

/// What recording a page of seen contacts changed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SeenOutcome {
    /// One entry per element of the input, in the same order.
    pub entries: Vec<IndexEntry>,
    /// Remote ids the index did not know before.
    pub discovered: u64,
    /// Entries flagged deleted before and seen alive now.
    pub restored: u64,
    /// Entries live before that now carry the provider's tombstone.
    pub flagged: u64,
}

const COLUMNS: &str =
    "id, tenant_id, credential_id, remote_id, remote_created_at, remote_updated_at, \
                       remote_deleted, remote_deleted_at, deletion_detected_by, last_seen_at, \
                       fingerprint, created_at, updated_at";

/// How stale `lastSeenAt` may get before a read through the API records the sighting again.
const READ_REFRESH_MS: i64 = 60_000;

/// Rows per upsert statement: 8 parameters each keeps a statement far below both backends'
/// parameter limits while a provider page (≤ 100) is a single statement.
const UPSERT_CHUNK: usize = 250;

#[derive(sqlx::FromRow)]
struct IndexRow {
    id: String,
    tenant_id: String,
    credential_id: String,
    remote_id: String,
    remote_created_at: Option<i64>,
    remote_updated_at: Option<i64>,
    remote_deleted: bool,
    remote_deleted_at: Option<i64>,
    deletion_detected_by: Option<String>,
    last_seen_at: Option<i64>,
    fingerprint: Option<String>,
    created_at: i64,
    updated_at: i64,
}

impl TryFrom<IndexRow> for IndexEntry {
    type Error = StoreError;
    fn try_from(row: IndexRow) -> Result<Self> {
        Ok(IndexEntry {
            id: ContactId::parse(&row.id).map_err(corrupt)?,
            tenant_id: TenantId::parse(&row.tenant_id).map_err(corrupt)?,
            credential_id: CredentialId::parse(&row.credential_id).map_err(corrupt)?,
            remote_id: RemoteId(row.remote_id),
            remote_created_at: opt_from_ms(row.remote_created_at)?,
            remote_updated_at: opt_from_ms(row.remote_updated_at)?,
            remote_deleted: row.remote_deleted,
            remote_deleted_at: opt_from_ms(row.remote_deleted_at)?,
            deletion_detected_by: row
                .deletion_detected_by
                .map(|s| s.parse())
                .transpose()
                .map_err(corrupt)?,
            last_seen_at: opt_from_ms(row.last_seen_at)?,
            fingerprint: row.fingerprint,
            created_at: from_ms(row.created_at)?,
            updated_at: from_ms(row.updated_at)?,
        })
    }
}

/// The upsert for `rows` seen contacts. `$1` tenant, `$2` credential, `$3` now (when the
/// contacts were fetched), `$4` the
/// `created_via` of rows this inserts (or of known rows that had none); then 8 per row.
///
/// On conflict the existing id is kept; a timestamp the provider did not send keeps its known
/// value; deletion state follows what was seen (a contact seen alive is restored, unless an
/// on-use flag came after the fetch: [`STALE_SIGHTING`]). `updated_at`
/// moves only when something indexed changed. The tenant guard stops a caller naming another
/// tenant's credential from touching its rows: such rows are neither updated nor returned.
fn upsert_sql(rows: usize) -> String {
    let mut sql = String::from(
        "INSERT INTO contact_index (id, tenant_id, credential_id, remote_id, remote_created_at, \
         remote_updated_at, remote_deleted, remote_deleted_at, deletion_detected_by, last_seen_at, \
         fingerprint, created_at, updated_at, created_via) VALUES ",
    );
    for i in 0..rows {
        let p = 5 + i * 8;
        if i > 0 {
            sql.push_str(", ");
        }
        sql.push_str(&format!(
            "(${}, $1, $2, ${}, ${}, ${}, ${}, ${}, ${}, $3, ${}, $3, $3, $4)",
            p,
            p + 1,
            p + 2,
            p + 3,
            p + 4,
            p + 5,
            p + 6,
            p + 7
        ));
    }
    sql.push_str(
        " ON CONFLICT (credential_id, remote_id) DO UPDATE SET \
         remote_created_at = COALESCE(excluded.remote_created_at, contact_index.remote_created_at), \
         remote_updated_at = COALESCE(excluded.remote_updated_at, contact_index.remote_updated_at), \
         remote_deleted = CASE WHEN {stale} THEN contact_index.remote_deleted ELSE excluded.remote_deleted END, \
         remote_deleted_at = CASE WHEN {stale} THEN contact_index.remote_deleted_at ELSE excluded.remote_deleted_at END, \
         deletion_detected_by = CASE WHEN {stale} THEN contact_index.deletion_detected_by ELSE excluded.deletion_detected_by END, \
         last_seen_at = excluded.last_seen_at, \
         fingerprint = excluded.fingerprint, \
         created_via = COALESCE(contact_index.created_via, excluded.created_via), \
         updated_at = CASE WHEN {stale} THEN contact_index.updated_at WHEN \
           contact_index.remote_created_at IS DISTINCT FROM COALESCE(excluded.remote_created_at, contact_index.remote_created_at) \
           OR contact_index.remote_updated_at IS DISTINCT FROM COALESCE(excluded.remote_updated_at, contact_index.remote_updated_at) \
           OR contact_index.remote_deleted <> excluded.remote_deleted \
           OR contact_index.remote_deleted_at IS DISTINCT FROM excluded.remote_deleted_at \
           OR contact_index.deletion_detected_by IS DISTINCT FROM excluded.deletion_detected_by \
           OR contact_index.fingerprint IS DISTINCT FROM excluded.fingerprint \
         THEN excluded.updated_at ELSE contact_index.updated_at END \
         WHERE contact_index.tenant_id = excluded.tenant_id RETURNING ",
    );
    sql.push_str(COLUMNS);
    sql.replace("{stale}", STALE_SIGHTING)
}

/// A sighting older than an on-use deletion flag: the page was fetched (`$3`) before a read or
/// write got the provider's 404 and flagged the row, so it must not restore the contact.
const STALE_SIGHTING: &str = "(contact_index.remote_deleted AND NOT excluded.remote_deleted \
     AND contact_index.deletion_detected_by = 'on_use' AND contact_index.updated_at > $3)";

/// `$1` credential, then one remote id per row.
fn prior_sql(rows: usize) -> String {
    let mut sql = String::from(
        "SELECT remote_id, remote_deleted, deletion_detected_by FROM contact_index \
         WHERE credential_id = $1 AND remote_id IN (",
    );
    for i in 0..rows {
        if i > 0 {
            sql.push_str(", ");
        }
        sql.push_str(&format!("${}", i + 2));
    }
    sql.push(')');
    sql
}

/// The events (and discovered/restored/flagged counts) of one recorded page.
fn seen_events(
    rows: &[&SeenContact],
    entries: &HashMap<String, IndexEntry>,
    before: &HashMap<String, (bool, Option<String>)>,
    origin: &IndexOrigin,
) -> (Vec<NewEvent>, (u64, u64, u64)) {
    let mut events = Vec::new();
    let (mut discovered, mut restored, mut flagged) = (0, 0, 0);
    for s in rows {
        let Some(entry) = entries.get(s.remote_id.as_str()) else {
            continue;
        };
        let event = |event_type: EventType, data: Value| NewEvent {
            event_type,
            contact_id: Some(entry.id.to_string()),
            remote_id: Some(entry.remote_id.0.clone()),
            data: origin.data(data),
        };
        let deleted_data = || json!({"remoteDeleted": entry.remote_deleted, "remoteDeletedAt": entry.remote_deleted_at, "detectedBy": entry.deletion_detected_by});
        match before.get(s.remote_id.as_str()) {
            None => {
                discovered += 1;
                let t = match origin {
                    IndexOrigin::Created(_) => EventType::Created,
                    IndexOrigin::Updated => EventType::Updated,
                    _ => EventType::Discovered,
                };
                events.push(event(t, json!({"remoteDeleted": entry.remote_deleted})));
                if entry.remote_deleted {
                    flagged += 1;
                    events.push(event(EventType::RemoteDeleted, deleted_data()));
                }
            }
            Some((was_deleted, was_by)) => {
                if *origin == IndexOrigin::Updated {
                    events.push(event(EventType::Updated, json!({})));
                } else if matches!(origin, IndexOrigin::Created(_)) {
                    events.push(event(EventType::Created, json!({})));
                }
                if *was_deleted && !entry.remote_deleted {
                    restored += 1;
                    events.push(event(
                        EventType::Restored,
                        json!({"previouslyDetectedBy": was_by}),
                    ));
                } else if !*was_deleted && entry.remote_deleted {
                    flagged += 1;
                    events.push(event(EventType::RemoteDeleted, deleted_data()));
                }
            }
        }
    }
    (events, (discovered, restored, flagged))
}

impl Store {
    /// Records a page of contacts a provider call returned, in one transaction: new remote ids
    /// get a fresh `ContactId`, known ones keep theirs; timestamps, fingerprint and
    /// `last_seen_at = now` are updated; a `remote_deleted_at` flags the entry deleted
    /// (`native`), and an entry flagged deleted that is seen alive is restored. Returns one entry
    /// per element of `seen`, in the same order (a remote id listed twice: the last one wins).
    /// `NotFound` if the credential is not the tenant's.
    pub async fn index_seen(
        &self,
        tenant: &TenantId,
        cred: &CredentialId,
        seen: &[SeenContact],
        now: DateTime<Utc>,
    ) -> Result<Vec<IndexEntry>> {
        Ok(self
            .index_seen_with(tenant, cred, seen, now, &IndexOrigin::Read)
            .await?
            .entries)
    }

    /// [`Store::index_seen`] with the reason, writing the change-feed events in the same
    /// transaction: `contact.created` / `contact.updated` / `contact.discovered` for remote ids
    /// new to the index (by `origin`; an update always writes `contact.updated`),
    /// `contact.restored` for entries flagged deleted and seen alive, `contact.remote_deleted`
    /// for live entries now carrying a native tombstone. Also counts those changes.
    pub async fn index_seen_with(
        &self,
        tenant: &TenantId,
        cred: &CredentialId,
        seen: &[SeenContact],
        now: DateTime<Utc>,
        origin: &IndexOrigin,
    ) -> Result<SeenOutcome> {
        if seen.is_empty() {
            return match self.get_credential(tenant, cred).await? {
                Some(_) => Ok(SeenOutcome::default()),
                None => Err(StoreError::NotFound),
            };
        }
        if *origin == IndexOrigin::Read {
            if let Some(entries) = self.index_unchanged(tenant, cred, seen, now).await? {
                return Ok(SeenOutcome {
                    entries,
                    ..SeenOutcome::default()
                });
            }
        }
        // A statement may not touch the same row twice (PostgreSQL refuses), so each remote id
        // goes in once, with its last occurrence's values.
        let mut last: HashMap<&str, &SeenContact> = HashMap::new();
        let mut unique: Vec<&str> = Vec::new();
        for s in seen {
            if last.insert(s.remote_id.as_str(), s).is_none() {
                unique.push(s.remote_id.as_str());
            }
        }
        // Sorted so concurrent upserts of overlapping pages lock rows in the same order and
        // cannot deadlock on PostgreSQL.
        unique.sort_unstable();
        let rows: Vec<&SeenContact> = unique.iter().filter_map(|r| last.get(r).copied()).collect();
        let now_ms = to_ms(truncate_ms(now));
        let postgres = self.backend() == Backend::Postgres;
        let mut entries: HashMap<String, IndexEntry> = HashMap::with_capacity(rows.len());
        let mut before: HashMap<String, (bool, Option<String>)> = HashMap::new();
        let outcome_counts;
        with_pool!(self, |pool| {
            let mut tx = pool.begin_write().await?;
            for chunk in rows.chunks(UPSERT_CHUNK) {
                // What the index held before, to tell new, restored and newly flagged entries
                // apart (the upsert's RETURNING shows only the result).
                let sql = prior_sql(chunk.len());
                let mut prior =
                    sqlx::query_as::<_, (String, bool, Option<String>)>(&sql).bind(cred.as_str());
                for s in chunk {
                    prior = prior.bind(s.remote_id.as_str());
                }
                for (remote, deleted, by) in prior.fetch_all(&mut *tx).await? {
                    before.insert(remote, (deleted, by));
                }
                let sql = upsert_sql(chunk.len());
                let mut query = sqlx::query_as::<_, IndexRow>(&sql)
                    .bind(tenant.as_str())
                    .bind(cred.as_str())
                    .bind(now_ms)
                    .bind(matches!(origin, IndexOrigin::Created(_)).then_some("api"));
                for s in chunk {
                    let deleted = s.remote_deleted_at.is_some();
                    query = query
                        .bind(ContactId::generate().to_string())
                        .bind(s.remote_id.as_str())
                        .bind(s.remote_created_at.map(to_ms))
                        .bind(s.remote_updated_at.map(to_ms))
                        .bind(deleted)
                        .bind(s.remote_deleted_at.map(to_ms))
                        .bind(deleted.then_some(DetectedBy::Native.as_str()))
                        .bind(s.fingerprint.as_str());
                }
                // A new row under another tenant's (or no) credential fails the composite
                // foreign key; an existing one is skipped by the tenant guard.
                let returned = query
                    .fetch_all(&mut *tx)
                    .await
                    .map_err(|e| classify(e, "contact"))?;
                if returned.len() != chunk.len() {
                    return Err(StoreError::NotFound);
                }
                for row in returned {
                    let entry = IndexEntry::try_from(row)?;
                    entries.insert(entry.remote_id.0.clone(), entry);
                }
            }
            // The create's intent is settled with the row it made (see IndexOrigin::Created).
            if let (IndexOrigin::Created(Some(key)), Some(entry)) = (
                origin,
                rows.first().and_then(|r| entries.get(r.remote_id.as_str())),
            ) {
                sqlx::query(
                    "UPDATE write_intents SET state = 'adopted', contact_id = $3, remote_id = $4, \
                     resolved_at = $5 WHERE tenant_id = $1 AND idempotency_key = $2",
                )
                .bind(tenant.as_str())
                .bind(key)
                .bind(entry.id.as_str())
                .bind(entry.remote_id.0.as_str())
                .bind(now_ms)
                .execute(&mut *tx)
                .await?;
            }
            let (events, counts) = seen_events(&rows, &entries, &before, origin);
            outcome_counts = counts;
            write_events!(
                tx,
                postgres,
                tenant.as_str(),
                cred.as_str(),
                now_ms,
                &events
            );
            tx.commit().await?;
        });
        let entries = seen
            .iter()
            .map(|s| {
                entries
                    .get(s.remote_id.as_str())
                    .cloned()
                    .ok_or(StoreError::NotFound)
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(SeenOutcome {
            entries,
            discovered: outcome_counts.0,
            restored: outcome_counts.1,
            flagged: outcome_counts.2,
        })
    }

    /// The entries of `seen` when a read through the API would change nothing in the index:
    /// every contact known, live, with the same fingerprint, and seen within
    /// [`READ_REFRESH_MS`]. Reads then take no write lock (on SQLite the single writer's);
    /// `lastSeenAt` lags reads by at most that long. `None`: record them as usual.
    async fn index_unchanged(
        &self,
        tenant: &TenantId,
        cred: &CredentialId,
        seen: &[SeenContact],
        now: DateTime<Utc>,
    ) -> Result<Option<Vec<IndexEntry>>> {
        if seen.len() > UPSERT_CHUNK {
            return Ok(None);
        }
        let mut sql = format!(
            "SELECT {COLUMNS} FROM contact_index WHERE tenant_id = $1 AND credential_id = $2 \
             AND remote_id IN ("
        );
        for i in 0..seen.len() {
            if i > 0 {
                sql.push_str(", ");
            }
            sql.push_str(&format!("${}", i + 3));
        }
        sql.push(')');
        let rows: Vec<IndexRow> = with_pool!(self, |pool| {
            let mut q = sqlx::query_as::<_, IndexRow>(&sql)
                .bind(tenant.as_str())
                .bind(cred.as_str());
            for s in seen {
                q = q.bind(s.remote_id.as_str());
            }
            q.fetch_all(pool).await?
        });
        let mut known: HashMap<String, IndexEntry> = HashMap::with_capacity(rows.len());
        for row in rows {
            let entry = IndexEntry::try_from(row)?;
            known.insert(entry.remote_id.0.clone(), entry);
        }
        let fresh_after = to_ms(now) - READ_REFRESH_MS;
        let mut out = Vec::with_capacity(seen.len());
        for s in seen {
            let Some(entry) = known.get(s.remote_id.as_str()) else {
                return Ok(None);
            };
            let unchanged = !entry.remote_deleted
                && s.remote_deleted_at.is_none()
                // The fingerprint covers the remote timestamps too.
                && entry.fingerprint.as_deref() == Some(s.fingerprint.as_str())
                && entry.last_seen_at.is_some_and(|t| to_ms(t) >= fresh_after);
            if !unchanged {
                return Ok(None);
            }
            out.push(entry.clone());
        }
        Ok(Some(out))
    }

    /// An entry by the gateway's contact id.
    pub async fn index_get(
        &self,
        tenant: &TenantId,
        cred: &CredentialId,
        id: &ContactId,
    ) -> Result<Option<IndexEntry>> {
        let sql = format!(
            "SELECT {COLUMNS} FROM contact_index WHERE id = $1 AND tenant_id = $2 AND credential_id = $3"
        );
        self.fetch_one_entry(&sql, id.as_str(), tenant, cred).await
    }

    /// An entry by the provider's id.
    pub async fn index_get_by_remote(
        &self,
        tenant: &TenantId,
        cred: &CredentialId,
        remote: &RemoteId,
    ) -> Result<Option<IndexEntry>> {
        let sql = format!(
            "SELECT {COLUMNS} FROM contact_index WHERE remote_id = $1 AND tenant_id = $2 AND credential_id = $3"
        );
        self.fetch_one_entry(&sql, remote.as_str(), tenant, cred)
            .await
    }

    async fn fetch_one_entry(
        &self,
        sql: &str,
        key: &str,
        tenant: &TenantId,
        cred: &CredentialId,
    ) -> Result<Option<IndexEntry>> {
        let row = with_pool!(self, |pool| {
            sqlx::query_as::<_, IndexRow>(sql)
                .bind(key)
                .bind(tenant.as_str())
                .bind(cred.as_str())
                .fetch_optional(pool)
                .await?
        });
        row.map(IndexEntry::try_from).transpose()
    }

    /// Flags an entry deleted remotely. An entry already flagged keeps its first detection (time
    /// and method), so repeated detections are harmless. `NotFound` if there is no such entry.
    /// A flag that changes the entry writes `contact.remote_deleted` in the same transaction.
    pub async fn index_mark_deleted(
        &self,
        tenant: &TenantId,
        cred: &CredentialId,
        id: &ContactId,
        detected_by: DetectedBy,
        at: DateTime<Utc>,
    ) -> Result<IndexEntry> {
        Ok(self
            .index_mark_deleted_with(tenant, cred, id, detected_by, at, &IndexOrigin::Read)
            .await?
            .0)
    }

    /// [`Store::index_mark_deleted`] with the reason (a reconciliation run is named in the
    /// event); also answers whether this call flipped the entry.
    pub async fn index_mark_deleted_with(
        &self,
        tenant: &TenantId,
        cred: &CredentialId,
        id: &ContactId,
        detected_by: DetectedBy,
        at: DateTime<Utc>,
        origin: &IndexOrigin,
    ) -> Result<(IndexEntry, bool)> {
        let sql = format!(
            "UPDATE contact_index SET remote_deleted = $4, remote_deleted_at = $5, \
             deletion_detected_by = $6, updated_at = $7 \
             WHERE id = $1 AND tenant_id = $2 AND credential_id = $3 AND remote_deleted = $8 \
             RETURNING {COLUMNS}"
        );
        let now_ms = to_ms(crate::db::now());
        let postgres = self.backend() == Backend::Postgres;
        let row = with_pool!(self, |pool| {
            let mut tx = pool.begin_write().await?;
            let row = sqlx::query_as::<_, IndexRow>(&sql)
                .bind(id.as_str())
                .bind(tenant.as_str())
                .bind(cred.as_str())
                .bind(true)
                .bind(to_ms(truncate_ms(at)))
                .bind(detected_by.as_str())
                .bind(now_ms)
                .bind(false)
                .fetch_optional(&mut *tx)
                .await?;
            if let Some(row) = &row {
                let events = [NewEvent {
                    event_type: EventType::RemoteDeleted,
                    contact_id: Some(row.id.clone()),
                    remote_id: Some(row.remote_id.clone()),
                    data: origin.data(json!({
                        "detectedBy": detected_by.as_str(),
                        "remoteDeletedAt": from_ms(to_ms(truncate_ms(at)))?,
                    })),
                }];
                write_events!(
                    tx,
                    postgres,
                    tenant.as_str(),
                    cred.as_str(),
                    now_ms,
                    &events
                );
            }
            tx.commit().await?;
            row
        });
        match row {
            Some(row) => Ok((row.try_into()?, true)),
            None => Ok((
                self.index_get(tenant, cred, id)
                    .await?
                    .ok_or(StoreError::NotFound)?,
                false,
            )),
        }
    }

    /// Drops an entry, after the contact was deleted through the gateway, and writes
    /// `contact.deleted` in the same transaction. `NotFound` if there is no such entry.
    pub async fn index_remove(
        &self,
        tenant: &TenantId,
        cred: &CredentialId,
        id: &ContactId,
    ) -> Result<()> {
        let now_ms = to_ms(crate::db::now());
        let postgres = self.backend() == Backend::Postgres;
        let removed = with_pool!(self, |pool| {
            let mut tx = pool.begin_write().await?;
            let remote: Option<String> = sqlx::query_scalar(
                "DELETE FROM contact_index WHERE id = $1 AND tenant_id = $2 AND credential_id = $3 \
                 RETURNING remote_id",
            )
            .bind(id.as_str())
            .bind(tenant.as_str())
            .bind(cred.as_str())
            .fetch_optional(&mut *tx)
            .await?;
            if let Some(remote) = &remote {
                let events = [NewEvent {
                    event_type: EventType::Deleted,
                    contact_id: Some(id.to_string()),
                    remote_id: Some(remote.clone()),
                    data: IndexOrigin::Updated.data(json!({})),
                }];
                write_events!(
                    tx,
                    postgres,
                    tenant.as_str(),
                    cred.as_str(),
                    now_ms,
                    &events
                );
            }
            tx.commit().await?;
            remote.is_some()
        });
        if !removed {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    /// Up to `limit` entries flagged deleted with ids after `after`, by id.
    pub async fn index_tombstones(
        &self,
        tenant: &TenantId,
        cred: &CredentialId,
        after: Option<&ContactId>,
        limit: u32,
    ) -> Result<Vec<IndexEntry>> {
        let sql = format!(
            "SELECT {COLUMNS} FROM contact_index WHERE tenant_id = $1 AND credential_id = $2 \
             AND remote_deleted = $3 AND id > $4 ORDER BY id LIMIT $5"
        );
        let rows = with_pool!(self, |pool| {
            sqlx::query_as::<_, IndexRow>(&sql)
                .bind(tenant.as_str())
                .bind(cred.as_str())
                .bind(true)
                .bind(after.map(ContactId::as_str).unwrap_or(""))
                .bind(i64::from(limit))
                .fetch_all(pool)
                .await?
        });
        rows.into_iter().map(IndexEntry::try_from).collect()
    }

    /// Up to `limit` live (not deleted) entries with ids after `after` that no provider call
    /// has returned since `cutoff` (or ever), by id: the candidates a reconciler checks after a
    /// full listing that started at `cutoff`.
    pub async fn index_unseen_since(
        &self,
        tenant: &TenantId,
        cred: &CredentialId,
        cutoff: DateTime<Utc>,
        after: Option<&ContactId>,
        limit: u32,
    ) -> Result<Vec<IndexEntry>> {
        let sql = format!(
            "SELECT {COLUMNS} FROM contact_index WHERE tenant_id = $1 AND credential_id = $2 \
             AND remote_deleted = $3 AND (last_seen_at IS NULL OR last_seen_at < $4) AND id > $5 \
             ORDER BY id LIMIT $6"
        );
        let rows = with_pool!(self, |pool| {
            sqlx::query_as::<_, IndexRow>(&sql)
                .bind(tenant.as_str())
                .bind(cred.as_str())
                .bind(false)
                .bind(to_ms(truncate_ms(cutoff)))
                .bind(after.map(ContactId::as_str).unwrap_or(""))
                .bind(i64::from(limit))
                .fetch_all(pool)
                .await?
        });
        rows.into_iter().map(IndexEntry::try_from).collect()
    }

    /// How many entries (live and deleted) the credential has.
    pub async fn index_count(&self, tenant: &TenantId, cred: &CredentialId) -> Result<u64> {
        let n: i64 = with_pool!(self, |pool| {
            sqlx::query_scalar(
                "SELECT COUNT(*) FROM contact_index WHERE tenant_id = $1 AND credential_id = $2",
            )
            .bind(tenant.as_str())
            .bind(cred.as_str())
            .fetch_one(pool)
            .await?
        });
        u64::try_from(n).map_err(corrupt)
    }
}
