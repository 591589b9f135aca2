//! Stopping a run early and saying why: a violated invariant (the world
//! asks the kernel to stop at the event where it happened) or virtual time
//! that stopped advancing (the kernel counts events at one instant; the
//! world names what was looping from the next event).
//!
//! The kernel only counts and stops; the world names the entity and the
//! cause, for the summary and the table.

use crate::kernel::{Kernel, SimTime, StopReason};

use super::{Event, World};

/// Why a run stopped before its horizon, named.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StopCause {
    /// When it stopped.
    pub at: SimTime,
    /// What it is about: a service, an edge, a route, the workload.
    pub entity: String,
    /// What happened.
    pub cause: String,
    /// The invariant broken, when the run stopped on one.
    pub invariant: Option<Invariant>,
}

/// An invariant the world checks as it runs; breaking one stops the run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Invariant {
    /// A saga's effects contradict how it ended (a step applied twice, or
    /// left standing by a compensated saga, or an effect after its end).
    SagaOutcome,
    /// A stateful service's total moved by more or less than the sagas
    /// account for.
    Conservation,
    /// A request with a bad credential reached a service behind a gateway
    /// that checks them.
    Credential,
}

impl Invariant {
    /// Its name in files.
    pub fn as_str(self) -> &'static str {
        match self {
            Invariant::SagaOutcome => "saga_outcome",
            Invariant::Conservation => "conservation",
            Invariant::Credential => "credential",
        }
    }
}

