//! The balancers' unit tests: round robin's rotation, random's uniformity, the least
//! outstanding scan and its ties, power of two choices and tower's peak-EWMA numbers,
//! ring hash and Maglev (sizes, balance, stability, disruption when a host leaves,
//! views that lag the table), configuration errors, and property tests: no balancer
//! ever picks a host outside the view, and p2c spreads a synthetic load more evenly
//! than random.

use super::hash::MAX_RING_SIZE;
use super::*;
use proptest::prelude::*;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

const MS: u64 = 1_000_000;
const SEC: u64 = 1_000_000_000;

fn rng(seed: u64) -> ChaCha8Rng {
    ChaCha8Rng::seed_from_u64(seed)
}

fn all_configs() -> Vec<BalancerConfig> {
    vec![
        BalancerConfig::RoundRobin,
        BalancerConfig::Random,
        BalancerConfig::LeastOutstanding,
        BalancerConfig::PowerOfTwo(P2cLoad::Outstanding),
        BalancerConfig::PowerOfTwo(P2cLoad::PeakEwma(PeakEwmaConfig::default())),
        BalancerConfig::RingHash(RingHashConfig::default()),
        BalancerConfig::Maglev(MaglevConfig { table_size: 1009 }),
    ]
}

#[test]
fn every_balancer_returns_none_for_an_empty_view_and_the_host_of_a_single_one() {
    for config in all_configs() {
        let mut balancer = Balancer::new(config, 8).unwrap();
        balancer.rebuild(&[0, 1, 2]);
        let mut rng = rng(1);
        assert_eq!(balancer.choose(&[], 5, 0, &mut rng), None, "{config:?}");
        // 7 is not even a member of the hashing tables: still the only choice.
        for key in 0..20 {
            assert_eq!(
                balancer.choose(&[7], key, 0, &mut rng),
                Some(7),
                "{config:?}"
            );
        }
    }
}

#[test]
fn round_robin_rotates_through_a_changing_view_from_a_random_start() {
    let mut rr = RoundRobin::starting_at(0);
    let mut rng = rng(1);
    let mut picks = |view: &[HostId], n: usize| -> Vec<HostId> {
        (0..n).map(|_| rr.choose(view, &mut rng).unwrap()).collect()
    };
    assert_eq!(picks(&[1, 2, 3], 4), vec![1, 2, 3, 1]);
    // Position 4 in a view of 2: index 0, then 1, 0.
    assert_eq!(picks(&[8, 9], 3), vec![8, 9, 8]);
    let starts: std::collections::BTreeSet<HostId> = (0..20)
        .map(|seed| {
            RoundRobin::new()
                .choose(&[0, 1, 2, 3], &mut self::rng(seed))
                .unwrap()
        })
        .collect();
    assert!(starts.len() > 1, "the start depends on the seed");
}

#[test]
fn random_is_uniform_over_the_view() {
    let mut rng = rng(2);
    let mut counts = [0u32; 3];
    for _ in 0..30_000 {
        let host = Random.choose(&[10, 11, 12], &mut rng).unwrap();
        counts[(host - 10) as usize] += 1;
    }
    // 10 000 expected each, standard deviation about 82: 5% is six of them.
    for count in counts {
        assert!((9_500..=10_500).contains(&count), "{counts:?}");
    }
}

#[test]
fn least_outstanding_takes_the_least_busy_and_spreads_ties() {
    let mut least = LeastOutstanding::new(8).unwrap();
    let mut rng = rng(3);
    for host in [0, 0, 1, 2, 2, 2] {
        least.on_send(host);
    }
    assert_eq!(least.choose(&[0, 1, 2], &mut rng), Some(1));
    assert_eq!(least.choose(&[0, 2], &mut rng), Some(0));
    least.on_reply(0);
    least.on_reply(0);
    assert_eq!(least.outstanding(0), 0);
    assert_eq!(least.choose(&[0, 1, 2], &mut rng), Some(0));
    // Three idle hosts: each about a third of the time.
    let idle = LeastOutstanding::new(8).unwrap();
    let mut counts = [0u32; 3];
    for _ in 0..9_000 {
        counts[idle.choose(&[5, 6, 7], &mut rng).unwrap() as usize - 5] += 1;
    }
    for count in counts {
        assert!((2_700..=3_300).contains(&count), "{counts:?}");
    }
}

