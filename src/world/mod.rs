//! The simulated world: clients, service instances, the network, the policy
//! stacks on edges and the fault timeline, reacting to kernel events.
//!
//! A request hop is: the caller's policy stack → the network → the callee
//! instance's FIFO queue (or rejection when full) → a worker for the service
//! time → the downstream call steps, in order, the worker held meanwhile →
//! the reply over the network → the caller's policy stack. A caller learns of
//! a lost message or a crashed callee only through its timeout.
//!
//! Entities are addressed by index and requests by generational [`Key`]s, so
//! events are small plain data and nothing is allocated per event.
//!
//! The code is split by concept: `events.rs` (the events and outcomes),
//! `build.rs` (the world from a [`Compiled`] scenario), `windows.rs` (closing
//! time-series windows); the caller's side in `calls.rs` (a call and its
//! attempts), `stack.rs` (the policy stack), `waiting.rs` (bulkhead waits,
//! policy timers), `retry.rs` (retries and hedges), `client.rs` (the
//! clients: their arrivals, users and route mixes) and `balance.rs`
//! (instance choice); the callee's side in
//! `service.rs`; `lifecycle.rs` (an instance's states and restarts),
//! `discovery.rs` and `registry/` (who callers can find), `autoscale.rs`
//! (how many instances run); `faults.rs` (the fault timeline); `phases.rs`
//! (outcomes split by phase of the timeline); `saga.rs` (orchestrated sagas
//! and stateful services, with their invariants); `draws.rs` (what every
//! random draw is keyed by).
//!
//! **Architecture Invariant:** the world draws randomness only from its keyed
//! streams (and the arrival process's own stream) and time only from the
//! kernel; the same scenario and seed give the same sequence of events, and
//! a draw depends only on what it is about.

mod autoscale;
mod balance;
mod behaviour;
mod broker;
mod build;
mod calls;
mod client;
mod credential;
mod discovery;
mod draws;
mod events;
mod fallback;
mod faults;
mod gateway;
mod lifecycle;
mod limiter;
pub mod network;
mod observer;
pub mod phases;
pub mod policy;
mod readiness;
mod registry;
mod request;
mod retry;
mod saga;
mod service;
mod shed;
pub mod slab;
mod stack;
mod status;
mod stop;
pub mod trace;

mod waiting;
mod windows;
pub mod workload;
mod zones;

use std::collections::{BTreeMap, VecDeque};

use crate::kernel::{
    Control, DrawKey, Kernel, Model, RngStreams, RunLimits, SimDuration, SimTime, StopReason,
};
use crate::metrics::instances::InstanceSeries;
use crate::metrics::recovery::{FaultRecovery, RecoveryRecorder};
use crate::metrics::series::BoundedSeries;
use crate::metrics::{
    BreakerEvent, ClosedWindow, EdgeStats, PhaseCounts, Recorder, RouteStats, SeriesNames,
    ServiceStats, WindowRow,
};
use crate::patterns::rate_limit::TokenBucket;
use crate::scenario::Compiled;

use crate::scenario::Sampler;
use balance::Balancer;
use behaviour::Behaviour;
pub use broker::{
    ChoreographyCounts, ChoreographyOutcome, ChoreographyStepCounts, ChoreographyStepOutcome,
    EventsOutcome, GroupCounts, GroupOutcome, PublisherCounts, PublisherOutcome, ReadCounts,
    TopicOutcome,
};
pub use credential::CredentialCheck;
pub use discovery::{CrashDetection, InstanceCounts, InstancesOutcome, KEY_SAMPLE, KeyMovement};
use draws::Draws;
pub use events::Event;
pub use faults::FaultWindow;
pub use gateway::{AuthCounts, GatewayOutcome, GatewayRouteCounts, GlobalLimitCounts};
pub use lifecycle::InstanceState;
pub use limiter::LimiterOutcome;
use network::{Network, NetworkStats};
pub use observer::EventObserver;
use observer::Observed;
pub use phases::Phase;
use policy::{EdgeState, PolicyModel};
pub use registry::{Deregistration, MAX_DEREGISTRATIONS, RegistryCounts};
use request::RequestContext;
pub use saga::{STUCK_LISTED, SagaCounts, SagaOutcome, StepCounts, StoreCounts, StoreOutcome};
pub use shed::ShedCounts;
use slab::{Key, Slab};
pub use status::{Reply, Status};
pub use stop::{Invariant, StopCause};
pub use zones::{ZoneCounts, ZonesOutcome};

