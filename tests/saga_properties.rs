//! Property tests of sagas in the world: random sagas of 1 to 8 steps over
//! three stateful services, with random business rejections, errors,
//! timeouts whose effect was applied or not, lost requests and replies,
//! orchestrator crashes at any moment (mid-compensation included), slow
//! participants and compensations that fail for a while. With every step
//! idempotent, every saga completes, compensates or is dead-lettered with
//! what it left, and quantity is conserved, in every case; proptest shrinks
//! a failure to the smallest saga and fault schedule that still fails.
//!
//! And the properties can fail: the same generator with participants that
//! are not idempotent finds a violation, shrunk to a small case.
//!
//! (The orchestrator's own defects, compensating in forward order or
//! skipping unknown outcomes, are switches inside the patterns crate, caught
//! by its harness: `patterns/src/saga/tests/harness.rs`.)

use meshsim::report::Summary;
use meshsim::scenario;
use meshsim::world;
use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::{Config, TestCaseError, TestError, TestRunner};
use serde_json::{Value, json};

/// The three stateful services a step may change: (name, keys, opening
/// balance).
const STORES: [(&str, u32, i64); 3] = [("orders", 1, 0), ("stock", 20, 8), ("money", 20, 500)];

#[derive(Clone, Debug)]
struct Step {
    store: usize,
    delta: i64,
    decline: f64,
}

#[derive(Clone, Debug)]
enum Fault {
    /// A stateful service fails every request (or a share of them).
    Errors { store: usize, rate: f64 },
    /// Messages between the orchestrator and a stateful service are lost.
    Loss { store: usize, rate: f64 },
    /// An orchestrator instance (or both) crashes.
    Crash { instance: Option<u32> },
    /// A stateful service's instance is slower than the steps' timeout.
    Slow { store: usize, factor: f64 },
}

#[derive(Clone, Debug)]
struct Case {
    /// Compensatable steps, then (maybe) a pivot, then retriable steps.
    compensatable: usize,
    pivot: bool,
    steps: Vec<Step>,
    action_attempts: u32,
    /// The step policy retries a timed-out attempt (an unknown outcome
    /// hidden under a later answer).
    policy_retries: bool,
    faults: Vec<(u32, u32, Fault)>,
    seed: u64,
}

fn step() -> impl Strategy<Value = Step> {
    (
        0..STORES.len(),
        prop_oneof![-3i64..=-1, 1i64..=3],
        prop_oneof![Just(0.0), 0.0..0.3],
    )
        .prop_map(|(store, delta, decline)| Step {
            store,
            delta,
            decline,
        })
}

fn fault() -> impl Strategy<Value = Fault> {
    prop_oneof![
        (0..STORES.len(), prop_oneof![Just(1.0), 0.2..1.0])
            .prop_map(|(store, rate)| Fault::Errors { store, rate }),
        (0..STORES.len(), 0.1..0.6).prop_map(|(store, rate)| Fault::Loss { store, rate }),
        prop_oneof![Just(None), (0u32..2).prop_map(Some)]
            .prop_map(|instance| Fault::Crash { instance }),
        (0..STORES.len(), 5.0..200.0).prop_map(|(store, factor)| Fault::Slow { store, factor }),
    ]
}

fn case() -> impl Strategy<Value = Case> {
    (
        prop::collection::vec(step(), 1..=8),
        any::<prop::sample::Index>(),
        any::<bool>(),
        1u32..=4,
        any::<bool>(),
        // Start and length in milliseconds: anywhere in the first 3 s, up
        // to 2 s long (so every fault has ended by 5 s, and the run's last
        // 7 s are for every saga to end).
        prop::collection::vec((0u32..3000, 20u32..2000, fault()), 0..=4),
        0u64..1000,
    )
        .prop_map(
            |(steps, split, pivot, action_attempts, policy_retries, faults, seed)| {
                let compensatable = split.index(steps.len() + 1);
                let pivot = pivot && compensatable < steps.len();
                Case {
                    compensatable,
                    pivot,
                    steps,
                    action_attempts,
                    policy_retries,
                    faults,
                    seed,
                }
            },
        )
}

/// The scenario of `case`, its steps idempotent or not.
fn scenario_of(case: &Case, idempotent: bool) -> Value {
    let steps: Vec<Value> = case
        .steps
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let kind = if i < case.compensatable {
                "compensatable"
            } else if i == case.compensatable && case.pivot {
                "pivot"
            } else {
                "retriable"
            };
            json!({"name": format!("s{i}"), "service": STORES[s.store].0, "kind": kind,
                   "delta": s.delta, "decline": s.decline, "policy": "step",
                   "idempotent": idempotent, "compensation_idempotent": idempotent})
        })
        .collect();
    let mut services = serde_json::Map::new();
    services.insert(
        "orchestrator".into(),
        json!({"instances": 2, "concurrency": 16, "service_time": {"constant": "200us"},
               "saga": {"steps": steps, "action_attempts_max": case.action_attempts,
                        "retriable_attempts_max": 30, "compensation_attempts_max": 30,
                        "backoff": {"constant": "40ms"}}}),
    );
    for (name, keys, initial) in STORES {
        services.insert(
            name.into(),
            json!({"instances": 2, "concurrency": 8,
                   "service_time": {"exponential": {"mean": "2ms"}},
                   "state": {"keys": keys, "initial": initial}}),
        );
    }
    let policy = if case.policy_retries {
        json!({"timeout": "60ms", "retry": {"max_attempts": 2, "backoff": {"constant": "5ms"},
                                             "retry_on": ["timeout", "error"]}})
    } else {
        json!({"timeout": "60ms"})
    };
    let faults: Vec<Value> = case
        .faults
        .iter()
        .map(|(at, length, fault)| {
            let mut f = json!({"at": format!("{at}ms"), "for": format!("{length}ms")});
            match fault {
                Fault::Errors { store, rate } => {
                    f["errors"] = json!({"service": STORES[*store].0, "rate": rate});
                }
                Fault::Loss { store, rate } => {
                    f["loss"] = json!({"link": ["orchestrator", STORES[*store].0], "rate": rate});
                }
                Fault::Crash { instance } => {
                    f["crash"] = match instance {
                        Some(i) => json!({"service": "orchestrator", "instance": i}),
                        None => json!({"service": "orchestrator"}),
                    };
                }
                Fault::Slow { store, factor } => {
                    f["slowdown"] =
                        json!({"service": STORES[*store].0, "instance": 0, "factor": factor});
                }
            }
            f
        })
        .collect();
    json!({
        "name": "saga-property", "duration": "12s", "window": "1s",
        "network": {"latency": {"exponential": {"mean": "1ms"}}},
        "services": services,
        "policies": {"step": policy},
        "workload": {"arrivals": {"poisson": {"rate": 20}},
                     "schedule": [{"at": "3s", "rate": 0}],
                     "routes": [{"service": "orchestrator", "keys": 20, "timeout": "1s"}]},
        "faults": faults
    })
}

