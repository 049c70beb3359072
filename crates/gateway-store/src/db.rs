//! Connecting, migrating and the two-backend plumbing: the `Pool` enum, the `with_pool!` macro
//! that runs one runtime query on either driver, and the epoch-millisecond time codec.

use std::fmt;
use std::future::Future;
use std::path::Path;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use sqlx::migrate::Migrator;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use sqlx::{Postgres, Sqlite, Transaction};

use crate::crypto::Cipher;
use crate::error::{corrupt, Result, StoreError};

static SQLITE_MIGRATIONS: Migrator = sqlx::migrate!("./migrations/sqlite");
static POSTGRES_MIGRATIONS: Migrator = sqlx::migrate!("./migrations/postgres");

/// How long the first connection to PostgreSQL may take before the start fails with the
/// reason: the pool's own wait would only say "pool timed out" after its acquire timeout.
const POSTGRES_FIRST_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// How long a SQLite writer waits for another writer before giving up with "database is locked".
const SQLITE_BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// Which database a store runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Backend {
    /// An embedded SQLite file (the default, and `demo`).
    Sqlite,
    /// A PostgreSQL server.
    Postgres,
}

/// Native driver pools rather than `sqlx::Any`, which loses types (no bytes-as-BYTEA, no
/// chrono) and hides the backend from queries that need to differ.
#[derive(Clone)]
pub(crate) enum Pool {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

/// Runs the same expression with `$pool` bound to whichever native pool the store has. The
/// body is compiled once per backend, so a runtime query written with `$1` placeholders (which
/// SQLite accepts too) and a `FromRow` row type serves both.
macro_rules! with_pool {
    ($store:expr, |$pool:ident| $body:expr) => {
        match $store.pool() {
            $crate::db::Pool::Sqlite($pool) => $body,
            $crate::db::Pool::Postgres($pool) => $body,
        }
    };
}
pub(crate) use with_pool;

/// Starts a transaction that will write. On SQLite it takes the write lock up front
/// (`BEGIN IMMEDIATE`): a deferred transaction that reads first and then writes can fail at once
/// with SQLITE_BUSY when another connection committed in between, instead of waiting out the
/// busy timeout.
pub(crate) trait BeginWrite {
    type Db: sqlx::Database;
    fn begin_write(
        &self,
    ) -> impl Future<Output = sqlx::Result<Transaction<'static, Self::Db>>> + Send;
}

impl BeginWrite for SqlitePool {
    type Db = Sqlite;
    fn begin_write(
        &self,
    ) -> impl Future<Output = sqlx::Result<Transaction<'static, Sqlite>>> + Send {
        // A begin dropped half-way (its caller was cancelled while BEGIN IMMEDIATE waited for
        // the lock) leaves the connection inside a transaction with no `Transaction` to roll it
        // back: back in the pool, it holds the write lock until the process exits. Its own task
        // always finishes, and a transaction nobody takes is dropped, which rolls it back.
        let pool = self.clone();
        async move {
            tokio::spawn(async move { pool.begin_with("BEGIN IMMEDIATE").await })
                .await
                .map_err(|e| sqlx::Error::Protocol(format!("begin task failed: {e}")))?
        }
    }
}

impl BeginWrite for PgPool {
    type Db = Postgres;
    fn begin_write(
        &self,
    ) -> impl Future<Output = sqlx::Result<Transaction<'static, Postgres>>> + Send {
        // As on SQLite: a begin is never abandoned half-way.
        let pool = self.clone();
        async move {
            tokio::spawn(async move { pool.begin().await })
                .await
                .map_err(|e| sqlx::Error::Protocol(format!("begin task failed: {e}")))?
        }
    }
}

/// The gateway's database: a pool on one backend plus the master key ring that seals
/// credential secrets. Cloning is cheap and shares both.
#[derive(Clone)]
pub struct Store {
    inner: Arc<Inner>,
}

struct Inner {
    pool: Pool,
    cipher: Cipher,
}

impl fmt::Debug for Store {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Store")
            .field("backend", &self.backend())
            .field("cipher", &self.inner.cipher)
            .finish()
    }
}

