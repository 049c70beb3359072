//! Karia's contact, contact method and address as stored and rendered (docs/providers/karia.md),
//! and the validation of the write bodies (docs/providers/karia.md): JSON types only, zod-style issues.
//!
//! Unset fields render as `null`; timestamps as RFC 3339 UTC with milliseconds (docs/providers/karia.md,
//! Simulator lines). Scalars are kept sparse (only the fields that hold a value) so a million
//! seeded contacts stay small.

use serde_json::{json, Map, Value};

use super::errors::{Issue, KariaError};
use crate::state::rfc3339_ms;
use crate::KARIA_SANDBOX_USER_ID;

/// The JSON type a writable contact field takes (docs/providers/karia.md example values).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Str,
    /// An int32 (the reference's integer examples are `-2147483648`).
    Int,
    StrList,
    /// A string holding a UUID (the example value is `"uuid"`).
    Uuid,
}

/// The writable scalar fields of a contact, in the order of the reference example.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) enum Field {
    Type,
    Status,
    FirstName,
    LastName,
    MiddleNames,
    PreferredName,
    Title,
    DateOfBirth,
    RelationshipStatus,
    NumberOfDependents,
    ResidencyStatus,
    PreferredContactMethods,
    Description,
    ExternalReference,
    Metadata,
    UserId,
    EmployerId,
}

const FIELDS: &[(Field, &str, Kind)] = &[
    (Field::Type, "type", Kind::Str),
    (Field::Status, "status", Kind::Str),
    (Field::FirstName, "firstName", Kind::Str),
    (Field::LastName, "lastName", Kind::Str),
    (Field::MiddleNames, "middleNames", Kind::Str),
    (Field::PreferredName, "preferredName", Kind::Str),
    (Field::Title, "title", Kind::Str),
    (Field::DateOfBirth, "dateOfBirth", Kind::Str),
    (Field::RelationshipStatus, "relationshipStatus", Kind::Str),
    (Field::NumberOfDependents, "numberOfDependents", Kind::Int),
    (Field::ResidencyStatus, "residencyStatus", Kind::Str),
    (
        Field::PreferredContactMethods,
        "preferredContactMethods",
        Kind::StrList,
    ),
    (Field::Description, "description", Kind::Str),
    (Field::ExternalReference, "externalReference", Kind::Str),
    (Field::Metadata, "metadata", Kind::Str),
    (Field::UserId, "userId", Kind::Uuid),
    (Field::EmployerId, "employerId", Kind::Int),
];

/// A stored scalar value (never null: an unset field is simply absent).
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Scalar {
    Str(Box<str>),
    Int(i64),
    List(Box<[Box<str>]>),
}

impl Scalar {
    fn to_json(&self) -> Value {
        match self {
            Self::Str(s) => Value::String(s.to_string()),
            Self::Int(n) => json!(n),
            Self::List(l) => Value::Array(l.iter().map(|s| Value::String(s.to_string())).collect()),
        }
    }

    fn as_str(&self) -> Option<&str> {
        match self {
            Self::Str(s) => Some(s),
            _ => None,
        }
    }
}

pub(crate) fn text(s: &str) -> Scalar {
    Scalar::Str(s.into())
}

/// One contact method `{id, type, value, contactId}` (docs/providers/karia.md).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ContactMethod {
    pub(crate) id: i32,
    pub(crate) kind: Box<str>,
    pub(crate) value: Box<str>,
}

impl ContactMethod {
    pub(crate) fn render(&self, contact_id: i32) -> Value {
        json!({
            "id": self.id,
            "type": &*self.kind,
            "value": &*self.value,
            "contactId": contact_id,
        })
    }
}

/// The address fields clients write, in the order of the reference example. `postCode` is
/// written `postcode` by the seed; both spellings are accepted (docs/providers/karia.md, Simulator line).
pub(crate) const ADDRESS_FIELDS: [&str; 11] = [
    "type",
    "addressLine1",
    "addressLine2",
    "unitNumber",
    "streetNumber",
    "streetName",
    "state",
    "suburb",
    "city",
    "postCode",
    "country",
];

pub(crate) type AddressFields = [Option<Box<str>>; 11];

/// One address of a contact (docs/providers/karia.md). Addresses have no delete endpoint, so `deletedAt` stays
/// null; it is kept for the shape.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Address {
    pub(crate) id: i32,
    pub(crate) deleted_ms: Option<i64>,
    pub(crate) updated_ms: i64,
    pub(crate) fields: Box<AddressFields>,
}

