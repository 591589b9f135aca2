//! Observation of a run: counters, latency histograms, time-weighted levels
//! and the per-window time series, handed to a [`Recorder`] as each window
//! closes. Memory is bounded by the number of routes, services and windows,
//! never by the number of requests: nothing is kept per request once it ends.
//!
//! **Architecture Invariant:** metrics observe; they never feed back into
//! the behaviour of the world.

pub mod autoscale;
pub mod events;
pub mod histogram;
pub mod instances;
pub mod kept;
pub mod level;
pub mod recorder;
pub mod recovery;
pub mod saga;
pub mod series;

pub use histogram::{
    LatencyHistogram, LatencySummary, MIN_TAIL_SAMPLES, round3, round6, thin_percentiles,
    too_few_samples,
};
pub use level::Level;
pub use recorder::{ClosedWindow, InstanceRow, Recorder, SeriesNames, each_row};

use crate::kernel::{SimDuration, SimTime};

/// Request counts of a route or a service, by outcome.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counts {
    /// Requests sent (route) or arriving at an instance (service).
    pub requests: u64,
    /// Successful replies.
    pub successes: u64,
    /// Failed with an error: the service's own (service), or any error reply
    /// (route).
    pub errors: u64,
    /// Turned away by a full queue.
    pub rejected: u64,
    /// The caller gave up waiting (route only).
    pub timeouts: u64,
    /// Lost to a crash: queued or in service when the instance went down, or
    /// arriving at a down instance (service only).
    pub dropped: u64,
    /// Failed because a downstream call failed (service only).
    pub dependency: u64,
    /// Not started because the request's deadline had passed (service only).
    pub expired: u64,
    /// Not started because its caller cancelled it: a hedged attempt that
    /// lost to another (service only).
    pub cancelled: u64,
    /// Attempts sent, retries and hedges included (route and edge).
    pub attempts: u64,
    /// Retries sent (route and edge).
    pub retries: u64,
    /// Hedged attempts sent (route and edge).
    pub hedges: u64,
    /// Retries a budget or throttle refused (route and edge).
    pub retries_denied: u64,
    /// Calls that failed because the breaker was open (route and edge).
    pub breaker_open: u64,
    /// Calls that failed because the bulkhead was full (route and edge).
    pub bulkhead_full: u64,
    /// Calls refused locally by adaptive throttling (route and edge).
    pub throttled: u64,
    /// Calls refused by the outgoing rate limit (route and edge).
    pub rate_limited: u64,
    /// Logical calls addressed to this service by its callers (service only):
    /// `requests / calls` is the retry amplification.
    pub calls: u64,
    /// Refused at the bound on requests in flight (`max_requests_in_flight`;
    /// routes only).
    pub capped: u64,
    /// Successes completed for a caller that had already given up (service
    /// only; counted in `successes` too): the job finished after its
    /// attempt had timed out or been cancelled, its call had ended (a
    /// hedge won, the call gave up), or its client request had ended.
    /// Wasted work: `successes − late_successes` is the goodput.
    pub late_successes: u64,
    /// Of `errors`, the 401 answers: a gateway's credential check (callers'
    /// views only: routes, clients and edges; so are the four below).
    pub unauthorized: u64,
    /// Of `errors`, the 403 answers: a gateway route's `allow`, or its auth
    /// service unreachable.
    pub forbidden: u64,
    /// Of `errors`, the 404 answers: no gateway route matched.
    pub not_found: u64,
    /// Of `rejected`, the 429 answers: a rate limit of the callee's.
    pub too_many_requests: u64,
    /// Of `timeouts`, the 504 answers: a gateway's backend did not answer in
    /// time.
    pub gateway_timeout: u64,
    /// Of `successes`, those answered degraded: a fallback on the way
    /// answered for a failed call (routes and clients only).
    pub degraded: u64,
}

impl Counts {
    /// Of `errors`, the 500s (those that are not a gateway's 401, 403 or
    /// 404).
    pub fn internal(&self) -> u64 {
        self.errors - self.unauthorized - self.forbidden - self.not_found
    }

