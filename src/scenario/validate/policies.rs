//! The checks on policies and the references to them: timeout and deadline,
//! retry (attempts, backoff, jitter), retry budget, breaker, bulkhead, rate
//! limit and hedge, each within its pattern's bounds; a reference to a known
//! policy that does not set a timeout twice; and the memory a policy's state
//! takes across the instances of its caller.

use super::{Checker, MAX_ATTEMPTS, MAX_HEDGES, MAX_POLICY_BYTES, num, shown};
use crate::scenario::diagnostic::{JsonPath, did_you_mean};
use crate::scenario::model::*;

impl Checker<'_> {
    /// The memory a policy's state takes per scope unit, roughly: breaker
    /// windows and bulkhead wait queues are allocated up front.
    /// A balancer keeps a few words per callee instance, and a hashing one
    /// its table (Envoy's ring of at least 1024 points, 16 bytes each, or
    /// its Maglev table of 65537 entries, 4 bytes each).
    fn policy_bytes_per_unit(policy: &Policy, callee_instances: u32) -> u64 {
        let hosts = u64::from(callee_instances);
        let balancer = match policy.balancer {
            None => 0,
            Some(BalancerKind::RingHash) => hosts * 24 + 16 * hosts.max(1024),
            Some(BalancerKind::Maglev) => hosts * 24 + 4 * 65_537,
            Some(_) => hosts * 24,
        };
        let breaker = policy
            .breaker
            .as_ref()
            .map_or(0, |b| u64::from(b.window_size) * 16);
        let bulkhead = policy
            .bulkhead
            .as_ref()
            .map_or(0, |b| u64::from(b.max_waiting.unwrap_or(0)) * 32);
        breaker + bulkhead + balancer
    }

    /// A policy on a call from a service with many instances is instantiated
    /// once per instance: bound the total so a scenario cannot exhaust memory.
    pub(super) fn policy_memory(
        &mut self,
        path: &JsonPath,
        caller_instances: u32,
        callee_instances: u32,
        name: &str,
    ) {
        let Some(policy) = self.scenario.policies.get(name) else {
            return;
        };
        let units = match policy.scope {
            PolicyScope::Service => 1,
            PolicyScope::Instance => u64::from(caller_instances),
        };
        let bytes = units * Self::policy_bytes_per_unit(policy, callee_instances);
        if bytes > MAX_POLICY_BYTES {
            self.problem(
                path.key("policy"),
                format!(
                    "policy `{name}` would keep {} MiB of state across {units} calling instances (at most {} MiB): use a smaller breaker window or bulkhead queue, a balancer without a table, or `\"scope\": \"service\"`",
                    bytes >> 20,
                    MAX_POLICY_BYTES >> 20
                ),
            );
        }
    }

    /// Checks a `policy` reference at `path.policy`; a call with its own
    /// `timeout` may not also take one from a policy.
    pub(super) fn policy_ref(&mut self, path: &JsonPath, name: Option<&str>, has_timeout: bool) {
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

    /// A policy's fallback: exactly one answer; a `policy` and a `timeout`
    /// only for a call to a `service`, whose policy has no fallback itself.
    fn fallback(&mut self, path: &JsonPath, fallback: &FallbackSpec) {
        let answers = [
            fallback.service.is_some(),
            fallback.static_answer.is_some(),
            fallback.cached.is_some(),
        ];
        match answers.iter().filter(|a| **a).count() {
            0 => self.problem(
                path.clone(),
                "a fallback needs its answer: `service` (call another service), `static` (true: a default answer) or `cached` (the last good answer, no older than a duration)",
            ),
            1 => {}
            _ => self.problem(
                path.clone(),
                "a fallback has one answer: `service`, `static` or `cached`, not several",
            ),
        }
        if fallback.static_answer == Some(false) {
            self.problem(
                path.key("static"),
                "`static` is `true` (a default answer) or left out",
            );
        }
        if let Some(age) = fallback.cached {
            self.positive_duration(path.key("cached"), age);
        }
        if let Some(keys) = fallback.cache_keys {
            if fallback.cached.is_none() {
                self.problem(
                    path.key("cache_keys"),
                    "`cache_keys` is how many request keys a `cached` fallback keeps answers for: set `cached`, or leave it out",
                );
            } else if !(1..=1_048_576).contains(&keys) {
                self.problem(
                    path.key("cache_keys"),
                    format!("cache_keys must be between 1 and 1048576, got {keys}"),
                );
            }
        }
        if fallback.service.is_none() {
            for (field, set) in [
                ("policy", fallback.policy.is_some()),
                ("timeout", fallback.timeout.is_some()),
            ] {
                if set {
                    self.problem(
                        path.key(field),
                        format!("`{field}` is for a fallback call to a `service`"),
                    );
                }
            }
        }
        if let Some(service) = &fallback.service {
            self.service_ref(path.key("service"), service);
            if let Some(t) = fallback.timeout {
                self.positive_duration(path.key("timeout"), t);
            }
            self.policy_ref(path, fallback.policy.as_deref(), fallback.timeout.is_some());
            if let Some(name) = &fallback.policy
                && self
                    .scenario
                    .policies
                    .get(name)
                    .is_some_and(|p| p.fallback.is_some())
            {
                self.problem(
                    path.key("policy"),
                    format!(
                        "the fallback call's policy `{}` has a fallback of its own: one level only, so that a chain of fallbacks always ends",
                        shown(name)
                    ),
                );
            }
        }
        if fallback.on.as_ref().is_some_and(Vec::is_empty) {
            self.problem(
                path.key("on"),
                "`on` lists the failures that fall back: leave it out for the default",
            );
        }
    }

    pub(super) fn policy(&mut self, path: JsonPath, policy: &Policy) {
        if let Some(fallback) = &policy.fallback {
            self.fallback(&path.key("fallback"), fallback);
        }
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
            if retry.retry_after_jitter.is_some() && !retry.honour_retry_after {
                self.problem(
                    p.key("retry_after_jitter"),
                    "retry_after_jitter spreads the wait for an honoured retry-after: it needs honour_retry_after",
                );
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
}
