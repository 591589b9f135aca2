//! Latency histograms: log-linear (HDR) histograms in microseconds with an
//! exact count, sum and maximum beside them, so means and maxima are exact
//! and percentiles are within the histogram's stated precision.
//!
//! The bucket layout and the quantile rule are those of HdrHistogram (and of
//! the `hdrhistogram` crate, which a test checks this against value for
//! value): values below `2 × 10^digits` µs are exact, larger ones are kept to
//! `digits` significant decimal digits. We keep our own implementation
//! because recording is on the hot path of every request: the crate's
//! general `record` (any counter type, auto-resize, its own min and max,
//! saturating counts) was 14.6% of an M/M/1 run; this one is a shift, a
//! leading-zero count and an increment.
//!
//! Memory is fixed at creation and independent of the number of values.

use serde::Serialize;

use crate::kernel::SimDuration;

/// The largest value the histogram resolves: one hour (larger values are
/// clamped into the top bucket; the exact maximum is kept beside it).
const HIGHEST_US: u64 = 3_600_000_000;

/// A histogram's bucket layout: HdrHistogram's, with a lowest value of 1 µs
/// and single-unit resolution up to 2 × 10^digits, rounded up to a power of
/// two sub-buckets.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Layout {
    /// `log2` of half the number of sub-buckets per bucket.
    half_magnitude: u32,
    /// `64 - log2(sub-buckets per bucket)`: turns a leading-zero count into
    /// a bucket index.
    leading_zero_base: u32,
    /// `sub-buckets per bucket - 1`: values below it are all in bucket 0.
    sub_bucket_mask: u64,
}

/// The layout of a window's histogram (2 significant digits).
const WINDOW_LAYOUT: Layout = Layout::of(2);
/// Its number of buckets.
const WINDOW_LEN: usize = Layout::len_of(2);
/// The layout of a run total's histogram (3 significant digits).
const TOTAL_LAYOUT: Layout = Layout::of(3);
/// Its number of buckets.
const TOTAL_LEN: usize = Layout::len_of(3);

impl Layout {
    /// `ceil(log2(2 × 10^digits))`: the sub-buckets per bucket are 2 to it.
    const fn magnitude(significant_digits: u8) -> u32 {
        let largest = 2 * 10u64.pow(significant_digits as u32);
        64 - (largest - 1).leading_zeros()
    }

    const fn of(significant_digits: u8) -> Layout {
        let magnitude = Layout::magnitude(significant_digits);
        Layout {
            half_magnitude: magnitude - 1,
            leading_zero_base: 64 - magnitude,
            sub_bucket_mask: (1u64 << magnitude) - 1,
        }
    }

    /// The number of buckets up to [`HIGHEST_US`].
    const fn len_of(significant_digits: u8) -> usize {
        let magnitude = Layout::magnitude(significant_digits);
        let mut buckets = 1u32;
        let mut untrackable = 1u64 << magnitude;
        while untrackable <= HIGHEST_US {
            untrackable <<= 1;
            buckets += 1;
        }
        (buckets as usize + 1) << (magnitude - 1)
    }

    /// The bucket of a value in µs among `len`: its own, or [`HIGHEST_US`]'s
    /// if it is past the last bucket (as HdrHistogram's saturating record
    /// does).
    #[inline(always)]
    const fn index_of(self, us: u64, len: usize) -> usize {
        let index = self.raw_index_of(if us == 0 { 1 } else { us });
        if index < len {
            index
        } else {
            self.raw_index_of(HIGHEST_US)
        }
    }

    /// The bucket of a value in µs, which may be past the last one.
    #[inline(always)]
    const fn raw_index_of(self, us: u64) -> usize {
        let bucket = self.leading_zero_base - (us | self.sub_bucket_mask).leading_zeros();
        let sub_bucket = (us >> bucket) as usize;
        ((bucket as usize + 1) << self.half_magnitude) + sub_bucket
            - (1usize << self.half_magnitude)
    }
}

/// A latency histogram.
#[derive(Clone, Debug)]
pub struct LatencyHistogram {
    /// Counts per bucket, HdrHistogram's layout with a lowest value of 1.
    counts: Box<[u64]>,
    /// Where a value's bucket is.
    layout: Layout,
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
    /// The percentiles above computed from too few samples to be trusted
    /// (`"p50"`, `"p90"`, `"p99"`, `"p999"`, in that order; empty when all
    /// are sound): fewer than [`MIN_TAIL_SAMPLES`] values lie above the
    /// quantile (see [`too_few_samples`]).
    pub too_few_samples: Vec<&'static str>,
}

