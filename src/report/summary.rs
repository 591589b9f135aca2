//! `summary.json`: the whole run in numbers. It depends only on the scenario
//! and the seed: no wall-clock figure, no map with a random order, floats
//! rounded to fixed decimals.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::kernel::{SimTime, StopReason};
use crate::metrics::{Counts, LatencySummary, RouteStats, round3, round6};
use crate::scenario::Compiled;
use crate::world::RunOutcome;

mod autoscale;
mod events;
mod gateway;
mod instances;
mod phases;
mod saga;
mod services;
mod shed;
mod statuses;
use events::events_summary;
pub use events::{
    ChoreographyStepSummary, ChoreographySummary, EventsSummary, GroupSummary, PublisherSummary,
    ReadsSummary, TopicSummary,
};
pub use saga::{
    DeadLetteredSummary, ListedSagaSummary, SagaStepSummary, SagaSummary, StateSummary,
};
use saga::{sagas_summary, state_summary};
use services::services_summary;
pub use services::{LittlesLaw, ServiceSummary};
pub use shed::ShedSummary;
use shed::shed_summary;
mod fallback;
pub use autoscale::{AutoscaleSummary, ScaleChangeSummary, TimeToCapacitySummary};
use autoscale::{autoscale_summary, mean_instances};
pub use fallback::FallbackSummary;
use fallback::fallback_summary;
pub use gateway::{
    AuthSummary, BackendSummary, CredentialCheckSummary, GatewayRouteSummary, GatewaySummary,
    GlobalLimitSummary, LimitRouteSummary, LimitServiceSummary,
};
use gateway::{credential_check_summary, gateways_summary, limit_services_summary};
use instances::instances_summary;
pub use instances::{
    CrashSummary, DeregistrationSummary, InstanceSummary, InstancesSummary, KeyMovementSummary,
    RegistrySummary, WindowImbalanceSummary,
};
pub use phases::{
    BaselineSummary, FaultRecoverySummary, PhaseOutcome, PhaseSummary, RecoverySummary,
};
pub use statuses::StatusSummary;
use statuses::{route_statuses, statuses};

/// The format version of summary.json; bump it on every change of meaning
/// (and say what changed in the changelog of docs/scenarios.md).
pub const SUMMARY_FORMAT: u32 = 3;

