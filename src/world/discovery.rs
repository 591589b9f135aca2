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
use crate::patterns::discovery::{
    CachedView, CachedViewConfig, OutlierDetector, PanicThreshold, ResultClass, Routing, Zone,
    mix64,
};
use crate::scenario::{NO_ZONE, ZoneId};

use super::draws::Message;
use super::registry::{Probe, Registry, RegistryDraws};
use super::slab::{Key, Slab};
use super::{Status, World};

/// The root of a view refresh's network draws.
const REFRESH: DrawKey = DrawKey::root(0xd15c_0005);
/// The root of a view's stagger (stream `discovery/stagger`), keyed by
/// edge, unit and process.
const REFRESH_STAGGER: DrawKey = DrawKey::root(0xd15c_0006);

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

/// Request keys looked up in a hashing balancer's tables before and after a
/// membership change, to measure the share that moved: the keys
/// `0..KEY_SAMPLE` (request keys are such integers, hashed by the tables,
/// so any range of them samples the hash space evenly). With 4,096 the
/// share's binomial standard error is under 0.8 points.
pub const KEY_SAMPLE: u64 = 4096;

/// How a hashing balancer's keys moved when its membership changed, over
/// the run, for one edge (every scope unit's rebuilds together).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct KeyMovement {
    /// Membership changes (rebuilds after a refresh changed the view).
    pub changes: u64,
    /// The sum of the shares of keys that moved, for the mean.
    pub moved_share_sum: f64,
    /// The largest share that moved at one change.
    pub moved_share_max: f64,
}

/// At most this many crashes are followed per run (more are counted in
/// `crashes_dropped`).
pub const MAX_CRASHES_FOLLOWED: usize = 10_000;

/// One crash of an instance of a reported service, and how long its
/// callers kept sending to it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct CrashDetection {
    /// The service and the instance within it.
    pub service: u32,
    /// The instance, within its service.
    pub instance: u32,
    /// When it crashed.
    pub at: SimTime,
    /// When it restarted (none: it was still down at the end).
    pub restarted: Option<SimTime>,
    /// The last attempt sent to it while it was down (none: not one).
    pub last_sent: Option<SimTime>,
    /// Whether its callers had stopped sending to it by the time it
    /// restarted or the run ended: no caller's view still held it.
    pub detected: bool,
    /// Attempts to it that failed while it was down.
    pub errors: u64,
}

impl CrashDetection {
    /// From the crash until the last caller stopped sending to it: the
    /// last send while it was down (0 when none came); none when it was not
    /// detected.
    pub fn detection_time(&self) -> Option<crate::kernel::SimDuration> {
        self.detected.then(|| {
            self.last_sent
                .map_or(crate::kernel::SimDuration::ZERO, |t| {
                    t.saturating_since(self.at)
                })
        })
    }
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
    /// Every crash of an instance of a reported service, in time order.
    pub crashes: Vec<CrashDetection>,
    /// Crashes beyond the first 10,000 (`MAX_CRASHES_FOLLOWED`), not followed.
    pub crashes_dropped: u64,
    /// Per service: what its registry did (none: not discovered).
    pub registries: Vec<Option<super::RegistryCounts>>,
    /// Per edge: how its hashing balancers' keys moved (none: not a
    /// hashing balancer, or its membership never changed).
    pub key_movement: Vec<Option<KeyMovement>>,
    /// The instance rows kept for charts, and each service's imbalance
    /// over every window (empty when no service is reported).
    pub series: crate::metrics::instances::InstanceSeries,
}

