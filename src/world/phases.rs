//! The phases of a run: maximal intervals with one set of active faults,
//! faults being recovered from and load changes in effect, known before the
//! run from the compiled fault timeline and the workload's schedule, and
//! every route's and service's outcomes split by phase.
//!
//! **Boundaries.** Time 0; each fault's start and end; each fault's end plus
//! [`RECOVERY_PHASE`] (the end of its recovery phase); each schedule
//! change's start and, for a spike or a ramp, its end. Between two
//! boundaries a phase has its *faults* (active throughout), its
//! *recovering* faults (ended less than [`RECOVERY_PHASE`] before, and not
//! active) and its *load changes* (a spike or a ramp in progress, or the
//! latest step). Neighbouring intervals with the same three sets are one
//! phase, so two overlapping faults give "A", "A and B", "B" and the
//! recoveries after them. A recovery phase has a fixed cap rather than
//! lasting "until recovered" so that every boundary is known before the
//! run (the attribution below needs it); the measured time to recover is
//! reported beside it (`metrics::recovery`).
//!
//! **Attribution.** A client request counts in the phase of its *send*
//! time, a service's request in the phase of its *arrival* at the instance.
//! By send time, a request's outcome belongs to the conditions it met when
//! it entered the system: a request sent during a crash that times out
//! after the crash ended is the crash's failure, not the recovery's, and
//! every phase's requests are exactly those offered in it (its rate is the
//! offered rate). By end time, the timeouts of a fault would spill into the
//! phase after it and a phase's counts would mix requests of two sets of
//! conditions. Requests still in flight at the end are counted in their
//! phase's requests and `in_flight_at_end`.
//!
//! **Bounds.** At most [`MAX_PHASES`] phases: a timeline with more
//! boundaries keeps the first `MAX_PHASES − 1` and merges the rest into
//! one last phase (`merged`). Memory is phases × (routes + services) ×
//! [`PhaseCounts`] (a 2-digit histogram, `LatencyHistogram::bytes_for(2)`,
//! about 27 KB, most of it zeroed pages never touched), allocated once. A
//! run with one phase (no faults and no schedule) records nothing per
//! request and allocates none: its one phase is the run's totals.

use crate::kernel::{SimDuration, SimTime};
use crate::metrics::PhaseCounts;
use crate::scenario::{FaultTarget, Scenario};

use super::calls::{Owner, Parent, counts_outcome};
use super::slab::Key;
use super::{EdgeModel, Job, JobState, Status, World};

/// How long a recovery phase lasts after a fault ends, at most (the next
/// boundary may end it sooner): 30 s, long enough for the bundled
/// scenarios' breakers (2 s to 10 s open), retry budgets (10 s) and
/// restarts to play out, short enough to leave a steady phase after.
pub const RECOVERY_PHASE: SimDuration = SimDuration::from_secs(30);

/// The most phases a run is split into.
pub const MAX_PHASES: usize = 64;

/// One phase of the run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Phase {
    /// Its start.
    pub start: SimTime,
    /// Its end (the next phase's start, or the horizon).
    pub end: SimTime,
    /// Faults active throughout (indices into the scenario's faults).
    pub faults: Vec<u32>,
    /// Faults ended less than [`RECOVERY_PHASE`] before, not active.
    pub recovering: Vec<u32>,
    /// Schedule changes in effect (indices into the workload's schedule):
    /// a spike or a ramp in progress, or the latest step.
    pub load_changes: Vec<u32>,
    /// The last phase, holding every boundary past [`MAX_PHASES`].
    pub merged: bool,
}

impl Phase {
    /// `fault`, `recovery` or `steady`: what the phase is mostly about (a
    /// phase with a load change is still one of these).
    pub fn kind(&self) -> &'static str {
        if !self.faults.is_empty() {
            "fault"
        } else if !self.recovering.is_empty() {
            "recovery"
        } else {
            "steady"
        }
    }
}

