//! The statistics of a comparison: means with Student-t 95% confidence
//! intervals, paired differences (paired by seed) and Welch's unpaired
//! interval, which the paired one is compared with.
//!
//! Why paired: with keyed randomness (docs/architecture.md, "Keyed
//! randomness") seed i is the same world for every variant, so the
//! difference of two variants on one seed cancels most of the seed's own
//! noise (common random numbers). The interval of the mean of those
//! differences, `d̄ ± t(0.975, K−1)·s_d/√K`, is the honest one; Welch's
//! interval, which ignores the pairing, is reported beside it to show how
//! much the pairing bought.
//!
//! The t quantile is computed, not tabulated: the regularized incomplete
//! beta function by its continued fraction (Numerical Recipes, 3rd ed.,
//! §6.4, `betacf`), the t CDF from it, and the quantile by bisection; the
//! unit tests check it against the printed table (e.g. 12.706 for 1 degree
//! of freedom, 2.262 for 9, 1.960 in the limit). Transcendentals come from
//! `libm`, as everywhere in meshsim, so the numbers are the same on every
//! machine.

/// The confidence level of every interval.
pub const LEVEL: f64 = 0.95;

/// A mean with its confidence interval.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Interval {
    /// The mean.
    pub mean: f64,
    /// Half the interval's width: the interval is `mean ± half_width`.
    pub half_width: f64,
}

impl Interval {
    /// The lower end.
    pub fn low(&self) -> f64 {
        self.mean - self.half_width
    }

    /// The upper end.
    pub fn high(&self) -> f64 {
        self.mean + self.half_width
    }

    /// Whether the interval leaves out zero (the difference is significant
    /// at the 95% level). An interval of zero width around zero does not.
    pub fn excludes_zero(&self) -> bool {
        self.low() > 0.0 || self.high() < 0.0
    }
}

/// The mean of `values` (0 for none).
pub fn mean(values: &[f64]) -> f64 {
    if values.is_empty() {
        return 0.0;
    }
    values.iter().sum::<f64>() / values.len() as f64
}

/// The sample variance (divisor n − 1; 0 for fewer than two values).
pub fn variance(values: &[f64]) -> f64 {
    if values.len() < 2 {
        return 0.0;
    }
    let m = mean(values);
    values.iter().map(|x| (x - m) * (x - m)).sum::<f64>() / (values.len() - 1) as f64
}

/// The mean of `values` with its 95% Student-t interval (K − 1 degrees of
/// freedom). Needs two values or more: with one there is no interval.
pub fn mean_interval(values: &[f64]) -> Interval {
    assert!(values.len() >= 2, "an interval needs two values or more");
    let n = values.len() as f64;
    let se = libm::sqrt(variance(values) / n);
    Interval {
        mean: mean(values),
        half_width: t_quantile(0.5 + LEVEL / 2.0, n - 1.0) * se,
    }
}

/// The paired difference `variant − baseline`, seed by seed: the mean of
/// the differences and its 95% interval.
pub fn paired(variant: &[f64], baseline: &[f64]) -> Interval {
    assert_eq!(variant.len(), baseline.len(), "paired by seed");
    let differences: Vec<f64> = variant.iter().zip(baseline).map(|(v, b)| v - b).collect();
    mean_interval(&differences)
}

/// Welch's interval of the difference of the means `variant − baseline`,
/// as if the two samples were independent (the Welch–Satterthwaite degrees
/// of freedom). Two identical constant samples give a zero-width interval.
pub fn welch(variant: &[f64], baseline: &[f64]) -> Interval {
    assert!(variant.len() >= 2 && baseline.len() >= 2);
    let (n1, n2) = (variant.len() as f64, baseline.len() as f64);
    let (a, b) = (variance(variant) / n1, variance(baseline) / n2);
    let se2 = a + b;
    let mean = self::mean(variant) - self::mean(baseline);
    if se2 <= 0.0 {
        return Interval {
            mean,
            half_width: 0.0,
        };
    }
    let df = se2 * se2 / (a * a / (n1 - 1.0) + b * b / (n2 - 1.0));
    Interval {
        mean,
        half_width: t_quantile(0.5 + LEVEL / 2.0, df) * libm::sqrt(se2),
    }
}

