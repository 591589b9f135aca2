//! The checks on faults: within the run, exactly one kind each (crash, latency,
//! errors, partition, slowdown, loss, stop, registry_outage), on known
//! services, instances and links, with valid rates, factors and groups; a
//! registry outage on a service that has a registry; a scale limit or a
//! metrics outage on an autoscaled service, a slow boot on one that boots.

use std::collections::BTreeSet;

use super::{Checker, num, shown};
use crate::scenario::diagnostic::JsonPath;
use crate::scenario::model::*;

impl Checker<'_> {
    pub(super) fn fault(&mut self, path: JsonPath, fault: &Fault) {
        if fault.at >= self.scenario.duration {
            self.problem(
                path.key("at"),
                format!(
                    "starts at {} but the run ends at {}",
                    fault.at.in_seconds(),
                    self.scenario.duration.in_seconds()
                ),
            );
        }
        if let Some(lasts) = fault.lasts {
            self.positive_duration(path.key("for"), lasts);
        }
        let kinds = [
            ("crash", fault.crash.is_some()),
            ("latency", fault.latency.is_some()),
            ("errors", fault.errors.is_some()),
            ("partition", fault.partition.is_some()),
            ("slowdown", fault.slowdown.is_some()),
            ("loss", fault.loss.is_some()),
            ("stop", fault.stop.is_some()),
            ("registry_outage", fault.registry_outage.is_some()),
            ("scale_limit", fault.scale_limit.is_some()),
            ("metrics_outage", fault.metrics_outage.is_some()),
            ("slow_boot", fault.slow_boot.is_some()),
            ("zone_outage", fault.zone_outage.is_some()),
            ("split", fault.split.is_some()),
        ];
        let set: Vec<&str> = kinds
            .iter()
            .filter(|(_, on)| *on)
            .map(|(k, _)| *k)
            .collect();
        if set.len() != 1 {
            let all: Vec<&str> = kinds.iter().map(|(k, _)| *k).collect();
            let message = if set.is_empty() {
                format!("a fault needs exactly one kind: {}", all.join(", "))
            } else {
                format!(
                    "a fault has exactly one kind, this one has {}: split it into several faults",
                    set.join(" and ")
                )
            };
            self.problem(path.clone(), message);
        }
        if let Some(split) = &fault.split {
            self.split_fault(path.key("split"), split);
        }
        for (kind, target) in [("crash", &fault.crash), ("stop", &fault.stop)] {
            if let Some(target) = target {
                let p = path.key(kind);
                if self.service_ref(p.key("service"), &target.service) {
                    self.instance_ref(p.key("instance"), &target.service, target.instance);
                }
            }
        }
        if let Some(latency) = &fault.latency {
            let p = path.key("latency");
            match (&latency.service, &latency.link) {
                (Some(service), None) => {
                    if self.service_ref(p.key("service"), service) {
                        self.instance_ref(p.key("instance"), service, latency.instance);
                    }
                }
                (None, Some(link)) => {
                    self.link_ref(p.key("link"), link);
                    if latency.instance.is_some() {
                        self.problem(
                            p.key("instance"),
                            "`instance` goes with `service`: a link has no instances",
                        );
                    }
                }
                _ => self.problem(
                    p.clone(),
                    "added latency goes on a `service` or on a `link`: give exactly one",
                ),
            }
            self.positive_duration(p.key("add"), latency.add);
        }
        if let Some(errors) = &fault.errors {
            let p = path.key("errors");
            if self.service_ref(p.key("service"), &errors.service) {
                self.instance_ref(p.key("instance"), &errors.service, errors.instance);
            }
            self.probability(p.key("rate"), errors.rate);
        }
        if let Some(partition) = &fault.partition {
            let p = path.key("partition").key("between");
            if partition.between.len() < 2 {
                self.problem(
                    p.clone(),
                    "a partition needs at least two groups of services",
                );
            }
            let mut seen = BTreeSet::new();
            for (g, group) in partition.between.iter().enumerate() {
                if group.is_empty() {
                    self.problem(p.index(g), "a group needs at least one service");
                }
                for (k, service) in group.iter().enumerate() {
                    if self.service_ref(p.index(g).index(k), service)
                        && !seen.insert(service.as_str())
                    {
                        self.problem(
                            p.index(g).index(k),
                            format!("`{}` is in more than one group", shown(service)),
                        );
                    }
                }
            }
        }
        if let Some(slowdown) = &fault.slowdown {
            let p = path.key("slowdown");
            if self.service_ref(p.key("service"), &slowdown.service) {
                self.instance_ref(p.key("instance"), &slowdown.service, slowdown.instance);
            }
            if !(slowdown.factor.is_finite() && slowdown.factor > 0.0) {
                self.problem(
                    p.key("factor"),
                    format!(
                        "the factor must be a positive number, got {}",
                        num(slowdown.factor)
                    ),
                );
            }
        }
        if let Some(outage) = &fault.registry_outage {
            let p = path.key("registry_outage").key("service");
            if self.service_ref(p.clone(), &outage.service)
                && self.scenario.services[&outage.service].discovery.is_none()
            {
                self.problem(
                    p,
                    format!(
                        "`{}` has no registry: give it `discovery`, or take down the \
                         service the registry runs at with a `partition`",
                        shown(&outage.service)
                    ),
                );
            }
        }
        let autoscaled = |checker: &mut Self, p: JsonPath, service: &str| {
            if checker.service_ref(p.clone(), service)
                && checker.scenario.services[service].autoscale.is_none()
            {
                checker.problem(
                    p,
                    format!(
                        "`{}` has no autoscaler: give it `autoscale`",
                        shown(service)
                    ),
                );
            }
        };
        if let Some(limit) = &fault.scale_limit {
            autoscaled(self, path.key("scale_limit").key("service"), &limit.service);
        }
        if let Some(outage) = &fault.metrics_outage {
            autoscaled(
                self,
                path.key("metrics_outage").key("service"),
                &outage.service,
            );
        }
        if let Some(slow) = &fault.slow_boot {
            let p = path.key("slow_boot");
            if self.service_ref(p.key("service"), &slow.service)
                && self.scenario.services[&slow.service].boot_time.is_none()
            {
                self.problem(
                    p.key("service"),
                    format!(
                        "`{}` boots at once: give it a `boot_time` to slow down",
                        shown(&slow.service)
                    ),
                );
            }
            if !(slow.factor.is_finite() && slow.factor > 0.0) {
                self.problem(
                    p.key("factor"),
                    format!(
                        "the factor must be a positive number, got {}",
                        num(slow.factor)
                    ),
                );
            }
        }
        if let Some(loss) = &fault.loss {
            let p = path.key("loss");
            if let Some(link) = &loss.link {
                self.link_ref(p.key("link"), link);
            }
            self.probability(p.key("rate"), loss.rate);
        }
    }
}
