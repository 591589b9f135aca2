//! Server-side load shedding: the gateway answers 503 at once instead of queueing a
//! request it cannot serve in time.
//!
//! Two triggers, either enough to shed:
//!
//! - **Queue length, with hysteresis.** Shedding starts when the queue holds
//!   `queue_high` requests or more and stops only when it has drained to `queue_low`
//!   or fewer, as Envoy's flow control pauses above a buffer's high watermark and
//!   resumes below its low one (`source/docs/flow_control.md`), and as its overload
//!   manager's `stop_accepting_requests` action answers 503 while a trigger is
//!   saturated. The gap between the two is what keeps a queue hovering at its
//!   threshold from flapping between states on every request; `queue_low =
//!   queue_high − 1` is a plain threshold.
//! - **Concurrency** (optional): a request is shed while `max_concurrency` requests
//!   are already in flight, as Envoy's cluster circuit breaker `max_requests`
//!   overflows with a 503 (response flag `UO`). No hysteresis: it is a hard cap.
//!
//! The owner reports the queue length whenever it likes
//! ([`LoadShedder::handle_queue_length`], at every dequeue, say, so transitions are
//! timed exactly) and asks [`LoadShedder::decide`] on every arrival, before the
//! request is queued. Transitions are kept for [`LoadShedder::poll_transition`].
//!
//! Simplified on purpose: the signals are the queue length and the concurrency only
//! (not CPU, memory or queueing delay, as CoDel or Envoy's adaptive concurrency use),
//! and shedding is all-or-nothing rather than probabilistic or by priority.

use crate::{ConfigError, Nanos};

/// When to shed.
///
/// ```
/// use std::time::Instant;
/// use meshsim_patterns::gateway::shed::ShedConfig;
///
/// let start = Instant::now();
/// let config = ShedConfig::threshold(100);
/// assert_eq!((config.queue_high, config.queue_low), (100, 99));
/// assert_eq!(config.max_concurrency, None);
/// let _now = start.elapsed().as_nanos() as u64;
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ShedConfig {
    /// Shedding starts when the queue holds this many or more; at least 1.
    pub queue_high: u32,
    /// Shedding stops when the queue holds this many or fewer; below `queue_high`.
    pub queue_low: u32,
    /// Shed while this many requests are in flight; at least 1 (`None`: no cap).
    pub max_concurrency: Option<u32>,
}

impl ShedConfig {
    /// Shed exactly while the queue holds `queue_length` or more (no hysteresis).
    pub const fn threshold(queue_length: u32) -> ShedConfig {
        ShedConfig {
            queue_high: queue_length,
            queue_low: queue_length.saturating_sub(1),
            max_concurrency: None,
        }
    }

    /// Whether a [`LoadShedder`] can run with this configuration.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let error = |field, reason| Err(ConfigError::new("gateway.shed", field, reason));
        if self.queue_high == 0 {
            return error("queue_high", "must be at least 1");
        }
        if self.queue_low >= self.queue_high {
            return error("queue_low", "must be below queue_high");
        }
        if self.max_concurrency == Some(0) {
            return error("max_concurrency", "must be at least 1");
        }
        Ok(())
    }
}

/// Whether the queue trigger is on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ShedState {
    /// Requests are admitted (unless the concurrency cap is reached).
    Accepting,
    /// Every request is shed until the queue drains to `queue_low`.
    Shedding,
}

/// Why a request was shed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ShedReason {
    /// The queue trigger is on.
    Queue,
    /// `max_concurrency` requests are in flight.
    Concurrency,
}

/// What to do with an arriving request.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ShedVerdict {
    /// Queue it.
    Admit,
    /// Answer 503 ([`Status::Unavailable`](super::Status::Unavailable)).
    Shed(ShedReason),
}

