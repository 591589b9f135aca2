//! The checks on `requirements`: exactly one kind each, on known routes,
//! services and edges, with bounds that can be met and spans that the time
//! series can measure.
//!
//! A span `over` is a whole number of the scenario's `window`s, at least
//! one and at most the run: it is judged on the time-series rows, sliding by
//! one window, so a span of 2.5 windows could only be measured by cutting a
//! window in two, which the rows do not allow (a window's counts are one
//! number). Refusing it is clearer than rounding it silently.

use super::{Checker, bad_name, did_you_mean, num, shown};
use crate::kernel::SimDuration;
use crate::scenario::diagnostic::JsonPath;
use crate::scenario::model::*;

/// Upper bound on the requirements of a scenario.
pub const MAX_REQUIREMENTS: usize = 1000;
/// Upper bound on the windows the sliding requirements keep, summed over
/// them (a window is 40 bytes in a requirement's ring: 400 MB at most).
pub const MAX_REQUIREMENT_WINDOWS: u64 = 10_000_000;

/// The quantiles a whole-run latency requirement can name (summary.json's).
pub const RUN_QUANTILES: [f64; 4] = [50.0, 90.0, 99.0, 99.9];
/// The quantiles a per-window one can name (the time series' columns).
pub const WINDOW_QUANTILES: [f64; 2] = [50.0, 99.0];

