//! Zones that cannot do what they seem to: a zone some route, client, zone
//! pair or outage names but no service has, and zone-aware routing on a
//! pool too small for it ever to engage (Envoy's `min_cluster_size`).

use std::collections::BTreeSet;

use super::{JsonPath, Lints};
use crate::scenario::compile::CompiledZones;

impl Lints<'_> {
    pub(super) fn zones(&mut self, zones: Option<&CompiledZones>) {
        let scenario = self.scenario;
        let placed: BTreeSet<&str> = scenario
            .services
            .values()
            .flat_map(|s| s.zones.iter().map(String::as_str))
            .collect();
        let mut named: Vec<(JsonPath, &str)> = Vec::new();
        let routes = JsonPath::root().key("workload").key("routes");
        for (i, route) in scenario.workload.routes.iter().enumerate() {
            if let Some(z) = &route.zone {
                named.push((routes.index(i).key("zone"), z));
            }
        }
        let clients = JsonPath::root().key("workload").key("clients");
        for (i, client) in scenario.workload.clients.iter().flatten().enumerate() {
            if let Some(z) = &client.zone {
                named.push((clients.index(i).key("zone"), z));
            }
        }
        for (i, fault) in scenario.faults.iter().enumerate() {
            if let Some(o) = &fault.zone_outage {
                let path = JsonPath::root().key("faults").index(i).key("zone_outage");
                named.push((path.key("zone"), &o.zone));
            }
        }
        let pairs = JsonPath::root().key("network").key("zones").key("pairs");
        for (i, pair) in scenario
            .network
            .zones
            .iter()
            .flat_map(|z| &z.pairs)
            .enumerate()
        {
            named.push((pairs.index(i).key("from"), &pair.from));
            named.push((pairs.index(i).key("to"), &pair.to));
        }
        for (path, zone) in named {
            if placed.contains(zone) {
                continue;
            }
            let has = if placed.is_empty() {
                "no service has zones, so nothing is zoned".to_string()
            } else {
                let list: Vec<&str> = placed.iter().copied().collect();
                format!("the services' zones are {}", list.join(", "))
            };
            self.warn(
                path,
                format!("zone `{zone}` is not a zone of any service: {has}"),
                "name a zone listed in some service's `zones`, or add it there",
            );
        }
        if zones.is_none() {
            return;
        }
        self.zone_aware_pools();
    }

    /// Zone-aware policies on edges to a callee with fewer instances than
    /// `min_cluster_size`: zone awareness never engages there.
    fn zone_aware_pools(&mut self) {
        let scenario = self.scenario;
        let mut uses: BTreeSet<(String, String)> = BTreeSet::new();
        let workload_policy = scenario.workload.policy.as_deref();
        for route in &scenario.workload.routes {
            if let Some(p) = route.policy.as_deref().or(workload_policy) {
                uses.insert((p.to_string(), route.service.clone()));
            }
        }
        for service in scenario.services.values() {
            for step in &service.calls {
                if let (Some(p), Some(callee)) = (step.policy.as_deref(), step.service.as_deref()) {
                    uses.insert((p.to_string(), callee.to_string()));
                }
                for call in step.parallel.iter().flatten() {
                    if let Some(p) = call.policy.as_deref() {
                        uses.insert((p.to_string(), call.service.clone()));
                    }
                }
            }
        }
        for (policy, callee) in uses {
            let (Some(spec), Some(service)) = (
                scenario.policies.get(&policy).and_then(|p| p.zone_aware),
                scenario.services.get(&callee),
            ) else {
                continue;
            };
            let zone_aware = JsonPath::root()
                .key("policies")
                .key(&policy)
                .key("zone_aware");
            let path = zone_aware.key("min_cluster_size");
            let n = service.slots();
            if n < spec.min_cluster_size {
                self.warn(
                    path,
                    format!(
                        "`{callee}` has {n} instance(s), fewer than min_cluster_size {}: zone-aware routing never engages on calls to it",
                        spec.min_cluster_size
                    ),
                    format!("lower min_cluster_size to at most {n}, or run more instances"),
                );
            } else if service.zones.len() < 2 {
                self.warn(
                    zone_aware,
                    format!(
                        "`{callee}` is in {} zone(s): zone-aware routing needs at least two",
                        service.zones.len()
                    ),
                    format!("give `{callee}` two or more `zones`, or drop zone_aware"),
                );
            }
        }
    }
}
