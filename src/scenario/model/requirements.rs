//! The requirements a run must meet (`requirements` in a scenario file), as
//! serde types: service-level objectives a team keeps in CI. `meshsim run`
//! exits with 1 when one fails. Each requirement has exactly one kind, a
//! struct of optional fields as faults are, checked in
//! `validate/requirements.rs`; compiled in `compile/requirements.rs`;
//! judged in `report/requirements/`.
//!
//! Adding a kind is a new optional field here, its check in `validate/requirements.rs`, its variant in
//! `compile/requirements.rs` and its judgement in `report/requirements/`.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::LinkRef;
use crate::kernel::SimDuration;

/// One requirement: a `name` (optional) and exactly one kind.
#[derive(Clone, Debug, Default, Serialize, Deserialize, JsonSchema, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Requirement {
    /// A name for reports; without it, the requirement described in words.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1))]
    pub name: Option<String>,
    /// The share of a route's requests that succeed, over the whole run or
    /// over every sliding window of a span.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub success: Option<SuccessRequirement>,
    /// A latency quantile of a route's successful requests.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latency: Option<LatencyRequirement>,
    /// Retry amplification (attempts per call) of a route, a service or an
    /// edge.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub amplification: Option<AmplificationRequirement>,
    /// `true`: the run did not stop on a violated invariant.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub no_invariant_violated: Option<bool>,
    /// Every fault whose recovery can be measured recovers within a bound
    /// of its end (see summary.json's `recovery`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time_to_recover: Option<RecoveryRequirement>,
    /// `true`: the run is not metastable (no measurable fault is left
    /// unrecovered at the horizon).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub not_metastable: Option<bool>,
}

/// Every measurable fault recovers within `at_most` of its end: its success
/// rate and p99 are back near their pre-fault baseline for the windows that
/// recovery needs (summary.json's `recovery` says how it is judged). A fault
/// that is not recovered by the horizon fails; one that cannot be measured
/// (it starts at 0, lasts to the horizon, ends near it, or another fault
/// interrupts it) is left out and named.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct RecoveryRequirement {
    /// The longest time to recover allowed.
    pub at_most: SimDuration,
}

/// A route's success rate: at least `at_least_percent`, over the whole run
/// or over every window of `over`.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct SuccessRequirement {
    /// The route, by name.
    pub route: String,
    /// The least share of requests that succeed, in percent.
    #[schemars(extend("exclusiveMinimum" = 0, "maximum" = 100))]
    pub at_least_percent: f64,
    /// Judge every sliding window of this span (a whole number of the
    /// scenario's `window`s, stepping by one window); without it, the whole
    /// run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub over: Option<SimDuration>,
    /// With `over`: leave out the time-series windows that overlap this
    /// long after the start of any fault.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub except_after_fault: Option<SimDuration>,
}

/// A latency quantile of a route's successful requests: at most `at_most`.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct LatencyRequirement {
    /// The route, by name.
    pub route: String,
    /// The quantile, in percent: 50, 90, 99 or 99.9 over the whole run; 50
    /// or 99 with `per_window`.
    pub quantile: f64,
    /// The largest latency allowed.
    pub at_most: SimDuration,
    /// Judge each time-series window's quantile instead of the whole
    /// run's.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub per_window: bool,
    /// With `per_window`: leave out the windows that overlap this long
    /// after the start of any fault.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub except_after_fault: Option<SimDuration>,
}

/// Attempts per call of a route, a service (requests reaching it per call
/// made to it) or an edge: at most `at_most`. Exactly one of `route`,
/// `service` and `edge`.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct AmplificationRequirement {
    /// A route, by name: attempts ÷ requests.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub route: Option<String>,
    /// A service: requests reaching it ÷ calls made to it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service: Option<String>,
    /// The calls from one service to another (all their edges): attempts ÷
    /// calls.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub edge: Option<LinkRef>,
    /// The largest amplification allowed (1 = no retries or hedges).
    #[schemars(range(min = 0.0))]
    pub at_most: f64,
    /// Judge every sliding window of this span (as for `success`); without
    /// it, the whole run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub over: Option<SimDuration>,
    /// With `over`: leave out the windows that overlap this long after the
    /// start of any fault.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub except_after_fault: Option<SimDuration>,
}
