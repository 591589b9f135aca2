//! The saga pieces against each other: unit cases for the orchestrator, the log and
//! the ledger, then a small deterministic harness that plays orchestrators, their log
//! and keyed ledgers with random outcomes (business rejections, technical failures,
//! lost requests, lost replies, delayed and duplicated requests), transient
//! compensation failures and crashes of the orchestrator at any point, and checks the
//! invariants on every saga; and the same harness with a deliberate defect, or with
//! non-idempotent ledgers, to show that the properties can fail.

use std::collections::BTreeMap;
use std::time::Duration;

use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::{Config, TestError, TestRunner};

use super::log::rebuild;
use super::orchestrator::Defect;
use super::*;
use crate::Nanos;
use crate::retry::Backoff;

const MS: Nanos = 1_000_000;

fn plan_of(kinds: &[StepKind], parallel: bool) -> SagaPlan {
    SagaPlan::new(&SagaConfig {
        steps: kinds.to_vec(),
        action_attempts_max: 3,
        retriable_attempts_max: 6,
        compensation_attempts_max: 6,
        backoff: Backoff::Exponential {
            base: Duration::from_millis(10),
            multiplier: 2.0,
            cap: Duration::from_millis(200),
        },
        parallel_compensation: parallel,
    })
    .unwrap()
}

use StepKind::{Compensatable as C, Pivot as P, Retriable as R};

// ---------------------------------------------------------------- plan

#[test]
fn plans_that_cannot_run_are_refused_with_the_field() {
    let check = |steps: Vec<StepKind>, attempts: u32, field: &str| {
        let config = SagaConfig {
            steps,
            action_attempts_max: attempts,
            ..SagaConfig::default()
        };
        assert_eq!(SagaPlan::new(&config).unwrap_err().field, field);
    };
    check(vec![], 3, "steps");
    check(vec![C; 17], 3, "steps");
    check(vec![P, C], 3, "steps");
    check(vec![R, C], 3, "steps");
    check(vec![C, P, P], 3, "steps");
    check(vec![C], 0, "action_attempts_max");
    check(vec![C], 101, "action_attempts_max");
    assert!(SagaPlan::new(&SagaConfig::default()).is_ok());
}

// ---------------------------------------------------------------- orchestrator

/// Drains every command.
fn commands(saga: &mut Saga) -> Vec<Command> {
    std::iter::from_fn(|| saga.poll_command()).collect()
}

#[test]
fn a_saga_whose_steps_all_apply_completes() {
    let plan = plan_of(&[C, P, R], false);
    let mut log = SagaLog::new(1).unwrap();
    let mut saga = Saga::start(&plan, &mut log, 0).unwrap();
    for step in 0..3 {
        assert_eq!(commands(&mut saga), [Command::Invoke { step, attempt: 1 }]);
        saga.handle_step_result(&mut log, 0, step, 1, StepResult::Applied);
    }
    assert_eq!(commands(&mut saga), [Command::Done(Ending::Completed)]);
    assert_eq!(log.entries(saga.id()).unwrap().len(), 4);
    assert!(log.end(saga.id()));
    assert!(log.is_empty());
    assert_eq!(log.in_flight(), 0);
}

#[test]
fn stale_and_early_inputs_are_no_ops_and_not_logged() {
    let plan = plan_of(&[C, C], false);
    let mut log = SagaLog::new(1).unwrap();
    let mut saga = Saga::start(&plan, &mut log, 0).unwrap();
    commands(&mut saga);
    saga.handle_step_result(&mut log, 0, 0, 1, StepResult::Unknown);
    // A late reply to attempt 1, a reply for the wrong step, an early timer.
    saga.handle_step_result(&mut log, 1, 0, 1, StepResult::Applied);
    saga.handle_step_result(&mut log, 1, 1, 1, StepResult::Applied);
    saga.handle_timeout(&mut log, 2);
    saga.handle_compensation_result(&mut log, 2, 0, 1, CompensationResult::Done);
    // A step the plan does not have, even one that would truncate to step 0.
    saga.handle_step_result(&mut log, 2, 256, 1, StepResult::Applied);
    assert_eq!(log.entries(saga.id()).unwrap().len(), 2);
    assert_eq!(saga.poll_timeout(), Some(10 * MS));
    assert!(commands(&mut saga).is_empty());
}

