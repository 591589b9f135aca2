//! The per-instance chart: for each service whose callers balance over it
//! or discover it, three panels on the run's time axis: each instance's
//! share of the service's attempts, the imbalance (the busiest instance's
//! attempts ÷ the mean), and its pool (instances in a caller's pool,
//! ejected, out of every pool), with the faults of that service and its
//! instances shaded. Drawn from the instance rows kept for charts
//! ([`crate::metrics::instances::InstanceSeries`]), so a run without them
//! (no balancer, no discovery) has no such chart.

use plotters::style::RGBColor;

use super::super::data::{Data, fault_span, stack_spans};
use super::super::panel::{Legend, Line, Panel, Spec};
use super::super::style::{
    BLACK_OI, BLUE, GREEN, MAX_PANELS, MAX_SERIES, NOTE, ORANGE, OUT_OF_POOL, PALE_GREEN, PURPLE,
    SKY_BLUE, VERMILLION, YELLOW, short,
};
use crate::metrics::InstanceRow;
use crate::metrics::instances::{InstanceSeries, max_over_mean};

/// The colour of the k-th instance line of a panel.
/// The pool panel's colours (pale green, vermillion, grey) come last, so a
/// service of up to 7 instances draws none of them as a line.
const INSTANCE_COLOURS: [RGBColor; MAX_SERIES] = [
    BLUE, ORANGE, SKY_BLUE, PURPLE, GREEN, YELLOW, BLACK_OI, VERMILLION,
];
/// Panels per service.
const PANELS_PER_SERVICE: usize = 3;
/// The most services the chart shows (the busiest); a note counts the rest.
const MAX_SERVICES: usize = MAX_PANELS / PANELS_PER_SERVICE;
/// The imbalance line: a grey apart from the instances' colours.
const IMBALANCE: RGBColor = NOTE;

/// One service's place in the kept rows: its index, its first row in each
/// window and its number of instances.
#[derive(Clone, Copy)]
struct Group {
    service: u32,
    first: usize,
    instances: usize,
}

/// A service the chart shows: its rows, the faults shaded on its panels
/// and the instances drawn on their own.
struct Chosen {
    group: Group,
    faults: Vec<(f64, f64)>,
    shown: Vec<usize>,
}

/// The services of the kept rows, in service order.
fn groups(series: &InstanceSeries) -> Vec<Group> {
    let Some((_, rows)) = series.windows().next() else {
        return Vec::new();
    };
    let mut first = 0;
    rows.chunk_by(|a, b| a.service == b.service)
        .map(|g| {
            let group = Group {
                service: g[0].service,
                first,
                instances: g.len(),
            };
            first += g.len();
            group
        })
        .collect()
}

/// The instances drawn on their own (at most [`MAX_SERIES`], in index
/// order): every one when they fit, else those a fault acts on first, then
/// the busiest over the run; the rest are folded into one "other" line.
fn shown_instances(total: &[u64], faulted: &[u32]) -> Vec<usize> {
    if total.len() <= MAX_SERIES {
        return (0..total.len()).collect();
    }
    let mut order: Vec<usize> = (0..total.len()).collect();
    let is_faulted = |i: usize| faulted.contains(&(i as u32));
    order.sort_by(|&a, &b| {
        is_faulted(b)
            .cmp(&is_faulted(a))
            .then(total[b].cmp(&total[a]))
            .then(a.cmp(&b))
    });
    order.truncate(MAX_SERIES);
    order.sort_unstable();
    order
}

