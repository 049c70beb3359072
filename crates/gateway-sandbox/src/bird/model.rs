//! Bird's contact and identifier as stored and as rendered (docs/providers/bird.md), and the
//! validation of create, update and identifier bodies (docs/providers/bird.md).
//!
//! Error-status decision (the docs are silent): a body that is not JSON is 400
//! `InvalidParameter`; JSON of the wrong shape or type, or breaking a documented limit, is 422
//! `InvalidPayload` with a message naming the field and the rule.

use std::sync::{Arc, OnceLock};

use serde_json::{json, Map, Value};
use uuid::Uuid;

use super::errors::BirdError;
use crate::state::rfc3339_ms;
use crate::BIRD_SANDBOX_WORKSPACE;

pub(crate) const EMAIL: &str = "emailaddress";
pub(crate) const PHONE: &str = "phonenumber";
const VISITOR: &str = "visitorid";

/// `displayName` is 1–150 characters (docs/providers/bird.md, seed); counted in Unicode scalar values.
const DISPLAY_NAME_MAX: usize = 150;
/// Identifier key 1–64, value 1–500 characters (docs/providers/bird.md, documented).
const IDENT_KEY_MAX: usize = 64;
const IDENT_VALUE_MAX: usize = 500;
/// `accountIds` / `listIds` hold 1–10 items on create; PATCH arrays at most 10 (docs/providers/bird.md).
const REF_ARRAY_MAX: usize = 10;

/// An attribute or identifier key. Shared, and interned for the keys every contact has, so a
/// million seeded contacts do not carry a million copies of `"firstName"`.
pub(crate) type Key = Arc<str>;

/// The shared [`Key`] for `s`.
pub(crate) fn key(s: &str) -> Key {
    static KNOWN: OnceLock<Vec<Key>> = OnceLock::new();
    KNOWN
        .get_or_init(|| {
            [
                "displayName",
                "firstName",
                "lastName",
                "initialReference",
                "timezone",
                EMAIL,
                PHONE,
                VISITOR,
            ]
            .iter()
            .map(|k| Arc::from(*k))
            .collect()
        })
        .iter()
        .find(|k| &***k == s)
        .cloned()
        .unwrap_or_else(|| Arc::from(s))
}

/// One identifier of a contact.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Identifier {
    pub(crate) key: Key,
    pub(crate) value: Box<str>,
    pub(crate) properties: Option<Box<Map<String, Value>>>,
    pub(crate) created_ms: i64,
}

impl Identifier {
    pub(crate) fn new(input: IdentifierInput, created_ms: i64) -> Self {
        Self {
            key: key(&input.key),
            value: input.value.into_boxed_str(),
            properties: input.properties.map(Box::new),
            created_ms,
        }
    }

    fn is(&self, k: &str, v: &str) -> bool {
        &*self.key == k && &*self.value == v
    }

    /// `{contactId, key, value, properties, createdAt}` (docs/providers/bird.md, list identifiers).
    pub(crate) fn render(&self, contact_id: Uuid) -> Value {
        json!({
            "contactId": contact_id.to_string(),
            "key": &*self.key,
            "value": &*self.value,
            "properties": self.properties.as_deref().cloned().unwrap_or_default(),
            "createdAt": rfc3339_ms(self.created_ms),
        })
    }
}

/// A contact's references; boxed because most contacts (all seeded ones) have none.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Refs {
    pub(crate) account_ids: Vec<String>,
    pub(crate) list_ids: Vec<String>,
    pub(crate) company_refs: Vec<String>,
}

impl Refs {
    fn is_empty(&self) -> bool {
        self.account_ids.is_empty() && self.list_ids.is_empty() && self.company_refs.is_empty()
    }
}

/// A stored contact. `attributes` never holds `emailaddress`/`phonenumber` (those are rendered
/// from `identifiers`) nor null values (null means "no value"); kept as a sorted vector because
/// a tree node per contact costs far more memory with a million seeded contacts.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Contact {
    pub(crate) id: Uuid,
    pub(crate) created_ms: i64,
    pub(crate) updated_ms: i64,
    pub(crate) attributes: Vec<(Key, Value)>,
    pub(crate) identifiers: Vec<Identifier>,
    refs: Option<Box<Refs>>,
    /// Which server-added attributes are shown without being stored (`SERVER_*`).
    server_attrs: u8,
}

/// Bird adds `initialReference` (a uuid) and `timezone` to every new contact (docs/providers/bird.md,
/// documented examples). They are derived at render time rather than stored, which saves a
/// fifth of the memory of a million seeded contacts, until a client writes either key.
const SERVER_REFERENCE: u8 = 1;
const SERVER_TIMEZONE: u8 = 2;
const INITIAL_REFERENCE: &str = "initialReference";
const TIMEZONE: &str = "timezone";

