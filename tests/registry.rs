//! The registry's life beyond checks and leases: readiness distinct from
//! liveness, Consul's deregistration of critical instances, the registry's
//! own outage, and the stagger of the callers' refreshes, seen through
//! summary.json and `series/instances.csv`.
//!
//! Each claim over several seeds names its seed when it fails.

use meshsim::report;
use meshsim::report::timeseries::{CsvRecorder, INSTANCES};
use meshsim::scenario;
use meshsim::world;
use serde_json::{Value, json};

fn summary_with_seed(value: &Value, seed: u64) -> Value {
    let compiled = scenario::parse(&value.to_string(), "registry.json").expect("valid");
    let run = world::run(&compiled, seed, None);
    let (summary, _) = report::files(&compiled, seed, &run);
    serde_json::from_str(&summary.to_json()).unwrap()
}

/// A writer into a buffer the test keeps.
#[derive(Clone, Default)]
struct Shared(std::rc::Rc<std::cell::RefCell<Vec<u8>>>);

impl std::io::Write for Shared {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.borrow_mut().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The summary and the rows of `series/instances.csv` (split on commas).
fn run_with_series(value: &Value, seed: u64) -> (Value, Vec<Vec<String>>) {
    let compiled = scenario::parse(&value.to_string(), "registry.json").expect("valid");
    let buffer = Shared::default();
    let mut csv = CsvRecorder::new(Shared::default(), Shared::default(), Shared::default())
        .with_instances(buffer.clone());
    let run = world::run_streaming(&compiled, seed, None, &mut csv);
    csv.finish().expect("no write error");
    let (summary, _) = report::files(&compiled, seed, &run);
    let text = String::from_utf8(buffer.0.borrow().clone()).unwrap();
    let mut lines = text.lines();
    assert_eq!(lines.next(), Some(INSTANCES.header));
    let rows = lines
        .map(|l| l.split(',').map(str::to_string).collect())
        .collect();
    (serde_json::from_str(&summary.to_json()).unwrap(), rows)
}

/// Column indices of `series/instances.csv`.
const T_START: usize = 0;
const INSTANCE: usize = 3;
const REQUESTS: usize = 4;
const SUCCESSES: usize = 5;
const REGISTERED: usize = 8;
const IN_POOLS: usize = 9;

/// Two `front` instances call three `back` instances (round robin over
/// each caller's view) at 300 requests/s; a `back` instance serves 500/s
/// (two workers, 4 ms), so each runs at 20%. 60 s.
fn system(discovery: Value) -> Value {
    json!({
        "name": "registry", "duration": "60s", "seed": 1,
        "policies": {"p": {"timeout": "1s"}},
        "services": {
            "front": {"instances": 2, "concurrency": 256, "queue_capacity": 1000,
                      "service_time": {"constant": "100us"},
                      "calls": [{"service": "back", "policy": "p"}]},
            "back": {"instances": 3, "concurrency": 2, "queue_capacity": 2000,
                     "service_time": {"exponential": {"mean": "4ms"}},
                     "discovery": discovery},
            "db": {"service_time": {"constant": "1ms"}}
        },
        "network": {"latency": {"exponential": {"mean": "200us"}}},
        "workload": {"arrivals": {"poisson": {"rate": 300}},
                     "routes": [{"service": "front"}], "timeout": "5s"},
        "faults": []
    })
}

fn back(summary: &Value) -> &Value {
    &summary["services"]["back"]
}

fn transitions(summary: &Value) -> Vec<(String, u64)> {
    back(summary)["instance_transitions"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| (k.clone(), v.as_u64().unwrap()))
        .collect()
}

fn transition(summary: &Value, name: &str) -> u64 {
    back(summary)["instance_transitions"][name]
        .as_u64()
        .unwrap_or(0)
}

/// Heartbeats (which do not queue, so the registry alone cannot see a slow
/// instance) with a readiness probe on the queue; instance 2 is eight
/// times slower from 20 s to 40 s: 62.5/s for the 100/s it is sent.
fn overloaded(readiness: bool) -> Value {
    let mut discovery = json!({
        "heartbeat": {"renewal_interval": "1s", "lease_duration": "3s",
                      "eviction_interval": "1s", "self_preservation": false},
        "refresh": "1s"
    });
    if readiness {
        discovery["readiness"] =
            json!({"interval": "500ms", "failure_threshold": 2, "queue_above": 20});
    }
    let mut value = system(discovery);
    value["faults"] = json!([{"at": "20s", "for": "20s",
                              "slowdown": {"service": "back", "instance": 2, "factor": 8}}]);
    value
}

#[test]
fn an_overloaded_instance_leaves_the_pool_while_not_ready_and_returns() {
    for seed in 1..=4 {
        let (s, rows) = run_with_series(&overloaded(true), seed);
        let left = transition(&s, "ready->not_ready");
        let back_again = transition(&s, "not_ready->ready");
        assert!(left >= 1, "seed {seed}: {:?}", transitions(&s));
        // Every exit is followed by a return: ready at the end.
        assert_eq!(left, back_again, "seed {seed}: {:?}", transitions(&s));
        // Liveness is not readiness: nothing but readiness moved it, and it
        // was never restarted.
        for (name, _) in transitions(&s) {
            assert!(
                name == "ready->not_ready" || name == "not_ready->ready",
                "seed {seed}: {name}"
            );
        }
        let of = |t: usize| {
            rows.iter()
                .find(|r| r[T_START] == format!("{t}.000000") && r[INSTANCE] == "2")
                .unwrap_or_else(|| panic!("a row at {t} s"))
        };
        // Out of the pool at some point of the slowdown, and out of the
        // registry's answers while it is: its heartbeats say DOWN, yet its
        // lease is kept, so it is never evicted and re-registered.
        let out: Vec<usize> = (20..40).filter(|&t| of(t)[IN_POOLS] == "0").collect();
        assert!(!out.is_empty(), "seed {seed}: never left the pool");
        // While out, it still serves what it holds: alive, not restarted.
        let served: u64 = out
            .iter()
            .map(|&t| of(t)[SUCCESSES].parse::<u64>().unwrap())
            .sum();
        assert!(served > 0, "seed {seed}: served nothing while out");
        // Back in both pools and taking its share once the slowdown is
        // over (a return takes a probe, a renewal and a refresh: < 3 s).
        for t in 45..60 {
            assert_eq!(of(t)[REGISTERED], "1", "seed {seed} at {t} s");
            assert_eq!(of(t)[IN_POOLS], "2", "seed {seed} at {t} s");
            assert!(
                of(t)[REQUESTS].parse::<u64>().unwrap() > 50,
                "seed {seed} at {t} s"
            );
        }
        // Without readiness the registry keeps it: it takes its full third.
        let plain = summary_with_seed(&overloaded(false), seed);
        let share = |s: &Value| back(s)["instances"]["each"][2]["share"].as_f64().unwrap();
        assert!(
            (share(&plain) - 1.0 / 3.0).abs() < 0.01,
            "seed {seed}: {}",
            share(&plain)
        );
        assert!(
            share(&s) < share(&plain) - 0.02,
            "seed {seed}: {} with readiness, {} without",
            share(&s),
            share(&plain)
        );
        assert!(transitions(&plain).is_empty(), "seed {seed}");
    }
}

#[test]
fn a_required_dependency_down_makes_every_instance_not_ready_through_its_checks() {
    // Active checks: a not-ready instance answers its check 503. With the
    // one `db` instance down from 20 s to 30 s every `back` instance is not
    // ready: the pool empties, callers fail at once ("no healthy
    // upstream"), and all come back when `db` does. Readiness on a shared
    // dependency turns its outage into this one's: why Kubernetes' docs
    // warn against it.
    let mut value = system(json!({
        "health_check": {"interval": "1s", "timeout": "500ms", "failures_before_critical": 1},
        "refresh": "1s",
        "readiness": {"interval": "500ms", "failure_threshold": 1, "dependencies": ["db"]}
    }));
    value["faults"] = json!([{"at": "20s", "for": "10s", "crash": {"service": "db"}}]);
    let s = summary_with_seed(&value, 1);
    assert_eq!(
        transition(&s, "ready->not_ready"),
        3,
        "{:?}",
        transitions(&s)
    );
    assert_eq!(
        transition(&s, "not_ready->ready"),
        3,
        "{:?}",
        transitions(&s)
    );
    // The calls to `back` are rejected, so `front` answers with an error.
    // Each caller's pool is empty from when its view loses the last
    // instance (20 s plus up to a probe, a check and a refresh: 2.5 s) to
    // when it gets the first back (30 s plus as much): 7.5 to 12.5 s at
    // 150/s per caller, 2,250 to 3,750 in all, give or take the Poisson
    // noise (σ about 55).
    let errors = s["routes"]["front"]["failures"]["error"].as_u64().unwrap();
    assert!(errors > 2100, "{errors} errors");
    assert!(errors < 3900, "{errors} errors");
    // Every one of them rejected by the caller itself ("no healthy
    // upstream"): nothing timed out on a not-ready instance.
    let edge = &s["edges"]["front->back [p]"]["failures"];
    assert_eq!(edge["rejected"].as_u64(), Some(errors), "{edge}");
    assert_eq!(edge["timeout"], 0, "{edge}");
    // No instance of `back` crashed or restarted.
    assert_eq!(transitions(&s).len(), 2, "{:?}", transitions(&s));
}

/// Active checks every second (critical after two failures); instance 0
/// crashes at 10 s and restarts at 100 s; 120 s.
fn reaped(after: Option<&str>) -> Value {
    let mut check = json!({"interval": "1s", "timeout": "500ms", "failures_before_critical": 2});
    if let Some(after) = after {
        check["deregister_critical_after"] = json!(after);
    }
    let mut value = system(json!({"health_check": check, "refresh": "2s"}));
    value["duration"] = json!("120s");
    value["faults"] = json!([{"at": "10s", "for": "90s",
                              "crash": {"service": "back", "instance": 0}}]);
    value
}

#[test]
fn a_critical_instance_is_deregistered_at_the_first_reaper_pass_past_the_timeout() {
    for seed in 1..=6 {
        for after in ["1m", "10s"] {
            // "10s" is raised to Consul's minimum of one minute.
            let s = summary_with_seed(&reaped(Some(after)), seed);
            let registry = &back(&s)["instances"]["registry"];
            let gone = registry["deregistrations"].as_array().unwrap();
            assert_eq!(gone.len(), 1, "seed {seed}, {after}: {registry}");
            assert_eq!(gone[0]["instance"], 0);
            let since = gone[0]["critical_since_s"].as_f64().unwrap();
            let at = gone[0]["at_s"].as_f64().unwrap();
            // Critical after the check in flight and two failed ones.
            assert!(
                since > 10.0 && since < 10.0 + 3.0 * 1.5 + 0.1,
                "seed {seed}: {since}"
            );
            // On the reaper's 30 s grid, strictly more than a minute after,
            // and at the first such pass.
            assert_eq!(at % 30.0, 0.0, "seed {seed}: {at}");
            assert!(at - since > 60.0, "seed {seed}: {since} -> {at}");
            assert!(at - 30.0 - since <= 60.0, "seed {seed}: {since} -> {at}");
            assert_eq!(at, 90.0, "seed {seed}");
        }
        // Without the setting it is never deregistered.
        let s = summary_with_seed(&reaped(None), seed);
        let registry = &back(&s)["instances"]["registry"];
        assert_eq!(registry["deregistrations"], json!([]), "seed {seed}");
    }
}

#[test]
fn a_deregistered_instance_registers_again_when_it_restarts() {
    let (_, rows) = run_with_series(&reaped(Some("1m")), 1);
    let of = |t: usize| {
        rows.iter()
            .find(|r| r[T_START] == format!("{t}.000000") && r[INSTANCE] == "0")
            .unwrap()
    };
    assert_eq!(of(95)[REGISTERED], "0");
    // Restarted at 100 s, it registers critical and passes its first check.
    for t in 102..120 {
        assert_eq!(of(t)[REGISTERED], "1", "at {t} s");
        assert_eq!(of(t)[IN_POOLS], "2", "at {t} s");
    }
}

#[test]
fn an_instance_that_registers_critical_and_never_passes_is_reaped_too() {
    // Instance 0 stops at 10 s and restarts at 15 s: it registers again
    // critical (Consul's initial status). From 12 s a partition cuts the
    // registry (at `consul`'s node) off from `back`, so no check passes:
    // the reaper counts its critical time from the registration itself.
    let mut value = reaped(Some("1m"));
    value["services"]["consul"] = json!({"service_time": {"constant": "1ms"}});
    value["services"]["back"]["discovery"]["registry"] = json!("consul");
    value["faults"] = json!([
        {"at": "10s", "for": "5s", "stop": {"service": "back", "instance": 0}},
        {"at": "12s", "partition": {"between": [["consul"], ["back"]]}}
    ]);
    let s = summary_with_seed(&value, 1);
    let gone = back(&s)["instances"]["registry"]["deregistrations"]
        .as_array()
        .unwrap()
        .clone();
    let zero: Vec<&Value> = gone.iter().filter(|d| d["instance"] == 0).collect();
    assert_eq!(zero.len(), 1, "{gone:?}");
    assert_eq!(zero[0]["critical_since_s"], 15.0, "{gone:?}");
    // The reaper's passes are counted from each check's registration (15,
    // 45, 75, 105 s here): the first more than a minute after 15 s.
    assert_eq!(zero[0]["at_s"], 105.0, "{gone:?}");
    // The two others, registered at 0 s, turned critical at their first
    // failed checks after 12 s, and go at the pass of 90 s.
    assert_eq!(gone.len(), 3, "{gone:?}");
    for d in gone.iter().filter(|d| d["instance"] != 0) {
        assert_eq!(d["at_s"], 90.0, "{d}");
    }
}

/// Active checks every second (critical after two failures), refreshes
/// every 2 s; the registry is down from 20 s to 40 s.
fn outage(crash: bool) -> Value {
    let mut value = system(json!({
        "health_check": {"interval": "1s", "timeout": "500ms", "failures_before_critical": 2},
        "refresh": "2s"
    }));
    value["duration"] = json!("80s");
    let mut faults =
        vec![json!({"at": "20s", "for": "20s", "registry_outage": {"service": "back"}})];
    if crash {
        faults.push(json!({"at": "25s", "crash": {"service": "back", "instance": 0}}));
    }
    value["faults"] = json!(faults);
    value
}

#[test]
fn during_a_registry_outage_traffic_flows_to_the_last_view() {
    for seed in 1..=3 {
        let (s, rows) = run_with_series(&outage(false), seed);
        let route = &s["routes"]["front"];
        let failures: u64 = route["failures"]
            .as_object()
            .unwrap()
            .values()
            .map(|v| v.as_u64().unwrap())
            .sum();
        assert_eq!(failures, 0, "seed {seed}: {route}");
        let registry = &back(&s)["instances"]["registry"];
        // Each of the two callers' refreshes times out through the outage
        // (backing off: at 2, 4, 8 and 16 s, so at least three each).
        assert!(
            registry["refreshes_failed"].as_u64().unwrap() >= 6,
            "seed {seed}: {registry}"
        );
        // Every instance keeps its third of the traffic, in every pool.
        for t in 21..40 {
            for instance in 0..3 {
                let row = rows
                    .iter()
                    .find(|r| {
                        r[T_START] == format!("{t}.000000") && r[INSTANCE] == instance.to_string()
                    })
                    .unwrap();
                assert_eq!(row[IN_POOLS], "2", "seed {seed} at {t} s");
                assert!(
                    row[REQUESTS].parse::<u64>().unwrap() > 50,
                    "seed {seed} at {t} s"
                );
            }
        }
    }
}

#[test]
fn a_crash_during_a_registry_outage_is_not_detected_until_it_ends() {
    let (crash_at, outage_end) = (25.0, 40.0);
    // After the outage: the check in flight and two failed ones (3 × 1.5 s),
    // then the callers' next refresh, which has backed off through the
    // outage to at most ten intervals (20 s), plus the network.
    let bound = outage_end - crash_at + 3.0 * 1.5 + 20.0 + 0.1;
    for seed in 1..=6 {
        let s = summary_with_seed(&outage(true), seed);
        let crash = &back(&s)["instances"]["crashes"][0];
        assert_eq!(crash["detected"], true, "seed {seed}: {crash}");
        let detection = crash["detection_s"].as_f64().unwrap();
        assert!(
            detection >= outage_end - crash_at,
            "seed {seed}: stopped sending after {detection} s, before the outage ended"
        );
        assert!(detection <= bound, "seed {seed}: {detection} > {bound}");
        // Meanwhile its callers kept sending it its third: 100/s for 15 s.
        assert!(
            crash["errors"].as_u64().unwrap() > 1200,
            "seed {seed}: {crash}"
        );
    }
}

#[test]
fn the_callers_refreshes_are_staggered_so_detections_do_not_cluster_on_a_grid() {
    // A crash at 20 s seen by checks every second, refreshes every 4 s.
    // Callers that all refreshed on one grid (every unit starts at 0 s)
    // would all stop sending just before a multiple of 4 s; staggered, the
    // last send falls anywhere in the interval. Within 5% of a boundary on
    // either side is 10% of the interval: 4 of 40 seeds on average
    // (binomial σ 1.9); 16 is six σ above. Measured: 5 of 40 staggered,
    // 40 of 40 when every view refreshed on the grid of its start-up fetch.
    let mut near = 0;
    for seed in 1..=40 {
        let mut value = system(json!({
            "health_check": {"interval": "1s", "timeout": "500ms", "failures_before_critical": 1},
            "refresh": "4s"
        }));
        value["duration"] = json!("40s");
        value["faults"] = json!([{"at": "20s", "crash": {"service": "back", "instance": 0}}]);
        let s = summary_with_seed(&value, seed);
        let crash = &back(&s)["instances"]["crashes"][0];
        let last = crash["at_s"].as_f64().unwrap() + crash["detection_s"].as_f64().unwrap();
        let phase = (last % 4.0) / 4.0;
        if phase.min(1.0 - phase) < 0.05 {
            near += 1;
        }
    }
    assert!(
        near < 16,
        "{near} of 40 detections within 5% of a refresh boundary"
    );
}

#[test]
fn bad_readiness_and_outages_are_located_errors() {
    for (change, at) in [
        (
            json!({"readiness": {"interval": "1s"}}),
            "services.back.discovery.readiness",
        ),
        (
            json!({"readiness": {"queue_above": 3, "failure_threshold": 0}}),
            "services.back.discovery.readiness.failure_threshold",
        ),
        (
            json!({"readiness": {"dependencies": ["dbx"]}}),
            "services.back.discovery.readiness.dependencies[0]",
        ),
        (
            json!({"readiness": {"dependencies": ["back"]}}),
            "services.back.discovery.readiness.dependencies[0]",
        ),
        (
            json!({"readiness": {"queue_above": 3, "interval": "0s"}}),
            "services.back.discovery.readiness.interval",
        ),
    ] {
        let mut discovery = json!({"health_check": {}});
        for (k, v) in change.as_object().unwrap() {
            discovery[k] = v.clone();
        }
        let value = system(discovery);
        let text = scenario::parse(&value.to_string(), "registry.json")
            .expect_err(&format!("{change} is refused"))
            .to_string();
        assert!(text.contains(at), "{change}: {text}");
    }
    let mut value = system(json!({"health_check": {}}));
    value["faults"] = json!([{"at": "1s", "registry_outage": {"service": "db"}}]);
    let text = scenario::parse(&value.to_string(), "registry.json")
        .expect_err("db has no registry")
        .to_string();
    assert!(text.contains("faults[0].registry_outage.service"), "{text}");
    assert!(text.contains("has no registry"), "{text}");
}
