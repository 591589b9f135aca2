//! Named clients: each with its own arrival process (or users), its own mix
//! of the routes and its own randomness, keyed by its name.
//!
//! What a user of `clients` relies on: a client sends what its rate implies
//! and to the routes its weights say; the clients' figures add up to the
//! routes'; adding (even in front) or removing a client leaves every other
//! client's requests' numbers exactly as they were; and a workload without
//! `clients` is the one implicit client it always was (its committed reports
//! are checked byte for byte in `tests/committed_reports.rs`).

use meshsim::metrics::{Counts, RouteStats};
use meshsim::report::{self, summary::Summary};
use meshsim::scenario;
use meshsim::world::{self, RunOutcome};
use serde_json::{Value, json};

fn compile(value: &Value) -> scenario::Compiled {
    scenario::parse(&value.to_string(), "clients.json").unwrap_or_else(|e| panic!("{e}"))
}

fn run(value: &Value, seed: u64) -> RunOutcome {
    world::run(&compile(value), seed, None)
}

fn client<'a>(outcome: &'a RunOutcome, name: &str) -> &'a RouteStats {
    let i = outcome
        .client_names
        .iter()
        .position(|n| n == name)
        .unwrap_or_else(|| panic!("no client {name} in {:?}", outcome.client_names));
    &outcome.clients[i]
}

fn route<'a>(outcome: &'a RunOutcome, name: &str) -> &'a RouteStats {
    let i = outcome.route_names.iter().position(|n| n == name).unwrap();
    &outcome.routes[i]
}

/// Two services with room for everything (no queueing, so a request's
/// fate depends on its own draws only) and two routes.
fn system(workload: Value) -> Value {
    json!({
        "name": "clients",
        "duration": "20s",
        "network": {"latency": {"exponential": {"mean": "1ms"}}},
        "services": {
            "catalog": {"concurrency": 10000, "queue_capacity": 10,
                        "service_time": {"exponential": {"mean": "2ms"}}, "error_rate": 0.1},
            "orders": {"concurrency": 10000, "queue_capacity": 10,
                       "service_time": {"lognormal": {"median": "4ms", "p99": "20ms"}}}
        },
        "workload": workload
    })
}

fn routes() -> Value {
    json!([
        {"name": "browse", "service": "catalog", "weight": 1},
        {"name": "checkout", "service": "orders", "weight": 1}
    ])
}

#[test]
fn each_client_sends_what_its_rate_implies_to_the_routes_its_weights_say() {
    let scenario = system(json!({
        "routes": routes(),
        "clients": [
            // Only browses, at 200/s: Poisson(4000) over 20 s.
            {"name": "mobile", "arrivals": {"poisson": {"rate": 200}}, "routes": {"browse": 1}},
            // 50/s then 150/s from 10 s: Poisson(2000); a quarter browse.
            {"name": "web", "arrivals": {"poisson": {"rate": 50}},
             "schedule": [{"at": "10s", "rate": 150}], "routes": {"browse": 1, "checkout": 3}},
            // 10 users thinking 100 ms, answered in a few ms: about 190 each.
            {"name": "bots", "users": {"count": 10, "think_time": {"constant": "100ms"}},
             "routes": {"checkout": 1}}
        ]
    }));
    for seed in [1, 2, 3] {
        let outcome = run(&scenario, seed);
        let sent = |name| client(&outcome, name).total.requests as f64;
        // A Poisson count's sd is sqrt(mean); 4 sd fails one run in 15,000.
        for (name, expected) in [("mobile", 4000.0), ("web", 2000.0)] {
            let tolerance = 4.0 * f64::sqrt(expected);
            assert!(
                (sent(name) - expected).abs() <= tolerance,
                "seed {seed}: {name} sent {} where {expected} ± {tolerance} was expected",
                sent(name)
            );
        }
        // Each of 10 users sends one request per think time (100 ms) plus
        // its latency (a few ms, never over 100 ms here): between 100 and
        // 200 requests each over 20 s.
        assert!(
            (1_000.0..=2_000.0).contains(&sent("bots")),
            "{}",
            sent("bots")
        );
        // `checkout` gets web's three quarters and every bot request:
        // Binomial(web, 3/4) has sd sqrt(web · 3/16); 4 sd.
        let checkout = route(&outcome, "checkout").total.requests as f64;
        let from_web = checkout - sent("bots");
        let expected = 0.75 * sent("web");
        let tolerance = 4.0 * f64::sqrt(sent("web") * 3.0 / 16.0);
        assert!(
            (from_web - expected).abs() <= tolerance,
            "seed {seed}: web sent {from_web} to checkout, {expected} ± {tolerance} expected"
        );
        let browse = route(&outcome, "browse").total.requests as f64;
        assert_eq!(
            browse + checkout,
            sent("mobile") + sent("web") + sent("bots")
        );
    }
}

