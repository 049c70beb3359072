//! Pure tests of the iClosed module against `fixtures/iclosed/`: wire parsing from both
//! envelopes, mapping both ways, the declaration as `prepare_write` applies it, error
//! classification over every documented body, and that no `Debug` or error text carries the
//! API key.

use std::path::PathBuf;
use std::time::Duration;

use gateway_core::{
    prepare_write, ContactInput, CrmAdapter, ErrorKind, Operation, RemoteContact, RemoteId,
    WriteMode,
};
use reqwest::header::{HeaderMap, HeaderValue, RETRY_AFTER};
use secrecy::SecretString;
use serde_json::{json, Value};

use super::auth::{self, IclosedAuth};
use super::settings::IclosedSettings;
use super::{declare, error, mapping, wire, IclosedAdapter};

fn fixture(name: &str) -> String {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../fixtures/iclosed")
        .join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("fixture {}: {e}", path.display()))
}

fn fixture_json(name: &str) -> Value {
    serde_json::from_str(&fixture(name)).expect("fixture is JSON")
}

/// A contact answer, through the envelope reader every call uses.
fn answer(value: Value) -> RemoteContact {
    let envelope: wire::ContactEnvelope = serde_json::from_value(value).expect("envelope");
    RemoteContact::from(envelope.into_contact().expect("wire contact"))
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

fn adapter(secret: &str) -> IclosedAdapter {
    let transport =
        gateway_transport::Transport::new(&gateway_transport::TransportConfig::default())
            .expect("transport");
    let settings = IclosedSettings::from_json(&json!({}), false).expect("settings");
    IclosedAdapter::new(
        transport,
        settings,
        IclosedAuth::new(SecretString::from(secret)).expect("auth"),
    )
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

fn keys(v: &Value) -> Vec<String> {
    let mut k: Vec<String> = v
        .as_object()
        .map(|o| o.keys().cloned().collect())
        .unwrap_or_default();
    k.sort();
    k
}

#[test]
fn create_answer_maps_every_field_from_data_contact() {
    let c = answer(fixture_json("create_response.json"));
    assert_eq!(c.remote_id.as_str(), "123");
    assert_eq!(c.first_name.as_deref(), Some("Jane"));
    assert_eq!(c.last_name.as_deref(), Some("Doe"));
    assert_eq!(emails(&c), ["jane.doe@example.com"]);
    assert_eq!(phones(&c), ["+15551234567"]);
    assert_eq!(c.addresses.len(), 1);
    assert_eq!(c.addresses[0].country.as_deref(), Some("US"));
    assert_eq!(c.addresses[0].city, None);
    assert_eq!(c.account, None);
    assert_eq!(
        c.remote_created_at.map(|t| t.to_rfc3339()),
        Some("2024-01-15T10:00:01.234+00:00".into())
    );
    assert_eq!(c.remote_updated_at, c.remote_created_at);
    assert_eq!(c.remote_deleted_at, None);

    let rf = &c.remote_fields;
    for (key, value) in [
        ("accountId", json!(1)),
        ("userId", json!(1)),
        ("status", json!("POTENTIAL")),
        ("previewId", json!("contact_Ll2PXG6CAOsj")),
        ("tagId", json!(1)),
        ("blockedByRecaptcha", json!(false)),
        ("joinedTime", json!("2024-01-15T10:00:00.000Z")),
        ("timeZone", json!("America/New_York")),
        ("ipAddress", json!("192.168.1.1")),
        ("blockedId", Value::Null),
        ("referrerUrl", json!("https://example.com/signup")),
        (
            "tracking",
            json!({"utm_source": "google", "utm_medium": "cpc"}),
        ),
    ] {
        assert_eq!(rf.get(key), Some(&value), "{key}");
    }
    for mapped in [
        "id",
        "firstName",
        "lastName",
        "email",
        "secondary_email",
        "phoneNumber",
        "secondary_phoneNumber",
        "country",
        "createdAt",
        "updatedAt",
        "deletedAt",
        "contact",
        "data",
    ] {
        assert!(
            !rf.contains_key(mapped),
            "{mapped} is mapped, not a remote field"
        );
    }
    // Every key iClosed sent is accounted for: mapped or in remoteFields.
    let raw = &fixture_json("create_response.json")["data"]["contact"];
    assert_eq!(rf.len() + 11, keys(raw).len(), "{:?}", keys(raw));
}

#[test]
fn detail_answer_reads_the_contact_directly_under_data() {
    let detail = answer(fixture_json("detail_response.json"));
    let created = answer(fixture_json("create_response.json"));
    assert_eq!(
        detail, created,
        "same contact, whichever envelope carried it"
    );
}

#[test]
fn soft_deleted_detail_carries_the_tombstone() {
    let c = answer(fixture_json("detail_deleted.json"));
    assert_eq!(
        c.remote_deleted_at.map(|t| t.to_rfc3339()),
        Some("2024-02-01T08:30:00+00:00".into())
    );
    assert!(!c.remote_fields.contains_key("deletedAt"));
    assert_eq!(c.remote_id.as_str(), "123");
}

#[test]
fn update_answer_maps_both_emails_and_phones_in_order() {
    let c = answer(fixture_json("update_response.json"));
    assert_eq!(emails(&c), ["janet.doe@example.com", "jane.d@example.net"]);
    assert_eq!(phones(&c), ["+15551234567", "+12025550142"]);
    assert_eq!(c.first_name.as_deref(), Some("Janet"));
    assert_eq!(c.remote_fields["status"], "QUALIFIED");
    assert_eq!(
        c.remote_fields["referrerUrl"],
        "https://example.com/pricing"
    );
}

#[test]
fn list_page_maps_and_carries_the_total() {
    let page: wire::ContactPage =
        serde_json::from_str(&fixture("list_response.json")).expect("page");
    assert_eq!(page.data.count, Some(3));
    let contacts: Vec<RemoteContact> = page
        .data
        .contacts
        .into_iter()
        .map(RemoteContact::from)
        .collect();
    assert_eq!(contacts.len(), 2);
    assert_eq!(contacts[0], answer(fixture_json("detail_response.json")));
    let john = &contacts[1];
    assert_eq!(john.remote_id.as_str(), "124");
    assert_eq!(emails(john), ["john.roe@example.org"]);
    assert!(john.phone_numbers.is_empty(), "null phone is no phone");
    assert!(john.addresses.is_empty(), "null country is no address");
    assert_eq!(john.remote_fields["status"], "QUALIFIED");
    assert_eq!(john.remote_fields["tracking"], json!({}));
    assert_eq!(john.remote_fields["joinedTime"], Value::Null);
}

#[test]
fn nothing_iclosed_returns_is_lost() {
    let mut raw = fixture_json("detail_response.json");
    raw["data"]["somethingNew"] = json!({"nested": [1, 2]});
    raw["data"]["createdAt"] = json!("last tuesday");
    raw["data"]["id"] = json!("987");
    raw["data"]["email"] = json!("");
    raw["data"]["secondary_email"] = json!("second@example.com");
    let c = answer(raw);
    assert_eq!(c.remote_fields["somethingNew"], json!({"nested": [1, 2]}));
    assert_eq!(c.remote_created_at, None);
    assert_eq!(
        c.remote_fields["createdAt"], "last tuesday",
        "an unreadable time stays as text"
    );
    assert!(c.remote_updated_at.is_some());
    assert_eq!(c.remote_id.as_str(), "987");
    assert_eq!(emails(&c), ["second@example.com"]);

    // A contact object whose own field is named `contact` is not mistaken for an envelope.
    let odd = answer(json!({"data": {"id": 5, "contact": {"x": 1}}}));
    assert_eq!(odd.remote_id.as_str(), "5");
    assert_eq!(odd.remote_fields["contact"], json!({"x": 1}));

    let bad: wire::ContactEnvelope =
        serde_json::from_value(json!({"data": {"contact": {"firstName": "no id"}}}))
            .expect("envelope");
    assert!(
        bad.into_contact().is_err(),
        "a contact without id is unreadable"
    );
    assert!(serde_json::from_value::<wire::ContactEnvelope>(json!({"contact": {}})).is_err());
}

#[test]
fn create_body_matches_the_fixture() {
    let expected = fixture_json("create_request.json");
    let input = prepared(
        WriteMode::Create,
        json!({
            "firstName": "Jane",
            "lastName": "Doe",
            "emailAddresses": [{"emailAddressType": "main", "emailAddress": "jane.doe@example.com"}],
            "phoneNumbers": [{"phoneNumberType": "mobile", "phoneNumber": "+1 (555) 123-4567"}],
            "addresses": [{"country": "United States"}],
            "remoteFields": {
                "status": "POTENTIAL",
                "tag": "lead-2024",
                "joinedTime": "2024-01-15T10:00:00.000Z",
                "eventName": "Product Demo",
                "utm": "utm_source=google&utm_medium=cpc",
                "timeZone": "America/New_York",
                "ipAddress": "192.168.1.1",
                "referrerUrl": "https://example.com/signup"
            }
        }),
    );
    let body = serde_json::to_value(wire::CreateContact::from(&input)).expect("body");
    assert_eq!(body, expected);
    assert_eq!(keys(&body), keys(&expected));
    let parsed: wire::CreateContact =
        serde_json::from_value(expected).expect("fixture is a create body");
    assert_eq!(parsed, wire::CreateContact::from(&input));
    assert!(
        mapping::secondary_update(123, &input).is_none(),
        "one email and one phone need no follow-up"
    );
}

#[test]
fn create_body_minimal_and_the_secondary_follow_up() {
    let body = wire::CreateContact::from(&prepared(WriteMode::Create, json!({"lastName": "Doe"})));
    assert_eq!(
        serde_json::to_value(&body).expect("json"),
        json!({"lastName": "Doe"})
    );

    let two = prepared(
        WriteMode::Create,
        json!({
            "firstName": null,
            "lastName": "Doe",
            "emailAddresses": [{"emailAddress": "a@example.com"}, {"emailAddress": "b@example.com"}],
            "phoneNumbers": [{"phoneNumber": "+15551234567"}, {"phoneNumber": "+1 202 555 0142"}],
            "remoteFields": {"status": null}
        }),
    );
    let body = serde_json::to_value(wire::CreateContact::from(&two)).expect("json");
    assert_eq!(
        body,
        json!({"lastName": "Doe", "email": "a@example.com", "phoneNumber": "+15551234567"}),
        "no secondary_* on create; null is simply not sent"
    );
    let (second, pointers) = mapping::secondary_update(123, &two).expect("follow-up");
    assert_eq!(
        serde_json::to_value(&second).expect("json"),
        json!({"id": 123, "secondary_email": "b@example.com", "secondary_phoneNumber": "+12025550142"})
    );
    assert_eq!(pointers, ["/emailAddresses/1", "/phoneNumbers/1"]);

    let only_phone = prepared(
        WriteMode::Create,
        json!({"lastName": "D", "phoneNumbers": [{"phoneNumber": "1"}, {"phoneNumber": "2"}]}),
    );
    let (second, pointers) = mapping::secondary_update(7, &only_phone).expect("follow-up");
    assert_eq!(
        serde_json::to_value(&second).expect("json"),
        json!({"id": 7, "secondary_phoneNumber": "2"})
    );
    assert_eq!(pointers, ["/phoneNumbers/1"]);
}

#[test]
fn update_body_matches_the_fixture_and_sends_only_what_was_sent() {
    let expected = fixture_json("update_request.json");
    let change = prepared(
        WriteMode::Update,
        json!({
            "firstName": "Janet",
            "lastName": "Doe",
            "emailAddresses": [{"emailAddress": "janet.doe@example.com"}, {"emailAddress": "jane.d@example.net"}],
            "phoneNumbers": [{"phoneNumber": "+15551234567"}, {"phoneNumber": "+1-202-555-0142"}],
            "remoteFields": {"status": "QUALIFIED", "referrerUrl": "https://example.com/pricing"}
        }),
    );
    let (body, warnings) = mapping::update_body(123, &change);
    assert!(warnings.is_empty(), "{warnings:?}");
    assert_eq!(serde_json::to_value(&body).expect("json"), expected);
    let parsed: wire::UpdateContact =
        serde_json::from_value(expected).expect("fixture is an update body");
    assert_eq!(parsed, body);

    let rename = prepared(WriteMode::Update, json!({"firstName": "Janet"}));
    let (body, warnings) = mapping::update_body(9, &rename);
    assert!(warnings.is_empty());
    assert_eq!(
        serde_json::to_value(&body).expect("json"),
        json!({"id": 9, "firstName": "Janet"})
    );
    let (body, _) = mapping::update_body(9, &prepared(WriteMode::Update, json!({})));
    assert!(body.is_empty());
}

#[test]
fn update_clearing_is_a_warning_not_an_invented_value() {
    let clear = prepare_write(
        declare::declaration(),
        WriteMode::Update,
        &input(json!({
            "firstName": null,
            "emailAddresses": [],
            "phoneNumbers": null,
            "addresses": [],
            "remoteFields": {"status": null, "referrerUrl": null}
        })),
        false,
    )
    .expect("valid");
    // Validation turns the clears into warnings before the adapter sees them; the adapter
    // adds none of its own.
    let (body, adapter_warnings) = mapping::update_body(5, &clear.input);
    assert!(adapter_warnings.is_empty());
    let warnings = clear.warnings;
    assert!(body.is_empty(), "nothing is written: {body:?}");
    let mut pointers: Vec<&str> = warnings.iter().map(|w| w.pointer.as_str()).collect();
    pointers.sort_unstable();
    assert_eq!(
        pointers,
        [
            "/addresses",
            "/emailAddresses",
            "/firstName",
            "/phoneNumbers",
            "/remoteFields/referrerUrl",
            "/remoteFields/status"
        ]
    );
    assert!(warnings.iter().all(|w| w.code == "not_supported"));

    // One email sent while iClosed still holds a second: the second could not be removed.
    let one = prepared(
        WriteMode::Update,
        json!({"emailAddresses": [{"emailAddress": "janet.doe@example.com"}], "phoneNumbers": [{"phoneNumber": "+15551234567"}, {"phoneNumber": "+12025550142"}]}),
    );
    let after = answer(fixture_json("update_response.json"));
    let kept = mapping::kept_secondaries(&one, &after);
    assert_eq!(kept.len(), 1);
    assert_eq!(kept[0].pointer, "/emailAddresses");
    assert!(
        !kept[0].message.contains("jane.d@example.net"),
        "no contact data in warnings"
    );
    let none = mapping::kept_secondaries(&one, &answer(fixture_json("detail_response.json")));
    assert!(none.is_empty());
}

#[test]
fn declaration_limits_count_utf16_and_refuse_before_any_call() {
    let decl = declare::declaration();
    // 12 emoji (2 UTF-16 units each) + 1 letter = 25 units: fits; 13 emoji = 26: too long.
    let fits = format!("{}a", "😀".repeat(12));
    assert!(prepare_write(
        decl,
        WriteMode::Create,
        &input(json!({"firstName": fits, "lastName": fits})),
        false
    )
    .is_ok());
    let err = prepare_write(
        decl,
        WriteMode::Create,
        &input(json!({
            "firstName": "😀".repeat(13),
            "lastName": "x".repeat(26),
            "emailAddresses": [{"emailAddress": ".jane@example.com"}, {"emailAddress": "a..b@example.com"}],
            "phoneNumbers": [{"phoneNumber": "+1 555 CALL NOW"}, {"phoneNumber": "1".repeat(21)}],
            "addresses": [{"country": "Atlantis"}],
            "remoteFields": {
                "status": "LOST",
                "joinedTime": "2023-02-29T10:00:00Z",
                "referrerUrl": "not a url",
                "utm": "u".repeat(1001)
            }
        })),
        false,
    )
    .expect_err("invalid");
    let found: Vec<(&str, &str)> = err
        .errors
        .iter()
        .map(|e| (e.pointer.as_str(), e.code.as_str()))
        .collect();
    for expected in [
        ("/firstName", "too_long"),
        ("/lastName", "too_long"),
        ("/emailAddresses/0/emailAddress", "format"),
        ("/emailAddresses/1/emailAddress", "format"),
        ("/phoneNumbers/0/phoneNumber", "pattern"),
        ("/phoneNumbers/1/phoneNumber", "too_long"),
        ("/addresses/0/country", "format"),
        ("/remoteFields/status", "enum"),
        ("/remoteFields/joinedTime", "format"),
        ("/remoteFields/referrerUrl", "format"),
        ("/remoteFields/utm", "too_long"),
    ] {
        assert!(
            found.contains(&expected),
            "{expected:?} missing from {found:?}"
        );
    }
    // Email length is 255 UTF-16 units.
    let local = "a".repeat(243);
    let long_email = format!("{local}@example.com");
    assert_eq!(long_email.len(), 255);
    assert!(prepare_write(
        decl,
        WriteMode::Create,
        &input(json!({"lastName": "D", "emailAddresses": [{"emailAddress": long_email}]})),
        false
    )
    .is_ok());
}

#[test]
fn declaration_warns_about_what_iclosed_cannot_store() {
    let decl = declare::declaration();
    let p = prepare_write(
        decl,
        WriteMode::Create,
        &input(json!({
            "lastName": "Doe",
            "account": "Acme",
            "addresses": [{"addressType": "current", "city": "Sydney", "country": "AUS"}, {"country": "NZ"}],
            "emailAddresses": [{"emailAddressType": "main", "emailAddress": "a@example.com"}, {"emailAddress": "b@example.com"}, {"emailAddress": "c@example.com"}],
            "phoneNumbers": [{"phoneNumberType": "mobile", "phoneNumber": "+1 555 123 4567"}],
            "remoteFields": {"previewId": "x", "email": "x@example.com", "linkPrefix": "me/demo", "status": "QUALIFIED"}
        })),
        false,
    )
    .expect("valid");
    let warned: Vec<(&str, &str)> = p
        .warnings
        .iter()
        .map(|w| (w.pointer.as_str(), w.code.as_str()))
        .collect();
    for expected in [
        ("/account", "not_supported"),
        ("/addresses/0/addressType", "not_supported"),
        ("/addresses/0/city", "not_supported"),
        ("/addresses/1", "not_supported"),
        ("/emailAddresses/0/emailAddressType", "not_supported"),
        ("/emailAddresses/2", "not_supported"),
        ("/phoneNumbers/0/phoneNumberType", "not_supported"),
        ("/remoteFields/previewId", "read_only"),
        ("/remoteFields/email", "not_supported"),
        ("/remoteFields/linkPrefix", "not_supported"),
    ] {
        assert!(
            warned.contains(&expected),
            "{expected:?} missing from {warned:?}"
        );
    }
    assert_eq!(warned.len(), 10, "{warned:?}");
    let kept = &p.input;
    assert_eq!(
        kept.addresses.as_ref().map(|a| a[0].country.clone()),
        Some(Some("AU".into())),
        "alpha-3 becomes alpha-2"
    );
    assert_eq!(kept.email_addresses.as_ref().map(Vec::len), Some(2));
    assert_eq!(
        kept.phone_numbers
            .as_ref()
            .map(|p| p[0].phone_number.clone()),
        Some("+15551234567".into())
    );
    assert_eq!(
        kept.remote_fields
            .as_ref()
            .map(|r| r.keys().cloned().collect::<Vec<_>>()),
        Some(vec!["status".to_owned()])
    );

    // Create-only fields on update are warned about, not sent.
    let p = prepare_write(
        decl,
        WriteMode::Update,
        &input(json!({
            "addresses": [{"country": "Australia"}],
            "remoteFields": {"tag": "t", "joinedTime": "2024-01-15T10:00:00Z", "eventName": "e", "utm": "u=1", "timeZone": "UTC", "ipAddress": "10.0.0.1", "status": "QUALIFIED", "referrerUrl": "https://example.com"}
        })),
        false,
    )
    .expect("valid");
    let mut warned: Vec<&str> = p.warnings.iter().map(|w| w.pointer.as_str()).collect();
    warned.sort_unstable();
    assert_eq!(
        warned,
        [
            "/addresses/0/country",
            "/remoteFields/eventName",
            "/remoteFields/ipAddress",
            "/remoteFields/joinedTime",
            "/remoteFields/tag",
            "/remoteFields/timeZone",
            "/remoteFields/utm"
        ]
    );
    let (body, warnings) = mapping::update_body(1, &p.input);
    assert!(warnings.is_empty());
    assert_eq!(
        serde_json::to_value(&body).expect("json"),
        json!({"id": 1, "status": "QUALIFIED", "referrerUrl": "https://example.com"})
    );

    // Strict mode refuses instead.
    let strict = prepare_write(
        decl,
        WriteMode::Create,
        &input(json!({"lastName": "D", "remoteFields": {"unknown": 1}})),
        true,
    )
    .expect_err("strict");
    assert_eq!(strict.errors[0].pointer, "/remoteFields/unknown");
}

#[test]
fn declaration_publishes_operations_and_sources() {
    let decl = declare::declaration();
    assert!(decl.operations.create && decl.operations.get && decl.operations.list);
    assert!(decl.operations.update);
    assert!(!decl.operations.delete);
    assert_eq!(decl.max_page_size, 100);
    assert_eq!(decl.default_base_url, "https://public.api.iclosed.io");
    assert_eq!(decl.deletion, gateway_core::DeletionSignal::Tombstone);
    assert!(decl.field("/remoteFields/*").is_none(), "no wildcard");
    let email = decl.field("/emailAddresses/*/emailAddress").expect("email");
    assert!(email
        .note
        .as_deref()
        .is_some_and(|n| n.contains(declare::EMAIL_PATTERN)));
    assert_eq!(
        email.pattern, None,
        "look-aheads cannot compile; the format enforces it"
    );
    let phone = decl.field("/phoneNumbers/*/phoneNumber").expect("phone");
    assert_eq!(phone.pattern.as_deref(), Some(r"^\+?\d+$"));
    assert_eq!(phone.max_length, Some(20));
    for pointer in ["/firstName", "/lastName"] {
        let f = decl.field(pointer).expect(pointer);
        assert_eq!(f.max_length, Some(25));
        assert_eq!(f.length_unit, gateway_core::declare::LengthUnit::Utf16);
    }
    let json = serde_json::to_value(decl).expect("serialisable");
    assert_eq!(json["provider"], "iclosed");
}

#[test]
fn phone_digits_must_be_ascii() {
    let a = adapter("iclosed_plan_key");
    // Arabic-Indic digits pass the `regex` crate's Unicode `\d`, not zod's.
    let arabic = prepared(
        WriteMode::Create,
        json!({"lastName": "D", "phoneNumbers": [{"phoneNumber": "+1"}, {"phoneNumber": "+٠١٢٣"}]}),
    );
    let errs = a.check_write(Operation::Create, &arabic);
    assert_eq!(errs.len(), 1);
    assert_eq!(
        (errs[0].pointer.as_str(), errs[0].code.as_str()),
        ("/phoneNumbers/1/phoneNumber", "pattern")
    );
    let fine = prepared(
        WriteMode::Create,
        json!({"lastName": "D", "phoneNumbers": [{"phoneNumber": "+15551234567"}]}),
    );
    assert!(a.check_write(Operation::Create, &fine).is_empty());
}

#[test]
fn plan_write_lists_calls_relative_to_the_base_url() {
    let a = adapter("iclosed_plan_key");
    let two = prepared(
        WriteMode::Create,
        json!({"lastName": "D", "emailAddresses": [{"emailAddress": "a@example.com"}, {"emailAddress": "b@example.com"}]}),
    );
    let create = a.plan_write(Operation::Create, None, &two);
    let calls: Vec<(&str, &str)> = create
        .iter()
        .map(|c| (c.method.as_str(), c.path.as_str()))
        .collect();
    assert_eq!(calls, [("POST", "/v1/contacts"), ("PUT", "/v1/contacts")]);
    assert_eq!(
        create[1].body,
        Some(json!({"id": "{contactId}", "secondary_email": "b@example.com"}))
    );
    assert!(create[1].note.is_some());

    let id = RemoteId::from("123");
    let update = a.plan_write(
        Operation::Update,
        Some(&id),
        &prepared(WriteMode::Update, json!({"lastName": "Roe"})),
    );
    assert_eq!(update.len(), 1);
    assert_eq!(update[0].method, "PUT");
    assert_eq!(update[0].body, Some(json!({"id": 123, "lastName": "Roe"})));

    let nothing = a.plan_write(
        Operation::Update,
        Some(&id),
        &prepared(WriteMode::Update, json!({"firstName": null})),
    );
    assert_eq!(nothing[0].method, "GET");
    assert_eq!(nothing[0].path, "/v1/contacts/detail?contactId=123");
    assert!(a
        .plan_write(Operation::Delete, Some(&id), &ContactInput::default())
        .is_empty());
}

#[test]
fn only_integer_ids_name_a_contact() {
    assert_eq!(mapping::contact_id(&RemoteId::from("123")), Some(123));
    for bad in [
        "",
        "12a",
        "-1",
        "+5",
        " 1",
        "1.0",
        "../1",
        "99999999999999999999",
    ] {
        assert_eq!(mapping::contact_id(&RemoteId::from(bad)), None, "{bad:?}");
    }
}

#[test]
fn error_fixtures_classify() {
    let none = HeaderMap::new();
    let cases: [(&str, u16, ErrorKind, Option<&str>); 9] = [
        ("error_400_zod.json", 400, ErrorKind::InvalidInput, None),
        (
            "error_400_standard.json",
            400,
            ErrorKind::InvalidInput,
            None,
        ),
        (
            "error_401_missing.json",
            401,
            ErrorKind::CredentialRejected,
            Some("MISSING_API_KEY"),
        ),
        (
            "error_401_invalid.json",
            401,
            ErrorKind::CredentialRejected,
            None,
        ),
        (
            "error_401_invalid.json",
            403,
            ErrorKind::CredentialRejected,
            None,
        ),
        (
            "error_404.json",
            404,
            ErrorKind::NotFound,
            Some("NOT_FOUND"),
        ),
        (
            "error_429.json",
            429,
            ErrorKind::RateLimited,
            Some("RATE_LIMIT_EXCEEDED"),
        ),
        (
            "error_500.json",
            500,
            ErrorKind::Unavailable,
            Some("INTERNAL_SERVER_ERROR"),
        ),
        (
            "error_500.json",
            503,
            ErrorKind::Unavailable,
            Some("INTERNAL_SERVER_ERROR"),
        ),
    ];
    for (file, status, kind, code) in cases {
        let err = error::classify(status, &none, fixture(file).as_bytes());
        assert_eq!(err.kind, kind, "{file}");
        assert_eq!(err.provider_status, Some(status), "{file}");
        assert_eq!(err.provider_code.as_deref(), code, "{file}");
    }

    let zod = error::classify(400, &none, fixture("error_400_zod.json").as_bytes());
    let fields: Vec<(&str, &str)> = zod
        .fields
        .iter()
        .map(|f| (f.pointer.as_str(), f.message.as_str()))
        .collect();
    assert_eq!(
        fields,
        [
            (
                "/addresses/0/country",
                "String must contain at most 2 character(s)"
            ),
            ("/emailAddresses/0/emailAddress", "Invalid email format"),
        ]
    );
    assert!(
        zod.message.contains("/emailAddresses/0/emailAddress"),
        "{}",
        zod.message
    );

    let standard = error::classify(400, &none, fixture("error_400_standard.json").as_bytes());
    let pointers: Vec<&str> = standard.fields.iter().map(|f| f.pointer.as_str()).collect();
    assert_eq!(
        pointers,
        ["/emailAddresses/0/emailAddress", "/remoteFields/name"]
    );
    assert!(standard.message.contains("Invalid request"));

    let missing = error::classify(401, &none, fixture("error_401_missing.json").as_bytes());
    assert!(missing.message.contains("API key is required"));
    assert!(missing.fields.is_empty());
}

#[test]
fn field_names_map_to_common_pointers() {
    for (field, pointer) in [
        ("email", "/emailAddresses/0/emailAddress"),
        ("secondary_email", "/emailAddresses/1/emailAddress"),
        ("phoneNumber", "/phoneNumbers/0/phoneNumber"),
        ("secondary_phoneNumber", "/phoneNumbers/1/phoneNumber"),
        ("country", "/addresses/0/country"),
        ("firstName", "/firstName"),
        ("lastName", "/lastName"),
        ("joinedTime", "/remoteFields/joinedTime"),
        ("a/b", "/remoteFields/a~1b"),
    ] {
        assert_eq!(error::pointer_for(field), pointer, "{field}");
    }
    let body = br#"{"message":{"status":400,"details":{"formErrors":["Unrecognized key(s) in object: 'x'"],"fieldErrors":{"secondary_phoneNumber":["Invalid"]}},"endpoint":"/v1/contacts","method":"PUT"}}"#;
    let err = error::classify(400, &HeaderMap::new(), body);
    let pointers: Vec<&str> = err.fields.iter().map(|f| f.pointer.as_str()).collect();
    assert_eq!(pointers, ["", "/phoneNumbers/1/phoneNumber"]);
}

#[test]
fn rate_limit_wait_comes_from_the_header_or_the_body() {
    let none = HeaderMap::new();
    let body_only = error::classify(429, &none, fixture("error_429.json").as_bytes());
    assert_eq!(body_only.retry_after, Some(Duration::from_secs(1)));

    let mut headers = HeaderMap::new();
    headers.insert(RETRY_AFTER, HeaderValue::from_static("7"));
    let header_only = error::classify(429, &headers, b"");
    assert_eq!(header_only.retry_after, Some(Duration::from_secs(7)));
    let both = error::classify(429, &headers, fixture("error_429.json").as_bytes());
    assert_eq!(
        both.retry_after,
        Some(Duration::from_secs(7)),
        "the header wins"
    );

    let text = error::classify(429, &none, br#"{"retryAfter":"2.5"}"#);
    assert_eq!(text.retry_after, Some(Duration::from_millis(2500)));
    for junk in [
        &br#"{"retryAfter":-1}"#[..],
        br#"{"retryAfter":"soon"}"#,
        br#"{"retryAfter":1e300}"#,
        br#"{"message":"slow down"}"#,
    ] {
        let err = error::classify(429, &none, junk);
        assert_eq!(err.kind, ErrorKind::RateLimited);
        assert_eq!(err.retry_after, None, "{}", String::from_utf8_lossy(junk));
    }
    assert_eq!(
        error::classify(503, &headers, b"").retry_after,
        None,
        "only a 429 carries a wait"
    );
}

#[test]
fn classification_edges() {
    let none = HeaderMap::new();
    for (status, kind) in [
        (502, ErrorKind::Unavailable),
        (408, ErrorKind::Timeout),
        (409, ErrorKind::Conflict),
        (301, ErrorKind::Misconfigured),
        (202, ErrorKind::Mapping),
        (413, ErrorKind::InvalidInput),
        (422, ErrorKind::InvalidInput),
    ] {
        assert_eq!(error::classify(status, &none, b"").kind, kind, "{status}");
    }
    let html = format!("<html>{}</html>", "x".repeat(1000));
    let err = error::classify(502, &none, html.as_bytes()).scrubbed(str::to_owned);
    assert_eq!(err.provider_code, None);
    assert!(
        err.message.chars().count() <= gateway_core::error::MESSAGE_MAX_CHARS + 1,
        "raw text is cut to the message bound (after redaction, by the client)"
    );

    let list = error::collection_path(error::classify(404, &none, br#"{"message":"Not found"}"#));
    assert_eq!(list.kind, ErrorKind::Misconfigured);
    assert!(list.message.contains("settings.baseUrl"));
    assert_eq!(
        error::collection_path(error::classify(500, &none, b"{}")).kind,
        ErrorKind::Unavailable
    );

    let unreadable = error::unreadable(
        200,
        serde_json::from_str::<wire::ContactEnvelope>("{not json").expect_err("bad"),
    );
    assert_eq!(unreadable.kind, ErrorKind::Mapping);
    assert_eq!(error::bad_cursor().kind, ErrorKind::InvalidInput);
}

#[test]
fn key_shape_and_secrets_never_show() {
    for ok in ["iclosed_sandbox_key", "iclosed-sandbox_key", "iclosed_x"] {
        assert!(auth::key_shape_ok(ok), "{ok}");
    }
    for bad in [
        "iclosed_",
        "iclosed-",
        "sandbox_key",
        "Bearer iclosed_x",
        "ICLOSED_x",
        "iclosed_ké",
        "iclosed_a b",
    ] {
        assert!(!auth::key_shape_ok(bad), "{bad}");
        assert!(IclosedAuth::new(SecretString::from(bad)).is_none(), "{bad}");
    }

    let secret = "iclosed_very-secret-123";
    let a = adapter(secret);
    let auth = IclosedAuth::new(SecretString::from(secret)).expect("auth");
    for text in [format!("{a:?}"), format!("{auth:?}")] {
        assert!(!text.contains("very-secret"), "{text}");
    }
    let header = auth.header().expect("header");
    assert!(header.is_sensitive());
    assert_eq!(header.to_str().ok(), Some("Bearer iclosed_very-secret-123"));
    assert_eq!(
        auth.redact(&format!("bad key {secret}")),
        "bad key [REDACTED]"
    );
    assert_eq!(
        auth.redact("key very-secret-123 refused"),
        "key [REDACTED] refused"
    );
    let err = error::bad_secret();
    assert_eq!(err.kind, ErrorKind::CredentialRejected);
    assert_eq!(err.fields[0].pointer, "/secret");
}