#[test]
fn compensations_run_in_reverse_order_one_at_a_time_and_retry_with_backoff() {
    let plan = plan_of(&[C, C, C, P], false);
    let mut log = SagaLog::new(1).unwrap();
    let mut saga = Saga::start(&plan, &mut log, 0).unwrap();
    for step in 0..3 {
        commands(&mut saga);
        saga.handle_step_result(&mut log, 0, step, 1, StepResult::Applied);
    }
    commands(&mut saga);
    saga.handle_step_result(&mut log, 0, 3, 1, StepResult::Rejected);
    assert!(saga.is_compensating());
    assert_eq!(
        commands(&mut saga),
        [Command::Compensate {
            step: 2,
            attempt: 1
        }]
    );
    saga.handle_compensation_result(&mut log, 0, 2, 1, CompensationResult::Failed);
    assert_eq!(saga.poll_timeout(), Some(10 * MS));
    saga.handle_timeout(&mut log, 10 * MS);
    assert_eq!(
        commands(&mut saga),
        [Command::Compensate {
            step: 2,
            attempt: 2
        }]
    );
    saga.handle_compensation_result(&mut log, 10 * MS, 2, 2, CompensationResult::Unknown);
    assert_eq!(saga.poll_timeout(), Some(30 * MS), "10 ms, then 20 ms");
    saga.handle_timeout(&mut log, 30 * MS);
    commands(&mut saga);
    saga.handle_compensation_result(&mut log, 30 * MS, 2, 3, CompensationResult::Done);
    assert_eq!(
        commands(&mut saga),
        [Command::Compensate {
            step: 1,
            attempt: 1
        }]
    );
    saga.handle_compensation_result(&mut log, 30 * MS, 1, 1, CompensationResult::Done);
    assert_eq!(
        commands(&mut saga),
        [Command::Compensate {
            step: 0,
            attempt: 1
        }]
    );
    saga.handle_compensation_result(&mut log, 30 * MS, 0, 1, CompensationResult::Done);
    assert_eq!(commands(&mut saga), [Command::Done(Ending::Compensated)]);
}

#[test]
fn parallel_compensation_starts_every_compensation_at_once() {
    let plan = plan_of(&[C, C, C], true);
    let mut log = SagaLog::new(1).unwrap();
    let mut saga = Saga::start(&plan, &mut log, 0).unwrap();
    for step in 0..2 {
        commands(&mut saga);
        saga.handle_step_result(&mut log, 0, step, 1, StepResult::Applied);
    }
    commands(&mut saga);
    saga.handle_step_result(&mut log, 0, 2, 1, StepResult::Rejected);
    assert_eq!(
        commands(&mut saga),
        [
            Command::Compensate {
                step: 1,
                attempt: 1
            },
            Command::Compensate {
                step: 0,
                attempt: 1
            }
        ]
    );
    saga.handle_compensation_result(&mut log, 0, 0, 1, CompensationResult::Done);
    assert!(commands(&mut saga).is_empty());
    saga.handle_compensation_result(&mut log, 0, 1, 1, CompensationResult::Done);
    assert_eq!(commands(&mut saga), [Command::Done(Ending::Compensated)]);
}

#[test]
fn an_unknown_outcome_is_compensated_a_definite_failure_is_not() {
    let plan = plan_of(&[C, C], false);
    let mut log = SagaLog::new(2).unwrap();
    let mut saga = Saga::start(&plan, &mut log, 0).unwrap();
    commands(&mut saga);
    saga.handle_step_result(&mut log, 0, 0, 1, StepResult::Unknown);
    saga.handle_timeout(&mut log, 10 * MS);
    commands(&mut saga);
    saga.handle_step_result(&mut log, 10 * MS, 0, 2, StepResult::Rejected);
    // Step 0 was refused on its retry, but its first attempt may have applied.
    assert_eq!(
        commands(&mut saga),
        [Command::Compensate {
            step: 0,
            attempt: 1
        }]
    );

    let mut saga = Saga::start(&plan, &mut log, 10 * MS).unwrap();
    commands(&mut saga);
    saga.handle_step_result(&mut log, 10 * MS, 0, 1, StepResult::Rejected);
    assert_eq!(commands(&mut saga), [Command::Done(Ending::Compensated)]);
}

