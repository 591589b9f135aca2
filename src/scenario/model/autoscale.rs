//! A service's horizontal autoscaler, as serde types: the metric and its
//! target, the instance bounds, the sync period and metric window, the
//! tolerance, and the behaviour of each direction (meaning in
//! `docs/scenarios.md`, checks in `validate/autoscale.rs`, the pattern's
//! configuration built in `compile/autoscale.rs`). The names follow
//! Kubernetes' `HorizontalPodAutoscaler` (`autoscaling/v2`), in snake case.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::kernel::SimDuration;

fn one() -> u32 {
    1
}
fn fifteen_seconds() -> SimDuration {
    SimDuration::from_secs(15)
}
fn default_tolerance() -> f64 {
    0.1
}

/// How many instances a service runs, decided every `sync_period` from a
/// metric averaged over `metric_window`, as Kubernetes' horizontal pod
/// autoscaler decides.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct AutoscaleSpec {
    /// The metric, per instance, and the value to keep it at: exactly one
    /// of its fields.
    pub target: AutoscaleTarget,
    /// The fewest instances (`minReplicas`); at least 1.
    #[schemars(range(min = 1))]
    #[serde(default = "one")]
    pub min_instances: u32,
    /// The most instances (`maxReplicas`); at least `min_instances`.
    #[schemars(range(min = 1, max = crate::scenario::validate::MAX_INSTANCES))]
    pub max_instances: u32,
    /// Time between two decisions (`--horizontal-pod-autoscaler-sync-period`).
    #[serde(default = "fifteen_seconds")]
    pub sync_period: SimDuration,
    /// The span the metric is averaged over before each decision (the
    /// metrics pipeline's resolution).
    #[serde(default = "fifteen_seconds")]
    pub metric_window: SimDuration,
    /// How far the metric may stray from its target, as a fraction of it,
    /// before anything changes (`--horizontal-pod-autoscaler-tolerance`);
    /// each direction may set its own.
    #[schemars(range(min = 0.0))]
    #[serde(default = "default_tolerance")]
    pub tolerance: f64,
    /// How fast it adds instances (`behavior.scaleUp`); unset fields take
    /// Kubernetes' defaults.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scale_up: Option<ScalingRulesSpec>,
    /// How fast it removes instances (`behavior.scaleDown`); unset fields
    /// take Kubernetes' defaults.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scale_down: Option<ScalingRulesSpec>,
}

/// The metric an autoscaler keeps at a target: exactly one field.
#[derive(Clone, Debug, Default, Serialize, Deserialize, JsonSchema, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct AutoscaleTarget {
    /// Busy workers as a percent of the instance's workers (CPU-like:
    /// Kubernetes' `averageUtilization`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 100_000))]
    pub utilization_percent: Option<u32>,
    /// Requests in the instance (waiting or in service) per instance (a
    /// `Pods` metric's `averageValue`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0.001, max = 1e9))]
    pub in_flight: Option<f64>,
    /// Requests waiting in the instance's queue per instance (a `Pods`
    /// metric's `averageValue`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0.001, max = 1e9))]
    pub queue_length: Option<f64>,
}

/// One direction's behaviour (`HPAScalingRules`); an unset field takes the
/// direction's default.
#[derive(Clone, Debug, Default, Serialize, Deserialize, JsonSchema, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ScalingRulesSpec {
    /// How far back recommendations are remembered: a scale-up takes the
    /// lowest of them, a scale-down the highest (`stabilizationWindowSeconds`:
    /// 0 up, 300 s down).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stabilization_window: Option<SimDuration>,
    /// Which policy's limit applies (`selectPolicy`): the one that allows the
    /// most change (`max`, the default), the least (`min`), or no change
    /// (`disabled`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub select_policy: Option<SelectPolicySpec>,
    /// The rate limits (`policies`): up, 4 instances or 100 % per 15 s; down,
    /// 100 % per 15 s.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policies: Option<Vec<ScalingPolicySpec>>,
    /// This direction's tolerance (`tolerance`); without it, the section's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0.0))]
    pub tolerance: Option<f64>,
}

/// Which policy's limit applies (`selectPolicy`).
#[derive(Clone, Copy, Debug, Serialize, Deserialize, JsonSchema, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum SelectPolicySpec {
    /// The policy that allows the most change.
    Max,
    /// The policy that allows the least change.
    Min,
    /// No change in this direction.
    Disabled,
}

/// One rate limit (`HPAScalingPolicy`): at most `value` instances, or
/// percent of the instances at the period's start, of change per `period`.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ScalingPolicySpec {
    /// `instances` or `percent`.
    #[serde(rename = "type")]
    pub kind: ScalingPolicyKind,
    /// How many instances, or what percent; at least 1.
    #[schemars(range(min = 1))]
    pub value: u32,
    /// The span the limit applies to (`periodSeconds`); at most 30 minutes.
    pub period: SimDuration,
}

/// What a policy's `value` counts (`type`).
#[derive(Clone, Copy, Debug, Serialize, Deserialize, JsonSchema, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum ScalingPolicyKind {
    /// Instances (Kubernetes' `Pods`).
    Instances,
    /// Percent of the instances at the period's start (`Percent`).
    Percent,
}
