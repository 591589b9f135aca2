//! The outlier detector's unit tests: consecutive 5xx and gateway failures and what
//! resets them, ejection times, the backoff multiplier's growth, cap and decay, success
//! rate with Envoy's own worked example, `max_ejection_percent` under each Envoy
//! rule, the two panic-threshold surprises users meet, membership and active health
//! checks, and property tests (the rule's bound, ejection times monotone and capped).

use super::*;
use crate::discovery::{PanicThreshold, Routing};
use proptest::prelude::*;

const SEC: u64 = 1_000_000_000;

fn detector(config: OutlierConfig, hosts: u32) -> OutlierDetector {
    let mut detector = OutlierDetector::new(config, hosts, 0).unwrap();
    for host in 0..hosts {
        detector.add_host(host);
    }
    detector
}

fn all_ejectable() -> OutlierConfig {
    OutlierConfig {
        max_ejection_percent: 100,
        ..OutlierConfig::default()
    }
}

/// Feeds `results` ('S' success, '5' a 500, 'G' a 503, 'L' a local-origin failure)
/// to `host` at `now` and returns whether the host was ejected after each, as 'E' or
/// '.'.
fn feed(detector: &mut OutlierDetector, now: Nanos, host: HostId, results: &str) -> String {
    results
        .chars()
        .map(|c| {
            let class = match c {
                'S' => ResultClass::Success,
                '5' => ResultClass::ServerError,
                'G' => ResultClass::GatewayError,
                _ => ResultClass::LocalOriginFailure,
            };
            detector.on_result(now, host, class);
            if detector.is_ejected(host) { 'E' } else { '.' }
        })
        .collect()
}

#[test]
fn five_consecutive_5xx_eject_and_a_success_resets_the_count() {
    let mut detector = detector(all_ejectable(), 4);
    assert_eq!(feed(&mut detector, 0, 1, "5555S5555"), ".........");
    assert_eq!(feed(&mut detector, 0, 1, "5"), "E");
    assert_eq!(detector.stats().ejections_enforced_consecutive_5xx, 1);
    assert_eq!(detector.ejected_count(), 1);
    // Gateway errors and local-origin failures are 5xx too.
    assert_eq!(feed(&mut detector, 0, 2, "5GL5G"), "....E");
}

#[test]
fn consecutive_gateway_failures_are_reset_by_other_5xx() {
    let config = OutlierConfig {
        consecutive_5xx: None,
        consecutive_gateway_failure: Some(3),
        ..all_ejectable()
    };
    let mut detector = detector(config, 4);
    assert_eq!(feed(&mut detector, 0, 0, "GGSGG5GG"), "........");
    assert_eq!(feed(&mut detector, 0, 0, "L"), "E");
    assert_eq!(
        detector
            .stats()
            .ejections_enforced_consecutive_gateway_failure,
        1
    );
}

#[test]
fn an_ejected_host_stays_out_until_the_first_sweep_after_its_time() {
    // Ejected at 5 s for 30 s: the sweeps at 10, 20, 30 s keep it out (25 s), the one
    // at 40 s (35 s) brings it back.
    let mut detector = detector(all_ejectable(), 4);
    feed(&mut detector, 5 * SEC, 0, "55555");
    for t in [10, 20, 30] {
        assert_eq!(detector.tick(t * SEC).unejected, 0);
        assert!(detector.is_ejected(0), "at {t} s");
    }
    assert_eq!(detector.tick(40 * SEC).unejected, 1);
    assert!(!detector.is_ejected(0));
    assert_eq!(detector.stats().unejections, 1);
    assert_eq!(detector.next_tick_at(), 50 * SEC);
}

/// Ejects `host` by five 5xx at `now`, then sweeps every 10 s until it is back;
/// returns how long it was out, in seconds, and the time it came back.
fn eject_and_wait(detector: &mut OutlierDetector, now: Nanos, host: HostId) -> (u64, Nanos) {
    feed(detector, now, host, "55555");
    assert!(detector.is_ejected(host));
    let mut t = now;
    loop {
        t += 10 * SEC;
        detector.tick(t);
        if !detector.is_ejected(host) {
            return ((t - now) / SEC, t);
        }
    }
}

