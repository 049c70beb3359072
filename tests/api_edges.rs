//! End to end: authentication, tenant isolation, bad input, secrets, provider failures and
//! the operational endpoints, against a real gateway and the Bird simulator.
#![allow(clippy::unwrap_used)]

use gateway_testkit::{TestApp, ADMIN_TOKEN};
use reqwest::{Method, StatusCode};
use serde_json::json;

#[tokio::test]
async fn another_tenants_key_gets_404_on_every_route() {
    let app = TestApp::spawn().await;
    let a = app.tenant("a").await;
    let b = app.tenant("b").await;
    let cred = app.credential(&a, "bird").await;
    let created = app
        .call(
            Method::POST,
            &format!("/crm/contacts?credentialId={cred}"),
            Some(&a.key),
            Some(json!({"lastName": "Mine"})),
        )
        .await;
    let contact = created.body["contact"]["id"].as_str().unwrap().to_owned();
    let bk = Some(b.key.as_str());

    let routes: Vec<(Method, String, Option<serde_json::Value>)> = vec![
        (Method::GET, format!("/credentials/{cred}"), None),
        (
            Method::PATCH,
            format!("/credentials/{cred}"),
            Some(json!({"name": "stolen"})),
        ),
        (Method::POST, format!("/credentials/{cred}/check"), None),
        (
            Method::GET,
            format!("/crm/contacts?credentialId={cred}"),
            None,
        ),
        (
            Method::POST,
            format!("/crm/contacts?credentialId={cred}"),
            Some(json!({"lastName": "X"})),
        ),
        (
            Method::GET,
            format!("/crm/contacts/{contact}?credentialId={cred}"),
            None,
        ),
        (
            Method::PATCH,
            format!("/crm/contacts/{contact}?credentialId={cred}"),
            Some(json!({"firstName": "X"})),
        ),
        (
            Method::PUT,
            format!("/crm/contacts/{contact}?credentialId={cred}"),
            Some(json!({"firstName": "X"})),
        ),
        (
            Method::DELETE,
            format!("/crm/contacts/{contact}?credentialId={cred}"),
            None,
        ),
        (
            Method::GET,
            format!("/crm/contacts/schema?credentialId={cred}"),
            None,
        ),
        (Method::DELETE, format!("/credentials/{cred}"), None),
    ];
    for (method, path, body) in routes {
        let r = app.call(method.clone(), &path, bk, body).await;
        assert_eq!(
            r.status,
            StatusCode::NOT_FOUND,
            "{method} {path}: {}",
            r.text
        );
        assert_eq!(r.headers["content-type"], "application/problem+json");
    }
    let listed = app.call(Method::GET, "/credentials", bk, None).await;
    assert_eq!(listed.body["credentials"].as_array().unwrap().len(), 0);
    // and A still has everything
    let mine = app
        .call(
            Method::GET,
            &format!("/crm/contacts/{contact}?credentialId={cred}"),
            Some(&a.key),
            None,
        )
        .await;
    assert_eq!(mine.status, StatusCode::OK);
    app.stop().await;
}

