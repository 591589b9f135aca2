//! Bulkhead: a bound on concurrent calls, with an optional bounded, time-limited wait
//! queue.
//!
//! It mirrors **resilience4j's `SemaphoreBulkhead`** (repository
//! resilience4j/resilience4j, `resilience4j-bulkhead/src/main/java/io/github/resilience4j/bulkhead/internal/SemaphoreBulkhead.java`
//! and `.../bulkhead/BulkheadConfig.java`): `maxConcurrentCalls` (default 25) permits
//! on a fair semaphore, and a caller may wait up to `maxWaitDuration` (default 0: do
//! not wait) for one. Being sans-IO, a waiting caller is a [`Ticket`] in a FIFO queue
//! instead of a blocked thread; the queue is bounded by `max_waiting` (the semaphore's
//! waiters are bounded only by the threads) and a waiter leaves it when a permit is
//! handed to it, when its wait expires ([`Bulkhead::poll_timeout`],
//! [`Bulkhead::handle_timeout`], [`Bulkhead::poll_expired`]), or when its caller
//! cancels it.
//!
//! **Architecture invariant:** never more than `max_concurrent` permits exist; the
//! bulkhead asserts it at every admission. A [`Permit`] is given back with
//! [`Bulkhead::release`], which hands the slot straight to the oldest waiter; a permit
//! that is dropped instead frees its slot too (through a counter shared with the
//! bulkhead), noticed at the next `try_enter`, `release` or `handle_timeout`, and the
//! waiters it admits are delivered by [`Bulkhead::poll_admitted`].

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use super::{ConfigError, Nanos, nanos_of};

/// The largest wait queue.
pub const MAX_WAITING: u32 = 1_000_000;

/// A bulkhead's configuration. The default is resilience4j's: 25 concurrent calls, no
/// waiting.
///
/// ```
/// use std::time::{Duration, Instant};
/// use meshsim_patterns::bulkhead::{Bulkhead, BulkheadConfig, Enter};
///
/// let start = Instant::now();
/// let config = BulkheadConfig { max_concurrent: 1, max_waiting: 4, max_wait: Duration::from_millis(50) };
/// let mut bulkhead = Bulkhead::new(config)?;
/// let now = start.elapsed().as_nanos() as u64;
/// assert!(matches!(bulkhead.try_enter(now), Enter::Admitted(_)));
/// # Ok::<(), meshsim_patterns::ConfigError>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BulkheadConfig {
    /// Calls admitted at once, at least 1.
    pub max_concurrent: u32,
    /// Callers that may wait for a slot; 0 = reject at once when full.
    pub max_waiting: u32,
    /// How long a caller may wait; zero = reject at once when full.
    pub max_wait: Duration,
}

impl Default for BulkheadConfig {
    fn default() -> Self {
        BulkheadConfig {
            max_concurrent: 25,
            max_waiting: 0,
            max_wait: Duration::ZERO,
        }
    }
}

/// A waiting caller's place in the queue. Tickets are unique per bulkhead and
/// increase in arrival order.
///
/// ```
/// use std::time::{Duration, Instant};
/// use meshsim_patterns::bulkhead::{Bulkhead, BulkheadConfig, Enter};
///
/// let start = Instant::now();
/// let mut bulkhead = Bulkhead::new(BulkheadConfig { max_concurrent: 1, max_waiting: 1, max_wait: Duration::from_secs(1) })?;
/// let now = start.elapsed().as_nanos() as u64;
/// let Enter::Admitted(permit) = bulkhead.try_enter(now) else { unreachable!() };
/// let Enter::Queued(ticket) = bulkhead.try_enter(now) else { unreachable!() };
/// let (admitted, _permit) = bulkhead.release(permit, now).unwrap();
/// assert_eq!(admitted, ticket);
/// # Ok::<(), meshsim_patterns::ConfigError>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Ticket(pub u64);

