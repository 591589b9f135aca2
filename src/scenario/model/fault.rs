//! The fault timeline, as serde types: a fault's time, its duration and
//! exactly one kind (meaning in `docs/scenarios.md`, checks in
//! `validate/faults.rs`, names resolved in `compile/resolve.rs`, effects in
//! `world/faults.rs`).

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::SplitFault;
use crate::kernel::SimDuration;

/// A failure on the timeline: `at`, optionally `for`, and exactly one kind.
#[derive(Clone, Debug, Default, Serialize, Deserialize, JsonSchema, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Fault {
    /// When the fault starts.
    pub at: SimDuration,
    /// How long it lasts; without it, until the end of the run.
    #[serde(default, rename = "for", skip_serializing_if = "Option::is_none")]
    pub lasts: Option<SimDuration>,
    /// Crash an instance (or every instance) of a service; it restarts empty
    /// when the fault ends.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub crash: Option<CrashFault>,
    /// Add latency to a service's handling or to a link.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latency: Option<LatencyFault>,
    /// Change a service's error rate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub errors: Option<ErrorsFault>,
    /// Cut the network between groups of services.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub partition: Option<PartitionFault>,
    /// Multiply a service's service time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub slowdown: Option<SlowdownFault>,
    /// Lose messages on a link, or everywhere.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub loss: Option<LossFault>,
    /// Stop an instance (or every instance) of a service gracefully: it
    /// refuses new requests (503), finishes its queue and the work in
    /// progress, and restarts when the fault ends.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop: Option<CrashFault>,
    /// Take a discovered service's registry down: it stops answering, so
    /// callers keep their last view, and checks and heartbeats are lost.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub registry_outage: Option<RegistryOutageFault>,
    /// Cap how many instances an autoscaled service may run (a quota, or a
    /// cluster out of capacity): starts beyond it are refused and counted;
    /// running instances are not stopped.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scale_limit: Option<ScaleLimitFault>,
    /// Take an autoscaled service's metrics pipeline down: its autoscaler
    /// gets no samples and holds its last decision.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metrics_outage: Option<MetricsOutageFault>,
    /// Multiply the boot time of a service's instances that start while it
    /// lasts (an image pull from a slow registry, a cold cache).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub slow_boot: Option<SlowBootFault>,
    /// Take a whole zone down: every instance in it (of every zoned
    /// service) crashes, and messages to and from the zone are lost; the
    /// instances restart when it ends.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub zone_outage: Option<ZoneOutageFault>,
    /// Re-weight a gateway route's split (a canary shifted).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub split: Option<SplitFault>,
}

/// A zone, down.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ZoneOutageFault {
    /// The zone (one some service has).
    #[schemars(length(min = 1))]
    pub zone: String,
}

/// At most `instances` instances of an autoscaled service may run.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ScaleLimitFault {
    /// The service (it has `autoscale`).
    pub service: String,
    /// The most instances that may run (starting, ready or crashed) while
    /// the fault lasts; 0: no instance can start.
    pub instances: u32,
}

/// The metrics pipeline of an autoscaled service, down.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct MetricsOutageFault {
    /// The service (it has `autoscale`).
    pub service: String,
}

/// Slower boots of a service's instances.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct SlowBootFault {
    /// The service (it has `boot_time`).
    pub service: String,
    /// The boot time's multiplier (above 0) for boots that start while the
    /// fault lasts.
    pub factor: f64,
}

/// The registry of a discovered service, down.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct RegistryOutageFault {
    /// The service whose registry fails (it has `discovery`).
    pub service: String,
}

/// Which instances: one, or every instance of a service.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct CrashFault {
    /// The service.
    pub service: String,
    /// The instance (0-based); without it, every instance.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instance: Option<u32>,
}

/// Extra latency, on a service or on a link (exactly one).
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct LatencyFault {
    /// Added to every request's handling time at this service.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service: Option<String>,
    /// With `service`: only this instance (0-based).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instance: Option<u32>,
    /// Added to every message on this link (both directions).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub link: Option<LinkRef>,
    /// How much is added.
    pub add: SimDuration,
}

/// A pair of services.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct LinkRef {
    /// One end.
    pub from: String,
    /// The other end.
    pub to: String,
}

/// A changed error rate.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ErrorsFault {
    /// The service.
    pub service: String,
    /// Only this instance (0-based); without it, every instance.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instance: Option<u32>,
    /// The error probability while the fault lasts.
    #[schemars(range(min = 0.0, max = 1.0))]
    pub rate: f64,
}

/// A network partition between groups of services.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct PartitionFault {
    /// Two or more disjoint groups; messages between different groups are
    /// lost, messages within a group and to unlisted services are not.
    pub between: Vec<Vec<String>>,
}

/// A slowdown of a service.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct SlowdownFault {
    /// The service.
    pub service: String,
    /// Only this instance (0-based); without it, every instance.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instance: Option<u32>,
    /// Service times are multiplied by this (> 0; 3 means three times slower).
    #[schemars(extend("exclusiveMinimum" = 0))]
    pub factor: f64,
}

/// Message loss on a link or on the whole network.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct LossFault {
    /// The link; without it, every message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub link: Option<LinkRef>,
    /// The loss probability while the fault lasts.
    #[schemars(range(min = 0.0, max = 1.0))]
    pub rate: f64,
}
