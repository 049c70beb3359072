//! The conformance suite (gateway_testkit::conformance) against every provider the build
//! offers, each with its simulator, over real HTTP. Checks are gated on each provider's
//! declared capabilities, never skipped by name.
#![allow(clippy::unwrap_used)]

use gateway_testkit::conformance;
use gateway_testkit::TestApp;
use reqwest::{Method, StatusCode};

/// The providers the build offers, from `GET /providers`. Every simulated provider must be
/// among them, so a catalogue that lost a provider (or answered nothing) fails the suite
/// instead of passing it by looping over nothing.
async fn providers(app: &TestApp) -> Vec<String> {
    let t = app.tenant("provider-catalogue").await;
    let all = app
        .call(Method::GET, "/providers", Some(&t.key), None)
        .await;
    assert_eq!(all.status, StatusCode::OK, "{}", all.text);
    let names: Vec<String> = all.body["providers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["provider"].as_str().unwrap().to_owned())
        .collect();
    for simulated in ["bird", "iclosed", "karia"] {
        assert!(
            names.iter().any(|n| n == simulated),
            "/providers lacks {simulated}: {names:?}"
        );
    }
    names
}

macro_rules! conformance_test {
    ($name:ident, $check:path) => {
        #[tokio::test]
        async fn $name() {
            let app = TestApp::spawn().await;
            for provider in providers(&app).await {
                let subject = conformance::Subject::new(&app, &provider).await;
                $check(&subject).await;
            }
            app.stop().await;
        }
    };
}

conformance_test!(
    create_get_round_trip_preserves_every_stored_field,
    conformance::create_get_round_trip
);
conformance_test!(
    read_modify_write_through_remote_fields_loses_nothing,
    conformance::read_modify_write_loses_nothing
);
conformance_test!(
    list_enumerates_every_contact_exactly_once,
    conformance::list_enumerates_each_contact_once
);
conformance_test!(
    update_changes_only_what_was_sent,
    conformance::update_changes_only_what_was_sent
);
conformance_test!(
    delete_works_or_answers_501,
    conformance::delete_or_not_implemented
);
conformance_test!(
    deletion_behind_the_gateways_back_reads_as_remote_deleted,
    conformance::out_of_band_deletion_is_seen_on_read
);
conformance_test!(
    provider_errors_map_to_the_contract_problems,
    conformance::provider_errors_map_to_problems
);
conformance_test!(
    published_schema_is_what_is_enforced_for_every_field,
    conformance::published_schema_is_enforced
);
