//! Time to recover after each fault, and metastability: a [`Recorder`] that
//! watches every route's window rows as the windows close.
//!
//! **Definition.** A fault's *baseline* is what the routes did in the
//! windows that closed before it started and were *clean*: no fault had
//! started before them, or every fault that had was already recovered
//! (confirmed) by the window's start. Per route, the baseline's success
//! ratio is its successes ÷ its finished requests over those windows, and
//! its p99 the mean of the windows' p99s weighted by their successes. From
//! the first window that starts at or after the fault's end, a window is
//! *good* when every route with baseline traffic finished requests in it
//! with a success ratio no more than [`SUCCESS_TOLERANCE`] (1 point) below
//! its baseline and a p99 at most the larger of [`P99_RATIO`] × its
//! baseline and baseline + [`P99_FLOOR_MS`]. The fault is recovered at the
//! start of the first of [`RECOVERY_WINDOWS`] (3) good windows in a row;
//! its *time to recover* runs from its end to that start, so it is a
//! multiple of the window width past the fault's end rounded up to a
//! window boundary.
//!
//! Why p99 rather than the mean: the mean of a window hides a slow tail
//! that a metastable system shows first (its queues hold work nobody waits
//! for), and the p99 is what SLOs are stated in; the floor keeps a
//! sub-millisecond service from failing on the histogram's 1% precision,
//! the 20% on the window-to-window noise of a p99 of a few hundred values
//! (the bundled scenarios' steady windows vary by ±15%). One point of
//! success ratio is four standard errors of a 1 s window of 700 requests at
//! 99% success; three windows make a single lucky window not count.
//!
//! **Not measurable** (never metastable): a fault with no baseline (it
//! starts at 0, or no clean window closed before it), one that lasts to
//! the horizon, one followed by fewer than [`RECOVERY_WINDOWS`] windows, and
//! one interrupted by another fault starting before it had recovered (its
//! recovery is then that fault's). A measurable fault not recovered by the
//! horizon makes the run **metastable**: the trigger went away and the
//! system stayed down, which is the definition of Bronson et al.,
//! "Metastable Failures in Distributed Systems" (HotOS 2021).
//!
//! Memory: per fault, one baseline per route; nothing grows with the run.

use super::{ClosedWindow, EntityKind, Recorder, SeriesNames};
use crate::kernel::{SimDuration, SimTime};

/// Good windows in a row for a fault to count as recovered.
pub const RECOVERY_WINDOWS: u32 = 3;
/// How far below its baseline a route's success ratio may be in a good
/// window (a fraction: 0.01 is one point).
pub const SUCCESS_TOLERANCE: f64 = 0.01;
/// How far above its baseline a route's p99 may be in a good window, as a
/// ratio...
pub const P99_RATIO: f64 = 1.2;
/// ...or in milliseconds, whichever allows more.
pub const P99_FLOOR_MS: f64 = 1.0;

/// Why a fault's recovery cannot be measured.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NotMeasurable {
    /// Nothing to compare with: it started at 0, or no clean window with
    /// traffic closed before it.
    NoBaseline,
    /// It lasted to the end of the run.
    LastsToHorizon,
    /// Fewer than [`RECOVERY_WINDOWS`] windows followed its end.
    EndsNearHorizon,
    /// Another fault started after it ended and before it had recovered.
    Interrupted,
}

impl NotMeasurable {
    /// The name used in files.
    pub fn as_str(self) -> &'static str {
        match self {
            NotMeasurable::NoBaseline => "no_baseline",
            NotMeasurable::LastsToHorizon => "lasts_to_horizon",
            NotMeasurable::EndsNearHorizon => "ends_near_horizon",
            NotMeasurable::Interrupted => "interrupted",
        }
    }
}