/// The top level of summary.json.
#[derive(Clone, Debug, Serialize)]
pub struct Summary {
    /// Format version of this file.
    pub format: u32,
    /// meshsim's version.
    pub meshsim_version: &'static str,
    /// The scenario's name.
    pub scenario: String,
    /// The seed used.
    pub seed: u64,
    /// Virtual seconds simulated.
    pub duration_s: f64,
    /// Width of a time-series window, seconds.
    pub window_s: f64,
    /// Events handled.
    pub events_processed: u64,
    /// Whether the run covered its whole duration.
    pub completed: bool,
    /// `horizon`, `idle`, `event_budget`, `time_frozen` or `stopped`.
    pub stop_reason: &'static str,
    /// Why a run stopped early, named (`time_frozen`, `stopped`); null
    /// otherwise.
    pub stop_cause: Option<StopCauseSummary>,
    /// Per route: what the clients saw.
    pub routes: BTreeMap<String, RouteSummary>,
    /// Per declared client: what it saw over every route it sends to.
    /// Absent for a workload without `clients` (its one implicit client's
    /// figures are the routes'), so such a file is as it always was.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub clients: BTreeMap<String, ClientSummary>,
    /// Per service: what happened at its instances.
    pub services: BTreeMap<String, ServiceSummary>,
    /// Per service-to-service edge: calls, attempts, policy outcomes.
    pub edges: BTreeMap<String, EdgeSummary>,
    /// Breaker transitions not listed in breakers.csv (there were too many).
    pub breaker_events_dropped: u64,
    /// Message counts.
    pub network: NetworkSummary,
    /// The fault timeline.
    pub faults: Vec<FaultSummary>,
    /// The run split by phase of the fault timeline and the schedule, in
    /// time order: one `steady` phase for a run without either.
    pub phases: Vec<PhaseSummary>,
    /// Each fault's time to recover, and how recovery is judged.
    pub recovery: RecoverySummary,
    /// Some measurable fault ended and the routes were not back within
    /// tolerance of their baseline by the end of the run.
    pub metastable: bool,
    /// The compile step's warnings about the scenario, in its order.
    pub warnings: Vec<WarningSummary>,
    /// The bound on client requests in flight at once.
    pub max_requests_in_flight: u64,
    /// Client requests refused at that bound (over every route): nonzero
    /// means requests piled up that never ended.
    pub requests_capped: u64,
    /// The verdict on each of the scenario's `requirements`, in file order
    /// (filled in by [`super::judged_files`]; absent when there are none).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub requirements: Vec<super::requirements::RequirementSummary>,
    /// Per zone: its instances and what was sent to them. Absent when no
    /// service has zones, so such a file is as it always was.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub zones: BTreeMap<String, ZoneSummary>,
    /// Per gateway service: its routes' matches, refusals and backends.
    /// Absent when no service is a gateway.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub gateways: BTreeMap<String, GatewaySummary>,
    /// The credential invariant, when some gateway checks credentials.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub credential_check: Option<CredentialCheckSummary>,
    /// Per rate limit service (a gateway route's global `rate_limit`):
    /// the checks it decided. Absent when no limit is global.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub rate_limit_services: BTreeMap<String, LimitServiceSummary>,
    /// Per saga orchestrator: its sagas' endings, its steps' calls, its
    /// durations and the sagas still running. Absent when no service is
    /// an orchestrator.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub sagas: BTreeMap<String, SagaSummary>,
    /// Per stateful service: its balances' total at the start and at the
    /// end, what moved it, and its ledger's counts. Absent when no service
    /// has `state`.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub state: BTreeMap<String, StateSummary>,
    /// The brokers' topics, the producers and the consumer groups: lost
    /// events, duplicate effects, redeliveries, lag and staleness. Absent
    /// when no service is a broker.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub events: Option<EventsSummary>,
}

/// One zone in summary.json.
#[derive(Clone, Debug, Serialize)]
pub struct ZoneSummary {
    /// Instances in it, of every service (an autoscaled service's slots
    /// included).
    pub instances: u32,
    /// Attempts sent to an instance in it (every caller, every service).
    pub requests_in: u64,
    /// The share of those sent by a caller in another zone (a caller in no
    /// zone is not counted as cross-zone).
    pub cross_zone_share: f64,
}

/// Why a run stopped early, in summary.json.
#[derive(Clone, Debug, Serialize)]
pub struct StopCauseSummary {
    /// When, in virtual seconds.
    pub at_s: f64,
    /// What it is about.
    pub entity: String,
    /// What happened.
    pub cause: String,
}

/// One warning in summary.json.
#[derive(Clone, Debug, Serialize)]
pub struct WarningSummary {
    /// The JSON path of what it is about.
    pub path: String,
    /// What looks wrong.
    pub message: String,
    /// What to change.
    pub fix: String,
}

/// Failures by reason.
#[derive(Clone, Debug, Default, Serialize, PartialEq, Eq)]
pub struct Failures {
    /// Error replies.
    pub error: u64,
    /// Rejected by a full queue.
    pub rejected: u64,
    /// The caller gave up (routes only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timeout: Option<u64>,
    /// Lost in a crash: at a service, queued or in service when its instance
    /// went down, or arriving at a down instance; on an edge, in flight when
    /// the calling instance went down (the call died with its caller).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dropped: Option<u64>,
    /// A downstream call failed (services only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dependency: Option<u64>,
    /// Not started because the propagated deadline had passed (services only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expired: Option<u64>,
    /// Not started because the caller cancelled it, a hedge that lost
    /// (services only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cancelled: Option<u64>,
    /// Refused locally by an open circuit breaker (routes and edges).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub breaker_open: Option<u64>,
    /// Refused locally by a full bulkhead (routes and edges).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bulkhead_full: Option<u64>,
    /// Refused locally by adaptive throttling (routes and edges).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub throttled: Option<u64>,
    /// Refused locally by the outgoing rate limit (routes and edges).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rate_limited: Option<u64>,
    /// Refused at the bound on requests in flight (routes only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub capped: Option<u64>,
}

