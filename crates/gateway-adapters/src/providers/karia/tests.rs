//! Pure tests of the Karia module against `fixtures/karia/`: envelopes, mapping both ways,
//! the street-line split, the update diff, the declaration as `prepare_write` applies it,
//! error classification, and that no `Debug` or error text carries the API key.

use std::path::PathBuf;

use gateway_core::{
    prepare_write, Address, ContactInput, CrmAdapter, ErrorKind, Operation, RemoteContact,
    RemoteId, WriteMode,
};
use reqwest::header::{HeaderMap, HeaderValue, RETRY_AFTER};
use secrecy::SecretString;
use serde_json::{json, Value};

use super::auth::KariaAuth;
use super::client::{parse_body, unwrap_envelope};
use super::error::{self, Scope};
use super::mapping::{self, Street, StreetLine};
use super::settings::{KariaConfig, KariaSettings};
use super::{declare, wire, KariaAdapter};

fn fixture(name: &str) -> String {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../fixtures/karia")
        .join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("fixture {}: {e}", path.display()))
}

fn fixture_json(name: &str) -> Value {
    serde_json::from_str(&fixture(name)).expect("fixture is JSON")
}

/// A contact fixture read the way the client reads any body: wrapped or bare.
fn contact_fixture(name: &str) -> RemoteContact {
    let wire: wire::Contact = parse_body(200, fixture(name).as_bytes()).expect("contact");
    RemoteContact::from(wire)
}

fn input(value: Value) -> ContactInput {
    serde_json::from_value(value).expect("contact input")
}

fn prepared(mode: WriteMode, value: Value) -> ContactInput {
    match prepare_write(declare::declaration(), mode, &input(value), false) {
        Ok(p) => p.input,
        Err(e) => panic!("validation: {:?}", e.errors),
    }
}

fn adapter_with(secret: &str, config: KariaConfig) -> KariaAdapter {
    let transport =
        gateway_transport::Transport::new(&gateway_transport::TransportConfig::default())
            .expect("transport");
    let settings =
        KariaSettings::from_json(&json!({"organisationId": 1, "workspaceId": "1"}), false)
            .expect("settings");
    KariaAdapter::new(
        transport,
        settings,
        KariaAuth::new(SecretString::from(secret)).expect("auth"),
        config,
    )
}

fn address(street1: &str) -> Address {
    Address {
        street1: Some(street1.to_owned()),
        ..Address::default()
    }
}

#[test]
fn contact_fixture_maps_every_field() {
    let c = contact_fixture("contact.json");
    assert_eq!(c.remote_id.as_str(), "1");
    assert_eq!(c.first_name.as_deref(), Some("Jane"));
    assert_eq!(c.last_name.as_deref(), Some("Citizen"));
    assert_eq!(c.account, None);
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
    assert_eq!(
        c.addresses,
        vec![Address {
            address_type: Some("current".into()),
            // addressLine1 wins over the parts when Karia has it.
            street1: Some("10 Example Street".into()),
            street2: Some("Level 2".into()),
            city: Some("Sydney".into()),
            state: Some("NSW".into()),
            country_subdivision: None,
            country: Some("Australia".into()),
            postal_code: Some("2000".into()),
        }]
    );
    assert_eq!(
        c.remote_created_at.map(|t| t.to_rfc3339()),
        Some("2025-08-19T19:54:53.663+00:00".into())
    );
    assert_eq!(
        c.remote_updated_at.map(|t| t.to_rfc3339()),
        Some("2025-08-19T19:54:53.663+00:00".into())
    );
    assert_eq!(c.remote_deleted_at, None);

    let rf = &c.remote_fields;
    let raw = &fixture_json("contact.json")["response"];
    for key in [
        "version",
        "createdBy",
        "lastUpdatedBy",
        "type",
        "status",
        "middleNames",
        "preferredName",
        "title",
        "dateOfBirth",
        "relationshipStatus",
        "numberOfDependents",
        "residencyStatus",
        "referenceId",
        "preferredContactMethods",
        "description",
        "externalReference",
        "metadata",
        "userId",
        "employerId",
        "workspaceId",
        "organisationId",
        "fullNameSearch",
    ] {
        assert_eq!(rf.get(key), Some(&raw[key]), "{key} is kept as sent");
    }
    assert!(rf["employerId"].is_number(), "numeric ids stay numbers");
    assert!(rf["organisationId"].is_number());
    for mapped in [
        "id",
        "firstName",
        "lastName",
        "createdAt",
        "lastUpdatedAt",
        "deletedAt",
        "addresses",
        "contactMethods",
        "deletedAddresses",
    ] {
        assert!(
            !rf.contains_key(mapped),
            "{mapped} is mapped, not a remote field"
        );
    }
}

