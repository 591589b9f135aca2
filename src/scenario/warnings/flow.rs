//! The expected flow of work along the call graph, at a given open-loop
//! rate: how many requests per second reach each service, how many calls
//! and attempts per second cross each edge, and how long a request holds a
//! worker of its service. The load warnings (`load.rs`) and the breaker
//! warnings (`breakers.rs`) read it.
//!
//! A service's arrival rate is the sum over the routes of the route's rate
//! times its *visits*: the calls per request along every path, each call
//! weighted by its probability, by the share of its caller's requests that
//! get past the caller's own `error_rate` (a service's error comes before
//! its calls), and by its expected attempts. Retries are bounded by what the
//! base error rates make of them: with a callee failing a share `f` of its
//! attempts and `retry_on` including `error`, a call makes
//! 1 + f + … + f^(n−1) attempts. A percentile hedge adds at most
//! (1 − q/100) × `max_hedges`; a fixed-delay hedge is left out (its share
//! depends on latencies no formula here knows). Timeouts, rejections and the
//! retries they cause are left out too, so every figure is the flow of a
//! healthy system at that rate, which a failing one only exceeds.
//!
//! The holding time of a request is its mean service time plus, for each
//! call step, the expected attempts times the callee's own holding time and
//! the network's round trip (a parallel group: its longest call), capped at
//! a per-attempt timeout. Queueing is left out, so it is an estimate from
//! below of what the workers really spend.

use super::super::compile::{ClientTarget, CompiledGateway};
use super::super::model::{Distribution, GatewaySpec, LimitScope, Policy, RetryOutcome, Scenario};
use super::super::validate::parse_percentile_key;
use crate::kernel::SimDuration;

/// One edge of the graph: a route into its service or a call of a service.
#[derive(Clone, Debug)]
pub(super) struct EdgeFlow {
    /// The calling service's index, or `None` for a route (the clients).
    pub caller: Option<usize>,
    /// The edge's policy, by name.
    pub policy: Option<String>,
    /// Calls per second.
    pub calls: f64,
    /// Expected attempts per call.
    pub attempts: f64,
}

/// The flow of a scenario at one open-loop rate (see the module doc).
pub(super) struct Flow {
    /// Requests per second reaching each service, by index (name order).
    pub arrivals: Vec<f64>,
    /// Mean time a request holds a worker, seconds, by service index (`None`
    /// where a service time has no finite mean).
    pub holding: Vec<Option<f64>>,
    /// Every edge: the routes in file order, then each service's calls in
    /// name order and step order.
    pub edges: Vec<EdgeFlow>,
}

/// The mean of a distribution in seconds, where it is simple to compute
/// (`None` for an infinite mean). A normal's truncation at zero is ignored
/// (it only raises the mean), so the result never overstates the load.
pub(super) fn mean_secs(d: &Distribution) -> Option<f64> {
    let s = |d: SimDuration| d.as_secs_f64();
    match d {
        Distribution::Constant(d) => Some(s(*d)),
        Distribution::Uniform { min, max } => Some((s(*min) + s(*max)) / 2.0),
        Distribution::Exponential { mean } | Distribution::Normal { mean, .. } => Some(s(*mean)),
        Distribution::Lognormal(p) => match (p.median, p.p99, p.mean) {
            (_, _, Some(mean)) => Some(s(mean)),
            (Some(median), Some(p99), None) => {
                // z(0.99) = 2.326: sigma from the ratio of p99 to the median.
                let sigma = libm::log(s(p99) / s(median)) / 2.326_347_874;
                Some(s(median) * libm::exp(sigma * sigma / 2.0))
            }
            _ => None,
        },
        Distribution::Pareto { scale, shape } => {
            (*shape > 1.0).then(|| s(*scale) * shape / (shape - 1.0))
        }
        Distribution::Empirical(p) => {
            if let Some(samples) = &p.samples {
                let n = samples.len().max(1) as f64;
                return Some(samples.iter().map(|d| s(*d)).sum::<f64>() / n);
            }
            let mut points: Vec<(f64, f64)> = p
                .percentiles
                .as_ref()?
                .iter()
                .filter_map(|(k, v)| Some((parse_percentile_key(k)?, s(*v))))
                .collect();
            points.sort_by(|a, b| a.0.total_cmp(&b.0));
            Some(
                points
                    .windows(2)
                    .map(|w| (w[1].0 - w[0].0) / 100.0 * (w[0].1 + w[1].1) / 2.0)
                    .sum(),
            )
        }
    }
}

