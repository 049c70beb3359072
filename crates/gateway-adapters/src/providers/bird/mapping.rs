//! Common model ↔ Bird wire types, both ways (docs/providers/bird.md). Pure: no IO. The
//! only file that sees both `gateway_core` and `wire`.

use gateway_core::{
    ContactInput, EmailAddress, FieldError, PhoneNumber, RemoteContact, RemoteFields, RemoteId,
};
use serde_json::{Map, Value};

use super::declare::{check_write, display_name, EMAIL_KEY, PHONE_KEY, TOP_LEVEL_REMOTE};
use super::wire;

impl From<wire::Contact> for RemoteContact {
    /// Everything Bird returns lands somewhere: names and identifiers in the common fields,
    /// every other attribute and every other top-level key in `remote_fields`.
    fn from(c: wire::Contact) -> Self {
        let mut attributes = c.attributes;
        let first_name = take_string(&mut attributes, "firstName");
        let last_name = take_string(&mut attributes, "lastName");
        let featured = c.featured_identifiers.as_deref().unwrap_or_default();
        let emails = take_identifiers(&mut attributes, EMAIL_KEY)
            .unwrap_or_else(|| featured_values(featured, EMAIL_KEY));
        let phones = take_identifiers(&mut attributes, PHONE_KEY)
            .unwrap_or_else(|| featured_values(featured, PHONE_KEY));

        let mut remote = RemoteFields::new();
        // Unknown top-level keys first, so an attribute of the same name (the richer, writable
        // value) wins the slot.
        remote.extend(c.other);
        remote.extend(attributes);
        let mut put = |key: &str, value: Option<Value>| {
            if let Some(v) = value {
                remote.insert(key.to_owned(), v);
            }
        };
        put("listIds", c.list_ids.map(strings));
        put("accountIds", c.account_ids.map(strings));
        put("companyRefs", c.company_refs.map(strings));
        put(
            "computedDisplayName",
            c.computed_display_name.map(Value::String),
        );
        put("identifierCount", c.identifier_count.map(Value::from));
        put("isAnonymous", c.is_anonymous.map(Value::Bool));
        put("workspaceId", c.workspace_id.map(Value::String));
        put(
            "featuredIdentifiers",
            c.featured_identifiers
                .and_then(|f| serde_json::to_value(f).ok()),
        );

        RemoteContact {
            remote_id: RemoteId(c.id),
            first_name,
            last_name,
            account: None,
            addresses: Vec::new(),
            email_addresses: emails
                .into_iter()
                .map(|email_address| EmailAddress {
                    email_address_type: None,
                    email_address,
                })
                .collect(),
            phone_numbers: phones
                .into_iter()
                .map(|phone_number| PhoneNumber {
                    phone_number_type: None,
                    phone_number,
                })
                .collect(),
            last_activity_at: None,
            remote_created_at: Some(c.created_at),
            remote_updated_at: Some(c.updated_at),
            remote_deleted_at: None,
            remote_fields: remote,
        }
    }
}

fn strings(items: Vec<String>) -> Value {
    Value::Array(items.into_iter().map(Value::String).collect())
}

/// Removes a string attribute; anything else stays behind for `remote_fields`.
fn take_string(attributes: &mut Map<String, Value>, key: &str) -> Option<String> {
    match attributes.get(key) {
        Some(Value::String(_)) => match attributes.remove(key) {
            Some(Value::String(s)) => Some(s),
            _ => None,
        },
        _ => None,
    }
}

/// Identifiers mirrored into attributes as arrays (docs/providers/bird.md), or as a single string; `None` (and
/// the attribute left in place) when absent or of a shape that cannot be mapped.
fn take_identifiers(attributes: &mut Map<String, Value>, key: &str) -> Option<Vec<String>> {
    let values = match attributes.get(key)? {
        Value::String(s) => vec![s.clone()],
        Value::Array(items) => items
            .iter()
            .map(|v| v.as_str().map(str::to_owned))
            .collect::<Option<Vec<_>>>()?,
        _ => return None,
    };
    attributes.remove(key);
    Some(values)
}

