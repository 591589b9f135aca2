//! Retry policy: whether to retry an attempt's outcome, and how long to wait first.
//!
//! Backoff and jitter mirror **Marc Brooker, "Exponential Backoff And Jitter"** (AWS
//! Architecture Blog, 2015; repository aws-samples/aws-arch-backoff-simulator,
//! `src/backoff_simulator.py`): `expo(n) = min(cap, base · 2^n)` (generalised here to
//! any multiplier), no jitter = `expo(n)`, full = `U(0, expo(n))`, equal =
//! `expo(n)/2 + U(0, expo(n)/2)`, decorrelated = `min(cap, U(base, 3 · sleep))`
//! starting from `sleep = base`, with the state kept per retry sequence. Constant and
//! linear backoffs (tenacity's `wait_fixed` / `wait_incrementing`) are offered beside
//! them. A server's retry-after (gRPC A6 "server pushback", HTTP `Retry-After`)
//! replaces the backoff when given; [`RetryState::next_delay_within`] still gives up
//! when the wait would reach the request's deadline. The AWS SDK standard mode (3
//! attempts, full jitter on `min(1 s · 2^(attempt−1), 20 s)`, smithy-rs
//! `aws-smithy-runtime/src/client/retries/strategy/standard.rs`) is
//! [`RetryPolicy::aws_standard`]; gRPC A6 (`U(0, min(initial · mult^(n−1), max))`) is
//! [`RetryPolicy::grpc`].
//!
//! Retry *limits* across requests (budgets, throttles) live in [`super::budget`]; the
//! policy here only sees one request. Randomness is drawn only from the `RngCore`
//! the caller passes, as exact integer nanoseconds.

use std::time::Duration;

use rand::RngCore;

use super::{ConfigError, Nanos, Outcome, OutcomeSet, nanos_of, uniform_inclusive};

/// The most attempts a policy may allow: every retry loop has a bound.
pub const MAX_ATTEMPTS_LIMIT: u32 = 1_000;

/// The un-jittered delay before each retry.
///
/// ```
/// use std::time::{Duration, Instant};
/// use meshsim_patterns::retry::Backoff;
///
/// let start = Instant::now();
/// let backoff = Backoff::Exponential {
///     base: Duration::from_millis(100),
///     multiplier: 2.0,
///     cap: Duration::from_millis(500),
/// };
/// let delays: Vec<u128> = (0..4).map(|n| backoff.delay(n).as_millis()).collect();
/// assert_eq!(delays, [100, 200, 400, 500]);
/// let _now = start.elapsed().as_nanos() as u64;
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Backoff {
    /// The same delay before every retry.
    Constant(Duration),
    /// `min(cap, initial + increment · n)` before retry `n` (0-based).
    Linear {
        /// The delay before the first retry.
        initial: Duration,
        /// Added per further retry.
        increment: Duration,
        /// The largest delay.
        cap: Duration,
    },
    /// `min(cap, base · multiplier^n)` before retry `n` (0-based): Brooker's
    /// `expo(n)` with `multiplier = 2`.
    Exponential {
        /// The delay before the first retry.
        base: Duration,
        /// Growth per retry, at least 1.
        multiplier: f64,
        /// The largest delay.
        cap: Duration,
    },
}

impl Backoff {
    /// The un-jittered delay before retry `n` (0 = the first retry).
    pub fn delay(&self, n: u32) -> Duration {
        Duration::from_nanos(self.delay_nanos(n))
    }

    fn delay_nanos(&self, n: u32) -> Nanos {
        match *self {
            Backoff::Constant(delay) => nanos_of(delay),
            Backoff::Linear {
                initial,
                increment,
                cap,
            } => nanos_of(initial)
                .saturating_add(nanos_of(increment).saturating_mul(u64::from(n)))
                .min(nanos_of(cap)),
            Backoff::Exponential {
                base,
                multiplier,
                cap,
            } => {
                let cap = nanos_of(cap);
                let mut delay = nanos_of(base) as f64;
                // Repeated multiplication (exact IEEE operations, no powf), stopping
                // at the cap.
                if multiplier > 1.0 {
                    for _ in 0..n {
                        delay *= multiplier;
                        if delay >= cap as f64 {
                            break;
                        }
                    }
                }
                (delay as u64).min(cap)
            }
        }
    }