#[test]
fn ejection_time_grows_with_each_ejection_and_is_capped() {
    // Re-ejected at the moment it comes back: 30, 60, ..., 300, 300 s.
    let mut detector = detector(all_ejectable(), 4);
    let mut now = 0;
    let mut times = Vec::new();
    for _ in 0..12 {
        let (out, back) = eject_and_wait(&mut detector, now, 0);
        times.push(out);
        now = back;
    }
    assert_eq!(
        times,
        vec![30, 60, 90, 120, 150, 180, 210, 240, 270, 300, 300, 300]
    );
    // Envoy grows the multiplier while multiplier × base < max + base: to 11.
    assert_eq!(detector.ejection_multiplier(0), 11);
    assert_eq!(detector.ejections(0), 12);
}

#[test]
fn the_multiplier_decays_by_one_per_healthy_interval() {
    let mut detector = detector(all_ejectable(), 4);
    let mut now = 0;
    for _ in 0..11 {
        now = eject_and_wait(&mut detector, now, 0).1;
    }
    assert_eq!(detector.ejection_multiplier(0), 11);
    // Unejected at `now`: the sweep then does not count (0 s back); each later sweep
    // takes one off. The first one only brings 11 down to 10: still the 300 s cap.
    let mut multipliers = Vec::new();
    for k in 1..=4 {
        detector.tick(now + k * 10 * SEC);
        multipliers.push(detector.ejection_multiplier(0));
    }
    assert_eq!(multipliers, vec![10, 9, 8, 7]);
    assert_eq!(detector.ejection_time(0), Duration::from_secs(210));
    let (out, _) = eject_and_wait(&mut detector, now + 40 * SEC, 0);
    assert_eq!(out, 240); // the multiplier grew back to 8
}

/// Sends `requests` to `host` of which `successes` succeed (5xx otherwise; the
/// consecutive-5xx rule is off in these tests).
fn traffic(
    detector: &mut OutlierDetector,
    now: Nanos,
    host: HostId,
    requests: u32,
    successes: u32,
) {
    for i in 0..requests {
        let class = if i < successes {
            ResultClass::Success
        } else {
            ResultClass::ServerError
        };
        detector.on_result(now, host, class);
    }
}

fn success_rate_only() -> OutlierConfig {
    OutlierConfig {
        consecutive_5xx: None,
        ..all_ejectable()
    }
}

#[test]
fn success_rate_ejects_below_mean_minus_1_9_sigma_as_in_envoys_example() {
    // Envoy's comment on successRateEjectionThreshold: rates {50, 100, 100, 100, 100}
    // give mean 90, σ 20, threshold 90 − 1.9 × 20 = 52.
    let mut detector = detector(success_rate_only(), 5);
    traffic(&mut detector, SEC, 0, 100, 50);
    for host in 1..5 {
        traffic(&mut detector, SEC, host, 100, 100);
    }
    let outcome = detector.tick(10 * SEC);
    assert_eq!(outcome.ejected, 1);
    assert!(detector.is_ejected(0));
    let (mean, threshold) = detector.success_rate_stats().unwrap();
    assert!((mean - 90.0).abs() < 1e-9 && (threshold - 52.0).abs() < 1e-9);
    assert_eq!(detector.stats().ejections_enforced_success_rate, 1);
    // The next interval has no traffic: nothing is evaluated.
    assert_eq!(detector.tick(20 * SEC).ejected, 0);
    assert_eq!(detector.success_rate_stats(), None);
}

