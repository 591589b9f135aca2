//! meshsim against closed-form queueing theory.
//!
//! * M/M/1 at utilisation 0.5 and 0.9: W = 1/(μ − λ), Wq = ρ/(μ − λ),
//!   L = ρ/(1 − ρ), Lq = ρ²/(1 − ρ), utilisation = ρ.
//! * M/M/4 at utilisation 0.8 against Erlang C.
//! * Little's law L = λW for every service of every bundled scenario.
//!
//! Every station is one instance with `concurrency` c workers, a queue that
//! never fills, exponential service with mean 1 ms (μ = 1000/s, so the
//! simulated seconds stay few while the customers are many), Poisson arrivals
//! and the default zero network latency. Each case is the average over the
//! fixed seeds in [`SEEDS`], so a run is reproducible bit for bit: a failure
//! is a real change of behaviour, not bad luck on a fresh seed.
//!
//! # How long the runs must be
//!
//! Waiting times of consecutive customers are strongly correlated, so the
//! variance of a mean over n customers is not Var(W)/n but v·E[W]²/n, with v
//! the *relative asymptotic variance per customer* below (all with μ = 1):
//!
//! | quantity | v for M/M/1 at load ρ               | ρ = 0.5 | ρ = 0.9 | M/M/4, ρ = 0.8 |
//! |----------|-------------------------------------|---------|---------|----------------|
//! | Wq       | (2 + 5ρ − 4ρ² + ρ³)/(ρ(1 − ρ)²) [1] | 29      | 443     | 205 *          |
//! | L        | 2(1 + ρ)/(1 − ρ)² [2]               | 12      | 380     | 50 *           |
//! | W        | (no closed form used) *             | 9.5 *   | 360 *   | 42 *           |
//! | Lq       | a bound, see below                  | 70      | 476     | 279            |
//! | ρ̂        | 2: busy time ≈ work of n arrivals   | 2       | 2       | 2              |
//!
//! [1] Blomqvist (1967), the M/M/1 case of his GI/G/1 result; [2] Whitt,
//! "Planning queueing simulations" (1989), for the time-average queue length.
//!
//! \* Measured by batch means on an independent FIFO simulation (a Lindley /
//! Kiefer–Wolfowitz recursion in C, 4·10⁸ to 10⁹ customers, ±4 %), rounded
//! up; the same runs reproduce the two closed forms within their sampling
//! error (worst 6 %), and 200 meshsim seeds per case gave the same
//! constants (W: 362 and 364 at ρ = 0.9, 8.7 at ρ = 0.5).
//! Lq is bounded through the sample-path identity Lq = L − busy:
//! sd(Lq) ≤ sd(L) + sd(busy), e.g. at ρ = 0.9 (9·√380 + 0.9·√2)/8.1 = √476.
//!
//! So at ρ = 0.9 the relative standard error of the mean sojourn over n
//! customers is √(360/n): 19 % for 10⁴ customers, 1.9 % for 10⁶, and 0.60 %
//! for the ≈10⁷ simulated here (4 seeds × 2800 s × 900/s), which puts the 3 %
//! tolerance at 5 standard errors (Wq and Lq: ≥ 4.3). Each check asserts
//! that its tolerance is at least [`MIN_SIGMAS`] expected standard errors, so
//! shortening a run cannot silently turn a test into a coin toss.
//!
//! Bias is negligible next to that: the runs start empty, and the integrated
//! deficit of E[N(t)] from an empty start is about σ⁴/(4θ³) customer-seconds
//! (reflected Brownian motion with θ = μ − λ, σ² = λ + μ), 0.9 at ρ = 0.9,
//! that is 0.9/(L·T) = 4·10⁻⁵ of L over T = 2800 s. Requests still in the
//! system at the end (about L of 10⁷) are left out of W: ~10⁻⁶. The summary
//! rounds means to 1 µs: ≤ 0.07 % of the smallest mean checked (0.75 ms).

use std::path::{Path, PathBuf};
use std::thread;

use meshsim::report::Summary;
use meshsim::report::summary::ServiceSummary;
use meshsim::scenario::{self, Compiled};
use meshsim::world;

/// The fixed seeds every theory case averages over.
const SEEDS: [u64; 4] = [101, 202, 303, 404];

/// Service rate per worker: exponential service with mean 1 ms.
const MU_PER_SEC: f64 = 1000.0;

