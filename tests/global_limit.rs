//! A gateway route's global rate limit: the buckets are a rate limit
//! service's, shared by every gateway instance, and each request is checked
//! by a call to it (Envoy's global rate limit against its local one).
//!
//! What a user of it relies on: N gateway instances admit the rate once,
//! not N times; when the rate limit service cannot answer, the request is
//! forwarded (the default) or refused with the configured status, and each
//! is counted; a check the gateway stopped waiting for still spends its
//! token; and a scenario that misuses the service is refused with the path.

use meshsim::report::Summary;
use meshsim::report::summary::GatewayRouteSummary;
use meshsim::scenario;
use meshsim::world;
use serde_json::{Value, json};

/// Four gateway instances in front of `orders`, offered 1,000 requests a
/// second for 20 s, limited to 100 a second (burst 10) on the route.
fn limited(limit: Value) -> Value {
    json!({
        "name": "global-limit", "duration": "20s", "window": "1s",
        "network": {"latency": {"constant": "1ms"}},
        "services": {
            "gateway": {"instances": 4, "concurrency": 64, "queue_capacity": 1000,
                "service_time": {"constant": "100us"},
                "gateway": {"routes": [{"name": "orders", "prefix": "/", "rate_limit": limit,
                                        "backends": [{"service": "orders"}]}]}},
            "ratelimit": {"instances": 2, "concurrency": 64, "queue_capacity": 1000,
                "service_time": {"constant": "200us"}},
            "orders": {"instances": 4, "concurrency": 64, "queue_capacity": 1000,
                "service_time": {"exponential": {"mean": "1ms"}}}
        },
        "workload": {"arrivals": {"poisson": {"rate": 1000}},
                     "routes": [{"service": "gateway", "path": "/v1/orders"}]}
    })
}

fn summary(value: &Value, seed: u64) -> Summary {
    let compiled =
        scenario::parse(&value.to_string(), "limit.json").unwrap_or_else(|e| panic!("{e}"));
    let outcome = world::run(&compiled, seed, None);
    Summary::new(&compiled, seed, &outcome)
}

fn route(s: &Summary) -> &GatewayRouteSummary {
    &s.gateways["gateway"].routes["orders"]
}

fn forwarded(s: &Summary) -> u64 {
    route(s).backends["orders"].forwarded
}

