//! The producer's side and the broker's log: an event committed with a
//! request's state change, published by the outbox's relay or at once
//! (naive), appended to its partition, deleted by retention.

use super::*;
use crate::kernel::Kernel;
use crate::world::calls::Parent;
use crate::world::{Event, InstanceState, Reply, Status, World};

impl World<'_> {
    /// A producer's job succeeded: its state change commits with its event.
    /// False when the outbox table is full: the transaction fails, and the
    /// job with it.
    pub(in crate::world) fn commit_event(
        &mut self,
        kernel: &mut Kernel<Event>,
        job_key: Key,
        publisher: u16,
        message: Option<choreo::SagaMessage>,
    ) -> bool {
        let now = kernel.now();
        let job = self.jobs.get(job_key).expect("a live job commits");
        let (instance, draw, request) = (job.instance, job.draw, job.request);
        let key = match message {
            Some(m) => Some(m.key),
            None => self.requests.get(request).and_then(|r| r.key()),
        };
        let m = self.messaging.as_deref_mut().expect("messaging");
        let id = m.next_event;
        let p = &mut m.publishers[publisher as usize];
        if let Some(outbox) = &mut p.outbox
            && outbox.append(id, now.as_nanos()).is_err()
        {
            p.counts.refused_full += 1;
            return false;
        }
        if let Some(outbox) = &p.outbox {
            p.counts.in_outbox_max = p.counts.in_outbox_max.max(outbox.len() as u64);
        }
        m.next_event += 1;
        p.counts.committed += 1;
        let topic = &m.topics[p.topic as usize];
        let partition = match key {
            Some(k) => topic.partitioner.partition_of_number(k),
            None => topic.partitioner.partition_of_number(id),
        };
        m.tracks.insert(
            id,
            Track {
                committed: now,
                draw: crate::world::draws::event(draw),
                publisher,
                topic: p.topic,
                partition,
                copies: 0,
                appends: 0,
                held: true,
                in_deliveries: 0,
                applied: 0,
                dead: 0,
                said: message.map_or(choreo::Said::Nothing, |m| m.said),
                saga: message.map_or(NO_EVENT, |m| m.saga),
            },
        );
        if !m.then_read.is_empty() {
            self.note_write(request, id);
        }
        let m = self.messaging.as_deref_mut().expect("messaging");
        let p = &m.publishers[publisher as usize];
        match p.mode {
            PublishMode::Outbox => self.schedule_relay(kernel, publisher),
            PublishMode::Naive => {
                let draw = crate::world::draws::event(draw);
                let linger = m.publishers[publisher as usize].linger;
                if linger.is_zero() {
                    self.send_publish(kernel, publisher, id, instance, draw);
                } else {
                    // In the process's buffer until then.
                    let key = m.publishes.insert(Publish {
                        event: id,
                        publisher,
                        instance,
                        draw,
                        sent: false,
                    });
                    kernel.schedule_in(linger, Event::PublishDue(key));
                }
            }
        }
        true
    }

    /// A publish call for event `id` from `instance`.
    fn send_publish(
        &mut self,
        kernel: &mut Kernel<Event>,
        publisher: u16,
        id: u64,
        instance: u32,
        draw: DrawKey,
    ) {
        let m = self.messaging.as_deref_mut().expect("messaging");
        let p = &mut m.publishers[publisher as usize];
        p.counts.sends += 1;
        let edge = p.edge;
        let key = m.publishes.insert(Publish {
            event: id,
            publisher,
            instance,
            draw,
            sent: true,
        });
        self.start_call(kernel, Parent::Publish(key), draw, edge, None, false);
    }

    /// A naive publish's linger is over: its call is made (unless its
    /// process has crashed meanwhile, and the event with it).
    pub(in crate::world) fn publish_due(&mut self, kernel: &mut Kernel<Event>, publish: Key) {
        let m = self.messaging.as_deref_mut().expect("messaging");
        let Some(p) = m.publishes.get_mut(publish) else {
            return;
        };
        if p.sent {
            return; // Flushed early, by a graceful stop.
        }
        p.sent = true;
        m.publishers[p.publisher as usize].counts.sends += 1;
        let (edge, draw) = (m.publishers[p.publisher as usize].edge, p.draw);
        self.start_call(kernel, Parent::Publish(publish), draw, edge, None, false);
    }

    /// The process that makes `publish`'s calls.
    pub(in crate::world) fn publish_instance(&self, publish: Key) -> u32 {
        self.messaging
            .as_deref()
            .and_then(|m| m.publishes.get(publish))
            .map_or(0, |p| p.instance)
    }

    /// Schedules the relay's next poll, if the outbox wants one sooner than
    /// the one scheduled.
    fn schedule_relay(&mut self, kernel: &mut Kernel<Event>, publisher: u16) {
        let m = self.messaging.as_deref_mut().expect("messaging");
        let p = &mut m.publishers[publisher as usize];
        if p.relay_host.is_none() {
            return; // No process runs the relay: it polls when one starts.
        }
        let Some(due) = p.outbox.as_ref().and_then(Outbox::poll_timeout) else {
            return;
        };
        let due = SimTime::from_nanos(due).max(kernel.now());
        match p.relay_timer {
            Some((_, at)) if at <= due => {}
            other => {
                if let Some((timer, _)) = other {
                    kernel.cancel(timer);
                }
                let timer = kernel.timer_at(due, Event::RelayPoll(u32::from(publisher)));
                p.relay_timer = Some((timer, due));
            }
        }
    }

    /// The relay of `publisher` polls its outbox and sends what it may.
    pub(in crate::world) fn relay_poll(&mut self, kernel: &mut Kernel<Event>, publisher: u32) {
        let now = kernel.now();
        let m = self.messaging.as_deref_mut().expect("messaging");
        let p = &mut m.publishers[publisher as usize];
        p.relay_timer = None;
        if p.relay_host.is_none() {
            return;
        }
        let outbox = p.outbox.as_mut().expect("a relay has an outbox");
        outbox.handle_timeout(now.as_nanos());
        self.relay_send(kernel, publisher as u16);
        self.schedule_relay(kernel, publisher as u16);
    }

    /// The relay sends what its poll under way may: up to `max_in_flight`
    /// events out at once (after an acknowledgement, the next).
    fn relay_send(&mut self, kernel: &mut Kernel<Event>, publisher: u16) {
        let m = self.messaging.as_deref_mut().expect("messaging");
        let p = &mut m.publishers[publisher as usize];
        let Some(host) = p.relay_host else {
            return;
        };
        let outbox = p.outbox.as_mut().expect("a relay has an outbox");
        let mut out = Vec::new();
        while let Some(id) = outbox.poll_publish() {
            out.push(id);
        }
        for id in out {
            let m = self.messaging.as_deref().expect("messaging");
            let Some(track) = m.tracks.get(&id) else {
                continue;
            };
            // Each send of an event has its own key: its n-th append try.
            let sends = m.publishers[publisher as usize].counts.sends;
            let draw = track.draw.child(sends);
            self.send_publish(kernel, publisher, id, host, draw);
        }
    }

    /// A publish call has ended.
    pub(in crate::world) fn publish_done(
        &mut self,
        kernel: &mut Kernel<Event>,
        publish: Key,
        reply: Reply,
    ) {
        let now = kernel.now();
        let m = self.messaging.as_deref_mut().expect("messaging");
        let Some(done) = m.publishes.remove(publish) else {
            return;
        };
        let p = &mut m.publishers[done.publisher as usize];
        let ok = reply.status == Status::Ok;
        if !ok {
            p.counts.send_failures += 1;
        }
        match &mut p.outbox {
            Some(outbox) => {
                if ok {
                    outbox.handle_ack(done.event);
                    if let Some(track) = m.tracks.get_mut(&done.event) {
                        track.held = false;
                        // Acknowledged, and perhaps already deleted by
                        // retention.
                        m.settle_if_free(done.event);
                    }
                } else {
                    outbox.handle_failure(done.event);
                }
                // A slot is free: the poll under way goes on.
                self.relay_send(kernel, done.publisher);
                self.schedule_relay(kernel, done.publisher);
            }
            None => m.publish_over(done.event, now),
        }
    }

    /// Stamps a publish job sent to a broker with its event.
    pub(in crate::world) fn stamp_publish_job(&mut self, job: Key, attempt: Key) {
        let parent = self.attempts.get(attempt).and_then(|a| match a.owner {
            crate::world::calls::Owner::Direct { parent, .. } => Some(parent),
            crate::world::calls::Owner::Call(call) => self.calls.get(call).map(|c| c.parent),
        });
        let m = self.messaging.as_deref_mut().expect("messaging");
        let event = match parent {
            Some(Parent::Publish(p)) => m.publishes.get(p).map_or(NO_EVENT, |p| p.event),
            _ => NO_EVENT,
        };
        let index = job.index();
        if m.tags.len() <= index {
            m.tags.resize(index + 1, NO_EVENT);
        }
        m.tags[index] = event;
    }

    /// The broker has done a publish job's work: the event is appended to
    /// its partition, and acknowledged.
    pub(in crate::world) fn broker_append(&mut self, kernel: &mut Kernel<Event>, job_key: Key) {
        let now = kernel.now();
        let m = self.messaging.as_deref_mut().expect("messaging");
        let event = m.tags.get(job_key.index()).copied().unwrap_or(NO_EVENT);
        let appended = match m.tracks.get_mut(&event) {
            Some(track) => {
                track.copies = track.copies.saturating_add(1);
                track.appends = track.appends.saturating_add(1);
                let topic = &mut m.topics[track.topic as usize];
                topic.appended += 1;
                topic.partitions[track.partition as usize]
                    .log
                    .push_back(Message {
                        event,
                        appended: now,
                    });
                Some((track.topic, track.partition))
            }
            // An event forgotten already (its publish judged failed long
            // ago): nothing to follow.
            None => None,
        };
        if let Some((topic, partition)) = appended {
            m.expire(topic, partition, now);
            self.finish_job(kernel, job_key, Status::Ok, false);
            self.pump_partition(kernel, topic, partition);
        } else {
            self.finish_job(kernel, job_key, Status::Ok, false);
        }
    }

    /// Deletes what retention no longer keeps, on every partition (at each
    /// window, so that time-based deletion is counted in time).
    pub(in crate::world) fn expire_all(&mut self, now: SimTime) {
        let Some(m) = self.messaging.as_deref_mut() else {
            return;
        };
        for t in 0..m.topics.len() {
            for p in 0..m.topics[t].partitions.len() {
                m.expire(t as u32, p as u32, now);
            }
        }
        while let Some(&(at, id)) = m.unpublished.front() {
            if at > now {
                break;
            }
            m.unpublished.pop_front();
            if let Some(track) = m.tracks.get(&id)
                && track.appends == 0
                && !track.held
            {
                m.settle(id);
            }
        }
    }

    /// What a producer's process loses with it (a crash: its buffer and
    /// its publishes in flight), or does before it goes (a graceful stop:
    /// it flushes its buffer, and its publishes finish), and where its
    /// relay goes.
    pub(in crate::world) fn publisher_lost(
        &mut self,
        kernel: &mut Kernel<Event>,
        instance: u32,
        graceful: bool,
    ) {
        let now = kernel.now();
        let service = self.instances[instance as usize].service;
        let Some(m) = self.messaging.as_deref_mut() else {
            return;
        };
        let Some(publisher) = m.publisher_of(service) else {
            return;
        };
        if graceful {
            // A producer's `close()` sends what it buffers.
            let lingering = m
                .publishes
                .keys_where(|p| p.instance == instance && !p.sent);
            for key in lingering {
                self.publish_due(kernel, key);
            }
            let m = self.messaging.as_deref_mut().expect("messaging");
            let p = &mut m.publishers[publisher as usize];
            if p.relay_host == Some(instance) {
                // Handed over: the table and what is in flight stay as
                // they are.
                p.relay_host = None;
                if let Some((timer, _)) = p.relay_timer.take() {
                    kernel.cancel(timer);
                }
                self.move_relay(kernel, publisher, instance);
            }
            return;
        }
        // Its publish calls die with it (no parent is told).
        let doomed = m.publishes.keys_where(|p| p.instance == instance);
        for &key in &doomed {
            let p = m.publishes.remove(key).expect("listed");
            if m.publishers[publisher as usize].outbox.is_none() {
                m.publish_over(p.event, now);
            }
        }
        self.abandon_publish_calls(kernel, &doomed);
        let m = self.messaging.as_deref_mut().expect("messaging");
        let p = &mut m.publishers[publisher as usize];
        if p.relay_host == Some(instance) {
            p.relay_host = None;
            if let Some((timer, _)) = p.relay_timer.take() {
                kernel.cancel(timer);
            }
            self.place_relay(kernel, publisher, Some(instance));
        }
    }

    /// Hands the relay of `publisher` over from `from`, stopping gracefully,
    /// to its lowest other running instance, without a restart.
    fn move_relay(&mut self, kernel: &mut Kernel<Event>, publisher: u16, from: u32) {
        let m = self.messaging.as_deref().expect("messaging");
        let p = &m.publishers[publisher as usize];
        let model = &self.services[p.service as usize];
        let host = (model.first_instance..model.first_instance + model.instances).find(|&i| {
            i != from
                && matches!(
                    self.instances[i as usize].state,
                    InstanceState::Ready | InstanceState::NotReady
                )
        });
        let m = self.messaging.as_deref_mut().expect("messaging");
        m.publishers[publisher as usize].relay_host = host;
        if host.is_some() {
            self.relay_send(kernel, publisher);
            self.schedule_relay(kernel, publisher);
        }
    }

    /// Puts the relay of `publisher` on its lowest running instance (other
    /// than `not`), which restarts it: what it had in flight goes out again.
    pub(in crate::world) fn place_relay(
        &mut self,
        kernel: &mut Kernel<Event>,
        publisher: u16,
        not: Option<u32>,
    ) {
        let m = self.messaging.as_deref().expect("messaging");
        let p = &m.publishers[publisher as usize];
        if p.outbox.is_none() || p.relay_host.is_some() {
            return;
        }
        let model = &self.services[p.service as usize];
        let host = (model.first_instance..model.first_instance + model.instances).find(|&i| {
            Some(i) != not
                && matches!(
                    self.instances[i as usize].state,
                    InstanceState::Ready | InstanceState::NotReady
                )
        });
        let Some(host) = host else {
            return;
        };
        let now = kernel.now().as_nanos();
        let m = self.messaging.as_deref_mut().expect("messaging");
        let p = &mut m.publishers[publisher as usize];
        p.relay_host = Some(host);
        p.outbox.as_mut().expect("outbox").restart(now);
        self.schedule_relay(kernel, publisher);
    }
}

