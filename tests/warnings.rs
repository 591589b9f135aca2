//! The compile step's warnings, kind by kind: each fires on a minimal file
//! with its path, the numbers in its message and its fix, and stays silent
//! when the setting is sound; and the bundled scenarios warn exactly where
//! the warning is true (the last test).

use serde_json::{Value, json};

/// (path, message, fix) of each warning, in order.
fn warnings(scenario: &Value) -> Vec<(String, String, String)> {
    let compiled = meshsim::scenario::parse(&scenario.to_string(), "t.json")
        .unwrap_or_else(|e| panic!("a valid scenario: {e}"));
    compiled
        .warnings()
        .iter()
        .map(|w| (w.path.to_string(), w.message.clone(), w.fix.clone()))
        .collect()
}

fn paths(scenario: &Value) -> Vec<String> {
    warnings(scenario).into_iter().map(|w| w.0).collect()
}

/// `front` (1 ms) calls `back` (2 ms) with a timeout; 10 requests/s with a
/// route timeout: no warning.
fn base() -> Value {
    json!({
        "name": "t", "duration": "10s",
        "services": {
            "front": {"service_time": {"constant": "1ms"},
                      "calls": [{"service": "back", "timeout": "100ms"}]},
            "back": {"service_time": {"exponential": {"mean": "2ms"}}}
        },
        "workload": {"arrivals": {"poisson": {"rate": 10}},
                     "routes": [{"service": "front", "timeout": "1s"}]}
    })
}

/// `base` with policy `p` on front's call to back.
fn with_policy(policy: Value) -> Value {
    let mut s = base();
    s["policies"] = json!({"p": policy});
    s["services"]["front"]["calls"][0]["policy"] = json!("p");
    s
}

#[test]
fn the_base_scenario_has_no_warning() {
    assert_eq!(warnings(&base()), []);
}

#[test]
fn a_call_without_a_timeout_in_a_partition_can_hang_every_worker() {
    // The issue's case: a 5 s partition, a call with no timeout, 128 workers.
    let mut s = base();
    s["services"]["front"]["instances"] = json!(2);
    s["services"]["front"]["concurrency"] = json!(64);
    s["services"]["front"]["calls"][0] = json!({"service": "back"});
    // Without a way to lose a reply every reply comes: nothing to say.
    assert_eq!(warnings(&s), []);
    s["faults"] =
        json!([{"at": "2s", "for": "5s", "partition": {"between": [["front"], ["back"]]}}]);
    let found = warnings(&s);
    assert_eq!(found.len(), 1, "{found:?}");
    let (path, message, fix) = &found[0];
    assert_eq!(path, "services.front.calls[0]");
    assert_eq!(
        message,
        "the call from `front` to `back` has no timeout and nothing above it bounds the wait (no deadline on its policy, none inherited on every path into `front`), and faults[0] partitions the network: a message across it is never answered: each reply that never comes holds one of the 128 workers of `front` for the rest of the run, after the fault is over, and once all 128 are held `front` answers nothing (the route's timeout makes the client give up, but is not propagated and frees no worker of `front`)"
    );
    assert_eq!(
        fix,
        "add \"timeout\": \"1s\" to the call (or a policy with a \"timeout\" or \"deadline\")"
    );
    // A deadline on the route's policy travels with every request into
    // `front`, so it bounds the call below it too.
    let mut bounded = s.clone();
    bounded["policies"] = json!({"d": {"deadline": "2s"}});
    bounded["workload"]["policy"] = json!("d");
    assert_eq!(warnings(&bounded), []);
    // A policy timeout on the call bounds it as its own timeout would.
    let mut timed = s.clone();
    timed["policies"] = json!({"t": {"timeout": "200ms"}});
    timed["services"]["front"]["calls"][0]["policy"] = json!("t");
    assert_eq!(warnings(&timed), []);
}