/// What became of a fault's aftermath.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Recovery {
    /// Back within tolerance of the baseline this long after the fault
    /// ended, and stayed there for [`RECOVERY_WINDOWS`] windows.
    Recovered(SimDuration),
    /// Measurable, and not back by the horizon: metastable.
    NotRecovered,
    /// Not measurable, and why.
    NotMeasurable(NotMeasurable),
}

/// A route's baseline before one fault.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Baseline {
    /// Successes in the baseline windows.
    pub successes: u64,
    /// Finished requests (successes and failures) in them.
    pub finished: u64,
    /// Σ window p99 (ms) × the window's successes.
    p99_weighted_ms: f64,
}

impl Baseline {
    /// The success ratio (none without finished requests).
    pub fn success_ratio(&self) -> Option<f64> {
        (self.finished > 0).then(|| self.successes as f64 / self.finished as f64)
    }

    /// The p99, ms: the windows' p99s weighted by their successes.
    pub fn p99_ms(&self) -> Option<f64> {
        (self.successes > 0).then(|| self.p99_weighted_ms / self.successes as f64)
    }
}

/// One fault's recovery, once the run is over.
#[derive(Clone, Debug, PartialEq)]
pub struct FaultRecovery {
    /// The outcome.
    pub recovery: Recovery,
    /// Per route (index order), its baseline before the fault.
    pub baseline: Vec<Baseline>,
}

/// One fault being watched.
#[derive(Clone, Debug)]
struct Watch {
    start: SimTime,
    end: Option<SimTime>,
    baseline: Vec<Baseline>,
    /// Good windows in a row so far, and the start of the first of them.
    streak: u32,
    first_good: SimTime,
    /// Windows seen since its end.
    after: u32,
    decided: Option<Recovery>,
    /// When its recovery was confirmed (the end of the last good window
    /// of the streak): from then on, windows are clean of it.
    settled: Option<SimTime>,
}

/// Watches the route rows of every window for the recoveries of the
/// faults it was given (their start and, if within the run, end).
#[derive(Clone, Debug)]
pub struct RecoveryRecorder {
    watches: Vec<Watch>,
}

impl RecoveryRecorder {
    /// A recorder for faults spanning `spans` (start, end if within the
    /// run), in the scenario's order.
    pub fn new(spans: impl IntoIterator<Item = (SimTime, Option<SimTime>)>) -> Self {
        RecoveryRecorder {
            watches: spans
                .into_iter()
                .map(|(start, end)| Watch {
                    start,
                    end,
                    baseline: Vec::new(),
                    streak: 0,
                    first_good: SimTime::ZERO,
                    after: 0,
                    decided: None,
                    settled: None,
                })
                .collect(),
        }
    }

    /// The recoveries, in the order of the faults, once the run is over.
    pub fn finish(self) -> Vec<FaultRecovery> {
        self.watches
            .into_iter()
            .map(|w| {
                let recovery = w.decided.unwrap_or_else(|| {
                    if w.end.is_none() {
                        Recovery::NotMeasurable(NotMeasurable::LastsToHorizon)
                    } else if !has_baseline(&w.baseline) {
                        Recovery::NotMeasurable(NotMeasurable::NoBaseline)
                    } else if w.after < RECOVERY_WINDOWS {
                        Recovery::NotMeasurable(NotMeasurable::EndsNearHorizon)
                    } else {
                        Recovery::NotRecovered
                    }
                });
                FaultRecovery {
                    recovery,
                    baseline: w.baseline,
                }
            })
            .collect()
    }
}

fn has_baseline(baseline: &[Baseline]) -> bool {
    baseline.iter().any(|b| b.finished > 0)
}

