//! The lag chart: for each consumer group, two panels on the run's time
//! axis: its lag at each window's end (over its partitions, and its highest
//! partition's, dashed), and the staleness of the events it applied in each
//! window (p50 and p99, in seconds), every fault of the run shaded (a
//! group's lag grows behind a broker, a producer or a consumer, so any of
//! them can be the cause). Drawn from the rows each group keeps for charts
//! ([`GroupOutcome::rows`](crate::world::GroupOutcome)), so a run without
//! consumer groups has no such chart.

use plotters::style::RGBColor;

use super::super::data::Data;
use super::super::panel::{Legend, Line, Panel, Spec};
use super::super::style::{BLUE, MAX_PANELS, ORANGE, SKY_BLUE, VERMILLION, short};
use crate::kernel::SimTime;
use crate::metrics::events::GroupRow;
use crate::world::GroupOutcome;

/// Panels per group.
const PANELS_PER_GROUP: usize = 2;
/// The most groups the chart shows (the busiest by events applied); a note
/// counts the rest.
const MAX_GROUPS: usize = MAX_PANELS / PANELS_PER_GROUP;

/// The lag over the group's partitions.
const LAG: RGBColor = BLUE;
/// Its highest partition's lag: dashed.
const PARTITION_LAG: RGBColor = SKY_BLUE;
/// The staleness percentiles.
const P50: RGBColor = ORANGE;
const P99: RGBColor = VERMILLION;

impl Data<'_> {
    pub(super) fn lag(&self) -> Option<Spec> {
        if self.empty {
            return None;
        }
        let events = self.run.messaging.as_ref()?;
        let shown: Vec<&GroupOutcome> = events
            .groups
            .iter()
            .filter(|g| !g.rows.is_empty())
            .collect();
        if shown.is_empty() {
            return None;
        }
        let mut order: Vec<usize> = (0..shown.len()).collect();
        order.sort_by(|&a, &b| {
            shown[b]
                .counts
                .applied
                .cmp(&shown[a].counts.applied)
                .then(a.cmp(&b))
        });
        let left_out = order.len().saturating_sub(MAX_GROUPS);
        order.truncate(MAX_GROUPS);
        order.sort_unstable();
        let panels: Vec<Panel> = order
            .iter()
            .flat_map(|&k| self.group_panels(shown[k]))
            .collect();
        let mut legend = vec![
            Legend::line("lag at the window's end", LAG),
            Legend::dashed("its highest partition's lag", PARTITION_LAG),
            Legend::line("staleness p50", P50),
            Legend::line("staleness p99", P99),
            Legend::note("shaded: every fault of the run"),
        ];
        let merged = order.iter().map(|&k| shown[k].rows_merged).max();
        if let Some(merged) = merged.filter(|&m| m > 1) {
            legend.push(Legend::note(format!(
                "each point merges up to {merged} windows (staleness: the highest of them)"
            )));
        }
        if left_out > 0 {
            legend.push(Legend::note(format!(
                "{left_out} more groups not shown (fewest events applied)"
            )));
        }
        Spec::new(10, "messages", legend, panels)
    }

    /// The two panels of one group: its lag, then its staleness.
    fn group_panels(&self, outcome: &GroupOutcome) -> [Panel; PANELS_PER_GROUP] {
        let name = short(&format!("{}/{}", outcome.topic, outcome.name));
        let secs = |t: SimTime| t.as_secs_f64();
        let gauge = |value: fn(&GroupRow) -> u64| -> Vec<(f64, f64)> {
            outcome
                .rows
                .iter()
                .flat_map(|(start, end, r)| {
                    let v = value(r) as f64;
                    [(secs(*start), v), (secs(*end), v)]
                })
                .collect()
        };
        let lag = Panel {
            title: format!(
                "group {name}: lag at each window's end ({} at most, {} at the end)",
                outcome.lag_max, outcome.lag
            ),
            lines: vec![
                Line::dashed(PARTITION_LAG, 2, vec![gauge(|r| r.partition_lag_max)]),
                Line::new(LAG, 2, vec![gauge(|r| r.lag)]),
            ],
            y_desc: Some("messages"),
            ..Panel::default()
        };
        // A window where nothing was applied has no staleness: the line
        // breaks there rather than falling to 0.
        let percentile = |value: fn(&GroupRow) -> Option<f64>| -> Vec<Vec<(f64, f64)>> {
            let mut segments: Vec<Vec<(f64, f64)>> = Vec::new();
            let mut open = false;
            for (start, end, r) in &outcome.rows {
                match value(r) {
                    Some(ms) => {
                        if !open {
                            segments.push(Vec::new());
                            open = true;
                        }
                        let v = ms / 1e3;
                        let segment = segments.last_mut().expect("opened");
                        segment.extend([(secs(*start), v), (secs(*end), v)]);
                    }
                    None => open = false,
                }
            }
            segments
        };
        let staleness = Panel {
            title: format!(
                "group {name}: staleness of the events applied in each window, commit to application (p99 over the run {:.3} s)",
                outcome.staleness.quantile_ms(0.99) / 1e3
            ),
            lines: vec![
                Line::new(P50, 2, percentile(|r| r.staleness_ms_p50)),
                Line::new(P99, 2, percentile(|r| r.staleness_ms_p99)),
            ],
            y_desc: Some("seconds"),
            ..Panel::default()
        };
        [lag, staleness]
    }
}

#[cfg(test)]
mod tests {
    use super::super::super::fixtures::{names, outcome, render};
    use super::super::super::plan::Plan;
    use super::*;
    use crate::metrics::LatencyHistogram;
    use crate::world::{EventsOutcome, GroupCounts};

