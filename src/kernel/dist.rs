//! Portable sampling primitives on a random stream.
//!
//! Every transcendental function comes from the `libm` crate (a Rust port of
//! musl's libm), not from the platform's C library, whose last bit may differ
//! between systems: with `libm`, one seed gives the same bytes on Linux, macOS
//! and Windows. This is also why we do not use `rand_distr`, whose samplers
//! call the platform `ln`/`exp`.

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

/// A standard exponential variate (mean 1), by inversion.
#[inline]
pub fn exp1<R: RngCore + ?Sized>(rng: &mut R) -> f64 {
    -libm::log(unit_open0(rng))
}

/// A standard normal variate, by the Box–Muller transform (one of the pair;
/// the other is discarded so that each call consumes exactly two draws).
#[inline]
pub fn standard_normal<R: RngCore + ?Sized>(rng: &mut R) -> f64 {
    let u1 = unit_open0(rng);
    let u2 = unit(rng);
    libm::sqrt(-2.0 * libm::log(u1)) * libm::cos(std::f64::consts::TAU * u2)
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
