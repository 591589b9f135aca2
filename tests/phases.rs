//! Results per phase: the run split at every fault's start and end, the end
//! of its recovery phase and every schedule change, each request counted in
//! the phase it was sent in (a service's, the phase it arrived in).
//!
//! The scenario is deterministic on purpose: constant arrivals (one request
//! every 10 ms from t = 10 ms), constant 1 ms of work far below capacity and
//! no network latency, so every count below is exact.

use meshsim::report::{self, Summary};
use meshsim::scenario;
use meshsim::world;
use serde_json::{Value, json};

/// Two overlapping faults on `s`: every request fails in [10 s, 30 s), and
/// 5 ms are added to every request in [20 s, 40 s).
fn overlapping() -> Value {
    json!({
        "name": "phases", "duration": "100s", "seed": 1,
        "services": {"s": {"concurrency": 4, "service_time": {"constant": "1ms"}}},
        "workload": {"arrivals": {"constant": {"rate": 100}},
                     "routes": [{"name": "api", "service": "s", "timeout": "1s"}]},
        "faults": [
            {"at": "10s", "for": "20s", "errors": {"service": "s", "rate": 1.0}},
            {"at": "20s", "for": "20s", "latency": {"service": "s", "add": "5ms"}}
        ]
    })
}

/// A phase as (start s, end s, kind, faults, recovering).
type Span<'a> = (f64, f64, &'a str, Vec<u32>, Vec<u32>);

fn summary(value: &Value) -> Summary {
    let compiled = scenario::parse(&value.to_string(), "phases.json").expect("valid");
    let seed = compiled.scenario().seed;
    let run = world::run(&compiled, seed, None);
    report::files(&compiled, seed, &run).0
}

#[test]
fn two_overlapping_faults_give_their_own_phases_with_exact_counts() {
    let s = summary(&overlapping());
    let got: Vec<Span> = s
        .phases
        .iter()
        .map(|p| {
            (
                p.start_s,
                p.end_s,
                p.kind,
                p.faults.clone(),
                p.recovering.clone(),
            )
        })
        .collect();
    // Recovery phases last 30 s after each fault's end, or until the next
    // boundary.
    assert_eq!(
        got,
        [
            (0.0, 10.0, "steady", vec![], vec![]),
            (10.0, 20.0, "fault", vec![0], vec![]),
            (20.0, 30.0, "fault", vec![0, 1], vec![]),
            (30.0, 40.0, "fault", vec![1], vec![0]),
            (40.0, 60.0, "recovery", vec![], vec![0, 1]),
            (60.0, 70.0, "recovery", vec![], vec![1]),
            (70.0, 100.0, "steady", vec![], vec![]),
        ]
    );
    // (requests, successes, errors, in flight at end, p50 ms) per phase:
    // sends at 10 ms steps; the one at exactly 100 s is still in service.
    let route: Vec<(u64, u64, u64, u64, f64)> = s
        .phases
        .iter()
        .map(|p| {
            let r = &p.routes["api"];
            (
                r.requests,
                r.successes,
                r.failures.error,
                r.in_flight_at_end,
                r.latency_ms.p50,
            )
        })
        .collect();
    assert_eq!(
        route,
        [
            (999, 999, 0, 0, 1.0),
            (1000, 0, 1000, 0, 0.0),
            (1000, 0, 1000, 0, 0.0),
            // The error fault is over, the latency is still added.
            (1000, 1000, 0, 0, 6.0),
            (2000, 2000, 0, 0, 1.0),
            (1000, 1000, 0, 0, 1.0),
            (3001, 3000, 0, 1, 1.0),
        ]
    );
    assert_eq!(s.phases[3].routes["api"].success_ratio, 1.0);
    assert_eq!(s.phases[1].routes["api"].success_ratio, 0.0);
    // The service sees the same requests (no network latency: arrival is
    // send), with its own latency.
    let service: Vec<(u64, u64, u64, u64)> = s
        .phases
        .iter()
        .map(|p| {
            let v = &p.services["s"];
            (
                v.requests,
                v.successes,
                v.failures.error,
                v.in_flight_at_end,
            )
        })
        .collect();
    assert_eq!(
        service,
        [
            (999, 999, 0, 0),
            (1000, 0, 1000, 0),
            (1000, 0, 1000, 0),
            (1000, 1000, 0, 0),
            (2000, 2000, 0, 0),
            (1000, 1000, 0, 0),
            (3001, 3000, 0, 1),
        ]
    );
    assert_eq!(
        s.phases[2].label, "errors s error rate 1; latency s +5ms",
        "{:?}",
        s.phases[2]
    );
    assert_eq!(
        s.phases[4].label,
        "after errors s error rate 1; after latency s +5ms"
    );
}

