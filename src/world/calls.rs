//! The caller's side of a call: its record, its attempts, and its end.
//!
//! A *call* is one logical request from a caller (a client on a route, or a
//! job at a service instance) to a service; an *attempt* is one message sent
//! for it. The patterns apply in the fixed order
//! deadline ∘ retry(budget) ∘ breaker ∘ bulkhead ∘ per-attempt timeout ∘ call;
//! the pieces live beside this file: `stack.rs` runs an attempt through the
//! stack, `waiting.rs` keeps the bulkhead waits and policy timers,
//! `retry.rs` decides retries and hedges, `client.rs` is the clients' side
//! of a route, and `balance.rs` picks the instance a message goes to.

use crate::kernel::{DrawKey, Kernel, SimDuration, SimTime};
use crate::metrics::Counts;
use crate::patterns::Nanos;
use crate::patterns::breaker::Permit as BreakerPermit;
use crate::patterns::bulkhead::{Permit as BulkheadPermit, Ticket};
use crate::patterns::deadline::Deadline;
use crate::patterns::retry::RetryState;

use super::draws::{self, AttemptKind, Message};
use super::fallback::{EdgeFallback, FallbackTo};
use super::policy::{EdgeState, Limiter};
use super::retry::Hedging;
use super::slab::Key;
use super::trace::SpanEnd;
use super::{Event, Reply, Status, World};

/// Who made a call.
#[derive(Clone, Copy, Debug)]
pub(super) enum Parent {
    /// A client request: its context (route, user, ...) is in the world's
    /// request slab.
    Client { request: Key },
    /// A downstream call made by a job.
    Job(Key),
    /// A call of a saga (`saga.rs`): its run, and which of its calls.
    Saga {
        /// The saga in memory, in the sagas' slab.
        run: Key,
        /// Its step, direction and attempt.
        call: super::saga::SagaCall,
    },
    /// A publish call of a producer (`broker/publish.rs`): its record.
    Publish(Key),
}

/// A call in progress.
pub(super) struct CallState {
    pub(super) parent: Parent,
    /// The request it serves (its context in the world's request slab).
    pub(super) request: Key,
    /// What its draws are about (see `draws.rs`).
    pub(super) draw: DrawKey,
    pub(super) edge: u32,
    pub(super) unit: u32,
    /// The network node of the caller.
    pub(super) caller: u32,
    /// When it started, and when the caller gives up on it (its timeout or
    /// its deadline, whichever is first; unbounded without either).
    /// When the caller gives up on the whole call (timeout or deadline).
    pub(super) deadline: Deadline,
    /// The deadline that travels with the request to the callee.
    pub(super) propagated: Option<SimTime>,
    /// The retry state, kept aside in `World::retries` (it is large, and
    /// most calls of most scenarios have none).
    pub(super) retry: Option<Key>,
    /// Attempts in flight.
    pub(super) live: u16,
    pub(super) retries: u16,
    pub(super) hedges: u16,
    pub(super) retry_timer: Option<crate::kernel::TimerId>,
    /// On an edge that hedges: the next hedge's timer and the attempts in
    /// flight. Boxed: most calls do not hedge.
    pub(super) hedging: Option<Box<Hedging>>,
    /// Waiting for a bulkhead slot, holding a breaker permit.
    /// Boxed: waiting is rare, and the box keeps every other call small.
    #[allow(clippy::type_complexity)]
    pub(super) waiting: Option<Box<(Ticket, Option<BreakerPermit>, AttemptKind)>>,
    pub(super) optional: bool,
    /// Some attempt of it ended without an answer (its timeout fired): it
    /// may have taken effect whatever the call's last outcome says.
    pub(super) unanswered: bool,
    /// The outcome of the last failed attempt.
    pub(super) last: Status,
    /// Its reply, with its retry-after hint if it had one (4 bytes: the
    /// record stays within 128).
    pub(super) hint: Reply,
}

