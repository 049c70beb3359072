//! Idempotency key claims on both backends: one claim at a time, takeover of an abandoned
//! claim, a lost claim cannot store its answer, replay and mismatch, expiry and purge.
//! PostgreSQL runs when `CRM_GATEWAY_TEST_POSTGRES_URL` is set (required with
//! `CRM_GATEWAY_REQUIRE_POSTGRES=1`), as in `store.rs`.
#![allow(clippy::unwrap_used)]

use chrono::{Duration, Utc};
use gateway_store::{Cipher, Claim, Claimant, Store, StoredResponse};
use secrecy::SecretSlice;
use sqlx::Connection as _;

fn cipher() -> Cipher {
    Cipher::new(1, vec![(1, SecretSlice::from(vec![0x42; 32]))]).unwrap()
}

/// A claim whose process stopped heartbeating is taken over once it counts as dead, and a
/// retry before that is told exactly when.
async fn dead_holder(store: &Store) {
    let tenant = store.create_tenant("Dead").await.unwrap().0.id;
    let t0 = Utc::now();
    let (later, fresh) = (t0 + Duration::hours(1), t0 - Duration::seconds(60));
    store.instance_heartbeat("inst_dead", t0).await.unwrap();
    let dead = Claimant {
        instance: "inst_dead",
        dead_before: t0 - Duration::seconds(5),
        silent_before: t0 - Duration::milliseconds(1500),
    };
    assert!(matches!(
        store
            .idempotency_claim(&tenant, "k", "h", t0, later, fresh, dead)
            .await
            .unwrap(),
        Claim::Claimed { .. }
    ));
    // inst_dead is killed at t0. Two seconds later its heartbeat is 2 s old: it missed a beat
    // (so the retry is told when it frees) but is not dead yet (so it is not taken over).
    let t2 = t0 + Duration::seconds(2);
    store.instance_heartbeat("inst_new", t2).await.unwrap();
    let new = |now: chrono::DateTime<Utc>| Claimant {
        instance: "inst_new",
        dead_before: now - Duration::seconds(5),
        silent_before: now - Duration::milliseconds(1500),
    };
    let Claim::InProgress { until: Some(until) } = store
        .idempotency_claim(
            &tenant,
            "k",
            "h",
            t2,
            later,
            t2 - Duration::seconds(60),
            new(t2),
        )
        .await
        .unwrap()
    else {
        panic!("a claim of a silent holder is in progress until it counts as dead")
    };
    let expected = t0 + Duration::seconds(5);
    assert!(
        (until - expected).num_milliseconds().abs() <= 1,
        "free at {until}, expected {expected}"
    );
    // Past that, the new process takes it over (long before stale_after would).
    let t6 = t0 + Duration::seconds(6);
    assert!(matches!(
        store
            .idempotency_claim(
                &tenant,
                "k",
                "h",
                t6,
                later,
                t6 - Duration::seconds(60),
                new(t6)
            )
            .await
            .unwrap(),
        Claim::Claimed { .. }
    ));
    // A clean stop forgets the instance: its claims are free at once.
    store.instance_forget("inst_new").await.unwrap();
    assert!(matches!(
        store
            .idempotency_claim(
                &tenant,
                "k",
                "h",
                t6,
                later,
                t6 - Duration::seconds(60),
                new(t6)
            )
            .await
            .unwrap(),
        Claim::Claimed { .. }
    ));
}

