//! Sagas by choreography: a starter's request commits a saga's `Started`
//! event; each step's service reacts to the saga's events as it consumes
//! them (a [`Participant`] with its own ledger, in the same transaction as
//! the event it publishes); no coordinator. The world follows each saga
//! (`ChoreoSaga`) to judge, as an observer, how it ended: *completed* when
//! the last step applied, *compensated* when a step failed and every step
//! before it was undone; the participants' effects are checked against that
//! ending ([`check_choreography`]) and their ledgers against what the
//! ended sagas legitimately moved (conservation).
//!
//! A saga is remembered until `retention` after it ended (its events may
//! still arrive), `sagas_max` at once: a starter's request that would begin
//! one more is refused. An event of a saga forgotten already is not
//! recognised (counted, no effect).

use super::*;
use crate::kernel::{Kernel, KeyedStream, RngStreams, dist::bernoulli};
use crate::patterns::saga::{
    ChoreographyEnding, Effect, Idempotence, Participant, Reaction, SagaEvent, check_choreography,
};
use crate::scenario::compile::CompiledEvents;
use crate::world::{Event, Origin, World};

/// Violations listed per choreography at most (all are counted).
pub const VIOLATIONS_LISTED: usize = 10;

/// What an event of a choreography says, compactly (a track carries it).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(in crate::world) enum Said {
    /// Not a saga's event.
    #[default]
    Nothing,
    Started,
    Done(u8),
    Failed(u8),
}

impl Said {
    fn event(self) -> Option<SagaEvent> {
        match self {
            Said::Nothing => None,
            Said::Started => Some(SagaEvent::Started),
            Said::Done(n) => Some(SagaEvent::Done(usize::from(n))),
            Said::Failed(n) => Some(SagaEvent::Failed(usize::from(n))),
        }
    }

    fn of(event: SagaEvent) -> Said {
        match event {
            SagaEvent::Started => Said::Started,
            SagaEvent::Done(n) => Said::Done(n as u8),
            SagaEvent::Failed(n) => Said::Failed(n as u8),
        }
    }
}

/// A saga's event to commit: which saga, what it says, and the key that
/// places it (every event of a saga on one partition).
#[derive(Clone, Copy, Debug)]
pub(in crate::world) struct SagaMessage {
    pub(in crate::world) saga: u64,
    pub(in crate::world) said: Said,
    pub(in crate::world) key: u64,
}

/// What a choreography counted.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ChoreographyCounts {
    /// Sagas begun (their `Started` committed).
    pub started: u64,
    /// Requests refused: `sagas_max` sagas were followed already.
    pub refused: u64,
    /// Sagas whose last step applied.
    pub completed: u64,
    /// Sagas a step of which failed and whose earlier steps were all undone.
    pub compensated: u64,
    /// Ended sagas whose participants' effects break the invariants (as
    /// they ended, or by a late effect).
    pub violations: u64,
    /// Effects (an action or a compensation) on a saga already ended.
    pub late_effects: u64,
    /// Events of a saga already forgotten: no effect.
    pub unrecognised: u64,
}

/// What one step's participant counted.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ChoreographyStepCounts {
    /// Actions applied (its `Done` published).
    pub applied: u64,
    /// Actions refused by its business rule (its `Failed` published).
    pub failed: u64,
    /// Of the applications, those of a saga it had applied already (a
    /// redelivery to a participant that is not idempotent).
    pub duplicate_effects: u64,
    /// Triggers and failures it had decided before: nothing done again.
    pub duplicates: u64,
    /// Compensations that undid its step.
    pub undone: u64,
    /// Of those, undos of a step it had undone already.
    pub duplicate_compensations: u64,
    /// Failures of a later step for a saga it had not applied.
    pub compensation_no_ops: u64,
    /// Triggers that came after its compensation: refused for good.
    pub fenced: u64,
    /// Events not for it (another step's trigger, an earlier failure).
    pub ignored: u64,
}

struct ChoreoStep {
    name: String,
    service: u32,
    group: u32,
    delta: i64,
    keys: u32,
    decline: f64,
    participant: Participant,
    initial: i64,
    counts: ChoreographyStepCounts,
    /// What the ended sagas legitimately left on its ledger.
    accounted: i64,
}