impl Messaging {
    /// A naive publish of `event` is over (ended, or lost with its
    /// process): if no copy reached the broker, it is judged lost a
    /// retention later, unless a late attempt lands meanwhile.
    fn publish_over(&mut self, event: u64, now: SimTime) {
        let Some(track) = self.tracks.get_mut(&event) else {
            return;
        };
        track.held = false;
        if track.appends == 0 {
            let retention = self.topics[track.topic as usize].retention;
            self.unpublished
                .push_back((now.saturating_add(retention), event));
        } else {
            self.settle_if_free(event);
        }
    }

    /// Ends `event`'s track if nothing holds it any more: no copy in the
    /// log, not its producer, no delivery (a never-published event is
    /// judged by the `unpublished` queue instead).
    pub(super) fn settle_if_free(&mut self, event: u64) {
        let Some(track) = self.tracks.get(&event) else {
            return;
        };
        if track.copies == 0 && !track.held && track.in_deliveries == 0 && track.appends > 0 {
            self.settle(event);
        }
    }

    /// Removes a delivery: the events it held that nothing else holds end
    /// (a group that never applied one lost it).
    pub(super) fn remove_delivery(&mut self, key: Key) -> Option<Delivery> {
        let d = self.deliveries.remove(key)?;
        for e in &d.events {
            if let Some(track) = self.tracks.get_mut(e) {
                track.in_deliveries = track.in_deliveries.saturating_sub(1);
                self.settle_if_free(*e);
            }
        }
        Some(d)
    }

