//! A service's `shed` block in summary.json: what its load shedding did.

use serde::Serialize;

use crate::metrics::round6;
use crate::world::ShedCounts;

/// A service's load shedding over the run (`Service::shed`).
#[derive(Clone, Debug, Serialize)]
pub struct ShedSummary {
    /// Shedding starts at this queue length (absent: only
    /// `max_concurrency` sheds).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub queue_high: Option<u32>,
    /// And stops once the queue has drained to this.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub queue_low: Option<u32>,
    /// Requests in service past which it sheds too (absent: no cap).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_concurrency: Option<u32>,
    /// Requests shed (answered 503 before the queue; counted in
    /// `failures.rejected` too), by the queue trigger and by the
    /// concurrency cap.
    pub shed_queue: u64,
    /// See `shed_queue`.
    pub shed_concurrency: u64,
    /// Times an instance's queue reached the high watermark.
    pub episodes: u64,
    /// Time spent shedding by the queue trigger, summed over the instances.
    pub shedding_s: f64,
}

/// The `shed` block of a service whose shedding counted `s`.
pub(super) fn shed_summary(s: &ShedCounts) -> ShedSummary {
    ShedSummary {
        queue_high: (s.config.queue_high != u32::MAX).then_some(s.config.queue_high),
        queue_low: (s.config.queue_high != u32::MAX).then_some(s.config.queue_low),
        max_concurrency: s.config.max_concurrency,
        shed_queue: s.queue,
        shed_concurrency: s.concurrency,
        episodes: s.episodes,
        shedding_s: round6(s.shedding_ns as f64 / 1e9),
    }
}
