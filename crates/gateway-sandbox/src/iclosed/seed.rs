//! Realistic, invented contacts for `POST /iclosed/_sim/seed`: names within iClosed's 25-unit
//! limit, `example.*` emails (RFC 2606) matching the seed's pattern, digits-only phones
//! (`^\+?\d+$`) with the matching country and time zone.

use rand::rngs::StdRng;
use rand::Rng as _;

use super::model::{Contact, Status};

/// (as written, as used in an email local part).
const FIRST: &[(&str, &str)] = &[
    ("Jane", "jane"),
    ("José", "jose"),
    ("Zoë", "zoe"),
    ("Chloé", "chloe"),
    ("Søren", "soren"),
    ("Anaïs", "anais"),
    ("Łukasz", "lukasz"),
    ("François", "francois"),
    ("Inés", "ines"),
    ("Mia", "mia"),
    ("Liam", "liam"),
    ("Aroha", "aroha"),
    ("Priya", "priya"),
    ("Mateo", "mateo"),
    ("Yuki", "yuki"),
    ("Olivia", "olivia"),
    ("Ágnes", "agnes"),
    ("Siobhán", "siobhan"),
    ("Emre", "emre"),
    ("Malik", "malik"),
    ("Harper", "harper"),
    ("Tomás", "tomas"),
];

const LAST: &[(&str, &str)] = &[
    ("Citizen", "citizen"),
    ("Müller", "muller"),
    ("García", "garcia"),
    ("Nguyễn", "nguyen"),
    ("O'Brien", "obrien"),
    ("Dubois", "dubois"),
    ("Kowalski", "kowalski"),
    ("Smith", "smith"),
    ("Åberg", "aberg"),
    ("Ngata", "ngata"),
    ("Rossi", "rossi"),
    ("Fernández", "fernandez"),
    ("Tanaka", "tanaka"),
    ("Papadopoulos", "papadopoulos"),
    ("Chen", "chen"),
    ("van der Berg", "vanderberg"),
    ("Patel", "patel"),
    ("Ó Súilleabháin", "osuilleabhain"),
];

const DOMAINS: &[&str] = &["example.com", "example.org", "example.net"];

/// (E.164 mobile prefix, digits after it, country, IANA time zone).
const PLACES: &[(&str, usize, &str, &str)] = &[
    ("+614", 8, "AU", "Australia/Sydney"),
    ("+3161", 8, "NL", "Europe/Amsterdam"),
    ("+4479", 8, "GB", "Europe/London"),
    ("+5511", 9, "BR", "America/Sao_Paulo"),
    ("+1202555", 4, "US", "America/New_York"),
];

const PREVIEW_ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

/// A random `previewId` suffix (`contact_Ll2PXG6CAOsj`, docs/providers/iclosed.md).
pub(crate) fn preview_id(rng: &mut StdRng) -> [u8; 12] {
    let mut id = [0u8; 12];
    for b in &mut id {
        *b = PREVIEW_ALPHABET[rng.gen_range(0..PREVIEW_ALPHABET.len())];
    }
    id
}

/// Builds `count` contacts numbered from `first_seq + 1`. Pure, so it runs without the store
/// lock; the store stamps ids and times when the batch goes in (a bulk import: one
/// millisecond, `joinedTime` = that time).
pub(crate) fn generate(rng: &mut StdRng, first_seq: u64, count: usize) -> Vec<Contact> {
    let mut batch = Vec::with_capacity(count);
    for seq in (first_seq.saturating_add(1)..=u64::MAX).take(count) {
        let (first, first_ascii) = FIRST[rng.gen_range(0..FIRST.len())];
        let (last, last_ascii) = LAST[rng.gen_range(0..LAST.len())];
        let domain = DOMAINS[(seq % DOMAINS.len() as u64) as usize];
        let (prefix, digits, country, tz) = PLACES[(seq % PLACES.len() as u64) as usize];
        let modulus = 10u64.pow(digits as u32);
        // Unique within a place while seq / places < modulus; repeats beyond are harmless
        // (iClosed has no phone uniqueness).
        let phone = format!(
            "{prefix}{:0width$}",
            (seq / PLACES.len() as u64) % modulus,
            width = digits
        );
        let status = Status::ALL[rng.gen_range(0..Status::ALL.len())];
        batch.push(Contact {
            id: 0,
            preview_id: preview_id(rng),
            created_ms: 0,
            updated_ms: 0,
            deleted_ms: None,
            status,
            first_name: Some(first.into()),
            last_name: Some(last.into()),
            email: Some(format!("{first_ascii}.{last_ascii}.{seq}@{domain}").into_boxed_str()),
            phone_number: Some(phone.into_boxed_str()),
            secondary_email: None,
            secondary_phone_number: None,
            tag_id: None,
            joined_ms: None,
            country: Some(country.into()),
            time_zone: Some(tz.into()),
            ip_address: None,
            referrer_url: None,
            event_name: None,
            tracking: None,
        });
    }
    batch
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::iclosed::model::{is_email, is_phone, js_len};
    use rand::SeedableRng;

    #[test]
    fn seeded_contacts_satisfy_the_create_constraints() {
        let mut rng = StdRng::seed_from_u64(1);
        for c in generate(&mut rng, 0, 2_000) {
            for name in [&c.first_name, &c.last_name] {
                assert!(name.as_deref().is_some_and(|n| js_len(n) <= 25));
            }
            let email = c.email.as_deref().unwrap_or_default();
            assert!(is_email(email) && js_len(email) <= 255, "{email}");
            let phone = c.phone_number.as_deref().unwrap_or_default();
            assert!(is_phone(phone) && phone.len() <= 20, "{phone}");
            assert!(c.preview_id.iter().all(u8::is_ascii_alphanumeric));
        }
    }
}