impl Address {
    pub(crate) fn render(&self) -> Value {
        let mut m = Map::new();
        m.insert("id".into(), json!(self.id));
        m.insert("deletedAt".into(), timestamp(self.deleted_ms));
        m.insert(
            "lastUpdatedAt".into(),
            Value::String(rfc3339_ms(self.updated_ms)),
        );
        m.insert("lastUpdatedBy".into(), json!(KARIA_SANDBOX_USER_ID));
        for (name, value) in ADDRESS_FIELDS.iter().zip(self.fields.iter()) {
            m.insert(
                (*name).into(),
                value
                    .as_deref()
                    .map_or(Value::Null, |s| Value::String(s.to_owned())),
            );
        }
        Value::Object(m)
    }
}

fn timestamp(ms: Option<i64>) -> Value {
    ms.map_or(Value::Null, |ms| Value::String(rfc3339_ms(ms)))
}

/// A stored contact. `referenceId` is derived from the id (`contact_<id>`), `createdBy` and
/// `lastUpdatedBy` are the sandbox key's user, `fullNameSearch` is computed from the names.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Contact {
    pub(crate) id: i32,
    pub(crate) version: i32,
    pub(crate) created_ms: i64,
    pub(crate) updated_ms: i64,
    pub(crate) deleted_ms: Option<i64>,
    /// Sorted by field, no duplicates.
    scalars: Vec<(Field, Scalar)>,
    pub(crate) methods: Vec<ContactMethod>,
    pub(crate) addresses: Vec<Address>,
}

/// The `referenceId` of contact `id`; `contact.get` accepts it in place of the id.
pub(crate) fn reference_id(id: i32) -> String {
    format!("contact_{id}")
}

impl Contact {
    pub(crate) fn new(id: i32, now_ms: i64) -> Self {
        Self {
            id,
            version: 1,
            created_ms: now_ms,
            updated_ms: now_ms,
            deleted_ms: None,
            scalars: Vec::new(),
            methods: Vec::new(),
            addresses: Vec::new(),
        }
    }

    /// Drops spare capacity (a million seeded contacts would otherwise carry it).
    pub(crate) fn compact(&mut self) {
        self.scalars.shrink_to_fit();
        self.methods.shrink_to_fit();
    }

    pub(crate) fn is_deleted(&self) -> bool {
        self.deleted_ms.is_some()
    }

    pub(crate) fn get(&self, field: Field) -> Option<&Scalar> {
        self.scalars
            .binary_search_by(|(f, _)| f.cmp(&field))
            .ok()
            .and_then(|i| self.scalars.get(i))
            .map(|(_, v)| v)
    }

    /// Sets a field; `None` clears it.
    pub(crate) fn set(&mut self, field: Field, value: Option<Scalar>) {
        match (self.scalars.binary_search_by(|(f, _)| f.cmp(&field)), value) {
            (Ok(i), Some(v)) => {
                if let Some(slot) = self.scalars.get_mut(i) {
                    slot.1 = v;
                }
            }
            (Ok(i), None) => {
                self.scalars.remove(i);
            }
            (Err(i), Some(v)) => self.scalars.insert(i, (field, v)),
            (Err(_), None) => {}
        }
    }

    /// Lower-cased first, middle and last names, for search (shape only in the docs).
    fn full_name_search(&self) -> Value {
        let parts: Vec<&str> = [Field::FirstName, Field::MiddleNames, Field::LastName]
            .iter()
            .filter_map(|f| self.get(*f).and_then(Scalar::as_str))
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .collect();
        if parts.is_empty() {
            Value::Null
        } else {
            Value::String(parts.join(" ").to_lowercase())
        }
    }

