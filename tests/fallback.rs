//! Fallbacks on any edge: a call that has failed after its whole policy
//! stack falls back to another service, a static answer, or the last good
//! answer while it is fresh, and the caller sees a degraded success.
//!
//! What a user of `fallback` relies on: every failure it covers is either
//! served (a degraded success, counted on the route) or counted as failed,
//! never lost; the edge keeps counting the failure (its breaker and its
//! figures still see the dependency fail); a cached answer is served only
//! while it is no older than its bound; `on` limits what falls back; the
//! fallback call has only the time left of the call it stands in for.

use meshsim::report::{self, Summary};
use meshsim::scenario;
use meshsim::world;
use serde_json::{Value, json};

/// `web` calls `recs` with the policy `recs-calls` (given), `recs` crashes
/// from 5 s to 15 s of 20 s, and `recs-global` stands by.
fn scenario_with(policy: Value, faults: Value) -> Value {
    json!({
        "name": "fallback", "duration": "20s", "window": "1s",
        "services": {
            "web": {"concurrency": 100, "service_time": {"constant": "1ms"},
                    "calls": [{"service": "recs", "policy": "recs-calls"}]},
            "recs": {"instances": 2, "concurrency": 100,
                     "service_time": {"exponential": {"mean": "5ms"}}},
            "recs-global": {"concurrency": 100, "service_time": {"constant": "1ms"}}
        },
        "policies": {"recs-calls": policy},
        "workload": {"arrivals": {"poisson": {"rate": 200}},
                     "routes": [{"service": "web", "timeout": "1s"}]},
        "faults": faults
    })
}

fn crash() -> Value {
    json!([{"at": "5s", "for": "10s", "crash": {"service": "recs"}}])
}

fn summary(value: &Value) -> Summary {
    let compiled =
        scenario::parse(&value.to_string(), "fallback.json").unwrap_or_else(|e| panic!("{e}"));
    let outcome = world::run(&compiled, 3, None);
    report::files(&compiled, 3, &outcome).0
}

fn refused(value: &Value) -> String {
    match scenario::parse(&value.to_string(), "fallback.json") {
        Ok(_) => panic!("compiled, but should not have: {value:#}"),
        Err(e) => e.to_string(),
    }
}

fn edge<'a>(s: &'a Summary, name: &str) -> &'a report::summary::EdgeSummary {
    s.edges
        .get(name)
        .unwrap_or_else(|| panic!("no edge {name}: {:?}", s.edges.keys().collect::<Vec<_>>()))
}

#[test]
fn a_fallback_service_answers_for_a_crashed_dependency() {
    let s = summary(&scenario_with(
        json!({"timeout": "50ms", "fallback": {"service": "recs-global", "timeout": "20ms"}}),
        crash(),
    ));
    let route = &s.routes["web"];
    // Every request succeeds; those that met the crash are degraded.
    assert_eq!(route.successes, route.requests - route.in_flight_at_end);
    let e = edge(&s, "web->recs [recs-calls]");
    let f = e.fallback.as_ref().expect("a fallback block");
    assert_eq!(f.answer, "service");
    assert_eq!(
        f.edge.as_deref(),
        Some("web->recs-global [fallback for recs]")
    );
    // The edge still counts the failures: the crash's timeouts.
    let timeouts = e.failures.timeout.unwrap();
    assert!(timeouts > 1500, "{timeouts}");
    assert_eq!(f.triggered, timeouts, "every timeout falls back");
    assert_eq!(f.served + f.failed, f.triggered);
    assert_eq!(f.failed, 0);
    assert_eq!(route.degraded, f.served);
    // The fallback calls are calls of their own edge, one per fallback.
    let global = edge(&s, "web->recs-global [fallback for recs]");
    assert_eq!(global.calls, f.triggered);
    assert_eq!(s.services["recs-global"].requests, f.triggered);
    // A degraded answer came after the 50 ms timeout and the fallback's
    // 1 ms of work: 51 ms at web's worker, plus its own 1 ms.
    assert!(
        (route.latency_ms.max - 52.0).abs() < 0.1,
        "{:?}",
        route.latency_ms
    );
}

