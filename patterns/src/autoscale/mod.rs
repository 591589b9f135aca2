//! A horizontal autoscaler as the **Kubernetes** `HorizontalPodAutoscaler`
//! controller decides: told `now`, the target's replica count and one metric's
//! samples, it says how many replicas the target should have.
//!
//! Semantics, from kubernetes/kubernetes `pkg/controller/podautoscaler/`:
//!
//! - `horizontal.go`, `reconcileAutoscaler`: a target at 0 replicas is not scaled
//!   ("scaling is disabled"); one above `maxReplicas` is set to it, one below
//!   `minReplicas` to that, without consulting the metric; otherwise the metric's
//!   recommendation ([`recommend`], `replica_calculator.go`) is normalised, and a
//!   change is recorded as a scale event. A metric that cannot be computed (no
//!   samples: the metrics pipeline is down, or every pod is unready) changes
//!   nothing, as Kubernetes' `FailedComputeMetricsReplicas`: the last decision holds.
//! - `recordInitialRecommendation`: the first sync remembers the current count as a
//!   recommendation, so a fresh autoscaler does not scale down at once.
//! - `normalizeDesiredReplicasWithBehaviors`, in two steps.
//!   `stabilizeRecommendationWithBehaviors`: the recommendation is brought within
//!   `[lowest recommendation of the scale-up window, highest of the scale-down
//!   window]`, starting from the current count, so a scale-down waits until the
//!   scale-down window (300 s by default) holds only lower recommendations, and a
//!   scale-up (no window by default) follows at once. Then
//!   `convertDesiredReplicasWithBehaviorRate`: a scale-up is capped by `maxReplicas`
//!   and by the scale-up policies (`calculateScaleUpLimitWithScalingRules`: from the
//!   replicas at the start of each policy's period, i.e. the current count less what
//!   was added and plus what was removed within it, at most `value` pods more, or
//!   `⌈start × (1 + value / 100)⌉`; `Max` takes the most permissive policy, `Min`
//!   the least, `Disabled` allows none); a scale-down symmetrically by `minReplicas`
//!   and the scale-down policies (`start − value`, or `⌊start × (1 − value /
//!   100)⌋`).
//! - `storeScaleEvent` and `getReplicasChangePerPeriod`: the events a period counts
//!   are those strictly after `now − period`.
//!
//! Kubernetes runs the same code with or without a `behavior` in the spec only since
//! the API server fills a missing `behavior` with defaults equal to the older
//! behaviour; this autoscaler always has one ([`HpaConfig`]'s defaults are the API
//! server's). What is simplified, on purpose:
//!
//! - one metric per autoscaler (Kubernetes takes the highest recommendation over
//!   several, and with some metrics invalid scales up only);
//! - `currentReplicas` is what the caller says the target's replica count is (the
//!   scale subresource's `spec.replicas`, the count last asked for), and it decides
//!   which pods are unready or missing ([`Pod`]); the tolerance, the sync period and
//!   the metric are per autoscaler;
//! - no scale to zero (`minReplicas` ≥ 1, as Kubernetes without its alpha gate), and
//!   no status conditions beyond the [`Decision`]'s reason.
//!
//! Memory is fixed at construction: the recommendations and the scale events are
//! kept in fixed-capacity lists (`history.rs`) whose bounds follow from the sync period
//! ([`HpaConfig::recommendation_capacity`], [`HpaConfig::scale_event_capacity`]); a
//! sync earlier than [`Hpa::next_sync_at`] is a no-op, which is what keeps them.

mod config;
mod history;
mod replicas;
#[cfg(test)]
mod tests;

pub use config::{
    DEFAULT_TOLERANCE, HpaConfig, MAX_HISTORY, MAX_PERIOD, MAX_POLICIES, MAX_REPLICAS,
    MAX_STABILIZATION_WINDOW, PolicyKind, ScalingPolicy, ScalingRules, SelectPolicy,
};
pub use replicas::{NoRecommendation, Pod, Target, recommend};

use crate::{ConfigError, Nanos, nanos_of};
use history::{Entry, History, cutoff};

