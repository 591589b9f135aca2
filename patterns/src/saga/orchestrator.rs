//! One orchestrated saga as a sans-IO state machine: told each call's outcome and the
//! time, it says which call to make next and how the saga ended.
//!
//! Forward: the steps run one at a time in order. A compensatable step or the pivot
//! that fails technically or with an unknown outcome is retried with backoff up to
//! `action_attempts_max` attempts; a business rejection is not retried. A
//! retriable step is retried on any outcome but success, up to
//! `retriable_attempts_max`. Backward: once a step before the pivot gives up, every
//! compensatable step that *may* have been applied (it was applied, or one of its
//! attempts had an unknown outcome) is compensated, in reverse order of the steps or
//! all at once; each compensation is retried with backoff up to
//! `compensation_attempts_max`.
//!
//! **Invariant:** a saga ends exactly one way ([`Ending`]) and never silently: a
//! compensation past its bound, a pivot whose outcome stays unknown (it cannot be
//! compensated, and going forward might apply the rest without it), or a retriable
//! step past its bound dead-letters the saga with the steps it leaves possibly
//! applied. Every input the machine acts on is appended to the saga's log *before*
//! the machine changes state, so no command is emitted that the log does not
//! explain (`log.rs`).

use super::log::{Record, SagaId, SagaLog};
use super::plan::{MAX_STEPS, SagaPlan, StepKind};
use crate::Nanos;

/// The outcome of one attempt of a step's action, as the orchestrator learns it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum StepResult {
    /// The participant applied the action (or had applied it already: an idempotent
    /// participant answers a retry the same).
    Applied,
    /// The participant refused it by a business rule (insufficient stock, declined
    /// payment): it did not take effect and will not.
    Rejected,
    /// A technical failure the participant reported: it did not take effect.
    Failed,
    /// No answer: the call timed out or its reply was lost. It may have taken effect,
    /// or may still (at-least-once delivery), so the step counts as possibly applied.
    Unknown,
}

/// The outcome of one attempt of a compensation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CompensationResult {
    /// The participant undid the step (or recognised it had nothing to undo).
    Done,
    /// A technical failure: nothing was undone.
    Failed,
    /// No answer: it may or may not have been undone (compensations are idempotent,
    /// so it is retried).
    Unknown,
}

/// A set of step indices (`0..MAX_STEPS`), in step order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct StepSet(u32);

impl StepSet {
    /// The empty set.
    pub const EMPTY: StepSet = StepSet(0);

    /// This set with `step` added.
    #[must_use]
    pub fn with(self, step: usize) -> StepSet {
        debug_assert!(step < MAX_STEPS);
        StepSet(self.0 | 1 << step)
    }

    /// Whether `step` is in the set.
    pub fn contains(self, step: usize) -> bool {
        step < MAX_STEPS && self.0 & (1 << step) != 0
    }

    /// Whether the set is empty.
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// The steps, in increasing order.
    pub fn iter(self) -> impl Iterator<Item = usize> {
        (0..MAX_STEPS).filter(move |&s| self.contains(s))
    }
}

/// Why a saga was dead-lettered.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DeadLetter {
    /// A compensation failed past `compensation_attempts_max` (the highest such step
    /// when compensations run in parallel).
    CompensationExhausted {
        /// The step whose compensation gave up.
        step: usize,
    },
    /// The pivot's outcome stayed unknown past `action_attempts_max`: it cannot be
    /// compensated, and going forward would run the retriable steps after a pivot
    /// that may not have happened.
    PivotUncertain,
    /// A retriable step was not applied within `retriable_attempts_max`.
    RetriableExhausted {
        /// The step.
        step: usize,
    },
}

/// How a saga ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Ending {
    /// Every step was applied.
    Completed,
    /// Every step that may have been applied was compensated.
    Compensated,
    /// Parked for an operator, with what it leaves behind.
    DeadLettered {
        /// Why.
        reason: DeadLetter,
        /// The steps that may have been applied and were not compensated.
        left: StepSet,
    },
}

/// What the orchestrator asks its owner to do.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Command {
    /// Call step `step`'s action; report with [`Saga::handle_step_result`] and the same
    /// `attempt`.
    Invoke {
        /// The step.
        step: usize,
        /// The attempt, from 1.
        attempt: u32,
    },
    /// Call step `step`'s compensation; report with
    /// [`Saga::handle_compensation_result`] and the same `attempt`.
    Compensate {
        /// The step.
        step: usize,
        /// The attempt, from 1.
        attempt: u32,
    },
    /// The saga has ended: record the ending, then compact the log
    /// ([`SagaLog::end`]). After a crash before the compaction, a recovered saga says
    /// `Done` again (at-least-once), so the record should be keyed by saga id.
    Done(Ending),
}

