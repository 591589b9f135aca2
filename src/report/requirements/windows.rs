//! Sliding spans over the time series, for the requirements judged window
//! by window: a [`Recorder`] that keeps, per such requirement, the last
//! `span` windows' numerator and denominator in a ring (bounded memory: a
//! span's windows, however long the run) and judges the span each time a
//! window closes once the ring is full.
//!
//! A span's value is Σ numerator ÷ Σ denominator over its windows that are
//! not excluded (a window overlapping `[fault start, fault start + grace)`),
//! so a 60 s success rate weighs each request once, not each window. A
//! span whose denominator is 0 (nothing ended, nothing called) is not
//! judged. A latency quantile cannot be summed, so it is judged per window
//! only (its span is one window): the window's own quantile.

use std::collections::VecDeque;

use crate::kernel::SimTime;
use crate::metrics::{ClosedWindow, Counts, EntityKind, Recorder, SeriesNames, WindowRow};
use crate::scenario::{AmplificationTarget, Compiled, RequirementKind};

/// Which rows a tracker reads, and what it takes from them.
#[derive(Clone, Debug)]
pub(super) enum Source {
    /// A route's successes ÷ requests that ended.
    Success(u32),
    /// A route's window quantile (0.5 or 0.99), ms.
    Latency(u32, f64),
    /// A route's attempts ÷ requests.
    RouteAmplification(u32),
    /// A service's requests ÷ calls.
    ServiceAmplification(u32),
    /// The summed attempts ÷ calls of edges (resolved at start).
    EdgeAmplification(String, String, Vec<u32>),
}

/// The value of one span (or window) and when it was.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Measured {
    /// Start of its first window.
    pub start: SimTime,
    /// End of its last window.
    pub end: SimTime,
    /// The value (a fraction for success, ms for latency, attempts per call).
    pub value: f64,
}

/// One window's share of a span.
#[derive(Clone, Copy, Debug)]
struct Slot {
    start: SimTime,
    end: SimTime,
    numerator: f64,
    denominator: f64,
    excluded: bool,
}

/// The sliding judgement of one requirement.
#[derive(Clone, Debug)]
pub(super) struct Tracker {
    /// The requirement's index in the scenario's list.
    pub requirement: usize,
    source: Source,
    windows: usize,
    grace: Option<u64>,
    /// Passes when value ≥ bound (success) or ≤ bound (the others).
    at_least: bool,
    bound: f64,
    ring: VecDeque<Slot>,
    /// Spans judged.
    pub judged: u64,
    /// Spans that failed.
    pub failed: u64,
    /// The worst span judged.
    pub worst: Option<Measured>,
    /// The first span that failed.
    pub first_failed: Option<Measured>,
    /// A partial span judged at the end because the run had fewer windows
    /// than the span.
    pub partial: bool,
}

impl Tracker {
    fn push(&mut self, slot: Slot) {
        if self.ring.len() == self.windows {
            self.ring.pop_front();
        }
        self.ring.push_back(slot);
        if self.ring.len() == self.windows {
            self.judge();
        }
    }

    fn judge(&mut self) {
        let (Some(first), Some(last)) = (self.ring.front(), self.ring.back()) else {
            return;
        };
        let (start, end) = (first.start, last.end);
        let (mut n, mut d) = (0.0, 0.0);
        for slot in self.ring.iter().filter(|s| !s.excluded) {
            n += slot.numerator;
            d += slot.denominator;
        }
        if d <= 0.0 {
            return;
        }
        let value = n / d;
        let measured = Measured { start, end, value };
        self.judged += 1;
        let passes = if self.at_least {
            value >= self.bound
        } else {
            value <= self.bound
        };
        if !passes {
            self.failed += 1;
            self.first_failed.get_or_insert(measured);
        }
        let worse = |w: &Measured| {
            if self.at_least {
                value < w.value
            } else {
                value > w.value
            }
        };
        if self.worst.as_ref().is_none_or(worse) {
            self.worst = Some(measured);
        }
    }

    fn slot(&self, window: &ClosedWindow) -> Slot {
        let row = |kind: EntityKind, entity: u32| -> Option<&WindowRow> {
            window.of(kind).iter().find(|r| r.entity == entity)
        };
        let counts = |kind, entity| row(kind, entity).map(|r| r.counts);
        let ratio = |c: Option<Counts>, f: fn(&Counts) -> (u64, u64)| {
            c.map_or((0.0, 0.0), |c| {
                let (n, d) = f(&c);
                (n as f64, d as f64)
            })
        };
        let (numerator, denominator) = match &self.source {
            Source::Success(r) => ratio(counts(EntityKind::Route, *r), |c| {
                (c.successes, c.successes + c.failures())
            }),
            Source::Latency(r, q) => {
                let value = row(EntityKind::Route, *r).and_then(|row| {
                    if *q < 0.9 {
                        row.latency_ms_p50
                    } else {
                        row.latency_ms_p99
                    }
                });
                value.map_or((0.0, 0.0), |v| (v, 1.0))
            }
            Source::RouteAmplification(r) => {
                ratio(counts(EntityKind::Route, *r), |c| (c.attempts, c.requests))
            }
            Source::ServiceAmplification(s) => {
                ratio(counts(EntityKind::Service, *s), |c| (c.requests, c.calls))
            }
            Source::EdgeAmplification(_, _, edges) => {
                let (mut n, mut d) = (0.0, 0.0);
                for &e in edges {
                    let (a, b) = ratio(counts(EntityKind::Edge, e), |c| (c.attempts, c.requests));
                    n += a;
                    d += b;
                }
                (n, d)
            }
        };
        Slot {
            start: window.start,
            end: window.end,
            numerator,
            denominator,
            // Set by the caller, which knows the faults.
            excluded: false,
        }
    }
}

