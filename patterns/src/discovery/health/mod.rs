//! An active health check as a **Consul** agent runs it: probe every `interval`, count
//! consecutive results against thresholds, and deregister a service whose check has
//! been critical for too long.
//!
//! Semantics, from hashicorp/consul:
//!
//! - `agent/checks/check.go`, `StatusHandler.updateCheck`: a passing (or warning)
//!   result increments the success counter and zeroes the failure counter; the status
//!   becomes the reported one once the counter reaches `success_before_passing`. A
//!   critical result increments the failure counter and zeroes the success counter; the
//!   status becomes critical once it reaches `failures_before_critical`, else warning
//!   once it reaches `failures_before_warning` (which defaults to the critical
//!   threshold). **Both counters start at their thresholds** ("in order to immediately
//!   update status after first check", `NewStatusHandler`): the first result decides
//!   the status at once, whatever the thresholds; they apply from then on. Thresholds
//!   of 0 and 1 behave alike.
//! - The same file, `run`: the first check waits a random stagger in `[0, interval)`
//!   (`lib.RandomStagger`), and each later check starts `interval` after the previous
//!   one *finished* (`time.After(interval)` after `check()` returns). A check that does
//!   not answer within `timeout` (10 s by default for HTTP, TCP and gRPC) is critical:
//!   here the owner enforces the timeout ([`HealthCheck::begin_check`] returns the
//!   deadline) and reports it as a failure.
//! - A check starts **critical** unless registered with another status
//!   (`initial_status`).
//! - `agent/agent.go`, `reapServicesInternal`: a service is deregistered when one of its
//!   checks has been critical for *more than* `deregister_critical_service_after`
//!   (`CriticalFor() > timeout`, strictly), raised to a minimum of one minute
//!   (`CheckDeregisterIntervalMin`, with a warning), and the reaper only looks every
//!   30 s (`CheckReapInterval`). Both are configuration here ([`HealthCheckConfig`]'s
//!   `deregister_minimum` and `reap_interval`); the reaper's passes are counted from
//!   the check's creation, where Consul counts them from the agent's start (a
//!   simplification: the phase of the 30 s grid relative to the check).
//! - "Critical for" is measured from the moment the status last *became* critical
//!   (`local.State`: `CriticalTime` is set on the transition and cleared on any other
//!   status).
//!
//! The check is sans-IO: the owner asks [`HealthCheck::next_check_at`] /
//! [`HealthCheck::due`], calls [`HealthCheck::begin_check`] when it sends the probe,
//! and reports [`HealthCheck::on_result`] (or [`HealthCheck::on_status`] for a check
//! that can answer "warning", as Consul's script checks and an HTTP 429 do).

use std::time::Duration;

use rand::RngCore;

use crate::{ConfigError, Nanos, nanos_of, uniform_inclusive};

/// A check's status, as Consul names them.
///
/// ```
/// use std::time::{Duration, Instant};
/// use meshsim_patterns::discovery::{HealthCheck, HealthCheckConfig, HealthStatus};
///
/// let start = Instant::now();
/// let config = HealthCheckConfig::consul(Duration::from_secs(10));
/// let check = HealthCheck::new(config, start.elapsed().as_nanos() as u64)?;
/// assert_eq!(check.status(), HealthStatus::Critical); // Consul's initial status
/// # Ok::<(), meshsim_patterns::ConfigError>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum HealthStatus {
    /// The check passes: the instance gets traffic.
    Passing,
    /// The check warns: Consul's DNS and `?passing` queries still return it.
    Warning,
    /// The check fails: the instance gets no traffic.
    Critical,
}

