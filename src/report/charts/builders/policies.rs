//! The charts of what the resilience policies did: retry amplification
//! (requests reaching a service per call made to it) and the attempts
//! behind the calls of each route and edge.

use super::super::data::{Data, active, segments, stack, steps, top, total};
use super::super::panel::{Legend, Line, Panel, Spec};
use super::super::style::{BLACK_OI, BLUE, NOTE, ORANGE, PURPLE, SKY_BLUE, VERMILLION, short};
use crate::metrics::Counts;

/// The amplification chart's y axis, and the start of its legend: one
/// definition in both places.
const AMPLIFICATION_AXIS: &str = "requests ÷ calls";

impl Data<'_> {
    /// Service panels of `requests ÷ calls` per window: one per service that
    /// is called on an edge whose policy retries or hedges (elsewhere a
    /// ratio other than 1 is refusals or message loss, not amplification),
    /// and where those callers' policies retried, hedged or refused
    /// something, or whose requests differ from its calls by more than 1%
    /// over the run. Elsewhere the ratio is 1 and a panel would show a flat
    /// line. At most [`MAX_PANELS`], those furthest from 1.
    ///
    /// [`MAX_PANELS`]: super::super::style::MAX_PANELS
    pub(super) fn amplification(&self) -> Option<Spec> {
        let candidates: Vec<(usize, f64)> = self
            .services
            .iter()
            .enumerate()
            .filter_map(|(s, windows)| {
                let calls = total(windows, |c| c.calls);
                if calls == 0 {
                    return None;
                }
                let overall = total(windows, |c| c.requests) as f64 / calls as f64;
                let callers: Vec<usize> = self
                    .caller_edges()
                    .filter(|&e| self.callee(e) == Some(s as u32))
                    .collect();
                if !callers.iter().any(|&e| self.plan.amplifies(e)) {
                    return None;
                }
                let shaped = callers
                    .iter()
                    .any(|&e| total(self.caller_windows(e), policy_acted) > 0);
                (shaped || (overall - 1.0).abs() > 0.01).then_some((s, overall))
            })
            .collect();
        let scores: Vec<f64> = candidates
            .iter()
            .map(|(_, overall)| overall.max(1e-9).ln().abs())
            .collect();
        let kept = top(&scores);
        let panels: Vec<Panel> = kept
            .iter()
            .map(|&k| {
                let (s, overall) = candidates[k];
                let ratio = segments(&self.services[s], |w| {
                    let c = &w.row.counts;
                    (c.calls > 0).then(|| c.requests as f64 / c.calls as f64)
                });
                Panel {
                    title: format!(
                        "service {}: {} requests per call over the run",
                        short(&self.run.service_names[s]),
                        ratio_text(overall)
                    ),
                    lines: vec![Line::new(BLUE, 2, ratio)],
                    reference: Some(1.0),
                    min_top: 1.25,
                    ..Panel::default()
                }
            })
            .collect();
        let mut legend = vec![
            Legend::line(
                format!("{AMPLIFICATION_AXIS}: requests reaching the service per call made to it"),
                BLUE,
            ),
            Legend::dashed("1: every call sent once", NOTE),
        ];
        // Said where it is seen: a ratio below 1 in some window.
        let below_one = panels.iter().any(|p: &Panel| {
            p.lines
                .iter()
                .flat_map(|l| l.segments.iter().flatten())
                .any(|point| point.1 < 0.99)
        });
        if below_one {
            legend.push(Legend::note(
                "below 1: calls refused by the caller (breaker, bulkhead, limits) or lost on the network, not retries",
            ));
        }
        if kept.len() < candidates.len() {
            legend.push(Legend::note(format!(
                "{} more services not shown (closest to 1)",
                candidates.len() - kept.len()
            )));
        }
        Spec::new(4, AMPLIFICATION_AXIS, legend, panels)
    }

    /// Per route and edge whose policy retried or hedged (or was refused a
    /// retry): its attempts per second by kind, stacked, against its calls.
    /// At most [`MAX_PANELS`], those with the most retries and hedges.
    ///
    /// [`MAX_PANELS`]: super::super::style::MAX_PANELS
    pub(super) fn attempts(&self) -> Option<Spec> {
        let candidates: Vec<(usize, u64)> = self
            .caller_edges()
            .filter_map(|e| {
                let extra = total(self.caller_windows(e), |c| {
                    c.retries + c.hedges + c.retries_denied
                });
                (extra > 0).then_some((e, extra))
            })
            .collect();
        let scores: Vec<f64> = candidates.iter().map(|(_, n)| *n as f64).collect();
        let kept = top(&scores);
        let mut refused = false;
        let panels: Vec<Panel> = kept
            .iter()
            .map(|&k| {
                let e = candidates[k].0;
                let windows = self.caller_windows(e);
                refused |= total(windows, |c| {
                    c.breaker_open + c.bulkhead_full + c.throttled + c.rate_limited
                }) > 0;
                let calls = total(windows, |c| c.requests);
                let attempts = total(windows, |c| c.attempts);
                let per_call = if calls > 0 {
                    format!(
                        ": {} attempts per call",
                        ratio_text(attempts as f64 / calls as f64)
                    )
                } else {
                    String::new()
                };
                let mut lines = vec![Line::new(
                    BLACK_OI,
                    1,
                    vec![steps(windows, |w| w.rate(w.row.counts.requests))],
                )];
                if let Some(denied) = active(windows, |c| c.retries_denied) {
                    lines.push(Line::new(
                        VERMILLION,
                        2,
                        vec![steps(denied, |w| w.rate(w.row.counts.retries_denied))],
                    ));
                }
                Panel {
                    title: format!("{}{per_call}", self.edge_title(e)),
                    bands: stack(
                        windows,
                        &[
                            (SKY_BLUE, |r| {
                                let c = &r.counts;
                                c.attempts.saturating_sub(c.retries + c.hedges)
                            }),
                            (ORANGE, |r| r.counts.retries),
                            (PURPLE, |r| r.counts.hedges),
                        ],
                    ),
                    lines,
                    ..Panel::default()
                }
            })
            .collect();
        let mut legend = vec![
            Legend::area("first attempts/s", SKY_BLUE),
            Legend::area("retries/s", ORANGE),
            Legend::area("hedges/s", PURPLE),
            Legend::line("calls/s", BLACK_OI),
            Legend::line("retries denied by a budget or throttle/s", VERMILLION),
        ];
        if refused {
            legend.push(Legend::note(
                "calls/s above first attempts/s: calls refused locally",
            ));
        }
        if kept.len() < candidates.len() {
            legend.push(Legend::note(format!(
                "{} more routes and edges not shown (fewest retries and hedges)",
                candidates.len() - kept.len()
            )));
        }
        Spec::new(5, "attempts/s", legend, panels)
    }
}