/// A tolerance must be at least this many expected standard errors.
const MIN_SIGMAS: f64 = 4.0;

/// The name of the one service of a theory scenario.
const SERVICE: &str = "server";

// ----- theory -------------------------------------------------------------

/// Steady-state means of a queue (times in ms).
#[derive(Clone, Copy, Debug, PartialEq)]
struct Theory {
    w_ms: f64,
    wq_ms: f64,
    l: f64,
    lq: f64,
    utilisation: f64,
}

/// M/M/1 in closed form.
fn mm1(lambda: f64, mu: f64) -> Theory {
    let rho = lambda / mu;
    Theory {
        w_ms: 1e3 / (mu - lambda),
        wq_ms: 1e3 * rho / (mu - lambda),
        l: rho / (1.0 - rho),
        lq: rho * rho / (1.0 - rho),
        utilisation: rho,
    }
}

/// Erlang C, the probability of waiting in M/M/c with offered load A = λ/μ,
/// through the stable Erlang B recursion B₀ = 1, Bₖ = A·Bₖ₋₁/(k + A·Bₖ₋₁),
/// then C = B/(1 − ρ(1 − B)) with ρ = A/c.
fn erlang_c(servers: u32, offered: f64) -> f64 {
    let mut b = 1.0;
    for k in 1..=servers {
        b = offered * b / (f64::from(k) + offered * b);
    }
    let rho = offered / f64::from(servers);
    b / (1.0 - rho * (1.0 - b))
}

/// M/M/c: Wq = C/(cμ − λ), W = Wq + 1/μ, L = λW, Lq = λWq, utilisation ρ.
fn mmc(lambda: f64, mu: f64, servers: u32) -> Theory {
    let c = f64::from(servers);
    let wait = erlang_c(servers, lambda / mu);
    let wq_s = wait / (c * mu - lambda);
    let w_s = wq_s + 1.0 / mu;
    Theory {
        w_ms: 1e3 * w_s,
        wq_ms: 1e3 * wq_s,
        l: lambda * w_s,
        lq: lambda * wq_s,
        utilisation: lambda / (c * mu),
    }
}

// ----- running ------------------------------------------------------------

/// One instance with `servers` workers, exponential 1 ms service, Poisson
/// arrivals at `lambda` per second, a queue that never fills.
fn station(name: &str, lambda: f64, servers: u32, duration_s: u64) -> Compiled {
    let text = format!(
        r#"{{
  "name": "{name}",
  "duration": "{duration_s}s",
  "window": "{duration_s}s",
  "services": {{
    "{SERVICE}": {{
      "instances": 1,
      "concurrency": {servers},
      "queue_capacity": 100000000,
      "service_time": {{"exponential": {{"mean": "1ms"}}}}
    }}
  }},
  "workload": {{
    "arrivals": {{"poisson": {{"rate": {lambda}}}}},
    "routes": [{{"service": "{SERVICE}"}}]
  }}
}}"#
    );
    scenario::parse(&text, name).unwrap_or_else(|e| panic!("{name} does not parse:\n{e}"))
}

/// Runs `scenario` once per seed, the seeds in parallel; summaries in seed
/// order.
fn run_seeds(scenario: &Compiled, seeds: &[u64]) -> Vec<Summary> {
    thread::scope(|scope| {
        let runs: Vec<_> = seeds
            .iter()
            .map(|&seed| {
                scope.spawn(move || {
                    let outcome = world::run(scenario, seed, None);
                    Summary::new(scenario, seed, &outcome)
                })
            })
            .collect();
        runs.into_iter()
            .map(|run| run.join().expect("a simulation run panicked"))
            .collect()
    })
}

// ----- checking against theory --------------------------------------------

/// A steady-state quantity read from a service's summary.
#[derive(Clone, Copy, Debug)]
enum Metric {
    /// Mean sojourn time, ms.
    W,
    /// Mean wait in queue, ms.
    Wq,
    /// Time-average number in system.
    L,
    /// Time-average number in queue.
    Lq,
    /// Busy workers ÷ workers.
    Utilisation,
}

