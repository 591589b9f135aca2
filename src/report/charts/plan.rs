//! What the scenario asked for, beside what the run did: the offered rate of
//! an open-loop workload over time and its schedule changes (spikes, steps,
//! ramps), and which caller edges have a policy that retries or hedges. The
//! run's rows say what happened; a [`Plan`] says what was planned, so that a
//! chart can show both (a spike's rejections next to the spike that caused
//! them).

use crate::kernel::{SimDuration, SimTime};
use crate::scenario::{Arrivals, Fault, RateChange, Scenario};
use crate::world::RunOutcome;
use crate::world::workload::ArrivalProcess;

use super::style::tick;

/// Where the requests come from.
pub(super) enum Offered {
    /// Open loop: the arrival process (for its rate over time) and each
    /// route's share of the requests, by route index.
    Open {
        process: Box<ArrivalProcess>,
        shares: Vec<f64>,
        /// Times (seconds) where the rate jumps or a ramp starts or ends.
        breaks: Vec<f64>,
    },
    /// Closed loop: this many users, each waiting for a reply before the
    /// next request; no rate is offered, the system sets it.
    Closed { users: u32 },
    /// Not known: a run charted without its scenario (the charts' tests).
    Unknown,
}

/// One change of the schedule, on the time axis: a spike or a ramp over its
/// span, a step from its time to the next change (or the end).
pub(super) struct LoadChange {
    pub(super) start: f64,
    pub(super) end: f64,
    pub(super) label: String,
    /// A step: the rate changes at `start` and stays.
    pub(super) step: bool,
}

/// What the scenario planned, for the charts.
pub(super) struct Plan {
    pub(super) offered: Offered,
    /// The schedule's changes in time order (not clipped to the run).
    pub(super) changes: Vec<LoadChange>,
    /// By edge index (as the run's `edges`): whether the edge's policy
    /// retries (more than one attempt) or hedges, the only two ways a
    /// caller sends a callee more requests than it makes calls. `None`:
    /// not known, every edge may.
    amplifies: Option<Vec<bool>>,
    /// By fault index (as the run's `faults`): the service it acts on, and
    /// the instance if only one (a crash, stop, slowdown, added latency or
    /// error rate of a service or an instance, or its registry's outage);
    /// `None` for the network's faults (partitions, loss, a link's
    /// latency). Empty when not known.
    pub(super) fault_targets: Vec<Option<FaultTarget>>,
}

/// What a fault acts on, for the per-instance and autoscaling charts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct FaultTarget {
    /// The service's index.
    pub(super) service: u32,
    /// One of its instances, or all of them.
    pub(super) instance: Option<u32>,
}

impl Plan {
    /// Nothing known beyond the run itself: no offered rate, no schedule,
    /// and every edge treated as one that may retry.
    #[cfg(test)]
    pub(super) fn unknown() -> Plan {
        Plan {
            offered: Offered::Unknown,
            changes: Vec::new(),
            amplifies: None,
            fault_targets: Vec::new(),
        }
    }

    /// As [`Plan::unknown`], but knowing which edges retry or hedge.
    #[cfg(test)]
    pub(super) fn retrying(edges: Vec<bool>) -> Plan {
        Plan {
            amplifies: Some(edges),
            ..Plan::unknown()
        }
    }

    /// Whether caller edge `edge` has a policy that retries or hedges.
    pub(super) fn amplifies(&self, edge: usize) -> bool {
        self.amplifies
            .as_ref()
            .is_none_or(|a| a.get(edge).copied().unwrap_or(false))
    }

