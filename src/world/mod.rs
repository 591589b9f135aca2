//! The simulated world: clients, service instances, the network and the fault
//! timeline, reacting to kernel events.
//!
//! A request hop is: the caller sends over the network → the callee
//! instance's FIFO queue (or rejection when full) → a worker for the service
//! time → the downstream call steps, in order, the worker held meanwhile →
//! the reply over the network → the caller. A caller learns of a lost
//! message or a crashed callee only through its timeout.
//!
//! Entities are addressed by index and requests by generational [`Key`]s, so
//! events are small plain data and nothing is allocated per event.
//!
//! **Architecture Invariant:** the world draws randomness only from its named
//! streams and time only from the kernel; the same scenario and seed give the
//! same sequence of events.

pub mod network;
pub mod sampler;
pub mod slab;
pub mod workload;

use std::collections::VecDeque;

use crate::kernel::dist::bernoulli;
use crate::kernel::{
    ChaCha8Rng, Kernel, Model, RngStreams, RunLimits, SimDuration, SimTime, StopReason, TimerId,
};
use crate::metrics::{Counts, EntityKind, RouteStats, ServiceStats, WindowRow};
use crate::scenario::Scenario;

use network::{Network, NetworkStats};
use sampler::Sampler;
use slab::{Key, Slab};
use workload::{ArrivalProcess, RoutePicker};

/// The default event budget: a bound on every run, far above any bundled
/// scenario (about ten minutes of wall-clock time at full speed).
pub const DEFAULT_EVENT_BUDGET: u64 = 10_000_000_000;

/// How a call ended, as its caller sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// A successful reply.
    Success,
    /// An error reply (the callee's own error or a failed dependency).
    Error,
    /// The callee's queue was full.
    Rejected,
    /// No reply in time.
    Timeout,
}

/// The world's events.
#[derive(Clone, Copy, Debug)]
pub enum Event {
    /// The next open-loop request is due.
    Arrival,
    /// A closed-loop user has finished thinking.
    UserWake(u32),
    /// A request message reaches an instance.
    Deliver {
        /// The call it belongs to.
        call: Key,
        /// The receiving instance.
        instance: u32,
        /// The network node of the caller, where the reply goes.
        caller: u32,
    },
    /// A worker has finished the local part of a job.
    LocalDone(Key),
    /// A reply reaches its caller.
    Reply {
        /// The call it answers.
        call: Key,
        /// What it says.
        outcome: Outcome,
    },
    /// A call's timeout expires.
    Timeout(Key),
    /// A fault starts (`true`) or ends (`false`).
    Fault(u32, bool),
    /// A time-series window closes.
    Window,
}

/// A call the world is waiting on.
struct CallState {
    parent: Parent,
    timer: Option<TimerId>,
    sent: SimTime,
    optional: bool,
}

#[derive(Clone, Copy)]
enum Parent {
    /// A client request on a route; `user` is the closed-loop user, if any.
    Client { route: u32, user: Option<u32> },
    /// A downstream call made by a job.
    Job(Key),
}

/// A request being handled at an instance.
struct Job {
    call: Key,
    /// The network node the reply goes to.
    caller: u32,
    instance: u32,
    arrived: SimTime,
    step: u16,
    pending: u16,
}

struct Instance {
    service: u32,
    /// Number of active crash faults on this instance.
    crashes: u32,
    busy: u32,
    queue: VecDeque<Key>,
}

struct CallSpec {
    service: u32,
    probability: f64,
    optional: bool,
    timeout: Option<SimDuration>,
}

struct ServiceModel {
    first_instance: u32,
    instances: u32,
    concurrency: u32,
    queue_capacity: u32,
    service_time: Sampler,
    base_error_rate: f64,
    steps: Vec<Vec<CallSpec>>,
    next_instance: u32,
    error_rate: f64,
    added_latency: SimDuration,
    slowdown: f64,
    time_rng: ChaCha8Rng,
    decision_rng: ChaCha8Rng,
}

struct RouteModel {
    service: u32,
    timeout: Option<SimDuration>,
}

