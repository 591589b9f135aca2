//! A client's cached view of the registry, refreshed on a timer as the **Eureka
//! client** does, and kept as it is when the registry cannot be reached.
//!
//! Semantics, from Netflix/eureka, `eureka-client/src/main/java/com/netflix/discovery/`:
//!
//! - `DiscoveryClient.java`: the registry is fetched once at start-up, then by the
//!   `CacheRefreshThread` every `registryFetchIntervalSeconds` (30 s). A failed fetch
//!   is logged and the previous applications are kept: clients go on calling the
//!   instances they last knew, which is what makes Eureka "AP".
//! - `TimedSupervisorTask.java`: the refresh is rescheduled with a delay that doubles
//!   after each fetch that *timed out*, up to `cacheRefreshExecutorExponentialBackOffBound`
//!   (10) times the interval, and goes back to the interval after a fetch that
//!   completed. Other failures do not change the delay.
//!
//! The owner asks [`CachedView::due`] (or [`CachedView::next_refresh_at`]), fetches,
//! and reports [`CachedView::refresh`] with the members it got, or
//! [`CachedView::refresh_failed`] / [`CachedView::refresh_timed_out`]; when the
//! registry is simply unavailable the owner may also just not refresh. In all those
//! cases the view stays what it was.
//!
//! Staleness adds up along the way: a dead instance stays in a client's view for up to
//! the lease expiry (90 s, or 180 s with Eureka's quirk), plus the eviction sweep (60
//! s), plus the server's read-only response cache (30 s, `responseCacheUpdateIntervalMs`,
//! not modelled here: chain two views to model it), plus this refresh (30 s).
//!
//! # Stagger
//!
//! Clients that all start at once all refresh at once, on the same grid of intervals,
//! so in a simulation every caller learns of a change at the same instants and
//! detection times cluster on that grid. Real clients start at scattered moments.
//! [`CachedView::staggered`] gives a view the phase such a client would have: the
//! start-up fetch is at once, the first periodic refresh a random delay in
//! `(0, interval]` after it, then every interval (Consul's agent staggers its checks
//! the same way, `lib.RandomStagger`).
//!
//! # Bounds
//!
//! The view holds at most `capacity` members, in a buffer allocated at construction; a
//! refresh with more is refused whole and the previous view is kept.

use std::time::Duration;

use super::HostId;
use crate::{ConfigError, Nanos, nanos_of};

/// A cached view's configuration; the default is the Eureka client's.
///
/// ```
/// use std::time::{Duration, Instant};
/// use meshsim_patterns::discovery::{CachedView, CachedViewConfig};
///
/// let start = Instant::now();
/// let config = CachedViewConfig::default();
/// assert_eq!(config.refresh_interval, Duration::from_secs(30));
/// let view = CachedView::new(config, 16, start.elapsed().as_nanos() as u64)?;
/// assert!(view.members().is_empty());
/// # Ok::<(), meshsim_patterns::ConfigError>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CachedViewConfig {
    /// Time between refreshes (`registryFetchIntervalSeconds`, 30 s); at least 1 ns.
    pub refresh_interval: Duration,
    /// After timeouts the delay doubles up to this many intervals
    /// (`cacheRefreshExecutorExponentialBackOffBound`, 10); at least 1.
    pub max_backoff_multiplier: u32,
}

impl Default for CachedViewConfig {
    fn default() -> Self {
        CachedViewConfig {
            refresh_interval: Duration::from_secs(30),
            max_backoff_multiplier: 10,
        }
    }
}

impl CachedViewConfig {
    /// Whether a [`CachedView`] can run with this configuration.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.refresh_interval.is_zero() {
            return Err(ConfigError::new(
                "cached_view",
                "refresh_interval",
                "must be positive",
            ));
        }
        if self.max_backoff_multiplier == 0 {
            return Err(ConfigError::new(
                "cached_view",
                "max_backoff_multiplier",
                "must be at least 1",
            ));
        }
        Ok(())
    }
}

