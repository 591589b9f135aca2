//! Judging a run against its scenario's `requirements`: each one passes or
//! fails, with the value measured, the bound, and for a sliding one the
//! worst span and the first that failed. `meshsim run` exits with 1 when one
//! fails; summary.json lists the verdicts in `requirements`; the table and
//! the page show them.
//!
//! A [`Judge`] is a [`Recorder`]: handed to the world with the report's own
//! recorders, it judges the sliding requirements as the windows close
//! (`windows.rs`), in memory bounded by each span's windows. The whole-run
//! ones are judged from the [`Summary`] afterwards ([`Judge::verdicts`]).
//! Nothing here depends on the CLI, so `compare` can judge each variant's
//! runs the same way.
//!
//! **Adding a kind** (time to recover, not metastable): a variant of
//! `scenario::RequirementKind`, and its arm in [`Judge::verdicts`] reading
//! the summary's figure (a whole-run requirement needs nothing in
//! `windows.rs`).

mod windows;

use std::fmt::Write;

use serde::Serialize;

use crate::kernel::{SimDuration, SimTime};
use crate::metrics::{ClosedWindow, Recorder, SeriesNames, round6};
use crate::scenario::{AmplificationTarget, Compiled, RequirementKind};

use super::summary::Summary;
pub use windows::Measured;
use windows::Sliding;

/// A span in summary.json.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct WindowSummary {
    /// Start of its first window, seconds.
    pub start_s: f64,
    /// End of its last window, seconds.
    pub end_s: f64,
    /// The value measured over it, in the requirement's unit.
    pub value: f64,
}

/// One requirement's verdict in summary.json.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct RequirementSummary {
    /// Its name (its description when the file gives none).
    pub name: String,
    /// The requirement in words.
    pub requirement: String,
    /// Whether the run met it.
    pub passed: bool,
    /// The worst value measured (the whole run's, or the worst span's), in
    /// `unit`; null when there was nothing to measure.
    pub value: Option<f64>,
    /// The bound, in `unit`.
    pub bound: Option<f64>,
    /// `%`, `ms`, `attempts/call`, or empty.
    pub unit: &'static str,
    /// Sliding only: the worst span.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub worst_window: Option<WindowSummary>,
    /// Sliding only: the first span that failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_failed_window: Option<WindowSummary>,
    /// Sliding only: spans judged (a span with nothing to measure is not).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub windows_judged: Option<u64>,
    /// Sliding only: spans that failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub windows_failed: Option<u64>,
    /// Why it failed or what was measured, in words.
    pub detail: String,
}

/// Judges the requirements of one run (see the module doc).
#[derive(Clone, Debug)]
pub struct Judge {
    sliding: Sliding,
}

impl Recorder for Judge {
    fn start(&mut self, names: &SeriesNames) {
        self.sliding.start(names);
    }

    fn window(&mut self, window: &ClosedWindow) {
        self.sliding.window(window);
    }
}

fn secs(t: SimTime) -> f64 {
    round6(t.as_secs_f64())
}

/// A value in a requirement's unit, for people.
fn shown(value: f64, unit: &str) -> String {
    match unit {
        "%" => format!("{value:.3}%"),
        "ms" => format!("{value:.3} ms"),
        _ => format!("{value:.3}"),
    }
}

impl Judge {
    /// A judge of `compiled`'s requirements (one that records nothing when
    /// it has none).
    pub fn new(compiled: &Compiled) -> Judge {
        Judge {
            sliding: Sliding::new(compiled),
        }
    }