pub use crate::scenario::validate::DEFAULT_MAX_REQUESTS_IN_FLIGHT;

/// The default event budget: a bound on every run, far above any bundled
/// scenario (about ten minutes of wall-clock time at full speed).
pub const DEFAULT_EVENT_BUDGET: u64 = 10_000_000_000;

/// What sent a job.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Origin {
    /// An attempt of a call.
    Call,
    /// A registry's health check.
    Probe,
    /// A message of a broker's delivery to a consumer.
    Delivery,
}

/// Where a job is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum JobState {
    /// On the network, not yet at its instance.
    InTransit,
    /// Waiting in the instance's queue.
    Queued,
    /// Holding a worker.
    Busy,
}

/// A request sent to (or being handled at) an instance.
struct Job {
    /// The caller's attempt it answers.
    attempt: Key,
    /// What its draws are about: the attempt's key.
    draw: DrawKey,
    /// The request it serves; stale once the client's request has ended
    /// (the job is then orphan work).
    request: Key,
    /// The network node the reply goes to.
    caller: u32,
    instance: u32,
    /// The deadline that travelled with the request ([`SimTime::MAX`] for
    /// none: 8 bytes instead of an `Option`'s 16 keep a job in 48).
    deadline: SimTime,
    arrived: SimTime,
    step: u16,
    pending: u16,
    state: JobState,
    /// Its caller cancelled it (a hedge that lost): dropped instead of
    /// started.
    cancelled: bool,
    /// What sent it: a call's attempt, a registry's health check
    /// (`registry/checks.rs`: `attempt` is then the check's key, its work is
    /// the check's, and its reply goes to the registry) or a broker's
    /// delivery (`broker/consume.rs`: `attempt` is the delivery's key, and
    /// its end goes to the delivery).
    origin: Origin,
    /// The caller's zone, for the reply's latency (`zones.rs`; `NO_ZONE` in
    /// a world without zones): the last spare byte of the 56.
    caller_zone: crate::scenario::ZoneId,
}

struct Instance {
    service: u32,
    /// Where it is in its lifecycle (see `lifecycle.rs`).
    state: InstanceState,
    /// Active crash faults on this instance (at most
    /// `validate::MAX_FAULTS`: 16 bits keep an instance in 88 bytes, which
    /// an M/M/1 run showed is worth 0.6% of its instructions).
    crashes: u16,
    /// Active graceful stops of this instance.
    stops: u16,
    /// Graceful stops announced but still in the service's
    /// `shutdown_delay` (the instance deregistered, still serving), and
    /// how many of them were ended meanwhile.
    lingering: u16,
    early_resumes: u16,
    /// Booting after a restart (until its `Booted` event).
    booting: bool,
    /// Restarts so far. Durable: it survives the restarts it counts, and
    /// keys the boot time's draw.
    restarts: u32,
    busy: u32,
    queue: VecDeque<Key>,
    /// Its own multiplier of the service time (`instance_slowdown`).
    base_slowdown: f64,
    /// What the active faults make of it: the service time is multiplied by
    /// `slowdown` and `added_latency` is added; jobs fail with `error_rate`.
    slowdown: f64,
    added_latency: SimDuration,
    error_rate: f64,
    /// Its busy workers and queue are integrated over time, in
    /// `World::meters` (an autoscaled service's: `autoscale.rs`).
    metered: bool,
}

struct CallSpec {
    edge: u32,
    probability: f64,
    optional: bool,
}

