//! The adapter conformance suite: the same checks for every provider, through the real
//! gateway and the provider's simulator over HTTP. Each check reads the provider's published
//! declaration (`GET /providers/{p}`) and runs only what the provider declares: no check is
//! skipped by provider name.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicU64, Ordering};

use reqwest::{Method, StatusCode};
use serde_json::{json, Map, Value};

use crate::{TestApp, TestTenant};

static COUNTER: AtomicU64 = AtomicU64::new(1);

/// A number no other call in this process got: keeps identifiers unique (Bird refuses a
/// duplicate email with 409).
pub fn unique() -> u64 {
    COUNTER.fetch_add(1, Ordering::Relaxed) + u64::from(std::process::id()) * 1_000_000
}

/// One provider under test: its gateway credential and published declaration.
pub struct Subject<'a> {
    /// The app.
    pub app: &'a TestApp,
    /// The tenant owning the credential.
    pub tenant: TestTenant,
    /// Provider name.
    pub provider: String,
    /// Credential id.
    pub cred: String,
    /// `GET /providers/{provider}`.
    pub decl: Value,
}

impl<'a> Subject<'a> {
    /// A tenant and a verified sandbox credential for `provider`.
    pub async fn new(app: &'a TestApp, provider: &str) -> Subject<'a> {
        let tenant = app.tenant(&format!("conformance-{provider}")).await;
        let cred = app.credential(&tenant, provider).await;
        let decl = app
            .call(
                Method::GET,
                &format!("/providers/{provider}"),
                Some(&tenant.key),
                None,
            )
            .await;
        assert_eq!(decl.status, StatusCode::OK, "{}", decl.text);
        Subject {
            app,
            tenant,
            provider: provider.to_owned(),
            cred,
            decl: decl.body,
        }
    }

    /// A field's published spec.
    pub fn field(&self, pointer: &str) -> Option<&Value> {
        self.decl["fields"]
            .as_array()?
            .iter()
            .find(|f| f["pointer"] == pointer)
    }

    /// Whether a value at `pointer` is stored on create (or update).
    pub fn stored(&self, pointer: &str, update: bool) -> bool {
        self.field(pointer)
            .is_some_and(|f| f[if update { "update" } else { "create" }] == "stored")
    }

    /// Whether an operation is declared.
    pub fn supports(&self, op: &str) -> bool {
        self.decl["operations"][op] == true
    }

    /// For an operation the provider does not declare: the gateway must answer 501
    /// `not_supported_by_provider` to `method path` (never try, never pretend). The checks gated
    /// on a capability call this instead of returning early, so an undeclared operation is
    /// still tested.
    pub async fn assert_not_implemented(
        &self,
        op: &str,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) {
        assert!(!self.supports(op), "{}: {op} is declared", self.provider);
        let r = self.call(method.clone(), path, body).await;
        assert_eq!(
            r.status,
            StatusCode::NOT_IMPLEMENTED,
            "{}: {op} is not declared, so {method} {path} must be 501: {}",
            self.provider,
            r.text
        );
        assert_eq!(r.body["code"], "not_supported_by_provider", "{}", r.text);
    }

    /// Calls the gateway as this tenant.
    pub async fn call(&self, method: Method, path: &str, body: Option<Value>) -> crate::Answer {
        self.app
            .call(method, path, Some(&self.tenant.key), body)
            .await
    }

    /// `/crm/contacts?credentialId=…` plus `extra` query.
    pub fn contacts(&self, extra: &str) -> String {
        format!("/crm/contacts?credentialId={}{extra}", self.cred)
    }

    /// `/crm/contacts/{id}?credentialId=…`.
    pub fn contact(&self, id: &str) -> String {
        format!("/crm/contacts/{id}?credentialId={}", self.cred)
    }

    /// A valid contact using every field the provider stores on create.
    pub fn full_contact(&self) -> Value {
        let n = unique();
        let mut body = Map::new();
        for (name, value) in [
            ("firstName", "Zoë"),
            ("lastName", "Ōtani"),
            ("account", "Acme Pty Ltd"),
        ] {
            if self.stored(&format!("/{name}"), false) {
                body.insert(
                    name.into(),
                    sample(self.field(&format!("/{name}")), value, n),
                );
            }
        }
        body.entry("lastName").or_insert(json!("Ōtani"));
        for (list, key, type_key) in [
            ("emailAddresses", "emailAddress", "emailAddressType"),
            ("phoneNumbers", "phoneNumber", "phoneNumberType"),
        ] {
            if !self.stored(&format!("/{list}"), false) {
                continue;
            }
            let max = self
                .field(&format!("/{list}"))
                .and_then(|f| f["maxItems"].as_u64())
                .unwrap_or(3)
                .min(3);
            let items: Vec<Value> = (0..max)
                .map(|i| {
                    let spec = self.field(&format!("/{list}/*/{key}"));
                    let mut item = json!({ key: sample(spec, "", n * 10 + i) });
                    if self.stored(&format!("/{list}/*/{type_key}"), false) {
                        item[type_key] = json!("work");
                    }
                    item
                })
                .collect();
            body.insert(list.into(), Value::Array(items));
        }
        if self.stored("/addresses", false) {
            let max = self
                .field("/addresses")
                .and_then(|f| f["maxItems"].as_u64())
                .unwrap_or(2)
                .min(2);
            let mut items = Vec::new();
            for i in 0..max {
                let mut address = Map::new();
                for (key, value) in [
                    ("addressType", "current"),
                    ("street1", &*format!("{} Example Street", 10 + i)),
                    ("street2", "Level 2"),
                    ("city", "Sydney"),
                    ("state", "NSW"),
                    ("countrySubdivision", "Inner West"),
                    ("country", "Australia"),
                    ("postalCode", "2000"),
                ] {
                    let pointer = format!("/addresses/*/{key}");
                    if self.stored(&pointer, false) {
                        address.insert(key.into(), sample(self.field(&pointer), value, n + i));
                    }
                }
                items.push(Value::Object(address));
            }
            body.insert("addresses".into(), Value::Array(items));
        }
        let mut remote = Map::new();
        for field in self.decl["fields"].as_array().into_iter().flatten() {
            let pointer = field["pointer"].as_str().unwrap_or_default();
            if let Some(key) = pointer.strip_prefix("/remoteFields/") {
                if field["create"] != "stored" {
                    continue;
                }
                let key = if key == "*" {
                    "conformanceAttribute"
                } else {
                    key
                };
                remote.insert(key.to_owned(), sample(Some(field), "value", n));
            }
        }
        if !remote.is_empty() {
            body.insert("remoteFields".into(), Value::Object(remote));
        }
        Value::Object(body)
    }
}

/// A valid value for a published field spec; `hint` is used when the spec allows it.
pub fn sample(spec: Option<&Value>, hint: &str, n: u64) -> Value {
    let Some(spec) = spec else { return json!(hint) };
    if let Some(first) = spec["enum"].as_array().and_then(|e| e.first()) {
        return first.clone();
    }
    let kind = spec["kind"].as_str().unwrap_or("string");
    match kind {
        "number" => return json!(2),
        "boolean" => return json!(true),
        "object" => return json!({}),
        "array" => {
            let item = Value::Object(Map::from_iter([
                (
                    "kind".to_owned(),
                    spec.get("itemKind").cloned().unwrap_or(json!("string")),
                ),
                (
                    "format".to_owned(),
                    spec.get("format").cloned().unwrap_or(Value::Null),
                ),
            ]));
            return json!([sample(Some(&item), "item", n)]);
        }
        _ => {}
    }
    let text = match spec["format"].as_str() {
        Some("email" | "email_iclosed") => format!("conf.{n}@example.com"),
        Some("e164") => format!("+614{:08}", n % 100_000_000),
        Some("uri") => format!("https://example.com/ref/{n}"),
        Some("utc_date_time") => "2024-01-15T10:00:00Z".to_owned(),
        Some("uuid") => format!("123e4567-e89b-42d3-a456-{:012}", n % 1_000_000_000_000),
        Some("country_alpha2") => "AU".to_owned(),
        _ if spec["pattern"].as_str() == Some(r"^\+?\d+$") => format!("+614{:08}", n % 100_000_000),
        _ if spec["pointer"]
            .as_str()
            .is_some_and(|p| p.ends_with("phoneNumber")) =>
        {
            format!("+614{:08}", n % 100_000_000)
        }
        _ if hint.is_empty() || hint == "value" => format!("value-{n}"),
        _ => hint.to_owned(),
    };
    let max = spec["maxLength"].as_u64().unwrap_or(u64::MAX) as usize;
    json!(text.chars().take(max).collect::<String>())
}

/// A value within `field`'s length bounds that does not match `pattern`, to probe that the
/// pattern is enforced. Panics when no candidate fits, so a pattern is never left unprobed.
fn off_pattern(field: &Value, pattern: &str) -> String {
    let re = regex::Regex::new(pattern)
        .unwrap_or_else(|e| panic!("published pattern {pattern:?} does not compile: {e}"));
    let min = field["minLength"].as_u64().unwrap_or(0) as usize;
    let max = field["maxLength"].as_u64().unwrap_or(u64::MAX) as usize;
    ["!", "~~", "not a match!", "x y", "@@@@", "0", "a"]
        .into_iter()
        .find(|c| (min..=max).contains(&c.chars().count()) && !re.is_match(c))
        .unwrap_or_else(|| panic!("no probe value falls outside {pattern:?}"))
        .to_owned()
}

/// Equal, or both RFC 3339 times of the same instant.
pub fn same_instant(a: &Value, b: &Value) -> bool {
    match (a.as_str(), b.as_str()) {
        (Some(a), Some(b)) => {
            let parse = |s: &str| chrono::DateTime::parse_from_rfc3339(s).ok();
            a == b || matches!((parse(a), parse(b)), (Some(x), Some(y)) if x == y)
        }
        _ => a == b,
    }
}

/// What the gateway sends for `value` once the field's declared normalisation ran.
///
/// Written from the documented rules, never with the product's own `normalize_phone` or
/// `to_alpha2`: an expectation computed by the code under test would agree with any bug in it.
pub fn normalised(spec: Option<&Value>, value: &Value) -> Value {
    let Some(text) = value.as_str() else {
        return value.clone();
    };
    match spec.and_then(|s| s["normalize"].as_str()) {
        Some("phone_formatting") => json!(phone_without_formatting(text)),
        Some("country_alpha2") => json!(country_alpha2(text)),
        Some(other) => panic!("the suite has no expectation for normalisation {other:?}"),
        None => value.clone(),
    }
}

/// The documented phone rule: spaces (also no-break), tabs, dashes, dots and brackets are
/// formatting and are dropped; everything else is kept as sent.
fn phone_without_formatting(text: &str) -> String {
    const FORMATTING: [char; 7] = [' ', '\u{a0}', '\t', '-', '.', '(', ')'];
    text.chars().filter(|c| !FORMATTING.contains(c)).collect()
}

/// Every country value the suites send, with the alpha-2 code expected for it (`None`: not a
/// country, so it is sent as is and the provider's check refuses it). A value missing here
/// fails loudly rather than falling back to the product's own table.
const COUNTRIES: &[(&str, Option<&str>)] = &[
    ("AU", Some("AU")),
    ("Australia", Some("AU")),
    ("AUS", Some("AU")),
    ("de", Some("DE")),
    ("United States", Some("US")),
    ("Atlantis", None),
];

fn country_alpha2(text: &str) -> String {
    match COUNTRIES.iter().find(|(sent, _)| *sent == text) {
        Some((_, Some(code))) => (*code).to_owned(),
        Some((_, None)) => text.to_owned(),
        None => panic!("no literal expectation for the country {text:?}: add it to COUNTRIES"),
    }
}

/// Asserts that every value of `sent` that the provider stores (and returns) is in `got`.
pub fn assert_stored(subject: &Subject<'_>, sent: &Value, got: &Value, update: bool) {
    let provider = &subject.provider;
    for name in ["firstName", "lastName", "account"] {
        if let Some(v) = sent.get(name) {
            if subject.stored(&format!("/{name}"), update) {
                assert_eq!(&got[name], v, "{provider}: {name} was not preserved");
            }
        }
    }
    for (list, key) in [
        ("emailAddresses", "emailAddress"),
        ("phoneNumbers", "phoneNumber"),
    ] {
        let Some(items) = sent.get(list).and_then(Value::as_array) else {
            continue;
        };
        if !subject.stored(&format!("/{list}"), update) {
            continue;
        }
        let spec = subject.field(&format!("/{list}/*/{key}"));
        let kept = subject
            .field(&format!("/{list}"))
            .and_then(|f| f["maxItems"].as_u64())
            .unwrap_or(u64::MAX) as usize;
        let expected: Vec<Value> = items
            .iter()
            .take(kept)
            .map(|i| normalised(spec, &i[key]))
            .collect();
        let actual: Vec<Value> = got[list]
            .as_array()
            .into_iter()
            .flatten()
            .map(|i| i[key].clone())
            .collect();
        assert_eq!(actual, expected, "{provider}: {list} were not preserved");
    }
    if let Some(items) = sent.get("addresses").and_then(Value::as_array) {
        if subject.stored("/addresses", update) {
            let kept = subject
                .field("/addresses")
                .and_then(|f| f["maxItems"].as_u64())
                .unwrap_or(u64::MAX) as usize;
            let got_items = got["addresses"].as_array().cloned().unwrap_or_default();
            assert_eq!(
                got_items.len(),
                items.len().min(kept),
                "{provider}: addresses count"
            );
            for (i, item) in items.iter().take(kept).enumerate() {
                for (key, value) in item.as_object().into_iter().flatten() {
                    let pointer = format!("/addresses/*/{key}");
                    if subject.stored(&pointer, update) {
                        assert_eq!(
                            got_items[i][key],
                            normalised(subject.field(&pointer), value),
                            "{provider}: /addresses/{i}/{key} was not preserved"
                        );
                    }
                }
            }
        }
    }
    for (key, value) in sent
        .get("remoteFields")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
    {
        let pointer = format!("/remoteFields/{key}");
        let spec = subject
            .field(&pointer)
            .or_else(|| subject.field("/remoteFields/*"));
        let Some(spec) = spec else { continue };
        if spec[if update { "update" } else { "create" }] != "stored" || spec["writeOnly"] == true {
            continue;
        }
        assert!(
            same_instant(&got["remoteFields"][key], &normalised(Some(spec), value)),
            "{provider}: remoteFields.{key} was not preserved: sent {value}, got {}",
            got["remoteFields"][key]
        );
    }
}

/// Create → get returns every stored field; the create answer says the same.
pub async fn create_get_round_trip(s: &Subject<'_>) {
    let body = s.full_contact();
    let created = s
        .call(Method::POST, &s.contacts(""), Some(body.clone()))
        .await;
    assert_eq!(
        created.status,
        StatusCode::OK,
        "{}: {}",
        s.provider,
        created.text
    );
    assert_eq!(created.body["complete"], true, "{}", created.text);
    let warnings: Vec<&Value> = created.body["warnings"]
        .as_array()
        .into_iter()
        .flatten()
        .collect();
    assert!(
        warnings.is_empty(),
        "{}: a body of stored fields only got warnings: {warnings:?}",
        s.provider
    );
    assert_stored(s, &body, &created.body["contact"], false);
    let id = created.body["contact"]["id"].as_str().unwrap_or_default();
    let got = s.call(Method::GET, &s.contact(id), None).await;
    assert_eq!(got.status, StatusCode::OK, "{}", got.text);
    assert_stored(s, &body, &got.body["contact"], false);
    assert_eq!(
        got.body["contact"]["remoteId"],
        created.body["contact"]["remoteId"]
    );
}

/// GET → PATCH with the `remoteFields` as read → GET: nothing is lost and nothing fails.
pub async fn read_modify_write_loses_nothing(s: &Subject<'_>) {
    if !s.supports("update") {
        return undeclared_update(s).await;
    }
    let created = s
        .call(Method::POST, &s.contacts(""), Some(s.full_contact()))
        .await;
    assert_eq!(created.status, StatusCode::OK, "{}", created.text);
    let id = created.body["contact"]["id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let before = s.call(Method::GET, &s.contact(&id), None).await.body["contact"].clone();
    let patch = json!({"firstName": before["firstName"], "remoteFields": before["remoteFields"]});
    let patched = s.call(Method::PATCH, &s.contact(&id), Some(patch)).await;
    assert_eq!(
        patched.status,
        StatusCode::OK,
        "{}: {}",
        s.provider,
        patched.text
    );
    for w in patched.body["warnings"].as_array().into_iter().flatten() {
        let code = w["code"].as_str().unwrap_or_default();
        assert!(
            matches!(code, "read_only" | "not_supported"),
            "{}: unexpected warning {w}",
            s.provider
        );
    }
    let after = s.call(Method::GET, &s.contact(&id), None).await.body["contact"].clone();
    let keys = |c: &Value| {
        c["remoteFields"]
            .as_object()
            .map(|m| m.keys().cloned().collect::<BTreeSet<_>>())
            .unwrap_or_default()
    };
    let lost: Vec<String> = keys(&before).difference(&keys(&after)).cloned().collect();
    assert!(
        lost.is_empty(),
        "{}: remoteFields lost by a read-modify-write: {lost:?}",
        s.provider
    );
    for (key, value) in before["remoteFields"].as_object().into_iter().flatten() {
        let spec = s
            .field(&format!("/remoteFields/{key}"))
            .or_else(|| s.field("/remoteFields/*"));
        if spec.is_some_and(|f| f["update"] == "stored") {
            assert!(
                same_instant(&after["remoteFields"][key], value),
                "{}: remoteFields.{key} changed: {value} → {}",
                s.provider,
                after["remoteFields"][key]
            );
        }
    }
    for field in [
        "firstName",
        "lastName",
        "emailAddresses",
        "phoneNumbers",
        "addresses",
        "account",
    ] {
        assert_eq!(
            after[field], before[field],
            "{}: {field} changed by a remoteFields-only write",
            s.provider
        );
    }
}

/// Seeded contacts plus gateway-made ones, listed in pages of 5: each exactly once.
pub async fn list_enumerates_each_contact_once(s: &Subject<'_>) {
    if !s.supports("list") {
        return s
            .assert_not_implemented("list", Method::GET, &s.contacts(""), None)
            .await;
    }
    let seeded = s
        .app
        .sim(
            Method::POST,
            &s.provider,
            "/seed",
            Some(json!({"count": 23})),
        )
        .await;
    assert!(seeded.status.is_success(), "{}", seeded.text);
    let mut expected: BTreeSet<String> = seeded.body["remoteIds"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_owned))
        .collect();
    for i in 0..3 {
        let c = s
            .call(
                Method::POST,
                &s.contacts(""),
                Some(json!({"lastName": format!("Lister{i}")})),
            )
            .await;
        assert_eq!(c.status, StatusCode::OK, "{}", c.text);
        expected.insert(
            c.body["contact"]["remoteId"]
                .as_str()
                .unwrap_or_default()
                .to_owned(),
        );
    }
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    let mut pages = 0;
    loop {
        let mut path = s.contacts("&pageSize=5");
        if let Some(c) = &cursor {
            path.push_str(&format!("&cursor={c}"));
        }
        let page = s.call(Method::GET, &path, None).await;
        assert_eq!(page.status, StatusCode::OK, "{}", page.text);
        pages += 1;
        assert!(page.body["contacts"]
            .as_array()
            .is_some_and(|c| c.len() <= 5));
        seen.extend(
            page.body["contacts"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|c| c["remoteId"].as_str().unwrap_or_default().to_owned()),
        );
        match page.body["pageInfo"]["nextCursor"].as_str() {
            Some(next) if page.body["pageInfo"]["hasNext"] == true => {
                cursor = Some(next.to_owned())
            }
            _ => break,
        }
        assert!(pages < 100, "{}: paging does not end", s.provider);
    }
    assert!(pages >= 5, "{}: only {pages} pages", s.provider);
    let unique: BTreeSet<String> = seen.iter().cloned().collect();
    assert_eq!(
        unique.len(),
        seen.len(),
        "{}: a contact was listed twice",
        s.provider
    );
    let missing: Vec<&String> = expected.difference(&unique).collect();
    assert!(
        missing.is_empty(),
        "{}: contacts never listed: {missing:?}",
        s.provider
    );
}

/// PATCH one field: only it changes.
pub async fn update_changes_only_what_was_sent(s: &Subject<'_>) {
    if !s.supports("update") {
        return undeclared_update(s).await;
    }
    let body = s.full_contact();
    let created = s
        .call(Method::POST, &s.contacts(""), Some(body.clone()))
        .await;
    assert_eq!(created.status, StatusCode::OK, "{}", created.text);
    let id = created.body["contact"]["id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let before = s.call(Method::GET, &s.contact(&id), None).await.body["contact"].clone();
    let patched = s
        .call(
            Method::PATCH,
            &s.contact(&id),
            Some(json!({"lastName": "Renamed"})),
        )
        .await;
    assert_eq!(
        patched.status,
        StatusCode::OK,
        "{}: {}",
        s.provider,
        patched.text
    );
    let after = s.call(Method::GET, &s.contact(&id), None).await.body["contact"].clone();
    assert_eq!(after["lastName"], "Renamed");
    for field in [
        "firstName",
        "emailAddresses",
        "phoneNumbers",
        "addresses",
        "account",
    ] {
        assert_eq!(
            after[field], before[field],
            "{}: {field} changed though only lastName was sent",
            s.provider
        );
    }
    assert_eq!(after["id"], before["id"]);
    assert_eq!(after["remoteId"], before["remoteId"]);
}

/// A provider that cannot update: PATCH and PUT of a contact it holds are 501, and the
/// contact is left as it was.
async fn undeclared_update(s: &Subject<'_>) {
    let created = s
        .call(
            Method::POST,
            &s.contacts(""),
            Some(json!({"lastName": "Fixed"})),
        )
        .await;
    assert_eq!(created.status, StatusCode::OK, "{}", created.text);
    let id = created.body["contact"]["id"].as_str().unwrap_or_default();
    for method in [Method::PATCH, Method::PUT] {
        s.assert_not_implemented(
            "update",
            method,
            &s.contact(id),
            Some(json!({"lastName": "Changed"})),
        )
        .await;
    }
    let got = s.call(Method::GET, &s.contact(id), None).await;
    assert_eq!(got.body["contact"]["lastName"], "Fixed", "{}", got.text);
}

/// DELETE works and the contact is gone, or the provider cannot delete and says so (501).
pub async fn delete_or_not_implemented(s: &Subject<'_>) {
    let created = s
        .call(
            Method::POST,
            &s.contacts(""),
            Some(json!({"lastName": "Deletable"})),
        )
        .await;
    let id = created.body["contact"]["id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let deleted = s.call(Method::DELETE, &s.contact(&id), None).await;
    if s.supports("delete") {
        assert_eq!(
            deleted.status,
            StatusCode::NO_CONTENT,
            "{}: {}",
            s.provider,
            deleted.text
        );
        assert_eq!(
            s.call(Method::GET, &s.contact(&id), None).await.status,
            StatusCode::NOT_FOUND
        );
    } else {
        assert_eq!(
            deleted.status,
            StatusCode::NOT_IMPLEMENTED,
            "{}: {}",
            s.provider,
            deleted.text
        );
        assert_eq!(deleted.body["code"], "not_supported_by_provider");
        assert_eq!(
            s.call(Method::GET, &s.contact(&id), None).await.status,
            StatusCode::OK,
            "a refused delete must leave the contact"
        );
    }
}

/// A contact deleted in the provider (its own way: hard or `deletedAt`) reads as
/// `remoteDeleted: true`.
pub async fn out_of_band_deletion_is_seen_on_read(s: &Subject<'_>) {
    let created = s
        .call(
            Method::POST,
            &s.contacts(""),
            Some(json!({"lastName": "Vanishing"})),
        )
        .await;
    let id = created.body["contact"]["id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let remote = created.body["contact"]["remoteId"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let d = s
        .app
        .sim(
            Method::DELETE,
            &s.provider,
            &format!("/contacts/{remote}"),
            None,
        )
        .await;
    assert!(d.status.is_success(), "{}", d.text);
    let got = s.call(Method::GET, &s.contact(&id), None).await;
    assert_eq!(got.status, StatusCode::OK, "{}", got.text);
    assert_eq!(
        got.body["contact"]["remoteDeleted"], true,
        "{}: {}",
        s.provider, got.text
    );
    assert!(got.body["contact"]["remoteDeletedAt"].is_string());
}

/// Each provider failure status becomes the problem docs/architecture.md names.
pub async fn provider_errors_map_to_problems(s: &Subject<'_>) {
    let cases: [(u16, u16, &str, bool); 5] = [
        (500, 502, "provider", true),
        (503, 502, "provider", true),
        (429, 429, "provider", true),
        (401, 502, "credential", false),
        (400, 422, "provider", false),
    ];
    for (fault, status, source, retryable) in cases {
        let set = s
            .app
            .sim(
                Method::POST,
                &s.provider,
                "/faults",
                // A 429 on a write is retried (the provider did not apply it): fail the first
                // attempt and every default retry (3) so the client sees the 429.
                Some(json!({"status": fault, "count": if fault == 429 { 4 } else { 1 }})),
            )
            .await;
        assert!(set.status.is_success(), "{}", set.text);
        let r = s
            .call(
                Method::POST,
                &s.contacts(""),
                Some(json!({"lastName": "Faulty"})),
            )
            .await;
        assert_eq!(
            r.status.as_u16(),
            status,
            "{}: provider {fault}: {}",
            s.provider,
            r.text
        );
        assert_eq!(r.headers["content-type"], "application/problem+json");
        assert_eq!(r.body["source"], source, "{}: provider {fault}", s.provider);
        assert_eq!(
            r.body["retryable"], retryable,
            "{}: provider {fault}",
            s.provider
        );
        assert_eq!(
            r.body["providerStatus"], fault,
            "{}: provider {fault}",
            s.provider
        );
        if status == 429 {
            assert!(r.headers.contains_key("retry-after"));
        }
    }
    let after = s
        .call(
            Method::POST,
            &s.contacts(""),
            Some(json!({"lastName": "Healthy"})),
        )
        .await;
    assert_eq!(after.status, StatusCode::OK, "{}", after.text);
}

/// Every published field behaves as published, checked with `?dryRun=true` (no provider
/// call): a stored value is accepted silently, an unstorable one is warned about at its
/// pointer, a value over `maxLength` or outside `enum` is a 422 at its pointer, and items
/// beyond `maxItems` are warned about (or refused where the provider enforces the limit).
pub async fn published_schema_is_enforced(s: &Subject<'_>) {
    for update in [false, true] {
        let op = if update { "update" } else { "create" };
        let schema = s
            .call(
                Method::GET,
                &format!(
                    "/crm/contacts/schema?credentialId={}&operation={op}",
                    s.cred
                ),
                None,
            )
            .await;
        assert_eq!(schema.status, StatusCode::OK, "{}", schema.text);
        // Both must be arrays with fields in them: two missing lists would compare equal.
        let published = schema.body["fields"].as_array().map(Vec::len);
        assert!(
            published.is_some_and(|n| n > 0),
            "{} {op}: the schema lists no fields: {}",
            s.provider,
            schema.text
        );
        assert_eq!(
            published,
            s.decl["fields"].as_array().map(Vec::len),
            "schema and /providers disagree"
        );
        let mut unbuildable = Vec::new();
        let mut patterns_probed = 0;
        let target = if update {
            let c = s
                .call(
                    Method::POST,
                    &s.contacts(""),
                    Some(json!({"lastName": "Schema"})),
                )
                .await;
            Some(
                c.body["contact"]["id"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned(),
            )
        } else {
            None
        };
        let path = match &target {
            Some(id) => format!("/crm/contacts/{id}?credentialId={}&dryRun=true", s.cred),
            None => s.contacts("&dryRun=true"),
        };
        let method = if update { Method::PATCH } else { Method::POST };
        for field in schema.body["fields"].as_array().into_iter().flatten() {
            let pointer = field["pointer"].as_str().unwrap_or_default().to_owned();
            let Some((body, at)) = body_with(&pointer, sample(Some(field), "Value", unique()))
            else {
                unbuildable.push(pointer);
                continue;
            };
            let r = s.call(method.clone(), &path, Some(body.clone())).await;
            let support = field["support"].as_str().unwrap_or_default();
            let warned = r.body["warnings"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|w| w["pointer"] == at.as_str());
            match support {
                "stored" => {
                    assert_eq!(
                        r.status,
                        StatusCode::OK,
                        "{} {op}: stored field {pointer}: {}",
                        s.provider,
                        r.text
                    );
                    assert!(
                        !warned,
                        "{} {op}: stored field {pointer} was warned about: {}",
                        s.provider, r.text
                    );
                }
                _ => {
                    assert_eq!(
                        r.status,
                        StatusCode::OK,
                        "{} {op}: {pointer}: {}",
                        s.provider,
                        r.text
                    );
                    let code = if support == "read_only" {
                        "read_only"
                    } else {
                        "not_supported"
                    };
                    // A warning on a whole item (an address the provider cannot store) covers
                    // each of its fields.
                    let covers = |p: &str| at == p || at.starts_with(&format!("{p}/"));
                    let hit = r.body["warnings"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .any(|w| {
                            let p = w["pointer"].as_str().unwrap_or("-");
                            covers(p) && (w["code"] == code || p != at.as_str())
                        });
                    assert!(
                        hit,
                        "{} {op}: {support} field {pointer} got no {code} warning at {at}: {}",
                        s.provider, r.text
                    );
                    let strict = s
                        .call(
                            method.clone(),
                            &path.replace("dryRun=true", "dryRun=true&strict=true"),
                            Some(body),
                        )
                        .await;
                    assert_eq!(
                        strict.status,
                        StatusCode::UNPROCESSABLE_ENTITY,
                        "{} {op}: strict {pointer}: {}",
                        s.provider,
                        strict.text
                    );
                    continue;
                }
            }
            if let Some(max) = field["maxLength"].as_u64() {
                if field["kind"] == "string"
                    && field["enum"].is_null()
                    && field["format"].is_null()
                    && field["pattern"].is_null()
                {
                    let (long, at) = body_with(&pointer, json!("x".repeat(max as usize + 1)))
                        .unwrap_or_default();
                    let r = s.call(method.clone(), &path, Some(long)).await;
                    assert_eq!(
                        r.status,
                        StatusCode::UNPROCESSABLE_ENTITY,
                        "{} {op}: {pointer} over maxLength {max}: {}",
                        s.provider,
                        r.text
                    );
                    assert!(
                        r.body["errors"]
                            .as_array()
                            .into_iter()
                            .flatten()
                            .any(|e| e["pointer"] == at.as_str() && e["code"] == "too_long"),
                        "{}",
                        r.text
                    );
                }
            }
            if field["enum"].is_array() {
                let (bad, at) = body_with(&pointer, json!("NOT_IN_ENUM")).unwrap_or_default();
                let r = s.call(method.clone(), &path, Some(bad)).await;
                assert_eq!(
                    r.status,
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "{} {op}: {pointer} outside enum: {}",
                    s.provider,
                    r.text
                );
                assert!(
                    r.body["errors"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .any(|e| e["pointer"] == at.as_str()),
                    "{}",
                    r.text
                );
            }
            if let (Some(pattern), "string") = (
                field["pattern"].as_str(),
                field["kind"].as_str().unwrap_or_default(),
            ) {
                let (bad, at) =
                    body_with(&pointer, json!(off_pattern(field, pattern))).unwrap_or_default();
                let r = s.call(method.clone(), &path, Some(bad)).await;
                assert_eq!(
                    r.status,
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "{} {op}: {pointer} off its pattern {pattern}: {}",
                    s.provider,
                    r.text
                );
                assert!(
                    r.body["errors"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .any(|e| e["pointer"] == at.as_str()),
                    "{}",
                    r.text
                );
                patterns_probed += 1;
            }
            if let (Some(max), Some(list)) = (
                field["maxItems"].as_u64(),
                pointer.strip_prefix('/').filter(|p| !p.contains('/')),
            ) {
                let item = match list {
                    "emailAddresses" => {
                        |i: u64| json!({"emailAddress": format!("many.{i}.{}@example.com", unique())})
                    }
                    "phoneNumbers" => {
                        |i: u64| json!({"phoneNumber": format!("+614{:08}", (unique() + i) % 100_000_000)})
                    }
                    "addresses" => |_: u64| json!({"city": "Sydney"}),
                    _ => continue,
                };
                let items: Vec<Value> = (0..=max).map(item).collect();
                let mut body = json!({"lastName": "Many"});
                body[list] = Value::Array(items);
                let r = s.call(method.clone(), &path, Some(body)).await;
                let extra = format!("/{list}/{max}");
                if field["rejectExtraItems"] == true {
                    assert_eq!(
                        r.status,
                        StatusCode::UNPROCESSABLE_ENTITY,
                        "{} {op}: {list} beyond maxItems: {}",
                        s.provider,
                        r.text
                    );
                } else {
                    assert_eq!(
                        r.status,
                        StatusCode::OK,
                        "{} {op}: {list} beyond maxItems: {}",
                        s.provider,
                        r.text
                    );
                    assert!(r.body["warnings"].as_array().into_iter().flatten().any(|w| w["pointer"] == extra.as_str() && w["code"] == "not_supported"), "{} {op}: item {extra} beyond maxItems was not warned about: {}", s.provider, r.text);
                }
            }
        }
        assert!(
            unbuildable.is_empty(),
            "{} {op}: the suite cannot build a body for {unbuildable:?}; teach body_with",
            s.provider
        );
        let with_pattern = schema.body["fields"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|f| {
                f["support"] == "stored" && f["kind"] == "string" && f["pattern"].is_string()
            })
            .count();
        assert_eq!(
            patterns_probed, with_pattern,
            "{} {op}: pattern rules left unprobed",
            s.provider
        );
    }
}

/// A request body that puts `value` at a declared pointer template, and the concrete pointer.
fn body_with(template: &str, value: Value) -> Option<(Value, String)> {
    let mut body = json!({"lastName": "Schema"});
    let parts: Vec<&str> = template.trim_start_matches('/').split('/').collect();
    let at = template.replace("/*/", "/0/");
    match parts.as_slice() {
        [name] if *name == "lastName" => body["lastName"] = value,
        [name] => {
            if matches!(*name, "emailAddresses" | "phoneNumbers" | "addresses") {
                let item = match *name {
                    "emailAddresses" => {
                        json!({"emailAddress": format!("list.{}@example.com", unique())})
                    }
                    "phoneNumbers" => {
                        json!({"phoneNumber": format!("+614{:08}", unique() % 100_000_000)})
                    }
                    _ => json!({"city": "Sydney"}),
                };
                body[*name] = json!([item]);
                return Some((body, format!("/{name}/0")));
            }
            body[*name] = value;
        }
        [list, "*", key] => {
            let mut item = match *list {
                "emailAddresses" => {
                    json!({"emailAddress": format!("sub.{}@example.com", unique())})
                }
                "phoneNumbers" => {
                    json!({"phoneNumber": format!("+614{:08}", unique() % 100_000_000)})
                }
                _ => json!({}),
            };
            item[*key] = value;
            body[*list] = json!([item]);
        }
        ["remoteFields", "*"] => {
            body["remoteFields"] = json!({"conformanceAttribute": value});
            return Some((body, "/remoteFields/conformanceAttribute".to_owned()));
        }
        ["remoteFields", key] => body["remoteFields"] = json!({ *key: value }),
        _ => return None,
    }
    Some((body, at))
}

/// Every check, in order.
pub async fn run_all(app: &TestApp, provider: &str) {
    let s = Subject::new(app, provider).await;
    create_get_round_trip(&s).await;
    read_modify_write_loses_nothing(&s).await;
    list_enumerates_each_contact_once(&s).await;
    update_changes_only_what_was_sent(&s).await;
    delete_or_not_implemented(&s).await;
    out_of_band_deletion_is_seen_on_read(&s).await;
    provider_errors_map_to_problems(&s).await;
    published_schema_is_enforced(&s).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The oracle itself, on literal values.
    #[test]
    fn normalised_follows_the_documented_rules() {
        let phone = json!({"normalize": "phone_formatting"});
        let country = json!({"normalize": "country_alpha2"});
        for (spec, sent, want) in [
            (&phone, "+61 400 111 222", "+61400111222"),
            (&phone, "+1 (415) 555-0100", "+14155550100"),
            (&phone, "+1.415\u{a0}555\t0100", "+14155550100"),
            (&phone, "call me", "callme"),
            (&country, "Australia", "AU"),
            (&country, "AUS", "AU"),
            (&country, "de", "DE"),
            (&country, "United States", "US"),
            (&country, "Atlantis", "Atlantis"),
        ] {
            assert_eq!(
                normalised(Some(spec), &json!(sent)),
                json!(want),
                "{sent:?}"
            );
        }
        assert_eq!(normalised(None, &json!(" as is ")), json!(" as is "));
        assert_eq!(normalised(Some(&phone), &json!(7)), json!(7));
    }
}
