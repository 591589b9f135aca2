//! Autoscaled services: the patterns' Kubernetes autoscaler ([`Hpa`]) told
//! the time at each sync and given each instance's metric, and a
//! ReplicaSet-like controller that starts and stops instances until the
//! service runs as many as it decided.
//!
//! - **Slots.** An autoscaled service has `max_instances` instances (its
//!   slots); those beyond `instances` start *held*: stopped, unregistered,
//!   running no loop. A scale-up releases held slots (the lowest stopped
//!   one first): the instance restarts through the lifecycle
//!   (`lifecycle.rs`), boots for its `boot_time` (a fresh draw, keyed by
//!   the instance and its restart count, times any active `slow_boot`),
//!   becomes ready, and registers; callers learn of it only at their next
//!   view refresh. A scale-down holds instances again, as a ReplicaSet
//!   picks the pods to delete (`getPodsToDelete`'s ranking): starting ones
//!   first, then down or not-ready ones, then the most recently ready,
//!   then the highest index; each deregisters and drains (refusing new
//!   work with 503, finishing what it holds). A slot still draining cannot
//!   be started again: a scale-up that finds only draining slots waits for
//!   one to stop (the controller reconciles again then).
//! - **Syncs.** The first sync is at t = 0, then every `sync_period`, as
//!   the HPA controller's resync. The count the autoscaler changes is its
//!   own last decision (`spec.replicas`), not what happens to be running.
//! - **The metric.** Per instance it runs, the time-average over the last
//!   `metric_window` of its busy workers (`utilization_percent`, as a
//!   share of its workers: exact integrals, updated as jobs start and end),
//!   of its requests waiting or in service (`in_flight`), or of its queue
//!   (`queue_length`), as a resource or `Pods` metric of the metrics
//!   pipeline would give it. An instance ready for only part of the window
//!   is averaged over that part; one ready just now has no sample
//!   (Kubernetes' *missing* pod); a starting, crashed or stopped one is
//!   *unready*; a not-ready one (readiness, `readiness.rs`) is measured
//!   like a ready one (Kubernetes counts a long-running not-ready pod's
//!   CPU); instances being removed are left out. The HPA fills in missing
//!   and unready pods to damp a change, as Kubernetes does
//!   (`patterns::autoscale::recommend`).
//! - **Faults.** `metrics_outage`: no samples, the count holds (Kubernetes'
//!   `FailedGetResourceMetric`). `scale_limit`: at most that many instances
//!   may run; starts beyond are refused, counted at each sync that wanted
//!   them (a ResourceQuota's `FailedCreate`, or a cluster without room),
//!   and made once the fault ends. `slow_boot`: boots that start while it
//!   lasts are longer.
//!
//! What it reports (`metrics::autoscale`): its instances window by window,
//! every sync's decision, each shortfall of ready capacity
//! (from a sync that decided more instances than were ready until that
//! many were), and the instance-seconds it ran.
//!
//! **Architecture Invariant:** a scenario without `autoscale` has no
//! autoscaler and no meter switched on; its only cost is one predictable
//! branch where an instance's busy workers or queue change.

use std::collections::VecDeque;

use crate::kernel::{Kernel, SimDuration, SimTime};
use crate::metrics::Level;
use crate::metrics::autoscale::{
    AutoscaleOutcome, AutoscaleRow, CapacityEpisode, DecisionReason, MAX_DECISIONS, MAX_EPISODES,
    ScaleDecision,
};
use crate::patterns::autoscale::{Hpa, Limit, Pod, Reason};
use crate::scenario::FaultTarget;
use crate::scenario::compile::{AutoscaleMetric, CompiledAutoscale};

use super::lifecycle::InstanceState;
use super::{Event, Instance, World};

/// An instance's busy workers and queue length integrated over time, in
/// count·ns, since the start of the run.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(super) struct Areas {
    busy: u128,
    queued: u128,
}

/// The integrals of one instance (kept, in `World::meters`, only for
/// the instances of autoscaled services: their `metered` flag).
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct Meter {
    since: SimTime,
    areas: Areas,
}

