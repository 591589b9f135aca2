//! Property tests of event-driven messaging in the world: random fault
//! schedules (producer, broker and consumer crashes, lost messages between
//! the broker and its clients, handler error bursts, slow consumers) over a
//! producer, a broker and two consumer groups, one idempotent.
//!
//! With the transactional outbox, no event is lost in any case: every event
//! its producer committed is applied by every group or sent to its
//! dead-letter topic, once the faults have healed and the run has drained;
//! each partition is applied in order; and the idempotent group applies no
//! event twice. proptest shrinks a failure to the smallest fault schedule
//! that still fails.
//!
//! And the property can fail: the same generator with naive publishing
//! finds a case that loses an event.

use meshsim::report::Summary;
use meshsim::scenario;
use meshsim::world;
use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::{Config, RngAlgorithm, TestCaseError, TestError, TestRng, TestRunner};
use serde_json::{Value, json};

#[derive(Clone, Debug)]
enum Fault {
    /// A producer instance, or both, crashes (its relay with it).
    Producer { instance: Option<u32> },
    /// A broker instance, or the whole broker, is down.
    Broker { instance: Option<u32> },
    /// A consumer instance of one group crashes.
    Consumer { billing: bool, instance: u32 },
    /// Messages between the broker and a client of it are lost.
    Loss { with: &'static str, rate: f64 },
    /// A group's handlers fail (errors, retried; some dead-lettered).
    Errors { billing: bool, rate: f64 },
    /// A consumer instance is slower.
    Slow { billing: bool, factor: f64 },
}

#[derive(Clone, Debug)]
struct Case {
    faults: Vec<(u32, u32, Fault)>,
    max_poll_records: u32,
    relay_in_flight: u32,
    seed: u64,
}

fn fault() -> impl Strategy<Value = Fault> {
    prop_oneof![
        prop_oneof![Just(None), (0u32..2).prop_map(Some)]
            .prop_map(|instance| Fault::Producer { instance }),
        prop_oneof![Just(None), (0u32..2).prop_map(Some)]
            .prop_map(|instance| Fault::Broker { instance }),
        (any::<bool>(), 0u32..2)
            .prop_map(|(billing, instance)| Fault::Consumer { billing, instance }),
        (
            prop_oneof![Just("orders"), Just("projector"), Just("billing")],
            0.1..0.8
        )
            .prop_map(|(with, rate)| Fault::Loss { with, rate }),
        (any::<bool>(), 0.1..1.0).prop_map(|(billing, rate)| Fault::Errors { billing, rate }),
        (any::<bool>(), 2.0..50.0).prop_map(|(billing, factor)| Fault::Slow { billing, factor }),
    ]
}

fn case() -> impl Strategy<Value = Case> {
    (
        // Start and length in milliseconds: in the first 4 s, up to 3 s
        // long (every fault has healed by 7 s; the run's last 23 s drain).
        prop::collection::vec((0u32..4000, 20u32..3000, fault()), 0..=5),
        prop_oneof![Just(1u32), 2u32..100],
        prop_oneof![Just(1u32), 2u32..64],
        0u64..1000,
    )
        .prop_map(|(faults, max_poll_records, relay_in_flight, seed)| Case {
            faults,
            max_poll_records,
            relay_in_flight,
            seed,
        })
}

fn scenario_of(case: &Case, mode: &str) -> Value {
    let consumer = |group: &str, idempotent: bool| {
        json!({"instances": 2, "concurrency": 4, "service_time": {"exponential": {"mean": "3ms"}},
               "consume": [{"topic": "orders", "group": group, "idempotent": idempotent,
                            "max_poll_records": case.max_poll_records, "max_attempts": 4,
                            "retry_backoff": "10ms", "session_timeout": "2s",
                            "rebalance_pause": "300ms", "commit_timeout": "1s"}]})
    };
    let publish = if mode == "outbox" {
        json!({"topic": "orders", "mode": "outbox", "policy": "publish",
               "outbox": {"poll_interval": "20ms", "max_in_flight": case.relay_in_flight}})
    } else {
        json!({"topic": "orders", "mode": "naive", "policy": "publish", "linger": "20ms"})
    };
    let faults: Vec<Value> = case
        .faults
        .iter()
        .map(|(at, length, fault)| {
            let mut f = json!({"at": format!("{at}ms"), "for": format!("{length}ms")});
            let instance = |service: &str, i: Option<u32>| match i {
                Some(i) => json!({"service": service, "instance": i}),
                None => json!({"service": service}),
            };
            let group = |billing: bool| if billing { "billing" } else { "projector" };
            match fault {
                Fault::Producer { instance: i } => f["crash"] = instance("orders", *i),
                Fault::Broker { instance: i } => f["crash"] = instance("broker", *i),
                Fault::Consumer {
                    billing,
                    instance: i,
                } => {
                    f["crash"] = instance(group(*billing), Some(*i));
                }
                Fault::Loss { with, rate } => {
                    f["loss"] = json!({"link": ["broker", with], "rate": rate});
                }
                Fault::Errors { billing, rate } => {
                    f["errors"] = json!({"service": group(*billing), "rate": rate});
                }
                Fault::Slow { billing, factor } => {
                    f["slowdown"] =
                        json!({"service": group(*billing), "instance": 0, "factor": factor});
                }
            }
            f
        })
        .collect();
    json!({
        "name": "events-property", "duration": "30s", "window": "1s",
        "network": {"latency": {"exponential": {"mean": "1ms"}}},
        "services": {
            "orders": {"instances": 2, "concurrency": 16,
                       "service_time": {"exponential": {"mean": "1ms"}}, "publish": publish},
            "broker": {"instances": 2, "concurrency": 32,
                       "service_time": {"exponential": {"mean": "300us"}},
                       "broker": {"topics": {"orders": {"partitions": 3}}}},
            "projector": consumer("read-model", true),
            "billing": consumer("billing", false)
        },
        "policies": {"publish": {"timeout": "100ms"}},
        "workload": {"arrivals": {"poisson": {"rate": 50}},
                     "schedule": [{"at": "4s", "rate": 0}],
                     "routes": [{"service": "orders", "keys": 40, "timeout": "1s"}]},
        "faults": faults
    })
}

fn run(value: &Value, seed: u64) -> Summary {
    let compiled = scenario::parse(&value.to_string(), "events-property.json")
        .unwrap_or_else(|e| panic!("{e}\n{value:#}"));
    let outcome = world::run(&compiled, seed, None);
    Summary::new(&compiled, seed, &outcome)
}

/// Nothing committed is lost, every event is applied or dead-lettered by
/// every group, each partition in its producer's order (with one event in
/// flight), and the idempotent group applies each event once.
fn nothing_lost(case: &Case) -> Result<(), TestCaseError> {
    let s = run(&scenario_of(case, "outbox"), case.seed);
    let e = s.events.as_ref().expect("events");
    let p = &e.publishers["orders"];
    prop_assert_eq!(p.unpublished, 0, "{:?}", p);
    prop_assert_eq!(p.in_outbox_at_end, 0, "the relay drained: {:?}", p);
    prop_assert_eq!(e.lost, 0);
    for name in ["orders/read-model", "orders/billing"] {
        let g = &e.groups[name];
        prop_assert_eq!(g.lost, 0, "{}: {:?}", name, g);
        prop_assert_eq!(g.pending_at_end, 0, "{}: {:?}", name, g);
        // Each committed event applied (first applications) or, else,
        // dead-lettered: nothing vanishes from the accounts.
        prop_assert_eq!(
            g.applied + g.dead_lettered_events,
            p.committed,
            "{}: {:?}",
            name,
            g
        );
        // One event in flight at a time keeps the table's order in the
        // log; more may land a resend after later events.
        if case.relay_in_flight == 1 {
            prop_assert_eq!(g.order_violations, 0, "{}: {:?}", name, g);
        }
    }
    let projector = &e.groups["orders/read-model"];
    prop_assert_eq!(projector.duplicate_effects, 0, "{:?}", projector);
    Ok(())
}

#[test]
fn the_outbox_loses_no_event_under_random_faults() {
    let mut runner = TestRunner::new(Config {
        cases: 400,
        failure_persistence: None,
        ..Config::default()
    });
    runner
        .run(&case(), |c| nothing_lost(&c))
        .unwrap_or_else(|e| panic!("{e}"));
}

#[test]
fn naive_publishing_is_found_to_lose_an_event() {
    // A fixed generator: the search that must find a loss finds the same
    // one on every machine.
    let mut runner = TestRunner::new_with_rng(
        Config {
            cases: 400,
            failure_persistence: None,
            ..Config::default()
        },
        TestRng::deterministic_rng(RngAlgorithm::ChaCha),
    );
    let result = runner.run(&case(), |c| {
        let s = run(&scenario_of(&c, "naive"), c.seed);
        let e = s.events.as_ref().expect("events");
        prop_assert_eq!(e.publishers["orders"].unpublished, 0);
        Ok(())
    });
    match result {
        Err(TestError::Fail(_, shrunk)) => {
            // The smallest losing schedule: one fault does it (a producer
            // crash or a broker outage while publishes are out).
            assert!(shrunk.faults.len() <= 1, "{shrunk:?}");
        }
        other => panic!("naive publishing lost nothing in 150 cases: {other:?}"),
    }
}

/// The generator reaches what the property is about: in a good share of
/// its cases a publish fails and is resent, a batch is delivered again
/// (skipped by the idempotent group, applied again by the other), a message
/// goes to the dead-letter topic, a commit times out, and a group
/// rebalances after a crash.
#[test]
fn the_generator_reaches_every_kind_of_redelivery() {
    let mut runner = TestRunner::new_with_rng(
        Config {
            cases: 200,
            failure_persistence: None,
            ..Config::default()
        },
        TestRng::deterministic_rng(RngAlgorithm::ChaCha),
    );
    let mut seen = [0u32; 9];
    let names = [
        "send failed",
        "outbox resent",
        "redelivered",
        "deduplicated",
        "duplicate effect",
        "dead-lettered",
        "commit timed out",
        "rebalanced after a crash",
        "reordered by a relay with more than one in flight",
    ];
    for _ in 0..200 {
        let c = case().new_tree(&mut runner).expect("a case").current();
        let s = run(&scenario_of(&c, "outbox"), c.seed);
        let e = s.events.as_ref().expect("events");
        let p = &e.publishers["orders"];
        let (r, b) = (&e.groups["orders/read-model"], &e.groups["orders/billing"]);
        let hit = [
            p.send_failures > 0,
            p.resent > 0,
            r.redelivered + b.redelivered > 0,
            r.deduplicated > 0,
            b.duplicate_effects > 0,
            r.dead_lettered + b.dead_lettered > 0,
            r.commit_timeouts + b.commit_timeouts > 0,
            r.rebalances + b.rebalances > 4,
            c.relay_in_flight > 1 && r.order_violations > 0,
        ];
        for (n, h) in seen.iter_mut().zip(hit) {
            *n += u32::from(h);
        }
    }
    let report: Vec<String> = names
        .iter()
        .zip(seen)
        .map(|(n, k)| format!("{n}: {k}"))
        .collect();
    for (name, k) in names.iter().zip(seen) {
        assert!(k >= 10, "{name} in only {k} of 200 cases: {report:?}");
    }
    println!("{report:?}");
}
