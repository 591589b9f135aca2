//! The meaning checks on a structurally valid scenario: references, ranges,
//! exclusive choices, call-graph cycles. Every problem is collected; nothing
//! stops at the first.
//!
//! The entry point, the shared helpers and the bounds are here; each part of a
//! scenario is checked in a file of its own: `services.rs` (and the call
//! graph), `autoscale.rs`, `network.rs`, `workload.rs`, `policies.rs`,
//! `faults.rs`, `requirements.rs` and `distributions.rs`.

mod autoscale;
mod distributions;
mod events;
mod faults;
mod gateway;
mod network;
mod policies;
mod requirements;
mod saga;
mod services;
mod workload;

pub use distributions::parse_percentile_key;
pub use events::{MAX_GROUPS_PER_TOPIC, MAX_RETENTION_MESSAGES, MAX_TOPIC_PARTITIONS};
pub use requirements::{
    MAX_REQUIREMENT_WINDOWS, MAX_REQUIREMENTS, RUN_QUANTILES, WINDOW_QUANTILES,
};
pub use services::{callees, policies_used};

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
/// The default bound on client requests in flight at once.
pub const DEFAULT_MAX_REQUESTS_IN_FLIGHT: u64 = 1_000_000;
/// Upper bound on `max_requests_in_flight` (about 4 GB of request state
/// at the most, counting each request's call and job records).
pub const MAX_REQUESTS_IN_FLIGHT: u64 = 100_000_000;
/// Upper bound on services: the network keeps state per pair of services.
pub const MAX_SERVICES: usize = 2_000;
/// Upper bound on a closed-loop population.
pub const MAX_USERS: u32 = 10_000_000;
/// Upper bound on the named clients of a workload (the world numbers them
/// in 16 bits; each has its own arrival process and route mix).
pub const MAX_CLIENTS: usize = 1024;
/// Upper bound on windows in a run (rows of the time series per entity).
pub const MAX_WINDOWS: u64 = 1_000_000;
/// Upper bound on the call steps of a service and on the calls of one
/// parallel group (the world counts them in 16 bits).
pub const MAX_CALLS: usize = 10_000;
/// Upper bound on the faults of a scenario (an instance counts the faults
/// acting on it at once in 16 bits).
pub const MAX_FAULTS: usize = 10_000;
/// Upper bound on the length of the scenario name, in bytes. The name is
/// the default report directory's, and the report is built beside it in
/// `.NAME.partial-PID` (see `report::output`), which must fit in a file
/// name's 255 bytes: 255 - 20.
pub const MAX_NAME_BYTES: usize = 235;
/// Upper bound on the keys of a stateful service (a balance each).
pub const MAX_STATE_KEYS: u32 = 1_000_000;
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
        if let Some(spec) = &service.autoscale {
            c.autoscale(name, service, spec);
        }
        if let Some(gateway) = &service.gateway {
            c.gateway(name, service, gateway);
        }
        if let Some(state) = &service.state {
            c.state(name, service, state);
        }
        if let Some(saga) = &service.saga {
            c.saga(name, service, saga);
        }
        if let Some(broker) = &service.broker {
            c.broker(name, service, broker);
        }
        if let Some(publish) = &service.publish {
            c.publish(name, service, publish);
        }
        if !service.consume.is_empty() {
            c.consume(name, service, &service.consume);
        }
    }
    c.limit_services_only_limit();
    c.stores_only_for_sagas();
    c.messaging_across_services();
    c.then_reads();
    c.choreographies();
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
    if scenario.faults.len() > MAX_FAULTS {
        c.problem(
            JsonPath::root().key("faults"),
            format!(
                "{} faults: a scenario has at most {MAX_FAULTS}",
                scenario.faults.len()
            ),
        );
    }
    for (i, fault) in scenario.faults.iter().enumerate() {
        c.fault(JsonPath::root().key("faults").index(i), fault);
    }
    c.requirements();
    if let Some(compare) = &scenario.compare {
        c.problems
            .extend(compare.problems(&JsonPath::root().key("compare")));
    }
    if let Some(explore) = &scenario.explore {
        c.problems
            .extend(explore.problems(&JsonPath::root().key("explore"), scenario));
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
        let instances = self.scenario.services[service].slots();
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
        if s.max_requests_in_flight
            .is_some_and(|n| n == 0 || n > MAX_REQUESTS_IN_FLIGHT)
        {
            self.problem(
                root.key("max_requests_in_flight"),
                format!("max_requests_in_flight must be between 1 and {MAX_REQUESTS_IN_FLIGHT}"),
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
