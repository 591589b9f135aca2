//! Load balancers: which host of the caller's current view gets the next request.
//!
//! Six policies, each a type of its own, and [`Balancer`], an enum over them with one
//! API (static dispatch, no trait objects):
//!
//! - [`RoundRobin`]: the view in turn, from a random start (Envoy seeds each round-robin
//!   balancer so that a fleet of clients does not move in step, envoyproxy/envoy
//!   PR #3271 "desynchronize WRR picks").
//! - [`Random`]: uniform over the view (Envoy `RANDOM`).
//! - [`LeastOutstanding`]: a full scan for the fewest requests in flight, ties broken
//!   uniformly at random (nginx `least_conn`, HAProxy `leastconn`).
//! - [`PowerOfTwo`]: two distinct hosts at random, the less loaded of the two
//!   (Mitzenmacher's "power of two choices"; Envoy `LEAST_REQUEST`; tower's `p2c`),
//!   loaded either by requests in flight or by tower's **peak EWMA** cost
//!   `rtt_estimate × (pending + 1)`.
//! - [`RingHash`] and [`Maglev`]: Envoy's consistent hashing, over a table rebuilt on
//!   membership change ([`Balancer::rebuild`]); [`Disruption`] measures the share of
//!   keys that move when the membership changes.
//!
//! # The view
//!
//! Every choice is made among the hosts of `view`, the caller's current view (its
//! cached registry, minus ejected or unhealthy hosts unless in
//! [panic](super::panic)): **a balancer never returns a host outside the view, and
//! returns `None` only for an empty view.** All hosts weigh the same (Envoy's
//! weights are not modelled). Hosts are [`HostId`]s below the `max_hosts` given at
//! construction, which sizes the per-host state; a larger id is a bug of the owner
//! and panics.
//!
//! # Requests in flight
//!
//! The owner reports [`Balancer::on_send`] when it sends a request to the chosen host
//! and [`Balancer::on_reply`] when the attempt ends, whatever the outcome (success,
//! error, timeout or cancellation: tower records the elapsed time as a latency sample
//! when a request's handle is dropped, and so should the owner). Policies that do not
//! use them ignore them.

use std::time::Duration;

use rand::RngCore;

use super::HostId;
use crate::{ConfigError, Nanos};

mod hash;
mod p2c;
mod simple;

pub use hash::{
    DEFAULT_MAGLEV_TABLE_SIZE, Disruption, KeyLookup, MAX_MAGLEV_TABLE_SIZE, Maglev, MaglevConfig,
    RingHash, RingHashConfig,
};
pub use p2c::{P2cLoad, PeakEwmaConfig, PowerOfTwo};
pub use simple::{LeastOutstanding, Random, RoundRobin};

/// The largest `max_hosts` of a balancer.
pub const MAX_HOSTS: u32 = 1_000_000;

/// Which balancer, and its parameters.
///
/// ```
/// use std::time::{Duration, Instant};
/// use meshsim_patterns::discovery::balance::{Balancer, BalancerConfig, P2cLoad, PeakEwmaConfig};
///
/// let start = Instant::now();
/// let config = BalancerConfig::PowerOfTwo(P2cLoad::PeakEwma(PeakEwmaConfig::default()));
/// let mut balancer = Balancer::new(config, 16)?;
/// let mut rng = <rand_chacha::ChaCha8Rng as rand::SeedableRng>::seed_from_u64(1);
/// let now = start.elapsed().as_nanos() as u64;
/// let host = balancer.choose(&[3, 5, 9], 0, now, &mut rng).unwrap();
/// assert!([3, 5, 9].contains(&host));
/// # Ok::<(), meshsim_patterns::ConfigError>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum BalancerConfig {
    /// [`RoundRobin`].
    RoundRobin,
    /// [`Random`].
    Random,
    /// [`LeastOutstanding`].
    LeastOutstanding,
    /// [`PowerOfTwo`], with its load measure.
    PowerOfTwo(P2cLoad),
    /// [`RingHash`].
    RingHash(RingHashConfig),
    /// [`Maglev`].
    Maglev(MaglevConfig),
}