/// Whether a window's route rows are all within tolerance of `baseline`.
fn good(baseline: &[Baseline], window: &ClosedWindow) -> bool {
    let rows = window.of(EntityKind::Route);
    baseline.iter().enumerate().all(|(route, base)| {
        let Some(base_ratio) = base.success_ratio() else {
            return true; // No traffic before the fault: nothing to meet.
        };
        let Some(row) = rows.iter().find(|r| r.entity as usize == route) else {
            return false;
        };
        let finished = row.counts.successes + row.counts.failures();
        if finished == 0 {
            return false; // Nothing answered: no sign of recovery.
        }
        let ratio = row.counts.successes as f64 / finished as f64;
        if ratio < base_ratio - SUCCESS_TOLERANCE {
            return false;
        }
        match (base.p99_ms(), row.latency_ms_p99) {
            (Some(base), Some(p99)) => p99 <= (base * P99_RATIO).max(base + P99_FLOOR_MS),
            (Some(_), None) => false,
            (None, _) => true,
        }
    })
}

impl Recorder for RecoveryRecorder {
    fn start(&mut self, names: &SeriesNames) {
        for watch in &mut self.watches {
            watch.baseline = vec![Baseline::default(); names.routes.len()];
        }
    }

    fn window(&mut self, window: &ClosedWindow) {
        if window.end <= window.start {
            return; // A zero-width last window: no time to judge.
        }
        // Clean of every fault: none started before its end, or each that
        // did had settled by its start.
        let clean = self
            .watches
            .iter()
            .all(|w| window.end <= w.start || w.settled.is_some_and(|at| window.start >= at));
        let starts: Vec<SimTime> = self.watches.iter().map(|w| w.start).collect();
        for (index, watch) in self.watches.iter_mut().enumerate() {
            if watch.decided.is_some() {
                continue;
            }
            if window.end <= watch.start {
                if clean {
                    for row in window.of(EntityKind::Route) {
                        let base = &mut watch.baseline[row.entity as usize];
                        let successes = row.counts.successes;
                        base.successes += successes;
                        base.finished += successes + row.counts.failures();
                        if let Some(p99) = row.latency_ms_p99 {
                            base.p99_weighted_ms += p99 * successes as f64;
                        }
                    }
                }
                continue;
            }
            if !has_baseline(&watch.baseline) {
                watch.decided = Some(Recovery::NotMeasurable(NotMeasurable::NoBaseline));
                continue;
            }
            let Some(end) = watch.end else {
                continue;
            };
            if window.start < end {
                continue;
            }
            // Another fault starting after this one's end, before this
            // window's end: the aftermath is no longer this fault's alone.
            if starts
                .iter()
                .enumerate()
                .any(|(other, &s)| other != index && s >= end && s < window.end)
            {
                watch.decided = Some(Recovery::NotMeasurable(NotMeasurable::Interrupted));
                continue;
            }
            watch.after += 1;
            if good(&watch.baseline, window) {
                if watch.streak == 0 {
                    watch.first_good = window.start;
                }
                watch.streak += 1;
                if watch.streak >= RECOVERY_WINDOWS {
                    watch.decided = Some(Recovery::Recovered(watch.first_good - end));
                    watch.settled = Some(window.end);
                }
            } else {
                watch.streak = 0;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::{Counts, WindowRow};

    /// A one-route window `[start, start + 1 s)` with `ok` successes of
    /// `finished` and a p99 of `p99` ms.
    fn window(start: u64, ok: u64, finished: u64, p99: Option<f64>) -> ClosedWindow {
        let (start, end) = (
            SimTime::ZERO + SimDuration::from_secs(start),
            SimTime::ZERO + SimDuration::from_secs(start + 1),
        );
        ClosedWindow {
            start,
            end,
            rows: vec![WindowRow {
                start,
                end,
                kind: EntityKind::Route,
                entity: 0,
                counts: Counts {
                    successes: ok,
                    errors: finished - ok,
                    ..Counts::default()
                },
                latency_ms_p50: p99,
                latency_ms_p99: p99,
                in_flight: 0,
                queue_length: None,
                breakers_open: None,
            }],
            instances: Vec::new(),
            autoscale: Vec::new(),
            ..ClosedWindow::default()
        }
    }

    fn at(s: u64) -> SimTime {
        SimTime::ZERO + SimDuration::from_secs(s)
    }

    /// Runs a recorder for faults `spans` over 1 s windows `f(t)` for t in
    /// 0..horizon.
    fn watch(
        spans: &[(u64, Option<u64>)],
        horizon: u64,
        f: impl Fn(u64) -> ClosedWindow,
    ) -> Vec<Recovery> {
        let mut r = RecoveryRecorder::new(spans.iter().map(|&(s, e)| (at(s), e.map(at))));
        r.start(&SeriesNames {
            routes: vec!["r".into()],
            ..SeriesNames::default()
        });
        for t in 0..horizon {
            r.window(&f(t));
        }
        r.finish().into_iter().map(|f| f.recovery).collect()
    }

    fn healthy(t: u64) -> ClosedWindow {
        window(t, 100, 100, Some(10.0))
    }

    #[test]
    fn a_fault_is_recovered_at_the_first_of_three_good_windows() {
        // Down in [10, 20), slow until 24, healthy from 24.
        let f = |t| match t {
            10..20 => window(t, 0, 100, None),
            20..24 => window(t, 100, 100, Some(30.0)),
            _ => healthy(t),
        };
        let secs = SimDuration::from_secs;
        assert_eq!(
            watch(&[(10, Some(20))], 60, f),
            [Recovery::Recovered(secs(4))]
        );
        // p99 of 12 ms is within 20% of 10 ms: recovered at once.
        let g = |t| match t {
            10..20 => window(t, 0, 100, None),
            _ => window(t, 100, 100, Some(if t < 10 { 10.0 } else { 12.0 })),
        };
        assert_eq!(
            watch(&[(10, Some(20))], 60, g),
            [Recovery::Recovered(secs(0))]
        );
    }

    #[test]
    fn one_good_window_among_bad_ones_does_not_count() {
        let f = |t| match t {
            10..30 if t != 25 && t != 27 => window(t, 10, 100, Some(10.0)),
            _ => healthy(t),
        };
        assert_eq!(
            watch(&[(10, Some(20))], 60, f),
            [Recovery::Recovered(SimDuration::from_secs(10))]
        );
    }

    #[test]
    fn never_back_is_metastable_and_the_edge_cases_are_not_measurable() {
        let down_after_10 = |t| {
            if t < 10 {
                healthy(t)
            } else {
                window(t, 1, 100, Some(10.0))
            }
        };
        assert_eq!(
            watch(&[(10, Some(20))], 60, down_after_10),
            [Recovery::NotRecovered]
        );
        assert_eq!(
            watch(&[(0, Some(20))], 60, down_after_10),
            [Recovery::NotMeasurable(NotMeasurable::NoBaseline)]
        );
        assert_eq!(
            watch(&[(10, None)], 60, down_after_10),
            [Recovery::NotMeasurable(NotMeasurable::LastsToHorizon)]
        );
        // Two windows after its end: too few to judge.
        assert_eq!(
            watch(&[(10, Some(58))], 60, down_after_10),
            [Recovery::NotMeasurable(NotMeasurable::EndsNearHorizon)]
        );
        // A second fault starts before the first recovered.
        assert_eq!(
            watch(&[(10, Some(20)), (30, Some(40))], 60, down_after_10),
            [
                Recovery::NotMeasurable(NotMeasurable::Interrupted),
                Recovery::NotRecovered
            ]
        );
    }

    #[test]
    fn a_later_fault_takes_its_baseline_from_before_an_unsettled_one() {
        // Healthy at 10 ms until 10, then 50 ms forever: the second
        // fault's baseline is the first 10 windows, not the slow ones.
        let f = |t| window(t, 100, 100, Some(if t < 10 { 10.0 } else { 50.0 }));
        let out = watch(&[(10, Some(20)), (40, Some(45))], 60, f);
        assert_eq!(
            out,
            [
                Recovery::NotMeasurable(NotMeasurable::Interrupted),
                Recovery::NotRecovered
            ]
        );
    }
}
