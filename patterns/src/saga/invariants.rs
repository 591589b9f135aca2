//! The saga invariants, as functions over what the orchestrator reports (a saga's
//! [`Ending`]) and what the participants report (which actions and compensations
//! took effect, in the order they did, and their balances).
//!
//! - A **completed** saga applied each step exactly once in effect.
//! - A **compensated** saga undid each step that took effect, exactly once, and
//!   (unless compensations run in parallel) in reverse order of the steps; no action
//!   took effect after its own compensation.
//! - A **dead-lettered** saga left nothing standing that it did not report in its
//!   `left`, and applied nothing twice.
//! - **Conservation**: the participants' totals moved by exactly what the sagas
//!   legitimately left (a completed transfer moves nothing in total; a dead-lettered
//!   one moves what its standing steps moved).
//!
//! They are checked as each saga ends, so a checker need not keep every saga to the
//! end of a run.

use std::fmt;

use super::log::SagaId;
use super::orchestrator::Ending;
use super::plan::SagaPlan;

/// What took effect at a participant.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum EffectKind {
    /// The step's action changed the participant's state.
    Applied,
    /// Its compensation changed it back.
    Undone,
}

/// A broken saga invariant.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Violation {
    /// A completed saga whose step did not take effect exactly once.
    NotAppliedOnce {
        /// The saga.
        saga: SagaId,
        /// The step.
        step: usize,
        /// How many times it took effect.
        applied: u32,
    },
    /// A compensated saga whose step still stands (net 1) or was undone more than it
    /// was done (net below 0).
    NotUndone {
        /// The saga.
        saga: SagaId,
        /// The step.
        step: usize,
        /// Applications less undos.
        net: i64,
    },
    /// A step took effect more than once.
    AppliedTwice {
        /// The saga.
        saga: SagaId,
        /// The step.
        step: usize,
    },
    /// An action took effect after its own compensation.
    AppliedAfterUndone {
        /// The saga.
        saga: SagaId,
        /// The step.
        step: usize,
    },
    /// Compensations took effect out of reverse order: `earlier`'s before `later`'s.
    OutOfOrder {
        /// The saga.
        saga: SagaId,
        /// The earlier step, undone first.
        earlier: usize,
        /// The later step, undone after it.
        later: usize,
    },
    /// A dead-lettered saga left a step standing that its report does not name.
    UnreportedLeft {
        /// The saga.
        saga: SagaId,
        /// The step.
        step: usize,
    },
    /// Quantity was created or destroyed.
    Conservation {
        /// The total change the sagas account for.
        expected: i64,
        /// The change the participants hold.
        actual: i64,
    },
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Violation::NotAppliedOnce {
                saga,
                step,
                applied,
            } => write!(
                f,
                "{saga} completed but step {step} took effect {applied} times"
            ),
            Violation::NotUndone { saga, step, net } => {
                write!(f, "{saga} compensated but step {step} stands at net {net}")
            }
            Violation::AppliedTwice { saga, step } => {
                write!(f, "{saga}: step {step} took effect twice")
            }
            Violation::AppliedAfterUndone { saga, step } => {
                write!(f, "{saga}: step {step} took effect after its compensation")
            }
            Violation::OutOfOrder {
                saga,
                earlier,
                later,
            } => write!(
                f,
                "{saga}: step {earlier} was compensated before step {later}"
            ),
            Violation::UnreportedLeft { saga, step } => {
                write!(
                    f,
                    "{saga} dead-lettered without reporting step {step}, which stands"
                )
            }
            Violation::Conservation { expected, actual } => write!(
                f,
                "conservation: totals moved by {actual}, the sagas account for {expected}"
            ),
        }
    }
}

impl std::error::Error for Violation {}

/// Checks one ended saga against `trace`: the effects of its steps at every
/// participant, in the order they took effect (late arrivals included).
///
/// ```
/// use std::time::Instant;
/// use meshsim_patterns::saga::{check_saga, EffectKind, Ending, SagaConfig, SagaLog, SagaPlan, Saga, StepKind, Violation};
///
/// let start = Instant::now();
/// let plan = SagaPlan::new(&SagaConfig {
///     steps: vec![StepKind::Compensatable, StepKind::Compensatable, StepKind::Pivot],
///     ..SagaConfig::default()
/// })?;
/// let mut log = SagaLog::new(1)?;
/// let id = Saga::start(&plan, &mut log, start.elapsed().as_nanos() as u64).unwrap().id();
/// use EffectKind::{Applied, Undone};
/// let reverse = [(0, Applied), (1, Applied), (1, Undone), (0, Undone)];
/// assert_eq!(check_saga(id, &plan, Ending::Compensated, &reverse), Ok(()));
/// let forward = [(0, Applied), (1, Applied), (0, Undone), (1, Undone)];
/// assert_eq!(
///     check_saga(id, &plan, Ending::Compensated, &forward),
///     Err(Violation::OutOfOrder { saga: id, earlier: 0, later: 1 }),
/// );
/// # Ok::<(), meshsim_patterns::ConfigError>(())
/// ```
pub fn check_saga(
    saga: SagaId,
    plan: &SagaPlan,
    ending: Ending,
    trace: &[(usize, EffectKind)],
) -> Result<(), Violation> {
    let mut undone_last: Option<usize> = None;
    for (i, &(step, kind)) in trace.iter().enumerate() {
        match kind {
            EffectKind::Applied => {
                if trace[..i].contains(&(step, EffectKind::Undone)) {
                    return Err(Violation::AppliedAfterUndone { saga, step });
                }
            }
            EffectKind::Undone => {
                if let Some(last) = undone_last
                    && step > last
                    && !plan.parallel_compensation()
                {
                    return Err(Violation::OutOfOrder {
                        saga,
                        earlier: last,
                        later: step,
                    });
                }
                undone_last = Some(step);
            }
        }
    }
    for step in 0..plan.len() {
        let applied = trace
            .iter()
            .filter(|&&e| e == (step, EffectKind::Applied))
            .count() as u32;
        let undone = trace
            .iter()
            .filter(|&&e| e == (step, EffectKind::Undone))
            .count() as i64;
        let net = i64::from(applied) - undone;
        match ending {
            Ending::Completed => {
                if applied != 1 || net != 1 {
                    return Err(Violation::NotAppliedOnce {
                        saga,
                        step,
                        applied,
                    });
                }
            }
            Ending::Compensated => {
                if net != 0 {
                    return Err(Violation::NotUndone { saga, step, net });
                }
                if applied > 1 {
                    return Err(Violation::AppliedTwice { saga, step });
                }
            }
            Ending::DeadLettered { left, .. } => {
                if applied > 1 {
                    return Err(Violation::AppliedTwice { saga, step });
                }
                if net < 0 {
                    return Err(Violation::NotUndone { saga, step, net });
                }
                if net == 1 && !left.contains(step) {
                    return Err(Violation::UnreportedLeft { saga, step });
                }
            }
        }
    }
    Ok(())
}

/// Checks that the participants' totals moved from `total_initial` to `total_now` by
/// exactly `accounted`: what the ended sagas legitimately moved (0 for a completed
/// transfer or a compensated saga; a dead-lettered saga's standing steps).
pub fn check_conservation(
    total_initial: i64,
    total_now: i64,
    accounted: i64,
) -> Result<(), Violation> {
    let actual = total_now - total_initial;
    if actual == accounted {
        Ok(())
    } else {
        Err(Violation::Conservation {
            expected: accounted,
            actual,
        })
    }
}