/// One message sent for a call.
pub(super) struct AttemptState {
    pub(super) owner: Owner,
    /// What its draws are about: its call's key, its kind and number.
    pub(super) draw: DrawKey,
    pub(super) edge: u32,
    pub(super) unit: u32,
    pub(super) timer: Option<crate::kernel::TimerId>,
    pub(super) sent: SimTime,
    pub(super) breaker: Option<BreakerPermit>,
    pub(super) bulkhead: Option<BulkheadPermit>,
    /// The job it became at the callee, if the request was not lost (kept
    /// only for attempts that may be cancelled).
    pub(super) job: Option<Key>,
    /// The instance it was sent to (`u32::MAX` until it is sent), so that an
    /// outcome can be attributed to a host; set only when discovery figures
    /// are tracked (`World::discovery.tracked`), the only readers.
    pub(super) instance: u32,
    /// A hedge (not a call's first attempt or a retry).
    pub(super) hedge: bool,
}

/// Whose attempt this is.
pub(super) enum Owner {
    /// An attempt of a call with a policy.
    Call(Key),
    /// The only attempt of a call on an edge without a policy: the call
    /// needs no record of its own (the fast path of plain scenarios).
    Direct { parent: Parent, optional: bool },
}

pub(super) use super::status::counts_outcome;

mod abandon;

