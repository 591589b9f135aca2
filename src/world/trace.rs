//! One run traced request by request, for `meshsim replay --trace`: every
//! client request's calls, attempts and the work each attempt became at
//! its instance, as spans with their parents, and the instants between
//! (an attempt refused by an open breaker, a retry the budget denied, a
//! host ejected). `report::trace` turns a [`Trace`] into the Chrome
//! trace-event JSON that Perfetto and chrome://tracing open.
//!
//! A plain run has no tracer (`World::trace` is none): every hook is one
//! predictable branch at its site, and the work is in `#[cold]` functions
//! here.
//!
//! **Bounds.** A request is followed from its first call until it has
//! ended and none of its spans is open (orphan work at a callee keeps it
//! open until that work ends), at most [`MAX_SPANS_PER_REQUEST`] spans
//! each (more are counted, not kept, with everything below them); requests
//! in flight are bounded by the world. Of the requests that end and pass
//! the filter, at most `limit` are kept, with at most [`MAX_TRACE_SPANS`]
//! spans in all: those with the smallest hash of their id (a bottom-k
//! sample, uniform over requests and the same on every machine), the rest
//! counted as sampled out. A request whose attempt is lost on an edge
//! without a timeout is followed to the end of the run, as the world keeps
//! that attempt. Instants: at most
//! [`MAX_INSTANTS`], more counted. The lookups from a call, attempt or job
//! to its span are ordered maps (`clippy.toml` bans the hash containers);
//! each entry goes when its request's trace closes.
//!
//! **What is traced.** Client requests (of every client, and a read-back
//! request of a read-your-writes check) and everything they cause through
//! calls: retries, hedges, fallbacks, a gateway's branches, downstream
//! calls. Work no client request asked for (a saga's calls, a producer's
//! publishes, a broker's deliveries, health checks) is not.

use std::collections::BTreeMap;

use crate::kernel::SimTime;

use super::calls::Parent;
use super::draws::AttemptKind;
use super::slab::Key;
use super::{Status, World};

/// The requests a trace keeps unless told otherwise.
pub const DEFAULT_TRACE_LIMIT: usize = 1_000;
/// The most requests a trace may keep.
pub const MAX_TRACE_LIMIT: usize = 100_000;
/// The most spans kept for one request.
pub const MAX_SPANS_PER_REQUEST: usize = 4_096;
/// The most spans a trace keeps over all its requests (about 280 bytes
/// each in the JSON): past it, the requests with the largest hashes are
/// left out, as past `limit`.
pub const MAX_TRACE_SPANS: usize = 1_000_000;
/// The most instants (ejections) kept for a run.
pub const MAX_INSTANTS: usize = 100_000;
/// A span's parent when it has none (a request's first call).
pub const NO_SPAN: u32 = u32::MAX;

/// Which requests a trace keeps.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TraceFilter {
    /// Only requests of this route (its index).
    pub route: Option<u32>,
    /// Only requests still running at or after this time.
    pub from: Option<SimTime>,
    /// Only requests sent at or before this time.
    pub until: Option<SimTime>,
    /// Only requests that ended with a failure.
    pub failed_only: bool,
    /// Only the request with this id.
    pub request: Option<u64>,
    /// At most this many requests (a uniform sample when more match).
    pub limit: usize,
}

impl Default for TraceFilter {
    fn default() -> Self {
        TraceFilter {
            route: None,
            from: None,
            until: None,
            failed_only: false,
            request: None,
            limit: DEFAULT_TRACE_LIMIT,
        }
    }
}

impl TraceFilter {
    /// Whether a request sent at `sent` on `route` may be kept.
    fn admits_start(&self, id: u64, route: u32, sent: SimTime) -> bool {
        self.request.is_none_or(|r| r == id)
            && self.route.is_none_or(|r| r == route)
            && self.until.is_none_or(|u| sent <= u)
    }

    /// Whether a request that ended at `end` (none: still running when
    /// the run ended at `run_end`) with `status` is kept.
    fn admits_end(&self, ended: Option<(SimTime, Status)>, run_end: SimTime) -> bool {
        let end = ended.map_or(run_end, |(at, _)| at);
        let failed = ended.is_some_and(|(_, s)| s != Status::Ok);
        (!self.failed_only || failed) && self.from.is_none_or(|f| end >= f)
    }
}