/// One admitted call's slot. Give it back with [`Bulkhead::release`]; dropping it
/// frees the slot too, at the bulkhead's next `try_enter`, `release` or
/// `handle_timeout`.
///
/// ```
/// use std::time::Instant;
/// use meshsim_patterns::bulkhead::{Bulkhead, BulkheadConfig, Enter};
///
/// let start = Instant::now();
/// let mut bulkhead = Bulkhead::new(BulkheadConfig { max_concurrent: 1, ..BulkheadConfig::default() })?;
/// let now = start.elapsed().as_nanos() as u64;
/// let Enter::Admitted(permit) = bulkhead.try_enter(now) else { unreachable!() };
/// assert!(matches!(bulkhead.try_enter(now), Enter::Rejected));
/// drop(permit); // abandoned: the slot comes back
/// assert!(matches!(bulkhead.try_enter(now), Enter::Admitted(_)));
/// # Ok::<(), meshsim_patterns::ConfigError>(())
/// ```
#[derive(Debug)]
#[must_use = "a permit holds a slot: give it back with Bulkhead::release"]
pub struct Permit {
    dropped: Option<Arc<AtomicU64>>,
}

impl Drop for Permit {
    fn drop(&mut self) {
        if let Some(dropped) = self.dropped.take() {
            dropped.fetch_add(1, Ordering::AcqRel);
        }
    }
}

/// What [`Bulkhead::try_enter`] decided.
///
/// ```
/// use std::time::{Duration, Instant};
/// use meshsim_patterns::bulkhead::{Bulkhead, BulkheadConfig, Enter};
///
/// let start = Instant::now();
/// let mut bulkhead = Bulkhead::new(BulkheadConfig { max_concurrent: 1, max_waiting: 1, max_wait: Duration::from_millis(10) })?;
/// let now = start.elapsed().as_nanos() as u64;
/// let first = bulkhead.try_enter(now);
/// let second = bulkhead.try_enter(now);
/// let third = bulkhead.try_enter(now);
/// assert!(matches!((&first, &second, &third), (Enter::Admitted(_), Enter::Queued(_), Enter::Rejected)));
/// # Ok::<(), meshsim_patterns::ConfigError>(())
/// ```
#[derive(Debug)]
#[must_use]
pub enum Enter {
    /// Go ahead.
    Admitted(Permit),
    /// Wait: the permit comes from [`Bulkhead::release`] or
    /// [`Bulkhead::poll_admitted`] with this ticket, or the ticket comes back from
    /// [`Bulkhead::poll_expired`] when the wait is over.
    Queued(Ticket),
    /// Full, and the queue too (or there is none): resilience4j
    /// `BulkheadFullException`.
    Rejected,
}

/// A semaphore bulkhead with a bounded FIFO wait queue.
///
/// ```
/// use std::time::{Duration, Instant};
/// use meshsim_patterns::bulkhead::{Bulkhead, BulkheadConfig, Enter};
///
/// let start = Instant::now();
/// let config = BulkheadConfig { max_concurrent: 2, max_waiting: 1, max_wait: Duration::from_millis(100) };
/// let mut bulkhead = Bulkhead::new(config)?;
/// let now = start.elapsed().as_nanos() as u64;
/// let Enter::Admitted(a) = bulkhead.try_enter(now) else { unreachable!() };
/// let Enter::Admitted(_b) = bulkhead.try_enter(now) else { unreachable!() };
/// let Enter::Queued(ticket) = bulkhead.try_enter(now) else { unreachable!() };
/// assert_eq!(bulkhead.poll_timeout(), Some(now + 100_000_000));
/// // Finishing a call hands its slot to the oldest waiter.
/// let (next, _c) = bulkhead.release(a, start.elapsed().as_nanos() as u64).unwrap();
/// assert_eq!(next, ticket);
/// assert_eq!(bulkhead.in_use(), 2);
/// # Ok::<(), meshsim_patterns::ConfigError>(())
/// ```
#[derive(Debug)]
pub struct Bulkhead {
    config: BulkheadConfig,
    max_wait_nanos: Nanos,
    queue_enabled: bool,
    in_use: u32,
    /// FIFO of (ticket, wait deadline); deadlines are non-decreasing.
    waiters: VecDeque<(Ticket, Nanos)>,
    expired: VecDeque<Ticket>,
    admitted: VecDeque<(Ticket, Permit)>,
    next_ticket: u64,
    dropped: Arc<AtomicU64>,
    drops_seen: u64,
    rejected: u64,
    expired_total: u64,
    expired_dropped: u64,
    last_now: Nanos,
}

