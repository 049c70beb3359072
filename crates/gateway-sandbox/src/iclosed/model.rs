//! iClosed's contact as stored and as rendered (docs/providers/iclosed.md), and the validation of the
//! create and update bodies (docs/providers/iclosed.md) the way the API's zod schemas do it: every failing
//! field is reported, each with every failing check; unknown keys are stripped; lengths are
//! JavaScript `.length` (UTF-16 code units).

use chrono::NaiveDate;
use serde_json::{json, Map, Value};

use super::errors::{IclosedError, Issues};
use crate::state::rfc3339_ms;

/// The sandbox account and its one user (`accountId`, `userId` on every contact).
pub(crate) const ACCOUNT_ID: u64 = 1;
pub(crate) const USER_ID: u64 = 1;

/// Limits of the create body (docs/providers/iclosed.md, seed), in UTF-16 code units.
const NAME_MAX: usize = 25;
const EMAIL_MAX: usize = 255;
const PHONE_MAX: usize = 20;
const TAG_MAX: usize = 100;
const EVENT_NAME_MAX: usize = 255;
const UTM_MAX: usize = 1000;
const COUNTRY_MAX: usize = 2;
const TIME_ZONE_MAX: usize = 50;
const IP_ADDRESS_MAX: usize = 45;
const REFERRER_URL_MAX: usize = 500;

/// `status` on create and update (docs/providers/iclosed.md).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Status {
    Potential,
    Qualified,
    Disqualified,
}

impl Status {
    pub(crate) const ALL: [Status; 3] = [Self::Potential, Self::Qualified, Self::Disqualified];

    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::Potential => "POTENTIAL",
            Self::Qualified => "QUALIFIED",
            Self::Disqualified => "DISQUALIFIED",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|st| st.as_str() == s)
    }
}

/// A stored field value; `None` renders as `null`.
pub(crate) type Text = Option<Box<str>>;

fn text(s: Option<String>) -> Text {
    s.map(String::into_boxed_str)
}

/// A stored contact. Ids are positional in the store; `deleted_ms` is the soft delete.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Contact {
    pub(crate) id: u64,
    pub(crate) preview_id: [u8; 12],
    pub(crate) created_ms: i64,
    pub(crate) updated_ms: i64,
    pub(crate) deleted_ms: Option<i64>,
    pub(crate) status: Status,
    pub(crate) first_name: Text,
    pub(crate) last_name: Text,
    pub(crate) email: Text,
    pub(crate) phone_number: Text,
    pub(crate) secondary_email: Text,
    pub(crate) secondary_phone_number: Text,
    pub(crate) tag_id: Option<u32>,
    /// Normalised to milliseconds, rendered like the other timestamps.
    pub(crate) joined_ms: Option<i64>,
    pub(crate) country: Text,
    pub(crate) time_zone: Text,
    pub(crate) ip_address: Text,
    pub(crate) referrer_url: Text,
    /// Kept but not rendered: the contact object has no event field (docs/providers/iclosed.md).
    pub(crate) event_name: Text,
    /// The `utm` query pairs, in order, each key once (last value wins).
    pub(crate) tracking: Option<Box<[UtmPair]>>,
}

/// One `utm` query pair: key, value.
pub(crate) type UtmPair = (Box<str>, Box<str>);

