//! The eleven charts, each built from [`Data`] as a [`Spec`], one file per
//! family: `routes.rs` (route latency and throughput), `services.rs`
//! (service queues and outcomes), `policies.rs` (retry amplification and
//! the attempts behind the calls), `breakers.rs` (circuit-breaker states),
//! `instances.rs` (per-instance load, imbalance and pool), `autoscale.rs`
//! (an autoscaled service's instances and load), `sagas.rs` (each
//! orchestrator's sagas ending and running) and `lag.rs` (each consumer
//! group's lag and staleness, with the faults shaded). This file
//! lists them in [`CHARTS`](super::CHARTS) order and holds what they
//! share: the strips' notes, the captions of a route's, a service's or an
//! edge's panel, and the busiest-and-other layout.

mod autoscale;
mod breakers;
mod instances;
mod lag;
mod policies;
mod routes;
mod sagas;
mod services;

use super::data::{Busiest, Data, Window};
use super::panel::{Legend, Spec, strips};
use super::style::short;

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
            self.instances(),
            self.autoscale(),
            self.sagas(),
            self.lag(),
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

/// The labels of a chart's legend, for tests.
#[cfg(test)]
fn legend(spec: &Spec) -> Vec<String> {
    spec.legend.iter().map(|l| l.label.to_string()).collect()
}
