//! Circuit breaker: stop calling a backend that is failing, probe it, resume when it
//! has recovered.
//!
//! The rate-based mode mirrors **resilience4j** (repository resilience4j/resilience4j,
//! `resilience4j-circuitbreaker/src/main/java/io/github/resilience4j/circuitbreaker/CircuitBreakerConfig.java`,
//! `.../circuitbreaker/internal/CircuitBreakerStateMachine.java` and
//! `.../circuitbreaker/internal/CircuitBreakerMetrics.java`): a COUNT_BASED or
//! TIME_BASED sliding window (N calls, or N one-second buckets, both subtracting on
//! evict), a failure-rate and a slow-call-rate threshold (trip when rate >= threshold),
//! `minimumNumberOfCalls` (capped at the window size for count-based windows; below it
//! no rate exists), a fixed or exponential wait in OPEN, `permittedNumberOfCallsInHalfOpenState`
//! with a fresh count window, `maxWaitDurationInHalfOpenState`, automatic or lazy
//! OPEN → HALF_OPEN, and the DISABLED, FORCED_OPEN and METRICS_ONLY states. The
//! consecutive-failures mode mirrors **pybreaker** (repository danielfm/pybreaker,
//! `src/pybreaker/__init__.py`: `fail_max` consecutive failures trip it, a success
//! resets the count, the first call once `reset_timeout` has elapsed is the trial)
//! with the single half-open probe of **Hystrix** (Netflix/Hystrix,
//! `hystrix-core/src/main/java/com/netflix/hystrix/HystrixCircuitBreaker.java`) and
//! **Polly v8** (App-vNext/Polly, `src/Polly.Core/CircuitBreaker`).
//!
//! The breaker is sans-IO: `now` is passed in, [`Breaker::poll_timeout`] says when an
//! automatic transition is due and [`Breaker::handle_timeout`] performs it, and every
//! transition is logged as a [`Transition`] that the owner drains with
//! [`Breaker::poll_transition`] to chart a state timeline.
//!
//! # Permits
//!
//! [`Breaker::try_acquire`] returns a [`Permit`], which is consumed by
//! [`Breaker::record`] (the call finished) or [`Breaker::release`] (the call was
//! cancelled before it produced a result). A half-open probe's permit holds a shared
//! counter with its breaker, and *dropping* it without recording frees its half-open
//! slot: an abandoned call can never leave the breaker stuck half-open, the bug class
//! of resilience4j issues #903, #935 and #2172. A permit carries the breaker's
//! generation (bumped on every transition): a result whose call started before a
//! transition is recorded in the metrics but causes no transition.
//!
//! # Deviations from resilience4j, on purpose
//!
//! - A stale result (a call that started before the last transition) that arrives in
//!   HALF_OPEN is not counted in the half-open window: that window holds exactly the
//!   probes. resilience4j counts it there and can decide on it.
//! - Rates are computed in `f64` (resilience4j uses `float`), so thresholds such as
//!   33.333 compare a little more precisely.
//! - pybreaker lets every call through while half-open; the consecutive mode admits a
//!   single probe, as Hystrix and Polly do, so a recovering backend is not hit by
//!   the whole backlog at once.
//! - Outcomes are classified by [`BreakerConfig::failure_outcomes`]: a success counts as
//!   success, an outcome in the set as failure, and any other outcome is ignored and
//!   releases the permit (resilience4j's `ignoreExceptions`).

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use super::window::{ClosedWindow, CountWindow, FAILED, SLOW, Tally, TimeWindow};
use super::{ConfigError, Nanos, Outcome, OutcomeSet, nanos_of};

/// The largest count-based window (and half-open window), in calls.
pub const MAX_WINDOW_CALLS: u32 = 10_000_000;
/// The largest time-based window, in seconds (a day).
pub const MAX_WINDOW_SECONDS: u32 = 86_400;
/// The largest transition log.
pub const MAX_TRANSITION_LOG: usize = 1_000_000;

/// The kind and size of the closed-state sliding window (resilience4j
/// `slidingWindowType` and `slidingWindowSize`).
///
/// ```
/// use std::time::Instant;
/// use meshsim::patterns::breaker::{Breaker, BreakerConfig, RateRule, SlidingWindow, TripRule};
///
/// let start = Instant::now();
/// let rule = RateRule { window: SlidingWindow::TimeBased { seconds: 10 }, ..RateRule::default() };
/// let config = BreakerConfig { trip: TripRule::Rate(rule), ..BreakerConfig::default() };
/// let mut breaker = Breaker::new(config)?;
/// let now = start.elapsed().as_nanos() as u64;
/// assert!(breaker.try_acquire(now).is_ok());
/// # Ok::<(), meshsim::patterns::ConfigError>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SlidingWindow {
    /// The last `calls` calls (COUNT_BASED).
    CountBased {
        /// Window size in calls, at least 1.
        calls: u32,
    },
    /// The calls of the last `seconds` one-second buckets (TIME_BASED); the bucket of
    /// a call is the whole second of `now` it was recorded at.
    TimeBased {
        /// Window size in seconds, at least 1.
        seconds: u32,
    },
}

/// When a rate-based breaker trips, and how it probes (resilience4j semantics).
///
/// The default is resilience4j's `CircuitBreakerConfig.ofDefaults()`.
///
/// ```
/// use std::time::{Duration, Instant};
/// use meshsim::patterns::Outcome;
/// use meshsim::patterns::breaker::{Breaker, BreakerConfig, BreakerState, RateRule, SlidingWindow, TripRule};
///
/// let start = Instant::now();
/// let rule = RateRule {
///     window: SlidingWindow::CountBased { calls: 4 },
///     minimum_number_of_calls: 2,
///     ..RateRule::default()
/// };
/// let mut breaker = Breaker::new(BreakerConfig { trip: TripRule::Rate(rule), ..BreakerConfig::default() })?;
/// for outcome in [Outcome::Success, Outcome::Error] {
///     let now = start.elapsed().as_nanos() as u64;
///     let permit = breaker.try_acquire(now).unwrap();
///     breaker.record(permit, outcome, Duration::from_millis(1), now);
/// }
/// // 1 failure in 2 calls is 50%, which reaches the default 50% threshold.
/// assert_eq!(breaker.state(), BreakerState::Open);
/// # Ok::<(), meshsim::patterns::ConfigError>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RateRule {
    /// The closed-state sliding window (default COUNT_BASED, 100 calls).
    pub window: SlidingWindow,
    /// Trip when the failure rate in percent is `>=` this; in `(0, 100]` (default 50).
    pub failure_rate_threshold: f64,
    /// Trip when the slow-call rate in percent is `>=` this; in `(0, 100]` (default 100).
    pub slow_call_rate_threshold: f64,
    /// A call is slow when its duration is strictly greater than this, whether it
    /// succeeded or failed (default 60 s).
    pub slow_call_duration_threshold: Duration,
    /// Below this many calls in the window no rate exists and the breaker cannot trip;
    /// capped at the window size for count-based windows (default 100).
    pub minimum_number_of_calls: u32,
    /// Probes admitted in half-open, which get a fresh count window of this size
    /// (default 10).
    pub permitted_calls_in_half_open: u32,
}

impl Default for RateRule {
    fn default() -> Self {
        RateRule {
            window: SlidingWindow::CountBased { calls: 100 },
            failure_rate_threshold: 50.0,
            slow_call_rate_threshold: 100.0,
            slow_call_duration_threshold: Duration::from_secs(60),
            minimum_number_of_calls: 100,
            permitted_calls_in_half_open: 10,
        }
    }
}

/// What trips the breaker: a rate over a sliding window, or consecutive failures.
///
/// ```
/// use std::time::{Duration, Instant};
/// use meshsim::patterns::Outcome;
/// use meshsim::patterns::breaker::{Breaker, BreakerConfig, BreakerState, TripRule};
///
/// let start = Instant::now();
/// let config = BreakerConfig::consecutive_failures(2, Duration::from_secs(60));
/// assert!(matches!(config.trip, TripRule::ConsecutiveFailures { fail_max: 2 }));
/// let mut breaker = Breaker::new(config)?;
/// for _ in 0..2 {
///     let now = start.elapsed().as_nanos() as u64;
///     let permit = breaker.try_acquire(now).unwrap();
///     breaker.record(permit, Outcome::Error, Duration::ZERO, now);
/// }
/// assert_eq!(breaker.state(), BreakerState::Open);
/// # Ok::<(), meshsim::patterns::ConfigError>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum TripRule {
    /// resilience4j: failure or slow-call rate over a sliding window.
    Rate(RateRule),
    /// pybreaker / Hystrix-like: `fail_max` consecutive failures trip it, a success
    /// resets the count, half-open admits one probe whose result decides.
    ConsecutiveFailures {
        /// Consecutive failures that trip the breaker, at least 1 (pybreaker default 5).
        fail_max: u32,
    },
}

