//! `explore`'s speed on the shop scenario (scenarios/shop.json): runs per
//! second on one core through `meshsim::explore::command::run_seeds`, the
//! code the command runs, and where a seed's time goes: drawing its faults,
//! compiling the scenario with them, the run itself, and summarising and
//! checking its properties.
//!
//! Run: `cargo bench --bench explore`. Last lines:
//! `explore_runs_per_sec_per_core=<f>`, `explore_share_generate=<f>`,
//! `explore_share_check=<f>` (shares of a seed's time, 0 to 1). Under
//! `cargo test --benches` (quick mode) it runs 2 seeds.

mod common;

use common::{is_real_bench, timed};
use meshsim::explore::{Explorer, check, command::run_seeds};
use meshsim::report::Summary;

fn main() {
    let compiled = meshsim::scenario::load(std::path::Path::new("scenarios/shop.json"))
        .expect("shop.json is valid");
    let explorer = Explorer::new(&compiled).expect("shop.json can be explored");
    let real = is_real_bench();
    let seeds = explorer.seeds(if real { 40 } else { 2 });

    // The command's path, one thread.
    let (wall, results) = timed(|| run_seeds(&explorer, &seeds, 1, &|| {}).expect("valid"));
    let per_core = seeds.len() as f64 / wall;
    let failed = results.iter().filter(|r| !r.broken.is_empty()).count();

    // The same seeds, step by step.
    let (mut generate, mut compile, mut run, mut check_s) = (0.0, 0.0, 0.0, 0.0);
    for &seed in &seeds {
        // Drawing is microseconds: repeat it for a measurable time.
        let reps = 100;
        let (t, drawn) = timed(|| {
            let mut drawn = None;
            for _ in 0..reps {
                drawn = Some(std::hint::black_box(explorer.draw(seed)));
            }
            drawn
        });
        generate += t / f64::from(reps);
        let mut faults = explorer.own_faults().to_vec();
        faults.extend(drawn.expect("drawn"));
        let (t, c) = timed(|| explorer.compile(seed, &faults).expect("valid"));
        compile += t;
        let (t, outcome) = timed(|| meshsim::world::run(&c, seed, None));
        run += t;
        let (t, broken) = timed(|| {
            let summary = Summary::new(&c, seed, &outcome);
            check::check(&outcome, &summary, &explorer.liveness(&faults))
        });
        check_s += t;
        std::hint::black_box(broken);
    }
    let total = generate + compile + run + check_s;
    println!(
        "explore on shop ({} seeds, {} failed), one thread",
        seeds.len(),
        failed
    );
    println!("{:<26} {:>12} {:>8}", "step", "s per seed", "share");
    for (name, t) in [
        ("draw the faults", generate),
        ("compile with them", compile),
        ("run", run),
        ("summarise and check", check_s),
    ] {
        println!(
            "{name:<26} {:>12.6} {:>7.2}%",
            t / seeds.len() as f64,
            100.0 * t / total
        );
    }
    println!("explore_runs_per_sec_per_core={per_core:.2}");
    println!("explore_share_generate={:.6}", generate / total);
    println!("explore_share_check={:.6}", check_s / total);
}
