//! Waits that nothing bounds, in a scenario that can lose a reply (a crash
//! drops its work silently, a partition or a loss is never answered): a
//! route the client never gives up on, and a call whose caller holds a
//! worker until a reply that may never come.
//!
//! A call's wait is bounded by its own `timeout`, its policy's `timeout` or
//! `deadline`, or a deadline it inherits: one that every path into its
//! caller carries (a route's or a call's policy `deadline` travels with the
//! request). A route's `timeout` is the client giving up and is not
//! propagated (docs/architecture.md), so it frees no worker below it: a
//! partition of 5 s then leaves every worker that waited across it held for
//! the rest of the run.

use super::Lints;
use super::flow::{callers_first, steps};
use crate::scenario::diagnostic::JsonPath;
use crate::scenario::model::Scenario;

impl Lints<'_> {
    /// Whether a policy bounds the time a call may take.
    fn bounded(&self, policy: Option<&str>) -> bool {
        self.policy(policy)
            .is_some_and(|p| p.timeout().is_some() || p.deadline().is_some())
    }

    fn has_deadline(&self, policy: Option<&str>) -> bool {
        self.policy(policy).is_some_and(|p| p.deadline().is_some())
    }

    /// Whether every request reaching each service (by index) carries a
    /// deadline: it has callers, and each route or call into it has a
    /// policy deadline or comes from a service whose requests all do.
    fn inherits_deadline(&self) -> Vec<bool> {
        let scenario = self.scenario;
        let names: Vec<&str> = scenario.services.keys().map(String::as_str).collect();
        let index = |name: &str| names.binary_search(&name).ok();
        let mut reached = vec![false; names.len()];
        let mut bounded = vec![true; names.len()];
        let workload = &scenario.workload;
        for route in &workload.routes {
            if let Some(t) = index(&route.service) {
                reached[t] = true;
                let policy = route.policy.as_deref().or(workload.policy.as_deref());
                bounded[t] &= self.has_deadline(policy);
            }
        }
        let services: Vec<_> = scenario.services.values().collect();
        for s in callers_first(scenario) {
            for group in steps(services[s]) {
                for (target, _, _, policy) in group {
                    if let Some(t) = index(target) {
                        let from_caller = reached[s] && bounded[s];
                        reached[t] = true;
                        bounded[t] &= from_caller || self.has_deadline(policy);
                    }
                }
            }
        }
        reached
            .iter()
            .zip(&bounded)
            .map(|(r, b)| *r && *b)
            .collect()
    }

    pub(super) fn unbounded_waits(&mut self) {
        let scenario = self.scenario;
        let Some(cause) = loses_replies(scenario) else {
            return;
        };
        let workload = &scenario.workload;
        for (i, route) in workload.routes.iter().enumerate() {
            let policy = route.policy.as_deref().or(workload.policy.as_deref());
            if route.timeout.or(workload.timeout).is_none() && !self.bounded(policy) {
                let name = route.name.as_deref().unwrap_or(&route.service);
                self.warn(
                    JsonPath::root().key("workload").key("routes").index(i),
                    format!(
                        "route `{name}` has no timeout, and {cause}: a request to `{}` that is never answered stays in flight until the end of the run",
                        route.service
                    ),
                    "add \"timeout\": \"1s\" to the route (or to the workload)",
                );
            }
        }
        let inherited = self.inherits_deadline();
        for (s, (name, service)) in scenario.services.iter().enumerate() {
            if inherited[s] {
                continue;
            }
            let workers = u64::from(service.instances) * u64::from(service.concurrency);
            let client_gives_up = workload
                .routes
                .iter()
                .any(|r| &r.service == name && r.timeout.or(workload.timeout).is_some());
            let path = JsonPath::root().key("services").key(name).key("calls");
            for (i, (step, group)) in service.calls.iter().zip(steps(service)).enumerate() {
                let single = step.service.is_some();
                for (k, (target, _, timeout, policy)) in group.into_iter().enumerate() {
                    if timeout.is_some() || self.bounded(policy) {
                        continue;
                    }
                    let call_path = if single {
                        path.index(i)
                    } else {
                        path.index(i).key("parallel").index(k)
                    };
                    let route_note = if client_gives_up {
                        format!(
                            " (the route's timeout makes the client give up, but is not propagated and frees no worker of `{name}`)"
                        )
                    } else {
                        String::new()
                    };
                    let held = if workers == 1 {
                        format!(
                            "holds the only worker of `{name}` for the rest of the run, after the fault is over, and `{name}` then answers nothing"
                        )
                    } else {
                        format!(
                            "holds one of the {workers} workers of `{name}` for the rest of the run, after the fault is over, and once all {workers} are held `{name}` answers nothing"
                        )
                    };
                    self.warn(
                        call_path,
                        format!(
                            "the call from `{name}` to `{target}` has no timeout and nothing above it bounds the wait (no deadline on its policy, none inherited on every path into `{name}`), and {cause}: each reply that never comes {held}{route_note}"
                        ),
                        "add \"timeout\": \"1s\" to the call (or a policy with a \"timeout\" or \"deadline\")",
                    );
                }
            }
        }
    }
}

/// Why a reply may never come, if it may: the first crash, partition or
/// message loss in the scenario, in words.
pub(super) fn loses_replies(scenario: &Scenario) -> Option<String> {
    if scenario.network.loss > 0.0 {
        return Some(format!(
            "network.loss is {}: a lost message is never answered",
            scenario.network.loss
        ));
    }
    if let Some(i) = scenario
        .network
        .links
        .iter()
        .position(|l| l.loss.is_some_and(|p| p > 0.0))
    {
        return Some(format!(
            "network.links[{i}] loses messages: a lost message is never answered"
        ));
    }
    scenario.faults.iter().enumerate().find_map(|(i, f)| {
        if let Some(c) = &f.crash {
            Some(format!(
                "faults[{i}] crashes `{}`, which drops its work without a reply",
                c.service
            ))
        } else if f.partition.is_some() {
            Some(format!(
                "faults[{i}] partitions the network: a message across it is never answered"
            ))
        } else if f.loss.as_ref().is_some_and(|l| l.rate > 0.0) {
            Some(format!(
                "faults[{i}] loses messages: a lost message is never answered"
            ))
        } else {
            None
        }
    })
}
