//! Write validation driven by a `ProviderDeclaration`: every input value is either kept for
//! the provider, reported as a warning with its JSON pointer, or refused with a 422, before
//! any provider call. The pruned input it returns is exactly what the adapter may write.

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};

use regex::Regex;
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::{Map, Value};

use crate::declare::{
    FieldSpec, Format, LengthUnit, Normalize, ProviderDeclaration, Support, ValueKind,
};
use crate::error::FieldError;
use crate::model::{ContactInput, Warning, MAX_ITEMS, MAX_REMOTE_FIELDS};

/// Create or update: required fields and per-operation support differ.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WriteMode {
    /// A new contact.
    Create,
    /// A change to an existing contact.
    Update,
}

/// Input that passed validation, pruned to what the provider stores and normalised.
#[derive(Clone, Debug, PartialEq)]
pub struct PreparedWrite {
    /// What the adapter must write, all of it.
    pub input: ContactInput,
    /// Values that were not kept, each with its pointer into the original body.
    pub warnings: Vec<Warning>,
}

/// Input that cannot be written as sent.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[error("{} field(s) failed validation", errors.len())]
pub struct ValidationFailure {
    /// Every problem found, not just the first.
    pub errors: Vec<FieldError>,
}

/// Validates `input` against `decl`. With `strict`, values the provider would not keep are
/// errors instead of warnings.
pub fn prepare_write(
    decl: &ProviderDeclaration,
    mode: WriteMode,
    input: &ContactInput,
    strict: bool,
) -> Result<PreparedWrite, ValidationFailure> {
    let oversized = oversized_lists(input);
    if !oversized.is_empty() {
        return Err(ValidationFailure { errors: oversized });
    }
    let mut cx = Cx {
        decl,
        update: mode == WriteMode::Update,
        strict,
        warnings: vec![],
        errors: vec![],
    };

    let out = ContactInput {
        first_name: cx.scalar("firstName", &input.first_name),
        last_name: cx.scalar("lastName", &input.last_name),
        account: cx.scalar("account", &input.account),
        addresses: cx.objects("addresses", &input.addresses),
        email_addresses: cx.objects("emailAddresses", &input.email_addresses),
        phone_numbers: cx.objects("phoneNumbers", &input.phone_numbers),
        remote_fields: cx.remote_fields(input.remote_fields.as_ref()),
    };

    // The common model itself requires a family name on create, whatever the provider says.
    if mode == WriteMode::Create
        && input.last_name().is_none_or(|v| v.trim().is_empty())
        && !cx.errors.iter().any(|e| e.pointer == "/lastName")
    {
        cx.errors.push(FieldError::new(
            "/lastName",
            "required",
            "lastName is required on create",
        ));
    }

    if cx.errors.is_empty() {
        Ok(PreparedWrite {
            input: out,
            warnings: cx.warnings,
        })
    } else {
        Err(ValidationFailure { errors: cx.errors })
    }
}

/// The common model's own bounds ([`MAX_ITEMS`], [`MAX_REMOTE_FIELDS`]), checked before any
/// item is looked at: everything after them costs time in proportion to the item count.
fn oversized_lists(input: &ContactInput) -> Vec<FieldError> {
    let lists = [
        ("addresses", input.addresses.as_ref().map_or(0, Vec::len)),
        (
            "emailAddresses",
            input.email_addresses.as_ref().map_or(0, Vec::len),
        ),
        (
            "phoneNumbers",
            input.phone_numbers.as_ref().map_or(0, Vec::len),
        ),
    ];
    let mut errors: Vec<FieldError> = lists
        .into_iter()
        .filter(|(_, len)| *len > MAX_ITEMS)
        .map(|(name, len)| {
            FieldError::new(
                format!("/{name}"),
                "too_many_items",
                format!("{name} takes at most {MAX_ITEMS} items, got {len}"),
            )
        })
        .collect();
    let keys = input.remote_fields.as_ref().map_or(0, Map::len);
    if keys > MAX_REMOTE_FIELDS {
        errors.push(FieldError::new(
            "/remoteFields",
            "too_many_items",
            format!("remoteFields takes at most {MAX_REMOTE_FIELDS} keys, got {keys}"),
        ));
    }
    errors
}

/// Escapes one JSON pointer segment (RFC 6901).
pub fn pointer_segment(key: &str) -> String {
    key.replace('~', "~0").replace('/', "~1")
}

struct Cx<'a> {
    decl: &'a ProviderDeclaration,
    update: bool,
    strict: bool,
    warnings: Vec<Warning>,
    errors: Vec<FieldError>,
}

