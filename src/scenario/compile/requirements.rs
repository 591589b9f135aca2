//! The requirements of a scenario, compiled: every route and service named
//! becomes an index, a percent becomes a fraction, and each requirement
//! carries the words it is reported with. Judged by `report::requirements`.

use super::*;

/// What a requirement is about and how it is bounded.
#[derive(Clone, Debug, PartialEq)]
pub enum RequirementKind {
    /// A route's success rate is at least `at_least` (a fraction).
    Success {
        /// The route's index (file order).
        route: u32,
        /// The least success rate, a fraction.
        at_least: f64,
        /// Over every sliding span of this many windows (none: the run).
        span: Option<Span>,
    },
    /// A quantile of a route's latency is at most `at_most`.
    Latency {
        /// The route's index.
        route: u32,
        /// The quantile, a fraction (0.99).
        quantile: f64,
        /// The largest latency allowed.
        at_most: SimDuration,
        /// Judged window by window (a span of one window) or over the run.
        span: Option<Span>,
    },
    /// Attempts per call are at most `at_most`.
    Amplification {
        /// Of what.
        target: AmplificationTarget,
        /// The bound.
        at_most: f64,
        /// Over every sliding span (none: the run).
        span: Option<Span>,
    },
    /// The run did not stop on a violated invariant.
    NoInvariantViolated,
    /// Every measurable fault recovered within `at_most` of its end.
    TimeToRecover {
        /// The longest time to recover allowed.
        at_most: SimDuration,
    },
    /// No measurable fault was left unrecovered at the horizon.
    NotMetastable,
}

/// What an amplification is measured on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AmplificationTarget {
    /// A route: its attempts per request.
    Route(u32),
    /// A service: requests reaching it per call made to it.
    Service(u32),
    /// Every edge from one service to another: attempts per call.
    Edge {
        /// The caller's name.
        from: String,
        /// The callee's name.
        to: String,
    },
}

/// A sliding span of time-series windows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Span {
    /// Windows in the span (at least 1).
    pub windows: u64,
    /// Windows that overlap `[fault start, fault start + grace)` are left
    /// out.
    pub grace: Option<SimDuration>,
}

/// One requirement, compiled.
#[derive(Clone, Debug, PartialEq)]
pub struct CompiledRequirement {
    /// Its name, or its description when it has none.
    pub name: String,
    /// The requirement in words, e.g. "success of route `api` ≥ 99.5% over
    /// every 60s window, except 30s after a fault starts".
    pub text: String,
    /// What it requires.
    pub kind: RequirementKind,
}

fn span(
    window: SimDuration,
    over: Option<SimDuration>,
    grace: Option<SimDuration>,
) -> Option<Span> {
    let over = over?;
    Some(Span {
        windows: (over.as_nanos() / window.as_nanos().max(1)).max(1),
        grace,
    })
}

fn span_words(over: Option<SimDuration>, grace: Option<SimDuration>) -> String {
    let mut words = match over {
        Some(over) => format!(" over every {} window", over.in_seconds()),
        None => " over the whole run".to_string(),
    };
    if let Some(grace) = grace {
        words.push_str(&format!(
            ", except {} after a fault starts",
            grace.in_seconds()
        ));
    }
    words
}

/// Compiles the requirements of a scenario that validated (a name that
/// does not resolve is a problem, never a panic).
pub(super) fn compile_requirements(
    scenario: &Scenario,
    problems: &mut Problems,
) -> Vec<CompiledRequirement> {
    let routes: Vec<&str> = scenario
        .workload
        .routes
        .iter()
        .map(|r| r.name.as_deref().unwrap_or(&r.service))
        .collect();
    let services: Vec<&str> = scenario.services.keys().map(String::as_str).collect();
    let window = scenario.window;
    let mut out = Vec::with_capacity(scenario.requirements.len());
    for (i, r) in scenario.requirements.iter().enumerate() {
        let path = JsonPath::root().key("requirements").index(i);
        let mut route = |name: &str, at: JsonPath| match routes.iter().position(|r| *r == name) {
            Some(i) => i as u32,
            None => {
                problems.push((at, format!("unknown route `{name}`")));
                0
            }
        };
        let (text, kind) = if let Some(s) = &r.success {
            let index = route(&s.route, path.key("success").key("route"));
            (
                format!(
                    "success of route `{}` ≥ {}%{}",
                    s.route,
                    s.at_least_percent,
                    span_words(s.over, s.except_after_fault)
                ),
                RequirementKind::Success {
                    route: index,
                    at_least: s.at_least_percent / 100.0,
                    span: span(window, s.over, s.except_after_fault),
                },
            )
        } else if let Some(l) = &r.latency {
            let index = route(&l.route, path.key("latency").key("route"));
            let over = l.per_window.then_some(window);
            (
                format!(
                    "p{} latency of route `{}` ≤ {}{}",
                    l.quantile,
                    l.route,
                    l.at_most,
                    span_words(over, l.except_after_fault)
                ),
                RequirementKind::Latency {
                    route: index,
                    quantile: l.quantile / 100.0,
                    at_most: l.at_most,
                    span: span(window, over, l.except_after_fault),
                },
            )
        } else if let Some(a) = &r.amplification {
            let (what, target) = match (&a.route, &a.service, &a.edge) {
                (Some(name), _, _) => (
                    format!("route `{name}`"),
                    AmplificationTarget::Route(route(name, path.key("amplification").key("route"))),
                ),
                (None, Some(name), _) => match services.binary_search(&name.as_str()) {
                    Ok(i) => (
                        format!("service `{name}`"),
                        AmplificationTarget::Service(i as u32),
                    ),
                    Err(_) => {
                        problems.push((
                            path.key("amplification").key("service"),
                            format!("unknown service `{name}`"),
                        ));
                        continue;
                    }
                },
                (None, None, Some(edge)) => (
                    format!("edge `{}->{}`", edge.from, edge.to),
                    AmplificationTarget::Edge {
                        from: edge.from.clone(),
                        to: edge.to.clone(),
                    },
                ),
                (None, None, None) => {
                    problems.push((
                        path.key("amplification"),
                        "amplification of nothing".to_string(),
                    ));
                    continue;
                }
            };
            (
                format!(
                    "retry amplification of {what} ≤ {}{}",
                    a.at_most,
                    span_words(a.over, a.except_after_fault)
                ),
                RequirementKind::Amplification {
                    target,
                    at_most: a.at_most,
                    span: span(window, a.over, a.except_after_fault),
                },
            )
        } else if let Some(t) = &r.time_to_recover {
            (
                format!("every measurable fault recovers within {}", t.at_most),
                RequirementKind::TimeToRecover { at_most: t.at_most },
            )
        } else if r.not_metastable == Some(true) {
            ("not metastable".to_string(), RequirementKind::NotMetastable)
        } else if r.no_invariant_violated == Some(true) {
            (
                "no invariant violated".to_string(),
                RequirementKind::NoInvariantViolated,
            )
        } else {
            problems.push((path, "a requirement needs exactly one kind".to_string()));
            continue;
        };
        out.push(CompiledRequirement {
            name: r.name.clone().unwrap_or_else(|| text.clone()),
            text,
            kind,
        });
    }
    out
}
