//! Passive health checking as **Envoy**'s outlier detection does it: eject a host that
//! returns consecutive errors, or whose success rate is an outlier among its peers,
//! for longer each time it is ejected again.
//!
//! Semantics, from envoyproxy/envoy, `source/common/upstream/outlier_detection_impl.cc`
//! (`DetectorHostMonitorImpl::putHttpResponseCode`, `DetectorImpl::ejectHost`,
//! `checkHostForUneject`, `onIntervalTimer`, `processSuccessRateEjections`):
//!
//! - **Consecutive errors.** A 5xx increments the host's consecutive-5xx counter; a
//!   gateway error (502, 503, 504) also increments its consecutive-gateway-failure
//!   counter, which any other 5xx resets; a non-5xx resets both. A counter *equal* to
//!   its threshold asks for an ejection (gateway first, then 5xx); whether or not the
//!   host is then ejected (the `max_ejection_percent` rule may refuse), that counter is
//!   reset — unless the host was already ejected, in which case nothing happens and the
//!   counter keeps counting past the threshold until the host is unejected.
//! - **Ejection.** Allowed by [`MaxEjectionRule`]; then the host is ejected at `now`,
//!   its ejection count grows, and its backoff multiplier grows by one while `multiplier
//!   × base < max + base` (so with 30 s and 300 s it reaches 11, one more than the cap
//!   needs, and takes one more healthy interval to decay below it).
//! - **Sweeps** ([`OutlierDetector::tick`], every `interval`): first each ejected host
//!   whose `min(base × multiplier, max)` has elapsed since its ejection is unejected
//!   (counters reset); unejection happens only here, so a host stays out until the
//!   first sweep after its time. Then the success-rate buckets swap: the interval just
//!   ended is evaluated. Among non-ejected hosts with at least `request_volume`
//!   requests in it, if there are at least `minimum_hosts`, the mean and the
//!   population standard deviation of their success rates (in percent) give the
//!   threshold `mean − stdev_factor / 1000 × σ`, and hosts strictly below it are
//!   ejected in turn, each subject to the rule. Last, each non-ejected host that has
//!   been back for at least one interval has its multiplier decreased by one (Envoy
//!   1.28: "a node must stay in healthy state for at least one period of check
//!   interval before ejection time multiplier is decremented").
//! - Results keep being counted while a host is ejected (traffic still reaches it in
//!   panic mode).
//! - A successful active health check unejects the host at once
//!   (`successful_active_health_check_uneject_host`, on by default):
//!   [`OutlierDetector::on_active_health_check_passed`].
//! - The share of ejected hosts is counted over all the detector's hosts, not per
//!   priority level ("it is possible for outlier detection to eject all hosts at any
//!   given priority level").
//!
//! Envoy posts consecutive-error ejections from the worker threads to the main thread;
//! here they happen inline in [`OutlierDetector::on_result`]. Hosts are iterated in
//! increasing id order (Envoy iterates a hash map), which decides who is ejected first
//! when the rule stops a success-rate sweep half-way.
//!
//! # Bounds
//!
//! Per-host state for ids `0..max_hosts` and the sweep's scratch buffer are allocated
//! at construction; membership changes allocate nothing.

use std::time::Duration;

use crate::discovery::HostId;
use crate::{ConfigError, Nanos, nanos_of};

mod config;

pub use config::{MaxEjectionRule, OutlierConfig, SuccessRateConfig};

/// The largest `max_hosts`.
pub const MAX_HOSTS: u32 = 1_000_000;

/// How an attempt to a host ended, as the outlier detector classifies it.
///
/// Envoy, with `split_external_local_origin_errors` off (its default), maps a
/// local-origin failure to an HTTP code (`resultToHttpCode`): a connection failure to
/// 503, a timeout to 504, so both count as gateway errors, and so does
/// [`ResultClass::LocalOriginFailure`] here.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ResultClass {
    /// Any non-5xx answer (2xx, 3xx, 4xx).
    Success,
    /// A 5xx other than a gateway error (500, 501, 505, ...).
    ServerError,
    /// 502, 503 or 504.
    GatewayError,
    /// No answer: connection refused or reset, or a timeout (mapped to 503/504).
    LocalOriginFailure,
}

/// Why a host was ejected.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum EjectionKind {
    /// `consecutive_5xx`.
    Consecutive5xx,
    /// `consecutive_gateway_failure`.
    ConsecutiveGatewayFailure,
    /// Success-rate outlier.
    SuccessRate,
}

