//! A choreography-based saga (Richardson, *Microservices Patterns*, ch. 4.2.3): no
//! orchestrator. The saga's events go on one topic keyed by the saga, so each saga's
//! events keep their order; every participant reads them all and reacts to two kinds:
//!
//! - the event that precedes its step ([`SagaEvent::Started`] for the first step, the
//!   previous step's [`SagaEvent::Done`] for the others): it applies its action to its
//!   own ledger and publishes its outcome, [`SagaEvent::Done`] or, when its business
//!   rule refuses, [`SagaEvent::Failed`], in the same transaction (the outbox);
//! - a later step's [`SagaEvent::Failed`]: it undoes its own step, and publishes nothing
//!   (each participant compensates on its own; no one orders the compensations).
//!
//! Everything else it ignores. The participant's idempotence is its ledger's
//! ([`Idempotence::Keyed`]: a (saga, step) is decided once, so a redelivered or
//! duplicated trigger neither applies again nor publishes again); without it, each
//! trigger that arrives applies and publishes, and each failure event undoes.
//!
//! There is no coordinator to tell how a saga ended, so an observer judges it from the
//! participants' effects ([`check_choreography`]): *completed* when the last step has
//! applied, *compensated* when a step failed and every step before it has been undone —
//! the outcome invariants of an orchestrated saga ([`check_saga`](super::check_saga))
//! without the order of the compensations.

use std::fmt;

use super::store::{Action, ActionReply, CompensationReply, Effect, Idempotence, Ledger};

/// What an event of a choreography says.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SagaEvent {
    /// The saga began (an order was created): the first step's trigger.
    Started,
    /// Step `n` applied its action: step `n + 1`'s trigger.
    Done(usize),
    /// Step `n`'s business rule refused: the steps before it undo theirs.
    Failed(usize),
}

/// What a participant did with an event.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Reaction {
    /// It applied its action or refused it, and publishes this event with the
    /// state change.
    Publish(SagaEvent),
    /// It undid its step (a later step failed).
    Undone,
    /// A later step failed, but its step had not taken effect: nothing to undo.
    NoOp,
    /// The event was one it had decided before (keyed idempotence): nothing more.
    Duplicate,
    /// Its compensation came before its trigger: the action is refused for good.
    Fenced,
    /// Not an event it reacts to.
    Ignored,
}

/// One step's participant: its position, its action and its own ledger.
///
/// ```
/// use meshsim_patterns::saga::{Idempotence, Participant, Reaction, SagaEvent};
///
/// // Inventory reserves one unit of stock when an order is created.
/// let mut inventory = Participant::new(0, 2, -1, &[10], Idempotence::Keyed);
/// assert_eq!(
///     inventory.handle(7, 0, SagaEvent::Started, false),
///     Reaction::Publish(SagaEvent::Done(0)),
/// );
/// // Redelivered: decided already, so neither applied nor published again.
/// assert_eq!(inventory.handle(7, 0, SagaEvent::Started, false), Reaction::Duplicate);
/// // The payment failed: the reservation is released.
/// assert_eq!(inventory.handle(7, 0, SagaEvent::Failed(1), false), Reaction::Undone);
/// assert_eq!(inventory.ledger().balance(0), 10);
/// ```
#[derive(Clone, Debug)]
pub struct Participant {
    step: usize,
    steps: usize,
    delta: i64,
    idempotence: Idempotence,
    ledger: Ledger<u64>,
}

impl Participant {
    /// Step `step` of `steps`, adding `delta` to a saga's key's balance, with these
    /// opening balances.
    ///
    /// # Panics
    /// If `step` is not below `steps`, `balances` is empty, or `delta` is zero (a
    /// programming error: the simulator validates them first).
    pub fn new(
        step: usize,
        steps: usize,
        delta: i64,
        balances: &[i64],
        idempotence: Idempotence,
    ) -> Participant {
        assert!(step < steps, "a step of the saga");
        assert!(!balances.is_empty(), "at least one key");
        assert!(delta != 0, "an action changes a balance");
        Participant {
            step,
            steps,
            delta,
            idempotence,
            ledger: Ledger::new(balances, idempotence),
        }
    }