#[test]
fn without_a_fallback_the_same_crash_fails_the_requests() {
    let s = summary(&scenario_with(json!({"timeout": "50ms"}), crash()));
    let route = &s.routes["web"];
    assert!(route.failures.error > 1500, "{:?}", route.failures);
    assert_eq!(route.degraded, 0);
    assert!(edge(&s, "web->recs [recs-calls]").fallback.is_none());
    assert!(!s.edges.keys().any(|k| k.contains("fallback")));
}

#[test]
fn a_static_answer_saves_every_covered_failure_at_once() {
    let mut value = scenario_with(json!({"fallback": {"static": true}}), json!([]));
    value["services"]["recs"]["error_rate"] = json!(0.3);
    let s = summary(&value);
    let route = &s.routes["web"];
    let e = edge(&s, "web->recs [recs-calls]");
    let f = e.fallback.as_ref().unwrap();
    assert_eq!(f.answer, "static");
    assert_eq!(f.triggered, e.failures.error);
    assert_eq!((f.served, f.failed), (f.triggered, 0));
    assert_eq!(route.failures.error, 0);
    assert_eq!(route.degraded, f.served);
    // About 30 % of the calls, within 5 standard deviations.
    let share = f.served as f64 / e.calls as f64;
    assert!((share - 0.3).abs() < 5.0 * (0.3 * 0.7 / e.calls as f64).sqrt());
}

#[test]
fn a_cached_answer_is_served_only_while_it_is_fresh() {
    // `recs` fails from 5 s to the end: for 2 s the last good answer is
    // served, then the failures stand.
    let value = scenario_with(
        json!({"timeout": "50ms", "fallback": {"cached": "2s"}}),
        json!([{"at": "5s", "crash": {"service": "recs"}}]),
    );
    let compiled = scenario::parse(&value.to_string(), "f.json").unwrap();
    let outcome = world::run(&compiled, 3, None);
    let s = report::files(&compiled, 3, &outcome).0;
    let f = edge(&s, "web->recs [recs-calls]").fallback.clone().unwrap();
    assert_eq!(f.answer, "cached");
    assert_eq!(f.served + f.failed, f.triggered);
    // The last success was just before 5 s; a call that fails (at its
    // 50 ms timeout) up to 7 s is served: those sent in about
    // [4.95 s, 6.95 s], 2 s of 200/s. Within 5 sd of a Poisson count.
    let expected = 400.0;
    assert!(
        (f.served as f64 - expected).abs() < 5.0 * expected.sqrt(),
        "{f:?}"
    );
    // Window by window: degraded successes only in [5 s, 7 s).
    let routes = outcome
        .rows
        .iter()
        .filter(|r| r.kind == meshsim::metrics::EntityKind::Route);
    for row in routes {
        let t = row.start.as_secs_f64();
        if !(4.0..7.0).contains(&t) {
            assert_eq!(row.counts.degraded, 0, "window at {t} s");
        }
        if (7.0..19.0).contains(&t) {
            assert_eq!(row.counts.successes, 0, "window at {t} s");
        }
    }
}

#[test]
fn a_cached_answer_per_key_is_served_only_for_keys_answered_before() {
    // `recs` fails from 5 s to the end, and every answer stays fresh (20 s).
    // The requests carry 1,000 keys, uniformly, at 200/s: by 5 s a key has
    // been answered with probability 1 − e^(−200 × 5 / 1000) = 63.2%.
    let run = |fallback: Value| {
        let mut value = scenario_with(
            json!({"timeout": "50ms", "fallback": fallback}),
            json!([{"at": "5s", "crash": {"service": "recs"}}]),
        );
        value["workload"]["routes"][0]["keys"] = json!(1000);
        let s = summary(&value);
        let f = edge(&s, "web->recs [recs-calls]").fallback.clone().unwrap();
        assert_eq!(f.served + f.failed, f.triggered);
        assert!(f.triggered > 2_800, "{f:?}");
        f.served as f64 / f.triggered as f64
    };
    // One answer per unit serves every failure.
    assert_eq!(run(json!({"cached": "20s"})), 1.0);
    // Per key, only the keys answered before: 63.2% (the failures are
    // about 3,000 requests, sd of the share about 0.9 points).
    let per_key = run(json!({"cached": "20s", "cache_keys": 1000}));
    assert!((per_key - 0.632).abs() < 0.03, "{per_key}");
    // With room for 100 keys, only the last 100 answered: 10%.
    let small = run(json!({"cached": "20s", "cache_keys": 100}));
    assert!((small - 0.10).abs() < 0.02, "{small}");
}