    /// A group of `name` whose lag is 10 at each window's end except 400
    /// (300 on its busiest partition) at the end of the third second, with
    /// a staleness p50 of 20 ms and p99 of 80 ms, and nothing applied in
    /// the second window; `applied` events over the run.
    fn group(name: &str, applied: u64, windows: u64) -> GroupOutcome {
        let second = |s: u64| SimTime::from_nanos(s * 1_000_000_000);
        let rows = (0..windows)
            .map(|w| {
                let idle = w == 1;
                let row = GroupRow {
                    applied: if idle { 0 } else { 50 },
                    lag: if w == 2 { 400 } else { 10 },
                    partition_lag_max: if w == 2 { 300 } else { 4 },
                    members: 2,
                    staleness_ms_p50: (!idle).then_some(20.0),
                    staleness_ms_p99: (!idle).then_some(80.0),
                    ..GroupRow::default()
                };
                (second(w), second(w + 1), row)
            })
            .collect();
        GroupOutcome {
            name: name.to_string(),
            topic: "orders".to_string(),
            service: "billing".to_string(),
            idempotent: false,
            counts: GroupCounts {
                applied,
                ..GroupCounts::default()
            },
            members: 2,
            lag: 10,
            lag_max: 400,
            pending: 10,
            staleness: LatencyHistogram::new(3),
            rows,
            rows_merged: 1,
        }
    }

    fn consuming(groups: Vec<GroupOutcome>) -> crate::world::RunOutcome {
        let mut run = outcome(4, true, &["orders", "billing"]);
        run.messaging = Some(EventsOutcome {
            topics: Vec::new(),
            publishers: Vec::new(),
            groups,
            lost: 0,
            duplicate_effects: 0,
            reads: Vec::new(),
            choreographies: Vec::new(),
        });
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
    fn a_run_without_groups_has_no_lag_chart() {
        let run = outcome(5, true, &["orders"]);
        let plan = Plan::unknown();
        assert!(Data::new(&run, &plan).lag().is_none());
        // A broker whose topics nobody reads: no group, no chart.
        let run = consuming(Vec::new());
        assert!(Data::new(&run, &plan).lag().is_none());
        let files = render(&run).unwrap();
        assert!(!names(&files).iter().any(|n| n.contains("lag")));
    }

    #[test]
    fn lag_and_staleness_per_group() {
        let run = consuming(vec![group("billing", 150, 4)]);
        let plan = Plan::unknown();
        let data = Data::new(&run, &plan);
        let spec = data.lag().unwrap();
        assert_eq!(spec.name, "lag");
        assert_eq!(spec.panels.len(), 2);
        let lag = &spec.panels[0];
        assert_eq!(
            lag.title,
            "group orders/billing: lag at each window's end (400 at most, 10 at the end)"
        );
        let colours: Vec<_> = lag.lines.iter().map(|l| (l.colour, l.dashed)).collect();
        assert_eq!(colours, [(PARTITION_LAG, true), (LAG, false)]);
        // Each window's value from its start to its end: the third
        // window, [2 s, 3 s), ended with the peak.
        assert_eq!(at(&lag.lines[1], 2.0), Some(400.0));
        assert_eq!(at(&lag.lines[1], 3.0), Some(10.0));
        assert_eq!(at(&lag.lines[0], 2.0), Some(300.0));
        assert!(lag.faults.is_none(), "every fault shaded");
        let staleness = &spec.panels[1];
        assert_eq!(staleness.y_desc, Some("seconds"));
        let colours: Vec<_> = staleness.lines.iter().map(|l| l.colour).collect();
        assert_eq!(colours, [P50, P99]);
        assert_eq!(at(&staleness.lines[0], 1.0), Some(0.02));
        assert_eq!(at(&staleness.lines[1], 4.0), Some(0.08));
        // Nothing applied in the second window: the line breaks there.
        assert_eq!(staleness.lines[1].segments.len(), 2);
        assert_eq!(at(&staleness.lines[1], 1.5), None);
        assert!(staleness.faults.is_none());
        assert!(
            !spec
                .legend
                .iter()
                .any(|l| l.label.contains("merges") || l.label.contains("not shown"))
        );
        let files = render(&run).unwrap();
        assert!(names(&files).contains(&"charts/lag.svg"));
        assert!(names(&files).contains(&"charts/lag.png"));
        assert_eq!(files, render(&run).unwrap());
    }

    #[test]
    fn the_busiest_groups_are_shown_and_the_rest_counted() {
        let groups = (0..MAX_GROUPS as u64 + 2)
            .map(|k| group(&format!("g{k}"), 100 + k, 4))
            .collect();
        let mut run = consuming(groups);
        if let Some(events) = &mut run.messaging {
            events.groups[3].rows_merged = 4;
        }
        let plan = Plan::unknown();
        let spec = Data::new(&run, &plan).lag().unwrap();
        assert_eq!(spec.panels.len(), MAX_PANELS);
        // The two with the fewest applied (g0 and g1) are left out; the
        // rest in group order.
        assert!(spec.panels[0].title.starts_with("group orders/g2:"));
        let notes: Vec<&str> = spec.legend.iter().map(|l| l.label.as_ref()).collect();
        assert!(
            notes.contains(&"2 more groups not shown (fewest events applied)"),
            "{notes:?}"
        );
        assert!(
            notes
                .iter()
                .any(|n| n.starts_with("each point merges up to 4 windows")),
            "{notes:?}"
        );
    }
}