/// Expected attempts per call of `policy` on a callee whose attempts fail
/// with probability `fail` (see the module doc).
pub(super) fn expected_attempts(policy: Option<&Policy>, fail: f64) -> f64 {
    let Some(policy) = policy else {
        return 1.0;
    };
    let mut attempts = 1.0;
    if let Some(retry) = &policy.retry
        && retry.retry_on.contains(&RetryOutcome::Error)
        && retry.max_attempts > 1
    {
        let n = f64::from(retry.max_attempts);
        attempts = if fail >= 1.0 {
            n
        } else {
            (1.0 - libm::pow(fail, n)) / (1.0 - fail)
        };
    }
    if let Some(hedge) = &policy.hedge
        && let Some(q) = hedge.percentile
    {
        attempts += (1.0 - q / 100.0).max(0.0) * f64::from(hedge.max_hedges);
    }
    attempts
}

/// One call of a step: (callee, probability, own timeout, policy).
type CallOf<'a> = (&'a str, f64, Option<SimDuration>, Option<&'a str>);

/// The calls of each step of a service, a single call as a group of one.
pub(super) fn steps(service: &super::super::model::Service) -> Vec<Vec<CallOf<'_>>> {
    service
        .calls
        .iter()
        .map(|step| match (&step.service, &step.parallel) {
            (Some(target), _) => vec![(
                target.as_str(),
                step.probability.unwrap_or(1.0),
                step.timeout,
                step.policy.as_deref(),
            )],
            (None, Some(group)) => group
                .iter()
                .map(|c| {
                    (
                        c.service.as_str(),
                        c.probability,
                        c.timeout,
                        c.policy.as_deref(),
                    )
                })
                .collect(),
            (None, None) => Vec::new(),
        })
        .collect()
}

/// The services in an order where every caller comes before its callees
/// (the graph is acyclic: validated), by Kahn's algorithm.
pub(super) fn callers_first(scenario: &Scenario) -> Vec<usize> {
    let names: Vec<&str> = scenario.services.keys().map(String::as_str).collect();
    let index = |name: &str| names.binary_search(&name).ok();
    let callees: Vec<Vec<usize>> = scenario
        .services
        .values()
        .map(|s| {
            let mut out: Vec<usize> = super::super::validate::callees(s)
                .into_iter()
                .filter_map(index)
                .collect();
            out.dedup();
            out
        })
        .collect();
    let mut callers = vec![0usize; names.len()];
    for out in &callees {
        for &t in out {
            callers[t] += 1;
        }
    }
    let mut ready: Vec<usize> = (0..names.len())
        .rev()
        .filter(|&i| callers[i] == 0)
        .collect();
    let mut order = Vec::with_capacity(names.len());
    while let Some(s) = ready.pop() {
        order.push(s);
        for &t in &callees[s] {
            callers[t] -= 1;
            if callers[t] == 0 {
                ready.push(t);
            }
        }
    }
    order
}

