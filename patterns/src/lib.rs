//! Resilience patterns as plain, clock-injected state machines.
//!
//! Each file here is one pattern a client (or gateway) applies on an edge of a
//! microservice graph: a [circuit breaker](breaker), a [retry policy](retry),
//! [retry limiters](budget), a [bulkhead], [rate limiters](rate_limit),
//! [hedged requests](hedge) and [deadlines](deadline); and, for how a caller finds and
//! picks its backends, [discovery, health checks and load balancing](discovery); and,
//! for how many instances a service runs, a [horizontal autoscaler](autoscale); and, for
//! the single entry point in front of it all, an [API gateway's decisions](gateway)
//! (routing, canary splits, authentication, aggregation, load shedding); and, for a
//! transaction across services, [sagas](saga) (an orchestrator with a durable log and
//! crash recovery, idempotent participants, and the invariants they keep); and, for
//! events between services, [messaging] (Kafka's partitioner and range
//! assignor, an idempotent consumer's dedupe window). Each
//! mirrors the semantics of a named production system (resilience4j, Polly, Hystrix,
//! pybreaker, Brooker's backoff, gRPC A6, the AWS SDKs, Finagle/tower, Google SRE,
//! governor, Consul, Eureka, Envoy, Kubernetes, Kong, AWS API Gateway, Garcia-Molina
//! and Salem, Richardson, Temporal, Kafka), cited at the
//! top of its file, so a simulated system behaves like the one its users run.
//!
//! # The sans-IO contract
//!
//! The patterns follow the shape of quinn-proto and tower: they do no I/O and know
//! nothing of the simulator. The compiler enforces the second half: this is a crate of
//! its own that depends on nothing of meshsim (only on `rand`, for `RngCore`), so no
//! pattern can name a kernel, world or scenario type, and a real service can depend
//! on this crate and drive the same state machines with its own clock. No pattern
//! reads a clock, sleeps, spawns a task, or allocates per call (every buffer is sized
//! at construction). Their methods come in four kinds:
//!
//! - getters (`state()`, `remaining(now)`, ...);
//! - commands that take the current time and decide (`try_acquire(now)`,
//!   `try_enter(now, waiter)`, `next_delay(..)`);
//! - `handle_*` inputs (`handle_timeout(now)`), where a spurious call is a safe no-op;
//! - `poll_*` outputs (`poll_timeout()` = when to call `handle_timeout` next,
//!   `poll_transition()`, ...).
//!
//! Randomness comes only from the `&mut impl RngCore` a caller passes in, so the
//! owner decides which seeded stream a decision draws from. Time never goes backwards:
//! every pattern asserts (in debug builds) that the `now` it is given is not earlier
//! than the last one.
//!
//! # Time: [`Nanos`]
//!
//! `now` is a [`Nanos`]: whole nanoseconds since an arbitrary, fixed, monotonic epoch
//! chosen by the owner. In meshsim the epoch is the start of the run and `now` is the
//! kernel's virtual time. Outside the simulator, derive it from
//! [`std::time::Instant`]: take one `start = Instant::now()` when the process (or the
//! component) starts, and pass `start.elapsed().as_nanos() as u64` (which lasts 584
//! years). Durations in configurations are [`std::time::Duration`]; results that are
//! spans are `Duration` too.
//!
//! ```
//! use std::time::Instant;
//! use meshsim_patterns::Nanos;
//!
//! let start = Instant::now();
//! let now: Nanos = start.elapsed().as_nanos() as u64;
//! assert!(now < 60_000_000_000);
//! ```
//!
//! # Composition order on an edge
//!
//! meshsim applies the patterns of an edge in one fixed order, outermost first:
//!
//! ```text
//! deadline ∘ retry(budget) ∘ breaker ∘ bulkhead ∘ per-attempt timeout ∘ call
//! ```
//!
//! - The **deadline** is outermost because it bounds the whole request, all attempts
//!   and all backoff sleeps included (as gRPC: "the deadline covers all attempts"):
//!   no attempt starts once it has passed, and each attempt's timeout is clipped to
//!   what remains.
//! - **Retry** sits inside the deadline and consults its **budget** (or throttle) on
//!   every retry, so the budget sees every retry the client makes, and nothing else
//!   can multiply them unseen.
//! - The **breaker** is inside the retry loop so that it sees each *attempt*, not each
//!   request: its failure rate is the backend's, and a retry can be refused by an open
//!   breaker (an outcome the retry policy may or may not retry, [`Outcome::BreakerOpen`]).
//! - The **bulkhead** is inside the breaker so that it bounds *concurrent attempts*
//!   (retries included), which is the load the backend actually sees; a call the
//!   breaker rejects never takes a bulkhead slot. A bulkhead rejection is local, not a
//!   backend failure, so the breaker permit is released rather than recorded.
//! - The **per-attempt timeout** is innermost: it is the time one attempt may take,
//!   `min(per_attempt, deadline remaining)`, and a timed-out attempt is one breaker
//!   failure and one retry decision.
//!
//! Hedging and rate limiting sit beside this stack: a hedged attempt goes through the
//! same breaker and bulkhead as any attempt (and gRPC's throttle also stops hedges). In
//! meshsim a rate limiter on an edge limits the caller's outgoing attempts, checked
//! after the retry budget and before the breaker; a gateway's limiter guards the
//! receiving side, in the gateway's own order ([`gateway`]).

