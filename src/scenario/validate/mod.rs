//! The meaning checks on a structurally valid scenario: references, ranges,
//! exclusive choices, call-graph cycles. Every problem is collected; nothing
//! stops at the first.

use std::collections::{BTreeMap, BTreeSet};

use super::diagnostic::{JsonPath, did_you_mean};
use super::model::*;
use crate::kernel::SimDuration;

/// Upper bounds that keep a scenario from exhausting memory by accident.
pub const MAX_INSTANCES: u32 = 100_000;
/// Upper bound on the pattern state of one policy on one edge, in bytes.
pub const MAX_POLICY_BYTES: u64 = 256 << 20;
/// Upper bound on attempts per call, the first included.
pub const MAX_ATTEMPTS: u32 = 10;
/// Upper bound on hedged attempts per call.
pub const MAX_HEDGES: u32 = 4;
/// Upper bound on services: the network keeps state per pair of services.
pub const MAX_SERVICES: usize = 2_000;
/// Upper bound on a closed-loop population.
pub const MAX_USERS: u32 = 10_000_000;
/// Upper bound on windows in a run (rows of the time series per entity).
pub const MAX_WINDOWS: u64 = 1_000_000;
/// Upper bound on the call steps of a service and on the calls of one
/// parallel group (the world counts them in 16 bits).
pub const MAX_CALLS: usize = 10_000;
/// Upper bound on the length of the scenario name, in bytes. The name is
/// the default report directory's, and the report is built beside it in
/// `.NAME.partial-PID` (see `report::output`), which must fit in a file
/// name's 255 bytes: 255 - 20.
pub const MAX_NAME_BYTES: usize = 235;
/// Upper bound on network links (the world numbers link latencies in 16 bits).
pub const MAX_LINKS: usize = 10_000;

type Problems = Vec<(JsonPath, String)>;

struct Checker<'a> {
    scenario: &'a Scenario,
    problems: Problems,
}

/// Every problem with the meaning of `scenario`, with its path.
pub fn validate(scenario: &Scenario) -> Problems {
    let mut c = Checker {
        scenario,
        problems: Vec::new(),
    };
    c.top_level();
    for (name, service) in &scenario.services {
        c.service(name, service);
    }
    c.cycles();
    c.network();
    c.workload();
    for (name, policy) in &scenario.policies {
        let path = JsonPath::root().key("policies").key(name);
        if let Some(why) = bad_name(name) {
            c.problem(path.clone(), format!("a policy name {why}"));
        }
        c.policy(path, policy);
    }
    for (i, fault) in scenario.faults.iter().enumerate() {
        c.fault(JsonPath::root().key("faults").index(i), fault);
    }
    c.problems
}

/// The highest arrival rate: above it the gap between two arrivals is below
/// 1 ns, rounds to zero, and virtual time stands still.
pub const MAX_RATE_PER_SEC: f64 = 1e9;
/// The smallest mean think time of closed-loop users: with less, users send
/// without pause and, with fast services, virtual time hardly moves.
pub const MIN_THINK_TIME_NANOS: u64 = 1_000;

/// Whether `c` may not appear in a name: a control character (it could
/// drive a terminal when printed) or a Unicode noncharacter (U+FDD0..U+FDEF
/// and the last two code points of every plane).
fn forbidden(c: char) -> bool {
    let code = u32::from(c);
    c.is_control() || (0xFDD0..=0xFDEF).contains(&code) || code & 0xFFFE == 0xFFFE
}

/// Why `name` cannot be a name (completing "a service name ..."), if it
/// cannot.
fn bad_name(name: &str) -> Option<String> {
    if name.is_empty() {
        return Some("must not be empty".to_string());
    }
    let (at, c) = name.chars().enumerate().find(|&(_, c)| forbidden(c))?;
    Some(format!(
        "must be free of control characters and Unicode noncharacters: U+{:04X} at character {}",
        u32::from(c),
        at + 1
    ))
}

/// `name` as it may be printed back: control characters, noncharacters and
/// other unprintable characters escaped as Rust does (`\u{1b}`), so that
/// ESC or BEL never reach a terminal.
pub fn shown(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for c in name.chars() {
        let plain =
            !forbidden(c) && (matches!(c, '\'' | '"' | '\\') || c.escape_debug().len() == 1);
        if plain {
            out.push(c);
        } else {
            out.extend(c.escape_debug());
        }
    }
    out
}

/// A number as a message prints it: short, with an exponent when very large
/// or very small (`-1e-300`, not 300 digits).
fn num(x: impl std::borrow::Borrow<f64>) -> String {
    let x = *x.borrow();
    let size = x.abs();
    if x.is_finite() && size != 0.0 && !(1e-4..1e15).contains(&size) {
        format!("{x:e}")
    } else {
        format!("{x}")
    }
}