    /// Of `rejected`, the 503s (those that are not a 429).
    pub fn unavailable(&self) -> u64 {
        self.rejected - self.too_many_requests
    }

    /// Of `timeouts`, the caller's own (those that are not a gateway's
    /// 504).
    pub fn timeout(&self) -> u64 {
        self.timeouts - self.gateway_timeout
    }

    /// The outcomes by status, in [`Status::ALL`](crate::world::Status::ALL)'s
    /// order, as a caller saw them (a route, a client, an edge): each
    /// ended call once, so they add up to the calls that ended with a
    /// status (a route's `capped` requests never got one).
    pub fn statuses(&self) -> [u64; 13] {
        [
            self.successes,
            self.unauthorized,
            self.forbidden,
            self.not_found,
            self.too_many_requests,
            self.internal(),
            self.unavailable(),
            self.gateway_timeout,
            self.timeout(),
            self.breaker_open,
            self.bulkhead_full,
            self.throttled,
            self.rate_limited,
        ]
    }

    /// All failures.
    pub fn failures(&self) -> u64 {
        self.errors
            + self.rejected
            + self.timeouts
            + self.dropped
            + self.dependency
            + self.expired
            + self.cancelled
            + self.breaker_open
            + self.bulkhead_full
            + self.throttled
            + self.rate_limited
            + self.capped
    }

    /// Adds another set of counts to this one (a closed window into the
    /// run's totals).
    pub fn add(&mut self, other: &Counts) {
        // Destructured so that a new field cannot be forgotten here.
        let Counts {
            requests,
            successes,
            errors,
            rejected,
            timeouts,
            dropped,
            dependency,
            expired,
            cancelled,
            attempts,
            retries,
            hedges,
            retries_denied,
            breaker_open,
            bulkhead_full,
            throttled,
            rate_limited,
            calls,
            capped,
            late_successes,
            unauthorized,
            forbidden,
            not_found,
            too_many_requests,
            gateway_timeout,
            degraded,
        } = *other;
        self.requests += requests;
        self.successes += successes;
        self.errors += errors;
        self.rejected += rejected;
        self.timeouts += timeouts;
        self.dropped += dropped;
        self.dependency += dependency;
        self.expired += expired;
        self.cancelled += cancelled;
        self.attempts += attempts;
        self.retries += retries;
        self.hedges += hedges;
        self.retries_denied += retries_denied;
        self.breaker_open += breaker_open;
        self.bulkhead_full += bulkhead_full;
        self.throttled += throttled;
        self.rate_limited += rate_limited;
        self.calls += calls;
        self.capped += capped;
        self.late_successes += late_successes;
        self.unauthorized += unauthorized;
        self.forbidden += forbidden;
        self.not_found += not_found;
        self.too_many_requests += too_many_requests;
        self.gateway_timeout += gateway_timeout;
        self.degraded += degraded;
    }
}

/// What a route's clients saw; also what one declared client saw, over
/// every route it sends to.
#[derive(Clone, Debug)]
pub struct RouteStats {
    /// Since the start, up to the last closed window (the run's totals once
    /// it has finished).
    pub total: Counts,
    /// In the current window: counters are bumped here only and added to
    /// `total` when the window closes, which halves the counting per event.
    pub window: Counts,
    /// End-to-end latency of successful requests.
    pub latency: LatencyHistogram,
    /// The same, in the current window.
    pub window_latency: LatencyHistogram,
    /// Requests sent and not yet answered or timed out.
    pub in_flight: u64,
    /// The end-to-end latency of the requests that ended with each status
    /// but `Ok` (whose latency is `latency`), in [`Status::ALL`]'s order:
    /// allocated at its first request, with 2 significant digits (a tenth
    /// of the memory of 3; 1 % is finer than any question asked of a
    /// failure's latency).
    ///
    /// [`Status::ALL`]: crate::world::Status::ALL
    pub status_latency: [Option<Box<LatencyHistogram>>; 13],
}

