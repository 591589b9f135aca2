//! Portable sampling primitives on a random stream.
//!
//! Every transcendental function comes from the `libm` crate (a Rust port of
//! musl's libm), not from the platform's C library, whose last bit may differ
//! between systems: with `libm`, one seed gives the same bytes on Linux, macOS
//! and Windows. This is also why we do not use `rand_distr`, whose samplers
//! call the platform `ln`/`exp`; our ziggurat samplers follow its algorithm,
//! with tables built by `libm`.

use rand::RngCore;

/// 2^-53: the spacing of 53-bit uniform floats in [0, 1).
const TWO_POW_MINUS_53: f64 = 1.0 / (1u64 << 53) as f64;

/// A uniform float in the half-open interval (0, 1]: never zero, so `ln` of
/// it is always finite.
#[inline]
pub fn unit_open0<R: RngCore + ?Sized>(rng: &mut R) -> f64 {
    ((rng.next_u64() >> 11) + 1) as f64 * TWO_POW_MINUS_53
}

/// A uniform float in [0, 1).
#[inline]
pub fn unit<R: RngCore + ?Sized>(rng: &mut R) -> f64 {
    (rng.next_u64() >> 11) as f64 * TWO_POW_MINUS_53
}

/// Whether an event of probability `p` happens. `p <= 0` never draws true,
/// `p >= 1` always does; both still consume one draw, so that changing a
/// probability never shifts the rest of the stream.
#[inline]
pub fn bernoulli<R: RngCore + ?Sized>(rng: &mut R, p: f64) -> bool {
    unit(rng) < p
}

/// Ziggurat tables (Marsaglia and Tsang, "The Ziggurat Method for
/// Generating Random Variables", 2000), 256 layers, built once with `libm`
/// so that they are bit-identical everywhere. `x` decreases from the base
/// strip's virtual width to 0; `f[i]` is the density at `x[i]`.
struct Ziggurat {
    x: [f64; 257],
    f: [f64; 257],
}

impl Ziggurat {
    fn build(r: f64, v: f64, pdf: fn(f64) -> f64, pdf_inverse: fn(f64) -> f64) -> Ziggurat {
        let mut x = [0.0; 257];
        x[0] = v / pdf(r);
        x[1] = r;
        for i in 2..256 {
            x[i] = pdf_inverse(v / x[i - 1] + pdf(x[i - 1]));
        }
        x[256] = 0.0;
        let mut f = [0.0; 257];
        for i in 0..257 {
            f[i] = pdf(x[i]);
        }
        Ziggurat { x, f }
    }
}

fn exp_pdf(x: f64) -> f64 {
    libm::exp(-x)
}
fn exp_pdf_inverse(y: f64) -> f64 {
    -libm::log(y)
}
fn normal_pdf(x: f64) -> f64 {
    libm::exp(-x * x / 2.0)
}
fn normal_pdf_inverse(y: f64) -> f64 {
    libm::sqrt(-2.0 * libm::log(y))
}

/// Start of the exponential's tail, and the area of one layer.
const EXP_R: f64 = 7.697_117_470_131_05;
const EXP_V: f64 = 3.949_659_822_581_572e-3;
/// Start of the normal's tail, and the area of one layer.
const NORMAL_R: f64 = 3.654_152_885_361_009;
const NORMAL_V: f64 = 0.004_928_673_233_99;

fn exp_tables() -> &'static Ziggurat {
    static TABLES: std::sync::OnceLock<Ziggurat> = std::sync::OnceLock::new();
    TABLES.get_or_init(|| Ziggurat::build(EXP_R, EXP_V, exp_pdf, exp_pdf_inverse))
}

fn normal_tables() -> &'static Ziggurat {
    static TABLES: std::sync::OnceLock<Ziggurat> = std::sync::OnceLock::new();
    TABLES.get_or_init(|| Ziggurat::build(NORMAL_R, NORMAL_V, normal_pdf, normal_pdf_inverse))
}

/// A standard exponential variate (mean 1), by the ziggurat method: one
/// 64-bit draw and a table look-up in about 99% of calls, a logarithm only
/// in the rare tail and wedge cases.
///
/// The common case is inlined into every caller and the rest kept out of
/// line: with both in one body the compiler stopped inlining it once a
/// second caller drew from the same generator type, and the call's
/// prologue and epilogue doubled its cost.
#[inline(always)]
pub fn exp1<R: RngCore + ?Sized>(rng: &mut R) -> f64 {
    let z = exp_tables();
    let bits = rng.next_u64();
    let i = (bits & 0xff) as usize;
    // The top 53 bits, independent of the 8 that chose the layer.
    let u = (bits >> 11) as f64 * TWO_POW_MINUS_53;
    let x = u * z.x[i];
    if x < z.x[i + 1] {
        return x;
    }
    exp1_rare(rng, z, i, x)
}

/// The rest of [`exp1`] after its first draw missed the rectangle of layer
/// `i` (the draws are the same as in one loop).
#[cold]
#[inline(never)]
fn exp1_rare<R: RngCore + ?Sized>(rng: &mut R, z: &Ziggurat, mut i: usize, mut x: f64) -> f64 {
    loop {
        if i == 0 {
            // The tail beyond R is R plus another exponential.
            return EXP_R - libm::log(unit_open0(rng));
        }
        if z.f[i + 1] + (z.f[i] - z.f[i + 1]) * unit(rng) < exp_pdf(x) {
            return x;
        }
        let bits = rng.next_u64();
        i = (bits & 0xff) as usize;
        let u = (bits >> 11) as f64 * TWO_POW_MINUS_53;
        x = u * z.x[i];
        if x < z.x[i + 1] {
            return x;
        }
    }
}