#[test]
fn the_bounds_dead_letter_a_saga_with_what_it_left() {
    let exhaust = |saga: &mut Saga, log: &mut SagaLog, compensation: bool| {
        let mut now = 0;
        loop {
            match commands(saga).as_slice() {
                [Command::Invoke { step, attempt }] if !compensation || *step == 0 => {
                    let result = if *step == 0 {
                        StepResult::Applied
                    } else {
                        StepResult::Failed
                    };
                    saga.handle_step_result(log, now, *step, *attempt, result);
                }
                [Command::Invoke { step, attempt }] => {
                    saga.handle_step_result(log, now, *step, *attempt, StepResult::Rejected);
                }
                [Command::Compensate { step, attempt }] => {
                    saga.handle_compensation_result(
                        log,
                        now,
                        *step,
                        *attempt,
                        CompensationResult::Failed,
                    );
                }
                [Command::Done(ending)] => return *ending,
                [] => {
                    now = saga.poll_timeout().unwrap();
                    saga.handle_timeout(log, now);
                }
                other => panic!("{other:?}"),
            }
        }
    };
    let mut log = SagaLog::new(4).unwrap();
    let plan = plan_of(&[C, R], false);
    let mut saga = Saga::start(&plan, &mut log, 0).unwrap();
    assert_eq!(
        exhaust(&mut saga, &mut log, false),
        Ending::DeadLettered {
            reason: DeadLetter::RetriableExhausted { step: 1 },
            left: StepSet::EMPTY.with(0)
        }
    );
    assert!(log.entries(saga.id()).unwrap().len() <= plan.records_max());
    let plan = plan_of(&[C, P], false);
    let mut saga = Saga::start(&plan, &mut log, 0).unwrap();
    assert_eq!(
        exhaust(&mut saga, &mut log, true),
        Ending::DeadLettered {
            reason: DeadLetter::CompensationExhausted { step: 0 },
            left: StepSet::EMPTY.with(0)
        }
    );
}

#[test]
fn a_pivot_whose_outcome_stays_unknown_is_dead_lettered() {
    let plan = plan_of(&[C, P, R], false);
    let mut log = SagaLog::new(1).unwrap();
    let mut saga = Saga::start(&plan, &mut log, 0).unwrap();
    commands(&mut saga);
    saga.handle_step_result(&mut log, 0, 0, 1, StepResult::Applied);
    let mut now = 0;
    for attempt in 1..=3 {
        assert_eq!(commands(&mut saga), [Command::Invoke { step: 1, attempt }]);
        saga.handle_step_result(&mut log, now, 1, attempt, StepResult::Unknown);
        if let Some(at) = saga.poll_timeout() {
            now = at;
            saga.handle_timeout(&mut log, now);
        }
    }
    assert_eq!(
        commands(&mut saga),
        [Command::Done(Ending::DeadLettered {
            reason: DeadLetter::PivotUncertain,
            left: StepSet::EMPTY.with(0).with(1)
        })]
    );
}

// ---------------------------------------------------------------- log

#[test]
fn a_full_log_refuses_a_saga_and_a_compacted_slot_is_reused_under_a_new_id() {
    let plan = plan_of(&[C], false);
    let mut log = SagaLog::new(1).unwrap();
    let first = Saga::start(&plan, &mut log, 0).unwrap();
    assert!(Saga::start(&plan, &mut log, 0).is_none());
    assert!(log.end(first.id()));
    assert!(!log.end(first.id()), "compaction is idempotent");
    let second = Saga::start(&plan, &mut log, 0).unwrap();
    assert_ne!(first.id(), second.id());
    assert!(log.entries(first.id()).is_none());
    assert_eq!(SagaLog::new(0).unwrap_err().field, "sagas_in_flight_max");
}

