//! A registry of TTL leases as the **Eureka** server keeps it: instances register,
//! renew every 30 s, cancel when they shut down gracefully, and an eviction sweep
//! removes those whose lease expired, unless the server has gone into
//! self-preservation.
//!
//! Semantics, from Netflix/eureka, `eureka-core/src/main/java/com/netflix/eureka/`:
//!
//! - `lease/Lease.java`: a lease is expired when `now > lastUpdateTimestamp + duration
//!   + additionalLeaseMs` (strictly). Registration sets `lastUpdateTimestamp = now`, but
//!   `renew()` sets it to `now + duration`, so a renewed lease expires only
//!   `2 × duration` after its last renewal (180 s with the default 90 s). The source
//!   says so itself: "the expiry will actually be 2 * duration. This is a minor bug
//!   [...] this will not be fixed." Here [`LeaseConfig::eureka_double_expiry`]
//!   chooses: `false` (the default) expires a lease `duration` after its last renewal,
//!   the documented intent; `true` reproduces Eureka.
//! - `registry/AbstractInstanceRegistry.java`, `evict(additionalLeaseMs)`: nothing is
//!   evicted while lease expiration is disabled (self-preservation). Otherwise the
//!   expired leases are collected, and at most `registrySize − (int)(registrySize ×
//!   renewalPercentThreshold)` of them are evicted per sweep (so 15% of the registry
//!   with the default 0.85, rounded in favour of evicting: 2 of 10), chosen by a
//!   partial Fisher–Yates shuffle ("to evict them in random order [...] we might wipe
//!   out whole apps before self preservation kicks in"). Eureka seeds its `Random` from
//!   the wall clock; here the shuffle draws from the `RngCore` the owner passes, so a
//!   sweep is a fixed function of the seed. Expired leases are collected in increasing
//!   id order before the shuffle.
//! - The same file, `EvictionTask.getCompensationTimeMs`: a sweep that runs late (GC
//!   pause, clock drift) adds the lateness, `now − lastSweep − evictionInterval` when
//!   positive, to every lease before judging it expired.
//! - `registry/PeerAwareInstanceRegistryImpl.java`, `isLeaseExpirationEnabled`:
//!   expiration is enabled iff self-preservation is switched off, or
//!   `numberOfRenewsPerMinThreshold > 0 && renewsInLastMinute >
//!   numberOfRenewsPerMinThreshold` (strictly), with the threshold
//!   `(int)(expectedClients × (60 / expectedClientRenewalIntervalSeconds) ×
//!   renewalPercentThreshold)`: 17 for 10 clients renewing every 30 s.
//! - `util/MeasuredRate.java`: "renewals in the last minute" is the count of the last
//!   *completed* one-minute bucket (a timer swaps the buckets every minute from the
//!   server's start), not a sliding window. Here the window is
//!   [`LeaseConfig::renewal_window`] (60 s by default), the buckets are aligned on the
//!   registry's creation, and the expected renewals per window scale with it.
//!
//! # Deviation: the expected number of clients
//!
//! Eureka keeps `expectedNumberOfClientsSendingRenews` as a counter of its own: seeded
//! at start-up from the peers' registry, moved by one on each registration (only while
//! it is positive) and cancellation, and re-synchronised with the registry's size every
//! 15 minutes (`renewalThresholdUpdateIntervalMs`) when that is above 85% of it. Here
//! it is the number of registered leases, the value the counter tracks in steady state:
//! a newly registered instance is expected to renew at once, and the first minute after
//! the registry's creation (an empty last bucket) keeps expiration off, as Eureka's does.
//!
//! # Bounds
//!
//! The registry holds at most `capacity` leases, with ids `0..capacity`, in a `Vec`
//! allocated at construction; registering an id past it returns a [`Refused`]. The
//! eviction buffer is allocated at construction too.

use std::time::Duration;

use rand::RngCore;

use super::HostId;
use crate::{ConfigError, Nanos, nanos_of, uniform_inclusive};

/// The largest registry.
pub const MAX_CAPACITY: u32 = 10_000_000;

