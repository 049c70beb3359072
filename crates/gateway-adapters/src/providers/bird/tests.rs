//! Pure tests of the Bird module against `fixtures/bird/`: wire parsing, mapping both ways,
//! the declaration as `prepare_write` applies it, error classification, and that no `Debug`
//! or error text carries the access key.

use std::path::PathBuf;

use gateway_core::{prepare_write, ContactInput, ErrorKind, Operation, RemoteContact, WriteMode};
use reqwest::header::{HeaderMap, HeaderValue, RETRY_AFTER};
use secrecy::SecretString;
use serde_json::{json, Value};

use super::auth::BirdAuth;
use super::settings::BirdSettings;
use super::{declare, error, mapping, wire, BirdAdapter};
use gateway_core::CrmAdapter;

const WS: &str = "2d7d5b6e-0000-4000-8000-000000000001";

fn fixture(name: &str) -> String {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../fixtures/bird")
        .join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("fixture {}: {e}", path.display()))
}

fn fixture_json(name: &str) -> Value {
    serde_json::from_str(&fixture(name)).expect("fixture is JSON")
}

fn contact(value: Value) -> RemoteContact {
    RemoteContact::from(serde_json::from_value::<wire::Contact>(value).expect("wire contact"))
}

fn input(value: Value) -> ContactInput {
    serde_json::from_value(value).expect("contact input")
}

fn prepared(mode: WriteMode, value: Value) -> ContactInput {
    prepare_write(declare::declaration(), mode, &input(value), false)
        .expect("valid input")
        .input
}

fn adapter(secret: &str) -> BirdAdapter {
    let transport =
        gateway_transport::Transport::new(&gateway_transport::TransportConfig::default())
            .expect("transport");
    let settings = BirdSettings::from_json(&json!({"workspaceId": WS}), false).expect("settings");
    BirdAdapter::new(
        transport,
        settings,
        BirdAuth::new(SecretString::from(secret)).expect("auth"),
    )
}

#[test]
fn contact_fixture_maps_every_field() {
    let c = contact(fixture_json("contact.json"));
    assert_eq!(c.remote_id.as_str(), "5c0f7e2a-8d41-4b6e-9a3c-1f2e3d4c5b6a");
    assert_eq!(c.first_name.as_deref(), Some("Jane"));
    assert_eq!(c.last_name.as_deref(), Some("Citizen"));
    let emails: Vec<_> = c
        .email_addresses
        .iter()
        .map(|e| e.email_address.as_str())
        .collect();
    assert_eq!(emails, ["jane.citizen@example.com"]);
    let phones: Vec<_> = c
        .phone_numbers
        .iter()
        .map(|p| p.phone_number.as_str())
        .collect();
    assert_eq!(phones, ["+61491570156"]);
    assert!(c
        .email_addresses
        .iter()
        .all(|e| e.email_address_type.is_none()));
    assert_eq!(
        c.remote_created_at.map(|t| t.to_rfc3339()),
        Some("2025-08-19T19:54:53.663+00:00".into())
    );
    assert_eq!(
        c.remote_updated_at.map(|t| t.to_rfc3339()),
        Some("2025-08-19T19:54:53.663+00:00".into())
    );
    assert_eq!(c.account, None);
    assert!(c.addresses.is_empty());
    assert_eq!(c.remote_deleted_at, None);

    let rf = &c.remote_fields;
    assert_eq!(rf["displayName"], "Jane Citizen");
    assert_eq!(
        rf["initialReference"],
        "028d45dd-8e3f-43bb-8aa5-9d6833f08945"
    );
    assert_eq!(rf["timezone"], "America/Sao_Paulo");
    assert_eq!(rf["rating"], 9.6);
    assert_eq!(rf["cookiesAccepted"], false);
    assert_eq!(rf["labels"], json!(["A", "B"]));
    assert_eq!(
        rf["listIds"],
        json!(["123e4567-e89b-12d3-a456-426614174000"])
    );
    assert_eq!(
        rf["accountIds"],
        json!(["9f0c1d2e-3b4a-4c5d-8e6f-7a8b9c0d1e2f"])
    );
    assert_eq!(rf["companyRefs"], json!(["acme-pty-ltd"]));
    assert_eq!(rf["computedDisplayName"], "Jane Citizen");
    assert_eq!(rf["identifierCount"], 2);
    assert_eq!(rf["isAnonymous"], false);
    assert_eq!(rf["workspaceId"], WS);
    assert_eq!(
        rf["featuredIdentifiers"][1],
        json!({"key": "phonenumber", "value": "+61491570156"})
    );
    for mapped in [
        "firstName",
        "lastName",
        "emailaddress",
        "phonenumber",
        "id",
        "createdAt",
        "updatedAt",
        "attributes",
    ] {
        assert!(
            !rf.contains_key(mapped),
            "{mapped} is a common field, not a remote field"
        );
    }
}

