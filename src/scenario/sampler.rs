//! Distributions of durations, compiled from the scenario for fast sampling.
//!
//! Each sample is drawn from the caller's stream with the portable
//! primitives of [`crate::kernel::dist`] and rounded to whole nanoseconds.
//! Samplers are built by the compile step ([`Samplers`]), so a distribution
//! that cannot be sampled is a located error there, never a panic later.

use rand::RngCore;

use super::diagnostic::JsonPath;
use super::model::{Distribution, Scenario};
use super::validate::parse_percentile_key;
use crate::kernel::SimDuration;
use crate::kernel::dist::{exp1, index, standard_normal, unit, unit_open0};

/// z such that Φ(z) = 0.99, for log-normals given by median and p99.
const Z_99: f64 = 2.326_347_874_040_841;

/// Attempts at a non-negative normal draw before giving up with zero.
const NORMAL_RETRIES: u32 = 64;

/// A distribution ready to sample, all in nanoseconds.
#[derive(Clone, Debug, PartialEq)]
pub enum Sampler {
    /// Always the same value.
    Constant(u64),
    /// Uniform on [min, min + span].
    Uniform {
        /// Lower bound.
        min: f64,
        /// Width of the interval.
        span: f64,
    },
    /// Exponential with this mean.
    Exponential {
        /// The mean.
        mean: f64,
    },
    /// Normal truncated at zero.
    Normal {
        /// The mean.
        mean: f64,
        /// The standard deviation.
        std_dev: f64,
    },
    /// exp(N(mu, sigma)).
    Lognormal {
        /// Location of the underlying normal (ln of the median).
        mu: f64,
        /// Scale of the underlying normal.
        sigma: f64,
    },
    /// scale · U^(−1/shape).
    Pareto {
        /// The minimum.
        scale: f64,
        /// 1 / tail index.
        inverse_shape: f64,
    },
    /// One of these values, uniformly.
    Samples(Vec<u64>),
    /// Piecewise-linear inverse CDF through (quantile in [0, 1], value).
    Percentiles(Vec<(f64, f64)>),
}

