//! A ring of time slots: the one implementation under the retry budget's and the
//! adaptive throttle's buckets (`budget.rs`) and the breaker's time-based window
//! (`window.rs`).
//!
//! The owner cuts time into slots of a fixed width (`slot = now / width`) and keeps a
//! value per slot (counters, a tally) for its last `len` slots. Slot `s` lives at
//! place `s % len`, which also records `s`; a later slot that falls on the same place
//! reuses it. Reuse is either lazy ([`SlotRing::slot_mut`] resets a place the first
//! time a new slot touches it, so an idle gap costs nothing), or eager
//! ([`SlotRing::advance`] resets every place between the newest slot and the new one
//! and hands each old value to the owner, who keeps a running total and must
//! subtract what leaves). Readers see a place only through the slot it records
//! ([`SlotRing::aged`], [`SlotRing::window`]), so a stale place is never taken for a
//! current one, however long the ring sat idle.
//!
//! **Invariant:** place `i` records a slot `s` with `s % len == i`, and holds what was
//! put into slot `s` since the place last became `s`'s (`T::default()` if nothing
//! was). Memory is fixed at construction.

/// One place of the ring: the slot it holds, and that slot's value.
#[derive(Clone, Copy, Debug)]
struct Place<T> {
    slot: u64,
    value: T,
}

/// `len` time slots in a ring, each holding a `T` (see the module documentation).
#[derive(Clone, Debug)]
pub(crate) struct SlotRing<T> {
    places: Vec<Place<T>>,
}

impl<T: Copy + Default> SlotRing<T> {
    /// A ring of `len` places, all empty; `len` must be at least 1.
    pub(crate) fn new(len: usize) -> SlotRing<T> {
        assert!(len > 0, "a slot ring needs at least one place");
        let empty = Place {
            slot: 0,
            value: T::default(),
        };
        let mut ring = SlotRing {
            places: vec![empty; len],
        };
        ring.clear();
        ring
    }

    /// The number of places: how many consecutive slots the ring holds.
    pub(crate) fn len(&self) -> u64 {
        self.places.len() as u64
    }

    fn index(&self, slot: u64) -> usize {
        (slot % self.len()) as usize
    }

    /// The value of `slot`, for the owner to add to. Lazy reuse: if its place still
    /// holds another slot, the place is first reset to an empty `slot`.
    pub(crate) fn slot_mut(&mut self, slot: u64) -> &mut T {
        let index = self.index(slot);
        let place = &mut self.places[index];
        if place.slot != slot {
            *place = Place {
                slot,
                value: T::default(),
            };
        }
        &mut place.value
    }

    /// Eager reuse: moves the ring's newest slot from `newest` to `slot` by resetting
    /// the places of slots `newest + 1 ..= slot`, oldest first, and handing each value
    /// that leaves to `evicted`. Only the last `len` of those slots are visited (older
    /// ones would share their places), so a long gap costs at most `len` steps.
    /// Nothing happens unless `slot > newest`.
    pub(crate) fn advance(&mut self, newest: u64, slot: u64, mut evicted: impl FnMut(T)) {
        if slot <= newest {
            return;
        }
        let first = (newest + 1).max((slot + 1).saturating_sub(self.len()));
        for s in first..=slot {
            let index = self.index(s);
            let place = &mut self.places[index];
            evicted(place.value);
            *place = Place {
                slot: s,
                value: T::default(),
            };
        }
    }

    /// `(age, value)` of every place that holds `slot` or an earlier slot, in place
    /// order, where `age = slot − the place's slot` (0 for `slot` itself). Places
    /// that hold a slot later than `slot` are skipped. An age of `len` or more is a
    /// slot that has left the ring but whose place was not reused yet: an owner that
    /// wants live slots only keeps ages below `len`.
    pub(crate) fn aged(&self, slot: u64) -> impl Iterator<Item = (u64, &T)> {
        self.places
            .iter()
            .filter(move |place| place.slot <= slot)
            .map(move |place| (slot - place.slot, &place.value))
    }

    /// The values of the `len` slots that end with `slot` (`slot + 1 − len ..= slot`,
    /// fewer near the epoch), in place order.
    pub(crate) fn window(&self, slot: u64) -> impl Iterator<Item = &T> {
        let len = self.len();
        self.aged(slot)
            .filter(move |&(age, _)| age < len)
            .map(|(_, value)| value)
    }

