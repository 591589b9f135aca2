//! A service's `autoscale` section: checked in full, each problem at its own
//! path and all of them in one pass; and the autoscaler at work in the
//! world: the HPA's formula step by step, a spike shorter than the boot
//! time lost whatever the maximum, the scale-down's stabilisation window,
//! and the faults of the metrics pipeline and of capacity.

use meshsim::kernel::SimTime;
use meshsim::metrics::autoscale::{AutoscaleOutcome, DecisionReason};
use meshsim::scenario;
use meshsim::world;
use serde_json::{Value, json};

fn system(autoscale: Value) -> Value {
    json!({
        "name": "autoscale",
        "duration": "10s",
        "services": {
            "front": {"service_time": {"constant": "1ms"}, "calls": [{"service": "back"}]},
            "back": {"instances": 2, "concurrency": 4, "service_time": {"constant": "5ms"},
                     "discovery": {"health_check": {"interval": "5s", "timeout": "1s"}},
                     "autoscale": autoscale}
        },
        "workload": {"arrivals": {"poisson": {"rate": 50}}, "routes": [{"service": "front"}]}
    })
}

/// The problems of `value`, one line each, without the header.
fn problems(value: &Value) -> Vec<String> {
    let text = scenario::parse(&value.to_string(), "autoscale.json")
        .expect_err("refused")
        .to_string();
    text.lines()
        .skip(1)
        .map(|line| line.trim().to_string())
        .collect()
}

#[test]
fn a_right_section_compiles_and_runs() {
    for autoscale in [
        json!({"target": {"utilization_percent": 60}, "max_instances": 10}),
        json!({"target": {"in_flight": 2.5}, "min_instances": 2, "max_instances": 10,
               "sync_period": "30s", "metric_window": "1m", "tolerance": 0.05,
               "scale_up": {"stabilization_window": "1m", "select_policy": "min",
                            "policies": [{"type": "instances", "value": 2, "period": "1m"},
                                         {"type": "percent", "value": 50, "period": "1m"}],
                            "tolerance": 0.02},
               "scale_down": {"select_policy": "disabled"}}),
        json!({"target": {"queue_length": 10}, "max_instances": 3}),
    ] {
        let compiled = scenario::parse(&system(autoscale.clone()).to_string(), "a.json")
            .unwrap_or_else(|e| panic!("{autoscale}: {e}"));
        let run = world::run(&compiled, 1, None);
        let back = run.autoscale[0].as_ref().expect("back is autoscaled");
        assert!(run.autoscale[1].is_none(), "front is not");
        assert!(back.syncs >= 1, "{autoscale}: {back:?}");
    }
}

#[test]
fn an_autoscaled_service_needs_discovery() {
    let mut value = system(json!({"target": {"utilization_percent": 60}, "max_instances": 10}));
    value["services"]["back"]
        .as_object_mut()
        .unwrap()
        .remove("discovery");
    let found = problems(&value);
    assert!(
        found
            .iter()
            .any(|l| l.contains("services.back.autoscale: ") && l.contains("needs `discovery`")),
        "{found:?}"
    );
}

