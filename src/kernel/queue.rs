//! The event queue: a binary min-heap keyed by `(time, seq)`, with timers that
//! cancel in O(1).
//!
//! `seq` is a global insertion counter, so two events scheduled for the same
//! instant pop in the order they were scheduled, on every machine. Events are
//! plain data (`E` is usually a small `Copy` enum); nothing is boxed.
//!
//! **Cancellation** is by generation, not by search: a timer owns a slot in a
//! small table; cancelling bumps the slot's generation, and the heap entry,
//! which remembers the generation it was born with, is recognised as stale and
//! skipped when it reaches the top. A timeout is cancelled far more often than
//! it fires, so stale entries can pile up; when they outnumber the live ones
//! the heap is compacted (amortised O(1) per cancel), which keeps memory
//! proportional to what is really pending.
//!
//! **Architecture Invariant:** a cancelled event is never returned by
//! [`EventQueue::pop`], and events pop in strictly increasing `(time, seq)`.

use super::heap::{Keyed, MinHeap};
use super::time::SimTime;

/// A handle to a cancellable event. Cancelling a timer that already fired or
/// was already cancelled is a harmless no-op that returns `false`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct TimerId {
    slot: u32,
    generation: u32,
}

/// Marks a heap entry that belongs to no timer.
const NO_TIMER: u32 = u32::MAX;

/// Compact when stale entries exceed live ones by this much (and in ratio).
const COMPACT_SLACK: usize = if cfg!(test) { 8 } else { 4096 };

#[derive(Clone, Copy)]
struct Entry<E> {
    time: u64,
    seq: u64,
    slot: u32,
    generation: u32,
    event: E,
}

impl<E: Copy> Keyed for Entry<E> {
    #[inline(always)]
    fn key(&self) -> u128 {
        (u128::from(self.time) << 64) | u128::from(self.seq)
    }
}

/// A min-queue of events ordered by `(time, insertion sequence)`.
pub struct EventQueue<E> {
    heap: MinHeap<Entry<E>>,
    next_seq: u64,
    /// Current generation of each timer slot; a heap entry whose generation
    /// differs from its slot's is stale.
    generations: Vec<u32>,
    free_slots: Vec<u32>,
    /// Stale (cancelled) entries still in the heap.
    stale: usize,
    /// The root entry has been delivered by [`EventQueue::pop_held`] but is
    /// still in the heap: the next push replaces it (one sift instead of a
    /// pop's two and a push's one), or [`EventQueue::release`] removes it.
    held: bool,
}

impl<E: Copy> Default for EventQueue<E> {
    fn default() -> Self {
        Self::new()
    }
}

impl<E: Copy> EventQueue<E> {
    /// An empty queue.
    pub fn new() -> Self {
        EventQueue {
            heap: MinHeap::with_capacity(0),
            next_seq: 0,
            generations: Vec::new(),
            free_slots: Vec::new(),
            stale: 0,
            held: false,
        }
    }

    /// An empty queue with room for `capacity` pending events.
    pub fn with_capacity(capacity: usize) -> Self {
        EventQueue {
            heap: MinHeap::with_capacity(capacity),
            ..Self::new()
        }
    }

    /// Number of live (not cancelled) pending events.
    pub fn len(&self) -> usize {
        self.heap.len() - self.stale - usize::from(self.held)
    }

    /// Whether no live event is pending.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Schedules `event` at `time`; it cannot be cancelled.
    #[inline]
    pub fn push(&mut self, time: SimTime, event: E) {
        let seq = self.next_seq;
        self.next_seq += 1;
        self.insert(Entry {
            time: time.as_nanos(),
            seq,
            slot: NO_TIMER,
            generation: 0,
            event,
        });
    }

    /// Puts an entry in the heap, in place of the held root if there is one.
    /// Replacing the root and sifting down is valid for any entry.
    #[inline]
    fn insert(&mut self, entry: Entry<E>) {
        if self.held {
            self.held = false;
            self.heap.replace_top(entry);
        } else {
            self.heap.push(entry);
        }
    }

    /// Schedules `event` at `time` and returns a handle that can cancel it.
    #[inline]
    pub fn push_timer(&mut self, time: SimTime, event: E) -> TimerId {
        let slot = match self.free_slots.pop() {
            Some(slot) => slot,
            None => {
                let slot = u32::try_from(self.generations.len())
                    .ok()
                    .filter(|s| *s != NO_TIMER)
                    .expect("more than 4 billion live timers");
                self.generations.push(0);
                slot
            }
        };
        let generation = self.generations[slot as usize];
        let seq = self.next_seq;
        self.next_seq += 1;
        self.insert(Entry {
            time: time.as_nanos(),
            seq,
            slot,
            generation,
            event,
        });
        TimerId { slot, generation }
    }

