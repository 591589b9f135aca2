//! What the sagas report: each window's row per orchestrator, and at the
//! end each orchestrator's outcome (with why each stuck saga is stuck) and
//! each stateful service's balances.

use super::*;

/// What an orchestrator counted.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SagaCounts {
    /// Sagas started.
    pub started: u64,
    /// Requests refused because the instance's log was full.
    pub refused: u64,
    /// Sagas that completed.
    pub completed: u64,
    /// Sagas that compensated every step that may have been applied.
    pub compensated: u64,
    /// Sagas dead-lettered because a compensation gave up.
    pub dead_compensation: u64,
    /// Sagas dead-lettered because the pivot's outcome stayed unknown.
    pub dead_pivot: u64,
    /// Sagas dead-lettered because a retriable step gave up.
    pub dead_retriable: u64,
    /// Sagas rebuilt from the log after their instance restarted.
    pub recovered: u64,
    /// Action calls made (first attempts and the saga's retries).
    pub actions: u64,
    /// Compensation calls made (first attempts and the saga's retries).
    pub compensations: u64,
}

/// Per step, what its calls came to.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct StepCounts {
    /// The step's name.
    pub name: String,
    /// The stateful service it changes.
    pub service: String,
    /// Action calls ended applied.
    pub applied: u64,
    /// Action calls refused by a business rule.
    pub rejected: u64,
    /// Action calls that certainly failed.
    pub failed: u64,
    /// Action calls whose outcome was unknown.
    pub unknown: u64,
    /// Compensation calls ended done.
    pub compensated: u64,
    /// Compensation calls that failed or whose outcome was unknown.
    pub compensation_failed: u64,
}

/// What a stateful service counted.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct StoreCounts {
    /// Actions that changed a balance.
    pub applied: u64,
    /// Compensations that changed a balance back.
    pub undone: u64,
    /// Retried actions answered without effect (idempotent).
    pub duplicates: u64,
    /// Actions refused by a business rule (a balance below zero, a
    /// decline).
    pub rejected: u64,
    /// Actions refused because their compensation came first.
    pub fenced: u64,
    /// Compensations of an action that never took effect (idempotent).
    pub no_ops: u64,
    /// Retried compensations of one already done (idempotent).
    pub compensation_duplicates: u64,
}

/// What one orchestrator did, for reports.
#[derive(Clone, Debug)]
pub struct SagaOutcome {
    /// The orchestrator service.
    pub service: String,
    /// Its counts.
    pub counts: SagaCounts,
    /// Per step.
    pub steps: Vec<StepCounts>,
    /// Sagas still running at the end, and the first few of them, each
    /// described.
    pub stuck: u64,
    /// The first [`STUCK_LISTED`] stuck sagas: number, and why.
    pub stuck_listed: Vec<(u64, String)>,
    /// When the earliest-started stuck saga started (none: none is stuck).
    pub stuck_since: Option<SimTime>,
    /// The first [`STUCK_LISTED`] dead-lettered sagas: number, why, and
    /// what each left standing.
    pub dead_listed: Vec<(u64, String)>,
    /// Durations of ended sagas.
    pub duration: LatencyHistogram,
    /// From turning backward to compensated.
    pub to_compensate: LatencyHistogram,
    /// Its rows kept for charts (`metrics::saga`), one per window of
    /// `rows_merged` windows.
    pub rows: crate::metrics::saga::KeptSagaRows,
    /// Windows per kept row.
    pub rows_merged: u32,
    /// Its index among the services.
    pub index: u32,
}

/// What one stateful service holds at the end, for reports.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoreOutcome {
    /// The service.
    pub service: String,
    /// Its keys.
    pub keys: u32,
    /// The total of its balances at the start.
    pub initial: i64,
    /// At the end.
    pub total: i64,
    /// What ended sagas legitimately moved the total by.
    pub accounted: i64,
    /// What sagas still running moved it by.
    pub in_flight: i64,
    /// Its counts.
    pub counts: StoreCounts,
}

