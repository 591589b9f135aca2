//! Envoy's consistent-hashing balancers, ring hash and Maglev, and a measure of how
//! many keys move when the membership changes.
//!
//! **Ring hash** mirrors envoyproxy/envoy,
//! `source/extensions/load_balancing_policies/ring_hash/ring_hash_lb.cc`: each host
//! puts `ceil(minimum_ring_size / hosts)` points on a 64-bit ring (Envoy's `scale`
//! with equal weights; `minimum_ring_size` 1024, `maximum_ring_size` 8M, which caps
//! the points), the ring is sorted, and a key goes to the first point at or after its
//! hash, wrapping to the first point (the ketama search, `chooseHost`).
//!
//! A consequence of Envoy's rule that users may not expect: the points per host depend
//! on the number of hosts, so when one leaves the others *gain* points (103 each with
//! 10 hosts, 114 with 9), and those new points take keys from other hosts that stayed:
//! about 8% of their keys move, on top of the leaver's (a test measures it). With a
//! fixed number of points per host ([`RingHashConfig::points_per_host`], the classic
//! ketama ring) removing a host removes only its points, and only its keys move.
//!
//! **Maglev** mirrors `source/extensions/load_balancing_policies/maglev/maglev_lb.cc`
//! and Eisenbud et al., "Maglev: A Fast and Reliable Software Network Load Balancer",
//! NSDI 2016 (pseudocode listing 1): a table of prime size (65537 by default) is
//! filled by the hosts in turn, in a stable order (Envoy sorts them, since 1.27, so
//! that the same hosts always give the same table), each taking the next free slot of
//! its permutation `(offset + skip × j) mod M`, with `offset = h1 mod M` and `skip = h2
//! mod (M − 1) + 1`; a key goes to `table[hash mod M]`. Lookups are O(1) and the
//! balance is near perfect; a membership change moves a few keys beyond the removed
//! host's ("small extra disruption", the paper's §3.4).
//!
//! Points, offsets, skips and key hashes come from [`mix64`], not from xxHash of host
//! addresses as in Envoy (see the [module documentation](crate::discovery)).
//!
//! # The view and the table
//!
//! The table is built over the membership given to `rebuild`; a choice is made for
//! the view given to `choose`, which may lag or lead it (hosts ejected since the last
//! rebuild, say). A table entry whose host is not in the view is skipped, walking
//! forward on the ring or the table to the next entry that is: for a ring with fixed
//! points per host, this is exactly the ring rebuilt without those hosts (with Envoy's
//! rule the rebuilt ring would also give the others more points). Either way, a key
//! whose host is in the view goes to it. When no member is in the view at all,
//! the key picks a host of the view directly (`view[hash mod len]`). A choice costs
//! O(view) to mark the view (without allocating) plus the walk.
//!
//! # Bounds
//!
//! A ring holds at most `maximum_ring_size` points (and at least one per host); a
//! Maglev table exactly `table_size` entries. Both are allocated when rebuilt.

use super::{ViewFilter, check_max_hosts};
use crate::ConfigError;
use crate::discovery::{HostId, mix64};

/// Seeds that separate the uses of [`mix64`].
const RING_POINT_SEED: u64 = 0x5d58_39a4_0b33_5a81;
const MAGLEV_OFFSET_SEED: u64 = 0x2f4a_1c6e_93d7_0b15;
const MAGLEV_SKIP_SEED: u64 = 0xa3e1_77c2_4b90_6d3f;
const KEY_SEED: u64 = 0x9e37_79b9_7f4a_7c15;

/// The hash of a request key: every balancer hashes the key the owner gives, so that
/// consecutive keys spread over the ring.
fn key_hash(key: u64) -> u64 {
    mix64(key ^ KEY_SEED)
}

