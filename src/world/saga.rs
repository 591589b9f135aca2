//! Orchestrated sagas in the world: stateful services (a ledger each, the
//! service's own database) and orchestrators that run the patterns' `Saga`
//! machines from a durable `SagaLog` per instance, with the invariants
//! checked as each saga ends.
//!
//! **The orchestrator.** A request served by an orchestrator starts a saga
//! on the instance that served it and is answered at once (202, counted as
//! a success), as a workflow start is: the saga outlives the request and
//! runs on that instance. Each command of the machine is a call on the
//! step's edge (orchestrator → stateful service, through the step's
//! policy), whose parent is the saga (`Parent::Saga`); its end is the
//! step's result: a success is `Applied` (or `Rejected` when the reply says
//! a business rule refused it), a failure is `Failed` only when it is
//! certain nothing took effect (one attempt, answered with an error) and
//! `Unknown` otherwise (a timeout, a lost reply, or a failed call that sent
//! a retry or a hedge, any of which may have been applied). Retry timers
//! are one `SagaWake` event per saga, moved when the machine's next timeout
//! moves.
//!
//! **What is durable.** An instance's log and each saga's payload (its
//! number, its key, what its draws hang on) survive a crash; the machines
//! in memory, their timers and their calls in flight do not. When the
//! instance is ready again (the restart hook), `recover` rebuilds every
//! unfinished saga from the log and settles the calls that were in flight
//! as unknown outcomes. One instance owns a saga: another instance never
//! takes it over, so the sagas of an instance that stays down stay
//! unfinished (reported as stuck, with that reason).
//!
//! **The participant.** A stateful service's ledger is the service's, not an
//! instance's (a database behind the instances): a crash loses the jobs in
//! hand, never the balances. Its job is decided after its own work: the
//! action or compensation, idempotent or not as the step says, and the
//! business rules (a balance below zero, the step's `decline`). A job's
//! message (saga, step, action or compensation, key) is stamped when it is
//! sent (`send_job`), in a slot beside the job's: by the time the job is
//! served its attempt may be gone, and a participant does not know its
//! caller gave up — which is exactly how an action is applied after its
//! saga compensated it.
//!
//! **The invariants.** Every effect on a ledger is traced to its saga. At
//! each saga's end the trace is checked against the ending
//! (`patterns::saga::check_saga`), and conservation across all stateful
//! services (`check_conservation`: each ledger's total moved by exactly
//! what ended sagas legitimately left, plus what sagas still running hold);
//! an effect of a saga that has already ended is a violation of its own.
//! The first violation stops the run, naming the saga, the step, the
//! service and the state.
//!
//! Beside this file, in `saga/`: `store.rs` (the stateful service's side),
//! `invariants.rs` (the checks at a saga's end and their messages),
//! `lifecycle.rs` (a process lost, a log recovered) and `report.rs` (the
//! window rows and the outcomes).

use std::collections::{BTreeMap, VecDeque};

use crate::kernel::dist::bernoulli;
use crate::kernel::{DrawKey, Kernel, KeyedStream, RngStreams, SimTime, TimerId};
use crate::metrics::LatencyHistogram;
use crate::patterns::saga::{
    Action, ActionReply, Command, CompensationReply, CompensationResult, DeadLetter, EffectKind,
    Ending, Idempotence, Ledger, Saga, SagaId, SagaLog, SagaPlan, StepResult, Violation,
    check_conservation, check_saga, recover,
};
use crate::scenario::Compiled;

use super::behaviour::Behaviour;
use super::calls::Parent;
use super::slab::{Key, Slab};
use super::{Event, Reply, Status, World};

mod invariants;
mod lifecycle;
mod report;
mod store;

pub use report::{SagaCounts, SagaOutcome, StepCounts, StoreCounts, StoreOutcome};

use invariants::ending_name;

/// The most ended sagas remembered, for the message of a late effect.
const RECENT_ENDINGS: usize = 4096;
/// The most stuck sagas described one by one in the outcome.
pub const STUCK_LISTED: usize = 20;