struct Choreo {
    name: String,
    topic: u32,
    start: u32,
    steps: Vec<ChoreoStep>,
    sagas_max: usize,
    retention: SimDuration,
    /// Sagas followed now (running, or ended and remembered).
    followed: usize,
    /// Its ended sagas, by when they are forgotten (in end order, as its
    /// retention is the same for all).
    to_forget: VecDeque<(SimTime, u64)>,
    counts: ChoreographyCounts,
    duration: LatencyHistogram,
    violations_listed: Vec<String>,
}

/// One saga, as the observer follows it.
#[derive(Clone, Copy, Debug)]
struct ChoreoSaga {
    choreography: u16,
    /// Its ledgers' key (modulo each step's keys).
    key: u64,
    /// Its starter request's draw: what keys its steps' declines, so that
    /// they do not move when another producer's events do.
    draw: DrawKey,
    /// What places its events.
    partition_key: u64,
    started: SimTime,
    /// The first step that failed.
    failed: Option<u8>,
    ended: Option<ChoreographyEnding>,
    /// An event of it was lost to, or dead-lettered by, a step's group.
    lost: bool,
    dead_lettered: bool,
    /// A violation of it has been counted.
    violated: bool,
}

/// Every choreography of the world, and the sagas followed.
pub(super) struct Choreographies {
    list: Vec<Choreo>,
    /// Per service: the choreography it starts; the step it is.
    start_of: Vec<Option<u16>>,
    step_of: Vec<Option<(u16, u8)>>,
    /// Per topic: its choreography.
    of_topic: Vec<Option<u16>>,
    sagas: BTreeMap<u64, ChoreoSaga>,
    decline: KeyedStream,
    key: KeyedStream,
}

/// What a job of a choreography's service is to it.
#[derive(Clone, Copy, Debug)]
pub(in crate::world) enum Role {
    /// A starter's request: it begins a saga.
    Start(u16),
    /// A step's service handling a delivered event.
    Step(u16, u8),
    /// A step's service serving a client's request of its own: it commits
    /// no event (its events are the saga's).
    Quiet,
}

impl Choreographies {
    pub(super) fn new(
        events: &CompiledEvents,
        services: usize,
        streams: &RngStreams,
    ) -> Option<Box<Choreographies>> {
        if events.choreographies.is_empty() {
            return None;
        }
        let mut start_of = vec![None; services];
        let mut step_of = vec![None; services];
        let mut of_topic = vec![None; events.topics.len()];
        let list = events
            .choreographies
            .iter()
            .enumerate()
            .map(|(c, spec)| {
                start_of[spec.start as usize] = Some(c as u16);
                of_topic[spec.topic as usize] = Some(c as u16);
                let n = spec.steps.len();
                let steps = spec
                    .steps
                    .iter()
                    .enumerate()
                    .map(|(k, s)| {
                        step_of[s.service as usize] = Some((c as u16, k as u8));
                        let idempotence = if events.groups[s.group as usize].idempotent {
                            Idempotence::Keyed
                        } else {
                            Idempotence::None
                        };
                        let balances = vec![s.initial; s.keys as usize];
                        ChoreoStep {
                            name: s.name.clone(),
                            service: s.service,
                            group: s.group,
                            delta: s.delta,
                            keys: s.keys,
                            decline: s.decline,
                            participant: Participant::new(k, n, s.delta, &balances, idempotence),
                            initial: s.initial * i64::from(s.keys),
                            counts: ChoreographyStepCounts::default(),
                            accounted: 0,
                        }
                    })
                    .collect();
                Choreo {
                    name: spec.name.clone(),
                    topic: spec.topic,
                    start: spec.start,
                    steps,
                    sagas_max: spec.sagas_max,
                    retention: spec.retention,
                    followed: 0,
                    to_forget: VecDeque::new(),
                    counts: ChoreographyCounts::default(),
                    duration: LatencyHistogram::new(3),
                    violations_listed: Vec::new(),
                }
            })
            .collect();
        Some(Box::new(Choreographies {
            list,
            start_of,
            step_of,
            of_topic,
            sagas: BTreeMap::new(),
            decline: streams.keyed("choreography/decline"),
            key: streams.keyed("choreography/key"),
        }))
    }