#[test]
fn wrapped_and_bare_bodies_map_the_same() {
    assert_eq!(
        contact_fixture("contact.json"),
        contact_fixture("contact_bare.json")
    );
    let wrapped = fixture_json("contact.json");
    assert_eq!(unwrap_envelope(wrapped.clone()), wrapped["response"]);
    let bare = fixture_json("contact_bare.json");
    assert_eq!(unwrap_envelope(bare.clone()), bare);
    // A bare contact that happens to have a `response` field is not unwrapped.
    let odd = json!({"id": 3, "response": {"x": 1}});
    assert_eq!(unwrap_envelope(odd.clone()), odd);
}

#[test]
fn soft_deleted_contact_carries_its_tombstone() {
    let c = contact_fixture("contact_deleted.json");
    assert_eq!(
        c.remote_deleted_at.map(|t| t.to_rfc3339()),
        Some("2025-08-20T08:00:00+00:00".into())
    );
    assert_eq!(c.remote_fields["version"], 2);
    assert_eq!(c.last_name.as_deref(), Some("Citizen"));
}

#[test]
fn an_unreadable_deleted_at_still_means_deleted() {
    let mut v = fixture_json("contact_deleted.json");
    let obj = v
        .get_mut("response")
        .and_then(Value::as_object_mut)
        .unwrap_or_else(|| panic!("contact_deleted.json has a response object"));
    obj.insert("deletedAt".into(), json!("last tuesday"));
    let bytes = serde_json::to_vec(&v).expect("json");
    let c: wire::Contact = parse_body(200, &bytes).expect("contact");
    let c = RemoteContact::from(c);
    assert!(
        c.remote_deleted_at.is_some(),
        "flagged, not passed off as live"
    );
    assert_eq!(
        c.remote_fields["deletedAt"], "last tuesday",
        "the raw value is kept"
    );
}

#[test]
fn list_fixture_maps_each_contact() {
    let list: wire::ContactList =
        parse_body(200, fixture("contact_list.json").as_bytes()).expect("list");
    let contacts: Vec<RemoteContact> = list.contacts.into_iter().map(RemoteContact::from).collect();
    assert_eq!(contacts.len(), 2);
    assert_eq!(contacts[0], contact_fixture("contact.json"));
    let minimal = &contacts[1];
    assert_eq!(minimal.remote_id.as_str(), "2");
    assert_eq!(minimal.first_name.as_deref(), Some("Alex"));
    assert_eq!(minimal.email_addresses.len(), 1);
    assert!(minimal.phone_numbers.is_empty() && minimal.addresses.is_empty());
    // Unset scalars are kept as null, so a read-modify-write shows what Karia has.
    assert_eq!(minimal.remote_fields["middleNames"], Value::Null);
    assert_eq!(minimal.remote_fields["referenceId"], "contact_2");
}

#[test]
fn nothing_karia_returns_is_lost() {
    let mut raw = fixture_json("contact_bare.json");
    raw["somethingNew"] = json!({"nested": [1, 2]});
    raw["createdAt"] = json!("19/08/2025");
    raw["contactMethods"]
        .as_array_mut()
        .expect("methods")
        .extend([
            json!({"id": 7, "type": "fax", "value": "+61290000000", "contactId": 1}),
            json!({"id": 8, "type": "Mobile", "value": "+61491570157", "contactId": 1}),
            json!({"id": 9, "type": "EMAIL", "value": "J@Example.com", "contactId": 1}),
        ]);
    raw["addresses"]
        .as_array_mut()
        .expect("addresses")
        .push(json!({
            "id": 2, "deletedAt": "2025-08-20T08:00:00.000Z", "type": "previous",
            "addressLine1": null, "streetNumber": "1", "streetName": "Old Road", "postCode": "2001"
        }));
    let c = RemoteContact::from(serde_json::from_value::<wire::Contact>(raw).expect("wire"));
    assert_eq!(c.remote_fields["somethingNew"], json!({"nested": [1, 2]}));
    assert_eq!(c.remote_created_at, None);
    assert_eq!(
        c.remote_fields["createdAt"], "19/08/2025",
        "unparseable times are kept"
    );
    let phones: Vec<_> = c
        .phone_numbers
        .iter()
        .map(|p| p.phone_number.as_str())
        .collect();
    assert_eq!(
        phones,
        ["+61491570156", "+61491570157"],
        "mobile is a phone"
    );
    assert_eq!(c.email_addresses.len(), 2);
    assert_eq!(
        c.remote_fields["contactMethods"],
        json!([{"id": 7, "type": "fax", "value": "+61290000000", "contactId": 1}]),
        "only the methods the common model cannot hold"
    );
    assert_eq!(
        c.addresses.len(),
        1,
        "the soft-deleted address is not a live one"
    );
    assert_eq!(
        c.remote_fields["deletedAddresses"][0]["streetName"],
        "Old Road"
    );
    assert_eq!(c.remote_fields["deletedAddresses"][0]["postCode"], "2001");
}

