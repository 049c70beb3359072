//! End to end: background reconciliation of remote deletions and the change feed, against a
//! real gateway and the real simulators over HTTP. Contacts are deleted behind the gateway's
//! back through `_sim`, a run is asked for through the API, and the index, the contact output
//! and the events are checked. The tests that depend on the database run on SQLite and on
//! PostgreSQL (`CRM_GATEWAY_TEST_POSTGRES_URL`; skipped without it unless
//! `CRM_GATEWAY_REQUIRE_POSTGRES=1`).
#![allow(clippy::unwrap_used)]

use std::collections::HashMap;
use std::time::{Duration, Instant};

use gateway_testkit::conformance::unique;
use gateway_testkit::{TestApp, TestDb, TestTenant};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

/// An app whose scheduler picks up asked-for runs fast and does not pace them.
async fn app_on(db: TestDb) -> TestApp {
    app_with(db, 0.0).await
}

async fn app_with(db: TestDb, pages_per_second: f64) -> TestApp {
    TestApp::spawn_with(db, move |s| {
        s.reconcile.enabled = false;
        s.reconcile.tick = Duration::from_millis(50);
        s.reconcile.heartbeat = Duration::from_millis(500);
        s.reconcile.lease_ttl = Duration::from_secs(5);
        s.reconcile.max_pages_per_second = pages_per_second;
    })
    .await
}

/// Runs `body` on SQLite, then on PostgreSQL when available.
macro_rules! on_both {
    ($body:ident) => {{
        $body(app_on(TestDb::sqlite()).await).await;
        if let Some(db) = TestDb::postgres().await {
            $body(app_on(db).await).await;
        }
    }};
}

async fn start_run(app: &TestApp, t: &TestTenant, cred: &str) -> Value {
    let a = app
        .call(
            Method::POST,
            &format!("/credentials/{cred}/reconciliations"),
            Some(&t.key),
            None,
        )
        .await;
    assert_eq!(a.status, StatusCode::ACCEPTED, "{}", a.text);
    a.body["run"].clone()
}

async fn wait_run(app: &TestApp, t: &TestTenant, cred: &str, run: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let a = app
            .call(
                Method::GET,
                &format!("/credentials/{cred}/reconciliations/{run}"),
                Some(&t.key),
                None,
            )
            .await;
        assert_eq!(a.status, StatusCode::OK, "{}", a.text);
        let status = a.body["run"]["status"].as_str().unwrap().to_owned();
        if matches!(status.as_str(), "succeeded" | "failed" | "held") {
            return a.body["run"].clone();
        }
        assert!(Instant::now() < deadline, "run never ended: {}", a.text);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Asks for a run and waits for its end.
async fn reconcile(app: &TestApp, t: &TestTenant, cred: &str) -> Value {
    let run = start_run(app, t, cred).await;
    assert!(
        matches!(run["status"].as_str(), Some("queued" | "running")),
        "{run}"
    );
    wait_run(app, t, cred, run["id"].as_str().unwrap()).await
}

/// Every event of the tenant (optionally one credential), paged with `limit`.
async fn all_events(app: &TestApp, t: &TestTenant, cred: Option<&str>, limit: u32) -> Vec<Value> {
    let mut out = Vec::new();
    let mut after = String::new();
    loop {
        let mut path = format!("/events?limit={limit}&after={after}");
        if let Some(c) = cred {
            path.push_str(&format!("&credentialId={c}"));
        }
        let a = app.call(Method::GET, &path, Some(&t.key), None).await;
        assert_eq!(a.status, StatusCode::OK, "{}", a.text);
        let events = a.body["events"].as_array().unwrap().clone();
        // A number, like `sequence` (a string here once; clients comparing the two broke).
        let next = a.body["nextAfter"].as_i64().unwrap().to_string();
        if events.is_empty() {
            assert_eq!(next, if after.is_empty() { "0" } else { &after });
            return out;
        }
        out.extend(events);
        after = next;
    }
}

fn of_type<'a>(events: &'a [Value], t: &str) -> Vec<&'a Value> {
    events.iter().filter(|e| e["type"] == t).collect()
}

async fn create_contact(app: &TestApp, t: &TestTenant, cred: &str) -> Value {
    let n = unique();
    let a = app
        .call(
            Method::POST,
            &format!("/crm/contacts?credentialId={cred}"),
            Some(&t.key),
            Some(
                json!({"firstName": "Rec", "lastName": format!("Onciled{n}"),
                "emailAddresses": [{"emailAddress": format!("rec.{n}@example.com")}]}),
            ),
        )
        .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.text);
    a.body["contact"].clone()
}

async fn get_contact(app: &TestApp, t: &TestTenant, cred: &str, id: &str) -> Value {
    let a = app
        .call(
            Method::GET,
            &format!("/crm/contacts/{id}?credentialId={cred}"),
            Some(&t.key),
            None,
        )
        .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.text);
    a.body["contact"].clone()
}

async fn seed(app: &TestApp, provider: &str, count: usize) -> Vec<String> {
    let a = app
        .sim(
            Method::POST,
            provider,
            "/seed",
            Some(json!({"count": count})),
        )
        .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.text);
    a.body["remoteIds"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_owned())
        .collect()
}

async fn sim_delete(app: &TestApp, provider: &str, remote: &str) {
    let a = app
        .sim(
            Method::DELETE,
            provider,
            &format!("/contacts/{remote}"),
            None,
        )
        .await;
    assert_eq!(a.status, StatusCode::NO_CONTENT, "{}", a.text);
}

fn pages(contacts: u64) -> u64 {
    contacts.div_ceil(100).max(1)
}