struct ServiceModel {
    first_instance: u32,
    instances: u32,
    concurrency: u32,
    queue_capacity: u32,
    service_time: Sampler,
    base_error_rate: f64,
    /// How long a restarting instance boots (none: at once).
    boot_time: Option<Sampler>,
    /// What active `slow_boot` faults multiply a boot by.
    boot_factor: f64,
    /// How long a stopping instance goes on serving after it deregisters.
    shutdown_delay: Option<SimDuration>,
    /// Instance transitions, by (from, to).
    transitions: BTreeMap<(InstanceState, InstanceState), u64>,
    /// Its call steps, in order; each step is a group of calls made in
    /// parallel (a single call is a group of one). Empty for a gateway,
    /// whose calls are its routes'.
    steps: Vec<Vec<CallSpec>>,
    /// What it does after its local work.
    behaviour: Behaviour,
    balancer: Balancer,
    /// Its admission limit's bucket as an instance starts it (full), or
    /// none.
    admission: Option<TokenBucket>,
}

/// A caller–callee pair with one policy: routes first, then service edges.
struct EdgeModel {
    /// The calling service (none for a route: the clients).
    caller: Option<u32>,
    callee: u32,
    policy: Option<u16>,
    /// Per-attempt timeout (a call's `timeout` or its policy's).
    attempt_timeout: Option<SimDuration>,
    /// The client gives up on the whole call after this long (routes).
    give_up_after: Option<SimDuration>,
    /// Pattern state per scope unit (empty when the policy keeps none).
    units: Vec<EdgeState>,
    /// Its scope units pick instances with balancers of their own.
    balanced: bool,
    /// Its policy's fallback, if it has one.
    fallback: Option<fallback::EdgeFallback>,
    /// The edge whose fallback calls are made on this one (none: an
    /// ordinary edge): its calls' ends are told to their parent as ends of
    /// that edge's call.
    fallback_of: Option<u32>,
}

/// What the world hands each closed window to: the run's observer (see
/// [`crate::metrics::recorder`]).
pub type RowSink<'s> = dyn Recorder + 's;

