//! The checks on services and their call steps: instances, workers, queue,
//! service time, error rate and per-instance slowdowns; each call step a call
//! or a parallel group (not both), to known services and policies, within the
//! counts the world can hold, and the memory of the policies on them; and the
//! call graph free of cycles.

use std::collections::{BTreeMap, BTreeSet};

use super::{Checker, MAX_CALLS, MAX_INSTANCES, num};
use crate::scenario::diagnostic::JsonPath;
use crate::scenario::model::*;

impl Checker<'_> {
    /// A service's load shedding: watermarks the queue can reach, and a cap
    /// its workers can reach (past either it would never shed: a setting
    /// that does nothing is a mistake, not a choice).
    fn shed(&mut self, path: &JsonPath, shed: &ShedSpec, service: &Service) {
        match shed.queue_high {
            None if shed.max_concurrency.is_none() => self.problem(
                path.clone(),
                "shed needs a trigger: queue_high (a queue length), max_concurrency (requests in service), or both",
            ),
            None if shed.queue_low.is_some() => self.problem(
                path.key("queue_low"),
                "queue_low is where shedding by queue_high stops: it needs queue_high",
            ),
            None => {}
            Some(high) if high == 0 || high > service.queue_capacity => self.problem(
                path.key("queue_high"),
                format!(
                    "queue_high must be between 1 and the queue_capacity ({}): the queue never holds more",
                    service.queue_capacity
                ),
            ),
            Some(high) if shed.queue_low.is_some_and(|low| low >= high) => self.problem(
                path.key("queue_low"),
                format!(
                    "queue_low must be below queue_high ({high}): shedding stops once the queue has drained to it"
                ),
            ),
            Some(_) => {}
        }
        if let Some(max) = shed.max_concurrency
            && (max == 0 || max > service.concurrency)
        {
            self.problem(
                path.key("max_concurrency"),
                format!(
                    "max_concurrency must be between 1 and the concurrency ({}): no more are ever in service",
                    service.concurrency
                ),
            );
        }
    }

    pub(super) fn service(&mut self, name: &str, service: &Service) {
        let path = JsonPath::root().key("services").key(name);
        if service.instances == 0 || service.instances > MAX_INSTANCES {
            self.problem(
                path.key("instances"),
                format!("instances must be between 1 and {MAX_INSTANCES}"),
            );
        }
        if service.concurrency == 0 {
            self.problem(
                path.key("concurrency"),
                "concurrency must be at least 1 worker",
            );
        }
        if service.queue_capacity == 0 {
            self.problem(
                path.key("queue_capacity"),
                "queue_capacity must be at least 1",
            );
        }
        self.distribution(path.key("service_time"), &service.service_time);
        if let Some(discovery) = &service.discovery {
            self.discovery(path.key("discovery"), discovery);
        }
        if let Some(boot) = &service.boot_time {
            self.distribution(path.key("boot_time"), boot);
        }
        if let Some(r) = &service.rate_limit {
            self.rate(path.key("rate_limit").key("rate"), r.rate);
        }
        if let Some(shed) = &service.shed {
            self.shed(&path.key("shed"), shed, service);
        }
        self.probability(path.key("error_rate"), service.error_rate);
        let slowdowns = &service.instance_slowdown;
        if !slowdowns.is_empty() && slowdowns.len() != service.slots() as usize {
            self.problem(
                path.key("instance_slowdown"),
                format!(
                    "one factor per instance{}: {} given for {} instance(s)",
                    if service.autoscale.is_some() {
                        " (up to `autoscale.max_instances`)"
                    } else {
                        ""
                    },
                    slowdowns.len(),
                    service.slots()
                ),
            );
        }
        for (i, factor) in slowdowns.iter().enumerate() {
            if !(factor.is_finite() && *factor > 0.0) {
                self.problem(
                    path.key("instance_slowdown").index(i),
                    format!("a slowdown must be a positive number, got {}", num(*factor)),
                );
            }
        }
        if service.calls.len() > MAX_CALLS {
            self.problem(
                path.key("calls"),
                format!(
                    "{} call steps: a service makes at most {MAX_CALLS}",
                    service.calls.len()
                ),
            );
        }
        for (i, step) in service.calls.iter().enumerate() {
            let step_path = path.key("calls").index(i);
            self.call_step(step_path.clone(), step);
            let callee = |name: &str| self.scenario.services.get(name).map_or(1, |s| s.slots());
            if let Some(name) = &step.policy {
                let hosts = step.service.as_deref().map_or(1, callee);
                self.policy_memory(&step_path, service.slots(), hosts, name);
            }
            for (k, call) in step.parallel.iter().flatten().enumerate() {
                if let Some(name) = &call.policy {
                    let hosts = callee(&call.service);
                    self.policy_memory(
                        &step_path.key("parallel").index(k),
                        service.slots(),
                        hosts,
                        name,
                    );
                }
            }
        }
    }

    /// A `discovery` section: a known registry service, exactly one health
    /// mechanism, and a check's work a valid distribution (the durations
    /// and thresholds are the patterns' to check, in the compile step).
    fn discovery(&mut self, path: JsonPath, discovery: &DiscoverySpec) {
        if let Some(registry) = &discovery.registry {
            self.service_ref(path.key("registry"), registry);
        }
        match (&discovery.health_check, &discovery.heartbeat) {
            (Some(check), None) => {
                if let Some(work) = &check.service_time {
                    self.distribution(path.key("health_check").key("service_time"), work);
                }
            }
            (None, Some(_)) => {}
            (Some(_), Some(_)) => self.problem(
                path,
                "discovery takes `health_check` or `heartbeat`, not both",
            ),
            (None, None) => self.problem(
                path,
                "discovery needs `health_check` (active checks) or `heartbeat` (TTL leases)",
            ),
        }
    }

    fn call_step(&mut self, path: JsonPath, step: &CallStep) {
        match (&step.service, &step.parallel) {
            (Some(target), None) => {
                self.service_ref(path.key("service"), target);
                if let Some(p) = step.probability {
                    self.probability(path.key("probability"), p);
                }
                if let Some(t) = step.timeout {
                    self.positive_duration(path.key("timeout"), t);
                }
                self.policy_ref(&path, step.policy.as_deref(), step.timeout.is_some());
            }
            (None, Some(group)) => {
                if group.is_empty() {
                    self.problem(
                        path.key("parallel"),
                        "a parallel group needs at least one call",
                    );
                }
                if group.len() > MAX_CALLS {
                    self.problem(
                        path.key("parallel"),
                        format!(
                            "{} calls in one group: a parallel group has at most {MAX_CALLS}",
                            group.len()
                        ),
                    );
                }
                for (field, set) in [
                    ("probability", step.probability.is_some()),
                    ("optional", step.optional.is_some()),
                    ("timeout", step.timeout.is_some()),
                    ("policy", step.policy.is_some()),
                ] {
                    if set {
                        self.problem(
                            path.key(field),
                            format!(
                                "`{field}` belongs on each call inside `parallel`, not on the group"
                            ),
                        );
                    }
                }
                for (i, call) in group.iter().enumerate() {
                    let call_path = path.key("parallel").index(i);
                    self.service_ref(call_path.key("service"), &call.service);
                    self.probability(call_path.key("probability"), call.probability);
                    if let Some(t) = call.timeout {
                        self.positive_duration(call_path.key("timeout"), t);
                    }
                    self.policy_ref(&call_path, call.policy.as_deref(), call.timeout.is_some());
                }
            }
            (Some(_), Some(_)) => self.problem(
                path,
                "a call step is either a call (`service`) or a `parallel` group, not both",
            ),
            (None, None) => self.problem(
                path,
                "a call step needs `service` (one call) or `parallel` (a group of calls)",
            ),
        }
    }

    /// Reports each cycle in the call graph once, by its path of services.
    pub(super) fn cycles(&mut self) {
        let graph: BTreeMap<&str, Vec<&str>> = self
            .scenario
            .services
            .iter()
            .map(|(name, s)| {
                // A call's fallback to another service is a call too.
                let mut out = callees(s);
                for fallback in policies_used(s).into_iter().filter_map(|p| {
                    self.scenario
                        .policies
                        .get(p)?
                        .fallback
                        .as_ref()?
                        .service
                        .as_deref()
                }) {
                    if !out.contains(&fallback) {
                        out.push(fallback);
                    }
                }
                (name.as_str(), out)
            })
            .collect();
        // Iterative DFS with colours: 0 new, 1 on the stack, 2 done.
        let mut colour: BTreeMap<&str, u8> = graph.keys().map(|k| (*k, 0)).collect();
        let mut reported = BTreeSet::new();
        for start in graph.keys() {
            if colour[start] != 0 {
                continue;
            }
            let mut stack: Vec<(&str, usize)> = vec![(start, 0)];
            colour.insert(start, 1);
            while let Some((node, next)) = stack.last_mut() {
                let node = *node;
                let edges = graph.get(node).map(Vec::as_slice).unwrap_or(&[]);
                if *next >= edges.len() {
                    colour.insert(node, 2);
                    stack.pop();
                    continue;
                }
                let callee = edges[*next];
                *next += 1;
                match colour.get(callee).copied() {
                    Some(0) => {
                        colour.insert(callee, 1);
                        stack.push((callee, 0));
                    }
                    Some(1) => {
                        let from = stack.iter().position(|(n, _)| *n == callee).unwrap_or(0);
                        let mut cycle: Vec<&str> = stack[from..].iter().map(|(n, _)| *n).collect();
                        cycle.push(callee);
                        let mut key: Vec<&str> = cycle[..cycle.len() - 1].to_vec();
                        key.sort_unstable();
                        if reported.insert(key) {
                            self.problem(
                                JsonPath::root().key("services").key(callee).key("calls"),
                                format!(
                                    "the call graph has a cycle: {} (requests would call each other forever)",
                                    cycle.join(" -> ")
                                ),
                            );
                        }
                    }
                    _ => {}
                }
            }
        }
    }
}