    /// Empties every place, as new.
    pub(crate) fn clear(&mut self) {
        for (index, place) in self.places.iter_mut().enumerate() {
            *place = Place {
                slot: index as u64,
                value: T::default(),
            };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn window_sum(ring: &SlotRing<u64>, slot: u64) -> u64 {
        ring.window(slot).sum()
    }

    #[test]
    fn a_reused_place_starts_empty_and_the_same_slot_keeps_its_value() {
        let mut ring = SlotRing::<u64>::new(3);
        *ring.slot_mut(1) += 5;
        *ring.slot_mut(1) += 2;
        assert_eq!(*ring.slot_mut(1), 7);
        // Slot 4 falls on slot 1's place: it starts from zero.
        assert_eq!(*ring.slot_mut(4), 0);
        *ring.slot_mut(4) += 1;
        assert_eq!(window_sum(&ring, 4), 1);
        assert_eq!(window_sum(&ring, 1), 0); // slot 1's 7 went with its place
    }

    #[test]
    fn the_window_holds_exactly_the_last_len_slots() {
        let mut ring = SlotRing::<u64>::new(3);
        for slot in 0..3 {
            *ring.slot_mut(slot) += 10u64.pow(slot as u32); // 1, 10, 100
        }
        assert_eq!(window_sum(&ring, 2), 111);
        assert_eq!(window_sum(&ring, 3), 110); // slot 0 has left
        assert_eq!(window_sum(&ring, 4), 100);
        assert_eq!(window_sum(&ring, 5), 0);
        // Read before the newest slot: later slots are not seen.
        assert_eq!(window_sum(&ring, 1), 11);
        assert_eq!(window_sum(&ring, 0), 1);
        let mut aged: Vec<(u64, u64)> = ring.aged(2).map(|(age, &v)| (age, v)).collect();
        aged.sort_unstable();
        assert_eq!(aged, [(0, 100), (1, 10), (2, 1)]);
    }

    #[test]
    fn advance_hands_over_each_leaving_value_once_oldest_first() {
        let mut ring = SlotRing::<u64>::new(3);
        for slot in 0..3 {
            *ring.slot_mut(slot) += slot + 1; // 1, 2, 3
        }
        let mut evicted = Vec::new();
        ring.advance(2, 4, |value| evicted.push(value));
        assert_eq!(evicted, [1, 2]); // slots 0 and 1 made room for 3 and 4
        assert_eq!(window_sum(&ring, 4), 3);
        // A gap longer than the ring visits each place once.
        evicted.clear();
        ring.advance(4, 1_000, |value| evicted.push(value));
        assert_eq!(evicted, [3, 0, 0]);
        assert_eq!(window_sum(&ring, 1_000), 0);
        // Not forward: nothing happens.
        *ring.slot_mut(1_000) += 9;
        ring.advance(1_000, 1_000, |_| unreachable!("no slot leaves"));
        ring.advance(1_000, 7, |_| unreachable!("no slot leaves"));
        assert_eq!(window_sum(&ring, 1_000), 9);
    }

    #[test]
    fn clear_empties_every_place() {
        let mut ring = SlotRing::<u64>::new(2);
        *ring.slot_mut(6) += 1;
        *ring.slot_mut(7) += 1;
        ring.clear();
        assert_eq!(window_sum(&ring, 7), 0);
        assert_eq!(window_sum(&ring, 1), 0);
        assert_eq!(ring.len(), 2);
    }

    /// The naive model: every addition ever made, as `(slot, amount)`.
    fn naive(log: &[(u64, u64)], slot: u64, max_age: u64) -> u64 {
        log.iter()
            .filter(|&&(s, _)| s <= slot && slot - s < max_age)
            .map(|&(_, amount)| amount)
            .sum()
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        /// Whether places are reused lazily or eagerly, the sum over the live slots
        /// equals a naive recomputation from every addition ever made, for the window
        /// at the newest slot and after it, and for any age limit up to `len`; an
        /// eager owner's running total equals it too.
        #[test]
        fn sums_over_live_slots_equal_a_naive_recomputation(
            len in 1..8usize,
            steps in proptest::collection::vec((0..12u64, 0..100u64), 1..200),
            look_ahead in 0..10u64,
            max_age in 0..10u64,
        ) {
            let mut lazy = SlotRing::<u64>::new(len);
            let mut eager = SlotRing::<u64>::new(len);
            let mut total = 0u64;
            let mut log = Vec::new();
            let mut slot = 0u64;
            for (gap, amount) in steps {
                let newest = slot;
                slot += gap;
                *lazy.slot_mut(slot) += amount;
                eager.advance(newest, slot, |leaving| total -= leaving);
                *eager.slot_mut(slot) += amount;
                total += amount;
                log.push((slot, amount));

                let len = len as u64;
                let expected = naive(&log, slot, len);
                prop_assert_eq!(window_sum(&lazy, slot), expected);
                prop_assert_eq!(window_sum(&eager, slot), expected);
                prop_assert_eq!(total, expected);
                let later = slot + look_ahead;
                prop_assert_eq!(window_sum(&lazy, later), naive(&log, later, len));
                prop_assert_eq!(window_sum(&eager, later), naive(&log, later, len));
                // Ages below len are the live slots; the budget keeps fewer.
                let max_age = max_age.min(len);
                let aged: u64 = lazy
                    .aged(slot)
                    .filter(|&(age, _)| age < max_age)
                    .map(|(_, value)| value)
                    .sum();
                prop_assert_eq!(aged, naive(&log, slot, max_age));
            }
        }
    }
}
