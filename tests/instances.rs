//! Instances: their own speeds, faults aimed at one instance (a gray
//! failure), and their lifecycle (crash and restart, graceful stop with a
//! drain), seen through summary.json.
//!
//! The scenarios are deterministic on purpose: constant arrivals and
//! constant service times, far below capacity, and round robin over three
//! instances, so every figure below is exact rather than statistical.

use meshsim::report;
use meshsim::scenario;
use meshsim::world;
use serde_json::{Value, json};

/// Three instances of `s`, 1 ms of work each, one request every 10 ms for
/// 3 s (300 requests from t = 10 ms, 100 per instance by round robin; the
/// last, at t = 3 s, is still in service when the run ends).
fn base() -> Value {
    json!({
        "name": "instances", "duration": "3s", "seed": 1,
        "services": {"s": {"instances": 3, "concurrency": 4,
                           "service_time": {"constant": "1ms"}}},
        "workload": {"arrivals": {"constant": {"rate": 100}},
                     "routes": [{"service": "s", "timeout": "1s"}]}
    })
}

fn summary(value: &Value) -> Value {
    let compiled = scenario::parse(&value.to_string(), "instances.json").expect("valid");
    let seed = compiled.scenario().seed;
    let run = world::run(&compiled, seed, None);
    let (summary, _) = report::files(&compiled, seed, &run);
    serde_json::from_str(&summary.to_json()).unwrap()
}

fn service(summary: &Value) -> &Value {
    &summary["services"]["s"]
}

#[test]
fn one_slow_instance_is_a_gray_failure() {
    let mut value = base();
    value["services"]["s"]["instance_slowdown"] = json!([1, 1, 5]);
    let s = summary(&value);
    let latency = &service(&s)["latency_ms"];
    // A third of the requests take 5 ms, the rest 1 ms.
    assert_eq!(latency["max"], 5.0, "{latency}");
    assert_eq!(latency["p50"], 1.0, "{latency}");
    let mean = latency["mean"].as_f64().unwrap();
    assert!((mean - 7.0 / 3.0).abs() < 0.01, "{mean}");
    assert_eq!(service(&s)["successes"], 299);
}

#[test]
fn a_slowdown_fault_can_hit_one_instance() {
    let mut value = base();
    value["faults"] =
        json!([{"at": "0s", "slowdown": {"service": "s", "instance": 2, "factor": 5}}]);
    let faulted = summary(&value);
    let mut slow = base();
    slow["services"]["s"]["instance_slowdown"] = json!([1, 1, 5]);
    // The same as an instance that is slow by itself.
    assert_eq!(
        service(&faulted)["latency_ms"],
        service(&summary(&slow))["latency_ms"]
    );
}

#[test]
fn an_error_fault_can_hit_one_instance() {
    let mut value = base();
    value["faults"] = json!([{"at": "0s", "errors": {"service": "s", "instance": 0, "rate": 1.0}}]);
    let s = summary(&value);
    // Round robin: exactly one request in three reaches instance 0.
    assert_eq!(service(&s)["failures"]["error"], 100);
    assert_eq!(service(&s)["successes"], 199);
    // An instance's fault wins over the service's for that instance.
    value["faults"] = json!([
        {"at": "0s", "errors": {"service": "s", "rate": 1.0}},
        {"at": "0s", "errors": {"service": "s", "instance": 1, "rate": 0.0}}
    ]);
    let s = summary(&value);
    assert_eq!(service(&s)["successes"], 100);
    assert_eq!(service(&s)["failures"]["error"], 199);
}

#[test]
fn a_crash_and_its_restart_are_lifecycle_transitions() {
    let mut value = base();
    value["faults"] = json!([{"at": "1s", "for": "1s", "crash": {"service": "s", "instance": 0}}]);
    let s = summary(&value);
    assert_eq!(
        service(&s)["instance_transitions"],
        json!({"crashed->starting": 1, "ready->crashed": 1, "starting->ready": 1})
    );
    // While it is down, its share of the requests vanishes.
    assert!(service(&s)["failures"]["dropped"].as_u64().unwrap() >= 30);
}

