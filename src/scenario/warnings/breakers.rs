//! Circuit breakers that cannot do what they seem to, and how they meet the
//! retries around them.
//!
//! Our stack order is fixed: deadline ∘ retry(budget) ∘ breaker ∘ …, so the
//! breaker sees every attempt, retries included: the order Spring Boot 3's
//! aspects give resilience4j, where "3 attempts count as 3 failures"
//! (resilience4j #2383). That is not wrong in itself (the breaker measures
//! what the callee is sent), so the honest warnings are the two cases where
//! it makes a setting meaningless:
//!
//! - one call's attempts alone reach the breaker's threshold
//!   (`consecutive_failures`, or a `minimum_calls` at 100% failure), so a
//!   single failing request opens it for every call sharing it;
//! - `retry_on` includes `breaker_open` while every retry comes before the
//!   breaker's `wait_in_open` has passed, so each retry of a rejection is
//!   rejected again (resilience4j #920: `CallNotPermittedException` belongs
//!   in Retry's ignore list).
//!
//! And the breakers that cannot open as set: a count window smaller than
//! `minimum_calls` (capped at the window, as resilience4j does: #1349), and a
//! time window that never holds `minimum_calls` at the edge's peak rate.

use super::Lints;
use super::flow::{Flow, has_closed_loop, peak_rate};
use crate::scenario::diagnostic::JsonPath;
use crate::scenario::model::{
    BackoffSpec, BreakerSpec, JitterKind, Policy, PolicyScope, RetryOutcome, RetrySpec, WindowKind,
};

impl Lints<'_> {
    /// Every breaker warning of policy `name` (at `path`).
    pub(super) fn breaker(&mut self, name: &str, path: &JsonPath, spec: &Policy) {
        let Some(breaker) = &spec.breaker else {
            return;
        };
        let at = path.key("breaker");
        if breaker.consecutive_failures.is_none() {
            self.window_cannot_open(name, &at, spec, breaker);
        }
        let Some(retry) = &spec.retry else {
            return;
        };
        let n = retry.max_attempts;
        let retried = retry
            .retry_on
            .iter()
            .any(|o| matches!(o, RetryOutcome::Error | RetryOutcome::Timeout));
        if n > 1 && retried {
            let (field, threshold) = match breaker.consecutive_failures {
                Some(c) => ("consecutive_failures", c),
                None => ("minimum_calls", effective_minimum(breaker)),
            };
            if threshold <= n {
                let how = if field == "consecutive_failures" {
                    format!(
                        "one request whose first {threshold} attempts fail makes {threshold} consecutive failures"
                    )
                } else {
                    format!(
                        "one request whose {threshold} attempts fail fills minimum_calls {threshold} at a failure rate of 100%"
                    )
                };
                self.warn(
                    at.key(field),
                    format!(
                        "policy `{name}` retries up to {n} attempts per call and its breaker counts every attempt (retry wraps the breaker): {how}, which opens the breaker for every call that shares it"
                    ),
                    format!(
                        "raise {field} well above max_attempts ({n}), e.g. to {}, so that it takes several failing requests to open",
                        (n * 5).max(threshold + 1)
                    ),
                );
            }
        }
        if n > 1 && retry.retry_on.contains(&RetryOutcome::BreakerOpen) {
            let backoffs = total_backoff(retry, n - 1);
            if backoffs < breaker.wait_in_open.as_secs_f64() {
                self.warn(
                    path.key("retry").key("retry_on"),
                    format!(
                        "policy `{name}` retries `breaker_open`, but its {} retries wait at most {:.3} s in all, less than the breaker's wait_in_open of {}: every retry of a call the open breaker refused is refused again, and spends the budget and the backoff for nothing",
                        n - 1,
                        backoffs,
                        breaker.wait_in_open
                    ),
                    "remove \"breaker_open\" from retry_on (resilience4j: put CallNotPermittedException in Retry's ignore list)",
                );
            }
        }
    }

    /// A breaker whose window can never hold `minimum_calls`.
    fn window_cannot_open(&mut self, name: &str, at: &JsonPath, spec: &Policy, b: &BreakerSpec) {
        match b.window {
            WindowKind::Count => {
                if b.minimum_calls > b.window_size {
                    self.warn(
                        at.key("minimum_calls"),
                        format!(
                            "minimum_calls {} is above the count window of {} calls: as in resilience4j it is capped at the window, so the breaker judges the last {} calls, not {}",
                            b.minimum_calls, b.window_size, b.window_size, b.minimum_calls
                        ),
                        format!(
                            "set \"window_size\" to at least {} or \"minimum_calls\" to at most {}",
                            b.minimum_calls, b.window_size
                        ),
                    );
                }
            }
            WindowKind::Time => {
                // The rate is known only for open-loop clients.
                if has_closed_loop(self.clients) {
                    return;
                }
                let flow = Flow::new(self.scenario, self.clients, self.gateways, peak_rate);
                let services: Vec<_> = self.scenario.services.values().collect();
                // The busiest breaker of this policy: attempts per second per
                // scope unit (a calling instance, or the calling service).
                let busiest = flow
                    .edges
                    .iter()
                    .filter(|e| e.policy.as_deref() == Some(name))
                    .map(|e| {
                        let units = match (e.caller, spec.scope) {
                            (Some(s), PolicyScope::Instance) => f64::from(services[s].instances),
                            _ => 1.0,
                        };
                        e.calls * e.attempts / units
                    })
                    .fold(None, |m: Option<f64>, r| Some(m.map_or(r, |m| m.max(r))));
                let Some(rate) = busiest else {
                    return;
                };
                let held = rate * f64::from(b.window_size);
                if held < f64::from(b.minimum_calls) {
                    self.warn(
                        at.key("minimum_calls"),
                        format!(
                            "the breaker of policy `{name}` needs {} calls in its window of {} s, but at the peak rate its busiest breaker gets about {rate:.2} attempts/s, {held:.1} per window: it computes no failure rate and never opens",
                            b.minimum_calls, b.window_size
                        ),
                        format!(
                            "lower \"minimum_calls\" to at most {} or widen \"window_size\" to at least {} s",
                            held.floor().max(1.0),
                            (f64::from(b.minimum_calls) / rate.max(1e-9)).ceil()
                        ),
                    );
                }
            }
        }
    }
}