/// A health check's configuration. [`HealthCheckConfig::consul`] gives Consul's
/// defaults for a given interval (Consul has no default interval: it is required).
///
/// ```
/// use std::time::{Duration, Instant};
/// use meshsim_patterns::discovery::{HealthCheck, HealthCheckConfig};
///
/// let start = Instant::now();
/// let config = HealthCheckConfig {
///     failures_before_critical: 3,
///     success_before_passing: 2,
///     deregister_critical_after: Some(Duration::from_secs(90)),
///     ..HealthCheckConfig::consul(Duration::from_secs(5))
/// };
/// assert_eq!(config.validate(), Ok(()));
/// let _check = HealthCheck::new(config, start.elapsed().as_nanos() as u64)?;
/// # Ok::<(), meshsim_patterns::ConfigError>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HealthCheckConfig {
    /// Time from the end of one check to the start of the next; at least 1 ns.
    pub interval: Duration,
    /// How long a probe may take before the owner reports it failed (Consul: 10 s);
    /// at least 1 ns.
    pub timeout: Duration,
    /// Consecutive passing results before the status becomes passing (Consul: 0).
    pub success_before_passing: u32,
    /// Consecutive failures before the status becomes warning; `None` is the critical
    /// threshold (Consul's default, which Consul also gives an explicit 0); at least 1.
    /// Above `failures_before_critical` it has no effect (critical is checked first).
    pub failures_before_warning: Option<u32>,
    /// Consecutive failures before the status becomes critical (Consul: 0).
    pub failures_before_critical: u32,
    /// The status before the first result (Consul: critical).
    pub initial_status: HealthStatus,
    /// Deregister the service once the check has been critical for longer than this
    /// (`deregister_critical_service_after`); `None` never deregisters.
    pub deregister_critical_after: Option<Duration>,
    /// A shorter `deregister_critical_after` is raised to this (Consul's
    /// `CheckDeregisterIntervalMin`, one minute, not user-configurable in Consul).
    pub deregister_minimum: Duration,
    /// The reaper looks at critical checks every `reap_interval` (Consul's
    /// `CheckReapInterval`, 30 s); zero makes [`HealthCheck::should_deregister`] exact
    /// to the nanosecond.
    pub reap_interval: Duration,
}

impl HealthCheckConfig {
    /// Consul's defaults for an HTTP, TCP or gRPC check with this interval: timeout
    /// 10 s, both thresholds 0 (the first result decides, then each result), initial
    /// status critical, no deregistration, a one-minute minimum and a 30 s reaper.
    pub const fn consul(interval: Duration) -> HealthCheckConfig {
        HealthCheckConfig {
            interval,
            timeout: Duration::from_secs(10),
            success_before_passing: 0,
            failures_before_warning: None,
            failures_before_critical: 0,
            initial_status: HealthStatus::Critical,
            deregister_critical_after: None,
            deregister_minimum: Duration::from_secs(60),
            reap_interval: Duration::from_secs(30),
        }
    }

    /// Whether a [`HealthCheck`] can run with this configuration.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let bad = |field, reason| Err(ConfigError::new("health_check", field, reason));
        if self.interval.is_zero() {
            return bad("interval", "must be positive");
        }
        if self.timeout.is_zero() {
            return bad("timeout", "must be positive");
        }
        if self.failures_before_warning == Some(0) {
            // Consul reads 0 as unset (`agent.go`: "FailuresBeforeWarning has to
            // default to same value as FailuresBeforeCritical").
            return bad(
                "failures_before_warning",
                "must be at least 1 (leave it out for the critical threshold)",
            );
        }
        if self.deregister_critical_after == Some(Duration::ZERO) {
            return bad(
                "deregister_critical_after",
                "must be positive (leave it out to never deregister)",
            );
        }
        Ok(())
    }

    /// The deregistration timeout in effect: `deregister_critical_after` raised to
    /// `deregister_minimum`, as the Consul agent does.
    pub fn effective_deregister_after(&self) -> Option<Duration> {
        self.deregister_critical_after
            .map(|after| after.max(self.deregister_minimum))
    }
}