/// The saga invariants hold in `case`'s run: no violation stopped it, every
/// saga ended one way (sagas start in the first 3 s and faults end by 5 s:
/// one still running at 12 s is a saga a recovery or a retry lost), and
/// every stateful service's total moved by exactly what the sagas account
/// for.
fn invariants_hold(case: &Case, idempotent: bool) -> Result<(), TestCaseError> {
    let value = scenario_of(case, idempotent);
    let compiled = scenario::parse(&value.to_string(), "property.json")
        .map_err(|e| TestCaseError::fail(format!("did not compile: {e}")))?;
    let outcome = world::run(&compiled, case.seed, None);
    let s = Summary::new(&compiled, case.seed, &outcome);
    if let Some(cause) = &s.stop_cause {
        return Err(TestCaseError::fail(cause.cause.clone()));
    }
    let x = &s.sagas["orchestrator"];
    prop_assert!(x.started > 0, "no saga started");
    prop_assert_eq!(x.stuck, 0, "still running: {:?}", x.stuck_sagas);
    prop_assert_eq!(
        x.started,
        x.completed + x.compensated + x.dead_lettered.total
    );
    for (name, state) in &s.state {
        prop_assert_eq!(
            state.total - state.initial_total,
            state.moved_by_ended + state.moved_by_running,
            "conservation at {}",
            name
        );
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1000, ..ProptestConfig::default() })]

    #[test]
    fn idempotent_sagas_hold_every_invariant_under_random_faults(case in case()) {
        invariants_hold(&case, true)?;
    }
}

#[test]
fn the_properties_catch_participants_that_are_not_idempotent() {
    let mut runner = TestRunner::new_with_rng(
        Config {
            cases: 1000,
            failure_persistence: None,
            ..Config::default()
        },
        proptest::test_runner::TestRng::deterministic_rng(
            proptest::test_runner::RngAlgorithm::ChaCha,
        ),
    );
    match runner.run(&case(), |case| invariants_hold(&case, false)) {
        Ok(()) => panic!("no case found a violation with participants that are not idempotent"),
        Err(TestError::Fail(reason, minimal)) => {
            assert!(
                reason.message().contains("saga invariant violated")
                    || reason.message().contains("conservation"),
                "{reason}"
            );
            // Shrunk: few steps and few faults are enough to break it.
            assert!(
                minimal.steps.len() <= 2 && minimal.faults.len() <= 1,
                "not shrunk: {minimal:#?}"
            );
        }
        Err(other) => panic!("{other}"),
    }
}

/// The generator reaches what the properties are about: every ending,
/// business rejections, unknown outcomes, compensations that fail and are
/// retried, late reservations fenced off, and sagas recovered after a crash
/// of their orchestrator (so, with sagas in flight).
#[test]
fn the_cases_reach_every_ending_unknown_outcomes_and_crashes_mid_saga() {
    let mut runner = TestRunner::new_with_rng(
        Config::default(),
        proptest::test_runner::TestRng::deterministic_rng(
            proptest::test_runner::RngAlgorithm::ChaCha,
        ),
    );
    let strategy = case();
    let mut seen = [0u64; 8];
    for _ in 0..200 {
        let case = strategy.new_tree(&mut runner).expect("a case").current();
        let compiled =
            scenario::parse(&scenario_of(&case, true).to_string(), "p.json").expect("compiles");
        let outcome = world::run(&compiled, case.seed, None);
        let s = Summary::new(&compiled, case.seed, &outcome);
        let x = &s.sagas["orchestrator"];
        let steps = |f: fn(&meshsim::report::summary::SagaStepSummary) -> u64| {
            x.steps.iter().map(f).sum::<u64>()
        };
        let fenced: u64 = s.state.values().map(|st| st.fenced).sum();
        for (i, n) in [
            x.completed,
            x.compensated,
            x.dead_lettered.total,
            steps(|st| st.rejected),
            steps(|st| st.unknown),
            steps(|st| st.compensation_failed),
            fenced,
            x.recovered,
        ]
        .into_iter()
        .enumerate()
        {
            seen[i] += u64::from(n > 0);
        }
    }
    // Each is reached in a good share of the cases, not by luck once.
    for (what, n) in [
        "completed",
        "compensated",
        "dead-lettered",
        "rejected",
        "unknown",
        "compensation failed",
        "fenced",
        "recovered",
    ]
    .iter()
    .zip(seen)
    {
        assert!(n >= 5, "{what} in only {n} of 200 cases: {seen:?}");
    }
}
