//! Wasted work and readable edges: successes completed for callers that
//! had already given up (late successes), goodput against throughput, the
//! latency of whole calls against that of their attempts, and calls still
//! in flight at the end.
//!
//! The scenarios are deterministic: constant arrivals (one request every
//! 100 ms from t = 100 ms), constant service times, no network latency and
//! enough workers that nothing queues, so every count is exact.

use meshsim::report::{self, Summary};
use meshsim::scenario;
use meshsim::world;
use serde_json::{Value, json};

fn summary(value: &Value) -> Summary {
    let compiled = scenario::parse(&value.to_string(), "wasted.json").expect("valid");
    let seed = compiled.scenario().seed;
    let run = world::run(&compiled, seed, None);
    report::files(&compiled, seed, &run).0
}

/// `frontend` (1 ms of work) calls `backend` (50 ms of work) through
/// `policy`; 10 requests per second for `duration`.
fn chain(policy: Value, duration: &str) -> Value {
    json!({
        "name": "wasted", "duration": duration, "seed": 1,
        "policies": {"p": policy},
        "services": {
            "frontend": {"concurrency": 10, "service_time": {"constant": "1ms"},
                         "calls": [{"service": "backend", "policy": "p"}]},
            "backend": {"concurrency": 10, "service_time": {"constant": "50ms"}}
        },
        "workload": {"arrivals": {"constant": {"rate": 10}},
                     "routes": [{"name": "api", "service": "frontend", "timeout": "5s"}]}
    })
}

#[test]
fn a_client_that_gives_up_before_the_work_is_done_wastes_it_all() {
    // 50 ms of work, a client that waits 20 ms: every success is late.
    let value = json!({
        "name": "wasted", "duration": "10s", "seed": 1,
        "services": {"s": {"concurrency": 10, "service_time": {"constant": "50ms"}}},
        "workload": {"arrivals": {"constant": {"rate": 10}},
                     "routes": [{"name": "api", "service": "s", "timeout": "20ms"}]}
    });
    let s = summary(&value);
    let route = &s.routes["api"];
    // 100 requests (t = 0.1 s ... 10 s); the last is still waiting.
    assert_eq!(route.requests, 100);
    assert_eq!(route.failures.timeout, Some(99));
    assert_eq!(route.in_flight_at_end, 1);
    assert_eq!(route.goodput_per_sec, 0.0);
    // The 99 finished jobs all finished for nobody.
    let service = &s.services["s"];
    assert_eq!(service.successes, 99);
    assert_eq!(service.late_successes, 99);
    assert_eq!(service.goodput_per_sec, 0.0);
    assert_eq!(service.throughput_per_sec, 9.9);
    assert_eq!(route.completed_for_nobody, Some(99));
    assert_eq!(route.throughput_per_sec, Some(9.9));
}

#[test]
fn every_timed_out_attempt_of_a_retried_call_is_counted_once() {
    // Attempts time out at 20 ms and are retried once after 1 ms: the
    // backend completes both attempts of every call (at 50 ms and 71 ms),
    // each after its attempt was given up.
    let policy = json!({"timeout": "20ms",
        "retry": {"max_attempts": 2, "retry_on": ["timeout"],
                  "backoff": {"constant": "1ms"}, "jitter": "none"}});
    let s = summary(&chain(policy, "10s"));
    let edge = &s.edges["frontend->backend [p]"];
    // The request at 10 s has not reached the backend by the end.
    assert_eq!(edge.calls, 99);
    assert_eq!(edge.attempts.attempts, 198);
    assert_eq!(edge.failures.timeout, Some(99));
    let backend = &s.services["backend"];
    assert_eq!(backend.requests, 198);
    assert_eq!(backend.successes, 198);
    assert_eq!(backend.late_successes, 198);
    assert_eq!(edge.completed_for_nobody, Some(198));
    assert_eq!(backend.goodput_per_sec, 0.0);
    // No success ever reached a caller in time: no latencies.
    assert_eq!(edge.call_latency_ms.count, 0);
    assert_eq!(edge.attempt_latency_ms.count, 0);
}