/// The edges named `from->to`, with or without a policy or a number after
/// it (`from->to [policy]`, `from->to #2`: see `world/build.rs`).
pub(super) fn edges_between(names: &SeriesNames, from: &str, to: &str) -> Vec<u32> {
    let base = format!("{from}->{to}");
    names
        .edges
        .iter()
        .enumerate()
        .filter(|(_, n)| {
            n.as_str() == base
                || n.strip_prefix(base.as_str())
                    .is_some_and(|rest| rest.starts_with(" [") || rest.starts_with(" #"))
        })
        .map(|(i, _)| i as u32)
        .collect()
}

/// The recorder of every sliding requirement of a run (the whole-run ones
/// are judged from the summary: see [`super::Judge::verdicts`]).
#[derive(Clone, Debug)]
pub struct Sliding {
    pub(super) trackers: Vec<Tracker>,
    /// Fault starts, nanoseconds.
    fault_starts: Vec<u64>,
}

impl Sliding {
    pub(super) fn new(compiled: &Compiled) -> Sliding {
        let mut trackers = Vec::new();
        for (i, r) in compiled.requirements().iter().enumerate() {
            let (source, span, at_least, bound) = match &r.kind {
                RequirementKind::Success {
                    route,
                    at_least,
                    span,
                } => (Source::Success(*route), span, true, *at_least),
                RequirementKind::Latency {
                    route,
                    quantile,
                    at_most,
                    span,
                } => (
                    Source::Latency(*route, *quantile),
                    span,
                    false,
                    at_most.as_secs_f64() * 1e3,
                ),
                RequirementKind::Amplification {
                    target,
                    at_most,
                    span,
                } => (
                    match target {
                        AmplificationTarget::Route(r) => Source::RouteAmplification(*r),
                        AmplificationTarget::Service(s) => Source::ServiceAmplification(*s),
                        AmplificationTarget::Edge { from, to } => {
                            Source::EdgeAmplification(from.clone(), to.clone(), Vec::new())
                        }
                    },
                    span,
                    false,
                    *at_most,
                ),
                RequirementKind::NoInvariantViolated
                | RequirementKind::TimeToRecover { .. }
                | RequirementKind::NotMetastable => continue,
            };
            let Some(span) = span else {
                continue;
            };
            let windows = usize::try_from(span.windows).unwrap_or(usize::MAX).max(1);
            trackers.push(Tracker {
                requirement: i,
                source,
                windows,
                grace: span.grace.map(|g| g.as_nanos()),
                at_least,
                bound,
                // Bounded: the span's windows (validated to fit in the run).
                ring: VecDeque::with_capacity(windows.min(1 << 16)),
                judged: 0,
                failed: 0,
                worst: None,
                first_failed: None,
                partial: false,
            });
        }
        Sliding {
            trackers,
            fault_starts: compiled
                .scenario()
                .faults
                .iter()
                .map(|f| f.at.as_nanos())
                .collect(),
        }
    }

    /// Whether a window overlaps `[start, start + grace)` of a fault.
    fn in_grace(&self, grace: u64, window: &ClosedWindow) -> bool {
        let (start, end) = (window.start.as_nanos(), window.end.as_nanos());
        self.fault_starts.iter().any(|&at| {
            let until = at.saturating_add(grace);
            // A zero-width last window at a fault's start counts as in it.
            start < until && (end > at || (end == start && start >= at))
        })
    }

    /// Judges the spans of a run shorter than them once, over every window
    /// it had (an incomplete run).
    pub(super) fn finish(&mut self) {
        for t in &mut self.trackers {
            if t.judged == 0 && !t.ring.is_empty() && t.ring.len() < t.windows {
                t.partial = true;
                t.judge();
            }
        }
    }
}

impl Recorder for Sliding {
    fn start(&mut self, names: &SeriesNames) {
        for t in &mut self.trackers {
            if let Source::EdgeAmplification(from, to, edges) = &mut t.source {
                *edges = edges_between(names, from, to);
            }
        }
    }