fn featured_values(featured: &[wire::Identifier], key: &str) -> Vec<String> {
    featured
        .iter()
        .filter(|i| i.key == key)
        .map(|i| i.value.clone())
        .collect()
}

fn emails(input: &ContactInput) -> Option<Vec<String>> {
    input
        .email_addresses
        .as_ref()
        .map(|list| list.iter().map(|e| e.email_address.clone()).collect())
}

fn phones(input: &ContactInput) -> Option<Vec<String>> {
    input
        .phone_numbers
        .as_ref()
        .map(|list| list.iter().map(|p| p.phone_number.clone()).collect())
}

fn identifier(key: &str, value: &str) -> wire::Identifier {
    wire::Identifier {
        key: key.to_owned(),
        value: value.to_owned(),
        properties: None,
    }
}

fn id_array(value: &Value) -> Option<Vec<String>> {
    match value {
        // `null` (update only) clears the set.
        Value::Null => Some(Vec::new()),
        Value::Array(items) => Some(
            items
                .iter()
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect(),
        ),
        _ => None,
    }
}

/// The display name a create sends: `remoteFields.displayName` when given, else the names.
pub(super) fn create_display_name(input: &ContactInput) -> String {
    match input
        .remote_fields
        .as_ref()
        .and_then(|m| m.get("displayName"))
    {
        Some(Value::String(name)) => name.clone(),
        _ => display_name(input.first_name(), input.last_name()),
    }
}

impl From<&ContactInput> for wire::CreateContact {
    fn from(input: &ContactInput) -> Self {
        let mut body = wire::CreateContact {
            display_name: create_display_name(input),
            identifiers: Vec::new(),
            attributes: Map::new(),
            list_ids: None,
            account_ids: None,
            company_refs: None,
        };
        // Identifiers never go into attributes: Bird answers 422 (docs/providers/bird.md).
        for (key, values) in [(EMAIL_KEY, emails(input)), (PHONE_KEY, phones(input))] {
            for value in values.unwrap_or_default() {
                let ident = identifier(key, &value);
                if !body.identifiers.contains(&ident) {
                    body.identifiers.push(ident);
                }
            }
        }
        if let Some(first) = input.first_name() {
            body.attributes
                .insert("firstName".into(), Value::String(first.to_owned()));
        }
        if let Some(last) = input.last_name() {
            body.attributes
                .insert("lastName".into(), Value::String(last.to_owned()));
        }
        for (key, value) in input.remote_fields.iter().flatten() {
            match key.as_str() {
                "displayName" => {}
                "listIds" if !value.is_null() => body.list_ids = id_array(value),
                "accountIds" if !value.is_null() => body.account_ids = id_array(value),
                "companyRefs" if !value.is_null() => body.company_refs = id_array(value),
                k if TOP_LEVEL_REMOTE.contains(&k) => {}
                _ => {
                    body.attributes.insert(key.clone(), value.clone());
                }
            }
        }
        body
    }
}

/// Whether an update must read the contact first: to diff identifiers, or to rebuild the
/// display name when only one name changes.
pub(super) fn update_needs_current(input: &ContactInput) -> bool {
    let explicit_name = input
        .remote_fields
        .as_ref()
        .is_some_and(|m| m.contains_key("displayName"));
    let one_name = input.first_name.is_some() != input.last_name.is_some();
    input.email_addresses.is_some() || input.phone_numbers.is_some() || (one_name && !explicit_name)
}

/// Identifier calls an update makes, adds first so a contact is never left without an
/// identifier it is about to regain (docs/providers/bird.md add/remove identifier).
#[derive(Clone, Debug, Default, PartialEq)]
pub(super) struct IdentifierChanges {
    /// Each with the pointer of the input item it comes from.
    pub(super) add: Vec<(String, wire::Identifier)>,
    pub(super) remove: Vec<wire::Identifier>,
}

