//! The breaker's vocabulary: its states (as resilience4j names them), why it changes
//! state, the log entry of a change, and the snapshot of what it has measured. Plain
//! data, shared by the state machine (`mod.rs`) and its owners.

use crate::Nanos;

/// The breaker's state, as resilience4j names them.
///
/// ```
/// use std::time::Instant;
/// use meshsim_patterns::breaker::{Breaker, BreakerConfig, BreakerState};
///
/// let start = Instant::now();
/// let mut breaker = Breaker::new(BreakerConfig::default())?;
/// assert_eq!(breaker.state(), BreakerState::Closed);
/// breaker.transition_to(BreakerState::ForcedOpen, start.elapsed().as_nanos() as u64);
/// assert!(breaker.try_acquire(start.elapsed().as_nanos() as u64).is_err());
/// # Ok::<(), meshsim_patterns::ConfigError>(())
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
/// use meshsim_patterns::Outcome;
/// use meshsim_patterns::breaker::{Breaker, BreakerConfig, TransitionReason};
///
/// let start = Instant::now();
/// let mut breaker = Breaker::new(BreakerConfig::consecutive_failures(1, Duration::from_secs(1)))?;
/// let now = start.elapsed().as_nanos() as u64;
/// let permit = breaker.try_acquire(now).unwrap();
/// breaker.record(permit, Outcome::Timeout, Duration::ZERO, now);
/// let transition = breaker.poll_transition().unwrap();
/// assert_eq!(transition.reason, TransitionReason::ConsecutiveFailures);
/// # Ok::<(), meshsim_patterns::ConfigError>(())
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
    /// [`Breaker::transition_to`](super::Breaker::transition_to) or
    /// [`Breaker::reset`](super::Breaker::reset).
    Manual,
}

/// One state change, for a state timeline.
///
/// ```
/// use std::time::Instant;
/// use meshsim_patterns::breaker::{Breaker, BreakerConfig, BreakerState, Transition, TransitionReason};
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
/// # Ok::<(), meshsim_patterns::ConfigError>(())
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

/// A snapshot of what the breaker has measured.
///
/// ```
/// use std::time::{Duration, Instant};
/// use meshsim_patterns::Outcome;
/// use meshsim_patterns::breaker::{Breaker, BreakerConfig};
///
/// let start = Instant::now();
/// let mut breaker = Breaker::new(BreakerConfig::default())?;
/// let now = start.elapsed().as_nanos() as u64;
/// let permit = breaker.try_acquire(now).unwrap();
/// breaker.record(permit, Outcome::Error, Duration::from_millis(3), now);
/// let metrics = breaker.metrics(now);
/// assert_eq!((metrics.calls, metrics.failed_calls), (1, 1));
/// assert_eq!(metrics.failure_rate, None); // below minimum_number_of_calls (100)
/// # Ok::<(), meshsim_patterns::ConfigError>(())
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