#[test]
fn nothing_bird_returns_is_lost() {
    let mut raw = fixture_json("contact.json");
    raw["somethingNew"] = json!({"nested": [1, 2]});
    raw["attributes"]["firstName"] = json!(["not", "a", "string"]);
    raw["attributes"]["emailaddress"] = json!([{"odd": true}]);
    let c = contact(raw);
    assert_eq!(c.remote_fields["somethingNew"], json!({"nested": [1, 2]}));
    // Shapes the common model cannot hold stay in remoteFields rather than vanish.
    assert_eq!(c.first_name, None);
    assert_eq!(c.remote_fields["firstName"], json!(["not", "a", "string"]));
    assert_eq!(c.remote_fields["emailaddress"], json!([{"odd": true}]));
    // The email then falls back to the featured identifier.
    assert_eq!(
        c.email_addresses[0].email_address,
        "jane.citizen@example.com"
    );
}

#[test]
fn identifiers_fall_back_to_featured_and_accept_a_plain_string() {
    let mut raw = fixture_json("contact.json");
    let attrs = raw["attributes"].as_object_mut().expect("attributes");
    attrs.remove("emailaddress");
    attrs.insert("phonenumber".into(), json!("+61491570158"));
    let c = contact(raw);
    assert_eq!(
        c.email_addresses[0].email_address,
        "jane.citizen@example.com"
    );
    assert_eq!(c.phone_numbers[0].phone_number, "+61491570158");
    assert_eq!(c.phone_numbers.len(), 1);
}

#[test]
fn list_pages_map_and_carry_the_token() {
    let page: wire::ContactPage = serde_json::from_str(&fixture("list_page.json")).expect("page");
    assert_eq!(
        page.next_page_token.as_deref(),
        Some("AQABmMPOk18AXA9-Ko1BS26aPB8uPUxbatdEHWHy9A0G")
    );
    let contacts: Vec<RemoteContact> = page.results.into_iter().map(RemoteContact::from).collect();
    assert_eq!(contacts.len(), 2);
    let john = &contacts[1];
    assert_eq!(john.first_name, None);
    assert_eq!(john.last_name, None);
    assert_eq!(
        john.email_addresses[0].email_address,
        "john.doe@example.org"
    );
    assert!(john.phone_numbers.is_empty());
    assert_eq!(john.remote_fields["displayName"], "John Doe");
    assert!(
        !john.remote_fields.contains_key("listIds"),
        "absent stays absent"
    );

    let last: wire::ContactPage =
        serde_json::from_str(&fixture("list_last_page.json")).expect("last page");
    assert_eq!(last.next_page_token, None);
    let zoe = RemoteContact::from(last.results.into_iter().next().expect("one contact"));
    assert_eq!(zoe.first_name.as_deref(), Some("Zoë"));
    assert_eq!(zoe.last_name.as_deref(), Some("Müller"));
    assert_eq!(zoe.remote_fields["rating"], 7);
}

