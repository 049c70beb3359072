//! The Bird adapter over real HTTP against the Bird simulator (`gateway_sandbox`), built the
//! way the gateway builds it: through `Registry::build_raw` (no resilience layer: its retries would hide the
//! classification under test) with a transport that allows the
//! loopback base URL. Each test runs its own simulator, so tests share no state.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use gateway_adapters::Registry;
use gateway_core::{
    prepare_write, ContactInput, CrmAdapter, ErrorKind, ListRequest, ProviderKind, RemoteId,
    WriteMode,
};
use gateway_sandbox::{BIRD_SANDBOX_KEY, BIRD_SANDBOX_WORKSPACE};
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
            base: format!("http://{addr}/bird"),
            http: reqwest::Client::new(),
            _stop: stop,
        }
    }

    fn adapter_with(
        &self,
        key: &str,
        workspace: &str,
        request_timeout: Duration,
    ) -> Arc<dyn CrmAdapter> {
        let transport = Transport::new(&TransportConfig {
            request_timeout,
            allow_private_base_urls: true,
            ..TransportConfig::default()
        })
        .expect("transport");
        let settings = json!({"workspaceId": workspace, "baseUrl": self.base});
        match Registry::new(transport).build_raw(
            ProviderKind::Bird,
            &settings,
            SecretString::from(key.to_owned()),
        ) {
            Ok(adapter) => adapter,
            Err(e) => panic!("build: {e}"),
        }
    }

    fn adapter(&self) -> Arc<dyn CrmAdapter> {
        self.adapter_with(
            BIRD_SANDBOX_KEY,
            BIRD_SANDBOX_WORKSPACE,
            Duration::from_secs(10),
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
}

fn prepared(adapter: &dyn CrmAdapter, mode: WriteMode, value: Value) -> ContactInput {
    let input: ContactInput = serde_json::from_value(value).expect("contact input");
    match prepare_write(adapter.declaration(), mode, &input, false) {
        Ok(p) => p.input,
        Err(e) => panic!("validation: {:?}", e.errors),
    }
}

fn emails(c: &gateway_core::RemoteContact) -> Vec<&str> {
    c.email_addresses
        .iter()
        .map(|e| e.email_address.as_str())
        .collect()
}

fn phones(c: &gateway_core::RemoteContact) -> Vec<&str> {
    c.phone_numbers
        .iter()
        .map(|p| p.phone_number.as_str())
        .collect()
}

async fn create(adapter: &dyn CrmAdapter, value: Value) -> gateway_core::RemoteContact {
    let input = prepared(adapter, WriteMode::Create, value);
    match adapter.create_contact(&input).await {
        Ok(outcome) => outcome.contact,
        Err(e) => panic!("create: {e}"),
    }
}

#[tokio::test]
async fn create_then_get_preserves_every_stored_field() {
    let sim = Sim::start().await;
    let bird = sim.adapter();
    let list_id = "123e4567-e89b-12d3-a456-426614174000";
    for (first, last) in [
        ("José", "Ñúñez-Ærø"),
        ("美咲", "山田"),
        ("Дмитрий", "Шостакович"),
    ] {
        let tag = last.chars().count();
        let created = create(
            bird.as_ref(),
            json!({
                "firstName": first,
                "lastName": last,
                "emailAddresses": [
                    {"emailAddressType": "main", "emailAddress": format!("one.{tag}@example.com")},
                    {"emailAddress": format!("two.{tag}@example.org")},
                    {"emailAddress": format!("three.{tag}@example.net")}
                ],
                "phoneNumbers": [
                    {"phoneNumberType": "mobile", "phoneNumber": format!("+61 491 570 1{tag:02}")},
                    {"phoneNumber": format!("+61 (2) 5550 01{tag:02}")}
                ],
                "remoteFields": {"listIds": [list_id], "tier": "gold", "score": 4.5, "labels": ["A", "B"]}
            }),
        )
        .await;
        let got = bird.get_contact(&created.remote_id).await.expect("get");
        assert_eq!(got, created, "create answers the same contact get reads");
        assert_eq!(got.first_name.as_deref(), Some(first));
        assert_eq!(got.last_name.as_deref(), Some(last));
        assert_eq!(
            emails(&got),
            [
                format!("one.{tag}@example.com"),
                format!("two.{tag}@example.org"),
                format!("three.{tag}@example.net")
            ]
        );
        assert_eq!(
            phones(&got),
            [format!("+614915701{tag:02}"), format!("+612555001{tag:02}")]
        );
        let rf = &got.remote_fields;
        assert_eq!(rf["listIds"], json!([list_id]));
        assert_eq!(rf["tier"], "gold");
        assert_eq!(rf["score"], 4.5);
        assert_eq!(rf["labels"], json!(["A", "B"]));
        assert_eq!(rf["displayName"], format!("{first} {last}"));
        assert_eq!(rf["workspaceId"], BIRD_SANDBOX_WORKSPACE);
        assert!(got.remote_created_at.is_some() && got.remote_updated_at.is_some());
    }
}

#[tokio::test]
async fn listing_enumerates_each_contact_exactly_once() {
    let sim = Sim::start().await;
    let bird = sim.adapter();
    let seeded = sim.control("seed", json!({"count": 25})).await;
    let expected: HashSet<String> = seeded["remoteIds"]
        .as_array()
        .expect("remote ids")
        .iter()
        .filter_map(|v| v.as_str().map(str::to_owned))
        .collect();
    assert_eq!(expected.len(), 25);

    let mut seen = Vec::new();
    let mut cursor = None;
    let mut pages = 0;
    loop {
        let page = bird
            .list_contacts(ListRequest {
                page_size: 10,
                cursor,
            })
            .await
            .expect("page");
        pages += 1;
        assert!(page.contacts.len() <= 10);
        seen.extend(page.contacts.into_iter().map(|c| c.remote_id.0));
        match page.next {
            Some(next) => cursor = Some(next),
            None => break,
        }
        assert!(pages < 10, "the listing must end");
    }
    assert_eq!(pages, 3);
    assert_eq!(seen.len(), 25, "no contact twice");
    assert_eq!(seen.into_iter().collect::<HashSet<_>>(), expected);

    // Oversized pages are clamped to Bird's maximum rather than refused by it.
    let page = bird
        .list_contacts(ListRequest {
            page_size: 500,
            cursor: None,
        })
        .await
        .expect("clamped");
    assert_eq!(page.contacts.len(), 25);
    assert_eq!(page.next, None);
}

#[tokio::test]
async fn update_changes_only_what_was_sent() {
    let sim = Sim::start().await;
    let bird = sim.adapter();
    let created = create(
        bird.as_ref(),
        json!({
            "firstName": "Jane",
            "lastName": "Citizen",
            "emailAddresses": [{"emailAddress": "a@example.com"}, {"emailAddress": "b@example.com"}],
            "phoneNumbers": [{"phoneNumber": "+61491570156"}],
            "remoteFields": {"tier": "gold", "score": 3}
        }),
    )
    .await;
    let id = created.remote_id.clone();

    // A rename keeps identifiers and attributes, and rebuilds the display name.
    let rename = prepared(
        bird.as_ref(),
        WriteMode::Update,
        json!({"firstName": "Janet"}),
    );
    let renamed = bird
        .update_contact(&id, &rename)
        .await
        .expect("rename")
        .contact;
    assert_eq!(renamed.first_name.as_deref(), Some("Janet"));
    assert_eq!(renamed.last_name.as_deref(), Some("Citizen"));
    assert_eq!(emails(&renamed), ["a@example.com", "b@example.com"]);
    assert_eq!(phones(&renamed), ["+61491570156"]);
    assert_eq!(renamed.remote_fields["tier"], "gold");
    assert_eq!(renamed.remote_fields["displayName"], "Janet Citizen");
    assert_eq!(
        renamed.remote_fields["computedDisplayName"],
        "Janet Citizen"
    );

    // Replacing the emails adds the new identifier and removes the dropped one.
    let swap = prepared(
        bird.as_ref(),
        WriteMode::Update,
        json!({"emailAddresses": [{"emailAddress": "b@example.com"}, {"emailAddress": "c@example.com"}]}),
    );
    let swapped = bird.update_contact(&id, &swap).await.expect("swap").contact;
    assert_eq!(emails(&swapped), ["b@example.com", "c@example.com"]);
    assert_eq!(phones(&swapped), ["+61491570156"]);
    assert_eq!(swapped.first_name.as_deref(), Some("Janet"));

    // null clears one attribute and leaves the others.
    let clear = prepared(
        bird.as_ref(),
        WriteMode::Update,
        json!({"remoteFields": {"tier": null}}),
    );
    let cleared = bird
        .update_contact(&id, &clear)
        .await
        .expect("clear")
        .contact;
    assert!(!cleared.remote_fields.contains_key("tier"));
    assert_eq!(cleared.remote_fields["score"], 3);
    assert_eq!(emails(&cleared), ["b@example.com", "c@example.com"]);

    let got = bird.get_contact(&id).await.expect("get");
    assert_eq!(got, cleared);

    let stats: Value = sim
        .http
        .get(format!("{}/_sim/stats", sim.base))
        .send()
        .await
        .expect("stats")
        .json()
        .await
        .expect("json");
    let calls = &stats["requests"];
    assert_eq!(
        calls["POST /workspaces/{workspaceId}/contacts/{contactId}/identifiers"], 1,
        "{calls}"
    );
    assert_eq!(
        calls["DELETE /workspaces/{workspaceId}/contacts/{contactId}/identifiers"], 1,
        "{calls}"
    );
    assert_eq!(
        calls["PATCH /workspaces/{workspaceId}/contacts/{contactId}"], 3,
        "{calls}"
    );
}

#[tokio::test]
async fn update_with_an_identifier_of_another_contact_is_a_conflict_naming_the_step() {
    let sim = Sim::start().await;
    let bird = sim.adapter();
    create(
        bird.as_ref(),
        json!({"lastName": "Owner", "emailAddresses": [{"emailAddress": "taken@example.com"}]}),
    )
    .await;
    let other = create(
        bird.as_ref(),
        json!({"lastName": "Other", "emailAddresses": [{"emailAddress": "mine@example.com"}]}),
    )
    .await;
    let change = prepared(
        bird.as_ref(),
        WriteMode::Update,
        json!({"emailAddresses": [{"emailAddress": "mine@example.com"}, {"emailAddress": "taken@example.com"}]}),
    );
    let err = bird
        .update_contact(&other.remote_id, &change)
        .await
        .expect_err("conflict");
    assert_eq!(err.kind, ErrorKind::Conflict, "{err}");
    assert!(
        err.message
            .contains("adding the emailaddress identifier from /emailAddresses/1"),
        "{}",
        err.message
    );
    assert_eq!(err.fields[0].pointer, "/emailAddresses/1");
    let unchanged = bird.get_contact(&other.remote_id).await.expect("get");
    assert_eq!(emails(&unchanged), ["mine@example.com"]);
}

#[tokio::test]
async fn deleted_contacts_are_not_found() {
    let sim = Sim::start().await;
    let bird = sim.adapter();
    let created = create(bird.as_ref(), json!({"lastName": "Gone"})).await;
    bird.delete_contact(&created.remote_id)
        .await
        .expect("delete");
    let err = bird
        .get_contact(&created.remote_id)
        .await
        .expect_err("gone");
    assert_eq!(err.kind, ErrorKind::NotFound, "{err}");
    assert_eq!(err.provider_status, Some(404));
    let again = bird
        .delete_contact(&created.remote_id)
        .await
        .expect_err("already gone");
    assert_eq!(again.kind, ErrorKind::NotFound);
    let odd = bird
        .get_contact(&RemoteId::from(".."))
        .await
        .expect_err("not an id");
    assert_eq!(odd.kind, ErrorKind::NotFound);
}

#[tokio::test]
async fn wrong_key_is_rejected_without_echoing_it() {
    let sim = Sim::start().await;
    let wrong = "wrong-key-7f3a9c";
    let bird = sim.adapter_with(wrong, BIRD_SANDBOX_WORKSPACE, Duration::from_secs(10));
    let err = bird.health_check().await.expect_err("rejected");
    assert_eq!(err.kind, ErrorKind::CredentialRejected, "{err}");
    assert_eq!(err.provider_status, Some(401));
    let text = format!("{err} {err:?}");
    assert!(!text.contains(wrong), "{text}");
    let err = bird
        .get_contact(&RemoteId::from("5c0f7e2a-8d41-4b6e-9a3c-1f2e3d4c5b6a"))
        .await
        .expect_err("rejected");
    assert_eq!(err.kind, ErrorKind::CredentialRejected);
}

#[tokio::test]
async fn wrong_workspace_is_misconfigured() {
    let sim = Sim::start().await;
    let bird = sim.adapter_with(
        BIRD_SANDBOX_KEY,
        "2d7d5b6e-0000-4000-8000-0000000000ff",
        Duration::from_secs(10),
    );
    let err = bird.health_check().await.expect_err("unknown workspace");
    assert_eq!(err.kind, ErrorKind::Misconfigured, "{err}");
    assert!(
        err.message.contains("settings.workspaceId"),
        "{}",
        err.message
    );
    sim.adapter()
        .health_check()
        .await
        .expect("the right workspace is healthy");
}

#[tokio::test]
async fn provider_faults_classify() {
    let sim = Sim::start().await;
    let bird = sim.adapter();

    sim.fault(json!({"status": 503, "count": 1})).await;
    let err = bird.health_check().await.expect_err("503");
    assert_eq!(err.kind, ErrorKind::Unavailable, "{err}");
    assert_eq!(err.provider_status, Some(503));
    assert!(err.is_retryable());
    bird.health_check().await.expect("the fault was used up");

    sim.fault(json!({"malformed": true, "count": 1})).await;
    let err = bird
        .list_contacts(ListRequest {
            page_size: 5,
            cursor: None,
        })
        .await
        .expect_err("malformed");
    assert_eq!(err.kind, ErrorKind::Mapping, "{err}");

    sim.fault(json!({"status": 429, "count": 1})).await;
    let err = bird.health_check().await.expect_err("429");
    assert_eq!(err.kind, ErrorKind::RateLimited, "{err}");
    assert_eq!(err.retry_after, None);
}

#[tokio::test]
async fn latency_past_the_request_timeout_is_a_timeout() {
    let sim = Sim::start().await;
    let bird = sim.adapter_with(
        BIRD_SANDBOX_KEY,
        BIRD_SANDBOX_WORKSPACE,
        Duration::from_millis(200),
    );
    sim.fault(json!({"latencyMs": 1500, "count": 1})).await;
    let err = bird.health_check().await.expect_err("timeout");
    assert_eq!(err.kind, ErrorKind::Timeout, "{err}");
}

#[tokio::test]
async fn duplicate_email_on_create_is_a_conflict() {
    let sim = Sim::start().await;
    let bird = sim.adapter();
    create(
        bird.as_ref(),
        json!({"lastName": "First", "emailAddresses": [{"emailAddress": "dup@example.com"}]}),
    )
    .await;
    let input = prepared(
        bird.as_ref(),
        WriteMode::Create,
        json!({"lastName": "Second", "emailAddresses": [{"emailAddress": "dup@example.com"}]}),
    );
    let err = bird.create_contact(&input).await.expect_err("conflict");
    assert_eq!(err.kind, ErrorKind::Conflict, "{err}");
    assert_eq!(err.provider_status, Some(409));
    assert_eq!(err.provider_code.as_deref(), Some("Conflict"));
    assert_eq!(err.fields[0].pointer, "/emailAddresses");
}

#[tokio::test]
async fn too_long_display_name_is_refused_before_any_call() {
    let sim = Sim::start().await;
    let bird = sim.adapter();
    let created = create(
        bird.as_ref(),
        json!({"firstName": "Jane", "lastName": "Citizen"}),
    )
    .await;
    let long = "x".repeat(150);
    let change = prepared(bird.as_ref(), WriteMode::Update, json!({"firstName": long}));
    let err = bird
        .update_contact(&created.remote_id, &change)
        .await
        .expect_err("too long");
    assert_eq!(err.kind, ErrorKind::InvalidInput, "{err}");
    assert_eq!(err.fields[0].pointer, "/lastName");
    assert_eq!(err.fields[0].code, "too_long");
    let stats: Value = sim
        .http
        .get(format!("{}/_sim/stats", sim.base))
        .send()
        .await
        .expect("stats")
        .json()
        .await
        .expect("json");
    assert!(
        stats["requests"]
            .get("PATCH /workspaces/{workspaceId}/contacts/{contactId}")
            .is_none(),
        "{stats}"
    );
}