/// A compiled fault.
#[derive(Clone, Debug)]
enum FaultEffect {
    Crash {
        service: u32,
        instance: Option<u32>,
    },
    ServiceLatency {
        service: u32,
        add: SimDuration,
    },
    LinkLatency {
        a: u32,
        b: u32,
        add: SimDuration,
    },
    Errors {
        service: u32,
        rate: f64,
    },
    Partition {
        groups: Vec<Vec<usize>>,
    },
    Slowdown {
        service: u32,
        factor: f64,
    },
    Loss {
        link: Option<(usize, usize)>,
        rate: f64,
    },
}

/// A fault as it happened, for reports.
#[derive(Clone, Debug, PartialEq)]
pub struct FaultWindow {
    /// What kind of fault (`crash`, `latency`...).
    pub kind: &'static str,
    /// What it hit, in words.
    pub target: String,
    /// When it started.
    pub start: SimTime,
    /// When it ended, if within the run.
    pub end: Option<SimTime>,
}

struct Users {
    think: Sampler,
    rng: ChaCha8Rng,
}

/// The whole simulated system.
pub struct World {
    services: Vec<ServiceModel>,
    instances: Vec<Instance>,
    routes: Vec<RouteModel>,
    picker: RoutePicker,
    route_rng: ChaCha8Rng,
    arrivals: Option<(ArrivalProcess, ChaCha8Rng)>,
    users: Option<Users>,
    network: Network,
    client_node: u32,
    faults: Vec<(FaultEffect, bool)>,
    jobs: Slab<Job>,
    calls: Slab<CallState>,
    route_stats: Vec<RouteStats>,
    service_stats: Vec<ServiceStats>,
    rows: Vec<WindowRow>,
    window: SimDuration,
    window_start: SimTime,
    duration: SimDuration,
}

/// Everything a finished run produced: the input to reports.
pub struct RunOutcome {
    /// Why the run stopped.
    pub stop: StopReason,
    /// Virtual time reached.
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
    /// Per-service statistics.
    pub services: Vec<ServiceStats>,
    /// Workers per service (instances × concurrency), for utilisation.
    pub service_workers: Vec<u64>,
    /// The time series.
    pub rows: Vec<WindowRow>,
    /// Network counts.
    pub network: NetworkStats,
    /// The fault timeline.
    pub faults: Vec<FaultWindow>,
}

/// Builds the world for `scenario`, runs it with `seed` and returns what it
/// observed. `event_budget` overrides the scenario's.
pub fn run(scenario: &Scenario, seed: u64, event_budget: Option<u64>) -> RunOutcome {
    let streams = RngStreams::new(seed);
    let mut world = World::new(scenario, &streams);
    let mut kernel = Kernel::new();
    world.start(&mut kernel, scenario);
    let limits = RunLimits {
        horizon: SimTime::ZERO + scenario.duration,
        event_budget: event_budget
            .or(scenario.event_budget)
            .unwrap_or(DEFAULT_EVENT_BUDGET),
    };
    let stop = kernel.run(&mut world, limits);
    world.finish(kernel.now());
    let faults = fault_windows(scenario);
    RunOutcome {
        stop,
        end: kernel.now(),
        events: kernel.events_processed(),
        service_names: scenario.services.keys().cloned().collect(),
        route_names: scenario
            .workload
            .routes
            .iter()
            .map(|r| r.name.clone().unwrap_or_else(|| r.service.clone()))
            .collect(),
        route_services: world.routes.iter().map(|r| r.service).collect(),
        service_workers: world
            .services
            .iter()
            .map(|s| u64::from(s.instances) * u64::from(s.concurrency))
            .collect(),
        routes: world.route_stats,
        services: world.service_stats,
        rows: world.rows,
        network: world.network.stats,
        faults,
    }
}

