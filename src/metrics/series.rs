//! The time series kept in memory for charts, bounded whatever the length of
//! the run.
//!
//! Every window's rows are streamed out as the window closes (the full
//! `series/*.csv` files); this store, a [`Recorder`] beside the one that
//! writes them, keeps a copy for charts, which are a fixed
//! number of pixels wide. When it reaches its capacity it merges its windows
//! in pairs and from then on merges each pair of new windows as they close,
//! so memory stays within `capacity` windows and the windows stay of equal
//! width. A run with fewer windows than the capacity keeps every row as it
//! was.
//!
//! Merging two windows: counts add up; in-flight, queue length and open
//! breakers are the later window's (they are end-of-window values); each
//! latency percentile is the mean of the two windows' weighted by the number
//! of latencies behind it. That is an approximation (percentiles do not add
//! up, and a short spike is smoothed), made only for the charts of runs with
//! more windows than a chart has pixels; the `series/*.csv` files have every
//! window exactly.

use super::{ClosedWindow, EntityKind, Recorder, SeriesNames, WindowRow};

/// Windows of rows, merged in pairs as needed to stay within a capacity.
#[derive(Clone, Debug)]
pub struct BoundedSeries {
    rows: Vec<WindowRow>,
    /// Rows per window (the entities, the same in every window).
    per_window: usize,
    /// The most windows kept; even.
    capacity: usize,
    /// Whether `capacity` was chosen by the caller; else it follows the
    /// number of entities, known at [`Recorder::start`].
    fixed: bool,
    /// Windows of the run in each kept window (a power of two).
    factor: u32,
    /// The kept window being built from `pending_windows` closed ones.
    pending: Vec<WindowRow>,
    pending_windows: u32,
}

/// The rows kept for charts, by default: at most this many rows (so a run
/// with many entities keeps fewer windows)...
pub const ROW_BUDGET: usize = 1 << 18;
/// ...and never more windows than this (charts are about 600 columns wide).
pub const MAX_WINDOWS: usize = 2048;
/// ...nor fewer than this.
pub const MIN_WINDOWS: usize = 64;

impl Default for BoundedSeries {
    /// A store within the default budget, sized when the run starts.
    fn default() -> Self {
        Self::new(0)
    }
}

impl BoundedSeries {
    /// A store for windows of `per_window` rows, within the default budget
    /// (resized by [`Recorder::start`] to the run's entities).
    pub fn new(per_window: usize) -> Self {
        BoundedSeries {
            fixed: false,
            ..Self::with_capacity(per_window, default_capacity(per_window))
        }
    }

    /// A store of at most `capacity` windows (rounded up to even, at least 2).
    pub fn with_capacity(per_window: usize, capacity: usize) -> Self {
        BoundedSeries {
            rows: Vec::new(),
            per_window,
            capacity: capacity.max(2).next_multiple_of(2),
            fixed: true,
            factor: 1,
            pending: Vec::with_capacity(per_window),
            pending_windows: 0,
        }
    }

    /// Adds the rows of one closed window (`per_window` of them, in the same
    /// entity order every time).
    pub fn push_window(&mut self, window: &[WindowRow]) {
        debug_assert_eq!(window.len(), self.per_window);
        if self.pending_windows == 0 {
            self.pending.clear();
            self.pending.extend_from_slice(window);
        } else {
            for (kept, row) in self.pending.iter_mut().zip(window) {
                merge(kept, row);
            }
        }
        self.pending_windows += 1;
        if self.pending_windows == self.factor {
            self.rows.append(&mut self.pending);
            self.pending_windows = 0;
            if self.windows() == self.capacity {
                self.halve();
            }
        }
    }

    /// Kept windows.
    fn windows(&self) -> usize {
        self.rows.len().checked_div(self.per_window).unwrap_or(0)
    }

    /// Merges the kept windows in pairs.
    fn halve(&mut self) {
        let n = self.per_window;
        let windows = self.windows();
        for pair in 0..windows / 2 {
            for entity in 0..n {
                let later = self.rows[(2 * pair + 1) * n + entity].clone();
                let mut earlier = self.rows[2 * pair * n + entity].clone();
                merge(&mut earlier, &later);
                self.rows[pair * n + entity] = earlier;
            }
        }
        self.rows.truncate(windows / 2 * n);
        self.factor *= 2;
    }

