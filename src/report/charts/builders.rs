//! The seven charts, each built from [`Data`] as a [`Spec`]: route latency
//! and throughput, service queues and outcomes, retry amplification, the
//! attempts behind the calls, and circuit-breaker states.

use super::breakers::{STATES, is_open, raster, state_counts, unit_timelines};
use super::data::{
    Busiest, Data, Window, active, midpoints, segments, stack, stack_spans, steps, top, total,
};
use super::panel::{Lane, Legend, Line, Panel, Spec, strips};
use super::plan::Offered;
use super::style::{
    BLACK_OI, BLUE, GREEN, MAX_BANDS, NOTE, ORANGE, PURPLE, SKY_BLUE, VERMILLION, YELLOW, short,
    tick,
};
use crate::metrics::Counts;

/// The amplification chart's y axis, and the start of its legend: one
/// definition in both places.
const AMPLIFICATION_AXIS: &str = "requests ÷ calls";

impl Data<'_> {
    pub(super) fn charts(&self) -> Vec<Spec> {
        let notes = self.strip_notes();
        let mut specs: Vec<Spec> = [
            self.latency(),
            self.throughput(),
            self.service_queues(),
            self.service_outcomes(),
            self.amplification(),
            self.attempts(),
            self.breakers(),
        ]
        .into_iter()
        .flatten()
        .collect();
        for spec in &mut specs {
            spec.legend
                .extend(notes.iter().map(|n| Legend::note(n.clone())));
        }
        specs
    }

    /// Notes for the strips' bars drawn without a label (more at once than
    /// a strip has lanes).
    fn strip_notes(&self) -> Vec<String> {
        strips(self)
            .iter()
            .filter(|s| s.unlabelled > 0)
            .map(|s| match s.name {
                "faults" => format!(
                    "{} faults not labelled, too many at once (the page's fault timeline lists every one)",
                    s.unlabelled
                ),
                _ => format!("{} load changes not labelled, too many at once", s.unlabelled),
            })
            .collect()
    }

    /// A panel's caption for route `i`, or for the "other" routes.
    fn route_title(&self, i: Option<usize>, busiest: &Busiest) -> String {
        match i {
            Some(i) => format!("route {}", self.run.route_names[i]),
            None => format!("other: {} routes with less traffic", busiest.folded),
        }
    }

    /// A panel's caption for service `i`, or for the "other" services.
    fn service_title(&self, i: Option<usize>, busiest: &Busiest) -> String {
        match i {
            Some(i) => format!("service {}", self.run.service_names[i]),
            None => format!("other: {} services with less traffic", busiest.folded),
        }
    }

    fn latency(&self) -> Option<Spec> {
        let busiest = Busiest::new(&self.routes, |c| c.requests);
        let other = busiest.other();
        let panels = shown(&busiest, &self.routes, &other)
            .into_iter()
            .filter_map(|(i, windows)| {
                let p50 = midpoints(windows, |r| r.latency_ms_p50);
                let p99 = midpoints(windows, |r| r.latency_ms_p99);
                if p50.is_empty() && p99.is_empty() {
                    return None;
                }
                Some(Panel {
                    title: self.route_title(i, &busiest),
                    log: true,
                    bands: Vec::new(),
                    lines: vec![Line::new(VERMILLION, 2, p99), Line::new(BLUE, 2, p50)],
                    ..Panel::default()
                })
            })
            .collect();
        Spec::new(
            0,
            "latency (ms, log scale)",
            with_other(
                vec![
                    Legend::line("p50 (median)", BLUE),
                    Legend::line("p99", VERMILLION),
                ],
                &busiest,
                "routes; their percentiles are means weighted by successes",
            ),
            panels,
        )
    }

    /// Per route: successes against the offered rate (dashed, from the
    /// workload's rate and schedule, the route's share of it), failures
    /// stacked below. A closed loop offers no rate: the legend says so.
    fn throughput(&self) -> Option<Spec> {
        let busiest = Busiest::new(&self.routes, |c| c.requests);
        let other = busiest.other();
        let panels = shown(&busiest, &self.routes, &other)
            .into_iter()
            .filter(|(_, w)| !w.is_empty())
            .map(|(i, windows)| {
                let share = match i {
                    Some(i) => self.plan.share_of([i].into_iter()),
                    None => self
                        .plan
                        .share_of((0..self.routes.len()).filter(|r| !busiest.kept.contains(r))),
                };
                let mut lines = vec![Line::new(
                    GREEN,
                    2,
                    vec![steps(windows, |w| w.rate(w.row.counts.successes))],
                )];
                if let Some(offered) = self.plan.offered_line(share, self.x_max) {
                    lines.push(Line::dashed(BLACK_OI, 2, vec![offered]));
                }
                Panel {
                    title: self.route_title(i, &busiest),
                    log: false,
                    bands: stack(
                        windows,
                        &[
                            (VERMILLION, |r| r.counts.errors),
                            (ORANGE, |r| r.counts.rejected),
                            (PURPLE, |r| r.counts.timeouts),
                            (SKY_BLUE, |r| r.counts.breaker_open),
                            (BLUE, |r| r.counts.bulkhead_full),
                            (YELLOW, |r| r.counts.throttled),
                            (BLACK_OI, |r| r.counts.rate_limited),
                        ],
                    ),
                    lines,
                    ..Panel::default()
                }
            })
            .collect();
        let mut legend = vec![
            Legend::dashed("offered/s (the workload's rate)", BLACK_OI),
            Legend::line("successes/s", GREEN),
            Legend::area("errors/s", VERMILLION),
            Legend::area("rejected/s", ORANGE),
            Legend::area("timeouts/s", PURPLE),
            Legend::area("breaker open/s", SKY_BLUE),
            Legend::area("bulkhead full/s", BLUE),
            Legend::area("throttled/s", YELLOW),
            Legend::area("rate limited/s", BLACK_OI),
        ];
        if let Offered::Closed { users } = self.plan.offered {
            legend.push(Legend::note(format!(
                "closed loop, {users} user{}: no offered rate, each user waits for its reply",
                if users == 1 { "" } else { "s" }
            )));
        }
        legend.extend(with_other(Vec::new(), &busiest, "routes, summed"));
        Spec::new(1, "requests/s", legend, panels)
    }

    fn service_queues(&self) -> Option<Spec> {
        let busiest = Busiest::new(&self.services, |c| c.requests);
        let other = busiest.other();
        let panels = shown(&busiest, &self.services, &other)
            .into_iter()
            .filter(|(_, w)| !w.is_empty())
            .map(|(i, windows)| {
                let in_system = windows
                    .iter()
                    .map(|w| (w.end, w.row.in_flight as f64))
                    .collect();
                let queued = windows
                    .iter()
                    .map(|w| (w.end, w.row.queue_length.unwrap_or(0) as f64))
                    .collect();
                let workers = match i {
                    Some(i) => self.run.service_workers.get(i).copied().unwrap_or(0),
                    None => (0..self.services.len())
                        .filter(|s| !busiest.kept.contains(s))
                        .map(|s| self.run.service_workers.get(s).copied().unwrap_or(0))
                        .sum(),
                };
                Panel {
                    title: format!("{} ({workers} workers)", self.service_title(i, &busiest)),
                    log: false,
                    bands: Vec::new(),
                    lines: vec![
                        Line::new(BLUE, 2, vec![in_system]),
                        Line::new(ORANGE, 2, vec![queued]),
                    ],
                    ..Panel::default()
                }
            })
            .collect();
        Spec::new(
            2,
            "requests",
            vec![
                Legend::line("in system (queued + in service)", BLUE),
                Legend::line("queued", ORANGE),
                Legend::note("sampled at the end of each window"),
            ]
            .into_iter()
            .chain(with_other(Vec::new(), &busiest, "services, summed"))
            .collect(),
            panels,
        )
    }

    fn service_outcomes(&self) -> Option<Spec> {
        let busiest = Busiest::new(&self.services, |c| c.requests);
        let other = busiest.other();
        let panels = shown(&busiest, &self.services, &other)
            .into_iter()
            .filter(|(_, w)| !w.is_empty())
            .map(|(i, windows)| Panel {
                title: self.service_title(i, &busiest),
                log: false,
                bands: stack(
                    windows,
                    &[
                        (VERMILLION, |r| r.counts.errors),
                        (SKY_BLUE, |r| r.counts.dependency),
                        (PURPLE, |r| r.counts.dropped),
                        (ORANGE, |r| r.counts.rejected),
                        (BLUE, |r| r.counts.expired),
                        (YELLOW, |r| r.counts.cancelled),
                    ],
                ),
                lines: vec![
                    Line::new(
                        BLACK_OI,
                        1,
                        vec![steps(windows, |w| w.rate(w.row.counts.requests))],
                    ),
                    Line::new(
                        GREEN,
                        2,
                        vec![steps(windows, |w| w.rate(w.row.counts.successes))],
                    ),
                ],
                ..Panel::default()
            })
            .collect();
        Spec::new(
            3,
            "requests/s",
            vec![
                Legend::line("requests/s", BLACK_OI),
                Legend::line("successes/s", GREEN),
                Legend::area("errors/s", VERMILLION),
                Legend::area("dependency failed/s", SKY_BLUE),
                Legend::area("dropped (crash)/s", PURPLE),
                Legend::area("rejected/s", ORANGE),
                Legend::area("deadline expired/s", BLUE),
                Legend::area("cancelled (hedge lost)/s", YELLOW),
            ]
            .into_iter()
            .chain(with_other(Vec::new(), &busiest, "services, summed"))
            .collect(),
            panels,
        )
    }

    // ----- resilience ------------------------------------------------------

    /// A caption for caller edge `edge`: `route api (client->frontend,
    /// policy p)` or `frontend->backend [p]`.
    fn edge_title(&self, edge: usize) -> String {
        let info = self.run.edges.get(edge);
        let is_route = info.map_or(edge < self.routes.len(), |e| e.is_route);
        if is_route {
            let route = short(self.run.route_names.get(edge).map_or("?", String::as_str));
            match info {
                Some(e) => match &e.policy {
                    Some(p) => format!("route {route} ({}, policy {})", short(&e.name), short(p)),
                    None => format!("route {route} ({})", short(&e.name)),
                },
                None => format!("route {route}"),
            }
        } else {
            info.map_or_else(|| format!("edge {edge}"), |e| short(&e.name))
        }
    }

    /// Service panels of `requests ÷ calls` per window: one per service that
    /// is called on an edge whose policy retries or hedges (elsewhere a
    /// ratio other than 1 is refusals or message loss, not amplification),
    /// and where those callers' policies retried, hedged or refused
    /// something, or whose requests differ from its calls by more than 1%
    /// over the run. Elsewhere the ratio is 1 and a panel would show a flat
    /// line. At most [`MAX_PANELS`], those furthest from 1.
    ///
    /// [`MAX_PANELS`]: super::style::MAX_PANELS
    fn amplification(&self) -> Option<Spec> {
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
    /// [`MAX_PANELS`]: super::style::MAX_PANELS
    fn attempts(&self) -> Option<Spec> {
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

    /// The end of what is known about breakers: the run's end, or the last
    /// recorded transition when later ones were dropped.
    fn breakers_known_until(&self) -> f64 {
        if self.run.breaker_events_dropped == 0 {
            return self.x_max;
        }
        self.run
            .breaker_events
            .last()
            .map_or(0.0, |e| e.at.as_secs_f64())
            .clamp(0.0, self.x_max)
    }

    /// One panel per edge with a circuit breaker: one band per breaker,
    /// coloured by state, while the chart has at most [`MAX_BANDS`] bands;
    /// the edges beyond that, the number of their breakers in each state.
    /// At most [`MAX_PANELS`] edges, those whose breakers opened most.
    ///
    /// [`MAX_PANELS`]: super::style::MAX_PANELS
    fn breakers(&self) -> Option<Spec> {
        if self.empty {
            return None;
        }
        let candidates: Vec<(usize, u64)> = (0..self.run.edges.len())
            .filter(|&e| self.run.edges[e].has_breaker && self.run.edges[e].units > 0)
            .map(|e| {
                let opened = self
                    .run
                    .breaker_transitions
                    .get(e)
                    .into_iter()
                    .flatten()
                    .filter(|((from, to), _)| is_open(to) && !is_open(from))
                    .map(|(_, n)| n)
                    .sum();
                (e, opened)
            })
            .collect();
        if candidates.is_empty() {
            return None;
        }
        let scores: Vec<f64> = candidates.iter().map(|(_, n)| *n as f64).collect();
        let kept = top(&scores);
        let known = self.breakers_known_until();
        let mut bands_left = MAX_BANDS;
        let mut counted = 0_u64;
        let panels = kept
            .iter()
            .map(|&k| {
                let (e, opened) = candidates[k];
                let info = &self.run.edges[e];
                let title = format!(
                    "{}: {} breaker{}, {}",
                    self.edge_title(e),
                    info.units,
                    if info.units == 1 { "" } else { "s" },
                    match opened {
                        0 => "never opened".to_string(),
                        1 => "opened once".to_string(),
                        n => format!("opened {n} times"),
                    }
                );
                let timelines = unit_timelines(self.run, e, info.units, known);
                if info.units <= bands_left {
                    bands_left -= info.units;
                    let lanes = timelines
                        .iter()
                        .enumerate()
                        .map(|(u, spans)| Lane {
                            label: if info.is_route {
                                "clients".to_string()
                            } else if info.units == 1 {
                                "shared".to_string()
                            } else {
                                format!("instance {u}")
                            },
                            spans: raster(spans, self.x_max, known),
                        })
                        .collect();
                    Panel {
                        title,
                        lanes,
                        ..Panel::default()
                    }
                } else {
                    counted += u64::from(info.units);
                    let (spans, layers) = state_counts(&timelines, self.x_max, known);
                    Panel {
                        title,
                        bands: stack_spans(&spans, layers),
                        reference: Some(f64::from(info.units)),
                        min_top: f64::from(info.units),
                        ..Panel::default()
                    }
                }
            })
            .collect();
        let mut legend: Vec<Legend> = STATES
            .iter()
            .map(|(_, label, colour, _)| Legend::area(label, *colour))
            .collect();
        if counted > 0 {
            legend.push(Legend::dashed("all breakers of the edge", NOTE));
            legend.push(Legend::note(format!(
                "{counted} breakers shown as counts: how many are in each state, time-averaged"
            )));
        }
        if kept.len() < candidates.len() {
            legend.push(Legend::note(format!(
                "{} more edges with breakers not shown (fewest openings)",
                candidates.len() - kept.len()
            )));
        }
        if self.run.breaker_events_dropped > 0 {
            legend.push(Legend::note(format!(
                "{} later transitions not recorded: states after {} s unknown",
                self.run.breaker_events_dropped,
                tick((known * 1000.0).round() / 1000.0)
            )));
        }
        Spec::new(6, "breakers", legend, panels)
    }
}

/// The panels of a chart with one panel per entity: the busiest entities
/// (`Some(index)`), then `None` for the others folded together, if any.
fn shown<'w>(
    busiest: &Busiest,
    lists: &'w [Vec<Window<'w>>],
    other: &'w [Window<'w>],
) -> Vec<(Option<usize>, &'w [Window<'w>])> {
    let mut panels: Vec<(Option<usize>, &[Window<'_>])> = busiest
        .kept
        .iter()
        .map(|&i| (Some(i), lists[i].as_slice()))
        .collect();
    if busiest.folded > 0 {
        panels.push((None, other));
    }
    panels
}

/// `legend`, with a note saying what the "other" panel holds when there is
/// one.
fn with_other(mut legend: Vec<Legend>, busiest: &Busiest, what: &str) -> Vec<Legend> {
    if busiest.folded > 0 {
        legend.push(Legend::note(format!(
            "other: the {} {what} (the busiest {} shown on their own)",
            busiest.folded,
            busiest.kept.len()
        )));
    }
    legend
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
    use super::super::fixtures::{edge, names, outcome, render, resilient, transition};
    use super::super::plan::Plan;
    use super::super::style::{MAX_PANELS, MAX_SERIES, PALE_GREEN};
    use super::*;
    use crate::metrics::EntityKind;
    use std::collections::BTreeMap;

    fn legend(spec: &Spec) -> Vec<String> {
        spec.legend.iter().map(|l| l.label.to_string()).collect()
    }

    #[test]
    fn local_refusals_join_the_route_stack_only_when_they_happen() {
        let run = resilient(6, 0);
        let plan = Plan::unknown();
        let data = Data::new(&run, &plan);
        let labels = legend(&data.throughput().unwrap());
        assert!(labels.contains(&"breaker open/s".to_string()), "{labels:?}");
        assert!(labels.contains(&"rate limited/s".to_string()), "{labels:?}");
        assert!(
            !labels.contains(&"bulkhead full/s".to_string()),
            "{labels:?}"
        );
        assert!(!labels.contains(&"throttled/s".to_string()), "{labels:?}");
        let plain = outcome(6, true, &["orders"]);
        let labels = legend(&Data::new(&plain, &plan).throughput().unwrap());
        assert!(!labels.iter().any(|l| l.contains("breaker")), "{labels:?}");
    }

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

    /// A short run of a one-service scenario with `workload`, and its plan.
    fn planned(workload: &str) -> (crate::world::RunOutcome, Plan) {
        let source = format!(
            r#"{{"name": "p", "duration": "10s", "window": "1s",
                "services": {{"a": {{"concurrency": 4, "service_time": {{"constant": "1ms"}}}}}},
                "workload": {workload}}}"#
        );
        let compiled = crate::scenario::parse(&source, "p.json").unwrap_or_else(|e| panic!("{e}"));
        let run = crate::world::run(&compiled, 1, None);
        let plan = Plan::new(compiled.scenario(), &run);
        (run, plan)
    }

    #[test]
    fn the_offered_rate_is_drawn_or_its_absence_said() {
        let (run, plan) = planned(
            r#"{"arrivals": {"poisson": {"rate": 50}},
                "schedule": [{"at": "4s", "rate": 100, "for": "2s"}],
                "routes": [{"service": "a"}]}"#,
        );
        let data = Data::new(&run, &plan);
        let spec = data.throughput().unwrap();
        let offered = spec.panels[0].lines.iter().find(|l| l.dashed).unwrap();
        let peak = offered.segments[0].iter().map(|p| p.1).fold(0.0, f64::max);
        assert!((peak - 100.0).abs() < 1e-6, "{peak}");
        assert!(legend(&spec).iter().any(|l| l.starts_with("offered/s")));
        assert_eq!(data.load.len(), 1);
        assert_eq!(data.load[0].2, "load ×2 for 2s (100/s)");
        // Closed loop: no line, and the legend says why.
        let (run, plan) = planned(
            r#"{"users": {"count": 5, "think_time": {"constant": "100ms"}},
                "routes": [{"service": "a"}]}"#,
        );
        let spec = Data::new(&run, &plan).throughput().unwrap();
        assert!(spec.panels[0].lines.iter().all(|l| !l.dashed));
        let labels = legend(&spec);
        assert!(
            !labels.iter().any(|l| l.starts_with("offered")),
            "{labels:?}"
        );
        assert!(
            labels
                .iter()
                .any(|l| l.starts_with("closed loop, 5 users: no offered rate")),
            "{labels:?}"
        );
    }

    #[test]
    fn a_breaker_that_never_transitions_is_one_closed_band() {
        let mut run = resilient(4, 1);
        run.breaker_events.clear();
        run.breaker_transitions = vec![BTreeMap::new(); 2];
        let plan = Plan::unknown();
        let data = Data::new(&run, &plan);
        let spec = data.breakers().unwrap();
        assert_eq!(spec.panels.len(), 2);
        for panel in &spec.panels {
            assert!(
                panel.title.ends_with("1 breaker, never opened"),
                "{}",
                panel.title
            );
            assert_eq!(panel.lanes.len(), 1);
            assert_eq!(panel.lanes[0].spans, vec![(0.0, 4.0, PALE_GREEN)]);
        }
        assert_eq!(spec.panels[0].lanes[0].label, "clients");
        assert_eq!(spec.panels[1].lanes[0].label, "shared");
        assert_eq!(legend(&spec), ["closed"]);
        assert_eq!(render(&run).unwrap(), render(&run).unwrap());
    }

    #[test]
    fn many_breakers_are_counted_per_edge() {
        let mut run = resilient(8, 30);
        run.breaker_events
            .push(transition(2_000, 1, 29, "closed", "open"));
        run.breaker_events
            .push(transition(2_000, 1, 28, "closed", "open"));
        let plan = Plan::unknown();
        let data = Data::new(&run, &plan);
        let spec = data.breakers().unwrap();
        // The route's single breaker still gets its band; the 30 of the edge
        // are counted.
        assert_eq!(spec.panels[0].lanes.len(), 1);
        assert!(spec.panels[1].lanes.is_empty());
        assert_eq!(spec.panels[1].reference, Some(30.0));
        let top = spec.panels[1]
            .bands
            .iter()
            .map(|b| b.top)
            .fold(0.0, f64::max);
        assert!((top - 2.0).abs() < 1e-9, "{top}");
        assert!(
            legend(&spec)
                .iter()
                .any(|l| l.starts_with("30 breakers shown as counts"))
        );
        assert_eq!(render(&run).unwrap(), render(&run).unwrap());
    }

    #[test]
    fn dropped_transitions_are_said_and_not_drawn() {
        let mut run = resilient(8, 2);
        run.breaker_events_dropped = 7;
        let plan = Plan::unknown();
        let data = Data::new(&run, &plan);
        let spec = data.breakers().unwrap();
        assert!(
            legend(&spec)
                .iter()
                .any(|l| l.starts_with("7 later transitions not recorded"))
        );
        let end = spec.panels[1].lanes[0].spans.last().unwrap().1;
        assert!((end - 1.7).abs() < 1e-9, "{end}");
    }

    /// Services can number in the thousands: a chart of one panel per
    /// service shows the busiest [`MAX_SERIES`] and folds the rest into one
    /// "other" panel, whose counts are theirs added up.
    #[test]
    fn many_services_are_the_busiest_and_one_other() {
        let names: Vec<String> = (0..50).map(|i| format!("s{i:02}")).collect();
        let names: Vec<&str> = names.iter().map(String::as_str).collect();
        let mut run = outcome(4, true, &names);
        // Service k has k times the base traffic: s42..s49 are the busiest.
        for r in &mut run.rows {
            if r.kind == EntityKind::Service {
                r.counts.requests *= u64::from(r.entity) + 1;
            }
        }
        let plan = Plan::unknown();
        let data = Data::new(&run, &plan);
        for spec in [data.service_queues(), data.service_outcomes()] {
            let spec = spec.unwrap();
            assert_eq!(spec.panels.len(), MAX_SERIES + 1, "{}", spec.name);
            let titles: Vec<&str> = spec.panels.iter().map(|p| p.title.as_str()).collect();
            assert!(titles[0].starts_with("service s42"), "{titles:?}");
            assert!(
                titles[MAX_SERIES - 1].starts_with("service s49"),
                "{titles:?}"
            );
            assert!(
                titles[MAX_SERIES].starts_with("other: 42 services with less traffic"),
                "{titles:?}"
            );
            assert!(
                legend(&spec)
                    .iter()
                    .any(|l| l.starts_with("other: the 42 services"))
            );
        }
        let busiest = Busiest::new(&data.services, |c| c.requests);
        let other = busiest.other();
        let folded: u64 = (0..42u64).map(|k| (100 + 1) * (k + 1)).sum();
        assert_eq!(other[1].row.counts.requests, folded, "window 1, summed");
        assert_eq!(other.len(), 4);
        assert_eq!(render(&run).unwrap(), render(&run).unwrap());
        // A few services: every one on its own, no "other".
        let few = outcome(4, true, &["a", "b"]);
        let few = Data::new(&few, &plan);
        let spec = few.service_outcomes().unwrap();
        assert_eq!(spec.panels.len(), 2);
    }

    #[test]
    fn many_panels_are_capped_with_a_note() {
        let mut run = resilient(3, 0);
        run.breaker_transitions = vec![BTreeMap::new(); 42];
        for i in 0..40 {
            run.edges.push(edge(&format!("e{i}"), 1, false, 1));
        }
        let plan = Plan::unknown();
        let data = Data::new(&run, &plan);
        let spec = data.breakers().unwrap();
        assert_eq!(spec.panels.len(), MAX_PANELS);
        assert!(
            legend(&spec)
                .iter()
                .any(|l| l.starts_with("28 more edges with breakers not shown"))
        );
    }
}
