//! The Karia workspace's contacts in memory. Ids are sequential int32s (docs/providers/karia.md), so contacts
//! live in a vector indexed by id; a Fenwick tree over "live" flags turns an `offset` into the
//! position of the offset-th contact that is not soft-deleted in O(log n), so offset paging
//! stays cheap with a million contacts and any number of soft deletes (docs/providers/karia.md).

use std::collections::BTreeSet;

use axum::http::StatusCode;

use super::errors::KariaError;
use super::model::{
    reference_id, Address, AddressFields, Contact, ContactMethod, ContactPatch, NewContact,
};

/// Prefix sums over 0/1 "live" flags, growable at the end.
#[derive(Debug, Default)]
struct Fenwick {
    /// 1-based; `tree[0]` unused.
    tree: Vec<u32>,
}

fn lowbit(i: usize) -> usize {
    i & i.wrapping_neg()
}

impl Fenwick {
    fn len(&self) -> usize {
        self.tree.len().saturating_sub(1)
    }

    fn clear(&mut self) {
        self.tree.clear();
    }

    /// Appends an element with value `v` (0 or 1).
    fn push(&mut self, v: u32) {
        if self.tree.is_empty() {
            self.tree.push(0);
        }
        let i = self.tree.len();
        // tree[i] covers (i - lowbit(i), i]: v plus the nodes that tile (i - lowbit(i), i - 1].
        let stop = i - lowbit(i);
        let mut sum = v;
        let mut j = i - 1;
        while j > stop {
            sum += self.tree.get(j).copied().unwrap_or(0);
            j -= lowbit(j);
        }
        self.tree.push(sum);
    }

    /// Element `pos` (0-based) goes from 1 to 0.
    fn clear_one(&mut self, pos: usize) {
        let mut i = pos + 1;
        while let Some(node) = self.tree.get_mut(i) {
            *node = node.saturating_sub(1);
            i += lowbit(i);
        }
    }

    /// Position (0-based) of the element holding the `k`-th one (0-based), if any.
    fn find(&self, k: usize) -> Option<usize> {
        let n = self.len();
        let mut remaining = k as u64 + 1;
        let mut pos = 0usize;
        let mut step = if n == 0 {
            0
        } else {
            1usize << (usize::BITS - 1 - n.leading_zeros())
        };
        while step > 0 {
            let next = pos + step;
            if next <= n {
                let here = u64::from(self.tree.get(next).copied().unwrap_or(0));
                if here < remaining {
                    pos = next;
                    remaining -= here;
                }
            }
            step >>= 1;
        }
        (pos < n).then_some(pos)
    }
}

/// The simulated workspace.
#[derive(Debug, Default)]
pub(crate) struct KariaStore {
    /// Contact ids are `base + 1 + index`. The sequence survives a reset (like a database
    /// sequence), so a remote id the gateway kept from before never names a new contact.
    base: i32,
    contacts: Vec<Contact>,
    live: Fenwick,
    live_count: usize,
    last_method_id: i32,
    last_address_id: i32,
    /// Numbers seeded contacts across seed calls so their emails stay unique.
    pub(crate) seed_seq: u64,
}

fn full() -> KariaError {
    KariaError::new(
        StatusCode::INTERNAL_SERVER_ERROR,
        "Internal server error: id sequence exhausted",
    )
}

impl KariaStore {
    /// Contacts not soft-deleted.
    pub(crate) fn live_len(&self) -> usize {
        self.live_count
    }

    /// Empties the workspace; id sequences carry on.
    pub(crate) fn clear(&mut self) {
        self.base = self.next_id().unwrap_or(i32::MAX) - 1;
        self.contacts.clear();
        self.live.clear();
        self.live_count = 0;
    }

    fn next_id(&self) -> Option<i32> {
        i32::try_from(self.contacts.len())
            .ok()
            .and_then(|n| self.base.checked_add(n))
            .and_then(|n| n.checked_add(1))
    }

    fn index(&self, id: i32) -> Option<usize> {
        usize::try_from(id.checked_sub(self.base)?.checked_sub(1)?).ok()
    }

    /// A contact by id, soft-deleted ones included.
    pub(crate) fn get(&self, id: i32) -> Option<&Contact> {
        self.contacts.get(self.index(id)?)
    }

    /// A live (not soft-deleted) contact, else 404 `NOT_FOUND`.
    fn live_mut(&mut self, id: i32) -> Result<&mut Contact, KariaError> {
        let i = self.index(id).ok_or_else(KariaError::not_found)?;
        self.contacts
            .get_mut(i)
            .filter(|c| !c.is_deleted())
            .ok_or_else(KariaError::not_found)
    }

    /// The id a path `contactId` names: the numeric id or the `referenceId` (docs/providers/karia.md).
    pub(crate) fn resolve(&self, raw: &str) -> Option<i32> {
        let digits = raw.strip_prefix("contact_").unwrap_or(raw);
        if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let id: i32 = digits.parse().ok()?;
        // A referenceId must be spelled exactly as issued (`contact_7`, not `contact_07`).
        if raw.starts_with("contact_") && reference_id(id) != raw {
            return None;
        }
        self.get(id).map(|c| c.id)
    }