/// A refresh with more members than the view can hold; the previous view is kept.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TooManyMembers {
    /// The view's capacity.
    pub capacity: u32,
}

/// A client's cached copy of the registry's members (see the module documentation).
///
/// ```
/// use std::time::{Duration, Instant};
/// use meshsim_patterns::discovery::{CachedView, CachedViewConfig};
///
/// let start = Instant::now();
/// let t0 = start.elapsed().as_nanos() as u64;
/// let mut view = CachedView::new(CachedViewConfig::default(), 8, t0)?;
/// assert!(view.due(t0)); // the first fetch is at start-up
/// view.refresh(t0, [1, 2, 3]).unwrap();
/// let sec = 1_000_000_000;
/// assert!(!view.due(t0 + 29 * sec));
/// // The registry is down at 30 s: the client keeps calling what it knew.
/// view.refresh_failed(t0 + 30 * sec);
/// assert_eq!(view.members(), &[1, 2, 3]);
/// assert_eq!(view.age(t0 + 45 * sec), Some(Duration::from_secs(45)));
/// # Ok::<(), meshsim_patterns::ConfigError>(())
/// ```
#[derive(Clone, Debug)]
pub struct CachedView {
    config: CachedViewConfig,
    interval: Nanos,
    members: Vec<HostId>,
    /// The incoming members of a refresh, swapped in when it fits.
    incoming: Vec<HostId>,
    capacity: u32,
    delay: Nanos,
    /// The delay after the first successful fetch, if staggered.
    first_delay: Option<Nanos>,
    next_refresh_at: Nanos,
    last_refresh_at: Option<Nanos>,
    refreshes: u64,
    failures: u64,
    last_now: Nanos,
}

impl CachedView {
    /// An empty view created at `now`, holding at most `capacity` members; its first
    /// refresh is due at once.
    pub fn new(
        config: CachedViewConfig,
        capacity: u32,
        now: Nanos,
    ) -> Result<CachedView, ConfigError> {
        config.validate()?;
        let interval = nanos_of(config.refresh_interval);
        Ok(CachedView {
            config,
            interval,
            members: Vec::with_capacity(capacity as usize),
            incoming: Vec::with_capacity(capacity as usize),
            capacity,
            delay: interval,
            first_delay: None,
            next_refresh_at: now,
            last_refresh_at: None,
            refreshes: 0,
            failures: 0,
            last_now: now,
        })
    }

    /// An empty view created at `now` whose start-up fetch is due at once and whose
    /// first periodic refresh comes a uniform random delay in `(0, interval]` after
    /// that fetch succeeds (see the module documentation), then every interval.
    ///
    /// ```
    /// use std::time::{Duration, Instant};
    /// use meshsim_patterns::discovery::{CachedView, CachedViewConfig};
    /// use rand::SeedableRng;
    ///
    /// let start = Instant::now();
    /// let t0 = start.elapsed().as_nanos() as u64;
    /// let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(1);
    /// let mut view = CachedView::staggered(CachedViewConfig::default(), 8, t0, &mut rng)?;
    /// assert!(view.due(t0));
    /// view.refresh(t0, [1, 2]).unwrap();
    /// let first = view.next_refresh_at() - t0;
    /// assert!(first > 0 && first <= 30_000_000_000);
    /// view.refresh(view.next_refresh_at(), [1, 2]).unwrap();
    /// # Ok::<(), meshsim_patterns::ConfigError>(())
    /// ```
    pub fn staggered(
        config: CachedViewConfig,
        capacity: u32,
        now: Nanos,
        rng: &mut impl rand::RngCore,
    ) -> Result<CachedView, ConfigError> {
        let mut view = CachedView::new(config, capacity, now)?;
        view.first_delay = Some(crate::uniform_inclusive(rng, 1, view.interval));
        Ok(view)
    }

