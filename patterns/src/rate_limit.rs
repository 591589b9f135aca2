//! Rate limiters for a gateway or a service's front door: a token bucket and GCRA.
//!
//! [`TokenBucket`] is the continuous-refill token bucket of **Envoy's local rate
//! limit** filter (repository envoyproxy/envoy,
//! `api/envoy/extensions/filters/http/local_ratelimit/v3/local_rate_limit.proto`:
//! `max_tokens`, `tokens_per_fill`, `fill_interval`; the bucket starts full and a
//! denied request gets a 429). Envoy adds `tokens_per_fill` at each `fill_interval`
//! tick; here the same rate is credited continuously, the limit of small fill
//! intervals, so that no timer is needed and the answer to "when may I retry" is
//! exact.
//!
//! [`Gcra`] is the Generic Cell Rate Algorithm as the Rust crate **governor** implements
//! it (repository boinkor-net/governor, `governor/src/gcra.rs`): emission interval
//! `T = period / rate`, tolerance `τ = T · (burst − 1)`; a cell conforms iff
//! `now >= TAT − τ`, and then `TAT = max(TAT, now) + T`; a denial says when to retry:
//! at `TAT − τ`. It is the same limiter as a token bucket of capacity `burst` refilled
//! one token per `T` (a test checks the two agree exactly), in one integer of state.
//!
//! All arithmetic is in integer nanoseconds, so admissions and retry-afters are exact.

use std::time::Duration;

use super::{ConfigError, Nanos, nanos_of};

/// A rate: `tokens` per `per`.
///
/// ```
/// use std::time::{Duration, Instant};
/// use meshsim_patterns::rate_limit::{Rate, TokenBucket};
///
/// let start = Instant::now();
/// let rate = Rate { tokens: 3, per: Duration::from_secs(2) }; // 1.5 per second
/// let mut bucket = TokenBucket::new(rate, 1)?;
/// let now = start.elapsed().as_nanos() as u64;
/// assert!(bucket.try_acquire(now).is_ok());
/// let wait = bucket.try_acquire(now).unwrap_err().0;
/// assert_eq!(wait, Duration::from_nanos(666_666_667)); // ceil(2 s / 3)
/// # Ok::<(), meshsim_patterns::ConfigError>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rate {
    /// Tokens credited per period, at least 1.
    pub tokens: u64,
    /// The period, at least 1 ns.
    pub per: Duration,
}

impl Rate {
    /// `tokens` per second.
    pub const fn per_second(tokens: u64) -> Rate {
        Rate {
            tokens,
            per: Duration::from_secs(1),
        }
    }
}

/// A denial, with how long to wait before a request would be admitted (if nothing
/// else is admitted meanwhile). For a `Retry-After` header.
///
/// ```
/// use std::time::{Duration, Instant};
/// use meshsim_patterns::rate_limit::{Gcra, RetryAfter};
///
/// let start = Instant::now();
/// let mut gcra = Gcra::per_second(1, 1)?;
/// let now = start.elapsed().as_nanos() as u64;
/// gcra.try_acquire(now).unwrap();
/// assert_eq!(gcra.try_acquire(now), Err(RetryAfter(Duration::from_secs(1))));
/// # Ok::<(), meshsim_patterns::ConfigError>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct RetryAfter(pub Duration);

/// A token bucket: capacity `burst`, refilled continuously at `rate`, full at its
/// first use.
///
/// Its level is kept in integer units where one token is `rate.per` in nanoseconds and
/// each nanosecond credits `rate.tokens` units, so refill has no rounding.
///
/// ```
/// use std::time::{Duration, Instant};
/// use meshsim_patterns::rate_limit::{Rate, TokenBucket};
///
/// let start = Instant::now();
/// let mut bucket = TokenBucket::new(Rate::per_second(10), 5)?;
/// let now = start.elapsed().as_nanos() as u64;
/// let admitted = (0..8).filter(|_| bucket.try_acquire(now).is_ok()).count();
/// assert_eq!(admitted, 5); // the burst
/// let retry_after = bucket.try_acquire(now).unwrap_err().0;
/// assert_eq!(retry_after, Duration::from_millis(100)); // one token per 100 ms
/// assert!(bucket.try_acquire(now + 100_000_000).is_ok());
/// # Ok::<(), meshsim_patterns::ConfigError>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TokenBucket {
    rate: Rate,
    /// Units per token: `rate.per` in nanoseconds.
    unit: u128,
    capacity: u128,
    level: u128,
    last: Option<Nanos>,
}

impl TokenBucket {
    /// A full bucket of `burst` tokens refilled at `rate`.
    pub fn new(rate: Rate, burst: u64) -> Result<TokenBucket, ConfigError> {
        let error = |field, reason| Err(ConfigError::new("token_bucket", field, reason));
        if rate.tokens == 0 {
            return error("rate.tokens", "must be at least 1");
        }
        if rate.per.is_zero() {
            return error("rate.per", "must be positive");
        }
        if burst == 0 {
            return error("burst", "must be at least 1");
        }
        let unit = u128::from(nanos_of(rate.per));
        let capacity = unit * u128::from(burst);
        Ok(TokenBucket {
            rate,
            unit,
            capacity,
            level: capacity,
            last: None,
        })
    }