    /// Every requirement's verdict, in file order, once the run is over and
    /// summarised.
    pub fn verdicts(&mut self, compiled: &Compiled, summary: &Summary) -> Vec<RequirementSummary> {
        self.sliding.finish();
        let route_name = |r: u32| {
            let route = &compiled.scenario().workload.routes[r as usize];
            route.name.clone().unwrap_or_else(|| route.service.clone())
        };
        let mut out = Vec::with_capacity(compiled.requirements().len());
        for (i, r) in compiled.requirements().iter().enumerate() {
            let mut verdict = RequirementSummary {
                name: r.name.clone(),
                requirement: r.text.clone(),
                passed: false,
                value: None,
                bound: None,
                unit: "",
                worst_window: None,
                first_failed_window: None,
                windows_judged: None,
                windows_failed: None,
                detail: String::new(),
            };
            // (value of the whole run, bound, unit, passes when ≥ bound)
            let whole: Option<(Option<f64>, f64, &'static str, bool)> = match &r.kind {
                RequirementKind::Success {
                    route,
                    at_least,
                    span,
                } => {
                    let s = summary.routes.get(&route_name(*route));
                    let value = s
                        .filter(|s| s.requests > s.in_flight_at_end)
                        .map(|s| s.success_ratio * 100.0);
                    let bound = at_least * 100.0;
                    if span.is_some() {
                        verdict.unit = "%";
                        verdict.bound = Some(round6(bound));
                        None
                    } else {
                        Some((value, bound, "%", true))
                    }
                }
                RequirementKind::Latency {
                    route,
                    quantile,
                    at_most,
                    span,
                } => {
                    let bound = at_most.as_secs_f64() * 1e3;
                    if span.is_some() {
                        verdict.unit = "ms";
                        verdict.bound = Some(round6(bound));
                        None
                    } else {
                        let latency = summary
                            .routes
                            .get(&route_name(*route))
                            .map(|s| &s.latency_ms)
                            .filter(|l| l.count > 0);
                        let value = latency.map(|l| {
                            if *quantile < 0.6 {
                                l.p50
                            } else if *quantile < 0.95 {
                                l.p90
                            } else if *quantile < 0.995 {
                                l.p99
                            } else {
                                l.p999
                            }
                        });
                        Some((value, bound, "ms", false))
                    }
                }
                RequirementKind::Amplification {
                    target,
                    at_most,
                    span,
                } => {
                    if span.is_some() {
                        verdict.unit = "attempts/call";
                        verdict.bound = Some(round6(*at_most));
                        None
                    } else {
                        let value = match target {
                            AmplificationTarget::Route(r) => summary
                                .routes
                                .get(&route_name(*r))
                                .filter(|s| s.requests > 0)
                                .map(|s| s.attempts.per_call),
                            AmplificationTarget::Service(s) => summary
                                .services
                                .iter()
                                .nth(*s as usize)
                                .filter(|(_, s)| s.calls > 0)
                                .map(|(_, s)| s.amplification),
                            AmplificationTarget::Edge { from, to } => {
                                let base = format!("{from}->{to}");
                                let (mut attempts, mut calls) = (0u64, 0u64);
                                for (name, e) in &summary.edges {
                                    let matches = name == &base
                                        || name.strip_prefix(base.as_str()).is_some_and(|rest| {
                                            rest.starts_with(" [") || rest.starts_with(" #")
                                        });
                                    if matches {
                                        attempts += e.attempts.attempts;
                                        calls += e.calls;
                                    }
                                }
                                (calls > 0).then(|| attempts as f64 / calls as f64)
                            }
                        };
                        Some((value, *at_most, "attempts/call", false))
                    }
                }
                RequirementKind::TimeToRecover { at_most } => {
                    judge_recovery(&mut verdict, summary, *at_most);
                    out.push(verdict);
                    continue;
                }
                RequirementKind::NotMetastable => {
                    verdict.passed = !summary.metastable;
                    let unrecovered: Vec<String> = summary
                        .recovery
                        .faults
                        .iter()
                        .filter(|f| f.status == "not_recovered")
                        .map(|f| fault_words(summary, f.fault))
                        .collect();
                    verdict.detail = if unrecovered.is_empty() {
                        "every measurable fault recovered by the end of the run".to_string()
                    } else {
                        format!(
                            "metastable: not recovered by the end of the run after {}",
                            unrecovered.join(", ")
                        )
                    };
                    out.push(verdict);
                    continue;
                }
                RequirementKind::NoInvariantViolated => {
                    verdict.passed = summary.stop_reason != "stopped";
                    verdict.detail = match &summary.stop_cause {
                        Some(c) if !verdict.passed => format!(
                            "the run stopped at {:.6} s: {}: {}",
                            c.at_s, c.entity, c.cause
                        ),
                        _ => "no invariant was violated".to_string(),
                    };
                    out.push(verdict);
                    continue;
                }
            };
            if let Some((value, bound, unit, at_least)) = whole {
                verdict.unit = unit;
                verdict.bound = Some(round6(bound));
                verdict.value = value.map(round6);
                let (sign, fails) = if at_least { ("≥", "<") } else { ("≤", ">") };
                match value {
                    None => {
                        verdict.detail =
                            "nothing to measure: no request of it ended in the run".to_string();
                    }
                    Some(v) => {
                        verdict.passed = if at_least { v >= bound } else { v <= bound };
                        let relation = if verdict.passed { sign } else { fails };
                        verdict.detail = format!(
                            "{} over the whole run {relation} {}",
                            shown(v, unit),
                            shown(bound, unit)
                        );
                    }
                }
                out.push(verdict);
                continue;
            }
            // A sliding requirement.
            let tracker = self.sliding.trackers.iter().find(|t| t.requirement == i);
            let Some(t) = tracker else {
                verdict.detail = "not judged".to_string();
                out.push(verdict);
                continue;
            };
            let scale = if verdict.unit == "%" { 100.0 } else { 1.0 };
            let window = |m: &Measured| WindowSummary {
                start_s: secs(m.start),
                end_s: secs(m.end),
                value: round6(m.value * scale),
            };
            verdict.windows_judged = Some(t.judged);
            verdict.windows_failed = Some(t.failed);
            verdict.worst_window = t.worst.as_ref().map(window);
            verdict.first_failed_window = t.first_failed.as_ref().map(window);
            verdict.value = verdict.worst_window.as_ref().map(|w| w.value);
            verdict.passed = t.judged > 0 && t.failed == 0;
            let bound = verdict.bound.unwrap_or(0.0);
            let unit = verdict.unit;
            let at_least = unit == "%";
            let (sign, fails) = if at_least { ("≥", "<") } else { ("≤", ">") };
            verdict.detail = match (&verdict.worst_window, &verdict.first_failed_window) {
                (None, _) => {
                    "nothing to measure: no window had a request end outside the exclusions"
                        .to_string()
                }
                (Some(w), None) => format!(
                    "worst window {}–{} s: {} {sign} {} ({} windows judged{})",
                    w.start_s,
                    w.end_s,
                    shown(w.value, unit),
                    shown(bound, unit),
                    t.judged,
                    if t.partial {
                        ", the run shorter than the span"
                    } else {
                        ""
                    }
                ),
                (Some(w), Some(f)) => format!(
                    "failed in {} of {} windows; first {}–{} s: {} {fails} {}; worst {}–{} s: {}",
                    t.failed,
                    t.judged,
                    f.start_s,
                    f.end_s,
                    shown(f.value, unit),
                    shown(bound, unit),
                    w.start_s,
                    w.end_s,
                    shown(w.value, unit)
                ),
            };
            out.push(verdict);
        }
        out
    }
}

