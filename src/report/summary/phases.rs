//! The parts of summary.json about the fault timeline: outcomes by phase
//! (`phases`), each fault's time to recover and the metastable flag
//! (`recovery`, `metastable`). Definitions: `world::phases` (phases and
//! attribution) and `metrics::recovery` (recovery and metastability).

use std::collections::BTreeMap;

use serde::Serialize;

use crate::metrics::recovery::{
    P99_FLOOR_MS, P99_RATIO, RECOVERY_WINDOWS, Recovery, SUCCESS_TOLERANCE,
};
use crate::metrics::{Counts, LatencySummary, PhaseCounts, round6};
use crate::world::phases::RECOVERY_PHASE;
use crate::world::{FaultWindow, Phase, RunOutcome};

use super::{Failures, secs};

/// One route's or one service's outcomes in one phase.
#[derive(Clone, Debug, Serialize)]
pub struct PhaseOutcome {
    /// Requests sent in the phase (route) or arriving in it (service).
    pub requests: u64,
    /// Of those, successes.
    pub successes: u64,
    /// Of those, failures by reason.
    pub failures: Failures,
    /// Of those, still in flight when the run ended.
    pub in_flight_at_end: u64,
    /// successes ÷ (requests − in flight at end); 0 if none finished.
    pub success_ratio: f64,
    /// Latency, ms: of successes end to end (route), of answered requests
    /// from arrival to reply (service).
    pub latency_ms: LatencySummary,
    /// Successes completed after their caller had given up (services
    /// only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub late_successes: Option<u64>,
}

impl PhaseOutcome {
    fn route(c: &Counts, in_flight: u64, latency: LatencySummary) -> PhaseOutcome {
        PhaseOutcome {
            requests: c.requests,
            successes: c.successes,
            failures: Failures {
                capped: Some(c.capped),
                ..Failures::caller(c)
            },
            in_flight_at_end: in_flight,
            success_ratio: ratio(c.successes, c.requests.saturating_sub(in_flight)),
            latency_ms: latency,
            late_successes: None,
        }
    }

    fn service(c: &Counts, in_flight: u64, latency: LatencySummary) -> PhaseOutcome {
        PhaseOutcome {
            requests: c.requests,
            successes: c.successes,
            failures: Failures::service(c),
            in_flight_at_end: in_flight,
            success_ratio: ratio(c.successes, c.requests.saturating_sub(in_flight)),
            latency_ms: latency,
            late_successes: Some(c.late_successes),
        }
    }
}

fn ratio(n: u64, d: u64) -> f64 {
    if d > 0 {
        round6(n as f64 / d as f64)
    } else {
        0.0
    }
}

/// One phase of the run in summary.json.
#[derive(Clone, Debug, Serialize)]
pub struct PhaseSummary {
    /// `fault` (some fault active), `recovery` (within
    /// `recovery.recovery_phase_s` of a fault's end, none active) or
    /// `steady`.
    pub kind: &'static str,
    /// What the phase is, in words: its faults, the faults it recovers
    /// from, its load changes.
    pub label: String,
    /// Start, seconds.
    pub start_s: f64,
    /// End, seconds (the next phase's start, or the end of the run).
    pub end_s: f64,
    /// Faults active throughout (indices into `faults`).
    pub faults: Vec<u32>,
    /// Faults recovered from (ended less than `recovery_phase_s` before).
    pub recovering: Vec<u32>,
    /// Schedule changes in effect (indices into the workload's schedule).
    pub load_changes: Vec<u32>,
    /// The last phase, holding every boundary past the cap on phases.
    pub merged: bool,
    /// Per route, what its clients saw of the requests sent in the phase.
    pub routes: BTreeMap<String, PhaseOutcome>,
    /// Per service, what happened to the requests arriving in the phase.
    pub services: BTreeMap<String, PhaseOutcome>,
}

/// The words for a phase: `latency backend +15ms; after crash api
/// (all instances); load change 0`, or `steady`.
fn label(phase: &Phase, faults: &[FaultWindow]) -> String {
    let name = |f: u32| {
        faults
            .get(f as usize)
            .map_or_else(String::new, |w| format!("{} {}", w.kind, w.target))
    };
    let mut parts: Vec<String> = phase.faults.iter().map(|&f| name(f)).collect();
    parts.extend(
        phase
            .recovering
            .iter()
            .map(|&f| format!("after {}", name(f))),
    );
    parts.extend(
        phase
            .load_changes
            .iter()
            .map(|c| format!("load change {c}")),
    );
    if parts.is_empty() {
        "steady".to_string()
    } else {
        parts.join("; ")
    }
}