/// The policies of a service's calls (a gateway's: its routes', its
/// branches' and its auth calls'), in order, with repeats.
pub fn policies_used(service: &Service) -> Vec<&str> {
    let mut out: Vec<&str> = Vec::new();
    for step in &service.calls {
        out.extend(step.policy.as_deref());
        for call in step.parallel.iter().flatten() {
            out.extend(call.policy.as_deref());
        }
    }
    if let Some(g) = &service.gateway {
        out.extend(g.auth.iter().filter_map(|a| a.policy.as_deref()));
        for route in &g.routes {
            out.extend(route.policy.as_deref());
            out.extend(route.rate_limit.as_ref().and_then(|l| l.policy.as_deref()));
            out.extend(route.aggregate.iter().filter_map(|b| b.policy.as_deref()));
        }
    }
    if let Some(saga) = &service.saga {
        out.extend(saga.steps.iter().filter_map(|s| s.policy.as_deref()));
    }
    if let Some(publish) = &service.publish {
        out.extend(publish.policy.as_deref());
    }
    out
}

/// The services a service calls (a gateway: its auth service, its routes'
/// backends and its rate limit services), in order, without repeats.
pub fn callees(service: &Service) -> Vec<&str> {
    let mut out = callees_but_limits(service);
    let limits = service
        .gateway
        .iter()
        .flat_map(|g| &g.routes)
        .filter_map(|r| r.rate_limit.as_ref()?.service.as_deref());
    for callee in limits {
        if !out.contains(&callee) {
            out.push(callee);
        }
    }
    out
}

