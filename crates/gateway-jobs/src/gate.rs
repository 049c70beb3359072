//! The per-credential priority gate: interactive API calls hold a guard while they run; a
//! reconciliation call first waits until the credential has no interactive call in flight (at
//! most `priority_max_wait`), then for its pacing slot (`max_pages_per_second`). So the
//! reconciler spends the provider's rate budget only in the gaps the tenant's own traffic
//! leaves, at a bounded pace. Process-wide: one gate per process, keyed by credential id.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::Duration;

use tokio::sync::Notify;
use tokio::time::Instant;

/// Slots kept before idle ones are dropped.
const PRUNE_AT: usize = 4096;

#[derive(Default)]
struct Slot {
    interactive: AtomicUsize,
    idle: Notify,
    next_call: tokio::sync::Mutex<Option<Instant>>,
}

/// See the module documentation.
#[derive(Default)]
pub struct PriorityGate {
    slots: Mutex<HashMap<String, Arc<Slot>>>,
}

/// Held by an interactive call for as long as it talks to the provider.
pub struct InteractiveGuard(Arc<Slot>);

impl Drop for InteractiveGuard {
    fn drop(&mut self) {
        if self.0.interactive.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.0.idle.notify_waiters();
        }
    }
}

/// An interactive call stepped aside ([`PriorityGate::stand_aside`]); it counts again when
/// this is dropped.
pub struct StandAside {
    slot: Arc<Slot>,
    stepped: bool,
}

impl Drop for StandAside {
    fn drop(&mut self) {
        if self.stepped {
            self.slot.interactive.fetch_add(1, Ordering::AcqRel);
        }
    }
}

/// The process's gate.
pub fn global() -> &'static PriorityGate {
    static GATE: OnceLock<PriorityGate> = OnceLock::new();
    GATE.get_or_init(PriorityGate::default)
}

impl PriorityGate {
    fn slot(&self, credential: &str) -> Arc<Slot> {
        let mut slots = self.slots.lock().unwrap_or_else(PoisonError::into_inner);
        // One entry per credential ever seen would grow without bound: past the mark, drop
        // the slots nobody holds (only their pacing position is lost, worth one early call).
        if slots.len() >= PRUNE_AT && !slots.contains_key(credential) {
            slots.retain(|_, slot| Arc::strong_count(slot) > 1);
        }
        slots.entry(credential.to_owned()).or_default().clone()
    }

    /// Credentials with a slot now.
    pub fn len(&self) -> usize {
        self.slots
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }

    /// Whether no credential has a slot.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Marks an interactive call on `credential` until the guard is dropped.
    pub fn interactive(&self, credential: &str) -> InteractiveGuard {
        let slot = self.slot(credential);
        slot.interactive.fetch_add(1, Ordering::AcqRel);
        InteractiveGuard(slot)
    }

    /// Steps an interactive call out of the way until the guard is dropped: it is waiting for
    /// background work itself (a retried create waiting for the recovery pass that settles
    /// it), so holding the gate would only make that pass wait. Counts nothing if no
    /// interactive call was marked.
    pub fn stand_aside(&self, credential: &str) -> StandAside {
        let slot = self.slot(credential);
        let stepped = slot
            .interactive
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| n.checked_sub(1))
            .is_ok();
        if stepped && slot.interactive.load(Ordering::Acquire) == 0 {
            slot.idle.notify_waiters();
        }
        StandAside { slot, stepped }
    }

    /// Interactive calls on `credential` in flight now.
    pub fn interactive_in_flight(&self, credential: &str) -> usize {
        self.slot(credential).interactive.load(Ordering::Acquire)
    }

    /// Waits for the right to make one background call on `credential`: no interactive call
    /// in flight (or `max_wait` passed), then the next slot at `per_second` (0: no pacing).
    /// Answers how long it waited for interactive calls.
    pub async fn background(
        &self,
        credential: &str,
        per_second: f64,
        max_wait: Duration,
    ) -> Duration {
        let slot = self.slot(credential);
        let started = Instant::now();
        let deadline = started + max_wait;
        loop {
            let notified = slot.idle.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if slot.interactive.load(Ordering::Acquire) == 0 {
                break;
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                break;
            }
        }
        let waited = started.elapsed();
        if per_second > 0.0 {
            let step = Duration::from_secs_f64(1.0 / per_second);
            let mut next = slot.next_call.lock().await;
            let now = Instant::now();
            let at = match *next {
                Some(t) if t > now => t,
                _ => now,
            };
            *next = Some(at + step);
            drop(next);
            tokio::time::sleep_until(at).await;
        }
        waited
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_call_standing_aside_lets_background_work_through() {
        let gate = PriorityGate::default();
        let _other = gate.interactive("c");
        let mine = gate.interactive("c");
        {
            let _aside = gate.stand_aside("c");
            assert_eq!(
                gate.interactive_in_flight("c"),
                1,
                "only the other call counts"
            );
            let aside_twice = gate.stand_aside("c");
            let _third = gate.stand_aside("c");
            assert_eq!(gate.interactive_in_flight("c"), 0, "never below zero");
            drop(aside_twice);
        }
        assert_eq!(gate.interactive_in_flight("c"), 2, "both count again");
        drop(mine);
        assert_eq!(gate.interactive_in_flight("c"), 1);
        let t = Instant::now();
        let _aside = gate.stand_aside("c");
        gate.background("c", 0.0, Duration::from_secs(10)).await;
        assert_eq!(
            t.elapsed(),
            Duration::ZERO,
            "no interactive call left to wait for"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn background_waits_for_interactive_calls_and_paces() {
        let gate = PriorityGate::default();
        let guard = gate.interactive("c");
        let g2 = std::sync::Arc::new(gate);
        let g3 = g2.clone();
        let waiter = tokio::spawn(async move {
            let t = Instant::now();
            g3.background("c", 0.0, Duration::from_secs(10)).await;
            t.elapsed()
        });
        tokio::time::sleep(Duration::from_secs(2)).await;
        drop(guard);
        let waited = waiter.await.expect("join");
        assert!(waited >= Duration::from_secs(2) && waited < Duration::from_secs(3));

        // Bounded wait when interactive calls never stop.
        let _busy = g2.interactive("d");
        let t = Instant::now();
        g2.background("d", 0.0, Duration::from_secs(1)).await;
        assert!(t.elapsed() >= Duration::from_secs(1));

        // Pacing: 4 calls at 2/s take 1.5 s.
        let t = Instant::now();
        for _ in 0..4 {
            g2.background("e", 2.0, Duration::ZERO).await;
        }
        assert_eq!(t.elapsed(), Duration::from_millis(1500));
    }

    #[tokio::test]
    async fn idle_slots_are_dropped_past_the_mark() {
        let gate = PriorityGate::default();
        let held = gate.interactive("held");
        for i in 0..PRUNE_AT * 2 {
            let _g = gate.interactive(&format!("cred-{i}"));
        }
        assert!(gate.len() <= PRUNE_AT, "{}", gate.len());
        // A slot in use survives pruning.
        assert_eq!(gate.interactive_in_flight("held"), 1);
        drop(held);
        assert_eq!(gate.interactive_in_flight("held"), 0);
    }
}