/// The mean of a distribution in nanoseconds, or a lower bound of it where
/// the exact mean is not at hand; `None` if the parameters are missing.
fn mean_nanos(d: &Distribution) -> Option<f64> {
    let ns = |d: SimDuration| d.as_nanos() as f64;
    Some(match d {
        Distribution::Constant(d) => ns(*d),
        Distribution::Uniform { min, max } => (ns(*min) + ns(*max)) / 2.0,
        Distribution::Exponential { mean } => ns(*mean),
        // Truncated at zero: a zero mean still has a positive one, about
        // 0.8 standard deviations (sqrt(2/pi)).
        Distribution::Normal { mean, std_dev } => ns(*mean).max(0.79 * ns(*std_dev)),
        // The median is below the mean of a log-normal.
        Distribution::Lognormal(p) => ns(p.mean.or(p.median)?),
        // The scale is the minimum of a Pareto.
        Distribution::Pareto { scale, .. } => ns(*scale),
        Distribution::Empirical(p) => {
            let values: Vec<f64> = match (&p.samples, &p.percentiles) {
                (Some(samples), _) => samples.iter().map(|&d| ns(d)).collect(),
                (None, Some(percentiles)) => percentiles.values().map(|&d| ns(d)).collect(),
                (None, None) => return None,
            };
            if values.is_empty() {
                return None;
            }
            values.iter().sum::<f64>() / values.len() as f64
        }
    })
}

fn probability_ok(p: f64) -> bool {
    p.is_finite() && (0.0..=1.0).contains(&p)
}