// ---------------------------------------------------------------------------------------------

async fn bird_diff_body(app: TestApp) {
    let t = app.tenant("diff").await;
    let cred = app.credential(&t, "bird").await;
    let mine = create_contact(&app, &t, &cred).await;
    let other = create_contact(&app, &t, &cred).await;
    let seeded = seed(&app, "bird", 150).await;

    // First pass: every seeded contact is discovered, nothing vanished.
    let run = reconcile(&app, &t, &cred).await;
    assert_eq!(run["status"], "succeeded", "{run}");
    assert_eq!(run["strategy"], "diff");
    assert_eq!(run["discovered"], 150);
    assert_eq!(run["flagged"], 0);
    assert_eq!(run["contactsSeen"], 152);
    assert_eq!(run["pagesFetched"], pages(152));
    assert_eq!(run["providerCalls"], pages(152));
    assert!(run["durationMs"].as_i64().unwrap() >= 0);
    let events = all_events(&app, &t, Some(&cred), 1000).await;
    let discovered = of_type(&events, "contact.discovered");
    assert_eq!(discovered.len(), 150);
    assert!(discovered.iter().all(|e| e["data"]["runId"] == run["id"]));
    let seeded_set: std::collections::HashSet<&str> = seeded.iter().map(String::as_str).collect();
    assert!(discovered
        .iter()
        .all(|e| seeded_set.contains(e["remoteId"].as_str().unwrap())));

    // Deleted behind the gateway's back (Bird deletes hard).
    sim_delete(&app, "bird", mine["remoteId"].as_str().unwrap()).await;
    sim_delete(&app, "bird", &seeded[7]).await;
    let before = chrono::Utc::now();
    let run = reconcile(&app, &t, &cred).await;
    assert_eq!(run["status"], "succeeded", "{run}");
    assert_eq!(run["candidates"], 2);
    assert_eq!(run["flagged"], 2);
    assert_eq!(run["discovered"], 0);
    // One call per page plus one confirming lookup per candidate.
    assert_eq!(run["providerCalls"], pages(150) + 2);

    let gone = get_contact(&app, &t, &cred, mine["id"].as_str().unwrap()).await;
    assert_eq!(gone["remoteDeleted"], true, "{gone}");
    assert_eq!(gone["deletionDetectedBy"], "diff");
    let at: chrono::DateTime<chrono::Utc> =
        gone["remoteDeletedAt"].as_str().unwrap().parse().unwrap();
    assert!(at >= before - chrono::Duration::milliseconds(5), "{gone}");
    assert!(gone["lastSeenAt"].is_string());
    let alive = get_contact(&app, &t, &cred, other["id"].as_str().unwrap()).await;
    assert_eq!(alive["remoteDeleted"], false);
    assert_eq!(alive["deletionDetectedBy"], Value::Null);
    assert!(alive["lastSeenAt"].is_string());

    let events = all_events(&app, &t, Some(&cred), 7).await;
    let deleted = of_type(&events, "contact.remote_deleted");
    assert_eq!(deleted.len(), 2, "{deleted:?}");
    let mine_event = deleted
        .iter()
        .find(|e| e["contactId"] == mine["id"])
        .unwrap();
    assert_eq!(mine_event["data"]["detectedBy"], "diff");
    assert_eq!(mine_event["data"]["runId"], run["id"]);
    assert_eq!(mine_event["remoteId"], mine["remoteId"]);

    // A third pass with nothing new changes nothing and says nothing.
    let run = reconcile(&app, &t, &cred).await;
    assert_eq!(run["status"], "succeeded");
    assert_eq!(run["flagged"], 0);
    assert_eq!(run["candidates"], 0);
    assert_eq!(
        all_events(&app, &t, Some(&cred), 1000).await.len(),
        events.len()
    );

    // includeDeleted lists the tombstones.
    let mut cursor: Option<String> = None;
    let mut tombstones = 0;
    loop {
        let mut path =
            format!("/crm/contacts?credentialId={cred}&includeDeleted=true&pageSize=100");
        if let Some(c) = &cursor {
            path.push_str(&format!("&cursor={c}"));
        }
        let a = app.call(Method::GET, &path, Some(&t.key), None).await;
        assert_eq!(a.status, StatusCode::OK, "{}", a.text);
        tombstones += a.body["contacts"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|c| c["remoteDeleted"] == true)
            .count();
        match a.body["pageInfo"]["nextCursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => break,
        }
    }
    assert_eq!(tombstones, 2);
    app.stop().await;
}

#[tokio::test]
async fn bird_hard_deletes_are_found_by_a_complete_listing_and_a_confirming_lookup() {
    on_both!(bird_diff_body);
}