impl World<'_> {
    /// Adds each orchestrator's row to the closing window: what its counts
    /// moved by in the window, and its sagas running at its end.
    pub(in crate::world) fn saga_rows(&mut self) {
        let sagas = self.sagas.as_deref_mut().expect("sagas");
        for o in &mut sagas.orchestrators {
            let (now, then) = (&o.counts, &o.window_mark);
            self.closing.sagas.push(crate::metrics::saga::SagaRow {
                service: o.service,
                started: now.started - then.started,
                refused: now.refused - then.refused,
                completed: now.completed - then.completed,
                compensated: now.compensated - then.compensated,
                dead_lettered: (now.dead_compensation + now.dead_pivot + now.dead_retriable)
                    - (then.dead_compensation + then.dead_pivot + then.dead_retriable),
                recovered: now.recovered - then.recovered,
                compensation_calls: now.compensations - then.compensations,
                running: o.running,
            });
            o.window_mark = o.counts.clone();
        }
    }

    /// What each orchestrator did and each stateful service holds, at the
    /// end of the run.
    pub(in crate::world) fn saga_outcomes(&mut self) -> (Vec<SagaOutcome>, Vec<StoreOutcome>) {
        let Some(sagas) = self.sagas.as_deref() else {
            return (Vec::new(), Vec::new());
        };
        let mut outcomes = Vec::new();
        for (o, orchestrator) in sagas.orchestrators.iter().enumerate() {
            let stuck: Vec<(&u64, &Live)> = sagas
                .live
                .iter()
                .filter(|(_, l)| usize::from(l.orchestrator) == o)
                .collect();
            let stuck_listed = stuck
                .iter()
                .take(STUCK_LISTED)
                .map(|&(&n, live)| (n, self.why_stuck(orchestrator, n, live)))
                .collect();
            outcomes.push(SagaOutcome {
                service: self.service_names[orchestrator.service as usize].clone(),
                counts: orchestrator.counts.clone(),
                steps: orchestrator.step_counts.clone(),
                stuck: stuck.len() as u64,
                stuck_listed,
                stuck_since: stuck.iter().map(|(_, live)| live.started).min(),
                dead_listed: orchestrator.dead_listed.clone(),
                duration: orchestrator.duration.clone(),
                to_compensate: orchestrator.to_compensate.clone(),
                rows: Vec::new(),
                rows_merged: 1,
                index: orchestrator.service,
            });
        }
        let stores = sagas
            .stores
            .iter()
            .map(|s| StoreOutcome {
                service: self.service_names[s.service as usize].clone(),
                keys: s.keys,
                initial: s.initial,
                total: s.ledger.total(),
                accounted: s.accounted,
                in_flight: s.live_net,
                counts: s.counts.clone(),
            })
            .collect();
        (outcomes, stores)
    }

    /// Why saga `ordinal` is still running at the end.
    pub(super) fn why_stuck(
        &self,
        orchestrator: &Orchestrator,
        ordinal: u64,
        live: &Live,
    ) -> String {
        let slot = (live.instance - orchestrator.first_instance) as usize;
        let own = &orchestrator.instances[slot];
        let instance_name = format!(
            "{}#{slot}",
            self.service_names[orchestrator.service as usize]
        );
        let run = own
            .payloads
            .iter()
            .find(|(_, p)| p.ordinal == ordinal)
            .and_then(|(id, _)| own.runs.get(id))
            .and_then(|&run| self.sagas.as_deref()?.runs.get(run));
        let direction = |saga: &Saga| {
            if saga.is_compensating() {
                "compensating"
            } else {
                "going forward"
            }
        };
        let age = format!("started at {:.3} s", live.started.as_secs_f64());
        match run {
            None => format!(
                "{age}; its orchestrator instance {instance_name} is down, and no other instance takes a saga over"
            ),
            Some(r) => match r.saga.poll_timeout() {
                Some(at) => format!(
                    "{age}; {}, a retry due at {:.3} s",
                    direction(&r.saga),
                    at as f64 / 1e9
                ),
                None => format!("{age}; {}, waiting for a call's answer", direction(&r.saga)),
            },
        }
    }
}
