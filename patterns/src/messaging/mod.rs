//! Event-driven messaging in the Kafka style, as sans-IO pieces a producer, a broker
//! and a consumer could run unchanged: where a keyed message goes
//! ([`Partitioner`], Kafka's murmur2 partitioner, checked against Kafka's own test
//! values), which consumer of a group reads which partitions ([`range_assignment`],
//! Kafka's range assignor), and an idempotent consumer's bounded memory of what it
//! applied ([`DedupeWindow`], Richardson's idempotent consumer).
//!
//! Semantics mirrored:
//!
//! - **Apache Kafka**: a topic is split into partitions; a keyed message goes to
//!   `toPositive(murmur2(key)) % partitions`, so ordering holds per partition and
//!   hence per key; within a consumer group one consumer reads a partition at a
//!   time; delivery is at least once (a consumer that crashes before committing its
//!   offset gets the messages after the last commit again).
//! - **Richardson, *Microservices Patterns* (2018), ch. 3**: the idempotent consumer
//!   records the ids of the messages it processed and skips a message it has seen.
//!
//! What is bounded: a topic's partitions ([`MAX_PARTITIONS`]) and a dedupe window's
//! ids ([`MAX_DEDUPE_CAPACITY`]), each sized at construction.

mod dedupe;
mod group;
mod partition;

pub use dedupe::{DedupeWindow, MAX_DEDUPE_CAPACITY, Seen};
pub use group::{owner, range_assignment};
pub use partition::{MAX_PARTITIONS, Partitioner, murmur2};