impl Bulkhead {
    /// An empty bulkhead, or an error naming the invalid field.
    pub fn new(config: BulkheadConfig) -> Result<Bulkhead, ConfigError> {
        if config.max_concurrent == 0 {
            return Err(ConfigError::new(
                "bulkhead",
                "max_concurrent",
                "must be at least 1",
            ));
        }
        // The queue is allocated up front: bound it.
        if config.max_waiting > MAX_WAITING {
            return Err(ConfigError::new(
                "bulkhead",
                "max_waiting",
                "must be at most 1 000 000",
            ));
        }
        Ok(Bulkhead::empty(config))
    }

    /// An empty bulkhead with this one's configuration and none of its state.
    ///
    /// An owner that needs many bulkheads of one configuration validates it
    /// once, by building a prototype with [`new`](Self::new), and makes the
    /// others with `fresh`, which cannot fail. (A bulkhead is not `Clone`: a
    /// clone would share the permits' drop counter with the original.)
    pub fn fresh(&self) -> Bulkhead {
        Bulkhead::empty(self.config)
    }

    /// An empty bulkhead; `config` has been validated.
    fn empty(config: BulkheadConfig) -> Bulkhead {
        let queue_enabled = config.max_waiting > 0 && !config.max_wait.is_zero();
        let queue_capacity = if queue_enabled {
            config.max_waiting as usize
        } else {
            0
        };
        Bulkhead {
            config,
            max_wait_nanos: nanos_of(config.max_wait),
            queue_enabled,
            in_use: 0,
            waiters: VecDeque::with_capacity(queue_capacity),
            expired: VecDeque::with_capacity(queue_capacity),
            // Admissions into reclaimed slots wait here until polled; each holds a slot,
            // so they never outnumber min(max_concurrent, waiters), and they only grow
            // past this capacity if poll_admitted is not drained.
            admitted: VecDeque::with_capacity(queue_capacity.min(config.max_concurrent as usize)),
            next_ticket: 0,
            dropped: Arc::new(AtomicU64::new(0)),
            drops_seen: 0,
            rejected: 0,
            expired_total: 0,
            expired_dropped: 0,
            last_now: 0,
        }
    }

    /// The configuration.
    pub fn config(&self) -> &BulkheadConfig {
        &self.config
    }

    /// Permits outstanding (held by callers or awaiting [`poll_admitted`](Self::poll_admitted)),
    /// as of the last call.
    pub fn in_use(&self) -> u32 {
        self.in_use
    }

    /// Callers waiting.
    pub fn waiting(&self) -> usize {
        self.waiters.len()
    }

    /// Calls rejected since creation.
    pub fn rejected(&self) -> u64 {
        self.rejected
    }

    /// Waits that expired since creation.
    pub fn expired(&self) -> u64 {
        self.expired_total
    }

    /// Asks for a slot at `now`: admitted, queued, or rejected. Waiters go first: a
    /// newcomer is never admitted ahead of a waiting caller.
    pub fn try_enter(&mut self, now: Nanos) -> Enter {
        self.housekeep(now);
        if self.in_use < self.config.max_concurrent && self.waiters.is_empty() {
            return Enter::Admitted(self.admit());
        }
        if self.queue_enabled && self.waiters.len() < self.config.max_waiting as usize {
            let ticket = Ticket(self.next_ticket);
            self.next_ticket += 1;
            self.waiters
                .push_back((ticket, now.saturating_add(self.max_wait_nanos)));
            return Enter::Queued(ticket);
        }
        self.rejected += 1;
        Enter::Rejected
    }

