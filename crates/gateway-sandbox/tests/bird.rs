//! The Bird simulator over real HTTP, pinned to the shared fixtures in `fixtures/bird/`
//! (shapes compared recursively: key sets and JSON value kinds) and to docs/providers/bird.md.
#![allow(clippy::unwrap_used)]

use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use gateway_sandbox::{
    serve_with, ManualClock, SandboxConfig, BIRD_SANDBOX_KEY, BIRD_SANDBOX_WORKSPACE,
};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

mod common;
use common::{assert_shape, Resp};

macro_rules! fixture {
    ($name:literal) => {
        serde_json::from_str::<Value>(include_str!(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../fixtures/bird/",
            $name
        )))
        .unwrap()
    };
}

struct Sim {
    base: String,
    http: reqwest::Client,
    clock: Arc<ManualClock>,
}

impl Sim {
    async fn start() -> Self {
        let clock = Arc::new(ManualClock::new(1_755_633_293_663));
        let config = SandboxConfig {
            rng_seed: Some(7),
            clock: clock.clone(),
            ..SandboxConfig::default()
        };
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(serve_with(listener, config, std::future::pending()));
        Self {
            base: format!("http://{addr}"),
            http: reqwest::Client::new(),
            clock,
        }
    }

    fn ws(&self, path: &str) -> String {
        format!(
            "{}/bird/workspaces/{BIRD_SANDBOX_WORKSPACE}{path}",
            self.base
        )
    }

    fn sim(&self, path: &str) -> String {
        format!("{}/bird/_sim{path}", self.base)
    }

    async fn send(
        &self,
        method: Method,
        url: &str,
        auth: Option<&str>,
        body: Option<&Value>,
    ) -> Resp {
        let mut req = self.http.request(method, url);
        if let Some(a) = auth {
            req = req.header("Authorization", a);
        }
        if let Some(b) = body {
            req = req.json(b);
        }
        let resp = req.send().await.unwrap();
        Resp {
            status: resp.status(),
            headers: resp.headers().clone(),
            text: resp.text().await.unwrap(),
        }
    }

    /// A provider call with the sandbox key.
    async fn call(&self, method: Method, path: &str, body: Option<&Value>) -> Resp {
        let auth = format!("AccessKey {BIRD_SANDBOX_KEY}");
        self.send(method, &self.ws(path), Some(&auth), body).await
    }

    async fn control(&self, method: Method, path: &str, body: Option<&Value>) -> Resp {
        self.send(method, &self.sim(path), None, body).await
    }

    async fn create(&self, body: &Value) -> Value {
        let r = self.call(Method::POST, "/contacts", Some(body)).await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
        r.json()
    }

    async fn faults(&self, body: Value) {
        let r = self.control(Method::POST, "/faults", Some(&body)).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    }
}

fn assert_error(r: &Resp, status: StatusCode, fixture: &Value) {
    assert_eq!(r.status, status, "{}", r.text);
    let body = r.json();
    assert_shape(&body, fixture, "error");
    assert_eq!(body["code"], fixture["code"]);
}

/// A create body like the fixture but with its own identifiers.
fn create_body(n: usize) -> Value {
    let mut body = fixture!("create_request.json");
    body["identifiers"] = json!([
        {"key": "emailaddress", "value": format!("person{n}@example.com")},
        {"key": "phonenumber", "value": format!("+6149157{n:04}"), "properties": {"countryCode": "AU"}}
    ]);
    body
}

fn is_ms_timestamp(v: &Value) -> bool {
    let s = v.as_str().unwrap_or_default();
    s.len() == 24 && s.ends_with('Z') && s.as_bytes()[19] == b'.'
}

#[tokio::test]
async fn auth_header_forms() {
    let sim = Sim::start().await;
    let url = sim.ws("/contacts");
    let e401 = fixture!("error_401.json");
    for auth in [
        None,
        Some("Bearer bird-sandbox-key"),
        Some("AccessKey wrong-key"),
        Some("bird-sandbox-key"),
    ] {
        let r = sim.send(Method::GET, &url, auth, None).await;
        assert_error(&r, StatusCode::UNAUTHORIZED, &e401);
    }
    for ok in ["AccessKey bird-sandbox-key", "accesskey bird-sandbox-key"] {
        let r = sim.send(Method::GET, &url, Some(ok), None).await;
        assert_eq!(r.status, StatusCode::OK, "{ok}: {}", r.text);
    }
}