    /// The configuration.
    pub fn config(&self) -> &CachedViewConfig {
        &self.config
    }

    /// The members as of the last successful refresh, in the order given.
    pub fn members(&self) -> &[HostId] {
        &self.members
    }

    /// When the next refresh is due.
    pub fn next_refresh_at(&self) -> Nanos {
        self.next_refresh_at
    }

    /// Whether a refresh is due at `now`.
    pub fn due(&self, now: Nanos) -> bool {
        now >= self.next_refresh_at
    }

    /// When the view was last refreshed, if ever.
    pub fn last_refresh_at(&self) -> Option<Nanos> {
        self.last_refresh_at
    }

    /// How old the view is at `now`, if it was ever refreshed.
    pub fn age(&self, now: Nanos) -> Option<Duration> {
        self.last_refresh_at
            .map(|at| Duration::from_nanos(now.saturating_sub(at)))
    }

    /// Successful refreshes and failed ones (timeouts included) so far.
    pub fn counts(&self) -> (u64, u64) {
        (self.refreshes, self.failures)
    }

    /// A fetch completed at `now` with these members: they become the view, and the
    /// next refresh is one interval later. More than `capacity` members are refused
    /// whole (the view stays as it was, and the refresh counts as failed).
    pub fn refresh(
        &mut self,
        now: Nanos,
        members: impl IntoIterator<Item = HostId>,
    ) -> Result<(), TooManyMembers> {
        self.advance(now);
        self.delay = self.interval;
        self.next_refresh_at = now.saturating_add(self.delay);
        self.incoming.clear();
        for member in members {
            if self.incoming.len() == self.capacity as usize {
                self.failures += 1;
                return Err(TooManyMembers {
                    capacity: self.capacity,
                });
            }
            self.incoming.push(member);
        }
        std::mem::swap(&mut self.members, &mut self.incoming);
        if let Some(first) = self.first_delay.take() {
            self.next_refresh_at = now.saturating_add(first);
        }
        self.last_refresh_at = Some(now);
        self.refreshes += 1;
        Ok(())
    }

    /// A fetch failed at `now` (an error answer, a refused connection): the view is
    /// kept and the next refresh is one delay later.
    pub fn refresh_failed(&mut self, now: Nanos) {
        self.advance(now);
        self.failures += 1;
        self.next_refresh_at = now.saturating_add(self.delay);
    }

    /// A fetch timed out at `now`: the view is kept and the delay doubles, up to
    /// `max_backoff_multiplier` intervals (Eureka's `TimedSupervisorTask`).
    pub fn refresh_timed_out(&mut self, now: Nanos) {
        self.advance(now);
        self.failures += 1;
        let max = self
            .interval
            .saturating_mul(u64::from(self.config.max_backoff_multiplier));
        self.delay = self.delay.saturating_mul(2).min(max);
        self.next_refresh_at = now.saturating_add(self.delay);
    }