/// A stable uuid v4 per contact, distinct from its id.
fn initial_reference(id: Uuid) -> Uuid {
    let mut bytes = *id.as_bytes();
    bytes.reverse();
    for b in bytes.iter_mut() {
        *b ^= 0x5a;
    }
    uuid::Builder::from_random_bytes(bytes).into_uuid()
}

impl Contact {
    pub(crate) fn new(
        id: Uuid,
        created_ms: i64,
        attributes: Vec<(Key, Value)>,
        identifiers: Vec<Identifier>,
        refs: Refs,
    ) -> Self {
        let mut c = Self {
            id,
            created_ms,
            updated_ms: created_ms,
            attributes,
            identifiers,
            refs: Some(Box::new(refs)),
            server_attrs: 0,
        };
        c.attributes.sort_by(|a, b| a.0.cmp(&b.0));
        if c.attribute(INITIAL_REFERENCE).is_none() {
            c.server_attrs |= SERVER_REFERENCE;
        }
        if c.attribute(TIMEZONE).is_none() {
            c.server_attrs |= SERVER_TIMEZONE;
        }
        c.compact_refs();
        c
    }

    #[cfg(test)]
    pub(crate) fn refs(&self) -> Refs {
        self.refs.as_deref().cloned().unwrap_or_default()
    }

    /// Changes the references; drops the box again when they end up empty.
    pub(crate) fn update_refs(&mut self, f: impl FnOnce(&mut Refs)) {
        f(self.refs.get_or_insert_with(Box::default));
        self.compact_refs();
    }

    fn compact_refs(&mut self) {
        if self.refs.as_deref().is_some_and(Refs::is_empty) {
            self.refs = None;
        }
    }

    pub(crate) fn attribute(&self, key: &str) -> Option<&Value> {
        self.attributes
            .binary_search_by(|(k, _)| (**k).cmp(key))
            .ok()
            .and_then(|i| self.attributes.get(i))
            .map(|(_, v)| v)
    }

    /// Sets an attribute; `null` removes it (PATCH semantics, docs/providers/bird.md).
    pub(crate) fn set_attribute(&mut self, name: &str, value: Value) {
        // Writing a server-added key replaces (or with null, clears) the derived value.
        match name {
            INITIAL_REFERENCE => self.server_attrs &= !SERVER_REFERENCE,
            TIMEZONE => self.server_attrs &= !SERVER_TIMEZONE,
            _ => {}
        }
        match self.attributes.binary_search_by(|(k, _)| (**k).cmp(name)) {
            Ok(i) if value.is_null() => {
                self.attributes.remove(i);
            }
            Ok(i) => {
                if let Some(slot) = self.attributes.get_mut(i) {
                    slot.1 = value;
                }
            }
            Err(_) if value.is_null() => {}
            Err(i) => self.attributes.insert(i, (key(name), value)),
        }
    }

    pub(crate) fn has_identifier(&self, key: &str, value: &str) -> bool {
        self.identifiers.iter().any(|i| i.is(key, value))
    }

    /// Removes identifier `(key, value)`; false when the contact does not hold it.
    pub(crate) fn remove_identifier(&mut self, key: &str, value: &str) -> bool {
        let before = self.identifiers.len();
        self.identifiers.retain(|i| !i.is(key, value));
        self.identifiers.len() != before
    }

    fn first_identifier(&self, key: &str) -> Option<&str> {
        self.identifiers
            .iter()
            .find(|i| &*i.key == key)
            .map(|i| &*i.value)
    }

    /// `computedDisplayName`: `displayName` attribute → `firstName` attribute → first
    /// `emailaddress` → first `phonenumber` (docs/providers/bird.md, seed).
    fn computed_display_name(&self) -> Option<String> {
        let attr = |k: &str| match self.attribute(k) {
            Some(Value::String(s)) if !s.is_empty() => Some(s.clone()),
            _ => None,
        };
        attr("displayName")
            .or_else(|| attr("firstName"))
            .or_else(|| self.first_identifier(EMAIL).map(str::to_owned))
            .or_else(|| self.first_identifier(PHONE).map(str::to_owned))
    }