    /// The plan of `scenario`, for `run`, a run of it.
    pub(super) fn new(scenario: &Scenario, run: &RunOutcome) -> Plan {
        let workload = &scenario.workload;
        let amplifies = run
            .edges
            .iter()
            .map(|e| {
                e.policy
                    .as_ref()
                    .and_then(|name| scenario.policies.get(name))
                    .is_some_and(|p| {
                        p.hedge.is_some() || p.retry.as_ref().is_some_and(|r| r.max_attempts > 1)
                    })
            })
            .collect();
        let offered = match (&workload.arrivals, &workload.users) {
            (Some(arrivals), _) => {
                let process = ArrivalProcess::new(arrivals, &workload.schedule);
                let total: f64 = workload.routes.iter().map(|r| r.weight).sum();
                let shares = workload
                    .routes
                    .iter()
                    .map(|r| if total > 0.0 { r.weight / total } else { 0.0 })
                    .collect();
                let mut breaks: Vec<f64> = workload
                    .schedule
                    .iter()
                    .flat_map(|c| {
                        let span = c.lasts.or(c.over).unwrap_or(SimDuration::ZERO);
                        [c.at, c.at.saturating_add(span)]
                    })
                    .map(SimDuration::as_secs_f64)
                    .collect();
                breaks.sort_by(f64::total_cmp);
                breaks.dedup();
                Offered::Open {
                    process: Box::new(process),
                    shares,
                    breaks,
                }
            }
            (None, Some(users)) => Offered::Closed { users: users.count },
            (None, None) => Offered::Unknown,
        };
        let changes = match &workload.arrivals {
            Some(arrivals) => changes(arrivals, &workload.schedule, scenario.duration),
            None => Vec::new(),
        };
        Plan {
            offered,
            changes,
            amplifies: Some(amplifies),
            fault_targets: scenario
                .faults
                .iter()
                .map(|f| fault_target(f, &run.service_names))
                .collect(),
        }
    }

    /// The offered rate of a share of the requests (a route's, or several
    /// routes' summed) as a line over `[0, x_max]` seconds, exact for the
    /// piecewise-linear schedule: a vertical jump at a step or a spike, a
    /// slope along a ramp. `None` without an open-loop workload.
    pub(super) fn offered_line(&self, share: f64, x_max: f64) -> Option<Vec<(f64, f64)>> {
        let Offered::Open {
            process, breaks, ..
        } = &self.offered
        else {
            return None;
        };
        let rate = |secs: f64| process.rate_per_sec_at(at(secs)) * share;
        // Just before `secs`: the rate of the piece that ends there.
        let before = |secs: f64| {
            let t = at(secs).as_nanos();
            process.rate_per_sec_at(SimTime::from_nanos(t.saturating_sub(1))) * share
        };
        let mut points = vec![(0.0, rate(0.0))];
        for &b in breaks.iter().filter(|&&b| b > 0.0 && b < x_max) {
            points.push((b, before(b)));
            points.push((b, rate(b)));
        }
        points.push((x_max, before(x_max)));
        Some(points)
    }

    /// The share of the requests that goes to each of `routes`, summed.
    pub(super) fn share_of(&self, routes: impl Iterator<Item = usize>) -> f64 {
        match &self.offered {
            Offered::Open { shares, .. } => routes.filter_map(|r| shares.get(r)).sum(),
            _ => 0.0,
        }
    }
}

/// The service (and instance) `fault` acts on, its name resolved among
/// `services`; `None` for a fault of the network.
fn fault_target(fault: &Fault, services: &[String]) -> Option<FaultTarget> {
    let (service, instance) = if let Some(c) = fault.crash.as_ref().or(fault.stop.as_ref()) {
        (&c.service, c.instance)
    } else if let Some(s) = &fault.slowdown {
        (&s.service, s.instance)
    } else if let Some(e) = &fault.errors {
        (&e.service, e.instance)
    } else if let Some(l) = &fault.latency {
        (l.service.as_ref()?, l.instance)
    } else if let Some(r) = &fault.registry_outage {
        (&r.service, None)
    } else if let Some(l) = &fault.scale_limit {
        (&l.service, None)
    } else if let Some(m) = &fault.metrics_outage {
        (&m.service, None)
    } else if let Some(b) = &fault.slow_boot {
        (&b.service, None)
    } else {
        return None;
    };
    let service = services.iter().position(|s| s == service)? as u32;
    Some(FaultTarget { service, instance })
}

fn at(secs: f64) -> SimTime {
    SimTime::ZERO + SimDuration::from_nanos_f64(secs * 1e9)
}