#[test]
fn a_route_without_a_timeout_that_can_lose_replies_is_a_warning() {
    let mut s = base();
    s["workload"]["routes"][0] = json!({"service": "front"});
    s["services"]["front"]["calls"][0] = json!({"service": "back"});
    s["network"] = json!({"loss": 0.01});
    assert_eq!(
        warnings(&s),
        [
            (
                "workload.routes[0]".to_string(),
                "route `front` has no timeout, and network.loss is 0.01: a lost message is never answered: a request to `front` that is never answered stays in flight until the end of the run".to_string(),
                "add \"timeout\": \"1s\" to the route (or to the workload)".to_string()
            ),
            (
                "services.front.calls[0]".to_string(),
                "the call from `front` to `back` has no timeout and nothing above it bounds the wait (no deadline on its policy, none inherited on every path into `front`), and network.loss is 0.01: a lost message is never answered: each reply that never comes holds the only worker of `front` for the rest of the run, after the fault is over, and `front` then answers nothing".to_string(),
                "add \"timeout\": \"1s\" to the call (or a policy with a \"timeout\" or \"deadline\")".to_string()
            ),
        ]
    );
}

#[test]
fn overload_counts_the_time_a_worker_waits_for_its_calls() {
    // 300/s into front (1 ms) whose call to back (2 ms) makes front hold a
    // worker 3 ms: 0.9 busy workers at front, 0.6 at back. Neither warns.
    let mut s = base();
    s["services"]["back"]["service_time"] = json!({"constant": "2ms"});
    s["workload"]["arrivals"] = json!({"constant": {"rate": 300}});
    assert_eq!(warnings(&s), []);
    // At 400/s front holds 1.2 workers: it warns, back (0.8) does not. Its
    // own service time alone (0.4 workers) would have said nothing.
    s["workload"]["arrivals"] = json!({"constant": {"rate": 400}});
    let found = warnings(&s);
    assert_eq!(found.len(), 1, "{found:?}");
    let (path, message, fix) = &found[0];
    assert_eq!(path, "services.front");
    assert_eq!(
        message,
        "`front` is offered more work than it can do at the base rate: about 400.0 requests/s along the call graph, each holding a worker for 3.000 ms (its service time and the calls it waits for), keep 1.20 workers busy, but it has 1 (1 instance(s) × 1 worker(s)), a capacity of 333.3 requests/s; ρ = 1.20 > 1, so its queue grows until it rejects"
    );
    assert_eq!(
        fix,
        "give `front` 2 workers for ρ ≤ 0.8: \"concurrency\": 2 (or \"instances\": 2), or lower the arrival rate"
    );
}

#[test]
fn overload_adds_up_routes_fan_out_and_expected_retries() {
    // Two routes into `a`; `a` fans out to `b` twice in parallel and once
    // more in sequence (3 visits per request); `b` fails 50% of attempts,
    // so the retry of 3 attempts makes 1 + 0.5 + 0.25 = 1.75 attempts per
    // call on the sequential step: b gets 100 × (1 + 1 + 1.75) = 375/s.
    let s = json!({
        "name": "t", "duration": "10s",
        "policies": {"r": {"timeout": "50ms", "retry": {"max_attempts": 3}, "budget": {"tps": {}}}},
        "services": {
            "a": {"concurrency": 100, "service_time": {"constant": "1ms"},
                  "calls": [{"parallel": [{"service": "b", "timeout": "50ms"}, {"service": "b", "timeout": "50ms"}]},
                            {"service": "b", "policy": "r"}]},
            "b": {"service_time": {"constant": "4ms"}, "error_rate": 0.5}
        },
        "workload": {"arrivals": {"constant": {"rate": 100}},
                     "routes": [{"name": "one", "service": "a", "timeout": "1s"},
                                {"name": "two", "service": "a", "timeout": "1s", "weight": 3}]}
    });
    let found = warnings(&s);
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0].0, "services.b");
    assert!(
        found[0].1.starts_with("`b` is offered more work than it can do at the base rate: about 375.0 requests/s along the call graph, each holding a worker for 4.000 ms (its service time and the calls it waits for), keep 1.50 workers busy, but it has 1 (1 instance(s) × 1 worker(s)), a capacity of 250.0 requests/s; ρ = 1.50 > 1"),
        "{found:?}"
    );
}