fn refused(value: &Value) -> String {
    match scenario::parse(&value.to_string(), "limit.json") {
        Ok(_) => panic!("compiled, but should not have: {value:#}"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn four_gateway_instances_admit_the_global_rate_once_and_the_local_rate_four_times() {
    let local = summary(
        &limited(json!({"rate": 100, "burst": 10, "per": "route"})),
        7,
    );
    let global = summary(
        &limited(json!({"rate": 100, "burst": 10, "per": "route", "service": "ratelimit"})),
        7,
    );
    // A bucket admits its burst and then the rate: 10 + 100 × 20 s at the
    // most, and close to it under a load ten times the rate.
    let (l, g) = (forwarded(&local), forwarded(&global));
    assert!((7_960..=8_040).contains(&l), "local: {l}");
    assert!((1_990..=2_010).contains(&g), "global: {g}");
    assert!(route(&local).global_limit.is_none());
    let counts = route(&global).global_limit.as_ref().expect("global");
    assert_eq!(counts.service, "ratelimit");
    assert_eq!(counts.error, 0);
    assert_eq!(counts.ok, g);
    assert_eq!(counts.over_limit, route(&global).rate_limited);
    // Every check is answered but those in flight at the end.
    let answered = counts.ok + counts.over_limit;
    assert!(counts.checks - answered <= 10, "{counts:?}");
    // The service's own tally agrees with what the gateway was told.
    let service = &global.rate_limit_services["ratelimit"];
    assert_eq!(service.buckets, 1);
    assert_eq!(service.unkeyed, 0);
    assert!(service.checks >= answered && service.checks <= counts.checks);
    assert!(service.over_limit >= counts.over_limit);
    assert_eq!(service.routes["gateway"]["orders"].checks, service.checks);
    // The 429s reach the client.
    let statuses = &global.routes["gateway"].statuses;
    let too_many = statuses
        .iter()
        .find(|s| s.status == "too_many_requests")
        .expect("429s");
    assert_eq!(too_many.count, route(&global).rate_limited);
}

#[test]
fn per_client_buckets_are_shared_by_the_gateway_instances_and_kept_per_client() {
    let mut value = limited(json!({"rate": 50, "burst": 5, "service": "ratelimit"}));
    value["workload"] = json!({
        "routes": [{"name": "orders", "service": "gateway", "path": "/v1/orders"}],
        "clients": [
            {"name": "a", "arrivals": {"poisson": {"rate": 500}}, "routes": {"orders": 1}},
            {"name": "b", "arrivals": {"poisson": {"rate": 500}}, "routes": {"orders": 1}}
        ]
    });
    let s = summary(&value, 3);
    assert_eq!(s.rate_limit_services["ratelimit"].buckets, 2);
    // Two clients, each at most 5 + 50 × 20 s.
    let g = forwarded(&s);
    assert!((1_980..=2_010).contains(&g), "forwarded: {g}");
    for client in ["a", "b"] {
        let ok = s.clients[client].successes;
        assert!((990..=1_005).contains(&ok), "{client}: {ok}");
    }
}

/// The scenario with the rate limit service down from 5 s to 10 s.
fn with_outage(limit: Value) -> Value {
    let mut value = limited(limit);
    value["faults"] = json!([{"at": "5s", "for": "5s", "crash": {"service": "ratelimit"}}]);
    value
}

#[test]
fn an_unreachable_rate_limit_service_lets_requests_through_by_default() {
    let s = summary(
        &with_outage(json!({"rate": 100, "burst": 10, "per": "route", "service": "ratelimit"})),
        5,
    );
    let counts = route(&s).global_limit.clone().expect("global");
    // Five seconds of 1,000 requests a second time out after 20 ms and are
    // forwarded: about 5,000 (Poisson: sd about 70).
    assert!(
        (4_700..=5_300).contains(&counts.error),
        "errors: {}",
        counts.error
    );
    assert_eq!(counts.failure_mode_allowed, counts.error);
    assert_eq!(counts.failure_mode_denied, 0);
    // What was allowed on failure is forwarded beside what the buckets
    // admitted in the other 15 s.
    assert_eq!(forwarded(&s), counts.ok + counts.failure_mode_allowed);
    assert!((1_400..=1_520).contains(&counts.ok), "ok: {}", counts.ok);
    // Each of them waited the 20 ms timeout first: the route's p99 shows it.
    let p99 = s.routes["gateway"].latency_ms.p99;
    assert!(p99 > 20.0, "p99 {p99}");
}

#[test]
fn failure_mode_deny_refuses_with_the_status_on_error() {
    for (status, expected) in [(None, "internal"), (Some(503), "unavailable")] {
        let mut limit = json!({"rate": 100, "burst": 10, "per": "route",
                               "service": "ratelimit", "failure_mode_deny": true});
        if let Some(code) = status {
            limit["status_on_error"] = json!(code);
        }
        let s = summary(&with_outage(limit), 5);
        let counts = route(&s).global_limit.clone().expect("global");
        assert!((4_700..=5_300).contains(&counts.error), "{counts:?}");
        assert_eq!(counts.failure_mode_denied, counts.error);
        assert_eq!(counts.failure_mode_allowed, 0);
        assert_eq!(forwarded(&s), counts.ok);
        let refusals = s.routes["gateway"]
            .statuses
            .iter()
            .find(|st| st.status == expected)
            .unwrap_or_else(|| panic!("no {expected}: {:?}", s.routes["gateway"].statuses));
        assert_eq!(refusals.count, counts.failure_mode_denied);
    }
}

#[test]
fn a_check_the_gateway_stopped_waiting_for_still_spends_its_token() {
    // The rate limit service takes 30 ms a check: past the 20 ms timeout,
    // so the gateway forwards every request on failure; the service still
    // decides every check it is sent, and its bucket empties as if the
    // gateway had waited.
    let mut value = limited(json!({"rate": 100, "burst": 10, "per": "route",
                                    "service": "ratelimit"}));
    value["services"]["ratelimit"]["service_time"] = json!({"constant": "30ms"});
    let s = summary(&value, 9);
    let counts = route(&s).global_limit.clone().expect("global");
    assert_eq!(counts.ok + counts.over_limit, 0, "{counts:?}");
    // All but those sent in the last 20 ms (about 20) timed out.
    assert!(
        counts.checks - counts.failure_mode_allowed <= 60,
        "{counts:?}"
    );
    let service = &s.rate_limit_services["ratelimit"];
    assert!(counts.checks - service.checks <= 100, "{service:?}");
    let admitted = service.checks - service.over_limit;
    assert!((1_990..=2_010).contains(&admitted), "admitted {admitted}");
}

#[test]
fn a_policy_on_the_check_retries_a_failed_check() {
    // One instance of two down for the whole run: with a retry, a check
    // that reaches it times out and is retried, on whichever instance the
    // round robin gives next.
    let mut value = limited(json!({"rate": 100, "burst": 10, "per": "route",
                                    "service": "ratelimit", "policy": "checks"}));
    value["policies"] = json!({"checks": {"retry": {"max_attempts": 3,
        "retry_on": ["error", "timeout", "rejected"], "backoff": {"constant": "1ms"}}}});
    value["faults"] = json!([{"at": "0s", "crash": {"service": "ratelimit", "instance": 0}}]);
    let s = summary(&value, 2);
    let counts = route(&s).global_limit.clone().expect("global");
    // A check fails only when all three attempts reach the dead instance:
    // one in 8 (without the policy: one in 2).
    let failed = counts.error as f64 / counts.checks as f64;
    assert!((0.11..0.14).contains(&failed), "{failed}: {counts:?}");
    assert_eq!(counts.failure_mode_allowed, counts.error);
    assert!(s.edges["gateway->ratelimit [checks]"].attempts.retries > 0);
}

#[test]
fn a_rate_limit_service_is_not_a_backend_for_the_credential_invariant() {
    // An outer gateway without auth checks its global limit before an inner
    // gateway with auth: the check carries an anonymous request to the rate
    // limit service, which holds no data, and the run goes on; the inner
    // gateway answers 401.
    let mut value = limited(json!({"rate": 1000, "burst": 10, "service": "ratelimit"}));
    value["services"]["gateway"]["gateway"]["routes"][0]["backends"] =
        json!([{"service": "inner"}]);
    value["services"]["inner"] = json!({"concurrency": 64, "service_time": {"constant": "100us"},
        "gateway": {"auth": {}, "routes": [{"name": "all", "prefix": "/",
                                            "backends": [{"service": "orders"}]}]}});
    let s = summary(&value, 1);
    assert!(s.completed, "stopped: {:?}", s.stop_cause);
    let check = s
        .credential_check
        .as_ref()
        .expect("inner checks credentials");
    assert_eq!((check.violations, check.checked), (0, 0));
    assert!(s.gateways["inner"].routes["all"].unauthorized > 10_000);
}

#[test]
fn the_same_seed_gives_the_same_summary() {
    let value = with_outage(json!({"rate": 100, "burst": 10, "service": "ratelimit"}));
    let a = serde_json::to_string(&summary(&value, 4)).expect("json");
    let b = serde_json::to_string(&summary(&value, 4)).expect("json");
    assert_eq!(a, b);
}

#[test]
fn a_misused_rate_limit_service_is_refused_with_its_path() {
    let base = limited(json!({"rate": 100, "burst": 10, "service": "ratelimit"}));
    let mut calls = base.clone();
    calls["services"]["ratelimit"]["calls"] = json!([{"service": "orders"}]);
    let e = refused(&calls);
    assert!(
        e.contains("services.gateway.gateway.routes[0].rate_limit.service"),
        "{e}"
    );
    assert!(e.contains("calls nothing"), "{e}");

    let mut gateway = base.clone();
    gateway["services"]["gateway"]["gateway"]["routes"][0]["rate_limit"]["service"] =
        json!("gateway");
    assert!(refused(&gateway).contains("its own rate limit service"));

    let mut called = base.clone();
    called["workload"]["routes"] = json!([{"service": "ratelimit"}]);
    let e = refused(&called);
    assert!(e.contains("workload.routes[0].service"), "{e}");
    assert!(
        e.contains("answers only the gateways' rate limit checks"),
        "{e}"
    );

    let mut backend = base.clone();
    backend["services"]["gateway"]["gateway"]["routes"][0]["backends"] =
        json!([{"service": "ratelimit"}]);
    let e = refused(&backend);
    assert!(
        e.contains("services.gateway.gateway.routes[0].backends[0].service"),
        "{e}"
    );

    let mut callee = base.clone();
    callee["services"]["orders"]["calls"] = json!([{"parallel": [{"service": "ratelimit"}]}]);
    let e = refused(&callee);
    assert!(
        e.contains("services.orders.calls[0].parallel[0].service"),
        "{e}"
    );

    // A check's policy may not hedge (each copy spends a token) nor fall
    // back (a failed check is failure_mode_deny's to answer).
    for (policy, why) in [
        (json!({"hedge": {"delay": "1ms"}}), "hedges"),
        (json!({"fallback": {"static": true}}), "has a `fallback`"),
    ] {
        let mut checked = limited(json!({"rate": 100, "burst": 10, "service": "ratelimit",
                                         "policy": "checks"}));
        checked["policies"] = json!({"checks": policy});
        let e = refused(&checked);
        assert!(e.contains("rate_limit.policy") && e.contains(why), "{e}");
    }

    let local = limited(json!({"rate": 100, "burst": 10, "failure_mode_deny": true}));
    let e = refused(&local);
    assert!(e.contains("rate_limit.failure_mode_deny"), "{e}");
    assert!(e.contains("local to each gateway instance"), "{e}");

    let status = limited(json!({"rate": 100, "burst": 10, "service": "ratelimit",
                                "failure_mode_deny": true, "status_on_error": 429}));
    assert!(refused(&status).contains("status_on_error is 500 or 503, got 429"));

    let allow = limited(json!({"rate": 100, "burst": 10, "service": "ratelimit",
                               "status_on_error": 503}));
    assert!(refused(&allow).contains("set `\"failure_mode_deny\": true`"));
}