/// A call's progress: attempts made, whether one is in flight or waiting for a retry,
/// and whether its command still has to be handed out.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Call {
    attempts: u32,
    in_flight: bool,
    to_send: bool,
    retry_at: Option<Nanos>,
}

impl Call {
    fn start(&mut self) {
        self.attempts += 1;
        self.in_flight = true;
        self.to_send = true;
        self.retry_at = None;
    }
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Step {
    action: Call,
    /// An attempt was answered `Applied`.
    applied: bool,
    /// An attempt's outcome was unknown: the step may have been, or may still be,
    /// applied.
    uncertain: bool,
    compensation: Call,
    compensated: bool,
    /// Its compensation gave up (parallel compensation goes on with the others).
    abandoned: bool,
}

impl Step {
    fn possibly_applied(&self) -> bool {
        self.applied || self.uncertain
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    /// Running step `current`.
    Forward,
    /// Compensating.
    Backward,
    /// Over; `Done` still to be handed out while `done_to_send`.
    Ended(Ending),
}

/// A deliberate defect, for the test that the property tests can fail.
#[cfg(test)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Defect {
    /// Compensate in forward order instead of reverse.
    ForwardOrder,
    /// Treat an unknown outcome as not applied: skip its compensation.
    SkipUnknown,
}

/// One saga's orchestration (see the module documentation).
///
/// ```
/// use std::time::{Duration, Instant};
/// use meshsim_patterns::retry::Backoff;
/// use meshsim_patterns::saga::{
///     Command, Ending, Saga, SagaConfig, SagaLog, SagaPlan, StepKind, StepResult,
/// };
///
/// let start = Instant::now();
/// let config = SagaConfig {
///     steps: vec![StepKind::Compensatable, StepKind::Compensatable, StepKind::Pivot],
///     backoff: Backoff::Constant(Duration::from_millis(10)),
///     ..SagaConfig::default()
/// };
/// let plan = SagaPlan::new(&config)?;
/// let mut log = SagaLog::new(16)?;
/// let mut saga = Saga::start(&plan, &mut log, start.elapsed().as_nanos() as u64).unwrap();
///
/// assert_eq!(saga.poll_command(), Some(Command::Invoke { step: 0, attempt: 1 }));
/// saga.handle_step_result(&mut log, start.elapsed().as_nanos() as u64, 0, 1, StepResult::Applied);
/// assert_eq!(saga.poll_command(), Some(Command::Invoke { step: 1, attempt: 1 }));
/// // Step 1 times out: possibly applied. The pivot then refuses: compensate 1, then 0.
/// saga.handle_step_result(&mut log, start.elapsed().as_nanos() as u64, 1, 1, StepResult::Unknown);
/// let retry_at = saga.poll_timeout().unwrap();
/// saga.handle_timeout(&mut log, retry_at);
/// assert_eq!(saga.poll_command(), Some(Command::Invoke { step: 1, attempt: 2 }));
/// saga.handle_step_result(&mut log, retry_at, 1, 2, StepResult::Applied);
/// assert_eq!(saga.poll_command(), Some(Command::Invoke { step: 2, attempt: 1 }));
/// saga.handle_step_result(&mut log, retry_at, 2, 1, StepResult::Rejected);
/// assert_eq!(saga.poll_command(), Some(Command::Compensate { step: 1, attempt: 1 }));
/// # use meshsim_patterns::saga::CompensationResult;
/// saga.handle_compensation_result(&mut log, retry_at, 1, 1, CompensationResult::Done);
/// assert_eq!(saga.poll_command(), Some(Command::Compensate { step: 0, attempt: 1 }));
/// saga.handle_compensation_result(&mut log, retry_at, 0, 1, CompensationResult::Done);
/// assert_eq!(saga.poll_command(), Some(Command::Done(Ending::Compensated)));
/// assert!(log.end(saga.id()));
/// # Ok::<(), meshsim_patterns::ConfigError>(())
/// ```
#[derive(Clone, Debug)]
pub struct Saga {
    id: SagaId,
    plan: SagaPlan,
    phase: Phase,
    current: usize,
    steps: [Step; MAX_STEPS],
    done_to_send: bool,
    last_now: Nanos,
    #[cfg(test)]
    defect: Option<Defect>,
}

impl Saga {
    /// Begins a saga in `log` and starts its first step; `None` when the log already
    /// holds its most sagas in flight (the owner must refuse or queue the request).
    pub fn start(plan: &SagaPlan, log: &mut SagaLog, now: Nanos) -> Option<Saga> {
        let id = log.begin(plan)?;
        let mut saga = Saga::blank(id, *plan);
        saga.act(log, now, Record::Started);
        Some(saga)
    }