/// A load shedder (see the module documentation).
///
/// ```
/// use std::time::Instant;
/// use meshsim_patterns::gateway::shed::{
///     LoadShedder, ShedConfig, ShedReason, ShedState, ShedVerdict,
/// };
///
/// let start = Instant::now();
/// let config = ShedConfig { queue_high: 10, queue_low: 5, max_concurrency: Some(64) };
/// let mut shedder = LoadShedder::new(config)?;
/// let now = start.elapsed().as_nanos() as u64;
/// assert_eq!(shedder.decide(now, 9, 0), ShedVerdict::Admit);
/// assert_eq!(shedder.decide(now, 10, 0), ShedVerdict::Shed(ShedReason::Queue));
/// // Still shedding at 6: it waits for the queue to drain to 5.
/// assert_eq!(shedder.decide(now + 1, 6, 0), ShedVerdict::Shed(ShedReason::Queue));
/// shedder.handle_queue_length(now + 2, 5);
/// assert_eq!(shedder.state(), ShedState::Accepting);
/// assert_eq!(shedder.decide(now + 3, 0, 64), ShedVerdict::Shed(ShedReason::Concurrency));
/// assert_eq!(shedder.poll_transition(), Some((now, ShedState::Shedding)));
/// assert_eq!(shedder.poll_transition(), Some((now + 2, ShedState::Accepting)));
/// assert_eq!(shedder.poll_transition(), None);
/// # Ok::<(), meshsim_patterns::ConfigError>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LoadShedder {
    config: ShedConfig,
    state: ShedState,
    /// Transitions not yet polled, oldest first; two at most, since a third would
    /// bring the state back to the one the owner last saw (the older pair is
    /// dropped, see [`LoadShedder::poll_transition`]).
    transitions: [Option<(Nanos, ShedState)>; 2],
    shed_queue: u64,
    shed_concurrency: u64,
    last_now: Nanos,
}

impl LoadShedder {
    /// A shedder that starts accepting.
    pub fn new(config: ShedConfig) -> Result<LoadShedder, ConfigError> {
        config.validate()?;
        Ok(LoadShedder {
            config,
            state: ShedState::Accepting,
            transitions: [None; 2],
            shed_queue: 0,
            shed_concurrency: 0,
            last_now: 0,
        })
    }

    /// The configuration.
    pub fn config(&self) -> &ShedConfig {
        &self.config
    }

    /// Whether the queue trigger is on.
    pub fn state(&self) -> ShedState {
        self.state
    }

    /// Requests shed so far, by the queue trigger and by the concurrency cap.
    pub fn shed_counts(&self) -> (u64, u64) {
        (self.shed_queue, self.shed_concurrency)
    }

    /// The queue holds `queue_length` requests at `now`: starts or stops shedding if
    /// that crosses a watermark. Safe to call at any time, as often as wanted.
    pub fn handle_queue_length(&mut self, now: Nanos, queue_length: u32) {
        debug_assert!(now >= self.last_now, "time went backwards");
        self.last_now = self.last_now.max(now);
        let next = match self.state {
            ShedState::Accepting if queue_length >= self.config.queue_high => ShedState::Shedding,
            ShedState::Shedding if queue_length <= self.config.queue_low => ShedState::Accepting,
            _ => return,
        };
        self.state = next;
        match self.transitions {
            [None, _] => self.transitions[0] = Some((now, next)),
            [Some(_), None] => self.transitions[1] = Some((now, next)),
            // Unpolled: Accepting→Shedding→Accepting→Shedding collapses to the last
            // transition's net effect from the state the owner last saw.
            [Some(_), Some(_)] => self.transitions = [Some((now, next)), None],
        }
    }

    /// The verdict for a request arriving at `now`, when the queue holds
    /// `queue_length` requests and `in_flight` are being served (neither counting
    /// this one).
    pub fn decide(&mut self, now: Nanos, queue_length: u32, in_flight: u32) -> ShedVerdict {
        self.handle_queue_length(now, queue_length);
        if self.state == ShedState::Shedding {
            self.shed_queue += 1;
            return ShedVerdict::Shed(ShedReason::Queue);
        }
        if self
            .config
            .max_concurrency
            .is_some_and(|max| in_flight >= max)
        {
            self.shed_concurrency += 1;
            return ShedVerdict::Shed(ShedReason::Concurrency);
        }
        ShedVerdict::Admit
    }

