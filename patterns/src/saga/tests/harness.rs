//! The property tests: a deterministic harness that plays orchestrators,
//! their log and keyed ledgers against random outcomes and crashes, and the
//! same harness with a defect or non-idempotent ledgers (see `mod.rs`).

use super::*;

/// One saga of a case: each step's kind and its action (ledger, key, delta).
#[derive(Clone, Debug)]
struct Spec {
    kinds: Vec<StepKind>,
    actions: Vec<(usize, usize, i64)>,
}

fn spec() -> impl Strategy<Value = Spec> {
    (
        1usize..=8,
        0usize..=8,
        any::<bool>(),
        prop::collection::vec((0usize..3, 0usize..2, 0i64..=15), 8),
    )
        .prop_map(|(n, compensatable, pivot, raw)| {
            let compensatable = compensatable.min(n);
            let kinds: Vec<StepKind> = (0..n)
                .map(|s| match s {
                    s if s < compensatable => C,
                    s if s == compensatable && pivot => P,
                    _ => R,
                })
                .collect();
            // Debits, then one credit of their sum on the last step: a completed saga
            // moves nothing in total.
            let mut actions: Vec<(usize, usize, i64)> =
                raw[..n].iter().map(|&(l, k, a)| (l, k, -a)).collect();
            let sum: i64 = actions[..n - 1].iter().map(|a| a.2).sum();
            actions[n - 1].2 = -sum;
            Spec { kinds, actions }
        })
}

#[derive(Clone, Debug)]
struct Case {
    specs: Vec<Spec>,
    parallel: bool,
    fates: Vec<u8>,
}

fn case() -> impl Strategy<Value = Case> {
    (
        prop::collection::vec(spec(), 1..=3),
        any::<bool>(),
        prop::collection::vec(any::<u8>(), 0..256),
    )
        .prop_map(|(specs, parallel, fates)| Case {
            specs,
            parallel,
            fates,
        })
}

/// The fault to inject at each decision, read from the case; past its end, none
/// (so a case shrinks toward the fault-free run).
struct Fates<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl Fates<'_> {
    fn next(&mut self) -> u8 {
        let byte = self.bytes.get(self.at).copied().unwrap_or(0);
        self.at += 1;
        byte
    }
}

enum Reply {
    Step(usize, u32, StepResult),
    Compensation(usize, u32, CompensationResult),
}

enum Late {
    Action(Action),
}

const LATENCY: Nanos = MS;
const TIMEOUT: Nanos = 50 * MS;
const RESTART: Nanos = 5 * MS;
const CRASHES_MAX: u32 = 3;

struct World<'a> {
    case: &'a Case,
    fates: Fates<'a>,
    now: Nanos,
    log: SagaLog,
    sagas: Vec<Saga>,
    inbox: Vec<(Nanos, SagaId, Reply)>,
    late: Vec<Late>,
    ledgers: Vec<Ledger>,
    spec_of: BTreeMap<SagaId, usize>,
    traces: BTreeMap<SagaId, Vec<(usize, EffectKind)>>,
    endings: BTreeMap<SagaId, Ending>,
    crashes: u32,
    crashes_compensating: u32,
    late_delivered: u32,
    defect: Option<Defect>,
}

