//! M/M/1 at utilisation 0.8 with 10 million requests, through meshsim's
//! normal scenario path with metrics on, against a minimal hand-written
//! M/M/1 loop (binary heap, FIFO, same RNG and sampler, no metrics) measured
//! in the same run.
//!
//! Run: `cargo bench --bench mm1`. Last line:
//! `mm1_requests_per_sec=<f> bare_requests_per_sec=<f> ratio=<meshsim/bare>`.

mod common;

use common::{best_rate, is_real_bench, mm1_scenario, run_bare_mm1, run_meshsim};

fn main() {
    let requests: u64 = if is_real_bench() { 10_000_000 } else { 100_000 };
    let lambda = 800.0;
    let scenario = mm1_scenario(lambda, requests);
    let reps = if is_real_bench() { 3 } else { 1 };
    let (meshsim, n_meshsim) = best_rate(reps, || run_meshsim(&scenario));
    let (bare, n_bare) = best_rate(reps, || run_bare_mm1(lambda, requests));
    println!("M/M/1, lambda = 800/s, mu = 1000/s (rho = 0.8), best of {reps}");
    println!(
        "{:<32} {:>12} {:>16}",
        "simulator", "requests", "requests/s"
    );
    println!(
        "{:<32} {:>12} {:>16.0}",
        "meshsim (scenario path, metrics)", n_meshsim, meshsim
    );
    println!(
        "{:<32} {:>12} {:>16.0}",
        "bare heap + FIFO loop", n_bare, bare
    );
    println!(
        "mm1_requests_per_sec={meshsim:.0} bare_requests_per_sec={bare:.0} ratio={:.3}",
        meshsim / bare
    );
}