#[test]
#[should_panic(expected = "beyond the balancer's max_hosts")]
fn a_host_beyond_max_hosts_is_a_bug_of_the_owner() {
    let mut least = LeastOutstanding::new(4).unwrap();
    least.on_send(4);
}

#[test]
fn p2c_keeps_the_first_of_two_equal_hosts_and_takes_the_less_loaded_otherwise() {
    let mut p2c = PowerOfTwo::new(P2cLoad::Outstanding, 8).unwrap();
    let mut rng = rng(4);
    for _ in 0..3 {
        p2c.on_send(1);
    }
    for _ in 0..50 {
        assert_eq!(p2c.choose(&[1, 2], 0, &mut rng), Some(2));
    }
    assert_eq!(p2c.choose(&[1], 0, &mut rng), Some(1));
    // Two distinct hosts are compared: with three hosts and one busy, the busy one
    // wins only if both draws avoid the idle ones, which distinct draws cannot.
    for _ in 0..200 {
        assert_ne!(p2c.choose(&[1, 2, 3], 0, &mut rng), Some(1));
    }
}

/// Relative difference.
fn close(a: f64, b: f64) -> bool {
    ((a - b) / b).abs() < 1e-12
}

#[test]
fn peak_ewma_decays_the_default_estimate_as_tower_does() {
    // tower's `default_decay` test: default 10 ms, decay 1 s.
    let config = PeakEwmaConfig {
        decay: Duration::from_secs(1),
        default_rtt: Duration::from_millis(10),
    };
    let mut p2c = PowerOfTwo::new(P2cLoad::PeakEwma(config), 2).unwrap();
    assert_eq!(p2c.cost(0, 0), 10.0 * MS as f64);
    let cost = p2c.cost(0, 100 * MS);
    assert!(9.0 * MS as f64 <= cost && cost < 10.0 * MS as f64, "{cost}");
    let cost = p2c.cost(0, 200 * MS);
    assert!(8.0 * MS as f64 <= cost && cost < 9.0 * MS as f64, "{cost}");
    assert!(close(cost, 10.0 * MS as f64 * (-0.2f64).exp()));
}

#[test]
fn peak_ewma_jumps_to_a_peak_and_weighs_pending_requests_as_tower_does() {
    // tower's `compound_decay` test: default 20 ms, decay 1 s, two requests of 200 ms.
    let config = PeakEwmaConfig {
        decay: Duration::from_secs(1),
        default_rtt: Duration::from_millis(20),
    };
    let mut p2c = PowerOfTwo::new(P2cLoad::PeakEwma(config), 1).unwrap();
    let ms = MS as f64;
    assert_eq!(p2c.cost(0, 0), 20.0 * ms);
    p2c.on_send(0); // at 100 ms
    assert!(p2c.cost(0, 100 * MS) > 20.0 * ms);
    p2c.on_send(0); // at 200 ms
    assert!(p2c.cost(0, 200 * MS) > 40.0 * ms);
    p2c.on_reply(0, 300 * MS, Duration::from_millis(200)); // above the estimate: the peak
    assert_eq!(p2c.cost(0, 300 * MS), 400.0 * ms); // 200 ms × (1 pending + 1)
    p2c.on_reply(0, 400 * MS, Duration::from_millis(200));
    assert!(close(p2c.cost(0, 400 * MS), 200.0 * ms));
    let estimate = p2c.rtt_estimate(0).unwrap().as_nanos();
    assert!(
        (199_999_999..=200_000_000).contains(&estimate),
        "{estimate}"
    );
    assert!(p2c.cost(0, 1400 * MS) < 100.0 * ms); // decays over idle time
    assert!(p2c.cost(0, 11_400 * MS) < 0.1 * ms);
}