/// A standard normal variate, by the ziggurat method (symmetric), with
/// Marsaglia's method for the tail beyond R.
#[inline]
pub fn standard_normal<R: RngCore + ?Sized>(rng: &mut R) -> f64 {
    let z = normal_tables();
    loop {
        let bits = rng.next_u64();
        let i = (bits & 0xff) as usize;
        // A uniform in (-1, 1) from the top 53 bits.
        let u = 2.0 * ((bits >> 11) as f64 * TWO_POW_MINUS_53) - 1.0;
        let x = u * z.x[i];
        if x.abs() < z.x[i + 1] {
            return x;
        }
        if i == 0 {
            loop {
                let a = -libm::log(unit_open0(rng)) / NORMAL_R;
                let b = -libm::log(unit_open0(rng));
                if 2.0 * b >= a * a {
                    return if u < 0.0 {
                        -(NORMAL_R + a)
                    } else {
                        NORMAL_R + a
                    };
                }
            }
        }
        if z.f[i + 1] + (z.f[i] - z.f[i + 1]) * unit(rng) < normal_pdf(x) {
            return x;
        }
    }
}

/// A uniform index in `0..n` (n > 0), by Lemire's multiply-shift with
/// rejection, so every index is exactly equally likely.
#[inline]
pub fn index<R: RngCore + ?Sized>(rng: &mut R, n: u32) -> u32 {
    debug_assert!(n > 0);
    let n64 = u64::from(n);
    loop {
        let x = u64::from(rng.next_u32());
        let m = x * n64;
        let low = m as u32;
        if low >= n || low >= (u32::MAX - n + 1) % n {
            return (m >> 32) as u32;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernel::RngStreams;

    #[test]
    fn exponential_has_mean_and_variance_one() {
        let mut rng = RngStreams::new(1).stream("t");
        let n = 200_000;
        let xs: Vec<f64> = (0..n).map(|_| exp1(&mut rng)).collect();
        let mean = xs.iter().sum::<f64>() / n as f64;
        let var = xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / n as f64;
        // Standard error of the mean is 1/sqrt(n) = 0.0022; 5 sigma.
        assert!((mean - 1.0).abs() < 0.012, "mean {mean}");
        assert!((var - 1.0).abs() < 0.05, "variance {var}");
        assert!(xs.iter().all(|x| x.is_finite() && *x >= 0.0));
    }

    #[test]
    fn exponential_tail_probabilities_match() {
        // P(X > t) = e^-t; the ziggurat's tail and wedges must be right too.
        let mut rng = RngStreams::new(7).stream("t");
        let n = 1_000_000;
        let xs: Vec<f64> = (0..n).map(|_| exp1(&mut rng)).collect();
        for t in [0.5f64, 1.0, 3.0, 6.0, 8.0] {
            let p = libm::exp(-t);
            let observed = xs.iter().filter(|x| **x > t).count() as f64 / n as f64;
            let sd = (p * (1.0 - p) / n as f64).sqrt();
            assert!(
                (observed - p).abs() < 5.0 * sd + 1e-6,
                "P(X > {t}) = {observed}, expected {p}"
            );
        }
    }

    #[test]
    fn normal_tail_probabilities_match() {
        let mut rng = RngStreams::new(8).stream("t");
        let n = 1_000_000;
        let xs: Vec<f64> = (0..n).map(|_| standard_normal(&mut rng)).collect();
        // Two-sided P(|X| > t) = erfc(t / sqrt 2).
        for t in [0.5f64, 1.0, 2.0, 3.0, 3.8] {
            let p = libm::erfc(t / std::f64::consts::SQRT_2);
            let observed = xs.iter().filter(|x| x.abs() > t).count() as f64 / n as f64;
            let sd = (p * (1.0 - p) / n as f64).sqrt();
            assert!(
                (observed - p).abs() < 5.0 * sd + 1e-6,
                "P(|X| > {t}) = {observed}, expected {p}"
            );
        }
        let negative = xs.iter().filter(|x| **x < 0.0).count() as f64 / n as f64;
        assert!((negative - 0.5).abs() < 0.003, "symmetry: {negative}");
    }

    #[test]
    fn normal_has_mean_zero_and_variance_one() {
        let mut rng = RngStreams::new(2).stream("t");
        let n = 200_000;
        let xs: Vec<f64> = (0..n).map(|_| standard_normal(&mut rng)).collect();
        let mean = xs.iter().sum::<f64>() / n as f64;
        let var = xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / n as f64;
        assert!(mean.abs() < 0.012, "mean {mean}");
        assert!((var - 1.0).abs() < 0.02, "variance {var}");
    }

    #[test]
    fn index_is_uniform_and_in_range() {
        let mut rng = RngStreams::new(3).stream("t");
        let mut counts = [0u32; 7];
        for _ in 0..70_000 {
            counts[index(&mut rng, 7) as usize] += 1;
        }
        // Each count ~ Binomial(70000, 1/7): sd ~ 93; allow 5 sd.
        for c in counts {
            assert!((c as i64 - 10_000).abs() < 470, "{counts:?}");
        }
    }

    #[test]
    fn unit_bounds() {
        let mut rng = RngStreams::new(4).stream("t");
        for _ in 0..10_000 {
            let u = unit_open0(&mut rng);
            assert!(u > 0.0 && u <= 1.0);
            let v = unit(&mut rng);
            assert!((0.0..1.0).contains(&v));
        }
        let mut r = RngStreams::new(5).stream("t");
        assert!(!bernoulli(&mut r, 0.0));
        assert!(bernoulli(&mut r, 1.0));
    }
}
