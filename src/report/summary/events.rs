//! The `events` block of summary.json: each topic, producer and consumer
//! group of the run's brokers.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::metrics::LatencySummary;
use crate::world::EventsOutcome;

/// What the brokers, producers and consumer groups did.
#[derive(Clone, Debug, Serialize)]
pub struct EventsSummary {
    /// Events lost, over every group: committed by their producer and
    /// neither applied by the group nor sent to its dead-letter topic.
    pub lost: u64,
    /// Events applied more than once, over every group.
    pub duplicate_effects: u64,
    /// Per topic.
    pub topics: BTreeMap<String, TopicSummary>,
    /// Per producer service.
    pub publishers: BTreeMap<String, PublisherSummary>,
    /// Per consumer group, as `topic/group`.
    pub groups: BTreeMap<String, GroupSummary>,
    /// Per write route with `then_read`: what its reads back found.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub read_your_writes: BTreeMap<String, ReadsSummary>,
    /// Per choreography: how its sagas ended.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub choreographies: BTreeMap<String, ChoreographySummary>,
}

/// A saga by choreography.
#[derive(Clone, Debug, Serialize)]
pub struct ChoreographySummary {
    /// Its topic.
    pub topic: String,
    /// The service whose requests begin its sagas.
    pub start: String,
    /// Sagas begun.
    pub started: u64,
    /// Requests refused: `sagas_max` sagas were followed already.
    pub refused: u64,
    /// Sagas whose last step applied.
    pub completed: u64,
    /// Sagas a step of which failed, every earlier step undone.
    pub compensated: u64,
    /// Sagas neither at the end.
    pub running_at_end: u64,
    /// Of those, sagas an event of which a step's group lost: stuck for
    /// good, with no coordinator to notice.
    pub running_lost: u64,
    /// Of those, sagas an event of which a step's group dead-lettered.
    pub running_dead_lettered: u64,
    /// Ended sagas whose effects break the saga invariants.
    pub violations: u64,
    /// Actions or compensations on a saga already ended.
    pub late_effects: u64,
    /// Events of sagas already forgotten (past `retention`): no effect.
    pub unrecognised: u64,
    /// Whether every step's ledger moved by exactly what the sagas
    /// legitimately moved it by.
    pub conserved: bool,
    /// From a saga's `Started` to its ending (ms).
    pub duration_ms: LatencySummary,
    /// Per step, in order.
    pub steps: Vec<ChoreographyStepSummary>,
    /// The first violations found.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub violations_listed: Vec<String>,
}

/// One step of a choreography.
#[derive(Clone, Debug, Serialize)]
pub struct ChoreographyStepSummary {
    /// Its name.
    pub name: String,
    /// Its service.
    pub service: String,
    /// Actions applied (its `Done` published).
    pub applied: u64,
    /// Actions its business rule refused (its `Failed` published).
    pub failed: u64,
    /// Applications of a saga applied already: a duplicate effect.
    pub duplicate_effects: u64,
    /// Events it had decided before (keyed idempotence): nothing done.
    pub duplicates: u64,
    /// Compensations that undid its step.
    pub undone: u64,
    /// Of those, undos of a step undone already.
    pub duplicate_compensations: u64,
    /// Failures of a later step for a saga it had not applied.
    pub compensation_no_ops: u64,
    /// Triggers that came after its compensation: refused.
    pub fenced: u64,
    /// Events not for it.
    pub ignored: u64,
    /// Its ledger's total at the start.
    pub initial: i64,
    /// At the end.
    pub total: i64,
    /// What the ended sagas legitimately moved it by.
    pub accounted: i64,
    /// What the sagas still running have moved it by (each step once).
    pub in_flight: i64,
    /// `total - initial == accounted + in_flight`.
    pub conserved: bool,
}

