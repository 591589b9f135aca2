//! The observer of a run's time series: a [`Recorder`] is handed to the
//! world, and the world hands it every window's rows as the window closes.
//!
//! The world knows nothing of where rows go (files, charts, a test's
//! counter) nor of names: it closes a window into a [`ClosedWindow`] and
//! calls [`Recorder::window`]. Recorders learn the entities' names once,
//! before the first window ([`Recorder::start`]), and map a row's index to
//! its name themselves. The bounded copy kept for charts
//! ([`super::series::BoundedSeries`]) and the CSV files of the report
//! (`report::timeseries::CsvRecorder`) are two recorders; `(A, B)` records
//! into both.
//!
//! **Adding a component** (instances, a broker) adds its rows here: a new
//! [`EntityKind`] when its rows are [`WindowRow`]s (its names a new field of
//! [`SeriesNames`]), or a new row type with its own field in
//! [`ClosedWindow`] and its own method with a default body on [`Recorder`]
//! when they are not. Neither touches the world's fields, and a recorder
//! writing files adds a file, never a column to an existing one.

use super::{EntityKind, WindowRow};
use crate::kernel::SimTime;

/// The names of a run's entities, by kind, in index order: the keys of
/// summary.json's `routes`, `services`, `edges` and `clients`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SeriesNames {
    /// Routes, by route index.
    pub routes: Vec<String>,
    /// Services, by service index (sorted by name).
    pub services: Vec<String>,
    /// Edges, by edge index: routes' edges first (`client->orders`; they
    /// have no rows of their own, their attempt counters are in the route
    /// rows), then the service-to-service edges (`orders->inventory`).
    pub edges: Vec<String>,
    /// Declared clients, by client index (file order); empty for a
    /// workload without `clients`, whose one implicit client has no rows.
    pub clients: Vec<String>,
}

impl SeriesNames {
    /// The name of a row's entity.
    pub fn of(&self, row: &WindowRow) -> &str {
        let names = match row.kind {
            EntityKind::Route => &self.routes,
            EntityKind::Service => &self.services,
            EntityKind::Edge => &self.edges,
            EntityKind::Client => &self.clients,
        };
        &names[row.entity as usize]
    }

    /// The [`WindowRow`]s of one window: one per route, per service, per
    /// service-to-service edge and per declared client.
    pub fn rows_per_window(&self) -> usize {
        self.services.len() + self.edges.len() + self.clients.len()
    }
}

/// One instance of a balanced or discovered service in one window: what
/// its callers sent it, and whether they could (its pool membership).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct InstanceRow {
    /// The service's index.
    pub service: u32,
    /// The instance, within its service.
    pub instance: u32,
    /// Attempts sent to it in the window.
    pub requests: u64,
    /// Attempts to it that succeeded in the window.
    pub successes: u64,
    /// Attempts to it that ended otherwise in the window.
    pub failures: u64,
    /// Attempts in flight to it at window end.
    pub in_flight: u64,
    /// Whether the registry lists it at window end (always, without
    /// discovery).
    pub registered: bool,
    /// Callers' scope units whose choice includes it at window end (their
    /// view holds it, and it is not ejected, or they are in panic).
    pub in_pools: u32,
    /// Scope units whose outlier detector has it ejected at window end.
    pub ejected_by: u32,
}

/// The rows of one closed window.
#[derive(Clone, Debug, Default)]
pub struct ClosedWindow {
    /// Window start.
    pub start: SimTime,
    /// Window end.
    pub end: SimTime,
    /// One row per route, then per service, then per service-to-service
    /// edge, then per declared client, each kind in index order (so sorted
    /// by [`EntityKind`]).
    pub rows: Vec<WindowRow>,
    /// One row per instance of each service whose callers balance over it
    /// or discover it, in index order (empty when there is none).
    pub instances: Vec<InstanceRow>,
    /// One row per autoscaled service, in index order (empty when there is
    /// none).
    pub autoscale: Vec<super::autoscale::AutoscaleRow>,
    /// One row per saga orchestrator, in index order (empty when there is
    /// none).
    pub sagas: Vec<super::saga::SagaRow>,
    /// One row per consumer group, in index order (empty without a
    /// broker).
    pub groups: Vec<super::events::GroupRow>,
    /// One row per consumer group and partition of its topic, group by
    /// group, partitions in order (empty without a broker).
    pub partitions: Vec<super::events::PartitionRow>,
}

