//! The transactional outbox and its relay (Richardson, *Microservices Patterns*,
//! ch. 3: "transactional outbox" with a "polling publisher"): a service writes each
//! event into an outbox table in the same transaction as the state change it
//! announces, and a relay publishes the outbox's events to the broker in order,
//! deleting each once the broker has acknowledged it. A crash cannot lose an event:
//! the outbox is durable, and a relay that restarts publishes again everything not
//! yet acknowledged (so the broker may get an event twice: at-least-once, which is
//! why consumers deduplicate).
//!
//! [`Outbox`] is both halves, sans-IO: [`Outbox::append`] is the write inside the
//! transaction (refused when the table is full: the transaction then fails, nothing
//! is lost); the relay polls every `poll_interval` ([`Outbox::poll_timeout`],
//! [`Outbox::handle_timeout`]), hands out up to `max_in_flight` events to send
//! ([`Outbox::poll_publish`]), and is told each acknowledgement
//! ([`Outbox::handle_ack`]) or failure ([`Outbox::handle_failure`]: the event is
//! sent again at the next poll, in its place). [`Outbox::restart`] is the relay's
//! crash and restart: what it had in flight is forgotten and goes out again, in
//! order, from the oldest unacknowledged event.
//!
//! Order: events leave in the order they were appended, and a failed event is
//! resent before any later one is sent for the first time; with `max_in_flight`
//! above 1, acknowledgements may come back out of order, so a broker can receive a
//! later event before an earlier one's resend (as a Kafka producer with more than
//! one request in flight and retries can reorder). `max_in_flight` of 1 keeps the
//! order strict.
//!
//! Memory is fixed at construction: a ring of `capacity` event ids.

use std::time::Duration;

use crate::{ConfigError, Nanos, nanos_of};

/// The largest outbox table.
pub const MAX_OUTBOX_CAPACITY: usize = 1 << 24;

/// How an outbox and its relay behave.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OutboxConfig {
    /// Events the table holds at most (unpublished or unacknowledged).
    pub capacity: usize,
    /// How often the relay polls the table.
    pub poll_interval: Duration,
    /// Events sent and not yet acknowledged, at most.
    pub max_in_flight: usize,
}

/// An append the table refused: it is full, so the transaction fails.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OutboxFull;

/// Where an event of the table is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Slot {
    /// Waiting to be sent (again).
    Ready,
    /// Sent, not yet acknowledged.
    InFlight,
    /// Acknowledged, waiting for the events before it to be (then deleted).
    Acked,
}

/// An outbox table and its relay (see the module documentation).
#[derive(Clone, Debug)]
pub struct Outbox {
    ids: Vec<u64>,
    slots: Vec<Slot>,
    /// The oldest event's place, and how many the table holds.
    head: usize,
    len: usize,
    in_flight: usize,
    max_in_flight: usize,
    poll_interval: Nanos,
    /// When the relay polls next; none while the table is empty.
    next_poll: Option<Nanos>,
    /// The relay may hand out events (it polled and has not yet sent all).
    polling: bool,
    last_now: Nanos,
    sent: u64,
    resent: u64,
}

