//! Bulkhead: a bound on concurrent calls, with an optional bounded, time-limited wait
//! queue that remembers who waits.
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
//! **The bulkhead, not its owner, remembers who waits: one source of truth.** A
//! `Bulkhead<W>` keeps, beside each ticket, a payload `W` given to
//! [`try_enter`](Bulkhead::try_enter): whatever identifies the waiting caller to its
//! owner (a task id, a waker key, a request key). The payload comes back with the end
//! of the wait: in an [`Admitted`] from [`release`](Bulkhead::release) or
//! [`poll_admitted`](Bulkhead::poll_admitted), in an [`Expired`] from
//! [`poll_expired`](Bulkhead::poll_expired), or from [`cancel`](Bulkhead::cancel). An
//! owner therefore keeps no list of its own of (ticket, caller) to search and to keep
//! in step with the bulkhead's queue. The payload of a caller that is admitted at once
//! or rejected is dropped at once; `W = ()` is a bulkhead that only counts.
//!
//! **Architecture invariant:** never more than `max_concurrent` permits exist; the
//! bulkhead asserts it at every admission. A [`Permit`] is given back with
//! [`Bulkhead::release`], which hands the slot straight to the oldest waiter; a permit
//! that is dropped instead frees its slot too (through a counter shared with the
//! bulkhead), noticed at the next `try_enter`, `release`, `cancel` or
//! `handle_timeout`, and the waiters it admits are delivered by
//! [`Bulkhead::poll_admitted`].
//!
//! **No caller is ever lost.** Every queued payload comes back exactly once: admitted,
//! expired or cancelled. A lost one would be a caller never told that its wait ended,
//! a hang. So the bulkhead never drops an unpolled [`Expired`] or [`Admitted`]; the
//! bound on them is the owner's contract instead: *drain [`poll_admitted`] and
//! [`poll_expired`] after each `try_enter`, `release`, `cancel` and `handle_timeout`.*
//! One call expires at most the `max_waiting` callers then waiting and admits at most
//! `max_concurrent` (each admission holds a slot), so an owner that keeps the contract
//! never holds more than that many undelivered, and the buffers allocated at
//! construction are never outgrown. An owner that does not drain `poll_expired`
//! makes its queue grow (it is never truncated); a debug assertion trips when it
//! passes twice `max_waiting`.
//!
//! [`poll_admitted`]: Bulkhead::poll_admitted
//! [`poll_expired`]: Bulkhead::poll_expired

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
/// assert!(matches!(bulkhead.try_enter(now, ()), Enter::Admitted(_)));
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
/// let Enter::Admitted(permit) = bulkhead.try_enter(now, "first") else { unreachable!() };
/// let Enter::Queued(ticket) = bulkhead.try_enter(now, "second") else { unreachable!() };
/// let admitted = bulkhead.release(permit, now).unwrap();
/// assert_eq!(admitted.ticket, ticket);
/// assert_eq!(admitted.waiter, "second");
/// # Ok::<(), meshsim_patterns::ConfigError>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Ticket(pub u64);

/// One admitted call's slot. Give it back with [`Bulkhead::release`]; dropping it
/// frees the slot too, at the bulkhead's next `try_enter`, `release`, `cancel` or
/// `handle_timeout`.
///
/// ```
/// use std::time::Instant;
/// use meshsim_patterns::bulkhead::{Bulkhead, BulkheadConfig, Enter};
///
/// let start = Instant::now();
/// let mut bulkhead = Bulkhead::new(BulkheadConfig { max_concurrent: 1, ..BulkheadConfig::default() })?;
/// let now = start.elapsed().as_nanos() as u64;
/// let Enter::Admitted(permit) = bulkhead.try_enter(now, ()) else { unreachable!() };
/// assert!(matches!(bulkhead.try_enter(now, ()), Enter::Rejected));
/// drop(permit); // abandoned: the slot comes back
/// assert!(matches!(bulkhead.try_enter(now, ()), Enter::Admitted(_)));
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

/// What [`Bulkhead::try_enter`] decided. Only a queued caller's payload is kept (it
/// comes back with the end of the wait); an admitted or rejected caller's is dropped.
///
/// ```
/// use std::time::{Duration, Instant};
/// use meshsim_patterns::bulkhead::{Bulkhead, BulkheadConfig, Enter};
///
/// let start = Instant::now();
/// let mut bulkhead = Bulkhead::new(BulkheadConfig { max_concurrent: 1, max_waiting: 1, max_wait: Duration::from_millis(10) })?;
/// let now = start.elapsed().as_nanos() as u64;
/// let first = bulkhead.try_enter(now, 1);
/// let second = bulkhead.try_enter(now, 2);
/// let third = bulkhead.try_enter(now, 3);
/// assert!(matches!((&first, &second, &third), (Enter::Admitted(_), Enter::Queued(_), Enter::Rejected)));
/// assert_eq!(bulkhead.waiting(), 1);
/// # Ok::<(), meshsim_patterns::ConfigError>(())
/// ```
#[derive(Debug)]
#[must_use]
pub enum Enter {
    /// Go ahead.
    Admitted(Permit),
    /// Wait: the caller's payload comes back with this ticket in an [`Admitted`] from
    /// [`Bulkhead::release`] or [`Bulkhead::poll_admitted`], in an [`Expired`] from
    /// [`Bulkhead::poll_expired`] when the wait is over, or from
    /// [`Bulkhead::cancel`].
    Queued(Ticket),
    /// Full, and the queue too (or there is none): resilience4j
    /// `BulkheadFullException`.
    Rejected,
}