    /// The docs/providers/karia.md contact object (bare; routes wrap it in `{"response": …}`).
    pub(crate) fn render(&self) -> Value {
        let mut m = Map::new();
        m.insert("id".into(), json!(self.id));
        m.insert("version".into(), json!(self.version));
        m.insert(
            "createdAt".into(),
            Value::String(rfc3339_ms(self.created_ms)),
        );
        m.insert("createdBy".into(), json!(KARIA_SANDBOX_USER_ID));
        m.insert("deletedAt".into(), timestamp(self.deleted_ms));
        m.insert(
            "lastUpdatedAt".into(),
            Value::String(rfc3339_ms(self.updated_ms)),
        );
        m.insert("lastUpdatedBy".into(), json!(KARIA_SANDBOX_USER_ID));
        for (field, name, _) in FIELDS {
            m.insert(
                (*name).into(),
                self.get(*field).map_or(Value::Null, Scalar::to_json),
            );
        }
        m.insert("referenceId".into(), Value::String(reference_id(self.id)));
        m.insert("workspaceId".into(), json!(1));
        m.insert("organisationId".into(), json!(1));
        m.insert("fullNameSearch".into(), self.full_name_search());
        m.insert(
            "contactMethods".into(),
            Value::Array(self.methods.iter().map(|x| x.render(self.id)).collect()),
        );
        m.insert(
            "addresses".into(),
            Value::Array(self.addresses.iter().map(Address::render).collect()),
        );
        Value::Object(m)
    }
}

/// A validated `contact.create` body.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct NewContact {
    pub(crate) scalars: Vec<(Field, Scalar)>,
    /// `(type, value)` pairs.
    pub(crate) methods: Vec<(String, String)>,
}

/// A validated `PATCH`/`PUT` body: fields to set (`None` clears) and the optional `version`
/// the client last saw.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct ContactPatch {
    pub(crate) scalars: Vec<(Field, Option<Scalar>)>,
    pub(crate) version: Option<i64>,
}

/// Parses a request body: not JSON is 400 with one issue at the root.
pub(crate) fn parse_json(body: &[u8]) -> Result<Value, KariaError> {
    serde_json::from_slice(body).map_err(|e| {
        KariaError::invalid(vec![Issue::new(
            "custom",
            format!("Request body is not valid JSON: {e}"),
            Vec::new(),
        )])
    })
}

/// The type name zod puts in "Expected X, received Y".
fn received(v: Option<&Value>) -> &'static str {
    match v {
        None => "undefined",
        Some(Value::Null) => "null",
        Some(Value::Bool(_)) => "boolean",
        Some(Value::Number(_)) => "number",
        Some(Value::String(_)) => "string",
        Some(Value::Array(_)) => "array",
        Some(Value::Object(_)) => "object",
    }
}

fn at(path: &[Value], key: impl Into<Value>) -> Vec<Value> {
    let mut p = path.to_vec();
    p.push(key.into());
    p
}

fn invalid_type(expected: &str, got: Option<&Value>, path: Vec<Value>) -> Issue {
    let message = if got.is_none() {
        "Required".to_owned()
    } else {
        format!("Expected {expected}, received {}", received(got))
    };
    Issue::new("invalid_type", message, path)
}

fn object<'a>(v: &'a Value, issues: &mut Vec<Issue>) -> Option<&'a Map<String, Value>> {
    let obj = v.as_object();
    if obj.is_none() {
        issues.push(invalid_type("object", Some(v), Vec::new()));
    }
    obj
}

/// A string field; `None` for null (nullable, docs/providers/karia.md gives no required fields).
fn string(v: &Value, path: Vec<Value>, issues: &mut Vec<Issue>) -> Option<Box<str>> {
    match v {
        Value::String(s) => Some(s.as_str().into()),
        Value::Null => None,
        other => {
            issues.push(invalid_type("string", Some(other), path));
            None
        }
    }
}

fn is_uuid(s: &str) -> bool {
    s.len() == 36 && uuid::Uuid::parse_str(s).is_ok()
}