impl<'a> World<'a> {
    fn new(case: &'a Case, defect: Option<Defect>, idempotence: Idempotence) -> World<'a> {
        World {
            case,
            fates: Fates {
                bytes: &case.fates,
                at: 0,
            },
            now: 0,
            log: SagaLog::new(case.specs.len()).unwrap(),
            sagas: Vec::new(),
            inbox: Vec::new(),
            late: Vec::new(),
            ledgers: (0..3)
                .map(|_| Ledger::new(&[20, 20], idempotence))
                .collect(),
            spec_of: BTreeMap::new(),
            traces: BTreeMap::new(),
            endings: BTreeMap::new(),
            crashes: 0,
            crashes_compensating: 0,
            late_delivered: 0,
            defect,
        }
    }

    fn maybe_crash(&mut self) -> bool {
        if self.fates.next() < 244 || self.crashes == CRASHES_MAX {
            return false;
        }
        self.crashes += 1;
        if self.sagas.iter().any(Saga::is_compensating) {
            self.crashes_compensating += 1;
        }
        // The orchestrator's memory and the replies addressed to it are lost; the log
        // and the requests already on their way to the ledgers are not.
        self.sagas.clear();
        self.inbox.clear();
        self.now += RESTART;
        let defect = self.defect;
        self.sagas = rebuild(&mut self.log, self.now, |s| s.set_defect(defect));
        true
    }

    fn action(&self, id: SagaId, step: usize) -> (usize, Action) {
        let (ledger, key, delta) = self.case.specs[self.spec_of[&id]].actions[step];
        (
            ledger,
            Action {
                saga: id,
                step,
                key,
                delta,
            },
        )
    }

    fn apply(&mut self, ledger: usize, action: &Action) -> ActionReply {
        let reply = self.ledgers[ledger].apply(action);
        if reply == ActionReply::Applied {
            let trace = self.traces.entry(action.saga).or_default();
            trace.push((action.step, EffectKind::Applied));
        }
        reply
    }

    fn compensate(&mut self, ledger: usize, action: &Action) -> CompensationReply {
        let reply = self.ledgers[ledger].compensate(action);
        if reply == CompensationReply::Undone {
            let trace = self.traces.entry(action.saga).or_default();
            trace.push((action.step, EffectKind::Undone));
        }
        reply
    }

    fn carry_out(&mut self, id: SagaId, command: Command) {
        let now = self.now;
        match command {
            Command::Invoke { step, attempt } => {
                let (ledger, action) = self.action(id, step);
                let (at, result) = match self.fates.next() {
                    0..140 => (now + LATENCY, self.apply(ledger, &action).result()),
                    140..160 => (now + LATENCY, StepResult::Failed),
                    160..180 => (now + TIMEOUT, StepResult::Unknown),
                    180..205 => {
                        self.apply(ledger, &action);
                        (now + TIMEOUT, StepResult::Unknown)
                    }
                    205..225 => {
                        self.late.push(Late::Action(action));
                        (now + TIMEOUT, StepResult::Unknown)
                    }
                    225.. => {
                        // The network delivered it twice.
                        let reply = self.apply(ledger, &action);
                        self.apply(ledger, &action);
                        (now + LATENCY, reply.result())
                    }
                };
                self.inbox
                    .push((at, id, Reply::Step(step, attempt, result)));
            }
            Command::Compensate { step, attempt } => {
                let (ledger, action) = self.action(id, step);
                let (at, result) = match self.fates.next() {
                    0..150 => (now + LATENCY, self.compensate(ledger, &action).result()),
                    150..200 => (now + LATENCY, CompensationResult::Failed),
                    200..225 => {
                        self.compensate(ledger, &action);
                        (now + TIMEOUT, CompensationResult::Unknown)
                    }
                    225.. => (now + TIMEOUT, CompensationResult::Unknown),
                };
                self.inbox
                    .push((at, id, Reply::Compensation(step, attempt, result)));
            }
            Command::Done(_) => unreachable!("handled by the caller"),
        }
    }

    fn deliver_late(&mut self, index: usize) {
        let Late::Action(action) = self.late.remove(index);
        self.late_delivered += 1;
        let (ledger, _) = self.action(action.saga, action.step);
        self.apply(ledger, &action);
    }

    /// Drains every live saga's commands, with a chance of a crash before each.
    fn drain(&mut self) {
        'again: loop {
            for i in 0..self.sagas.len() {
                while let Some(command) = self.sagas[i].poll_command() {
                    let id = self.sagas[i].id();
                    if self.maybe_crash() {
                        continue 'again;
                    }
                    match command {
                        Command::Done(ending) => {
                            let before = self.endings.insert(id, ending);
                            assert!(
                                before.is_none_or(|b| b == ending),
                                "a recovered saga ended another way"
                            );
                            // A crash before the compaction says Done again.
                            if self.maybe_crash() {
                                continue 'again;
                            }
                            assert!(self.log.end(id));
                            self.sagas.remove(i);
                            continue 'again;
                        }
                        command => self.carry_out(id, command),
                    }
                }
            }
            return;
        }
    }

