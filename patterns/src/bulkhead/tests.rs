//! The bulkhead's unit tests: resilience4j's semaphore bulkhead (rejection when
//! full, no queue without a wait), FIFO waiters that expire after `max_wait` or are
//! cancelled, payloads that come back exactly once, dropped permits that free their
//! slot for waiters first, the owner's drain contract, permits of another bulkhead,
//! moving between threads, configuration errors, and property tests of the
//! concurrency bound and of an owner that keeps the contract.

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