    /// A saga with nothing done: the state before its log's first record.
    pub(crate) fn blank(id: SagaId, plan: SagaPlan) -> Saga {
        Saga {
            id,
            plan,
            phase: Phase::Forward,
            current: 0,
            steps: [Step::default(); MAX_STEPS],
            done_to_send: false,
            last_now: 0,
            #[cfg(test)]
            defect: None,
        }
    }

    #[cfg(test)]
    pub(crate) fn set_defect(&mut self, defect: Option<Defect>) {
        self.defect = defect;
    }

    /// The saga's id (unique over the log's lifetime).
    pub fn id(&self) -> SagaId {
        self.id
    }

    /// The plan it runs.
    pub fn plan(&self) -> &SagaPlan {
        &self.plan
    }

    /// How it ended, once it has.
    pub fn ending(&self) -> Option<Ending> {
        match self.phase {
            Phase::Ended(ending) => Some(ending),
            Phase::Forward | Phase::Backward => None,
        }
    }

    /// Whether it is compensating.
    pub fn is_compensating(&self) -> bool {
        self.phase == Phase::Backward
    }

    /// The steps that may have been applied and are not compensated.
    pub fn possibly_applied(&self) -> StepSet {
        let mut set = StepSet::EMPTY;
        for (s, step) in self.steps[..self.plan.len()].iter().enumerate() {
            if step.possibly_applied() && !step.compensated {
                set = set.with(s);
            }
        }
        set
    }

    /// Attempt `attempt` of step `step` ended with `result`. A stale report (not the
    /// attempt in flight, or after the saga moved on) or one for a step the plan does
    /// not have is a no-op and is not logged.
    pub fn handle_step_result(
        &mut self,
        log: &mut SagaLog,
        now: Nanos,
        step: usize,
        attempt: u32,
        result: StepResult,
    ) {
        if step >= self.plan.len() {
            return;
        }
        let record = Record::StepResult {
            step: step as u8,
            attempt,
            result,
        };
        if self.accepts(&record, now) {
            self.act(log, now, record);
        }
    }

    /// Attempt `attempt` of step `step`'s compensation ended with `result`; stale
    /// reports are no-ops, as for [`handle_step_result`](Self::handle_step_result).
    pub fn handle_compensation_result(
        &mut self,
        log: &mut SagaLog,
        now: Nanos,
        step: usize,
        attempt: u32,
        result: CompensationResult,
    ) {
        if step >= self.plan.len() {
            return;
        }
        let record = Record::CompensationResult {
            step: step as u8,
            attempt,
            result,
        };
        if self.accepts(&record, now) {
            self.act(log, now, record);
        }
    }

    /// Fires the retries due at `now`; a call before [`poll_timeout`](Self::poll_timeout)
    /// is a no-op and is not logged.
    pub fn handle_timeout(&mut self, log: &mut SagaLog, now: Nanos) {
        if self.accepts(&Record::Timeout, now) {
            self.act(log, now, Record::Timeout);
        }
    }

    /// When the next retry is due, if one is waiting.
    pub fn poll_timeout(&self) -> Option<Nanos> {
        self.steps[..self.plan.len()]
            .iter()
            .flat_map(|s| [s.action.retry_at, s.compensation.retry_at])
            .flatten()
            .min()
    }

    /// The next command to carry out. Compensations started together come out in
    /// reverse order of their steps.
    pub fn poll_command(&mut self) -> Option<Command> {
        if let Phase::Ended(ending) = self.phase {
            return self.done_to_send.then(|| {
                self.done_to_send = false;
                Command::Done(ending)
            });
        }
        for s in (0..self.plan.len()).rev() {
            let step = &mut self.steps[s];
            if step.action.to_send {
                step.action.to_send = false;
                return Some(Command::Invoke {
                    step: s,
                    attempt: step.action.attempts,
                });
            }
            if step.compensation.to_send {
                step.compensation.to_send = false;
                return Some(Command::Compensate {
                    step: s,
                    attempt: step.compensation.attempts,
                });
            }
        }
        None
    }

