//! Warnings: what is allowed but probably not meant, found by the compile
//! step. Each has the JSON path of what it is about, a message with the
//! numbers behind it, and a one-line fix. A warning never stops a run
//! (unless the CLI is given `--deny-warnings`); summary.json lists them.
//!
//! The checks run in a fixed order (routes, then services in name order,
//! then policies in name order), so the list is deterministic.

use std::collections::BTreeSet;

use super::compile::ClientTarget;
use super::diagnostic::JsonPath;
use super::model::{Arrivals, BudgetSpec, Distribution, Policy, Scenario};
use super::policy::CompiledPolicy;
use super::validate::parse_percentile_key;

/// Something a scenario allows but probably does not mean.
#[derive(Clone, Debug, PartialEq)]
pub struct Warning {
    /// What it is about.
    pub path: JsonPath,
    /// 1-based line and column in the file, when loaded from one.
    pub position: Option<(usize, usize)>,
    /// What is wrong, with the numbers behind it.
    pub message: String,
    /// One line: what to change.
    pub fix: String,
}

impl Warning {
    /// The warning for people, located in `file` as errors are: a
    /// `warning:` line with the position, the path and the message, then
    /// the fix on a line of its own.
    pub fn render(&self, file: &str) -> String {
        let at = match self.position {
            Some((line, column)) => format!("{file}:{line}:{column}"),
            None => file.to_string(),
        };
        format!(
            "warning: {at}: {}: {}\n  fix: {}\n",
            self.path, self.message, self.fix
        )
    }
}

struct Lints<'a> {
    scenario: &'a Scenario,
    policies: &'a [CompiledPolicy],
    clients: &'a [ClientTarget],
    out: Vec<Warning>,
}

/// Every warning for a scenario that compiled (`policies` are its compiled
/// policies, in name order; `clients` its resolved clients).
pub(super) fn warnings(
    scenario: &Scenario,
    policies: &[CompiledPolicy],
    clients: &[ClientTarget],
) -> Vec<Warning> {
    let mut lints = Lints {
        scenario,
        policies,
        clients,
        out: Vec::new(),
    };
    lints.unbounded_waits();
    lints.overload();
    lints.discovery();
    lints.ejection();
    lints.policies();
    lints.out
}

