//! The registry of a discovered service: which of its instances callers may
//! learn of, kept by active health checks (Consul) or by TTL heartbeats
//! (Eureka), with the patterns' [`HealthCheck`] and [`LeaseRegistry`].
//!
//! The registry runs at a network node (its `registry` service's, or the
//! discovered service's own), and everything it learns crosses the network:
//!
//! - **Checks.** Every `interval` after the last check ended, the registry
//!   sends a check to the instance. At the instance it is a job like any
//!   other: it waits in the FIFO queue behind real work and needs a worker
//!   for the check's `service_time` (none: no time), so an overloaded
//!   instance fails its checks; a crashed one drops them; a draining or
//!   stopped one, or one whose queue is full, refuses them (503, a failed
//!   check). A check whose reply has not come back within `timeout` fails.
//!   Instances present at the start are registered passing (a warm system);
//!   one that registers again after a graceful stop starts critical, as
//!   Consul's checks do, and waits for a passing check.
//! - **Heartbeats.** Every `renewal_interval` a live instance sends a
//!   one-way renewal; one that arrives renews the lease, or registers the
//!   instance if it has none (the Eureka client re-registers on a 404). A
//!   sweep every `eviction_interval` evicts expired leases, unless
//!   self-preservation holds them. Partitions and loss drop renewals.
//!
//! Instances register when they become ready (at t = 0, and after every
//! restart: the restart hook) and deregister when they stop gracefully (the
//! `stop` fault; the deregistration is assumed to arrive); a crashed
//! instance does not deregister, so only its checks or its lease tell. With
//! `deregister_critical_after`, Consul's reaper deregisters an instance
//! whose check has been critical for longer than that (raised to a minute,
//! at the reaper's passes every 30 s from the check's creation: the
//! pattern's `deregister_at`); it registers again only at its next restart,
//! as an agent-registered Consul service does.
//!
//! **An outage** (the `registry_outage` fault) stops the registry: it keeps
//! what it knew (a Consul server's state is in Raft, Eureka's in memory of
//! a process that is only unreachable) but answers nothing and does
//! nothing. Callers' refreshes time out (they keep their last view and back
//! off, `discovery.rs`); checks are not sent, and a check in flight is given
//! up without a result (`HealthCheck::abandon_check`); renewals that arrive
//! are lost; sweeps and the reaper skip their passes. So a crash during an
//! outage is not seen until it ends. When it ends, every lease held is
//! renewed at once (the registry that comes back gives what it recovers a
//! fresh lease, rather than evicting instances for renewals it could not
//! take), and checks resume at their next interval.
//!
//! Draws: a check's first stagger is keyed by (instance, registration), an
//! eviction sweep's choice by (service, sweep); network draws of checks,
//! heartbeats and refreshes by their own roots. None shares a sequence.

use crate::kernel::{DrawKey, Kernel, KeyedStream, RngStreams, SimDuration, SimTime};
use crate::patterns::discovery::{HealthCheck, HealthStatus, LeaseRegistry};
use crate::scenario::{CompiledDiscovery, CompiledHealth, Sampler};

use super::draws::Message;
use super::lifecycle::InstanceState;
use super::readiness::Readiness;

mod checks;
mod leases;
use super::slab::Key;
use super::{Event, Job, JobState, World};

/// Roots of the registry's draw keys.
const CHECK: DrawKey = DrawKey::root(0xd15c_0001);
const HEARTBEAT: DrawKey = DrawKey::root(0xd15c_0002);
const SWEEP: DrawKey = DrawKey::root(0xd15c_0003);
const STAGGER: DrawKey = DrawKey::root(0xd15c_0004);

/// At most this many deregistrations are recorded per registry (more are
/// counted in `deregistrations_dropped`).
pub const MAX_DEREGISTRATIONS: usize = 10_000;

/// An instance deregistered by the reaper.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Deregistration {
    /// The instance, within its service.
    pub instance: u32,
    /// When its check last became critical.
    pub critical_since: SimTime,
    /// When the reaper deregistered it.
    pub at: SimTime,
}

/// What a registry did, for reports.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RegistryCounts {
    /// Checks that failed, and renewals lost on the way.
    pub checks_failed: u64,
    /// Checks and renewals lost because the registry was down.
    pub lost_in_outage: u64,
    /// Callers' refreshes that succeeded, and that failed (lost on the
    /// network, or the registry down).
    pub refreshes: u64,
    /// Refreshes that failed.
    pub refreshes_failed: u64,
    /// Instances deregistered by the reaper, in time order.
    pub deregistrations: Vec<Deregistration>,
    /// Deregistrations beyond [`MAX_DEREGISTRATIONS`], not recorded.
    pub deregistrations_dropped: u64,
}

/// A check in flight.
pub(super) struct Probe {
    instance: u32,
    /// The instance's check number.
    n: u32,
}

