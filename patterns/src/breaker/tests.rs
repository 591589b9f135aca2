//! The circuit breaker's unit tests: resilience4j's documented behaviour (minimum
//! number of calls, count and time windows, slow calls, lazy and automatic open →
//! half-open, half-open probes, stale results, manual states), pybreaker's
//! consecutive failures, permits that free their slot when dropped, configuration
//! errors, and a property test of the half-open bound.

use super::*;
use proptest::prelude::*;

const MS: u64 = 1_000_000;
const SEC: u64 = 1_000_000_000;

fn rate_breaker(rule: RateRule) -> Breaker {
    Breaker::new(BreakerConfig {
        trip: TripRule::Rate(rule),
        ..BreakerConfig::default()
    })
    .unwrap()
}

fn count_rule(calls: u32, minimum: u32, permitted: u32) -> RateRule {
    RateRule {
        window: SlidingWindow::CountBased { calls },
        minimum_number_of_calls: minimum,
        permitted_calls_in_half_open: permitted,
        ..RateRule::default()
    }
}

/// One call acquired and finished at `now`, taking `duration_ms`.
fn call(breaker: &mut Breaker, outcome: Outcome, duration_ms: u64, now: Nanos) {
    let permit = breaker.try_acquire(now).expect("admitted");
    breaker.record(permit, outcome, Duration::from_millis(duration_ms), now);
}

/// Runs `outcomes` ('S' success, 'F' error) as sequential calls and returns the
/// state after each, as a string of 'C', 'O', 'H'.
fn states_after(breaker: &mut Breaker, outcomes: &str, now: Nanos) -> String {
    outcomes
        .chars()
        .map(|c| {
            let outcome = if c == 'F' {
                Outcome::Error
            } else {
                Outcome::Success
            };
            call(breaker, outcome, 1, now);
            match breaker.state() {
                BreakerState::Closed => 'C',
                BreakerState::Open => 'O',
                BreakerState::HalfOpen => 'H',
                other => panic!("unexpected {other:?}"),
            }
        })
        .collect()
}

#[test]
fn minimum_number_of_calls_gates_the_rate() {
    // resilience4j docs (CircuitBreaker, "minimumNumberOfCalls"): "if
    // minimumNumberOfCalls is 10, then at least 10 calls must be recorded before
    // the failure rate can be calculated. If only 9 calls have been evaluated the
    // CircuitBreaker will not transition to open even if all 9 calls have failed."
    // Window 10, minimum 5, threshold 50%.
    let check = |outcomes: &str, expected: &str| {
        let mut breaker = rate_breaker(count_rule(10, 5, 3));
        assert_eq!(
            states_after(&mut breaker, outcomes, 0),
            expected,
            "{outcomes}"
        );
    };
    check("FFFF", "CCCC"); // 4 failures: no rate exists yet
    check("FFFFF", "CCCCO"); // the 5th computes 100%
    check("SFFSF", "CCCCO"); // the 5th computes 3/5 = 60% >= 50%
    check("SFSSF", "CCCCC"); // 2/5 = 40%
    check("SFSSFF", "CCCCCO"); // 3/6 = 50%: trips at equality (>=)
}

#[test]
fn minimum_is_capped_at_a_count_window_but_not_a_time_window() {
    // CircuitBreakerMetrics: COUNT_BASED uses min(minimumNumberOfCalls, size).
    let mut breaker = rate_breaker(count_rule(4, 100, 1));
    assert_eq!(states_after(&mut breaker, "SSFF", 0), "CCCO");
    let mut breaker = rate_breaker(RateRule {
        window: SlidingWindow::TimeBased { seconds: 4 },
        minimum_number_of_calls: 6,
        ..RateRule::default()
    });
    assert_eq!(states_after(&mut breaker, "FFFFF", 0), "CCCCC");
    assert_eq!(states_after(&mut breaker, "F", 0), "O");
}