    /// The contact as Bird renders it. Empty collections are omitted (the documented examples
    /// omit `featuredIdentifiers`, `listIds` and `accountIds` when there are none);
    /// `extra_attributes` (the `attribute` query parameter) are returned as `null` when empty;
    /// `timezone` is the workspace's, shown unless the contact has its own.
    pub(crate) fn render(&self, extra_attributes: &[String], timezone: &str) -> Value {
        let mut attrs: Map<String, Value> = self
            .attributes
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect();
        if self.server_attrs & SERVER_REFERENCE != 0 {
            attrs.insert(
                INITIAL_REFERENCE.to_owned(),
                json!(initial_reference(self.id).to_string()),
            );
        }
        if self.server_attrs & SERVER_TIMEZONE != 0 {
            attrs.insert(TIMEZONE.to_owned(), json!(timezone));
        }
        // Identifiers are mirrored into attributes as arrays (docs/providers/bird.md, documented examples).
        for key in [EMAIL, PHONE] {
            let values: Vec<Value> = self
                .identifiers
                .iter()
                .filter(|i| &*i.key == key)
                .map(|i| Value::String(i.value.to_string()))
                .collect();
            if !values.is_empty() {
                attrs.insert(key.to_owned(), Value::Array(values));
            }
        }
        for key in extra_attributes {
            attrs.entry(key.clone()).or_insert(Value::Null);
        }

        let mut out = Map::new();
        out.insert("id".into(), json!(self.id.to_string()));
        if let Some(name) = self.computed_display_name() {
            out.insert("computedDisplayName".into(), json!(name));
        }
        out.insert("createdAt".into(), json!(rfc3339_ms(self.created_ms)));
        out.insert("updatedAt".into(), json!(rfc3339_ms(self.updated_ms)));
        out.insert("workspaceId".into(), json!(BIRD_SANDBOX_WORKSPACE));
        let featured: Vec<Value> = [EMAIL, PHONE]
            .iter()
            .filter_map(|k| {
                self.first_identifier(k)
                    .map(|v| json!({"key": k, "value": v}))
            })
            .collect();
        if !featured.is_empty() {
            out.insert("featuredIdentifiers".into(), Value::Array(featured));
        }
        if !attrs.is_empty() {
            out.insert("attributes".into(), Value::Object(attrs));
        }
        out.insert("identifierCount".into(), json!(self.identifiers.len()));
        if let Some(refs) = self.refs.as_deref() {
            for (name, ids) in [
                ("accountIds", &refs.account_ids),
                ("listIds", &refs.list_ids),
                ("companyRefs", &refs.company_refs),
            ] {
                if !ids.is_empty() {
                    out.insert(name.into(), json!(ids));
                }
            }
        }
        // Anonymous: no identifiers, or only `visitorid` ones (docs/providers/bird.md, seed).
        let anonymous = self.identifiers.iter().all(|i| &*i.key == VISITOR);
        out.insert("isAnonymous".into(), json!(anonymous));
        Value::Object(out)
    }
}

/// A validated identifier from a request body.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct IdentifierInput {
    pub(crate) key: String,
    pub(crate) value: String,
    pub(crate) properties: Option<Map<String, Value>>,
}

/// A validated create body.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct NewContact {
    pub(crate) attributes: Vec<(String, Value)>,
    pub(crate) identifiers: Vec<IdentifierInput>,
    pub(crate) refs: Refs,
}

/// A validated PATCH body. `attributes` values of `null` clear the key.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct ContactPatch {
    pub(crate) attributes: Vec<(String, Value)>,
    pub(crate) list_ids: Option<Vec<String>>,
    pub(crate) add_to_lists: Vec<String>,
    pub(crate) remove_from_lists: Vec<String>,
    pub(crate) account_ids: Option<Vec<String>>,
    pub(crate) add_to_accounts: Vec<String>,
    pub(crate) remove_from_accounts: Vec<String>,
    pub(crate) company_refs: Option<Vec<String>>,
    pub(crate) add_company_refs: Vec<String>,
    pub(crate) remove_company_refs: Vec<String>,
    pub(crate) add_identifiers: Vec<IdentifierInput>,
    pub(crate) remove_identifiers: Vec<(String, String)>,
}

/// Parses a request body as JSON; not JSON at all is 400 `InvalidParameter`.
pub(crate) fn parse_json(body: &[u8]) -> Result<Value, BirdError> {
    serde_json::from_slice(body)
        .map_err(|e| BirdError::invalid_parameter(format!("request body is not valid JSON: {e}")))
}

fn as_object<'a>(v: &'a Value, what: &str) -> Result<&'a Map<String, Value>, BirdError> {
    v.as_object()
        .ok_or_else(|| BirdError::invalid_payload(format!("{what} must be a JSON object")))
}

/// A present, non-null field.
fn field<'a>(obj: &'a Map<String, Value>, name: &str) -> Option<&'a Value> {
    obj.get(name).filter(|v| !v.is_null())
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

