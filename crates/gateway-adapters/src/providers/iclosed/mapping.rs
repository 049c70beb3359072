//! Common model ↔ iClosed wire types, both ways (docs/providers/iclosed.md). Pure: no IO.
//! The only file that sees both `gateway_core` and `wire`.

use chrono::{DateTime, Utc};
use gateway_core::{
    Address, ContactInput, EmailAddress, PhoneNumber, RemoteContact, RemoteFields, RemoteId,
    Warning,
};
use serde_json::Value;

use super::wire;

/// The follow-up step of a create that carries a second email or phone.
pub(super) const SECONDARY_STEP: &str = "contact.update.secondary";

impl From<wire::Contact> for RemoteContact {
    /// Everything iClosed returns lands somewhere: names, emails, phones and country in the
    /// common fields, timestamps in the remote times, every other key in `remote_fields`.
    fn from(c: wire::Contact) -> Self {
        let mut remote = RemoteFields::new();
        remote.extend(c.other);
        let mut time = |key: &str, raw: Option<String>| -> Option<DateTime<Utc>> {
            let raw = raw?;
            match DateTime::parse_from_rfc3339(&raw) {
                Ok(t) => Some(t.with_timezone(&Utc)),
                // Not a time we can read: kept as text rather than lost.
                Err(_) => {
                    remote.insert(key.to_owned(), Value::String(raw));
                    None
                }
            }
        };
        let remote_created_at = time("createdAt", c.created_at);
        let remote_updated_at = time("updatedAt", c.updated_at);
        let remote_deleted_at = time("deletedAt", c.deleted_at);

        RemoteContact {
            remote_id: RemoteId(match c.id {
                wire::ContactId::Number(n) => n.to_string(),
                wire::ContactId::Text(s) => s,
            }),
            first_name: c.first_name,
            last_name: c.last_name,
            account: None,
            addresses: present(c.country)
                .map(|country| Address {
                    country: Some(country),
                    ..Address::default()
                })
                .into_iter()
                .collect(),
            email_addresses: [c.email, c.secondary_email]
                .into_iter()
                .filter_map(present)
                .map(|email_address| EmailAddress {
                    email_address_type: None,
                    email_address,
                })
                .collect(),
            phone_numbers: [c.phone_number, c.secondary_phone_number]
                .into_iter()
                .filter_map(present)
                .map(|phone_number| PhoneNumber {
                    phone_number_type: None,
                    phone_number,
                })
                .collect(),
            last_activity_at: None,
            remote_created_at,
            remote_updated_at,
            remote_deleted_at,
            remote_fields: remote,
        }
    }
}

/// An empty string is how a form leaves a field unset; it is not an address.
fn present(value: Option<String>) -> Option<String> {
    value.filter(|v| !v.is_empty())
}

/// A remote field as text: `Some(None)` when sent as `null`.
fn remote(input: &ContactInput, key: &str) -> Option<Option<String>> {
    match input.remote_fields.as_ref()?.get(key)? {
        Value::Null => Some(None),
        Value::String(s) => Some(Some(s.clone())),
        // The declaration types every written key as a string; anything else never passes
        // validation, and a number is sent as its text rather than dropped.
        other => Some(Some(other.to_string())),
    }
}

fn email(input: &ContactInput, i: usize) -> Option<String> {
    input
        .email_addresses
        .as_ref()?
        .get(i)
        .map(|e| e.email_address.clone())
}

fn phone(input: &ContactInput, i: usize) -> Option<String> {
    input
        .phone_numbers
        .as_ref()?
        .get(i)
        .map(|p| p.phone_number.clone())
}

impl From<&ContactInput> for wire::CreateContact {
    /// The first email and phone only: the create body has no `secondary_*` (docs/providers/iclosed.md); see
    /// [`secondary_update`].
    fn from(input: &ContactInput) -> Self {
        let set = |key: &str| remote(input, key).flatten();
        wire::CreateContact {
            first_name: input.first_name().map(str::to_owned),
            last_name: input.last_name().map(str::to_owned),
            email: email(input, 0),
            phone_number: phone(input, 0),
            status: set("status"),
            tag: set("tag"),
            joined_time: set("joinedTime"),
            event_name: set("eventName"),
            utm: set("utm"),
            country: input
                .addresses
                .as_ref()
                .and_then(|a| a.first())
                .and_then(|a| a.country.clone()),
            time_zone: set("timeZone"),
            ip_address: set("ipAddress"),
            referrer_url: set("referrerUrl"),
        }
    }
}