impl RouteStats {
    /// Records the latency of a request that ended with the status of index
    /// `status` (in `Status::ALL`), not `Ok`.
    #[cold]
    pub fn record_failure_latency(&mut self, status: usize, latency: SimDuration) {
        self.status_latency[status]
            .get_or_insert_with(|| Box::new(LatencyHistogram::new(2)))
            .record(latency);
    }
}

impl Default for RouteStats {
    fn default() -> Self {
        RouteStats {
            total: Counts::default(),
            window: Counts::default(),
            latency: LatencyHistogram::new(3),
            window_latency: LatencyHistogram::new(2),
            in_flight: 0,
            status_latency: Default::default(),
        }
    }
}

/// What an edge (a route, or a caller service, a callee and a policy) saw,
/// summed over the calling instances.
#[derive(Clone, Debug)]
pub struct EdgeStats {
    /// Since the start, up to the last closed window (the run's totals once
    /// it has finished).
    pub total: Counts,
    /// In the current window: counters are bumped here only and added to
    /// `total` when the window closes, which halves the counting per event.
    pub window: Counts,
    /// Breaker units currently open (or forced open).
    pub breakers_open: u64,
    /// Latency of its successful calls and attempts, boxed: two histograms
    /// would double the record every edge keeps inline.
    pub latency: Box<EdgeLatency>,
    /// Successes the callee completed for this edge's attempts after the
    /// caller had given up on them (see [`Counts::late_successes`]).
    pub completed_for_nobody: u64,
    /// What its policy's fallback did (all 0 without one).
    pub fallback: FallbackCounts,
}

/// What an edge's fallback did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FallbackCounts {
    /// Calls that failed with a status the fallback covers.
    pub triggered: u64,
    /// Of those, answered by the fallback: a degraded success for the
    /// caller (the edge still counts the call's failure).
    pub served: u64,
    /// Of those, not saved: the cached answer was missing or too old, or
    /// the fallback call failed too.
    pub failed: u64,
}

impl Default for EdgeStats {
    fn default() -> Self {
        EdgeStats {
            total: Counts::default(),
            window: Counts::default(),
            breakers_open: 0,
            latency: Box::new(EdgeLatency {
                call: LatencyHistogram::new(3),
                attempt: LatencyHistogram::new(3),
            }),
            completed_for_nobody: 0,
            fallback: FallbackCounts::default(),
        }
    }
}

/// The latencies of an edge's successes.
#[derive(Clone, Debug)]
pub struct EdgeLatency {
    /// Latency of the whole call, of calls that succeeded: from the call's
    /// start to its end, retries, backoffs, hedges and bulkhead waits
    /// included. Empty on a route: its calls are its requests, whose
    /// latency the route records.
    pub call: LatencyHistogram,
    /// Latency of the attempts answered with success, from the attempt's
    /// send to its reply. Empty on an edge without a policy: its one
    /// attempt is its call (`call` is both), so the fast path of plain
    /// scenarios records one histogram, not two.
    pub attempt: LatencyHistogram,
}

/// What one route or one service saw in one phase of the run (see
/// `world::phases`): its outcomes and the latency of its successes (a
/// route's, end to end) or of its answered requests (a service's, from
/// arrival to reply), attributed to the phase of the request's send time
/// (a route) or arrival time (a service).
#[derive(Clone, Debug)]
pub struct PhaseCounts {
    /// Outcomes, by the status vocabulary of [`Counts`].
    pub counts: Counts,
    /// Latency, at the precision of the windows' (2 significant digits,
    /// 1%): a tenth of the memory of the totals' 3, as phases multiply
    /// the histograms by routes and services.
    pub latency: LatencyHistogram,
    /// Sent (route) or arrived (service) in this phase and still in flight
    /// when the run ended.
    pub in_flight_at_end: u64,
}

impl Default for PhaseCounts {
    fn default() -> Self {
        PhaseCounts {
            counts: Counts::default(),
            latency: LatencyHistogram::new(2),
            in_flight_at_end: 0,
        }
    }
}

