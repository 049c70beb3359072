//! Recognising the contact an interrupted create may have made. When a create's answer is lost
//! (the gateway was killed, the provider timed out or answered 5xx after writing), the gateway
//! keeps digests of the identity the create sent; a later reconciliation pass compares every
//! listed contact not created through the gateway against them (docs/operations.md, "Writes
//! whose outcome is unknown").
//!
//! Only digests are kept (the index holds no personal data), salted with the credential id so
//! equal values under two credentials do not look alike. The identity is the names, the first
//! email and the last eight digits of the first phone: what every provider stores on the first
//! step of a create (later steps — a second email, an address — may be what was lost).

use sha2::{Digest, Sha256};

use crate::model::{ContactInput, RemoteContact};

/// Phone digits compared: enough to tell numbers apart, few enough to ignore the country code
/// or trunk prefix a provider adds or drops when it normalises.
const PHONE_DIGITS: usize = 8;

/// Digests of the identity a create sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreateMatch {
    /// Digest of the first and last name.
    pub names: String,
    /// Digest of the first email, if one was sent.
    pub email: Option<String>,
    /// Digest of the first phone's last digits, if one was sent.
    pub phone: Option<String>,
}

fn digest(salt: &str, kind: &str, value: &str) -> String {
    let mut h = Sha256::new();
    for part in [salt, kind, value] {
        h.update(part.as_bytes());
        h.update([0u8]);
    }
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

fn names(first: Option<&str>, last: Option<&str>) -> String {
    let norm = |v: Option<&str>| v.unwrap_or("").trim().to_lowercase();
    format!("{}\u{1f}{}", norm(first), norm(last))
}

fn email(value: &str) -> String {
    value.trim().to_lowercase()
}

fn phone(value: &str) -> Option<String> {
    let digits: Vec<char> = value.chars().filter(char::is_ascii_digit).collect();
    if digits.is_empty() {
        return None;
    }
    let start = digits.len().saturating_sub(PHONE_DIGITS);
    Some(digits[start..].iter().collect())
}

impl CreateMatch {
    /// The digests of what a create sends. `salt` is the credential id.
    pub fn of_input(salt: &str, input: &ContactInput) -> Self {
        let first_email = input
            .email_addresses
            .as_ref()
            .and_then(|v| v.first())
            .map(|e| email(&e.email_address));
        let first_phone = input
            .phone_numbers
            .as_ref()
            .and_then(|v| v.first())
            .and_then(|p| phone(&p.phone_number));
        Self {
            names: digest(salt, "names", &names(input.first_name(), input.last_name())),
            email: first_email.map(|e| digest(salt, "email", &e)),
            phone: first_phone.map(|p| digest(salt, "phone", &p)),
        }
    }

    /// Whether `contact` carries this identity: the same names, and the sent email and phone
    /// among its own (it may hold more).
    pub fn matches(&self, salt: &str, contact: &RemoteContact) -> bool {
        let names = digest(
            salt,
            "names",
            &names(contact.first_name.as_deref(), contact.last_name.as_deref()),
        );
        if names != self.names {
            return false;
        }
        let email_ok = self.email.as_ref().is_none_or(|want| {
            contact
                .email_addresses
                .iter()
                .any(|e| &digest(salt, "email", &email(&e.email_address)) == want)
        });
        let phone_ok = self.phone.as_ref().is_none_or(|want| {
            contact
                .phone_numbers
                .iter()
                .filter_map(|p| phone(&p.phone_number))
                .any(|p| &digest(salt, "phone", &p) == want)
        });
        email_ok && phone_ok
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::model::{EmailAddress, PhoneNumber};
    use crate::RemoteId;

    fn input(v: serde_json::Value) -> ContactInput {
        serde_json::from_value(v).unwrap()
    }

    fn remote(first: &str, last: &str, emails: &[&str], phones: &[&str]) -> RemoteContact {
        RemoteContact {
            remote_id: RemoteId("r1".into()),
            first_name: Some(first.into()),
            last_name: Some(last.into()),
            email_addresses: emails
                .iter()
                .map(|e| EmailAddress {
                    email_address: (*e).into(),
                    email_address_type: None,
                })
                .collect(),
            phone_numbers: phones
                .iter()
                .map(|p| PhoneNumber {
                    phone_number: (*p).into(),
                    phone_number_type: None,
                })
                .collect(),
            ..RemoteContact::default()
        }
    }

    #[test]
    fn matches_what_the_provider_normalised() {
        let m = CreateMatch::of_input(
            "cred_1",
            &input(serde_json::json!({
                "firstName": " Ann ", "lastName": "Lee",
                "emailAddresses": [{"emailAddress": "Ann@Example.com"}, {"emailAddress": "b@example.com"}],
                "phoneNumbers": [{"phoneNumber": "+1 (555) 010-0001"}]
            })),
        );
        // Only the first step landed (no second email); the phone came back in E.164.
        assert!(m.matches(
            "cred_1",
            &remote("ann", "Lee", &["ann@example.com"], &["+15550100001"])
        ));
        assert!(!m.matches(
            "cred_1",
            &remote("Ann", "Lee", &["other@example.com"], &["+15550100001"])
        ));
        assert!(!m.matches(
            "cred_1",
            &remote("Ann", "Leigh", &["ann@example.com"], &["+15550100001"])
        ));
        assert!(!m.matches(
            "cred_1",
            &remote("Ann", "Lee", &["ann@example.com"], &["+15550100002"])
        ));
        // Salted per credential.
        assert!(!m.matches(
            "cred_2",
            &remote("Ann", "Lee", &["ann@example.com"], &["+15550100001"])
        ));
    }

    #[test]
    fn keeps_no_value_in_clear() {
        let m = CreateMatch::of_input(
            "cred_1",
            &input(
                serde_json::json!({"lastName": "Lee", "emailAddresses": [{"emailAddress": "ann@example.com"}]}),
            ),
        );
        let text = format!("{m:?}");
        assert!(!text.contains("Lee") && !text.contains("ann@"));
        assert!(m.phone.is_none());
    }
}
