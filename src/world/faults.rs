//! The fault timeline: compiled faults, their effects on instances, services
//! and the network, and their windows for reports.

use crate::kernel::{Kernel, SimDuration, SimTime};
use crate::scenario::{FaultTarget, Scenario};

use super::{Event, World};

/// A compiled fault.
#[derive(Clone, Debug)]
pub(super) enum FaultEffect {
    Crash {
        service: u32,
        instance: Option<u32>,
    },
    ServiceLatency {
        service: u32,
        add: SimDuration,
    },
    LinkLatency {
        a: u32,
        b: u32,
        add: SimDuration,
    },
    Errors {
        service: u32,
        rate: f64,
    },
    Partition {
        groups: Vec<Vec<usize>>,
    },
    Slowdown {
        service: u32,
        factor: f64,
    },
    Loss {
        link: Option<(usize, usize)>,
        rate: f64,
    },
}

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

/// The effects of a compiled scenario's faults, none active yet.
pub(super) fn effects(faults: &[FaultTarget]) -> Vec<(FaultEffect, bool)> {
    faults
        .iter()
        .map(|f| {
            let effect = match f {
                FaultTarget::Crash { service, instance } => FaultEffect::Crash {
                    service: *service,
                    instance: *instance,
                },
                FaultTarget::ServiceLatency { service, add } => FaultEffect::ServiceLatency {
                    service: *service,
                    add: *add,
                },
                FaultTarget::LinkLatency { a, b, add } => FaultEffect::LinkLatency {
                    a: *a,
                    b: *b,
                    add: *add,
                },
                FaultTarget::Errors { service, rate } => FaultEffect::Errors {
                    service: *service,
                    rate: *rate,
                },
                FaultTarget::Partition { groups } => FaultEffect::Partition {
                    groups: groups
                        .iter()
                        .map(|g| g.iter().map(|s| *s as usize).collect())
                        .collect(),
                },
                FaultTarget::Slowdown { service, factor } => FaultEffect::Slowdown {
                    service: *service,
                    factor: *factor,
                },
                FaultTarget::Loss { link, rate } => FaultEffect::Loss {
                    link: link.map(|(a, b)| (a as usize, b as usize)),
                    rate: *rate,
                },
            };
            (effect, false)
        })
        .collect()
}

pub(super) fn fault_windows(scenario: &Scenario) -> Vec<FaultWindow> {
    scenario
        .faults
        .iter()
        .map(|f| {
            let (kind, target) = if let Some(c) = &f.crash {
                let target = match c.instance {
                    Some(i) => format!("{} instance {i}", c.service),
                    None => format!("{} (all instances)", c.service),
                };
                ("crash", target)
            } else if let Some(l) = &f.latency {
                let target = match (&l.service, &l.link) {
                    (Some(s), _) => format!("{s} +{}", l.add),
                    (_, Some(link)) => format!("{} <-> {} +{}", link.from, link.to, l.add),
                    _ => String::new(),
                };
                ("latency", target)
            } else if let Some(e) = &f.errors {
                ("errors", format!("{} error rate {}", e.service, e.rate))
            } else if let Some(p) = &f.partition {
                let groups: Vec<String> = p
                    .between
                    .iter()
                    .map(|g| format!("[{}]", g.join(", ")))
                    .collect();
                ("partition", groups.join(" | "))
            } else if let Some(s) = &f.slowdown {
                ("slowdown", format!("{} x{}", s.service, s.factor))
            } else if let Some(l) = &f.loss {
                let target = match &l.link {
                    Some(link) => format!("{} <-> {} loss {}", link.from, link.to, l.rate),
                    None => format!("all links loss {}", l.rate),
                };
                ("loss", target)
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
    // ----- faults ----------------------------------------------------------

    pub(super) fn fault(&mut self, kernel: &mut Kernel<Event>, index: u32, starts: bool) {
        let (effect, active) = &mut self.faults[index as usize];
        *active = starts;
        let effect = effect.clone();
        match effect {
            FaultEffect::Crash { service, instance } => {
                let model = &self.services[service as usize];
                let range = match instance {
                    Some(i) => model.first_instance + i..model.first_instance + i + 1,
                    None => model.first_instance..model.first_instance + model.instances,
                };
                for i in range {
                    if starts {
                        self.crash(kernel.now(), i);
                    } else {
                        self.instances[i as usize].crashes -= 1;
                    }
                }
            }
            FaultEffect::ServiceLatency { service, .. }
            | FaultEffect::Errors { service, .. }
            | FaultEffect::Slowdown { service, .. } => self.apply_service_faults(service),
            FaultEffect::LinkLatency { .. }
            | FaultEffect::Partition { .. }
            | FaultEffect::Loss { .. } => self.apply_network_faults(),
        }
    }

    fn apply_service_faults(&mut self, service: u32) {
        let model = &mut self.services[service as usize];
        model.error_rate = model.base_error_rate;
        model.added_latency = SimDuration::ZERO;
        model.slowdown = 1.0;
        for (effect, active) in &self.faults {
            if !active {
                continue;
            }
            match effect {
                FaultEffect::Errors { service: s, rate } if *s == service => {
                    model.error_rate = *rate
                }
                FaultEffect::ServiceLatency { service: s, add } if *s == service => {
                    model.added_latency = model.added_latency.saturating_add(*add)
                }
                FaultEffect::Slowdown { service: s, factor } if *s == service => {
                    model.slowdown *= factor
                }
                _ => {}
            }
        }
    }

    fn apply_network_faults(&mut self) {
        self.network.clear_faults();
        for (effect, active) in &self.faults {
            if !active {
                continue;
            }
            match effect {
                FaultEffect::LinkLatency { a, b, add } => {
                    self.network.add_latency(*a as usize, *b as usize, *add)
                }
                FaultEffect::Partition { groups } => self.network.partition(groups),
                FaultEffect::Loss { link, rate } => self.network.add_loss(*link, *rate),
                _ => {}
            }
        }
    }
}
