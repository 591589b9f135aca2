//! The caller's side of a call: the policy stack on an edge, attempts,
//! retries, hedges, and the end of a call.
//!
//! A *call* is one logical request from a caller (a client on a route, or a
//! job at a service instance) to a service; an *attempt* is one message sent
//! for it. The patterns apply in the fixed order
//! deadline ∘ retry(budget) ∘ breaker ∘ bulkhead ∘ per-attempt timeout ∘ call.

use crate::kernel::{DrawKey, Kernel, SimDuration, SimTime};
use crate::metrics::{BreakerEvent, Counts};
use crate::patterns::breaker::{BreakerState, Permit as BreakerPermit};
use crate::patterns::bulkhead::{Enter, Permit as BulkheadPermit, Ticket};
use crate::patterns::retry::RetryState;

use super::draws::{self, AttemptKind, Message};
use super::policy::{EdgeState, Limiter};
use super::slab::Key;
use super::{Event, Job, JobState, Outcome, World};

/// Upper bound on breaker transitions kept for the report.
const MAX_BREAKER_EVENTS: usize = 1_000_000;

/// Who made a call.
#[derive(Clone, Copy, Debug)]
pub(super) enum Parent {
    /// A client request on a route; `user` is the closed-loop user, if any.
    Client { route: u32, user: Option<u32> },
    /// A downstream call made by a job.
    Job(Key),
}

/// A call in progress.
pub(super) struct CallState {
    parent: Parent,
    /// What its draws are about (see `draws.rs`).
    draw: DrawKey,
    edge: u32,
    unit: u32,
    /// The network node of the caller.
    caller: u32,
    started: SimTime,
    /// When the caller gives up on the whole call (timeout or deadline).
    give_up_at: Option<SimTime>,
    /// The deadline that travels with the request to the callee.
    propagated: Option<SimTime>,
    /// The retry state, kept aside in `World::retries` (it is large, and
    /// most calls of most scenarios have none).
    retry: Option<Key>,
    /// Attempts in flight.
    live: u16,
    retries: u16,
    hedges: u16,
    retry_timer: Option<crate::kernel::TimerId>,
    /// On an edge that hedges: the next hedge's timer and the attempts in
    /// flight. Boxed: most calls do not hedge.
    hedging: Option<Box<Hedging>>,
    /// Waiting for a bulkhead slot, holding a breaker permit.
    /// Boxed: waiting is rare, and the box keeps every other call small.
    #[allow(clippy::type_complexity)]
    waiting: Option<Box<(Ticket, Option<BreakerPermit>, AttemptKind)>>,
    optional: bool,
    /// The outcome of the last failed attempt.
    last: Outcome,
}

/// A hedging call's own state.
#[derive(Default)]
struct Hedging {
    timer: Option<crate::kernel::TimerId>,
    /// Attempts in flight (at most 1 + `max_hedges`), to cancel the losers.
    attempts: Vec<Key>,
}

/// One message sent for a call.
pub(super) struct AttemptState {
    owner: Owner,
    /// What its draws are about: its call's key, its kind and number.
    draw: DrawKey,
    edge: u32,
    unit: u32,
    timer: Option<crate::kernel::TimerId>,
    sent: SimTime,
    breaker: Option<BreakerPermit>,
    bulkhead: Option<BulkheadPermit>,
    /// The job it became at the callee, if the request was not lost.
    job: Option<Key>,
    /// A hedge (not a call's first attempt or a retry).
    hedge: bool,
}

/// Whose attempt this is.
enum Owner {
    /// An attempt of a call with a policy.
    Call(Key),
    /// The only attempt of a call on an edge without a policy: the call
    /// needs no record of its own (the fast path of plain scenarios).
    Direct { parent: Parent, optional: bool },
}

