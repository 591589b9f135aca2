//! The checks on distributions (of service times, think times and latencies):
//! the parameters of each family, and empirical percentiles that include p0
//! and p100 and never decrease; and the mean of a distribution, for the
//! checks that bound it.

use std::collections::BTreeMap;

use super::{Checker, num};
use crate::kernel::SimDuration;
use crate::scenario::diagnostic::JsonPath;
use crate::scenario::model::*;

/// The mean of a distribution in nanoseconds, or a lower bound of it where
/// the exact mean is not at hand; `None` if the parameters are missing.
pub(super) fn mean_nanos(d: &Distribution) -> Option<f64> {
    let ns = |d: SimDuration| d.as_nanos() as f64;
    Some(match d {
        Distribution::Constant(d) => ns(*d),
        Distribution::Uniform { min, max } => (ns(*min) + ns(*max)) / 2.0,
        Distribution::Exponential { mean } => ns(*mean),
        // Truncated at zero: a zero mean still has a positive one, about
        // 0.8 standard deviations (sqrt(2/pi)).
        Distribution::Normal { mean, std_dev } => ns(*mean).max(0.79 * ns(*std_dev)),
        // The median is below the mean of a log-normal.
        Distribution::Lognormal(p) => ns(p.mean.or(p.median)?),
        // The scale is the minimum of a Pareto.
        Distribution::Pareto { scale, .. } => ns(*scale),
        Distribution::Empirical(p) => {
            let values: Vec<f64> = match (&p.samples, &p.percentiles) {
                (Some(samples), _) => samples.iter().map(|&d| ns(d)).collect(),
                (None, Some(percentiles)) => percentiles.values().map(|&d| ns(d)).collect(),
                (None, None) => return None,
            };
            if values.is_empty() {
                return None;
            }
            values.iter().sum::<f64>() / values.len() as f64
        }
    })
}

impl Checker<'_> {
    pub(super) fn distribution(&mut self, path: JsonPath, d: &Distribution) {
        match d {
            Distribution::Constant(_) => {}
            Distribution::Uniform { min, max } => {
                if min > max {
                    self.problem(
                        path.key("uniform"),
                        format!("min ({min}) is larger than max ({max})"),
                    );
                }
            }
            Distribution::Exponential { mean } => {
                self.positive_duration(path.key("exponential").key("mean"), *mean)
            }
            Distribution::Normal { .. } => {}
            Distribution::Lognormal(params) => {
                let p = path.key("lognormal");
                match (params.median, params.p99, params.mean, params.sigma) {
                    (Some(median), Some(p99), None, None) => {
                        self.positive_duration(p.key("median"), median);
                        if p99 <= median {
                            self.problem(
                                p.key("p99"),
                                format!("p99 ({p99}) must be larger than the median ({median})"),
                            );
                        }
                    }
                    (None, None, Some(mean), Some(sigma)) => {
                        self.positive_duration(p.key("mean"), mean);
                        if !(sigma.is_finite() && sigma > 0.0 && sigma <= 10.0) {
                            self.problem(
                                p.key("sigma"),
                                format!("sigma must be a number in (0, 10], got {}", num(sigma)),
                            );
                        }
                    }
                    _ => self.problem(p, "give either `median` and `p99`, or `mean` and `sigma`"),
                }
            }
            Distribution::Pareto { scale, shape } => {
                let p = path.key("pareto");
                self.positive_duration(p.key("scale"), *scale);
                if !(shape.is_finite() && *shape > 0.0) {
                    self.problem(
                        p.key("shape"),
                        format!("the shape must be a positive number, got {}", num(shape)),
                    );
                }
            }
            Distribution::Empirical(params) => {
                let p = path.key("empirical");
                match (&params.samples, &params.percentiles) {
                    (Some(samples), None) => {
                        if samples.is_empty() {
                            self.problem(p.key("samples"), "give at least one sample");
                        }
                    }
                    (None, Some(percentiles)) => {
                        self.percentiles(p.key("percentiles"), percentiles)
                    }
                    _ => self.problem(p, "give either `samples` or `percentiles`"),
                }
            }
        }
    }

    fn percentiles(&mut self, path: JsonPath, percentiles: &BTreeMap<String, SimDuration>) {
        let mut points = Vec::new();
        for (key, value) in percentiles {
            match parse_percentile_key(key) {
                Some(q) => points.push((q, *value, key)),
                None => self.problem(
                    path.key(key),
                    format!("`{key}` is not a percentile: use p0, p50, p99.9, p100 and so on"),
                ),
            }
        }
        points.sort_by(|a, b| a.0.total_cmp(&b.0));
        if !points.iter().any(|p| p.0 == 0.0) || !points.iter().any(|p| p.0 == 100.0) {
            self.problem(
                path.clone(),
                "the percentiles must include p0 (the minimum) and p100 (the maximum)",
            );
        }
        for pair in points.windows(2) {
            if pair[1].1 < pair[0].1 {
                self.problem(
                    path.key(pair[1].2),
                    format!(
                        "{} ({}) is smaller than {} ({}): percentiles never decrease",
                        pair[1].2, pair[1].1, pair[0].2, pair[0].1
                    ),
                );
            }
        }
    }
}

/// `"p99.9"` → 99.9; `None` unless it is `p` and a number in [0, 100].
pub fn parse_percentile_key(key: &str) -> Option<f64> {
    let q: f64 = key.strip_prefix('p')?.parse().ok()?;
    (q.is_finite() && (0.0..=100.0).contains(&q)).then_some(q)
}
