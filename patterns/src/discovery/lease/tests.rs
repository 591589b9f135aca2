//! The lease registry's unit tests: strict expiry and Eureka's doubled expiry, the
//! renewal bucket, self-preservation with Eureka's default numbers (10 clients, 17
//! renewals a minute), the eviction cap sweep by sweep, the late-sweep compensation,
//! capacity, and property tests (no eviction in self-preservation, the cap, a sweep is
//! a function of the seed).

use super::*;
use proptest::prelude::*;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

const SEC: u64 = 1_000_000_000;

fn registry(config: LeaseConfig, capacity: u32) -> LeaseRegistry {
    LeaseRegistry::new(config, capacity, 0).unwrap()
}

fn no_preservation() -> LeaseConfig {
    LeaseConfig {
        self_preservation: false,
        ..LeaseConfig::default()
    }
}

/// Runs a sweep every `every` seconds in `(from, to]` and returns (second, evicted).
fn sweeps(
    registry: &mut LeaseRegistry,
    rng: &mut ChaCha8Rng,
    from: u64,
    to: u64,
    every: u64,
) -> Vec<(u64, Vec<HostId>)> {
    let mut out = Vec::new();
    let mut t = from + every;
    while t <= to {
        let evicted = registry.evict(t * SEC, rng).to_vec();
        if !evicted.is_empty() {
            out.push((t, evicted));
        }
        t += every;
    }
    out
}

#[test]
fn a_lease_expires_strictly_after_its_duration() {
    let mut registry = registry(no_preservation(), 4);
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    registry.register(0, 1).unwrap();
    assert_eq!(registry.expires_after(1), Some(90 * SEC));
    assert!(registry.evict(90 * SEC, &mut rng).is_empty()); // now == expiry: not yet
    assert_eq!(registry.evict(90 * SEC + 1, &mut rng), &[1]);
    assert!(!registry.is_registered(1));
    assert_eq!(registry.stats().evictions, 1);
}

#[test]
fn a_renewal_expires_one_duration_later_or_two_with_eurekas_quirk() {
    // Renewed at 30 s and never again; sweeps every second.
    let expiry = |double: bool| {
        let config = LeaseConfig {
            eureka_double_expiry: double,
            eviction_interval: Duration::from_secs(1),
            ..no_preservation()
        };
        let mut registry = registry(config, 1);
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        registry.register(0, 0).unwrap();
        assert!(registry.renew(30 * SEC, 0));
        let evicted = sweeps(&mut registry, &mut rng, 30, 400, 1);
        assert_eq!(evicted.len(), 1);
        evicted[0].0
    };
    assert_eq!(expiry(false), 121); // 30 + 90, strictly after
    assert_eq!(expiry(true), 211); // 30 + 2 × 90: Lease.renew() adds the duration
}

#[test]
fn renewals_are_counted_in_the_last_completed_window() {
    let mut registry = registry(LeaseConfig::default(), 2);
    registry.register(0, 0).unwrap();
    registry.renew(10 * SEC, 0);
    registry.renew(50 * SEC, 0);
    assert_eq!(registry.renewals_in_last_window(59 * SEC), 0);
    assert_eq!(registry.renewals_in_last_window(60 * SEC), 2);
    assert_eq!(registry.renewals_in_last_window(119 * SEC), 2);
    assert_eq!(registry.renewals_in_last_window(120 * SEC), 0);
    registry.renew(130 * SEC, 0); // bucket 2
    assert_eq!(registry.renewals_in_last_window(180 * SEC), 1);
    assert_eq!(registry.renewals_in_last_window(240 * SEC), 0); // bucket 3 was empty
    assert_eq!(registry.renewals_in_last_window(900 * SEC), 0);
}

/// Ten clients registered at 0 renew every 30 s; `dead` of them stop after their
/// renewal at 120 s. Sweeps every 60 s up to 600 s. Returns the evictions.
fn ten_clients(dead: u32) -> (LeaseRegistry, Vec<(u64, Vec<HostId>)>) {
    let mut registry = registry(LeaseConfig::default(), 10);
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    for id in 0..10 {
        registry.register(0, id).unwrap();
    }
    let mut evicted = Vec::new();
    for t in (30..=600).step_by(30) {
        for id in 0..10 {
            if t <= 120 || id >= dead {
                registry.renew(t * SEC, id);
            }
        }
        if t % 60 == 0 {
            if t == 60 {
                // 10 renewals (at 30 s) in the first minute: not above 17.
                assert!(registry.self_preservation_active(t * SEC));
            }
            if t == 120 {
                assert_eq!(registry.renewals_in_last_window(t * SEC), 20);
                assert!(!registry.self_preservation_active(t * SEC));
            }
            let out = registry.evict(t * SEC, &mut rng).to_vec();
            if !out.is_empty() {
                evicted.push((t, out));
            }
        }
    }
    (registry, evicted)
}

