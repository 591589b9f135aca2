//! **Envoy**'s zone-aware routing: a caller in zone *z* sends to hosts in *z* while
//! *z* has at least its share of the healthy hosts, and spills the residual to the
//! other zones in proportion to their spare capacity when it has less.
//!
//! Semantics, from envoyproxy/envoy,
//! `source/extensions/load_balancing_policies/common/load_balancer_impl.cc`,
//! `ZoneAwareLoadBalancerBase`:
//!
//! - *percentages* are integers out of 10,000: a zone's share of the local cluster
//!   (the callers, `local_percentage`) and of the upstream's healthy hosts
//!   (`upstream_percentage`), each `10000 × hosts_in_zone / hosts` (truncated);
//! - no zone awareness at all (`earlyExitNonLocalityRouting`) when the upstream has
//!   fewer than 2 zones, when the local zone has no healthy upstream host or no
//!   local host, or when the upstream has fewer healthy hosts than
//!   `min_cluster_size` (default 6);
//! - per pick, zone awareness is skipped unless a draw falls within
//!   `routing_enabled` percent (default 100; `featureEnabled`, `random % 100 <
//!   percent`); the owner also skips it when the upstream is in panic
//!   (`hostSourceToUse` checks panic first), which is why this type is told only
//!   the hosts the balancer may use;
//! - `LocalityDirect` when `upstream[local] ≥ local[local]`: every pick stays in
//!   the local zone;
//! - otherwise `LocalityResidual`: a pick stays local when `random % 10000 <
//!   upstream[local] × 10000 / local[local]`, and else goes to another zone *i*
//!   with probability proportional to its residual capacity `upstream[i] −
//!   local[i]` (zones without spare capacity get nothing), found by
//!   `random % total_residual` in the cumulative sums (`tryChooseLocalLocalityHosts`).
//!
//! One priority level is modelled, and Envoy's plan (recomputed there when the
//! membership changes) is recomputed here at every pick from the hosts it is given:
//! the same numbers, with no state to go stale. A zone is a small integer below the
//! count given at construction; a larger one is a bug of the owner and panics.

use rand::RngCore;

use super::HostId;
use crate::ConfigError;

/// A zone, as a small integer chosen by the owner (below [`ZoneRouter::zones`]).
pub type Zone = u16;

/// Envoy's percentages are out of this.
pub const ALL: u64 = 10_000;

/// Envoy's `zone_aware_lb_config`: `routing_enabled` and `min_cluster_size`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ZoneAwareConfig {
    routing_enabled_percent: u32,
    min_cluster_size: u32,
}

impl Default for ZoneAwareConfig {
    /// Envoy's defaults: routing enabled for 100% of picks, clusters of 6 or more.
    fn default() -> Self {
        ZoneAwareConfig {
            routing_enabled_percent: 100,
            min_cluster_size: 6,
        }
    }
}

impl ZoneAwareConfig {
    /// Zone awareness for `routing_enabled_percent` (in `[0, 100]`) of picks, on
    /// upstreams with at least `min_cluster_size` healthy hosts.
    pub fn new(
        routing_enabled_percent: u32,
        min_cluster_size: u32,
    ) -> Result<ZoneAwareConfig, ConfigError> {
        if routing_enabled_percent > 100 {
            return Err(ConfigError::new(
                "zone_aware",
                "routing_enabled",
                "must be in [0, 100]",
            ));
        }
        Ok(ZoneAwareConfig {
            routing_enabled_percent,
            min_cluster_size,
        })
    }

    /// The percentage of picks that are zone aware.
    pub fn routing_enabled_percent(&self) -> u32 {
        self.routing_enabled_percent
    }

    /// The fewest healthy upstream hosts for zone awareness to engage.
    pub fn min_cluster_size(&self) -> u32 {
        self.min_cluster_size
    }
}

/// Envoy's `LocalityRoutingState` for one local zone, given the healthy hosts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ZonePlan {
    /// No zone awareness: every healthy host is a candidate.
    NoLocalityRouting,
    /// The local zone has at least its share: every pick stays local.
    Direct,
    /// The local zone has less than its share: this many picks out of 10,000 stay
    /// local, the rest spill to the zones with residual capacity.
    Residual {
        /// `upstream[local] × 10000 / local[local]`.
        local_percent_to_route: u64,
    },
}

/// Which hosts one pick may use.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ZoneChoice {
    /// Every candidate (no zone awareness for this pick).
    Any,
    /// Only the candidates in this zone.
    Zone(Zone),
}