/// Counters for reporting, as Envoy's `outlier_detection.*` statistics.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct OutlierStats {
    /// `ejections_enforced_total`.
    pub ejections_enforced_total: u64,
    /// `ejections_enforced_consecutive_5xx`.
    pub ejections_enforced_consecutive_5xx: u64,
    /// `ejections_enforced_consecutive_gateway_failure`.
    pub ejections_enforced_consecutive_gateway_failure: u64,
    /// `ejections_enforced_success_rate`.
    pub ejections_enforced_success_rate: u64,
    /// `ejections_overflow`: ejections refused by `max_ejection_percent`.
    pub ejections_overflow: u64,
    /// Hosts unejected (by time or by an active health check).
    pub unejections: u64,
    /// `ejections_active`: hosts ejected now.
    pub ejections_active: u32,
}

/// What one sweep did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TickOutcome {
    /// Hosts returned to service.
    pub unejected: u32,
    /// Hosts ejected as success-rate outliers.
    pub ejected: u32,
}

#[derive(Clone, Copy, Debug, Default)]
struct HostState {
    member: bool,
    ejected: bool,
    consecutive_5xx: u32,
    consecutive_gateway: u32,
    /// Envoy's `ejectTimeBackoff`.
    multiplier: u32,
    ejections: u64,
    last_ejection_at: Nanos,
    last_unejection_at: Option<Nanos>,
    /// Success-rate bucket being written: (successes, requests).
    current: (u64, u64),
    /// The bucket of the interval last ended.
    previous: (u64, u64),
}

/// Envoy's outlier detector over a pool of hosts (see the module documentation).
///
/// ```
/// use std::time::{Duration, Instant};
/// use meshsim_patterns::discovery::{OutlierConfig, OutlierDetector, ResultClass};
///
/// let start = Instant::now();
/// let t0 = start.elapsed().as_nanos() as u64;
/// let config = OutlierConfig { max_ejection_percent: 100, ..OutlierConfig::default() };
/// let mut detector = OutlierDetector::new(config, 4, t0)?;
/// for host in 0..4 {
///     detector.add_host(host);
/// }
/// for _ in 0..5 {
///     detector.on_result(t0, 2, ResultClass::ServerError);
/// }
/// assert!(detector.is_ejected(2)); // five consecutive 5xx
/// let sec = 1_000_000_000;
/// detector.tick(t0 + 10 * sec);
/// detector.tick(t0 + 20 * sec);
/// assert!(detector.is_ejected(2));
/// detector.tick(t0 + 30 * sec); // 30 s × 1 ejection have passed
/// assert!(!detector.is_ejected(2));
/// # Ok::<(), meshsim_patterns::ConfigError>(())
/// ```
#[derive(Clone, Debug)]
pub struct OutlierDetector {
    config: OutlierConfig,
    interval: Nanos,
    base: Nanos,
    max: Nanos,
    hosts: Vec<HostState>,
    members: u32,
    next_tick_at: Nanos,
    /// The success rates of the last sweep's valid hosts.
    scratch: Vec<(HostId, f64)>,
    /// The last sweep's success-rate mean and threshold, if it computed them.
    success_rate_stats: Option<(f64, f64)>,
    stats: OutlierStats,
    last_now: Nanos,
}

impl OutlierDetector {
    /// A detector created at `now` for host ids `0..max_hosts`, with no hosts yet; the
    /// first sweep is due one interval later.
    pub fn new(
        config: OutlierConfig,
        max_hosts: u32,
        now: Nanos,
    ) -> Result<OutlierDetector, ConfigError> {
        config.validate()?;
        if max_hosts > MAX_HOSTS {
            return Err(ConfigError::new(
                "outlier_detection",
                "max_hosts",
                "must be at most 1000000",
            ));
        }
        let interval = nanos_of(config.interval);
        Ok(OutlierDetector {
            interval,
            base: nanos_of(config.base_ejection_time),
            max: nanos_of(config.max_ejection_time),
            hosts: vec![HostState::default(); max_hosts as usize],
            members: 0,
            next_tick_at: now.saturating_add(interval),
            scratch: Vec::with_capacity(max_hosts as usize),
            success_rate_stats: None,
            stats: OutlierStats::default(),
            last_now: now,
            config,
        })
    }

    /// The configuration.
    pub fn config(&self) -> &OutlierConfig {
        &self.config
    }

    fn host(&self, host: HostId) -> &HostState {
        let len = self.hosts.len();
        self.hosts
            .get(host as usize)
            .unwrap_or_else(|| panic!("host {host} is beyond the detector's max_hosts ({len})"))
    }