/// The `p` quantile of Student's t with `df` degrees of freedom (`df` > 0,
/// not necessarily whole, as Welch's are), for `p` in [0.5, 1).
pub fn t_quantile(p: f64, df: f64) -> f64 {
    assert!((0.5..1.0).contains(&p), "an upper quantile");
    assert!(df > 0.0, "degrees of freedom are positive");
    // The CDF is increasing: bisect on [0, hi], doubling hi until it holds
    // the quantile (for df = 1 and p = 0.975 it is 12.7; 200 steps are far
    // more than the 60 that reach the last bit).
    let mut hi = 1.0;
    while t_cdf(hi, df) < p {
        hi *= 2.0;
    }
    let mut lo = 0.0;
    for _ in 0..200 {
        let mid = 0.5 * (lo + hi);
        if t_cdf(mid, df) < p {
            lo = mid;
        } else {
            hi = mid;
        }
        if hi - lo <= f64::EPSILON * hi {
            break;
        }
    }
    0.5 * (lo + hi)
}

/// P(T ≤ t) for Student's t with `df` degrees of freedom:
/// `1 − I_x(df/2, 1/2)/2` with `x = df/(df + t²)`, for t ≥ 0.
fn t_cdf(t: f64, df: f64) -> f64 {
    let x = df / (df + t * t);
    let tail = 0.5 * incomplete_beta(0.5 * df, 0.5, x);
    if t >= 0.0 { 1.0 - tail } else { tail }
}

/// The regularized incomplete beta function I_x(a, b).
fn incomplete_beta(a: f64, b: f64, x: f64) -> f64 {
    if x <= 0.0 {
        return 0.0;
    }
    if x >= 1.0 {
        return 1.0;
    }
    let ln_front = libm::lgamma(a + b) - libm::lgamma(a) - libm::lgamma(b)
        + a * libm::log(x)
        + b * libm::log(1.0 - x);
    let front = libm::exp(ln_front);
    // The continued fraction converges fast for x < (a + 1)/(a + b + 2);
    // otherwise use the symmetry I_x(a, b) = 1 − I_{1−x}(b, a).
    if x < (a + 1.0) / (a + b + 2.0) {
        front * beta_fraction(a, b, x) / a
    } else {
        1.0 - front * beta_fraction(b, a, 1.0 - x) / b
    }
}

/// The continued fraction of the incomplete beta function, by the modified
/// Lentz method (Numerical Recipes `betacf`).
fn beta_fraction(a: f64, b: f64, x: f64) -> f64 {
    const TINY: f64 = 1e-300;
    let (qab, qap, qam) = (a + b, a + 1.0, a - 1.0);
    let mut c = 1.0;
    let mut d = 1.0 - qab * x / qap;
    if d.abs() < TINY {
        d = TINY;
    }
    d = 1.0 / d;
    let mut h = d;
    for m in 1..=300 {
        let m = f64::from(m);
        let m2 = 2.0 * m;
        let aa = m * (b - m) * x / ((qam + m2) * (a + m2));
        d = 1.0 + aa * d;
        if d.abs() < TINY {
            d = TINY;
        }
        c = 1.0 + aa / c;
        if c.abs() < TINY {
            c = TINY;
        }
        d = 1.0 / d;
        h *= d * c;
        let aa = -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2));
        d = 1.0 + aa * d;
        if d.abs() < TINY {
            d = TINY;
        }
        c = 1.0 + aa / c;
        if c.abs() < TINY {
            c = TINY;
        }
        d = 1.0 / d;
        let delta = d * c;
        h *= delta;
        if (delta - 1.0).abs() < 1e-15 {
            break;
        }
    }
    h
}