    /// The kept rows (a partly merged last window included) and how many
    /// windows of the run each kept window holds.
    pub fn finish(mut self) -> (Vec<WindowRow>, u32) {
        if self.pending_windows > 0 {
            self.rows.append(&mut self.pending);
        }
        (self.rows, self.factor)
    }
}

/// The windows kept within [`ROW_BUDGET`] for `per_window` rows each.
fn default_capacity(per_window: usize) -> usize {
    (ROW_BUDGET / per_window.max(1)).clamp(MIN_WINDOWS, MAX_WINDOWS)
}

impl Recorder for BoundedSeries {
    fn start(&mut self, names: &SeriesNames) {
        let per_window = names.rows_per_window();
        assert!(
            self.rows.is_empty() && self.pending_windows == 0,
            "started twice"
        );
        self.per_window = per_window;
        if !self.fixed {
            self.capacity = default_capacity(per_window).next_multiple_of(2);
        }
    }

    fn window(&mut self, window: &ClosedWindow) {
        self.push_window(&window.rows);
    }
}

/// Merges the row of a later window into the row of the window before it.
fn merge(earlier: &mut WindowRow, later: &WindowRow) {
    debug_assert_eq!((earlier.kind, earlier.entity), (later.kind, later.entity));
    let (a, b) = (latencies(earlier), latencies(later));
    earlier.latency_ms_p50 = weighted(earlier.latency_ms_p50, a, later.latency_ms_p50, b);
    earlier.latency_ms_p99 = weighted(earlier.latency_ms_p99, a, later.latency_ms_p99, b);
    earlier.end = later.end;
    earlier.counts.add(&later.counts);
    earlier.in_flight = later.in_flight;
    earlier.queue_length = later.queue_length;
    earlier.breakers_open = later.breakers_open;
}

/// Adds the row of another entity in the same window (a chart's "other"
/// series): counts and end-of-window levels add up; each latency percentile
/// is the mean of the two weighted by their latency counts (the same
/// approximation as merging windows).
pub fn merge_entities(into: &mut WindowRow, other: &WindowRow) {
    debug_assert_eq!((into.kind, into.start), (other.kind, other.start));
    let (a, b) = (latencies(into), latencies(other));
    into.latency_ms_p50 = weighted(into.latency_ms_p50, a, other.latency_ms_p50, b);
    into.latency_ms_p99 = weighted(into.latency_ms_p99, a, other.latency_ms_p99, b);
    into.counts.add(&other.counts);
    into.in_flight += other.in_flight;
    let add = |x: Option<u64>, y: Option<u64>| match (x, y) {
        (Some(x), Some(y)) => Some(x + y),
        (x, y) => x.or(y),
    };
    into.queue_length = add(into.queue_length, other.queue_length);
    into.breakers_open = add(into.breakers_open, other.breakers_open);
}

/// How many latencies a row's percentiles summarise: a route's successful
/// requests, a service's answered ones.
fn latencies(row: &WindowRow) -> u64 {
    let c = &row.counts;
    match row.kind {
        EntityKind::Route | EntityKind::Client => c.successes,
        EntityKind::Service => c.successes + c.errors + c.dependency,
        EntityKind::Edge => 0,
    }
}