impl World<'_> {
    pub(super) fn bump(&mut self, edge: u32, f: impl Fn(&mut Counts)) {
        let stats = &mut self.edge_stats[edge as usize];
        f(&mut stats.window);
    }

    /// Starts a call on `edge` for `parent`; `draw` is the call's key and
    /// `inherited` the deadline that came with the parent's request.
    pub(super) fn start_call(
        &mut self,
        kernel: &mut Kernel<Event>,
        parent: Parent,
        draw: DrawKey,
        edge: u32,
        inherited: Option<SimTime>,
        optional: bool,
    ) {
        // The caller's network node, its scope unit on this edge, and the
        // request the call serves.
        let (caller, unit, request) = match parent {
            Parent::Client { request } => (self.client_node, 0, request),
            Parent::Job(job) => {
                let job = self.jobs.get(job).expect("a live job calls");
                let (instance, request) = (job.instance, job.request);
                let service = self.instances[instance as usize].service;
                let unit = if self.edges[edge as usize].units.len() > 1 {
                    instance - self.services[service as usize].first_instance
                } else {
                    0
                };
                (service, unit, request)
            }
            Parent::Saga { run, .. } => {
                // The saga outlives the request that started it: its
                // calls serve no client request.
                let instance = self.saga_instance(run);
                let service = self.instances[instance as usize].service;
                let unit = if self.edges[edge as usize].units.len() > 1 {
                    instance - self.services[service as usize].first_instance
                } else {
                    0
                };
                (service, unit, Key::DANGLING)
            }
            Parent::Publish(publish) => {
                // A publish serves the state change it announces, not a
                // request.
                let instance = self.publish_instance(publish);
                let service = self.instances[instance as usize].service;
                let unit = if self.edges[edge as usize].units.len() > 1 {
                    instance - self.services[service as usize].first_instance
                } else {
                    0
                };
                (service, unit, Key::DANGLING)
            }
        };
        let now = kernel.now();
        let model = &self.edges[edge as usize];
        if model.policy.is_none() {
            return self.start_direct_call(
                kernel, parent, request, draw, edge, unit, caller, inherited, optional,
            );
        }
        let policy = model.policy.map(|p| &self.policies[p as usize]);
        let own_deadline = policy
            .and_then(|p| p.deadline)
            .map(|d| now.saturating_add(d));
        let propagated = min_time(inherited, own_deadline);
        let deadline = give_up(now, propagated, model.give_up_after);
        let retry = policy
            .and_then(|p| p.retry.as_ref())
            .map(|p| self.retries.insert(RetryState::new(p)));
        let callee = model.callee;
        let call = self.calls.insert(CallState {
            parent,
            request,
            draw,
            edge,
            unit,
            caller,
            deadline,
            propagated,
            retry,
            live: 0,
            retries: 0,
            hedges: 0,
            retry_timer: None,
            hedging: None,
            waiting: None,
            optional,
            unanswered: false,
            last: Status::Internal,
            hint: Reply::of(Status::Internal),
        });
        if self.trace.is_some() {
            self.trace_call(call, parent, edge, now);
        }
        self.bump(edge, |c| c.requests += 1);
        let service = &mut self.service_stats[callee as usize];
        service.window.calls += 1;
        if let Some(Limiter::Tps(budget)) =
            self.unit_state(edge, unit).and_then(|s| s.limiter.as_mut())
        {
            budget.deposit(now.as_nanos());
        }
        self.try_attempt(kernel, call, AttemptKind::First);
    }

    pub(super) fn unit_state(&mut self, edge: u32, unit: u32) -> Option<&mut EdgeState> {
        self.edges[edge as usize].units.get_mut(unit as usize)
    }

    pub(super) fn send_attempt(
        &mut self,
        kernel: &mut Kernel<Event>,
        call: Key,
        kind: AttemptKind,
        breaker: Option<BreakerPermit>,
        bulkhead: Option<BulkheadPermit>,
    ) {
        let now = kernel.now();
        let state = self.calls.get_mut(call).expect("sending for a live call");
        let draw = next_attempt(state, kind);
        state.live += 1;
        let (edge, unit, caller, deadline, propagated, request) = (
            state.edge,
            state.unit,
            state.caller,
            state.deadline,
            state.propagated,
            state.request,
        );
        match kind {
            AttemptKind::First => {}
            AttemptKind::Retry => state.retries += 1,
            AttemptKind::Hedge => state.hedges += 1,
        }
        self.bump(edge, |c| {
            c.attempts += 1;
            match kind {
                AttemptKind::First => {}
                AttemptKind::Retry => c.retries += 1,
                AttemptKind::Hedge => c.hedges += 1,
            }
        });
        let model = &self.edges[edge as usize];
        let callee = model.callee;
        let timeout = attempt_timeout(model.attempt_timeout, &deadline, now);
        let attempt = self.attempts.insert(AttemptState {
            owner: Owner::Call(call),
            draw,
            edge,
            unit,
            timer: None,
            sent: now,
            breaker,
            bulkhead,
            job: None,
            instance: u32::MAX,
            hedge: kind == AttemptKind::Hedge,
        });
        if self.trace.is_some() {
            let n = match kind {
                AttemptKind::First => 0,
                AttemptKind::Retry => self.calls.get(call).map_or(0, |c| c.retries),
                AttemptKind::Hedge => self.calls.get(call).map_or(0, |c| c.hedges),
            };
            self.trace_attempt(attempt, Ok((call, kind, n)), edge, now);
        }
        // Only a hedging call may cancel its attempts: only it needs to know
        // their jobs.
        let mut cancellable = false;
        if let Some(hedging) = &mut self.calls.get_mut(call).expect("live").hedging {
            hedging.attempts.push(attempt);
            cancellable = true;
        }
        if let Some(timeout) = timeout {
            let timer = kernel.timer_in(timeout, Event::AttemptTimeout(attempt));
            self.attempts.get_mut(attempt).expect("just inserted").timer = Some(timer);
        }
        if kind == AttemptKind::First
            && let Some(plan) = self
                .unit_state(edge, unit)
                .and_then(|s| s.hedger.as_ref())
                .map(|h| h.start(now.as_nanos()))
            && let Some(due) = plan.poll_timeout()
        {
            let timer = kernel.timer_at(SimTime::from_nanos(due), Event::HedgeDue(call));
            let state = self.calls.get_mut(call).expect("live");
            debug_assert!(
                state.hedging.is_none(),
                "a call's first attempt is sent once"
            );
            state.hedging = Some(Box::new(Hedging {
                plan,
                timer: Some(timer),
                attempts: vec![attempt],
            }));
            cancellable = true;
        }
        self.send_job(
            kernel,
            attempt,
            draw,
            request,
            caller,
            callee,
            propagated,
            cancellable,
        );
    }

    /// A reply reached the caller of `attempt`, or its timeout fired.
    pub(super) fn attempt_done(&mut self, kernel: &mut Kernel<Event>, attempt: Key, reply: Reply) {
        let outcome = reply.status;
        let now = kernel.now();
        let Some(a) = self.attempts.remove(attempt) else {
            return; // Already timed out: a late reply is ignored.
        };
        if let Some(tracer) = self.trace.as_deref_mut() {
            tracer.attempt_end(attempt, now, SpanEnd::Status(outcome));
        }
        if outcome != Status::Timeout
            && let Some(timer) = a.timer
        {
            kernel.cancel(timer);
        }
        let (edge, unit) = (a.edge, a.unit);
        if outcome == Status::Ok {
            // An edge without a policy has one attempt per call: its
            // latency is the call's, recorded once; and a route's calls
            // are its requests, whose latency the route records.
            let stats = &mut self.edge_stats[edge as usize];
            match a.owner {
                Owner::Call(_) => stats.latency.attempt.record(now - a.sent),
                Owner::Direct { parent, .. } => {
                    if !matches!(parent, Parent::Client { .. }) {
                        stats.latency.call.record(now - a.sent);
                    }
                }
            }
        }
        if self.discovery.tracked {
            self.balancer_done(edge, unit, a.instance, a.sent, now);
            self.outlier_result(edge, unit, a.instance, outcome, now);
            self.count_outcome(a.instance, now, Some(outcome == Status::Ok));
        }
        if let Some(units) = self.edges[edge as usize].units.get_mut(unit as usize) {
            let t = now.as_nanos();
            if let (Some(breaker), Some(permit)) = (&mut units.breaker, a.breaker) {
                breaker.record(permit, outcome.as_pattern(), (now - a.sent).into(), t);
            }
            let mut admitted = None;
            if let (Some(bulkhead), Some(permit)) = (&mut units.bulkhead, a.bulkhead) {
                admitted = bulkhead.release(permit, t);
            }
            match &mut units.limiter {
                Some(Limiter::Grpc(throttle)) => match outcome {
                    Status::Ok => throttle.on_success(),
                    Status::Internal | Status::Timeout | Status::Unavailable => {
                        throttle.on_failure()
                    }
                    _ => {}
                },
                Some(Limiter::Adaptive(throttle)) => {
                    if matches!(outcome, Status::Ok | Status::Internal) {
                        throttle.record_accept(t);
                    }
                }
                _ => {}
            }
            // The hedge delay is estimated from attempts that are not hedges:
            // a hedge's latency is only seen when it wins (it is cancelled
            // or ignored otherwise), so hedges would bias the estimate low.
            if outcome == Status::Ok
                && !a.hedge
                && let Some(hedger) = &mut units.hedger
            {
                hedger.record_latency((now - a.sent).into());
            }
            self.drain_breaker(edge, unit);
            if let Some(admitted) = admitted {
                self.admit_waiter(kernel, edge, unit, admitted);
            }
            self.drain_bulkhead(kernel, edge, unit);
        }
        let call = match a.owner {
            Owner::Call(call) => call,
            Owner::Direct { parent, optional } => {
                return self.end_call(kernel, edge, parent, optional, reply);
            }
        };
        let Some(state) = self.calls.get_mut(call) else {
            return; // The call already ended (a hedge won, or it gave up).
        };
        state.live -= 1;
        if let Some(hedging) = &mut state.hedging {
            hedging.attempts.retain(|a| *a != attempt);
        }
        if outcome == Status::Ok {
            // The answer's flags (partial, over the limit) travel on.
            state.hint = reply;
            self.finish_call(kernel, call, Status::Ok);
        } else {
            self.after_attempt(kernel, call, outcome, reply.retry_after());
        }
    }

    /// Cancels an attempt of a call that has ended (a hedge won): its timeout
    /// is cancelled, its breaker permit and bulkhead slot are given back at
    /// once (the breaker records nothing: a cancelled attempt neither failed
    /// nor succeeded), and a cancel message goes to the callee over the
    /// network, which drops the job if it has not started by then. A reply
    /// that still comes finds no attempt and is ignored.
    pub(super) fn cancel_attempt(&mut self, kernel: &mut Kernel<Event>, attempt: Key) {
        let Some(a) = self.attempts.remove(attempt) else {
            return;
        };
        if let Some(tracer) = self.trace.as_deref_mut() {
            tracer.attempt_end(attempt, kernel.now(), SpanEnd::Cancelled);
        }
        if let Some(timer) = a.timer {
            kernel.cancel(timer);
        }
        let (edge, unit) = (a.edge, a.unit);
        if self.discovery.tracked {
            self.balancer_done(edge, unit, a.instance, a.sent, kernel.now());
            self.count_outcome(a.instance, kernel.now(), None);
        }
        if let Some(units) = self.edges[edge as usize].units.get_mut(unit as usize) {
            let t = kernel.now().as_nanos();
            if let (Some(breaker), Some(permit)) = (&mut units.breaker, a.breaker) {
                breaker.release(permit, t);
            }
            // A first attempt that lost to its hedge took at least this
            // long: without it, the latencies the hedge delay is estimated
            // from would be only the winners' (survivorship bias), the
            // estimate would fall, and hedges would multiply.
            if !a.hedge
                && let Some(hedger) = &mut units.hedger
            {
                hedger.record_latency((kernel.now() - a.sent).into());
            }
            let mut admitted = None;
            if let (Some(bulkhead), Some(permit)) = (&mut units.bulkhead, a.bulkhead) {
                admitted = bulkhead.release(permit, t);
            }
            self.drain_breaker(edge, unit);
            if let Some(admitted) = admitted {
                self.admit_waiter(kernel, edge, unit, admitted);
            }
            self.drain_bulkhead(kernel, edge, unit);
        }
        // The request was lost, or its job has already ended (its reply is
        // on the way): nothing to tell the callee.
        let Some(job) = a.job.and_then(|key| self.jobs.get(key).map(|j| (key, j))) else {
            return;
        };
        let (key, caller, caller_zone, instance) =
            (job.0, job.1.caller, job.1.caller_zone, job.1.instance);
        let service = self.instances[instance as usize].service;
        let sent = match self.zones.as_deref() {
            None => {
                self.network
                    .transmit(caller as usize, service as usize, Message::Cancel, a.draw)
            }
            Some(zones) => {
                let zone = zones.instance[instance as usize];
                self.transmit_zoned(
                    (caller, caller_zone),
                    (service, zone),
                    Message::Cancel,
                    a.draw,
                )
            }
        };
        match sent {
            Some(delay) if delay.is_zero() => self.cancel_job(key),
            Some(delay) => kernel.schedule_in(delay, Event::Cancel(key)),
            None => {} // The cancellation was lost.
        }
    }

    /// A call on an edge without a policy: one attempt, no call record.
    /// Behaves exactly as the general path does for such an edge.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn start_direct_call(
        &mut self,
        kernel: &mut Kernel<Event>,
        parent: Parent,
        request: Key,
        call: DrawKey,
        edge: u32,
        unit: u32,
        caller: u32,
        inherited: Option<SimTime>,
        optional: bool,
    ) {
        let now = kernel.now();
        let model = &self.edges[edge as usize];
        let callee = model.callee;
        let deadline = give_up(now, inherited, model.give_up_after);
        let timeout = attempt_timeout(model.attempt_timeout, &deadline, now);
        let service = &mut self.service_stats[callee as usize];
        service.window.calls += 1;
        if deadline.expired(now.as_nanos()) {
            // The inherited deadline has passed: nothing is sent, as on the
            // general path.
            self.bump(edge, |c| c.requests += 1);
            return self.end_call(kernel, edge, parent, optional, Reply::of(Status::Timeout));
        }
        self.bump(edge, |c| {
            c.requests += 1;
            c.attempts += 1;
        });
        let draw = draws::attempt(call, AttemptKind::First, 0);
        let attempt = self.attempts.insert(AttemptState {
            owner: Owner::Direct { parent, optional },
            draw,
            edge,
            // Towards a discovered service, the calling instance's view.
            unit,
            timer: None,
            sent: now,
            breaker: None,
            bulkhead: None,
            job: None,
            instance: u32::MAX,
            hedge: false,
        });
        if self.trace.is_some() {
            self.trace_attempt(attempt, Err(parent), edge, now);
        }
        if let Some(timeout) = timeout {
            let timer = kernel.timer_in(timeout, Event::AttemptTimeout(attempt));
            self.attempts.get_mut(attempt).expect("just inserted").timer = Some(timer);
        }
        self.send_job(
            kernel, attempt, draw, request, caller, callee, inherited, false,
        );
    }

    /// Ends a call and tells its parent.
    pub(super) fn finish_call(&mut self, kernel: &mut Kernel<Event>, call: Key, outcome: Status) {
        let now = kernel.now();
        let Some(mut state) = self.calls.remove(call) else {
            return;
        };
        if let Some(tracer) = self.trace.as_deref_mut() {
            tracer.call_end(call, now, SpanEnd::Status(outcome));
        }
        let hedge_timer = state.hedging.as_ref().and_then(|h| h.timer);
        for timer in [state.retry_timer, hedge_timer].into_iter().flatten() {
            kernel.cancel(timer);
        }
        if let Some(retry) = state.retry {
            self.retries.remove(retry);
        }
        if outcome == Status::Ok
            && let Some(EdgeFallback {
                to: FallbackTo::Cached(_),
                ..
            }) = self.edges[state.edge as usize].fallback
        {
            self.remember_success(&state, now);
        }
        if outcome == Status::Ok && !matches!(state.parent, Parent::Client { .. }) {
            // The whole call: from its start, retries and hedges included
            // (a route's is its requests' latency, recorded by the route).
            let started = SimTime::from_nanos(state.deadline.start());
            self.edge_stats[state.edge as usize]
                .latency
                .call
                .record(now - started);
        }
        // Give up the wait for a bulkhead slot first: a slot that cancelling a
        // loser frees must not go to this call, which is gone.
        let waited = state.waiting.is_some();
        if let Some((ticket, permit, _)) = state.waiting.take().map(|w| *w)
            && let Some(units) = self.edges[state.edge as usize]
                .units
                .get_mut(state.unit as usize)
        {
            if let Some(bulkhead) = &mut units.bulkhead {
                let _ = bulkhead.cancel(ticket, now.as_nanos());
            }
            if let (Some(breaker), Some(permit)) = (&mut units.breaker, permit) {
                breaker.release(permit, now.as_nanos());
            }
        }
        // Attempts still in flight lost the race (or the call gave up):
        // cancel them, if the policy says so.
        if let Some(hedging) = &state.hedging
            && !hedging.attempts.is_empty()
            && self.edges[state.edge as usize]
                .policy
                .is_some_and(|p| self.policies[p as usize].cancel_losers)
        {
            for &attempt in &hedging.attempts {
                self.cancel_attempt(kernel, attempt);
            }
        }
        match self.edges[state.edge as usize].fallback {
            Some(fallback) if outcome != Status::Ok && fallback.covers(outcome) => {
                self.fall_back(kernel, &state, fallback.to, outcome);
            }
            _ => {
                // A refusal's retry-after travels on, so that a gateway can
                // pass it back to its client.
                let mut reply = if outcome == state.hint.status {
                    state.hint
                } else {
                    Reply::of(outcome)
                };
                if outcome != Status::Ok
                    && (state.retries + state.hedges > 0 || state.unanswered)
                    && matches!(state.parent, Parent::Saga { .. })
                {
                    // Any of its attempts may have taken effect: a saga
                    // must treat the failure as an unknown outcome.
                    reply = reply.unsure();
                }
                self.end_call(kernel, state.edge, state.parent, state.optional, reply)
            }
        }
        if waited {
            // Cancelling the wait ran the bulkhead's housekeeping: hand out
            // what it decided for the other waiters.
            self.drain_bulkhead(kernel, state.edge, state.unit);
        }
    }

    /// Counts a call's outcome on its edge and tells its parent; a
    /// fallback call's end is told as the end of the call it stood in for.
    pub(super) fn end_call(
        &mut self,
        kernel: &mut Kernel<Event>,
        edge: u32,
        parent: Parent,
        optional: bool,
        reply: Reply,
    ) {
        let outcome = reply.status;
        self.bump(edge, |c| counts_outcome(c, outcome));
        let edge = match self.edges[edge as usize].fallback_of {
            None => edge,
            Some(of) => {
                self.fallback_ended(of, parent, outcome == Status::Ok);
                of
            }
        };
        self.tell_parent(kernel, edge, parent, optional, reply);
    }

    /// Tells the parent of a call on `edge` how it ended.
    #[inline(always)]
    pub(super) fn tell_parent(
        &mut self,
        kernel: &mut Kernel<Event>,
        edge: u32,
        parent: Parent,
        optional: bool,
        reply: Reply,
    ) {
        let outcome = reply.status;
        match parent {
            Parent::Client { request } => {
                if self.phases.recording() {
                    self.count_route_phase(request, outcome, kernel.now());
                }
                self.client_done(kernel, request, outcome)
            }
            Parent::Job(job) => self.child_done(kernel, job, reply, optional, edge),
            Parent::Saga { run, call } => self.saga_call_done(kernel, run, call, reply),
            Parent::Publish(publish) => self.publish_done(kernel, publish, reply),
        }
    }
}

