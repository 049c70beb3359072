//! The Bird workspace's contacts in memory: createdAt-ordered storage, the identifier
//! uniqueness index, and every state change the routes and `_sim` calls make.

use std::collections::hash_map::Entry;
use std::hash::{Hash, Hasher};

use rustc_hash::{FxHashMap, FxHasher};
use uuid::Uuid;

use super::errors::BirdError;
use super::model::{key, Contact, ContactPatch, Identifier, IdentifierInput, NewContact};
use crate::state::{OrderedStore, Page};

/// Which contact holds an identifier `(key, value)`.
///
/// Keyed by a 64-bit hash rather than the strings, because a million seeded contacts carry
/// two million identifiers and the strings are already stored on the contacts. The rare hash
/// collision between different identifiers goes to `overflow`, keyed exactly.
struct IdentIndex {
    by_hash: FxHashMap<u64, Uuid>,
    overflow: FxHashMap<(String, String), Uuid>,
    hash: fn(&str, &str) -> u64,
}

/// Fx: fast, and its weaker mixing only costs the occasional trip to `overflow`.
fn ident_hash(key: &str, value: &str) -> u64 {
    let mut h = FxHasher::default();
    key.hash(&mut h);
    value.hash(&mut h);
    h.finish()
}

impl IdentIndex {
    fn new(hash: fn(&str, &str) -> u64) -> Self {
        Self {
            by_hash: FxHashMap::default(),
            overflow: FxHashMap::default(),
            hash,
        }
    }

    fn clear(&mut self) {
        self.by_hash.clear();
        self.overflow.clear();
    }
}

/// The simulated workspace.
pub(crate) struct BirdStore {
    contacts: OrderedStore<Uuid, Contact>,
    idents: IdentIndex,
    /// Numbers seeded contacts across seed calls so their emails and phones stay unique.
    pub(crate) seed_seq: u64,
}

impl Default for BirdStore {
    fn default() -> Self {
        Self::with_hash(ident_hash)
    }
}

impl BirdStore {
    fn with_hash(hash: fn(&str, &str) -> u64) -> Self {
        Self {
            contacts: OrderedStore::default(),
            idents: IdentIndex::new(hash),
            seed_seq: 0,
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.contacts.len()
    }

    pub(crate) fn clear(&mut self) {
        self.contacts.clear();
        self.idents.clear();
    }

    pub(crate) fn get(&self, id: &Uuid) -> Option<&Contact> {
        self.contacts.get(id)
    }

    pub(crate) fn page(
        &self,
        after: Option<(i64, Uuid)>,
        reverse: bool,
        limit: usize,
    ) -> Page<'_, Uuid, Contact> {
        self.contacts.page(after, reverse, limit)
    }

    /// The contact holding identifier `(key, value)`.
    pub(crate) fn holder(&self, key: &str, value: &str) -> Option<Uuid> {
        if !self.idents.overflow.is_empty() {
            if let Some(id) = self
                .idents
                .overflow
                .get(&(key.to_owned(), value.to_owned()))
            {
                return Some(*id);
            }
        }
        let id = self.idents.by_hash.get(&(self.idents.hash)(key, value))?;
        self.contacts
            .get(id)
            .filter(|c| c.has_identifier(key, value))
            .map(|_| *id)
    }

    /// Records that `id` now holds `(key, value)`; the caller checked it was free.
    fn index_add(&mut self, key: &str, value: &str, id: Uuid) {
        match self.idents.by_hash.entry((self.idents.hash)(key, value)) {
            Entry::Vacant(e) => {
                e.insert(id);
            }
            Entry::Occupied(_) => {
                self.idents
                    .overflow
                    .insert((key.to_owned(), value.to_owned()), id);
            }
        }
    }

    fn index_remove(&mut self, key: &str, value: &str, id: Uuid) {
        if !self.idents.overflow.is_empty()
            && self
                .idents
                .overflow
                .remove(&(key.to_owned(), value.to_owned()))
                .is_some()
        {
            return;
        }
        let h = (self.idents.hash)(key, value);
        if self.idents.by_hash.get(&h) == Some(&id) {
            self.idents.by_hash.remove(&h);
        }
    }

    /// 409 when another contact than `owner` holds the identifier (docs/providers/bird.md).
    fn check_free(&self, ident: &IdentifierInput, owner: Option<Uuid>) -> Result<(), BirdError> {
        match self.holder(&ident.key, &ident.value) {
            Some(other) if Some(other) != owner => Err(BirdError::conflict(format!(
                "identifier {} {:?} already belongs to another contact",
                ident.key, ident.value
            ))),
            _ => Ok(()),
        }
    }

    /// Creates a contact; 409 when one of its identifiers belongs to another contact.
    pub(crate) fn create(
        &mut self,
        id: Uuid,
        new: NewContact,
        now_ms: i64,
    ) -> Result<&Contact, BirdError> {
        for ident in &new.identifiers {
            self.check_free(ident, None)?;
        }
        self.insert_unchecked(Contact::new(
            id,
            now_ms,
            new.attributes
                .into_iter()
                .map(|(k, v)| (key(&k), v))
                .collect(),
            new.identifiers
                .into_iter()
                .map(|i| Identifier::new(i, now_ms))
                .collect(),
            new.refs,
        ));
        self.contacts
            .get(&id)
            .ok_or_else(|| BirdError::new(axum::http::StatusCode::INTERNAL_SERVER_ERROR, "lost"))
    }

