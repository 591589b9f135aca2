//! The key metrics a comparison reports, one line each: name, what it is,
//! unit, which direction is better, and how it is read off a run's
//! [`Summary`]. A new figure of summary.json is one more line of
//! [`METRICS`].
//!
//! Figures over several routes are taken over all of them together where
//! that is exact (counts, ratios of counts); a percentile cannot be merged
//! from per-route percentiles, so `p99_ms` is the slowest route's.

use crate::report::Summary;

/// Which way a metric is better.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Better {
    /// Higher is better (success rate, goodput).
    Higher,
    /// Lower is better (latency, failures, amplification).
    Lower,
}

/// How a metric's values are printed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Unit {
    /// A fraction, printed as a percentage.
    Percent,
    /// Milliseconds.
    Ms,
    /// A plain ratio (amplification).
    Ratio,
    /// Per second.
    PerSec,
    /// Seconds.
    Seconds,
    /// A whole number: written as an integer in compare.csv.
    Count,
}

impl Unit {
    /// The unit's suffix in tables.
    pub fn suffix(self) -> &'static str {
        match self {
            Unit::Percent => "%",
            Unit::Ms => " ms",
            Unit::Ratio => "×",
            Unit::PerSec => "/s",
            Unit::Seconds => " s",
            Unit::Count => "",
        }
    }

    /// `value` as compare.csv writes it: counts as integers, the rest to
    /// six decimals (the precision of summary.json).
    pub fn csv(self, value: f64) -> String {
        match self {
            Unit::Count => format!("{}", value as u64),
            _ => format!("{value:.6}"),
        }
    }

    /// `value` as the tables show it.
    pub fn show(self, value: f64) -> String {
        match self {
            Unit::Percent => format!("{:.2}", value * 100.0),
            Unit::Ms => format!("{value:.2}"),
            Unit::Ratio => format!("{value:.3}"),
            Unit::PerSec => format!("{value:.1}"),
            Unit::Seconds => format!("{value:.1}"),
            Unit::Count => format!("{value:.1}"),
        }
    }
}

/// One key metric.
pub struct Metric {
    /// Its column in compare.csv.
    pub name: &'static str,
    /// What it is, for tables and charts.
    pub title: &'static str,
    /// How it is printed.
    pub unit: Unit,
    /// Which way is better.
    pub better: Better,
    /// Its value in a run.
    pub extract: fn(&Summary) -> f64,
}

/// The key metrics, in the order of compare.csv's columns.
pub const METRICS: &[Metric] = &[
    Metric {
        name: "success_rate",
        title: "success rate",
        unit: Unit::Percent,
        better: Better::Higher,
        extract: success_rate,
    },
    Metric {
        name: "p99_ms",
        title: "p99 latency (slowest route)",
        unit: Unit::Ms,
        better: Better::Lower,
        extract: |s| {
            s.routes
                .values()
                .map(|r| r.latency_ms.p99)
                .fold(0.0, f64::max)
        },
    },
    Metric {
        name: "p50_ms",
        title: "median latency (slowest route)",
        unit: Unit::Ms,
        better: Better::Lower,
        extract: |s| {
            s.routes
                .values()
                .map(|r| r.latency_ms.p50)
                .fold(0.0, f64::max)
        },
    },
    Metric {
        name: "goodput_per_sec",
        title: "goodput",
        unit: Unit::PerSec,
        better: Better::Higher,
        extract: |s| s.routes.values().map(|r| r.goodput_per_sec).sum(),
    },
    Metric {
        name: "amplification",
        title: "retry amplification",
        unit: Unit::Ratio,
        better: Better::Lower,
        extract: amplification,
    },
    Metric {
        name: "failed",
        title: "failed requests",
        unit: Unit::Count,
        better: Better::Lower,
        extract: |s| {
            s.routes
                .values()
                .map(|r| {
                    r.requests
                        .saturating_sub(r.successes)
                        .saturating_sub(r.in_flight_at_end)
                })
                .sum::<u64>() as f64
        },
    },
    Metric {
        name: "timeouts",
        title: "client timeouts",
        unit: Unit::Count,
        better: Better::Lower,
        extract: |s| {
            s.routes
                .values()
                .map(|r| r.failures.timeout.unwrap_or(0))
                .sum::<u64>() as f64
        },
    },
    Metric {
        name: "retries",
        title: "retries sent",
        unit: Unit::Count,
        better: Better::Lower,
        extract: |s| {
            let routes: u64 = s.routes.values().map(|r| r.attempts.retries).sum();
            let edges: u64 = s.edges.values().map(|e| e.attempts.retries).sum();
            (routes + edges) as f64
        },
    },
    Metric {
        name: "late_successes",
        title: "wasted work (successes for callers that had given up)",
        unit: Unit::Count,
        better: Better::Lower,
        extract: |s| s.services.values().map(|v| v.late_successes).sum::<u64>() as f64,
    },
    Metric {
        name: "time_to_recover_s",
        title: "time to recover (longest, s; censored at the horizon)",
        unit: Unit::Seconds,
        better: Better::Lower,
        extract: time_to_recover,
    },
    Metric {
        name: "metastable",
        title: "metastable runs",
        unit: Unit::Percent,
        better: Better::Lower,
        extract: |s| if s.metastable { 1.0 } else { 0.0 },
    },
];