/// Zone-aware routing for callers whose cluster is spread over zones as given (see
/// the module documentation).
///
/// ```
/// use std::time::Instant;
/// use meshsim_patterns::discovery::{ZoneAwareConfig, ZoneChoice, ZoneRouter};
///
/// let start = Instant::now();
/// // Callers: 2 in each of zones 0, 1, 2; hosts 0..6, host h in zone h % 3.
/// let mut router = ZoneRouter::new(ZoneAwareConfig::default(), &[2, 2, 2]);
/// let zone_of = |host: u32| (host % 3) as u16;
/// let mut rng = <rand_chacha::ChaCha8Rng as rand::SeedableRng>::seed_from_u64(1);
/// let mut view = Vec::with_capacity(6);
/// let healthy = [0, 1, 2, 3, 4, 5];
/// let choice = router.select(0, &healthy, zone_of, &mut rng, &mut view);
/// assert_eq!((choice, view.as_slice()), (ZoneChoice::Zone(0), &[0, 3][..]));
/// let _now = start.elapsed().as_nanos() as u64;
/// ```
#[derive(Clone, Debug)]
pub struct ZoneRouter {
    config: ZoneAwareConfig,
    /// Per zone: the local cluster's hosts there, and its share out of 10,000.
    local_percent: Vec<u64>,
    local_hosts: Vec<u32>,
    /// Scratch, per zone: healthy upstream hosts, and cumulative residual capacity.
    upstream: Vec<u64>,
    residual: Vec<u64>,
}

impl ZoneRouter {
    /// A router for callers with `local_hosts[z]` hosts in zone `z`; the zones are
    /// `0..local_hosts.len()` (upstream hosts too are in those zones).
    pub fn new(config: ZoneAwareConfig, local_hosts: &[u32]) -> ZoneRouter {
        let total: u64 = local_hosts.iter().map(|&n| u64::from(n)).sum();
        ZoneRouter {
            config,
            local_percent: local_hosts
                .iter()
                .map(|&n| percent(u64::from(n), total))
                .collect(),
            local_hosts: local_hosts.to_vec(),
            upstream: vec![0; local_hosts.len()],
            residual: vec![0; local_hosts.len()],
        }
    }

    /// The configuration.
    pub fn config(&self) -> ZoneAwareConfig {
        self.config
    }

    /// How many zones there are.
    pub fn zones(&self) -> usize {
        self.local_hosts.len()
    }

    /// The plan for a caller in `local` when the upstream's usable hosts are
    /// `healthy` (`zone_of` says where each is); it also leaves the residual
    /// capacities ready for [`choose`](Self::choose).
    pub fn plan(
        &mut self,
        local: Zone,
        healthy: &[HostId],
        zone_of: impl Fn(HostId) -> Zone,
    ) -> ZonePlan {
        let local = usize::from(local);
        assert!(local < self.zones(), "zone {local} of {}", self.zones());
        self.upstream.fill(0);
        for &host in healthy {
            self.upstream[usize::from(zone_of(host))] += 1;
        }
        let total = healthy.len() as u64;
        if self.zones() < 2
            || self.upstream[local] == 0
            || self.local_hosts[local] == 0
            || total < u64::from(self.config.min_cluster_size)
        {
            return ZonePlan::NoLocalityRouting;
        }
        for count in &mut self.upstream {
            *count = percent(*count, total);
        }
        let (upstream_local, local_local) = (self.upstream[local], self.local_percent[local]);
        if upstream_local >= local_local {
            return ZonePlan::Direct;
        }
        let mut cumulative = 0;
        for zone in 0..self.zones() {
            let (up, here) = (self.upstream[zone], self.local_percent[zone]);
            if zone != local && up > here {
                cumulative += up - here;
            }
            self.residual[zone] = cumulative;
        }
        ZonePlan::Residual {
            local_percent_to_route: upstream_local * ALL / local_local,
        }
    }

    /// Which hosts one pick of a caller in `local` may use, of the upstream's
    /// usable hosts `healthy`. Draws from `rng` only when it has to: the
    /// `routing_enabled` draw below 100%, and the spill draws of a residual plan.
    pub fn choose(
        &mut self,
        local: Zone,
        healthy: &[HostId],
        zone_of: impl Fn(HostId) -> Zone,
        rng: &mut impl RngCore,
    ) -> ZoneChoice {
        let plan = self.plan(local, healthy, zone_of);
        if plan == ZonePlan::NoLocalityRouting {
            return ZoneChoice::Any;
        }
        let enabled = self.config.routing_enabled_percent;
        if enabled < 100 && rng.next_u64() % 100 >= u64::from(enabled) {
            return ZoneChoice::Any;
        }
        let ZonePlan::Residual {
            local_percent_to_route,
        } = plan
        else {
            return ZoneChoice::Zone(local);
        };
        let total = self.residual.last().copied().unwrap_or(0);
        if rng.next_u64() % ALL < local_percent_to_route || total == 0 {
            // (No residual anywhere happens only by rounding: stay local.)
            return ZoneChoice::Zone(local);
        }
        let threshold = rng.next_u64() % total;
        let zone = self
            .residual
            .iter()
            .position(|&cumulative| threshold < cumulative)
            .expect("the threshold is below the total");
        ZoneChoice::Zone(zone as Zone)
    }

