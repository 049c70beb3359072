//! The master key ring against what the database holds: a start-up check that every key
//! version the database needs is configured and opens what was sealed with it (a canary per
//! version plus one stored secret per version), and the re-sealing of every secret under the
//! current version after a rotation, which skips and reports what it cannot open.

use std::fmt;

use secrecy::zeroize::Zeroize;
use serde::Serialize;

use crate::crypto::Sealed;
use crate::db::{now, to_ms, with_pool, Store};
use crate::error::{corrupt, Result};

/// What the canary holds; nothing secret, only proof that a key opens what it sealed.
const CANARY_PLAINTEXT: &[u8] = b"crm-gateway master key canary";

/// Associated data of the canary of `version`, so a canary cannot pass for another version's.
fn canary_aad(version: u32) -> String {
    format!("master-key-canary:v{version}")
}

/// Why a configured key ring does not fit the database.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyProblem {
    /// Secrets are sealed under a version the ring has no key for.
    Missing {
        /// The version the database needs.
        version: u32,
        /// A credential sealed under it.
        credential: String,
    },
    /// The ring's key for this version does not open what was sealed under it.
    Wrong {
        /// The version whose key is wrong.
        version: u32,
        /// What it failed to open: the canary or a credential id.
        what: String,
    },
}

impl KeyProblem {
    /// The key version concerned.
    pub fn version(&self) -> u32 {
        match self {
            KeyProblem::Missing { version, .. } | KeyProblem::Wrong { version, .. } => *version,
        }
    }
}

impl fmt::Display for KeyProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KeyProblem::Missing {
                version,
                credential,
            } => write!(
                f,
                "the database holds secrets sealed with master key version {version} \
                 (e.g. credential {credential}), but no key for version {version} is configured"
            ),
            KeyProblem::Wrong { version, what } => write!(
                f,
                "the configured master key version {version} does not open {what}, which was \
                 sealed with version {version}: it is not the key this database was used with"
            ),
        }
    }
}

/// What one pass of [`Store::reseal_stale_secrets`] did. Holds ids, never secrets.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ResealReport {
    /// The version every secret is now meant to be sealed with.
    pub current_version: u32,
    /// Secrets re-sealed under the current version by this pass.
    pub resealed: u64,
    /// Secrets under an older version that could not be opened (no key for their version, or
    /// a wrong one) and were left as they are.
    pub skipped: Vec<SkippedSecret>,
}

/// A secret the re-seal left alone, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SkippedSecret {
    /// The credential.
    pub credential_id: String,
    /// The version it stays sealed with.
    pub key_version: u32,
    /// Why it could not be opened (never the secret or the key).
    pub reason: String,
}

#[derive(sqlx::FromRow)]
struct SealedRow {
    id: String,
    secret_ciphertext: Vec<u8>,
    secret_nonce: Vec<u8>,
    secret_key_version: i64,
}

impl SealedRow {
    fn sealed(&self) -> Result<Sealed> {
        Ok(Sealed {
            key_version: u32::try_from(self.secret_key_version).map_err(corrupt)?,
            nonce: self.secret_nonce.clone(),
            ciphertext: self.secret_ciphertext.clone(),
        })
    }
}

#[derive(sqlx::FromRow)]
struct CanaryRow {
    key_version: i64,
    nonce: Vec<u8>,
    ciphertext: Vec<u8>,
}

impl Store {
    /// Checks the key ring against the database: each canary whose version the ring has must
    /// open, and for every key version credentials are sealed with, the ring must have that
    /// version and it must open one of them. Empty when everything fits. Canaries of versions
    /// the ring no longer has are ignored: a retired key is fine once nothing needs it.
    pub async fn check_master_keys(&self) -> Result<Vec<KeyProblem>> {
        let cipher = self.cipher();
        let versions = cipher.versions();
        let mut problems = Vec::new();
        let canaries = with_pool!(self, |pool| {
            sqlx::query_as::<_, CanaryRow>(
                "SELECT key_version, nonce, ciphertext FROM master_key_canaries ORDER BY key_version",
            )
            .fetch_all(pool)
            .await?
        });
        for row in canaries {
            let version = u32::try_from(row.key_version).map_err(corrupt)?;
            if !versions.contains(&version) {
                continue;
            }
            let sealed = Sealed {
                key_version: version,
                nonce: row.nonce,
                ciphertext: row.ciphertext,
            };
            if cipher.decrypt(&canary_aad(version), &sealed).is_err() {
                problems.push(KeyProblem::Wrong {
                    version,
                    what: "the key canary".into(),
                });
            }
        }
        // One credential per version is enough: a key that opens one opens all of its version.
        let rows = with_pool!(self, |pool| {
            sqlx::query_as::<_, SealedRow>(
                "SELECT id, secret_ciphertext, secret_nonce, secret_key_version FROM credentials \
                 WHERE id IN (SELECT MIN(id) FROM credentials GROUP BY secret_key_version) \
                 ORDER BY secret_key_version",
            )
            .fetch_all(pool)
            .await?
        });
        for row in rows {
            let sealed = row.sealed()?;
            let version = sealed.key_version;
            if problems.iter().any(|p| p.version() == version) {
                continue;
            }
            if !versions.contains(&version) {
                problems.push(KeyProblem::Missing {
                    version,
                    credential: row.id,
                });
                continue;
            }
            match cipher.decrypt(&row.id, &sealed) {
                Ok(mut plaintext) => plaintext.zeroize(),
                Err(_) => problems.push(KeyProblem::Wrong {
                    version,
                    what: format!("the secret of credential {}", row.id),
                }),
            }
        }
        Ok(problems)
    }