impl Cx<'_> {
    fn not_kept(&mut self, pointer: String, support: Support) {
        let provider = &self.decl.name;
        let (code, message) = match support {
            Support::ReadOnly => (
                "read_only",
                format!("{provider} does not let this value be written; it was not sent"),
            ),
            _ => (
                "not_supported",
                format!("{provider} cannot store this value; it was not sent"),
            ),
        };
        if self.strict {
            self.errors.push(FieldError::new(
                pointer,
                code,
                format!("{message} (strict mode)"),
            ));
        } else {
            self.warnings.push(Warning::new(pointer, code, message));
        }
    }

    fn cannot_clear(&mut self, pointer: String) {
        let message = format!(
            "{} has no way to clear this value; it was left as it is",
            self.decl.name
        );
        if self.strict {
            self.errors.push(FieldError::new(
                pointer,
                "not_supported",
                format!("{message} (strict mode)"),
            ));
        } else {
            self.warnings
                .push(Warning::new(pointer, "not_supported", message));
        }
    }

    fn scalar(&mut self, name: &str, field: &Option<Option<String>>) -> Option<Option<String>> {
        let pointer = format!("/{name}");
        let spec = self.decl.field(&pointer).cloned();
        match field {
            None => {
                if !self.update && spec.as_ref().is_some_and(|s| s.required) {
                    self.errors.push(FieldError::new(
                        &pointer,
                        "required",
                        format!("{name} is required"),
                    ));
                }
                None
            }
            Some(None) => {
                if self.update && (name == "lastName" || spec.as_ref().is_some_and(|s| s.required))
                {
                    self.errors.push(FieldError::new(
                        &pointer,
                        "required",
                        format!("{name} cannot be cleared"),
                    ));
                    return None;
                }
                match spec {
                    Some(s) if s.support_for(self.update) == Support::Stored && !s.clearable => {
                        self.cannot_clear(pointer);
                        None
                    }
                    Some(s) if s.support_for(self.update) == Support::Stored => Some(None),
                    // Clearing a value the provider never stored changes nothing: no warning.
                    _ => None,
                }
            }
            Some(Some(value)) => {
                let Some(spec) = spec else {
                    self.not_kept(pointer, Support::NotStored);
                    return None;
                };
                match spec.support_for(self.update) {
                    Support::Stored => {
                        if spec.required && value.trim().is_empty() {
                            self.errors.push(FieldError::new(
                                &pointer,
                                "required",
                                format!("{name} must not be empty"),
                            ));
                            return None;
                        }
                        match self.value(&spec, &pointer, &Value::String(value.clone())) {
                            Some(Value::String(s)) => Some(Some(s)),
                            _ => None,
                        }
                    }
                    other => {
                        self.not_kept(pointer, other);
                        None
                    }
                }
            }
        }
    }

    /// Arrays of objects (addresses, emails, phones), checked key by key so one code path
    /// serves all three.
    fn objects<T: Serialize + DeserializeOwned>(
        &mut self,
        name: &str,
        list: &Option<Vec<T>>,
    ) -> Option<Vec<T>> {
        let list = list.as_ref()?;
        let pointer = format!("/{name}");
        let spec = self.decl.field(&pointer).cloned();
        let support = spec
            .as_ref()
            .map_or(Support::NotStored, |s| s.support_for(self.update));
        let Some(spec) = spec.filter(|_| support == Support::Stored) else {
            for i in 0..list.len() {
                self.not_kept(format!("{pointer}/{i}"), support);
            }
            return None;
        };
        if self.update && list.is_empty() && !spec.clearable {
            self.cannot_clear(pointer);
            return None;
        }
        if let Some(min) = spec.min_items {
            if list.len() < min && !(self.update && list.is_empty()) {
                self.errors.push(FieldError::new(
                    &pointer,
                    "too_few_items",
                    format!("{name} needs at least {min} item(s)"),
                ));
            }
        }
        let mut kept = Vec::with_capacity(list.len());
        // identity → index of its first occurrence: one lookup per item, not a scan.
        let mut seen: HashMap<String, usize> = HashMap::new();
        for (i, item) in list.iter().enumerate() {
            let item_pointer = format!("{pointer}/{i}");
            if spec.max_items.is_some_and(|max| i >= max) {
                if spec.reject_extra_items {
                    let max = spec.max_items.unwrap_or_default();
                    self.errors.push(FieldError::new(
                        &item_pointer,
                        "too_many_items",
                        format!("{} accepts at most {max} {name}", self.decl.name),
                    ));
                } else {
                    self.not_kept(item_pointer, Support::NotStored);
                }
                continue;
            }
            let Ok(Value::Object(map)) = serde_json::to_value(item) else {
                continue;
            };
            let mut out = Map::new();
            for (key, value) in map {
                if value.is_null() {
                    continue;
                }
                let field_pointer = format!("{item_pointer}/{}", pointer_segment(&key));
                let Some(sub) = self.decl.field(&format!("{pointer}/*/{key}")).cloned() else {
                    self.not_kept(field_pointer, Support::NotStored);
                    continue;
                };
                match sub.support_for(self.update) {
                    Support::Stored => {
                        if let Some(v) = self.value(&sub, &field_pointer, &value) {
                            out.insert(key, v);
                        }
                    }
                    other => self.not_kept(field_pointer, other),
                }
            }
            // The same email or phone twice is one value at every provider (Bird would merge
            // the identifiers): say so instead of letting an adapter drop it quietly.
            if let Some(identity) = identity(name, &out) {
                if let Some(first) = seen.get(&identity) {
                    let message =
                        format!("the same value as {pointer}/{first}; it is written once");
                    if self.strict {
                        self.errors
                            .push(FieldError::new(&item_pointer, "duplicate", message));
                    } else {
                        self.warnings
                            .push(Warning::new(&item_pointer, "duplicate", message));
                    }
                    continue;
                }
                seen.insert(identity, i);
            }
            // Only fails when a required key (emailAddress, phoneNumber) was refused above,
            // and that refusal is already an error.
            if let Ok(v) = serde_json::from_value(Value::Object(out)) {
                kept.push(v);
            }
        }
        Some(kept)
    }

    fn remote_fields(&mut self, fields: Option<&Map<String, Value>>) -> Option<Map<String, Value>> {
        let fields = fields?;
        let wildcard = self.decl.field("/remoteFields/*").cloned();
        let mut kept = Map::new();
        for (key, value) in fields {
            let pointer = format!("/remoteFields/{}", pointer_segment(key));
            let spec = match self.decl.field(&pointer) {
                Some(s) => s.clone(),
                None => match &wildcard {
                    Some(w) => {
                        if let Some(pattern) = &w.key_pattern {
                            if !matches(pattern, key) {
                                self.errors.push(FieldError::new(
                                    &pointer,
                                    "invalid_key",
                                    format!("remote field names must match {pattern}"),
                                ));
                                continue;
                            }
                        }
                        w.clone()
                    }
                    None => {
                        self.not_kept(pointer, Support::NotStored);
                        continue;
                    }
                },
            };
            match spec.support_for(self.update) {
                Support::Stored => {
                    if value.is_null() && self.update && !spec.clearable {
                        self.cannot_clear(pointer);
                    } else if value.is_null() {
                        kept.insert(key.clone(), Value::Null);
                    } else if let Some(v) = self.value(&spec, &pointer, value) {
                        kept.insert(key.clone(), v);
                    }
                }
                other => self.not_kept(pointer, other),
            }
        }
        Some(kept)
    }

    /// Type, normalisation and limits for one value; `None` after pushing an error.
    fn value(&mut self, spec: &FieldSpec, pointer: &str, value: &Value) -> Option<Value> {
        match (spec.kind, value) {
            (ValueKind::Any, v) => Some(v.clone()),
            (ValueKind::String, Value::String(s)) => {
                self.string(spec, pointer, s).map(Value::String)
            }
            (ValueKind::Boolean, Value::Bool(_))
            | (ValueKind::Number, Value::Number(_))
            | (ValueKind::Object, Value::Object(_)) => Some(value.clone()),
            (ValueKind::Scalar, Value::Bool(_) | Value::Number(_) | Value::Null) => {
                Some(value.clone())
            }
            (ValueKind::Scalar, Value::String(s)) => {
                self.string(spec, pointer, s).map(Value::String)
            }
            (ValueKind::Scalar, Value::Array(items)) => {
                if items.is_empty() {
                    self.errors.push(FieldError::new(
                        pointer,
                        "invalid",
                        "an array value must not be empty",
                    ));
                    return None;
                }
                if items
                    .iter()
                    .any(|v| !matches!(v, Value::Bool(_) | Value::Number(_) | Value::String(_)))
                {
                    self.errors.push(FieldError::new(
                        pointer,
                        "invalid_type",
                        "array items must be booleans, numbers or strings",
                    ));
                    return None;
                }
                Some(value.clone())
            }
            (ValueKind::Array, Value::Array(items)) => {
                if let Some(min) = spec.min_items {
                    if items.len() < min {
                        self.errors.push(FieldError::new(
                            pointer,
                            "too_few_items",
                            format!("at least {min} item(s)"),
                        ));
                        return None;
                    }
                }
                if let Some(max) = spec.max_items {
                    if items.len() > max {
                        self.errors.push(FieldError::new(
                            pointer,
                            "too_many_items",
                            format!("at most {max} item(s)"),
                        ));
                        return None;
                    }
                }
                let mut out = Vec::with_capacity(items.len());
                let item_spec = FieldSpec {
                    kind: spec.item_kind.unwrap_or(ValueKind::Any),
                    min_items: None,
                    max_items: None,
                    ..spec.clone()
                };
                for (i, item) in items.iter().enumerate() {
                    out.push(self.value(&item_spec, &format!("{pointer}/{i}"), item)?);
                }
                Some(Value::Array(out))
            }
            (kind, _) => {
                self.errors.push(FieldError::new(
                    pointer,
                    "invalid_type",
                    format!("expected {}", kind_name(kind)),
                ));
                None
            }
        }
    }

    fn string(&mut self, spec: &FieldSpec, pointer: &str, raw: &str) -> Option<String> {
        let value = match spec.normalize {
            Some(Normalize::PhoneFormatting) => normalize_phone(raw),
            Some(Normalize::CountryAlpha2) => {
                crate::country::to_alpha2(raw).map_or_else(|| raw.to_owned(), str::to_owned)
            }
            None => raw.to_owned(),
        };
        let len = match spec.length_unit {
            LengthUnit::Chars => value.chars().count(),
            LengthUnit::Utf16 => value.encode_utf16().count(),
        };
        let unit = match spec.length_unit {
            LengthUnit::Chars => "characters",
            LengthUnit::Utf16 => "UTF-16 code units",
        };
        let mut ok = true;
        if let Some(min) = spec.min_length {
            if len < min {
                self.errors.push(FieldError::new(
                    pointer,
                    "too_short",
                    format!("must be at least {min} {unit}, got {len}"),
                ));
                ok = false;
            }
        }
        if let Some(max) = spec.max_length {
            if len > max {
                self.errors.push(FieldError::new(
                    pointer,
                    "too_long",
                    format!("must be at most {max} {unit}, got {len}; values are never truncated"),
                ));
                ok = false;
            }
        }
        if let Some(values) = &spec.enum_values {
            if !values.iter().any(|v| v == &value) {
                self.errors.push(FieldError::new(
                    pointer,
                    "enum",
                    format!("must be one of {}", values.join(", ")),
                ));
                ok = false;
            }
        }
        if let Some(pattern) = &spec.pattern {
            if ok && !matches(pattern, &value) {
                self.errors.push(FieldError::new(
                    pointer,
                    "pattern",
                    format!("must match {pattern}"),
                ));
                ok = false;
            }
        }
        if let Some(format) = spec.format {
            if ok && !format_ok(format, &value) {
                self.errors
                    .push(FieldError::new(pointer, "format", format_message(format)));
                ok = false;
            }
        }
        ok.then_some(value)
    }
}