#[test]
fn self_preservation_keeps_two_dead_clients_of_ten_forever() {
    // Eureka's defaults: threshold (int)(10 × 2 × 0.85) = 17, and the renewals must be
    // above it. Two of ten dead: 16 a minute, self-preservation, nothing is evicted
    // although both leases expired at 210 s.
    let (registry, evicted) = ten_clients(2);
    assert_eq!(registry.renewal_threshold(), 17);
    assert_eq!(registry.renewals_in_last_window(600 * SEC), 16);
    assert!(registry.self_preservation_active(600 * SEC));
    assert!(evicted.is_empty());
    assert_eq!(registry.len(), 10);
    assert!(registry.stats().sweeps_in_self_preservation >= 6);
}

#[test]
fn one_dead_client_of_ten_is_evicted_at_the_first_sweep_after_expiry() {
    // 18 renewals a minute > 17: expiration stays on; its lease (renewed at 120 s)
    // expires after 210 s, the sweep at 240 s evicts it.
    let (registry, evicted) = ten_clients(1);
    assert_eq!(evicted, vec![(240, vec![0])]);
    assert_eq!(registry.len(), 9);
    assert_eq!(registry.renewal_threshold(), 15); // (int)(9 × 2 × 0.85)
}

#[test]
fn a_sweep_evicts_at_most_the_registry_size_minus_its_truncated_threshold_share() {
    // Ten leases that all expired at 90 s, self-preservation off: the limit is
    // len − (int)(len × 0.85), sweep by sweep: 10 → 2, 8 → 2, 6 → 1, 5 → 1, ...
    let mut registry = registry(no_preservation(), 10);
    let mut rng = ChaCha8Rng::seed_from_u64(3);
    for id in 0..10 {
        registry.register(0, id).unwrap();
    }
    let counts: Vec<usize> = sweeps(&mut registry, &mut rng, 60, 600, 60)
        .iter()
        .map(|(_, ids)| ids.len())
        .collect();
    assert_eq!(counts, vec![2, 2, 1, 1, 1, 1, 1, 1]);
    assert!(registry.is_empty());
    // 20 leases: (int)(20 × 0.85) = 17, so 3 (15%).
    let mut big = self::registry(no_preservation(), 20);
    for id in 0..20 {
        big.register(0, id).unwrap();
    }
    assert_eq!(big.eviction_limit(), 3);
    assert_eq!(big.evict(120 * SEC, &mut rng).len(), 3);
}

#[test]
fn the_random_choice_is_a_function_of_the_seed() {
    let run = |seed: u64| {
        let mut registry = registry(no_preservation(), 20);
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        for id in 0..20 {
            registry.register(0, id).unwrap();
        }
        registry.evict(120 * SEC, &mut rng).to_vec()
    };
    assert_eq!(run(5), run(5));
    let distinct: std::collections::BTreeSet<Vec<HostId>> = (0..8).map(run).collect();
    assert!(distinct.len() > 1, "the choice depends on the seed");
}

#[test]
fn a_late_sweep_adds_its_lateness_to_every_lease() {
    let mut registry = registry(no_preservation(), 1);
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    registry.register(0, 0).unwrap();
    assert!(registry.evict(0, &mut rng).is_empty());
    registry.renew(40 * SEC, 0); // expires after 130 s
    assert!(registry.evict(60 * SEC, &mut rng).is_empty());
    // 60 s late: judged against 40 + 90 + 60 = 190 s.
    assert!(registry.evict(180 * SEC, &mut rng).is_empty());
    assert_eq!(registry.evict(240 * SEC, &mut rng), &[0]);
}

#[test]
fn capacity_refusal_re_registration_and_cancellation() {
    let mut registry = registry(LeaseConfig::default(), 3);
    assert_eq!(registry.register(0, 3), Err(Refused { id: 3, capacity: 3 }));
    registry.register(0, 2).unwrap();
    registry.register(10 * SEC, 2).unwrap(); // a fresh lease, not a second one
    assert_eq!(registry.len(), 1);
    assert_eq!(registry.expires_after(2), Some(100 * SEC));
    assert_eq!(registry.stats().renewals, 0);
    assert!(registry.cancel(20 * SEC, 2));
    assert!(!registry.cancel(20 * SEC, 2));
    assert!(!registry.renew(30 * SEC, 2)); // 404: the client must register again
    assert!(!registry.renew(30 * SEC, 99));
    assert_eq!(registry.stats().renewals_not_found, 2);
    assert_eq!(registry.stats().cancellations, 1);
    assert!(registry.is_empty());
}