#[tokio::test]
async fn workspace_must_exist() {
    let sim = Sim::start().await;
    let auth = format!("AccessKey {BIRD_SANDBOX_KEY}");
    let other = format!(
        "{}/bird/workspaces/2d7d5b6e-0000-4000-8000-000000000099/contacts",
        sim.base
    );
    let r = sim.send(Method::GET, &other, Some(&auth), None).await;
    assert_error(&r, StatusCode::NOT_FOUND, &fixture!("error_404.json"));
    let bad = format!("{}/bird/workspaces/not-a-uuid/contacts", sim.base);
    let r = sim.send(Method::GET, &bad, Some(&auth), None).await;
    assert_error(&r, StatusCode::BAD_REQUEST, &fixture!("error_400.json"));
}

#[tokio::test]
async fn create_answers_the_contact_fixture_shape() {
    let sim = Sim::start().await;
    let c = sim.create(&fixture!("create_request.json")).await;
    assert_shape(&c, &fixture!("contact.json"), "contact");
    assert_eq!(c["computedDisplayName"], "Jane Citizen");
    assert_eq!(c["workspaceId"], BIRD_SANDBOX_WORKSPACE);
    assert_eq!(c["attributes"]["displayName"], "Jane Citizen");
    assert_eq!(
        c["attributes"]["emailaddress"],
        json!(["jane.citizen@example.com"])
    );
    assert_eq!(c["identifierCount"], 2);
    assert!(is_ms_timestamp(&c["createdAt"]), "{}", c["createdAt"]);
    assert_eq!(c["createdAt"], "2025-08-19T19:54:53.663Z");
    let id = uuid::Uuid::parse_str(c["id"].as_str().unwrap()).unwrap();
    assert_eq!(id.get_version_num(), 4);

    let got = sim
        .call(Method::GET, &format!("/contacts/{id}"), None)
        .await;
    assert_eq!(got.status, StatusCode::OK);
    assert_eq!(got.json(), c);
}

#[tokio::test]
async fn get_patch_delete() {
    let sim = Sim::start().await;
    let c = sim.create(&fixture!("create_request.json")).await;
    let path = format!("/contacts/{}", c["id"].as_str().unwrap());

    sim.clock.advance_ms(1_234);
    let r = sim
        .call(Method::PATCH, &path, Some(&fixture!("update_request.json")))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let u = r.json();
    assert_eq!(u["attributes"]["firstName"], "Janet");
    assert!(u["attributes"].get("rating").is_none());
    assert_eq!(u["attributes"]["lastName"], "Citizen");
    assert_eq!(
        u["listIds"],
        json!([
            "123e4567-e89b-12d3-a456-426614174000",
            "8d1e6f2a-7b3c-4d9e-a0f1-b2c3d4e5f6a7"
        ])
    );
    assert_eq!(u["createdAt"], c["createdAt"]);
    assert_eq!(u["updatedAt"], "2025-08-19T19:54:54.897Z");

    // A clock stepped back never yields an earlier updatedAt.
    sim.clock.advance_ms(-60_000);
    let r = sim
        .call(Method::PATCH, &path, Some(&json!({"displayName": "J C"})))
        .await;
    let u2 = r.json();
    assert_eq!(u2["computedDisplayName"], "J C");
    assert!(u2["updatedAt"].as_str() >= u["updatedAt"].as_str());

    // `attribute` names extra keys to return, as null when empty.
    let r = sim
        .call(
            Method::GET,
            &format!("{path}?attribute=age&attribute[]=company"),
            None,
        )
        .await;
    let g = r.json();
    assert_eq!(g["attributes"]["age"], Value::Null);
    assert_eq!(g["attributes"]["company"], Value::Null);

    let r = sim.call(Method::DELETE, &path, None).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    assert!(r.text.is_empty());
    let e404 = fixture!("error_404.json");
    assert_error(
        &sim.call(Method::GET, &path, None).await,
        StatusCode::NOT_FOUND,
        &e404,
    );
    assert_error(
        &sim.call(Method::DELETE, &path, None).await,
        StatusCode::NOT_FOUND,
        &e404,
    );
    assert_error(
        &sim.call(Method::PATCH, &path, Some(&json!({}))).await,
        StatusCode::NOT_FOUND,
        &e404,
    );
    assert_error(
        &sim.call(Method::GET, "/contacts/not-a-uuid", None).await,
        StatusCode::NOT_FOUND,
        &e404,
    );
}