#[test]
fn a_stopped_instance_refuses_new_work_and_restarts() {
    let mut value = base();
    value["faults"] =
        json!([{"at": "1005ms", "for": "1s", "stop": {"service": "s", "instance": 0}}]);
    let s = summary(&value);
    // Idle when the stop came (its last job ended at 1.001 s): straight to
    // stopped; back to ready when the fault ends.
    assert_eq!(
        service(&s)["instance_transitions"],
        json!({"ready->stopped": 1, "starting->ready": 1, "stopped->starting": 1})
    );
    // A third of the requests of that second are refused with 503 at once,
    // and none is lost.
    assert_eq!(service(&s)["failures"]["rejected"], 33, "{}", service(&s));
    assert_eq!(service(&s)["failures"]["dropped"], 0);
    let route = &s["routes"]["s"];
    assert_eq!(route["failures"]["rejected"], 33, "{route}");
    assert_eq!(route["failures"]["timeout"], 0, "{route}");
}

#[test]
fn a_stop_drains_the_work_in_progress() {
    let mut value = base();
    // 25 ms of work every 10 ms: each instance always has a job in service.
    value["services"]["s"]["service_time"] = json!({"constant": "25ms"});
    value["faults"] =
        json!([{"at": "1005ms", "for": "1s", "stop": {"service": "s", "instance": 0}}]);
    let s = summary(&value);
    let transitions = &service(&s)["instance_transitions"];
    assert_eq!(transitions["ready->draining"], 1, "{transitions}");
    assert_eq!(transitions["draining->stopped"], 1, "{transitions}");
    assert_eq!(transitions["stopped->starting"], 1, "{transitions}");
    // What it held when the stop came was served, not lost.
    assert_eq!(service(&s)["failures"]["dropped"], 0);
    assert_eq!(s["routes"]["s"]["failures"]["timeout"], 0);
}

#[test]
fn an_instance_that_does_not_exist_is_refused() {
    for fault in [
        json!({"at": "1s", "stop": {"service": "s", "instance": 3}}),
        json!({"at": "1s", "errors": {"service": "s", "instance": 3, "rate": 1}}),
        json!({"at": "1s", "slowdown": {"service": "s", "instance": 7, "factor": 2}}),
        json!({"at": "1s", "latency": {"service": "s", "instance": 3, "add": "1ms"}}),
    ] {
        let mut value = base();
        value["faults"] = json!([fault.clone()]);
        let error = scenario::parse(&value.to_string(), "bad.json").unwrap_err();
        let text = error.to_string();
        assert!(text.contains("there is no instance"), "{fault}: {text}");
    }
    let mut value = base();
    value["services"]["s"]["instance_slowdown"] = json!([1, 2]);
    let text = scenario::parse(&value.to_string(), "bad.json")
        .unwrap_err()
        .to_string();
    assert!(
        text.contains("one factor per instance: 2 given for 3"),
        "{text}"
    );
}

/// Requests that never end (a crashed backend and no client timeout) pile
/// up to `max_requests_in_flight`; past it new requests are refused and
/// counted, the run goes on, and memory stays bounded.
#[test]
fn requests_in_flight_are_bounded() {
    let mut value = base();
    value["workload"]["routes"] = json!([{"service": "s"}]);
    value["max_requests_in_flight"] = json!(50);
    value["faults"] = json!([{"at": "1s", "crash": {"service": "s"}}]);
    let s = summary(&value);
    // From 1 s every request vanishes at the crashed instances and stays in
    // flight: 50 are kept, the other ~150 are refused at the bound.
    let route = &s["routes"]["s"];
    assert_eq!(route["in_flight_at_end"], 50, "{route}");
    let capped = route["failures"]["capped"].as_u64().unwrap();
    assert!((145..=155).contains(&capped), "{capped}");
    assert_eq!(s["requests_capped"], capped);
    assert_eq!(s["max_requests_in_flight"], 50);
    assert_eq!(s["completed"], true);
}