    /// Cancels a timer in O(1). Returns whether it was still pending.
    #[inline]
    pub fn cancel(&mut self, timer: TimerId) -> bool {
        let Some(current) = self.generations.get_mut(timer.slot as usize) else {
            return false;
        };
        if *current != timer.generation {
            return false;
        }
        *current = current.wrapping_add(1);
        self.free_slots.push(timer.slot);
        self.stale += 1;
        if self.stale > COMPACT_SLACK && self.stale > self.heap.len() / 2 {
            self.compact();
        }
        true
    }

    /// Removes every stale entry; O(n), called rarely enough to be amortised.
    fn compact(&mut self) {
        self.release();
        let generations = &self.generations;
        self.heap
            .retain(|e| e.slot == NO_TIMER || generations[e.slot as usize] == e.generation);
        self.stale = 0;
    }

    /// Whether a heap entry is still live.
    #[inline]
    fn is_live(&self, entry: &Entry<E>) -> bool {
        entry.slot == NO_TIMER || self.generations[entry.slot as usize] == entry.generation
    }

    /// Drops stale entries from the top so that the top, if any, is live.
    #[inline]
    fn skip_stale(&mut self) {
        while let Some(top) = self.heap.peek() {
            if self.is_live(top) {
                return;
            }
            self.heap.pop();
            self.stale -= 1;
        }
    }

    /// The time of the earliest live event.
    #[inline]
    pub fn peek_time(&mut self) -> Option<SimTime> {
        self.release();
        self.skip_stale();
        self.heap.peek().map(|e| SimTime::from_nanos(e.time))
    }

    /// Removes and returns the earliest live event. A timer that fires here
    /// can no longer be cancelled.
    #[inline]
    pub fn pop(&mut self) -> Option<(SimTime, E)> {
        self.release();
        loop {
            let entry = self.heap.pop()?;
            if entry.slot == NO_TIMER {
                return Some((SimTime::from_nanos(entry.time), entry.event));
            }
            let generation = &mut self.generations[entry.slot as usize];
            if *generation == entry.generation {
                *generation = generation.wrapping_add(1);
                self.free_slots.push(entry.slot);
                return Some((SimTime::from_nanos(entry.time), entry.event));
            }
            self.stale -= 1;
        }
    }

    /// The `(time, seq)` key of the earliest live event, for tests.
    /// Returns the earliest live event like [`EventQueue::pop`], but leaves
    /// its entry at the root of the heap: the next push takes its place, which
    /// saves a sift when handling an event schedules another (the common
    /// case). [`EventQueue::release`] removes it if nothing was pushed; every
    /// other method does so first.
    #[inline]
    pub fn pop_held(&mut self) -> Option<(SimTime, E)> {
        self.release();
        self.skip_stale();
        let top = self.heap.peek()?;
        let (slot, generation) = (top.slot, top.generation);
        let delivered = (SimTime::from_nanos(top.time), top.event);
        if slot != NO_TIMER {
            // It fires: it can no longer be cancelled, and its slot is free.
            debug_assert_eq!(self.generations[slot as usize], generation);
            let current = &mut self.generations[slot as usize];
            *current = current.wrapping_add(1);
            self.free_slots.push(slot);
        }
        self.held = true;
        Some(delivered)
    }

    /// Removes the entry [`EventQueue::pop_held`] left at the root, if it is
    /// still there.
    #[inline]
    pub fn release(&mut self) {
        if self.held {
            self.held = false;
            self.heap.pop();
        }
    }

