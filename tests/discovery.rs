//! Load balancing per edge, service discovery, health checks and outlier
//! ejection, seen through summary.json.
//!
//! Statistical claims are checked over several seeds, each failure naming
//! its seed.

use meshsim::report;
use meshsim::scenario;
use meshsim::world;
use serde_json::{Value, json};

fn summary_with_seed(value: &Value, seed: u64) -> Value {
    let compiled = scenario::parse(&value.to_string(), "discovery.json").expect("valid");
    let run = world::run(&compiled, seed, None);
    let (summary, _) = report::files(&compiled, seed, &run);
    serde_json::from_str(&summary.to_json()).unwrap()
}

/// Two frontends call three backends through policy `p`; backend 2 is
/// `slow` times slower than the others. About 70% utilisation overall.
fn heterogeneous(balancer: Option<&str>, slow: f64, rate: f64) -> Value {
    let mut policy = json!({"timeout": "2s"});
    if let Some(b) = balancer {
        policy["balancer"] = json!(b);
    }
    json!({
        "name": "balancers", "duration": "20s", "seed": 1,
        "policies": {"p": policy},
        "services": {
            "front": {"instances": 2, "concurrency": 64,
                      "service_time": {"constant": "100us"},
                      "calls": [{"service": "back", "policy": "p"}]},
            "back": {"instances": 3, "concurrency": 4, "queue_capacity": 200,
                     "service_time": {"exponential": {"mean": "4ms"}},
                     "instance_slowdown": [1, 1, slow]}
        },
        "network": {"latency": {"exponential": {"mean": "200us"}}},
        "workload": {"arrivals": {"poisson": {"rate": rate}},
                     "routes": [{"service": "front", "keys": 1000}], "timeout": "5s"}
    })
}

fn instances(summary: &Value) -> &Value {
    &summary["services"]["back"]["instances"]
}

#[test]
fn a_plain_scenario_has_no_instances_table() {
    let s = summary_with_seed(&heterogeneous(None, 1.0, 300.0), 1);
    assert!(s["services"]["back"].get("instances").is_none(), "{s}");
}

#[test]
fn every_balancer_spreads_the_load_and_stays_in_the_pool() {
    for balancer in [
        "round_robin",
        "random",
        "least_outstanding",
        "p2c",
        "p2c_peak_ewma",
        "ring_hash",
        "maglev",
    ] {
        let s = summary_with_seed(&heterogeneous(Some(balancer), 1.0, 300.0), 3);
        let each = instances(&s)["each"].as_array().expect("three instances");
        assert_eq!(each.len(), 3, "{balancer}");
        let total: u64 = each.iter().map(|e| e["requests"].as_u64().unwrap()).sum();
        assert_eq!(
            total,
            s["services"]["back"]["requests"].as_u64().unwrap(),
            "{balancer}: every request reached one of the three"
        );
        for e in each {
            let share = e["share"].as_f64().unwrap();
            assert!(share > 0.2, "{balancer}: {e}");
        }
    }
}

#[test]
fn p2c_spreads_load_more_evenly_than_random_on_mixed_speeds() {
    for seed in 1..=4 {
        let imbalance = |b| {
            let s = summary_with_seed(&heterogeneous(Some(b), 3.0, 600.0), seed);
            instances(&s)["load_imbalance"].as_f64().unwrap()
        };
        let (p2c, random) = (imbalance("p2c"), imbalance("random"));
        assert!(
            p2c < random,
            "seed {seed}: p2c max/mean load {p2c} vs random {random}"
        );
    }
}

#[test]
fn least_outstanding_beats_round_robin_on_p99_with_one_slow_instance() {
    for seed in 1..=4 {
        let p99 = |b| {
            let s = summary_with_seed(&heterogeneous(Some(b), 4.0, 650.0), seed);
            s["routes"]["front"]["latency_ms"]["p99"].as_f64().unwrap()
        };
        let (least, round_robin) = (p99("least_outstanding"), p99("round_robin"));
        assert!(
            least < round_robin,
            "seed {seed}: least outstanding p99 {least} ms vs round robin {round_robin} ms"
        );
    }
}

#[test]
fn a_hashing_balancer_sends_a_key_to_one_instance() {
    // One key: every request hashes alike, so one instance takes them all.
    let mut value = heterogeneous(Some("maglev"), 1.0, 100.0);
    value["workload"]["routes"][0]["keys"] = json!(1);
    let s = summary_with_seed(&value, 1);
    let shares: Vec<f64> = instances(&s)["each"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["share"].as_f64().unwrap())
        .collect();
    assert!(shares.contains(&1.0), "{shares:?}");
}