#[tokio::test]
async fn identifiers_add_list_remove_conflict_search() {
    let sim = Sim::start().await;
    let c = sim.create(&fixture!("create_request.json")).await;
    let id = c["id"].as_str().unwrap().to_owned();
    let idents = format!("/contacts/{id}/identifiers");

    let r = sim
        .call(
            Method::POST,
            &idents,
            Some(&fixture!("identifier_create_request.json")),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    let ident = r.json();
    assert_shape(&ident, &fixture!("identifier.json"), "identifier");
    assert_eq!(ident["contactId"], id.as_str());

    let r = sim
        .call(Method::GET, &format!("{idents}?limit=2"), None)
        .await;
    let page = r.json();
    assert_shape(&page, &fixture!("identifiers_page.json"), "identifiers");
    let token = page["nextPageToken"].as_str().unwrap();
    let r = sim
        .call(
            Method::GET,
            &format!("{idents}?limit=2&pageToken={token}"),
            None,
        )
        .await;
    let last = r.json();
    assert_eq!(last["results"].as_array().unwrap().len(), 1);
    assert!(last.get("nextPageToken").is_none());
    assert_eq!(last["results"][0]["value"], "jane.work@example.org");

    let contact = sim
        .call(Method::GET, &format!("/contacts/{id}"), None)
        .await
        .json();
    assert_eq!(contact["identifierCount"], 3);
    assert_eq!(
        contact["attributes"]["emailaddress"],
        json!(["jane.citizen@example.com", "jane.work@example.org"])
    );

    // Another contact cannot take it: not by create, add, nor patch.
    let e409 = fixture!("error_409.json");
    let mut dup = create_body(1);
    dup["identifiers"] = json!([{"key": "emailaddress", "value": "jane.work@example.org"}]);
    assert_error(
        &sim.call(Method::POST, "/contacts", Some(&dup)).await,
        StatusCode::CONFLICT,
        &e409,
    );
    let other = sim.create(&create_body(2)).await;
    let other_id = other["id"].as_str().unwrap();
    let taken = fixture!("identifier_create_request.json");
    assert_error(
        &sim.call(
            Method::POST,
            &format!("/contacts/{other_id}/identifiers"),
            Some(&taken),
        )
        .await,
        StatusCode::CONFLICT,
        &e409,
    );
    assert_error(
        &sim.call(
            Method::PATCH,
            &format!("/contacts/{other_id}"),
            Some(&json!({"addIdentifiers": [taken]})),
        )
        .await,
        StatusCode::CONFLICT,
        &e409,
    );
    // Adding it twice to its holder is a conflict too.
    assert_error(
        &sim.call(Method::POST, &idents, Some(&taken)).await,
        StatusCode::CONFLICT,
        &e409,
    );

    let found = sim
        .call(
            Method::POST,
            "/contacts/search",
            Some(&json!({"identifier": {"key": "emailaddress", "value": "jane.work@example.org"}})),
        )
        .await;
    assert_eq!(found.status, StatusCode::OK);
    assert_eq!(found.json()["results"][0]["id"], id.as_str());

    let rm = json!({"key": "emailaddress", "value": "jane.work@example.org"});
    let r = sim.call(Method::DELETE, &idents, Some(&rm)).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text);
    assert_error(
        &sim.call(Method::DELETE, &idents, Some(&rm)).await,
        StatusCode::NOT_FOUND,
        &fixture!("error_404.json"),
    );
    let r = sim
        .call(
            Method::POST,
            &format!("/contacts/{other_id}/identifiers"),
            Some(&taken),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    let nobody = sim
        .call(
            Method::POST,
            "/contacts/search",
            Some(&json!({"identifier": {"key": "emailaddress", "value": "nobody@example.com"}})),
        )
        .await;
    assert_eq!(nobody.json(), json!({"results": []}));

    // PATCH can move identifiers too (accepted in the PATCH body, docs/providers/bird.md).
    let r = sim
        .call(
            Method::PATCH,
            &format!("/contacts/{other_id}"),
            Some(&json!({
                "removeIdentifiers": [{"key": "emailaddress", "value": "jane.work@example.org"}],
                "addIdentifiers": [{"key": "visitorid", "value": "v-1"}]
            })),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.json()["identifierCount"], 3);
}

#[tokio::test]
async fn read_only_attributes_are_422() {
    let sim = Sim::start().await;
    let fx = fixture!("error_422_read_only.json");
    let mut body = create_body(1);
    body["attributes"]["phonenumber"] = json!("+61491570156");
    let r = sim.call(Method::POST, "/contacts", Some(&body)).await;
    assert_error(&r, StatusCode::UNPROCESSABLE_ENTITY, &fx);
    assert!(r.json()["message"]
        .as_str()
        .unwrap()
        .starts_with("cannot edit read-only attribute \"phonenumber\";"));

    let c = sim.create(&create_body(2)).await;
    let r = sim
        .call(
            Method::PATCH,
            &format!("/contacts/{}", c["id"].as_str().unwrap()),
            Some(&json!({"attributes": {"phonenumber": ["+61491570157"], "firstName": "X"}})),
        )
        .await;
    assert_error(&r, StatusCode::UNPROCESSABLE_ENTITY, &fx);
    assert_eq!(r.json()["message"].as_str().unwrap(), fx["message"]);
    // Nothing was applied.
    let g = sim
        .call(
            Method::GET,
            &format!("/contacts/{}", c["id"].as_str().unwrap()),
            None,
        )
        .await
        .json();
    assert_eq!(g["attributes"]["firstName"], "Jane");
}

#[tokio::test]
async fn create_validation() {
    let sim = &Sim::start().await;
    let invalid = |v: Value| async move {
        let r = sim.call(Method::POST, "/contacts", Some(&v)).await;
        assert_eq!(
            r.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{v}: {}",
            r.text
        );
        assert_eq!(r.json()["code"], "InvalidPayload");
        r.json()["message"].as_str().unwrap().to_owned()
    };
    assert!(invalid(json!({"displayName": ""}))
        .await
        .contains("displayName"));
    assert!(invalid(json!({"displayName": "a".repeat(151)}))
        .await
        .contains("displayName"));
    assert!(invalid(json!({"attributes": {"firstName": "x"}}))
        .await
        .contains("displayName"));
    for bad_phone in [
        "0491570156",
        "+61 491 570 156",
        "+0491570156",
        "+1234567890123456",
    ] {
        let msg = invalid(json!({
            "displayName": "x",
            "identifiers": [{"key": "phonenumber", "value": bad_phone}]
        }))
        .await;
        assert!(msg.contains("phonenumber"), "{msg}");
    }
    for bad_email in ["no-at-sign", "two@@example.com", "@example.com", "me@"] {
        invalid(json!({
            "displayName": "x",
            "identifiers": [{"key": "emailaddress", "value": bad_email}]
        }))
        .await;
    }
    invalid(json!({"displayName": "x", "listIds": ["not-a-uuid"]})).await;
    invalid(json!({"displayName": "x", "accountIds": []})).await;
    invalid(json!({"displayName": "x", "attributes": {"nested": {"a": 1}}})).await;

    // 150 accented characters (300 bytes) are fine: the limit counts characters.
    let name = "é".repeat(150);
    let c = sim
        .create(&json!({
            "displayName": name,
            "identifiers": [{"key": "phonenumber", "value": "+61491570156"}],
            "unknownTopLevel": {"ignored": true}
        }))
        .await;
    assert_eq!(c["computedDisplayName"], name);

    // Not JSON at all is 400 InvalidParameter.
    let auth = format!("AccessKey {BIRD_SANDBOX_KEY}");
    let r = sim
        .http
        .post(sim.ws("/contacts"))
        .header("Authorization", auth)
        .header("Content-Type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["code"], "InvalidParameter");
}

#[tokio::test]
async fn list_pages_match_the_fixtures() {
    let sim = Sim::start().await;
    let a = sim.create(&create_body(1)).await;
    sim.clock.advance_ms(10);
    let b = sim
        .create(&json!({
            "displayName": "John Doe",
            "identifiers": [{"key": "emailaddress", "value": "john.doe@example.org"}]
        }))
        .await;
    sim.clock.advance_ms(10);
    let c = sim.create(&create_body(3)).await;

    let first = sim
        .call(Method::GET, "/contacts?limit=2", None)
        .await
        .json();
    assert_shape(&first, &fixture!("list_page.json"), "list_page");
    assert_eq!(first["results"][0]["id"], a["id"]);
    assert_eq!(first["results"][1]["id"], b["id"]);
    let token = first["nextPageToken"].as_str().unwrap();
    let last = sim
        .call(
            Method::GET,
            &format!("/contacts?limit=2&pageToken={token}"),
            None,
        )
        .await
        .json();
    assert_shape(&last, &fixture!("list_last_page.json"), "list_last_page");
    assert_eq!(last["results"][0]["id"], c["id"]);
}

#[tokio::test]
async fn paging_25_contacts() {
    let sim = Sim::start().await;
    let mut created = Vec::new();
    for n in 0..25 {
        // Several contacts share a millisecond: ties are ordered by id.
        if n % 3 == 0 {
            sim.clock.advance_ms(1);
        }
        created.push(sim.create(&create_body(n)).await);
    }
    let mut expected: Vec<(String, String)> = created
        .iter()
        .map(|c| {
            (
                c["createdAt"].as_str().unwrap().to_owned(),
                c["id"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    expected.sort();
    let expected: Vec<String> = expected.into_iter().map(|(_, id)| id).collect();

    let walk = |reverse: bool| {
        let sim = &sim;
        async move {
            let mut ids = Vec::new();
            let mut pages = Vec::new();
            let mut token: Option<String> = None;
            loop {
                let mut path = format!("/contacts?limit=10&reverse={reverse}");
                if let Some(t) = &token {
                    path.push_str(&format!("&pageToken={t}"));
                }
                let page = sim.call(Method::GET, &path, None).await.json();
                let results = page["results"].as_array().unwrap();
                pages.push(results.len());
                ids.extend(results.iter().map(|c| c["id"].as_str().unwrap().to_owned()));
                match page.get("nextPageToken") {
                    Some(t) => token = Some(t.as_str().unwrap().to_owned()),
                    None => break,
                }
            }
            (ids, pages)
        }
    };
    let (ids, pages) = walk(false).await;
    assert_eq!(pages, vec![10, 10, 5]);
    assert_eq!(ids.iter().collect::<HashSet<_>>().len(), 25);
    assert_eq!(ids, expected);
    let (rev, pages) = walk(true).await;
    assert_eq!(pages, vec![10, 10, 5]);
    assert_eq!(rev, expected.iter().rev().cloned().collect::<Vec<_>>());

    let default = sim.call(Method::GET, "/contacts", None).await.json();
    assert_eq!(default["results"].as_array().unwrap().len(), 10);

    let e400 = fixture!("error_400.json");
    for q in ["limit=0", "limit=101", "limit=ten", "reverse=maybe"] {
        let r = sim.call(Method::GET, &format!("/contacts?{q}"), None).await;
        assert_error(&r, StatusCode::BAD_REQUEST, &e400);
    }
    let token = default["nextPageToken"].as_str().unwrap();
    let mut tampered = token.to_owned().into_bytes();
    let last = tampered.len() - 1;
    tampered[last] = if tampered[last] == b'A' { b'B' } else { b'A' };
    let tampered = String::from_utf8(tampered).unwrap();
    for t in [tampered.as_str(), "nextPageToken123", "x"] {
        let r = sim
            .call(Method::GET, &format!("/contacts?pageToken={t}"), None)
            .await;
        assert_error(&r, StatusCode::BAD_REQUEST, &e400);
    }
}

#[tokio::test]
async fn fault_status_count_then_recovery() {
    let sim = Sim::start().await;
    sim.faults(json!({"status": 503, "count": 2})).await;
    for _ in 0..2 {
        let r = sim.call(Method::GET, "/contacts", None).await;
        assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(r.json()["code"], "ServiceUnavailable");
    }
    // Control calls neither consume nor suffer faults.
    assert_eq!(
        sim.control(Method::GET, "/stats", None).await.status,
        StatusCode::OK
    );
    assert_eq!(
        sim.call(Method::GET, "/contacts", None).await.status,
        StatusCode::OK
    );

    sim.faults(json!({"status": 500, "count": 1})).await;
    let r = sim
        .call(Method::POST, "/contacts", Some(&create_body(1)))
        .await;
    assert_error(
        &r,
        StatusCode::INTERNAL_SERVER_ERROR,
        &fixture!("error_500.json"),
    );
    assert_eq!(
        sim.control(Method::GET, "/stats", None).await.json()["contacts"],
        0
    );
}

#[tokio::test]
async fn fault_restricted_to_a_route_fails_a_page_mid_list() {
    let sim = Sim::start().await;
    for n in 0..5 {
        sim.create(&create_body(n)).await;
    }
    let first = sim
        .call(Method::GET, "/contacts?limit=2", None)
        .await
        .json();
    sim.faults(json!({"status": 500, "count": 1, "routes": ["GET /workspaces/{ws}/contacts"]}))
        .await;
    // Another route is untouched.
    let id = first["results"][0]["id"].as_str().unwrap();
    assert_eq!(
        sim.call(Method::GET, &format!("/contacts/{id}"), None)
            .await
            .status,
        StatusCode::OK
    );
    let next = format!(
        "/contacts?limit=2&pageToken={}",
        first["nextPageToken"].as_str().unwrap()
    );
    assert_eq!(
        sim.call(Method::GET, &next, None).await.status,
        StatusCode::INTERNAL_SERVER_ERROR
    );
    // The retry with the same token gets the same page.
    let page = sim.call(Method::GET, &next, None).await.json();
    assert_eq!(page["results"].as_array().unwrap().len(), 2);
}

#[tokio::test]
async fn fault_latency() {
    let sim = Sim::start().await;
    sim.faults(json!({"latencyMs": 60, "count": 1})).await;
    let t = Instant::now();
    assert_eq!(
        sim.call(Method::GET, "/contacts", None).await.status,
        StatusCode::OK
    );
    assert!(t.elapsed() >= Duration::from_millis(60));
    let plan = sim.control(Method::GET, "/faults", None).await.json();
    assert_eq!(plan["rules"], json!([]));
}

#[tokio::test]
async fn fault_probability_is_seeded_and_bounded() {
    let sim = Sim::start().await;
    let run = |p: f64| {
        let sim = &sim;
        async move {
            sim.control(Method::DELETE, "/faults", None).await;
            sim.faults(json!({"probability": p, "status": 500, "seed": 42}))
                .await;
            let mut failures = 0;
            for _ in 0..100 {
                let r = sim.call(Method::GET, "/contacts", None).await;
                if r.status == StatusCode::INTERNAL_SERVER_ERROR {
                    assert_eq!(r.json()["code"], "InternalError");
                    failures += 1;
                } else {
                    assert_eq!(r.status, StatusCode::OK);
                }
            }
            failures
        }
    };
    assert_eq!(run(0.0).await, 0);
    assert_eq!(run(1.0).await, 100);
    // Seeded, so the same every run; the bounds hold for any fair generator (±6 sigma).
    let half = run(0.5).await;
    assert!((20..=80).contains(&half), "{half}");
    assert_eq!(run(0.5).await, half);
}

#[tokio::test]
async fn fault_malformed_body() {
    let sim = Sim::start().await;
    sim.faults(json!({"malformed": true, "count": 1})).await;
    let r = sim
        .call(Method::POST, "/contacts", Some(&create_body(1)))
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(serde_json::from_str::<Value>(&r.text).is_err());
    // The malformed call was not processed; the next one is normal.
    sim.create(&create_body(1)).await;
    let stats = sim.control(Method::GET, "/stats", None).await.json();
    assert_eq!(stats["contacts"], 1);
}

#[tokio::test]
async fn fault_rate_limit_per_second_window() {
    let sim = Sim::start().await;
    sim.faults(json!({"rateLimit": {"perSecond": 3}})).await;
    for _ in 0..3 {
        assert_eq!(
            sim.call(Method::GET, "/contacts", None).await.status,
            StatusCode::OK
        );
    }
    let r = sim.call(Method::GET, "/contacts", None).await;
    assert_error(
        &r,
        StatusCode::TOO_MANY_REQUESTS,
        &fixture!("error_429.json"),
    );
    assert!(r.headers.get("retry-after").is_none());
    // Per route: another route has its own window.
    assert_eq!(
        sim.call(Method::POST, "/contacts", Some(&create_body(1)))
            .await
            .status,
        StatusCode::CREATED
    );
    // Per key: a different Authorization gets its own window (and then its 401).
    let r = sim
        .send(
            Method::GET,
            &sim.ws("/contacts"),
            Some("AccessKey other"),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    sim.clock.advance_ms(1_000);
    assert_eq!(
        sim.call(Method::GET, "/contacts", None).await.status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn fault_rate_limit_defaults_to_bird_channels_figures() {
    let sim = Sim::start().await;
    sim.faults(json!({"rateLimit": {}})).await;
    for _ in 0..50 {
        assert_eq!(
            sim.call(Method::GET, "/contacts", None).await.status,
            StatusCode::OK
        );
    }
    assert_eq!(
        sim.call(Method::GET, "/contacts", None).await.status,
        StatusCode::TOO_MANY_REQUESTS
    );
    let plan = sim.control(Method::DELETE, "/faults", None).await.json();
    assert_eq!(plan["rateLimit"], Value::Null);
    assert_eq!(
        sim.call(Method::GET, "/contacts", None).await.status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn bad_fault_requests_are_400() {
    let sim = Sim::start().await;
    for bad in [
        json!({}),
        json!({"status": 200}),
        json!({"stauts": 500}),
        json!({"probability": 2.0}),
    ] {
        let r = sim.control(Method::POST, "/faults", Some(&bad)).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{bad}");
    }
}

#[tokio::test]
async fn stats_count_provider_calls_by_route_template() {
    let sim = Sim::start().await;
    let c = sim.create(&create_body(1)).await;
    let id = c["id"].as_str().unwrap();
    sim.call(Method::GET, &format!("/contacts/{id}"), None)
        .await;
    sim.call(Method::GET, "/contacts", None).await;
    sim.send(Method::GET, &sim.ws("/contacts"), None, None)
        .await;
    sim.faults(json!({"status": 503, "count": 1})).await;
    sim.call(Method::GET, "/contacts", None).await;
    sim.control(Method::GET, "/contacts/whatever", None).await;

    let stats = sim.control(Method::GET, "/stats", None).await.json();
    assert_eq!(
        stats,
        json!({
            "contacts": 1,
            "requests": {
                "GET /workspaces/{workspaceId}/contacts": 3,
                "GET /workspaces/{workspaceId}/contacts/{contactId}": 1,
                "POST /workspaces/{workspaceId}/contacts": 1
            }
        })
    );
}

#[tokio::test]
async fn seed_ten_thousand_and_page_through() {
    let sim = Sim::start().await;
    let t = Instant::now();
    let r = sim
        .control(Method::POST, "/seed", Some(&json!({"count": 10_000})))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let seeded = r.json();
    let ids: HashSet<String> = seeded["remoteIds"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_owned())
        .collect();
    assert_eq!(ids.len(), 10_000);

    let mut seen = HashSet::new();
    let mut emails = HashSet::new();
    let mut token: Option<String> = None;
    loop {
        let mut path = "/contacts?limit=100".to_owned();
        if let Some(t) = &token {
            path.push_str(&format!("&pageToken={t}"));
        }
        let page = sim.call(Method::GET, &path, None).await.json();
        for c in page["results"].as_array().unwrap() {
            assert!(seen.insert(c["id"].as_str().unwrap().to_owned()));
            assert!(emails.insert(c["attributes"]["emailaddress"][0].clone()));
            assert!(c["attributes"]["phonenumber"][0]
                .as_str()
                .unwrap()
                .starts_with('+'));
        }
        match page.get("nextPageToken") {
            Some(t) => token = Some(t.as_str().unwrap().to_owned()),
            None => break,
        }
    }
    assert_eq!(seen, ids);
    assert!(t.elapsed() < Duration::from_secs(60), "{:?}", t.elapsed());

    let r = sim
        .control(
            Method::POST,
            "/seed",
            Some(&json!({"count": 5, "returnIds": false})),
        )
        .await
        .json();
    assert_eq!(r["remoteIds"], json!([]));
    assert_eq!(
        sim.control(Method::GET, "/stats", None).await.json()["contacts"],
        10_005
    );
}

#[tokio::test]
async fn out_of_band_delete_then_get_is_404() {
    let sim = Sim::start().await;
    let c = sim.create(&create_body(1)).await;
    let id = c["id"].as_str().unwrap();
    let raw = sim
        .control(Method::GET, &format!("/contacts/{id}"), None)
        .await;
    assert_eq!(raw.status, StatusCode::OK);
    assert_eq!(raw.json()["id"], id);
    let r = sim
        .control(Method::DELETE, &format!("/contacts/{id}"), None)
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    assert_error(
        &sim.call(Method::GET, &format!("/contacts/{id}"), None)
            .await,
        StatusCode::NOT_FOUND,
        &fixture!("error_404.json"),
    );
    assert_eq!(
        sim.control(Method::DELETE, &format!("/contacts/{id}"), None)
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        sim.control(Method::GET, &format!("/contacts/{id}"), None)
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    // Its identifiers are free again (hard delete).
    sim.create(&create_body(1)).await;
}

#[tokio::test]
async fn reset_empties_store_faults_and_counters() {
    let sim = Sim::start().await;
    sim.create(&create_body(1)).await;
    sim.faults(json!({"latencyMs": 1})).await;
    let r = sim.control(Method::POST, "/reset", None).await;
    assert!(r.status.is_success());
    let stats = sim.control(Method::GET, "/stats", None).await.json();
    assert_eq!(stats, json!({"contacts": 0, "requests": {}}));
    let plan = sim.control(Method::GET, "/faults", None).await.json();
    assert_eq!(
        plan,
        json!({"rules": [], "rateLimit": null, "hideFromListing": []})
    );
    let page = sim.call(Method::GET, "/contacts", None).await.json();
    assert_eq!(page, json!({"results": []}));
}

#[tokio::test]
async fn unknown_routes_are_404_with_bird_body() {
    let sim = Sim::start().await;
    let e404 = fixture!("error_404.json");
    for url in [
        sim.ws("/nope"),
        format!("{}/bird/nope", sim.base),
        format!("{}/nope", sim.base),
    ] {
        let r = sim.send(Method::GET, &url, None, None).await;
        assert_error(&r, StatusCode::NOT_FOUND, &e404);
    }
    let r = sim.call(Method::PUT, "/contacts", None).await;
    assert_error(&r, StatusCode::NOT_FOUND, &e404);
}

#[tokio::test]
async fn hide_from_listing_omits_from_pages_while_get_still_answers() {
    let sim = Sim::start().await;
    let mut ids = Vec::new();
    for n in 0..3 {
        ids.push(sim.create(&create_body(n)).await["id"].clone());
    }
    let hidden = ids[1].as_str().unwrap().to_owned();
    sim.faults(json!({"hideFromListing": [hidden]})).await;
    // Page through by one: the hidden contact's page comes back empty with a token, and
    // paging goes on to the rest.
    let mut listed = Vec::new();
    let mut token: Option<String> = None;
    for _ in 0..10 {
        let path = match &token {
            None => "/contacts?limit=1".to_owned(),
            Some(t) => format!("/contacts?limit=1&pageToken={t}"),
        };
        let r = sim.call(Method::GET, &path, None).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text);
        let page = r.json();
        for c in page["results"].as_array().unwrap() {
            listed.push(c["id"].clone());
        }
        token = page["nextPageToken"].as_str().map(str::to_owned);
        if token.is_none() {
            break;
        }
    }
    let mut expected = vec![ids[0].clone(), ids[2].clone()];
    expected.sort_by_key(|v| v.to_string());
    listed.sort_by_key(|v| v.to_string());
    assert_eq!(listed, expected);
    let r = sim
        .call(
            Method::GET,
            &format!("/contacts/{}", ids[1].as_str().unwrap()),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.json()["id"], ids[1]);
}

#[tokio::test]
async fn fault_operation_applies_to_one_kind_of_call() {
    let sim = Sim::start().await;
    let id = sim.create(&create_body(1)).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let one = format!("/contacts/{id}");
    sim.faults(json!({"status": 503, "count": 1, "operation": "get"}))
        .await;
    assert_eq!(
        sim.call(Method::GET, "/contacts", None).await.status,
        StatusCode::OK
    );
    assert_eq!(
        sim.call(Method::GET, &one, None).await.status,
        StatusCode::SERVICE_UNAVAILABLE
    );
    assert_eq!(
        sim.call(Method::GET, &one, None).await.status,
        StatusCode::OK
    );

    let patch = json!({"attributes": {"firstName": "Two"}});
    for (op, method, path, body) in [
        ("list", Method::GET, "/contacts".to_owned(), None),
        (
            "create",
            Method::POST,
            "/contacts".to_owned(),
            Some(create_body(2)),
        ),
        ("update", Method::PATCH, one.clone(), Some(patch)),
        ("delete", Method::DELETE, one.clone(), None),
    ] {
        sim.faults(json!({"status": 500, "count": 1, "operation": op}))
            .await;
        // A call of another kind passes and leaves the rule armed.
        assert_eq!(
            sim.call(Method::GET, &one, None).await.status,
            StatusCode::OK,
            "{op}"
        );
        let r = sim.call(method.clone(), &path, body.as_ref()).await;
        assert_eq!(r.status, StatusCode::INTERNAL_SERVER_ERROR, "{op}");
        let r = sim.call(method, &path, body.as_ref()).await;
        assert!(r.status.is_success(), "{op}: {} {}", r.status, r.text);
    }
}
