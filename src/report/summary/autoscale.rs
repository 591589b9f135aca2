//! The `autoscale` block of an autoscaled service in summary.json: its
//! bounds, what its syncs decided (counts by kind, and every change of the
//! count), what the instances cost (instance-seconds, and their mean), and
//! how long it took to get ready capacity after asking for more. Drawn from
//! [`AutoscaleOutcome`]; everything listed is bounded as the outcome is (at
//! most [`MAX_DECISIONS`](crate::metrics::autoscale::MAX_DECISIONS)
//! decisions and [`MAX_EPISODES`](crate::metrics::autoscale::MAX_EPISODES)
//! shortfalls kept, the rest counted in the `_dropped` fields).

use super::*;
use crate::metrics::autoscale::AutoscaleOutcome;

/// What a service's autoscaler did.
#[derive(Clone, Debug, Serialize)]
pub struct AutoscaleSummary {
    /// The fewest instances it may run.
    pub min_instances: u32,
    /// The most.
    pub max_instances: u32,
    /// The instances at the start.
    pub initial_instances: u32,
    /// Syncs (decisions computed or held).
    pub syncs: u64,
    /// Syncs that added instances.
    pub scale_ups: u64,
    /// Syncs that removed instances.
    pub scale_downs: u64,
    /// Syncs that held the count because the metric could not be computed.
    pub syncs_without_metric: u64,
    /// Syncs whose change the rate policies limited.
    pub rate_limited: u64,
    /// Syncs whose change `max_instances` or `min_instances` limited.
    pub bounded: u64,
    /// Instance starts refused by a `scale_limit` fault, counted at each
    /// sync that wanted them.
    pub starts_refused: u64,
    /// Instances the autoscaler started.
    pub started: u64,
    /// Instances it stopped.
    pub stopped: u64,
    /// The integral of the instances it ran (starting, ready, not ready,
    /// down or draining), instance-seconds: the cost.
    pub instance_seconds: f64,
    /// `instance_seconds` ÷ the seconds observed.
    pub mean_instances: f64,
    /// The most instances decided at once.
    pub peak_desired: u32,
    /// The most ready at once.
    pub peak_ready: u32,
    /// How long its shortfalls of ready capacity lasted.
    pub time_to_capacity: TimeToCapacitySummary,
    /// Every sync that changed the count (`to` ≠ `from`), in time order,
    /// among the decisions kept.
    pub changes: Vec<ScaleChangeSummary>,
    /// Decisions not kept (beyond 10,000): changes among them are not in
    /// `changes`, though counted in `scale_ups` and `scale_downs`.
    pub decisions_dropped: u64,
}

/// Shortfalls of ready capacity: from a sync that decided more instances
/// than were ready until that many were.
#[derive(Clone, Debug, Serialize)]
pub struct TimeToCapacitySummary {
    /// Shortfalls that ended (among those kept).
    pub shortfalls: u64,
    /// Their mean duration, seconds (none when none ended).
    pub mean_s: Option<f64>,
    /// The longest, seconds (none when none ended).
    pub max_s: Option<f64>,
    /// Shortfalls still open when the run ended.
    pub open_at_end: u64,
    /// Shortfalls not kept (beyond 10,000), in none of the figures above.
    pub shortfalls_dropped: u64,
}

/// One sync that changed the count.
#[derive(Clone, Debug, Serialize)]
pub struct ScaleChangeSummary {
    /// When, seconds.
    pub at_s: f64,
    /// The count before.
    pub from: u32,
    /// The count decided.
    pub to: u32,
    /// What the metric alone asked for (none: it could not be computed).
    pub recommendation: Option<u32>,
    /// The metric per instance, in the target's unit (percent of workers
    /// busy, or requests).
    pub metric: Option<f64>,
    /// Why: `computed`, `rate_limited`, `bounded`, `no_metric` or
    /// `out_of_bounds`.
    pub reason: &'static str,
}

/// The mean number of instances an autoscaler ran over `elapsed_s`
/// seconds (0 for a run of no time).
pub(super) fn mean_instances(outcome: &AutoscaleOutcome, elapsed_s: f64) -> f64 {
    if elapsed_s > 0.0 {
        outcome.instance_seconds / elapsed_s
    } else {
        0.0
    }
}