/// The whole simulated system. `'s` is the lifetime of its recorder.
pub struct World<'s> {
    services: Vec<ServiceModel>,
    instances: Vec<Instance>,
    policies: Vec<PolicyModel>,
    edges: Vec<EdgeModel>,
    /// The world's keyed streams.
    draws: Draws,
    /// Who sends requests: the clients, their arrivals, users and route
    /// mixes (see `client.rs`).
    clients: client::Clients,
    /// Service discovery and per-edge balancing (`discovery.rs`).
    discovery: discovery::Discovery,
    /// Per service, its autoscaler (`autoscale.rs`; none: a fixed count).
    autoscalers: Vec<Option<autoscale::Autoscaler>>,
    /// Per instance, its meter (empty without an autoscaler: only a
    /// `metered` instance has one).
    meters: Vec<autoscale::Meter>,
    /// Per instance, its admission limit (`rate_limit`; empty when no
    /// service has one, so the check is one length test).
    admission: Vec<Option<TokenBucket>>,
    /// Load shedding (`shed.rs`): none when no service sheds, so the check
    /// is one test.
    shed: Option<Box<shed::Shedders>>,
    network: Network,
    /// Zones (`zones.rs`): none when no service has zones.
    zones: Option<Box<zones::Zones>>,
    client_node: u32,
    faults: Vec<(crate::scenario::FaultTarget, bool)>,
    /// When each fault starts and, if within reach, ends.
    fault_times: Vec<(SimTime, Option<SimTime>)>,
    jobs: Slab<Job>,
    calls: Slab<calls::CallState>,
    attempts: Slab<calls::AttemptState>,
    /// The context of every client request in flight.
    requests: Slab<RequestContext>,
    /// Client requests sent so far: the next one's id.
    requests_sent: u64,
    /// The bound on client requests in flight (`max_requests_in_flight`).
    max_requests: usize,
    /// Requests refused at that bound.
    requests_capped: u64,
    /// Per route: the method, path (an index into `paths`) and key count of
    /// its requests.
    route_requests: Vec<(crate::scenario::HttpMethod, u32, Option<u64>)>,
    /// The paths of the routes, interned.
    paths: Vec<String>,
    retries: Slab<crate::patterns::retry::RetryState>,
    route_stats: Vec<RouteStats>,
    service_stats: Vec<ServiceStats>,
    edge_stats: Vec<EdgeStats>,
    breaker_events: Vec<BreakerEvent>,
    breaker_events_dropped: u64,
    breaker_transitions: Vec<BTreeMap<(&'static str, &'static str), u64>>,
    /// The window being closed (its rows reused).
    closing: ClosedWindow,
    /// Where every window goes as it closes.
    sink: &'s mut RowSink<'s>,
    /// Names of the routes and services (for the outcome and the recorder)
    /// and of the edges (for the recorder and messages).
    route_names: Vec<String>,
    service_names: Vec<String>,
    edge_names: Vec<String>,
    window: SimDuration,
    window_start: SimTime,
    duration: SimDuration,
    /// A violated invariant: the run stops after the current event.
    violation: Option<StopCause>,
    /// The credential invariant's check (`gateway.rs`; none when no
    /// gateway checks credentials, so a delivery costs one branch).
    guard: Option<Box<credential::CredentialGuard>>,
    /// Outcomes by phase of the fault timeline and schedule (`phases.rs`).
    phases: phases::PhaseTracker,
    /// The edge of each (caller node, callee service) pair, sorted by
    /// pair, `u32::MAX` where several edges share it: where a late success
    /// is counted (a job knows its caller's node, not its edge).
    pair_edges: Vec<((u32, u32), u32)>,
    /// Whether any caller can give up on an attempt before its reply (a
    /// timeout, a give-up time, a policy, a crash): without, no success is
    /// ever late and the check is skipped.
    late_possible: bool,
    /// Whether some service is a rate limit service, whose jobs carry the
    /// descriptor of their check (`limiter.rs`).
    limiters: bool,
    /// Orchestrated sagas and stateful services (`saga.rs`): none without
    /// an orchestrator, so a job's send costs one branch.
    sagas: Option<Box<saga::Sagas>>,
    /// Brokers, producers and consumer groups (`broker/`): none without a
    /// broker, so a job's send and a pipeline's end cost one branch.
    messaging: Option<Box<broker::Messaging>>,
    /// The tracer of a traced run (`trace.rs`; none otherwise, so a hook
    /// costs one branch).
    trace: Option<Box<trace::Tracer>>,
}

/// An edge of the run, for reports.
#[derive(Clone, Debug)]
pub struct EdgeInfo {
    /// `client->orders` (a route) or `orders->inventory`, with ` [policy]`
    /// when the same pair has several policies.
    pub name: String,
    /// The callee's index.
    pub callee: u32,
    /// The policy's name, if any.
    pub policy: Option<String>,
    /// Whether this edge is a route (clients → entry service).
    pub is_route: bool,
    /// Whether the policy has a circuit breaker.
    pub has_breaker: bool,
    /// Scope units (breakers) on this edge.
    pub units: u32,
    /// The edge whose fallback calls this one carries (none: an ordinary
    /// edge).
    pub fallback_of: Option<u32>,
}