/// The world's discovery state.
pub(super) struct Discovery {
    /// Per instance (world index): since the start, and in the window.
    pub(super) counts: Vec<InstanceCounts>,
    pub(super) window: Vec<InstanceCounts>,
    /// Per instance: attempts in flight to it, time-weighted (its load).
    pub(super) outstanding: Vec<Level>,
    /// Whether any edge is balanced (otherwise nothing above is counted
    /// and no balancer is told anything: the plain path does no extra
    /// work, one predictable branch per attempt).
    pub(super) tracked: bool,
    /// The balancers' draws, keyed by attempt.
    pick: KeyedStream,
    /// Per service: its registry, if it is discovered.
    pub(super) registries: Vec<Option<Registry>>,
    /// Checks in flight.
    pub(super) probes: Slab<Probe>,
    pub(super) registry_draws: RegistryDraws,
    /// Per edge, per scope unit: the unit's cached view of the callee's
    /// registry (empty for an edge to a service without discovery).
    pub(super) views: Vec<Vec<UnitView>>,
    /// Scratch for a refresh's members, and for a pick's candidates.
    members: Vec<u32>,
    scratch: Vec<u32>,
    /// Ejections by outlier detectors so far.
    pub(super) ejections: u64,
    /// Per edge: its hashing balancers' key movement (sized by `build.rs`).
    pub(super) key_movement: Vec<Option<KeyMovement>>,
    /// Per instance: when an attempt was last sent to it, and the crash
    /// being followed (an index into `crashes`) with its failures so far
    /// when it crashed.
    last_sent: Vec<Option<SimTime>>,
    open_crash: Vec<Option<(usize, u64)>>,
    pub(super) crashes: Vec<CrashDetection>,
    pub(super) crashes_dropped: u64,
    /// Per service, its instances (indices within it) for callers with a
    /// balancer: their view without a registry. Empty for a service that
    /// no balanced edge calls.
    static_views: Vec<Vec<u32>>,
}

impl Discovery {
    /// Discovery state for services of these sizes; `balanced[s]` says
    /// whether some balanced edge calls service `s`.
    pub(super) fn new(
        streams: &RngStreams,
        instances: &[u32],
        balanced: &[bool],
        registries: Vec<Option<Registry>>,
    ) -> Discovery {
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
            registries,
            probes: Slab::default(),
            registry_draws: RegistryDraws::new(streams),
            views: Vec::new(),
            members: Vec::with_capacity(instances.iter().copied().max().unwrap_or(0) as usize),
            scratch: Vec::with_capacity(instances.iter().copied().max().unwrap_or(0) as usize),
            ejections: 0,
            key_movement: Vec::new(),
            last_sent: vec![None; total as usize],
            open_crash: vec![None; total as usize],
            crashes: Vec::new(),
            crashes_dropped: 0,
        }
    }
}

/// A scope unit's view of a discovered callee.
pub(super) struct UnitView {
    /// Its copy of the registry.
    cache: CachedView,
    /// The callee's instances.
    hosts: u32,
    /// Its edge and unit: its stagger's key.
    edge: u32,
    unit: u32,
}

impl UnitView {
    /// A fresh view of unit `unit` of `edge` in its `life`-th process: its
    /// start-up fetch is due at once, its first periodic refresh a keyed
    /// stagger within one interval after that (`CachedView::staggered`), so
    /// that the units, which all start at the same instant here, do not all
    /// refresh on one grid.
    pub(super) fn new(
        config: CachedViewConfig,
        hosts: u32,
        now: SimTime,
        stagger: KeyedStream,
        (edge, unit, life): (u32, u32, u32),
    ) -> UnitView {
        let key = REFRESH_STAGGER
            .child(u64::from(edge))
            .child(u64::from(unit))
            .child(u64::from(life));
        UnitView {
            cache: CachedView::staggered(config, hosts, now.as_nanos(), &mut stagger.rng(key))
                .expect("validated by the compile step"),
            hosts,
            edge,
            unit,
        }
    }

    /// The unit's process restarted at `now` (its `life`-th): it knows
    /// nothing, and fetches at its first pick.
    pub(super) fn restart(&mut self, now: SimTime, stagger: KeyedStream, life: u32) {
        let config = *self.cache.config();
        *self = UnitView::new(
            config,
            self.hosts,
            now,
            stagger,
            (self.edge, self.unit, life),
        );
    }
}

