//! A registry's active checks (Consul): the check loop of each registered
//! instance, a check's round trip as a job at the instance, its result,
//! and the reaper of `deregister_critical_after`; while the registry is
//! down, checks are not sent and a check in flight is abandoned.

use super::*;

impl World<'_> {
    /// A check of `instance` is due: the registry sends it, and gives up
    /// after the check's timeout.
    #[inline(never)]
    pub(in crate::world) fn check_due(
        &mut self,
        kernel: &mut Kernel<Event>,
        instance: u32,
        life: u32,
    ) {
        let now = kernel.now();
        let service = self.instances[instance as usize].service;
        let Some(registry) = self.discovery.registries[service as usize].as_mut() else {
            return;
        };
        let host = (instance - registry.first_instance) as usize;
        let node = registry.node;
        let down = registry.is_down();
        let Health::Checks {
            checks,
            sent,
            in_flight,
            lives,
            config,
            ..
        } = &mut registry.health
        else {
            return;
        };
        if lives[host] != life {
            return; // A loop of an older registration.
        }
        let Some(check) = checks[host].as_mut() else {
            return; // Deregistered: the loop ends.
        };
        if down {
            // The registry is down: no check now, the loop waits an interval.
            let interval = SimDuration::from_nanos(
                u64::try_from(config.interval.as_nanos()).unwrap_or(u64::MAX),
            );
            kernel.schedule_in(interval, Event::CheckDue { instance, life });
            return;
        }
        let Some(deadline) = check.begin_check(now.as_nanos()) else {
            return;
        };
        sent[host] += 1;
        let n = sent[host];
        in_flight[host] = Some(n);
        let probe = self.discovery.probes.insert(Probe { instance, n });
        kernel.schedule_at(SimTime::from_nanos(deadline), Event::ProbeTimeout(probe));
        let draw = CHECK.child(u64::from(instance)).child(u64::from(n));
        let Some(delay) =
            self.network
                .transmit(node as usize, service as usize, Message::Request, draw)
        else {
            return; // Lost: the timeout will tell.
        };
        let job = self.jobs.insert(Job {
            caller_zone: crate::scenario::NO_ZONE,
            attempt: probe,
            draw,
            request: Key::DANGLING,
            caller: node,
            instance,
            deadline: SimTime::MAX,
            arrived: SimTime::ZERO,
            step: 0,
            pending: 0,
            state: JobState::InTransit,
            cancelled: false,
            origin: crate::world::Origin::Probe,
        });
        if delay.is_zero() {
            self.deliver(kernel, job);
        } else {
            kernel.schedule_in(delay, Event::Deliver(job));
        }
    }

    /// A check ended: its reply came back (`ok` or not) or, `None`, its
    /// timeout expired. The next check is due one interval later.
    pub(in crate::world) fn probe_done(
        &mut self,
        kernel: &mut Kernel<Event>,
        probe: Key,
        ok: Option<bool>,
    ) {
        let Some(Probe { instance, n }) = self.discovery.probes.remove(probe) else {
            return; // Already ended (a late reply, or a timeout after it).
        };
        let now = kernel.now();
        let service = self.instances[instance as usize].service as usize;
        let Some(registry) = self.discovery.registries[service].as_mut() else {
            return;
        };
        let host = (instance - registry.first_instance) as usize;
        let Health::Checks {
            checks,
            in_flight,
            lives,
            ..
        } = &mut registry.health
        else {
            return;
        };
        if in_flight[host] != Some(n) {
            return;
        }
        in_flight[host] = None;
        let Some(check) = checks[host].as_mut() else {
            return;
        };
        let life = lives[host];
        if registry.outages > 0 {
            // The registry is down: nobody is there to learn the result.
            check.abandon_check(now.as_nanos());
            registry.counts.lost_in_outage += 1;
        } else {
            let passed = ok == Some(true);
            if !passed {
                registry.counts.checks_failed += 1;
            }
            let was = check.status();
            check.on_result(now.as_nanos(), passed);
            if was != HealthStatus::Critical
                && let Some(at) = check.deregister_at()
            {
                kernel.schedule_at(SimTime::from_nanos(at), Event::Reap { instance, life });
            }
        }
        let next = check.next_check_at().unwrap_or(now.as_nanos());
        kernel.schedule_at(
            SimTime::from_nanos(next),
            Event::CheckDue { instance, life },
        );
    }

    /// The reaper's pass for `instance`'s check (its `life`-th
    /// registration): deregistered if its check has been critical for
    /// longer than the timeout. While the registry is down the reaper does
    /// not run, and looks again one pass later.
    pub(in crate::world) fn reap(&mut self, kernel: &mut Kernel<Event>, instance: u32, life: u32) {
        let now = kernel.now();
        let service = self.instances[instance as usize].service as usize;
        let Some(registry) = self.discovery.registries[service].as_mut() else {
            return;
        };
        let host = (instance - registry.first_instance) as usize;
        let down = registry.outages > 0;
        let Health::Checks {
            checks,
            in_flight,
            lives,
            ..
        } = &mut registry.health
        else {
            return;
        };
        if lives[host] != life {
            return;
        }
        let Some(check) = checks[host].as_ref() else {
            return;
        };
        if down {
            if check.deregister_at().is_some() {
                let pass = SimDuration::from_nanos(
                    u64::try_from(check.config().reap_interval.as_nanos()).unwrap_or(u64::MAX),
                );
                kernel.schedule_in(
                    pass.max(SimDuration::from_nanos(1)),
                    Event::Reap { instance, life },
                );
            }
            return;
        }
        if !check.should_deregister(now.as_nanos()) {
            return; // It passed since, or this pass is early.
        }
        let critical_since = SimTime::from_nanos(check.critical_since().unwrap_or(0));
        checks[host] = None;
        in_flight[host] = None;
        if registry.counts.deregistrations.len() < MAX_DEREGISTRATIONS {
            registry.counts.deregistrations.push(Deregistration {
                instance: host as u32,
                critical_since,
                at: now,
            });
        } else {
            registry.counts.deregistrations_dropped += 1;
        }
    }

    /// A check job's reply leaves its instance for the registry. Cold and
    /// out of line: it must not weigh on the reply path of real work.
    #[cold]
    #[inline(never)]
    pub(in crate::world) fn probe_reply(
        &mut self,
        kernel: &mut Kernel<Event>,
        from_service: u32,
        job: &Job,
        ok: bool,
    ) {
        // A not-ready instance's readiness endpoint answers 503.
        let ok = ok && self.instances[job.instance as usize].state != InstanceState::NotReady;
        let node = job.caller;
        match self.network.transmit(
            from_service as usize,
            node as usize,
            Message::Reply,
            job.draw,
        ) {
            Some(delay) if delay.is_zero() => self.probe_done(kernel, job.attempt, Some(ok)),
            Some(delay) => kernel.schedule_in(
                delay,
                Event::ProbeReply {
                    probe: job.attempt,
                    ok,
                },
            ),
            None => {}
        }
    }
}
