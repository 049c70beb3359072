//! Property: every value of a random common-model contact is either stored (it reads back),
//! warned about (a warning points at it or at an enclosing item), or the whole write is
//! refused with a 422 from the gateway before any provider call. Run against every provider
//! with its simulator over real HTTP.
#![allow(clippy::unwrap_used)]

use gateway_testkit::conformance::{normalised, same_instant, unique, Subject};
use gateway_testkit::TestApp;
use proptest::prelude::*;
use proptest::test_runner::{Config, FileFailurePersistence, TestCaseError, TestRunner};
use reqwest::{Method, StatusCode};
use serde_json::{json, Map, Value};
use std::sync::atomic::{AtomicUsize, Ordering};

/// Outcomes seen, so the test can prove it exercised both paths.
static STORED: AtomicUsize = AtomicUsize::new(0);
static REFUSED: AtomicUsize = AtomicUsize::new(0);
static WARNED: AtomicUsize = AtomicUsize::new(0);

fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        "[A-Za-z]{1,12}",
        "[A-Za-zÀ-ÿ' -]{1,30}",
        "[А-Яа-яЁё]{1,20}",
        "[一-龥]{1,8}",
        "[ا-ي]{1,12}",
        "\\PC{1,40}",
    ]
    .prop_filter("not blank", |s| !s.trim().is_empty())
}

fn email() -> impl Strategy<Value = Value> {
    let kind = prop_oneof![Just(None), Just(Some("main")), Just(Some("work"))];
    (
        prop_oneof![4 => "[a-z]{1,10}".prop_map(Some), 1 => Just(None)],
        kind,
    )
        .prop_map(|(local, kind)| {
            // Unique addresses: Bird refuses an identifier another contact holds.
            let address = match local {
                Some(l) => format!("{l}.{}@example.com", unique()),
                None => "not-an-email".to_owned(),
            };
            let mut v = json!({"emailAddress": address});
            if let Some(k) = kind {
                v["emailAddressType"] = json!(k);
            }
            v
        })
}

fn phone() -> impl Strategy<Value = Value> {
    let number = prop_oneof![
        "\\+61 4[0-9]{2} [0-9]{3} [0-9]{3}",
        "\\+1 \\([2-9][0-9]{2}\\) [0-9]{3}-[0-9]{4}",
        "\\+44[0-9]{10}",
        "0[0-9]{9}",
        Just("call me".to_owned()),
    ];
    (number, prop_oneof![Just(None), Just(Some("mobile"))]).prop_map(|(n, kind)| {
        let mut v = json!({"phoneNumber": n});
        if let Some(k) = kind {
            v["phoneNumberType"] = json!(k);
        }
        v
    })
}

fn address() -> impl Strategy<Value = Value> {
    (
        proptest::option::of("[1-9][0-9]{0,2} [A-Z][a-z]{2,10} (Street|Road|Avenue)"),
        proptest::option::of(text()),
        proptest::option::of("[A-Z][a-z]{2,15}"),
        proptest::option::of("[A-Z]{2,3}"),
        proptest::option::of("[0-9]{4}"),
        proptest::option::of(prop_oneof![
            Just("AU"),
            Just("Australia"),
            Just("AUS"),
            Just("Atlantis"),
            Just("de"),
            Just("United States")
        ]),
        proptest::option::of(prop_oneof![Just("current"), Just("mailing")]),
        proptest::option::of(Just("Inner West")),
    )
        .prop_map(
            |(street1, street2, city, state, postal, country, kind, subdivision)| {
                let mut m = Map::new();
                let mut put = |k: &str, v: Option<String>| {
                    if let Some(v) = v {
                        m.insert(k.to_owned(), json!(v));
                    }
                };
                put("street1", street1);
                put("street2", street2);
                put("city", city);
                put("state", state);
                put("postalCode", postal);
                put("country", country.map(str::to_owned));
                put("addressType", kind.map(str::to_owned));
                put("countrySubdivision", subdivision.map(str::to_owned));
                Value::Object(m)
            },
        )
}