#[test]
fn overload_at_the_issues_37_fold_is_a_warning_with_the_workers_needed() {
    // A service left at concurrency 1: 500/s × 74 ms = 37 busy workers.
    let mut s = base();
    s["services"]["back"]["service_time"] = json!({"constant": "74ms"});
    s["services"]["front"]["concurrency"] = json!(100);
    s["workload"]["arrivals"] = json!({"poisson": {"rate": 500}});
    let found = warnings(&s);
    let back: Vec<_> = found.iter().filter(|w| w.0 == "services.back").collect();
    assert_eq!(back.len(), 1, "{found:?}");
    assert!(back[0].1.contains("ρ = 37.00 > 1"), "{found:?}");
    // 37 / 0.8 = 46.25: 47 workers.
    assert_eq!(
        back[0].2,
        "give `back` 47 workers for ρ ≤ 0.8: \"concurrency\": 47 (or \"instances\": 47), or lower the arrival rate"
    );
}

/// A gateway in front of `orders` (4 workers of 10 ms: 400/s) and a 9:1
/// canary split with `orders-v2` (1 worker of 10 ms: 100/s), the workload
/// at 1000/s through it: `orders` gets 900/s and the canary 100/s.
fn behind_a_gateway(limit: Option<Value>) -> Value {
    let mut route = json!({"name": "orders", "prefix": "/orders",
                           "backends": [{"service": "orders", "weight": 9},
                                        {"service": "orders-v2", "weight": 1}]});
    if let Some(limit) = limit {
        route["rate_limit"] = limit;
    }
    json!({
        "name": "t", "duration": "10s",
        "services": {
            "gateway": {"instances": 2, "concurrency": 100, "service_time": {"constant": "100us"},
                        "gateway": {"routes": [route]}},
            "orders": {"concurrency": 4, "service_time": {"exponential": {"mean": "10ms"}}},
            "orders-v2": {"concurrency": 2, "service_time": {"exponential": {"mean": "10ms"}}}
        },
        "workload": {"arrivals": {"poisson": {"rate": 1000}},
                     "routes": [{"service": "gateway", "path": "/orders", "timeout": "1s"}]}
    })
}

#[test]
fn overload_behind_a_gateway_follows_its_routes_splits_and_rate_limits() {
    let found = warnings(&behind_a_gateway(None));
    let overload: Vec<_> = found
        .iter()
        .filter(|w| w.1.contains("is offered more work"))
        .collect();
    assert_eq!(overload.len(), 1, "{found:?}");
    assert_eq!(overload[0].0, "services.orders");
    assert!(
        overload[0].1.contains("about 900.0 requests/s") && overload[0].1.contains("ρ = 2.25 > 1"),
        "{}",
        overload[0].1
    );
    // The canary's 100/s keep 1 of its 2 workers busy: no warning.
    // A route limit of 150/s in each of the 2 gateway instances lets
    // 300/s through: 270/s to orders, ρ = 0.68.
    let limited = warnings(&behind_a_gateway(Some(
        json!({"rate": 150, "burst": 10, "per": "route"}),
    )));
    assert!(
        !limited.iter().any(|w| w.1.contains("is offered more work")),
        "{limited:?}"
    );
}

#[test]
fn a_global_rate_limit_admits_its_rate_once_and_loads_its_rate_limit_service() {
    // A global limit of 400/s lets 400/s through, whatever the gateway's
    // instances: 360/s to orders (4 workers of 10 ms), ρ = 0.9, no warning
    // at ρ > 1; a local one of 400/s in each of the 2 instances would let
    // 800/s through.
    let with = |limit: Value, checker: Value| {
        let mut s = behind_a_gateway(Some(limit));
        s["services"]["ratelimit"] = checker;
        s
    };
    let quick = json!({"concurrency": 8, "service_time": {"constant": "1ms"}});
    let global = warnings(&with(
        json!({"rate": 400, "burst": 10, "per": "route", "service": "ratelimit"}),
        quick.clone(),
    ));
    assert!(
        !global.iter().any(|w| w.1.contains("is offered more work")),
        "{global:?}"
    );
    let local = warnings(&with(
        json!({"rate": 400, "burst": 10, "per": "route"}),
        quick,
    ));
    assert!(
        local
            .iter()
            .any(|w| w.0 == "services.orders" && w.1.contains("about 720.0 requests/s")),
        "{local:?}"
    );
    // Every request the route takes is checked: 1000/s on 1 worker of
    // 2 ms, ρ = 2.
    let slow = json!({"concurrency": 1, "service_time": {"constant": "2ms"}});
    let overloaded = warnings(&with(
        json!({"rate": 400, "burst": 10, "per": "route", "service": "ratelimit"}),
        slow,
    ));
    let checker: Vec<_> = overloaded
        .iter()
        .filter(|w| w.0 == "services.ratelimit")
        .collect();
    assert_eq!(checker.len(), 1, "{overloaded:?}");
    assert!(
        checker[0].1.contains("about 1000.0 requests/s") && checker[0].1.contains("ρ = 2.00 > 1"),
        "{}",
        checker[0].1
    );
}

