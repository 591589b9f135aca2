//! A service's `autoscale` section compiled into the pattern's own
//! configuration ([`HpaConfig`] and [`Target`]), built by [`Hpa::new`] so that
//! what is accepted here is exactly what the autoscaler accepts; a
//! [`ConfigError`](crate::patterns::ConfigError) becomes a diagnostic at the
//! scenario's field. Unset behaviour fields take Kubernetes' defaults field by
//! field, as the API server's `copyHPAScalingRules` fills them in.
//! The world runs them (`world/autoscale.rs`).

use std::time::Duration;

use super::{JsonPath, Problems, Scenario};
use crate::kernel::SimDuration;
use crate::patterns::autoscale::{
    Hpa, HpaConfig, PolicyKind, ScalingPolicy, ScalingRules, SelectPolicy, Target,
};
use crate::scenario::model::{
    AutoscaleSpec, ScalingPolicyKind, ScalingRulesSpec, SelectPolicySpec,
};

/// What an autoscaler measures on each instance.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AutoscaleMetric {
    /// Busy workers over workers (usage and request in thousandths of a
    /// worker).
    Utilization,
    /// Requests waiting or in service, in thousandths.
    InFlight,
    /// Requests waiting in the queue, in thousandths.
    QueueLength,
}

/// A service's autoscaler, compiled.
#[derive(Clone, Debug, PartialEq)]
pub struct CompiledAutoscale {
    /// The pattern's configuration (replica bounds, sync period, behaviour).
    pub config: HpaConfig,
    /// The metric's target, in the pattern's units.
    pub target: Target,
    /// What is measured.
    pub metric: AutoscaleMetric,
    /// The span the metric is averaged over before each sync.
    pub metric_window: SimDuration,
}

fn duration(d: SimDuration) -> Duration {
    Duration::from_nanos(d.as_nanos())
}

/// Thousandths of `value`, rounded (validation keeps it within 0.001..=1e9).
fn milli(value: f64) -> u64 {
    (value * 1000.0).round() as u64
}

/// The autoscaler of every service (by index), or every problem found.
pub(in crate::scenario) fn compile_autoscale(
    scenario: &Scenario,
) -> Result<Vec<Option<CompiledAutoscale>>, Problems> {
    let mut problems = Problems::new();
    let mut out = Vec::new();
    for (name, service) in &scenario.services {
        let Some(spec) = &service.autoscale else {
            out.push(None);
            continue;
        };
        let path = JsonPath::root().key("services").key(name).key("autoscale");
        match compile_one(&path, spec) {
            Ok(compiled) => out.push(Some(compiled)),
            Err(problem) => {
                problems.push(problem);
                out.push(None);
            }
        }
    }
    if problems.is_empty() {
        Ok(out)
    } else {
        Err(problems)
    }
}

fn rules(
    spec: Option<&ScalingRulesSpec>,
    defaults: ScalingRules,
    tolerance: f64,
) -> Result<ScalingRules, crate::patterns::ConfigError> {
    let Some(spec) = spec else {
        return Ok(defaults.with_tolerance(tolerance));
    };
    let mut rules = match &spec.policies {
        None => defaults,
        Some(policies) => {
            let policies: Vec<ScalingPolicy> = policies
                .iter()
                .map(|p| ScalingPolicy {
                    kind: match p.kind {
                        ScalingPolicyKind::Instances => PolicyKind::Pods,
                        ScalingPolicyKind::Percent => PolicyKind::Percent,
                    },
                    value: p.value,
                    period: duration(p.period),
                })
                .collect();
            ScalingRules::new(defaults.stabilization_window, defaults.select, &policies)?
        }
    };
    if let Some(window) = spec.stabilization_window {
        rules = rules.with_stabilization_window(duration(window));
    }
    if let Some(select) = spec.select_policy {
        rules.select = match select {
            SelectPolicySpec::Max => SelectPolicy::Max,
            SelectPolicySpec::Min => SelectPolicy::Min,
            SelectPolicySpec::Disabled => SelectPolicy::Disabled,
        };
    }
    Ok(rules.with_tolerance(spec.tolerance.unwrap_or(tolerance)))
}

