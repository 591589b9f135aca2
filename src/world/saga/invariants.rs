//! The saga invariants as the world checks them at each saga's end:
//! conservation across the stateful services, and the message of a saga
//! whose effects contradict its ending.

use super::*;

impl World<'_> {
    /// Conservation across every stateful service: each total moved by what
    /// ended sagas legitimately moved it by, plus what running sagas hold.
    pub(super) fn check_stores(&mut self, now: SimTime) {
        let sagas = self.sagas.as_deref().expect("sagas");
        for store in &sagas.stores {
            if let Err(Violation::Conservation { expected, actual }) = check_conservation(
                store.initial,
                store.ledger.total(),
                store.accounted + store.live_net,
            ) {
                let service = self.service_names[store.service as usize].clone();
                let cause = format!(
                    "saga invariant violated: conservation at `{service}`: its balances total {} against {} at the start, a change of {actual}, while the sagas account for {expected} ({} by sagas that ended, {} by sagas still running)",
                    store.ledger.total(),
                    store.initial,
                    store.accounted,
                    store.live_net
                );
                self.violate(
                    now,
                    crate::world::stop::Invariant::Conservation,
                    service,
                    cause,
                );
                return;
            }
        }
    }

    /// The message of a saga's violated invariant.
    pub(super) fn saga_violation(
        &self,
        o: usize,
        ordinal: u64,
        key: u32,
        ending: Ending,
        trace: &[(usize, EffectKind)],
        violation: Violation,
    ) -> String {
        let sagas = self.sagas.as_deref().expect("sagas");
        let orchestrator = &sagas.orchestrators[o];
        let step_name = |step: usize| {
            let model = &orchestrator.steps[step];
            let store = &sagas.stores[model.store as usize];
            let service = &self.service_names[store.service as usize];
            let at = key % store.keys;
            format!(
                "step {step} `{}` at `{service}` (key {at}, whose balance is now {})",
                model.name,
                store.ledger.balance(at as usize)
            )
        };
        let what = match violation {
            Violation::NotAppliedOnce { step, applied, .. } => format!(
                "it completed, but {} took effect {applied} times",
                step_name(step)
            ),
            Violation::NotUndone { step, net, .. } => format!(
                "{} stands at a net {net} (applied less undone) where {} was due",
                step_name(step),
                if matches!(ending, Ending::Compensated) {
                    "0"
                } else {
                    "0 or 1"
                }
            ),
            Violation::AppliedTwice { step, .. } => {
                format!("{} took effect twice", step_name(step))
            }
            Violation::AppliedAfterUndone { step, .. } => {
                format!("{} took effect after its own compensation", step_name(step))
            }
            Violation::OutOfOrder { earlier, later, .. } => format!(
                "{} was compensated before {}, out of reverse order",
                step_name(earlier),
                step_name(later)
            ),
            Violation::UnreportedLeft { step, .. } => format!(
                "it was dead-lettered, and {} stands without being reported as left",
                step_name(step)
            ),
            Violation::Conservation { expected, actual } => {
                format!("totals moved by {actual}, the sagas account for {expected}")
            }
        };
        let effects: Vec<String> = trace
            .iter()
            .map(|&(step, kind)| {
                format!(
                    "{} {}",
                    match kind {
                        EffectKind::Applied => "applied",
                        EffectKind::Undone => "undone",
                    },
                    orchestrator.steps[step].name
                )
            })
            .collect();
        format!(
            "saga invariant violated: saga {ordinal} ended {}: {what} (its effects in order: {})",
            ending_name(ending),
            if effects.is_empty() {
                "none".to_string()
            } else {
                effects.join(", ")
            }
        )
    }
}

pub(super) fn ending_name(ending: Ending) -> &'static str {
    match ending {
        Ending::Completed => "completed",
        Ending::Compensated => "compensated",
        Ending::DeadLettered { .. } => "dead-lettered",
    }
}
