//! Common random numbers: a draw belongs to what it is about, so a change in
//! one part of a system leaves every unrelated request's numbers exactly as
//! they were (see `src/world/draws.rs`).
//!
//! The system: clients send to route `r1` (→ `a` → `b`, where `b` fails 20%)
//! and route `r2` (→ `c`, which nothing else touches), over a network with
//! random latency. Each test changes something on the `a → b` side and
//! checks that `r2`'s requests saw the same arrivals, network delays and
//! service times: its latency sum is equal to the nanosecond. Before keyed
//! randomness, turning retries on for `a → b` moved r2's p99 from 21.135 to
//! 20.879 ms, because one extra retry shifted every later draw of the shared
//! network stream.

use meshsim::scenario;
use meshsim::world::{self, RunOutcome};
use serde_json::{Value, json};

fn base() -> Value {
    json!({
        "name": "crn",
        "duration": "20s",
        "policies": {
            "retrying": {
                "timeout": "200ms",
                "retry": {"max_attempts": 3, "retry_on": ["error", "timeout"],
                          "backoff": {"constant": "5ms"}, "jitter": "full"}
            },
            "hedging": {"timeout": "200ms", "hedge": {"delay": "3ms", "max_hedges": 1}}
        },
        "network": {"latency": {"exponential": {"mean": "1ms"}}},
        "services": {
            "a": {"instances": 2, "concurrency": 8, "service_time": {"exponential": {"mean": "2ms"}},
                  "calls": [{"service": "b", "timeout": "200ms"}]},
            "b": {"instances": 2, "concurrency": 8, "service_time": {"exponential": {"mean": "3ms"}},
                  "error_rate": 0.2},
            "c": {"instances": 2, "concurrency": 4,
                  "service_time": {"lognormal": {"median": "4ms", "p99": "20ms"}}}
        },
        "workload": {
            "arrivals": {"poisson": {"rate": 400}},
            "routes": [
                {"name": "r1", "service": "a", "weight": 1},
                {"name": "r2", "service": "c", "weight": 1}
            ]
        }
    })
}

fn run(value: &Value) -> RunOutcome {
    let text = value.to_string();
    let scenario = scenario::parse(&text, "crn.json").expect("a valid scenario");
    world::run(&scenario, 7, None)
}

/// Route `r2`'s outcome: successes, latency count, exact latency sum in ns,
/// and its p99.
fn r2(outcome: &RunOutcome) -> (u64, u64, u128, f64) {
    let i = outcome.route_names.iter().position(|n| n == "r2").unwrap();
    let stats = &outcome.routes[i];
    (
        stats.total.successes,
        stats.latency.count(),
        stats.latency.sum_ns(),
        stats.latency.quantile_ms(0.99),
    )
}

fn set(value: &mut Value, path: &[&str], new: Value) {
    let mut node = value;
    for key in &path[..path.len() - 1] {
        node = &mut node[*key];
    }
    node[path[path.len() - 1]] = new;
}

fn r1_calls(value: &mut Value, call: Value) {
    set(value, &["services", "a", "calls"], json!([call]));
}

#[test]
fn retries_on_one_edge_leave_an_unrelated_route_unchanged() {
    let before = run(&base());
    let mut changed = base();
    r1_calls(&mut changed, json!({"service": "b", "policy": "retrying"}));
    let after = run(&changed);
    // The change did something on its own side...
    assert!(after.edge_stats.iter().any(|e| e.total.retries > 100));
    // ...and nothing on the other.
    assert!(r2(&before).0 > 3_000, "{:?}", r2(&before));
    assert_eq!(r2(&before), r2(&after));
}

#[test]
fn a_hedge_leaves_an_unrelated_route_unchanged() {
    let before = run(&base());
    let mut changed = base();
    r1_calls(&mut changed, json!({"service": "b", "policy": "hedging"}));
    let after = run(&changed);
    assert!(after.edge_stats.iter().any(|e| e.total.hedges > 100));
    assert_eq!(r2(&before), r2(&after));
}