#[tokio::test]
async fn authentication() {
    let app = TestApp::spawn().await;
    let t = app.tenant("a").await;
    assert_eq!(
        app.call(Method::GET, "/credentials", None, None)
            .await
            .status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        app.call(Method::GET, "/credentials", Some("cgw_nope"), None)
            .await
            .status,
        StatusCode::UNAUTHORIZED
    );
    let tampered = format!("{}x", t.key);
    let r = app
        .call(Method::GET, "/credentials", Some(&tampered), None)
        .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert_eq!(r.body["code"], "unauthorized");
    // the scheme word is case-insensitive
    let lower = app
        .http
        .get(format!("{}/credentials", app.api))
        .header("authorization", format!("bearer {}", t.key))
        .send()
        .await
        .unwrap();
    assert_eq!(lower.status(), StatusCode::OK);

    // admin: wrong token, key rotation and revocation
    assert_eq!(
        app.call(
            Method::POST,
            "/admin/tenants",
            Some("wrong"),
            Some(json!({"name": "x"}))
        )
        .await
        .status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        app.call(
            Method::POST,
            "/admin/tenants",
            Some(&t.key),
            Some(json!({"name": "x"}))
        )
        .await
        .status,
        StatusCode::UNAUTHORIZED
    );
    let issued = app
        .call(
            Method::POST,
            &format!("/admin/tenants/{}/keys", t.id),
            Some(ADMIN_TOKEN),
            None,
        )
        .await;
    assert_eq!(issued.status, StatusCode::CREATED, "{}", issued.text);
    let new_key = issued.body["apiKey"].as_str().unwrap().to_owned();
    let key_id = issued.body["keyId"].as_str().unwrap().to_owned();
    assert_eq!(
        app.call(Method::GET, "/credentials", Some(&new_key), None)
            .await
            .status,
        StatusCode::OK
    );
    let revoked = app
        .call(
            Method::DELETE,
            &format!("/admin/tenants/{}/keys/{key_id}", t.id),
            Some(ADMIN_TOKEN),
            None,
        )
        .await;
    assert_eq!(revoked.status, StatusCode::NO_CONTENT);
    assert_eq!(
        app.call(Method::GET, "/credentials", Some(&new_key), None)
            .await
            .status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        app.call(Method::GET, "/credentials", Some(&t.key), None)
            .await
            .status,
        StatusCode::OK
    );
    let other = app.tenant("b").await;
    let cross = app
        .call(
            Method::DELETE,
            &format!("/admin/tenants/{}/keys/{key_id}", other.id),
            Some(ADMIN_TOKEN),
            None,
        )
        .await;
    assert_eq!(cross.status, StatusCode::NOT_FOUND);
    app.stop().await;
}

#[tokio::test]
async fn admin_api_is_absent_without_a_token() {
    let app =
        TestApp::spawn_with(gateway_testkit::TestDb::sqlite(), |s| s.admin_token = None).await;
    let r = app
        .call(
            Method::POST,
            "/admin/tenants",
            Some(ADMIN_TOKEN),
            Some(json!({"name": "x"})),
        )
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    app.stop().await;
}