/// One section, built and checked by the pattern; the first problem, at the
/// field it is about.
pub(in crate::scenario) fn compile_one(
    path: &JsonPath,
    spec: &AutoscaleSpec,
) -> Result<CompiledAutoscale, (JsonPath, String)> {
    let (metric, target) = match (
        spec.target.utilization_percent,
        spec.target.in_flight,
        spec.target.queue_length,
    ) {
        (Some(percent), None, None) => (
            AutoscaleMetric::Utilization,
            Target::Utilization { percent },
        ),
        (None, Some(value), None) => (
            AutoscaleMetric::InFlight,
            Target::AverageValue {
                milli: milli(value),
            },
        ),
        (None, None, Some(value)) => (
            AutoscaleMetric::QueueLength,
            Target::AverageValue {
                milli: milli(value),
            },
        ),
        _ => {
            return Err((
                path.key("target"),
                "target needs exactly one of `utilization_percent`, `in_flight` and \
                 `queue_length`"
                    .into(),
            ));
        }
    };
    let at = |direction: &str, error: crate::patterns::ConfigError| {
        (
            path.key(direction).key(error.field),
            format!("{} {}", error.field, error.reason),
        )
    };
    let scale_up = rules(
        spec.scale_up.as_ref(),
        ScalingRules::default_scale_up(),
        spec.tolerance,
    )
    .map_err(|e| at("scale_up", e))?;
    let scale_down = rules(
        spec.scale_down.as_ref(),
        ScalingRules::default_scale_down(),
        spec.tolerance,
    )
    .map_err(|e| at("scale_down", e))?;
    let config = HpaConfig {
        min_replicas: spec.min_instances,
        max_replicas: spec.max_instances,
        sync_period: duration(spec.sync_period),
        scale_up,
        scale_down,
    };
    if let Err(error) = Hpa::new(config, target, 0) {
        let field = match error.field {
            "min_replicas" => "min_instances".to_string(),
            "max_replicas" => "max_instances".to_string(),
            // `scale_up.policies.value` and the like: the list, as the pattern
            // does not say which policy.
            other => other
                .strip_suffix(".value")
                .or_else(|| other.strip_suffix(".period"))
                .unwrap_or(other)
                .to_string(),
        };
        let mut at = path.clone();
        for piece in field.split('.') {
            at = at.key(piece);
        }
        return Err((at, format!("{} {}", error.field, error.reason)));
    }
    Ok(CompiledAutoscale {
        config,
        target,
        metric,
        metric_window: spec.metric_window,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::model::AutoscaleSpec;

    fn spec(json: &str) -> AutoscaleSpec {
        serde_json::from_str(json).unwrap()
    }

    fn compiled(json: &str) -> Result<CompiledAutoscale, (String, String)> {
        compile_one(&JsonPath::root().key("a"), &spec(json))
            .map_err(|(path, message)| (path.to_string(), message))
    }

    #[test]
    fn unset_fields_take_kubernetes_defaults_field_by_field() {
        let c = compiled(r#"{"target": {"utilization_percent": 60}, "max_instances": 8}"#).unwrap();
        assert_eq!(c.metric, AutoscaleMetric::Utilization);
        assert_eq!(c.target, Target::Utilization { percent: 60 });
        assert_eq!(c.metric_window, SimDuration::from_secs(15));
        let defaults = HpaConfig {
            min_replicas: 1,
            max_replicas: 8,
            ..HpaConfig::default()
        };
        assert_eq!(c.config, defaults);

        // A scale-down with only its window set keeps the default policy; its
        // own tolerance overrides the section's, the other direction keeps it.
        let c = compiled(
            r#"{"target": {"in_flight": 2.5}, "min_instances": 2, "max_instances": 8,
                "tolerance": 0.2, "sync_period": "5s",
                "scale_down": {"stabilization_window": "1m", "tolerance": 0.05},
                "scale_up": {"select_policy": "min",
                             "policies": [{"type": "instances", "value": 2, "period": "30s"}]}}"#,
        )
        .unwrap();
        assert_eq!(c.target, Target::AverageValue { milli: 2500 });
        assert_eq!(c.config.sync_period, Duration::from_secs(5));
        let down = c.config.scale_down;
        assert_eq!(down.stabilization_window, Duration::from_secs(60));
        assert_eq!(down.tolerance, 0.05);
        assert_eq!(
            down.policies().copied().collect::<Vec<_>>(),
            ScalingRules::default_scale_down()
                .policies()
                .copied()
                .collect::<Vec<_>>()
        );
        let up = c.config.scale_up;
        assert_eq!(up.select, SelectPolicy::Min);
        assert_eq!(up.tolerance, 0.2);
        assert_eq!(up.stabilization_window, Duration::ZERO);
        assert_eq!(
            up.policies().copied().collect::<Vec<_>>(),
            vec![ScalingPolicy {
                kind: PolicyKind::Pods,
                value: 2,
                period: Duration::from_secs(30),
            }]
        );
    }

    #[test]
    fn what_the_pattern_refuses_is_reported_at_the_field() {
        // An hour's window at a sync every 10 ms: 360,000 entries, over the
        // pattern's bound on its history.
        let (path, message) = compiled(
            r#"{"target": {"queue_length": 4}, "max_instances": 8, "sync_period": "10ms",
                "scale_down": {"stabilization_window": "1h"}}"#,
        )
        .unwrap_err();
        assert_eq!(path, "a.sync_period");
        assert!(message.contains("65534"), "{message}");
    }
}
