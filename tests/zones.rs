//! Zones: placement, zone-pair latency, zone outages and Envoy's zone-aware
//! routing, as a user sees them in summary.json and the route's figures.
//!
//! What a user of zones relies on: with zone-aware routing and a healthy
//! local zone, requests stay in their zone; when the local zone loses
//! instances the residual spills as Envoy's formula says; in a zone outage
//! the callers stop sending to the zone once its instances are detected and
//! the success rate comes back; cross-zone latency shows in the p50 when
//! zone awareness is off; and a scenario without zones runs exactly as it
//! did before zones existed.

use meshsim::metrics::EntityKind;
use meshsim::report;
use meshsim::scenario;
use meshsim::world::{self, RunOutcome};
use serde_json::{Value, json};

fn compile(value: &Value) -> scenario::Compiled {
    scenario::parse(&value.to_string(), "zones.json").unwrap_or_else(|e| panic!("{e}"))
}

fn summary(value: &Value, seed: u64) -> (RunOutcome, Value) {
    let compiled = compile(value);
    let run = world::run(&compiled, seed, None);
    let (summary, _) = report::files(&compiled, seed, &run);
    let json = serde_json::from_str(&summary.to_json()).unwrap();
    (run, json)
}

/// Clients in `zones` (one client each, `rate` requests/s) call `back`:
/// `per_zone` instances in each of a, b and c, discovered by health checks
/// every second, through policy `p` (zone aware unless `zone_aware` is
/// false). Within a zone a message takes 0.1 ms, across zones 5 ms.
fn world(zones: &[&str], per_zone: u32, zone_aware: bool, faults: Value) -> Value {
    let mut policy = json!({"timeout": "500ms", "balancer": "round_robin"});
    if zone_aware {
        policy["zone_aware"] = json!({});
    }
    let clients: Vec<Value> = zones
        .iter()
        .map(|z| json!({"name": format!("in-{z}"), "zone": z, "arrivals": {"poisson": {"rate": 200}}}))
        .collect();
    json!({
        "name": "zones", "duration": "60s", "seed": 3,
        "policies": {"p": policy},
        "services": {
            "back": {
                "instances": 3 * per_zone, "zones": ["a", "b", "c"],
                "concurrency": 16, "queue_capacity": 200,
                "service_time": {"exponential": {"mean": "2ms"}},
                "discovery": {
                    "health_check": {"interval": "1s", "timeout": "200ms", "failures_before_critical": 1},
                    "refresh": "1s"
                }
            }
        },
        "network": {
            "latency": {"constant": "1ms"},
            "zones": {"same_zone": {"constant": "100us"}, "cross_zone": {"constant": "5ms"}}
        },
        "workload": {"clients": clients, "routes": [{"service": "back", "policy": "p"}]},
        "faults": faults
    })
}

fn zone<'a>(summary: &'a Value, name: &str) -> &'a Value {
    &summary["zones"][name]
}

#[test]
fn a_healthy_local_zone_keeps_at_least_99_percent_of_requests_in_zone() {
    let (_, s) = summary(&world(&["a", "b", "c"], 3, true, json!([])), 1);
    for z in ["a", "b", "c"] {
        let share = zone(&s, z)["cross_zone_share"].as_f64().unwrap();
        assert!(
            share <= 0.01,
            "zone {z}: {share} of its requests crossed zones"
        );
        let requests = zone(&s, z)["requests_in"].as_u64().unwrap();
        // 200/s for 60 s from its own client: within 5% (sd ≈ 0.8%).
        assert!(requests.abs_diff(12_000) < 600, "zone {z}: {requests}");
        assert_eq!(zone(&s, z)["instances"], 3);
    }
    let each = &s["services"]["back"]["instances"]["each"];
    assert_eq!(each[0]["zone"], "a");
    assert_eq!(each[1]["zone"], "b");
    assert_eq!(each[5]["zone"], "c", "instance i is in zones[i mod 3]");
}

#[test]
fn a_local_zone_below_its_share_spills_as_envoys_formula_says() {
    // Instance 0 (zone a) is down all run: after detection 2 of the 8
    // healthy instances are in a, 25% against a local share of 33.33%, so
    // Envoy routes 2500 × 10000 / 3333 = 7500 of 10,000 picks locally and
    // spills the rest to b and c (equal residual capacity).
    let crash = json!([{"at": "0s", "crash": {"service": "back", "instance": 0}}]);
    let (_, s) = summary(&world(&["a"], 3, true, crash), 2);
    let to = |z: &str| zone(&s, z)["requests_in"].as_f64().unwrap();
    let total = to("a") + to("b") + to("c");
    let local = to("a") / total;
    // 12,000 picks: sd of the share 0.4 points; detection (≤ 3 s of 60, all
    // local meanwhile) biases it up by at most 1.3 points: 3 points is wide.
    assert!((local - 0.75).abs() < 0.03, "local share {local}");
    let (b, c) = (to("b") / total, to("c") / total);
    assert!((b - c).abs() < 0.03, "the spill is even: b {b}, c {c}");
}

