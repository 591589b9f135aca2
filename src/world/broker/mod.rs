//! Event-driven messaging (`World::messaging`; none without a broker, so a
//! plain world pays one branch where a job is sent or finished): the broker's
//! topics and their partition logs, the producers (`publish.rs`: the
//! transactional outbox and its relay, or publish-after-commit), and the
//! consumer groups (`consume.rs`: assignment, deliveries, commits,
//! rebalances, handler retries, the dead-letter topic, dedupe).
//!
//! What is whose. A broker service is a cluster: each of its instances
//! serves every partition of a replicated log (leadership and its
//! election are not modelled), so the log is the service's and survives
//! any crash; the broker is *up* while one of its instances is. A
//! producer's outbox table is the service's (durable), its relay a process
//! on its lowest running instance. A group's committed offsets are the
//! broker's; its dedupe table the consuming service's (durable).
//!
//! Every event is followed from its commit to its end (`Track`, by event
//! id, in a `BTreeMap`): where its copies are, which groups applied it,
//! dead-lettered it or lost it. An event is *lost* for a group when it was
//! committed by its producer and that group never applied it nor sent it to
//! the dead-letter topic: its publish never reached the broker (naive
//! publishing), or retention deleted its last copy before the group read it.
//! A track ends when its last copy leaves the log, or (never published) a
//! retention after its publish failed; what bounds the tracks is what bounds
//! the logs and the outboxes.

mod choreo;
mod consume;
mod publish;
mod reads;
mod report;

use std::collections::{BTreeMap, VecDeque};

use crate::kernel::{DrawKey, SimDuration, SimTime, TimerId};
use crate::metrics::LatencyHistogram;
use crate::patterns::messaging::{DedupeWindow, Outbox, OutboxConfig, Partitioner};
use crate::scenario::Compiled;
use crate::scenario::model::PublishMode;

use super::slab::{Key, Slab};

pub use choreo::{
    ChoreographyCounts, ChoreographyOutcome, ChoreographyStepCounts, ChoreographyStepOutcome,
};
pub use reads::ReadCounts;
pub use report::{EventsOutcome, GroupCounts, GroupOutcome, PublisherOutcome, TopicOutcome};

/// A message in a partition's log.
#[derive(Clone, Copy, Debug)]
struct Message {
    event: u64,
    appended: SimTime,
}

/// One partition of a topic: its log, from offset `base`.
#[derive(Debug, Default)]
struct Partition {
    base: u64,
    log: VecDeque<Message>,
}

impl Partition {
    fn end(&self) -> u64 {
        self.base + self.log.len() as u64
    }
}

struct Topic {
    name: String,
    broker: u32,
    partitioner: Partitioner,
    partitions: Vec<Partition>,
    retention: SimDuration,
    retention_messages: usize,
    groups: Vec<u32>,
    /// Messages appended (copies included), and deleted by retention.
    appended: u64,
    deleted: u64,
}

struct Publisher {
    service: u32,
    topic: u32,
    mode: PublishMode,
    /// The publish call's edge.
    edge: u32,
    /// A naive publish's wait in the process's buffer.
    linger: SimDuration,
    outbox: Option<Outbox>,
    /// The instance the relay runs on (none: no instance is running).
    relay_host: Option<u32>,
    /// The relay's next poll, as scheduled.
    relay_timer: Option<(TimerId, SimTime)>,
    counts: PublisherCounts,
}

/// What a producer counted.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PublisherCounts {
    /// Events committed with their state change.
    pub committed: u64,
    /// Requests refused because the outbox table was full (no event).
    pub refused_full: u64,
    /// Publish calls made (first sends and resends).
    pub sends: u64,
    /// Publish calls that failed (timed out, refused, lost).
    pub send_failures: u64,
    /// Events whose publish never reached the broker: lost.
    pub unpublished: u64,
    /// The most events its outbox held at once.
    pub in_outbox_max: u64,
}

/// A publish call in flight.
struct Publish {
    event: u64,
    publisher: u16,
    instance: u32,
    /// Its call's key (a naive publish lingers before it is made).
    draw: DrawKey,
    /// Its call has started (it is no longer in the process's buffer).
    sent: bool,
}

/// Where a group's reading of one partition is.
#[derive(Clone, Copy, Debug, Default)]
struct Cursor {
    committed: u64,
    /// The delivery out now, if any.
    in_flight: Option<Key>,
    /// Offsets below this were delivered at least once.
    delivered: u64,
    /// Deliveries made (keys the handlers' draws).
    batches: u64,
}

/// A member of a group: an instance of the consuming service.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Member {
    instance: u32,
    /// Its process is running; a crashed member keeps its partitions,
    /// unread, until its session times out.
    alive: bool,
}

