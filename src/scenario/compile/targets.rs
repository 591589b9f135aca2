//! What the compile step resolves a fault to: its services, instances,
//! links and zones by index.

use super::ZoneId;
use crate::kernel::SimDuration;

/// A fault, resolved: services by index.
#[derive(Clone, Debug, PartialEq)]
pub enum FaultTarget {
    /// Crash one instance (or all) of a service.
    Crash {
        /// The service.
        service: u32,
        /// The instance, below the service's count; `None` for all.
        instance: Option<u32>,
    },
    /// Stop one instance (or all) of a service gracefully: it drains.
    Stop {
        /// The service.
        service: u32,
        /// The instance, below the service's count; `None` for all.
        instance: Option<u32>,
    },
    /// Added handling time at a service.
    ServiceLatency {
        /// The service.
        service: u32,
        /// Only this instance; `None` for all.
        instance: Option<u32>,
        /// How much.
        add: SimDuration,
    },
    /// Added latency on a link (both directions).
    LinkLatency {
        /// One end.
        a: u32,
        /// The other end.
        b: u32,
        /// How much.
        add: SimDuration,
    },
    /// A changed error rate.
    Errors {
        /// The service.
        service: u32,
        /// Only this instance; `None` for all.
        instance: Option<u32>,
        /// The error probability.
        rate: f64,
    },
    /// A partition between disjoint groups of services.
    Partition {
        /// The groups.
        groups: Vec<Vec<u32>>,
    },
    /// Service times multiplied.
    Slowdown {
        /// The service.
        service: u32,
        /// Only this instance; `None` for all.
        instance: Option<u32>,
        /// The factor (> 0).
        factor: f64,
    },
    /// Message loss on a link, or everywhere.
    Loss {
        /// The link's ends; `None` for every message.
        link: Option<(u32, u32)>,
        /// The loss probability.
        rate: f64,
    },
    /// A discovered service's registry stops answering.
    RegistryOutage {
        /// The discovered service.
        service: u32,
    },
    /// At most `instances` instances of an autoscaled service may run.
    ScaleLimit {
        /// The autoscaled service.
        service: u32,
        /// The cap.
        instances: u32,
    },
    /// An autoscaled service's metrics pipeline is down.
    MetricsOutage {
        /// The autoscaled service.
        service: u32,
    },
    /// A zone is down: its instances crashed, messages to and from it lost.
    ZoneOutage {
        /// The zone ([`NO_ZONE`](super::NO_ZONE) for one no service has: it hits nothing).
        zone: ZoneId,
    },
    /// A gateway route's split re-weighted.
    Split {
        /// The gateway service.
        service: u32,
        /// The route, by index in the gateway's `routes`.
        route: u16,
        /// The new weight of each backend, in the route's order.
        weights: Vec<u32>,
    },
    /// Boots of a service's instances take longer.
    SlowBoot {
        /// The service.
        service: u32,
        /// The boot time's multiplier (> 0).
        factor: f64,
    },
}
