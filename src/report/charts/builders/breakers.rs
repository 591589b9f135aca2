//! The circuit-breaker chart: per edge with breakers, a state timeline per
//! breaker, or the number of its breakers in each state when there are
//! too many to draw one by one.

use super::super::breakers::{STATES, is_open, raster, state_counts, unit_timelines};
use super::super::data::{Data, stack_spans, top};
use super::super::panel::{Lane, Legend, Panel, Spec};
use super::super::style::{MAX_BANDS, NOTE, tick};

impl Data<'_> {
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
    /// [`MAX_PANELS`]: super::super::style::MAX_PANELS
    pub(super) fn breakers(&self) -> Option<Spec> {
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

#[cfg(test)]
mod tests {
    use super::super::super::fixtures::{edge, render, resilient, transition};
    use super::super::super::plan::Plan;
    use super::super::super::style::{MAX_PANELS, PALE_GREEN};
    use super::super::legend;
    use super::*;
    use std::collections::BTreeMap;

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