#[test]
fn on_limits_what_falls_back() {
    // Only an open breaker falls back: the timeouts before it opens fail,
    // the refusals while it is open are served.
    let value = scenario_with(
        json!({"timeout": "50ms",
               "breaker": {"window": "count", "window_size": 20, "failure_rate_percent": 50,
                           "minimum_calls": 10, "wait_in_open": "1s"},
               "fallback": {"static": true, "on": ["breaker_open"]}}),
        crash(),
    );
    let s = summary(&value);
    let e = edge(&s, "web->recs [recs-calls]");
    let f = e.fallback.as_ref().unwrap();
    assert_eq!(f.triggered, e.failures.breaker_open.unwrap());
    assert!(f.triggered > 1000, "{f:?}");
    let route = &s.routes["web"];
    assert_eq!(route.failures.error, e.failures.timeout.unwrap());
    assert!(route.failures.error > 0);
    assert_eq!(route.degraded, f.served);
}

#[test]
fn a_failed_fallback_call_is_the_answer_and_is_counted() {
    // The fallback service is down too (a second longer, past the last
    // fallback call): the caller sees the fallback call's failure, and
    // nothing is served.
    let value = scenario_with(
        json!({"timeout": "50ms", "fallback": {"service": "recs-global", "timeout": "20ms"}}),
        json!([{"at": "5s", "for": "10s", "crash": {"service": "recs"}},
               {"at": "5s", "for": "11s", "crash": {"service": "recs-global"}}]),
    );
    let s = summary(&value);
    let f = edge(&s, "web->recs [recs-calls]").fallback.clone().unwrap();
    assert!(f.triggered > 1500);
    assert_eq!((f.served, f.failed), (0, f.triggered));
    let global = edge(&s, "web->recs-global [fallback for recs]");
    assert_eq!(global.failures.timeout, Some(f.triggered));
    assert_eq!(s.routes["web"].failures.error, f.triggered);
    assert_eq!(s.routes["web"].degraded, 0);
}

#[test]
fn a_route_falls_back_with_the_time_its_timeout_leaves() {
    // The client's route to `recs` falls back to `recs-global`, which is
    // slow (40 ms) while `recs` fails fast: within the route's 100 ms the
    // fallback has the time left and succeeds; when `recs` itself takes
    // 80 ms to fail, 20 ms are left and the fallback times out with the
    // route.
    let value = |recs_latency: &str| {
        json!({
            "name": "route-fallback", "duration": "10s", "window": "1s",
            "services": {
                "recs": {"concurrency": 1000, "error_rate": 1.0,
                         "service_time": {"constant": recs_latency}},
                "recs-global": {"concurrency": 1000,
                                "service_time": {"constant": "40ms"}}
            },
            "policies": {"route": {"fallback": {"service": "recs-global"}}},
            "workload": {"arrivals": {"poisson": {"rate": 100}},
                         "routes": [{"service": "recs", "timeout": "100ms", "policy": "route"}]}
        })
    };
    let fast = summary(&value("1ms"));
    let route = &fast.routes["recs"];
    assert_eq!(route.successes, route.degraded);
    assert_eq!(route.successes, route.requests - route.in_flight_at_end);
    let f = route.fallback.as_ref().expect("the route's fallback");
    assert_eq!(
        f.edge.as_deref(),
        Some("client->recs-global [fallback for recs]")
    );
    assert!(
        (route.latency_ms.p50 - 41.0).abs() < 0.1,
        "{:?}",
        route.latency_ms
    );
    let slow = summary(&value("80ms"));
    let route = &slow.routes["recs"];
    assert_eq!(route.successes, 0);
    let timeout = route.failures.timeout.unwrap();
    assert_eq!(timeout, route.requests - route.in_flight_at_end);
    // Given up at the route's 100 ms, not at 80 + 40 ms.
    let latency = route
        .statuses
        .iter()
        .find(|s| s.status == "timeout")
        .and_then(|s| s.latency_ms.clone())
        .unwrap();
    assert!((latency.max - 100.0).abs() < 1.0, "{latency:?}");
}