impl Data<'_> {
    /// The faults that act on service `service` or one of its instances,
    /// clipped to the time axis, and the instances they single out.
    pub(super) fn service_faults(&self, service: u32) -> (Vec<(f64, f64)>, Vec<u32>) {
        let mut spans = Vec::new();
        let mut instances = Vec::new();
        for (fault, target) in self.run.faults.iter().zip(&self.plan.fault_targets) {
            let Some(target) = target.filter(|t| t.service == service) else {
                continue;
            };
            if let Some((start, end, _)) = fault_span(fault, self.x_max) {
                spans.push((start, end));
                instances.extend(target.instance);
            }
        }
        (spans, instances)
    }

    pub(super) fn instances(&self) -> Option<Spec> {
        let series = &self.run.instances.series;
        if self.empty {
            return None;
        }
        let groups = groups(series);
        if groups.is_empty() {
            return None;
        }
        // Each instance's attempts over the run, from the kept rows.
        let totals: Vec<Vec<u64>> = groups
            .iter()
            .map(|g| {
                let mut total = vec![0_u64; g.instances];
                for (_, rows) in series.windows() {
                    for (t, row) in total.iter_mut().zip(&rows[g.first..g.first + g.instances]) {
                        *t += row.requests;
                    }
                }
                total
            })
            .collect();
        let mut order: Vec<usize> = (0..groups.len()).collect();
        let busy = |k: usize| totals[k].iter().sum::<u64>();
        order.sort_by(|&a, &b| busy(b).cmp(&busy(a)).then(a.cmp(&b)));
        let left_out = order.len().saturating_sub(MAX_SERVICES);
        order.truncate(MAX_SERVICES);
        order.sort_unstable();
        let chosen: Vec<Chosen> = order
            .iter()
            .map(|&k| {
                let (faults, faulted) = self.service_faults(groups[k].service);
                let shown = shown_instances(&totals[k], &faulted);
                Chosen {
                    group: groups[k],
                    faults,
                    shown,
                }
            })
            .collect();
        // Past 8 instances somewhere, a line's colour is its place in its
        // panel, and every caption names the instances it draws.
        let folded_any = chosen.iter().any(|c| c.shown.len() < c.group.instances);
        let mut panels = Vec::with_capacity(chosen.len() * PANELS_PER_SERVICE);
        for c in &chosen {
            panels.extend(self.instance_panels(series, c.group, &c.shown, &c.faults, folded_any));
        }
        let mut legend: Vec<Legend> = (0..MAX_SERIES)
            .map(|slot| {
                let label = if folded_any {
                    format!("line {}", slot + 1)
                } else {
                    format!("instance {slot}")
                };
                Legend::line(label, INSTANCE_COLOURS[slot])
            })
            .collect();
        if folded_any {
            legend.push(Legend::dashed(
                "other: the mean share of the instances not drawn",
                NOTE,
            ));
        }
        legend.extend([
            Legend::dashed("even spread (share 100% ÷ instances; imbalance 1)", NOTE),
            Legend::line(
                "imbalance: busiest instance's attempts ÷ the mean",
                IMBALANCE,
            ),
            Legend::area("in a caller's pool", PALE_GREEN),
            Legend::area("ejected by a caller's outlier detection", VERMILLION),
            Legend::area(
                "out of every pool (down, deregistered, not ready)",
                OUT_OF_POOL,
            ),
            Legend::note(
                "shaded: the faults of that service or its instances; pool at each window's end",
            ),
        ]);
        if folded_any {
            legend.push(Legend::note(
                "past 8 instances, the faulted and then the busiest are drawn, named in the caption",
            ));
        }
        if series.merged > 1 {
            legend.push(Legend::note(format!(
                "each point merges {} windows of instance rows",
                series.merged
            )));
        }
        if left_out > 0 {
            legend.push(Legend::note(format!(
                "{left_out} more services not shown (least traffic)"
            )));
        }
        Spec::new(7, "share of attempts (%)", legend, panels)
    }

    /// The three panels of one service: shares, imbalance, pool.
    fn instance_panels(
        &self,
        series: &InstanceSeries,
        group: Group,
        shown: &[usize],
        faults: &[(f64, f64)],
        numbered: bool,
    ) -> [Panel; PANELS_PER_SERVICE] {
        let name = short(
            self.run
                .service_names
                .get(group.service as usize)
                .map_or("?", String::as_str),
        );
        let n = group.instances;
        let windows: Vec<((f64, f64), &[InstanceRow])> = series
            .windows()
            .map(|((start, end), rows)| {
                (
                    (start.as_secs_f64(), end.as_secs_f64()),
                    &rows[group.first..group.first + n],
                )
            })
            .collect();
        // A step per window, split where the service had no attempts.
        let step_line = |value: &dyn Fn(&[InstanceRow]) -> Option<f64>| {
            let mut segments: Vec<Vec<(f64, f64)>> = Vec::new();
            let mut current = Vec::new();
            for ((start, end), rows) in &windows {
                match value(rows).filter(|v| v.is_finite()) {
                    Some(v) => current.extend([(*start, v), (*end, v)]),
                    None if !current.is_empty() => segments.push(std::mem::take(&mut current)),
                    None => {}
                }
            }
            if !current.is_empty() {
                segments.push(current);
            }
            segments
        };
        let share = |rows: &[InstanceRow], requests: u64, of: usize| -> Option<f64> {
            let total: u64 = rows.iter().map(|r| r.requests).sum();
            (total > 0).then(|| 100.0 * requests as f64 / total as f64 / of as f64)
        };
        let mut lines: Vec<Line> = shown
            .iter()
            .enumerate()
            .map(|(slot, &i)| {
                Line::new(
                    INSTANCE_COLOURS[slot],
                    2,
                    step_line(&|rows: &[InstanceRow]| share(rows, rows[i].requests, 1)),
                )
            })
            .collect();
        let folded = n - shown.len();
        if folded > 0 {
            let rest = |rows: &[InstanceRow]| -> u64 {
                (0..n)
                    .filter(|i| !shown.contains(i))
                    .map(|i| rows[i].requests)
                    .sum()
            };
            lines.push(Line::dashed(
                NOTE,
                2,
                step_line(&|rows: &[InstanceRow]| share(rows, rest(rows), folded)),
            ));
        }
        let drawn = if numbered {
            let list: Vec<String> = shown.iter().map(ToString::to_string).collect();
            let other = if folded > 0 {
                format!(", other: {folded}")
            } else {
                String::new()
            };
            format!(
                "; lines 1–{}: instances {}{other}",
                shown.len(),
                list.join(", ")
            )
        } else {
            String::new()
        };
        let shares = Panel {
            title: format!(
                "service {name}: share of its attempts per instance ({n} instances{drawn})"
            ),
            lines,
            reference: Some(100.0 / n.max(1) as f64),
            faults: Some(faults.to_vec()),
            ..Panel::default()
        };
        let over_time = series.imbalance.get(group.service as usize);
        let run_figures = match over_time.and_then(|o| Some((o.mean()?, o.max))) {
            Some((mean, max)) => format!(": mean {mean:.2}, max {max:.2} over the windows"),
            None => String::new(),
        };
        let imbalance = Panel {
            title: format!("service {name}: imbalance, busiest ÷ mean{run_figures}"),
            lines: vec![Line::new(
                IMBALANCE,
                2,
                step_line(&|rows: &[InstanceRow]| {
                    max_over_mean(rows.iter().map(|r| r.requests), rows.len())
                }),
            )],
            reference: Some(1.0),
            min_top: 1.25,
            y_desc: Some("busiest ÷ mean"),
            faults: Some(faults.to_vec()),
            ..Panel::default()
        };
        // Each instance in one state at window end: ejected by some caller,
        // else in some caller's pool, else out of every pool.
        let spans: Vec<(f64, f64)> = windows.iter().map(|(span, _)| *span).collect();
        let count = |f: &dyn Fn(&InstanceRow) -> bool| -> Vec<f64> {
            windows
                .iter()
                .map(|(_, rows)| rows.iter().filter(|r| f(r)).count() as f64)
                .collect()
        };
        let layers = vec![
            (
                PALE_GREEN,
                count(&|r: &InstanceRow| r.ejected_by == 0 && r.in_pools > 0),
            ),
            (VERMILLION, count(&|r: &InstanceRow| r.ejected_by > 0)),
            (
                OUT_OF_POOL,
                count(&|r: &InstanceRow| r.ejected_by == 0 && r.in_pools == 0),
            ),
        ];
        let pool = Panel {
            title: format!("service {name}: its {n} instances by pool membership"),
            bands: stack_spans(&spans, layers),
            min_top: n as f64,
            y_desc: Some("instances"),
            faults: Some(faults.to_vec()),
            ..Panel::default()
        };
        [shares, imbalance, pool]
    }
}