/// The schedule's changes with their labels: `load ×2 for 5s (800/s)` for a
/// spike, `load ×0.5 (200/s)` for a step, `ramp to ×3 over 30s (1200/s)`
/// for a ramp; the factor is against the rate just before the change (after
/// a rate of zero there is none: `load 50/s`).
fn changes(arrivals: &Arrivals, schedule: &[RateChange], duration: SimDuration) -> Vec<LoadChange> {
    let base = match arrivals {
        Arrivals::Poisson { rate } | Arrivals::Constant { rate } => *rate,
    };
    let process = ArrivalProcess::new(arrivals, schedule);
    let end_of_run = duration.as_secs_f64();
    let mut out = Vec::with_capacity(schedule.len());
    for (i, change) in schedule.iter().enumerate() {
        let start = change.at.as_secs_f64();
        let previous = match change.at.as_nanos() {
            0 => base,
            t => process.rate_per_sec_at(SimTime::from_nanos(t - 1)),
        };
        // `×2 … (800/s)`, or the rate alone after a rate of zero.
        let known = previous > 0.0 && previous.is_finite();
        let label = |verb: &str, rate: f64, rest: &str| {
            if known {
                format!(
                    "{verb} ×{}{rest} ({}/s)",
                    factor_text(rate / previous),
                    tick(rate)
                )
            } else {
                format!("{verb} {}/s{rest}", tick(rate))
            }
        };
        let (end, label, step) = match (change.rate, change.lasts, change.ramp_to, change.over) {
            (Some(rate), Some(lasts), ..) => (
                change.at.saturating_add(lasts).as_secs_f64(),
                label("load", rate, &format!(" for {lasts}")),
                false,
            ),
            (Some(rate), None, ..) => {
                let next = schedule
                    .get(i + 1)
                    .map_or(end_of_run, |c| c.at.as_secs_f64());
                (next, label("load", rate, ""), true)
            }
            (None, _, Some(target), over) => {
                let over = over.unwrap_or(SimDuration::ZERO);
                (
                    change.at.saturating_add(over).as_secs_f64(),
                    label("ramp to", target, &format!(" over {over}")),
                    false,
                )
            }
            (None, _, None, _) => continue,
        };
        out.push(LoadChange {
            start,
            end: end.max(start),
            label,
            step,
        });
    }
    out
}

