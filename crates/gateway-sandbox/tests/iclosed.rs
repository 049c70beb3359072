//! The iClosed simulator over real HTTP, pinned to the shared fixtures in `fixtures/iclosed/`
//! (shapes compared recursively: key sets and JSON value kinds) and to docs/providers/iclosed.md and
//! the seed `iclosed-create-contact.txt`.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeSet;
use std::sync::Arc;

use gateway_sandbox::{serve_with, ManualClock, SandboxConfig, ICLOSED_SANDBOX_KEY};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

mod common;
use common::{assert_shape, Resp};

macro_rules! fixture {
    ($name:literal) => {
        serde_json::from_str::<Value>(include_str!(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../fixtures/iclosed/",
            $name
        )))
        .unwrap()
    };
}

/// 2025-08-19T19:54:53.663Z: 663 ms into a rate-limit window.
const START_MS: i64 = 1_755_633_293_663;

struct Sim {
    base: String,
    http: reqwest::Client,
    clock: Arc<ManualClock>,
}

impl Sim {
    async fn start() -> Self {
        let clock = Arc::new(ManualClock::new(START_MS));
        let config = SandboxConfig {
            rng_seed: Some(11),
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

    /// `{baseUrl}{path}` with baseUrl `http://HOST:PORT/iclosed`.
    fn url(&self, path: &str) -> String {
        format!("{}/iclosed{path}", self.base)
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

    /// A provider call with the sandbox key, exactly as an adapter sends it.
    async fn call(&self, method: Method, path: &str, body: Option<&Value>) -> Resp {
        let auth = format!("Bearer {ICLOSED_SANDBOX_KEY}");
        self.send(method, &self.url(path), Some(&auth), body).await
    }

    async fn control(&self, method: Method, path: &str, body: Option<&Value>) -> Resp {
        self.send(method, &self.url(&format!("/_sim{path}")), None, body)
            .await
    }

    /// Creates a contact; the `data.contact` object.
    async fn create(&self, body: &Value) -> Value {
        let r = self.call(Method::POST, "/v1/contacts", Some(body)).await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
        r.json()["data"]["contact"].clone()
    }

    /// The `fieldErrors` of a create that must fail with the V1 zod 400.
    async fn create_fails(&self, body: &Value) -> Value {
        let r = self.call(Method::POST, "/v1/contacts", Some(body)).await;
        assert_zod(&r, "/v1/contacts", "POST");
        r.json()["message"]["details"]["fieldErrors"].clone()
    }

    async fn detail(&self, id: &Value) -> Resp {
        self.call(
            Method::GET,
            &format!("/v1/contacts/detail?contactId={id}"),
            None,
        )
        .await
    }

    async fn list(&self, query: &str) -> Value {
        let r = self
            .call(Method::GET, &format!("/v1/contacts{query}"), None)
            .await;
        assert_eq!(r.status, StatusCode::OK, "{query}: {}", r.text);
        r.json()
    }

    async fn faults(&self, body: Value) {
        let r = self.control(Method::POST, "/faults", Some(&body)).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    }
}

/// A V1 zod 400: the fixture's envelope, `fieldErrors` an object of string arrays.
fn assert_zod(r: &Resp, endpoint: &str, method: &str) {
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.text);
    let body = r.json();
    let fixture = fixture!("error_400_zod.json");
    let mut shape = body.clone();
    shape["message"]["details"]["fieldErrors"] = json!({});
    let mut fshape = fixture.clone();
    fshape["message"]["details"]["fieldErrors"] = json!({});
    // formErrors: compare as arrays of strings.
    shape["message"]["details"]["formErrors"] = json!([]);
    assert_shape(&shape, &fshape, "zod");
    assert_eq!(body["message"]["status"], 400);
    assert_eq!(body["message"]["endpoint"], endpoint);
    assert_eq!(body["message"]["method"], method);
    for m in body["message"]["details"]["formErrors"].as_array().unwrap() {
        assert!(m.is_string());
    }
    for (_, msgs) in body["message"]["details"]["fieldErrors"]
        .as_object()
        .unwrap()
    {
        let msgs = msgs.as_array().unwrap();
        assert!(!msgs.is_empty() && msgs.iter().all(Value::is_string));
    }
}

fn field_names(errors: &Value) -> Vec<String> {
    errors.as_object().unwrap().keys().cloned().collect()
}

fn is_ms_timestamp(v: &Value) -> bool {
    let s = v.as_str().unwrap_or_default();
    s.len() == 24 && s.ends_with('Z') && s.as_bytes()[19] == b'.'
}

fn ids(list: &Value) -> Vec<u64> {
    list["data"]["contacts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_u64().unwrap())
        .collect()
}

#[tokio::test]
async fn create_answers_201_with_the_fixture_shape() {
    let sim = Sim::start().await;
    let r = sim
        .call(
            Method::POST,
            "/v1/contacts",
            Some(&fixture!("create_request.json")),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    let body = r.json();
    assert_shape(&body, &fixture!("create_response.json"), "create");
    let c = &body["data"]["contact"];
    let req = fixture!("create_request.json");
    for (resp_key, req_key) in [
        ("firstName", "firstName"),
        ("lastName", "lastName"),
        ("email", "email"),
        ("phoneNumber", "phoneNumber"),
        ("status", "status"),
        ("joinedTime", "joinedTime"),
        ("country", "country"),
        ("timeZone", "timeZone"),
        ("ipAddress", "ipAddress"),
        ("referrerUrl", "referrerUrl"),
    ] {
        assert_eq!(c[resp_key], req[req_key], "{resp_key}");
    }
    assert_eq!(
        c["tracking"],
        json!({"utm_source": "google", "utm_medium": "cpc"})
    );
    assert_eq!(c["blockedByRecaptcha"], false);
    assert_eq!(c["blockedId"], Value::Null);
    assert_eq!(c["deletedAt"], Value::Null);
    assert_eq!(c["secondary_email"], Value::Null);
    assert_eq!(c["secondary_phoneNumber"], Value::Null);
    assert_eq!(c["tagId"], 1);
    assert_eq!(c["createdAt"], "2025-08-19T19:54:53.663Z");
    assert_eq!(c["updatedAt"], c["createdAt"]);
    let preview = c["previewId"].as_str().unwrap();
    let suffix = preview.strip_prefix("contact_").unwrap();
    assert_eq!(suffix.len(), 12);
    assert!(suffix.chars().all(|ch| ch.is_ascii_alphanumeric()));

    // The same tag resolves to the same tagId, another tag to another one.
    let same = sim.create(&json!({"tag": "lead-2024"})).await;
    let other = sim.create(&json!({"tag": "webinar"})).await;
    assert_eq!(same["tagId"], 1);
    assert_eq!(other["tagId"], 2);
    assert!(other["id"].as_u64() > same["id"].as_u64());
    assert_ne!(same["previewId"], other["previewId"]);
}

#[tokio::test]
async fn empty_create_has_defaults_and_nulls() {
    let sim = Sim::start().await;
    let c = sim.create(&json!({})).await;
    assert_eq!(c["status"], "POTENTIAL");
    assert_eq!(c["tracking"], json!({}));
    for k in [
        "email",
        "firstName",
        "lastName",
        "phoneNumber",
        "tagId",
        "joinedTime",
        "country",
        "timeZone",
        "ipAddress",
        "referrerUrl",
        "deletedAt",
    ] {
        assert_eq!(c[k], Value::Null, "{k}");
    }
    // No body at all is an empty object too; unknown keys are stripped, not rejected.
    let r = sim
        .send(
            Method::POST,
            &sim.url("/v1/contacts"),
            Some(&format!("Bearer {ICLOSED_SANDBOX_KEY}")),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    let c = sim
        .create(&json!({"firstName": "Ann", "favouriteColour": "teal", "id": 999}))
        .await;
    assert!(c.get("favouriteColour").is_none());
    assert_ne!(c["id"], 999);
    // Duplicate emails are allowed (undocumented; decision in the README).
    let a = sim.create(&json!({"email": "dup@example.com"})).await;
    let b = sim.create(&json!({"email": "dup@example.com"})).await;
    assert_ne!(a["id"], b["id"]);
    // joinedTime is normalised like the other timestamps.
    let c = sim
        .create(&json!({"joinedTime": "2024-01-15T10:00Z"}))
        .await;
    assert_eq!(c["joinedTime"], "2024-01-15T10:00:00.000Z");
}

#[tokio::test]
async fn detail_list_update_match_the_fixtures() {
    let sim = Sim::start().await;
    let first = sim.create(&fixture!("create_request.json")).await;
    sim.create(&json!({
        "firstName": "John", "lastName": "Roe", "email": "john.roe@example.org", "status": "QUALIFIED"
    }))
    .await;
    sim.create(&json!({"firstName": "Third"})).await;

    let r = sim.detail(&first["id"]).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let d = r.json();
    assert_shape(&d, &fixture!("detail_response.json"), "detail");
    assert_eq!(d["data"], first);

    let list = sim.list("?limit=2&page=0").await;
    assert_shape(&list, &fixture!("list_response.json"), "list");
    assert_eq!(list["data"]["count"], 3);
    assert_eq!(list["data"]["contacts"][0], first);

    sim.clock.advance_ms(5_000);
    let mut upd = fixture!("update_request.json");
    upd["id"] = first["id"].clone();
    let r = sim.call(Method::PUT, "/v1/contacts", Some(&upd)).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let u = r.json();
    assert_shape(&u, &fixture!("update_response.json"), "update");
    let c = &u["data"];
    for k in [
        "firstName",
        "lastName",
        "email",
        "secondary_email",
        "phoneNumber",
        "secondary_phoneNumber",
        "status",
        "referrerUrl",
    ] {
        assert_eq!(c[k], upd[k], "{k}");
    }
    // Untouched fields stay; updatedAt moves, createdAt does not.
    assert_eq!(c["country"], first["country"]);
    assert_eq!(c["tagId"], first["tagId"]);
    assert_eq!(c["tracking"], first["tracking"]);
    assert_eq!(c["createdAt"], first["createdAt"]);
    assert_eq!(c["updatedAt"], "2025-08-19T19:54:58.663Z");
    assert!(is_ms_timestamp(&c["updatedAt"]));
    // A partial update changes only what it names.
    let r = sim
        .call(
            Method::PUT,
            "/v1/contacts",
            Some(&json!({"id": first["id"], "lastName": "Smith"})),
        )
        .await;
    assert_eq!(r.json()["data"]["firstName"], upd["firstName"]);
    assert_eq!(r.json()["data"]["lastName"], "Smith");
    assert_eq!(
        sim.detail(&first["id"]).await.json()["data"]["lastName"],
        "Smith"
    );
}

#[tokio::test]
async fn auth_header_forms() {
    let sim = Sim::start().await;
    let url = sim.url("/v1/contacts");
    let missing = fixture!("error_401_missing.json");
    let invalid = fixture!("error_401_invalid.json");
    for ok in [
        "Bearer iclosed_sandbox_key",
        "Bearer iclosed-sandbox_key",
        "bearer iclosed_sandbox_key",
        "BEARER iclosed-sandbox_key",
    ] {
        let r = sim.send(Method::GET, &url, Some(ok), None).await;
        assert_eq!(r.status, StatusCode::OK, "{ok}: {}", r.text);
    }
    let r = sim.send(Method::GET, &url, None, None).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert_eq!(r.json(), missing);
    for bad in [
        "iclosed_sandbox_key",
        "Basic iclosed_sandbox_key",
        "Token iclosed_sandbox_key",
        "Bearer sandbox_key",
        "Bearer",
        "Bearer iclosed_",
    ] {
        let r = sim.send(Method::GET, &url, Some(bad), None).await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{bad}");
        assert_eq!(r.json(), missing, "{bad}");
    }
    for unknown in [
        "Bearer iclosed_other_key",
        "Bearer iclosed-other",
        "Bearer iclosed_iclosed_sandbox_key",
    ] {
        let r = sim.send(Method::GET, &url, Some(unknown), None).await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{unknown}");
        assert_eq!(r.json(), invalid, "{unknown}");
    }
    // Auth comes before validation and before lookups.
    let r = sim
        .send(
            Method::POST,
            &url,
            Some("Bearer iclosed_nope"),
            Some(&json!({"country": "USA"})),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    let r = sim
        .send(
            Method::GET,
            &sim.url("/v1/contacts/detail?contactId=1"),
            None,
            None,
        )
        .await;
    assert_eq!(r.json(), missing);
    let r = sim
        .send(Method::PUT, &url, None, Some(&json!({"id": 1})))
        .await;
    assert_eq!(r.json(), missing);
}

#[tokio::test]
async fn create_limits_at_their_boundaries() {
    let sim = Sim::start().await;
    let a = |n: usize| "a".repeat(n);
    let max = |n: usize| json!([format!("String must contain at most {n} character(s)")]);
    for (field, limit) in [
        ("firstName", 25),
        ("lastName", 25),
        ("tag", 100),
        ("eventName", 255),
        ("linkPrefix", 255),
        ("utm", 1000),
        ("country", 2),
        ("timeZone", 50),
        ("ipAddress", 45),
    ] {
        sim.create(&json!({ field: a(limit) })).await;
        let errs = sim.create_fails(&json!({ field: a(limit + 1) })).await;
        assert_eq!(errs, json!({ field: max(limit) }), "{field}");
    }
    // Lengths are UTF-16 code units: an astral character counts 2, an accented one 1.
    let c = sim
        .create(&json!({"firstName": format!("{}a", "😀".repeat(12)), "lastName": "é".repeat(25)}))
        .await;
    assert_eq!(c["lastName"], "é".repeat(25));
    let errs = sim
        .create_fails(&json!({"firstName": "😀".repeat(13), "lastName": "𝒜".repeat(13)}))
        .await;
    assert_eq!(errs, json!({"firstName": max(25), "lastName": max(25)}));
    assert_eq!(
        sim.create_fails(&json!({"country": "USA"})).await,
        json!({"country": max(2)})
    );

    // email: 255 units and the seed's pattern.
    let local = |n: usize| "a".repeat(n - "@example.com".len());
    sim.create(&json!({"email": format!("{}@example.com", local(255))}))
        .await;
    let errs = sim
        .create_fails(&json!({"email": format!("{}@example.com", local(256))}))
        .await;
    assert_eq!(errs, json!({"email": max(255)}));
    for ok in [
        "jane.doe@example.com",
        "o'brien+tag@mail.example.co.uk",
        "x_y-z@a-b.io",
    ] {
        sim.create(&json!({ "email": ok })).await;
    }
    for bad in [
        ".jane@example.com",
        "ja..ne@example.com",
        "jane.@example.com",
        "jane@example",
        "jane@example.c",
        "jane@-example.com",
        "jane@example..com",
        "jane doe@example.com",
        "jané@example.com",
        "jane@@example.com",
        "",
    ] {
        let errs = sim.create_fails(&json!({ "email": bad })).await;
        assert_eq!(field_names(&errs), vec!["email"], "{bad}");
    }
    // Too long and badly formed: both checks reported.
    let errs = sim
        .create_fails(&json!({"email": format!(".{}@example.com", a(250))}))
        .await;
    assert_eq!(errs["email"].as_array().unwrap().len(), 2);

    // phoneNumber: ^\+?\d+$, at most 20, no normalising.
    sim.create(&json!({"phoneNumber": format!("+{}", "1".repeat(19))}))
        .await;
    sim.create(&json!({"phoneNumber": "1".repeat(20)})).await;
    let errs = sim
        .create_fails(&json!({"phoneNumber": format!("+{}", "1".repeat(20))}))
        .await;
    assert_eq!(errs, json!({"phoneNumber": max(20)}));
    for bad in [
        "+1 555 123 4567",
        "+1-555-1234567",
        "(555)1234567",
        "++15551234567",
        "+",
        "",
    ] {
        let errs = sim.create_fails(&json!({ "phoneNumber": bad })).await;
        assert_eq!(field_names(&errs), vec!["phoneNumber"], "{bad}");
    }

    // status enum.
    for ok in ["POTENTIAL", "QUALIFIED", "DISQUALIFIED"] {
        assert_eq!(sim.create(&json!({ "status": ok })).await["status"], ok);
    }
    for bad in [json!("potential"), json!("NEW"), json!(1)] {
        let errs = sim.create_fails(&json!({ "status": bad })).await;
        assert_eq!(field_names(&errs), vec!["status"], "{bad}");
    }

    // joinedTime: the seed's regex.
    for ok in [
        "2024-02-29T00:00:00.000Z",
        "2000-02-29T12:00Z",
        "2023-12-31T23:59:59Z",
        "2024-01-15T10:00:00.123456Z",
    ] {
        sim.create(&json!({ "joinedTime": ok })).await;
    }
    for bad in [
        "2023-02-29T00:00:00.000Z",
        "1900-02-29T00:00:00Z",
        "2100-02-29T00:00Z",
        "2023-04-31T00:00Z",
        "2024-01-15T10:00:00+00:00",
        "2024-01-15T10:00:00.000+02:00",
        "2024-01-15T10:00:00",
        "2024-01-15",
        "2024-01-15T24:00Z",
        "2024-01-15 10:00:00Z",
    ] {
        let errs = sim.create_fails(&json!({ "joinedTime": bad })).await;
        assert_eq!(errs, json!({"joinedTime": ["Invalid datetime"]}), "{bad}");
    }

    // referrerUrl: a URI of at most 500.
    let url = |n: usize| {
        format!(
            "https://example.com/{}",
            a(n - "https://example.com/".len())
        )
    };
    sim.create(&json!({"referrerUrl": url(500)})).await;
    sim.create(&json!({"referrerUrl": "mailto:jane@example.com"}))
        .await;
    assert_eq!(
        sim.create_fails(&json!({"referrerUrl": url(501)})).await,
        json!({"referrerUrl": max(500)})
    );
    for bad in ["not a url", "example.com/signup", "https://", "/signup"] {
        let errs = sim.create_fails(&json!({ "referrerUrl": bad })).await;
        assert_eq!(field_names(&errs), vec!["referrerUrl"], "{bad}");
    }

    // Types: strings only, null included (zod's optional takes undefined, not null).
    let errs = sim
        .create_fails(&json!({"firstName": 5, "lastName": null, "tag": ["a"], "utm": {"a": 1}}))
        .await;
    assert_eq!(
        errs["firstName"],
        json!(["Expected string, received number"])
    );
    assert_eq!(errs["lastName"], json!(["Expected string, received null"]));
    assert_eq!(field_names(&errs).len(), 4);

    // Nothing above that failed was stored.
    let count = sim.list("").await["data"]["count"].as_u64().unwrap();
    let stats = sim.control(Method::GET, "/stats", None).await.json();
    assert_eq!(stats["contacts"], count);
}

#[tokio::test]
async fn every_failing_field_in_one_400() {
    let sim = Sim::start().await;
    let body = json!({
        "firstName": "a".repeat(26),
        "email": "not-an-email",
        "phoneNumber": "+1 555",
        "status": "HOT",
        "joinedTime": "2023-02-29T00:00Z",
        "country": "USA",
        "referrerUrl": "nope",
        "lastName": "Fine",
    });
    let r = sim.call(Method::POST, "/v1/contacts", Some(&body)).await;
    assert_zod(&r, "/v1/contacts", "POST");
    let errs = &r.json()["message"]["details"]["fieldErrors"];
    assert_eq!(
        field_names(errs),
        vec![
            "country",
            "email",
            "firstName",
            "joinedTime",
            "phoneNumber",
            "referrerUrl",
            "status"
        ]
    );
    assert_eq!(r.json()["message"]["details"]["formErrors"], json!([]));
    // The fixture's own case: email and country.
    let r = sim
        .call(
            Method::POST,
            "/v1/contacts",
            Some(&json!({"email": "jane@", "country": "USA"})),
        )
        .await;
    assert_shape(&r.json(), &fixture!("error_400_zod.json"), "zod");
    // Not an object, not JSON: form errors.
    let r = sim
        .call(Method::POST, "/v1/contacts", Some(&json!([1])))
        .await;
    assert_zod(&r, "/v1/contacts", "POST");
    assert_eq!(
        r.json()["message"]["details"]["formErrors"],
        json!(["Expected object, received array"])
    );
    let r = sim
        .http
        .post(sim.url("/v1/contacts"))
        .header("Authorization", format!("Bearer {ICLOSED_SANDBOX_KEY}"))
        .header("Content-Type", "application/json")
        .body("{\"firstName\":")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let body: Value = r.json().await.unwrap();
    assert_eq!(
        body["message"]["details"]["formErrors"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    assert_eq!(sim.list("").await["data"]["count"], 0);
}

#[tokio::test]
async fn update_validation_and_unknown_ids() {
    let sim = Sim::start().await;
    let c = sim.create(&json!({"firstName": "Jane"})).await;
    let put = |body: Value| {
        let sim = &sim;
        async move { sim.call(Method::PUT, "/v1/contacts", Some(&body)).await }
    };
    let e404 = fixture!("error_404.json");
    for unknown in [json!(999_999), json!(0), json!(-3)] {
        let r = put(json!({"id": unknown, "firstName": "X"})).await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{unknown}");
        assert_eq!(r.json(), e404);
    }
    let r = put(json!({"firstName": "X"})).await;
    assert_zod(&r, "/v1/contacts", "PUT");
    assert_eq!(
        r.json()["message"]["details"]["fieldErrors"],
        json!({"id": ["Required"]})
    );
    let r = put(json!({"id": c["id"].to_string()})).await;
    assert_zod(&r, "/v1/contacts", "PUT");
    let r = put(json!({"id": 1.5})).await;
    assert_zod(&r, "/v1/contacts", "PUT");
    // The create limits, and the email/phone rules for the secondary twins.
    let r = put(json!({
        "id": c["id"],
        "firstName": "a".repeat(26),
        "secondary_email": "..x@example.com",
        "secondary_phoneNumber": "+1 555 0100",
        "status": "WON",
        "referrerUrl": "nope",
    }))
    .await;
    assert_zod(&r, "/v1/contacts", "PUT");
    assert_eq!(
        field_names(&r.json()["message"]["details"]["fieldErrors"]),
        vec![
            "firstName",
            "referrerUrl",
            "secondary_email",
            "secondary_phoneNumber",
            "status"
        ]
    );
    // Validation comes before the lookup: an unknown id with a bad field is 400.
    let r = put(json!({"id": 999_999, "email": "bad"})).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    // Fields outside the update schema are stripped, not applied.
    let r = put(
        json!({"id": c["id"], "country": "US", "tag": "x", "secondary_email": "b@example.com"}),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.json()["data"]["country"], Value::Null);
    assert_eq!(r.json()["data"]["tagId"], Value::Null);
    assert_eq!(r.json()["data"]["secondary_email"], "b@example.com");
    assert_eq!(
        sim.detail(&c["id"]).await.json()["data"]["firstName"],
        "Jane"
    );
}

#[tokio::test]
async fn detail_parameter_and_not_found() {
    let sim = Sim::start().await;
    let c = sim.create(&json!({"firstName": "Jane"})).await;
    let e404 = fixture!("error_404.json");
    for q in ["contactId=999", "contactId=0", "contactId=-1"] {
        let r = sim
            .call(Method::GET, &format!("/v1/contacts/detail?{q}"), None)
            .await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{q}");
        assert_eq!(r.json(), e404);
    }
    for q in ["", "?contactId=abc", "?contactId=1.5", "?id=1"] {
        let r = sim
            .call(Method::GET, &format!("/v1/contacts/detail{q}"), None)
            .await;
        assert_zod(&r, "/v1/contacts/detail", "GET");
        assert_eq!(
            field_names(&r.json()["message"]["details"]["fieldErrors"]),
            vec!["contactId"]
        );
    }
    let r = sim
        .call(
            Method::GET,
            &format!("/v1/contacts/detail?contactId={}&includeUtms=true", c["id"]),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.json()["data"], c);
}

#[tokio::test]
async fn list_pages_filters_and_order() {
    let sim = Sim::start().await;
    let mut created = Vec::new();
    for i in 0..25u64 {
        let status = ["POTENTIAL", "QUALIFIED", "DISQUALIFIED"][(i % 3) as usize];
        let c = sim
            .create(&json!({
                "firstName": format!("Person{i:02}"),
                "lastName": if i == 7 { "Needle" } else { "Hay" },
                "email": format!("p{i}@example.com"),
                "status": status,
            }))
            .await;
        created.push(c["id"].as_u64().unwrap());
        sim.clock.advance_ms(10);
    }
    // Default: limit 20, page 0, id ascending, count = total.
    let l = sim.list("").await;
    assert_eq!(l["data"]["count"], 25);
    assert_eq!(ids(&l), created[..20].to_vec());
    // Zero-based pages of 10: 10, 10, 5, then empty, count always the total.
    let mut seen = Vec::new();
    for page in 0..4 {
        let l = sim.list(&format!("?limit=10&page={page}")).await;
        assert_eq!(l["data"]["count"], 25, "page {page}");
        let got = ids(&l);
        assert_eq!(got.len(), [10, 10, 5, 0][page], "page {page}");
        seen.extend(got);
    }
    assert_eq!(seen, created);
    assert_eq!(
        sim.list("?limit=100").await["data"]["contacts"]
            .as_array()
            .unwrap()
            .len(),
        25
    );

    let l = sim.list("?orderBy=desc&orderColumn=id&limit=3").await;
    assert_eq!(ids(&l), vec![created[24], created[23], created[22]]);
    let l = sim
        .list("?orderBy=desc&orderColumn=firstName&limit=2&page=1")
        .await;
    assert_eq!(ids(&l), vec![created[22], created[21]]);
    let l = sim.list("?orderBy=asc&orderColumn=createdAt&limit=2").await;
    assert_eq!(ids(&l), vec![created[0], created[1]]);

    let l = sim.list("?search=needle").await;
    assert_eq!(
        (l["data"]["count"].as_u64(), ids(&l)),
        (Some(1), vec![created[7]])
    );
    let l = sim.list("?search=P1%40EXAMPLE").await;
    assert_eq!(ids(&l), vec![created[1]]);
    let l = sim
        .list("?statuses=QUALIFIED,DISQUALIFIED&limit=5&page=1")
        .await;
    assert_eq!(l["data"]["count"], 16);
    assert_eq!(
        ids(&l),
        vec![
            created[8],
            created[10],
            created[11],
            created[13],
            created[14]
        ]
    );
    let l = sim.list("?statuses=CUSTOM_STAGE").await;
    assert_eq!(l["data"]["count"], 0);

    // Bad parameters: the zod 400 naming them.
    for (q, field) in [
        ("?limit=101", "limit"),
        ("?limit=0", "limit"),
        ("?limit=ten", "limit"),
        ("?page=-1", "page"),
        ("?orderBy=sideways&orderColumn=id", "orderBy"),
        ("?orderBy=asc&orderColumn=phone", "orderColumn"),
    ] {
        let r = sim
            .call(Method::GET, &format!("/v1/contacts{q}"), None)
            .await;
        assert_zod(&r, "/v1/contacts", "GET");
        assert_eq!(
            field_names(&r.json()["message"]["details"]["fieldErrors"]),
            vec![field],
            "{q}"
        );
    }
    for q in ["?orderBy=asc", "?orderColumn=id"] {
        let r = sim
            .call(Method::GET, &format!("/v1/contacts{q}"), None)
            .await;
        assert_zod(&r, "/v1/contacts", "GET");
        assert_eq!(
            r.json()["message"]["details"]["formErrors"]
                .as_array()
                .unwrap()
                .len(),
            1
        );
    }
}

#[tokio::test]
async fn soft_delete_through_sim_only() {
    let sim = Sim::start().await;
    let a = sim.create(&fixture!("create_request.json")).await;
    let b = sim.create(&json!({"firstName": "Bee"})).await;
    let c = sim.create(&json!({"firstName": "Cee"})).await;
    sim.clock.advance_ms(60_000);

    let r = sim
        .control(Method::DELETE, &format!("/contacts/{}", a["id"]), None)
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    // Detail still answers, with deletedAt set.
    let r = sim.detail(&a["id"]).await;
    assert_eq!(r.status, StatusCode::OK);
    let d = r.json();
    assert_shape(&d, &fixture!("detail_deleted.json"), "deleted");
    assert_eq!(d["data"]["deletedAt"], "2025-08-19T19:55:53.663Z");
    assert_eq!(d["data"]["firstName"], "Jane");
    // Lists leave it out and count without it.
    let l = sim.list("?limit=1&page=1").await;
    assert_eq!(l["data"]["count"], 2);
    assert_eq!(ids(&l), vec![c["id"].as_u64().unwrap()]);
    let l = sim.list("?search=jane").await;
    assert_eq!(l["data"]["count"], 0);
    // It cannot be updated any more.
    let r = sim
        .call(
            Method::PUT,
            "/v1/contacts",
            Some(&json!({"id": a["id"], "firstName": "B"})),
        )
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert_eq!(r.json(), fixture!("error_404.json"));
    // The raw view shows the same; a second delete keeps the first time.
    sim.clock.advance_ms(1_000);
    let r = sim
        .control(Method::DELETE, &format!("/contacts/{}", a["id"]), None)
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    let raw = sim
        .control(Method::GET, &format!("/contacts/{}", a["id"]), None)
        .await
        .json();
    assert_eq!(raw, d["data"]);
    let raw = sim
        .control(Method::GET, &format!("/contacts/{}", b["id"]), None)
        .await
        .json();
    assert_eq!(raw, b);
    for unknown in ["999", "abc", "0"] {
        let r = sim
            .control(Method::DELETE, &format!("/contacts/{unknown}"), None)
            .await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{unknown}");
        let r = sim
            .control(Method::GET, &format!("/contacts/{unknown}"), None)
            .await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{unknown}");
    }
    let stats = sim.control(Method::GET, "/stats", None).await.json();
    assert_eq!(stats["contacts"], 2);
}

#[tokio::test]
async fn no_delete_route_and_unknown_routes_are_404() {
    let sim = Sim::start().await;
    let c = sim.create(&json!({"firstName": "Jane"})).await;
    let not_found = json!({"message": "Not found"});
    for (method, path) in [
        (Method::DELETE, "/v1/contacts".to_owned()),
        (Method::DELETE, format!("/v1/contacts/{}", c["id"])),
        (
            Method::DELETE,
            format!("/v1/contacts/detail?contactId={}", c["id"]),
        ),
        (Method::GET, format!("/v1/contacts/{}", c["id"])),
        (Method::PATCH, "/v1/contacts".to_owned()),
        (Method::POST, "/v1/contacts/detail".to_owned()),
        (Method::GET, "/v1/users".to_owned()),
        (Method::GET, "/contacts".to_owned()),
    ] {
        let r = sim.call(method.clone(), &path, None).await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{method} {path}");
        assert_eq!(r.json(), not_found, "{method} {path}");
    }
    assert_eq!(
        sim.detail(&c["id"]).await.json()["data"]["deletedAt"],
        Value::Null
    );
}

#[tokio::test]
async fn rate_limit_20_per_second_per_endpoint() {
    let sim = Sim::start().await;
    let c = sim.create(&json!({"firstName": "Jane"})).await;
    sim.faults(json!({"rateLimit": {"perSecond": 20}})).await;
    for i in 0..20 {
        let r = sim.call(Method::GET, "/v1/contacts", None).await;
        assert_eq!(r.status, StatusCode::OK, "call {i}");
    }
    let r = sim.call(Method::GET, "/v1/contacts", None).await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS, "{}", r.text);
    let body = r.json();
    assert_shape(&body, &fixture!("error_429.json"), "429");
    assert_eq!(
        body,
        json!({
            "code": "RATE_LIMIT_EXCEEDED",
            "message": "Too many requests, please try again later.",
            "retryAfter": 1,
            "limit": {"points": 20, "windowSec": 1}
        })
    );
    assert_eq!(r.headers.get("retry-after").unwrap(), "1");
    for h in r.headers.keys() {
        assert!(!h.as_str().contains("ratelimit"), "unexpected header {h}");
    }
    // Other endpoints (and other methods on the same path) have their own windows.
    let r = sim.detail(&c["id"]).await;
    assert_eq!(r.status, StatusCode::OK);
    sim.create(&json!({"firstName": "Other"})).await;
    // The next window admits again.
    sim.clock.advance_ms(337);
    assert_eq!(
        sim.call(Method::GET, "/v1/contacts", None).await.status,
        StatusCode::OK
    );
    // The default figure is 20 too.
    sim.faults(json!({"rateLimit": {}})).await;
    for _ in 0..20 {
        assert_eq!(sim.detail(&c["id"]).await.status, StatusCode::OK);
    }
    let r = sim.detail(&c["id"]).await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(r.json()["limit"]["points"], 20);
    sim.control(Method::DELETE, "/faults", None).await;
    assert_eq!(sim.detail(&c["id"]).await.status, StatusCode::OK);
}

#[tokio::test]
async fn faults_use_iclosed_bodies() {
    let sim = Sim::start().await;
    sim.faults(json!({"status": 500, "count": 2})).await;
    for _ in 0..2 {
        let r = sim
            .call(
                Method::POST,
                "/v1/contacts",
                Some(&json!({"firstName": "X"})),
            )
            .await;
        assert_eq!(r.status, StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(r.json(), fixture!("error_500.json"));
    }
    // A faulted create stored nothing.
    assert_eq!(sim.list("").await["data"]["count"], 0);

    sim.faults(json!({"status": 503, "count": 1, "routes": ["GET /v1/contacts/detail"]}))
        .await;
    assert_eq!(sim.list("").await["data"]["count"], 0);
    let r = sim
        .call(Method::GET, "/v1/contacts/detail?contactId=1", None)
        .await;
    assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(
        r.json(),
        json!({"message": "Service unavailable", "code": "SERVICE_UNAVAILABLE"})
    );

    sim.faults(json!({"status": 429, "count": 1})).await;
    let r = sim.call(Method::GET, "/v1/contacts", None).await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS);
    assert_shape(&r.json(), &fixture!("error_429.json"), "429");
    assert!(r.headers.get("retry-after").is_some());

    sim.faults(json!({"malformed": true, "count": 1})).await;
    let r = sim.call(Method::GET, "/v1/contacts", None).await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(serde_json::from_str::<Value>(&r.text).is_err());

    sim.faults(json!({"latencyMs": 30, "count": 1})).await;
    let t = std::time::Instant::now();
    assert_eq!(sim.list("").await["data"]["count"], 0);
    assert!(t.elapsed() >= std::time::Duration::from_millis(30));

    let r = sim
        .control(Method::POST, "/faults", Some(&json!({"stauts": 500})))
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn stats_count_provider_calls_by_route_template() {
    let sim = Sim::start().await;
    let c = sim.create(&json!({"firstName": "Jane"})).await;
    sim.detail(&c["id"]).await;
    sim.list("").await;
    sim.send(Method::GET, &sim.url("/v1/contacts"), None, None)
        .await;
    sim.call(Method::PUT, "/v1/contacts", Some(&json!({"id": c["id"]})))
        .await;
    sim.faults(json!({"status": 500, "count": 1})).await;
    sim.list_raw_ignoring_status().await;
    sim.control(Method::GET, &format!("/contacts/{}", c["id"]), None)
        .await;
    sim.call(Method::DELETE, "/v1/contacts", None).await;

    let stats = sim.control(Method::GET, "/stats", None).await.json();
    assert_eq!(
        stats,
        json!({
            "contacts": 1,
            "requests": {
                "GET /v1/contacts": 3,
                "GET /v1/contacts/detail": 1,
                "POST /v1/contacts": 1,
                "PUT /v1/contacts": 1
            }
        })
    );
}

impl Sim {
    async fn list_raw_ignoring_status(&self) -> Resp {
        self.call(Method::GET, "/v1/contacts", None).await
    }
}

#[tokio::test]
async fn seed_reset_and_ids_never_reused() {
    let sim = Sim::start().await;
    let r = sim
        .control(Method::POST, "/seed", Some(&json!({"count": 250})))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let seeded = r.json();
    assert_eq!(seeded["created"], 250);
    let remote: Vec<u64> = seeded["remoteIds"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().parse().unwrap())
        .collect();
    assert_eq!(remote, (1..=250).collect::<Vec<u64>>());

    let mut seen = Vec::new();
    for page in 0.. {
        let l = sim.list(&format!("?limit=100&page={page}")).await;
        assert_eq!(l["data"]["count"], 250);
        let contacts = l["data"]["contacts"].as_array().unwrap().clone();
        if contacts.is_empty() {
            break;
        }
        for c in &contacts {
            let keys: BTreeSet<&String> = c.as_object().unwrap().keys().collect();
            let want = fixture!("detail_response.json");
            let want: BTreeSet<&String> = want["data"].as_object().unwrap().keys().collect();
            assert_eq!(keys, want);
            let first = c["firstName"].as_str().unwrap();
            let last = c["lastName"].as_str().unwrap();
            assert!(first.encode_utf16().count() <= 25 && last.encode_utf16().count() <= 25);
            let email = c["email"].as_str().unwrap();
            assert!(email.contains("@example.") && email.is_ascii(), "{email}");
            let phone = c["phoneNumber"].as_str().unwrap();
            let digits = phone.strip_prefix('+').unwrap_or(phone);
            assert!(
                phone.len() <= 20 && digits.bytes().all(|b| b.is_ascii_digit()),
                "{phone}"
            );
            seen.push(c["id"].as_u64().unwrap());
        }
    }
    assert_eq!(seen, remote);
    // A seeded contact is a normal one: it can be updated.
    let r = sim
        .call(
            Method::PUT,
            "/v1/contacts",
            Some(&json!({"id": 3, "status": "QUALIFIED"})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);

    let r = sim
        .control(
            Method::POST,
            "/seed",
            Some(&json!({"count": 2, "returnIds": false})),
        )
        .await;
    assert_eq!(r.json()["remoteIds"], json!([]));

    let r = sim.control(Method::POST, "/reset", None).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    assert_eq!(
        sim.control(Method::GET, "/stats", None).await.json(),
        json!({"contacts": 0, "requests": {}})
    );
    assert_eq!(sim.list("").await["data"]["count"], 0);
    assert_eq!(sim.detail(&json!(1)).await.status, StatusCode::NOT_FOUND);
    // Ids keep counting after a reset: a stale remote id never points at a new contact.
    let c = sim.create(&json!({"tag": "fresh"})).await;
    assert_eq!(c["id"], 253);
    assert_eq!(c["tagId"], 1);
}

#[tokio::test]
async fn hide_from_listing_omits_and_uncounts_while_detail_still_answers() {
    let sim = Sim::start().await;
    let mut ids = Vec::new();
    for n in 0..3 {
        ids.push(sim.create(&json!({"firstName": format!("P{n}")})).await["id"].clone());
    }
    sim.faults(json!({"hideFromListing": [ids[1].to_string()]}))
        .await;
    let listed = |v: &Value| -> Vec<Value> {
        v["data"]["contacts"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["id"].clone())
            .collect()
    };
    let all = sim.list("?limit=10&page=0").await;
    assert_eq!(listed(&all), vec![ids[0].clone(), ids[2].clone()]);
    assert_eq!(all["data"]["count"], 2);
    // Left out before paging: page 1 of size 1 is the third contact.
    assert_eq!(
        listed(&sim.list("?limit=1&page=1").await),
        vec![ids[2].clone()]
    );
    let r = sim.detail(&ids[1]).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.json()["data"]["id"], ids[1]);
    sim.control(Method::POST, "/reset", None).await;
    let plan = sim.control(Method::GET, "/faults", None).await.json();
    assert_eq!(plan["hideFromListing"], json!([]));
}

#[tokio::test]
async fn fault_operation_applies_to_one_kind_of_call() {
    let sim = Sim::start().await;
    let id = sim.create(&json!({"firstName": "One"})).await["id"].clone();
    sim.faults(json!({"status": 503, "count": 1, "operation": "get"}))
        .await;
    sim.list("?limit=10&page=0").await;
    assert_eq!(
        sim.detail(&id).await.status,
        StatusCode::SERVICE_UNAVAILABLE
    );
    assert_eq!(sim.detail(&id).await.status, StatusCode::OK);

    let update = json!({"id": id, "firstName": "Two"});
    for (op, method, path, body) in [
        ("list", Method::GET, "/v1/contacts", None),
        (
            "create",
            Method::POST,
            "/v1/contacts",
            Some(json!({"firstName": "N"})),
        ),
        ("update", Method::PUT, "/v1/contacts", Some(update)),
    ] {
        sim.faults(json!({"status": 500, "count": 1, "operation": op}))
            .await;
        // A call of another kind passes and leaves the rule armed.
        assert_eq!(sim.detail(&id).await.status, StatusCode::OK, "{op}");
        let r = sim.call(method.clone(), path, body.as_ref()).await;
        assert_eq!(r.status, StatusCode::INTERNAL_SERVER_ERROR, "{op}");
        let r = sim.call(method, path, body.as_ref()).await;
        assert!(r.status.is_success(), "{op}: {} {}", r.status, r.text);
    }
}