/// A lease registry's configuration; the default is Eureka's.
///
/// ```
/// use std::time::{Duration, Instant};
/// use meshsim_patterns::discovery::{LeaseConfig, LeaseRegistry};
///
/// let start = Instant::now();
/// let config = LeaseConfig::default();
/// assert_eq!(config.lease_duration, Duration::from_secs(90));
/// let registry = LeaseRegistry::new(config, 100, start.elapsed().as_nanos() as u64)?;
/// assert_eq!(registry.capacity(), 100);
/// # Ok::<(), meshsim_patterns::ConfigError>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LeaseConfig {
    /// How long a lease lasts without renewal (Eureka `leaseExpirationDurationInSeconds`,
    /// 90 s); at least 1 ns.
    pub lease_duration: Duration,
    /// How often clients are expected to renew (`expectedClientRenewalIntervalSeconds`,
    /// 30 s); at least 1 ns.
    pub renewal_interval: Duration,
    /// Self-preservation starts below this share of the expected renewals
    /// (`renewalPercentThreshold`, 0.85); in `[0, 1]`. Also sets the eviction cap.
    pub renewal_percent_threshold: f64,
    /// The bucket over which renewals are counted (Eureka: one minute); at least 1 ns.
    pub renewal_window: Duration,
    /// Whether self-preservation can stop eviction (`enableSelfPreservation`, true).
    pub self_preservation: bool,
    /// How often the owner runs [`LeaseRegistry::evict`]
    /// (`evictionIntervalTimerInMs`, 60 s): a sweep later than this is compensated;
    /// at least 1 ns.
    pub eviction_interval: Duration,
    /// Eureka's quirk: a renewal pushes the expiry to `2 × lease_duration` after it
    /// (see the module documentation). Off by default.
    pub eureka_double_expiry: bool,
}

impl Default for LeaseConfig {
    fn default() -> Self {
        LeaseConfig {
            lease_duration: Duration::from_secs(90),
            renewal_interval: Duration::from_secs(30),
            renewal_percent_threshold: 0.85,
            renewal_window: Duration::from_secs(60),
            self_preservation: true,
            eviction_interval: Duration::from_secs(60),
            eureka_double_expiry: false,
        }
    }
}

impl LeaseConfig {
    /// Whether a [`LeaseRegistry`] can run with this configuration.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let bad = |field, reason| Err(ConfigError::new("lease_registry", field, reason));
        if self.lease_duration.is_zero() {
            return bad("lease_duration", "must be positive");
        }
        if self.renewal_interval.is_zero() {
            return bad("renewal_interval", "must be positive");
        }
        if !(0.0..=1.0).contains(&self.renewal_percent_threshold) {
            return bad("renewal_percent_threshold", "must be in [0, 1]");
        }
        if self.renewal_window.is_zero() {
            return bad("renewal_window", "must be positive");
        }
        if self.eviction_interval.is_zero() {
            return bad("eviction_interval", "must be positive");
        }
        Ok(())
    }
}

/// A registration the registry cannot hold: the id is not below its capacity.
///
/// ```
/// use std::time::Instant;
/// use meshsim_patterns::discovery::{LeaseConfig, LeaseRegistry};
/// use meshsim_patterns::discovery::lease::Refused;
///
/// let start = Instant::now();
/// let mut registry = LeaseRegistry::new(LeaseConfig::default(), 2, 0)?;
/// let now = start.elapsed().as_nanos() as u64;
/// assert_eq!(registry.register(now, 2), Err(Refused { id: 2, capacity: 2 }));
/// # Ok::<(), meshsim_patterns::ConfigError>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Refused {
    /// The id that was refused.
    pub id: HostId,
    /// The registry's capacity: ids must be below it.
    pub capacity: u32,
}

/// What the registry has done since it was created.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LeaseStats {
    /// Registrations, re-registrations included.
    pub registrations: u64,
    /// Successful renewals.
    pub renewals: u64,
    /// Renewals of an id that is not registered (Eureka answers 404, and the client
    /// registers again).
    pub renewals_not_found: u64,
    /// Graceful cancellations.
    pub cancellations: u64,
    /// Leases evicted by a sweep.
    pub evictions: u64,
    /// Sweeps that evicted nothing because self-preservation was on.
    pub sweeps_in_self_preservation: u64,
}

#[derive(Clone, Copy, Debug)]
struct Lease {
    /// Eureka's `lastUpdateTimestamp`: the registration time, or the last renewal
    /// (plus the duration, with `eureka_double_expiry`).
    last_update: Nanos,
}

