//! The Karia adapter over real HTTP against the Karia simulator (`gateway_sandbox`, mounted at
//! `/karia`), built the way the gateway builds it: through `Registry` with a transport that
//! allows the loopback base URL. Each test runs its own simulator, so tests share no state.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use gateway_adapters::{AdaptersConfig, KariaConfig, Registry};
use gateway_core::{
    prepare_write, ContactInput, CrmAdapter, ErrorKind, ListRequest, ProviderKind, RemoteContact,
    RemoteId, WriteMode, WriteOutcome,
};
use gateway_sandbox::{KARIA_SANDBOX_KEY, KARIA_SANDBOX_ORGANISATION, KARIA_SANDBOX_WORKSPACE};
use gateway_transport::{Transport, TransportConfig};
use secrecy::SecretString;
use serde_json::{json, Value};
use tokio::sync::oneshot;

const ADDRESS_ROUTE: &str =
    "POST /organisation/{orgId}/workspace/{workspaceId}/contact/{contactId}/address";
const METHOD_ROUTE: &str =
    "POST /organisation/{orgId}/workspace/{workspaceId}/contact/{contactId}/method";
const CREATE_ROUTE: &str = "POST /organisation/{orgId}/workspace/{workspaceId}/contact";
const PATCH_ROUTE: &str = "PATCH /organisation/{orgId}/workspace/{workspaceId}/contact/{contactId}";

struct Sim {
    base: String,
    http: reqwest::Client,
    _stop: oneshot::Sender<()>,
}

fn transport(request_timeout: Duration) -> Transport {
    Transport::new(&TransportConfig {
        request_timeout,
        allow_private_base_urls: true,
        ..TransportConfig::default()
    })
    .expect("transport")
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
            base: format!("http://{addr}/karia"),
            http: reqwest::Client::new(),
            _stop: stop,
        }
    }

    fn settings(&self, organisation: &str, workspace: &str) -> Value {
        json!({"organisationId": organisation, "workspaceId": workspace, "baseUrl": self.base})
    }

    fn build(&self, registry: &Registry, key: &str, settings: &Value) -> Arc<dyn CrmAdapter> {
        match registry.build_raw(
            ProviderKind::Karia,
            settings,
            SecretString::from(key.to_owned()),
        ) {
            Ok(adapter) => adapter,
            Err(e) => panic!("build: {e}"),
        }
    }

    fn adapter_with(&self, key: &str, organisation: &str, workspace: &str) -> Arc<dyn CrmAdapter> {
        let registry = Registry::new(transport(Duration::from_secs(10)));
        self.build(&registry, key, &self.settings(organisation, workspace))
    }

    fn adapter(&self) -> Arc<dyn CrmAdapter> {
        self.adapter_with(
            KARIA_SANDBOX_KEY,
            KARIA_SANDBOX_ORGANISATION,
            KARIA_SANDBOX_WORKSPACE,
        )
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

    async fn calls(&self, route: &str) -> u64 {
        self.stats().await["requests"][route].as_u64().unwrap_or(0)
    }
}

fn prepared(adapter: &dyn CrmAdapter, mode: WriteMode, value: Value) -> ContactInput {
    let input: ContactInput = serde_json::from_value(value).expect("contact input");
    match prepare_write(adapter.declaration(), mode, &input, false) {
        Ok(p) => {
            assert!(p.warnings.is_empty(), "{:?}", p.warnings);
            p.input
        }
        Err(e) => panic!("validation: {:?}", e.errors),
    }
}

async fn create(adapter: &dyn CrmAdapter, value: Value) -> WriteOutcome {
    let input = prepared(adapter, WriteMode::Create, value);
    match adapter.create_contact(&input).await {
        Ok(outcome) => outcome,
        Err(e) => panic!("create: {e}"),
    }
}