    /// Forgets the ended sagas whose retention is over.
    fn forget_due(&mut self, now: SimTime) {
        for c in &mut self.list {
            while let Some(&(at, saga)) = c.to_forget.front() {
                if at > now {
                    break;
                }
                c.to_forget.pop_front();
                if self.sagas.remove(&saga).is_some() {
                    c.followed -= 1;
                    for step in &mut c.steps {
                        step.participant.forget(saga);
                    }
                }
            }
        }
    }

    /// The effects of `saga` on each step's ledger.
    fn effects(&self, c: usize, saga: u64) -> Vec<Effect> {
        self.list[c]
            .steps
            .iter()
            .map(|s| s.participant.ledger().effect(saga, s.participant.step()))
            .collect()
    }

    /// Checks an ended saga's effects; counts (once) and lists a violation.
    fn check(&mut self, saga: u64) {
        let Some(s) = self.sagas.get(&saga).copied() else {
            return;
        };
        let Some(ending) = s.ended else {
            return;
        };
        let c = usize::from(s.choreography);
        let effects = self.effects(c, saga);
        if let Err(v) = check_choreography(saga, ending, &effects)
            && !s.violated
        {
            self.sagas.get_mut(&saga).expect("followed").violated = true;
            let choreo = &mut self.list[c];
            choreo.counts.violations += 1;
            if choreo.violations_listed.len() < VIOLATIONS_LISTED {
                choreo.violations_listed.push(v.to_string());
            }
        }
    }

    /// Ends `saga` as `ending`, at `now`.
    fn end(&mut self, saga: u64, ending: ChoreographyEnding, now: SimTime) {
        let Some(s) = self.sagas.get_mut(&saga) else {
            return;
        };
        if s.ended.is_some() {
            return;
        }
        s.ended = Some(ending);
        let s = *s;
        let c = &mut self.list[usize::from(s.choreography)];
        match ending {
            ChoreographyEnding::Completed => {
                c.counts.completed += 1;
                for step in &mut c.steps {
                    step.accounted += step.delta;
                }
            }
            ChoreographyEnding::Compensated { .. } => c.counts.compensated += 1,
        }
        c.duration.record(now.saturating_since(s.started));
        let at = now.saturating_add(c.retention);
        c.to_forget.push_back((at, saga));
        self.check(saga);
    }

    /// Ends `saga` compensated if a step failed and every step before it
    /// has been undone.
    fn compensated_yet(&mut self, saga: u64, now: SimTime) {
        let Some(s) = self.sagas.get(&saga).copied() else {
            return;
        };
        let Some(failed) = s.failed else {
            return;
        };
        if s.ended.is_some() {
            return;
        }
        let effects = self.effects(usize::from(s.choreography), saga);
        if effects[..usize::from(failed)].iter().all(|e| e.net() == 0) {
            self.end(
                saga,
                ChoreographyEnding::Compensated {
                    failed: usize::from(failed),
                },
                now,
            );
        }
    }

    /// An event of a saga was lost to group `group`, or dead-lettered by it:
    /// if it is one the group's step waits on (its trigger, or a failure to
    /// undo), the saga is stuck on it.
    pub(super) fn missed(&mut self, topic: u32, saga: u64, said: Said, group: u32, dead: bool) {
        let Some(c) = self.of_topic[topic as usize] else {
            return;
        };
        let Some(event) = said.event() else {
            return;
        };
        let concerned = self.list[usize::from(c)]
            .steps
            .iter()
            .any(|s| s.group == group && s.participant.concerns(event));
        if !concerned {
            return; // A read model's loss, or an event the step ignores.
        }
        if let Some(s) = self.sagas.get_mut(&saga) {
            if dead {
                s.dead_lettered = true;
            } else {
                s.lost = true;
            }
        }
    }
}

