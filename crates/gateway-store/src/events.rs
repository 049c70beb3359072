//! The change feed (`GET /events`): one row per change of the contact index, written in the
//! same transaction as the change itself, read back in `sequence` order per tenant.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use gateway_core::{ContactId, CredentialId, EventId, RemoteId, TenantId};
use serde::Serialize;
use serde_json::Value;

use crate::db::{from_ms, with_pool, Store};
use crate::error::{corrupt, ParseEnumError, Result};

/// What happened to a contact.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, utoipa::ToSchema)]
pub enum EventType {
    /// Created through the gateway.
    #[serde(rename = "contact.created")]
    Created,
    /// Updated through the gateway.
    #[serde(rename = "contact.updated")]
    Updated,
    /// Deleted through the gateway.
    #[serde(rename = "contact.deleted")]
    Deleted,
    /// Seen for the first time in a provider answer (created outside the gateway).
    #[serde(rename = "contact.discovered")]
    Discovered,
    /// Found deleted in the provider (native tombstone, confirmed diff, or a 404 on use).
    #[serde(rename = "contact.remote_deleted")]
    RemoteDeleted,
    /// Flagged deleted before, seen alive again.
    #[serde(rename = "contact.restored")]
    Restored,
}

impl EventType {
    /// The stored and serialised name.
    pub fn as_str(self) -> &'static str {
        match self {
            EventType::Created => "contact.created",
            EventType::Updated => "contact.updated",
            EventType::Deleted => "contact.deleted",
            EventType::Discovered => "contact.discovered",
            EventType::RemoteDeleted => "contact.remote_deleted",
            EventType::Restored => "contact.restored",
        }
    }
}

impl fmt::Display for EventType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for EventType {
    type Err = ParseEnumError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(match s {
            "contact.created" => EventType::Created,
            "contact.updated" => EventType::Updated,
            "contact.deleted" => EventType::Deleted,
            "contact.discovered" => EventType::Discovered,
            "contact.remote_deleted" => EventType::RemoteDeleted,
            "contact.restored" => EventType::Restored,
            other => {
                return Err(ParseEnumError {
                    kind: "event type",
                    value: other.to_owned(),
                })
            }
        })
    }
}

/// One entry of the change feed.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Event {
    /// The event's id.
    pub id: EventId,
    /// Position in the feed: strictly increasing in commit order.
    pub sequence: i64,
    /// What happened.
    #[serde(rename = "type")]
    pub event_type: EventType,
    /// The owning tenant.
    #[serde(skip)]
    pub tenant_id: TenantId,
    /// The credential.
    pub credential_id: CredentialId,
    /// The gateway's contact id.
    pub contact_id: Option<ContactId>,
    /// The provider's id.
    pub remote_id: Option<RemoteId>,
    /// When the change was written.
    pub occurred_at: DateTime<Utc>,
    /// Detail: how a deletion was detected, the run that found it, …
    pub data: Value,
}

/// An event to write with an index change.
#[derive(Debug, Clone)]
pub(crate) struct NewEvent {
    pub(crate) event_type: EventType,
    pub(crate) contact_id: Option<String>,
    pub(crate) remote_id: Option<String>,
    pub(crate) data: Value,
}

/// Rows per event insert statement (8 parameters each).
pub(crate) const EVENT_CHUNK: usize = 200;

/// Inserts events as the LAST statements of a write transaction `$tx`. On PostgreSQL it first
/// takes a transaction-level advisory lock, so transactions that write events commit in the
/// order their sequence values were drawn and a reader paging by `sequence` never skips one
/// (SQLite has a single writer already). A macro rather than a function: the body compiles
/// once per backend inside `with_pool!`.
macro_rules! write_events {
    ($tx:expr, $postgres:expr, $tenant:expr, $cred:expr, $now_ms:expr, $events:expr) => {{
        let events: &[$crate::events::NewEvent] = $events;
        if !events.is_empty() {
            if $postgres {
                sqlx::query("SELECT pg_advisory_xact_lock(7243190551)")
                    .execute(&mut *$tx)
                    .await?;
            }
            // The tenant's own number (`tenant_sequence`) is assigned by a trigger from a
            // counter on the tenant (migration 0007), for every writer.
            for chunk in events.chunks($crate::events::EVENT_CHUNK) {
                let sql = $crate::events::insert_sql(chunk.len());
                let mut q = sqlx::query(&sql).bind($tenant).bind($cred).bind($now_ms);
                for e in chunk {
                    q = q
                        .bind(gateway_core::EventId::generate().to_string())
                        .bind(e.event_type.as_str())
                        .bind(e.contact_id.as_deref())
                        .bind(e.remote_id.as_deref())
                        .bind(e.data.to_string());
                }
                q.execute(&mut *$tx).await?;
            }
        }
    }};
}
pub(crate) use write_events;