/// How a registry learns of its instances' health.
enum Health {
    Checks {
        /// Per instance (within the service): its check while registered.
        checks: Vec<Option<HealthCheck>>,
        /// Per instance: checks sent so far, and the one in flight.
        sent: Vec<u32>,
        in_flight: Vec<Option<u32>>,
        /// Per instance: registrations so far (a check loop's `life`).
        lives: Vec<u32>,
        config: crate::patterns::discovery::HealthCheckConfig,
        work: Option<Sampler>,
    },
    Leases {
        registry: LeaseRegistry,
        renewal: SimDuration,
        sweep: SimDuration,
        /// Sweeps so far, and heartbeats sent per instance (their keys).
        sweeps: u64,
        beats: Vec<u64>,
        /// Per instance: the status its last renewal carried, `UP` or not
        /// (a not-ready instance's `DOWN`), which callers filter on.
        up: Vec<bool>,
    },
}

/// One discovered service's registry.
pub(super) struct Registry {
    /// The network node it runs at.
    pub(super) node: u32,
    first_instance: u32,
    health: Health,
    /// Its instances' readiness, if they report it.
    pub(super) readiness: Option<Readiness>,
    /// Active outages (overlapping faults compose): down while above 0.
    outages: u32,
    /// What it did, for reports.
    pub(super) counts: RegistryCounts,
}

impl Registry {
    /// The registry of a service whose instances are
    /// `first_instance..first_instance + instances`, all registered at t = 0.
    pub(super) fn new(
        discovery: &CompiledDiscovery,
        first_instance: u32,
        instances: u32,
    ) -> Registry {
        let health = match &discovery.health {
            CompiledHealth::Checks { config, work } => Health::Checks {
                checks: vec![None; instances as usize],
                sent: vec![0; instances as usize],
                in_flight: vec![None; instances as usize],
                lives: vec![0; instances as usize],
                config: *config,
                work: work.clone(),
            },
            CompiledHealth::Leases(config) => Health::Leases {
                registry: LeaseRegistry::new(*config, instances, 0)
                    .expect("validated by the compile step"),
                renewal: SimDuration::from_nanos(
                    u64::try_from(config.renewal_interval.as_nanos()).unwrap_or(u64::MAX),
                ),
                sweep: SimDuration::from_nanos(
                    u64::try_from(config.eviction_interval.as_nanos()).unwrap_or(u64::MAX),
                ),
                sweeps: 0,
                beats: vec![0; instances as usize],
                up: vec![true; instances as usize],
            },
        };
        Registry {
            node: discovery.registry,
            first_instance,
            health,
            readiness: discovery
                .readiness
                .as_ref()
                .map(|r| Readiness::new(r, instances)),
            outages: 0,
            counts: RegistryCounts::default(),
        }
    }

    /// Whether the registry is down (an outage).
    pub(super) fn is_down(&self) -> bool {
        self.outages > 0
    }

    /// The instances (within the service) a caller's refresh learns of:
    /// registered and passing, or holding a lease. Written into `out`.
    pub(super) fn members(&self, out: &mut Vec<u32>) {
        out.clear();
        match &self.health {
            Health::Checks { checks, .. } => out.extend(
                checks
                    .iter()
                    .enumerate()
                    .filter(|(_, c)| {
                        c.as_ref()
                            .is_some_and(|c| c.status() == HealthStatus::Passing)
                    })
                    .map(|(i, _)| i as u32),
            ),
            Health::Leases { registry, up, .. } => {
                out.extend(registry.members().filter(|&h| up[h as usize]))
            }
        }
    }

    /// Whether instance `host` (within the service) is listed now.
    pub(super) fn is_member(&self, host: u32) -> bool {
        match &self.health {
            Health::Checks { checks, .. } => checks[host as usize]
                .as_ref()
                .is_some_and(|c| c.status() == HealthStatus::Passing),
            Health::Leases { registry, up, .. } => {
                registry.is_registered(host) && up[host as usize]
            }
        }
    }

    /// The work a check takes at an instance, if it has a distribution.
    pub(super) fn check_work(&self) -> Option<&Sampler> {
        match &self.health {
            Health::Checks { work, .. } => work.as_ref(),
            Health::Leases { .. } => None,
        }
    }
}

/// The registry's keyed streams.
#[derive(Clone, Copy)]
pub(super) struct RegistryDraws {
    pub(super) stagger: KeyedStream,
    sweep: KeyedStream,
}

impl RegistryDraws {
    pub(super) fn new(streams: &RngStreams) -> RegistryDraws {
        RegistryDraws {
            stagger: streams.keyed("discovery/stagger"),
            sweep: streams.keyed("discovery/sweep"),
        }
    }
}