impl Metric {
    fn name(self) -> &'static str {
        match self {
            Metric::W => "W = latency_ms.mean (ms)",
            Metric::Wq => "Wq = queue_wait_ms.mean (ms)",
            Metric::L => "L = mean_in_system",
            Metric::Lq => "Lq = mean_in_queue",
            Metric::Utilisation => "utilisation",
        }
    }

    fn measured(self, s: &ServiceSummary) -> f64 {
        match self {
            Metric::W => s.latency_ms.mean,
            Metric::Wq => s.queue_wait_ms.mean,
            Metric::L => s.mean_in_system,
            Metric::Lq => s.mean_in_queue,
            Metric::Utilisation => s.utilisation,
        }
    }

    fn theory(self, t: &Theory) -> f64 {
        match self {
            Metric::W => t.w_ms,
            Metric::Wq => t.wq_ms,
            Metric::L => t.l,
            Metric::Lq => t.lq,
            Metric::Utilisation => t.utilisation,
        }
    }
}

/// One comparison: `metric` within relative `tolerance` of theory; `rel_var`
/// is its relative asymptotic variance per customer (the module table).
struct Check {
    metric: Metric,
    tolerance: f64,
    rel_var: f64,
}

/// A single-station case.
struct Case {
    name: &'static str,
    lambda: f64,
    servers: u32,
    duration_s: u64,
    theory: Theory,
    checks: Vec<Check>,
}

/// The checks of a station: means within 3 %, utilisation within 1 % (its
/// standard error is ≤ 0.1 % in every case: ≥ 10 standard errors).
/// `rel_vars` are v for W, Wq, L and Lq, in that order.
fn checks(rel_vars: [f64; 4]) -> Vec<Check> {
    let [w, wq, l, lq] = rel_vars;
    vec![
        Check {
            metric: Metric::W,
            tolerance: 0.03,
            rel_var: w,
        },
        Check {
            metric: Metric::Wq,
            tolerance: 0.03,
            rel_var: wq,
        },
        Check {
            metric: Metric::L,
            tolerance: 0.03,
            rel_var: l,
        },
        Check {
            metric: Metric::Lq,
            tolerance: 0.03,
            rel_var: lq,
        },
        Check {
            metric: Metric::Utilisation,
            tolerance: 0.01,
            rel_var: 2.0,
        },
    ]
}

fn mean(values: &[f64]) -> f64 {
    values.iter().sum::<f64>() / values.len() as f64
}

/// Runs `case` over [`SEEDS`] and checks every metric against theory; all
/// mismatches are reported together.
fn check_case(case: &Case) {
    let scenario = station(case.name, case.lambda, case.servers, case.duration_s);
    let summaries = run_seeds(&scenario, &SEEDS);
    let services: Vec<&ServiceSummary> = summaries.iter().map(|s| &s.services[SERVICE]).collect();
    let customers: u64 = services.iter().map(|s| s.latency_ms.count).sum();
    for (summary, service) in summaries.iter().zip(&services) {
        assert!(
            summary.completed && service.failures.rejected == 0 && service.failures.error == 0,
            "{} seed {}: the run must complete with no rejection nor error \
             (completed {}, rejected {}, errors {})",
            case.name,
            summary.seed,
            summary.completed,
            service.failures.rejected,
            service.failures.error
        );
    }
    let mut failures = Vec::new();
    for check in &case.checks {
        let per_seed: Vec<f64> = services.iter().map(|s| check.metric.measured(s)).collect();
        let measured = mean(&per_seed);
        let theory = check.metric.theory(&case.theory);
        let error = (measured - theory) / theory;
        // Expected standard error of the seed average, from the asymptotic
        // variance; and the empirical one from the spread between seeds (only
        // 3 degrees of freedom: indicative).
        let expected_se = (check.rel_var / customers as f64).sqrt();
        let spread = (per_seed.iter().map(|v| (v - measured).powi(2)).sum::<f64>()
            / (per_seed.len() - 1) as f64)
            .sqrt();
        let empirical_se = spread / (per_seed.len() as f64).sqrt() / measured;
        let line = format!(
            "{} (λ = {}/s, μ = {MU_PER_SEC}/s, c = {}), seeds {SEEDS:?}, {customers} customers: \
             {}: measured {measured:.5}, theory {theory:.5}, relative error {:+.3} % \
             (tolerance {} %; expected standard error {:.3} %, between seeds {:.3} %); \
             per seed {per_seed:?}",
            case.name,
            case.lambda,
            case.servers,
            check.metric.name(),
            100.0 * error,
            100.0 * check.tolerance,
            100.0 * expected_se,
            100.0 * empirical_se,
        );
        eprintln!("{line}");
        assert!(
            check.tolerance >= MIN_SIGMAS * expected_se,
            "run too short for an honest tolerance: it is under {MIN_SIGMAS} expected \
             standard errors: {line}"
        );
        if error.abs() > check.tolerance {
            failures.push(line);
        }
    }
    assert!(
        failures.is_empty(),
        "simulation disagrees with queueing theory:\n{}",
        failures.join("\n")
    );
}