#[test]
fn string_ids_are_opaque() {
    let c = RemoteContact::from(
        serde_json::from_value::<wire::Contact>(json!({"id": "contact_123", "lastName": "C"}))
            .expect("wire"),
    );
    assert_eq!(c.remote_id.as_str(), "contact_123");
    assert!(c.remote_fields.is_empty());
}

#[test]
fn create_body_matches_the_seed_request() {
    let body = wire::CreateContact::from(&prepared(
        WriteMode::Create,
        json!({
            "firstName": "Jane",
            "lastName": "Citizen",
            "emailAddresses": [{"emailAddress": "jane.citizen@example.com"}],
            "phoneNumbers": [{"phoneNumber": "+61400111222"}],
            "remoteFields": {"preferredName": "Jane"}
        }),
    ));
    assert_eq!(
        serde_json::to_value(&body).expect("json"),
        fixture_json("contact_create_request.json")
    );
    // And the fixture reads back into the same body.
    let parsed: wire::CreateContact =
        serde_json::from_value(fixture_json("contact_create_request.json")).expect("parse");
    assert_eq!(parsed, body);
}

#[test]
fn create_body_carries_every_writable_field_and_all_methods() {
    let body = wire::CreateContact::from(&prepared(
        WriteMode::Create,
        json!({
            "lastName": "Citizen",
            "emailAddresses": [{"emailAddress": "a@example.com"}, {"emailAddress": "b@example.com"}],
            "phoneNumbers": [{"phoneNumber": "+61 400 111 222"}, {"phoneNumber": "0491570156"}],
            "remoteFields": {
                "preferredName": "J", "middleNames": "M", "title": "Dr", "dateOfBirth": "1990-04-12",
                "status": "active", "type": "individual", "externalReference": "x-1",
                "description": "d", "relationshipStatus": "single", "residencyStatus": "citizen",
                "metadata": "{}", "numberOfDependents": 2, "preferredContactMethods": ["email"],
                "middleName": "typo"
            }
        }),
    ));
    let json = serde_json::to_value(&body).expect("json");
    assert_eq!(
        json["contactMethods"],
        json!([
            {"type": "email", "value": "a@example.com"},
            {"type": "email", "value": "b@example.com"},
            {"type": "phone", "value": "+61 400 111 222"},
            {"type": "phone", "value": "0491570156"}
        ]),
        "phones are kept as given: Karia documents no format"
    );
    assert_eq!(json["numberOfDependents"], 2);
    assert_eq!(json["preferredContactMethods"], json!(["email"]));
    assert_eq!(json["metadata"], "{}");
    assert!(
        json.get("middleName").is_none(),
        "unknown keys never reach Karia"
    );
    assert!(json.get("firstName").is_none());
    assert_eq!(json.as_object().map(|m| m.len()), Some(15));
}

#[test]
fn address_body_matches_the_seed_request() {
    let a = Address {
        address_type: Some("current".into()),
        street1: Some("10 Example Street".into()),
        street2: None,
        city: Some("Sydney".into()),
        state: Some("NSW".into()),
        country_subdivision: None,
        country: Some("Australia".into()),
        postal_code: Some("2000".into()),
    };
    let body = mapping::address_body(&a);
    assert_eq!(
        serde_json::to_value(&body).expect("json"),
        fixture_json("address_create_request.json")
    );
    // Karia answers the address with `postCode`, which reads back to the same address.
    let answered: wire::Address =
        parse_body(200, fixture("address.json").as_bytes()).expect("address");
    let read = mapping::read_address(&answered);
    assert_eq!(read.postal_code.as_deref(), Some("2000"));
    assert_eq!(read.city.as_deref(), Some("Sydney"));
    assert_eq!(read.street2.as_deref(), Some("Level 2"));
    // The seed's own write body, read as Karia would store it (no addressLine1).
    let seeded: wire::Address =
        serde_json::from_value(fixture_json("address_create_request.json")).expect("address");
    assert_eq!(mapping::read_address(&seeded), a, "postcode is read too");
}

#[test]
fn method_fixtures_match() {
    let body = wire::NewMethod {
        value: "jane.citizen@example.com".into(),
        kind: "email".into(),
    };
    assert_eq!(
        serde_json::to_value(&body).expect("json"),
        fixture_json("method_create_request.json")
    );
    let answered: wire::ContactMethod =
        parse_body(200, fixture("method.json").as_bytes()).expect("method");
    assert_eq!(answered.value.as_deref(), Some("jane.citizen@example.com"));
    assert_eq!(answered.kind.as_deref(), Some("email"));
}