impl Failures {
    /// The failures at a service.
    fn service(c: &Counts) -> Failures {
        Failures {
            error: c.errors,
            rejected: c.rejected,
            dropped: Some(c.dropped),
            dependency: Some(c.dependency),
            expired: Some(c.expired),
            cancelled: Some(c.cancelled),
            ..Failures::default()
        }
    }

    /// The failures a caller (route or edge) sees.
    fn caller(c: &Counts) -> Failures {
        Failures {
            error: c.errors,
            rejected: c.rejected,
            timeout: Some(c.timeouts),
            breaker_open: Some(c.breaker_open),
            bulkhead_full: Some(c.bulkhead_full),
            throttled: Some(c.throttled),
            rate_limited: Some(c.rate_limited),
            ..Failures::default()
        }
    }
}

/// Attempts behind the calls of a route or an edge.
#[derive(Clone, Debug, Serialize)]
pub struct Attempts {
    /// Attempts sent, first attempts, retries and hedges together.
    pub attempts: u64,
    /// Retries sent.
    pub retries: u64,
    /// Hedged attempts sent.
    pub hedges: u64,
    /// Retries refused by a retry budget or throttle.
    pub retries_denied: u64,
    /// attempts ÷ calls.
    pub per_call: f64,
}

impl Attempts {
    fn new(c: &Counts) -> Attempts {
        Attempts {
            attempts: c.attempts,
            retries: c.retries,
            hedges: c.hedges,
            retries_denied: c.retries_denied,
            per_call: if c.requests > 0 {
                round6(c.attempts as f64 / c.requests as f64)
            } else {
                0.0
            },
        }
    }
}

/// A service-to-service edge in summary.json.
#[derive(Clone, Debug, Serialize)]
pub struct EdgeSummary {
    /// The called service.
    pub callee: String,
    /// The policy applied, if any.
    pub policy: Option<String>,
    /// Calls made.
    pub calls: u64,
    /// Calls that succeeded.
    pub successes: u64,
    /// Calls that failed, by reason.
    pub failures: Failures,
    /// The attempts behind the calls.
    pub attempts: Attempts,
    /// Calls started and not ended when the run ended.
    pub in_flight_at_end: u64,
    /// Latency of the whole calls that succeeded, from the call's start to
    /// its end (retries, backoffs and hedges included), ms.
    pub call_latency_ms: LatencySummary,
    /// Latency of the attempts answered with success, ms (the calls' on an
    /// edge without a policy: one attempt per call).
    pub attempt_latency_ms: LatencySummary,
    /// Successes the callee completed for this edge's attempts after the
    /// caller had given up on them (wasted work); null when another edge
    /// joins the same caller and callee (the callee cannot tell them apart:
    /// the callee's `late_successes` counts them).
    pub completed_for_nobody: Option<u64>,
    /// Circuit breakers on this edge, if the policy has one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub breakers: Option<BreakerSummary>,
    /// The calls that ended with a status, by status (only the statuses
    /// seen); calls dropped with their caller have none.
    pub statuses: Vec<StatusSummary>,
    /// What its policy's fallback did, for an edge whose policy has one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fallback: Option<FallbackSummary>,
}

/// The circuit breakers of an edge (one per calling instance, or one per
/// calling service).
#[derive(Clone, Debug, Serialize)]
pub struct BreakerSummary {
    /// How many breakers.
    pub count: u32,
    /// Open at the end of the run.
    pub open_at_end: u64,
    /// Transitions by `from->to`.
    pub transitions: BTreeMap<String, u64>,
}

