//! The instances of a balanced or discovered service, window by window,
//! seen as a whole: how evenly its callers spread their attempts (the
//! *imbalance*, the busiest instance's attempts ÷ the mean over its
//! instances) and its pool (how many instances are registered, in some
//! caller's pool, ejected by some caller). One definition, [`pool_rows`],
//! for the series file (`series/balance.csv`), the run's figures in
//! summary.json and the chart.
//!
//! [`InstanceSeries`] is the recorder of the instance rows kept for the
//! charts, beside [`super::series::BoundedSeries`] and with the same
//! merging in pairs: at most [`INSTANCE_ROW_BUDGET`] rows (a run with many
//! instances keeps fewer, wider windows), and the exact imbalance of every
//! window summed up per service as the windows close, so the run's mean
//! and maximum do not depend on that merging. A run without instance rows
//! keeps nothing and does nothing but look at an empty list per window.

use super::{ClosedWindow, InstanceRow, Recorder};
use crate::kernel::SimTime;

/// One service's instances in one window, as a whole.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct PoolRow {
    /// The service's index.
    pub service: u32,
    /// Its instances (rows in the window).
    pub instances: u32,
    /// Instances its registry lists at window end (all, without discovery).
    pub registered: u32,
    /// Instances that some caller's scope unit would choose among at
    /// window end (`in_pools > 0`).
    pub in_pool: u32,
    /// Instances that some scope unit's outlier detector has ejected at
    /// window end (`ejected_by > 0`).
    pub ejected: u32,
    /// Attempts sent to its instances in the window.
    pub requests: u64,
    /// The busiest instance's attempts ÷ the mean over all its instances
    /// (up or down): 1 is an even spread, N that one instance of N had them
    /// all; none when no attempt was sent.
    pub imbalance: Option<f64>,
}

/// `max ÷ mean` of `values` over `n` of them: none when they add up to 0.
pub fn max_over_mean(values: impl Iterator<Item = u64>, n: usize) -> Option<f64> {
    let (total, max) = values.fold((0_u64, 0_u64), |(t, m), v| (t + v, m.max(v)));
    (total > 0).then(|| max as f64 * n as f64 / total as f64)
}

/// The rows of one window (as [`ClosedWindow::instances`]: grouped by
/// service, in service order), one [`PoolRow`] per service.
pub fn pool_rows(rows: &[InstanceRow]) -> impl Iterator<Item = PoolRow> + '_ {
    rows.chunk_by(|a, b| a.service == b.service).map(|group| {
        let count = |f: fn(&InstanceRow) -> bool| group.iter().filter(|r| f(r)).count() as u32;
        PoolRow {
            service: group[0].service,
            instances: group.len() as u32,
            registered: count(|r| r.registered),
            in_pool: count(|r| r.in_pools > 0),
            ejected: count(|r| r.ejected_by > 0),
            requests: group.iter().map(|r| r.requests).sum(),
            imbalance: max_over_mean(group.iter().map(|r| r.requests), group.len()),
        }
    })
}

/// One service's imbalance over the run's windows: exact, every window.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct ImbalanceOverTime {
    /// Windows in which it was sent attempts (the others have no
    /// imbalance).
    pub windows: u64,
    /// The sum of their imbalances (÷ `windows`: the mean).
    pub sum: f64,
    /// The largest.
    pub max: f64,
    /// The start of the first window where it was seen.
    pub max_at: SimTime,
}

impl ImbalanceOverTime {
    /// The mean imbalance over the windows with attempts; none without any.
    pub fn mean(&self) -> Option<f64> {
        (self.windows > 0).then(|| self.sum / self.windows as f64)
    }

    fn add(&mut self, imbalance: f64, at: SimTime) {
        self.windows += 1;
        self.sum += imbalance;
        if imbalance > self.max {
            self.max = imbalance;
            self.max_at = at;
        }
    }
}

/// The most instance rows [`InstanceSeries`] keeps: 65,536 rows of 56
/// bytes, under 4 MB, whatever the scenario.
pub const INSTANCE_ROW_BUDGET: usize = 1 << 16;
/// ...and never more windows than [`super::series::MAX_WINDOWS`], nor
/// fewer than 2.
const MAX_WINDOWS: usize = super::series::MAX_WINDOWS;

