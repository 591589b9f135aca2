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

use super::window::{ClosedWindow, CountWindow, FAILED, SLOW, TimeWindow};
use super::{ConfigError, Nanos, Outcome, nanos_of};

mod config;
mod mode;
mod permit;
mod state;

pub use config::{
    BreakerConfig, MAX_TRANSITION_LOG, MAX_WINDOW_CALLS, MAX_WINDOW_SECONDS, OpenWait, RateRule,
    SlidingWindow, TripRule,
};
pub use permit::{Permit, Rejected};
pub use state::{BreakerMetrics, BreakerState, Transition, TransitionReason};

use mode::{Mode, Verdict};

/// A circuit breaker: resilience4j's state machine, or pybreaker's consecutive
/// failures, driven by the `now` its owner passes in.
///
/// ```
/// use std::time::{Duration, Instant};
/// use meshsim_patterns::Outcome;
/// use meshsim_patterns::breaker::{Breaker, BreakerConfig, BreakerState, RateRule, SlidingWindow, TripRule};
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
/// # Ok::<(), meshsim_patterns::ConfigError>(())
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
mod tests;