/// A rate's factor for a label: two significant decimals below 10, whole
/// numbers above (`2`, `1.25`, `0.33`, `12`).
fn factor_text(f: f64) -> String {
    if !f.is_finite() {
        return "?".to_string();
    }
    if f >= 10.0 {
        return format!("{f:.0}");
    }
    let text = format!("{f:.2}");
    text.trim_end_matches('0').trim_end_matches('.').to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scenario(workload: &str) -> Scenario {
        let source = format!(
            r#"{{"name": "p", "duration": "100s",
                "services": {{"a": {{"service_time": {{"constant": "1ms"}}}}}},
                "workload": {workload}}}"#
        );
        crate::scenario::parse(&source, "p.json")
            .unwrap_or_else(|e| panic!("{e}"))
            .into_scenario()
    }

    fn labels(plan: &Plan) -> Vec<(f64, f64, &str, bool)> {
        plan.changes
            .iter()
            .map(|c| (c.start, c.end, c.label.as_str(), c.step))
            .collect()
    }

    #[test]
    fn spikes_steps_and_ramps_are_labelled_with_their_factor() {
        let s = scenario(
            r#"{"arrivals": {"poisson": {"rate": 400}},
                "schedule": [{"at": "10s", "rate": 800, "for": "5s"},
                             {"at": "20s", "rate": 200},
                             {"at": "30s", "ramp_to": 600, "over": "10s"},
                             {"at": "60s", "rate": 0},
                             {"at": "70s", "rate": 50}],
                "routes": [{"service": "a"}]}"#,
        );
        let run = crate::world::run(&crate::scenario::compile(s.clone()).unwrap(), 1, Some(1));
        let plan = Plan::new(&s, &run);
        assert_eq!(
            labels(&plan),
            [
                (10.0, 15.0, "load ×2 for 5s (800/s)", false),
                (20.0, 30.0, "load ×0.5 (200/s)", true),
                (30.0, 40.0, "ramp to ×3 over 10s (600/s)", false),
                (60.0, 70.0, "load ×0 (0/s)", true),
                // From zero, no factor.
                (70.0, 100.0, "load 50/s", true),
            ]
        );
    }

    #[test]
    fn the_offered_line_jumps_at_a_spike_and_slopes_along_a_ramp() {
        let s = scenario(
            r#"{"arrivals": {"constant": {"rate": 100}},
                "schedule": [{"at": "10s", "rate": 300, "for": "5s"},
                             {"at": "20s", "ramp_to": 200, "over": "10s"}],
                "routes": [{"service": "a", "weight": 3}, {"name": "b", "service": "a"}]}"#,
        );
        let run = crate::world::run(&crate::scenario::compile(s.clone()).unwrap(), 1, Some(1));
        let plan = Plan::new(&s, &run);
        let share = plan.share_of([0].into_iter());
        assert!((share - 0.75).abs() < 1e-12, "{share}");
        let line = plan.offered_line(1.0, 50.0).unwrap();
        let expected = [
            (0.0, 100.0),
            (10.0, 100.0),
            (10.0, 300.0),
            (15.0, 300.0),
            (15.0, 100.0),
            (20.0, 100.0),
            (20.0, 100.0),
            (30.0, 200.0),
            (30.0, 200.0),
            (50.0, 200.0),
        ];
        assert_eq!(line.len(), expected.len(), "{line:?}");
        for (got, want) in line.iter().zip(expected) {
            assert!((got.0 - want.0).abs() < 1e-9, "{line:?}");
            // The rate 1 ns before a break differs from the piece's end by
            // at most its slope × 1 ns.
            assert!((got.1 - want.1).abs() < 1e-3, "{line:?}");
        }
    }

    /// An autoscaler's faults act on its service (shaded on its panels of
    /// the autoscaling and instance charts); a network fault on none.
    #[test]
    fn the_autoscalers_faults_target_their_service() {
        let source = r#"{"name": "p", "duration": "10s",
            "services": {
              "a": {"service_time": {"constant": "1ms"}, "calls": [{"service": "b"}]},
              "b": {"service_time": {"constant": "1ms"}, "boot_time": {"constant": "1s"},
                    "discovery": {"health_check": {"interval": "1s", "timeout": "500ms"}},
                    "autoscale": {"target": {"utilization_percent": 60}, "max_instances": 3}}},
            "workload": {"arrivals": {"poisson": {"rate": 10}}, "routes": [{"service": "a"}]},
            "faults": [
              {"at": "1s", "for": "1s", "scale_limit": {"service": "b", "instances": 1}},
              {"at": "2s", "for": "1s", "metrics_outage": {"service": "b"}},
              {"at": "3s", "for": "1s", "slow_boot": {"service": "b", "factor": 3}},
              {"at": "4s", "for": "1s", "loss": {"rate": 0.1}}
            ]}"#;
        let compiled = crate::scenario::parse(source, "p.json").unwrap_or_else(|e| panic!("{e}"));
        let run = crate::world::run(&compiled, 1, Some(1));
        let plan = Plan::new(compiled.scenario(), &run);
        let b = Some(FaultTarget {
            service: 1,
            instance: None,
        });
        assert_eq!(plan.fault_targets, [b, b, b, None]);
    }

    #[test]
    fn a_closed_loop_has_no_offered_line_and_no_changes() {
        let s = scenario(
            r#"{"users": {"count": 5, "think_time": {"constant": "10ms"}},
                "routes": [{"service": "a"}]}"#,
        );
        let run = crate::world::run(&crate::scenario::compile(s.clone()).unwrap(), 1, Some(1));
        let plan = Plan::new(&s, &run);
        assert!(matches!(plan.offered, Offered::Closed { users: 5 }));
        assert!(plan.offered_line(1.0, 10.0).is_none());
        assert!(plan.changes.is_empty());
    }
}