#[test]
fn peak_ewma_prefers_the_host_with_the_lower_latency() {
    let mut p2c = PowerOfTwo::new(P2cLoad::PeakEwma(PeakEwmaConfig::default()), 2).unwrap();
    let mut rng = rng(5);
    let mut now = 0;
    for _ in 0..20 {
        for (host, rtt) in [(0, 5), (1, 50)] {
            p2c.on_send(host);
            now += MS;
            p2c.on_reply(host, now, Duration::from_millis(rtt));
        }
    }
    for _ in 0..20 {
        assert_eq!(p2c.choose(&[0, 1], now, &mut rng), Some(0));
    }
}

/// Average over the run of the busiest host's requests in flight, divided by the
/// mean (`in_flight / hosts`), for a load of `in_flight` requests kept constant: each
/// step one request in flight, chosen at random, completes and a new one is placed.
fn imbalance(config: BalancerConfig, seed: u64) -> f64 {
    const HOSTS: u32 = 10;
    const IN_FLIGHT: usize = 50;
    const STEPS: usize = 20_000;
    let mut balancer = Balancer::new(config, HOSTS).unwrap();
    let view: Vec<HostId> = (0..HOSTS).collect();
    let mut rng = rng(seed);
    let mut load = [0u32; HOSTS as usize];
    let mut requests: Vec<HostId> = Vec::with_capacity(IN_FLIGHT);
    let mut sum_max = 0u64;
    for step in 0..STEPS + IN_FLIGHT {
        if requests.len() == IN_FLIGHT {
            let i = crate::uniform_inclusive(&mut rng, 0, IN_FLIGHT as u64 - 1) as usize;
            let host = requests.swap_remove(i);
            load[host as usize] -= 1;
            balancer.on_reply(host, step as u64, Duration::ZERO);
        }
        let host = balancer.choose(&view, 0, step as u64, &mut rng).unwrap();
        balancer.on_send(host);
        load[host as usize] += 1;
        requests.push(host);
        if step >= IN_FLIGHT {
            sum_max += u64::from(*load.iter().max().unwrap());
        }
    }
    let mean = IN_FLIGHT as f64 / f64::from(HOSTS);
    sum_max as f64 / STEPS as f64 / mean
}

#[test]
fn p2c_spreads_a_synthetic_load_more_evenly_than_random() {
    let random = imbalance(BalancerConfig::Random, 9);
    let p2c = imbalance(BalancerConfig::PowerOfTwo(P2cLoad::Outstanding), 9);
    let least = imbalance(BalancerConfig::LeastOutstanding, 9);
    // Measured (seeds 9 to 11): random 1.73, p2c 1.30, a full scan 1.00 (it keeps
    // the loads equal, one completion at a time). The averages over 20 000 steps vary
    // by about 0.005 from seed to seed, so the margins below are many times that.
    assert!(random > 1.6, "random {random}");
    assert!(p2c < 0.8 * random, "p2c {p2c} vs random {random}");
    assert!(least <= p2c, "least {least} vs p2c {p2c}");
}

fn ring(members: &[HostId]) -> RingHash {
    let mut ring = RingHash::new(RingHashConfig::default(), 64).unwrap();
    ring.rebuild(members);
    ring
}

fn maglev(members: &[HostId]) -> Maglev {
    let mut maglev = Maglev::new(MaglevConfig::default(), 64).unwrap();
    maglev.rebuild(members);
    maglev
}

