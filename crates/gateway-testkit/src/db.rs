//! Fresh databases for tests: a SQLite file in a temp folder, or a new PostgreSQL database
//! (random name) on the server named by `CRM_GATEWAY_TEST_POSTGRES_URL`.

use sqlx::Connection;

/// Variable naming an admin URL of a PostgreSQL server tests may create databases on.
pub const POSTGRES_URL_VAR: &str = "CRM_GATEWAY_TEST_POSTGRES_URL";
/// When set to 1, a missing PostgreSQL fails the tests instead of skipping them (CI).
pub const REQUIRE_POSTGRES_VAR: &str = "CRM_GATEWAY_REQUIRE_POSTGRES";

/// A database that lives as long as the value.
pub enum TestDb {
    /// A SQLite file in a temp folder.
    Sqlite {
        /// Keeps the folder.
        dir: tempfile::TempDir,
        /// `sqlite://…?mode=rwc`.
        url: String,
    },
    /// A fresh PostgreSQL database.
    Postgres {
        /// URL of the new database.
        url: String,
    },
}

impl TestDb {
    /// A new SQLite file.
    pub fn sqlite() -> TestDb {
        let dir = tempfile::tempdir().expect("temp dir");
        let url = format!(
            "sqlite://{}?mode=rwc",
            dir.path().join("gateway.db").display()
        );
        TestDb::Sqlite { dir, url }
    }

    /// A new PostgreSQL database, or `None` (with a note on stderr) when no server is
    /// configured. Panics when `CRM_GATEWAY_REQUIRE_POSTGRES=1` and none is reachable.
    pub async fn postgres() -> Option<TestDb> {
        let required = std::env::var(REQUIRE_POSTGRES_VAR).is_ok_and(|v| v == "1");
        let Ok(admin) = std::env::var(POSTGRES_URL_VAR) else {
            assert!(
                !required,
                "{REQUIRE_POSTGRES_VAR}=1 but {POSTGRES_URL_VAR} is not set"
            );
            eprintln!("PostgreSQL half SKIPPED: {POSTGRES_URL_VAR} is not set");
            return None;
        };
        let name = format!("crm_e2e_{}", uuid::Uuid::new_v4().simple());
        let mut conn = match sqlx::PgConnection::connect(&admin).await {
            Ok(c) => c,
            Err(e) => {
                assert!(
                    !required,
                    "PostgreSQL at {POSTGRES_URL_VAR} is unreachable: {e}"
                );
                eprintln!("PostgreSQL half SKIPPED: server unreachable: {e}");
                return None;
            }
        };
        sqlx::query(&format!("CREATE DATABASE {name}"))
            .execute(&mut conn)
            .await
            .expect("create database");
        let _ = conn.close().await;
        let mut url = url::Url::parse(&admin).expect("postgres url");
        url.set_path(&format!("/{name}"));
        Some(TestDb::Postgres {
            url: url.to_string(),
        })
    }

    /// The URL to give the gateway.
    pub fn url(&self) -> &str {
        match self {
            TestDb::Sqlite { url, .. } | TestDb::Postgres { url } => url,
        }
    }

    /// Path of the SQLite file, if this is one.
    pub fn sqlite_path(&self) -> Option<std::path::PathBuf> {
        match self {
            TestDb::Sqlite { dir, .. } => Some(dir.path().join("gateway.db")),
            TestDb::Postgres { .. } => None,
        }
    }
}
