//! Event-driven messaging in the Kafka style, as sans-IO pieces a producer, a broker
//! and a consumer could run unchanged: where a keyed message goes
//! ([`Partitioner`], Kafka's murmur2 partitioner, checked against Kafka's own test
//! values), which consumer of a group reads which partitions ([`range_assignment`],
//! Kafka's range assignor), the transactional outbox and its relay ([`Outbox`]:
//! an event written with its state change, published in order until the broker
//! acknowledges it, again after a relay restart), and an idempotent consumer's
//! bounded memory of what it applied ([`DedupeWindow`], Richardson's idempotent
//! consumer).
//!
//! Semantics mirrored:
//!
//! - **Apache Kafka**: a topic is split into partitions; a keyed message goes to
//!   `toPositive(murmur2(key)) % partitions`, so ordering holds per partition and
//!   hence per key; within a consumer group one consumer reads a partition at a
//!   time; delivery is at least once (a consumer that crashes before committing its
//!   offset gets the messages after the last commit again).
//! - **Richardson, *Microservices Patterns* (2018), ch. 3**: the transactional
//!   outbox with a polling publisher (no event lost by a crash between the commit
//!   and the publish, at the price of duplicates), and the idempotent consumer that
//!   records the ids of the messages it processed and skips a message it has seen.
//!
//! What is bounded: a topic's partitions ([`MAX_PARTITIONS`]), an outbox table's
//! events ([`MAX_OUTBOX_CAPACITY`]) and a dedupe window's ids
//! ([`MAX_DEDUPE_CAPACITY`]), each sized at construction.

mod dedupe;
mod group;
mod outbox;
mod partition;

pub use dedupe::{DedupeWindow, MAX_DEDUPE_CAPACITY, Seen};
pub use group::{owner, range_assignment};
pub use outbox::{MAX_OUTBOX_CAPACITY, Outbox, OutboxConfig, OutboxFull};
pub use partition::{MAX_PARTITIONS, Partitioner, murmur2};