impl ClosedWindow {
    /// The rows of one kind.
    pub fn of(&self, kind: EntityKind) -> &[WindowRow] {
        let first = self.rows.partition_point(|r| r.kind < kind);
        let end = self.rows.partition_point(|r| r.kind <= kind);
        &self.rows[first..end]
    }
}

/// Receives each window's rows as the window closes: the whole series at
/// constant memory, however long the run.
pub trait Recorder {
    /// Called once, before the first window, with the names of the run's
    /// entities.
    fn start(&mut self, names: &SeriesNames) {
        let _ = names;
    }

    /// One closed window. Windows come in time order, contiguous, and the
    /// last one ends where observation ends (it may be partial, or of zero
    /// width when the run stopped at a window boundary after counting
    /// events at that instant).
    fn window(&mut self, window: &ClosedWindow);

    /// Why the recorder cannot go on (a file it writes failed), if it
    /// cannot: the world then stops the run after the window, instead of
    /// simulating on for minutes with nowhere to write.
    fn failure(&self) -> Option<String> {
        None
    }
}

/// Records nothing (a run observed only through its totals).
impl Recorder for () {
    fn window(&mut self, _: &ClosedWindow) {}
}

impl<R: Recorder + ?Sized> Recorder for &mut R {
    fn start(&mut self, names: &SeriesNames) {
        (**self).start(names);
    }

    fn window(&mut self, window: &ClosedWindow) {
        (**self).window(window);
    }

    fn failure(&self) -> Option<String> {
        (**self).failure()
    }
}

/// Records into both, the first first.
impl<A: Recorder, B: Recorder> Recorder for (A, B) {
    fn start(&mut self, names: &SeriesNames) {
        self.0.start(names);
        self.1.start(names);
    }

    fn window(&mut self, window: &ClosedWindow) {
        self.0.window(window);
        self.1.window(window);
    }

    fn failure(&self) -> Option<String> {
        self.0.failure().or_else(|| self.1.failure())
    }
}

/// A recorder that hands each row, with its entity's name, to a closure
/// (made by [`each_row`]).
pub struct EachRow<F> {
    names: SeriesNames,
    f: F,
}

/// Records each row of each window through `f(name, row)`.
pub fn each_row<F: FnMut(&str, &WindowRow)>(f: F) -> EachRow<F> {
    EachRow {
        names: SeriesNames::default(),
        f,
    }
}

impl<F: FnMut(&str, &WindowRow)> Recorder for EachRow<F> {
    fn start(&mut self, names: &SeriesNames) {
        self.names = names.clone();
    }

    fn window(&mut self, window: &ClosedWindow) {
        for row in &window.rows {
            (self.f)(self.names.of(row), row);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::Counts;

    fn row(kind: EntityKind, entity: u32) -> WindowRow {
        WindowRow {
            start: SimTime::ZERO,
            end: SimTime::ZERO,
            kind,
            entity,
            counts: Counts::default(),
            latency_ms_p50: None,
            latency_ms_p99: None,
            in_flight: 0,
            queue_length: None,
            breakers_open: None,
        }
    }

    #[test]
    fn a_window_splits_by_kind() {
        let window = ClosedWindow {
            rows: vec![
                row(EntityKind::Route, 0),
                row(EntityKind::Service, 0),
                row(EntityKind::Service, 1),
                row(EntityKind::Edge, 1),
                row(EntityKind::Client, 0),
            ],
            ..ClosedWindow::default()
        };
        assert_eq!(window.of(EntityKind::Route).len(), 1);
        assert_eq!(window.of(EntityKind::Service).len(), 2);
        assert_eq!(window.of(EntityKind::Edge)[0].entity, 1);
        assert_eq!(window.of(EntityKind::Client).len(), 1);
        let names = SeriesNames {
            routes: vec!["api".into()],
            services: vec!["a".into(), "b".into()],
            edges: vec!["client->a".into(), "a->b".into()],
            clients: vec!["mobile".into()],
        };
        assert_eq!(names.rows_per_window(), window.rows.len());
        let named: Vec<&str> = window.rows.iter().map(|r| names.of(r)).collect();
        assert_eq!(named, ["api", "a", "b", "a->b", "mobile"]);
    }

    #[test]
    fn a_pair_records_into_both() {
        struct Count(u32);
        impl Recorder for Count {
            fn window(&mut self, _: &ClosedWindow) {
                self.0 += 1;
            }
        }
        let (mut a, mut b) = (Count(0), Count(10));
        let mut both = (&mut a, &mut b);
        both.window(&ClosedWindow::default());
        both.window(&ClosedWindow::default());
        assert_eq!((a.0, b.0), (2, 12));
    }
}
