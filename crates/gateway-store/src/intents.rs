//! Write intents: a create sent under an `Idempotency-Key` whose outcome may be unknown
//! (migration 0004, docs/operations.md "Writes whose outcome is unknown"). The API opens one
//! before the provider call and the index write settles it in the same transaction; one left
//! open is resolved by a reconciliation pass: adopted when a listed contact carries its
//! identity, absent when a complete listing that started after it settled did not show one.

use chrono::{DateTime, Utc};
use gateway_core::{ContactId, CreateMatch, CredentialId, RemoteId, TenantId};

use crate::db::{from_ms, to_ms, with_pool, BeginWrite as _};
use crate::error::{corrupt, Result};

/// Where an intent stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IntentState {
    /// Sent, outcome not known yet.
    Open,
    /// The create made this contact.
    Adopted {
        /// The gateway's id.
        contact_id: ContactId,
        /// The provider's id.
        remote_id: RemoteId,
    },
    /// A complete listing after it settled showed no such contact: it was never made.
    Absent,
}

/// One intent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Intent {
    /// The tenant.
    pub tenant_id: TenantId,
    /// The client's key.
    pub key: String,
    /// The credential the create was sent with.
    pub credential_id: CredentialId,
    /// Where it stands.
    pub state: IntentState,
    /// The identity digests.
    pub matcher: CreateMatch,
    /// When the create was sent.
    pub sent_at: DateTime<Utc>,
    /// From when the provider can no longer apply it.
    pub settle_at: DateTime<Utc>,
}

#[derive(sqlx::FromRow)]
struct Row {
    tenant_id: String,
    idempotency_key: String,
    credential_id: String,
    state: String,
    match_names: String,
    match_email: Option<String>,
    match_phone: Option<String>,
    sent_at: i64,
    settle_at: i64,
    contact_id: Option<String>,
    remote_id: Option<String>,
}

const COLUMNS: &str = "tenant_id, idempotency_key, credential_id, state, match_names, \
                       match_email, match_phone, sent_at, settle_at, contact_id, remote_id";

impl TryFrom<Row> for Intent {
    type Error = crate::StoreError;
    fn try_from(r: Row) -> Result<Self> {
        let state = match (r.state.as_str(), r.contact_id, r.remote_id) {
            ("open", _, _) => IntentState::Open,
            ("absent", _, _) => IntentState::Absent,
            ("adopted", Some(c), Some(remote)) => IntentState::Adopted {
                contact_id: ContactId::parse(&c).map_err(corrupt)?,
                remote_id: RemoteId(remote),
            },
            (other, _, _) => return Err(corrupt(format!("write intent state {other:?}"))),
        };
        Ok(Intent {
            tenant_id: TenantId::parse(&r.tenant_id).map_err(corrupt)?,
            key: r.idempotency_key,
            credential_id: CredentialId::parse(&r.credential_id).map_err(corrupt)?,
            state,
            matcher: CreateMatch {
                names: r.match_names,
                email: r.match_email,
                phone: r.match_phone,
            },
            sent_at: from_ms(r.sent_at)?,
            settle_at: from_ms(r.settle_at)?,
        })
    }
}