/// How long the breaker stays open (resilience4j `waitDurationInOpenState` or
/// `waitIntervalFunctionInOpenState`).
///
/// The number of trips counts consecutive openings since the breaker was last
/// closed: 1 for the first trip, 2 if the half-open probes re-open it, and so on
/// (resilience4j's `attempts`).
///
/// ```
/// use std::time::{Duration, Instant};
/// use meshsim::patterns::breaker::OpenWait;
///
/// let start = Instant::now();
/// let wait = OpenWait::Exponential {
///     initial: Duration::from_secs(1),
///     multiplier: 2.0,
///     max: Duration::from_secs(5),
/// };
/// let waits: Vec<u64> = (1..=5).map(|trips| wait.after_trips(trips).as_secs()).collect();
/// assert_eq!(waits, [1, 2, 4, 5, 5]);
/// let _now = start.elapsed().as_nanos() as u64;
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum OpenWait {
    /// The same wait after every trip (resilience4j default 60 s; pybreaker
    /// `reset_timeout`).
    Fixed(Duration),
    /// `min(initial · multiplier^(trips − 1), max)`, as resilience4j's
    /// `IntervalFunction.ofExponentialBackoff`.
    Exponential {
        /// The wait after the first trip.
        initial: Duration,
        /// Growth per further consecutive trip, at least 1.
        multiplier: f64,
        /// The cap.
        max: Duration,
    },
}

impl OpenWait {
    /// The wait in open after the `trips`-th consecutive trip (`trips >= 1`).
    pub fn after_trips(&self, trips: u32) -> Duration {
        match *self {
            OpenWait::Fixed(wait) => wait,
            OpenWait::Exponential {
                initial,
                multiplier,
                max,
            } => {
                let max_nanos = nanos_of(max);
                let mut wait = nanos_of(initial) as f64;
                // Repeated multiplication (not powf): exact IEEE operations, the same
                // on every platform, and it stops as soon as the cap is reached.
                if multiplier > 1.0 {
                    for _ in 1..trips.max(1) {
                        wait *= multiplier;
                        if wait >= max_nanos as f64 {
                            break;
                        }
                    }
                }
                Duration::from_nanos((wait as u64).min(max_nanos))
            }
        }
    }
}

/// A breaker's configuration. The default is resilience4j's `ofDefaults()`.
///
/// ```
/// use std::time::{Duration, Instant};
/// use meshsim::patterns::breaker::{Breaker, BreakerConfig, OpenWait};
///
/// let start = Instant::now();
/// let config = BreakerConfig {
///     wait_in_open: OpenWait::Fixed(Duration::from_secs(5)),
///     automatic_transition_to_half_open: true,
///     ..BreakerConfig::default()
/// };
/// let mut breaker = Breaker::new(config)?;
/// let now = start.elapsed().as_nanos() as u64;
/// breaker.transition_to(meshsim::patterns::breaker::BreakerState::Open, now);
/// assert_eq!(breaker.poll_timeout(), Some(now + 5_000_000_000));
/// # Ok::<(), meshsim::patterns::ConfigError>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BreakerConfig {
    /// What trips the breaker.
    pub trip: TripRule,
    /// How long it stays open before probing.
    pub wait_in_open: OpenWait,
    /// `true`: open → half-open when the wait elapses ([`Breaker::poll_timeout`]
    /// reports it). `false` (resilience4j default): lazily, the first call strictly
    /// after the wait moves it.
    pub automatic_transition_to_half_open: bool,
    /// Zero (default): half-open waits for its probes forever. Otherwise it is forced
    /// back to open after this long.
    pub max_wait_in_half_open: Duration,
    /// Outcomes counted as failures. A success counts as success; any other outcome
    /// is ignored and releases its permit. Default: error, timeout, rejected.
    pub failure_outcomes: OutcomeSet,
    /// How many unpolled transitions are kept; the oldest is dropped beyond it
    /// (default 64).
    pub transition_log_capacity: usize,
}

impl Default for BreakerConfig {
    fn default() -> Self {
        BreakerConfig {
            trip: TripRule::Rate(RateRule::default()),
            wait_in_open: OpenWait::Fixed(Duration::from_secs(60)),
            automatic_transition_to_half_open: false,
            max_wait_in_half_open: Duration::ZERO,
            failure_outcomes: OutcomeSet::of(&[
                Outcome::Error,
                Outcome::Timeout,
                Outcome::Rejected,
            ]),
            transition_log_capacity: 64,
        }
    }
}

impl BreakerConfig {
    /// A pybreaker-like breaker: `fail_max` consecutive failures open it for
    /// `reset_timeout`, after which the next call is the single probe.
    pub fn consecutive_failures(fail_max: u32, reset_timeout: Duration) -> BreakerConfig {
        BreakerConfig {
            trip: TripRule::ConsecutiveFailures { fail_max },
            wait_in_open: OpenWait::Fixed(reset_timeout),
            ..BreakerConfig::default()
        }
    }

    fn validate(&self) -> Result<(), ConfigError> {
        let error = |field, reason| Err(ConfigError::new("breaker", field, reason));
        match self.trip {
            TripRule::Rate(rule) => {
                let percent = |x: f64| x > 0.0 && x <= 100.0;
                if !percent(rule.failure_rate_threshold) {
                    return error("failure_rate_threshold", "must be in (0, 100]");
                }
                if !percent(rule.slow_call_rate_threshold) {
                    return error("slow_call_rate_threshold", "must be in (0, 100]");
                }
                // Windows are allocated up front: bound them.
                match rule.window {
                    SlidingWindow::CountBased { calls }
                        if !(1..=MAX_WINDOW_CALLS).contains(&calls) =>
                    {
                        return error("window", "must be 1 to 10 000 000 calls");
                    }
                    SlidingWindow::TimeBased { seconds }
                        if !(1..=MAX_WINDOW_SECONDS).contains(&seconds) =>
                    {
                        return error("window", "must be 1 to 86 400 seconds");
                    }
                    _ => {}
                }
                if rule.minimum_number_of_calls == 0 {
                    return error("minimum_number_of_calls", "must be at least 1");
                }
                if !(1..=MAX_WINDOW_CALLS).contains(&rule.permitted_calls_in_half_open) {
                    return error("permitted_calls_in_half_open", "must be 1 to 10 000 000");
                }
            }
            TripRule::ConsecutiveFailures { fail_max } => {
                if fail_max == 0 {
                    return error("fail_max", "must be at least 1");
                }
            }
        }
        match self.wait_in_open {
            OpenWait::Fixed(wait) => {
                if wait.is_zero() {
                    return error("wait_in_open", "must be positive");
                }
            }
            OpenWait::Exponential {
                initial,
                multiplier,
                max,
            } => {
                if initial.is_zero() {
                    return error("wait_in_open.initial", "must be positive");
                }
                if !(multiplier.is_finite() && multiplier >= 1.0) {
                    return error("wait_in_open.multiplier", "must be finite and at least 1");
                }
                if max < initial {
                    return error("wait_in_open.max", "must be at least the initial wait");
                }
            }
        }
        if self.failure_outcomes.contains(Outcome::Success) {
            return error("failure_outcomes", "must not contain success");
        }
        if self.transition_log_capacity > MAX_TRANSITION_LOG {
            return error("transition_log_capacity", "must be at most 1 000 000");
        }
        Ok(())
    }
}

/// The breaker's state, as resilience4j names them.
///
/// ```
/// use std::time::Instant;
/// use meshsim::patterns::breaker::{Breaker, BreakerConfig, BreakerState};
///
/// let start = Instant::now();
/// let mut breaker = Breaker::new(BreakerConfig::default())?;
/// assert_eq!(breaker.state(), BreakerState::Closed);
/// breaker.transition_to(BreakerState::ForcedOpen, start.elapsed().as_nanos() as u64);
/// assert!(breaker.try_acquire(start.elapsed().as_nanos() as u64).is_err());
/// # Ok::<(), meshsim::patterns::ConfigError>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum BreakerState {
    /// Calls flow and are measured.
    Closed,
    /// Calls are rejected until the wait in open elapses.
    Open,
    /// A limited number of probes decide between closed and open.
    HalfOpen,
    /// Every call is permitted and nothing is recorded (manual).
    Disabled,
    /// Every call is rejected (manual).
    ForcedOpen,
    /// Every call is permitted and recorded, and the breaker never opens (manual).
    MetricsOnly,
}

/// Why a transition happened.
///
/// ```
/// use std::time::{Duration, Instant};
/// use meshsim::patterns::Outcome;
/// use meshsim::patterns::breaker::{Breaker, BreakerConfig, TransitionReason};
///
/// let start = Instant::now();
/// let mut breaker = Breaker::new(BreakerConfig::consecutive_failures(1, Duration::from_secs(1)))?;
/// let now = start.elapsed().as_nanos() as u64;
/// let permit = breaker.try_acquire(now).unwrap();
/// breaker.record(permit, Outcome::Timeout, Duration::ZERO, now);
/// let transition = breaker.poll_transition().unwrap();
/// assert_eq!(transition.reason, TransitionReason::ConsecutiveFailures);
/// # Ok::<(), meshsim::patterns::ConfigError>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TransitionReason {
    /// The failure rate reached its threshold (closed → open, or half-open → open).
    FailureRateExceeded,
    /// The slow-call rate reached its threshold.
    SlowCallRateExceeded,
    /// `fail_max` consecutive failures (consecutive mode).
    ConsecutiveFailures,
    /// The half-open probe failed (consecutive mode).
    ProbeFailed,
    /// The half-open probes came in below both thresholds.
    ProbesSucceeded,
    /// The wait in open elapsed (automatically, or lazily on a call).
    WaitElapsed,
    /// `max_wait_in_half_open` elapsed before the probes decided.
    HalfOpenTimedOut,
    /// [`Breaker::transition_to`] or [`Breaker::reset`].
    Manual,
}