    /// The oldest transition not yet polled, with its time. If the owner polls less
    /// often than the state changes, a pair of transitions that cancel out is
    /// dropped, so what is polled always ends at the current state.
    pub fn poll_transition(&mut self) -> Option<(Nanos, ShedState)> {
        let first = self.transitions[0].take();
        self.transitions = [self.transitions[1].take(), None];
        first
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn shedder(high: u32, low: u32, max_concurrency: Option<u32>) -> LoadShedder {
        LoadShedder::new(ShedConfig {
            queue_high: high,
            queue_low: low,
            max_concurrency,
        })
        .unwrap()
    }

    #[test]
    fn hysteresis_between_the_watermarks() {
        let mut s = shedder(10, 4, None);
        let queue = [0, 9, 10, 12, 9, 5, 4, 9, 10];
        let verdicts: Vec<bool> = queue
            .iter()
            .enumerate()
            .map(|(t, &q)| s.decide(t as Nanos, q, 0) != ShedVerdict::Admit)
            .collect();
        assert_eq!(
            verdicts,
            [false, false, true, true, true, true, false, false, true]
        );
        assert_eq!(s.shed_counts(), (5, 0));
        // Three unpolled transitions (at 2, 6 and 8): the pair that cancels out is
        // dropped and the last one is what the owner sees.
        assert_eq!(s.poll_transition(), Some((8, ShedState::Shedding)));
        assert_eq!(s.poll_transition(), None);
    }

    #[test]
    fn a_plain_threshold_sheds_exactly_at_and_above_it() {
        let mut s = LoadShedder::new(ShedConfig::threshold(3)).unwrap();
        for (t, q, shed) in [(0, 2, false), (1, 3, true), (2, 2, false), (3, 4, true)] {
            assert_eq!(s.decide(t, q, 0) != ShedVerdict::Admit, shed, "queue {q}");
        }
    }

    #[test]
    fn the_concurrency_cap_sheds_without_changing_state() {
        let mut s = shedder(10, 5, Some(2));
        assert_eq!(s.decide(0, 0, 1), ShedVerdict::Admit);
        assert_eq!(
            s.decide(0, 0, 2),
            ShedVerdict::Shed(ShedReason::Concurrency)
        );
        assert_eq!(s.decide(0, 0, 1), ShedVerdict::Admit);
        assert_eq!(s.state(), ShedState::Accepting);
        // The queue trigger takes precedence in the reason.
        assert_eq!(s.decide(1, 10, 2), ShedVerdict::Shed(ShedReason::Queue));
        assert_eq!(s.shed_counts(), (1, 1));
    }

    #[test]
    fn unpolled_transitions_collapse_to_the_current_state() {
        let mut s = shedder(2, 0, None);
        for (t, q) in [(1, 2), (2, 0), (3, 2)] {
            s.handle_queue_length(t, q);
        }
        assert_eq!(s.poll_transition(), Some((3, ShedState::Shedding)));
        assert_eq!(s.poll_transition(), None);
        s.handle_queue_length(4, 0);
        assert_eq!(s.poll_transition(), Some((4, ShedState::Accepting)));
    }

    #[test]
    fn bad_configurations_are_config_errors() {
        let field = |high, low, max| {
            LoadShedder::new(ShedConfig {
                queue_high: high,
                queue_low: low,
                max_concurrency: max,
            })
            .unwrap_err()
            .field
        };
        assert_eq!(field(0, 0, None), "queue_high");
        assert_eq!(field(5, 5, None), "queue_low");
        assert_eq!(field(5, 6, None), "queue_low");
        assert_eq!(field(5, 1, Some(0)), "max_concurrency");
        assert!(LoadShedder::new(ShedConfig::threshold(1)).is_ok());
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        /// Above the high watermark every arrival is shed, at or below the low one
        /// none is for the queue; in between the state holds; and the transitions
        /// polled after every step retell the state exactly.
        #[test]
        fn shedding_follows_the_watermarks(
            high in 1u32..20,
            gap in 1u32..20,
            queue in prop::collection::vec(0u32..40, 1..100),
        ) {
            let low = high.saturating_sub(gap);
            let mut s = shedder(high, low, None);
            let mut seen = ShedState::Accepting;
            for (t, &q) in queue.iter().enumerate() {
                let before = s.state();
                let verdict = s.decide(t as Nanos, q, 0);
                if q >= high {
                    prop_assert_eq!(verdict, ShedVerdict::Shed(ShedReason::Queue));
                } else if q <= low {
                    prop_assert_eq!(verdict, ShedVerdict::Admit);
                } else {
                    prop_assert_eq!(s.state(), before);
                }
                while let Some((at, state)) = s.poll_transition() {
                    prop_assert_eq!(at, t as Nanos);
                    prop_assert!(state != seen);
                    seen = state;
                }
                prop_assert_eq!(seen, s.state());
            }
        }
    }
}
