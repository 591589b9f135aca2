//! A service's `autoscale` section: checked in full, each problem at its own
//! path and all of them in one pass; a section that is right is refused only
//! because the world does not simulate autoscaling yet (issue 16), so that a
//! scenario cannot run as if its autoscaler were there.

use meshsim::scenario;
use serde_json::{Value, json};

fn system(autoscale: Value) -> Value {
    json!({
        "name": "autoscale",
        "duration": "10s",
        "services": {
            "front": {"service_time": {"constant": "1ms"}, "calls": [{"service": "back"}]},
            "back": {"instances": 2, "concurrency": 4, "service_time": {"constant": "5ms"},
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

const NOT_YET: &str = "autoscaling is checked but not simulated yet";

#[test]
fn a_right_section_is_refused_only_because_it_is_not_simulated_yet() {
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
        let found = problems(&system(autoscale.clone()));
        assert_eq!(found.len(), 1, "{autoscale}: {found:?}");
        assert!(found[0].contains("services.back.autoscale: "), "{found:?}");
        assert!(found[0].contains(NOT_YET), "{found:?}");
    }
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
        // The gate is not reported on top of a real problem in the section.
        if at.contains("autoscale.") {
            assert!(
                !found.iter().any(|line| line.contains(NOT_YET)),
                "{change}: {found:?}"
            );
        }
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