/// A format check and its message.
type Rule = (fn(&str) -> bool, &'static str);

impl Contact {
    /// A contact from a validated create body. `id`, `tag_id` and the timestamps are the
    /// store's to set.
    pub(crate) fn from_new(new: NewContact, preview_id: [u8; 12], tag_id: Option<u32>) -> Self {
        let tracking = new.utm.as_deref().map(parse_utm).filter(|t| !t.is_empty());
        Self {
            id: 0,
            preview_id,
            created_ms: 0,
            updated_ms: 0,
            deleted_ms: None,
            status: new.status.unwrap_or(Status::Potential),
            first_name: text(new.first_name),
            last_name: text(new.last_name),
            email: text(new.email),
            phone_number: text(new.phone_number),
            secondary_email: None,
            secondary_phone_number: None,
            tag_id,
            joined_ms: new.joined_ms,
            country: text(new.country),
            time_zone: text(new.time_zone),
            ip_address: text(new.ip_address),
            referrer_url: text(new.referrer_url),
            event_name: text(new.event_name),
            tracking: tracking.map(Vec::into_boxed_slice),
        }
    }

    pub(crate) fn is_deleted(&self) -> bool {
        self.deleted_ms.is_some()
    }

    /// Applies a validated update and bumps `updatedAt` (never backwards).
    pub(crate) fn apply(&mut self, u: ContactUpdate, now_ms: i64) {
        let set = |slot: &mut Text, v: Option<String>| {
            if let Some(v) = v {
                *slot = Some(v.into_boxed_str());
            }
        };
        set(&mut self.first_name, u.first_name);
        set(&mut self.last_name, u.last_name);
        set(&mut self.email, u.email);
        set(&mut self.secondary_email, u.secondary_email);
        set(&mut self.phone_number, u.phone_number);
        set(&mut self.secondary_phone_number, u.secondary_phone_number);
        set(&mut self.referrer_url, u.referrer_url);
        if let Some(s) = u.status {
            self.status = s;
        }
        self.updated_ms = self.updated_ms.max(now_ms);
    }

    pub(crate) fn preview_id(&self) -> String {
        format!("contact_{}", String::from_utf8_lossy(&self.preview_id))
    }

    /// The contact object (docs/providers/iclosed.md) plus `secondary_email`/`secondary_phoneNumber` (webhook
    /// payloads carry them); unset fields are `null`, `tracking` is `{}` without a `utm`.
    pub(crate) fn render(&self) -> Value {
        let t = |v: &Text| {
            v.as_deref()
                .map_or(Value::Null, |s| Value::String(s.to_owned()))
        };
        let tracking: Map<String, Value> = self
            .tracking
            .iter()
            .flat_map(|pairs| pairs.iter())
            .map(|(k, v)| (k.to_string(), Value::String(v.to_string())))
            .collect();
        json!({
            "id": self.id,
            "accountId": ACCOUNT_ID,
            "userId": USER_ID,
            "email": t(&self.email),
            "firstName": t(&self.first_name),
            "lastName": t(&self.last_name),
            "status": self.status.as_str(),
            "phoneNumber": t(&self.phone_number),
            "previewId": self.preview_id(),
            "tagId": self.tag_id,
            "blockedByRecaptcha": false,
            "joinedTime": self.joined_ms.map(rfc3339_ms),
            "country": t(&self.country),
            "timeZone": t(&self.time_zone),
            "ipAddress": t(&self.ip_address),
            "blockedId": Value::Null,
            "referrerUrl": t(&self.referrer_url),
            "createdAt": rfc3339_ms(self.created_ms),
            "updatedAt": rfc3339_ms(self.updated_ms),
            "deletedAt": self.deleted_ms.map(rfc3339_ms),
            "tracking": tracking,
            "secondary_email": t(&self.secondary_email),
            "secondary_phoneNumber": t(&self.secondary_phone_number),
        })
    }
}

/// `utm_source=google&utm_medium=cpc` → its pairs (a leading `?` is ignored, empty keys
/// dropped, a repeated key keeps its last value at its first position).
pub(crate) fn parse_utm(utm: &str) -> Vec<UtmPair> {
    let mut pairs: Vec<UtmPair> = Vec::new();
    let raw = utm.strip_prefix('?').unwrap_or(utm);
    for (k, v) in url::form_urlencoded::parse(raw.as_bytes()) {
        if k.is_empty() {
            continue;
        }
        match pairs.iter_mut().find(|(pk, _)| **pk == *k) {
            Some(slot) => slot.1 = v.into_owned().into_boxed_str(),
            None => pairs.push((
                k.into_owned().into_boxed_str(),
                v.into_owned().into_boxed_str(),
            )),
        }
    }
    pairs
}

/// A validated create body.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct NewContact {
    pub(crate) first_name: Option<String>,
    pub(crate) last_name: Option<String>,
    pub(crate) email: Option<String>,
    pub(crate) phone_number: Option<String>,
    pub(crate) status: Option<Status>,
    pub(crate) tag: Option<String>,
    pub(crate) joined_ms: Option<i64>,
    pub(crate) event_name: Option<String>,
    pub(crate) utm: Option<String>,
    pub(crate) country: Option<String>,
    pub(crate) time_zone: Option<String>,
    pub(crate) ip_address: Option<String>,
    pub(crate) referrer_url: Option<String>,
}

/// A validated update body (`id` apart).
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct ContactUpdate {
    pub(crate) first_name: Option<String>,
    pub(crate) last_name: Option<String>,
    pub(crate) email: Option<String>,
    pub(crate) secondary_email: Option<String>,
    pub(crate) phone_number: Option<String>,
    pub(crate) secondary_phone_number: Option<String>,
    pub(crate) status: Option<Status>,
    pub(crate) referrer_url: Option<String>,
}