/// What limited a computed decision: Kubernetes' `ScalingLimited` condition reasons.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Limit {
    /// `DesiredWithinRange`: nothing did.
    None,
    /// `ScaleUpLimit`: the scale-up policies.
    ScaleUpLimit,
    /// `TooManyReplicas`: `maxReplicas`.
    TooManyReplicas,
    /// `ScaleDownLimit`: the scale-down policies.
    ScaleDownLimit,
    /// `TooFewReplicas`: `minReplicas`.
    TooFewReplicas,
}

/// Why a sync decided what it did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reason {
    /// The sync came before [`Hpa::next_sync_at`]: nothing was computed or recorded.
    NotDue,
    /// The target has 0 replicas: scaling is disabled (`ScalingDisabled`).
    ScalingDisabled,
    /// The target had more than `maxReplicas`.
    AboveMax,
    /// The target had fewer than `minReplicas`.
    BelowMin,
    /// The metric could not be computed: the count holds.
    NoMetric(NoRecommendation),
    /// The metric was computed and normalised.
    Computed {
        /// What the metric asked for ([`recommend`]).
        recommendation: u32,
        /// After the stabilisation windows.
        stabilized: u32,
        /// What the rate policies or the bounds did to it.
        limit: Limit,
    },
}

/// The outcome of a sync: the replica count to set, and why.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Decision {
    /// The replica count the target should have (the current count when nothing
    /// changes).
    pub desired: u32,
    /// Why.
    pub reason: Reason,
}

impl Decision {
    /// Whether the sync changes the count (Kubernetes' `rescale`).
    pub fn rescales(&self, current: u32) -> bool {
        self.desired != current
    }
}

/// A horizontal autoscaler (see the module documentation).
///
/// ```
/// use std::time::{Duration, Instant};
/// use meshsim_patterns::autoscale::{Hpa, HpaConfig, Pod, Target};
///
/// let start = Instant::now();
/// let now = start.elapsed().as_nanos() as u64;
/// let sec = 1_000_000_000;
/// let config = HpaConfig { min_replicas: 1, max_replicas: 10, ..HpaConfig::default() };
/// let target = Target::Utilization { percent: 50 };
/// let mut hpa = Hpa::new(config, target, now)?;
/// let busy = |milli| Pod::Ready { usage: milli, request: 1000 };
///
/// // Two pods at 90 % for a 50 % target: ⌈1.8 × 2⌉ = 4, within the default policies
/// // (4 pods or 100 % per 15 s).
/// let decision = hpa.sync(now, 2, Some(&[busy(900), busy(900)]));
/// assert_eq!(decision.desired, 4);
/// // Before the next sync is due, nothing happens.
/// assert_eq!(hpa.next_sync_at(), now + 15 * sec);
/// assert_eq!(hpa.sync(now + sec, 4, Some(&[busy(900); 4])).desired, 4);
/// // Load falls to 10 %: the recommendation is 1, but the scale-down window (300 s)
/// // still holds the recommendation of 4.
/// let idle = [busy(100); 4];
/// assert_eq!(hpa.sync(now + 15 * sec, 4, Some(&idle)).desired, 4);
/// // The metrics pipeline is down: the count holds.
/// assert_eq!(hpa.sync(now + 30 * sec, 4, None).desired, 4);
/// // It scales down once the recommendation of 4 (at 0 s) has left the window.
/// let mut t = 45;
/// while hpa.sync(now + t * sec, 4, Some(&idle)).desired == 4 {
///     t += 15;
/// }
/// assert_eq!(t, 300);
/// # Ok::<(), meshsim_patterns::ConfigError>(())
/// ```
#[derive(Clone, Debug)]
pub struct Hpa {
    config: HpaConfig,
    target: Target,
    sync_period: Nanos,
    up_window: Nanos,
    down_window: Nanos,
    up_longest: Nanos,
    down_longest: Nanos,
    recommendations: History,
    scale_up_events: History,
    scale_down_events: History,
    initialized: bool,
    next_sync_at: Nanos,
    last_now: Nanos,
}

