//! Sliding windows of call outcomes, for the circuit breaker.
//!
//! They mirror resilience4j's core metrics (repository resilience4j/resilience4j,
//! `resilience4j-core/src/main/java/io/github/resilience4j/core/metrics/FixedSizeSlidingWindowMetrics.java`
//! and `.../core/metrics/SlidingTimeWindowMetrics.java`): a COUNT_BASED window keeps the
//! outcomes of the last N calls in a ring; a TIME_BASED window keeps N one-second
//! buckets (the bucket of a call is the whole second of its `now`). Both keep a running
//! total, to which a call is added when it enters and from which it (or its whole
//! bucket) is subtracted when it leaves, so a rate costs O(1) per call. Memory is fixed
//! at construction. The time-based buckets are the crate's slot ring (`ring.rs`), reused
//! eagerly so that each bucket that leaves is subtracted exactly once.

use super::Nanos;
use super::ring::SlotRing;

const NANOS_PER_SEC: u64 = 1_000_000_000;
/// Outcome code bit: the call failed.
pub(super) const FAILED: u8 = 1;
/// Outcome code bit: the call was slow.
pub(super) const SLOW: u8 = 2;

/// Calls, failed calls and slow calls.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(super) struct Tally {
    pub(super) calls: u32,
    pub(super) failed: u32,
    pub(super) slow: u32,
}

impl Tally {
    pub(super) fn add(&mut self, code: u8) {
        self.calls += 1;
        self.failed += u32::from(code & FAILED != 0);
        self.slow += u32::from(code & SLOW != 0);
    }

    pub(super) fn subtract_code(&mut self, code: u8) {
        self.calls -= 1;
        self.failed -= u32::from(code & FAILED != 0);
        self.slow -= u32::from(code & SLOW != 0);
    }

    pub(super) fn subtract(&mut self, other: Tally) {
        self.calls -= other.calls;
        self.failed -= other.failed;
        self.slow -= other.slow;
    }

    pub(super) fn merge(&mut self, other: Tally) {
        self.calls += other.calls;
        self.failed += other.failed;
        self.slow += other.slow;
    }
}

/// The last N calls, as resilience4j `FixedSizeSlidingWindowMetrics`.
#[derive(Clone, Debug)]
pub(super) struct CountWindow {
    ring: Vec<u8>,
    next: usize,
    len: usize,
    pub(super) tally: Tally,
}

impl CountWindow {
    pub(super) fn new(size: u32) -> CountWindow {
        CountWindow {
            ring: vec![0; size as usize],
            next: 0,
            len: 0,
            tally: Tally::default(),
        }
    }

    pub(super) fn record(&mut self, code: u8) {
        if self.len == self.ring.len() {
            self.tally.subtract_code(self.ring[self.next]);
        } else {
            self.len += 1;
        }
        self.ring[self.next] = code;
        self.tally.add(code);
        self.next = (self.next + 1) % self.ring.len();
    }

    pub(super) fn clear(&mut self) {
        self.next = 0;
        self.len = 0;
        self.tally = Tally::default();
    }
}

/// The calls of the last N whole seconds, as resilience4j `SlidingTimeWindowMetrics`.
#[derive(Clone, Debug)]
pub(super) struct TimeWindow {
    /// One-second buckets, reused eagerly so that `tally` can subtract what leaves.
    buckets: SlotRing<Tally>,
    head_second: u64,
    tally: Tally,
}

impl TimeWindow {
    pub(super) fn new(seconds: u32) -> TimeWindow {
        TimeWindow {
            buckets: SlotRing::new(seconds as usize),
            head_second: 0,
            tally: Tally::default(),
        }
    }

    /// Evicts the buckets that left the window, subtracting them from the total.
    pub(super) fn advance(&mut self, now: Nanos) {
        let second = now / NANOS_PER_SEC;
        if second <= self.head_second {
            return;
        }
        let tally = &mut self.tally;
        self.buckets
            .advance(self.head_second, second, |left| tally.subtract(left));
        self.head_second = second;
    }

    pub(super) fn record(&mut self, now: Nanos, code: u8) {
        self.advance(now);
        self.buckets.slot_mut(self.head_second).add(code);
        self.tally.add(code);
    }

    /// The total at `now` without evicting (for read-only snapshots).
    pub(super) fn tally_at(&self, now: Nanos) -> Tally {
        let second = (now / NANOS_PER_SEC).max(self.head_second);
        let mut tally = Tally::default();
        for bucket in self.buckets.window(second) {
            tally.merge(*bucket);
        }
        tally
    }

    pub(super) fn clear(&mut self) {
        self.buckets.clear();
        self.head_second = 0;
        self.tally = Tally::default();
    }
}

#[derive(Clone, Debug)]
pub(super) enum ClosedWindow {
    Count(CountWindow),
    Time(TimeWindow),
}

impl ClosedWindow {
    pub(super) fn record(&mut self, now: Nanos, code: u8) -> Tally {
        match self {
            ClosedWindow::Count(window) => {
                window.record(code);
                window.tally
            }
            ClosedWindow::Time(window) => {
                window.record(now, code);
                window.tally
            }
        }
    }

    pub(super) fn tally_at(&self, now: Nanos) -> Tally {
        match self {
            ClosedWindow::Count(window) => window.tally,
            ClosedWindow::Time(window) => window.tally_at(now),
        }
    }

    pub(super) fn clear(&mut self) {
        match self {
            ClosedWindow::Count(window) => window.clear(),
            ClosedWindow::Time(window) => window.clear(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SEC: u64 = NANOS_PER_SEC;

    fn tally(calls: u32, failed: u32, slow: u32) -> Tally {
        Tally {
            calls,
            failed,
            slow,
        }
    }

    #[test]
    fn count_window_keeps_the_last_n_calls() {
        let mut window = CountWindow::new(3);
        for code in [FAILED, SLOW, 0] {
            window.record(code);
        }
        assert_eq!(window.tally, tally(3, 1, 1));
        window.record(FAILED | SLOW); // evicts FAILED
        assert_eq!(window.tally, tally(3, 1, 2));
        window.record(0); // evicts SLOW
        assert_eq!(window.tally, tally(3, 1, 1));
        window.clear();
        assert_eq!(window.tally, Tally::default());
        window.record(FAILED);
        assert_eq!(window.tally, tally(1, 1, 0));
    }

    #[test]
    fn time_window_subtracts_whole_buckets_on_evict() {
        let mut window = TimeWindow::new(3);
        window.record(0, FAILED); // second 0
        window.record(SEC + 1, 0); // second 1
        window.record(2 * SEC, SLOW); // second 2
        assert_eq!(window.tally, tally(3, 1, 1));
        window.record(3 * SEC, 0); // second 3: second 0 leaves
        assert_eq!(window.tally, tally(3, 0, 1));
        assert_eq!(window.tally_at(4 * SEC), tally(2, 0, 1)); // read-only view
        assert_eq!(window.tally_at(6 * SEC), Tally::default());
        window.record(100 * SEC, FAILED); // a long gap empties the window
        assert_eq!(window.tally, tally(1, 1, 0));
        window.clear();
        assert_eq!(window.tally_at(100 * SEC), Tally::default());
    }
}