/// Envoy's default Maglev table size, a prime.
pub const DEFAULT_MAGLEV_TABLE_SIZE: u32 = 65_537;
/// The largest Maglev table (Envoy's limit on `table_size`).
pub const MAX_MAGLEV_TABLE_SIZE: u32 = 5_000_011;
/// The largest ring.
pub const MAX_RING_SIZE: u64 = 8 * 1024 * 1024;

/// Looking a key up in a consistent-hashing table, without a view: what
/// [`Disruption`] compares.
pub trait KeyLookup {
    /// The host the table gives `key`; `None` if the table is empty.
    fn lookup(&self, key: u64) -> Option<HostId>;
    /// Whether `host` is a member of the table.
    fn is_member(&self, host: HostId) -> bool;
}

/// How many keys moved between two tables (see [`Disruption::measure`]).
///
/// ```
/// use std::time::Instant;
/// use meshsim_patterns::discovery::balance::{Disruption, RingHash, RingHashConfig};
///
/// let start = Instant::now();
/// let config = RingHashConfig { points_per_host: Some(100), ..RingHashConfig::default() };
/// let mut before = RingHash::new(config, 10)?;
/// before.rebuild(&[0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
/// let mut after = before.clone();
/// after.rebuild(&[0, 1, 2, 4, 5, 6, 7, 8, 9]); // host 3 left
/// let moved = Disruption::measure(&before, &after, 0..10_000);
/// assert!((0.07..0.13).contains(&moved.moved_share()));
/// assert_eq!(moved.moved_from_kept, 0); // a fixed-points ring moves only the leaver's keys
/// let _now = start.elapsed().as_nanos() as u64;
/// # Ok::<(), meshsim_patterns::ConfigError>(())
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Disruption {
    /// Keys looked up.
    pub keys: u64,
    /// Keys whose host changed.
    pub moved: u64,
    /// Keys whose host before is still a member after.
    pub on_kept: u64,
    /// Of those, keys whose host changed anyway (Maglev's extra disruption).
    pub moved_from_kept: u64,
}

impl Disruption {
    /// Looks every key up in `before` and `after` and counts the moves.
    pub fn measure(
        before: &impl KeyLookup,
        after: &impl KeyLookup,
        keys: impl IntoIterator<Item = u64>,
    ) -> Disruption {
        let mut d = Disruption::default();
        for key in keys {
            let (old, new) = (before.lookup(key), after.lookup(key));
            d.keys += 1;
            if old != new {
                d.moved += 1;
            }
            if let Some(old) = old
                && after.is_member(old)
            {
                d.on_kept += 1;
                if new != Some(old) {
                    d.moved_from_kept += 1;
                }
            }
        }
        d
    }

    /// The share of keys that moved.
    pub fn moved_share(&self) -> f64 {
        ratio(self.moved, self.keys)
    }

    /// The share of keys on hosts that stayed that moved anyway.
    pub fn kept_moved_share(&self) -> f64 {
        ratio(self.moved_from_kept, self.on_kept)
    }
}

fn ratio(a: u64, b: u64) -> f64 {
    if b == 0 { 0.0 } else { a as f64 / b as f64 }
}

/// The members of a table: sorted, without duplicates, as a membership flag per host.
#[derive(Clone, Debug)]
struct Members {
    sorted: Vec<HostId>,
    is_member: Vec<bool>,
}

impl Members {
    fn new(max_hosts: u32) -> Members {
        Members {
            sorted: Vec::new(),
            is_member: vec![false; max_hosts as usize],
        }
    }

    fn set(&mut self, members: &[HostId]) {
        for &host in &self.sorted {
            self.is_member[host as usize] = false;
        }
        self.sorted.clear();
        self.sorted.extend_from_slice(members);
        self.sorted.sort_unstable();
        self.sorted.dedup();
        for &host in &self.sorted {
            let i = super::slot(host, self.is_member.len());
            self.is_member[i] = true;
        }
    }

    fn contains(&self, host: HostId) -> bool {
        self.is_member.get(host as usize).copied().unwrap_or(false)
    }
}

