//! The autoscaling chart: for each autoscaled service, two panels on the
//! run's time axis: its instances by state at each window's end (ready,
//! not ready, starting, down, draining, stacked) under the count its
//! autoscaler decided (a step line), and the load that drove it (requests
//! reaching the service per second), with the faults of that service and
//! its instances shaded as on the per-instance chart. Drawn from the rows
//! each autoscaler keeps for charts
//! ([`AutoscaleOutcome::rows`](crate::metrics::autoscale::AutoscaleOutcome)),
//! so a run without an autoscaled service has no such chart.

use plotters::style::RGBColor;

use super::super::data::{Data, stack_spans};
use super::super::panel::{Legend, Line, Panel, Spec};
use super::super::style::{
    BLACK_OI, BLUE, GREEN, MAX_PANELS, NOTE, ORANGE, SKY_BLUE, VERMILLION, YELLOW, short,
};
use crate::kernel::SimTime;
use crate::metrics::autoscale::{AutoscaleOutcome, AutoscaleRow};

/// Panels per service.
const PANELS_PER_SERVICE: usize = 2;
/// The most services the chart shows (the busiest); a note counts the rest.
const MAX_SERVICES: usize = MAX_PANELS / PANELS_PER_SERVICE;
/// The count decided: black, above the bands.
const DESIRED: RGBColor = BLACK_OI;
/// The load line.
const LOAD_LINE: RGBColor = BLUE;

/// One instance state of the stack: its colour, its legend label and its
/// count in a row.
type State = (RGBColor, &'static str, fn(&AutoscaleRow) -> u32);

/// The instance states stacked bottom to top, with their colours and
/// legend labels: the serving ones at the bottom.
const STATES: [State; 5] = [
    (GREEN, "ready", |r| r.ready),
    (YELLOW, "not ready", |r| r.not_ready),
    (SKY_BLUE, "starting (booting)", |r| r.starting),
    (VERMILLION, "down (crashed or stopped)", |r| r.down),
    (ORANGE, "draining (being removed)", |r| r.draining),
];

impl Data<'_> {
    pub(super) fn autoscale(&self) -> Option<Spec> {
        if self.empty {
            return None;
        }
        let scaled: Vec<(usize, &AutoscaleOutcome)> = self
            .run
            .autoscale
            .iter()
            .enumerate()
            .filter_map(|(i, a)| a.as_ref().map(|a| (i, a)))
            .filter(|(_, a)| !a.rows.is_empty())
            .collect();
        if scaled.is_empty() {
            return None;
        }
        let requests = |a: &AutoscaleOutcome| a.rows.iter().map(|r| r.2.requests).sum::<u64>();
        let mut order: Vec<usize> = (0..scaled.len()).collect();
        order.sort_by(|&a, &b| {
            requests(scaled[b].1)
                .cmp(&requests(scaled[a].1))
                .then(a.cmp(&b))
        });
        let left_out = order.len().saturating_sub(MAX_SERVICES);
        order.truncate(MAX_SERVICES);
        order.sort_unstable();
        let mut panels = Vec::with_capacity(order.len() * PANELS_PER_SERVICE);
        for &k in &order {
            let (service, outcome) = scaled[k];
            panels.extend(self.autoscale_panels(service, outcome));
        }
        let mut legend = vec![
            Legend::line("desired: the count the autoscaler decided", DESIRED),
            Legend::dashed("max_instances", NOTE),
        ];
        legend.extend(
            STATES
                .iter()
                .map(|(colour, label, _)| Legend::area(label, *colour)),
        );
        legend.extend([
            Legend::line("requests reaching the service per second", LOAD_LINE),
            Legend::note(
                "shaded: the faults of that service or its instances; instances at each window's end",
            ),
        ]);
        let merged = order.iter().map(|&k| scaled[k].1.rows_merged).max();
        if let Some(merged) = merged.filter(|&m| m > 1) {
            legend.push(Legend::note(format!(
                "each point merges up to {merged} windows of autoscaler rows"
            )));
        }
        if left_out > 0 {
            legend.push(Legend::note(format!(
                "{left_out} more autoscaled services not shown (least traffic)"
            )));
        }
        Spec::new(8, "instances", legend, panels)
    }

    /// The two panels of one autoscaled service: instances, load.
    fn autoscale_panels(
        &self,
        service: usize,
        outcome: &AutoscaleOutcome,
    ) -> [Panel; PANELS_PER_SERVICE] {
        let name = short(
            self.run
                .service_names
                .get(service)
                .map_or("?", String::as_str),
        );
        let (faults, _) = self.service_faults(service as u32);
        let secs = |t: SimTime| t.as_secs_f64();
        let spans: Vec<(f64, f64)> = outcome
            .rows
            .iter()
            .map(|(start, end, _)| (secs(*start), secs(*end)))
            .collect();
        let layers = STATES
            .iter()
            .map(|(colour, _, count)| {
                (
                    *colour,
                    outcome
                        .rows
                        .iter()
                        .map(|(_, _, r)| f64::from(count(r)))
                        .collect(),
                )
            })
            .collect();
        let desired: Vec<(f64, f64)> = outcome
            .rows
            .iter()
            .flat_map(|(start, end, r)| {
                let v = f64::from(r.desired);
                [(secs(*start), v), (secs(*end), v)]
            })
            .collect();
        let instances = Panel {
            title: format!(
                "service {name}: instances ({}–{}; peak {} decided, {} ready)",
                outcome.min_instances,
                outcome.max_instances,
                outcome.peak_desired,
                outcome.peak_ready
            ),
            bands: stack_spans(&spans, layers),
            lines: vec![Line::new(DESIRED, 2, vec![desired])],
            reference: Some(f64::from(outcome.max_instances)),
            min_top: f64::from(outcome.max_instances),
            y_desc: Some("instances"),
            faults: Some(faults.clone()),
            ..Panel::default()
        };
        // A window of no width (the run stopped at a boundary) has no rate:
        // left out rather than drawn as 0.
        let load: Vec<(f64, f64)> = outcome
            .rows
            .iter()
            .filter(|(start, end, _)| end > start)
            .flat_map(|(start, end, r)| {
                let v = r.requests as f64 / (secs(*end) - secs(*start));
                [(secs(*start), v), (secs(*end), v)]
            })
            .collect();
        let load = Panel {
            title: format!("service {name}: load, requests reaching it per second"),
            lines: vec![Line::new(LOAD_LINE, 2, vec![load])],
            y_desc: Some("requests / s"),
            faults: Some(faults),
            ..Panel::default()
        };
        [instances, load]
    }
}