/// One scalar field's value: `Ok(None)` for null, `Err(())` after recording an issue.
fn scalar(
    kind: Kind,
    v: &Value,
    path: Vec<Value>,
    issues: &mut Vec<Issue>,
) -> Result<Option<Scalar>, ()> {
    if v.is_null() {
        return Ok(None);
    }
    let before = issues.len();
    let out = match kind {
        Kind::Str => string(v, path, issues).map(Scalar::Str),
        Kind::Uuid => match string(v, path.clone(), issues) {
            Some(s) if is_uuid(&s) => Some(Scalar::Str(s)),
            Some(_) => {
                issues.push(Issue::new("invalid_string", "Invalid uuid", path));
                None
            }
            None => None,
        },
        Kind::Int => match v {
            Value::Number(n) => {
                // `2.0` is an integer to JavaScript (and so to zod).
                let whole = n.as_i64().or_else(|| {
                    n.as_f64()
                        .filter(|f| f.fract() == 0.0 && f.abs() < 9.0e15)
                        .map(|f| f as i64)
                });
                match whole {
                    Some(i) if i32::try_from(i).is_ok() => Some(Scalar::Int(i)),
                    Some(i) if i < 0 => {
                        issues.push(Issue::new(
                            "too_small",
                            format!("Number must be greater than or equal to {}", i32::MIN),
                            path,
                        ));
                        None
                    }
                    Some(_) => {
                        issues.push(Issue::new(
                            "too_big",
                            format!("Number must be less than or equal to {}", i32::MAX),
                            path,
                        ));
                        None
                    }
                    None if n.is_f64() && n.as_f64().is_some_and(|f| f.fract() != 0.0) => {
                        issues.push(Issue::new(
                            "invalid_type",
                            "Expected integer, received float",
                            path,
                        ));
                        None
                    }
                    None if n.as_f64().is_some_and(|f| f < 0.0) => {
                        issues.push(Issue::new(
                            "too_small",
                            format!("Number must be greater than or equal to {}", i32::MIN),
                            path,
                        ));
                        None
                    }
                    None => {
                        issues.push(Issue::new(
                            "too_big",
                            format!("Number must be less than or equal to {}", i32::MAX),
                            path,
                        ));
                        None
                    }
                }
            }
            other => {
                issues.push(invalid_type("number", Some(other), path));
                None
            }
        },
        Kind::StrList => match v {
            Value::Array(items) => {
                let list: Vec<Box<str>> = items
                    .iter()
                    .enumerate()
                    .filter_map(|(i, item)| match item {
                        Value::String(s) => Some(s.as_str().into()),
                        other => {
                            issues.push(invalid_type("string", Some(other), at(&path, i)));
                            None
                        }
                    })
                    .collect();
                Some(Scalar::List(list.into_boxed_slice()))
            }
            other => {
                issues.push(invalid_type("array", Some(other), path));
                None
            }
        },
    };
    if issues.len() > before {
        Err(())
    } else {
        Ok(out)
    }
}

/// The scalar fields present in `obj` (null = clear). Keys that are not writable fields are
/// left out, as zod strips unknown keys.
fn scalars(obj: &Map<String, Value>, issues: &mut Vec<Issue>) -> Vec<(Field, Option<Scalar>)> {
    let mut out = Vec::new();
    for (field, name, kind) in FIELDS {
        if let Some(v) = obj.get(*name) {
            if let Ok(s) = scalar(*kind, v, vec![json!(name)], issues) {
                out.push((*field, s));
            }
        }
    }
    out
}

/// A non-empty string (contact method `type` and `value`, docs/providers/karia.md Simulator line).
fn required_text(
    obj: &Map<String, Value>,
    key: &str,
    path: &[Value],
    issues: &mut Vec<Issue>,
) -> String {
    match obj.get(key) {
        Some(Value::String(s)) if !s.is_empty() => s.clone(),
        Some(Value::String(_)) => {
            issues.push(Issue::new(
                "too_small",
                "String must contain at least 1 character(s)",
                at(path, key),
            ));
            String::new()
        }
        other => {
            issues.push(invalid_type("string", other, at(path, key)));
            String::new()
        }
    }
}

/// `{type, value}` of a contact method at `path`; other keys are stripped.
fn method(v: &Value, path: &[Value], issues: &mut Vec<Issue>) -> (String, String) {
    let Some(obj) = v.as_object() else {
        issues.push(invalid_type("object", Some(v), path.to_vec()));
        return (String::new(), String::new());
    };
    let kind = required_text(obj, "type", path, issues);
    let value = required_text(obj, "value", path, issues);
    (kind, value)
}

/// Contact methods and addresses have their own endpoints: a non-empty list of either in a
/// contact body is 400 rather than silently dropped (docs/providers/karia.md; a simulator decision).
fn own_endpoint_lists(obj: &Map<String, Value>, skip_methods: bool, issues: &mut Vec<Issue>) {
    let lists: &[(&str, &str)] = &[
        (
            "contactMethods",
            "contact methods are changed one by one with POST …/contact/{contactId}/method",
        ),
        (
            "addresses",
            "addresses are added one by one with POST …/contact/{contactId}/address",
        ),
    ];
    for (key, message) in lists {
        if skip_methods && *key == "contactMethods" {
            continue;
        }
        match obj.get(*key) {
            None | Some(Value::Null) => {}
            Some(Value::Array(a)) if a.is_empty() => {}
            Some(_) => issues.push(Issue::new("custom", *message, vec![json!(key)])),
        }
    }
}