impl Flow {
    /// The flow when each open-loop client sends at `rate(client)` requests
    /// per second (`None`: a closed-loop client, left out).
    pub(super) fn new(
        scenario: &Scenario,
        clients: &[ClientTarget],
        gateways: &[Option<CompiledGateway>],
        rate: impl Fn(&ClientTarget) -> Option<f64>,
    ) -> Flow {
        let names: Vec<&str> = scenario.services.keys().map(String::as_str).collect();
        let index = |name: &str| names.binary_search(&name).ok();
        let services: Vec<_> = scenario.services.values().collect();
        let policy = |name: Option<&str>| name.and_then(|n| scenario.policies.get(n));
        let mut arrivals = vec![0.0_f64; names.len()];
        let mut edges = Vec::new();
        let workload = &scenario.workload;
        // Requests a route sends a gateway, per (gateway, route, client).
        let mut at_gateways: Vec<(usize, usize, usize, f64)> = Vec::new();
        for (r, route) in workload.routes.iter().enumerate() {
            let Some(callee) = index(&route.service) else {
                continue;
            };
            let name = route.policy.as_deref().or(workload.policy.as_deref());
            let attempts = expected_attempts(policy(name), services[callee].error_rate);
            let mut calls = 0.0;
            for (c, client) in clients.iter().enumerate() {
                let Some(rate) = rate(client) else {
                    continue;
                };
                let total: f64 = client.weights.iter().sum();
                if total > 0.0 {
                    let sent = rate * client.weights.get(r).copied().unwrap_or(0.0) / total;
                    calls += sent;
                    if gateways.get(callee).is_some_and(Option::is_some) {
                        at_gateways.push((callee, r, c, sent * attempts));
                    }
                }
            }
            arrivals[callee] += calls * attempts;
            edges.push(EdgeFlow {
                caller: None,
                policy: name.map(str::to_string),
                calls,
                attempts,
            });
        }
        let order = callers_first(scenario);
        // Edges of each service, found in name order, filled in call order.
        let mut by_service: Vec<Vec<EdgeFlow>> = vec![Vec::new(); names.len()];
        // Per gateway, the requests each of its routes forwards a second.
        let mut forwarded: Vec<Vec<f64>> = vec![Vec::new(); names.len()];
        // Per gateway, the requests each of its routes takes a second (a
        // global rate limit checks each of them).
        let mut taken: Vec<Vec<f64>> = vec![Vec::new(); names.len()];
        for &s in &order {
            let service = services[s];
            // Its calls a second, by callee and policy: a gateway's
            // forwards by route and backend, else its steps' calls.
            let calls: Vec<(&str, f64, Option<&str>)> =
                if let (Some(spec), Some(Some(compiled))) = (&service.gateway, gateways.get(s)) {
                    let routed = gateway_forwards(spec, compiled, service, s, &at_gateways);
                    forwarded[s] = routed.iter().map(|(_, sent)| *sent).collect();
                    taken[s] = routed.iter().map(|(checked, _)| *checked).collect();
                    spec.routes
                        .iter()
                        .zip(routed)
                        .flat_map(|(route, (checked, sent))| {
                            // A global limit checks every request the route
                            // takes, and forwards what it admits.
                            let check = route.rate_limit.as_ref().and_then(|l| {
                                Some((l.service.as_deref()?, checked, l.policy.as_deref()))
                            });
                            backends_of(route)
                                .into_iter()
                                .map(move |(target, share, name)| (target, sent * share, name))
                                .chain(check)
                        })
                        .collect()
                } else {
                    let reach = arrivals[s] * (1.0 - service.error_rate);
                    steps(service)
                        .into_iter()
                        .flatten()
                        .map(|(target, p, _, name)| (target, reach * p, name))
                        .collect()
                };
            for (target, calls, name) in calls {
                let Some(callee) = index(target) else {
                    continue;
                };
                let attempts = expected_attempts(policy(name), services[callee].error_rate);
                arrivals[callee] += calls * attempts;
                by_service[s].push(EdgeFlow {
                    caller: Some(s),
                    policy: name.map(str::to_string),
                    calls,
                    attempts,
                });
            }
        }
        edges.extend(by_service.into_iter().flatten());
        let round_trip = |a: &str, b: &str| {
            let link = scenario
                .network
                .links
                .iter()
                .find(|l| (l.from == a && l.to == b) || (l.from == b && l.to == a))
                .and_then(|l| l.latency.as_ref());
            2.0 * mean_secs(link.unwrap_or(&scenario.network.latency)).unwrap_or(0.0)
        };
        let mut holding: Vec<Option<f64>> = vec![None; names.len()];
        for &s in order.iter().rev() {
            let service = services[s];
            let Some(own) = mean_secs(&service.service_time) else {
                continue;
            };
            let mut waits = 0.0;
            if let Some(spec) = &service.gateway {
                // A forwarded request holds the gateway's worker until the
                // backend answers (an aggregation: its slowest branch), or
                // the route's timeout; a refused one only for its own work.
                for (route, &sent) in spec.routes.iter().zip(&forwarded[s]) {
                    if arrivals[s] <= 0.0 {
                        break;
                    }
                    let mut wait = 0.0_f64;
                    for (target, share, name) in backends_of(route) {
                        let Some(callee) = index(target) else {
                            continue;
                        };
                        let p_policy = policy(name);
                        let attempts = expected_attempts(p_policy, services[callee].error_rate);
                        let timeout = route
                            .aggregate
                            .iter()
                            .find(|b| b.service == target)
                            .and_then(|b| b.timeout)
                            .or(route.timeout)
                            .or(p_policy.and_then(|p| p.timeout));
                        let mut each =
                            holding[callee].unwrap_or(0.0) + round_trip(names[s], target);
                        if let Some(cap) = timeout {
                            each = each.min(cap.as_secs_f64());
                        }
                        if route.aggregate.is_empty() {
                            wait += share * attempts * each;
                        } else {
                            wait = wait.max(attempts * each);
                        }
                    }
                    waits += sent / arrivals[s] * wait;
                }
                // A global rate limit holds the worker of every request the
                // route takes for its check, or the check's timeout.
                for (route, &checked) in spec.routes.iter().zip(&taken[s]) {
                    let Some(limit) = &route.rate_limit else {
                        continue;
                    };
                    let Some(target) = limit.service.as_deref() else {
                        continue;
                    };
                    let Some(callee) = index(target) else {
                        continue;
                    };
                    if arrivals[s] <= 0.0 {
                        break;
                    }
                    let p_policy = policy(limit.policy.as_deref());
                    let attempts = expected_attempts(p_policy, services[callee].error_rate);
                    let timeout = limit
                        .timeout
                        .or(p_policy.and_then(|p| p.timeout))
                        .unwrap_or(crate::scenario::compile::DEFAULT_LIMIT_TIMEOUT);
                    let each = (holding[callee].unwrap_or(0.0) + round_trip(names[s], target))
                        .min(timeout.as_secs_f64());
                    waits += checked / arrivals[s] * attempts * each;
                }
            }
            for group in steps(service) {
                let mut longest = 0.0_f64;
                for (target, p, timeout, name) in group {
                    let Some(callee) = index(target) else {
                        continue;
                    };
                    let p_policy = policy(name);
                    let attempts = expected_attempts(p_policy, services[callee].error_rate);
                    let mut each = holding[callee].unwrap_or(0.0) + round_trip(names[s], target);
                    let cap = timeout.or(p_policy.and_then(|p| p.timeout));
                    if let Some(cap) = cap {
                        each = each.min(cap.as_secs_f64());
                    }
                    longest = longest.max(p * attempts * each);
                }
                waits += longest;
            }
            holding[s] = Some(own + (1.0 - service.error_rate) * waits);
        }
        Flow {
            arrivals,
            holding,
            edges,
        }
    }
}