/// A fault in words: its index, kind, target and start ("fault 0 (crash:
/// back, at 30 s)").
fn fault_words(summary: &Summary, fault: usize) -> String {
    match summary.faults.get(fault) {
        Some(f) => format!(
            "fault {fault} ({}: {}, at {} s)",
            f.kind, f.target, f.start_s
        ),
        None => format!("fault {fault}"),
    }
}

/// Every measurable fault recovered within `at_most`: the value is the
/// longest time to recover, a fault not recovered counting from its end to
/// the horizon (a lower bound of its real time), and the faults that cannot
/// be measured are named.
fn judge_recovery(verdict: &mut RequirementSummary, summary: &Summary, at_most: SimDuration) {
    let bound = at_most.as_secs_f64();
    verdict.unit = "s";
    verdict.bound = Some(round6(bound));
    let mut worst: Option<(f64, usize, bool)> = None;
    let mut unmeasurable = Vec::new();
    for f in &summary.recovery.faults {
        let time = match f.status {
            "recovered" => f.time_to_recover_s.map(|t| (t, true)),
            "not_recovered" => summary
                .faults
                .get(f.fault)
                .and_then(|fault| fault.end_s)
                .map(|end| ((summary.duration_s - end).max(0.0), false)),
            _ => {
                unmeasurable.push(format!(
                    "{} ({})",
                    fault_words(summary, f.fault),
                    f.reason.unwrap_or("not measurable").replace('_', " ")
                ));
                None
            }
        };
        if let Some((t, recovered)) = time
            && worst.is_none_or(|(w, _, r)| t > w || (t == w && r && !recovered))
        {
            worst = Some((t, f.fault, recovered));
        }
    }
    let left_out = if unmeasurable.is_empty() {
        String::new()
    } else {
        format!("; not measurable: {}", unmeasurable.join(", "))
    };
    match worst {
        None => {
            verdict.passed = true;
            verdict.detail = format!("no fault whose recovery can be measured{left_out}");
        }
        Some((t, fault, recovered)) => {
            verdict.value = Some(round6(t));
            verdict.passed = recovered && t <= bound;
            verdict.detail = if recovered {
                format!(
                    "longest: {} s after {} {} {} s{left_out}",
                    round6(t),
                    fault_words(summary, fault),
                    if verdict.passed { "≤" } else { ">" },
                    round6(bound)
                )
            } else {
                format!(
                    "not recovered {} s after {} ended, when the run did (metastable){left_out}",
                    round6(t),
                    fault_words(summary, fault)
                )
            };
        }
    }
}

/// The verdicts as the CLI prints them: one line each, `ok` or `FAILED`,
/// the requirement and what was measured.
pub fn render(verdicts: &[RequirementSummary]) -> String {
    let mut out = String::new();
    if verdicts.is_empty() {
        return out;
    }
    let failed = verdicts.iter().filter(|v| !v.passed).count();
    let _ = writeln!(
        out,
        "requirements: {} of {} met",
        verdicts.len() - failed,
        verdicts.len()
    );
    for v in verdicts {
        let mark = if v.passed { "ok    " } else { "FAILED" };
        let name = if v.name == v.requirement {
            v.requirement.clone()
        } else {
            format!("{} ({})", v.name, v.requirement)
        };
        let _ = writeln!(out, "  {mark} {name}: {}", v.detail);
    }
    out
}