    /// Its step.
    pub fn step(&self) -> usize {
        self.step
    }

    /// Whether it is the saga's last step (its `Done` completes the saga).
    pub fn is_last(&self) -> bool {
        self.step + 1 == self.steps
    }

    /// Its ledger (balances and each saga's effects).
    pub fn ledger(&self) -> &Ledger<u64> {
        &self.ledger
    }

    /// Forgets `saga` (call it when no event of it can still arrive).
    pub fn forget(&mut self, saga: u64) {
        self.ledger.forget(saga);
    }

    /// Whether `event` is one this participant would answer with an event of its
    /// own (its trigger, not decided before): what its transaction needs room for.
    pub fn would_publish(&self, saga: u64, event: SagaEvent) -> bool {
        self.is_trigger(event)
            && !(self.idempotence == Idempotence::Keyed && self.ledger.decided(saga, self.step))
    }

    /// Whether `event` concerns this participant: its trigger, or a later step's
    /// failure (what it must undo). A lost one leaves its saga waiting on it.
    pub fn concerns(&self, event: SagaEvent) -> bool {
        self.is_trigger(event) || matches!(event, SagaEvent::Failed(n) if n > self.step)
    }

    fn is_trigger(&self, event: SagaEvent) -> bool {
        match event {
            SagaEvent::Started => self.step == 0,
            SagaEvent::Done(n) => n + 1 == self.step,
            SagaEvent::Failed(_) => false,
        }
    }

    /// Reacts to `event` of saga `saga` on balance `key`; `declined` is the business
    /// rule's verdict on this saga's action here (a declined card), decided once per
    /// saga and step by the caller.
    pub fn handle(&mut self, saga: u64, key: usize, event: SagaEvent, declined: bool) -> Reaction {
        let action = Action {
            saga,
            step: self.step,
            key,
            delta: self.delta,
        };
        if self.is_trigger(event) {
            let before =
                self.idempotence == Idempotence::Keyed && self.ledger.decided(saga, self.step);
            let reply = if declined {
                self.ledger.refuse_with(&action, self.idempotence)
            } else {
                self.ledger.apply_with(&action, self.idempotence)
            };
            return match reply {
                ActionReply::Applied => Reaction::Publish(SagaEvent::Done(self.step)),
                ActionReply::Rejected if !before => Reaction::Publish(SagaEvent::Failed(self.step)),
                ActionReply::Rejected | ActionReply::Duplicate => Reaction::Duplicate,
                ActionReply::Refused => Reaction::Fenced,
                ActionReply::Unavailable => unreachable!("a participant's ledger is always up"),
            };
        }
        match event {
            SagaEvent::Failed(n) if n > self.step => {
                match self.ledger.compensate_with(&action, self.idempotence) {
                    CompensationReply::Undone => Reaction::Undone,
                    CompensationReply::NoOp => Reaction::NoOp,
                    CompensationReply::Duplicate => Reaction::Duplicate,
                    CompensationReply::Unavailable => {
                        unreachable!("a participant's ledger is always up")
                    }
                }
            }
            _ => Reaction::Ignored,
        }
    }
}

/// How a choreography saga ended, as an observer judges it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ChoreographyEnding {
    /// The last step applied.
    Completed,
    /// Step `failed` refused, and every step before it was undone.
    Compensated {
        /// The step that failed.
        failed: usize,
    },
}

/// A broken invariant of a choreography saga.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ChoreographyViolation {
    /// The saga.
    pub saga: u64,
    /// The step.
    pub step: usize,
    /// What is wrong with it.
    pub broken: Broken,
}

/// What a [`ChoreographyViolation`] found.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Broken {
    /// A completed saga's step did not take effect exactly once.
    NotAppliedOnce {
        /// How many times it took effect.
        applied: u32,
    },
    /// A compensated saga's step took effect more than once.
    AppliedTwice,
    /// A compensated saga's step still stands (net 1), was undone more than it was
    /// done (net below 0), or took effect at or after the failed step.
    NotUndone {
        /// Applications less undos.
        net: i64,
    },
}