#[cfg(test)]
mod tests {
    use super::super::super::fixtures::{balanced, names, render};
    use super::super::super::plan::{FaultTarget, Plan};
    use super::super::legend;
    use super::*;

    /// The chart is drawn from the kept instance rows: none, no chart.
    #[test]
    fn a_run_without_instance_rows_has_no_instance_chart() {
        let run = super::super::super::fixtures::outcome(5, true, &["orders"]);
        assert!(run.instances.series.rows.is_empty());
        let plan = Plan::unknown();
        assert!(Data::new(&run, &plan).instances().is_none());
        let files = render(&run).unwrap();
        assert!(!names(&files).iter().any(|n| n.contains("instances")));
    }

    /// Three instances of `orders`, instance 0 crashed from 1 s to 3 s: its
    /// service's panels shade that interval and no other fault (the
    /// fixture's second fault hits no service), the crashed instance's
    /// share falls to 0 and the imbalance to 3 ÷ 2.
    #[test]
    fn the_faults_of_the_service_are_shaded_on_its_panels() {
        let run = balanced(6, 3);
        let mut plan = Plan::unknown();
        plan.fault_targets = vec![
            Some(FaultTarget {
                service: 0,
                instance: Some(0),
            }),
            None,
        ];
        let data = Data::new(&run, &plan);
        let spec = data.instances().unwrap();
        assert_eq!(spec.name, "instances");
        assert_eq!(spec.panels.len(), 3);
        for panel in &spec.panels {
            assert_eq!(panel.faults, Some(vec![(1.0, 3.0)]), "{}", panel.title);
        }
        let shares = &spec.panels[0];
        assert!(
            shares.title.starts_with("service orders: share"),
            "{}",
            shares.title
        );
        assert_eq!(shares.lines.len(), 3);
        assert_eq!(shares.reference, Some(100.0 / 3.0));
        // Window 1 (1 s to 2 s): instance 0 got nothing, the others half.
        // The value over the window starting at `t`: a step's second
        // point at `t` (the first is the previous window's end).
        let at = |line: &Line, t: f64| {
            line.segments
                .iter()
                .flatten()
                .rev()
                .find(|p| p.0 == t)
                .map(|p| p.1)
        };
        assert_eq!(at(&shares.lines[0], 1.0), Some(0.0));
        assert_eq!(at(&shares.lines[1], 1.0), Some(50.0));
        assert_eq!(at(&shares.lines[0], 4.0), Some(100.0 / 3.0));
        let imbalance = &spec.panels[1];
        assert_eq!(at(&imbalance.lines[0], 1.0), Some(1.5));
        assert_eq!(at(&imbalance.lines[0], 0.0), Some(1.0));
        assert!(
            imbalance
                .title
                .ends_with("mean 1.17, max 1.50 over the windows"),
            "{}",
            imbalance.title
        );
        // Pool: 3 instances stacked in every window; in window 2 one of
        // them is out of every pool.
        let pool = &spec.panels[2];
        let top = pool.bands.iter().map(|b| b.top).fold(0.0, f64::max);
        assert_eq!(top, 3.0);
        assert!(pool.bands.iter().any(|b| b.colour == OUT_OF_POOL));
        let labels = legend(&spec);
        assert!(labels.contains(&"instance 2".to_string()), "{labels:?}");
        assert!(!labels.contains(&"instance 3".to_string()), "{labels:?}");
        // Without the plan's targets nothing is shaded on these panels.
        let unknown = Plan::unknown();
        let spec = Data::new(&run, &unknown).instances().unwrap();
        assert!(spec.panels.iter().all(|p| p.faults == Some(Vec::new())));
        let files = render(&run).unwrap();
        assert!(names(&files).contains(&"charts/instances.svg"));
        assert_eq!(files, render(&run).unwrap());
    }

