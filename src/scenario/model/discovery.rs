//! A service's discovery settings, as serde types: how its instances are
//! registered and health-checked, and how often its callers refresh their
//! view of the registry (meaning in `docs/scenarios.md`, checks in
//! `validate/services.rs`, the patterns built in `scenario/compile.rs`).

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::Distribution;
use crate::kernel::SimDuration;

fn thirty_seconds() -> SimDuration {
    SimDuration::from_secs(30)
}
fn ten_seconds() -> SimDuration {
    SimDuration::from_secs(10)
}
fn one_second() -> SimDuration {
    SimDuration::from_secs(1)
}
fn ninety_seconds() -> SimDuration {
    SimDuration::from_secs(90)
}
fn sixty_seconds() -> SimDuration {
    SimDuration::from_secs(60)
}
fn three() -> u32 {
    3
}
fn one() -> u32 {
    1
}
fn yes() -> bool {
    true
}
fn eighty_five_percent() -> f64 {
    0.85
}

/// How a service's instances are discovered: a registry fed by active
/// checks (`health_check`) or by heartbeats (`heartbeat`), exactly one,
/// read by callers through a cache refreshed every `refresh`.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct DiscoverySpec {
    /// The service at whose network node the registry runs: checks,
    /// heartbeats and refreshes cross the network to and from it, so its
    /// links, loss and partitions apply. Without it, the registry sits at
    /// this service's own node (an agent beside each instance).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub registry: Option<String>,
    /// Active checks, Consul-style.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health_check: Option<HealthCheckSpec>,
    /// TTL heartbeats, Eureka-style.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub heartbeat: Option<HeartbeatSpec>,
    /// How often a caller refreshes its cached view of the registry (30 s,
    /// the Eureka client's default).
    #[serde(default = "thirty_seconds")]
    pub refresh: SimDuration,
    /// When an instance that is alive reports itself not ready (Kubernetes'
    /// readiness probe): it leaves the pool through its checks or
    /// heartbeats, is not restarted, and rejoins when ready again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub readiness: Option<ReadinessSpec>,
}

/// Readiness, distinct from liveness: every `interval` each live instance
/// asks itself whether it should get new traffic; after `failure_threshold`
/// noes in a row it is not ready, after `success_threshold` yeses ready
/// again (Kubernetes' `periodSeconds`, `failureThreshold`,
/// `successThreshold`, with their defaults).
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ReadinessSpec {
    /// Time between readiness probes.
    #[serde(default = "ten_seconds")]
    pub interval: SimDuration,
    /// Consecutive failed probes that make a ready instance not ready.
    #[schemars(range(min = 1))]
    #[serde(default = "three")]
    pub failure_threshold: u32,
    /// Consecutive passing probes that make a not-ready instance ready.
    #[schemars(range(min = 1))]
    #[serde(default = "one")]
    pub success_threshold: u32,
    /// A probe fails while more than this many requests wait in the
    /// instance's queue.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub queue_above: Option<u32>,
    /// Required dependencies: a probe fails while one of these services has
    /// no instance up (every one crashed, stopped, draining or booting).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub dependencies: Vec<String>,
}

/// An active health check: a request from the registry to each instance
/// every `interval`, queued behind the instance's real work.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct HealthCheckSpec {
    /// Time from the end of one check to the start of the next.
    #[serde(default = "ten_seconds")]
    pub interval: SimDuration,
    /// A check not answered within this long fails.
    #[serde(default = "one_second")]
    pub timeout: SimDuration,
    /// Consecutive failures that make a passing instance critical.
    #[schemars(range(min = 1))]
    #[serde(default = "three")]
    pub failures_before_critical: u32,
    /// Consecutive successes that make a critical instance passing again.
    #[schemars(range(min = 1))]
    #[serde(default = "one")]
    pub successes_before_passing: u32,
    /// The work a check takes at the instance, holding a worker; without it
    /// a check takes a worker for no time (it still waits in the queue).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_time: Option<Distribution>,
    /// Deregister an instance whose check has been critical for longer than
    /// this (Consul's `deregister_critical_service_after`: raised to one
    /// minute, and applied by a reaper every 30 s). It registers again only
    /// when it restarts. Without it, never.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deregister_critical_after: Option<SimDuration>,
}

/// TTL heartbeats: each instance renews its lease every `renewal_interval`;
/// the registry evicts leases not renewed within `lease_duration`, sweeping
/// every `eviction_interval`.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct HeartbeatSpec {
    /// Time between an instance's renewals (Eureka: 30 s).
    #[serde(default = "thirty_seconds")]
    pub renewal_interval: SimDuration,
    /// A lease not renewed for this long expires (Eureka: 90 s).
    #[serde(default = "ninety_seconds")]
    pub lease_duration: SimDuration,
    /// Time between eviction sweeps (Eureka: 60 s).
    #[serde(default = "sixty_seconds")]
    pub eviction_interval: SimDuration,
    /// Stop evicting while renewals fall below `renewal_percent_threshold`
    /// of the expected rate (Eureka's self-preservation; on by default).
    #[serde(default = "yes")]
    pub self_preservation: bool,
    /// The share of expected renewals below which self-preservation stops
    /// evictions (Eureka: 0.85).
    #[schemars(range(min = 0.0, max = 1.0))]
    #[serde(default = "eighty_five_percent")]
    pub renewal_percent_threshold: f64,
}