#[test]
fn each_problem_is_located_at_its_field() {
    let base = json!({"target": {"utilization_percent": 60}, "max_instances": 10});
    for (change, at) in [
        (json!({"target": {}}), "services.back.autoscale.target: "),
        (
            json!({"target": {"in_flight": 2, "queue_length": 3}}),
            "services.back.autoscale.target: ",
        ),
        (
            json!({"target": {"utilization_percent": 0}}),
            "services.back.autoscale.target.utilization_percent: ",
        ),
        (
            json!({"target": {"queue_length": 0.0001}}),
            "services.back.autoscale.target.queue_length: ",
        ),
        (
            json!({"min_instances": 0}),
            "services.back.autoscale.min_instances: ",
        ),
        (
            json!({"min_instances": 3, "max_instances": 2}),
            "services.back.autoscale.max_instances: ",
        ),
        (json!({"min_instances": 3}), "services.back.instances: "),
        (json!({"max_instances": 1}), "services.back.instances: "),
        (
            json!({"sync_period": "0s"}),
            "services.back.autoscale.sync_period: ",
        ),
        (
            json!({"metric_window": "2h"}),
            "services.back.autoscale.metric_window: ",
        ),
        // 64 sync periods of windows open at once is the bound.
        (
            json!({"metric_window": "16m", "sync_period": "15s"}),
            "services.back.autoscale.metric_window: ",
        ),
        (
            json!({"tolerance": -0.1}),
            "services.back.autoscale.tolerance: ",
        ),
        (
            json!({"scale_up": {"stabilization_window": "61m"}}),
            "services.back.autoscale.scale_up.stabilization_window: ",
        ),
        (
            json!({"scale_down": {"policies": []}}),
            "services.back.autoscale.scale_down.policies: ",
        ),
        (
            json!({"scale_down": {"policies": [{"type": "percent", "value": 10, "period": "1m"},
                                               {"type": "instances", "value": 0, "period": "31m"}]}}),
            "services.back.autoscale.scale_down.policies[1].value: ",
        ),
        (
            json!({"scale_down": {"policies": [{"type": "instances", "value": 1, "period": "31m"}]}}),
            "services.back.autoscale.scale_down.policies[0].period: ",
        ),
        (
            json!({"scale_up": {"tolerance": -1}}),
            "services.back.autoscale.scale_up.tolerance: ",
        ),
        // Within every bound of its own, but an hour's window at a sync every
        // 10 ms is more history than the pattern keeps: the pattern says so.
        (
            json!({"sync_period": "10ms", "scale_down": {"stabilization_window": "1h"}}),
            "services.back.autoscale.sync_period: ",
        ),
    ] {
        let mut autoscale = base.clone();
        for (k, v) in change.as_object().unwrap() {
            autoscale[k] = v.clone();
        }
        let found = problems(&system(autoscale));
        assert!(
            found.iter().any(|line| line.contains(at)),
            "{change}: expected a problem at {at}, got {found:?}"
        );
    }
}

#[test]
fn every_problem_of_a_section_is_reported_in_one_pass() {
    let autoscale = json!({
        "target": {"utilization_percent": 60}, "min_instances": 0, "max_instances": 10,
        "sync_period": "0s", "tolerance": -1,
        "scale_up": {"policies": [{"type": "instances", "value": 0, "period": "15s"}]},
        "scale_down": {"stabilization_window": "2h"}
    });
    let found = problems(&system(autoscale));
    for at in [
        "autoscale.min_instances: ",
        "autoscale.sync_period: ",
        "autoscale.tolerance: ",
        "autoscale.scale_up.policies[0].value: ",
        "autoscale.scale_down.stabilization_window: ",
    ] {
        assert!(
            found.iter().any(|line| line.contains(at)),
            "{at}: {found:?}"
        );
    }
    assert_eq!(found.len(), 5, "{found:?}");
}

#[test]
fn a_misspelt_field_is_a_structural_error_with_a_suggestion() {
    let found = problems(&system(
        json!({"target": {"utilisation_percent": 60}, "max_instances": 10}),
    ));
    assert!(
        found.iter().any(|line| line.contains("utilisation_percent")
            && line.contains("did you mean `utilization_percent`")),
        "{found:?}"
    );
    let found = problems(&system(json!({
        "target": {"in_flight": 3}, "max_instances": 10,
        "scale_up": {"select_policy": "maximum"}
    })));
    assert!(
        found
            .iter()
            .any(|line| line.contains("scale_up.select_policy")),
        "{found:?}"
    );
}

// ---------------------------------------------------------------------
// The autoscaler at work.

const SEC: u64 = 1_000_000_000;

fn at(seconds: u64) -> SimTime {
    SimTime::from_nanos(seconds * SEC)
}

/// Clients call `api` directly; `api` has `concurrency` workers per
/// instance, 2 instances at the start, and the autoscaler `autoscale`.
fn scaled(
    duration: &str,
    service_time: Value,
    boot: &str,
    autoscale: Value,
    rate: f64,
    schedule: Value,
) -> Value {
    json!({
        "name": "scaled", "duration": duration, "seed": 3,
        "services": {
            "api": {"instances": 2, "concurrency": 4, "queue_capacity": 50,
                    "service_time": service_time,
                    "boot_time": {"constant": boot},
                    "discovery": {"health_check": {"interval": "2s", "timeout": "1s"},
                                  "refresh": "2s"},
                    "autoscale": autoscale}
        },
        "workload": {"arrivals": {"poisson": {"rate": rate}}, "schedule": schedule,
                     "routes": [{"service": "api"}], "timeout": "1s"}
    })
}