    /// Seals the canary of the current key version unless one exists. Call after
    /// [`Store::check_master_keys`] found nothing wrong, so only a key that fits is recorded.
    pub async fn seal_key_canary(&self) -> Result<()> {
        let version = self.cipher().current_version();
        let sealed = self
            .cipher()
            .encrypt(&canary_aad(version), CANARY_PLAINTEXT)?;
        with_pool!(self, |pool| {
            sqlx::query(
                "INSERT INTO master_key_canaries (key_version, nonce, ciphertext, created_at) \
                 VALUES ($1, $2, $3, $4) ON CONFLICT (key_version) DO NOTHING",
            )
            .bind(i64::from(version))
            .bind(&sealed.nonce)
            .bind(&sealed.ciphertext)
            .bind(to_ms(now()))
            .execute(pool)
            .await?;
        });
        Ok(())
    }

    /// Re-seals every secret still sealed under an older master key version with the current
    /// one, across all tenants, `batch` rows per read. A secret that cannot be opened (its
    /// version has no key, or the key is wrong) is skipped and reported, never fatal: one bad
    /// row must not keep every other secret on a key the operator wants to retire. Running it
    /// again re-seals nothing new (only the skipped rows are still stale).
    pub async fn reseal_stale_secrets(&self, batch: u32) -> Result<ResealReport> {
        let cipher = self.cipher();
        let current = cipher.current_version();
        let mut report = ResealReport {
            current_version: current,
            ..ResealReport::default()
        };
        // Paging by id (not "the first N stale rows") so skipped rows are not read forever.
        let mut after = String::new();
        loop {
            let rows = with_pool!(self, |pool| {
                sqlx::query_as::<_, SealedRow>(
                    "SELECT id, secret_ciphertext, secret_nonce, secret_key_version FROM credentials \
                     WHERE secret_key_version <> $1 AND id > $2 ORDER BY id LIMIT $3",
                )
                .bind(i64::from(current))
                .bind(&after)
                .bind(i64::from(batch.max(1)))
                .fetch_all(pool)
                .await?
            });
            let Some(last) = rows.last() else { break };
            after = last.id.clone();
            for row in rows {
                let old = row.sealed()?;
                let mut plaintext = match cipher.decrypt(&row.id, &old) {
                    Ok(p) => p,
                    Err(e) => {
                        report.skipped.push(SkippedSecret {
                            credential_id: row.id.clone(),
                            key_version: old.key_version,
                            reason: e.to_string(),
                        });
                        continue;
                    }
                };
                let new = cipher.encrypt(&row.id, &plaintext);
                plaintext.zeroize();
                let new = new?;
                // Matching the old nonce skips a row whose secret was rotated meanwhile (it is
                // already sealed under the current version then).
                let n = with_pool!(self, |pool| {
                    sqlx::query(
                        "UPDATE credentials SET secret_ciphertext = $2, secret_nonce = $3, \
                         secret_key_version = $4 WHERE id = $1 AND secret_nonce = $5",
                    )
                    .bind(&row.id)
                    .bind(&new.ciphertext)
                    .bind(&new.nonce)
                    .bind(i64::from(new.key_version))
                    .bind(&old.nonce)
                    .execute(pool)
                    .await?
                    .rows_affected()
                });
                report.resealed += n;
            }
        }
        Ok(report)
    }

    /// How many secrets are sealed under each key version, ascending by version.
    pub async fn secrets_by_key_version(&self) -> Result<Vec<(u32, u64)>> {
        let rows: Vec<(i64, i64)> = with_pool!(self, |pool| {
            sqlx::query_as(
                "SELECT secret_key_version, COUNT(*) FROM credentials \
                 GROUP BY secret_key_version ORDER BY secret_key_version",
            )
            .fetch_all(pool)
            .await?
        });
        rows.into_iter()
            .map(|(v, n)| {
                Ok((
                    u32::try_from(v).map_err(corrupt)?,
                    u64::try_from(n).map_err(corrupt)?,
                ))
            })
            .collect()
    }
}
