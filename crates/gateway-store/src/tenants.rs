//! Tenants and their API keys (docs/operations.md): keys carry 256 random bits, are shown once, and
//! only their SHA-256 hash is stored and compared in constant time.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use chrono::{DateTime, Utc};
use gateway_core::{ApiKeyId, TenantId};
use rand::rngs::OsRng;
use rand::RngCore;
use secrecy::zeroize::Zeroizing;
use secrecy::{ExposeSecret, SecretString};
use serde::Serialize;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::db::{from_ms, now, to_ms, with_pool, BeginWrite, Store};
use crate::error::{classify, corrupt, Result, StoreError};

/// Every key starts with this, so leaked keys are easy to recognise by secret scanners.
const KEY_PREFIX: &str = "cgw_";
const KEY_ID_HEX_LEN: usize = 32;
const SECRET_BYTES: usize = 32;
/// base64url without padding of 32 bytes.
const SECRET_B64_LEN: usize = 43;

/// A tenant: one SaaS product using the gateway.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Tenant {
    /// The tenant's id.
    pub id: TenantId,
    /// A display name chosen by the operator.
    pub name: String,
    /// When the tenant was created.
    pub created_at: DateTime<Utc>,
}

/// A newly issued API key. `api_key` exists only here: the store keeps its hash, so this is
/// the one chance to show it. `Debug` redacts it.
#[derive(Debug)]
pub struct IssuedKey {
    /// The key's public id, used to revoke it.
    pub key_id: ApiKeyId,
    /// `cgw_<key id hex>_<base64url of 32 random bytes>`.
    pub api_key: SecretString,
}

#[derive(sqlx::FromRow)]
struct TenantRow {
    id: String,
    name: String,
    created_at: i64,
}

impl TryFrom<TenantRow> for Tenant {
    type Error = StoreError;
    fn try_from(row: TenantRow) -> Result<Self> {
        Ok(Tenant {
            id: TenantId::parse(&row.id).map_err(corrupt)?,
            name: row.name,
            created_at: from_ms(row.created_at)?,
        })
    }
}

#[derive(sqlx::FromRow)]
struct KeyRow {
    tenant_id: String,
    key_hash: Vec<u8>,
    last_used_at: Option<i64>,
}

/// How stale a key's `last_used_at` may get before a request refreshes it: a write per request
/// would make every read a write (SQLite has one writer), and a minute is precise enough to
/// tell a key in use from a forgotten one.
const LAST_USED_RESOLUTION_MS: i64 = 60_000;

/// One API key as the admin API lists it: ids and times, never the key or its hash.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ApiKeyInfo {
    /// The key's id.
    pub id: ApiKeyId,
    /// When it was issued.
    pub created_at: DateTime<Utc>,
    /// When it last authenticated a request (to the minute), if ever.
    pub last_used_at: Option<DateTime<Utc>>,
    /// When it was revoked, if it was.
    pub revoked_at: Option<DateTime<Utc>>,
}

#[derive(sqlx::FromRow)]
struct KeyInfoRow {
    id: String,
    created_at: i64,
    last_used_at: Option<i64>,
    revoked_at: Option<i64>,
}

impl TryFrom<KeyInfoRow> for ApiKeyInfo {
    type Error = StoreError;
    fn try_from(row: KeyInfoRow) -> Result<Self> {
        Ok(ApiKeyInfo {
            id: ApiKeyId::parse(&row.id).map_err(corrupt)?,
            created_at: from_ms(row.created_at)?,
            last_used_at: row.last_used_at.map(from_ms).transpose()?,
            revoked_at: row.revoked_at.map(from_ms).transpose()?,
        })
    }
}

/// A fresh key for `key_id` and the hash to store for it.
fn new_key(key_id: &ApiKeyId) -> (IssuedKey, Vec<u8>) {
    let mut secret = Zeroizing::new([0u8; SECRET_BYTES]);
    OsRng.fill_bytes(secret.as_mut());
    let hex = key_id.as_str().trim_start_matches(ApiKeyId::PREFIX);
    let api_key = SecretString::from(format!(
        "{KEY_PREFIX}{hex}_{}",
        URL_SAFE_NO_PAD.encode(secret.as_ref())
    ));
    let hash = hash_key(api_key.expose_secret());
    (
        IssuedKey {
            key_id: key_id.clone(),
            api_key,
        },
        hash,
    )
}

fn hash_key(key: &str) -> Vec<u8> {
    Sha256::digest(key.as_bytes()).to_vec()
}

