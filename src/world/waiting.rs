//! Waiting for a bulkhead slot, and the timers of an edge's patterns: a
//! waiter admitted into a freed slot is sent, one whose wait or deadline ran
//! out fails; one timer per scope unit wakes the breaker and the bulkhead at
//! the earliest timeout either asks for.

use crate::kernel::{Kernel, SimTime};
use crate::patterns::breaker::Permit as BreakerPermit;
use crate::patterns::bulkhead::{Admitted, Expired, Ticket};

use super::draws::AttemptKind;
use super::slab::Key;
use super::{Event, Status, World};

impl World<'_> {
    /// Hands out what the bulkhead of a scope unit decided: expired waits
    /// fail, waiters admitted into freed slots are sent. The bulkhead keeps
    /// both until they are polled; its contract is that its owner drains
    /// them after every call into it, which bounds them by its queue.
    pub(super) fn drain_bulkhead(&mut self, kernel: &mut Kernel<Event>, edge: u32, unit: u32) {
        loop {
            let Some(bulkhead) = self
                .unit_state(edge, unit)
                .and_then(|s| s.bulkhead.as_mut())
            else {
                return;
            };
            if let Some(expired) = bulkhead.poll_expired() {
                self.wait_expired(kernel, edge, unit, expired);
            } else if let Some(admitted) = bulkhead.poll_admitted() {
                self.admit_waiter(kernel, edge, unit, admitted);
            } else {
                return;
            }
        }
    }

    /// The wait of `call` for `ticket` is over: what it held while waiting.
    /// `None` if the call has ended or no longer waits on that ticket.
    fn take_wait(
        &mut self,
        call: Key,
        ticket: Ticket,
    ) -> Option<(Option<BreakerPermit>, AttemptKind)> {
        let state = self.calls.get_mut(call)?;
        if state.waiting.as_ref().is_none_or(|w| w.0 != ticket) {
            return None;
        }
        let (_, breaker, kind) = *state.waiting.take()?;
        Some((breaker, kind))
    }

    /// A wait ran out: the attempt is refused as if the bulkhead were full.
    fn wait_expired(
        &mut self,
        kernel: &mut Kernel<Event>,
        edge: u32,
        unit: u32,
        expired: Expired<Key>,
    ) {
        let Some((breaker_permit, kind)) = self.take_wait(expired.waiter, expired.ticket) else {
            return;
        };
        let t = kernel.now().as_nanos();
        if let (Some(breaker), Some(permit)) = (
            self.unit_state(edge, unit).and_then(|s| s.breaker.as_mut()),
            breaker_permit,
        ) {
            breaker.release(permit, t);
        }
        self.local_failure(kernel, expired.waiter, kind, Status::BulkheadFull);
    }

    /// A waiter was given a bulkhead slot: send its attempt, unless its call
    /// is gone (the slot is given back) or its deadline passed while it
    /// waited (the slot is given back and the attempt fails as timed out).
    pub(super) fn admit_waiter(
        &mut self,
        kernel: &mut Kernel<Event>,
        edge: u32,
        unit: u32,
        admitted: Admitted<Key>,
    ) {
        let Admitted {
            ticket,
            permit,
            waiter: call,
        } = admitted;
        let now = kernel.now();
        let wait = self.take_wait(call, ticket);
        let expired = self
            .calls
            .get(call)
            .is_some_and(|s| s.deadline.expired(now.as_nanos()));
        let waited = wait.is_some();
        let (breaker_permit, kind) = match wait {
            Some((breaker, kind)) if !expired => {
                return self.send_attempt(kernel, call, kind, breaker, Some(permit));
            }
            Some(wait) => wait,
            None => (None, AttemptKind::First),
        };
        let units = self.unit_state(edge, unit).expect("unit exists");
        if let (Some(breaker), Some(permit)) = (&mut units.breaker, breaker_permit) {
            breaker.release(permit, now.as_nanos());
        }
        let next = units
            .bulkhead
            .as_mut()
            .and_then(|b| b.release(permit, now.as_nanos()));
        if waited {
            self.local_failure(kernel, call, kind, Status::Timeout);
        }
        if let Some(next) = next {
            self.admit_waiter(kernel, edge, unit, next);
        }
    }

    /// A policy unit's timer: breaker and bulkhead timeouts.
    pub(super) fn policy_wake(&mut self, kernel: &mut Kernel<Event>, edge: u32, unit: u32) {
        let t = kernel.now().as_nanos();
        let Some(units) = self.unit_state(edge, unit) else {
            return;
        };
        units.bulkhead_timer = None;
        if let Some(breaker) = &mut units.breaker {
            breaker.handle_timeout(t);
        }
        if let Some(bulkhead) = &mut units.bulkhead {
            bulkhead.handle_timeout(t);
        }
        self.drain_breaker(edge, unit);
        self.drain_bulkhead(kernel, edge, unit);
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
