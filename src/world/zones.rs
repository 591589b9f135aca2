//! Zones: where each instance and each client runs, the latency of a
//! message between zones, zone outages, and zone-aware routing's wiring.
//!
//! The rule for latency: a message whose two ends are both in a zone (the
//! caller: the calling instance, or the request's client, by its own `zone`
//! or its route's; the callee: the instance) takes its zone pair's latency
//! (`network.zones`: the pair's, else `same_zone` or `cross_zone`) *instead
//! of* its link's or the global one, drawn from its own stream
//! `network/zone/<message>/delay` keyed as the message's other draws;
//! loss, partitions and fault latency apply as to any message. A message
//! with an end in no zone, or a pair with no latency given, is the
//! network's as before. Registry traffic (checks, heartbeats, refreshes) is
//! not zoned.
//!
//! A zone outage crashes every instance in the zone through the lifecycle
//! (`crash`, and `recover_instance` when it ends) and loses every zoned
//! message to or from the zone while it lasts (counted as partitioned).
//!
//! Zone-aware routing is the patterns' `ZoneRouter` (Envoy's), one per
//! edge whose policy sets `zone_aware`, told the zones of the hosts its
//! balancer may use; its draws come from `balance/zone`, keyed by the
//! attempt (`discovery.rs`, `pick_balanced`).
//!
//! **Architecture Invariant:** a scenario without zones has no `Zones`
//! (`World::zones` is `None`): its messages and picks take the paths they
//! always took, behind one predictable branch per attempt and per reply,
//! and every number stays byte-identical.

use crate::kernel::{DrawKey, KeyedStream, RngStreams, SimDuration};
use crate::patterns::discovery::ZoneRouter;
use crate::scenario::{CompiledZones, NO_ZONE, Sampler, ZoneId};

use super::World;
use super::calls::{Owner, Parent};
use super::draws::Message;
use super::slab::Key;

/// What the callers sent to one zone's instances.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ZoneCounts {
    /// Attempts sent to an instance in the zone.
    pub requests: u64,
    /// Of them, from a caller in another zone.
    pub cross_zone: u64,
}

/// The run's figures per zone (for reports): names in name order.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ZonesOutcome {
    /// The zones, sorted.
    pub names: Vec<String>,
    /// Per zone: its instances (of every service, slots included).
    pub instances: Vec<u32>,
    /// Per zone: what was sent to it.
    pub counts: Vec<ZoneCounts>,
    /// Per service (name order), per instance: its zone's name (empty for a
    /// service without zones).
    pub of_instance: Vec<Vec<String>>,
}

/// The world's zones (present only when some service has zones).
pub(super) struct Zones {
    /// Per world instance: its zone, or `NO_ZONE`.
    pub(super) instance: Vec<ZoneId>,
    routes: Vec<ZoneId>,
    clients: Vec<ZoneId>,
    count: usize,
    /// Per ordered zone pair: its latency, if the scenario gives one.
    latency: Vec<Option<Sampler>>,
    delay: [KeyedStream; 3],
    /// Per zone: active outages.
    down: Vec<u32>,
    pub(super) counts: Vec<ZoneCounts>,
    /// Per edge: its zone-aware router (none: not zone aware).
    pub(super) routers: Vec<Option<ZoneRouter>>,
    /// The routers' draws, keyed by attempt.
    pub(super) pick: KeyedStream,
    /// Scratch for a zone-aware pick's hosts.
    pub(super) scratch: Vec<u32>,
    names: Vec<String>,
}

impl Zones {
    /// The zones of a compiled scenario, for the world's instances given in
    /// order as (service, index within it), and the routers per edge.
    pub(super) fn new(
        compiled: &CompiledZones,
        instances: impl Iterator<Item = (usize, u32)>,
        routers: Vec<Option<ZoneRouter>>,
        streams: &RngStreams,
    ) -> Zones {
        let instance: Vec<ZoneId> = instances
            .map(|(service, n)| compiled.of_instance(service, n))
            .collect();
        let count = compiled.names.len();
        Zones {
            // A pick's hosts are at most a service's instances.
            scratch: Vec::with_capacity(instance.len()),
            instance,
            routes: compiled.routes.clone(),
            clients: compiled.clients.clone(),
            count,
            latency: compiled.latency.clone(),
            delay: ["request", "reply", "cancel"]
                .map(|m| streams.keyed(&format!("network/zone/{m}/delay"))),
            down: vec![0; count],
            counts: vec![ZoneCounts::default(); count],
            routers,
            pick: streams.keyed("balance/zone"),
            names: compiled.names.clone(),
        }
    }