#[test]
fn a_restarting_instance_boots_and_refuses_requests_meanwhile() {
    let mut value = base();
    value["services"]["s"]["boot_time"] = json!({"constant": "490ms"});
    value["faults"] = json!([{"at": "1s", "for": "1s", "crash": {"service": "s", "instance": 0}}]);
    let s = summary(&value);
    assert_eq!(
        service(&s)["instance_transitions"],
        json!({"crashed->starting": 1, "ready->crashed": 1, "starting->ready": 1})
    );
    // Instance 0 gets the requests at 10 + 30j ms: those at 2.02 s to 2.47 s
    // come while it boots (until 2.49 s) and are refused at once.
    assert_eq!(service(&s)["failures"]["rejected"], 16, "{}", service(&s));
    assert_eq!(s["routes"]["s"]["failures"]["rejected"], 16);
    // Without a boot time the same restart refuses nothing.
    value["services"]["s"]
        .as_object_mut()
        .unwrap()
        .remove("boot_time");
    assert_eq!(service(&summary(&value))["failures"]["rejected"], 0);
}

#[test]
fn a_crash_during_a_boot_abandons_it() {
    let mut value = base();
    value["services"]["s"]["boot_time"] = json!({"constant": "490ms"});
    value["faults"] = json!([
        {"at": "1s", "for": "1s", "crash": {"service": "s", "instance": 0}},
        {"at": "2205ms", "for": "100ms", "crash": {"service": "s", "instance": 0}}
    ]);
    let s = summary(&value);
    // The first boot (due at 2.49 s) is cut short at 2.205 s; the second
    // restart, at 2.305 s, boots until 2.795 s.
    assert_eq!(
        service(&s)["instance_transitions"],
        json!({"crashed->starting": 2, "ready->crashed": 1, "starting->crashed": 1,
               "starting->ready": 1})
    );
    // Refused while booting: 2.02 to 2.2 s (7) and 2.32 to 2.77 s (16).
    assert_eq!(service(&s)["failures"]["rejected"], 23, "{}", service(&s));
}

/// `front` (one instance) calls `back`, which takes 200 ms, for every
/// request: 100 requests a second.
fn caller_and_callee() -> Value {
    json!({
        "name": "callers", "duration": "3s", "seed": 1,
        "services": {
            "front": {"concurrency": 100, "service_time": {"constant": "1ms"},
                      "calls": [{"service": "back"}]},
            "back": {"concurrency": 100, "service_time": {"constant": "200ms"}}
        },
        "workload": {"arrivals": {"constant": {"rate": 100}},
                     "routes": [{"service": "front", "timeout": "1s"}]}
    })
}

#[test]
fn the_calls_of_a_crashed_caller_die_with_it() {
    let mut value = caller_and_callee();
    value["faults"] = json!([{"at": "1005ms", "for": "1s", "crash": {"service": "front"}}]);
    let s = summary(&value);
    let edge = &s["edges"]["front->back"];
    // The 20 requests that reached front in the 200 ms before the crash were
    // waiting for back: their calls die with front.
    assert_eq!(edge["failures"]["dropped"], 20, "{edge}");
    // Every call ends answered or dropped, but those of the last 200 ms
    // (requests at 2.81 s to 3 s), still at back when the run ends.
    let in_flight_at_end = 20;
    assert_eq!(
        edge["successes"].as_u64().unwrap() + 20 + in_flight_at_end,
        edge["calls"].as_u64().unwrap(),
        "{edge}"
    );
    // back finishes that work anyway, for nobody.
    assert_eq!(
        s["services"]["back"]["successes"].as_u64().unwrap(),
        edge["successes"].as_u64().unwrap() + 20
    );
}

#[test]
fn a_crashed_caller_retries_nothing_after_its_crash() {
    let mut value = caller_and_callee();
    // back fails everything for a while; front retries after 300 ms.
    value["policies"] = json!({"retry": {"retry": {"max_attempts": 3,
        "backoff": {"exponential": {"base": "300ms", "multiplier": 1, "cap": "300ms"}},
        "jitter": "none"}}});
    value["services"]["front"]["calls"] = json!([{"service": "back", "policy": "retry"}]);
    value["faults"] = json!([
        {"at": "800ms", "for": "205ms", "errors": {"service": "back", "rate": 1.0}},
        {"at": "1005ms", "for": "1s", "crash": {"service": "front"}}
    ]);
    let crashed = summary(&value);
    let edge = &crashed["edges"]["front->back [retry]"];
    // Calls that failed at back between 0.8 s and 1.005 s were waiting for
    // their retries when front crashed: no retry of theirs is ever sent.
    value["faults"].as_array_mut().unwrap().pop();
    let alive = summary(&value);
    let alive_edge = &alive["edges"]["front->back [retry]"];
    assert!(
        edge["attempts"]["retries"].as_u64().unwrap()
            < alive_edge["attempts"]["retries"].as_u64().unwrap(),
        "{edge} vs {alive_edge}"
    );
    assert!(
        edge["failures"]["dropped"].as_u64().unwrap() >= 20,
        "{edge}"
    );
}