struct Group {
    name: String,
    topic: u32,
    /// Its bit in an event's per-group state.
    bit: u32,
    service: u32,
    idempotent: bool,
    max_attempts: u32,
    retry_backoff: SimDuration,
    max_poll_records: u64,
    session_timeout: SimDuration,
    rebalance_pause: SimDuration,
    commit_timeout: SimDuration,
    members: Vec<Member>,
    generation: u32,
    /// Rebalancing until then: nothing is delivered.
    paused: bool,
    /// Per partition, the instance that reads it.
    owners: Vec<Option<u32>>,
    cursors: Vec<Cursor>,
    dedupe: Option<DedupeWindow>,
    counts: GroupCounts,
    /// Its counts when the last window closed (`report.rs`).
    window_mark: GroupCounts,
    /// Per partition and producer of its topic (`partition × producers +
    /// the producer's place`), the latest event first applied: the order
    /// check (a producer's event ids grow in its commit order).
    last_applied: Vec<u64>,
    staleness: LatencyHistogram,
    /// The staleness of the current window (2 digits), reset at its close.
    window_staleness: LatencyHistogram,
    lag_max: u64,
}

/// A batch delivered to a member, being handled message by message.
struct Delivery {
    group: u32,
    partition: u32,
    generation: u32,
    instance: u32,
    /// Its offsets, `from..from + events.len()`, and their events.
    from: u64,
    events: Vec<u64>,
    /// The message being handled, and its handler attempt (from 0).
    next: usize,
    attempt: u32,
    /// The batch reached its member.
    arrived: bool,
    /// The broker no longer waits for it (timed out, or a rebalance): it
    /// stops after the message in hand, and its commit is refused.
    stale: bool,
    /// Its handling is over and its commit is on its way.
    handled: bool,
    /// The message in hand was found in the dedupe table: skipped.
    skip: bool,
    batch: u64,
    /// The broker instance it left from (its commit goes back there).
    broker_instance: u32,
    timer: Option<TimerId>,
}

/// An event from its commit to its end (see the module documentation).
#[derive(Clone, Copy, Debug)]
struct Track {
    committed: SimTime,
    draw: DrawKey,
    publisher: u16,
    topic: u32,
    partition: u32,
    /// Copies in the log now, and appended ever.
    copies: u16,
    appends: u16,
    /// Its producer still holds it: in the outbox, or a naive publish in
    /// flight.
    held: bool,
    /// Deliveries that hold it (a consumer has its batch in memory, so it
    /// may still be applied after its last copy is deleted).
    in_deliveries: u16,
    /// Per group bit: applied, dead-lettered, lost.
    applied: u32,
    dead: u32,
    /// Of a choreography: its saga, and what it says.
    said: choreo::Said,
    saga: u64,
}

/// Every topic, producer and consumer group of the world.
pub(super) struct Messaging {
    topics: Vec<Topic>,
    publishers: Vec<Publisher>,
    groups: Vec<Group>,
    /// Per service: its publisher, its groups.
    publisher_of: Vec<Option<u16>>,
    /// Per publisher, its place among its topic's producers; per topic,
    /// how many producers it has.
    publisher_place: Vec<u32>,
    groups_of: Vec<Vec<u32>>,
    /// Per service: the topics it is the broker of (empty: not a broker).
    topics_of: Vec<Vec<u32>>,
    tracks: BTreeMap<u64, Track>,
    publishes: Slab<Publish>,
    deliveries: Slab<Delivery>,
    /// Per job slot, the event of a publish job sent to a broker.
    tags: Vec<u64>,
    next_event: u64,
    /// Per workload route, its read back (empty: none reads back).
    then_read: Vec<Option<crate::scenario::compile::CompiledThenRead>>,
    /// Write requests in flight whose route reads back: their event.
    written: BTreeMap<Key, u64>,
    /// Reads back waiting for their `after`.
    follow_ups: Slab<reads::FollowUp>,
    /// Reads back in flight: what each checks.
    reading: BTreeMap<Key, reads::Reading>,
    /// Per workload route, what its reads back found.
    reads: Vec<ReadCounts>,
    /// Commits that reached a broker while it was down, retried by their
    /// consumers when it returns (as a Kafka consumer retries a commit).
    awaiting_broker: Vec<Key>,
    /// Events whose publish failed before any copy reached the broker, with
    /// when they are judged lost (a late attempt may still land before).
    unpublished: VecDeque<(SimTime, u64)>,
    /// The sagas by choreography (none without one).
    choreographies: Option<Box<choreo::Choreographies>>,
}

/// An event id that no job carries.
const NO_EVENT: u64 = u64::MAX;

