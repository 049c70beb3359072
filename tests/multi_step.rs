//! End to end: a Karia create whose address step fails answers the contact, its remoteId and
//! the failed step; a PATCH with the same body finishes it without a second remote contact.
//! And a Karia operation switched off in config answers 501 and is published as unsupported.
#![allow(clippy::unwrap_used)]

use gateway_testkit::{TestApp, TestDb};
use reqwest::{Method, StatusCode};
use serde_json::json;

#[tokio::test]
async fn a_failed_karia_step_is_reported_and_a_patch_finishes_it() {
    let app = TestApp::spawn().await;
    let t = app.tenant("acme").await;
    let cred = app.credential(&t, "karia").await;
    let key = Some(t.key.as_str());
    let body = json!({
        "firstName": "Mele", "lastName": "Tūpou",
        "emailAddresses": [{"emailAddress": "mele@example.com"}],
        "addresses": [
            {"addressType": "current", "street1": "10 Example Street", "city": "Sydney", "state": "NSW", "postalCode": "2000", "country": "Australia"},
            {"addressType": "mailing", "street1": "5/22 George Street", "city": "Parramatta", "state": "NSW", "postalCode": "2150", "country": "Australia"}
        ]
    });
    let set = app
        .sim(Method::POST, "karia", "/faults", Some(json!({"status": 503, "count": 1, "routes": ["POST /organisation/{o}/workspace/{w}/contact/{c}/address"]})))
        .await;
    assert!(set.status.is_success(), "{}", set.text);

    let created = app
        .call(
            Method::POST,
            &format!("/crm/contacts?credentialId={cred}"),
            key,
            Some(body.clone()),
        )
        .await;
    assert_eq!(created.status, StatusCode::OK, "{}", created.text);
    assert_eq!(created.body["complete"], false);
    let remote = created.body["contact"]["remoteId"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(!remote.is_empty());
    let failed = created.body["failedSteps"].as_array().unwrap();
    assert_eq!(failed.len(), 1, "{}", created.text);
    assert_eq!(failed[0]["step"], "contact.address.create");
    assert_eq!(failed[0]["pointer"], "/addresses/0");
    assert_eq!(failed[0]["providerStatus"], 503);
    assert!(created.body["warnings"]
        .as_array()
        .unwrap()
        .iter()
        .any(|w| w["code"] == "step_failed" && w["pointer"] == "/addresses/0"));
    assert_eq!(
        created.body["contact"]["addresses"]
            .as_array()
            .unwrap()
            .len(),
        1
    );

    // finish the job: same body, PATCH; only the missing address is created
    let id = created.body["contact"]["id"].as_str().unwrap().to_owned();
    let finished = app
        .call(
            Method::PATCH,
            &format!("/crm/contacts/{id}?credentialId={cred}"),
            key,
            Some(body),
        )
        .await;
    assert_eq!(finished.status, StatusCode::OK, "{}", finished.text);
    assert_eq!(finished.body["complete"], true);
    assert_eq!(finished.body["contact"]["remoteId"], remote.as_str());
    let addresses = finished.body["contact"]["addresses"].as_array().unwrap();
    assert_eq!(addresses.len(), 2, "{}", finished.text);
    let stats = app.sim(Method::GET, "karia", "/stats", None).await;
    assert_eq!(
        stats.body["contacts"], 1,
        "a second remote contact was created"
    );
    assert_eq!(
        stats.body["requests"]["POST /organisation/{orgId}/workspace/{workspaceId}/contact"],
        1
    );
    app.stop().await;
}

#[tokio::test]
async fn karia_operations_can_be_switched_off_per_deployment() {
    let app = TestApp::spawn_with(TestDb::sqlite(), |s| s.adapters.karia.delete = false).await;
    let t = app.tenant("acme").await;
    let cred = app.credential(&t, "karia").await;
    let key = Some(t.key.as_str());
    let published = app.call(Method::GET, "/providers/karia", key, None).await;
    assert_eq!(published.body["operations"]["delete"], false);
    assert_eq!(published.body["operations"]["list"], true);
    let created = app
        .call(
            Method::POST,
            &format!("/crm/contacts?credentialId={cred}"),
            key,
            Some(json!({"lastName": "Kept"})),
        )
        .await;
    let id = created.body["contact"]["id"].as_str().unwrap().to_owned();
    let del = app
        .call(
            Method::DELETE,
            &format!("/crm/contacts/{id}?credentialId={cred}"),
            key,
            None,
        )
        .await;
    assert_eq!(del.status, StatusCode::NOT_IMPLEMENTED, "{}", del.text);
    assert_eq!(
        app.sim(Method::GET, "karia", "/stats", None).await.body["contacts"],
        1
    );
    app.stop().await;
}

#[tokio::test]
async fn iclosed_has_no_delete_and_says_so() {
    let app = TestApp::spawn().await;
    let t = app.tenant("acme").await;
    let cred = app.credential(&t, "iclosed").await;
    let key = Some(t.key.as_str());
    let created = app
        .call(
            Method::POST,
            &format!("/crm/contacts?credentialId={cred}"),
            key,
            Some(json!({"firstName": "Ana", "lastName": "Silva", "emailAddresses": [{"emailAddress": "ana@example.com"}, {"emailAddress": "ana.s@example.org"}, {"emailAddress": "third@example.net"}], "addresses": [{"country": "Brazil"}]})),
        )
        .await;
    assert_eq!(created.status, StatusCode::OK, "{}", created.text);
    assert_eq!(
        created.body["contact"]["emailAddresses"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
    assert_eq!(created.body["contact"]["addresses"][0]["country"], "BR");
    assert!(created.body["warnings"]
        .as_array()
        .unwrap()
        .iter()
        .any(|w| w["pointer"] == "/emailAddresses/2" && w["code"] == "not_supported"));
    let too_long = app
        .call(
            Method::POST,
            &format!("/crm/contacts?credentialId={cred}"),
            key,
            Some(json!({"lastName": "Wolfeschlegelsteinhausenbergerdorff"})),
        )
        .await;
    assert_eq!(too_long.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(too_long.body["errors"][0]["pointer"], "/lastName");
    assert_eq!(too_long.body["errors"][0]["code"], "too_long");
    let atlantis = app
        .call(
            Method::POST,
            &format!("/crm/contacts?credentialId={cred}"),
            key,
            Some(json!({"lastName": "X", "addresses": [{"country": "Atlantis"}]})),
        )
        .await;
    assert_eq!(atlantis.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        atlantis.body["errors"][0]["pointer"],
        "/addresses/0/country"
    );
    let id = created.body["contact"]["id"].as_str().unwrap().to_owned();
    let del = app
        .call(
            Method::DELETE,
            &format!("/crm/contacts/{id}?credentialId={cred}"),
            key,
            None,
        )
        .await;
    assert_eq!(del.status, StatusCode::NOT_IMPLEMENTED);
    assert_eq!(del.headers["content-type"], "application/problem+json");
    app.stop().await;
}

#[tokio::test]
async fn a_404_from_an_inferred_write_endpoint_never_marks_a_live_contact_deleted() {
    let app = TestApp::spawn().await;
    let t = app.tenant("acme").await;
    let cred = app.credential(&t, "karia").await;
    let key = Some(t.key.as_str());
    let created = app
        .call(
            Method::POST,
            &format!("/crm/contacts?credentialId={cred}"),
            key,
            Some(json!({"lastName": "Alive"})),
        )
        .await;
    let id = created.body["contact"]["id"].as_str().unwrap().to_owned();
    let one = format!("/crm/contacts/{id}?credentialId={cred}");

    for (method, route) in [
        (
            Method::PATCH,
            "PATCH /organisation/{o}/workspace/{w}/contact/{c}",
        ),
        (
            Method::DELETE,
            "DELETE /organisation/{o}/workspace/{w}/contact/{c}",
        ),
    ] {
        let set = app
            .sim(
                Method::POST,
                "karia",
                "/faults",
                Some(json!({"status": 404, "count": 1, "routes": [route]})),
            )
            .await;
        assert!(set.status.is_success(), "{}", set.text);
        let body = (method == Method::PATCH).then(|| json!({"firstName": "Still"}));
        let r = app.call(method.clone(), &one, key, body).await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{method}: {}", r.text);
        assert_ne!(r.body["code"], "remote_deleted", "{method}: {}", r.text);
        let got = app.call(Method::GET, &one, key, None).await;
        assert_eq!(
            got.status,
            StatusCode::OK,
            "{method}: the index lost a live contact: {}",
            got.text
        );
        assert_eq!(
            got.body["contact"]["remoteDeleted"], false,
            "{method}: a live contact was flagged: {}",
            got.text
        );
    }
    app.stop().await;
}
