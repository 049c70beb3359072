//! Idempotency keys: the first request with a key claims it with an INSERT that fails on
//! conflict (so two concurrent first requests can never both run), its answer is stored, and
//! later requests with the same key get that answer back. Works the same on SQLite and
//! PostgreSQL: every step is one statement, atomic on both.

use chrono::{DateTime, Utc};
use gateway_core::TenantId;

use crate::db::{from_ms, to_ms, with_pool};
use crate::error::Result;

/// A stored answer, replayed for a retry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredResponse {
    /// HTTP status.
    pub status: u16,
    /// `Content-Type` of the answer, if any.
    pub content_type: Option<String>,
    /// `Location` of the answer, if any.
    pub location: Option<String>,
    /// The body bytes.
    pub body: Vec<u8>,
}

/// What claiming a key found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Claim {
    /// The key is ours: run the request, then [`Store::idempotency_complete`] or
    /// [`Store::idempotency_release`] with this token.
    Claimed {
        /// Proves the claim when finishing it.
        token: String,
    },
    /// The same request already finished: replay this.
    Replay(StoredResponse),
    /// The same request is still running elsewhere; its claim can be taken over at `until` (its
    /// process stopped heartbeating, or the claim is stale), or `None` while its process lives.
    InProgress {
        /// When the claim becomes free to take over, if its holder is dead or silent.
        until: Option<DateTime<Utc>>,
    },
    /// The key was used for a different request.
    Mismatch,
}

/// Who claims a key, and which processes count as alive.
#[derive(Debug, Clone, Copy)]
pub struct Claimant<'a> {
    /// This process's instance id (its heartbeat row).
    pub instance: &'a str,
    /// An instance whose last heartbeat is older than this is dead: its claims are free.
    pub dead_before: DateTime<Utc>,
    /// An instance whose last heartbeat is older than this missed a beat: it is probably dead,
    /// so a retry is told when its claims free rather than to poll.
    pub silent_before: DateTime<Utc>,
}

#[derive(sqlx::FromRow)]
struct Row {
    request_hash: String,
    state: String,
    updated_at: i64,
    owner_heartbeat: Option<i64>,
    status: Option<i32>,
    content_type: Option<String>,
    location: Option<String>,
    body: Option<Vec<u8>>,
}

impl crate::Store {
    /// Claims `key` for the request hashed `request_hash`. A row that expired (`expires_at` ≤
    /// `now`) or an `in_progress` row not refreshed since `stale_before` (its request died) is
    /// dropped first, so the key can be claimed again.
    ///
    /// An `in_progress` row whose owner instance has not heartbeated since
    /// `claimant.dead_before` is dropped too: its process is gone, so nothing will finish it.
    #[allow(clippy::too_many_arguments)]
    pub async fn idempotency_claim(
        &self,
        tenant: &TenantId,
        key: &str,
        request_hash: &str,
        now: DateTime<Utc>,
        expires_at: DateTime<Utc>,
        stale_before: DateTime<Utc>,
        claimant: Claimant<'_>,
    ) -> Result<Claim> {
        let (now_ms, exp_ms, stale_ms) = (to_ms(now), to_ms(expires_at), to_ms(stale_before));
        let dead_ms = to_ms(claimant.dead_before);
        // A row can vanish between a failed INSERT and the SELECT (released by its request);
        // then try again. Three rounds are plenty: each needs another request to interleave.
        for _ in 0..3 {
            with_pool!(self, |pool| {
                sqlx::query(
                    "DELETE FROM idempotency_keys WHERE tenant_id = $1 AND key = $2 \
                     AND (expires_at <= $3 OR (state = 'in_progress' AND (updated_at <= $4 \
                       OR (owner IS NOT NULL AND NOT EXISTS (SELECT 1 FROM instances i \
                           WHERE i.id = idempotency_keys.owner AND i.heartbeat_at > $5)))))",
                )
                .bind(tenant.as_str())
                .bind(key)
                .bind(now_ms)
                .bind(stale_ms)
                .bind(dead_ms)
                .execute(pool)
                .await?;
            });
            let token = format!("{:032x}", rand::random::<u128>());
            let inserted = with_pool!(self, |pool| {
                sqlx::query(
                    "INSERT INTO idempotency_keys \
                     (tenant_id, key, request_hash, state, claim_token, created_at, updated_at, expires_at, owner) \
                     VALUES ($1, $2, $3, 'in_progress', $4, $5, $5, $6, $7) \
                     ON CONFLICT (tenant_id, key) DO NOTHING",
                )
                .bind(tenant.as_str())
                .bind(key)
                .bind(request_hash)
                .bind(&token)
                .bind(now_ms)
                .bind(exp_ms)
                .bind(claimant.instance)
                .execute(pool)
                .await?
                .rows_affected()
            });
            if inserted == 1 {
                return Ok(Claim::Claimed { token });
            }
            let row: Option<Row> = with_pool!(self, |pool| {
                sqlx::query_as(
                    "SELECT k.request_hash, k.state, k.updated_at, i.heartbeat_at AS owner_heartbeat, \
                     k.status, k.content_type, k.location, k.body \
                     FROM idempotency_keys k LEFT JOIN instances i ON i.id = k.owner \
                     WHERE k.tenant_id = $1 AND k.key = $2",
                )
                .bind(tenant.as_str())
                .bind(key)
                .fetch_optional(pool)
                .await?
            });
            let Some(row) = row else { continue };
            if row.request_hash != request_hash {
                return Ok(Claim::Mismatch);
            }
            if row.state != "done" {
                // Free once the claim goes stale, or once its owner's heartbeat is as old as
                // a dead instance's; whichever comes first. An owner that heartbeats now keeps
                // it: the request is running, and only its end changes the answer.
                let stale_at = row.updated_at + (now_ms - stale_ms);
                let dead_at = row.owner_heartbeat.map(|h| h + (now_ms - dead_ms));
                let free_at = dead_at.map_or(stale_at, |d| d.min(stale_at));
                let alive = row
                    .owner_heartbeat
                    .is_some_and(|h| h > to_ms(claimant.silent_before));
                let until = if alive {
                    None
                } else {
                    Some(from_ms(free_at.max(now_ms))?)
                };
                return Ok(Claim::InProgress { until });
            }
            return Ok(Claim::Replay(StoredResponse {
                status: row
                    .status
                    .and_then(|s| u16::try_from(s).ok())
                    .unwrap_or(500),
                content_type: row.content_type,
                location: row.location,
                body: row.body.unwrap_or_default(),
            }));
        }
        Ok(Claim::InProgress { until: None })
    }