/// One circuit-breaker transition.
#[derive(Clone, Debug, PartialEq)]
pub struct BreakerEvent {
    /// When.
    pub at: SimTime,
    /// The edge (index into the run's edges; routes first).
    pub edge: u32,
    /// The scope unit (calling instance) within the edge.
    pub unit: u32,
    /// The state before.
    pub from: &'static str,
    /// The state after.
    pub to: &'static str,
}

/// What happened at a service, summed over its instances.
#[derive(Clone, Debug)]
pub struct ServiceStats {
    /// Since the start, up to the last closed window (the run's totals once
    /// it has finished).
    pub total: Counts,
    /// In the current window: counters are bumped here only and added to
    /// `total` when the window closes, which halves the counting per event.
    pub window: Counts,
    /// Time from arrival at an instance to the reply, of answered requests.
    pub latency: LatencyHistogram,
    /// The same, in the current window.
    pub window_latency: LatencyHistogram,
    /// Time spent waiting in the queue, of requests that started service.
    pub queue_wait: LatencyHistogram,
    /// Requests waiting in queues.
    ///
    /// Requests in the system (queued or holding a worker) are
    /// `in_queue + busy` at every instant, so their level is not kept apart
    /// ([`ServiceStats::in_system`]): two level updates fewer per request.
    pub in_queue: Level,
    /// Busy workers.
    pub busy: Level,
    /// Requests that left the system after being accepted (answered or
    /// dropped by a crash), and their total time in it: Little's W.
    pub departures: u64,
    /// Sum of the time in system of those departures, in nanoseconds.
    pub sojourn_ns: u128,
}

impl ServiceStats {
    /// Requests in the system now: queued or holding a worker.
    pub fn in_system(&self) -> u64 {
        self.in_queue.value() + self.busy.value()
    }

    /// The time-average of requests in the system from zero to `now`
    /// (Little's L): the sum of the queue's and the workers' exact integrals.
    pub fn mean_in_system_until(&self, now: SimTime) -> f64 {
        if now.as_nanos() == 0 {
            return 0.0;
        }
        let area = self.in_queue.area_until(now) + self.busy.area_until(now);
        area as f64 / now.as_nanos() as f64
    }
}

impl Default for ServiceStats {
    fn default() -> Self {
        ServiceStats {
            total: Counts::default(),
            window: Counts::default(),
            latency: LatencyHistogram::new(3),
            window_latency: LatencyHistogram::new(2),
            queue_wait: LatencyHistogram::new(3),
            in_queue: Level::default(),
            busy: Level::default(),
            departures: 0,
            sojourn_ns: 0,
        }
    }
}

/// Which kind of entity a time-series row describes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum EntityKind {
    /// A workload route (the client's view).
    Route,
    /// A service (summed over instances).
    Service,
    /// A service-to-service edge.
    Edge,
    /// A declared client of the workload (the client's view, over every
    /// route it sends to).
    Client,
}

impl EntityKind {
    /// The name used in files.
    pub fn as_str(self) -> &'static str {
        match self {
            EntityKind::Route => "route",
            EntityKind::Service => "service",
            EntityKind::Edge => "edge",
            EntityKind::Client => "client",
        }
    }
}

/// One row of the time series: one entity in one window.
#[derive(Clone, Debug, PartialEq)]
pub struct WindowRow {
    /// Window start.
    pub start: SimTime,
    /// Window end.
    pub end: SimTime,
    /// Route or service.
    pub kind: EntityKind,
    /// Index of the route or service (in name order).
    pub entity: u32,
    /// Outcomes counted in the window.
    pub counts: Counts,
    /// Median latency in the window, ms (none if nothing completed): of
    /// successful requests for a route, of every answered request for a
    /// service.
    pub latency_ms_p50: Option<f64>,
    /// 99th percentile latency in the window, ms (same population).
    pub latency_ms_p99: Option<f64>,
    /// Requests in flight (route) or in the system (service) at window end.
    pub in_flight: u64,
    /// Requests queued at window end (service only).
    pub queue_length: Option<u64>,
    /// Breaker units open at window end (routes and edges with a breaker).
    pub breakers_open: Option<u64>,
}
