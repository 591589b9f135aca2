//! Consumer groups over time: per group and window, what its counts moved
//! by (deliveries, redeliveries, applications, duplicates, dead letters,
//! commit timeouts, rebalances), its lag and members at the window's end
//! and the window's staleness percentiles (`series/groups.csv` and the lag
//! chart); and per group and partition, its offsets and lag at the window's
//! end (`series/lag.csv`, streamed only). The copy of the group rows kept
//! for the chart is bounded as the sagas' is.

use std::collections::BTreeMap;

use super::kept::{Merge, keep_row};
use super::recorder::{ClosedWindow, Recorder};
use crate::kernel::SimTime;

/// The most rows kept per consumer group for its chart (past it, rows
/// merge in pairs).
pub const GROUP_ROW_BUDGET: usize = 4_096;

/// One consumer group's window.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct GroupRow {
    /// The group's index (in `CompiledEvents::groups` order).
    pub group: u32,
    /// Messages delivered for the first time in the window.
    pub delivered: u64,
    /// Messages delivered again.
    pub redelivered: u64,
    /// Events applied for the first time.
    pub applied: u64,
    /// Events applied again.
    pub duplicate_effects: u64,
    /// Redeliveries an idempotent consumer skipped.
    pub deduplicated: u64,
    /// Handler attempts that failed.
    pub handler_failures: u64,
    /// Messages sent to the dead-letter topic.
    pub dead_lettered: u64,
    /// Batches whose commit did not come in time.
    pub commit_timeouts: u64,
    /// Membership changes.
    pub rebalances: u64,
    /// Messages not yet committed, over its partitions, at the window's
    /// end (a gauge).
    pub lag: u64,
    /// The highest lag of one partition at the window's end (a gauge).
    pub partition_lag_max: u64,
    /// Members alive at the window's end (a gauge).
    pub members: u32,
    /// The median staleness (commit to first application) of the events
    /// applied in the window, in ms; none when nothing was applied.
    pub staleness_ms_p50: Option<f64>,
    /// Its 99th percentile, likewise.
    pub staleness_ms_p99: Option<f64>,
}

impl Merge for GroupRow {
    /// Counts add and gauges take the later row's value. The percentiles of
    /// two windows cannot be combined from the two alone: a merged row
    /// takes the higher of the two (an upper bound of the merged windows'
    /// percentile, as staleness is what a chart warns of), or the one that
    /// is there.
    fn merged_with(self, later: GroupRow) -> GroupRow {
        let higher = |a: Option<f64>, b: Option<f64>| match (a, b) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        };
        GroupRow {
            group: later.group,
            delivered: self.delivered + later.delivered,
            redelivered: self.redelivered + later.redelivered,
            applied: self.applied + later.applied,
            duplicate_effects: self.duplicate_effects + later.duplicate_effects,
            deduplicated: self.deduplicated + later.deduplicated,
            handler_failures: self.handler_failures + later.handler_failures,
            dead_lettered: self.dead_lettered + later.dead_lettered,
            commit_timeouts: self.commit_timeouts + later.commit_timeouts,
            rebalances: self.rebalances + later.rebalances,
            lag: later.lag,
            partition_lag_max: later.partition_lag_max,
            members: later.members,
            staleness_ms_p50: higher(self.staleness_ms_p50, later.staleness_ms_p50),
            staleness_ms_p99: higher(self.staleness_ms_p99, later.staleness_ms_p99),
        }
    }
}

/// One partition of a group's topic, as that group reads it, at a window's
/// end.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PartitionRow {
    /// The group's index.
    pub group: u32,
    /// The partition.
    pub partition: u32,
    /// The offset the next message appended will take.
    pub end_offset: u64,
    /// The group's committed offset (the next it will read).
    pub committed: u64,
    /// Messages not yet committed: from the committed offset, or from the
    /// log's start when retention deleted past it, to the end.
    pub lag: u64,
}

/// Rows kept for a chart, each with its window `[start, end)`.
pub type KeptGroupRows = Vec<(SimTime, SimTime, GroupRow)>;