#[cfg(test)]
mod tests {
    use super::super::super::fixtures::{names, outcome, render};
    use super::super::super::plan::{FaultTarget, Plan};
    use super::super::legend;
    use super::*;

    /// Service 0 of a fixture run autoscaled over 4 one-second windows:
    /// 2 ready, then 2 ready and 2 starting after a scale-up to 4, then 4
    /// ready, then 3 ready and 1 draining after a scale-down to 3; the load
    /// 100, 300, 300, 150 requests per window.
    fn autoscaled() -> crate::world::RunOutcome {
        let mut run = outcome(4, true, &["orders", "payments"]);
        let second = |s: u64| SimTime::from_nanos(s * 1_000_000_000);
        let row = |desired, ready, starting, draining, requests| AutoscaleRow {
            service: 0,
            desired,
            ready,
            starting,
            draining,
            requests,
            ..AutoscaleRow::default()
        };
        let rows = [
            row(2, 2, 0, 0, 100),
            row(4, 2, 2, 0, 300),
            row(4, 4, 0, 0, 300),
            row(3, 3, 0, 1, 150),
        ];
        run.autoscale[0] = Some(AutoscaleOutcome {
            min_instances: 2,
            max_instances: 6,
            initial_instances: 2,
            peak_desired: 4,
            peak_ready: 4,
            rows: rows
                .iter()
                .enumerate()
                .map(|(w, r)| (second(w as u64), second(w as u64 + 1), *r))
                .collect(),
            rows_merged: 1,
            ..AutoscaleOutcome::default()
        });
        run
    }

    /// The value over the window starting at `t`: a step's second point at
    /// `t` (the first is the previous window's end).
    fn at(line: &Line, t: f64) -> Option<f64> {
        line.segments
            .iter()
            .flatten()
            .rev()
            .find(|p| p.0 == t)
            .map(|p| p.1)
    }

    #[test]
    fn a_run_without_an_autoscaler_has_no_autoscale_chart() {
        let run = outcome(5, true, &["orders"]);
        let plan = Plan::unknown();
        assert!(Data::new(&run, &plan).autoscale().is_none());
        let files = render(&run).unwrap();
        assert!(!names(&files).iter().any(|n| n.contains("autoscale")));
    }

    #[test]
    fn instances_by_state_under_the_decided_count_and_the_load() {
        let run = autoscaled();
        let mut plan = Plan::unknown();
        // The fixture's crash (1 s to 3 s) acts on `orders`.
        plan.fault_targets = vec![
            Some(FaultTarget {
                service: 0,
                instance: Some(0),
            }),
            None,
        ];
        let data = Data::new(&run, &plan);
        let spec = data.autoscale().unwrap();
        assert_eq!(spec.name, "autoscale");
        assert_eq!(spec.panels.len(), 2);
        for panel in &spec.panels {
            assert_eq!(panel.faults, Some(vec![(1.0, 3.0)]), "{}", panel.title);
        }
        let instances = &spec.panels[0];
        assert_eq!(
            instances.title,
            "service orders: instances (2–6; peak 4 decided, 4 ready)"
        );
        let desired = &instances.lines[0];
        assert_eq!(at(desired, 0.0), Some(2.0));
        assert_eq!(at(desired, 1.0), Some(4.0));
        assert_eq!(at(desired, 3.0), Some(3.0));
        assert_eq!(instances.reference, Some(6.0));
        // Ready, starting and draining drawn; not ready and down never
        // happened, so neither band nor legend entry.
        let colours: Vec<_> = instances.bands.iter().map(|b| b.colour).collect();
        assert_eq!(colours, [GREEN, SKY_BLUE, ORANGE]);
        let top = instances.bands.iter().map(|b| b.top).fold(0.0, f64::max);
        assert_eq!(top, 4.0);
        let labels = legend(&spec);
        assert!(labels.contains(&"draining (being removed)".to_string()));
        assert!(!labels.contains(&"not ready".to_string()), "{labels:?}");
        let load = &spec.panels[1].lines[0];
        assert_eq!(at(load, 0.0), Some(100.0));
        assert_eq!(at(load, 1.0), Some(300.0));
        assert_eq!(at(load, 3.0), Some(150.0));
        let files = render(&run).unwrap();
        assert!(names(&files).contains(&"charts/autoscale.svg"));
        assert!(names(&files).contains(&"charts/autoscale.png"));
        assert_eq!(files, render(&run).unwrap());
    }
}
