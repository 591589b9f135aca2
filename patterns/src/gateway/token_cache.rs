//! The token cache under [`Authenticator`](super::auth::Authenticator): the auth
//! service's last answer per token, in a fixed capacity, least recently used evicted
//! first (as Envoy's `jwt_authn` cache, `jwt_cache_config`, a `SimpleLRUCache`).
//!
//! **Invariant:** `index` holds exactly one entry per live slot, at a position reached
//! by linear probing from its key's home without crossing an empty position; the
//! recency list links exactly the live slots, most recent at `head`. Everything is
//! allocated at construction: the `capacity` slots and an index of at least twice
//! as many positions (a power of two, so probes stay short), with deletion by
//! backward shift (Knuth's Algorithm R), so no tombstones accumulate.

use super::mix64;
use crate::Nanos;

const NONE: u32 = u32::MAX;

/// What the auth service last said of a token.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Answer {
    /// Whether the token was active (allowed).
    pub allowed: bool,
    /// Until when (exclusive) the answer may be used as it is.
    pub fresh_until: Nanos,
}

#[derive(Clone, Copy, Debug)]
struct Slot {
    key: u64,
    answer: Answer,
    newer: u32,
    older: u32,
}

/// A fixed-capacity LRU map from token keys to [`Answer`]s.
#[derive(Clone, Debug)]
pub(super) struct TokenCache {
    slots: Vec<Slot>,
    capacity: usize,
    /// Open addressing: slot numbers, [`NONE`] where empty.
    index: Vec<u32>,
    mask: usize,
    /// The most and the least recently used slots.
    head: u32,
    tail: u32,
    evictions: u64,
}

impl TokenCache {
    /// An empty cache of `capacity` answers, at least 1 and less than `u32::MAX / 2`.
    pub fn new(capacity: usize) -> TokenCache {
        assert!(capacity >= 1 && capacity < (u32::MAX / 2) as usize);
        let positions = (2 * capacity).next_power_of_two();
        TokenCache {
            slots: Vec::with_capacity(capacity),
            capacity,
            index: vec![NONE; positions],
            mask: positions - 1,
            head: NONE,
            tail: NONE,
            evictions: 0,
        }
    }

    /// How many answers are held.
    pub fn len(&self) -> usize {
        self.slots.len()
    }

    /// How many answers were evicted to make room.
    pub fn evictions(&self) -> u64 {
        self.evictions
    }

    /// The answer for `key`, made the most recently used.
    pub fn get(&mut self, key: u64) -> Option<Answer> {
        let position = self.find(key)?;
        let slot = self.index[position];
        self.touch(slot);
        Some(self.slots[slot as usize].answer)
    }

    /// Stores `answer` for `key`, the most recently used; when the cache is full and
    /// `key` is new, the least recently used answer is evicted.
    pub fn insert(&mut self, key: u64, answer: Answer) {
        if let Some(position) = self.find(key) {
            let slot = self.index[position];
            self.slots[slot as usize].answer = answer;
            self.touch(slot);
            return;
        }
        let slot = if self.slots.len() < self.capacity {
            self.slots.push(Slot {
                key,
                answer,
                newer: NONE,
                older: NONE,
            });
            (self.slots.len() - 1) as u32
        } else {
            let victim = self.tail;
            let old_key = self.slots[victim as usize].key;
            let position = self.find(old_key).expect("every live slot is indexed");
            self.remove_position(position);
            self.unlink(victim);
            self.evictions += 1;
            let slot = &mut self.slots[victim as usize];
            slot.key = key;
            slot.answer = answer;
            victim
        };
        let mut position = self.home(key);
        while self.index[position] != NONE {
            position = (position + 1) & self.mask;
        }
        self.index[position] = slot;
        self.push_front(slot);
        debug_assert!(self.slots.len() <= self.capacity);
    }

    fn home(&self, key: u64) -> usize {
        mix64(key) as usize & self.mask
    }

    fn find(&self, key: u64) -> Option<usize> {
        let mut position = self.home(key);
        loop {
            let slot = self.index[position];
            if slot == NONE {
                return None;
            }
            if self.slots[slot as usize].key == key {
                return Some(position);
            }
            position = (position + 1) & self.mask;
        }
    }