    fn refill(&mut self, now: Nanos) {
        let last = *self.last.get_or_insert(now);
        debug_assert!(now >= last, "time went backwards");
        let elapsed = u128::from(now.saturating_sub(last));
        self.level = (self.level + elapsed * u128::from(self.rate.tokens)).min(self.capacity);
        self.last = Some(now.max(last));
    }

    /// Takes one token at `now`, or says how long until one is available.
    pub fn try_acquire(&mut self, now: Nanos) -> Result<(), RetryAfter> {
        self.refill(now);
        if self.level >= self.unit {
            self.level -= self.unit;
            return Ok(());
        }
        let missing = self.unit - self.level;
        let wait = missing.div_ceil(u128::from(self.rate.tokens));
        Err(RetryAfter(Duration::from_nanos(
            u64::try_from(wait).unwrap_or(u64::MAX),
        )))
    }

    /// Whole tokens available at `now`.
    pub fn available(&mut self, now: Nanos) -> u64 {
        self.refill(now);
        u64::try_from(self.level / self.unit).unwrap_or(u64::MAX)
    }
}

/// GCRA with governor's semantics: one integer of state (the theoretical arrival
/// time), `burst` cells at once, one more per emission interval.
///
/// ```
/// use std::time::{Duration, Instant};
/// use meshsim_patterns::rate_limit::{Gcra, RetryAfter};
///
/// let start = Instant::now();
/// // governor's `Quota::per_second(5).allow_burst(2)`: T = 200 ms, τ = 200 ms.
/// let mut gcra = Gcra::per_second(5, 2)?;
/// let now = start.elapsed().as_nanos() as u64;
/// assert!(gcra.try_acquire(now).is_ok());
/// assert!(gcra.try_acquire(now).is_ok());
/// assert_eq!(gcra.try_acquire(now), Err(RetryAfter(Duration::from_millis(200))));
/// # Ok::<(), meshsim_patterns::ConfigError>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Gcra {
    t: Nanos,
    tau: Nanos,
    tat: Option<Nanos>,
}

impl Gcra {
    /// One cell per `replenish_one_per` (the emission interval T), bursts of `burst`
    /// (governor `Quota::with_period(..).allow_burst(..)`).
    pub fn new(replenish_one_per: Duration, burst: u32) -> Result<Gcra, ConfigError> {
        if burst == 0 {
            return Err(ConfigError::new("gcra", "burst", "must be at least 1"));
        }
        // governor: `t = max(replenish_1_per, 1 ns)`.
        let t = nanos_of(replenish_one_per).max(1);
        Ok(Gcra {
            t,
            tau: t.saturating_mul(u64::from(burst - 1)),
            tat: None,
        })
    }

    /// `rate` cells per second (T = 1 s / rate, in whole nanoseconds as governor's
    /// `Quota::per_second`), bursts of `burst`.
    pub fn per_second(rate: u32, burst: u32) -> Result<Gcra, ConfigError> {
        if rate == 0 {
            return Err(ConfigError::new("gcra", "rate", "must be at least 1"));
        }
        Gcra::new(Duration::from_secs(1) / rate, burst)
    }

    /// The emission interval T.
    pub fn emission_interval(&self) -> Duration {
        Duration::from_nanos(self.t)
    }