fn fault_windows(scenario: &Scenario) -> Vec<FaultWindow> {
    scenario
        .faults
        .iter()
        .map(|f| {
            let (kind, target) = if let Some(c) = &f.crash {
                let target = match c.instance {
                    Some(i) => format!("{} instance {i}", c.service),
                    None => format!("{} (all instances)", c.service),
                };
                ("crash", target)
            } else if let Some(l) = &f.latency {
                let target = match (&l.service, &l.link) {
                    (Some(s), _) => format!("{s} +{}", l.add),
                    (_, Some(link)) => format!("{} <-> {} +{}", link.from, link.to, l.add),
                    _ => String::new(),
                };
                ("latency", target)
            } else if let Some(e) = &f.errors {
                ("errors", format!("{} error rate {}", e.service, e.rate))
            } else if let Some(p) = &f.partition {
                let groups: Vec<String> = p
                    .between
                    .iter()
                    .map(|g| format!("[{}]", g.join(", ")))
                    .collect();
                ("partition", groups.join(" | "))
            } else if let Some(s) = &f.slowdown {
                ("slowdown", format!("{} x{}", s.service, s.factor))
            } else if let Some(l) = &f.loss {
                let target = match &l.link {
                    Some(link) => format!("{} <-> {} loss {}", link.from, link.to, l.rate),
                    None => format!("all links loss {}", l.rate),
                };
                ("loss", target)
            } else {
                ("unknown", String::new())
            };
            let start = SimTime::ZERO + f.at;
            let end = f
                .lasts
                .map(|d| start.saturating_add(d))
                .filter(|end| *end <= SimTime::ZERO + scenario.duration);
            FaultWindow {
                kind,
                target,
                start,
                end,
            }
        })
        .collect()
}

impl World {
    /// Compiles a validated scenario.
    pub fn new(scenario: &Scenario, streams: &RngStreams) -> World {
        let names: Vec<&String> = scenario.services.keys().collect();
        let index_of = |name: &str| -> u32 {
            names
                .binary_search_by(|n| n.as_str().cmp(name))
                .expect("validated: every service reference resolves") as u32
        };
        let mut services = Vec::new();
        let mut instances = Vec::new();
        for (i, (name, s)) in scenario.services.iter().enumerate() {
            let steps = s
                .calls
                .iter()
                .map(|step| match (&step.service, &step.parallel) {
                    (Some(target), _) => vec![CallSpec {
                        service: index_of(target),
                        probability: step.probability.unwrap_or(1.0),
                        optional: step.optional.unwrap_or(false),
                        timeout: step.timeout,
                    }],
                    (_, Some(group)) => group
                        .iter()
                        .map(|c| CallSpec {
                            service: index_of(&c.service),
                            probability: c.probability,
                            optional: c.optional,
                            timeout: c.timeout,
                        })
                        .collect(),
                    (None, None) => Vec::new(),
                })
                .collect();
            services.push(ServiceModel {
                first_instance: instances.len() as u32,
                instances: s.instances,
                concurrency: s.concurrency,
                queue_capacity: s.queue_capacity,
                service_time: Sampler::new(&s.service_time),
                base_error_rate: s.error_rate,
                steps,
                next_instance: 0,
                error_rate: s.error_rate,
                added_latency: SimDuration::ZERO,
                slowdown: 1.0,
                time_rng: streams.stream(&format!("service/{name}/time")),
                decision_rng: streams.stream(&format!("service/{name}/decisions")),
            });
            for _ in 0..s.instances {
                instances.push(Instance {
                    service: i as u32,
                    crashes: 0,
                    busy: 0,
                    queue: VecDeque::new(),
                });
            }
        }
        let client_node = services.len() as u32;
        let links: Vec<_> = scenario
            .network
            .links
            .iter()
            .map(|l| {
                (
                    index_of(&l.from) as usize,
                    index_of(&l.to) as usize,
                    l.latency.as_ref().map(Sampler::new),
                    l.loss,
                )
            })
            .collect();
        let network = Network::new(
            services.len() + 1,
            Sampler::new(&scenario.network.latency),
            scenario.network.loss,
            &links,
            streams.stream("network"),
        );
        let workload = &scenario.workload;
        let routes: Vec<RouteModel> = workload
            .routes
            .iter()
            .map(|r| RouteModel {
                service: index_of(&r.service),
                timeout: r.timeout.or(workload.timeout),
            })
            .collect();
        let weights: Vec<f64> = workload.routes.iter().map(|r| r.weight).collect();
        let faults = scenario
            .faults
            .iter()
            .map(|f| {
                let effect = if let Some(c) = &f.crash {
                    FaultEffect::Crash {
                        service: index_of(&c.service),
                        instance: c.instance,
                    }
                } else if let Some(l) = &f.latency {
                    match (&l.service, &l.link) {
                        (Some(s), _) => FaultEffect::ServiceLatency {
                            service: index_of(s),
                            add: l.add,
                        },
                        (_, Some(link)) => FaultEffect::LinkLatency {
                            a: index_of(&link.from),
                            b: index_of(&link.to),
                            add: l.add,
                        },
                        _ => unreachable!("validated: latency on a service or a link"),
                    }
                } else if let Some(e) = &f.errors {
                    FaultEffect::Errors {
                        service: index_of(&e.service),
                        rate: e.rate,
                    }
                } else if let Some(p) = &f.partition {
                    FaultEffect::Partition {
                        groups: p
                            .between
                            .iter()
                            .map(|g| g.iter().map(|s| index_of(s) as usize).collect())
                            .collect(),
                    }
                } else if let Some(s) = &f.slowdown {
                    FaultEffect::Slowdown {
                        service: index_of(&s.service),
                        factor: s.factor,
                    }
                } else if let Some(l) = &f.loss {
                    FaultEffect::Loss {
                        link: l
                            .link
                            .as_ref()
                            .map(|k| (index_of(&k.from) as usize, index_of(&k.to) as usize)),
                        rate: l.rate,
                    }
                } else {
                    unreachable!("validated: a fault has exactly one kind")
                };
                (effect, false)
            })
            .collect();
        World {
            service_stats: (0..services.len())
                .map(|_| ServiceStats::default())
                .collect(),
            route_stats: (0..routes.len()).map(|_| RouteStats::default()).collect(),
            services,
            instances,
            picker: RoutePicker::new(&weights),
            routes,
            route_rng: streams.stream("workload/routes"),
            arrivals: workload.arrivals.as_ref().map(|a| {
                (
                    ArrivalProcess::new(a, &workload.schedule),
                    streams.stream("workload/arrivals"),
                )
            }),
            users: workload.users.as_ref().map(|u| Users {
                think: Sampler::new(&u.think_time),
                rng: streams.stream("workload/think"),
            }),
            network,
            client_node,
            faults,
            jobs: Slab::default(),
            calls: Slab::default(),
            rows: Vec::new(),
            window: scenario.window,
            window_start: SimTime::ZERO,
            duration: scenario.duration,
        }
    }

