//! The sagas chart: for each saga orchestrator, two panels on the run's
//! time axis: the sagas that ended per second, each way (completed,
//! compensated, dead-lettered), beside the sagas started; and the sagas
//! running at each window's end with the compensation calls made per
//! second, every fault of the run shaded (a saga crosses services, so any
//! of them can be what it waits on). Drawn from the rows each orchestrator
//! keeps for charts ([`SagaOutcome::rows`](crate::world::SagaOutcome)), so a
//! run without sagas has no such chart.

use plotters::style::RGBColor;

use super::super::data::Data;
use super::super::panel::{Legend, Line, Panel, Spec};
use super::super::style::{BLACK_OI, BLUE, GREEN, MAX_PANELS, ORANGE, VERMILLION, short};
use crate::kernel::SimTime;
use crate::metrics::saga::SagaRow;
use crate::world::SagaOutcome;

/// Panels per orchestrator.
const PANELS_PER_ORCHESTRATOR: usize = 2;
/// The most orchestrators the chart shows (the busiest); a note counts the
/// rest.
const MAX_ORCHESTRATORS: usize = MAX_PANELS / PANELS_PER_ORCHESTRATOR;

/// One line of the endings panel: colour, legend label, count in a row.
type Ending = (RGBColor, &'static str, fn(&SagaRow) -> u64);

const ENDINGS: [Ending; 3] = [
    (GREEN, "completed per second", |r| r.completed),
    (ORANGE, "compensated per second", |r| r.compensated),
    (VERMILLION, "dead-lettered per second", |r| r.dead_lettered),
];
/// The sagas started: dashed, behind the endings.
const STARTED: RGBColor = BLACK_OI;
/// The sagas running at each window's end.
const RUNNING: RGBColor = BLUE;
/// Compensation calls per second, on the running panel.
const COMPENSATIONS: RGBColor = ORANGE;

impl Data<'_> {
    pub(super) fn sagas(&self) -> Option<Spec> {
        if self.empty {
            return None;
        }
        let shown: Vec<&SagaOutcome> = self
            .run
            .sagas
            .iter()
            .filter(|s| !s.rows.is_empty())
            .collect();
        if shown.is_empty() {
            return None;
        }
        let mut order: Vec<usize> = (0..shown.len()).collect();
        order.sort_by(|&a, &b| {
            shown[b]
                .counts
                .started
                .cmp(&shown[a].counts.started)
                .then(a.cmp(&b))
        });
        let left_out = order.len().saturating_sub(MAX_ORCHESTRATORS);
        order.truncate(MAX_ORCHESTRATORS);
        order.sort_unstable();
        let panels: Vec<Panel> = order
            .iter()
            .flat_map(|&k| self.saga_panels(shown[k]))
            .collect();
        let mut legend: Vec<Legend> = vec![Legend::dashed("started per second", STARTED)];
        legend.extend(ENDINGS.iter().map(|(c, label, _)| Legend::line(*label, *c)));
        legend.extend([
            Legend::line("running at the window's end", RUNNING),
            Legend::dashed("compensation calls per second", COMPENSATIONS),
            Legend::note("shaded: every fault of the run"),
        ]);
        let merged = order.iter().map(|&k| shown[k].rows_merged).max();
        if let Some(merged) = merged.filter(|&m| m > 1) {
            legend.push(Legend::note(format!(
                "each point merges up to {merged} windows"
            )));
        }
        if left_out > 0 {
            legend.push(Legend::note(format!(
                "{left_out} more orchestrators not shown (fewest sagas)"
            )));
        }
        Spec::new(9, "sagas / s", legend, panels)
    }

    /// The two panels of one orchestrator: endings, then what is running.
    fn saga_panels(&self, outcome: &SagaOutcome) -> [Panel; PANELS_PER_ORCHESTRATOR] {
        let name = short(&outcome.service);
        let secs = |t: SimTime| t.as_secs_f64();
        // A window of no width (the run stopped at a boundary) has no rate:
        // left out rather than drawn as 0.
        let rate = |count: fn(&SagaRow) -> u64| -> Vec<(f64, f64)> {
            outcome
                .rows
                .iter()
                .filter(|(start, end, _)| end > start)
                .flat_map(|(start, end, r)| {
                    let v = count(r) as f64 / (secs(*end) - secs(*start));
                    [(secs(*start), v), (secs(*end), v)]
                })
                .collect()
        };
        let mut lines = vec![Line::dashed(STARTED, 1, vec![rate(|r| r.started)])];
        for (colour, _, count) in ENDINGS {
            if outcome.rows.iter().any(|(_, _, r)| count(r) > 0) {
                lines.push(Line::new(colour, 2, vec![rate(count)]));
            }
        }
        let c = &outcome.counts;
        let endings = Panel {
            title: format!(
                "orchestrator {name}: sagas ending ({} completed, {} compensated, {} dead-lettered of {} started)",
                c.completed,
                c.compensated,
                c.dead_compensation + c.dead_pivot + c.dead_retriable,
                c.started
            ),
            lines,
            y_desc: Some("sagas / s"),
            ..Panel::default()
        };
        let running: Vec<(f64, f64)> = outcome
            .rows
            .iter()
            .flat_map(|(start, end, r)| {
                let v = r.running as f64;
                [(secs(*start), v), (secs(*end), v)]
            })
            .collect();
        let mut lines = vec![Line::new(RUNNING, 2, vec![running])];
        if outcome
            .rows
            .iter()
            .any(|(_, _, r)| r.compensation_calls > 0)
        {
            lines.push(Line::dashed(
                COMPENSATIONS,
                2,
                vec![rate(|r| r.compensation_calls)],
            ));
        }
        let running = Panel {
            title: format!(
                "orchestrator {name}: sagas running, and compensation calls per second ({} resumed after a restart, {} running at the end)",
                c.recovered, outcome.stuck
            ),
            lines,
            y_desc: Some("sagas, calls / s"),
            ..Panel::default()
        };
        [endings, running]
    }
}