#[test]
fn recovery_mid_compensation_retries_the_lost_compensation_then_goes_on() {
    let plan = plan_of(&[C, C, P], false);
    let mut log = SagaLog::new(2).unwrap();
    let mut saga = Saga::start(&plan, &mut log, 0).unwrap();
    for step in 0..2 {
        commands(&mut saga);
        saga.handle_step_result(&mut log, 0, step, 1, StepResult::Applied);
    }
    commands(&mut saga);
    saga.handle_step_result(&mut log, 0, 2, 1, StepResult::Rejected);
    assert_eq!(
        commands(&mut saga),
        [Command::Compensate {
            step: 1,
            attempt: 1
        }]
    );
    // The orchestrator crashes: `saga` is never used again; the log survives.
    let mut sagas = recover(&mut log, 5 * MS);
    let saga = &mut sagas[0];
    assert!(saga.is_compensating());
    assert!(
        commands(saga).is_empty(),
        "the lost compensation waits for its backoff"
    );
    assert_eq!(saga.poll_timeout(), Some(15 * MS));
    saga.handle_timeout(&mut log, 15 * MS);
    assert_eq!(
        commands(saga),
        [Command::Compensate {
            step: 1,
            attempt: 2
        }]
    );
    // A second crash, with nothing changed since: the same state again.
    let again = recover(&mut log, 20 * MS);
    assert_eq!(again[0].possibly_applied(), StepSet::EMPTY.with(0).with(1));
    assert_eq!(again[0].poll_timeout(), Some(40 * MS));
}

// ---------------------------------------------------------------- ledger

#[test]
fn a_keyed_ledger_deduplicates_fences_and_rejects_by_business_rule() {
    let plan = plan_of(&[C], false);
    let mut log = SagaLog::new(4).unwrap();
    let id = Saga::start(&plan, &mut log, 0).unwrap().id();
    let mut ledger = Ledger::new(&[10, 0], Idempotence::Keyed);
    let debit = Action {
        saga: id,
        step: 0,
        key: 0,
        delta: -7,
    };
    assert_eq!(ledger.apply(&debit), ActionReply::Applied);
    assert_eq!(ledger.apply(&debit), ActionReply::Duplicate);
    assert_eq!(ledger.balance(0), 3);
    assert_eq!(ledger.compensate(&debit), CompensationReply::Undone);
    assert_eq!(ledger.compensate(&debit), CompensationReply::Duplicate);
    assert_eq!(ledger.apply(&debit), ActionReply::Refused);
    assert_eq!(ledger.balance(0), 10);
    assert_eq!(
        ledger.effect(id, 0),
        Effect {
            applied: 1,
            undone: 1
        }
    );

    let too_much = Action {
        saga: id,
        step: 1,
        key: 1,
        delta: -1,
    };
    assert_eq!(ledger.apply(&too_much), ActionReply::Rejected);
    assert_eq!(ledger.apply(&too_much).result(), StepResult::Rejected);
    ledger.set_available(false);
    assert_eq!(ledger.apply(&too_much).result(), StepResult::Failed);
    assert_eq!(
        ledger.compensate(&too_much).result(),
        CompensationResult::Failed
    );
    ledger.set_available(true);
    assert_eq!(ledger.compensate(&too_much), CompensationReply::NoOp);
    assert_eq!(ledger.total(), 10);
    ledger.forget(id);
    assert_eq!(ledger.effect(id, 0), Effect::default());
}