/// The phases of `run`: from its per-phase counts, or, for a run of one
/// phase, from its totals.
pub(super) fn phases(run: &RunOutcome) -> Vec<PhaseSummary> {
    let (routes, services) = (run.route_names.len(), run.service_names.len());
    let recorded = !run.route_phases.is_empty() || !run.service_phases.is_empty();
    run.phases
        .iter()
        .enumerate()
        .map(|(p, phase)| {
            let route = |r: usize| match recorded {
                true => {
                    let c: &PhaseCounts = &run.route_phases[p * routes + r];
                    PhaseOutcome::route(&c.counts, c.in_flight_at_end, c.latency.summary())
                }
                false => {
                    let s = &run.routes[r];
                    PhaseOutcome::route(&s.total, s.in_flight, s.latency.summary())
                }
            };
            let service = |i: usize| match recorded {
                true => {
                    let c: &PhaseCounts = &run.service_phases[p * services + i];
                    PhaseOutcome::service(&c.counts, c.in_flight_at_end, c.latency.summary())
                }
                false => {
                    let s = &run.services[i];
                    let in_system = s.in_system();
                    PhaseOutcome::service(&s.total, in_system, s.latency.summary())
                }
            };
            PhaseSummary {
                kind: phase.kind(),
                label: label(phase, &run.faults),
                start_s: secs(phase.start),
                end_s: secs(phase.end.min(run.end)),
                faults: phase.faults.clone(),
                recovering: phase.recovering.clone(),
                load_changes: phase.load_changes.clone(),
                merged: phase.merged,
                routes: run
                    .route_names
                    .iter()
                    .enumerate()
                    .map(|(r, name)| (name.clone(), route(r)))
                    .collect(),
                services: run
                    .service_names
                    .iter()
                    .enumerate()
                    .map(|(i, name)| (name.clone(), service(i)))
                    .collect(),
            }
        })
        .collect()
}

/// A route's baseline before a fault.
#[derive(Clone, Debug, Serialize)]
pub struct BaselineSummary {
    /// Its success ratio over the baseline windows.
    pub success_ratio: f64,
    /// Its p99 over them, ms (the windows' p99s weighted by successes);
    /// null without successes.
    pub p99_ms: Option<f64>,
}

/// One fault's recovery in summary.json.
#[derive(Clone, Debug, Serialize)]
pub struct FaultRecoverySummary {
    /// The fault (index into `faults`).
    pub fault: usize,
    /// Its kind and target, as in `faults`.
    pub kind: &'static str,
    /// What it hit.
    pub target: String,
    /// `recovered`, `not_recovered` (the run is metastable) or
    /// `not_measurable`.
    pub status: &'static str,
    /// Why not measurable: `no_baseline`, `lasts_to_horizon`,
    /// `ends_near_horizon` or `interrupted`; null otherwise.
    pub reason: Option<&'static str>,
    /// From the fault's end to the start of the first of the good windows
    /// in a row, seconds (a multiple of the window past the end, rounded
    /// up to a window boundary); null unless recovered.
    pub time_to_recover_s: Option<f64>,
    /// Per route with traffic before the fault, its baseline.
    pub baseline: BTreeMap<String, BaselineSummary>,
}

/// How recovery is judged, and what became of each fault.
#[derive(Clone, Debug, Serialize)]
pub struct RecoverySummary {
    /// Good windows in a row for a fault to count as recovered.
    pub windows: u32,
    /// How far below its baseline a route's success ratio may be in a good
    /// window, as a fraction (0.01 is one point).
    pub success_tolerance: f64,
    /// How far above its baseline a route's p99 may be in a good window,
    /// as a ratio...
    pub p99_ratio: f64,
    /// ...or in ms, whichever allows more.
    pub p99_floor_ms: f64,
    /// The longest a recovery phase lasts after a fault ends, seconds.
    pub recovery_phase_s: f64,
    /// Per fault, in the order of `faults`.
    pub faults: Vec<FaultRecoverySummary>,
}

/// The recoveries of `run`, and whether it is metastable: some measurable
/// fault not recovered by the horizon.
pub(super) fn recovery(run: &RunOutcome) -> (RecoverySummary, bool) {
    let faults: Vec<FaultRecoverySummary> = run
        .recovery
        .iter()
        .zip(&run.faults)
        .enumerate()
        .map(|(i, (r, f))| {
            let (status, reason, time) = match r.recovery {
                Recovery::Recovered(after) => {
                    ("recovered", None, Some(round6(after.as_secs_f64())))
                }
                Recovery::NotRecovered => ("not_recovered", None, None),
                Recovery::NotMeasurable(why) => ("not_measurable", Some(why.as_str()), None),
            };
            FaultRecoverySummary {
                fault: i,
                kind: f.kind,
                target: f.target.clone(),
                status,
                reason,
                time_to_recover_s: time,
                baseline: r
                    .baseline
                    .iter()
                    .zip(&run.route_names)
                    .filter_map(|(b, name)| {
                        let success_ratio = b.success_ratio()?;
                        Some((
                            name.clone(),
                            BaselineSummary {
                                success_ratio: round6(success_ratio),
                                p99_ms: b.p99_ms().map(|p| (p * 1e3).round() / 1e3),
                            },
                        ))
                    })
                    .collect(),
            }
        })
        .collect();
    let metastable = faults.iter().any(|f| f.status == "not_recovered");
    (
        RecoverySummary {
            windows: RECOVERY_WINDOWS,
            success_tolerance: SUCCESS_TOLERANCE,
            p99_ratio: P99_RATIO,
            p99_floor_ms: P99_FLOOR_MS,
            recovery_phase_s: RECOVERY_PHASE.as_secs_f64(),
            faults,
        },
        metastable,
    )
}