/// Whether any client is closed-loop (its rate is not known before the
/// run, so a flow leaves it out and is a lower bound).
/// A gateway route's calls: each backend with its share of the route's
/// requests (an aggregation: every branch, each with all of them) and the
/// policy of the call.
fn backends_of(route: &super::super::model::GatewayRoute) -> Vec<(&str, f64, Option<&str>)> {
    if route.aggregate.is_empty() {
        let total: f64 = route.backends.iter().map(|b| f64::from(b.weight)).sum();
        route
            .backends
            .iter()
            .filter(|_| total > 0.0)
            .map(|b| {
                (
                    b.service.as_str(),
                    f64::from(b.weight) / total,
                    route.policy.as_deref(),
                )
            })
            .collect()
    } else {
        route
            .aggregate
            .iter()
            .map(|b| (b.service.as_str(), 1.0, b.policy.as_deref()))
            .collect()
    }
}

/// The requests each route of gateway `s` takes and forwards a second:
/// those the workload's routes send it directly (`at_gateways`), routed as
/// the gateway routes them, less its own errors; forwarded, no more than
/// each route's rate limit admits (its rate in each instance, or once for a
/// global limit: per client, or for the route). Refusals for credentials
/// are not known before the run and not taken off: an upper bound.
/// Requests reaching the gateway from another service are left out.
fn gateway_forwards(
    spec: &GatewaySpec,
    compiled: &CompiledGateway,
    service: &super::super::model::Service,
    s: usize,
    at_gateways: &[(usize, usize, usize, f64)],
) -> Vec<(f64, f64)> {
    let mut per_client: Vec<std::collections::BTreeMap<usize, f64>> =
        vec![std::collections::BTreeMap::new(); spec.routes.len()];
    for &(g, r, c, sent) in at_gateways {
        if g != s {
            continue;
        }
        if let Some(Some(route)) = compiled.route_of.get(r) {
            *per_client[*route as usize].entry(c).or_default() += sent * (1.0 - service.error_rate);
        }
    }
    let instances = f64::from(service.instances);
    spec.routes
        .iter()
        .zip(per_client)
        .map(|(route, clients)| {
            let taken: f64 = clients.values().sum();
            let forwarded = match &route.rate_limit {
                None => taken,
                Some(limit) => {
                    let cap = if limit.service.is_some() {
                        limit.rate
                    } else {
                        limit.rate * instances
                    };
                    match limit.per {
                        LimitScope::Client => clients.values().map(|v| v.min(cap)).sum(),
                        LimitScope::Route => taken.min(cap),
                    }
                }
            };
            (taken, forwarded)
        })
        .collect()
}

pub(super) fn has_closed_loop(clients: &[ClientTarget]) -> bool {
    clients.iter().any(|c| c.arrivals.is_none())
}

/// A client's base open-loop rate (`None` for closed loop).
pub(super) fn base_rate(client: &ClientTarget) -> Option<f64> {
    use super::super::model::Arrivals;
    match &client.arrivals {
        Some(Arrivals::Poisson { rate } | Arrivals::Constant { rate }) => Some(*rate),
        None => None,
    }
}

/// A client's highest open-loop rate over its schedule (`None` for closed
/// loop).
pub(super) fn peak_rate(client: &ClientTarget) -> Option<f64> {
    let base = base_rate(client)?;
    Some(
        client
            .schedule
            .iter()
            .flat_map(|c| [c.rate, c.ramp_to])
            .flatten()
            .fold(base, f64::max),
    )
}