/// One state change, for a state timeline.
///
/// ```
/// use std::time::Instant;
/// use meshsim::patterns::breaker::{Breaker, BreakerConfig, BreakerState, Transition, TransitionReason};
///
/// let start = Instant::now();
/// let mut breaker = Breaker::new(BreakerConfig::default())?;
/// let now = start.elapsed().as_nanos() as u64;
/// breaker.transition_to(BreakerState::Disabled, now);
/// let expected = Transition {
///     at: now,
///     from: BreakerState::Closed,
///     to: BreakerState::Disabled,
///     reason: TransitionReason::Manual,
/// };
/// assert_eq!(breaker.poll_transition(), Some(expected));
/// assert_eq!(breaker.poll_transition(), None);
/// # Ok::<(), meshsim::patterns::ConfigError>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Transition {
    /// When it happened: the `now` of the call that caused it.
    pub at: Nanos,
    /// The state left.
    pub from: BreakerState,
    /// The state entered.
    pub to: BreakerState,
    /// Why.
    pub reason: TransitionReason,
}

/// A call the breaker refused (resilience4j `CallNotPermittedException`).
///
/// ```
/// use std::time::Instant;
/// use meshsim::patterns::breaker::{Breaker, BreakerConfig, BreakerState};
///
/// let start = Instant::now();
/// let mut breaker = Breaker::new(BreakerConfig::default())?;
/// let now = start.elapsed().as_nanos() as u64;
/// breaker.transition_to(BreakerState::Open, now);
/// let rejected = breaker.try_acquire(now).unwrap_err();
/// assert_eq!(rejected.state, BreakerState::Open);
/// // Lazy transition: the first call strictly after the 60 s wait is admitted.
/// assert_eq!(rejected.retry_at, Some(now + 60_000_000_000 + 1));
/// # Ok::<(), meshsim::patterns::ConfigError>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rejected {
    /// The state that refused the call.
    pub state: BreakerState,
    /// The earliest time a call could be admitted, when the breaker knows it (open);
    /// `None` in forced-open, and in half-open when all probe slots are taken.
    pub retry_at: Option<Nanos>,
}

/// Permission for one call. Consume it with [`Breaker::record`] when the call ends,
/// or with [`Breaker::release`] if it is cancelled before producing a result.
///
/// Dropping a half-open probe's permit frees its slot, as `release` does (the probe
/// holds a shared counter with its breaker); dropping any other permit has no effect
/// on the breaker. So a forgotten permit cannot leave the breaker stuck half-open.
///
/// ```
/// use std::time::{Duration, Instant};
/// use meshsim::patterns::breaker::{Breaker, BreakerConfig, BreakerState};
///
/// let start = Instant::now();
/// let mut breaker = Breaker::new(BreakerConfig::consecutive_failures(5, Duration::from_secs(1)))?;
/// let now = start.elapsed().as_nanos() as u64;
/// breaker.transition_to(BreakerState::HalfOpen, now);
/// let probe = breaker.try_acquire(now).unwrap();
/// assert!(probe.is_probe());
/// assert!(breaker.try_acquire(now).is_err()); // the single slot is taken
/// drop(probe); // abandoned: the slot is free again
/// assert!(breaker.try_acquire(now).is_ok());
/// # Ok::<(), meshsim::patterns::ConfigError>(())
/// ```
#[derive(Debug)]
#[must_use = "a permit must be given back with Breaker::record or Breaker::release"]
pub struct Permit {
    generation: u64,
    acquired_at: Nanos,
    /// Some only for half-open probes: the breaker's abandonment counter.
    probe_ledger: Option<Arc<AtomicU64>>,
}

impl Permit {
    /// When the permit was acquired.
    pub fn acquired_at(&self) -> Nanos {
        self.acquired_at
    }

    /// Time since the permit was acquired, for [`Breaker::record`]'s duration.
    pub fn elapsed(&self, now: Nanos) -> Duration {
        Duration::from_nanos(now.saturating_sub(self.acquired_at))
    }

    /// The breaker generation (number of transitions) it was acquired in.
    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// Whether it holds a half-open probe slot.
    pub fn is_probe(&self) -> bool {
        self.probe_ledger.is_some()
    }
}

impl Drop for Permit {
    fn drop(&mut self) {
        if let Some(ledger) = self.probe_ledger.take() {
            let tag = self.generation & 0xffff_ffff;
            // Count the abandonment only while its half-open period is current.
            let _ = ledger.fetch_update(Ordering::AcqRel, Ordering::Acquire, |packed| {
                (packed >> 32 == tag).then_some(packed + 1)
            });
        }
    }
}

/// A snapshot of what the breaker has measured.
///
/// ```
/// use std::time::{Duration, Instant};
/// use meshsim::patterns::Outcome;
/// use meshsim::patterns::breaker::{Breaker, BreakerConfig};
///
/// let start = Instant::now();
/// let mut breaker = Breaker::new(BreakerConfig::default())?;
/// let now = start.elapsed().as_nanos() as u64;
/// let permit = breaker.try_acquire(now).unwrap();
/// breaker.record(permit, Outcome::Error, Duration::from_millis(3), now);
/// let metrics = breaker.metrics(now);
/// assert_eq!((metrics.calls, metrics.failed_calls), (1, 1));
/// assert_eq!(metrics.failure_rate, None); // below minimum_number_of_calls (100)
/// # Ok::<(), meshsim::patterns::ConfigError>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BreakerMetrics {
    /// The state.
    pub state: BreakerState,
    /// Calls in the current window (the half-open window in half-open).
    pub calls: u32,
    /// Failed calls in it.
    pub failed_calls: u32,
    /// Slow calls in it (successful or failed).
    pub slow_calls: u32,
    /// Failure rate in percent, `None` below the minimum number of calls.
    pub failure_rate: Option<f64>,
    /// Slow-call rate in percent, `None` below the minimum number of calls.
    pub slow_call_rate: Option<f64>,
    /// Current run of consecutive failures (consecutive mode).
    pub consecutive_failures: u32,
    /// Calls refused since the breaker was created.
    pub not_permitted_calls: u64,
    /// Results recorded after a transition they did not cause (stale generation).
    pub stale_results: u64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Verdict {
    BelowMinimum,
    Below,
    Exceeded(TransitionReason),
}

#[derive(Clone, Debug)]
enum Mode {
    Rate {
        rule: RateRule,
        slow_nanos: Nanos,
        closed: ClosedWindow,
        closed_minimum: u32,
        half_open: CountWindow,
        half_open_minimum: u32,
        /// In open: whether the breaker came from half-open, whose window then keeps
        /// receiving stale results (as resilience4j's `OpenState` keeps the metrics of
        /// the state it came from).
        open_window_is_half_open: bool,
    },
    Consecutive {
        fail_max: u32,
        failures: u32,
    },
}

impl Mode {
    fn rates(tally: Tally, minimum: u32) -> (Option<f64>, Option<f64>) {
        if tally.calls == 0 || tally.calls < minimum {
            return (None, None);
        }
        let calls = f64::from(tally.calls);
        (
            Some(f64::from(tally.failed) * 100.0 / calls),
            Some(f64::from(tally.slow) * 100.0 / calls),
        )
    }

    /// resilience4j `CircuitBreakerMetrics.checkIfThresholdsExceeded`.
    fn verdict(rule: &RateRule, tally: Tally, minimum: u32) -> Verdict {
        match Mode::rates(tally, minimum) {
            (Some(failure_rate), Some(slow_rate)) => {
                if failure_rate >= rule.failure_rate_threshold {
                    Verdict::Exceeded(TransitionReason::FailureRateExceeded)
                } else if slow_rate >= rule.slow_call_rate_threshold {
                    Verdict::Exceeded(TransitionReason::SlowCallRateExceeded)
                } else {
                    Verdict::Below
                }
            }
            _ => Verdict::BelowMinimum,
        }
    }
}

/// A circuit breaker: resilience4j's state machine, or pybreaker's consecutive
/// failures, driven by the `now` its owner passes in.
///
/// ```
/// use std::time::{Duration, Instant};
/// use meshsim::patterns::Outcome;
/// use meshsim::patterns::breaker::{Breaker, BreakerConfig, BreakerState, RateRule, SlidingWindow, TripRule};
///
/// let start = Instant::now();
/// let rule = RateRule {
///     window: SlidingWindow::CountBased { calls: 10 },
///     minimum_number_of_calls: 5,
///     permitted_calls_in_half_open: 2,
///     ..RateRule::default()
/// };
/// let config = BreakerConfig { trip: TripRule::Rate(rule), ..BreakerConfig::default() };
/// let mut breaker = Breaker::new(config)?;
///
/// // Five failing calls: the fifth makes a 100% failure rate over 5 calls.
/// for _ in 0..5 {
///     let now = start.elapsed().as_nanos() as u64;
///     match breaker.try_acquire(now) {
///         Ok(permit) => {
///             let duration = permit.elapsed(now);
///             breaker.record(permit, Outcome::Error, duration, now);
///         }
///         Err(rejected) => unreachable!("closed breakers admit: {rejected:?}"),
///     }
/// }
/// assert_eq!(breaker.state(), BreakerState::Open);
/// let now = start.elapsed().as_nanos() as u64;
/// assert!(breaker.try_acquire(now).is_err());
/// while let Some(transition) = breaker.poll_transition() {
///     println!("{} ns: {:?} -> {:?}", transition.at, transition.from, transition.to);
/// }
/// # Ok::<(), meshsim::patterns::ConfigError>(())
/// ```
#[derive(Debug)]
pub struct Breaker {
    config: BreakerConfig,
    mode: Mode,
    state: BreakerState,
    /// Bumped on every transition; permits carry the value they were acquired in.
    generation: u64,
    /// Consecutive trips since the breaker was last closed (resilience4j `attempts`).
    trips: u32,
    open_until: Nanos,
    half_open_until: Option<Nanos>,
    half_open_admitted: u64,
    half_open_released: u64,
    /// `(generation & 0xffff_ffff) << 32 | probes abandoned in that half-open period`,
    /// shared with the probe permits.
    abandoned: Arc<AtomicU64>,
    transitions: VecDeque<Transition>,
    transitions_dropped: u64,
    not_permitted: u64,
    stale_results: u64,
    last_now: Nanos,
}

