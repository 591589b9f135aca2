//! Service discovery, health and load balancing: how a caller learns which instances
//! exist, which of them are healthy, and which one gets the next request.
//!
//! Each piece mirrors the system its users run, cited at the top of its file:
//!
//! - [`HealthCheck`] (`health/`): an active check as a **Consul** agent runs it
//!   (interval, timeout, `success_before_passing`, `failures_before_warning`,
//!   `failures_before_critical`, initial status critical, and
//!   `deregister_critical_service_after` with the agent's 30 s reaper).
//! - [`LeaseRegistry`] (`lease/`): **Eureka**'s server-side registry of TTL leases
//!   (renewal, cancellation, the eviction sweep with its 15% cap, and
//!   self-preservation), with Eureka's doubled-expiry quirk as an option.
//! - [`ReadinessProbe`] (`readiness.rs`): **Kubernetes**' readiness probe (period,
//!   failure and success thresholds): alive but not ready leaves the pool, and is
//!   not restarted.
//! - [`CachedView`] (`cache.rs`): a client's copy of the registry, refreshed every 30 s
//!   as the **Eureka client** does, and kept as it is while the registry is unreachable.
//! - [`PanicThreshold`] (`panic.rs`): **Envoy**'s rule that below 50% healthy hosts the
//!   balancer ignores health, and the surprises it causes.
//! - [`Balancer`] (`balance/`): round robin, random, least outstanding, power of two
//!   choices (with tower's **peak EWMA** as an option), **Envoy**'s ring hash and
//!   Maglev.
//! - [`ZoneRouter`] (`locality.rs`): **Envoy**'s zone-aware routing (prefer the local
//!   zone, spill the residual in proportion to spare capacity, `min_cluster_size`).
//! - [`OutlierDetector`] (`outlier/`): **Envoy**'s passive health checking (consecutive
//!   5xx and gateway failures, success-rate ejection, ejection backoff and its decay,
//!   `max_ejection_percent` as each Envoy version applied it).
//!
//! # Hosts and bounds
//!
//! A host (an instance) is a [`HostId`], a small integer the owner assigns. Every type
//! here is given a capacity at construction and keeps its per-host state in a `Vec`
//! indexed by the id, so ids must be below that capacity: a larger id given to a
//! balancer or a detector is a bug of the owner and panics; the lease registry, whose
//! ids come from registrations, refuses it as a value. Nothing allocates per call;
//! a hashing balancer allocates its table when it is rebuilt, which happens on a
//! membership change. There is no hash map anywhere (clippy bans them in this project).
//!
//! # Hashing
//!
//! The consistent-hashing balancers need a fixed hash, the same on every platform and
//! in every version, so that a seed always gives the same placement. [`mix64`] is the
//! finalizer of **SplitMix64** (Steele, Lea and Flood, "Fast splittable pseudorandom
//! number generators", OOPSLA 2014, with the constants of Vigna's public-domain
//! `splitmix64.c`): a bijection of `u64` with good avalanche. Envoy hashes host
//! addresses with xxHash64; we hash host ids, so the tables differ from Envoy's in
//! detail but not in their properties (balance, disruption on membership change).
//!
//! # Floating point
//!
//! Decays use [`exp_neg`], written here with basic IEEE operations only, so that the
//! bytes of a run do not depend on the platform's `exp` (the project's rule for
//! transcendental functions, which the rest of meshsim meets with `libm`; this crate
//! depends on `rand` alone). Square roots are IEEE-exact and come from `f64::sqrt`.

pub mod balance;
pub mod cache;
pub mod health;
pub mod lease;
pub mod locality;
pub mod outlier;
pub mod panic;
pub mod readiness;

pub use balance::{Balancer, BalancerConfig};
pub use cache::{CachedView, CachedViewConfig};
pub use health::{HealthCheck, HealthCheckConfig, HealthStatus};
pub use lease::{LeaseConfig, LeaseRegistry};
pub use locality::{Zone, ZoneAwareConfig, ZoneChoice, ZonePlan, ZoneRouter};
pub use outlier::{OutlierConfig, OutlierDetector, ResultClass};
pub use panic::{PanicThreshold, Routing};
pub use readiness::{ReadinessConfig, ReadinessProbe};

/// A host (a service instance), as a small integer chosen by the owner. Per-host state
/// lives in a `Vec` indexed by it, so ids are dense: below the capacity the owner gives
/// each type at construction.
pub type HostId = u32;

