//! A registry's TTL leases (Eureka): each live process's heartbeat loop,
//! renewals that carry the instance's status, and the eviction sweeps;
//! while the registry is down, renewals are lost and sweeps skipped.

use super::*;

impl World<'_> {
    /// An instance's heartbeat is due: a live process sends its renewal,
    /// and its next one a renewal interval later.
    pub(in crate::world) fn heartbeat(
        &mut self,
        kernel: &mut Kernel<Event>,
        instance: u32,
        life: u32,
    ) {
        let state = &self.instances[instance as usize];
        if state.restarts != life
            || state.lingering > 0
            || matches!(
                state.state,
                InstanceState::Crashed | InstanceState::Stopped | InstanceState::Draining
            )
        {
            // That process is gone, or shutting down (it has deregistered,
            // as the Eureka client does before it stops): its loop ends.
            return;
        }
        let service = state.service;
        // The renewal carries the instance's status: `DOWN` while not ready.
        let up = state.state != InstanceState::NotReady;
        let Some(registry) = self.discovery.registries[service as usize].as_mut() else {
            return;
        };
        let host = (instance - registry.first_instance) as usize;
        let node = registry.node;
        let Health::Leases { renewal, beats, .. } = &mut registry.health else {
            return;
        };
        beats[host] += 1;
        let draw = HEARTBEAT.child(u64::from(instance)).child(beats[host]);
        kernel.schedule_in(*renewal, Event::Heartbeat { instance, life });
        match self
            .network
            .transmit(service as usize, node as usize, Message::Request, draw)
        {
            Some(delay) if delay.is_zero() => self.renew(kernel.now(), instance, up),
            Some(delay) => kernel.schedule_in(delay, Event::Renew { instance, up }),
            None => {
                if let Some(r) = self.discovery.registries[service as usize].as_mut() {
                    r.counts.checks_failed += 1;
                }
            }
        }
    }

    /// A renewal reached the registry, carrying the instance's status (`up`:
    /// ready). Lost while the registry is down.
    pub(in crate::world) fn renew(&mut self, now: SimTime, instance: u32, ready: bool) {
        let service = self.instances[instance as usize].service as usize;
        let Some(registry) = self.discovery.registries[service].as_mut() else {
            return;
        };
        if registry.outages > 0 {
            registry.counts.lost_in_outage += 1;
            return;
        }
        let host = instance - registry.first_instance;
        if let Health::Leases { registry, up, .. } = &mut registry.health {
            up[host as usize] = ready;
            if !registry.renew(now.as_nanos(), host) {
                let _ = registry.register(now.as_nanos(), host);
            }
        }
    }

    /// An eviction sweep of a service's registry.
    pub(in crate::world) fn sweep(&mut self, kernel: &mut Kernel<Event>, service: u32) {
        let draws = self.discovery.registry_draws;
        let Some(registry) = self.discovery.registries[service as usize].as_mut() else {
            return;
        };
        let down = registry.outages > 0;
        let Health::Leases {
            registry,
            sweep,
            sweeps,
            ..
        } = &mut registry.health
        else {
            return;
        };
        if down {
            // No sweep while the registry is down; the next one is due.
            kernel.schedule_in(*sweep, Event::Sweep(service));
            return;
        }
        *sweeps += 1;
        let mut rng = draws
            .sweep
            .rng(SWEEP.child(u64::from(service)).child(*sweeps));
        let _ = registry.evict(kernel.now().as_nanos(), &mut rng);
        kernel.schedule_in(*sweep, Event::Sweep(service));
    }
}
