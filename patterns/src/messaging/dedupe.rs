//! An idempotent consumer's memory of the events it has applied: the last
//! `capacity` distinct event ids, so that a redelivery of one of them is
//! recognised and not applied again (Richardson's idempotent consumer keeps a
//! `PROCESSED_MESSAGES` table; a real one bounds it by time or count, and so does
//! this).
//!
//! The window is first-seen order: an id enters when it is first inserted and
//! leaves when `capacity` newer distinct ids have entered after it (a duplicate
//! does not refresh it). A redelivery that comes after its id has left is not
//! recognised: the cost of a bounded window, which a simulation counts as a
//! duplicate effect. [`DedupeWindow::evicted`] says how many ids have left.
//!
//! A consumer that must not lose an event marks it only once its handler has
//! succeeded: [`DedupeWindow::contains`] before handling, [`DedupeWindow::insert`]
//! after (a handler that failed leaves the id out, so the retry is handled).
//!
//! Memory is fixed at construction: a ring of `capacity` ids in arrival order and
//! an open-addressing index of at least twice that many slots (linear probing,
//! backward-shift deletion, so no tombstones build up), hashed by SplitMix64's
//! finaliser: the same decisions for the same ids on every platform, and no
//! allocation per call.

use crate::ConfigError;

/// The largest window (about 400 MiB of index and ring at 24 bytes an id).
pub const MAX_DEDUPE_CAPACITY: usize = 1 << 24;

/// Whether an event was seen before.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Seen {
    /// Not in the window: apply it.
    Fresh,
    /// In the window: applied before, skip it.
    Duplicate,
}

/// The last `capacity` distinct event ids (see the module documentation).
#[derive(Clone, Debug)]
pub struct DedupeWindow {
    /// Ids in first-seen order: `ring[head]` is the oldest of `len`.
    ring: Vec<u64>,
    head: usize,
    len: usize,
    /// Open addressing: `None` is an empty slot.
    index: Vec<Option<u64>>,
    mask: usize,
    evicted: u64,
}