/// A route in summary.json.
#[derive(Clone, Debug, Serialize)]
pub struct RouteSummary {
    /// The service the route enters.
    pub service: String,
    /// Requests sent.
    pub requests: u64,
    /// Successful replies.
    pub successes: u64,
    /// Failures by reason.
    pub failures: Failures,
    /// Sent but neither answered nor timed out when the run ended.
    pub in_flight_at_end: u64,
    /// successes / (requests − in flight at end).
    pub success_ratio: f64,
    /// Successes per second of virtual time.
    pub goodput_per_sec: f64,
    /// Successes the entry service produced for the route per second,
    /// those its clients had given up on included: goodput +
    /// completed_for_nobody per second (null when that is).
    pub throughput_per_sec: Option<f64>,
    /// Successes the entry service completed for this route's attempts
    /// after the client had given up on them; null when another route
    /// enters the same service (the service's `late_successes` counts
    /// them).
    pub completed_for_nobody: Option<u64>,
    /// End-to-end latency of successful requests, ms.
    pub latency_ms: LatencySummary,
    /// Latency of the attempts answered with success, ms (the requests'
    /// own without a policy: one attempt each).
    pub attempt_latency_ms: LatencySummary,
    /// The attempts behind the requests.
    pub attempts: Attempts,
    /// The clients' circuit breaker on this route, if its policy has one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub breakers: Option<BreakerSummary>,
    /// The requests that ended, by status, each with its latency (only the
    /// statuses seen, in the vocabulary's order).
    pub statuses: Vec<StatusSummary>,
    /// Of the successes, those answered degraded: a fallback answered for
    /// a failed call on the way.
    pub degraded: u64,
    /// What the route's policy's fallback did, if it has one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fallback: Option<FallbackSummary>,
}

/// A declared client in summary.json: what it saw, over every route it
/// sends to.
#[derive(Clone, Debug, Serialize)]
pub struct ClientSummary {
    /// Its credential class (a gateway route's `allow` checks it).
    pub credential: String,
    /// Requests sent.
    pub requests: u64,
    /// Successful replies.
    pub successes: u64,
    /// Failures by reason, as for a route.
    pub failures: Failures,
    /// Sent but neither answered nor timed out when the run ended.
    pub in_flight_at_end: u64,
    /// successes / (requests − in flight at end).
    pub success_ratio: f64,
    /// Successes per second of virtual time.
    pub goodput_per_sec: f64,
    /// End-to-end latency of its successful requests, ms.
    pub latency_ms: LatencySummary,
    /// The requests that ended, by status (only the statuses seen).
    pub statuses: Vec<StatusSummary>,
    /// Of the successes, those answered degraded.
    pub degraded: u64,
}

/// Network counts.
#[derive(Clone, Debug, Serialize)]
pub struct NetworkSummary {
    /// Messages sent.
    pub messages: u64,
    /// Lost at random.
    pub lost: u64,
    /// Lost to a partition.
    pub partitioned: u64,
}

/// One fault in summary.json.
#[derive(Clone, Debug, Serialize)]
pub struct FaultSummary {
    /// Kind of fault.
    pub kind: &'static str,
    /// What it hit.
    pub target: String,
    /// Start, seconds.
    pub start_s: f64,
    /// End, seconds (none if it lasted to the end of the run).
    pub end_s: Option<f64>,
}

fn breaker_summary(run: &RunOutcome, edge: usize) -> Option<BreakerSummary> {
    let info = &run.edges[edge];
    info.has_breaker.then(|| BreakerSummary {
        count: info.units,
        open_at_end: run.edge_stats[edge].breakers_open,
        transitions: run.breaker_transitions[edge]
            .iter()
            .map(|((from, to), n)| (format!("{from}->{to}"), *n))
            .collect(),
    })
}