/// The instance rows kept for charts, bounded, and every service's
/// imbalance over time.
#[derive(Clone, Debug, Default)]
pub struct InstanceSeries {
    /// Each kept window's span.
    pub spans: Vec<(SimTime, SimTime)>,
    /// `per_window` rows per kept window, in window order.
    pub rows: Vec<InstanceRow>,
    /// Rows per window: every reported instance (0: none). Past half of
    /// [`INSTANCE_ROW_BUDGET`] no row is kept, only the imbalance.
    pub per_window: usize,
    /// Windows of the run in each kept window (a power of two).
    pub merged: u32,
    /// Per service index: its imbalance over every window (empty until the
    /// first window with instance rows; services without rows stay at
    /// zero windows).
    pub imbalance: Vec<ImbalanceOverTime>,
    capacity: usize,
    /// Whether rows are kept (2 windows of them fit the budget).
    keeping: bool,
    pending: Vec<InstanceRow>,
    pending_span: (SimTime, SimTime),
    pending_windows: u32,
}

impl InstanceSeries {
    /// A store of at most `capacity` windows (rounded down to even, at
    /// least 2); by default (0) as many as [`INSTANCE_ROW_BUDGET`] allows.
    pub fn with_capacity(capacity: usize) -> Self {
        InstanceSeries {
            capacity,
            merged: 1,
            ..Self::default()
        }
    }

    /// Adds one window's rows.
    pub fn push_window(&mut self, start: SimTime, end: SimTime, rows: &[InstanceRow]) {
        if rows.is_empty() {
            return;
        }
        if self.per_window == 0 {
            self.per_window = rows.len();
            self.merged = 1;
            if self.capacity == 0 {
                self.capacity = INSTANCE_ROW_BUDGET / rows.len();
            }
            // Fewer than 2 windows within the budget: too many instances
            // to chart, none kept (their imbalance is still summed up).
            self.keeping = self.capacity >= 2;
            self.capacity = (self.capacity.min(MAX_WINDOWS) / 2 * 2).max(2);
        }
        // The world reports the same instances every window.
        debug_assert_eq!(rows.len(), self.per_window);
        if rows.len() != self.per_window {
            return;
        }
        for pool in pool_rows(rows) {
            let s = pool.service as usize;
            if self.imbalance.len() <= s {
                self.imbalance.resize(s + 1, ImbalanceOverTime::default());
            }
            if let Some(imbalance) = pool.imbalance {
                self.imbalance[s].add(imbalance, start);
            }
        }
        if !self.keeping {
            return;
        }
        if self.pending_windows == 0 {
            self.pending.clear();
            self.pending.extend_from_slice(rows);
            self.pending_span = (start, end);
        } else {
            for (kept, row) in self.pending.iter_mut().zip(rows) {
                merge(kept, row);
            }
            self.pending_span.1 = end;
        }
        self.pending_windows += 1;
        if self.pending_windows == self.merged {
            self.rows.append(&mut self.pending);
            self.spans.push(self.pending_span);
            self.pending_windows = 0;
            if self.spans.len() == self.capacity {
                self.halve();
            }
        }
    }

    /// Merges the kept windows in pairs.
    fn halve(&mut self) {
        let n = self.per_window;
        let windows = self.spans.len();
        for pair in 0..windows / 2 {
            for entity in 0..n {
                let later = self.rows[(2 * pair + 1) * n + entity];
                let mut earlier = self.rows[2 * pair * n + entity];
                merge(&mut earlier, &later);
                self.rows[pair * n + entity] = earlier;
            }
            self.spans[pair] = (self.spans[2 * pair].0, self.spans[2 * pair + 1].1);
        }
        self.rows.truncate(windows / 2 * n);
        self.spans.truncate(windows / 2);
        self.merged *= 2;
    }

    /// The store with a partly merged last window kept.
    #[must_use]
    pub fn finish(mut self) -> Self {
        if self.pending_windows > 0 {
            self.rows.append(&mut self.pending);
            self.spans.push(self.pending_span);
            self.pending_windows = 0;
        }
        self.pending = Vec::new();
        self
    }

    /// The kept windows: each span with its rows.
    pub fn windows(&self) -> impl Iterator<Item = ((SimTime, SimTime), &[InstanceRow])> + '_ {
        self.spans
            .iter()
            .copied()
            .zip(self.rows.chunks(self.per_window.max(1)))
    }
}

/// `later` merged into `kept`: counts add up; what is sampled at window end
/// (in flight, membership) is the later window's.
fn merge(kept: &mut InstanceRow, later: &InstanceRow) {
    kept.requests += later.requests;
    kept.successes += later.successes;
    kept.failures += later.failures;
    kept.in_flight = later.in_flight;
    kept.registered = later.registered;
    kept.in_pools = later.in_pools;
    kept.ejected_by = later.ejected_by;
}

