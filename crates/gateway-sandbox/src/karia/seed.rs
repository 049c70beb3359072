//! Realistic, invented contacts for `POST /karia/_sim/seed`: varied names (accents
//! included), an `example.*` email (RFC 2606) on every contact, an Australian mobile on most,
//! and a street address on about a third (docs/providers/karia.md shapes: `email`/`phone` methods, `current`
//! addresses).

use rand::rngs::StdRng;
use rand::Rng as _;

use super::model::{text, AddressFields, Field, NewContact, ADDRESS_FIELDS};

/// (as written, as used in an email local part).
const FIRST: &[(&str, &str)] = &[
    ("Jane", "jane"),
    ("Liam", "liam"),
    ("Olivia", "olivia"),
    ("Noah", "noah"),
    ("Charlotte", "charlotte"),
    ("Aroha", "aroha"),
    ("Mia", "mia"),
    ("Jack", "jack"),
    ("Priya", "priya"),
    ("Thắng", "thang"),
    ("Zoë", "zoe"),
    ("José", "jose"),
    ("Chloé", "chloe"),
    ("Mateo", "mateo"),
    ("Yuki", "yuki"),
    ("Siobhán", "siobhan"),
    ("Kai", "kai"),
    ("Amelia", "amelia"),
    ("Oliver", "oliver"),
    ("Isla", "isla"),
    ("Wei", "wei"),
    ("Fatima", "fatima"),
    ("Lachlan", "lachlan"),
    ("Matilda", "matilda"),
];

const LAST: &[(&str, &str)] = &[
    ("Citizen", "citizen"),
    ("Smith", "smith"),
    ("Nguyễn", "nguyen"),
    ("Wilson", "wilson"),
    ("O'Brien", "obrien"),
    ("Papadopoulos", "papadopoulos"),
    ("Kelly", "kelly"),
    ("Chen", "chen"),
    ("Rossi", "rossi"),
    ("Singh", "singh"),
    ("Taylor", "taylor"),
    ("García", "garcia"),
    ("Walker", "walker"),
    ("Ngata", "ngata"),
    ("Müller", "muller"),
    ("Tran", "tran"),
    ("Brown", "brown"),
    ("Kowalski", "kowalski"),
    ("Murphy", "murphy"),
    ("Haddad", "haddad"),
];

const TITLES: &[&str] = &["Mr", "Ms", "Mrs", "Dr", "Mx"];

const DOMAINS: &[&str] = &["example.com", "example.org", "example.net"];

const STREETS: &[&str] = &[
    "Example Street",
    "George Street",
    "Collins Street",
    "Queen Street",
    "Hay Street",
    "King William Street",
    "Wattle Avenue",
    "Banksia Road",
    "Ocean Parade",
    "Station Lane",
];

/// (suburb, city, state, postcode).
const PLACES: &[(&str, &str, &str, &str)] = &[
    ("Sydney", "Sydney", "NSW", "2000"),
    ("Parramatta", "Sydney", "NSW", "2150"),
    ("Newtown", "Sydney", "NSW", "2042"),
    ("Melbourne", "Melbourne", "VIC", "3000"),
    ("Fitzroy", "Melbourne", "VIC", "3065"),
    ("Brisbane City", "Brisbane", "QLD", "4000"),
    ("Fortitude Valley", "Brisbane", "QLD", "4006"),
    ("Perth", "Perth", "WA", "6000"),
    ("Fremantle", "Perth", "WA", "6160"),
    ("Adelaide", "Adelaide", "SA", "5000"),
    ("Hobart", "Hobart", "TAS", "7000"),
    ("Braddon", "Canberra", "ACT", "2612"),
    ("Darwin City", "Darwin", "NT", "0800"),
];

fn address(rng: &mut StdRng) -> AddressFields {
    let (suburb, city, state, postcode) = PLACES[rng.gen_range(0..PLACES.len())];
    let street = STREETS[rng.gen_range(0..STREETS.len())];
    let number = rng.gen_range(1..400u32).to_string();
    let unit = rng
        .gen_bool(0.3)
        .then(|| rng.gen_range(1..40u32).to_string());
    let mut fields: AddressFields = Default::default();
    for (slot, name) in fields.iter_mut().zip(ADDRESS_FIELDS) {
        *slot = match name {
            "type" => Some("current".into()),
            "addressLine1" => Some(match &unit {
                Some(u) => format!("{u}/{number} {street}").into(),
                None => format!("{number} {street}").into(),
            }),
            "unitNumber" => unit.as_deref().map(Into::into),
            "streetNumber" => Some(number.as_str().into()),
            "streetName" => Some(street.into()),
            "state" => Some(state.into()),
            "suburb" => Some(suburb.into()),
            "city" => Some(city.into()),
            "postCode" => Some(postcode.into()),
            "country" => Some("Australia".into()),
            _ => None,
        };
    }
    fields
}

/// Builds `count` contacts numbered from `first_seq + 1` (emails embed the number, so they
/// are unique across seed calls). Pure, so it runs without holding the store lock.
pub(crate) fn generate(
    rng: &mut StdRng,
    first_seq: u64,
    count: usize,
) -> Vec<(NewContact, Option<AddressFields>)> {
    let mut batch = Vec::with_capacity(count);
    for seq in (first_seq.saturating_add(1)..=u64::MAX).take(count) {
        let (first, first_ascii) = FIRST[rng.gen_range(0..FIRST.len())];
        let (last, last_ascii) = LAST[rng.gen_range(0..LAST.len())];
        let domain = DOMAINS[(seq % DOMAINS.len() as u64) as usize];
        let mut scalars = vec![
            (Field::Type, text("individual")),
            (Field::Status, text("active")),
            (Field::FirstName, text(first)),
            (Field::LastName, text(last)),
        ];
        if rng.gen_bool(0.3) {
            scalars.push((Field::PreferredName, text(first)));
        }
        if rng.gen_bool(0.4) {
            scalars.push((Field::Title, text(TITLES[rng.gen_range(0..TITLES.len())])));
        }
        let mut methods = vec![(
            "email".to_owned(),
            format!("{first_ascii}.{last_ascii}.{seq}@{domain}"),
        )];
        if rng.gen_bool(0.7) {
            // Australian mobiles, unique per number: +61 4 then eight digits from `seq`.
            methods.push(("phone".to_owned(), format!("+614{:08}", seq % 100_000_000)));
        }
        let addr = rng.gen_bool(0.35).then(|| address(rng));
        batch.push((NewContact { scalars, methods }, addr));
    }
    batch
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn seeded_contacts_look_real_and_emails_are_unique() {
        let mut rng = StdRng::seed_from_u64(3);
        let batch = generate(&mut rng, 10, 1_000);
        let mut emails = std::collections::HashSet::new();
        let mut with_address = 0;
        let mut with_phone = 0;
        for (c, a) in &batch {
            assert!((4..=6).contains(&c.scalars.len()));
            assert_eq!(c.methods[0].0, "email");
            assert!(c.methods[0].1.contains("@example."));
            assert!(emails.insert(c.methods[0].1.clone()));
            with_phone += usize::from(c.methods.len() == 2);
            if let Some(a) = a {
                with_address += 1;
                assert_eq!(a[0].as_deref(), Some("current"));
                assert!(a[9].is_some(), "postCode");
            }
        }
        assert!((200..500).contains(&with_address), "{with_address}");
        assert!((550..850).contains(&with_phone), "{with_phone}");
    }
}
