//! A horizontal autoscaler's configuration, as a Kubernetes `HorizontalPodAutoscaler`
//! spec (`autoscaling/v2`) and the controller's flags spell it: the replica bounds,
//! the tolerance band, the sync period, and the `behavior` of each direction (its
//! stabilisation window, its rate policies and how one is selected).
//!
//! Defaults are Kubernetes' own: `minReplicas` 1; the tolerance 0.1
//! (`--horizontal-pod-autoscaler-tolerance`, or `behavior.scale{Up,Down}.tolerance`
//! where set); a sync every 15 s (`--horizontal-pod-autoscaler-sync-period`); and the
//! `behavior` the API server fills in (kubernetes `pkg/apis/autoscaling/v2/defaults.go`,
//! `defaultHPAScaleUpRules` and `defaultHPAScaleDownRules`): scale-up with no
//! stabilisation window, `selectPolicy: Max` of 4 pods and 100 % per 15 s; scale-down
//! with a 300 s window (the controller's flag
//! `--horizontal-pod-autoscaler-downscale-stabilization`, which fills an unset
//! `stabilizationWindowSeconds`), `selectPolicy: Max` of 100 % per 15 s. The bounds that the API validation applies
//! (`pkg/apis/autoscaling/validation/validation.go`) are applied here too: a policy's
//! period in `(0, 1800 s]`, a window of at most 3600 s, a policy value above 0, at
//! least one policy per direction.

use std::time::Duration;

use crate::{ConfigError, nanos_of};

/// The largest policy period, as Kubernetes' `MaxPeriodSeconds` (30 minutes).
pub const MAX_PERIOD: Duration = Duration::from_secs(1800);
/// The largest stabilisation window, as Kubernetes' `MaxStabilizationWindowSeconds`
/// (an hour).
pub const MAX_STABILIZATION_WINDOW: Duration = Duration::from_secs(3600);
/// The most policies one direction may list (a meshsim bound: Kubernetes sets none,
/// and real specs list one to three).
pub const MAX_POLICIES: usize = 8;
/// The most entries a history may need (a meshsim bound on
/// `window / sync_period`, so that a sync period of a nanosecond with an hour's
/// window cannot ask for billions of entries): see [`HpaConfig::validate`].
pub const MAX_HISTORY: usize = 1 << 16;
/// The largest replica count (Kubernetes' replicas are `int32`).
pub const MAX_REPLICAS: u32 = i32::MAX as u32;

/// How a policy limits a change in one period (`HPAScalingPolicyType`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PolicyKind {
    /// `Pods`: at most `value` replicas added (or removed) per period.
    Pods,
    /// `Percent`: at most `value` % of the replicas at the period's start added (or
    /// removed) per period.
    Percent,
}

/// One rate policy (`HPAScalingPolicy`): at most `value` pods, or percent, of change
/// in any `period`.
///
/// ```
/// use std::time::{Duration, Instant};
/// use meshsim_patterns::autoscale::{PolicyKind, ScalingPolicy};
///
/// let start = Instant::now();
/// let four_pods = ScalingPolicy { kind: PolicyKind::Pods, value: 4, period: Duration::from_secs(15) };
/// assert_eq!(four_pods.period, Duration::from_secs(15));
/// let _now = start.elapsed().as_nanos() as u64;
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ScalingPolicy {
    /// `type`: pods or percent.
    pub kind: PolicyKind,
    /// `value`: pods, or percent of the replicas at the period's start; above 0.
    pub value: u32,
    /// `periodSeconds`: the span the limit applies to, in `(0, 1800 s]`.
    pub period: Duration,
}

/// How the limits of a direction's policies combine (`ScalingPolicySelect`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SelectPolicy {
    /// `Max`: the policy that allows the largest change (the default).
    Max,
    /// `Min`: the policy that allows the smallest change.
    Min,
    /// `Disabled`: no change in this direction at all.
    Disabled,
}

/// One direction's `behavior` (`HPAScalingRules`).
///
/// ```
/// use std::time::{Duration, Instant};
/// use meshsim_patterns::autoscale::{ScalingRules, SelectPolicy};
///
/// let start = Instant::now();
/// let down = ScalingRules::default_scale_down();
/// assert_eq!(down.stabilization_window, Duration::from_secs(300));
/// assert_eq!(down.select, SelectPolicy::Max);
/// assert_eq!(ScalingRules::default_scale_up().policies().count(), 2);
/// let _now = start.elapsed().as_nanos() as u64;
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ScalingRules {
    /// `stabilizationWindowSeconds`: how far back recommendations are remembered; a
    /// scale-up takes the lowest of them, a scale-down the highest. At most 3600 s.
    pub stabilization_window: Duration,
    /// `selectPolicy`.
    pub select: SelectPolicy,
    /// `tolerance`: how far the usage ratio may stray from 1 in this direction
    /// before a change is recommended (0.1 by default); at least 0 and finite.
    pub tolerance: f64,
    policies: [Option<ScalingPolicy>; MAX_POLICIES],
}