    /// Inserts a contact whose identifiers the caller has checked are free.
    fn insert_unchecked(&mut self, contact: Contact) {
        let id = contact.id;
        for i in &contact.identifiers {
            self.index_add(&i.key, &i.value, id);
        }
        self.contacts.insert(contact.created_ms, id, contact);
    }

    /// Inserts seeded contacts, dropping any identifier another contact already holds. The
    /// batch's own identifiers must be unique among themselves (`seed::generate` makes them so).
    pub(crate) fn add_seeded(&mut self, mut contacts: Vec<Contact>) {
        for c in contacts.iter_mut() {
            let taken: Vec<(String, String)> = c
                .identifiers
                .iter()
                .filter(|i| self.holder(&i.key, &i.value).is_some())
                .map(|i| (i.key.to_string(), i.value.to_string()))
                .collect();
            for (k, v) in taken {
                c.remove_identifier(&k, &v);
            }
        }
        self.idents
            .by_hash
            .reserve(contacts.len().saturating_mul(2));
        for c in &contacts {
            for i in &c.identifiers {
                self.index_add(&i.key, &i.value, c.id);
            }
        }
        // A bulk merge rebuilds the whole tree: worth it only for a batch that is large
        // next to what is stored.
        if contacts.len() >= self.contacts.len() / 8 {
            self.contacts.extend(
                contacts
                    .into_iter()
                    .map(|c| (c.created_ms, c.id, c))
                    .collect(),
            );
        } else {
            for c in contacts {
                self.contacts.insert(c.created_ms, c.id, c);
            }
        }
    }

    /// Hard delete (docs/providers/bird.md): gone from get, list and the identifier index.
    pub(crate) fn delete(&mut self, id: &Uuid) -> bool {
        let Some(contact) = self.contacts.remove(id) else {
            return false;
        };
        for i in &contact.identifiers {
            self.index_remove(&i.key, &i.value, *id);
        }
        true
    }

    /// Applies a validated PATCH (docs/providers/bird.md). Conflicts are checked before anything changes.
    pub(crate) fn patch(
        &mut self,
        id: &Uuid,
        patch: ContactPatch,
        now_ms: i64,
    ) -> Result<&Contact, BirdError> {
        if !self.contacts.contains(id) {
            return Err(BirdError::not_found("contact not found"));
        }
        for ident in &patch.add_identifiers {
            // Re-adding one that the same PATCH removes from another contact is not supported:
            // the check runs against the state before the PATCH.
            self.check_free(ident, Some(*id))?;
        }

        let mut removed: Vec<(String, String)> = Vec::new();
        let mut added: Vec<(String, String)> = Vec::new();
        {
            let Some(c) = self.contacts.get_mut(id) else {
                return Err(BirdError::not_found("contact not found"));
            };
            for (k, v) in patch.attributes {
                c.set_attribute(&k, v);
            }
            c.update_refs(|r| {
                apply_set(
                    &mut r.list_ids,
                    patch.list_ids,
                    patch.add_to_lists,
                    &patch.remove_from_lists,
                );
                apply_set(
                    &mut r.account_ids,
                    patch.account_ids,
                    patch.add_to_accounts,
                    &patch.remove_from_accounts,
                );
                apply_set(
                    &mut r.company_refs,
                    patch.company_refs,
                    patch.add_company_refs,
                    &patch.remove_company_refs,
                );
            });
            for (k, v) in &patch.remove_identifiers {
                if c.remove_identifier(k, v) {
                    removed.push((k.clone(), v.clone()));
                }
            }
            for i in patch.add_identifiers {
                if !c.has_identifier(&i.key, &i.value) {
                    added.push((i.key.clone(), i.value.clone()));
                    c.identifiers.push(Identifier::new(i, now_ms));
                }
            }
            c.updated_ms = c.updated_ms.max(now_ms);
        }
        for (k, v) in removed {
            self.index_remove(&k, &v, *id);
        }
        for (k, v) in added {
            self.index_add(&k, &v, *id);
        }
        self.contacts
            .get(id)
            .ok_or_else(|| BirdError::not_found("contact not found"))
    }

    /// Adds one identifier (docs/providers/bird.md): 404 unknown contact, 409 when any contact (this one
    /// included) already holds it.
    pub(crate) fn add_identifier(
        &mut self,
        id: &Uuid,
        input: IdentifierInput,
        now_ms: i64,
    ) -> Result<Identifier, BirdError> {
        if !self.contacts.contains(id) {
            return Err(BirdError::not_found("contact not found"));
        }
        match self.holder(&input.key, &input.value) {
            Some(owner) if owner == *id => {
                return Err(BirdError::conflict(format!(
                    "identifier {} {:?} already exists on this contact",
                    input.key, input.value
                )))
            }
            Some(_) => {
                return Err(BirdError::conflict(format!(
                    "identifier {} {:?} already belongs to another contact",
                    input.key, input.value
                )))
            }
            None => {}
        }
        let ident = Identifier::new(input, now_ms);
        let Some(c) = self.contacts.get_mut(id) else {
            return Err(BirdError::not_found("contact not found"));
        };
        c.identifiers.push(ident.clone());
        c.updated_ms = c.updated_ms.max(now_ms);
        self.index_add(&ident.key, &ident.value, *id);
        Ok(ident)
    }