impl Outbox {
    /// An empty outbox whose relay starts at `now`.
    ///
    /// ```
    /// use std::time::Duration;
    /// use meshsim_patterns::messaging::{Outbox, OutboxConfig};
    ///
    /// let mut outbox = Outbox::new(
    ///     OutboxConfig { capacity: 100, poll_interval: Duration::from_millis(50), max_in_flight: 1 },
    ///     0,
    /// ).unwrap();
    /// outbox.append(7, 0).unwrap();            // with the state change
    /// assert_eq!(outbox.poll_timeout(), Some(50_000_000));
    /// outbox.handle_timeout(50_000_000);       // the relay polls
    /// assert_eq!(outbox.poll_publish(), Some(7));
    /// outbox.handle_ack(7);                    // the broker has it
    /// assert!(outbox.is_empty());
    /// ```
    pub fn new(config: OutboxConfig, now: Nanos) -> Result<Outbox, ConfigError> {
        if config.capacity == 0 || config.capacity > MAX_OUTBOX_CAPACITY {
            return Err(ConfigError::new(
                "outbox",
                "capacity",
                "must be between 1 and 16777216",
            ));
        }
        if config.poll_interval.is_zero() {
            return Err(ConfigError::new(
                "outbox",
                "poll_interval",
                "must be longer than zero",
            ));
        }
        if config.max_in_flight == 0 || config.max_in_flight > config.capacity {
            return Err(ConfigError::new(
                "outbox",
                "max_in_flight",
                "must be between 1 and the capacity",
            ));
        }
        Ok(Outbox {
            ids: vec![0; config.capacity],
            slots: vec![Slot::Ready; config.capacity],
            head: 0,
            len: 0,
            in_flight: 0,
            max_in_flight: config.max_in_flight,
            poll_interval: nanos_of(config.poll_interval),
            next_poll: None,
            polling: false,
            last_now: now,
            sent: 0,
            resent: 0,
        })
    }

    /// Events in the table: not yet sent, in flight, or acknowledged behind an
    /// earlier one still in flight.
    pub fn len(&self) -> usize {
        self.len
    }

    /// The events the table holds at most.
    pub fn capacity(&self) -> usize {
        self.ids.len()
    }

    /// Whether the table is empty (every event appended was acknowledged).
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Events sent and not yet acknowledged.
    pub fn in_flight(&self) -> usize {
        self.in_flight
    }

    /// Sends so far, first sends and resends.
    pub fn sent(&self) -> u64 {
        self.sent
    }

    /// Of [`Outbox::sent`], sends of an event sent before (after a failure or a
    /// restart): the duplicates a broker may receive.
    pub fn resent(&self) -> u64 {
        self.resent
    }

    /// Writes event `id` into the table at `now`, in the transaction of its state
    /// change; [`OutboxFull`] if the table is full (the transaction then fails).
    pub fn append(&mut self, id: u64, now: Nanos) -> Result<(), OutboxFull> {
        self.tick(now);
        if self.len == self.ids.len() {
            return Err(OutboxFull);
        }
        let at = self.place(self.len);
        self.ids[at] = id;
        self.slots[at] = Slot::Ready;
        self.len += 1;
        if self.next_poll.is_none() {
            self.next_poll = Some(now.saturating_add(self.poll_interval));
        }
        Ok(())
    }

    /// When to call [`Outbox::handle_timeout`] next: the relay's next poll; none
    /// while the table is empty.
    pub fn poll_timeout(&self) -> Option<Nanos> {
        self.next_poll
    }

    /// The relay's poll at `now`: if it is due, the events ready in the table may
    /// be handed out by [`Outbox::poll_publish`]; the next poll is scheduled.
    pub fn handle_timeout(&mut self, now: Nanos) {
        self.tick(now);
        let Some(due) = self.next_poll else {
            return;
        };
        if now < due {
            return;
        }
        self.polling = true;
        self.next_poll = (self.len > 0).then(|| now.saturating_add(self.poll_interval));
    }

    /// The next event the relay sends, oldest first, while a poll is under way
    /// and fewer than `max_in_flight` are out; none otherwise.
    pub fn poll_publish(&mut self) -> Option<u64> {
        if !self.polling || self.in_flight >= self.max_in_flight {
            return None;
        }
        let Some(offset) = (0..self.len).find(|&k| self.slots[self.place(k)] == Slot::Ready) else {
            self.polling = false;
            return None;
        };
        let at = self.place(offset);
        self.slots[at] = Slot::InFlight;
        self.in_flight += 1;
        self.sent += 1;
        Some(self.ids[at])
    }