/// Brings instance `index`'s meter up to `now`, if it has one: to be
/// called before its busy workers or its queue change. One predictable
/// branch for an instance without.
#[inline(always)]
pub(super) fn observe(meters: &mut [Meter], index: u32, instance: &Instance, now: SimTime) {
    if instance.metered {
        advance(&mut meters[index as usize], instance, now);
    }
}

#[cold]
#[inline(never)]
fn advance(meter: &mut Meter, instance: &Instance, now: SimTime) {
    meter.areas = areas_at(meter, instance, now);
    meter.since = now;
}

/// The integrals of `instance` at `now` (not before its last change).
fn areas_at(meter: &Meter, instance: &Instance, now: SimTime) -> Areas {
    let dt = u128::from(now.saturating_since(meter.since).as_nanos());
    Areas {
        busy: meter.areas.busy + u128::from(instance.busy) * dt,
        queued: meter.areas.queued + instance.queue.len() as u128 * dt,
    }
}

/// One autoscaled service's autoscaler and controller.
pub(super) struct Autoscaler {
    hpa: Hpa,
    metric: AutoscaleMetric,
    window: SimDuration,
    /// The count last decided (`spec.replicas`).
    desired: u32,
    /// Per slot (instance within the service): held stopped by the
    /// controller.
    held: Vec<bool>,
    /// Per slot: when it last became ready, and its integrals then.
    ready_since: Vec<(SimTime, Areas)>,
    /// The integrals of every slot at the start of each open metric
    /// window, by the sync it is for (at most
    /// `validate::autoscale::MAX_WINDOWS_PER_SYNC`).
    marks: VecDeque<(u64, Vec<Areas>)>,
    /// Syncs so far: the next one's number.
    syncs: u64,
    /// The sync whose window the next mark starts.
    next_mark: u64,
    sync_period: SimDuration,
    /// The most instances that may run (`scale_limit`), if capped.
    limit: Option<u32>,
    /// The metrics pipeline is down (`metrics_outage`).
    metrics_down: bool,
    /// The metric at the last sync, per instance, in the target's unit.
    last_metric: Option<f64>,
    /// The shortfall of ready capacity being followed.
    episode: Option<CapacityEpisode>,
    /// Instances it runs (not held, or held and still draining).
    running: Level,
    /// Scratch for a sync's samples.
    pods: Vec<Pod>,
    /// Inside `reconcile`: a stop that ends at once does not re-enter.
    reconciling: bool,
    pub(super) outcome: AutoscaleOutcome,
}

impl Autoscaler {
    /// The autoscaler of a service with `slots` instances, `initial` of
    /// them running at the start.
    pub(super) fn new(spec: &CompiledAutoscale, slots: u32, initial: u32) -> Autoscaler {
        let hpa = Hpa::new(spec.config, spec.target, 0).expect("validated by the compile step");
        let mut running = Level::default();
        for _ in 0..initial {
            running.increment(SimTime::ZERO);
        }
        let sync_period = SimDuration::from_nanos(
            u64::try_from(spec.config.sync_period.as_nanos()).unwrap_or(u64::MAX),
        );
        let first_mark = spec.metric_window.as_nanos() / sync_period.as_nanos().max(1) + 1;
        Autoscaler {
            next_mark: first_mark,
            sync_period,
            hpa,
            metric: spec.metric,
            window: spec.metric_window,
            desired: initial,
            held: (0..slots).map(|i| i >= initial).collect(),
            ready_since: vec![(SimTime::ZERO, Areas::default()); slots as usize],
            marks: VecDeque::new(),
            syncs: 0,
            limit: None,
            metrics_down: false,
            last_metric: None,
            episode: None,
            running,
            pods: Vec::with_capacity(slots as usize),
            reconciling: false,
            outcome: AutoscaleOutcome {
                min_instances: spec.config.min_replicas,
                max_instances: spec.config.max_replicas,
                initial_instances: initial,
                peak_desired: initial,
                peak_ready: initial,
                rows_merged: 1,
                ..AutoscaleOutcome::default()
            },
        }
    }