impl ScalingRules {
    /// Rules with these policies and the default tolerance; more than
    /// [`MAX_POLICIES`] policies are an error.
    pub fn new(
        stabilization_window: Duration,
        select: SelectPolicy,
        policies: &[ScalingPolicy],
    ) -> Result<ScalingRules, ConfigError> {
        if policies.len() > MAX_POLICIES {
            return Err(ConfigError::new(
                "autoscale",
                "policies",
                "must list at most 8 policies",
            ));
        }
        let mut held = [None; MAX_POLICIES];
        for (place, policy) in held.iter_mut().zip(policies) {
            *place = Some(*policy);
        }
        Ok(ScalingRules {
            stabilization_window,
            select,
            tolerance: DEFAULT_TOLERANCE,
            policies: held,
        })
    }

    /// Kubernetes' default scale-up rules: no window, `Max` of 4 pods and 100 % per
    /// 15 s.
    pub fn default_scale_up() -> ScalingRules {
        let period = Duration::from_secs(15);
        let mut policies = [None; MAX_POLICIES];
        policies[0] = Some(ScalingPolicy {
            kind: PolicyKind::Pods,
            value: 4,
            period,
        });
        policies[1] = Some(ScalingPolicy {
            kind: PolicyKind::Percent,
            value: 100,
            period,
        });
        ScalingRules {
            stabilization_window: Duration::ZERO,
            select: SelectPolicy::Max,
            tolerance: DEFAULT_TOLERANCE,
            policies,
        }
    }

    /// Kubernetes' default scale-down rules: a 300 s window, `Max` of 100 % per 15 s.
    pub fn default_scale_down() -> ScalingRules {
        let mut policies = [None; MAX_POLICIES];
        policies[0] = Some(ScalingPolicy {
            kind: PolicyKind::Percent,
            value: 100,
            period: Duration::from_secs(15),
        });
        ScalingRules {
            stabilization_window: Duration::from_secs(300),
            select: SelectPolicy::Max,
            tolerance: DEFAULT_TOLERANCE,
            policies,
        }
    }

    /// This direction with another stabilisation window.
    #[must_use]
    pub fn with_stabilization_window(mut self, window: Duration) -> ScalingRules {
        self.stabilization_window = window;
        self
    }

    /// This direction with another tolerance.
    #[must_use]
    pub fn with_tolerance(mut self, tolerance: f64) -> ScalingRules {
        self.tolerance = tolerance;
        self
    }

    /// The policies, in the order given.
    pub fn policies(&self) -> impl Iterator<Item = &ScalingPolicy> + Clone {
        self.policies.iter().map_while(Option::as_ref)
    }

    /// The longest policy period in nanoseconds (`getLongestPolicyPeriod`).
    pub(crate) fn longest_period(&self) -> u64 {
        self.policies()
            .map(|policy| nanos_of(policy.period))
            .max()
            .unwrap_or(0)
    }

    /// The first problem, named by its field within the direction `up` or down.
    fn validate(&self, up: bool) -> Result<(), ConfigError> {
        let bad = |field: [&'static str; 2], reason| {
            let field = if up { field[0] } else { field[1] };
            Err(ConfigError::new("autoscale", field, reason))
        };
        if self.stabilization_window > MAX_STABILIZATION_WINDOW {
            return bad(
                [
                    "scale_up.stabilization_window",
                    "scale_down.stabilization_window",
                ],
                "must be at most 3600 s",
            );
        }
        if !(self.tolerance.is_finite() && self.tolerance >= 0.0) {
            return bad(
                ["scale_up.tolerance", "scale_down.tolerance"],
                "must be a finite number of at least 0",
            );
        }
        if self.policies().next().is_none() {
            return bad(
                ["scale_up.policies", "scale_down.policies"],
                "must list at least one policy",
            );
        }
        for policy in self.policies() {
            if policy.value == 0 {
                return bad(
                    ["scale_up.policies.value", "scale_down.policies.value"],
                    "must be above 0",
                );
            }
            if policy.period.is_zero() || policy.period > MAX_PERIOD {
                return bad(
                    ["scale_up.policies.period", "scale_down.policies.period"],
                    "must be above 0 and at most 1800 s",
                );
            }
        }
        Ok(())
    }
}