/// What a policy does to the number of requests reaching a service:
/// retries, hedges, denied retries and local refusals.
fn policy_acted(c: &Counts) -> u64 {
    c.retries
        + c.hedges
        + c.retries_denied
        + c.breaker_open
        + c.bulkhead_full
        + c.throttled
        + c.rate_limited
}

/// A ratio for a caption: two decimals.
fn ratio_text(v: f64) -> String {
    format!("{v:.2}")
}

#[cfg(test)]
mod tests {
    use super::super::super::fixtures::{names, outcome, render, resilient};
    use super::super::super::plan::Plan;
    use super::super::legend;
    use super::*;
    use crate::metrics::EntityKind;

    #[test]
    fn runs_without_policies_or_breakers_have_no_resilience_charts() {
        // No edges at all.
        let files = render(&outcome(5, true, &["orders", "payments"])).unwrap();
        assert!(names(&files).iter().all(|n| !n.contains("amplification")
            && !n.contains("attempts")
            && !n.contains("breakers")));
        // Edges with policies but no breaker: no breaker chart.
        let files = render(&resilient(5, 0)).unwrap();
        let names = names(&files);
        assert!(names.contains(&"charts/amplification.png"));
        assert!(!names.iter().any(|n| n.contains("breakers")), "{names:?}");
        // Calls made but the policy did nothing and every call arrived once.
        let mut quiet = resilient(5, 0);
        for r in &mut quiet.rows {
            r.counts.retries = 0;
            r.counts.hedges = 0;
            r.counts.retries_denied = 0;
            r.counts.breaker_open = 0;
            r.counts.rate_limited = 0;
            if r.kind == EntityKind::Service {
                r.counts.requests = r.counts.calls;
            }
        }
        let plan = Plan::unknown();
        let data = Data::new(&quiet, &plan);
        assert!(data.amplification().is_none());
        assert!(data.attempts().is_none());
    }

    /// A service's `requests ÷ calls` says something about retries only
    /// when a caller's policy can retry or hedge; elsewhere a ratio below 1
    /// is refusals or message loss. Axis and legend give one definition.
    #[test]
    fn amplification_shows_only_services_called_through_retries_or_hedges() {
        let mut run = resilient(6, 0);
        // payments is called on edge 1, orders->payments [p]; in window 2
        // half its calls are refused or lost.
        for r in &mut run.rows {
            if r.kind == EntityKind::Service && r.entity == 1 && r.start.as_nanos() == 2_000_000_000
            {
                r.counts.requests = 25;
            }
        }
        let plain = Plan::retrying(vec![true, false]);
        assert!(Data::new(&run, &plain).amplification().is_none());
        let retrying = Plan::retrying(vec![false, true]);
        let spec = Data::new(&run, &retrying).amplification().unwrap();
        assert_eq!(spec.panels.len(), 1);
        assert!(spec.panels[0].title.starts_with("service payments"));
        assert_eq!(spec.y_desc, "requests ÷ calls");
        let labels = legend(&spec);
        assert!(labels[0].starts_with(spec.y_desc), "{labels:?}");
        assert!(
            labels
                .iter()
                .any(|l| l.starts_with("below 1: calls refused")),
            "{labels:?}"
        );
    }
}