/// The key id a presented key claims, if it has the exact shape of an issued key. Checking the
/// shape first keeps arbitrary input away from the database.
fn parse_key_id(presented: &str) -> Option<ApiKeyId> {
    let rest = presented.strip_prefix(KEY_PREFIX)?;
    let hex = rest.get(..KEY_ID_HEX_LEN)?;
    let secret = rest.get(KEY_ID_HEX_LEN..)?.strip_prefix('_')?;
    let base64url = |b: u8| b.is_ascii_alphanumeric() || b == b'-' || b == b'_';
    if secret.len() != SECRET_B64_LEN || !secret.bytes().all(base64url) {
        return None;
    }
    ApiKeyId::parse(&format!("{}{hex}", ApiKeyId::PREFIX)).ok()
}

impl Store {
    /// Creates a tenant and its first API key.
    pub async fn create_tenant(&self, name: &str) -> Result<(Tenant, IssuedKey)> {
        let tenant = Tenant {
            id: TenantId::generate(),
            name: name.to_owned(),
            created_at: now(),
        };
        let (issued, hash) = new_key(&ApiKeyId::generate());
        with_pool!(self, |pool| {
            let mut tx = pool.begin_write().await?;
            sqlx::query("INSERT INTO tenants (id, name, created_at) VALUES ($1, $2, $3)")
                .bind(tenant.id.as_str())
                .bind(&tenant.name)
                .bind(to_ms(tenant.created_at))
                .execute(&mut *tx)
                .await?;
            sqlx::query("INSERT INTO api_keys (id, tenant_id, key_hash, created_at) VALUES ($1, $2, $3, $4)")
                .bind(issued.key_id.as_str())
                .bind(tenant.id.as_str())
                .bind(&hash)
                .bind(to_ms(tenant.created_at))
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
        });
        Ok((tenant, issued))
    }

    /// A tenant by id.
    pub async fn get_tenant(&self, id: &TenantId) -> Result<Option<Tenant>> {
        let row = with_pool!(self, |pool| {
            sqlx::query_as::<_, TenantRow>("SELECT id, name, created_at FROM tenants WHERE id = $1")
                .bind(id.as_str())
                .fetch_optional(pool)
                .await?
        });
        row.map(Tenant::try_from).transpose()
    }

    /// Up to `limit` tenants with ids after `after`, by id (creation order). Ask for one more
    /// than a page to learn whether another page follows.
    pub async fn list_tenants(&self, after: Option<&TenantId>, limit: u32) -> Result<Vec<Tenant>> {
        // Every id sorts after the empty string, so the first page needs no second query shape.
        let after = after.map(TenantId::as_str).unwrap_or("");
        let rows = with_pool!(self, |pool| {
            sqlx::query_as::<_, TenantRow>(
                "SELECT id, name, created_at FROM tenants WHERE id > $1 ORDER BY id LIMIT $2",
            )
            .bind(after)
            .bind(i64::from(limit))
            .fetch_all(pool)
            .await?
        });
        rows.into_iter().map(Tenant::try_from).collect()
    }

    /// Up to `limit` of a tenant's keys (revoked ones too) with ids after `after`, by id.
    /// `NotFound` when the tenant does not exist.
    pub async fn list_api_keys(
        &self,
        tenant: &TenantId,
        after: Option<&ApiKeyId>,
        limit: u32,
    ) -> Result<Vec<ApiKeyInfo>> {
        if self.get_tenant(tenant).await?.is_none() {
            return Err(StoreError::NotFound);
        }
        let after = after.map(ApiKeyId::as_str).unwrap_or("");
        let rows = with_pool!(self, |pool| {
            sqlx::query_as::<_, KeyInfoRow>(
                "SELECT id, created_at, last_used_at, revoked_at FROM api_keys \
                 WHERE tenant_id = $1 AND id > $2 ORDER BY id LIMIT $3",
            )
            .bind(tenant.as_str())
            .bind(after)
            .bind(i64::from(limit))
            .fetch_all(pool)
            .await?
        });
        rows.into_iter().map(ApiKeyInfo::try_from).collect()
    }

