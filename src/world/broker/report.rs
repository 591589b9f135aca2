//! What the messaging reports: at the end, each topic, producer and group;
//! at each window, each group's row (`metrics::events::GroupRow`) and its
//! lag per partition.

use super::*;
use crate::world::World;

/// What a consumer group counted.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct GroupCounts {
    /// Batches sent to members.
    pub deliveries: u64,
    /// Messages delivered for the first time.
    pub delivered: u64,
    /// Messages delivered again (after a crash, a lost commit, a
    /// rebalance).
    pub redelivered: u64,
    /// Of those, events the group had already applied when they were sent:
    /// what a consumer that is not idempotent applies twice.
    pub redelivered_applied: u64,
    /// Events applied for the first time.
    pub applied: u64,
    /// Events applied again: a redelivery that an idempotent consumer's
    /// table did not catch, or any redelivery of an applied event to a
    /// consumer that is not idempotent.
    pub duplicate_effects: u64,
    /// Redeliveries an idempotent consumer skipped.
    pub deduplicated: u64,
    /// Handler attempts that failed.
    pub handler_failures: u64,
    /// Of those, retried in place.
    pub retries: u64,
    /// Messages sent to the dead-letter topic.
    pub dead_lettered: u64,
    /// Events it dead-lettered and never applied: with `applied`, `lost`
    /// and the pending ones, every event committed for its topic.
    pub dead_lettered_events: u64,
    /// Events lost to this group (never applied nor dead-lettered).
    pub lost: u64,
    /// Batches committed.
    pub commits: u64,
    /// Commits refused (stale: timed out or overtaken by a rebalance).
    pub commits_refused: u64,
    /// Batches whose commit did not come in time.
    pub commit_timeouts: u64,
    /// Membership changes.
    pub rebalances: u64,
    /// Events first applied after a later offset of their partition.
    pub order_violations: u64,
}

/// A topic at the end of the run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TopicOutcome {
    /// Its name.
    pub name: String,
    /// Its broker service.
    pub broker: String,
    /// Its partitions.
    pub partitions: u32,
    /// Messages appended (copies included).
    pub appended: u64,
    /// Messages deleted by retention.
    pub deleted: u64,
    /// Messages in its logs at the end.
    pub retained: u64,
}

/// A producer at the end of the run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PublisherOutcome {
    /// The service.
    pub service: String,
    /// Its topic.
    pub topic: String,
    /// `outbox` or `naive`.
    pub mode: &'static str,
    /// Its counts.
    pub counts: PublisherCounts,
    /// Events of its outbox resent (after a failure or a relay restart).
    pub resent: u64,
    /// Events still in its outbox at the end.
    pub in_outbox: u64,
}

/// A consumer group at the end of the run.
#[derive(Clone, Debug)]
pub struct GroupOutcome {
    /// Its name.
    pub name: String,
    /// Its topic.
    pub topic: String,
    /// The consuming service.
    pub service: String,
    /// Whether its handler is idempotent.
    pub idempotent: bool,
    /// Its counts.
    pub counts: GroupCounts,
    /// Members at the end.
    pub members: u32,
    /// Messages not yet committed, over its partitions, at the end.
    pub lag: u64,
    /// The highest total lag at a window's end.
    pub lag_max: u64,
    /// Events committed by a producer that the group has not applied yet at
    /// the end (still in the outbox, the log, or a delivery).
    pub pending: u64,
    /// From an event's commit to its first application.
    pub staleness: LatencyHistogram,
    /// Its rows kept for charts (`metrics::events`), one per window of
    /// `rows_merged` windows.
    pub rows: crate::metrics::events::KeptGroupRows,
    /// Windows per kept row.
    pub rows_merged: u32,
}

/// Everything the messaging reports.
#[derive(Clone, Debug)]
pub struct EventsOutcome {
    /// The topics.
    pub topics: Vec<TopicOutcome>,
    /// The producers.
    pub publishers: Vec<PublisherOutcome>,
    /// The groups.
    pub groups: Vec<GroupOutcome>,
    /// Lost events, over every group.
    pub lost: u64,
    /// Duplicate effects, over every group.
    pub duplicate_effects: u64,
    /// Per write route that reads back: its name, the read route's, the
    /// group read (`topic/group`), and what the reads found.
    pub reads: Vec<(String, String, String, ReadCounts)>,
    /// The sagas by choreography, in name order.
    pub choreographies: Vec<super::ChoreographyOutcome>,
}

