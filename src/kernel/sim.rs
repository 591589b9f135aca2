//! The run loop: pops events in order, advances the clock, hands each event to
//! the model, and stops at a horizon, when nothing is scheduled, at an event
//! budget, when too many events run at one instant (time froze), or when the
//! model asks — and always says which. The kernel only counts and stops; the
//! model names what went wrong.

use super::queue::{EventQueue, TimerId};
use super::time::{SimDuration, SimTime};

/// A simulated world: it reacts to its own events and schedules new ones.
pub trait Model {
    /// The world's events: a small, closed enum of plain data.
    type Event;
    /// Reacts to `event`, delivered at `kernel.now()`, and says whether the
    /// run goes on: [`Control::Stop`] ends it at this event (an invariant was
    /// violated), with [`StopReason::Stopped`].
    fn handle(&mut self, kernel: &mut Kernel<Self::Event>, event: Self::Event) -> Control;
}

/// What a model tells the kernel after an event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[must_use]
pub enum Control {
    /// Go on.
    Continue,
    /// Stop the run here.
    Stop,
}

/// The default bound on events at one instant: far above any real burst
/// (zero-latency hops are direct calls, not events), and about a second of
/// wall-clock time, so a scenario whose time cannot advance stops soon with
/// a reason instead of running for hours.
pub const DEFAULT_EVENTS_PER_INSTANT: u64 = 10_000_000;

/// When a run must stop.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RunLimits {
    /// Events at or before this instant run; the first later one stops the run.
    pub horizon: SimTime,
    /// At most this many events run.
    pub event_budget: u64,
    /// At most this many events run at one instant of virtual time.
    pub events_per_instant: u64,
}

impl RunLimits {
    /// A horizon, no practical event budget, the default bound per instant.
    pub fn until(horizon: SimTime) -> Self {
        RunLimits {
            horizon,
            event_budget: u64::MAX,
            events_per_instant: DEFAULT_EVENTS_PER_INSTANT,
        }
    }
}

/// Why a run stopped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StopReason {
    /// The next event lies past the horizon; the clock stands at the horizon.
    Horizon,
    /// Nothing was left to do before the horizon.
    Idle,
    /// The event budget ran out first: the run is incomplete.
    EventBudget,
    /// More than [`RunLimits::events_per_instant`] events ran at one instant:
    /// virtual time stopped advancing, and the run with it (incomplete).
    TimeFrozen,
    /// The model asked to stop ([`Control::Stop`]): incomplete, and the model
    /// says why.
    Stopped,
}

impl StopReason {
    /// Whether the run covered its whole horizon (or ran out of work).
    pub fn completed(self) -> bool {
        matches!(self, StopReason::Horizon | StopReason::Idle)
    }
}

/// The clock and the queue. Models schedule through it while handling events.
pub struct Kernel<E> {
    now: SimTime,
    queue: EventQueue<E>,
    events_processed: u64,
}

impl<E: Copy> Default for Kernel<E> {
    fn default() -> Self {
        Self::new()
    }
}

impl<E: Copy> Kernel<E> {
    /// A kernel at time zero with nothing scheduled.
    pub fn new() -> Self {
        Kernel {
            now: SimTime::ZERO,
            queue: EventQueue::new(),
            events_processed: 0,
        }
    }

    /// The current virtual time.
    #[inline]
    pub fn now(&self) -> SimTime {
        self.now
    }

    /// Events handled so far.
    pub fn events_processed(&self) -> u64 {
        self.events_processed
    }

    /// Live events pending.
    pub fn pending(&self) -> usize {
        self.queue.len()
    }

    /// Schedules `event` at `at`, which must not be in the past.
    #[inline]
    pub fn schedule_at(&mut self, at: SimTime, event: E) {
        assert!(at >= self.now, "scheduled an event in the past");
        self.queue.push(at, event);
    }

