//! The world's events: plain data, so the kernel's queue holds them by
//! value and nothing is allocated per event.

use super::slab::Key;
use super::status::Reply;

/// The world's events: 16 bytes of plain data, a 4-byte tag then the fields.
///
/// `repr(u32)` is for speed, not space: with the natural layout (a 1-byte
/// tag and 11 packed bytes after it) the compiler copied an event as
/// overlapping unaligned pieces, and reading those back just after writing
/// them defeated store-to-load forwarding (two instructions of the run loop
/// took a third of its time). With a 4-byte tag every piece is aligned.
#[derive(Clone, Copy, Debug, PartialEq)]
#[repr(u32)]
pub enum Event {
    /// The next open-loop request of a client (by index) is due.
    Arrival(u32),
    /// A closed-loop user (numbered over every client) has finished
    /// thinking.
    UserWake(u32),
    /// A request message reaches its instance.
    Deliver(Key),
    /// A worker has finished the local part of a job.
    LocalDone(Key),
    /// A caller's cancellation reaches the instance of a job.
    Cancel(Key),
    /// A reply reaches its caller.
    Reply {
        /// The attempt it answers.
        attempt: Key,
        /// What it says.
        reply: Reply,
    },
    /// An attempt's timeout expires.
    AttemptTimeout(Key),
    /// A retry's backoff has elapsed.
    RetryDue(Key),
    /// Time to hedge a slow call.
    HedgeDue(Key),
    /// A breaker or bulkhead of an edge's scope unit needs its timeout handled.
    PolicyWake {
        /// The edge.
        edge: u32,
        /// The scope unit.
        unit: u32,
    },
    /// A saga's retry timer is due (its run, in the sagas' slab).
    SagaWake(Key),
    /// A restarting instance has booted (its `restart`-th restart: an
    /// instance that crashed again while booting ignores the old boot).
    Booted {
        /// The instance.
        instance: u32,
        /// Which restart.
        restart: u32,
    },
    /// A fault starts (`true`) or ends (`false`).
    Fault(u32, bool),
    /// The registry's next health check of an instance is due (its
    /// `life`-th registration: a check of an older one is dropped).
    CheckDue {
        /// The instance.
        instance: u32,
        /// Which registration.
        life: u32,
    },
    /// A health check's reply reaches the registry.
    ProbeReply {
        /// The check (in the registry's slab of checks in flight).
        probe: Key,
        /// Whether the instance answered with success.
        ok: bool,
    },
    /// A health check's timeout expires.
    ProbeTimeout(Key),
    /// An instance's next heartbeat is due (its `life`-th start).
    Heartbeat {
        /// The instance.
        instance: u32,
        /// Which start: a heartbeat of a process that has crashed or
        /// stopped since is dropped.
        life: u32,
    },
    /// A heartbeat reaches the registry: the instance's lease is renewed
    /// (or, if it has none, registered), and its status recorded.
    Renew {
        /// The instance.
        instance: u32,
        /// The status it carries: `UP` (ready) or not.
        up: bool,
    },
    /// The reaper's pass for an instance's critical check (its `life`-th
    /// registration).
    Reap {
        /// The instance.
        instance: u32,
        /// Which registration.
        life: u32,
    },
    /// An instance's next readiness probe is due (its `life`-th start).
    ReadinessDue {
        /// The instance.
        instance: u32,
        /// Which start: a probe of a process gone since is dropped.
        life: u32,
    },
    /// The registry of a service sweeps for expired leases.
    Sweep(u32),
    /// A graceful stop of an instance takes effect, its shutdown delay
    /// over.
    StopDue(u32),
    /// The autoscaler of a service (by index) syncs.
    AutoscaleSync(u32),
    /// The metric window of a coming sync of a service's autoscaler starts.
    AutoscaleMark(u32),
    /// The outbox relay of a producer (by index) polls.
    RelayPoll(u32),
    /// A naive publish leaves the producer's buffer.
    PublishDue(Key),
    /// A write-then-read client's read back is due.
    ReadDue(Key),
    /// A consumer group's batch reaches its member.
    Delivered(Key),
    /// A batch's commit reaches the broker.
    Committed(Key),
    /// The broker gives up waiting for a batch's commit.
    CommitTimeout(Key),
    /// A consumer's handler retries the message in hand.
    HandlerRetry(Key),
    /// A crashed member's session times out.
    MemberExpired {
        /// The group.
        group: u32,
        /// The member's instance.
        instance: u32,
        /// Its restarts at the crash: a session of an earlier process.
        epoch: u32,
    },
    /// A group's rebalance pause ends.
    Rebalanced {
        /// The group.
        group: u32,
        /// The membership it was for: a later change supersedes it.
        generation: u32,
    },
    /// A time-series window closes.
    Window,
}
