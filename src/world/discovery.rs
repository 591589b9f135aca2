//! Per-edge load balancing: the balancer of a scope unit, its view of the
//! callee's instances, and what it is told of the attempts it placed.
//!
//! The logic is the patterns' (`patterns::discovery::Balancer`, sans-IO);
//! this file only wires it: host ids are instance indices within the
//! callee, the view is every instance of the callee (a static list of
//! hosts), the key of a hashing balancer is the request's key (routes with
//! `keys`; a request without one hashes its attempt's draw key, so it lands
//! on an effectively random host, as Envoy's hash policies do without a
//! hash), and the balancer's randomness comes from its own keyed stream,
//! `balance/pick`, keyed by the attempt: turning a balancer on for one edge
//! moves no other draw.
//!
//! **Architecture Invariant:** an edge without a `balancer` never reaches
//! this file: it keeps its callee's shared round robin (`balance.rs`), so
//! plain scenarios do no extra work per request and keep their numbers.

use std::time::Duration;

use crate::kernel::{DrawKey, KeyedStream, RngStreams, SimTime};
use crate::metrics::Level;
use crate::patterns::discovery::mix64;

use super::World;
use super::slab::Key;

/// What the callers saw of one instance: the attempts sent to it and how
/// they ended (a success, or anything else: an error, a refusal, a timeout,
/// a drop at a crash).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct InstanceCounts {
    /// Attempts sent to it (lost ones included: the caller chose it).
    pub requests: u64,
    /// Attempts it answered with success.
    pub successes: u64,
    /// Attempts that ended otherwise.
    pub failures: u64,
}

/// Per-instance figures of a run, per service (for reports).
#[derive(Clone, Debug, Default)]
pub struct InstancesOutcome {
    /// Whether the service is reported instance by instance: its callers
    /// balance over it.
    pub reported: Vec<bool>,
    /// What its callers saw of each of its instances.
    pub counts: Vec<Vec<InstanceCounts>>,
    /// Each instance's load: the time-average number of attempts in flight
    /// to it (zeros for a service not reported).
    pub load: Vec<Vec<f64>>,
}

/// The world's discovery state.
pub(super) struct Discovery {
    /// Per instance (world index): since the start, and in the window.
    pub(super) counts: Vec<InstanceCounts>,
    pub(super) window: Vec<InstanceCounts>,
    /// Per instance: attempts in flight to it, time-weighted (its load).
    pub(super) outstanding: Vec<Level>,
    /// Whether any service is reported instance by instance (otherwise
    /// nothing above is counted: the plain path does no extra work).
    tracked: bool,
    /// The balancers' draws, keyed by attempt.
    pick: KeyedStream,
    /// Per service, its instances (indices within it) for callers with a
    /// balancer: their view without a registry. Empty for a service that
    /// no balanced edge calls.
    static_views: Vec<Vec<u32>>,
}

impl Discovery {
    /// Discovery state for services of these sizes, `balanced[s]` saying
    /// whether some balanced edge calls service `s`.
    pub(super) fn new(streams: &RngStreams, instances: &[u32], balanced: &[bool]) -> Discovery {
        let total: u32 = instances.iter().sum();
        Discovery {
            counts: vec![InstanceCounts::default(); total as usize],
            window: vec![InstanceCounts::default(); total as usize],
            outstanding: vec![Level::default(); total as usize],
            tracked: balanced.iter().any(|&b| b),
            pick: streams.keyed("balance/pick"),
            static_views: instances
                .iter()
                .zip(balanced)
                .map(|(&n, &b)| if b { (0..n).collect() } else { Vec::new() })
                .collect(),
        }
    }
}

impl Discovery {
    /// Per service, whether its instances are reported one by one: some
    /// caller balances over it.
    pub(super) fn reported(&self) -> Vec<bool> {
        self.static_views.iter().map(|v| !v.is_empty()).collect()
    }
}

impl World<'_> {
    /// An attempt was sent to `instance` at `now`.
    #[inline]
    pub(super) fn count_sent(&mut self, instance: u32, now: SimTime) {
        if !self.discovery.tracked {
            return;
        }
        let i = instance as usize;
        self.discovery.counts[i].requests += 1;
        self.discovery.window[i].requests += 1;
        self.discovery.outstanding[i].increment(now);
    }

    /// An attempt sent to `instance` ended at `now`: a success, another
    /// outcome, or (`None`) cancelled. `u32::MAX`: it was never sent.
    #[inline]
    pub(super) fn count_outcome(&mut self, instance: u32, now: SimTime, success: Option<bool>) {
        let i = instance as usize;
        if !self.discovery.tracked || i >= self.discovery.counts.len() {
            return;
        }
        self.discovery.outstanding[i].decrement(now);
        for counts in [&mut self.discovery.counts[i], &mut self.discovery.window[i]] {
            match success {
                Some(true) => counts.successes += 1,
                Some(false) => counts.failures += 1,
                None => {}
            }
        }
    }

    /// The instance (a world index) the balancer of `unit` on `edge` picks
    /// in `service` for the attempt keyed `draw` of `request`; the balancer
    /// is told of the send.
    pub(super) fn pick_balanced(
        &mut self,
        now: SimTime,
        edge: u32,
        unit: u32,
        draw: DrawKey,
        request: Key,
        service: u32,
    ) -> u32 {
        let key = self
            .requests
            .get(request)
            .and_then(|context| context.key())
            .unwrap_or_else(|| mix64(draw.as_u64()));
        let view = &self.discovery.static_views[service as usize];
        let balancer = self.edges[edge as usize].units[unit as usize]
            .balancer
            .as_mut()
            .expect("every unit of a balanced edge has a balancer");
        let mut rng = self.discovery.pick.rng(draw);
        let host = balancer
            .choose(view, key, now.as_nanos(), &mut rng)
            .expect("the static view holds every instance");
        balancer.on_send(host);
        self.services[service as usize].first_instance + host
    }

    /// An attempt that `unit` of `edge` sent at `sent` to `instance` has
    /// ended at `now`, whatever its outcome: its balancer is told (with
    /// the elapsed time as a latency sample, as tower does when a request's
    /// handle is dropped). A no-op for unbalanced edges and unsent attempts.
    pub(super) fn balancer_done(
        &mut self,
        edge: u32,
        unit: u32,
        instance: u32,
        sent: SimTime,
        now: SimTime,
    ) {
        let model = &mut self.edges[edge as usize];
        if !model.balanced || instance == u32::MAX {
            return;
        }
        let first = self.services[model.callee as usize].first_instance;
        if let Some(balancer) = model
            .units
            .get_mut(unit as usize)
            .and_then(|u| u.balancer.as_mut())
        {
            let rtt = Duration::from_nanos(now.saturating_since(sent).as_nanos());
            balancer.on_reply(instance - first, now.as_nanos(), rtt);
        }
    }
}
