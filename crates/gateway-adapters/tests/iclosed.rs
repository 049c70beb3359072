//! The iClosed adapter over real HTTP against the iClosed simulator (`gateway_sandbox`),
//! built the way the gateway builds it: through `Registry::build_raw` (no resilience layer: its retries would hide the
//! classification under test) with a transport that
//! allows the loopback base URL. Each test runs its own simulator, so tests share no state.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use gateway_adapters::Registry;
use gateway_core::{
    prepare_write, ContactInput, CrmAdapter, ErrorKind, ListRequest, ProviderKind, RemoteContact,
    RemoteId, WriteMode,
};
use gateway_sandbox::ICLOSED_SANDBOX_KEY;
use gateway_transport::{Transport, TransportConfig};
use secrecy::SecretString;
use serde_json::{json, Value};
use tokio::sync::oneshot;

struct Sim {
    base: String,
    http: reqwest::Client,
    _stop: oneshot::Sender<()>,
}

impl Sim {
    async fn start() -> Sim {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let (stop, stopped) = oneshot::channel::<()>();
        tokio::spawn(gateway_sandbox::serve(listener, async move {
            let _ = stopped.await;
        }));
        Sim {
            base: format!("http://{addr}/iclosed"),
            http: reqwest::Client::new(),
            _stop: stop,
        }
    }

    fn adapter_with(&self, key: &str) -> Arc<dyn CrmAdapter> {
        let transport = Transport::new(&TransportConfig {
            request_timeout: Duration::from_secs(10),
            allow_private_base_urls: true,
            ..TransportConfig::default()
        })
        .expect("transport");
        match Registry::new(transport).build_raw(
            ProviderKind::Iclosed,
            &json!({"baseUrl": self.base}),
            SecretString::from(key.to_owned()),
        ) {
            Ok(adapter) => adapter,
            Err(e) => panic!("build: {e}"),
        }
    }

    fn adapter(&self) -> Arc<dyn CrmAdapter> {
        self.adapter_with(ICLOSED_SANDBOX_KEY)
    }

    async fn control(&self, path: &str, body: Value) -> Value {
        let resp = self
            .http
            .post(format!("{}/_sim/{path}", self.base))
            .json(&body)
            .send()
            .await
            .expect("control call");
        assert!(
            resp.status().is_success(),
            "control {path}: {}",
            resp.status()
        );
        resp.json().await.unwrap_or(Value::Null)
    }

    async fn fault(&self, body: Value) {
        self.control("faults", body).await;
    }

    async fn soft_delete(&self, id: &RemoteId) {
        let resp = self
            .http
            .delete(format!("{}/_sim/contacts/{id}", self.base))
            .send()
            .await
            .expect("delete");
        assert!(resp.status().is_success(), "{}", resp.status());
    }

    async fn stats(&self) -> Value {
        self.http
            .get(format!("{}/_sim/stats", self.base))
            .send()
            .await
            .expect("stats")
            .json()
            .await
            .expect("json")
    }
}

fn prepared(adapter: &dyn CrmAdapter, mode: WriteMode, value: Value) -> ContactInput {
    let input: ContactInput = serde_json::from_value(value).expect("contact input");
    match prepare_write(adapter.declaration(), mode, &input, false) {
        Ok(p) => p.input,
        Err(e) => panic!("validation: {:?}", e.errors),
    }
}

fn emails(c: &RemoteContact) -> Vec<&str> {
    c.email_addresses
        .iter()
        .map(|e| e.email_address.as_str())
        .collect()
}

fn phones(c: &RemoteContact) -> Vec<&str> {
    c.phone_numbers
        .iter()
        .map(|p| p.phone_number.as_str())
        .collect()
}

async fn create(adapter: &dyn CrmAdapter, value: Value) -> RemoteContact {
    let input = prepared(adapter, WriteMode::Create, value);
    match adapter.create_contact(&input).await {
        Ok(outcome) => {
            assert!(
                outcome.failed_steps.is_empty(),
                "{:?}",
                outcome.failed_steps
            );
            outcome.contact
        }
        Err(e) => panic!("create: {e}"),
    }
}