/// Eureka's server-side registry of leases (see the module documentation).
///
/// ```
/// use std::time::{Duration, Instant};
/// use meshsim_patterns::discovery::{LeaseConfig, LeaseRegistry};
///
/// let start = Instant::now();
/// let config = LeaseConfig { self_preservation: false, ..LeaseConfig::default() };
/// let t0 = start.elapsed().as_nanos() as u64;
/// let mut registry = LeaseRegistry::new(config, 10, t0)?;
/// registry.register(t0, 3).unwrap();
/// registry.register(t0, 4).unwrap();
/// let sec = 1_000_000_000;
/// assert!(registry.renew(t0 + 60 * sec, 4));
/// let mut rng = <rand_chacha::ChaCha8Rng as rand::SeedableRng>::seed_from_u64(1);
/// // At 91 s, 3 has not renewed for more than 90 s; 4 renewed at 60 s.
/// assert_eq!(registry.evict(t0 + 91 * sec, &mut rng), &[3]);
/// assert_eq!(registry.members().collect::<Vec<_>>(), vec![4]);
/// # Ok::<(), meshsim_patterns::ConfigError>(())
/// ```
#[derive(Clone, Debug)]
pub struct LeaseRegistry {
    config: LeaseConfig,
    duration: Nanos,
    window: Nanos,
    eviction_interval: Nanos,
    leases: Vec<Option<Lease>>,
    len: u32,
    created_at: Nanos,
    /// The renewal bucket being counted, and its count.
    bucket: u64,
    bucket_renewals: u64,
    /// The count of bucket `bucket − 1`.
    previous_bucket_renewals: u64,
    last_sweep_at: Option<Nanos>,
    /// Expired leases of the last sweep; its first `evicted` were evicted.
    expired: Vec<HostId>,
    evicted: usize,
    stats: LeaseStats,
    last_now: Nanos,
}

impl LeaseRegistry {
    /// An empty registry created at `now`, for ids `0..capacity`.
    pub fn new(
        config: LeaseConfig,
        capacity: u32,
        now: Nanos,
    ) -> Result<LeaseRegistry, ConfigError> {
        config.validate()?;
        if capacity > MAX_CAPACITY {
            return Err(ConfigError::new(
                "lease_registry",
                "capacity",
                "must be at most 10000000",
            ));
        }
        Ok(LeaseRegistry {
            duration: nanos_of(config.lease_duration),
            window: nanos_of(config.renewal_window),
            eviction_interval: nanos_of(config.eviction_interval),
            leases: vec![None; capacity as usize],
            len: 0,
            created_at: now,
            bucket: 0,
            bucket_renewals: 0,
            previous_bucket_renewals: 0,
            last_sweep_at: None,
            expired: Vec::with_capacity(capacity as usize),
            evicted: 0,
            stats: LeaseStats::default(),
            last_now: now,
            config,
        })
    }

    /// The configuration.
    pub fn config(&self) -> &LeaseConfig {
        &self.config
    }

    /// The largest number of leases, and the bound on ids.
    pub fn capacity(&self) -> u32 {
        self.leases.len() as u32
    }

    /// How many leases are registered.
    pub fn len(&self) -> u32 {
        self.len
    }

    /// Whether no lease is registered.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Whether `id` holds a lease.
    pub fn is_registered(&self, id: HostId) -> bool {
        self.lease(id).is_some()
    }