fn display_name(v: &Value, field_name: &str) -> Result<String, BirdError> {
    let Value::String(s) = v else {
        return Err(BirdError::invalid_payload(format!(
            "{field_name} must be a string, got {}",
            type_name(v)
        )));
    };
    let n = s.chars().count();
    if n == 0 || n > DISPLAY_NAME_MAX {
        return Err(BirdError::invalid_payload(format!(
            "{field_name} must be 1 to {DISPLAY_NAME_MAX} characters long, got {n}"
        )));
    }
    Ok(s.clone())
}

/// E.164: `+`, a non-zero digit, then 1–14 more digits (docs/providers/bird.md, Simulator line).
pub(crate) fn is_e164(s: &str) -> bool {
    let Some(digits) = s.strip_prefix('+') else {
        return false;
    };
    let len = digits.len();
    (2..=15).contains(&len)
        && digits.bytes().all(|b| b.is_ascii_digit())
        && !digits.starts_with('0')
}

/// Exactly one `@` with something on both sides (docs/providers/bird.md, Simulator line).
pub(crate) fn is_email(s: &str) -> bool {
    let mut parts = s.split('@');
    matches!(
        (parts.next(), parts.next(), parts.next()),
        (Some(local), Some(domain), None) if !local.is_empty() && !domain.is_empty()
    )
}

/// Validates one identifier object `{key, value, properties?}` found at `at`.
pub(crate) fn identifier(v: &Value, at: &str) -> Result<IdentifierInput, BirdError> {
    let obj = as_object(v, at)?;
    let key = match field(obj, "key") {
        Some(Value::String(s)) => s.clone(),
        Some(other) => {
            return Err(BirdError::invalid_payload(format!(
                "{at}.key must be a string, got {}",
                type_name(other)
            )))
        }
        None => return Err(BirdError::invalid_payload(format!("{at}.key is required"))),
    };
    let value = match field(obj, "value") {
        Some(Value::String(s)) => s.clone(),
        Some(other) => {
            return Err(BirdError::invalid_payload(format!(
                "{at}.value must be a string, got {}",
                type_name(other)
            )))
        }
        None => {
            return Err(BirdError::invalid_payload(format!(
                "{at}.value is required"
            )))
        }
    };
    let key_len = key.chars().count();
    if key_len == 0 || key_len > IDENT_KEY_MAX {
        return Err(BirdError::invalid_payload(format!(
            "{at}.key must be 1 to {IDENT_KEY_MAX} characters long, got {key_len}"
        )));
    }
    let value_len = value.chars().count();
    if value_len == 0 || value_len > IDENT_VALUE_MAX {
        return Err(BirdError::invalid_payload(format!(
            "{at}.value must be 1 to {IDENT_VALUE_MAX} characters long, got {value_len}"
        )));
    }
    if key == PHONE && !is_e164(&value) {
        return Err(BirdError::invalid_payload(format!(
            "{at}.value {value:?} is not a valid phonenumber: expected E.164 such as +31600000000"
        )));
    }
    if key == EMAIL && !is_email(&value) {
        return Err(BirdError::invalid_payload(format!(
            "{at}.value {value:?} is not a valid emailaddress"
        )));
    }
    let properties = match field(obj, "properties") {
        None => None,
        Some(Value::Object(m)) => Some(m.clone()),
        Some(other) => {
            return Err(BirdError::invalid_payload(format!(
                "{at}.properties must be an object, got {}",
                type_name(other)
            )))
        }
    };
    Ok(IdentifierInput {
        key,
        value,
        properties,
    })
}

fn identifier_list(v: &Value, name: &str) -> Result<Vec<IdentifierInput>, BirdError> {
    let Value::Array(items) = v else {
        return Err(BirdError::invalid_payload(format!(
            "{name} must be an array, got {}",
            type_name(v)
        )));
    };
    let mut out: Vec<IdentifierInput> = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let ident = identifier(item, &format!("{name}[{i}]"))?;
        // The same identifier twice in one body is one identifier.
        if !out
            .iter()
            .any(|o| o.key == ident.key && o.value == ident.value)
        {
            out.push(ident);
        }
    }
    Ok(out)
}

/// Attribute keys follow the attribute-definition key pattern `^[A-Za-z\d_-]{1,64}$` (docs/providers/bird.md).
fn attribute_key(key: &str) -> Result<(), BirdError> {
    let ok = !key.is_empty()
        && key.len() <= 64
        && key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    if !ok {
        return Err(BirdError::invalid_payload(format!(
            "attribute key {key:?} must match ^[A-Za-z0-9_-]{{1,64}}$"
        )));
    }
    Ok(())
}