/// The tolerance Kubernetes uses unless told otherwise
/// (`--horizontal-pod-autoscaler-tolerance`).
pub const DEFAULT_TOLERANCE: f64 = 0.1;

/// A horizontal autoscaler's configuration (see the module documentation); the
/// default is Kubernetes' with `maxReplicas` 10.
///
/// ```
/// use std::time::Duration;
/// use meshsim_patterns::autoscale::HpaConfig;
///
/// let config = HpaConfig { min_replicas: 2, max_replicas: 20, ..HpaConfig::default() };
/// assert_eq!(config.sync_period, Duration::from_secs(15));
/// assert_eq!(config.validate(), Ok(()));
/// // The two histories it keeps, bounded by window / sync period (+ 2) and by
/// // longest policy period / sync period (+ 1).
/// assert_eq!(config.recommendation_capacity(), 22);
/// assert_eq!(config.scale_event_capacity(), (2, 2));
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct HpaConfig {
    /// `minReplicas`: at least 1 (scaling to zero is an alpha feature of
    /// Kubernetes, not mirrored).
    pub min_replicas: u32,
    /// `maxReplicas`: at least `min_replicas`, at most `i32::MAX`.
    pub max_replicas: u32,
    /// Time between syncs (`--horizontal-pod-autoscaler-sync-period`, 15 s).
    pub sync_period: Duration,
    /// `behavior.scaleUp`.
    pub scale_up: ScalingRules,
    /// `behavior.scaleDown`.
    pub scale_down: ScalingRules,
}

impl Default for HpaConfig {
    fn default() -> Self {
        HpaConfig {
            min_replicas: 1,
            max_replicas: 10,
            sync_period: Duration::from_secs(15),
            scale_up: ScalingRules::default_scale_up(),
            scale_down: ScalingRules::default_scale_down(),
        }
    }
}

impl HpaConfig {
    /// Whether an [`Hpa`](super::Hpa) can run with this configuration. A field of a
    /// direction is reported as `scale_up.<field>` or `scale_down.<field>`.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let bad = |field, reason| Err(ConfigError::new("autoscale", field, reason));
        if self.min_replicas == 0 {
            return bad("min_replicas", "must be at least 1");
        }
        if self.max_replicas < self.min_replicas {
            return bad("max_replicas", "must be at least min_replicas");
        }
        if self.max_replicas > MAX_REPLICAS {
            return bad("max_replicas", "must be at most 2147483647");
        }
        if self.sync_period.is_zero() {
            return bad("sync_period", "must be positive");
        }
        self.scale_up.validate(true)?;
        self.scale_down.validate(false)?;
        if self.recommendation_capacity() > MAX_HISTORY {
            return bad(
                "sync_period",
                "must be at least the longest stabilization window / 65534",
            );
        }
        let (up, down) = self.scale_event_capacity();
        if up.max(down) > MAX_HISTORY {
            return bad(
                "sync_period",
                "must be at least the longest policy period / 65535",
            );
        }
        Ok(())
    }

    /// The bound on the recommendations history: `⌊W / sync_period⌋ + 2`, with `W`
    /// the longer of the two stabilisation windows. Syncs are at least a sync period
    /// apart, so at most `⌊W / sync_period⌋` earlier syncs fall within a window;
    /// with the one being recorded and the initial recommendation (recorded at the
    /// first sync, beside that sync's own) that is the bound, and an entry beyond it
    /// is older than both windows.
    pub fn recommendation_capacity(&self) -> usize {
        let window = nanos_of(
            self.scale_up
                .stabilization_window
                .max(self.scale_down.stabilization_window),
        );
        history_bound(window, nanos_of(self.sync_period)).saturating_add(2)
    }

    /// The bounds on the scale-up and scale-down event histories: `⌊P / sync_period⌋
    /// + 1`, with `P` that direction's longest policy period (at most one event per
    /// sync; older events are reused, as Kubernetes' `storeScaleEvent` does).
    pub fn scale_event_capacity(&self) -> (usize, usize) {
        let sync = nanos_of(self.sync_period);
        let bound =
            |rules: &ScalingRules| history_bound(rules.longest_period(), sync).saturating_add(1);
        (bound(&self.scale_up), bound(&self.scale_down))
    }
}

fn history_bound(span: u64, sync: u64) -> usize {
    if sync == 0 {
        return usize::MAX;
    }
    usize::try_from(span / sync).unwrap_or(usize::MAX)
}
