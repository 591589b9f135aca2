//! The policy stack on an edge, run for one attempt: the retry budget or
//! throttle, the rate limit, the circuit breaker and the bulkhead, in that
//! order; an attempt that passes is sent, one that is refused fails locally.

use crate::kernel::{Kernel, SimTime};
use crate::metrics::BreakerEvent;
use crate::patterns::breaker::BreakerState;
use crate::patterns::bulkhead::Enter;

use super::calls::next_attempt;
use super::draws::AttemptKind;
use super::policy::Limiter;
use super::slab::Key;
use super::{Event, Status, World};

/// Upper bound on breaker transitions kept for the report.
const MAX_BREAKER_EVENTS: usize = 1_000_000;

impl World<'_> {
    /// Runs an attempt through the policy stack and sends it, or fails it
    /// locally.
    pub(super) fn try_attempt(&mut self, kernel: &mut Kernel<Event>, call: Key, kind: AttemptKind) {
        let now = kernel.now();
        let Some(state) = self.calls.get(call) else {
            return;
        };
        let (edge, unit, deadline) = (state.edge, state.unit, state.deadline);
        let next = next_attempt(state, kind);
        if deadline.expired(now.as_nanos()) {
            if kind != AttemptKind::Hedge {
                self.after_attempt(kernel, call, Status::Timeout, None);
            }
            return;
        }
        let draws = self.draws;
        let edge_model = &mut self.edges[edge as usize];
        let Some(units) = edge_model.units.get_mut(unit as usize) else {
            self.send_attempt(kernel, call, kind, None, None);
            return;
        };
        // Retry budget: every retry and hedge must be allowed.
        if kind != AttemptKind::First {
            let allowed = match &mut units.limiter {
                Some(Limiter::Tps(budget)) => budget.try_withdraw(now.as_nanos()),
                Some(Limiter::Grpc(throttle)) => throttle.allows_retry(),
                _ => true,
            };
            if !allowed {
                self.bump(edge, |c| c.retries_denied += 1);
                if self.trace.is_some() {
                    let denied =
                        super::trace::MarkKind::RetryDenied(super::trace::attempt_of(kind));
                    self.trace_mark(call, now, denied);
                }
                if kind == AttemptKind::Retry {
                    // The caller sees the failure of its last attempt.
                    let last = self.calls.get(call).expect("live").last;
                    self.finish_call(kernel, call, last);
                }
                return;
            }
        }
        if let Some(Limiter::Adaptive(throttle)) = &mut units.limiter
            && !throttle.try_send(now.as_nanos(), &mut draws.throttle(next))
        {
            return self.local_failure(kernel, call, kind, Status::Throttled);
        }
        if let Some(bucket) = &mut units.rate_limit
            && bucket.try_acquire(now.as_nanos()).is_err()
        {
            return self.local_failure(kernel, call, kind, Status::RateLimited);
        }
        let breaker_permit = match &mut units.breaker {
            Some(breaker) => match breaker.try_acquire(now.as_nanos()) {
                Ok(permit) => Some(permit),
                Err(_) => {
                    self.drain_breaker(edge, unit);
                    return self.local_failure(kernel, call, kind, Status::BreakerOpen);
                }
            },
            None => None,
        };
        let units = self.edges[edge as usize]
            .units
            .get_mut(unit as usize)
            .expect("unit exists");
        let bulkhead_permit = match &mut units.bulkhead {
            // The bulkhead remembers who waits: the call's key rides with
            // its ticket, and comes back when the wait ends.
            Some(bulkhead) => match bulkhead.try_enter(now.as_nanos(), call) {
                Enter::Admitted(permit) => Some(permit),
                Enter::Queued(ticket) => {
                    self.calls.get_mut(call).expect("live").waiting =
                        Some(Box::new((ticket, breaker_permit, kind)));
                    self.schedule_wake(kernel, edge, unit);
                    self.drain_bulkhead(kernel, edge, unit);
                    return;
                }
                Enter::Rejected => {
                    if let (Some(breaker), Some(permit)) = (&mut units.breaker, breaker_permit) {
                        breaker.release(permit, now.as_nanos());
                    }
                    self.drain_breaker(edge, unit);
                    self.local_failure(kernel, call, kind, Status::BulkheadFull);
                    return self.drain_bulkhead(kernel, edge, unit);
                }
            },
            None => None,
        };
        self.drain_breaker(edge, unit);
        let bulkhead = bulkhead_permit.is_some();
        self.send_attempt(kernel, call, kind, breaker_permit, bulkhead_permit);
        if bulkhead {
            self.drain_bulkhead(kernel, edge, unit);
        }
    }

    /// An attempt refused before it was sent. A refused hedge changes
    /// nothing; any other refusal is a failed attempt.
    pub(super) fn local_failure(
        &mut self,
        kernel: &mut Kernel<Event>,
        call: Key,
        kind: AttemptKind,
        outcome: Status,
    ) {
        if self.trace.is_some() {
            self.trace_refused(call, kernel.now(), kind, outcome);
        }
        if kind != AttemptKind::Hedge {
            return self.after_attempt(kernel, call, outcome, None);
        }
        // A refused hedge changes nothing, unless it was the last hope: the
        // first attempt ended while the hedge waited (for a bulkhead slot).
        if let Some(state) = self.calls.get(call)
            && state.live == 0
            && state.waiting.is_none()
        {
            let last = state.last;
            self.after_attempt(kernel, call, last, None);
        }
    }

    /// Moves the breaker's transitions into the report and the open count.
    pub(super) fn drain_breaker(&mut self, edge: u32, unit: u32) {
        let Some(breaker) = self.edges[edge as usize]
            .units
            .get_mut(unit as usize)
            .and_then(|s| s.breaker.as_mut())
        else {
            return;
        };
        while let Some(transition) = breaker.poll_transition() {
            let stats = &mut self.edge_stats[edge as usize];
            if is_open(transition.to) && !is_open(transition.from) {
                stats.breakers_open += 1;
            } else if is_open(transition.from) && !is_open(transition.to) {
                stats.breakers_open -= 1;
            }
            *self.breaker_transitions[edge as usize]
                .entry((state_name(transition.from), state_name(transition.to)))
                .or_insert(0) += 1;
            if self.breaker_events.len() < MAX_BREAKER_EVENTS {
                self.breaker_events.push(BreakerEvent {
                    at: SimTime::from_nanos(transition.at),
                    edge,
                    unit,
                    from: state_name(transition.from),
                    to: state_name(transition.to),
                });
            } else {
                self.breaker_events_dropped += 1;
            }
        }
    }
}
fn state_name(state: BreakerState) -> &'static str {
    match state {
        BreakerState::Closed => "closed",
        BreakerState::Open => "open",
        BreakerState::HalfOpen => "half_open",
        BreakerState::Disabled => "disabled",
        BreakerState::ForcedOpen => "forced_open",
        BreakerState::MetricsOnly => "metrics_only",
    }
}

fn is_open(state: BreakerState) -> bool {
    matches!(state, BreakerState::Open | BreakerState::ForcedOpen)
}