    /// `(base, cap)`: the first delay and the largest, which decorrelated jitter uses.
    fn base_and_cap(&self) -> (Nanos, Nanos) {
        match *self {
            Backoff::Constant(delay) => (nanos_of(delay), nanos_of(delay)),
            Backoff::Linear { initial, cap, .. } => (nanos_of(initial), nanos_of(cap)),
            Backoff::Exponential { base, cap, .. } => (nanos_of(base), nanos_of(cap)),
        }
    }
}

/// How the backoff is randomised (Brooker 2015).
///
/// ```
/// use std::time::{Duration, Instant};
/// use rand::SeedableRng;
/// use meshsim_patterns::Outcome;
/// use meshsim_patterns::retry::{Backoff, Jitter, RetryPolicy, RetryState};
///
/// let start = Instant::now();
/// let policy = RetryPolicy {
///     backoff: Backoff::Constant(Duration::from_millis(100)),
///     jitter: Jitter::Equal,
///     ..RetryPolicy::default()
/// };
/// let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(start.elapsed().as_nanos() as u64);
/// let delay = RetryState::new(&policy).next_delay(Outcome::Error, None, &mut rng).unwrap();
/// assert!(delay >= Duration::from_millis(50) && delay <= Duration::from_millis(100));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Jitter {
    /// `expo(n)`.
    None,
    /// `U(0, expo(n))`.
    Full,
    /// `expo(n)/2 + U(0, expo(n)/2)`.
    Equal,
    /// `min(cap, U(base, 3 · previous sleep))`, starting from `base`; uses only the
    /// backoff's base and cap (its first delay and its largest).
    Decorrelated,
}

/// A retry policy for one request. The default: 3 attempts (Google SRE, AWS
/// standard), retry errors, timeouts and rejections (not an open breaker), Envoy's
/// route backoff (25 ms base, doubling, capped at 250 ms, full jitter), honour
/// retry-after.
///
/// ```
/// use std::time::{Duration, Instant};
/// use rand::SeedableRng;
/// use meshsim_patterns::{Outcome, OutcomeSet};
/// use meshsim_patterns::retry::{RetryPolicy, RetryState};
///
/// let start = Instant::now();
/// let policy = RetryPolicy {
///     max_attempts: 2,
///     retry_on: OutcomeSet::of(&[Outcome::Timeout]),
///     ..RetryPolicy::default()
/// };
/// policy.validate()?;
/// let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
/// let mut retry = RetryState::new(&policy);
/// assert_eq!(retry.next_delay(Outcome::Error, None, &mut rng), None); // not retryable
/// let mut retry = RetryState::new(&policy);
/// assert!(retry.next_delay(Outcome::Timeout, None, &mut rng).is_some());
/// assert_eq!(retry.next_delay(Outcome::Timeout, None, &mut rng), None); // 2 attempts made
/// let _now = start.elapsed().as_nanos() as u64;
/// # Ok::<(), meshsim_patterns::ConfigError>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RetryPolicy {
    /// Attempts in total, the first included: 1 means never retry. At most
    /// [`MAX_ATTEMPTS_LIMIT`].
    pub max_attempts: u32,
    /// Outcomes worth another attempt.
    pub retry_on: OutcomeSet,
    /// The delay before each retry.
    pub backoff: Backoff,
    /// How the delay is randomised.
    pub jitter: Jitter,
    /// Wait for a server's retry-after, when it gives one, instead of the backoff.
    pub honour_retry_after: bool,
    /// When honouring a retry-after, wait it plus a uniform draw in
    /// `[0, retry_after_jitter]`: the clients a shared limiter refused in
    /// one gap are all told the same instant, and without a spread they
    /// all come back at it and all but one are refused again (a herd).
    /// Zero: the hint exactly.
    pub retry_after_jitter: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 3,
            retry_on: OutcomeSet::of(&[Outcome::Error, Outcome::Timeout, Outcome::Rejected]),
            backoff: Backoff::Exponential {
                base: Duration::from_millis(25),
                multiplier: 2.0,
                cap: Duration::from_millis(250),
            },
            jitter: Jitter::Full,
            honour_retry_after: true,
            retry_after_jitter: Duration::ZERO,
        }
    }
}

