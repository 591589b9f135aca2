//! The world's side of a traced run: the hooks its code calls (each
//! behind one `trace.is_some()` branch at its site), which find where a
//! new span hangs and hand it to the [`Tracer`](super::Tracer).

use crate::kernel::SimTime;

use super::super::calls::Parent;
use super::super::draws::AttemptKind;
use super::super::slab::Key;
use super::super::{Status, World};
use super::*;

impl World<'_> {
    /// Where the calls of `parent` hang, starting the trace of a client
    /// request at its first call (none: not followed).
    fn trace_anchor(&mut self, parent: Parent) -> Option<Anchor> {
        let tracer = self.trace.as_deref_mut()?;
        match parent {
            Parent::Client { request } => {
                if let Some(&id) = tracer.requests.get(&request) {
                    return Some(Anchor::Root(id));
                }
                let context = self.requests.get(request)?;
                if !tracer
                    .filter
                    .admits_start(context.id, context.route, context.sent)
                {
                    return None;
                }
                tracer.requests.insert(request, context.id);
                tracer.live.insert(
                    context.id,
                    RequestTrace {
                        id: context.id,
                        route: context.route,
                        client: context.client,
                        sent: context.sent,
                        ended: None,
                        spans: Vec::new(),
                        marks: Vec::new(),
                        spans_dropped: 0,
                        services: Vec::new(),
                        open: 0,
                        keys: vec![(Table::Request, request)],
                    },
                );
                Some(Anchor::Root(context.id))
            }
            Parent::Job(job) => tracer.jobs.get(&job).map(|&r| Anchor::Span(r)),
            Parent::Saga { run, .. } => {
                let ordinal = self.saga_ordinal(run)?;
                let tracer = self.trace.as_deref_mut()?;
                tracer.sagas.get(&ordinal).map(|&r| Anchor::Span(r))
            }
            Parent::Publish(_) => None,
        }
    }

    /// A call with a record started on `edge`.
    #[cold]
    #[inline(never)]
    pub(in crate::world) fn trace_call(
        &mut self,
        call: Key,
        parent: Parent,
        edge: u32,
        now: SimTime,
    ) {
        if let Some(anchor) = self.trace_anchor(parent) {
            let callee = self.edges[edge as usize].callee;
            let tracer = self.trace.as_deref_mut().expect("tracing");
            if let Some(r) = tracer.open(
                anchor,
                fresh(SpanKind::Call { edge }, now),
                Table::Call,
                call,
            ) && let Some(trace) = tracer.live.get_mut(&r.request)
            {
                // Called, even if every attempt is refused before it is sent
                // (an open breaker): a fault there touches the request.
                trace.services.push(callee);
            }
        }
    }

    /// An attempt was sent: of the call `call` (with a record), or the one
    /// attempt of a call of `parent` on an edge without a policy.
    #[cold]
    #[inline(never)]
    pub(in crate::world) fn trace_attempt(
        &mut self,
        attempt: Key,
        of: Result<(Key, AttemptKind, u16), Parent>,
        edge: u32,
        now: SimTime,
    ) {
        let callee = self.edges[edge as usize].callee;
        let (anchor, kind, n, call) = match of {
            Ok((call, kind, n)) => {
                let tracer = self.trace.as_deref_mut().expect("tracing");
                let Some(&r) = tracer.calls.get(&call) else {
                    return;
                };
                (Anchor::Span(r), attempt_of(kind), n, Some(call))
            }
            Err(parent) => match self.trace_anchor(parent) {
                Some(anchor) => (anchor, AttemptOf::First, 0, None),
                None => return,
            },
        };
        let tracer = self.trace.as_deref_mut().expect("tracing");
        let span = SpanKind::Attempt {
            edge,
            of: kind,
            n,
            instance: u32::MAX,
            lost: false,
        };
        let Some(r) = tracer.open(anchor, fresh(span, now), Table::Attempt, attempt) else {
            return;
        };
        let trace = tracer.live.get_mut(&r.request).expect("just opened");
        trace.services.push(callee);
        if let Some(call) = call {
            // A retry or hedge follows the call's attempt sent before it.
            if let Some(before) = tracer.last.insert(call, r.span)
                && kind != AttemptOf::First
            {
                trace.spans[r.span as usize].after = before;
            }
        }
    }

    /// An attempt was routed to `instance` and lost on the way there.
    #[cold]
    #[inline(never)]
    pub(in crate::world) fn trace_lost(&mut self, attempt: Key, instance: u32) {
        let tracer = self.trace.as_deref_mut().expect("tracing");
        tracer.routed(attempt, instance, true);
    }

    /// An attempt was routed to `instance` and became a job on its way
    /// there: its span opens now (so that the request's trace waits for
    /// it); its start is set to its arrival when it ends (or when the run
    /// does: [`World::settle_trace`]).
    #[cold]
    #[inline(never)]
    pub(in crate::world) fn trace_job(
        &mut self,
        job: Key,
        attempt: Key,
        instance: u32,
        now: SimTime,
    ) {
        let tracer = self.trace.as_deref_mut().expect("tracing");
        tracer.routed(attempt, instance, false);
        let Some(&r) = tracer.attempts.get(&attempt) else {
            return;
        };
        tracer.open(
            Anchor::Span(r),
            fresh(SpanKind::Server { instance }, now),
            Table::Job,
            job,
        );
    }

    /// The run has ended: the work still at an instance starts at its
    /// arrival (each span set on its own, so the lookup's order is
    /// irrelevant); work still on the network keeps its send time.
    pub(in crate::world) fn settle_trace(&mut self) {
        let Some(tracer) = self.trace.as_deref_mut() else {
            return;
        };
        let arrivals: Vec<(Key, SimTime)> = tracer
            .jobs
            .keys()
            .filter_map(|&k| {
                self.jobs
                    .get(k)
                    .filter(|j| j.state != super::super::JobState::InTransit)
                    .map(|j| (k, j.arrived))
            })
            .collect();
        for (job, arrived) in arrivals {
            tracer.arrived(job, arrived);
        }
    }

    /// A call was refused an attempt locally, or denied a retry.
    #[cold]
    #[inline(never)]
    pub(in crate::world) fn trace_mark(&mut self, call: Key, now: SimTime, kind: MarkKind) {
        let tracer = self.trace.as_deref_mut().expect("tracing");
        let Some(&r) = tracer.calls.get(&call).filter(|r| r.span != NO_SPAN) else {
            return;
        };
        if let Some(trace) = tracer.live.get_mut(&r.request) {
            trace.marks.push(Mark {
                span: r.span,
                at: now,
                kind,
            });
        }
    }

    /// A refusal of `kind`'s attempt.
    pub(in crate::world) fn trace_refused(
        &mut self,
        call: Key,
        now: SimTime,
        kind: AttemptKind,
        s: Status,
    ) {
        self.trace_mark(call, now, MarkKind::Refused(s, attempt_of(kind)));
    }

    /// A host was ejected.
    #[cold]
    #[inline(never)]
    pub(in crate::world) fn trace_instant(&mut self, at: SimTime, kind: InstantKind) {
        let tracer = self.trace.as_deref_mut().expect("tracing");
        // Outside the window now, not at the end: the bound must not be
        // spent on instants before `--from`, leaving none in the window.
        let (from, until) = (tracer.filter.from, tracer.filter.until);
        if from.is_some_and(|f| at < f) || until.is_some_and(|u| at > u) {
            return;
        }
        if tracer.instants.len() < MAX_INSTANTS {
            tracer.instants.push(Instant { at, kind });
        } else {
            tracer.counts.instants_dropped += 1;
        }
    }
}
