//! A saga participant's own state (database per service): a keyed ledger — stock per
//! item, balance per account — to which sagas apply actions and compensations.
//!
//! With [`Idempotence::Keyed`] the ledger keeps what it decided for each (saga id,
//! step), as Richardson's idempotent consumer keeps processed message ids:
//!
//! - an action retried after it was applied has no further effect
//!   ([`ActionReply::Duplicate`], which reads as applied); one retried after a
//!   business refusal is refused again (the decision sticks to the key, so a late
//!   earlier attempt cannot apply after the orchestrator was told no);
//! - a compensation of an action that never took effect is recognised and does
//!   nothing ([`CompensationReply::NoOp`]), but it is remembered;
//! - so an action that arrives *after* its own compensation (a slow or retried request
//!   overtaken) is refused ([`ActionReply::Refused`]) instead of applying for good;
//! - a compensation retried after it was done does nothing.
//!
//! With [`Idempotence::None`] each arrival acts: a retry applies twice and a
//! compensation undoes what may never have been done — the switch that shows what
//! non-idempotence costs. The ledger has a default ([`Ledger::new`]), and each call
//! may say its own ([`Ledger::apply_with`], [`Ledger::compensate_with`]), so that an
//! idempotent action can have a compensation that is not. Either way the ledger
//! records what it did for the key; idempotence is whether it *looks* first. Business rules ([`ActionReply::Rejected`]: a debit below
//! zero) are distinct from technical failure ([`ActionReply::Unavailable`]: the
//! ledger is down and nothing happened). Compensations are never refused by a
//! business rule (Garcia-Molina and Salem: a compensation must be able to succeed).
//!
//! What the ledger reports for the invariants: each (saga, step)'s [`Effect`] (how
//! often it was applied and undone in effect) and the total of its balances.
//!
//! A saga is named by a key of the owner's choosing (`K`, a [`SagaId`] by default):
//! a participant shared by several orchestrators keys by something unique across
//! them.
//! Memory grows with the sagas it has seen until [`Ledger::forget`] drops one (call it
//! when no message of that saga can still arrive).

use std::collections::BTreeMap;

use super::log::SagaId;
use super::orchestrator::{CompensationResult, StepResult};

/// Whether the ledger deduplicates by (saga id, step).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Idempotence {
    /// Keyed by (saga id, step): retries and late arrivals have no extra effect.
    Keyed,
    /// Every arrival acts.
    None,
}

/// A step's action on a ledger: add `delta` to `key`'s balance (a debit when
/// negative); its compensation adds `-delta`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Action<K = SagaId> {
    /// The saga.
    pub saga: K,
    /// The step.
    pub step: usize,
    /// The key (an index into the ledger's balances).
    pub key: usize,
    /// The change.
    pub delta: i64,
}

/// A ledger's answer to an action.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ActionReply {
    /// Applied now.
    Applied,
    /// Applied before: nothing more happened.
    Duplicate,
    /// Refused by a business rule (the balance would go below zero), now or before.
    Rejected,
    /// Refused because its compensation came first.
    Refused,
    /// A technical failure: the ledger is down; nothing happened.
    Unavailable,
}

impl ActionReply {
    /// What the orchestrator is told.
    pub fn result(self) -> StepResult {
        match self {
            ActionReply::Applied | ActionReply::Duplicate => StepResult::Applied,
            ActionReply::Rejected | ActionReply::Refused => StepResult::Rejected,
            ActionReply::Unavailable => StepResult::Failed,
        }
    }
}

/// A ledger's answer to a compensation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CompensationReply {
    /// The action was undone now.
    Undone,
    /// The action had not taken effect: nothing to undo (and it never will).
    NoOp,
    /// Compensated before: nothing more happened.
    Duplicate,
    /// A technical failure: nothing happened.
    Unavailable,
}

impl CompensationReply {
    /// What the orchestrator is told.
    pub fn result(self) -> CompensationResult {
        match self {
            CompensationReply::Unavailable => CompensationResult::Failed,
            CompensationReply::Undone | CompensationReply::NoOp | CompensationReply::Duplicate => {
                CompensationResult::Done
            }
        }
    }
}

/// How often a (saga, step)'s action took effect and was undone.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Effect {
    /// Times the action changed a balance.
    pub applied: u32,
    /// Times its compensation changed a balance back.
    pub undone: u32,
}

impl Effect {
    /// `applied − undone`: 1 when the step stands, 0 when it never did or was undone.
    pub fn net(self) -> i64 {
        i64::from(self.applied) - i64::from(self.undone)
    }
}

/// What a keyed ledger decided for a (saga, step).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mark {
    Applied,
    Rejected,
    Compensated,
}

/// A participant's keyed balances (see the module documentation).
///
/// ```
/// use std::time::Instant;
/// use meshsim_patterns::saga::{
///     Action, ActionReply, CompensationReply, Idempotence, Ledger, SagaConfig, SagaLog,
///     SagaPlan, Saga,
/// };
///
/// let start = Instant::now();
/// let plan = SagaPlan::new(&SagaConfig::default())?;
/// let mut log = SagaLog::new(4)?;
/// let saga = Saga::start(&plan, &mut log, start.elapsed().as_nanos() as u64).unwrap();
/// let mut stock = Ledger::new(&[5], Idempotence::Keyed);
/// let reserve = Action { saga: saga.id(), step: 0, key: 0, delta: -3 };
///
/// // The first attempt's reply was lost; the orchestrator compensates, and the
/// // slow first attempt arrives after its compensation.
/// assert_eq!(stock.compensate(&reserve), CompensationReply::NoOp);
/// assert_eq!(stock.apply(&reserve), ActionReply::Refused);
/// assert_eq!(stock.balance(0), 5);
/// # Ok::<(), meshsim_patterns::ConfigError>(())
/// ```
#[derive(Clone, Debug)]
pub struct Ledger<K = SagaId> {
    balances: Vec<i64>,
    idempotence: Idempotence,
    marks: BTreeMap<(K, usize), Mark>,
    effects: BTreeMap<(K, usize), Effect>,
    available: bool,
}

