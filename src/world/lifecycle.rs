//! The lifecycle of an instance: starting, ready, not ready, draining,
//! stopped, crashed.
//!
//! The state is derived from what is acting on the instance (crash faults,
//! graceful stops, a boot in progress, the work it still holds), so
//! overlapping faults compose: a crash during a drain is a crash, and the
//! end of the crash finds the drain still active. Every change is counted
//! per service, by (from, to).
//!
//! A restart (crashed or stopped → ready) is a new process. It passes
//! through `Starting` for the service's `boot_time` (at once without one),
//! then runs the restart hook ([`World::on_ready`]) where later issues
//! register the instance or recover its log. `Ready` and `NotReady` are the
//! same process, alive, and move between each other at its readiness
//! probes (`readiness.rs`): readiness is not liveness, and nothing restarts
//! a not-ready instance. A crash or a stop during the
//! boot abandons it. Instances present when the run starts are ready at
//! once: a run begins with a warm system.
//!
//! What an instance holds is **volatile** or **durable**. Volatile, lost at
//! a crash: its queue and the work in service (dropped silently), the calls
//! that work had in flight (abandoned, counted as `dropped` on their edge:
//! their timers, retries and hedges die with the process, and their breaker
//! permits and bulkhead slots are given back); and lost at any restart: its
//! own pattern state on every edge whose policy is scoped per instance
//! (breakers closed with fresh windows, empty bulkheads, budgets, token
//! buckets and hedge estimates started over). Durable, surviving restarts:
//! its speed factor (`instance_slowdown`), its restart count (which keys
//! the boot time's draw), and an orchestrator's saga log (`saga.rs`: its
//! sagas in memory are lost, and resumed from the log by the restart hook;
//! a stateful service's ledger is the service's, not an instance's).
//! Pattern state scoped per *service* is
//! shared by all its instances and survives one instance's restart.
//!
//! What each state means for a request that reaches the instance:
//!
//! | state | a request that arrives |
//! |---|---|
//! | `Ready` | is queued or served |
//! | `Starting` | is refused with 503 `Unavailable`, as a port nobody listens on yet |
//! | `NotReady` | is queued or served: it is alive, only out of the pool (`readiness.rs`) |
//! | `Draining` | is refused with 503 `Unavailable`; queued and in-service work finishes |
//! | `Stopped` | is refused with 503 `Unavailable` |
//! | `Crashed` | vanishes: no reply (the caller learns through its timeout) |

use crate::kernel::Kernel;
use crate::scenario::PolicyScope;

use super::policy::EdgeState;
use super::{Event, World};

/// Where an instance is in its lifecycle.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum InstanceState {
    /// Booting after a restart (`boot_time`): refuses requests.
    Starting,
    /// Serving.
    Ready,
    /// Up, but reporting itself not ready (`readiness.rs`): it serves what
    /// reaches it and leaves its callers' pools through the registry.
    NotReady,
    /// Stopping gracefully: refuses new work, finishes what it holds.
    Draining,
    /// Stopped gracefully.
    Stopped,
    /// Crashed: everything it held is lost.
    Crashed,
}

impl InstanceState {
    /// The state's name in reports.
    pub fn name(self) -> &'static str {
        match self {
            InstanceState::Starting => "starting",
            InstanceState::Ready => "ready",
            InstanceState::NotReady => "not_ready",
            InstanceState::Draining => "draining",
            InstanceState::Stopped => "stopped",
            InstanceState::Crashed => "crashed",
        }
    }

    /// Whether a request that arrives is refused with 503.
    pub(super) fn refuses(self) -> bool {
        matches!(
            self,
            InstanceState::Starting | InstanceState::Draining | InstanceState::Stopped
        )
    }
}