#[cfg(test)]
mod tests {
    use super::super::super::fixtures::{names, outcome, render};
    use super::super::super::plan::Plan;
    use super::*;
    use crate::metrics::LatencyHistogram;
    use crate::world::SagaCounts;

    /// A fixture run whose orchestrator `orders` started 10 sagas a second
    /// for 4 s: all completed, except 6 compensated in the third second
    /// (with 12 compensation calls), and 3 running at each window's end.
    fn orchestrated() -> crate::world::RunOutcome {
        let mut run = outcome(4, true, &["orders", "payments"]);
        let second = |s: u64| SimTime::from_nanos(s * 1_000_000_000);
        let rows = (0..4u64)
            .map(|w| {
                let failing = w == 2;
                let row = SagaRow {
                    service: 0,
                    started: 10,
                    completed: if failing { 4 } else { 10 },
                    compensated: if failing { 6 } else { 0 },
                    compensation_calls: if failing { 12 } else { 0 },
                    running: 3,
                    ..SagaRow::default()
                };
                (second(w), second(w + 1), row)
            })
            .collect();
        run.sagas = vec![SagaOutcome {
            service: "orders".to_string(),
            counts: SagaCounts {
                started: 40,
                completed: 34,
                compensated: 6,
                ..SagaCounts::default()
            },
            steps: Vec::new(),
            stuck: 3,
            stuck_listed: Vec::new(),
            stuck_since: None,
            dead_listed: Vec::new(),
            duration: LatencyHistogram::new(3),
            to_compensate: LatencyHistogram::new(3),
            rows,
            rows_merged: 1,
            index: 0,
        }];
        run
    }

    fn at(line: &Line, t: f64) -> Option<f64> {
        line.segments
            .iter()
            .flatten()
            .rev()
            .find(|p| p.0 == t)
            .map(|p| p.1)
    }

    #[test]
    fn a_run_without_sagas_has_no_sagas_chart() {
        let run = outcome(5, true, &["orders"]);
        let plan = Plan::unknown();
        assert!(Data::new(&run, &plan).sagas().is_none());
        let files = render(&run).unwrap();
        assert!(!names(&files).iter().any(|n| n.contains("sagas")));
    }

    #[test]
    fn endings_per_second_and_the_sagas_running() {
        let run = orchestrated();
        let plan = Plan::unknown();
        let data = Data::new(&run, &plan);
        let spec = data.sagas().unwrap();
        assert_eq!(spec.name, "sagas");
        assert_eq!(spec.panels.len(), 2);
        let endings = &spec.panels[0];
        assert_eq!(
            endings.title,
            "orchestrator orders: sagas ending (34 completed, 6 compensated, 0 dead-lettered of 40 started)"
        );
        // Started (dashed), completed and compensated: no dead-lettered
        // line, as none was.
        let colours: Vec<_> = endings.lines.iter().map(|l| l.colour).collect();
        assert_eq!(colours, [STARTED, GREEN, ORANGE]);
        assert_eq!(at(&endings.lines[1], 2.0), Some(4.0));
        assert_eq!(at(&endings.lines[2], 2.0), Some(6.0));
        assert_eq!(at(&endings.lines[2], 1.0), Some(0.0));
        let running = &spec.panels[1];
        assert_eq!(at(&running.lines[0], 3.0), Some(3.0));
        assert_eq!(at(&running.lines[1], 2.0), Some(12.0));
        assert!(running.faults.is_none(), "every fault shaded");
        let files = render(&run).unwrap();
        assert!(names(&files).contains(&"charts/sagas.svg"));
        assert!(names(&files).contains(&"charts/sagas.png"));
        assert_eq!(files, render(&run).unwrap());
    }
}