impl RetryPolicy {
    /// The AWS SDK standard mode: 3 attempts, full jitter on
    /// `min(1 s · 2^(attempt − 1), 20 s)`.
    pub fn aws_standard() -> RetryPolicy {
        RetryPolicy {
            max_attempts: 3,
            backoff: Backoff::Exponential {
                base: Duration::from_secs(1),
                multiplier: 2.0,
                cap: Duration::from_secs(20),
            },
            jitter: Jitter::Full,
            ..RetryPolicy::default()
        }
    }

    /// gRPC A6: `U(0, min(initial_backoff · multiplier^(n − 1), max_backoff))` before
    /// retry `n` (1-based), `max_attempts` capped at 5 as gRPC clients do.
    pub fn grpc(
        max_attempts: u32,
        initial_backoff: Duration,
        backoff_multiplier: f64,
        max_backoff: Duration,
    ) -> RetryPolicy {
        RetryPolicy {
            max_attempts: max_attempts.min(5),
            backoff: Backoff::Exponential {
                base: initial_backoff,
                multiplier: backoff_multiplier,
                cap: max_backoff,
            },
            jitter: Jitter::Full,
            ..RetryPolicy::default()
        }
    }

    /// Checks the policy; [`RetryState::new`] assumes a valid one.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let error = |field, reason| Err(ConfigError::new("retry", field, reason));
        if self.max_attempts == 0 || self.max_attempts > MAX_ATTEMPTS_LIMIT {
            return error("max_attempts", "must be in 1..=1000");
        }
        if self.retry_on.contains(Outcome::Success) {
            return error("retry_on", "must not contain success");
        }
        match self.backoff {
            Backoff::Constant(_) => {}
            Backoff::Linear { initial, cap, .. } => {
                if cap < initial {
                    return error("backoff.cap", "must be at least the initial delay");
                }
            }
            Backoff::Exponential {
                base,
                multiplier,
                cap,
            } => {
                if !(multiplier.is_finite() && multiplier >= 1.0) {
                    return error("backoff.multiplier", "must be finite and at least 1");
                }
                if cap < base {
                    return error("backoff.cap", "must be at least the base delay");
                }
            }
        }
        if self.jitter == Jitter::Decorrelated && self.backoff.base_and_cap().0 == 0 {
            // Each sleep is drawn from [base, 3 × the last]: all would be 0.
            return error(
                "jitter",
                "decorrelated jitter needs a first delay above zero",
            );
        }
        Ok(())
    }
}

/// The retry state of one request: attempts made so far and, for decorrelated
/// jitter, the previous sleep.
///
/// Create it when the request's first attempt starts; after each attempt ends, ask
/// [`next_delay`](Self::next_delay): `Some(delay)` = wait that long, then make the
/// next attempt; `None` = give up (the outcome is final).
///
/// ```
/// use std::time::{Duration, Instant};
/// use rand::SeedableRng;
/// use meshsim_patterns::Outcome;
/// use meshsim_patterns::retry::{Backoff, Jitter, RetryPolicy, RetryState};
///
/// let start = Instant::now();
/// let policy = RetryPolicy {
///     max_attempts: 4,
///     backoff: Backoff::Exponential {
///         base: Duration::from_millis(100),
///         multiplier: 2.0,
///         cap: Duration::from_secs(1),
///     },
///     jitter: Jitter::None,
///     ..RetryPolicy::default()
/// };
/// let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(1);
/// let mut retry = RetryState::new(&policy);
/// let mut delays = Vec::new();
/// while let Some(delay) = retry.next_delay(Outcome::Timeout, None, &mut rng) {
///     delays.push(delay.as_millis());
/// }
/// assert_eq!(delays, [100, 200, 400]);
/// assert_eq!(retry.attempts(), 4);
/// // A server's retry-after replaces the backoff.
/// let mut retry = RetryState::new(&policy);
/// let now = start.elapsed().as_nanos() as u64;
/// let wait = retry.next_delay(Outcome::Rejected, Some(Duration::from_secs(2)), &mut rng);
/// assert_eq!(wait, Some(Duration::from_secs(2)));
/// assert!(now < u64::MAX);
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RetryState {
    policy: RetryPolicy,
    attempts: u32,
    previous_sleep: Nanos,
}