impl Discovery {
    /// Per service, whether its instances are reported one by one: some
    /// caller balances over it (every caller of a discovered service does).
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
        self.discovery.last_sent[i] = Some(now);
    }

    /// `instance` crashed at `now` (its first active crash): followed if
    /// its service is reported.
    pub(super) fn crash_started(&mut self, instance: u32, now: SimTime) {
        let service = self.instances[instance as usize].service;
        if !self.discovery.tracked || self.discovery.static_views[service as usize].is_empty() {
            return;
        }
        if self.discovery.crashes.len() >= MAX_CRASHES_FOLLOWED {
            self.discovery.crashes_dropped += 1;
            return;
        }
        let first = self.services[service as usize].first_instance;
        self.discovery.open_crash[instance as usize] = Some((
            self.discovery.crashes.len(),
            self.discovery.counts[instance as usize].failures,
        ));
        self.discovery.crashes.push(CrashDetection {
            service,
            instance: instance - first,
            at: now,
            restarted: None,
            last_sent: None,
            detected: false,
            errors: 0,
        });
    }

    /// The crash followed for `instance` ends at `now`: it restarted
    /// (`restarted`), or the run ended. Detected if no caller would send
    /// to it any more.
    pub(super) fn crash_ended(&mut self, instance: u32, now: SimTime, restarted: bool) {
        let Some((index, failures)) = self.discovery.open_crash[instance as usize].take() else {
            return;
        };
        let detected = !self.anyone_sends_to(instance);
        let i = instance as usize;
        let record = &mut self.discovery.crashes[index];
        record.restarted = restarted.then_some(now);
        record.last_sent = self.discovery.last_sent[i].filter(|&t| t >= record.at);
        record.detected = detected;
        record.errors = self.discovery.counts[i].failures - failures;
    }

    /// Closes the crashes still followed at the end of the run.
    pub(super) fn close_crashes(&mut self, end: SimTime) {
        for instance in 0..self.instances.len() as u32 {
            self.crash_ended(instance, end, false);
        }
    }

    /// The window's rows of the reported services' instances, into the
    /// closing window; the instances' window counts start over.
    pub(super) fn instance_rows(&mut self) {
        if !self.discovery.tracked {
            return;
        }
        for (service, model) in self.services.iter().enumerate() {
            if self.discovery.static_views[service].is_empty() {
                continue;
            }
            for host in 0..model.instances {
                let i = (model.first_instance + host) as usize;
                let counts = std::mem::take(&mut self.discovery.window[i]);
                let (in_pools, ejected_by) = self.pools_holding(service as u32, host);
                self.closing.instances.push(crate::metrics::InstanceRow {
                    service: service as u32,
                    instance: host,
                    requests: counts.requests,
                    successes: counts.successes,
                    failures: counts.failures,
                    in_flight: self.discovery.outstanding[i].value(),
                    registered: self.discovery.registries[service]
                        .as_ref()
                        .is_none_or(|r| r.is_member(host)),
                    in_pools,
                    ejected_by,
                });
            }
        }
    }

    /// How many callers' scope units would choose among `host` of
    /// `service` now, and how many have it ejected. A unit of an edge
    /// without a balancer counts as one holding every instance.
    fn pools_holding(&self, service: u32, host: u32) -> (u32, u32) {
        let (mut holding, mut ejecting) = (0, 0);
        for (e, model) in self.edges.iter().enumerate() {
            if model.callee != service {
                continue;
            }
            if !model.balanced {
                holding += 1;
                continue;
            }
            let views = &self.discovery.views[e];
            let panic = model
                .policy
                .map_or_else(PanicThreshold::default, |p| self.policies[p as usize].panic);
            for (u, state) in model.units.iter().enumerate() {
                let members = match views.get(u) {
                    Some(view) => view.cache.members(),
                    None => &self.discovery.static_views[service as usize],
                };
                let ejected = state.outlier.as_ref().is_some_and(|d| d.is_ejected(host));
                ejecting += u32::from(ejected);
                if !members.contains(&host) {
                    continue;
                }
                let chosen = match &state.outlier {
                    None => true,
                    Some(detector) => {
                        let healthy = members.iter().filter(|&&h| !detector.is_ejected(h)).count();
                        !ejected || panic.in_panic(members.len(), healthy)
                    }
                };
                holding += u32::from(chosen);
            }
        }
        (holding, ejecting)
    }

    /// Whether some caller would still send to `instance`: a caller without
    /// a balancer calls every instance; one with a balancer, while its view
    /// holds it.
    fn anyone_sends_to(&self, instance: u32) -> bool {
        let service = self.instances[instance as usize].service;
        let host = instance - self.services[service as usize].first_instance;
        self.pools_holding(service, host).0 > 0
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
    /// in `service` for the attempt keyed `draw` of `request`, among the
    /// unit's view; the balancer is told of the send. `None`: the view is
    /// empty (no instance is known to be healthy).
    pub(super) fn pick_balanced(
        &mut self,
        now: SimTime,
        (edge, unit): (u32, u32),
        draw: DrawKey,
        request: Key,
        service: u32,
        caller_zone: ZoneId,
    ) -> Option<u32> {
        let key = self
            .requests
            .get(request)
            .and_then(|context| context.key())
            .unwrap_or_else(|| mix64(draw.as_u64()));
        let discovered = !self.discovery.views[edge as usize].is_empty();
        if discovered {
            self.refresh_view(now, edge, unit, service);
        }
        let model = &mut self.edges[edge as usize];
        let panic = model
            .policy
            .map_or_else(PanicThreshold::default, |p| self.policies[p as usize].panic);
        let state = &mut model.units[unit as usize];
        let hosts: &[u32] = if discovered {
            self.discovery.views[edge as usize][unit as usize]
                .cache
                .members()
        } else {
            &self.discovery.static_views[service as usize]
        };
        // The balancer chooses among the healthy: the view minus the
        // ejected, unless that is a panic.
        let candidates = &mut self.discovery.scratch;
        let (view, routing): (&[u32], Routing) = match state.outlier.as_mut() {
            Some(detector) => {
                catch_up(detector, now);
                let routing = panic.select(hosts, |h| !detector.is_ejected(h), candidates);
                (candidates, routing)
            }
            None => (hosts, Routing::Healthy),
        };
        let first = self.services[service as usize].first_instance;
        // Zone awareness narrows the healthy view to one zone; in panic
        // Envoy skips it (`hostSourceToUse` checks panic first).
        let view: &[u32] = match self.zones.as_deref_mut() {
            Some(zones) if caller_zone != NO_ZONE && routing == Routing::Healthy => {
                match zones.routers[edge as usize].as_mut() {
                    Some(router) => {
                        let of = &zones.instance;
                        let zone_of = |h: u32| Zone::from(of[(first + h) as usize]);
                        let mut rng = zones.pick.rng(draw);
                        router.select(
                            Zone::from(caller_zone),
                            view,
                            zone_of,
                            &mut rng,
                            &mut zones.scratch,
                        );
                        &zones.scratch
                    }
                    None => view,
                }
            }
            _ => view,
        };
        let balancer = state
            .balancer
            .as_mut()
            .expect("every unit of a balanced edge has a balancer");
        let mut rng = self.discovery.pick.rng(draw);
        let host = balancer.choose(view, key, now.as_nanos(), &mut rng)?;
        balancer.on_send(host);
        Some(first + host)
    }

    /// Refreshes the view of `unit` on `edge` if it is due: a request to
    /// the registry and its answer over the network (a refresh is about the
    /// unit and its count, for the network's draws). Lost either way, it is
    /// a timed-out fetch: the unit keeps its view and backs off. The view
    /// changes at once when the fetch succeeds (the round trip's delay is
    /// not waited for). A hashing balancer rebuilds its table when the
    /// membership changed.
    fn refresh_view(&mut self, now: SimTime, edge: u32, unit: u32, service: u32) {
        let view = &mut self.discovery.views[edge as usize][unit as usize];
        if !view.cache.due(now.as_nanos()) {
            return;
        }
        let registry = self.discovery.registries[service as usize]
            .as_mut()
            .expect("a view is of a discovered service");
        if registry.is_down() {
            // Nobody answers: a timed-out fetch, the view kept.
            view.cache.refresh_timed_out(now.as_nanos());
            registry.counts.refreshes_failed += 1;
            return;
        }
        let model = &self.edges[edge as usize];
        let node = model.caller.unwrap_or(self.client_node) as usize;
        let (done, failed) = view.cache.counts();
        let draw = REFRESH
            .child(u64::from(edge))
            .child(u64::from(unit))
            .child(done + failed);
        let there = self
            .network
            .transmit(node, registry.node as usize, Message::Request, draw);
        let back = there.and_then(|_| {
            self.network
                .transmit(registry.node as usize, node, Message::Reply, draw)
        });
        if back.is_none() {
            view.cache.refresh_timed_out(now.as_nanos());
            registry.counts.refreshes_failed += 1;
            return;
        }
        registry.counts.refreshes += 1;
        // A process's first fetch fills an empty view: it placed no key yet,
        // so its table's rebuild is not a change of membership to measure.
        let first_fetch = view.cache.last_refresh_at().is_none();
        registry.members(&mut self.discovery.members);
        let changed = view.cache.members() != self.discovery.members.as_slice();
        view.cache
            .refresh(now.as_nanos(), self.discovery.members.iter().copied())
            .expect("a view holds every instance of its service");
        if !changed {
            return;
        }
        let state = &mut self.edges[edge as usize].units[unit as usize];
        let keys = if first_fetch { 0 } else { KEY_SAMPLE };
        if let Some(balancer) = state.balancer.as_mut()
            && let Some(moved) = balancer.rebuild_measured(&self.discovery.members, 0..keys)
            && !first_fetch
        {
            let record = self.discovery.key_movement[edge as usize].get_or_insert_default();
            record.changes += 1;
            record.moved_share_sum += moved.moved_share();
            record.moved_share_max = record.moved_share_max.max(moved.moved_share());
        }
        if let Some(detector) = state.outlier.as_mut() {
            // The detector's pool follows the view.
            catch_up(detector, now);
            let members = &self.discovery.members;
            for host in 0..view.hosts {
                match (members.contains(&host), detector.is_member(host)) {
                    (true, false) => detector.add_host(host),
                    (false, true) => detector.remove_host(host),
                    _ => {}
                }
            }
        }
    }

    /// Feeds an attempt's outcome to the outlier detector of its unit, as
    /// Envoy classifies it: a success or any non-5xx resets the counters;
    /// an error (500) is a 5xx; a 503 or a 504 is a gateway error; the
    /// caller's own timeout is a local-origin failure (a gateway error,
    /// Envoy's default mapping).
    pub(super) fn outlier_result(
        &mut self,
        edge: u32,
        unit: u32,
        instance: u32,
        outcome: Status,
        now: SimTime,
    ) {
        let model = &mut self.edges[edge as usize];
        if !model.balanced || instance == u32::MAX {
            return;
        }
        let first = self.services[model.callee as usize].first_instance;
        let Some(detector) = model
            .units
            .get_mut(unit as usize)
            .and_then(|u| u.outlier.as_mut())
        else {
            return;
        };
        let class = match outcome {
            Status::Internal => ResultClass::ServerError,
            Status::Unavailable | Status::GatewayTimeout => ResultClass::GatewayError,
            Status::Timeout => ResultClass::LocalOriginFailure,
            _ => ResultClass::Success,
        };
        catch_up(detector, now);
        if detector.on_result(now.as_nanos(), instance - first, class) {
            self.discovery.ejections += 1;
            if self.trace.is_some() {
                let kind = super::trace::InstantKind::Ejected {
                    edge,
                    unit,
                    instance,
                };
                self.trace_instant(now, kind);
            }
        }
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

/// Runs the detector's sweeps due by `now`, each at its own time, so that
/// ejections end on Envoy's grid of intervals whatever the traffic; every
/// use of a detector catches up first, so its time never goes backwards.
fn catch_up(detector: &mut OutlierDetector, now: SimTime) {
    let now = now.as_nanos();
    while detector.next_tick_at() <= now {
        let at = detector.next_tick_at();
        let _ = detector.tick(at);
    }
}