    /// Schedules the first arrivals, the users, the faults and the windows.
    pub fn start(&mut self, kernel: &mut Kernel<Event>, scenario: &Scenario) {
        if let Some((process, rng)) = &mut self.arrivals
            && let Some(first) = process.next_after(SimTime::ZERO, rng)
        {
            kernel.schedule_at(first, Event::Arrival);
        }
        if let (Some(users), Some(spec)) = (&mut self.users, &scenario.workload.users) {
            for user in 0..spec.count {
                // Staggered by one think time, so users do not start in lockstep.
                let delay = users.think.sample(&mut users.rng);
                kernel.schedule_in(delay, Event::UserWake(user));
            }
        }
        for (i, fault) in scenario.faults.iter().enumerate() {
            kernel.schedule_at(SimTime::ZERO + fault.at, Event::Fault(i as u32, true));
            if let Some(lasts) = fault.lasts {
                kernel.schedule_at(
                    (SimTime::ZERO + fault.at).saturating_add(lasts),
                    Event::Fault(i as u32, false),
                );
            }
        }
        kernel.schedule_at(SimTime::ZERO + self.window, Event::Window);
    }

    // ----- clients ---------------------------------------------------------

    fn send_request(&mut self, kernel: &mut Kernel<Event>, user: Option<u32>) {
        let route = self.picker.pick(&mut self.route_rng);
        let model = &self.routes[route as usize];
        let (service, timeout) = (model.service, model.timeout);
        let stats = &mut self.route_stats[route as usize];
        stats.total.requests += 1;
        stats.window.requests += 1;
        stats.in_flight += 1;
        self.send_call(
            kernel,
            Parent::Client { route, user },
            self.client_node,
            service,
            timeout,
            false,
        );
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
        for counts in [&mut stats.total, &mut stats.window] {
            match outcome {
                Outcome::Success => counts.successes += 1,
                Outcome::Error => counts.errors += 1,
                Outcome::Rejected => counts.rejected += 1,
                Outcome::Timeout => counts.timeouts += 1,
            }
        }
        if outcome == Outcome::Success {
            let latency = now - sent;
            stats.latency.record(latency);
            stats.window_latency.record(latency);
        }
        if let (Some(user), Some(users)) = (user, &mut self.users) {
            let think = users.think.sample(&mut users.rng);
            kernel.schedule_in(think, Event::UserWake(user));
        }
    }

