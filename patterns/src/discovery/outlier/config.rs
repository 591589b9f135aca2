//! The outlier detector's configuration: Envoy's `OutlierDetection` fields that are
//! modelled, with Envoy's defaults (`api/envoy/config/cluster/v3/outlier_detection.proto`
//! and the `DEFAULT_*` constants of `source/common/upstream/outlier_detection_impl.h`),
//! and the rule for `max_ejection_percent`, which changed between Envoy versions.

use std::time::Duration;

use crate::ConfigError;

/// How `max_ejection_percent` limits an ejection, as Envoy's `DetectorImpl::ejectHost`
/// applied it over the years (envoyproxy/envoy,
/// `source/common/upstream/outlier_detection_impl.cc`), with `active` hosts already
/// ejected out of `hosts`:
///
/// - [`BeforeCount`](Self::BeforeCount), Envoy up to 1.26: eject iff `100 × active /
///   hosts < max_ejection_percent`, the share *before* counting the candidate. The first
///   ejection is therefore always allowed (0 < max, for any max above 0: envoy #3263,
///   "it allows 1 to always get ejected"), and the limit can be overshot by one host: 2
///   of 3 with 50% (envoy #26877), all 3 of 3 with 67% (envoy #27066).
/// - [`AfterCount`](Self::AfterCount), Envoy 1.28 on: eject iff `100 × (active + 1) /
///   hosts <= max_ejection_percent`, the share *after* the ejection (PR #27624, and PR
///   #27909 which dropped the always-one exception; 1.28.0 changelog: "Outlier detection
///   will always respect max_ejection_percent now", runtime guard
///   `envoy.reloadable_features.check_mep_on_first_eject`). With the default 10% a pool
///   of fewer than 10 hosts then ejects nothing. Envoy 1.31 added `always_eject_one_host`
///   (PR #34796, default false), which allows an ejection whenever none is active; with
///   it set, this is also the rule of Envoy 1.27 (PR #27624 alone).
///
/// The shares compare as exact rationals here (`100 × active < max × hosts`, integers);
/// Envoy computes them in `double`, which gives the same answers since a share and an
/// integer percentage are never closer than `1 / hosts` unless equal.
///
/// ```
/// use std::time::Instant;
/// use meshsim_patterns::discovery::outlier::MaxEjectionRule;
///
/// let start = Instant::now();
/// let legacy = MaxEjectionRule::BeforeCount;
/// let current = MaxEjectionRule::AfterCount { always_eject_one_host: false };
/// // 3 hosts, 50%: may a second be ejected while one is?
/// assert!(legacy.allows(1, 3, 50)); // 33% < 50%
/// assert!(!current.allows(1, 3, 50)); // 67% > 50%
/// let _now = start.elapsed().as_nanos() as u64;
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MaxEjectionRule {
    /// Envoy ≤ 1.26: the share before the ejection must be below the maximum.
    BeforeCount,
    /// Envoy ≥ 1.28: the share after the ejection must not exceed the maximum.
    AfterCount {
        /// Envoy ≥ 1.31 `always_eject_one_host`: one ejection is allowed whenever none
        /// is active, whatever the percentage.
        always_eject_one_host: bool,
    },
}

impl MaxEjectionRule {
    /// Whether one more host may be ejected while `active` of `hosts` are.
    pub fn allows(self, active: u32, hosts: u32, max_ejection_percent: u32) -> bool {
        let (active, hosts, max) = (
            u64::from(active),
            u64::from(hosts),
            u64::from(max_ejection_percent.min(100)),
        );
        match self {
            MaxEjectionRule::BeforeCount => 100 * active < max * hosts,
            MaxEjectionRule::AfterCount {
                always_eject_one_host,
            } => (always_eject_one_host && active == 0) || 100 * (active + 1) <= max * hosts,
        }
    }
}

/// Success-rate ejection: at each interval, among hosts with enough requests, eject
/// those whose success rate is below `mean − stdev_factor / 1000 × σ`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SuccessRateConfig {
    /// At least this many hosts must have enough requests, or nothing is evaluated
    /// (`success_rate_minimum_hosts`, 5).
    pub minimum_hosts: u32,
    /// Requests a host needs in the interval to count (`success_rate_request_volume`,
    /// 100).
    pub request_volume: u32,
    /// The factor of the standard deviation, in thousandths
    /// (`success_rate_stdev_factor`, 1900: 1.9 σ).
    pub stdev_factor: u32,
}