    fn host_mut(&mut self, host: HostId) -> &mut HostState {
        let len = self.hosts.len();
        self.hosts
            .get_mut(host as usize)
            .unwrap_or_else(|| panic!("host {host} is beyond the detector's max_hosts ({len})"))
    }

    /// `host` joins the pool (healthy, with fresh counters). A member is a no-op.
    pub fn add_host(&mut self, host: HostId) {
        let state = self.host_mut(host);
        if !state.member {
            *state = HostState {
                member: true,
                ..HostState::default()
            };
            self.members += 1;
        }
    }

    /// `host` leaves the pool; if it was ejected, one ejection fewer is active.
    pub fn remove_host(&mut self, host: HostId) {
        let state = self.host_mut(host);
        if state.member {
            let was_ejected = state.ejected;
            *state = HostState::default();
            self.members -= 1;
            if was_ejected {
                self.stats.ejections_active -= 1;
            }
        }
    }

    /// Hosts in the pool.
    pub fn member_count(&self) -> u32 {
        self.members
    }

    /// Whether `host` is in the pool.
    pub fn is_member(&self, host: HostId) -> bool {
        self.host(host).member
    }

    /// Whether `host` is ejected. Unejection happens only at sweeps
    /// ([`tick`](Self::tick)), as in Envoy.
    pub fn is_ejected(&self, host: HostId) -> bool {
        self.host(host).ejected
    }

    /// Hosts ejected now.
    pub fn ejected_count(&self) -> u32 {
        self.stats.ejections_active
    }

    /// `host`'s backoff multiplier (Envoy's `ejectTimeBackoff`).
    pub fn ejection_multiplier(&self, host: HostId) -> u32 {
        self.host(host).multiplier
    }

    /// How many times `host` has been ejected since it joined.
    pub fn ejections(&self, host: HostId) -> u64 {
        self.host(host).ejections
    }

    /// How long `host`'s current (or next) ejection lasts: `min(base × multiplier,
    /// max)`.
    pub fn ejection_time(&self, host: HostId) -> Duration {
        Duration::from_nanos(self.ejection_nanos(self.host(host).multiplier))
    }

    fn ejection_nanos(&self, multiplier: u32) -> Nanos {
        self.base
            .saturating_mul(u64::from(multiplier))
            .min(self.max)
    }

    /// The counters.
    pub fn stats(&self) -> OutlierStats {
        self.stats
    }

    /// The last sweep's success-rate mean and ejection threshold, in percent, if it
    /// had enough hosts to compute them.
    pub fn success_rate_stats(&self) -> Option<(f64, f64)> {
        self.success_rate_stats
    }

    /// When the next sweep is due.
    pub fn next_tick_at(&self) -> Nanos {
        self.next_tick_at
    }

    /// An attempt to `host` ended at `now` as `class`. Returns whether it ejected the
    /// host. Results for a host outside the pool are ignored.
    pub fn on_result(&mut self, now: Nanos, host: HostId, class: ResultClass) -> bool {
        self.advance(now);
        let config = self.config;
        let state = self.host_mut(host);
        if !state.member {
            return false;
        }
        state.current.1 += 1;
        let mut wanted = [None, None];
        match class {
            ResultClass::Success => {
                state.current.0 += 1;
                state.consecutive_5xx = 0;
                state.consecutive_gateway = 0;
            }
            ResultClass::ServerError => {
                state.consecutive_gateway = 0;
                state.consecutive_5xx = state.consecutive_5xx.saturating_add(1);
            }
            ResultClass::GatewayError | ResultClass::LocalOriginFailure => {
                state.consecutive_gateway = state.consecutive_gateway.saturating_add(1);
                state.consecutive_5xx = state.consecutive_5xx.saturating_add(1);
                if config.consecutive_gateway_failure == Some(state.consecutive_gateway) {
                    wanted[0] = Some(EjectionKind::ConsecutiveGatewayFailure);
                }
            }
        }
        if class != ResultClass::Success && config.consecutive_5xx == Some(state.consecutive_5xx) {
            wanted[1] = Some(EjectionKind::Consecutive5xx);
        }
        let mut ejected = false;
        for kind in wanted.into_iter().flatten() {
            if self.host(host).ejected {
                // Envoy: a consecutive error on an ejected host is dropped, and its
                // counter is not reset.
                continue;
            }
            ejected |= self.eject(now, host, kind);
            let state = self.host_mut(host);
            match kind {
                EjectionKind::ConsecutiveGatewayFailure => state.consecutive_gateway = 0,
                _ => state.consecutive_5xx = 0,
            }
        }
        ejected
    }