impl Breaker {
    /// A closed breaker, or an error naming the first invalid field.
    pub fn new(config: BreakerConfig) -> Result<Breaker, ConfigError> {
        config.validate()?;
        Ok(Breaker::closed(config))
    }

    /// A closed breaker with this one's configuration and none of its state.
    ///
    /// An owner that needs many breakers of one configuration (one per client
    /// instance) validates it once, by building a prototype with
    /// [`new`](Self::new), and makes the others with `fresh`, which cannot
    /// fail. (A breaker is not `Clone`: a clone would share the probe
    /// permits' counter with the original.)
    pub fn fresh(&self) -> Breaker {
        Breaker::closed(self.config)
    }

    /// A closed breaker; `config` has been validated.
    fn closed(config: BreakerConfig) -> Breaker {
        let mode = match config.trip {
            TripRule::Rate(rule) => {
                let (closed, closed_minimum) = match rule.window {
                    SlidingWindow::CountBased { calls } => (
                        ClosedWindow::Count(CountWindow::new(calls)),
                        rule.minimum_number_of_calls.min(calls),
                    ),
                    SlidingWindow::TimeBased { seconds } => (
                        ClosedWindow::Time(TimeWindow::new(seconds)),
                        rule.minimum_number_of_calls,
                    ),
                };
                Mode::Rate {
                    rule,
                    slow_nanos: nanos_of(rule.slow_call_duration_threshold),
                    closed,
                    closed_minimum,
                    half_open: CountWindow::new(rule.permitted_calls_in_half_open),
                    // resilience4j builds the half-open metrics as a count window of
                    // the permitted size, so the minimum is capped at it too.
                    half_open_minimum: rule
                        .minimum_number_of_calls
                        .min(rule.permitted_calls_in_half_open),
                    open_window_is_half_open: false,
                }
            }
            TripRule::ConsecutiveFailures { fail_max } => Mode::Consecutive {
                fail_max,
                failures: 0,
            },
        };
        Breaker {
            config,
            mode,
            state: BreakerState::Closed,
            generation: 0,
            trips: 0,
            open_until: 0,
            half_open_until: None,
            half_open_admitted: 0,
            half_open_released: 0,
            abandoned: Arc::new(AtomicU64::new(0)),
            transitions: VecDeque::with_capacity(config.transition_log_capacity),
            transitions_dropped: 0,
            not_permitted: 0,
            stale_results: 0,
            last_now: 0,
        }
    }

    /// The configuration.
    pub fn config(&self) -> &BreakerConfig {
        &self.config
    }

    /// The current state (as of the last call; a due automatic transition happens in
    /// [`handle_timeout`](Self::handle_timeout)).
    pub fn state(&self) -> BreakerState {
        self.state
    }

    /// The number of transitions so far.
    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// Consecutive trips since the breaker was last closed.
    pub fn trips(&self) -> u32 {
        self.trips
    }

    /// In open: when the wait ends.
    pub fn open_until(&self) -> Option<Nanos> {
        (self.state == BreakerState::Open).then_some(self.open_until)
    }

    /// Probes in half-open that are in flight or recorded (always ≤ the permitted
    /// number); 0 in other states.
    pub fn probes_in_use(&self) -> u64 {
        if self.state != BreakerState::HalfOpen {
            return 0;
        }
        self.half_open_admitted - self.half_open_released - self.abandoned_probes()
    }

    fn permitted_in_half_open(&self) -> u64 {
        match &self.mode {
            Mode::Rate { rule, .. } => u64::from(rule.permitted_calls_in_half_open),
            Mode::Consecutive { .. } => 1,
        }
    }

    fn abandoned_probes(&self) -> u64 {
        let packed = self.abandoned.load(Ordering::Acquire);
        if packed >> 32 == self.generation & 0xffff_ffff {
            packed & 0xffff_ffff
        } else {
            0
        }
    }

    fn observe(&mut self, now: Nanos) {
        debug_assert!(
            now >= self.last_now,
            "time went backwards: {now} < {}",
            self.last_now
        );
        self.last_now = self.last_now.max(now);
    }

    /// Asks permission for one call at `now`.
    ///
    /// In open, the first call after the wait (strictly after it in rate mode, as
    /// resilience4j; at its end in consecutive mode, as pybreaker) moves the breaker to
    /// half-open and is its first probe. Any due timeout is handled first.
    pub fn try_acquire(&mut self, now: Nanos) -> Result<Permit, Rejected> {
        self.handle_timeout(now);
        match self.state {
            BreakerState::Closed | BreakerState::MetricsOnly | BreakerState::Disabled => {
                Ok(self.permit(now, false))
            }
            BreakerState::Open => {
                let admit_from = self.lazy_admission_from();
                if now >= admit_from {
                    self.transition(BreakerState::HalfOpen, TransitionReason::WaitElapsed, now);
                    self.try_probe(now)
                } else {
                    self.not_permitted += 1;
                    let retry_at = if self.config.automatic_transition_to_half_open {
                        self.open_until
                    } else {
                        admit_from
                    };
                    Err(Rejected {
                        state: BreakerState::Open,
                        retry_at: Some(retry_at),
                    })
                }
            }
            BreakerState::HalfOpen => self.try_probe(now),
            BreakerState::ForcedOpen => {
                self.not_permitted += 1;
                Err(Rejected {
                    state: BreakerState::ForcedOpen,
                    retry_at: None,
                })
            }
        }
    }

    /// The first time a call moves an open breaker to half-open: strictly after the
    /// wait in rate mode (resilience4j `OpenState.tryAcquirePermission`:
    /// `clock.instant().isAfter(retryAfterWaitDuration)`), at the end of it in
    /// consecutive mode (pybreaker `CircuitOpenState.before_call`:
    /// `now < opened_at + timeout` still rejects).
    fn lazy_admission_from(&self) -> Nanos {
        match self.mode {
            Mode::Rate { .. } => self.open_until.saturating_add(1),
            Mode::Consecutive { .. } => self.open_until,
        }
    }

    fn try_probe(&mut self, now: Nanos) -> Result<Permit, Rejected> {
        let in_use = self.probes_in_use();
        let permitted = self.permitted_in_half_open();
        assert!(
            in_use <= permitted,
            "half-open admitted {in_use} > {permitted}"
        );
        if in_use < permitted {
            self.half_open_admitted += 1;
            Ok(self.permit(now, true))
        } else {
            self.not_permitted += 1;
            Err(Rejected {
                state: BreakerState::HalfOpen,
                retry_at: None,
            })
        }
    }

    fn permit(&self, now: Nanos, probe: bool) -> Permit {
        Permit {
            generation: self.generation,
            acquired_at: now,
            probe_ledger: probe.then(|| Arc::clone(&self.abandoned)),
        }
    }

    /// Gives back a permit whose call was cancelled before it produced a result (the
    /// caller gave up, a hedge won, a local bulkhead refused it). A half-open probe's
    /// slot is freed; nothing is recorded. Dropping the permit has the same effect.
    pub fn release(&mut self, mut permit: Permit, now: Nanos) {
        self.handle_timeout(now);
        if let Some(ledger) = permit.probe_ledger.take() {
            debug_assert!(
                Arc::ptr_eq(&ledger, &self.abandoned),
                "a permit of another breaker"
            );
            if permit.generation == self.generation && self.state == BreakerState::HalfOpen {
                self.half_open_released += 1;
            }
        }
    }

    /// Records the result of a permitted call that took `duration` and ended at `now`.
    ///
    /// A success counts as success, an outcome in `failure_outcomes` as failure, any
    /// other outcome is ignored (the permit is released). If a transition happened
    /// since the permit was acquired, the result is recorded in the metrics of the
    /// closed (or open) window but causes no transition.
    pub fn record(&mut self, mut permit: Permit, outcome: Outcome, duration: Duration, now: Nanos) {
        self.handle_timeout(now);
        let probe = permit.probe_ledger.take();
        if let Some(ledger) = &probe {
            debug_assert!(
                Arc::ptr_eq(ledger, &self.abandoned),
                "a permit of another breaker"
            );
        }
        let current = permit.generation == self.generation;
        let failed = self.config.failure_outcomes.contains(outcome);
        if outcome != Outcome::Success && !failed {
            if current && probe.is_some() {
                self.half_open_released += 1;
            }
            return;
        }
        if self.state == BreakerState::Disabled {
            return;
        }
        if !current {
            self.record_stale(failed, duration, now);
            return;
        }
        match self.state {
            BreakerState::Closed | BreakerState::MetricsOnly => {
                let evaluate = self.state == BreakerState::Closed;
                if let Some(reason) = self.record_closed(failed, duration, now, evaluate) {
                    self.transition(BreakerState::Open, reason, now);
                }
            }
            BreakerState::HalfOpen => match self.record_half_open(failed, duration) {
                Verdict::Exceeded(reason) => self.transition(BreakerState::Open, reason, now),
                Verdict::Below => {
                    self.transition(BreakerState::Closed, TransitionReason::ProbesSucceeded, now);
                }
                Verdict::BelowMinimum => {}
            },
            // Permits are never issued in these states, so the generation differs.
            BreakerState::Open | BreakerState::ForcedOpen | BreakerState::Disabled => {
                unreachable!("a current permit in {:?}", self.state)
            }
        }
    }

