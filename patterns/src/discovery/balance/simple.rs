//! The balancers without a model of the hosts: round robin, random, and the full
//! scan for the fewest requests in flight.

use rand::RngCore;

use super::{Outstanding, check_max_hosts};
use crate::discovery::HostId;
use crate::{ConfigError, uniform_inclusive};

/// Round robin over the view, from a random start.
///
/// The position advances by one per choice and indexes the view as it is at each call
/// (`view[position % view.len()]`), as Envoy's unweighted round robin indexes its host
/// list; so a view that changes keeps the rotation going rather than restarting it at
/// its first host. The start is drawn from the `rng` at the first choice, so that
/// many clients started together do not all begin with the same host (Envoy seeds each
/// balancer for this reason, PR #3271).
///
/// ```
/// use std::time::Instant;
/// use meshsim_patterns::discovery::balance::RoundRobin;
///
/// let start = Instant::now();
/// let mut rng = <rand_chacha::ChaCha8Rng as rand::SeedableRng>::seed_from_u64(1);
/// let mut rr = RoundRobin::starting_at(0);
/// let picks: Vec<_> = (0..4).map(|_| rr.choose(&[5, 6, 7], &mut rng).unwrap()).collect();
/// assert_eq!(picks, vec![5, 6, 7, 5]);
/// let _now = start.elapsed().as_nanos() as u64;
/// ```
#[derive(Clone, Debug, Default)]
pub struct RoundRobin {
    position: Option<u64>,
}

impl RoundRobin {
    /// A round robin whose start is drawn at its first choice.
    pub fn new() -> RoundRobin {
        RoundRobin { position: None }
    }

    /// A round robin starting at `position` (for tests and replays).
    pub fn starting_at(position: u64) -> RoundRobin {
        RoundRobin {
            position: Some(position),
        }
    }

    /// The next host of `view`; `None` if it is empty.
    pub fn choose(&mut self, view: &[HostId], rng: &mut impl RngCore) -> Option<HostId> {
        if view.is_empty() {
            return None;
        }
        let position = *self.position.get_or_insert_with(|| rng.next_u64());
        self.position = Some(position.wrapping_add(1));
        Some(view[(position % view.len() as u64) as usize])
    }
}

/// A uniformly random host of the view (Envoy's `RANDOM`).
///
/// ```
/// use std::time::Instant;
/// use meshsim_patterns::discovery::balance::Random;
///
/// let start = Instant::now();
/// let mut rng = <rand_chacha::ChaCha8Rng as rand::SeedableRng>::seed_from_u64(1);
/// let host = Random.choose(&[5, 6, 7], &mut rng).unwrap();
/// assert!([5, 6, 7].contains(&host));
/// assert_eq!(Random.choose(&[], &mut rng), None);
/// let _now = start.elapsed().as_nanos() as u64;
/// ```
#[derive(Clone, Copy, Debug, Default)]
pub struct Random;

impl Random {
    /// A host of `view` drawn uniformly from `rng`; `None` if it is empty.
    pub fn choose(&self, view: &[HostId], rng: &mut impl RngCore) -> Option<HostId> {
        if view.is_empty() {
            return None;
        }
        let i = uniform_inclusive(rng, 0, view.len() as u64 - 1) as usize;
        Some(view[i])
    }
}

/// The host of the view with the fewest requests in flight, by a full scan; among tied
/// hosts one is drawn uniformly (reservoir sampling), so that equal loads do not all
/// go to the first host of the view. This is nginx's `least_conn` and HAProxy's
/// `leastconn` (on requests rather than connections), and Envoy's `LEAST_REQUEST` when
/// its `choice_count` covers the whole host set; O(view) per choice.
///
/// ```
/// use std::time::{Duration, Instant};
/// use meshsim_patterns::discovery::balance::LeastOutstanding;
///
/// let start = Instant::now();
/// let mut rng = <rand_chacha::ChaCha8Rng as rand::SeedableRng>::seed_from_u64(1);
/// let mut least = LeastOutstanding::new(8)?;
/// least.on_send(5);
/// least.on_send(6);
/// assert_eq!(least.choose(&[5, 6, 7], &mut rng), Some(7));
/// least.on_reply(5);
/// let _now = start.elapsed().as_nanos() as u64;
/// # Ok::<(), meshsim_patterns::ConfigError>(())
/// ```
#[derive(Clone, Debug)]
pub struct LeastOutstanding {
    outstanding: Outstanding,
}

impl LeastOutstanding {
    /// A balancer for host ids `0..max_hosts`, none of them busy.
    pub fn new(max_hosts: u32) -> Result<LeastOutstanding, ConfigError> {
        check_max_hosts(max_hosts)?;
        Ok(LeastOutstanding {
            outstanding: Outstanding::new(max_hosts),
        })
    }

    /// The least busy host of `view`; `None` if it is empty.
    pub fn choose(&self, view: &[HostId], rng: &mut impl RngCore) -> Option<HostId> {
        let mut best: Option<(HostId, u32)> = None;
        let mut ties = 0u64;
        for &host in view {
            let load = self.outstanding.get(host);
            match best {
                Some((_, best_load)) if load > best_load => {}
                Some((_, best_load)) if load == best_load => {
                    ties += 1;
                    if uniform_inclusive(rng, 0, ties - 1) == 0 {
                        best = Some((host, load));
                    }
                }
                _ => {
                    best = Some((host, load));
                    ties = 1;
                }
            }
        }
        best.map(|(host, _)| host)
    }

    /// Requests in flight to `host`.
    pub fn outstanding(&self, host: HostId) -> u32 {
        self.outstanding.get(host)
    }

    /// A request was sent to `host`.
    pub fn on_send(&mut self, host: HostId) {
        self.outstanding.increment(host);
    }

    /// A request to `host` ended.
    pub fn on_reply(&mut self, host: HostId) {
        self.outstanding.decrement(host);
    }
}