/// What makes two list items the same value: emails compare case-insensitively, phones by
/// their digits and a leading `+`.
fn identity(list: &str, item: &Map<String, Value>) -> Option<String> {
    match list {
        "emailAddresses" => item
            .get("emailAddress")?
            .as_str()
            .map(|e| e.trim().to_lowercase()),
        "phoneNumbers" => item.get("phoneNumber")?.as_str().map(|p| {
            p.chars()
                .filter(|c| c.is_ascii_digit() || *c == '+')
                .collect()
        }),
        _ => None,
    }
}

fn kind_name(kind: ValueKind) -> &'static str {
    match kind {
        ValueKind::String => "a string",
        ValueKind::Array => "an array",
        ValueKind::Boolean => "a boolean",
        ValueKind::Number => "a number",
        ValueKind::Object => "an object",
        ValueKind::Scalar => "a boolean, number, string, null or a non-empty array of those",
        ValueKind::Any => "any JSON value",
    }
}

/// Spaces, dashes, dots and brackets are formatting humans add; providers want digits.
pub fn normalize_phone(raw: &str) -> String {
    raw.chars()
        .filter(|c| !matches!(c, ' ' | '\u{a0}' | '-' | '.' | '(' | ')' | '\t'))
        .collect()
}

fn regex_cache() -> &'static Mutex<HashMap<String, Option<Regex>>> {
    static CACHE: OnceLock<Mutex<HashMap<String, Option<Regex>>>> = OnceLock::new();
    CACHE.get_or_init(|| Mutex::new(HashMap::new()))
}