#[test]
fn the_phases_add_up_to_the_totals() {
    let s = summary(&overlapping());
    let route = &s.routes["api"];
    let sum = |f: &dyn Fn(&meshsim::report::summary::PhaseOutcome) -> u64| -> u64 {
        s.phases.iter().map(|p| f(&p.routes["api"])).sum()
    };
    assert_eq!(sum(&|o| o.requests), route.requests);
    assert_eq!(sum(&|o| o.successes), route.successes);
    assert_eq!(sum(&|o| o.failures.error), route.failures.error);
    assert_eq!(sum(&|o| o.in_flight_at_end), route.in_flight_at_end);
    let service = &s.services["s"];
    let sum = |f: &dyn Fn(&meshsim::report::summary::PhaseOutcome) -> u64| -> u64 {
        s.phases.iter().map(|p| f(&p.services["s"])).sum()
    };
    assert_eq!(sum(&|o| o.requests), service.requests);
    assert_eq!(sum(&|o| o.successes), service.successes);
}

#[test]
fn attribution_is_by_send_time_not_end_time() {
    // A crash in [10 s, 12 s) with a 1 s client timeout: requests sent
    // during the crash time out up to 1 s after it, and still count in the
    // crash's phase.
    let mut value = overlapping();
    value["faults"] = json!([{"at": "10s", "for": "2s", "crash": {"service": "s"}}]);
    let s = summary(&value);
    let crash = &s.phases[1];
    assert_eq!(
        (crash.start_s, crash.end_s, crash.kind),
        (10.0, 12.0, "fault")
    );
    let r = &crash.routes["api"];
    assert_eq!(
        (r.requests, r.successes, r.failures.timeout),
        (200, 0, Some(200))
    );
    // The recovery phase starts clean: its requests all succeed, though
    // the crash's timeouts end inside it.
    let after = &s.phases[2];
    assert_eq!(after.kind, "recovery");
    assert_eq!(after.routes["api"].successes, after.routes["api"].requests);
}

#[test]
fn a_run_without_faults_is_one_steady_phase_of_its_totals() {
    let mut value = overlapping();
    value.as_object_mut().unwrap().remove("faults");
    let s = summary(&value);
    assert_eq!(s.phases.len(), 1);
    let (phase, route) = (&s.phases[0], &s.routes["api"]);
    assert_eq!((phase.kind, phase.label.as_str()), ("steady", "steady"));
    assert_eq!(phase.routes["api"].requests, route.requests);
    assert_eq!(phase.routes["api"].successes, route.successes);
    assert_eq!(phase.routes["api"].latency_ms, route.latency_ms);
    assert!(s.recovery.faults.is_empty());
    assert!(!s.metastable);
}

#[test]
fn the_table_and_the_page_show_the_phases() {
    let compiled = scenario::parse(&overlapping().to_string(), "phases.json").expect("valid");
    let run = world::run(&compiled, 1, None);
    let s = Summary::new(&compiled, 1, &run);
    let table = report::table::render(&s);
    assert!(
        table.lines().any(|l| l.starts_with("  4  30.0-40.0 s ")
            && l.ends_with("  latency s +5ms; after errors s error rate 1")),
        "{table}"
    );
    assert!(table.contains("route api"), "{table}");
    let page = report::html::page(&s, compiled.scenario(), "meshsim run phases.json", &[]);
    assert!(page.contains("<h2>Recovery and phases</h2>"), "{page}");
    assert!(page.contains("after errors s error rate 1"), "{page}");
}
