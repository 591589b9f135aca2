//! The checks on gateways: a gateway makes no `calls`; its routes have
//! unique names, a prefix the route table accepts, known backends (each
//! once) with at least one positive weight, a known policy, and `allow`
//! only with `auth`; a client's token agrees with its credential class; a
//! `split` fault re-weights a route some gateway has.

use std::collections::BTreeSet;

use super::{Checker, bad_name, shown};
use crate::scenario::compile::{MAX_GATEWAY_BACKENDS, MAX_GATEWAY_ROUTES, MAX_PATH_BYTES};
use crate::scenario::diagnostic::{JsonPath, did_you_mean};
use crate::scenario::model::*;

impl Checker<'_> {
    pub(super) fn gateway(&mut self, name: &str, service: &Service, gateway: &GatewaySpec) {
        let path = JsonPath::root().key("services").key(name).key("gateway");
        if !service.calls.is_empty() {
            self.problem(
                JsonPath::root().key("services").key(name).key("calls"),
                "a gateway makes no `calls`: its routes' `backends` are where it forwards",
            );
        }
        if gateway.routes.is_empty() || gateway.routes.len() > MAX_GATEWAY_ROUTES {
            self.problem(
                path.key("routes"),
                format!("a gateway has 1 to {MAX_GATEWAY_ROUTES} routes"),
            );
        }
        if let Some(auth) = &gateway.auth {
            self.auth(name, &path.key("auth"), auth);
        }
        let mut names = BTreeSet::new();
        for (i, route) in gateway.routes.iter().enumerate() {
            let p = path.key("routes").index(i);
            if let Some(why) = bad_name(&route.name) {
                self.problem(p.key("name"), format!("a route name {why}"));
            } else if !names.insert(route.name.as_str()) {
                self.problem(
                    p.key("name"),
                    format!(
                        "a second route named `{}`: route names are unique in a gateway",
                        shown(&route.name)
                    ),
                );
            }
            if let Some(why) = prefix_problem(&route.prefix) {
                self.problem(p.key("prefix"), why);
            }
            if let Some(earlier) = gateway.routes[..i].iter().find(|e| {
                e.prefix == route.prefix && (e.method.is_none() || e.method == route.method)
            }) {
                self.problem(
                    p.clone(),
                    format!(
                        "route `{}` can never be taken: the earlier route `{}` has the same prefix and takes {}",
                        shown(&route.name),
                        shown(&earlier.name),
                        match earlier.method {
                            Some(m) => format!("every {} request", m.as_str()),
                            None => "every method".to_string(),
                        }
                    ),
                );
            }
            self.backends(&p, route);
            if let Some(limit) = &route.rate_limit {
                self.route_limit(name, &p.key("rate_limit"), limit);
            }
            self.policy_ref(&p, route.policy.as_deref(), route.timeout.is_some());
            if let Some(timeout) = route.timeout {
                self.positive_duration(p.key("timeout"), timeout);
            }
            if let Some(allow) = &route.allow {
                if gateway.auth.is_none() {
                    self.problem(
                        p.key("allow"),
                        "`allow` lists credential classes, which only a gateway with `auth` checks",
                    );
                }
                if allow.is_empty() {
                    self.problem(
                        p.key("allow"),
                        "`allow` lists at least one credential class (without it, every class is admitted)",
                    );
                }
                for (k, class) in allow.iter().enumerate() {
                    if let Some(why) = bad_name(class) {
                        self.problem(p.key("allow").index(k), format!("a credential class {why}"));
                    }
                }
            }
        }
    }

    /// A route's rate limit: a rate and a burst; a rate limit `service`
    /// that is neither this gateway nor another one and makes no calls
    /// (its answers come from its buckets); the fields about that service
    /// only with it.
    fn route_limit(&mut self, gateway: &str, path: &JsonPath, limit: &GatewayRateLimit) {
        self.rate(path.key("rate"), limit.rate);
        if limit.burst == 0 {
            self.problem(path.key("burst"), "burst must be at least 1");
        }
        match &limit.service {
            Some(service) => {
                if self.service_ref(path.key("service"), service) {
                    let callee = &self.scenario.services[service];
                    if service == gateway {
                        self.problem(
                            path.key("service"),
                            "a gateway cannot be its own rate limit service",
                        );
                    } else if callee.gateway.is_some() {
                        self.problem(
                            path.key("service"),
                            format!(
                                "`{}` is a gateway: a rate limit service answers from its buckets, it does not route",
                                shown(service)
                            ),
                        );
                    } else if !callee.calls.is_empty() {
                        self.problem(
                            path.key("service"),
                            format!(
                                "`{}` makes `calls`: a rate limit service answers from its buckets once its own work is done, and calls nothing",
                                shown(service)
                            ),
                        );
                    }
                }
                self.policy_ref(path, limit.policy.as_deref(), limit.timeout.is_some());
                if let Some(name) = &limit.policy
                    && let Some(policy) = self.scenario.policies.get(name)
                {
                    if policy.hedge.is_some() {
                        self.problem(
                            path.key("policy"),
                            format!(
                                "policy `{}` hedges: each copy of a check would spend a token of the bucket, cutting the limit (Envoy does not hedge its rate limit calls); give the checks a policy without `hedge`",
                                shown(name)
                            ),
                        );
                    }
                    if policy.fallback.is_some() {
                        self.problem(
                            path.key("policy"),
                            format!(
                                "policy `{}` has a `fallback`: a failed check would be answered by it instead of by `failure_mode_deny`; give the checks a policy without `fallback`",
                                shown(name)
                            ),
                        );
                    }
                }
                if let Some(timeout) = limit.timeout {
                    self.positive_duration(path.key("timeout"), timeout);
                }
            }
            None => {
                for (field, set) in [
                    ("timeout", limit.timeout.is_some()),
                    ("policy", limit.policy.is_some()),
                    ("failure_mode_deny", limit.failure_mode_deny),
                    ("status_on_error", limit.status_on_error.is_some()),
                ] {
                    if set {
                        self.problem(
                            path.key(field),
                            format!(
                                "`{field}` is about the rate limit service, and this limit is local to each gateway instance: name the rate limit `service`, or leave `{field}` out"
                            ),
                        );
                    }
                }
            }
        }
        if let Some(code) = limit.status_on_error {
            if code != 500 && code != 503 {
                self.problem(
                    path.key("status_on_error"),
                    format!("status_on_error is 500 or 503, got {code}"),
                );
            } else if !limit.failure_mode_deny && limit.service.is_some() {
                self.problem(
                    path.key("status_on_error"),
                    "`status_on_error` is the answer when `failure_mode_deny` refuses: set `\"failure_mode_deny\": true`, or leave it out",
                );
            }
        }
    }

    /// A rate limit service answers only the gateways' checks: it is no
    /// route's target, no service's callee, no gateway's backend, branch or
    /// auth service, and no fallback (its answer to any other request would
    /// be a verdict about a bucket the request has none in).
    pub(super) fn limit_services_only_limit(&mut self) {
        let scenario = self.scenario;
        let limiters: BTreeSet<&str> = scenario
            .services
            .values()
            .filter_map(|s| s.gateway.as_ref())
            .flat_map(|g| &g.routes)
            .filter_map(|r| r.rate_limit.as_ref()?.service.as_deref())
            .collect();
        if limiters.is_empty() {
            return;
        }
        let refuse = |c: &mut Self, path: JsonPath, name: &str| {
            c.problem(
                path,
                format!(
                    "`{}` is a rate limit service (a gateway route's `rate_limit.service`): it answers only the gateways' rate limit checks, so nothing else can call it",
                    shown(name)
                ),
            );
        };
        for (i, route) in scenario.workload.routes.iter().enumerate() {
            if limiters.contains(route.service.as_str()) {
                let path = JsonPath::root().key("workload").key("routes").index(i);
                refuse(self, path.key("service"), &route.service);
            }
        }
        for (name, service) in &scenario.services {
            let path = JsonPath::root().key("services").key(name);
            for (at, callee) in call_sites(&path, service) {
                if limiters.contains(callee) {
                    refuse(self, at, callee);
                }
            }
        }
        for (name, policy) in &scenario.policies {
            if let Some(service) = policy.fallback.as_ref().and_then(|f| f.service.as_deref())
                && limiters.contains(service)
            {
                let path = JsonPath::root().key("policies").key(name).key("fallback");
                refuse(self, path.key("service"), service);
            }
        }
    }

    fn auth(&mut self, gateway: &str, path: &JsonPath, auth: &GatewayAuth) {
        match &auth.service {
            Some(service) => {
                if self.service_ref(path.key("service"), service) {
                    if service == gateway {
                        self.problem(
                            path.key("service"),
                            "a gateway cannot be its own auth service",
                        );
                    } else if self.scenario.services[service].gateway.is_some() {
                        self.problem(
                            path.key("service"),
                            format!(
                                "`{}` is a gateway: an auth service answers, it does not route",
                                shown(service)
                            ),
                        );
                    }
                }
                self.policy_ref(path, auth.policy.as_deref(), auth.timeout.is_some());
            }
            None => {
                let remote_only = [
                    ("timeout", auth.timeout.is_some()),
                    ("policy", auth.policy.is_some()),
                    ("cache_ttl", auth.cache_ttl.is_some()),
                    ("cache_capacity", auth.cache_capacity.is_some()),
                    ("fail_open", auth.fail_open),
                    ("max_stale", auth.max_stale.is_some()),
                    ("status_on_error", auth.status_on_error.is_some()),
                ];
                for (field, set) in remote_only {
                    if set {
                        self.problem(
                            path.key(field),
                            format!(
                                "`{field}` is about the auth service, and this check is local: name the auth `service`, or leave `{field}` out"
                            ),
                        );
                    }
                }
            }
        }
        for (field, d) in [("timeout", auth.timeout), ("cache_ttl", auth.cache_ttl)] {
            if let Some(d) = d {
                self.positive_duration(path.key(field), d);
            }
        }
        if let Some(capacity) = auth.cache_capacity
            && !(1..=1_048_576).contains(&capacity)
        {
            self.problem(
                path.key("cache_capacity"),
                "cache_capacity must be between 1 and 1048576",
            );
        }
        if auth.max_stale.is_some() && !auth.fail_open && auth.service.is_some() {
            self.problem(
                path.key("max_stale"),
                "`max_stale` bounds what `fail_open` forwards: set `\"fail_open\": true`, or leave it out",
            );
        }
        if let Some(code) = auth.status_on_error
            && code != 403
            && code != 503
        {
            self.problem(
                path.key("status_on_error"),
                format!("status_on_error is 403 or 503, got {code}"),
            );
        }
    }

    fn backends(&mut self, route_path: &JsonPath, route: &GatewayRoute) {
        match (route.backends.is_empty(), route.aggregate.is_empty()) {
            (false, false) => {
                return self.problem(
                    route_path.clone(),
                    "a route either forwards to `backends` or fans out to an `aggregate`, not both",
                );
            }
            (true, false) => return self.aggregate(route_path, route),
            (true, true) => {
                return self.problem(
                    route_path.clone(),
                    "a route needs `backends` (where it forwards) or `aggregate` (the branches it fans out to)",
                );
            }
            (false, true) => {}
        }
        let p = route_path.key("backends");
        if route.backends.is_empty() || route.backends.len() > MAX_GATEWAY_BACKENDS {
            self.problem(
                p.clone(),
                format!("a route has 1 to {MAX_GATEWAY_BACKENDS} backends"),
            );
        }
        let mut seen = BTreeSet::new();
        for (k, backend) in route.backends.iter().enumerate() {
            let b = p.index(k);
            if self.service_ref(b.key("service"), &backend.service)
                && !seen.insert(backend.service.as_str())
            {
                self.problem(
                    b.key("service"),
                    format!(
                        "`{}` is already a backend of this route: give it one weight",
                        shown(&backend.service)
                    ),
                );
            }
        }
        if !route.backends.is_empty() && route.backends.iter().all(|b| b.weight == 0) {
            self.problem(p, "at least one backend needs a positive `weight`");
        }
    }

    fn aggregate(&mut self, route_path: &JsonPath, route: &GatewayRoute) {
        let p = route_path.key("aggregate");
        if route.aggregate.len() > MAX_GATEWAY_BACKENDS {
            self.problem(
                p.clone(),
                format!("an aggregation has 1 to {MAX_GATEWAY_BACKENDS} branches"),
            );
        }
        for (field, set) in [
            ("timeout", route.timeout.is_some()),
            ("policy", route.policy.is_some()),
            ("sticky", route.sticky),
        ] {
            if set {
                self.problem(
                    route_path.key(field),
                    format!(
                        "an aggregation route has no `{field}` of its own: each branch of `aggregate` has its `timeout` and `policy`"
                    ),
                );
            }
        }
        let mut seen = BTreeSet::new();
        for (k, branch) in route.aggregate.iter().enumerate() {
            let b = p.index(k);
            if self.service_ref(b.key("service"), &branch.service)
                && !seen.insert(branch.service.as_str())
            {
                self.problem(
                    b.key("service"),
                    format!(
                        "`{}` is already a branch of this aggregation: a service answers once",
                        shown(&branch.service)
                    ),
                );
            }
            self.policy_ref(&b, branch.policy.as_deref(), branch.timeout.is_some());
            if let Some(timeout) = branch.timeout {
                self.positive_duration(b.key("timeout"), timeout);
            }
        }
    }

    /// A client's `token` and its credential class agree: a genuine token
    /// (valid or expired) belongs to a class.
    pub(super) fn token(&mut self, client_path: &JsonPath, client: &Client) {
        let class = client
            .credential
            .as_deref()
            .unwrap_or(crate::scenario::compile::NO_CREDENTIAL);
        let default = if class == crate::scenario::compile::NO_CREDENTIAL {
            TokenKind::Missing
        } else {
            TokenKind::Valid
        };
        if client.token_expires_at.is_some() && client.token.unwrap_or(default) != TokenKind::Valid
        {
            self.problem(
                client_path.key("token_expires_at"),
                "`token_expires_at` is when a valid token expires: only for a client whose token is `valid`",
            );
        }
        let Some(token) = client.token else {
            return;
        };
        if matches!(token, TokenKind::Valid | TokenKind::Expired)
            && class == crate::scenario::compile::NO_CREDENTIAL
        {
            self.problem(
                client_path.key("token"),
                format!(
                    "a{} {} token belongs to a credential class: set `credential` (e.g. \"user\")",
                    if token == TokenKind::Expired { "n" } else { "" },
                    token.as_str()
                ),
            );
        }
    }

    /// A `split` fault: a gateway's route, and weights for its backends.
    pub(super) fn split_fault(&mut self, path: JsonPath, split: &SplitFault) {
        if !self.service_ref(path.key("service"), &split.service) {
            return;
        }
        let Some(gateway) = self.scenario.services[&split.service].gateway.as_ref() else {
            self.problem(
                path.key("service"),
                format!(
                    "`{}` is not a gateway: it has no routes to split",
                    shown(&split.service)
                ),
            );
            return;
        };
        let Some(route) = gateway.routes.iter().find(|r| r.name == split.route) else {
            let hint = did_you_mean(&split.route, gateway.routes.iter().map(|r| r.name.as_str()))
                .map(|s| format!("; did you mean `{}`?", shown(s)))
                .unwrap_or_default();
            let known: Vec<String> = gateway.routes.iter().map(|r| shown(&r.name)).collect();
            self.problem(
                path.key("route"),
                format!(
                    "`{}` has no route `{}`{hint} (routes: {})",
                    shown(&split.service),
                    shown(&split.route),
                    known.join(", ")
                ),
            );
            return;
        };
        if route.backends.is_empty() {
            return self.problem(
                path.key("route"),
                format!(
                    "route `{}` is an aggregation: it has no split to re-weight",
                    shown(&split.route)
                ),
            );
        }
        for name in split.weights.keys() {
            if !route.backends.iter().any(|b| b.service == *name) {
                let known: Vec<String> = route.backends.iter().map(|b| shown(&b.service)).collect();
                self.problem(
                    path.key("weights").key(name),
                    format!(
                        "`{}` is not a backend of route `{}` (backends: {})",
                        shown(name),
                        shown(&split.route),
                        known.join(", ")
                    ),
                );
            }
        }
        if split.weights.values().all(|w| *w == 0) {
            self.problem(
                path.key("weights"),
                "at least one backend needs a positive weight",
            );
        }
    }
}