/// Which call of its saga a call is: its step, whether it compensates and
/// its attempt, in 2 bytes (so `Parent` stays 12).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct SagaCall(u16);

impl SagaCall {
    fn new(step: usize, compensation: bool, attempt: u32) -> SagaCall {
        debug_assert!(step < 16 && attempt < 1 << 11);
        SagaCall(step as u16 | u16::from(compensation) << 4 | (attempt as u16) << 5)
    }

    fn step(self) -> usize {
        usize::from(self.0 & 15)
    }

    fn compensation(self) -> bool {
        self.0 & 16 != 0
    }

    fn attempt(self) -> u32 {
        u32::from(self.0 >> 5)
    }
}

/// A step of an orchestrator's saga, as the world runs it.
struct StepModel {
    name: String,
    edge: u32,
    /// The stateful service, by index into `Sagas::stores`.
    store: u16,
    delta: i64,
    idempotence: Idempotence,
    compensation: Idempotence,
    decline: f64,
}

/// What a saga's instance keeps durably besides its log: the saga's input.
#[derive(Clone, Copy, Debug)]
struct Payload {
    ordinal: u64,
    draw: DrawKey,
    key: u32,
}

/// One orchestrator instance's durable log and its sagas in memory.
struct OrchestratorInstance {
    log: SagaLog,
    payloads: BTreeMap<SagaId, Payload>,
    /// The machines in memory (volatile: emptied when the process is lost).
    runs: BTreeMap<SagaId, Key>,
}

struct Orchestrator {
    service: u32,
    first_instance: u32,
    plan: SagaPlan,
    steps: Vec<StepModel>,
    instances: Vec<OrchestratorInstance>,
    counts: SagaCounts,
    step_counts: Vec<StepCounts>,
    /// From start to end, every ended saga.
    duration: LatencyHistogram,
    /// From turning backward to compensated.
    to_compensate: LatencyHistogram,
    /// The first dead-lettered sagas, described (at most [`STUCK_LISTED`]).
    dead_listed: Vec<(u64, String)>,
    /// Its counts when the current window began.
    window_mark: SagaCounts,
    /// Sagas begun and not ended.
    running: u64,
}

/// A saga in memory.
struct Run {
    orchestrator: u16,
    instance: u32,
    saga: Saga,
    payload: Payload,
    /// Its retry timer and when it is due.
    timer: Option<(TimerId, u64)>,
}

/// A saga begun and not ended: what the invariants follow.
struct Live {
    orchestrator: u16,
    instance: u32,
    started: SimTime,
    /// When it turned backward (its first compensation was due).
    failed_at: Option<SimTime>,
    /// Every effect of its steps on the ledgers, in the order they took
    /// effect (at most a saga's calls: the plan bounds it).
    trace: Vec<(usize, EffectKind)>,
}

struct Store {
    service: u32,
    keys: u32,
    ledger: Ledger<u64>,
    initial: i64,
    /// What ended sagas legitimately moved the total by.
    accounted: i64,
    /// What the effects of sagas still running moved it by.
    live_net: i64,
    counts: StoreCounts,
    retention: crate::kernel::SimDuration,
    /// The ended sagas whose records it still keeps, and until when, in
    /// the order they ended.
    to_forget: VecDeque<(SimTime, u64)>,
}

/// A dead-lettered saga, for the late effects its ending allows.
struct Dead {
    id: SagaId,
    key: u32,
    ending: Ending,
    trace: Vec<(usize, EffectKind)>,
}

/// A message to a stateful service, stamped on its job when it was sent.
#[derive(Clone, Copy, Debug)]
struct Tag {
    ordinal: u64,
    draw: DrawKey,
    key: u32,
    orchestrator: u16,
    step: u8,
    compensation: bool,
}

/// A tag's `ordinal` when no saga sent the job.
const NO_SAGA: u64 = u64::MAX;

impl Default for Tag {
    fn default() -> Tag {
        Tag {
            ordinal: NO_SAGA,
            draw: DrawKey::root(0),
            key: 0,
            orchestrator: 0,
            step: 0,
            compensation: false,
        }
    }
}

