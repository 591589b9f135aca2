//! The consumer groups: which member reads which partition (Kafka's range
//! assignor over the members in instance order), a batch after the last
//! committed offset delivered to its reader, its messages handled one at a
//! time by the consuming service (each a job: its queue, service time,
//! calls and errors), a failed handler retried in place and, after
//! `max_attempts`, the message sent to the dead-letter topic; then the
//! batch's commit travels back. A batch whose commit does not come in time,
//! or that a rebalance overtakes, is delivered again from the committed
//! offset: at least once.
//!
//! Membership: an instance joins its groups when it becomes ready and
//! leaves when it stops gracefully; a crashed member keeps its partitions,
//! unread, until its `session_timeout`. Each change is a rebalance that
//! stops the whole group for `rebalance_pause` (an eager rebalance); the
//! deliveries out then go stale: each stops after the message in hand and
//! its commit is refused.

use super::*;
use crate::kernel::Kernel;
use crate::world::draws::Message as Wire;
use crate::world::{Event, InstanceState, Job, JobState, Origin, Reply, Status, World};

impl World<'_> {
    /// Whether a broker service has an instance running.
    fn broker_up(&self, service: u32) -> bool {
        self.broker_instance(service, 0).is_some()
    }

    /// The broker instance that serves `partition` now: the partition's
    /// own (`partition mod instances`) if it runs, else the next that does.
    fn broker_instance(&self, service: u32, partition: u32) -> Option<u32> {
        let model = &self.services[service as usize];
        let n = model.instances;
        (0..n)
            .map(|k| model.first_instance + (partition + k) % n)
            .find(|&i| {
                let instance = &self.instances[i as usize];
                instance.crashes == 0
                    && matches!(
                        instance.state,
                        InstanceState::Ready | InstanceState::NotReady | InstanceState::Draining
                    )
            })
    }

    /// A message between a broker's instance and a member (either way),
    /// zoned in a zoned world.
    fn transmit_messaging(
        &mut self,
        from: (u32, u32),
        to: (u32, u32),
        message: Wire,
        draw: DrawKey,
    ) -> Option<crate::kernel::SimDuration> {
        match self.zones.as_deref() {
            None => self
                .network
                .transmit(from.0 as usize, to.0 as usize, message, draw),
            Some(z) => {
                let (from_zone, to_zone) = (z.instance[from.1 as usize], z.instance[to.1 as usize]);
                self.transmit_zoned((from.0, from_zone), (to.0, to_zone), message, draw)
            }
        }
    }

    /// Delivers what each group of `topic` may read next on `partition`.
    pub(in crate::world) fn pump_partition(
        &mut self,
        kernel: &mut Kernel<Event>,
        topic: u32,
        partition: u32,
    ) {
        let m = self.messaging.as_deref().expect("messaging");
        let groups = m.topics[topic as usize].groups.clone();
        for g in groups {
            self.pump(kernel, g, partition);
        }
    }

    /// Delivers everything each group may read, on every partition.
    fn pump_group(&mut self, kernel: &mut Kernel<Event>, group: u32) {
        let m = self.messaging.as_deref().expect("messaging");
        let partitions = m.groups[group as usize].cursors.len() as u32;
        for p in 0..partitions {
            self.pump(kernel, group, p);
        }
    }

    /// Sends `group`'s next batch of `partition` to its reader, if the
    /// broker is up, the group is not rebalancing, the reader is alive,
    /// nothing is out and something is there.
    fn pump(&mut self, kernel: &mut Kernel<Event>, group: u32, partition: u32) {
        let m = self.messaging.as_deref().expect("messaging");
        let g = &m.groups[group as usize];
        let cursor = g.cursors[partition as usize];
        if g.paused || cursor.in_flight.is_some() {
            return;
        }
        let Some(owner) = g.owners[partition as usize] else {
            return;
        };
        if !g.members.iter().any(|x| x.instance == owner && x.alive) {
            return;
        }
        let topic = &m.topics[g.topic as usize];
        let part = &topic.partitions[partition as usize];
        let from = cursor.committed.max(part.base);
        if from >= part.end() {
            return;
        }
        let broker = topic.broker;
        let Some(broker_instance) = self.broker_instance(broker, partition) else {
            return;
        };
        let m = self.messaging.as_deref().expect("messaging");
        let g = &m.groups[group as usize];
        let topic = &m.topics[g.topic as usize];
        let part = &topic.partitions[partition as usize];
        let to = part.end().min(from + g.max_poll_records);
        let events: Vec<u64> = (from..to)
            .map(|o| part.log[(o - part.base) as usize].event)
            .collect();
        let (generation, commit_timeout, service) = (g.generation, g.commit_timeout, g.service);
        let m = self.messaging.as_deref_mut().expect("messaging");
        let g = &mut m.groups[group as usize];
        let cursor = &mut g.cursors[partition as usize];
        if cursor.committed < from {
            cursor.committed = from; // Its place was deleted: from the log's start.
        }
        let redelivered = cursor.delivered.min(to).saturating_sub(from);
        g.counts.redelivered += redelivered;
        let bit = 1u32 << g.bit;
        g.counts.redelivered_applied += events[..redelivered as usize]
            .iter()
            .filter(|e| m.tracks.get(e).is_some_and(|t| t.applied & bit != 0))
            .count() as u64;
        g.counts.delivered += (to - from) - redelivered;
        g.counts.deliveries += 1;
        cursor.delivered = cursor.delivered.max(to);
        let batch = cursor.batches;
        cursor.batches += 1;
        for e in &events {
            if let Some(track) = m.tracks.get_mut(e) {
                track.in_deliveries = track.in_deliveries.saturating_add(1);
            }
        }
        let key = m.deliveries.insert(Delivery {
            group,
            partition,
            generation,
            instance: owner,
            from,
            events,
            next: 0,
            attempt: 0,
            arrived: false,
            stale: false,
            handled: false,
            skip: false,
            batch,
            broker_instance,
            timer: None,
        });
        m.groups[group as usize].cursors[partition as usize].in_flight = Some(key);
        let timer = kernel.timer_in(commit_timeout, Event::CommitTimeout(key));
        m.deliveries.get_mut(key).expect("live").timer = Some(timer);
        let draw = crate::world::draws::delivery(group, partition, batch);
        let sent = self.transmit_messaging(
            (broker, broker_instance),
            (service, owner),
            Wire::Request,
            draw,
        );
        // Lost, the commit timeout tells.
        if let Some(delay) = sent {
            kernel.schedule_in(delay, Event::Delivered(key));
        }
    }

    /// A batch reaches its member.
    pub(in crate::world) fn delivered(&mut self, kernel: &mut Kernel<Event>, key: Key) {
        let m = self.messaging.as_deref_mut().expect("messaging");
        let Some(d) = m.deliveries.get_mut(key) else {
            return;
        };
        d.arrived = true;
        if d.stale {
            m.remove_delivery(key);
            return;
        }
        self.handle_message(kernel, key);
    }

    /// Hands the delivery's message in hand to its member, as a job.
    fn handle_message(&mut self, kernel: &mut Kernel<Event>, key: Key) {
        let m = self.messaging.as_deref_mut().expect("messaging");
        let d = m.deliveries.get_mut(key).expect("live");
        d.skip = false;
        let event = d.events[d.next];
        let (instance, group, attempt, batch) = (d.instance, d.group, d.attempt, d.batch);
        let broker = m.topics[m.groups[group as usize].topic as usize].broker;
        let draw = match m.tracks.get(&event) {
            Some(t) => t.draw,
            None => DrawKey::root(0).child(event),
        }
        .child(u64::from(group) << 32 | batch.min(u64::from(u32::MAX)))
        .child(u64::from(attempt));
        let job = self.jobs.insert(Job {
            origin: Origin::Delivery,
            attempt: key,
            draw,
            request: Key::DANGLING,
            caller: broker,
            instance,
            deadline: SimTime::MAX,
            arrived: SimTime::ZERO,
            step: 0,
            pending: 0,
            state: JobState::InTransit,
            cancelled: false,
            caller_zone: crate::scenario::NO_ZONE,
        });
        self.deliver(kernel, job);
    }

    /// Whether the message of delivery job `job_key` is in its idempotent
    /// consumer's table (then it is skipped).
    pub(in crate::world) fn seen_before(&mut self, job_key: Key) -> bool {
        let job = self.jobs.get(job_key).expect("live");
        let m = self.messaging.as_deref_mut().expect("messaging");
        let Some(d) = m.deliveries.get_mut(job.attempt) else {
            return false;
        };
        let event = d.events[d.next];
        let seen = m.groups[d.group as usize]
            .dedupe
            .as_ref()
            .is_some_and(|w| w.contains(event));
        d.skip = seen;
        seen
    }

    /// The handler of a delivery's message has ended with `reply`.
    pub(in crate::world) fn message_handled(
        &mut self,
        kernel: &mut Kernel<Event>,
        job: &Job,
        reply: Reply,
    ) {
        let now = kernel.now();
        let key = job.attempt;
        let running = matches!(
            self.instances[job.instance as usize].state,
            InstanceState::Ready | InstanceState::NotReady
        );
        let m = self.messaging.as_deref_mut().expect("messaging");
        let Some(d) = m.deliveries.get_mut(key) else {
            return;
        };
        let g = &mut m.groups[d.group as usize];
        let event = d.events[d.next];
        if reply.status == Status::Ok {
            if d.skip {
                g.counts.deduplicated += 1;
            } else {
                if let Some(w) = &mut g.dedupe {
                    w.insert(event);
                }
                let bit = 1 << g.bit;
                match m.tracks.get_mut(&event) {
                    Some(track) if track.applied & bit != 0 => g.counts.duplicate_effects += 1,
                    Some(track) => {
                        track.applied |= bit;
                        g.counts.applied += 1;
                        let staleness = now.saturating_since(track.committed);
                        g.staleness.record(staleness);
                        g.window_staleness.record(staleness);
                        // An event sent to the dead-letter topic before
                        // gave up its place in the order: a redelivery that
                        // applies it is not checked.
                        // A naive producer's instances are producers of
                        // their own, each with its order: only a relay's
                        // (one process, the table's order) is checked.
                        let relayed = m.publishers[track.publisher as usize].outbox.is_some();
                        if track.dead & bit == 0 && relayed {
                            let producers = g.last_applied.len() / g.cursors.len();
                            let place = m.publisher_place[track.publisher as usize] as usize;
                            let last =
                                &mut g.last_applied[d.partition as usize * producers + place];
                            if *last != NO_EVENT && event < *last {
                                g.counts.order_violations += 1;
                            }
                            if *last == NO_EVENT || event > *last {
                                *last = event;
                            }
                        }
                    }
                    // Its track has ended (its last copy deleted while
                    // this delivery held it): applied, nothing to check.
                    None => g.counts.applied += 1,
                }
            }
            d.attempt = 0;
            d.next += 1;
        } else if !running {
            // Its member is going: the batch stops here, and is delivered
            // again after the rebalance.
            d.stale = true;
        } else {
            g.counts.handler_failures += 1;
            d.attempt += 1;
            if d.attempt >= g.max_attempts {
                // To the dead-letter topic, and on.
                g.counts.dead_lettered += 1;
                if let Some(track) = m.tracks.get_mut(&event) {
                    track.dead |= 1 << g.bit;
                    if let Some(c) = m.choreographies.as_deref_mut()
                        && track.saga != NO_EVENT
                    {
                        c.missed(track.topic, track.saga, track.said, d.group, true);
                    }
                }
                d.attempt = 0;
                d.next += 1;
            } else if !d.stale {
                g.counts.retries += 1;
                kernel.schedule_in(g.retry_backoff, Event::HandlerRetry(key));
                return;
            }
        }
        let current = g.generation == d.generation && !d.stale;
        if current && d.next < d.events.len() {
            return self.handle_message(kernel, key);
        }
        if !current {
            // Stale: it stops with the message in hand.
            return self.drop_delivery(kernel, key);
        }
        // The batch is done: its commit goes to the broker.
        d.handled = true;
        let (group, partition, batch) = (d.group, d.partition, d.batch);
        let (member, broker_instance) = (d.instance, d.broker_instance);
        let topic = m.groups[group as usize].topic;
        let broker = m.topics[topic as usize].broker;
        let service = m.groups[group as usize].service;
        let draw = crate::world::draws::delivery(group, partition, batch);
        // Lost, the commit timeout tells.
        if let Some(delay) = self.transmit_messaging(
            (service, member),
            (broker, broker_instance),
            Wire::Reply,
            draw,
        ) {
            kernel.schedule_in(delay, Event::Committed(key));
        }
    }

    /// A handler's retry is due.
    pub(in crate::world) fn handler_retry(&mut self, kernel: &mut Kernel<Event>, key: Key) {
        let m = self.messaging.as_deref_mut().expect("messaging");
        let Some(d) = m.deliveries.get(key) else {
            return;
        };
        let running = matches!(
            self.instances[d.instance as usize].state,
            InstanceState::Ready | InstanceState::NotReady
        );
        if d.stale || !running || m.groups[d.group as usize].generation != d.generation {
            return self.drop_delivery(kernel, key);
        }
        self.handle_message(kernel, key);
    }

    /// A delivery ends without a commit: the broker stops waiting for it
    /// (its partition is read again at the next pump or rebalance).
    fn drop_delivery(&mut self, kernel: &mut Kernel<Event>, key: Key) {
        let m = self.messaging.as_deref_mut().expect("messaging");
        let Some(d) = m.remove_delivery(key) else {
            return;
        };
        if let Some(timer) = d.timer {
            kernel.cancel(timer);
        }
        let cursor = &mut m.groups[d.group as usize].cursors[d.partition as usize];
        if cursor.in_flight == Some(key) {
            cursor.in_flight = None;
        }
    }

    /// A batch's commit reaches the broker.
    pub(in crate::world) fn committed(&mut self, kernel: &mut Kernel<Event>, key: Key) {
        let m = self.messaging.as_deref().expect("messaging");
        let Some(d) = m.deliveries.get(key) else {
            return;
        };
        let broker = m.topics[m.groups[d.group as usize].topic as usize].broker;
        if !self.broker_up(broker) {
            // Its consumer retries it when the broker is back (unless the
            // timeout comes first).
            self.messaging
                .as_deref_mut()
                .expect("messaging")
                .awaiting_broker
                .push(key);
            return;
        }
        let m = self.messaging.as_deref_mut().expect("messaging");
        let d = m.remove_delivery(key).expect("live");
        if let Some(timer) = d.timer {
            kernel.cancel(timer);
        }
        let g = &mut m.groups[d.group as usize];
        let cursor = &mut g.cursors[d.partition as usize];
        if d.stale || d.generation != g.generation || cursor.in_flight != Some(key) {
            g.counts.commits_refused += 1;
            return;
        }
        g.counts.commits += 1;
        cursor.committed = cursor.committed.max(d.from + d.events.len() as u64);
        cursor.in_flight = None;
        self.pump(kernel, d.group, d.partition);
    }

    /// A delivery's commit did not come in time: the batch goes out again.
    pub(in crate::world) fn commit_timeout(&mut self, kernel: &mut Kernel<Event>, key: Key) {
        let m = self.messaging.as_deref_mut().expect("messaging");
        let Some(d) = m.deliveries.get_mut(key) else {
            return;
        };
        d.timer = None;
        let (group, partition) = (d.group, d.partition);
        let g = &mut m.groups[group as usize];
        if g.cursors[partition as usize].in_flight == Some(key) {
            g.cursors[partition as usize].in_flight = None;
            g.counts.commit_timeouts += 1;
        }
        // Still being handled: it stops after the message in hand;
        // otherwise it is over (lost on the way, or its commit was).
        if !d.arrived || d.handled {
            m.remove_delivery(key);
        } else {
            d.stale = true;
        }
        self.pump(kernel, group, partition);
    }

    /// An instance has become ready: it joins its groups (a rebalance); a
    /// broker's instance resumes the deliveries.
    pub(in crate::world) fn messaging_ready(&mut self, kernel: &mut Kernel<Event>, instance: u32) {
        let service = self.instances[instance as usize].service;
        let groups = self.messaging.as_deref().expect("m").groups_of[service as usize].clone();
        for g in groups {
            let m = self.messaging.as_deref_mut().expect("messaging");
            let group = &mut m.groups[g as usize];
            match group.members.iter_mut().find(|x| x.instance == instance) {
                Some(member) => member.alive = true,
                None => {
                    group.members.push(Member {
                        instance,
                        alive: true,
                    });
                    group.members.sort_by_key(|x| x.instance);
                }
            }
            self.rebalance(kernel, g);
        }
        let m = self.messaging.as_deref_mut().expect("messaging");
        if let Some(publisher) = m.publisher_of(service) {
            self.place_relay(kernel, publisher, None);
        }
        let m = self.messaging.as_deref_mut().expect("messaging");
        if m.is_broker(service) {
            // The commits that found it down are retried, in arrival order.
            let awaiting = std::mem::take(&mut m.awaiting_broker);
            for key in awaiting {
                self.committed(kernel, key);
            }
            let m = self.messaging.as_deref().expect("messaging");
            let topics = m.topics_of[service as usize].clone();
            for t in topics {
                let groups = self.messaging.as_deref().expect("m").topics[t as usize]
                    .groups
                    .clone();
                for g in groups {
                    self.pump_group(kernel, g);
                }
            }
        }
    }

    /// An instance's process is gone (crashed, or stopped gracefully): a
    /// graceful stop leaves its groups at once (the batches it holds go
    /// stale with the rebalance: the message in hand is finished), a crash
    /// when its session times out (the batches it held die with it).
    pub(in crate::world) fn messaging_lost(
        &mut self,
        kernel: &mut Kernel<Event>,
        instance: u32,
        graceful: bool,
    ) {
        self.publisher_lost(kernel, instance, graceful);
        let service = self.instances[instance as usize].service;
        let epoch = self.instances[instance as usize].restarts;
        let m = self.messaging.as_deref_mut().expect("messaging");
        let doomed = if graceful {
            Vec::new()
        } else {
            m.deliveries.keys_where(|d| d.instance == instance)
        };
        for key in doomed {
            let d = m.remove_delivery(key).expect("listed");
            if let Some(timer) = d.timer {
                kernel.cancel(timer);
            }
            let cursor = &mut m.groups[d.group as usize].cursors[d.partition as usize];
            if cursor.in_flight == Some(key) {
                cursor.in_flight = None;
            }
        }
        let groups = m.groups_of[service as usize].clone();
        for g in groups {
            let m = self.messaging.as_deref_mut().expect("messaging");
            let group = &mut m.groups[g as usize];
            let Some(at) = group.members.iter().position(|x| x.instance == instance) else {
                continue;
            };
            if graceful {
                group.members.remove(at);
                self.rebalance(kernel, g);
            } else {
                group.members[at].alive = false;
                let timeout = group.session_timeout;
                kernel.schedule_in(
                    timeout,
                    Event::MemberExpired {
                        group: g,
                        instance,
                        epoch,
                    },
                );
            }
        }
    }

    /// A crashed member's session has timed out: if it has not come back,
    /// it leaves the group.
    pub(in crate::world) fn member_expired(
        &mut self,
        kernel: &mut Kernel<Event>,
        group: u32,
        instance: u32,
        epoch: u32,
    ) {
        if self.instances[instance as usize].restarts != epoch {
            return; // It has restarted since that crash: a later one counts.
        }
        let m = self.messaging.as_deref_mut().expect("messaging");
        let g = &mut m.groups[group as usize];
        if let Some(at) = g
            .members
            .iter()
            .position(|x| x.instance == instance && !x.alive)
        {
            g.members.remove(at);
            self.rebalance(kernel, group);
        }
    }

    /// The group's membership has changed: it stops for its pause, and
    /// what was out goes stale.
    fn rebalance(&mut self, kernel: &mut Kernel<Event>, group: u32) {
        let m = self.messaging.as_deref_mut().expect("messaging");
        let g = &mut m.groups[group as usize];
        g.generation += 1;
        g.paused = true;
        g.counts.rebalances += 1;
        let (generation, pause) = (g.generation, g.rebalance_pause);
        let out: Vec<Key> = g
            .cursors
            .iter_mut()
            .filter_map(|c| c.in_flight.take())
            .collect();
        for key in out {
            let Some(d) = m.deliveries.get_mut(key) else {
                continue;
            };
            d.stale = true;
            if let Some(timer) = d.timer.take() {
                kernel.cancel(timer);
            }
            if !d.arrived || d.handled {
                // Not arrived: it is over. Handled: its commit, on its way,
                // will be refused (counted now: it will find no record).
                if d.handled {
                    m.groups[group as usize].counts.commits_refused += 1;
                }
                m.remove_delivery(key);
            }
        }
        kernel.schedule_in(pause, Event::Rebalanced { group, generation });
    }

    /// A rebalance's pause is over: the partitions are assigned to the
    /// members now in the group, and reading resumes from the commits.
    pub(in crate::world) fn rebalanced(
        &mut self,
        kernel: &mut Kernel<Event>,
        group: u32,
        generation: u32,
    ) {
        let m = self.messaging.as_deref_mut().expect("messaging");
        let g = &mut m.groups[group as usize];
        if g.generation != generation {
            return; // Another change since: its own pause ends later.
        }
        g.paused = false;
        let members = g.members.len() as u32;
        let partitions = g.owners.len() as u32;
        for p in 0..partitions {
            g.owners[p as usize] = crate::patterns::messaging::owner(partitions, members, p)
                .map(|i| g.members[i as usize].instance);
        }
        self.pump_group(kernel, group);
    }
}