    fn code(slow_nanos: Nanos, failed: bool, duration: Duration) -> u8 {
        let mut code = if failed { FAILED } else { 0 };
        // As resilience4j: slow means duration > threshold, strictly.
        if nanos_of(duration) > slow_nanos {
            code |= SLOW;
        }
        code
    }

    fn record_closed(
        &mut self,
        failed: bool,
        duration: Duration,
        now: Nanos,
        evaluate: bool,
    ) -> Option<TransitionReason> {
        match &mut self.mode {
            Mode::Rate {
                rule,
                slow_nanos,
                closed,
                closed_minimum,
                ..
            } => {
                let tally = closed.record(now, Breaker::code(*slow_nanos, failed, duration));
                match Mode::verdict(rule, tally, *closed_minimum) {
                    Verdict::Exceeded(reason) if evaluate => Some(reason),
                    _ => None,
                }
            }
            Mode::Consecutive { fail_max, failures } => {
                if failed {
                    *failures = failures.saturating_add(1);
                    (evaluate && *failures >= *fail_max)
                        .then_some(TransitionReason::ConsecutiveFailures)
                } else {
                    *failures = 0;
                    None
                }
            }
        }
    }

    fn record_half_open(&mut self, failed: bool, duration: Duration) -> Verdict {
        match &mut self.mode {
            Mode::Rate {
                rule,
                slow_nanos,
                half_open,
                half_open_minimum,
                ..
            } => {
                half_open.record(Breaker::code(*slow_nanos, failed, duration));
                Mode::verdict(rule, half_open.tally, *half_open_minimum)
            }
            Mode::Consecutive { .. } => {
                if failed {
                    Verdict::Exceeded(TransitionReason::ProbeFailed)
                } else {
                    Verdict::Below
                }
            }
        }
    }

    fn record_stale(&mut self, failed: bool, duration: Duration, now: Nanos) {
        self.stale_results += 1;
        let state = self.state;
        match &mut self.mode {
            Mode::Rate {
                slow_nanos,
                closed,
                half_open,
                open_window_is_half_open,
                ..
            } => {
                let code = Breaker::code(*slow_nanos, failed, duration);
                match state {
                    BreakerState::Closed | BreakerState::MetricsOnly => {
                        closed.record(now, code);
                    }
                    BreakerState::Open if *open_window_is_half_open => half_open.record(code),
                    BreakerState::Open => {
                        closed.record(now, code);
                    }
                    // The half-open window holds exactly the probes.
                    BreakerState::HalfOpen | BreakerState::Disabled | BreakerState::ForcedOpen => {}
                }
            }
            Mode::Consecutive { failures, .. } => {
                if matches!(state, BreakerState::Closed | BreakerState::MetricsOnly) {
                    *failures = if failed {
                        failures.saturating_add(1)
                    } else {
                        0
                    };
                }
            }
        }
    }

    /// When the next automatic transition is due: the end of the wait in open (only
    /// with `automatic_transition_to_half_open`), or the end of
    /// `max_wait_in_half_open`. `None` when nothing is scheduled.
    pub fn poll_timeout(&self) -> Option<Nanos> {
        match self.state {
            BreakerState::Open if self.config.automatic_transition_to_half_open => {
                Some(self.open_until)
            }
            BreakerState::HalfOpen => self.half_open_until,
            _ => None,
        }
    }

    /// Performs the automatic transition due at or before `now`, if any, stamped with
    /// `now` (call it at [`poll_timeout`](Self::poll_timeout) for an exact timeline).
    /// A spurious call is a no-op.
    pub fn handle_timeout(&mut self, now: Nanos) {
        self.observe(now);
        match self.state {
            BreakerState::Open
                if self.config.automatic_transition_to_half_open && now >= self.open_until =>
            {
                self.transition(BreakerState::HalfOpen, TransitionReason::WaitElapsed, now);
            }
            BreakerState::HalfOpen if self.half_open_until.is_some_and(|until| now >= until) => {
                self.transition(BreakerState::Open, TransitionReason::HalfOpenTimedOut, now);
            }
            _ => {}
        }
    }

    /// Moves the breaker to `to` by hand (resilience4j `transitionTo*State`). A
    /// transition to the current state does nothing and returns `false`.
    pub fn transition_to(&mut self, to: BreakerState, now: Nanos) -> bool {
        self.observe(now);
        if to == self.state {
            return false;
        }
        self.transition(to, TransitionReason::Manual, now);
        true
    }

    /// Closes the breaker with fresh metrics and no trip history (resilience4j
    /// `reset()`); logs a transition if it was not closed.
    pub fn reset(&mut self, now: Nanos) {
        self.observe(now);
        self.transition(BreakerState::Closed, TransitionReason::Manual, now);
    }

    fn transition(&mut self, to: BreakerState, reason: TransitionReason, now: Nanos) {
        let from = self.state;
        self.generation += 1;
        self.half_open_until = None;
        match to {
            BreakerState::Closed | BreakerState::MetricsOnly => {
                self.trips = 0;
                match &mut self.mode {
                    Mode::Rate { closed, .. } => closed.clear(),
                    Mode::Consecutive { failures, .. } => *failures = 0,
                }
            }
            BreakerState::Open => {
                self.trips = self.trips.saturating_add(1);
                let wait = nanos_of(self.config.wait_in_open.after_trips(self.trips));
                self.open_until = now.saturating_add(wait);
                if let Mode::Rate {
                    open_window_is_half_open,
                    ..
                } = &mut self.mode
                {
                    *open_window_is_half_open = from == BreakerState::HalfOpen;
                }
            }
            BreakerState::HalfOpen => {
                if let Mode::Rate { half_open, .. } = &mut self.mode {
                    half_open.clear();
                }
                self.half_open_admitted = 0;
                self.half_open_released = 0;
                self.abandoned
                    .store((self.generation & 0xffff_ffff) << 32, Ordering::Release);
                if !self.config.max_wait_in_half_open.is_zero() {
                    self.half_open_until =
                        Some(now.saturating_add(nanos_of(self.config.max_wait_in_half_open)));
                }
            }
            // resilience4j: `new ForcedOpenState(currentState.attempts() + 1)`.
            BreakerState::ForcedOpen => self.trips = self.trips.saturating_add(1),
            BreakerState::Disabled => {}
        }
        self.state = to;
        if from != to {
            self.log(Transition {
                at: now,
                from,
                to,
                reason,
            });
        }
    }

    fn log(&mut self, transition: Transition) {
        if self.config.transition_log_capacity == 0 {
            self.transitions_dropped += 1;
            return;
        }
        if self.transitions.len() == self.config.transition_log_capacity {
            self.transitions.pop_front();
            self.transitions_dropped += 1;
        }
        self.transitions.push_back(transition);
    }

    /// The oldest transition not yet polled.
    pub fn poll_transition(&mut self) -> Option<Transition> {
        self.transitions.pop_front()
    }

    /// Transitions dropped because the log was full.
    pub fn transitions_dropped(&self) -> u64 {
        self.transitions_dropped
    }