fn run(value: &Value) -> (world::RunOutcome, AutoscaleOutcome) {
    let compiled = scenario::parse(&value.to_string(), "scaled.json").expect("valid");
    let mut run = world::run(&compiled, 3, None);
    let outcome = run.autoscale[0].take().expect("api is autoscaled");
    (run, outcome)
}

/// Kubernetes' replica calculator with every pod ready and measured:
/// utilisation in whole percent (truncated), within the tolerance band the
/// current count, else `⌈ratio × current⌉`.
fn reference(metric_percent: f64, target_percent: f64, tolerance: f64, current: u32) -> u32 {
    let utilization = (metric_percent + 1e-9).floor();
    let ratio = utilization / target_percent;
    if (1.0 - tolerance..=1.0 + tolerance).contains(&ratio) {
        current
    } else {
        (ratio * f64::from(current)).ceil() as u32
    }
}

#[test]
fn each_sync_recommends_what_the_hpa_formula_gives() {
    // A ramp up and down again: the count goes up and comes down.
    let value = scaled(
        "900s",
        json!({"exponential": {"mean": "10ms"}}),
        "5s",
        json!({"target": {"utilization_percent": 50}, "min_instances": 2, "max_instances": 20,
               "scale_down": {"stabilization_window": "60s"}}),
        200.0,
        json!([{"at": "60s", "ramp_to": 2400, "over": "300s"},
               {"at": "500s", "ramp_to": 200, "over": "200s"}]),
    );
    let (_, outcome) = run(&value);
    assert_eq!(outcome.syncs, 60, "a sync every 15 s from 0 to 885 s");
    let mut checked = 0;
    let mut changes = 0;
    for d in &outcome.decisions {
        let Some(recommendation) = d.recommendation else {
            continue;
        };
        if d.unmeasured > 0 || d.measured != d.from {
            // Kubernetes fills in the missing and unready pods then: the
            // pattern's own tests check that case.
            continue;
        }
        let metric = d.metric.expect("measured pods have a metric");
        assert_eq!(
            recommendation,
            reference(metric, 50.0, 0.1, d.from),
            "at {:?}: {d:?}",
            d.at
        );
        checked += 1;
        changes += u32::from(d.to != d.from);
    }
    assert!(
        checked >= 40,
        "{checked} syncs checked of {}",
        outcome.syncs
    );
    assert!(changes >= 6, "{changes} changes among them");
    assert!(outcome.peak_desired >= 10, "{outcome:?}");
    assert!(
        outcome.scale_ups > 0 && outcome.scale_downs > 0,
        "{outcome:?}"
    );
    // What the metric asked for is what the rows show decided, window by
    // window: the desired count never leaves the bounds.
    for (_, _, row) in &outcome.rows {
        assert!((2..=20).contains(&row.desired), "{row:?}");
    }
}

/// Requests and failures of route 0 in the phase that starts at `start`
/// (those still in flight at the end are not failures).
fn failures_in_phase(run: &world::RunOutcome, start: SimTime) -> (u64, u64) {
    let phase = run
        .phases
        .iter()
        .position(|p| p.start == start)
        .expect("a phase starts there");
    let routes = run.routes.len();
    let p = &run.route_phases[phase * routes];
    let c = &p.counts;
    (c.requests, c.requests - c.successes - p.in_flight_at_end)
}