/// The identifiers the contact holds now: the attribute mirror lists them all (docs/providers/bird.md);
/// `featuredIdentifiers` holds only the first of each kind and is the fallback.
fn current_identifiers(contact: &wire::Contact, key: &str) -> Vec<String> {
    match contact.attributes.get(key) {
        Some(Value::String(s)) => vec![s.clone()],
        Some(Value::Array(items)) => items
            .iter()
            .filter_map(|v| v.as_str().map(str::to_owned))
            .collect(),
        _ => featured_values(
            contact.featured_identifiers.as_deref().unwrap_or_default(),
            key,
        ),
    }
}

/// Replace semantics per list: every requested value the contact lacks is added, every
/// value it has that was not requested is removed. Lists not sent are left alone.
pub(super) fn identifier_changes(
    current: Option<&wire::Contact>,
    input: &ContactInput,
) -> IdentifierChanges {
    let mut changes = IdentifierChanges::default();
    for (key, pointer, wanted) in [
        (EMAIL_KEY, "/emailAddresses", emails(input)),
        (PHONE_KEY, "/phoneNumbers", phones(input)),
    ] {
        let Some(wanted) = wanted else { continue };
        let have = current
            .map(|c| current_identifiers(c, key))
            .unwrap_or_default();
        for (i, value) in wanted.iter().enumerate() {
            let already_added = changes
                .add
                .iter()
                .any(|(_, a)| a.key == key && &a.value == value);
            if !have.contains(value) && !already_added {
                changes
                    .add
                    .push((format!("{pointer}/{i}"), identifier(key, value)));
            }
        }
        for value in have.iter().filter(|v| !wanted.contains(v)) {
            changes.remove.push(identifier(key, value));
        }
    }
    changes
}

/// The PATCH body. When a name changes and no display name is given, the display name is
/// rebuilt from the sent name and the stored other one; too long is an error at `/lastName`
/// before anything is written.
pub(super) fn patch_body(
    input: &ContactInput,
    current: Option<&wire::Contact>,
) -> Result<wire::PatchContact, Vec<FieldError>> {
    let mut body = wire::PatchContact::default();
    let mut explicit_name = false;
    for (field, value) in [
        ("firstName", &input.first_name),
        ("lastName", &input.last_name),
    ] {
        if let Some(v) = value {
            body.attributes
                .insert(field.into(), v.clone().map_or(Value::Null, Value::String));
        }
    }
    for (key, value) in input.remote_fields.iter().flatten() {
        match key.as_str() {
            "listIds" => body.list_ids = id_array(value),
            "accountIds" => body.account_ids = id_array(value),
            "companyRefs" => body.company_refs = id_array(value),
            "displayName" => {
                explicit_name = true;
                body.attributes.insert(key.clone(), value.clone());
            }
            _ => {
                body.attributes.insert(key.clone(), value.clone());
            }
        }
    }
    let name_changed = input.first_name.is_some() || input.last_name.is_some();
    if name_changed && !explicit_name {
        let stored = |key: &str| {
            current
                .and_then(|c| c.attributes.get(key))
                .and_then(Value::as_str)
                .map(str::to_owned)
        };
        let first = match &input.first_name {
            Some(v) => v.clone(),
            None => stored("firstName"),
        };
        let last = match &input.last_name {
            Some(v) => v.clone(),
            None => stored("lastName"),
        };
        let full = ContactInput {
            first_name: Some(first),
            last_name: Some(last),
            ..ContactInput::default()
        };
        let errors = check_write(gateway_core::Operation::Update, &full);
        if !errors.is_empty() {
            return Err(errors);
        }
        let name = display_name(full.first_name(), full.last_name());
        // Both names gone leaves Bird to compute the name from an identifier (docs/providers/bird.md).
        body.attributes.insert(
            "displayName".into(),
            if name.is_empty() {
                Value::Null
            } else {
                Value::String(name)
            },
        );
    }
    Ok(body)
}