/// The phases of a run of `scenario`, in time order, covering
/// `[0, duration]`.
pub fn phases_of(scenario: &Scenario) -> Vec<Phase> {
    let horizon = SimTime::ZERO + scenario.duration;
    let spans: Vec<(SimTime, Option<SimTime>)> = scenario
        .faults
        .iter()
        .map(|f| {
            let start = SimTime::ZERO + f.at;
            (start, f.lasts.map(|d| start.saturating_add(d)))
        })
        .collect();
    // A change's span: a spike for its duration, a ramp over its length,
    // a step until the next change.
    let schedule = &scenario.workload.schedule;
    let load: Vec<(SimTime, SimTime)> = schedule
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let start = SimTime::ZERO + c.at;
            let end = match c.lasts.or(c.over) {
                Some(d) => start.saturating_add(d),
                None => schedule
                    .iter()
                    .skip(i + 1)
                    .map(|n| SimTime::ZERO + n.at)
                    .filter(|&t| t > start)
                    .min()
                    .unwrap_or(SimTime::MAX),
            };
            (start, end)
        })
        .collect();
    let mut bounds = vec![SimTime::ZERO];
    for &(start, end) in &spans {
        bounds.push(start);
        if let Some(end) = end {
            bounds.push(end);
            bounds.push(end.saturating_add(RECOVERY_PHASE));
        }
    }
    for &(start, end) in &load {
        bounds.push(start);
        bounds.push(end);
    }
    bounds.retain(|&t| t < horizon);
    bounds.sort_unstable();
    bounds.dedup();
    let mut phases: Vec<Phase> = Vec::new();
    for (i, &start) in bounds.iter().enumerate() {
        let end = bounds.get(i + 1).copied().unwrap_or(horizon);
        let active =
            |&(s, e): &(SimTime, Option<SimTime>)| s <= start && e.is_none_or(|e| start < e);
        let indices = |keep: &dyn Fn(usize) -> bool, n: usize| -> Vec<u32> {
            (0..n).filter(|&i| keep(i)).map(|i| i as u32).collect()
        };
        let faults = indices(&|f| active(&spans[f]), spans.len());
        let recovering = indices(
            &|f| {
                !active(&spans[f])
                    && spans[f]
                        .1
                        .is_some_and(|e| e <= start && start < e.saturating_add(RECOVERY_PHASE))
            },
            spans.len(),
        );
        let load_changes = indices(&|c| load[c].0 <= start && start < load[c].1, load.len());
        let full = phases.len() == MAX_PHASES;
        match phases.last_mut() {
            Some(last)
                if last.faults == faults
                    && last.recovering == recovering
                    && last.load_changes == load_changes =>
            {
                last.end = end;
            }
            Some(last) if full => {
                last.end = end;
                last.merged = true;
            }
            _ => phases.push(Phase {
                start,
                end,
                faults,
                recovering,
                load_changes,
                merged: false,
            }),
        }
    }
    phases
}

/// Outcomes by phase, per route and per service, recorded as the run goes.
pub(super) struct PhaseTracker {
    /// Each phase's start, in order (the first is 0).
    starts: Vec<SimTime>,
    routes: usize,
    services: usize,
    /// More than one phase: outcomes are recorded by phase.
    recording: bool,
    /// The phase of the last lookup, and its span.
    last: usize,
    last_start: SimTime,
    last_end: SimTime,
    /// Phase-major: phase `p`, route `r` at `p × routes + r`.
    pub(super) route_counts: Vec<PhaseCounts>,
    /// Phase-major, as `route_counts`.
    pub(super) service_counts: Vec<PhaseCounts>,
}

impl PhaseTracker {
    /// A tracker for `phases`; it records nothing (and allocates nothing)
    /// when there is only one.
    pub(super) fn new(phases: &[Phase], routes: usize, services: usize) -> Self {
        let recording = phases.len() > 1;
        let n = if recording { phases.len() } else { 0 };
        PhaseTracker {
            starts: phases.iter().map(|p| p.start).collect(),
            routes,
            services,
            recording,
            last: 0,
            last_start: SimTime::ZERO,
            last_end: phases.get(1).map_or(SimTime::MAX, |p| p.start),
            route_counts: (0..n * routes).map(|_| PhaseCounts::default()).collect(),
            service_counts: (0..n * services).map(|_| PhaseCounts::default()).collect(),
        }
    }

    /// Whether outcomes are recorded by phase (more than one phase).
    #[inline]
    pub(super) fn recording(&self) -> bool {
        self.recording
    }

    /// The phase of instant `t`: most lookups are of the phase of the last
    /// one (a job's arrival, a request's send: recent times), so that one is
    /// tried first, with a binary search otherwise.
    #[inline]
    fn phase_of(&mut self, t: SimTime) -> usize {
        if self.last_start <= t && t < self.last_end {
            return self.last;
        }
        let phase = self.starts.partition_point(|&s| s <= t).saturating_sub(1);
        self.last = phase;
        self.last_start = self.starts[phase];
        self.last_end = self.starts.get(phase + 1).copied().unwrap_or(SimTime::MAX);
        phase
    }

    /// Route `route`'s counts for a request sent at `sent` (recording only).
    #[inline]
    pub(super) fn route(&mut self, route: u32, sent: SimTime) -> &mut PhaseCounts {
        let index = self.phase_of(sent) * self.routes + route as usize;
        &mut self.route_counts[index]
    }

