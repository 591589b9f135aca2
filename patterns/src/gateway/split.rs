//! A weighted split of one route between backends: a canary taking 5 % of the
//! traffic, a strangler fig moving a path from the monolith to its new service.
//!
//! Semantics, from Envoy's `weighted_clusters` route action
//! (`envoy/config/route/v3/route_components.proto`, `WeightedCluster`; the pick in
//! `source/common/router/config_impl.cc`, `pickWeightedCluster`): each backend has an
//! integer weight, the total is their sum, a value in `[0, total)` is drawn and the
//! backends are walked in declaration order, each taking the values below its running
//! sum. Envoy draws the value per request from its random generator, or reads it from
//! a request header (`header_name`) so that proxies in a chain pick alike; the same
//! walk gives both assignments here:
//!
//! - **per request** ([`Split::pick`]): a uniform draw from the `RngCore` the caller
//!   passes, exact (no modulo bias);
//! - **sticky** ([`Split::pick_sticky`]): the value is a fixed function of a client (or
//!   request) key, the SplitMix64 finalizer scaled to the weights, so a key lands on the
//!   same backend on every run and platform for the same weights.
//!
//! Weights change at runtime ([`Split::set_weights`]), as Envoy's runtime fractions
//! (`runtime_key_prefix`) or an Argo Rollouts / Flagger step do: a canary shifted from
//! 5 % to 50 % at t = 60 s. Because a sticky key's value is its hash's *fraction* of
//! the total (`⌊hash · total / 2⁶⁴⌋`) and each backend owns a contiguous interval of
//! fractions, moving weight between two backends that are adjacent in the declaration
//! order moves exactly the keys whose fraction lies in the interval that changed
//! hands, and no others (a test counts them): from 95/5 to 50/50, 45 % of the keys
//! move, all from the old version to the new, none back. Weights may be given in basis
//! points ([`Split::basis_points`], summing to 10 000, Envoy's
//! `FractionalPercent::TEN_THOUSAND`) or as any integers.
//!
//! Simplified on purpose: the number of backends is fixed at construction (a backend
//! with weight 0 is absent, as a strangler fig's new service before its first step);
//! moving weight between *non-adjacent* backends also moves the keys of the backends
//! between them, as in Envoy (declare a canary next to the version it replaces); and a
//! sticky assignment is by the weights alone, with no session table, so it is
//! consistent across gateway instances without any shared state.

use super::mix64;
use crate::{ConfigError, Nanos, uniform_inclusive};

/// The most backends one split holds (a meshsim bound; a canary has 2).
pub const MAX_BACKENDS: usize = 16;
/// The total of a split in basis points: 10 000, i.e. 100 %.
pub const BASIS_POINTS: u32 = 10_000;

/// A weighted split between backends, identified by their index in the weights
/// given (see the module documentation).
///
/// ```
/// use std::time::Instant;
/// use meshsim_patterns::gateway::split::Split;
/// use rand::SeedableRng;
///
/// let start = Instant::now();
/// let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
/// // The stable version at 95 %, the canary at 5 %.
/// let mut split = Split::basis_points(&[9_500, 500])?;
/// let to_canary = (0..10_000).filter(|_| split.pick(&mut rng) == 1).count();
/// assert!((400..600).contains(&to_canary));
///
/// // Sticky: a client keeps its backend while the weights stay.
/// let client = 42;
/// let before = split.pick_sticky(client);
/// assert_eq!(split.pick_sticky(client), before);
///
/// // At t = 60 s the canary takes half; a client on it stays on it.
/// let now = start.elapsed().as_nanos() as u64 + 60_000_000_000;
/// split.set_weights(now, &[5_000, 5_000])?;
/// if before == 1 {
///     assert_eq!(split.pick_sticky(client), 1);
/// }
/// assert_eq!(split.changed_at(), Some(now));
/// # Ok::<(), meshsim_patterns::ConfigError>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Split {
    backends: usize,
    weights: [u32; MAX_BACKENDS],
    /// `cumulative[i]`: the sum of the weights of backends `0..=i`.
    cumulative: [u64; MAX_BACKENDS],
    total: u64,
    basis_points: bool,
    changed_at: Option<Nanos>,
    last_now: Nanos,
}

impl Split {
    /// A split with integer `weights`, one per backend: 1 to [`MAX_BACKENDS`]
    /// backends, a total of at least 1.
    pub fn new(weights: &[u32]) -> Result<Split, ConfigError> {
        Split::build(weights, false)
    }

    /// A split with weights in basis points, which must sum to [`BASIS_POINTS`]
    /// (10 000); so must every later [`Split::set_weights`].
    pub fn basis_points(weights: &[u32]) -> Result<Split, ConfigError> {
        Split::build(weights, true)
    }

