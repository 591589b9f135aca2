//! The route charts: end-to-end latency of successful requests, and
//! throughput against the offered load with the failures stacked below.

use super::super::data::{Busiest, Data, midpoints, stack, steps};
use super::super::panel::{Legend, Line, Panel, Spec};
use super::super::plan::Offered;
use super::super::style::{
    BLACK_OI, BLUE, FORBIDDEN, GATEWAY_TIMEOUT, GREEN, NOT_FOUND, ORANGE, PURPLE, SKY_BLUE,
    TOO_MANY, UNAUTHORIZED, VERMILLION, YELLOW,
};
use super::{shown, with_other};

impl Data<'_> {
    pub(super) fn latency(&self) -> Option<Spec> {
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
    pub(super) fn throughput(&self) -> Option<Spec> {
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
                if windows.iter().any(|w| w.row.counts.degraded > 0) {
                    lines.push(Line::dashed(
                        GREEN,
                        2,
                        vec![steps(windows, |w| w.rate(w.row.counts.degraded))],
                    ));
                }
                if let Some(offered) = self.plan.offered_line(share, self.x_max) {
                    lines.push(Line::dashed(BLACK_OI, 2, vec![offered]));
                }
                Panel {
                    title: self.route_title(i, &busiest),
                    log: false,
                    bands: stack(
                        windows,
                        // By status: the gateway's beside the kind they
                        // are counted with (`Counts::statuses`).
                        &[
                            (VERMILLION, |r| r.counts.internal()),
                            (UNAUTHORIZED, |r| r.counts.unauthorized),
                            (FORBIDDEN, |r| r.counts.forbidden),
                            (NOT_FOUND, |r| r.counts.not_found),
                            (ORANGE, |r| r.counts.unavailable()),
                            (TOO_MANY, |r| r.counts.too_many_requests),
                            (PURPLE, |r| r.counts.timeout()),
                            (GATEWAY_TIMEOUT, |r| r.counts.gateway_timeout),
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
            Legend::dashed("of which degraded/s (a fallback answered)", GREEN),
            Legend::area("errors/s", VERMILLION),
            Legend::area("401 unauthorized/s", UNAUTHORIZED),
            Legend::area("403 forbidden/s", FORBIDDEN),
            Legend::area("404 not found/s", NOT_FOUND),
            Legend::area("rejected/s", ORANGE),
            Legend::area("429 too many requests/s", TOO_MANY),
            Legend::area("timeouts/s", PURPLE),
            Legend::area("504 gateway timeout/s", GATEWAY_TIMEOUT),
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
}

#[cfg(test)]
mod tests {
    use super::super::super::fixtures::{outcome, resilient};
    use super::super::super::plan::Plan;
    use super::super::legend;
    use super::*;

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
}