    /// Deletes a tenant and everything of it in one transaction: its keys, credentials (the
    /// sealed secrets with them), contact index, reconciliation runs and schedule, events,
    /// idempotency keys and write intents. `NotFound` when the tenant does not exist.
    pub async fn delete_tenant(&self, tenant: &TenantId) -> Result<()> {
        // Children first and explicitly: the foreign keys cascade too, but not every table has
        // one to `tenants`, and a SQLite connection opened elsewhere may run without
        // `PRAGMA foreign_keys`.
        const TABLES: [&str; 9] = [
            "write_intents",
            "idempotency_keys",
            "events",
            "reconcile_runs",
            "reconcile_schedule",
            "contact_index",
            "credentials",
            "api_keys",
            "tenants",
        ];
        let deleted = with_pool!(self, |pool| {
            let mut tx = pool.begin_write().await?;
            let mut n = 0;
            for table in TABLES {
                let column = if table == "tenants" {
                    "id"
                } else {
                    "tenant_id"
                };
                n = sqlx::query(&format!("DELETE FROM {table} WHERE {column} = $1"))
                    .bind(tenant.as_str())
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
            }
            tx.commit().await?;
            n
        });
        if deleted == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    /// Issues another key for a tenant (`NotFound` if the tenant does not exist).
    pub async fn create_api_key(&self, tenant: &TenantId) -> Result<IssuedKey> {
        let (issued, hash) = new_key(&ApiKeyId::generate());
        with_pool!(self, |pool| {
            sqlx::query("INSERT INTO api_keys (id, tenant_id, key_hash, created_at) VALUES ($1, $2, $3, $4)")
                .bind(issued.key_id.as_str())
                .bind(tenant.as_str())
                .bind(&hash)
                .bind(to_ms(now()))
                .execute(pool)
                .await
                .map_err(|e| classify(e, "API key"))?;
        });
        Ok(issued)
    }

    /// Revokes one of the tenant's keys. Revoking an already revoked key succeeds; another
    /// tenant's key id is `NotFound`, like an unknown one.
    pub async fn revoke_api_key(&self, tenant: &TenantId, key: &ApiKeyId) -> Result<()> {
        let done = with_pool!(self, |pool| {
            sqlx::query(
                "UPDATE api_keys SET revoked_at = COALESCE(revoked_at, $3) WHERE id = $1 AND tenant_id = $2",
            )
            .bind(key.as_str())
            .bind(tenant.as_str())
            .bind(to_ms(now()))
            .execute(pool)
            .await?
            .rows_affected()
        });
        if done == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    /// The tenant a presented key belongs to; `None` for a malformed, unknown or revoked key or
    /// a wrong secret half.
    pub async fn authenticate(&self, presented_key: &str) -> Result<Option<TenantId>> {
        let Some(key_id) = parse_key_id(presented_key) else {
            return Ok(None);
        };
        let row = with_pool!(self, |pool| {
            sqlx::query_as::<_, KeyRow>(
                "SELECT tenant_id, key_hash, last_used_at FROM api_keys \
                 WHERE id = $1 AND revoked_at IS NULL",
            )
            .bind(key_id.as_str())
            .fetch_optional(pool)
            .await?
        });
        let Some(row) = row else {
            return Ok(None);
        };
        let presented_hash = hash_key(presented_key);
        if bool::from(presented_hash.as_slice().ct_eq(row.key_hash.as_slice())) {
            let tenant = TenantId::parse(&row.tenant_id).map_err(corrupt)?;
            let at = to_ms(now());
            if row
                .last_used_at
                .is_none_or(|last| at - last >= LAST_USED_RESOLUTION_MS)
            {
                // The condition in SQL too: of concurrent requests only one writes. A failed
                // write (a busy database) costs only the record's precision, never the request.
                let _ = with_pool!(self, |pool| {
                    sqlx::query(
                        "UPDATE api_keys SET last_used_at = $2 WHERE id = $1 \
                         AND (last_used_at IS NULL OR last_used_at <= $3)",
                    )
                    .bind(key_id.as_str())
                    .bind(at)
                    .bind(at - LAST_USED_RESOLUTION_MS)
                    .execute(pool)
                    .await
                    .map(|_| ())
                });
            }
            Ok(Some(tenant))
        } else {
            Ok(None)
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn issued_keys_parse_back_to_their_id() {
        let id = ApiKeyId::generate();
        let (issued, hash) = new_key(&id);
        let key = issued.api_key.expose_secret();
        assert_eq!(
            key.len(),
            KEY_PREFIX.len() + KEY_ID_HEX_LEN + 1 + SECRET_B64_LEN
        );
        assert_eq!(parse_key_id(key), Some(id));
        assert_eq!(hash, hash_key(key));
    }

    #[test]
    fn malformed_keys_do_not_parse() {
        let id = ApiKeyId::generate();
        let (issued, _) = new_key(&id);
        let key = issued.api_key.expose_secret();
        for bad in [
            "",
            "cgw_",
            "Bearer x",
            &key[1..],
            &format!("{key}A"),
            &key.replace("cgw_", "cgx_"),
        ] {
            assert_eq!(parse_key_id(bad), None, "{bad:?}");
        }
    }
}