/// Everything a finished run produced: the input to reports.
pub struct RunOutcome {
    /// Why the run stopped.
    pub stop: StopReason,
    /// Why the run stopped early, when it did not reach its horizon for a
    /// reason the world can name: a violated invariant, or time that froze.
    pub stop_cause: Option<StopCause>,
    /// Where observation ended: the horizon, unless the event budget
    /// stopped the run earlier.
    pub end: SimTime,
    /// Events handled.
    pub events: u64,
    /// Service names, in index order (sorted).
    pub service_names: Vec<String>,
    /// Route names, in index order (as in the file).
    pub route_names: Vec<String>,
    /// Entry service of each route.
    pub route_services: Vec<u32>,
    /// Per-route statistics.
    pub routes: Vec<RouteStats>,
    /// Names of the declared clients, in file order; empty for a workload
    /// without `clients` (its one implicit client's figures are the
    /// routes').
    pub client_names: Vec<String>,
    /// Per declared client, what it saw (the same figures as a route's),
    /// in the order of `client_names`.
    pub clients: Vec<RouteStats>,
    /// Per-service statistics.
    pub services: Vec<ServiceStats>,
    /// Client requests refused at the bound on requests in flight.
    pub requests_capped: u64,
    /// That bound.
    pub max_requests_in_flight: u64,
    /// Per service, its instances' lifecycle transitions by (from, to).
    pub instance_transitions: Vec<BTreeMap<(InstanceState, InstanceState), u64>>,
    /// Workers per service (instances × concurrency), for utilisation.
    pub service_workers: Vec<u64>,
    /// Edges: routes first (same indices), then service-to-service edges.
    pub edges: Vec<EdgeInfo>,
    /// Per-edge statistics, in edge order.
    pub edge_stats: Vec<EdgeStats>,
    /// Every circuit-breaker transition, in time order.
    pub breaker_events: Vec<BreakerEvent>,
    /// Transitions not kept because there were too many.
    pub breaker_events_dropped: u64,
    /// Per edge, transition counts by (from, to).
    pub breaker_transitions: Vec<BTreeMap<(&'static str, &'static str), u64>>,
    /// The time series kept in memory for charts: every row of the run,
    /// unless it had more windows than [`BoundedSeries`] keeps; then each
    /// row covers `rows_merged` windows.
    pub rows: Vec<WindowRow>,
    /// Windows of the run in each row of `rows` (1 unless the run was long).
    pub rows_merged: u32,
    /// Network counts.
    pub network: NetworkStats,
    /// The fault timeline.
    pub faults: Vec<FaultWindow>,
    /// Per-instance figures of the services balanced over or discovered.
    pub instances: InstancesOutcome,
    /// Per service, what its autoscaler did (none: not autoscaled).
    pub autoscale: Vec<Option<crate::metrics::autoscale::AutoscaleOutcome>>,
    /// The zones and what was sent to each (none: no service has zones).
    pub zones: Option<ZonesOutcome>,
    /// The phases of the run, in time order (`phases::phases_of`).
    pub phases: Vec<Phase>,
    /// Per phase, per route (phase-major: phase `p`, route `r` at
    /// `p × routes + r`); empty when the run has one phase (its figures
    /// are the routes' totals).
    pub route_phases: Vec<PhaseCounts>,
    /// Per phase, per service, as `route_phases`.
    pub service_phases: Vec<PhaseCounts>,
    /// Per fault, in the scenario's order, what became of its aftermath
    /// (`metrics::recovery`).
    pub recovery: Vec<FaultRecovery>,
    /// Per edge, whether its late successes can be told apart from other
    /// edges' (it is the only edge between its caller and callee).
    pub edge_attributable: Vec<bool>,
    /// What each gateway did (empty: no gateway).
    pub gateways: Vec<GatewayOutcome>,
    /// The credential invariant's counts, when some gateway checks
    /// credentials.
    pub credential_check: Option<CredentialCheck>,
    /// Per service, what its load shedding did (none: it does not shed).
    pub shed: Vec<Option<ShedCounts>>,
    /// What each rate limit service decided (empty: none).
    pub limiters: Vec<LimiterOutcome>,
    /// What each saga orchestrator did (empty: none).
    pub sagas: Vec<SagaOutcome>,
    /// What each stateful service holds at the end (empty: none).
    pub stores: Vec<StoreOutcome>,
    /// What the brokers, producers and consumer groups did (none without a
    /// broker).
    pub messaging: Option<EventsOutcome>,
}