/// A waiter that got a slot: its ticket, the permit it now holds, and the payload it
/// was queued with.
///
/// ```
/// use std::time::{Duration, Instant};
/// use meshsim_patterns::bulkhead::{Admitted, Bulkhead, BulkheadConfig, Enter};
///
/// let start = Instant::now();
/// let mut bulkhead = Bulkhead::new(BulkheadConfig { max_concurrent: 1, max_waiting: 1, max_wait: Duration::from_secs(1) })?;
/// let now = start.elapsed().as_nanos() as u64;
/// let Enter::Admitted(permit) = bulkhead.try_enter(now, 7u32) else { unreachable!() };
/// let Enter::Queued(ticket) = bulkhead.try_enter(now, 8u32) else { unreachable!() };
/// drop(permit); // the slot goes to the waiter at the next call
/// bulkhead.handle_timeout(start.elapsed().as_nanos() as u64);
/// let Admitted { ticket: admitted, permit, waiter } = bulkhead.poll_admitted().unwrap();
/// assert_eq!((admitted, waiter), (ticket, 8));
/// assert!(bulkhead.release(permit, start.elapsed().as_nanos() as u64).is_none());
/// # Ok::<(), meshsim_patterns::ConfigError>(())
/// ```
#[derive(Debug)]
#[must_use = "an admitted waiter holds a slot and must be told: give the permit back with Bulkhead::release"]
pub struct Admitted<W> {
    /// The ticket [`Bulkhead::try_enter`] gave it.
    pub ticket: Ticket,
    /// Its slot.
    pub permit: Permit,
    /// The payload it was queued with.
    pub waiter: W,
}

/// A waiter whose wait ran out: it was rejected after waiting, and must be told.
///
/// ```
/// use std::time::{Duration, Instant};
/// use meshsim_patterns::bulkhead::{Bulkhead, BulkheadConfig, Enter, Expired};
///
/// let start = Instant::now();
/// let mut bulkhead = Bulkhead::new(BulkheadConfig { max_concurrent: 1, max_waiting: 1, max_wait: Duration::from_millis(10) })?;
/// let now = start.elapsed().as_nanos() as u64;
/// let Enter::Admitted(_permit) = bulkhead.try_enter(now, "a") else { unreachable!() };
/// let Enter::Queued(ticket) = bulkhead.try_enter(now, "b") else { unreachable!() };
/// bulkhead.handle_timeout(bulkhead.poll_timeout().unwrap());
/// assert_eq!(bulkhead.poll_expired(), Some(Expired { ticket, waiter: "b" }));
/// # Ok::<(), meshsim_patterns::ConfigError>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[must_use = "an expired waiter must be told it was rejected"]
pub struct Expired<W> {
    /// The ticket [`Bulkhead::try_enter`] gave it.
    pub ticket: Ticket,
    /// The payload it was queued with.
    pub waiter: W,
}

/// One waiting caller.
#[derive(Debug)]
struct Waiting<W> {
    ticket: Ticket,
    deadline: Nanos,
    waiter: W,
}

/// A semaphore bulkhead with a bounded FIFO wait queue whose waiters carry a payload
/// `W` (see the [module documentation](self)).
///
/// ```
/// use std::time::{Duration, Instant};
/// use meshsim_patterns::bulkhead::{Bulkhead, BulkheadConfig, Enter};
///
/// let start = Instant::now();
/// let config = BulkheadConfig { max_concurrent: 2, max_waiting: 1, max_wait: Duration::from_millis(100) };
/// let mut bulkhead: Bulkhead<&str> = Bulkhead::new(config)?;
/// let now = start.elapsed().as_nanos() as u64;
/// let Enter::Admitted(a) = bulkhead.try_enter(now, "a") else { unreachable!() };
/// let Enter::Admitted(_b) = bulkhead.try_enter(now, "b") else { unreachable!() };
/// let Enter::Queued(ticket) = bulkhead.try_enter(now, "c") else { unreachable!() };
/// assert_eq!(bulkhead.poll_timeout(), Some(now + 100_000_000));
/// // Finishing a call hands its slot to the oldest waiter, named by its payload.
/// let next = bulkhead.release(a, start.elapsed().as_nanos() as u64).unwrap();
/// assert_eq!((next.ticket, next.waiter), (ticket, "c"));
/// assert_eq!(bulkhead.in_use(), 2);
/// # Ok::<(), meshsim_patterns::ConfigError>(())
/// ```
#[derive(Debug)]
pub struct Bulkhead<W = ()> {
    config: BulkheadConfig,
    max_wait_nanos: Nanos,
    queue_enabled: bool,
    in_use: u32,
    /// FIFO of waiters; tickets increase and deadlines are non-decreasing.
    waiters: VecDeque<Waiting<W>>,
    expired: VecDeque<Expired<W>>,
    admitted: VecDeque<Admitted<W>>,
    next_ticket: u64,
    dropped: Arc<AtomicU64>,
    drops_seen: u64,
    rejected: u64,
    expired_total: u64,
    last_now: Nanos,
}