    /// Past 8 instances: the faulted one and the 7 busiest are drawn, the
    /// rest folded into one "other" line; the caption names them.
    #[test]
    fn many_instances_are_the_faulted_the_busiest_and_one_other() {
        let mut run = balanced(4, 20);
        // Instance k gets k + 1 attempts per window.
        for row in &mut run.instances.series.rows {
            row.requests = u64::from(row.instance) + 1;
        }
        let mut plan = Plan::unknown();
        plan.fault_targets = vec![
            Some(FaultTarget {
                service: 0,
                instance: Some(2),
            }),
            None,
        ];
        let spec = Data::new(&run, &plan).instances().unwrap();
        let shares = &spec.panels[0];
        assert_eq!(shares.lines.len(), MAX_SERIES + 1);
        assert!(shares.lines[MAX_SERIES].dashed);
        assert!(
            shares.title.ends_with(
                "(20 instances; lines 1–8: instances 2, 13, 14, 15, 16, 17, 18, 19, other: 12)"
            ),
            "{}",
            shares.title
        );
        assert!(legend(&spec).contains(&"line 1".to_string()));
        assert_eq!(shown_instances(&[5, 1, 9], &[]), [0, 1, 2]);
    }

    #[test]
    fn the_chart_stays_within_its_size_with_many_services() {
        let mut run = balanced(3, 2);
        // Ten services of two instances each.
        let template = run.instances.series.clone();
        let mut series = InstanceSeries::default();
        for (span, rows) in template.windows() {
            let mut window = Vec::new();
            for s in 0..10 {
                window.extend(rows.iter().map(|r| InstanceRow { service: s, ..*r }));
            }
            series.push_window(span.0, span.1, &window);
        }
        run.instances.series = series.finish();
        run.service_names = (0..10).map(|s| format!("s{s}")).collect();
        let plan = Plan::unknown();
        let data = Data::new(&run, &plan);
        let spec = data.instances().unwrap();
        assert_eq!(spec.panels.len(), MAX_PANELS);
        assert!(
            legend(&spec)
                .iter()
                .any(|l| l.starts_with("6 more services not shown"))
        );
        let (width, height) = spec.size(&data);
        assert_eq!(width, super::super::super::style::WIDTH);
        assert!(height <= super::super::super::style::MAX_HEIGHT);
    }
}
