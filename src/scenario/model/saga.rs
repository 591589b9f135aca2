//! A service's `state` (a participant's own ledger: database per service)
//! and `saga` (an orchestrator's steps), as serde types. Meaning in
//! `docs/scenarios.md`, checks in `validate/saga.rs`, the patterns' objects
//! in `compile/saga.rs`, run by `world/saga/`.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::BackoffSpec;
use crate::kernel::SimDuration;

fn one() -> u32 {
    1
}
fn yes() -> bool {
    true
}
fn three() -> u32 {
    3
}
fn ten() -> u32 {
    10
}
fn default_sagas_in_flight() -> u32 {
    10_000
}

/// A participant's own state: a balance per key (stock per item, money per
/// account), changed only by the actions and compensations of sagas. It
/// belongs to the service, not an instance: a crash loses the requests in
/// hand, never the balances.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct StateSpec {
    /// The keys it keeps a balance for (items, accounts); a saga's key
    /// (its request's `keys` draw, else a draw of its own) picks one, modulo
    /// this.
    #[schemars(range(min = 1, max = crate::scenario::validate::MAX_STATE_KEYS))]
    #[serde(default = "one")]
    pub keys: u32,
    /// Each key's opening balance. An action that would take a balance
    /// below zero is refused by the business rule (insufficient stock).
    #[schemars(range(min = 0))]
    pub initial: i64,
    /// How long it remembers what it did for a saga's step after the saga
    /// ended (its idempotency keys' retention, as Stripe keeps keys for a
    /// day): a message of the saga that arrives later is not recognised.
    /// What bounds the ledger's memory: the sagas ended within it.
    #[serde(default = "default_retention")]
    pub retention: SimDuration,
}

fn default_retention() -> SimDuration {
    SimDuration::from_secs(600)
}

/// Makes the service a saga orchestrator: each request it serves starts a
/// saga (answered at once, as a workflow start is: the saga then runs on
/// the instance that started it, from its durable log).
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct SagaSpec {
    /// The steps in order: compensatable steps, then at most one pivot,
    /// then retriable steps.
    #[schemars(length(min = 1, max = 16))]
    pub steps: Vec<SagaStepSpec>,
    /// Attempts of a compensatable step or of the pivot before the saga
    /// gives up on it and compensates.
    #[schemars(range(min = 1, max = 100))]
    #[serde(default = "three")]
    pub action_attempts_max: u32,
    /// Attempts of a retriable step before the saga is dead-lettered.
    #[schemars(range(min = 1, max = 100))]
    #[serde(default = "ten")]
    pub retriable_attempts_max: u32,
    /// Attempts of a compensation before the saga is dead-lettered.
    #[schemars(range(min = 1, max = 100))]
    #[serde(default = "ten")]
    pub compensation_attempts_max: u32,
    /// The delay before each of the saga's own retries (no jitter). The
    /// default is Temporal's activity retry: 1 s, ×2, capped at 100 s.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backoff: Option<BackoffSpec>,
    /// Compensations all at once (Temporal's `parallel_compensation`)
    /// rather than one at a time in reverse order of their steps.
    #[serde(default)]
    pub parallel_compensation: bool,
    /// The sagas an instance's log holds at once; a request that finds it
    /// full is refused (503) and counted.
    #[schemars(range(min = 1, max = 1_048_576))]
    #[serde(default = "default_sagas_in_flight")]
    pub sagas_in_flight_max: u32,
}

/// The kind of a saga step (Richardson, *Microservices Patterns*, ch. 4).
#[derive(Clone, Copy, Debug, Default, Serialize, Deserialize, JsonSchema, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum SagaStepKind {
    /// Undone by its compensation if a later step fails.
    #[default]
    Compensatable,
    /// The go/no-go step: once applied, the saga runs to completion.
    Pivot,
    /// After the pivot: retried until it succeeds.
    Retriable,
}

/// One step of a saga: an action on a stateful service and its
/// compensation (the opposite change), each a call on the edge from the
/// orchestrator to that service, through the step's policy.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct SagaStepSpec {
    /// The step's name in reports.
    #[schemars(length(min = 1))]
    pub name: String,
    /// The stateful service it changes (one with `state`).
    pub service: String,
    /// Its kind.
    #[serde(default)]
    pub kind: SagaStepKind,
    /// What the action adds to the saga's key's balance (a debit when
    /// negative); the compensation adds the opposite. Not zero.
    pub delta: i64,
    /// The policy of its calls (timeouts, retries, breaker...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy: Option<String>,
    /// The per-attempt timeout of its calls (else the policy's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<SimDuration>,
    /// The participant deduplicates the action by (saga, step): a retry has
    /// no extra effect, and an action that arrives after its compensation
    /// is refused.
    #[serde(default = "yes")]
    pub idempotent: bool,
    /// The participant deduplicates the compensation by (saga, step): a
    /// retry does nothing more, and compensating an action that never took
    /// effect is a no-op.
    #[serde(default = "yes")]
    pub compensation_idempotent: bool,
    /// The probability that the participant's business rule refuses the
    /// action (a declined payment), decided once per saga and step.
    #[schemars(range(min = 0.0, max = 1.0))]
    #[serde(default)]
    pub decline: f64,
}