/// Whether a run of `compiled` reports instances one by one (in
/// summary.json and `series/instances.csv`): some service has discovery,
/// or some policy picks instances with a balancer of its own.
pub fn reports_instances(compiled: &Compiled) -> bool {
    compiled.discovery().iter().any(Option::is_some)
        || compiled
            .policies()
            .iter()
            .any(|p| p.balancer().is_some() || p.outlier().is_some())
}

/// Builds the world for a compiled scenario, runs it with `seed` and returns
/// what it observed. `event_budget` overrides the scenario's.
pub fn run(compiled: &Compiled, seed: u64, event_budget: Option<u64>) -> RunOutcome {
    run_streaming(compiled, seed, event_budget, &mut ())
}

/// [`run`], handing every closed window to `recorder` as it closes (after
/// telling it the entities' names): the whole series at constant memory,
/// however long the run. The outcome's `rows` are the bounded copy kept for
/// charts, recorded beside it.
pub fn run_streaming(
    compiled: &Compiled,
    seed: u64,
    event_budget: Option<u64>,
    recorder: &mut dyn Recorder,
) -> RunOutcome {
    run_observed(compiled, seed, event_budget, recorder, &mut ())
}

/// [`run_streaming`], showing every event to `observer` before the world
/// handles it.
pub fn run_observed<O: EventObserver>(
    compiled: &Compiled,
    seed: u64,
    event_budget: Option<u64>,
    recorder: &mut dyn Recorder,
    observer: &mut O,
) -> RunOutcome {
    run_inner(compiled, seed, event_budget, recorder, observer, None).0
}