impl World<'_> {
    /// What a job of `service` is to a choreography, if anything.
    pub(in crate::world) fn choreography_role(&self, job_key: Key, service: u32) -> Option<Role> {
        let c = self.messaging.as_deref()?.choreographies.as_deref()?;
        let origin = self.jobs.get(job_key)?.origin;
        match origin {
            Origin::Call => match c.start_of[service as usize] {
                Some(c) => Some(Role::Start(c)),
                None => c.step_of[service as usize].map(|_| Role::Quiet),
            },
            Origin::Delivery => c.step_of[service as usize].map(|(c, k)| Role::Step(c, k)),
            Origin::Probe => None,
        }
    }

    /// A choreography's job is done with its own work: a starter's request
    /// begins a saga, a step's handler reacts to its event; whatever it
    /// publishes commits with its state change. False when the transaction
    /// fails (the outbox, or the sagas followed, are full).
    pub(in crate::world) fn choreography_job(
        &mut self,
        kernel: &mut Kernel<Event>,
        job_key: Key,
        publisher: u16,
        role: Role,
    ) -> bool {
        let now = kernel.now();
        let job = self.jobs.get(job_key).expect("a live job");
        let (request, job_draw, delivery) = (job.request, job.draw, job.attempt);
        let request_key = self.requests.get(request).and_then(|r| r.key());
        let m = self.messaging.as_deref_mut().expect("messaging");
        let choreos = m.choreographies.as_deref_mut().expect("choreographies");
        choreos.forget_due(now);
        match role {
            Role::Quiet => true,
            Role::Start(c) => {
                if !m.has_room(publisher) {
                    m.publishers[publisher as usize].counts.refused_full += 1;
                    return false;
                }
                let choreos = m.choreographies.as_deref_mut().expect("choreographies");
                let choreo = &mut choreos.list[usize::from(c)];
                if choreo.followed >= choreo.sagas_max {
                    choreo.counts.refused += 1;
                    return false;
                }
                let saga = m.next_event;
                let draw = crate::world::draws::event(job_draw);
                let key = match request_key {
                    Some(k) => k,
                    None => {
                        use rand::RngCore;
                        choreos.key.rng(draw).next_u64()
                    }
                };
                let message = SagaMessage {
                    saga,
                    said: Said::Started,
                    key,
                };
                if !self.commit_event(kernel, job_key, publisher, Some(message)) {
                    return false;
                }
                let m = self.messaging.as_deref_mut().expect("messaging");
                let choreos = m.choreographies.as_deref_mut().expect("choreographies");
                let choreo = &mut choreos.list[usize::from(c)];
                choreo.followed += 1;
                choreo.counts.started += 1;
                choreos.sagas.insert(
                    saga,
                    ChoreoSaga {
                        choreography: c,
                        key,
                        draw,
                        partition_key: key,
                        started: now,
                        failed: None,
                        ended: None,
                        lost: false,
                        dead_lettered: false,
                        violated: false,
                    },
                );
                true
            }
            Role::Step(c, k) => {
                let event = m
                    .deliveries
                    .get(delivery)
                    .map_or(NO_EVENT, |d| d.events[d.next]);
                let Some(track) = m.tracks.get(&event) else {
                    return true; // Its track is over: nothing to tell.
                };
                let (saga, said) = (track.saga, track.said);
                let Some(said) = said.event() else {
                    let step = &mut choreos.list[usize::from(c)].steps[usize::from(k)];
                    step.counts.ignored += 1;
                    return true;
                };
                let Some(s) = choreos.sagas.get(&saga).copied() else {
                    choreos.list[usize::from(c)].counts.unrecognised += 1;
                    return true;
                };
                let step = &choreos.list[usize::from(c)].steps[usize::from(k)];
                if step.participant.would_publish(saga, said) && !m.has_room(publisher) {
                    // Its transaction would write an event: refused, and
                    // nothing changed (the handler fails and is retried).
                    m.publishers[publisher as usize].counts.refused_full += 1;
                    return false;
                }
                let m = self.messaging.as_deref_mut().expect("messaging");
                let choreos = m.choreographies.as_deref_mut().expect("choreographies");
                let step = &mut choreos.list[usize::from(c)].steps[usize::from(k)];
                let declined = step.decline > 0.0
                    && bernoulli(
                        &mut choreos.decline.rng(s.draw.child(u64::from(k))),
                        step.decline,
                    );
                let key = (s.key % u64::from(step.keys)) as usize;
                let before = step.participant.ledger().effect(saga, usize::from(k));
                let reaction = step.participant.handle(saga, key, said, declined);
                let counts = &mut step.counts;
                let mut effect = false;
                match reaction {
                    Reaction::Publish(SagaEvent::Done(_)) => {
                        counts.applied += 1;
                        if before.applied > 0 {
                            counts.duplicate_effects += 1;
                        }
                        effect = true;
                    }
                    Reaction::Publish(_) => counts.failed += 1,
                    Reaction::Undone => {
                        counts.undone += 1;
                        if before.undone > 0 {
                            counts.duplicate_compensations += 1;
                        }
                        effect = true;
                    }
                    Reaction::NoOp => counts.compensation_no_ops += 1,
                    Reaction::Duplicate => counts.duplicates += 1,
                    Reaction::Fenced => counts.fenced += 1,
                    Reaction::Ignored => counts.ignored += 1,
                }
                let last = step.participant.is_last();
                if effect && s.ended.is_some() {
                    choreos.list[usize::from(c)].counts.late_effects += 1;
                    choreos.check(saga);
                }
                if let Reaction::Publish(out) = reaction {
                    let message = SagaMessage {
                        saga,
                        said: Said::of(out),
                        key: s.partition_key,
                    };
                    let committed = self.commit_event(kernel, job_key, publisher, Some(message));
                    debug_assert!(committed, "room was checked first");
                    let m = self.messaging.as_deref_mut().expect("messaging");
                    let choreos = m.choreographies.as_deref_mut().expect("choreographies");
                    match out {
                        SagaEvent::Done(_) if last => {
                            choreos.end(saga, ChoreographyEnding::Completed, now);
                        }
                        SagaEvent::Failed(n) => {
                            let s = choreos.sagas.get_mut(&saga).expect("followed");
                            s.failed.get_or_insert(n as u8);
                            choreos.compensated_yet(saga, now);
                        }
                        _ => {}
                    }
                } else if reaction == Reaction::Undone {
                    choreos.compensated_yet(saga, now);
                }
                true
            }
        }
    }
}