impl Sampler {
    /// Compiles a distribution, or says why it cannot be sampled.
    pub fn new(distribution: &Distribution) -> Result<Sampler, &'static str> {
        let ns = |d: SimDuration| d.as_nanos() as f64;
        Ok(match distribution {
            Distribution::Constant(d) => Sampler::Constant(d.as_nanos()),
            Distribution::Uniform { min, max } => Sampler::Uniform {
                min: ns(*min),
                span: ns(*max) - ns(*min),
            },
            Distribution::Exponential { mean } => Sampler::Exponential { mean: ns(*mean) },
            Distribution::Normal { mean, std_dev } => Sampler::Normal {
                mean: ns(*mean),
                std_dev: ns(*std_dev),
            },
            Distribution::Lognormal(p) => match (p.median, p.p99, p.mean, p.sigma) {
                (Some(median), Some(p99), _, _) => {
                    let mu = libm::log(ns(median));
                    Sampler::Lognormal {
                        mu,
                        sigma: (libm::log(ns(p99)) - mu) / Z_99,
                    }
                }
                (_, _, Some(mean), Some(sigma)) => Sampler::Lognormal {
                    mu: libm::log(ns(mean)) - sigma * sigma / 2.0,
                    sigma,
                },
                _ => return Err("a lognormal needs `median` and `p99`, or `mean` and `sigma`"),
            },
            Distribution::Pareto { scale, shape } => Sampler::Pareto {
                scale: ns(*scale),
                inverse_shape: 1.0 / shape,
            },
            Distribution::Empirical(p) => match (&p.samples, &p.percentiles) {
                (Some(samples), _) => {
                    if samples.is_empty() || samples.len() > u32::MAX as usize {
                        return Err("an empirical distribution needs 1 to 2^32 - 1 samples");
                    }
                    Sampler::Samples(samples.iter().map(|d| d.as_nanos()).collect())
                }
                (_, Some(percentiles)) => {
                    let mut points: Vec<(f64, f64)> = percentiles
                        .iter()
                        .filter_map(|(k, v)| parse_percentile_key(k).map(|q| (q / 100.0, ns(*v))))
                        .collect();
                    points.sort_by(|a, b| a.0.total_cmp(&b.0));
                    if points.len() < 2 || points.len() != percentiles.len() {
                        return Err("percentiles need at least two keys such as \"p50\"");
                    }
                    Sampler::Percentiles(points)
                }
                _ => return Err("an empirical distribution needs `samples` or `percentiles`"),
            },
        })
    }

    /// Whether every sample is zero (lets the network skip scheduling).
    pub fn is_zero(&self) -> bool {
        matches!(self, Sampler::Constant(0))
    }

    /// The distribution's mean in nanoseconds (infinite for a Pareto with
    /// shape ≤ 1); used for sanity checks and reports.
    pub fn mean(&self) -> f64 {
        match self {
            Sampler::Constant(v) => *v as f64,
            Sampler::Uniform { min, span } => min + span / 2.0,
            Sampler::Exponential { mean } => *mean,
            Sampler::Normal { mean, std_dev } => truncated_normal_mean(*mean, *std_dev),
            Sampler::Lognormal { mu, sigma } => libm::exp(mu + sigma * sigma / 2.0),
            Sampler::Pareto {
                scale,
                inverse_shape,
            } => {
                let shape = 1.0 / inverse_shape;
                if shape <= 1.0 {
                    f64::INFINITY
                } else {
                    scale * shape / (shape - 1.0)
                }
            }
            Sampler::Samples(values) => {
                values.iter().map(|v| *v as f64).sum::<f64>() / values.len() as f64
            }
            Sampler::Percentiles(points) => points
                .windows(2)
                .map(|w| (w[1].0 - w[0].0) * (w[0].1 + w[1].1) / 2.0)
                .sum(),
        }
    }

    /// Draws one duration.
    #[inline]
    pub fn sample<R: RngCore + ?Sized>(&self, rng: &mut R) -> SimDuration {
        let nanos = match self {
            Sampler::Constant(v) => return SimDuration::from_nanos(*v),
            Sampler::Exponential { mean } => exp1(rng) * mean,
            Sampler::Uniform { min, span } => min + unit(rng) * span,
            Sampler::Normal { mean, std_dev } => {
                let mut x = 0.0;
                for _ in 0..NORMAL_RETRIES {
                    let draw = mean + std_dev * standard_normal(rng);
                    if draw >= 0.0 {
                        x = draw;
                        break;
                    }
                }
                x
            }
            Sampler::Lognormal { mu, sigma } => libm::exp(mu + sigma * standard_normal(rng)),
            Sampler::Pareto {
                scale,
                inverse_shape,
            } => scale * libm::pow(unit_open0(rng), -inverse_shape),
            Sampler::Samples(values) => {
                return SimDuration::from_nanos(values[index(rng, values.len() as u32) as usize]);
            }
            Sampler::Percentiles(points) => {
                let u = unit(rng);
                let i = points
                    .partition_point(|p| p.0 <= u)
                    .clamp(1, points.len() - 1);
                let (q0, v0) = points[i - 1];
                let (q1, v1) = points[i];
                if q1 > q0 {
                    v0 + (u - q0) / (q1 - q0) * (v1 - v0)
                } else {
                    v1
                }
            }
        };
        SimDuration::from_nanos_f64(nanos)
    }
}

/// Mean of N(mean, sd) conditioned on being ≥ 0.
fn truncated_normal_mean(mean: f64, std_dev: f64) -> f64 {
    if std_dev <= 0.0 {
        return mean.max(0.0);
    }
    let alpha = -mean / std_dev;
    let pdf = libm::exp(-alpha * alpha / 2.0) / (2.0 * std::f64::consts::PI).sqrt();
    let survival = 0.5 * libm::erfc(alpha / std::f64::consts::SQRT_2);
    mean + std_dev * pdf / survival
}

/// Every distribution of a scenario, compiled: made by the compile step.
#[derive(Clone, Debug, PartialEq)]
pub struct Samplers {
    /// Service times, by service index (name order).
    pub service_times: Vec<Sampler>,
    /// Boot times of restarting instances, by service index (none: a
    /// restart is instantaneous).
    pub boot_times: Vec<Option<Sampler>>,
    /// The network's default latency.
    pub network: Sampler,
    /// Each link's own latency, in file order.
    pub links: Vec<Option<Sampler>>,
    /// The closed-loop users' think time, by client index (one entry for
    /// the implicit client); `None` for an open-loop client.
    pub think: Vec<Option<Sampler>>,
}