    /// Schedules `event` after `delay`.
    #[inline]
    pub fn schedule_in(&mut self, delay: SimDuration, event: E) {
        let at = self.now.saturating_add(delay);
        self.queue.push(at, event);
    }

    /// Schedules a cancellable `event` after `delay`.
    #[inline]
    pub fn timer_in(&mut self, delay: SimDuration, event: E) -> TimerId {
        let at = self.now.saturating_add(delay);
        self.queue.push_timer(at, event)
    }

    /// Schedules a cancellable `event` at `at`, which must not be in the past.
    #[inline]
    pub fn timer_at(&mut self, at: SimTime, event: E) -> TimerId {
        assert!(at >= self.now, "scheduled a timer in the past");
        self.queue.push_timer(at, event)
    }

    /// Cancels a timer in O(1); returns whether it was still pending.
    #[inline]
    pub fn cancel(&mut self, timer: TimerId) -> bool {
        self.queue.cancel(timer)
    }

    /// Runs `model` until a limit is reached, and says which.
    pub fn run<M: Model<Event = E>>(&mut self, model: &mut M, limits: RunLimits) -> StopReason {
        let mut budget = limits.event_budget;
        // Events run so far at `self.now` (the first event counts 1).
        let mut at_instant: u64 = 0;
        loop {
            let Some(next) = self.queue.peek_time() else {
                return StopReason::Idle;
            };
            if next > limits.horizon {
                self.now = limits.horizon.max(self.now);
                return StopReason::Horizon;
            }
            if budget == 0 {
                return StopReason::EventBudget;
            }
            if next == self.now {
                if at_instant >= limits.events_per_instant {
                    return StopReason::TimeFrozen;
                }
                at_instant += 1;
            } else {
                at_instant = 1;
            }
            // Held: the first event the handler schedules takes its place.
            let (time, event) = self.queue.pop_held().expect("peeked an event");
            debug_assert!(time >= self.now, "time went backwards");
            self.now = time;
            budget -= 1;
            self.events_processed += 1;
            if model.handle(self, event) == Control::Stop {
                return StopReason::Stopped;
            }
        }
    }

