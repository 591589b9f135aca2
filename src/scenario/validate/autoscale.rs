//! The checks on a service's `autoscale` section, each at its own path: one
//! metric with a target the pattern can hold, bounds that contain the
//! service's `instances`, positive periods, tolerances of at least 0, and
//! each direction's behaviour within the bounds Kubernetes' API validation
//! applies (`pkg/apis/autoscaling/validation/validation.go`: a window of at
//! most an hour, policy periods of at most 30 minutes, values of at least
//! 1). The limit on a history's length (window / sync period) is the
//! pattern's, checked when it is built in `compile/autoscale.rs`.

use super::{Checker, MAX_INSTANCES, num};
use crate::kernel::SimDuration;
use crate::patterns::autoscale::{MAX_PERIOD, MAX_POLICIES, MAX_STABILIZATION_WINDOW};
use crate::scenario::diagnostic::JsonPath;
use crate::scenario::model::{AutoscaleSpec, AutoscaleTarget, ScalingRulesSpec, Service};

/// The highest target percent (Kubernetes allows a target above 100 %).
pub const MAX_UTILIZATION_PERCENT: u32 = 100_000;
/// The highest per-instance target of a count metric.
pub const MAX_TARGET_VALUE: f64 = 1e9;
/// The lowest per-instance target of a count metric (the pattern counts in
/// thousandths).
pub const MIN_TARGET_VALUE: f64 = 0.001;
/// A metric window may span fewer sync periods than this: the windows of
/// that many syncs are open at once, each holding a sample per instance.
pub const MAX_WINDOWS_PER_SYNC: u64 = 64;
/// The longest metric window.
pub const MAX_METRIC_WINDOW: SimDuration = SimDuration::from_secs(3600);

fn nanos(d: std::time::Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

impl Checker<'_> {
    pub(super) fn autoscale(&mut self, name: &str, service: &Service, spec: &AutoscaleSpec) {
        let service_path = JsonPath::root().key("services").key(name);
        let path = service_path.key("autoscale");
        self.autoscale_target(path.key("target"), &spec.target);
        if spec.min_instances == 0 {
            self.problem(
                path.key("min_instances"),
                "min_instances must be at least 1",
            );
        }
        if spec.max_instances < spec.min_instances.max(1) || spec.max_instances > MAX_INSTANCES {
            self.problem(
                path.key("max_instances"),
                format!(
                    "max_instances must be between min_instances ({}) and {MAX_INSTANCES}",
                    spec.min_instances
                ),
            );
        } else if !(spec.min_instances..=spec.max_instances).contains(&service.instances) {
            self.problem(
                service_path.key("instances"),
                format!(
                    "the {} instance(s) at the start must be between min_instances ({}) and \
                     max_instances ({})",
                    service.instances, spec.min_instances, spec.max_instances
                ),
            );
        }
        if service.discovery.is_none() {
            self.problem(
                path.clone(),
                "an autoscaled service needs `discovery`: without a registry its callers \
                 would call every instance it may run, started or not, and never learn of \
                 new ones",
            );
        }
        self.positive_duration(path.key("sync_period"), spec.sync_period);
        self.positive_duration(path.key("metric_window"), spec.metric_window);
        if spec.metric_window > MAX_METRIC_WINDOW {
            self.problem(
                path.key("metric_window"),
                format!("must be at most {MAX_METRIC_WINDOW}"),
            );
        } else if !spec.sync_period.is_zero()
            && spec.metric_window.as_nanos() / spec.sync_period.as_nanos().max(1)
                >= MAX_WINDOWS_PER_SYNC
        {
            self.problem(
                path.key("metric_window"),
                format!(
                    "must be shorter than {MAX_WINDOWS_PER_SYNC} sync periods (the metric's \
                     windows overlap; each open one holds a sample of every instance)"
                ),
            );
        }
        self.tolerance(path.key("tolerance"), spec.tolerance);
        for (key, rules) in [
            ("scale_up", &spec.scale_up),
            ("scale_down", &spec.scale_down),
        ] {
            if let Some(rules) = rules {
                self.scaling_rules(path.key(key), rules);
            }
        }
    }

    fn autoscale_target(&mut self, path: JsonPath, target: &AutoscaleTarget) {
        let given = [
            target.utilization_percent.is_some(),
            target.in_flight.is_some(),
            target.queue_length.is_some(),
        ];
        if given.iter().filter(|&&g| g).count() != 1 {
            self.problem(
                path,
                "target needs exactly one of `utilization_percent`, `in_flight` and \
                 `queue_length`",
            );
            return;
        }
        if let Some(percent) = target.utilization_percent
            && !(1..=MAX_UTILIZATION_PERCENT).contains(&percent)
        {
            self.problem(
                path.key("utilization_percent"),
                format!("utilization_percent must be between 1 and {MAX_UTILIZATION_PERCENT}"),
            );
        }
        for (key, value) in [
            ("in_flight", target.in_flight),
            ("queue_length", target.queue_length),
        ] {
            if let Some(value) = value
                && !(value.is_finite() && (MIN_TARGET_VALUE..=MAX_TARGET_VALUE).contains(&value))
            {
                self.problem(
                    path.key(key),
                    format!(
                        "{key} must be between {} and {} per instance, got {}",
                        num(MIN_TARGET_VALUE),
                        num(MAX_TARGET_VALUE),
                        num(value)
                    ),
                );
            }
        }
    }

    fn tolerance(&mut self, path: JsonPath, tolerance: f64) {
        if !(tolerance.is_finite() && tolerance >= 0.0) {
            self.problem(
                path,
                format!(
                    "a tolerance must be a fraction of at least 0 (0.1 is 10 %), got {}",
                    num(tolerance)
                ),
            );
        }
    }

    fn scaling_rules(&mut self, path: JsonPath, rules: &ScalingRulesSpec) {
        if let Some(window) = rules.stabilization_window
            && nanos(MAX_STABILIZATION_WINDOW) < window.as_nanos()
        {
            self.problem(
                path.key("stabilization_window"),
                "stabilization_window must be at most 1h (Kubernetes' bound)",
            );
        }
        if let Some(tolerance) = rules.tolerance {
            self.tolerance(path.key("tolerance"), tolerance);
        }
        let Some(policies) = &rules.policies else {
            return;
        };
        if policies.is_empty() || policies.len() > MAX_POLICIES {
            self.problem(
                path.key("policies"),
                format!(
                    "{} policies: list between 1 and {MAX_POLICIES} (or leave `policies` out \
                     for the defaults)",
                    policies.len()
                ),
            );
        }
        for (i, policy) in policies.iter().enumerate() {
            let at = path.key("policies").index(i);
            if policy.value == 0 {
                self.problem(at.key("value"), "value must be at least 1");
            }
            if policy.period.is_zero() || nanos(MAX_PERIOD) < policy.period.as_nanos() {
                self.problem(
                    at.key("period"),
                    "period must be longer than zero and at most 30m (Kubernetes' bound)",
                );
            }
        }
    }
}
