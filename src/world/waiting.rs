//! Waiting for a bulkhead slot, and the timers of an edge's patterns: a
//! waiter admitted into a freed slot is sent, one whose wait or deadline ran
//! out fails; one timer per scope unit wakes the breaker and the bulkhead at
//! the earliest timeout either asks for.

use crate::kernel::{Kernel, SimTime};
use crate::patterns::bulkhead::{Permit as BulkheadPermit, Ticket};

use super::draws::AttemptKind;
use super::{Event, Outcome, World};

impl World<'_> {
    /// A waiter was given a bulkhead slot: send its attempt.
    pub(super) fn admit_waiter(
        &mut self,
        kernel: &mut Kernel<Event>,
        edge: u32,
        unit: u32,
        ticket: Ticket,
        permit: BulkheadPermit,
    ) {
        let units = self.edges[edge as usize]
            .units
            .get_mut(unit as usize)
            .expect("unit exists");
        let Some(position) = units.waiting.iter().position(|(t, _)| *t == ticket) else {
            // Nobody waits on this ticket any more: give the slot back.
            if let Some(bulkhead) = &mut units.bulkhead
                && let Some((next, permit)) = bulkhead.release(permit, kernel.now().as_nanos())
            {
                self.admit_waiter(kernel, edge, unit, next, permit);
            }
            return;
        };
        let (_, call) = units.waiting.remove(position).expect("found");
        let now = kernel.now();
        if let Some(state) = self.calls.get(call)
            && state.deadline.expired(now.as_nanos())
        {
            // The deadline passed while it waited: give the slot back and
            // fail the attempt as timed out, without sending it.
            let waiting = self
                .calls
                .get_mut(call)
                .and_then(|s| s.waiting.take())
                .map(|w| *w);
            let kind = waiting.as_ref().map_or(AttemptKind::First, |w| w.2);
            let units = self.edges[edge as usize]
                .units
                .get_mut(unit as usize)
                .expect("unit exists");
            if let (Some(breaker), Some((_, Some(breaker_permit), _))) =
                (&mut units.breaker, waiting)
            {
                breaker.release(breaker_permit, now.as_nanos());
            }
            let next = units
                .bulkhead
                .as_mut()
                .and_then(|b| b.release(permit, now.as_nanos()));
            self.local_failure(kernel, call, kind, Outcome::Timeout);
            if let Some((ticket, permit)) = next {
                self.admit_waiter(kernel, edge, unit, ticket, permit);
            }
            return;
        }
        let Some((_, breaker, kind)) = self
            .calls
            .get_mut(call)
            .and_then(|s| s.waiting.take())
            .map(|w| *w)
        else {
            return;
        };
        self.send_attempt(kernel, call, kind, breaker, Some(permit));
    }

    /// A policy unit's timer: breaker and bulkhead timeouts.
    pub(super) fn policy_wake(&mut self, kernel: &mut Kernel<Event>, edge: u32, unit: u32) {
        let now = kernel.now();
        let t = now.as_nanos();
        let Some(units) = self.unit_state(edge, unit) else {
            return;
        };
        units.bulkhead_timer = None;
        if let Some(breaker) = &mut units.breaker {
            breaker.handle_timeout(t);
        }
        let mut expired = Vec::new();
        let mut admitted = Vec::new();
        if let Some(bulkhead) = &mut units.bulkhead {
            bulkhead.handle_timeout(t);
            while let Some(ticket) = bulkhead.poll_expired() {
                expired.push(ticket);
            }
            while let Some(entry) = bulkhead.poll_admitted() {
                admitted.push(entry);
            }
        }
        self.drain_breaker(edge, unit);
        for ticket in expired {
            let units = self.unit_state(edge, unit).expect("unit exists");
            let Some(position) = units.waiting.iter().position(|(t, _)| *t == ticket) else {
                continue;
            };
            let (_, call) = units.waiting.remove(position).expect("found");
            if let Some((_, permit, kind)) = self
                .calls
                .get_mut(call)
                .and_then(|s| s.waiting.take())
                .map(|w| *w)
            {
                if let (Some(breaker), Some(permit)) = (
                    self.unit_state(edge, unit).and_then(|s| s.breaker.as_mut()),
                    permit,
                ) {
                    breaker.release(permit, t);
                }
                self.local_failure(kernel, call, kind, Outcome::BulkheadFull);
            }
        }
        for (ticket, permit) in admitted {
            self.admit_waiter(kernel, edge, unit, ticket, permit);
        }
        self.schedule_wake(kernel, edge, unit);
    }

    /// Keeps one timer per unit at the earliest breaker or bulkhead timeout.
    pub(super) fn schedule_wake(&mut self, kernel: &mut Kernel<Event>, edge: u32, unit: u32) {
        let now = kernel.now().as_nanos();
        let Some(units) = self.unit_state(edge, unit) else {
            return;
        };
        let next = [
            units.breaker.as_ref().and_then(|b| b.poll_timeout()),
            units.bulkhead.as_ref().and_then(|b| b.poll_timeout()),
        ]
        .into_iter()
        .flatten()
        .min();
        if let Some(timer) = units.bulkhead_timer.take() {
            kernel.cancel(timer);
        }
        if let Some(at) = next {
            let at = SimTime::from_nanos(at.max(now));
            units.bulkhead_timer = Some(kernel.timer_at(at, Event::PolicyWake { edge, unit }));
        }
    }
}
