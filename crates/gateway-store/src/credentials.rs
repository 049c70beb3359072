//! Credentials (docs/operations.md): per-tenant provider accounts whose secret is sealed with the
//! master key ring and the credential id as associated data, and never leaves the store except
//! through `credential_secret`.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use gateway_core::{CredentialId, ProviderKind, TenantId};
use secrecy::zeroize::Zeroize;
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::crypto::Sealed;
use crate::db::{from_ms, now, opt_from_ms, to_ms, truncate_ms, with_pool, BeginWrite, Store};
use crate::error::{classify, corrupt, ParseEnumError, Result, StoreError};

/// The last known state of a credential against its provider (`POST /credentials/{id}/check`).
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Health {
    /// Never checked.
    #[default]
    Unknown,
    /// The provider accepted the secret.
    Ok,
    /// The provider refused the secret (its 401/403): someone must supply a new one.
    NeedsReauth,
    /// The provider could not be reached or answered 5xx.
    Unreachable,
    /// The provider rate-limited the check.
    RateLimited,
    /// The secret works but the settings do not (e.g. a wrong workspace).
    Misconfigured,
}

impl Health {
    /// The stored and serialised name.
    pub fn as_str(self) -> &'static str {
        match self {
            Health::Unknown => "unknown",
            Health::Ok => "ok",
            Health::NeedsReauth => "needs_reauth",
            Health::Unreachable => "unreachable",
            Health::RateLimited => "rate_limited",
            Health::Misconfigured => "misconfigured",
        }
    }
}

impl fmt::Display for Health {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Health {
    type Err = ParseEnumError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(match s {
            "unknown" => Health::Unknown,
            "ok" => Health::Ok,
            "needs_reauth" => Health::NeedsReauth,
            "unreachable" => Health::Unreachable,
            "rate_limited" => Health::RateLimited,
            "misconfigured" => Health::Misconfigured,
            other => {
                return Err(ParseEnumError {
                    kind: "health",
                    value: other.to_owned(),
                })
            }
        })
    }
}

/// A credential to store. The caller generates the id so it can serve as the associated data
/// before the row exists. `Debug` redacts the secret.
#[derive(Debug)]
pub struct NewCredential {
    /// The new credential's id.
    pub id: CredentialId,
    /// The provider it authenticates against.
    pub provider: ProviderKind,
    /// A display name.
    pub name: String,
    /// Provider settings, already validated by the caller.
    pub settings: Value,
    /// Free-form labels.
    pub tags: BTreeMap<String, String>,
    /// The provider secret, sealed before it is written.
    pub secret: SecretString,
}

/// A change to a credential; `None` leaves a field as it is, a `secret` re-seals with a fresh
/// nonce under the current master key.
#[derive(Debug, Default)]
pub struct CredentialPatch {
    /// A new display name.
    pub name: Option<String>,
    /// Replacement settings (whole object).
    pub settings: Option<Value>,
    /// Replacement tags (whole map).
    pub tags: Option<BTreeMap<String, String>>,
    /// A new secret (rotation).
    pub secret: Option<SecretString>,
}

/// A stored credential without its secret.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CredentialRecord {
    /// The credential's id.
    pub id: CredentialId,
    /// The owning tenant.
    pub tenant_id: TenantId,
    /// The provider it authenticates against.
    pub provider: ProviderKind,
    /// A display name.
    pub name: String,
    /// Provider settings.
    pub settings: Value,
    /// Free-form labels.
    pub tags: BTreeMap<String, String>,
    /// The last check's result.
    pub health: Health,
    /// What the last check said, if anything.
    pub health_detail: Option<String>,
    /// When the last check ran.
    pub health_checked_at: Option<DateTime<Utc>>,
    /// When the credential was stored.
    pub created_at: DateTime<Utc>,
    /// When the credential last changed (health checks do not count).
    pub updated_at: DateTime<Utc>,
}

const COLUMNS: &str = "id, tenant_id, provider, name, settings, tags, health, health_detail, \
                       health_checked_at, created_at, updated_at";

#[derive(sqlx::FromRow)]
struct CredentialRow {
    id: String,
    tenant_id: String,
    provider: String,
    name: String,
    settings: String,
    tags: String,
    health: String,
    health_detail: Option<String>,
    health_checked_at: Option<i64>,
    created_at: i64,
    updated_at: i64,
}

impl TryFrom<CredentialRow> for CredentialRecord {
    type Error = StoreError;
    fn try_from(row: CredentialRow) -> Result<Self> {
        Ok(CredentialRecord {
            id: CredentialId::parse(&row.id).map_err(corrupt)?,
            tenant_id: TenantId::parse(&row.tenant_id).map_err(corrupt)?,
            provider: row.provider.parse().map_err(corrupt)?,
            name: row.name,
            settings: serde_json::from_str(&row.settings).map_err(corrupt)?,
            tags: serde_json::from_str(&row.tags).map_err(corrupt)?,
            health: row.health.parse().map_err(corrupt)?,
            health_detail: row.health_detail,
            health_checked_at: opt_from_ms(row.health_checked_at)?,
            created_at: from_ms(row.created_at)?,
            updated_at: from_ms(row.updated_at)?,
        })
    }
}