/// Values: boolean, number, string, a non-empty array of those, or null (docs/providers/bird.md, documented).
fn attribute_value(key: &str, v: &Value) -> Result<(), BirdError> {
    let scalar = |v: &Value| matches!(v, Value::Bool(_) | Value::Number(_) | Value::String(_));
    match v {
        Value::Null | Value::Bool(_) | Value::Number(_) | Value::String(_) => Ok(()),
        Value::Array(items) if !items.is_empty() && items.iter().all(scalar) => Ok(()),
        Value::Array(items) if items.is_empty() => Err(BirdError::invalid_payload(format!(
            "attributes.{key} must not be an empty array"
        ))),
        other => Err(BirdError::invalid_payload(format!(
            "attributes.{key} must be a boolean, number, string, a non-empty array of those, \
             or null, got {}",
            type_name(other)
        ))),
    }
}

fn attributes(v: &Value) -> Result<Vec<(String, Value)>, BirdError> {
    let Value::Object(map) = v else {
        return Err(BirdError::invalid_payload(format!(
            "attributes must be an object, got {}",
            type_name(v)
        )));
    };
    // Identifiers are read-only attributes: the observed 422 (docs/providers/bird.md, `[observed]`). Every
    // read-only key is reported, joined with `;` like the observed message.
    let read_only: Vec<&str> = map
        .keys()
        .map(String::as_str)
        .filter(|k| *k == EMAIL || *k == PHONE)
        .collect();
    if !read_only.is_empty() {
        let msg = read_only
            .iter()
            .map(|k| format!("cannot edit read-only attribute {k:?}"))
            .collect::<Vec<_>>()
            .join("; ");
        return Err(BirdError::invalid_payload(format!(
            "{msg}; write emailaddress and phonenumber as identifiers"
        )));
    }
    let mut out = Vec::with_capacity(map.len());
    for (k, val) in map {
        attribute_key(k)?;
        attribute_value(k, val)?;
        out.push((k.clone(), val.clone()));
    }
    Ok(out)
}

/// A string array with item bounds; `uuid` items must parse as UUIDs. Duplicates collapse.
fn string_array(
    v: &Value,
    name: &str,
    min: usize,
    max: Option<usize>,
    uuid: bool,
) -> Result<Vec<String>, BirdError> {
    let Value::Array(items) = v else {
        return Err(BirdError::invalid_payload(format!(
            "{name} must be an array, got {}",
            type_name(v)
        )));
    };
    if items.len() < min || max.is_some_and(|m| items.len() > m) {
        let bound = match max {
            Some(m) => format!("{min} to {m}"),
            None => format!("at least {min}"),
        };
        return Err(BirdError::invalid_payload(format!(
            "{name} must have {bound} items, got {}",
            items.len()
        )));
    }
    let mut out: Vec<String> = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let Value::String(s) = item else {
            return Err(BirdError::invalid_payload(format!(
                "{name}[{i}] must be a string, got {}",
                type_name(item)
            )));
        };
        if uuid && Uuid::parse_str(s).is_err() {
            return Err(BirdError::invalid_payload(format!(
                "{name}[{i}] must be a UUID, got {s:?}"
            )));
        }
        if !out.contains(s) {
            out.push(s.clone());
        }
    }
    Ok(out)
}

/// Validates a create body (docs/providers/bird.md). Unknown top-level keys are allowed and ignored
/// ("Other properties: any").
pub(crate) fn parse_create(body: &Value) -> Result<NewContact, BirdError> {
    let obj = as_object(body, "request body")?;
    let display = match field(obj, "displayName") {
        Some(v) => display_name(v, "displayName")?,
        None => return Err(BirdError::invalid_payload("displayName is required")),
    };
    let identifiers = match field(obj, "identifiers") {
        Some(v) => identifier_list(v, "identifiers")?,
        None => Vec::new(),
    };
    let mut attrs = match field(obj, "attributes") {
        Some(v) => attributes(v)?,
        None => Vec::new(),
    };
    // The body's displayName is stored as the `displayName` attribute (docs/providers/bird.md, Simulator line).
    attrs.retain(|(k, v)| k != "displayName" && !v.is_null());
    attrs.push(("displayName".to_owned(), Value::String(display)));
    attrs.sort_by(|a, b| a.0.cmp(&b.0));
    let account_ids = match field(obj, "accountIds") {
        Some(v) => string_array(v, "accountIds", 1, Some(REF_ARRAY_MAX), false)?,
        None => Vec::new(),
    };
    let list_ids = match field(obj, "listIds") {
        Some(v) => string_array(v, "listIds", 1, Some(REF_ARRAY_MAX), true)?,
        None => Vec::new(),
    };
    let company_refs = match field(obj, "companyRefs") {
        Some(v) => string_array(v, "companyRefs", 0, None, false)?,
        None => Vec::new(),
    };
    Ok(NewContact {
        attributes: attrs,
        identifiers,
        refs: Refs {
            account_ids,
            list_ids,
            company_refs,
        },
    })
}