/// `$1` tenant, `$2` credential, `$3` time; then 5 per row.
pub(crate) fn insert_sql(rows: usize) -> String {
    let mut sql = String::from(
        "INSERT INTO events (tenant_id, credential_id, occurred_at, id, type, contact_id, remote_id, data) VALUES ",
    );
    for i in 0..rows {
        let p = 4 + i * 5;
        if i > 0 {
            sql.push_str(", ");
        }
        sql.push_str(&format!(
            "($1, $2, $3, ${}, ${}, ${}, ${}, ${})",
            p,
            p + 1,
            p + 2,
            p + 3,
            p + 4
        ));
    }
    sql
}

#[derive(sqlx::FromRow)]
struct EventRow {
    sequence: i64,
    id: String,
    tenant_id: String,
    credential_id: String,
    #[sqlx(rename = "type")]
    event_type: String,
    contact_id: Option<String>,
    remote_id: Option<String>,
    occurred_at: i64,
    data: String,
}

impl TryFrom<EventRow> for Event {
    type Error = crate::error::StoreError;
    fn try_from(row: EventRow) -> Result<Self> {
        Ok(Event {
            id: EventId::parse(&row.id).map_err(corrupt)?,
            sequence: row.sequence,
            event_type: row.event_type.parse().map_err(corrupt)?,
            tenant_id: TenantId::parse(&row.tenant_id).map_err(corrupt)?,
            credential_id: CredentialId::parse(&row.credential_id).map_err(corrupt)?,
            contact_id: row
                .contact_id
                .map(|c| ContactId::parse(&c))
                .transpose()
                .map_err(corrupt)?,
            remote_id: row.remote_id.map(RemoteId),
            occurred_at: from_ms(row.occurred_at)?,
            data: serde_json::from_str(&row.data).map_err(corrupt)?,
        })
    }
}

impl Store {
    /// Up to `limit` of the tenant's events with a sequence above `after`, oldest first,
    /// optionally of one credential only.
    pub async fn events_after(
        &self,
        tenant: &TenantId,
        credential: Option<&CredentialId>,
        after: i64,
        limit: u32,
    ) -> Result<Vec<Event>> {
        // The tenant's own count is the feed's cursor (migration 0007).
        let cols = "tenant_sequence AS sequence, id, tenant_id, credential_id, type, contact_id, remote_id, occurred_at, data";
        let rows = with_pool!(self, |pool| {
            match credential {
                Some(cred) => {
                    sqlx::query_as::<_, EventRow>(&format!(
                        "SELECT {cols} FROM events WHERE tenant_id = $1 AND credential_id = $2 \
                         AND tenant_sequence > $3 ORDER BY tenant_sequence LIMIT $4"
                    ))
                    .bind(tenant.as_str())
                    .bind(cred.as_str())
                    .bind(after)
                    .bind(i64::from(limit))
                    .fetch_all(pool)
                    .await?
                }
                None => {
                    sqlx::query_as::<_, EventRow>(&format!(
                        "SELECT {cols} FROM events WHERE tenant_id = $1 AND tenant_sequence > $2 \
                         ORDER BY tenant_sequence LIMIT $3"
                    ))
                    .bind(tenant.as_str())
                    .bind(after)
                    .bind(i64::from(limit))
                    .fetch_all(pool)
                    .await?
                }
            }
        });
        rows.into_iter().map(Event::try_from).collect()
    }
}