#[tokio::test]
async fn create_with_two_emails_two_phones_and_a_country_reads_back_everything() {
    let sim = Sim::start().await;
    let ic = sim.adapter();
    let created = create(
        ic.as_ref(),
        json!({
            "firstName": "Zoë",
            "lastName": "Müller-Łukasz",
            "emailAddresses": [
                {"emailAddressType": "main", "emailAddress": "zoe@example.com"},
                {"emailAddress": "z.mueller@example.org"}
            ],
            "phoneNumbers": [
                {"phoneNumberType": "mobile", "phoneNumber": "+1 (555) 123-4567"},
                {"phoneNumber": "+1 202 555 0142"}
            ],
            "addresses": [{"country": "Australia"}],
            "remoteFields": {
                "status": "QUALIFIED",
                "tag": "lead-2024",
                "joinedTime": "2024-01-15T10:00:00.000Z",
                "eventName": "Product Demo",
                "utm": "utm_source=google&utm_medium=cpc",
                "timeZone": "Australia/Sydney",
                "ipAddress": "192.168.1.1",
                "referrerUrl": "https://example.com/signup"
            }
        }),
    )
    .await;
    assert!(created.remote_id.as_str().parse::<u64>().is_ok());
    assert_eq!(
        emails(&created),
        ["zoe@example.com", "z.mueller@example.org"]
    );
    assert_eq!(phones(&created), ["+15551234567", "+12025550142"]);

    let got = ic.get_contact(&created.remote_id).await.expect("get");
    assert_eq!(got, created, "create answers the same contact get reads");
    assert_eq!(got.first_name.as_deref(), Some("Zoë"));
    assert_eq!(got.last_name.as_deref(), Some("Müller-Łukasz"));
    assert_eq!(emails(&got), ["zoe@example.com", "z.mueller@example.org"]);
    assert_eq!(phones(&got), ["+15551234567", "+12025550142"]);
    assert_eq!(got.addresses.len(), 1);
    assert_eq!(got.addresses[0].country.as_deref(), Some("AU"));
    let rf = &got.remote_fields;
    assert_eq!(rf["status"], "QUALIFIED");
    assert_eq!(rf["timeZone"], "Australia/Sydney");
    assert_eq!(rf["ipAddress"], "192.168.1.1");
    assert_eq!(rf["referrerUrl"], "https://example.com/signup");
    assert!(rf.contains_key("joinedTime"));
    assert!(rf["tagId"].is_number(), "{rf:?}");
    assert_eq!(rf["tracking"]["utm_source"], "google");
    assert!(got.remote_created_at.is_some() && got.remote_updated_at.is_some());
    assert_eq!(got.remote_deleted_at, None);

    let stats = sim.stats().await;
    let calls = &stats["requests"];
    assert_eq!(calls["POST /v1/contacts"], 1, "{calls}");
    assert_eq!(
        calls["PUT /v1/contacts"], 1,
        "the secondaries need one follow-up: {calls}"
    );

    // A plain create is one call.
    create(
        ic.as_ref(),
        json!({"lastName": "Solo", "emailAddresses": [{"emailAddress": "solo@example.com"}]}),
    )
    .await;
    let stats = sim.stats().await;
    assert_eq!(stats["requests"]["PUT /v1/contacts"], 1);
}

#[tokio::test]
async fn a_failing_follow_up_still_answers_the_created_contact() {
    let sim = Sim::start().await;
    let ic = sim.adapter();
    sim.fault(json!({"status": 500, "count": 1, "routes": ["PUT /v1/contacts"]}))
        .await;
    let input = prepared(
        ic.as_ref(),
        WriteMode::Create,
        json!({
            "lastName": "Doe",
            "emailAddresses": [{"emailAddress": "a@example.com"}, {"emailAddress": "b@example.com"}],
            "phoneNumbers": [{"phoneNumber": "+15551234567"}, {"phoneNumber": "+12025550142"}]
        }),
    );
    let outcome = ic.create_contact(&input).await.expect("the contact exists");
    assert_eq!(emails(&outcome.contact), ["a@example.com"]);
    assert_eq!(phones(&outcome.contact), ["+15551234567"]);
    let steps: Vec<(&str, Option<&str>, &str, Option<u16>)> = outcome
        .failed_steps
        .iter()
        .map(|s| {
            (
                s.step.as_str(),
                s.pointer.as_deref(),
                s.status.as_str(),
                s.provider_status,
            )
        })
        .collect();
    assert_eq!(
        steps,
        [
            (
                "contact.update.secondary",
                Some("/emailAddresses/1"),
                "failed",
                Some(500)
            ),
            (
                "contact.update.secondary",
                Some("/phoneNumbers/1"),
                "failed",
                Some(500)
            ),
        ]
    );
    assert!(outcome.failed_steps.iter().all(|s| s.error.is_some()));
    let got = ic
        .get_contact(&outcome.contact.remote_id)
        .await
        .expect("created remotely");
    assert_eq!(got, outcome.contact);
}