/// JavaScript's `.length`: UTF-16 code units (an astral character counts 2).
pub(crate) fn js_len(s: &str) -> usize {
    s.encode_utf16().count()
}

/// zod's name for a JSON value's type in "Expected string, received …".
pub(crate) fn zod_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

fn max_message(max: usize) -> String {
    format!("String must contain at most {max} character(s)")
}

/// The seed's email pattern (docs/providers/iclosed.md):
/// `^(?!\.)(?!.*\.\.)([A-Za-z0-9_'+\-\.]*)[A-Za-z0-9_+-]@([A-Za-z0-9][A-Za-z0-9\-]*\.)+[A-Za-z]{2,}$`,
/// matched by hand (the look-aheads are beyond the `regex` crate).
pub(crate) fn is_email(s: &str) -> bool {
    if s.starts_with('.') || s.contains("..") {
        return false;
    }
    let Some((local, domain)) = s.split_once('@') else {
        return false;
    };
    let local_ok = |c: char| c.is_ascii_alphanumeric() || "_'+-.".contains(c);
    let local_last_ok = |c: char| c.is_ascii_alphanumeric() || "_+-".contains(c);
    if !local.chars().all(local_ok) || !local.chars().last().is_some_and(local_last_ok) {
        return false;
    }
    // Neither part may hold another '@': the local class excludes it, and so do the labels.
    let labels: Vec<&str> = domain.split('.').collect();
    let Some((tld, rest)) = labels.split_last() else {
        return false;
    };
    if rest.is_empty() || tld.len() < 2 || !tld.chars().all(|c| c.is_ascii_alphabetic()) {
        return false;
    }
    rest.iter().all(|label| {
        let mut chars = label.chars();
        chars.next().is_some_and(|c| c.is_ascii_alphanumeric())
            && chars.all(|c| c.is_ascii_alphanumeric() || c == '-')
    })
}

/// `^\+?\d+$` (docs/providers/iclosed.md): no spaces, dashes or brackets; JavaScript's `\d` is ASCII only.
pub(crate) fn is_phone(s: &str) -> bool {
    let digits = s.strip_prefix('+').unwrap_or(s);
    !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit())
}

/// The seed's `joinedTime` pattern (zod's `.datetime()`, docs/providers/iclosed.md), matched by hand, and the
/// instant in milliseconds: `YYYY-MM-DDTHH:MM`, optional `:SS` and then an optional fraction,
/// then `Z`; calendar-valid days, Feb 29 only in Gregorian leap years (year 0000 included); no
/// offsets.
pub(crate) fn parse_joined_time(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    let num = |range: std::ops::Range<usize>| -> Option<u32> {
        let part = b.get(range)?;
        if !part.iter().all(u8::is_ascii_digit) {
            return None;
        }
        part.iter()
            .try_fold(0u32, |acc, d| Some(acc * 10 + u32::from(d - b'0')))
    };
    let at = |i: usize, c: u8| b.get(i) == Some(&c);
    if !(at(4, b'-') && at(7, b'-') && at(10, b'T') && at(13, b':')) {
        return None;
    }
    let (year, month, day) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (hour, minute) = (num(11..13)?, num(14..16)?);
    let leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0);
    let days_in_month = match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        2 => 28,
        _ => return None,
    };
    if day == 0 || day > days_in_month || hour > 23 || minute > 59 {
        return None;
    }
    let mut i = 16;
    let (mut second, mut millis) = (0, 0);
    if at(i, b':') {
        second = num(17..19)?;
        if second > 59 {
            return None;
        }
        i = 19;
        if at(i, b'.') {
            let digits = b
                .get(i + 1..)?
                .iter()
                .take_while(|c| c.is_ascii_digit())
                .count();
            if digits == 0 {
                return None;
            }
            let frac = b.get(i + 1..i + 1 + digits)?;
            millis = (0..3).fold(0u32, |acc, k| {
                acc * 10 + frac.get(k).map_or(0, |d| u32::from(d - b'0'))
            });
            i += 1 + digits;
        }
    }
    if i + 1 != b.len() || !at(i, b'Z') {
        return None;
    }
    let date = NaiveDate::from_ymd_opt(i32::try_from(year).ok()?, month, day)?;
    Some(
        date.and_hms_milli_opt(hour, minute, second, millis)?
            .and_utc()
            .timestamp_millis(),
    )
}

