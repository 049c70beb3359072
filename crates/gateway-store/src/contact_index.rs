//! The contact index (CONTRACT §1): per credential, the gateway id ↔ remote id mapping with
//! remote timestamps, deletion state and a content fingerprint. No names, emails or phones.

use std::collections::HashMap;
use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use gateway_core::{ContactId, CredentialId, RemoteId, TenantId};
use serde::{Deserialize, Serialize};

use crate::db::{from_ms, opt_from_ms, to_ms, truncate_ms, with_pool, BeginWrite, Store};
use crate::error::{classify, corrupt, ParseEnumError, Result, StoreError};

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

const COLUMNS: &str =
    "id, tenant_id, credential_id, remote_id, remote_created_at, remote_updated_at, \
                       remote_deleted, remote_deleted_at, deletion_detected_by, last_seen_at, \
                       fingerprint, created_at, updated_at";

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

/// The upsert for `rows` seen contacts. `$1` tenant, `$2` credential, `$3` now; then 8 per row.
///
/// On conflict the existing id is kept; a timestamp the provider did not send keeps its known
/// value; deletion state follows what was seen (a contact seen alive is restored). `updated_at`
/// moves only when something indexed changed. The tenant guard stops a caller naming another
/// tenant's credential from touching its rows: such rows are neither updated nor returned.
fn upsert_sql(rows: usize) -> String {
    let mut sql = String::from(
        "INSERT INTO contact_index (id, tenant_id, credential_id, remote_id, remote_created_at, \
         remote_updated_at, remote_deleted, remote_deleted_at, deletion_detected_by, last_seen_at, \
         fingerprint, created_at, updated_at) VALUES ",
    );
    for i in 0..rows {
        let p = 4 + i * 8;
        if i > 0 {
            sql.push_str(", ");
        }
        sql.push_str(&format!(
            "(${}, $1, $2, ${}, ${}, ${}, ${}, ${}, ${}, $3, ${}, $3, $3)",
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
         remote_deleted = excluded.remote_deleted, \
         remote_deleted_at = excluded.remote_deleted_at, \
         deletion_detected_by = excluded.deletion_detected_by, \
         last_seen_at = excluded.last_seen_at, \
         fingerprint = excluded.fingerprint, \
         updated_at = CASE WHEN \
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
    sql
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
        if seen.is_empty() {
            return match self.get_credential(tenant, cred).await? {
                Some(_) => Ok(Vec::new()),
                None => Err(StoreError::NotFound),
            };
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
        let mut entries: HashMap<String, IndexEntry> = HashMap::with_capacity(rows.len());
        with_pool!(self, |pool| {
            let mut tx = pool.begin_write().await?;
            for chunk in rows.chunks(UPSERT_CHUNK) {
                let sql = upsert_sql(chunk.len());
                let mut query = sqlx::query_as::<_, IndexRow>(&sql)
                    .bind(tenant.as_str())
                    .bind(cred.as_str())
                    .bind(now_ms);
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
            tx.commit().await?;
        });
        seen.iter()
            .map(|s| {
                entries
                    .get(s.remote_id.as_str())
                    .cloned()
                    .ok_or(StoreError::NotFound)
            })
            .collect()
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
    pub async fn index_mark_deleted(
        &self,
        tenant: &TenantId,
        cred: &CredentialId,
        id: &ContactId,
        detected_by: DetectedBy,
        at: DateTime<Utc>,
    ) -> Result<IndexEntry> {
        let sql = format!(
            "UPDATE contact_index SET remote_deleted = $4, remote_deleted_at = $5, \
             deletion_detected_by = $6, updated_at = $7 \
             WHERE id = $1 AND tenant_id = $2 AND credential_id = $3 AND remote_deleted = $8 \
             RETURNING {COLUMNS}"
        );
        let row = with_pool!(self, |pool| {
            sqlx::query_as::<_, IndexRow>(&sql)
                .bind(id.as_str())
                .bind(tenant.as_str())
                .bind(cred.as_str())
                .bind(true)
                .bind(to_ms(truncate_ms(at)))
                .bind(detected_by.as_str())
                .bind(to_ms(crate::db::now()))
                .bind(false)
                .fetch_optional(pool)
                .await?
        });
        match row {
            Some(row) => row.try_into(),
            None => self
                .index_get(tenant, cred, id)
                .await?
                .ok_or(StoreError::NotFound),
        }
    }

    /// Drops an entry, after the contact was deleted through the gateway. `NotFound` if there
    /// is no such entry.
    pub async fn index_remove(
        &self,
        tenant: &TenantId,
        cred: &CredentialId,
        id: &ContactId,
    ) -> Result<()> {
        let n = with_pool!(self, |pool| {
            sqlx::query(
                "DELETE FROM contact_index WHERE id = $1 AND tenant_id = $2 AND credential_id = $3",
            )
            .bind(id.as_str())
            .bind(tenant.as_str())
            .bind(cred.as_str())
            .execute(pool)
            .await?
            .rows_affected()
        });
        if n == 0 {
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