#[tokio::test]
async fn listing_enumerates_each_contact_exactly_once() {
    let sim = Sim::start().await;
    let ic = sim.adapter();
    let seeded = sim.control("seed", json!({"count": 45})).await;
    let expected: HashSet<String> = seeded["remoteIds"]
        .as_array()
        .expect("remote ids")
        .iter()
        .filter_map(|v| v.as_str().map(str::to_owned))
        .collect();
    assert_eq!(expected.len(), 45);

    let mut seen = Vec::new();
    let mut cursor = None;
    let mut pages = 0;
    loop {
        let page = ic
            .list_contacts(ListRequest {
                page_size: 20,
                cursor,
            })
            .await
            .expect("page");
        pages += 1;
        assert!(page.contacts.len() <= 20);
        seen.extend(page.contacts.into_iter().map(|c| c.remote_id.0));
        match page.next {
            Some(next) => cursor = Some(next),
            None => break,
        }
        assert!(pages < 10, "the listing must end");
    }
    assert_eq!(pages, 3);
    assert_eq!(seen.len(), 45, "no contact twice");
    assert_eq!(seen.into_iter().collect::<HashSet<_>>(), expected);

    // Oversized pages are clamped to iClosed's maximum rather than refused by it.
    let page = ic
        .list_contacts(ListRequest {
            page_size: 500,
            cursor: None,
        })
        .await
        .expect("clamped");
    assert_eq!(page.contacts.len(), 45);
    assert_eq!(page.next, None);

    // An exact multiple ends without an empty extra page.
    let page = ic
        .list_contacts(ListRequest {
            page_size: 15,
            cursor: Some("2".into()),
        })
        .await
        .expect("last page");
    assert_eq!(page.contacts.len(), 15);
    assert_eq!(page.next, None);

    let err = ic
        .list_contacts(ListRequest {
            page_size: 15,
            cursor: Some("abc".into()),
        })
        .await
        .expect_err("not a page number");
    assert_eq!(err.kind, ErrorKind::InvalidInput);
}

#[tokio::test]
async fn update_changes_only_what_was_sent() {
    let sim = Sim::start().await;
    let ic = sim.adapter();
    let created = create(
        ic.as_ref(),
        json!({
            "firstName": "Jane",
            "lastName": "Doe",
            "emailAddresses": [{"emailAddress": "jane@example.com"}],
            "phoneNumbers": [{"phoneNumber": "+15551234567"}],
            "addresses": [{"country": "US"}],
            "remoteFields": {"status": "POTENTIAL", "timeZone": "America/New_York", "referrerUrl": "https://example.com/a"}
        }),
    )
    .await;
    let id = created.remote_id.clone();

    let rename = prepared(
        ic.as_ref(),
        WriteMode::Update,
        json!({"firstName": "Janet"}),
    );
    let renamed = ic.update_contact(&id, &rename).await.expect("rename");
    assert!(renamed.warnings.is_empty());
    let renamed = renamed.contact;
    assert_eq!(renamed.first_name.as_deref(), Some("Janet"));
    assert_eq!(renamed.last_name.as_deref(), Some("Doe"));
    assert_eq!(emails(&renamed), ["jane@example.com"]);
    assert_eq!(phones(&renamed), ["+15551234567"]);
    assert_eq!(renamed.addresses, created.addresses);
    assert_eq!(renamed.remote_fields["status"], "POTENTIAL");
    assert_eq!(renamed.remote_fields["timeZone"], "America/New_York");

    let more = prepared(
        ic.as_ref(),
        WriteMode::Update,
        json!({
            "emailAddresses": [{"emailAddress": "jane@example.com"}, {"emailAddress": "j2@example.org"}],
            "remoteFields": {"status": "QUALIFIED", "referrerUrl": "https://example.com/b"}
        }),
    );
    let changed = ic.update_contact(&id, &more).await.expect("update").contact;
    assert_eq!(emails(&changed), ["jane@example.com", "j2@example.org"]);
    assert_eq!(phones(&changed), ["+15551234567"]);
    assert_eq!(changed.first_name.as_deref(), Some("Janet"));
    assert_eq!(changed.remote_fields["status"], "QUALIFIED");
    assert_eq!(
        changed.remote_fields["referrerUrl"],
        "https://example.com/b"
    );

    // Clearing is not documented: nothing is invented, each clear is a warning.
    // A clear iClosed cannot do is refused by validation (so strict and dry runs see it);
    // a second email left in place is only known from iClosed's answer.
    let input: ContactInput = serde_json::from_value(
        json!({"firstName": null, "emailAddresses": [{"emailAddress": "jane@example.com"}]}),
    )
    .expect("contact input");
    let checked = prepare_write(ic.declaration(), WriteMode::Update, &input, false).expect("valid");
    let outcome = ic.update_contact(&id, &checked.input).await.expect("clear");
    let mut warned: Vec<&str> = outcome
        .warnings
        .iter()
        .chain(checked.warnings.iter())
        .map(|w| w.pointer.as_str())
        .collect();
    warned.sort_unstable();
    assert_eq!(warned, ["/emailAddresses", "/firstName"]);
    assert_eq!(outcome.contact.first_name.as_deref(), Some("Janet"));
    assert_eq!(
        emails(&outcome.contact),
        ["jane@example.com", "j2@example.org"]
    );

    // Nothing writable: read, not written.
    let before = sim.stats().await["requests"]["PUT /v1/contacts"].clone();
    let input: ContactInput = serde_json::from_value(json!({"phoneNumbers": []})).expect("input");
    let checked = prepare_write(ic.declaration(), WriteMode::Update, &input, false).expect("valid");
    assert_eq!(
        checked.warnings.len(),
        1,
        "clearing phones is a validation warning"
    );
    let outcome = ic.update_contact(&id, &checked.input).await.expect("noop");
    assert!(outcome.warnings.is_empty());
    assert_eq!(outcome.contact, ic.get_contact(&id).await.expect("get"));
    assert_eq!(sim.stats().await["requests"]["PUT /v1/contacts"], before);

    let missing = ic
        .update_contact(&RemoteId::from("999999"), &rename)
        .await
        .expect_err("unknown");
    assert_eq!(missing.kind, ErrorKind::NotFound, "{missing}");
}