/// Which attempt of its call an attempt is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AttemptOf {
    /// The call's first.
    First,
    /// A retry after a failure.
    Retry,
    /// A hedge sent while an earlier attempt was slow.
    Hedge,
}

/// What a span is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SpanKind {
    /// A call on an edge with a policy: its attempts are its children.
    Call {
        /// The edge (routes first).
        edge: u32,
    },
    /// One message of a call, from its send to its reply (or timeout). A
    /// call on an edge without a policy is its one attempt.
    Attempt {
        /// The edge.
        edge: u32,
        /// First, retry or hedge.
        of: AttemptOf,
        /// Its number among its call's retries or hedges (0 for the first).
        n: u16,
        /// The instance it was sent to (`u32::MAX`: none was chosen).
        instance: u32,
        /// The network lost the request.
        lost: bool,
    },
    /// The work an attempt became at its instance, from its arrival (the
    /// queue included) to its reply or its end.
    Server {
        /// The instance.
        instance: u32,
    },
}

/// How a span ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SpanEnd {
    /// With this status: a call's outcome, an attempt's reply (or
    /// `timeout`), the answer an instance sent.
    Status(Status),
    /// Cancelled: a hedge race's loser, or work whose caller cancelled it.
    Cancelled,
    /// Dropped: the calling process crashed (a call or attempt), or the
    /// instance crashed with the work (a server span).
    Dropped,
    /// Dropped unstarted at its instance: the deadline it carried passed.
    Expired,
    /// Still running when the run ended.
    Open,
}

/// One span.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Span {
    /// What it is.
    pub kind: SpanKind,
    /// Its parent's index in the request's spans ([`NO_SPAN`] for none).
    pub parent: u32,
    /// When it started.
    pub start: SimTime,
    /// When it ended (the run's end for an open span).
    pub end: SimTime,
    /// How it ended.
    pub ending: SpanEnd,
    /// For a retry or a hedge: the attempt of the same call sent just
    /// before it ([`NO_SPAN`] otherwise).
    pub after: u32,
}

/// Something that happened at an instant inside a request's span.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MarkKind {
    /// An attempt refused before it was sent: an open breaker, a full
    /// bulkhead, a rate limit or a throttle (its status says which).
    Refused(Status, AttemptOf),
    /// A retry or a hedge the retry budget or throttle did not allow.
    RetryDenied(AttemptOf),
}

/// An instant on a span of a request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Mark {
    /// The span it happened on (a call).
    pub span: u32,
    /// When.
    pub at: SimTime,
    /// What.
    pub kind: MarkKind,
}

/// Everything kept of one request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RequestTrace {
    /// Its id (run-unique, in send order).
    pub id: u64,
    /// Its route.
    pub route: u32,
    /// Its client (an index into the declared clients; 0 for the implicit
    /// one).
    pub client: u16,
    /// When it was sent.
    pub sent: SimTime,
    /// When and how it ended (none: still running at the end of the run).
    pub ended: Option<(SimTime, Status)>,
    /// Its spans, in the order they started.
    pub spans: Vec<Span>,
    /// Its instants, in time order.
    pub marks: Vec<Mark>,
    /// Spans past [`MAX_SPANS_PER_REQUEST`], not kept.
    pub spans_dropped: u32,
    /// The services it called (its calls' and attempts' callees), sorted.
    pub services: Vec<u32>,
    /// Spans still open.
    open: u32,
    /// Its entries in the tracer's lookups, removed when it closes.
    keys: Vec<(Table, Key)>,
}

/// A run-level instant.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InstantKind {
    /// An outlier detector ejected a host.
    Ejected {
        /// The edge whose detector it was.
        edge: u32,
        /// The detector's scope unit.
        unit: u32,
        /// The instance ejected.
        instance: u32,
    },
}

/// A run-level instant and when it happened.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Instant {
    /// When.
    pub at: SimTime,
    /// What.
    pub kind: InstantKind,
}

