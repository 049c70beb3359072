//! Realistic, invented contacts for `POST /bird/_sim/seed`: varied first and last names with
//! accents, `example.*` emails (RFC 2606, so no real address) and unique E.164 mobiles.

use rand::rngs::StdRng;
use rand::Rng as _;
use serde_json::Value;

use super::model::{key, Contact, Identifier, Refs, EMAIL, PHONE};
use crate::state::uuid_v4;

/// (as written, as used in an email local part).
const FIRST: &[(&str, &str)] = &[
    ("Jane", "jane"),
    ("José", "jose"),
    ("Zoë", "zoe"),
    ("Chloé", "chloe"),
    ("Søren", "soren"),
    ("Björn", "bjorn"),
    ("Anaïs", "anais"),
    ("Łukasz", "lukasz"),
    ("François", "francois"),
    ("Inés", "ines"),
    ("Noémie", "noemie"),
    ("Mia", "mia"),
    ("Liam", "liam"),
    ("Aroha", "aroha"),
    ("Kai", "kai"),
    ("Priya", "priya"),
    ("Mateo", "mateo"),
    ("Yuki", "yuki"),
    ("Olivia", "olivia"),
    ("Thắng", "thang"),
    ("Ágnes", "agnes"),
    ("Václav", "vaclav"),
    ("Siobhán", "siobhan"),
    ("Emre", "emre"),
    ("Núria", "nuria"),
    ("Malik", "malik"),
    ("Harper", "harper"),
    ("Tomás", "tomas"),
    ("Ava", "ava"),
    ("Jürgen", "jurgen"),
];

const LAST: &[(&str, &str)] = &[
    ("Citizen", "citizen"),
    ("Müller", "muller"),
    ("García", "garcia"),
    ("Øster", "oster"),
    ("Nguyễn", "nguyen"),
    ("O'Brien", "obrien"),
    ("Dubois", "dubois"),
    ("Kowalski", "kowalski"),
    ("Smith", "smith"),
    ("Åberg", "aberg"),
    ("Ngata", "ngata"),
    ("Rossi", "rossi"),
    ("Yılmaz", "yilmaz"),
    ("Fernández", "fernandez"),
    ("Tanaka", "tanaka"),
    ("Papadopoulos", "papadopoulos"),
    ("Lefèvre", "lefevre"),
    ("Chen", "chen"),
    ("Novák", "novak"),
    ("van der Berg", "vanderberg"),
    ("Patel", "patel"),
    ("Silva", "silva"),
    ("Brown", "brown"),
    ("Ó Súilleabháin", "osuilleabhain"),
];

const DOMAINS: &[&str] = &["example.com", "example.org", "example.net"];

/// Mobile ranges by country: (E.164 prefix, digits after it). Enough room for 10^8 numbers
/// each, so a seq-derived number is unique for any realistic seed size.
const PHONES: &[(&str, usize)] = &[("+614", 8), ("+3161", 8), ("+4479", 8), ("+5511", 9)];

/// Builds `count` contacts numbered from `first_seq + 1`, stamped `now_ms` (a bulk import:
/// same millisecond, ordered by id). Pure, so it runs without holding the store lock; the
/// store drops any identifier already taken when the batch goes in
/// ([`BirdStore::add_seeded`]).
pub(crate) fn generate(
    rng: &mut StdRng,
    first_seq: u64,
    count: usize,
    now_ms: i64,
) -> Vec<Contact> {
    let mut batch = Vec::with_capacity(count);
    for seq in (first_seq.saturating_add(1)..=u64::MAX).take(count) {
        let (first, first_ascii) = FIRST[rng.gen_range(0..FIRST.len())];
        let (last, last_ascii) = LAST[rng.gen_range(0..LAST.len())];
        let domain = DOMAINS[(seq % DOMAINS.len() as u64) as usize];
        let email = format!("{first_ascii}.{last_ascii}.{seq}@{domain}");
        let (prefix, digits) = PHONES[(seq % PHONES.len() as u64) as usize];
        let modulus = 10u64.pow(digits as u32);
        let phone = format!("{prefix}{:0width$}", seq % modulus, width = digits);
        // Unique inside the batch by construction: both embed `seq`.
        let identifiers = [(EMAIL, email), (PHONE, phone)]
            .into_iter()
            .map(|(k, value)| Identifier {
                key: key(k),
                value: value.into_boxed_str(),
                properties: None,
                created_ms: now_ms,
            })
            .collect();
        let attributes = vec![
            (key("displayName"), Value::String(format!("{first} {last}"))),
            (key("firstName"), Value::String(first.to_owned())),
            (key("lastName"), Value::String(last.to_owned())),
        ];
        batch.push(Contact::new(
            uuid_v4(rng),
            now_ms,
            attributes,
            identifiers,
            Refs::default(),
        ));
    }
    batch
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bird::model::is_e164;
    use crate::bird::store::BirdStore;
    use rand::SeedableRng;
    use uuid::Uuid;

    #[test]
    fn seeded_contacts_are_valid_and_unique() {
        let mut store = BirdStore::default();
        let mut rng = StdRng::seed_from_u64(1);
        let batch = generate(&mut rng, 0, 500, 1_000);
        let ids: Vec<Uuid> = batch.iter().map(|c| c.id).collect();
        store.add_seeded(batch);
        // The same numbers again: the phones (derived from the number alone) are taken and
        // dropped; the emails differ by the random names (or are dropped too).
        let again = generate(&mut rng, 0, 500, 2_000);
        let again_ids: Vec<Uuid> = again.iter().map(|c| c.id).collect();
        store.add_seeded(again);
        assert_eq!(store.len(), 1000);
        for id in &again_ids {
            let c = store.get(id).expect("stored");
            assert!(c.identifiers.iter().all(|i| &*i.key == EMAIL));
            for i in &c.identifiers {
                assert_eq!(store.holder(EMAIL, &i.value), Some(*id));
            }
        }
        for uuid in ids {
            let c = store.get(&uuid).expect("stored");
            assert_eq!(c.identifiers.len(), 2);
            assert!(is_e164(&c.identifiers[1].value));
            assert_eq!(store.holder(EMAIL, &c.identifiers[0].value), Some(uuid));
            assert_eq!(c.attributes.len(), 3);
        }
    }
}
