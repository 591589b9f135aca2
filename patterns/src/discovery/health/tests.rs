//! The health check's unit tests: Consul's counters (the first result decides, then
//! the thresholds, each result resetting the other counter), warnings, the probe
//! schedule, the stagger, the reaper's grid and its one-minute minimum, configuration
//! errors, and a property test of the thresholds.

use super::*;
use proptest::prelude::*;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

const SEC: u64 = 1_000_000_000;

fn check(failures: u32, successes: u32) -> HealthCheck {
    let config = HealthCheckConfig {
        failures_before_critical: failures,
        success_before_passing: successes,
        ..HealthCheckConfig::consul(Duration::from_secs(10))
    };
    HealthCheck::new(config, 0).unwrap()
}

/// Feeds `results` ('S' pass, 'F' fail, 'W' warning) one second apart and returns
/// the status after each, as 'P', 'W', 'C'.
fn statuses(check: &mut HealthCheck, results: &str) -> String {
    let mut now = check.last_now;
    results
        .chars()
        .map(|c| {
            now += SEC;
            let reported = match c {
                'S' => HealthStatus::Passing,
                'W' => HealthStatus::Warning,
                _ => HealthStatus::Critical,
            };
            match check.on_status(now, reported) {
                HealthStatus::Passing => 'P',
                HealthStatus::Warning => 'W',
                HealthStatus::Critical => 'C',
            }
        })
        .collect()
}

#[test]
fn the_first_result_decides_at_once_as_consul_starts_the_counters_at_their_thresholds() {
    // NewStatusHandler: successCounter = successBeforePassing, failuresCounter =
    // failuresBeforeCritical.
    assert_eq!(statuses(&mut check(3, 2), "S"), "P");
    let mut passing_first = HealthCheck::new(
        HealthCheckConfig {
            initial_status: HealthStatus::Passing,
            failures_before_critical: 3,
            ..HealthCheckConfig::consul(Duration::from_secs(10))
        },
        0,
    )
    .unwrap();
    assert_eq!(statuses(&mut passing_first, "F"), "C");
}

#[test]
fn three_failures_to_go_critical_two_successes_to_pass_each_resetting_the_other() {
    let mut check = check(3, 2);
    assert_eq!(check.status(), HealthStatus::Critical);
    // S: passing at once (above). F F: 2 < 3. S: resets the failures. F F F:
    // critical at the third. S: 1 < 2. F: resets the successes. S S: passing.
    assert_eq!(statuses(&mut check, "SFFSFFFSFSS"), "PPPPPPCCCCP");
}

#[test]
fn thresholds_of_zero_and_one_follow_every_result() {
    for threshold in [0, 1] {
        assert_eq!(
            statuses(&mut check(threshold, threshold), "SFSFFS"),
            "PCPCCP"
        );
    }
}

#[test]
fn failures_before_warning_warn_before_critical() {
    let config = HealthCheckConfig {
        failures_before_warning: Some(1),
        failures_before_critical: 3,
        ..HealthCheckConfig::consul(Duration::from_secs(10))
    };
    let mut check = HealthCheck::new(config, 0).unwrap();
    assert_eq!(statuses(&mut check, "SFFFS"), "PWWCP");
}

#[test]
fn a_warning_result_counts_as_a_success_and_becomes_the_status() {
    let mut check = check(2, 2);
    assert_eq!(statuses(&mut check, "SWFWFFWW"), "PWWWWCCW");
}

#[test]
fn probes_are_scheduled_an_interval_after_the_previous_one_finished() {
    let mut check = check(1, 1);
    assert!(check.due(0));
    assert_eq!(check.begin_check(0), Some(10 * SEC)); // the deadline
    assert!(!check.due(0));
    assert_eq!(check.next_check_at(), None);
    assert_eq!(check.deadline(), Some(10 * SEC));
    assert_eq!(check.begin_check(SEC), None, "one probe at a time");
    // The owner's timeout fired: a failure, at the deadline.
    check.on_result(10 * SEC, false);
    assert_eq!(check.next_check_at(), Some(20 * SEC));
    assert!(!check.due(19 * SEC));
    assert_eq!(
        check.begin_check(19 * SEC),
        None,
        "a spurious call is a no-op"
    );
    assert!(check.due(20 * SEC));
    assert_eq!(check.begin_check(25 * SEC), Some(35 * SEC));
    check.on_result(25 * SEC + 3, true);
    assert_eq!(check.next_check_at(), Some(35 * SEC + 3));
}

#[test]
fn an_abandoned_probe_counts_neither_way_and_the_next_is_an_interval_later() {
    let mut check = check(2, 1);
    assert_eq!(check.on_result(SEC, false), HealthStatus::Critical); // the first decides
    assert_eq!(check.on_result(2 * SEC, true), HealthStatus::Passing);
    assert_eq!(check.on_result(3 * SEC, false), HealthStatus::Passing);
    let at = check.next_check_at().unwrap();
    assert!(check.begin_check(at).is_some());
    check.abandon_check(at + SEC);
    assert_eq!(check.next_check_at(), Some(at + SEC + 10 * SEC));
    // The run of one failure goes on: the abandoned probe did not break it.
    assert_eq!(
        check.on_result(at + 11 * SEC, false),
        HealthStatus::Critical
    );
    // Without a probe in flight it changes nothing.
    let next = check.next_check_at();
    check.abandon_check(at + 12 * SEC);
    assert_eq!(check.next_check_at(), next);
}