#![warn(missing_docs)]

pub mod autoscale;
pub mod breaker;
pub mod budget;
pub mod bulkhead;
pub mod deadline;
pub mod discovery;
pub mod gateway;
pub mod hedge;
pub mod messaging;
pub mod rate_limit;
pub mod retry;
mod ring;
pub mod saga;
mod window;

use std::fmt;
use std::time::Duration;

use rand::RngCore;

/// Whole nanoseconds since an arbitrary, fixed, monotonic epoch chosen by the owner.
///
/// In meshsim it is the kernel's virtual time. Outside the simulator take one
/// `start = Instant::now()` and pass `start.elapsed().as_nanos() as u64`.
///
/// ```
/// use std::time::{Duration, Instant};
/// use meshsim_patterns::{Nanos, deadline::Deadline};
///
/// let start = Instant::now();
/// let now: Nanos = start.elapsed().as_nanos() as u64;
/// let deadline = Deadline::new(now, Duration::from_secs(1));
/// assert!(deadline.allows_start(start.elapsed().as_nanos() as u64));
/// ```
pub type Nanos = u64;

/// The outcome of one attempt, as the breaker and the retry policy see it.
///
/// ```
/// use std::time::{Duration, Instant};
/// use meshsim_patterns::Outcome;
/// use meshsim_patterns::retry::{RetryPolicy, RetryState};
///
/// let start = Instant::now();
/// let policy = RetryPolicy::default();
/// let mut retry = RetryState::new(&policy);
/// let mut rng = <rand_chacha::ChaCha8Rng as rand::SeedableRng>::seed_from_u64(1);
/// // An error is retryable by default; a success ends the request.
/// let now = start.elapsed().as_nanos() as u64;
/// assert!(retry.next_delay(Outcome::Error, None, &mut rng).is_some());
/// assert!(retry.next_delay(Outcome::Success, None, &mut rng).is_none());
/// assert!(now < u64::MAX);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Outcome {
    /// The backend answered successfully.
    Success,
    /// The backend answered with an error (a 5xx, a failed RPC).
    Error,
    /// The attempt's timeout fired before a reply arrived.
    Timeout,
    /// The attempt was refused for overload: by the backend (429/503, a full queue) or
    /// by a local limiter (bulkhead, rate limiter, throttle).
    Rejected,
    /// A circuit breaker refused the attempt without sending it.
    BreakerOpen,
}

impl Outcome {
    /// All outcomes, in declaration order.
    pub const ALL: [Outcome; 5] = [
        Outcome::Success,
        Outcome::Error,
        Outcome::Timeout,
        Outcome::Rejected,
        Outcome::BreakerOpen,
    ];

    const fn bit(self) -> u8 {
        1 << (self as u8)
    }
}

/// A set of [`Outcome`]s: which outcomes a retry policy retries, or which ones a
/// breaker counts as failures.
///
/// ```
/// use std::time::Instant;
/// use meshsim_patterns::{Outcome, OutcomeSet};
///
/// let start = Instant::now();
/// let retry_on = OutcomeSet::of(&[Outcome::Error, Outcome::Timeout]);
/// assert!(retry_on.contains(Outcome::Timeout));
/// assert!(!retry_on.contains(Outcome::Rejected));
/// assert!(retry_on.with(Outcome::Rejected).contains(Outcome::Rejected));
/// let _now = start.elapsed().as_nanos() as u64;
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct OutcomeSet(u8);

impl OutcomeSet {
    /// The empty set.
    pub const EMPTY: OutcomeSet = OutcomeSet(0);

    /// The set of the given outcomes.
    pub const fn of(outcomes: &[Outcome]) -> OutcomeSet {
        let mut bits = 0;
        let mut i = 0;
        while i < outcomes.len() {
            bits |= outcomes[i].bit();
            i += 1;
        }
        OutcomeSet(bits)
    }