/// Picks the host for `hash` from a table of `len` entries read by `entry`, starting
/// at index `start` and skipping hosts outside the view (see the module
/// documentation).
fn choose_in_view(
    view: &[HostId],
    filter: &mut ViewFilter,
    members: &Members,
    hash: u64,
    start: usize,
    len: usize,
    entry: impl Fn(usize) -> HostId,
) -> Option<HostId> {
    if view.is_empty() {
        return None;
    }
    filter.mark(view);
    // Walk only if some member is in the view (O(members)), so that a view disjoint
    // from the table does not cost a walk over all of it.
    if len > 0 && members.sorted.iter().any(|&h| filter.contains(h)) {
        let mut i = start;
        for _ in 0..len {
            let host = entry(i);
            if filter.contains(host) {
                return Some(host);
            }
            i = if i + 1 == len { 0 } else { i + 1 };
        }
        // Only a Maglev table smaller than its membership has members without entries.
    }
    Some(view[(hash % view.len() as u64) as usize])
}

/// Ring hash's parameters; the default is Envoy's.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RingHashConfig {
    /// The ring has at least this many points (`minimum_ring_size`, 1024); at least 1.
    pub minimum_ring_size: u64,
    /// And at most this many, but at least one per host (`maximum_ring_size`, 8M); at
    /// least `minimum_ring_size`, at most 8M.
    pub maximum_ring_size: u64,
    /// Points per host instead of Envoy's `ceil(minimum_ring_size / hosts)` (the
    /// "virtual nodes" of ketama-style rings, e.g. 100 or 160), still capped by the
    /// maximum; `None` for Envoy's rule.
    pub points_per_host: Option<u32>,
}

impl Default for RingHashConfig {
    fn default() -> Self {
        RingHashConfig {
            minimum_ring_size: 1024,
            maximum_ring_size: MAX_RING_SIZE,
            points_per_host: None,
        }
    }
}

/// Envoy's ring hash (see the module documentation).
///
/// ```
/// use std::time::Instant;
/// use meshsim_patterns::discovery::balance::{KeyLookup, RingHash, RingHashConfig};
///
/// let start = Instant::now();
/// let mut ring = RingHash::new(RingHashConfig::default(), 4)?;
/// ring.rebuild(&[0, 1, 2, 3]);
/// assert_eq!(ring.points_per_host(), 256); // ceil(1024 / 4)
/// let host = ring.lookup(7).unwrap();
/// assert_eq!(ring.choose(&[0, 1, 2, 3], 7), Some(host));
/// // Without `host` in the view, the key goes where a ring without it sends it.
/// let others: Vec<u32> = (0..4).filter(|&h| h != host).collect();
/// assert_ne!(ring.choose(&others, 7), Some(host));
/// let _now = start.elapsed().as_nanos() as u64;
/// # Ok::<(), meshsim_patterns::ConfigError>(())
/// ```
#[derive(Clone, Debug)]
pub struct RingHash {
    config: RingHashConfig,
    /// (point, host), sorted by point.
    ring: Vec<(u64, HostId)>,
    points_per_host: u32,
    members: Members,
    filter: ViewFilter,
}

impl RingHash {
    /// An empty ring for host ids `0..max_hosts`.
    pub fn new(config: RingHashConfig, max_hosts: u32) -> Result<RingHash, ConfigError> {
        check_max_hosts(max_hosts)?;
        let bad = |field, reason| Err(ConfigError::new("ring_hash", field, reason));
        if config.minimum_ring_size == 0 {
            return bad("minimum_ring_size", "must be at least 1");
        }
        if config.maximum_ring_size > MAX_RING_SIZE {
            return bad("maximum_ring_size", "must be at most 8388608");
        }
        if config.minimum_ring_size > config.maximum_ring_size {
            // Envoy: "minimum_ring_size (..) > maximum_ring_size (..)".
            return bad("minimum_ring_size", "must be at most maximum_ring_size");
        }
        if config.points_per_host == Some(0) {
            return bad("points_per_host", "must be at least 1");
        }
        Ok(RingHash {
            config,
            ring: Vec::new(),
            points_per_host: 0,
            members: Members::new(max_hosts),
            filter: ViewFilter::new(max_hosts),
        })
    }

