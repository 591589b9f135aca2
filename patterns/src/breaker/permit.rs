//! What a call gets from a circuit breaker: a [`Permit`] to make it, or a [`Rejected`]
//! that says why not and when to try again. A half-open probe's permit shares its
//! breaker's abandonment counter, so dropping it frees the probe slot; the counter
//! packs the half-open period's generation (high 32 bits) with the abandonments in it
//! (low 32 bits), which the breaker reads back.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use super::BreakerState;
use crate::Nanos;

/// A call the breaker refused (resilience4j `CallNotPermittedException`).
///
/// ```
/// use std::time::Instant;
/// use meshsim_patterns::breaker::{Breaker, BreakerConfig, BreakerState};
///
/// let start = Instant::now();
/// let mut breaker = Breaker::new(BreakerConfig::default())?;
/// let now = start.elapsed().as_nanos() as u64;
/// breaker.transition_to(BreakerState::Open, now);
/// let rejected = breaker.try_acquire(now).unwrap_err();
/// assert_eq!(rejected.state, BreakerState::Open);
/// // Lazy transition: the first call strictly after the 60 s wait is admitted.
/// assert_eq!(rejected.retry_at, Some(now + 60_000_000_000 + 1));
/// # Ok::<(), meshsim_patterns::ConfigError>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rejected {
    /// The state that refused the call.
    pub state: BreakerState,
    /// The earliest time a call could be admitted, when the breaker knows it (open);
    /// `None` in forced-open, and in half-open when all probe slots are taken.
    pub retry_at: Option<Nanos>,
}

/// Permission for one call. Consume it with [`Breaker::record`](super::Breaker::record)
/// when the call ends, or with [`Breaker::release`](super::Breaker::release) if it is
/// cancelled before producing a result.
///
/// Dropping a half-open probe's permit frees its slot, as `release` does (the probe
/// holds a shared counter with its breaker); dropping any other permit has no effect
/// on the breaker. So a forgotten permit cannot leave the breaker stuck half-open.
///
/// ```
/// use std::time::{Duration, Instant};
/// use meshsim_patterns::breaker::{Breaker, BreakerConfig, BreakerState};
///
/// let start = Instant::now();
/// let mut breaker = Breaker::new(BreakerConfig::consecutive_failures(5, Duration::from_secs(1)))?;
/// let now = start.elapsed().as_nanos() as u64;
/// breaker.transition_to(BreakerState::HalfOpen, now);
/// let probe = breaker.try_acquire(now).unwrap();
/// assert!(probe.is_probe());
/// assert!(breaker.try_acquire(now).is_err()); // the single slot is taken
/// drop(probe); // abandoned: the slot is free again
/// assert!(breaker.try_acquire(now).is_ok());
/// # Ok::<(), meshsim_patterns::ConfigError>(())
/// ```
#[derive(Debug)]
#[must_use = "a permit must be given back with Breaker::record or Breaker::release"]
pub struct Permit {
    pub(super) generation: u64,
    pub(super) acquired_at: Nanos,
    /// Some only for half-open probes: the breaker's abandonment counter.
    pub(super) probe_ledger: Option<Arc<AtomicU64>>,
}

impl Permit {
    /// When the permit was acquired.
    pub fn acquired_at(&self) -> Nanos {
        self.acquired_at
    }

    /// Time since the permit was acquired, for
    /// [`Breaker::record`](super::Breaker::record)'s duration.
    pub fn elapsed(&self, now: Nanos) -> Duration {
        Duration::from_nanos(now.saturating_sub(self.acquired_at))
    }

    /// The breaker generation (number of transitions) it was acquired in.
    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// Whether it holds a half-open probe slot.
    pub fn is_probe(&self) -> bool {
        self.probe_ledger.is_some()
    }
}

impl Drop for Permit {
    fn drop(&mut self) {
        if let Some(ledger) = self.probe_ledger.take() {
            let tag = self.generation & 0xffff_ffff;
            // Count the abandonment only while its half-open period is current.
            let _ = ledger.fetch_update(Ordering::AcqRel, Ordering::Acquire, |packed| {
                (packed >> 32 == tag).then_some(packed + 1)
            });
        }
    }
}