/// The fewest values above a quantile for its estimate to be reported as
/// sound: 10. The q-quantile of n values is fixed by the n·(1 − q) largest
/// of them; with fewer than 10 the estimate is one of a handful of order
/// statistics, one more slow request moves it by a whole gap between
/// values, and the distribution-free 95% interval for it (binomial, on the
/// order statistics) reaches beyond the largest value seen. So p50 needs 20
/// values, p90 100, p99 1,000 and p99.9 10,000 (the issue's "p99 from 80
/// successes" is flagged; a p99 from 100 would be too).
pub const MIN_TAIL_SAMPLES: u64 = 10;

/// Whether the `per_mille`-th quantile (500 for p50, 999 for p99.9) of
/// `count` values rests on fewer than [`MIN_TAIL_SAMPLES`] values above it
/// (exact integer arithmetic: `count·(1 − q) < 10`).
pub fn too_few_samples(count: u64, per_mille: u64) -> bool {
    u128::from(count) * u128::from(1000 - per_mille.min(1000)) < u128::from(MIN_TAIL_SAMPLES) * 1000
}

/// The names of the reported percentiles of `count` values that rest on
/// too few samples.
pub fn thin_percentiles(count: u64) -> Vec<&'static str> {
    [("p50", 500), ("p90", 900), ("p99", 990), ("p999", 999)]
        .into_iter()
        .filter(|&(_, q)| too_few_samples(count, q))
        .map(|(name, _)| name)
        .collect()
}

impl LatencyHistogram {
    /// A histogram with `significant_digits` (1–5) of precision: 3 for run
    /// totals (0.1%), 2 for per-window series (1%, a tenth of the memory).
    ///
    /// # Panics
    /// If `significant_digits` is not in 1..=5 (a programming error: callers
    /// pass constants).
    pub fn new(significant_digits: u8) -> Self {
        assert!(
            (1..=5).contains(&significant_digits),
            "1 to 5 significant digits"
        );
        LatencyHistogram {
            counts: vec![0; Layout::len_of(significant_digits)].into_boxed_slice(),
            layout: Layout::of(significant_digits),
            count: 0,
            sum_ns: 0,
            max_ns: 0,
        }
    }

    /// The memory a histogram of `significant_digits` takes, in bytes.
    pub fn bytes_for(significant_digits: u8) -> u64 {
        let h = LatencyHistogram::new(significant_digits);
        (std::mem::size_of::<LatencyHistogram>() + h.counts.len() * 8) as u64
    }

    /// The bucket of a value in µs: its own, or [`HIGHEST_US`]'s if it is
    /// past the last bucket (as HdrHistogram's saturating record does).
    #[inline]
    fn index_of(&self, us: u64) -> usize {
        self.layout.index_of(us, self.counts.len())
    }

    /// The lowest and the highest value (µs) counted in bucket `index`.
    fn range_of(&self, index: usize) -> (u64, u64) {
        let half_magnitude = self.layout.half_magnitude;
        let half = 1usize << half_magnitude;
        let (bucket, sub_bucket) = match (index >> half_magnitude).checked_sub(1) {
            Some(bucket) => (bucket as u32, (index & (half - 1)) + half),
            None => (0, index & (half - 1)),
        };
        let lowest = (sub_bucket as u64) << bucket;
        (lowest, lowest + (1u64 << bucket) - 1)
    }

    /// Records one value.
    #[inline]
    pub fn record(&mut self, value: SimDuration) {
        let ns = value.as_nanos();
        self.count += 1;
        self.sum_ns += u128::from(ns);
        self.max_ns = self.max_ns.max(ns);
        let index = self.index_of(ns / 1_000);
        self.counts[index] += 1;
    }

    /// Records one value in this window's histogram (of 2 significant
    /// digits) and in the run's `total` (of 3), whose exact count, sum and
    /// maximum are only brought up to date when the window closes
    /// ([`LatencyHistogram::close_window_into`]): a request's path then does
    /// that bookkeeping once, not twice, and finds both buckets with the
    /// layouts' constants folded in.
    #[inline(always)]
    pub fn record_with_total(&mut self, total: &mut LatencyHistogram, value: SimDuration) {
        debug_assert!(self.layout == WINDOW_LAYOUT && self.counts.len() == WINDOW_LEN);
        debug_assert!(total.layout == TOTAL_LAYOUT && total.counts.len() == TOTAL_LEN);
        let ns = value.as_nanos();
        self.count += 1;
        self.sum_ns += u128::from(ns);
        self.max_ns = self.max_ns.max(ns);
        let us = ns / 1_000;
        self.counts[WINDOW_LAYOUT.index_of(us, WINDOW_LEN)] += 1;
        total.counts[TOTAL_LAYOUT.index_of(us, TOTAL_LEN)] += 1;
    }

