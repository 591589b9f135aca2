//! The `statuses` of a route, a client or an edge in summary.json: its
//! ended calls by [status](crate::world::Status), with a route's latency
//! by status.

use serde::Serialize;

use crate::metrics::{Counts, LatencySummary, RouteStats};
use crate::world::Status;

/// The calls that ended with one status.
#[derive(Clone, Debug, Serialize)]
pub struct StatusSummary {
    /// The status's name, e.g. `"too_many_requests"`.
    pub status: &'static str,
    /// The HTTP code a real service would send (null for the caller's own
    /// outcomes: a timeout, an open breaker...).
    pub http: Option<u16>,
    /// Calls that ended with it.
    pub count: u64,
    /// Their end-to-end latency, ms: from the request's first attempt to
    /// the status (routes only; a timeout's is the time given up after).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub latency_ms: Option<LatencySummary>,
}

/// The statuses that ended some call of `counts`, in `Status::ALL`'s order.
pub(super) fn statuses(counts: &Counts) -> Vec<StatusSummary> {
    Status::ALL
        .iter()
        .zip(counts.statuses())
        .filter(|(_, n)| *n > 0)
        .map(|(status, count)| StatusSummary {
            status: status.name(),
            http: status.http_code(),
            count,
            latency_ms: None,
        })
        .collect()
}

/// A route's statuses, each with its latency.
pub(super) fn route_statuses(stats: &RouteStats) -> Vec<StatusSummary> {
    let mut out = statuses(&stats.total);
    for entry in &mut out {
        let index = Status::ALL
            .iter()
            .position(|s| s.name() == entry.status)
            .expect("a status of the vocabulary");
        entry.latency_ms = Some(match &stats.status_latency[index] {
            _ if index == 0 => stats.latency.summary(),
            Some(histogram) => histogram.summary(),
            None => LatencySummary::default(),
        });
    }
    out
}
