//! The classic hold model: N pending events; each popped event schedules one
//! new event at now + Exp(mean 1 ms). Measures the kernel (queue + run loop)
//! against a bare `std::collections::BinaryHeap` loop doing the same work with
//! the same random numbers.
//!
//! Run: `cargo bench --bench kernel`. The last line is machine-readable:
//! `kernel_events_per_sec=<f> heap_events_per_sec=<f> ratio=<kernel/heap>`
//! for N = 1,000.

// A benchmark measures wall-clock time by definition.
#![allow(clippy::disallowed_methods)]

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::hint::black_box;
use std::time::Instant;

use meshsim::kernel::dist::exp1;
use meshsim::kernel::{
    ChaCha8Rng, Control, Kernel, Model, RngStreams, RunLimits, SimDuration, SimTime,
};

const MEAN_DELAY_NS: f64 = 1_000_000.0;

struct Hold {
    rng: ChaCha8Rng,
}

impl Model for Hold {
    type Event = u32;
    #[inline]
    fn handle(&mut self, kernel: &mut Kernel<u32>, event: u32) -> Control {
        let delay = SimDuration::from_nanos_f64(exp1(&mut self.rng) * MEAN_DELAY_NS);
        kernel.schedule_in(delay, event);
        Control::Continue
    }
}

fn kernel_hold(n: usize, events: u64) -> f64 {
    let mut model = Hold {
        rng: RngStreams::new(1).stream("hold"),
    };
    let mut kernel = Kernel::new();
    for i in 0..n {
        let delay = SimDuration::from_nanos_f64(exp1(&mut model.rng) * MEAN_DELAY_NS);
        kernel.schedule_at(SimTime::ZERO + delay, i as u32);
    }
    let start = Instant::now();
    let limits = RunLimits {
        event_budget: events,
        ..RunLimits::until(SimTime::MAX)
    };
    kernel.run(&mut model, limits);
    let secs = start.elapsed().as_secs_f64();
    black_box(kernel.now());
    assert_eq!(kernel.events_processed(), events);
    events as f64 / secs
}

fn heap_hold(n: usize, events: u64) -> f64 {
    let mut rng = RngStreams::new(1).stream("hold");
    let mut heap: BinaryHeap<Reverse<(u64, u64, u32)>> = BinaryHeap::new();
    let mut seq = 0u64;
    for i in 0..n {
        let delay = SimDuration::from_nanos_f64(exp1(&mut rng) * MEAN_DELAY_NS);
        heap.push(Reverse((delay.as_nanos(), seq, i as u32)));
        seq += 1;
    }
    let start = Instant::now();
    let mut now = 0;
    for _ in 0..events {
        let Reverse((time, _, event)) = heap.pop().expect("hold keeps N events");
        now = time;
        let delay = SimDuration::from_nanos_f64(exp1(&mut rng) * MEAN_DELAY_NS);
        heap.push(Reverse((now + delay.as_nanos(), seq, event)));
        seq += 1;
    }
    let secs = start.elapsed().as_secs_f64();
    black_box(now);
    events as f64 / secs
}

/// The best of `reps` runs: the least disturbed by the rest of the machine.
fn best(reps: usize, mut f: impl FnMut() -> f64) -> f64 {
    (0..reps).map(|_| f()).fold(0.0, f64::max)
}

fn main() {
    // `cargo test --benches` runs this binary with no `--bench`: keep it quick.
    let quick = !std::env::args().any(|a| a == "--bench");
    let scale = if quick { 100 } else { 1 };
    println!("hold model: each event schedules one more at now + Exp(1 ms)");
    println!(
        "{:>10} {:>12} {:>16} {:>16} {:>8}",
        "N", "events", "kernel ev/s", "heap ev/s", "ratio"
    );
    let mut last = (0.0, 0.0);
    for (n, events) in [(1_000_000usize, 10_000_000u64), (1_000, 20_000_000)] {
        let events = events / scale;
        let kernel = best(3, || kernel_hold(n, events));
        let heap = best(3, || heap_hold(n, events));
        println!(
            "{:>10} {:>12} {:>16.0} {:>16.0} {:>8.3}",
            n,
            events,
            kernel,
            heap,
            kernel / heap
        );
        last = (kernel, heap);
    }
    println!(
        "kernel_events_per_sec={:.0} heap_events_per_sec={:.0} ratio={:.3}",
        last.0,
        last.1,
        last.0 / last.1
    );
}