impl World<'_> {
    /// Brings an instance's state up to date with what acts on it, counting
    /// the transition; a restart (crashed or stopped → ready) boots first
    /// and then runs the restart hook.
    pub(super) fn refresh_state(&mut self, kernel: &mut Kernel<Event>, index: u32) {
        let before = self.instances[index as usize].state;
        self.update_state(kernel, index);
        let after = self.instances[index as usize].state;
        let gone = |s| matches!(s, InstanceState::Crashed | InstanceState::Stopped);
        if self.sagas.is_some() && gone(after) && !gone(before) {
            // An orchestrator's sagas in memory go with the process.
            self.sagas_lost(kernel, index);
        }
        if self.messaging.is_some() {
            let leaves = |s| matches!(s, InstanceState::Draining | InstanceState::Stopped);
            if gone(after) && !gone(before) || leaves(after) && !leaves(before) && !gone(before) {
                // A consumer leaves its groups (at once when it stops
                // gracefully), a producer's publishes go with its process.
                let graceful = after != InstanceState::Crashed;
                self.messaging_lost(kernel, index, graceful);
            }
        }
        let service = self.instances[index as usize].service as usize;
        if after != before && self.autoscalers[service].is_some() {
            self.autoscaled_transition(kernel, index, before, after);
        }
    }

    fn update_state(&mut self, kernel: &mut Kernel<Event>, index: u32) {
        // Readiness is the current process's: a crashed or stopped one that
        // comes back is a new process, ready once booted.
        let not_ready = matches!(
            self.instances[index as usize].state,
            InstanceState::Ready | InstanceState::NotReady
        ) && self.reports_not_ready(index);
        let instance = &mut self.instances[index as usize];
        let holds_work = instance.busy > 0 || !instance.queue.is_empty();
        // A drain, once begun, finishes: a stop that ends meanwhile
        // restarts the process after it (Draining → Starting).
        let draining = instance.stops > 0 || instance.state == InstanceState::Draining;
        let mut next = if instance.crashes > 0 {
            InstanceState::Crashed
        } else if draining && holds_work {
            InstanceState::Draining
        } else if instance.stops > 0 {
            InstanceState::Stopped
        } else if instance.booting {
            InstanceState::Starting
        } else if not_ready {
            InstanceState::NotReady
        } else {
            InstanceState::Ready
        };
        if matches!(next, InstanceState::Crashed | InstanceState::Stopped) {
            // The process is gone: a boot in progress is abandoned.
            instance.booting = false;
        }
        let previous = instance.state;
        if next == previous {
            return;
        }

        let service = instance.service as usize;
        let restart = next == InstanceState::Ready
            && matches!(
                previous,
                InstanceState::Crashed | InstanceState::Stopped | InstanceState::Draining
            );
        if restart {
            // A new process: what it held in memory is gone.
            let instance = &mut self.instances[index as usize];
            instance.restarts += 1;
            let restart = instance.restarts;
            self.count_transition(service, previous, InstanceState::Starting);
            if self.sagas.is_some() && previous == InstanceState::Draining {
                // A drain that ends in a restart never passed through
                // Stopped: the old process's sagas go with it here.
                self.sagas_lost(kernel, index);
            }
            if self.messaging.is_some() && previous == InstanceState::Draining {
                self.messaging_lost(kernel, index, true);
            }
            self.reset_volatile(kernel, index);
            let factor = self.services[service].boot_factor;
            let boot = self.services[service].boot_time.as_ref().map(|sampler| {
                let mut rng = self.draws.boot(index, restart);
                let boot = sampler.sample(&mut rng);
                if factor == 1.0 {
                    boot
                } else {
                    boot.mul_f64(factor)
                }
            });
            if let Some(boot) = boot.filter(|b| !b.is_zero()) {
                let instance = &mut self.instances[index as usize];
                instance.booting = true;
                instance.state = InstanceState::Starting;
                kernel.schedule_in(
                    boot,
                    Event::Booted {
                        instance: index,
                        restart,
                    },
                );
                return;
            }
            next = InstanceState::Ready;
            self.instances[index as usize].state = next;
            self.count_transition(service, InstanceState::Starting, next);
            self.on_ready(kernel, index);
        } else {
            self.instances[index as usize].state = next;
            self.count_transition(service, previous, next);
            if next == InstanceState::Ready && previous == InstanceState::Starting {
                self.on_ready(kernel, index);
            }
        }
    }

    fn count_transition(&mut self, service: usize, from: InstanceState, to: InstanceState) {
        *self.services[service]
            .transitions
            .entry((from, to))
            .or_insert(0) += 1;
    }

    /// A restarting instance has finished booting (unless it crashed or
    /// stopped meanwhile, and this is an old boot's event).
    pub(super) fn booted(&mut self, kernel: &mut Kernel<Event>, index: u32, restart: u32) {
        let instance = &mut self.instances[index as usize];
        if !instance.booting || instance.restarts != restart {
            return;
        }
        instance.booting = false;
        self.refresh_state(kernel, index);
    }

    /// What a restart loses: the instance's own pattern state on every edge
    /// it calls with a per-instance scope (breakers close with fresh
    /// windows, bulkheads are empty, budgets, rate limits and hedge
    /// estimates start over). Nothing in flight refers to it: the calls of
    /// a crashed instance were abandoned at the crash, and a stopped one
    /// finished its work before stopping.
    fn reset_volatile(&mut self, kernel: &mut Kernel<Event>, index: u32) {
        let service = self.instances[index as usize].service;
        let unit = index - self.services[service as usize].first_instance;
        let now = kernel.now();
        if !self.admission.is_empty() {
            // Its admission limiter is process memory: a new process starts
            // with a full bucket.
            self.admission[index as usize] = self.services[service as usize].admission;
        }
        if let Some(shed) = &mut self.shed {
            shed.restart(index);
        }
        if let super::behaviour::Behaviour::Gateway(gateway) =
            &mut self.services[service as usize].behaviour
        {
            // So is a gateway's token cache; and the aggregations of the
            // jobs the crash dropped are forgotten.
            gateway.restart(unit);
            gateway.forget_aggregations(|job| self.jobs.get(job).is_some());
        }
        for edge in 0..self.edges.len() {
            let model = &mut self.edges[edge];
            // Without a policy, an edge has units only towards a
            // discovered service, one per calling instance.
            let per_instance = model
                .policy
                .is_none_or(|p| self.policies[p as usize].scope == PolicyScope::Instance);
            // A policy that keeps no state has one unit whatever its scope:
            // nothing of it is this instance's own.
            let own_units = model.units.len() == self.services[service as usize].instances as usize;
            if model.caller != Some(service) || !own_units || !per_instance {
                continue;
            }
            let hosts = self.services[model.callee as usize].instances;
            let fresh = match model.policy {
                Some(policy) => self.policies[policy as usize].new_state(hosts, now),
                None => EdgeState::bare(hosts),
            };
            let state = &mut model.units[unit as usize];
            debug_assert!(
                state
                    .bulkhead
                    .as_ref()
                    .is_none_or(|b| b.in_use() == 0 && b.waiting() == 0),
                "a restarting instance holds no bulkhead slot"
            );
            if let Some(timer) = state.bulkhead_timer.take() {
                kernel.cancel(timer);
            }
            if let Some(breaker) = &mut state.breaker {
                // Closed and empty, as a new process's breaker is; the
                // transition is logged like any other.
                breaker.reset(now.as_nanos());
            }
            state.bulkhead = fresh.bulkhead;
            state.limiter = fresh.limiter;
            state.rate_limit = fresh.rate_limit;
            state.hedger = fresh.hedger;
            state.outlier = fresh.outlier;
            // A cached answer is process memory: gone with the process.
            state.last_success = None;
            state.key_cache = fresh.key_cache;
            if fresh.balancer.is_some() {
                state.balancer = fresh.balancer;
            } else if state.balancer.is_some() {
                // A discovered callee: the unit's round robin starts over.
                state.balancer = EdgeState::bare(hosts).balancer;
            }
            // A new process fetches its view afresh.
            let (stagger, life) = (
                self.discovery.registry_draws.stagger,
                self.instances[index as usize].restarts,
            );
            if let Some(view) = self.discovery.views[edge].get_mut(unit as usize) {
                view.restart(now, stagger, life);
            }
            self.drain_breaker(edge as u32, unit);
        }
    }

    /// The restart hook: an instance has become ready again. A discovered
    /// instance registers (`registry/`); stateful services will recover
    /// their durable state here.
    pub(super) fn on_ready(&mut self, kernel: &mut Kernel<Event>, index: u32) {
        debug_assert_eq!(self.instances[index as usize].state, InstanceState::Ready);
        self.register_instance(kernel, index);
        if self.sagas.is_some() {
            // An orchestrator resumes every unfinished saga of its log.
            self.sagas_recover(kernel, index);
        }
        if self.messaging.is_some() {
            self.messaging_ready(kernel, index);
        }
    }

    /// Starts a graceful stop of an instance: a discovered one deregisters
    /// at once; with the service's `shutdown_delay`, a serving instance
    /// goes on serving for that long (Kubernetes' `preStop` sleep) before
    /// it refuses new work and drains.
    pub(super) fn stop_instance(&mut self, kernel: &mut Kernel<Event>, index: u32) {
        self.deregister_instance(kernel.now(), index);
        let service = self.instances[index as usize].service as usize;
        let instance = &mut self.instances[index as usize];
        let serving = matches!(
            instance.state,
            InstanceState::Ready | InstanceState::NotReady
        );
        match self.services[service].shutdown_delay {
            Some(delay) if serving => {
                instance.lingering += 1;
                kernel.schedule_in(delay, Event::StopDue(index));
            }
            _ => {
                instance.stops += 1;
                self.refresh_state(kernel, index);
            }
        }
    }

    /// The shutdown delay of a stop of `index` has passed: the stop takes
    /// effect (refusing new work, draining); one that was ended meanwhile
    /// ends now, and the process restarts after its drain.
    pub(super) fn stop_due(&mut self, kernel: &mut Kernel<Event>, index: u32) {
        let instance = &mut self.instances[index as usize];
        debug_assert!(instance.lingering > 0, "a stop due that was not announced");
        instance.lingering -= 1;
        instance.stops += 1;
        let ended = instance.early_resumes > 0;
        if ended {
            instance.early_resumes -= 1;
        }
        self.refresh_state(kernel, index);
        if ended {
            self.instances[index as usize].stops -= 1;
            self.refresh_state(kernel, index);
        }
    }

    /// Ends a graceful stop of an instance: one in effect, else one still
    /// in its shutdown delay (which then runs its course and restarts).
    pub(super) fn resume_instance(&mut self, kernel: &mut Kernel<Event>, index: u32) {
        let instance = &mut self.instances[index as usize];
        if instance.stops == 0 {
            debug_assert!(
                instance.lingering > instance.early_resumes,
                "resumed an instance that was not stopped"
            );
            instance.early_resumes += 1;
            return;
        }
        instance.stops -= 1;
        self.refresh_state(kernel, index);
    }

    /// Ends a crash of an instance: it restarts empty once no crash is left.
    pub(super) fn recover_instance(&mut self, kernel: &mut Kernel<Event>, index: u32) {
        let instance = &mut self.instances[index as usize];
        debug_assert!(
            instance.crashes > 0,
            "recovered an instance that was not down"
        );
        instance.crashes -= 1;
        if instance.crashes == 0 {
            self.crash_ended(index, kernel.now(), true);
        }
        self.refresh_state(kernel, index);
    }
}