/// The recorder of the group rows kept for charts: per group, at most
/// [`GROUP_ROW_BUDGET`] rows. A run without consumer groups keeps nothing.
#[derive(Debug, Default)]
pub struct GroupSeries {
    /// Per group: its rows, windows per row, windows in the last row.
    kept: BTreeMap<u32, (KeptGroupRows, u32, u32)>,
}

impl Recorder for GroupSeries {
    fn window(&mut self, window: &ClosedWindow) {
        for row in &window.groups {
            let (rows, merged, pending) = self
                .kept
                .entry(row.group)
                .or_insert_with(|| (Vec::new(), 1, 0));
            keep_row(
                rows,
                merged,
                pending,
                (window.start, window.end),
                *row,
                GROUP_ROW_BUDGET,
            );
        }
    }
}

impl GroupSeries {
    /// The rows kept, per group, with the windows per row.
    pub fn finish(self) -> BTreeMap<u32, (KeptGroupRows, u32)> {
        self.kept
            .into_iter()
            .map(|(group, (rows, merged, _))| (group, (rows, merged)))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_merged_row_adds_counts_keeps_the_later_gauges_and_the_higher_percentiles() {
        let early = GroupRow {
            group: 1,
            delivered: 10,
            redelivered: 2,
            applied: 9,
            duplicate_effects: 1,
            deduplicated: 3,
            handler_failures: 4,
            dead_lettered: 1,
            commit_timeouts: 2,
            rebalances: 1,
            lag: 500,
            partition_lag_max: 200,
            members: 2,
            staleness_ms_p50: Some(40.0),
            staleness_ms_p99: Some(900.0),
        };
        let later = GroupRow {
            group: 1,
            delivered: 5,
            applied: 5,
            lag: 20,
            partition_lag_max: 10,
            members: 1,
            staleness_ms_p50: Some(60.0),
            staleness_ms_p99: Some(100.0),
            ..GroupRow::default()
        };
        let m = early.merged_with(later);
        assert_eq!(m.delivered, 15);
        assert_eq!(m.redelivered, 2);
        assert_eq!(m.applied, 14);
        assert_eq!(m.duplicate_effects, 1);
        assert_eq!(m.deduplicated, 3);
        assert_eq!(m.handler_failures, 4);
        assert_eq!(m.dead_lettered, 1);
        assert_eq!(m.commit_timeouts, 2);
        assert_eq!(m.rebalances, 1);
        assert_eq!((m.lag, m.partition_lag_max, m.members), (20, 10, 1));
        assert_eq!(m.staleness_ms_p50, Some(60.0));
        assert_eq!(m.staleness_ms_p99, Some(900.0));
        // A window where nothing was applied has no percentile: the other
        // window's stands.
        let idle = GroupRow {
            staleness_ms_p50: None,
            staleness_ms_p99: None,
            ..later
        };
        assert_eq!(early.merged_with(idle).staleness_ms_p99, Some(900.0));
        assert_eq!(idle.merged_with(idle).staleness_ms_p50, None);
    }

    #[test]
    fn rows_merge_in_pairs_past_the_budget_per_group() {
        let mut series = GroupSeries::default();
        let windows = GROUP_ROW_BUDGET as u64 * 3;
        for w in 0..windows {
            let row = |group| GroupRow {
                group,
                applied: 1,
                lag: w,
                ..GroupRow::default()
            };
            series.window(&ClosedWindow {
                start: SimTime::from_nanos(w),
                end: SimTime::from_nanos(w + 1),
                groups: vec![row(0), row(3)],
                ..ClosedWindow::default()
            });
        }
        let kept = series.finish();
        assert_eq!(kept.keys().copied().collect::<Vec<_>>(), [0, 3]);
        for (rows, merged) in kept.values() {
            assert!(rows.len() < GROUP_ROW_BUDGET, "{}", rows.len());
            assert_eq!(*merged, 4);
            assert_eq!(rows.iter().map(|r| r.2.applied).sum::<u64>(), windows);
            let last = rows.last().expect("rows");
            assert_eq!(last.2.lag, windows - 1, "the gauge of the last window");
            assert_eq!(last.1, SimTime::from_nanos(windows));
        }
    }
}