#[test]
fn ring_sizes_follow_envoys_rule() {
    assert_eq!(ring(&[0, 1, 2]).points_per_host(), 342); // ceil(1024 / 3)
    assert_eq!(ring(&[0, 1, 2]).len(), 1026);
    assert_eq!(ring(&[]).len(), 0);
    let vnodes = RingHashConfig {
        points_per_host: Some(100),
        ..RingHashConfig::default()
    };
    let mut fixed = RingHash::new(vnodes, 8).unwrap();
    fixed.rebuild(&[1, 1, 3]); // duplicates do not count twice
    assert_eq!((fixed.points_per_host(), fixed.len()), (100, 200));
    let capped = RingHashConfig {
        minimum_ring_size: 16,
        maximum_ring_size: 32,
        points_per_host: None,
    };
    let mut small = RingHash::new(capped, 64).unwrap();
    small.rebuild(&(0..40).collect::<Vec<_>>());
    assert_eq!(small.points_per_host(), 1, "at least one point per host");
    small.rebuild(&[0, 1]);
    assert_eq!(small.points_per_host(), 8);
}

fn fixed_ring(members: &[HostId]) -> RingHash {
    let config = RingHashConfig {
        points_per_host: Some(100),
        ..RingHashConfig::default()
    };
    let mut ring = RingHash::new(config, 64).unwrap();
    ring.rebuild(members);
    ring
}

#[test]
fn a_ring_choice_over_a_lagging_view_skips_the_missing_hosts_points() {
    // With a fixed number of points per host, skipping the points of hosts missing
    // from the view is exactly the ring rebuilt without them.
    let members: Vec<HostId> = (0..10).collect();
    let view: Vec<HostId> = members
        .iter()
        .copied()
        .filter(|&h| h != 3 && h != 7)
        .collect();
    let mut full = fixed_ring(&members);
    let rebuilt = fixed_ring(&view);
    for key in 0..3_000 {
        assert_eq!(full.choose(&view, key), rebuilt.lookup(key), "key {key}");
        assert_eq!(full.choose(&members, key), full.lookup(key));
    }
    // With Envoy's rule the rebuilt ring gives every host more points, so the two
    // differ a little; the choice still never leaves the view, and keys of hosts in
    // the view stay where they were.
    let mut envoy = ring(&members);
    for key in 0..3_000 {
        let host = envoy.choose(&view, key).unwrap();
        assert!(view.contains(&host));
        let before = envoy.lookup(key).unwrap();
        if view.contains(&before) {
            assert_eq!(host, before);
        }
    }
}

#[test]
fn removing_one_of_ten_hosts_moves_about_a_tenth_of_the_keys() {
    // 10 000 keys, one host of 10 leaves: the keys it held move, 1/10 on average.
    // With 100 points per host, a host's share has a standard deviation of about
    // 0.1 / sqrt(100) = 0.01 (Maglev's is far smaller); the key sample adds 0.003.
    // 0.07..0.13 is three standard deviations either side.
    let members: Vec<HostId> = (0..10).collect();
    let after: Vec<HostId> = members.iter().copied().filter(|&h| h != 3).collect();
    let ring_moves = Disruption::measure(&fixed_ring(&members), &fixed_ring(&after), 0..10_000);
    let maglev_moves = Disruption::measure(&maglev(&members), &maglev(&after), 0..10_000);
    for moves in [ring_moves, maglev_moves] {
        assert_eq!(moves.keys, 10_000);
        assert!((0.07..0.13).contains(&moves.moved_share()), "{moves:?}");
    }
    // A ring with fixed points moves only the leaver's keys; Maglev a few more (the
    // paper's "small extra disruption"; measured 0.25% over 200 000 keys, as an
    // independent implementation with random offsets and skips gives 0.2% to 0.4%).
    assert_eq!(ring_moves.moved_from_kept, 0);
    assert!(maglev_moves.kept_moved_share() < 0.01, "{maglev_moves:?}");
    // Adding the host back moves the same keys back.
    let back = Disruption::measure(&fixed_ring(&after), &fixed_ring(&members), 0..10_000);
    assert_eq!(back.moved, ring_moves.moved);
}