#[test]
fn a_count_window_smaller_than_minimum_calls_is_capped() {
    let found = warnings(&with_policy(
        json!({"breaker": {"window_size": 20, "minimum_calls": 50}}),
    ));
    assert_eq!(
        found,
        [(
            "policies.p.breaker.minimum_calls".to_string(),
            "minimum_calls 50 is above the count window of 20 calls: as in resilience4j it is capped at the window, so the breaker judges the last 20 calls, not 50".to_string(),
            "set \"window_size\" to at least 50 or \"minimum_calls\" to at most 20".to_string()
        )]
    );
}

#[test]
fn a_time_window_that_never_holds_minimum_calls_cannot_open() {
    // 10 requests/s from one calling instance: a 5 s window holds 50 calls,
    // never the 100 the breaker needs.
    let found = warnings(&with_policy(
        json!({"breaker": {"window": "time", "window_size": 5, "minimum_calls": 100}}),
    ));
    assert_eq!(
        found,
        [(
            "policies.p.breaker.minimum_calls".to_string(),
            "the breaker of policy `p` needs 100 calls in its window of 5 s, but at the peak rate its busiest breaker gets about 10.00 attempts/s, 50.0 per window: it computes no failure rate and never opens".to_string(),
            "lower \"minimum_calls\" to at most 50 or widen \"window_size\" to at least 10 s".to_string()
        )]
    );
    // A spike in the schedule to 30/s fills it (150 per window).
    let mut s =
        with_policy(json!({"breaker": {"window": "time", "window_size": 5, "minimum_calls": 100}}));
    s["workload"]["schedule"] = json!([{"at": "2s", "rate": 30, "for": "2s"}]);
    assert_eq!(warnings(&s), []);
}

#[test]
fn retries_whose_attempts_alone_trip_the_breaker_are_a_warning() {
    let found = warnings(&with_policy(json!({
        "retry": {"max_attempts": 3}, "budget": {"tps": {}},
        "breaker": {"consecutive_failures": 3}
    })));
    assert_eq!(
        found,
        [(
            "policies.p.breaker.consecutive_failures".to_string(),
            "policy `p` retries up to 3 attempts per call and its breaker counts every attempt (retry wraps the breaker): one request whose first 3 attempts fail makes 3 consecutive failures, which opens the breaker for every call that shares it".to_string(),
            "raise consecutive_failures well above max_attempts (3), e.g. to 15, so that it takes several failing requests to open".to_string()
        )]
    );
    // A rate breaker whose minimum is within one call's attempts.
    let found = warnings(&with_policy(json!({
        "retry": {"max_attempts": 4}, "budget": {"tps": {}},
        "breaker": {"window_size": 10, "minimum_calls": 4}
    })));
    assert_eq!(paths_of(&found), ["policies.p.breaker.minimum_calls"]);
    assert!(
        found[0].1.contains(
            "one request whose 4 attempts fail fills minimum_calls 4 at a failure rate of 100%"
        ),
        "{found:?}"
    );
    // Five failing calls' worth: silent.
    let quiet = with_policy(json!({
        "retry": {"max_attempts": 3}, "budget": {"tps": {}},
        "breaker": {"consecutive_failures": 15}
    }));
    assert_eq!(warnings(&quiet), []);
}

fn paths_of(found: &[(String, String, String)]) -> Vec<&str> {
    found.iter().map(|w| w.0.as_str()).collect()
}