#[derive(sqlx::FromRow)]
struct SealedRow {
    secret_ciphertext: Vec<u8>,
    secret_nonce: Vec<u8>,
    secret_key_version: i64,
}

impl SealedRow {
    fn sealed(self) -> Result<Sealed> {
        Ok(Sealed {
            key_version: u32::try_from(self.secret_key_version).map_err(corrupt)?,
            nonce: self.secret_nonce,
            ciphertext: self.secret_ciphertext,
        })
    }
}

fn to_json<T: Serialize>(value: &T) -> Result<String> {
    // Serialising a Value or a string map cannot fail; mapped rather than unwrapped anyway.
    serde_json::to_string(value).map_err(|e| StoreError::Database(sqlx::Error::Encode(Box::new(e))))
}

impl Store {
    /// Seals the secret and stores a new credential. `NotFound` if the tenant does not exist,
    /// `Conflict` if the id is taken.
    pub async fn create_credential(
        &self,
        tenant: &TenantId,
        new: NewCredential,
    ) -> Result<CredentialRecord> {
        let sealed = self
            .cipher()
            .encrypt(new.id.as_str(), new.secret.expose_secret().as_bytes())?;
        let at = now();
        let record = CredentialRecord {
            id: new.id,
            tenant_id: tenant.clone(),
            provider: new.provider,
            name: new.name,
            settings: new.settings,
            tags: new.tags,
            health: Health::Unknown,
            health_detail: None,
            health_checked_at: None,
            created_at: at,
            updated_at: at,
        };
        let settings = to_json(&record.settings)?;
        let tags = to_json(&record.tags)?;
        with_pool!(self, |pool| {
            sqlx::query(
                "INSERT INTO credentials (id, tenant_id, provider, name, settings, tags, \
                 secret_ciphertext, secret_nonce, secret_key_version, health, created_at, updated_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $11)",
            )
            .bind(record.id.as_str())
            .bind(tenant.as_str())
            .bind(record.provider.as_str())
            .bind(&record.name)
            .bind(&settings)
            .bind(&tags)
            .bind(&sealed.ciphertext)
            .bind(&sealed.nonce)
            .bind(i64::from(sealed.key_version))
            .bind(record.health.as_str())
            .bind(to_ms(at))
            .execute(pool)
            .await
            .map_err(|e| classify(e, "credential"))?;
        });
        Ok(record)
    }

    /// One of the tenant's credentials; another tenant's is `None`, like an unknown id.
    pub async fn get_credential(
        &self,
        tenant: &TenantId,
        id: &CredentialId,
    ) -> Result<Option<CredentialRecord>> {
        let sql = format!("SELECT {COLUMNS} FROM credentials WHERE id = $1 AND tenant_id = $2");
        let row = with_pool!(self, |pool| {
            sqlx::query_as::<_, CredentialRow>(&sql)
                .bind(id.as_str())
                .bind(tenant.as_str())
                .fetch_optional(pool)
                .await?
        });
        row.map(CredentialRecord::try_from).transpose()
    }

    /// Up to `limit` of the tenant's credentials with ids after `after`, by id (creation order).
    /// Ask for one more than a page to learn whether another page follows.
    pub async fn list_credentials(
        &self,
        tenant: &TenantId,
        after: Option<&CredentialId>,
        limit: u32,
    ) -> Result<Vec<CredentialRecord>> {
        let sql = format!(
            "SELECT {COLUMNS} FROM credentials WHERE tenant_id = $1 AND id > $2 ORDER BY id LIMIT $3"
        );
        // Every id sorts after the empty string, so the first page needs no second query shape.
        let after = after.map(CredentialId::as_str).unwrap_or("");
        let rows = with_pool!(self, |pool| {
            sqlx::query_as::<_, CredentialRow>(&sql)
                .bind(tenant.as_str())
                .bind(after)
                .bind(i64::from(limit))
                .fetch_all(pool)
                .await?
        });
        rows.into_iter().map(CredentialRecord::try_from).collect()
    }

