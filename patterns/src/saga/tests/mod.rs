//! The saga pieces against each other: unit cases for the orchestrator, the log and
//! the ledger here, then (`harness.rs`) a small deterministic harness that plays orchestrators, their log
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

mod harness;

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

#[test]
fn each_call_may_say_its_own_idempotence_and_the_ledger_records_either_way() {
    // Keyed by a number of the owner's choosing, not a log's id.
    let mut ledger: Ledger<u64> = Ledger::new(&[10], Idempotence::Keyed);
    let debit = Action {
        saga: 7u64,
        step: 1,
        key: 0,
        delta: -3,
    };
    // An idempotent action, then a compensation that is not: retried, it
    // undoes twice.
    assert_eq!(ledger.apply(&debit), ActionReply::Applied);
    assert_eq!(ledger.apply(&debit), ActionReply::Duplicate);
    assert_eq!(
        ledger.compensate_with(&debit, Idempotence::None),
        CompensationReply::Undone
    );
    assert_eq!(
        ledger.compensate_with(&debit, Idempotence::None),
        CompensationReply::Undone
    );
    assert_eq!(ledger.balance(0), 13);
    assert_eq!(
        ledger.effect(7, 1),
        Effect {
            applied: 1,
            undone: 2
        }
    );
    // A late idempotent action still finds the compensation it recorded.
    assert_eq!(ledger.apply(&debit), ActionReply::Refused);
    // A non-idempotent action acts whatever the record says, and a keyed
    // compensation then finds it applied and undoes it once.
    let other = Action {
        saga: 8u64,
        ..debit
    };
    assert_eq!(
        ledger.apply_with(&other, Idempotence::None),
        ActionReply::Applied
    );
    assert_eq!(
        ledger.apply_with(&other, Idempotence::None),
        ActionReply::Applied
    );
    assert_eq!(ledger.compensate(&other), CompensationReply::Undone);
    assert_eq!(ledger.compensate(&other), CompensationReply::Duplicate);
    assert_eq!(ledger.balance(0), 10, "13 − 3 − 3 + 3");
}