/// Whether `value` matches `pattern`. Declarations are code, so a pattern that does not compile
/// is a bug: it fails closed (no match) rather than letting anything through.
pub fn matches(pattern: &str, value: &str) -> bool {
    let mut cache = match regex_cache().lock() {
        Ok(guard) => guard,
        Err(poisoned) => poisoned.into_inner(),
    };
    cache
        .entry(pattern.to_owned())
        .or_insert_with(|| Regex::new(pattern).ok())
        .as_ref()
        .is_some_and(|re| re.is_match(value))
}

const E164: &str = r"^\+[1-9]\d{1,14}$";
/// iClosed's pattern without its two look-aheads, which the `regex` crate lacks; they are
/// checked by hand in `format_ok`.
const ICLOSED_EMAIL_TAIL: &str =
    r"^[A-Za-z0-9_'+\-.]*[A-Za-z0-9_+-]@([A-Za-z0-9][A-Za-z0-9\-]*\.)+[A-Za-z]{2,}$";
/// The `joinedTime` pattern from the iClosed seed, verbatim (it has no look-arounds).
pub const ICLOSED_JOINED_TIME: &str = r"^(?:(?:\d\d[2468][048]|\d\d[13579][26]|\d\d0[48]|[02468][048]00|[13579][26]00)-02-29|\d{4}-(?:(?:0[13578]|1[02])-(?:0[1-9]|[12]\d|3[01])|(?:0[469]|11)-(?:0[1-9]|[12]\d|30)|(?:02)-(?:0[1-9]|1\d|2[0-8])))T(?:(?:[01]\d|2[0-3]):[0-5]\d(?::[0-5]\d(?:\.\d+)?)?(?:Z))$";