    // ----- calls -----------------------------------------------------------

    /// Sends a request from node `caller` to a service instance.
    fn send_call(
        &mut self,
        kernel: &mut Kernel<Event>,
        parent: Parent,
        caller: u32,
        service: u32,
        timeout: Option<SimDuration>,
        optional: bool,
    ) {
        let now = kernel.now();
        let call = self.calls.insert(CallState {
            parent,
            timer: None,
            sent: now,
            optional,
        });
        if let Some(timeout) = timeout {
            let timer = kernel.timer_in(timeout, Event::Timeout(call));
            self.calls.get_mut(call).expect("just inserted").timer = Some(timer);
        }
        // Round robin over every instance, up or down: without discovery,
        // callers do not know which instances are alive.
        let model = &mut self.services[service as usize];
        let instance = model.first_instance + model.next_instance;
        model.next_instance += 1;
        if model.next_instance == model.instances {
            model.next_instance = 0;
        }
        match self.network.transmit(caller as usize, service as usize) {
            Some(delay) if delay.is_zero() => self.deliver(kernel, call, instance, caller),
            Some(delay) => kernel.schedule_in(
                delay,
                Event::Deliver {
                    call,
                    instance,
                    caller,
                },
            ),
            None => {}
        }
    }

    /// A reply reaches its caller.
    fn complete_call(&mut self, kernel: &mut Kernel<Event>, call: Key, outcome: Outcome) {
        let Some(state) = self.calls.remove(call) else {
            return; // Already timed out: a late reply is ignored.
        };
        if let Some(timer) = state.timer
            && outcome != Outcome::Timeout
        {
            kernel.cancel(timer);
        }
        match state.parent {
            Parent::Client { route, user } => {
                self.client_done(kernel, route, user, state.sent, outcome)
            }
            Parent::Job(job) => self.child_done(kernel, job, outcome, state.optional),
        }
    }

    /// Sends a reply from a service to node `caller`, about `call` (which
    /// the caller may have given up on already).
    fn reply(
        &mut self,
        kernel: &mut Kernel<Event>,
        from_service: u32,
        caller: u32,
        call: Key,
        outcome: Outcome,
    ) {
        match self
            .network
            .transmit(from_service as usize, caller as usize)
        {
            Some(delay) if delay.is_zero() => self.complete_call(kernel, call, outcome),
            Some(delay) => kernel.schedule_in(delay, Event::Reply { call, outcome }),
            None => {}
        }
    }

    // ----- instances -------------------------------------------------------

    fn deliver(&mut self, kernel: &mut Kernel<Event>, call: Key, instance_index: u32, caller: u32) {
        let now = kernel.now();
        let instance = &mut self.instances[instance_index as usize];
        let service = instance.service;
        let model = &self.services[service as usize];
        let stats = &mut self.service_stats[service as usize];
        stats.total.requests += 1;
        stats.window.requests += 1;
        if instance.crashes > 0 {
            stats.total.dropped += 1;
            stats.window.dropped += 1;
            return;
        }
        if instance.busy < model.concurrency {
            let job = self.jobs.insert(Job {
                call,
                caller,
                instance: instance_index,
                arrived: now,
                step: 0,
                pending: 0,
            });
            stats.in_system.increment(now);
            self.start_job(kernel, job);
        } else if instance.queue.len() < model.queue_capacity as usize {
            let job = self.jobs.insert(Job {
                call,
                caller,
                instance: instance_index,
                arrived: now,
                step: 0,
                pending: 0,
            });
            instance.queue.push_back(job);
            stats.in_system.increment(now);
            stats.in_queue.increment(now);
        } else {
            stats.total.rejected += 1;
            stats.window.rejected += 1;
            self.reply(kernel, service, caller, call, Outcome::Rejected);
        }
    }