#[tokio::test]
async fn tombstone_providers_are_flagged_native_with_the_providers_time() {
    let app = app_on(TestDb::sqlite()).await;
    // /providers needs a tenant key like every API call (CONTRACT §3).
    let catalogue = app.tenant("catalogue").await;
    let providers = app
        .call(Method::GET, "/providers", Some(&catalogue.key), None)
        .await;
    let mut tested = Vec::new();
    for p in providers.body["providers"].as_array().unwrap() {
        let name = p["provider"].as_str().unwrap();
        let decl = app
            .call(
                Method::GET,
                &format!("/providers/{name}"),
                Some(&catalogue.key),
                None,
            )
            .await
            .body;
        if decl["deletion"] != "tombstone" || decl["operations"]["list"] != true {
            continue;
        }
        tested.push(name.to_owned());
        let t = app.tenant(&format!("native-{name}")).await;
        let cred = app.credential(&t, name).await;
        let seeded = seed(&app, name, 12).await;
        let run = reconcile(&app, &t, &cred).await;
        assert_eq!(run["status"], "succeeded", "{name}: {run}");
        assert_eq!(run["strategy"], "native", "{name}");
        assert!(run["discovered"].as_u64().unwrap() >= 12, "{name}: {run}");

        let victim = &seeded[3];
        sim_delete(&app, name, victim).await;
        let raw = app
            .sim(Method::GET, name, &format!("/contacts/{victim}"), None)
            .await;
        let run = reconcile(&app, &t, &cred).await;
        assert_eq!(run["status"], "succeeded", "{name}: {run}");
        assert_eq!(run["flagged"], 1, "{name}: {run}");

        let events = all_events(&app, &t, Some(&cred), 1000).await;
        let flagged = of_type(&events, "contact.remote_deleted");
        assert_eq!(flagged.len(), 1, "{name}");
        assert_eq!(flagged[0]["remoteId"], victim.as_str());
        assert_eq!(flagged[0]["data"]["detectedBy"], "native", "{name}");
        let id = flagged[0]["contactId"].as_str().unwrap();
        let contact = get_contact(&app, &t, &cred, id).await;
        assert_eq!(contact["remoteDeleted"], true, "{name}: {contact}");
        assert_eq!(contact["deletionDetectedBy"], "native", "{name}");
        // The provider's own tombstone time: every tombstone simulator shows it.
        let deleted_at = raw.body["deletedAt"].as_str().unwrap_or_else(|| {
            panic!(
                "{name}: no deletedAt on a soft-deleted contact: {}",
                raw.text
            )
        });
        let want: chrono::DateTime<chrono::Utc> = deleted_at.parse().unwrap();
        let got: chrono::DateTime<chrono::Utc> = contact["remoteDeletedAt"]
            .as_str()
            .unwrap()
            .parse()
            .unwrap();
        assert_eq!(got.timestamp_millis(), want.timestamp_millis(), "{name}");
    }
    // Both tombstone simulators were reached, so the loop cannot pass over nothing.
    tested.sort();
    assert_eq!(
        tested,
        ["iclosed", "karia"],
        "native detection tested on {tested:?}"
    );
    app.stop().await;
}

#[tokio::test]
async fn a_failing_page_in_the_middle_of_a_pass_flags_nothing() {
    // Paced at 4 pages per second so the fault can be switched on after the first page.
    let app = app_with(TestDb::sqlite(), 4.0).await;
    let t = app.tenant("fault").await;
    let cred = app.credential(&t, "bird").await;
    let seeded = seed(&app, "bird", 350).await;
    let first = reconcile(&app, &t, &cred).await;
    assert_eq!(first["status"], "succeeded", "{first}");
    sim_delete(&app, "bird", &seeded[0]).await;
    sim_delete(&app, "bird", &seeded[200]).await;

    let run = start_run(&app, &t, &cred).await;
    let run_id = run["id"].as_str().unwrap().to_owned();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let a = app
            .call(
                Method::GET,
                &format!("/credentials/{cred}/reconciliations/{run_id}"),
                Some(&t.key),
                None,
            )
            .await;
        if a.body["run"]["pagesFetched"].as_u64().unwrap() >= 1 {
            assert_eq!(a.body["run"]["status"], "running", "{}", a.text);
            break;
        }
        assert!(Instant::now() < deadline, "no page was fetched: {}", a.text);
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let f = app
        .sim(
            Method::POST,
            "bird",
            "/faults",
            Some(json!({"status": 503, "routes": ["GET /workspaces/{ws}/contacts"]})),
        )
        .await;
    assert_eq!(f.status, StatusCode::OK, "{}", f.text);
    let run = wait_run(&app, &t, &cred, &run_id).await;
    assert_eq!(run["status"], "failed", "{run}");
    assert_eq!(run["flagged"], 0);
    assert!(run["pagesFetched"].as_u64().unwrap() < pages(348), "{run}");
    assert!(
        run["error"]
            .as_str()
            .unwrap()
            .contains("nothing was flagged"),
        "{run}"
    );
    let events = all_events(&app, &t, Some(&cred), 1000).await;
    assert!(of_type(&events, "contact.remote_deleted").is_empty());

    // Once the provider is healthy again the deletions are found.
    app.sim(Method::DELETE, "bird", "/faults", None).await;
    let run = reconcile(&app, &t, &cred).await;
    assert_eq!(run["status"], "succeeded", "{run}");
    assert_eq!(run["flagged"], 2);
    app.stop().await;
}

