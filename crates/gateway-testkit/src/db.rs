//! Fresh databases for tests: a SQLite file in a temp folder, or a new PostgreSQL database
//! (random name) on the server named by `CRM_GATEWAY_TEST_POSTGRES_URL`, dropped again when the
//! value is, so a developer's cluster does not fill up with test databases.

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
    /// A fresh PostgreSQL database, dropped with the value.
    Postgres {
        /// URL of the new database.
        url: String,
        /// The admin URL it was created from (and is dropped through).
        admin: String,
        /// The database's name.
        name: String,
    },
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if let TestDb::Postgres { admin, name, .. } = self {
            drop_postgres_database(admin, name);
        }
    }
}

/// Drops database `name` on the server at `admin`, ending any connection still open to it
/// (a gateway under test may not have closed its pool). Runs on a thread of its own with its
/// own runtime, as `Drop` cannot await; a failure is reported on stderr, never a panic in a
/// drop.
pub fn drop_postgres_database(admin: &str, name: &str) {
    let (admin, db) = (admin.to_owned(), name.to_owned());
    let outcome = std::thread::spawn(move || -> Result<(), String> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| e.to_string())?;
        rt.block_on(async {
            let mut conn = sqlx::PgConnection::connect(&admin)
                .await
                .map_err(|e| e.to_string())?;
            sqlx::query(&format!("DROP DATABASE IF EXISTS {db} WITH (FORCE)"))
                .execute(&mut conn)
                .await
                .map_err(|e| e.to_string())?;
            let _ = conn.close().await;
            Ok(())
        })
    })
    .join();
    match outcome {
        Ok(Ok(())) => {}
        Ok(Err(e)) => eprintln!("test database {name} was not dropped: {e}"),
        Err(_) => eprintln!("test database {name} was not dropped: the dropping thread panicked"),
    }
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
            admin,
            name,
        })
    }

    /// The URL to give the gateway.
    pub fn url(&self) -> &str {
        match self {
            TestDb::Sqlite { url, .. } | TestDb::Postgres { url, .. } => url,
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