    /// Removes one identifier (docs/providers/bird.md): 404 for an unknown contact or identifier.
    pub(crate) fn remove_identifier(
        &mut self,
        id: &Uuid,
        key: &str,
        value: &str,
        now_ms: i64,
    ) -> Result<(), BirdError> {
        let Some(c) = self.contacts.get_mut(id) else {
            return Err(BirdError::not_found("contact not found"));
        };
        if !c.remove_identifier(key, value) {
            return Err(BirdError::not_found("identifier not found"));
        }
        c.updated_ms = c.updated_ms.max(now_ms);
        self.index_remove(key, value, *id);
        Ok(())
    }
}

/// `set` replaces when given, then `add` and `remove` change it (docs/providers/bird.md, inferred from names).
fn apply_set(
    target: &mut Vec<String>,
    set: Option<Vec<String>>,
    add: Vec<String>,
    remove: &[String],
) {
    if let Some(s) = set {
        *target = s;
    }
    for a in add {
        if !target.contains(&a) {
            target.push(a);
        }
    }
    target.retain(|t| !remove.contains(t));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bird::model::{parse_create, parse_patch};
    use serde_json::json;

    fn new(email: &str) -> NewContact {
        parse_create(&json!({
            "displayName": "X",
            "identifiers": [{"key": "emailaddress", "value": email}]
        }))
        .expect("valid")
    }

    fn id(n: u128) -> Uuid {
        Uuid::from_u128(n)
    }

    fn exercise(mut s: BirdStore) {
        s.create(id(1), new("a@example.com"), 1).expect("create a");
        let e = s
            .create(id(2), new("a@example.com"), 2)
            .expect_err("duplicate");
        assert_eq!(e.status.as_u16(), 409);
        s.create(id(2), new("b@example.com"), 2).expect("create b");
        assert_eq!(s.holder("emailaddress", "a@example.com"), Some(id(1)));
        assert_eq!(s.holder("emailaddress", "b@example.com"), Some(id(2)));
        assert_eq!(s.holder("emailaddress", "c@example.com"), None);

        let p = parse_patch(&json!({
            "addIdentifiers": [{"key": "emailaddress", "value": "b@example.com"}]
        }))
        .expect("valid");
        assert_eq!(
            s.patch(&id(1), p, 3).expect_err("conflict").status.as_u16(),
            409
        );

        s.remove_identifier(&id(2), "emailaddress", "b@example.com", 4)
            .expect("remove");
        assert_eq!(s.holder("emailaddress", "b@example.com"), None);
        let input = IdentifierInput {
            key: "emailaddress".into(),
            value: "b@example.com".into(),
            properties: None,
        };
        s.add_identifier(&id(1), input.clone(), 5).expect("add");
        assert_eq!(s.holder("emailaddress", "b@example.com"), Some(id(1)));
        assert_eq!(
            s.add_identifier(&id(1), input, 6)
                .expect_err("again")
                .status
                .as_u16(),
            409
        );
        assert!(s.delete(&id(1)));
        assert!(!s.delete(&id(1)));
        assert_eq!(s.holder("emailaddress", "a@example.com"), None);
        assert_eq!(s.holder("emailaddress", "b@example.com"), None);
        s.create(id(3), new("a@example.com"), 7)
            .expect("free again");
        assert_eq!(s.len(), 2);
    }

    #[test]
    fn identifier_uniqueness() {
        exercise(BirdStore::default());
    }

    #[test]
    fn identifier_uniqueness_survives_hash_collisions() {
        exercise(BirdStore::with_hash(|_, _| 7));
    }

    #[test]
    fn patch_sets_and_bumps_updated_at() {
        let mut s = BirdStore::default();
        s.create(id(1), new("a@example.com"), 10).expect("create");
        let l1 = "123e4567-e89b-12d3-a456-426614174001";
        let l2 = "123e4567-e89b-12d3-a456-426614174002";
        let p = parse_patch(&json!({
            "listIds": [l1], "addToLists": [l2], "removeFromLists": [l1],
            "attributes": {"displayName": null, "firstName": "Jo"},
            "addCompanyRefs": ["acme"]
        }))
        .expect("valid");
        let c = s.patch(&id(1), p, 20).expect("patch");
        assert_eq!(c.refs().list_ids, vec![l2.to_owned()]);
        assert_eq!(c.refs().company_refs, vec!["acme".to_owned()]);
        assert_eq!(c.updated_ms, 20);
        assert!(c.attribute("displayName").is_none());
        let c = s.patch(&id(1), ContactPatch::default(), 5).expect("patch");
        assert_eq!(c.updated_ms, 20, "updatedAt never goes back");
    }
}