impl World<'_> {
    fn registry_of(&self, instance: u32) -> Option<(u32, &Registry)> {
        let service = self.instances[instance as usize].service;
        self.discovery.registries[service as usize]
            .as_ref()
            .map(|r| (service, r))
    }

    /// Starts every registry: each instance registered, checks staggered
    /// over their first interval (as Consul's agent does), heartbeats
    /// staggered over their first renewal interval, and the sweeps.
    pub(super) fn start_registries(&mut self, kernel: &mut Kernel<Event>) {
        let draws = self.discovery.registry_draws;
        for service in 0..self.services.len() {
            let Some(registry) = &mut self.discovery.registries[service] else {
                continue;
            };
            let first = registry.first_instance;
            match &mut registry.health {
                Health::Checks {
                    checks,
                    lives,
                    config,
                    ..
                } => {
                    for (host, check) in checks.iter_mut().enumerate() {
                        let instance = first + host as u32;
                        if self.instances[instance as usize].state != InstanceState::Ready {
                            // Held by an autoscaler: it registers when it starts.
                            continue;
                        }
                        let mut rng = draws
                            .stagger
                            .rng(STAGGER.child(u64::from(instance)).child(0));
                        let fresh = HealthCheck::staggered(*config, 0, &mut rng)
                            .expect("validated by the compile step");
                        let due = fresh.next_check_at().unwrap_or(0);
                        *check = Some(fresh);
                        lives[host] = 1;
                        kernel.schedule_at(
                            SimTime::from_nanos(due),
                            Event::CheckDue { instance, life: 1 },
                        );
                    }
                }
                Health::Leases {
                    registry,
                    renewal,
                    sweep,
                    beats,
                    ..
                } => {
                    for host in 0..beats.len() as u32 {
                        let instance = first + host;
                        if self.instances[instance as usize].state != InstanceState::Ready {
                            continue;
                        }
                        let _ = registry.register(0, host);
                        let mut rng = draws
                            .stagger
                            .rng(STAGGER.child(u64::from(instance)).child(0));
                        let stagger = SimDuration::from_nanos(
                            rand::RngCore::next_u64(&mut rng) % renewal.as_nanos().max(1),
                        );
                        kernel.schedule_in(stagger, Event::Heartbeat { instance, life: 0 });
                    }
                    kernel.schedule_in(*sweep, Event::Sweep(service as u32));
                }
            }
            let (first, count) = (first, self.services[service].instances);
            for instance in first..first + count {
                if self.instances[instance as usize].state == InstanceState::Ready {
                    self.start_readiness(kernel, instance);
                }
            }
        }
    }

    /// The restart hook's part: a ready instance registers (checks start
    /// critical and begin at once; a heartbeat loop starts, whose first
    /// renewal registers it).
    pub(super) fn register_instance(&mut self, kernel: &mut Kernel<Event>, instance: u32) {
        let life = self.instances[instance as usize].restarts;
        let Some((_, registry)) = self.registry_of(instance) else {
            return;
        };
        let host = (instance - registry.first_instance) as usize;
        let service = self.instances[instance as usize].service as usize;
        let now = kernel.now().as_nanos();
        self.start_readiness(kernel, instance);
        let registry = self.discovery.registries[service]
            .as_mut()
            .expect("found above");
        match &mut registry.health {
            Health::Checks {
                checks,
                lives,
                config,
                in_flight,
                ..
            } => {
                if checks[host].is_some() {
                    // Still registered (a crash does not deregister): its
                    // checks went on, and will find it up again.
                    return;
                }
                let fresh = HealthCheck::new(
                    crate::patterns::discovery::HealthCheckConfig {
                        initial_status: HealthStatus::Critical,
                        ..*config
                    },
                    now,
                )
                .expect("validated by the compile step");
                // Critical from the start: the reaper counts from now.
                let reap = fresh.deregister_at();
                checks[host] = Some(fresh);
                in_flight[host] = None;
                lives[host] += 1;
                let life = lives[host];
                kernel.schedule_in(SimDuration::ZERO, Event::CheckDue { instance, life });
                if let Some(at) = reap {
                    kernel.schedule_at(SimTime::from_nanos(at), Event::Reap { instance, life });
                }
            }
            Health::Leases { .. } => {
                kernel.schedule_in(SimDuration::ZERO, Event::Heartbeat { instance, life });
            }
        }
    }

    /// A graceful stop: the instance deregisters (assumed delivered).
    pub(super) fn deregister_instance(&mut self, now: SimTime, instance: u32) {
        let service = self.instances[instance as usize].service as usize;
        let Some(registry) = self.discovery.registries[service].as_mut() else {
            return;
        };
        let host = instance - registry.first_instance;
        match &mut registry.health {
            Health::Checks {
                checks, in_flight, ..
            } => {
                checks[host as usize] = None;
                in_flight[host as usize] = None;
            }
            Health::Leases { registry, .. } => {
                let _ = registry.cancel(now.as_nanos(), host);
            }
        }
    }

    /// A registry outage of `service`'s registry starts or ends. At the end,
    /// every lease held is renewed (see the module documentation).
    pub(super) fn registry_outage(&mut self, now: SimTime, service: u32, starts: bool) {
        let Some(registry) = self.discovery.registries[service as usize].as_mut() else {
            return;
        };
        if starts {
            registry.outages += 1;
            return;
        }
        debug_assert!(registry.outages > 0, "an outage ended that had not started");
        registry.outages = registry.outages.saturating_sub(1);
        if registry.outages > 0 {
            return;
        }
        if let Health::Leases { registry, .. } = &mut registry.health {
            let held: Vec<u32> = registry.members().collect();
            for host in held {
                let _ = registry.renew(now.as_nanos(), host);
            }
        }
    }
}