/// A write route's reads back.
#[derive(Clone, Debug, Serialize)]
pub struct ReadsSummary {
    /// The read route.
    pub read_route: String,
    /// The group whose read model it reads, as `topic/group`.
    pub group: String,
    /// Reads that reached the read model's service.
    pub reads: u64,
    /// Of those, reads that found the read model without the client's own
    /// write: read-your-writes violations.
    pub stale_reads: u64,
    /// `stale_reads` ÷ `reads` (0 without reads).
    pub stale_share: f64,
    /// Reads that never reached it.
    pub failed_reads: u64,
    /// Reads not sent, at the bound on requests in flight.
    pub capped_reads: u64,
}

/// One topic.
#[derive(Clone, Debug, Serialize)]
pub struct TopicSummary {
    /// Its broker service.
    pub broker: String,
    /// Its partitions.
    pub partitions: u32,
    /// Messages appended (a resent event's copies included).
    pub appended: u64,
    /// Messages deleted by retention (time or count).
    pub deleted: u64,
    /// Messages in its logs at the end.
    pub retained_at_end: u64,
}

/// One producer.
#[derive(Clone, Debug, Serialize)]
pub struct PublisherSummary {
    /// Its topic.
    pub topic: String,
    /// `outbox` or `naive`.
    pub mode: &'static str,
    /// Events committed with their state change.
    pub committed: u64,
    /// Requests failed (503) because the outbox table was full.
    pub refused_full: u64,
    /// Publish calls made (first sends and resends).
    pub sends: u64,
    /// Publish calls that failed.
    pub send_failures: u64,
    /// Outbox events sent again (after a failure or a relay restart).
    pub resent: u64,
    /// Events whose publish never reached the broker (lost).
    pub unpublished: u64,
    /// Events still in the outbox at the end.
    pub in_outbox_at_end: u64,
    /// The most events the outbox held at once (its backlog while the
    /// broker was away).
    pub in_outbox_max: u64,
}

/// One consumer group.
#[derive(Clone, Debug, Serialize)]
pub struct GroupSummary {
    /// Its topic.
    pub topic: String,
    /// Its name.
    pub group: String,
    /// The consuming service.
    pub service: String,
    /// Whether its handler deduplicates by event id.
    pub idempotent: bool,
    /// Batches delivered.
    pub deliveries: u64,
    /// Messages delivered for the first time.
    pub delivered: u64,
    /// Messages delivered again.
    pub redelivered: u64,
    /// Of those, events the group had already applied when they were sent.
    pub redelivered_applied: u64,
    /// Events applied (first time).
    pub applied: u64,
    /// Events applied again.
    pub duplicate_effects: u64,
    /// Redeliveries the idempotent consumer skipped.
    pub deduplicated: u64,
    /// Handler attempts that failed.
    pub handler_failures: u64,
    /// Handler retries.
    pub retries: u64,
    /// Messages sent to the dead-letter topic.
    pub dead_lettered: u64,
    /// Events it dead-lettered and never applied.
    pub dead_lettered_events: u64,
    /// Events lost to this group.
    pub lost: u64,
    /// Batches committed.
    pub commits: u64,
    /// Commits refused (the batch had timed out or been rebalanced away).
    pub commits_refused: u64,
    /// Batches whose commit did not come within `commit_timeout`.
    pub commit_timeouts: u64,
    /// Rebalances (membership changes).
    pub rebalances: u64,
    /// Events first applied after a later offset of their partition.
    pub order_violations: u64,
    /// Live members at the end.
    pub members_at_end: u32,
    /// Messages not yet committed at the end, over its partitions.
    pub lag_at_end: u64,
    /// The highest total lag at a window's end.
    pub lag_max: u64,
    /// Committed events it has not applied yet at the end.
    pub pending_at_end: u64,
    /// From an event's commit by its producer to its first application
    /// (ms): how stale a read model it feeds is.
    pub staleness_ms: LatencySummary,
}

