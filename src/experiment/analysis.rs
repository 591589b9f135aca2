//! From the rows of a comparison to its conclusions: per metric, each
//! variant's mean and interval, its paired difference from the baseline
//! (variant 0) with Welch's unpaired interval beside it, whether the
//! difference is significant, and the best variant.

use super::metrics::{Better, METRICS};
use super::runs::Results;
use super::stats::{self, Interval};

/// One metric over every variant.
#[derive(Clone, Debug, PartialEq)]
pub struct MetricAnalysis {
    /// Per variant: the mean and its 95% interval.
    pub means: Vec<Interval>,
    /// Per variant: the paired difference from the baseline (zero for the
    /// baseline itself).
    pub paired: Vec<Interval>,
    /// Per variant: Welch's interval of the same difference.
    pub welch: Vec<Interval>,
    /// The variant with the best mean (the first of equals).
    pub best: usize,
}

impl MetricAnalysis {
    /// Whether variant `v` differs from the baseline at the 95% level.
    pub fn significant(&self, v: usize) -> bool {
        v > 0 && self.paired[v].excludes_zero()
    }

    /// How many times narrower the paired interval of variant `v` is than
    /// Welch's; `None` when there is nothing to compare (the baseline, or
    /// both intervals of zero width), infinite when only the paired one is.
    pub fn narrowing(&self, v: usize) -> Option<f64> {
        let (p, w) = (self.paired[v].half_width, self.welch[v].half_width);
        match (v, p > 0.0, w > 0.0) {
            (0, _, _) | (_, false, false) => None,
            (_, false, true) => Some(f64::INFINITY),
            _ => Some(w / p),
        }
    }
}

/// Every metric of [`METRICS`], in order.
pub fn analyse(results: &Results) -> Vec<MetricAnalysis> {
    (0..METRICS.len())
        .map(|m| {
            let columns: Vec<Vec<f64>> = (0..results.rows.len())
                .map(|v| results.column(v, m))
                .collect();
            let baseline = &columns[0];
            let means: Vec<Interval> = columns.iter().map(|c| stats::mean_interval(c)).collect();
            let paired = columns.iter().map(|c| stats::paired(c, baseline)).collect();
            let welch = columns.iter().map(|c| stats::welch(c, baseline)).collect();
            let better = METRICS[m].better;
            let best = (0..means.len())
                .reduce(|best, v| {
                    let improves = match better {
                        Better::Higher => means[v].mean > means[best].mean,
                        Better::Lower => means[v].mean < means[best].mean,
                    };
                    if improves { v } else { best }
                })
                .unwrap_or(0);
            MetricAnalysis {
                means,
                paired,
                welch,
                best,
            }
        })
        .collect()
}