    /// Counts a request refused at the bound on requests in flight (it
    /// ends as it is sent), if recording.
    pub(super) fn count_route_capped(&mut self, route: u32, now: SimTime) {
        if self.recording() {
            let counts = &mut self.route(route, now).counts;
            counts.requests += 1;
            counts.capped += 1;
        }
    }

    /// Counts the end of a service's request that arrived at `arrived`:
    /// one more request, and its outcome by `f`, if recording. (Counting
    /// the request at its end rather than its arrival costs one phase
    /// lookup per job instead of two; those still in the system at the end
    /// are added by `count_in_flight_by_phase`.)
    #[inline]
    pub(super) fn count_service(
        &mut self,
        service: u32,
        arrived: SimTime,
        f: impl FnOnce(&mut PhaseCounts),
    ) {
        if self.recording() {
            let counts = self.service(service, arrived);
            counts.counts.requests += 1;
            f(counts);
        }
    }

    /// Service `service`'s counts for a request that arrived at `arrived`
    /// (recording only).
    #[inline]
    pub(super) fn service(&mut self, service: u32, arrived: SimTime) -> &mut PhaseCounts {
        let index = self.phase_of(arrived) * self.services + service as usize;
        &mut self.service_counts[index]
    }
}

/// The edge of each (caller node, callee) pair, sorted by pair, with
/// `u32::MAX` for a pair that several edges share (several routes into one
/// service, or several policies between two services).
pub(super) fn pair_edges(edges: &[EdgeModel], client_node: u32) -> Vec<((u32, u32), u32)> {
    let mut pairs: Vec<((u32, u32), u32)> = edges
        .iter()
        .enumerate()
        .map(|(i, e)| ((e.caller.unwrap_or(client_node), e.callee), i as u32))
        .collect();
    pairs.sort_unstable();
    let mut out: Vec<((u32, u32), u32)> = Vec::with_capacity(pairs.len());
    for (pair, edge) in pairs {
        match out.last_mut() {
            Some(last) if last.0 == pair => last.1 = u32::MAX,
            _ => out.push((pair, edge)),
        }
    }
    out
}

/// Whether a success can ever be late in a world of `edges` and `faults`:
/// only if some caller can give up on an attempt before its reply, by a
/// timeout, a give-up time or deadline, a policy (deadlines, hedges), or a
/// crash that abandons its calls.
pub(super) fn late_possible(edges: &[EdgeModel], faults: &[FaultTarget]) -> bool {
    edges
        .iter()
        .any(|e| e.policy.is_some() || e.attempt_timeout.is_some() || e.give_up_after.is_some())
        || faults
            .iter()
            .any(|f| matches!(f, FaultTarget::Crash { .. }))
}