    /// The registered ids, in increasing order.
    pub fn members(&self) -> impl Iterator<Item = HostId> + '_ {
        self.leases
            .iter()
            .enumerate()
            .filter(|(_, lease)| lease.is_some())
            .map(|(id, _)| id as HostId)
    }

    /// What the registry has done.
    pub fn stats(&self) -> LeaseStats {
        self.stats
    }

    /// The last instant at which `id`'s lease is not yet expired (without a late
    /// sweep's compensation): a sweep at any later time evicts it, self-preservation
    /// and the cap permitting.
    pub fn expires_after(&self, id: HostId) -> Option<Nanos> {
        self.lease(id)
            .map(|lease| lease.last_update.saturating_add(self.duration))
    }

    fn lease(&self, id: HostId) -> Option<&Lease> {
        self.leases.get(id as usize).and_then(Option::as_ref)
    }

    /// `id` registers at `now`: a new lease, or a fresh one replacing its old lease
    /// (Eureka builds a new `Lease` on every registration). A registration is not a
    /// renewal.
    pub fn register(&mut self, now: Nanos, id: HostId) -> Result<(), Refused> {
        self.advance(now);
        let capacity = self.capacity();
        let slot = self
            .leases
            .get_mut(id as usize)
            .ok_or(Refused { id, capacity })?;
        if slot.is_none() {
            self.len += 1;
        }
        *slot = Some(Lease { last_update: now });
        self.stats.registrations += 1;
        Ok(())
    }

    /// `id` renews its lease at `now`. `false` if it holds none (Eureka's 404: the
    /// client registers again).
    pub fn renew(&mut self, now: Nanos, id: HostId) -> bool {
        self.advance(now);
        let last_update = if self.config.eureka_double_expiry {
            now.saturating_add(self.duration)
        } else {
            now
        };
        match self.leases.get_mut(id as usize) {
            Some(Some(lease)) => {
                lease.last_update = last_update;
                self.bucket_renewals += 1;
                self.stats.renewals += 1;
                true
            }
            _ => {
                self.stats.renewals_not_found += 1;
                false
            }
        }
    }

    /// `id` deregisters gracefully at `now`. `false` if it held no lease.
    pub fn cancel(&mut self, now: Nanos, id: HostId) -> bool {
        self.advance(now);
        match self.leases.get_mut(id as usize) {
            Some(slot @ Some(_)) => {
                *slot = None;
                self.len -= 1;
                self.stats.cancellations += 1;
                true
            }
            _ => false,
        }
    }

    /// Renewals counted in the last completed window before `now` (Eureka's
    /// `getNumOfRenewsInLastMin`).
    pub fn renewals_in_last_window(&self, now: Nanos) -> u64 {
        let bucket = now.saturating_sub(self.created_at) / self.window;
        if bucket == self.bucket {
            self.previous_bucket_renewals
        } else if bucket == self.bucket + 1 {
            self.bucket_renewals
        } else {
            0
        }
    }

    /// Renewals per window below which self-preservation starts, truncated as Eureka
    /// does: `(int)(registered × (window / renewal_interval) × threshold)`.
    pub fn renewal_threshold(&self) -> u64 {
        let per_client = self.window as f64 / nanos_of(self.config.renewal_interval) as f64;
        (f64::from(self.len) * per_client * self.config.renewal_percent_threshold) as u64
    }

    /// Whether self-preservation is on at `now`: a sweep would evict nothing. Never,
    /// if it is switched off; otherwise whenever the renewals of the last window are
    /// not above the threshold, an empty registry (threshold 0) included.
    pub fn self_preservation_active(&self, now: Nanos) -> bool {
        if !self.config.self_preservation {
            return false;
        }
        let threshold = self.renewal_threshold();
        !(threshold > 0 && self.renewals_in_last_window(now) > threshold)
    }

    /// The most leases one sweep may evict now: `len − (int)(len × threshold)`.
    pub fn eviction_limit(&self) -> u32 {
        let kept = (f64::from(self.len) * self.config.renewal_percent_threshold) as u32;
        self.len - kept.min(self.len)
    }

    /// The eviction sweep, run by the owner every `eviction_interval`: evicts expired
    /// leases, at most [`eviction_limit`](Self::eviction_limit) of them chosen at
    /// random from `rng`, unless self-preservation is on. Returns the evicted ids.
    pub fn evict(&mut self, now: Nanos, rng: &mut impl RngCore) -> &[HostId] {
        self.advance(now);
        let compensation = match self.last_sweep_at {
            Some(last) => (now - last).saturating_sub(self.eviction_interval),
            None => 0,
        };
        self.last_sweep_at = Some(now);
        self.expired.clear();
        self.evicted = 0;
        if self.self_preservation_active(now) {
            self.stats.sweeps_in_self_preservation += 1;
            return &[];
        }
        let allowance = self.duration.saturating_add(compensation);
        for (id, lease) in self.leases.iter().enumerate() {
            if let Some(lease) = lease
                && now > lease.last_update.saturating_add(allowance)
            {
                self.expired.push(id as HostId);
            }
        }
        let to_evict = self.expired.len().min(self.eviction_limit() as usize);
        let n = self.expired.len() as u64;
        for i in 0..to_evict {
            let j = uniform_inclusive(rng, i as u64, n - 1) as usize;
            self.expired.swap(i, j);
            let id = self.expired[i];
            self.leases[id as usize] = None;
            self.len -= 1;
        }
        self.evicted = to_evict;
        self.stats.evictions += to_evict as u64;
        &self.expired[..to_evict]
    }

    fn advance(&mut self, now: Nanos) {
        debug_assert!(now >= self.last_now, "time went backwards");
        self.last_now = self.last_now.max(now);
        let bucket = now.saturating_sub(self.created_at) / self.window;
        if bucket > self.bucket {
            self.previous_bucket_renewals = if bucket == self.bucket + 1 {
                self.bucket_renewals
            } else {
                0
            };
            self.bucket_renewals = 0;
            self.bucket = bucket;
        }
    }
}

#[cfg(test)]
mod tests;
