//! A circuit breaker's configuration: what trips it (a failure or slow-call rate over
//! a sliding window, as resilience4j, or consecutive failures, as pybreaker), how long
//! it stays open, how it probes, and the bounds that keep its memory fixed. A
//! configuration comes from a user, so [`BreakerConfig`] is checked when a
//! [`Breaker`](super::Breaker) is built and a bad one is a [`ConfigError`], never a
//! panic.

use std::time::Duration;

use crate::{ConfigError, Outcome, OutcomeSet, nanos_of};

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
/// use meshsim_patterns::breaker::{Breaker, BreakerConfig, RateRule, SlidingWindow, TripRule};
///
/// let start = Instant::now();
/// let rule = RateRule { window: SlidingWindow::TimeBased { seconds: 10 }, ..RateRule::default() };
/// let config = BreakerConfig { trip: TripRule::Rate(rule), ..BreakerConfig::default() };
/// let mut breaker = Breaker::new(config)?;
/// let now = start.elapsed().as_nanos() as u64;
/// assert!(breaker.try_acquire(now).is_ok());
/// # Ok::<(), meshsim_patterns::ConfigError>(())
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
/// use meshsim_patterns::Outcome;
/// use meshsim_patterns::breaker::{Breaker, BreakerConfig, BreakerState, RateRule, SlidingWindow, TripRule};
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
/// # Ok::<(), meshsim_patterns::ConfigError>(())
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
/// use meshsim_patterns::Outcome;
/// use meshsim_patterns::breaker::{Breaker, BreakerConfig, BreakerState, TripRule};
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
/// # Ok::<(), meshsim_patterns::ConfigError>(())
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
/// use meshsim_patterns::breaker::OpenWait;
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
/// use meshsim_patterns::breaker::{Breaker, BreakerConfig, OpenWait};
///
/// let start = Instant::now();
/// let config = BreakerConfig {
///     wait_in_open: OpenWait::Fixed(Duration::from_secs(5)),
///     automatic_transition_to_half_open: true,
///     ..BreakerConfig::default()
/// };
/// let mut breaker = Breaker::new(config)?;
/// let now = start.elapsed().as_nanos() as u64;
/// breaker.transition_to(meshsim_patterns::breaker::BreakerState::Open, now);
/// assert_eq!(breaker.poll_timeout(), Some(now + 5_000_000_000));
/// # Ok::<(), meshsim_patterns::ConfigError>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BreakerConfig {
    /// What trips the breaker.
    pub trip: TripRule,
    /// How long it stays open before probing.
    pub wait_in_open: OpenWait,
    /// `true`: open → half-open when the wait elapses ([`Breaker::poll_timeout`](super::Breaker::poll_timeout)
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

    /// `Err` naming the first invalid field, if any; [`Breaker::new`](super::Breaker::new)
    /// calls it.
    pub(super) fn validate(&self) -> Result<(), ConfigError> {
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