#[test]
fn workspace_and_organisation_lists_parse() {
    let list: wire::WorkspaceList =
        parse_body(200, fixture("workspace_list.json").as_bytes()).expect("workspaces");
    assert_eq!(list.workspaces[0].id.text(), "1");
    assert_eq!(
        list.workspaces[0].name.as_deref(),
        Some("Sandbox Workspace")
    );
    let guide: wire::WorkspaceList = parse_body(
        200,
        br#"{"response":{"workspaces":[{"id":"workspace_123","name":"Sales"}]}}"#,
    )
    .expect("guide form");
    assert_eq!(guide.workspaces[0].id.text(), "workspace_123");
    let orgs = fixture_json("organisation_list.json");
    assert_eq!(orgs["response"]["organisations"][0]["id"], 1);
}

#[test]
fn update_body_matches_the_update_fixture() {
    let change = prepared(
        WriteMode::Update,
        json!({"remoteFields": {"preferredName": "Janey", "title": "Dr", "numberOfDependents": 3, "middleNames": null, "status": "active"}}),
    );
    let body = mapping::patch_body(&change);
    assert_eq!(
        serde_json::to_value(&body).expect("json"),
        fixture_json("contact_update_request.json")
    );
    let names = mapping::patch_body(&prepared(
        WriteMode::Update,
        json!({"firstName": null, "lastName": "New"}),
    ));
    assert_eq!(
        serde_json::to_value(&names).expect("json"),
        json!({"firstName": null, "lastName": "New"}),
        "null clears firstName"
    );
    assert!(
        mapping::patch_body(&prepared(WriteMode::Update, json!({"emailAddresses": []})))
            .fields
            .is_empty()
    );
}

#[test]
fn street_lines_split_and_rebuild_exactly() {
    let parts = |unit: Option<&str>, number: &str, name: &str| Street {
        unit: unit.map(str::to_owned),
        number: number.to_owned(),
        name: name.to_owned(),
    };
    for (line, street) in [
        ("10 Example Street", parts(None, "10", "Example Street")),
        (
            "5/10 Example Street",
            parts(Some("5"), "10", "Example Street"),
        ),
        (
            "G01/2A Rue de Rivoli",
            parts(Some("G01"), "2A", "Rue de Rivoli"),
        ),
        (
            "10-12 Straße des 17. Juni",
            parts(None, "10-12", "Straße des 17. Juni"),
        ),
        ("7 Главная улица", parts(None, "7", "Главная улица")),
        ("3 銀座通り", parts(None, "3", "銀座通り")),
    ] {
        assert_eq!(
            mapping::parse_street(line),
            StreetLine::Parts {
                street: street.clone(),
                exact: true
            },
            "{line}"
        );
        let body = mapping::address_body(&address(line));
        let rebuilt = mapping::format_street(
            body.unit_number.as_deref(),
            body.street_number.as_deref(),
            body.street_name.as_deref(),
        );
        assert_eq!(rebuilt.as_deref(), Some(line), "exact inverse");
        assert_eq!(body.address_line1, None);
    }
    for (line, street) in [
        (
            "Unit 5, 10 Example Street",
            parts(Some("5"), "10", "Example Street"),
        ),
        ("Apt 5 10 Example St", parts(Some("5"), "10", "Example St")),
        (
            "apt. 5B 10 Example St",
            parts(Some("5B"), "10", "Example St"),
        ),
        ("Flat 3, 1 Abbey Road", parts(Some("3"), "1", "Abbey Road")),
    ] {
        assert_eq!(
            mapping::parse_street(line),
            StreetLine::Parts {
                street,
                exact: false
            },
            "{line}"
        );
    }
    // Lines that are not a number and a name are sent whole, never lost or altered.
    for line in [
        "PO Box 123",
        "Level 2, 10 Example Street",
        "10 Example Street ",
        " 10 Example Street",
        "10  Example Street",
        "10",
        "5th Avenue",
        "Example Street 10",
        "東京都千代田区丸の内1-1",
        "a/b/c 10 Street",
        "12 34",
        "Unit 5, Example Street",
    ] {
        assert_eq!(
            mapping::parse_street(line),
            StreetLine::Line(line.to_owned()),
            "{line:?}"
        );
        let body = mapping::address_body(&address(line));
        assert_eq!(body.address_line1.as_deref(), Some(line));
        assert_eq!(body.street_number, None);
        // Read back: addressLine1 is street1 as written.
        let stored: wire::Address =
            serde_json::from_value(serde_json::to_value(&body).expect("json")).expect("address");
        assert_eq!(
            mapping::read_address(&stored).street1.as_deref(),
            Some(line)
        );
    }
    assert_eq!(
        mapping::format_street(None, None, Some("Example Street")).as_deref(),
        Some("Example Street")
    );
    assert_eq!(
        mapping::format_street(Some("5"), None, None).as_deref(),
        Some("5")
    );
    assert_eq!(mapping::format_street(None, None, None), None);

    let warnings = mapping::street_warnings(&[
        address("10 Example Street"),
        address("Unit 5, 10 Example Street"),
    ]);
    assert_eq!(warnings.len(), 1);
    assert_eq!(warnings[0].pointer, "/addresses/1/street1");
    assert_eq!(warnings[0].code, "normalized");
    assert!(
        !warnings[0].message.contains("Example"),
        "values are not echoed"
    );
}