#[test]
fn retrying_breaker_open_before_the_breaker_can_close_is_a_warning() {
    let found = warnings(&with_policy(json!({
        "retry": {"max_attempts": 3, "retry_on": ["error", "breaker_open"],
                  "backoff": {"constant": "100ms"}, "jitter": "none"},
        "budget": {"tps": {}},
        "breaker": {"wait_in_open": "5s"}
    })));
    assert_eq!(
        found,
        [(
            "policies.p.retry.retry_on".to_string(),
            "policy `p` retries `breaker_open`, but its 2 retries wait at most 0.200 s in all, less than the breaker's wait_in_open of 5s: every retry of a call the open breaker refused is refused again, and spends the budget and the backoff for nothing".to_string(),
            "remove \"breaker_open\" from retry_on (resilience4j: put CallNotPermittedException in Retry's ignore list)".to_string()
        )]
    );
    // Backoffs that outlast the open wait can reach a half-open breaker.
    let patient = with_policy(json!({
        "retry": {"max_attempts": 3, "retry_on": ["error", "breaker_open"],
                  "backoff": {"constant": "3s"}, "jitter": "none"},
        "budget": {"tps": {}},
        "breaker": {"wait_in_open": "5s"}
    }));
    assert_eq!(warnings(&patient), []);
}

#[test]
fn retries_without_a_budget_and_a_budget_without_retries_are_warnings() {
    let found = warnings(&with_policy(json!({"retry": {"max_attempts": 4}})));
    assert_eq!(
        found,
        [(
            "policies.p.retry".to_string(),
            "policy `p` retries up to 4 attempts per call with no retry budget: when the callee fails, every call becomes 4 attempts and the load on it grows 4-fold, which can keep it down after the fault ends (a retry storm)".to_string(),
            "add \"budget\": {\"tps\": {\"retry_percent\": 20}} to policy `p`".to_string()
        )]
    );
    for (policy, why) in [
        (json!({"budget": {"tps": {}}}), "no `retry`"),
        (
            json!({"budget": {"token_bucket": {}}, "retry": {"max_attempts": 1}}),
            "a retry of max_attempts 1 (no retries)",
        ),
    ] {
        let found = warnings(&with_policy(policy));
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].0, "policies.p.budget");
        assert!(
            found[0].1.ends_with(&format!(
                "retry budget but {why}: a retry budget limits retries only, so it does nothing here"
            )),
            "{found:?}"
        );
    }
    // Adaptive throttling limits every request: no retry needed.
    assert_eq!(
        warnings(&with_policy(json!({"budget": {"adaptive": {}}}))),
        []
    );
}

#[test]
fn percents_written_as_fractions_are_warnings_in_every_percent_field() {
    let mut s = with_policy(json!({
        "budget": {"tps": {"retry_percent": 0.2}},
        "retry": {"max_attempts": 2},
        "breaker": {"failure_rate_percent": 0.5, "slow_call_rate_percent": 0.25},
        "panic_threshold": 0.5,
        "hedge": {"percentile": 0.95}
    }));
    s["requirements"] = json!([{"success": {"route": "front", "at_least_percent": 0.995}}]);
    let found = warnings(&s);
    assert_eq!(
        paths_of(&found),
        [
            "policies.p.budget.tps.retry_percent",
            "policies.p.breaker.failure_rate_percent",
            "policies.p.breaker.slow_call_rate_percent",
            "policies.p.panic_threshold",
            "policies.p.hedge.percentile",
            "requirements[0].success.at_least_percent",
        ]
    );
    assert_eq!(
        found[0].1,
        "retry_percent is a percent: 0.2 means 0.2%, not 20%"
    );
    assert_eq!(
        found[0].2,
        "retry_percent is a percent: 0.2 means 0.2%; for 20% write 20"
    );
    assert_eq!(
        found[4].2,
        "percentile is a percent: 0.95 means 0.95%; for 95% write 95"
    );
    assert_eq!(
        found[5].2,
        "at_least_percent is a percent: 0.995 means 0.995%; for 99.5% write 99.5"
    );
    // 0, 1 and more are percents as meant.
    for policy in [
        json!({"budget": {"tps": {"retry_percent": 0}}, "retry": {}}),
        json!({"budget": {"tps": {"retry_percent": 1}}, "retry": {}}),
        json!({"breaker": {"failure_rate_percent": 1, "slow_call_rate_percent": 100}, "panic_threshold": 0}),
    ] {
        let found = warnings(&with_policy(policy.clone()));
        assert!(
            found.iter().all(|w| !w.1.contains("is a percent")),
            "{policy}: {found:?}"
        );
    }
}