#[test]
fn count_window_subtracts_the_evicted_call() {
    // FixedSizeSlidingWindowMetrics: the oldest outcome leaves when a new one
    // enters. Window 4, minimum 4: F S S S -> 25%; then S evicts F -> 0%;
    // F F evict S S -> 50% trips.
    let mut breaker = rate_breaker(count_rule(4, 4, 1));
    assert_eq!(states_after(&mut breaker, "FSSSSF", 0), "CCCCCC");
    assert_eq!(breaker.metrics(0).failed_calls, 1);
    assert_eq!(states_after(&mut breaker, "F", 0), "O");
    assert_eq!(breaker.metrics(0).failure_rate, Some(50.0));
}

#[test]
fn time_window_evicts_whole_seconds() {
    // SlidingTimeWindowMetrics: N one-second buckets; a bucket leaves the window
    // N seconds after its second began.
    let mut breaker = rate_breaker(RateRule {
        window: SlidingWindow::TimeBased { seconds: 2 },
        minimum_number_of_calls: 2,
        ..RateRule::default()
    });
    call(&mut breaker, Outcome::Error, 1, SEC / 2); // second 0
    assert_eq!(breaker.metrics(SEC + SEC / 2).calls, 1); // second 1: still in
    assert_eq!(breaker.metrics(2 * SEC).calls, 0); // second 2: evicted
    call(&mut breaker, Outcome::Success, 1, 2 * SEC);
    assert_eq!(breaker.state(), BreakerState::Closed);
    let metrics = breaker.metrics(2 * SEC);
    assert_eq!((metrics.calls, metrics.failed_calls), (1, 0));
    // Two failures in seconds 2 and 3, with the success: 2/3 >= 50%.
    call(&mut breaker, Outcome::Error, 1, 2 * SEC + 1);
    assert_eq!(breaker.state(), BreakerState::Open);
    // A long gap clears every bucket.
    let mut breaker = rate_breaker(RateRule {
        window: SlidingWindow::TimeBased { seconds: 3 },
        minimum_number_of_calls: 2,
        ..RateRule::default()
    });
    call(&mut breaker, Outcome::Error, 1, 0);
    call(&mut breaker, Outcome::Success, 1, 100 * SEC);
    call(&mut breaker, Outcome::Success, 1, 100 * SEC);
    assert_eq!(breaker.metrics(100 * SEC).failed_calls, 0);
}

#[test]
fn slow_means_strictly_longer_than_the_threshold() {
    // CircuitBreakerMetrics.onSuccess/onError: `duration > slowCallDurationThreshold`
    // makes SLOW_SUCCESS / SLOW_ERROR.
    let rule = RateRule {
        slow_call_duration_threshold: Duration::from_millis(100),
        slow_call_rate_threshold: 50.0,
        failure_rate_threshold: 100.0,
        ..count_rule(4, 2, 1)
    };
    let mut breaker = rate_breaker(rule);
    call(&mut breaker, Outcome::Success, 100, 0); // equal: not slow
    call(&mut breaker, Outcome::Success, 100, 0);
    assert_eq!(breaker.metrics(0).slow_calls, 0);
    assert_eq!(breaker.state(), BreakerState::Closed);
    call(&mut breaker, Outcome::Error, 101, 0); // slow failure counts as slow
    assert_eq!(breaker.metrics(0).slow_calls, 1);
    assert_eq!(breaker.state(), BreakerState::Closed); // 1/3 slow
    call(&mut breaker, Outcome::Success, 101, 0); // 2/4 = 50% slow
    assert_eq!(breaker.state(), BreakerState::Open);
    let transition = breaker.poll_transition().unwrap();
    assert_eq!(transition.reason, TransitionReason::SlowCallRateExceeded);
}

/// A breaker tripped at time 0 with window 10, minimum 5, and `permitted` probes.
fn tripped(permitted: u32, wait: Duration, automatic: bool) -> Breaker {
    let mut breaker = Breaker::new(BreakerConfig {
        trip: TripRule::Rate(count_rule(10, 5, permitted)),
        wait_in_open: OpenWait::Fixed(wait),
        automatic_transition_to_half_open: automatic,
        ..BreakerConfig::default()
    })
    .unwrap();
    assert_eq!(states_after(&mut breaker, "FFFFF", 0), "CCCCO");
    breaker
}

