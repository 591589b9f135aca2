//! Instance choice: which instance of a service a message goes to, and the
//! job it becomes there.
//!
//! Two paths. An edge whose policy sets no `balancer` uses its callee's
//! shared [`Balancer`]: round robin over every instance, up or down, as a
//! client with a static list of hosts does, one rotation per callee shared
//! by all its callers (the behaviour of every scenario written before
//! balancers were per edge, kept byte for byte, and the fast path: no view,
//! no draw). An edge whose policy sets one (`balanced`) picks with the
//! balancer of its scope unit, over the unit's view of the callee
//! (`discovery.rs`, with the patterns' `discovery::Balancer`).

use crate::kernel::{DrawKey, Kernel, SimDuration, SimTime};
use crate::scenario::{NO_ZONE, ZoneId};

use super::draws::Message;
use super::slab::Key;
use super::{Event, Job, JobState, Reply, Status, World};

/// How a service's callers pick one of its instances.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum Balancer {
    /// Each instance in turn, whatever its state.
    RoundRobin {
        /// The next instance's index within the service.
        next: u32,
    },
}

impl Balancer {
    /// The balancer a service starts with.
    pub(super) fn round_robin() -> Balancer {
        Balancer::RoundRobin { next: 0 }
    }

    /// The index (within the service, below `instances`) of the instance the
    /// next message goes to.
    #[inline]
    pub(super) fn pick(&mut self, instances: u32) -> u32 {
        debug_assert!(instances > 0, "a service has at least one instance");
        match self {
            Balancer::RoundRobin { next } => {
                let chosen = *next;
                *next = if chosen + 1 >= instances {
                    0
                } else {
                    chosen + 1
                };
                chosen
            }
        }
    }
}

impl World<'_> {
    /// The instance an attempt goes to when some edge is balanced (out of
    /// line, so that the plain path stays lean): its scope unit's balancer
    /// over its view on a balanced edge, the callee's round robin on any
    /// other. `None`: the view is empty, and the attempt is refused with
    /// 503 at once, as Envoy's "no healthy upstream" (as an event, so that
    /// the caller's stack is not re-entered).
    #[inline(never)]
    fn balanced_instance(
        &mut self,
        kernel: &mut Kernel<Event>,
        attempt: Key,
        draw: DrawKey,
        request: Key,
        service: u32,
        caller_zone: ZoneId,
    ) -> Option<u32> {
        let (edge, unit) = self.attempts.get(attempt).map(|a| (a.edge, a.unit))?;
        if !self.edges[edge as usize].balanced {
            let model = &mut self.services[service as usize];
            return Some(model.first_instance + model.balancer.pick(model.instances));
        }
        let picked = self.pick_balanced(
            kernel.now(),
            (edge, unit),
            draw,
            request,
            service,
            caller_zone,
        );
        if picked.is_none() {
            kernel.schedule_in(
                SimDuration::ZERO,
                Event::Reply {
                    attempt,
                    reply: Reply::of(Status::Unavailable),
                },
            );
        }
        picked
    }

    /// A request's message in a world with zones: counted by zone, and sent
    /// with its zone pair's latency.
    #[inline(never)]
    fn send_zoned(
        &mut self,
        instance: u32,
        (caller, caller_zone): (u32, ZoneId),
        service: u32,
        draw: DrawKey,
    ) -> Option<SimDuration> {
        let zones = self.zones.as_deref_mut().expect("a zoned world");
        let zone = zones.instance[instance as usize];
        if zone != NO_ZONE {
            let counts = &mut zones.counts[usize::from(zone)];
            counts.requests += 1;
            counts.cross_zone += u64::from(caller_zone != NO_ZONE && caller_zone != zone);
        }
        self.transmit_zoned(
            (caller, caller_zone),
            (service, zone),
            Message::Request,
            draw,
        )
    }

    /// Sends a request message for `attempt` from node `caller` to the
    /// instance of `service` its balancer picks.
    /// A `cancellable` attempt remembers its job, for a cancellation to find.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn send_job(
        &mut self,
        kernel: &mut Kernel<Event>,
        attempt: Key,
        draw: DrawKey,
        request: Key,
        caller: u32,
        service: u32,
        deadline: Option<SimTime>,
        cancellable: bool,
    ) {
        // One predictable branch in a world without zones (its answer kept
        // for the send below).
        let zoned = self.zones.is_some();
        let caller_zone = if zoned {
            self.caller_zone(attempt, request)
        } else {
            NO_ZONE
        };
        let instance = if self.discovery.tracked {
            let Some(instance) =
                self.balanced_instance(kernel, attempt, draw, request, service, caller_zone)
            else {
                return; // Refused locally: no instance in the view.
            };
            // Only the discovery figures read an attempt's instance: an
            // untracked run spares the lookup on every attempt.
            if let Some(a) = self.attempts.get_mut(attempt) {
                a.instance = instance;
            }
            self.count_sent(instance, kernel.now());
            instance
        } else {
            let model = &mut self.services[service as usize];
            model.first_instance + model.balancer.pick(model.instances)
        };
        let sent = if zoned {
            self.send_zoned(instance, (caller, caller_zone), service, draw)
        } else {
            self.network
                .transmit(caller as usize, service as usize, Message::Request, draw)
        };
        let Some(delay) = sent else {
            if self.trace.is_some() {
                self.trace_lost(attempt, instance);
            }
            return; // Lost: only the attempt's timeout will tell.
        };
        // A check sent to a rate limit service carries its descriptor.
        let (step, pending) = if self.limiters {
            self.limit_descriptor(attempt, request, service)
        } else {
            (0, 0)
        };
        let job = self.jobs.insert(Job {
            origin: super::Origin::Call,
            attempt,
            draw,
            request,
            caller,
            instance,
            deadline: deadline.unwrap_or(SimTime::MAX),
            arrived: SimTime::ZERO,
            step,
            pending,
            state: JobState::InTransit,
            cancelled: false,
            caller_zone,
        });
        if cancellable && let Some(a) = self.attempts.get_mut(attempt) {
            a.job = Some(job);
        }
        if self.trace.is_some() {
            self.trace_job(job, attempt, instance, kernel.now());
        }
        if self.sagas.is_some()
            && matches!(
                self.services[service as usize].behaviour,
                super::behaviour::Behaviour::Store(_)
            )
        {
            self.stamp_saga_job(job, attempt);
        }
        if self.messaging.is_some()
            && matches!(
                self.services[service as usize].behaviour,
                super::behaviour::Behaviour::Broker
            )
        {
            self.stamp_publish_job(job, attempt);
        }
        if delay.is_zero() {
            self.deliver(kernel, job);
        } else {
            kernel.schedule_in(delay, Event::Deliver(job));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_robin_visits_every_instance_in_turn() {
        let mut balancer = Balancer::round_robin();
        let picks: Vec<u32> = (0..7).map(|_| balancer.pick(3)).collect();
        assert_eq!(picks, [0, 1, 2, 0, 1, 2, 0]);
        let mut single = Balancer::round_robin();
        assert!((0..4).all(|_| single.pick(1) == 0));
    }
}