impl crate::Store {
    /// The intent of `key` that has not expired by `now`, if any.
    pub async fn intent_get(
        &self,
        tenant: &TenantId,
        key: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<Intent>> {
        let sql = format!(
            "SELECT {COLUMNS} FROM write_intents WHERE tenant_id = $1 AND idempotency_key = $2 \
             AND expires_at > $3"
        );
        let row: Option<Row> = with_pool!(self, |pool| {
            sqlx::query_as(&sql)
                .bind(tenant.as_str())
                .bind(key)
                .bind(to_ms(now))
                .fetch_optional(pool)
                .await?
        });
        row.map(Intent::try_from).transpose()
    }

    /// Opens (or re-opens) the intent of a create about to be sent. `settle_at` bounds how
    /// long the provider could still apply it if nobody hears back.
    #[allow(clippy::too_many_arguments)]
    pub async fn intent_open(
        &self,
        tenant: &TenantId,
        key: &str,
        cred: &CredentialId,
        matcher: &CreateMatch,
        now: DateTime<Utc>,
        settle_at: DateTime<Utc>,
        expires_at: DateTime<Utc>,
    ) -> Result<()> {
        with_pool!(self, |pool| {
            sqlx::query(
                "INSERT INTO write_intents (tenant_id, idempotency_key, credential_id, state, \
                 match_names, match_email, match_phone, sent_at, settle_at, expires_at) \
                 VALUES ($1, $2, $3, 'open', $4, $5, $6, $7, $8, $9) \
                 ON CONFLICT (tenant_id, idempotency_key) DO UPDATE SET \
                 credential_id = excluded.credential_id, state = 'open', \
                 match_names = excluded.match_names, match_email = excluded.match_email, \
                 match_phone = excluded.match_phone, sent_at = excluded.sent_at, \
                 settle_at = excluded.settle_at, expires_at = excluded.expires_at, \
                 contact_id = NULL, remote_id = NULL, resolved_at = NULL",
            )
            .bind(tenant.as_str())
            .bind(key)
            .bind(cred.as_str())
            .bind(&matcher.names)
            .bind(matcher.email.as_deref())
            .bind(matcher.phone.as_deref())
            .bind(to_ms(now))
            .bind(to_ms(settle_at))
            .bind(to_ms(expires_at))
            .execute(pool)
            .await?;
        });
        Ok(())
    }

    /// Moves an open intent's settle time (the attempt ended: the provider answered, or the
    /// gateway gave up waiting and the request may still be running there).
    pub async fn intent_settle_at(
        &self,
        tenant: &TenantId,
        key: &str,
        settle_at: DateTime<Utc>,
    ) -> Result<()> {
        with_pool!(self, |pool| {
            sqlx::query(
                "UPDATE write_intents SET settle_at = $3 \
                 WHERE tenant_id = $1 AND idempotency_key = $2 AND state = 'open'",
            )
            .bind(tenant.as_str())
            .bind(key)
            .bind(to_ms(settle_at))
            .execute(pool)
            .await?;
        });
        Ok(())
    }

    /// Forgets an intent (the provider refused the create: nothing was made).
    pub async fn intent_delete(&self, tenant: &TenantId, key: &str) -> Result<()> {
        with_pool!(self, |pool| {
            sqlx::query("DELETE FROM write_intents WHERE tenant_id = $1 AND idempotency_key = $2")
                .bind(tenant.as_str())
                .bind(key)
                .execute(pool)
                .await?;
        });
        Ok(())
    }

    /// The open intents of a credential, oldest first.
    pub async fn intents_open(&self, cred: &CredentialId) -> Result<Vec<Intent>> {
        let sql = format!(
            "SELECT {COLUMNS} FROM write_intents WHERE credential_id = $1 AND state = 'open' \
             ORDER BY sent_at, idempotency_key"
        );
        let rows: Vec<Row> = with_pool!(self, |pool| {
            sqlx::query_as(&sql)
                .bind(cred.as_str())
                .fetch_all(pool)
                .await?
        });
        rows.into_iter().map(Intent::try_from).collect()
    }

    /// Adopts the index entry `contact` for an open intent: only an entry nobody created
    /// through the gateway, first indexed after the create was sent, and only once. True when
    /// adopted.
    pub async fn intent_adopt(
        &self,
        intent: &Intent,
        contact: &ContactId,
        now: DateTime<Utc>,
    ) -> Result<bool> {
        let adopted = with_pool!(self, |pool| {
            let mut tx = pool.begin_write().await?;
            let remote: Option<String> = sqlx::query_scalar(
                "UPDATE contact_index SET created_via = 'recovered' \
                 WHERE id = $1 AND tenant_id = $2 AND credential_id = $3 \
                 AND created_via IS NULL AND created_at >= $4 RETURNING remote_id",
            )
            .bind(contact.as_str())
            .bind(intent.tenant_id.as_str())
            .bind(intent.credential_id.as_str())
            .bind(to_ms(intent.sent_at))
            .fetch_optional(&mut *tx)
            .await?;
            let Some(remote) = remote else {
                return Ok(false);
            };
            let n = sqlx::query(
                "UPDATE write_intents SET state = 'adopted', contact_id = $3, remote_id = $4, \
                 resolved_at = $5 WHERE tenant_id = $1 AND idempotency_key = $2 AND state = 'open'",
            )
            .bind(intent.tenant_id.as_str())
            .bind(&intent.key)
            .bind(contact.as_str())
            .bind(&remote)
            .bind(to_ms(now))
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if n != 1 {
                // Resolved elsewhere meanwhile: leave the contact unclaimed (rolled back).
                return Ok(false);
            }
            tx.commit().await?;
            true
        });
        Ok(adopted)
    }

    /// After a complete listing that started at `listing_started`: every open intent of the
    /// credential that had settled by then and was not adopted was never made. Answers how many.
    pub async fn intents_mark_absent(
        &self,
        cred: &CredentialId,
        listing_started: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<u64> {
        let n = with_pool!(self, |pool| {
            sqlx::query(
                "UPDATE write_intents SET state = 'absent', resolved_at = $3 \
                 WHERE credential_id = $1 AND state = 'open' AND settle_at <= $2",
            )
            .bind(cred.as_str())
            .bind(to_ms(listing_started))
            .bind(to_ms(now))
            .execute(pool)
            .await?
            .rows_affected()
        });
        Ok(n)
    }

    /// Deletes intents that expired by `now`; answers how many.
    pub async fn intents_purge_expired(&self, now: DateTime<Utc>) -> Result<u64> {
        let n = with_pool!(self, |pool| {
            sqlx::query("DELETE FROM write_intents WHERE expires_at <= $1")
                .bind(to_ms(now))
                .execute(pool)
                .await?
                .rows_affected()
        });
        Ok(n)
    }
}