/// The SplitMix64 finalizer: a fixed, portable bijection of `u64` with good avalanche
/// (see the module documentation). Pinned by golden values in the tests.
///
/// ```
/// use std::time::Instant;
/// use meshsim_patterns::discovery::mix64;
///
/// let start = Instant::now();
/// // The first output of SplitMix64 seeded with 0 is mix64 of its first state.
/// assert_eq!(mix64(0x9e37_79b9_7f4a_7c15), 0xe220_a839_7b1d_cdaf);
/// let _now = start.elapsed().as_nanos() as u64;
/// ```
pub const fn mix64(x: u64) -> u64 {
    let mut z = x;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// ln 2 in two parts (fdlibm's `ln2_hi`, `ln2_lo`): the high part ends in 21 zero
/// bits, so `k × LN2_HI` is exact for any `|k| < 2^21`.
const LN2_HI: f64 = f64::from_bits(0x3fe6_2e42_fee0_0000);
const LN2_LO: f64 = f64::from_bits(0x3dea_39ef_3579_3c76);

/// `e^(-x)` for `x >= 0` (`NaN` gives `NaN`), from basic IEEE operations only, so
/// the same on every platform. Relative error below `1e-15`, checked against the
/// platform's `exp` in the tests.
///
/// Range reduction `x = k·ln 2 + r` with `|r| <= ln 2 / 2` (ln 2 split in a high part
/// with trailing zero bits and a low part, so `k·ln2_hi` is exact), a degree-17 Taylor
/// polynomial for `e^(-r)` (truncation error below `1e-21`), then an exact scaling by
/// `2^(-k)`.
pub fn exp_neg(x: f64) -> f64 {
    debug_assert!(x.is_nan() || x >= 0.0, "exp_neg of a negative number");
    if x.is_nan() {
        return x;
    }
    // e^(-746) is below half the smallest subnormal.
    if x > 746.0 {
        return 0.0;
    }
    let k = (x * std::f64::consts::LOG2_E + 0.5) as i32; // x >= 0: truncation is floor
    let kf = f64::from(k);
    let r = (x - kf * LN2_HI) - kf * LN2_LO; // in about [-0.347, 0.347]
    // e^(-r) = sum (-r)^i / i!, by Horner from the highest term.
    let y = -r;
    let mut sum = 1.0;
    let mut i = 17;
    while i > 0 {
        sum = 1.0 + sum * y / f64::from(i);
        i -= 1;
    }
    // Multiply by 2^(-k) in steps whose factors are normal numbers, so each is exact
    // until the result itself becomes subnormal.
    let mut k = k;
    while k > 0 {
        let step = k.min(1000);
        sum *= f64::from_bits(((1023 - step) as u64) << 52);
        k -= step;
    }
    sum
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mix64_is_splitmix64() {
        // SplitMix64 seeded with 0 (Vigna's splitmix64.c): state += golden gamma, then
        // the finalizer. Its first outputs are published test vectors.
        let mut state: u64 = 0;
        let mut next = || {
            state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
            mix64(state)
        };
        assert_eq!(next(), 0xe220_a839_7b1d_cdaf);
        assert_eq!(next(), 0x6e78_9e6a_a1b9_65f4);
        assert_eq!(next(), 0x06c4_5d18_8009_454f);
        assert_eq!(mix64(0), 0);
    }

    #[test]
    fn exp_neg_matches_exp_within_a_few_ulps() {
        // Over the range where e^(-x) is a normal number.
        let mut x = 0.0f64;
        while x < 708.0 {
            let ours = exp_neg(x);
            let reference = (-x).exp();
            let relative = ((ours - reference) / reference).abs();
            assert!(relative < 1e-15, "x={x}: {ours} vs {reference}");
            x += 0.013_7;
        }
        for x in [0.0, 1e-300, 1e-12, 0.5, 1.0, 2.0, 10.0, 100.0] {
            let relative = ((exp_neg(x) - (-x).exp()) / (-x).exp()).abs();
            assert!(relative < 1e-15, "x={x}");
        }
        assert_eq!(exp_neg(0.0), 1.0);
        assert_eq!(LN2_HI + LN2_LO, std::f64::consts::LN_2);
        assert!(LN2_HI.to_bits().trailing_zeros() >= 21);
        assert_eq!(exp_neg(800.0), 0.0);
        assert!(exp_neg(f64::INFINITY) == 0.0);
        assert!(exp_neg(f64::NAN).is_nan());
        // Subnormal results stay close too (absolute error below the smallest normal).
        assert!((exp_neg(720.0) - (-720.0f64).exp()).abs() < 1e-300);
    }
}