/// What the trace counted.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TraceCounts {
    /// Client requests sent in the run.
    pub requests: u64,
    /// Requests that passed the filter.
    pub matched: u64,
    /// Of those, the ones kept.
    pub kept: u64,
    /// The ones left out by the sample (`matched - kept`).
    pub sampled_out: u64,
    /// Spans not kept past a request's bound.
    pub spans_dropped: u64,
    /// Instants not kept past [`MAX_INSTANTS`].
    pub instants_dropped: u64,
}

/// A finished trace.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Trace {
    /// The filter it was made with.
    pub filter: TraceFilter,
    /// The requests kept, by id.
    pub requests: Vec<RequestTrace>,
    /// Run-level instants in the filter's window, in time order.
    pub instants: Vec<Instant>,
    /// Counts.
    pub counts: TraceCounts,
}

/// Which lookup a key is in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Table {
    Request,
    Call,
    Attempt,
    Job,
}

/// A span of a live request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct SpanRef {
    request: u64,
    span: u32,
}

/// The tracer a traced run's world holds.
pub(super) struct Tracer {
    filter: TraceFilter,
    /// Requests being followed, by id.
    live: BTreeMap<u64, RequestTrace>,
    requests: BTreeMap<Key, u64>,
    calls: BTreeMap<Key, SpanRef>,
    /// Per call, its last attempt's span (what a retry or hedge follows).
    last: BTreeMap<Key, u32>,
    attempts: BTreeMap<Key, SpanRef>,
    jobs: BTreeMap<Key, SpanRef>,
    /// The requests kept so far, by (sample hash, id): the `limit`
    /// smallest hashes.
    kept: BTreeMap<(u64, u64), RequestTrace>,
    /// Their spans.
    kept_spans: usize,
    instants: Vec<Instant>,
    counts: TraceCounts,
}