impl Checker<'_> {
    fn problem(&mut self, path: JsonPath, message: impl Into<String>) {
        self.problems.push((path, message.into()));
    }

    fn probability(&mut self, path: JsonPath, p: f64) {
        if !probability_ok(p) {
            // A percent where a fraction is expected is the usual mistake.
            let hint = if p > 1.0 && p <= 100.0 {
                format!("; for {}% write {}", num(p), num(p / 100.0))
            } else {
                String::new()
            };
            self.problem(
                path,
                format!(
                    "a probability must be between 0 and 1, got {}{hint}",
                    num(p)
                ),
            );
        }
    }

    /// An instance of a service that exists (checked by the caller).
    fn instance_ref(&mut self, path: JsonPath, service: &str, instance: Option<u32>) {
        let Some(instance) = instance else {
            return;
        };
        let instances = self.scenario.services[service].instances;
        if instance >= instances {
            self.problem(
                path,
                format!(
                    "`{}` has {instances} instance(s), numbered from 0; there is no instance {instance}",
                    shown(service)
                ),
            );
        }
    }

    fn positive_duration(&mut self, path: JsonPath, d: SimDuration) {
        if d.is_zero() {
            self.problem(path, "must be longer than zero");
        }
    }

    fn rate(&mut self, path: JsonPath, rate: f64) {
        if !(rate.is_finite() && rate > 0.0) {
            self.problem(
                path,
                format!(
                    "a rate must be a positive number per second, got {}",
                    num(rate)
                ),
            );
        } else {
            self.rate_not_too_high(path, rate);
        }
    }

    /// Refuses a rate whose gap between arrivals rounds to 0 ns.
    fn rate_not_too_high(&mut self, path: JsonPath, rate: f64) {
        if rate > MAX_RATE_PER_SEC {
            self.problem(
                path,
                format!(
                    "a rate of {} per second puts arrivals {} ns apart, which rounds to 0 ns: virtual time would stand still; at most {} per second",
                    num(rate),
                    num(1e9 / rate),
                    num(MAX_RATE_PER_SEC)
                ),
            );
        }
    }

    /// Checks that `name` is a service; suggests the closest one if not.
    fn service_ref(&mut self, path: JsonPath, name: &str) -> bool {
        if self.scenario.services.contains_key(name) {
            return true;
        }
        let hint = did_you_mean(name, self.scenario.services.keys().map(String::as_str))
            .map(|s| format!("; did you mean `{}`?", shown(s)))
            .unwrap_or_default();
        let known: Vec<String> = self.scenario.services.keys().map(|k| shown(k)).collect();
        self.problem(
            path,
            format!(
                "unknown service `{}`{hint} (services: {})",
                shown(name),
                known.join(", ")
            ),
        );
        false
    }

    fn top_level(&mut self) {
        let s = self.scenario;
        let root = JsonPath::root();
        if s.name.is_empty()
            || s.name.starts_with('.')
            || !s
                .name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        {
            self.problem(
                root.key("name"),
                "the name becomes a directory name: use letters, digits, '-', '_' and '.', not starting with '.'",
            );
        } else if s.name.len() > MAX_NAME_BYTES {
            self.problem(
                root.key("name"),
                format!(
                    "the name is {} bytes long: it names the report directory, and with what meshsim adds to build the report beside it, a file name holds at most {MAX_NAME_BYTES}",
                    s.name.len()
                ),
            );
        }
        self.positive_duration(root.key("duration"), s.duration);
        self.positive_duration(root.key("window"), s.window);
        if !s.window.is_zero() && !s.duration.is_zero() {
            if s.window > s.duration {
                self.problem(
                    root.key("window"),
                    "the window is longer than the whole run",
                );
            } else if s.duration.as_nanos() / s.window.as_nanos() > MAX_WINDOWS {
                self.problem(
                    root.key("window"),
                    format!("more than {MAX_WINDOWS} windows in the run: widen the window"),
                );
            }
        }
        if s.event_budget == Some(0) {
            self.problem(
                root.key("event_budget"),
                "the event budget must be at least 1",
            );
        }
        if s.services.len() > MAX_SERVICES {
            self.problem(
                root.key("services"),
                format!(
                    "{} services: at most {MAX_SERVICES} are supported",
                    s.services.len()
                ),
            );
        }
        if s.services.is_empty() {
            self.problem(
                root.key("services"),
                "a scenario needs at least one service",
            );
        }
        for name in s.services.keys() {
            if let Some(why) = bad_name(name) {
                self.problem(
                    root.key("services").key(name),
                    format!("a service name {why}"),
                );
            }
        }
    }

    fn service(&mut self, name: &str, service: &Service) {
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
        self.probability(path.key("error_rate"), service.error_rate);
        let slowdowns = &service.instance_slowdown;
        if !slowdowns.is_empty() && slowdowns.len() != service.instances as usize {
            self.problem(
                path.key("instance_slowdown"),
                format!(
                    "one factor per instance: {} given for {} instance(s)",
                    slowdowns.len(),
                    service.instances
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
            if let Some(name) = &step.policy {
                self.policy_memory(&step_path, service.instances, name);
            }
            for (k, call) in step.parallel.iter().flatten().enumerate() {
                if let Some(name) = &call.policy {
                    self.policy_memory(
                        &step_path.key("parallel").index(k),
                        service.instances,
                        name,
                    );
                }
            }
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
    fn cycles(&mut self) {
        let graph: BTreeMap<&str, Vec<&str>> = self
            .scenario
            .services
            .iter()
            .map(|(name, s)| (name.as_str(), callees(s)))
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

    fn network(&mut self) {
        let network = &self.scenario.network;
        let path = JsonPath::root().key("network");
        self.distribution(path.key("latency"), &network.latency);
        self.probability(path.key("loss"), network.loss);
        if network.links.len() > MAX_LINKS {
            self.problem(
                path.key("links"),
                format!(
                    "{} links: a network has at most {MAX_LINKS}",
                    network.links.len()
                ),
            );
        }
        let mut seen = BTreeSet::new();
        for (i, link) in network.links.iter().enumerate() {
            let link_path = path.key("links").index(i);
            let from_ok = self.service_ref(link_path.key("from"), &link.from);
            let to_ok = self.service_ref(link_path.key("to"), &link.to);
            if from_ok && to_ok && link.from == link.to {
                self.problem(link_path.key("to"), "a link joins two different services");
            }
            let pair = if link.from <= link.to {
                (link.from.clone(), link.to.clone())
            } else {
                (link.to.clone(), link.from.clone())
            };
            if !seen.insert(pair) {
                self.problem(
                    link_path.clone(),
                    format!(
                        "a second link between `{}` and `{}` (links apply in both directions)",
                        shown(&link.from),
                        shown(&link.to)
                    ),
                );
            }
            if let Some(latency) = &link.latency {
                self.distribution(link_path.key("latency"), latency);
            }
            if let Some(loss) = link.loss {
                self.probability(link_path.key("loss"), loss);
            }
        }
    }

    fn workload(&mut self) {
        let w = &self.scenario.workload;
        let path = JsonPath::root().key("workload");
        match (&w.arrivals, &w.users) {
            (Some(arrivals), None) => match arrivals {
                Arrivals::Poisson { rate } => {
                    self.rate(path.key("arrivals").key("poisson").key("rate"), *rate)
                }
                Arrivals::Constant { rate } => {
                    self.rate(path.key("arrivals").key("constant").key("rate"), *rate)
                }
            },
            (None, Some(users)) => {
                if users.count == 0 || users.count > MAX_USERS {
                    self.problem(
                        path.key("users").key("count"),
                        format!("users.count must be between 1 and {MAX_USERS}"),
                    );
                }
                self.distribution(path.key("users").key("think_time"), &users.think_time);
                if let Some(mean) = mean_nanos(&users.think_time)
                    && mean < MIN_THINK_TIME_NANOS as f64
                {
                    self.problem(
                        path.key("users").key("think_time"),
                        format!(
                            "the think time's mean is {} ns: users that do not pause make virtual time stand still; at least {MIN_THINK_TIME_NANOS} ns (1us)",
                            num(mean)
                        ),
                    );
                }
                if !w.schedule.is_empty() {
                    self.problem(
                        path.key("schedule"),
                        "a rate schedule applies to open-loop `arrivals`, not to closed-loop `users`",
                    );
                }
            }
            (Some(_), Some(_)) => self.problem(
                path.clone(),
                "choose one workload: open-loop `arrivals` or closed-loop `users`, not both",
            ),
            (None, None) => self.problem(
                path.clone(),
                "the workload needs `arrivals` (open loop) or `users` (closed loop)",
            ),
        }
        let mut previous_end = SimDuration::ZERO;
        for (i, change) in w.schedule.iter().enumerate() {
            let change_path = path.key("schedule").index(i);
            if change.at < previous_end {
                self.problem(
                    change_path.key("at"),
                    format!(
                        "starts at {} before the previous change has ended (at {previous_end}): list changes in time order",
                        change.at
                    ),
                );
            }
            if change.at >= self.scenario.duration {
                self.problem(change_path.key("at"), "starts after the run has ended");
            }
            let non_negative = |r: f64| r.is_finite() && r >= 0.0;
            match (change.rate, change.ramp_to) {
                (Some(rate), None) => {
                    if !non_negative(rate) {
                        self.problem(
                            change_path.key("rate"),
                            format!("a rate must be zero or more per second, got {}", num(rate)),
                        );
                    } else {
                        self.rate_not_too_high(change_path.key("rate"), rate);
                    }
                    if change.over.is_some() {
                        self.problem(
                            change_path.key("over"),
                            "`over` belongs to a ramp (`ramp_to`); a step uses `for` or nothing",
                        );
                    }
                    if let Some(lasts) = change.lasts {
                        self.positive_duration(change_path.key("for"), lasts);
                    }
                    previous_end = change
                        .at
                        .saturating_add(change.lasts.unwrap_or(SimDuration::ZERO));
                }
                (None, Some(rate)) => {
                    if !non_negative(rate) {
                        self.problem(
                            change_path.key("ramp_to"),
                            format!("a rate must be zero or more per second, got {}", num(rate)),
                        );
                    } else {
                        self.rate_not_too_high(change_path.key("ramp_to"), rate);
                    }
                    match change.over {
                        Some(over) => self.positive_duration(change_path.key("over"), over),
                        None => self.problem(
                            change_path.clone(),
                            "a ramp (`ramp_to`) needs `over`, the time it takes",
                        ),
                    }
                    if change.lasts.is_some() {
                        self.problem(
                            change_path.key("for"),
                            "`for` belongs to a step (`rate`); a ramp uses `over`",
                        );
                    }
                    previous_end = change
                        .at
                        .saturating_add(change.over.unwrap_or(SimDuration::ZERO));
                }
                (Some(_), Some(_)) => self.problem(
                    change_path,
                    "a change is a step (`rate`) or a ramp (`ramp_to`), not both",
                ),
                (None, None) => self.problem(
                    change_path,
                    "a change needs `rate` (a step or spike) or `ramp_to` with `over` (a ramp)",
                ),
            }
        }
        if w.routes.is_empty() {
            self.problem(path.key("routes"), "the workload needs at least one route");
        }
        let total_weight: f64 = w.routes.iter().map(|r| r.weight).sum();
        if !total_weight.is_finite() {
            self.problem(
                path.key("routes"),
                "the route weights add up to more than a float can hold: use smaller weights",
            );
        }
        let mut names = BTreeSet::new();
        for (i, route) in w.routes.iter().enumerate() {
            let route_path = path.key("routes").index(i);
            self.service_ref(route_path.key("service"), &route.service);
            if !(route.weight.is_finite() && route.weight > 0.0) {
                self.problem(
                    route_path.key("weight"),
                    format!(
                        "a weight must be a positive number, got {}",
                        num(route.weight)
                    ),
                );
            }
            let name = route.name.clone().unwrap_or_else(|| route.service.clone());
            if let Some(why) = bad_name(&name) {
                self.problem(route_path.key("name"), format!("a route name {why}"));
            }
            if !names.insert(name.clone()) {
                self.problem(
                    route_path.clone(),
                    format!("a second route named `{}`: give each route entering the same service its own `name`", shown(&name)),
                );
            }
            if let Some(t) = route.timeout {
                self.positive_duration(route_path.key("timeout"), t);
            }
            self.policy_ref(&route_path, route.policy.as_deref(), false);
        }
        if let Some(t) = w.timeout {
            self.positive_duration(path.key("timeout"), t);
        }
        self.policy_ref(&path, w.policy.as_deref(), false);
    }

    /// The memory a policy's state takes per scope unit, roughly: breaker
    /// windows and bulkhead wait queues are allocated up front.
    fn policy_bytes_per_unit(policy: &Policy) -> u64 {
        let breaker = policy
            .breaker
            .as_ref()
            .map_or(0, |b| u64::from(b.window_size) * 16);
        let bulkhead = policy
            .bulkhead
            .as_ref()
            .map_or(0, |b| u64::from(b.max_waiting.unwrap_or(0)) * 32);
        breaker + bulkhead
    }

    /// A policy on a call from a service with many instances is instantiated
    /// once per instance: bound the total so a scenario cannot exhaust memory.
    fn policy_memory(&mut self, path: &JsonPath, caller_instances: u32, name: &str) {
        let Some(policy) = self.scenario.policies.get(name) else {
            return;
        };
        let units = match policy.scope {
            PolicyScope::Service => 1,
            PolicyScope::Instance => u64::from(caller_instances),
        };
        let bytes = units * Self::policy_bytes_per_unit(policy);
        if bytes > MAX_POLICY_BYTES {
            self.problem(
                path.key("policy"),
                format!(
                    "policy `{name}` would keep {} MiB of state across {units} calling instances (at most {} MiB): use a smaller breaker window or bulkhead queue, or `\"scope\": \"service\"`",
                    bytes >> 20,
                    MAX_POLICY_BYTES >> 20
                ),
            );
        }
    }

    /// Checks a `policy` reference at `path.policy`; a call with its own
    /// `timeout` may not also take one from a policy.
    fn policy_ref(&mut self, path: &JsonPath, name: Option<&str>, has_timeout: bool) {
        let Some(name) = name else {
            return;
        };
        match self.scenario.policies.get(name) {
            Some(policy) => {
                if has_timeout && policy.timeout.is_some() {
                    self.problem(
                        path.key("timeout"),
                        format!(
                            "both this call and its policy `{}` set a timeout: keep one",
                            shown(name)
                        ),
                    );
                }
            }
            None => {
                let hint = did_you_mean(name, self.scenario.policies.keys().map(String::as_str))
                    .map(|s| format!("; did you mean `{}`?", shown(s)))
                    .unwrap_or_default();
                let known: Vec<String> = self.scenario.policies.keys().map(|k| shown(k)).collect();
                let known = if known.is_empty() {
                    "none are defined".to_string()
                } else {
                    known.join(", ")
                };
                self.problem(
                    path.key("policy"),
                    format!("unknown policy `{}`{hint} (policies: {known})", shown(name)),
                );
            }
        }
    }

    fn percent(&mut self, path: JsonPath, value: f64, zero_ok: bool) {
        let ok = value.is_finite() && value <= 100.0 && (value > 0.0 || (zero_ok && value == 0.0));
        if !ok {
            let range = if zero_ok { "[0, 100]" } else { "(0, 100]" };
            self.problem(
                path,
                format!("a percentage must be in {range}, got {}", num(value)),
            );
        }
    }

    fn policy(&mut self, path: JsonPath, policy: &Policy) {
        if let Some(t) = policy.timeout {
            self.positive_duration(path.key("timeout"), t);
        }
        if let Some(d) = policy.deadline {
            self.positive_duration(path.key("deadline"), d);
        }
        if let Some(retry) = &policy.retry {
            let p = path.key("retry");
            if !(1..=MAX_ATTEMPTS).contains(&retry.max_attempts) {
                self.problem(p.key("max_attempts"), format!("max_attempts must be between 1 and {MAX_ATTEMPTS} (the first attempt included)"));
            }
            match &retry.backoff {
                BackoffSpec::Constant(_) => {}
                BackoffSpec::Linear { initial, cap, .. } => {
                    if cap < initial {
                        self.problem(
                            p.key("backoff").key("linear").key("cap"),
                            format!("the cap ({cap}) is below the initial delay ({initial})"),
                        );
                    }
                }
                BackoffSpec::Exponential {
                    base,
                    multiplier,
                    cap,
                } => {
                    let e = p.key("backoff").key("exponential");
                    self.positive_duration(e.key("base"), *base);
                    if !(multiplier.is_finite() && *multiplier >= 1.0 && *multiplier <= 100.0) {
                        self.problem(
                            e.key("multiplier"),
                            format!(
                                "the multiplier must be in [1, 100], got {}",
                                num(multiplier)
                            ),
                        );
                    }
                    if cap < base {
                        self.problem(
                            e.key("cap"),
                            format!("the cap ({cap}) is below the base delay ({base})"),
                        );
                    }
                }
            }
            // Decorrelated jitter draws each sleep from [base, 3 × the last
            // one]: with a zero first delay every sleep would be zero.
            let first_delay = match &retry.backoff {
                BackoffSpec::Constant(delay) => *delay,
                BackoffSpec::Linear { initial, .. } => *initial,
                BackoffSpec::Exponential { base, .. } => *base,
            };
            if retry.jitter == JitterKind::Decorrelated && first_delay.is_zero() {
                self.problem(
                    p.key("jitter"),
                    "decorrelated jitter needs a backoff whose first delay is above zero (each sleep is drawn between it and 3 times the last sleep, so every sleep would be 0)",
                );
            }
        }
        if let Some(budget) = &policy.budget {
            let p = path.key("budget");
            match budget {
                BudgetSpec::Tps {
                    retry_percent, ttl, ..
                } => {
                    let t = p.key("tps");
                    if !(retry_percent.is_finite()
                        && *retry_percent >= 0.0
                        && *retry_percent <= 1000.0)
                    {
                        self.problem(t.key("retry_percent"), format!("retry_percent must be in [0, 1000] (20 = one retry per 5 requests), got {}", num(retry_percent)));
                    }
                    if ttl.as_nanos() < 1_000_000_000 || ttl.as_nanos() > 60_000_000_000 {
                        self.problem(
                            t.key("ttl"),
                            format!("ttl must be between 1s and 60s (as Finagle), got {}", ttl),
                        );
                    }
                }
                BudgetSpec::TokenBucket {
                    max_tokens,
                    token_ratio,
                } => {
                    let t = p.key("token_bucket");
                    // gRPC A6's bounds.
                    if !(1..=1000).contains(max_tokens) {
                        self.problem(
                            t.key("max_tokens"),
                            "max_tokens must be between 1 and 1000 (gRPC A6)",
                        );
                    }
                    if !(token_ratio.is_finite() && (0.001..=1000.0).contains(token_ratio)) {
                        self.problem(
                            t.key("token_ratio"),
                            format!(
                                "token_ratio must be between 0.001 and 1000 (gRPC A6), got {}",
                                num(token_ratio)
                            ),
                        );
                    }
                }
                BudgetSpec::Adaptive { k, window } => {
                    let t = p.key("adaptive");
                    if !(k.is_finite() && *k >= 1.0) {
                        self.problem(
                            t.key("k"),
                            format!("k must be a number ≥ 1, got {}", num(k)),
                        );
                    }
                    if window.as_nanos() < 1_000_000_000 {
                        self.problem(
                            t.key("window"),
                            format!("the window must be at least 1s, got {}", window),
                        );
                    }
                }
            }
        }
        if let Some(b) = &policy.breaker {
            let p = path.key("breaker");
            let time = b.window == WindowKind::Time;
            let max_window = if time {
                crate::patterns::breaker::MAX_WINDOW_SECONDS
            } else {
                100_000
            };
            if b.window_size == 0 || b.window_size > max_window {
                self.problem(
                    p.key("window_size"),
                    format!(
                        "window_size must be between 1 and {max_window} ({} for a {} window)",
                        if time { "seconds" } else { "calls" },
                        if time { "time" } else { "count" },
                    ),
                );
            }
            self.percent(p.key("failure_rate_percent"), b.failure_rate_percent, false);
            self.percent(
                p.key("slow_call_rate_percent"),
                b.slow_call_rate_percent,
                false,
            );
            self.positive_duration(p.key("slow_call_duration"), b.slow_call_duration);
            if b.minimum_calls == 0 {
                self.problem(p.key("minimum_calls"), "minimum_calls must be at least 1");
            }
            self.positive_duration(p.key("wait_in_open"), b.wait_in_open);
            if !(b.wait_multiplier.is_finite()
                && b.wait_multiplier >= 1.0
                && b.wait_multiplier <= 100.0)
            {
                self.problem(
                    p.key("wait_multiplier"),
                    format!(
                        "wait_multiplier must be in [1, 100], got {}",
                        num(b.wait_multiplier)
                    ),
                );
            }
            if let Some(max) = b.max_wait_in_open
                && max < b.wait_in_open
            {
                self.problem(
                    p.key("max_wait_in_open"),
                    format!(
                        "max_wait_in_open ({max}) is below wait_in_open ({})",
                        b.wait_in_open
                    ),
                );
            }
            if b.half_open_calls == 0 || b.half_open_calls > 100_000 {
                self.problem(
                    p.key("half_open_calls"),
                    "half_open_calls must be between 1 and 100000",
                );
            }
        }
        if let Some(b) = &policy.bulkhead {
            let p = path.key("bulkhead");
            // `Bulkhead::new` checks this too, but the compile step builds a
            // bulkhead only when nothing here is wrong with it, and a wrong
            // wait would then hide this problem until the next run.
            if b.max_concurrent == 0 {
                self.problem(p.key("max_concurrent"), "max_concurrent must be at least 1");
            }
            match (b.max_wait, b.max_waiting) {
                (Some(wait), Some(n)) => {
                    self.positive_duration(p.key("max_wait"), wait);
                    if n == 0 || n > crate::patterns::bulkhead::MAX_WAITING {
                        self.problem(
                            p.key("max_waiting"),
                            "max_waiting must be between 1 and 1000000 (or leave out max_wait)",
                        );
                    }
                }
                (None, None) => {}
                _ => self.problem(p, "a bounded wait needs both `max_wait` and `max_waiting`"),
            }
        }
        if let Some(r) = &policy.rate_limit {
            let p = path.key("rate_limit");
            self.rate(p.key("rate"), r.rate);
        }
        if let Some(h) = &policy.hedge {
            let p = path.key("hedge");
            match (h.delay, h.percentile) {
                (Some(d), None) => self.positive_duration(p.key("delay"), d),
                (None, Some(q)) => {
                    if !(q.is_finite() && q > 0.0 && q < 100.0) {
                        self.problem(
                            p.key("percentile"),
                            format!("the percentile must be in (0, 100), got {}", num(q)),
                        );
                    }
                }
                (Some(_), Some(_)) => {
                    self.problem(p.clone(), "a hedge takes `delay` or `percentile`, not both")
                }
                (None, None) => {
                    self.problem(p.clone(), "a hedge needs either `delay` or `percentile`")
                }
            }
            if h.max_hedges == 0 || h.max_hedges > MAX_HEDGES {
                self.problem(
                    p.key("max_hedges"),
                    format!("max_hedges must be between 1 and {MAX_HEDGES}"),
                );
            }
        }
    }

    fn link_ref(&mut self, path: JsonPath, link: &LinkRef) {
        let a = self.service_ref(path.key("from"), &link.from);
        let b = self.service_ref(path.key("to"), &link.to);
        if a && b && link.from == link.to {
            self.problem(path.key("to"), "a link joins two different services");
        }
    }

    fn fault(&mut self, path: JsonPath, fault: &Fault) {
        if fault.at >= self.scenario.duration {
            self.problem(
                path.key("at"),
                format!(
                    "starts at {} but the run ends at {}",
                    fault.at, self.scenario.duration
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
        if let Some(loss) = &fault.loss {
            let p = path.key("loss");
            if let Some(link) = &loss.link {
                self.link_ref(p.key("link"), link);
            }
            self.probability(p.key("rate"), loss.rate);
        }
    }

    fn distribution(&mut self, path: JsonPath, d: &Distribution) {
        match d {
            Distribution::Constant(_) => {}
            Distribution::Uniform { min, max } => {
                if min > max {
                    self.problem(
                        path.key("uniform"),
                        format!("min ({min}) is larger than max ({max})"),
                    );
                }
            }
            Distribution::Exponential { mean } => {
                self.positive_duration(path.key("exponential").key("mean"), *mean)
            }
            Distribution::Normal { .. } => {}
            Distribution::Lognormal(params) => {
                let p = path.key("lognormal");
                match (params.median, params.p99, params.mean, params.sigma) {
                    (Some(median), Some(p99), None, None) => {
                        self.positive_duration(p.key("median"), median);
                        if p99 <= median {
                            self.problem(
                                p.key("p99"),
                                format!("p99 ({p99}) must be larger than the median ({median})"),
                            );
                        }
                    }
                    (None, None, Some(mean), Some(sigma)) => {
                        self.positive_duration(p.key("mean"), mean);
                        if !(sigma.is_finite() && sigma > 0.0 && sigma <= 10.0) {
                            self.problem(
                                p.key("sigma"),
                                format!("sigma must be a number in (0, 10], got {}", num(sigma)),
                            );
                        }
                    }
                    _ => self.problem(p, "give either `median` and `p99`, or `mean` and `sigma`"),
                }
            }
            Distribution::Pareto { scale, shape } => {
                let p = path.key("pareto");
                self.positive_duration(p.key("scale"), *scale);
                if !(shape.is_finite() && *shape > 0.0) {
                    self.problem(
                        p.key("shape"),
                        format!("the shape must be a positive number, got {}", num(shape)),
                    );
                }
            }
            Distribution::Empirical(params) => {
                let p = path.key("empirical");
                match (&params.samples, &params.percentiles) {
                    (Some(samples), None) => {
                        if samples.is_empty() {
                            self.problem(p.key("samples"), "give at least one sample");
                        }
                    }
                    (None, Some(percentiles)) => {
                        self.percentiles(p.key("percentiles"), percentiles)
                    }
                    _ => self.problem(p, "give either `samples` or `percentiles`"),
                }
            }
        }
    }

    fn percentiles(&mut self, path: JsonPath, percentiles: &BTreeMap<String, SimDuration>) {
        let mut points = Vec::new();
        for (key, value) in percentiles {
            match parse_percentile_key(key) {
                Some(q) => points.push((q, *value, key)),
                None => self.problem(
                    path.key(key),
                    format!("`{key}` is not a percentile: use p0, p50, p99.9, p100 and so on"),
                ),
            }
        }
        points.sort_by(|a, b| a.0.total_cmp(&b.0));
        if !points.iter().any(|p| p.0 == 0.0) || !points.iter().any(|p| p.0 == 100.0) {
            self.problem(
                path.clone(),
                "the percentiles must include p0 (the minimum) and p100 (the maximum)",
            );
        }
        for pair in points.windows(2) {
            if pair[1].1 < pair[0].1 {
                self.problem(
                    path.key(pair[1].2),
                    format!(
                        "{} ({}) is smaller than {} ({}): percentiles never decrease",
                        pair[1].2, pair[1].1, pair[0].2, pair[0].1
                    ),
                );
            }
        }
    }
}

/// `"p99.9"` → 99.9; `None` unless it is `p` and a number in [0, 100].
pub fn parse_percentile_key(key: &str) -> Option<f64> {
    let q: f64 = key.strip_prefix('p')?.parse().ok()?;
    (q.is_finite() && (0.0..=100.0).contains(&q)).then_some(q)
}

/// The services a service calls, in order, without repeats.
pub fn callees(service: &Service) -> Vec<&str> {
    let mut out: Vec<&str> = Vec::new();
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
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn problems(services: &str, network: &str) -> Vec<String> {
        let text = format!(
            r#"{{"name": "t", "duration": "1s", "services": {{{services}}}, "network": {network},
                "workload": {{"arrivals": {{"poisson": {{"rate": 1}}}}, "routes": [{{"service": "a"}}]}}}}"#
        );
        let scenario: Scenario = serde_json::from_str(&text).expect("structurally valid");
        validate(&scenario)
            .into_iter()
            .map(|(path, message)| format!("{path}: {message}"))
            .collect()
    }

    #[test]
    fn call_and_link_counts_stay_within_what_the_world_can_count() {
        let step = r#"{"service": "b", "probability": 0}"#;
        let steps = vec![step; MAX_CALLS + 1].join(",");
        let group = vec![r#"{"service": "b"}"#; MAX_CALLS + 1].join(",");
        let services = format!(
            r#""a": {{"service_time": {{"constant": "1ms"}}, "calls": [{steps}]}},
               "b": {{"service_time": {{"constant": "1ms"}}, "calls": [{{"parallel": [{group}]}}]}},
               "c": {{"service_time": {{"constant": "1ms"}}}}"#
        );
        let links = vec![r#"{"from": "b", "to": "c"}"#; MAX_LINKS + 1].join(",");
        let found = problems(&services, &format!(r#"{{"links": [{links}]}}"#));
        assert!(
            found
                .iter()
                .any(|p| p.starts_with("services.a.calls: 10001 call steps")),
            "{found:?}"
        );
        assert!(
            found
                .iter()
                .any(|p| p.starts_with("services.b.calls[0].parallel: 10001 calls")),
            "{found:?}"
        );
        assert!(
            found
                .iter()
                .any(|p| p.starts_with("network.links: 10001 links")),
            "{found:?}"
        );
        let ok = problems(
            &format!(
                r#""a": {{"service_time": {{"constant": "1ms"}}, "calls": [{}]}}, "b": {{"service_time": {{"constant": "1ms"}}}}"#,
                vec![step; MAX_CALLS].join(",")
            ),
            "{}",
        );
        assert!(ok.is_empty(), "{ok:?}");
    }
}