impl World<'_> {
    /// At a window's end: retention's deletions (counted in time), each
    /// group's highest lag, and the closing window's rows: per group, what
    /// its counts moved by since the last window, its lag and members at
    /// the end and the window's staleness; per group and partition, its
    /// offsets and lag.
    pub(in crate::world) fn messaging_window(&mut self, now: SimTime) {
        use crate::metrics::events::{GroupRow, PartitionRow};
        self.expire_all(now);
        let Some(m) = self.messaging.as_deref_mut() else {
            return;
        };
        for (index, group) in m.groups.iter_mut().enumerate() {
            let topic = &m.topics[group.topic as usize];
            let (mut total, mut highest) = (0, 0);
            for (partition, (part, c)) in topic.partitions.iter().zip(&group.cursors).enumerate() {
                let lag = part.end() - c.committed.max(part.base);
                total += lag;
                highest = highest.max(lag);
                self.closing.partitions.push(PartitionRow {
                    group: index as u32,
                    partition: partition as u32,
                    end_offset: part.end(),
                    committed: c.committed,
                    lag,
                });
            }
            group.lag_max = group.lag_max.max(total);
            let (now_c, then) = (&group.counts, &group.window_mark);
            let staleness = &group.window_staleness;
            let p = |q: f64| (staleness.count() > 0).then(|| staleness.quantile_ms(q));
            self.closing.groups.push(GroupRow {
                group: index as u32,
                delivered: now_c.delivered - then.delivered,
                redelivered: now_c.redelivered - then.redelivered,
                applied: now_c.applied - then.applied,
                duplicate_effects: now_c.duplicate_effects - then.duplicate_effects,
                deduplicated: now_c.deduplicated - then.deduplicated,
                handler_failures: now_c.handler_failures - then.handler_failures,
                dead_lettered: now_c.dead_lettered - then.dead_lettered,
                commit_timeouts: now_c.commit_timeouts - then.commit_timeouts,
                rebalances: now_c.rebalances - then.rebalances,
                lag: total,
                partition_lag_max: highest,
                members: group.members.iter().filter(|x| x.alive).count() as u32,
                staleness_ms_p50: p(0.5),
                staleness_ms_p99: p(0.99),
            });
            group.window_mark = group.counts.clone();
            group.window_staleness.reset();
        }
    }

    /// What the messaging did, at the end of the run.
    pub(in crate::world) fn events_outcome(&self) -> Option<EventsOutcome> {
        let m = self.messaging.as_deref()?;
        // At the end, an event no producer holds and no copy of which
        // reached the broker never will: lost (judged before its
        // retention's wait is over).
        let never = |t: &Track| t.appends == 0 && !t.held;
        let topics = m
            .topics
            .iter()
            .map(|t| TopicOutcome {
                name: t.name.clone(),
                broker: self.service_names[t.broker as usize].clone(),
                partitions: t.partitions.len() as u32,
                appended: t.appended,
                deleted: t.deleted,
                retained: t.partitions.iter().map(|p| p.log.len() as u64).sum(),
            })
            .collect();
        let publishers = m
            .publishers
            .iter()
            .map(|p| PublisherOutcome {
                service: self.service_names[p.service as usize].clone(),
                topic: m.topics[p.topic as usize].name.clone(),
                mode: match p.mode {
                    PublishMode::Outbox => "outbox",
                    PublishMode::Naive => "naive",
                },
                counts: PublisherCounts {
                    unpublished: p.counts.unpublished
                        + m.tracks
                            .values()
                            .filter(|t| {
                                never(t) && m.publishers[t.publisher as usize].service == p.service
                            })
                            .count() as u64,
                    ..p.counts.clone()
                },
                resent: p.outbox.as_ref().map_or(0, Outbox::resent),
                in_outbox: p.outbox.as_ref().map_or(0, |o| o.len() as u64),
            })
            .collect();
        let groups: Vec<GroupOutcome> = m
            .groups
            .iter()
            .map(|g| {
                let topic = &m.topics[g.topic as usize];
                let lag = topic
                    .partitions
                    .iter()
                    .zip(&g.cursors)
                    .map(|(p, c)| p.end() - c.committed.max(p.base))
                    .sum();
                let bit = 1 << g.bit;
                let unread = |t: &&Track| t.topic == g.topic && (t.applied | t.dead) & bit == 0;
                let pending = m
                    .tracks
                    .values()
                    .filter(unread)
                    .filter(|t| !never(t))
                    .count() as u64;
                let lost_now = m
                    .tracks
                    .values()
                    .filter(unread)
                    .filter(|t| never(t))
                    .count() as u64;
                let mut counts = g.counts.clone();
                counts.lost += lost_now;
                counts.dead_lettered_events += m
                    .tracks
                    .values()
                    .filter(|t| t.topic == g.topic && t.dead & bit != 0 && t.applied & bit == 0)
                    .count() as u64;
                GroupOutcome {
                    name: g.name.clone(),
                    topic: topic.name.clone(),
                    service: self.service_names[g.service as usize].clone(),
                    idempotent: g.idempotent,
                    counts,
                    members: g.members.iter().filter(|x| x.alive).count() as u32,
                    lag,
                    lag_max: g.lag_max.max(lag),
                    pending,
                    staleness: g.staleness.clone(),
                    rows: Vec::new(),
                    rows_merged: 1,
                }
            })
            .collect();
        let route_names: Vec<&str> = self.route_names.iter().map(String::as_str).collect();
        let reads = m
            .then_read
            .iter()
            .enumerate()
            .filter_map(|(r, t)| {
                let t = t.as_ref()?;
                let g = &m.groups[t.group as usize];
                Some((
                    route_names[r].to_string(),
                    route_names[t.route as usize].to_string(),
                    format!("{}/{}", m.topics[g.topic as usize].name, g.name),
                    m.reads[r].clone(),
                ))
            })
            .collect();
        Some(EventsOutcome {
            reads,
            choreographies: self.choreography_outcomes(),
            topics,
            publishers,
            lost: groups.iter().map(|g| g.counts.lost).sum(),
            duplicate_effects: groups.iter().map(|g| g.counts.duplicate_effects).sum(),
            groups,
        })
    }
}
