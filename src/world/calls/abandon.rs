//! Calls that die with their caller's process: a crashed instance's jobs'
//! calls, and a lost orchestrator's sagas' calls. No parent is told; timers,
//! permits and slots are given back; each counts as `dropped` on its edge.

use super::*;

impl World<'_> {
    /// The calls made by `jobs` (sorted or not), whose instance has crashed,
    /// die with it: no parent is told, no retry or hedge follows, their
    /// timers are cancelled and their breaker permits and bulkhead slots
    /// given back (a breaker records nothing, as for a cancelled attempt).
    /// Nothing is sent to the callees: a crashed process says nothing, and
    /// their work goes on as orphans. Each counts as `dropped` on its edge.
    pub(in crate::world) fn abandon_calls_of(&mut self, kernel: &mut Kernel<Event>, jobs: &[Key]) {
        let mut jobs = jobs.to_vec();
        jobs.sort_unstable();
        self.abandon_calls_where(kernel, |parent| match parent {
            Parent::Job(job) => jobs.binary_search(job).is_ok(),
            Parent::Client { .. } | Parent::Saga { .. } | Parent::Publish(_) => false,
        });
    }

    /// The calls of the sagas `runs`, whose orchestrator process is gone,
    /// die with it, as [`abandon_calls_of`](Self::abandon_calls_of) says.
    pub(in crate::world) fn abandon_saga_calls(
        &mut self,
        kernel: &mut Kernel<Event>,
        runs: &[Key],
    ) {
        let mut runs = runs.to_vec();
        runs.sort_unstable();
        self.abandon_calls_where(kernel, |parent| match parent {
            Parent::Saga { run, .. } => runs.binary_search(run).is_ok(),
            Parent::Client { .. } | Parent::Job(_) | Parent::Publish(_) => false,
        });
    }

    /// The publish calls `publishes`, whose producer process is gone, die
    /// with it, as [`abandon_calls_of`](Self::abandon_calls_of) says.
    pub(in crate::world) fn abandon_publish_calls(
        &mut self,
        kernel: &mut Kernel<Event>,
        publishes: &[Key],
    ) {
        if publishes.is_empty() {
            return;
        }
        let mut publishes = publishes.to_vec();
        publishes.sort_unstable();
        self.abandon_calls_where(kernel, |parent| match parent {
            Parent::Publish(p) => publishes.binary_search(p).is_ok(),
            _ => false,
        });
    }

    /// Abandons every call whose parent `of_doomed` names.
    fn abandon_calls_where(
        &mut self,
        kernel: &mut Kernel<Event>,
        of_doomed: impl Fn(&Parent) -> bool,
    ) {
        let now = kernel.now().as_nanos();
        // Calls with a record: their waits first, so that a slot freed below
        // goes to a caller that is still alive.
        let mut calls = self.calls.keys_where(|c| of_doomed(&c.parent));
        calls.sort_unstable();
        let mut touched: Vec<(u32, u32)> = Vec::new();
        for &call in &calls {
            let state = self.calls.remove(call).expect("listed as live");
            if let Some(tracer) = self.trace.as_deref_mut() {
                tracer.call_end(call, kernel.now(), SpanEnd::Dropped);
            }
            let hedge_timer = state.hedging.as_ref().and_then(|h| h.timer);
            for timer in [state.retry_timer, hedge_timer].into_iter().flatten() {
                kernel.cancel(timer);
            }
            if let Some(retry) = state.retry {
                self.retries.remove(retry);
            }
            if let Some((ticket, permit, _)) = state.waiting.map(|w| *w)
                && let Some(units) = self.edges[state.edge as usize]
                    .units
                    .get_mut(state.unit as usize)
            {
                if let Some(bulkhead) = &mut units.bulkhead {
                    let _ = bulkhead.cancel(ticket, now);
                }
                if let (Some(breaker), Some(permit)) = (&mut units.breaker, permit) {
                    breaker.release(permit, now);
                }
            }
            self.bump(state.edge, |c| c.dropped += 1);
            touched.push((state.edge, state.unit));
        }
        // Their attempts, and the single attempts of calls without a policy.
        let attempts = self.attempts.keys_where(|a| match &a.owner {
            Owner::Call(call) => calls.binary_search(call).is_ok(),
            Owner::Direct { parent, .. } => of_doomed(parent),
        });
        for attempt in attempts {
            let a = self.attempts.remove(attempt).expect("listed as live");
            if let Some(tracer) = self.trace.as_deref_mut() {
                tracer.attempt_end(attempt, kernel.now(), SpanEnd::Dropped);
            }
            if let Some(timer) = a.timer {
                kernel.cancel(timer);
            }
            if matches!(a.owner, Owner::Direct { .. }) {
                self.bump(a.edge, |c| c.dropped += 1);
            }
            let (edge, unit) = (a.edge, a.unit);
            if self.discovery.tracked {
                self.balancer_done(edge, unit, a.instance, a.sent, kernel.now());
                self.count_outcome(a.instance, kernel.now(), Some(false));
            }
            if let Some(units) = self.edges[edge as usize].units.get_mut(unit as usize) {
                if let (Some(breaker), Some(permit)) = (&mut units.breaker, a.breaker) {
                    breaker.release(permit, now);
                }
                if let (Some(bulkhead), Some(permit)) = (&mut units.bulkhead, a.bulkhead)
                    && let Some(admitted) = bulkhead.release(permit, now)
                {
                    self.admit_waiter(kernel, edge, unit, admitted);
                }
                touched.push((edge, unit));
            }
        }
        touched.sort_unstable();
        touched.dedup();
        for (edge, unit) in touched {
            self.drain_breaker(edge, unit);
            self.drain_bulkhead(kernel, edge, unit);
        }
    }
}