fn remote_fields() -> impl Strategy<Value = Map<String, Value>> {
    let key = prop_oneof![
        Just("preferredName"),
        Just("middleNames"),
        Just("title"),
        Just("status"),
        Just("tag"),
        Just("referrerUrl"),
        Just("joinedTime"),
        Just("timeZone"),
        Just("displayName"),
        Just("favouriteColour"),
        Just("zz_unknown_field"),
    ];
    let value = prop_oneof![
        text().prop_map(Value::from),
        Just(json!("POTENTIAL")),
        Just(json!("https://example.com/landing")),
        Just(json!("2024-02-29T10:00:00Z")),
        Just(json!("2023-02-29T10:00:00Z")),
        Just(json!(7)),
    ];
    proptest::collection::btree_map(key.prop_map(str::to_owned), value, 0..3)
        .prop_map(|m| m.into_iter().collect())
}

fn contact() -> impl Strategy<Value = Value> {
    (
        proptest::option::of(text()),
        prop_oneof![6 => text().prop_map(Some), 1 => Just(None)],
        proptest::option::of(text()),
        proptest::collection::vec(email(), 0..4),
        proptest::collection::vec(phone(), 0..3),
        proptest::collection::vec(address(), 0..3),
        remote_fields(),
    )
        .prop_map(
            |(first, last, account, emails, phones, addresses, remote)| {
                let mut c = Map::new();
                if let Some(f) = first {
                    c.insert("firstName".into(), json!(f));
                }
                if let Some(l) = last {
                    c.insert("lastName".into(), json!(l));
                }
                if let Some(a) = account {
                    c.insert("account".into(), json!(a));
                }
                for (k, v) in [
                    ("emailAddresses", emails),
                    ("phoneNumbers", phones),
                    ("addresses", addresses),
                ] {
                    if !v.is_empty() {
                        c.insert(k.into(), Value::Array(v));
                    }
                }
                if !remote.is_empty() {
                    c.insert("remoteFields".into(), Value::Object(remote));
                }
                Value::Object(c)
            },
        )
}

/// Every leaf of the input with its JSON pointer.
fn leaves(value: &Value, pointer: String, out: &mut Vec<(String, Value)>) {
    match value {
        Value::Object(m) if !pointer.starts_with("/remoteFields/") => {
            for (k, v) in m {
                leaves(
                    v,
                    format!("{pointer}/{}", k.replace('~', "~0").replace('/', "~1")),
                    out,
                );
            }
        }
        Value::Array(items) if !pointer.starts_with("/remoteFields/") => {
            for (i, v) in items.iter().enumerate() {
                leaves(v, format!("{pointer}/{i}"), out);
            }
        }
        v => out.push((pointer, v.clone())),
    }
}

fn template(pointer: &str) -> String {
    let parts: Vec<&str> = pointer.split('/').collect();
    match parts.as_slice() {
        ["", list, _, key] if !list.starts_with("remote") => format!("/{list}/*/{key}"),
        _ => pointer.to_owned(),
    }
}

fn read_back<'v>(contact: &'v Value, pointer: &str) -> Option<&'v Value> {
    contact.pointer(pointer)
}

