//! Event-driven messaging, as serde types: a service's `broker` (topics and
//! their partitions and retention), `publish` (one event per request it
//! handles, through a transactional outbox or published after the commit)
//! and `consume` (the consumer groups it is a member of). Meaning in
//! `docs/scenarios.md`, checks in `validate/events.rs`, the compiled form
//! in `compile/events.rs`, run by `world/broker/`.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::kernel::SimDuration;

fn default_retention() -> SimDuration {
    SimDuration::from_secs(600)
}
fn default_retention_messages() -> u32 {
    100_000
}
fn default_outbox_capacity() -> u32 {
    100_000
}
fn default_poll_interval() -> SimDuration {
    SimDuration::from_millis(100)
}
fn default_relay_in_flight() -> u32 {
    1
}
fn default_dedupe_window() -> u32 {
    100_000
}
fn default_max_attempts() -> u32 {
    10
}
fn default_max_poll_records() -> u32 {
    500
}
fn default_session_timeout() -> SimDuration {
    SimDuration::from_secs(45)
}
fn default_rebalance_pause() -> SimDuration {
    SimDuration::from_secs(3)
}
fn default_commit_timeout() -> SimDuration {
    SimDuration::from_secs(30)
}

/// Makes the service a message broker (a Kafka cluster: its instances are
/// the brokers, each serving every partition of a replicated log, so one
/// broker's crash costs capacity and an outage of all of them stops
/// publishing and delivery). Publishing an event is a call to it; its
/// `service_time` is the append's.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct BrokerSpec {
    /// Its topics, by name (unique across brokers).
    #[schemars(length(min = 1))]
    pub topics: BTreeMap<String, TopicSpec>,
}

/// A topic: an ordered log per partition, a message placed by its key
/// (Kafka's murmur2 partitioner), kept for `retention` or until
/// `retention_messages` newer ones push it out, whether or not every group
/// has read it (what a lagging group loses).
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct TopicSpec {
    /// Its partitions: the unit of order and of a group's parallelism.
    #[schemars(range(min = 1, max = crate::scenario::validate::MAX_TOPIC_PARTITIONS))]
    pub partitions: u32,
    /// How long a message is kept after its append (Kafka's
    /// `retention.ms`, 7 days by default there; 10 minutes here, as a run
    /// is short).
    #[serde(default = "default_retention")]
    pub retention: SimDuration,
    /// The messages a partition keeps at most (Kafka bounds a partition by
    /// bytes, `retention.bytes`): the older ones are deleted first. What
    /// bounds the broker's memory.
    #[schemars(range(min = 1, max = crate::scenario::validate::MAX_RETENTION_MESSAGES))]
    #[serde(default = "default_retention_messages")]
    pub retention_messages: u32,
}

/// How a service publishes the event of each request it handles.
#[derive(Clone, Copy, Debug, Default, Serialize, Deserialize, JsonSchema, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum PublishMode {
    /// The transactional outbox (Richardson): the event is written in the
    /// state change's transaction and a relay publishes it later, again
    /// until the broker acknowledges it. A crash cannot lose it.
    #[default]
    Outbox,
    /// Publish after the commit, from the process (a Kafka producer's
    /// asynchronous `send`): a crash before the broker has it, or a publish
    /// that fails, loses the event although its state change committed.
    Naive,
}

/// The producer side: each request the service handles successfully
/// commits a state change and its event for `topic`, keyed by the
/// request's key (else by the event's id).
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct PublishSpec {
    /// The topic (one of a broker's).
    pub topic: String,
    /// Outbox or naive publishing.
    #[serde(default)]
    pub mode: PublishMode,
    /// The policy of the publish calls to the broker (its timeout above
    /// all: a publish must be given up some time).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy: Option<String>,
    /// The per-attempt timeout of the publish calls (else the policy's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<SimDuration>,
    /// The outbox table and its relay (for `mode: outbox`).
    #[serde(default)]
    pub outbox: OutboxSpec,
    /// For `mode: naive`: how long an event waits in the process's buffer
    /// before its publish is sent (a Kafka producer's `linger.ms`, 5 ms by
    /// default since Kafka 4.0). A crash meanwhile loses it.
    #[serde(default = "default_linger")]
    pub linger: SimDuration,
}

fn default_linger() -> SimDuration {
    SimDuration::from_millis(5)
}

/// The outbox table and its polling relay.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct OutboxSpec {
    /// Events the table holds at most, unpublished or unacknowledged; a
    /// request whose event finds it full fails (503): its transaction is
    /// refused, so nothing is lost.
    #[schemars(range(min = 1, max = 16_777_216))]
    #[serde(default = "default_outbox_capacity")]
    pub capacity: u32,
    /// How often the relay polls the table.
    #[serde(default = "default_poll_interval")]
    pub poll_interval: SimDuration,
    /// Events the relay has sent and not yet seen acknowledged, at most (1
    /// keeps the order of the table strict).
    #[schemars(range(min = 1, max = 65_536))]
    #[serde(default = "default_relay_in_flight")]
    pub max_in_flight: u32,
}

impl Default for OutboxSpec {
    fn default() -> OutboxSpec {
        OutboxSpec {
            capacity: default_outbox_capacity(),
            poll_interval: default_poll_interval(),
            max_in_flight: default_relay_in_flight(),
        }
    }
}