#[test]
fn envoys_ring_moves_keys_between_the_hosts_that_stay_when_the_count_changes() {
    // Envoy gives each host ceil(minimum_ring_size / hosts) points: 103 with 10 hosts,
    // 114 with 9. When one leaves, the others gain 11 points each, and those points
    // take keys from the other hosts that stayed. About 9 × 11 / 1026 = 9.6% of the
    // ring is covered by new points, 8/9 of which belonged to another staying host:
    // about 8.6% of their keys move. Measured: 8.2% (727 of 8837).
    let members: Vec<HostId> = (0..10).collect();
    let after: Vec<HostId> = members.iter().copied().filter(|&h| h != 3).collect();
    let moves = Disruption::measure(&ring(&members), &ring(&after), 0..10_000);
    assert!(
        (0.05..0.12).contains(&moves.kept_moved_share()),
        "{moves:?}"
    );
    assert!((0.15..0.23).contains(&moves.moved_share()), "{moves:?}");
}

#[test]
fn maglev_tables_are_balanced_and_stable() {
    let shares = maglev(&(0..10).collect::<Vec<_>>()).entries_per_host();
    // The hosts take turns until the table is full: 6553 or 6554 entries each.
    assert!(shares.iter().all(|&s| s == 6553 || s == 6554), "{shares:?}");
    assert_eq!(shares.iter().sum::<u32>(), DEFAULT_MAGLEV_TABLE_SIZE);
    // The same members in another order give the same table (Envoy sorts them).
    let a = maglev(&[4, 9, 1, 7]);
    let b = maglev(&[7, 1, 9, 4, 4]);
    for key in 0..2_000 {
        assert_eq!(a.lookup(key), b.lookup(key));
    }
    // A table smaller than the membership leaves hosts out but still answers.
    let mut tiny = Maglev::new(MaglevConfig { table_size: 3 }, 8).unwrap();
    tiny.rebuild(&[0, 1, 2, 3, 4]);
    assert_eq!(tiny.entries_per_host(), vec![1, 1, 1, 0, 0]);
    assert_eq!(
        tiny.choose(&[3, 4], 11).map(|h| h == 3 || h == 4),
        Some(true)
    );
}

#[test]
fn hashing_balancers_send_a_key_to_the_same_host_until_the_table_changes() {
    for config in [
        BalancerConfig::RingHash(RingHashConfig::default()),
        BalancerConfig::Maglev(MaglevConfig::default()),
    ] {
        let mut balancer = Balancer::new(config, 16).unwrap();
        balancer.rebuild(&[0, 1, 2, 3, 4]);
        let mut rng = rng(6);
        let view = [0, 1, 2, 3, 4];
        let first: Vec<_> = (0..100)
            .map(|key| balancer.choose(&view, key, 0, &mut rng))
            .collect();
        let again: Vec<_> = (0..100)
            .map(|key| balancer.choose(&view, key, SEC, &mut rng))
            .collect();
        assert_eq!(first, again);
        let distinct: std::collections::BTreeSet<_> = first.iter().collect();
        assert_eq!(distinct.len(), 5, "{config:?} spreads keys over every host");
    }
}

#[test]
fn the_view_filter_survives_its_epoch_wrapping() {
    let mut filter = ViewFilter::new(4);
    filter.epoch = u32::MAX - 1;
    filter.mark(&[1]);
    assert!(filter.contains(1));
    filter.mark(&[2]); // wraps
    assert!(filter.contains(2));
    assert!(!filter.contains(1));
    filter.mark(&[3]);
    assert!(!filter.contains(2));
    assert!(filter.contains(3));
    assert!(!filter.contains(9));
}