impl fmt::Display for ChoreographyViolation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (saga, step) = (self.saga, self.step);
        match self.broken {
            Broken::NotAppliedOnce { applied } => write!(
                f,
                "saga {saga} completed but step {step} took effect {applied} times"
            ),
            Broken::AppliedTwice => {
                write!(f, "saga {saga} compensated but step {step} applied twice")
            }
            Broken::NotUndone { net } => write!(
                f,
                "saga {saga} compensated but step {step} is left at net {net}"
            ),
        }
    }
}

/// Checks a choreography saga's outcome against its participants' effects (`effects[n]`
/// is step `n`'s): a completed saga applied every step exactly once in effect; a
/// compensated one undid every step before the failed one, having applied it at most
/// once, and nothing at or after the failed step took effect. The order of the
/// compensations is not checked: no one orders them.
pub fn check_choreography(
    saga: u64,
    ending: ChoreographyEnding,
    effects: &[Effect],
) -> Result<(), ChoreographyViolation> {
    let broken = |step, broken| Err(ChoreographyViolation { saga, step, broken });
    for (step, effect) in effects.iter().enumerate() {
        match ending {
            ChoreographyEnding::Completed => {
                if effect.applied != 1 || effect.net() != 1 {
                    let applied = effect.applied;
                    return broken(step, Broken::NotAppliedOnce { applied });
                }
            }
            ChoreographyEnding::Compensated { failed } => {
                if effect.applied > 1 {
                    return broken(step, Broken::AppliedTwice);
                }
                if effect.net() != 0 || (step >= failed && effect.applied > 0) {
                    let net = effect.net();
                    return broken(step, Broken::NotUndone { net });
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chain(idempotence: Idempotence) -> [Participant; 2] {
        [
            Participant::new(0, 2, -1, &[1, 5], idempotence),
            Participant::new(1, 2, -10, &[15], idempotence),
        ]
    }

    #[test]
    fn each_reacts_to_its_trigger_only() {
        let [mut stock, mut pay] = chain(Idempotence::Keyed);
        assert_eq!(
            stock.handle(1, 0, SagaEvent::Done(0), false),
            Reaction::Ignored
        );
        assert_eq!(
            pay.handle(1, 0, SagaEvent::Started, false),
            Reaction::Ignored
        );
        assert_eq!(
            stock.handle(1, 0, SagaEvent::Started, false),
            Reaction::Publish(SagaEvent::Done(0))
        );
        assert_eq!(
            pay.handle(1, 0, SagaEvent::Done(0), false),
            Reaction::Publish(SagaEvent::Done(1))
        );
        assert!(pay.is_last() && !stock.is_last());
        assert!(pay.concerns(SagaEvent::Done(0)) && !pay.concerns(SagaEvent::Started));
        assert!(stock.concerns(SagaEvent::Failed(1)) && !stock.concerns(SagaEvent::Failed(0)));
        assert!(!pay.would_publish(1, SagaEvent::Done(0)), "decided");
        assert!(pay.would_publish(2, SagaEvent::Done(0)));
        assert!(
            !pay.would_publish(2, SagaEvent::Failed(3)),
            "an undo writes no event"
        );
        // A failure of an earlier or the same step is not its to undo.
        assert_eq!(
            pay.handle(1, 0, SagaEvent::Failed(0), false),
            Reaction::Ignored
        );
        assert_eq!(
            stock.handle(1, 0, SagaEvent::Failed(0), false),
            Reaction::Ignored
        );
        assert_eq!((stock.ledger().balance(0), pay.ledger().balance(0)), (0, 5));
        let effects = [stock.ledger().effect(1, 0), pay.ledger().effect(1, 1)];
        assert_eq!(
            check_choreography(1, ChoreographyEnding::Completed, &effects),
            Ok(())
        );
    }

    #[test]
    fn a_refusal_publishes_the_failure_once_and_the_earlier_step_undoes() {
        let [mut stock, mut pay] = chain(Idempotence::Keyed);
        assert_eq!(
            stock.handle(2, 1, SagaEvent::Started, false),
            Reaction::Publish(SagaEvent::Done(0))
        );
        assert_eq!(
            pay.handle(2, 0, SagaEvent::Done(0), true),
            Reaction::Publish(SagaEvent::Failed(1))
        );
        // Redelivered: decided, so not published twice.
        assert_eq!(
            pay.handle(2, 0, SagaEvent::Done(0), true),
            Reaction::Duplicate
        );
        assert_eq!(
            stock.handle(2, 1, SagaEvent::Failed(1), false),
            Reaction::Undone
        );
        assert_eq!(
            stock.handle(2, 1, SagaEvent::Failed(1), false),
            Reaction::Duplicate
        );
        assert_eq!(stock.ledger().balance(1), 5);
        let effects = [stock.ledger().effect(2, 0), pay.ledger().effect(2, 1)];
        let ending = ChoreographyEnding::Compensated { failed: 1 };
        assert_eq!(check_choreography(2, ending, &effects), Ok(()));
    }

    #[test]
    fn a_balance_rule_refuses_like_a_decline() {
        let [mut stock, _] = chain(Idempotence::Keyed);
        assert_eq!(
            stock.handle(3, 0, SagaEvent::Started, false),
            Reaction::Publish(SagaEvent::Done(0))
        );
        // Key 0 had one unit: the next order finds none.
        assert_eq!(
            stock.handle(4, 0, SagaEvent::Started, false),
            Reaction::Publish(SagaEvent::Failed(0))
        );
        assert_eq!(
            stock.handle(4, 0, SagaEvent::Started, false),
            Reaction::Duplicate
        );
    }

    #[test]
    fn without_idempotence_a_redelivery_applies_again_and_the_check_says_so() {
        let [mut stock, mut pay] = chain(Idempotence::None);
        for _ in 0..2 {
            assert_eq!(
                stock.handle(5, 1, SagaEvent::Started, false),
                Reaction::Publish(SagaEvent::Done(0))
            );
        }
        assert_eq!(stock.ledger().balance(1), 3, "reserved twice");
        assert_eq!(
            pay.handle(5, 0, SagaEvent::Done(0), true),
            Reaction::Publish(SagaEvent::Failed(1))
        );
        assert_eq!(
            pay.handle(5, 0, SagaEvent::Done(0), true),
            Reaction::Publish(SagaEvent::Failed(1)),
            "each rejection is a new one"
        );
        assert_eq!(
            stock.handle(5, 1, SagaEvent::Failed(1), false),
            Reaction::Undone
        );
        let effects = [stock.ledger().effect(5, 0), pay.ledger().effect(5, 1)];
        assert_eq!(
            check_choreography(5, ChoreographyEnding::Compensated { failed: 1 }, &effects),
            Err(ChoreographyViolation {
                saga: 5,
                step: 0,
                broken: Broken::AppliedTwice
            })
        );
    }

    #[test]
    fn a_step_still_standing_is_not_compensated() {
        let effects = [
            Effect {
                applied: 1,
                undone: 0,
            },
            Effect::default(),
        ];
        let ending = ChoreographyEnding::Compensated { failed: 1 };
        assert_eq!(
            check_choreography(9, ending, &effects).map_err(|v| v.to_string()),
            Err("saga 9 compensated but step 0 is left at net 1".to_string())
        );
        assert!(check_choreography(9, ChoreographyEnding::Completed, &effects).is_err());
    }

    #[test]
    fn forgetting_a_saga_drops_its_decisions() {
        let [mut stock, _] = chain(Idempotence::Keyed);
        stock.handle(6, 1, SagaEvent::Started, false);
        stock.forget(6);
        assert_eq!(stock.ledger().effect(6, 0), Effect::default());
        // Forgotten: a message that late is not recognised, and applies again.
        assert_eq!(
            stock.handle(6, 1, SagaEvent::Started, false),
            Reaction::Publish(SagaEvent::Done(0))
        );
    }
}
