//! The iClosed account's contacts in memory. Ids are sequential integers and contacts are
//! never removed (deletion is soft, docs/providers/iclosed.md), so they live in a vector indexed by id: a default
//! list page (id order) is O(page + soft-deleted) even with a million contacts.

use std::cmp::Ordering;
use std::collections::BTreeSet;

use rustc_hash::FxHashMap;

use super::errors::IclosedError;
use super::model::{Contact, ContactUpdate, NewContact, USER_ID};

/// `orderColumn` (docs/providers/iclosed.md).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Column {
    Id,
    CreatedAt,
    UpdatedAt,
    JoinedTime,
    FirstName,
    LastName,
    Email,
}

impl Column {
    pub(crate) fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "id" => Self::Id,
            "createdAt" => Self::CreatedAt,
            "updatedAt" => Self::UpdatedAt,
            "joinedTime" => Self::JoinedTime,
            "firstName" => Self::FirstName,
            "lastName" => Self::LastName,
            "email" => Self::Email,
            _ => return None,
        })
    }

    /// Ascending order with nulls last (PostgreSQL's default: `DESC` then puts them first);
    /// strings compared byte-wise.
    fn compare(self, a: &Contact, b: &Contact) -> Ordering {
        fn nulls_last<T: Ord>(a: Option<T>, b: Option<T>) -> Ordering {
            match (a, b) {
                (Some(x), Some(y)) => x.cmp(&y),
                (Some(_), None) => Ordering::Less,
                (None, Some(_)) => Ordering::Greater,
                (None, None) => Ordering::Equal,
            }
        }
        match self {
            Self::Id => Ordering::Equal,
            Self::CreatedAt => a.created_ms.cmp(&b.created_ms),
            Self::UpdatedAt => a.updated_ms.cmp(&b.updated_ms),
            Self::JoinedTime => nulls_last(a.joined_ms, b.joined_ms),
            Self::FirstName => nulls_last(a.first_name.as_deref(), b.first_name.as_deref()),
            Self::LastName => nulls_last(a.last_name.as_deref(), b.last_name.as_deref()),
            Self::Email => nulls_last(a.email.as_deref(), b.email.as_deref()),
        }
        .then(a.id.cmp(&b.id))
    }
}

/// A validated `GET /v1/contacts` query.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ListQuery {
    pub(crate) limit: usize,
    pub(crate) page: usize,
    /// Lower-cased.
    pub(crate) search: Option<String>,
    pub(crate) statuses: Option<Vec<String>>,
    pub(crate) user_id: Option<u64>,
    pub(crate) time_from: Option<i64>,
    pub(crate) time_to: Option<i64>,
    pub(crate) order: Option<(Column, bool)>,
}

impl Default for ListQuery {
    fn default() -> Self {
        Self {
            limit: 20,
            page: 0,
            search: None,
            statuses: None,
            user_id: None,
            time_from: None,
            time_to: None,
            order: None,
        }
    }
}

impl ListQuery {
    fn matches(&self, c: &Contact) -> bool {
        if c.is_deleted() {
            return false;
        }
        if self.user_id.is_some_and(|u| u != USER_ID) {
            return false;
        }
        if let Some(st) = &self.statuses {
            if !st.iter().any(|s| s == c.status.as_str()) {
                return false;
            }
        }
        if self.time_from.is_some() || self.time_to.is_some() {
            let Some(j) = c.joined_ms else {
                return false;
            };
            if self.time_from.is_some_and(|f| j < f) || self.time_to.is_some_and(|t| j > t) {
                return false;
            }
        }
        if let Some(q) = &self.search {
            let hit = [&c.first_name, &c.last_name, &c.email, &c.phone_number]
                .iter()
                .any(|f| f.as_deref().is_some_and(|v| v.to_lowercase().contains(q)));
            if !hit {
                return false;
            }
        }
        true
    }

    /// Id order (or createdAt, which follows it), no filter: the fast path.
    fn is_plain(&self) -> bool {
        self.search.is_none()
            && self.statuses.is_none()
            && self.user_id.is_none()
            && self.time_from.is_none()
            && self.time_to.is_none()
            && matches!(self.order, None | Some((Column::Id | Column::CreatedAt, _)))
    }
}

/// The simulated account.
#[derive(Default)]
pub(crate) struct IclosedStore {
    /// The id of `contacts[0]` minus one: ids keep counting across resets, never reused.
    base: u64,
    contacts: Vec<Contact>,
    /// Positions of soft-deleted contacts, ascending.
    deleted: Vec<usize>,
    /// One numeric id per distinct tag (docs/providers/iclosed.md Simulator line).
    tags: FxHashMap<Box<str>, u32>,
    /// Numbers seeded contacts across seed calls so their emails and phones stay unique.
    pub(crate) seed_seq: u64,
}