    fn build(weights: &[u32], basis_points: bool) -> Result<Split, ConfigError> {
        let mut split = Split {
            backends: weights.len(),
            weights: [0; MAX_BACKENDS],
            cumulative: [0; MAX_BACKENDS],
            total: 0,
            basis_points,
            changed_at: None,
            last_now: 0,
        };
        split.assign(weights)?;
        Ok(split)
    }

    fn assign(&mut self, weights: &[u32]) -> Result<(), ConfigError> {
        let error = |reason| Err(ConfigError::new("gateway.split", "weights", reason));
        if weights.is_empty() {
            return error("must list at least 1 backend");
        }
        if weights.len() > MAX_BACKENDS {
            return error("must list at most 16 backends");
        }
        if weights.len() != self.backends {
            return error("must list one weight per backend of the split");
        }
        let total: u64 = weights.iter().map(|&w| u64::from(w)).sum();
        if total == 0 {
            return error("must not all be 0");
        }
        if self.basis_points && total != u64::from(BASIS_POINTS) {
            return error("must sum to 10000 basis points");
        }
        let mut running = 0;
        for (i, &weight) in weights.iter().enumerate() {
            running += u64::from(weight);
            self.weights[i] = weight;
            self.cumulative[i] = running;
        }
        self.total = total;
        Ok(())
    }

    /// New weights at `now`, one per backend, by the same rules as at construction; on
    /// an error the old weights stay.
    pub fn set_weights(&mut self, now: Nanos, weights: &[u32]) -> Result<(), ConfigError> {
        debug_assert!(now >= self.last_now, "time went backwards");
        self.last_now = self.last_now.max(now);
        self.assign(weights)?;
        self.changed_at = Some(now);
        Ok(())
    }

    /// How many backends the split has.
    pub fn backends(&self) -> usize {
        self.backends
    }

    /// The weights, one per backend.
    pub fn weights(&self) -> &[u32] {
        &self.weights[..self.backends]
    }

    /// The sum of the weights.
    pub fn total_weight(&self) -> u64 {
        self.total
    }

    /// When the weights last changed (`None`: never since construction).
    pub fn changed_at(&self) -> Option<Nanos> {
        self.changed_at
    }

    /// The backend for one request, from a uniform draw of `rng`: backend `i` with
    /// probability `weight[i] / total`.
    pub fn pick(&self, rng: &mut impl rand::RngCore) -> usize {
        self.backend_at(uniform_inclusive(rng, 0, self.total - 1))
    }

    /// The backend for `key` (a client or request key): the same for the same key and
    /// weights, on every run.
    pub fn pick_sticky(&self, key: u64) -> usize {
        let value = (u128::from(mix64(key)) * u128::from(self.total)) >> 64;
        self.backend_at(value as u64)
    }

