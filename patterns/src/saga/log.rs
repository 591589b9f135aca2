//! The durable saga log: what the orchestrator writes before it acts, and what it
//! reads after a crash to resume every unfinished saga.
//!
//! The log holds *inputs*, not states: the start, each step or compensation result
//! the saga acted on, each timer expiry that fired a retry, and each recovery. The
//! saga is a deterministic function of its plan and these records, so replaying them
//! into a fresh [`Saga`] rebuilds exactly the state it had, which then resumes forward
//! or backward as the records say. A record is appended before the saga changes state
//! on it ([`Saga`]'s one `act` method does both, in that order), so a command is never
//! emitted that the log cannot explain. A crash loses the calls in flight and the
//! commands not yet carried out; [`recover`] settles each with an unknown outcome
//! (itself a logged [`Record::Recovered`]), which retries it or compensates it —
//! the at-least-once delivery every participant must tolerate.
//!
//! **Bounds:** at most `sagas_in_flight_max` sagas (at most [`MAX_SAGAS_IN_FLIGHT`]),
//! each with at most [`SagaPlan::records_max`] records (at most
//! `1 + 2 × 16 × 2 × 100`). [`SagaLog::end`] compacts a saga when it has ended, and
//! its slot (with its buffer) is reused, so memory is bounded by the sagas in flight,
//! never by the sagas run.
//!
//! What is simplified, on purpose: one orchestrator owns a saga, and the log is its
//! own (several orchestrators split sagas by key, each with its log; there is no
//! takeover of another's sagas, no lease and no fencing between orchestrators).

use std::fmt;

use super::orchestrator::{CompensationResult, Saga, StepResult};
use super::plan::SagaPlan;
use crate::{ConfigError, Nanos};

/// The most sagas a log may hold in flight (a meshsim bound).
pub const MAX_SAGAS_IN_FLIGHT: usize = 1 << 20;

/// A saga's id: unique over the life of the log that issued it (a slot and that
/// slot's generation, so an ended saga's id is never reused).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SagaId(u64);

impl SagaId {
    fn new(slot: usize, generation: u32) -> SagaId {
        SagaId(u64::from(generation) << 32 | slot as u64)
    }

    fn slot(self) -> usize {
        (self.0 & u64::from(u32::MAX)) as usize
    }

    fn generation(self) -> u32 {
        (self.0 >> 32) as u32
    }

    /// The id as a number (for keys and reports).
    pub fn get(self) -> u64 {
        self.0
    }
}

impl fmt::Display for SagaId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "saga {}.{}", self.slot(), self.generation())
    }
}

/// One input a saga acted on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Record {
    /// The saga began; its first step started.
    Started,
    /// An attempt of a step ended.
    StepResult {
        /// The step.
        step: u8,
        /// The attempt.
        attempt: u32,
        /// How.
        result: StepResult,
    },
    /// An attempt of a compensation ended.
    CompensationResult {
        /// The step compensated.
        step: u8,
        /// The attempt.
        attempt: u32,
        /// How.
        result: CompensationResult,
    },
    /// Retry timers expired and fired.
    Timeout,
    /// The orchestrator restarted: every call in flight is settled as unknown.
    Recovered,
}

/// A record and the time it was acted on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Entry {
    /// When.
    pub at: Nanos,
    /// What.
    pub record: Record,
}

#[derive(Clone, Debug)]
struct Slot {
    generation: u32,
    /// The plan of the saga in the slot, while one is.
    plan: Option<SagaPlan>,
    entries: Vec<Entry>,
}

/// The durable log of an orchestrator's sagas (see the module documentation).
///
/// ```
/// use std::time::Instant;
/// use meshsim_patterns::saga::{recover, Command, Saga, SagaConfig, SagaLog, SagaPlan, StepKind, StepResult};
///
/// let start = Instant::now();
/// let plan = SagaPlan::new(&SagaConfig {
///     steps: vec![StepKind::Compensatable, StepKind::Pivot],
///     ..SagaConfig::default()
/// })?;
/// let mut log = SagaLog::new(8)?;
/// let now = start.elapsed().as_nanos() as u64;
/// let mut saga = Saga::start(&plan, &mut log, now).unwrap();
/// assert_eq!(saga.poll_command(), Some(Command::Invoke { step: 0, attempt: 1 }));
/// saga.handle_step_result(&mut log, now, 0, 1, StepResult::Applied);
/// assert_eq!(saga.poll_command(), Some(Command::Invoke { step: 1, attempt: 1 }));
///
/// // The orchestrator crashes with the pivot's call in flight; the log survives.
/// drop(saga);
/// let mut sagas = recover(&mut log, start.elapsed().as_nanos() as u64);
/// assert_eq!(sagas.len(), 1);
/// // The lost call is an unknown outcome: the pivot is retried after the backoff.
/// let retry_at = sagas[0].poll_timeout().unwrap();
/// sagas[0].handle_timeout(&mut log, retry_at);
/// assert_eq!(sagas[0].poll_command(), Some(Command::Invoke { step: 1, attempt: 2 }));
/// # Ok::<(), meshsim_patterns::ConfigError>(())
/// ```
#[derive(Clone, Debug)]
pub struct SagaLog {
    slots: Vec<Slot>,
    /// Free slots, most recently freed last (so a freed buffer is reused warm).
    free: Vec<u32>,
    sagas_in_flight_max: usize,
}

