//! Swarm fault schedules: for one seed, a random subset of the fault kinds
//! the scenario allows (each kind on with probability ½; swarm testing,
//! Groce et al., ISSTA 2012: a test that never mixes in some kinds reaches
//! states that one drawing from all kinds at once rarely does), then 1 to
//! `faults_max` faults of those kinds, each at a random time within the
//! chaos window, with a random length, target and intensity.
//!
//! The draws come from ChaCha8 keyed by the seed and the stream
//! `explore/faults`, apart from every stream of the run, so a seed's
//! schedule is the same on every machine and the run's own numbers are
//! the same with or without it. Times are whole milliseconds and
//! intensities are rounded (factors to 0.1, rates to 0.01), so a written
//! schedule reads as a person would have written it. Log-uniform draws use
//! `libm`, never the platform's `ln` and `exp`.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::kernel::{SimDuration, rng::stream_key};
use crate::scenario::{
    CrashFault, ErrorsFault, ExploreKind, Fault, LatencyFault, LinkRef, LossFault, PartitionFault,
    RegistryOutageFault, SlowdownFault,
};

use super::Explorer;

const MS: u64 = 1_000_000;

/// The faults drawn for `seed`, in time order (the scenario's own are not
/// among them).
pub fn draw(explorer: &Explorer, seed: u64) -> Vec<Fault> {
    let mut rng = ChaCha8Rng::from_seed(stream_key(seed, "explore/faults"));
    let kinds = explorer.kinds();
    let mut enabled: Vec<ExploreKind> = kinds
        .iter()
        .copied()
        .filter(|_| rng.random_bool(0.5))
        .collect();
    if enabled.is_empty() {
        enabled.push(kinds[rng.random_range(0..kinds.len())]);
    }
    let spec = explorer.spec();
    let count = rng.random_range(1..=spec.faults_max);
    let (from, heal_by) = explorer.chaos();
    let (from_ms, heal_ms) = (from.as_nanos().div_ceil(MS), heal_by.as_nanos() / MS);
    let length_min_ms = spec.length_min.as_nanos().div_ceil(MS).max(1);
    let length_max_ms = (spec.length_max.as_nanos() / MS).max(length_min_ms);
    let mut faults = Vec::with_capacity(count as usize);
    for _ in 0..count {
        let kind = enabled[rng.random_range(0..enabled.len())];
        let latest = heal_ms.saturating_sub(length_min_ms).max(from_ms);
        let at = rng.random_range(from_ms..=latest);
        let longest = length_max_ms
            .min(heal_ms.saturating_sub(at))
            .max(length_min_ms);
        let lasts = rng.random_range(length_min_ms..=longest);
        let mut fault = Fault {
            at: SimDuration::from_millis(at),
            lasts: Some(SimDuration::from_millis(lasts)),
            ..Fault::default()
        };
        what(explorer, kind, &mut rng, &mut fault);
        faults.push(fault);
    }
    // A stable sort: equal times keep the order they were drawn in.
    faults.sort_by_key(|f| f.at);
    faults
}