/// The figures of a client, as summary.json and clients.csv count them.
fn figures(c: &Counts) -> [u64; 10] {
    [
        c.requests,
        c.successes,
        c.errors,
        c.rejected,
        c.timeouts,
        c.breaker_open,
        c.bulkhead_full,
        c.throttled,
        c.rate_limited,
        c.capped,
    ]
}

#[test]
fn the_clients_figures_add_up_to_the_routes() {
    // Errors (catalog), rejections (a small queue at orders) and timeouts.
    let mut scenario = system(json!({
        "routes": routes(),
        "timeout": "20ms",
        "clients": [
            {"name": "mobile", "arrivals": {"poisson": {"rate": 300}}, "credential": "user"},
            {"name": "web", "arrivals": {"constant": {"rate": 100}}, "routes": {"checkout": 1}},
            {"name": "bots", "users": {"count": 20, "think_time": {"exponential": {"mean": "50ms"}}}}
        ]
    }));
    scenario["services"]["orders"]["concurrency"] = json!(2);
    let compiled = compile(&scenario);
    let outcome = world::run(&compiled, 5, None);
    let sum = |stats: &[RouteStats]| {
        stats.iter().fold([0u64; 10], |mut acc, s| {
            for (a, x) in acc.iter_mut().zip(figures(&s.total)) {
                *a += x;
            }
            acc
        })
    };
    let (clients, routes) = (sum(&outcome.clients), sum(&outcome.routes));
    assert_eq!(clients, routes, "clients against routes");
    let [requests, successes, errors, rejected, timeouts, ..] = clients;
    assert!(requests > 10_000, "{requests}");
    assert!(
        successes > 0 && errors > 100 && rejected > 10 && timeouts > 10,
        "{clients:?}"
    );
    let latencies = |stats: &[RouteStats]| -> (u64, u128) {
        stats.iter().fold((0, 0), |(n, sum), s| {
            (n + s.latency.count(), sum + s.latency.sum_ns())
        })
    };
    assert_eq!(latencies(&outcome.clients), latencies(&outcome.routes));
    let in_flight = |stats: &[RouteStats]| stats.iter().map(|s| s.in_flight).sum::<u64>();
    assert_eq!(in_flight(&outcome.clients), in_flight(&outcome.routes));

    // summary.json: a `clients` map ordered by name, with the credentials.
    let summary = Summary::new(&compiled, 5, &outcome);
    let names: Vec<&str> = summary.clients.keys().map(String::as_str).collect();
    assert_eq!(names, ["bots", "mobile", "web"]);
    assert_eq!(summary.clients["mobile"].credential, "user");
    assert_eq!(summary.clients["web"].credential, "none");
    let total: u64 = summary.clients.values().map(|c| c.requests).sum();
    assert_eq!(total, requests);

    // series/clients.csv: a row per client per window, adding up to the
    // summary's figures.
    let files = report::timeseries::to_csv(&outcome);
    let (_, csv) = files
        .iter()
        .find(|(name, _)| *name == "series/clients.csv")
        .expect("clients.csv for declared clients");
    let header: Vec<&str> = report::timeseries::CLIENTS.header.split(',').collect();
    let column = |name: &str| header.iter().position(|c| *c == name).unwrap();
    let mut by_client = std::collections::BTreeMap::<String, [u64; 10]>::new();
    let mut rows = 0;
    for line in csv.lines().skip(1) {
        let cells: Vec<&str> = line.split(',').collect();
        assert_eq!(cells.len(), header.len(), "{line}");
        let entry = by_client
            .entry(cells[column("client")].to_string())
            .or_default();
        for (i, name) in header[column("requests")..=column("capped")]
            .iter()
            .enumerate()
        {
            entry[i] += cells[column(name)]
                .parse::<u64>()
                .expect("an integer count");
        }
        rows += 1;
    }
    assert_eq!(rows, 3 * 20, "three clients, twenty windows");
    for (name, stats) in outcome.client_names.iter().zip(&outcome.clients) {
        assert_eq!(by_client[name], figures(&stats.total), "{name}");
    }
}

