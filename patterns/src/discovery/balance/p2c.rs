//! Power of two choices, by requests in flight or by tower's peak-EWMA cost.
//!
//! The choice mirrors **tower**'s `p2c::Balance` (tower-rs/tower,
//! `tower/src/balance/p2c/service.rs`): a view of one host is that host; otherwise two
//! *distinct* hosts are drawn, every pair equally likely (as tower's `sample_floyd2`,
//! by a different draw), and the first is kept unless the second is strictly less
//! loaded (`if aload <= bload { a } else { b }`).
//! Envoy's `LEAST_REQUEST` draws its `choice_count` (2) candidates *with* replacement
//! and so sometimes compares a host with itself; tower's distinct draw is modelled.
//!
//! The peak-EWMA cost mirrors tower's `load::PeakEwma` (`tower/src/load/peak_ewma.rs`,
//! after Finagle's `PeakEwma`): `cost = rtt_estimate × (pending + 1)`. A latency sample
//! above the estimate replaces it at once (the peak); a lower one moves it by an
//! exponential average weighted by the time since the estimate was last touched,
//! `estimate × d + sample × (1 − d)` with `d = e^(−elapsed / decay)`. Reading the cost
//! also decays the estimate toward zero and touches it (tower's `load()` updates with
//! a zero sample), so an idle host's estimate fades and it is tried again. A host never
//! observed starts at `default_rtt`, which tower documents as "an arbitrary default RTT
//! of 1 second [...] to prevent the endpoint from being overloaded before a meaningful
//! baseline can be established"; it starts when the balancer first sees the host
//! (tower starts it when the host is discovered). The decay defaults to 10 s, the
//! value of Finagle's `decayTime` and of linkerd2-proxy, which drive tower's PeakEwma
//! (tower itself takes it as a parameter).

use std::time::Duration;

use rand::RngCore;

use super::{Outstanding, check_max_hosts, slot};
use crate::discovery::{HostId, exp_neg};
use crate::{ConfigError, Nanos, nanos_of, uniform_inclusive};

/// What [`PowerOfTwo`] compares.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum P2cLoad {
    /// Requests in flight (tower's `PendingRequests`, Envoy's active requests).
    Outstanding,
    /// Tower's peak-EWMA cost.
    PeakEwma(PeakEwmaConfig),
}

/// The peak-EWMA parameters; the default decays over 10 s from a 1 s default RTT.
///
/// ```
/// use std::time::{Duration, Instant};
/// use meshsim_patterns::discovery::balance::{P2cLoad, PeakEwmaConfig, PowerOfTwo};
///
/// let start = Instant::now();
/// let config = PeakEwmaConfig { default_rtt: Duration::from_millis(30), ..PeakEwmaConfig::default() };
/// let p2c = PowerOfTwo::new(P2cLoad::PeakEwma(config), 4)?;
/// assert_eq!(p2c.outstanding(0), 0);
/// let _now = start.elapsed().as_nanos() as u64;
/// # Ok::<(), meshsim_patterns::ConfigError>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PeakEwmaConfig {
    /// The time constant of the decay; at least 1 ns.
    pub decay: Duration,
    /// The estimate of a host not observed yet; at least 1 ns.
    pub default_rtt: Duration,
}

impl Default for PeakEwmaConfig {
    fn default() -> Self {
        PeakEwmaConfig {
            decay: Duration::from_secs(10),
            default_rtt: Duration::from_secs(1),
        }
    }
}

/// One host's RTT estimate, in nanoseconds.
#[derive(Clone, Copy, Debug)]
struct RttEstimate {
    rtt_ns: f64,
    updated_at: Nanos,
}

#[derive(Clone, Debug)]
struct PeakEwma {
    decay_ns: f64,
    default_rtt_ns: f64,
    estimates: Vec<Option<RttEstimate>>,
}

impl PeakEwma {
    /// Updates `host`'s estimate with a sample at `now` (tower's `RttEstimate::update`)
    /// and returns it; a zero sample only decays it.
    fn update(&mut self, host: HostId, now: Nanos, sample_ns: f64) -> f64 {
        let default = RttEstimate {
            rtt_ns: self.default_rtt_ns,
            updated_at: now,
        };
        let i = slot(host, self.estimates.len());
        let estimate = self.estimates[i].get_or_insert(default);
        if estimate.rtt_ns < sample_ns {
            estimate.rtt_ns = sample_ns;
        } else {
            let elapsed = now.saturating_sub(estimate.updated_at) as f64;
            let decay = exp_neg(elapsed / self.decay_ns);
            estimate.rtt_ns = estimate.rtt_ns * decay + sample_ns * (1.0 - decay);
        }
        estimate.updated_at = estimate.updated_at.max(now);
        estimate.rtt_ns
    }
}