/// The Wilson score interval at 95% of a proportion: `k` successes in `n`
/// trials (Wilson, JASA 1927), as (low, high). Unlike the normal
/// approximation it stays within [0, 1] and is not empty at k = 0 or k = n,
/// which is where explore's failure rates mostly are: no failure in 100
/// seeds gives [0, 3.7%], not a certainty.
pub fn wilson(k: u64, n: u64) -> (f64, f64) {
    if n == 0 {
        return (0.0, 1.0);
    }
    // The 0.975 quantile of the standard normal.
    const Z: f64 = 1.959_963_984_540_054;
    let (k, n) = (k.min(n) as f64, n as f64);
    let p = k / n;
    let z2 = Z * Z;
    let centre = (p + z2 / (2.0 * n)) / (1.0 + z2 / n);
    let half = Z / (1.0 + z2 / n) * libm::sqrt(p * (1.0 - p) / n + z2 / (4.0 * n * n));
    ((centre - half).max(0.0), (centre + half).min(1.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The two-sided 95% critical values of Student's t as printed in any
    /// table (e.g. NIST/SEMATECH e-Handbook, 1.3.6.7.2), to three decimals.
    #[test]
    fn t_quantile_matches_the_printed_table() {
        for (df, expected) in [
            (1.0, 12.706),
            (2.0, 4.303),
            (3.0, 3.182),
            (4.0, 2.776),
            (5.0, 2.571),
            (9.0, 2.262),
            (10.0, 2.228),
            (19.0, 2.093),
            (29.0, 2.045),
            (30.0, 2.042),
            (100.0, 1.984),
        ] {
            let t = t_quantile(0.975, df);
            assert!(
                (t - expected).abs() < 5e-4,
                "df {df}: {t} against the table's {expected}"
            );
        }
        // The normal limit, 1.959964.
        assert!((t_quantile(0.975, 1e7) - 1.959964).abs() < 1e-5);
        // Other levels: the 0.95 quantile for 10 degrees of freedom.
        assert!((t_quantile(0.95, 10.0) - 1.812).abs() < 5e-4);
    }

    #[test]
    fn t_quantile_of_a_fractional_df_lies_between_its_neighbours() {
        let (a, b, c) = (
            t_quantile(0.975, 7.0),
            t_quantile(0.975, 7.5),
            t_quantile(0.975, 8.0),
        );
        assert!(a > b, "{a} > {b}");
        assert!(b > c, "{b} > {c}");
    }

    /// A case computed by hand: 1, 2, 3, 4, 5 has mean 3, variance 2.5,
    /// standard error √(2.5/5) = 0.7071068; t(0.975, 4) = 2.7764451, so the
    /// half width is 1.9632432.
    #[test]
    fn mean_interval_of_one_to_five() {
        let i = mean_interval(&[1.0, 2.0, 3.0, 4.0, 5.0]);
        assert_eq!(i.mean, 3.0);
        assert!((i.half_width - 1.963_243_2).abs() < 1e-6, "{i:?}");
        assert!(i.excludes_zero());
    }

    /// Paired by hand: variant 11, 13, 12, 15 against baseline 10, 11, 11,
    /// 13: differences 1, 2, 1, 2, mean 1.5, variance 1/3, standard error
    /// √(1/12) = 0.2886751, t(0.975, 3) = 3.1824463: half width 0.9186931.
    /// Welch: variances 2.9166667 and 1.5833333, standard error
    /// √(4.5/4) = 1.0606602, df = 1.125² / ((0.7291667² + 0.3958333²)/3)
    /// = 5.5158, t(0.975, 5.5158) = 2.4999 (between the table's 2.571 at 5
    /// and 2.447 at 6 degrees of freedom), half width 2.6516.
    #[test]
    fn paired_and_welch_by_hand() {
        let variant = [11.0, 13.0, 12.0, 15.0];
        let baseline = [10.0, 11.0, 11.0, 13.0];
        let p = paired(&variant, &baseline);
        assert_eq!(p.mean, 1.5);
        assert!((p.half_width - 0.918_693_1).abs() < 1e-6, "{p:?}");
        let w = welch(&variant, &baseline);
        assert_eq!(w.mean, 1.5);
        assert!((w.half_width - 2.651_6).abs() < 1e-4, "{w:?}");
        assert!(p.excludes_zero());
        assert!(!w.excludes_zero(), "Welch's interval holds 0: {w:?}");
    }

    #[test]
    fn identical_samples_give_a_zero_interval_that_is_not_significant() {
        let x = [0.5, 0.7, 0.6];
        let p = paired(&x, &x);
        assert_eq!(p.mean, 0.0);
        assert_eq!(p.half_width, 0.0);
        assert!(!p.excludes_zero());
        let constant = [2.0, 2.0, 2.0];
        let w = welch(&constant, &constant);
        assert_eq!(w.half_width, 0.0);
    }

    #[test]
    fn wilson_matches_published_values() {
        // Newcombe (1998), Statistics in Medicine 17, table I: 81/263 gives
        // 0.2553–0.3662; 0/10 gives 0–0.2775; 10/10 gives 0.7225–1.
        let close = |(lo, hi): (f64, f64), (a, b): (f64, f64)| {
            assert!(
                (lo - a).abs() < 5e-5 && (hi - b).abs() < 5e-5,
                "{lo} {hi} vs {a} {b}"
            );
        };
        close(wilson(81, 263), (0.2553, 0.3662));
        close(wilson(0, 10), (0.0, 0.2775));
        close(wilson(10, 10), (0.7225, 1.0));
        assert_eq!(wilson(0, 0), (0.0, 1.0));
    }
}