async fn update(adapter: &dyn CrmAdapter, id: &RemoteId, value: Value) -> WriteOutcome {
    let input = prepared(adapter, WriteMode::Update, value);
    match adapter.update_contact(id, &input).await {
        Ok(outcome) => outcome,
        Err(e) => panic!("update: {e}"),
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

fn full_body() -> Value {
    json!({
        "firstName": "Zoë",
        "lastName": "Ñúñez-Ærø",
        "emailAddresses": [
            {"emailAddress": "zoe.nunez@example.com"},
            {"emailAddress": "z.n@example.org"}
        ],
        "phoneNumbers": [
            {"phoneNumber": "+61 491 570 156"},
            {"phoneNumber": "(02) 5550 0123"}
        ],
        "addresses": [
            {"addressType": "current", "street1": "12 Rue de l'Église", "street2": "Bâtiment B",
             "city": "Saint-Étienne", "state": "Auvergne-Rhône-Alpes", "postalCode": "42000", "country": "France"},
            {"addressType": "postal", "street1": "5/10 Example Street", "street2": "Level 2",
             "city": "Sydney", "state": "NSW", "postalCode": "2000", "country": "Australia"},
            {"addressType": "business", "street1": "東京都千代田区丸の内1-1", "street2": "Главное здание",
             "city": "東京", "state": "東京都", "postalCode": "100-0005", "country": "日本"}
        ],
        "remoteFields": {
            "preferredName": "Zo", "middleNames": "Anaïs", "title": "Dr", "dateOfBirth": "1990-04-12",
            "status": "active", "type": "individual", "externalReference": "crm-gateway:0042",
            "description": "Met at the Lyon expo — très bien.", "relationshipStatus": "married",
            "residencyStatus": "citizen", "metadata": "{\"source\":\"expo\"}",
            "numberOfDependents": 2, "preferredContactMethods": ["email", "phone"]
        }
    })
}

#[tokio::test]
async fn create_then_get_round_trips_every_stored_field() {
    let sim = Sim::start().await;
    let karia = sim.adapter();
    let body = full_body();
    let outcome = create(karia.as_ref(), body.clone()).await;
    assert!(
        outcome.failed_steps.is_empty(),
        "{:?}",
        outcome.failed_steps
    );
    assert!(outcome.warnings.is_empty(), "{:?}", outcome.warnings);
    let created = outcome.contact;
    let got = karia.get_contact(&created.remote_id).await.expect("get");
    assert_eq!(got, created, "create answers the contact as get reads it");

    assert_eq!(got.first_name.as_deref(), Some("Zoë"));
    assert_eq!(got.last_name.as_deref(), Some("Ñúñez-Ærø"));
    assert_eq!(emails(&got), ["zoe.nunez@example.com", "z.n@example.org"]);
    assert_eq!(
        phones(&got),
        ["+61 491 570 156", "(02) 5550 0123"],
        "phones are stored as given"
    );
    let sent: Vec<gateway_core::Address> =
        serde_json::from_value(body["addresses"].clone()).expect("addresses");
    assert_eq!(got.addresses, sent, "every address field round-trips");
    let rf = &got.remote_fields;
    for (key, value) in body["remoteFields"].as_object().expect("remote fields") {
        assert_eq!(rf.get(key), Some(value), "{key}");
    }
    assert_eq!(rf["referenceId"], format!("contact_{}", got.remote_id));
    assert!(rf["organisationId"].is_number() && rf["version"].is_number());
    assert!(got.remote_created_at.is_some() && got.remote_updated_at.is_some());
    assert_eq!(got.remote_deleted_at, None);

    // The contact is also reachable by its referenceId (docs/providers/karia.md): ids are opaque strings.
    let by_reference = karia
        .get_contact(&RemoteId::from(format!("contact_{}", got.remote_id)))
        .await
        .expect("by referenceId");
    assert_eq!(by_reference.remote_id, got.remote_id);

    assert_eq!(sim.calls(CREATE_ROUTE).await, 1);
    assert_eq!(sim.calls(ADDRESS_ROUTE).await, 3);
    assert_eq!(
        sim.calls(METHOD_ROUTE).await,
        0,
        "methods travel in the create body"
    );
}

/// Fails exactly the second address call: the first is held by latency until the failure
/// rule is in place, so the rule cannot catch it.
async fn fail_second_address(sim: &Sim) {
    sim.fault(json!({"latencyMs": 1500, "count": 1, "routes": [ADDRESS_ROUTE]}))
        .await;
}

async fn arm_after_first_address(sim: &Sim) {
    for _ in 0..200 {
        if sim.calls(ADDRESS_ROUTE).await >= 1 {
            sim.fault(json!({"status": 503, "count": 1, "routes": [ADDRESS_ROUTE]}))
                .await;
            return;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    panic!("the first address call never arrived");
}

#[tokio::test]
async fn failed_address_step_keeps_the_contact_and_an_update_finishes_it() {
    let sim = Sim::start().await;
    let karia = sim.adapter();
    let body = full_body();
    fail_second_address(&sim).await;
    let input = prepared(karia.as_ref(), WriteMode::Create, body.clone());
    let (outcome, ()) = tokio::join!(karia.create_contact(&input), arm_after_first_address(&sim));
    let outcome = outcome.expect("the contact exists, so the create succeeds");

    assert_eq!(outcome.failed_steps.len(), 1, "{:?}", outcome.failed_steps);
    let step = &outcome.failed_steps[0];
    assert_eq!(step.step, "contact.address.create");
    assert_eq!(step.pointer.as_deref(), Some("/addresses/1"));
    assert_eq!(step.status, "failed");
    assert_eq!(step.provider_status, Some(503));
    assert!(
        step.error.as_deref().is_some_and(|e| e.contains("503")),
        "{step:?}"
    );
    let contact = &outcome.contact;
    assert!(
        !contact.remote_id.as_str().is_empty(),
        "the remote id is known"
    );
    let streets: Vec<Option<&str>> = contact
        .addresses
        .iter()
        .map(|a| a.street1.as_deref())
        .collect();
    assert_eq!(
        streets,
        [Some("12 Rue de l'Église"), Some("東京都千代田区丸の内1-1")],
        "the steps after the failed one still ran"
    );
    assert_eq!(emails(contact).len(), 2);

    // Resending the original body as an update creates only what is missing.
    let finished = update(karia.as_ref(), &contact.remote_id, body.clone()).await;
    assert!(
        finished.failed_steps.is_empty(),
        "{:?}",
        finished.failed_steps
    );
    assert!(finished.warnings.is_empty(), "{:?}", finished.warnings);
    let sent: Vec<gateway_core::Address> =
        serde_json::from_value(body["addresses"].clone()).expect("addresses");
    let mut got = finished.contact.addresses.clone();
    let mut want = sent.clone();
    let key = |a: &gateway_core::Address| a.street1.clone();
    got.sort_by_key(key);
    want.sort_by_key(key);
    assert_eq!(got, want, "all three addresses, once each");
    assert_eq!(emails(&finished.contact).len(), 2);
    assert_eq!(phones(&finished.contact).len(), 2);

    assert_eq!(sim.calls(CREATE_ROUTE).await, 1, "no second contact");
    assert_eq!(
        sim.calls(ADDRESS_ROUTE).await,
        4,
        "3 on create (one failed) + 1 on update"
    );
    assert_eq!(sim.calls(METHOD_ROUTE).await, 0, "no method twice");
    assert_eq!(sim.stats().await["contacts"], 1);

    // A second resend changes nothing at all.
    let again = update(karia.as_ref(), &contact.remote_id, body).await;
    assert_eq!(again.contact.addresses.len(), 3);
    assert_eq!(sim.calls(ADDRESS_ROUTE).await, 4);
    assert_eq!(sim.calls(METHOD_ROUTE).await, 0);
}

#[tokio::test]
async fn failed_contact_step_is_an_error() {
    let sim = Sim::start().await;
    let karia = sim.adapter();
    sim.fault(json!({"status": 500, "count": 1, "routes": [CREATE_ROUTE]}))
        .await;
    let input = prepared(karia.as_ref(), WriteMode::Create, full_body());
    let err = karia.create_contact(&input).await.expect_err("no contact");
    assert_eq!(err.kind, ErrorKind::Unavailable, "{err}");
    assert_eq!(
        sim.calls(ADDRESS_ROUTE).await,
        0,
        "nothing to attach addresses to"
    );
}

#[tokio::test]
async fn listing_enumerates_each_contact_exactly_once() {
    let sim = Sim::start().await;
    let karia = sim.adapter();
    let seeded = sim.control("seed", json!({"count": 120})).await;
    let expected: HashSet<String> = seeded["remoteIds"]
        .as_array()
        .expect("remote ids")
        .iter()
        .filter_map(|v| v.as_str().map(str::to_owned))
        .collect();
    assert_eq!(expected.len(), 120);

    for (page_size, expected_pages) in [(50, 3), (40, 4), (100, 2)] {
        let mut seen = Vec::new();
        let mut cursor = None;
        let mut pages = 0;
        loop {
            let page = karia
                .list_contacts(ListRequest { page_size, cursor })
                .await
                .expect("page");
            pages += 1;
            assert!(page.contacts.len() <= page_size as usize);
            seen.extend(page.contacts.into_iter().map(|c| c.remote_id.0));
            match page.next {
                Some(next) => cursor = Some(next),
                None => break,
            }
            assert!(pages < 20, "the listing must end");
        }
        assert_eq!(pages, expected_pages, "page size {page_size}");
        assert_eq!(seen.len(), 120, "no contact twice (page size {page_size})");
        assert_eq!(seen.into_iter().collect::<HashSet<_>>(), expected);
    }

    // Oversized pages are clamped to Karia's maximum; a foreign cursor is refused.
    let page = karia
        .list_contacts(ListRequest {
            page_size: 500,
            cursor: None,
        })
        .await
        .expect("clamped");
    assert_eq!(page.contacts.len(), 100);
    assert_eq!(page.next.as_deref(), Some("100"));
    let err = karia
        .list_contacts(ListRequest {
            page_size: 10,
            cursor: Some("abc".into()),
        })
        .await
        .expect_err("not a cursor");
    assert_eq!(err.kind, ErrorKind::InvalidInput);
    // A forged offset past what a server parses is refused before any call; one just under
    // the bound is sent and simply finds nothing (offset + returned cannot overflow).
    for forged in [u64::MAX.to_string(), (i64::MAX as u64 + 1).to_string()] {
        let err = karia
            .list_contacts(ListRequest {
                page_size: 10,
                cursor: Some(forged.clone()),
            })
            .await
            .expect_err("forged offset");
        assert_eq!(err.kind, ErrorKind::InvalidInput, "{forged}");
        assert_eq!(err.provider_status, None, "{forged}: never sent");
    }
    let far = karia
        .list_contacts(ListRequest {
            page_size: 10,
            cursor: Some(i64::MAX.to_string()),
        })
        .await
        .expect("an offset past the end is an empty page");
    assert!(far.contacts.is_empty() && far.next.is_none());
}

#[tokio::test]
async fn update_changes_only_what_was_sent() {
    let sim = Sim::start().await;
    let karia = sim.adapter();
    let created = create(
        karia.as_ref(),
        json!({
            "firstName": "Jane",
            "lastName": "Citizen",
            "emailAddresses": [{"emailAddress": "a@example.com"}, {"emailAddress": "b@example.com"}],
            "phoneNumbers": [{"phoneNumber": "+61491570156"}],
            "addresses": [{"addressType": "current", "street1": "10 Example Street", "city": "Sydney"}],
            "remoteFields": {"title": "Ms", "middleNames": "Mary", "numberOfDependents": 1}
        }),
    )
    .await
    .contact;
    let id = created.remote_id.clone();

    let renamed = update(karia.as_ref(), &id, json!({"firstName": "Janet"})).await;
    assert!(renamed.warnings.is_empty() && renamed.failed_steps.is_empty());
    let renamed = renamed.contact;
    assert_eq!(renamed.first_name.as_deref(), Some("Janet"));
    assert_eq!(renamed.last_name.as_deref(), Some("Citizen"));
    assert_eq!(emails(&renamed), ["a@example.com", "b@example.com"]);
    assert_eq!(phones(&renamed), ["+61491570156"]);
    assert_eq!(renamed.addresses, created.addresses);
    assert_eq!(renamed.remote_fields["title"], "Ms");
    assert_eq!(renamed.remote_fields["numberOfDependents"], 1);
    assert_eq!(sim.calls(METHOD_ROUTE).await, 0);
    assert_eq!(sim.calls(ADDRESS_ROUTE).await, 1);

    // null clears one scalar and leaves the others.
    let cleared = update(
        karia.as_ref(),
        &id,
        json!({"firstName": null, "remoteFields": {"middleNames": null, "numberOfDependents": 3}}),
    )
    .await
    .contact;
    assert_eq!(cleared.first_name, None);
    assert_eq!(cleared.remote_fields["middleNames"], Value::Null);
    assert_eq!(cleared.remote_fields["numberOfDependents"], 3);
    assert_eq!(cleared.remote_fields["title"], "Ms");

    // A list adds what is missing; what Karia cannot remove is said, not hidden.
    let swapped = update(
        karia.as_ref(),
        &id,
        json!({"emailAddresses": [{"emailAddress": "B@example.com"}, {"emailAddress": "c@example.com"}]}),
    )
    .await;
    assert_eq!(
        emails(&swapped.contact),
        ["a@example.com", "b@example.com", "c@example.com"]
    );
    let warned: Vec<(&str, &str)> = swapped
        .warnings
        .iter()
        .map(|w| (w.pointer.as_str(), w.code.as_str()))
        .collect();
    assert_eq!(warned, [("/emailAddresses", "not_supported")]);
    assert!(!swapped.warnings[0].message.contains("a@example.com"));
    assert_eq!(phones(&swapped.contact), ["+61491570156"]);
    assert_eq!(sim.calls(METHOD_ROUTE).await, 1);
    assert_eq!(
        sim.calls(PATCH_ROUTE).await,
        2,
        "a list-only update sends no PATCH"
    );

    let got = karia.get_contact(&id).await.expect("get");
    assert_eq!(got, swapped.contact);
}

#[tokio::test]
async fn deleted_contacts_keep_their_tombstone() {
    let sim = Sim::start().await;
    let karia = sim.adapter();
    let created = create(karia.as_ref(), json!({"lastName": "Gone"}))
        .await
        .contact;
    karia
        .delete_contact(&created.remote_id)
        .await
        .expect("delete");
    let got = karia
        .get_contact(&created.remote_id)
        .await
        .expect("soft deleted");
    assert!(got.remote_deleted_at.is_some(), "{got:?}");
    assert_eq!(got.last_name.as_deref(), Some("Gone"));
    let page = karia
        .list_contacts(ListRequest {
            page_size: 10,
            cursor: None,
        })
        .await
        .expect("list");
    assert!(
        page.contacts.is_empty(),
        "the list leaves deleted contacts out"
    );

    let err = karia
        .get_contact(&RemoteId::from("999999"))
        .await
        .expect_err("unknown");
    assert_eq!(err.kind, ErrorKind::NotFound, "{err}");
    assert_eq!(err.provider_status, Some(404));
    let odd = karia
        .get_contact(&RemoteId::from(".."))
        .await
        .expect_err("not an id");
    assert_eq!(odd.kind, ErrorKind::NotFound);
}

#[tokio::test]
async fn wrong_key_is_rejected_without_echoing_it() {
    let sim = Sim::start().await;
    let wrong = "wrong-key-7f3a9c";
    let karia = sim.adapter_with(wrong, KARIA_SANDBOX_ORGANISATION, KARIA_SANDBOX_WORKSPACE);
    let err = karia.health_check().await.expect_err("rejected");
    assert_eq!(err.kind, ErrorKind::CredentialRejected, "{err}");
    assert_eq!(err.provider_status, Some(401));
    let text = format!("{err} {err:?}");
    assert!(!text.contains(wrong), "{text}");
    let err = karia
        .get_contact(&RemoteId::from("1"))
        .await
        .expect_err("rejected");
    assert_eq!(err.kind, ErrorKind::CredentialRejected);
    assert!(!format!("{err} {err:?}").contains(wrong));
}

#[tokio::test]
async fn wrong_workspace_or_organisation_is_misconfigured() {
    let sim = Sim::start().await;
    sim.adapter()
        .health_check()
        .await
        .expect("the sandbox account is healthy");

    let karia = sim.adapter_with(KARIA_SANDBOX_KEY, KARIA_SANDBOX_ORGANISATION, "2");
    let err = karia.health_check().await.expect_err("unknown workspace");
    assert_eq!(err.kind, ErrorKind::Misconfigured, "{err}");
    assert!(
        err.message.contains("workspace not found in organisation"),
        "{}",
        err.message
    );
    let err = karia
        .get_contact(&RemoteId::from("1"))
        .await
        .expect_err("no access");
    assert_eq!(err.kind, ErrorKind::Misconfigured, "{err}");

    let karia = sim.adapter_with(KARIA_SANDBOX_KEY, "99", KARIA_SANDBOX_WORKSPACE);
    let err = karia
        .health_check()
        .await
        .expect_err("unknown organisation");
    assert_eq!(err.kind, ErrorKind::Misconfigured, "{err}");
}

#[tokio::test]
async fn provider_faults_classify() {
    let sim = Sim::start().await;
    let karia = sim.adapter();

    sim.fault(json!({"status": 503, "count": 1})).await;
    let err = karia.health_check().await.expect_err("503");
    assert_eq!(err.kind, ErrorKind::Unavailable, "{err}");
    assert_eq!(err.provider_status, Some(503));
    assert!(err.is_retryable());
    karia.health_check().await.expect("the fault was used up");

    sim.fault(json!({"malformed": true, "count": 1})).await;
    let err = karia
        .list_contacts(ListRequest {
            page_size: 5,
            cursor: None,
        })
        .await
        .expect_err("malformed");
    assert_eq!(err.kind, ErrorKind::Mapping, "{err}");

    sim.fault(json!({"status": 429, "count": 1})).await;
    let err = karia.health_check().await.expect_err("429");
    assert_eq!(err.kind, ErrorKind::RateLimited, "{err}");
    assert_eq!(err.retry_after, None);
}

#[tokio::test]
async fn latency_past_the_request_timeout_is_a_timeout() {
    let sim = Sim::start().await;
    let registry = Registry::new(transport(Duration::from_millis(200)));
    let karia = sim.build(
        &registry,
        KARIA_SANDBOX_KEY,
        &sim.settings(KARIA_SANDBOX_ORGANISATION, KARIA_SANDBOX_WORKSPACE),
    );
    sim.fault(json!({"latencyMs": 1500, "count": 1})).await;
    let err = karia.health_check().await.expect_err("timeout");
    assert_eq!(err.kind, ErrorKind::Timeout, "{err}");
}

#[tokio::test]
async fn switched_off_operations_are_unsupported_and_declared_so() {
    let sim = Sim::start().await;
    let config = AdaptersConfig {
        karia: KariaConfig {
            delete: false,
            ..KariaConfig::default()
        },
    };
    let registry = Registry::with_config(transport(Duration::from_secs(10)), config);
    let karia = sim.build(
        &registry,
        KARIA_SANDBOX_KEY,
        &sim.settings(KARIA_SANDBOX_ORGANISATION, KARIA_SANDBOX_WORKSPACE),
    );
    let decl = registry.declaration(ProviderKind::Karia).expect("karia");
    assert!(!decl.operations.delete);
    assert!(decl.operations.create && decl.operations.list && decl.operations.update);
    assert!(!karia.declaration().operations.delete);
    assert_eq!(karia.declaration(), decl);
    assert!(
        gateway_adapters::declaration(ProviderKind::Karia).is_some_and(|d| d.operations.delete),
        "the free declaration stays the full default"
    );

    let created = create(karia.as_ref(), json!({"lastName": "Kept"}))
        .await
        .contact;
    let err = karia
        .delete_contact(&created.remote_id)
        .await
        .expect_err("switched off");
    assert_eq!(err.kind, ErrorKind::Unsupported, "{err}");
    let got = karia
        .get_contact(&created.remote_id)
        .await
        .expect("still there");
    assert_eq!(got.remote_deleted_at, None);
    assert!(
        sim.stats().await["requests"]
            .as_object()
            .is_some_and(|r| !r.keys().any(|k| k.starts_with("DELETE"))),
        "no delete call was made"
    );

    // Everything off but the documented calls.
    let registry = Registry::with_config(
        transport(Duration::from_secs(10)),
        AdaptersConfig {
            karia: KariaConfig {
                list: false,
                update: false,
                delete: false,
            },
        },
    );
    let karia = sim.build(
        &registry,
        KARIA_SANDBOX_KEY,
        &sim.settings(KARIA_SANDBOX_ORGANISATION, KARIA_SANDBOX_WORKSPACE),
    );
    let err = karia
        .list_contacts(ListRequest {
            page_size: 5,
            cursor: None,
        })
        .await
        .expect_err("off");
    assert_eq!(err.kind, ErrorKind::Unsupported);
    let err = karia
        .update_contact(&created.remote_id, &ContactInput::default())
        .await
        .expect_err("off");
    assert_eq!(err.kind, ErrorKind::Unsupported);
    karia
        .get_contact(&created.remote_id)
        .await
        .expect("get is documented and always on");
}
