//! Latency histograms: HDR histograms in microseconds with an exact count,
//! sum and maximum beside them, so means and maxima are exact and
//! percentiles are within the histogram's stated precision.
//!
//! Memory is fixed at creation and independent of the number of values.

use hdrhistogram::Histogram;
use serde::Serialize;

use crate::kernel::SimDuration;

/// The largest value the histogram resolves: one hour (larger values are
/// clamped into the top bucket; the exact maximum is kept beside it).
const HIGHEST_US: u64 = 3_600_000_000;

/// A latency histogram.
#[derive(Clone, Debug)]
pub struct LatencyHistogram {
    histogram: Histogram<u64>,
    count: u64,
    sum_ns: u128,
    max_ns: u64,
}

/// Percentiles of a latency histogram, in milliseconds.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct LatencySummary {
    /// Number of values.
    pub count: u64,
    /// Exact mean.
    pub mean: f64,
    /// Median.
    pub p50: f64,
    /// 90th percentile.
    pub p90: f64,
    /// 99th percentile.
    pub p99: f64,
    /// 99.9th percentile.
    pub p999: f64,
    /// Exact maximum.
    pub max: f64,
}

impl LatencyHistogram {
    /// A histogram with `significant_digits` (1–5) of precision: 3 for run
    /// totals (0.1%), 2 for per-window series (1%, a tenth of the memory).
    pub fn new(significant_digits: u8) -> Self {
        LatencyHistogram {
            histogram: Histogram::new_with_bounds(1, HIGHEST_US, significant_digits)
                .expect("constant, valid histogram bounds"),
            count: 0,
            sum_ns: 0,
            max_ns: 0,
        }
    }

    /// Records one value.
    #[inline]
    pub fn record(&mut self, value: SimDuration) {
        let ns = value.as_nanos();
        self.count += 1;
        self.sum_ns += u128::from(ns);
        self.max_ns = self.max_ns.max(ns);
        self.histogram.saturating_record((ns / 1_000).max(1));
    }

    /// Number of values recorded.
    pub fn count(&self) -> u64 {
        self.count
    }

    /// Exact sum of the values, in nanoseconds.
    pub fn sum_ns(&self) -> u128 {
        self.sum_ns
    }

    /// The value at quantile `q` in [0, 1], in milliseconds (0 if empty).
    pub fn quantile_ms(&self, q: f64) -> f64 {
        if self.count == 0 {
            return 0.0;
        }
        // Never report more than the exact maximum: the top bucket's upper
        // edge can exceed it.
        let us = self.histogram.value_at_quantile(q);
        (us as f64 / 1_000.0).min(self.max_ns as f64 / 1e6)
    }

    /// Exact mean in milliseconds (0 if empty).
    pub fn mean_ms(&self) -> f64 {
        if self.count == 0 {
            0.0
        } else {
            self.sum_ns as f64 / self.count as f64 / 1e6
        }
    }

    /// The summary reported in `summary.json`.
    pub fn summary(&self) -> LatencySummary {
        LatencySummary {
            count: self.count,
            mean: round3(self.mean_ms()),
            p50: round3(self.quantile_ms(0.5)),
            p90: round3(self.quantile_ms(0.9)),
            p99: round3(self.quantile_ms(0.99)),
            p999: round3(self.quantile_ms(0.999)),
            max: round3(self.max_ns as f64 / 1e6),
        }
    }

    /// Forgets every value, keeping the memory.
    pub fn reset(&mut self) {
        self.histogram.reset();
        self.count = 0;
        self.sum_ns = 0;
        self.max_ns = 0;
    }
}

/// Rounds to 3 decimals (microseconds, for milliseconds) for stable output.
pub fn round3(x: f64) -> f64 {
    (x * 1e3).round() / 1e3
}

/// Rounds to 6 decimals, for ratios and rates in reports.
pub fn round6(x: f64) -> f64 {
    (x * 1e6).round() / 1e6
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_are_within_precision_and_mean_is_exact() {
        let mut h = LatencyHistogram::new(3);
        for ms in 1..=1000u64 {
            h.record(SimDuration::from_millis(ms));
        }
        assert_eq!(h.count(), 1000);
        assert!((h.mean_ms() - 500.5).abs() < 1e-9);
        let s = h.summary();
        assert!((s.p50 - 500.0).abs() <= 0.5, "{s:?}");
        assert!((s.p99 - 990.0).abs() <= 1.0, "{s:?}");
        assert_eq!(s.max, 1000.0);
        h.reset();
        assert_eq!(h.summary(), LatencySummary::default());
    }

    #[test]
    fn sub_microsecond_and_huge_values_do_not_panic() {
        let mut h = LatencyHistogram::new(2);
        h.record(SimDuration::ZERO);
        h.record(SimDuration::from_secs(100_000));
        assert_eq!(h.count(), 2);
        assert!(h.quantile_ms(1.0) <= 100_000_000.0);
    }
}