    /// [`choose`](Self::choose), and fills `view` with the hosts of `healthy` the
    /// pick may use (cleared first; give it the capacity of `healthy` and it never
    /// allocates). The view is never empty when `healthy` is not: a chosen zone
    /// always has a healthy host.
    pub fn select(
        &mut self,
        local: Zone,
        healthy: &[HostId],
        zone_of: impl Fn(HostId) -> Zone,
        rng: &mut impl RngCore,
        view: &mut Vec<HostId>,
    ) -> ZoneChoice {
        let choice = self.choose(local, healthy, &zone_of, rng);
        view.clear();
        match choice {
            ZoneChoice::Any => view.extend_from_slice(healthy),
            ZoneChoice::Zone(zone) => {
                view.extend(healthy.iter().copied().filter(|&h| zone_of(h) == zone));
            }
        }
        debug_assert!(view.is_empty() == healthy.is_empty(), "{choice:?}");
        choice
    }
}

/// Envoy's `calculateLocalityPercentage`: `10000 × part / total`, 0 of nothing.
fn percent(part: u64, total: u64) -> u64 {
    (ALL * part).checked_div(total).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    fn zone_of(zones: &'static [Zone]) -> impl Fn(HostId) -> Zone {
        move |h| zones[h as usize]
    }

    #[test]
    fn a_healthy_local_zone_keeps_every_pick() {
        let mut router = ZoneRouter::new(ZoneAwareConfig::default(), &[2, 2, 2]);
        let zones: &[Zone] = &[0, 1, 2, 0, 1, 2];
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let healthy = [0, 1, 2, 3, 4, 5];
        assert_eq!(router.plan(1, &healthy, zone_of(zones)), ZonePlan::Direct);
        for _ in 0..1000 {
            assert_eq!(
                router.choose(1, &healthy, zone_of(zones), &mut rng),
                ZoneChoice::Zone(1)
            );
        }
    }

    #[test]
    fn small_clusters_disabled_routing_and_an_empty_local_zone_are_not_zone_aware() {
        let zones: &[Zone] = &[0, 1, 2, 0, 1, 2];
        let mut rng = ChaCha8Rng::seed_from_u64(2);
        let mut router = ZoneRouter::new(ZoneAwareConfig::default(), &[1, 1, 1]);
        // 5 healthy hosts < min_cluster_size 6.
        let plan = router.plan(0, &[0, 1, 2, 3, 4], zone_of(zones));
        assert_eq!(plan, ZonePlan::NoLocalityRouting);
        // No healthy host in the local zone: Envoy's early exit, not a residual.
        let small = ZoneAwareConfig::new(100, 1).unwrap();
        let mut router = ZoneRouter::new(small, &[1, 1, 1]);
        assert_eq!(
            router.plan(0, &[1, 2, 4, 5], zone_of(zones)),
            ZonePlan::NoLocalityRouting
        );
        // A zone with no local host.
        let mut router = ZoneRouter::new(small, &[0, 1, 1]);
        assert_eq!(
            router.plan(0, &[0, 1, 2], zone_of(zones)),
            ZonePlan::NoLocalityRouting
        );
        let off = ZoneAwareConfig::new(0, 1).unwrap();
        let mut router = ZoneRouter::new(off, &[1, 1, 1]);
        let healthy = [0, 1, 2, 3, 4, 5];
        assert!(
            (0..100)
                .all(|_| router.choose(0, &healthy, zone_of(zones), &mut rng) == ZoneChoice::Any)
        );
        assert!(ZoneAwareConfig::new(101, 6).is_err());
    }

    #[test]
    fn envoys_worked_example_spills_in_proportion_to_residual_capacity() {
        // Envoy's comment's numbers: local 40/40/20%, upstream 25/50/25%, so
        // 25/40 = 62.5% stay local and the rest spills 2:1 by residual
        // capacity (zone 1: 50 − 40 = 10 points, zone 2: 25 − 20 = 5).
        let config = ZoneAwareConfig::new(100, 1).unwrap();
        let mut router = ZoneRouter::new(config, &[4, 4, 2]);
        let zones: &[Zone] = &[0, 1, 1, 2];
        let healthy = [0, 1, 2, 3];
        assert_eq!(
            router.plan(0, &healthy, zone_of(zones)),
            ZonePlan::Residual {
                local_percent_to_route: 6250
            }
        );
        assert_eq!(router.residual, [0, 1000, 1500]);
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let mut counts = [0u32; 3];
        let picks = 40_000;
        for _ in 0..picks {
            match router.choose(0, &healthy, zone_of(zones), &mut rng) {
                ZoneChoice::Zone(z) => counts[usize::from(z)] += 1,
                ZoneChoice::Any => panic!("zone aware"),
            }
        }
        // Expected 62.5%, 25%, 12.5%; binomial sd ≤ 0.25 points at 40,000
        // picks, so 1 point is four standard errors.
        let share = |c: u32| 100.0 * f64::from(c) / f64::from(picks);
        for (zone, expected) in [(0, 62.5), (1, 25.0), (2, 12.5)] {
            let got = share(counts[zone]);
            assert!((got - expected).abs() < 1.0, "zone {zone}: {got}%");
        }
    }

    /// Envoy's computation, transliterated, for the property test.
    fn reference(local: &[u32], upstream: &[u32], at: usize, min: u32) -> (ZonePlan, Vec<u64>) {
        let sum = |v: &[u32]| v.iter().map(|&n| u64::from(n)).sum::<u64>();
        let (lt, ut) = (sum(local), sum(upstream));
        let pct = |n: u32, t: u64| (10000 * u64::from(n)).checked_div(t).unwrap_or(0);
        if local.len() < 2 || upstream[at] == 0 || local[at] == 0 || ut < u64::from(min) {
            return (ZonePlan::NoLocalityRouting, vec![]);
        }
        let lp: Vec<u64> = local.iter().map(|&n| pct(n, lt)).collect();
        let up: Vec<u64> = upstream.iter().map(|&n| pct(n, ut)).collect();
        if up[at] >= lp[at] {
            return (ZonePlan::Direct, vec![]);
        }
        let mut residual = vec![0; local.len()];
        let mut acc = 0;
        for i in 0..local.len() {
            if i != at && up[i] > lp[i] {
                acc += up[i] - lp[i];
            }
            residual[i] = acc;
        }
        let plan = ZonePlan::Residual {
            local_percent_to_route: up[at] * 10000 / lp[at],
        };
        (plan, residual)
    }

    proptest! {
        #[test]
        fn never_picks_outside_the_candidates_and_follows_envoys_formula(
            local in proptest::collection::vec(0u32..8, 1..5),
            hosts in proptest::collection::vec((0u16..4, any::<bool>()), 0..24),
            at in 0usize..4,
            min in 0u32..8,
            enabled in 0u32..=100,
            seed in any::<u64>(),
        ) {
            let zones = local.len();
            let at = at % zones;
            let host_zones: Vec<Zone> = hosts.iter().map(|(z, _)| z % zones as u16).collect();
            let healthy: Vec<HostId> = (0..hosts.len() as u32)
                .filter(|&h| hosts[h as usize].1)
                .collect();
            let config = ZoneAwareConfig::new(enabled, min).unwrap();
            let mut router = ZoneRouter::new(config, &local);
            let of = |h: HostId| host_zones[h as usize];
            let mut upstream = vec![0u32; zones];
            for &h in &healthy {
                upstream[usize::from(of(h))] += 1;
            }
            let (plan, residual) = reference(&local, &upstream, at, min);
            prop_assert_eq!(router.plan(at as Zone, &healthy, of), plan);
            if let ZonePlan::Residual { .. } = plan {
                prop_assert_eq!(&router.residual, &residual);
            }
            let mut rng = ChaCha8Rng::seed_from_u64(seed);
            let mut view = Vec::with_capacity(healthy.len());
            for _ in 0..16 {
                let choice = router.select(at as Zone, &healthy, of, &mut rng, &mut view);
                prop_assert!(view.iter().all(|h| healthy.contains(h)), "outside: {view:?}");
                prop_assert_eq!(view.is_empty(), healthy.is_empty());
                if plan == ZonePlan::Direct && enabled == 100 {
                    prop_assert_eq!(choice, ZoneChoice::Zone(at as Zone));
                }
                if plan == ZonePlan::NoLocalityRouting {
                    prop_assert_eq!(choice, ZoneChoice::Any);
                }
            }
        }
    }
}
