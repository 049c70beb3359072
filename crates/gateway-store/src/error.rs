//! The store's one error type and the helpers that classify database errors at the call site.

/// The store's result type.
pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// Everything a store call can fail with. No variant ever carries secret material: crypto
/// failures say what went wrong, never with which bytes.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The row does not exist, or belongs to another tenant (the two are indistinguishable on
    /// purpose).
    #[error("not found")]
    NotFound,
    /// A uniqueness rule was broken.
    #[error("conflict: {0}")]
    Conflict(String),
    /// Key material or a sealed secret is unusable (bad master key, unknown key version, wrong
    /// associated data, tampered ciphertext).
    #[error("crypto: {0}")]
    Crypto(String),
    /// The database failed or returned data the store cannot decode.
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    /// Applying migrations failed.
    #[error("migration error: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// The database could not be reached or opened; the text says where and what to fix.
    /// Never echoes a password.
    #[error("{0}")]
    Connect(String),
    /// The database URL is not one the store can use. Never echoes the URL, which may hold a
    /// password.
    #[error("invalid database URL: {0}")]
    InvalidUrl(String),
}

/// Text that is not a known value of one of the store's enums.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown {kind} {value:?}")]
pub struct ParseEnumError {
    /// Which enum was being parsed.
    pub kind: &'static str,
    /// The rejected text.
    pub value: String,
}

/// A stored value that does not decode (a malformed id, unknown enum text, invalid JSON):
/// reported as a database decode error because the database holds it, not the caller.
pub(crate) fn corrupt(e: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> StoreError {
    StoreError::Database(sqlx::Error::Decode(e.into()))
}

/// Turns the database's constraint errors into the store's meanings: a foreign key naming a
/// missing parent is `NotFound`, a duplicate is `Conflict`.
pub(crate) fn classify(e: sqlx::Error, what: &str) -> StoreError {
    if let sqlx::Error::Database(db) = &e {
        if db.is_foreign_key_violation() {
            return StoreError::NotFound;
        }
        if db.is_unique_violation() {
            return StoreError::Conflict(format!("{what} already exists"));
        }
    }
    StoreError::Database(e)
}