impl World<'_> {
    /// Records a violated invariant: the run stops after the event being
    /// handled. The first violation is kept.
    pub(super) fn violate(
        &mut self,
        at: SimTime,
        invariant: Invariant,
        entity: String,
        cause: String,
    ) {
        if self.violation.is_none() {
            self.violation = Some(StopCause {
                at,
                entity,
                cause,
                invariant: Some(invariant),
            });
        }
    }

    /// Stops the run after the event being handled, for a reason that is
    /// not the model's (its recorder cannot write); the first cause is kept.
    pub(super) fn stop_on(&mut self, at: SimTime, entity: String, cause: String) {
        if self.violation.is_none() {
            self.violation = Some(StopCause {
                at,
                entity,
                cause,
                invariant: None,
            });
        }
    }

    /// The named cause of an early stop, if the world can name one.
    pub(super) fn stop_cause(
        &mut self,
        kernel: &mut Kernel<Event>,
        stop: StopReason,
        events_per_instant: u64,
    ) -> Option<StopCause> {
        match stop {
            StopReason::Stopped => self.violation.clone(),
            StopReason::TimeFrozen => {
                let (at, event) = kernel.take_next()?;
                Some(StopCause {
                    at,
                    invariant: None,
                    entity: self.entity_of(event),
                    cause: format!(
                        "virtual time stopped advancing: more than {} events at t = {:.9} s",
                        events_per_instant,
                        at.as_secs_f64()
                    ),
                })
            }
            StopReason::Horizon | StopReason::Idle | StopReason::EventBudget => None,
        }
    }

    /// What an event is about, for people.
    pub(crate) fn entity_of(&self, event: Event) -> String {
        let job_at = |job| {
            self.jobs
                .get(job)
                .map(|j| {
                    let instance = j.instance;
                    let service = self.instances[instance as usize].service as usize;
                    let first = self.services[service].first_instance;
                    let request = match self.requests.get(j.request) {
                        Some(r) => {
                            let (method, path) = self.method_and_path(r);
                            let key = r.key().map(|k| format!(" key {k}")).unwrap_or_default();
                            let client = if !self.clients.declared() {
                                String::new()
                            } else {
                                let (name, credential) = self.client_and_credential(r);
                                format!(" from client `{name}` (credential `{credential}`)")
                            };
                            format!("request {} {} {path}{key}{client}", r.id, method.as_str())
                        }
                        None => "orphan work: its request has ended".to_string(),
                    };
                    format!(
                        "service `{}` instance {} ({request})",
                        self.service_names[service],
                        instance - first
                    )
                })
                .unwrap_or_else(|| "a job that has ended".to_string())
        };
        let edge = |edge: u32| format!("edge `{}`", self.edge_names[edge as usize]);
        match event {
            Event::Arrival(_) if !self.clients.declared() => "the workload's arrivals".to_string(),
            Event::Arrival(client) => {
                format!("the arrivals of client `{}`", self.clients.name(client))
            }
            Event::UserWake(user) if !self.clients.declared() => {
                format!("closed-loop user {user}")
            }
            Event::UserWake(user) => {
                let (client, local) = self.clients.describe_user(user);
                format!("closed-loop user {local} of client `{client}`")
            }
            Event::Deliver(job) | Event::LocalDone(job) | Event::Cancel(job) => job_at(job),
            Event::Reply { attempt, .. } | Event::AttemptTimeout(attempt) => self
                .attempts
                .get(attempt)
                .map_or_else(|| "an attempt that has ended".to_string(), |a| edge(a.edge)),
            Event::RetryDue(call) | Event::HedgeDue(call) => self
                .calls
                .get(call)
                .map_or_else(|| "a call that has ended".to_string(), |c| edge(c.edge)),
            Event::PolicyWake { edge: e, unit } => format!("{} (scope unit {unit})", edge(e)),
            Event::Booted { instance, .. } | Event::StopDue(instance) => {
                let service = self.instances[instance as usize].service as usize;
                let first = self.services[service].first_instance;
                let what = match event {
                    Event::StopDue(_) => "stopping",
                    _ => "booting",
                };
                format!(
                    "service `{}` instance {} ({what})",
                    self.service_names[service],
                    instance - first
                )
            }
            Event::Fault(index, _) => format!("faults[{index}]"),
            Event::Window => "the time-series windows".to_string(),
            Event::SagaWake(_) => "a saga's retry timer".to_string(),
            Event::RelayPoll(_) => "an outbox's relay".to_string(),
            Event::PublishDue(_) => "a producer's buffer".to_string(),
            Event::ReadDue(_) => "a write-then-read client's read".to_string(),
            Event::Delivered(_)
            | Event::Committed(_)
            | Event::CommitTimeout(_)
            | Event::HandlerRetry(_) => "a consumer group's delivery".to_string(),
            Event::MemberExpired { .. } | Event::Rebalanced { .. } => {
                "a consumer group's membership".to_string()
            }
            Event::CheckDue { instance, .. }
            | Event::Heartbeat { instance, .. }
            | Event::Renew { instance, .. }
            | Event::Reap { instance, .. }
            | Event::ReadinessDue { instance, .. } => {
                let service = self.instances[instance as usize].service as usize;
                let first = self.services[service].first_instance;
                format!(
                    "the registry of service `{}` (instance {})",
                    self.service_names[service],
                    instance - first
                )
            }
            Event::ProbeReply { .. } | Event::ProbeTimeout(_) => {
                "a registry's health check".to_string()
            }
            Event::Sweep(service) => format!(
                "the registry of service `{}` (eviction sweep)",
                self.service_names[service as usize]
            ),
            Event::AutoscaleSync(service) | Event::AutoscaleMark(service) => format!(
                "the autoscaler of service `{}`",
                self.service_names[service as usize]
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernel::{RngStreams, RunLimits};
    use crate::scenario;

    /// Constant arrivals every millisecond from t = 1 ms and a 1 ms service
    /// time: at t = 2 ms the first job's end and the second arrival share an
    /// instant.
    const SCENARIO: &str = r#"{
        "name": "stop", "duration": "1s",
        "services": {"s": {"service_time": {"constant": "1ms"}}},
        "workload": {"arrivals": {"constant": {"rate": 1000}}, "routes": [{"service": "s"}]}
    }"#;

    fn run_with(
        limits: RunLimits,
        before: impl FnOnce(&mut World<'_>),
    ) -> (StopReason, Option<StopCause>, u64) {
        let compiled = scenario::parse(SCENARIO, "stop.json").expect("valid");
        let mut sink = ();
        let (mut world, _) = World::new(&compiled, &RngStreams::new(1), &mut sink);
        let mut kernel = Kernel::new();
        world.start(&mut kernel);
        before(&mut world);
        let stop = kernel.run(&mut world, limits);
        let cause = world.stop_cause(&mut kernel, stop, limits.events_per_instant);
        (stop, cause, kernel.events_processed())
    }

    #[test]
    fn a_violation_stops_the_run_after_its_event_and_is_named() {
        let limits = RunLimits::until(SimTime::from_nanos(1_000_000_000));
        let (stop, cause, events) = run_with(limits, |world| {
            world.violate(
                SimTime::ZERO,
                Invariant::Conservation,
                "service `s`".into(),
                "stock went negative".into(),
            );
            // Only the first violation is kept.
            world.violate(
                SimTime::ZERO,
                Invariant::Credential,
                "other".into(),
                "later".into(),
            );
        });
        assert_eq!(stop, StopReason::Stopped);
        assert_eq!(events, 1, "the run stops after the event being handled");
        let cause = cause.expect("named");
        assert_eq!(cause.entity, "service `s`");
        assert_eq!(cause.cause, "stock went negative");
        assert_eq!(cause.invariant, Some(Invariant::Conservation));
    }

    #[test]
    fn frozen_time_names_the_next_event() {
        let limits = RunLimits {
            events_per_instant: 1,
            ..RunLimits::until(SimTime::from_nanos(1_000_000_000))
        };
        let (stop, cause, _) = run_with(limits, |_| {});
        assert_eq!(stop, StopReason::TimeFrozen);
        let cause = cause.expect("named");
        assert_eq!(cause.invariant, None, "frozen time breaks no invariant");
        assert_eq!(cause.at, SimTime::from_nanos(2_000_000));
        // The first job's end at 2 ms was scheduled first and ran; the second
        // arrival, due at the same instant, is the one left.
        assert_eq!(cause.entity, "the workload's arrivals");
        assert!(
            cause.cause.contains("more than 1 events"),
            "{}",
            cause.cause
        );
    }
}

#[cfg(test)]
mod recorder_failure {
    use crate::kernel::{Kernel, RngStreams, RunLimits, SimTime, StopReason};
    use crate::metrics::{ClosedWindow, Recorder};
    use crate::scenario;
    use crate::world::World;

    /// A recorder whose writes fail from its third window on.
    #[derive(Default)]
    struct FailsAtThird {
        windows: u32,
    }

    impl Recorder for FailsAtThird {
        fn window(&mut self, _: &ClosedWindow) {
            self.windows += 1;
        }

        fn failure(&self) -> Option<String> {
            (self.windows >= 3).then(|| "cannot write series/routes.csv: disk full".to_string())
        }
    }

    #[test]
    fn a_recorder_that_cannot_write_stops_the_run_after_its_window() {
        let compiled = scenario::parse(
            r#"{"name": "w", "duration": "100s", "window": "1s",
                "services": {"s": {"service_time": {"constant": "1ms"}}},
                "workload": {"arrivals": {"constant": {"rate": 100}}, "routes": [{"service": "s"}]}}"#,
            "w.json",
        )
        .expect("valid");
        let mut sink = FailsAtThird::default();
        let (mut world, _) = World::new(&compiled, &RngStreams::new(1), &mut sink);
        let mut kernel = Kernel::new();
        world.start(&mut kernel);
        let limits = RunLimits::until(SimTime::from_nanos(100_000_000_000));
        let stop = kernel.run(&mut world, limits);
        assert_eq!(stop, StopReason::Stopped);
        // Stopped at the third window's end (3 s), not at the horizon.
        assert_eq!(kernel.now(), SimTime::from_nanos(3_000_000_000));
        let cause = world
            .stop_cause(&mut kernel, stop, limits.events_per_instant)
            .expect("named");
        assert_eq!(cause.entity, "the time series");
        assert!(cause.cause.contains("disk full"), "{}", cause.cause);
    }
}