impl Store {
    /// Opens a pool for `sqlite:…` (e.g. `sqlite://data/gateway.db?mode=rwc`, which also creates
    /// the file and its folder) or `postgres://…` / `postgresql://…`. Does not migrate.
    pub async fn connect(database_url: &str, cipher: Cipher) -> Result<Store> {
        let pool = if database_url.starts_with("sqlite:") {
            Pool::Sqlite(connect_sqlite(database_url).await?)
        } else if database_url.starts_with("postgres://")
            || database_url.starts_with("postgresql://")
        {
            Pool::Postgres(connect_postgres(database_url).await?)
        } else {
            return Err(StoreError::InvalidUrl(
                "expected a URL starting with sqlite:, postgres:// or postgresql://".into(),
            ));
        };
        Ok(Store {
            inner: Arc::new(Inner { pool, cipher }),
        })
    }

    /// The same database with another master key ring, e.g. after the operator added a new
    /// current key version.
    pub fn with_cipher(&self, cipher: Cipher) -> Store {
        Store {
            inner: Arc::new(Inner {
                pool: self.inner.pool.clone(),
                cipher,
            }),
        }
    }

    /// Applies the backend's pending migrations; applied ones are skipped, so this is safe on
    /// every start.
    pub async fn migrate(&self) -> Result<()> {
        match self.pool() {
            Pool::Sqlite(pool) => SQLITE_MIGRATIONS.run(pool).await?,
            Pool::Postgres(pool) => POSTGRES_MIGRATIONS.run(pool).await?,
        }
        Ok(())
    }

    /// One round trip to the database, for readiness checks.
    pub async fn ping(&self) -> Result<()> {
        with_pool!(self, |pool| {
            sqlx::query("SELECT 1").execute(pool).await?;
        });
        Ok(())
    }

    /// Database connections open now, and how many of them are idle (metrics).
    pub fn pool_connections(&self) -> (u32, usize) {
        with_pool!(self, |pool| (pool.size(), pool.num_idle()))
    }

    /// Which backend this store runs on.
    pub fn backend(&self) -> Backend {
        match self.pool() {
            Pool::Sqlite(_) => Backend::Sqlite,
            Pool::Postgres(_) => Backend::Postgres,
        }
    }

    /// Closes every connection, waiting for checked-out ones to come back. Closing the last
    /// SQLite connection checkpoints the write-ahead log into the database file.
    pub async fn close(&self) {
        match self.pool() {
            Pool::Sqlite(pool) => pool.close().await,
            Pool::Postgres(pool) => pool.close().await,
        }
    }

    pub(crate) fn pool(&self) -> &Pool {
        &self.inner.pool
    }

    pub(crate) fn cipher(&self) -> &Cipher {
        &self.inner.cipher
    }
}

async fn connect_sqlite(url: &str) -> Result<SqlitePool> {
    let options = SqliteConnectOptions::from_str(url)
        .map_err(|e| StoreError::InvalidUrl(format!("SQLite URL: {e}")))?
        .foreign_keys(true)
        .busy_timeout(SQLITE_BUSY_TIMEOUT)
        // Deleted rows (a destroyed credential's ciphertext) are overwritten on disk instead of
        // lingering in free pages.
        .pragma("secure_delete", "ON");
    let (_, query) = url.split_once('?').unwrap_or((url, ""));
    let in_memory = url.contains(":memory:") || query.split('&').any(|p| p == "mode=memory");
    let pool_options = if in_memory {
        // An in-memory database lives only as long as a connection to it: keep exactly one,
        // forever (several would also fight over shared-cache table locks).
        SqlitePoolOptions::new()
            .max_connections(1)
            .min_connections(1)
            .idle_timeout(None)
            .max_lifetime(None)
    } else {
        SqlitePoolOptions::new().max_connections(8)
    };
    let options = if in_memory {
        options
    } else {
        if query.split('&').any(|p| p == "mode=rwc") {
            create_parent_dir(options.get_filename())?;
        }
        // WAL lets readers run alongside the single writer; NORMAL sync is durable across
        // application crashes and only risks the last commits on power loss, the usual WAL pairing.
        options
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
    };
    let filename = options.get_filename().to_owned();
    pool_options.connect_with(options).await.map_err(|e| {
        // SQLITE_CANTOPEN: without mode=rwc the file must already exist (and its folder).
        let cant_open =
            matches!(&e, sqlx::Error::Database(db) if db.code().as_deref() == Some("14"));
        if cant_open && !in_memory {
            let create = query.split('&').any(|p| p == "mode=rwc");
            let hint = if create {
                "check that its folder is writable by this user"
            } else {
                "the URL has no ?mode=rwc, so the file must exist already; add ?mode=rwc to \
                 create it (sqlite://PATH?mode=rwc)"
            };
            StoreError::Connect(format!(
                "cannot open the SQLite database file {}: {hint}",
                filename.display()
            ))
        } else {
            StoreError::Database(e)
        }
    })
}