/// zod's `.url()`: whatever the WHATWG `URL` constructor accepts (any scheme).
pub(crate) fn is_url(s: &str) -> bool {
    url::Url::parse(s).is_ok()
}

/// One optional string field: `None` when absent; a type error (null included: zod's
/// `.optional()` takes `undefined`, not `null`) is recorded and gives `None`.
fn string_field<'a>(
    obj: &'a Map<String, Value>,
    name: &str,
    issues: &mut Issues,
) -> Option<&'a str> {
    match obj.get(name)? {
        Value::String(s) => Some(s),
        other => {
            issues.field(
                name,
                format!("Expected string, received {}", zod_type(other)),
            );
            None
        }
    }
}

/// A string field with a maximum length and an optional format check; every failing check
/// is recorded (zod does not stop at the first).
fn checked(
    obj: &Map<String, Value>,
    name: &str,
    max: usize,
    format: Option<Rule>,
    issues: &mut Issues,
) -> Option<String> {
    let s = string_field(obj, name, issues)?;
    let mut ok = true;
    if js_len(s) > max {
        issues.field(name, max_message(max));
        ok = false;
    }
    if let Some((valid, message)) = format {
        if !valid(s) {
            issues.field(name, message);
            ok = false;
        }
    }
    ok.then(|| s.to_owned())
}

const EMAIL_RULE: Rule = (is_email, "Invalid email format");
const PHONE_RULE: Rule = (is_phone, "Invalid phone number format");
const URL_RULE: Rule = (is_url, "Invalid url");

fn status_field(obj: &Map<String, Value>, issues: &mut Issues) -> Option<Status> {
    let v = obj.get("status")?;
    let parsed = v.as_str().and_then(Status::parse);
    if parsed.is_none() {
        issues.field(
            "status",
            format!(
                "Invalid enum value. Expected 'POTENTIAL' | 'QUALIFIED' | 'DISQUALIFIED', received {}",
                match v {
                    Value::String(s) => format!("'{s}'"),
                    other => format!("'{}'", zod_type(other)),
                }
            ),
        );
    }
    parsed
}

fn body_object<'a>(body: &'a Value, issues: &mut Issues) -> Option<&'a Map<String, Value>> {
    match body {
        Value::Object(obj) => Some(obj),
        other => {
            issues.form(format!("Expected object, received {}", zod_type(other)));
            None
        }
    }
}

/// Validates a `POST /v1/contacts` body (docs/providers/iclosed.md). No field is required (seed); `eventName`
/// and `linkPrefix` are both accepted (≤255 each), other unknown keys are stripped.
pub(crate) fn parse_create(body: &Value) -> Result<NewContact, IclosedError> {
    let mut issues = Issues::new("POST", "/v1/contacts");
    let Some(obj) = body_object(body, &mut issues) else {
        return Err(issues.into_error());
    };
    let i = &mut issues;
    let first_name = checked(obj, "firstName", NAME_MAX, None, i);
    let last_name = checked(obj, "lastName", NAME_MAX, None, i);
    let email = checked(obj, "email", EMAIL_MAX, Some(EMAIL_RULE), i);
    let phone_number = checked(obj, "phoneNumber", PHONE_MAX, Some(PHONE_RULE), i);
    let status = status_field(obj, i);
    let tag = checked(obj, "tag", TAG_MAX, None, i);
    let joined_ms = string_field(obj, "joinedTime", i).and_then(|s| {
        let ms = parse_joined_time(s);
        if ms.is_none() {
            i.field("joinedTime", "Invalid datetime");
        }
        ms
    });
    let event_name = checked(obj, "eventName", EVENT_NAME_MAX, None, i);
    let link_prefix = checked(obj, "linkPrefix", EVENT_NAME_MAX, None, i);
    let utm = checked(obj, "utm", UTM_MAX, None, i);
    let country = checked(obj, "country", COUNTRY_MAX, None, i);
    let time_zone = checked(obj, "timeZone", TIME_ZONE_MAX, None, i);
    let ip_address = checked(obj, "ipAddress", IP_ADDRESS_MAX, None, i);
    let referrer_url = checked(obj, "referrerUrl", REFERRER_URL_MAX, Some(URL_RULE), i);
    issues.finish()?;
    Ok(NewContact {
        first_name,
        last_name,
        email,
        phone_number,
        status,
        tag,
        joined_ms,
        event_name: event_name.or(link_prefix),
        utm,
        country,
        time_zone,
        ip_address,
        referrer_url,
    })
}