impl World<'_> {
    /// Counts the end of a client request in the phase it was sent in.
    pub(super) fn count_route_phase(&mut self, request: Key, outcome: Status, now: SimTime) {
        let Some(context) = self.requests.get(request) else {
            return;
        };
        let (route, sent) = (context.route, context.sent);
        let counts = self.phases.route(route, sent);
        counts.counts.requests += 1;
        counts_outcome(&mut counts.counts, outcome);
        if outcome == Status::Ok {
            counts.latency.record(now - sent);
        }
    }

    /// Whether the job, a success about to be sent, serves a caller that
    /// has given up: its attempt timed out or was cancelled, its call
    /// ended (a hedge won, the call gave up), or its client request ended.
    /// Returns the edge it was sent on, when that can be told.
    pub(super) fn late_success(&self, job: &Job) -> Option<Option<u32>> {
        // Work for no request (a consumer's handler, a saga's or a
        // publish's call) is never orphaned by one ending.
        let request_gone = || {
            job.request != super::slab::Key::DANGLING && self.requests.get(job.request).is_none()
        };
        match self.attempts.get(job.attempt) {
            Some(a) => {
                let late = match a.owner {
                    // A saga's call serves its saga, not a request.
                    Owner::Call(call) => match self.calls.get(call) {
                        None => true,
                        Some(c) => {
                            !matches!(c.parent, Parent::Saga { .. } | Parent::Publish(_))
                                && request_gone()
                        }
                    },
                    Owner::Direct {
                        parent: Parent::Saga { .. } | Parent::Publish(_),
                        ..
                    } => false,
                    // A client's own attempt outlives neither its request
                    // nor its timeout: live, it is waited for.
                    Owner::Direct {
                        parent: Parent::Client { .. },
                        ..
                    } => false,
                    Owner::Direct { .. } => request_gone(),
                };
                late.then_some(Some(a.edge))
            }
            None => {
                let service = self.instances[job.instance as usize].service;
                let pair = (job.caller, service);
                let edge = self
                    .pair_edges
                    .binary_search_by_key(&pair, |&(p, _)| p)
                    .ok()
                    .map(|i| self.pair_edges[i].1)
                    .filter(|&e| e != u32::MAX);
                Some(edge)
            }
        }
    }

    /// Counts what is still in flight when the run ends in the phase it
    /// was sent (a client request: it was not counted yet) or arrived in
    /// (a service's request: counted on arrival).
    pub(super) fn count_in_flight_by_phase(&mut self) {
        if !self.phases.recording() {
            return;
        }
        for key in self.requests.keys_where(|_| true) {
            let context = self.requests.get(key).expect("listed as live");
            let counts = self.phases.route(context.route, context.sent);
            counts.counts.requests += 1;
            counts.in_flight_at_end += 1;
        }
        let jobs = self
            .jobs
            .keys_where(|j| j.origin != super::Origin::Probe && j.state != JobState::InTransit);
        for key in jobs {
            let job = self.jobs.get(key).expect("listed as live");
            let service = self.instances[job.instance as usize].service;
            let counts = self.phases.service(service, job.arrived);
            counts.counts.requests += 1;
            counts.in_flight_at_end += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A phase as (start s, end s, kind, faults, recovering, load changes).
    type Row = (u64, u64, &'static str, Vec<u32>, Vec<u32>, Vec<u32>);

    fn phases(json: &str) -> Vec<Row> {
        let compiled = crate::scenario::parse(json, "phases.json").expect("valid");
        phases_of(compiled.scenario())
            .into_iter()
            .map(|p| {
                (
                    p.start.as_nanos() / 1_000_000_000,
                    p.end.as_nanos() / 1_000_000_000,
                    p.kind(),
                    p.faults,
                    p.recovering,
                    p.load_changes,
                )
            })
            .collect()
    }

    const SERVICE: &str = r#""services": {"s": {"service_time": {"constant": "1ms"}}}"#;

    #[test]
    fn a_run_without_faults_or_schedule_is_one_steady_phase() {
        let json = format!(
            r#"{{"name": "p", "duration": "10s", {SERVICE},
               "workload": {{"arrivals": {{"constant": {{"rate": 10}}}},
                            "routes": [{{"service": "s"}}]}}}}"#
        );
        assert_eq!(phases(&json), [(0, 10, "steady", vec![], vec![], vec![])]);
    }

    #[test]
    fn a_spike_and_a_step_are_phases_of_their_own() {
        let json = format!(
            r#"{{"name": "p", "duration": "100s", {SERVICE},
               "workload": {{"arrivals": {{"constant": {{"rate": 10}}}},
                            "schedule": [{{"at": "10s", "rate": 20, "for": "5s"}},
                                         {{"at": "50s", "rate": 5}}],
                            "routes": [{{"service": "s"}}]}}}}"#
        );
        assert_eq!(
            phases(&json),
            [
                (0, 10, "steady", vec![], vec![], vec![]),
                (10, 15, "steady", vec![], vec![], vec![0]),
                (15, 50, "steady", vec![], vec![], vec![]),
                (50, 100, "steady", vec![], vec![], vec![1]),
            ]
        );
    }

    #[test]
    fn phases_beyond_the_cap_merge_into_the_last() {
        // 100 one-second crashes, one every 40 s: 300 boundaries.
        let faults: Vec<String> = (0..100)
            .map(|i| {
                format!(
                    r#"{{"at": "{}s", "for": "1s", "crash": {{"service": "s"}}}}"#,
                    1 + 40 * i
                )
            })
            .collect();
        let json = format!(
            r#"{{"name": "p", "duration": "4000s", {SERVICE},
               "workload": {{"arrivals": {{"constant": {{"rate": 10}}}},
                            "routes": [{{"service": "s"}}]}},
               "faults": [{}]}}"#,
            faults.join(",")
        );
        let compiled = crate::scenario::parse(&json, "phases.json").expect("valid");
        let p = phases_of(compiled.scenario());
        assert_eq!(p.len(), MAX_PHASES);
        assert!(p.last().unwrap().merged);
        assert!(p[..MAX_PHASES - 1].iter().all(|p| !p.merged));
        assert_eq!(p.last().unwrap().end.as_nanos(), 4000 * 1_000_000_000);
        // Still a partition of the run.
        assert!(p.windows(2).all(|w| w[0].end == w[1].start));
    }
}
