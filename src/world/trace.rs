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
//! calls, and a saga an orchestrator started for it, whose calls hang
//! under it across the orchestrator's crashes and recoveries (followed by
//! its ordinal, which a recovery keeps), so the request's trace stays open
//! until its saga ends. Work no client request asked for (a producer's
//! publishes, a broker's deliveries, a choreography's steps, health
//! checks) is not.

use std::collections::BTreeMap;

use crate::kernel::SimTime;

use super::Status;
use super::draws::AttemptKind;
use super::slab::Key;

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
    /// A saga an orchestrator started for the request (under the
    /// orchestrator's server span, which it outlives), from its start to
    /// its end, across the orchestrator's crashes and recoveries; its
    /// calls are its children.
    Saga {
        /// The orchestrator instance that started it.
        instance: u32,
    },
}

/// How a saga ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SagaEnd {
    /// Every step applied.
    Completed,
    /// Every step that may have been applied compensated.
    Compensated,
    /// Parked for an operator.
    DeadLettered,
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
    /// A saga's end.
    Saga(SagaEnd),
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
    /// Sagas being followed, by ordinal (each removed at its end).
    sagas: BTreeMap<u64, SpanRef>,
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
            sagas: BTreeMap::new(),
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

    /// An orchestrator's job `job` at `instance` started the saga
    /// `ordinal`.
    #[cold]
    #[inline(never)]
    pub(super) fn saga_start(&mut self, job: Key, ordinal: u64, instance: u32, now: SimTime) {
        let Some(&r) = self.jobs.get(&job).filter(|r| r.span != NO_SPAN) else {
            return;
        };
        let Some(trace) = self.live.get_mut(&r.request) else {
            return;
        };
        if trace.spans.len() >= MAX_SPANS_PER_REQUEST {
            trace.spans_dropped += 1;
            self.counts.spans_dropped += 1;
        } else {
            let index = trace.spans.len() as u32;
            trace.spans.push(Span {
                parent: r.span,
                ..fresh(SpanKind::Saga { instance }, now)
            });
            trace.open += 1;
            self.sagas.insert(
                ordinal,
                SpanRef {
                    request: r.request,
                    span: index,
                },
            );
        }
    }

    /// The saga `ordinal` ended.
    #[cold]
    #[inline(never)]
    pub(super) fn saga_end(
        &mut self,
        ordinal: u64,
        now: SimTime,
        ending: &crate::patterns::saga::Ending,
    ) {
        use crate::patterns::saga::Ending;
        let Some(r) = self.sagas.remove(&ordinal) else {
            return;
        };
        let end = match ending {
            Ending::Completed => SagaEnd::Completed,
            Ending::Compensated => SagaEnd::Compensated,
            Ending::DeadLettered { .. } => SagaEnd::DeadLettered,
        };
        let Some(trace) = self.live.get_mut(&r.request) else {
            return;
        };
        let span = &mut trace.spans[r.span as usize];
        span.end = now;
        span.ending = SpanEnd::Saga(end);
        trace.open -= 1;
        if trace.open == 0 && trace.ended.is_some() {
            self.close_request(r.request, now);
        }
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

mod hooks;
#[cfg(test)]
mod tests;
