//! Write-then-read clients (a route's `then_read`): after each success of a
//! write whose service committed an event, the same client reads it back on
//! the read route `after` later; when the read reaches the read model's
//! service, the read model either has the write (its group applied the
//! event) or not: a read-your-writes violation, counted per write route.
//!
//! A follow-up read is a client request of its own (its route's counts and
//! latency include it), keyed by its write's event (`event / (1 << 40)`),
//! sent by the write's client but by no closed-loop user (a user's loop of
//! think and send stays its own).

use super::*;
use crate::kernel::Kernel;
use crate::world::calls::Parent;
use crate::world::request::RequestContext;
use crate::world::{Event, World};

/// A read waiting for its `after`.
pub(super) struct FollowUp {
    write_route: u32,
    client: u16,
    key: Option<u32>,
    event: u64,
}

/// A read sent: what it checks.
#[derive(Clone, Copy, Debug)]
pub(super) struct Reading {
    write_route: u32,
    event: u64,
}

/// What the reads back of one write route found.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ReadCounts {
    /// Reads that reached the read model's service.
    pub reads: u64,
    /// Of those, reads that found the read model without the write.
    pub stale: u64,
    /// Reads that never reached it (failed, timed out, refused).
    pub failed: u64,
    /// Reads not sent: at the bound on requests in flight.
    pub capped: u64,
}

impl World<'_> {
    /// Remembers the event a request's write committed, if its route reads
    /// it back.
    pub(in crate::world) fn note_write(&mut self, request: Key, event: u64) {
        let Some(route) = self.requests.get(request).map(|c| c.route) else {
            return;
        };
        let m = self.messaging.as_deref_mut().expect("messaging");
        if m.then_read.get(route as usize).is_some_and(Option::is_some) {
            m.written.insert(request, event);
        }
    }

    /// A client request has ended (in a world with a broker): a write that
    /// succeeded schedules its read back; a read that never reached the
    /// read model is counted as failed.
    pub(in crate::world) fn request_ended(
        &mut self,
        kernel: &mut Kernel<Event>,
        request: Key,
        context: &RequestContext,
        ok: bool,
    ) {
        let m = self.messaging.as_deref_mut().expect("messaging");
        if m.written.is_empty() && m.reading.is_empty() {
            return;
        }
        if let Some(event) = m.written.remove(&request)
            && ok
            && let Some(Some(read)) = m.then_read.get(context.route as usize).copied()
        {
            let key = m.follow_ups.insert(FollowUp {
                write_route: context.route,
                client: context.client,
                key: context.key().map(|k| k as u32),
                event,
            });
            kernel.schedule_in(read.after, Event::ReadDue(key));
        }
        if let Some(reading) = m.reading.remove(&request) {
            m.reads[reading.write_route as usize].failed += 1;
        }
    }

    /// A read back is due: it is sent as a client request.
    pub(in crate::world) fn read_due(&mut self, kernel: &mut Kernel<Event>, key: Key) {
        let m = self.messaging.as_deref_mut().expect("messaging");
        let Some(f) = m.follow_ups.remove(key) else {
            return;
        };
        let read = m.then_read[f.write_route as usize].expect("a route that reads back");
        let draw = m
            .tracks
            .get(&f.event)
            .map_or(DrawKey::root(9).child(f.event), |t| t.draw)
            .child(1 << 40);
        if self.requests.len() >= self.max_requests {
            m.reads[f.write_route as usize].capped += 1;
            self.requests_capped += 1;
            let stats = &mut self.route_stats[read.route as usize];
            stats.window.requests += 1;
            stats.window.capped += 1;
            return;
        }
        let id = self.requests_sent;
        self.requests_sent += 1;
        let context = RequestContext::new(id, kernel.now(), read.route, f.client, None, f.key);
        let request = self.requests.insert(context);
        m.reading.insert(
            request,
            Reading {
                write_route: f.write_route,
                event: f.event,
            },
        );
        let stats = &mut self.route_stats[read.route as usize];
        stats.window.requests += 1;
        stats.in_flight += 1;
        if let Some(stats) = self.clients.stats.get_mut(usize::from(f.client)) {
            stats.window.requests += 1;
            stats.in_flight += 1;
        }
        self.start_call(
            kernel,
            Parent::Client { request },
            draw,
            read.route,
            None,
            false,
        );
    }

    /// A job of the read model's service is done: if it serves a read back,
    /// the read model has the write or not.
    pub(in crate::world) fn check_read(&mut self, job_key: Key, service: u32) {
        let m = self.messaging.as_deref_mut().expect("messaging");
        if m.reading.is_empty() {
            return;
        }
        let Some(job) = self.jobs.get(job_key) else {
            return;
        };
        let Some(&reading) = m.reading.get(&job.request) else {
            return;
        };
        let read = m.then_read[reading.write_route as usize].expect("a route that reads back");
        let group = &m.groups[read.group as usize];
        if group.service != service {
            return; // A hop before the read model's service.
        }
        m.reading.remove(&job.request);
        let bit = 1 << group.bit;
        // A track that has ended was applied or lost long ago: the read
        // model has what it will ever have; counted by its bit while known.
        let has = m
            .tracks
            .get(&reading.event)
            .is_none_or(|t| t.applied & bit != 0);
        let counts = &mut m.reads[reading.write_route as usize];
        counts.reads += 1;
        counts.stale += u64::from(!has);
    }
}