/// The longest time to recover of the run's faults, seconds: a recovered
/// fault's own, and for a fault not recovered by the horizon (the run is
/// metastable) the time from its end to the horizon, a lower bound of its
/// real time (censored), so that a run that never recovers is never better
/// than one that does. Faults that are not measurable count nothing, and a
/// run with none measurable gives 0.
fn time_to_recover(s: &Summary) -> f64 {
    s.recovery
        .faults
        .iter()
        .filter_map(|f| match f.status {
            "recovered" => f.time_to_recover_s,
            "not_recovered" => s
                .faults
                .get(f.fault)
                .and_then(|fault| fault.end_s)
                .map(|end| (s.duration_s - end).max(0.0)),
            _ => None,
        })
        .fold(0.0, f64::max)
}

/// Successes ÷ finished requests, over every route (0 if none finished).
fn success_rate(s: &Summary) -> f64 {
    let successes: u64 = s.routes.values().map(|r| r.successes).sum();
    let finished: u64 = s
        .routes
        .values()
        .map(|r| r.requests - r.in_flight_at_end)
        .sum();
    if finished > 0 {
        successes as f64 / finished as f64
    } else {
        0.0
    }
}

/// Requests reaching the services ÷ calls made to them, over every service
/// (summary.json's per-service `amplification`, taken together; 0 if no
/// service was called).
fn amplification(s: &Summary) -> f64 {
    let requests: u64 = s.services.values().map(|v| v.requests).sum();
    let calls: u64 = s.services.values().map(|v| v.calls).sum();
    if calls > 0 {
        requests as f64 / calls as f64
    } else {
        0.0
    }
}

/// The metrics of one run, in the order of [`METRICS`], rounded to six
/// decimals: what compare.csv holds is exactly what the statistics are
/// computed from, so the whole report is a function of compare.csv (a
/// committed comparison is checked that way, without its runs).
pub fn row(summary: &Summary) -> Vec<f64> {
    METRICS
        .iter()
        .map(|m| libm::round((m.extract)(summary) * 1e6) / 1e6)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metric_names_are_unique_csv_columns() {
        let mut names: Vec<&str> = METRICS.iter().map(|m| m.name).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), METRICS.len());
        assert!(names.iter().all(|n| {
            n.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        }));
    }

    #[test]
    fn counts_are_written_as_integers() {
        assert_eq!(Unit::Count.csv(1234.0), "1234");
        assert_eq!(Unit::Percent.csv(0.5), "0.500000");
    }
}