impl Lints<'_> {
    fn warn(&mut self, path: JsonPath, message: String, fix: impl Into<String>) {
        self.out.push(Warning {
            path,
            position: None,
            message,
            fix: fix.into(),
        });
    }

    fn policy(&self, name: Option<&str>) -> Option<&CompiledPolicy> {
        let index = self
            .scenario
            .policies
            .keys()
            .position(|n| Some(n.as_str()) == name)?;
        self.policies.get(index)
    }

    /// Whether a policy bounds the time a call may take.
    fn bounded(&self, policy: Option<&str>) -> bool {
        self.policy(policy)
            .is_some_and(|p| p.timeout().is_some() || p.deadline().is_some())
    }

    /// (a) A route or a call with no timeout and no policy timeout or
    /// deadline waits forever for a reply that never comes: a crashed
    /// callee drops its work silently, a lost message is never answered.
    /// Without crashes or loss every reply arrives, so nothing is said.
    fn unbounded_waits(&mut self) {
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
        for (name, service) in &scenario.services {
            let path = JsonPath::root().key("services").key(name).key("calls");
            for (i, step) in service.calls.iter().enumerate() {
                let calls: Vec<(JsonPath, &str, bool, Option<&str>)> =
                    match (&step.service, &step.parallel) {
                        (Some(target), _) => vec![(
                            path.index(i),
                            target.as_str(),
                            step.timeout.is_some(),
                            step.policy.as_deref(),
                        )],
                        (None, Some(group)) => group
                            .iter()
                            .enumerate()
                            .map(|(k, c)| {
                                (
                                    path.index(i).key("parallel").index(k),
                                    c.service.as_str(),
                                    c.timeout.is_some(),
                                    c.policy.as_deref(),
                                )
                            })
                            .collect(),
                        (None, None) => Vec::new(),
                    };
                for (call_path, target, has_timeout, policy) in calls {
                    if !has_timeout && !self.bounded(policy) {
                        self.warn(
                            call_path,
                            format!(
                                "the call from `{name}` to `{target}` has no timeout, and {cause}: if `{target}` never answers, the call waits forever and holds one of the {} workers of `{name}`",
                                u64::from(service.instances) * u64::from(service.concurrency)
                            ),
                            "add \"timeout\": \"1s\" to the call",
                        );
                    }
                }
            }
        }
    }

    /// (b) retries without a budget, and (c) policies nobody uses.
    /// Discovery settings that cannot do what they seem to: checks that
    /// never run twice, leases that expire between renewals, caches staler
    /// than the lease, and self-preservation that keeps a single crash.
    fn discovery(&mut self) {
        let scenario = self.scenario;
        let run = scenario.duration;
        for (name, service) in &scenario.services {
            let Some(d) = &service.discovery else {
                continue;
            };
            let path = JsonPath::root().key("services").key(name).key("discovery");
            if let Some(check) = &d.health_check
                && check.interval >= run
            {
                self.warn(
                    path.key("health_check").key("interval"),
                    format!(
                        "checks every {} in a run of {}: no instance is checked more than once, so a crash is never detected",
                        check.interval, run
                    ),
                    "use an interval well below the run's duration",
                );
            }
            if d.refresh >= run {
                self.warn(
                    path.key("refresh"),
                    format!(
                        "callers refresh their view every {} in a run of {}: they never learn of a change",
                        d.refresh, run
                    ),
                    "use a refresh well below the run's duration",
                );
            }
            let Some(beat) = &d.heartbeat else {
                continue;
            };
            if beat.renewal_interval >= beat.lease_duration {
                self.warn(
                    path.key("heartbeat").key("renewal_interval"),
                    format!(
                        "renewals every {} for a lease of {}: every lease expires between renewals and live instances are evicted",
                        beat.renewal_interval, beat.lease_duration
                    ),
                    "renew several times per lease (Eureka: every 30s for 90s)",
                );
            }
            if d.refresh > beat.lease_duration {
                self.warn(
                    path.key("refresh"),
                    format!(
                        "callers refresh every {}, longer than the lease of {}: after an eviction they keep calling the dead instance for up to {} more",
                        d.refresh, beat.lease_duration, d.refresh
                    ),
                    "refresh at most once per lease duration",
                );
            }
            let n = f64::from(service.instances);
            if beat.self_preservation && (n - 1.0) / n < beat.renewal_percent_threshold {
                self.warn(
                    path.key("heartbeat").key("self_preservation"),
                    format!(
                        "with {} instances one crash takes renewals to {:.0}%, below the threshold of {:.0}%: self-preservation stops evictions and the crashed instance stays registered",
                        service.instances,
                        100.0 * (n - 1.0) / n,
                        100.0 * beat.renewal_percent_threshold
                    ),
                    "set \"self_preservation\": false, lower renewal_percent_threshold, or run more instances (Eureka's own advice for small fleets)",
                );
            }
        }
    }

    /// Outlier detection that cannot work for the pool it is used on: a
    /// `max_ejection_percent` that ejects nothing, or everything; a panic
    /// threshold that the most ejections allowed already cross, so that
    /// ejection "does nothing" (Envoy issues #2671, #27066, #28304).
    fn ejection(&mut self) {
        let scenario = self.scenario;
        // (policy, callee instances) pairs in use, each once, in order.
        let mut uses: BTreeSet<(String, u32)> = BTreeSet::new();
        let instances = |name: &str| scenario.services.get(name).map(|s| s.instances);
        let workload_policy = scenario.workload.policy.as_deref();
        for route in &scenario.workload.routes {
            if let (Some(p), Some(n)) = (
                route.policy.as_deref().or(workload_policy),
                instances(&route.service),
            ) {
                uses.insert((p.to_string(), n));
            }
        }
        for service in scenario.services.values() {
            for step in &service.calls {
                if let (Some(p), Some(n)) = (
                    step.policy.as_deref(),
                    step.service.as_deref().and_then(instances),
                ) {
                    uses.insert((p.to_string(), n));
                }
                for call in step.parallel.iter().flatten() {
                    if let (Some(p), Some(n)) = (call.policy.as_deref(), instances(&call.service)) {
                        uses.insert((p.to_string(), n));
                    }
                }
            }
        }
        for (name, n) in uses {
            let Some(compiled) = self.policy(Some(&name)) else {
                continue;
            };
            let Some(config) = compiled.outlier() else {
                continue;
            };
            let panic = compiled.panic().percent();
            let percent = config.max_ejection_percent;
            let rule = config.max_ejection_rule;
            let mut most = 0;
            while most < n && rule.allows(most, n, percent) {
                most += 1;
            }
            let path = JsonPath::root()
                .key("policies")
                .key(&name)
                .key("outlier_detection")
                .key("max_ejection_percent");
            if most == 0 {
                self.warn(
                    path,
                    format!(
                        "max_ejection_percent {percent} of {n} instances ejects none: the share after an ejection, 100/{n}%, is above it (Envoy ≥ 1.28 counts the candidate)"
                    ),
                    format!(
                        "raise max_ejection_percent to at least {} for this pool",
                        100_u32.div_ceil(n)
                    ),
                );
                continue;
            }
            if most == n {
                self.warn(
                    path.clone(),
                    format!(
                        "max_ejection_percent {percent} lets all {n} instances be ejected: {}",
                        if panic > 0.0 {
                            "the panic threshold then sends to every instance anyway".to_string()
                        } else {
                            "with no panic threshold the pool empties and every call fails (no healthy upstream)".to_string()
                        }
                    ),
                    "keep max_ejection_percent below 100 × (instances − 1) / instances",
                );
            }
            let healthy_with = |k: u32| 100.0 * f64::from(n - k) / f64::from(n);
            if let Some(k) = (1..=most).find(|&k| healthy_with(k) < panic) {
                let healthy = healthy_with(k);
                self.warn(
                    JsonPath::root().key("policies").key(&name).key("panic_threshold"),
                    format!(
                        "with {k} of {n} instances ejected {healthy:.0}% are healthy, below the panic threshold of {panic}%: the balancer then ignores ejection and sends to every instance",
                    ),
                    "lower panic_threshold (0 disables it) or max_ejection_percent, or run more instances",
                );
            }
        }
    }

    fn policies(&mut self) {
        let scenario = self.scenario;
        let mut used: BTreeSet<&str> = BTreeSet::new();
        let workload = &scenario.workload;
        used.extend(workload.policy.as_deref());
        used.extend(workload.routes.iter().filter_map(|r| r.policy.as_deref()));
        for service in scenario.services.values() {
            for step in &service.calls {
                used.extend(step.policy.as_deref());
                for call in step.parallel.iter().flatten() {
                    used.extend(call.policy.as_deref());
                }
            }
        }
        for ((name, spec), compiled) in scenario.policies.iter().zip(self.policies) {
            let path = JsonPath::root().key("policies").key(name);
            if let Some(retry) = &spec.retry
                && retry.max_attempts > 1
                && !retry.retry_on.is_empty()
                && !compiled.has_limiter()
            {
                let n = retry.max_attempts;
                self.warn(
                    path.key("retry"),
                    format!(
                        "policy `{name}` retries up to {n} attempts per call with no retry budget: when the callee fails, every call becomes {n} attempts and the load on it grows {n}-fold, which can keep it down after the fault ends (a retry storm)"
                    ),
                    format!(
                        "add \"budget\": {{\"tps\": {{\"retry_percent\": 20}}}} to policy `{name}`"
                    ),
                );
            }
            self.percent_or_fraction(&path, spec);
            if !used.contains(name.as_str()) {
                self.warn(
                    path,
                    format!("policy `{name}` is defined but no route or call uses it"),
                    format!(
                        "attach it with \"policy\": \"{name}\" on a route or a call, or delete it"
                    ),
                );
            }
        }
    }

    /// (e) A percentage below 1, such as a `retry_percent` of 0.2: allowed
    /// (0.2 % is a percentage), but most likely a fraction meant as 20 %.
    fn percent_or_fraction(&mut self, path: &JsonPath, spec: &Policy) {
        let mut percents: Vec<(JsonPath, &str, f64)> = Vec::new();
        if let Some(BudgetSpec::Tps { retry_percent, .. }) = &spec.budget {
            let at = path.key("budget").key("tps").key("retry_percent");
            percents.push((at, "retry_percent", *retry_percent));
        }
        if let Some(b) = &spec.breaker {
            let at = path.key("breaker");
            percents.push((
                at.key("failure_rate_percent"),
                "failure_rate_percent",
                b.failure_rate_percent,
            ));
            percents.push((
                at.key("slow_call_rate_percent"),
                "slow_call_rate_percent",
                b.slow_call_rate_percent,
            ));
        }
        for (at, field, value) in percents {
            if value > 0.0 && value < 1.0 {
                // Rounded to a millionth, so that 0.2 reads as 20, not 20.000000000000004.
                let meant = libm::round(value * 100.0 * 1e6) / 1e6;
                self.warn(
                    at,
                    format!("{field} is a percent: {value} means {value}%, not {meant}%"),
                    format!(
                        "{field} is a percent: {value} means {value}%; for {meant}% write {meant}"
                    ),
                );
            }
        }
    }

    /// (d) A service offered more work than its workers can do at the base
    /// open-loop rates: ρ = λ·E[S] / (instances · concurrency) > 1, with λ
    /// from each open-loop client's base rate and route weights and the call
    /// probabilities (retries, hedges and the time workers wait for
    /// downstream calls left out, so ρ is a lower bound).
    fn overload(&mut self) {
        let scenario = self.scenario;
        let names: Vec<&str> = scenario.services.keys().map(String::as_str).collect();
        let index = |name: &str| names.binary_search(&name).ok();
        let mut lambda = vec![0.0_f64; names.len()];
        let mut open_loop = false;
        for client in self.clients {
            let rate = match &client.arrivals {
                Some(Arrivals::Poisson { rate } | Arrivals::Constant { rate }) => *rate,
                None => continue,
            };
            open_loop = true;
            let total: f64 = client.weights.iter().sum();
            for (route, weight) in scenario.workload.routes.iter().zip(&client.weights) {
                if let Some(i) = index(&route.service) {
                    lambda[i] += rate * weight / total;
                }
            }
        }
        if !open_loop {
            return;
        }
        // The call graph is acyclic (validated): visit callers before
        // callees (Kahn's order).
        let services: Vec<_> = scenario.services.values().collect();
        let edges: Vec<Vec<(usize, f64)>> = services
            .iter()
            .map(|s| {
                let mut out = Vec::new();
                for step in &s.calls {
                    if let Some(target) = &step.service {
                        out.extend(index(target).map(|t| (t, step.probability.unwrap_or(1.0))));
                    }
                    for call in step.parallel.iter().flatten() {
                        out.extend(index(&call.service).map(|t| (t, call.probability)));
                    }
                }
                out
            })
            .collect();
        let mut callers = vec![0usize; names.len()];
        for out in &edges {
            for (t, _) in out {
                callers[*t] += 1;
            }
        }
        let mut ready: Vec<usize> = (0..names.len()).filter(|i| callers[*i] == 0).collect();
        while let Some(s) = ready.pop() {
            for &(t, p) in &edges[s] {
                lambda[t] += lambda[s] * p;
                callers[t] -= 1;
                if callers[t] == 0 {
                    ready.push(t);
                }
            }
        }
        for (i, service) in services.iter().enumerate() {
            let Some(mean_s) = mean_secs(&service.service_time) else {
                continue;
            };
            let workers = f64::from(service.instances) * f64::from(service.concurrency);
            let busy = lambda[i] * mean_s;
            let rho = busy / workers;
            if rho > 1.0 && rho.is_finite() {
                let name = names[i];
                self.warn(
                    JsonPath::root().key("services").key(name),
                    format!(
                        "`{name}` is offered more work than it can do at the base rate: about {:.1} requests/s × {:.3} ms mean service time keep {busy:.2} workers busy, but it has {workers} ({} instance(s) × {} worker(s)); ρ = {rho:.2} > 1, so its queue grows until it rejects",
                        lambda[i],
                        mean_s * 1e3,
                        service.instances,
                        service.concurrency
                    ),
                    format!(
                        "give `{name}` at least {} workers (instances × concurrency), or lower the arrival rate",
                        busy.ceil()
                    ),
                );
            }
        }
    }
}