pub(super) fn autoscale_summary(outcome: &AutoscaleOutcome, elapsed_s: f64) -> AutoscaleSummary {
    let closed = outcome.time_to_capacity();
    let open_at_end = outcome
        .episodes
        .iter()
        .filter(|e| e.closed.is_none())
        .count() as u64;
    AutoscaleSummary {
        min_instances: outcome.min_instances,
        max_instances: outcome.max_instances,
        initial_instances: outcome.initial_instances,
        syncs: outcome.syncs,
        scale_ups: outcome.scale_ups,
        scale_downs: outcome.scale_downs,
        syncs_without_metric: outcome.syncs_without_metric,
        rate_limited: outcome.rate_limited,
        bounded: outcome.bounded,
        starts_refused: outcome.starts_refused,
        started: outcome.started,
        stopped: outcome.stopped,
        instance_seconds: round6(outcome.instance_seconds),
        mean_instances: round6(mean_instances(outcome, elapsed_s)),
        peak_desired: outcome.peak_desired,
        peak_ready: outcome.peak_ready,
        time_to_capacity: TimeToCapacitySummary {
            shortfalls: closed.map_or(0, |(n, _, _)| n as u64),
            mean_s: closed.map(|(_, mean, _)| round6(mean)),
            max_s: closed.map(|(_, _, max)| round6(max)),
            open_at_end,
            shortfalls_dropped: outcome.episodes_dropped,
        },
        changes: outcome
            .decisions
            .iter()
            .filter(|d| d.to != d.from)
            .map(|d| ScaleChangeSummary {
                at_s: secs(d.at),
                from: d.from,
                to: d.to,
                recommendation: d.recommendation,
                metric: d.metric.filter(|m| m.is_finite()).map(round6),
                reason: d.reason.name(),
            })
            .collect(),
        decisions_dropped: outcome.decisions_dropped,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernel::SimDuration;
    use crate::metrics::autoscale::{CapacityEpisode, DecisionReason, ScaleDecision};

    fn at(s: u64) -> SimTime {
        SimTime::ZERO + SimDuration::from_secs(s)
    }

    fn decision(s: u64, from: u32, to: u32, reason: DecisionReason) -> ScaleDecision {
        ScaleDecision {
            at: at(s),
            from,
            to,
            recommendation: Some(to + 1),
            metric: Some(80.123_456_789),
            measured: from,
            unmeasured: 0,
            reason,
        }
    }

    /// Only the syncs that changed the count are listed; the shortfalls'
    /// figures count the closed ones, the open one apart; the mean of the
    /// instances is over the seconds observed.
    #[test]
    fn lists_the_changes_and_times_the_closed_shortfalls() {
        let outcome = AutoscaleOutcome {
            min_instances: 2,
            max_instances: 8,
            initial_instances: 2,
            syncs: 3,
            scale_ups: 1,
            instance_seconds: 250.0,
            decisions: vec![
                decision(0, 2, 2, DecisionReason::Computed),
                decision(15, 2, 4, DecisionReason::RateLimited),
                decision(30, 4, 4, DecisionReason::Computed),
            ],
            decisions_dropped: 7,
            episodes: vec![
                CapacityEpisode {
                    opened: at(15),
                    closed: Some(at(45)),
                    ready_at_open: 2,
                    peak_desired: 4,
                },
                CapacityEpisode {
                    opened: at(90),
                    closed: None,
                    ready_at_open: 4,
                    peak_desired: 6,
                },
            ],
            episodes_dropped: 1,
            ..AutoscaleOutcome::default()
        };
        let summary = autoscale_summary(&outcome, 100.0);
        assert_eq!(summary.mean_instances, 2.5);
        assert_eq!(summary.changes.len(), 1);
        let change = &summary.changes[0];
        assert_eq!((change.at_s, change.from, change.to), (15.0, 2, 4));
        assert_eq!(change.recommendation, Some(5));
        assert_eq!(change.metric, Some(80.123457));
        assert_eq!(change.reason, "rate_limited");
        assert_eq!(summary.decisions_dropped, 7);
        let ttc = &summary.time_to_capacity;
        assert_eq!(ttc.shortfalls, 1);
        assert_eq!(ttc.mean_s, Some(30.0));
        assert_eq!(ttc.max_s, Some(30.0));
        assert_eq!(ttc.open_at_end, 1);
        assert_eq!(ttc.shortfalls_dropped, 1);
        // No time observed: no mean, and no division by zero.
        assert_eq!(autoscale_summary(&outcome, 0.0).mean_instances, 0.0);
    }
}
