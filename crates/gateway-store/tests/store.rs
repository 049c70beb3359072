//! The store conformance suite: each test is written once against `&Store` and runs on SQLite
//! (a fresh temporary file per test) and on PostgreSQL (a fresh database per test, when
//! `CRM_GATEWAY_TEST_POSTGRES_URL` names a server; `CRM_GATEWAY_REQUIRE_POSTGRES=1` makes a
//! missing server a failure instead of a skip).
#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Once;

use chrono::{DateTime, Duration, TimeZone, Utc};
use gateway_core::{ContactId, CredentialId, ProviderKind, RemoteId, TenantId};
use gateway_store::{
    Backend, Cipher, CredentialPatch, DetectedBy, Health, IndexEntry, IndexOrigin, NewCredential,
    SeenContact, Store, StoreError,
};
use secrecy::{ExposeSecret, SecretSlice, SecretString};
use serde_json::json;
use sqlx::Connection as _;

// ---------------------------------------------------------------------------------------------
// Harness
// ---------------------------------------------------------------------------------------------

const PG_URL_VAR: &str = "CRM_GATEWAY_TEST_POSTGRES_URL";
const PG_REQUIRE_VAR: &str = "CRM_GATEWAY_REQUIRE_POSTGRES";

fn key_v1() -> SecretSlice<u8> {
    SecretSlice::from(vec![0x42; 32])
}

fn key_v2() -> SecretSlice<u8> {
    SecretSlice::from(vec![0x17; 32])
}

fn cipher_v1() -> Cipher {
    Cipher::new(1, vec![(1, key_v1())]).unwrap()
}

/// A migrated store on a fresh database, and what to clean up after the test.
struct TestDb {
    store: Store,
    cleanup: Cleanup,
}

enum Cleanup {
    Sqlite { _dir: tempfile::TempDir },
    Postgres { admin_url: String, database: String },
}

impl TestDb {
    async fn sqlite() -> TestDb {
        let (store, dir, _) = sqlite_store().await;
        TestDb {
            store,
            cleanup: Cleanup::Sqlite { _dir: dir },
        }
    }

    /// `None` (after saying so) when PostgreSQL is not configured and not required.
    async fn postgres() -> Option<TestDb> {
        let require = std::env::var(PG_REQUIRE_VAR).is_ok_and(|v| v == "1");
        let admin_url = match std::env::var(PG_URL_VAR) {
            Ok(url) if !url.trim().is_empty() => url,
            _ if require => panic!("{PG_REQUIRE_VAR}=1 but {PG_URL_VAR} is not set"),
            _ => {
                static NOTICE: Once = Once::new();
                // Straight to stderr: the test harness captures eprintln! of passing tests,
                // and a silent skip would look like a pass.
                NOTICE.call_once(|| {
                    let _ = writeln!(
                        std::io::stderr(),
                        "PostgreSQL store tests SKIPPED: {PG_URL_VAR} is not set"
                    );
                });
                return None;
            }
        };
        let database = format!("crm_store_test_{}", uuid::Uuid::new_v4().simple());
        let mut admin = sqlx::PgConnection::connect(&admin_url)
            .await
            .unwrap_or_else(|e| panic!("PostgreSQL at {PG_URL_VAR} is unreachable: {e}"));
        sqlx::query(&format!("CREATE DATABASE \"{database}\""))
            .execute(&mut admin)
            .await
            .unwrap();
        admin.close().await.unwrap();
        let mut url = url::Url::parse(&admin_url).unwrap();
        url.set_path(&format!("/{database}"));
        let store = Store::connect(url.as_str(), cipher_v1()).await.unwrap();
        store.migrate().await.unwrap();
        assert_eq!(store.backend(), Backend::Postgres);
        Some(TestDb {
            store,
            cleanup: Cleanup::Postgres {
                admin_url,
                database,
            },
        })
    }

    /// Cleans up, then re-raises the test's panic if it had one.
    async fn finish(self, outcome: Result<(), tokio::task::JoinError>) {
        self.store.close().await;
        if let Cleanup::Postgres {
            admin_url,
            database,
        } = &self.cleanup
        {
            // Best effort: a leftover database is harmless, a failed test is what matters.
            if let Ok(mut admin) = sqlx::PgConnection::connect(admin_url).await {
                let _ = sqlx::query(&format!(
                    "DROP DATABASE IF EXISTS \"{database}\" WITH (FORCE)"
                ))
                .execute(&mut admin)
                .await;
                let _ = admin.close().await;
            }
        }
        if let Err(e) = outcome {
            match e.try_into_panic() {
                Ok(panic) => std::panic::resume_unwind(panic),
                Err(e) => panic!("test task failed: {e}"),
            }
        }
    }
}

/// A migrated SQLite store in a folder that does not exist yet (so `mode=rwc` must create it).
async fn sqlite_store() -> (Store, tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("nested").join("data").join("store.db");
    let store = Store::connect(
        &format!("sqlite://{}?mode=rwc", file.display()),
        cipher_v1(),
    )
    .await
    .unwrap();
    store.migrate().await.unwrap();
    assert_eq!(store.backend(), Backend::Sqlite);
    (store, dir, file)
}

/// Runs each named suite function on both backends, as `on_sqlite::NAME` and
/// `on_postgres::NAME`. The body runs in its own task so a failing test still drops its
/// database.
macro_rules! store_suite {
    ($($name:ident),* $(,)?) => {
        mod on_sqlite {
            $(
                #[tokio::test]
                async fn $name() {
                    let db = super::TestDb::sqlite().await;
                    let store = db.store.clone();
                    let outcome = tokio::spawn(async move { super::$name(&store).await }).await;
                    db.finish(outcome).await;
                }
            )*
        }
        mod on_postgres {
            $(
                #[tokio::test]
                async fn $name() {
                    let Some(db) = super::TestDb::postgres().await else { return };
                    let store = db.store.clone();
                    let outcome = tokio::spawn(async move { super::$name(&store).await }).await;
                    db.finish(outcome).await;
                }
            )*
        }
    };
}

store_suite!(
    migrate_twice_is_idempotent,
    tenants_and_api_keys,
    credentials_crud,
    credentials_are_tenant_isolated,
    credential_list_pages_by_id,
    rotating_a_secret_reseals_it,
    sealing_is_bound_and_fresh,
    master_key_rotation,
    deleting_a_credential_deletes_its_index,
    index_seen_upserts_with_stable_ids,
    index_deletion_lifecycle,
    index_tombstones_page_by_id,
    index_unseen_since_finds_reconciliation_candidates,
    unchanged_reads_write_nothing,
    timestamps_keep_milliseconds,
    concurrent_writers_all_succeed,
    reseal_skips_and_reports_what_it_cannot_open,
    master_key_check_names_the_version,
    tenants_list_keys_list_and_delete_everything,
);

// ---------------------------------------------------------------------------------------------
// Fixtures
// ---------------------------------------------------------------------------------------------

async fn tenant(store: &Store) -> TenantId {
    store.create_tenant("Acme").await.unwrap().0.id
}

fn new_credential(secret: &str) -> NewCredential {
    NewCredential {
        id: CredentialId::generate(),
        provider: ProviderKind::Bird,
        name: "Acme's Bird".into(),
        settings: json!({"workspaceId": "2d7d5b6e-0000-4000-8000-000000000001", "baseUrl": "https://api.bird.com"}),
        tags: BTreeMap::from([("customer".to_owned(), "acme".to_owned())]),
        secret: SecretString::from(secret.to_owned()),
    }
}

async fn credential(store: &Store, tenant: &TenantId) -> CredentialId {
    store
        .create_credential(tenant, new_credential("bird-sandbox-key"))
        .await
        .unwrap()
        .id
}

