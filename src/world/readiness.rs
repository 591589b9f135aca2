//! Readiness, distinct from liveness: each live instance of a service whose
//! `discovery` has `readiness` asks itself, every `interval`, whether it
//! should get new traffic, with the patterns' [`ReadinessProbe`]
//! (Kubernetes' period and thresholds).
//!
//! A probe fails while more than `queue_above` requests wait in the
//! instance's queue, or while a required dependency has no instance up (all
//! crashed, stopped, draining or booting: a connection to it would be
//! refused or unanswered; partitions are not looked at). The probe is the
//! kubelet's: local, beside the work queue (an admin endpoint), so it sees
//! the queue as it is and costs no worker. After `failure_threshold` failed
//! probes the instance is `NotReady` (`lifecycle.rs`); after
//! `success_threshold` passing ones, `Ready` again. Each change is a counted
//! transition.
//!
//! A not-ready instance is alive: it serves what reaches it (callers with a
//! stale view still send), and nothing restarts it. What changes is what it
//! tells the registry: it answers its health checks with 503 (a failed
//! check, so it turns critical after `failures_before_critical`, as a
//! Consul HTTP check of a readiness endpoint does), and its heartbeats carry
//! the status `DOWN`, which keeps its lease (it is alive) but takes it out
//! of what callers fetch (the Eureka client's `shouldFilterOnlyUpInstances`,
//! on by default).
//!
//! Each probe loop belongs to one process (`life`, the instance's restart
//! count): a crash or a stop ends it, and the restart hook starts a new one,
//! ready (the boot time stands for the readiness delay). The first probe of
//! each loop waits a keyed stagger within one interval, as the kubelet's
//! prober worker waits a random part of its period before the first probe.

use crate::kernel::{DrawKey, Kernel, SimTime};
use crate::patterns::discovery::ReadinessProbe;
use crate::scenario::CompiledReadiness;

use super::lifecycle::InstanceState;
use super::{Event, World};

/// The root of the readiness probes' stagger keys (stream
/// `discovery/stagger`).
const READINESS: DrawKey = DrawKey::root(0xd15c_0007);

/// The readiness of a discovered service's instances.
pub(super) struct Readiness {
    spec: CompiledReadiness,
    /// Per instance (within the service): the probe of its current process.
    probes: Vec<ReadinessProbe>,
}

impl Readiness {
    /// Every instance ready, probes not started yet.
    pub(super) fn new(spec: &CompiledReadiness, instances: u32) -> Readiness {
        let probe =
            ReadinessProbe::new(spec.config, 0, true).expect("validated by the compile step");
        Readiness {
            spec: spec.clone(),
            probes: vec![probe; instances as usize],
        }
    }

    /// Whether instance `host` (within the service) reports itself ready.
    pub(super) fn is_ready(&self, host: u32) -> bool {
        self.probes[host as usize].is_ready()
    }
}

impl World<'_> {
    /// Whether `instance` is alive and reports itself not ready.
    pub(super) fn reports_not_ready(&self, instance: u32) -> bool {
        let service = self.instances[instance as usize].service as usize;
        self.discovery.registries[service]
            .as_ref()
            .and_then(|r| r.readiness.as_ref())
            .is_some_and(|r| !r.is_ready(instance - self.services[service].first_instance))
    }

    /// Starts the readiness loop of `instance`'s current process: ready, its
    /// first probe within one interval (keyed by instance and process).
    pub(super) fn start_readiness(&mut self, kernel: &mut Kernel<Event>, instance: u32) {
        let life = self.instances[instance as usize].restarts;
        let service = self.instances[instance as usize].service as usize;
        let first = self.services[service].first_instance;
        let stagger = self.discovery.registry_draws.stagger;
        let Some(readiness) = self.discovery.registries[service]
            .as_mut()
            .and_then(|r| r.readiness.as_mut())
        else {
            return;
        };
        let now = kernel.now().as_nanos();
        let mut rng = stagger.rng(READINESS.child(u64::from(instance)).child(u64::from(life)));
        let probe = ReadinessProbe::staggered(readiness.spec.config, now, true, &mut rng)
            .expect("validated by the compile step");
        let due = probe.next_probe_at();
        readiness.probes[(instance - first) as usize] = probe;
        kernel.schedule_at(
            SimTime::from_nanos(due),
            Event::ReadinessDue { instance, life },
        );
    }

    /// A readiness probe of `instance` is due (its `life`-th process).
    pub(super) fn readiness_due(&mut self, kernel: &mut Kernel<Event>, instance: u32, life: u32) {
        let state = &self.instances[instance as usize];
        if state.restarts != life
            || !matches!(state.state, InstanceState::Ready | InstanceState::NotReady)
        {
            return; // That process is gone or going: its loop ends.
        }
        let queued = state.queue.len() as u64;
        let service = state.service as usize;
        let first = self.services[service].first_instance;
        let Some(spec) = self.discovery.registries[service]
            .as_ref()
            .and_then(|r| r.readiness.as_ref())
            .map(|r| &r.spec)
        else {
            return;
        };
        let queue_ok = spec.queue_above.is_none_or(|n| queued <= u64::from(n));
        let dependencies_ok = spec.dependencies.iter().all(|&d| {
            let model = &self.services[d as usize];
            (model.first_instance..model.first_instance + model.instances).any(|i| {
                matches!(
                    self.instances[i as usize].state,
                    InstanceState::Ready | InstanceState::NotReady
                )
            })
        });
        let now = kernel.now();
        let readiness = self.discovery.registries[service]
            .as_mut()
            .and_then(|r| r.readiness.as_mut())
            .expect("found above");
        let probe = &mut readiness.probes[(instance - first) as usize];
        let changed = probe.on_result(now.as_nanos(), queue_ok && dependencies_ok);
        kernel.schedule_at(
            SimTime::from_nanos(probe.next_probe_at()),
            Event::ReadinessDue { instance, life },
        );
        if changed.is_some() {
            self.refresh_state(kernel, instance);
        }
    }
}