    /// Rebuilds the ring over `members` (order and duplicates do not matter).
    pub fn rebuild(&mut self, members: &[HostId]) {
        self.members.set(members);
        let hosts = self.members.sorted.len() as u64;
        self.ring.clear();
        if hosts == 0 {
            self.points_per_host = 0;
            return;
        }
        let wanted = match self.config.points_per_host {
            Some(points) => u64::from(points),
            None => self.config.minimum_ring_size.div_ceil(hosts),
        };
        let per_host = wanted.min(self.config.maximum_ring_size / hosts).max(1);
        self.points_per_host = per_host as u32;
        self.ring.reserve_exact((per_host * hosts) as usize);
        for &host in &self.members.sorted {
            for i in 0..per_host {
                // (host, i) packed in 64 bits: mix64 is a bijection, so no two points
                // collide and the sort is total.
                let point = mix64((u64::from(host) << 32 | i) ^ RING_POINT_SEED);
                self.ring.push((point, host));
            }
        }
        self.ring.sort_unstable();
    }

    /// Points each member has on the ring.
    pub fn points_per_host(&self) -> u32 {
        self.points_per_host
    }

    /// Points on the ring.
    pub fn len(&self) -> usize {
        self.ring.len()
    }

    /// Whether the ring has no point (no members).
    pub fn is_empty(&self) -> bool {
        self.ring.is_empty()
    }

    fn start(&self, hash: u64) -> usize {
        let i = self.ring.partition_point(|&(point, _)| point < hash);
        if i == self.ring.len() { 0 } else { i }
    }

    /// The host of `view` for `key`; `None` if the view is empty.
    pub fn choose(&mut self, view: &[HostId], key: u64) -> Option<HostId> {
        let hash = key_hash(key);
        let start = self.start(hash);
        let ring = &self.ring;
        choose_in_view(
            view,
            &mut self.filter,
            &self.members,
            hash,
            start,
            ring.len(),
            |i| ring[i].1,
        )
    }
}

impl KeyLookup for RingHash {
    fn lookup(&self, key: u64) -> Option<HostId> {
        if self.ring.is_empty() {
            return None;
        }
        Some(self.ring[self.start(key_hash(key))].1)
    }

    fn is_member(&self, host: HostId) -> bool {
        self.members.contains(host)
    }
}

/// Maglev's parameters; the default is Envoy's.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MaglevConfig {
    /// The table size, a prime (`table_size`, 65537), at most 5000011. It should be
    /// much larger than the number of hosts (the paper suggests `M > 100 × N`); a
    /// table smaller than the membership leaves some hosts out.
    pub table_size: u32,
}

impl Default for MaglevConfig {
    fn default() -> Self {
        MaglevConfig {
            table_size: DEFAULT_MAGLEV_TABLE_SIZE,
        }
    }
}

fn is_prime(n: u32) -> bool {
    if n < 2 {
        return false;
    }
    let n = u64::from(n);
    let mut d = 2u64;
    while d * d <= n {
        if n % d == 0 {
            return false;
        }
        d += 1;
    }
    true
}