impl Recorder for InstanceSeries {
    fn window(&mut self, window: &ClosedWindow) {
        self.push_window(window.start, window.end, &window.instances);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(service: u32, instance: u32, requests: u64) -> InstanceRow {
        InstanceRow {
            service,
            instance,
            requests,
            registered: true,
            in_pools: 1,
            ..InstanceRow::default()
        }
    }

    fn secs(s: u64) -> SimTime {
        SimTime::from_nanos(s * 1_000_000_000)
    }

    /// Hand-made windows: the imbalance is max × n ÷ total over every
    /// instance, a crashed one (no attempts) included; none when nothing was
    /// sent; membership counts instances, not units.
    #[test]
    fn the_imbalance_is_the_busiest_over_the_mean_per_service() {
        let mut rows = vec![
            row(0, 0, 30),
            row(0, 1, 30),
            row(0, 2, 0),
            row(2, 0, 10),
            row(2, 1, 30),
        ];
        rows[2].in_pools = 0;
        rows[2].registered = false;
        rows[4].ejected_by = 2;
        rows[4].in_pools = 3;
        let pools: Vec<PoolRow> = pool_rows(&rows).collect();
        assert_eq!(pools.len(), 2);
        assert_eq!(
            pools[0],
            PoolRow {
                service: 0,
                instances: 3,
                registered: 2,
                in_pool: 2,
                ejected: 0,
                requests: 60,
                // 30 ÷ (60 / 3): the two survivors share evenly.
                imbalance: Some(1.5),
            }
        );
        assert_eq!(pools[1].service, 2);
        assert_eq!(pools[1].ejected, 1);
        assert_eq!(pools[1].in_pool, 2);
        // 30 ÷ (40 / 2).
        assert_eq!(pools[1].imbalance, Some(1.5));
        assert_eq!(max_over_mean([7, 7, 7, 7].into_iter(), 4), Some(1.0));
        assert_eq!(max_over_mean([0, 0].into_iter(), 2), None);
        assert_eq!(max_over_mean([0, 9, 0].into_iter(), 3), Some(3.0));
    }

    #[test]
    fn the_run_imbalance_is_exact_over_every_window_however_merged() {
        // Capacity 2: windows merge in pairs from the second on.
        let mut series = InstanceSeries::with_capacity(2);
        let windows = [[10, 10], [30, 10], [0, 0], [5, 15], [8, 8]];
        for (w, requests) in windows.iter().enumerate() {
            let w = w as u64;
            let rows = [row(1, 0, requests[0]), row(1, 1, requests[1])];
            series.push_window(secs(w), secs(w + 1), &rows);
        }
        let series = series.finish();
        let run = series.imbalance[1];
        assert_eq!(series.imbalance[0].windows, 0, "service 0 has no rows");
        assert_eq!(run.windows, 4, "the window without attempts has none");
        // 1, 1.5, 1.5, 1.
        assert!((run.mean().unwrap() - 1.25).abs() < 1e-12);
        assert_eq!(run.max, 1.5);
        assert_eq!(run.max_at, secs(1), "the first window at the maximum");
        // Kept: at most 2 windows of 2 rows, spans contiguous over the run.
        assert!(series.spans.len() <= 2, "{:?}", series.spans);
        assert_eq!(series.rows.len(), series.spans.len() * 2);
        assert_eq!(series.spans[0].0, secs(0));
        assert_eq!(series.spans.last().unwrap().1, secs(5));
        let total: u64 = series.rows.iter().map(|r| r.requests).sum();
        assert_eq!(total, 10 + 10 + 30 + 10 + 5 + 15 + 8 + 8, "counts add up");
        assert_eq!(series.merged, 4);
    }

    #[test]
    fn a_run_without_instances_keeps_nothing_and_many_instances_keep_few_windows() {
        let mut none = InstanceSeries::default();
        for w in 0..10 {
            none.push_window(secs(w), secs(w + 1), &[]);
        }
        let none = none.finish();
        assert!(none.rows.is_empty() && none.spans.is_empty());
        assert_eq!(none.windows().count(), 0);
        for instances in [3_000, 40_000] {
            let many: Vec<InstanceRow> = (0..instances).map(|i| row(0, i, 1)).collect();
            let mut series = InstanceSeries::default();
            for w in 0..50 {
                series.push_window(secs(w), secs(w + 1), &many);
            }
            let series = series.finish();
            assert!(
                series.rows.len() <= INSTANCE_ROW_BUDGET,
                "{}",
                series.rows.len()
            );
            assert_eq!(series.windows().count(), series.spans.len());
            assert_eq!(series.imbalance[0].windows, 50);
            assert_eq!(series.imbalance[0].max, 1.0);
            if instances == 3_000 {
                // 20 windows fit (21, rounded down to even): 50 merged in
                // pairs down to 13.
                assert_eq!(series.spans.len(), 13, "{:?}", series.spans.len());
                assert_eq!(series.merged, 4);
            } else {
                assert!(series.rows.is_empty(), "too many to keep two windows");
            }
        }
    }
}