impl Samplers {
    /// The samplers of `scenario`, or each distribution that cannot be
    /// sampled, with its path.
    pub fn compile(scenario: &Scenario) -> Result<Samplers, Vec<(JsonPath, String)>> {
        let mut problems = Vec::new();
        let mut build = |path: JsonPath, distribution: &Distribution| {
            Sampler::new(distribution)
                .map_err(|reason| problems.push((path, reason.to_string())))
                .ok()
        };
        let service_times: Vec<Option<Sampler>> = scenario
            .services
            .iter()
            .map(|(name, s)| {
                let path = JsonPath::root()
                    .key("services")
                    .key(name)
                    .key("service_time");
                build(path, &s.service_time)
            })
            .collect();
        let boot_times: Vec<Option<Option<Sampler>>> = scenario
            .services
            .iter()
            .map(|(name, s)| {
                let path = JsonPath::root().key("services").key(name).key("boot_time");
                s.boot_time.as_ref().map(|d| build(path, d))
            })
            .collect();
        let network_path = JsonPath::root().key("network").key("latency");
        let network = build(network_path, &scenario.network.latency);
        let links: Vec<Option<Option<Sampler>>> = scenario
            .network
            .links
            .iter()
            .enumerate()
            .map(|(i, l)| {
                let path = JsonPath::root()
                    .key("network")
                    .key("links")
                    .index(i)
                    .key("latency");
                l.latency.as_ref().map(|d| build(path, d))
            })
            .collect();
        let workload = &scenario.workload;
        let workload_path = JsonPath::root().key("workload");
        let think: Vec<Option<Option<Sampler>>> = match &workload.clients {
            None => vec![
                workload
                    .users
                    .as_ref()
                    .map(|u| build(workload_path.key("users").key("think_time"), &u.think_time)),
            ],
            Some(clients) => clients
                .iter()
                .enumerate()
                .map(|(i, c)| {
                    c.users.as_ref().map(|u| {
                        let path = workload_path
                            .key("clients")
                            .index(i)
                            .key("users")
                            .key("think_time");
                        build(path, &u.think_time)
                    })
                })
                .collect(),
        };
        match (
            service_times.into_iter().collect::<Option<Vec<_>>>(),
            boot_times
                .into_iter()
                .map(|b| b.map_or(Some(None), |s| s.map(Some)))
                .collect::<Option<Vec<_>>>(),
            network,
            links
                .into_iter()
                .map(|l| l.map_or(Some(None), |s| s.map(Some)))
                .collect::<Option<Vec<_>>>(),
            think
                .into_iter()
                .map(|t| t.map_or(Some(None), |s| s.map(Some)))
                .collect::<Option<Vec<_>>>(),
        ) {
            (Some(service_times), Some(boot_times), Some(network), Some(links), Some(think))
                if problems.is_empty() =>
            {
                Ok(Samplers {
                    service_times,
                    boot_times,
                    network,
                    links,
                    think,
                })
            }
            _ => Err(problems),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernel::RngStreams;

    fn dist(json: &str) -> Sampler {
        Sampler::new(&serde_json::from_str(json).unwrap()).unwrap()
    }

    /// Sample mean over many draws, in nanoseconds.
    fn sample_mean(s: &Sampler, n: usize) -> f64 {
        let mut rng = RngStreams::new(5).stream("sampler");
        (0..n)
            .map(|_| s.sample(&mut rng).as_nanos() as f64)
            .sum::<f64>()
            / n as f64
    }

    fn quantile(s: &Sampler, q: f64, n: usize) -> f64 {
        let mut rng = RngStreams::new(6).stream("sampler");
        let mut xs: Vec<u64> = (0..n).map(|_| s.sample(&mut rng).as_nanos()).collect();
        xs.sort_unstable();
        xs[((n as f64) * q) as usize] as f64
    }

    #[test]
    fn sample_means_match_the_analytic_means() {
        // 200k draws: relative standard error of the mean is at most
        // cv/sqrt(n) ≈ 0.5% for these (cv ≤ 2); 2% tolerance is 4+ sigma.
        for json in [
            r#"{"constant": "5ms"}"#,
            r#"{"uniform": {"min": "1ms", "max": "3ms"}}"#,
            r#"{"exponential": {"mean": "10ms"}}"#,
            r#"{"normal": {"mean": "10ms", "std_dev": "2ms"}}"#,
            r#"{"normal": {"mean": "1ms", "std_dev": "2ms"}}"#,
            r#"{"lognormal": {"mean": "10ms", "sigma": 0.5}}"#,
            r#"{"lognormal": {"median": "20ms", "p99": "120ms"}}"#,
            r#"{"pareto": {"scale": "1ms", "shape": 3.0}}"#,
            r#"{"empirical": {"samples": ["1ms", "2ms", "6ms"]}}"#,
            r#"{"empirical": {"percentiles": {"p0": "0", "p50": "10ms", "p100": "30ms"}}}"#,
        ] {
            let s = dist(json);
            let mean = sample_mean(&s, 200_000);
            let expected = s.mean();
            assert!(
                (mean - expected).abs() <= 0.02 * expected,
                "{json}: sample mean {mean} vs analytic {expected}"
            );
        }
    }

    #[test]
    fn lognormal_by_median_and_p99_hits_both() {
        let s = dist(r#"{"lognormal": {"median": "20ms", "p99": "120ms"}}"#);
        let median = quantile(&s, 0.5, 200_000);
        let p99 = quantile(&s, 0.99, 200_000);
        assert!((median / 20e6 - 1.0).abs() < 0.02, "median {median}");
        assert!((p99 / 120e6 - 1.0).abs() < 0.04, "p99 {p99}");
    }

    #[test]
    fn percentiles_interpolate_between_points() {
        let s = dist(
            r#"{"empirical": {"percentiles": {"p0": "1ms", "p90": "10ms", "p100": "100ms"}}}"#,
        );
        let p45 = quantile(&s, 0.45, 100_000);
        assert!((p45 / 5.5e6 - 1.0).abs() < 0.02, "p45 {p45}");
        let mut rng = RngStreams::new(1).stream("x");
        for _ in 0..10_000 {
            let v = s.sample(&mut rng).as_nanos();
            assert!((1_000_000..=100_000_000).contains(&v));
        }
    }

    /// A normal of mean 0 truncated at zero is a half-normal: the draws must
    /// follow it (the negative half refused and redrawn, not clamped to 0,
    /// which would put half the mass at zero).
    #[test]
    fn truncated_normal_is_the_positive_half() {
        let sd = 5e6;
        let s = dist(r#"{"normal": {"mean": "0", "std_dev": "5ms"}}"#);
        // The half-normal's mean is sd * sqrt(2 / pi).
        let analytic = sd * (2.0 / std::f64::consts::PI).sqrt();
        assert!(
            (s.mean() - analytic).abs() < 1e-6 * analytic,
            "{}",
            s.mean()
        );
        let mut rng = RngStreams::new(1).stream("x");
        let n = 100_000;
        let draws: Vec<u64> = (0..n).map(|_| s.sample(&mut rng).as_nanos()).collect();
        // Clamping would make half of them zero; truncation almost none.
        let zeros = draws.iter().filter(|&&d| d == 0).count();
        assert!(zeros < 10, "{zeros} zero draws");
        // P(X <= sd) = 2 (Phi(1) - 1/2) = 0.682689; binomial sd at n = 1e5
        // is 0.0015, so 5 sd is 0.0074.
        let below = draws.iter().filter(|&&d| (d as f64) <= sd).count() as f64 / n as f64;
        assert!((below - 0.682_689).abs() < 0.0074, "P(X <= sd) = {below}");
        assert!((sample_mean(&s, n) - analytic).abs() < 0.02 * analytic);
    }

    /// A distribution that validation would refuse, compiled without it
    /// (a scenario built in code): an error, never a panic.
    #[test]
    fn an_unsampleable_distribution_is_an_error() {
        for json in [
            r#"{"lognormal": {"median": "5ms"}}"#,
            r#"{"empirical": {"samples": []}}"#,
            r#"{"empirical": {"percentiles": {"p50": "1ms"}}}"#,
            r#"{"empirical": {}}"#,
        ] {
            let distribution: Distribution = serde_json::from_str(json).unwrap();
            assert!(Sampler::new(&distribution).is_err(), "{json}");
        }
    }
}