/// The `PUT` that stores a create's second email and phone, with the pointers of what it
/// writes; `None` when the create has neither.
pub(super) fn secondary_update(
    id: i64,
    input: &ContactInput,
) -> Option<(wire::UpdateContact, Vec<&'static str>)> {
    let body = wire::UpdateContact {
        id,
        secondary_email: email(input, 1),
        secondary_phone_number: phone(input, 1),
        ..wire::UpdateContact::default()
    };
    let mut pointers = Vec::new();
    if body.secondary_email.is_some() {
        pointers.push("/emailAddresses/1");
    }
    if body.secondary_phone_number.is_some() {
        pointers.push("/phoneNumbers/1");
    }
    (!pointers.is_empty()).then_some((body, pointers))
}

fn cannot_clear(pointer: &str, what: &str) -> Warning {
    Warning::new(
        pointer,
        "not_supported",
        format!("iClosed documents no way to clear {what}; it was left unchanged"),
    )
}

/// The `PUT /v1/contacts` body of an update: only what was sent. A field being cleared
/// (`null`, or an empty list) cannot be written, since iClosed documents no clearing and an
/// invented value would be worse, so each becomes a warning instead.
pub(super) fn update_body(id: i64, input: &ContactInput) -> (wire::UpdateContact, Vec<Warning>) {
    let mut warnings = Vec::new();
    let mut body = wire::UpdateContact {
        id,
        ..wire::UpdateContact::default()
    };
    match &input.first_name {
        Some(Some(v)) => body.first_name = Some(v.clone()),
        Some(None) => warnings.push(cannot_clear("/firstName", "firstName")),
        None => {}
    }
    match &input.last_name {
        Some(Some(v)) => body.last_name = Some(v.clone()),
        Some(None) => warnings.push(cannot_clear("/lastName", "lastName")),
        None => {}
    }
    if let Some(list) = &input.email_addresses {
        if list.is_empty() {
            warnings.push(cannot_clear("/emailAddresses", "email addresses"));
        }
        body.email = email(input, 0);
        body.secondary_email = email(input, 1);
    }
    if let Some(list) = &input.phone_numbers {
        if list.is_empty() {
            warnings.push(cannot_clear("/phoneNumbers", "phone numbers"));
        }
        body.phone_number = phone(input, 0);
        body.secondary_phone_number = phone(input, 1);
    }
    if input.addresses.as_ref().is_some_and(Vec::is_empty) {
        warnings.push(Warning::new(
            "/addresses",
            "not_supported",
            "iClosed sets the country only on create and documents no way to clear it; it was left unchanged",
        ));
    }
    for key in super::declare::REMOTE_BOTH {
        let pointer = format!("/remoteFields/{key}");
        match remote(input, key) {
            Some(Some(v)) if key == "status" => body.status = Some(v),
            Some(Some(v)) => body.referrer_url = Some(v),
            Some(None) => warnings.push(cannot_clear(&pointer, key)),
            None => {}
        }
    }
    (body, warnings)
}

/// After an update that sent a one-item list, the second email or phone iClosed still holds
/// could not be removed (an empty list is already warned about by [`update_body`]): said out
/// loud, without quoting it.
pub(super) fn kept_secondaries(input: &ContactInput, updated: &RemoteContact) -> Vec<Warning> {
    let mut warnings = Vec::new();
    if input.email_addresses.as_ref().is_some_and(|l| l.len() == 1)
        && updated.email_addresses.len() > 1
    {
        warnings.push(Warning::new(
            "/emailAddresses",
            "not_supported",
            "iClosed documents no way to remove an email address; the contact keeps the one it had beyond those sent",
        ));
    }
    if input.phone_numbers.as_ref().is_some_and(|l| l.len() == 1) && updated.phone_numbers.len() > 1
    {
        warnings.push(Warning::new(
            "/phoneNumbers",
            "not_supported",
            "iClosed documents no way to remove a phone number; the contact keeps the one it had beyond those sent",
        ));
    }
    warnings
}

/// iClosed ids are integers (docs/providers/iclosed.md); anything else cannot name a contact there.
pub(super) fn contact_id(id: &RemoteId) -> Option<i64> {
    let text = id.as_str();
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}
