//! The service charts: requests in system and queued, and the requests,
//! successes and failures of each service.

use super::super::data::{Busiest, Data, stack, steps};
use super::super::panel::{Legend, Line, Panel, Spec};
use super::super::style::{BLACK_OI, BLUE, GREEN, ORANGE, PURPLE, SKY_BLUE, VERMILLION, YELLOW};
use super::{shown, with_other};

impl Data<'_> {
    pub(super) fn service_queues(&self) -> Option<Spec> {
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

    pub(super) fn service_outcomes(&self) -> Option<Spec> {
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
}

#[cfg(test)]
mod tests {
    use super::super::super::fixtures::{outcome, render};
    use super::super::super::plan::Plan;
    use super::super::super::style::MAX_SERIES;
    use super::super::legend;
    use super::*;
    use crate::metrics::EntityKind;

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
}