impl Checker<'_> {
    /// Every requirement, and the bounds on them all.
    pub(super) fn requirements(&mut self) {
        let s = self.scenario;
        let path = JsonPath::root().key("requirements");
        if s.requirements.len() > MAX_REQUIREMENTS {
            self.problem(
                path.clone(),
                format!(
                    "{} requirements: at most {MAX_REQUIREMENTS} are supported",
                    s.requirements.len()
                ),
            );
        }
        for (i, requirement) in s.requirements.iter().enumerate() {
            self.requirement(path.index(i), requirement);
        }
        let window = s.window.as_nanos().max(1);
        let kept: u64 = s
            .requirements
            .iter()
            .map(|r| {
                let over = r
                    .success
                    .as_ref()
                    .and_then(|x| x.over)
                    .or(r.amplification.as_ref().and_then(|x| x.over));
                over.map_or(0, |o| o.as_nanos() / window)
            })
            .fold(0u64, u64::saturating_add);
        if kept > MAX_REQUIREMENT_WINDOWS {
            self.problem(
                path,
                format!(
                    "the sliding requirements keep {kept} windows in all: at most {MAX_REQUIREMENT_WINDOWS} (each keeps its span's windows); use fewer or shorter spans, or a wider `window`"
                ),
            );
        }
    }

    fn requirement(&mut self, path: JsonPath, r: &Requirement) {
        if let Some(name) = &r.name
            && let Some(why) = bad_name(name)
        {
            self.problem(path.key("name"), format!("a requirement name {why}"));
        }
        let kinds = [
            ("success", r.success.is_some()),
            ("latency", r.latency.is_some()),
            ("amplification", r.amplification.is_some()),
            ("no_invariant_violated", r.no_invariant_violated.is_some()),
            ("time_to_recover", r.time_to_recover.is_some()),
            ("not_metastable", r.not_metastable.is_some()),
        ];
        let set: Vec<&str> = kinds.iter().filter(|k| k.1).map(|k| k.0).collect();
        if set.len() != 1 {
            let all: Vec<&str> = kinds.iter().map(|k| k.0).collect();
            let message = if set.is_empty() {
                format!("a requirement needs exactly one kind: {}", all.join(", "))
            } else {
                format!(
                    "a requirement has exactly one kind, this one has {}: split it into several requirements",
                    set.join(" and ")
                )
            };
            self.problem(path.clone(), message);
        }
        if r.not_metastable == Some(false) {
            self.problem(
                path.key("not_metastable"),
                "`false` requires nothing: write `true`, or leave the requirement out",
            );
        }
        if let Some(t) = &r.time_to_recover
            && t.at_most.is_zero()
        {
            self.problem(
                path.key("time_to_recover").key("at_most"),
                "a recovery takes at least one window: use a bound above zero",
            );
        }
        if r.no_invariant_violated == Some(false) {
            self.problem(
                path.key("no_invariant_violated"),
                "`false` requires nothing: write `true`, or leave the requirement out",
            );
        }
        if let Some(s) = &r.success {
            let p = path.key("success");
            self.route_ref(p.key("route"), &s.route);
            let x = s.at_least_percent;
            if !(x.is_finite() && x > 0.0 && x <= 100.0) {
                self.problem(
                    p.key("at_least_percent"),
                    format!(
                        "a success rate is a percent above 0 and at most 100, got {}",
                        num(x)
                    ),
                );
            }
            self.span(&p, s.over, s.except_after_fault, "over");
        }
        if let Some(l) = &r.latency {
            let p = path.key("latency");
            self.route_ref(p.key("route"), &l.route);
            let allowed: &[f64] = if l.per_window {
                &WINDOW_QUANTILES
            } else {
                &RUN_QUANTILES
            };
            if !allowed.contains(&l.quantile) {
                let listed: Vec<String> = allowed.iter().map(num).collect();
                let why = if l.per_window {
                    "the time series keeps these per window"
                } else {
                    "summary.json keeps these"
                };
                self.problem(
                    p.key("quantile"),
                    format!(
                        "quantile {} is not measured: use one of {} ({why})",
                        num(l.quantile),
                        listed.join(", ")
                    ),
                );
            }
            self.positive_duration(p.key("at_most"), l.at_most);
            if l.except_after_fault.is_some() && !l.per_window {
                self.problem(
                    p.key("except_after_fault"),
                    "`except_after_fault` leaves windows out: it needs \"per_window\": true",
                );
            }
            if let Some(grace) = l.except_after_fault {
                self.positive_duration(p.key("except_after_fault"), grace);
            }
        }
        if let Some(a) = &r.amplification {
            let p = path.key("amplification");
            let targets = [
                ("route", a.route.is_some()),
                ("service", a.service.is_some()),
                ("edge", a.edge.is_some()),
            ];
            if targets.iter().filter(|t| t.1).count() != 1 {
                self.problem(
                    p.clone(),
                    "amplification is of exactly one of `route`, `service` and `edge`",
                );
            }
            if let Some(route) = &a.route {
                self.route_ref(p.key("route"), route);
            }
            if let Some(service) = &a.service {
                self.service_ref(p.key("service"), service);
            }
            if let Some(edge) = &a.edge {
                let e = p.key("edge");
                let from = self.service_ref(e.key("from"), &edge.from);
                let to = self.service_ref(e.key("to"), &edge.to);
                if from && to {
                    let calls = super::callees(&self.scenario.services[&edge.from]);
                    if !calls.contains(&edge.to.as_str()) {
                        self.problem(
                            e,
                            format!(
                                "`{}` makes no call to `{}`: there is no such edge",
                                shown(&edge.from),
                                shown(&edge.to)
                            ),
                        );
                    }
                }
            }
            if !(a.at_most.is_finite() && a.at_most >= 0.0) {
                self.problem(
                    p.key("at_most"),
                    format!(
                        "an amplification is attempts per call, 0 or more, got {}",
                        num(a.at_most)
                    ),
                );
            }
            self.span(&p, a.over, a.except_after_fault, "over");
        }
    }

    /// A route named as `workload.routes` name them (its `name`, else its
    /// service).
    fn route_ref(&mut self, path: JsonPath, name: &str) {
        let routes: Vec<&str> = self
            .scenario
            .workload
            .routes
            .iter()
            .map(|r| r.name.as_deref().unwrap_or(&r.service))
            .collect();
        if routes.contains(&name) {
            return;
        }
        let hint = did_you_mean(name, routes.iter().copied())
            .map(|s| format!("; did you mean `{}`?", shown(s)))
            .unwrap_or_default();
        let known: Vec<String> = routes.iter().map(|r| shown(r)).collect();
        self.problem(
            path,
            format!(
                "unknown route `{}`{hint} (routes: {})",
                shown(name),
                known.join(", ")
            ),
        );
    }

    /// A sliding span and its exclusion after faults (see the module doc).
    fn span(
        &mut self,
        path: &JsonPath,
        over: Option<SimDuration>,
        grace: Option<SimDuration>,
        field: &str,
    ) {
        let s = self.scenario;
        if let Some(over) = over {
            let at = path.key(field);
            let window = s.window;
            if over.is_zero() {
                self.problem(at, "must be longer than zero");
            } else if !window.is_zero() && over.as_nanos() % window.as_nanos() != 0 {
                let below = over.as_nanos() / window.as_nanos() * window.as_nanos();
                let above = below + window.as_nanos();
                let fix = if below == 0 {
                    format!("at least one window, {window}")
                } else {
                    format!(
                        "{} or {}",
                        SimDuration::from_nanos(below),
                        SimDuration::from_nanos(above)
                    )
                };
                self.problem(
                    at,
                    format!(
                        "{over} is not a whole number of windows of {window}: the time series measures whole windows, so use {fix} (or change `window`)"
                    ),
                );
            } else if over > s.duration {
                self.problem(
                    at,
                    format!(
                        "{} is longer than the run ({}): no window of it fits",
                        over.in_seconds(),
                        s.duration.in_seconds()
                    ),
                );
            }
        }
        if let Some(grace) = grace {
            let at = path.key("except_after_fault");
            if over.is_none() {
                self.problem(
                    at,
                    format!(
                        "`except_after_fault` leaves windows out of a sliding span: it needs `{field}`"
                    ),
                );
            } else {
                self.positive_duration(at, grace);
            }
        }
    }
}