    /// What the breaker has measured, as of `now` (time-based windows exclude the
    /// buckets that have left the window by then).
    pub fn metrics(&self, now: Nanos) -> BreakerMetrics {
        let mut metrics = BreakerMetrics {
            state: self.state,
            calls: 0,
            failed_calls: 0,
            slow_calls: 0,
            failure_rate: None,
            slow_call_rate: None,
            consecutive_failures: 0,
            not_permitted_calls: self.not_permitted,
            stale_results: self.stale_results,
        };
        match &self.mode {
            Mode::Rate {
                closed,
                closed_minimum,
                half_open,
                half_open_minimum,
                open_window_is_half_open,
                ..
            } => {
                let use_half_open = self.state == BreakerState::HalfOpen
                    || (self.state == BreakerState::Open && *open_window_is_half_open);
                let (tally, minimum) = if use_half_open {
                    (half_open.tally, *half_open_minimum)
                } else {
                    (closed.tally_at(now), *closed_minimum)
                };
                (metrics.failure_rate, metrics.slow_call_rate) = Mode::rates(tally, minimum);
                metrics.calls = tally.calls;
                metrics.failed_calls = tally.failed;
                metrics.slow_calls = tally.slow;
            }
            Mode::Consecutive { failures, .. } => metrics.consecutive_failures = *failures,
        }
        metrics
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const MS: u64 = 1_000_000;
    const SEC: u64 = 1_000_000_000;

    fn rate_breaker(rule: RateRule) -> Breaker {
        Breaker::new(BreakerConfig {
            trip: TripRule::Rate(rule),
            ..BreakerConfig::default()
        })
        .unwrap()
    }

    fn count_rule(calls: u32, minimum: u32, permitted: u32) -> RateRule {
        RateRule {
            window: SlidingWindow::CountBased { calls },
            minimum_number_of_calls: minimum,
            permitted_calls_in_half_open: permitted,
            ..RateRule::default()
        }
    }

    /// One call acquired and finished at `now`, taking `duration_ms`.
    fn call(breaker: &mut Breaker, outcome: Outcome, duration_ms: u64, now: Nanos) {
        let permit = breaker.try_acquire(now).expect("admitted");
        breaker.record(permit, outcome, Duration::from_millis(duration_ms), now);
    }

    /// Runs `outcomes` ('S' success, 'F' error) as sequential calls and returns the
    /// state after each, as a string of 'C', 'O', 'H'.
    fn states_after(breaker: &mut Breaker, outcomes: &str, now: Nanos) -> String {
        outcomes
            .chars()
            .map(|c| {
                let outcome = if c == 'F' {
                    Outcome::Error
                } else {
                    Outcome::Success
                };
                call(breaker, outcome, 1, now);
                match breaker.state() {
                    BreakerState::Closed => 'C',
                    BreakerState::Open => 'O',
                    BreakerState::HalfOpen => 'H',
                    other => panic!("unexpected {other:?}"),
                }
            })
            .collect()
    }

    #[test]
    fn minimum_number_of_calls_gates_the_rate() {
        // resilience4j docs (CircuitBreaker, "minimumNumberOfCalls"): "if
        // minimumNumberOfCalls is 10, then at least 10 calls must be recorded before
        // the failure rate can be calculated. If only 9 calls have been evaluated the
        // CircuitBreaker will not transition to open even if all 9 calls have failed."
        // Window 10, minimum 5, threshold 50%.
        let check = |outcomes: &str, expected: &str| {
            let mut breaker = rate_breaker(count_rule(10, 5, 3));
            assert_eq!(
                states_after(&mut breaker, outcomes, 0),
                expected,
                "{outcomes}"
            );
        };
        check("FFFF", "CCCC"); // 4 failures: no rate exists yet
        check("FFFFF", "CCCCO"); // the 5th computes 100%
        check("SFFSF", "CCCCO"); // the 5th computes 3/5 = 60% >= 50%
        check("SFSSF", "CCCCC"); // 2/5 = 40%
        check("SFSSFF", "CCCCCO"); // 3/6 = 50%: trips at equality (>=)
    }

    #[test]
    fn minimum_is_capped_at_a_count_window_but_not_a_time_window() {
        // CircuitBreakerMetrics: COUNT_BASED uses min(minimumNumberOfCalls, size).
        let mut breaker = rate_breaker(count_rule(4, 100, 1));
        assert_eq!(states_after(&mut breaker, "SSFF", 0), "CCCO");
        let mut breaker = rate_breaker(RateRule {
            window: SlidingWindow::TimeBased { seconds: 4 },
            minimum_number_of_calls: 6,
            ..RateRule::default()
        });
        assert_eq!(states_after(&mut breaker, "FFFFF", 0), "CCCCC");
        assert_eq!(states_after(&mut breaker, "F", 0), "O");
    }

    #[test]
    fn count_window_subtracts_the_evicted_call() {
        // FixedSizeSlidingWindowMetrics: the oldest outcome leaves when a new one
        // enters. Window 4, minimum 4: F S S S -> 25%; then S evicts F -> 0%;
        // F F evict S S -> 50% trips.
        let mut breaker = rate_breaker(count_rule(4, 4, 1));
        assert_eq!(states_after(&mut breaker, "FSSSSF", 0), "CCCCCC");
        assert_eq!(breaker.metrics(0).failed_calls, 1);
        assert_eq!(states_after(&mut breaker, "F", 0), "O");
        assert_eq!(breaker.metrics(0).failure_rate, Some(50.0));
    }

    #[test]
    fn time_window_evicts_whole_seconds() {
        // SlidingTimeWindowMetrics: N one-second buckets; a bucket leaves the window
        // N seconds after its second began.
        let mut breaker = rate_breaker(RateRule {
            window: SlidingWindow::TimeBased { seconds: 2 },
            minimum_number_of_calls: 2,
            ..RateRule::default()
        });
        call(&mut breaker, Outcome::Error, 1, SEC / 2); // second 0
        assert_eq!(breaker.metrics(SEC + SEC / 2).calls, 1); // second 1: still in
        assert_eq!(breaker.metrics(2 * SEC).calls, 0); // second 2: evicted
        call(&mut breaker, Outcome::Success, 1, 2 * SEC);
        assert_eq!(breaker.state(), BreakerState::Closed);
        let metrics = breaker.metrics(2 * SEC);
        assert_eq!((metrics.calls, metrics.failed_calls), (1, 0));
        // Two failures in seconds 2 and 3, with the success: 2/3 >= 50%.
        call(&mut breaker, Outcome::Error, 1, 2 * SEC + 1);
        assert_eq!(breaker.state(), BreakerState::Open);
        // A long gap clears every bucket.
        let mut breaker = rate_breaker(RateRule {
            window: SlidingWindow::TimeBased { seconds: 3 },
            minimum_number_of_calls: 2,
            ..RateRule::default()
        });
        call(&mut breaker, Outcome::Error, 1, 0);
        call(&mut breaker, Outcome::Success, 1, 100 * SEC);
        call(&mut breaker, Outcome::Success, 1, 100 * SEC);
        assert_eq!(breaker.metrics(100 * SEC).failed_calls, 0);
    }

    #[test]
    fn slow_means_strictly_longer_than_the_threshold() {
        // CircuitBreakerMetrics.onSuccess/onError: `duration > slowCallDurationThreshold`
        // makes SLOW_SUCCESS / SLOW_ERROR.
        let rule = RateRule {
            slow_call_duration_threshold: Duration::from_millis(100),
            slow_call_rate_threshold: 50.0,
            failure_rate_threshold: 100.0,
            ..count_rule(4, 2, 1)
        };
        let mut breaker = rate_breaker(rule);
        call(&mut breaker, Outcome::Success, 100, 0); // equal: not slow
        call(&mut breaker, Outcome::Success, 100, 0);
        assert_eq!(breaker.metrics(0).slow_calls, 0);
        assert_eq!(breaker.state(), BreakerState::Closed);
        call(&mut breaker, Outcome::Error, 101, 0); // slow failure counts as slow
        assert_eq!(breaker.metrics(0).slow_calls, 1);
        assert_eq!(breaker.state(), BreakerState::Closed); // 1/3 slow
        call(&mut breaker, Outcome::Success, 101, 0); // 2/4 = 50% slow
        assert_eq!(breaker.state(), BreakerState::Open);
        let transition = breaker.poll_transition().unwrap();
        assert_eq!(transition.reason, TransitionReason::SlowCallRateExceeded);
    }

    /// A breaker tripped at time 0 with window 10, minimum 5, and `permitted` probes.
    fn tripped(permitted: u32, wait: Duration, automatic: bool) -> Breaker {
        let mut breaker = Breaker::new(BreakerConfig {
            trip: TripRule::Rate(count_rule(10, 5, permitted)),
            wait_in_open: OpenWait::Fixed(wait),
            automatic_transition_to_half_open: automatic,
            ..BreakerConfig::default()
        })
        .unwrap();
        assert_eq!(states_after(&mut breaker, "FFFFF", 0), "CCCCO");
        breaker
    }

    #[test]
    fn lazy_transition_admits_the_first_call_strictly_after_the_wait() {
        // OpenState.tryAcquirePermission: `clock.instant().isAfter(retryAfterWaitDuration)`.
        let mut breaker = tripped(3, Duration::from_secs(60), false);
        assert_eq!(breaker.poll_timeout(), None);
        let rejected = breaker.try_acquire(60 * SEC).unwrap_err();
        assert_eq!(rejected.state, BreakerState::Open);
        assert_eq!(rejected.retry_at, Some(60 * SEC + 1));
        let probe = breaker.try_acquire(60 * SEC + 1).unwrap();
        assert!(probe.is_probe());
        assert_eq!(breaker.state(), BreakerState::HalfOpen);
        breaker.release(probe, 60 * SEC + 1);
    }

    #[test]
    fn automatic_transition_is_due_at_the_end_of_the_wait() {
        let mut breaker = tripped(3, Duration::from_secs(60), true);
        assert_eq!(breaker.poll_timeout(), Some(60 * SEC));
        breaker.handle_timeout(60 * SEC - 1); // spurious: no-op
        assert_eq!(breaker.state(), BreakerState::Open);
        breaker.handle_timeout(60 * SEC);
        assert_eq!(breaker.state(), BreakerState::HalfOpen);
        assert_eq!(breaker.poll_timeout(), None);
        let log: Vec<_> = std::iter::from_fn(|| breaker.poll_transition())
            .map(|t| (t.at, t.from, t.to, t.reason))
            .collect();
        assert_eq!(
            log,
            [
                (
                    0,
                    BreakerState::Closed,
                    BreakerState::Open,
                    TransitionReason::FailureRateExceeded
                ),
                (
                    60 * SEC,
                    BreakerState::Open,
                    BreakerState::HalfOpen,
                    TransitionReason::WaitElapsed
                ),
            ]
        );
    }

    #[test]
    fn half_open_admits_its_permitted_calls_and_decides_on_their_results() {
        // HalfOpenState: permittedNumberOfCalls counts down; a fresh count window of
        // that size; re-open if the rate >= threshold, else close.
        let t = 61 * SEC;
        let run = |outcomes: [Outcome; 3]| {
            let mut breaker = tripped(3, Duration::from_secs(60), false);
            let permits: Vec<Permit> = (0..3).map(|_| breaker.try_acquire(t).unwrap()).collect();
            let fourth = breaker.try_acquire(t).unwrap_err();
            assert_eq!(fourth.state, BreakerState::HalfOpen);
            let mut states = Vec::new();
            for (permit, outcome) in permits.into_iter().zip(outcomes) {
                breaker.record(permit, outcome, Duration::from_millis(1), t);
                states.push(breaker.state());
            }
            (states, breaker.trips())
        };
        use BreakerState::{Closed, HalfOpen, Open};
        use Outcome::{Error as F, Success as S};
        // 2 of 3 failures (66%) re-open; the trip count grows (resilience4j attempts).
        assert_eq!(run([F, S, F]), (vec![HalfOpen, HalfOpen, Open], 2));
        // 1 of 3 (33%) closes and forgets the trips.
        assert_eq!(run([S, F, S]), (vec![HalfOpen, HalfOpen, Closed], 0));
    }

    #[test]
    fn half_open_decides_early_when_the_minimum_is_below_the_permitted_calls() {
        // CircuitBreakerMetrics.forHalfOpen: a count window of the permitted size,
        // so the minimum is min(minimumNumberOfCalls, permitted) = 2 here.
        let mut breaker = Breaker::new(BreakerConfig {
            trip: TripRule::Rate(count_rule(10, 2, 5)),
            ..BreakerConfig::default()
        })
        .unwrap();
        assert_eq!(states_after(&mut breaker, "FF", 0), "CO");
        assert_eq!(states_after(&mut breaker, "SS", 61 * SEC), "HC");
    }

    #[test]
    fn exponential_wait_grows_per_consecutive_trip_and_resets_on_close() {
        let mut breaker = Breaker::new(BreakerConfig {
            trip: TripRule::Rate(count_rule(2, 1, 1)),
            wait_in_open: OpenWait::Exponential {
                initial: Duration::from_secs(1),
                multiplier: 2.0,
                max: Duration::from_secs(5),
            },
            ..BreakerConfig::default()
        })
        .unwrap();
        let mut now = 0;
        let mut waits = Vec::new();
        call(&mut breaker, Outcome::Error, 1, now);
        for _ in 0..4 {
            let until = breaker.open_until().unwrap();
            waits.push((until - now) / SEC);
            now = until + 1;
            call(&mut breaker, Outcome::Error, 1, now); // the probe fails: re-open
        }
        assert_eq!(waits, [1, 2, 4, 5]);
        now = breaker.open_until().unwrap() + 1;
        call(&mut breaker, Outcome::Success, 1, now);
        assert_eq!(breaker.state(), BreakerState::Closed);
        call(&mut breaker, Outcome::Error, 1, now);
        assert_eq!(breaker.open_until(), Some(now + SEC));
    }

    #[test]
    fn max_wait_in_half_open_forces_it_back_to_open() {
        let mut breaker = Breaker::new(BreakerConfig {
            trip: TripRule::Rate(count_rule(10, 5, 3)),
            wait_in_open: OpenWait::Fixed(Duration::from_secs(10)),
            automatic_transition_to_half_open: true,
            max_wait_in_half_open: Duration::from_secs(2),
            ..BreakerConfig::default()
        })
        .unwrap();
        assert_eq!(states_after(&mut breaker, "FFFFF", 0), "CCCCO");
        breaker.handle_timeout(10 * SEC);
        assert_eq!(breaker.state(), BreakerState::HalfOpen);
        let probe = breaker.try_acquire(10 * SEC).unwrap();
        assert_eq!(breaker.poll_timeout(), Some(12 * SEC));
        breaker.handle_timeout(12 * SEC);
        assert_eq!(breaker.state(), BreakerState::Open);
        assert_eq!(breaker.poll_timeout(), Some(22 * SEC));
        // The late probe result is stale: recorded, no transition.
        breaker.record(probe, Outcome::Success, Duration::from_secs(3), 13 * SEC);
        assert_eq!(breaker.state(), BreakerState::Open);
        assert_eq!(breaker.metrics(13 * SEC).stale_results, 1);
    }

    #[test]
    fn results_of_calls_started_before_a_transition_cause_no_transition() {
        // CircuitBreakerStateMachine.OpenState.onError: "the onError event should still
        // be recorded, even if it happened after the state transition".
        let mut breaker = rate_breaker(count_rule(10, 5, 3));
        let early: Vec<Permit> = (0..3).map(|_| breaker.try_acquire(0).unwrap()).collect();
        assert_eq!(states_after(&mut breaker, "FFFFF", 0), "CCCCO");
        let calls_when_tripped = breaker.metrics(0).calls;
        for permit in early {
            breaker.record(permit, Outcome::Success, Duration::from_millis(1), SEC);
        }
        let metrics = breaker.metrics(SEC);
        assert_eq!(metrics.calls, calls_when_tripped + 3); // recorded...
        assert_eq!(metrics.stale_results, 3);
        assert_eq!(breaker.state(), BreakerState::Open); // ...without a transition
        // A closed-era permit finishing in half-open does not count as a probe.
        let late = {
            let mut breaker2 = rate_breaker(count_rule(10, 5, 1));
            let late = breaker2.try_acquire(0).unwrap();
            assert_eq!(states_after(&mut breaker2, "FFFFF", 0), "CCCCO");
            let probe = breaker2.try_acquire(61 * SEC).unwrap();
            breaker2.record(late, Outcome::Success, Duration::ZERO, 61 * SEC);
            assert_eq!(breaker2.state(), BreakerState::HalfOpen);
            assert_eq!(breaker2.metrics(61 * SEC).calls, 0);
            breaker2.record(probe, Outcome::Success, Duration::ZERO, 61 * SEC);
            breaker2.state()
        };
        assert_eq!(late, BreakerState::Closed);
    }

    #[test]
    fn a_cancelled_or_abandoned_probe_frees_its_slot() {
        // resilience4j HalfOpenState.releasePermission increments the permitted count;
        // here dropping the permit does the same (issues #903, #935, #2172).
        let t = 61 * SEC;
        let mut breaker = tripped(2, Duration::from_secs(60), false);
        let first = breaker.try_acquire(t).unwrap();
        let second = breaker.try_acquire(t).unwrap();
        assert!(breaker.try_acquire(t).is_err());
        breaker.release(first, t); // cancelled
        let third = breaker.try_acquire(t).unwrap();
        assert!(breaker.try_acquire(t).is_err());
        drop(second); // abandoned
        assert_eq!(breaker.probes_in_use(), 1);
        let fourth = breaker.try_acquire(t).unwrap();
        assert!(breaker.try_acquire(t).is_err());
        breaker.record(third, Outcome::Success, Duration::ZERO, t);
        breaker.record(fourth, Outcome::Success, Duration::ZERO, t);
        assert_eq!(breaker.state(), BreakerState::Closed);
    }

    #[test]
    fn an_abandoned_probe_of_an_earlier_half_open_period_frees_nothing_now() {
        let mut breaker = Breaker::new(BreakerConfig::consecutive_failures(
            1,
            Duration::from_secs(1),
        ))
        .unwrap();
        call(&mut breaker, Outcome::Error, 1, 0);
        let old_probe = breaker.try_acquire(SEC + 1).unwrap();
        breaker.transition_to(BreakerState::Open, SEC + 2);
        let new_probe = breaker.try_acquire(2 * SEC + 3).unwrap();
        drop(old_probe); // from the previous half-open period
        assert!(breaker.try_acquire(2 * SEC + 3).is_err());
        breaker.record(new_probe, Outcome::Success, Duration::ZERO, 2 * SEC + 3);
        assert_eq!(breaker.state(), BreakerState::Closed);
    }

    #[test]
    fn ignored_outcomes_release_the_permit() {
        let mut breaker = tripped(1, Duration::from_secs(60), false);
        let probe = breaker.try_acquire(61 * SEC).unwrap();
        breaker.record(probe, Outcome::BreakerOpen, Duration::ZERO, 61 * SEC);
        assert_eq!(breaker.state(), BreakerState::HalfOpen);
        assert_eq!(breaker.probes_in_use(), 0);
        call(&mut breaker, Outcome::Success, 1, 61 * SEC);
        assert_eq!(breaker.state(), BreakerState::Closed);
    }

    #[test]
    fn manual_states_disabled_forced_open_metrics_only() {
        let mut breaker = rate_breaker(count_rule(4, 1, 1));
        // DISABLED: permit all, record nothing.
        breaker.transition_to(BreakerState::Disabled, 0);
        for _ in 0..10 {
            call(&mut breaker, Outcome::Error, 1, 0);
        }
        assert_eq!(breaker.state(), BreakerState::Disabled);
        assert_eq!(breaker.metrics(0).calls, 0);
        // FORCED_OPEN: reject all, forever.
        breaker.transition_to(BreakerState::ForcedOpen, 0);
        assert_eq!(breaker.try_acquire(1_000 * SEC).unwrap_err().retry_at, None);
        assert_eq!(breaker.poll_timeout(), None);
        // METRICS_ONLY: record, never open.
        breaker.transition_to(BreakerState::MetricsOnly, 1_000 * SEC);
        for _ in 0..10 {
            call(&mut breaker, Outcome::Error, 1, 1_000 * SEC);
        }
        assert_eq!(breaker.state(), BreakerState::MetricsOnly);
        assert_eq!(breaker.metrics(1_000 * SEC).failure_rate, Some(100.0));
        assert!(!breaker.transition_to(BreakerState::MetricsOnly, 1_000 * SEC));
        breaker.reset(1_000 * SEC);
        assert_eq!(breaker.state(), BreakerState::Closed);
        assert_eq!(breaker.metrics(1_000 * SEC).calls, 0);
        let states: Vec<_> = std::iter::from_fn(|| breaker.poll_transition())
            .map(|t| t.to)
            .collect();
        use BreakerState::*;
        assert_eq!(states, [Disabled, ForcedOpen, MetricsOnly, Closed]);
    }

    #[test]
    fn consecutive_failures_mirror_pybreaker() {
        // pybreaker: fail_max 5; a success in closed resets the counter; after
        // reset_timeout the next call is a trial; its success closes, failure re-opens.
        let mut breaker = Breaker::new(BreakerConfig::consecutive_failures(
            5,
            Duration::from_secs(60),
        ))
        .unwrap();
        assert_eq!(states_after(&mut breaker, "FFFFS", 0), "CCCCC");
        assert_eq!(breaker.metrics(0).consecutive_failures, 0);
        assert_eq!(states_after(&mut breaker, "FFFFF", 0), "CCCCO");
        let rejected = breaker.try_acquire(60 * SEC - 1).unwrap_err();
        assert_eq!(rejected.retry_at, Some(60 * SEC));
        // pybreaker: `now < opened_at + timeout` rejects, so at 60 s the trial goes.
        let probe = breaker.try_acquire(60 * SEC).unwrap();
        // One probe at a time (Hystrix, Polly).
        assert_eq!(
            breaker.try_acquire(60 * SEC + 1).unwrap_err().state,
            BreakerState::HalfOpen
        );
        breaker.record(probe, Outcome::Timeout, Duration::ZERO, 60 * SEC + 2);
        assert_eq!(breaker.state(), BreakerState::Open);
        assert_eq!(breaker.open_until(), Some(120 * SEC + 2));
        assert_eq!(states_after(&mut breaker, "S", 121 * SEC), "C");
        let reasons: Vec<_> = std::iter::from_fn(|| breaker.poll_transition())
            .map(|t| t.reason)
            .collect();
        use TransitionReason::*;
        assert_eq!(
            reasons,
            [
                ConsecutiveFailures,
                WaitElapsed,
                ProbeFailed,
                WaitElapsed,
                ProbesSucceeded
            ]
        );
    }

    #[test]
    fn breakers_and_permits_can_move_between_threads() {
        fn send_and_sync<T: Send + Sync>() {}
        send_and_sync::<Breaker>();
        send_and_sync::<Permit>();
    }

    #[test]
    fn the_transition_log_is_bounded() {
        let mut breaker = Breaker::new(BreakerConfig {
            transition_log_capacity: 2,
            ..BreakerConfig::default()
        })
        .unwrap();
        for (i, state) in [
            BreakerState::Open,
            BreakerState::Closed,
            BreakerState::Disabled,
        ]
        .into_iter()
        .enumerate()
        {
            breaker.transition_to(state, i as u64);
        }
        assert_eq!(breaker.transitions_dropped(), 1);
        assert_eq!(breaker.poll_transition().unwrap().to, BreakerState::Closed);
        assert_eq!(
            breaker.poll_transition().unwrap().to,
            BreakerState::Disabled
        );
        assert_eq!(breaker.poll_transition(), None);
    }

    #[test]
    fn invalid_configs_are_errors() {
        let check = |config: BreakerConfig, field: &str| {
            assert_eq!(Breaker::new(config).unwrap_err().field, field);
        };
        let rate = |rule: RateRule| BreakerConfig {
            trip: TripRule::Rate(rule),
            ..BreakerConfig::default()
        };
        check(
            rate(RateRule {
                failure_rate_threshold: 0.0,
                ..RateRule::default()
            }),
            "failure_rate_threshold",
        );
        check(
            rate(RateRule {
                slow_call_rate_threshold: 101.0,
                ..RateRule::default()
            }),
            "slow_call_rate_threshold",
        );
        check(rate(count_rule(0, 1, 1)), "window");
        check(rate(count_rule(MAX_WINDOW_CALLS + 1, 1, 1)), "window");
        check(
            BreakerConfig {
                transition_log_capacity: MAX_TRANSITION_LOG + 1,
                ..BreakerConfig::default()
            },
            "transition_log_capacity",
        );
        check(rate(count_rule(1, 0, 1)), "minimum_number_of_calls");
        check(rate(count_rule(1, 1, 0)), "permitted_calls_in_half_open");
        check(
            BreakerConfig::consecutive_failures(0, Duration::from_secs(1)),
            "fail_max",
        );
        check(
            BreakerConfig::consecutive_failures(1, Duration::ZERO),
            "wait_in_open",
        );
        check(
            BreakerConfig {
                wait_in_open: OpenWait::Exponential {
                    initial: Duration::from_secs(2),
                    multiplier: 2.0,
                    max: Duration::from_secs(1),
                },
                ..BreakerConfig::default()
            },
            "wait_in_open.max",
        );
    }

    #[derive(Clone, Debug)]
    enum Op {
        Acquire,
        Record(usize, bool, u16),
        Release(usize),
        Drop(usize),
        Advance(u16),
        Timeout,
        Manual(u8),
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            4 => Just(Op::Acquire),
            4 => (any::<usize>(), any::<bool>(), 0..300u16).prop_map(|(i, f, d)| Op::Record(i, f, d)),
            1 => any::<usize>().prop_map(Op::Release),
            1 => any::<usize>().prop_map(Op::Drop),
            3 => (0..2_000u16).prop_map(Op::Advance),
            1 => Just(Op::Timeout),
            1 => (0..6u8).prop_map(Op::Manual),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(128))]

