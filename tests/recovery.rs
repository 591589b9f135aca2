//! Time to recover after a fault, "not measurable" where there is nothing
//! to measure, and the metastable flag: on a deterministic crash and
//! restart, and on the bundled retry storm and its fix.

use meshsim::report::{self, Summary};
use meshsim::scenario;
use meshsim::world;
use serde_json::{Value, json};

fn summary(value: &Value) -> Summary {
    let compiled = scenario::parse(&value.to_string(), "recovery.json").expect("valid");
    let seed = compiled.scenario().seed;
    let run = world::run(&compiled, seed, None);
    report::files(&compiled, seed, &run).0
}

fn bundled(name: &str) -> Summary {
    let path = format!("{}/scenarios/{name}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).expect("bundled scenario");
    let compiled = scenario::parse(&text, name).expect("valid");
    let seed = compiled.scenario().seed;
    let run = world::run(&compiled, seed, None);
    report::files(&compiled, seed, &run).0
}

/// One request every 10 ms to two instances of 1 ms of work; clients give
/// up after 100 ms; every instance of `s` crashes for `lasts` from `at`
/// and restarts at once.
fn crash(at: &str, lasts: Option<&str>) -> Value {
    let mut fault = json!({"at": at, "crash": {"service": "s"}});
    if let Some(lasts) = lasts {
        fault["for"] = json!(lasts);
    }
    json!({
        "name": "recovery", "duration": "60s", "window": "1s", "seed": 1,
        "services": {"s": {"instances": 2, "concurrency": 4,
                           "service_time": {"constant": "1ms"}}},
        "workload": {"arrivals": {"constant": {"rate": 100}},
                     "routes": [{"name": "api", "service": "s", "timeout": "100ms"}]},
        "faults": [fault]
    })
}

#[test]
fn a_crash_and_restart_recovers_one_window_after_it_ends() {
    let s = summary(&crash("20s", Some("5s")));
    let f = &s.recovery.faults[0];
    assert_eq!((f.status, f.reason), ("recovered", None));
    // Exact, not statistical: the requests sent in the crash's last 100 ms
    // time out in [25 s, 25.1 s), so the window [25 s, 26 s) is 91% good
    // and the first of three good windows is [26 s, 27 s).
    assert_eq!(f.time_to_recover_s, Some(1.0));
    assert_eq!(f.baseline["api"].success_ratio, 1.0);
    assert_eq!(f.baseline["api"].p99_ms, Some(1.0));
    assert!(!s.metastable);
}

#[test]
fn a_fault_at_zero_or_to_the_horizon_is_not_measurable_and_never_metastable() {
    let cases = [
        (crash("0s", Some("5s")), "no_baseline"),
        (crash("20s", None), "lasts_to_horizon"),
        // Ends at 58 s: two windows left of a 60 s run.
        (crash("20s", Some("38s")), "ends_near_horizon"),
    ];
    for (value, reason) in cases {
        let s = summary(&value);
        let f = &s.recovery.faults[0];
        assert_eq!((f.status, f.reason), ("not_measurable", Some(reason)));
        assert_eq!(f.time_to_recover_s, None);
        assert!(!s.metastable, "{reason}");
    }
}

#[test]
fn the_retry_storm_is_metastable_and_its_fix_is_not() {
    let storm = bundled("retry-storm.json");
    assert!(storm.metastable);
    for f in &storm.recovery.faults {
        assert_eq!(f.status, "not_recovered", "{f:?}");
    }
    let table = report::table::render(&storm);
    assert!(table.contains("METASTABLE"), "{table}");
    let fixed = bundled("retry-storm-fixed.json");
    assert!(!fixed.metastable);
    for f in &fixed.recovery.faults {
        assert_eq!(f.status, "recovered", "{f:?}");
        // The breaker's 2 s open wait and the budget's 10 s memory bound
        // it; it is a few seconds in the committed report.
        let t = f.time_to_recover_s.expect("recovered");
        assert!(t < 10.0, "{t}");
    }
    assert!(!report::table::render(&fixed).contains("METASTABLE"));
}