pub(super) fn events_summary(events: Option<&EventsOutcome>) -> Option<EventsSummary> {
    let e = events?;
    Some(EventsSummary {
        lost: e.lost,
        duplicate_effects: e.duplicate_effects,
        topics: e
            .topics
            .iter()
            .map(|t| {
                let summary = TopicSummary {
                    broker: t.broker.clone(),
                    partitions: t.partitions,
                    appended: t.appended,
                    deleted: t.deleted,
                    retained_at_end: t.retained,
                };
                (t.name.clone(), summary)
            })
            .collect(),
        publishers: e
            .publishers
            .iter()
            .map(|p| {
                let summary = PublisherSummary {
                    topic: p.topic.clone(),
                    mode: p.mode,
                    committed: p.counts.committed,
                    refused_full: p.counts.refused_full,
                    sends: p.counts.sends,
                    send_failures: p.counts.send_failures,
                    resent: p.resent,
                    unpublished: p.counts.unpublished,
                    in_outbox_at_end: p.in_outbox,
                    in_outbox_max: p.counts.in_outbox_max,
                };
                (p.service.clone(), summary)
            })
            .collect(),
        read_your_writes: e
            .reads
            .iter()
            .map(|(write, read, group, c)| {
                let summary = ReadsSummary {
                    read_route: read.clone(),
                    group: group.clone(),
                    reads: c.reads,
                    stale_reads: c.stale,
                    stale_share: if c.reads > 0 {
                        crate::metrics::round6(c.stale as f64 / c.reads as f64)
                    } else {
                        0.0
                    },
                    failed_reads: c.failed,
                    capped_reads: c.capped,
                };
                (write.clone(), summary)
            })
            .collect(),
        choreographies: e
            .choreographies
            .iter()
            .map(|c| {
                let steps: Vec<ChoreographyStepSummary> = c
                    .steps
                    .iter()
                    .map(|s| ChoreographyStepSummary {
                        name: s.name.clone(),
                        service: s.service.clone(),
                        applied: s.counts.applied,
                        failed: s.counts.failed,
                        duplicate_effects: s.counts.duplicate_effects,
                        duplicates: s.counts.duplicates,
                        undone: s.counts.undone,
                        duplicate_compensations: s.counts.duplicate_compensations,
                        compensation_no_ops: s.counts.compensation_no_ops,
                        fenced: s.counts.fenced,
                        ignored: s.counts.ignored,
                        initial: s.initial,
                        total: s.total,
                        accounted: s.accounted,
                        in_flight: s.in_flight,
                        conserved: s.conserved(),
                    })
                    .collect();
                let summary = ChoreographySummary {
                    topic: c.topic.clone(),
                    start: c.start.clone(),
                    started: c.counts.started,
                    refused: c.counts.refused,
                    completed: c.counts.completed,
                    compensated: c.counts.compensated,
                    running_at_end: c.running,
                    running_lost: c.running_lost,
                    running_dead_lettered: c.running_dead_lettered,
                    violations: c.counts.violations,
                    late_effects: c.counts.late_effects,
                    unrecognised: c.counts.unrecognised,
                    conserved: steps.iter().all(|s| s.conserved),
                    duration_ms: c.duration.summary(),
                    steps,
                    violations_listed: c.violations_listed.clone(),
                };
                (c.name.clone(), summary)
            })
            .collect(),
        groups: e
            .groups
            .iter()
            .map(|g| {
                let c = &g.counts;
                let summary = GroupSummary {
                    topic: g.topic.clone(),
                    group: g.name.clone(),
                    service: g.service.clone(),
                    idempotent: g.idempotent,
                    deliveries: c.deliveries,
                    delivered: c.delivered,
                    redelivered: c.redelivered,
                    redelivered_applied: c.redelivered_applied,
                    applied: c.applied,
                    duplicate_effects: c.duplicate_effects,
                    deduplicated: c.deduplicated,
                    handler_failures: c.handler_failures,
                    retries: c.retries,
                    dead_lettered: c.dead_lettered,
                    dead_lettered_events: c.dead_lettered_events,
                    lost: c.lost,
                    commits: c.commits,
                    commits_refused: c.commits_refused,
                    commit_timeouts: c.commit_timeouts,
                    rebalances: c.rebalances,
                    order_violations: c.order_violations,
                    members_at_end: g.members,
                    lag_at_end: g.lag,
                    lag_max: g.lag_max,
                    pending_at_end: g.pending,
                    staleness_ms: g.staleness.summary(),
                };
                (format!("{}/{}", g.topic, g.name), summary)
            })
            .collect(),
    })
}