async fn check(s: &Subject<'_>, input: Value) -> Result<(), TestCaseError> {
    let before = s
        .app
        .sim(Method::GET, &s.provider, "/stats", None)
        .await
        .body["contacts"]
        .clone();
    let r = s
        .call(Method::POST, &s.contacts(""), Some(input.clone()))
        .await;
    let provider = &s.provider;
    match r.status {
        StatusCode::UNPROCESSABLE_ENTITY => {
            prop_assert_eq!(
                &r.body["source"],
                "gateway",
                "{}: a rule violation reached the provider: {} for {}",
                provider,
                r.text,
                input
            );
            let errors = r.body["errors"].as_array().cloned().unwrap_or_default();
            prop_assert!(!errors.is_empty(), "{}: 422 without field errors", provider);
            for e in &errors {
                let p = e["pointer"].as_str().unwrap_or_default();
                prop_assert!(
                    p == "/lastName" || input.pointer(p).is_some(),
                    "{}: error pointer {} is not in the input {}",
                    provider,
                    p,
                    input
                );
            }
            REFUSED.fetch_add(1, Ordering::Relaxed);
            let after = s
                .app
                .sim(Method::GET, &s.provider, "/stats", None)
                .await
                .body["contacts"]
                .clone();
            prop_assert_eq!(
                before,
                after,
                "{}: a refused write created a contact",
                provider
            );
        }
        StatusCode::OK => {
            prop_assert_eq!(&r.body["complete"], true, "{}: {}", provider, r.text);
            let warnings: Vec<String> = r.body["warnings"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|w| w["pointer"].as_str().unwrap_or_default().to_owned())
                .collect();
            STORED.fetch_add(1, Ordering::Relaxed);
            if !warnings.is_empty() {
                WARNED.fetch_add(1, Ordering::Relaxed);
            }
            let id = r.body["contact"]["id"]
                .as_str()
                .unwrap_or_default()
                .to_owned();
            let got = s.call(Method::GET, &s.contact(&id), None).await.body["contact"].clone();
            let mut all = Vec::new();
            leaves(&input, String::new(), &mut all);
            for (pointer, value) in all {
                let warned = warnings
                    .iter()
                    .any(|w| pointer == *w || pointer.starts_with(&format!("{w}/")));
                if warned {
                    continue;
                }
                let spec = s.field(&template(&pointer)).or_else(|| {
                    pointer
                        .starts_with("/remoteFields/")
                        .then(|| s.field("/remoteFields/*"))
                        .flatten()
                });
                prop_assert!(
                    spec.is_some(),
                    "{}: {} was neither warned about nor declared",
                    provider,
                    pointer
                );
                let spec = spec.unwrap();
                prop_assert_eq!(
                    &spec["create"],
                    "stored",
                    "{}: {} is not stored, yet no warning: {}",
                    provider,
                    pointer,
                    r.text
                );
                if spec["writeOnly"] == true {
                    continue;
                }
                let expected = normalised(Some(spec), &value);
                let actual = read_back(&got, &pointer).cloned().unwrap_or(Value::Null);
                prop_assert!(
                    same_instant(&actual, &expected),
                    "{}: {} sent {} but reads back {} (no warning) — full answer {}",
                    provider,
                    pointer,
                    value,
                    actual,
                    got
                );
            }
        }
        other => prop_assert!(
            false,
            "{}: unexpected {} for {}: {}",
            provider,
            other,
            input,
            r.text
        ),
    }
    Ok(())
}

#[test]
fn every_value_is_stored_warned_about_or_refused() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let app = rt.block_on(TestApp::spawn());
    let catalogue = rt.block_on(app.tenant("catalogue"));
    let providers: Vec<String> = rt
        .block_on(app.call(Method::GET, "/providers", Some(&catalogue.key), None))
        .body["providers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["provider"].as_str().unwrap().to_owned())
        .collect();
    for expected in ["bird", "iclosed", "karia"] {
        assert!(
            providers.iter().any(|p| p == expected),
            "/providers lacks {expected}: {providers:?}"
        );
    }
    // `PROPTEST_CASES` raises the count (CI may give it more time); 40 by default.
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(40);
    for provider in providers {
        let subject = rt.block_on(Subject::new(&app, &provider));
        let mut runner = TestRunner::new(Config {
            cases,
            // A failing case's seed is kept next to this file and replayed first on every
            // later run, as a regression case.
            failure_persistence: Some(Box::new(FileFailurePersistence::WithSource(
                "proptest-regressions",
            ))),
            source_file: Some(file!()),
            ..Config::default()
        });
        // Outcomes are counted per provider: one refusing everything cannot hide behind
        // another that stores everything.
        for counter in [&STORED, &WARNED, &REFUSED] {
            counter.store(0, Ordering::Relaxed);
        }
        let result = runner.run(&contact(), |input| rt.block_on(check(&subject, input)));
        if let Err(e) = result {
            panic!("{provider}: {e}");
        }
        let (stored, warned, refused) = (
            STORED.load(Ordering::Relaxed),
            WARNED.load(Ordering::Relaxed),
            REFUSED.load(Ordering::Relaxed),
        );
        eprintln!("{provider}: {stored} stored ({warned} with warnings), {refused} refused");
        assert!(
            stored > 0 && warned > 0 && refused > 0,
            "{provider}: the generator must reach every outcome: {stored}/{warned}/{refused}"
        );
    }
    rt.block_on(app.stop());
}