/// Envoy's Maglev (see the module documentation).
///
/// ```
/// use std::time::Instant;
/// use meshsim_patterns::discovery::balance::{KeyLookup, Maglev, MaglevConfig};
///
/// let start = Instant::now();
/// let mut maglev = Maglev::new(MaglevConfig { table_size: 101 }, 4)?;
/// maglev.rebuild(&[2, 0, 1]);
/// let shares = maglev.entries_per_host();
/// assert_eq!(shares.iter().sum::<u32>(), 101);
/// assert!(shares.iter().all(|&s| (33..=34).contains(&s))); // near-perfect balance
/// assert!(maglev.lookup(5).is_some());
/// let _now = start.elapsed().as_nanos() as u64;
/// # Ok::<(), meshsim_patterns::ConfigError>(())
/// ```
#[derive(Clone, Debug)]
pub struct Maglev {
    table_size: u32,
    /// `table_size` entries once built with at least one member; empty otherwise.
    table: Vec<HostId>,
    members: Members,
    filter: ViewFilter,
    /// Per member, in sorted order: (next position in its permutation, skip).
    build: Vec<(u64, u64)>,
}

impl Maglev {
    /// An empty table for host ids `0..max_hosts`.
    pub fn new(config: MaglevConfig, max_hosts: u32) -> Result<Maglev, ConfigError> {
        check_max_hosts(max_hosts)?;
        if config.table_size > MAX_MAGLEV_TABLE_SIZE {
            return Err(ConfigError::new(
                "maglev",
                "table_size",
                "must be at most 5000011",
            ));
        }
        if !is_prime(config.table_size) {
            // Envoy: "The table size of maglev must be prime number".
            return Err(ConfigError::new("maglev", "table_size", "must be a prime"));
        }
        Ok(Maglev {
            table_size: config.table_size,
            table: Vec::new(),
            members: Members::new(max_hosts),
            filter: ViewFilter::new(max_hosts),
            build: Vec::new(),
        })
    }

    /// Rebuilds the table over `members` (order and duplicates do not matter).
    pub fn rebuild(&mut self, members: &[HostId]) {
        self.members.set(members);
        self.table.clear();
        if self.members.sorted.is_empty() {
            return;
        }
        let m = u64::from(self.table_size);
        const EMPTY: HostId = HostId::MAX;
        self.table.resize(self.table_size as usize, EMPTY);
        self.build.clear();
        for &host in &self.members.sorted {
            let offset = mix64(u64::from(host) ^ MAGLEV_OFFSET_SEED) % m;
            let skip = mix64(u64::from(host) ^ MAGLEV_SKIP_SEED) % (m - 1) + 1;
            self.build.push((offset, skip));
        }
        // Listing 1 of the paper, with equal weights: the hosts take turns, each
        // taking the next free slot of its permutation.
        let mut filled = 0u64;
        'fill: loop {
            for (i, &host) in self.members.sorted.iter().enumerate() {
                let (position, skip) = &mut self.build[i];
                while self.table[*position as usize] != EMPTY {
                    *position = (*position + *skip) % m;
                }
                self.table[*position as usize] = host;
                *position = (*position + *skip) % m;
                filled += 1;
                if filled == m {
                    break 'fill;
                }
            }
        }
    }

    /// The table size.
    pub fn table_size(&self) -> u32 {
        self.table_size
    }

    /// Entries of each member, in increasing host order.
    pub fn entries_per_host(&self) -> Vec<u32> {
        let mut counts = vec![0u32; self.members.sorted.len()];
        for host in &self.table {
            let i = self
                .members
                .sorted
                .binary_search(host)
                .expect("every entry is a member");
            counts[i] += 1;
        }
        counts
    }

    /// The host of `view` for `key`; `None` if the view is empty.
    pub fn choose(&mut self, view: &[HostId], key: u64) -> Option<HostId> {
        let hash = key_hash(key);
        let start = (hash % u64::from(self.table_size)) as usize;
        let table = &self.table;
        choose_in_view(
            view,
            &mut self.filter,
            &self.members,
            hash,
            start,
            table.len(),
            |i| table[i],
        )
    }
}

impl KeyLookup for Maglev {
    fn lookup(&self, key: u64) -> Option<HostId> {
        if self.table.is_empty() {
            return None;
        }
        Some(self.table[(key_hash(key) % u64::from(self.table_size)) as usize])
    }

    fn is_member(&self, host: HostId) -> bool {
        self.members.contains(host)
    }
}