    fn start_job(&mut self, kernel: &mut Kernel<Event>, job_key: Key) {
        let now = kernel.now();
        let job = self.jobs.get(job_key).expect("starting a live job");
        let instance = &mut self.instances[job.instance as usize];
        let service = instance.service as usize;
        instance.busy += 1;
        debug_assert!(instance.busy <= self.services[service].concurrency);
        let stats = &mut self.service_stats[service];
        stats.busy.increment(now);
        stats.queue_wait.record(now - job.arrived);
        let model = &mut self.services[service];
        let mut work = model.service_time.sample(&mut model.time_rng);
        if model.slowdown != 1.0 {
            work = work.mul_f64(model.slowdown);
        }
        work = work.saturating_add(model.added_latency);
        kernel.schedule_in(work, Event::LocalDone(job_key));
    }

    fn local_done(&mut self, kernel: &mut Kernel<Event>, job_key: Key) {
        let Some(job) = self.jobs.get(job_key) else {
            return; // The instance crashed meanwhile.
        };
        let service = self.instances[job.instance as usize].service as usize;
        let model = &mut self.services[service];
        if model.error_rate > 0.0 && bernoulli(&mut model.decision_rng, model.error_rate) {
            self.finish_job(kernel, job_key, Outcome::Error, false);
        } else {
            self.run_steps(kernel, job_key);
        }
    }

    /// Issues the calls of the job's current step; finishes the job when no
    /// step is left.
    fn run_steps(&mut self, kernel: &mut Kernel<Event>, job_key: Key) {
        loop {
            let job = self.jobs.get(job_key).expect("running a live job");
            let (step, instance) = (job.step as usize, job.instance);
            let service = self.instances[instance as usize].service;
            let model = &mut self.services[service as usize];
            let Some(calls) = model.steps.get(step) else {
                self.finish_job(kernel, job_key, Outcome::Success, false);
                return;
            };
            // Decide first, then send: a send may complete synchronously
            // (zero-latency rejection), and must find `pending` already set.
            let mut chosen: smallvec_lite::Chosen = smallvec_lite::Chosen::default();
            for (i, call) in calls.iter().enumerate() {
                if call.probability >= 1.0 || bernoulli(&mut model.decision_rng, call.probability) {
                    chosen.push(i as u16);
                }
            }
            if chosen.is_empty() {
                self.jobs.get_mut(job_key).expect("live").step += 1;
                continue;
            }
            self.jobs.get_mut(job_key).expect("live").pending = chosen.len() as u16;
            for i in chosen.iter() {
                let spec = &self.services[service as usize].steps[step][i as usize];
                let (target, timeout, optional) = (spec.service, spec.timeout, spec.optional);
                // A synchronous failure may already have finished the job.
                if self.jobs.get(job_key).is_none() {
                    return;
                }
                self.send_call(
                    kernel,
                    Parent::Job(job_key),
                    service,
                    target,
                    timeout,
                    optional,
                );
            }
            return;
        }
    }

    fn child_done(
        &mut self,
        kernel: &mut Kernel<Event>,
        job_key: Key,
        outcome: Outcome,
        optional: bool,
    ) {
        let Some(job) = self.jobs.get_mut(job_key) else {
            return; // The job already failed or its instance crashed.
        };
        if outcome != Outcome::Success && !optional {
            // Fail fast, as an await-all that rejects on the first failure.
            self.finish_job(kernel, job_key, Outcome::Error, true);
            return;
        }
        job.pending -= 1;
        if job.pending == 0 {
            job.step += 1;
            self.run_steps(kernel, job_key);
        }
    }

