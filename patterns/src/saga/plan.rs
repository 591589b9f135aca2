//! A saga's shape and its bounds: the kind of each step (Richardson's compensatable
//! steps, at most one pivot, then retriable steps), how many attempts each kind of call
//! may make, the backoff between them and whether compensations run in parallel.
//!
//! [`SagaConfig`] is what a user writes; [`SagaPlan`] is the checked, `Copy` form the
//! orchestrator and the log run with, so a plan that exists is a valid one. Every bound
//! here is what keeps a saga's log finite ([`SagaPlan::records_max`]).

use std::time::Duration;

use crate::retry::Backoff;
use crate::{ConfigError, Nanos, nanos_of};

/// The most steps a saga may have (a meshsim bound: real sagas have a handful, the
/// issue's checkout has four).
pub const MAX_STEPS: usize = 16;
/// The most attempts any one call (an action or a compensation) may make: every retry
/// loop has a bound.
pub const MAX_ATTEMPTS: u32 = 100;

/// The kind of a step, as Richardson's *Microservices Patterns* (ch. 4) names them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum StepKind {
    /// Has a compensation that undoes it if a later step fails.
    Compensatable,
    /// The go/no-go step: once it is applied the saga runs to completion; it has no
    /// compensation.
    Pivot,
    /// Follows the pivot and is retried until it succeeds; it has no compensation.
    Retriable,
}

/// What a user declares: the steps and the retry bounds.
///
/// The defaults follow Temporal's activity retry policy for the backoff (1 s initial,
/// ×2, capped at 100 × initial) but, unlike Temporal's default of unlimited attempts,
/// every count is bounded.
///
/// ```
/// use std::time::Instant;
/// use meshsim_patterns::saga::{SagaConfig, SagaPlan, StepKind};
///
/// let start = Instant::now();
/// let config = SagaConfig {
///     steps: vec![StepKind::Compensatable, StepKind::Pivot, StepKind::Retriable],
///     ..SagaConfig::default()
/// };
/// let plan = SagaPlan::new(&config)?;
/// assert_eq!(plan.len(), 3);
/// assert_eq!(plan.pivot(), Some(1));
/// let _now = start.elapsed().as_nanos() as u64;
/// # Ok::<(), meshsim_patterns::ConfigError>(())
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct SagaConfig {
    /// The steps in order: compensatable steps, then at most one pivot, then retriable
    /// steps; 1 to [`MAX_STEPS`] of them.
    pub steps: Vec<StepKind>,
    /// Attempts of a compensatable step or of the pivot before the saga gives up on it
    /// (1 to [`MAX_ATTEMPTS`]).
    pub action_attempts_max: u32,
    /// Attempts of a retriable step before the saga is dead-lettered (1 to
    /// [`MAX_ATTEMPTS`]).
    pub retriable_attempts_max: u32,
    /// Attempts of a compensation before the saga is dead-lettered (1 to
    /// [`MAX_ATTEMPTS`]).
    pub compensation_attempts_max: u32,
    /// The delay before retry `n` of any call (no jitter: a saga's retries are few and
    /// per saga, so they do not synchronise across clients the way request retries do).
    pub backoff: Backoff,
    /// Whether compensations run all at once (Temporal's `parallel_compensation`)
    /// rather than one at a time in reverse order of their steps.
    pub parallel_compensation: bool,
}

impl Default for SagaConfig {
    fn default() -> SagaConfig {
        SagaConfig {
            steps: vec![StepKind::Compensatable],
            action_attempts_max: 3,
            retriable_attempts_max: 10,
            compensation_attempts_max: 10,
            backoff: Backoff::Exponential {
                base: Duration::from_secs(1),
                multiplier: 2.0,
                cap: Duration::from_secs(100),
            },
            parallel_compensation: false,
        }
    }
}

/// A checked [`SagaConfig`]: what [`Saga`](super::Saga) and
/// [`SagaLog`](super::SagaLog) run with.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SagaPlan {
    kinds: [StepKind; MAX_STEPS],
    len: u8,
    action_attempts_max: u32,
    retriable_attempts_max: u32,
    compensation_attempts_max: u32,
    backoff: Backoff,
    parallel_compensation: bool,
}