fn counts_outcome(counts: &mut Counts, outcome: Outcome) {
    match outcome {
        Outcome::Success => counts.successes += 1,
        Outcome::Error => counts.errors += 1,
        Outcome::Rejected => counts.rejected += 1,
        Outcome::Timeout => counts.timeouts += 1,
        Outcome::BreakerOpen => counts.breaker_open += 1,
        Outcome::BulkheadFull => counts.bulkhead_full += 1,
        Outcome::Throttled => counts.throttled += 1,
        Outcome::RateLimited => counts.rate_limited += 1,
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

impl World<'_> {
    fn bump(&mut self, edge: u32, f: impl Fn(&mut Counts)) {
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
        // The caller's network node, and its scope unit on this edge.
        let (caller, unit) = match parent {
            Parent::Client { .. } => (self.client_node, 0),
            Parent::Job(job) => {
                let instance = self.jobs.get(job).expect("a live job calls").instance;
                let service = self.instances[instance as usize].service;
                let unit = if self.edges[edge as usize].units.len() > 1 {
                    instance - self.services[service as usize].first_instance
                } else {
                    0
                };
                (service, unit)
            }
        };
        let now = kernel.now();
        let model = &self.edges[edge as usize];
        if model.policy.is_none() {
            return self.start_direct_call(kernel, parent, draw, edge, caller, inherited, optional);
        }
        let policy = model.policy.map(|p| &self.policies[p as usize]);
        let own_deadline = policy
            .and_then(|p| p.deadline)
            .map(|d| now.saturating_add(d));
        let propagated = min_time(inherited, own_deadline);
        let give_up_at = min_time(
            propagated,
            model.give_up_after.map(|d| now.saturating_add(d)),
        );
        let retry = policy
            .and_then(|p| p.retry.as_ref())
            .map(|p| self.retries.insert(RetryState::new(p)));
        let callee = model.callee;
        let call = self.calls.insert(CallState {
            parent,
            draw,
            edge,
            unit,
            caller,
            started: now,
            give_up_at,
            propagated,
            retry,
            live: 0,
            retries: 0,
            hedges: 0,
            retry_timer: None,
            hedging: None,
            waiting: None,
            optional,
            last: Outcome::Error,
        });
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

    fn unit_state(&mut self, edge: u32, unit: u32) -> Option<&mut EdgeState> {
        self.edges[edge as usize].units.get_mut(unit as usize)
    }

    /// Runs an attempt through the policy stack and sends it, or fails it
    /// locally.
    fn try_attempt(&mut self, kernel: &mut Kernel<Event>, call: Key, kind: AttemptKind) {
        let now = kernel.now();
        let Some(state) = self.calls.get(call) else {
            return;
        };
        let (edge, unit, give_up_at) = (state.edge, state.unit, state.give_up_at);
        let next = next_attempt(state, kind);
        if give_up_at.is_some_and(|at| now >= at) {
            if kind != AttemptKind::Hedge {
                self.after_attempt(kernel, call, Outcome::Timeout);
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
            return self.local_failure(kernel, call, kind, Outcome::Throttled);
        }
        if let Some(bucket) = &mut units.rate_limit
            && bucket.try_acquire(now.as_nanos()).is_err()
        {
            return self.local_failure(kernel, call, kind, Outcome::RateLimited);
        }
        let breaker_permit = match &mut units.breaker {
            Some(breaker) => match breaker.try_acquire(now.as_nanos()) {
                Ok(permit) => Some(permit),
                Err(_) => {
                    self.drain_breaker(edge, unit);
                    return self.local_failure(kernel, call, kind, Outcome::BreakerOpen);
                }
            },
            None => None,
        };
        let units = self.edges[edge as usize]
            .units
            .get_mut(unit as usize)
            .expect("unit exists");
        let bulkhead_permit = match &mut units.bulkhead {
            Some(bulkhead) => match bulkhead.try_enter(now.as_nanos()) {
                Enter::Admitted(permit) => Some(permit),
                Enter::Queued(ticket) => {
                    units.waiting.push_back((ticket, call));
                    self.calls.get_mut(call).expect("live").waiting =
                        Some(Box::new((ticket, breaker_permit, kind)));
                    self.schedule_wake(kernel, edge, unit);
                    return;
                }
                Enter::Rejected => {
                    if let (Some(breaker), Some(permit)) = (&mut units.breaker, breaker_permit) {
                        breaker.release(permit, now.as_nanos());
                    }
                    self.drain_breaker(edge, unit);
                    return self.local_failure(kernel, call, kind, Outcome::BulkheadFull);
                }
            },
            None => None,
        };
        self.drain_breaker(edge, unit);
        self.send_attempt(kernel, call, kind, breaker_permit, bulkhead_permit);
    }

    /// An attempt refused before it was sent. A refused hedge changes
    /// nothing; any other refusal is a failed attempt.
    fn local_failure(
        &mut self,
        kernel: &mut Kernel<Event>,
        call: Key,
        kind: AttemptKind,
        outcome: Outcome,
    ) {
        if kind != AttemptKind::Hedge {
            return self.after_attempt(kernel, call, outcome);
        }
        // A refused hedge changes nothing, unless it was the last hope: the
        // first attempt ended while the hedge waited (for a bulkhead slot).
        if let Some(state) = self.calls.get(call)
            && state.live == 0
            && state.waiting.is_none()
        {
            let last = state.last;
            self.after_attempt(kernel, call, last);
        }
    }

    fn send_attempt(
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
        let (edge, unit, caller, give_up_at, propagated) = (
            state.edge,
            state.unit,
            state.caller,
            state.give_up_at,
            state.propagated,
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
        let timeout = attempt_timeout(model.attempt_timeout, give_up_at, now);
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
            hedge: kind == AttemptKind::Hedge,
        });
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
            && let Some(delay) = self
                .unit_state(edge, unit)
                .and_then(|s| s.hedger.as_ref())
                .and_then(|h| h.hedge_delay())
        {
            let timer = kernel.timer_in(
                SimDuration::from_nanos(delay.as_nanos() as u64),
                Event::HedgeDue(call),
            );
            let state = self.calls.get_mut(call).expect("live");
            let hedging = state.hedging.get_or_insert_with(Box::default);
            hedging.timer = Some(timer);
            if hedging.attempts.is_empty() {
                hedging.attempts.push(attempt);
            }
            cancellable = true;
        }
        self.send_job(
            kernel,
            attempt,
            draw,
            caller,
            callee,
            propagated,
            cancellable,
        );
    }

    /// A reply reached the caller of `attempt`, or its timeout fired.
    pub(super) fn attempt_done(
        &mut self,
        kernel: &mut Kernel<Event>,
        attempt: Key,
        outcome: Outcome,
    ) {
        let now = kernel.now();
        let Some(a) = self.attempts.remove(attempt) else {
            return; // Already timed out: a late reply is ignored.
        };
        if outcome != Outcome::Timeout
            && let Some(timer) = a.timer
        {
            kernel.cancel(timer);
        }
        let (edge, unit) = (a.edge, a.unit);
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
                    Outcome::Success => throttle.on_success(),
                    Outcome::Error | Outcome::Timeout | Outcome::Rejected => throttle.on_failure(),
                    _ => {}
                },
                Some(Limiter::Adaptive(throttle)) => {
                    if matches!(outcome, Outcome::Success | Outcome::Error) {
                        throttle.record_accept(t);
                    }
                }
                _ => {}
            }
            // The hedge delay is estimated from attempts that are not hedges:
            // a hedge's latency is only seen when it wins (it is cancelled
            // or ignored otherwise), so hedges would bias the estimate low.
            if outcome == Outcome::Success
                && !a.hedge
                && let Some(hedger) = &mut units.hedger
            {
                hedger.record_latency((now - a.sent).into());
            }
            self.drain_breaker(edge, unit);
            if let Some((ticket, permit)) = admitted {
                self.admit_waiter(kernel, edge, unit, ticket, permit);
            }
        }
        let call = match a.owner {
            Owner::Call(call) => call,
            Owner::Direct { parent, optional } => {
                return self.end_call(kernel, edge, parent, a.sent, optional, outcome);
            }
        };
        let Some(state) = self.calls.get_mut(call) else {
            return; // The call already ended (a hedge won, or it gave up).
        };
        state.live -= 1;
        if let Some(hedging) = &mut state.hedging {
            hedging.attempts.retain(|a| *a != attempt);
        }
        if outcome == Outcome::Success {
            self.finish_call(kernel, call, Outcome::Success);
        } else {
            self.after_attempt(kernel, call, outcome);
        }
    }

    /// Cancels an attempt of a call that has ended (a hedge won): its timeout
    /// is cancelled, its breaker permit and bulkhead slot are given back at
    /// once (the breaker records nothing: a cancelled attempt neither failed
    /// nor succeeded), and a cancel message goes to the callee over the
    /// network, which drops the job if it has not started by then. A reply
    /// that still comes finds no attempt and is ignored.
    fn cancel_attempt(&mut self, kernel: &mut Kernel<Event>, attempt: Key) {
        let Some(a) = self.attempts.remove(attempt) else {
            return;
        };
        if let Some(timer) = a.timer {
            kernel.cancel(timer);
        }
        let (edge, unit) = (a.edge, a.unit);
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
            if let Some((ticket, permit)) = admitted {
                self.admit_waiter(kernel, edge, unit, ticket, permit);
            }
        }
        // The request was lost, or its job has already ended (its reply is
        // on the way): nothing to tell the callee.
        let Some(job) = a.job.and_then(|key| self.jobs.get(key).map(|j| (key, j))) else {
            return;
        };
        let (key, caller) = (job.0, job.1.caller);
        let service = self.instances[job.1.instance as usize].service;
        match self
            .network
            .transmit(caller as usize, service as usize, Message::Cancel, a.draw)
        {
            Some(delay) if delay.is_zero() => self.cancel_job(key),
            Some(delay) => kernel.schedule_in(delay, Event::Cancel(key)),
            None => {} // The cancellation was lost.
        }
    }

    /// A call on an edge without a policy: one attempt, no call record.
    /// Behaves exactly as the general path does for such an edge.
    #[allow(clippy::too_many_arguments)]
    fn start_direct_call(
        &mut self,
        kernel: &mut Kernel<Event>,
        parent: Parent,
        call: DrawKey,
        edge: u32,
        caller: u32,
        inherited: Option<SimTime>,
        optional: bool,
    ) {
        let now = kernel.now();
        let model = &self.edges[edge as usize];
        let callee = model.callee;
        let give_up_at = min_time(
            inherited,
            model.give_up_after.map(|d| now.saturating_add(d)),
        );
        let timeout = attempt_timeout(model.attempt_timeout, give_up_at, now);
        let service = &mut self.service_stats[callee as usize];
        service.window.calls += 1;
        if give_up_at.is_some_and(|at| now >= at) {
            // The inherited deadline has passed: nothing is sent, as on the
            // general path.
            self.bump(edge, |c| c.requests += 1);
            return self.end_call(kernel, edge, parent, now, optional, Outcome::Timeout);
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
            unit: 0,
            timer: None,
            sent: now,
            breaker: None,
            bulkhead: None,
            job: None,
            hedge: false,
        });
        if let Some(timeout) = timeout {
            let timer = kernel.timer_in(timeout, Event::AttemptTimeout(attempt));
            self.attempts.get_mut(attempt).expect("just inserted").timer = Some(timer);
        }
        self.send_job(kernel, attempt, draw, caller, callee, inherited, false);
    }

    /// After a failed attempt: retry after a backoff, wait for a hedge still
    /// in flight, or end the call.
    fn after_attempt(&mut self, kernel: &mut Kernel<Event>, call: Key, outcome: Outcome) {
        let now = kernel.now();
        let Some(state) = self.calls.get_mut(call) else {
            return;
        };
        state.last = outcome;
        if state.live > 0 || state.waiting.is_some() {
            return;
        }
        if let Some(retry) = state.retry.and_then(|key| self.retries.get_mut(key)) {
            let remaining = match state.give_up_at {
                Some(at) => at.saturating_since(now).into(),
                None => std::time::Duration::MAX,
            };
            let mut rng = self.draws.jitter(next_attempt(state, AttemptKind::Retry));
            if let Some(delay) =
                retry.next_delay_within(outcome.as_pattern(), None, remaining, &mut rng)
            {
                if let Some(timer) = state.hedging.as_mut().and_then(|h| h.timer.take()) {
                    kernel.cancel(timer);
                }
                let timer = kernel.timer_in(
                    SimDuration::from_nanos(delay.as_nanos() as u64),
                    Event::RetryDue(call),
                );
                state.retry_timer = Some(timer);
                return;
            }
        }
        self.finish_call(kernel, call, outcome);
    }

    /// A retry's backoff has elapsed.
    pub(super) fn retry_due(&mut self, kernel: &mut Kernel<Event>, call: Key) {
        if let Some(state) = self.calls.get_mut(call) {
            state.retry_timer = None;
            self.try_attempt(kernel, call, AttemptKind::Retry);
        }
    }

    /// The first attempt is slow: send a hedge, and schedule the next one.
    pub(super) fn hedge_due(&mut self, kernel: &mut Kernel<Event>, call: Key) {
        let Some(state) = self.calls.get_mut(call) else {
            return;
        };
        if let Some(hedging) = &mut state.hedging {
            hedging.timer = None;
        }
        if state.live == 0 || state.waiting.is_some() {
            return;
        }
        let (edge, unit, hedges) = (state.edge, state.unit, state.hedges);
        let Some(hedger) = self.unit_state(edge, unit).and_then(|s| s.hedger.as_ref()) else {
            return;
        };
        if u32::from(hedges) >= hedger.config().max_hedges {
            return;
        }
        let delay = hedger.hedge_delay();
        self.try_attempt(kernel, call, AttemptKind::Hedge);
        // Schedule the next hedge only if this one went out: a refused hedge
        // (budget, breaker, rate limit) must not retry every `delay`.
        if let (Some(delay), Some(state)) = (delay, self.calls.get_mut(call))
            && state.live > 0
            && state.hedges > hedges
        {
            let timer = kernel.timer_in(
                SimDuration::from_nanos(delay.as_nanos() as u64),
                Event::HedgeDue(call),
            );
            state.hedging.get_or_insert_with(Box::default).timer = Some(timer);
        }
    }

    /// Ends a call and tells its parent.
    fn finish_call(&mut self, kernel: &mut Kernel<Event>, call: Key, outcome: Outcome) {
        let now = kernel.now();
        let Some(state) = self.calls.remove(call) else {
            return;
        };
        let hedge_timer = state.hedging.as_ref().and_then(|h| h.timer);
        for timer in [state.retry_timer, hedge_timer].into_iter().flatten() {
            kernel.cancel(timer);
        }
        if let Some(retry) = state.retry {
            self.retries.remove(retry);
        }
        // Give up the wait for a bulkhead slot first: a slot that cancelling a
        // loser frees must not go to this call, which is gone.
        if let Some((ticket, permit, _)) = state.waiting.map(|w| *w)
            && let Some(units) = self.edges[state.edge as usize]
                .units
                .get_mut(state.unit as usize)
        {
            if let Some(bulkhead) = &mut units.bulkhead {
                bulkhead.cancel(ticket, now.as_nanos());
            }
            units.waiting.retain(|(t, _)| *t != ticket);
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
        self.end_call(
            kernel,
            state.edge,
            state.parent,
            state.started,
            state.optional,
            outcome,
        );
    }

    /// Counts a call's outcome on its edge and tells its parent.
    fn end_call(
        &mut self,
        kernel: &mut Kernel<Event>,
        edge: u32,
        parent: Parent,
        started: SimTime,
        optional: bool,
        outcome: Outcome,
    ) {
        self.bump(edge, |c| counts_outcome(c, outcome));
        match parent {
            Parent::Client { route, user } => {
                self.client_done(kernel, route, user, started, outcome)
            }
            Parent::Job(job) => self.child_done(kernel, job, outcome, optional),
        }
    }

    /// A waiter was given a bulkhead slot: send its attempt.
    fn admit_waiter(
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
            && state.give_up_at.is_some_and(|at| now >= at)
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
    fn schedule_wake(&mut self, kernel: &mut Kernel<Event>, edge: u32, unit: u32) {
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

    /// Moves the breaker's transitions into the report and the open count.
    fn drain_breaker(&mut self, edge: u32, unit: u32) {
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

    // ----- the client side -------------------------------------------------

    pub(super) fn send_request(&mut self, kernel: &mut Kernel<Event>, user: Option<u32>) {
        let request = match (user, &mut self.users) {
            (Some(user), Some(users)) => {
                let k = &mut users.requests[user as usize];
                *k += 1;
                draws::user_request(user, *k - 1)
            }
            _ => {
                self.open_loop_sent += 1;
                draws::open_loop_request(self.open_loop_sent - 1)
            }
        };
        let route = self.picker.pick(&mut self.draws.route(request));
        let stats = &mut self.route_stats[route as usize];
        stats.window.requests += 1;
        stats.in_flight += 1;
        let parent = Parent::Client { route, user };
        self.start_call(kernel, parent, request, route, None, false);
    }

    fn client_done(
        &mut self,
        kernel: &mut Kernel<Event>,
        route: u32,
        user: Option<u32>,
        sent: SimTime,
        outcome: Outcome,
    ) {
        let now = kernel.now();
        let stats = &mut self.route_stats[route as usize];
        stats.in_flight -= 1;
        counts_outcome(&mut stats.window, outcome);
        if outcome == Outcome::Success {
            let latency = now - sent;
            stats.latency.record(latency);
            stats.window_latency.record(latency);
        }
        if let (Some(user), Some(users)) = (user, &self.users) {
            // Before its k-th request (k ≥ 1; the 0th is the start stagger).
            let k = users.requests[user as usize];
            let think = users.think.sample(&mut self.draws.think(user, k));
            kernel.schedule_in(think, Event::UserWake(user));
        }
    }

    /// Sends a request message for `attempt` from node `caller` to an
    /// instance of `service` (round robin over every instance, up or down:
    /// without discovery, callers do not know which instances are alive).
    /// A `cancellable` attempt remembers its job, for a cancellation to find.
    #[allow(clippy::too_many_arguments)]
    fn send_job(
        &mut self,
        kernel: &mut Kernel<Event>,
        attempt: Key,
        draw: DrawKey,
        caller: u32,
        service: u32,
        deadline: Option<SimTime>,
        cancellable: bool,
    ) {
        let model = &mut self.services[service as usize];
        let instance = model.first_instance + model.next_instance;
        model.next_instance += 1;
        if model.next_instance == model.instances {
            model.next_instance = 0;
        }
        let Some(delay) =
            self.network
                .transmit(caller as usize, service as usize, Message::Request, draw)
        else {
            return; // Lost: only the attempt's timeout will tell.
        };
        let job = self.jobs.insert(Job {
            attempt,
            draw,
            caller,
            instance,
            deadline: deadline.unwrap_or(SimTime::MAX),
            arrived: SimTime::ZERO,
            step: 0,
            pending: 0,
            state: JobState::InTransit,
            cancelled: false,
        });
        if cancellable && let Some(a) = self.attempts.get_mut(attempt) {
            a.job = Some(job);
        }
        if delay.is_zero() {
            self.deliver(kernel, job);
        } else {
            kernel.schedule_in(delay, Event::Deliver(job));
        }
    }
}

/// An attempt's timeout: the per-attempt timeout, clipped to what is left
/// before the caller gives up on the whole call.
fn attempt_timeout(
    per_attempt: Option<SimDuration>,
    give_up_at: Option<SimTime>,
    now: SimTime,
) -> Option<SimDuration> {
    match (per_attempt, give_up_at) {
        (Some(t), Some(at)) => Some(t.min(at.saturating_since(now))),
        (Some(t), None) => Some(t),
        (None, Some(at)) => Some(at.saturating_since(now)),
        (None, None) => None,
    }
}

/// The key of the attempt of `kind` that `call` would send next.
fn next_attempt(call: &CallState, kind: AttemptKind) -> DrawKey {
    match kind {
        AttemptKind::First => draws::attempt(call.draw, kind, 0),
        AttemptKind::Retry => draws::attempt(call.draw, kind, call.retries + 1),
        AttemptKind::Hedge => draws::attempt(call.draw, kind, call.hedges + 1),
    }
}

fn min_time(a: Option<SimTime>, b: Option<SimTime>) -> Option<SimTime> {
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