#[test]
fn a_spike_shorter_than_the_boot_time_is_lost_whatever_the_maximum() {
    // Two instances of 4 workers at 20 ms: 400/s. A spike to 1,200/s for
    // 20 s; instances take 30 s to boot.
    let spike = json!([{"at": "60s", "rate": 1200, "for": "20s"}]);
    let with = |max: u32, boot: &str| {
        scaled(
            "180s",
            json!({"exponential": {"mean": "20ms"}}),
            boot,
            // Requests in flight, not utilisation: busy workers saturate
            // at 100 %, so a utilisation target asks for at most twice the
            // instances per sync; the queue says how far behind it is.
            json!({"target": {"in_flight": 3}, "min_instances": 2, "max_instances": max}),
            200.0,
            spike.clone(),
        )
    };
    let (small, small_scaler) = run(&with(4, "30s"));
    let (large, large_scaler) = run(&with(40, "30s"));
    let (requests, lost) = failures_in_phase(&small, at(60));
    assert!(
        lost * 10 > requests,
        "the spike overloads: {lost} of {requests} failed"
    );
    // Both scale up during the spike, and none of the new instances is
    // ready before it ends: the same requests fail, exactly (the draws
    // are keyed, so the two runs see the same arrivals and service times).
    assert!(
        small_scaler.peak_desired == 4 && large_scaler.peak_desired > 4,
        "{small_scaler:?}\n{large_scaler:?}"
    );
    assert_eq!(failures_in_phase(&large, at(60)), (requests, lost));
    let ready_during_spike = |o: &AutoscaleOutcome| {
        o.rows
            .iter()
            .filter(|(s, e, _)| *s >= at(60) && *e <= at(80))
            .map(|(_, _, r)| r.ready)
            .max()
            .unwrap()
    };
    assert_eq!(ready_during_spike(&small_scaler), 2);
    assert_eq!(ready_during_spike(&large_scaler), 2);
    // With a 1 s boot, a 1 s boot alone saves little: the first sync to
    // see the spike comes 15 s into it. With syncs every 5 s over a 5 s
    // window as well, a good part of the spike is caught.
    let (slow_sync, _) = run(&with(40, "1s"));
    let (_, slow_sync_lost) = failures_in_phase(&slow_sync, at(60));
    assert!(slow_sync_lost < lost, "{slow_sync_lost} vs {lost}");
    let mut quick = with(40, "1s");
    quick["services"]["api"]["autoscale"]["sync_period"] = json!("5s");
    quick["services"]["api"]["autoscale"]["metric_window"] = json!("5s");
    let (quick, _) = run(&quick);
    let (_, quick_lost) = failures_in_phase(&quick, at(60));
    assert!(
        quick_lost * 3 < lost * 2,
        "fast boots and syncs save a third of the spike at least: {quick_lost} vs {lost}"
    );
}

/// The load drops at 200 s; the scale-down waits out its window.
fn scale_down_after_drop(window: &str) -> AutoscaleOutcome {
    let value = scaled(
        "800s",
        json!({"exponential": {"mean": "20ms"}}),
        "5s",
        json!({"target": {"utilization_percent": 50}, "min_instances": 2, "max_instances": 20,
               "scale_down": {"stabilization_window": window}}),
        1200.0,
        json!([{"at": "200s", "rate": 150}]),
    );
    run(&value).1
}

#[test]
fn a_scale_down_waits_out_its_stabilisation_window() {
    for (window, seconds) in [("300s", 300), ("0s", 0), ("90s", 90)] {
        let outcome = scale_down_after_drop(window);
        let down = outcome
            .decisions
            .iter()
            .find(|d| d.to < d.from)
            .unwrap_or_else(|| panic!("{window}: no scale-down: {outcome:?}"));
        // The last sync whose recommendation was not below the count it
        // came down from.
        let last_high = outcome
            .decisions
            .iter()
            .filter(|d| d.at < down.at && d.recommendation.is_some_and(|r| r >= down.from))
            .map(|d| d.at)
            .max()
            .expect("a high recommendation before");
        assert!(last_high < at(215), "{window}: {last_high:?}");
        assert_eq!(
            down.at.as_nanos() - last_high.as_nanos(),
            (seconds as u64).max(15) * SEC,
            "{window}: down at {:?}, last high at {last_high:?}",
            down.at
        );
    }
}

#[test]
fn a_metrics_outage_holds_the_count() {
    let mut value = scaled(
        "300s",
        json!({"exponential": {"mean": "20ms"}}),
        "5s",
        json!({"target": {"utilization_percent": 50}, "min_instances": 2, "max_instances": 20}),
        200.0,
        json!([{"at": "60s", "rate": 1200}]),
    );
    value["faults"] = json!([{"at": "50s", "for": "100s", "metrics_outage": {"service": "api"}}]);
    let (_, outcome) = run(&value);
    let during: Vec<_> = outcome
        .decisions
        .iter()
        .filter(|d| d.at >= at(50) && d.at < at(150))
        .collect();
    assert!(!during.is_empty());
    for d in &during {
        assert_eq!(d.reason, DecisionReason::NoMetric, "{d:?}");
        assert_eq!(d.to, d.from, "{d:?}");
    }
    // And the first sync, at 0 s, had no window to measure yet.
    assert_eq!(outcome.decisions[0].reason, DecisionReason::NoMetric);
    assert_eq!(outcome.syncs_without_metric, during.len() as u64 + 1);
    // Once it is back, the load is seen and the count goes up.
    let after = outcome.decisions.iter().find(|d| d.at >= at(150)).unwrap();
    assert!(after.to > after.from, "{after:?}");
}

