//! End to end: tenant → credential → create → get → list across pages → patch → delete → 404,
//! through a real gateway and the Bird simulator over HTTP, on SQLite and on PostgreSQL.
#![allow(clippy::unwrap_used)]

use gateway_testkit::{TestApp, TestDb};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

async fn full_flow(app: &TestApp) {
    let tenant = app.tenant("acme").await;
    let cred = app.credential(&tenant, "bird").await;
    let key = Some(tenant.key.as_str());

    // create: stored fields land, unstorable ones come back as warnings, phone is normalised
    let created = app
        .call(
            Method::POST,
            &format!("/crm/contacts?credentialId={cred}"),
            key,
            Some(json!({
                "firstName": "Zoë", "lastName": "Łukasiewicz-Ōtani",
                "account": "Acme Pty Ltd",
                "addresses": [{"addressType": "current", "street1": "10 Example Street", "city": "Sydney", "country": "AU"}],
                "emailAddresses": [{"emailAddress": "zoe@example.com"}, {"emailAddress": "zoe.l@example.org"}],
                "phoneNumbers": [{"phoneNumber": "+61 (400) 111-222"}],
                "remoteFields": {"favouriteColour": "teal", "listIds": ["123e4567-e89b-12d3-a456-426614174000"]}
            })),
        )
        .await;
    assert_eq!(created.status, StatusCode::OK, "{}", created.text);
    let contact = &created.body["contact"];
    let id = contact["id"].as_str().unwrap().to_owned();
    assert!(id.starts_with("con_"));
    assert!(!contact["remoteId"].as_str().unwrap().is_empty());
    assert_eq!(contact["firstName"], "Zoë");
    assert_eq!(contact["lastName"], "Łukasiewicz-Ōtani");
    assert_eq!(contact["emailAddresses"].as_array().unwrap().len(), 2);
    assert_eq!(contact["phoneNumbers"][0]["phoneNumber"], "+61400111222");
    assert_eq!(contact["remoteFields"]["favouriteColour"], "teal");
    assert_eq!(contact["remoteDeleted"], false);
    let pointers: Vec<&str> = created.body["warnings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w["pointer"].as_str().unwrap())
        .collect();
    assert!(pointers.contains(&"/account"), "{pointers:?}");
    assert!(pointers.contains(&"/addresses/0"), "{pointers:?}");

    // get, live from the provider
    let got = app
        .call(
            Method::GET,
            &format!("/crm/contacts/{id}?credentialId={cred}"),
            key,
            None,
        )
        .await;
    assert_eq!(got.status, StatusCode::OK, "{}", got.text);
    assert_eq!(got.body["contact"]["id"], id.as_str());
    assert_eq!(got.body["contact"]["firstName"], "Zoë");

    // list across several pages: every contact exactly once
    for i in 0..6 {
        let a = app
            .call(
                Method::POST,
                &format!("/crm/contacts?credentialId={cred}"),
                key,
                Some(json!({"lastName": format!("Page{i}")})),
            )
            .await;
        assert_eq!(a.status, StatusCode::OK, "{}", a.text);
    }
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    let mut pages = 0;
    loop {
        let mut path = format!("/crm/contacts?credentialId={cred}&pageSize=3");
        if let Some(c) = &cursor {
            path.push_str(&format!("&cursor={c}"));
        }
        let page = app.call(Method::GET, &path, key, None).await;
        assert_eq!(page.status, StatusCode::OK, "{}", page.text);
        pages += 1;
        for c in page.body["contacts"].as_array().unwrap() {
            seen.push(c["id"].as_str().unwrap().to_owned());
        }
        if page.body["pageInfo"]["hasNext"] == true {
            cursor = Some(
                page.body["pageInfo"]["nextCursor"]
                    .as_str()
                    .unwrap()
                    .to_owned(),
            );
        } else {
            assert_eq!(page.body["pageInfo"]["nextCursor"], Value::Null);
            break;
        }
    }
    assert_eq!(pages, 3);
    assert_eq!(seen.len(), 7);
    let mut unique = seen.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), 7, "a contact was listed twice");
    assert!(seen.contains(&id));

    // patch: only what is sent changes
    let patched = app
        .call(
            Method::PATCH,
            &format!("/crm/contacts/{id}?credentialId={cred}"),
            key,
            Some(json!({"firstName": "Zoe"})),
        )
        .await;
    assert_eq!(patched.status, StatusCode::OK, "{}", patched.text);
    assert_eq!(patched.body["contact"]["firstName"], "Zoe");
    assert_eq!(patched.body["contact"]["lastName"], "Łukasiewicz-Ōtani");
    assert_eq!(
        patched.body["contact"]["emailAddresses"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
    assert_eq!(patched.body["contact"]["id"], id.as_str());

    // PUT is an alias
    let put = app
        .call(
            Method::PUT,
            &format!("/crm/contacts/{id}?credentialId={cred}"),
            key,
            Some(json!({"emailAddresses": [{"emailAddress": "only@example.com"}]})),
        )
        .await;
    assert_eq!(put.status, StatusCode::OK, "{}", put.text);
    assert_eq!(
        put.body["contact"]["emailAddresses"],
        json!([{"emailAddress": "only@example.com"}])
    );

    // delete, then 404
    let del = app
        .call(
            Method::DELETE,
            &format!("/crm/contacts/{id}?credentialId={cred}"),
            key,
            None,
        )
        .await;
    assert_eq!(del.status, StatusCode::NO_CONTENT, "{}", del.text);
    let gone = app
        .call(
            Method::GET,
            &format!("/crm/contacts/{id}?credentialId={cred}"),
            key,
            None,
        )
        .await;
    assert_eq!(gone.status, StatusCode::NOT_FOUND, "{}", gone.text);
    assert_eq!(gone.headers["content-type"], "application/problem+json");
    let again = app
        .call(
            Method::DELETE,
            &format!("/crm/contacts/{id}?credentialId={cred}"),
            key,
            None,
        )
        .await;
    assert_eq!(again.status, StatusCode::NOT_FOUND);
    let stats = app.sim(Method::GET, "bird", "/stats", None).await;
    assert_eq!(stats.body["contacts"], 6);
}

#[tokio::test]
async fn full_flow_on_sqlite() {
    let app = TestApp::spawn().await;
    full_flow(&app).await;
    app.stop().await;
}

#[tokio::test]
async fn full_flow_on_postgres() {
    let Some(db) = TestDb::postgres().await else {
        return;
    };
    let app = TestApp::spawn_on(db).await;
    full_flow(&app).await;
    app.stop().await;
}

#[tokio::test]
async fn contacts_deleted_behind_the_gateways_back_are_flagged_on_use() {
    let app = TestApp::spawn().await;
    let tenant = app.tenant("acme").await;
    let cred = app.credential(&tenant, "bird").await;
    let key = Some(tenant.key.as_str());
    let created = app
        .call(
            Method::POST,
            &format!("/crm/contacts?credentialId={cred}"),
            key,
            Some(json!({"lastName": "Gone"})),
        )
        .await;
    let id = created.body["contact"]["id"].as_str().unwrap().to_owned();
    let remote = created.body["contact"]["remoteId"]
        .as_str()
        .unwrap()
        .to_owned();

    let d = app
        .sim(Method::DELETE, "bird", &format!("/contacts/{remote}"), None)
        .await;
    assert!(d.status.is_success(), "{}", d.text);

    let got = app
        .call(
            Method::GET,
            &format!("/crm/contacts/{id}?credentialId={cred}"),
            key,
            None,
        )
        .await;
    assert_eq!(got.status, StatusCode::OK, "{}", got.text);
    assert_eq!(got.body["contact"]["remoteDeleted"], true);
    assert!(got.body["contact"]["remoteDeletedAt"].is_string());

    let patch = app
        .call(
            Method::PATCH,
            &format!("/crm/contacts/{id}?credentialId={cred}"),
            key,
            Some(json!({"firstName": "X"})),
        )
        .await;
    assert_eq!(patch.status, StatusCode::NOT_FOUND);
    assert_eq!(patch.body["code"], "remote_deleted");

    let live = app
        .call(
            Method::GET,
            &format!("/crm/contacts?credentialId={cred}"),
            key,
            None,
        )
        .await;
    assert_eq!(live.body["contacts"].as_array().unwrap().len(), 0);
    let with_deleted = app
        .call(
            Method::GET,
            &format!("/crm/contacts?credentialId={cred}&includeDeleted=true"),
            key,
            None,
        )
        .await;
    assert_eq!(with_deleted.status, StatusCode::OK, "{}", with_deleted.text);
    let mut all = with_deleted.body["contacts"].as_array().unwrap().clone();
    if with_deleted.body["pageInfo"]["hasNext"] == true {
        let c = with_deleted.body["pageInfo"]["nextCursor"]
            .as_str()
            .unwrap();
        let next = app
            .call(
                Method::GET,
                &format!("/crm/contacts?credentialId={cred}&includeDeleted=true&cursor={c}"),
                key,
                None,
            )
            .await;
        all.extend(next.body["contacts"].as_array().unwrap().clone());
    }
    assert_eq!(all.len(), 1);
    assert_eq!(all[0]["id"], id.as_str());
    assert_eq!(all[0]["remoteDeleted"], true);
    app.stop().await;
}

#[tokio::test]
async fn dry_run_and_strict_call_nothing() {
    let app = TestApp::spawn().await;
    let tenant = app.tenant("acme").await;
    let cred = app.credential(&tenant, "bird").await;
    let key = Some(tenant.key.as_str());
    let before = app.sim(Method::GET, "bird", "/stats", None).await.body;

    let dry = app
        .call(
            Method::POST,
            &format!("/crm/contacts?credentialId={cred}&dryRun=true"),
            key,
            Some(json!({"firstName": "Ada", "lastName": "Lovelace", "account": "Analytical"})),
        )
        .await;
    assert_eq!(dry.status, StatusCode::OK, "{}", dry.text);
    assert_eq!(dry.body["dryRun"], true);
    assert_eq!(dry.body["requests"][0]["method"], "POST");
    assert_eq!(
        dry.body["requests"][0]["body"]["displayName"],
        "Ada Lovelace"
    );
    assert_eq!(dry.body["warnings"][0]["pointer"], "/account");

    let strict = app
        .call(
            Method::POST,
            &format!("/crm/contacts?credentialId={cred}&strict=true"),
            key,
            Some(json!({"lastName": "Lovelace", "account": "Analytical"})),
        )
        .await;
    assert_eq!(
        strict.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        strict.text
    );
    assert_eq!(strict.body["errors"][0]["pointer"], "/account");
    assert_eq!(strict.body["source"], "gateway");

    let too_long = app
        .call(
            Method::POST,
            &format!("/crm/contacts?credentialId={cred}"),
            key,
            Some(json!({"firstName": "A".repeat(100), "lastName": "B".repeat(100)})),
        )
        .await;
    assert_eq!(
        too_long.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        too_long.text
    );

    let bad_phone = app
        .call(
            Method::POST,
            &format!("/crm/contacts?credentialId={cred}"),
            key,
            Some(json!({"lastName": "X", "phoneNumbers": [{"phoneNumber": "call me"}]})),
        )
        .await;
    assert_eq!(
        bad_phone.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        bad_phone.text
    );
    assert_eq!(
        bad_phone.body["errors"][0]["pointer"],
        "/phoneNumbers/0/phoneNumber"
    );

    let after = app.sim(Method::GET, "bird", "/stats", None).await.body;
    assert_eq!(before["contacts"], after["contacts"]);
    let posts = |s: &Value| {
        s["requests"]
            .as_object()
            .map(|m| {
                m.iter()
                    .filter(|(k, _)| k.starts_with("POST"))
                    .map(|(_, v)| v.as_u64().unwrap_or(0))
                    .sum::<u64>()
            })
            .unwrap_or(0)
    };
    assert_eq!(
        posts(&before),
        posts(&after),
        "a refused or dry-run write reached the provider"
    );
    app.stop().await;
}

#[tokio::test]
async fn published_schema_matches_what_is_enforced() {
    let app = TestApp::spawn().await;
    let tenant = app.tenant("acme").await;
    let cred = app.credential(&tenant, "bird").await;
    let key = Some(tenant.key.as_str());
    let schema = app
        .call(
            Method::GET,
            &format!("/crm/contacts/schema?credentialId={cred}&operation=create"),
            key,
            None,
        )
        .await;
    assert_eq!(schema.status, StatusCode::OK, "{}", schema.text);
    let provider = app.call(Method::GET, "/providers/bird", key, None).await;
    assert_eq!(provider.status, StatusCode::OK);
    assert_eq!(
        schema.body["fields"].as_array().unwrap().len(),
        provider.body["fields"].as_array().unwrap().len()
    );

    // every top-level scalar field the schema calls unsupported comes back as a warning
    for field in schema.body["fields"].as_array().unwrap() {
        let pointer = field["pointer"].as_str().unwrap();
        if field["supported"] == false && ["/firstName", "/account"].contains(&pointer) {
            let mut body = json!({"lastName": "L"});
            body[&pointer[1..]] = json!("value");
            let a = app
                .call(
                    Method::POST,
                    &format!("/crm/contacts?credentialId={cred}&dryRun=true"),
                    key,
                    Some(body),
                )
                .await;
            assert_eq!(a.body["warnings"][0]["pointer"], pointer, "{}", a.text);
        }
    }
    assert_eq!(
        app.call(Method::GET, "/providers/hubspot", key, None)
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    let all = app.call(Method::GET, "/providers", key, None).await;
    assert!(all.body["providers"]
        .as_array()
        .unwrap()
        .iter()
        .any(|p| p["provider"] == "bird"));
    let bad_op = app
        .call(
            Method::GET,
            &format!("/crm/contacts/schema?credentialId={cred}&operation=merge"),
            key,
            None,
        )
        .await;
    assert_eq!(bad_op.status, StatusCode::BAD_REQUEST);
    app.stop().await;
}