    /// Ends a job: frees its worker, starts the next queued job, replies.
    fn finish_job(
        &mut self,
        kernel: &mut Kernel<Event>,
        job_key: Key,
        outcome: Outcome,
        dependency: bool,
    ) {
        let now = kernel.now();
        let job = self.jobs.remove(job_key).expect("finishing a live job");
        let instance = &mut self.instances[job.instance as usize];
        let service = instance.service;
        instance.busy -= 1;
        let next = instance.queue.pop_front();
        let stats = &mut self.service_stats[service as usize];
        let sojourn = now - job.arrived;
        stats.busy.decrement(now);
        stats.in_system.decrement(now);
        stats.departures += 1;
        stats.sojourn_ns += u128::from(sojourn.as_nanos());
        stats.latency.record(sojourn);
        stats.window_latency.record(sojourn);
        for counts in [&mut stats.total, &mut stats.window] {
            match (outcome, dependency) {
                (Outcome::Success, _) => counts.successes += 1,
                (_, true) => counts.dependency += 1,
                _ => counts.errors += 1,
            }
        }
        if let Some(next) = next {
            stats.in_queue.decrement(now);
            self.start_job(kernel, next);
        }
        self.reply(kernel, service, job.caller, job.call, outcome);
    }

    // ----- faults ----------------------------------------------------------

    fn fault(&mut self, kernel: &mut Kernel<Event>, index: u32, starts: bool) {
        let (effect, active) = &mut self.faults[index as usize];
        *active = starts;
        let effect = effect.clone();
        match effect {
            FaultEffect::Crash { service, instance } => {
                let model = &self.services[service as usize];
                let range = match instance {
                    Some(i) => model.first_instance + i..model.first_instance + i + 1,
                    None => model.first_instance..model.first_instance + model.instances,
                };
                for i in range {
                    if starts {
                        self.crash(kernel.now(), i);
                    } else {
                        self.instances[i as usize].crashes -= 1;
                    }
                }
            }
            FaultEffect::ServiceLatency { service, .. }
            | FaultEffect::Errors { service, .. }
            | FaultEffect::Slowdown { service, .. } => self.apply_service_faults(service),
            FaultEffect::LinkLatency { .. }
            | FaultEffect::Partition { .. }
            | FaultEffect::Loss { .. } => self.apply_network_faults(),
        }
    }

    /// Crashes an instance: its queued and in-service requests vanish without
    /// a reply; callers learn of it only through their timeouts.
    fn crash(&mut self, now: SimTime, instance_index: u32) {
        let instance = &mut self.instances[instance_index as usize];
        instance.crashes += 1;
        if instance.crashes > 1 {
            return;
        }
        let service = instance.service as usize;
        let queued = instance.queue.len() as u64;
        instance.queue.clear();
        let busy = u64::from(instance.busy);
        instance.busy = 0;
        let doomed = self.jobs.keys_where(|j| j.instance == instance_index);
        debug_assert_eq!(
            doomed.len() as u64,
            queued + busy,
            "every job at an instance is queued or busy"
        );
        let stats = &mut self.service_stats[service];
        for key in doomed {
            let job = self.jobs.remove(key).expect("listed as live");
            stats.departures += 1;
            stats.sojourn_ns += u128::from((now - job.arrived).as_nanos());
        }
        stats.total.dropped += queued + busy;
        stats.window.dropped += queued + busy;
        stats.in_queue.subtract(now, queued);
        stats.busy.subtract(now, busy);
        stats.in_system.subtract(now, queued + busy);
    }

    fn apply_service_faults(&mut self, service: u32) {
        let model = &mut self.services[service as usize];
        model.error_rate = model.base_error_rate;
        model.added_latency = SimDuration::ZERO;
        model.slowdown = 1.0;
        for (effect, active) in &self.faults {
            if !active {
                continue;
            }
            match effect {
                FaultEffect::Errors { service: s, rate } if *s == service => {
                    model.error_rate = *rate
                }
                FaultEffect::ServiceLatency { service: s, add } if *s == service => {
                    model.added_latency = model.added_latency.saturating_add(*add)
                }
                FaultEffect::Slowdown { service: s, factor } if *s == service => {
                    model.slowdown *= factor
                }
                _ => {}
            }
        }
    }