fn finish<T>(issues: Vec<Issue>, value: T) -> Result<T, KariaError> {
    if issues.is_empty() {
        Ok(value)
    } else {
        Err(KariaError::invalid(issues))
    }
}

/// `contact.create` (docs/providers/karia.md): scalar fields plus `contactMethods: [{type, value}]`.
pub(crate) fn parse_create(v: &Value) -> Result<NewContact, KariaError> {
    let mut issues = Vec::new();
    let Some(obj) = object(v, &mut issues) else {
        return Err(KariaError::invalid(issues));
    };
    let scalars = scalars(obj, &mut issues)
        .into_iter()
        .filter_map(|(f, s)| s.map(|s| (f, s)))
        .collect();
    let mut methods = Vec::new();
    match obj.get("contactMethods") {
        None | Some(Value::Null) => {}
        Some(Value::Array(items)) => {
            for (i, item) in items.iter().enumerate() {
                methods.push(method(
                    item,
                    &[json!("contactMethods"), json!(i)],
                    &mut issues,
                ));
            }
        }
        Some(other) => issues.push(invalid_type(
            "array",
            Some(other),
            vec![json!("contactMethods")],
        )),
    }
    own_endpoint_lists(obj, true, &mut issues);
    finish(issues, NewContact { scalars, methods })
}

/// `PATCH`/`PUT …/contact/{contactId}` (docs/providers/karia.md): scalar fields only; read-only keys (`id`,
/// `createdAt`, `referenceId`, …) are stripped; `version`, when given, must match.
pub(crate) fn parse_patch(v: &Value) -> Result<ContactPatch, KariaError> {
    let mut issues = Vec::new();
    let Some(obj) = object(v, &mut issues) else {
        return Err(KariaError::invalid(issues));
    };
    let scalars = scalars(obj, &mut issues);
    let version = match obj.get("version") {
        None | Some(Value::Null) => None,
        Some(Value::Number(n)) if n.as_i64().is_some() => n.as_i64(),
        Some(other) => {
            issues.push(invalid_type("number", Some(other), vec![json!("version")]));
            None
        }
    };
    own_endpoint_lists(obj, false, &mut issues);
    finish(issues, ContactPatch { scalars, version })
}

/// `contact.method.create` body `{type, value}` (docs/providers/karia.md).
pub(crate) fn parse_method(v: &Value) -> Result<(String, String), KariaError> {
    let mut issues = Vec::new();
    let m = method(v, &[], &mut issues);
    finish(issues, m)
}

