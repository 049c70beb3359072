//! The admin API end to end: listing tenants and their keys page by page, deleting a tenant
//! with everything of it, `Cache-Control: no-store` on answers that carry a key, and an
//! OpenAPI document that describes exactly these routes. Runs on SQLite and on PostgreSQL
//! (`CRM_GATEWAY_TEST_POSTGRES_URL`).
#![allow(clippy::unwrap_used)]

use gateway_testkit::{TestApp, TestDb, ADMIN_TOKEN};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

async fn admin(
    app: &TestApp,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> gateway_testkit::Answer {
    app.call(method, path, Some(ADMIN_TOKEN), body).await
}

async fn lifecycle_body(app: TestApp) {
    // Creating answers carry a key: never cached.
    let created = admin(
        &app,
        Method::POST,
        "/admin/tenants",
        Some(json!({"name": "Acme"})),
    )
    .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.text);
    assert_eq!(created.headers["cache-control"], "no-store");
    let a_id = created.body["tenantId"].as_str().unwrap().to_owned();
    let a_key = created.body["apiKey"].as_str().unwrap().to_owned();
    let a_key_id = created.body["keyId"].as_str().unwrap().to_owned();
    let b = app.tenant("Beta").await;
    let c = app.tenant("Gamma").await;

    // Tenants, one page at a time, oldest first.
    let p1 = admin(&app, Method::GET, "/admin/tenants?pageSize=2", None).await;
    assert_eq!(p1.status, StatusCode::OK, "{}", p1.text);
    let names: Vec<&str> = p1.body["tenants"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["Acme", "Beta"]);
    assert_eq!(p1.body["tenants"][0]["id"], a_id.as_str());
    assert!(p1.body["tenants"][0]["createdAt"].is_string());
    assert_eq!(p1.body["pageInfo"]["hasNext"], true);
    let cursor = p1.body["pageInfo"]["nextCursor"].as_str().unwrap();
    let p2 = admin(
        &app,
        Method::GET,
        &format!("/admin/tenants?pageSize=2&cursor={cursor}"),
        None,
    )
    .await;
    assert_eq!(
        p2.body["tenants"].as_array().unwrap().len(),
        1,
        "{}",
        p2.text
    );
    assert_eq!(p2.body["tenants"][0]["id"], c.id.as_str());
    assert_eq!(p2.body["pageInfo"]["hasNext"], false);
    assert!(p2.body["pageInfo"]["nextCursor"].is_null());
    for bad in ["pageSize=0", "pageSize=101", "cursor=nope", "color=red"] {
        let r = admin(&app, Method::GET, &format!("/admin/tenants?{bad}"), None).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{bad}: {}", r.text);
        assert_eq!(r.headers["content-type"], "application/problem+json");
    }
    assert_eq!(
        app.call(Method::GET, "/admin/tenants", Some(&a_key), None)
            .await
            .status,
        StatusCode::UNAUTHORIZED
    );

    // Keys: ids and times, never a key; the last use shows once the key was used.
    let issued = admin(
        &app,
        Method::POST,
        &format!("/admin/tenants/{a_id}/keys"),
        None,
    )
    .await;
    assert_eq!(issued.status, StatusCode::CREATED);
    assert_eq!(issued.headers["cache-control"], "no-store");
    let second_id = issued.body["keyId"].as_str().unwrap().to_owned();
    let cred = app
        .credential(
            &gateway_testkit::TestTenant {
                id: a_id.clone(),
                key: a_key.clone(),
            },
            "bird",
        )
        .await;
    let contact = app
        .call(
            Method::POST,
            &format!("/crm/contacts?credentialId={cred}"),
            Some(&a_key),
            Some(json!({"lastName": "Citizen"})),
        )
        .await;
    assert_eq!(contact.status, StatusCode::OK, "{}", contact.text);
    let keys = admin(
        &app,
        Method::GET,
        &format!("/admin/tenants/{a_id}/keys?pageSize=1"),
        None,
    )
    .await;
    assert_eq!(keys.status, StatusCode::OK, "{}", keys.text);
    assert_eq!(keys.body["keys"].as_array().unwrap().len(), 1);
    assert_eq!(keys.body["keys"][0]["keyId"], a_key_id.as_str());
    assert!(
        keys.body["keys"][0]["lastUsedAt"].is_string(),
        "{}",
        keys.text
    );
    assert!(keys.body["keys"][0]["revokedAt"].is_null());
    assert!(!keys.text.contains(&a_key) && !keys.text.contains("apiKey"));
    let cursor = keys.body["pageInfo"]["nextCursor"].as_str().unwrap();
    let rest = admin(
        &app,
        Method::GET,
        &format!("/admin/tenants/{a_id}/keys?cursor={cursor}"),
        None,
    )
    .await;
    assert_eq!(
        rest.body["keys"][0]["keyId"],
        second_id.as_str(),
        "{}",
        rest.text
    );
    assert!(rest.body["keys"][0]["lastUsedAt"].is_null());
    let unknown = "ten_0123456789abcdef0123456789abcdef";
    for path in [
        format!("/admin/tenants/{unknown}/keys"),
        "/admin/tenants/nonsense/keys".to_owned(),
    ] {
        assert_eq!(
            admin(&app, Method::GET, &path, None).await.status,
            StatusCode::NOT_FOUND,
            "{path}"
        );
    }

    // Deleting a tenant: 204, then nothing of it is left, and the others are untouched.
    let deleted = admin(
        &app,
        Method::DELETE,
        &format!("/admin/tenants/{a_id}"),
        None,
    )
    .await;
    assert_eq!(deleted.status, StatusCode::NO_CONTENT, "{}", deleted.text);
    assert_eq!(
        app.call(Method::GET, "/credentials", Some(&a_key), None)
            .await
            .status,
        StatusCode::UNAUTHORIZED
    );
    let tenant: gateway_core::TenantId = a_id.parse().unwrap();
    let cred_id: gateway_core::CredentialId = cred.parse().unwrap();
    assert!(matches!(
        app.store().credential_sealed(&tenant, &cred_id).await,
        Err(gateway_store::StoreError::NotFound)
    ));
    assert!(app
        .store()
        .events_after(&tenant, None, 0, 10)
        .await
        .unwrap()
        .is_empty());
    assert_eq!(
        admin(
            &app,
            Method::GET,
            &format!("/admin/tenants/{a_id}/keys"),
            None
        )
        .await
        .status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        admin(
            &app,
            Method::DELETE,
            &format!("/admin/tenants/{a_id}"),
            None
        )
        .await
        .status,
        StatusCode::NOT_FOUND
    );
    let left = admin(&app, Method::GET, "/admin/tenants", None).await;
    assert_eq!(left.body["tenants"].as_array().unwrap().len(), 2);
    assert_eq!(
        app.call(Method::GET, "/credentials", Some(&b.key), None)
            .await
            .status,
        StatusCode::OK
    );
    app.stop().await;
}