    /// This set with `outcome` added.
    #[must_use]
    pub const fn with(self, outcome: Outcome) -> OutcomeSet {
        OutcomeSet(self.0 | outcome.bit())
    }

    /// This set with `outcome` removed.
    #[must_use]
    pub const fn without(self, outcome: Outcome) -> OutcomeSet {
        OutcomeSet(self.0 & !outcome.bit())
    }

    /// Whether `outcome` is in the set.
    pub const fn contains(self, outcome: Outcome) -> bool {
        self.0 & outcome.bit() != 0
    }
}

/// A configuration a pattern cannot run with: which pattern, which field, and why.
///
/// Configurations come from users (scenario files), so they are reported as values,
/// never as panics.
///
/// ```
/// use std::time::{Duration, Instant};
/// use meshsim_patterns::deadline::Deadline;
/// use meshsim_patterns::rate_limit::{Rate, TokenBucket};
///
/// let start = Instant::now();
/// let error = TokenBucket::new(Rate::per_second(10), 0).unwrap_err();
/// assert_eq!(error.field, "burst");
/// assert_eq!(error.to_string(), "token_bucket.burst: must be at least 1");
/// let _ = Deadline::new(start.elapsed().as_nanos() as u64, Duration::from_secs(1));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConfigError {
    /// The pattern, e.g. `"breaker"`.
    pub pattern: &'static str,
    /// The offending field, e.g. `"failure_rate_threshold"`.
    pub field: &'static str,
    /// What the value must be.
    pub reason: &'static str,
}

impl ConfigError {
    pub(crate) const fn new(
        pattern: &'static str,
        field: &'static str,
        reason: &'static str,
    ) -> ConfigError {
        ConfigError {
            pattern,
            field,
            reason,
        }
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}: {}", self.pattern, self.field, self.reason)
    }
}

impl std::error::Error for ConfigError {}

/// `d` in whole nanoseconds, saturating at `u64::MAX` (584 years).
pub(crate) fn nanos_of(d: Duration) -> Nanos {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

/// A uniform integer in `lo..=hi`, by Lemire's multiply-and-reject method on
/// `next_u64`: exact (no modulo bias) and a fixed function of the stream, so the same
/// seed gives the same draws on every platform.
pub(crate) fn uniform_inclusive(rng: &mut impl RngCore, lo: u64, hi: u64) -> u64 {
    debug_assert!(lo <= hi);
    let span = hi - lo;
    if span == u64::MAX {
        return rng.next_u64();
    }
    let n = span + 1;
    let mut m = u128::from(rng.next_u64()) * u128::from(n);
    if (m as u64) < n {
        let threshold = n.wrapping_neg() % n;
        while (m as u64) < threshold {
            m = u128::from(rng.next_u64()) * u128::from(n);
        }
    }
    lo + (m >> 64) as u64
}

/// A uniform float in `[0, 1)` with 53 random bits.
pub(crate) fn unit_f64(rng: &mut impl RngCore) -> f64 {
    (rng.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    #[test]
    fn outcome_set_holds_exactly_what_was_put_in() {
        let set = OutcomeSet::of(&[Outcome::Error, Outcome::Timeout]);
        for outcome in Outcome::ALL {
            let expected = matches!(outcome, Outcome::Error | Outcome::Timeout);
            assert_eq!(set.contains(outcome), expected, "{outcome:?}");
        }
        assert!(!set.without(Outcome::Error).contains(Outcome::Error));
        assert!(
            OutcomeSet::EMPTY
                .with(Outcome::BreakerOpen)
                .contains(Outcome::BreakerOpen)
        );
    }

    #[test]
    fn uniform_inclusive_covers_both_ends_and_stays_in_range() {
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        let mut seen = [false; 4];
        for _ in 0..1000 {
            let x = uniform_inclusive(&mut rng, 10, 13);
            assert!((10..=13).contains(&x));
            seen[(x - 10) as usize] = true;
        }
        assert_eq!(seen, [true; 4]);
        assert_eq!(uniform_inclusive(&mut rng, 5, 5), 5);
        let _ = uniform_inclusive(&mut rng, 0, u64::MAX);
    }

    #[test]
    fn unit_f64_is_in_the_half_open_unit_interval() {
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        for _ in 0..1000 {
            let u = unit_f64(&mut rng);
            assert!((0.0..1.0).contains(&u));
        }
    }

    #[test]
    fn nanos_of_saturates() {
        assert_eq!(nanos_of(Duration::from_millis(3)), 3_000_000);
        assert_eq!(nanos_of(Duration::MAX), u64::MAX);
    }
}