/// Validates a PATCH body (docs/providers/bird.md). Everything is checked before anything is applied, so a 422
/// leaves the contact untouched.
pub(crate) fn parse_patch(body: &Value) -> Result<ContactPatch, BirdError> {
    let obj = as_object(body, "request body")?;
    let mut patch = ContactPatch::default();

    if let Some(v) = field(obj, "attributes") {
        patch.attributes = attributes(v)?;
    }
    // A top-level displayName is accepted too and sets the attribute; explicit null clears it.
    match obj.get("displayName") {
        Some(Value::Null) => set_patch_attr(&mut patch.attributes, "displayName", Value::Null),
        Some(v) => {
            let name = display_name(v, "displayName")?;
            set_patch_attr(&mut patch.attributes, "displayName", Value::String(name));
        }
        None => {}
    }

    if let Some(v) = field(obj, "strategy") {
        match v.as_str() {
            Some("strict_alias" | "first_alias" | "first") => {}
            _ => {
                return Err(BirdError::invalid_payload(
                    "strategy must be one of strict_alias, first_alias, first",
                ))
            }
        }
    }
    if let Some(v) = field(obj, "allowWritingReadOnly") {
        // Honoured only for requests from flows/journeys (seed), so never here.
        if !v.is_boolean() {
            return Err(BirdError::invalid_payload(
                "allowWritingReadOnly must be a boolean",
            ));
        }
    }

    let max = Some(REF_ARRAY_MAX);
    let arr = |name: &str, min: usize, max: Option<usize>, uuid: bool| {
        field(obj, name)
            .map(|v| string_array(v, name, min, max, uuid))
            .transpose()
    };
    patch.list_ids = arr("listIds", 0, max, true)?;
    patch.add_to_lists = arr("addToLists", 0, max, true)?.unwrap_or_default();
    patch.remove_from_lists = arr("removeFromLists", 0, max, true)?.unwrap_or_default();
    patch.account_ids = arr("accountIds", 1, max, true)?;
    patch.add_to_accounts = arr("addToAccounts", 0, max, true)?.unwrap_or_default();
    patch.remove_from_accounts = arr("removeFromAccounts", 0, max, true)?.unwrap_or_default();
    patch.company_refs = arr("companyRefs", 0, None, false)?;
    patch.add_company_refs = arr("addCompanyRefs", 0, None, false)?.unwrap_or_default();
    patch.remove_company_refs = arr("removeCompanyRefs", 0, None, false)?.unwrap_or_default();

    // `identifiers` (deprecated on the upsert page) and `addIdentifiers` both add (docs/providers/bird.md).
    for name in ["identifiers", "addIdentifiers"] {
        if let Some(v) = field(obj, name) {
            for ident in identifier_list(v, name)? {
                if !patch
                    .add_identifiers
                    .iter()
                    .any(|o| o.key == ident.key && o.value == ident.value)
                {
                    patch.add_identifiers.push(ident);
                }
            }
        }
    }
    if let Some(v) = field(obj, "removeIdentifiers") {
        let Value::Array(items) = v else {
            return Err(BirdError::invalid_payload(format!(
                "removeIdentifiers must be an array, got {}",
                type_name(v)
            )));
        };
        for (i, item) in items.iter().enumerate() {
            let (key, value) = identifier_ref(item, &format!("removeIdentifiers[{i}]"))?;
            patch.remove_identifiers.push((key, value));
        }
    }
    Ok(patch)
}

fn set_patch_attr(attrs: &mut Vec<(String, Value)>, key: &str, value: Value) {
    attrs.retain(|(k, _)| k != key);
    attrs.push((key.to_owned(), value));
}

