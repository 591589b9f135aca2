//! What an autoscaled service's autoscaler did, for reports: its instances
//! window by window (desired, starting, ready...), every decision it took,
//! how long each shortfall of ready capacity lasted, and what the
//! instances cost (instance-seconds).
//!
//! Everything here is bounded: at most [`MAX_DECISIONS`] decisions and
//! [`MAX_EPISODES`] shortfalls are kept (more are counted), and the rows
//! kept for charts are merged in pairs past [`AUTOSCALE_ROW_BUDGET`], as
//! the other series are (`series/autoscale.csv` has every window).

use std::collections::BTreeMap;

use super::{ClosedWindow, Recorder};
use crate::kernel::{SimDuration, SimTime};

/// At most this many syncs' decisions are kept per autoscaler (a day at
/// one sync every 15 s is 5,760).
pub const MAX_DECISIONS: usize = 10_000;
/// At most this many shortfalls of ready capacity are kept per autoscaler.
pub const MAX_EPISODES: usize = 10_000;
/// At most this many rows (windows) are kept per autoscaler for charts.
pub const AUTOSCALE_ROW_BUDGET: usize = 4_096;

/// An autoscaled service's instances at the end of one window.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct AutoscaleRow {
    /// The service's index.
    pub service: u32,
    /// The count the autoscaler last decided (Kubernetes' `spec.replicas`).
    pub desired: u32,
    /// Of the instances it runs: booting.
    pub starting: u32,
    /// Ready.
    pub ready: u32,
    /// Alive but reporting not ready.
    pub not_ready: u32,
    /// Crashed (or stopped by a fault): counted, not serving.
    pub down: u32,
    /// Instances it is removing that still finish their work.
    pub draining: u32,
    /// The metric at the last sync, per instance, in the target's unit
    /// (percent of workers busy, or requests); none before any or while
    /// it could not be computed.
    pub metric: Option<f64>,
    /// Requests that reached the service in the window: the load.
    pub requests: u64,
}

/// Why a sync decided what it did (the pattern's reasons, flattened).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DecisionReason {
    /// The metric was computed and nothing limited the change.
    Computed,
    /// The scale-up (or scale-down) policies limited it.
    RateLimited,
    /// `max_instances` (or `min_instances`) limited it.
    Bounded,
    /// The metric could not be computed (no ready instance, or the
    /// metrics pipeline down): the count held.
    NoMetric,
    /// The count was outside the bounds and was brought within them.
    OutOfBounds,
}

impl DecisionReason {
    /// Its name in reports.
    pub fn name(self) -> &'static str {
        match self {
            DecisionReason::Computed => "computed",
            DecisionReason::RateLimited => "rate_limited",
            DecisionReason::Bounded => "bounded",
            DecisionReason::NoMetric => "no_metric",
            DecisionReason::OutOfBounds => "out_of_bounds",
        }
    }
}

/// One sync's decision.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ScaleDecision {
    /// When.
    pub at: SimTime,
    /// The count before.
    pub from: u32,
    /// The count decided.
    pub to: u32,
    /// What the metric alone asked for.
    pub recommendation: Option<u32>,
    /// The metric per instance, in the target's unit (the mean over the
    /// instances measured).
    pub metric: Option<f64>,
    /// Instances measured (ready, with a sample over the window).
    pub measured: u32,
    /// Instances counted as unready (starting, down) or without a sample.
    pub unmeasured: u32,
    /// Why.
    pub reason: DecisionReason,
}

/// A shortfall of ready capacity: from a sync that decided more instances
/// than were ready until as many were ready as the autoscaler then wanted.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct CapacityEpisode {
    /// The sync that opened it.
    pub opened: SimTime,
    /// When enough instances were ready (none: not by the end of the run).
    pub closed: Option<SimTime>,
    /// Ready instances when it opened.
    pub ready_at_open: u32,
    /// The most instances decided while it lasted.
    pub peak_desired: u32,
}

impl CapacityEpisode {
    /// How long it lasted (none while still open).
    pub fn duration(&self) -> Option<SimDuration> {
        self.closed.map(|c| c.saturating_since(self.opened))
    }
}

/// What one autoscaler did over a run.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct AutoscaleOutcome {
    /// Its bounds, and the instances at the start.
    pub min_instances: u32,
    /// The most instances.
    pub max_instances: u32,
    /// The instances at the start.
    pub initial_instances: u32,
    /// Syncs (decisions computed or held).
    pub syncs: u64,
    /// Syncs that added instances, and that removed some.
    pub scale_ups: u64,
    /// Syncs that removed instances.
    pub scale_downs: u64,
    /// Syncs that held the count because the metric could not be computed.
    pub syncs_without_metric: u64,
    /// Syncs whose change the rate policies limited.
    pub rate_limited: u64,
    /// Syncs whose change `max_instances` or `min_instances` limited.
    pub bounded: u64,
    /// Instance starts refused by a `scale_limit` fault (counted at each
    /// sync that wanted them).
    pub starts_refused: u64,
    /// Instances started, and stopped, by the autoscaler.
    pub started: u64,
    /// Instances stopped by the autoscaler.
    pub stopped: u64,
    /// The integral of the instances it ran (starting, ready, not ready,
    /// down or draining), in instance-seconds: the cost.
    pub instance_seconds: f64,
    /// The most instances decided, and ready, at once.
    pub peak_desired: u32,
    /// The most ready at once.
    pub peak_ready: u32,
    /// Every sync's decision, in time order (the first [`MAX_DECISIONS`]).
    pub decisions: Vec<ScaleDecision>,
    /// Decisions not kept.
    pub decisions_dropped: u64,
    /// Every shortfall of ready capacity, in time order (the first
    /// [`MAX_EPISODES`]).
    pub episodes: Vec<CapacityEpisode>,
    /// Shortfalls not kept.
    pub episodes_dropped: u64,
    /// The rows kept for charts, one per window of `rows_merged` windows.
    pub rows: KeptRows,
    /// Windows per kept row.
    pub rows_merged: u32,
}