/// The route's success ratio over the windows in `[from_s, to_s)`.
fn success(run: &RunOutcome, from_s: u64, to_s: u64) -> f64 {
    let (mut ok, mut all) = (0, 0);
    for row in run.rows.iter().filter(|r| r.kind == EntityKind::Route) {
        let start = row.start.as_nanos() / 1_000_000_000;
        if (from_s..to_s).contains(&start) {
            ok += row.counts.successes;
            all += row.counts.requests;
        }
    }
    ok as f64 / all.max(1) as f64
}

#[test]
fn in_a_zone_outage_traffic_spills_and_the_success_rate_recovers_after_detection() {
    // Zone awareness off: the clients in a and c send a third of their
    // calls to zone b until its instances leave the views (a check every
    // second, critical after one failure, views refreshed every second).
    let outage = json!([{"at": "20s", "for": "20s", "zone_outage": {"zone": "b"}}]);
    let (run, s) = summary(&world(&["a", "c"], 2, false, outage.clone()), 4);
    assert!(success(&run, 0, 20) > 0.999, "{}", success(&run, 0, 20));
    let first = success(&run, 20, 21);
    assert!(
        first < 0.9,
        "the outage fails calls before detection: {first}"
    );
    let detected = success(&run, 25, 40);
    assert!(detected > 0.999, "after detection: {detected}");
    assert!(success(&run, 45, 60) > 0.999, "after the outage");
    for crash in s["services"]["back"]["instances"]["crashes"]
        .as_array()
        .unwrap()
    {
        assert_eq!(crash["detected"], true, "{crash}");
        let seconds = crash["detection_s"].as_f64().unwrap();
        // Check interval + timeout + refresh, with a second to spare.
        assert!(seconds < 3.2, "detection took {seconds} s: {crash}");
    }
    // Zone-aware callers in a and c never send to b at all, as long as the
    // pool keeps min_cluster_size (6) healthy instances without b (with 2
    // per zone it would not: 4 < 6 turns zone awareness off, and the
    // restarting b instances get traffic before all are back).
    let (run, s) = summary(&world(&["a", "c"], 3, true, outage), 4);
    assert!(success(&run, 0, 60) > 0.999, "{}", success(&run, 0, 60));
    assert_eq!(zone(&s, "b")["requests_in"], 0);
}

#[test]
fn cross_zone_latency_shows_in_the_routes_p50_when_zone_awareness_is_off() {
    let p50 = |zone_aware: bool| {
        let (_, s) = summary(&world(&["a", "b", "c"], 3, zone_aware, json!([])), 5);
        s["routes"]["back"]["latency_ms"]["p50"].as_f64().unwrap()
    };
    let (aware, unaware) = (p50(true), p50(false));
    // Zone aware: two 0.1 ms hops and ~2 ms of service; off: two thirds of
    // the calls take two 5 ms hops, so the median is one of those.
    assert!(aware < 3.0, "zone aware p50 {aware} ms");
    assert!(unaware > 10.0, "zone unaware p50 {unaware} ms");
}

#[test]
fn a_zone_no_service_has_and_a_pool_below_min_cluster_size_are_warned_about() {
    let mut scenario = world(&["a", "d"], 1, true, json!([]));
    scenario["services"]["back"]["zones"] = json!(["a", "b", "c"]);
    let compiled = compile(&scenario);
    let warnings: Vec<String> = compiled
        .warnings()
        .iter()
        .map(|w| format!("{}: {}", w.path, w.message))
        .collect();
    assert!(
        warnings
            .iter()
            .any(|w| w.starts_with("workload.clients[1].zone: zone `d`")),
        "{warnings:?}"
    );
    assert!(
        warnings
            .iter()
            .any(|w| w.starts_with("policies.p.zone_aware.min_cluster_size")),
        "{warnings:?}"
    );
}

/// A regression guard for the performance rule's other half: a scenario
/// without zones takes none of the zoned paths, so its summary is the one
/// committed before zones existed, byte for byte.
#[test]
fn a_scenario_without_zones_is_unchanged() {
    let compiled = scenario::load(std::path::Path::new("scenarios/failover.json")).unwrap();
    let seed = compiled.scenario().seed;
    let run = world::run(&compiled, seed, None);
    assert!(run.zones.is_none());
    let (summary, _) = report::files(&compiled, seed, &run);
    let committed = std::fs::read_to_string("reports/failover/summary.json").unwrap();
    assert!(
        summary.to_json() == committed,
        "failover's summary changed (run `cargo test --test committed_reports` for the line)"
    );
}

#[test]
fn the_bundled_zones_scenario_is_deterministic_and_zone_aware() {
    let compiled = scenario::load(std::path::Path::new("scenarios/zones.json")).unwrap();
    let a = world::run(&compiled, 11, None);
    let b = world::run(&compiled, 11, None);
    assert_eq!(a.zones, b.zones);
    assert_eq!(a.zones.as_ref().unwrap().names, ["a", "b", "c"]);
}