fn spread(id: u64) -> u64 {
    let mut z = id.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

impl DedupeWindow {
    /// A window of the last `capacity` ids (1 to [`MAX_DEDUPE_CAPACITY`]).
    ///
    /// ```
    /// use meshsim_patterns::messaging::{DedupeWindow, Seen};
    ///
    /// let mut window = DedupeWindow::new(2).unwrap();
    /// assert_eq!(window.observe(7), Seen::Fresh);
    /// assert_eq!(window.observe(7), Seen::Duplicate);
    /// window.observe(8);
    /// window.observe(9); // 7 leaves: the window holds 8 and 9
    /// assert_eq!(window.observe(7), Seen::Fresh);
    /// assert_eq!(window.evicted(), 2);
    /// ```
    pub fn new(capacity: usize) -> Result<DedupeWindow, ConfigError> {
        if capacity == 0 || capacity > MAX_DEDUPE_CAPACITY {
            return Err(ConfigError::new(
                "dedupe",
                "capacity",
                "must be between 1 and 16777216",
            ));
        }
        let slots = (2 * capacity).next_power_of_two();
        Ok(DedupeWindow {
            ring: vec![0; capacity],
            head: 0,
            len: 0,
            index: vec![None; slots],
            mask: slots - 1,
            evicted: 0,
        })
    }

    /// How many ids it keeps at most.
    pub fn capacity(&self) -> usize {
        self.ring.len()
    }

    /// How many ids it keeps now.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether it keeps none.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Ids that have left the window to make room for newer ones.
    pub fn evicted(&self) -> u64 {
        self.evicted
    }

    /// Whether `id` is in the window.
    pub fn contains(&self, id: u64) -> bool {
        self.find(id).is_ok()
    }

    /// Puts `id` in the window, the oldest id leaving first if it is full;
    /// `false` (and nothing changes) if it was already there.
    pub fn insert(&mut self, id: u64) -> bool {
        if self.find(id).is_ok() {
            return false;
        }
        if self.len == self.ring.len() {
            let oldest = self.ring[self.head];
            self.remove(oldest);
            self.head = (self.head + 1) % self.ring.len();
            self.len -= 1;
            self.evicted += 1;
        }
        // Found again after a removal may have shifted the probe sequence.
        let slot = self.find(id).expect_err("just checked absent");
        self.index[slot] = Some(id);
        let tail = (self.head + self.len) % self.ring.len();
        self.ring[tail] = id;
        self.len += 1;
        true
    }

    /// `id` arrived: [`Seen::Duplicate`] if it is in the window, else
    /// [`Seen::Fresh`] and it is put in (for a consumer that marks an event
    /// as it takes it, not after its handler).
    pub fn observe(&mut self, id: u64) -> Seen {
        if self.insert(id) {
            Seen::Fresh
        } else {
            Seen::Duplicate
        }
    }

    /// `Ok(slot)` holding `id`, or `Err(slot)`: the empty slot where it would go.
    fn find(&self, id: u64) -> Result<usize, usize> {
        let mut slot = spread(id) as usize & self.mask;
        loop {
            match self.index[slot] {
                None => return Err(slot),
                Some(held) if held == id => return Ok(slot),
                Some(_) => slot = (slot + 1) & self.mask,
            }
        }
    }

    /// Takes `id` out of the index, shifting back the entries probed past it
    /// (Knuth's algorithm R), so that every entry stays reachable from its home
    /// slot without tombstones.
    fn remove(&mut self, id: u64) {
        let Ok(mut hole) = self.find(id) else {
            return;
        };
        self.index[hole] = None;
        let mut next = (hole + 1) & self.mask;
        while let Some(held) = self.index[next] {
            let home = spread(held) as usize & self.mask;
            // `held` may move into the hole unless its home lies cyclically in
            // (hole, next]: then the hole is not on its probe path.
            let stays = if hole <= next {
                hole < home && home <= next
            } else {
                hole < home || home <= next
            };
            if !stays {
                self.index[hole] = Some(held);
                self.index[next] = None;
                hole = next;
            }
            next = (next + 1) & self.mask;
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::VecDeque;

    use proptest::prelude::*;

    use super::*;

    #[test]
    fn a_redelivery_in_the_window_is_a_duplicate_and_one_after_it_is_not() {
        let mut w = DedupeWindow::new(3).unwrap();
        assert!(w.is_empty());
        for id in [10, 11, 12] {
            assert_eq!(w.observe(id), Seen::Fresh);
        }
        assert_eq!(w.observe(10), Seen::Duplicate);
        // A duplicate does not refresh: 10 is still the oldest and leaves
        // first.
        assert_eq!(w.observe(13), Seen::Fresh);
        assert!(!w.contains(10) && w.contains(11) && w.contains(13));
        assert_eq!((w.len(), w.capacity(), w.evicted()), (3, 3, 1));
        assert_eq!(w.observe(10), Seen::Fresh, "10 had left: not recognised");
        assert_eq!(w.evicted(), 2);
    }

    #[test]
    fn marking_after_the_handler_leaves_a_failed_event_out() {
        let mut w = DedupeWindow::new(4).unwrap();
        // The handler of 5 failed: not inserted, so its retry is handled.
        assert!(!w.contains(5));
        assert!(w.insert(5), "the retry succeeded and is marked");
        assert!(!w.insert(5), "a second mark changes nothing");
        assert_eq!(w.len(), 1);
    }

    #[test]
    fn a_window_of_one_keeps_only_the_last_id() {
        let mut w = DedupeWindow::new(1).unwrap();
        assert_eq!(w.observe(u64::MAX), Seen::Fresh);
        assert_eq!(w.observe(u64::MAX), Seen::Duplicate);
        assert_eq!(w.observe(0), Seen::Fresh);
        assert_eq!(w.observe(u64::MAX), Seen::Fresh);
        assert_eq!(w.evicted(), 2);
    }

    #[test]
    fn the_capacity_is_bounded() {
        assert_eq!(DedupeWindow::new(0).unwrap_err().field, "capacity");
        assert!(DedupeWindow::new(MAX_DEDUPE_CAPACITY + 1).is_err());
    }

    /// The exact model: the last `capacity` distinct ids in first-seen order.
    struct Model {
        ids: VecDeque<u64>,
        capacity: usize,
        evicted: u64,
    }

    impl Model {
        fn observe(&mut self, id: u64) -> Seen {
            if self.ids.contains(&id) {
                return Seen::Duplicate;
            }
            if self.ids.len() == self.capacity {
                self.ids.pop_front();
                self.evicted += 1;
            }
            self.ids.push_back(id);
            Seen::Fresh
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        /// Against the exact model, over ids from a small range (so that they
        /// repeat, collide in the index and wrap around the ring), every answer
        /// and every membership agree after each arrival.
        #[test]
        fn the_window_is_the_last_distinct_ids(
            capacity in 1usize..24,
            ids in proptest::collection::vec(0u64..48, 0..400),
        ) {
            let mut window = DedupeWindow::new(capacity).unwrap();
            let mut model = Model { ids: VecDeque::new(), capacity, evicted: 0 };
            for id in ids {
                prop_assert_eq!(window.observe(id), model.observe(id));
                prop_assert_eq!(window.len(), model.ids.len());
                prop_assert_eq!(window.evicted(), model.evicted);
                for probe in 0..48 {
                    prop_assert_eq!(window.contains(probe), model.ids.contains(&probe));
                }
            }
        }
    }
}