#[test]
fn lazy_transition_admits_the_first_call_strictly_after_the_wait() {
    // OpenState.tryAcquirePermission: `clock.instant().isAfter(retryAfterWaitDuration)`.
    let mut breaker = tripped(3, Duration::from_secs(60), false);
    assert_eq!(breaker.poll_timeout(), None);
    let rejected = breaker.try_acquire(60 * SEC).unwrap_err();
    assert_eq!(rejected.state, BreakerState::Open);
    assert_eq!(rejected.retry_at, Some(60 * SEC + 1));
    let probe = breaker.try_acquire(60 * SEC + 1).unwrap();
    assert!(probe.is_probe());
    assert_eq!(breaker.state(), BreakerState::HalfOpen);
    breaker.release(probe, 60 * SEC + 1);
}

#[test]
fn automatic_transition_is_due_at_the_end_of_the_wait() {
    let mut breaker = tripped(3, Duration::from_secs(60), true);
    assert_eq!(breaker.poll_timeout(), Some(60 * SEC));
    breaker.handle_timeout(60 * SEC - 1); // spurious: no-op
    assert_eq!(breaker.state(), BreakerState::Open);
    breaker.handle_timeout(60 * SEC);
    assert_eq!(breaker.state(), BreakerState::HalfOpen);
    assert_eq!(breaker.poll_timeout(), None);
    let log: Vec<_> = std::iter::from_fn(|| breaker.poll_transition())
        .map(|t| (t.at, t.from, t.to, t.reason))
        .collect();
    assert_eq!(
        log,
        [
            (
                0,
                BreakerState::Closed,
                BreakerState::Open,
                TransitionReason::FailureRateExceeded
            ),
            (
                60 * SEC,
                BreakerState::Open,
                BreakerState::HalfOpen,
                TransitionReason::WaitElapsed
            ),
        ]
    );
}

#[test]
fn half_open_admits_its_permitted_calls_and_decides_on_their_results() {
    // HalfOpenState: permittedNumberOfCalls counts down; a fresh count window of
    // that size; re-open if the rate >= threshold, else close.
    let t = 61 * SEC;
    let run = |outcomes: [Outcome; 3]| {
        let mut breaker = tripped(3, Duration::from_secs(60), false);
        let permits: Vec<Permit> = (0..3).map(|_| breaker.try_acquire(t).unwrap()).collect();
        let fourth = breaker.try_acquire(t).unwrap_err();
        assert_eq!(fourth.state, BreakerState::HalfOpen);
        let mut states = Vec::new();
        for (permit, outcome) in permits.into_iter().zip(outcomes) {
            breaker.record(permit, outcome, Duration::from_millis(1), t);
            states.push(breaker.state());
        }
        (states, breaker.trips())
    };
    use BreakerState::{Closed, HalfOpen, Open};
    use Outcome::{Error as F, Success as S};
    // 2 of 3 failures (66%) re-open; the trip count grows (resilience4j attempts).
    assert_eq!(run([F, S, F]), (vec![HalfOpen, HalfOpen, Open], 2));
    // 1 of 3 (33%) closes and forgets the trips.
    assert_eq!(run([S, F, S]), (vec![HalfOpen, HalfOpen, Closed], 0));
}

#[test]
fn half_open_decides_early_when_the_minimum_is_below_the_permitted_calls() {
    // CircuitBreakerMetrics.forHalfOpen: a count window of the permitted size,
    // so the minimum is min(minimumNumberOfCalls, permitted) = 2 here.
    let mut breaker = Breaker::new(BreakerConfig {
        trip: TripRule::Rate(count_rule(10, 2, 5)),
        ..BreakerConfig::default()
    })
    .unwrap();
    assert_eq!(states_after(&mut breaker, "FF", 0), "CO");
    assert_eq!(states_after(&mut breaker, "SS", 61 * SEC), "HC");
}

