//! The replica calculator: from one metric's samples and its target, the replica
//! count the metric asks for, before stabilisation and rate limits.
//!
//! Mirrors kubernetes `pkg/controller/podautoscaler/replica_calculator.go`
//! (`GetResourceReplicas` for a utilisation target, `calcPlainMetricReplicas` for an
//! average-value target) and `metrics/utilization.go` (`GetResourceUtilizationRatio`,
//! `GetMetricUsageRatio`), integer arithmetic included:
//!
//! - a utilisation is `Σ usage × 100 / Σ request` in whole percent (truncated), an
//!   average value `Σ value / n` in whole milli-units (truncated); the usage ratio is
//!   that over the target, as a float;
//! - within the tolerance band, `(1 − down) ≤ ratio ≤ (1 + up)`, the answer is the
//!   current replica count;
//! - with every pod ready and measured, the answer is `⌈ratio × ready pods⌉`;
//! - otherwise the missing pods are filled in to damp the change (on a scale-down as
//!   using the target, or `max(100 %, target)` of their request for a utilisation; on
//!   a scale-up as using nothing), and on a scale-up the unready pods as using
//!   nothing; the ratio is computed again, and the answer is the current count if it
//!   is now within tolerance or would reverse the direction, else
//!   `⌈new ratio × pods counted⌉`, unless that moves the other way.
//!
//! What the caller decides (its business, not this module's): which pods are
//! *unready* (Kubernetes' `groupPods`: a pending pod; for a CPU metric also a pod not
//! ready, or whose sample predates its readiness, within its initialisation period),
//! which are *missing* (running, no sample), and which are left out entirely (being
//! deleted, failed).

use super::config::ScalingRules;

/// One pod's sample, as the replica calculator sorts pods (`groupPods`).
///
/// Values and requests are milli-units (Kubernetes' `MilliValue()`): for a
/// CPU-like utilisation, usage and request in the same unit (busy workers × 1000
/// and workers × 1000, say); for an average-value target the request is not read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pod {
    /// Ready, with a sample.
    Ready {
        /// The sampled value (usage), in milli-units.
        usage: u64,
        /// The pod's request, in milli-units (utilisation targets only).
        request: u64,
    },
    /// Not ready yet (pending, or starting): left out, and counted as using nothing
    /// on a scale-up.
    Unready {
        /// The pod's request, in milli-units (utilisation targets only).
        request: u64,
    },
    /// Ready but without a sample: counted as using the target on a scale-down and
    /// nothing on a scale-up.
    Missing {
        /// The pod's request, in milli-units (utilisation targets only).
        request: u64,
    },
}

/// What a metric is compared with (`MetricTarget`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Target {
    /// `type: Utilization`, `averageUtilization`: percent of each pod's request
    /// (CPU-like); above 0.
    Utilization {
        /// The target percent.
        percent: u32,
    },
    /// `type: AverageValue` (a `Pods` metric: requests in flight per pod, queue
    /// length per pod): milli-units per pod; above 0.
    AverageValue {
        /// The target per pod, in milli-units.
        milli: u64,
    },
}

/// Why no replica count could be computed: Kubernetes' `FailedComputeMetricsReplicas`.
/// The autoscaler then holds (changes nothing).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NoRecommendation {
    /// No ready pod has a sample ("did not receive metrics for targeted pods (pods
    /// might be unready)").
    NoSamples,
    /// The requests of the measured pods sum to zero ("no metrics returned matched
    /// known pods"), for a utilisation target.
    NoRequests,
}

/// The usage ratio of `(usage total, request total, pods)` against `target`: the
/// utilisation (truncated percent) or average (truncated milli-units) over the
/// target. `None` when it cannot be computed.
fn usage_ratio(target: Target, usage: u128, request: u128, pods: u128) -> Option<f64> {
    match target {
        Target::Utilization { percent } => {
            if request == 0 {
                return None;
            }
            let utilization = usage * 100 / request;
            // Kubernetes converts the percent to int32; so do we, saturating.
            let utilization = utilization.min(i32::MAX as u128) as f64;
            Some(utilization / f64::from(percent))
        }
        Target::AverageValue { milli } => {
            if pods == 0 {
                return None;
            }
            let average = (usage / pods).min(i64::MAX as u128) as f64;
            Some(average / milli as f64)
        }
    }
}