    /// Deletes from the front of a partition what retention no longer
    /// keeps: older than the retention, or beyond its message bound.
    fn expire(&mut self, topic: u32, partition: u32, now: SimTime) {
        loop {
            let t = &mut self.topics[topic as usize];
            let retention = t.retention;
            let bound = t.retention_messages;
            let part = &mut t.partitions[partition as usize];
            let Some(front) = part.log.front().copied() else {
                return;
            };
            if part.log.len() <= bound && front.appended.saturating_add(retention) > now {
                return;
            }
            part.log.pop_front();
            part.base += 1;
            t.deleted += 1;
            self.deleted(front.event);
        }
    }

    /// Message `event` has left its log: if it was its last copy and
    /// nothing else holds it, a group that had not read it never will.
    fn deleted(&mut self, event: u64) {
        let Some(track) = self.tracks.get_mut(&event) else {
            return;
        };
        track.copies = track.copies.saturating_sub(1);
        self.settle_if_free(event);
    }

    /// An event's track ends: every group that neither applied it nor
    /// dead-lettered it has lost it.
    fn settle(&mut self, event: u64) {
        let Some(track) = self.tracks.remove(&event) else {
            return;
        };
        let topic = &self.topics[track.topic as usize];
        if track.appends == 0 {
            self.publishers[track.publisher as usize].counts.unpublished += 1;
        }
        for &g in &topic.groups {
            let group = &mut self.groups[g as usize];
            let bit = 1 << group.bit;
            if (track.applied | track.dead) & bit == 0 {
                group.counts.lost += 1;
                if let Some(c) = self.choreographies.as_deref_mut()
                    && track.saga != NO_EVENT
                {
                    c.missed(track.topic, track.saga, track.said, g, false);
                }
            } else if track.applied & bit == 0 {
                group.counts.dead_lettered_events += 1;
            }
        }
    }
}