    fn apply_network_faults(&mut self) {
        self.network.clear_faults();
        for (effect, active) in &self.faults {
            if !active {
                continue;
            }
            match effect {
                FaultEffect::LinkLatency { a, b, add } => {
                    self.network.add_latency(*a as usize, *b as usize, *add)
                }
                FaultEffect::Partition { groups } => self.network.partition(groups),
                FaultEffect::Loss { link, rate } => self.network.add_loss(*link, *rate),
                _ => {}
            }
        }
    }

    // ----- windows ---------------------------------------------------------

    fn close_window(&mut self, now: SimTime) {
        if now <= self.window_start {
            return;
        }
        let (start, end) = (self.window_start, now);
        let p = |h: &crate::metrics::LatencyHistogram, q: f64| {
            (h.count() > 0).then(|| h.quantile_ms(q))
        };
        for (i, stats) in self.route_stats.iter_mut().enumerate() {
            self.rows.push(WindowRow {
                start,
                end,
                kind: EntityKind::Route,
                entity: i as u32,
                counts: stats.window,
                latency_ms_p50: p(&stats.window_latency, 0.5),
                latency_ms_p99: p(&stats.window_latency, 0.99),
                in_flight: stats.in_flight,
                queue_length: None,
            });
            stats.window = Counts::default();
            stats.window_latency.reset();
        }
        for (i, stats) in self.service_stats.iter_mut().enumerate() {
            self.rows.push(WindowRow {
                start,
                end,
                kind: EntityKind::Service,
                entity: i as u32,
                counts: stats.window,
                latency_ms_p50: p(&stats.window_latency, 0.5),
                latency_ms_p99: p(&stats.window_latency, 0.99),
                in_flight: stats.in_system.value(),
                queue_length: Some(stats.in_queue.value()),
            });
            stats.window = Counts::default();
            stats.window_latency.reset();
        }
        self.window_start = now;
    }

    /// Closes the last (possibly partial) window.
    pub fn finish(&mut self, now: SimTime) {
        self.close_window(now);
    }
}

impl Model for World {
    type Event = Event;

    fn handle(&mut self, kernel: &mut Kernel<Event>, event: Event) {
        match event {
            Event::Arrival => {
                self.send_request(kernel, None);
                if let Some((process, rng)) = &mut self.arrivals
                    && let Some(next) = process.next_after(kernel.now(), rng)
                {
                    kernel.schedule_at(next, Event::Arrival);
                }
            }
            Event::UserWake(user) => self.send_request(kernel, Some(user)),
            Event::Deliver {
                call,
                instance,
                caller,
            } => self.deliver(kernel, call, instance, caller),
            Event::LocalDone(job) => self.local_done(kernel, job),
            Event::Reply { call, outcome } => self.complete_call(kernel, call, outcome),
            Event::Timeout(call) => self.complete_call(kernel, call, Outcome::Timeout),
            Event::Fault(index, starts) => self.fault(kernel, index, starts),
            Event::Window => {
                self.close_window(kernel.now());
                let next = kernel.now().saturating_add(self.window);
                if next <= SimTime::ZERO + self.duration {
                    kernel.schedule_at(next, Event::Window);
                }
            }
        }
    }
}

/// A tiny fixed-capacity list of call indices, so that choosing the calls of
/// a step allocates nothing.
mod smallvec_lite {
    const INLINE: usize = 16;

    #[derive(Default)]
    pub struct Chosen {
        inline: [u16; INLINE],
        len: usize,
        spill: Vec<u16>,
    }

    impl Chosen {
        pub fn push(&mut self, value: u16) {
            if self.len < INLINE {
                self.inline[self.len] = value;
            } else {
                self.spill.push(value);
            }
            self.len += 1;
        }
        pub fn len(&self) -> usize {
            self.len
        }
        pub fn is_empty(&self) -> bool {
            self.len == 0
        }
        pub fn iter(&self) -> impl Iterator<Item = u16> + '_ {
            self.inline[..self.len.min(INLINE)]
                .iter()
                .copied()
                .chain(self.spill.iter().copied())
        }
    }
}