    /// Empties `position`, shifting back the entries of its probe run that would
    /// otherwise become unreachable.
    fn remove_position(&mut self, mut hole: usize) {
        let mut next = hole;
        loop {
            next = (next + 1) & self.mask;
            let slot = self.index[next];
            if slot == NONE {
                break;
            }
            let home = self.home(self.slots[slot as usize].key);
            // The entry may fill the hole if the hole lies on its probe path, from
            // its home up to where it is now.
            if next.wrapping_sub(home) & self.mask >= next.wrapping_sub(hole) & self.mask {
                self.index[hole] = slot;
                hole = next;
            }
        }
        self.index[hole] = NONE;
    }

    fn touch(&mut self, slot: u32) {
        if self.head != slot {
            self.unlink(slot);
            self.push_front(slot);
        }
    }

    fn unlink(&mut self, slot: u32) {
        let Slot { newer, older, .. } = self.slots[slot as usize];
        match newer {
            NONE => self.head = older,
            newer => self.slots[newer as usize].older = older,
        }
        match older {
            NONE => self.tail = newer,
            older => self.slots[older as usize].newer = newer,
        }
    }

    fn push_front(&mut self, slot: u32) {
        let old_head = self.head;
        {
            let s = &mut self.slots[slot as usize];
            s.newer = NONE;
            s.older = old_head;
        }
        if old_head != NONE {
            self.slots[old_head as usize].newer = slot;
        }
        self.head = slot;
        if self.tail == NONE {
            self.tail = slot;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn answer(fresh_until: Nanos) -> Answer {
        Answer {
            allowed: fresh_until.is_multiple_of(2),
            fresh_until,
        }
    }

    #[test]
    fn the_least_recently_used_answer_is_evicted() {
        let mut cache = TokenCache::new(2);
        cache.insert(1, answer(10));
        cache.insert(2, answer(20));
        assert_eq!(cache.get(1), Some(answer(10))); // 2 is now the least recent
        cache.insert(3, answer(30));
        assert_eq!(cache.get(2), None);
        assert_eq!(cache.get(1), Some(answer(10)));
        assert_eq!(cache.get(3), Some(answer(30)));
        assert_eq!(cache.len(), 2);
        assert_eq!(cache.evictions(), 1);
        // Updating a held key evicts nothing.
        cache.insert(3, answer(31));
        assert_eq!(cache.get(3), Some(answer(31)));
        assert_eq!(cache.evictions(), 1);
    }

    /// A plain model: answers by key, and the keys from least to most recently used.
    #[derive(Default)]
    struct Reference {
        order: Vec<(u64, Answer)>,
    }

    impl Reference {
        fn get(&mut self, key: u64) -> Option<Answer> {
            let at = self.order.iter().position(|&(k, _)| k == key)?;
            let entry = self.order.remove(at);
            self.order.push(entry);
            Some(entry.1)
        }

        fn insert(&mut self, capacity: usize, key: u64, answer: Answer) {
            if let Some(at) = self.order.iter().position(|&(k, _)| k == key) {
                self.order.remove(at);
            } else if self.order.len() == capacity {
                self.order.remove(0);
            }
            self.order.push((key, answer));
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        /// The cache answers every get exactly as an LRU list would, across evictions
        /// and the index's backward shifts (few distinct keys, so probe runs collide).
        #[test]
        fn cache_matches_an_lru_reference(
            capacity in 1usize..6,
            ops in prop::collection::vec((any::<bool>(), 0u64..12, 0u64..100), 1..200),
        ) {
            let mut cache = TokenCache::new(capacity);
            let mut reference = Reference::default();
            for (is_get, key, value) in ops {
                if is_get {
                    prop_assert_eq!(cache.get(key), reference.get(key), "get {}", key);
                } else {
                    cache.insert(key, answer(value));
                    reference.insert(capacity, key, answer(value));
                }
                prop_assert_eq!(cache.len(), reference.order.len());
            }
            for key in 0..12 {
                prop_assert_eq!(cache.get(key), reference.get(key), "final get {}", key);
            }
        }
    }
}