/// A write route's read back (see `Route::then_read`).
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ThenReadSpec {
    /// The route of the read, by name: its service consumes the write's
    /// topic.
    pub route: String,
    /// How long after the write's answer the read is sent.
    #[serde(default)]
    pub after: SimDuration,
    /// The read service's group whose read model is read (needed only when
    /// the service reads the topic in more than one group).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
}

/// A consumer group the service's instances are the members of: each
/// partition of the topic is read by one member at a time (Kafka's range
/// assignor), a batch of up to `max_poll_records` messages after the last
/// committed offset, handled one by one by the service (its service time,
/// its calls, its errors), then committed. At least once: a batch that is
/// not committed (a crash, a lost message, a rebalance) is delivered again.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ConsumeSpec {
    /// The topic (one of a broker's).
    pub topic: String,
    /// The group's name (one service per group and topic).
    #[schemars(length(min = 1))]
    pub group: String,
    /// The handler is an idempotent consumer (Richardson): it records the
    /// ids of the events it applied, in the same transaction, and skips an
    /// event it finds there. Otherwise a redelivered event is applied again
    /// (a duplicate effect).
    #[serde(default)]
    pub idempotent: bool,
    /// The ids an idempotent consumer remembers (the last N distinct): a
    /// redelivery after its id has left is applied again.
    #[schemars(range(min = 1, max = 16_777_216))]
    #[serde(default = "default_dedupe_window")]
    pub dedupe_window: u32,
    /// Handler attempts of one message before it goes to the dead-letter
    /// topic (Spring Kafka's `DefaultErrorHandler`: 10).
    #[schemars(range(min = 1, max = 1000))]
    #[serde(default = "default_max_attempts")]
    pub max_attempts: u32,
    /// The wait before a handler's retry (Spring Kafka's default: none).
    #[serde(default)]
    pub retry_backoff: SimDuration,
    /// Messages a delivery carries at most (Kafka's `max.poll.records`).
    #[schemars(range(min = 1, max = 100_000))]
    #[serde(default = "default_max_poll_records")]
    pub max_poll_records: u32,
    /// How long the group waits for a crashed member before it rebalances
    /// its partitions to the others (Kafka's `session.timeout.ms`).
    #[serde(default = "default_session_timeout")]
    pub session_timeout: SimDuration,
    /// How long a rebalance stops the whole group (an eager rebalance).
    #[serde(default = "default_rebalance_pause")]
    pub rebalance_pause: SimDuration,
    /// How long the broker waits for a delivery's commit before it delivers
    /// the batch again (Kafka's `request.timeout.ms`): it bounds a batch's
    /// trip, handling and commit.
    #[serde(default = "default_commit_timeout")]
    pub commit_timeout: SimDuration,
}

fn default_choreography_sagas() -> u32 {
    100_000
}
fn default_choreography_retention() -> SimDuration {
    SimDuration::from_secs(600)
}
fn default_keys() -> u32 {
    1
}

/// A saga by choreography (Richardson's choreography-based saga): no
/// orchestrator. Each request `start` handles begins a saga with a `Started`
/// event on `topic` (its `publish`), keyed by the saga so that its events
/// keep their order; each step's service consumes the topic, applies its
/// action when the previous step's `Done` arrives and publishes its own
/// `Done`, or `Failed` when its business rule refuses; on a later step's
/// `Failed`, each undoes its own step. The consumers' `idempotent` is the
/// participants' (keyed by saga and step).
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ChoreographySpec {
    /// The topic of the saga's events (one of a broker's; one choreography
    /// per topic).
    pub topic: String,
    /// The service whose requests begin a saga (it publishes to `topic`).
    pub start: String,
    /// The steps in order, each on its own service.
    #[schemars(length(min = 1, max = 16))]
    pub steps: Vec<ChoreographyStepSpec>,
    /// The sagas followed at once, running or ended within `retention`; a
    /// request that would begin one more is refused (503) and counted.
    #[schemars(range(min = 1, max = 1_048_576))]
    #[serde(default = "default_choreography_sagas")]
    pub sagas_max: u32,
    /// How long the participants remember an ended saga (their keyed
    /// decisions): an event of it that arrives later is not recognised.
    #[serde(default = "default_choreography_retention")]
    pub retention: SimDuration,
}

/// One step of a choreography: its service's action on its own ledger (a
/// balance per key, as a stateful service's `state`).
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ChoreographyStepSpec {
    /// The step's name in reports.
    #[schemars(length(min = 1))]
    pub name: String,
    /// Its service: it consumes the topic in one group and publishes to it.
    pub service: String,
    /// What the action adds to the saga's key's balance (a debit when
    /// negative: one below zero is refused, a `Failed`); its compensation
    /// adds the opposite. Not zero.
    pub delta: i64,
    /// The keys of its ledger; a saga's key (its request's `keys` draw, else
    /// its id) picks one, modulo this.
    #[schemars(range(min = 1, max = crate::scenario::validate::MAX_STATE_KEYS))]
    #[serde(default = "default_keys")]
    pub keys: u32,
    /// Each key's opening balance.
    #[schemars(range(min = 0))]
    pub initial: i64,
    /// The probability that its business rule refuses the action (a
    /// declined payment), decided once per saga.
    #[schemars(range(min = 0.0, max = 1.0))]
    #[serde(default)]
    pub decline: f64,
}