impl Messaging {
    /// Whether `publisher`'s outbox has room for one more event (a naive
    /// producer always has).
    fn has_room(&self, publisher: u16) -> bool {
        self.publishers[publisher as usize]
            .outbox
            .as_ref()
            .is_none_or(|o| o.len() < o.capacity())
    }
}

/// One step of a choreography at the end of the run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChoreographyStepOutcome {
    /// Its name.
    pub name: String,
    /// Its service.
    pub service: String,
    /// Its counts.
    pub counts: ChoreographyStepCounts,
    /// Its ledger's total at the start and at the end.
    pub initial: i64,
    /// At the end.
    pub total: i64,
    /// What the ended sagas legitimately moved it by (a completed saga its
    /// delta; a compensated one nothing).
    pub accounted: i64,
    /// What the sagas still running have moved it by, each step counted
    /// once.
    pub in_flight: i64,
}

impl ChoreographyStepOutcome {
    /// Whether its ledger moved by exactly what the sagas legitimately did.
    pub fn conserved(&self) -> bool {
        self.total - self.initial == self.accounted + self.in_flight
    }
}

/// A choreography at the end of the run.
#[derive(Clone, Debug)]
pub struct ChoreographyOutcome {
    /// Its name.
    pub name: String,
    /// Its topic.
    pub topic: String,
    /// Its starter.
    pub start: String,
    /// Its counts.
    pub counts: ChoreographyCounts,
    /// Sagas running at the end.
    pub running: u64,
    /// Of those, sagas an event of which a step's group lost.
    pub running_lost: u64,
    /// Of those, sagas an event of which a step's group dead-lettered.
    pub running_dead_lettered: u64,
    /// Its steps.
    pub steps: Vec<ChoreographyStepOutcome>,
    /// From a saga's `Started` to its ending.
    pub duration: LatencyHistogram,
    /// The first violations found.
    pub violations_listed: Vec<String>,
}