async fn brake_body(app: TestApp) {
    let t = app.tenant("brake").await;
    let cred = app.credential(&t, "bird").await;
    let seeded = seed(&app, "bird", 40).await;
    assert_eq!(reconcile(&app, &t, &cred).await["status"], "succeeded");
    for remote in &seeded[..15] {
        sim_delete(&app, "bird", remote).await;
    }
    let held = reconcile(&app, &t, &cred).await;
    assert_eq!(held["status"], "held", "{held}");
    assert_eq!(held["flagged"], 0);
    assert_eq!(held["candidates"], 15);
    assert_eq!(held["knownContacts"], 40);
    assert!(held["error"].as_str().unwrap().contains("brake"), "{held}");
    // Nothing was flagged: no event, no tombstone.
    let events = all_events(&app, &t, Some(&cred), 1000).await;
    assert!(of_type(&events, "contact.remote_deleted").is_empty());

    // The operator confirms: every candidate is looked up again and flagged.
    let held_id = held["id"].as_str().unwrap();
    let a = app
        .call(
            Method::POST,
            &format!("/credentials/{cred}/reconciliations/{held_id}/confirm"),
            Some(&t.key),
            None,
        )
        .await;
    assert_eq!(a.status, StatusCode::ACCEPTED, "{}", a.text);
    assert_eq!(a.body["run"]["status"], "queued");
    let done = wait_run(&app, &t, &cred, held_id).await;
    assert_eq!(done["status"], "succeeded", "{done}");
    assert_eq!(done["flagged"], 15);
    assert_eq!(done["confirmed"], true);
    let events = all_events(&app, &t, Some(&cred), 1000).await;
    assert_eq!(of_type(&events, "contact.remote_deleted").len(), 15);

    // Only a held run can be confirmed.
    let again = app
        .call(
            Method::POST,
            &format!("/credentials/{cred}/reconciliations/{held_id}/confirm"),
            Some(&t.key),
            None,
        )
        .await;
    assert_eq!(again.status, StatusCode::CONFLICT, "{}", again.text);
    assert_eq!(again.headers["content-type"], "application/problem+json");
    // Below the brake's minimum a run flags at once.
    for remote in &seeded[15..20] {
        sim_delete(&app, "bird", remote).await;
    }
    let run = reconcile(&app, &t, &cred).await;
    assert_eq!(run["status"], "succeeded", "{run}");
    assert_eq!(run["flagged"], 5);
    // The run list, newest first.
    let list = app
        .call(
            Method::GET,
            &format!("/credentials/{cred}/reconciliations?limit=10"),
            Some(&t.key),
            None,
        )
        .await;
    assert_eq!(list.status, StatusCode::OK);
    let runs = list.body["runs"].as_array().unwrap();
    assert_eq!(runs.len(), 3);
    assert_eq!(runs[0]["id"], run["id"]);
    assert_eq!(runs[1]["id"], held["id"]);
    app.stop().await;
}

#[tokio::test]
async fn the_mass_deletion_brake_holds_the_run_until_an_operator_confirms() {
    on_both!(brake_body);
}

#[tokio::test]
async fn a_contact_seen_again_is_restored_with_an_event() {
    let app = app_on(TestDb::sqlite()).await;
    let t = app.tenant("restore").await;
    let cred = app.credential(&t, "bird").await;
    let c = create_contact(&app, &t, &cred).await;
    let id = c["id"].as_str().unwrap();
    // A transient 404 from the provider flags the contact on use…
    app.sim(
        Method::POST,
        "bird",
        "/faults",
        Some(json!({"status": 404, "count": 1, "routes": ["GET /workspaces/{ws}/contacts/{id}"]})),
    )
    .await;
    let flagged = get_contact(&app, &t, &cred, id).await;
    assert_eq!(flagged["remoteDeleted"], true, "{flagged}");
    assert_eq!(flagged["deletionDetectedBy"], "on_use");
    // …and the next complete listing, which shows it alive, restores it.
    let run = reconcile(&app, &t, &cred).await;
    assert_eq!(run["status"], "succeeded", "{run}");
    assert_eq!(run["restored"], 1);
    assert_eq!(run["flagged"], 0);
    let back = get_contact(&app, &t, &cred, id).await;
    assert_eq!(back["remoteDeleted"], false, "{back}");
    assert_eq!(back["remoteDeletedAt"], Value::Null);
    assert_eq!(back["deletionDetectedBy"], Value::Null);
    let events = all_events(&app, &t, Some(&cred), 1000).await;
    let types: Vec<&str> = events.iter().map(|e| e["type"].as_str().unwrap()).collect();
    assert_eq!(
        types,
        [
            "contact.created",
            "contact.remote_deleted",
            "contact.restored"
        ]
    );
    assert_eq!(events[1]["data"]["detectedBy"], "on_use");
    assert_eq!(events[2]["data"]["previouslyDetectedBy"], "on_use");
    assert_eq!(events[2]["data"]["runId"], run["id"]);
    app.stop().await;
}

#[tokio::test]
async fn a_provider_404_on_use_flags_at_once_with_an_event() {
    let app = app_on(TestDb::sqlite()).await;
    let t = app.tenant("lazy").await;
    let cred = app.credential(&t, "bird").await;
    let c = create_contact(&app, &t, &cred).await;
    sim_delete(&app, "bird", c["remoteId"].as_str().unwrap()).await;
    let gone = get_contact(&app, &t, &cred, c["id"].as_str().unwrap()).await;
    assert_eq!(gone["remoteDeleted"], true);
    assert_eq!(gone["deletionDetectedBy"], "on_use");
    assert!(gone["remoteDeletedAt"].is_string());
    // A second read answers from the index and writes no second event.
    get_contact(&app, &t, &cred, c["id"].as_str().unwrap()).await;
    let events = all_events(&app, &t, Some(&cred), 1000).await;
    let flagged = of_type(&events, "contact.remote_deleted");
    assert_eq!(flagged.len(), 1);
    assert_eq!(flagged[0]["data"]["detectedBy"], "on_use");
    assert_eq!(flagged[0]["contactId"], c["id"]);
    // The next reconciliation neither restores nor re-flags it.
    let run = reconcile(&app, &t, &cred).await;
    assert_eq!(run["status"], "succeeded", "{run}");
    assert_eq!(
        (run["flagged"].as_u64(), run["restored"].as_u64()),
        (Some(0), Some(0))
    );
    app.stop().await;
}