/// The sample's hash of a request id (SplitMix64's finaliser: fixed
/// forever, so a trace keeps the same requests on every machine).
pub fn sample_hash(id: u64) -> u64 {
    let mut z = id.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

pub(super) fn attempt_of(kind: AttemptKind) -> AttemptOf {
    match kind {
        AttemptKind::First => AttemptOf::First,
        AttemptKind::Retry => AttemptOf::Retry,
        AttemptKind::Hedge => AttemptOf::Hedge,
    }
}

impl Tracer {
    pub(super) fn new(filter: TraceFilter) -> Tracer {
        Tracer {
            filter,
            live: BTreeMap::new(),
            requests: BTreeMap::new(),
            calls: BTreeMap::new(),
            last: BTreeMap::new(),
            attempts: BTreeMap::new(),
            jobs: BTreeMap::new(),
            kept: BTreeMap::new(),
            kept_spans: 0,
            instants: Vec::new(),
            counts: TraceCounts::default(),
        }
    }

    fn table(&mut self, table: Table) -> &mut BTreeMap<Key, SpanRef> {
        match table {
            Table::Call => &mut self.calls,
            Table::Attempt => &mut self.attempts,
            Table::Job => &mut self.jobs,
            Table::Request => unreachable!("requests map to ids"),
        }
    }

    /// Adds a span to a live request (none past its bound, or for a
    /// request no longer followed), with its key in `table`.
    fn open(&mut self, parent: Anchor, span: Span, table: Table, key: Key) -> Option<SpanRef> {
        let parent_anchor = parent;
        let (request, parent) = match parent {
            Anchor::Root(id) => (id, NO_SPAN),
            Anchor::Span(r) => (r.request, r.span),
        };
        let trace = self.live.get_mut(&request)?;
        if parent == NO_SPAN && matches!(parent_anchor, Anchor::Span(_))
            || trace.spans.len() >= MAX_SPANS_PER_REQUEST
        {
            // Past the bound, or under a span that was: counted, and
            // remembered as not kept, so that what it causes is counted too.
            trace.spans_dropped += 1;
            self.counts.spans_dropped += 1;
            trace.keys.push((table, key));
            let dropped = SpanRef {
                request,
                span: NO_SPAN,
            };
            self.table(table).insert(key, dropped);
            return None;
        }
        let index = trace.spans.len() as u32;
        trace.spans.push(Span { parent, ..span });
        trace.open += 1;
        trace.keys.push((table, key));
        let r = SpanRef {
            request,
            span: index,
        };
        self.table(table).insert(key, r);
        Some(r)
    }

    /// An attempt's work at its instance, which it reached at `arrived`,
    /// ended (called through the world's `trace` field alone, so that a
    /// site holding other fields of the world needs no new borrow).
    #[cold]
    #[inline(never)]
    pub(super) fn job_end(&mut self, job: Key, arrived: SimTime, now: SimTime, e: SpanEnd) {
        self.arrived(job, arrived);
        self.close(Table::Job, job, now, e);
    }

    /// An attempt ended (its reply, its timeout, a cancel or a crash).
    #[cold]
    #[inline(never)]
    pub(super) fn attempt_end(&mut self, attempt: Key, now: SimTime, ending: SpanEnd) {
        self.close(Table::Attempt, attempt, now, ending);
    }

    /// A call with a record ended.
    #[cold]
    #[inline(never)]
    pub(super) fn call_end(&mut self, call: Key, now: SimTime, ending: SpanEnd) {
        self.close(Table::Call, call, now, ending);
    }

    /// A client request ended with `outcome`.
    #[cold]
    #[inline(never)]
    pub(super) fn request_end(&mut self, request: Key, now: SimTime, outcome: Status) {
        let Some(&id) = self.requests.get(&request) else {
            return;
        };
        let Some(trace) = self.live.get_mut(&id) else {
            return;
        };
        trace.ended = Some((now, outcome));
        if trace.open == 0 {
            self.close_request(id, now);
        }
    }

    /// The attempt `attempt` was routed to `instance` (and lost or not).
    fn routed(&mut self, attempt: Key, instance: u32, lost: bool) {
        let Some(&r) = self.attempts.get(&attempt).filter(|r| r.span != NO_SPAN) else {
            return;
        };
        if let Some(trace) = self.live.get_mut(&r.request)
            && let SpanKind::Attempt {
                instance: i,
                lost: l,
                ..
            } = &mut trace.spans[r.span as usize].kind
        {
            *i = instance;
            *l = lost;
        }
    }

    /// The job `job`'s server span starts at its arrival.
    fn arrived(&mut self, job: Key, arrived: SimTime) {
        let Some(&r) = self.jobs.get(&job).filter(|r| r.span != NO_SPAN) else {
            return;
        };
        if let Some(trace) = self.live.get_mut(&r.request) {
            let span = &mut trace.spans[r.span as usize];
            if span.ending == SpanEnd::Open {
                span.start = arrived;
            }
        }
    }

    /// Ends the span `key` names in `table`, if it is followed and open.
    fn close(&mut self, table: Table, key: Key, at: SimTime, ending: SpanEnd) {
        let Some(r) = self.table(table).get(&key).copied() else {
            return;
        };
        if r.span == NO_SPAN {
            return; // Not kept: past the request's bound.
        }
        let Some(trace) = self.live.get_mut(&r.request) else {
            return;
        };
        let span = &mut trace.spans[r.span as usize];
        if span.ending != SpanEnd::Open {
            return;
        }
        span.end = at;
        span.ending = ending;
        trace.open -= 1;
        if trace.open == 0 && trace.ended.is_some() {
            self.close_request(r.request, at);
        }
    }

    /// The request's trace is complete: it is judged by the filter and
    /// offered to the sample.
    fn close_request(&mut self, id: u64, run_end: SimTime) {
        let Some(mut trace) = self.live.remove(&id) else {
            return;
        };
        for (table, key) in std::mem::take(&mut trace.keys) {
            match table {
                Table::Request => {
                    self.requests.remove(&key);
                }
                Table::Call => {
                    self.calls.remove(&key);
                    self.last.remove(&key);
                }
                other => {
                    self.table(other).remove(&key);
                }
            }
        }
        if !self.filter.admits_end(trace.ended, run_end) {
            return;
        }
        self.counts.matched += 1;
        trace.services.sort_unstable();
        trace.services.dedup();
        trace.marks.sort_by_key(|m| m.at);
        self.kept_spans += trace.spans.len();
        self.kept.insert((sample_hash(id), id), trace);
        while self.kept.len() > self.filter.limit || self.kept_spans > MAX_TRACE_SPANS {
            let (_, out) = self.kept.pop_last().expect("more than the bound");
            self.kept_spans -= out.spans.len();
            self.counts.sampled_out += 1;
        }
    }

    /// The run has ended at `end`: every open span is closed there, every
    /// request still followed judged, and the trace handed over.
    pub(super) fn finish(mut self, end: SimTime, requests_sent: u64) -> Trace {
        let ids: Vec<u64> = self.live.keys().copied().collect();
        for id in ids {
            let trace = self.live.get_mut(&id).expect("listed");
            for span in &mut trace.spans {
                if span.ending == SpanEnd::Open {
                    span.end = end;
                }
            }
            self.close_request(id, end);
        }
        let mut requests: Vec<RequestTrace> = self.kept.into_values().collect();
        requests.sort_by_key(|r| r.id);
        self.counts.requests = requests_sent;
        self.counts.kept = requests.len() as u64;
        Trace {
            filter: self.filter,
            requests,
            instants: self.instants,
            counts: self.counts,
        }
    }
}

/// Runs `compiled` with `seed` (and the event budget), tracing the
/// requests `filter` keeps: the run's outcome and its trace.
pub fn run_traced(
    compiled: &crate::scenario::Compiled,
    seed: u64,
    event_budget: Option<u64>,
    filter: TraceFilter,
) -> (super::RunOutcome, Trace) {
    let tracer = Some(Box::new(Tracer::new(filter)));
    let (outcome, trace) = super::run_inner(compiled, seed, event_budget, &mut (), &mut (), tracer);
    (outcome, trace.expect("a traced run has its trace"))
}

/// Where a new span hangs.
#[derive(Clone, Copy, Debug)]
enum Anchor {
    /// At the top of this request.
    Root(u64),
    /// Under this span.
    Span(SpanRef),
}

fn fresh(kind: SpanKind, start: SimTime) -> Span {
    Span {
        kind,
        parent: NO_SPAN,
        start,
        end: start,
        ending: SpanEnd::Open,
        after: NO_SPAN,
    }
}

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
            Parent::Saga { .. } | Parent::Publish(_) => None,
        }
    }

    /// A call with a record started on `edge`.
    #[cold]
    #[inline(never)]
    pub(super) fn trace_call(&mut self, call: Key, parent: Parent, edge: u32, now: SimTime) {
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
    pub(super) fn trace_attempt(
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
    pub(super) fn trace_lost(&mut self, attempt: Key, instance: u32) {
        let tracer = self.trace.as_deref_mut().expect("tracing");
        tracer.routed(attempt, instance, true);
    }

    /// An attempt was routed to `instance` and became a job on its way
    /// there: its span opens now (so that the request's trace waits for
    /// it); its start is set to its arrival when it ends (or when the run
    /// does: [`World::settle_trace`]).
    #[cold]
    #[inline(never)]
    pub(super) fn trace_job(&mut self, job: Key, attempt: Key, instance: u32, now: SimTime) {
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
    pub(super) fn settle_trace(&mut self) {
        let Some(tracer) = self.trace.as_deref_mut() else {
            return;
        };
        let arrivals: Vec<(Key, SimTime)> = tracer
            .jobs
            .keys()
            .filter_map(|&k| {
                self.jobs
                    .get(k)
                    .filter(|j| j.state != super::JobState::InTransit)
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
    pub(super) fn trace_mark(&mut self, call: Key, now: SimTime, kind: MarkKind) {
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
    pub(super) fn trace_refused(&mut self, call: Key, now: SimTime, kind: AttemptKind, s: Status) {
        self.trace_mark(call, now, MarkKind::Refused(s, attempt_of(kind)));
    }

    /// A host was ejected.
    #[cold]
    #[inline(never)]
    pub(super) fn trace_instant(&mut self, at: SimTime, kind: InstantKind) {
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

#[cfg(test)]
mod tests {
    use super::*;

    /// A request past its bound keeps what it has; a span past it is
    /// counted, and so is everything under it, and none is kept.
    #[test]
    fn what_is_past_a_requests_bound_is_counted_with_everything_below_it() {
        let mut keys = super::super::slab::Slab::default();
        let mut tracer = Tracer::new(TraceFilter::default());
        tracer.live.insert(
            7,
            RequestTrace {
                id: 7,
                route: 0,
                client: 0,
                sent: SimTime::ZERO,
                ended: None,
                spans: Vec::new(),
                marks: Vec::new(),
                spans_dropped: 0,
                services: Vec::new(),
                open: 0,
                keys: Vec::new(),
            },
        );
        let call = |edge| fresh(SpanKind::Call { edge }, SimTime::ZERO);
        let mut last = None;
        for _ in 0..MAX_SPANS_PER_REQUEST {
            let key = keys.insert(());
            last = tracer.open(Anchor::Root(7), call(0), Table::Call, key);
            assert!(last.is_some());
        }
        // Past the bound: a call, an attempt under it, a job under that.
        let over = keys.insert(());
        assert!(
            tracer
                .open(Anchor::Span(last.unwrap()), call(1), Table::Call, over)
                .is_none()
        );
        let dropped = tracer.calls[&over];
        assert_eq!(dropped.span, NO_SPAN);
        let attempt = keys.insert(());
        assert!(
            tracer
                .open(Anchor::Span(dropped), call(2), Table::Attempt, attempt)
                .is_none()
        );
        let job = keys.insert(());
        let below = tracer.attempts[&attempt];
        assert!(
            tracer
                .open(Anchor::Span(below), call(3), Table::Job, job)
                .is_none()
        );
        assert_eq!(tracer.counts.spans_dropped, 3);
        assert_eq!(tracer.live[&7].spans_dropped, 3);
        assert_eq!(tracer.live[&7].spans.len(), MAX_SPANS_PER_REQUEST);
        // Their ends change nothing, and the request closes with its spans.
        tracer.close(Table::Job, job, SimTime::ZERO, SpanEnd::Dropped);
        tracer.close(Table::Attempt, attempt, SimTime::ZERO, SpanEnd::Dropped);
        assert_eq!(tracer.live[&7].open as usize, MAX_SPANS_PER_REQUEST);
        let trace = tracer.finish(SimTime::from_nanos(1), 1);
        assert_eq!(trace.requests[0].spans.len(), MAX_SPANS_PER_REQUEST);
        assert_eq!(trace.counts.spans_dropped, 3);
    }

    #[test]
    fn the_sample_hash_is_fixed_forever() {
        // SplitMix64's first outputs from a state of 0 (Vigna's reference).
        assert_eq!(sample_hash(0), 0xe220_a839_7b1d_cdaf);
        assert_ne!(sample_hash(1), sample_hash(2));
    }

    #[test]
    fn the_filter_judges_a_request_at_its_start_and_its_end() {
        let at = SimTime::from_nanos;
        let f = TraceFilter {
            route: Some(1),
            from: Some(at(100)),
            until: Some(at(200)),
            failed_only: true,
            request: None,
            limit: 10,
        };
        assert!(f.admits_start(7, 1, at(200)));
        assert!(!f.admits_start(7, 0, at(150)), "another route");
        assert!(!f.admits_start(7, 1, at(201)), "sent after the window");
        assert!(f.admits_end(Some((at(100), Status::Internal)), at(1000)));
        assert!(!f.admits_end(Some((at(99), Status::Internal)), at(1000)));
        assert!(!f.admits_end(Some((at(150), Status::Ok)), at(1000)));
        assert!(!f.admits_end(None, at(1000)), "still running is not failed");
        let one = TraceFilter {
            request: Some(3),
            ..TraceFilter::default()
        };
        assert!(one.admits_start(3, 0, at(5)) && !one.admits_start(4, 0, at(5)));
        assert!(one.admits_end(None, at(1000)));
    }
}