impl RetryState {
    /// The state of a request whose first attempt is being made.
    pub fn new(policy: &RetryPolicy) -> RetryState {
        debug_assert_eq!(policy.validate(), Ok(()));
        RetryState {
            policy: *policy,
            attempts: 1,
            previous_sleep: policy.backoff.base_and_cap().0,
        }
    }

    /// Attempts made so far (started), the first included.
    pub fn attempts(&self) -> u32 {
        self.attempts
    }

    /// After an attempt ended with `outcome` (and perhaps a server retry-after):
    /// the delay before the next attempt, or `None` to give up (success, an outcome
    /// not retried, or no attempts left). A `Some` counts the next attempt as made.
    pub fn next_delay(
        &mut self,
        outcome: Outcome,
        retry_after: Option<Duration>,
        rng: &mut impl RngCore,
    ) -> Option<Duration> {
        if outcome == Outcome::Success || !self.policy.retry_on.contains(outcome) {
            return None;
        }
        if self.attempts >= self.policy.max_attempts {
            return None;
        }
        let retry_index = self.attempts - 1;
        let delay = match retry_after {
            Some(after) if self.policy.honour_retry_after => {
                let spread = nanos_of(self.policy.retry_after_jitter);
                let extra = if spread > 0 {
                    uniform_inclusive(rng, 0, spread)
                } else {
                    0
                };
                nanos_of(after).saturating_add(extra)
            }
            _ => self.backoff(retry_index, rng),
        };
        self.attempts += 1;
        Some(Duration::from_nanos(delay))
    }

    /// As [`next_delay`](Self::next_delay), but also gives up when the delay would use
    /// all of `remaining` (the deadline's remaining time): an attempt that could only
    /// start at or after the deadline is never started, however long a server asked
    /// us to wait.
    pub fn next_delay_within(
        &mut self,
        outcome: Outcome,
        retry_after: Option<Duration>,
        remaining: Duration,
        rng: &mut impl RngCore,
    ) -> Option<Duration> {
        self.next_delay(outcome, retry_after, rng)
            .filter(|delay| *delay < remaining)
    }