/// One of the balancers, with one API (see the module documentation).
///
/// ```
/// use std::time::{Duration, Instant};
/// use meshsim_patterns::discovery::balance::{Balancer, BalancerConfig, MaglevConfig};
///
/// let start = Instant::now();
/// let mut rng = <rand_chacha::ChaCha8Rng as rand::SeedableRng>::seed_from_u64(1);
/// let mut balancer = Balancer::new(BalancerConfig::Maglev(MaglevConfig::default()), 8)?;
/// balancer.rebuild(&[0, 1, 2, 3]);
/// let now = start.elapsed().as_nanos() as u64;
/// let a = balancer.choose(&[0, 1, 2, 3], 42, now, &mut rng);
/// assert_eq!(balancer.choose(&[0, 1, 2, 3], 42, now, &mut rng), a); // same key, same host
/// assert_eq!(balancer.choose(&[], 42, now, &mut rng), None);
/// # Ok::<(), meshsim_patterns::ConfigError>(())
/// ```
#[derive(Clone, Debug)]
pub enum Balancer {
    /// [`RoundRobin`].
    RoundRobin(RoundRobin),
    /// [`Random`].
    Random(Random),
    /// [`LeastOutstanding`].
    LeastOutstanding(LeastOutstanding),
    /// [`PowerOfTwo`].
    PowerOfTwo(PowerOfTwo),
    /// [`RingHash`].
    RingHash(RingHash),
    /// [`Maglev`].
    Maglev(Maglev),
}

impl Balancer {
    /// A balancer for host ids `0..max_hosts`. The hashing balancers start with an
    /// empty table: [`rebuild`](Self::rebuild) them with the membership.
    pub fn new(config: BalancerConfig, max_hosts: u32) -> Result<Balancer, ConfigError> {
        check_max_hosts(max_hosts)?;
        Ok(match config {
            BalancerConfig::RoundRobin => Balancer::RoundRobin(RoundRobin::new()),
            BalancerConfig::Random => Balancer::Random(Random),
            BalancerConfig::LeastOutstanding => {
                Balancer::LeastOutstanding(LeastOutstanding::new(max_hosts)?)
            }
            BalancerConfig::PowerOfTwo(load) => {
                Balancer::PowerOfTwo(PowerOfTwo::new(load, max_hosts)?)
            }
            BalancerConfig::RingHash(config) => {
                Balancer::RingHash(RingHash::new(config, max_hosts)?)
            }
            BalancerConfig::Maglev(config) => Balancer::Maglev(Maglev::new(config, max_hosts)?),
        })
    }

    /// A host of `view` for the next request: `None` only if `view` is empty. `key`
    /// is the request's hash key (used by the hashing balancers only); `now` and `rng`
    /// by the policies that need them.
    pub fn choose(
        &mut self,
        view: &[HostId],
        key: u64,
        now: Nanos,
        rng: &mut impl RngCore,
    ) -> Option<HostId> {
        let chosen = match self {
            Balancer::RoundRobin(b) => b.choose(view, rng),
            Balancer::Random(b) => b.choose(view, rng),
            Balancer::LeastOutstanding(b) => b.choose(view, rng),
            Balancer::PowerOfTwo(b) => b.choose(view, now, rng),
            Balancer::RingHash(b) => b.choose(view, key),
            Balancer::Maglev(b) => b.choose(view, key),
        };
        debug_assert!(chosen.is_none_or(|host| view.contains(&host)));
        debug_assert_eq!(chosen.is_none(), view.is_empty());
        chosen
    }

    /// A request was sent to `host`.
    pub fn on_send(&mut self, host: HostId) {
        match self {
            Balancer::LeastOutstanding(b) => b.on_send(host),
            Balancer::PowerOfTwo(b) => b.on_send(host),
            Balancer::RoundRobin(_) | Balancer::Random(_) => {}
            Balancer::RingHash(_) | Balancer::Maglev(_) => {}
        }
    }

    /// A request to `host` ended at `now` after `rtt`, whatever its outcome.
    pub fn on_reply(&mut self, host: HostId, now: Nanos, rtt: Duration) {
        match self {
            Balancer::LeastOutstanding(b) => b.on_reply(host),
            Balancer::PowerOfTwo(b) => b.on_reply(host, now, rtt),
            Balancer::RoundRobin(_) | Balancer::Random(_) => {}
            Balancer::RingHash(_) | Balancer::Maglev(_) => {}
        }
    }

    /// The membership changed: the hashing balancers rebuild their table over
    /// `members` (order and duplicates do not matter); the others keep nothing per
    /// membership and ignore it. Allocates for the table.
    pub fn rebuild(&mut self, members: &[HostId]) {
        match self {
            Balancer::RingHash(b) => b.rebuild(members),
            Balancer::Maglev(b) => b.rebuild(members),
            _ => {}
        }
    }