    fn advance(&mut self, now: Nanos) {
        debug_assert!(now >= self.last_now, "time went backwards");
        self.last_now = self.last_now.max(now);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SEC: u64 = 1_000_000_000;

    fn view(capacity: u32) -> CachedView {
        CachedView::new(CachedViewConfig::default(), capacity, 0).unwrap()
    }

    #[test]
    fn refreshes_every_interval_and_keeps_the_last_view_when_the_registry_is_down() {
        let mut view = view(4);
        assert!(view.due(0));
        assert_eq!(view.age(0), None);
        view.refresh(0, [3, 1]).unwrap();
        assert_eq!(view.next_refresh_at(), 30 * SEC);
        assert!(!view.due(30 * SEC - 1));
        // The owner cannot reach the registry at 30 s and simply does not refresh.
        assert!(view.due(75 * SEC));
        assert_eq!(view.members(), &[3, 1]);
        assert_eq!(view.age(75 * SEC), Some(Duration::from_secs(75)));
        view.refresh(80 * SEC, [1, 2, 4]).unwrap();
        assert_eq!(view.members(), &[1, 2, 4]);
        assert_eq!(view.next_refresh_at(), 110 * SEC);
        assert_eq!(view.counts(), (2, 0));
    }

    #[test]
    fn timeouts_double_the_delay_up_to_ten_intervals_and_a_success_resets_it() {
        let mut view = view(4);
        view.refresh(0, [1]).unwrap();
        let mut now = 30 * SEC;
        let mut delays = Vec::new();
        for _ in 0..6 {
            view.refresh_timed_out(now);
            delays.push((view.next_refresh_at() - now) / SEC);
            now = view.next_refresh_at();
        }
        assert_eq!(delays, vec![60, 120, 240, 300, 300, 300]);
        view.refresh_failed(now); // not a timeout: the delay stays
        assert_eq!(view.next_refresh_at() - now, 300 * SEC);
        now = view.next_refresh_at();
        view.refresh(now, [2]).unwrap();
        assert_eq!(view.next_refresh_at() - now, 30 * SEC);
        assert_eq!(view.members(), &[2]);
        assert_eq!(view.counts(), (2, 7));
    }

    #[test]
    fn a_staggered_view_refreshes_first_within_one_interval_then_every_interval() {
        use rand::SeedableRng;
        let mut phases = [0u32; 4];
        for seed in 0..200 {
            let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
            let mut view =
                CachedView::staggered(CachedViewConfig::default(), 4, 5 * SEC, &mut rng).unwrap();
            assert!(view.due(5 * SEC), "the start-up fetch is at once");
            // A timed-out start-up fetch keeps the stagger for the first success.
            view.refresh_timed_out(5 * SEC);
            let now = view.next_refresh_at();
            view.refresh(now, [1]).unwrap();
            let first = view.next_refresh_at() - now;
            assert!(first > 0 && first <= 30 * SEC, "seed {seed}: {first}");
            phases[((first - 1) / (30 * SEC / 4)) as usize] += 1;
            let next = view.next_refresh_at();
            view.refresh(next, [1]).unwrap();
            assert_eq!(view.next_refresh_at() - next, 30 * SEC);
        }
        // Uniform over the interval: each quarter gets 50 of 200 on average (a
        // binomial standard deviation of 6.1); 25 is four deviations below.
        assert!(phases.iter().all(|&n| n > 25), "{phases:?}");
    }

    #[test]
    fn a_refresh_past_the_capacity_is_refused_whole() {
        let mut view = view(2);
        view.refresh(0, [5, 6]).unwrap();
        assert_eq!(
            view.refresh(30 * SEC, [1, 2, 3]),
            Err(TooManyMembers { capacity: 2 })
        );
        assert_eq!(view.members(), &[5, 6]);
        assert_eq!(view.last_refresh_at(), Some(0));
        assert_eq!(view.next_refresh_at(), 60 * SEC);
    }

    #[test]
    fn refreshes_from_a_lease_registry() {
        use crate::discovery::{LeaseConfig, LeaseRegistry};
        let mut registry = LeaseRegistry::new(LeaseConfig::default(), 8, 0).unwrap();
        for id in [6, 2, 4] {
            registry.register(0, id).unwrap();
        }
        let mut view = view(8);
        view.refresh(0, registry.members()).unwrap();
        assert_eq!(view.members(), &[2, 4, 6]);
    }

    #[test]
    fn bad_configurations_are_errors() {
        let field = |config: CachedViewConfig| config.validate().unwrap_err().field;
        assert_eq!(
            field(CachedViewConfig {
                refresh_interval: Duration::ZERO,
                ..CachedViewConfig::default()
            }),
            "refresh_interval"
        );
        assert_eq!(
            field(CachedViewConfig {
                max_backoff_multiplier: 0,
                ..CachedViewConfig::default()
            }),
            "max_backoff_multiplier"
        );
    }
}