fn ts(ms: i64) -> DateTime<Utc> {
    Utc.timestamp_millis_opt(ms).unwrap()
}

fn seen(remote: &str, fingerprint: &str) -> SeenContact {
    SeenContact {
        remote_id: RemoteId::from(remote),
        remote_created_at: Some(ts(1_700_000_000_123)),
        remote_updated_at: Some(ts(1_700_000_500_456)),
        remote_deleted_at: None,
        fingerprint: fingerprint.into(),
    }
}

fn deleted(remote: &str, at: DateTime<Utc>) -> SeenContact {
    SeenContact {
        remote_deleted_at: Some(at),
        ..seen(remote, "gone")
    }
}

fn t0() -> DateTime<Utc> {
    ts(1_750_000_000_000)
}

// ---------------------------------------------------------------------------------------------
// The suite
// ---------------------------------------------------------------------------------------------

async fn migrate_twice_is_idempotent(store: &Store) {
    store.migrate().await.unwrap();
    store.migrate().await.unwrap();
    store.ping().await.unwrap();
    let (t, key) = store.create_tenant("after re-migration").await.unwrap();
    assert_eq!(
        store
            .authenticate(key.api_key.expose_secret())
            .await
            .unwrap(),
        Some(t.id)
    );
}

async fn tenants_and_api_keys(store: &Store) {
    let (acme, key1) = store.create_tenant("Acme").await.unwrap();
    assert!(acme.id.as_str().starts_with("ten_"));
    assert_eq!(
        store.get_tenant(&acme.id).await.unwrap(),
        Some(acme.clone())
    );
    assert_eq!(store.get_tenant(&TenantId::generate()).await.unwrap(), None);

    let k1 = key1.api_key.expose_secret().to_owned();
    assert!(k1.starts_with("cgw_"));
    assert!(k1.contains(key1.key_id.as_str().trim_start_matches("key_")));
    assert_eq!(
        store.authenticate(&k1).await.unwrap(),
        Some(acme.id.clone())
    );

    // Right key id, wrong secret half (same shape, so it reaches the hash comparison).
    let (prefix, secret) = k1.rsplit_once('_').unwrap();
    let flipped: String = secret
        .chars()
        .map(|c| if c == 'A' { 'B' } else { 'A' })
        .collect();
    assert_eq!(
        store
            .authenticate(&format!("{prefix}_{flipped}"))
            .await
            .unwrap(),
        None
    );

    for malformed in [
        "",
        "cgw_",
        "Bearer x",
        "cgw_zz_zz",
        &k1[..k1.len() - 1],
        &format!("{k1}x"),
        &k1.to_uppercase(),
    ] {
        assert_eq!(
            store.authenticate(malformed).await.unwrap(),
            None,
            "{malformed:?}"
        );
    }

    let key2 = store.create_api_key(&acme.id).await.unwrap();
    assert_ne!(key2.key_id, key1.key_id);
    let k2 = key2.api_key.expose_secret().to_owned();
    assert_ne!(k2, k1);
    assert_eq!(
        store.authenticate(&k2).await.unwrap(),
        Some(acme.id.clone())
    );

    store.revoke_api_key(&acme.id, &key1.key_id).await.unwrap();
    assert_eq!(store.authenticate(&k1).await.unwrap(), None);
    assert_eq!(
        store.authenticate(&k2).await.unwrap(),
        Some(acme.id.clone())
    );
    store.revoke_api_key(&acme.id, &key1.key_id).await.unwrap();

    let (other, other_key) = store.create_tenant("Other").await.unwrap();
    assert!(matches!(
        store.revoke_api_key(&acme.id, &other_key.key_id).await,
        Err(StoreError::NotFound)
    ));
    assert_eq!(
        store
            .authenticate(other_key.api_key.expose_secret())
            .await
            .unwrap(),
        Some(other.id)
    );
    assert!(matches!(
        store
            .revoke_api_key(&acme.id, &gateway_core::ApiKeyId::generate())
            .await,
        Err(StoreError::NotFound)
    ));
    assert!(matches!(
        store.create_api_key(&TenantId::generate()).await,
        Err(StoreError::NotFound)
    ));
}