#[tokio::test]
async fn delete_is_unsupported_and_soft_deletes_show_on_get() {
    let sim = Sim::start().await;
    let ic = sim.adapter();
    let created = create(ic.as_ref(), json!({"lastName": "Gone"})).await;
    let err = ic
        .delete_contact(&created.remote_id)
        .await
        .expect_err("no delete");
    assert_eq!(err.kind, ErrorKind::Unsupported, "{err}");
    assert!(!ic.declaration().operations.delete);

    sim.soft_delete(&created.remote_id).await;
    let got = ic
        .get_contact(&created.remote_id)
        .await
        .expect("still readable");
    assert!(got.remote_deleted_at.is_some(), "{got:?}");
    let page = ic
        .list_contacts(ListRequest {
            page_size: 10,
            cursor: None,
        })
        .await
        .expect("list");
    assert!(page
        .contacts
        .iter()
        .all(|c| c.remote_id != created.remote_id));

    for missing in ["424242", "abc", ""] {
        let err = ic
            .get_contact(&RemoteId::from(missing))
            .await
            .expect_err("unknown");
        assert_eq!(err.kind, ErrorKind::NotFound, "{missing}: {err}");
    }
}

#[tokio::test]
async fn both_key_prefixes_work_and_a_wrong_key_is_rejected_without_echoing_it() {
    let sim = Sim::start().await;
    sim.adapter().health_check().await.expect("underscore form");
    sim.adapter_with("iclosed-sandbox_key")
        .health_check()
        .await
        .expect("hyphen form");

    let wrong = "iclosed_wrong-key-7f3a9c";
    let ic = sim.adapter_with(wrong);
    let err = ic.health_check().await.expect_err("rejected");
    assert_eq!(err.kind, ErrorKind::CredentialRejected, "{err}");
    assert_eq!(err.provider_status, Some(401));
    let text = format!("{err} {err:?}");
    assert!(!text.contains("wrong-key-7f3a9c"), "{text}");
    let err = ic
        .get_contact(&RemoteId::from("1"))
        .await
        .expect_err("rejected");
    assert_eq!(err.kind, ErrorKind::CredentialRejected);

    let transport = Transport::new(&TransportConfig {
        allow_private_base_urls: true,
        ..TransportConfig::default()
    })
    .expect("transport");
    let err = Registry::new(transport)
        .build_raw(
            ProviderKind::Iclosed,
            &json!({"baseUrl": sim.base}),
            SecretString::from("sandbox_key".to_owned()),
        )
        .err()
        .expect("no prefix");
    assert_eq!(err.kind, ErrorKind::CredentialRejected);
    assert!(!err.to_string().contains("sandbox_key"));
}