/// The mean of two values weighted by their counts (equal weights if both
/// counts are zero); the one present if only one is.
fn weighted(a: Option<f64>, wa: u64, b: Option<f64>, wb: u64) -> Option<f64> {
    match (a, b) {
        (Some(a), Some(b)) => {
            let (wa, wb) = if wa + wb == 0 {
                (1.0, 1.0)
            } else {
                (wa as f64, wb as f64)
            };
            Some((a * wa + b * wb) / (wa + wb))
        }
        (a, b) => a.or(b),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernel::{SimDuration, SimTime};

    fn secs(s: u64) -> SimTime {
        SimTime::ZERO + SimDuration::from_secs(s)
    }
    use crate::metrics::Counts;

    /// A service's row: `answered` requests, with a p99 if any.
    fn row(window: u64, entity: u32, answered: u64, p99: Option<f64>) -> WindowRow {
        assert_eq!(answered > 0, p99.is_some());
        WindowRow {
            start: secs(window),
            end: secs(window + 1),
            kind: EntityKind::Service,
            entity,
            counts: Counts {
                requests: answered,
                successes: answered,
                ..Counts::default()
            },
            latency_ms_p50: p99.map(|p| p / 2.0),
            latency_ms_p99: p99,
            in_flight: window,
            queue_length: Some(window),
            breakers_open: None,
        }
    }

    fn window(w: u64) -> Vec<WindowRow> {
        let third = w.is_multiple_of(3);
        vec![
            row(w, 0, w, (w > 0).then_some(w as f64)),
            row(w, 1, u64::from(third), third.then_some(100.0 - w as f64)),
        ]
    }

    #[test]
    fn a_short_run_keeps_every_row() {
        let mut series = BoundedSeries::with_capacity(2, 8);
        let mut all = Vec::new();
        for w in 0..7 {
            series.push_window(&window(w));
            all.extend(window(w));
        }
        let (rows, factor) = series.finish();
        assert_eq!(factor, 1);
        assert_eq!(rows, all);
    }

    #[test]
    fn a_long_run_stays_within_capacity_and_loses_no_count() {
        let capacity = 8;
        let mut series = BoundedSeries::with_capacity(2, capacity);
        let n = 1000u64;
        for w in 0..n {
            series.push_window(&window(w));
        }
        let (rows, factor) = series.finish();
        // 1000 windows into at most 8: merged by 128, the last one partial.
        assert_eq!(factor, 128);
        assert!(rows.len() <= 2 * capacity, "{}", rows.len());
        let total: u64 = rows
            .iter()
            .filter(|r| r.entity == 0)
            .map(|r| r.counts.requests)
            .sum();
        assert_eq!(total, n * (n - 1) / 2, "counts add up");
        let thirds: u64 = rows
            .iter()
            .filter(|r| r.entity == 1)
            .map(|r| r.counts.requests)
            .sum();
        assert_eq!(thirds, n.div_ceil(3));
        // Windows are contiguous, of equal width but the last, and in order.
        let starts: Vec<u64> = rows
            .iter()
            .filter(|r| r.entity == 0)
            .map(|r| r.start.as_nanos() / 1_000_000_000)
            .collect();
        assert_eq!(starts, (0..8).map(|k| k * 128).collect::<Vec<_>>());
        let last = rows.last().unwrap();
        assert_eq!(last.end, secs(n));
        assert_eq!(last.in_flight, n - 1, "the later window's level");
        // Percentiles: the mean of the merged windows', weighted by their
        // latency counts. Entity 0 over windows 0..128: sum(w^2) / sum(w).
        let p99 = rows[0].latency_ms_p99.unwrap();
        assert!((p99 - 255.0 / 3.0).abs() < 1e-9, "{p99}");
        // Entity 1: windows 0, 3, ..., 126 with one latency each.
        let p99 = rows[1].latency_ms_p99.unwrap();
        assert!((p99 - 37.0).abs() < 1e-9, "{p99}");
        // The last, partial kept window (896..1000) was merged one window at
        // a time: still the weighted mean.
        let last0 = &rows[rows.len() - 2];
        let expected =
            (896..1000u64).map(|w| w * w).sum::<u64>() as f64 / (896..1000u64).sum::<u64>() as f64;
        assert!((last0.latency_ms_p99.unwrap() - expected).abs() < 1e-6);
    }

    #[test]
    fn the_default_capacity_follows_the_number_of_entities() {
        assert_eq!(BoundedSeries::new(2).capacity, MAX_WINDOWS);
        assert_eq!(BoundedSeries::new(1_000).capacity, 262);
        assert_eq!(BoundedSeries::new(100_000).capacity, MIN_WINDOWS);
    }
}