impl AutoscaleOutcome {
    /// The shortfalls that ended, their durations: count, mean and
    /// largest, in seconds.
    pub fn time_to_capacity(&self) -> Option<(usize, f64, f64)> {
        let durations: Vec<f64> = self
            .episodes
            .iter()
            .filter_map(|e| e.duration())
            .map(|d| d.as_secs_f64())
            .collect();
        if durations.is_empty() {
            return None;
        }
        let mean = durations.iter().sum::<f64>() / durations.len() as f64;
        let max = durations.iter().copied().fold(0.0, f64::max);
        Some((durations.len(), mean, max))
    }
}

/// Keeps `row` of the window `[start, end)` in `rows`, at most
/// [`AUTOSCALE_ROW_BUDGET`] of them: past it, neighbours are merged in
/// pairs (the later one's gauges, the sum of the requests) and `merged`
/// doubles (`super::kept::keep_row`).
pub fn keep_row(
    rows: &mut Vec<(SimTime, SimTime, AutoscaleRow)>,
    merged: &mut u32,
    pending: &mut u32,
    start: SimTime,
    end: SimTime,
    row: AutoscaleRow,
) {
    super::kept::keep_row(
        rows,
        merged,
        pending,
        (start, end),
        row,
        AUTOSCALE_ROW_BUDGET,
    );
}

impl super::kept::Merge for AutoscaleRow {
    fn merged_with(self, later: AutoscaleRow) -> AutoscaleRow {
        AutoscaleRow {
            requests: self.requests + later.requests,
            ..later
        }
    }
}

/// Rows kept for charts, each with its window `[start, end)`.
pub type KeptRows = Vec<(SimTime, SimTime, AutoscaleRow)>;

/// The recorder of the autoscale rows kept for charts, beside
/// [`super::series::BoundedSeries`]: per autoscaled service, at most
/// [`AUTOSCALE_ROW_BUDGET`] rows ([`keep_row`]). A run without an
/// autoscaler keeps nothing.
#[derive(Debug, Default)]
pub struct AutoscaleSeries {
    /// Per service: its rows, windows per row, windows in the last row.
    kept: BTreeMap<u32, (KeptRows, u32, u32)>,
}

impl Recorder for AutoscaleSeries {
    fn window(&mut self, window: &ClosedWindow) {
        for row in &window.autoscale {
            let (rows, merged, pending) = self
                .kept
                .entry(row.service)
                .or_insert_with(|| (Vec::new(), 1, 0));
            keep_row(rows, merged, pending, window.start, window.end, *row);
        }
    }
}

impl AutoscaleSeries {
    /// The rows kept, per service, with the windows per row.
    pub fn finish(self) -> BTreeMap<u32, (KeptRows, u32)> {
        self.kept
            .into_iter()
            .map(|(service, (rows, merged, _))| (service, (rows, merged)))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(requests: u64, ready: u32) -> AutoscaleRow {
        AutoscaleRow {
            requests,
            ready,
            ..AutoscaleRow::default()
        }
    }

    #[test]
    fn rows_merge_in_pairs_past_the_budget_keeping_every_request() {
        let (mut rows, mut merged, mut pending) = (Vec::new(), 1, 0);
        let windows = AUTOSCALE_ROW_BUDGET * 3;
        for w in 0..windows {
            let (start, end) = (
                SimTime::from_nanos(w as u64),
                SimTime::from_nanos(w as u64 + 1),
            );
            keep_row(
                &mut rows,
                &mut merged,
                &mut pending,
                start,
                end,
                row(1, w as u32),
            );
        }
        assert!(rows.len() < AUTOSCALE_ROW_BUDGET, "{}", rows.len());
        assert_eq!(merged, 4);
        let total: u64 = rows.iter().map(|r| r.2.requests).sum();
        assert_eq!(total, windows as u64);
        // Contiguous, from the first window to the last.
        assert_eq!(rows[0].0, SimTime::ZERO);
        assert_eq!(rows.last().unwrap().1, SimTime::from_nanos(windows as u64));
        for pair in rows.windows(2) {
            assert_eq!(pair[0].1, pair[1].0);
        }
        // Gauges are the latest window's.
        assert_eq!(rows.last().unwrap().2.ready, windows as u32 - 1);
    }

    #[test]
    fn time_to_capacity_counts_only_closed_shortfalls() {
        let at = |s: u64| SimTime::ZERO + SimDuration::from_secs(s);
        let outcome = AutoscaleOutcome {
            episodes: vec![
                CapacityEpisode {
                    opened: at(10),
                    closed: Some(at(40)),
                    ready_at_open: 2,
                    peak_desired: 4,
                },
                CapacityEpisode {
                    opened: at(100),
                    closed: Some(at(110)),
                    ready_at_open: 4,
                    peak_desired: 5,
                },
                CapacityEpisode {
                    opened: at(200),
                    closed: None,
                    ready_at_open: 5,
                    peak_desired: 8,
                },
            ],
            ..AutoscaleOutcome::default()
        };
        assert_eq!(outcome.time_to_capacity(), Some((2, 20.0, 30.0)));
        assert_eq!(AutoscaleOutcome::default().time_to_capacity(), None);
    }
}