#[tokio::test]
async fn admin_lists_tenants_and_keys_and_deletes_a_tenant_with_everything_of_it() {
    lifecycle_body(TestApp::spawn().await).await;
    if let Some(db) = TestDb::postgres().await {
        lifecycle_body(TestApp::spawn_on(db).await).await;
    }
}

#[tokio::test]
async fn admin_validation_speaks_of_no_provider() {
    let app = TestApp::spawn().await;
    let r = admin(
        &app,
        Method::POST,
        "/admin/tenants",
        Some(json!({"name": " "})),
    )
    .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    let title = r.body["title"].as_str().unwrap();
    assert!(!title.contains("provider"), "{title}");
    assert_eq!(r.body["errors"][0]["pointer"], "/name");
    app.stop().await;
}

#[tokio::test]
async fn the_admin_routes_are_in_the_openapi_document_as_served() {
    let app = TestApp::spawn().await;
    let doc = app
        .call(Method::GET, "/openapi.json", None, None)
        .await
        .body;
    let paths = &doc["paths"];
    let statuses = |path: &str, method: &str| -> Vec<String> {
        let mut s: Vec<String> = paths[path][method]["responses"]
            .as_object()
            .unwrap_or_else(|| panic!("{method} {path} missing"))
            .keys()
            .cloned()
            .collect();
        s.sort();
        s
    };
    assert_eq!(
        statuses("/admin/tenants", "get"),
        ["200", "400", "401", "404", "408", "429", "500"]
    );
    assert_eq!(
        statuses("/admin/tenants/{id}", "delete"),
        ["204", "400", "401", "404", "408", "429", "500"]
    );
    assert_eq!(
        statuses("/admin/tenants/{id}/keys", "get"),
        ["200", "400", "401", "404", "408", "429", "500"]
    );
    assert_eq!(
        statuses("/admin/tenants", "post"),
        ["201", "400", "401", "404", "408", "413", "422", "429", "500"]
    );
    for (path, method) in [
        ("/admin/tenants", "get"),
        ("/admin/tenants/{id}/keys", "get"),
    ] {
        let params = paths[path][method]["parameters"].as_array().unwrap();
        let size = params.iter().find(|p| p["name"] == "pageSize").unwrap();
        assert_eq!(size["schema"]["minimum"], 1, "{size}");
        assert_eq!(size["schema"]["maximum"], 100, "{size}");
        let problem =
            &paths[path][method]["responses"]["400"]["content"]["application/problem+json"];
        assert!(problem.is_object(), "{path}");
    }
    assert!(
        paths["/admin/tenants"]["post"]["responses"]["201"]["headers"]["Cache-Control"].is_object()
    );
    assert!(
        paths["/admin/tenants/{id}/keys"]["post"]["responses"]["201"]["headers"]["Cache-Control"]
            .is_object()
    );
    // The event cursor is a number, like the sequence it carries.
    let next_after = &doc["components"]["schemas"]["EventList"]["properties"]["nextAfter"];
    assert_eq!(next_after["type"], "integer", "{next_after}");
    app.stop().await;
}

#[tokio::test]
async fn a_check_answers_checked_at_in_milliseconds() {
    let app = TestApp::spawn().await;
    let t = app.tenant("a").await;
    let cred = app.credential(&t, "iclosed").await;
    for _ in 0..3 {
        let r = app
            .call(
                Method::POST,
                &format!("/credentials/{cred}/check"),
                Some(&t.key),
                None,
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text);
        let at = r.body["checkedAt"].as_str().unwrap();
        // `2026-01-01T00:00:00.123Z`: at most three digits of fraction, like createdAt.
        let fraction = at.trim_end_matches('Z').split('.').nth(1).unwrap_or("");
        assert!(fraction.len() <= 3, "{at}");
    }
    app.stop().await;
}