/// Every saga of the world (`World::sagas`; none without an orchestrator).
pub(super) struct Sagas {
    orchestrators: Vec<Orchestrator>,
    stores: Vec<Store>,
    runs: Slab<Run>,
    /// Per job slot, the message of the job in it (read only for a job to
    /// a stateful service, written when such a job is sent).
    tags: Vec<Tag>,
    live: BTreeMap<u64, Live>,
    recent: VecDeque<(u64, Ending)>,
    /// Dead-lettered sagas, kept as long as their stateful services keep
    /// their records (`retention`): a step such a saga reported as left
    /// may still take effect late (a pivot's attempt, a compensation), which
    /// its ending allows.
    dead: BTreeMap<u64, Dead>,
    /// When each of them is forgotten, in the order they ended.
    dead_order: VecDeque<(SimTime, u64)>,
    next_ordinal: u64,
    decline: KeyedStream,
    key: KeyedStream,
}

impl Sagas {
    /// The sagas of `compiled`, or none when no service is an orchestrator.
    /// Also says each service's behaviour if it is an orchestrator or a
    /// stateful service, by service index.
    pub(super) fn new(
        compiled: &Compiled,
        streams: &RngStreams,
        step_edges: &[Vec<u32>],
        first_instances: &[u32],
    ) -> Option<Sagas> {
        if !compiled.has_sagas() {
            return None;
        }
        let scenario = compiled.scenario();
        let mut store_of = vec![u16::MAX; scenario.services.len()];
        let mut stores = Vec::new();
        for (i, service) in scenario.services.values().enumerate() {
            if let Some(state) = &service.state {
                store_of[i] = stores.len() as u16;
                let balances = vec![state.initial; state.keys as usize];
                stores.push(Store {
                    service: i as u32,
                    keys: state.keys,
                    ledger: Ledger::new(&balances, Idempotence::Keyed),
                    initial: state.initial * i64::from(state.keys),
                    accounted: 0,
                    live_net: 0,
                    counts: StoreCounts::default(),
                    retention: state.retention,
                    to_forget: VecDeque::new(),
                });
            }
        }
        let names: Vec<&String> = scenario.services.keys().collect();
        let mut orchestrators = Vec::new();
        for (i, (saga, service)) in compiled
            .sagas()
            .iter()
            .zip(scenario.services.values())
            .enumerate()
        {
            let Some(saga) = saga else {
                continue;
            };
            let idempotence = |yes: bool| {
                if yes {
                    Idempotence::Keyed
                } else {
                    Idempotence::None
                }
            };
            let steps: Vec<StepModel> = saga
                .steps
                .iter()
                .zip(&step_edges[i])
                .map(|(s, &edge)| StepModel {
                    name: s.name.clone(),
                    edge,
                    store: store_of[s.call.service as usize],
                    delta: s.delta,
                    idempotence: idempotence(s.idempotent),
                    compensation: idempotence(s.compensation_idempotent),
                    decline: s.decline,
                })
                .collect();
            let step_counts = saga
                .steps
                .iter()
                .map(|s| StepCounts {
                    name: s.name.clone(),
                    service: names[s.call.service as usize].clone(),
                    ..StepCounts::default()
                })
                .collect();
            let instances = (0..service.slots())
                .map(|_| OrchestratorInstance {
                    log: SagaLog::new(saga.sagas_in_flight_max).expect("validated"),
                    payloads: BTreeMap::new(),
                    runs: BTreeMap::new(),
                })
                .collect();
            orchestrators.push(Orchestrator {
                service: i as u32,
                first_instance: first_instances[i],
                plan: saga.plan,
                steps,
                instances,
                counts: SagaCounts::default(),
                step_counts,
                duration: LatencyHistogram::new(3),
                to_compensate: LatencyHistogram::new(3),
                dead_listed: Vec::new(),
                window_mark: SagaCounts::default(),
                running: 0,
            });
        }
        Some(Sagas {
            orchestrators,
            stores,
            runs: Slab::default(),
            tags: Vec::new(),
            live: BTreeMap::new(),
            recent: VecDeque::new(),
            dead: BTreeMap::new(),
            dead_order: VecDeque::new(),
            next_ordinal: 0,
            decline: streams.keyed("saga/decline"),
            key: streams.keyed("saga/key"),
        })
    }

