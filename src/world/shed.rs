//! Server-side load shedding (`Service::shed`): each instance of a service
//! that sheds runs the patterns' [`LoadShedder`], asked on every arrival
//! before the queue (a shed request is answered 503 at once, and counted
//! `rejected`, as a full queue's refusal is) and told the queue's length
//! whenever it changes, so that a shedding episode starts exactly when the
//! queue reaches the high watermark and ends when it has drained to the low
//! one (by PASTA, the share of Poisson arrivals shed is then the share of
//! time spent shedding).
//!
//! The shedder is process memory: a crash empties the queue (which ends an
//! episode) and a restart starts accepting.

use crate::kernel::SimTime;
use crate::patterns::gateway::shed::{LoadShedder, ShedConfig, ShedReason, ShedState, ShedVerdict};
use crate::scenario::Compiled;

/// The shedders of a world where some service sheds.
pub(super) struct Shedders {
    /// Per instance, its shedder (none: its service does not shed).
    per_instance: Vec<Option<LoadShedder>>,
    /// Per instance, when its current shedding episode began.
    since: Vec<Option<SimTime>>,
    /// Per instance, its service.
    service_of: Vec<u32>,
    /// Per service, its configuration and what it shed (none: it does not
    /// shed).
    counts: Vec<Option<ShedCounts>>,
}

/// What a service's load shedding did in a run, for reports.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ShedCounts {
    /// Its configuration.
    pub config: ShedConfig,
    /// Requests shed because the queue was past its watermark.
    pub queue: u64,
    /// Requests shed because `max_concurrency` were in service.
    pub concurrency: u64,
    /// Shedding episodes (an instance's queue crossing the high watermark),
    /// over all its instances.
    pub episodes: u64,
    /// Time spent shedding by the queue trigger, summed over its instances
    /// (an episode still open at the end counts up to the end), ns.
    pub shedding_ns: u64,
}

impl Shedders {
    /// The shedders of `compiled`'s instances, numbered as the world
    /// numbers them (`service_of`); none when no service sheds.
    pub(super) fn new(compiled: &Compiled, service_of: &[u32]) -> Option<Box<Shedders>> {
        let configs = compiled.shed();
        if configs.iter().all(Option::is_none) {
            return None;
        }
        let per_instance = service_of
            .iter()
            .map(|&s| {
                configs[s as usize].map(|c| LoadShedder::new(c).expect("validated when compiled"))
            })
            .collect();
        Some(Box::new(Shedders {
            per_instance,
            since: vec![None; service_of.len()],
            service_of: service_of.to_vec(),
            counts: configs
                .iter()
                .map(|c| {
                    c.map(|config| ShedCounts {
                        config,
                        queue: 0,
                        concurrency: 0,
                        episodes: 0,
                        shedding_ns: 0,
                    })
                })
                .collect(),
        }))
    }

    /// Whether a request arriving at `instance` now, with `queued` waiting
    /// and `busy` in service, is shed.
    #[inline]
    pub(super) fn sheds(&mut self, instance: u32, now: SimTime, queued: usize, busy: u32) -> bool {
        let Some(shedder) = &mut self.per_instance[instance as usize] else {
            return false;
        };
        let verdict = shedder.decide(now.as_nanos(), clamp(queued), busy);
        self.follow(instance);
        let ShedVerdict::Shed(reason) = verdict else {
            return false;
        };
        let counts = self.counts[self.service_of[instance as usize] as usize]
            .as_mut()
            .expect("a shedding service has counts");
        match reason {
            ShedReason::Queue => counts.queue += 1,
            ShedReason::Concurrency => counts.concurrency += 1,
        }
        true
    }

    /// `instance`'s queue holds `queued` now (a request left it, or a crash
    /// emptied it).
    #[inline]
    pub(super) fn queue_length(&mut self, instance: u32, now: SimTime, queued: usize) {
        if let Some(shedder) = &mut self.per_instance[instance as usize] {
            shedder.handle_queue_length(now.as_nanos(), clamp(queued));
            self.follow(instance);
        }
    }

    /// A restarted instance's new process starts accepting.
    pub(super) fn restart(&mut self, instance: u32) {
        if let Some(shedder) = &mut self.per_instance[instance as usize] {
            *shedder = LoadShedder::new(*shedder.config()).expect("validated when compiled");
        }
        self.since[instance as usize] = None;
    }

    /// Times the shedder's transitions into its service's episodes.
    fn follow(&mut self, instance: u32) {
        let i = instance as usize;
        let shedder = self.per_instance[i].as_mut().expect("a shedding instance");
        while let Some((at, state)) = shedder.poll_transition() {
            let at = SimTime::from_nanos(at);
            let counts = self.counts[self.service_of[i] as usize]
                .as_mut()
                .expect("a shedding service has counts");
            match state {
                ShedState::Shedding => {
                    counts.episodes += 1;
                    self.since[i] = Some(at);
                }
                ShedState::Accepting => {
                    if let Some(start) = self.since[i].take() {
                        counts.shedding_ns += (at - start).as_nanos();
                    }
                }
            }
        }
    }

    /// Per service, what it shed, with the episodes still open closed at
    /// `end`.
    pub(super) fn outcome(&mut self, end: SimTime) -> Vec<Option<ShedCounts>> {
        for (i, since) in self.since.iter_mut().enumerate() {
            if let Some(start) = since.take()
                && let Some(counts) = &mut self.counts[self.service_of[i] as usize]
            {
                counts.shedding_ns += (end - start).as_nanos();
            }
        }
        std::mem::take(&mut self.counts)
    }
}

/// A queue length as the shedder counts it (a queue is bounded by its
/// `queue_capacity`, a `u32`).
fn clamp(queued: usize) -> u32 {
    u32::try_from(queued).unwrap_or(u32::MAX)
}