#[test]
fn exponential_wait_grows_per_consecutive_trip_and_resets_on_close() {
    let mut breaker = Breaker::new(BreakerConfig {
        trip: TripRule::Rate(count_rule(2, 1, 1)),
        wait_in_open: OpenWait::Exponential {
            initial: Duration::from_secs(1),
            multiplier: 2.0,
            max: Duration::from_secs(5),
        },
        ..BreakerConfig::default()
    })
    .unwrap();
    let mut now = 0;
    let mut waits = Vec::new();
    call(&mut breaker, Outcome::Error, 1, now);
    for _ in 0..4 {
        let until = breaker.open_until().unwrap();
        waits.push((until - now) / SEC);
        now = until + 1;
        call(&mut breaker, Outcome::Error, 1, now); // the probe fails: re-open
    }
    assert_eq!(waits, [1, 2, 4, 5]);
    now = breaker.open_until().unwrap() + 1;
    call(&mut breaker, Outcome::Success, 1, now);
    assert_eq!(breaker.state(), BreakerState::Closed);
    call(&mut breaker, Outcome::Error, 1, now);
    assert_eq!(breaker.open_until(), Some(now + SEC));
}

#[test]
fn max_wait_in_half_open_forces_it_back_to_open() {
    let mut breaker = Breaker::new(BreakerConfig {
        trip: TripRule::Rate(count_rule(10, 5, 3)),
        wait_in_open: OpenWait::Fixed(Duration::from_secs(10)),
        automatic_transition_to_half_open: true,
        max_wait_in_half_open: Duration::from_secs(2),
        ..BreakerConfig::default()
    })
    .unwrap();
    assert_eq!(states_after(&mut breaker, "FFFFF", 0), "CCCCO");
    breaker.handle_timeout(10 * SEC);
    assert_eq!(breaker.state(), BreakerState::HalfOpen);
    let probe = breaker.try_acquire(10 * SEC).unwrap();
    assert_eq!(breaker.poll_timeout(), Some(12 * SEC));
    breaker.handle_timeout(12 * SEC);
    assert_eq!(breaker.state(), BreakerState::Open);
    assert_eq!(breaker.poll_timeout(), Some(22 * SEC));
    // The late probe result is stale: recorded, no transition.
    breaker.record(probe, Outcome::Success, Duration::from_secs(3), 13 * SEC);
    assert_eq!(breaker.state(), BreakerState::Open);
    assert_eq!(breaker.metrics(13 * SEC).stale_results, 1);
}

#[test]
fn results_of_calls_started_before_a_transition_cause_no_transition() {
    // CircuitBreakerStateMachine.OpenState.onError: "the onError event should still
    // be recorded, even if it happened after the state transition".
    let mut breaker = rate_breaker(count_rule(10, 5, 3));
    let early: Vec<Permit> = (0..3).map(|_| breaker.try_acquire(0).unwrap()).collect();
    assert_eq!(states_after(&mut breaker, "FFFFF", 0), "CCCCO");
    let calls_when_tripped = breaker.metrics(0).calls;
    for permit in early {
        breaker.record(permit, Outcome::Success, Duration::from_millis(1), SEC);
    }
    let metrics = breaker.metrics(SEC);
    assert_eq!(metrics.calls, calls_when_tripped + 3); // recorded...
    assert_eq!(metrics.stale_results, 3);
    assert_eq!(breaker.state(), BreakerState::Open); // ...without a transition
    // A closed-era permit finishing in half-open does not count as a probe.
    let late = {
        let mut breaker2 = rate_breaker(count_rule(10, 5, 1));
        let late = breaker2.try_acquire(0).unwrap();
        assert_eq!(states_after(&mut breaker2, "FFFFF", 0), "CCCCO");
        let probe = breaker2.try_acquire(61 * SEC).unwrap();
        breaker2.record(late, Outcome::Success, Duration::ZERO, 61 * SEC);
        assert_eq!(breaker2.state(), BreakerState::HalfOpen);
        assert_eq!(breaker2.metrics(61 * SEC).calls, 0);
        breaker2.record(probe, Outcome::Success, Duration::ZERO, 61 * SEC);
        breaker2.state()
    };
    assert_eq!(late, BreakerState::Closed);
}

