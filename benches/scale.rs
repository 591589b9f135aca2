//! Scale: 100 services with 10 instances each (1,000 instances) in five
//! layers of 20; each service calls two services of the next layer, one of
//! them in a parallel pair. Network latency on every hop.
//!
//! Run: `cargo bench --bench scale`. Last line: `scale_requests_per_sec=<f>`.

mod common;

use common::{best_rate, is_real_bench, run_meshsim};
use serde_json::{Value, json};

fn scenario(seconds: u64) -> meshsim::scenario::Compiled {
    let mut services = serde_json::Map::new();
    let layers = 5;
    let width = 20;
    for layer in 0..layers {
        for i in 0..width {
            let name = format!("s{layer}-{i:02}");
            let calls: Vec<Value> = if layer + 1 < layers {
                let a = format!("s{}-{:02}", layer + 1, i);
                let b = format!("s{}-{:02}", layer + 1, (i + 7) % width);
                vec![json!({"parallel": [
                    {"service": a, "timeout": "1s"},
                    {"service": b, "timeout": "1s", "probability": 0.5}
                ]})]
            } else {
                Vec::new()
            };
            services.insert(
                name,
                json!({
                    "instances": 10, "concurrency": 4, "queue_capacity": 100,
                    "service_time": {"exponential": {"mean": "2ms"}},
                    "error_rate": 0.001,
                    "calls": calls
                }),
            );
        }
    }
    let routes: Vec<Value> = (0..width)
        .map(|i| json!({"service": format!("s0-{i:02}")}))
        .collect();
    let text = json!({
        "name": "scale", "duration": format!("{seconds}s"), "window": "1s", "seed": 1,
        "services": services,
        "network": {"latency": {"exponential": {"mean": "200us"}}},
        "workload": {"arrivals": {"poisson": {"rate": 2000}}, "routes": routes, "timeout": "5s"}
    })
    .to_string();
    meshsim::scenario::parse(&text, "scale.json").expect("the scale scenario is valid")
}

fn main() {
    let seconds = if is_real_bench() { 60 } else { 2 };
    let scenario = scenario(seconds);
    let reps = if is_real_bench() { 3 } else { 1 };
    let (rate, requests) = best_rate(reps, || run_meshsim(&scenario));
    println!(
        "100 services x 10 instances, 5 layers, {seconds}s at 2000 requests/s, best of {reps}"
    );
    println!("{:<10} {:>12} {:>16}", "scenario", "requests", "requests/s");
    println!("{:<10} {:>12} {:>16.0}", "scale", requests, rate);
    println!("scale_requests_per_sec={rate:.0}");
}