async fn scenario(store: &Store) {
    dead_holder(store).await;
    let tenant = store.create_tenant("Acme").await.unwrap().0.id;
    let other = store.create_tenant("Other").await.unwrap().0.id;
    let now = Utc::now();
    let later = now + Duration::hours(1);
    let fresh = now - Duration::seconds(60);
    // This process: alive (heartbeat now), so only staleness frees its claims here.
    store.instance_heartbeat("inst_me", now).await.unwrap();
    let me = Claimant {
        instance: "inst_me",
        dead_before: now - Duration::seconds(5),
        silent_before: now - Duration::milliseconds(1500),
    };

    let Claim::Claimed { token: first } = store
        .idempotency_claim(&tenant, "k", "h1", now, later, fresh, me)
        .await
        .unwrap()
    else {
        panic!("the first claim wins")
    };
    assert_eq!(
        store
            .idempotency_claim(&tenant, "k", "h1", now, later, fresh, me)
            .await
            .unwrap(),
        Claim::InProgress { until: None },
        "the holder is alive: no time can be promised"
    );
    assert_eq!(
        store
            .idempotency_claim(&tenant, "k", "h2", now, later, fresh, me)
            .await
            .unwrap(),
        Claim::Mismatch
    );
    // Another tenant's key of the same name is its own.
    assert!(matches!(
        store
            .idempotency_claim(&other, "k", "h1", now, later, fresh, me)
            .await
            .unwrap(),
        Claim::Claimed { .. }
    ));

    // Not refreshed since before `stale_before`: abandoned, taken over.
    let Claim::Claimed { token: second } = store
        .idempotency_claim(
            &tenant,
            "k",
            "h1",
            now,
            later,
            now + Duration::seconds(1),
            me,
        )
        .await
        .unwrap()
    else {
        panic!("an abandoned claim is taken over")
    };
    let answer = StoredResponse {
        status: 200,
        content_type: Some("application/json".into()),
        location: None,
        body: b"{\"ok\":true}".to_vec(),
    };
    assert!(!store
        .idempotency_complete(&tenant, "k", &first, &answer, now)
        .await
        .unwrap());
    store
        .idempotency_touch(&tenant, "k", &second, now)
        .await
        .unwrap();
    assert!(store
        .idempotency_complete(&tenant, "k", &second, &answer, now)
        .await
        .unwrap());
    // Releasing a finished key does nothing.
    store
        .idempotency_release(&tenant, "k", &second)
        .await
        .unwrap();
    assert_eq!(
        store
            .idempotency_claim(&tenant, "k", "h1", now, later, fresh, me)
            .await
            .unwrap(),
        Claim::Replay(answer)
    );

    // A released claim frees the key.
    let Claim::Claimed { token } = store
        .idempotency_claim(&tenant, "r", "h", now, later, fresh, me)
        .await
        .unwrap()
    else {
        panic!("claimed")
    };
    store
        .idempotency_release(&tenant, "r", &token)
        .await
        .unwrap();
    assert!(matches!(
        store
            .idempotency_claim(&tenant, "r", "other", now, later, fresh, me)
            .await
            .unwrap(),
        Claim::Claimed { .. }
    ));

    // Expired keys are forgotten on claim and by the purge.
    let past = now + Duration::hours(2);
    assert!(matches!(
        store
            .idempotency_claim(
                &tenant,
                "k",
                "h9",
                past,
                past + Duration::hours(1),
                past,
                me
            )
            .await
            .unwrap(),
        Claim::Claimed { .. }
    ));
    assert_eq!(
        store.idempotency_purge_expired(past).await.unwrap(),
        3,
        "r, other's k and Dead's k"
    );
}

#[tokio::test]
async fn idempotency_claims_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}?mode=rwc", dir.path().join("s.db").display());
    let store = Store::connect(&url, cipher()).await.unwrap();
    store.migrate().await.unwrap();
    scenario(&store).await;
    store.close().await;
}

#[tokio::test]
async fn idempotency_claims_on_postgres() {
    let require = std::env::var("CRM_GATEWAY_REQUIRE_POSTGRES").is_ok_and(|v| v == "1");
    let admin_url = match std::env::var("CRM_GATEWAY_TEST_POSTGRES_URL") {
        Ok(url) if !url.trim().is_empty() => url,
        _ if require => {
            panic!("CRM_GATEWAY_REQUIRE_POSTGRES=1 but CRM_GATEWAY_TEST_POSTGRES_URL is not set")
        }
        _ => return,
    };
    let database = format!("crm_idem_test_{}", uuid::Uuid::new_v4().simple());
    let mut admin = sqlx::PgConnection::connect(&admin_url).await.unwrap();
    sqlx::query(&format!("CREATE DATABASE \"{database}\""))
        .execute(&mut admin)
        .await
        .unwrap();
    let mut url = url::Url::parse(&admin_url).unwrap();
    url.set_path(&format!("/{database}"));
    let store = Store::connect(url.as_str(), cipher()).await.unwrap();
    store.migrate().await.unwrap();
    let outcome = tokio::spawn({
        let store = store.clone();
        async move { scenario(&store).await }
    })
    .await;
    store.close().await;
    let _ = sqlx::query(&format!(
        "DROP DATABASE IF EXISTS \"{database}\" WITH (FORCE)"
    ))
    .execute(&mut admin)
    .await;
    if let Err(e) = outcome {
        std::panic::resume_unwind(e.into_panic());
    }
}
