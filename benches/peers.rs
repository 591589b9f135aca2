//! meshsim against SimPy on the same M/M/1 model (same rates, same number of
//! customers), timed in the same run. SimPy runs benches/mm1_simpy.py.
//!
//! SimPy must be installed for the Python on PATH: `python3 -m pip install
//! simpy` (from PyPI). If it is missing the bench says so and prints
//! `simpy_ratio=nan`.
//!
//! Run: `cargo bench --bench peers`. Last line: `simpy_ratio=<meshsim/simpy>`.

mod common;

use std::process::Command;

use common::{best_rate, is_real_bench, mm1_scenario, run_meshsim};

fn main() {
    let customers: u64 = if is_real_bench() { 1_000_000 } else { 10_000 };
    let lambda = 800.0;
    let scenario = mm1_scenario(lambda, customers);
    // Both sides take the best of the same number of runs.
    let repeats = if is_real_bench() { 3 } else { 1 };
    let (meshsim, n) = best_rate(repeats, || run_meshsim(&scenario));
    let output = Command::new("python3")
        .arg("benches/mm1_simpy.py")
        .arg(customers.to_string())
        .arg(lambda.to_string())
        .arg(repeats.to_string())
        .output();
    let simpy = match output {
        Ok(out) if out.status.success() => {
            let text = String::from_utf8_lossy(&out.stdout);
            text.lines()
                .find_map(|l| l.strip_prefix("simpy_requests_per_sec="))
                .and_then(|v| v.trim().parse::<f64>().ok())
        }
        Ok(out) => {
            eprintln!(
                "SimPy run failed; install it with `python3 -m pip install simpy`:\n{}",
                String::from_utf8_lossy(&out.stderr)
            );
            None
        }
        Err(e) => {
            eprintln!(
                "cannot start python3 ({e}); install Python 3 and `python3 -m pip install simpy`"
            );
            None
        }
    };
    println!("M/M/1, lambda = 800/s, mu = 1000/s, {customers} customers, best of {repeats}");
    println!(
        "{:<10} {:>12} {:>16}",
        "simulator", "customers", "requests/s"
    );
    println!("{:<10} {:>12} {:>16.0}", "meshsim", n, meshsim);
    match simpy {
        Some(rate) => {
            println!("{:<10} {:>12} {:>16.0}", "simpy", customers, rate);
            println!("simpy_ratio={:.1}", meshsim / rate);
        }
        None => println!("simpy_ratio=nan"),
    }
}