async fn credentials_crud(store: &Store) {
    let t = tenant(store).await;
    let new = new_credential("bird-sandbox-key");
    let id = new.id.clone();
    let created = store.create_credential(&t, new).await.unwrap();
    assert_eq!(created.id, id);
    assert_eq!(created.tenant_id, t);
    assert_eq!(created.provider, ProviderKind::Bird);
    assert_eq!(created.health, Health::Unknown);
    assert_eq!(created.health_checked_at, None);
    assert_eq!(created.created_at, created.updated_at);
    assert_eq!(
        created.tags.get("customer").map(String::as_str),
        Some("acme")
    );
    assert_eq!(
        store.get_credential(&t, &id).await.unwrap(),
        Some(created.clone())
    );
    assert_eq!(
        store
            .credential_secret(&t, &id)
            .await
            .unwrap()
            .expose_secret(),
        "bird-sandbox-key"
    );

    let renamed = store
        .update_credential(
            &t,
            &id,
            CredentialPatch {
                name: Some("Renamed".into()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(renamed.name, "Renamed");
    assert_eq!(renamed.settings, created.settings);
    assert_eq!(renamed.tags, created.tags);
    assert!(renamed.updated_at >= created.updated_at);
    assert_eq!(renamed.created_at, created.created_at);

    let settings = json!({"workspaceId": "2d7d5b6e-0000-4000-8000-000000000002"});
    let tags = BTreeMap::from([("tier".to_owned(), "gold".to_owned())]);
    let patched = store
        .update_credential(
            &t,
            &id,
            CredentialPatch {
                settings: Some(settings.clone()),
                tags: Some(tags.clone()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(
        (patched.name.as_str(), &patched.settings, &patched.tags),
        ("Renamed", &settings, &tags)
    );
    assert_eq!(
        store.get_credential(&t, &id).await.unwrap(),
        Some(patched.clone())
    );
    // The secret is untouched by a patch without one.
    assert_eq!(
        store
            .credential_secret(&t, &id)
            .await
            .unwrap()
            .expose_secret(),
        "bird-sandbox-key"
    );

    let checked_at = ts(1_760_000_000_321);
    store
        .set_credential_health(
            &t,
            &id,
            Health::NeedsReauth,
            Some("provider answered 401"),
            checked_at,
        )
        .await
        .unwrap();
    let checked = store.get_credential(&t, &id).await.unwrap().unwrap();
    assert_eq!(checked.health, Health::NeedsReauth);
    assert_eq!(
        checked.health_detail.as_deref(),
        Some("provider answered 401")
    );
    assert_eq!(checked.health_checked_at, Some(checked_at));
    assert_eq!(checked.updated_at, patched.updated_at);
    let as_json = serde_json::to_value(&checked).unwrap();
    assert_eq!(as_json["health"], "needs_reauth");
    assert!(as_json.get("secret").is_none());
    store
        .set_credential_health(&t, &id, Health::Ok, None, checked_at)
        .await
        .unwrap();
    let ok = store.get_credential(&t, &id).await.unwrap().unwrap();
    assert_eq!((ok.health, ok.health_detail), (Health::Ok, None));

    let mut duplicate = new_credential("x");
    duplicate.id = id.clone();
    assert!(matches!(
        store.create_credential(&t, duplicate).await,
        Err(StoreError::Conflict(_))
    ));
    assert!(matches!(
        store
            .create_credential(&TenantId::generate(), new_credential("x"))
            .await,
        Err(StoreError::NotFound)
    ));

    store.delete_credential(&t, &id).await.unwrap();
    assert_eq!(store.get_credential(&t, &id).await.unwrap(), None);
    assert!(matches!(
        store.delete_credential(&t, &id).await,
        Err(StoreError::NotFound)
    ));
    assert!(matches!(
        store.credential_secret(&t, &id).await,
        Err(StoreError::NotFound)
    ));
    assert!(matches!(
        store
            .update_credential(&t, &id, CredentialPatch::default())
            .await,
        Err(StoreError::NotFound)
    ));
    assert!(matches!(
        store
            .set_credential_health(&t, &id, Health::Ok, None, Utc::now())
            .await,
        Err(StoreError::NotFound)
    ));
}

async fn credentials_are_tenant_isolated(store: &Store) {
    let owner = tenant(store).await;
    let intruder = tenant(store).await;
    let cred = credential(store, &owner).await;
    let entry = store
        .index_seen(&owner, &cred, &[seen("r1", "fp1")], t0())
        .await
        .unwrap()
        .remove(0);

    assert_eq!(store.get_credential(&intruder, &cred).await.unwrap(), None);
    assert!(store
        .list_credentials(&intruder, None, 10)
        .await
        .unwrap()
        .is_empty());
    let patch = CredentialPatch {
        name: Some("pwned".into()),
        secret: Some("x".to_owned().into()),
        ..Default::default()
    };
    assert!(matches!(
        store.update_credential(&intruder, &cred, patch).await,
        Err(StoreError::NotFound)
    ));
    assert!(matches!(
        store.delete_credential(&intruder, &cred).await,
        Err(StoreError::NotFound)
    ));
    assert!(matches!(
        store.credential_secret(&intruder, &cred).await,
        Err(StoreError::NotFound)
    ));
    assert!(matches!(
        store.credential_sealed(&intruder, &cred).await,
        Err(StoreError::NotFound)
    ));
    assert!(matches!(
        store
            .set_credential_health(&intruder, &cred, Health::Ok, None, Utc::now())
            .await,
        Err(StoreError::NotFound)
    ));

    // The index: an existing remote id, a new one, and an empty page all refuse.
    assert!(matches!(
        store
            .index_seen(&intruder, &cred, &[seen("r1", "evil")], t0())
            .await,
        Err(StoreError::NotFound)
    ));
    assert!(matches!(
        store
            .index_seen(&intruder, &cred, &[seen("r-new", "evil")], t0())
            .await,
        Err(StoreError::NotFound)
    ));
    assert!(matches!(
        store
            .index_seen(
                &intruder,
                &cred,
                &[seen("r1", "evil"), seen("r-new", "evil")],
                t0()
            )
            .await,
        Err(StoreError::NotFound)
    ));
    assert!(matches!(
        store.index_seen(&intruder, &cred, &[], t0()).await,
        Err(StoreError::NotFound)
    ));
    assert_eq!(
        store.index_get(&intruder, &cred, &entry.id).await.unwrap(),
        None
    );
    assert_eq!(
        store
            .index_get_by_remote(&intruder, &cred, &"r1".into())
            .await
            .unwrap(),
        None
    );
    assert!(matches!(
        store
            .index_mark_deleted(&intruder, &cred, &entry.id, DetectedBy::Diff, t0())
            .await,
        Err(StoreError::NotFound)
    ));
    assert!(matches!(
        store.index_remove(&intruder, &cred, &entry.id).await,
        Err(StoreError::NotFound)
    ));
    assert_eq!(store.index_count(&intruder, &cred).await.unwrap(), 0);

    // Nothing the intruder tried changed the owner's data.
    let record = store.get_credential(&owner, &cred).await.unwrap().unwrap();
    assert_eq!(record.name, "Acme's Bird");
    assert_eq!(
        store
            .credential_secret(&owner, &cred)
            .await
            .unwrap()
            .expose_secret(),
        "bird-sandbox-key"
    );
    assert_eq!(
        store.index_get(&owner, &cred, &entry.id).await.unwrap(),
        Some(entry)
    );
    assert_eq!(store.index_count(&owner, &cred).await.unwrap(), 1);
}

async fn credential_list_pages_by_id(store: &Store) {
    let a = tenant(store).await;
    let b = tenant(store).await;
    let mut mine = Vec::new();
    for _ in 0..5 {
        mine.push(credential(store, &a).await);
        credential(store, &b).await;
    }
    let mut seen_ids = Vec::new();
    let mut after: Option<CredentialId> = None;
    let mut pages = 0;
    loop {
        let page = store.list_credentials(&a, after.as_ref(), 2).await.unwrap();
        if page.is_empty() {
            break;
        }
        assert!(page.len() <= 2);
        assert!(page.iter().all(|c| c.tenant_id == a));
        pages += 1;
        after = page.last().map(|c| c.id.clone());
        seen_ids.extend(page.into_iter().map(|c| c.id));
    }
    assert_eq!(pages, 3);
    assert_eq!(
        seen_ids, mine,
        "creation order = id order, each credential exactly once"
    );
    assert!(store
        .list_credentials(&a, None, 0)
        .await
        .unwrap()
        .is_empty());
    assert_eq!(
        store.list_credentials(&a, None, 100).await.unwrap().len(),
        5
    );
}

async fn rotating_a_secret_reseals_it(store: &Store) {
    let t = tenant(store).await;
    let cred = credential(store, &t).await;
    let before = store.credential_sealed(&t, &cred).await.unwrap();
    let record = store.get_credential(&t, &cred).await.unwrap().unwrap();

    let patch = CredentialPatch {
        secret: Some("bird-rotated-key".to_owned().into()),
        ..Default::default()
    };
    let rotated = store.update_credential(&t, &cred, patch).await.unwrap();
    assert!(rotated.updated_at >= record.updated_at);
    assert_eq!(rotated.name, record.name);
    assert_eq!(
        store
            .credential_secret(&t, &cred)
            .await
            .unwrap()
            .expose_secret(),
        "bird-rotated-key"
    );
    let after = store.credential_sealed(&t, &cred).await.unwrap();
    assert_ne!(after.nonce, before.nonce);
    assert_ne!(after.ciphertext, before.ciphertext);

    // The same secret again still gets a fresh nonce and a different ciphertext.
    let patch = CredentialPatch {
        secret: Some("bird-rotated-key".to_owned().into()),
        ..Default::default()
    };
    store.update_credential(&t, &cred, patch).await.unwrap();
    let again = store.credential_sealed(&t, &cred).await.unwrap();
    assert_ne!(again.nonce, after.nonce);
    assert_ne!(again.ciphertext, after.ciphertext);
    assert_eq!(
        store
            .credential_secret(&t, &cred)
            .await
            .unwrap()
            .expose_secret(),
        "bird-rotated-key"
    );
}

async fn sealing_is_bound_and_fresh(store: &Store) {
    let t = tenant(store).await;
    let a = credential(store, &t).await;
    let b = credential(store, &t).await;
    let sa = store.credential_sealed(&t, &a).await.unwrap();
    let sb = store.credential_sealed(&t, &b).await.unwrap();
    assert_eq!(sa.key_version, 1);
    assert_ne!(sa.nonce, sb.nonce);
    assert_ne!(sa.ciphertext, sb.ciphertext);
    assert_ne!(sa.ciphertext.as_slice(), b"bird-sandbox-key".as_slice());

    let cipher = cipher_v1();
    assert_eq!(
        cipher.decrypt(a.as_str(), &sa).unwrap(),
        b"bird-sandbox-key"
    );
    // Another credential's id as associated data: a ciphertext copied between rows won't open.
    assert!(matches!(
        cipher.decrypt(b.as_str(), &sa),
        Err(StoreError::Crypto(_))
    ));
    let mut tampered = sa.clone();
    tampered.ciphertext[0] ^= 1;
    assert!(matches!(
        cipher.decrypt(a.as_str(), &tampered),
        Err(StoreError::Crypto(_))
    ));
}

async fn master_key_rotation(store: &Store) {
    let t = tenant(store).await;
    let old = credential(store, &t).await;

    let rotated = store.with_cipher(Cipher::new(2, vec![(1, key_v1()), (2, key_v2())]).unwrap());
    assert_eq!(
        rotated
            .credential_secret(&t, &old)
            .await
            .unwrap()
            .expose_secret(),
        "bird-sandbox-key"
    );
    let new = rotated
        .create_credential(&t, new_credential("fresh-secret"))
        .await
        .unwrap()
        .id;
    assert_eq!(
        rotated
            .credential_sealed(&t, &new)
            .await
            .unwrap()
            .key_version,
        2
    );
    assert_eq!(
        rotated
            .credential_secret(&t, &new)
            .await
            .unwrap()
            .expose_secret(),
        "fresh-secret"
    );
    // A ring without version 2 cannot open it.
    assert!(matches!(
        store.credential_secret(&t, &new).await,
        Err(StoreError::Crypto(_))
    ));

    assert_eq!(rotated.reseal_stale_secrets(100).await.unwrap().resealed, 1);
    assert_eq!(rotated.reseal_stale_secrets(100).await.unwrap().resealed, 0);
    assert_eq!(
        rotated
            .credential_sealed(&t, &old)
            .await
            .unwrap()
            .key_version,
        2
    );
    assert_eq!(
        rotated
            .credential_secret(&t, &old)
            .await
            .unwrap()
            .expose_secret(),
        "bird-sandbox-key"
    );
    let v2_only = store.with_cipher(Cipher::new(2, vec![(2, key_v2())]).unwrap());
    assert_eq!(
        v2_only
            .credential_secret(&t, &old)
            .await
            .unwrap()
            .expose_secret(),
        "bird-sandbox-key"
    );
}

async fn deleting_a_credential_deletes_its_index(store: &Store) {
    let t = tenant(store).await;
    let doomed = store
        .create_credential(&t, new_credential("k"))
        .await
        .unwrap();
    let kept = credential(store, &t).await;
    let entries = store
        .index_seen(
            &t,
            &doomed.id,
            &[seen("r1", "a"), seen("r2", "b"), seen("r3", "c")],
            t0(),
        )
        .await
        .unwrap();
    store
        .index_seen(&t, &kept, &[seen("r1", "a")], t0())
        .await
        .unwrap();
    assert_eq!(store.index_count(&t, &doomed.id).await.unwrap(), 3);

    store.delete_credential(&t, &doomed.id).await.unwrap();
    assert_eq!(
        store
            .index_get(&t, &doomed.id, &entries[0].id)
            .await
            .unwrap(),
        None
    );
    assert_eq!(store.index_count(&t, &kept).await.unwrap(), 1);
    // Re-creating a credential under the same id finds no leftover rows.
    let mut again = new_credential("k");
    again.id = doomed.id.clone();
    store.create_credential(&t, again).await.unwrap();
    assert_eq!(store.index_count(&t, &doomed.id).await.unwrap(), 0);
}

async fn index_seen_upserts_with_stable_ids(store: &Store) {
    let t = tenant(store).await;
    let cred = credential(store, &t).await;
    let now1 = t0();
    let first = store
        .index_seen(
            &t,
            &cred,
            &[seen("r1", "a"), seen("r2", "b"), seen("r3", "c")],
            now1,
        )
        .await
        .unwrap();
    assert_eq!(
        first
            .iter()
            .map(|e| e.remote_id.as_str())
            .collect::<Vec<_>>(),
        ["r1", "r2", "r3"]
    );
    for e in &first {
        assert!(e.id.as_str().starts_with("con_"));
        assert_eq!((&e.tenant_id, &e.credential_id), (&t, &cred));
        assert_eq!(
            (e.created_at, e.updated_at, e.last_seen_at),
            (now1, now1, Some(now1))
        );
        assert!(!e.remote_deleted);
        assert_eq!((e.remote_deleted_at, e.deletion_detected_by), (None, None));
        assert_eq!(e.remote_created_at, Some(ts(1_700_000_000_123)));
    }
    assert_eq!(first[1].fingerprint.as_deref(), Some("b"));
    let ids: std::collections::HashSet<_> = first.iter().map(|e| e.id.clone()).collect();
    assert_eq!(ids.len(), 3);

    // Order follows the input, not the database: known and new ids interleaved.
    let now2 = now1 + Duration::milliseconds(1500);
    let mut r1_unchanged = seen("r1", "a");
    r1_unchanged.remote_created_at = None;
    let second = store
        .index_seen(
            &t,
            &cred,
            &[seen("r3", "c2"), seen("r4", "d"), r1_unchanged],
            now2,
        )
        .await
        .unwrap();
    assert_eq!(
        second
            .iter()
            .map(|e| e.remote_id.as_str())
            .collect::<Vec<_>>(),
        ["r3", "r4", "r1"]
    );
    assert_eq!(second[0].id, first[2].id);
    assert_eq!(second[0].fingerprint.as_deref(), Some("c2"));
    assert_eq!((second[0].created_at, second[0].updated_at), (now1, now2));
    assert!(!ids.contains(&second[1].id));
    assert_eq!(second[1].created_at, now2);
    assert_eq!(second[2].id, first[0].id);
    assert_eq!(second[2].last_seen_at, Some(now2));
    assert_eq!(
        second[2].updated_at, now1,
        "seen unchanged: updated_at stays"
    );
    assert_eq!(
        second[2].remote_created_at,
        Some(ts(1_700_000_000_123)),
        "a missing time keeps the known one"
    );

    assert_eq!(store.index_count(&t, &cred).await.unwrap(), 4);
    assert_eq!(
        store.index_get(&t, &cred, &first[1].id).await.unwrap(),
        Some(first[1].clone())
    );
    assert_eq!(
        store
            .index_get_by_remote(&t, &cred, &"r4".into())
            .await
            .unwrap(),
        Some(second[1].clone())
    );
    assert_eq!(
        store
            .index_get_by_remote(&t, &cred, &"nope".into())
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        store
            .index_get(&t, &cred, &ContactId::generate())
            .await
            .unwrap(),
        None
    );

    // The same remote id twice in one page: one row, the later values win.
    let dup = store
        .index_seen(&t, &cred, &[seen("r5", "x"), seen("r5", "y")], now2)
        .await
        .unwrap();
    assert_eq!(dup[0], dup[1]);
    assert_eq!(dup[1].fingerprint.as_deref(), Some("y"));

    // A full provider page: one batch, order kept, ids stable on a second pass.
    let page: Vec<SeenContact> = (0..100)
        .map(|i| seen(&format!("p{i}"), &format!("f{i}")))
        .collect();
    let a = store.index_seen(&t, &cred, &page, now2).await.unwrap();
    let b = store
        .index_seen(&t, &cred, &page, now2 + Duration::seconds(1))
        .await
        .unwrap();
    assert_eq!(a.len(), 100);
    assert!(a.iter().zip(&page).all(|(e, s)| e.remote_id == s.remote_id));
    assert_eq!(
        a.iter().map(|e| &e.id).collect::<Vec<_>>(),
        b.iter().map(|e| &e.id).collect::<Vec<_>>()
    );
    assert_eq!(store.index_count(&t, &cred).await.unwrap(), 105);

    assert!(store
        .index_seen(&t, &cred, &[], now2)
        .await
        .unwrap()
        .is_empty());
    assert!(matches!(
        store
            .index_seen(&t, &CredentialId::generate(), &[seen("r1", "a")], now2)
            .await,
        Err(StoreError::NotFound)
    ));
}

async fn index_deletion_lifecycle(store: &Store) {
    let t = tenant(store).await;
    let cred = credential(store, &t).await;
    let now = t0();
    let e = store
        .index_seen(
            &t,
            &cred,
            &[seen("r1", "a"), seen("r2", "b"), seen("r3", "c")],
            now,
        )
        .await
        .unwrap();

    // Native soft delete reported by the provider.
    let gone_at = ts(1_749_999_999_999);
    let flagged = store
        .index_seen(
            &t,
            &cred,
            &[deleted("r1", gone_at)],
            now + Duration::seconds(1),
        )
        .await
        .unwrap();
    assert_eq!(flagged[0].id, e[0].id);
    assert!(flagged[0].remote_deleted);
    assert_eq!(flagged[0].remote_deleted_at, Some(gone_at));
    assert_eq!(flagged[0].deletion_detected_by, Some(DetectedBy::Native));
    assert_eq!(
        store.index_tombstones(&t, &cred, None, 10).await.unwrap(),
        vec![flagged[0].clone()]
    );

    // Seen alive again: restored under the same id.
    let back = store
        .index_seen(&t, &cred, &[seen("r1", "a")], now + Duration::seconds(2))
        .await
        .unwrap();
    assert_eq!(back[0].id, e[0].id);
    assert!(!back[0].remote_deleted);
    assert_eq!(
        (back[0].remote_deleted_at, back[0].deletion_detected_by),
        (None, None)
    );
    assert!(store
        .index_tombstones(&t, &cred, None, 10)
        .await
        .unwrap()
        .is_empty());

    // Detected by the reconciler; a later detection does not overwrite the first.
    let diff_at = now + Duration::seconds(3);
    let marked = store
        .index_mark_deleted(&t, &cred, &e[1].id, DetectedBy::Diff, diff_at)
        .await
        .unwrap();
    assert!(marked.remote_deleted);
    assert_eq!(
        (marked.remote_deleted_at, marked.deletion_detected_by),
        (Some(diff_at), Some(DetectedBy::Diff))
    );
    let again = store
        .index_mark_deleted(
            &t,
            &cred,
            &e[1].id,
            DetectedBy::OnUse,
            diff_at + Duration::seconds(1),
        )
        .await
        .unwrap();
    assert_eq!(again, marked);
    assert_eq!(
        store.index_get(&t, &cred, &e[1].id).await.unwrap(),
        Some(marked)
    );
    let restored = store
        .index_seen(&t, &cred, &[seen("r2", "b")], now + Duration::seconds(4))
        .await
        .unwrap();
    assert!(!restored[0].remote_deleted);
    assert_eq!(restored[0].deletion_detected_by, None);

    // A page fetched before an on-use flag and written after it does not restore the contact;
    // one fetched after the flag does. (The flag's row change is stamped with the clock.)
    let fetched_before = Utc::now() - Duration::seconds(1);
    let flagged = store
        .index_mark_deleted(&t, &cred, &e[1].id, DetectedBy::OnUse, now)
        .await
        .unwrap();
    let stale = store
        .index_seen(&t, &cred, &[seen("r2", "b")], fetched_before)
        .await
        .unwrap();
    assert!(stale[0].remote_deleted, "a stale page restored it");
    assert_eq!(stale[0].deletion_detected_by, Some(DetectedBy::OnUse));
    assert_eq!(stale[0].updated_at, flagged.updated_at);
    let fresh = store
        .index_seen(
            &t,
            &cred,
            &[seen("r2", "b")],
            Utc::now() + Duration::seconds(1),
        )
        .await
        .unwrap();
    assert!(!fresh[0].remote_deleted);

    assert!(matches!(
        store
            .index_mark_deleted(&t, &cred, &ContactId::generate(), DetectedBy::OnUse, now)
            .await,
        Err(StoreError::NotFound)
    ));

    // Deleted through the gateway: the entry goes.
    store.index_remove(&t, &cred, &e[2].id).await.unwrap();
    assert_eq!(store.index_get(&t, &cred, &e[2].id).await.unwrap(), None);
    assert!(matches!(
        store.index_remove(&t, &cred, &e[2].id).await,
        Err(StoreError::NotFound)
    ));
    assert_eq!(store.index_count(&t, &cred).await.unwrap(), 2);
    // If it ever shows up again it is a new contact to the gateway.
    let reborn = store
        .index_seen(&t, &cred, &[seen("r3", "c")], now)
        .await
        .unwrap();
    assert_ne!(reborn[0].id, e[2].id);
}

async fn index_tombstones_page_by_id(store: &Store) {
    let t = tenant(store).await;
    let cred = credential(store, &t).await;
    let other = credential(store, &t).await;
    let page: Vec<SeenContact> = (0..7).map(|i| seen(&format!("r{i}"), "f")).collect();
    let entries = store.index_seen(&t, &cred, &page, t0()).await.unwrap();
    store
        .index_seen(&t, &other, &[deleted("r0", t0())], t0())
        .await
        .unwrap();

    // Five of seven deleted, some natively and some by detection.
    let gone = store
        .index_seen(&t, &cred, &[deleted("r1", t0()), deleted("r4", t0())], t0())
        .await
        .unwrap();
    for i in [2, 5, 6] {
        store
            .index_mark_deleted(&t, &cred, &entries[i].id, DetectedBy::Diff, t0())
            .await
            .unwrap();
    }
    let mut expected: Vec<ContactId> = gone
        .iter()
        .map(|e| e.id.clone())
        .chain([2, 5, 6].map(|i| entries[i].id.clone()))
        .collect();
    expected.sort();

    let mut got: Vec<IndexEntry> = Vec::new();
    let mut after: Option<ContactId> = None;
    let mut sizes = Vec::new();
    loop {
        let page = store
            .index_tombstones(&t, &cred, after.as_ref(), 2)
            .await
            .unwrap();
        if page.is_empty() {
            break;
        }
        sizes.push(page.len());
        after = page.last().map(|e| e.id.clone());
        got.extend(page);
    }
    assert_eq!(sizes, [2, 2, 1]);
    assert!(got
        .iter()
        .all(|e| e.remote_deleted && e.credential_id == cred));
    assert_eq!(
        got.iter().map(|e| e.id.clone()).collect::<Vec<_>>(),
        expected
    );
    assert_eq!(store.index_count(&t, &cred).await.unwrap(), 7);
}

async fn unchanged_reads_write_nothing(store: &Store) {
    let t = tenant(store).await;
    let cred = credential(store, &t).await;
    let now = Utc::now();
    let first = store
        .index_seen(&t, &cred, &[seen("a", "1")], now)
        .await
        .unwrap();
    // Read again unchanged within a minute: the same entry, nothing recorded.
    let later = now + Duration::seconds(30);
    let again = store
        .index_seen(&t, &cred, &[seen("a", "1")], later)
        .await
        .unwrap();
    assert_eq!(again, first);
    // Changed, or seen long after: recorded.
    let changed = store
        .index_seen(&t, &cred, &[seen("a", "2")], later)
        .await
        .unwrap();
    assert_eq!(changed[0].fingerprint.as_deref(), Some("2"));
    assert_eq!(changed[0].last_seen_at, Some(truncate(later)));
    let much_later = later + Duration::minutes(5);
    let refreshed = store
        .index_seen(&t, &cred, &[seen("a", "2")], much_later)
        .await
        .unwrap();
    assert_eq!(refreshed[0].last_seen_at, Some(truncate(much_later)));
    // A contact the index does not know yet is recorded at once.
    let new = store
        .index_seen(&t, &cred, &[seen("a", "2"), seen("b", "1")], much_later)
        .await
        .unwrap();
    assert_eq!(new[0].id, first[0].id);
    assert_eq!(store.index_count(&t, &cred).await.unwrap(), 2);
}

fn truncate(t: DateTime<Utc>) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(t.timestamp_millis()).unwrap()
}

async fn index_unseen_since_finds_reconciliation_candidates(store: &Store) {
    let t = tenant(store).await;
    let cred = credential(store, &t).await;
    let start = t0();
    let e = store
        .index_seen(
            &t,
            &cred,
            &[seen("a", "1"), seen("b", "2"), seen("c", "3")],
            start,
        )
        .await
        .unwrap();
    store
        .index_mark_deleted(&t, &cred, &e[2].id, DetectedBy::OnUse, start)
        .await
        .unwrap();
    // One millisecond later a run starts and sees only "b" (a run always records its sightings;
    // an API read of an unchanged contact may skip the write).
    let run = start + Duration::milliseconds(1);
    store
        .index_seen_with(
            &t,
            &cred,
            &[seen("b", "2")],
            run,
            &IndexOrigin::Reconciliation(gateway_core::RunId::generate()),
        )
        .await
        .unwrap();
    let candidates = store
        .index_unseen_since(&t, &cred, run, None, 10)
        .await
        .unwrap();
    assert_eq!(
        candidates
            .iter()
            .map(|e| e.remote_id.as_str())
            .collect::<Vec<_>>(),
        ["a"]
    );
    assert!(store
        .index_unseen_since(&t, &cred, start, None, 10)
        .await
        .unwrap()
        .is_empty());
}

async fn timestamps_keep_milliseconds(store: &Store) {
    let (tenant_record, _) = store.create_tenant("Clock").await.unwrap();
    assert_eq!(
        store
            .get_tenant(&tenant_record.id)
            .await
            .unwrap()
            .unwrap()
            .created_at,
        tenant_record.created_at
    );
    let t = tenant_record.id;
    let created = store
        .create_credential(&t, new_credential("k"))
        .await
        .unwrap();
    assert_eq!(
        store.get_credential(&t, &created.id).await.unwrap(),
        Some(created.clone())
    );

    let samples = [
        Utc.with_ymd_and_hms(2024, 2, 29, 23, 59, 59).unwrap() + Duration::milliseconds(999),
        Utc.with_ymd_and_hms(1969, 7, 20, 20, 17, 40).unwrap() + Duration::milliseconds(1),
        Utc.with_ymd_and_hms(2099, 12, 31, 0, 0, 0).unwrap() + Duration::milliseconds(7),
    ];
    for (i, at) in samples.iter().enumerate() {
        let s = SeenContact {
            remote_id: RemoteId::from(format!("t{i}")),
            remote_created_at: Some(*at),
            remote_updated_at: Some(*at + Duration::milliseconds(1)),
            remote_deleted_at: Some(*at + Duration::milliseconds(2)),
            fingerprint: "f".into(),
        };
        let written = store
            .index_seen(&t, &created.id, &[s], *at)
            .await
            .unwrap()
            .remove(0);
        let read = store
            .index_get(&t, &created.id, &written.id)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(read, written);
        assert_eq!(read.remote_created_at, Some(*at));
        assert_eq!(
            read.remote_updated_at,
            Some(*at + Duration::milliseconds(1))
        );
        assert_eq!(
            read.remote_deleted_at,
            Some(*at + Duration::milliseconds(2))
        );
        assert_eq!(read.last_seen_at, Some(*at));
    }

    // Finer than a millisecond is cut to the millisecond, the same way on every backend.
    let fine = Utc.timestamp_opt(1_760_000_000, 123_456_789).unwrap();
    store
        .set_credential_health(&t, &created.id, Health::Ok, None, fine)
        .await
        .unwrap();
    let checked = store
        .get_credential(&t, &created.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(checked.health_checked_at, Some(ts(1_760_000_000_123)));
}

async fn concurrent_writers_all_succeed(store: &Store) {
    let t = tenant(store).await;
    let cred = credential(store, &t).await;
    // Overlapping pages in opposite orders, alongside credential writes: SQLite must queue the
    // writers (busy timeout) and PostgreSQL must not deadlock.
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..8 {
        let (store, t, cred) = (store.clone(), t.clone(), cred.clone());
        tasks.spawn(async move {
            let mut page: Vec<SeenContact> = (0..50)
                .map(|n| seen(&format!("c{n}"), &format!("w{i}")))
                .collect();
            if i % 2 == 1 {
                page.reverse();
            }
            store.index_seen(&t, &cred, &page, t0()).await.unwrap();
            let patch = CredentialPatch {
                name: Some(format!("writer {i}")),
                ..Default::default()
            };
            store.update_credential(&t, &cred, patch).await.unwrap();
            store.create_api_key(&t).await.unwrap();
        });
    }
    while let Some(done) = tasks.join_next().await {
        done.unwrap();
    }
    assert_eq!(store.index_count(&t, &cred).await.unwrap(), 50);
}

// ---------------------------------------------------------------------------------------------
// SQLite specifics
// ---------------------------------------------------------------------------------------------

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// Every byte SQLite keeps for this database: the file and any journal or WAL beside it.
fn database_bytes(file: &Path) -> Vec<u8> {
    let dir = file.parent().unwrap();
    let stem = file.file_name().unwrap().to_string_lossy().into_owned();
    let mut bytes = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let entry = entry.unwrap();
        if entry.file_name().to_string_lossy().starts_with(&stem) {
            bytes.extend(std::fs::read(entry.path()).unwrap());
        }
    }
    bytes
}

#[tokio::test]
async fn sqlite_file_never_holds_plaintext_secrets_or_keys() {
    let (store, _dir, file) = sqlite_store().await;
    let (t, key) = store.create_tenant("Acme").await.unwrap();
    let t = t.id;
    // `cgw_<key id hex>_<secret>`: the secret (base64url) may itself hold `_`, so split after
    // the id, not at the last underscore (which could leave a one-letter "secret").
    let api_secret_half = key
        .api_key
        .expose_secret()
        .strip_prefix("cgw_")
        .and_then(|rest| rest.split_once('_'))
        .unwrap()
        .1
        .to_owned();
    assert!(api_secret_half.len() >= 40, "{api_secret_half}");
    let first = "sk_live_FIRST_PLAINTEXT_MARKER_4f1c";
    let second = "sk_live_SECOND_PLAINTEXT_MARKER_9b2e";
    let doomed_secret = "sk_live_DELETED_PLAINTEXT_MARKER_77aa";
    let mut new = new_credential(first);
    new.name = "VISIBLE_NAME_MARKER".into();
    let cred = store.create_credential(&t, new).await.unwrap().id;
    let patch = CredentialPatch {
        secret: Some(second.to_owned().into()),
        ..Default::default()
    };
    store.update_credential(&t, &cred, patch).await.unwrap();
    let doomed = store
        .create_credential(&t, new_credential(doomed_secret))
        .await
        .unwrap()
        .id;
    store.delete_credential(&t, &doomed).await.unwrap();
    assert_eq!(
        store
            .credential_secret(&t, &cred)
            .await
            .unwrap()
            .expose_secret(),
        second
    );
    // Closing the last connection checkpoints the WAL into the main file.
    store.close().await;

    let bytes = database_bytes(&file);
    assert!(
        contains(&bytes, b"VISIBLE_NAME_MARKER"),
        "the scan must see the stored rows"
    );
    for secret in [first, second, doomed_secret, api_secret_half.as_str()] {
        assert!(
            !contains(&bytes, secret.as_bytes()),
            "plaintext {secret:?} found in the database files"
        );
    }
}

#[tokio::test]
async fn sqlite_in_memory_works() {
    let store = Store::connect("sqlite::memory:", cipher_v1())
        .await
        .unwrap();
    store.migrate().await.unwrap();
    let (t, key) = store.create_tenant("Mem").await.unwrap();
    let t = t.id;
    assert_eq!(
        store
            .authenticate(key.api_key.expose_secret())
            .await
            .unwrap(),
        Some(t.clone())
    );
    let cred = credential(&store, &t).await;
    assert_eq!(
        store
            .index_seen(&t, &cred, &[seen("r", "f")], t0())
            .await
            .unwrap()
            .len(),
        1
    );
    store.close().await;
}

#[tokio::test]
async fn unusable_database_urls_are_refused_without_echoing_them() {
    for url in ["mysql://user:hunter2@db/crm", "hunter2", ""] {
        match Store::connect(url, cipher_v1()).await {
            Err(StoreError::InvalidUrl(msg)) => assert!(!msg.contains("hunter2"), "{msg}"),
            other => panic!("expected InvalidUrl for {url:?}, got {other:?}"),
        }
    }
    match Store::connect(
        "postgres://user:hunter2@127.0.0.1:5432/db?bogus=1",
        cipher_v1(),
    )
    .await
    {
        Err(e) => assert!(!e.to_string().contains("hunter2"), "{e}"),
        Ok(_) => panic!("a URL with an unknown parameter should not connect"),
    }
}

// ---------------------------------------------------------------------------------------------
// Cipher and redaction (no database)
// ---------------------------------------------------------------------------------------------

#[test]
fn cipher_rejects_wrong_aad_tampering_and_unknown_versions() {
    let cipher = cipher_v1();
    let sealed = cipher.encrypt("cred_a", b"s3cret").unwrap();
    assert_eq!(sealed.key_version, 1);
    assert_eq!(cipher.decrypt("cred_a", &sealed).unwrap(), b"s3cret");
    assert!(matches!(
        cipher.decrypt("cred_b", &sealed),
        Err(StoreError::Crypto(_))
    ));

    for i in 0..sealed.ciphertext.len() {
        let mut t = sealed.clone();
        t.ciphertext[i] ^= 0x80;
        assert!(
            matches!(cipher.decrypt("cred_a", &t), Err(StoreError::Crypto(_))),
            "byte {i}"
        );
    }
    let mut t = sealed.clone();
    t.nonce[0] ^= 1;
    assert!(matches!(
        cipher.decrypt("cred_a", &t),
        Err(StoreError::Crypto(_))
    ));
    let mut t = sealed.clone();
    t.ciphertext.pop();
    assert!(matches!(
        cipher.decrypt("cred_a", &t),
        Err(StoreError::Crypto(_))
    ));
    let mut t = sealed.clone();
    t.nonce.push(0);
    assert!(matches!(
        cipher.decrypt("cred_a", &t),
        Err(StoreError::Crypto(_))
    ));

    let mut t = sealed;
    t.key_version = 9;
    match cipher.decrypt("cred_a", &t) {
        Err(StoreError::Crypto(msg)) => assert!(msg.contains('9'), "{msg}"),
        other => panic!("expected a crypto error, got {other:?}"),
    }
}

#[test]
fn cipher_uses_fresh_nonces() {
    let cipher = cipher_v1();
    let a = cipher.encrypt("cred_a", b"same").unwrap();
    let b = cipher.encrypt("cred_a", b"same").unwrap();
    assert_ne!(a.nonce, b.nonce);
    assert_ne!(a.ciphertext, b.ciphertext);
}

#[test]
fn cipher_key_rotation_keeps_old_versions_readable() {
    let old = cipher_v1().encrypt("cred_a", b"old secret").unwrap();
    let ring = Cipher::new(2, vec![(1, key_v1()), (2, key_v2())]).unwrap();
    assert_eq!((ring.current_version(), ring.versions()), (2, vec![1, 2]));
    assert_eq!(ring.decrypt("cred_a", &old).unwrap(), b"old secret");
    let new = ring.encrypt("cred_a", b"new secret").unwrap();
    assert_eq!(new.key_version, 2);
    assert!(matches!(
        cipher_v1().decrypt("cred_a", &new),
        Err(StoreError::Crypto(_))
    ));
    // A wrong key under a known version number fails too.
    let impostor = Cipher::new(2, vec![(2, key_v1())]).unwrap();
    assert!(matches!(
        impostor.decrypt("cred_a", &new),
        Err(StoreError::Crypto(_))
    ));
}

#[test]
fn master_key_from_base64() {
    use base64::Engine as _;
    let raw = [0x5au8; 32];
    let std_b64 = base64::engine::general_purpose::STANDARD.encode(raw);
    let url_b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(raw);
    let a = Cipher::from_base64(&SecretString::from(format!("{std_b64}\n"))).unwrap();
    let b = Cipher::from_base64(&SecretString::from(url_b64)).unwrap();
    assert_eq!(a.current_version(), 1);
    assert_eq!(
        b.decrypt("x", &a.encrypt("x", b"p").unwrap()).unwrap(),
        b"p"
    );

    let short = base64::engine::general_purpose::STANDARD.encode([0x5au8; 16]);
    for bad in [short.as_str(), "definitely not base64 !!!", ""] {
        match Cipher::from_base64(&SecretString::from(bad.to_owned())) {
            Err(StoreError::Crypto(msg)) => {
                assert!(msg.contains("CRM_GATEWAY_MASTER_KEY"), "{msg}");
                assert!(
                    bad.is_empty() || !msg.contains(bad),
                    "the value must not be echoed: {msg}"
                );
            }
            other => panic!("expected a crypto error, got {other:?}"),
        }
    }
}

#[tokio::test]
async fn debug_output_never_shows_secrets() {
    let cipher = Cipher::new(1, vec![(1, SecretSlice::from(vec![0xAB; 32]))]).unwrap();
    let shown = format!("{cipher:?}");
    assert!(
        !shown.contains("171")
            && !shown.to_lowercase().contains("ab, ab")
            && !shown.contains("abab"),
        "{shown}"
    );

    let new = new_credential("sk_live_DEBUG_MARKER");
    assert!(!format!("{new:?}").contains("DEBUG_MARKER"));
    let patch = CredentialPatch {
        secret: Some("sk_live_PATCH_MARKER".to_owned().into()),
        ..Default::default()
    };
    assert!(!format!("{patch:?}").contains("PATCH_MARKER"));

    let (store, _dir, _) = sqlite_store().await;
    let (_, issued) = store.create_tenant("Acme").await.unwrap();
    let shown = format!("{issued:?} {store:?}");
    assert!(shown.contains(issued.key_id.as_str()));
    let secret_half = issued
        .api_key
        .expose_secret()
        .rsplit_once('_')
        .unwrap()
        .1
        .to_owned();
    assert!(!shown.contains(&secret_half), "{shown}");
    assert!(!shown.contains("cgw_"), "{shown}");
    store.close().await;
}

fn key_v3() -> SecretSlice<u8> {
    SecretSlice::from(vec![0x33; 32])
}

fn wrong_key() -> SecretSlice<u8> {
    SecretSlice::from(vec![0x99; 32])
}

async fn reseal_skips_and_reports_what_it_cannot_open(store: &Store) {
    let t = tenant(store).await;
    // Two secrets under version 1, one under a version 3 whose key the ring will not have.
    let a = credential(store, &t).await;
    let b = credential(store, &t).await;
    let v3 = store.with_cipher(Cipher::new(3, vec![(3, key_v3())]).unwrap());
    let orphan = v3
        .create_credential(&t, new_credential("orphan-secret"))
        .await
        .unwrap()
        .id;

    let rotated = store.with_cipher(Cipher::new(2, vec![(1, key_v1()), (2, key_v2())]).unwrap());
    // A batch of 1 also proves skipped rows do not stop the paging.
    let first = rotated.reseal_stale_secrets(1).await.unwrap();
    assert_eq!(first.current_version, 2);
    assert_eq!(first.resealed, 2, "{first:?}");
    assert_eq!(first.skipped.len(), 1, "{first:?}");
    assert_eq!(first.skipped[0].credential_id, orphan.as_str());
    assert_eq!(first.skipped[0].key_version, 3);
    assert!(first.skipped[0].reason.contains("version 3"), "{first:?}");
    for id in [&a, &b] {
        assert_eq!(
            rotated.credential_sealed(&t, id).await.unwrap().key_version,
            2
        );
        assert_eq!(
            rotated
                .credential_secret(&t, id)
                .await
                .unwrap()
                .expose_secret(),
            "bird-sandbox-key"
        );
    }
    // Idempotent: nothing more to re-seal, the same row reported again.
    let second = rotated.reseal_stale_secrets(100).await.unwrap();
    assert_eq!(second.resealed, 0);
    assert_eq!(second.skipped, first.skipped);
    assert_eq!(
        rotated.secrets_by_key_version().await.unwrap(),
        vec![(2, 2), (3, 1)]
    );

    // A wrong key for an old version is skipped the same way, never fatal.
    let wrong_old =
        store.with_cipher(Cipher::new(4, vec![(3, wrong_key()), (4, key_v1())]).unwrap());
    let report = wrong_old.reseal_stale_secrets(100).await.unwrap();
    assert_eq!(report.skipped.len(), 3, "{report:?}");
    assert!(report
        .skipped
        .iter()
        .any(|s| s.credential_id == orphan.as_str() && s.reason.contains("wrong master key")));
    // Reports carry ids, never secrets.
    let text = format!("{report:?}");
    assert!(!text.contains("orphan-secret") && !text.contains("bird-sandbox-key"));
}

async fn master_key_check_names_the_version(store: &Store) {
    // An empty database fits any key.
    assert!(store.check_master_keys().await.unwrap().is_empty());
    store.seal_key_canary().await.unwrap();
    store.seal_key_canary().await.unwrap(); // once per version, however often started
    assert!(store.check_master_keys().await.unwrap().is_empty());

    // Another key under the same version: the canary catches it before any credential exists.
    let wrong = store.with_cipher(Cipher::new(1, vec![(1, wrong_key())]).unwrap());
    let problems = wrong.check_master_keys().await.unwrap();
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert_eq!(problems[0].version(), 1);
    assert!(
        problems[0].to_string().contains("version 1"),
        "{}",
        problems[0]
    );

    let t = tenant(store).await;
    let cred = credential(store, &t).await;
    assert!(store.check_master_keys().await.unwrap().is_empty());
    // A ring without version 1 while secrets are sealed with it.
    let without = store.with_cipher(Cipher::new(2, vec![(2, key_v2())]).unwrap());
    let problems = without.check_master_keys().await.unwrap();
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert!(
        matches!(&problems[0], gateway_store::KeyProblem::Missing { version: 1, credential } if credential == cred.as_str())
    );
    // The right old key and a new current version: fine (the v1 canary still opens).
    let rotating = store.with_cipher(Cipher::new(2, vec![(1, key_v1()), (2, key_v2())]).unwrap());
    assert!(rotating.check_master_keys().await.unwrap().is_empty());
    rotating.seal_key_canary().await.unwrap();
    rotating.reseal_stale_secrets(100).await.unwrap();
    // After the rotation the old key can be retired: its canary no longer matters.
    assert!(without.check_master_keys().await.unwrap().is_empty());
    // And a wrong key for version 2 is caught by canary and credential alike, reported once.
    let wrong2 = store.with_cipher(Cipher::new(2, vec![(2, wrong_key())]).unwrap());
    let problems = wrong2.check_master_keys().await.unwrap();
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert_eq!(problems[0].version(), 2);
}

async fn tenants_list_keys_list_and_delete_everything(store: &Store) {
    let (a, a_key) = store.create_tenant("A").await.unwrap();
    let (b, b_key) = store.create_tenant("B").await.unwrap();
    let (c, _) = store.create_tenant("C").await.unwrap();

    let page1 = store.list_tenants(None, 2).await.unwrap();
    assert_eq!(
        page1.iter().map(|t| t.id.clone()).collect::<Vec<_>>(),
        vec![a.id.clone(), b.id.clone()]
    );
    let page2 = store.list_tenants(Some(&b.id), 2).await.unwrap();
    assert_eq!(page2.len(), 1);
    assert_eq!(page2[0].id, c.id);
    assert_eq!(page2[0].name, "C");

    // Keys: ids and times; last use recorded when a key authenticates.
    let second = store.create_api_key(&a.id).await.unwrap();
    store.revoke_api_key(&a.id, &second.key_id).await.unwrap();
    let keys = store.list_api_keys(&a.id, None, 10).await.unwrap();
    assert_eq!(keys.len(), 2);
    assert_eq!(keys[0].id, a_key.key_id);
    assert!(keys[0].last_used_at.is_none() && keys[0].revoked_at.is_none());
    assert!(keys[1].revoked_at.is_some());
    assert_eq!(
        store
            .authenticate(a_key.api_key.expose_secret())
            .await
            .unwrap(),
        Some(a.id.clone())
    );
    let keys = store.list_api_keys(&a.id, None, 10).await.unwrap();
    assert!(keys[0].last_used_at.is_some());
    assert_eq!(
        store
            .list_api_keys(&a.id, Some(&keys[0].id), 10)
            .await
            .unwrap()
            .len(),
        1
    );
    assert!(matches!(
        store.list_api_keys(&TenantId::generate(), None, 10).await,
        Err(StoreError::NotFound)
    ));

    // Tenant A with a credential, an index with events, a run: all gone after the delete.
    let cred = credential(store, &a.id).await;
    store
        .index_seen(&a.id, &cred, &[seen("r-1", "f1"), seen("r-2", "f2")], t0())
        .await
        .unwrap();
    assert!(!store
        .events_after(&a.id, None, 0, 10)
        .await
        .unwrap()
        .is_empty());
    let cred_b = credential(store, &b.id).await;
    store
        .index_seen(&b.id, &cred_b, &[seen("r-1", "f1")], t0())
        .await
        .unwrap();

    store.delete_tenant(&a.id).await.unwrap();
    assert!(store.get_tenant(&a.id).await.unwrap().is_none());
    assert_eq!(
        store
            .authenticate(a_key.api_key.expose_secret())
            .await
            .unwrap(),
        None
    );
    assert!(store.get_credential(&a.id, &cred).await.unwrap().is_none());
    assert!(matches!(
        store.credential_sealed(&a.id, &cred).await,
        Err(StoreError::NotFound)
    ));
    assert!(store
        .events_after(&a.id, None, 0, 10)
        .await
        .unwrap()
        .is_empty());
    assert!(store
        .index_get_by_remote(&a.id, &cred, &RemoteId::from("r-1"))
        .await
        .unwrap()
        .is_none());
    assert!(matches!(
        store.delete_tenant(&a.id).await,
        Err(StoreError::NotFound)
    ));
    // The other tenant is untouched.
    assert_eq!(
        store
            .authenticate(b_key.api_key.expose_secret())
            .await
            .unwrap(),
        Some(b.id.clone())
    );
    assert!(store
        .get_credential(&b.id, &cred_b)
        .await
        .unwrap()
        .is_some());
    assert_eq!(
        store.events_after(&b.id, None, 0, 10).await.unwrap().len(),
        1
    );
    assert_eq!(store.list_tenants(None, 10).await.unwrap().len(), 2);
}
