//! A readiness probe as the **Kubernetes** kubelet runs it: an instance that is alive
//! but should get no new traffic (a required dependency is down, its queue is too
//! long) says so, leaves the pool, and comes back when it is ready again, without
//! being restarted. Liveness (is the process up? a failure restarts it) and readiness
//! (should it get traffic? a failure only takes it out of the endpoints) are two
//! different questions, and this type answers only the second.
//!
//! Semantics, from kubernetes/kubernetes `pkg/kubelet/prober/worker.go` (`doProbe`)
//! and the `Probe` type's documentation (`core/v1`):
//!
//! - The probe runs every `periodSeconds` (10 s by default).
//! - Results are counted in a run of equal results: a result equal to the last one
//!   lengthens the run, a different one starts a new run of 1. The readiness changes
//!   only when a run of failures reaches `failureThreshold` (3 by default) or a run of
//!   successes reaches `successThreshold` (1 by default); below that the readiness
//!   stays what it was.
//! - A readiness failure never restarts the container; only the liveness probe does.
//! - Kubernetes starts a readiness probe as *failure* (not ready until the first
//!   success). The owner chooses here ([`ReadinessProbe::new`]'s `ready`): meshsim
//!   starts its instances warm, ready, at the start of a run and after a boot.
//!
//! Consul has no separate readiness: its HTTP check counts any status other than 2xx
//! (or 429, a warning) as critical, so a readiness endpoint that answers 503 while not
//! ready is how a Consul user gets the same effect, through the check's own
//! thresholds. The owner decides what "ready" means at each probe and reports it.
//!
//! The probe is sans-IO: the owner asks [`ReadinessProbe::next_probe_at`], evaluates,
//! and reports [`ReadinessProbe::on_result`], which says whether the readiness changed.

use std::time::Duration;

use crate::{ConfigError, Nanos, nanos_of};

/// A readiness probe's configuration; the default is Kubernetes' (10 s, 3, 1).
///
/// ```
/// use std::time::Duration;
/// use meshsim_patterns::discovery::ReadinessConfig;
///
/// let config = ReadinessConfig::default();
/// assert_eq!(config.period, Duration::from_secs(10));
/// assert_eq!((config.failure_threshold, config.success_threshold), (3, 1));
/// assert_eq!(config.validate(), Ok(()));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReadinessConfig {
    /// Time between probes (`periodSeconds`); at least 1 ns.
    pub period: Duration,
    /// Consecutive failures that make a ready instance not ready (`failureThreshold`);
    /// at least 1.
    pub failure_threshold: u32,
    /// Consecutive successes that make a not-ready instance ready
    /// (`successThreshold`); at least 1.
    pub success_threshold: u32,
}

impl Default for ReadinessConfig {
    fn default() -> Self {
        ReadinessConfig {
            period: Duration::from_secs(10),
            failure_threshold: 3,
            success_threshold: 1,
        }
    }
}

impl ReadinessConfig {
    /// Whether a [`ReadinessProbe`] can run with this configuration.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let bad = |field, reason| Err(ConfigError::new("readiness", field, reason));
        if self.period.is_zero() {
            return bad("period", "must be positive");
        }
        if self.failure_threshold == 0 {
            return bad("failure_threshold", "must be at least 1");
        }
        if self.success_threshold == 0 {
            return bad("success_threshold", "must be at least 1");
        }
        Ok(())
    }
}

/// One instance's readiness probe (see the module documentation).
///
/// ```
/// use std::time::{Duration, Instant};
/// use meshsim_patterns::discovery::{ReadinessConfig, ReadinessProbe};
///
/// let start = Instant::now();
/// let now = start.elapsed().as_nanos() as u64;
/// let mut probe = ReadinessProbe::new(ReadinessConfig::default(), now, true)?;
/// let sec = 1_000_000_000;
/// assert_eq!(probe.next_probe_at(), now + 10 * sec);
/// // The queue is too long at three probes in a row: not ready at the third.
/// assert_eq!(probe.on_result(now + 10 * sec, false), None);
/// assert_eq!(probe.on_result(now + 20 * sec, false), None);
/// assert_eq!(probe.on_result(now + 30 * sec, false), Some(false));
/// assert!(!probe.is_ready());
/// // One success is enough to come back.
/// assert_eq!(probe.on_result(now + 40 * sec, true), Some(true));
/// # Ok::<(), meshsim_patterns::ConfigError>(())
/// ```
#[derive(Clone, Debug)]
pub struct ReadinessProbe {
    config: ReadinessConfig,
    period: Nanos,
    ready: bool,
    /// The last result and the length of its run (0: no result yet).
    last_result: bool,
    run: u32,
    next_probe_at: Nanos,
    last_now: Nanos,
}

impl ReadinessProbe {
    /// A probe created at `now`, ready or not, whose first probe is one period later.
    pub fn new(
        config: ReadinessConfig,
        now: Nanos,
        ready: bool,
    ) -> Result<ReadinessProbe, ConfigError> {
        config.validate()?;
        let period = nanos_of(config.period);
        Ok(ReadinessProbe {
            config,
            period,
            ready,
            last_result: ready,
            run: 0,
            next_probe_at: now.saturating_add(period),
            last_now: now,
        })
    }