#[test]
fn update_adds_only_what_is_missing_and_warns_about_the_rest() {
    let current = contact_fixture("contact.json");
    let change = prepared(
        WriteMode::Update,
        json!({
            "emailAddresses": [{"emailAddress": "JANE.Citizen@example.com"}, {"emailAddress": "new@example.com"}],
            "phoneNumbers": [{"phoneNumber": "+61 491 570 157"}],
            "addresses": [
                {"addressType": "current", "street1": "10 Example Street", "street2": "Level 2", "city": "Sydney", "state": "NSW", "postalCode": "2000", "country": "Australia"},
                {"addressType": "postal", "street1": "Unit 5, 10 Example Street", "city": "Sydney"},
                {"addressType": "postal", "street1": "5/10 Example Street", "city": "Sydney"}
            ]
        }),
    );
    let adds = mapping::additions(Some(&current), &change);
    let methods: Vec<(&str, &str, &str)> = adds
        .methods
        .iter()
        .map(|(p, m)| (p.as_str(), m.kind.as_str(), m.value.as_str()))
        .collect();
    assert_eq!(
        methods,
        [
            ("/emailAddresses/1", "email", "new@example.com"),
            ("/phoneNumbers/0", "phone", "+61 491 570 157")
        ],
        "emails compare case-insensitively"
    );
    let indexes: Vec<usize> = adds.addresses.iter().map(|(i, _)| *i).collect();
    assert_eq!(
        indexes,
        [1],
        "the stored address and a unit written two ways are one each"
    );
    assert_eq!(adds.addresses[0].1.unit_number.as_deref(), Some("5"));
    let warned: Vec<(&str, &str)> = adds
        .warnings
        .iter()
        .map(|w| (w.pointer.as_str(), w.code.as_str()))
        .collect();
    assert_eq!(warned, [("/phoneNumbers", "not_supported")]);
    assert!(adds.warnings[0]
        .message
        .contains("1 phone number not in the request left in place"));
    assert!(
        !adds.warnings[0].message.contains("+61"),
        "values are not echoed"
    );

    // Phones compare by digits; empty lists keep everything and say so.
    let same = prepared(
        WriteMode::Update,
        json!({"phoneNumbers": [{"phoneNumber": "+61 (491) 570-156"}], "emailAddresses": [], "addresses": []}),
    );
    let adds = mapping::additions(Some(&current), &same);
    assert!(adds.methods.is_empty() && adds.addresses.is_empty());
    let pointers: Vec<&str> = adds.warnings.iter().map(|w| w.pointer.as_str()).collect();
    assert_eq!(pointers, ["/emailAddresses", "/addresses"]);

    // Lists not sent are left alone.
    let none = prepared(WriteMode::Update, json!({"firstName": "J"}));
    assert_eq!(
        mapping::additions(Some(&current), &none),
        mapping::Additions::default()
    );
    assert!(!mapping::update_needs_current(&none));
}