/// Validates a `PUT /v1/contacts` body (docs/providers/iclosed.md): `id` a required integer, the create limits
/// for the other fields, the email and phone rules for their `secondary_*` twins.
pub(crate) fn parse_update(body: &Value) -> Result<(u64, ContactUpdate), IclosedError> {
    let mut issues = Issues::new("PUT", "/v1/contacts");
    let Some(obj) = body_object(body, &mut issues) else {
        return Err(issues.into_error());
    };
    let id = match obj.get("id") {
        None => {
            issues.field("id", "Required");
            None
        }
        Some(Value::Number(n)) => match (n.as_u64(), n.as_i64(), n.as_f64()) {
            (Some(id), _, _) => Some(id),
            // Negative integers are valid ints that match no contact.
            (None, Some(_), _) => Some(0),
            (None, None, Some(f)) if f.is_finite() && f.fract() == 0.0 => Some(0),
            _ => {
                issues.field("id", "Expected integer, received float");
                None
            }
        },
        Some(other) => {
            issues.field(
                "id",
                format!("Expected number, received {}", zod_type(other)),
            );
            None
        }
    };
    let i = &mut issues;
    let update = ContactUpdate {
        first_name: checked(obj, "firstName", NAME_MAX, None, i),
        last_name: checked(obj, "lastName", NAME_MAX, None, i),
        email: checked(obj, "email", EMAIL_MAX, Some(EMAIL_RULE), i),
        secondary_email: checked(obj, "secondary_email", EMAIL_MAX, Some(EMAIL_RULE), i),
        phone_number: checked(obj, "phoneNumber", PHONE_MAX, Some(PHONE_RULE), i),
        secondary_phone_number: checked(
            obj,
            "secondary_phoneNumber",
            PHONE_MAX,
            Some(PHONE_RULE),
            i,
        ),
        status: status_field(obj, i),
        referrer_url: checked(obj, "referrerUrl", REFERRER_URL_MAX, Some(URL_RULE), i),
    };
    issues.finish()?;
    Ok((id.unwrap_or(0), update))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    /// The field errors of a 400.
    fn field_errors(e: IclosedError) -> BTreeMap<String, Vec<String>> {
        match e {
            IclosedError::Validation { field_errors, .. } => field_errors,
            other => panic!("not a validation error: {other:?}"),
        }
    }

    /// Cases checked against the seed's regexes with a look-ahead-capable engine (Python
    /// `re`, same semantics as JavaScript for these patterns).
    #[test]
    fn email_pattern_matches_the_seed() {
        for ok in [
            "jane.doe@example.com",
            "a@b.co",
            "o'brien@example.org",
            "x+tag@sub.example.co.uk",
            "_@a-b.io",
            "a-@x.yz",
            "1@2.ab",
            "a.b.c@x-.ab",
        ] {
            assert!(is_email(ok), "{ok}");
        }
        for bad in [
            "",
            ".jane@example.com",
            "ja..ne@example.com",
            "jane.@example.com",
            "jane'@example.com",
            "jane@example",
            "jane@example.c",
            "jane@-example.com",
            "jane@example..com",
            "jane@.example.com",
            "jane@example.c0m",
            "ja ne@example.com",
            "jané@example.com",
            "jane@exa_mple.com",
            "a@b@example.com",
            "@example.com",
            "jane@example.com.",
            "jane@example.com\n",
        ] {
            assert!(!is_email(bad), "{bad:?}");
        }
    }

    #[test]
    fn phone_pattern_matches_the_seed() {
        for ok in ["+15551234567", "15551234567", "0", "+0"] {
            assert!(is_phone(ok), "{ok}");
        }
        for bad in [
            "",
            "+",
            "+1 555 123",
            "+1-555",
            "++1",
            "1+",
            "(555)123",
            "١٢٣",
        ] {
            assert!(!is_phone(bad), "{bad}");
        }
    }

    #[test]
    fn joined_time_pattern_matches_the_seed() {
        for ok in [
            "2024-01-15T10:00:00.000Z",
            "2024-01-15T10:00Z",
            "2024-01-15T10:00:59Z",
            "2024-01-15T23:59:59.123456789Z",
            "2024-02-29T00:00Z",
            "2000-02-29T00:00Z",
            "1600-02-29T00:00Z",
            "0000-02-29T00:00Z",
            "2023-04-30T00:00Z",
            "2023-12-31T00:00Z",
        ] {
            assert!(parse_joined_time(ok).is_some(), "{ok}");
        }
        for bad in [
            "",
            "2023-02-29T00:00Z",
            "1900-02-29T00:00Z",
            "2100-02-29T00:00Z",
            "2023-04-31T00:00Z",
            "2023-13-01T00:00Z",
            "2023-00-01T00:00Z",
            "2023-01-00T00:00Z",
            "2023-01-15T24:00Z",
            "2023-01-15T10:60Z",
            "2023-01-15T10:00:60Z",
            "2023-01-15T10:00:00.Z",
            "2023-01-15T10:00.5Z",
            "2023-01-15T10:00:00",
            "2023-01-15T10:00:00+00:00",
            "2023-01-15T10:00:00.000+02:00",
            "2023-01-15 10:00:00Z",
            "2023-01-15t10:00:00z",
            "2023-01-15",
            "2023-1-15T10:00Z",
            "2023-01-15T10:00:00ZZ",
            "12023-01-15T10:00Z",
        ] {
            assert!(parse_joined_time(bad).is_none(), "{bad}");
        }
        assert_eq!(
            parse_joined_time("2024-01-15T10:00:00.1239Z").map(rfc3339_ms),
            Some("2024-01-15T10:00:00.123Z".to_owned())
        );
        assert_eq!(
            parse_joined_time("2024-01-15T10:00Z").map(rfc3339_ms),
            Some("2024-01-15T10:00:00.000Z".to_owned())
        );
    }

    #[test]
    fn lengths_are_utf16_units() {
        assert_eq!(js_len("abc"), 3);
        assert_eq!(js_len("é"), 1);
        assert_eq!(js_len("😀"), 2);
        let astral = "😀".repeat(13); // 26 units, 13 characters
        let e = parse_create(&json!({"firstName": astral})).expect_err("too long");
        assert_eq!(
            field_errors(e)["firstName"],
            vec!["String must contain at most 25 character(s)".to_owned()]
        );
        let ok = format!("{}a", "😀".repeat(12)); // 25 units
        assert!(parse_create(&json!({"firstName": ok})).is_ok());
    }

    #[test]
    fn every_failing_field_and_check_is_reported() {
        let e = parse_create(&json!({
            "email": format!(".{}@example.com", "a".repeat(260)),
            "country": "USA",
            "status": "NEW",
            "firstName": null,
            "utm": 5,
            "unknown": "stripped",
        }))
        .expect_err("invalid");
        let f = field_errors(e);
        assert_eq!(f["email"].len(), 2, "{f:?}");
        assert_eq!(
            f.keys().map(String::as_str).collect::<Vec<_>>(),
            vec!["country", "email", "firstName", "status", "utm"]
        );
        assert_eq!(f["firstName"], vec!["Expected string, received null"]);
    }

    #[test]
    fn create_defaults_and_utm() {
        let n = parse_create(&json!({})).expect("empty body is fine");
        assert_eq!(n, NewContact::default());
        let n = parse_create(&json!({"linkPrefix": "jane/demo"})).expect("linkPrefix");
        assert_eq!(n.event_name.as_deref(), Some("jane/demo"));
        assert_eq!(
            parse_utm("?utm_source=google&utm_medium=cpc&utm_source=bing&=x&flag"),
            vec![
                ("utm_source".into(), "bing".into()),
                ("utm_medium".into(), "cpc".into()),
                ("flag".into(), "".into())
            ]
        );
    }

    #[test]
    fn update_requires_an_integer_id() {
        let f = field_errors(parse_update(&json!({"firstName": "A"})).expect_err("no id"));
        assert_eq!(f["id"], vec!["Required"]);
        let f = field_errors(parse_update(&json!({"id": "5"})).expect_err("string id"));
        assert_eq!(f["id"], vec!["Expected number, received string"]);
        let f = field_errors(parse_update(&json!({"id": 1.5})).expect_err("float id"));
        assert_eq!(f["id"], vec!["Expected integer, received float"]);
        let f = field_errors(
            parse_update(
                &json!({"id": 1, "secondary_phoneNumber": "+1 555", "secondary_email": "x"}),
            )
            .expect_err("secondary rules"),
        );
        assert_eq!(f.len(), 2);
        let (id, u) = parse_update(&json!({"id": 7, "status": "QUALIFIED", "tag": "ignored"}))
            .expect("valid");
        assert_eq!((id, u.status), (7, Some(Status::Qualified)));
    }
}