    /// A probe created at `now` whose first probe waits a uniform random delay in
    /// `[0, period)`, as the kubelet's prober worker does ("Let the worker wait for a
    /// random portion of tickerPeriod before probing", `worker.go`), then one period
    /// after each probe.
    pub fn staggered(
        config: ReadinessConfig,
        now: Nanos,
        ready: bool,
        rng: &mut impl rand::RngCore,
    ) -> Result<ReadinessProbe, ConfigError> {
        let mut probe = ReadinessProbe::new(config, now, ready)?;
        let stagger = crate::uniform_inclusive(rng, 0, probe.period - 1);
        probe.next_probe_at = now.saturating_add(stagger);
        Ok(probe)
    }

    /// The configuration.
    pub fn config(&self) -> &ReadinessConfig {
        &self.config
    }

    /// Whether the instance is ready.
    pub fn is_ready(&self) -> bool {
        self.ready
    }

    /// When the next probe is due.
    pub fn next_probe_at(&self) -> Nanos {
        self.next_probe_at
    }

    /// The probe at `now` found the instance ready (`ok`) or not. Returns the new
    /// readiness if it changed. The next probe is one period later.
    pub fn on_result(&mut self, now: Nanos, ok: bool) -> Option<bool> {
        debug_assert!(now >= self.last_now, "time went backwards");
        self.last_now = self.last_now.max(now);
        self.next_probe_at = now.saturating_add(self.period);
        if self.run > 0 && self.last_result == ok {
            self.run = self.run.saturating_add(1);
        } else {
            self.last_result = ok;
            self.run = 1;
        }
        let threshold = if ok {
            self.config.success_threshold
        } else {
            self.config.failure_threshold
        };
        // worker.go: "Success or failure is below threshold - leave the probe state
        // unchanged."
        if self.run < threshold || self.ready == ok {
            return None;
        }
        self.ready = ok;
        Some(ok)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SEC: u64 = 1_000_000_000;

    fn probe(failures: u32, successes: u32, ready: bool) -> ReadinessProbe {
        let config = ReadinessConfig {
            period: Duration::from_secs(1),
            failure_threshold: failures,
            success_threshold: successes,
        };
        ReadinessProbe::new(config, 0, ready).unwrap()
    }

    /// The readiness after each result, with its changes.
    fn check(mut probe: ReadinessProbe, results: &[bool], expected: &[Option<bool>]) {
        let changes: Vec<Option<bool>> = results
            .iter()
            .enumerate()
            .map(|(i, &ok)| probe.on_result((i as u64 + 1) * SEC, ok))
            .collect();
        assert_eq!(changes, expected, "{results:?}");
    }

    #[test]
    fn a_run_of_failures_must_reach_the_threshold_and_a_success_breaks_it() {
        let (f, t) = (false, true);
        check(probe(3, 1, t), &[f, f, f], &[None, None, Some(f)]);
        check(
            probe(3, 1, t),
            &[f, f, t, f, f],
            &[None, None, None, None, None],
        );
        check(
            probe(3, 1, t),
            &[f, f, t, f, f, f],
            &[None, None, None, None, None, Some(f)],
        );
        // Failures past the threshold change nothing more.
        check(probe(1, 1, t), &[f, f, f], &[Some(f), None, None]);
    }

    #[test]
    fn coming_back_takes_a_run_of_successes() {
        let (f, t) = (false, true);
        check(probe(1, 1, f), &[t], &[Some(t)]);
        check(probe(1, 2, f), &[t, f, t, t], &[None, None, None, Some(t)]);
        // Kubernetes' initial "failure" is an instance that starts not ready.
        let mut p = probe(3, 1, f);
        assert!(!p.is_ready());
        assert_eq!(p.on_result(SEC, false), None);
        assert_eq!(p.on_result(2 * SEC, true), Some(true));
    }

    #[test]
    fn probes_are_one_period_apart() {
        let mut p = probe(3, 1, true);
        assert_eq!(p.next_probe_at(), SEC);
        p.on_result(SEC + 7, true);
        assert_eq!(p.next_probe_at(), 2 * SEC + 7);
    }

    #[test]
    fn a_staggered_probe_first_runs_within_one_period() {
        use rand::SeedableRng;
        for seed in 0..100 {
            let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
            let config = ReadinessConfig::default();
            let p = ReadinessProbe::staggered(config, 3 * SEC, true, &mut rng).unwrap();
            assert!(p.next_probe_at() >= 3 * SEC, "seed {seed}");
            assert!(p.next_probe_at() < 13 * SEC, "seed {seed}");
        }
    }

    #[test]
    fn bad_configurations_are_errors() {
        let field = |config: ReadinessConfig| config.validate().unwrap_err().field;
        let base = ReadinessConfig::default();
        assert_eq!(
            field(ReadinessConfig {
                period: Duration::ZERO,
                ..base
            }),
            "period"
        );
        assert_eq!(
            field(ReadinessConfig {
                failure_threshold: 0,
                ..base
            }),
            "failure_threshold"
        );
        assert_eq!(
            field(ReadinessConfig {
                success_threshold: 0,
                ..base
            }),
            "success_threshold"
        );
    }
}