#[test]
fn a_scale_limit_refuses_starts_and_lets_them_go_when_it_ends() {
    let mut value = scaled(
        "300s",
        json!({"exponential": {"mean": "20ms"}}),
        "5s",
        json!({"target": {"utilization_percent": 50}, "min_instances": 2, "max_instances": 20}),
        1200.0,
        json!([]),
    );
    value["faults"] =
        json!([{"at": "0s", "for": "120s", "scale_limit": {"service": "api", "instances": 4}}]);
    let (_, outcome) = run(&value);
    assert!(outcome.starts_refused > 0, "{outcome:?}");
    for (start, end, row) in &outcome.rows {
        let running = row.starting + row.ready + row.not_ready + row.down;
        // The row that ends at 120 s is seen after the limit ended.
        if *end < at(120) {
            assert!(running <= 4, "{start:?}: {row:?}");
        }
    }
    let last = outcome.rows.last().unwrap().2;
    assert!(last.ready > 4, "{last:?}");
}

#[test]
fn instance_seconds_are_the_instances_run_times_the_time() {
    // min = max: nothing scales, and the cost is exact.
    let value = scaled(
        "100s",
        json!({"constant": "1ms"}),
        "5s",
        json!({"target": {"utilization_percent": 50}, "min_instances": 2, "max_instances": 2}),
        100.0,
        json!([]),
    );
    let (_, outcome) = run(&value);
    assert_eq!(outcome.instance_seconds, 200.0);
    assert_eq!((outcome.scale_ups, outcome.scale_downs), (0, 0));
    assert_eq!(outcome.syncs, 7);
}

#[test]
fn a_shutdown_delay_keeps_a_scale_down_from_refusing_requests() {
    // The load drops at 200 s; 300 s later the autoscaler removes
    // instances. Callers refresh their views every 2 s.
    let with = |delay: Option<&str>| {
        let mut value = scaled(
            "800s",
            json!({"exponential": {"mean": "20ms"}}),
            "5s",
            json!({"target": {"utilization_percent": 50}, "min_instances": 2,
                   "max_instances": 20}),
            1200.0,
            json!([{"at": "200s", "rate": 150}]),
        );
        if let Some(delay) = delay {
            value["services"]["api"]["shutdown_delay"] = json!(delay);
        }
        run(&value)
    };
    let (abrupt, abrupt_scaler) = with(None);
    assert!(abrupt_scaler.scale_downs > 0, "{abrupt_scaler:?}");
    let (requests, refused) = failures_in_phase(&abrupt, at(200));
    assert!(
        refused > 0,
        "without a delay, draining instances still in views refuse: 0 of {requests}"
    );
    let (gentle, scaler) = with(Some("10s"));
    assert!(scaler.scale_downs > 0, "{scaler:?}");
    assert_eq!(failures_in_phase(&gentle, at(200)), (requests, 0));
    // The same decisions, and the instances it removed were paid for
    // while they lingered: 10 s each, less the drains the abrupt stops
    // had (milliseconds: the gentle ones have nothing left to drain).
    assert_eq!(scaler.stopped, abrupt_scaler.stopped);
    let extra = scaler.instance_seconds - abrupt_scaler.instance_seconds;
    let expected = 10.0 * scaler.stopped as f64;
    assert!(
        extra <= expected && extra > expected - 1.0,
        "{extra} instance-seconds more, for {} stopped",
        scaler.stopped
    );
}