/// Fills in `fault`'s kind, target and intensity.
fn what(explorer: &Explorer, kind: ExploreKind, rng: &mut ChaCha8Rng, fault: &mut Fault) {
    let spec = explorer.spec();
    let scenario = explorer.scenario();
    let targets = kind.targets(scenario, &spec.services);
    let pick =
        |rng: &mut ChaCha8Rng, names: &[&str]| names[rng.random_range(0..names.len())].to_string();
    // One instance, or (half the time) every instance of the service.
    let instance = |rng: &mut ChaCha8Rng, service: &str| {
        let n = scenario.services[service].instances.max(1);
        if rng.random_bool(0.5) {
            Some(rng.random_range(0..n))
        } else {
            None
        }
    };
    let links = explorer.links();
    let link = |rng: &mut ChaCha8Rng| {
        let (from, to) = &links[rng.random_range(0..links.len())];
        LinkRef {
            from: from.clone(),
            to: to.clone(),
        }
    };
    match kind {
        ExploreKind::Crash | ExploreKind::OrchestratorCrash | ExploreKind::BrokerCrash => {
            let service = pick(rng, &targets);
            let instance = instance(rng, &service);
            fault.crash = Some(CrashFault { service, instance });
        }
        ExploreKind::Stop => {
            let service = pick(rng, &targets);
            let instance = instance(rng, &service);
            fault.stop = Some(CrashFault { service, instance });
        }
        ExploreKind::Partition => {
            let mut sides: [Vec<String>; 2] = [Vec::new(), Vec::new()];
            for name in &targets {
                sides[usize::from(rng.random_bool(0.5))].push(name.to_string());
            }
            // Both sides need a service: move one over if one is empty.
            if sides[0].is_empty() || sides[1].is_empty() {
                let (full, empty) = if sides[0].is_empty() { (1, 0) } else { (0, 1) };
                let moved = sides[full].remove(rng.random_range(0..sides[full].len()));
                sides[empty].push(moved);
            }
            fault.partition = Some(PartitionFault {
                between: sides.to_vec(),
            });
        }
        ExploreKind::Slowdown => {
            let service = pick(rng, &targets);
            let instance = instance(rng, &service);
            let factor = round_to(log_uniform(rng, 2.0, spec.slowdown_max), 0.1).max(2.0);
            fault.slowdown = Some(SlowdownFault {
                service,
                instance,
                factor,
            });
        }
        ExploreKind::Latency => {
            let max_ms = (spec.latency_max.as_nanos() / MS).max(1) as f64;
            let add_ms = log_uniform(rng, max_ms.min(10.0), max_ms).round().max(1.0) as u64;
            let add = SimDuration::from_millis(add_ms);
            fault.latency = Some(if !links.is_empty() && rng.random_bool(0.3) {
                LatencyFault {
                    service: None,
                    instance: None,
                    link: Some(link(rng)),
                    add,
                }
            } else {
                let service = pick(rng, &targets);
                let instance = instance(rng, &service);
                LatencyFault {
                    service: Some(service),
                    instance,
                    link: None,
                    add,
                }
            });
        }
        ExploreKind::Errors => {
            let service = pick(rng, &targets);
            let instance = instance(rng, &service);
            fault.errors = Some(ErrorsFault {
                service,
                instance,
                rate: rate(rng, spec.errors_max),
            });
        }
        ExploreKind::Loss => {
            let link = if links.is_empty() || rng.random_bool(0.25) {
                None
            } else {
                Some(link(rng))
            };
            fault.loss = Some(LossFault {
                link,
                rate: rate(rng, spec.loss_max),
            });
        }
        ExploreKind::RegistryOutage => {
            fault.registry_outage = Some(RegistryOutageFault {
                service: pick(rng, &targets),
            });
        }
    }
}

/// A rate from a tenth of `max` to `max`, to 0.01 (at least 0.01).
fn rate(rng: &mut ChaCha8Rng, max: f64) -> f64 {
    let r = rng.random_range(max / 10.0..=max);
    round_to(r, 0.01).clamp(0.01_f64.min(max), max)
}

/// A draw whose logarithm is uniform on [ln lo, ln hi].
fn log_uniform(rng: &mut ChaCha8Rng, lo: f64, hi: f64) -> f64 {
    if hi <= lo {
        return lo;
    }
    let u: f64 = rng.random();
    libm::exp(libm::log(lo) + u * (libm::log(hi) - libm::log(lo)))
}

/// `x` to the nearest multiple of `step`, as a short decimal.
pub(super) fn round_to(x: f64, step: f64) -> f64 {
    let steps = (x / step).round();
    // Through a decimal string, so 0.1 × 3 is written 0.3.
    format!("{:.2}", steps * step).parse().unwrap_or(x)
}