#[test]
fn success_rate_needs_enough_hosts_with_enough_requests() {
    // Four hosts are fewer than the five required.
    let mut small = detector(success_rate_only(), 4);
    traffic(&mut small, SEC, 0, 100, 0);
    for host in 1..4 {
        traffic(&mut small, SEC, host, 100, 100);
    }
    assert_eq!(small.tick(10 * SEC).ejected, 0);
    // Six hosts, but one has 99 requests: five valid ones remain, and the 99-request
    // host is not judged however bad it is.
    let mut detector = detector(success_rate_only(), 6);
    traffic(&mut detector, SEC, 0, 99, 0);
    traffic(&mut detector, SEC, 1, 100, 50);
    for host in 2..6 {
        traffic(&mut detector, SEC, host, 100, 100);
    }
    detector.tick(10 * SEC);
    assert!(!detector.is_ejected(0));
    assert!(detector.is_ejected(1));
    // Requests of the interval before the last sweep are not counted again.
    let mut late = self::detector(success_rate_only(), 5);
    traffic(&mut late, SEC, 0, 100, 0);
    late.tick(10 * SEC); // only host 0 had traffic: not enough hosts
    for host in 1..5 {
        traffic(&mut late, 11 * SEC, host, 100, 100);
    }
    assert_eq!(late.tick(20 * SEC).ejected, 0);
}

/// All `hosts` fail five times in a row; returns how many are ejected.
fn ejected_when_all_fail(hosts: u32, max_percent: u32, rule: MaxEjectionRule) -> u32 {
    let config = OutlierConfig {
        max_ejection_percent: max_percent,
        max_ejection_rule: rule,
        ..OutlierConfig::default()
    };
    let mut detector = detector(config, hosts);
    for host in 0..hosts {
        feed(&mut detector, 0, host, "55555");
    }
    assert_eq!(
        detector.stats().ejections_overflow,
        u64::from(hosts - detector.ejected_count())
    );
    detector.ejected_count()
}

#[test]
fn max_ejection_percent_as_each_envoy_version_applied_it() {
    let legacy = MaxEjectionRule::BeforeCount;
    let current = MaxEjectionRule::AfterCount {
        always_eject_one_host: false,
    };
    let one = MaxEjectionRule::AfterCount {
        always_eject_one_host: true,
    };
    let check = |hosts, percent, rule, expected| {
        assert_eq!(
            ejected_when_all_fail(hosts, percent, rule),
            expected,
            "{hosts} hosts, {percent}%, {rule:?}"
        );
    };
    check(3, 50, legacy, 2); // envoy #26877: 2 of 3 with 50%
    check(3, 50, current, 1);
    check(3, 67, legacy, 3); // envoy #27066: the whole pool
    check(3, 67, current, 2);
    check(3, 10, legacy, 1); // envoy #3263: one host always
    check(3, 10, current, 0); // 1.28: nothing below 10 hosts with the default
    check(3, 10, one, 1); // 1.31 always_eject_one_host (and 1.27)
    check(10, 10, current, 1);
    check(20, 10, legacy, 2);
    check(20, 10, current, 2);
    check(1, 10, legacy, 1);
    check(1, 10, current, 0);
    check(4, 0, legacy, 0);
    check(4, 0, one, 1);
    check(4, 100, current, 4);
}

#[test]
fn panic_surprise_ejecting_two_of_three_hosts_does_nothing() {
    // envoy #2671, #28304: with the rule of Envoy <= 1.26 and 50%, two of three hosts
    // are ejected; one of three healthy is 33% < 50%, so the balancer panics and
    // routes to all three: the ejections change nothing.
    let config = OutlierConfig {
        max_ejection_percent: 50,
        max_ejection_rule: MaxEjectionRule::BeforeCount,
        ..OutlierConfig::default()
    };
    let mut detector = detector(config, 3);
    feed(&mut detector, 0, 1, "55555");
    feed(&mut detector, 0, 2, "55555");
    assert_eq!(detector.ejected_count(), 2);
    let mut view = Vec::new();
    let routing =
        PanicThreshold::default().select(&[0, 1, 2], |h| !detector.is_ejected(h), &mut view);
    assert_eq!(routing, Routing::AllHosts);
    assert_eq!(view, vec![0, 1, 2]);
    // The current rule stops at one ejection: 67% healthy, no panic.
    let config = OutlierConfig {
        max_ejection_rule: MaxEjectionRule::AfterCount {
            always_eject_one_host: false,
        },
        ..config
    };
    let mut detector = self::detector(config, 3);
    feed(&mut detector, 0, 1, "55555");
    feed(&mut detector, 0, 2, "55555");
    let routing =
        PanicThreshold::default().select(&[0, 1, 2], |h| !detector.is_ejected(h), &mut view);
    assert_eq!((routing, view.as_slice()), (Routing::Healthy, &[0, 2][..]));
}