/// `⌈ratio × pods⌉` as a replica count, saturating at `i32::MAX` as Kubernetes does.
fn ceil_replicas(ratio: f64, pods: u64) -> u32 {
    let replicas = (ratio * pods as f64).ceil();
    if replicas >= f64::from(i32::MAX) {
        i32::MAX as u32
    } else if replicas <= 0.0 {
        0
    } else {
        replicas as u32
    }
}

/// Whether `ratio` is within the tolerance band (`Tolerances.isWithin`): the
/// scale-down rules' tolerance below 1, the scale-up rules' above.
pub(crate) fn within(ratio: f64, up: &ScalingRules, down: &ScalingRules) -> bool {
    (1.0 - down.tolerance) <= ratio && ratio <= (1.0 + up.tolerance)
}

/// The replica count one metric asks for (see the module documentation).
///
/// `current` is the target's replica count (`scale.spec.replicas`), `pods` every pod
/// the metric speaks for. No allocation: the pods are read twice.
///
/// ```
/// use std::time::Instant;
/// use meshsim_patterns::autoscale::{Pod, ScalingRules, Target, recommend};
///
/// let start = Instant::now();
/// let (up, down) = (ScalingRules::default_scale_up(), ScalingRules::default_scale_down());
/// // Kubernetes' documentation: 200m used for a 100m target asks for twice the pods.
/// let target = Target::AverageValue { milli: 100 };
/// let pods = [Pod::Ready { usage: 200, request: 0 }];
/// assert_eq!(recommend(target, &up, &down, 1, &pods), Ok(2));
/// // 50 % of a 100 % target: half.
/// let target = Target::Utilization { percent: 100 };
/// let pods = [Pod::Ready { usage: 500, request: 1000 }, Pod::Ready { usage: 500, request: 1000 }];
/// assert_eq!(recommend(target, &up, &down, 2, &pods), Ok(1));
/// let _now = start.elapsed().as_nanos() as u64;
/// ```
pub fn recommend(
    target: Target,
    up: &ScalingRules,
    down: &ScalingRules,
    current: u32,
    pods: &[Pod],
) -> Result<u32, NoRecommendation> {
    let (mut usage, mut request, mut ready) = (0u128, 0u128, 0u64);
    let (mut unready, mut missing) = (0u64, 0u64);
    for pod in pods {
        match *pod {
            Pod::Ready {
                usage: value,
                request: asked,
            } => {
                usage += u128::from(value);
                request += u128::from(asked);
                ready += 1;
            }
            Pod::Unready { .. } => unready += 1,
            Pod::Missing { .. } => missing += 1,
        }
    }
    if ready == 0 {
        return Err(NoRecommendation::NoSamples);
    }
    let Some(ratio) = usage_ratio(target, usage, request, u128::from(ready)) else {
        return Err(NoRecommendation::NoRequests);
    };

    let scale_up_with_unready = unready > 0 && ratio > 1.0;
    if !scale_up_with_unready && missing == 0 {
        if within(ratio, up, down) {
            return Ok(current);
        }
        return Ok(ceil_replicas(ratio, ready));
    }

    // Fill in the missing pods (both directions damped) and, on a scale-up, the
    // unready ones; at a ratio of exactly 1 the missing pods stay out.
    let fill_missing = missing > 0 && ratio != 1.0;
    let mut counted = ready;
    for pod in pods {
        match *pod {
            Pod::Ready { .. } => {}
            Pod::Missing { request: asked } if fill_missing => {
                counted += 1;
                request += u128::from(asked);
                if ratio < 1.0 {
                    usage += match target {
                        // max(100, target) % of the pod's request, per pod, truncated.
                        Target::Utilization { percent } => {
                            u128::from(asked) * u128::from(percent.max(100)) / 100
                        }
                        Target::AverageValue { milli } => u128::from(milli),
                    };
                }
            }
            Pod::Missing { .. } => {}
            Pod::Unready { request: asked } if scale_up_with_unready => {
                counted += 1;
                request += u128::from(asked);
            }
            Pod::Unready { .. } => {}
        }
    }
    let Some(new_ratio) = usage_ratio(target, usage, request, u128::from(counted)) else {
        return Err(NoRecommendation::NoRequests);
    };
    if within(new_ratio, up, down)
        || (ratio < 1.0 && new_ratio > 1.0)
        || (ratio > 1.0 && new_ratio < 1.0)
    {
        return Ok(current);
    }
    let replicas = ceil_replicas(new_ratio, counted);
    if (new_ratio < 1.0 && replicas > current) || (new_ratio > 1.0 && replicas < current) {
        return Ok(current);
    }
    Ok(replicas)
}