    #[cfg(test)]
    fn peek_key(&mut self) -> Option<(u64, u64)> {
        self.release();
        self.skip_stale();
        self.heap.peek().map(|e| (e.time, e.seq))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn t(n: u64) -> SimTime {
        SimTime::from_nanos(n)
    }

    #[test]
    fn pops_by_time_then_insertion_order() {
        let mut q = EventQueue::new();
        q.push(t(5), "c");
        q.push(t(1), "a");
        q.push(t(5), "d");
        q.push(t(1), "b");
        q.push_timer(t(5), "e");
        let order: Vec<_> = std::iter::from_fn(|| q.pop()).collect();
        assert_eq!(
            order,
            vec![
                (t(1), "a"),
                (t(1), "b"),
                (t(5), "c"),
                (t(5), "d"),
                (t(5), "e")
            ]
        );
    }

    #[test]
    fn cancelled_timers_are_never_delivered() {
        let mut q = EventQueue::new();
        let a = q.push_timer(t(1), 'a');
        let b = q.push_timer(t(2), 'b');
        q.push(t(3), 'c');
        assert!(q.cancel(a));
        assert!(!q.cancel(a), "a second cancel is a no-op");
        assert_eq!(q.len(), 2);
        assert_eq!(q.pop(), Some((t(2), 'b')));
        assert!(!q.cancel(b), "a fired timer cannot be cancelled");
        assert_eq!(q.pop(), Some((t(3), 'c')));
        assert_eq!(q.pop(), None);
        assert!(q.is_empty());
    }

    #[test]
    fn a_reused_slot_does_not_revive_a_cancelled_entry() {
        let mut q = EventQueue::new();
        let old = q.push_timer(t(10), "old");
        assert!(q.cancel(old));
        let new = q.push_timer(t(20), "new");
        assert_eq!(new.slot, old.slot, "the slot is reused");
        assert_eq!(q.pop(), Some((t(20), "new")));
        assert_eq!(q.pop(), None);
    }

    #[test]
    fn compaction_keeps_memory_proportional_to_live_events() {
        let mut q = EventQueue::new();
        for i in 0..100_000u64 {
            let id = q.push_timer(t(1_000_000 + i), i);
            q.cancel(id);
            q.push(t(i), i);
            q.pop();
        }
        assert!(q.heap.len() <= 2 * COMPACT_SLACK + 2, "{}", q.heap.len());
        assert!(q.is_empty());
    }

    #[derive(Clone, Debug)]
    enum Op {
        Push(u8),
        PushTimer(u8),
        Cancel(usize),
        Pop,
        /// Pop with the entry held at the root, as the run loop does.
        PopHeld,
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            any::<u8>().prop_map(Op::Push),
            any::<u8>().prop_map(Op::PushTimer),
            any::<usize>().prop_map(Op::Cancel),
            Just(Op::Pop),
            Just(Op::PopHeld),
        ]
    }

    proptest! {
        /// Against a reference model (a sorted list), any interleaving of
        /// schedule, cancel, pop and held pop yields events in (time, seq)
        /// order and never a cancelled one (compaction, which runs after 8
        /// stale entries in tests, included).
        #[test]
        fn pops_in_time_seq_order_and_never_yields_cancelled(ops in prop::collection::vec(op(), 0..400)) {
            let mut q = EventQueue::new();
            // Reference: (time, seq, id) of live events.
            let mut model: Vec<(u64, u64, usize)> = Vec::new();
            let mut timers: Vec<(TimerId, usize)> = Vec::new();
            let mut cancelled = std::collections::BTreeSet::new();
            let mut seq = 0u64;
            let mut now = 0u64;
            let mut last_popped: Option<(u64, u64)> = None;
            for op in ops {
                match op {
                    Op::Push(dt) => {
                        let time = now + u64::from(dt);
                        q.push(t(time), seq as usize);
                        model.push((time, seq, seq as usize));
                        seq += 1;
                    }
                    Op::PushTimer(dt) => {
                        let time = now + u64::from(dt);
                        let id = q.push_timer(t(time), seq as usize);
                        timers.push((id, seq as usize));
                        model.push((time, seq, seq as usize));
                        seq += 1;
                    }
                    Op::Cancel(i) => {
                        if timers.is_empty() { continue; }
                        let (id, event) = timers[i % timers.len()];
                        let was_live = model.iter().any(|m| m.2 == event);
                        prop_assert_eq!(q.cancel(id), was_live);
                        model.retain(|m| m.2 != event);
                        cancelled.insert(event);
                    }
                    Op::Pop | Op::PopHeld => {
                        model.sort();
                        let expected = if model.is_empty() { None } else { Some(model.remove(0)) };
                        let key = q.peek_key();
                        let got = if matches!(op, Op::Pop) { q.pop() } else { q.pop_held() };
                        match expected {
                            None => prop_assert!(got.is_none()),
                            Some((time, s, event)) => {
                                prop_assert_eq!(key, Some((time, s)));
                                prop_assert_eq!(got, Some((t(time), event)));
                                prop_assert!(!cancelled.contains(&event), "a cancelled event popped");
                                if let Some(prev) = last_popped {
                                    prop_assert!(prev < (time, s), "popped out of order");
                                }
                                last_popped = Some((time, s));
                                now = time;
                            }
                        }
                    }
                }
                prop_assert_eq!(q.len(), model.len());
            }
        }
    }
}