    fn push(&mut self, contact: Contact) {
        self.live.push(u32::from(!contact.is_deleted()));
        if !contact.is_deleted() {
            self.live_count += 1;
        }
        self.contacts.push(contact);
    }

    fn next_method_id(&mut self) -> Result<i32, KariaError> {
        self.last_method_id = self.last_method_id.checked_add(1).ok_or_else(full)?;
        Ok(self.last_method_id)
    }

    fn next_address_id(&mut self) -> Result<i32, KariaError> {
        self.last_address_id = self.last_address_id.checked_add(1).ok_or_else(full)?;
        Ok(self.last_address_id)
    }

    /// `contact.create`: version 1, methods in the order given.
    pub(crate) fn create(&mut self, new: NewContact, now_ms: i64) -> Result<&Contact, KariaError> {
        let id = self.next_id().ok_or_else(full)?;
        let mut contact = Contact::new(id, now_ms);
        for (field, value) in new.scalars {
            contact.set(field, Some(value));
        }
        for (kind, value) in new.methods {
            contact.methods.push(ContactMethod {
                id: self.next_method_id()?,
                kind: kind.into(),
                value: value.into(),
            });
        }
        contact.compact();
        self.push(contact);
        self.contacts.last().ok_or_else(full)
    }

    /// Inserts seeded contacts: each is a create with its own methods and address.
    pub(crate) fn add_seeded(
        &mut self,
        batch: Vec<(NewContact, Option<AddressFields>)>,
        now_ms: i64,
    ) -> Vec<i32> {
        self.contacts.reserve(batch.len());
        let mut ids = Vec::with_capacity(batch.len());
        for (new, address) in batch {
            let Ok(id) = self.create(new, now_ms).map(|c| c.id) else {
                break;
            };
            if let Some(fields) = address {
                if self.add_address(id, fields, now_ms).is_err() {
                    break;
                }
            }
            ids.push(id);
        }
        ids
    }

    /// Up to `limit` live contacts from the `offset`-th live one, by id (docs/providers/karia.md).
    /// Hidden ids (`hideFromListing`) are left out before the offset applies, as a lagging
    /// index would: a short page still means the end of the listing.
    pub(crate) fn page(
        &self,
        offset: usize,
        limit: usize,
        hidden: &BTreeSet<String>,
    ) -> Vec<&Contact> {
        if !hidden.is_empty() {
            return self
                .contacts
                .iter()
                .filter(|c| !c.is_deleted() && !hidden.contains(&c.id.to_string()))
                .skip(offset)
                .take(limit)
                .collect();
        }
        let Some(start) = self.live.find(offset) else {
            return Vec::new();
        };
        self.contacts
            .get(start..)
            .unwrap_or_default()
            .iter()
            .filter(|c| !c.is_deleted())
            .take(limit)
            .collect()
    }

    /// Partial update of scalar fields (docs/providers/karia.md): 404 for an unknown or soft-deleted contact,
    /// 409 `CONFLICT` when the body's `version` is not the current one; bumps `version`.
    pub(crate) fn patch(
        &mut self,
        id: i32,
        patch: ContactPatch,
        now_ms: i64,
    ) -> Result<&Contact, KariaError> {
        let c = self.live_mut(id)?;
        if let Some(v) = patch.version {
            if v != i64::from(c.version) {
                return Err(KariaError::conflict(format!(
                    "Version conflict: the contact is at version {}, the update was based on {v}",
                    c.version
                )));
            }
        }
        for (field, value) in patch.scalars {
            c.set(field, value);
        }
        c.version = c.version.saturating_add(1);
        c.updated_ms = c.updated_ms.max(now_ms);
        Ok(c)
    }

    /// Soft delete (docs/providers/karia.md): sets `deletedAt`, bumps `version`; the contact stays readable by
    /// id but leaves the list. 404 when unknown or already deleted.
    pub(crate) fn soft_delete(&mut self, id: i32, now_ms: i64) -> Result<&Contact, KariaError> {
        let i = self.index(id).ok_or_else(KariaError::not_found)?;
        self.live_mut(id)?;
        self.live.clear_one(i);
        self.live_count = self.live_count.saturating_sub(1);
        let c = self.contacts.get_mut(i).ok_or_else(KariaError::not_found)?;
        let at = c.updated_ms.max(now_ms);
        c.deleted_ms = Some(at);
        c.updated_ms = at;
        c.version = c.version.saturating_add(1);
        Ok(c)
    }