    /// When the metric window of sync `k` starts (none: at or before 0).
    fn mark_time(&self, k: u64) -> Option<SimTime> {
        let sync = self.sync_period.as_nanos().saturating_mul(k);
        sync.checked_sub(self.window.as_nanos())
            .filter(|&t| t > 0)
            .map(SimTime::from_nanos)
    }
}

impl World<'_> {
    /// Schedules every autoscaler's first sync (at once) and the start of
    /// its first metric window that begins after 0.
    pub(super) fn start_autoscalers(&mut self, kernel: &mut Kernel<Event>) {
        for service in 0..self.autoscalers.len() {
            let Some(a) = &self.autoscalers[service] else {
                continue;
            };
            let mark = a.mark_time(a.next_mark);
            kernel.schedule_at(SimTime::ZERO, Event::AutoscaleSync(service as u32));
            if let Some(at) = mark {
                kernel.schedule_at(at, Event::AutoscaleMark(service as u32));
            }
        }
    }

    /// The metric window of one of `service`'s syncs starts: every slot's
    /// integrals are noted.
    #[inline(never)]
    pub(super) fn autoscale_mark(&mut self, kernel: &mut Kernel<Event>, service: u32) {
        let now = kernel.now();
        let model = &self.services[service as usize];
        let slots = model.first_instance..model.first_instance + model.instances;
        let areas: Vec<Areas> = slots
            .map(|i| areas_at(&self.meters[i as usize], &self.instances[i as usize], now))
            .collect();
        let a = self.autoscalers[service as usize]
            .as_mut()
            .expect("a mark of an autoscaled service");
        let k = a.next_mark;
        a.next_mark += 1;
        debug_assert_eq!(a.mark_time(k), Some(now), "marks follow the syncs");
        a.marks.push_back((k, areas));
        if let Some(next) = a.mark_time(k + 1)
            && next < SimTime::ZERO + self.duration
        {
            kernel.schedule_at(next, Event::AutoscaleMark(service));
        }
    }

    /// A sync of `service`'s autoscaler: the metric of each instance it
    /// runs over the window, the decision, and the controller's
    /// reconciliation.
    #[inline(never)]
    pub(super) fn autoscale_sync(&mut self, kernel: &mut Kernel<Event>, service: u32) {
        let now = kernel.now();
        let model = &self.services[service as usize];
        let (first, slots, concurrency) =
            (model.first_instance, model.instances, model.concurrency);
        let a = self.autoscalers[service as usize]
            .as_mut()
            .expect("a sync of an autoscaled service");
        let k = a.syncs;
        a.syncs += 1;
        let start = now.as_nanos().saturating_sub(a.window.as_nanos());
        let start = SimTime::from_nanos(start);
        let marked = match a.marks.front() {
            Some((j, _)) if *j == k => a.marks.pop_front().map(|(_, areas)| areas),
            _ => None,
        };
        debug_assert!(
            marked.is_some() || start == SimTime::ZERO,
            "a window that starts after 0 was marked"
        );
        a.pods.clear();
        let (mut total, mut measured) = (0.0, 0u32);
        for slot in 0..slots {
            if a.held[slot as usize] {
                continue;
            }
            let instance = &self.instances[(first + slot) as usize];
            let request = u64::from(concurrency) * 1000;
            let pod = match instance.state {
                InstanceState::Ready | InstanceState::NotReady => {
                    let (ready_at, ready_areas) = a.ready_since[slot as usize];
                    let (from, areas_then) = if ready_at > start {
                        (ready_at, ready_areas)
                    } else {
                        let at_start = marked
                            .as_ref()
                            .map_or(Areas::default(), |m| m[slot as usize]);
                        (start, at_start)
                    };
                    let span = u128::from(now.saturating_since(from).as_nanos());
                    let areas = areas_at(&self.meters[(first + slot) as usize], instance, now);
                    let area = match a.metric {
                        AutoscaleMetric::Utilization => areas.busy - areas_then.busy,
                        AutoscaleMetric::InFlight => {
                            (areas.busy + areas.queued) - (areas_then.busy + areas_then.queued)
                        }
                        AutoscaleMetric::QueueLength => areas.queued - areas_then.queued,
                    };
                    // The time-average, in thousandths; none over no time (ready
                    // just now: Kubernetes' missing pod).
                    match (area * 1000).checked_div(span) {
                        None => Pod::Missing { request },
                        Some(average) => {
                            let usage = average.min(u128::from(u64::MAX)) as u64;
                            total += usage as f64 / 1000.0;
                            measured += 1;
                            Pod::Ready { usage, request }
                        }
                    }
                }
                _ => Pod::Unready { request },
            };
            a.pods.push(pod);
        }
        let samples = (!a.metrics_down).then_some(a.pods.as_slice());
        if a.metrics_down {
            measured = 0;
        }
        a.last_metric = (measured > 0).then(|| {
            let mean = total / f64::from(measured);
            match a.metric {
                AutoscaleMetric::Utilization => 100.0 * mean / f64::from(concurrency),
                _ => mean,
            }
        });
        let current = a.desired;
        let decision = a.hpa.sync(now.as_nanos(), current, samples);
        let (reason, recommendation) = match decision.reason {
            Reason::NotDue => unreachable!("syncs are scheduled when due"),
            Reason::ScalingDisabled | Reason::AboveMax | Reason::BelowMin => {
                (DecisionReason::OutOfBounds, None)
            }
            Reason::NoMetric(_) => (DecisionReason::NoMetric, None),
            Reason::Computed {
                recommendation,
                limit,
                ..
            } => (
                match limit {
                    Limit::None => DecisionReason::Computed,
                    Limit::ScaleUpLimit | Limit::ScaleDownLimit => DecisionReason::RateLimited,
                    Limit::TooManyReplicas | Limit::TooFewReplicas => DecisionReason::Bounded,
                },
                Some(recommendation),
            ),
        };
        let out = &mut a.outcome;
        out.syncs += 1;
        match reason {
            DecisionReason::NoMetric => out.syncs_without_metric += 1,
            DecisionReason::RateLimited => out.rate_limited += 1,
            DecisionReason::Bounded => out.bounded += 1,
            _ => {}
        }
        if decision.desired > current {
            out.scale_ups += 1;
        } else if decision.desired < current {
            out.scale_downs += 1;
        }
        if out.decisions.len() < MAX_DECISIONS {
            out.decisions.push(ScaleDecision {
                at: now,
                from: current,
                to: decision.desired,
                recommendation,
                metric: a.last_metric,
                measured,
                unmeasured: a.pods.len() as u32 - measured,
                reason,
            });
        } else {
            out.decisions_dropped += 1;
        }
        a.desired = decision.desired;
        out.peak_desired = out.peak_desired.max(a.desired);
        let next = SimTime::from_nanos(a.hpa.next_sync_at());
        if next < SimTime::ZERO + self.duration {
            kernel.schedule_at(next, Event::AutoscaleSync(service));
        }
        self.reconcile(kernel, service, true);
        self.follow_capacity(now, service, true);
    }

    /// The controller: starts held instances, or holds running ones, until
    /// the service runs as many as decided (within an active
    /// `scale_limit`). At a sync, starts refused by the limit are counted.
    fn reconcile(&mut self, kernel: &mut Kernel<Event>, service: u32, at_sync: bool) {
        let model = &self.services[service as usize];
        let (first, slots) = (model.first_instance, model.instances);
        let Some(a) = self.autoscalers[service as usize].as_mut() else {
            return;
        };
        if a.reconciling {
            return;
        }
        a.reconciling = true;
        let running = a.held.iter().filter(|h| !**h).count() as u32;
        if running < a.desired {
            let cap = a.limit.map_or(a.desired, |l| l.min(a.desired));
            let allowed = cap.saturating_sub(running);
            if at_sync {
                a.outcome.starts_refused += u64::from(a.desired - running - allowed);
            }
            // Held slots that can start: stopped ones, then ones a crash
            // holds down (they come up when it ends), lowest first; one
            // still draining cannot.
            let mut free: Vec<(u8, u32)> = (0..slots)
                .filter(|&s| a.held[s as usize])
                .filter_map(|s| match self.instances[(first + s) as usize].state {
                    InstanceState::Stopped => Some((0, s)),
                    InstanceState::Crashed => Some((1, s)),
                    _ => None,
                })
                .collect();
            free.sort_unstable();
            let starting: Vec<u32> = free
                .into_iter()
                .take(allowed as usize)
                .map(|(_, s)| s)
                .collect();
            for slot in starting {
                let a = self.autoscalers[service as usize].as_mut().expect("above");
                a.held[slot as usize] = false;
                a.outcome.started += 1;
                self.resume_instance(kernel, first + slot);
            }
        } else if running > a.desired {
            let excess = (running - a.desired) as usize;
            // ReplicaSet's deletion ranking: not yet up before up, not
            // ready before ready, the most recently ready first, then the
            // highest index.
            let mut victims: Vec<(u8, std::cmp::Reverse<SimTime>, std::cmp::Reverse<u32>)> = (0
                ..slots)
                .filter(|&s| !a.held[s as usize])
                .map(|s| {
                    let rank = match self.instances[(first + s) as usize].state {
                        InstanceState::Starting => 0,
                        InstanceState::Crashed
                        | InstanceState::Stopped
                        | InstanceState::Draining => 1,
                        InstanceState::NotReady => 2,
                        InstanceState::Ready => 3,
                    };
                    let since = a.ready_since[s as usize].0;
                    (rank, std::cmp::Reverse(since), std::cmp::Reverse(s))
                })
                .collect();
            victims.sort_unstable();
            for (_, _, std::cmp::Reverse(slot)) in victims.into_iter().take(excess) {
                let a = self.autoscalers[service as usize].as_mut().expect("above");
                a.held[slot as usize] = true;
                a.outcome.stopped += 1;
                self.stop_instance(kernel, first + slot);
            }
        }
        self.count_running(kernel.now(), service);
        if let Some(a) = self.autoscalers[service as usize].as_mut() {
            a.reconciling = false;
        }
    }

    /// Brings the level of running instances up to date.
    fn count_running(&mut self, now: SimTime, service: u32) {
        let model = &self.services[service as usize];
        let (first, slots) = (model.first_instance, model.instances);
        let Some(a) = self.autoscalers[service as usize].as_mut() else {
            return;
        };
        let running = (0..slots)
            .filter(|&s| {
                let instance = &self.instances[(first + s) as usize];
                !a.held[s as usize]
                    || instance.state == InstanceState::Draining
                    || instance.lingering > 0
            })
            .count() as u64;
        let level = a.running.value();
        if running > level {
            for _ in level..running {
                a.running.increment(now);
            }
        } else if running < level {
            a.running.subtract(now, level - running);
        }
    }

    /// Follows the shortfall of ready capacity: one opens at a sync that
    /// decided more instances than are ready, and closes once as many are
    /// ready as are then decided.
    fn follow_capacity(&mut self, now: SimTime, service: u32, at_sync: bool) {
        let ready = self.ready_instances(service);
        let Some(a) = self.autoscalers[service as usize].as_mut() else {
            return;
        };
        a.outcome.peak_ready = a.outcome.peak_ready.max(ready);
        match &mut a.episode {
            Some(episode) if ready >= a.desired => {
                episode.closed = Some(now);
                let done = *episode;
                a.episode = None;
                push_episode(&mut a.outcome, done);
            }
            Some(episode) => episode.peak_desired = episode.peak_desired.max(a.desired),
            None if at_sync && a.desired > ready => {
                a.episode = Some(CapacityEpisode {
                    opened: now,
                    closed: None,
                    ready_at_open: ready,
                    peak_desired: a.desired,
                });
            }
            None => {}
        }
    }

    /// The service's ready instances that the controller runs.
    fn ready_instances(&self, service: u32) -> u32 {
        let model = &self.services[service as usize];
        let Some(a) = &self.autoscalers[service as usize] else {
            return 0;
        };
        (0..model.instances)
            .filter(|&s| {
                !a.held[s as usize]
                    && self.instances[(model.first_instance + s) as usize].state
                        == InstanceState::Ready
            })
            .count() as u32
    }

    /// The lifecycle's hook: instance `index` of an autoscaled service
    /// changed from `from` to `to`.
    #[inline(never)]
    pub(super) fn autoscaled_transition(
        &mut self,
        kernel: &mut Kernel<Event>,
        index: u32,
        from: InstanceState,
        to: InstanceState,
    ) {
        let service = self.instances[index as usize].service;
        let now = kernel.now();
        let slot = index - self.services[service as usize].first_instance;
        let areas = areas_at(
            &self.meters[index as usize],
            &self.instances[index as usize],
            now,
        );
        let Some(a) = self.autoscalers[service as usize].as_mut() else {
            return;
        };
        if to == InstanceState::Ready && matches!(from, InstanceState::Starting) {
            a.ready_since[slot as usize] = (now, areas);
        }
        if to == InstanceState::Stopped && a.held[slot as usize] {
            // A slot is free: a scale-up may have waited for it.
            self.reconcile(kernel, service, false);
        }
        self.count_running(now, service);
        self.follow_capacity(now, service, false);
    }

    /// A `scale_limit` or `metrics_outage` of `service` started or ended:
    /// the autoscaler's view of them is recomputed, and the controller
    /// reconciles (a lifted limit lets waiting starts go).
    pub(super) fn autoscale_faults(&mut self, kernel: &mut Kernel<Event>, service: u32) {
        let (mut limit, mut down) = (None::<u32>, false);
        for (effect, active) in &self.faults {
            match (effect, active) {
                (
                    FaultTarget::ScaleLimit {
                        service: s,
                        instances,
                    },
                    true,
                ) if *s == service => {
                    limit = Some(limit.map_or(*instances, |l| l.min(*instances)));
                }
                (FaultTarget::MetricsOutage { service: s }, true) if *s == service => down = true,
                _ => {}
            }
        }
        if let Some(a) = self.autoscalers[service as usize].as_mut() {
            a.limit = limit;
            a.metrics_down = down;
        }
        self.reconcile(kernel, service, false);
    }

    /// The window's row of each autoscaled service, into the closing
    /// window (the rows kept for charts are a recorder's,
    /// `metrics::autoscale::AutoscaleSeries`).
    pub(super) fn autoscale_rows(&mut self) {
        for service in 0..self.autoscalers.len() {
            let Some(a) = &self.autoscalers[service] else {
                continue;
            };
            let model = &self.services[service];
            let mut row = AutoscaleRow {
                service: service as u32,
                desired: a.desired,
                metric: a.last_metric,
                requests: self.service_stats[service].window.requests,
                ..AutoscaleRow::default()
            };
            for slot in 0..model.instances {
                let state = self.instances[(model.first_instance + slot) as usize].state;
                if a.held[slot as usize] {
                    let lingering =
                        self.instances[(model.first_instance + slot) as usize].lingering;
                    row.draining += u32::from(state == InstanceState::Draining || lingering > 0);
                    continue;
                }
                match state {
                    InstanceState::Starting => row.starting += 1,
                    InstanceState::Ready => row.ready += 1,
                    InstanceState::NotReady => row.not_ready += 1,
                    InstanceState::Draining => row.draining += 1,
                    InstanceState::Stopped | InstanceState::Crashed => row.down += 1,
                }
            }
            self.closing.autoscale.push(row);
        }
    }

    /// Every autoscaler's outcome at the end of the run (`end`): its
    /// instance-seconds, and the shortfall still open.
    pub(super) fn autoscale_outcomes(&mut self, end: SimTime) -> Vec<Option<AutoscaleOutcome>> {
        self.autoscalers
            .iter_mut()
            .map(|a| {
                a.as_mut().map(|a| {
                    let mut outcome = std::mem::take(&mut a.outcome);
                    outcome.instance_seconds = a.running.mean_until(end) * end.as_secs_f64();
                    if let Some(open) = a.episode.take() {
                        push_episode(&mut outcome, open);
                    }
                    outcome
                })
            })
            .collect()
    }
}

fn push_episode(outcome: &mut AutoscaleOutcome, episode: CapacityEpisode) {
    if outcome.episodes.len() < MAX_EPISODES {
        outcome.episodes.push(episode);
    } else {
        outcome.episodes_dropped += 1;
    }
}