    /// Records that this process is alive (`instance` is random per start); forgets instances
    /// silent for a day. Called every second by each `serve` process.
    pub async fn instance_heartbeat(&self, instance: &str, now: DateTime<Utc>) -> Result<()> {
        let now_ms = to_ms(now);
        with_pool!(self, |pool| {
            sqlx::query(
                "INSERT INTO instances (id, heartbeat_at) VALUES ($1, $2) \
                 ON CONFLICT (id) DO UPDATE SET heartbeat_at = excluded.heartbeat_at",
            )
            .bind(instance)
            .bind(now_ms)
            .execute(pool)
            .await?;
            sqlx::query("DELETE FROM instances WHERE heartbeat_at < $1")
                .bind(now_ms - 86_400_000)
                .execute(pool)
                .await?;
        });
        Ok(())
    }

    /// Removes this process's heartbeat at a clean stop: its claims are all finished, and no
    /// one should wait for it.
    pub async fn instance_forget(&self, instance: &str) -> Result<()> {
        with_pool!(self, |pool| {
            sqlx::query("DELETE FROM instances WHERE id = $1")
                .bind(instance)
                .execute(pool)
                .await?;
        });
        Ok(())
    }

    /// Stores the answer of a claimed key. False when the claim was lost (taken over after
    /// being judged abandoned, or expired and purged).
    pub async fn idempotency_complete(
        &self,
        tenant: &TenantId,
        key: &str,
        token: &str,
        response: &StoredResponse,
        now: DateTime<Utc>,
    ) -> Result<bool> {
        let done = with_pool!(self, |pool| {
            sqlx::query(
                "UPDATE idempotency_keys SET state = 'done', status = $4, content_type = $5, \
                 location = $6, body = $7, updated_at = $8 \
                 WHERE tenant_id = $1 AND key = $2 AND claim_token = $3 AND state = 'in_progress'",
            )
            .bind(tenant.as_str())
            .bind(key)
            .bind(token)
            .bind(i32::from(response.status))
            .bind(response.content_type.as_deref())
            .bind(response.location.as_deref())
            .bind(response.body.as_slice())
            .bind(to_ms(now))
            .execute(pool)
            .await?
            .rows_affected()
        });
        Ok(done == 1)
    }

    /// Marks a claimed key as still running, so it is not judged abandoned.
    pub async fn idempotency_touch(
        &self,
        tenant: &TenantId,
        key: &str,
        token: &str,
        now: DateTime<Utc>,
    ) -> Result<()> {
        with_pool!(self, |pool| {
            sqlx::query(
                "UPDATE idempotency_keys SET updated_at = $4 \
                 WHERE tenant_id = $1 AND key = $2 AND claim_token = $3 AND state = 'in_progress'",
            )
            .bind(tenant.as_str())
            .bind(key)
            .bind(token)
            .bind(to_ms(now))
            .execute(pool)
            .await?;
        });
        Ok(())
    }

    /// Forgets a claimed key without an answer, so the client may retry it.
    pub async fn idempotency_release(
        &self,
        tenant: &TenantId,
        key: &str,
        token: &str,
    ) -> Result<()> {
        with_pool!(self, |pool| {
            sqlx::query(
                "DELETE FROM idempotency_keys \
                 WHERE tenant_id = $1 AND key = $2 AND claim_token = $3 AND state = 'in_progress'",
            )
            .bind(tenant.as_str())
            .bind(key)
            .bind(token)
            .execute(pool)
            .await?;
        });
        Ok(())
    }

    /// Deletes every key (and write intent) that expired by `now`; answers how many keys.
    pub async fn idempotency_purge_expired(&self, now: DateTime<Utc>) -> Result<u64> {
        self.intents_purge_expired(now).await?;
        let n = with_pool!(self, |pool| {
            sqlx::query("DELETE FROM idempotency_keys WHERE expires_at <= $1")
                .bind(to_ms(now))
                .execute(pool)
                .await?
                .rows_affected()
        });
        Ok(n)
    }
}
