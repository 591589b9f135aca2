//! The `fallback` block of an edge or a route in summary.json: what its
//! policy's fallback did.

use serde::Serialize;

use crate::scenario::Compiled;
use crate::world::RunOutcome;

/// What an edge's fallback did.
#[derive(Clone, Debug, Serialize)]
pub struct FallbackSummary {
    /// `service` (a call to another service), `static` or `cached`.
    pub answer: &'static str,
    /// The edge the fallback calls are made on (for `service`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub edge: Option<String>,
    /// Calls that failed with a status the fallback covers.
    pub triggered: u64,
    /// Of those, answered by the fallback: degraded successes for the
    /// caller (the edge's own counts keep the failure).
    pub served: u64,
    /// Of those, not saved: no cached answer fresh enough, or the fallback
    /// call failed too.
    pub failed: u64,
}

/// What the fallback of edge `edge` did, if its policy has one.
pub(super) fn fallback_summary(
    run: &RunOutcome,
    compiled: &Compiled,
    edge: usize,
) -> Option<FallbackSummary> {
    let policy = compiled
        .scenario()
        .policies
        .get(run.edges[edge].policy.as_ref()?)?;
    let fallback = policy.fallback.as_ref()?;
    let counts = run.edge_stats[edge].fallback;
    Some(FallbackSummary {
        answer: match (&fallback.service, fallback.cached) {
            (Some(_), _) => "service",
            (None, Some(_)) => "cached",
            (None, None) => "static",
        },
        edge: run
            .edges
            .iter()
            .find(|e| e.fallback_of == Some(edge as u32))
            .map(|e| e.name.clone()),
        triggered: counts.triggered,
        served: counts.served,
        failed: counts.failed,
    })
}