    fn window(&mut self, window: &ClosedWindow) {
        for i in 0..self.trackers.len() {
            let mut slot = self.trackers[i].slot(window);
            slot.excluded = match self.trackers[i].grace {
                Some(grace) => self.in_grace(grace, window),
                None => false,
            };
            self.trackers[i].push(slot);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The memory estimate counts each kept window at twice its record (a
    /// ring past its first allocation grows by doubling).
    #[test]
    fn the_size_estimate_covers_a_kept_window() {
        let slot = std::mem::size_of::<Slot>() as u64;
        assert!(
            2 * slot <= crate::scenario::size::REQUIREMENT_WINDOW_BYTES,
            "Slot: {slot} bytes"
        );
    }

    fn tracker(windows: usize, at_least: bool, bound: f64) -> Tracker {
        Tracker {
            requirement: 0,
            source: Source::Success(0),
            windows,
            grace: None,
            at_least,
            bound,
            ring: VecDeque::new(),
            judged: 0,
            failed: 0,
            worst: None,
            first_failed: None,
            partial: false,
        }
    }

    fn slot(i: u64, numerator: f64, denominator: f64, excluded: bool) -> Slot {
        Slot {
            start: SimTime::from_nanos(i * 1_000_000_000),
            end: SimTime::from_nanos((i + 1) * 1_000_000_000),
            numerator,
            denominator,
            excluded,
        }
    }

    #[test]
    fn an_empty_or_wholly_excluded_span_is_not_judged() {
        let mut t = tracker(2, true, 0.5);
        t.push(slot(0, 0.0, 0.0, false));
        t.push(slot(1, 0.0, 0.0, false));
        t.push(slot(2, 5.0, 10.0, true));
        assert_eq!(t.judged, 0, "nothing ended, or all of it excluded");
        t.push(slot(3, 1.0, 4.0, false));
        assert_eq!((t.judged, t.failed), (1, 1));
        assert_eq!(t.first_failed.map(|m| m.value), Some(0.25));
    }

    #[test]
    fn grace_covers_every_window_that_overlaps_it() {
        let sliding = Sliding {
            trackers: Vec::new(),
            fault_starts: vec![10_000_000_000],
        };
        let window = |start: u64, end: u64| ClosedWindow {
            start: SimTime::from_nanos(start * 1_000_000),
            end: SimTime::from_nanos(end * 1_000_000),
            ..ClosedWindow::default()
        };
        let grace = 2_500_000_000;
        // [10 s, 12.5 s): windows 10–11, 11–12 and 12–13 overlap it.
        let inside: Vec<bool> = [
            (9_000, 10_000),
            (10_000, 11_000),
            (12_000, 13_000),
            (13_000, 14_000),
        ]
        .iter()
        .map(|&(s, e)| sliding.in_grace(grace, &window(s, e)))
        .collect();
        assert_eq!(inside, [false, true, true, false]);
        // A zero-width last window at the fault's start is in it.
        assert!(sliding.in_grace(grace, &window(10_000, 10_000)));
        assert!(!sliding.in_grace(grace, &window(9_999, 9_999)));
    }

    #[test]
    fn edges_are_matched_by_their_ends_whatever_their_policy() {
        let names = SeriesNames {
            edges: [
                "client->api",
                "api->db",
                "api->db [fast]",
                "api->db #2",
                "api->dbx",
                "xapi->db",
            ]
            .map(String::from)
            .to_vec(),
            ..SeriesNames::default()
        };
        assert_eq!(edges_between(&names, "api", "db"), [1, 2, 3]);
    }

    proptest! {
        /// The ring judges exactly the spans a brute force over the whole
        /// series finds, with the same failures and the same worst value,
        /// and never holds more than its span's windows.
        #[test]
        fn sliding_spans_match_a_brute_force_over_the_whole_series(
            windows in 1usize..6,
            series in proptest::collection::vec((0u32..20, 0u32..20, any::<bool>()), 0..40),
            bound in 0.0f64..1.0,
        ) {
            let slots: Vec<Slot> = series
                .iter()
                .enumerate()
                .map(|(i, &(n, extra, excluded))| {
                    slot(i as u64, f64::from(n), f64::from(n + extra), excluded && i % 3 == 0)
                })
                .collect();
            let mut t = tracker(windows, true, bound);
            for s in &slots {
                t.push(*s);
                prop_assert!(t.ring.len() <= windows);
            }
            let (mut judged, mut failed, mut worst) = (0u64, 0u64, None::<f64>);
            for span in slots.windows(windows) {
                let kept = span.iter().filter(|s| !s.excluded);
                let n: f64 = kept.clone().map(|s| s.numerator).sum();
                let d: f64 = kept.map(|s| s.denominator).sum();
                if d > 0.0 {
                    judged += 1;
                    failed += u64::from(n / d < bound);
                    worst = Some(worst.map_or(n / d, |w: f64| w.min(n / d)));
                }
            }
            prop_assert_eq!(t.judged, judged);
            prop_assert_eq!(t.failed, failed);
            prop_assert_eq!(t.worst.map(|m| m.value), worst);
        }
    }
}
