//! The autoscaler's two kinds of memory, bounded: past recommendations (for the
//! stabilisation windows) and past scale events (for the rate policies).
//!
//! Kubernetes keeps both as slices that grow by `append` and reuse an entry that has
//! become too old to matter (`stabilizeRecommendationWithBehaviors` replaces a
//! recommendation older than both windows; `storeScaleEvent` replaces an event older
//! than the direction's longest policy period, the last such one in slice order).
//! [`History`] is that slice with its capacity fixed at construction: the same
//! positions, the same reuse rule, so even the order-dependent quirk of the event
//! lists (a reused scale-down event stops counting against the scale-up policies,
//! whose periods may be longer) is the same as Kubernetes'.
//!
//! **Invariant:** a push finds a free place or a reusable entry whenever the owner
//! keeps its calls at least one sync period apart and sized the history by
//! [`HpaConfig`](super::HpaConfig)'s capacities (the proof is on those methods). A
//! push that finds neither is a bug in that reasoning: it is caught by a debug
//! assertion, and in a release build the oldest entry is reused.

use crate::Nanos;

/// One remembered value and when it was recorded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Entry {
    pub(crate) at: Nanos,
    pub(crate) value: u32,
}

/// A fixed-capacity list of timestamped values (see the module documentation).
#[derive(Clone, Debug)]
pub(crate) struct History {
    entries: Vec<Entry>,
    capacity: usize,
}

impl History {
    /// An empty history of at most `capacity` entries (at least 1).
    pub(crate) fn new(capacity: usize) -> History {
        let capacity = capacity.max(1);
        History {
            entries: Vec::with_capacity(capacity),
            capacity,
        }
    }

    /// The entries, in slice order.
    pub(crate) fn entries(&self) -> &[Entry] {
        &self.entries
    }

    /// Records `entry`: in the place of the last entry (in slice order) for which
    /// `reusable` holds, or at the end.
    pub(crate) fn push(&mut self, entry: Entry, reusable: impl Fn(&Entry) -> bool) {
        if let Some(index) = self.entries.iter().rposition(reusable) {
            self.entries[index] = entry;
        } else if self.entries.len() < self.capacity {
            self.entries.push(entry);
        } else {
            debug_assert!(false, "autoscaler history over its bound {}", self.capacity);
            if let Some(index) = (0..self.entries.len()).min_by_key(|&i| self.entries[i].at) {
                self.entries[index] = entry;
            }
        }
    }

    /// The sum of the values recorded strictly after `cutoff`
    /// (`getReplicasChangePerPeriod`: `timestamp.After(cutoff)`).
    pub(crate) fn sum_after(&self, cutoff: Option<Nanos>) -> u64 {
        self.entries
            .iter()
            .filter(|entry| cutoff.is_none_or(|cutoff| entry.at > cutoff))
            .map(|entry| u64::from(entry.value))
            .sum()
    }

    /// How many entries are held.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }
}

/// `now − span`, or `None` when that is before the epoch (then every entry is after
/// it).
pub(crate) fn cutoff(now: Nanos, span: Nanos) -> Option<Nanos> {
    now.checked_sub(span)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(at: Nanos, value: u32) -> Entry {
        Entry { at, value }
    }

    #[test]
    fn a_push_reuses_the_last_reusable_entry_in_slice_order() {
        let mut history = History::new(4);
        history.push(at(1, 10), |_| false);
        history.push(at(2, 20), |_| false);
        history.push(at(3, 30), |_| false);
        // Entries 1 and 2 are reusable: the later one in the slice goes.
        history.push(at(9, 90), |entry| entry.at < 3);
        assert_eq!(history.entries(), &[at(1, 10), at(9, 90), at(3, 30)]);
        assert_eq!(history.len(), 3);
    }

    #[test]
    fn sums_count_strictly_after_the_cutoff() {
        let mut history = History::new(4);
        for t in 1..=3 {
            history.push(at(t, t as u32), |_| false);
        }
        assert_eq!(history.sum_after(Some(1)), 5);
        assert_eq!(history.sum_after(Some(0)), 6);
        assert_eq!(history.sum_after(None), 6);
        assert_eq!(history.sum_after(Some(3)), 0);
        assert_eq!(cutoff(5, 10), None);
        assert_eq!(cutoff(15, 10), Some(5));
    }
}