/// The create body built from the common model has the keys and shapes of the fixture Bird
/// documents; the fixture's identifier `properties` are optional and not produced.
#[test]
fn create_body_matches_the_fixture() {
    let expected = fixture_json("create_request.json");
    let input = prepared(
        WriteMode::Create,
        json!({
            "firstName": "Jane",
            "lastName": "Citizen",
            "emailAddresses": [{"emailAddressType": "main", "emailAddress": "jane.citizen@example.com"}],
            "phoneNumbers": [{"phoneNumberType": "mobile", "phoneNumber": "+61 491 570 156"}],
            "remoteFields": {
                "rating": 9.6,
                "cookiesAccepted": false,
                "labels": ["A", "B"],
                "accountIds": ["9f0c1d2e-3b4a-4c5d-8e6f-7a8b9c0d1e2f"],
                "listIds": ["123e4567-e89b-12d3-a456-426614174000"],
                "companyRefs": ["acme-pty-ltd"]
            }
        }),
    );
    let body = serde_json::to_value(wire::CreateContact::from(&input)).expect("body");
    let keys = |v: &Value| {
        let mut k: Vec<String> = v
            .as_object()
            .map(|o| o.keys().cloned().collect())
            .unwrap_or_default();
        k.sort();
        k
    };
    assert_eq!(keys(&body), keys(&expected));
    assert_eq!(body["displayName"], expected["displayName"]);
    assert_eq!(body["attributes"], expected["attributes"]);
    for key in ["accountIds", "listIds", "companyRefs"] {
        assert_eq!(body[key], expected[key], "{key}");
    }
    let pairs = |v: &Value| -> Vec<(String, String)> {
        v["identifiers"]
            .as_array()
            .map(|a| {
                a.iter()
                    .map(|i| {
                        (
                            i["key"].as_str().unwrap_or("").into(),
                            i["value"].as_str().unwrap_or("").into(),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default()
    };
    assert_eq!(pairs(&body), pairs(&expected));
    // The fixture must also parse as our own request type.
    let parsed: wire::CreateContact =
        serde_json::from_value(expected).expect("fixture is a create body");
    assert_eq!(
        parsed.identifiers[1]
            .properties
            .as_ref()
            .map(|p| p["countryCode"].clone()),
        Some(json!("AU"))
    );
}

#[test]
fn create_body_minimal_and_display_name_rules() {
    let body =
        wire::CreateContact::from(&prepared(WriteMode::Create, json!({"lastName": "Citizen"})));
    assert_eq!(
        serde_json::to_value(&body).expect("json"),
        json!({"displayName": "Citizen", "identifiers": [], "attributes": {"lastName": "Citizen"}})
    );

    let body = wire::CreateContact::from(&prepared(
        WriteMode::Create,
        json!({"firstName": "  ", "lastName": "Citizen", "remoteFields": {"displayName": "Dr J. Citizen"}}),
    ));
    assert_eq!(body.display_name, "Dr J. Citizen");
    assert!(!body.attributes.contains_key("displayName"));

    let long = "x".repeat(80);
    let too_long = input(json!({"firstName": long, "lastName": long}));
    let errs = declare::check_write(Operation::Create, &too_long);
    assert_eq!(errs.len(), 1);
    assert_eq!(
        (errs[0].pointer.as_str(), errs[0].code.as_str()),
        ("/lastName", "too_long")
    );
    let with_override = input(
        json!({"firstName": long, "lastName": long, "remoteFields": {"displayName": "Short"}}),
    );
    assert!(declare::check_write(Operation::Create, &with_override).is_empty());
    let errs = declare::check_write(
        Operation::Create,
        &input(json!({"lastName": "A", "remoteFields": {"displayName": "y".repeat(151)}})),
    );
    assert_eq!(errs[0].pointer, "/remoteFields/displayName");
    // 150 characters exactly, counted as characters not bytes.
    let fits = input(json!({"firstName": "é".repeat(74), "lastName": "ü".repeat(75)}));
    assert!(declare::check_write(Operation::Create, &fits).is_empty());
}

#[test]
fn declaration_drives_warnings_and_normalisation() {
    let decl = declare::declaration();
    let prepared = prepare_write(
        decl,
        WriteMode::Create,
        &input(json!({
            "lastName": "Citizen",
            "account": "Acme Pty Ltd",
            "addresses": [{"city": "Sydney"}],
            "emailAddresses": [{"emailAddressType": "main", "emailAddress": "jane@example.com"}],
            "phoneNumbers": [{"phoneNumber": "+61 (491) 570-156"}],
            "remoteFields": {"computedDisplayName": "x", "emailaddress": ["a@b.co"], "firstName": "J", "timezone": "Australia/Sydney"}
        })),
        false,
    )
    .expect("valid");
    let warned: Vec<(&str, &str)> = prepared
        .warnings
        .iter()
        .map(|w| (w.pointer.as_str(), w.code.as_str()))
        .collect();
    for expected in [
        ("/account", "not_supported"),
        ("/addresses/0", "not_supported"),
        ("/emailAddresses/0/emailAddressType", "not_supported"),
        ("/remoteFields/computedDisplayName", "read_only"),
        ("/remoteFields/emailaddress", "read_only"),
        ("/remoteFields/firstName", "not_supported"),
    ] {
        assert!(
            warned.contains(&expected),
            "{expected:?} missing from {warned:?}"
        );
    }
    assert_eq!(
        prepared
            .input
            .phone_numbers
            .as_ref()
            .map(|p| p[0].phone_number.clone()),
        Some("+61491570156".into())
    );
    assert_eq!(
        prepared.input.remote_fields.as_ref().map(|r| r.len()),
        Some(1),
        "only the wildcard attribute is kept"
    );

    let err = prepare_write(
        decl,
        WriteMode::Create,
        &input(json!({"lastName": "C", "phoneNumbers": [{"phoneNumber": "0400 111 222"}], "remoteFields": {"bad key": 1, "listIds": ["nope"]}})),
        false,
    )
    .expect_err("invalid");
    let pointers: Vec<&str> = err.errors.iter().map(|e| e.pointer.as_str()).collect();
    assert!(
        pointers.contains(&"/phoneNumbers/0/phoneNumber"),
        "{pointers:?}"
    );
    assert!(pointers.contains(&"/remoteFields/bad key"));
    assert!(pointers.contains(&"/remoteFields/listIds/0"));

    assert!(decl.operations.delete && decl.operations.update && decl.operations.list);
    assert_eq!(decl.max_page_size, 100);
    assert_eq!(decl.default_base_url, "https://api.bird.com");
}

fn stored(first: &str, last: &str) -> wire::Contact {
    let mut raw = fixture_json("contact.json");
    raw["attributes"]["firstName"] = json!(first);
    raw["attributes"]["lastName"] = json!(last);
    raw["attributes"]["emailaddress"] = json!(["a@example.com", "b@example.com"]);
    serde_json::from_value(raw).expect("wire contact")
}

#[test]
fn update_rename_keeps_identifiers_and_rebuilds_display_name() {
    let rename = prepared(WriteMode::Update, json!({"firstName": "Janet"}));
    assert!(mapping::update_needs_current(&rename));
    let current = stored("Jane", "Citizen");
    let body = mapping::patch_body(&rename, Some(&current)).expect("body");
    assert_eq!(
        serde_json::to_value(&body).expect("json"),
        json!({"attributes": {"firstName": "Janet", "displayName": "Janet Citizen"}})
    );
    assert_eq!(
        mapping::identifier_changes(Some(&current), &rename),
        mapping::IdentifierChanges::default()
    );

    let both = prepared(
        WriteMode::Update,
        json!({"firstName": "A", "lastName": "B"}),
    );
    assert!(
        !mapping::update_needs_current(&both),
        "both names sent: nothing to read"
    );
    let explicit = prepared(
        WriteMode::Update,
        json!({"firstName": "A", "remoteFields": {"displayName": null}}),
    );
    assert!(!mapping::update_needs_current(&explicit));
    let body = mapping::patch_body(&explicit, None).expect("body");
    assert_eq!(body.attributes["displayName"], Value::Null);

    let too_long = prepared(WriteMode::Update, json!({"firstName": "x".repeat(150)}));
    let errs = mapping::patch_body(&too_long, Some(&current))
        .expect_err("too long with the stored last name");
    assert_eq!(errs[0].pointer, "/lastName");
}

#[test]
fn update_replaces_identifier_sets_and_clears_attributes() {
    let current = stored("Jane", "Citizen");
    let change = prepared(
        WriteMode::Update,
        json!({
            "emailAddresses": [{"emailAddress": "b@example.com"}, {"emailAddress": "c@example.com"}],
            "remoteFields": {"rating": null, "listIds": ["123e4567-e89b-12d3-a456-426614174000"], "tier": "gold"}
        }),
    );
    let changes = mapping::identifier_changes(Some(&current), &change);
    assert_eq!(changes.add.len(), 1);
    assert_eq!(changes.add[0].0, "/emailAddresses/1");
    assert_eq!(changes.add[0].1.value, "c@example.com");
    let removed: Vec<&str> = changes.remove.iter().map(|i| i.value.as_str()).collect();
    assert_eq!(
        removed,
        ["a@example.com"],
        "phones were not sent, so they stay"
    );
    let body = serde_json::to_value(mapping::patch_body(&change, Some(&current)).expect("body"))
        .expect("json");
    assert_eq!(
        body,
        json!({"attributes": {"rating": null, "tier": "gold"}, "listIds": ["123e4567-e89b-12d3-a456-426614174000"]})
    );

    let clear = prepared(WriteMode::Update, json!({"phoneNumbers": []}));
    let changes = mapping::identifier_changes(Some(&current), &clear);
    assert!(changes.add.is_empty());
    assert_eq!(
        changes.remove,
        vec![wire::Identifier {
            key: "phonenumber".into(),
            value: "+61491570156".into(),
            properties: None
        }]
    );
    // The update request fixture's attribute shape is what the PATCH body produces.
    let fixture = fixture_json("update_request.json");
    let patch: wire::PatchContact = serde_json::from_value(fixture.clone()).expect("patch body");
    assert_eq!(
        serde_json::to_value(&patch.attributes).expect("json"),
        fixture["attributes"]
    );
}

#[test]
fn plan_write_lists_calls_relative_to_the_base_url() {
    let a = adapter("plan-key");
    let create = a.plan_write(
        Operation::Create,
        None,
        &prepared(WriteMode::Create, json!({"lastName": "C"})),
    );
    assert_eq!(create.len(), 1);
    assert_eq!(
        (create[0].method.as_str(), create[0].path.as_str()),
        (
            "POST",
            "/workspaces/2d7d5b6e-0000-4000-8000-000000000001/contacts"
        )
    );
    assert_eq!(
        create[0].body.as_ref().map(|b| b["displayName"].clone()),
        Some(json!("C"))
    );

    let id = gateway_core::RemoteId::from("abc/../x");
    let update = a.plan_write(
        Operation::Update,
        Some(&id),
        &prepared(
            WriteMode::Update,
            json!({"firstName": "J", "emailAddresses": [{"emailAddress": "j@example.com"}]}),
        ),
    );
    let methods: Vec<&str> = update.iter().map(|c| c.method.as_str()).collect();
    assert_eq!(methods, ["GET", "POST", "DELETE", "PATCH"]);
    assert!(
        update[1]
            .path
            .ends_with("/contacts/abc%2F..%2Fx/identifiers"),
        "{}",
        update[1].path
    );
    assert!(update.iter().any(|c| c
        .note
        .as_deref()
        .is_some_and(|n| n.contains("current contact"))));
    // The rebuilt display name needs the stored last name, so the plan leaves it to the note.
    assert_eq!(
        update[3].body,
        Some(json!({"attributes": {"firstName": "J"}}))
    );
    assert!(update[3]
        .note
        .as_deref()
        .is_some_and(|n| n.contains("displayName")));
}

#[test]
fn error_fixtures_classify() {
    let none = HeaderMap::new();
    let cases: [(&str, u16, ErrorKind, &str); 8] = [
        (
            "error_400.json",
            400,
            ErrorKind::InvalidInput,
            "InvalidParameter",
        ),
        (
            "error_401.json",
            401,
            ErrorKind::CredentialRejected,
            "Unauthorized",
        ),
        (
            "error_401.json",
            403,
            ErrorKind::CredentialRejected,
            "Unauthorized",
        ),
        ("error_404.json", 404, ErrorKind::NotFound, "NotFound"),
        ("error_409.json", 409, ErrorKind::Conflict, "Conflict"),
        (
            "error_422_read_only.json",
            422,
            ErrorKind::InvalidInput,
            "InvalidPayload",
        ),
        (
            "error_429.json",
            429,
            ErrorKind::RateLimited,
            "TooManyRequests",
        ),
        (
            "error_500.json",
            500,
            ErrorKind::Unavailable,
            "InternalError",
        ),
    ];
    for (file, status, kind, code) in cases {
        let err = error::classify(status, &none, fixture(file).as_bytes());
        assert_eq!(err.kind, kind, "{file}");
        assert_eq!(err.provider_status, Some(status), "{file}");
        assert_eq!(err.provider_code.as_deref(), Some(code), "{file}");
        assert!(
            err.retry_after.is_none(),
            "{file}: Bird sends no Retry-After"
        );
    }
    let conflict = error::classify(409, &none, fixture("error_409.json").as_bytes());
    assert_eq!(conflict.fields[0].pointer, "/emailAddresses");
    let read_only = error::classify(422, &none, fixture("error_422_read_only.json").as_bytes());
    let pointers: Vec<&str> = read_only
        .fields
        .iter()
        .map(|f| f.pointer.as_str())
        .collect();
    assert_eq!(pointers, ["/phoneNumbers"]);

    let ws = error::workspace_path(error::classify(
        404,
        &none,
        fixture("error_404.json").as_bytes(),
    ));
    assert_eq!(ws.kind, ErrorKind::Misconfigured);
    assert!(ws
        .message
        .contains("workspace not found: check settings.workspaceId"));
    let other = error::workspace_path(error::classify(500, &none, b"{}"));
    assert_eq!(other.kind, ErrorKind::Unavailable);
}

#[test]
fn classification_edges() {
    let none = HeaderMap::new();
    let mut headers = HeaderMap::new();
    headers.insert(RETRY_AFTER, HeaderValue::from_static("7"));
    let limited = error::classify(429, &headers, b"");
    assert_eq!(limited.retry_after, Some(std::time::Duration::from_secs(7)));

    for (status, kind) in [
        (502, ErrorKind::Unavailable),
        (503, ErrorKind::Unavailable),
        (408, ErrorKind::Timeout),
        (301, ErrorKind::Misconfigured),
        (202, ErrorKind::Mapping),
        (413, ErrorKind::InvalidInput),
    ] {
        assert_eq!(error::classify(status, &none, b"").kind, kind, "{status}");
    }

    let html = format!("<html>{}</html>", "x".repeat(1000));
    // The client cuts after it redacted (`scrubbed`), never classify before it.
    let err = error::classify(503, &none, html.as_bytes()).scrubbed(str::to_owned);
    assert_eq!(err.provider_code, None);
    assert!(err.message.contains("<html>"));
    assert!(
        err.message.chars().count() <= gateway_core::error::MESSAGE_MAX_CHARS + 1,
        "raw text is cut to the message bound"
    );

    let cases = [
        (
            r#"{"code":"InvalidPayload","message":"displayName must be 1 to 150 characters long, got 151"}"#,
            "/lastName",
        ),
        (
            r#"{"code":"InvalidPayload","message":"identifiers[0].value \"0400\" is not a valid phonenumber"}"#,
            "/phoneNumbers",
        ),
        (
            r#"{"code":"InvalidPayload","message":"attributes.tier must be a boolean, number, string"}"#,
            "/remoteFields/tier",
        ),
        (
            r#"{"code":"InvalidPayload","message":"accountIds[0] must be a UUID"}"#,
            "/remoteFields/accountIds",
        ),
    ];
    for (body, pointer) in cases {
        let err = error::classify(422, &none, body.as_bytes());
        assert_eq!(
            err.fields.first().map(|f| f.pointer.as_str()),
            Some(pointer),
            "{body}"
        );
    }

    let unreadable = error::unreadable(
        200,
        serde_json::from_str::<wire::Contact>("{not json").expect_err("bad"),
    );
    assert_eq!(unreadable.kind, ErrorKind::Mapping);
}

#[test]
fn secrets_never_show() {
    let secret = "sk-live-very-secret-123";
    let a = adapter(secret);
    let auth = BirdAuth::new(SecretString::from(secret)).expect("auth");
    let settings = BirdSettings::from_json(&json!({"workspaceId": WS}), false).expect("settings");
    for text in [
        format!("{a:?}"),
        format!("{auth:?}"),
        format!("{settings:?}"),
    ] {
        assert!(!text.contains(secret), "{text}");
    }
    assert!(format!("{:?}", auth.header()).contains("Sensitive"));
    // A provider echoing the key back is scrubbed.
    assert_eq!(
        auth.redact(&format!("bad key {secret}")),
        "bad key [REDACTED]"
    );
    let err = error::classify(401, &HeaderMap::new(), fixture("error_401.json").as_bytes());
    assert!(!err.to_string().contains(secret));
}