/// Why a reply may never come, if it may: the first crash, partition or
/// message loss in the scenario, in words.
fn loses_replies(scenario: &Scenario) -> Option<String> {
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

/// The mean of a distribution in seconds, where it is simple to compute
/// (`None` for an infinite mean). A normal's truncation at zero is ignored
/// (it only raises the mean), so the result never overstates the load.
fn mean_secs(d: &Distribution) -> Option<f64> {
    let s = |d: crate::kernel::SimDuration| d.as_secs_f64();
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

#[cfg(test)]
mod tests {
    /// The warnings of a scenario whose one call uses `policy`.
    fn warnings_of(policy: &str) -> Vec<(String, String, String)> {
        let source = format!(
            r#"{{"name": "t", "duration": "10s",
                "policies": {{"p": {policy}}},
                "services": {{"a": {{"service_time": {{"constant": "1ms"}},
                                    "calls": [{{"service": "b", "policy": "p"}}]}},
                             "b": {{"service_time": {{"constant": "1ms"}}}}}},
                "workload": {{"arrivals": {{"poisson": {{"rate": 10}}}}, "routes": [{{"service": "a"}}]}}}}"#
        );
        let compiled = crate::scenario::parse(&source, "t.json").expect("a valid scenario");
        compiled
            .warnings()
            .iter()
            .map(|w| (w.path.to_string(), w.message.clone(), w.fix.clone()))
            .collect()
    }

    #[test]
    fn a_retry_percent_below_one_is_probably_a_fraction() {
        let found = warnings_of(r#"{"budget": {"tps": {"retry_percent": 0.2}}}"#);
        assert_eq!(found.len(), 1, "{found:?}");
        let (path, message, fix) = &found[0];
        assert_eq!(path, "policies.p.budget.tps.retry_percent");
        assert_eq!(
            message,
            "retry_percent is a percent: 0.2 means 0.2%, not 20%"
        );
        assert_eq!(
            fix,
            "retry_percent is a percent: 0.2 means 0.2%; for 20% write 20"
        );
    }

    #[test]
    fn breaker_rates_below_one_percent_are_probably_fractions() {
        let found = warnings_of(
            r#"{"breaker": {"failure_rate_percent": 0.5, "slow_call_rate_percent": 0.25}}"#,
        );
        let paths: Vec<&str> = found.iter().map(|w| w.0.as_str()).collect();
        assert_eq!(
            paths,
            [
                "policies.p.breaker.failure_rate_percent",
                "policies.p.breaker.slow_call_rate_percent"
            ]
        );
        assert!(found[0].2.ends_with("for 50% write 50"), "{found:?}");
        assert!(found[1].2.ends_with("for 25% write 25"), "{found:?}");
    }

    #[test]
    fn percents_of_one_and_more_and_a_zero_budget_are_not_warned_about() {
        for policy in [
            r#"{"budget": {"tps": {"retry_percent": 0}}}"#,
            r#"{"budget": {"tps": {"retry_percent": 1}}}"#,
            r#"{"budget": {"tps": {"retry_percent": 20}}}"#,
            r#"{"breaker": {"failure_rate_percent": 1, "slow_call_rate_percent": 100}}"#,
        ] {
            let found = warnings_of(policy);
            assert!(found.is_empty(), "{policy}: {found:?}");
        }
    }
}