#[test]
fn declaration_prunes_what_karia_cannot_store() {
    let decl = declare::declaration();
    assert_eq!(decl.provider, gateway_core::ProviderKind::Karia);
    assert_eq!(decl.max_page_size, 100);
    assert_eq!(decl.deletion, gateway_core::DeletionSignal::Tombstone);
    assert!(
        decl.operations.create
            && decl.operations.list
            && decl.operations.update
            && decl.operations.delete
    );
    assert!(decl.field("/remoteFields/*").is_none(), "no wildcard");
    let p = prepare_write(
        decl,
        WriteMode::Create,
        &input(json!({
            "lastName": "C",
            "account": "Acme",
            "emailAddresses": [{"emailAddressType": "work", "emailAddress": "a@example.com"}],
            "phoneNumbers": [{"phoneNumberType": "mobile", "phoneNumber": "0400 111 222"}],
            "addresses": [{"street1": "10 Example Street", "countrySubdivision": "AU-NSW", "country": "AU"}],
            "remoteFields": {"nickname": "x", "id": 4, "referenceId": "contact_4", "title": "Ms"}
        })),
        false,
    )
    .expect("valid");
    let mut warned: Vec<(String, String)> = p
        .warnings
        .iter()
        .map(|w| (w.pointer.clone(), w.code.clone()))
        .collect();
    warned.sort();
    assert_eq!(
        warned,
        [
            ("/account".into(), "not_supported".into()),
            (
                "/addresses/0/countrySubdivision".into(),
                "not_supported".into()
            ),
            (
                "/emailAddresses/0/emailAddressType".into(),
                "not_supported".into()
            ),
            (
                "/phoneNumbers/0/phoneNumberType".into(),
                "not_supported".into()
            ),
            ("/remoteFields/id".into(), "read_only".into()),
            ("/remoteFields/nickname".into(), "not_supported".into()),
            ("/remoteFields/referenceId".into(), "read_only".into()),
        ]
    );
    assert_eq!(
        p.input
            .phone_numbers
            .as_ref()
            .map(|l| l[0].phone_number.as_str()),
        Some("0400 111 222"),
        "phones are not normalised"
    );
    assert_eq!(
        p.input.addresses.as_ref().map(|l| l[0].country.as_deref()),
        Some(Some("AU"))
    );

    let bad = prepare_write(
        decl,
        WriteMode::Create,
        &input(json!({"lastName": "C", "emailAddresses": [{"emailAddress": "nope"}], "remoteFields": {"numberOfDependents": "2"}})),
        false,
    )
    .expect_err("invalid");
    let pointers: Vec<&str> = bad.errors.iter().map(|e| e.pointer.as_str()).collect();
    assert!(
        pointers.contains(&"/emailAddresses/0/emailAddress"),
        "{pointers:?}"
    );
    assert!(
        pointers.contains(&"/remoteFields/numberOfDependents"),
        "{pointers:?}"
    );

    let a = adapter_with("k", KariaConfig::default());
    for (value, ok) in [
        (json!(2), true),
        (json!(-1), true),
        (json!(2.5), false),
        (json!(3_000_000_000_u64), false),
    ] {
        let i = prepared(
            WriteMode::Create,
            json!({"lastName": "C", "remoteFields": {"numberOfDependents": value}}),
        );
        assert_eq!(
            a.check_write(Operation::Create, &i).is_empty(),
            ok,
            "{value}"
        );
    }
    // Every writable key is declared, and only those.
    for key in declare::WRITABLE_STRINGS {
        assert!(
            decl.field(&format!("/remoteFields/{key}")).is_some(),
            "{key}"
        );
    }
}

#[test]
fn switched_off_operations_are_unsupported_and_undeclared() {
    let config = KariaConfig {
        list: true,
        update: false,
        delete: false,
    };
    let decl = declare::configured(&config);
    assert!(decl.operations.list && !decl.operations.update && !decl.operations.delete);
    assert!(decl.operations.create && decl.operations.get);
    assert_eq!(decl.fields, declare::declaration().fields);
    let a = adapter_with("k", config);
    assert_eq!(a.declaration(), &decl);
    assert!(a
        .plan_write(
            Operation::Update,
            Some(&RemoteId::from("1")),
            &ContactInput::default()
        )
        .is_empty());
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let err = rt
        .block_on(a.delete_contact(&RemoteId::from("1")))
        .expect_err("off");
    assert_eq!(err.kind, ErrorKind::Unsupported);
    assert!(
        err.message.contains("[adapters.karia] delete = false"),
        "{}",
        err.message
    );
    let err = rt
        .block_on(a.update_contact(&RemoteId::from("1"), &ContactInput::default()))
        .expect_err("off");
    assert_eq!(err.kind, ErrorKind::Unsupported);
}

#[test]
fn plan_write_lists_every_call() {
    let a = adapter_with("plan-key", KariaConfig::default());
    let create = a.plan_write(
        Operation::Create,
        None,
        &prepared(
            WriteMode::Create,
            json!({"lastName": "C", "addresses": [{"street1": "5/10 Example Street"}, {"city": "Perth"}]}),
        ),
    );
    let calls: Vec<(&str, &str)> = create
        .iter()
        .map(|c| (c.method.as_str(), c.path.as_str()))
        .collect();
    assert_eq!(
        calls,
        [
            ("POST", "/organisation/1/workspace/1/contact"),
            (
                "POST",
                "/organisation/1/workspace/1/contact/{contactId}/address"
            ),
            (
                "POST",
                "/organisation/1/workspace/1/contact/{contactId}/address"
            ),
            ("GET", "/organisation/1/workspace/1/contact/{contactId}"),
        ]
    );
    assert_eq!(create[0].body, Some(json!({"lastName": "C"})));
    assert_eq!(
        create[1].body,
        Some(json!({"unitNumber": "5", "streetNumber": "10", "streetName": "Example Street"}))
    );

    let update = a.plan_write(
        Operation::Update,
        Some(&RemoteId::from("7/../x")),
        &prepared(
            WriteMode::Update,
            json!({"firstName": "J", "emailAddresses": [{"emailAddress": "j@example.com"}]}),
        ),
    );
    let methods: Vec<&str> = update.iter().map(|c| c.method.as_str()).collect();
    assert_eq!(methods, ["GET", "PATCH", "POST", "GET"]);
    assert!(
        update[2].path.ends_with("/contact/7%2F..%2Fx/method"),
        "{}",
        update[2].path
    );
    assert_eq!(update[1].body, Some(json!({"firstName": "J"})));
    assert_eq!(
        update[2].body,
        Some(json!({"type": "email", "value": "j@example.com"}))
    );
}