impl Default for SuccessRateConfig {
    fn default() -> Self {
        SuccessRateConfig {
            minimum_hosts: 5,
            request_volume: 100,
            stdev_factor: 1900,
        }
    }
}

/// The outlier detector's configuration; the default is Envoy's (as of 1.28 and
/// later, for the ejection rule).
///
/// Envoy's `enforcing_*` percentages are 100 or 0 here: a detection type is enforced
/// when present (`Some`) and off when absent. Envoy's defaults enforce consecutive 5xx
/// and success rate, and *detect but do not enforce* consecutive gateway failures
/// (`enforcing_consecutive_gateway_failure` 0), hence `None` for those by default.
/// Not modelled: failure-percentage ejection (off by default in Envoy),
/// `split_external_local_origin_errors` (off by default: local-origin failures count as
/// gateway errors, see [`ResultClass`](super::ResultClass)), and
/// `max_ejection_time_jitter` (0 by default).
///
/// ```
/// use std::time::{Duration, Instant};
/// use meshsim_patterns::discovery::{OutlierConfig, OutlierDetector};
///
/// let start = Instant::now();
/// let config = OutlierConfig { max_ejection_percent: 50, ..OutlierConfig::default() };
/// assert_eq!(config.validate(), Ok(()));
/// let _detector = OutlierDetector::new(config, 16, start.elapsed().as_nanos() as u64)?;
/// # Ok::<(), meshsim_patterns::ConfigError>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OutlierConfig {
    /// Time between ejection sweeps (`interval`, 10 s); at least 1 ns.
    pub interval: Duration,
    /// Ejection time per ejection of the host (`base_ejection_time`, 30 s); at least
    /// 1 ns.
    pub base_ejection_time: Duration,
    /// The ejection time's cap (`max_ejection_time`, 300 s); at least the base, as Envoy
    /// requires ("max_ejection_time cannot be smaller than base_ejection_time").
    pub max_ejection_time: Duration,
    /// The share of hosts that may be ejected (`max_ejection_percent`, 10); at most 100.
    pub max_ejection_percent: u32,
    /// How the share is counted (see [`MaxEjectionRule`]).
    pub max_ejection_rule: MaxEjectionRule,
    /// Consecutive 5xx (gateway errors included) that eject a host (`consecutive_5xx`,
    /// 5); at least 1, `None` not enforced.
    pub consecutive_5xx: Option<u32>,
    /// Consecutive gateway errors (502, 503, 504, local-origin failures) that eject a
    /// host (`consecutive_gateway_failure`, 5 but not enforced by default); at least
    /// 1, `None` not enforced.
    pub consecutive_gateway_failure: Option<u32>,
    /// Success-rate ejection, `None` not enforced.
    pub success_rate: Option<SuccessRateConfig>,
}

impl Default for OutlierConfig {
    fn default() -> Self {
        OutlierConfig {
            interval: Duration::from_secs(10),
            base_ejection_time: Duration::from_secs(30),
            max_ejection_time: Duration::from_secs(300),
            max_ejection_percent: 10,
            max_ejection_rule: MaxEjectionRule::AfterCount {
                always_eject_one_host: false,
            },
            consecutive_5xx: Some(5),
            consecutive_gateway_failure: None,
            success_rate: Some(SuccessRateConfig::default()),
        }
    }
}

impl OutlierConfig {
    /// Whether an [`OutlierDetector`](super::OutlierDetector) can run with this
    /// configuration.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let bad = |field, reason| Err(ConfigError::new("outlier_detection", field, reason));
        if self.interval.is_zero() {
            return bad("interval", "must be positive");
        }
        if self.base_ejection_time.is_zero() {
            return bad("base_ejection_time", "must be positive");
        }
        if self.max_ejection_time < self.base_ejection_time {
            return bad("max_ejection_time", "must be at least base_ejection_time");
        }
        if self.max_ejection_percent > 100 {
            return bad("max_ejection_percent", "must be at most 100");
        }
        if self.consecutive_5xx == Some(0) {
            return bad(
                "consecutive_5xx",
                "must be at least 1 (leave it out to disable)",
            );
        }
        if self.consecutive_gateway_failure == Some(0) {
            return bad(
                "consecutive_gateway_failure",
                "must be at least 1 (leave it out to disable)",
            );
        }
        Ok(())
    }
}
