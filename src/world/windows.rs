//! Closing time-series windows: each window's rows, per route, service,
//! edge and declared client, go to the world's recorder (the report's files
//! and the bounded copy for charts, as the caller chose), and its counts are
//! added to the run's totals. Nothing here knows of files or names.

use crate::kernel::SimTime;
use crate::metrics::{Counts, EntityKind, WindowRow};

use super::{EdgeModel, World};

impl World<'_> {
    // ----- windows ---------------------------------------------------------

    pub(super) fn close_window(&mut self, now: SimTime) {
        if now <= self.window_start && !self.window_has_counts() {
            return;
        }
        // A run that ends (idle, or at its event budget) at the instant a
        // window closed, after more events at that instant, ends with a
        // zero-width window: its rows hold those counts, so that the series
        // always adds up to the totals.
        let (start, end) = (self.window_start, now);
        let p = |h: &crate::metrics::LatencyHistogram, q: f64| {
            (h.count() > 0).then(|| h.quantile_ms(q))
        };
        let routes = self.route_stats.len();
        for (i, stats) in self.route_stats.iter_mut().enumerate() {
            // The route's outcomes, with its edge's attempt counters.
            let edge = &mut self.edge_stats[i];
            let mut counts = stats.window;
            merge_attempts(&mut counts, &edge.window);
            self.closing.rows.push(WindowRow {
                start,
                end,
                kind: EntityKind::Route,
                entity: i as u32,
                counts,
                latency_ms_p50: p(&stats.window_latency, 0.5),
                latency_ms_p99: p(&stats.window_latency, 0.99),
                in_flight: stats.in_flight,
                queue_length: None,
                breakers_open: self.edges[i].has_breaker().then_some(edge.breakers_open),
            });
            stats.window_latency.close_window_into(&mut stats.latency);
        }
        for (i, stats) in self.service_stats.iter_mut().enumerate() {
            self.closing.rows.push(WindowRow {
                start,
                end,
                kind: EntityKind::Service,
                entity: i as u32,
                counts: stats.window,
                latency_ms_p50: p(&stats.window_latency, 0.5),
                latency_ms_p99: p(&stats.window_latency, 0.99),
                in_flight: stats.in_system(),
                queue_length: Some(stats.in_queue.value()),
                breakers_open: None,
            });
            stats.window_latency.close_window_into(&mut stats.latency);
        }
        for (i, stats) in self.edge_stats.iter_mut().enumerate().skip(routes) {
            self.closing.rows.push(WindowRow {
                start,
                end,
                kind: EntityKind::Edge,
                entity: i as u32,
                counts: stats.window,
                latency_ms_p50: None,
                latency_ms_p99: None,
                in_flight: 0,
                queue_length: None,
                breakers_open: self.edges[i].has_breaker().then_some(stats.breakers_open),
            });
        }
        for (i, stats) in self.clients.stats.iter_mut().enumerate() {
            self.closing.rows.push(WindowRow {
                start,
                end,
                kind: EntityKind::Client,
                entity: i as u32,
                counts: stats.window,
                latency_ms_p50: p(&stats.window_latency, 0.5),
                latency_ms_p99: p(&stats.window_latency, 0.99),
                in_flight: stats.in_flight,
                queue_length: None,
                breakers_open: None,
            });
            stats.window_latency.close_window_into(&mut stats.latency);
        }
        self.instance_rows();
        self.autoscale_rows();
        if self.sagas.is_some() {
            self.saga_rows();
        }
        if self.messaging.is_some() {
            self.messaging_window(now);
        }
        self.fold_window_counts();
        self.window_start = now;
        self.closing.start = start;
        self.closing.end = end;
        self.sink.window(&self.closing);
        self.closing.rows.clear();
        self.closing.instances.clear();
        self.closing.autoscale.clear();
        self.closing.sagas.clear();
        self.closing.groups.clear();
        self.closing.partitions.clear();
    }

    /// Whether anything was counted in the current window.
    fn window_has_counts(&self) -> bool {
        let zero = Counts::default();
        self.route_stats.iter().any(|s| s.window != zero)
            || self.clients.stats.iter().any(|s| s.window != zero)
            || self.service_stats.iter().any(|s| s.window != zero)
            || self.edge_stats.iter().any(|s| s.window != zero)
    }

    /// Adds the current window's counts to the totals and starts the next
    /// window's from zero.
    fn fold_window_counts(&mut self) {
        for stats in self.route_stats.iter_mut().chain(&mut self.clients.stats) {
            stats.total.add(&stats.window);
            stats.window = Counts::default();
        }
        for stats in &mut self.service_stats {
            stats.total.add(&stats.window);
            stats.window = Counts::default();
        }
        for stats in &mut self.edge_stats {
            stats.total.add(&stats.window);
            stats.window = Counts::default();
        }
    }

    /// Closes the last (possibly partial) window.
    pub fn finish(&mut self, now: SimTime) {
        self.close_window(now);
        self.close_crashes(now);
    }
}

impl EdgeModel {
    fn has_breaker(&self) -> bool {
        self.units.first().is_some_and(|u| u.breaker.is_some())
    }
}

/// Copies an edge's attempt-level counters into a route's counts.
fn merge_attempts(counts: &mut Counts, edge: &Counts) {
    counts.attempts = edge.attempts;
    counts.retries = edge.retries;
    counts.hedges = edge.hedges;
    counts.retries_denied = edge.retries_denied;
}
