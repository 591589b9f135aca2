//! After an attempt fails: retry after a backoff, wait for a hedge still
//! in flight, or end the call; and hedges, sent when the first attempt is
//! slow.

use crate::kernel::{Kernel, SimDuration};

use super::calls::next_attempt;
use super::draws::AttemptKind;
use super::slab::Key;
use super::{Event, Outcome, World};

/// A hedging call's own state.
#[derive(Default)]
pub(super) struct Hedging {
    pub(super) timer: Option<crate::kernel::TimerId>,
    /// Attempts in flight (at most 1 + `max_hedges`), to cancel the losers.
    pub(super) attempts: Vec<Key>,
}

impl World<'_> {
    /// After a failed attempt: retry after a backoff, wait for a hedge still
    /// in flight, or end the call.
    pub(super) fn after_attempt(
        &mut self,
        kernel: &mut Kernel<Event>,
        call: Key,
        outcome: Outcome,
    ) {
        let now = kernel.now();
        let Some(state) = self.calls.get_mut(call) else {
            return;
        };
        state.last = outcome;
        if state.live > 0 || state.waiting.is_some() {
            return;
        }
        if let Some(retry) = state.retry.and_then(|key| self.retries.get_mut(key)) {
            let remaining = state.deadline.remaining(now.as_nanos());
            let mut rng = self.draws.jitter(next_attempt(state, AttemptKind::Retry));
            if let Some(delay) =
                retry.next_delay_within(outcome.as_pattern(), None, remaining, &mut rng)
            {
                if let Some(timer) = state.hedging.as_mut().and_then(|h| h.timer.take()) {
                    kernel.cancel(timer);
                }
                let timer = kernel.timer_in(
                    SimDuration::from_nanos(delay.as_nanos() as u64),
                    Event::RetryDue(call),
                );
                state.retry_timer = Some(timer);
                return;
            }
        }
        self.finish_call(kernel, call, outcome);
    }

    /// A retry's backoff has elapsed.
    pub(super) fn retry_due(&mut self, kernel: &mut Kernel<Event>, call: Key) {
        if let Some(state) = self.calls.get_mut(call) {
            state.retry_timer = None;
            self.try_attempt(kernel, call, AttemptKind::Retry);
        }
    }

    /// The first attempt is slow: send a hedge, and schedule the next one.
    pub(super) fn hedge_due(&mut self, kernel: &mut Kernel<Event>, call: Key) {
        let Some(state) = self.calls.get_mut(call) else {
            return;
        };
        if let Some(hedging) = &mut state.hedging {
            hedging.timer = None;
        }
        if state.live == 0 || state.waiting.is_some() {
            return;
        }
        let (edge, unit, hedges) = (state.edge, state.unit, state.hedges);
        let Some(hedger) = self.unit_state(edge, unit).and_then(|s| s.hedger.as_ref()) else {
            return;
        };
        if u32::from(hedges) >= hedger.config().max_hedges {
            return;
        }
        let delay = hedger.hedge_delay();
        self.try_attempt(kernel, call, AttemptKind::Hedge);
        // Schedule the next hedge only if this one went out: a refused hedge
        // (budget, breaker, rate limit) must not retry every `delay`.
        if let (Some(delay), Some(state)) = (delay, self.calls.get_mut(call))
            && state.live > 0
            && state.hedges > hedges
        {
            let timer = kernel.timer_in(
                SimDuration::from_nanos(delay.as_nanos() as u64),
                Event::HedgeDue(call),
            );
            state.hedging.get_or_insert_with(Box::default).timer = Some(timer);
        }
    }
}