#[test]
fn a_slow_boot_fault_stretches_the_time_to_capacity() {
    // One step up at 30 s: the autoscaler asks for more at the next sync;
    // boots take 10 s, or 40 s under the fault.
    let with = |slow: bool| {
        let mut value = scaled(
            "200s",
            json!({"exponential": {"mean": "20ms"}}),
            "10s",
            json!({"target": {"in_flight": 3}, "min_instances": 2, "max_instances": 20}),
            100.0,
            json!([{"at": "30s", "rate": 600}]),
        );
        if slow {
            value["faults"] = json!([{"at": "0s", "slow_boot": {"service": "api", "factor": 4}}]);
        }
        run(&value).1
    };
    let first_shortfall = |o: &AutoscaleOutcome| {
        o.episodes
            .first()
            .and_then(|e| e.duration())
            .unwrap_or_else(|| panic!("a shortfall that ended: {o:?}"))
            .as_secs_f64()
    };
    let (quick, slow) = (with(false), with(true));
    let (quick_s, slow_s) = (first_shortfall(&quick), first_shortfall(&slow));
    // Ready 10 s after the sync that asked: the boot, constant.
    assert_eq!(quick_s, 10.0);
    // At least the 40 s boot; longer, as the syncs meanwhile see the
    // overload go on and ask for more, which boot as slowly.
    assert!(slow_s >= 40.0, "{slow_s} s");
    // 30 s more of one-second windows with fewer ready than decided.
    let lost = |o: &AutoscaleOutcome| {
        o.rows
            .iter()
            .filter(|(_, _, r)| r.ready < r.desired)
            .count()
    };
    assert!(
        lost(&slow) >= lost(&quick) + 30,
        "{} vs {} short windows",
        lost(&slow),
        lost(&quick)
    );
}

mod invariants {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(16))]

        /// Whatever the load, the boots and the faults: the count decided
        /// stays within the bounds, the controller never runs more
        /// instances than decided (held ones still draining aside), nor
        /// more than it has slots, nor more than a scale limit allows, and
        /// the cost is never below what the rows show running.
        #[test]
        fn the_controller_keeps_within_what_was_decided(
            rates in proptest::collection::vec(50.0f64..3000.0, 1..5),
            boot_ms in 0u64..40_000,
            max in 3u32..12,
            limit in proptest::option::of(2u32..6),
            outage in any::<bool>(),
            crash in any::<bool>(),
            delay in proptest::option::of(0u64..8),
        ) {
            let schedule: Vec<Value> = rates
                .iter()
                .enumerate()
                .map(|(i, r)| json!({"at": format!("{}s", 20 + 40 * i), "rate": r}))
                .collect();
            let mut value = scaled(
                "220s",
                json!({"exponential": {"mean": "15ms"}}),
                &format!("{boot_ms}ms"),
                json!({"target": {"utilization_percent": 50}, "min_instances": 2,
                       "max_instances": max, "sync_period": "10s", "metric_window": "20s",
                       "scale_down": {"stabilization_window": "20s"}}),
                200.0,
                Value::Array(schedule),
            );
            let mut faults = Vec::new();
            if let Some(n) = limit {
                faults.push(json!({"at": "30s", "for": "60s",
                                   "scale_limit": {"service": "api", "instances": n}}));
            }
            if outage {
                faults.push(json!({"at": "100s", "for": "30s",
                                   "metrics_outage": {"service": "api"}}));
            }
            if crash {
                faults.push(json!({"at": "60s", "for": "15s",
                                   "crash": {"service": "api", "instance": 1}}));
            }
            value["faults"] = Value::Array(faults);
            if let Some(s) = delay {
                value["services"]["api"]["shutdown_delay"] = json!(format!("{s}s"));
            }
            let (_, o) = run(&value);
            let mut area = 0.0;
            for (start, end, row) in &o.rows {
                prop_assert!((2..=max).contains(&row.desired), "{row:?}");
                let running = row.starting + row.ready + row.not_ready + row.down;
                prop_assert!(running <= row.desired, "at {start:?}: {row:?}");
                prop_assert!(running + row.draining <= max, "at {start:?}: {row:?}");
                if let Some(n) = limit {
                    // Within the limit's span (30 s to 90 s), no start
                    // beyond it: what ran before it may exceed it.
                    if *start >= at(30) && *end < at(90) && running > n {
                        prop_assert!(
                            o.rows.iter().any(|(s, _, r)| *s < at(30)
                                && r.starting + r.ready + r.not_ready + r.down >= running),
                            "{running} running under a limit of {n} at {start:?}"
                        );
                    }
                }
                area += f64::from(running) * (end.as_secs_f64() - start.as_secs_f64());
            }
            // Rows show the state at each window's end: a rough lower bound
            // on the cost, loose enough for changes inside windows.
            prop_assert!(o.instance_seconds + 1e-6 >= area * 0.8, "{} < {area}", o.instance_seconds);
            for d in &o.decisions {
                prop_assert!((2..=max).contains(&d.to), "{d:?}");
                if d.reason == DecisionReason::NoMetric {
                    prop_assert_eq!(d.to, d.from);
                }
            }
        }
    }
}