    /// Closes a window recorded with [`LatencyHistogram::record_with_total`]:
    /// its count, sum and maximum go to `total`, and it is reset.
    pub fn close_window_into(&mut self, total: &mut LatencyHistogram) {
        total.count += self.count;
        total.sum_ns += self.sum_ns;
        total.max_ns = total.max_ns.max(self.max_ns);
        self.reset();
    }

    /// Number of values recorded.
    pub fn count(&self) -> u64 {
        self.count
    }

    /// Exact sum of the values, in nanoseconds.
    pub fn sum_ns(&self) -> u128 {
        self.sum_ns
    }

    /// No bucket above this one is in use: the maximum's bucket, or the
    /// last if the maximum is past it (it was counted lower, at
    /// [`HIGHEST_US`], but values below it may sit in buckets above that).
    fn top_index(&self) -> usize {
        self.layout
            .raw_index_of((self.max_ns / 1_000).max(1))
            .min(self.counts.len() - 1)
    }

    /// The value at quantile `q` in [0, 1], in milliseconds (0 if empty).
    ///
    /// HdrHistogram's rule: the highest value of the bucket where the running
    /// count first reaches `max(1, ⌈q·count⌉)` (its lowest value for q = 0).
    pub fn quantile_ms(&self, q: f64) -> f64 {
        if self.count == 0 {
            return 0.0;
        }
        let target = ((q.clamp(0.0, 1.0) * self.count as f64).ceil() as u64).max(1);
        let mut running = 0u64;
        let top = self.top_index();
        let index = self.counts[..=top]
            .iter()
            .position(|c| {
                running += c;
                running >= target
            })
            .unwrap_or(top);
        let (lowest, highest) = self.range_of(index);
        let us = if q <= 0.0 { lowest } else { highest };
        // Never report more than the exact maximum: the top bucket's upper
        // edge can exceed it.
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
            too_few_samples: thin_percentiles(self.count),
        }
    }

    /// Forgets every value, keeping the memory. Only the buckets up to the
    /// maximum's can be non-zero, so only those are cleared.
    pub fn reset(&mut self) {
        if self.count > 0 {
            let top = self.top_index();
            self.counts[..=top].fill(0);
        }
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
    use proptest::prelude::*;

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
        let empty = LatencySummary {
            too_few_samples: thin_percentiles(0),
            ..LatencySummary::default()
        };
        assert_eq!(h.summary(), empty);
        assert!(
            h.counts.iter().all(|c| *c == 0),
            "reset clears every bucket"
        );
    }

    #[test]
    fn a_window_recorded_with_its_total_closes_into_what_two_records_make() {
        let (mut total, mut window) = (LatencyHistogram::new(3), LatencyHistogram::new(2));
        let (mut total2, mut window2) = (LatencyHistogram::new(3), LatencyHistogram::new(2));
        let mut x = 12_345u64;
        for w in 0..5 {
            for _ in 0..1000 {
                x = x.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
                let d = SimDuration::from_nanos((x >> 20) % 5_000_000_000);
                window.record_with_total(&mut total, d);
                window2.record(d);
                total2.record(d);
            }
            assert_eq!(window.summary(), window2.summary(), "window {w}");
            window.close_window_into(&mut total);
            window2.reset();
            assert_eq!(total.summary(), total2.summary(), "after window {w}");
            assert_eq!(total.count(), total2.count());
            assert_eq!(total.sum_ns(), total2.sum_ns());
            assert_eq!(window.count(), 0);
        }
    }

    #[test]
    fn percentiles_from_too_few_samples_are_named() {
        // The thresholds are exact: 20, 100, 1,000 and 10,000 values.
        assert_eq!(thin_percentiles(0), ["p50", "p90", "p99", "p999"]);
        assert_eq!(thin_percentiles(19), ["p50", "p90", "p99", "p999"]);
        assert_eq!(thin_percentiles(20), ["p90", "p99", "p999"]);
        assert_eq!(thin_percentiles(99), ["p90", "p99", "p999"]);
        assert_eq!(thin_percentiles(100), ["p99", "p999"]);
        assert_eq!(thin_percentiles(999), ["p99", "p999"]);
        assert_eq!(thin_percentiles(1000), ["p999"]);
        assert_eq!(thin_percentiles(10_000), Vec::<&str>::new());
        assert!(
            too_few_samples(80, 990),
            "the issue's p99 from 80 successes"
        );
    }

    #[test]
    fn sub_microsecond_and_huge_values_do_not_panic() {
        let mut h = LatencyHistogram::new(2);
        h.record(SimDuration::ZERO);
        h.record(SimDuration::from_secs(100_000));
        assert_eq!(h.count(), 2);
        assert!(h.quantile_ms(1.0) <= 100_000_000.0);
        assert_eq!(h.quantile_ms(0.0), 0.001, "0 µs counts as 1 µs");
        h.reset();
        assert!(
            h.counts.iter().all(|c| *c == 0),
            "reset clears the top bucket"
        );
    }

    #[test]
    fn layout_matches_hdrhistogram() {
        for digits in 1..=5u8 {
            let ours = LatencyHistogram::new(digits);
            let theirs =
                hdrhistogram::Histogram::<u64>::new_with_bounds(1, HIGHEST_US, digits).unwrap();
            assert_eq!(
                ours.counts.len(),
                theirs.distinct_values(),
                "{digits} digits"
            );
        }
    }

    /// Reference: the `hdrhistogram` crate, fed the same values.
    fn reference(digits: u8, values_us: &[u64]) -> hdrhistogram::Histogram<u64> {
        let mut h = hdrhistogram::Histogram::<u64>::new_with_bounds(1, HIGHEST_US, digits).unwrap();
        for v in values_us {
            h.saturating_record((*v).max(1));
        }
        h
    }

    proptest! {
        /// Every quantile agrees with HdrHistogram's, to the microsecond
        /// (before the cap at the exact maximum, which both sides share).
        #[test]
        fn quantiles_match_hdrhistogram(
            digits in 1u8..=4,
            // Log-uniform values from 1 ns to ~2 hours, in ns.
            exps in proptest::collection::vec((0u32..43, any::<u64>()), 1..300),
            qs in proptest::collection::vec(0.0f64..=1.0, 1..8),
        ) {
            let values_ns: Vec<u64> = exps
                .iter()
                .map(|(e, r)| (1u64 << e) + r % (1u64 << e))
                .collect();
            let mut ours = LatencyHistogram::new(digits);
            for v in &values_ns {
                ours.record(SimDuration::from_nanos(*v));
            }
            let theirs =
                reference(digits, &values_ns.iter().map(|v| v / 1_000).collect::<Vec<_>>());
            let max_ms = ours.max_ns as f64 / 1e6;
            for q in qs.iter().copied().chain([0.0, 0.5, 0.99, 1.0]) {
                let expected = (theirs.value_at_quantile(q) as f64 / 1_000.0).min(max_ms);
                prop_assert_eq!(ours.quantile_ms(q), expected, "q = {}", q);
            }
            // And again after a reset and refill with fewer values.
            ours.reset();
            let half = &values_ns[..values_ns.len().div_ceil(2)];
            for v in half {
                ours.record(SimDuration::from_nanos(*v));
            }
            let theirs = reference(digits, &half.iter().map(|v| v / 1_000).collect::<Vec<_>>());
            let max_ms = ours.max_ns as f64 / 1e6;
            let expected = (theirs.value_at_quantile(0.9) as f64 / 1_000.0).min(max_ms);
            prop_assert_eq!(ours.quantile_ms(0.9), expected);
        }
    }

    /// Values at the edges of the layout (0, 1 µs, [`HIGHEST_US`], past
    /// it, `u64::MAX` ns) land where HdrHistogram puts them.
    #[test]
    fn edge_values_match_hdrhistogram() {
        let edges_ns: Vec<u64> = vec![
            0,
            1,
            999,
            1_000,
            1_999,
            2_000,
            HIGHEST_US * 1_000 - 1,
            HIGHEST_US * 1_000,
            (HIGHEST_US + 1) * 1_000,
            HIGHEST_US * 2 * 1_000,
            u64::MAX / 2,
            u64::MAX - 1,
            u64::MAX,
        ];
        for digits in 1..=5u8 {
            for &v in &edges_ns {
                for set in [vec![v], vec![v, 1_000], vec![1_000, v, v]] {
                    let mut ours = LatencyHistogram::new(digits);
                    let mut theirs =
                        hdrhistogram::Histogram::<u64>::new_with_bounds(1, HIGHEST_US, digits)
                            .unwrap();
                    for &x in &set {
                        ours.record(SimDuration::from_nanos(x));
                        theirs.saturating_record((x / 1_000).max(1));
                    }
                    let max_ms = ours.max_ns as f64 / 1e6;
                    for q in [0.0, 0.25, 0.5, 0.9, 0.99, 1.0] {
                        let expected = (theirs.value_at_quantile(q) as f64 / 1_000.0).min(max_ms);
                        assert_eq!(
                            ours.quantile_ms(q),
                            expected,
                            "digits {digits}, values {set:?}, q {q}"
                        );
                    }
                    ours.reset();
                    assert!(ours.counts.iter().all(|c| *c == 0), "{set:?}");
                }
            }
        }
    }
}