impl World<'_> {
    /// What each choreography did, at the end of the run.
    pub(super) fn choreography_outcomes(&self) -> Vec<ChoreographyOutcome> {
        let Some(m) = self.messaging.as_deref() else {
            return Vec::new();
        };
        let Some(choreos) = m.choreographies.as_deref() else {
            return Vec::new();
        };
        choreos
            .list
            .iter()
            .enumerate()
            .map(|(c, choreo)| {
                                let running: Vec<(&u64, &ChoreoSaga)> = choreos
                    .sagas
                    .iter()
                    .filter(|(_, s)| usize::from(s.choreography) == c && s.ended.is_none())
                    .collect();
                // An event no producer holds and no copy of which reached the
                // broker never will (as `events_outcome` judges it): lost to
                // the step it concerns.
                let unpublished: std::collections::BTreeSet<u64> = m
                    .tracks
                    .values()
                    .filter(|t| t.appends == 0 && !t.held && t.topic == choreo.topic)
                    .filter(|t| {
                        t.said.event().is_some_and(|e| {
                            choreo.steps.iter().any(|s| s.participant.concerns(e))
                        })
                    })
                    .map(|t| t.saga)
                    .collect();
                let mut counts = choreo.counts.clone();
                let mut violations_listed = choreo.violations_listed.clone();
                // A saga still running whose effects are already wrong: a
                // step applied twice, undone more than applied, or applied
                // at or after the step that failed.
                for &(&saga, s) in &running {
                    let effects = choreos.effects(c, saga);
                    let failed = s.failed.map_or(usize::MAX, usize::from);
                    let broken = effects.iter().enumerate().find(|(k, e)| {
                        e.applied > 1 || e.undone > e.applied || (*k >= failed && e.applied > 0)
                    });
                    if let Some((k, e)) = broken {
                        counts.violations += 1;
                        if violations_listed.len() < VIOLATIONS_LISTED {
                            violations_listed.push(format!(
                                "saga {saga} still running at the end, but step {k} took effect {} times and was undone {} times",
                                e.applied, e.undone
                            ));
                        }
                    }
                }
                let steps = choreo
                    .steps
                    .iter()
                    .map(|step| {
                        let k = step.participant.step();
                        let in_flight = running
                            .iter()
                                                        .map(|&(&saga, _)| {
                                // What a running saga legitimately holds of
                                // a step: its action once, until undone.
                                let e = step.participant.ledger().effect(saga, k);
                                if e.applied > 0 && e.undone == 0 {
                                    step.delta
                                } else {
                                    0
                                }
                            })
                            .sum();
                        ChoreographyStepOutcome {
                            name: step.name.clone(),
                            service: self.service_names[step.service as usize].clone(),
                            counts: step.counts.clone(),
                            initial: step.initial,
                            total: step.participant.ledger().total(),
                            accounted: step.accounted,
                            in_flight,
                        }
                    })
                    .collect();
                ChoreographyOutcome {
                    name: choreo.name.clone(),
                    topic: m.topics[choreo.topic as usize].name.clone(),
                    start: self.service_names[choreo.start as usize].clone(),
                                        counts,
                    running: running.len() as u64,
                    running_lost: running
                        .iter()
                        .filter(|(saga, s)| s.lost || unpublished.contains(saga))
                        .count() as u64,
                    running_dead_lettered: running.iter().filter(|(_, s)| s.dead_lettered).count()
                        as u64,
                    steps,
                    duration: choreo.duration.clone(),
                                        violations_listed,
                }
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::size::{CHOREOGRAPHY_SAGA_BYTES, CHOREOGRAPHY_STEP_BYTES};

    /// The size estimate's bounds cover a saga followed (its record with its
    /// key, and its place in the queue to forget) and what a step's ledger
    /// keeps of it (a decision and an effect keyed by saga and step), each
    /// with a third more for its `BTreeMap` node's share.
    #[test]
    fn the_size_estimate_covers_a_saga_followed() {
        let saga = std::mem::size_of::<ChoreoSaga>()
            + std::mem::size_of::<u64>()
            + std::mem::size_of::<(SimTime, u64)>();
        assert!(
            saga as u64 * 4 / 3 <= CHOREOGRAPHY_SAGA_BYTES,
            "{saga} bytes"
        );
        let key = std::mem::size_of::<(u64, usize)>();
        let step = 2 * key + 8 + std::mem::size_of::<Effect>();
        assert!(
            step as u64 * 4 / 3 <= CHOREOGRAPHY_STEP_BYTES,
            "{step} bytes"
        );
    }
}
