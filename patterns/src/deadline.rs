//! Deadlines: an overall time limit for a request, and the timeout of each attempt
//! within it.
//!
//! It mirrors **gRPC deadlines** (grpc/grpc `doc/deadline_propagation.md`, and
//! grpc/proposal `A6-client-retries.md`: "the deadline applies to the overall call,
//! across all attempts") and **Envoy**'s route `timeout` with `per_try_timeout`
//! (envoyproxy/envoy `api/envoy/config/route/v3/route_components.proto`: the per-try
//! timeout is clipped by the global one). An attempt's timeout is
//! `min(per_attempt, remaining)`, and work whose deadline has passed is not started at
//! all: a server can check [`Deadline::allows_start`] before it begins a queued job,
//! as gRPC servers drop calls whose deadline has already expired.

use std::time::Duration;

use super::{Nanos, nanos_of};

/// The deadline of one request: `total` after `start`.
///
/// ```
/// use std::time::{Duration, Instant};
/// use meshsim_patterns::deadline::Deadline;
///
/// let start = Instant::now();
/// let now = start.elapsed().as_nanos() as u64;
/// let deadline = Deadline::new(now, Duration::from_millis(300));
/// let per_attempt = Duration::from_millis(200);
/// // The first attempt gets its full 200 ms...
/// assert_eq!(deadline.attempt_timeout(now, per_attempt), per_attempt);
/// // ...one starting 250 ms in gets only the 50 ms left...
/// let later = now + 250_000_000;
/// assert_eq!(deadline.attempt_timeout(later, per_attempt), Duration::from_millis(50));
/// // ...and none starts at or after the deadline.
/// assert!(!deadline.allows_start(now + 300_000_000));
/// assert!(deadline.expired(now + 300_000_000));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Deadline {
    start: Nanos,
    at: Nanos,
}

impl Deadline {
    /// A deadline `total` after `start` (saturating at the end of time).
    pub fn new(start: Nanos, total: Duration) -> Deadline {
        Deadline {
            start,
            at: start.saturating_add(nanos_of(total)),
        }
    }

    /// No deadline: never expires.
    pub fn unbounded(start: Nanos) -> Deadline {
        Deadline {
            start,
            at: Nanos::MAX,
        }
    }

    /// When the request started.
    pub fn start(&self) -> Nanos {
        self.start
    }

    /// When it expires.
    pub fn at(&self) -> Nanos {
        self.at
    }

    /// Time left at `now` (zero once expired).
    pub fn remaining(&self, now: Nanos) -> Duration {
        Duration::from_nanos(self.at.saturating_sub(now))
    }

    /// Whether the deadline has passed at `now` (`now >= at`).
    pub fn expired(&self, now: Nanos) -> bool {
        now >= self.at
    }

    /// Whether work may start at `now`: only before the deadline, so that a started
    /// attempt always has a positive timeout.
    pub fn allows_start(&self, now: Nanos) -> bool {
        !self.expired(now)
    }

    /// The timeout of an attempt starting at `now`: `min(per_attempt, remaining)`.
    /// An attempt started with it ends by the deadline: `now + timeout <= at`.
    pub fn attempt_timeout(&self, now: Nanos, per_attempt: Duration) -> Duration {
        per_attempt.min(self.remaining(now))
    }

    /// When an attempt starting at `now` times out: `now + attempt_timeout(now, ..)`.
    pub fn attempt_deadline(&self, now: Nanos, per_attempt: Duration) -> Nanos {
        now.saturating_add(nanos_of(self.attempt_timeout(now, per_attempt)))
    }

    /// The deadline to propagate downstream, less `margin` for the reply's way back
    /// (gRPC propagates the caller's deadline to its own outgoing calls).
    pub fn propagated(&self, margin: Duration) -> Deadline {
        Deadline {
            start: self.start,
            at: self.at.saturating_sub(nanos_of(margin)).max(self.start),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const MS: u64 = 1_000_000;

    #[test]
    fn attempts_are_clipped_to_the_deadline() {
        // Envoy: timeout 300 ms, per_try_timeout 200 ms: attempts at 0, 150, 250 and
        // 300 ms get 200, 150, 50 ms and nothing.
        let deadline = Deadline::new(0, Duration::from_millis(300));
        let per_try = Duration::from_millis(200);
        let check = |start_ms: u64, expected_ms: Option<u64>| {
            let now = start_ms * MS;
            let timeout = deadline
                .allows_start(now)
                .then(|| nanos_of(deadline.attempt_timeout(now, per_try)) / MS);
            assert_eq!(timeout, expected_ms, "attempt at {start_ms} ms");
        };
        check(0, Some(200));
        check(150, Some(150));
        check(250, Some(50));
        check(300, None);
        check(1_000, None);
        assert_eq!(deadline.remaining(1_000 * MS), Duration::ZERO);
        assert_eq!(deadline.attempt_deadline(250 * MS, per_try), 300 * MS);
    }

    #[test]
    fn unbounded_and_propagated_deadlines() {
        let forever = Deadline::unbounded(5);
        assert!(forever.allows_start(u64::MAX - 1));
        assert_eq!(
            forever.attempt_timeout(1, Duration::from_secs(1)),
            Duration::from_secs(1)
        );
        let deadline = Deadline::new(100 * MS, Duration::from_millis(50));
        assert_eq!(deadline.start(), 100 * MS);
        assert_eq!(deadline.propagated(Duration::from_millis(5)).at(), 145 * MS);
        assert_eq!(deadline.propagated(Duration::from_secs(1)).at(), 100 * MS);
        assert_eq!(
            Deadline::new(u64::MAX - 1, Duration::from_secs(1)).at(),
            u64::MAX
        );
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        /// A started attempt never outlives the deadline, and always gets a positive
        /// timeout.
        #[test]
        fn a_started_attempt_never_exceeds_the_deadline(
            start in 0..u64::MAX / 2,
            total in 0..10_000_000_000u64,
            offset in 0..20_000_000_000u64,
            per_attempt in 0..5_000_000_000u64,
        ) {
            let deadline = Deadline::new(start, Duration::from_nanos(total));
            let now = start + offset;
            if deadline.allows_start(now) {
                let timeout = nanos_of(deadline.attempt_timeout(now, Duration::from_nanos(per_attempt)));
                prop_assert!(now + timeout <= deadline.at());
                prop_assert!(timeout <= per_attempt);
                prop_assert!(per_attempt == 0 || timeout > 0);
                prop_assert_eq!(deadline.attempt_deadline(now, Duration::from_nanos(per_attempt)), now + timeout);
            } else {
                prop_assert!(now >= deadline.at());
                prop_assert_eq!(deadline.remaining(now), Duration::ZERO);
            }
        }
    }
}
