//! `compare`'s speed: 3 variants × 30 seeds of the shop scenario
//! (scenarios/shop.json, retries at 1, 2 and 3 attempts), on one thread and
//! on every core, through `meshsim::experiment::run_all`, the code the
//! command runs. Runs are independent, so the speed-up on N cores should be
//! close to N (less what the cores share: memory bandwidth, other
//! processes).
//!
//! Run: `cargo bench --bench compare`. Last lines:
//! `compare_runs_per_sec_1=<f>`, `compare_runs_per_sec_all=<f>` and
//! `compare_speedup=<f>`. Under `cargo test --benches` (quick mode) it runs
//! 3 variants × 2 seeds of a shop cut to 25 s.

mod common;

use common::{is_real_bench, timed};
use meshsim::experiment::{self, Variant};
use meshsim::scenario::{self, VaryPath};

fn main() {
    let text = std::fs::read_to_string("scenarios/shop.json").expect("read shop.json");
    let mut base: serde_json::Value = serde_json::from_str(&text).expect("shop.json is JSON");
    let real = is_real_bench();
    if !real {
        // 25 s: the crash at 20 s stays; what starts later goes.
        base["duration"] = serde_json::json!("25s");
        let early = |v: &serde_json::Value| {
            v["at"]
                .as_str()
                .and_then(|t| t.trim_end_matches('s').parse::<u64>().ok())
                .is_some_and(|at| at < 25)
        };
        for path in ["/faults", "/workload/schedule"] {
            if let Some(items) = base.pointer_mut(path).and_then(|l| l.as_array_mut()) {
                items.retain(early);
            }
        }
    }
    let seeds: Vec<u64> = (7..if real { 37 } else { 9 }).collect();
    let schema = scenario::json_schema();
    let path = VaryPath::parse("policies.standard.retry.max_attempts").expect("a path");
    let variants: Vec<Variant> = [1, 2, 3]
        .into_iter()
        .map(|attempts| {
            let mut v = base.clone();
            experiment::vary::set(&mut v, &schema, &path, serde_json::json!(attempts))
                .expect("shop has this field");
            Variant {
                name: format!("max_attempts={attempts}"),
                compiled: scenario::parse(&v.to_string(), "shop.json").expect("a valid variant"),
            }
        })
        .collect();
    let runs = (variants.len() * seeds.len()) as f64;
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let (one, a) = timed(|| experiment::run_all(&variants, &seeds, 1, &|| {}));
    let (all, b) = timed(|| experiment::run_all(&variants, &seeds, cores, &|| {}));
    assert!(a == b, "the results do not depend on the number of threads");
    let (rate_one, rate_all) = (runs / one, runs / all);
    println!(
        "compare: {} variants x {} seeds of shop ({}), {runs} runs",
        variants.len(),
        seeds.len(),
        base["duration"]
    );
    println!("{:<12} {:>10} {:>12}", "threads", "wall s", "runs/s");
    println!("{:<12} {:>10.3} {:>12.2}", 1, one, rate_one);
    println!("{:<12} {:>10.3} {:>12.2}", cores, all, rate_all);
    println!("compare_runs_per_sec_1={rate_one:.2}");
    println!("compare_runs_per_sec_all={rate_all:.2}");
    println!("compare_speedup={:.2}", rate_all / rate_one);
}