#[test]
fn a_ledger_without_idempotence_applies_retries_twice_and_undoes_what_never_was() {
    let plan = plan_of(&[C], false);
    let mut log = SagaLog::new(1).unwrap();
    let id = Saga::start(&plan, &mut log, 0).unwrap().id();
    let mut ledger = Ledger::new(&[10], Idempotence::None);
    let debit = Action {
        saga: id,
        step: 0,
        key: 0,
        delta: -3,
    };
    assert_eq!(ledger.apply(&debit), ActionReply::Applied);
    assert_eq!(ledger.apply(&debit), ActionReply::Applied);
    assert_eq!(ledger.balance(0), 4);
    assert_eq!(ledger.compensate(&debit), CompensationReply::Undone);
    assert_eq!(ledger.compensate(&debit), CompensationReply::Undone);
    assert_eq!(ledger.compensate(&debit), CompensationReply::Undone);
    assert_eq!(ledger.balance(0), 13, "3 created from nothing");
}

// ---------------------------------------------------------------- harness

/// One saga of a case: each step's kind and its action (ledger, key, delta).
#[derive(Clone, Debug)]
struct Spec {
    kinds: Vec<StepKind>,
    actions: Vec<(usize, usize, i64)>,
}

fn spec() -> impl Strategy<Value = Spec> {
    (
        1usize..=8,
        0usize..=8,
        any::<bool>(),
        prop::collection::vec((0usize..3, 0usize..2, 0i64..=15), 8),
    )
        .prop_map(|(n, compensatable, pivot, raw)| {
            let compensatable = compensatable.min(n);
            let kinds: Vec<StepKind> = (0..n)
                .map(|s| match s {
                    s if s < compensatable => C,
                    s if s == compensatable && pivot => P,
                    _ => R,
                })
                .collect();
            // Debits, then one credit of their sum on the last step: a completed saga
            // moves nothing in total.
            let mut actions: Vec<(usize, usize, i64)> =
                raw[..n].iter().map(|&(l, k, a)| (l, k, -a)).collect();
            let sum: i64 = actions[..n - 1].iter().map(|a| a.2).sum();
            actions[n - 1].2 = -sum;
            Spec { kinds, actions }
        })
}

#[derive(Clone, Debug)]
struct Case {
    specs: Vec<Spec>,
    parallel: bool,
    fates: Vec<u8>,
}

fn case() -> impl Strategy<Value = Case> {
    (
        prop::collection::vec(spec(), 1..=3),
        any::<bool>(),
        prop::collection::vec(any::<u8>(), 0..256),
    )
        .prop_map(|(specs, parallel, fates)| Case {
            specs,
            parallel,
            fates,
        })
}

/// The fault to inject at each decision, read from the case; past its end, none
/// (so a case shrinks toward the fault-free run).
struct Fates<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl Fates<'_> {
    fn next(&mut self) -> u8 {
        let byte = self.bytes.get(self.at).copied().unwrap_or(0);
        self.at += 1;
        byte
    }
}

enum Reply {
    Step(usize, u32, StepResult),
    Compensation(usize, u32, CompensationResult),
}

enum Late {
    Action(Action),
}

const LATENCY: Nanos = MS;
const TIMEOUT: Nanos = 50 * MS;
const RESTART: Nanos = 5 * MS;
const CRASHES_MAX: u32 = 3;

struct World<'a> {
    case: &'a Case,
    fates: Fates<'a>,
    now: Nanos,
    log: SagaLog,
    sagas: Vec<Saga>,
    inbox: Vec<(Nanos, SagaId, Reply)>,
    late: Vec<Late>,
    ledgers: Vec<Ledger>,
    spec_of: BTreeMap<SagaId, usize>,
    traces: BTreeMap<SagaId, Vec<(usize, EffectKind)>>,
    endings: BTreeMap<SagaId, Ending>,
    crashes: u32,
    crashes_compensating: u32,
    late_delivered: u32,
    defect: Option<Defect>,
}

