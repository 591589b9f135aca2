//! Per-policy warnings, policy by policy in name order: retries without a
//! budget, a budget without retries, the breaker's (`breakers.rs`), percents
//! written as fractions (`values.rs`), and a policy nobody uses.

use std::collections::BTreeSet;

use super::Lints;
use crate::scenario::diagnostic::JsonPath;
use crate::scenario::model::{BudgetSpec, Policy};

/// Whether a policy retries at all: more than one attempt, on some outcome.
fn retries(spec: &Policy) -> bool {
    spec.retry
        .as_ref()
        .is_some_and(|r| r.max_attempts > 1 && !r.retry_on.is_empty())
}

impl Lints<'_> {
    pub(super) fn policies(&mut self) {
        let scenario = self.scenario;
        let mut used: BTreeSet<&str> = BTreeSet::new();
        let workload = &scenario.workload;
        used.extend(workload.policy.as_deref());
        used.extend(workload.routes.iter().filter_map(|r| r.policy.as_deref()));
        for service in scenario.services.values() {
            // Calls, a gateway's routes, aggregation branches and auth calls.
            used.extend(crate::scenario::validate::policies_used(service));
        }
        // A used policy's fallback call's policy is used too.
        let fallbacks: Vec<&str> = used
            .iter()
            .filter_map(|p| {
                scenario
                    .policies
                    .get(*p)?
                    .fallback
                    .as_ref()?
                    .policy
                    .as_deref()
            })
            .collect();
        used.extend(fallbacks);
        for ((name, spec), compiled) in scenario.policies.iter().zip(self.policies) {
            let path = JsonPath::root().key("policies").key(name);
            if let Some(retry) = &spec.retry
                && retries(spec)
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
            self.budget_without_retry(name, &path, spec);
            self.breaker(name, &path, spec);
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

    /// A `tps` or `token_bucket` budget limits retries only: without a
    /// retry it does nothing. (`adaptive` throttles every request, so it
    /// stands alone.)
    fn budget_without_retry(&mut self, name: &str, path: &JsonPath, spec: &Policy) {
        let kind = match &spec.budget {
            Some(BudgetSpec::Tps { .. }) => "tps",
            Some(BudgetSpec::TokenBucket { .. }) => "token_bucket",
            Some(BudgetSpec::Adaptive { .. }) | None => return,
        };
        if retries(spec) {
            return;
        }
        let why = match &spec.retry {
            None => "no `retry`".to_string(),
            Some(r) if r.max_attempts <= 1 => {
                format!("a retry of max_attempts {} (no retries)", r.max_attempts)
            }
            Some(_) => "a retry with an empty retry_on".to_string(),
        };
        self.warn(
            path.key("budget"),
            format!(
                "policy `{name}` has a `{kind}` retry budget but {why}: a retry budget limits retries only, so it does nothing here"
            ),
            format!(
                "add \"retry\": {{\"max_attempts\": 3}} to policy `{name}`, or remove the budget (\"adaptive\" throttles every request, if that was meant)"
            ),
        );
    }
}
