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
mod tests;
