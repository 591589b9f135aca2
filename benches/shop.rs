//! The shop scenario (scenarios/shop.json) with every pattern that exists
//! switched on, run for ten times its bundled duration.
//!
//! Run: `cargo bench --bench shop`. Last line: `shop_requests_per_sec=<f>`
//! (client requests simulated per wall-clock second).

mod common;

use common::{best_rate, is_real_bench, run_meshsim};
use meshsim::kernel::SimDuration;

fn main() {
    let mut scenario = meshsim::scenario::load(std::path::Path::new("scenarios/shop.json"))
        .expect("shop.json is valid")
        .into_scenario();
    let factor = if is_real_bench() { 10 } else { 1 };
    scenario.duration = SimDuration::from_nanos(scenario.duration.as_nanos() * factor);
    let compiled = meshsim::scenario::compile(scenario).expect("a longer shop.json is valid");
    let scenario = compiled.scenario();
    let reps = if is_real_bench() { 3 } else { 1 };
    let (rate, requests) = best_rate(reps, || run_meshsim(&compiled));
    println!(
        "shop scenario x{factor} duration ({}), best of {reps}",
        scenario.duration
    );
    println!("{:<10} {:>12} {:>16}", "scenario", "requests", "requests/s");
    println!("{:<10} {:>12} {:>16.0}", "shop", requests, rate);
    println!("shop_requests_per_sec={rate:.0}");
}