impl Messaging {
    /// The world's messaging, or none without a broker. `publish_edges` is
    /// each service's publish call's edge.
    pub(super) fn new(
        compiled: &Compiled,
        publish_edges: &[Option<u32>],
        streams: &crate::kernel::RngStreams,
        now: SimTime,
    ) -> Option<Messaging> {
        let events = compiled.events();
        if !events.any() {
            return None;
        }
        let services = compiled.scenario().services.len();
        let mut topics_of = vec![Vec::new(); services];
        let topics = events
            .topics
            .iter()
            .enumerate()
            .map(|(i, t)| {
                topics_of[t.broker as usize].push(i as u32);
                Topic {
                    name: t.name.clone(),
                    broker: t.broker,
                    partitioner: Partitioner::new(t.partitions).expect("validated"),
                    partitions: (0..t.partitions).map(|_| Partition::default()).collect(),
                    retention: t.retention,
                    retention_messages: t.retention_messages as usize,
                    groups: t.groups.clone(),
                    appended: 0,
                    deleted: 0,
                }
            })
            .collect();
        let mut publisher_of = vec![None; services];
        let publishers = events
            .publishers
            .iter()
            .enumerate()
            .map(|(i, p)| {
                publisher_of[p.service as usize] = Some(i as u16);
                let outbox = (p.mode == PublishMode::Outbox).then(|| {
                    Outbox::new(
                        OutboxConfig {
                            capacity: p.outbox_capacity,
                            poll_interval: p.poll_interval.into(),
                            max_in_flight: p.max_in_flight,
                        },
                        now.as_nanos(),
                    )
                    .expect("validated")
                });
                Publisher {
                    service: p.service,
                    topic: p.topic,
                    mode: p.mode,
                    edge: publish_edges[p.service as usize].expect("a publisher's edge"),
                    linger: p.linger,
                    outbox,
                    relay_host: None,
                    relay_timer: None,
                    counts: PublisherCounts::default(),
                }
            })
            .collect();
        let mut producers = vec![0u32; events.topics.len()];
        let publisher_place: Vec<u32> = events
            .publishers
            .iter()
            .map(|p| {
                let place = producers[p.topic as usize];
                producers[p.topic as usize] += 1;
                place
            })
            .collect();
        let mut groups_of = vec![Vec::new(); services];
        let groups = events
            .groups
            .iter()
            .enumerate()
            .map(|(i, g)| {
                groups_of[g.service as usize].push(i as u32);
                let topic = &events.topics[g.topic as usize];
                let bit = topic
                    .groups
                    .iter()
                    .position(|&x| x == i as u32)
                    .expect("a topic lists its groups") as u32;
                Group {
                    name: g.name.clone(),
                    topic: g.topic,
                    bit,
                    service: g.service,
                    idempotent: g.idempotent,
                    max_attempts: g.max_attempts,
                    retry_backoff: g.retry_backoff,
                    max_poll_records: u64::from(g.max_poll_records),
                    session_timeout: g.session_timeout,
                    rebalance_pause: g.rebalance_pause,
                    commit_timeout: g.commit_timeout,
                    members: Vec::new(),
                    generation: 0,
                    paused: false,
                    owners: vec![None; topic.partitions as usize],
                    cursors: vec![Cursor::default(); topic.partitions as usize],
                    dedupe: g
                        .idempotent
                        .then(|| DedupeWindow::new(g.dedupe_window).expect("validated")),
                    counts: GroupCounts::default(),
                    window_mark: GroupCounts::default(),
                    last_applied: vec![
                        NO_EVENT;
                        topic.partitions as usize
                            * producers[g.topic as usize] as usize
                    ],
                    staleness: LatencyHistogram::new(3),
                    window_staleness: LatencyHistogram::new(2),
                    lag_max: 0,
                }
            })
            .collect();
        Some(Messaging {
            topics,
            publishers,
            groups,
            publisher_of,
            publisher_place,
            groups_of,
            topics_of,
            tracks: BTreeMap::new(),
            publishes: Slab::default(),
            deliveries: Slab::default(),
            tags: Vec::new(),
            next_event: 0,
            unpublished: VecDeque::new(),
            awaiting_broker: Vec::new(),
            then_read: events.then_read.clone(),
            written: BTreeMap::new(),
            follow_ups: Slab::default(),
            reading: BTreeMap::new(),
            reads: vec![ReadCounts::default(); compiled.scenario().workload.routes.len()],
            choreographies: choreo::Choreographies::new(events, services, streams),
        })
    }

    /// The broker behaviour's index for service `service`, if it is one.
    pub(super) fn is_broker(&self, service: u32) -> bool {
        !self.topics_of[service as usize].is_empty()
    }

    /// The publisher of `service`, if it publishes.
    pub(super) fn publisher_of(&self, service: u32) -> Option<u16> {
        self.publisher_of[service as usize]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::size::EVENT_BYTES;

    /// The size estimate's bound on an event held covers its log entry and
    /// its track with its key (a `BTreeMap` entry also pays its node's
    /// share: at least a third more is left for it).
    #[test]
    fn the_size_estimate_covers_an_event_held() {
        let held = std::mem::size_of::<Message>()
            + std::mem::size_of::<u64>()
            + std::mem::size_of::<Track>();
        assert!(held as u64 * 4 / 3 <= EVENT_BYTES, "{held} bytes");
    }
}