#[test]
fn a_cancelled_or_abandoned_probe_frees_its_slot() {
    // resilience4j HalfOpenState.releasePermission increments the permitted count;
    // here dropping the permit does the same (issues #903, #935, #2172).
    let t = 61 * SEC;
    let mut breaker = tripped(2, Duration::from_secs(60), false);
    let first = breaker.try_acquire(t).unwrap();
    let second = breaker.try_acquire(t).unwrap();
    assert!(breaker.try_acquire(t).is_err());
    breaker.release(first, t); // cancelled
    let third = breaker.try_acquire(t).unwrap();
    assert!(breaker.try_acquire(t).is_err());
    drop(second); // abandoned
    assert_eq!(breaker.probes_in_use(), 1);
    let fourth = breaker.try_acquire(t).unwrap();
    assert!(breaker.try_acquire(t).is_err());
    breaker.record(third, Outcome::Success, Duration::ZERO, t);
    breaker.record(fourth, Outcome::Success, Duration::ZERO, t);
    assert_eq!(breaker.state(), BreakerState::Closed);
}

#[test]
fn an_abandoned_probe_of_an_earlier_half_open_period_frees_nothing_now() {
    let mut breaker = Breaker::new(BreakerConfig::consecutive_failures(
        1,
        Duration::from_secs(1),
    ))
    .unwrap();
    call(&mut breaker, Outcome::Error, 1, 0);
    let old_probe = breaker.try_acquire(SEC + 1).unwrap();
    breaker.transition_to(BreakerState::Open, SEC + 2);
    let new_probe = breaker.try_acquire(2 * SEC + 3).unwrap();
    drop(old_probe); // from the previous half-open period
    assert!(breaker.try_acquire(2 * SEC + 3).is_err());
    breaker.record(new_probe, Outcome::Success, Duration::ZERO, 2 * SEC + 3);
    assert_eq!(breaker.state(), BreakerState::Closed);
}

#[test]
fn ignored_outcomes_release_the_permit() {
    let mut breaker = tripped(1, Duration::from_secs(60), false);
    let probe = breaker.try_acquire(61 * SEC).unwrap();
    breaker.record(probe, Outcome::BreakerOpen, Duration::ZERO, 61 * SEC);
    assert_eq!(breaker.state(), BreakerState::HalfOpen);
    assert_eq!(breaker.probes_in_use(), 0);
    call(&mut breaker, Outcome::Success, 1, 61 * SEC);
    assert_eq!(breaker.state(), BreakerState::Closed);
}

#[test]
fn manual_states_disabled_forced_open_metrics_only() {
    let mut breaker = rate_breaker(count_rule(4, 1, 1));
    // DISABLED: permit all, record nothing.
    breaker.transition_to(BreakerState::Disabled, 0);
    for _ in 0..10 {
        call(&mut breaker, Outcome::Error, 1, 0);
    }
    assert_eq!(breaker.state(), BreakerState::Disabled);
    assert_eq!(breaker.metrics(0).calls, 0);
    // FORCED_OPEN: reject all, forever.
    breaker.transition_to(BreakerState::ForcedOpen, 0);
    assert_eq!(breaker.try_acquire(1_000 * SEC).unwrap_err().retry_at, None);
    assert_eq!(breaker.poll_timeout(), None);
    // METRICS_ONLY: record, never open.
    breaker.transition_to(BreakerState::MetricsOnly, 1_000 * SEC);
    for _ in 0..10 {
        call(&mut breaker, Outcome::Error, 1, 1_000 * SEC);
    }
    assert_eq!(breaker.state(), BreakerState::MetricsOnly);
    assert_eq!(breaker.metrics(1_000 * SEC).failure_rate, Some(100.0));
    assert!(!breaker.transition_to(BreakerState::MetricsOnly, 1_000 * SEC));
    breaker.reset(1_000 * SEC);
    assert_eq!(breaker.state(), BreakerState::Closed);
    assert_eq!(breaker.metrics(1_000 * SEC).calls, 0);
    let states: Vec<_> = std::iter::from_fn(|| breaker.poll_transition())
        .map(|t| t.to)
        .collect();
    use BreakerState::*;
    assert_eq!(states, [Disabled, ForcedOpen, MetricsOnly, Closed]);
}

