//! The meaning checks of stateful services (`state`) and saga orchestrators
//! (`saga`): what each may be, who may call a stateful service, and each
//! step's references. The plan's own rules (the order of step kinds, the
//! attempt bounds, the backoff) are the patterns' `SagaPlan::new`, checked
//! by the compile step at the same paths.

use std::collections::BTreeSet;

use super::gateway::call_sites;
use super::{Checker, JsonPath, MAX_STATE_KEYS, shown};
use crate::scenario::diagnostic::Segment;
use crate::scenario::model::{SagaSpec, Service, StateSpec};

impl Checker<'_> {
    pub(super) fn state(&mut self, name: &str, service: &Service, state: &StateSpec) {
        let path = JsonPath::root().key("services").key(name);
        if state.keys == 0 || state.keys > MAX_STATE_KEYS {
            self.problem(
                path.key("state").key("keys"),
                format!("keys must be between 1 and {MAX_STATE_KEYS}"),
            );
        }
        if state.initial < 0 || state.initial > i64::from(u32::MAX) {
            self.problem(
                path.key("state").key("initial"),
                format!(
                    "an opening balance must be between 0 and {}, got {}",
                    u32::MAX,
                    state.initial
                ),
            );
        }
        if state.retention.is_zero() {
            self.problem(
                path.key("state").key("retention"),
                "a retention must be longer than 0: the messages of a saga that has just ended are still arriving",
            );
        }
        let what =
            "a stateful service answers the sagas' actions and compensations from its own state";
        if !service.calls.is_empty() {
            self.problem(path.key("calls"), format!("{what}: it makes no calls"));
        }
        if service.gateway.is_some() {
            self.problem(
                path.key("gateway"),
                format!("{what}: it cannot be a gateway"),
            );
        }
        if service.saga.is_some() {
            self.problem(
                path.key("saga"),
                format!("{what}: it cannot also be an orchestrator (put the saga on a service of its own)"),
            );
        }
    }

    pub(super) fn saga(&mut self, name: &str, service: &Service, saga: &SagaSpec) {
        let path = JsonPath::root().key("services").key(name);
        let what = "an orchestrator's calls are its saga's steps";
        if !service.calls.is_empty() {
            self.problem(path.key("calls"), format!("{what}: it has no `calls`"));
        }
        if service.gateway.is_some() {
            self.problem(
                path.key("gateway"),
                format!("{what}: it cannot be a gateway"),
            );
        }
        let path = path.key("saga");
        if saga.steps.is_empty() || saga.steps.len() > 16 {
            self.problem(path.key("steps"), "a saga has 1 to 16 steps");
        }
        if saga.sagas_in_flight_max == 0 || saga.sagas_in_flight_max > 1 << 20 {
            self.problem(
                path.key("sagas_in_flight_max"),
                "sagas_in_flight_max must be between 1 and 1048576",
            );
        }
        let mut names = BTreeSet::new();
        for (i, step) in saga.steps.iter().enumerate() {
            let at = path.key("steps").index(i);
            if step.name.is_empty() {
                self.problem(at.key("name"), "a step's name must not be empty");
            } else if !names.insert(step.name.as_str()) {
                self.problem(
                    at.key("name"),
                    format!(
                        "a second step named `{}`: names are unique in a saga",
                        shown(&step.name)
                    ),
                );
            }
            if self.service_ref(at.key("service"), &step.service)
                && self.scenario.services[&step.service].state.is_none()
            {
                self.problem(
                    at.key("service"),
                    format!(
                        "`{}` has no `state`: a saga's step changes a stateful service's balance",
                        shown(&step.service)
                    ),
                );
            }
            if step.delta == 0 || step.delta.unsigned_abs() > u64::from(u32::MAX) {
                self.problem(
                    at.key("delta"),
                    format!(
                        "a step's delta is a change of a balance: not 0, and at most {} either way",
                        u32::MAX
                    ),
                );
            }
            self.probability(at.key("decline"), step.decline);
            self.policy_ref(&at, step.policy.as_deref(), step.timeout.is_some());
            let policy = step
                .policy
                .as_ref()
                .and_then(|p| self.scenario.policies.get(p));
            let timed = step.timeout.is_some()
                || policy.is_some_and(|p| p.timeout.is_some() || p.deadline.is_some());
            if !timed {
                self.problem(
                    at.key("timeout"),
                    "a saga step's calls need a timeout (the step's, or its policy's timeout or deadline): a lost reply would leave the saga waiting forever, which is why Temporal refuses an activity without one",
                );
            }
            if policy.is_some_and(|p| p.fallback.is_some()) {
                self.problem(
                    at.key("policy"),
                    format!(
                        "policy `{}` has a fallback: a fallback would answer a failed action as done, and the saga would never compensate it",
                        shown(step.policy.as_deref().unwrap_or_default())
                    ),
                );
            }
        }
    }

    /// Only saga steps call a stateful service: a plain call would change
    /// nothing the invariants can account for.
    pub(super) fn stores_only_for_sagas(&mut self) {
        let scenario = self.scenario;
        // A gateway's checks (its auth service, its routes' rate limit
        // services) need an answer, not a saga or a ledger.
        for (name, service) in &scenario.services {
            let Some(gateway) = &service.gateway else {
                continue;
            };
            let path = JsonPath::root().key("services").key(name).key("gateway");
            let mut checks: Vec<(JsonPath, &str)> = Vec::new();
            if let Some(auth) = gateway.auth.as_ref().and_then(|a| a.service.as_deref()) {
                checks.push((path.key("auth").key("service"), auth));
            }
            for (i, route) in gateway.routes.iter().enumerate() {
                if let Some(limit) = route.rate_limit.as_ref().and_then(|l| l.service.as_deref()) {
                    let at = path.key("routes").index(i).key("rate_limit").key("service");
                    checks.push((at, limit));
                }
            }
            for (at, callee) in checks {
                let Some(target) = scenario.services.get(callee) else {
                    continue;
                };
                let what = match (&target.state, &target.saga) {
                    (Some(_), _) => "a stateful service: only a saga's steps call it",
                    (None, Some(_)) => {
                        "a saga orchestrator: each request it serves starts a saga, it does not answer a gateway's check"
                    }
                    (None, None) => continue,
                };
                let auth =
                    at.0.iter()
                        .any(|s| matches!(s, Segment::Key(k) if k == "auth"));
                if auth && target.state.is_some() {
                    continue; // A call site: refused below like any other.
                }
                self.problem(at, format!("`{}` is {what}", shown(callee)));
            }
        }
        let stores: BTreeSet<&str> = scenario
            .services
            .iter()
            .filter(|(_, s)| s.state.is_some())
            .map(|(n, _)| n.as_str())
            .collect();
        if stores.is_empty() {
            return;
        }
        let refuse = |c: &mut Self, path: JsonPath, name: &str| {
            c.problem(
                path,
                format!(
                    "`{}` is a stateful service: only a saga's steps change its state, so only they can call it",
                    shown(name)
                ),
            );
        };
        for (i, route) in scenario.workload.routes.iter().enumerate() {
            if stores.contains(route.service.as_str()) {
                let path = JsonPath::root().key("workload").key("routes").index(i);
                refuse(self, path.key("service"), &route.service);
            }
        }
        for (name, service) in &scenario.services {
            let path = JsonPath::root().key("services").key(name);
            for (at, callee) in call_sites(&path, service) {
                let saga_step = matches!(at.0.get(2), Some(Segment::Key(k)) if k == "saga");
                if stores.contains(callee) && !saga_step {
                    refuse(self, at, callee);
                }
            }
        }
        for (name, policy) in &scenario.policies {
            if let Some(service) = policy.fallback.as_ref().and_then(|f| f.service.as_deref())
                && stores.contains(service)
            {
                let path = JsonPath::root().key("policies").key(name).key("fallback");
                refuse(self, path.key("service"), service);
            }
        }
    }
}