#[test]
fn error_fixtures_classify() {
    let none = HeaderMap::new();
    let cases: [(&str, u16, ErrorKind, &str); 7] = [
        (
            "error_400.json",
            400,
            ErrorKind::InvalidInput,
            "BAD_REQUEST",
        ),
        (
            "error_401.json",
            401,
            ErrorKind::CredentialRejected,
            "UNAUTHORIZED",
        ),
        ("error_403.json", 403, ErrorKind::Misconfigured, "FORBIDDEN"),
        ("error_404.json", 404, ErrorKind::NotFound, "NOT_FOUND"),
        ("error_409.json", 409, ErrorKind::Conflict, "CONFLICT"),
        (
            "error_429.json",
            429,
            ErrorKind::RateLimited,
            "TOO_MANY_REQUESTS",
        ),
        (
            "error_500.json",
            500,
            ErrorKind::Unavailable,
            "INTERNAL_SERVER_ERROR",
        ),
    ];
    for (file, status, kind, code) in cases {
        let err = error::classify_in(status, &none, fixture(file).as_bytes(), Scope::Read);
        assert_eq!(err.kind, kind, "{file}");
        assert_eq!(err.provider_status, Some(status), "{file}");
        assert_eq!(err.provider_code.as_deref(), Some(code), "{file}");
        assert!(
            err.retry_after.is_none(),
            "{file}: Karia sends no Retry-After"
        );
        assert!(
            err.message.contains(&status.to_string()),
            "{file}: {}",
            err.message
        );
    }
    let forbidden = error::classify_in(
        403,
        &none,
        fixture("error_403.json").as_bytes(),
        Scope::Read,
    );
    assert!(
        forbidden.message.contains("settings.workspaceId"),
        "{}",
        forbidden.message
    );

    // The 400 fixture's issue is contactMethods.0.value: the first email of the create body.
    let invalid = error::classify_in(
        400,
        &none,
        fixture("error_400.json").as_bytes(),
        Scope::Contact { emails: 1 },
    );
    assert_eq!(invalid.fields.len(), 1);
    assert_eq!(invalid.fields[0].pointer, "/emailAddresses");
    assert_eq!(invalid.fields[0].code, "invalid_type");
    assert_eq!(
        invalid.fields[0].message,
        "Expected string, received number"
    );
    let phone = error::classify_in(
        400,
        &none,
        fixture("error_400.json").as_bytes(),
        Scope::Contact { emails: 0 },
    );
    assert_eq!(phone.fields[0].pointer, "/phoneNumbers");
    let unprocessable = error::classify_in(
        422,
        &none,
        br#"{"code":"UNPROCESSABLE_CONTENT","message":"x","issues":[]}"#,
        Scope::Read,
    );
    assert_eq!(unprocessable.kind, ErrorKind::InvalidInput);
}

#[test]
fn issue_paths_point_back_at_the_common_model() {
    let path = |p: Value| p.as_array().cloned().unwrap_or_default();
    let contact = Scope::Contact { emails: 2 };
    for (p, scope, pointer) in [
        (json!(["firstName"]), contact, "/firstName"),
        (json!(["lastName"]), contact, "/lastName"),
        (
            json!(["contactMethods", 1, "value"]),
            contact,
            "/emailAddresses",
        ),
        (
            json!(["contactMethods", 2, "type"]),
            contact,
            "/phoneNumbers",
        ),
        (
            json!(["numberOfDependents"]),
            contact,
            "/remoteFields/numberOfDependents",
        ),
        (
            json!(["preferredContactMethods", 0]),
            contact,
            "/remoteFields/preferredContactMethods",
        ),
        (json!(["somethingElse"]), contact, ""),
        (
            json!(["postcode"]),
            Scope::Address(2),
            "/addresses/2/postalCode",
        ),
        (
            json!(["streetName"]),
            Scope::Address(2),
            "/addresses/2/street1",
        ),
        (json!(["suburb"]), Scope::Address(0), "/addresses/0/city"),
        (
            json!(["type"]),
            Scope::Address(0),
            "/addresses/0/addressType",
        ),
        (
            json!(["addressLine2"]),
            Scope::Address(0),
            "/addresses/0/street2",
        ),
        (json!([]), Scope::Address(1), "/addresses/1"),
        (
            json!(["value"]),
            Scope::Method("/emailAddresses/3"),
            "/emailAddresses/3",
        ),
    ] {
        assert_eq!(
            error::issue_pointer(&path(p.clone()), scope),
            pointer,
            "{p}"
        );
    }
}