    /// The backend whose interval of `[0, total)` holds `value`.
    fn backend_at(&self, value: u64) -> usize {
        debug_assert!(value < self.total);
        let backend = self.cumulative[..self.backends].partition_point(|&sum| sum <= value);
        debug_assert!(
            self.weights[backend] > 0,
            "a backend of weight 0 was picked"
        );
        backend
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    const KEYS: u64 = 100_000;

    fn counts(split: &Split, picks: impl Iterator<Item = usize>) -> Vec<u64> {
        let mut counts = vec![0; split.backends()];
        for backend in picks {
            counts[backend] += 1;
        }
        counts
    }

    #[test]
    fn per_request_picks_follow_the_weights() {
        let split = Split::new(&[1, 0, 3]).unwrap();
        let mut rng = ChaCha8Rng::seed_from_u64(11);
        let n = 40_000;
        let counts = counts(&split, (0..n).map(|_| split.pick(&mut rng)));
        assert_eq!(counts[1], 0, "a backend of weight 0 is never picked");
        // 1/4 of 40 000 is 10 000 with a standard deviation of √(n·p·q) ≈ 87: ±500
        // is over 5 of them.
        assert!((9_500..10_500).contains(&counts[0]), "{counts:?}");
        assert_eq!(counts[0] + counts[2], n);
    }

    #[test]
    fn sticky_picks_follow_the_weights_over_many_keys() {
        let split = Split::basis_points(&[9_500, 500]).unwrap();
        let counts = counts(&split, (0..KEYS).map(|key| split.pick_sticky(key)));
        // 5 % of 100 000 keys is 5 000, σ ≈ 69 for a good hash: ±400 is over 5 σ.
        assert!((4_600..5_400).contains(&counts[1]), "{counts:?}");
    }

    #[test]
    fn sticky_picks_are_pinned() {
        // A fixed function of the key and the weights: these values hold on every
        // platform and may change only with a deliberate change of the hash.
        let split = Split::new(&[1, 1, 1, 1]).unwrap();
        let picks: Vec<usize> = (0..8).map(|key| split.pick_sticky(key)).collect();
        assert_eq!(picks, PINNED_PICKS);
    }
    const PINNED_PICKS: [usize; 8] = [3, 2, 2, 0, 1, 1, 2, 1];

    #[test]
    fn shifting_a_canary_from_5_to_50_percent_moves_only_the_keys_that_must_move() {
        let mut split = Split::basis_points(&[9_500, 500]).unwrap();
        let before: Vec<usize> = (0..KEYS).map(|key| split.pick_sticky(key)).collect();
        split.set_weights(60_000_000_000, &[5_000, 5_000]).unwrap();
        let after: Vec<usize> = (0..KEYS).map(|key| split.pick_sticky(key)).collect();
        let moved_back = (0..KEYS as usize)
            .filter(|&k| before[k] == 1 && after[k] == 0)
            .count();
        let moved = (0..KEYS as usize)
            .filter(|&k| before[k] == 0 && after[k] == 1)
            .count();
        assert_eq!(moved_back, 0, "no key leaves the canary when it grows");
        // 45 % of the keys must move; σ = √(n·0.45·0.55) ≈ 157: ±1 000 is over 6 σ.
        assert!((44_000..46_000).contains(&moved), "{moved}");
        // Every key that moved is one of those the new split sends to the canary:
        // exactly the keys whose fraction lies in [0.50, 0.95).
        for key in 0..KEYS {
            let fraction = (u128::from(mix64(key)) * 10_000) >> 64;
            let expected_move = (5_000..9_500).contains(&fraction);
            let k = key as usize;
            assert_eq!(before[k] != after[k], expected_move, "key {key}");
        }
    }

    #[test]
    fn integer_weights_and_basis_points_agree_on_the_same_shares() {
        let percent = Split::new(&[95, 5]).unwrap();
        let basis = Split::basis_points(&[9_500, 500]).unwrap();
        for key in 0..10_000 {
            assert_eq!(percent.pick_sticky(key), basis.pick_sticky(key), "{key}");
        }
    }

    #[test]
    fn bad_weights_are_config_errors_and_keep_the_old_ones() {
        let reason = |weights: &[u32]| Split::new(weights).unwrap_err().reason;
        assert_eq!(reason(&[]), "must list at least 1 backend");
        assert_eq!(reason(&[0, 0]), "must not all be 0");
        assert_eq!(reason(&[1; 17]), "must list at most 16 backends");
        assert_eq!(
            Split::basis_points(&[9_000, 500]).unwrap_err().reason,
            "must sum to 10000 basis points"
        );
        let mut split = Split::basis_points(&[9_500, 500]).unwrap();
        assert_eq!(
            split.set_weights(1, &[100, 9_900, 0]).unwrap_err().reason,
            "must list one weight per backend of the split"
        );
        assert_eq!(
            split.set_weights(2, &[100, 100]).unwrap_err().reason,
            "must sum to 10000 basis points"
        );
        assert_eq!(split.weights(), [9_500, 500]);
        assert_eq!(split.changed_at(), None);
        assert!(Split::new(&[u32::MAX; MAX_BACKENDS]).is_ok());
    }

    #[test]
    fn a_single_backend_takes_everything() {
        let split = Split::new(&[3]).unwrap();
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        assert!((0..100).all(|_| split.pick(&mut rng) == 0));
        assert!((0..100).all(|key| split.pick_sticky(key) == 0));
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        /// Moving weight between two adjacent backends moves a key only between those
        /// two, and only toward the one that gained: every other key stays.
        #[test]
        fn adjacent_shifts_move_keys_only_toward_the_gainer(
            weights in prop::collection::vec(0u32..1_000, 2..6),
            from in 0usize..5,
            amount in 0u32..1_000,
            keys in prop::collection::vec(any::<u64>(), 64),
        ) {
            let from = from % (weights.len() - 1);
            let to = from + 1;
            let mut weights = weights;
            weights[from] += 1; // never all zero
            let mut split = Split::new(&weights).unwrap();
            let before: Vec<usize> = keys.iter().map(|&k| split.pick_sticky(k)).collect();
            let moved = amount.min(weights[from]);
            let mut shifted = weights.clone();
            shifted[from] -= moved;
            shifted[to] += moved;
            // The total is unchanged, so the new weights are as valid as the old.
            prop_assert!(split.set_weights(0, &shifted).is_ok());
            for (i, &key) in keys.iter().enumerate() {
                let after = split.pick_sticky(key);
                if after != before[i] {
                    prop_assert_eq!((before[i], after), (from, to), "key {}", key);
                }
                prop_assert!(shifted[after] > 0);
            }
        }
    }
}