/// One active health check (see the module documentation).
///
/// ```
/// use std::time::{Duration, Instant};
/// use meshsim_patterns::discovery::{HealthCheck, HealthCheckConfig, HealthStatus};
///
/// let start = Instant::now();
/// let config = HealthCheckConfig { failures_before_critical: 3, ..HealthCheckConfig::consul(Duration::from_secs(10)) };
/// let now = start.elapsed().as_nanos() as u64;
/// let mut check = HealthCheck::new(config, now)?;
/// assert!(check.due(now));
/// let deadline = check.begin_check(now).unwrap(); // send the probe; give up at `deadline`
/// assert_eq!(deadline, now + 10_000_000_000);
/// assert_eq!(check.on_result(now + 1_000_000, true), HealthStatus::Passing); // the first result decides
/// assert_eq!(check.next_check_at(), Some(now + 1_000_000 + 10_000_000_000));
/// # Ok::<(), meshsim_patterns::ConfigError>(())
/// ```
#[derive(Clone, Debug)]
pub struct HealthCheck {
    config: HealthCheckConfig,
    interval: Nanos,
    timeout: Nanos,
    /// The effective deregistration timeout.
    deregister_after: Option<Nanos>,
    reap_interval: Nanos,
    /// When the check was created: the phase of the reaper's passes.
    created_at: Nanos,
    status: HealthStatus,
    /// When the status last became critical, while it is.
    critical_since: Option<Nanos>,
    success_counter: u32,
    failure_counter: u32,
    next_check_at: Nanos,
    /// When the probe in flight was sent.
    in_flight_since: Option<Nanos>,
    last_now: Nanos,
}

impl HealthCheck {
    /// A check created at `now`, whose first probe is due at once.
    pub fn new(config: HealthCheckConfig, now: Nanos) -> Result<HealthCheck, ConfigError> {
        HealthCheck::with_first_check_at(config, now, now)
    }

    /// A check created at `now` whose first probe waits a uniform random stagger in
    /// `[0, interval)`, as Consul's agent does so that checks do not all fire at once.
    pub fn staggered(
        config: HealthCheckConfig,
        now: Nanos,
        rng: &mut impl RngCore,
    ) -> Result<HealthCheck, ConfigError> {
        config.validate()?;
        let stagger = uniform_inclusive(rng, 0, nanos_of(config.interval) - 1);
        HealthCheck::with_first_check_at(config, now, now.saturating_add(stagger))
    }

    /// A check created at `now` whose first probe is due at `first_check_at`.
    pub fn with_first_check_at(
        config: HealthCheckConfig,
        now: Nanos,
        first_check_at: Nanos,
    ) -> Result<HealthCheck, ConfigError> {
        config.validate()?;
        let status = config.initial_status;
        Ok(HealthCheck {
            interval: nanos_of(config.interval),
            timeout: nanos_of(config.timeout),
            deregister_after: config.effective_deregister_after().map(nanos_of),
            reap_interval: nanos_of(config.reap_interval),
            created_at: now,
            status,
            critical_since: (status == HealthStatus::Critical).then_some(now),
            // Consul: "set counters values to threshold in order to immediately update
            // status after first check".
            success_counter: config.success_before_passing,
            failure_counter: config.failures_before_critical,
            next_check_at: first_check_at.max(now),
            in_flight_since: None,
            last_now: now,
            config,
        })
    }

    /// The configuration.
    pub fn config(&self) -> &HealthCheckConfig {
        &self.config
    }

    /// The current status.
    pub fn status(&self) -> HealthStatus {
        self.status
    }

    /// When the status last became critical, if it is critical.
    pub fn critical_since(&self) -> Option<Nanos> {
        self.critical_since
    }

    /// When the next probe is due, or `None` while one is in flight.
    pub fn next_check_at(&self) -> Option<Nanos> {
        match self.in_flight_since {
            Some(_) => None,
            None => Some(self.next_check_at),
        }
    }

    /// The deadline of the probe in flight, if one is: the owner reports a failure if
    /// no answer has come by then.
    pub fn deadline(&self) -> Option<Nanos> {
        self.in_flight_since
            .map(|sent| sent.saturating_add(self.timeout))
    }

    /// Whether a probe is due at `now` (and none is in flight).
    pub fn due(&self, now: Nanos) -> bool {
        self.in_flight_since.is_none() && now >= self.next_check_at
    }