impl SagaPlan {
    /// Checks `config`.
    pub fn new(config: &SagaConfig) -> Result<SagaPlan, ConfigError> {
        let error = |field, reason| Err(ConfigError::new("saga", field, reason));
        if config.steps.is_empty() || config.steps.len() > MAX_STEPS {
            return error("steps", "must hold 1 to 16 steps");
        }
        // Kinds must not go backwards: compensatable < pivot < retriable.
        let rank = |kind| match kind {
            StepKind::Compensatable => 0,
            StepKind::Pivot => 1,
            StepKind::Retriable => 2,
        };
        for pair in config.steps.windows(2) {
            if rank(pair[1]) < rank(pair[0]) {
                return error(
                    "steps",
                    "must be compensatable steps, then at most one pivot, then retriable steps",
                );
            }
        }
        if config
            .steps
            .iter()
            .filter(|&&k| k == StepKind::Pivot)
            .count()
            > 1
        {
            return error("steps", "must have at most one pivot");
        }
        for (field, attempts) in [
            ("action_attempts_max", config.action_attempts_max),
            ("retriable_attempts_max", config.retriable_attempts_max),
            (
                "compensation_attempts_max",
                config.compensation_attempts_max,
            ),
        ] {
            if attempts == 0 || attempts > MAX_ATTEMPTS {
                return error(field, "must be in 1..=100");
            }
        }
        match config.backoff {
            Backoff::Constant(_) => {}
            Backoff::Linear { initial, cap, .. } if cap < initial => {
                return error("backoff.cap", "must be at least the initial delay");
            }
            Backoff::Linear { .. } => {}
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
        let mut kinds = [StepKind::Retriable; MAX_STEPS];
        kinds[..config.steps.len()].copy_from_slice(&config.steps);
        Ok(SagaPlan {
            kinds,
            len: config.steps.len() as u8,
            action_attempts_max: config.action_attempts_max,
            retriable_attempts_max: config.retriable_attempts_max,
            compensation_attempts_max: config.compensation_attempts_max,
            backoff: config.backoff,
            parallel_compensation: config.parallel_compensation,
        })
    }

    /// The number of steps.
    pub fn len(&self) -> usize {
        usize::from(self.len)
    }

    /// Always false: a plan has at least one step (for clippy's `len_without_is_empty`).
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The kinds of the steps, in order.
    pub fn kinds(&self) -> &[StepKind] {
        &self.kinds[..self.len()]
    }

    /// The kind of step `step`.
    pub fn kind(&self, step: usize) -> StepKind {
        self.kinds()[step]
    }

    /// The pivot's index, if there is one.
    pub fn pivot(&self) -> Option<usize> {
        self.kinds().iter().position(|&k| k == StepKind::Pivot)
    }

    /// Whether compensations run in parallel.
    pub fn parallel_compensation(&self) -> bool {
        self.parallel_compensation
    }

    /// The attempts step `step`'s action may make.
    pub fn attempts_max(&self, step: usize) -> u32 {
        match self.kind(step) {
            StepKind::Retriable => self.retriable_attempts_max,
            StepKind::Compensatable | StepKind::Pivot => self.action_attempts_max,
        }
    }

    /// The attempts a compensation may make.
    pub fn compensation_attempts_max(&self) -> u32 {
        self.compensation_attempts_max
    }

    /// The delay before the retry that follows attempt `attempt` (1-based).
    pub(crate) fn retry_delay(&self, attempt: u32) -> Nanos {
        nanos_of(self.backoff.delay(attempt.saturating_sub(1)))
    }

    /// The most calls (actions and compensations) one saga of this plan can make.
    pub fn calls_max(&self) -> usize {
        let actions: u32 = (0..self.len()).map(|s| self.attempts_max(s)).sum();
        let compensatable = self
            .kinds()
            .iter()
            .filter(|&&k| k == StepKind::Compensatable)
            .count() as u32;
        (actions + compensatable * self.compensation_attempts_max) as usize
    }

    /// The most records one saga of this plan can append to its log: the start, then
    /// per call at most one record that settles it (a result or a recovery that turns
    /// it into an unknown outcome) and one that starts it (a timer expiry that fires a
    /// retry). Spurious inputs (stale replies, early timers) append nothing.
    pub fn records_max(&self) -> usize {
        1 + 2 * self.calls_max()
    }
}