#[test]
fn a_restart_starts_the_instances_own_policy_state_over() {
    let mut value = caller_and_callee();
    value["services"]["back"]["service_time"] = json!({"constant": "1ms"});
    value["policies"] = json!({"guard": {
        "timeout": "100ms",
        "breaker": {"window_size": 10, "minimum_calls": 10, "failure_rate_percent": 50,
                    "wait_in_open": "60s", "half_open_calls": 1},
        "scope": "instance"}});
    value["services"]["front"]["calls"] = json!([{"service": "back", "policy": "guard"}]);
    value["faults"] = json!([
        {"at": "500ms", "for": "500ms", "errors": {"service": "back", "rate": 1.0}},
        {"at": "1500ms", "for": "500ms", "crash": {"service": "front"}}
    ]);
    let s = summary(&value);
    let breakers = &s["edges"]["front->back [guard]"]["breakers"];
    // Opened by the errors, closed by front's restart at 2 s (its new
    // process has a new breaker), not by its 60 s wait.
    assert_eq!(breakers["transitions"]["closed->open"], 1, "{breakers}");
    assert_eq!(breakers["transitions"]["open->closed"], 1, "{breakers}");
    assert_eq!(breakers["open_at_end"], 0, "{breakers}");
    // Without the crash it stays open to the end.
    value["faults"].as_array_mut().unwrap().pop();
    let s = summary(&value);
    assert_eq!(
        s["edges"]["front->back [guard]"]["breakers"]["open_at_end"],
        1
    );
}

/// A regression: a restart reset the caller's per-instance policy state at
/// the instance's own unit even when the policy keeps none (a timeout and
/// a retry only: one shared unit), indexing past it for instance 1.
#[test]
fn a_caller_with_a_stateless_policy_restarts_any_instance() {
    let value = json!({
        "name": "restart", "duration": "3s", "seed": 1,
        "policies": {"p": {"timeout": "100ms",
                           "retry": {"max_attempts": 2, "retry_on": ["timeout"]}}},
        "services": {
            "front": {"instances": 3, "concurrency": 4, "service_time": {"constant": "1ms"},
                      "calls": [{"service": "s", "policy": "p"}]},
            "s": {"instances": 3, "concurrency": 4, "service_time": {"constant": "1ms"}}
        },
        "workload": {"arrivals": {"constant": {"rate": 100}},
                     "routes": [{"service": "front", "timeout": "1s"}]},
        "faults": [{"at": "1s", "for": "500ms", "crash": {"service": "front", "instance": 2}},
                   {"at": "1s", "for": "500ms", "stop": {"service": "front", "instance": 1}}]
    });
    let s = summary(&value);
    let front = &s["services"]["front"];
    // Both came back: a crash and a stop, each ended by a restart.
    assert_eq!(
        front["instance_transitions"]["crashed->starting"], 1,
        "{front}"
    );
    assert_eq!(
        front["instance_transitions"]["stopped->starting"], 1,
        "{front}"
    );
    assert!(front["successes"].as_u64().unwrap() > 250, "{front}");
}

/// A stop that ends while the instance still drains: the drain finishes,
/// then the process restarts (it does not go back to serving as the
/// process that was stopping).
#[test]
fn a_stop_that_ends_during_its_drain_restarts_after_it() {
    let mut value = base();
    value["services"]["s"]["service_time"] = json!({"constant": "500ms"});
    value["services"]["s"]["concurrency"] = json!(64);
    value["faults"] =
        json!([{"at": "1s", "for": "100ms", "stop": {"service": "s", "instance": 1}}]);
    let s = summary(&value);
    let t = &service(&s)["instance_transitions"];
    assert_eq!(t["ready->draining"], 1, "{t}");
    assert_eq!(t["draining->starting"], 1, "{t}");
    assert_eq!(t["starting->ready"], 1, "{t}");
    assert!(t.get("draining->ready").is_none(), "{t}");
}
