//! Provider-independent building blocks of a simulator's state: the clock, the random source,
//! the createdAt-ordered store with O(log n + page) cursor paging, signed page tokens, and the
//! per-simulator `SimCore` (faults and request counters) shared with `control.rs`.

use std::collections::BTreeMap;
use std::hash::{Hash, Hasher};
use std::ops::Bound;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use chrono::{DateTime, SecondsFormat, Utc};
use rand::rngs::StdRng;
use rand::{Rng as _, SeedableRng};
use rustc_hash::FxHashMap;

use crate::faults::FaultPlan;

/// A source of wall-clock time in milliseconds since the Unix epoch.
///
/// Injectable so tests can pin timestamps and step rate-limit windows without sleeping.
pub trait Clock: Send + Sync + 'static {
    /// Milliseconds since 1970-01-01T00:00:00Z.
    fn now_ms(&self) -> i64;
}

/// The real clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_ms(&self) -> i64 {
        Utc::now().timestamp_millis()
    }
}

/// A clock that only moves when told to; for deterministic tests.
#[derive(Debug)]
pub struct ManualClock(AtomicI64);

impl ManualClock {
    /// A clock standing at `ms` milliseconds since the epoch.
    pub fn new(ms: i64) -> Self {
        Self(AtomicI64::new(ms))
    }

    /// Moves the clock forward (or backward: the simulators never hand out earlier times).
    pub fn advance_ms(&self, delta: i64) {
        self.0.fetch_add(delta, Ordering::SeqCst);
    }

    /// Sets the clock.
    pub fn set_ms(&self, ms: i64) {
        self.0.store(ms, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now_ms(&self) -> i64 {
        self.0.load(Ordering::SeqCst)
    }
}

/// Wraps a clock so the times a simulator stamps never go backwards, even if the wall clock
/// is stepped back: `updatedAt` must never be earlier than a value already handed out.
pub(crate) struct MonotonicClock {
    inner: Arc<dyn Clock>,
    last: AtomicI64,
}

impl MonotonicClock {
    pub(crate) fn new(inner: Arc<dyn Clock>) -> Self {
        Self {
            inner,
            last: AtomicI64::new(i64::MIN),
        }
    }

    /// The current time, never earlier than any value returned before.
    pub(crate) fn now_ms(&self) -> i64 {
        let now = self.inner.now_ms();
        let prev = self.last.fetch_max(now, Ordering::SeqCst);
        prev.max(now)
    }

    /// The raw clock, for rate-limit windows (which may follow the clock backwards harmlessly).
    pub(crate) fn raw_ms(&self) -> i64 {
        self.inner.now_ms()
    }
}

/// UTC RFC 3339 with milliseconds and a `Z`, the form every provider example uses
/// (`2025-08-19T19:54:53.663Z`, docs/providers/bird.md).
pub(crate) fn rfc3339_ms(ms: i64) -> String {
    match DateTime::<Utc>::from_timestamp_millis(ms) {
        Some(t) => t.to_rfc3339_opts(SecondsFormat::Millis, true),
        None => "1970-01-01T00:00:00.000Z".to_owned(),
    }
}

/// Locks a mutex, recovering the data if a panicking thread poisoned it: the simulator's
/// state is always left consistent between statements, and the server must keep answering.
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// The simulator's random source: seeded for reproducible ids in tests, from entropy otherwise.
pub(crate) struct SimRng(Mutex<StdRng>);

impl SimRng {
    pub(crate) fn new(seed: Option<u64>) -> Self {
        let rng = match seed {
            Some(s) => StdRng::seed_from_u64(s),
            None => StdRng::from_entropy(),
        };
        Self(Mutex::new(rng))
    }

    pub(crate) fn with<R>(&self, f: impl FnOnce(&mut StdRng) -> R) -> R {
        f(&mut lock(&self.0))
    }
}

/// A random (version 4) UUID drawn from `rng`.
pub(crate) fn uuid_v4(rng: &mut StdRng) -> uuid::Uuid {
    uuid::Builder::from_random_bytes(rng.gen()).into_uuid()
}

/// One page of an [`OrderedStore`]: records with their `(createdAt, id)` keys, and whether
/// more follow the last one.
pub(crate) struct Page<'a, Id, T> {
    pub(crate) items: Vec<(&'a (i64, Id), &'a T)>,
    pub(crate) more: bool,
}

/// Records ordered by `(createdAt, id)` with an id index, so a cursor page costs
/// O(log n + page) even with a million records (the seed benchmark pages 1M contacts).
pub(crate) struct OrderedStore<Id, T> {
    by_order: BTreeMap<(i64, Id), T>,
    /// Fx rather than SipHash: ids are ours (random UUIDs, integers), not attacker-chosen.
    created: FxHashMap<Id, i64>,
}

impl<Id: Ord + Hash + Copy, T> Default for OrderedStore<Id, T> {
    fn default() -> Self {
        Self {
            by_order: BTreeMap::new(),
            created: FxHashMap::default(),
        }
    }
}

impl<Id: Ord + Hash + Copy, T> OrderedStore<Id, T> {
    pub(crate) fn len(&self) -> usize {
        self.by_order.len()
    }

