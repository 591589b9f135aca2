//! Numbers in the wrong unit: a percent field written as a fraction (a
//! `retry_percent` of 0.2 allows 0.2 retries per 100 requests, where 20 was
//! meant), and a fraction field written as a percent. A fraction above 1 is
//! already an error (validation says "for 20% write 0.2"); what is left is
//! a base rate of exactly 1, which fails or loses *everything* for the
//! whole run and is far more often a "1%" than a dead service by design.
//! Fault rates of 1 stay silent: a fault that fails everything is a normal
//! experiment.

use super::Lints;
use crate::scenario::diagnostic::JsonPath;
use crate::scenario::model::Policy;

impl Lints<'_> {
    /// The percent fields of a policy.
    pub(super) fn percent_or_fraction(&mut self, path: &JsonPath, spec: &Policy) {
        let mut percents: Vec<(JsonPath, &str, f64)> = Vec::new();
        if let Some(crate::scenario::model::BudgetSpec::Tps { retry_percent, .. }) = &spec.budget {
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
        if let Some(p) = spec.panic_threshold {
            percents.push((path.key("panic_threshold"), "panic_threshold", p));
        }
        if let Some(q) = spec.hedge.as_ref().and_then(|h| h.percentile) {
            percents.push((path.key("hedge").key("percentile"), "percentile", q));
        }
        for (at, field, value) in percents {
            self.percent(at, field, value);
        }
    }

    /// A percent above 0 and below 1: allowed, but most likely a fraction.
    pub(super) fn percent(&mut self, at: JsonPath, field: &str, value: f64) {
        if value > 0.0 && value < 1.0 {
            // Rounded to a millionth, so that 0.2 reads as 20, not 20.000000000000004.
            let meant = libm::round(value * 100.0 * 1e6) / 1e6;
            self.warn(
                at,
                format!("{field} is a percent: {value} means {value}%, not {meant}%"),
                format!("{field} is a percent: {value} means {value}%; for {meant}% write {meant}"),
            );
        }
    }

    /// Base fractions of exactly 1: a service's `error_rate`, the network's
    /// and each link's `loss`.
    pub(super) fn fractions(&mut self) {
        let scenario = self.scenario;
        for (name, service) in &scenario.services {
            if service.error_rate == 1.0 {
                self.warn(
                    JsonPath::root().key("services").key(name).key("error_rate"),
                    format!(
                        "error_rate is a fraction: 1 fails every request of `{name}` for the whole run, not 1%"
                    ),
                    "error_rate is a fraction: for 1% write 0.01 (a fault with \"errors\" fails a service for a while)",
                );
            }
        }
        if scenario.network.loss == 1.0 {
            self.warn(
                JsonPath::root().key("network").key("loss"),
                "loss is a fraction: 1 loses every message for the whole run, not 1%".to_string(),
                "loss is a fraction: for 1% write 0.01",
            );
        }
        for (i, link) in scenario.network.links.iter().enumerate() {
            if link.loss == Some(1.0) {
                self.warn(
                    JsonPath::root()
                        .key("network")
                        .key("links")
                        .index(i)
                        .key("loss"),
                    format!(
                        "loss is a fraction: 1 loses every message between `{}` and `{}` for the whole run, not 1%",
                        link.from, link.to
                    ),
                    "loss is a fraction: for 1% write 0.01 (a \"partition\" fault cuts a link for a while)",
                );
            }
        }
    }

    /// A required success rate below 1%: a fraction (0.995) meant as a
    /// percent (99.5).
    pub(super) fn requirement_percents(&mut self) {
        for (i, r) in self.scenario.requirements.iter().enumerate() {
            if let Some(s) = &r.success {
                let at = JsonPath::root()
                    .key("requirements")
                    .index(i)
                    .key("success")
                    .key("at_least_percent");
                self.percent(at, "at_least_percent", s.at_least_percent);
            }
        }
    }
}