#[test]
fn consecutive_failures_mirror_pybreaker() {
    // pybreaker: fail_max 5; a success in closed resets the counter; after
    // reset_timeout the next call is a trial; its success closes, failure re-opens.
    let mut breaker = Breaker::new(BreakerConfig::consecutive_failures(
        5,
        Duration::from_secs(60),
    ))
    .unwrap();
    assert_eq!(states_after(&mut breaker, "FFFFS", 0), "CCCCC");
    assert_eq!(breaker.metrics(0).consecutive_failures, 0);
    assert_eq!(states_after(&mut breaker, "FFFFF", 0), "CCCCO");
    let rejected = breaker.try_acquire(60 * SEC - 1).unwrap_err();
    assert_eq!(rejected.retry_at, Some(60 * SEC));
    // pybreaker: `now < opened_at + timeout` rejects, so at 60 s the trial goes.
    let probe = breaker.try_acquire(60 * SEC).unwrap();
    // One probe at a time (Hystrix, Polly).
    assert_eq!(
        breaker.try_acquire(60 * SEC + 1).unwrap_err().state,
        BreakerState::HalfOpen
    );
    breaker.record(probe, Outcome::Timeout, Duration::ZERO, 60 * SEC + 2);
    assert_eq!(breaker.state(), BreakerState::Open);
    assert_eq!(breaker.open_until(), Some(120 * SEC + 2));
    assert_eq!(states_after(&mut breaker, "S", 121 * SEC), "C");
    let reasons: Vec<_> = std::iter::from_fn(|| breaker.poll_transition())
        .map(|t| t.reason)
        .collect();
    use TransitionReason::*;
    assert_eq!(
        reasons,
        [
            ConsecutiveFailures,
            WaitElapsed,
            ProbeFailed,
            WaitElapsed,
            ProbesSucceeded
        ]
    );
}

#[test]
fn breakers_and_permits_can_move_between_threads() {
    fn send_and_sync<T: Send + Sync>() {}
    send_and_sync::<Breaker>();
    send_and_sync::<Permit>();
}

#[test]
fn the_transition_log_is_bounded() {
    let mut breaker = Breaker::new(BreakerConfig {
        transition_log_capacity: 2,
        ..BreakerConfig::default()
    })
    .unwrap();
    for (i, state) in [
        BreakerState::Open,
        BreakerState::Closed,
        BreakerState::Disabled,
    ]
    .into_iter()
    .enumerate()
    {
        breaker.transition_to(state, i as u64);
    }
    assert_eq!(breaker.transitions_dropped(), 1);
    assert_eq!(breaker.poll_transition().unwrap().to, BreakerState::Closed);
    assert_eq!(
        breaker.poll_transition().unwrap().to,
        BreakerState::Disabled
    );
    assert_eq!(breaker.poll_transition(), None);
}

#[test]
fn invalid_configs_are_errors() {
    let check = |config: BreakerConfig, field: &str| {
        assert_eq!(Breaker::new(config).unwrap_err().field, field);
    };
    let rate = |rule: RateRule| BreakerConfig {
        trip: TripRule::Rate(rule),
        ..BreakerConfig::default()
    };
    check(
        rate(RateRule {
            failure_rate_threshold: 0.0,
            ..RateRule::default()
        }),
        "failure_rate_threshold",
    );
    check(
        rate(RateRule {
            slow_call_rate_threshold: 101.0,
            ..RateRule::default()
        }),
        "slow_call_rate_threshold",
    );
    check(rate(count_rule(0, 1, 1)), "window");
    check(rate(count_rule(MAX_WINDOW_CALLS + 1, 1, 1)), "window");
    check(
        BreakerConfig {
            transition_log_capacity: MAX_TRANSITION_LOG + 1,
            ..BreakerConfig::default()
        },
        "transition_log_capacity",
    );
    check(rate(count_rule(1, 0, 1)), "minimum_number_of_calls");
    check(rate(count_rule(1, 1, 0)), "permitted_calls_in_half_open");
    check(
        BreakerConfig::consecutive_failures(0, Duration::from_secs(1)),
        "fail_max",
    );
    check(
        BreakerConfig::consecutive_failures(1, Duration::ZERO),
        "wait_in_open",
    );
    check(
        BreakerConfig {
            wait_in_open: OpenWait::Exponential {
                initial: Duration::from_secs(2),
                multiplier: 2.0,
                max: Duration::from_secs(1),
            },
            ..BreakerConfig::default()
        },
        "wait_in_open.max",
    );
}