    /// Ejects `host` if the rule allows it.
    fn eject(&mut self, now: Nanos, host: HostId, kind: EjectionKind) -> bool {
        debug_assert!(!self.host(host).ejected);
        let allowed = self.config.max_ejection_rule.allows(
            self.stats.ejections_active,
            self.members,
            self.config.max_ejection_percent,
        );
        if !allowed {
            self.stats.ejections_overflow += 1;
            return false;
        }
        let (base, max) = (self.base, self.max);
        let state = self.host_mut(host);
        state.ejected = true;
        state.ejections += 1;
        state.last_ejection_at = now;
        if base.saturating_mul(u64::from(state.multiplier)) < max.saturating_add(base) {
            state.multiplier += 1;
        }
        self.stats.ejections_active += 1;
        self.stats.ejections_enforced_total += 1;
        match kind {
            EjectionKind::Consecutive5xx => self.stats.ejections_enforced_consecutive_5xx += 1,
            EjectionKind::ConsecutiveGatewayFailure => {
                self.stats.ejections_enforced_consecutive_gateway_failure += 1
            }
            EjectionKind::SuccessRate => self.stats.ejections_enforced_success_rate += 1,
        }
        debug_assert!(self.stats.ejections_active <= self.members);
        true
    }

    fn uneject(&mut self, now: Nanos, host: HostId) {
        let state = self.host_mut(host);
        debug_assert!(state.ejected);
        state.ejected = false;
        state.consecutive_5xx = 0;
        state.consecutive_gateway = 0;
        state.last_unejection_at = Some(now);
        self.stats.ejections_active -= 1;
        self.stats.unejections += 1;
    }

    /// An active health check of `host` passed at `now`: an ejected host is unejected
    /// at once (Envoy's `successful_active_health_check_uneject_host`).
    pub fn on_active_health_check_passed(&mut self, now: Nanos, host: HostId) {
        self.advance(now);
        let state = self.host(host);
        if state.member && state.ejected {
            self.uneject(now, host);
        }
    }

    /// The sweep, run by the owner every `interval` (see the module documentation).
    pub fn tick(&mut self, now: Nanos) -> TickOutcome {
        self.advance(now);
        self.next_tick_at = now.saturating_add(self.interval);
        let mut outcome = TickOutcome::default();
        for host in 0..self.hosts.len() as HostId {
            let state = self.hosts[host as usize];
            if !state.member {
                continue;
            }
            if state.ejected
                && self.ejection_nanos(state.multiplier) <= now - state.last_ejection_at
            {
                self.uneject(now, host);
                outcome.unejected += 1;
            }
            let state = &mut self.hosts[host as usize];
            state.previous = state.current;
            state.current = (0, 0);
        }
        outcome.ejected = self.success_rate_sweep(now);
        for state in self.hosts.iter_mut().filter(|s| s.member && !s.ejected) {
            if let Some(back_at) = state.last_unejection_at
                && now - back_at >= self.interval
                && state.multiplier > 0
            {
                state.multiplier -= 1;
            }
        }
        outcome
    }

    fn success_rate_sweep(&mut self, now: Nanos) -> u32 {
        self.success_rate_stats = None;
        let Some(rule) = self.config.success_rate else {
            return 0;
        };
        if self.members < rule.minimum_hosts {
            return 0;
        }
        self.scratch.clear();
        for (host, state) in self.hosts.iter().enumerate() {
            let (successes, requests) = state.previous;
            if state.member
                && !state.ejected
                && requests > 0
                && requests >= u64::from(rule.request_volume)
            {
                let rate = successes as f64 * 100.0 / requests as f64;
                self.scratch.push((host as HostId, rate));
            }
        }
        if self.scratch.is_empty() || self.scratch.len() < rule.minimum_hosts as usize {
            return 0;
        }
        let n = self.scratch.len() as f64;
        let mean = self.scratch.iter().map(|&(_, rate)| rate).sum::<f64>() / n;
        let variance = self
            .scratch
            .iter()
            .map(|&(_, rate)| (rate - mean) * (rate - mean))
            .sum::<f64>()
            / n;
        let threshold = mean - f64::from(rule.stdev_factor) / 1000.0 * variance.sqrt();
        self.success_rate_stats = Some((mean, threshold));
        let mut ejected = 0;
        for i in 0..self.scratch.len() {
            let (host, rate) = self.scratch[i];
            if rate < threshold && self.eject(now, host, EjectionKind::SuccessRate) {
                ejected += 1;
            }
        }
        ejected
    }

    fn advance(&mut self, now: Nanos) {
        debug_assert!(now >= self.last_now, "time went backwards");
        self.last_now = self.last_now.max(now);
    }
}

#[cfg(test)]
mod tests;
