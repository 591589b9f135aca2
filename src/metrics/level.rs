//! Time-weighted levels: the time-average of a quantity that changes in
//! steps (requests in system, in queue, busy workers), integrated exactly in
//! integer nanoseconds.

use crate::kernel::SimTime;

/// A level that changes at instants, with its exact time integral.
#[derive(Clone, Copy, Debug, Default)]
pub struct Level {
    value: u64,
    area: u128,
    since: SimTime,
}

impl Level {
    /// The current value.
    #[inline]
    pub fn value(&self) -> u64 {
        self.value
    }

    #[inline]
    fn advance(&mut self, now: SimTime) {
        debug_assert!(now >= self.since, "time went backwards");
        self.area += u128::from(self.value) * u128::from(now.as_nanos() - self.since.as_nanos());
        self.since = now;
    }

    /// Adds one at `now`.
    #[inline]
    pub fn increment(&mut self, now: SimTime) {
        self.advance(now);
        self.value += 1;
    }

    /// Removes one at `now`.
    #[inline]
    pub fn decrement(&mut self, now: SimTime) {
        self.advance(now);
        debug_assert!(self.value > 0, "a level went below zero");
        self.value -= 1;
    }

    /// Removes `n` at `now`.
    #[inline]
    pub fn subtract(&mut self, now: SimTime, n: u64) {
        self.advance(now);
        debug_assert!(self.value >= n, "a level went below zero");
        self.value -= n;
    }

    /// The integral of the level from time zero to `now`, in value·ns.
    pub fn area_until(&self, now: SimTime) -> u128 {
        self.area
            + u128::from(self.value)
                * u128::from(now.as_nanos().saturating_sub(self.since.as_nanos()))
    }

    /// The time-average from zero to `now`.
    pub fn mean_until(&self, now: SimTime) -> f64 {
        if now.as_nanos() == 0 {
            return 0.0;
        }
        self.area_until(now) as f64 / now.as_nanos() as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integrates_exactly() {
        let t = SimTime::from_nanos;
        let mut level = Level::default();
        level.increment(t(10)); // 1 from 10
        level.increment(t(20)); // 2 from 20
        level.decrement(t(40)); // 1 from 40
        level.subtract(t(50), 1); // 0 from 50
        // Area = 1*10 + 2*20 + 1*10 = 60 over 100 ns.
        assert_eq!(level.area_until(t(100)), 60);
        assert!((level.mean_until(t(100)) - 0.6).abs() < 1e-12);
        assert_eq!(level.value(), 0);
    }
}