    fn run(&mut self) {
        for (index, spec) in self.case.specs.iter().enumerate() {
            let plan = plan_of(&spec.kinds, self.case.parallel);
            let mut saga = Saga::start(&plan, &mut self.log, self.now).unwrap();
            saga.set_defect(self.defect);
            self.spec_of.insert(saga.id(), index);
            self.sagas.push(saga);
            self.maybe_crash();
        }
        for _ in 0..100_000 {
            self.drain();
            if self.log.in_flight() == 0 {
                break;
            }
            if !self.late.is_empty() && self.fates.next() < 64 {
                let index = usize::from(self.fates.next()) % self.late.len();
                self.deliver_late(index);
            }
            // A crash between events: calls in flight, or retries waiting on backoff.
            if self.maybe_crash() {
                continue;
            }
            let reply_at = self.inbox.iter().map(|r| r.0).min();
            let timer_at = self.sagas.iter().filter_map(Saga::poll_timeout).min();
            let Some(at) = reply_at.into_iter().chain(timer_at).min() else {
                panic!("a saga is stuck: nothing in flight and no timer");
            };
            self.now = self.now.max(at);
            if reply_at == Some(at) {
                let index = self.inbox.iter().position(|r| r.0 == at).unwrap();
                let (_, id, reply) = self.inbox.remove(index);
                let (now, log) = (self.now, &mut self.log);
                if let Some(saga) = self.sagas.iter_mut().find(|s| s.id() == id) {
                    match reply {
                        Reply::Step(step, attempt, result) => {
                            saga.handle_step_result(log, now, step, attempt, result);
                        }
                        Reply::Compensation(step, attempt, result) => {
                            saga.handle_compensation_result(log, now, step, attempt, result);
                        }
                    }
                }
            } else {
                for saga in &mut self.sagas {
                    saga.handle_timeout(&mut self.log, self.now);
                }
            }
        }
        assert_eq!(self.log.in_flight(), 0, "every saga ends within the budget");
        assert!(self.log.is_empty(), "compaction leaves nothing behind");
        // What is still on its way arrives in the end.
        while !self.late.is_empty() {
            self.deliver_late(0);
        }
    }

    /// Every invariant, on every saga, and conservation over all ledgers.
    fn check(&self) -> Result<(), Violation> {
        let mut accounted = 0;
        for (&id, &index) in &self.spec_of {
            let spec = &self.case.specs[index];
            let plan = plan_of(&spec.kinds, self.case.parallel);
            let ending = self.endings[&id];
            let trace = self.traces.get(&id).map_or(&[][..], Vec::as_slice);
            check_saga(id, &plan, ending, trace)?;
            let net = |step: usize| {
                trace
                    .iter()
                    .fold(0, |n, &(s, kind)| match (s == step, kind) {
                        (true, EffectKind::Applied) => n + 1,
                        (true, EffectKind::Undone) => n - 1,
                        (false, _) => n,
                    })
            };
            match ending {
                Ending::Completed => accounted += spec.actions.iter().map(|a| a.2).sum::<i64>(),
                Ending::Compensated => {}
                Ending::DeadLettered { left, .. } => {
                    accounted += left.iter().map(|s| net(s) * spec.actions[s].2).sum::<i64>();
                }
            }
        }
        let total: i64 = self.ledgers.iter().map(Ledger::total).sum();
        check_conservation(3 * 40, total, accounted)
    }
}