#[test]
fn classification_edges_and_sanitising() {
    let none = HeaderMap::new();
    let mut headers = HeaderMap::new();
    headers.insert(RETRY_AFTER, HeaderValue::from_static("7"));
    let limited = error::classify_in(
        429,
        &headers,
        fixture("error_429.json").as_bytes(),
        Scope::Read,
    );
    assert_eq!(limited.retry_after, Some(std::time::Duration::from_secs(7)));
    for (status, kind) in [
        (502, ErrorKind::Unavailable),
        (503, ErrorKind::Unavailable),
        (408, ErrorKind::Timeout),
        (301, ErrorKind::Misconfigured),
        (202, ErrorKind::Mapping),
        (413, ErrorKind::InvalidInput),
    ] {
        assert_eq!(
            error::classify_in(status, &none, b"", Scope::Read).kind,
            kind,
            "{status}"
        );
    }
    // Bodies that are not Karia's error JSON are not quoted: they may hold contact data.
    let html = "<html>jane@example.com</html>";
    let err = error::classify_in(503, &none, html.as_bytes(), Scope::Read);
    assert!(!err.message.contains("jane"), "{}", err.message);
    assert_eq!(err.provider_code, None);
    // Quoted values in zod messages are elided.
    let body = br#"{"code":"BAD_REQUEST","message":"Invalid input data","issues":[{"code":"invalid_enum_value","message":"Invalid enum value. Expected 'a' | 'b', received 'Jane Secret'","path":["status"]}]}"#;
    let err = error::classify_in(400, &none, body, Scope::Contact { emails: 0 });
    assert_eq!(err.fields[0].pointer, "/remoteFields/status");
    assert!(
        !err.fields[0].message.contains("Jane"),
        "{}",
        err.fields[0].message
    );
    assert_eq!(error::scrub("said \"x\" and 'y"), "said \"…\" and '…");
    // scrub elides but does not cut: the client cuts after it redacted (`scrubbed`)
    let long = format!(
        r#"{{"code":"BAD_REQUEST","message":"{}"}}"#,
        "x".repeat(2000)
    );
    let err = error::classify_in(400, &none, long.as_bytes(), Scope::Read).scrubbed(str::to_owned);
    assert!(err.message.chars().count() <= gateway_core::error::MESSAGE_MAX_CHARS + 1);

    let unreadable = parse_body::<wire::Contact>(200, b"{not json").expect_err("bad");
    assert_eq!(unreadable.kind, ErrorKind::Mapping);
    let shape =
        parse_body::<wire::Contact>(200, br#"{"response":{"name":"no id"}}"#).expect_err("bad");
    assert_eq!(shape.kind, ErrorKind::Mapping);
    assert!(shape.message.contains("documented shape"));
}

#[test]
fn secrets_never_show() {
    let secret = "karia-live-very-secret-123";
    let a = adapter_with(secret, KariaConfig::default());
    let auth = KariaAuth::new(SecretString::from(secret)).expect("auth");
    let settings =
        KariaSettings::from_json(&json!({"organisationId": "1", "workspaceId": "1"}), false)
            .expect("settings");
    for text in [
        format!("{a:?}"),
        format!("{auth:?}"),
        format!("{settings:?}"),
    ] {
        assert!(!text.contains(secret), "{text}");
    }
    let (api_key, bearer) = auth.headers().expect("headers");
    assert!(api_key.is_sensitive() && bearer.is_sensitive());
    assert!(format!("{api_key:?} {bearer:?}").contains("Sensitive"));
    assert_eq!(
        auth.redact(&format!("bad key {secret}")),
        "bad key [REDACTED]"
    );
    let err = error::classify_in(
        401,
        &HeaderMap::new(),
        fixture("error_401.json").as_bytes(),
        Scope::Read,
    );
    assert!(!format!("{err} {err:?}").contains(secret));
    assert!(KariaAuth::new(SecretString::from("kéy")).is_none());
    assert!(KariaAuth::new(SecretString::from("a b")).is_none());
}