impl<W> Bulkhead<W> {
    /// An empty bulkhead, or an error naming the invalid field.
    pub fn new(config: BulkheadConfig) -> Result<Bulkhead<W>, ConfigError> {
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
    /// clone would share the permits' drop counter with the original.) The new
    /// bulkhead may carry another payload than this one, so a prototype that never
    /// holds a waiter can be a `Bulkhead<()>`.
    ///
    /// ```
    /// use std::time::{Duration, Instant};
    /// use meshsim_patterns::bulkhead::{Bulkhead, BulkheadConfig, Enter};
    ///
    /// let start = Instant::now();
    /// let config = BulkheadConfig { max_concurrent: 1, max_waiting: 8, max_wait: Duration::from_secs(1) };
    /// let prototype: Bulkhead = Bulkhead::new(config)?;
    /// let mut edge: Bulkhead<u64> = prototype.fresh();
    /// let now = start.elapsed().as_nanos() as u64;
    /// assert!(matches!(edge.try_enter(now, 42), Enter::Admitted(_)));
    /// assert_eq!(edge.config(), prototype.config());
    /// # Ok::<(), meshsim_patterns::ConfigError>(())
    /// ```
    pub fn fresh<V>(&self) -> Bulkhead<V> {
        Bulkhead::empty(self.config)
    }

    /// An empty bulkhead; `config` has been validated.
    fn empty(config: BulkheadConfig) -> Bulkhead<W> {
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
            // Expiries wait here until polled; an owner that drains after every call
            // (the contract) never has more than max_waiting of them.
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

    /// Asks for a slot at `now` for the caller `waiter`: admitted, queued, or
    /// rejected. Waiters go first: a newcomer is never admitted ahead of a waiting
    /// caller. `waiter` is kept only if the caller is queued.
    pub fn try_enter(&mut self, now: Nanos, waiter: W) -> Enter {
        self.housekeep(now);
        if self.in_use < self.config.max_concurrent && self.waiters.is_empty() {
            return Enter::Admitted(self.admit());
        }
        if self.queue_enabled && self.waiters.len() < self.config.max_waiting as usize {
            let ticket = Ticket(self.next_ticket);
            self.next_ticket += 1;
            let deadline = now.saturating_add(self.max_wait_nanos);
            // cancel's binary search relies on the first; expire's early stop on the
            // second.
            debug_assert!(self.waiters.back().is_none_or(|last| last.ticket < ticket));
            debug_assert!(
                self.waiters
                    .back()
                    .is_none_or(|last| last.deadline <= deadline)
            );
            self.waiters.push_back(Waiting {
                ticket,
                deadline,
                waiter,
            });
            return Enter::Queued(ticket);
        }
        self.rejected += 1;
        Enter::Rejected
    }

    /// Gives a slot back at `now`. If a caller was waiting, the slot goes to the
    /// oldest one, returned here with its new permit and its payload.
    #[must_use = "an admitted waiter must be told, and holds the released slot"]
    pub fn release(&mut self, mut permit: Permit, now: Nanos) -> Option<Admitted<W>> {
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

    /// Removes a waiting caller who gave up, and returns its payload; `None` if it is
    /// not waiting (never queued here, already cancelled, or its wait ended: then its
    /// payload comes, or came, from [`poll_admitted`](Self::poll_admitted),
    /// [`release`](Self::release) or [`poll_expired`](Self::poll_expired), possibly
    /// from the housekeeping of this very call at `now`).
    ///
    /// ```
    /// use std::time::{Duration, Instant};
    /// use meshsim_patterns::bulkhead::{Bulkhead, BulkheadConfig, Enter, Ticket};
    ///
    /// let start = Instant::now();
    /// let mut bulkhead = Bulkhead::new(BulkheadConfig { max_concurrent: 1, max_waiting: 2, max_wait: Duration::from_secs(1) })?;
    /// let now = start.elapsed().as_nanos() as u64;
    /// let Enter::Admitted(_permit) = bulkhead.try_enter(now, 'a') else { unreachable!() };
    /// let Enter::Queued(ticket) = bulkhead.try_enter(now, 'b') else { unreachable!() };
    /// assert_eq!(bulkhead.cancel(ticket, now), Some('b'));
    /// assert_eq!(bulkhead.cancel(ticket, now), None);
    /// assert_eq!(bulkhead.cancel(Ticket(99), now), None);
    /// # Ok::<(), meshsim_patterns::ConfigError>(())
    /// ```
    pub fn cancel(&mut self, ticket: Ticket, now: Nanos) -> Option<W> {
        self.housekeep(now);
        // Tickets are issued in increasing order to a FIFO queue, so the queue is
        // sorted by ticket.
        let index = self
            .waiters
            .binary_search_by_key(&ticket, |waiting| waiting.ticket)
            .ok()?;
        self.waiters.remove(index).map(|waiting| waiting.waiter)
    }

    /// When the oldest wait expires, if anyone is waiting.
    pub fn poll_timeout(&self) -> Option<Nanos> {
        self.waiters.front().map(|waiting| waiting.deadline)
    }

    /// Expires the waits due at or before `now` (see [`poll_expired`](Self::poll_expired))
    /// and hands the slots of dropped permits to waiters (see
    /// [`poll_admitted`](Self::poll_admitted)). A spurious call is a no-op.
    pub fn handle_timeout(&mut self, now: Nanos) {
        self.housekeep(now);
    }

    /// The next caller whose wait expired (rejected after waiting), with its payload,
    /// oldest first. Drain it after each `try_enter`, `release`, `cancel` and
    /// `handle_timeout`: an expiry is never dropped, so an undrained queue grows (see
    /// the [module documentation](self)).
    #[must_use = "an expired waiter must be told it was rejected"]
    pub fn poll_expired(&mut self) -> Option<Expired<W>> {
        self.expired.pop_front()
    }

    /// The next waiter admitted into the slot of a dropped permit, with its payload,
    /// oldest first. Drain it after each `try_enter`, `release`, `cancel` and
    /// `handle_timeout`; each entry holds a slot, so there are never more than
    /// `max_concurrent`.
    #[must_use = "an admitted waiter must be told, and holds a slot"]
    pub fn poll_admitted(&mut self) -> Option<Admitted<W>> {
        self.admitted.pop_front()
    }

    fn housekeep(&mut self, now: Nanos) {
        self.expire(now);
        self.reclaim_dropped();
        self.promote_all();
        // Waiters go first: after housekeeping a free slot means nobody waits, so a
        // caller admitted at once by try_enter never overtakes a waiter.
        debug_assert!(
            self.in_use == self.config.max_concurrent || self.waiters.is_empty(),
            "a free slot while callers wait"
        );
    }

    fn expire(&mut self, now: Nanos) {
        debug_assert!(now >= self.last_now, "time went backwards");
        self.last_now = self.last_now.max(now);
        while self
            .waiters
            .front()
            .is_some_and(|waiting| waiting.deadline <= now)
        {
            let Waiting { ticket, waiter, .. } = self.waiters.pop_front().expect("a front");
            self.expired_total += 1;
            // Never dropped, even if nobody polls: a dropped expiry is a caller never
            // told that its wait ended.
            self.expired.push_back(Expired { ticket, waiter });
        }
        // One call expires at most the max_waiting callers waiting, so an owner that
        // drains after every call holds at most max_waiting; twice that is an owner
        // that does not drain.
        debug_assert!(
            self.expired.len() <= 2 * self.config.max_waiting as usize,
            "{} expired waiters not polled: drain poll_expired after every call",
            self.expired.len()
        );
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

    fn promote_one(&mut self) -> Option<Admitted<W>> {
        if self.in_use < self.config.max_concurrent {
            let Waiting { ticket, waiter, .. } = self.waiters.pop_front()?;
            return Some(Admitted {
                ticket,
                permit: self.admit(),
                waiter,
            });
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

    /// A bulkhead whose callers are named by a `u32` id.
    fn bulkhead(max_concurrent: u32, max_waiting: u32, max_wait_ms: u64) -> Bulkhead<u32> {
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

    /// An admission's ticket and payload, its permit kept.
    fn who(admission: Admitted<u32>, held: &mut Vec<Permit>) -> (Ticket, u32) {
        held.push(admission.permit);
        (admission.ticket, admission.waiter)
    }

    #[test]
    fn semaphore_bulkhead_without_wait_rejects_when_full() {
        // resilience4j SemaphoreBulkheadTest: maxConcurrentCalls 2, maxWaitDuration 0:
        // the third concurrent call gets BulkheadFullException; after one finishes,
        // a call is permitted again.
        let mut b = bulkhead(2, 0, 0);
        let first = admitted(b.try_enter(0, 1));
        let _second = admitted(b.try_enter(0, 2));
        assert!(matches!(b.try_enter(0, 3), Enter::Rejected));
        assert_eq!(b.rejected(), 1);
        assert!(b.release(first, MS).is_none());
        let _third = admitted(b.try_enter(MS, 4));
        assert_eq!(b.in_use(), 2);
        // A queue size without a wait (or the reverse) is no queue.
        let mut b = bulkhead(1, 5, 0);
        let _held = admitted(b.try_enter(0, 1));
        assert!(matches!(b.try_enter(0, 2), Enter::Rejected));
        assert_eq!(b.waiting(), 0);
    }

    #[test]
    fn waiters_are_served_in_order_and_expire_after_max_wait() {
        let mut b = bulkhead(1, 2, 100);
        let a = admitted(b.try_enter(0, 0));
        let t1 = queued(b.try_enter(10 * MS, 1));
        let t2 = queued(b.try_enter(20 * MS, 2));
        assert!(matches!(b.try_enter(30 * MS, 3), Enter::Rejected)); // queue full
        assert_eq!(b.poll_timeout(), Some(110 * MS));
        let next = b.release(a, 50 * MS).unwrap();
        assert_eq!((next.ticket, next.waiter), (t1, 1));
        assert_eq!(b.poll_timeout(), Some(120 * MS));
        b.handle_timeout(119 * MS); // spurious
        assert_eq!(b.poll_expired(), None);
        b.handle_timeout(120 * MS);
        assert_eq!(
            b.poll_expired(),
            Some(Expired {
                ticket: t2,
                waiter: 2
            })
        );
        assert_eq!((b.waiting(), b.expired()), (0, 1));
        assert_eq!(b.poll_timeout(), None);
        assert!(b.release(next.permit, 130 * MS).is_none());
        assert_eq!(b.in_use(), 0);
    }

    #[test]
    fn a_wait_expiring_at_the_release_time_is_not_served() {
        let mut b = bulkhead(1, 1, 100);
        let a = admitted(b.try_enter(0, 0));
        let t = queued(b.try_enter(0, 1));
        assert!(b.release(a, 100 * MS).is_none());
        assert_eq!(
            b.poll_expired(),
            Some(Expired {
                ticket: t,
                waiter: 1
            })
        );
    }

    #[test]
    fn cancelled_waiters_leave_the_queue() {
        let mut b = bulkhead(1, 2, 100);
        let a = admitted(b.try_enter(0, 0));
        let t1 = queued(b.try_enter(0, 1));
        let t2 = queued(b.try_enter(0, 2));
        assert_eq!(b.cancel(t1, MS), Some(1));
        assert_eq!(b.cancel(t1, MS), None);
        let next = b.release(a, 2 * MS).unwrap();
        assert_eq!((next.ticket, next.waiter), (t2, 2));
    }

    #[test]
    fn dropped_permits_free_their_slots_for_waiters_first() {
        let mut b = bulkhead(2, 2, 1_000);
        let mut held = Vec::new();
        let a = admitted(b.try_enter(0, 0));
        let c = admitted(b.try_enter(0, 1));
        let t1 = queued(b.try_enter(0, 2));
        drop(a);
        // The newcomer queues behind t1, which gets the reclaimed slot.
        let t2 = queued(b.try_enter(MS, 3));
        assert_eq!(who(b.poll_admitted().unwrap(), &mut held), (t1, 2));
        assert!(b.poll_admitted().is_none());
        drop(c);
        b.handle_timeout(2 * MS);
        assert_eq!(who(b.poll_admitted().unwrap(), &mut held), (t2, 3));
        assert_eq!(b.in_use(), 2);
        let p2 = held.pop().unwrap();
        drop(held);
        assert!(b.release(p2, 3 * MS).is_none());
        assert_eq!(b.in_use(), 0);
    }

    #[test]
    fn each_waiter_comes_back_with_its_payload() {
        let mut b = bulkhead(2, 4, 100);
        let mut held = Vec::new();
        let a = admitted(b.try_enter(0, 10));
        let c = admitted(b.try_enter(0, 11));
        let t1 = queued(b.try_enter(0, 1));
        let t2 = queued(b.try_enter(MS, 2));
        let t3 = queued(b.try_enter(2 * MS, 3));
        let t4 = queued(b.try_enter(3 * MS, 4));
        // release hands the slot over with the waiter's payload...
        assert_eq!(who(b.release(a, 4 * MS).unwrap(), &mut held), (t1, 1));
        // ...so does the slot of a dropped permit, through poll_admitted...
        drop(c);
        b.handle_timeout(5 * MS);
        assert_eq!(who(b.poll_admitted().unwrap(), &mut held), (t2, 2));
        // ...cancel gives the payload back...
        assert_eq!(b.cancel(t4, 6 * MS), Some(4));
        // ...and so does an expiry.
        b.handle_timeout(102 * MS);
        assert_eq!(
            b.poll_expired(),
            Some(Expired {
                ticket: t3,
                waiter: 3
            })
        );
        assert_eq!((b.waiting(), b.in_use()), (0, 2));
        assert!(b.poll_admitted().is_none());
        assert!(b.poll_expired().is_none());
    }

    #[test]
    fn cancel_returns_none_for_a_caller_that_is_not_waiting() {
        let mut b = bulkhead(1, 3, 100);
        let a = admitted(b.try_enter(0, 0));
        let admitted_ticket = queued(b.try_enter(0, 1));
        let expired_ticket = queued(b.try_enter(MS, 2));
        assert_eq!(b.cancel(Ticket(99), MS), None); // never issued
        let next = b.release(a, MS).unwrap();
        assert_eq!(next.waiter, 1);
        assert_eq!(b.cancel(admitted_ticket, MS), None);
        let waiting = queued(b.try_enter(50 * MS, 3));
        // The expiry happens in cancel's own housekeeping: the payload comes from
        // poll_expired, once, and not from cancel.
        assert_eq!(b.cancel(expired_ticket, 120 * MS), None);
        assert_eq!(b.poll_expired().map(|expired| expired.waiter), Some(2));
        assert_eq!(b.cancel(waiting, 120 * MS), Some(3));
        assert_eq!(b.cancel(waiting, 120 * MS), None);
        assert!(b.poll_expired().is_none());
    }

    #[test]
    fn cancel_keeps_the_order_of_the_others() {
        let mut b = bulkhead(1, 5, 100);
        let a = admitted(b.try_enter(0, 0));
        let tickets: Vec<Ticket> = (1..=5).map(|id| queued(b.try_enter(0, id))).collect();
        assert_eq!(b.cancel(tickets[2], 0), Some(3));
        assert_eq!(b.cancel(tickets[0], 0), Some(1));
        assert_eq!(b.cancel(tickets[4], 0), Some(5));
        assert_eq!(b.waiting(), 2);
        let next = b.release(a, 0).unwrap();
        assert_eq!((next.ticket, next.waiter), (tickets[1], 2));
        let last = b.release(next.permit, 0).unwrap();
        assert_eq!((last.ticket, last.waiter), (tickets[3], 4));
    }

    #[test]
    fn only_a_queued_callers_payload_is_kept() {
        use std::rc::Rc;
        let payload = Rc::new(());
        let mut b: Bulkhead<Rc<()>> = bulkhead(1, 1, 100).fresh();
        let _held = admitted(b.try_enter(0, Rc::clone(&payload)));
        assert_eq!(Rc::strong_count(&payload), 1); // admitted at once: dropped
        let ticket = queued(b.try_enter(0, Rc::clone(&payload)));
        assert_eq!(Rc::strong_count(&payload), 2); // queued: kept
        assert!(matches!(
            b.try_enter(0, Rc::clone(&payload)),
            Enter::Rejected
        ));
        assert_eq!(Rc::strong_count(&payload), 2); // rejected: dropped
        let kept = b.cancel(ticket, 0).unwrap();
        assert!(Rc::ptr_eq(&kept, &payload));
    }

    #[test]
    fn a_fresh_bulkhead_shares_the_config_and_nothing_else() {
        let mut prototype = bulkhead(1, 2, 100);
        let _held = admitted(prototype.try_enter(0, 0));
        let _ticket = queued(prototype.try_enter(0, 1));
        let mut fresh: Bulkhead<&str> = prototype.fresh();
        assert_eq!(fresh.config(), prototype.config());
        assert_eq!((fresh.in_use(), fresh.waiting()), (0, 0));
        let _permit = admitted(fresh.try_enter(0, "a"));
        assert_eq!(prototype.in_use(), 1);
    }

    /// Queues `waiters` behind a held slot at `now` and lets their wait run out.
    fn expire_all(b: &mut Bulkhead<u32>, now: Nanos, waiters: &[u32]) {
        for &waiter in waiters {
            let _ = queued(b.try_enter(now, waiter));
        }
        b.handle_timeout(b.poll_timeout().unwrap());
    }

    #[test]
    fn expired_waiters_are_kept_until_polled() {
        // Regression: expire dropped the oldest unpolled expiry once max_waiting of
        // them were queued (counted in expired_dropped); with payloads that is a
        // caller never told that its wait ended.
        let mut b = bulkhead(1, 2, 10);
        let _held = admitted(b.try_enter(0, 0));
        expire_all(&mut b, 0, &[1, 2]);
        expire_all(&mut b, 10 * MS, &[3, 4]);
        let expired: Vec<u32> = std::iter::from_fn(|| b.poll_expired())
            .map(|expired| expired.waiter)
            .collect();
        assert_eq!(expired, [1, 2, 3, 4]);
        assert_eq!(b.expired(), 4);
    }

    #[test]
    #[cfg(debug_assertions)]
    #[should_panic(expected = "drain poll_expired after every call")]
    fn an_owner_that_never_drains_expiries_trips_an_assertion() {
        let mut b = bulkhead(1, 2, 10);
        let _held = admitted(b.try_enter(0, 0));
        expire_all(&mut b, 0, &[1, 2]);
        expire_all(&mut b, 10 * MS, &[3, 4]);
        expire_all(&mut b, 20 * MS, &[5, 6]); // 6 > 2 × max_waiting
    }

    #[test]
    #[should_panic(expected = "a permit of another bulkhead")]
    fn a_permit_of_another_bulkhead_is_a_bug() {
        let mut one = bulkhead(1, 0, 0);
        let mut other = bulkhead(1, 0, 0);
        let permit = admitted(one.try_enter(0, 1));
        let _ = other.release(permit, 0);
    }

    #[test]
    fn bulkheads_and_permits_can_move_between_threads() {
        fn send_and_sync<T: Send + Sync>() {}
        send_and_sync::<Bulkhead>();
        send_and_sync::<Bulkhead<u32>>();
        send_and_sync::<Permit>();
        send_and_sync::<Admitted<u32>>();
        send_and_sync::<Expired<u32>>();
    }

    #[test]
    fn unbounded_configs_are_errors() {
        let error = |max_concurrent, max_waiting| {
            Bulkhead::<()>::new(BulkheadConfig {
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
            let mut b: Bulkhead = Bulkhead::new(BulkheadConfig {
                max_concurrent,
                max_waiting,
                max_wait: Duration::from_millis(max_wait_ms),
            }).unwrap();
            let mut now = 0u64;
            let mut held: Vec<Permit> = Vec::new();
            let mut tickets: Vec<Ticket> = Vec::new();
            for op in ops {
                match op {
                    Op::Enter => match b.try_enter(now, ()) {
                        Enter::Admitted(permit) => held.push(permit),
                        Enter::Queued(ticket) => tickets.push(ticket),
                        Enter::Rejected => {}
                    },
                    Op::Release(i) if !held.is_empty() => {
                        let permit = held.swap_remove(i % held.len());
                        if let Some(next) = b.release(permit, now) {
                            held.push(next.permit);
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
                        while let Some(next) = b.poll_admitted() {
                            held.push(next.permit);
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

    /// A reference bulkhead, said as plainly as possible: a Vec of the waiting
    /// (ticket, waiter, deadline), a count of permits, and the permits dropped since
    /// the last call (the bulkhead notices a drop at its next call). The tickets are
    /// the ones the bulkhead issued: the model decides *whether* a caller queues, not
    /// how tickets are numbered.
    struct Model {
        max_concurrent: u32,
        max_waiting: usize,
        max_wait: Nanos,
        queue_enabled: bool,
        waiters: Vec<(Ticket, u32, Nanos)>,
        in_use: u32,
        dropped: u32,
    }

    /// What one operation, and draining after it, handed back.
    #[derive(Debug, Default, PartialEq)]
    struct Step {
        entered: Option<Outcome>,
        handed_over: Option<(Ticket, u32)>,
        cancelled: Option<Option<u32>>,
        admitted: Vec<(Ticket, u32)>,
        expired: Vec<(Ticket, u32)>,
    }

    #[derive(Debug, PartialEq)]
    enum Outcome {
        Admitted,
        Queued,
        Rejected,
    }

    impl Model {
        fn new(config: &BulkheadConfig) -> Model {
            Model {
                max_concurrent: config.max_concurrent,
                max_waiting: config.max_waiting as usize,
                max_wait: nanos_of(config.max_wait),
                queue_enabled: config.max_waiting > 0 && !config.max_wait.is_zero(),
                waiters: Vec::new(),
                in_use: 0,
                dropped: 0,
            }
        }

        /// Every call first expires the waits due, then counts dropped permits back.
        fn expire_and_reclaim(&mut self, now: Nanos, step: &mut Step) {
            let (due, waiting): (Vec<_>, Vec<_>) = std::mem::take(&mut self.waiters)
                .into_iter()
                .partition(|&(_, _, deadline)| deadline <= now);
            step.expired
                .extend(due.into_iter().map(|(ticket, waiter, _)| (ticket, waiter)));
            self.waiters = waiting;
            self.in_use -= std::mem::take(&mut self.dropped);
        }

        /// The oldest waiter takes a free slot, if there is one.
        fn promote(&mut self) -> Option<(Ticket, u32)> {
            if self.in_use == self.max_concurrent || self.waiters.is_empty() {
                return None;
            }
            self.in_use += 1;
            let (ticket, waiter, _) = self.waiters.remove(0);
            Some((ticket, waiter))
        }

        fn settle(&mut self, now: Nanos, step: &mut Step) {
            self.expire_and_reclaim(now, step);
            while let Some(admission) = self.promote() {
                step.admitted.push(admission);
            }
        }

        fn enter(&mut self, now: Nanos, step: &mut Step) -> Outcome {
            self.settle(now, step);
            if self.in_use < self.max_concurrent && self.waiters.is_empty() {
                self.in_use += 1;
                Outcome::Admitted
            } else if self.queue_enabled && self.waiters.len() < self.max_waiting {
                Outcome::Queued
            } else {
                Outcome::Rejected
            }
        }

        fn queue(&mut self, ticket: Ticket, waiter: u32, now: Nanos) {
            self.waiters.push((ticket, waiter, now + self.max_wait));
        }

        fn release(&mut self, now: Nanos, step: &mut Step) {
            self.expire_and_reclaim(now, step);
            self.in_use -= 1;
            step.handed_over = self.promote();
            while let Some(admission) = self.promote() {
                step.admitted.push(admission);
            }
        }

        fn cancel(&mut self, ticket: Ticket, now: Nanos, step: &mut Step) {
            self.settle(now, step);
            let index = self.waiters.iter().position(|&(t, _, _)| t == ticket);
            step.cancelled = Some(index.map(|index| self.waiters.remove(index).1));
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        /// An owner that keeps the contract (drains poll_admitted and poll_expired
        /// after every call) sees the same admissions, expiries, rejections and
        /// cancellations, in the same order, as the reference model; in_use never
        /// exceeds max_concurrent; and every queued waiter comes back exactly once,
        /// through admission, expiry or cancel: none is lost, none duplicated.
        #[test]
        fn bulkhead_agrees_with_a_reference_model_and_loses_no_waiter(
            max_concurrent in 1..5u32,
            max_waiting in 0..4u32,
            max_wait_ms in 0..50u64,
            ops in proptest::collection::vec(prop_oneof![
                4 => Just(Op::Enter),
                3 => any::<usize>().prop_map(Op::Release),
                1 => any::<usize>().prop_map(Op::Drop),
                2 => any::<usize>().prop_map(Op::Cancel),
                2 => (0..30u16).prop_map(Op::Advance),
                1 => Just(Op::Timeout),
            ], 1..200),
        ) {
            let config = BulkheadConfig {
                max_concurrent,
                max_waiting,
                max_wait: Duration::from_millis(max_wait_ms),
            };
            let mut b: Bulkhead<u32> = Bulkhead::new(config).unwrap();
            let mut model = Model::new(&config);
            let mut now = 0u64;
            let mut held: Vec<Permit> = Vec::new();
            let mut next_id = 0u32;
            // Every caller ever queued, by id, with its ticket; and those that came back.
            let mut queued: std::collections::BTreeMap<u32, Ticket> = Default::default();
            let mut returned: std::collections::BTreeSet<u32> = Default::default();
            let mut last_ticket: Option<Ticket> = None;
            // The last round lets every remaining wait run out.
            let last = Op::Advance(0);
            for (index, op) in ops.iter().chain([&last]).enumerate() {
                let mut real = Step::default();
                let mut expected = Step::default();
                match *op {
                    _ if index == ops.len() => {
                        now += max_wait_ms * MS;
                        b.handle_timeout(now);
                        model.settle(now, &mut expected);
                    }
                    Op::Enter => {
                        let id = next_id;
                        next_id += 1;
                        expected.entered = Some(model.enter(now, &mut expected));
                        real.entered = Some(match b.try_enter(now, id) {
                            Enter::Admitted(permit) => {
                                held.push(permit);
                                Outcome::Admitted
                            }
                            Enter::Queued(ticket) => {
                                prop_assert!(last_ticket < Some(ticket), "tickets increase");
                                last_ticket = Some(ticket);
                                queued.insert(id, ticket);
                                model.queue(ticket, id, now);
                                Outcome::Queued
                            }
                            Enter::Rejected => Outcome::Rejected,
                        });
                    }
                    Op::Release(i) if !held.is_empty() => {
                        let permit = held.swap_remove(i % held.len());
                        real.handed_over = b.release(permit, now).map(|a| who(a, &mut held));
                        model.release(now, &mut expected);
                    }
                    Op::Drop(i) if !held.is_empty() => {
                        drop(held.swap_remove(i % held.len()));
                        model.dropped += 1;
                    }
                    Op::Cancel(i) if !queued.is_empty() => {
                        // Any caller ever queued: waiting, or already back (then None).
                        let (_, &ticket) = queued.iter().nth(i % queued.len()).unwrap();
                        real.cancelled = Some(b.cancel(ticket, now));
                        model.cancel(ticket, now, &mut expected);
                    }
                    Op::Advance(ms) => now += u64::from(ms) * MS,
                    Op::Timeout => {
                        if let Some(at) = b.poll_timeout() {
                            now = now.max(at);
                        }
                        b.handle_timeout(now);
                        model.settle(now, &mut expected);
                    }
                    _ => {}
                }
                // The owner's contract: drain after every call.
                real.admitted = std::iter::from_fn(|| b.poll_admitted())
                    .map(|a| who(a, &mut held))
                    .collect();
                real.expired = std::iter::from_fn(|| b.poll_expired())
                    .map(|expired| (expired.ticket, expired.waiter))
                    .collect();
                prop_assert_eq!(&real, &expected, "after {:?} at {} ns", op, now);

                let back = real.handed_over.iter().chain(&real.admitted).chain(&real.expired);
                for &(ticket, id) in back {
                    prop_assert_eq!(queued.get(&id), Some(&ticket), "waiter {} with its own ticket", id);
                    prop_assert!(returned.insert(id), "waiter {} came back twice", id);
                }
                if let Some(Some(id)) = real.cancelled {
                    prop_assert!(queued.contains_key(&id), "waiter {} was never queued", id);
                    prop_assert!(returned.insert(id), "waiter {} came back twice", id);
                }
                prop_assert_eq!(b.in_use(), model.in_use);
                prop_assert!(b.in_use() <= max_concurrent, "{} in use", b.in_use());
                prop_assert!(held.len() <= max_concurrent as usize, "{} permits held", held.len());
                prop_assert_eq!(b.waiting(), model.waiters.len());
                prop_assert_eq!(b.poll_timeout(), model.waiters.first().map(|&(_, _, deadline)| deadline));
            }
            prop_assert_eq!(b.waiting(), 0);
            prop_assert_eq!(returned.len(), queued.len(), "a queued waiter never came back");
        }
    }
}
