//! `meshsim run --check-determinism`: the same scenario and seed run twice,
//! on two threads, compared event by event; the first event at which the two
//! runs differ is reported with its time, what it is about, and both
//! events. madsim's determinism check is the model: a simulator that claims
//! "same seed, same bytes" should be able to show it, and to point at where
//! it stops being true.
//!
//! The first run sends each event it handles, with its time, over a bounded
//! channel ([`CHANNEL_BOUND`] events); the second compares each of its own
//! with the next one received. Memory stays bounded whatever the length of
//! the run, and the first run can be at most that many events ahead. Either
//! run stopping stops the other. Nothing is written: the check reports only.
//!
//! What a divergence says is exact for the first differing event (the
//! worlds were identical until it); it is described with the second run's
//! world, which is the first run's until that event.

use std::sync::mpsc::{Receiver, SyncSender, sync_channel};

use crate::kernel::SimTime;
use crate::scenario::Compiled;
use crate::world::{self, Event, EventObserver, World};

/// The most events the first run may be ahead of the second.
pub const CHANNEL_BOUND: usize = 4096;

/// Where two runs of one scenario and seed first differed.
#[derive(Clone, Debug, PartialEq)]
pub struct Divergence {
    /// How many events both runs handled identically before it.
    pub index: u64,
    /// The first run's event and its time (none: it had ended).
    pub first: Option<(SimTime, String)>,
    /// The second run's (none: it had ended).
    pub second: Option<(SimTime, String)>,
    /// What the event is about (a service, an instance, an edge...), from
    /// the second run's world.
    pub entity: String,
}

impl std::fmt::Display for Divergence {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let side = |e: &Option<(SimTime, String)>| match e {
            Some((at, event)) => format!("{event} at t = {:.9} s", at.as_secs_f64()),
            None => "nothing (the run had ended)".to_string(),
        };
        write!(
            f,
            "the runs diverge at event {} ({}): the first run handled {}, the second {}",
            self.index + 1,
            self.entity,
            side(&self.first),
            side(&self.second)
        )
    }
}

/// The outcome of a check.
#[derive(Clone, Debug, PartialEq)]
pub enum Check {
    /// Every event was the same, at the same time, in both runs.
    Identical {
        /// Events each run handled.
        events: u64,
    },
    /// The runs differed.
    Diverged(Divergence),
}

/// Sends each event, with its time, to the checker.
struct Sender(SyncSender<(SimTime, Event)>);

impl EventObserver for Sender {
    fn see(&mut self, now: SimTime, event: &Event, _: &World<'_>) -> bool {
        // The checker has stopped listening: stop too.
        self.0.send((now, *event)).is_ok()
    }
}

/// Compares each event with the first run's.
struct Comparer {
    from_first: Receiver<(SimTime, Event)>,
    seen: u64,
    divergence: Option<Divergence>,
}

impl EventObserver for Comparer {
    fn see(&mut self, now: SimTime, event: &Event, world: &World<'_>) -> bool {
        match self.from_first.recv() {
            Ok((at, theirs)) if at == now && theirs == *event => {
                self.seen += 1;
                true
            }
            received => {
                self.divergence = Some(Divergence {
                    index: self.seen,
                    first: received.ok().map(|(at, e)| (at, format!("{e:?}"))),
                    second: Some((now, format!("{event:?}"))),
                    entity: world.entity_of(*event),
                });
                false
            }
        }
    }
}

/// Runs `compiled` twice with `seed` (and the event budget) and compares
/// the runs event by event.
pub fn check(compiled: &Compiled, seed: u64, event_budget: Option<u64>) -> Check {
    check_with(compiled, seed, seed, event_budget)
}

/// [`check`] with a seed per run: two different seeds must diverge, which
/// is how the check itself is tested.
pub fn check_with(
    compiled: &Compiled,
    first_seed: u64,
    second_seed: u64,
    event_budget: Option<u64>,
) -> Check {
    check_pair(
        (compiled, first_seed),
        (compiled, second_seed),
        event_budget,
    )
}

/// [`check`] of two worlds, each with its seed: a world that differs from
/// another in one place (a fault injected at some time) must diverge at
/// the first event that difference touches and not before, which is how
/// the check is shown to point at the right event.
pub fn check_pair(
    (first, first_seed): (&Compiled, u64),
    (second, second_seed): (&Compiled, u64),
    event_budget: Option<u64>,
) -> Check {
    let (tx, rx) = sync_channel(CHANNEL_BOUND);
    let mut comparer = Comparer {
        from_first: rx,
        seen: 0,
        divergence: None,
    };
    std::thread::scope(|scope| {
        scope.spawn(|| {
            let mut sender = Sender(tx);
            world::run_observed(first, first_seed, event_budget, &mut (), &mut sender);
            // Dropping the sender tells the comparer the first run ended.
        });
        world::run_observed(second, second_seed, event_budget, &mut (), &mut comparer);
        if comparer.divergence.is_none()
            && let Ok((at, theirs)) = comparer.from_first.recv()
        {
            // The second run ended while the first went on.
            comparer.divergence = Some(Divergence {
                index: comparer.seen,
                first: Some((at, format!("{theirs:?}"))),
                second: None,
                entity: "the end of the second run".to_string(),
            });
        }
        // Stop the first run if it is still going: it fails its next send.
        drop(std::mem::replace(
            &mut comparer.from_first,
            sync_channel(1).1,
        ));
    });
    match comparer.divergence {
        Some(divergence) => Check::Diverged(divergence),
        None => Check::Identical {
            events: comparer.seen,
        },
    }
}