/// When a call starting at `now` is given up: at the deadline it inherited
/// or its own, or after the client's `give_up_after`, whichever is first.
pub(super) fn give_up(
    now: SimTime,
    deadline: Option<SimTime>,
    give_up_after: Option<SimDuration>,
) -> Deadline {
    let client = give_up_after.map(|d| now.saturating_add(d));
    match min_time(deadline, client) {
        Some(at) => Deadline::new(now.as_nanos(), at.saturating_since(now).into()),
        None => Deadline::unbounded(now.as_nanos()),
    }
}

/// An attempt's timeout: the per-attempt timeout clipped to what is left of
/// the call's deadline (`patterns::deadline`, as gRPC and Envoy clip a
/// per-try timeout), or what is left when there is no per-attempt timeout;
/// none when neither bounds it.
pub(super) fn attempt_timeout(
    per_attempt: Option<SimDuration>,
    deadline: &Deadline,
    now: SimTime,
) -> Option<SimDuration> {
    let bounded = deadline.at() != Nanos::MAX;
    let per_attempt = match (per_attempt, bounded) {
        (Some(t), _) => t.into(),
        (None, true) => std::time::Duration::MAX,
        (None, false) => return None,
    };
    let timeout = deadline.attempt_timeout(now.as_nanos(), per_attempt);
    Some(SimDuration::from_nanos(
        u64::try_from(timeout.as_nanos()).unwrap_or(u64::MAX),
    ))
}

/// The key of the attempt of `kind` that `call` would send next.
pub(super) fn next_attempt(call: &CallState, kind: AttemptKind) -> DrawKey {
    match kind {
        AttemptKind::First => draws::attempt(call.draw, kind, 0),
        AttemptKind::Retry => draws::attempt(call.draw, kind, call.retries + 1),
        AttemptKind::Hedge => draws::attempt(call.draw, kind, call.hedges + 1),
    }
}

pub(super) fn min_time(a: Option<SimTime>, b: Option<SimTime>) -> Option<SimTime> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, None) => a,
        (None, b) => b,
    }
}

impl From<SimDuration> for std::time::Duration {
    fn from(d: SimDuration) -> std::time::Duration {
        std::time::Duration::from_nanos(d.as_nanos())
    }
}
