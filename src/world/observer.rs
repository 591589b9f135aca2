//! Watching a run event by event: the [`EventObserver`] a run is given sees
//! each event before the world handles it (`experiment::determinism`
//! compares two runs this way), and [`Observed`] is the world with its
//! observer as the kernel's model. A plain run's observer, `()`, is not
//! there at all.

use crate::kernel::{Control, Kernel, Model, SimTime};

use super::{Event, World};

/// Sees every event just before the world handles it: how
/// `experiment::determinism` compares two runs event by event. A plain run's
/// observer, `()`, is not there at all: the kernel drives the world directly.
pub trait EventObserver {
    /// Whether it looks at events at all: a run with an observer that does
    /// not is the plain run.
    const ACTIVE: bool = true;

    /// `event` is about to be handled at `now`; `world` is as it was left by
    /// the events before. `false` stops the run before it.
    fn see(&mut self, now: SimTime, event: &Event, world: &World<'_>) -> bool;
}

impl EventObserver for () {
    const ACTIVE: bool = false;

    #[inline(always)]
    fn see(&mut self, _: SimTime, _: &Event, _: &World<'_>) -> bool {
        true
    }
}

/// The world with its observer, as the kernel's model.
pub(super) struct Observed<'w, 's, O> {
    pub(super) world: &'w mut World<'s>,
    pub(super) observer: &'w mut O,
}

impl<O: EventObserver> Model for Observed<'_, '_, O> {
    type Event = Event;

    #[inline(always)]
    fn handle(&mut self, kernel: &mut Kernel<Event>, event: Event) -> Control {
        if !self.observer.see(kernel.now(), &event, self.world) {
            return Control::Stop;
        }
        self.world.handle(kernel, event)
    }
}