#[tokio::test]
async fn bad_input_names_the_field() {
    let app = TestApp::spawn_with(gateway_testkit::TestDb::sqlite(), |s| {
        s.api.max_body_bytes = 4096
    })
    .await;
    let t = app.tenant("a").await;
    let key = t.key.as_str();
    let cred = app.credential(&t, "bird").await;
    let contacts = format!("/crm/contacts?credentialId={cred}");

    let malformed = app
        .call_raw(Method::POST, &contacts, key, b"{\"lastName\": ".to_vec())
        .await;
    assert_eq!(
        malformed.status,
        StatusCode::BAD_REQUEST,
        "{}",
        malformed.text
    );
    assert_eq!(malformed.body["errors"][0]["code"], "malformed_json");

    let wrong_type = app
        .call(
            Method::POST,
            &contacts,
            Some(key),
            Some(json!({"lastName": "A", "firstName": 5})),
        )
        .await;
    assert_eq!(wrong_type.status, StatusCode::BAD_REQUEST);
    assert_eq!(wrong_type.body["errors"][0]["pointer"], "/firstName");

    let nested = app
        .call(
            Method::POST,
            &contacts,
            Some(key),
            Some(json!({"lastName": "A", "emailAddresses": [{"emailAddress": 1}]})),
        )
        .await;
    assert_eq!(nested.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        nested.body["errors"][0]["pointer"],
        "/emailAddresses/0/emailAddress"
    );

    let unknown = app
        .call(
            Method::POST,
            &contacts,
            Some(key),
            Some(json!({"lastName": "A", "middleName": "B"})),
        )
        .await;
    assert_eq!(unknown.status, StatusCode::BAD_REQUEST);
    assert_eq!(unknown.body["errors"][0]["pointer"], "/middleName");
    assert_eq!(unknown.body["errors"][0]["code"], "unknown_field");

    let missing = app
        .call(
            Method::POST,
            &contacts,
            Some(key),
            Some(json!({"firstName": "A"})),
        )
        .await;
    assert_eq!(missing.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(missing.body["errors"][0]["pointer"], "/lastName");
    assert_eq!(missing.body["errors"][0]["code"], "required");

    let oversize = app
        .call(
            Method::POST,
            &contacts,
            Some(key),
            Some(json!({"lastName": "A".repeat(10_000)})),
        )
        .await;
    assert_eq!(
        oversize.status,
        StatusCode::PAYLOAD_TOO_LARGE,
        "{}",
        oversize.text
    );
    assert_eq!(oversize.headers["content-type"], "application/problem+json");

    let no_cred = app
        .call(Method::GET, "/crm/contacts", Some(key), None)
        .await;
    assert_eq!(no_cred.status, StatusCode::BAD_REQUEST);
    assert_eq!(no_cred.body["errors"][0]["parameter"], "credentialId");
    let page = app
        .call(
            Method::GET,
            &format!("{contacts}&pageSize=0"),
            Some(key),
            None,
        )
        .await;
    assert_eq!(page.status, StatusCode::BAD_REQUEST);
    assert_eq!(page.body["errors"][0]["parameter"], "pageSize");
    let page = app
        .call(
            Method::GET,
            &format!("{contacts}&pageSize=abc"),
            Some(key),
            None,
        )
        .await;
    assert_eq!(page.status, StatusCode::BAD_REQUEST);
    let cursor = app
        .call(
            Method::GET,
            &format!("{contacts}&cursor=garbage"),
            Some(key),
            None,
        )
        .await;
    assert_eq!(cursor.status, StatusCode::BAD_REQUEST);
    assert_eq!(cursor.body["errors"][0]["parameter"], "cursor");
    let unknown_cred = app
        .call(
            Method::GET,
            "/crm/contacts?credentialId=cred_00000000000000000000000000000000",
            Some(key),
            None,
        )
        .await;
    assert_eq!(unknown_cred.status, StatusCode::NOT_FOUND);
    let unknown_contact = app
        .call(
            Method::GET,
            &format!("/crm/contacts/con_00000000000000000000000000000000?credentialId={cred}"),
            Some(key),
            None,
        )
        .await;
    assert_eq!(unknown_contact.status, StatusCode::NOT_FOUND);

    // credentials
    let unknown_provider = app
        .call(
            Method::POST,
            "/credentials",
            Some(key),
            Some(json!({"provider": "hubspot", "name": "x", "secret": "s"})),
        )
        .await;
    assert_eq!(unknown_provider.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(unknown_provider.body["errors"][0]["pointer"], "/provider");
    let bad_settings = app
        .call(Method::POST, "/credentials", Some(key), Some(json!({"provider": "bird", "name": "x", "secret": "s", "settings": {"workspaceId": "not-a-uuid"}})))
        .await;
    assert_eq!(bad_settings.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        bad_settings.body["errors"][0]["pointer"],
        "/settings/workspaceId"
    );
    let missing_settings = app
        .call(
            Method::POST,
            "/credentials",
            Some(key),
            Some(json!({"provider": "bird", "name": "x", "secret": "s"})),
        )
        .await;
    assert_eq!(missing_settings.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        missing_settings.body["errors"][0]["pointer"],
        "/settings/workspaceId"
    );
    let no_secret = app
        .call(Method::POST, "/credentials", Some(key), Some(json!({"provider": "bird", "name": "x", "settings": {"workspaceId": "2d7d5b6e-0000-4000-8000-000000000001"}})))
        .await;
    assert_eq!(no_secret.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(no_secret.body["errors"][0]["pointer"], "/secret");

    let unknown_route = app.call(Method::GET, "/nope", Some(key), None).await;
    assert_eq!(unknown_route.status, StatusCode::NOT_FOUND);
    assert_eq!(
        unknown_route.headers["content-type"],
        "application/problem+json"
    );
    app.stop().await;
}

#[tokio::test]
async fn base_url_guard_refuses_private_addresses() {
    let app = TestApp::spawn_with(gateway_testkit::TestDb::sqlite(), |s| {
        s.allow_private_base_urls = false
    })
    .await;
    let t = app.tenant("a").await;
    for url in [
        "http://api.bird.com",
        "https://169.254.169.254",
        "https://127.0.0.1:8443",
        "https://10.1.2.3",
        "https://localhost",
        "https://[::1]/x",
        "https://user:pw@api.bird.com",
    ] {
        let r = app
            .call(
                Method::POST,
                "/credentials",
                Some(&t.key),
                Some(json!({"provider": "bird", "name": "x", "secret": "s", "settings": {"workspaceId": "2d7d5b6e-0000-4000-8000-000000000001", "baseUrl": url}})),
            )
            .await;
        assert_eq!(
            r.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{url}: {}",
            r.text
        );
        assert_eq!(r.body["errors"][0]["pointer"], "/settings/baseUrl", "{url}");
        assert!(!r.text.contains("pw@"), "{url}");
    }
    app.stop().await;
}

#[tokio::test]
async fn secrets_never_come_back() {
    let app = TestApp::spawn().await;
    let t = app.tenant("a").await;
    let key = Some(t.key.as_str());
    let cred = app.credential(&t, "bird").await;
    for path in [format!("/credentials/{cred}"), "/credentials".to_owned()] {
        let r = app.call(Method::GET, &path, key, None).await;
        assert_eq!(r.status, StatusCode::OK);
        assert!(!r.text.contains("bird-sandbox-key"), "{path}: {}", r.text);
        assert!(!r.text.contains("secret"), "{path}: {}", r.text);
    }

    // a refused secret with verify=true: 422 naming /secret, nothing stored, secret not echoed
    let wrong = "wrong-secret-value-123";
    let r = app
        .call(
            Method::POST,
            "/credentials?verify=true",
            key,
            Some(json!({"provider": "bird", "name": "x", "secret": wrong, "settings": {"workspaceId": "2d7d5b6e-0000-4000-8000-000000000001", "baseUrl": app.provider_base("bird")}})),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.text);
    assert_eq!(r.body["errors"][0]["pointer"], "/secret");
    assert!(!r.text.contains(wrong));
    let listed = app.call(Method::GET, "/credentials", key, None).await;
    assert_eq!(listed.body["credentials"].as_array().unwrap().len(), 1);

    // rotate to a wrong secret: provider 401 → 502 source credential, health needs_reauth
    let rotated = app
        .call(
            Method::PATCH,
            &format!("/credentials/{cred}"),
            key,
            Some(json!({"secret": wrong})),
        )
        .await;
    assert_eq!(rotated.status, StatusCode::OK, "{}", rotated.text);
    assert!(!rotated.text.contains(wrong));
    let r = app
        .call(
            Method::POST,
            &format!("/crm/contacts?credentialId={cred}"),
            key,
            Some(json!({"lastName": "X"})),
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_GATEWAY, "{}", r.text);
    assert_eq!(r.body["source"], "credential");
    assert_eq!(r.body["providerStatus"], 401);
    assert!(!r.text.contains(wrong));
    let c = app
        .call(Method::GET, &format!("/credentials/{cred}"), key, None)
        .await;
    assert_eq!(c.body["credential"]["health"], "needs_reauth");
    let check = app
        .call(
            Method::POST,
            &format!("/credentials/{cred}/check"),
            key,
            None,
        )
        .await;
    assert_eq!(check.body["health"], "needs_reauth");

    // and back: rotate to the right secret with verify
    let fixed = app
        .call(
            Method::PATCH,
            &format!("/credentials/{cred}?verify=true"),
            key,
            Some(json!({"secret": "bird-sandbox-key"})),
        )
        .await;
    assert_eq!(fixed.status, StatusCode::OK, "{}", fixed.text);
    assert_eq!(fixed.body["credential"]["health"], "ok");
    let ok = app
        .call(
            Method::POST,
            &format!("/crm/contacts?credentialId={cred}"),
            key,
            Some(json!({"lastName": "X"})),
        )
        .await;
    assert_eq!(ok.status, StatusCode::OK, "{}", ok.text);

    // the secret is not stored in clear in the database file
    if let Some(path) = app.db.sqlite_path() {
        let mut bytes = std::fs::read(&path).unwrap();
        if let Ok(wal) = std::fs::read(format!("{}-wal", path.display())) {
            bytes.extend(wal);
        }
        let hay = String::from_utf8_lossy(&bytes);
        assert!(!hay.contains("bird-sandbox-key"));
        assert!(!hay.contains(wrong));
    }
    app.stop().await;
}

#[tokio::test]
async fn provider_failures_become_honest_problems() {
    let app = TestApp::spawn().await;
    let t = app.tenant("a").await;
    let key = Some(t.key.as_str());
    let cred = app.credential(&t, "bird").await;
    let list = format!("/crm/contacts?credentialId={cred}");

    app.sim(
        Method::POST,
        "bird",
        "/faults",
        // Reads are retried (3 times by default): fail them all so the client sees the 502.
        Some(json!({"status": 503, "count": 4})),
    )
    .await;
    let r = app.call(Method::GET, &list, key, None).await;
    assert_eq!(r.status, StatusCode::BAD_GATEWAY, "{}", r.text);
    assert_eq!(r.body["source"], "provider");
    assert_eq!(r.body["retryable"], true);
    assert_eq!(r.body["providerStatus"], 503);

    app.sim(
        Method::POST,
        "bird",
        "/faults",
        Some(json!({"malformed": true, "count": 1})),
    )
    .await;
    let r = app.call(Method::GET, &list, key, None).await;
    assert_eq!(r.status, StatusCode::BAD_GATEWAY, "{}", r.text);
    assert_eq!(r.body["code"], "provider_unreadable");

    app.sim(
        Method::POST,
        "bird",
        "/faults",
        Some(json!({"status": 429, "count": 4})),
    )
    .await;
    let r = app.call(Method::GET, &list, key, None).await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS, "{}", r.text);
    assert!(r.headers.contains_key("retry-after"));

    // a duplicate identifier is the provider rejecting the input: 422 with source provider
    let body = json!({"lastName": "Dup", "emailAddresses": [{"emailAddress": "dup@example.com"}]});
    assert_eq!(
        app.call(Method::POST, &list, key, Some(body.clone()))
            .await
            .status,
        StatusCode::OK
    );
    let dup = app.call(Method::POST, &list, key, Some(body)).await;
    assert_eq!(dup.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", dup.text);
    assert_eq!(dup.body["source"], "provider");
    assert_eq!(dup.body["providerStatus"], 409);

    let r = app.call(Method::GET, &list, key, None).await;
    assert_eq!(
        r.status,
        StatusCode::OK,
        "faults must be used up: {}",
        r.text
    );
    app.stop().await;
}

#[tokio::test]
async fn request_ids_and_operational_endpoints() {
    let app = TestApp::spawn().await;
    let health = app.call(Method::GET, "/healthz", None, None).await;
    assert_eq!(health.status, StatusCode::OK);
    let ready = app.call(Method::GET, "/readyz", None, None).await;
    assert_eq!(ready.status, StatusCode::OK);
    let doc = app.call(Method::GET, "/openapi.json", None, None).await;
    assert_eq!(doc.status, StatusCode::OK);
    assert!(doc.body["openapi"].as_str().unwrap().starts_with("3.1"));
    for path in [
        "/crm/contacts",
        "/crm/contacts/{id}",
        "/credentials",
        "/credentials/{id}/check",
        "/crm/contacts/schema",
        "/providers",
        "/admin/tenants",
    ] {
        assert!(
            doc.body["paths"].get(path).is_some(),
            "{path} missing from the OpenAPI document"
        );
    }

    assert!(
        doc.body["paths"]["/crm/contacts/{id}"]["put"].is_object(),
        "PUT alias missing from OpenAPI"
    );
    let problem = &doc.body["paths"]["/crm/contacts"]["post"]["responses"]["422"]["content"];
    assert!(
        problem.get("application/problem+json").is_some(),
        "problems must be documented as problem+json: {problem}"
    );
    let r = app
        .http
        .get(format!("{}/credentials", app.api))
        .header("x-request-id", "trace-me-123")
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["x-request-id"], "trace-me-123");
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["requestId"], "trace-me-123");
    let r = app
        .http
        .get(format!("{}/healthz", app.api))
        .send()
        .await
        .unwrap();
    assert!(!r.headers()["x-request-id"].is_empty());
    app.stop().await;
}

#[tokio::test]
async fn strict_input_handling_found_in_review() {
    let app = TestApp::spawn().await;
    let t = app.tenant("a").await;
    let key = Some(t.key.as_str());
    let cred = app.credential(&t, "bird").await;

    // a secret of the wrong JSON type is refused without quoting it
    let r = app
        .call(Method::POST, "/credentials", key, Some(json!({"provider": "bird", "name": "x", "secret": 987_654_321_012_345_u64, "settings": {"workspaceId": "2d7d5b6e-0000-4000-8000-000000000001"}})))
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.text);
    assert_eq!(r.body["errors"][0]["pointer"], "/secret");
    assert!(!r.text.contains("987654321012345"), "{}", r.text);

    // an array is not an object, even when serde could fill a struct from it
    let r = app
        .call_raw(
            Method::POST,
            &format!("/crm/contacts?credentialId={cred}"),
            &t.key,
            b"[\"First\", \"Last\"]".to_vec(),
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.text);
    assert_eq!(
        app.sim(Method::GET, "bird", "/stats", None).await.body["contacts"],
        0
    );

    // a misspelt query parameter must not turn a dry run into a write
    let r = app
        .call(
            Method::POST,
            &format!("/crm/contacts?credentialId={cred}&dry_run=true"),
            key,
            Some(json!({"lastName": "X"})),
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.text);
    assert_eq!(r.body["errors"][0]["parameter"], "dry_run");
    assert_eq!(
        app.sim(Method::GET, "bird", "/stats", None).await.body["contacts"],
        0
    );

    // a malformed path parameter is a problem+json 400, not plain text
    let r = app.call(Method::GET, "/credentials/%FF", key, None).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(r.headers["content-type"], "application/problem+json");

    // the same phone written twice is one value, and the caller is told
    let r = app
        .call(Method::POST, &format!("/crm/contacts?credentialId={cred}"), key, Some(json!({"lastName": "Twice", "phoneNumbers": [{"phoneNumber": "+61400999001"}, {"phoneNumber": "+61 400 999 001"}]})))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert!(
        r.body["warnings"]
            .as_array()
            .unwrap()
            .iter()
            .any(|w| w["pointer"] == "/phoneNumbers/1" && w["code"] == "duplicate"),
        "{}",
        r.text
    );

    // a rotated secret is not "ok" until checked
    app.call(
        Method::POST,
        &format!("/credentials/{cred}/check"),
        key,
        None,
    )
    .await;
    let rotated = app
        .call(
            Method::PATCH,
            &format!("/credentials/{cred}"),
            key,
            Some(json!({"secret": "another-key"})),
        )
        .await;
    assert_eq!(
        rotated.body["credential"]["health"], "unknown",
        "{}",
        rotated.text
    );

    // a refused secret under verify is the credential's problem, not our validation's
    let r = app
        .call(Method::POST, "/credentials?verify=true", key, Some(json!({"provider": "bird", "name": "x", "secret": "nope", "settings": {"workspaceId": "2d7d5b6e-0000-4000-8000-000000000001", "baseUrl": app.provider_base("bird")}})))
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(r.body["source"], "credential");
    assert_eq!(r.body["code"], "credential_rejected");

    // the provider catalogue is part of the authenticated API
    assert_eq!(
        app.call(Method::GET, "/providers", None, None).await.status,
        StatusCode::UNAUTHORIZED
    );
    app.stop().await;
}
