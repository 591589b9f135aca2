//! The fault timeline: compiled faults, their effects on instances, services
//! and the network, and their windows for reports.

use crate::kernel::{Kernel, SimDuration, SimTime};
use crate::scenario::{FaultTarget, NO_ZONE, Scenario, ZoneId};

use super::{Event, World};

/// A fault as it happened, for reports.
#[derive(Clone, Debug, PartialEq)]
pub struct FaultWindow {
    /// What kind of fault (`crash`, `latency`...).
    pub kind: &'static str,
    /// What it hit, in words.
    pub target: String,
    /// When it started.
    pub start: SimTime,
    /// When it ended, if within the run.
    pub end: Option<SimTime>,
}

/// The compiled faults, none active yet.
pub(super) fn effects(faults: &[FaultTarget]) -> Vec<(FaultTarget, bool)> {
    faults.iter().map(|f| (f.clone(), false)).collect()
}

pub(super) fn fault_windows(scenario: &Scenario) -> Vec<FaultWindow> {
    scenario
        .faults
        .iter()
        .map(|f| {
            // A service, or one of its instances.
            let who = |service: &str, instance: Option<u32>| match instance {
                Some(i) => format!("{service} instance {i}"),
                None => service.to_string(),
            };
            // An instance, or every instance, for crashes and stops.
            let all_or_one = |c: &crate::scenario::CrashFault| match c.instance {
                Some(i) => format!("{} instance {i}", c.service),
                None => format!("{} (all instances)", c.service),
            };
            let (kind, target) = if let Some(c) = &f.crash {
                ("crash", all_or_one(c))
            } else if let Some(c) = &f.stop {
                ("stop", all_or_one(c))
            } else if let Some(l) = &f.latency {
                let target = match (&l.service, &l.link) {
                    (Some(s), _) => format!("{} +{}", who(s, l.instance), l.add),
                    (_, Some(link)) => format!("{} <-> {} +{}", link.from, link.to, l.add),
                    _ => String::new(),
                };
                ("latency", target)
            } else if let Some(e) = &f.errors {
                let target = format!("{} error rate {}", who(&e.service, e.instance), e.rate);
                ("errors", target)
            } else if let Some(p) = &f.partition {
                let groups: Vec<String> = p
                    .between
                    .iter()
                    .map(|g| format!("[{}]", g.join(", ")))
                    .collect();
                ("partition", groups.join(" | "))
            } else if let Some(s) = &f.slowdown {
                (
                    "slowdown",
                    format!("{} x{}", who(&s.service, s.instance), s.factor),
                )
            } else if let Some(l) = &f.loss {
                let target = match &l.link {
                    Some(link) => format!("{} <-> {} loss {}", link.from, link.to, l.rate),
                    None => format!("all links loss {}", l.rate),
                };
                ("loss", target)
            } else if let Some(r) = &f.registry_outage {
                ("registry_outage", format!("{} registry", r.service))
            } else if let Some(l) = &f.scale_limit {
                (
                    "scale_limit",
                    format!("{} at most {} instance(s)", l.service, l.instances),
                )
            } else if let Some(m) = &f.metrics_outage {
                ("metrics_outage", format!("{} metrics", m.service))
            } else if let Some(b) = &f.slow_boot {
                ("slow_boot", format!("{} boot x{}", b.service, b.factor))
            } else if let Some(z) = &f.zone_outage {
                ("zone_outage", format!("zone {}", z.zone))
            } else if let Some(s) = &f.split {
                let weights: Vec<String> =
                    s.weights.iter().map(|(b, w)| format!("{b} {w}")).collect();
                (
                    "split",
                    format!("{} {}: {}", s.service, s.route, weights.join(", ")),
                )
            } else {
                ("unknown", String::new())
            };
            let start = SimTime::ZERO + f.at;
            let end = f
                .lasts
                .map(|d| start.saturating_add(d))
                .filter(|end| *end <= SimTime::ZERO + scenario.duration);
            FaultWindow {
                kind,
                target,
                start,
                end,
            }
        })
        .collect()
}