#[test]
fn panic_surprise_a_small_pool_ejected_whole() {
    // envoy #27066: 3 hosts, 67%, the rule before 1.28 ejects all three. Panic then
    // routes to every ejected host; with panic disabled there is nothing to route to,
    // Istio's "no healthy upstream" (istio #20135).
    let config = OutlierConfig {
        max_ejection_percent: 67,
        max_ejection_rule: MaxEjectionRule::BeforeCount,
        ..OutlierConfig::default()
    };
    let mut detector = detector(config, 3);
    for host in 0..3 {
        feed(&mut detector, 0, host, "55555");
    }
    assert_eq!(detector.ejected_count(), 3);
    let mut view = Vec::new();
    let healthy = |h: HostId| !detector.is_ejected(h);
    assert_eq!(
        PanicThreshold::default().select(&[0, 1, 2], healthy, &mut view),
        Routing::AllHosts
    );
    assert_eq!(view, vec![0, 1, 2]);
    let no_panic = PanicThreshold::new(0.0).unwrap();
    assert_eq!(
        no_panic.select(&[0, 1, 2], healthy, &mut view),
        Routing::Healthy
    );
    assert!(view.is_empty(), "no healthy upstream");
}

#[test]
fn membership_changes_and_active_health_checks() {
    let mut detector = detector(all_ejectable(), 8);
    feed(&mut detector, 0, 3, "55555");
    assert_eq!(detector.ejected_count(), 1);
    detector.remove_host(3);
    assert_eq!((detector.ejected_count(), detector.member_count()), (0, 7));
    assert!(
        !detector.on_result(0, 3, ResultClass::ServerError),
        "not a member"
    );
    detector.add_host(3);
    assert_eq!(detector.ejections(3), 0);
    feed(&mut detector, SEC, 4, "55555");
    detector.on_active_health_check_passed(2 * SEC, 4);
    assert!(!detector.is_ejected(4));
    assert_eq!(detector.stats().unejections, 1);
    // The counters were reset: four more 5xx do not eject it again.
    assert_eq!(feed(&mut detector, 2 * SEC, 4, "5555"), "....");
    detector.add_host(4); // already a member: nothing changes
    assert_eq!(detector.ejection_multiplier(4), 1);
}

#[test]
fn a_consecutive_error_on_an_ejected_host_does_not_reset_its_counter() {
    // Envoy drops the event for an ejected host before resetting the counter, which
    // keeps counting past the threshold; it is reset at unejection.
    let config = OutlierConfig {
        consecutive_5xx: Some(2),
        ..all_ejectable()
    };
    let mut detector = detector(config, 2);
    assert_eq!(feed(&mut detector, 0, 0, "55555"), ".EEEE");
    detector.tick(30 * SEC);
    assert!(!detector.is_ejected(0));
    assert_eq!(feed(&mut detector, 30 * SEC, 0, "55"), ".E");
}

#[test]
fn bad_configurations_are_errors() {
    let field = |config: OutlierConfig| config.validate().unwrap_err().field;
    let base = OutlierConfig::default();
    assert_eq!(
        field(OutlierConfig {
            interval: Duration::ZERO,
            ..base
        }),
        "interval"
    );
    assert_eq!(
        field(OutlierConfig {
            base_ejection_time: Duration::ZERO,
            ..base
        }),
        "base_ejection_time"
    );
    assert_eq!(
        field(OutlierConfig {
            max_ejection_time: Duration::from_secs(29),
            ..base
        }),
        "max_ejection_time"
    );
    assert_eq!(
        field(OutlierConfig {
            max_ejection_percent: 101,
            ..base
        }),
        "max_ejection_percent"
    );
    assert_eq!(
        field(OutlierConfig {
            consecutive_5xx: Some(0),
            ..base
        }),
        "consecutive_5xx"
    );
    assert_eq!(
        field(OutlierConfig {
            consecutive_gateway_failure: Some(0),
            ..base
        }),
        "consecutive_gateway_failure"
    );
    assert_eq!(
        OutlierDetector::new(base, MAX_HOSTS + 1, 0)
            .unwrap_err()
            .field,
        "max_hosts"
    );
}