impl SagaLog {
    /// A log for at most `sagas_in_flight_max` sagas at a time (1 to
    /// [`MAX_SAGAS_IN_FLIGHT`]).
    pub fn new(sagas_in_flight_max: usize) -> Result<SagaLog, ConfigError> {
        if sagas_in_flight_max == 0 || sagas_in_flight_max > MAX_SAGAS_IN_FLIGHT {
            return Err(ConfigError::new(
                "saga_log",
                "sagas_in_flight_max",
                "must be in 1..=1048576",
            ));
        }
        Ok(SagaLog {
            slots: Vec::with_capacity(sagas_in_flight_max),
            free: Vec::with_capacity(sagas_in_flight_max),
            sagas_in_flight_max,
        })
    }

    /// The sagas in flight (begun and not yet ended).
    pub fn in_flight(&self) -> usize {
        self.slots.len() - self.free.len()
    }

    /// The most sagas it holds at a time.
    pub fn sagas_in_flight_max(&self) -> usize {
        self.sagas_in_flight_max
    }

    /// The records of saga `id`, or `None` when it is not in the log.
    pub fn entries(&self, id: SagaId) -> Option<&[Entry]> {
        self.slot(id).map(|slot| slot.entries.as_slice())
    }

    /// The records held, over all sagas in flight.
    pub fn len(&self) -> usize {
        self.slots.iter().map(|s| s.entries.len()).sum()
    }

    /// Whether it holds no record.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Compacts an ended saga away (after its [`Done`](super::Command::Done) was
    /// recorded); returns whether it was there. Its slot is reused by a later saga,
    /// under a new id.
    pub fn end(&mut self, id: SagaId) -> bool {
        let Some(slot) = self.slot_mut(id) else {
            return false;
        };
        slot.plan = None;
        slot.entries.clear();
        slot.generation = slot.generation.wrapping_add(1);
        self.free.push(id.slot() as u32);
        true
    }

    /// The ids of the sagas in flight, in slot order.
    pub fn sagas(&self) -> impl Iterator<Item = SagaId> + '_ {
        self.slots
            .iter()
            .enumerate()
            .filter(|(_, slot)| slot.plan.is_some())
            .map(|(i, slot)| SagaId::new(i, slot.generation))
    }

    pub(crate) fn begin(&mut self, plan: &SagaPlan) -> Option<SagaId> {
        let index = match self.free.pop() {
            Some(index) => index as usize,
            None if self.slots.len() < self.sagas_in_flight_max => {
                self.slots.push(Slot {
                    generation: 0,
                    plan: None,
                    entries: Vec::new(),
                });
                self.slots.len() - 1
            }
            None => return None,
        };
        let slot = &mut self.slots[index];
        debug_assert!(slot.plan.is_none() && slot.entries.is_empty());
        slot.plan = Some(*plan);
        // Sized once for the plan's bound, so appends never reallocate.
        slot.entries.reserve(plan.records_max());
        Some(SagaId::new(index, slot.generation))
    }

    pub(crate) fn append(&mut self, id: SagaId, at: Nanos, record: Record) {
        let slot = self
            .slot_mut(id)
            .expect("a saga appends only to its own log while it is in flight");
        let records_max = slot.plan.map_or(0, |p| p.records_max());
        assert!(
            slot.entries.len() < records_max,
            "a saga's log outgrew its plan's bound"
        );
        slot.entries.push(Entry { at, record });
    }

    fn slot(&self, id: SagaId) -> Option<&Slot> {
        self.slots
            .get(id.slot())
            .filter(|s| s.generation == id.generation() && s.plan.is_some())
    }

    fn slot_mut(&mut self, id: SagaId) -> Option<&mut Slot> {
        self.slots
            .get_mut(id.slot())
            .filter(|s| s.generation == id.generation() && s.plan.is_some())
    }
}

/// Rebuilds every saga in `log` after a crash, at `now`, in slot order: each is
/// replayed from its records, then every call it had in flight is settled as an
/// unknown outcome (logged as [`Record::Recovered`]), so it resumes forward or backward
/// as the log says. A saga that had ended but was not compacted says `Done` again.
/// `now` must not be earlier than the log's last record (time never goes backwards).
pub fn recover(log: &mut SagaLog, now: Nanos) -> Vec<Saga> {
    rebuild(log, now, |_| {})
}

/// [`recover`], with `prepare` run on each blank saga before its replay (the tests'
/// switch for a deliberate defect, which must hold during the replay too).
pub(crate) fn rebuild(log: &mut SagaLog, now: Nanos, prepare: impl Fn(&mut Saga)) -> Vec<Saga> {
    let ids: Vec<SagaId> = log.sagas().collect();
    let mut sagas = Vec::with_capacity(ids.len());
    for id in ids {
        let slot = log.slot(id).expect("listed");
        let plan = slot.plan.expect("in flight");
        let mut saga = Saga::blank(id, plan);
        prepare(&mut saga);
        for entry in &slot.entries {
            saga.apply(entry.at, entry.record);
        }
        saga.after_replay();
        if saga.accepts(&Record::Recovered, now) {
            saga.act(log, now, Record::Recovered);
        }
        sagas.push(saga);
    }
    sagas
}