    /// An outage of `zone` starts or ends.
    pub(super) fn outage(&mut self, zone: ZoneId, starts: bool) {
        let down = &mut self.down[usize::from(zone)];
        if starts {
            *down += 1;
        } else {
            *down = down.saturating_sub(1);
        }
    }

    /// For reports.
    pub(super) fn outcome(&self, services: &[(u32, u32)]) -> ZonesOutcome {
        let mut instances = vec![0; self.count];
        for &z in &self.instance {
            if z != NO_ZONE {
                instances[usize::from(z)] += 1;
            }
        }
        ZonesOutcome {
            names: self.names.clone(),
            instances,
            counts: self.counts.clone(),
            of_instance: services
                .iter()
                .map(|&(first, n)| {
                    (first..first + n)
                        .map(|i| match self.instance[i as usize] {
                            NO_ZONE => String::new(),
                            z => self.names[usize::from(z)].clone(),
                        })
                        .collect()
                })
                .collect(),
        }
    }
}

impl World<'_> {
    /// The zone of the caller of `attempt` (of `request`): its calling
    /// instance's, or its client's (the client's own zone, else its
    /// route's); `NO_ZONE` when it has none. Only for a zoned world.
    pub(super) fn caller_zone(&self, attempt: Key, request: Key) -> ZoneId {
        let Some(zones) = self.zones.as_deref() else {
            return NO_ZONE;
        };
        let parent = match self.attempts.get(attempt).map(|a| &a.owner) {
            Some(Owner::Call(call)) => self.calls.get(*call).map(|c| c.parent),
            Some(Owner::Direct { parent, .. }) => Some(*parent),
            None => None,
        };
        if let Some(Parent::Job(job)) = parent {
            return self
                .jobs
                .get(job)
                .map_or(NO_ZONE, |j| zones.instance[j.instance as usize]);
        }
        if let Some(Parent::Saga { run, .. }) = parent {
            // A saga's calls go from its orchestrator instance.
            return zones.instance[self.saga_instance(run) as usize];
        }
        if let Some(Parent::Publish(publish)) = parent {
            return zones.instance[self.publish_instance(publish) as usize];
        }
        let Some(context) = self.requests.get(request) else {
            return NO_ZONE;
        };
        match zones.clients.get(usize::from(context.client)) {
            Some(&zone) if zone != NO_ZONE => zone,
            _ => zones
                .routes
                .get(context.route as usize)
                .copied()
                .unwrap_or(NO_ZONE),
        }
    }

    /// A zoned message from node `from` in zone `from_zone` to node `to` in
    /// `to_zone` (see the module documentation for the latency rule); lost
    /// while either zone is down. Only for a zoned world.
    pub(super) fn transmit_zoned(
        &mut self,
        (from, from_zone): (u32, ZoneId),
        (to, to_zone): (u32, ZoneId),
        message: Message,
        key: DrawKey,
    ) -> Option<SimDuration> {
        let zones = self
            .zones
            .as_deref()
            .expect("a zoned message in a zoned world");
        let zoned = from_zone != NO_ZONE && to_zone != NO_ZONE;
        let down = |z: ZoneId| z != NO_ZONE && zones.down[usize::from(z)] > 0;
        if down(from_zone) || down(to_zone) {
            self.network.stats.messages += 1;
            self.network.stats.partitioned += 1;
            return None;
        }
        let latency = if zoned {
            let pair = usize::from(from_zone) * zones.count + usize::from(to_zone);
            zones.latency[pair]
                .as_ref()
                .map(|s| (s, zones.delay[message as usize]))
        } else {
            None
        };
        self.network
            .transmit_with(from as usize, to as usize, message, key, latency)
    }
}