fn format_ok(format: Format, value: &str) -> bool {
    match format {
        Format::Email => {
            let mut parts = value.split('@');
            match (parts.next(), parts.next(), parts.next()) {
                (Some(local), Some(domain), None) => {
                    !local.is_empty()
                        && domain.contains('.')
                        && !domain.starts_with('.')
                        && !domain.ends_with('.')
                        && !value.chars().any(char::is_whitespace)
                }
                _ => false,
            }
        }
        Format::EmailIclosed => {
            !value.starts_with('.') && !value.contains("..") && matches(ICLOSED_EMAIL_TAIL, value)
        }
        Format::E164 => matches(E164, value),
        Format::Uri => url::Url::parse(value)
            .is_ok_and(|u| u.has_host() || u.scheme() != "http" && u.scheme() != "https"),
        Format::UtcDateTime => matches(ICLOSED_JOINED_TIME, value),
        Format::Uuid => uuid::Uuid::parse_str(value).is_ok(),
        Format::CountryAlpha2 => crate::country::is_alpha2(value),
    }
}

fn format_message(format: Format) -> String {
    match format {
        Format::Email => "must be an email address".into(),
        Format::EmailIclosed => "must be an email address iClosed accepts (no leading dot, no '..', a letter TLD)".into(),
        Format::E164 => "must be an international number in E.164 form, e.g. +61400111222 (spaces, dashes and brackets are removed first)".into(),
        Format::Uri => "must be an absolute URI".into(),
        Format::UtcDateTime => "must be a UTC date-time like 2024-01-15T10:00:00Z (no offsets, a real calendar day)".into(),
        Format::Uuid => "must be a uuid".into(),
        Format::CountryAlpha2 => "must be an ISO 3166-1 country: an alpha-2 or alpha-3 code or an English country name".into(),
    }
}

