//! Outcomes by status in the reports: each route's, client's and edge's
//! `statuses` in summary.json, `series/statuses.csv`, and the latency by
//! status.
//!
//! What a user relies on: every status a gateway or a caller produces is
//! counted under its own name as well as under the kind it always was
//! (`errors`, `rejected`, `timeouts`); the counts add up to the requests
//! that ended; the time series adds up to the totals; and the latency of a
//! status is the latency of the requests that got it (a 401 comes back
//! fast, a timeout after the timeout).

use meshsim::report::{self, Summary};
use meshsim::scenario;
use meshsim::world;
use serde_json::{Value, json};

/// A gateway with a local credential check in front of `orders` (a rate
/// limit of 100/s per client and gateway instance on `/orders`, a 404 for
/// `/nowhere`), a `slow` backend that its route gives up on after 20 ms
/// (504), and a route that bypasses the gateway to a `flaky` service with a
/// 30 ms client timeout. Clients: a user (valid token), an anonymous client
/// (401), and a partner that bursts past its limit (429).
fn scenario() -> Value {
    let backend = |mean: &str| {
        json!({"concurrency": 1000, "queue_capacity": 10,
               "service_time": {"exponential": {"mean": mean}}})
    };
    json!({
        "name": "statuses", "duration": "20s", "window": "1s",
        "network": {"latency": {"constant": "1ms"}},
        "services": {
            "gateway": {"instances": 1, "concurrency": 10000, "queue_capacity": 10,
                        "service_time": {"constant": "100us"},
                        "gateway": {"auth": {}, "routes": [
                            {"name": "orders", "prefix": "/orders",
                             "rate_limit": {"rate": 100, "burst": 10},
                             "backends": [{"service": "orders"}]},
                            {"name": "slow", "prefix": "/slow", "timeout": "20ms",
                             "backends": [{"service": "slow"}]}
                        ]}},
            "orders": backend("2ms"),
            "slow": backend("15ms"),
            "flaky": {"concurrency": 1000, "queue_capacity": 10, "error_rate": 0.1,
                      "service_time": {"exponential": {"mean": "10ms"}}}
        },
        "workload": {
            "routes": [
                {"name": "orders", "service": "gateway", "path": "/orders"},
                {"name": "slow", "service": "gateway", "path": "/slow"},
                {"name": "nowhere", "service": "gateway", "path": "/nowhere"},
                {"name": "direct", "service": "flaky", "timeout": "30ms"}
            ],
            "clients": [
                {"name": "user", "credential": "user", "arrivals": {"poisson": {"rate": 200}},
                 "routes": {"orders": 0.5, "slow": 0.3, "nowhere": 0.05, "direct": 0.15}},
                {"name": "anonymous", "arrivals": {"poisson": {"rate": 20}},
                 "routes": {"orders": 1.0}},
                {"name": "partner", "credential": "user", "arrivals": {"poisson": {"rate": 300}},
                 "routes": {"orders": 1.0}}
            ]
        }
    })
}