#[test]
fn base_fractions_of_one_look_like_percents() {
    let mut s = base();
    s["services"]["back"]["error_rate"] = json!(1);
    s["network"] = json!({"loss": 1, "links": [{"from": "front", "to": "back", "loss": 1}]});
    s["services"]["front"]["calls"][0]["timeout"] = json!("100ms");
    let found = warnings(&s);
    let ours: Vec<_> = found
        .iter()
        .filter(|w| w.1.contains("is a fraction"))
        .collect();
    assert_eq!(
        ours.iter().map(|w| w.0.as_str()).collect::<Vec<_>>(),
        [
            "services.back.error_rate",
            "network.loss",
            "network.links[0].loss"
        ]
    );
    assert_eq!(
        ours[0].1,
        "error_rate is a fraction: 1 fails every request of `back` for the whole run, not 1%"
    );
    assert_eq!(
        ours[0].2,
        "error_rate is a fraction: for 1% write 0.01 (a fault with \"errors\" fails a service for a while)"
    );
    // A fault that fails everything for a while is an experiment, not a typo.
    let mut fault = base();
    fault["faults"] = json!([{"at": "1s", "for": "1s", "errors": {"service": "back", "rate": 1}}]);
    assert_eq!(warnings(&fault), []);
}

#[test]
fn an_unused_policy_is_a_warning() {
    let mut s = base();
    s["policies"] = json!({"spare": {}});
    assert_eq!(
        warnings(&s),
        [(
            "policies.spare".to_string(),
            "policy `spare` is defined but no route or call uses it".to_string(),
            "attach it with \"policy\": \"spare\" on a route or a call, or delete it".to_string()
        )]
    );
}

#[test]
fn a_policy_used_only_by_a_gateway_is_used() {
    let mut s = base();
    s["policies"] = json!({"routed": {"timeout": "1s"}, "checked": {"timeout": "50ms"}});
    let gateway = json!({"service_time": {"constant": "1ms"}, "gateway": {
        "auth": {"service": "auth", "policy": "checked"},
        "routes": [{"name": "all", "prefix": "/", "policy": "routed",
                    "backends": [{"service": "backend"}]}]}});
    s["services"]["gw"] = gateway;
    s["services"]["auth"] = json!({"service_time": {"constant": "1ms"}});
    s["services"]["backend"] = json!({"service_time": {"constant": "1ms"}});
    let found: Vec<String> = warnings(&s).into_iter().map(|w| w.0).collect();
    assert!(
        !found.iter().any(|p| p.starts_with("policies.")),
        "{found:?}"
    );
}

#[test]
fn the_bundled_scenarios_warn_exactly_where_it_is_true() {
    // retry-storm's `naive` policy and autoscale's `db` have no budget on
    // purpose (they are the storms), and autoscale's scale-down refuses
    // requests on purpose (the README shows the fix); every other bundled
    // scenario is sound.
    let expected: &[(&str, &[&str])] = &[
        (
            "autoscale.json",
            &["services.api.shutdown_delay", "policies.db.retry"],
        ),
        ("events.json", &[]),
        ("failover-ejection.json", &[]),
        ("failover-p2c.json", &[]),
        ("failover-static.json", &[]),
        ("failover-ttl.json", &[]),
        ("failover.json", &[]),
        ("gateway.json", &[]),
        ("global-limit.json", &[]),
        ("hedging.json", &[]),
        ("mm1.json", &[]),
        ("retry-storm-fixed.json", &[]),
        ("retry-storm.json", &["policies.naive.retry"]),
        ("saga-checkout-broken.json", &[]),
        ("saga-checkout-fragile.json", &[]),
        ("saga-checkout.json", &[]),
        ("saga-choreography.json", &[]),
        ("shop.json", &[]),
        ("slow-dependency.json", &[]),
        ("zones.json", &[]),
    ];
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios");
    let mut files: Vec<String> = std::fs::read_dir(&dir)
        .expect("scenarios/")
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".json"))
        .collect();
    files.sort();
    let listed: Vec<&str> = expected.iter().map(|e| e.0).collect();
    assert_eq!(files, listed, "a bundled scenario was added or removed");
    for (file, want) in expected {
        let text = std::fs::read_to_string(dir.join(file)).expect("readable");
        let value: Value = serde_json::from_str(&text).expect("JSON");
        assert_eq!(paths(&value), *want, "{file}");
    }
}