#[test]
fn an_empty_or_young_registry_is_in_self_preservation() {
    // Threshold 0 disables expiration (Eureka: `numberOfRenewsPerMinThreshold > 0`).
    let registry = registry(LeaseConfig::default(), 3);
    assert!(registry.self_preservation_active(0));
    let off = self::registry(no_preservation(), 3);
    assert!(!off.self_preservation_active(0));
}

#[test]
fn bad_configurations_are_errors() {
    let field = |config: LeaseConfig| config.validate().unwrap_err().field;
    let base = LeaseConfig::default();
    assert_eq!(
        field(LeaseConfig {
            lease_duration: Duration::ZERO,
            ..base
        }),
        "lease_duration"
    );
    assert_eq!(
        field(LeaseConfig {
            renewal_interval: Duration::ZERO,
            ..base
        }),
        "renewal_interval"
    );
    assert_eq!(
        field(LeaseConfig {
            renewal_percent_threshold: 1.5,
            ..base
        }),
        "renewal_percent_threshold"
    );
    assert_eq!(
        field(LeaseConfig {
            renewal_percent_threshold: f64::NAN,
            ..base
        }),
        "renewal_percent_threshold"
    );
    assert_eq!(
        field(LeaseConfig {
            renewal_window: Duration::ZERO,
            ..base
        }),
        "renewal_window"
    );
    assert_eq!(
        field(LeaseConfig {
            eviction_interval: Duration::ZERO,
            ..base
        }),
        "eviction_interval"
    );
    assert_eq!(
        LeaseRegistry::new(base, MAX_CAPACITY + 1, 0)
            .unwrap_err()
            .field,
        "capacity"
    );
}

#[derive(Clone, Debug)]
enum Op {
    Register(HostId),
    Renew(HostId),
    Cancel(HostId),
    Advance(u64),
    Evict,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        1 => (0..12u32).prop_map(Op::Register),
        4 => (0..12u32).prop_map(Op::Renew),
        1 => (0..12u32).prop_map(Op::Cancel),
        2 => (1..40u64).prop_map(Op::Advance),
        1 => Just(Op::Evict),
    ]
}

/// Replays `ops` and returns every sweep's evictions, checking the invariants on the
/// way.
fn replay(config: LeaseConfig, seed: u64, ops: &[Op]) -> Result<Vec<Vec<HostId>>, TestCaseError> {
    let mut registry = LeaseRegistry::new(config, 10, 0).unwrap();
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut now = 0;
    let mut sweeps = Vec::new();
    for op in ops {
        match *op {
            Op::Register(id) => {
                let result = registry.register(now, id);
                prop_assert_eq!(result.is_ok(), id < 10);
            }
            Op::Renew(id) => {
                let registered = registry.is_registered(id);
                prop_assert_eq!(registry.renew(now, id), registered);
            }
            Op::Cancel(id) => {
                let registered = registry.is_registered(id);
                prop_assert_eq!(registry.cancel(now, id), registered);
            }
            Op::Advance(seconds) => now += seconds * SEC,
            Op::Evict => {
                let preserving = registry.self_preservation_active(now);
                let limit = registry.eviction_limit() as usize;
                let before = registry.len();
                let expiries: Vec<Option<Nanos>> =
                    (0..10).map(|id| registry.expires_after(id)).collect();
                let evicted = registry.evict(now, &mut rng).to_vec();
                if preserving {
                    prop_assert!(
                        evicted.is_empty(),
                        "evicted {:?} in self-preservation",
                        evicted
                    );
                }
                prop_assert!(evicted.len() <= limit);
                prop_assert_eq!(registry.len() as usize, before as usize - evicted.len());
                for id in &evicted {
                    let expiry = expiries[*id as usize];
                    prop_assert!(expiry.is_some_and(|at| now > at), "{} was not expired", id);
                    prop_assert!(!registry.is_registered(*id));
                }
                sweeps.push(evicted);
            }
        }
        prop_assert_eq!(registry.members().count(), registry.len() as usize);
    }
    Ok(sweeps)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]

    /// No sweep evicts while self-preservation is on, none evicts more than the cap or
    /// a lease that had not expired, and a sweep is a function of the seed.
    #[test]
    fn sweeps_respect_self_preservation_the_cap_and_the_seed(
        preservation in any::<bool>(),
        double in any::<bool>(),
        threshold in prop_oneof![Just(0.85), 0.0..=1.0f64],
        seed in any::<u64>(),
        ops in proptest::collection::vec(op(), 1..150),
    ) {
        let config = LeaseConfig {
            self_preservation: preservation,
            eureka_double_expiry: double,
            renewal_percent_threshold: threshold,
            lease_duration: Duration::from_secs(30),
            renewal_interval: Duration::from_secs(10),
            renewal_window: Duration::from_secs(20),
            ..LeaseConfig::default()
        };
        let first = replay(config, seed, &ops)?;
        let second = replay(config, seed, &ops)?;
        prop_assert_eq!(first, second);
    }
}