    pub(crate) fn clear(&mut self) {
        self.by_order.clear();
        self.created.clear();
    }

    pub(crate) fn contains(&self, id: &Id) -> bool {
        self.created.contains_key(id)
    }

    /// Inserts a record; an existing record with the same id is replaced.
    pub(crate) fn insert(&mut self, created_ms: i64, id: Id, value: T) {
        if let Some(old) = self.created.insert(id, created_ms) {
            self.by_order.remove(&(old, id));
        }
        self.by_order.insert((created_ms, id), value);
    }

    /// Inserts many records at once. The batch is built bottom-up into full B-tree nodes and
    /// merged in one pass instead of rebalancing per record: this is what makes seeding a
    /// million contacts take seconds, and it leaves the tree compact.
    pub(crate) fn extend(&mut self, records: Vec<(i64, Id, T)>) {
        let Self { by_order, created } = self;
        created.reserve(records.len());
        let mut batch: BTreeMap<(i64, Id), T> = records
            .into_iter()
            .map(|(ms, id, v)| {
                if let Some(old) = created.insert(id, ms) {
                    by_order.remove(&(old, id));
                }
                ((ms, id), v)
            })
            .collect();
        by_order.append(&mut batch);
    }

    pub(crate) fn get(&self, id: &Id) -> Option<&T> {
        let created = self.created.get(id)?;
        self.by_order.get(&(*created, *id))
    }

    pub(crate) fn get_mut(&mut self, id: &Id) -> Option<&mut T> {
        let created = self.created.get(id)?;
        self.by_order.get_mut(&(*created, *id))
    }

    pub(crate) fn remove(&mut self, id: &Id) -> Option<T> {
        let created = self.created.remove(id)?;
        self.by_order.remove(&(created, *id))
    }

    /// Up to `limit` records strictly after `after` in the chosen direction, and whether more
    /// records follow the last one returned.
    pub(crate) fn page(
        &self,
        after: Option<(i64, Id)>,
        reverse: bool,
        limit: usize,
    ) -> Page<'_, Id, T> {
        let take = limit.saturating_add(1);
        let mut items: Vec<(&(i64, Id), &T)> = match (after, reverse) {
            (None, false) => self.by_order.iter().take(take).collect(),
            (None, true) => self.by_order.iter().rev().take(take).collect(),
            (Some(k), false) => self
                .by_order
                .range((Bound::Excluded(k), Bound::Unbounded))
                .take(take)
                .collect(),
            (Some(k), true) => self
                .by_order
                .range((Bound::Unbounded, Bound::Excluded(k)))
                .rev()
                .take(take)
                .collect(),
        };
        let more = items.len() > limit;
        items.truncate(limit);
        Page { items, more }
    }
}

/// Signs and checks opaque page tokens so a tampered or invented token is detected (and
/// answered 400) instead of silently paging from a wrong position.
///
/// Not cryptographic: it only has to catch accidents and adapters that build tokens
/// themselves. The secret is per simulator instance.
pub(crate) struct TokenSigner {
    secret: u64,
}

impl TokenSigner {
    pub(crate) fn new(secret: u64) -> Self {
        Self { secret }
    }

    fn mac(&self, payload: &[u8]) -> [u8; 8] {
        let mut h = std::collections::hash_map::DefaultHasher::new();
        self.secret.hash(&mut h);
        payload.hash(&mut h);
        h.finish().to_be_bytes()
    }

    pub(crate) fn encode(&self, payload: &[u8]) -> String {
        let mut buf = Vec::with_capacity(payload.len() + 8);
        buf.extend_from_slice(payload);
        buf.extend_from_slice(&self.mac(payload));
        URL_SAFE_NO_PAD.encode(buf)
    }

    /// The payload, or `None` when the token was not minted by this signer.
    pub(crate) fn decode(&self, token: &str) -> Option<Vec<u8>> {
        let raw = URL_SAFE_NO_PAD.decode(token.as_bytes()).ok()?;
        if raw.len() < 8 {
            return None;
        }
        let (payload, mac) = raw.split_at(raw.len() - 8);
        (mac == self.mac(payload)).then(|| payload.to_vec())
    }
}