    fn backoff(&mut self, retry_index: u32, rng: &mut impl RngCore) -> Nanos {
        let expo = self.policy.backoff.delay_nanos(retry_index);
        match self.policy.jitter {
            Jitter::None => expo,
            Jitter::Full => uniform_inclusive(rng, 0, expo),
            // expo/2 + U(0, expo/2), in whole nanoseconds: ceil(expo/2) + U(0, floor(expo/2)).
            Jitter::Equal => uniform_inclusive(rng, expo - expo / 2, expo),
            Jitter::Decorrelated => {
                let (base, cap) = self.policy.backoff.base_and_cap();
                let upper = self.previous_sleep.saturating_mul(3).max(base);
                let sleep = uniform_inclusive(rng, base, upper).min(cap);
                self.previous_sleep = sleep;
                sleep
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    const MS: u64 = 1_000_000;

    fn exponential(base_ms: u64, multiplier: f64, cap_ms: u64) -> Backoff {
        Backoff::Exponential {
            base: Duration::from_millis(base_ms),
            multiplier,
            cap: Duration::from_millis(cap_ms),
        }
    }

    fn delays(policy: &RetryPolicy, outcome: Outcome, seed: u64) -> Vec<u64> {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let mut retry = RetryState::new(policy);
        std::iter::from_fn(|| retry.next_delay(outcome, None, &mut rng))
            .map(|d| nanos_of(d) / MS)
            .collect()
    }

    #[test]
    fn unjittered_backoffs_follow_their_formulas() {
        let check = |backoff: Backoff, expected: &[u64]| {
            let policy = RetryPolicy {
                max_attempts: expected.len() as u32 + 1,
                backoff,
                jitter: Jitter::None,
                ..RetryPolicy::default()
            };
            policy.validate().unwrap();
            assert_eq!(delays(&policy, Outcome::Error, 0), expected, "{backoff:?}");
        };
        // Brooker: expo(n) = min(cap, base * 2^n).
        check(
            exponential(100, 2.0, 1_000),
            &[100, 200, 400, 800, 1_000, 1_000],
        );
        check(exponential(10, 3.0, 1_000), &[10, 30, 90, 270, 810, 1_000]);
        check(exponential(50, 1.0, 1_000), &[50, 50, 50]);
        check(Backoff::Constant(Duration::from_millis(7)), &[7, 7, 7]);
        check(
            Backoff::Linear {
                initial: Duration::from_millis(100),
                increment: Duration::from_millis(50),
                cap: Duration::from_millis(220),
            },
            &[100, 150, 200, 220],
        );
    }

    #[test]
    fn attempts_are_bounded_and_only_retryable_outcomes_retry() {
        let policy = RetryPolicy {
            jitter: Jitter::None,
            backoff: exponential(25, 2.0, 250),
            ..RetryPolicy::default()
        };
        // 3 attempts: 2 retries.
        assert_eq!(delays(&policy, Outcome::Error, 0), [25, 50]);
        assert_eq!(delays(&policy, Outcome::Timeout, 0), [25, 50]);
        assert_eq!(delays(&policy, Outcome::Rejected, 0), [25, 50]);
        assert_eq!(delays(&policy, Outcome::BreakerOpen, 0), [] as [u64; 0]);
        assert_eq!(delays(&policy, Outcome::Success, 0), [] as [u64; 0]);
        let policy = RetryPolicy {
            retry_on: policy.retry_on.with(Outcome::BreakerOpen),
            max_attempts: 1,
            ..policy
        };
        assert_eq!(delays(&policy, Outcome::BreakerOpen, 0), [] as [u64; 0]);
        let policy = RetryPolicy {
            max_attempts: 2,
            ..policy
        };
        assert_eq!(delays(&policy, Outcome::BreakerOpen, 0), [25]);
    }

    #[test]
    fn a_spread_retry_after_waits_the_hint_plus_at_most_the_spread() {
        let policy = RetryPolicy {
            max_attempts: 1000,
            retry_on: OutcomeSet::of(&[Outcome::Rejected]),
            retry_after_jitter: Duration::from_millis(20),
            ..RetryPolicy::default()
        };
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(5);
        let mut retry = RetryState::new(&policy);
        let hint = Some(Duration::from_millis(10));
        let delays: Vec<Duration> = (0..500)
            .map(|_| retry.next_delay(Outcome::Rejected, hint, &mut rng).unwrap())
            .collect();
        let (lo, hi) = (Duration::from_millis(10), Duration::from_millis(30));
        assert!(delays.iter().all(|d| (lo..=hi).contains(d)), "{delays:?}");
        // Spread over the whole range: some in each quarter of it.
        for q in 0..4u64 {
            let start = lo + Duration::from_millis(5 * q);
            let end = start + Duration::from_millis(5);
            assert!(
                delays.iter().any(|d| (start..end).contains(d)),
                "quarter {q}"
            );
        }
    }

    #[test]
    fn retry_after_replaces_the_backoff_but_not_the_deadline() {
        let policy = RetryPolicy {
            jitter: Jitter::None,
            backoff: exponential(25, 2.0, 250),
            ..RetryPolicy::default()
        };
        let mut rng = ChaCha8Rng::seed_from_u64(0);
        let mut retry = RetryState::new(&policy);
        let after = Some(Duration::from_secs(3));
        assert_eq!(
            retry.next_delay(Outcome::Rejected, after, &mut rng),
            Some(Duration::from_secs(3))
        );
        // Attempt 2 of 3; the next retry would be retry 1 = 50 ms.
        assert_eq!(
            retry.next_delay(Outcome::Error, None, &mut rng),
            Some(Duration::from_millis(50))
        );
        // Within a deadline: a retry-after that reaches it means give up.
        let mut retry = RetryState::new(&policy);
        let remaining = Duration::from_secs(3);
        assert_eq!(
            retry.next_delay_within(Outcome::Rejected, after, remaining, &mut rng),
            None
        );
        let mut retry = RetryState::new(&policy);
        assert_eq!(
            retry.next_delay_within(Outcome::Rejected, None, remaining, &mut rng),
            Some(Duration::from_millis(25))
        );
        // Not honoured: the backoff applies.
        let ignoring = RetryPolicy {
            honour_retry_after: false,
            ..policy
        };
        let mut retry = RetryState::new(&ignoring);
        assert_eq!(
            retry.next_delay(Outcome::Rejected, after, &mut rng),
            Some(Duration::from_millis(25))
        );
    }

    #[test]
    fn jitter_means_are_those_of_brookers_formulas() {
        // Full jitter on a constant 100 ms has mean 50 ms; equal jitter 75 ms.
        // 4000 draws: the standard error is under 0.5 ms, so ±2 ms is > 4 sigma.
        let mean = |jitter: Jitter| {
            let policy = RetryPolicy {
                max_attempts: 2,
                backoff: Backoff::Constant(Duration::from_millis(100)),
                jitter,
                ..RetryPolicy::default()
            };
            let mut rng = ChaCha8Rng::seed_from_u64(42);
            let total: u64 = (0..4000)
                .map(|_| {
                    let mut retry = RetryState::new(&policy);
                    nanos_of(retry.next_delay(Outcome::Error, None, &mut rng).unwrap())
                })
                .sum();
            total as f64 / 4000.0 / MS as f64
        };
        assert!(
            (mean(Jitter::Full) - 50.0).abs() < 2.0,
            "{}",
            mean(Jitter::Full)
        );
        assert!(
            (mean(Jitter::Equal) - 75.0).abs() < 2.0,
            "{}",
            mean(Jitter::Equal)
        );
    }

    #[test]
    fn decorrelated_jitter_starts_at_base_for_each_request() {
        let policy = RetryPolicy {
            max_attempts: 50,
            backoff: exponential(10, 2.0, 1_000),
            jitter: Jitter::Decorrelated,
            ..RetryPolicy::default()
        };
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let mut retry = RetryState::new(&policy);
        // The first sleep is U(base, 3 * base).
        let first = nanos_of(retry.next_delay(Outcome::Error, None, &mut rng).unwrap());
        assert!((10 * MS..=30 * MS).contains(&first));
        let seq = delays(&policy, Outcome::Error, 3);
        assert_eq!(seq.len(), 49);
        assert!(seq.contains(&1_000), "reaches the cap: {seq:?}");
    }

    #[test]
    fn same_seed_same_delays() {
        let policy = RetryPolicy {
            max_attempts: 10,
            jitter: Jitter::Decorrelated,
            ..RetryPolicy::default()
        };
        assert_eq!(
            delays(&policy, Outcome::Error, 9),
            delays(&policy, Outcome::Error, 9)
        );
    }

    #[test]
    fn presets_and_validation() {
        let aws = RetryPolicy::aws_standard();
        assert_eq!(aws.max_attempts, 3);
        assert_eq!(aws.backoff.delay(0), Duration::from_secs(1));
        assert_eq!(aws.backoff.delay(10), Duration::from_secs(20));
        let grpc = RetryPolicy::grpc(9, Duration::from_millis(100), 1.5, Duration::from_secs(1));
        assert_eq!(grpc.max_attempts, 5);
        assert_eq!(grpc.backoff.delay(1), Duration::from_millis(150));
        let check = |policy: RetryPolicy, field: &str| {
            assert_eq!(policy.validate().unwrap_err().field, field);
        };
        let base = RetryPolicy::default();
        check(
            RetryPolicy {
                backoff: Backoff::Constant(Duration::ZERO),
                jitter: Jitter::Decorrelated,
                ..base
            },
            "jitter",
        );
        check(
            RetryPolicy {
                max_attempts: 0,
                ..base
            },
            "max_attempts",
        );
        check(
            RetryPolicy {
                max_attempts: 1_001,
                ..base
            },
            "max_attempts",
        );
        check(
            RetryPolicy {
                retry_on: OutcomeSet::of(&[Outcome::Success]),
                ..base
            },
            "retry_on",
        );
        check(
            RetryPolicy {
                backoff: exponential(10, 0.5, 100),
                ..base
            },
            "backoff.multiplier",
        );
        check(
            RetryPolicy {
                backoff: exponential(10, f64::NAN, 100),
                ..base
            },
            "backoff.multiplier",
        );
        check(
            RetryPolicy {
                backoff: exponential(10, 2.0, 5),
                ..base
            },
            "backoff.cap",
        );
    }

    fn jitter() -> impl Strategy<Value = Jitter> {
        prop_oneof![
            Just(Jitter::None),
            Just(Jitter::Full),
            Just(Jitter::Equal),
            Just(Jitter::Decorrelated)
        ]
    }

    fn backoff() -> impl Strategy<Value = Backoff> {
        prop_oneof![
            (0..1_000_000_000u64).prop_map(|d| Backoff::Constant(Duration::from_nanos(d))),
            (1..1_000_000u64, 0..1_000_000u64, 0..100_000_000u64).prop_map(|(i, inc, extra)| {
                Backoff::Linear {
                    initial: Duration::from_nanos(i),
                    increment: Duration::from_nanos(inc),
                    cap: Duration::from_nanos(i + extra),
                }
            }),
            (1..1_000_000u64, 1.0..10.0f64, 0..10_000_000_000u64).prop_map(|(b, m, extra)| {
                Backoff::Exponential {
                    base: Duration::from_nanos(b),
                    multiplier: m,
                    cap: Duration::from_nanos(b + extra),
                }
            }),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        /// Every jitter mode stays within its formula's bounds and under the cap,
        /// for every retry of a sequence.
        #[test]
        fn backoff_delays_stay_within_their_bounds_and_caps(
            backoff in backoff(),
            jitter in jitter(),
            seed in any::<u64>(),
            max_attempts in 1..40u32,
        ) {
            let policy = RetryPolicy { max_attempts, backoff, jitter, ..RetryPolicy::default() };
            prop_assert_eq!(policy.validate(), Ok(()));
            let (base, cap) = backoff.base_and_cap();
            let mut rng = ChaCha8Rng::seed_from_u64(seed);
            let mut retry = RetryState::new(&policy);
            let mut previous = base;
            let mut n = 0;
            while let Some(delay) = retry.next_delay(Outcome::Error, None, &mut rng) {
                let delay = nanos_of(delay);
                let expo = backoff.delay_nanos(n);
                prop_assert!(expo <= cap);
                prop_assert!(delay <= cap, "delay {delay} > cap {cap}");
                match jitter {
                    Jitter::None => prop_assert_eq!(delay, expo),
                    Jitter::Full => prop_assert!(delay <= expo),
                    Jitter::Equal => {
                        prop_assert!(delay <= expo);
                        prop_assert!(2 * delay >= expo, "equal jitter {delay} < {expo}/2");
                    }
                    Jitter::Decorrelated => {
                        prop_assert!(delay >= base.min(cap));
                        prop_assert!(delay <= previous.saturating_mul(3).max(base));
                        previous = delay;
                    }
                }
                n += 1;
            }
            prop_assert_eq!(n, max_attempts - 1);
            prop_assert_eq!(retry.attempts(), max_attempts);
        }
    }
}