/// The minimum number of calls as the breaker applies it (capped at a count
/// window's size).
fn effective_minimum(b: &BreakerSpec) -> u32 {
    match b.window {
        WindowKind::Count => b.minimum_calls.min(b.window_size),
        WindowKind::Time => b.minimum_calls,
    }
}

/// The longest the backoffs before `retries` retries add up to, seconds:
/// every jitter waits at most the schedule's delay, except decorrelated's
/// up to 3 × the previous sleep, bounded only by the cap (and not at all
/// for a constant schedule: infinite, so nothing is claimed).
fn total_backoff(retry: &RetrySpec, retries: u32) -> f64 {
    if retry.jitter == JitterKind::Decorrelated {
        return match &retry.backoff {
            BackoffSpec::Constant(_) => f64::INFINITY,
            BackoffSpec::Linear { cap, .. } | BackoffSpec::Exponential { cap, .. } => {
                cap.as_secs_f64() * f64::from(retries)
            }
        };
    }
    let mut total = 0.0;
    for r in 0..retries {
        total += match &retry.backoff {
            BackoffSpec::Constant(d) => d.as_secs_f64(),
            BackoffSpec::Linear {
                initial,
                increment,
                cap,
            } => (initial.as_secs_f64() + increment.as_secs_f64() * f64::from(r))
                .min(cap.as_secs_f64()),
            BackoffSpec::Exponential {
                base,
                multiplier,
                cap,
            } => (base.as_secs_f64() * libm::pow(*multiplier, f64::from(r))).min(cap.as_secs_f64()),
        };
    }
    total
}