    /// Tests one cell at `now` and, if it conforms, counts it.
    pub fn try_acquire(&mut self, now: Nanos) -> Result<(), RetryAfter> {
        let tat = self.tat.unwrap_or(now);
        let earliest = tat.saturating_sub(self.tau);
        if now < earliest {
            return Err(RetryAfter(Duration::from_nanos(earliest - now)));
        }
        self.tat = Some(tat.max(now).saturating_add(self.t));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const MS: u64 = 1_000_000;
    const SEC: u64 = 1_000_000_000;

    #[test]
    fn token_bucket_burst_then_rate() {
        let mut bucket = TokenBucket::new(Rate::per_second(10), 5).unwrap();
        let mut decisions = Vec::new();
        for t in [0, 0, 0, 0, 0, 0, 50, 100, 100, 250, 1_000] {
            decisions.push(bucket.try_acquire(t * MS).map_err(|r| nanos_of(r.0) / MS));
        }
        assert_eq!(
            decisions,
            [
                Ok(()),
                Ok(()),
                Ok(()),
                Ok(()),
                Ok(()),
                Err(100),
                Err(50),
                Ok(()),
                Err(100),
                Ok(()),
                Ok(()),
            ]
        );
        // At 1 s, 0.5 + 7.5 tokens were capped at 5 (one taken); by 2 s it is full.
        assert_eq!(bucket.available(2 * SEC), 5);
    }

    #[test]
    fn token_bucket_fractional_rates_are_exact() {
        // 3 per second: a token every 333 333 333.3 ns; after the burst of 2 is
        // spent at 0, the third refill lands at exactly 1 s.
        let mut bucket = TokenBucket::new(Rate::per_second(3), 2).unwrap();
        bucket.try_acquire(0).unwrap();
        bucket.try_acquire(0).unwrap();
        assert_eq!(
            bucket.try_acquire(0),
            Err(RetryAfter(Duration::from_nanos(333_333_334)))
        );
        bucket.try_acquire(333_333_334).unwrap();
        bucket.try_acquire(666_666_667).unwrap();
        assert!(bucket.try_acquire(999_999_999).is_err());
        bucket.try_acquire(SEC).unwrap();
        assert_eq!(
            TokenBucket::new(Rate::per_second(0), 1).unwrap_err().field,
            "rate.tokens"
        );
        let zero_period = Rate {
            tokens: 1,
            per: Duration::ZERO,
        };
        assert_eq!(
            TokenBucket::new(zero_period, 1).unwrap_err().field,
            "rate.per"
        );
    }

    #[test]
    fn gcra_mirrors_governor() {
        // governor gcra.rs `notuntil_impls`: per_second(1): the first check passes,
        // the second is "rate-limited until Nanos(1s)".
        let mut gcra = Gcra::per_second(1, 1).unwrap();
        assert!(gcra.try_acquire(0).is_ok());
        assert_eq!(gcra.try_acquire(0), Err(RetryAfter(Duration::from_secs(1))));
        assert!(gcra.try_acquire(SEC).is_ok());
        // A burst of 3 at 10 per second, then one every 100 ms.
        let mut gcra = Gcra::per_second(10, 3).unwrap();
        assert_eq!(gcra.emission_interval(), Duration::from_millis(100));
        let admitted = (0..5).filter(|_| gcra.try_acquire(0).is_ok()).count();
        assert_eq!(admitted, 3);
        assert_eq!(
            gcra.try_acquire(50 * MS),
            Err(RetryAfter(Duration::from_millis(50)))
        );
        assert!(gcra.try_acquire(100 * MS).is_ok());
        assert!(gcra.try_acquire(100 * MS).is_err());
        // Idle time refills at most the burst.
        let admitted = (0..10)
            .filter(|_| gcra.try_acquire(100 * SEC).is_ok())
            .count();
        assert_eq!(admitted, 3);
        assert_eq!(Gcra::per_second(0, 1).unwrap_err().field, "rate");
        assert_eq!(Gcra::per_second(1, 0).unwrap_err().field, "burst");
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        /// A token bucket never admits more than burst + rate * elapsed, counted from
        /// its first use (when it is full), exactly in integers.
        #[test]
        fn token_bucket_never_admits_more_than_burst_plus_rate_times_elapsed(
            tokens in 1..50u64,
            per_ms in 1..2_000u64,
            burst in 1..20u64,
            gaps in proptest::collection::vec(0..300u64, 1..300),
        ) {
            let rate = Rate { tokens, per: Duration::from_millis(per_ms) };
            let mut bucket = TokenBucket::new(rate, burst).unwrap();
            let per = u128::from(per_ms * MS);
            let mut now = 5 * SEC;
            let first = now;
            let mut admitted: u128 = 0;
            for gap in gaps {
                now += gap * MS / 10;
                match bucket.try_acquire(now) {
                    Ok(()) => admitted += 1,
                    Err(RetryAfter(wait)) => {
                        // The retry-after is exact: one nanosecond earlier is too early.
                        let at = now + nanos_of(wait);
                        let mut probe = bucket;
                        prop_assert!(probe.try_acquire(at).is_ok());
                        let mut early = bucket;
                        prop_assert!(early.try_acquire(at - 1).is_err());
                    }
                }
                let elapsed = u128::from(now - first);
                prop_assert!(
                    admitted * per <= u128::from(burst) * per + u128::from(tokens) * elapsed,
                    "{admitted} admitted in {elapsed} ns"
                );
            }
        }

        /// GCRA makes exactly the decisions of a token bucket of capacity `burst`
        /// refilled one token per T, with the same retry-afters.
        #[test]
        fn gcra_agrees_with_the_token_bucket_it_is_equivalent_to(
            t_ms in 1..500u64,
            burst in 1..10u32,
            gaps in proptest::collection::vec(0..400u64, 1..300),
        ) {
            let t = Duration::from_millis(t_ms);
            let mut gcra = Gcra::new(t, burst).unwrap();
            let mut bucket = TokenBucket::new(Rate { tokens: 1, per: t }, u64::from(burst)).unwrap();
            let mut now = 0;
            let mut admitted = 0u64;
            for gap in gaps {
                now += gap * MS / 4;
                let decision = gcra.try_acquire(now);
                prop_assert_eq!(decision, bucket.try_acquire(now));
                admitted += u64::from(decision.is_ok());
                // governor's conformance bound: at most burst + elapsed / T cells.
                prop_assert!(admitted <= u64::from(burst) + now / (t_ms * MS));
            }
        }
    }
}