fn play(case: &Case, defect: Option<Defect>, idempotence: Idempotence) -> Result<(), Violation> {
    let mut world = World::new(case, defect, idempotence);
    world.run();
    world.check()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1200))]

    #[test]
    fn every_saga_completes_compensates_or_dead_letters_and_conserves_quantity(case in case()) {
        if let Err(violation) = play(&case, None, Idempotence::Keyed) {
            prop_assert!(false, "{violation}");
        }
    }
}

/// Runs the property on a defect and returns the shrunk counterexample's violation.
fn counterexample(defect: Option<Defect>, idempotence: Idempotence) -> String {
    let mut runner = TestRunner::new(Config {
        cases: 1000,
        failure_persistence: None,
        ..Config::default()
    });
    let result = runner.run(&case(), |case| match play(&case, defect, idempotence) {
        Ok(()) => Ok(()),
        Err(violation) => Err(TestCaseError::fail(violation.to_string())),
    });
    match result {
        Ok(()) => panic!("the property did not catch {defect:?} / {idempotence:?}"),
        Err(TestError::Fail(reason, case)) => {
            // The shrunk counterexample, for whoever reads a failing run.
            eprintln!("{defect:?} / {idempotence:?}: {reason}; minimal case: {case:?}");
            reason.to_string()
        }
        Err(TestError::Abort(reason)) => panic!("aborted: {reason}"),
    }
}

#[test]
fn the_property_catches_compensation_in_forward_order() {
    let message = counterexample(Some(Defect::ForwardOrder), Idempotence::Keyed);
    assert!(message.contains("was compensated before step"), "{message}");
}

#[test]
fn the_property_catches_skipped_unknown_outcomes() {
    let message = counterexample(Some(Defect::SkipUnknown), Idempotence::Keyed);
    assert!(
        message.contains("stands") || message.contains("took effect"),
        "{message}"
    );
}

#[test]
fn the_property_catches_participants_without_idempotence() {
    let message = counterexample(None, Idempotence::None);
    assert!(!message.is_empty());
}

#[test]
fn the_harness_is_deterministic() {
    let mut runner = TestRunner::deterministic();
    for _ in 0..50 {
        let case = case().new_tree(&mut runner).unwrap().current();
        let run = |case: &Case| {
            let mut world = World::new(case, None, Idempotence::Keyed);
            world.run();
            (world.endings.clone(), world.traces.clone(), world.now)
        };
        assert_eq!(run(&case), run(&case));
    }
}

/// The harness is not vacuous: over the property's own distribution of cases, every
/// ending, every kind of fault and crashes mid-compensation all occur.
#[test]
fn the_cases_reach_every_ending_and_crash_mid_compensation() {
    let mut runner = TestRunner::deterministic();
    let (mut completed, mut compensated, mut dead_lettered) = (0, 0, 0);
    let (mut crashes, mut crashes_compensating, mut late, mut undone_steps) = (0, 0, 0, 0);
    for _ in 0..1000 {
        let case = case().new_tree(&mut runner).unwrap().current();
        let mut world = World::new(&case, None, Idempotence::Keyed);
        world.run();
        for ending in world.endings.values() {
            match ending {
                Ending::Completed => completed += 1,
                Ending::Compensated => compensated += 1,
                Ending::DeadLettered { .. } => dead_lettered += 1,
            }
        }
        crashes += world.crashes;
        crashes_compensating += world.crashes_compensating;
        late += world.late_delivered;
        undone_steps += world
            .traces
            .values()
            .flatten()
            .filter(|e| e.1 == EffectKind::Undone)
            .count();
    }
    eprintln!(
        "completed {completed}, compensated {compensated}, dead-lettered {dead_lettered}, \
         crashes {crashes} ({crashes_compensating} mid-compensation), late arrivals {late}, undone steps {undone_steps}"
    );
    assert!(completed > 100);
    assert!(compensated > 100);
    assert!(dead_lettered > 5);
    assert!(crashes > 300);
    assert!(crashes_compensating > 50);
    assert!(late > 100);
    assert!(undone_steps > 300);
}
