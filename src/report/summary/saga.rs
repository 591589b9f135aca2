//! The `sagas` and `state` blocks of summary.json: what each saga
//! orchestrator did (its sagas' endings, its steps' calls, its durations
//! and the sagas still running) and what each stateful service holds.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::metrics::LatencySummary;
use crate::world::{SagaOutcome, StoreOutcome};

/// One orchestrator's sagas over the run.
#[derive(Clone, Debug, Serialize)]
pub struct SagaSummary {
    /// Sagas started (one per request it served).
    pub started: u64,
    /// Requests refused (503) because the instance's log held
    /// `sagas_in_flight_max` sagas.
    pub refused: u64,
    /// Sagas that applied every step.
    pub completed: u64,
    /// Sagas that undid every step that may have been applied.
    pub compensated: u64,
    /// Sagas parked for an operator: a failure of the design. By why.
    pub dead_lettered: DeadLetteredSummary,
    /// Sagas still running at the end of the run (see `stuck_sagas`).
    pub stuck: u64,
    /// Sagas rebuilt from an instance's log after it restarted.
    pub recovered: u64,
    /// Action calls made by the sagas (their own retries included, the
    /// policies' retries not).
    pub action_calls: u64,
    /// Compensation calls made, likewise.
    pub compensation_calls: u64,
    /// From start to end, over the sagas that ended (ms).
    pub duration_ms: LatencySummary,
    /// From the failure that turned a saga backward to its last
    /// compensation, over the compensated sagas (ms).
    pub time_to_compensate_ms: LatencySummary,
    /// Per step, in order: what its calls came to.
    pub steps: Vec<SagaStepSummary>,
    /// The first stuck sagas (at most 20), each with why.
    pub stuck_sagas: Vec<ListedSagaSummary>,
    /// The first dead-lettered sagas (at most 20), each with why and what
    /// it may have left standing.
    pub dead_lettered_sagas: Vec<ListedSagaSummary>,
}

/// Dead-lettered sagas, by why.
#[derive(Clone, Debug, Serialize)]
pub struct DeadLetteredSummary {
    /// All of them.
    pub total: u64,
    /// A compensation failed `compensation_attempts_max` times.
    pub compensation_exhausted: u64,
    /// The pivot's outcome stayed unknown (it cannot be compensated).
    pub pivot_uncertain: u64,
    /// A retriable step failed `retriable_attempts_max` times.
    pub retriable_exhausted: u64,
}

/// A saga step's calls.
#[derive(Clone, Debug, Serialize)]
pub struct SagaStepSummary {
    /// The step.
    pub name: String,
    /// The stateful service it changes.
    pub service: String,
    /// Action calls answered applied (or already applied).
    pub applied: u64,
    /// Refused by a business rule.
    pub rejected: u64,
    /// Failed for certain (one attempt, answered with an error).
    pub failed: u64,
    /// With an unknown outcome (a timeout, a lost reply, or a failure
    /// after a retry or a hedge): the step may have been applied.
    pub unknown: u64,
    /// Compensation calls answered done.
    pub compensated: u64,
    /// Compensation calls that failed or whose outcome was unknown.
    pub compensation_failed: u64,
}

/// A saga still running at the end, or one dead-lettered.
#[derive(Clone, Debug, Serialize)]
pub struct ListedSagaSummary {
    /// Its number (in the order sagas started).
    pub saga: u64,
    /// Why it has not ended, or why it was dead-lettered and what it may
    /// have left standing.
    pub why: String,
}

/// A stateful service's balances at the end.
#[derive(Clone, Debug, Serialize)]
pub struct StateSummary {
    /// Its keys.
    pub keys: u32,
    /// The total of its balances at the start.
    pub initial_total: i64,
    /// At the end.
    pub total: i64,
    /// What the sagas that ended legitimately moved the total by (every
    /// step of a completed saga, what a dead-lettered one left).
    pub moved_by_ended: i64,
    /// What the sagas still running moved it by.
    pub moved_by_running: i64,
    /// Actions that changed a balance.
    pub applied: u64,
    /// Compensations that changed a balance back.
    pub undone: u64,
    /// Retried actions answered without a second effect.
    pub duplicates: u64,
    /// Actions refused by a business rule (a balance below zero, a
    /// declined payment).
    pub rejected: u64,
    /// Actions refused because their compensation had come first.
    pub fenced: u64,
    /// Compensations of an action that never took effect: nothing to undo.
    pub no_ops: u64,
    /// Retried compensations of one already done (its reply was lost).
    pub compensation_duplicates: u64,
}

pub(super) fn sagas_summary(sagas: &[SagaOutcome]) -> BTreeMap<String, SagaSummary> {
    sagas
        .iter()
        .map(|s| {
            let c = &s.counts;
            let summary = SagaSummary {
                started: c.started,
                refused: c.refused,
                completed: c.completed,
                compensated: c.compensated,
                dead_lettered: DeadLetteredSummary {
                    total: c.dead_compensation + c.dead_pivot + c.dead_retriable,
                    compensation_exhausted: c.dead_compensation,
                    pivot_uncertain: c.dead_pivot,
                    retriable_exhausted: c.dead_retriable,
                },
                stuck: s.stuck,
                recovered: c.recovered,
                action_calls: c.actions,
                compensation_calls: c.compensations,
                duration_ms: s.duration.summary(),
                time_to_compensate_ms: s.to_compensate.summary(),
                steps: s
                    .steps
                    .iter()
                    .map(|st| SagaStepSummary {
                        name: st.name.clone(),
                        service: st.service.clone(),
                        applied: st.applied,
                        rejected: st.rejected,
                        failed: st.failed,
                        unknown: st.unknown,
                        compensated: st.compensated,
                        compensation_failed: st.compensation_failed,
                    })
                    .collect(),
                stuck_sagas: listed(&s.stuck_listed),
                dead_lettered_sagas: listed(&s.dead_listed),
            };
            (s.service.clone(), summary)
        })
        .collect()
}

fn listed(sagas: &[(u64, String)]) -> Vec<ListedSagaSummary> {
    sagas
        .iter()
        .map(|(saga, why)| ListedSagaSummary {
            saga: *saga,
            why: why.clone(),
        })
        .collect()
}

pub(super) fn state_summary(stores: &[StoreOutcome]) -> BTreeMap<String, StateSummary> {
    stores
        .iter()
        .map(|s| {
            let summary = StateSummary {
                keys: s.keys,
                initial_total: s.initial,
                total: s.total,
                moved_by_ended: s.accounted,
                moved_by_running: s.in_flight,
                applied: s.counts.applied,
                undone: s.counts.undone,
                duplicates: s.counts.duplicates,
                rejected: s.counts.rejected,
                fenced: s.counts.fenced,
                no_ops: s.counts.no_ops,
                compensation_duplicates: s.counts.compensation_duplicates,
            };
            (s.service.clone(), summary)
        })
        .collect()
}