#[tokio::test]
async fn provider_faults_classify() {
    let sim = Sim::start().await;
    let ic = sim.adapter();

    sim.fault(json!({"status": 503, "count": 1})).await;
    let err = ic.health_check().await.expect_err("503");
    assert_eq!(err.kind, ErrorKind::Unavailable, "{err}");
    assert_eq!(err.provider_status, Some(503));
    assert!(err.is_retryable());
    ic.health_check().await.expect("the fault was used up");

    sim.fault(json!({"malformed": true, "count": 1})).await;
    let err = ic
        .list_contacts(ListRequest {
            page_size: 5,
            cursor: None,
        })
        .await
        .expect_err("malformed");
    assert_eq!(err.kind, ErrorKind::Mapping, "{err}");

    sim.fault(json!({"status": 429, "count": 1})).await;
    let err = ic.health_check().await.expect_err("429");
    assert_eq!(err.kind, ErrorKind::RateLimited, "{err}");
    assert_eq!(err.provider_code.as_deref(), Some("RATE_LIMIT_EXCEEDED"));
    let wait = err.retry_after.expect("retry after");
    assert!(
        wait >= Duration::from_secs(1) && wait <= Duration::from_secs(10),
        "{wait:?}"
    );
}

#[tokio::test]
async fn the_rate_limit_is_reported_with_its_wait() {
    let sim = Sim::start().await;
    let ic = sim.adapter();
    sim.fault(json!({"rateLimit": {"perSecond": 2}})).await;
    let mut limited = None;
    for _ in 0..10 {
        if let Err(e) = ic.health_check().await {
            limited = Some(e);
            break;
        }
    }
    let err = limited.expect("rate limited within 10 calls");
    assert_eq!(err.kind, ErrorKind::RateLimited, "{err}");
    assert!(err.retry_after.is_some());
}

#[tokio::test]
async fn provider_validation_points_back_at_the_common_model() {
    let sim = Sim::start().await;
    let ic = sim.adapter();
    // Bypasses prepare_write on purpose: what iClosed itself says about a bad value.
    let input: ContactInput = serde_json::from_value(json!({
        "lastName": "Doe",
        "emailAddresses": [{"emailAddress": "not-an-email"}]
    }))
    .expect("input");
    let err = ic.create_contact(&input).await.expect_err("400");
    assert_eq!(err.kind, ErrorKind::InvalidInput, "{err}");
    assert_eq!(err.provider_status, Some(400));
    assert_eq!(
        err.fields[0].pointer, "/emailAddresses/0/emailAddress",
        "{:?}",
        err.fields
    );
    assert!(!format!("{err} {err:?}").contains("not-an-email"));
}

#[test]
fn credential_checks_without_network() {
    use gateway_adapters::{base_url, declaration, validate_secret, validate_settings};
    let p = ProviderKind::Iclosed;
    for ok in ["iclosed_sandbox_key", "iclosed-sandbox_key"] {
        assert!(validate_secret(p, ok).is_ok(), "{ok}");
    }
    for bad in [
        "sandbox_key",
        "iclosed_",
        "iclosed-",
        "Bearer_iclosed_x",
        "iclosed_kéy",
    ] {
        let err = validate_secret(p, bad).expect_err(bad);
        assert_eq!(
            (err.pointer.as_str(), err.code.as_str()),
            ("/secret", "format"),
            "{bad}"
        );
        // The bare prefixes are named by the message itself; anything longer is key material.
        if bad.len() > "iclosed-".len() {
            assert!(!err.message.contains(bad), "{bad}: {}", err.message);
        }
    }
    assert_eq!(
        validate_secret(p, "iclosed_a b").expect_err("space").code,
        "invalid"
    );

    assert_eq!(validate_settings(p, &Value::Null).expect("none"), json!({}));
    assert_eq!(
        validate_settings(p, &json!({"baseUrl": "https://public-dev.api.iclosed.io"})).expect("ok"),
        json!({"baseUrl": "https://public-dev.api.iclosed.io"})
    );
    let errs = validate_settings(p, &json!({"workspaceId": "1"})).expect_err("unknown");
    assert_eq!(errs[0].pointer, "/settings/workspaceId");
    assert_eq!(base_url(p, &json!({})), "https://public.api.iclosed.io");
    assert_eq!(declaration(p).map(|d| d.name.as_str()), Some("iClosed"));
}