#[test]
fn bad_configurations_are_errors() {
    let error = |config| Balancer::new(config, 8).unwrap_err();
    for size in [0, 1, 65_536, 1_000_000] {
        assert_eq!(
            error(BalancerConfig::Maglev(MaglevConfig { table_size: size })).field,
            "table_size"
        );
    }
    assert!(Balancer::new(BalancerConfig::Maglev(MaglevConfig { table_size: 2 }), 8).is_ok());
    assert_eq!(
        error(BalancerConfig::Maglev(MaglevConfig {
            table_size: MAX_MAGLEV_TABLE_SIZE + 2
        }))
        .field,
        "table_size"
    );
    let ring = |minimum, maximum, points| {
        BalancerConfig::RingHash(RingHashConfig {
            minimum_ring_size: minimum,
            maximum_ring_size: maximum,
            points_per_host: points,
        })
    };
    assert_eq!(error(ring(0, 10, None)).field, "minimum_ring_size");
    assert_eq!(error(ring(20, 10, None)).field, "minimum_ring_size");
    assert_eq!(
        error(ring(1, MAX_RING_SIZE + 1, None)).field,
        "maximum_ring_size"
    );
    assert_eq!(error(ring(1, 10, Some(0))).field, "points_per_host");
    let ewma = |decay, default_rtt| {
        BalancerConfig::PowerOfTwo(P2cLoad::PeakEwma(PeakEwmaConfig { decay, default_rtt }))
    };
    assert_eq!(
        error(ewma(Duration::ZERO, Duration::from_secs(1))).field,
        "decay"
    );
    assert_eq!(
        error(ewma(Duration::from_secs(1), Duration::ZERO)).field,
        "default_rtt"
    );
    assert_eq!(
        Balancer::new(BalancerConfig::Random, MAX_HOSTS + 1)
            .unwrap_err()
            .field,
        "max_hosts"
    );
}

#[derive(Clone, Debug)]
enum Op {
    /// Choose for this key among the hosts of this mask (bit i: host i).
    Choose(u16, u64),
    /// Send to the chosen host later replied by `Reply`.
    Reply(u64),
    Rebuild(u16),
    Advance(u64),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (any::<u16>(), any::<u64>()).prop_map(|(mask, key)| Op::Choose(mask, key)),
        2 => (0..100u64).prop_map(Op::Reply),
        1 => any::<u16>().prop_map(Op::Rebuild),
        1 => (1..1_000u64).prop_map(Op::Advance),
    ]
}

fn hosts_of(mask: u16) -> Vec<HostId> {
    (0..16).filter(|i| mask & (1 << i) != 0).collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    /// Whatever the policy, the membership, the views (which may hold hosts the table
    /// does not know) and the requests in flight: a choice is a host of the view, and
    /// `None` only for an empty view.
    #[test]
    fn no_balancer_ever_picks_a_host_outside_the_view(
        which in 0..7usize,
        seed in any::<u64>(),
        members in any::<u16>(),
        ops in proptest::collection::vec(op(), 1..120),
    ) {
        let config = all_configs()[which];
        let mut balancer = Balancer::new(config, 16).unwrap();
        balancer.rebuild(&hosts_of(members));
        let mut rng = rng(seed);
        let mut now = 0;
        let mut in_flight: Vec<HostId> = Vec::new();
        for op in ops {
            match op {
                Op::Choose(mask, key) => {
                    let view = hosts_of(mask);
                    let chosen = balancer.choose(&view, key, now, &mut rng);
                    prop_assert_eq!(chosen.is_none(), view.is_empty());
                    if let Some(host) = chosen {
                        prop_assert!(view.contains(&host), "{} not in {:?}", host, view);
                        balancer.on_send(host);
                        in_flight.push(host);
                    }
                }
                Op::Reply(rtt_ms) => {
                    if let Some(host) = in_flight.pop() {
                        balancer.on_reply(host, now, Duration::from_millis(rtt_ms));
                    }
                }
                Op::Rebuild(mask) => balancer.rebuild(&hosts_of(mask)),
                Op::Advance(ms) => now += ms * MS,
            }
            for host in 0..16 {
                let expected = in_flight.iter().filter(|&&h| h == host).count() as u32;
                if let Some(count) = balancer.outstanding(host) {
                    prop_assert_eq!(count, expected);
                }
            }
        }
    }
}
