//! Sagas: a transaction across services as steps T1..Tn, each undone on failure by
//! its compensation, in reverse order, as sans-IO state machines a real orchestrator
//! could run unchanged.
//!
//! Semantics mirrored:
//!
//! - **Garcia-Molina and Salem, "Sagas" (SIGMOD 1987)**: either T1..Tn all complete,
//!   or T1..Tj are followed by Cj..C1; compensations undo semantically and must
//!   eventually succeed, so they are idempotent and retried.
//! - **Richardson, *Microservices Patterns* (2018), ch. 4**: compensatable steps, an
//!   optional pivot (the go/no-go step), then retriable steps retried until they
//!   succeed ([`StepKind`]); idempotent participants keyed by message (here by saga id
//!   and step, [`Ledger`]).
//! - **Temporal's saga guidance**: register a compensation *before* running its
//!   activity, because an activity that timed out may have run (an unknown outcome is
//!   compensated); compensations in reverse order, or all at once with
//!   `parallel_compensation`; activities are delivered at least once (a worker can do
//!   the work and crash before reporting), so every participant tolerates retries.
//!
//! A saga without an orchestrator, by choreography over events, is a chain of
//! [participants](Participant) (`choreography.rs`), each reacting to the saga's events
//! with its own [ledger](Ledger); [`check_choreography`] judges its outcome.
//!
//! The pieces: [`plan`](SagaPlan) (`plan.rs`, the steps and bounds), the
//! [orchestrator](Saga) (`orchestrator.rs`, one saga's decisions), its durable
//! [log](SagaLog) with [crash recovery](recover) (`log.rs`), a participant's
//! [ledger](Ledger) (`store.rs`), and the [invariants](check_saga) (`invariants.rs`)
//! over what orchestrators and ledgers report. `tests.rs` plays them against each
//! other with random faults and crashes.
//!
//! What is simplified, on purpose: one orchestrator owns a saga (no takeover by
//! another instance); retries use a deterministic backoff without jitter; a saga's
//! steps run one at a time (only compensations may run in parallel); and a pivot
//! whose outcome stays unknown is dead-lettered rather than guessed.
//!
//! Bounds: at most [`MAX_STEPS`] steps per saga and [`MAX_ATTEMPTS`] attempts per
//! call, so a saga's log holds at most [`SagaPlan::records_max`] records; a log holds
//! at most its `sagas_in_flight_max` sagas ([`MAX_SAGAS_IN_FLIGHT`]), each compacted
//! when it ends.

mod choreography;
mod invariants;
mod log;
mod orchestrator;
mod plan;
mod store;
#[cfg(test)]
mod tests;

pub use choreography::{
    Broken, ChoreographyEnding, ChoreographyViolation, Participant, Reaction, SagaEvent,
    check_choreography,
};
pub use invariants::{EffectKind, Violation, check_conservation, check_saga};
pub use log::{Entry, MAX_SAGAS_IN_FLIGHT, Record, SagaId, SagaLog, recover};
pub use orchestrator::{
    Command, CompensationResult, DeadLetter, Ending, Saga, StepResult, StepSet,
};
pub use plan::{MAX_ATTEMPTS, MAX_STEPS, SagaConfig, SagaPlan, StepKind};
pub use store::{Action, ActionReply, CompensationReply, Effect, Idempotence, Ledger};