fn create_parent_dir(file: &Path) -> Result<()> {
    match file.parent() {
        Some(dir) if !dir.as_os_str().is_empty() && !dir.exists() => {
            std::fs::create_dir_all(dir).map_err(|e| StoreError::Database(sqlx::Error::Io(e)))
        }
        _ => Ok(()),
    }
}

async fn connect_postgres(url: &str) -> Result<PgPool> {
    use sqlx::Connection as _;
    let options = PgConnectOptions::from_str(url)
        .map_err(|e| StoreError::InvalidUrl(format!("PostgreSQL URL: {e}")))?
        // The server's NOTICEs (e.g. `relation "_sqlx_migrations" already exists, skipping` on
        // every start) are not the operator's business; warnings and errors still come.
        .options([("client_min_messages", "warning")]);
    // One connection first, with a short timeout, so an unreachable server fails fast with its
    // real reason (refused, no answer, bad password) instead of the pool's "timed out".
    let target = format!("{}:{}", options.get_host(), options.get_port());
    match tokio::time::timeout(
        POSTGRES_FIRST_CONNECT_TIMEOUT,
        sqlx::PgConnection::connect_with(&options),
    )
    .await
    {
        Ok(Ok(conn)) => {
            let _ = conn.close().await;
        }
        Ok(Err(sqlx::Error::Io(e))) if e.kind() == std::io::ErrorKind::ConnectionRefused => {
            return Err(StoreError::Connect(format!(
                "connection refused to {target}: is PostgreSQL running there, and is that the \
                 host and port in the database URL?"
            )));
        }
        Ok(Err(sqlx::Error::Io(e))) => {
            return Err(StoreError::Connect(format!(
                "cannot connect to PostgreSQL at {target}: {e}"
            )));
        }
        Ok(Err(e)) => return Err(StoreError::Database(e)),
        Err(_) => {
            return Err(StoreError::Connect(format!(
                "no answer from PostgreSQL at {target} within {} s (a firewall, or the wrong host)",
                POSTGRES_FIRST_CONNECT_TIMEOUT.as_secs()
            )));
        }
    }
    Ok(PgPoolOptions::new()
        .max_connections(10)
        .acquire_timeout(Duration::from_secs(10))
        .connect_with(options)
        .await?)
}

/// Timestamps are stored as epoch milliseconds; anything finer is dropped here, so a value
/// read back equals the value written (after `truncate_ms`).
pub(crate) fn to_ms(t: DateTime<Utc>) -> i64 {
    t.timestamp_millis()
}

pub(crate) fn from_ms(ms: i64) -> Result<DateTime<Utc>> {
    DateTime::from_timestamp_millis(ms)
        .ok_or_else(|| corrupt(format!("timestamp {ms} ms is out of range")))
}

pub(crate) fn opt_from_ms(ms: Option<i64>) -> Result<Option<DateTime<Utc>>> {
    ms.map(from_ms).transpose()
}

/// The current time at the precision the store keeps, so records returned by a write equal the
/// same records read back later.
pub(crate) fn now() -> DateTime<Utc> {
    truncate_ms(Utc::now())
}

pub(crate) fn truncate_ms(t: DateTime<Utc>) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(t.timestamp_millis()).unwrap_or(t)
}