#[test]
fn a_caller_that_waits_wastes_nothing() {
    let s = summary(&chain(json!({"timeout": "1s"}), "10s"));
    let backend = &s.services["backend"];
    assert_eq!(backend.successes, 99);
    assert_eq!(backend.late_successes, 0);
    assert_eq!(backend.goodput_per_sec, backend.throughput_per_sec);
    assert_eq!(
        s.edges["frontend->backend [p]"].completed_for_nobody,
        Some(0)
    );
}

#[test]
fn a_whole_call_takes_as_long_as_its_attempt_without_retries() {
    let s = summary(&chain(json!({"timeout": "1s"}), "10s"));
    let edge = &s.edges["frontend->backend [p]"];
    assert_eq!(edge.call_latency_ms.count, 99);
    assert_eq!(edge.call_latency_ms, edge.attempt_latency_ms);
    assert_eq!(edge.call_latency_ms.p50, 50.0);
    assert_eq!(edge.call_latency_ms.max, 50.0);
}

#[test]
fn a_whole_call_with_retries_takes_longer_than_its_attempts() {
    // The backend fails every other request at random; errors are retried
    // after 10 ms. A call's latency includes its failed attempts and the
    // backoff, an attempt's only its own 50 ms.
    let policy = json!({"timeout": "1s",
        "retry": {"max_attempts": 5, "retry_on": ["error"],
                  "backoff": {"constant": "10ms"}, "jitter": "none"}});
    let mut value = chain(policy, "60s");
    value["services"]["backend"]["error_rate"] = json!(0.5);
    let s = summary(&value);
    let edge = &s.edges["frontend->backend [p]"];
    let (call, attempt) = (&edge.call_latency_ms, &edge.attempt_latency_ms);
    assert!(edge.attempts.retries > 100, "{:?}", edge.attempts);
    // Successful attempts all take 50 ms; a call that needed r retries
    // takes 50 + 60 r ms.
    assert_eq!((attempt.p50, attempt.max), (50.0, 50.0));
    assert_eq!(call.count, attempt.count);
    assert!(call.mean > attempt.mean, "{call:?} {attempt:?}");
    assert!(call.p90 >= 110.0 && call.max > attempt.max, "{call:?}");
    assert!(call.p50 >= attempt.p50 && call.p99 >= attempt.p99);
}

#[test]
fn calls_in_flight_at_the_end_are_counted_exactly() {
    // The request sent at 10 s calls the backend at 10.001 s, which is
    // still working on it at the end (10.02 s).
    let s = summary(&chain(json!({"timeout": "1s"}), "10.02s"));
    assert_eq!(s.routes["api"].in_flight_at_end, 1);
    assert_eq!(s.edges["frontend->backend [p]"].in_flight_at_end, 1);
    assert_eq!(s.edges["frontend->backend [p]"].calls, 100);
    assert_eq!(s.edges["frontend->backend [p]"].successes, 99);
    // The same run ended before that call started has none.
    let s = summary(&chain(json!({"timeout": "1s"}), "10s"));
    assert_eq!(s.edges["frontend->backend [p]"].in_flight_at_end, 0);
}

#[test]
fn late_successes_of_edges_that_share_a_pair_are_the_services() {
    // Two routes into one service: the service cannot tell whose attempt
    // a late job served once the attempt is gone.
    let value = json!({
        "name": "wasted", "duration": "10s", "seed": 1,
        "services": {"s": {"concurrency": 10, "service_time": {"constant": "50ms"}}},
        "workload": {"arrivals": {"constant": {"rate": 10}},
                     "routes": [{"name": "a", "service": "s", "timeout": "20ms"},
                                {"name": "b", "service": "s", "timeout": "20ms"}]}
    });
    let s = summary(&value);
    assert_eq!(s.routes["a"].completed_for_nobody, None);
    assert_eq!(s.routes["b"].throughput_per_sec, None);
    assert_eq!(s.services["s"].late_successes, s.services["s"].successes);
}

#[test]
fn a_percentile_from_too_few_samples_is_flagged() {
    let s = summary(&chain(json!({"timeout": "1s"}), "10s"));
    // 99 successes: p50 is sound, p90 is not (fewer than 10 values above).
    assert_eq!(
        s.routes["api"].latency_ms.too_few_samples,
        ["p90", "p99", "p999"]
    );
    let table = report::table::render(&s);
    assert!(
        table.contains("50.000*") || table.contains("51.000*"),
        "{table}"
    );
}