/// `contact.address.create` body (docs/providers/karia.md): every field an optional string; `postcode` (seed)
/// and `postCode` (read model) both accepted, `postCode` winning when both hold a value.
pub(crate) fn parse_address(v: &Value) -> Result<AddressFields, KariaError> {
    let mut issues = Vec::new();
    let Some(obj) = object(v, &mut issues) else {
        return Err(KariaError::invalid(issues));
    };
    let mut fields: AddressFields = Default::default();
    for (slot, name) in fields.iter_mut().zip(ADDRESS_FIELDS) {
        if let Some(v) = obj.get(name) {
            *slot = string(v, vec![json!(name)], &mut issues);
        }
        if name == "postCode" && slot.is_none() {
            if let Some(v) = obj.get("postcode") {
                *slot = string(v, vec![json!("postcode")], &mut issues);
            }
        }
    }
    finish(issues, fields)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn issues(e: KariaError) -> Vec<(String, Vec<Value>)> {
        assert_eq!(e.status.as_u16(), 400);
        e.issues
            .into_iter()
            .map(|i| (i.code.to_owned(), i.path))
            .collect()
    }

    #[test]
    fn create_checks_types_and_strips_unknown_keys() {
        let ok = parse_create(&json!({
            "firstName": "Jane", "numberOfDependents": 2, "preferredContactMethods": ["email"],
            "middleNames": null, "whatever": {"x": 1}, "id": 99,
            "contactMethods": [{"type": "email", "value": "a@example.com", "id": 4}]
        }))
        .expect("valid");
        assert_eq!(ok.scalars.len(), 3);
        assert_eq!(ok.methods, vec![("email".into(), "a@example.com".into())]);

        let e = parse_create(&json!({
            "firstName": 1, "numberOfDependents": "2", "employerId": 1.5,
            "preferredContactMethods": ["email", 3], "userId": "not-a-uuid",
            "contactMethods": [{"type": "", "value": "x"}, {"type": "email"}, "x"],
            "addresses": [{}]
        }))
        .expect_err("invalid");
        let got = issues(e);
        let expected: Vec<(String, Vec<Value>)> = vec![
            ("invalid_type".into(), vec![json!("firstName")]),
            ("invalid_type".into(), vec![json!("numberOfDependents")]),
            (
                "invalid_type".into(),
                vec![json!("preferredContactMethods"), json!(1)],
            ),
            ("invalid_string".into(), vec![json!("userId")]),
            ("invalid_type".into(), vec![json!("employerId")]),
            (
                "too_small".into(),
                vec![json!("contactMethods"), json!(0), json!("type")],
            ),
            (
                "invalid_type".into(),
                vec![json!("contactMethods"), json!(1), json!("value")],
            ),
            (
                "invalid_type".into(),
                vec![json!("contactMethods"), json!(2)],
            ),
            ("custom".into(), vec![json!("addresses")]),
        ];
        assert_eq!(got, expected);
        assert!(parse_create(&json!([])).is_err());
        assert!(parse_create(&json!({"contactMethods": {}})).is_err());
        assert!(parse_create(&json!({"employerId": 2_147_483_648_i64})).is_err());
        assert!(parse_create(&json!({"employerId": 3.0})).is_ok());
    }

    #[test]
    fn long_and_unicode_values_pass() {
        let long = "é".repeat(10_000);
        let c =
            parse_create(&json!({"firstName": long, "lastName": "Ngũyễn 山田 🙂"})).expect("valid");
        assert_eq!(c.scalars.len(), 2);
    }

    #[test]
    fn patch_rejects_lists_and_keeps_nulls() {
        let p =
            parse_patch(&json!({"title": null, "version": 3, "referenceId": "x"})).expect("valid");
        assert_eq!(p.scalars, vec![(Field::Title, None)]);
        assert_eq!(p.version, Some(3));
        let e = parse_patch(&json!({"contactMethods": [{"type": "email", "value": "x"}]}))
            .expect_err("lists");
        assert_eq!(
            issues(e),
            vec![("custom".into(), vec![json!("contactMethods")])]
        );
        assert!(parse_patch(&json!({"contactMethods": [], "addresses": null})).is_ok());
        assert!(parse_patch(&json!({"version": "1"})).is_err());
    }

    #[test]
    fn address_accepts_both_postcode_spellings() {
        let idx = ADDRESS_FIELDS
            .iter()
            .position(|f| *f == "postCode")
            .expect("postCode");
        let a = parse_address(&json!({"postcode": "2000"})).expect("valid");
        assert_eq!(a[idx].as_deref(), Some("2000"));
        let a = parse_address(&json!({"postCode": "3000", "postcode": "2000"})).expect("valid");
        assert_eq!(a[idx].as_deref(), Some("3000"));
        let e = parse_address(&json!({"postcode": 2000, "suburb": []})).expect_err("types");
        assert_eq!(
            issues(e),
            vec![
                ("invalid_type".into(), vec![json!("suburb")]),
                ("invalid_type".into(), vec![json!("postcode")]),
            ]
        );
    }

    #[test]
    fn method_needs_type_and_value() {
        assert!(parse_method(&json!({"type": "email", "value": "a@example.com"})).is_ok());
        let e = parse_method(&json!({"value": ""})).expect_err("invalid");
        assert_eq!(
            issues(e),
            vec![
                ("invalid_type".into(), vec![json!("type")]),
                ("too_small".into(), vec![json!("value")]),
            ]
        );
    }

    #[test]
    fn render_has_nulls_for_unset_fields() {
        let mut c = Contact::new(3, 1_755_633_293_663);
        c.set(Field::FirstName, Some(text("Jane")));
        c.set(Field::LastName, Some(text("Citizen")));
        c.set(Field::Title, Some(text("Ms")));
        c.set(Field::Title, None);
        let v = c.render();
        assert_eq!(v["referenceId"], "contact_3");
        assert_eq!(v["title"], Value::Null);
        assert_eq!(v["deletedAt"], Value::Null);
        assert_eq!(v["fullNameSearch"], "jane citizen");
        assert_eq!(v["createdAt"], "2025-08-19T19:54:53.663Z");
        assert_eq!(v.as_object().map(Map::len), Some(30));
    }
}
