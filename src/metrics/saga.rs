//! Sagas over time: per orchestrator and window, how many sagas started and
//! how many ended each way, and how many were running at the window's end
//! (`series/sagas.csv` and the sagas chart), with the copy kept for the
//! chart bounded as the autoscalers' is.

use std::collections::BTreeMap;

use super::kept::{Merge, keep_row};
use super::recorder::{ClosedWindow, Recorder};
use crate::kernel::SimTime;

/// The most rows kept per orchestrator for its chart (past it, rows merge
/// in pairs).
pub const SAGA_ROW_BUDGET: usize = 4_096;

/// One orchestrator's window.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SagaRow {
    /// The orchestrator service's index.
    pub service: u32,
    /// Sagas started in the window.
    pub started: u64,
    /// Requests refused with a full log.
    pub refused: u64,
    /// Sagas that completed in the window.
    pub completed: u64,
    /// That compensated.
    pub compensated: u64,
    /// That were dead-lettered.
    pub dead_lettered: u64,
    /// Sagas resumed from a log after a restart.
    pub recovered: u64,
    /// Compensation calls made.
    pub compensation_calls: u64,
    /// Sagas begun and not ended at the window's end (a gauge).
    pub running: u64,
}

impl Merge for SagaRow {
    fn merged_with(self, later: SagaRow) -> SagaRow {
        SagaRow {
            service: later.service,
            started: self.started + later.started,
            refused: self.refused + later.refused,
            completed: self.completed + later.completed,
            compensated: self.compensated + later.compensated,
            dead_lettered: self.dead_lettered + later.dead_lettered,
            recovered: self.recovered + later.recovered,
            compensation_calls: self.compensation_calls + later.compensation_calls,
            running: later.running,
        }
    }
}

/// Rows kept for a chart, each with its window `[start, end)`.
pub type KeptSagaRows = Vec<(SimTime, SimTime, SagaRow)>;

/// The recorder of the saga rows kept for charts: per orchestrator, at most
/// [`SAGA_ROW_BUDGET`] rows. A run without sagas keeps nothing.
#[derive(Debug, Default)]
pub struct SagaSeries {
    /// Per orchestrator: its rows, windows per row, windows in the last row.
    kept: BTreeMap<u32, (KeptSagaRows, u32, u32)>,
}

impl Recorder for SagaSeries {
    fn window(&mut self, window: &ClosedWindow) {
        for row in &window.sagas {
            let (rows, merged, pending) = self
                .kept
                .entry(row.service)
                .or_insert_with(|| (Vec::new(), 1, 0));
            keep_row(
                rows,
                merged,
                pending,
                (window.start, window.end),
                *row,
                SAGA_ROW_BUDGET,
            );
        }
    }
}

impl SagaSeries {
    /// The rows kept, per orchestrator, with the windows per row.
    pub fn finish(self) -> BTreeMap<u32, (KeptSagaRows, u32)> {
        self.kept
            .into_iter()
            .map(|(service, (rows, merged, _))| (service, (rows, merged)))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_merge_in_pairs_past_the_budget_keeping_every_count_and_the_last_gauge() {
        let mut series = SagaSeries::default();
        let windows = SAGA_ROW_BUDGET as u64 * 3;
        for w in 0..windows {
            series.window(&ClosedWindow {
                start: SimTime::from_nanos(w),
                end: SimTime::from_nanos(w + 1),
                sagas: vec![SagaRow {
                    service: 2,
                    started: 1,
                    completed: 1,
                    running: w,
                    ..SagaRow::default()
                }],
                ..ClosedWindow::default()
            });
        }
        let kept = series.finish();
        let (rows, merged) = &kept[&2];
        assert!(rows.len() < SAGA_ROW_BUDGET, "{}", rows.len());
        assert_eq!(*merged, 4);
        assert_eq!(rows.iter().map(|r| r.2.started).sum::<u64>(), windows);
        assert_eq!(rows.iter().map(|r| r.2.completed).sum::<u64>(), windows);
        let last = rows.last().expect("rows");
        assert_eq!(last.2.running, windows - 1, "the gauge of the last window");
        assert_eq!(last.1, SimTime::from_nanos(windows));
    }
}