fn run(value: &Value) -> (Summary, Vec<(&'static str, String)>, world::RunOutcome) {
    let compiled =
        scenario::parse(&value.to_string(), "statuses.json").unwrap_or_else(|e| panic!("{e}"));
    let outcome = world::run(&compiled, 5, None);
    let (summary, _) = report::files(&compiled, 5, &outcome);
    let series = report::timeseries::to_csv(&outcome);
    (summary, series, outcome)
}

fn count(statuses: &[report::summary::StatusSummary], status: &str) -> u64 {
    statuses
        .iter()
        .find(|s| s.status == status)
        .map_or(0, |s| s.count)
}

#[test]
fn each_status_is_counted_apart_and_they_add_up() {
    let (summary, _, outcome) = run(&scenario());
    let g = &outcome.gateways[0];
    let gateway_route = |name: &str| &g.routes.iter().find(|(n, _, _)| n == name).unwrap().2;
    let orders = &summary.routes["orders"];
    // The gateway's refusals, under their own names, as the gateway
    // counted them (give or take the few still on their way at the end).
    let near = |a: u64, b: u64, what: &str| {
        assert!(a.abs_diff(b) <= 3 && a > 50, "{what}: {a} vs {b}");
    };
    near(
        count(&orders.statuses, "unauthorized"),
        gateway_route("orders").unauthorized,
        "401",
    );
    near(
        count(&orders.statuses, "too_many_requests"),
        gateway_route("orders").rate_limited,
        "429",
    );
    near(
        count(&summary.routes["nowhere"].statuses, "not_found"),
        g.not_found,
        "404",
    );
    assert!(count(&summary.routes["slow"].statuses, "gateway_timeout") > 100);
    let direct = &summary.routes["direct"].statuses;
    assert!(count(direct, "internal") > 50 && count(direct, "timeout") > 10);
    for (name, r) in &summary.routes {
        // The statuses split the kinds they are counted with...
        let f = &r.failures;
        assert_eq!(count(&r.statuses, "ok"), r.successes, "{name}");
        assert_eq!(
            count(&r.statuses, "internal")
                + count(&r.statuses, "unauthorized")
                + count(&r.statuses, "forbidden")
                + count(&r.statuses, "not_found"),
            f.error,
            "{name}"
        );
        assert_eq!(
            count(&r.statuses, "unavailable") + count(&r.statuses, "too_many_requests"),
            f.rejected,
            "{name}"
        );
        assert_eq!(
            count(&r.statuses, "timeout") + count(&r.statuses, "gateway_timeout"),
            f.timeout.unwrap(),
            "{name}"
        );
        // ...and add up to the requests that ended.
        let ended: u64 = r.statuses.iter().map(|s| s.count).sum();
        assert_eq!(
            ended,
            r.requests - f.capped.unwrap() - r.in_flight_at_end,
            "{name}"
        );
        assert!(r.statuses.iter().all(|s| s.count > 0), "only statuses seen");
    }
    // A client's statuses are its own requests': the anonymous client got
    // nothing but 401s.
    let anonymous = &summary.clients["anonymous"].statuses;
    assert_eq!(anonymous.len(), 1, "{anonymous:?}");
    assert_eq!(anonymous[0].status, "unauthorized");
    assert_eq!(anonymous[0].http, Some(401));
    // An edge sees what its callee answered: the gateway's call to `slow`
    // times out (the gateway's own timeout, which it answers 504).
    let edge = summary
        .edges
        .values()
        .find(|e| e.callee == "slow")
        .expect("the gateway's edge to slow");
    assert!(
        count(&edge.statuses, "timeout") > 100,
        "{:?}",
        edge.statuses
    );
    let ended: u64 = edge.statuses.iter().map(|s| s.count).sum();
    assert_eq!(
        ended,
        edge.calls - edge.failures.dropped.unwrap() - edge.in_flight_at_end
    );
}

#[test]
fn a_service_counts_its_own_answers_by_status() {
    let (summary, _, outcome) = run(&scenario());
    let g = &outcome.gateways[0];
    let gateway_route = |name: &str| &g.routes.iter().find(|(n, _, _)| n == name).unwrap().2;
    let gateway = &summary.services["gateway"];
    // The gateway's own refusals, each under its status, exactly as the
    // gateway counted them (the service counts a job when it ends).
    assert_eq!(
        count(&gateway.statuses, "unauthorized"),
        gateway_route("orders").unauthorized
    );
    assert_eq!(
        count(&gateway.statuses, "too_many_requests"),
        gateway_route("orders").rate_limited
    );
    assert_eq!(count(&gateway.statuses, "not_found"), g.not_found);
    // Under the kinds they were always counted with: a 401 or a 404 is an
    // error, a 429 a refusal; a backend's failure passed on is the
    // gateway's `dependency`, not one of its own answers.
    let f = &gateway.failures;
    assert_eq!(
        count(&gateway.statuses, "unauthorized") + count(&gateway.statuses, "not_found"),
        f.error
    );
    assert_eq!(count(&gateway.statuses, "too_many_requests"), f.rejected);
    assert!(f.dependency.unwrap() > 100, "the 504s: {f:?}");
    assert_eq!(count(&gateway.statuses, "gateway_timeout"), 0);
    // A plain service's own errors are `internal`.
    let flaky = &summary.services["flaky"];
    assert_eq!(count(&flaky.statuses, "internal"), flaky.failures.error);
    assert_eq!(count(&flaky.statuses, "ok"), flaky.successes);
}

#[test]
fn the_latency_of_a_status_is_that_of_its_requests() {
    let (summary, _, _) = run(&scenario());
    let latency = |route: &str, status: &str| {
        summary.routes[route]
            .statuses
            .iter()
            .find(|s| s.status == status)
            .and_then(|s| s.latency_ms.clone())
            .unwrap_or_else(|| panic!("{route} {status}"))
    };
    // A refusal at the gateway: two 1 ms hops and its 100 µs of work.
    let unauthorized = latency("orders", "unauthorized");
    assert!(
        unauthorized.max < 2.2 && unauthorized.p50 > 2.0,
        "{unauthorized:?}"
    );
    let ok = latency("orders", "ok");
    assert!(ok.p50 > unauthorized.p50 + 1.0, "{ok:?}");
    assert_eq!(ok, summary.routes["orders"].latency_ms, "ok is the route's");
    // The gateway gives up on `slow` after 20 ms and answers 504 a hop
    // later: 20 ms + two hops of 1 ms + its work, within 2 digits.
    let gateway_timeout = latency("slow", "gateway_timeout");
    assert!(
        (gateway_timeout.p50 - 22.1).abs() < 0.3 && gateway_timeout.max < 22.4,
        "{gateway_timeout:?}"
    );
    // The client's own timeout: 30 ms exactly.
    let timeout = latency("direct", "timeout");
    assert!((timeout.p50 - 30.0).abs() < 0.2, "{timeout:?}");
    assert!((timeout.max - 30.0).abs() < 0.01, "{timeout:?}");
}

#[test]
fn the_time_series_adds_up_to_the_totals() {
    let (summary, series, _) = run(&scenario());
    let (_, text) = series
        .iter()
        .find(|(name, _)| *name == "series/statuses.csv")
        .expect("series/statuses.csv");
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    assert_eq!(&header[..3], ["t_start_s", "t_end_s", "route"]);
    let names = &header[3..];
    assert_eq!(names.len(), world::Status::ALL.len());
    let mut sums = std::collections::BTreeMap::<(String, String), u64>::new();
    let mut rows = 0;
    for line in lines {
        let cells: Vec<&str> = line.split(',').collect();
        assert_eq!(cells.len(), header.len(), "{line}");
        for (name, cell) in names.iter().zip(&cells[3..]) {
            *sums
                .entry((cells[2].to_string(), name.to_string()))
                .or_default() += cell.parse::<u64>().unwrap();
        }
        rows += 1;
    }
    // One row per window (20) per route (4).
    assert_eq!(rows, 20 * 4);
    for (route, r) in &summary.routes {
        for name in names {
            assert_eq!(
                sums[&(route.clone(), name.to_string())],
                count(&r.statuses, name),
                "{route} {name}"
            );
        }
    }
}

#[test]
fn a_plain_scenario_has_only_the_statuses_it_always_counted() {
    let text = std::fs::read_to_string("scenarios/retry-storm.json").unwrap();
    let compiled = scenario::parse(&text, "retry-storm.json").unwrap();
    let outcome = world::run(&compiled, 1, None);
    let (summary, _) = report::files(&compiled, 1, &outcome);
    for (name, r) in &summary.routes {
        for s in &r.statuses {
            assert!(
                ["ok", "internal", "unavailable", "timeout", "breaker_open"].contains(&s.status),
                "{name}: {}",
                s.status
            );
        }
        assert_eq!(count(&r.statuses, "internal"), r.failures.error);
        assert_eq!(count(&r.statuses, "timeout"), r.failures.timeout.unwrap());
    }
}