    /// Gives a slot back at `now`. If a caller was waiting, the slot goes to the
    /// oldest one, returned here with its new permit.
    pub fn release(&mut self, mut permit: Permit, now: Nanos) -> Option<(Ticket, Permit)> {
        let shared = permit.dropped.take().expect("a live permit");
        assert!(
            Arc::ptr_eq(&shared, &self.dropped),
            "a permit of another bulkhead"
        );
        self.expire(now);
        self.reclaim_dropped();
        assert!(self.in_use > 0, "released more permits than admitted");
        self.in_use -= 1;
        let first = self.promote_one();
        self.promote_all();
        first
    }

    /// Removes a waiting caller who gave up; `false` if it was not waiting.
    pub fn cancel(&mut self, ticket: Ticket, now: Nanos) -> bool {
        self.housekeep(now);
        match self.waiters.iter().position(|(t, _)| *t == ticket) {
            Some(index) => {
                self.waiters.remove(index);
                true
            }
            None => false,
        }
    }

    /// When the oldest wait expires, if anyone is waiting.
    pub fn poll_timeout(&self) -> Option<Nanos> {
        self.waiters.front().map(|(_, deadline)| *deadline)
    }

    /// Expires the waits due at or before `now` (see [`poll_expired`](Self::poll_expired))
    /// and hands the slots of dropped permits to waiters (see
    /// [`poll_admitted`](Self::poll_admitted)). A spurious call is a no-op.
    pub fn handle_timeout(&mut self, now: Nanos) {
        self.housekeep(now);
    }

    /// The next caller whose wait expired (rejected after waiting).
    pub fn poll_expired(&mut self) -> Option<Ticket> {
        self.expired.pop_front()
    }

    /// Expired tickets dropped because nobody polled them.
    pub fn expired_dropped(&self) -> u64 {
        self.expired_dropped
    }

    /// The next waiter admitted into the slot of a dropped permit.
    pub fn poll_admitted(&mut self) -> Option<(Ticket, Permit)> {
        self.admitted.pop_front()
    }

    fn housekeep(&mut self, now: Nanos) {
        self.expire(now);
        self.reclaim_dropped();
        self.promote_all();
    }

    fn expire(&mut self, now: Nanos) {
        debug_assert!(now >= self.last_now, "time went backwards");
        self.last_now = self.last_now.max(now);
        while let Some(&(ticket, deadline)) = self.waiters.front() {
            if deadline > now {
                break;
            }
            self.waiters.pop_front();
            self.expired_total += 1;
            if self.expired.len() == self.config.max_waiting as usize {
                self.expired.pop_front();
                self.expired_dropped += 1;
            }
            self.expired.push_back(ticket);
        }
    }

    fn reclaim_dropped(&mut self) {
        let dropped = self.dropped.load(Ordering::Acquire);
        let new = dropped - self.drops_seen;
        self.drops_seen = dropped;
        assert!(
            u64::from(self.in_use) >= new,
            "more permits dropped than admitted"
        );
        self.in_use -= new as u32;
    }

    fn promote_one(&mut self) -> Option<(Ticket, Permit)> {
        if self.in_use < self.config.max_concurrent {
            let (ticket, _) = self.waiters.pop_front()?;
            return Some((ticket, self.admit()));
        }
        None
    }

    fn promote_all(&mut self) {
        while let Some(admission) = self.promote_one() {
            self.admitted.push_back(admission);
        }
    }

