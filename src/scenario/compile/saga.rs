//! Each orchestrator's saga: its plan built and checked by the patterns'
//! own `SagaPlan::new` (the order of step kinds, the attempt bounds, the
//! backoff), and its steps resolved to the calls the world makes.

use super::*;
use crate::patterns::retry::Backoff;
use crate::patterns::saga::{SagaConfig, SagaPlan, StepKind};
use crate::scenario::model::SagaStepKind;
use crate::scenario::policy::backoff;

/// An orchestrator's saga, resolved.
#[derive(Clone, Debug, PartialEq)]
pub struct CompiledSaga {
    /// The plan the orchestrator runs.
    pub plan: SagaPlan,
    /// The steps, in order.
    pub steps: Vec<CompiledSagaStep>,
    /// The sagas an instance's log holds at once.
    pub sagas_in_flight_max: usize,
}

/// One step of a saga, resolved.
#[derive(Clone, Debug, PartialEq)]
pub struct CompiledSagaStep {
    /// Its name.
    pub name: String,
    /// The call its action and its compensation make (to the stateful
    /// service, with the step's policy and timeout).
    pub call: CallTarget,
    /// What the action adds to the key's balance.
    pub delta: i64,
    /// The action is deduplicated by (saga, step).
    pub idempotent: bool,
    /// The compensation is deduplicated by (saga, step).
    pub compensation_idempotent: bool,
    /// The probability that the business rule refuses the action.
    pub decline: f64,
}

/// Each service's saga plan (none: not an orchestrator), checked by the
/// patterns; problems at the scenario's fields.
pub(super) fn compile_saga_plans(scenario: &Scenario) -> Result<Vec<Option<SagaPlan>>, Problems> {
    let mut problems = Problems::new();
    let mut plans = Vec::with_capacity(scenario.services.len());
    for (name, service) in &scenario.services {
        let Some(saga) = &service.saga else {
            plans.push(None);
            continue;
        };
        let path = JsonPath::root().key("services").key(name).key("saga");
        let defaults = SagaConfig::default();
        let config = SagaConfig {
            steps: saga
                .steps
                .iter()
                .map(|s| match s.kind {
                    SagaStepKind::Compensatable => StepKind::Compensatable,
                    SagaStepKind::Pivot => StepKind::Pivot,
                    SagaStepKind::Retriable => StepKind::Retriable,
                })
                .collect(),
            action_attempts_max: saga.action_attempts_max,
            retriable_attempts_max: saga.retriable_attempts_max,
            compensation_attempts_max: saga.compensation_attempts_max,
            backoff: saga.backoff.as_ref().map_or(defaults.backoff, backoff),
            parallel_compensation: saga.parallel_compensation,
        };
        debug_assert!(matches!(defaults.backoff, Backoff::Exponential { .. }));
        match SagaPlan::new(&config) {
            Ok(plan) => plans.push(Some(plan)),
            Err(e) => {
                let mut at = path.clone();
                for piece in e.field.split('.') {
                    at = at.key(piece);
                }
                // A step kind out of order is the kinds' problem, shown at
                // the first step that breaks it.
                if e.field == "steps" && !saga.steps.is_empty() && saga.steps.len() <= 16 {
                    let rank = |k: SagaStepKind| k as u8;
                    let bad = saga
                        .steps
                        .windows(2)
                        .position(|w| rank(w[1].kind) < rank(w[0].kind))
                        .map(|i| i + 1)
                        .or_else(|| {
                            saga.steps
                                .iter()
                                .enumerate()
                                .filter(|(_, s)| s.kind == SagaStepKind::Pivot)
                                .nth(1)
                                .map(|(i, _)| i)
                        });
                    if let Some(i) = bad {
                        at = path.key("steps").index(i).key("kind");
                    }
                }
                problems.push((at, e.reason.to_string()));
                plans.push(None);
            }
        }
    }
    if problems.is_empty() {
        Ok(plans)
    } else {
        Err(problems)
    }
}

impl Resolver<'_> {
    /// Each service's saga, with its plan from `plans`.
    pub(super) fn sagas(&mut self, plans: &[Option<SagaPlan>]) -> Vec<Option<CompiledSaga>> {
        let scenario = self.scenario;
        scenario
            .services
            .iter()
            .zip(plans)
            .map(|((name, service), plan)| {
                let (saga, plan) = (service.saga.as_ref()?, (*plan)?);
                let path = JsonPath::root().key("services").key(name).key("saga");
                let steps = saga
                    .steps
                    .iter()
                    .enumerate()
                    .map(|(i, s)| {
                        let at = path.key("steps").index(i);
                        CompiledSagaStep {
                            name: s.name.clone(),
                            call: CallTarget {
                                service: self.service(at.key("service"), &s.service),
                                policy: self.policy(at.key("policy"), s.policy.as_deref()),
                                probability: 1.0,
                                optional: false,
                                timeout: s.timeout,
                            },
                            delta: s.delta,
                            idempotent: s.idempotent,
                            compensation_idempotent: s.compensation_idempotent,
                            decline: s.decline,
                        }
                    })
                    .collect();
                Some(CompiledSaga {
                    plan,
                    steps,
                    sagas_in_flight_max: saga.sagas_in_flight_max as usize,
                })
            })
            .collect()
    }
}