    /// The behaviour of service `service`: an orchestrator, a stateful
    /// service, or none of the two.
    pub(super) fn behaviour_of(&self, service: u32) -> Option<Behaviour> {
        if let Some(o) = self.orchestrators.iter().position(|o| o.service == service) {
            return Some(Behaviour::Orchestrator(o as u16));
        }
        self.stores
            .iter()
            .position(|s| s.service == service)
            .map(|s| Behaviour::Store(s as u16))
    }
}

/// The key of saga `draw`'s call `call`.
fn call_key(draw: DrawKey, call: SagaCall) -> DrawKey {
    draw.child(u64::from(call.0))
}

impl World<'_> {
    fn sagas_mut(&mut self) -> &mut Sagas {
        self.sagas.as_deref_mut().expect("a world with sagas")
    }

    /// An orchestrator's job is done with its own work: start a saga on its
    /// instance, and answer the request (refused with 503 when the
    /// instance's log is full).
    pub(super) fn saga_start(&mut self, kernel: &mut Kernel<Event>, job_key: Key, o: u16) {
        let now = kernel.now();
        let job = self.jobs.get(job_key).expect("a live job");
        let (instance, job_draw) = (job.instance, job.draw);
        let request_key = self.requests.get(job.request).and_then(|c| c.key());
        let sagas = self.sagas_mut();
        let orchestrator = &mut sagas.orchestrators[o as usize];
        let slot = (instance - orchestrator.first_instance) as usize;
        let plan = orchestrator.plan;
        let own = &mut orchestrator.instances[slot];
        let Some(saga) = Saga::start(&plan, &mut own.log, now.as_nanos()) else {
            orchestrator.counts.refused += 1;
            return self.finish_job(kernel, job_key, Status::Unavailable, false);
        };
        orchestrator.counts.started += 1;
        orchestrator.running += 1;
        let draw = super::draws::saga(job_draw);
        let key = match request_key {
            Some(key) => key as u32,
            None => {
                use rand::RngCore;
                sagas.key.rng(draw).next_u32()
            }
        };
        let payload = Payload {
            ordinal: sagas.next_ordinal,
            draw,
            key,
        };
        sagas.next_ordinal += 1;
        let orchestrator = &mut sagas.orchestrators[o as usize];
        let own = &mut orchestrator.instances[slot];
        own.payloads.insert(saga.id(), payload);
        let id = saga.id();
        sagas.live.insert(
            payload.ordinal,
            Live {
                orchestrator: o,
                instance,
                started: now,
                failed_at: None,
                trace: Vec::new(),
            },
        );
        let run = sagas.runs.insert(Run {
            orchestrator: o,
            instance,
            saga,
            payload,
            timer: None,
        });
        sagas.orchestrators[o as usize].instances[slot]
            .runs
            .insert(id, run);
        if let Some(tracer) = self.trace.as_deref_mut() {
            tracer.saga_start(job_key, payload.ordinal, instance, now);
        }
        // Answered first: the saga's calls may end synchronously, and the
        // request's answer does not wait for them.
        self.finish_job(kernel, job_key, Status::Ok, false);
        self.saga_drive(kernel, run);
    }

    /// Carries out what a saga's machine asks, then moves its timer.
    fn saga_drive(&mut self, kernel: &mut Kernel<Event>, run: Key) {
        loop {
            let now = kernel.now();
            let sagas = self.sagas_mut();
            let Some(r) = sagas.runs.get_mut(run) else {
                return; // It ended in a call that ended at once.
            };
            let o = r.orchestrator;
            if r.saga.is_compensating()
                && let Some(live) = sagas.live.get_mut(&r.payload.ordinal)
                && live.failed_at.is_none()
            {
                live.failed_at = Some(now);
            }
            let r = sagas.runs.get_mut(run).expect("live");
            let Some(command) = r.saga.poll_command() else {
                break;
            };
            let (step, compensation, attempt) = match command {
                Command::Done(ending) => return self.saga_end(kernel, run, ending),
                Command::Invoke { step, attempt } => (step, false, attempt),
                Command::Compensate { step, attempt } => (step, true, attempt),
            };
            let call = SagaCall::new(step, compensation, attempt);
            let draw = call_key(r.payload.draw, call);
            let orchestrator = &mut self.sagas_mut().orchestrators[o as usize];
            if compensation {
                orchestrator.counts.compensations += 1;
            } else {
                orchestrator.counts.actions += 1;
            }
            let edge = orchestrator.steps[step].edge;
            self.start_call(kernel, Parent::Saga { run, call }, draw, edge, None, false);
        }
        self.saga_timer(kernel, run);
    }

    /// Moves the saga's retry timer to its machine's next timeout.
    fn saga_timer(&mut self, kernel: &mut Kernel<Event>, run: Key) {
        let Some(r) = self.sagas_mut().runs.get_mut(run) else {
            return;
        };
        let due = r.saga.poll_timeout();
        if r.timer.map(|(_, at)| at) == due {
            return;
        }
        if let Some((timer, _)) = r.timer.take() {
            kernel.cancel(timer);
        }
        if let Some(at) = due {
            let at = SimTime::from_nanos(at).max(kernel.now());
            let timer = kernel.timer_at(at, Event::SagaWake(run));
            self.sagas_mut().runs.get_mut(run).expect("live").timer = Some((timer, at.as_nanos()));
        }
    }

    /// A saga's retry timer fired.
    pub(super) fn saga_wake(&mut self, kernel: &mut Kernel<Event>, run: Key) {
        let now = kernel.now().as_nanos();
        let sagas = self.sagas_mut();
        let Some(r) = sagas.runs.get_mut(run) else {
            return;
        };
        r.timer = None;
        let (o, slot) = (r.orchestrator as usize, r.instance);
        let orchestrator = &mut sagas.orchestrators[o];
        let log = &mut orchestrator.instances[(slot - orchestrator.first_instance) as usize].log;
        r.saga.handle_timeout(log, now);
        self.saga_drive(kernel, run);
    }

    /// A call of a saga has ended with `reply`: the step's or the
    /// compensation's result.
    pub(super) fn saga_call_done(
        &mut self,
        kernel: &mut Kernel<Event>,
        run: Key,
        call: SagaCall,
        reply: Reply,
    ) {
        let now = kernel.now().as_nanos();
        let sagas = self.sagas_mut();
        let Some(r) = sagas.runs.get_mut(run) else {
            return; // Its instance was lost: the call died with it.
        };
        let (o, slot) = (r.orchestrator as usize, r.instance);
        let orchestrator = &mut sagas.orchestrators[o];
        let log = &mut orchestrator.instances[(slot - orchestrator.first_instance) as usize].log;
        let counts = &mut orchestrator.step_counts[call.step()];
        // Nothing took effect only if the one attempt sent was answered
        // with an error: a timeout, a lost reply, or a retry or hedge that
        // was sent may have been applied.
        let certain = !reply.is_unsure() && reply.status != Status::Timeout;
        if call.compensation() {
            let result = match reply.status {
                Status::Ok => {
                    counts.compensated += 1;
                    CompensationResult::Done
                }
                _ => {
                    counts.compensation_failed += 1;
                    if certain {
                        CompensationResult::Failed
                    } else {
                        CompensationResult::Unknown
                    }
                }
            };
            r.saga
                .handle_compensation_result(log, now, call.step(), call.attempt(), result);
        } else {
            let result = match reply.status {
                Status::Ok if reply.is_refused() => {
                    counts.rejected += 1;
                    StepResult::Rejected
                }
                Status::Ok => {
                    counts.applied += 1;
                    StepResult::Applied
                }
                _ if certain => {
                    counts.failed += 1;
                    StepResult::Failed
                }
                _ => {
                    counts.unknown += 1;
                    StepResult::Unknown
                }
            };
            r.saga
                .handle_step_result(log, now, call.step(), call.attempt(), result);
        }
        self.saga_drive(kernel, run);
    }

    /// A saga has ended: check its invariants, count it, compact it away.
    fn saga_end(&mut self, kernel: &mut Kernel<Event>, run: Key, ending: Ending) {
        let now = kernel.now();
        let sagas = self.sagas.as_deref_mut().expect("sagas");
        let r = sagas.runs.remove(run).expect("a live run ends");
        if let Some((timer, _)) = r.timer {
            kernel.cancel(timer);
        }
        let o = r.orchestrator as usize;
        let ordinal = r.payload.ordinal;
        if let Some(tracer) = self.trace.as_deref_mut() {
            tracer.saga_end(ordinal, now, &ending);
        }
        let orchestrator = &mut sagas.orchestrators[o];
        let own = &mut orchestrator.instances[(r.instance - orchestrator.first_instance) as usize];
        own.log.end(r.saga.id());
        own.payloads.remove(&r.saga.id());
        own.runs.remove(&r.saga.id());
        let live = sagas.live.remove(&ordinal).expect("an ending saga is live");
        let orchestrator = &mut sagas.orchestrators[o];
        orchestrator.running -= 1;
        let counts = &mut orchestrator.counts;
        match ending {
            Ending::Completed => counts.completed += 1,
            Ending::Compensated => counts.compensated += 1,
            Ending::DeadLettered { reason, .. } => match reason {
                DeadLetter::CompensationExhausted { .. } => counts.dead_compensation += 1,
                DeadLetter::PivotUncertain => counts.dead_pivot += 1,
                DeadLetter::RetriableExhausted { .. } => counts.dead_retriable += 1,
            },
        }
        orchestrator.duration.record(now - live.started);
        if ending == Ending::Compensated
            && let Some(failed_at) = live.failed_at
        {
            orchestrator.to_compensate.record(now - failed_at);
        }
        // What each ledger's total legitimately moved by: every step's
        // delta for a completed saga, nothing for a compensated one, what
        // it left standing for a dead-lettered one (its trace, checked
        // against what it reported).
        let mut net = vec![0i64; orchestrator.steps.len()];
        for &(step, kind) in &live.trace {
            net[step] += match kind {
                EffectKind::Applied => 1,
                EffectKind::Undone => -1,
            };
        }
        for (step, model) in orchestrator.steps.iter().enumerate() {
            let store = &mut sagas.stores[model.store as usize];
            let legit = match ending {
                Ending::Completed => 1,
                Ending::Compensated => 0,
                Ending::DeadLettered { .. } => net[step],
            };
            store.live_net -= net[step] * model.delta;
            store.accounted += legit * model.delta;
            // Forgotten here as well as at the store's requests: a store no
            // saga reaches any more would otherwise keep every entry.
            while let Some(&(until, n)) = store.to_forget.front()
                && until <= now
            {
                store.ledger.forget(n);
                store.to_forget.pop_front();
            }
            if store.to_forget.back().map(|&(_, n)| n) != Some(ordinal) {
                store
                    .to_forget
                    .push_back((now.saturating_add(store.retention), ordinal));
            }
        }
        if sagas.recent.len() == RECENT_ENDINGS {
            sagas.recent.pop_front();
        }
        sagas.recent.push_back((ordinal, ending));
        while let Some(&(until, n)) = sagas.dead_order.front()
            && until <= now
        {
            sagas.dead.remove(&n);
            sagas.dead_order.pop_front();
        }
        let plan = sagas.orchestrators[o].plan;
        let checked = check_saga(r.saga.id(), &plan, ending, &live.trace);
        if checked.is_ok() && matches!(ending, Ending::DeadLettered { .. }) {
            let retention = sagas.orchestrators[o]
                .steps
                .iter()
                .map(|s| sagas.stores[s.store as usize].retention)
                .max()
                .unwrap_or_default();
            sagas
                .dead_order
                .push_back((now.saturating_add(retention), ordinal));
            sagas.dead.insert(
                ordinal,
                Dead {
                    id: r.saga.id(),
                    key: r.payload.key,
                    ending,
                    trace: live.trace.clone(),
                },
            );
        }
        if let Ending::DeadLettered { reason, left } = ending
            && sagas.orchestrators[o].dead_listed.len() < STUCK_LISTED
        {
            let orchestrator = &sagas.orchestrators[o];
            let name = |step: usize| orchestrator.steps[step].name.as_str();
            let why = match reason {
                DeadLetter::CompensationExhausted { step } => format!(
                    "the compensation of `{}` failed {} times",
                    name(step),
                    plan.compensation_attempts_max()
                ),
                DeadLetter::PivotUncertain => {
                    let pivot = plan.pivot().expect("a pivot was uncertain");
                    format!("the outcome of the pivot `{}` stayed unknown", name(pivot))
                }
                DeadLetter::RetriableExhausted { step } => format!(
                    "the retriable step `{}` failed {} times",
                    name(step),
                    plan.attempts_max(step)
                ),
            };
            let standing: Vec<String> = (0..plan.len())
                .filter(|&s| left.contains(s))
                .map(|s| {
                    let model = &orchestrator.steps[s];
                    let store = &sagas.stores[model.store as usize];
                    format!(
                        "`{}` ({:+} at `{}` key {})",
                        model.name,
                        model.delta,
                        self.service_names[store.service as usize],
                        r.payload.key % store.keys
                    )
                })
                .collect();
            let left = if standing.is_empty() {
                "nothing".to_string()
            } else {
                standing.join(", ")
            };
            let description = format!("{why}; it may have left standing: {left}");
            self.sagas_mut().orchestrators[o]
                .dead_listed
                .push((ordinal, description));
        }
        if let Err(violation) = checked {
            let cause =
                self.saga_violation(o, ordinal, r.payload.key, ending, &live.trace, violation);
            let service = self.sagas_mut().orchestrators[o].service;
            let service = self.service_names[service as usize].clone();
            self.violate(
                now,
                crate::world::stop::Invariant::SagaOutcome,
                service,
                cause,
            );
            return;
        }
        self.check_stores(now);
    }

    /// The instance whose saga `run` is (a live run: its calls start while
    /// it runs).
    /// The saga a run carries, by its ordinal (which survives a recovery).
    pub(super) fn saga_ordinal(&self, run: Key) -> Option<u64> {
        let sagas = self.sagas.as_deref()?;
        sagas.runs.get(run).map(|r| r.payload.ordinal)
    }

    pub(super) fn saga_instance(&self, run: Key) -> u32 {
        self.sagas
            .as_deref()
            .and_then(|s| s.runs.get(run))
            .expect("a saga's call starts while it runs")
            .instance
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The size estimate (`scenario/size.rs`) covers a saga in flight.
    #[test]
    fn the_size_estimate_covers_a_saga_in_flight() {
        use crate::scenario::size::{SAGA_BYTES, SAGA_RECORD_BYTES};
        use std::mem::size_of;
        // The run in its slab slot, its entry in the live sagas and in its
        // instance's maps (a B-tree entry is below 64 bytes a key).
        let have = size_of::<Option<Run>>() + 8 + size_of::<Live>() + 3 * 64;
        assert!(have as u64 <= SAGA_BYTES, "SAGA_BYTES: {have}");
        let record =
            size_of::<crate::patterns::saga::Entry>().max(size_of::<(usize, EffectKind)>());
        assert!(
            record as u64 <= SAGA_RECORD_BYTES,
            "SAGA_RECORD_BYTES: {record}"
        );
    }

    #[test]
    fn a_saga_call_packs_its_step_direction_and_attempt() {
        for (step, compensation, attempt) in [(0, false, 1), (15, true, 100), (7, false, 42)] {
            let call = SagaCall::new(step, compensation, attempt);
            assert_eq!(
                (call.step(), call.compensation(), call.attempt()),
                (step, compensation, attempt)
            );
        }
    }
}