impl IclosedStore {
    /// All contacts, soft-deleted ones included.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.contacts.len()
    }

    pub(crate) fn live_count(&self) -> usize {
        self.contacts.len() - self.deleted.len()
    }

    pub(crate) fn clear(&mut self) {
        self.base += self.contacts.len() as u64;
        self.contacts.clear();
        self.deleted.clear();
        self.tags.clear();
    }

    fn position(&self, id: u64) -> Option<usize> {
        let pos = usize::try_from(id.checked_sub(self.base)?.checked_sub(1)?).ok()?;
        (pos < self.contacts.len()).then_some(pos)
    }

    /// A contact, soft-deleted or not.
    pub(crate) fn get(&self, id: u64) -> Option<&Contact> {
        self.contacts.get(self.position(id)?)
    }

    fn tag_id(&mut self, tag: Option<&str>) -> Option<u32> {
        let tag = tag.filter(|t| !t.is_empty())?;
        if let Some(id) = self.tags.get(tag) {
            return Some(*id);
        }
        let id = u32::try_from(self.tags.len())
            .unwrap_or(u32::MAX)
            .saturating_add(1);
        self.tags.insert(tag.into(), id);
        Some(id)
    }

    /// Appends a contact, stamping id and times. `now_ms` must be read under the store lock,
    /// so that createdAt order is id order.
    fn push(&mut self, mut c: Contact, now_ms: i64) -> &Contact {
        c.id = self.base + self.contacts.len() as u64 + 1;
        c.created_ms = now_ms;
        c.updated_ms = now_ms;
        self.contacts.push(c);
        let last = self.contacts.len() - 1;
        &self.contacts[last]
    }

    /// Creates a contact. Duplicate emails are allowed (undocumented, docs/providers/iclosed.md).
    pub(crate) fn create(
        &mut self,
        new: NewContact,
        preview_id: [u8; 12],
        now_ms: i64,
    ) -> &Contact {
        let tag_id = self.tag_id(new.tag.as_deref());
        self.push(Contact::from_new(new, preview_id, tag_id), now_ms)
    }

    /// Appends seeded contacts (`joinedTime` defaults to now); their ids.
    pub(crate) fn add_seeded(&mut self, batch: Vec<Contact>, now_ms: i64) -> std::ops::Range<u64> {
        let first = self.base + self.contacts.len() as u64 + 1;
        self.contacts.reserve(batch.len());
        for mut c in batch {
            c.joined_ms = c.joined_ms.or(Some(now_ms));
            self.push(c, now_ms);
        }
        first..self.base + self.contacts.len() as u64 + 1
    }

    /// Updates a live contact; 404 for an unknown or soft-deleted one.
    pub(crate) fn update(
        &mut self,
        id: u64,
        update: ContactUpdate,
        now_ms: i64,
    ) -> Result<&Contact, IclosedError> {
        let pos = self
            .position(id)
            .ok_or_else(IclosedError::contact_not_found)?;
        let c = &mut self.contacts[pos];
        if c.is_deleted() {
            return Err(IclosedError::contact_not_found());
        }
        c.apply(update, now_ms);
        Ok(c)
    }

    /// Soft delete: sets `deletedAt` (and `updatedAt`); a second delete keeps the first time.
    /// False when unknown.
    pub(crate) fn soft_delete(&mut self, id: u64, now_ms: i64) -> bool {
        let Some(pos) = self.position(id) else {
            return false;
        };
        let c = &mut self.contacts[pos];
        if c.is_deleted() {
            return true;
        }
        c.deleted_ms = Some(now_ms);
        c.updated_ms = c.updated_ms.max(now_ms);
        if let Err(at) = self.deleted.binary_search(&pos) {
            self.deleted.insert(at, pos);
        }
        true
    }

    /// One page of live contacts matching `q`, and the total number of matches. Hidden ids
    /// (`hideFromListing`) are neither listed nor counted, as a lagging index would do.
    pub(crate) fn list(&self, q: &ListQuery, hidden: &BTreeSet<String>) -> (usize, Vec<&Contact>) {
        let offset = q.page.saturating_mul(q.limit);
        if q.is_plain() && hidden.is_empty() {
            let total = self.live_count();
            let desc = q.order.is_some_and(|(_, desc)| desc);
            let mut items = Vec::with_capacity(q.limit.min(total.saturating_sub(offset)));
            if offset < total {
                if desc {
                    let start = self.nth_live_from_end(offset);
                    for c in self.contacts[..=start].iter().rev() {
                        if items.len() == q.limit {
                            break;
                        }
                        if !c.is_deleted() {
                            items.push(c);
                        }
                    }
                } else {
                    let start = self.nth_live(offset);
                    for c in &self.contacts[start..] {
                        if items.len() == q.limit {
                            break;
                        }
                        if !c.is_deleted() {
                            items.push(c);
                        }
                    }
                }
            }
            return (total, items);
        }
        let mut matching: Vec<&Contact> = self
            .contacts
            .iter()
            .filter(|c| q.matches(c) && !hidden.contains(&c.id.to_string()))
            .collect();
        if let Some((col, desc)) = q.order {
            matching.sort_by(|a, b| {
                let o = col.compare(a, b);
                if desc {
                    o.reverse()
                } else {
                    o
                }
            });
        }
        let total = matching.len();
        let items = matching.into_iter().skip(offset).take(q.limit).collect();
        (total, items)
    }

    /// The position of the `n`-th live contact (0-based) in id order; `n < live_count()`.
    fn nth_live(&self, n: usize) -> usize {
        let mut pos = n;
        for &d in &self.deleted {
            if d <= pos {
                pos += 1;
            } else {
                break;
            }
        }
        pos
    }

    /// The position of the `n`-th live contact counted from the highest id.
    fn nth_live_from_end(&self, n: usize) -> usize {
        let mut pos = self.contacts.len() - 1 - n;
        for &d in self.deleted.iter().rev() {
            if d >= pos {
                pos -= 1;
            } else {
                break;
            }
        }
        pos
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::iclosed::model::{parse_create, parse_update};
    use serde_json::json;

    fn store_with(n: usize) -> IclosedStore {
        let mut s = IclosedStore::default();
        for i in 0..n {
            let new = parse_create(&json!({"firstName": format!("N{i:02}")})).expect("valid");
            s.create(new, *b"abcdefghijkl", i as i64);
        }
        s
    }

    fn ids(v: &[&Contact]) -> Vec<u64> {
        v.iter().map(|c| c.id).collect()
    }

    #[test]
    fn plain_paging_skips_soft_deleted_both_ways() {
        let mut s = store_with(10);
        for id in [1, 4, 5, 10] {
            assert!(s.soft_delete(id, 100));
        }
        assert!(!s.soft_delete(11, 100));
        let live = [2u64, 3, 6, 7, 8, 9];
        for limit in 1..=7 {
            for desc in [false, true] {
                let mut seen = Vec::new();
                for page in 0..10 {
                    let q = ListQuery {
                        limit,
                        page,
                        order: Some((Column::Id, desc)),
                        ..ListQuery::default()
                    };
                    let (total, items) = s.list(&q, &BTreeSet::new());
                    assert_eq!(total, 6);
                    // The general path must agree with the fast one.
                    let slow = ListQuery {
                        search: Some(String::new()),
                        ..q.clone()
                    };
                    assert_eq!(ids(&s.list(&slow, &BTreeSet::new()).1), ids(&items));
                    seen.extend(ids(&items));
                }
                let mut want = live.to_vec();
                if desc {
                    want.reverse();
                }
                assert_eq!(seen, want, "limit {limit} desc {desc}");
            }
        }
    }

    #[test]
    fn ids_continue_after_reset_and_tags_are_per_distinct_value() {
        let mut s = store_with(3);
        s.clear();
        let c = s.create(
            parse_create(&json!({"tag": "a"})).expect("valid"),
            *b"abcdefghijkl",
            5,
        );
        assert_eq!((c.id, c.tag_id), (4, Some(1)));
        let b = s
            .create(
                parse_create(&json!({"tag": "b"})).expect("valid"),
                *b"abcdefghijkl",
                6,
            )
            .tag_id;
        let a = s
            .create(
                parse_create(&json!({"tag": "a"})).expect("valid"),
                *b"abcdefghijkl",
                7,
            )
            .tag_id;
        assert_eq!((b, a), (Some(2), Some(1)));
        assert!(s.get(3).is_none());
        assert_eq!(s.len(), 3);
    }

    #[test]
    fn update_bumps_and_refuses_deleted() {
        let mut s = store_with(2);
        let (_, u) =
            parse_update(&json!({"id": 1, "secondary_email": "b@example.com"})).expect("valid");
        let c = s.update(1, u.clone(), 50).expect("updated");
        assert_eq!(c.updated_ms, 50);
        assert_eq!(c.secondary_email.as_deref(), Some("b@example.com"));
        s.soft_delete(2, 60);
        assert!(s.update(2, u.clone(), 70).is_err());
        assert!(s.update(9, u, 70).is_err());
    }
}