    /// `contact.address.create`. The contact row itself is not touched (no version bump):
    /// the address carries its own `lastUpdatedAt`.
    pub(crate) fn add_address(
        &mut self,
        id: i32,
        fields: AddressFields,
        now_ms: i64,
    ) -> Result<Address, KariaError> {
        self.live_mut(id)?;
        let address = Address {
            id: self.next_address_id()?,
            deleted_ms: None,
            updated_ms: now_ms,
            fields: Box::new(fields),
        };
        self.live_mut(id)?.addresses.push(address.clone());
        Ok(address)
    }

    /// `contact.method.create`; like addresses, the contact's version is not bumped.
    pub(crate) fn add_method(
        &mut self,
        id: i32,
        kind: String,
        value: String,
    ) -> Result<ContactMethod, KariaError> {
        self.live_mut(id)?;
        let method = ContactMethod {
            id: self.next_method_id()?,
            kind: kind.into(),
            value: value.into(),
        };
        self.live_mut(id)?.methods.push(method.clone());
        Ok(method)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::karia::model::{text, Field};

    #[test]
    fn fenwick_finds_the_kth_live_element() {
        let mut f = Fenwick::default();
        let mut naive = Vec::new();
        for i in 0..300usize {
            let v = u32::from(i % 7 != 3);
            f.push(v);
            naive.push(v);
        }
        for pos in [0usize, 1, 2, 63, 64, 65, 127, 128, 200, 299] {
            if naive[pos] == 1 {
                f.clear_one(pos);
                naive[pos] = 0;
            }
        }
        let live: Vec<usize> = (0..naive.len()).filter(|i| naive[*i] == 1).collect();
        for (k, want) in live.iter().enumerate() {
            assert_eq!(f.find(k), Some(*want), "k={k}");
        }
        assert_eq!(f.find(live.len()), None);
        assert_eq!(Fenwick::default().find(0), None);
    }

    fn new(name: &str) -> NewContact {
        NewContact {
            scalars: vec![(Field::FirstName, text(name))],
            methods: vec![("email".into(), format!("{name}@example.com"))],
        }
    }

    #[test]
    fn ids_are_sequential_and_survive_reset() {
        let mut s = KariaStore::default();
        assert_eq!(s.create(new("a"), 1).expect("a").id, 1);
        assert_eq!(s.create(new("b"), 1).expect("b").id, 2);
        assert_eq!(s.resolve("2"), Some(2));
        assert_eq!(s.resolve("contact_2"), Some(2));
        assert_eq!(s.resolve("contact_02"), None);
        assert_eq!(s.resolve("3"), None);
        assert_eq!(s.resolve("-1"), None);
        assert_eq!(s.resolve("99999999999"), None);
        s.clear();
        assert_eq!(s.live_len(), 0);
        assert_eq!(s.resolve("1"), None);
        let c = s.create(new("c"), 1).expect("c");
        assert_eq!(c.id, 3);
        assert_eq!(c.methods[0].id, 3);
    }

    #[test]
    fn soft_delete_leaves_the_list_not_the_store() {
        let mut s = KariaStore::default();
        for n in 0..10 {
            s.create(new(&format!("p{n}")), 1).expect("create");
        }
        s.soft_delete(3, 5).expect("delete");
        assert_eq!(s.soft_delete(3, 6).expect_err("again").status.as_u16(), 404);
        let c = s.get(3).expect("still there");
        assert_eq!((c.deleted_ms, c.version), (Some(5), 2));
        let ids: Vec<i32> = s
            .page(0, 100, &BTreeSet::new())
            .iter()
            .map(|c| c.id)
            .collect();
        assert_eq!(ids, vec![1, 2, 4, 5, 6, 7, 8, 9, 10]);
        let ids: Vec<i32> = s
            .page(2, 3, &BTreeSet::new())
            .iter()
            .map(|c| c.id)
            .collect();
        assert_eq!(ids, vec![4, 5, 6]);
        assert!(s.page(9, 3, &BTreeSet::new()).is_empty());
        assert_eq!(s.live_len(), 9);
        assert!(s.add_method(3, "email".into(), "x".into()).is_err());
        assert!(s.patch(3, ContactPatch::default(), 7).is_err());
    }

    #[test]
    fn patch_checks_version_and_bumps_it() {
        let mut s = KariaStore::default();
        s.create(new("a"), 10).expect("create");
        let p = ContactPatch {
            scalars: vec![(Field::FirstName, None), (Field::Title, Some(text("Dr")))],
            version: Some(1),
        };
        let c = s.patch(1, p, 20).expect("patch");
        assert_eq!((c.version, c.updated_ms), (2, 20));
        assert!(c.get(Field::FirstName).is_none());
        let stale = ContactPatch {
            scalars: Vec::new(),
            version: Some(1),
        };
        assert_eq!(
            s.patch(1, stale, 30).expect_err("stale").status.as_u16(),
            409
        );
        let c = s.patch(1, ContactPatch::default(), 5).expect("patch");
        assert_eq!(
            (c.version, c.updated_ms),
            (3, 20),
            "lastUpdatedAt never goes back"
        );
    }
}