impl Hpa {
    /// An autoscaler created at `now`, whose first sync is due at once (Kubernetes
    /// queues a new HPA immediately), then one sync period after each sync.
    pub fn new(config: HpaConfig, target: Target, now: Nanos) -> Result<Hpa, ConfigError> {
        config.validate()?;
        let bad = |reason| Err(ConfigError::new("autoscale", "target", reason));
        match target {
            Target::Utilization { percent: 0 } => return bad("must be above 0"),
            Target::AverageValue { milli: 0 } => return bad("must be above 0"),
            _ => {}
        }
        let (up_events, down_events) = config.scale_event_capacity();
        Ok(Hpa {
            config,
            target,
            sync_period: nanos_of(config.sync_period),
            up_window: nanos_of(config.scale_up.stabilization_window),
            down_window: nanos_of(config.scale_down.stabilization_window),
            up_longest: config.scale_up.longest_period(),
            down_longest: config.scale_down.longest_period(),
            recommendations: History::new(config.recommendation_capacity()),
            scale_up_events: History::new(up_events),
            scale_down_events: History::new(down_events),
            initialized: false,
            next_sync_at: now,
            last_now: now,
        })
    }

    /// The configuration.
    pub fn config(&self) -> &HpaConfig {
        &self.config
    }

    /// The metric's target.
    pub fn target(&self) -> Target {
        self.target
    }

    /// When the next sync is due.
    pub fn next_sync_at(&self) -> Nanos {
        self.next_sync_at
    }

    /// A sync at `now` of a target with `current` replicas, with the metric's
    /// samples, one per pod (`None`: no samples at all, e.g. the metrics pipeline is
    /// down). Returns the replica count to set; a sync before [`Hpa::next_sync_at`]
    /// is a no-op that returns `current` with [`Reason::NotDue`].
    pub fn sync(&mut self, now: Nanos, current: u32, pods: Option<&[Pod]>) -> Decision {
        debug_assert!(now >= self.last_now, "time went backwards");
        self.last_now = self.last_now.max(now);
        if now < self.next_sync_at {
            return Decision {
                desired: current,
                reason: Reason::NotDue,
            };
        }
        self.next_sync_at = now.saturating_add(self.sync_period);
        if !self.initialized {
            self.initialized = true;
            self.recommendations.push(
                Entry {
                    at: now,
                    value: current,
                },
                |_| false,
            );
        }
        let (min, max) = (self.config.min_replicas, self.config.max_replicas);
        let decision = if current == 0 {
            Decision {
                desired: 0,
                reason: Reason::ScalingDisabled,
            }
        } else if current > max {
            Decision {
                desired: max,
                reason: Reason::AboveMax,
            }
        } else if current < min {
            Decision {
                desired: min,
                reason: Reason::BelowMin,
            }
        } else {
            let computed = match pods {
                None => Err(NoRecommendation::NoSamples),
                Some(pods) => recommend(
                    self.target,
                    &self.config.scale_up,
                    &self.config.scale_down,
                    current,
                    pods,
                ),
            };
            match computed {
                Err(why) => Decision {
                    desired: current,
                    reason: Reason::NoMetric(why),
                },
                Ok(recommendation) => {
                    let stabilized = self.stabilize(now, current, recommendation);
                    let (desired, limit) = self.limit_rate(now, current, stabilized);
                    Decision {
                        desired,
                        reason: Reason::Computed {
                            recommendation,
                            stabilized,
                            limit,
                        },
                    }
                }
            }
        };
        if decision.rescales(current) {
            self.store_scale_event(now, current, decision.desired);
        }
        decision
    }