/// successes / (requests − in flight at end); 0 if none finished.
fn success_ratio(stats: &RouteStats) -> f64 {
    let c = &stats.total;
    let finished = c.requests - stats.in_flight;
    if finished > 0 {
        round6(c.successes as f64 / finished as f64)
    } else {
        0.0
    }
}

/// The successes completed for nobody on edge `edge`, if they can be told
/// apart from another edge's.
fn edge_nobody(run: &RunOutcome, edge: usize) -> Option<u64> {
    run.edge_attributable
        .get(edge)
        .copied()
        .unwrap_or(false)
        .then(|| run.edge_stats[edge].completed_for_nobody)
}

/// The latency of edge `edge`'s successful attempts: its calls' without a
/// policy (one attempt each, recorded once), and for a route without a
/// policy its requests'.
fn attempt_latency(run: &RunOutcome, edge: usize) -> LatencySummary {
    let stats = &run.edge_stats[edge];
    match (&run.edges[edge].policy, run.edges[edge].is_route) {
        (Some(_), _) => stats.latency.attempt.summary(),
        (None, false) => stats.latency.call.summary(),
        (None, true) => run.routes[edge].latency.summary(),
    }
}

fn secs(t: SimTime) -> f64 {
    round6(t.as_secs_f64())
}

/// `n` per second of `elapsed` seconds, rounded (0 for no time).
fn per_second(n: u64, elapsed: f64) -> f64 {
    if elapsed > 0.0 {
        round6(n as f64 / elapsed)
    } else {
        0.0
    }
}