/// Everything a simulator shares with the generic control and fault machinery.
pub(crate) struct SimCore {
    pub(crate) clock: MonotonicClock,
    pub(crate) faults: Mutex<FaultPlan>,
    pub(crate) stats: Mutex<BTreeMap<String, u64>>,
}

impl SimCore {
    pub(crate) fn new(clock: Arc<dyn Clock>, seed: Option<u64>) -> Self {
        Self {
            clock: MonotonicClock::new(clock),
            faults: Mutex::new(FaultPlan::new(seed)),
            stats: Mutex::new(BTreeMap::new()),
        }
    }

    /// Counts one provider call under its `METHOD /route/template` key.
    pub(crate) fn count(&self, route: &str) {
        *lock(&self.stats).entry(route.to_owned()).or_insert(0) += 1;
    }

    /// The remote ids listings must omit (`hideFromListing`); usually empty.
    pub(crate) fn hidden(&self) -> std::collections::BTreeSet<String> {
        lock(&self.faults).hidden().clone()
    }

    /// Clears faults and counters (the store is the provider's to clear).
    pub(crate) fn reset(&self) {
        lock(&self.faults).clear();
        lock(&self.stats).clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ordered_store_pages_both_ways_without_gaps() {
        let mut s: OrderedStore<u32, u32> = OrderedStore::default();
        for i in 0..25u32 {
            s.insert(i64::from(i / 3), i, i);
        }
        let mut seen = Vec::new();
        let mut after = None;
        loop {
            let Page { items, more } = s.page(after, false, 10);
            seen.extend(items.iter().map(|(_, v)| **v));
            after = items.last().map(|(k, _)| **k);
            if !more {
                break;
            }
        }
        assert_eq!(seen, (0..25).collect::<Vec<_>>());

        let Page { items, more } = s.page(None, true, 3);
        assert_eq!(
            items.iter().map(|(_, v)| **v).collect::<Vec<_>>(),
            vec![24, 23, 22]
        );
        assert!(more);
        let Page { items, more } = s.page(Some((0, 1)), true, 10);
        assert_eq!(items.iter().map(|(_, v)| **v).collect::<Vec<_>>(), vec![0]);
        assert!(!more);
    }

    #[test]
    fn ordered_store_bulk_extend_merges_in_order() {
        let mut s: OrderedStore<u32, u32> = OrderedStore::default();
        s.insert(5, 1, 1);
        s.insert(9, 2, 2);
        s.extend(vec![(7, 3, 3), (1, 4, 4), (9, 1, 5)]);
        assert_eq!(s.len(), 4);
        let Page { items, more } = s.page(None, false, 10);
        let order: Vec<u32> = items.iter().map(|(_, v)| **v).collect();
        assert_eq!(order, vec![4, 3, 5, 2]);
        assert!(!more);
        assert_eq!(s.get(&1), Some(&5));
    }

    #[test]
    fn ordered_store_replace_and_remove() {
        let mut s: OrderedStore<u32, &str> = OrderedStore::default();
        s.insert(5, 1, "a");
        s.insert(7, 1, "b");
        assert_eq!(s.len(), 1);
        assert_eq!(s.get(&1), Some(&"b"));
        assert_eq!(s.remove(&1), Some("b"));
        assert!(s.get(&1).is_none());
        assert_eq!(s.len(), 0);
    }

    #[test]
    fn token_signer_detects_tampering() {
        let t = TokenSigner::new(42);
        let tok = t.encode(b"hello");
        assert_eq!(t.decode(&tok).as_deref(), Some(&b"hello"[..]));
        let mut bad = tok.clone().into_bytes();
        bad[0] = if bad[0] == b'A' { b'B' } else { b'A' };
        assert!(t.decode(&String::from_utf8_lossy(&bad)).is_none());
        assert!(t.decode("").is_none());
        assert!(t.decode("!!!").is_none());
        assert!(TokenSigner::new(43).decode(&tok).is_none());
    }

    #[test]
    fn monotonic_clock_never_goes_back() {
        let manual = Arc::new(ManualClock::new(1_000));
        let c = MonotonicClock::new(manual.clone());
        assert_eq!(c.now_ms(), 1_000);
        manual.set_ms(500);
        assert_eq!(c.now_ms(), 1_000);
        manual.set_ms(2_000);
        assert_eq!(c.now_ms(), 2_000);
    }

    #[test]
    fn timestamps_have_milliseconds_and_z() {
        assert_eq!(rfc3339_ms(1_755_633_293_663), "2025-08-19T19:54:53.663Z");
    }
}