/// Table-driven checks of `prepare_write` against a small declaration built here, with every
/// expected value written out literally: what is kept (normalised), what is warned about and
/// what is refused, each at its pointer. Nothing is computed with the code under test.
#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::declare::{DeletionSignal, Operations};
    use crate::ids::ProviderKind;

    fn decl() -> ProviderDeclaration {
        ProviderDeclaration {
            provider: ProviderKind::Bird,
            name: "Testprov".into(),
            docs_url: "https://example.invalid/docs".into(),
            default_base_url: "https://example.invalid".into(),
            operations: Operations {
                create: true,
                get: true,
                list: true,
                update: true,
                delete: true,
            },
            deletion: DeletionSignal::HardDelete,
            max_page_size: 100,
            fields: vec![
                FieldSpec::string("/firstName").max_len(5).not_clearable(),
                FieldSpec::string("/lastName")
                    .required()
                    .length(Some(2), Some(10)),
                FieldSpec::not_stored("/account", ValueKind::String),
                FieldSpec::array("/emailAddresses").max_items(2),
                FieldSpec::string("/emailAddresses/*/emailAddress").format(Format::Email),
                FieldSpec::string("/emailAddresses/*/emailAddressType").one_of(&["work", "home"]),
                FieldSpec::array("/phoneNumbers").items(None, Some(1)),
                FieldSpec::string("/phoneNumbers/*/phoneNumber")
                    .normalize(Normalize::PhoneFormatting)
                    .format(Format::E164),
                FieldSpec::array("/addresses"),
                FieldSpec::string("/addresses/*/country")
                    .normalize(Normalize::CountryAlpha2)
                    .format(Format::CountryAlpha2),
                FieldSpec::string("/addresses/*/city").utf16().max_len(3),
                FieldSpec::string("/remoteFields/code").pattern("^[A-Z]{3}$"),
                FieldSpec::read_only("/remoteFields/locked", ValueKind::String),
                FieldSpec::of("/remoteFields/*", ValueKind::Scalar).key_pattern("^[a-z]+$"),
            ],
        }
    }

    /// What one case expects: the kept input and warnings, or the errors; as
    /// `(pointer, code)` pairs.
    enum Want {
        Ok(Value, &'static [(&'static str, &'static str)]),
        Err(&'static [(&'static str, &'static str)]),
    }

    /// `(pointer, code)` of each warning or error.
    type Found = Vec<(String, String)>;

    fn run(mode: WriteMode, strict: bool, body: Value) -> Result<(Value, Found), Found> {
        let input: ContactInput = serde_json::from_value(body).expect("a valid body");
        match prepare_write(&decl(), mode, &input, strict) {
            Ok(p) => Ok((
                serde_json::to_value(&p.input).expect("serialises"),
                p.warnings
                    .into_iter()
                    .map(|w| (w.pointer, w.code))
                    .collect(),
            )),
            Err(f) => Err(f.errors.into_iter().map(|e| (e.pointer, e.code)).collect()),
        }
    }

    fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(p, c)| ((*p).to_owned(), (*c).to_owned()))
            .collect()
    }

    #[test]
    fn prepare_write_table() {
        use WriteMode::{Create, Update};
        let cases: Vec<(&str, WriteMode, bool, Value, Want)> = vec![
            (
                "minimal create",
                Create,
                false,
                json!({"lastName": "Doe"}),
                Want::Ok(json!({"lastName": "Doe"}), &[]),
            ),
            (
                "lastName missing on create",
                Create,
                false,
                json!({"firstName": "Al"}),
                Want::Err(&[("/lastName", "required")]),
            ),
            (
                "lastName blank on create",
                Create,
                false,
                json!({"lastName": "  "}),
                Want::Err(&[("/lastName", "required")]),
            ),
            (
                "too short",
                Create,
                false,
                json!({"lastName": "D"}),
                Want::Err(&[("/lastName", "too_short")]),
            ),
            (
                "too long, never truncated",
                Create,
                false,
                json!({"lastName": "Doe", "firstName": "Alexander"}),
                Want::Err(&[("/firstName", "too_long")]),
            ),
            (
                "five characters, not bytes",
                Create,
                false,
                json!({"lastName": "Doe", "firstName": "Zoë É"}),
                Want::Ok(json!({"lastName": "Doe", "firstName": "Zoë É"}), &[]),
            ),
            (
                "utf-16 length: an emoji counts 2",
                Create,
                false,
                json!({"lastName": "Doe", "addresses": [{"city": "a😀"}]}),
                Want::Ok(
                    json!({"lastName": "Doe", "addresses": [{"city": "a😀"}]}),
                    &[],
                ),
            ),
            (
                "utf-16 length over",
                Create,
                false,
                json!({"lastName": "Doe", "addresses": [{"city": "ab😀"}]}),
                Want::Err(&[("/addresses/0/city", "too_long")]),
            ),
            (
                "not stored is a warning",
                Create,
                false,
                json!({"lastName": "Doe", "account": "Acme"}),
                Want::Ok(json!({"lastName": "Doe"}), &[("/account", "not_supported")]),
            ),
            (
                "not stored is an error when strict",
                Create,
                true,
                json!({"lastName": "Doe", "account": "Acme"}),
                Want::Err(&[("/account", "not_supported")]),
            ),
            (
                "undeclared item key is a warning at its pointer",
                Create,
                false,
                json!({"lastName": "Doe", "addresses": [{"street1": "1 Main St"}]}),
                Want::Ok(
                    json!({"lastName": "Doe", "addresses": [{}]}),
                    &[("/addresses/0/street1", "not_supported")],
                ),
            ),
            (
                "phone formatting removed",
                Create,
                false,
                json!({"lastName": "Doe", "phoneNumbers": [{"phoneNumber": "+61 (400) 111-222"}]}),
                Want::Ok(
                    json!({"lastName": "Doe", "phoneNumbers": [{"phoneNumber": "+61400111222"}]}),
                    &[],
                ),
            ),
            (
                "phone dots, tabs and no-break spaces removed",
                Create,
                false,
                json!({"lastName": "Doe", "phoneNumbers": [{"phoneNumber": "+1.415\t555\u{a0}0100"}]}),
                Want::Ok(
                    json!({"lastName": "Doe", "phoneNumbers": [{"phoneNumber": "+14155550100"}]}),
                    &[],
                ),
            ),
            (
                "phone without country code refused",
                Create,
                false,
                json!({"lastName": "Doe", "phoneNumbers": [{"phoneNumber": "0400 111 222"}]}),
                Want::Err(&[("/phoneNumbers/0/phoneNumber", "format")]),
            ),
            (
                "phone with letters refused",
                Create,
                false,
                json!({"lastName": "Doe", "phoneNumbers": [{"phoneNumber": "+61 400 CALL ME"}]}),
                Want::Err(&[("/phoneNumbers/0/phoneNumber", "format")]),
            ),
            (
                "extra items the provider refuses",
                Create,
                false,
                json!({"lastName": "Doe", "phoneNumbers": [{"phoneNumber": "+61400111222"}, {"phoneNumber": "+61400111333"}]}),
                Want::Err(&[("/phoneNumbers/1", "too_many_items")]),
            ),
            (
                "extra items the provider does not keep",
                Create,
                false,
                json!({"lastName": "Doe", "emailAddresses": [
                    {"emailAddress": "a@example.com"}, {"emailAddress": "b@example.com"}, {"emailAddress": "c@example.com"}]}),
                Want::Ok(
                    json!({"lastName": "Doe", "emailAddresses": [
                    {"emailAddress": "a@example.com"}, {"emailAddress": "b@example.com"}]}),
                    &[("/emailAddresses/2", "not_supported")],
                ),
            ),
            (
                "the same email in another case is one value",
                Create,
                false,
                json!({"lastName": "Doe", "emailAddresses": [{"emailAddress": "A@Example.com"}, {"emailAddress": "a@example.COM"}]}),
                Want::Ok(
                    json!({"lastName": "Doe", "emailAddresses": [{"emailAddress": "A@Example.com"}]}),
                    &[("/emailAddresses/1", "duplicate")],
                ),
            ),
            (
                "duplicates refused when strict",
                Create,
                true,
                json!({"lastName": "Doe", "emailAddresses": [{"emailAddress": "a@example.com"}, {"emailAddress": "a@example.com"}]}),
                Want::Err(&[("/emailAddresses/1", "duplicate")]),
            ),
            (
                "the same phone formatted differently is one value",
                Create,
                false,
                json!({"lastName": "Doe", "emailAddresses": [], "phoneNumbers": [{"phoneNumber": "+61 400 111 222"}]}),
                Want::Ok(
                    json!({"lastName": "Doe", "emailAddresses": [], "phoneNumbers": [{"phoneNumber": "+61400111222"}]}),
                    &[],
                ),
            ),
            (
                "email without a dotted domain",
                Create,
                false,
                json!({"lastName": "Doe", "emailAddresses": [{"emailAddress": "a@b"}]}),
                Want::Err(&[("/emailAddresses/0/emailAddress", "format")]),
            ),
            (
                "email with a space",
                Create,
                false,
                json!({"lastName": "Doe", "emailAddresses": [{"emailAddress": "a b@example.com"}]}),
                Want::Err(&[("/emailAddresses/0/emailAddress", "format")]),
            ),
            (
                "enum",
                Create,
                false,
                json!({"lastName": "Doe", "emailAddresses": [{"emailAddress": "a@example.com", "emailAddressType": "other"}]}),
                Want::Err(&[("/emailAddresses/0/emailAddressType", "enum")]),
            ),
            (
                "country name to alpha-2",
                Create,
                false,
                json!({"lastName": "Doe", "addresses": [{"country": "Australia"}]}),
                Want::Ok(
                    json!({"lastName": "Doe", "addresses": [{"country": "AU"}]}),
                    &[],
                ),
            ),
            (
                "alpha-3 to alpha-2",
                Create,
                false,
                json!({"lastName": "Doe", "addresses": [{"country": "NZL"}]}),
                Want::Ok(
                    json!({"lastName": "Doe", "addresses": [{"country": "NZ"}]}),
                    &[],
                ),
            ),
            (
                "alpha-2 kept",
                Create,
                false,
                json!({"lastName": "Doe", "addresses": [{"country": "DE"}]}),
                Want::Ok(
                    json!({"lastName": "Doe", "addresses": [{"country": "DE"}]}),
                    &[],
                ),
            ),
            (
                "unknown country refused, not guessed",
                Create,
                false,
                json!({"lastName": "Doe", "addresses": [{"country": "Narnia"}]}),
                Want::Err(&[("/addresses/0/country", "format")]),
            ),
            (
                "declared remote field pattern",
                Create,
                false,
                json!({"lastName": "Doe", "remoteFields": {"code": "abc"}}),
                Want::Err(&[("/remoteFields/code", "pattern")]),
            ),
            (
                "declared remote field kept",
                Create,
                false,
                json!({"lastName": "Doe", "remoteFields": {"code": "ABC", "tier": 3, "vip": true, "tags": ["a", 1]}}),
                Want::Ok(
                    json!({"lastName": "Doe", "remoteFields": {"code": "ABC", "tier": 3, "vip": true, "tags": ["a", 1]}}),
                    &[],
                ),
            ),
            (
                "remote field key pattern, escaped pointer",
                Create,
                false,
                json!({"lastName": "Doe", "remoteFields": {"Bad/Key": 1}}),
                Want::Err(&[("/remoteFields/Bad~1Key", "invalid_key")]),
            ),
            (
                "read-only remote field",
                Create,
                false,
                json!({"lastName": "Doe", "remoteFields": {"locked": "x"}}),
                Want::Ok(
                    json!({"lastName": "Doe", "remoteFields": {}}),
                    &[("/remoteFields/locked", "read_only")],
                ),
            ),
            (
                "objects are no scalar",
                Create,
                false,
                json!({"lastName": "Doe", "remoteFields": {"nested": {"a": 1}}}),
                Want::Err(&[("/remoteFields/nested", "invalid_type")]),
            ),
            (
                "empty arrays are no scalar",
                Create,
                false,
                json!({"lastName": "Doe", "remoteFields": {"nested": []}}),
                Want::Err(&[("/remoteFields/nested", "invalid")]),
            ),
            (
                "nested arrays are no scalar",
                Create,
                false,
                json!({"lastName": "Doe", "remoteFields": {"nested": [[1]]}}),
                Want::Err(&[("/remoteFields/nested", "invalid_type")]),
            ),
            (
                "every error, not the first",
                Create,
                false,
                json!({"firstName": "Alexander", "addresses": [{"country": "Narnia"}]}),
                Want::Err(&[
                    ("/firstName", "too_long"),
                    ("/lastName", "required"),
                    ("/addresses/0/country", "format"),
                ]),
            ),
            (
                "update needs no lastName",
                Update,
                false,
                json!({"firstName": "Al"}),
                Want::Ok(json!({"firstName": "Al"}), &[]),
            ),
            (
                "lastName cannot be cleared",
                Update,
                false,
                json!({"lastName": null}),
                Want::Err(&[("/lastName", "required")]),
            ),
            (
                "a value with no way to clear it",
                Update,
                false,
                json!({"firstName": null}),
                Want::Ok(json!({}), &[("/firstName", "not_supported")]),
            ),
            (
                "… refused when strict",
                Update,
                true,
                json!({"firstName": null}),
                Want::Err(&[("/firstName", "not_supported")]),
            ),
            (
                "clearing a value never stored is no change",
                Update,
                false,
                json!({"account": null}),
                Want::Ok(json!({}), &[]),
            ),
            (
                "remote field cleared",
                Update,
                false,
                json!({"remoteFields": {"tier": null}}),
                Want::Ok(json!({"remoteFields": {"tier": null}}), &[]),
            ),
        ];
        let mut failures = Vec::new();
        for (name, mode, strict, body, want) in cases {
            let got = run(mode, strict, body);
            let ok = match (&want, &got) {
                (Want::Ok(input, warnings), Ok((i, w))) => i == input && *w == pairs(warnings),
                (Want::Err(errors), Err(e)) => *e == pairs(errors),
                _ => false,
            };
            if !ok {
                failures.push(format!("{name}: got {got:?}"));
            }
        }
        assert!(failures.is_empty(), "{}", failures.join("\n"));
    }

    #[test]
    fn the_common_models_own_bounds_come_first() {
        let emails: Vec<Value> = (0..=MAX_ITEMS)
            .map(|i| json!({"emailAddress": format!("p{i}@example.com")}))
            .collect();
        let fields: Map<String, Value> = (0..=MAX_REMOTE_FIELDS)
            .map(|i| (format!("k{i}"), json!(1)))
            .collect();
        let got = run(
            WriteMode::Create,
            false,
            json!({"emailAddresses": emails, "remoteFields": fields}),
        );
        assert_eq!(
            got,
            Err(pairs(&[
                ("/emailAddresses", "too_many_items"),
                ("/remoteFields", "too_many_items")
            ]))
        );
        assert_eq!((MAX_ITEMS, MAX_REMOTE_FIELDS), (100, 200));
    }

    #[test]
    fn normalize_phone_table() {
        for (raw, want) in [
            ("+61 400 111 222", "+61400111222"),
            ("(02) 9876-5432", "0298765432"),
            ("+1.415.555.0100", "+14155550100"),
            ("\t+44\u{a0}20 7946 0958", "+442079460958"),
            ("+49/30/1234", "+49/30/1234"),
            ("", ""),
        ] {
            assert_eq!(normalize_phone(raw), want, "{raw:?}");
        }
    }

    #[test]
    fn formats_table() {
        for (format, value, ok) in [
            (Format::Email, "a@example.com", true),
            (Format::Email, "a@b", false),
            (Format::Email, "@example.com", false),
            (Format::Email, "a@.example.com", false),
            (Format::Email, "a@example.com.", false),
            (Format::Email, "a@@example.com", false),
            (Format::EmailIclosed, "first.last@example.co", true),
            (Format::EmailIclosed, ".first@example.com", false),
            (Format::EmailIclosed, "first..last@example.com", false),
            (Format::EmailIclosed, "first.@example.com", false),
            (Format::EmailIclosed, "a@example.c0m", false),
            (Format::E164, "+61400111222", true),
            (Format::E164, "+0400111222", false),
            (Format::E164, "+1", false),
            (Format::E164, "+1234567890123456", false),
            (Format::E164, "61400111222", false),
            (Format::Uri, "https://example.com/x", true),
            (Format::Uri, "https://", false),
            (Format::Uri, "mailto:a@example.com", true),
            (Format::Uri, "example.com", false),
            (Format::UtcDateTime, "2024-01-15T10:00:00Z", true),
            (Format::UtcDateTime, "2024-02-29T10:00Z", true),
            (Format::UtcDateTime, "2023-02-29T10:00:00Z", false),
            (Format::UtcDateTime, "2024-01-15T10:00:00+01:00", false),
            (Format::Uuid, "2d7d5b6e-0000-4000-8000-000000000001", true),
            (Format::Uuid, "2d7d5b6e", false),
            (Format::CountryAlpha2, "AU", true),
            (Format::CountryAlpha2, "au", false),
            (Format::CountryAlpha2, "XX", false),
        ] {
            assert_eq!(format_ok(format, value), ok, "{format:?} {value:?}");
        }
    }

    #[test]
    fn patterns_fail_closed_and_pointers_escape() {
        assert!(matches("^[a-z]+$", "abc"));
        assert!(!matches("^[a-z]+$", "abC"));
        // A pattern that does not compile matches nothing rather than everything.
        assert!(!matches("([", "anything"));
        assert_eq!(pointer_segment("a/b~c"), "a~1b~0c");
        assert_eq!(pointer_segment("plain"), "plain");
    }
}