impl Summary {
    /// Summarises a finished run.
    pub fn new(compiled: &Compiled, seed: u64, run: &RunOutcome) -> Summary {
        let scenario = compiled.scenario();
        let elapsed = run.end.as_secs_f64();
        let per_sec = |n: u64| per_second(n, elapsed);
        let routes = run
            .route_names
            .iter()
            .enumerate()
            .map(|(i, name)| {
                let stats = &run.routes[i];
                let c: Counts = stats.total;
                let nobody = edge_nobody(run, i);
                let summary = RouteSummary {
                    service: run.service_names[run.route_services[i] as usize].clone(),
                    requests: c.requests,
                    successes: c.successes,
                    failures: Failures {
                        capped: Some(c.capped),
                        ..Failures::caller(&c)
                    },
                    in_flight_at_end: stats.in_flight,
                    success_ratio: success_ratio(stats),
                    goodput_per_sec: per_sec(c.successes),
                    throughput_per_sec: nobody.map(|n| per_sec(c.successes + n)),
                    completed_for_nobody: nobody,
                    latency_ms: stats.latency.summary(),
                    attempt_latency_ms: attempt_latency(run, i),
                    attempts: Attempts::new(&run.edge_stats[i].total),
                    breakers: breaker_summary(run, i),
                    statuses: route_statuses(stats),
                    degraded: c.degraded,
                    fallback: fallback_summary(run, compiled, i),
                };
                (name.clone(), summary)
            })
            .collect();
        let clients = run
            .client_names
            .iter()
            .zip(&run.clients)
            .zip(compiled.clients())
            .map(|((name, stats), target)| {
                let c: Counts = stats.total;
                let summary = ClientSummary {
                    credential: compiled
                        .credentials()
                        .get(usize::from(target.credential))
                        .cloned()
                        .unwrap_or_default(),
                    requests: c.requests,
                    successes: c.successes,
                    failures: Failures {
                        capped: Some(c.capped),
                        ..Failures::caller(&c)
                    },
                    in_flight_at_end: stats.in_flight,
                    success_ratio: success_ratio(stats),
                    goodput_per_sec: per_sec(c.successes),
                    latency_ms: stats.latency.summary(),
                    statuses: statuses(&c),
                    degraded: c.degraded,
                };
                (name.clone(), summary)
            })
            .collect();
        let services = services_summary(compiled, run, elapsed);
        let (recovery, metastable) = phases::recovery(run);
        Summary {
            format: SUMMARY_FORMAT,
            phases: phases::phases(run),
            recovery,
            metastable,
            meshsim_version: env!("CARGO_PKG_VERSION"),
            scenario: scenario.name.clone(),
            seed,
            duration_s: secs(run.end),
            window_s: round6(scenario.window.as_secs_f64()),
            events_processed: run.events,
            completed: run.stop.completed(),
            stop_reason: match run.stop {
                StopReason::Horizon => "horizon",
                StopReason::Idle => "idle",
                StopReason::EventBudget => "event_budget",
                StopReason::TimeFrozen => "time_frozen",
                StopReason::Stopped => "stopped",
            },
            stop_cause: run.stop_cause.as_ref().map(|c| StopCauseSummary {
                at_s: secs(c.at),
                entity: c.entity.clone(),
                cause: c.cause.clone(),
            }),
            routes,
            clients,
            services,
            edges: run
                .edges
                .iter()
                .enumerate()
                .filter(|(_, e)| !e.is_route)
                .map(|(i, e)| {
                    let c = &run.edge_stats[i].total;
                    let summary = EdgeSummary {
                        callee: run.service_names[e.callee as usize].clone(),
                        policy: e.policy.clone(),
                        calls: c.requests,
                        successes: c.successes,
                        failures: Failures {
                            // Calls that died with their calling instance.
                            dropped: Some(c.dropped),
                            ..Failures::caller(c)
                        },
                        attempts: Attempts::new(c),
                        in_flight_at_end: c.requests - c.successes - c.failures(),
                        call_latency_ms: run.edge_stats[i].latency.call.summary(),
                        attempt_latency_ms: attempt_latency(run, i),
                        completed_for_nobody: edge_nobody(run, i),
                        breakers: breaker_summary(run, i),
                        statuses: statuses(c),
                        fallback: fallback_summary(run, compiled, i),
                    };
                    (e.name.clone(), summary)
                })
                .collect(),
            breaker_events_dropped: run.breaker_events_dropped,
            network: NetworkSummary {
                messages: run.network.messages,
                lost: run.network.lost,
                partitioned: run.network.partitioned,
            },
            faults: run
                .faults
                .iter()
                .map(|f| FaultSummary {
                    kind: f.kind,
                    target: f.target.clone(),
                    start_s: secs(f.start),
                    end_s: f.end.map(secs),
                })
                .collect(),
            max_requests_in_flight: run.max_requests_in_flight,
            requests_capped: run.requests_capped,
            warnings: compiled
                .warnings()
                .iter()
                .map(|w| WarningSummary {
                    path: w.path.to_string(),
                    message: w.message.clone(),
                    fix: w.fix.clone(),
                })
                .collect(),
            requirements: Vec::new(),
            gateways: gateways_summary(&run.gateways),
            credential_check: run.credential_check.as_ref().map(credential_check_summary),
            rate_limit_services: limit_services_summary(&run.limiters),
            sagas: sagas_summary(&run.sagas),
            state: state_summary(&run.stores),
            events: events_summary(run.messaging.as_ref()),
            zones: run.zones.as_ref().map_or_else(BTreeMap::new, |z| {
                z.names
                    .iter()
                    .enumerate()
                    .map(|(i, name)| {
                        let counts = z.counts[i];
                        let share = if counts.requests > 0 {
                            round6(counts.cross_zone as f64 / counts.requests as f64)
                        } else {
                            0.0
                        };
                        let zone = ZoneSummary {
                            instances: z.instances[i],
                            requests_in: counts.requests,
                            cross_zone_share: share,
                        };
                        (name.clone(), zone)
                    })
                    .collect()
            }),
        }
    }

    /// The JSON text, with a final newline.
    pub fn to_json(&self) -> String {
        let mut text = serde_json::to_string_pretty(self).expect("a summary is plain data");
        text.push('\n');
        text
    }
}