impl World<'_> {
    /// A fault starts or ends.
    pub(super) fn fault(&mut self, kernel: &mut Kernel<Event>, index: u32, starts: bool) {
        let (effect, active) = &mut self.faults[index as usize];
        *active = starts;
        let effect = effect.clone();
        match effect {
            FaultTarget::Crash { service, instance } => {
                for i in self.instances_of(service, instance) {
                    if starts {
                        self.crash(kernel, i);
                    } else {
                        self.recover_instance(kernel, i);
                    }
                }
            }
            FaultTarget::Stop { service, instance } => {
                for i in self.instances_of(service, instance) {
                    if starts {
                        self.stop_instance(kernel, i);
                    } else {
                        self.resume_instance(kernel, i);
                    }
                }
            }
            FaultTarget::ServiceLatency { service, .. }
            | FaultTarget::Errors { service, .. }
            | FaultTarget::Slowdown { service, .. } => self.apply_service_faults(service),
            FaultTarget::LinkLatency { .. }
            | FaultTarget::Partition { .. }
            | FaultTarget::Loss { .. } => self.apply_network_faults(),
            FaultTarget::RegistryOutage { service } => {
                self.registry_outage(kernel.now(), service, starts)
            }
            FaultTarget::ScaleLimit { service, .. } | FaultTarget::MetricsOutage { service } => {
                self.autoscale_faults(kernel, service)
            }
            FaultTarget::SlowBoot { service, .. } => self.apply_boot_faults(service),
            FaultTarget::ZoneOutage { zone } => self.zone_outage(kernel, zone, starts),
            FaultTarget::Split { service, route, .. } => {
                self.apply_split_faults(kernel.now(), service, route)
            }
        }
    }

    /// An outage of `zone` starts or ends: its messages are lost meanwhile,
    /// and every instance in it crashes, and recovers at the end, through
    /// the lifecycle (a crash counted like any other; `NO_ZONE`, a zone no
    /// service has, hits nothing).
    fn zone_outage(&mut self, kernel: &mut Kernel<Event>, zone: ZoneId, starts: bool) {
        let Some(zones) = self.zones.as_deref_mut() else {
            return;
        };
        if zone == NO_ZONE {
            return;
        }
        zones.outage(zone, starts);
        let hit: Vec<u32> = (0..zones.instance.len() as u32)
            .filter(|&i| zones.instance[i as usize] == zone)
            .collect();
        for i in hit {
            if starts {
                self.crash(kernel, i);
            } else {
                self.recover_instance(kernel, i);
            }
        }
    }

    /// The indices of one instance of `service`, or of all of them.
    fn instances_of(&self, service: u32, instance: Option<u32>) -> std::ops::Range<u32> {
        let model = &self.services[service as usize];
        match instance {
            Some(i) => model.first_instance + i..model.first_instance + i + 1,
            None => model.first_instance..model.first_instance + model.instances,
        }
    }

    /// Recomputes what the active faults make of each instance of `service`:
    /// latencies add up, slowdowns multiply, and an error rate replaces the
    /// service's own, an instance's fault winning over the service's.
    fn apply_service_faults(&mut self, service: u32) {
        let model = &self.services[service as usize];
        let (first, count, base_error_rate) =
            (model.first_instance, model.instances, model.base_error_rate);
        for n in 0..count {
            let index = first + n;
            let mut slowdown = self.instances[index as usize].base_slowdown;
            let mut added_latency = SimDuration::ZERO;
            let (mut service_rate, mut instance_rate) = (None, None);
            for (effect, active) in &self.faults {
                if !active {
                    continue;
                }
                let hits = |s: u32, i: Option<u32>| s == service && i.is_none_or(|i| i == n);
                match *effect {
                    FaultTarget::Errors {
                        service: s,
                        instance,
                        rate,
                    } if hits(s, instance) => match instance {
                        Some(_) => instance_rate = Some(rate),
                        None => service_rate = Some(rate),
                    },
                    FaultTarget::ServiceLatency {
                        service: s,
                        instance,
                        add,
                    } if hits(s, instance) => added_latency = added_latency.saturating_add(add),
                    FaultTarget::Slowdown {
                        service: s,
                        instance,
                        factor,
                    } if hits(s, instance) => slowdown *= factor,
                    _ => {}
                }
            }
            let instance = &mut self.instances[index as usize];
            instance.slowdown = slowdown;
            instance.added_latency = added_latency;
            instance.error_rate = instance_rate.or(service_rate).unwrap_or(base_error_rate);
        }
    }

    /// Recomputes the boot time's multiplier of `service`: the product of
    /// its active slow boots.
    fn apply_boot_faults(&mut self, service: u32) {
        let mut factor = 1.0;
        for (effect, active) in &self.faults {
            if let (
                FaultTarget::SlowBoot {
                    service: s,
                    factor: f,
                },
                true,
            ) = (effect, active)
                && *s == service
            {
                factor *= f;
            }
        }
        self.services[service as usize].boot_factor = factor;
    }

    fn apply_network_faults(&mut self) {
        self.network.clear_faults();
        for (effect, active) in &self.faults {
            if !active {
                continue;
            }
            match effect {
                FaultTarget::LinkLatency { a, b, add } => {
                    self.network.add_latency(*a as usize, *b as usize, *add)
                }
                FaultTarget::Partition { groups } => {
                    let groups: Vec<Vec<usize>> = groups
                        .iter()
                        .map(|g| g.iter().map(|s| *s as usize).collect())
                        .collect();
                    self.network.partition(&groups)
                }
                FaultTarget::Loss { link, rate } => self
                    .network
                    .add_loss(link.map(|(a, b)| (a as usize, b as usize)), *rate),
                _ => {}
            }
        }
    }
}