    /// Applies a patch in one statement and returns the updated record; `NotFound` for an
    /// unknown or another tenant's id.
    pub async fn update_credential(
        &self,
        tenant: &TenantId,
        id: &CredentialId,
        patch: CredentialPatch,
    ) -> Result<CredentialRecord> {
        let sealed = match &patch.secret {
            Some(secret) => Some(
                self.cipher()
                    .encrypt(id.as_str(), secret.expose_secret().as_bytes())?,
            ),
            None => None,
        };
        let settings = patch.settings.as_ref().map(to_json).transpose()?;
        let tags = patch.tags.as_ref().map(to_json).transpose()?;
        // COALESCE keeps the stored value where the patch has none, so a read-modify-write
        // transaction (and its lock upgrade on SQLite) is not needed.
        let sql = format!(
            "UPDATE credentials SET name = COALESCE($3, name), settings = COALESCE($4, settings), \
             tags = COALESCE($5, tags), secret_ciphertext = COALESCE($6, secret_ciphertext), \
             secret_nonce = COALESCE($7, secret_nonce), \
             secret_key_version = COALESCE($8, secret_key_version), updated_at = $9 \
             WHERE id = $1 AND tenant_id = $2 RETURNING {COLUMNS}"
        );
        let row = with_pool!(self, |pool| {
            sqlx::query_as::<_, CredentialRow>(&sql)
                .bind(id.as_str())
                .bind(tenant.as_str())
                .bind(patch.name.as_deref())
                .bind(settings.as_deref())
                .bind(tags.as_deref())
                .bind(sealed.as_ref().map(|s| s.ciphertext.as_slice()))
                .bind(sealed.as_ref().map(|s| s.nonce.as_slice()))
                .bind(sealed.as_ref().map(|s| i64::from(s.key_version)))
                .bind(to_ms(now()))
                .fetch_optional(pool)
                .await?
        });
        row.ok_or(StoreError::NotFound)?.try_into()
    }

    /// Deletes a credential, its sealed secret and its contact index; `NotFound` for an unknown
    /// or another tenant's id.
    pub async fn delete_credential(&self, tenant: &TenantId, id: &CredentialId) -> Result<()> {
        let deleted = with_pool!(self, |pool| {
            let mut tx = pool.begin_write().await?;
            // The foreign key cascades too; deleting explicitly keeps the guarantee even on a
            // SQLite connection opened elsewhere without `PRAGMA foreign_keys`.
            sqlx::query("DELETE FROM contact_index WHERE tenant_id = $1 AND credential_id = $2")
                .bind(tenant.as_str())
                .bind(id.as_str())
                .execute(&mut *tx)
                .await?;
            let n = sqlx::query("DELETE FROM credentials WHERE tenant_id = $1 AND id = $2")
                .bind(tenant.as_str())
                .bind(id.as_str())
                .execute(&mut *tx)
                .await?
                .rows_affected();
            tx.commit().await?;
            n
        });
        if deleted == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    /// The stored, still sealed secret: for key-rotation tooling and for checking that a
    /// rotation re-sealed. Holds nothing secret without the master key.
    pub async fn credential_sealed(&self, tenant: &TenantId, id: &CredentialId) -> Result<Sealed> {
        let row = with_pool!(self, |pool| {
            sqlx::query_as::<_, SealedRow>(
                "SELECT secret_ciphertext, secret_nonce, secret_key_version FROM credentials \
                 WHERE id = $1 AND tenant_id = $2",
            )
            .bind(id.as_str())
            .bind(tenant.as_str())
            .fetch_optional(pool)
            .await?
        });
        row.ok_or(StoreError::NotFound)?.sealed()
    }

    /// Opens a credential's secret for a provider call. `NotFound` for an unknown or another
    /// tenant's id, `Crypto` if it cannot be opened.
    pub async fn credential_secret(
        &self,
        tenant: &TenantId,
        id: &CredentialId,
    ) -> Result<SecretString> {
        let sealed = self.credential_sealed(tenant, id).await?;
        let plaintext = self.cipher().decrypt(id.as_str(), &sealed)?;
        match String::from_utf8(plaintext) {
            Ok(secret) => Ok(SecretString::from(secret)),
            Err(e) => {
                e.into_bytes().zeroize();
                Err(StoreError::Crypto("secret is not UTF-8".into()))
            }
        }
    }

    /// Records a check's result. Leaves `updated_at` alone: a check is not an edit.
    pub async fn set_credential_health(
        &self,
        tenant: &TenantId,
        id: &CredentialId,
        health: Health,
        detail: Option<&str>,
        checked_at: DateTime<Utc>,
    ) -> Result<()> {
        // The detail usually quotes a provider's answer: one bounded line, so it cannot forge
        // log lines or grow the row, whatever the caller passed.
        let detail =
            detail.map(|d| gateway_core::one_line(d, gateway_core::error::MESSAGE_MAX_CHARS));
        let n = with_pool!(self, |pool| {
            sqlx::query(
                "UPDATE credentials SET health = $3, health_detail = $4, health_checked_at = $5 \
                 WHERE id = $1 AND tenant_id = $2",
            )
            .bind(id.as_str())
            .bind(tenant.as_str())
            .bind(health.as_str())
            .bind(detail.as_deref())
            .bind(to_ms(truncate_ms(checked_at)))
            .execute(pool)
            .await?
            .rows_affected()
        });
        if n == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }
}
