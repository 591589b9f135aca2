//! Zones, compiled: every zone named anywhere (a service's `zones`, a
//! route's or a client's `zone`, a zone pair, a zone outage) numbered in
//! name order, each service's placement, each route's and client's zone,
//! and the zone pairs' latency samplers.
//!
//! A scenario in which no service has `zones` compiles to no zones at all
//! (`None`): nothing of this reaches the world, and every number of the run
//! is what it was before zones existed. A zone that no service has is
//! allowed (its clients' requests are all cross-zone; an outage of it hits
//! nothing) and warned about (`warnings/zones.rs`).

use std::collections::BTreeSet;

use crate::scenario::diagnostic::JsonPath;
use crate::scenario::model::Scenario;
use crate::scenario::policy::Problems;
use crate::scenario::sampler::Sampler;

/// A zone, as an index into [`CompiledZones::names`]; [`NO_ZONE`] for none.
pub type ZoneId = u8;

/// No zone.
pub const NO_ZONE: ZoneId = u8::MAX;

/// At most this many distinct zones (an index is a byte, `NO_ZONE` aside).
pub const MAX_ZONES: usize = 254;

/// The zones of a scenario in which some service has zones.
#[derive(Clone, Debug)]
pub struct CompiledZones {
    /// Every zone named anywhere, sorted and distinct.
    pub names: Vec<String>,
    /// Per service (name order): its `zones` as indices (empty: no zone).
    pub services: Vec<Vec<ZoneId>>,
    /// Per route (file order): its zone, or [`NO_ZONE`].
    pub routes: Vec<ZoneId>,
    /// Per client (the implicit one, or the declared ones in file order):
    /// its zone, or [`NO_ZONE`] (then its route's applies).
    pub clients: Vec<ZoneId>,
    /// Per ordered zone pair, `from * zones + to`: the latency of a message
    /// between them (the pair's, else `same_zone` or `cross_zone`), or none
    /// (the link's or the global latency applies).
    pub latency: Vec<Option<Sampler>>,
}

impl CompiledZones {
    /// The zone of instance `instance` of service `service`, or [`NO_ZONE`].
    pub fn of_instance(&self, service: usize, instance: u32) -> ZoneId {
        let zones = &self.services[service];
        if zones.is_empty() {
            NO_ZONE
        } else {
            zones[instance as usize % zones.len()]
        }
    }
}

/// Compiles the zones of `scenario` (none when no service has zones), or
/// the problems found at their paths.
pub(super) fn compile_zones(scenario: &Scenario) -> Result<Option<CompiledZones>, Problems> {
    if scenario.services.values().all(|s| s.zones.is_empty()) {
        return Ok(None);
    }
    let mut named: BTreeSet<&str> = BTreeSet::new();
    for service in scenario.services.values() {
        named.extend(service.zones.iter().map(String::as_str));
    }
    named.extend(
        scenario
            .workload
            .routes
            .iter()
            .filter_map(|r| r.zone.as_deref()),
    );
    for client in scenario.workload.clients.iter().flatten() {
        named.extend(client.zone.as_deref());
    }
    let spec = scenario.network.zones.as_ref();
    for pair in spec.iter().flat_map(|z| &z.pairs) {
        named.extend([pair.from.as_str(), pair.to.as_str()]);
    }
    for fault in &scenario.faults {
        named.extend(fault.zone_outage.as_ref().map(|o| o.zone.as_str()));
    }
    let mut problems = Problems::new();
    if named.contains("") {
        // The schema's `minLength`, for a scenario built in code.
        problems.push((
            JsonPath::root().key("services"),
            "a zone name is not empty".to_string(),
        ));
        return Err(problems);
    }
    if named.len() > MAX_ZONES {
        problems.push((
            JsonPath::root().key("services"),
            format!("{} zones: at most {MAX_ZONES} are supported", named.len()),
        ));
        return Err(problems);
    }
    let names: Vec<String> = named.iter().map(|s| (*s).to_string()).collect();
    let id = |name: &str| {
        names
            .binary_search_by(|n| n.as_str().cmp(name))
            .unwrap_or(0) as ZoneId
    };
    let zones = names.len();
    let network = JsonPath::root().key("network").key("zones");
    let mut build = |path: JsonPath, d: &crate::scenario::model::Distribution| match Sampler::new(d)
    {
        Ok(s) => Some(s),
        Err(message) => {
            problems.push((path, message.to_string()));
            None
        }
    };
    let same = spec
        .and_then(|z| z.same_zone.as_ref())
        .and_then(|d| build(network.key("same_zone"), d));
    let cross = spec
        .and_then(|z| z.cross_zone.as_ref())
        .and_then(|d| build(network.key("cross_zone"), d));
    let mut latency: Vec<Option<Sampler>> = (0..zones * zones)
        .map(|pair| {
            if pair / zones == pair % zones {
                same.clone()
            } else {
                cross.clone()
            }
        })
        .collect();
    for (i, pair) in spec.iter().flat_map(|z| &z.pairs).enumerate() {
        let path = network.key("pairs").index(i).key("latency");
        if let Some(sampler) = build(path, &pair.latency) {
            let (a, b) = (usize::from(id(&pair.from)), usize::from(id(&pair.to)));
            latency[a * zones + b] = Some(sampler.clone());
            latency[b * zones + a] = Some(sampler);
        }
    }
    if !problems.is_empty() {
        return Err(problems);
    }
    let zone_or_none = |z: Option<&String>| z.map_or(NO_ZONE, |z| id(z));
    Ok(Some(CompiledZones {
        services: scenario
            .services
            .values()
            .map(|s| s.zones.iter().map(|z| id(z)).collect())
            .collect(),
        routes: scenario
            .workload
            .routes
            .iter()
            .map(|r| zone_or_none(r.zone.as_ref()))
            .collect(),
        clients: match &scenario.workload.clients {
            Some(clients) => clients
                .iter()
                .map(|c| zone_or_none(c.zone.as_ref()))
                .collect(),
            None => vec![NO_ZONE],
        },
        latency,
        names,
    }))
}