    fn admit(&mut self) -> Permit {
        self.in_use += 1;
        assert!(
            self.in_use <= self.config.max_concurrent,
            "bulkhead admitted {} > {}",
            self.in_use,
            self.config.max_concurrent
        );
        Permit {
            dropped: Some(Arc::clone(&self.dropped)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const MS: u64 = 1_000_000;

    fn bulkhead(max_concurrent: u32, max_waiting: u32, max_wait_ms: u64) -> Bulkhead {
        Bulkhead::new(BulkheadConfig {
            max_concurrent,
            max_waiting,
            max_wait: Duration::from_millis(max_wait_ms),
        })
        .unwrap()
    }

    fn admitted(enter: Enter) -> Permit {
        match enter {
            Enter::Admitted(permit) => permit,
            other => panic!("expected admission, got {other:?}"),
        }
    }

    fn queued(enter: Enter) -> Ticket {
        match enter {
            Enter::Queued(ticket) => ticket,
            other => panic!("expected a queue place, got {other:?}"),
        }
    }

    #[test]
    fn semaphore_bulkhead_without_wait_rejects_when_full() {
        // resilience4j SemaphoreBulkheadTest: maxConcurrentCalls 2, maxWaitDuration 0:
        // the third concurrent call gets BulkheadFullException; after one finishes,
        // a call is permitted again.
        let mut b = bulkhead(2, 0, 0);
        let first = admitted(b.try_enter(0));
        let _second = admitted(b.try_enter(0));
        assert!(matches!(b.try_enter(0), Enter::Rejected));
        assert_eq!(b.rejected(), 1);
        assert!(b.release(first, MS).is_none());
        let _third = admitted(b.try_enter(MS));
        assert_eq!(b.in_use(), 2);
        // A queue size without a wait (or the reverse) is no queue.
        let mut b = bulkhead(1, 5, 0);
        let _held = admitted(b.try_enter(0));
        assert!(matches!(b.try_enter(0), Enter::Rejected));
    }

    #[test]
    fn waiters_are_served_in_order_and_expire_after_max_wait() {
        let mut b = bulkhead(1, 2, 100);
        let a = admitted(b.try_enter(0));
        let t1 = queued(b.try_enter(10 * MS));
        let t2 = queued(b.try_enter(20 * MS));
        assert!(matches!(b.try_enter(30 * MS), Enter::Rejected)); // queue full
        assert_eq!(b.poll_timeout(), Some(110 * MS));
        let (next, p1) = b.release(a, 50 * MS).unwrap();
        assert_eq!(next, t1);
        assert_eq!(b.poll_timeout(), Some(120 * MS));
        b.handle_timeout(119 * MS); // spurious
        assert_eq!(b.poll_expired(), None);
        b.handle_timeout(120 * MS);
        assert_eq!(b.poll_expired(), Some(t2));
        assert_eq!((b.waiting(), b.expired()), (0, 1));
        assert_eq!(b.poll_timeout(), None);
        assert!(b.release(p1, 130 * MS).is_none());
        assert_eq!(b.in_use(), 0);
    }

    #[test]
    fn a_wait_expiring_at_the_release_time_is_not_served() {
        let mut b = bulkhead(1, 1, 100);
        let a = admitted(b.try_enter(0));
        let t = queued(b.try_enter(0));
        assert!(b.release(a, 100 * MS).is_none());
        assert_eq!(b.poll_expired(), Some(t));
    }

    #[test]
    fn cancelled_waiters_leave_the_queue() {
        let mut b = bulkhead(1, 2, 100);
        let a = admitted(b.try_enter(0));
        let t1 = queued(b.try_enter(0));
        let t2 = queued(b.try_enter(0));
        assert!(b.cancel(t1, MS));
        assert!(!b.cancel(t1, MS));
        assert_eq!(b.release(a, 2 * MS).map(|(t, _)| t), Some(t2));
    }

    #[test]
    fn dropped_permits_free_their_slots_for_waiters_first() {
        let mut b = bulkhead(2, 2, 1_000);
        let a = admitted(b.try_enter(0));
        let c = admitted(b.try_enter(0));
        let t1 = queued(b.try_enter(0));
        drop(a);
        // The newcomer queues behind t1, which gets the reclaimed slot.
        let t2 = queued(b.try_enter(MS));
        let (first, p1) = b.poll_admitted().unwrap();
        assert_eq!(first, t1);
        assert!(b.poll_admitted().is_none());
        drop(c);
        b.handle_timeout(2 * MS);
        let (second, p2) = b.poll_admitted().unwrap();
        assert_eq!(second, t2);
        assert_eq!(b.in_use(), 2);
        drop(p1);
        assert!(b.release(p2, 3 * MS).is_none());
        assert_eq!(b.in_use(), 0);
    }

    #[test]
    #[should_panic(expected = "a permit of another bulkhead")]
    fn a_permit_of_another_bulkhead_is_a_bug() {
        let mut one = bulkhead(1, 0, 0);
        let mut other = bulkhead(1, 0, 0);
        let permit = admitted(one.try_enter(0));
        let _ = other.release(permit, 0);
    }

    #[test]
    fn bulkheads_and_permits_can_move_between_threads() {
        fn send_and_sync<T: Send + Sync>() {}
        send_and_sync::<Bulkhead>();
        send_and_sync::<Permit>();
    }

    #[test]
    fn unbounded_configs_are_errors() {
        let error = |max_concurrent, max_waiting| {
            Bulkhead::new(BulkheadConfig {
                max_concurrent,
                max_waiting,
                max_wait: Duration::from_secs(1),
            })
            .unwrap_err()
            .field
        };
        assert_eq!(error(0, 0), "max_concurrent");
        assert_eq!(error(1, MAX_WAITING + 1), "max_waiting");
    }

    #[derive(Clone, Debug)]
    enum Op {
        Enter,
        Release(usize),
        Drop(usize),
        Cancel(usize),
        Advance(u16),
        Timeout,
        PollAdmitted,
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        /// Whatever callers do, the permits in existence never exceed max_concurrent,
        /// and the bulkhead's count agrees with a reference count of them.
        #[test]
        fn bulkhead_never_exceeds_its_limit(
            max_concurrent in 1..5u32,
            max_waiting in 0..4u32,
            max_wait_ms in 0..50u64,
            ops in proptest::collection::vec(prop_oneof![
                4 => Just(Op::Enter),
                3 => any::<usize>().prop_map(Op::Release),
                1 => any::<usize>().prop_map(Op::Drop),
                1 => any::<usize>().prop_map(Op::Cancel),
                2 => (0..30u16).prop_map(Op::Advance),
                1 => Just(Op::Timeout),
                1 => Just(Op::PollAdmitted),
            ], 1..200),
        ) {
            let mut b = bulkhead(max_concurrent, max_waiting, max_wait_ms);
            let mut now = 0u64;
            let mut held: Vec<Permit> = Vec::new();
            let mut tickets: Vec<Ticket> = Vec::new();
            for op in ops {
                match op {
                    Op::Enter => match b.try_enter(now) {
                        Enter::Admitted(permit) => held.push(permit),
                        Enter::Queued(ticket) => tickets.push(ticket),
                        Enter::Rejected => {}
                    },
                    Op::Release(i) if !held.is_empty() => {
                        let permit = held.swap_remove(i % held.len());
                        if let Some((_, next)) = b.release(permit, now) {
                            held.push(next);
                        }
                    }
                    Op::Drop(i) if !held.is_empty() => drop(held.swap_remove(i % held.len())),
                    Op::Cancel(i) if !tickets.is_empty() => {
                        let ticket = tickets[i % tickets.len()];
                        b.cancel(ticket, now);
                    }
                    Op::Advance(ms) => now += u64::from(ms) * MS,
                    Op::Timeout => {
                        if let Some(at) = b.poll_timeout() {
                            now = now.max(at);
                        }
                        b.handle_timeout(now);
                    }
                    Op::PollAdmitted => {
                        while let Some((_, permit)) = b.poll_admitted() {
                            held.push(permit);
                        }
                    }
                    _ => {}
                }
                while b.poll_expired().is_some() {}
                prop_assert!(held.len() <= max_concurrent as usize, "{} permits held", held.len());
                prop_assert!(b.in_use() <= max_concurrent);
                prop_assert!(b.in_use() as usize >= held.len());
                prop_assert!(b.waiting() <= max_waiting as usize);
            }
            // After a housekeeping call the count is exact.
            b.handle_timeout(now);
            let pending = std::iter::from_fn(|| b.poll_admitted()).count();
            prop_assert_eq!(b.in_use() as usize, held.len() + pending);
        }
    }
}
