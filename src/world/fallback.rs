//! Fallbacks (a policy's `fallback`): what a call that failed after its
//! whole stack answers instead. The decision is outside the stack:
//! `calls.rs`'s `finish_call` hands a covered failure to `fall_back`,
//! which counts it on its edge as the failure it is and answers a static
//! success, the calling unit's last success while it is fresh, or a call
//! on the edge's own fallback edge, whose end `end_call` tells the parent
//! as the end of the original edge's call.

use crate::kernel::{Kernel, SimDuration, SimTime};
use crate::patterns::Nanos;

use super::calls::{CallState, Parent, counts_outcome, min_time};
use super::draws;
use super::{Event, Reply, Status, World};

/// An edge's fallback.
#[derive(Clone, Copy, Debug)]
pub(super) struct EdgeFallback {
    pub(super) to: FallbackTo,
    /// The statuses that fall back: bit `i` for `FallbackOn` number `i`.
    pub(super) on: u16,
}

/// What an edge's fallback answers.
#[derive(Clone, Copy, Debug)]
pub(super) enum FallbackTo {
    /// A degraded success at once.
    Static,
    /// The last good answer of the calling unit, if no older than this.
    Cached(SimDuration),
    /// A call on this edge (a fallback edge).
    Call(u32),
}

impl EdgeFallback {
    /// Whether a call that ended with `outcome` (not `Ok`) falls back: the
    /// fallback's `on` lists its status (`FallbackOn` is the vocabulary
    /// without `Ok`, in the same order).
    pub(super) fn covers(&self, outcome: Status) -> bool {
        let index = outcome as u16 - 1;
        self.on & (1 << index) != 0
    }
}

impl World<'_> {
    /// A call on an edge with a fallback failed with a status it covers:
    /// its failure is counted on its edge, and its parent is told what the
    /// fallback answers (a degraded success, or the failure when the cached
    /// answer is missing or too old) or, for a fallback call, told when that
    /// call ends (`end_call`).
    #[cold]
    pub(super) fn fall_back(
        &mut self,
        kernel: &mut Kernel<Event>,
        state: &CallState,
        to: FallbackTo,
        outcome: Status,
    ) {
        let edge = state.edge;
        self.bump(edge, |c| counts_outcome(c, outcome));
        self.edge_stats[edge as usize].fallback.triggered += 1;
        let now = kernel.now();
        let served = match to {
            FallbackTo::Static => true,
            FallbackTo::Cached(age) => {
                let key = self.cache_key(state.request);
                self.unit_state(edge, state.unit)
                    .and_then(|u| match (&u.key_cache, key) {
                        (Some(cache), Some(key)) => cache.last_success(key),
                        _ => u.last_success,
                    })
                    .is_some_and(|at| now.saturating_since(at) <= age)
            }
            FallbackTo::Call(fallback) => {
                // With the time left of the failed call: its give-up
                // deadline travels with the fallback call.
                let left = (state.deadline.at() != Nanos::MAX)
                    .then(|| SimTime::from_nanos(state.deadline.at()));
                let inherited = min_time(state.propagated, left);
                let key = draws::fallback(state.draw);
                return self.start_call(
                    kernel,
                    state.parent,
                    key,
                    fallback,
                    inherited,
                    state.optional,
                );
            }
        };
        self.fallback_ended(edge, state.parent, served);
        let answer = if served { Status::Ok } else { outcome };
        self.tell_parent(
            kernel,
            edge,
            state.parent,
            state.optional,
            Reply::of(answer),
        );
    }

    /// The key a `cached` fallback keeps a request's answer under: the
    /// request's key, else its closed-loop user (apart in the high bits);
    /// none for a request with neither, or one that has ended.
    fn cache_key(&self, request: super::slab::Key) -> Option<u64> {
        let context = self.requests.get(request)?;
        match (context.key(), context.user()) {
            (Some(key), _) => Some(key),
            (None, Some(user)) => Some((1 << 40) | u64::from(user)),
            (None, None) => None,
        }
    }

    /// A call on an edge with a `cached` fallback succeeded at `now`: the
    /// unit's last answer, and its key's when the fallback keeps keys.
    pub(super) fn remember_success(&mut self, state: &CallState, now: SimTime) {
        let key = self.cache_key(state.request);
        let Some(unit) = self.unit_state(state.edge, state.unit) else {
            return;
        };
        unit.last_success = Some(now);
        if let (Some(cache), Some(key)) = (&mut unit.key_cache, key) {
            cache.record(key, now);
        }
    }

    /// Marks the client request of `parent` as answered degraded (nothing
    /// for orphan work, whose request has ended).
    fn mark_degraded(&mut self, parent: Parent) {
        let request = match parent {
            Parent::Client { request } => request,
            Parent::Job(job) => match self.jobs.get(job) {
                Some(job) => job.request,
                None => return,
            },
            Parent::Saga { .. } | Parent::Publish(_) => return,
        };
        if let Some(context) = self.requests.get_mut(request) {
            context.degraded = true;
        }
    }

    /// What edge `edge`'s fallback made of a failure: a degraded success
    /// for the request of `parent` (`served`), or not.
    pub(super) fn fallback_ended(&mut self, edge: u32, parent: Parent, served: bool) {
        let stats = &mut self.edge_stats[edge as usize].fallback;
        if served {
            stats.served += 1;
            self.mark_degraded(parent);
        } else {
            stats.failed += 1;
        }
    }
}