/// The most hosts the rule lets be ejected at once out of `hosts`.
fn bound(rule: MaxEjectionRule, hosts: u32, percent: u32) -> u32 {
    (0..=hosts)
        .take_while(|&k| k == 0 || rule.allows(k - 1, hosts, percent))
        .last()
        .unwrap()
}

fn rule() -> impl Strategy<Value = MaxEjectionRule> {
    prop_oneof![
        Just(MaxEjectionRule::BeforeCount),
        any::<bool>().prop_map(|always_eject_one_host| MaxEjectionRule::AfterCount {
            always_eject_one_host
        }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Whatever the results and sweeps, no more hosts are ejected at once than the
    /// rule allows (ceil(max × n / 100) before 1.28, floor after, at least one with
    /// `always_eject_one_host`), and the count of ejected hosts is exact.
    #[test]
    fn ejections_never_exceed_the_rules_bound(
        hosts in 1..12u32,
        percent in 0..=100u32,
        rule in rule(),
        results in proptest::collection::vec((0..12u32, 0..4u8, 0..3u8), 1..300),
    ) {
        let config = OutlierConfig {
            max_ejection_percent: percent,
            max_ejection_rule: rule,
            consecutive_5xx: Some(2),
            success_rate: Some(SuccessRateConfig { minimum_hosts: 2, request_volume: 3, stdev_factor: 500 }),
            ..OutlierConfig::default()
        };
        let mut detector = detector(config, hosts);
        let limit = bound(rule, hosts, percent);
        let expected_limit = match rule {
            MaxEjectionRule::BeforeCount => (percent * hosts).div_ceil(100),
            MaxEjectionRule::AfterCount { always_eject_one_host } => {
                let floor = percent * hosts / 100;
                if always_eject_one_host { floor.max(1) } else { floor }
            }
        };
        prop_assert_eq!(limit, expected_limit.min(hosts));
        let mut now = 0;
        for (host, class, advance) in results {
            let host = host % hosts;
            let class = [ResultClass::Success, ResultClass::ServerError, ResultClass::GatewayError, ResultClass::LocalOriginFailure][class as usize];
            detector.on_result(now, host, class);
            if advance == 0 {
                now += 5 * SEC;
                detector.tick(now);
            }
            prop_assert!(detector.ejected_count() <= limit);
            let counted = (0..hosts).filter(|&h| detector.is_ejected(h)).count() as u32;
            prop_assert_eq!(counted, detector.ejected_count());
        }
    }

    /// Each ejection of a host that keeps failing lasts at least as long as the one
    /// before (no healthy interval between them to decay the multiplier), and never
    /// longer than the cap plus one sweep interval.
    #[test]
    fn ejection_time_is_monotone_in_the_ejection_count_and_capped(
        base_s in 1..40u64,
        extra_s in 0..200u64,
        interval_s in 1..15u64,
        ejections in 1..14usize,
    ) {
        let config = OutlierConfig {
            interval: Duration::from_secs(interval_s),
            base_ejection_time: Duration::from_secs(base_s),
            max_ejection_time: Duration::from_secs(base_s + extra_s),
            ..all_ejectable()
        };
        let mut detector = detector(config, 2);
        let mut now = 0;
        let mut previous = 0;
        for _ in 0..ejections {
            feed(&mut detector, now, 0, "55555");
            prop_assert!(detector.is_ejected(0));
            let planned = detector.ejection_time(0).as_secs();
            prop_assert!(planned <= base_s + extra_s);
            let ejected_at = now;
            while detector.is_ejected(0) {
                now += interval_s * SEC;
                detector.tick(now);
            }
            let out = (now - ejected_at) / SEC;
            prop_assert!(out >= planned && out < planned + interval_s);
            prop_assert!(out >= previous, "{} after {}", out, previous);
            previous = out;
        }
    }
}