// ----- tests --------------------------------------------------------------

#[test]
fn theory_helpers_match_independent_closed_forms() {
    for rho in [0.1, 0.5, 0.8, 0.9, 0.99] {
        // c = 1: the probability of waiting is ρ, and M/M/c is M/M/1.
        assert!((erlang_c(1, rho) - rho).abs() < 1e-12, "C(1, {rho})");
        let (general, single) = (
            mmc(rho * MU_PER_SEC, MU_PER_SEC, 1),
            mm1(rho * MU_PER_SEC, MU_PER_SEC),
        );
        for metric in [
            Metric::W,
            Metric::Wq,
            Metric::L,
            Metric::Lq,
            Metric::Utilisation,
        ] {
            let (a, b) = (metric.theory(&general), metric.theory(&single));
            assert!(
                (a - b).abs() <= 1e-9 * b.abs(),
                "ρ = {rho}, {}: M/M/c {a} vs M/M/1 {b}",
                metric.name()
            );
        }
        // c = 2: C = 2ρ²/(1 + ρ).
        let two = erlang_c(2, 2.0 * rho);
        assert!(
            (two - 2.0 * rho * rho / (1.0 + rho)).abs() < 1e-12,
            "C(2, {rho}) = {two}"
        );
        // Any c: the textbook sum, computed independently of the recursion.
        for c in 1..=8u32 {
            let a = rho * f64::from(c);
            let mut term = 1.0; // A^k / k!
            let mut below = 0.0;
            for k in 0..c {
                below += term;
                term *= a / f64::from(k + 1);
            }
            let top = term / (1.0 - rho);
            let direct = top / (below + top);
            let recursive = erlang_c(c, a);
            assert!(
                (recursive - direct).abs() < 1e-12,
                "C({c}, {a}): recursion {recursive}, sum {direct}"
            );
        }
    }
    // The bundled mm1 scenario's description: ρ = 0.8 gives W = 5 ms, L = 4.
    let t = mm1(800.0, 1000.0);
    assert!(
        (t.w_ms - 5.0).abs() < 1e-12 && (t.l - 4.0).abs() < 1e-12,
        "{t:?}"
    );
}

/// M/M/1 at ρ = 0.5: 4 × 1000 s × 500/s = 2·10⁶ customers; standard errors
/// W 0.22 %, Wq 0.38 %, L 0.24 %, Lq 0.59 % (≥ 5 below the 3 % tolerance).
#[test]
fn mm1_at_utilisation_0_5_matches_theory() {
    let lambda = 500.0;
    check_case(&Case {
        name: "mm1-rho-0.5",
        lambda,
        servers: 1,
        duration_s: 1000,
        theory: mm1(lambda, MU_PER_SEC),
        checks: checks([9.5, 29.0, 12.0, 70.0]),
    });
}

/// M/M/1 at ρ = 0.9, heavy traffic: 4 × 2800 s × 900/s ≈ 10⁷ customers;
/// standard errors W 0.60 %, Wq 0.66 %, L 0.61 %, Lq 0.69 %.
#[test]
fn mm1_at_utilisation_0_9_matches_theory() {
    let lambda = 900.0;
    check_case(&Case {
        name: "mm1-rho-0.9",
        lambda,
        servers: 1,
        duration_s: 2800,
        theory: mm1(lambda, MU_PER_SEC),
        checks: checks([360.0, 443.0, 380.0, 476.0]),
    });
}

/// M/M/4 at ρ = 0.8 (one instance, concurrency 4) against Erlang C
/// (C = 0.59643, Wq = 0.74554 ms, W = 1.74554 ms): 4 × 500 s × 3200/s =
/// 6.4·10⁶ customers; standard errors W 0.26 %, Wq 0.57 %, L 0.28 %,
/// Lq 0.66 %.
#[test]
fn mmc_with_four_workers_at_utilisation_0_8_matches_erlang_c() {
    let lambda = 3200.0;
    check_case(&Case {
        name: "mmc-4-rho-0.8",
        lambda,
        servers: 4,
        duration_s: 500,
        theory: mmc(lambda, MU_PER_SEC, 4),
        checks: checks([42.0, 205.0, 50.0, 279.0]),
    });
}