impl<'a> World<'a> {
    fn new(case: &'a Case, defect: Option<Defect>, idempotence: Idempotence) -> World<'a> {
        World {
            case,
            fates: Fates {
                bytes: &case.fates,
                at: 0,
            },
            now: 0,
            log: SagaLog::new(case.specs.len()).unwrap(),
            sagas: Vec::new(),
            inbox: Vec::new(),
            late: Vec::new(),
            ledgers: (0..3)
                .map(|_| Ledger::new(&[20, 20], idempotence))
                .collect(),
            spec_of: BTreeMap::new(),
            traces: BTreeMap::new(),
            endings: BTreeMap::new(),
            crashes: 0,
            crashes_compensating: 0,
            late_delivered: 0,
            defect,
        }
    }

    fn maybe_crash(&mut self) -> bool {
        if self.fates.next() < 244 || self.crashes == CRASHES_MAX {
            return false;
        }
        self.crashes += 1;
        if self.sagas.iter().any(Saga::is_compensating) {
            self.crashes_compensating += 1;
        }
        // The orchestrator's memory and the replies addressed to it are lost; the log
        // and the requests already on their way to the ledgers are not.
        self.sagas.clear();
        self.inbox.clear();
        self.now += RESTART;
        let defect = self.defect;
        self.sagas = rebuild(&mut self.log, self.now, |s| s.set_defect(defect));
        true
    }

    fn action(&self, id: SagaId, step: usize) -> (usize, Action) {
        let (ledger, key, delta) = self.case.specs[self.spec_of[&id]].actions[step];
        (
            ledger,
            Action {
                saga: id,
                step,
                key,
                delta,
            },
        )
    }

    fn apply(&mut self, ledger: usize, action: &Action) -> ActionReply {
        let reply = self.ledgers[ledger].apply(action);
        if reply == ActionReply::Applied {
            let trace = self.traces.entry(action.saga).or_default();
            trace.push((action.step, EffectKind::Applied));
        }
        reply
    }

    fn compensate(&mut self, ledger: usize, action: &Action) -> CompensationReply {
        let reply = self.ledgers[ledger].compensate(action);
        if reply == CompensationReply::Undone {
            let trace = self.traces.entry(action.saga).or_default();
            trace.push((action.step, EffectKind::Undone));
        }
        reply
    }

    fn carry_out(&mut self, id: SagaId, command: Command) {
        let now = self.now;
        match command {
            Command::Invoke { step, attempt } => {
                let (ledger, action) = self.action(id, step);
                let (at, result) = match self.fates.next() {
                    0..140 => (now + LATENCY, self.apply(ledger, &action).result()),
                    140..160 => (now + LATENCY, StepResult::Failed),
                    160..180 => (now + TIMEOUT, StepResult::Unknown),
                    180..205 => {
                        self.apply(ledger, &action);
                        (now + TIMEOUT, StepResult::Unknown)
                    }
                    205..225 => {
                        self.late.push(Late::Action(action));
                        (now + TIMEOUT, StepResult::Unknown)
                    }
                    225.. => {
                        // The network delivered it twice.
                        let reply = self.apply(ledger, &action);
                        self.apply(ledger, &action);
                        (now + LATENCY, reply.result())
                    }
                };
                self.inbox
                    .push((at, id, Reply::Step(step, attempt, result)));
            }
            Command::Compensate { step, attempt } => {
                let (ledger, action) = self.action(id, step);
                let (at, result) = match self.fates.next() {
                    0..150 => (now + LATENCY, self.compensate(ledger, &action).result()),
                    150..200 => (now + LATENCY, CompensationResult::Failed),
                    200..225 => {
                        self.compensate(ledger, &action);
                        (now + TIMEOUT, CompensationResult::Unknown)
                    }
                    225.. => (now + TIMEOUT, CompensationResult::Unknown),
                };
                self.inbox
                    .push((at, id, Reply::Compensation(step, attempt, result)));
            }
            Command::Done(_) => unreachable!("handled by the caller"),
        }
    }

    fn deliver_late(&mut self, index: usize) {
        let Late::Action(action) = self.late.remove(index);
        self.late_delivered += 1;
        let (ledger, _) = self.action(action.saga, action.step);
        self.apply(ledger, &action);
    }

    /// Drains every live saga's commands, with a chance of a crash before each.
    fn drain(&mut self) {
        'again: loop {
            for i in 0..self.sagas.len() {
                while let Some(command) = self.sagas[i].poll_command() {
                    let id = self.sagas[i].id();
                    if self.maybe_crash() {
                        continue 'again;
                    }
                    match command {
                        Command::Done(ending) => {
                            let before = self.endings.insert(id, ending);
                            assert!(
                                before.is_none_or(|b| b == ending),
                                "a recovered saga ended another way"
                            );
                            // A crash before the compaction says Done again.
                            if self.maybe_crash() {
                                continue 'again;
                            }
                            assert!(self.log.end(id));
                            self.sagas.remove(i);
                            continue 'again;
                        }
                        command => self.carry_out(id, command),
                    }
                }
            }
            return;
        }
    }