    /// The broker acknowledged event `id`: it leaves the table once every event
    /// before it has too. An acknowledgement of an event not in flight (a late
    /// one for a send forgotten by a restart) still marks it.
    pub fn handle_ack(&mut self, id: u64) {
        if let Some(at) = self.find(id) {
            if self.slots[at] == Slot::InFlight {
                self.in_flight -= 1;
            }
            self.slots[at] = Slot::Acked;
        }
        while self.len > 0 && self.slots[self.head] == Slot::Acked {
            self.head = (self.head + 1) % self.ids.len();
            self.len -= 1;
        }
        if self.len == 0 {
            self.next_poll = None;
        }
    }

    /// Sending event `id` failed (the broker refused it, or its acknowledgement
    /// did not come in time: the caller times each send, as a producer's
    /// `delivery.timeout.ms` does): it goes out again at the next poll, before
    /// any later event is sent for the first time. Until one of the two is
    /// told, the event stays in flight.
    pub fn handle_failure(&mut self, id: u64) {
        if let Some(at) = self.find(id)
            && self.slots[at] == Slot::InFlight
        {
            self.slots[at] = Slot::Ready;
            self.in_flight -= 1;
            self.resent += 1;
        }
    }

    /// The relay crashed and restarted at `now`: the table is intact (it is
    /// durable), what was in flight is forgotten and sent again from the oldest
    /// unacknowledged event, at the next poll.
    pub fn restart(&mut self, now: Nanos) {
        self.tick(now);
        for k in 0..self.len {
            let at = self.place(k);
            if self.slots[at] == Slot::InFlight {
                self.slots[at] = Slot::Ready;
                self.resent += 1;
            }
        }
        self.in_flight = 0;
        self.polling = false;
        self.next_poll = (self.len > 0).then(|| now.saturating_add(self.poll_interval));
    }

    fn place(&self, offset: usize) -> usize {
        (self.head + offset) % self.ids.len()
    }

    /// The place of the oldest entry of `id` not yet acknowledged, else of any.
    fn find(&self, id: u64) -> Option<usize> {
        let places = (0..self.len).map(|k| self.place(k));
        places
            .clone()
            .find(|&at| self.ids[at] == id && self.slots[at] != Slot::Acked)
            .or_else(|| places.into_iter().find(|&at| self.ids[at] == id))
    }