async fn feed_body(app: TestApp) {
    let a = app.tenant("feed-a").await;
    let b = app.tenant("feed-b").await;
    let cred = app.credential(&a, "bird").await;
    let cred_b = app.credential(&b, "bird").await;
    let mut ids = Vec::new();
    for _ in 0..3 {
        ids.push(
            create_contact(&app, &a, &cred).await["id"]
                .as_str()
                .unwrap()
                .to_owned(),
        );
    }
    let u = app
        .call(
            Method::PATCH,
            &format!("/crm/contacts/{}?credentialId={cred}", ids[1]),
            Some(&a.key),
            Some(json!({"firstName": "Changed"})),
        )
        .await;
    assert_eq!(u.status, StatusCode::OK, "{}", u.text);
    let d = app
        .call(
            Method::DELETE,
            &format!("/crm/contacts/{}?credentialId={cred}", ids[2]),
            Some(&a.key),
            None,
        )
        .await;
    assert_eq!(d.status, StatusCode::NO_CONTENT, "{}", d.text);
    create_contact(&app, &b, &cred_b).await;

    // In commit order, one page or many.
    let whole = all_events(&app, &a, None, 1000).await;
    let types: Vec<&str> = whole.iter().map(|e| e["type"].as_str().unwrap()).collect();
    assert_eq!(
        types,
        [
            "contact.created",
            "contact.created",
            "contact.created",
            "contact.updated",
            "contact.deleted"
        ]
    );
    assert_eq!(whole[3]["contactId"], ids[1].as_str());
    assert_eq!(whole[4]["contactId"], ids[2].as_str());
    let seqs: Vec<i64> = whole
        .iter()
        .map(|e| e["sequence"].as_i64().unwrap())
        .collect();
    assert!(seqs.windows(2).all(|w| w[0] < w[1]), "{seqs:?}");
    assert!(whole.iter().all(|e| e["credentialId"] == cred.as_str()));
    assert!(whole
        .iter()
        .all(|e| e["id"].as_str().unwrap().starts_with("evt_")));
    let paged = all_events(&app, &a, None, 2).await;
    assert_eq!(paged, whole);
    // The cursor is stable: reading after the same point gives the same events.
    let after = whole[1]["sequence"].as_i64().unwrap();
    let r1 = app
        .call(
            Method::GET,
            &format!("/events?after={after}"),
            Some(&a.key),
            None,
        )
        .await;
    let r2 = app
        .call(
            Method::GET,
            &format!("/events?after={after}"),
            Some(&a.key),
            None,
        )
        .await;
    assert_eq!(r1.body, r2.body);
    assert_eq!(r1.body["events"].as_array().unwrap().len(), 3);
    assert_eq!(r1.body["nextAfter"].as_i64(), Some(seqs[4]));

    // Tenant isolation.
    let theirs = all_events(&app, &b, None, 1000).await;
    assert_eq!(theirs.len(), 1);
    assert_eq!(theirs[0]["credentialId"], cred_b.as_str());
    for (method, path) in [
        (Method::GET, format!("/events?credentialId={cred}")),
        (Method::POST, format!("/credentials/{cred}/reconciliations")),
        (Method::GET, format!("/credentials/{cred}/reconciliations")),
    ] {
        let r = app.call(method, &path, Some(&b.key), None).await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{path}: {}", r.text);
    }
    let run = start_run(&app, &a, &cred).await;
    let run_id = run["id"].as_str().unwrap();
    let r = app
        .call(
            Method::GET,
            &format!("/credentials/{cred_b}/reconciliations/{run_id}"),
            Some(&b.key),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", r.text);
    wait_run(&app, &a, &cred, run_id).await;
    // No key, bad parameters.
    assert_eq!(
        app.call(Method::GET, "/events", None, None).await.status,
        StatusCode::UNAUTHORIZED
    );
    for bad in ["/events?limit=0", "/events?limit=1001", "/events?after=abc"] {
        let r = app.call(Method::GET, bad, Some(&a.key), None).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{bad}: {}", r.text);
    }
    app.stop().await;
}

#[tokio::test]
async fn the_event_feed_is_ordered_stable_and_per_tenant() {
    on_both!(feed_body);
}

#[tokio::test]
async fn asking_twice_answers_the_same_active_run_and_openapi_lists_the_routes() {
    // Slow pages keep the first run active while the second request arrives.
    let app = app_with(TestDb::sqlite(), 2.0).await;
    let t = app.tenant("twice").await;
    let cred = app.credential(&t, "bird").await;
    seed(&app, "bird", 300).await;
    let first = start_run(&app, &t, &cred).await;
    let second = start_run(&app, &t, &cred).await;
    assert_eq!(first["id"], second["id"]);
    let done = wait_run(&app, &t, &cred, first["id"].as_str().unwrap()).await;
    assert_eq!(done["status"], "succeeded");
    assert_eq!(done["trigger"], "api");
    let third = start_run(&app, &t, &cred).await;
    assert_ne!(third["id"], first["id"]);

    let doc = app.call(Method::GET, "/openapi.json", None, None).await;
    let paths: HashMap<String, Value> = serde_json::from_value(doc.body["paths"].clone()).unwrap();
    for p in [
        "/events",
        "/credentials/{id}/reconciliations",
        "/credentials/{id}/reconciliations/{runId}",
        "/credentials/{id}/reconciliations/{runId}/confirm",
    ] {
        assert!(
            paths.contains_key(p),
            "{p} missing from the OpenAPI document"
        );
    }
    app.stop().await;
}

async fn live_figures_body(db: TestDb) {
    // Paced so the confirmation of 60 candidates takes seconds; the brake off, since 60 of 100
    // vanishing would hold the run.
    let app = TestApp::spawn_with(db, |s| {
        s.reconcile.enabled = false;
        s.reconcile.tick = Duration::from_millis(50);
        s.reconcile.heartbeat = Duration::from_millis(500);
        s.reconcile.lease_ttl = Duration::from_secs(5);
        s.reconcile.max_pages_per_second = 20.0;
        s.reconcile.brake_min = 1_000;
    })
    .await;
    let t = app.tenant("live").await;
    let cred = app.credential(&t, "bird").await;
    let remote = seed(&app, "bird", 100).await;
    let first = reconcile(&app, &t, &cred).await;
    assert_eq!(first["status"], "succeeded", "{first}");
    for r in &remote[..60] {
        sim_delete(&app, "bird", r).await;
    }
    let run = start_run(&app, &t, &cred).await;
    let id = run["id"].as_str().unwrap().to_owned();
    // Every reading taken while the run was confirming candidates.
    let mut readings = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    let last = loop {
        let a = app
            .call(
                Method::GET,
                &format!("/credentials/{cred}/reconciliations/{id}"),
                Some(&t.key),
                None,
            )
            .await;
        let r = a.body["run"].clone();
        if r["status"] != "running" && r["status"] != "queued" {
            break r;
        }
        if r["phase"] == "confirming" {
            readings.push(r["flagged"].as_u64().unwrap());
        }
        assert!(Instant::now() < deadline, "run never ended: {r}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(last["status"], "succeeded", "{last}");
    assert_eq!(last["flagged"], 60, "{last}");
    // The figures grew while the pass went, not only at its end.
    assert!(
        readings.iter().any(|&f| f > 0 && f < 60),
        "flagged was never seen between 0 and 60 while confirming: {readings:?}"
    );
    app.stop().await;
}

#[tokio::test]
async fn run_figures_grow_while_candidates_are_confirmed() {
    live_figures_body(TestDb::sqlite()).await;
    if let Some(db) = TestDb::postgres().await {
        live_figures_body(db).await;
    }
}

// --- The confirm step: a candidate is flagged only when a direct lookup answers 404 ----------

/// The providers that can list and read one contact (every one whose candidates the confirm
/// step looks up), from their declarations; the simulated ones must all be among them so the
/// tests below cannot pass by looping over nothing.
async fn listing_providers_with_get(app: &TestApp) -> Vec<String> {
    let catalogue = app.tenant("catalogue").await;
    let providers = app
        .call(Method::GET, "/providers", Some(&catalogue.key), None)
        .await;
    assert_eq!(providers.status, StatusCode::OK, "{}", providers.text);
    let mut out = Vec::new();
    for p in providers.body["providers"].as_array().unwrap() {
        let name = p["provider"].as_str().unwrap();
        let decl = app
            .call(
                Method::GET,
                &format!("/providers/{name}"),
                Some(&catalogue.key),
                None,
            )
            .await
            .body;
        if decl["operations"]["list"] == true && decl["operations"]["get"] == true {
            out.push(name.to_owned());
        }
    }
    for expected in ["bird", "iclosed", "karia"] {
        assert!(
            out.iter().any(|p| p == expected),
            "{expected} should list and get: {out:?}"
        );
    }
    out
}

async fn index_entry(
    app: &TestApp,
    t: &TestTenant,
    cred: &str,
    remote: &str,
) -> gateway_store::IndexEntry {
    app.store()
        .index_get_by_remote(
            &gateway_core::TenantId::parse(&t.id).unwrap(),
            &gateway_core::CredentialId::parse(cred).unwrap(),
            &gateway_core::RemoteId::from(remote),
        )
        .await
        .unwrap()
        .unwrap_or_else(|| panic!("{remote} is not in the index"))
}

async fn faults(app: &TestApp, provider: &str, body: Value) {
    let f = app.sim(Method::POST, provider, "/faults", Some(body)).await;
    assert_eq!(f.status, StatusCode::OK, "{provider}: {}", f.text);
}

/// A contact a complete listing leaves out while a direct read still finds it is a live
/// contact: it is not flagged, and the lookup re-indexes it (its `lastSeenAt` moves on). A
/// contact really deleted in the same pass is flagged, so the lookups did run.
async fn hidden_but_alive_body(app: TestApp) {
    for name in listing_providers_with_get(&app).await {
        let t = app.tenant(&format!("hidden-{name}")).await;
        let cred = app.credential(&t, &name).await;
        let seeded = seed(&app, &name, 12).await;
        let first = reconcile(&app, &t, &cred).await;
        assert_eq!(first["status"], "succeeded", "{name}: {first}");
        let (hidden, deleted) = (&seeded[1], &seeded[2]);
        let seen_before = index_entry(&app, &t, &cred, hidden).await.last_seen_at;
        faults(&app, &name, json!({"hideFromListing": [hidden]})).await;
        sim_delete(&app, &name, deleted).await;

        let asked = chrono::Utc::now();
        let run = reconcile(&app, &t, &cred).await;
        assert_eq!(run["status"], "succeeded", "{name}: {run}");
        assert_eq!(run["candidates"], 2, "{name}: {run}");
        assert_eq!(run["flagged"], 1, "{name}: {run}");
        assert_eq!(run["confirmErrors"], 0, "{name}: {run}");

        let alive = index_entry(&app, &t, &cred, hidden).await;
        assert!(!alive.remote_deleted, "{name}: {alive:?}");
        assert_eq!(alive.deletion_detected_by, None, "{name}");
        let last_seen = alive.last_seen_at.expect("seen by the lookup");
        assert!(
            last_seen.timestamp_millis() >= asked.timestamp_millis(),
            "{name}: the confirming lookup did not re-index it (lastSeenAt {last_seen}, before {seen_before:?}, run asked at {asked})"
        );
        assert!(index_entry(&app, &t, &cred, deleted).await.remote_deleted);
        let events = all_events(&app, &t, Some(&cred), 1000).await;
        let flagged = of_type(&events, "contact.remote_deleted");
        assert_eq!(flagged.len(), 1, "{name}: {flagged:?}");
        assert_eq!(flagged[0]["remoteId"], deleted.as_str(), "{name}");
        app.sim(Method::DELETE, &name, "/faults", None).await;
    }
    app.stop().await;
}

#[tokio::test]
async fn a_contact_missing_from_a_complete_listing_but_found_by_a_lookup_is_not_flagged() {
    on_both!(hidden_but_alive_body);
}

/// Runs the reconciliation until one succeeds: after a burst of provider errors the
/// credential's circuit breaker may refuse calls for a while, which fails runs without a
/// verdict; the state wanted is a complete pass.
async fn reconcile_until_it_succeeds(app: &TestApp, t: &TestTenant, cred: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let run = reconcile(app, t, cred).await;
        if run["status"] == "succeeded" {
            return run;
        }
        assert!(Instant::now() < deadline, "no run succeeded: {run}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// A lookup that fails (here a 503 on every direct read) proves nothing: neither the live
/// contact the listing hid nor the one really deleted is flagged, and the run fails saying
/// why. Once reads work again the deletion is found and the hidden contact still stands.
async fn failed_lookup_body(app: TestApp) {
    for name in listing_providers_with_get(&app).await {
        let t = app.tenant(&format!("lookup-fails-{name}")).await;
        let cred = app.credential(&t, &name).await;
        let seeded = seed(&app, &name, 12).await;
        let first = reconcile(&app, &t, &cred).await;
        assert_eq!(first["status"], "succeeded", "{name}: {first}");
        let (hidden, deleted) = (&seeded[1], &seeded[2]);
        faults(&app, &name, json!({"hideFromListing": [hidden]})).await;
        sim_delete(&app, &name, deleted).await;
        // Enough failures for every retry of both lookups; listings are untouched.
        faults(
            &app,
            &name,
            json!({"status": 503, "count": 1000, "operation": "get"}),
        )
        .await;

        let run = reconcile(&app, &t, &cred).await;
        assert_eq!(run["status"], "failed", "{name}: {run}");
        assert_eq!(run["candidates"], 2, "{name}: {run}");
        assert_eq!(run["flagged"], 0, "{name}: {run}");
        assert_eq!(run["confirmErrors"], 2, "{name}: {run}");
        let error = run["error"].as_str().unwrap();
        assert!(error.contains("left unflagged"), "{name}: {error}");
        for remote in [hidden, deleted] {
            let entry = index_entry(&app, &t, &cred, remote).await;
            assert!(!entry.remote_deleted, "{name}: {entry:?}");
        }
        let events = all_events(&app, &t, Some(&cred), 1000).await;
        assert!(
            of_type(&events, "contact.remote_deleted").is_empty(),
            "{name}"
        );

        // Reads work again (the hidden contact stays hidden from listings).
        app.sim(Method::DELETE, &name, "/faults", None).await;
        faults(&app, &name, json!({"hideFromListing": [hidden]})).await;
        let run = reconcile_until_it_succeeds(&app, &t, &cred).await;
        assert_eq!(run["flagged"], 1, "{name}: {run}");
        assert!(!index_entry(&app, &t, &cred, hidden).await.remote_deleted);
        assert!(index_entry(&app, &t, &cred, deleted).await.remote_deleted);
        app.sim(Method::DELETE, &name, "/faults", None).await;
    }
    app.stop().await;
}

/// An app whose circuit breakers reopen fast: the failing lookups open them, and the test
/// waits for a complete pass afterwards.
async fn app_quick_breakers(db: TestDb) -> TestApp {
    TestApp::spawn_with(db, |s| {
        s.reconcile.enabled = false;
        s.reconcile.tick = Duration::from_millis(50);
        s.reconcile.heartbeat = Duration::from_millis(500);
        s.reconcile.lease_ttl = Duration::from_secs(5);
        s.reconcile.max_pages_per_second = 0.0;
        for r in [
            &mut s.resilience.bird,
            &mut s.resilience.karia,
            &mut s.resilience.iclosed,
        ] {
            r.open_duration = Some(Duration::from_millis(200));
        }
    })
    .await
}

#[tokio::test]
async fn a_failed_lookup_flags_nothing_and_fails_the_run() {
    failed_lookup_body(app_quick_breakers(TestDb::sqlite()).await).await;
    if let Some(db) = TestDb::postgres().await {
        failed_lookup_body(app_quick_breakers(db).await).await;
    }
}

// --- A provider 404 on a write, with no read through the gateway first ------------------------

/// The providers whose declaration offers `op`; the simulated ones that must be among them
/// are named so the tests cannot pass by looping over nothing.
async fn providers_with(app: &TestApp, op: &str, expected: &[&str]) -> Vec<String> {
    let catalogue = app.tenant(&format!("catalogue-{op}")).await;
    let providers = app
        .call(Method::GET, "/providers", Some(&catalogue.key), None)
        .await;
    assert_eq!(providers.status, StatusCode::OK, "{}", providers.text);
    let mut out = Vec::new();
    for p in providers.body["providers"].as_array().unwrap() {
        let name = p["provider"].as_str().unwrap();
        let decl = app
            .call(
                Method::GET,
                &format!("/providers/{name}"),
                Some(&catalogue.key),
                None,
            )
            .await
            .body;
        if decl["operations"][op] == true {
            out.push(name.to_owned());
        }
    }
    for e in expected {
        assert!(out.iter().any(|p| p == e), "{e} should {op}: {out:?}");
    }
    out
}

/// PATCH and PUT of a contact deleted behind the gateway's back: the provider's 404 (confirmed
/// by the gateway's own read) answers `remote_deleted` and flags the contact `on_use` at once,
/// with one event; nothing read the contact through the gateway before the write.
async fn update_404_body(app: TestApp) {
    for name in providers_with(&app, "update", &["bird", "iclosed", "karia"]).await {
        for method in [Method::PATCH, Method::PUT] {
            let t = app.tenant(&format!("write404-{name}-{method}")).await;
            let cred = app.credential(&t, &name).await;
            let c = create_contact(&app, &t, &cred).await;
            let (id, remote) = (c["id"].as_str().unwrap(), c["remoteId"].as_str().unwrap());
            sim_delete(&app, &name, remote).await;
            let before = index_entry(&app, &t, &cred, remote).await;
            assert!(!before.remote_deleted, "{name} {method}: {before:?}");

            let w = app
                .call(
                    method.clone(),
                    &format!("/crm/contacts/{id}?credentialId={cred}"),
                    Some(&t.key),
                    Some(json!({"firstName": "After"})),
                )
                .await;
            assert_eq!(
                w.status,
                StatusCode::NOT_FOUND,
                "{name} {method}: {}",
                w.text
            );
            assert_eq!(
                w.body["code"], "remote_deleted",
                "{name} {method}: {}",
                w.text
            );
            let after = index_entry(&app, &t, &cred, remote).await;
            assert!(after.remote_deleted, "{name} {method}: {after:?}");
            assert_eq!(
                after.deletion_detected_by,
                Some(gateway_store::DetectedBy::OnUse),
                "{name} {method}"
            );
            let events = all_events(&app, &t, Some(&cred), 1000).await;
            let flagged = of_type(&events, "contact.remote_deleted");
            assert_eq!(flagged.len(), 1, "{name} {method}: {flagged:?}");
            assert_eq!(flagged[0]["contactId"], id, "{name} {method}");
            assert_eq!(
                flagged[0]["data"]["detectedBy"], "on_use",
                "{name} {method}"
            );
        }
    }
    app.stop().await;
}

#[tokio::test]
async fn a_provider_404_on_patch_or_put_flags_the_contact_at_once() {
    on_both!(update_404_body);
}

/// DELETE of a contact already deleted behind the gateway's back: the provider's 404
/// (confirmed by a read) is the state the caller asked for, so the answer is 204, the
/// contact leaves the index at once and `contact.deleted` is published.
async fn delete_404_body(app: TestApp) {
    for name in providers_with(&app, "delete", &["bird", "karia"]).await {
        let t = app.tenant(&format!("delete404-{name}")).await;
        let cred = app.credential(&t, &name).await;
        let c = create_contact(&app, &t, &cred).await;
        let (id, remote) = (c["id"].as_str().unwrap(), c["remoteId"].as_str().unwrap());
        sim_delete(&app, &name, remote).await;

        let d = app
            .call(
                Method::DELETE,
                &format!("/crm/contacts/{id}?credentialId={cred}"),
                Some(&t.key),
                None,
            )
            .await;
        assert_eq!(d.status, StatusCode::NO_CONTENT, "{name}: {}", d.text);
        let left = app
            .store()
            .index_get_by_remote(
                &gateway_core::TenantId::parse(&t.id).unwrap(),
                &gateway_core::CredentialId::parse(&cred).unwrap(),
                &gateway_core::RemoteId::from(remote),
            )
            .await
            .unwrap();
        assert!(left.is_none(), "{name}: still indexed: {left:?}");
        let events = all_events(&app, &t, Some(&cred), 1000).await;
        let deleted = of_type(&events, "contact.deleted");
        assert_eq!(deleted.len(), 1, "{name}: {events:?}");
        assert_eq!(deleted[0]["contactId"], id, "{name}");
        let got = app
            .call(
                Method::GET,
                &format!("/crm/contacts/{id}?credentialId={cred}"),
                Some(&t.key),
                None,
            )
            .await;
        assert_eq!(got.status, StatusCode::NOT_FOUND, "{name}: {}", got.text);
    }
    app.stop().await;
}

#[tokio::test]
async fn a_provider_404_on_delete_answers_204_and_drops_the_contact_at_once() {
    on_both!(delete_404_body);
}

// --- The brake's boundaries ---------------------------------------------------------------------

/// The brake holds a run only when *more* than `brake_min` (10) candidates and *more* than
/// `brake_fraction` (20%) of the known contacts vanished: exactly at either limit the run
/// flags at once.
#[tokio::test]
async fn the_brake_holds_only_beyond_both_limits() {
    let app = app_on(TestDb::sqlite()).await;
    // (known contacts, vanished): exactly brake_min of 40 (25%), then exactly 20% of 55 (11).
    for (known, vanished) in [(40, 10), (55, 11)] {
        let t = app.tenant(&format!("brake-edge-{known}")).await;
        let cred = app.credential(&t, "bird").await;
        // Each tenant's credential sees the whole simulator: start from an empty one.
        let r = app.sim(Method::POST, "bird", "/reset", None).await;
        assert!(r.status.is_success(), "{}", r.text);
        let seeded = seed(&app, "bird", known).await;
        assert_eq!(reconcile(&app, &t, &cred).await["status"], "succeeded");
        for remote in &seeded[..vanished] {
            sim_delete(&app, "bird", remote).await;
        }
        let run = reconcile(&app, &t, &cred).await;
        assert_eq!(run["status"], "succeeded", "{known}/{vanished}: {run}");
        assert_eq!(run["candidates"], vanished as u64, "{run}");
        assert_eq!(run["flagged"], vanished as u64, "{run}");
    }
    app.stop().await;
}