/// Every place `service` names a service it calls but its routes' rate
/// limit services: its `calls` (single or parallel), for a gateway its
/// auth service, backends and branches, and for an orchestrator its saga's
/// steps, each with its path.
pub(super) fn call_sites<'a>(path: &JsonPath, service: &'a Service) -> Vec<(JsonPath, &'a str)> {
    let mut out = Vec::new();
    for (i, step) in service.calls.iter().enumerate() {
        let p = path.key("calls").index(i);
        if let Some(callee) = &step.service {
            out.push((p.key("service"), callee.as_str()));
        }
        for (k, call) in step.parallel.iter().flatten().enumerate() {
            out.push((
                p.key("parallel").index(k).key("service"),
                call.service.as_str(),
            ));
        }
    }
    if let Some(g) = &service.gateway {
        let p = path.key("gateway");
        if let Some(auth) = g.auth.as_ref().and_then(|a| a.service.as_deref()) {
            out.push((p.key("auth").key("service"), auth));
        }
        for (i, route) in g.routes.iter().enumerate() {
            let r = p.key("routes").index(i);
            for (k, b) in route.backends.iter().enumerate() {
                out.push((
                    r.key("backends").index(k).key("service"),
                    b.service.as_str(),
                ));
            }
            for (k, b) in route.aggregate.iter().enumerate() {
                out.push((
                    r.key("aggregate").index(k).key("service"),
                    b.service.as_str(),
                ));
            }
        }
    }
    if let Some(saga) = &service.saga {
        for (i, step) in saga.steps.iter().enumerate() {
            out.push((
                path.key("saga").key("steps").index(i).key("service"),
                step.service.as_str(),
            ));
        }
    }
    out
}

/// Why `prefix` is not a route prefix, if it is not (the patterns' route
/// table's rules, in the file's words).
fn prefix_problem(prefix: &str) -> Option<String> {
    let ok = prefix.starts_with('/')
        && prefix.len() <= MAX_PATH_BYTES
        && (prefix == "/" || !prefix.ends_with('/'))
        && !prefix.contains("//")
        && !prefix.contains(['?', '#'])
        && !prefix.chars().any(|c| c.is_control() || c.is_whitespace());
    (!ok).then(|| {
        format!(
            "a prefix starts with `/`, does not end with one (unless it is \"/\"), has no empty segment, `?`, `#`, spaces or control characters, and at most {MAX_PATH_BYTES} bytes, e.g. \"/v1/orders\""
        )
    })
}