    fn tick(&mut self, now: Nanos) {
        debug_assert!(now >= self.last_now, "time went backwards");
        self.last_now = now;
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use proptest::prelude::*;

    use super::*;

    const MS: Nanos = 1_000_000;

    fn outbox(capacity: usize, max_in_flight: usize) -> Outbox {
        Outbox::new(
            OutboxConfig {
                capacity,
                poll_interval: Duration::from_millis(10),
                max_in_flight,
            },
            0,
        )
        .unwrap()
    }

    #[test]
    fn events_leave_in_order_and_only_once_acknowledged() {
        let mut o = outbox(8, 1);
        for id in [1, 2, 3] {
            o.append(id, 0).unwrap();
        }
        assert_eq!(o.poll_publish(), None, "not before the relay polls");
        o.handle_timeout(10 * MS);
        assert_eq!(o.poll_publish(), Some(1));
        assert_eq!(o.poll_publish(), None, "one in flight at most");
        o.handle_ack(1);
        assert_eq!(o.poll_publish(), Some(2));
        o.handle_failure(2);
        // The failed event goes first, at the next poll.
        assert_eq!(o.poll_publish(), Some(2));
        o.handle_ack(2);
        assert_eq!(o.poll_publish(), Some(3));
        o.handle_ack(3);
        assert!(o.is_empty());
        assert_eq!((o.sent(), o.resent()), (4, 1));
        assert_eq!(o.poll_timeout(), None, "nothing left to poll for");
    }

    #[test]
    fn a_full_table_refuses_the_transaction() {
        let mut o = outbox(2, 2);
        o.append(1, 0).unwrap();
        o.append(2, 0).unwrap();
        assert_eq!(o.append(3, 0), Err(OutboxFull));
        o.handle_timeout(10 * MS);
        assert_eq!(o.poll_publish(), Some(1));
        o.handle_ack(1);
        assert_eq!(o.append(3, 11 * MS), Ok(()));
        assert_eq!(o.len(), 2);
    }

    #[test]
    fn a_restart_sends_again_what_was_in_flight() {
        let mut o = outbox(8, 4);
        for id in 1..=4 {
            o.append(id, 0).unwrap();
        }
        o.handle_timeout(10 * MS);
        assert_eq!(o.poll_publish(), Some(1));
        assert_eq!(o.poll_publish(), Some(2));
        o.handle_ack(2); // 2 is acknowledged but waits behind 1
        assert_eq!(o.len(), 4);
        o.restart(12 * MS);
        assert_eq!(o.in_flight(), 0);
        assert_eq!(o.poll_publish(), None, "not before the next poll");
        assert_eq!(o.poll_timeout(), Some(22 * MS));
        o.handle_timeout(22 * MS);
        // 1 again (its send was forgotten), then 3 and 4; 2 is not resent.
        let out: Vec<u64> = std::iter::from_fn(|| o.poll_publish()).collect();
        assert_eq!(out, [1, 3, 4]);
        assert_eq!(o.resent(), 1);
        // A late acknowledgement of 1's first send still counts.
        o.handle_ack(1);
        assert_eq!(o.len(), 2);
    }

    #[test]
    fn settings_are_checked() {
        let config = OutboxConfig {
            capacity: 4,
            poll_interval: Duration::from_millis(1),
            max_in_flight: 1,
        };
        assert!(Outbox::new(config, 0).is_ok());
        for (bad, field) in [
            (
                OutboxConfig {
                    capacity: 0,
                    ..config
                },
                "capacity",
            ),
            (
                OutboxConfig {
                    poll_interval: Duration::ZERO,
                    ..config
                },
                "poll_interval",
            ),
            (
                OutboxConfig {
                    max_in_flight: 5,
                    ..config
                },
                "max_in_flight",
            ),
        ] {
            assert_eq!(Outbox::new(bad, 0).unwrap_err().field, field);
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        /// Under random appends, polls, acknowledgements, failures and relay
        /// restarts, no event is lost: once the broker stops failing and the
        /// relay polls long enough, every appended event has been acknowledged
        /// and the table is empty; and no event was acknowledged before it was
        /// sent.
        #[test]
        fn no_event_is_lost_by_failures_or_restarts(
            max_in_flight in 1usize..4,
            ops in proptest::collection::vec(0u8..5, 0..200),
        ) {
            let mut o = outbox(64, max_in_flight);
            let mut now = 0;
            let mut next_id = 0u64;
            let mut appended = BTreeSet::new();
            let mut acked = BTreeSet::new();
            let mut out: Vec<u64> = Vec::new();
            for op in ops {
                now += MS;
                match op {
                    0 => {
                        if o.append(next_id, now).is_ok() {
                            appended.insert(next_id);
                        }
                        next_id += 1;
                    }
                    1 => {
                        o.handle_timeout(now);
                        out.extend(std::iter::from_fn(|| o.poll_publish()));
                    }
                    2 => if let Some(id) = out.pop() {
                        o.handle_ack(id);
                        acked.insert(id);
                    },
                    3 => if let Some(id) = out.pop() {
                        o.handle_failure(id);
                    },
                    _ => {
                        o.restart(now);
                        out.clear();
                    }
                }
            }
            // Heal: the sends still out are answered (acknowledged), then the
            // relay polls and every send is acknowledged until the table is
            // empty.
            for id in out.drain(..) {
                o.handle_ack(id);
                acked.insert(id);
            }
            for _ in 0..1_000 {
                if o.is_empty() {
                    break;
                }
                now = now.max(o.poll_timeout().unwrap_or(now));
                o.handle_timeout(now);
                while let Some(id) = o.poll_publish() {
                    o.handle_ack(id);
                    acked.insert(id);
                }
            }
            prop_assert!(o.is_empty());
            prop_assert_eq!(o.in_flight(), 0);
            prop_assert!(appended.is_subset(&acked));
        }
    }
}