    /// The owner sends the probe at `now`: returns its deadline, `now + timeout`. A
    /// call when no probe is due, or while one is in flight, is a no-op (`None`).
    pub fn begin_check(&mut self, now: Nanos) -> Option<Nanos> {
        self.advance(now);
        if !self.due(now) {
            return None;
        }
        self.in_flight_since = Some(now);
        Some(now.saturating_add(self.timeout))
    }

    /// The probe in flight is given up at `now` without a result: its owner could not
    /// learn it (the agent or server that runs the check was down), so it counts
    /// neither way, and the counters and the status stay as they were. The next
    /// probe is due `interval` after `now`. A no-op without a probe in flight.
    pub fn abandon_check(&mut self, now: Nanos) {
        self.advance(now);
        if self.in_flight_since.take().is_some() {
            self.next_check_at = now.saturating_add(self.interval);
        }
    }

    /// The probe finished at `now`: passed, or failed (an error, a bad status, or the
    /// timeout, which the owner reports as a failure). Returns the new status. The
    /// next probe is due `interval` after `now`.
    pub fn on_result(&mut self, now: Nanos, passed: bool) -> HealthStatus {
        let status = if passed {
            HealthStatus::Passing
        } else {
            HealthStatus::Critical
        };
        self.on_status(now, status)
    }

    /// The probe finished at `now` with this status: a warning counts as a success
    /// for the counters, as in Consul, and becomes the status once the success
    /// threshold is reached. Returns the new status.
    pub fn on_status(&mut self, now: Nanos, reported: HealthStatus) -> HealthStatus {
        self.advance(now);
        self.in_flight_since = None;
        self.next_check_at = now.saturating_add(self.interval);
        match reported {
            HealthStatus::Passing | HealthStatus::Warning => {
                self.success_counter = self.success_counter.saturating_add(1);
                self.failure_counter = 0;
                if self.success_counter >= self.config.success_before_passing {
                    self.set_status(now, reported);
                }
            }
            HealthStatus::Critical => {
                self.failure_counter = self.failure_counter.saturating_add(1);
                self.success_counter = 0;
                let warning = self
                    .config
                    .failures_before_warning
                    .unwrap_or(self.config.failures_before_critical);
                if self.failure_counter >= self.config.failures_before_critical {
                    self.set_status(now, HealthStatus::Critical);
                } else if self.failure_counter >= warning {
                    self.set_status(now, HealthStatus::Warning);
                }
            }
        }
        self.status
    }

    fn set_status(&mut self, now: Nanos, status: HealthStatus) {
        if status == HealthStatus::Critical {
            if self.status != HealthStatus::Critical {
                self.critical_since = Some(now);
            }
        } else {
            self.critical_since = None;
        }
        self.status = status;
    }

    /// The first reaper pass at which the service would be deregistered if the status
    /// stays critical: the first pass `p` with `p − critical_since >
    /// deregister_after`. `None` if the check is not critical or never deregisters.
    pub fn deregister_at(&self) -> Option<Nanos> {
        let after = self.deregister_after?;
        let since = self.critical_since?;
        let earliest = since.saturating_add(after).saturating_add(1);
        if self.reap_interval == 0 {
            return Some(earliest);
        }
        // Passes at created_at + k·reap_interval, k >= 1; the first one >= earliest.
        let offset = earliest.saturating_sub(self.created_at);
        let k = offset.div_ceil(self.reap_interval).max(1);
        Some(
            self.created_at
                .saturating_add(k.saturating_mul(self.reap_interval)),
        )
    }

    /// Whether the reaper, at its last pass no later than `now`, found the check
    /// critical for longer than the deregistration timeout: the owner should
    /// deregister the service. Stays true while the status stays critical.
    pub fn should_deregister(&self, now: Nanos) -> bool {
        self.deregister_at().is_some_and(|at| at <= now)
    }

    fn advance(&mut self, now: Nanos) {
        debug_assert!(now >= self.last_now, "time went backwards");
        self.last_now = self.last_now.max(now);
    }
}

#[cfg(test)]
mod tests;