    /// Whether the machine would act on `record` at `now` (stale or early inputs are
    /// not logged, which is what bounds the log).
    pub(crate) fn accepts(&self, record: &Record, now: Nanos) -> bool {
        match *record {
            Record::Started => false,
            Record::StepResult { step, attempt, .. } => {
                let step = usize::from(step);
                self.phase == Phase::Forward
                    && step == self.current
                    && self.steps[step].action.in_flight
                    && self.steps[step].action.attempts == attempt
            }
            Record::CompensationResult { step, attempt, .. } => {
                let step = usize::from(step);
                self.phase == Phase::Backward
                    && step < self.plan.len()
                    && self.steps[step].compensation.in_flight
                    && self.steps[step].compensation.attempts == attempt
            }
            Record::Timeout => self.poll_timeout().is_some_and(|at| at <= now),
            Record::Recovered => self.steps[..self.plan.len()]
                .iter()
                .any(|s| s.action.in_flight || s.compensation.in_flight),
        }
    }

    /// Logs `record`, then acts on it: the write-ahead rule in one place.
    pub(crate) fn act(&mut self, log: &mut SagaLog, now: Nanos, record: Record) {
        log.append(self.id, now, record);
        self.apply(now, record);
    }

    /// Changes state for `record`, as live and as on replay of the log.
    pub(crate) fn apply(&mut self, now: Nanos, record: Record) {
        debug_assert!(now >= self.last_now, "time went backwards");
        self.last_now = now;
        match record {
            Record::Started => {
                assert_eq!(self.steps[0].action.attempts, 0, "a saga starts once");
                self.steps[0].action.start();
            }
            Record::StepResult { step, result, .. } => {
                self.settle_step(now, usize::from(step), result);
            }
            Record::CompensationResult { step, result, .. } => {
                self.settle_compensation(now, usize::from(step), result);
            }
            Record::Timeout => {
                for step in &mut self.steps[..self.plan.len()] {
                    for call in [&mut step.action, &mut step.compensation] {
                        if call.retry_at.is_some_and(|at| at <= now) {
                            call.start();
                        }
                    }
                }
            }
            Record::Recovered => {
                // Replies to the crashed process are lost: every call in flight ended
                // with an unknown outcome.
                // Forward and backward calls are never in flight together; the set is
                // taken first so that a compensation started by one of these settles
                // is not mistaken for a lost one.
                let mut lost = StepSet::EMPTY;
                for s in 0..self.plan.len() {
                    if self.steps[s].compensation.in_flight {
                        lost = lost.with(s);
                    }
                }
                let current = self.current;
                if self.phase == Phase::Forward && self.steps[current].action.in_flight {
                    self.settle_step(now, current, StepResult::Unknown);
                }
                for s in (0..self.plan.len()).rev() {
                    if lost.contains(s)
                        && self.phase == Phase::Backward
                        && self.steps[s].compensation.in_flight
                    {
                        self.settle_compensation(now, s, CompensationResult::Unknown);
                    }
                }
            }
        }
    }

    /// Forgets which commands were handed out: after a replay, every call in flight
    /// was sent or lost with the crash, and [`Record::Recovered`] settles it.
    pub(crate) fn after_replay(&mut self) {
        for step in &mut self.steps {
            step.action.to_send = false;
            step.compensation.to_send = false;
        }
        self.done_to_send = matches!(self.phase, Phase::Ended(_));
    }