    fn run(&mut self) {
        for (index, spec) in self.case.specs.iter().enumerate() {
            let plan = plan_of(&spec.kinds, self.case.parallel);
            let mut saga = Saga::start(&plan, &mut self.log, self.now).unwrap();
            saga.set_defect(self.defect);
            self.spec_of.insert(saga.id(), index);
            self.sagas.push(saga);
            self.maybe_crash();
        }
        for _ in 0..100_000 {
            self.drain();
            if self.log.in_flight() == 0 {
                break;
            }
            if !self.late.is_empty() && self.fates.next() < 64 {
                let index = usize::from(self.fates.next()) % self.late.len();
                self.deliver_late(index);
            }
            // A crash between events: calls in flight, or retries waiting on backoff.
            if self.maybe_crash() {
                continue;
            }
            let reply_at = self.inbox.iter().map(|r| r.0).min();
            let timer_at = self.sagas.iter().filter_map(Saga::poll_timeout).min();
            let Some(at) = reply_at.into_iter().chain(timer_at).min() else {
                panic!("a saga is stuck: nothing in flight and no timer");
            };
            self.now = self.now.max(at);
            if reply_at == Some(at) {
                let index = self.inbox.iter().position(|r| r.0 == at).unwrap();
                let (_, id, reply) = self.inbox.remove(index);
                let (now, log) = (self.now, &mut self.log);
                if let Some(saga) = self.sagas.iter_mut().find(|s| s.id() == id) {
                    match reply {
                        Reply::Step(step, attempt, result) => {
                            saga.handle_step_result(log, now, step, attempt, result);
                        }
                        Reply::Compensation(step, attempt, result) => {
                            saga.handle_compensation_result(log, now, step, attempt, result);
                        }
                    }
                }
            } else {
                for saga in &mut self.sagas {
                    saga.handle_timeout(&mut self.log, self.now);
                }
            }
        }
        assert_eq!(self.log.in_flight(), 0, "every saga ends within the budget");
        assert!(self.log.is_empty(), "compaction leaves nothing behind");
        // What is still on its way arrives in the end.
        while !self.late.is_empty() {
            self.deliver_late(0);
        }
    }

    /// Every invariant, on every saga, and conservation over all ledgers.
    fn check(&self) -> Result<(), Violation> {
        let mut accounted = 0;
        for (&id, &index) in &self.spec_of {
            let spec = &self.case.specs[index];
            let plan = plan_of(&spec.kinds, self.case.parallel);
            let ending = self.endings[&id];
            let trace = self.traces.get(&id).map_or(&[][..], Vec::as_slice);
            check_saga(id, &plan, ending, trace)?;
            let net = |step: usize| {
                trace
                    .iter()
                    .fold(0, |n, &(s, kind)| match (s == step, kind) {
                        (true, EffectKind::Applied) => n + 1,
                        (true, EffectKind::Undone) => n - 1,
                        (false, _) => n,
                    })
            };
            match ending {
                Ending::Completed => accounted += spec.actions.iter().map(|a| a.2).sum::<i64>(),
                Ending::Compensated => {}
                Ending::DeadLettered { left, .. } => {
                    accounted += left.iter().map(|s| net(s) * spec.actions[s].2).sum::<i64>();
                }
            }
        }
        let total: i64 = self.ledgers.iter().map(Ledger::total).sum();
        check_conservation(3 * 40, total, accounted)
    }
}