#[test]
fn readiness_on_a_shared_dependency_and_a_reaper_below_a_minute_are_warnings() {
    let mut s = base();
    s["duration"] = json!("300s");
    s["services"]["back"]["instances"] = json!(3);
    s["services"]["back"]["discovery"] = json!({
        "health_check": {"interval": "1s", "deregister_critical_after": "30s"},
        "refresh": "1s",
        "readiness": {"dependencies": ["front"]}
    });
    let found = warnings(&s);
    let paths = paths_of(&found);
    assert_eq!(
        paths,
        [
            "services.back.discovery.readiness.dependencies",
            "services.back.discovery.health_check.deregister_critical_after",
        ],
        "{found:?}"
    );
    assert!(
        found[0]
            .1
            .contains("every instance of `back` is not ready while `front` is down")
    );
    assert!(found[0].2.contains("queue_above"));
    assert!(
        found[1]
            .1
            .contains("deregister_critical_after 30s is raised to 1m")
    );

    // A probe of the instance's own queue and a reaper at a minute: silent.
    s["services"]["back"]["discovery"]["readiness"] = json!({"queue_above": 50});
    s["services"]["back"]["discovery"]["health_check"]["deregister_critical_after"] = json!("1m");
    assert_eq!(warnings(&s), []);
}

#[test]
fn a_graceful_stop_shorter_than_the_callers_refresh_is_a_warning() {
    let mut s = base();
    s["services"]["back"]["instances"] = json!(3);
    s["services"]["back"]["discovery"] =
        json!({"health_check": {"interval": "1s", "timeout": "500ms"}, "refresh": "2s"});
    // Without stops, nothing to say.
    assert!(!paths(&s).contains(&"services.back.shutdown_delay".to_string()));
    s["faults"] = json!([{"at": "1s", "for": "2s", "stop": {"service": "back", "instance": 0}}]);
    let found = warnings(&s);
    let ours: Vec<_> = found
        .iter()
        .filter(|w| w.0 == "services.back.shutdown_delay")
        .collect();
    assert_eq!(ours.len(), 1, "{found:?}");
    assert!(ours[0].1.contains("stops serving at once"), "{}", ours[0].1);
    assert!(
        ours[0].2.contains("at least the refresh (2s)"),
        "{}",
        ours[0].2
    );
    s["services"]["back"]["shutdown_delay"] = json!("1s");
    let found = warnings(&s);
    assert!(
        found.iter().any(|w| w.1.contains("stops serving after 1s")),
        "{found:?}"
    );
    s["services"]["back"]["shutdown_delay"] = json!("2s");
    assert!(!paths(&s).contains(&"services.back.shutdown_delay".to_string()));
}

#[test]
fn a_route_around_the_gateway_with_tokens_that_will_not_pass_is_a_warning() {
    let scenario = |anonymous_route: &str| {
        json!({
            "name": "t", "duration": "10s",
            "services": {
                "gw": {"service_time": {"constant": "1ms"}, "gateway": {"auth": {},
                       "routes": [{"name": "all", "prefix": "/", "backends": [{"service": "back"}]}]}},
                "back": {"service_time": {"constant": "1ms"}}
            },
            "workload": {
                "timeout": "1s",
                "routes": [{"name": "front-door", "service": "gw"},
                           {"name": "side-door", "service": "back"}],
                "clients": [
                    {"name": "staff", "credential": "user", "arrivals": {"poisson": {"rate": 5}},
                     "routes": {"side-door": 1}},
                    {"name": "anonymous", "arrivals": {"poisson": {"rate": 5}},
                     "routes": {anonymous_route: 1}}
                ]
            }
        })
    };
    // Valid tokens on the side door: allowed (the invariant is about
    // tokens, not paths); no token through the front door: refused 401.
    assert_eq!(warnings(&scenario("front-door")), []);
    let found = warnings(&scenario("side-door"));
    assert_eq!(found.len(), 1, "{found:?}");
    let (path, message, fix) = &found[0];
    assert_eq!(path, "workload.routes[1].service");
    assert!(
        message.contains("route `side-door` enters `back` directly")
            && message.contains("client `anonymous` sends on it with no token"),
        "{message}"
    );
    assert!(fix.contains("\"service\": \"gw\""), "{fix}");
}