/// [`run_observed`], with a tracer (`trace.rs`) when one is given, whose
/// finished trace comes back with the outcome.
fn run_inner<O: EventObserver>(
    compiled: &Compiled,
    seed: u64,
    event_budget: Option<u64>,
    recorder: &mut dyn Recorder,
    observer: &mut O,
    tracer: Option<Box<trace::Tracer>>,
) -> (RunOutcome, Option<trace::Trace>) {
    let scenario = compiled.scenario();
    let streams = RngStreams::new(seed);
    let mut kept = BoundedSeries::default();
    let mut kept_instances = InstanceSeries::default();
    let mut kept_autoscale = crate::metrics::autoscale::AutoscaleSeries::default();
    let mut kept_sagas = crate::metrics::saga::SagaSeries::default();
    let mut kept_groups = crate::metrics::events::GroupSeries::default();
    let fault_windows = faults::fault_windows(scenario);
    let mut recovery = RecoveryRecorder::new(fault_windows.iter().map(|f| (f.start, f.end)));
    let mut both = (
        (
            (&mut kept, &mut kept_instances),
            (&mut kept_autoscale, (&mut kept_sagas, &mut kept_groups)),
        ),
        (&mut recovery, recorder),
    );
    let (mut world, edges) = World::new(compiled, &streams, &mut both);
    world.trace = tracer;
    world.sink.start(&SeriesNames {
        routes: world.route_names.clone(),
        services: world.service_names.clone(),
        edges: world.edge_names.clone(),
        clients: world.clients.declared_names(),
    });
    let mut kernel = Kernel::new();
    world.start(&mut kernel);
    let limits = RunLimits {
        event_budget: event_budget
            .or(scenario.event_budget)
            .unwrap_or(DEFAULT_EVENT_BUDGET),
        ..RunLimits::until(SimTime::ZERO + scenario.duration)
    };
    let stop = if O::ACTIVE {
        kernel.run(
            &mut Observed {
                world: &mut world,
                observer,
            },
            limits,
        )
    } else {
        kernel.run(&mut world, limits)
    };
    let stop_cause = world.stop_cause(&mut kernel, stop, limits.events_per_instant);
    // A run that went idle is still observed up to its horizon: time
    // averages, rates and the last window end there, whatever the window
    // width. A run stopped early ends where it stopped.
    let end = match stop {
        StopReason::EventBudget | StopReason::TimeFrozen | StopReason::Stopped => kernel.now(),
        StopReason::Horizon | StopReason::Idle => limits.horizon,
    };
    world.finish(end);
    world.settle_trace();
    let trace = world
        .trace
        .take()
        .map(|t| t.finish(end, world.requests_sent));
    world.count_in_flight_by_phase();
    let edge_attributable = (0..world.edges.len() as u32)
        .map(|e| world.pair_edges.iter().any(|&(_, edge)| edge == e))
        .collect();
    let client_names = world.clients.declared_names();
    let instance_counts = world
        .services
        .iter()
        .map(|s| {
            let first = s.first_instance as usize;
            world.discovery.counts[first..first + s.instances as usize].to_vec()
        })
        .collect();
    let instance_load = world
        .services
        .iter()
        .map(|s| {
            let first = s.first_instance as usize;
            world.discovery.outstanding[first..first + s.instances as usize]
                .iter()
                .map(|level| level.mean_until(end))
                .collect()
        })
        .collect();
    let autoscale = world.autoscale_outcomes(end);
    let zones = world.zones.as_deref().map(|z| {
        let services: Vec<(u32, u32)> = world
            .services
            .iter()
            .map(|s| (s.first_instance, s.instances))
            .collect();
        z.outcome(&services)
    });
    let gateways = world.gateway_outcomes();
    let limiters = world.limiter_outcomes();
    let (sagas, stores) = world.saga_outcomes();
    let messaging = world.events_outcome();
    let credential_check = world.credential_check();
    let shed = match &mut world.shed {
        Some(shedders) => shedders.outcome(end),
        None => vec![None; world.services.len()],
    };
    let mut outcome = RunOutcome {
        gateways,
        limiters,
        sagas,
        stores,
        messaging,
        credential_check,
        shed,
        autoscale,
        zones,
        instances: InstancesOutcome {
            reported: world.discovery.reported(),
            counts: instance_counts,
            load: instance_load,
            crashes: std::mem::take(&mut world.discovery.crashes),
            crashes_dropped: world.discovery.crashes_dropped,
            registries: world
                .discovery
                .registries
                .iter()
                .map(|r| r.as_ref().map(|r| r.counts.clone()))
                .collect(),
            key_movement: std::mem::take(&mut world.discovery.key_movement),
            series: InstanceSeries::default(),
        },
        stop,
        stop_cause,
        end,
        events: kernel.events_processed(),
        service_names: world.service_names,
        route_names: world.route_names,
        route_services: (0..scenario.workload.routes.len())
            .map(|i| world.edges[i].callee)
            .collect(),
        service_workers: world
            .services
            .iter()
            .map(|s| u64::from(s.instances) * u64::from(s.concurrency))
            .collect(),
        requests_capped: world.requests_capped,
        max_requests_in_flight: world.max_requests as u64,
        instance_transitions: world
            .services
            .iter()
            .map(|s| s.transitions.clone())
            .collect(),
        routes: world.route_stats,
        client_names,
        clients: world.clients.stats,
        services: world.service_stats,
        edges,
        edge_stats: world.edge_stats,
        breaker_events: world.breaker_events,
        breaker_events_dropped: world.breaker_events_dropped,
        breaker_transitions: world.breaker_transitions,
        rows: Vec::new(),
        rows_merged: 1,
        network: world.network.stats,
        faults: fault_windows,
        phases: phases::phases_of(scenario),
        route_phases: std::mem::take(&mut world.phases.route_counts),
        service_phases: std::mem::take(&mut world.phases.service_counts),
        recovery: Vec::new(),
        edge_attributable,
    };
    outcome.recovery = recovery.finish();
    (outcome.rows, outcome.rows_merged) = kept.finish();
    outcome.instances.series = kept_instances.finish();
    for (service, (rows, merged)) in kept_autoscale.finish() {
        if let Some(Some(a)) = outcome.autoscale.get_mut(service as usize) {
            (a.rows, a.rows_merged) = (rows, merged);
        }
    }
    for (service, (rows, merged)) in kept_sagas.finish() {
        if let Some(s) = outcome.sagas.iter_mut().find(|s| s.index == service) {
            (s.rows, s.rows_merged) = (rows, merged);
        }
    }
    if let Some(events) = &mut outcome.messaging {
        for (group, (rows, merged)) in kept_groups.finish() {
            if let Some(g) = events.groups.get_mut(group as usize) {
                (g.rows, g.rows_merged) = (rows, merged);
            }
        }
    }
    (outcome, trace)
}