#[test]
fn the_first_probe_of_a_staggered_check_is_within_one_interval() {
    let mut rng = ChaCha8Rng::seed_from_u64(3);
    let mut firsts = Vec::new();
    for _ in 0..200 {
        let check = HealthCheck::staggered(
            HealthCheckConfig::consul(Duration::from_secs(10)),
            5 * SEC,
            &mut rng,
        )
        .unwrap();
        let first = check.next_check_at().unwrap();
        assert!((5 * SEC..15 * SEC).contains(&first));
        firsts.push(first);
    }
    firsts.sort_unstable();
    firsts.dedup();
    assert!(firsts.len() > 150, "the stagger is spread out");
}

#[test]
fn the_reaper_deregisters_at_its_first_pass_after_the_timeout() {
    // Created critical at 0, deregister after 60 s, reaper every 30 s from 0:
    // at 60 s the check has been critical for exactly 60 s, not more; the pass at
    // 90 s deregisters.
    let config = HealthCheckConfig {
        deregister_critical_after: Some(Duration::from_secs(60)),
        ..HealthCheckConfig::consul(Duration::from_secs(10))
    };
    let check = HealthCheck::new(config, 0).unwrap();
    assert_eq!(check.deregister_at(), Some(90 * SEC));
    assert!(!check.should_deregister(89 * SEC));
    assert!(check.should_deregister(90 * SEC));
    // Without the reaper's grid, strictly after the timeout.
    let exact = HealthCheck::new(
        HealthCheckConfig {
            reap_interval: Duration::ZERO,
            ..config
        },
        0,
    )
    .unwrap();
    assert_eq!(exact.deregister_at(), Some(60 * SEC + 1));
}

#[test]
fn critical_time_counts_from_the_last_transition_and_passing_clears_it() {
    let config = HealthCheckConfig {
        deregister_critical_after: Some(Duration::from_secs(60)),
        initial_status: HealthStatus::Passing,
        ..HealthCheckConfig::consul(Duration::from_secs(10))
    };
    let mut check = HealthCheck::new(config, 0).unwrap();
    assert_eq!(check.deregister_at(), None);
    check.on_result(7 * SEC, false);
    assert_eq!(check.critical_since(), Some(7 * SEC));
    check.on_result(17 * SEC, false); // still critical: the time does not move
    assert_eq!(check.critical_since(), Some(7 * SEC));
    // 7 + 60 = 67 s; the passes are at 30, 60, 90: the one at 90 s.
    assert_eq!(check.deregister_at(), Some(90 * SEC));
    check.on_result(27 * SEC, true);
    assert_eq!(check.critical_since(), None);
    assert!(!check.should_deregister(1000 * SEC));
}

#[test]
fn a_deregistration_timeout_below_a_minute_is_raised_to_a_minute() {
    let config = HealthCheckConfig {
        deregister_critical_after: Some(Duration::from_secs(5)),
        ..HealthCheckConfig::consul(Duration::from_secs(1))
    };
    assert_eq!(
        config.effective_deregister_after(),
        Some(Duration::from_secs(60))
    );
    assert_eq!(
        HealthCheck::new(config, 0).unwrap().deregister_at(),
        Some(90 * SEC)
    );
}

#[test]
fn bad_configurations_are_errors() {
    let base = HealthCheckConfig::consul(Duration::from_secs(10));
    let field = |config: HealthCheckConfig| config.validate().unwrap_err().field;
    assert_eq!(
        field(HealthCheckConfig {
            interval: Duration::ZERO,
            ..base
        }),
        "interval"
    );
    assert_eq!(
        field(HealthCheckConfig {
            timeout: Duration::ZERO,
            ..base
        }),
        "timeout"
    );
    assert_eq!(
        field(HealthCheckConfig {
            failures_before_warning: Some(0),
            ..base
        }),
        "failures_before_warning"
    );
    // A warning threshold above the critical one is accepted and never warns.
    let mut late_warning = HealthCheck::new(
        HealthCheckConfig {
            failures_before_warning: Some(5),
            failures_before_critical: 2,
            ..base
        },
        0,
    )
    .unwrap();
    assert_eq!(statuses(&mut late_warning, "SFF"), "PPC");
    assert_eq!(
        field(HealthCheckConfig {
            deregister_critical_after: Some(Duration::ZERO),
            ..base
        }),
        "deregister_critical_after"
    );
    assert!(
        HealthCheck::new(
            HealthCheckConfig {
                interval: Duration::ZERO,
                ..base
            },
            0
        )
        .is_err()
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// After `max(1, threshold)` consecutive failures the check is critical, after
    /// as many successes it is passing, whatever came before; and it is critical
    /// exactly when `critical_since` is set.
    #[test]
    fn enough_consecutive_results_always_decide_the_status(
        failures in 0..5u32,
        successes in 0..5u32,
        results in proptest::collection::vec(any::<bool>(), 1..60),
    ) {
        let mut check = check(failures, successes);
        let (mut run_pass, mut run_fail) = (0u32, 0u32);
        for (i, passed) in results.into_iter().enumerate() {
            let status = check.on_result((i as u64 + 1) * SEC, passed);
            if passed { run_pass += 1; run_fail = 0 } else { run_fail += 1; run_pass = 0 }
            if run_fail >= failures.max(1) {
                prop_assert_eq!(status, HealthStatus::Critical);
            }
            if run_pass >= successes.max(1) {
                prop_assert_eq!(status, HealthStatus::Passing);
            }
            prop_assert_eq!(check.critical_since().is_some(), status == HealthStatus::Critical);
        }
    }
}