/// Adding a client, here in front of the list, leaves every request of the
/// others as it was: same arrivals, route picks, network delays, service
/// times and error decisions, so the same outcomes and latencies to the
/// nanosecond. (Keys by list position would have moved them all.)
#[test]
fn adding_a_client_leaves_the_other_clients_draws_unchanged() {
    let mobile = json!({"name": "mobile", "arrivals": {"poisson": {"rate": 300}},
                        "routes": {"browse": 2, "checkout": 1}});
    let users = json!({"name": "bots", "users": {"count": 5, "think_time": {"exponential": {"mean": "20ms"}}}});
    let before = run(
        &system(json!({"routes": routes(), "clients": [mobile, users]})),
        7,
    );
    let web = json!({"name": "web", "arrivals": {"poisson": {"rate": 500}}});
    let after = run(
        &system(json!({"routes": routes(), "clients": [web, mobile, users]})),
        7,
    );
    let seen = |outcome: &RunOutcome, name: &str| {
        let stats = client(outcome, name);
        (
            figures(&stats.total),
            stats.latency.count(),
            stats.latency.sum_ns(),
        )
    };
    assert!(client(&after, "web").total.requests > 9_000);
    for name in ["mobile", "bots"] {
        let (figures, count, _) = seen(&before, name);
        assert!(figures[2] > 10, "{name} has errors to compare: {figures:?}");
        assert!(count > 1_000, "{name}: {count}");
        assert_eq!(seen(&before, name), seen(&after, name), "{name}");
    }
    // Renaming a client gives it other numbers.
    let renamed = json!({"name": "phone", "arrivals": {"poisson": {"rate": 300}},
                         "routes": {"browse": 2, "checkout": 1}});
    let other = run(
        &system(json!({"routes": routes(), "clients": [renamed, users]})),
        7,
    );
    assert_ne!(seen(&before, "mobile"), seen(&other, "phone"));
}

#[test]
fn a_client_named_default_runs_as_the_implicit_workload() {
    let implicit = system(json!({
        "routes": routes(),
        "arrivals": {"poisson": {"rate": 300}},
        "schedule": [{"at": "5s", "ramp_to": 600, "over": "10s"}]
    }));
    let declared = system(json!({
        "routes": routes(),
        "clients": [{"name": "default", "arrivals": {"poisson": {"rate": 300}},
                     "schedule": [{"at": "5s", "ramp_to": 600, "over": "10s"}]}]
    }));
    let (a, b) = (run(&implicit, 3), run(&declared, 3));
    assert!(a.client_names.is_empty() && a.clients.is_empty());
    assert_eq!(b.client_names, ["default"]);
    assert_eq!(a.events, b.events);
    for (x, y) in a.routes.iter().zip(&b.routes) {
        assert_eq!(figures(&x.total), figures(&y.total));
        assert_eq!(x.latency.sum_ns(), y.latency.sum_ns());
    }
    assert_eq!(figures(&b.clients[0].total), {
        let mut all = [0; 10];
        for r in &a.routes {
            for (s, x) in all.iter_mut().zip(figures(&r.total)) {
                *s += x;
            }
        }
        all
    });
}

#[test]
fn the_implicit_client_writes_no_client_figures() {
    let compiled = compile(&system(json!({
        "routes": routes(),
        "arrivals": {"poisson": {"rate": 100}}
    })));
    let outcome = world::run(&compiled, 1, None);
    let (summary, _) = report::files(&compiled, 1, &outcome);
    let json: Value = serde_json::from_str(&summary.to_json()).unwrap();
    assert!(json.get("clients").is_none(), "{json}");
    assert!(json.get("routes").is_some());
    let names: Vec<&str> = report::timeseries::to_csv(&outcome)
        .iter()
        .map(|(name, _)| *name)
        .collect();
    assert_eq!(
        names,
        [
            "series/routes.csv",
            "series/services.csv",
            "series/edges.csv",
            "series/statuses.csv"
        ]
    );
}