    /// The next event, removed: after a run stopped because time froze, the
    /// model looks at it to name what was looping.
    pub fn take_next(&mut self) -> Option<(SimTime, E)> {
        self.queue.pop()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each event reschedules itself `period` later and logs its time.
    struct Ticker {
        period: SimDuration,
        log: Vec<u64>,
        stop_after: u64,
    }

    impl Model for Ticker {
        type Event = ();
        fn handle(&mut self, kernel: &mut Kernel<()>, _: ()) -> Control {
            self.log.push(kernel.now().as_nanos());
            kernel.schedule_in(self.period, ());
            if self.log.len() as u64 == self.stop_after {
                Control::Stop
            } else {
                Control::Continue
            }
        }
    }

    fn ticker() -> (Kernel<()>, Ticker) {
        let mut kernel = Kernel::new();
        kernel.schedule_at(SimTime::ZERO, ());
        (
            kernel,
            Ticker {
                period: SimDuration::from_nanos(10),
                log: Vec::new(),
                stop_after: u64::MAX,
            },
        )
    }

    #[test]
    fn stops_at_the_horizon_inclusive() {
        let (mut kernel, mut model) = ticker();
        let stop = kernel.run(&mut model, RunLimits::until(SimTime::from_nanos(35)));
        assert_eq!(stop, StopReason::Horizon);
        assert!(stop.completed());
        assert_eq!(model.log, vec![0, 10, 20, 30]);
        assert_eq!(kernel.now(), SimTime::from_nanos(35));
        // Resuming continues from where it stopped.
        kernel.run(&mut model, RunLimits::until(SimTime::from_nanos(40)));
        assert_eq!(model.log, vec![0, 10, 20, 30, 40]);
    }

    #[test]
    fn stops_at_the_event_budget_and_says_so() {
        let (mut kernel, mut model) = ticker();
        let limits = RunLimits {
            event_budget: 3,
            ..RunLimits::until(SimTime::MAX)
        };
        let stop = kernel.run(&mut model, limits);
        assert_eq!(stop, StopReason::EventBudget);
        assert!(!stop.completed());
        assert_eq!(kernel.events_processed(), 3);
        assert_eq!(model.log, vec![0, 10, 20]);
    }

    #[test]
    fn the_model_stops_the_run_at_the_event_it_chooses() {
        let (mut kernel, mut model) = ticker();
        model.stop_after = 4;
        let stop = kernel.run(&mut model, RunLimits::until(SimTime::MAX));
        assert_eq!(stop, StopReason::Stopped);
        assert!(!stop.completed());
        assert_eq!(model.log, vec![0, 10, 20, 30]);
        assert_eq!(kernel.now(), SimTime::from_nanos(30));
    }

    /// A model whose every event schedules another at the same instant.
    struct Frozen;
    impl Model for Frozen {
        type Event = u32;
        fn handle(&mut self, kernel: &mut Kernel<u32>, event: u32) -> Control {
            kernel.schedule_in(SimDuration::ZERO, event + 1);
            Control::Continue
        }
    }

    #[test]
    fn time_that_stops_advancing_stops_the_run() {
        let mut kernel = Kernel::new();
        kernel.schedule_at(SimTime::from_nanos(5), 0);
        let limits = RunLimits {
            events_per_instant: 1_000,
            ..RunLimits::until(SimTime::MAX)
        };
        let stop = kernel.run(&mut Frozen, limits);
        assert_eq!(stop, StopReason::TimeFrozen);
        assert!(!stop.completed());
        // Exactly the bound ran, all at t = 5 ns; the next one is left for
        // the model to name.
        assert_eq!(kernel.events_processed(), 1_000);
        assert_eq!(kernel.now(), SimTime::from_nanos(5));
        assert_eq!(kernel.take_next(), Some((SimTime::from_nanos(5), 1_000)));
    }

    #[test]
    fn many_events_at_distinct_instants_are_not_frozen_time() {
        let (mut kernel, mut model) = ticker();
        let limits = RunLimits {
            events_per_instant: 1,
            ..RunLimits::until(SimTime::from_nanos(1_000))
        };
        assert_eq!(kernel.run(&mut model, limits), StopReason::Horizon);
        assert_eq!(model.log.len(), 101);
    }

    struct Once(u32);
    impl Model for Once {
        type Event = u32;
        fn handle(&mut self, _: &mut Kernel<u32>, event: u32) -> Control {
            self.0 += event;
            Control::Continue
        }
    }

    #[test]
    fn stops_when_idle_and_skips_cancelled_timers() {
        let mut kernel = Kernel::new();
        kernel.schedule_in(SimDuration::from_nanos(5), 1);
        let timer = kernel.timer_in(SimDuration::from_nanos(6), 100);
        assert!(kernel.cancel(timer));
        let mut model = Once(0);
        let stop = kernel.run(&mut model, RunLimits::until(SimTime::MAX));
        assert_eq!(stop, StopReason::Idle);
        assert_eq!(model.0, 1, "the cancelled timer must not fire");
        assert_eq!(kernel.events_processed(), 1);
    }

    #[test]
    #[should_panic(expected = "in the past")]
    fn scheduling_in_the_past_is_a_bug() {
        struct Backwards;
        impl Model for Backwards {
            type Event = ();
            fn handle(&mut self, kernel: &mut Kernel<()>, _: ()) -> Control {
                kernel.schedule_at(SimTime::ZERO, ());
                Control::Continue
            }
        }
        let mut kernel = Kernel::new();
        kernel.schedule_at(SimTime::from_nanos(5), ());
        kernel.run(&mut Backwards, RunLimits::until(SimTime::MAX));
    }
}
