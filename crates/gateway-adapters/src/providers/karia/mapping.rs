//! Common model ↔ Karia wire types, both ways (docs/providers/karia.md). Pure: no IO. The
//! only file that sees both `gateway_core` and `wire`.

use chrono::{DateTime, Utc};
use gateway_core::{
    Address, ContactInput, EmailAddress, PhoneNumber, RemoteContact, RemoteFields, RemoteId,
    Warning,
};
use serde_json::{Map, Value};

use super::declare::{is_writable, EMAIL_TYPE, PHONE_TYPE};
use super::wire;

// ----- Read: Karia → common model -----

impl From<wire::Contact> for RemoteContact {
    /// Everything Karia returns lands somewhere: names, email and phone methods, live
    /// addresses and the timestamps in the common fields, every other key in `remote_fields`
    /// as sent (numeric ids stay numbers), other method types in `remoteFields.contactMethods`
    /// and soft-deleted addresses in `remoteFields.deletedAddresses`.
    fn from(c: wire::Contact) -> Self {
        let mut remote = RemoteFields::new();
        remote.extend(c.other);

        let mut emails = Vec::new();
        let mut phones = Vec::new();
        let mut other_methods = Vec::new();
        for method in c.contact_methods.unwrap_or_default() {
            match (method_kind(method.kind.as_deref()), method.value.clone()) {
                (Some(MethodKind::Email), Some(email_address)) => emails.push(EmailAddress {
                    email_address_type: None,
                    email_address,
                }),
                (Some(MethodKind::Phone), Some(phone_number)) => phones.push(PhoneNumber {
                    phone_number_type: None,
                    phone_number,
                }),
                _ => other_methods.push(method),
            }
        }
        if !other_methods.is_empty() {
            if let Ok(v) = serde_json::to_value(other_methods) {
                remote.insert("contactMethods".into(), v);
            }
        }

        let mut addresses = Vec::new();
        let mut deleted = Vec::new();
        for address in c.addresses.unwrap_or_default() {
            if address.deleted_at.as_ref().map_or(true, Value::is_null) {
                addresses.push(read_address(&address));
            } else {
                deleted.push(address);
            }
        }
        if !deleted.is_empty() {
            if let Ok(v) = serde_json::to_value(deleted) {
                remote.insert("deletedAddresses".into(), v);
            }
        }

        let mut time = |key: &str, raw: Option<String>| -> Option<DateTime<Utc>> {
            let raw = raw?;
            match lenient_time(&raw) {
                Some(t) => Some(t),
                // Not a time we can read (docs/providers/karia.md shows only "string"): kept as sent, not lost.
                None => {
                    remote.insert(key.to_owned(), Value::String(raw));
                    None
                }
            }
        };
        let remote_created_at = time("createdAt", c.created_at);
        let remote_updated_at = time("lastUpdatedAt", c.last_updated_at);
        // Any non-empty deletedAt means soft-deleted, even one we cannot read as a time: then
        // the last known time stands in for it (a deleted contact must never pass for live).
        let deleted_raw = c.deleted_at.filter(|d| !d.trim().is_empty());
        let unreadable_deletion = deleted_raw.is_some();
        let remote_deleted_at = time("deletedAt", deleted_raw).or_else(|| {
            unreadable_deletion.then(|| {
                remote_updated_at
                    .or(remote_created_at)
                    .unwrap_or(DateTime::<Utc>::UNIX_EPOCH)
            })
        });

        RemoteContact {
            remote_id: RemoteId(c.id.text()),
            first_name: c.first_name,
            last_name: c.last_name,
            account: None,
            addresses,
            email_addresses: emails,
            phone_numbers: phones,
            last_activity_at: None,
            remote_created_at,
            remote_updated_at,
            remote_deleted_at,
            remote_fields: remote,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum MethodKind {
    Email,
    Phone,
}

/// `email` → email; `phone` or `mobile` → phone (case-insensitive); anything else is kept
/// as a remote field.
fn method_kind(kind: Option<&str>) -> Option<MethodKind> {
    let kind = kind?.trim();
    if kind.eq_ignore_ascii_case(EMAIL_TYPE) {
        Some(MethodKind::Email)
    } else if kind.eq_ignore_ascii_case(PHONE_TYPE) || kind.eq_ignore_ascii_case("mobile") {
        Some(MethodKind::Phone)
    } else {
        None
    }
}

fn non_empty(value: Option<&String>) -> Option<&str> {
    value.map(String::as_str).filter(|s| !s.is_empty())
}

/// One live address: `street1` is `addressLine1` when set, else rebuilt from the parts as
/// the exact inverse of [`parse_street`].
pub(super) fn read_address(a: &wire::Address) -> Address {
    let street1 = non_empty(a.address_line1.as_ref())
        .map(str::to_owned)
        .or_else(|| {
            format_street(
                non_empty(a.unit_number.as_ref()),
                non_empty(a.street_number.as_ref()),
                non_empty(a.street_name.as_ref()),
            )
        });
    Address {
        address_type: a.kind.clone(),
        street1,
        street2: a.address_line2.clone(),
        city: a.suburb.clone().or_else(|| a.city.clone()),
        state: a.state.clone(),
        country_subdivision: None,
        country: a.country.clone(),
        postal_code: a.post_code.clone().or_else(|| a.postcode.clone()),
    }
}

// ----- street1 ↔ unitNumber / streetNumber / streetName -----

/// A first address line split the way Karia stores it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct Street {
    pub(super) unit: Option<String>,
    pub(super) number: String,
    pub(super) name: String,
}

/// How a `street1` is written.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum StreetLine {
    /// Split into parts; `exact` when [`format_street`] gives the same text back (otherwise
    /// a word prefix such as "Unit 5," becomes "5/").
    Parts { street: Street, exact: bool },
    /// Sent whole as `addressLine1`.
    Line(String),
}

/// Unit words accepted before a unit number: "Unit 5, 10 Example Street", "Apt 5 10 …".
const UNIT_WORDS: [&str; 6] = ["unit", "apt", "apartment", "flat", "suite", "u"];

/// `10`, `10A`, `10-12`, `10a-12b`: digits, at most one letter, optionally a range.
fn is_street_number(s: &str) -> bool {
    fn single(s: &str) -> bool {
        let digits = s.chars().take_while(char::is_ascii_digit).count();
        let rest = &s[digits..];
        digits > 0
            && digits <= 6
            && (rest.is_empty()
                || (rest.len() == 1 && rest.chars().all(|c| c.is_ascii_alphabetic())))
    }
    match s.split_once('-') {
        Some((a, b)) => single(a) && single(b),
        None => single(s),
    }
}

/// `5`, `5A`, `G01`: short, ASCII letters and digits, at least one digit.
fn is_unit(s: &str) -> bool {
    (1..=8).contains(&s.len())
        && s.chars().all(|c| c.is_ascii_alphanumeric())
        && s.chars().any(|c| c.is_ascii_digit())
}

/// A street name: no surrounding space, at least one letter (any script).
fn is_street_name(s: &str) -> bool {
    !s.is_empty() && s.trim() == s && s.chars().any(char::is_alphabetic)
}

/// `"10 Example Street"` → number and name, split at the first single space.
fn number_and_name(s: &str) -> Option<(String, String)> {
    let (number, name) = s.split_once(' ')?;
    (is_street_number(number) && is_street_name(name)).then(|| (number.to_owned(), name.to_owned()))
}

/// `"Unit 5, rest"`, `"Apt. 5 rest"` → the unit and the rest.
fn word_unit(line: &str) -> Option<(String, &str)> {
    let (word, rest) = line.split_once(' ')?;
    let word = word.strip_suffix('.').unwrap_or(word);
    if !UNIT_WORDS.iter().any(|w| word.eq_ignore_ascii_case(w)) {
        return None;
    }
    let (unit, rest) = rest.split_once(' ')?;
    let unit = unit.strip_suffix(',').unwrap_or(unit);
    is_unit(unit).then(|| (unit.to_owned(), rest))
}

/// Splits a first address line into Karia's parts, or keeps it whole when it is not a number
/// followed by a name (nothing is ever dropped).
pub(super) fn parse_street(line: &str) -> StreetLine {
    let whole = || StreetLine::Line(line.to_owned());
    if let Some((unit, rest)) = word_unit(line) {
        return match number_and_name(rest) {
            Some((number, name)) => {
                let street = Street {
                    unit: Some(unit),
                    number,
                    name,
                };
                let exact = format_parts(&street) == line;
                StreetLine::Parts { street, exact }
            }
            None => whole(),
        };
    }
    let (unit, rest) = match line.split_once('/') {
        Some((unit, rest)) if is_unit(unit) => (Some(unit.to_owned()), rest),
        Some(_) => return whole(),
        None => (None, line),
    };
    match number_and_name(rest) {
        Some((number, name)) => StreetLine::Parts {
            street: Street { unit, number, name },
            exact: true,
        },
        None => whole(),
    }
}

fn format_parts(s: &Street) -> String {
    format_street(s.unit.as_deref(), Some(&s.number), Some(&s.name)).unwrap_or_default()
}

/// `[unit/]number name`, skipping the parts that are missing.
pub(super) fn format_street(
    unit: Option<&str>,
    number: Option<&str>,
    name: Option<&str>,
) -> Option<String> {
    let number = match (unit, number) {
        (Some(u), Some(n)) => Some(format!("{u}/{n}")),
        (None, Some(n)) => Some(n.to_owned()),
        (Some(u), None) => Some(u.to_owned()),
        (None, None) => None,
    };
    let parts: Vec<String> = [number, name.map(str::to_owned)]
        .into_iter()
        .flatten()
        .collect();
    (!parts.is_empty()).then(|| parts.join(" "))
}

// ----- Write: common model → Karia -----

/// `POST …/contact/{id}/address` body for one address (docs/providers/karia.md).
pub(super) fn address_body(a: &Address) -> wire::NewAddress {
    let mut body = wire::NewAddress {
        kind: a.address_type.clone(),
        address_line2: a.street2.clone(),
        suburb: a.city.clone(),
        state: a.state.clone(),
        postcode: a.postal_code.clone(),
        country: a.country.clone(),
        ..wire::NewAddress::default()
    };
    match a.street1.as_deref().map(parse_street) {
        Some(StreetLine::Parts { street, .. }) => {
            body.unit_number = street.unit;
            body.street_number = Some(street.number);
            body.street_name = Some(street.name);
        }
        Some(StreetLine::Line(line)) => body.address_line1 = Some(line),
        None => {}
    }
    body
}

/// A `normalized` warning for each `street1` that reads back differently ("Unit 5, 10 X"
/// comes back as "5/10 X"). The value itself is not echoed.
pub(super) fn street_warnings(addresses: &[Address]) -> Vec<Warning> {
    addresses
        .iter()
        .enumerate()
        .filter(|(_, a)| {
            matches!(
                a.street1.as_deref().map(parse_street),
                Some(StreetLine::Parts { exact: false, .. })
            )
        })
        .map(|(i, _)| {
            Warning::new(
                format!("/addresses/{i}/street1"),
                "normalized",
                "Karia stores the unit number separately; this line reads back as unit/number name",
            )
        })
        .collect()
}

fn method(kind: &str, value: &str) -> wire::NewMethod {
    wire::NewMethod {
        value: value.to_owned(),
        kind: kind.to_owned(),
    }
}

/// Every email then every phone, as `contactMethods` items.
fn methods(input: &ContactInput) -> Vec<wire::NewMethod> {
    let emails = input.email_addresses.iter().flatten();
    let phones = input.phone_numbers.iter().flatten();
    emails
        .map(|e| method(EMAIL_TYPE, &e.email_address))
        .chain(phones.map(|p| method(PHONE_TYPE, &p.phone_number)))
        .collect()
}

/// The writable remote fields of `input`; on create `null` means "not set" and is left out.
fn writable_fields(input: &ContactInput, keep_null: bool) -> Map<String, Value> {
    input
        .remote_fields
        .iter()
        .flatten()
        .filter(|(k, v)| is_writable(k) && (keep_null || !v.is_null()))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

impl From<&ContactInput> for wire::CreateContact {
    /// docs/providers/karia.md (seed): names, every email and phone as `contactMethods`, and the writable
    /// scalars. Addresses are separate calls.
    fn from(input: &ContactInput) -> Self {
        wire::CreateContact {
            first_name: input.first_name().map(str::to_owned),
            last_name: input.last_name().map(str::to_owned),
            contact_methods: methods(input),
            fields: writable_fields(input, false),
        }
    }
}

/// The PATCH body (inferred, docs/providers/karia.md): names and writable scalars that were sent; `null` clears.
pub(super) fn patch_body(input: &ContactInput) -> wire::PatchContact {
    let mut fields = Map::new();
    for (key, value) in [
        ("firstName", &input.first_name),
        ("lastName", &input.last_name),
    ] {
        if let Some(v) = value {
            fields.insert(key.into(), v.clone().map_or(Value::Null, Value::String));
        }
    }
    fields.extend(writable_fields(input, true));
    wire::PatchContact { fields }
}

/// How many `contactMethods` items of a create body are emails (they come first).
pub(super) fn email_count(input: &ContactInput) -> usize {
    input.email_addresses.as_ref().map_or(0, Vec::len)
}

/// Whether an update must read the contact first to work out which methods and addresses
/// to add.
pub(super) fn update_needs_current(input: &ContactInput) -> bool {
    input.email_addresses.is_some() || input.phone_numbers.is_some() || input.addresses.is_some()
}

// ----- Update: what to add to an existing contact -----

/// Emails compare case-insensitively.
fn email_key(value: &str) -> String {
    value.trim().to_lowercase()
}

/// Phones compare by their digits (a number without digits by its text).
fn phone_key(value: &str) -> String {
    let digits: String = value.chars().filter(char::is_ascii_digit).collect();
    if digits.is_empty() {
        value.trim().to_owned()
    } else {
        digits
    }
}

/// The calls an update makes after its PATCH, with the warnings for values it cannot remove.
#[derive(Clone, Debug, Default, PartialEq)]
pub(super) struct Additions {
    /// `POST …/method` bodies, each with the pointer of the input item it comes from.
    pub(super) methods: Vec<(String, wire::NewMethod)>,
    /// `POST …/address` bodies, each with the index of its input address.
    pub(super) addresses: Vec<(usize, wire::NewAddress)>,
    /// Values the contact holds that the request left out: Karia cannot remove them.
    pub(super) warnings: Vec<Warning>,
}

fn left_in_place(pointer: &str, plural: &str, singular: &str, count: usize) -> Warning {
    let kind = if count == 1 { singular } else { plural };
    Warning::new(
        pointer,
        "not_supported",
        format!("Karia has no documented way to remove {plural}; {count} {kind} not in the request left in place"),
    )
}

#[derive(Clone, Copy)]
enum MethodList {
    Emails,
    Phones,
}

/// The methods of one list the contact lacks, and a warning for those it holds beyond it.
fn add_methods(out: &mut Additions, list: MethodList, wanted: &[&str], have: &[&str]) {
    let (pointer, kind, key, plural, singular): (_, _, fn(&str) -> String, _, _) = match list {
        MethodList::Emails => (
            "/emailAddresses",
            EMAIL_TYPE,
            email_key,
            "email addresses",
            "email address",
        ),
        MethodList::Phones => (
            "/phoneNumbers",
            PHONE_TYPE,
            phone_key,
            "phone numbers",
            "phone number",
        ),
    };
    let mut present: Vec<String> = have.iter().map(|v| key(v)).collect();
    for (i, value) in wanted.iter().enumerate() {
        let k = key(value);
        if !present.contains(&k) {
            out.methods
                .push((format!("{pointer}/{i}"), method(kind, value)));
            present.push(k);
        }
    }
    let wanted_keys: Vec<String> = wanted.iter().map(|v| key(v)).collect();
    let extra = have
        .iter()
        .filter(|v| !wanted_keys.contains(&key(v)))
        .count();
    if extra > 0 {
        out.warnings
            .push(left_in_place(pointer, plural, singular, extra));
    }
}

/// Replace semantics of the common model on top of add-only endpoints: every requested value
/// the contact lacks is added (once); values the contact holds beyond the request stay and
/// are reported. `current` is `None` for a dry run, where every requested value is a
/// candidate. Lists not sent are left alone.
pub(super) fn additions(current: Option<&RemoteContact>, input: &ContactInput) -> Additions {
    let mut out = Additions::default();
    if let Some(wanted) = &input.email_addresses {
        let wanted: Vec<&str> = wanted.iter().map(|e| e.email_address.as_str()).collect();
        let have: Vec<&str> = current
            .map(|c| {
                c.email_addresses
                    .iter()
                    .map(|e| e.email_address.as_str())
                    .collect()
            })
            .unwrap_or_default();
        add_methods(&mut out, MethodList::Emails, &wanted, &have);
    }
    if let Some(wanted) = &input.phone_numbers {
        let wanted: Vec<&str> = wanted.iter().map(|p| p.phone_number.as_str()).collect();
        let have: Vec<&str> = current
            .map(|c| {
                c.phone_numbers
                    .iter()
                    .map(|p| p.phone_number.as_str())
                    .collect()
            })
            .unwrap_or_default();
        add_methods(&mut out, MethodList::Phones, &wanted, &have);
    }
    if let Some(wanted) = &input.addresses {
        // Compared as Karia would store them, so "Unit 5, 10 X" matches a stored 5/10 X.
        let mut present: Vec<wire::NewAddress> = current
            .map(|c| c.addresses.iter().map(address_body).collect())
            .unwrap_or_default();
        let wanted_bodies: Vec<wire::NewAddress> = wanted.iter().map(address_body).collect();
        let extra = present
            .iter()
            .filter(|a| !wanted_bodies.contains(a))
            .count();
        for (i, body) in wanted_bodies.into_iter().enumerate() {
            if !present.contains(&body) {
                present.push(body.clone());
                out.addresses.push((i, body));
            }
        }
        if extra > 0 {
            out.warnings
                .push(left_in_place("/addresses", "addresses", "address", extra));
        }
    }
    out
}

/// Reads a Karia timestamp: RFC 3339 (what the samples show), or the other shapes a "string"
/// time often takes: `YYYY-MM-DD HH:MM:SS[.fff]` (UTC), a bare date, or Unix seconds or
/// milliseconds.
fn lenient_time(raw: &str) -> Option<DateTime<Utc>> {
    let raw = raw.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(raw) {
        return Some(t.with_timezone(&Utc));
    }
    for format in ["%Y-%m-%d %H:%M:%S%.f", "%Y-%m-%dT%H:%M:%S%.f"] {
        if let Ok(t) = chrono::NaiveDateTime::parse_from_str(raw, format) {
            return Some(t.and_utc());
        }
    }
    if let Ok(d) = chrono::NaiveDate::parse_from_str(raw, "%Y-%m-%d") {
        return d.and_hms_opt(0, 0, 0).map(|t| t.and_utc());
    }
    let n: i64 = raw.parse().ok()?;
    // Above 1e11 seconds is year 5138: such a figure is milliseconds.
    if n.abs() >= 100_000_000_000 {
        DateTime::from_timestamp_millis(n)
    } else {
        DateTime::from_timestamp(n, 0)
    }
}

#[cfg(test)]
mod lenient_tests {
    use super::lenient_time;

    #[test]
    fn reads_the_usual_time_shapes() {
        let want = "2024-03-01T10:20:30Z";
        for raw in [
            "2024-03-01T10:20:30Z",
            "2024-03-01T11:20:30+01:00",
            "2024-03-01 10:20:30",
            "2024-03-01T10:20:30",
            "1709288430",
            "1709288430000",
        ] {
            let t = lenient_time(raw).unwrap_or_else(|| panic!("{raw}"));
            assert_eq!(
                t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                want,
                "{raw}"
            );
        }
        assert!(lenient_time("2024-03-01").is_some());
        assert!(lenient_time("yesterday").is_none());
    }
}