        /// Whatever the interleaving of acquire, record, release, drop, time advance,
        /// timeouts and manual transitions, a half-open breaker never has more probes
        /// in flight or recorded than it permits.
        #[test]
        fn half_open_never_admits_more_than_its_permitted_calls(
            permitted in 1..4u32,
            consecutive in any::<bool>(),
            max_wait_ms in prop_oneof![Just(0u64), 1..3_000u64],
            automatic in any::<bool>(),
            ops in proptest::collection::vec(op(), 1..200),
        ) {
            let trip = if consecutive {
                TripRule::ConsecutiveFailures { fail_max: 2 }
            } else {
                TripRule::Rate(RateRule {
                    slow_call_duration_threshold: Duration::from_millis(200),
                    ..count_rule(4, 2, permitted)
                })
            };
            let permitted = if consecutive { 1 } else { u64::from(permitted) };
            let mut breaker = Breaker::new(BreakerConfig {
                trip,
                wait_in_open: OpenWait::Fixed(Duration::from_millis(500)),
                automatic_transition_to_half_open: automatic,
                max_wait_in_half_open: Duration::from_millis(max_wait_ms),
                ..BreakerConfig::default()
            }).unwrap();
            let mut now = 0u64;
            let mut permits: Vec<Permit> = Vec::new();
            // A reference model of the current half-open period: probes admitted in
            // it, and probes of it given back (released or dropped).
            let mut period = u64::MAX;
            let (mut admitted, mut given_back) = (0u64, 0u64);
            for op in ops {
                let of_period = |permit: &Permit| u64::from(permit.is_probe() && permit.generation() == period);
                match op {
                    Op::Acquire => {
                        if let Ok(permit) = breaker.try_acquire(now) {
                            if permit.is_probe() {
                                if permit.generation() != period {
                                    period = permit.generation();
                                    (admitted, given_back) = (0, 0);
                                }
                                admitted += 1;
                            }
                            permits.push(permit);
                        }
                    }
                    Op::Record(i, failed, ms) if !permits.is_empty() => {
                        let permit = permits.swap_remove(i % permits.len());
                        let outcome = if failed { Outcome::Error } else { Outcome::Success };
                        breaker.record(permit, outcome, Duration::from_millis(u64::from(ms)), now);
                    }
                    Op::Release(i) if !permits.is_empty() => {
                        let permit = permits.swap_remove(i % permits.len());
                        given_back += of_period(&permit);
                        breaker.release(permit, now);
                    }
                    Op::Drop(i) if !permits.is_empty() => {
                        let permit = permits.swap_remove(i % permits.len());
                        given_back += of_period(&permit);
                        drop(permit);
                    }
                    Op::Advance(ms) => now += u64::from(ms) * MS,
                    Op::Timeout => {
                        if let Some(at) = breaker.poll_timeout() {
                            now = now.max(at);
                            breaker.handle_timeout(now);
                        }
                    }
                    Op::Manual(k) => {
                        use BreakerState::*;
                        let to = [Closed, Open, HalfOpen, Disabled, ForcedOpen, MetricsOnly][k as usize];
                        breaker.transition_to(to, now);
                    }
                    _ => {}
                }
                prop_assert!(
                    admitted - given_back <= permitted,
                    "{admitted} probes admitted, {given_back} given back, {permitted} permitted"
                );
                prop_assert!(breaker.probes_in_use() <= permitted);
                if breaker.state() == BreakerState::HalfOpen && breaker.generation() == period {
                    prop_assert_eq!(breaker.probes_in_use(), admitted - given_back);
                }
            }
        }
    }
}