impl Model for World<'_> {
    type Event = Event;

    fn handle(&mut self, kernel: &mut Kernel<Event>, event: Event) -> Control {
        match event {
            Event::Arrival(client) => self.arrival(kernel, client),
            Event::UserWake(user) => self.user_wake(kernel, user),
            Event::Deliver(job) => self.deliver(kernel, job),
            Event::Cancel(job) => self.cancel_job(job),
            Event::LocalDone(job) => self.local_done(kernel, job),
            Event::Reply { attempt, reply } => self.attempt_done(kernel, attempt, reply),
            Event::AttemptTimeout(attempt) => {
                self.attempt_done(kernel, attempt, Reply::of(Status::Timeout))
            }
            Event::RetryDue(call) => self.retry_due(kernel, call),
            Event::HedgeDue(call) => self.hedge_due(kernel, call),
            Event::PolicyWake { edge, unit } => self.policy_wake(kernel, edge, unit),
            Event::SagaWake(run) => self.saga_wake(kernel, run),
            Event::Booted { instance, restart } => self.booted(kernel, instance, restart),
            Event::Fault(index, starts) => self.fault(kernel, index, starts),
            Event::CheckDue { instance, life } => self.check_due(kernel, instance, life),
            Event::ProbeReply { probe, ok } => self.probe_done(kernel, probe, Some(ok)),
            Event::ProbeTimeout(probe) => self.probe_done(kernel, probe, None),
            Event::Heartbeat { instance, life } => self.heartbeat(kernel, instance, life),
            Event::Renew { instance, up } => self.renew(kernel.now(), instance, up),
            Event::Reap { instance, life } => self.reap(kernel, instance, life),
            Event::ReadinessDue { instance, life } => self.readiness_due(kernel, instance, life),
            Event::Sweep(service) => self.sweep(kernel, service),
            Event::AutoscaleSync(service) => self.autoscale_sync(kernel, service),
            Event::AutoscaleMark(service) => self.autoscale_mark(kernel, service),
            Event::StopDue(instance) => self.stop_due(kernel, instance),
            Event::RelayPoll(publisher) => self.relay_poll(kernel, publisher),
            Event::PublishDue(publish) => self.publish_due(kernel, publish),
            Event::ReadDue(read) => self.read_due(kernel, read),
            Event::Delivered(delivery) => self.delivered(kernel, delivery),
            Event::Committed(delivery) => self.committed(kernel, delivery),
            Event::CommitTimeout(delivery) => self.commit_timeout(kernel, delivery),
            Event::HandlerRetry(delivery) => self.handler_retry(kernel, delivery),
            Event::MemberExpired {
                group,
                instance,
                epoch,
            } => self.member_expired(kernel, group, instance, epoch),
            Event::Rebalanced { group, generation } => self.rebalanced(kernel, group, generation),
            Event::Window => {
                self.close_window(kernel.now());
                if let Some(failure) = self.sink.failure() {
                    self.stop_on(kernel.now(), "the time series".to_string(), failure);
                }
                let next = kernel.now().saturating_add(self.window);
                if next < SimTime::ZERO + self.duration {
                    kernel.schedule_at(next, Event::Window);
                }
            }
        }
        if self.violation.is_some() {
            Control::Stop
        } else {
            Control::Continue
        }
    }
}

#[cfg(test)]
mod tests;