fn play(case: &Case, defect: Option<Defect>, idempotence: Idempotence) -> Result<(), Violation> {
    let mut world = World::new(case, defect, idempotence);
    world.run();
    world.check()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1200))]

    #[test]
    fn every_saga_completes_compensates_or_dead_letters_and_conserves_quantity(case in case()) {
        if let Err(violation) = play(&case, None, Idempotence::Keyed) {
            prop_assert!(false, "{violation}");
        }
    }
}

/// Runs the property on a defect and returns the shrunk counterexample's violation.
fn counterexample(defect: Option<Defect>, idempotence: Idempotence) -> String {
    let mut runner = TestRunner::new(Config {
        cases: 1000,
        failure_persistence: None,
        ..Config::default()
    });
    let result = runner.run(&case(), |case| match play(&case, defect, idempotence) {
        Ok(()) => Ok(()),
        Err(violation) => Err(TestCaseError::fail(violation.to_string())),
    });
    match result {
        Ok(()) => panic!("the property did not catch {defect:?} / {idempotence:?}"),
        Err(TestError::Fail(reason, case)) => {
            // The shrunk counterexample, for whoever reads a failing run.
            eprintln!("{defect:?} / {idempotence:?}: {reason}; minimal case: {case:?}");
            reason.to_string()
        }
        Err(TestError::Abort(reason)) => panic!("aborted: {reason}"),
    }
}

#[test]
fn the_property_catches_compensation_in_forward_order() {
    let message = counterexample(Some(Defect::ForwardOrder), Idempotence::Keyed);
    assert!(message.contains("was compensated before step"), "{message}");
}

#[test]
fn the_property_catches_skipped_unknown_outcomes() {
    let message = counterexample(Some(Defect::SkipUnknown), Idempotence::Keyed);
    assert!(
        message.contains("stands") || message.contains("took effect"),
        "{message}"
    );
}

#[test]
fn the_property_catches_participants_without_idempotence() {
    let message = counterexample(None, Idempotence::None);
    assert!(!message.is_empty());
}

#[test]
fn the_harness_is_deterministic() {
    let mut runner = TestRunner::deterministic();
    for _ in 0..50 {
        let case = case().new_tree(&mut runner).unwrap().current();
        let run = |case: &Case| {
            let mut world = World::new(case, None, Idempotence::Keyed);
            world.run();
            (world.endings.clone(), world.traces.clone(), world.now)
        };
        assert_eq!(run(&case), run(&case));
    }
}

/// The harness is not vacuous: over the property's own distribution of cases, every
/// ending, every kind of fault and crashes mid-compensation all occur.
#[test]
fn the_cases_reach_every_ending_and_crash_mid_compensation() {
    let mut runner = TestRunner::deterministic();
    let (mut completed, mut compensated, mut dead_lettered) = (0, 0, 0);
    let (mut crashes, mut crashes_compensating, mut late, mut undone_steps) = (0, 0, 0, 0);
    for _ in 0..1000 {
        let case = case().new_tree(&mut runner).unwrap().current();
        let mut world = World::new(&case, None, Idempotence::Keyed);
        world.run();
        for ending in world.endings.values() {
            match ending {
                Ending::Completed => completed += 1,
                Ending::Compensated => compensated += 1,
                Ending::DeadLettered { .. } => dead_lettered += 1,
            }
        }
        crashes += world.crashes;
        crashes_compensating += world.crashes_compensating;
        late += world.late_delivered;
        undone_steps += world
            .traces
            .values()
            .flatten()
            .filter(|e| e.1 == EffectKind::Undone)
            .count();
    }
    eprintln!(
        "completed {completed}, compensated {compensated}, dead-lettered {dead_lettered}, \
         crashes {crashes} ({crashes_compensating} mid-compensation), late arrivals {late}, undone steps {undone_steps}"
    );
    assert!(completed > 100);
    assert!(compensated > 100);
    assert!(dead_lettered > 5);
    assert!(crashes > 300);
    assert!(crashes_compensating > 50);
    assert!(late > 100);
    assert!(undone_steps > 300);
}