    /// [`rebuild`](Self::rebuild), and for a hashing balancer how many of `keys`
    /// moved to another host ([`Disruption::measure`] of the table before against the
    /// table after); `None` for the others, which keep no table. Allocates a copy of
    /// the table before, besides the rebuild's own allocation: for membership changes,
    /// not for every request.
    ///
    /// ```
    /// use std::time::Instant;
    /// use meshsim_patterns::discovery::{Balancer, BalancerConfig};
    /// use meshsim_patterns::discovery::balance::RingHashConfig;
    ///
    /// let start = Instant::now();
    /// // A fixed-points ring: only the leaver's keys move.
    /// let config = RingHashConfig { points_per_host: Some(100), ..RingHashConfig::default() };
    /// let mut ring = Balancer::new(BalancerConfig::RingHash(config), 4)?;
    /// ring.rebuild(&[0, 1, 2, 3]);
    /// let moved = ring.rebuild_measured(&[0, 1, 3], 0..10_000).unwrap();
    /// assert!((0.15..0.35).contains(&moved.moved_share())); // about 1/4: host 2's keys
    /// assert_eq!(moved.moved_from_kept, 0);
    /// let _now = start.elapsed().as_nanos() as u64;
    /// # Ok::<(), meshsim_patterns::ConfigError>(())
    /// ```
    pub fn rebuild_measured(
        &mut self,
        members: &[HostId],
        keys: impl IntoIterator<Item = u64>,
    ) -> Option<Disruption> {
        match self {
            Balancer::RingHash(b) => {
                let before = b.clone();
                b.rebuild(members);
                Some(Disruption::measure(&before, b, keys))
            }
            Balancer::Maglev(b) => {
                let before = b.clone();
                b.rebuild(members);
                Some(Disruption::measure(&before, b, keys))
            }
            _ => {
                self.rebuild(members);
                None
            }
        }
    }

    /// Requests in flight to `host`, for the policies that count them.
    pub fn outstanding(&self, host: HostId) -> Option<u32> {
        match self {
            Balancer::LeastOutstanding(b) => Some(b.outstanding(host)),
            Balancer::PowerOfTwo(b) => Some(b.outstanding(host)),
            _ => None,
        }
    }
}

fn check_max_hosts(max_hosts: u32) -> Result<(), ConfigError> {
    if max_hosts > MAX_HOSTS {
        return Err(ConfigError::new(
            "balancer",
            "max_hosts",
            "must be at most 1000000",
        ));
    }
    Ok(())
}

/// Requests in flight per host, indexed by host id.
#[derive(Clone, Debug)]
struct Outstanding {
    counts: Vec<u32>,
}

impl Outstanding {
    fn new(max_hosts: u32) -> Outstanding {
        Outstanding {
            counts: vec![0; max_hosts as usize],
        }
    }

    fn get(&self, host: HostId) -> u32 {
        self.counts[slot(host, self.counts.len())]
    }

    fn increment(&mut self, host: HostId) {
        let i = slot(host, self.counts.len());
        self.counts[i] = self.counts[i].saturating_add(1);
    }

    fn decrement(&mut self, host: HostId) {
        let i = slot(host, self.counts.len());
        debug_assert!(
            self.counts[i] > 0,
            "a reply from host {host} with none in flight"
        );
        self.counts[i] = self.counts[i].saturating_sub(1);
    }
}

/// The index of `host` in per-host state of length `len`; a host beyond it is a bug of
/// the owner.
fn slot(host: HostId, len: usize) -> usize {
    let i = host as usize;
    assert!(
        i < len,
        "host {host} is beyond the balancer's max_hosts ({len})"
    );
    i
}

/// Which hosts are in the current view, in O(view) per call without allocating: a
/// host is in the view iff its stamp is the current epoch.
#[derive(Clone, Debug)]
struct ViewFilter {
    stamps: Vec<u32>,
    epoch: u32,
}

impl ViewFilter {
    fn new(max_hosts: u32) -> ViewFilter {
        ViewFilter {
            stamps: vec![0; max_hosts as usize],
            epoch: 0,
        }
    }

    fn mark(&mut self, view: &[HostId]) {
        self.epoch = self.epoch.wrapping_add(1);
        if self.epoch == 0 {
            // After 2^32 views: forget every stamp so that none is taken for current.
            self.stamps.fill(0);
            self.epoch = 1;
        }
        for &host in view {
            let i = slot(host, self.stamps.len());
            self.stamps[i] = self.epoch;
        }
    }

    fn contains(&self, host: HostId) -> bool {
        self.stamps
            .get(host as usize)
            .is_some_and(|&stamp| stamp == self.epoch)
    }
}

#[cfg(test)]
mod tests;