/// The services a service calls but its gateway routes' rate limit
/// services, in order, without repeats.
fn callees_but_limits(service: &Service) -> Vec<&str> {
    let mut out: Vec<&str> = Vec::new();
    let auth = service
        .gateway
        .iter()
        .filter_map(|g| g.auth.as_ref()?.service.as_deref());
    let routes = service.gateway.iter().flat_map(|g| &g.routes);
    let backends = routes
        .clone()
        .flat_map(|r| &r.backends)
        .map(|b| b.service.as_str())
        .chain(
            routes
                .flat_map(|r| &r.aggregate)
                .map(|b| b.service.as_str()),
        );
    for callee in auth.chain(backends) {
        if !out.contains(&callee) {
            out.push(callee);
        }
    }
    for step in &service.calls {
        let names: Vec<&str> = match (&step.service, &step.parallel) {
            (Some(s), _) => vec![s.as_str()],
            (None, Some(group)) => group.iter().map(|c| c.service.as_str()).collect(),
            (None, None) => Vec::new(),
        };
        for name in names {
            if !out.contains(&name) {
                out.push(name);
            }
        }
    }
    for step in service.saga.iter().flat_map(|s| &s.steps) {
        if !out.contains(&step.service.as_str()) {
            out.push(step.service.as_str());
        }
    }
    out
}