#[derive(Clone, Debug)]
enum Op {
    Acquire,
    Record(usize, bool, u16),
    Release(usize),
    Drop(usize),
    Advance(u16),
    Timeout,
    Manual(u8),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => Just(Op::Acquire),
        4 => (any::<usize>(), any::<bool>(), 0..300u16).prop_map(|(i, f, d)| Op::Record(i, f, d)),
        1 => any::<usize>().prop_map(Op::Release),
        1 => any::<usize>().prop_map(Op::Drop),
        3 => (0..2_000u16).prop_map(Op::Advance),
        1 => Just(Op::Timeout),
        1 => (0..6u8).prop_map(Op::Manual),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    /// Whatever the interleaving of acquire, record, release, drop, time advance,
    /// timeouts and manual transitions, a half-open breaker never has more probes
    /// in flight or recorded than it permits.
    #[test]
    fn half_open_never_admits_more_than_its_permitted_calls(
        permitted in 1..4u32,
        consecutive in any::<bool>(),
        max_wait_ms in prop_oneof![Just(0u64), 1..3_000u64],
        automatic in any::<bool>(),
        ops in proptest::collection::vec(op(), 1..200),
    ) {
        let trip = if consecutive {
            TripRule::ConsecutiveFailures { fail_max: 2 }
        } else {
            TripRule::Rate(RateRule {
                slow_call_duration_threshold: Duration::from_millis(200),
                ..count_rule(4, 2, permitted)
            })
        };
        let permitted = if consecutive { 1 } else { u64::from(permitted) };
        let mut breaker = Breaker::new(BreakerConfig {
            trip,
            wait_in_open: OpenWait::Fixed(Duration::from_millis(500)),
            automatic_transition_to_half_open: automatic,
            max_wait_in_half_open: Duration::from_millis(max_wait_ms),
            ..BreakerConfig::default()
        }).unwrap();
        let mut now = 0u64;
        let mut permits: Vec<Permit> = Vec::new();
        // A reference model of the current half-open period: probes admitted in
        // it, and probes of it given back (released or dropped).
        let mut period = u64::MAX;
        let (mut admitted, mut given_back) = (0u64, 0u64);
        for op in ops {
            let of_period = |permit: &Permit| u64::from(permit.is_probe() && permit.generation() == period);
            match op {
                Op::Acquire => {
                    if let Ok(permit) = breaker.try_acquire(now) {
                        if permit.is_probe() {
                            if permit.generation() != period {
                                period = permit.generation();
                                (admitted, given_back) = (0, 0);
                            }
                            admitted += 1;
                        }
                        permits.push(permit);
                    }
                }
                Op::Record(i, failed, ms) if !permits.is_empty() => {
                    let permit = permits.swap_remove(i % permits.len());
                    let outcome = if failed { Outcome::Error } else { Outcome::Success };
                    breaker.record(permit, outcome, Duration::from_millis(u64::from(ms)), now);
                }
                Op::Release(i) if !permits.is_empty() => {
                    let permit = permits.swap_remove(i % permits.len());
                    given_back += of_period(&permit);
                    breaker.release(permit, now);
                }
                Op::Drop(i) if !permits.is_empty() => {
                    let permit = permits.swap_remove(i % permits.len());
                    given_back += of_period(&permit);
                    drop(permit);
                }
                Op::Advance(ms) => now += u64::from(ms) * MS,
                Op::Timeout => {
                    if let Some(at) = breaker.poll_timeout() {
                        now = now.max(at);
                        breaker.handle_timeout(now);
                    }
                }
                Op::Manual(k) => {
                    use BreakerState::*;
                    let to = [Closed, Open, HalfOpen, Disabled, ForcedOpen, MetricsOnly][k as usize];
                    breaker.transition_to(to, now);
                }
                _ => {}
            }
            prop_assert!(
                admitted - given_back <= permitted,
                "{admitted} probes admitted, {given_back} given back, {permitted} permitted"
            );
            prop_assert!(breaker.probes_in_use() <= permitted);
            if breaker.state() == BreakerState::HalfOpen && breaker.generation() == period {
                prop_assert_eq!(breaker.probes_in_use(), admitted - given_back);
            }
        }
    }
}