#[test]
fn fallbacks_that_cannot_work_are_refused() {
    let with = |fallback: Value| {
        let mut v = scenario_with(json!({"fallback": fallback}), json!([]));
        v["policies"]["other"] = json!({"fallback": {"static": true}});
        v
    };
    for (fallback, expected) in [
        (json!({}), "a fallback needs its answer"),
        (
            json!({"static": true, "cached": "1s"}),
            "a fallback has one answer",
        ),
        (json!({"static": false}), "`static` is `true`"),
        (
            json!({"static": true, "timeout": "1s"}),
            "`timeout` is for a fallback call to a `service`",
        ),
        (json!({"service": "nope"}), "unknown service `nope`"),
        (
            json!({"service": "recs-global", "policy": "other"}),
            "has a fallback of its own",
        ),
        (json!({"static": true, "on": []}), "`on` lists the failures"),
        (json!({"service": "web"}), "the call graph has a cycle"),
        (
            json!({"static": true, "cache_keys": 10}),
            "`cache_keys` is how many request keys a `cached` fallback keeps",
        ),
        (
            json!({"cached": "1s", "cache_keys": 0}),
            "cache_keys must be between 1 and 1048576",
        ),
    ] {
        let error = refused(&with(fallback.clone()));
        assert!(error.contains(expected), "{fallback}: {error}");
    }
    let error = refused(&with(json!({"static": true, "on": ["teapot"]})));
    assert!(
        error.contains("policies.recs-calls.fallback.on[0]"),
        "{error}"
    );
}

#[test]
fn a_critical_branch_with_a_fallback_no_longer_fails_the_aggregation() {
    // A dashboard aggregates profile and recs, both critical; recs fails a
    // third of the time. With a static fallback on its branch, the
    // aggregation never fails, and a degraded answer is counted as such.
    let value = |policy: Value| {
        json!({
            "name": "dashboard", "duration": "10s", "window": "1s",
            "services": {
                "gateway": {"concurrency": 10000, "service_time": {"constant": "100us"},
                            "gateway": {"routes": [{"name": "dashboard", "prefix": "/dashboard",
                                "aggregate": [
                                    {"service": "profile", "timeout": "100ms"},
                                    {"service": "recs", "timeout": "100ms", "policy": "recs"}]}]}},
                "profile": {"concurrency": 10000, "service_time": {"constant": "10ms"}},
                "recs": {"concurrency": 10000, "error_rate": 0.33,
                         "service_time": {"constant": "20ms"}}
            },
            "policies": {"recs": policy},
            "workload": {"arrivals": {"poisson": {"rate": 100}},
                         "routes": [{"service": "gateway", "path": "/dashboard"}]}
        })
    };
    let without = summary(&value(json!({})));
    let failed = without.routes["gateway"].failures.error;
    assert!(failed > 200, "{failed}");
    let with = summary(&value(json!({"fallback": {"static": true}})));
    let route = &with.routes["gateway"];
    assert_eq!(route.failures.error, 0);
    assert_eq!(route.successes, route.requests - route.in_flight_at_end);
    let g = &with.gateways["gateway"].routes["dashboard"];
    assert_eq!((g.aggregate_failed, g.partial), (Some(0), Some(0)));
    // The same draws: the failures the fallback served are the ones that
    // failed without it.
    assert_eq!(route.degraded, failed);
}

#[test]
fn a_fallback_calls_policy_is_a_used_policy() {
    let mut value = scenario_with(
        json!({"timeout": "50ms", "fallback": {"service": "recs-global", "policy": "global"}}),
        json!([]),
    );
    value["policies"]["global"] = json!({"timeout": "20ms"});
    let compiled = scenario::parse(&value.to_string(), "f.json").unwrap();
    let unused: Vec<_> = compiled
        .warnings()
        .iter()
        .filter(|w| w.message.contains("no route or call uses it"))
        .collect();
    assert!(unused.is_empty(), "{unused:?}");
}
