//! An index of wake-up times for many transactions.

use std::collections::{BTreeMap, HashMap};
use std::hash::Hash;
use std::time::Instant;

/// Keeps at most one deadline per key, ordered by time, so a shell owning many
/// transactions sleeps until the earliest and visits only the due ones. After
/// driving a transaction, store its `poll_timeout()` with [`Deadlines::schedule`].
///
/// The sequence number keeps deadlines at the same instant apart and makes
/// equal instants pop in insertion order.
#[derive(Debug)]
pub struct Deadlines<K> {
    by_time: BTreeMap<(Instant, u64), K>,
    by_key: HashMap<K, (Instant, u64)>,
    next_sequence: u64,
}

impl<K> Default for Deadlines<K> {
    fn default() -> Deadlines<K> {
        Deadlines {
            by_time: BTreeMap::new(),
            by_key: HashMap::new(),
            next_sequence: 0,
        }
    }
}

impl<K: Clone + Eq + Hash> Deadlines<K> {
    pub fn new() -> Deadlines<K> {
        Deadlines::default()
    }

    /// Sets `key`'s deadline to `at`, replacing its previous one (returned).
    pub fn insert(&mut self, key: K, at: Instant) -> Option<Instant> {
        let previous = self.remove(&key);
        let slot = (at, self.next_sequence);
        self.next_sequence = self.next_sequence.wrapping_add(1);
        self.by_time.insert(slot, key.clone());
        self.by_key.insert(key, slot);
        previous
    }

    /// Sets or clears `key`'s deadline: pass a transaction's `poll_timeout()`.
    pub fn schedule(&mut self, key: K, at: Option<Instant>) {
        match at {
            Some(at) => {
                self.insert(key, at);
            }
            None => {
                self.remove(&key);
            }
        }
    }

    pub fn remove(&mut self, key: &K) -> Option<Instant> {
        let slot = self.by_key.remove(key)?;
        self.by_time.remove(&slot);
        Some(slot.0)
    }

    pub fn get(&self, key: &K) -> Option<Instant> {
        self.by_key.get(key).map(|slot| slot.0)
    }

    pub fn next_deadline(&self) -> Option<Instant> {
        self.by_time.keys().next().map(|slot| slot.0)
    }

    /// Removes and returns a key whose deadline is at or before `now`, earliest first.
    pub fn pop_due(&mut self, now: Instant) -> Option<K> {
        let entry = self.by_time.first_entry()?;
        if entry.key().0 > now {
            return None;
        }
        let key = entry.remove();
        self.by_key.remove(&key);
        Some(key)
    }

    pub fn len(&self) -> usize {
        self.by_key.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_key.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_support::{at, start};
    use super::*;

    #[test]
    fn pops_due_keys_earliest_first_and_stops_at_the_future() {
        let t0 = start();
        let mut deadlines = Deadlines::new();
        deadlines.insert("late", at(t0, 300));
        deadlines.insert("early", at(t0, 100));
        deadlines.insert("middle", at(t0, 200));
        assert_eq!(deadlines.next_deadline(), Some(at(t0, 100)));
        assert_eq!(deadlines.pop_due(at(t0, 250)), Some("early"));
        assert_eq!(deadlines.pop_due(at(t0, 250)), Some("middle"));
        assert_eq!(deadlines.pop_due(at(t0, 250)), None);
        assert_eq!(deadlines.len(), 1);
        assert_eq!(deadlines.next_deadline(), Some(at(t0, 300)));
    }

    #[test]
    fn equal_instants_pop_in_insertion_order() {
        let t0 = start();
        let mut deadlines = Deadlines::new();
        for key in [3, 1, 2] {
            deadlines.insert(key, t0);
        }
        let popped: Vec<i32> = std::iter::from_fn(|| deadlines.pop_due(t0)).collect();
        assert_eq!(popped, [3, 1, 2]);
        assert!(deadlines.is_empty());
    }

    #[test]
    fn a_key_has_one_deadline_which_insert_replaces() {
        let t0 = start();
        let mut deadlines = Deadlines::new();
        assert_eq!(deadlines.insert("tx", at(t0, 100)), None);
        assert_eq!(deadlines.insert("tx", at(t0, 500)), Some(at(t0, 100)));
        assert_eq!(deadlines.len(), 1);
        assert_eq!(
            deadlines.pop_due(at(t0, 100)),
            None,
            "the old deadline is gone"
        );
        assert_eq!(deadlines.get(&"tx"), Some(at(t0, 500)));
        assert_eq!(deadlines.pop_due(at(t0, 500)), Some("tx"));
        assert_eq!(deadlines.get(&"tx"), None);
    }

    #[test]
    fn schedule_follows_poll_timeout_and_remove_forgets() {
        let t0 = start();
        let mut deadlines = Deadlines::new();
        deadlines.schedule("a", Some(at(t0, 100)));
        deadlines.schedule("b", Some(at(t0, 200)));
        deadlines.schedule("a", None);
        assert_eq!(deadlines.next_deadline(), Some(at(t0, 200)));
        assert_eq!(deadlines.remove(&"b"), Some(at(t0, 200)));
        assert_eq!(deadlines.remove(&"b"), None);
        assert!(deadlines.is_empty());
        assert_eq!(deadlines.next_deadline(), None);
    }
}