/// The bundled scenarios, in sorted order.
fn bundled_scenarios() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios");
    let mut paths: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("cannot list {}: {e}", dir.display()))
        .map(|entry| entry.expect("a directory entry").path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "json"))
        .collect();
    paths.sort();
    assert!(!paths.is_empty(), "no scenario in {}", dir.display());
    paths
}

/// Little's law, L = λW, for every service of every bundled scenario, with
/// the scenario's own seed and three fixed others.
///
/// Over [0, T] from an empty start it is a sample-path identity up to the
/// requests still present at T: ∫N dt = Σ(departed sojourns) + Σ(ages of
/// those present), so L − λW = (ages of those present)/T ≥ 0, of the order
/// of W/T: below 10⁻³ for the bundled 120 s runs (whose W is at most
/// ~0.1 s), with no statistical noise. 2 % is therefore far above the true
/// error, yet any accounting slip in the simulator (a departure or a sojourn
/// not counted, a level not decremented, a crash that loses requests from
/// one count but not the other) that touches more than 2 % of the time in
/// system fails it. The identity also fixes the sign, which is checked too.
#[test]
fn littles_law_holds_for_every_service_of_every_bundled_scenario() {
    const TOLERANCE: f64 = 0.02;
    for path in bundled_scenarios() {
        let scenario = scenario::load(&path).unwrap_or_else(|e| panic!("{}:\n{e}", path.display()));
        let mut seeds = vec![scenario.scenario().seed];
        seeds.extend(
            [1001, 1002, 1003]
                .into_iter()
                .filter(|s| *s != scenario.scenario().seed),
        );
        let summaries = run_seeds(&scenario, &seeds);
        let mut busy_services = 0;
        for summary in &summaries {
            let seed = summary.seed;
            if !summary.completed {
                // A run stopped by a violated invariant ends mid-flight
                // (saga-checkout-broken stops at 25 s with a slowed queue
                // full): the work in the system at the stop has no
                // departure yet, and L = λW is a law of whole runs.
                continue;
            }
            for (name, service) in &summary.services {
                let law = &service.littles_law;
                let label = format!("{} seed {seed} service {name}", path.display());
                assert_eq!(
                    law.l, service.mean_in_system,
                    "{label}: littles_law.l is not mean_in_system"
                );
                let lambda_w = law.lambda_per_sec * law.w_ms / 1e3;
                if law.l == 0.0 {
                    assert!(lambda_w == 0.0, "{label}: L = 0 but λW = {lambda_w}");
                    continue;
                }
                busy_services += 1;
                let recomputed = (law.l - lambda_w).abs() / law.l;
                // The summary's fields are rounded (l, λ to 10⁻⁶, w_ms to
                // 10⁻³ ms, relative_error to 10⁻⁶); this bounds the effect.
                let rounding = (law.lambda_per_sec * 0.5e-6 + law.w_ms * 1e-3 * 0.5e-6 + 1e-6)
                    / law.l
                    + 0.5e-6;
                let message = format!(
                    "{label}: L = {} vs λ·W = {} /s × {} ms = {lambda_w:.6}; relative error \
                     recomputed {recomputed:.6}, reported {} (tolerance {TOLERANCE})",
                    law.l, law.lambda_per_sec, law.w_ms, law.relative_error
                );
                eprintln!("{message}");
                assert!(
                    (recomputed - law.relative_error).abs() <= rounding + 1e-12,
                    "reported and recomputed errors differ by more than rounding ({rounding:.2e}): {message}"
                );
                assert!(
                    recomputed <= TOLERANCE && law.relative_error <= TOLERANCE,
                    "Little's law violated: {message}"
                );
                assert!(
                    law.l >= lambda_w - rounding * law.l,
                    "L < λW, impossible from an empty start: {message}"
                );
            }
        }
        // A scenario whose every run stops on a violation (one built to
        // show it, as saga-checkout-broken is) has no whole run to check.
        let whole_runs = summaries.iter().filter(|s| s.completed).count();
        assert!(
            busy_services > 0 || whole_runs == 0,
            "{}: no service saw any traffic with seeds {seeds:?}",
            path.display()
        );
    }
}
