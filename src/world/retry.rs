//! After an attempt fails: retry after a backoff, wait for a hedge still
//! in flight, or end the call; and hedges, sent when the first attempt is
//! slow.

use crate::kernel::{Kernel, SimDuration, SimTime};
use crate::patterns::hedge::HedgedCall;

use super::calls::next_attempt;
use super::draws::AttemptKind;
use super::slab::Key;
use super::{Event, Reply, Status, World};

/// A hedging call's own state.
pub(super) struct Hedging {
    /// When the hedges are due and how many remain (`patterns::hedge`).
    pub(super) plan: HedgedCall,
    pub(super) timer: Option<crate::kernel::TimerId>,
    /// Attempts in flight (at most 1 + `max_hedges`), to cancel the losers.
    pub(super) attempts: Vec<Key>,
}

impl World<'_> {
    /// After a failed attempt: retry after a backoff (or after the reply's
    /// retry-after hint, if the policy honours it), wait for a hedge still
    /// in flight, or end the call.
    pub(super) fn after_attempt(
        &mut self,
        kernel: &mut Kernel<Event>,
        call: Key,
        outcome: Status,
        retry_after: Option<SimDuration>,
    ) {
        let now = kernel.now();
        let Some(state) = self.calls.get_mut(call) else {
            return;
        };
        state.last = outcome;
        state.unanswered |= outcome == Status::Timeout;
        state.hint = match retry_after {
            Some(after) => Reply::of(outcome).with_retry_after(after),
            None => Reply::of(outcome),
        };
        if state.live > 0 || state.waiting.is_some() {
            return;
        }
        if let Some(retry) = state.retry.and_then(|key| self.retries.get_mut(key)) {
            let remaining = state.deadline.remaining(now.as_nanos());
            let mut rng = self.draws.jitter(next_attempt(state, AttemptKind::Retry));
            if let Some(delay) = retry.next_delay_within(
                outcome.as_pattern(),
                retry_after.map(Into::into),
                remaining,
                &mut rng,
            ) {
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

    /// The first attempt is slow: send a hedge, and schedule the next one
    /// when the hedging plan says it is due.
    pub(super) fn hedge_due(&mut self, kernel: &mut Kernel<Event>, call: Key) {
        let now = kernel.now();
        let Some(state) = self.calls.get_mut(call) else {
            return;
        };
        let Some(hedging) = &mut state.hedging else {
            return;
        };
        hedging.timer = None;
        if state.live == 0 || state.waiting.is_some() {
            return;
        }
        if hedging.plan.handle_timeout(now.as_nanos()).is_none() {
            return; // Spurious, or no hedge left.
        }
        let hedges = state.hedges;
        self.try_attempt(kernel, call, AttemptKind::Hedge);
        let Some(state) = self.calls.get_mut(call) else {
            return;
        };
        let Some(hedging) = &mut state.hedging else {
            return;
        };
        // A refused hedge (budget, breaker, rate limit) ends hedging: it must
        // not be tried again every delay.
        if state.live == 0 || state.hedges == hedges {
            hedging.plan.stop();
        }
        if let Some(at) = hedging.plan.poll_timeout() {
            let at = SimTime::from_nanos(at).max(now);
            hedging.timer = Some(kernel.timer_at(at, Event::HedgeDue(call)));
        }
    }
}