/// `{key, value}` naming an existing identifier (delete identifier, removeIdentifiers,
/// search). Only presence and type are checked: a value that could never have been stored is
/// simply not found.
pub(crate) fn identifier_ref(v: &Value, at: &str) -> Result<(String, String), BirdError> {
    let obj = as_object(v, at)?;
    let get = |name: &str| match field(obj, name) {
        Some(Value::String(s)) if !s.is_empty() => Ok(s.clone()),
        Some(other) => Err(BirdError::invalid_payload(format!(
            "{at}.{name} must be a non-empty string, got {}",
            type_name(other)
        ))),
        None => Err(BirdError::invalid_payload(format!(
            "{at}.{name} is required"
        ))),
    };
    Ok((get("key")?, get("value")?))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn contact() -> Contact {
        Contact::new(Uuid::nil(), 0, Vec::new(), Vec::new(), Refs::default())
    }

    fn ident(k: &str, v: &str) -> Identifier {
        Identifier::new(
            IdentifierInput {
                key: k.into(),
                value: v.into(),
                properties: None,
            },
            0,
        )
    }

    #[test]
    fn e164_and_email_rules() {
        for ok in ["+61400111222", "+31600000000", "+12", "+123456789012345"] {
            assert!(is_e164(ok), "{ok}");
        }
        for bad in [
            "61400111222",
            "+0400111222",
            "+1",
            "+1234567890123456",
            "+61 400 111 222",
            "+६१४",
            "",
        ] {
            assert!(!is_e164(bad), "{bad}");
        }
        assert!(is_email("a@b"));
        for bad in ["ab", "@b", "a@", "a@b@c", ""] {
            assert!(!is_email(bad), "{bad}");
        }
    }

    #[test]
    fn computed_display_name_precedence() {
        let mut c = contact();
        assert!(c.render(&[], "UTC").get("computedDisplayName").is_none());
        c.identifiers.push(ident(PHONE, "+61400111222"));
        assert_eq!(c.render(&[], "UTC")["computedDisplayName"], "+61400111222");
        c.identifiers.push(ident(EMAIL, "jane@example.com"));
        assert_eq!(
            c.render(&[], "UTC")["computedDisplayName"],
            "jane@example.com"
        );
        c.set_attribute("firstName", json!("Jane"));
        assert_eq!(c.render(&[], "UTC")["computedDisplayName"], "Jane");
        c.set_attribute("displayName", json!("Jane Citizen"));
        assert_eq!(c.render(&[], "UTC")["computedDisplayName"], "Jane Citizen");
    }

    #[test]
    fn render_mirrors_identifiers_and_features_the_first_of_each() {
        let mut c = contact();
        c.identifiers.push(ident(EMAIL, "a@example.com"));
        c.identifiers.push(ident(PHONE, "+61400111222"));
        c.identifiers.push(ident(EMAIL, "b@example.com"));
        let r = c.render(&["age".to_owned()], "UTC");
        assert_eq!(
            r["attributes"]["emailaddress"],
            json!(["a@example.com", "b@example.com"])
        );
        assert_eq!(r["attributes"]["phonenumber"], json!(["+61400111222"]));
        assert_eq!(r["attributes"]["age"], Value::Null);
        assert_eq!(
            r["featuredIdentifiers"],
            json!([{"key": "emailaddress", "value": "a@example.com"},
                   {"key": "phonenumber", "value": "+61400111222"}])
        );
        assert_eq!(r["identifierCount"], 3);
        assert_eq!(r["isAnonymous"], false);
        assert!(r.get("listIds").is_none());
    }

    #[test]
    fn anonymous_when_only_visitor_ids() {
        let mut c = contact();
        assert_eq!(c.render(&[], "UTC")["isAnonymous"], true);
        c.identifiers.push(ident(VISITOR, "v1"));
        assert_eq!(c.render(&[], "UTC")["isAnonymous"], true);
        c.identifiers.push(ident("external_id", "x"));
        assert_eq!(c.render(&[], "UTC")["isAnonymous"], false);
    }

    #[test]
    fn server_added_attributes_until_written() {
        let mut c = contact();
        let r = c.render(&[], "Australia/Sydney");
        assert_eq!(r["attributes"]["timezone"], "Australia/Sydney");
        let reference = r["attributes"]["initialReference"].clone();
        let parsed = Uuid::parse_str(reference.as_str().expect("string")).expect("uuid");
        assert_eq!(parsed.get_version_num(), 4);
        assert_ne!(parsed, c.id);
        assert_eq!(
            c.render(&[], "UTC")["attributes"]["initialReference"],
            reference
        );

        c.set_attribute("timezone", json!("Europe/Amsterdam"));
        c.set_attribute("initialReference", Value::Null);
        let r = c.render(&[], "UTC");
        assert_eq!(r["attributes"]["timezone"], "Europe/Amsterdam");
        assert!(r["attributes"].get("initialReference").is_none());
        c.set_attribute("timezone", Value::Null);
        assert!(c.render(&[], "UTC").get("attributes").is_none());

        let own = Contact::new(
            Uuid::nil(),
            0,
            vec![(key("timezone"), json!("Asia/Tokyo"))],
            Vec::new(),
            Refs::default(),
        );
        assert_eq!(
            own.render(&[], "UTC")["attributes"]["timezone"],
            "Asia/Tokyo"
        );
    }

    #[test]
    fn set_attribute_keeps_order_and_null_clears() {
        let mut c = contact();
        c.set_attribute("b", json!(1));
        c.set_attribute("a", json!(2));
        c.set_attribute("c", Value::Null);
        assert_eq!(
            c.attributes,
            vec![(key("a"), json!(2)), (key("b"), json!(1))]
        );
        assert!(Arc::ptr_eq(&key("firstName"), &key("firstName")));
        c.set_attribute("b", Value::Null);
        assert_eq!(c.attribute("b"), None);
        assert_eq!(c.attribute("a"), Some(&json!(2)));
    }

    #[test]
    fn create_validation_names_the_field() {
        let err = |v: Value| parse_create(&v).expect_err("invalid").message;
        assert!(err(json!({})).contains("displayName"));
        assert!(err(json!([])).contains("object"));
        assert!(err(json!({"displayName": 5})).contains("string"));
        assert!(err(json!({"displayName": ""})).contains("1 to 150"));
        assert!(err(json!({"displayName": "x".repeat(151)})).contains("got 151"));
        assert!(err(json!({"displayName": "x", "listIds": []})).contains("listIds"));
        assert!(err(json!({"displayName": "x", "listIds": ["nope"]})).contains("UUID"));
        assert!(err(json!({"displayName": "x", "accountIds": vec!["a"; 11]})).contains("1 to 10"));
        assert!(err(json!({"displayName": "x", "attributes": {"a": {}}})).contains("attributes.a"));
        assert!(err(json!({"displayName": "x", "attributes": {"a": []}})).contains("empty array"));
        assert!(err(json!({"displayName": "x", "attributes": {"a.b": 1}})).contains("a.b"));
        assert!(
            err(json!({"displayName": "x", "identifiers": [{"key": "emailaddress"}]}))
                .contains("identifiers[0].value")
        );
        assert!(err(
            json!({"displayName": "x", "identifiers": [{"key": "k".repeat(65), "value": "v"}]})
        )
        .contains("identifiers[0].key"));
        assert!(
            err(json!({"displayName": "x", "attributes": {"phonenumber": "+61400111222"}}))
                .starts_with("cannot edit read-only attribute \"phonenumber\";")
        );
    }

    #[test]
    fn create_stores_display_name_as_attribute() {
        let c = parse_create(&json!({
            "displayName": "Zoë",
            "attributes": {"lastName": "Citizen", "gone": null, "labels": ["A", 1, true]},
            "identifiers": [{"key": "emailaddress", "value": "z@example.com"},
                            {"key": "emailaddress", "value": "z@example.com"}],
            "companyRefs": [],
            "anythingElse": {"deep": true}
        }))
        .expect("valid");
        let keys: Vec<&str> = c.attributes.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(keys, vec!["displayName", "labels", "lastName"]);
        assert_eq!(c.identifiers.len(), 1);
    }

    #[test]
    fn patch_validation() {
        let p = parse_patch(&json!({
            "attributes": {"firstName": "Jo", "age": null},
            "displayName": "Jo Citizen",
            "addToLists": ["123e4567-e89b-12d3-a456-426614174000"],
            "addIdentifiers": [{"key": "phonenumber", "value": "+61400111222"}],
            "removeIdentifiers": [{"key": "emailaddress", "value": "old@example.com"}],
            "strategy": "first"
        }))
        .expect("valid");
        assert_eq!(p.attributes.len(), 3);
        assert_eq!(p.add_to_lists.len(), 1);
        assert_eq!(p.add_identifiers.len(), 1);
        assert_eq!(p.remove_identifiers.len(), 1);

        for bad in [
            json!({"attributes": {"emailaddress": ["x@example.com"]}}),
            json!({"accountIds": []}),
            json!({"addToLists": vec!["123e4567-e89b-12d3-a456-426614174000"; 11]}),
            json!({"strategy": "best"}),
            json!({"displayName": ""}),
            json!({"removeIdentifiers": [{"key": "emailaddress"}]}),
            json!({"addIdentifiers": [{"key": "phonenumber", "value": "0400111222"}]}),
        ] {
            let e = parse_patch(&bad).expect_err("invalid");
            assert_eq!(e.status.as_u16(), 422, "{bad}");
        }
    }
}
