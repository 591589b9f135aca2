//! The binary min-heap under the event queue.
//!
//! Why not `std::collections::BinaryHeap`: its `push` writes the new entry
//! into the vector and then reads it back to sift it up. The entry was built
//! moments earlier by narrower stores (its fields), and the wide loads that
//! read it back defeat the processor's store-to-load forwarding: on an M/M/1
//! run that one reload was the hottest instruction of the program. Here a new
//! entry is compared by its key while it is still in registers, parents move
//! down into the hole, and the entry is written once, where it belongs. The
//! same holds for [`MinHeap::replace_top`], which the run loop uses to put the
//! first event a handler schedules in place of the one being handled.
//!
//! Removal moves the hole to the bottom (one comparison per level, between
//! the two children) and then sifts the last entry up from there, which is
//! usually no distance at all: the fewest comparisons for large heaps (as
//! `BinaryHeap::pop` does).
//!
//! Entries are `Copy`, so the heap needs no unsafe code.

/// An entry with a total order key; smaller keys come out first.
pub trait Keyed: Copy {
    /// The ordering key; keys of distinct entries must differ. (One `u128`
    /// compares without branches, where a tuple compares field by field.)
    fn key(&self) -> u128;
}

/// A binary min-heap of `Copy` entries.
#[derive(Clone, Debug)]
pub struct MinHeap<T> {
    data: Vec<T>,
}

impl<T: Keyed> MinHeap<T> {
    /// An empty heap with room for `capacity` entries.
    pub fn with_capacity(capacity: usize) -> Self {
        MinHeap {
            data: Vec::with_capacity(capacity),
        }
    }

    /// Number of entries.
    #[inline]
    pub fn len(&self) -> usize {
        self.data.len()
    }

    /// Whether the heap is empty.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    /// The smallest entry.
    #[inline]
    pub fn peek(&self) -> Option<&T> {
        self.data.first()
    }

    /// Adds an entry.
    #[inline(always)]
    pub fn push(&mut self, entry: T) {
        let key = entry.key();
        let mut hole = self.data.len();
        if hole == 0 {
            self.data.push(entry);
            return;
        }
        let parent = (hole - 1) / 2;
        if self.data[parent].key() <= key {
            self.data.push(entry);
            return;
        }
        // The parent moves down into the new last slot; keep climbing.
        self.data.push(self.data[parent]);
        hole = parent;
        while hole > 0 {
            let parent = (hole - 1) / 2;
            if self.data[parent].key() <= key {
                break;
            }
            self.data[hole] = self.data[parent];
            hole = parent;
        }
        self.data[hole] = entry;
    }

    /// Removes and returns the smallest entry.
    #[inline]
    pub fn pop(&mut self) -> Option<T> {
        let last = self.data.pop()?;
        if self.data.is_empty() {
            return Some(last);
        }
        let top = self.data[0];
        self.sift_from_root(last);
        Some(top)
    }

    /// Replaces the smallest entry with `entry` (valid for any entry).
    ///
    /// # Panics
    /// If the heap is empty.
    #[inline(always)]
    pub fn replace_top(&mut self, entry: T) {
        assert!(!self.data.is_empty(), "replace_top on an empty heap");
        self.sift_from_root(entry);
    }

    /// Keeps only the entries for which `keep` is true.
    pub fn retain(&mut self, keep: impl FnMut(&T) -> bool) {
        self.data.retain(keep);
        // Floyd's heap construction: sift down every internal node.
        for start in (0..self.data.len() / 2).rev() {
            let entry = self.data[start];
            self.sift_down(start, entry);
        }
    }

    /// Puts `entry` in the hole at the root: the hole goes to the bottom
    /// along the smaller children, then `entry` climbs back up to its place.
    #[inline(always)]
    fn sift_from_root(&mut self, entry: T) {
        let data = self.data.as_mut_slice();
        let len = data.len();
        let key = entry.key();
        let mut hole = 0;
        let mut child = 1;
        // On a slice whose length bounds the loop conditions, the compiler
        // drops most bounds checks; the smaller child is chosen without a
        // branch (which is unpredictable by nature).
        while child + 1 < len {
            let (left, right) = (data[child].key(), data[child + 1].key());
            child += usize::from(right < left);
            data[hole] = data[child];
            hole = child;
            child = 2 * hole + 1;
        }
        if child < len {
            data[hole] = data[child];
            hole = child;
        }
        while hole > 0 {
            let parent = (hole - 1) / 2;
            if data[parent].key() <= key {
                break;
            }
            data[hole] = data[parent];
            hole = parent;
        }
        data[hole] = entry;
    }

    /// Classic sift down of `entry` into the hole at `start`.
    fn sift_down(&mut self, start: usize, entry: T) {
        let len = self.data.len();
        let key = entry.key();
        let mut hole = start;
        loop {
            let mut child = 2 * hole + 1;
            if child >= len {
                break;
            }
            if child + 1 < len && self.data[child + 1].key() < self.data[child].key() {
                child += 1;
            }
            if key <= self.data[child].key() {
                break;
            }
            self.data[hole] = self.data[child];
            hole = child;
        }
        self.data[hole] = entry;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    struct E(u64, u64);

    impl Keyed for E {
        fn key(&self) -> u128 {
            (u128::from(self.0) << 64) | u128::from(self.1)
        }
    }

    #[derive(Clone, Debug)]
    enum Op {
        Push(u8),
        Pop,
        ReplaceTop(u8),
        Retain(u8),
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            3 => any::<u8>().prop_map(Op::Push),
            2 => Just(Op::Pop),
            2 => any::<u8>().prop_map(Op::ReplaceTop),
            1 => any::<u8>().prop_map(Op::Retain),
        ]
    }

    proptest! {
        /// Against a sorted list: every operation leaves the same multiset,
        /// and the top is always the smallest.
        #[test]
        fn behaves_like_a_sorted_list(ops in prop::collection::vec(op(), 0..300)) {
            let mut heap = MinHeap::with_capacity(0);
            let mut model: Vec<E> = Vec::new();
            let mut seq = 0u64;
            let mut fresh = |time: u8| {
                seq += 1;
                E(u64::from(time), seq)
            };
            for op in ops {
                match op {
                    Op::Push(t) => {
                        let e = fresh(t);
                        heap.push(e);
                        model.push(e);
                    }
                    Op::Pop => {
                        model.sort_by_key(Keyed::key);
                        let expected = (!model.is_empty()).then(|| model.remove(0));
                        prop_assert_eq!(heap.pop(), expected);
                    }
                    Op::ReplaceTop(t) => {
                        if model.is_empty() {
                            continue;
                        }
                        model.sort_by_key(Keyed::key);
                        model.remove(0);
                        let e = fresh(t);
                        heap.replace_top(e);
                        model.push(e);
                    }
                    Op::Retain(m) => {
                        let m = u64::from(m % 4) + 2;
                        heap.retain(|e| e.1 % m != 0);
                        model.retain(|e| e.1 % m != 0);
                    }
                }
                model.sort_by_key(Keyed::key);
                prop_assert_eq!(heap.len(), model.len());
                prop_assert_eq!(heap.peek(), model.first());
            }
            let mut drained = Vec::new();
            while let Some(e) = heap.pop() {
                drained.push(e);
            }
            prop_assert_eq!(drained, model);
        }
    }

    #[test]
    #[should_panic(expected = "empty heap")]
    fn replace_top_of_an_empty_heap_panics() {
        MinHeap::<E>::with_capacity(0).replace_top(E(1, 1));
    }
}