#[test]
fn faults_on_one_service_leave_an_unrelated_route_unchanged() {
    let before = run(&base());
    for fault in [
        json!({"at": "5s", "for": "5s", "errors": {"service": "b", "rate": 0.9}}),
        json!({"at": "5s", "for": "5s", "crash": {"service": "b", "instance": 0}}),
        json!({"at": "5s", "for": "5s", "slowdown": {"service": "a", "factor": 4}}),
        json!({"at": "5s", "for": "5s", "loss": {"link": {"from": "a", "to": "b"}, "rate": 0.5}}),
        json!({"at": "5s", "for": "5s", "latency": {"link": {"from": "a", "to": "b"}, "add": "20ms"}}),
        json!({"at": "5s", "for": "5s", "partition": {"between": [["a"], ["b"]]}}),
    ] {
        let mut changed = base();
        set(&mut changed, &["faults"], json!([fault.clone()]));
        let after = run(&changed);
        assert_eq!(r2(&before), r2(&after), "{fault}");
    }
}

/// Requests to `c` that `b` makes with probability 0.5, and `b`'s own
/// errors: neither decision may shift the other, nor the service times.
#[test]
fn error_and_call_decisions_never_shift_each_other() {
    let mut with_calls = base();
    set(
        &mut with_calls,
        &["services", "b", "calls"],
        json!([{"service": "c", "probability": 0.5}]),
    );
    set(
        &mut with_calls,
        &["workload", "routes"],
        json!([{"name": "r1", "service": "a"}]),
    );
    let c_requests = |outcome: &RunOutcome| {
        let i = outcome.service_names.iter().position(|n| n == "c").unwrap();
        outcome.services[i].total.requests
    };
    let b_errors = |outcome: &RunOutcome| {
        let i = outcome.service_names.iter().position(|n| n == "b").unwrap();
        outcome.services[i].total.errors
    };
    // Enough workers that b never queues: its jobs then reach their error
    // decision at the same instants whatever the calls to c cost.
    set(
        &mut with_calls,
        &["services", "b", "concurrency"],
        json!(64),
    );
    // No error at all: b calls c for about half of its jobs.
    let mut no_errors = with_calls.clone();
    set(&mut no_errors, &["services", "b", "error_rate"], json!(0.0));
    let base_run = run(&no_errors);
    let baseline = c_requests(&base_run);
    assert!(baseline > 1_000, "{baseline}");
    // With errors, a failing job makes no call; the jobs that succeed make
    // exactly the calls they made before, so c sees fewer requests, and
    // never any that were not made without errors: 0.8 of them on average.
    let erring = run(&with_calls);
    let ratio = c_requests(&erring) as f64 / baseline as f64;
    assert!((0.75..0.85).contains(&ratio), "{ratio}");
    // A call probability of 1 (no draw) or 0.5 (a draw) does not move b's
    // error decisions: b's jobs fail the same way, to the job.
    let mut always = with_calls.clone();
    set(
        &mut always,
        &["services", "b", "calls"],
        json!([{"service": "c", "probability": 1.0, "optional": true}]),
    );
    let mut sometimes = with_calls.clone();
    set(
        &mut sometimes,
        &["services", "b", "calls"],
        json!([{"service": "c", "probability": 0.5, "optional": true}]),
    );
    let errors = b_errors(&run(&always));
    assert!(errors > 1_000, "{errors}");
    assert_eq!(
        errors,
        b_errors(&run(&sometimes)),
        "the call decision moved b's error decisions"
    );
}

/// A second client, sending to `r1` only, beside the original load written
/// as the client `default` (which draws as the implicit client): `r2`'s
/// requests keep their arrivals, route picks, network delays and service
/// times, to the nanosecond.
#[test]
fn a_second_client_leaves_an_unrelated_route_unchanged() {
    let before = run(&base());
    let mut changed = base();
    set(&mut changed, &["workload", "arrivals"], Value::Null);
    set(
        &mut changed,
        &["workload", "clients"],
        json!([
            {"name": "default", "arrivals": {"poisson": {"rate": 400}}},
            {"name": "batch", "arrivals": {"poisson": {"rate": 200}}, "routes": {"r1": 1}}
        ]),
    );
    let after = run(&changed);
    // The new client did something on its own side...
    let batch = after
        .client_names
        .iter()
        .position(|n| n == "batch")
        .unwrap();
    assert!(after.clients[batch].total.requests > 3_000);
    // ...and nothing on the other.
    assert_eq!(r2(&before), r2(&after));
}