    /// `stabilizeRecommendationWithBehaviors`: the current count brought within the
    /// lowest recommendation of the scale-up window and the highest of the
    /// scale-down window (each counting this one), then this one recorded.
    fn stabilize(&mut self, now: Nanos, current: u32, recommendation: u32) -> u32 {
        let up_cutoff = cutoff(now, self.up_window);
        let down_cutoff = cutoff(now, self.down_window);
        let after = |at: Nanos, cutoff: Option<Nanos>| cutoff.is_none_or(|cutoff| at > cutoff);
        let before = |at: Nanos, cutoff: Option<Nanos>| cutoff.is_some_and(|cutoff| at < cutoff);
        let (mut up, mut down) = (recommendation, recommendation);
        for entry in self.recommendations.entries() {
            if after(entry.at, up_cutoff) {
                up = up.min(entry.value);
            }
            if after(entry.at, down_cutoff) {
                down = down.max(entry.value);
            }
        }
        let stabilized = current.max(up).min(down);
        self.recommendations.push(
            Entry {
                at: now,
                value: recommendation,
            },
            |entry| before(entry.at, up_cutoff) && before(entry.at, down_cutoff),
        );
        stabilized
    }

    /// `convertDesiredReplicasWithBehaviorRate`.
    fn limit_rate(&self, now: Nanos, current: u32, desired: u32) -> (u32, Limit) {
        let (min, max) = (self.config.min_replicas, self.config.max_replicas);
        if desired > current {
            let limit = self
                .scale_limit(now, current, &self.config.scale_up, true)
                .max(i64::from(current));
            let (allowed, why) = if i64::from(max) > limit {
                (limit as u32, Limit::ScaleUpLimit)
            } else {
                (max, Limit::TooManyReplicas)
            };
            if desired > allowed {
                return (allowed, why);
            }
        } else if desired < current {
            let limit = self
                .scale_limit(now, current, &self.config.scale_down, false)
                .min(i64::from(current));
            let (allowed, why) = if i64::from(min) < limit {
                (limit as u32, Limit::ScaleDownLimit)
            } else {
                (min, Limit::TooFewReplicas)
            };
            if desired < allowed {
                return (allowed, why);
            }
        }
        (desired, Limit::None)
    }

    /// `calculateScaleUpLimitWithScalingRules` (`up`) or
    /// `calculateScaleDownLimitWithBehaviors`: the most (fewest) replicas the
    /// policies allow now, in `i64` as Kubernetes' `int32` arithmetic without its
    /// overflow.
    fn scale_limit(&self, now: Nanos, current: u32, rules: &ScalingRules, up: bool) -> i64 {
        let current = i64::from(current);
        let (mut result, pick): (i64, fn(i64, i64) -> i64) = match (rules.select, up) {
            (SelectPolicy::Disabled, _) => return current,
            // For a scale-up the most permissive limit is the highest; for a
            // scale-down, the lowest.
            (SelectPolicy::Max, true) | (SelectPolicy::Min, false) => (i64::MIN, i64::max),
            (SelectPolicy::Min, true) | (SelectPolicy::Max, false) => (i64::MAX, i64::min),
        };
        for policy in rules.policies() {
            let since = cutoff(now, nanos_of(policy.period));
            let added = self.scale_up_events.sum_after(since) as i64;
            let removed = self.scale_down_events.sum_after(since) as i64;
            let start = current - added + removed;
            let value = i64::from(policy.value);
            let proposed = match (policy.kind, up) {
                (PolicyKind::Pods, true) => start + value,
                (PolicyKind::Pods, false) => start - value,
                // Rounded up, or a small target would never grow.
                (PolicyKind::Percent, true) => {
                    (start as f64 * (1.0 + f64::from(policy.value) / 100.0)).ceil() as i64
                }
                // Go's int32 conversion truncates toward zero.
                (PolicyKind::Percent, false) => {
                    (start as f64 * (1.0 - f64::from(policy.value) / 100.0)) as i64
                }
            };
            result = pick(result, proposed);
        }
        result
    }

    /// `storeScaleEvent`: the change, in the place of an event older than the
    /// direction's longest policy period, or appended.
    fn store_scale_event(&mut self, now: Nanos, previous: u32, new: u32) {
        let (events, longest, change) = if new > previous {
            (&mut self.scale_up_events, self.up_longest, new - previous)
        } else {
            (
                &mut self.scale_down_events,
                self.down_longest,
                previous - new,
            )
        };
        let outdated = cutoff(now, longest);
        events.push(
            Entry {
                at: now,
                value: change,
            },
            |entry| outdated.is_some_and(|cutoff| entry.at < cutoff),
        );
    }
}