/// Power of two choices (see the module documentation).
///
/// ```
/// use std::time::{Duration, Instant};
/// use meshsim_patterns::discovery::balance::{P2cLoad, PowerOfTwo};
///
/// let start = Instant::now();
/// let mut rng = <rand_chacha::ChaCha8Rng as rand::SeedableRng>::seed_from_u64(1);
/// let mut p2c = PowerOfTwo::new(P2cLoad::Outstanding, 4)?;
/// p2c.on_send(0);
/// let now = start.elapsed().as_nanos() as u64;
/// // Of two hosts, the idle one is always the choice.
/// for _ in 0..10 {
///     assert_eq!(p2c.choose(&[0, 1], now, &mut rng), Some(1));
/// }
/// # Ok::<(), meshsim_patterns::ConfigError>(())
/// ```
#[derive(Clone, Debug)]
pub struct PowerOfTwo {
    outstanding: Outstanding,
    ewma: Option<PeakEwma>,
}

impl PowerOfTwo {
    /// A balancer for host ids `0..max_hosts`.
    pub fn new(load: P2cLoad, max_hosts: u32) -> Result<PowerOfTwo, ConfigError> {
        check_max_hosts(max_hosts)?;
        let ewma = match load {
            P2cLoad::Outstanding => None,
            P2cLoad::PeakEwma(config) => {
                if config.decay.is_zero() {
                    return Err(ConfigError::new("peak_ewma", "decay", "must be positive"));
                }
                if config.default_rtt.is_zero() {
                    return Err(ConfigError::new(
                        "peak_ewma",
                        "default_rtt",
                        "must be positive",
                    ));
                }
                Some(PeakEwma {
                    decay_ns: nanos_of(config.decay) as f64,
                    default_rtt_ns: nanos_of(config.default_rtt) as f64,
                    estimates: vec![None; max_hosts as usize],
                })
            }
        };
        Ok(PowerOfTwo {
            outstanding: Outstanding::new(max_hosts),
            ewma,
        })
    }

    /// The better of two distinct random hosts of `view`; `None` if it is empty.
    pub fn choose(
        &mut self,
        view: &[HostId],
        now: Nanos,
        rng: &mut impl RngCore,
    ) -> Option<HostId> {
        match view.len() {
            0 => None,
            1 => Some(view[0]),
            len => {
                let len = len as u64;
                let a = uniform_inclusive(rng, 0, len - 1);
                let mut b = uniform_inclusive(rng, 0, len - 2);
                if b >= a {
                    b += 1;
                }
                let (a, b) = (view[a as usize], view[b as usize]);
                let (a_load, b_load) = (self.cost(a, now), self.cost(b, now));
                Some(if a_load <= b_load { a } else { b })
            }
        }
    }

    /// `host`'s load at `now`: its requests in flight, or its peak-EWMA cost (which
    /// decays its estimate to `now`, as reading it does in tower).
    pub fn cost(&mut self, host: HostId, now: Nanos) -> f64 {
        let pending = f64::from(self.outstanding.get(host));
        match &mut self.ewma {
            None => pending,
            Some(ewma) => ewma.update(host, now, 0.0) * (pending + 1.0),
        }
    }

    /// `host`'s RTT estimate at its last update, if the peak EWMA is on and the host
    /// has been seen.
    pub fn rtt_estimate(&self, host: HostId) -> Option<Duration> {
        let ewma = self.ewma.as_ref()?;
        let estimate = ewma.estimates[slot(host, ewma.estimates.len())]?;
        Some(Duration::from_nanos(estimate.rtt_ns as u64))
    }

    /// Requests in flight to `host`.
    pub fn outstanding(&self, host: HostId) -> u32 {
        self.outstanding.get(host)
    }

    /// A request was sent to `host`.
    pub fn on_send(&mut self, host: HostId) {
        self.outstanding.increment(host);
    }

    /// A request to `host` ended at `now` after `rtt`, whatever its outcome: one
    /// fewer in flight, and a latency sample for the peak EWMA.
    pub fn on_reply(&mut self, host: HostId, now: Nanos, rtt: Duration) {
        self.outstanding.decrement(host);
        if let Some(ewma) = &mut self.ewma {
            ewma.update(host, now, nanos_of(rtt) as f64);
        }
    }
}