    fn settle_step(&mut self, now: Nanos, s: usize, result: StepResult) {
        debug_assert_eq!(s, self.current);
        let kind = self.plan.kind(s);
        self.steps[s].action.in_flight = false;
        match result {
            StepResult::Applied => {
                self.steps[s].applied = true;
                if s + 1 == self.plan.len() {
                    self.end(Ending::Completed);
                } else {
                    self.current = s + 1;
                    self.steps[s + 1].action.start();
                }
                return;
            }
            StepResult::Unknown => {
                #[cfg(test)]
                let skip = self.defect == Some(Defect::SkipUnknown);
                #[cfg(not(test))]
                let skip = false;
                // Temporal's advice: the compensation is registered before the
                // action runs, because an attempt that timed out may have run.
                self.steps[s].uncertain |= !skip;
            }
            StepResult::Rejected | StepResult::Failed => {}
        }
        // A business refusal is final, except on a retriable step, which by design
        // must eventually succeed.
        let retry = kind == StepKind::Retriable || result != StepResult::Rejected;
        let attempts = self.steps[s].action.attempts;
        if retry && attempts < self.plan.attempts_max(s) {
            let at = now.saturating_add(self.plan.retry_delay(attempts));
            self.steps[s].action.retry_at = Some(at);
            return;
        }
        match kind {
            StepKind::Retriable => self.dead_letter(DeadLetter::RetriableExhausted { step: s }),
            // An idempotent participant's refusal sticks to the (saga, step) key, so a
            // late earlier attempt is refused too; a failure or a timeout says nothing
            // about one still on its way, and a pivot has no compensation to fence it.
            StepKind::Pivot if self.steps[s].uncertain && result != StepResult::Rejected => {
                self.dead_letter(DeadLetter::PivotUncertain);
            }
            StepKind::Pivot | StepKind::Compensatable => self.compensate(),
        }
    }

    fn dead_letter(&mut self, reason: DeadLetter) {
        let left = self.possibly_applied();
        self.end(Ending::DeadLettered { reason, left });
    }

    /// Turns backward: start the compensations that are due.
    fn compensate(&mut self) {
        self.phase = Phase::Backward;
        self.start_due_compensations();
    }

    /// The compensatable steps that may have been applied and are not yet
    /// compensated, abandoned or being compensated, in the order to start them.
    fn start_due_compensations(&mut self) {
        let len = self.plan.len();
        let pending = |step: &Step| -> bool {
            step.possibly_applied()
                && !step.compensated
                && !step.abandoned
                && !step.compensation.in_flight
                && step.compensation.retry_at.is_none()
        };
        let busy = self.steps[..len]
            .iter()
            .any(|s| s.compensation.in_flight || s.compensation.retry_at.is_some());
        if self.plan.parallel_compensation() {
            for s in 0..len {
                if self.plan.kind(s) == StepKind::Compensatable && pending(&self.steps[s]) {
                    self.steps[s].compensation.start();
                }
            }
        } else if !busy {
            #[cfg(test)]
            let forward = self.defect == Some(Defect::ForwardOrder);
            #[cfg(not(test))]
            let forward = false;
            let next = if forward {
                (0..len).find(|&s| {
                    self.plan.kind(s) == StepKind::Compensatable && pending(&self.steps[s])
                })
            } else {
                (0..len).rev().find(|&s| {
                    self.plan.kind(s) == StepKind::Compensatable && pending(&self.steps[s])
                })
            };
            if let Some(s) = next {
                self.steps[s].compensation.start();
            }
        }
        let still_busy = self.steps[..len]
            .iter()
            .any(|s| s.compensation.in_flight || s.compensation.retry_at.is_some());
        if !still_busy {
            let abandoned = (0..len).rev().find(|&s| self.steps[s].abandoned);
            match abandoned {
                None => self.end(Ending::Compensated),
                Some(step) => self.dead_letter(DeadLetter::CompensationExhausted { step }),
            }
        }
    }

    fn settle_compensation(&mut self, now: Nanos, s: usize, result: CompensationResult) {
        self.steps[s].compensation.in_flight = false;
        match result {
            CompensationResult::Done => self.steps[s].compensated = true,
            CompensationResult::Failed | CompensationResult::Unknown => {
                let attempts = self.steps[s].compensation.attempts;
                if attempts < self.plan.compensation_attempts_max() {
                    let at = now.saturating_add(self.plan.retry_delay(attempts));
                    self.steps[s].compensation.retry_at = Some(at);
                    return;
                }
                self.steps[s].abandoned = true;
                if !self.plan.parallel_compensation() {
                    // Compensating an earlier step now would break the reverse order:
                    // stop here, with everything before it left as it is.
                    self.dead_letter(DeadLetter::CompensationExhausted { step: s });
                    return;
                }
            }
        }
        self.start_due_compensations();
    }

    fn end(&mut self, ending: Ending) {
        debug_assert!(
            self.steps
                .iter()
                .all(|s| !s.action.in_flight && !s.compensation.in_flight),
            "a saga ends with nothing in flight"
        );
        self.phase = Phase::Ended(ending);
        self.done_to_send = true;
    }
}
