//! **Envoy**'s panic threshold: when too few hosts are healthy, the load balancer
//! ignores health and balances over all of them, on the theory that sending the load to
//! the few healthy ones would only knock them over too.
//!
//! Semantics, from envoyproxy/envoy,
//! `source/extensions/load_balancing_policies/common/load_balancer_impl.cc`,
//! `LoadBalancerBase::isHostSetInPanic`: with `healthy_percent = 100 × healthy /
//! hosts` (0 for an empty set) the set is in panic iff `healthy_percent <
//! healthy_panic_threshold` (strictly), the threshold being capped at 100 and 50% by
//! default (`common_lb_config.healthy_panic_threshold`). In panic, traffic goes to all
//! hosts, or to none with `zone_aware_lb_config.fail_traffic_on_panic`. A threshold of
//! 0 disables panic: with no healthy host there is then nothing to route to, Envoy's
//! "no healthy upstream" (503). One priority level is modelled: with several, Envoy
//! first spills load to lower priorities by their health scaled by the
//! overprovisioning factor (1.4), and never panics while that total reaches 100%.
//! Degraded hosts count as healthy here (Envoy adds them to the healthy share).
//!
//! This is where users meet two surprises (see `REFERENCE.md`, envoy #2671, #28304,
//! #27066, istio #20135), both reproduced in the outlier detector's tests
//! (`outlier/tests.rs`): with three hosts, ejecting two leaves 33% < 50%
//! healthy, so traffic goes to all three again and ejection "does nothing"; and a
//! small pool can be ejected whole under the `max_ejection_percent` rule as Envoy once
//! applied it, after which panic routes to every (ejected) host, or, with panic
//! disabled, to none.

use super::HostId;
use crate::ConfigError;

/// Where the balancer may send traffic, given the health of the hosts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Routing {
    /// Enough hosts are healthy: balance over the healthy ones (possibly none, when
    /// panic is disabled: "no healthy upstream").
    Healthy,
    /// Panic: balance over all hosts, healthy or not.
    AllHosts,
    /// Panic with `fail_traffic_on_panic`: send nothing.
    NoHosts,
}

/// Envoy's panic threshold (see the module documentation).
///
/// ```
/// use std::time::Instant;
/// use meshsim_patterns::discovery::{PanicThreshold, Routing};
///
/// let start = Instant::now();
/// let panic = PanicThreshold::default(); // 50%
/// assert_eq!(panic.routing(4, 2), Routing::Healthy); // 50% is not below 50%
/// assert_eq!(panic.routing(3, 1), Routing::AllHosts); // 33%: ignore health
/// let mut view = Vec::with_capacity(3);
/// let routing = panic.select(&[7, 8, 9], |host| host == 8, &mut view);
/// assert_eq!((routing, view.as_slice()), (Routing::AllHosts, &[7, 8, 9][..]));
/// let _now = start.elapsed().as_nanos() as u64;
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct PanicThreshold {
    percent: f64,
    fail_traffic_on_panic: bool,
}

impl Default for PanicThreshold {
    /// Envoy's default: 50%, traffic to all hosts in panic.
    fn default() -> Self {
        PanicThreshold {
            percent: 50.0,
            fail_traffic_on_panic: false,
        }
    }
}

impl PanicThreshold {
    /// A threshold of `percent` healthy hosts, in `[0, 100]`; 0 disables panic.
    pub fn new(percent: f64) -> Result<PanicThreshold, ConfigError> {
        if !(0.0..=100.0).contains(&percent) {
            return Err(ConfigError::new(
                "panic_threshold",
                "healthy_panic_threshold",
                "must be in [0, 100]",
            ));
        }
        Ok(PanicThreshold {
            percent,
            fail_traffic_on_panic: false,
        })
    }

    /// The same threshold, sending no traffic at all in panic
    /// (`fail_traffic_on_panic`).
    #[must_use]
    pub fn failing_traffic_on_panic(self) -> PanicThreshold {
        PanicThreshold {
            fail_traffic_on_panic: true,
            ..self
        }
    }

    /// The threshold in percent.
    pub fn percent(&self) -> f64 {
        self.percent
    }

    /// Whether `healthy` of `total` hosts is a panic: `100 × healthy / total <
    /// threshold`, an empty set being 0% healthy.
    pub fn in_panic(&self, total: usize, healthy: usize) -> bool {
        debug_assert!(healthy <= total, "{healthy} healthy of {total}");
        let healthy_percent = if total == 0 {
            0.0
        } else {
            100.0 * healthy as f64 / total as f64
        };
        healthy_percent < self.percent
    }

    /// Where traffic goes with `healthy` of `total` hosts healthy.
    pub fn routing(&self, total: usize, healthy: usize) -> Routing {
        match (self.in_panic(total, healthy), self.fail_traffic_on_panic) {
            (false, _) => Routing::Healthy,
            (true, false) => Routing::AllHosts,
            (true, true) => Routing::NoHosts,
        }
    }

    /// Fills `view` with the hosts the balancer may choose from, the caller's view of
    /// `hosts` given which are healthy, and says why. `view` is cleared first; give it
    /// the capacity of `hosts` and it never allocates.
    pub fn select(
        &self,
        hosts: &[HostId],
        mut is_healthy: impl FnMut(HostId) -> bool,
        view: &mut Vec<HostId>,
    ) -> Routing {
        view.clear();
        view.extend(hosts.iter().copied().filter(|&host| is_healthy(host)));
        let routing = self.routing(hosts.len(), view.len());
        match routing {
            Routing::Healthy => {}
            Routing::AllHosts => {
                view.clear();
                view.extend_from_slice(hosts);
            }
            Routing::NoHosts => view.clear(),
        }
        routing
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn panic_is_strictly_below_the_threshold() {
        let panic = PanicThreshold::default();
        let check = |total, healthy, expected| {
            assert_eq!(
                panic.in_panic(total, healthy),
                expected,
                "{healthy}/{total}"
            );
        };
        check(4, 2, false); // 50%
        check(3, 2, false); // 66.7%
        check(3, 1, true); // 33.3%
        check(2, 0, true);
        check(0, 0, true); // an empty set is 0% healthy
        check(100, 49, true);
        check(100, 50, false);
    }

    #[test]
    fn zero_disables_panic_and_fail_traffic_sends_nothing() {
        let off = PanicThreshold::new(0.0).unwrap();
        assert_eq!(off.routing(3, 0), Routing::Healthy);
        let mut view = Vec::new();
        assert_eq!(
            off.select(&[1, 2, 3], |_| false, &mut view),
            Routing::Healthy
        );
        assert!(view.is_empty(), "no healthy upstream");
        let failing = PanicThreshold::default().failing_traffic_on_panic();
        assert_eq!(
            failing.select(&[1, 2, 3], |h| h == 1, &mut view),
            Routing::NoHosts
        );
        assert!(view.is_empty());
        assert_eq!(
            failing.select(&[1, 2, 3], |h| h != 1, &mut view),
            Routing::Healthy
        );
        assert_eq!(view, vec![2, 3]);
        assert_eq!(
            PanicThreshold::new(100.0).unwrap().routing(10, 9),
            Routing::AllHosts
        );
    }

    #[test]
    fn the_threshold_must_be_a_percentage() {
        for bad in [-1.0, 100.5, f64::NAN] {
            assert_eq!(
                PanicThreshold::new(bad).unwrap_err().field,
                "healthy_panic_threshold"
            );
        }
    }
}