impl<K: Copy + Ord> Ledger<K> {
    /// A ledger with these opening balances (key `i` is `balances[i]`), whose calls
    /// are `idempotence` unless they say otherwise.
    pub fn new(balances: &[i64], idempotence: Idempotence) -> Ledger<K> {
        Ledger {
            balances: balances.to_vec(),
            idempotence,
            marks: BTreeMap::new(),
            effects: BTreeMap::new(),
            available: true,
        }
    }

    /// `key`'s balance.
    pub fn balance(&self, key: usize) -> i64 {
        self.balances[key]
    }

    /// The sum of the balances (what conservation checks).
    pub fn total(&self) -> i64 {
        self.balances.iter().sum()
    }

    /// Takes the ledger down (every call is [`ActionReply::Unavailable`]) or up.
    pub fn set_available(&mut self, available: bool) {
        self.available = available;
    }

    /// What `saga`'s `step` did here, in effect.
    pub fn effect(&self, saga: K, step: usize) -> Effect {
        self.effects.get(&(saga, step)).copied().unwrap_or_default()
    }

    /// Drops what the ledger keeps of `saga` (its decisions and its effects).
    pub fn forget(&mut self, saga: K) {
        let range = (saga, 0)..=(saga, usize::MAX);
        let keys: Vec<_> = self.marks.range(range.clone()).map(|(k, _)| *k).collect();
        for key in keys {
            self.marks.remove(&key);
        }
        let keys: Vec<_> = self.effects.range(range).map(|(k, _)| *k).collect();
        for key in keys {
            self.effects.remove(&key);
        }
    }

    /// Whether a keyed ledger has decided `saga`'s `step` (applied, refused or
    /// compensated it).
    pub fn decided(&self, saga: K, step: usize) -> bool {
        self.marks.contains_key(&(saga, step))
    }

    /// Refuses `action` by a business rule decided outside the ledger (a declined
    /// card): [`ActionReply::Rejected`], remembered as a balance rule's refusal is; a
    /// keyed ledger that decided it before answers as it did then.
    pub fn refuse_with(&mut self, action: &Action<K>, idempotence: Idempotence) -> ActionReply {
        if !self.available {
            return ActionReply::Unavailable;
        }
        let id = (action.saga, action.step);
        if idempotence == Idempotence::Keyed {
            match self.marks.get(&id) {
                Some(Mark::Applied) => return ActionReply::Duplicate,
                Some(Mark::Rejected) => return ActionReply::Rejected,
                Some(Mark::Compensated) => return ActionReply::Refused,
                None => {}
            }
        }
        self.marks.insert(id, Mark::Rejected);
        ActionReply::Rejected
    }

    /// Applies `action`, as idempotent as the ledger's default.
    pub fn apply(&mut self, action: &Action<K>) -> ActionReply {
        self.apply_with(action, self.idempotence)
    }

    /// Applies `action`, deduplicated by its key or not as `idempotence` says.
    pub fn apply_with(&mut self, action: &Action<K>, idempotence: Idempotence) -> ActionReply {
        if !self.available {
            return ActionReply::Unavailable;
        }
        let id = (action.saga, action.step);
        if idempotence == Idempotence::Keyed {
            match self.marks.get(&id) {
                Some(Mark::Applied) => return ActionReply::Duplicate,
                Some(Mark::Rejected) => return ActionReply::Rejected,
                Some(Mark::Compensated) => return ActionReply::Refused,
                None => {}
            }
        }
        let balance = self.balances[action.key];
        let reply = if action.delta < 0 && balance.saturating_add(action.delta) < 0 {
            ActionReply::Rejected
        } else {
            self.balances[action.key] = balance + action.delta;
            self.effects.entry(id).or_default().applied += 1;
            ActionReply::Applied
        };
        let mark = match reply {
            ActionReply::Applied => Mark::Applied,
            _ => Mark::Rejected,
        };
        self.marks.insert(id, mark);
        reply
    }

    /// Compensates `action` (the same value the action was sent with), as idempotent
    /// as the ledger's default.
    pub fn compensate(&mut self, action: &Action<K>) -> CompensationReply {
        self.compensate_with(action, self.idempotence)
    }

    /// Compensates `action`, recognising a duplicate or an action that never took
    /// effect by its key, or not, as `idempotence` says.
    pub fn compensate_with(
        &mut self,
        action: &Action<K>,
        idempotence: Idempotence,
    ) -> CompensationReply {
        if !self.available {
            return CompensationReply::Unavailable;
        }
        let id = (action.saga, action.step);
        let before = self.marks.insert(id, Mark::Compensated);
        if idempotence == Idempotence::Keyed {
            match before {
                Some(Mark::Compensated) => return CompensationReply::Duplicate,
                None | Some(Mark::Rejected) => return CompensationReply::NoOp,
                Some(Mark::Applied) => {}
            }
        }
        self.balances[action.key] -= action.delta;
        self.effects.entry(id).or_default().undone += 1;
        CompensationReply::Undone
    }
}
