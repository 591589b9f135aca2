//! Shared pieces of the benchmarks: timing, the M/M/1 scenario, and the bare
//! M/M/1 loop that is the floor of what any simulator must do.
#![allow(dead_code, clippy::disallowed_methods)]

use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};
use std::time::Instant;

use meshsim::kernel::RngStreams;
use meshsim::kernel::dist::exp1;
use meshsim::report::Summary;
use meshsim::scenario::{self, Compiled};
use meshsim::world;

/// Whether this is a real `cargo bench` (not `cargo test --benches`, which
/// runs bench binaries without `--bench` and wants them quick).
pub fn is_real_bench() -> bool {
    std::env::args().any(|a| a == "--bench")
}

/// Wall-clock seconds of `f`, with its result.
pub fn timed<T>(f: impl FnOnce() -> T) -> (f64, T) {
    let start = Instant::now();
    let value = f();
    (start.elapsed().as_secs_f64(), value)
}

/// An M/M/1 scenario: Poisson arrivals at `lambda` per second, exponential
/// service with mean 1 ms (mu = 1000/s), long enough for `requests` arrivals
/// on average.
pub fn mm1_scenario(lambda: f64, requests: u64) -> Compiled {
    let seconds = (requests as f64 / lambda).ceil() as u64;
    let text = serde_json::json!({
        "name": "bench-mm1", "duration": format!("{seconds}s"), "window": "10s", "seed": 1,
        "services": {"server": {"instances": 1, "concurrency": 1, "queue_capacity": 1_000_000,
            "service_time": {"exponential": {"mean": "1ms"}}}},
        "workload": {"arrivals": {"poisson": {"rate": lambda}}, "routes": [{"service": "server"}]}
    })
    .to_string();
    scenario::parse(&text, "bench-mm1.json").expect("the bench scenario is valid")
}

/// Runs a scenario through meshsim's normal path (world, metrics, summary)
/// and returns (wall seconds, requests sent).
pub fn run_meshsim(scenario: &Compiled) -> (f64, u64) {
    let (secs, requests) = timed(|| {
        let seed = scenario.scenario().seed;
        let outcome = world::run(scenario, seed, None);
        let summary = Summary::new(scenario, seed, &outcome);
        std::hint::black_box(summary.to_json());
        summary.routes.values().map(|r| r.requests).sum::<u64>()
    });
    (secs, requests)
}

/// The bare M/M/1 loop: a binary heap of (time, seq, kind), a FIFO of
/// arrival times, the same RNG and sampler, no metrics. Returns (wall
/// seconds, customers completed).
pub fn run_bare_mm1(lambda: f64, requests: u64) -> (f64, u64) {
    timed(|| {
        let streams = RngStreams::new(1);
        let mut arrivals_rng = streams.stream("workload/arrivals");
        let mut service_rng = streams.stream("service/server/time");
        let mean_gap = 1e9 / lambda;
        let mean_service = 1e6;
        let mut heap: BinaryHeap<Reverse<(u64, u64, u8)>> = BinaryHeap::new();
        let mut queue: VecDeque<u64> = VecDeque::new();
        let mut busy = false;
        let mut seq = 0u64;
        let mut arrived = 0u64;
        let mut done = 0u64;
        let mut sojourn_sum = 0u64;
        heap.push(Reverse((
            (exp1(&mut arrivals_rng) * mean_gap).round() as u64,
            seq,
            0,
        )));
        while let Some(Reverse((now, _, kind))) = heap.pop() {
            seq += 1;
            if kind == 0 {
                arrived += 1;
                if arrived < requests {
                    let gap = (exp1(&mut arrivals_rng) * mean_gap).round() as u64;
                    heap.push(Reverse((now + gap, seq, 0)));
                }
                if busy {
                    queue.push_back(now);
                } else {
                    busy = true;
                    queue.push_back(now);
                    let s = (exp1(&mut service_rng) * mean_service).round() as u64;
                    heap.push(Reverse((now + s, seq, 1)));
                }
            } else {
                let started = queue.pop_front().expect("a customer in service");
                sojourn_sum += now - started;
                done += 1;
                if queue.is_empty() {
                    busy = false;
                } else {
                    let s = (exp1(&mut service_rng) * mean_service).round() as u64;
                    heap.push(Reverse((now + s, seq, 1)));
                }
            }
        }
        std::hint::black_box(sojourn_sum);
        done
    })
}

/// The best (highest) of `reps` rates: the run least disturbed by the rest
/// of the machine.
pub fn best_rate(reps: usize, mut f: impl FnMut() -> (f64, u64)) -> (f64, u64) {
    let mut best = (0.0, 0);
    for _ in 0..reps {
        let (secs, n) = f();
        let rate = n as f64 / secs;
        if rate > best.0 {
            best = (rate, n);
        }
    }
    best
}
