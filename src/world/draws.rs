//! What every random draw of the world is about.
//!
//! A draw whose place in a sequence would depend on the order of events (a
//! service time, a network delay, an error or call decision, a jitter, a
//! think time) is *keyed* instead: it comes from a [`KeyedStream`] for its
//! kind and a [`DrawKey`] for the thing it is about, so it depends on the
//! seed, the kind and the key, and on nothing else that happens in the run.
//! The keys are structural, built from the request's place in the call tree:
//!
//! ```text
//! request   open loop: OPEN / n              (n-th arrival of the client;
//!                                            its arrival time's key too)
//!           closed loop: USERS / user / k    (k-th request of that user)
//!           a named client's: CLIENT_OPEN / name / n, CLIENT_USERS / name / user / k
//! call      a route's call: the request's key
//!           a downstream call: job / (step << 16 | index in the step)
//!           a saga's call: saga / (attempt << 5 | compensation << 4 | step)
//! saga      job / (4 << 32)                  (the job that started it)
//! event     job / (5 << 32)                  (the job that committed it)
//!           a relay's n-th send: event / n;  a handling: event / (group << 32 | batch) / attempt
//! delivery  DELIVERIES / (group << 32 | partition) / batch
//! attempt   call / (kind << 32 | n): first 0/0, retry r 1/r, hedge h 2/h
//! job       the attempt's key (the job is the attempt at its instance)
//! boot      BOOT / instance / r              (its r-th restart)
//! ```
//!
//! and each kind of draw uses the key it is about: the route pick and the
//! think times the request's, a call's probability decision the child call's,
//! the request message's loss and delay the attempt's, the service time and
//! the error decision the job's, the reply's loss and delay the job's, a
//! cancellation's the attempt's, a retry's jitter and a throttle's draw the
//! attempt's to be. Consequences, tested in `tests/determinism.rs`: turning
//! on retries for one edge, adding a hedge or injecting a fault leaves every
//! unrelated request's route, network delays and service times as they were;
//! an error decision never shifts a call decision; a draw skipped because
//! its probability is 0 or 1 shifts nothing.
//!
//! The implicit client (a workload without `clients`), and a declared client
//! named `default`, use the roots `OPEN`, `USERS` and `THINK` themselves; any
//! other client's keys hang below its name ([`DrawKey::named`]), so its
//! requests, their route picks and everything downstream of them depend on
//! its name, never on its place in the list: adding, removing or reordering
//! clients leaves every other client's draws unchanged (tested in
//! `tests/clients.rs`).
//!
//! Each client's open-loop arrival process has a keyed stream of its own
//! (`workload/arrivals` for the implicit client and `default`,
//! `workload/arrivals/<name>` for the others), and its n-th arrival time is
//! drawn with the key of the request that arrival sends (`OPEN / n`): the
//! key is derived once for both, and the streams keep the draws apart.
//! Thinning takes as many draws as it needs from that key's generator, so
//! the n-th arrival depends only on n and the rate schedule.

use crate::kernel::{DrawKey, KeyedRng, KeyedStream, RngStreams};

/// Roots of the request keys.
const OPEN_LOOP: DrawKey = DrawKey::root(1);
const USERS: DrawKey = DrawKey::root(2);
const THINK: DrawKey = DrawKey::root(3);
/// Roots of a named client's keys, below which its name comes first.
const CLIENT_OPEN_LOOP: DrawKey = DrawKey::root(4);
const CLIENT_USERS: DrawKey = DrawKey::root(5);
const CLIENT_THINK: DrawKey = DrawKey::root(6);

/// The name whose client draws as the implicit one.
const IMPLICIT: &str = crate::scenario::compile::IMPLICIT_CLIENT;

/// The roots of one client's keys: its open-loop requests, its users'
/// requests and its users' think times.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct ClientKeys {
    open_loop: DrawKey,
    users: DrawKey,
    think: DrawKey,
}

impl ClientKeys {
    /// The keys of the client called `name` (the implicit client's are
    /// [`crate::scenario::compile::IMPLICIT_CLIENT`]'s).
    pub(super) fn new(name: &str) -> ClientKeys {
        if name == IMPLICIT {
            ClientKeys {
                open_loop: OPEN_LOOP,
                users: USERS,
                think: THINK,
            }
        } else {
            ClientKeys {
                open_loop: CLIENT_OPEN_LOOP.named(name),
                users: CLIENT_USERS.named(name),
                think: CLIENT_THINK.named(name),
            }
        }
    }

    /// The name of the client's arrival stream.
    pub(super) fn arrival_stream(name: &str) -> String {
        if name == IMPLICIT {
            "workload/arrivals".to_string()
        } else {
            format!("workload/arrivals/{name}")
        }
    }

    /// The key of the client's `n`-th open-loop arrival.
    #[inline]
    pub(super) fn open_loop_request(&self, n: u64) -> DrawKey {
        self.open_loop.child(n)
    }

    /// The key of the `k`-th request of the client's `user` (numbered
    /// within the client).
    pub(super) fn user_request(&self, user: u32, k: u64) -> DrawKey {
        self.users.child(u64::from(user)).child(k)
    }

    /// The key of the think time of the client's `user` before its `k`-th
    /// request.
    pub(super) fn think(&self, user: u32, k: u64) -> DrawKey {
        self.think.child(u64::from(user)).child(k)
    }
}
/// The root of instance boot keys.
const BOOT: DrawKey = DrawKey::root(7);
// Root 8 keyed arrivals until they took their request's key: not reused.

/// Which message a network draw is for: each has its own loss and delay
/// streams, so a loss fault does not shift any delay.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Message {
    /// A request, keyed by its attempt.
    Request = 0,
    /// A reply, keyed by the job (= attempt) it answers.
    Reply = 1,
    /// A caller's cancellation, keyed by the attempt it cancels.
    Cancel = 2,
}

/// The kinds of an attempt, as they appear in its key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum AttemptKind {
    First = 0,
    Retry = 1,
    Hedge = 2,
}

/// The world's keyed streams, one per kind of draw.
#[derive(Clone, Copy, Debug)]
pub(super) struct Draws {
    route: KeyedStream,
    request_key: KeyedStream,
    think: KeyedStream,
    service_time: KeyedStream,
    error: KeyedStream,
    call: KeyedStream,
    jitter: KeyedStream,
    throttle: KeyedStream,
    boot: KeyedStream,
    split: KeyedStream,
}

impl Draws {
    pub(super) fn new(streams: &RngStreams) -> Draws {
        Draws {
            route: streams.keyed("workload/route"),
            request_key: streams.keyed("workload/key"),
            think: streams.keyed("workload/think"),
            service_time: streams.keyed("service/time"),
            error: streams.keyed("service/error"),
            call: streams.keyed("service/call"),
            jitter: streams.keyed("policy/jitter"),
            throttle: streams.keyed("policy/throttle"),
            boot: streams.keyed("instance/boot"),
            split: streams.keyed("gateway/split"),
        }
    }

    /// The route pick of a request.
    #[inline]
    pub(super) fn route(&self, request: DrawKey) -> KeyedRng {
        self.route.rng(request)
    }

    /// The request key of a request (routes with `keys`).
    pub(super) fn request_key(&self, request: DrawKey) -> KeyedRng {
        self.request_key.rng(request)
    }

    /// A think time, keyed by [`ClientKeys::think`].
    pub(super) fn think(&self, key: DrawKey) -> KeyedRng {
        self.think.rng(key)
    }

    /// The service time of a job.
    #[inline]
    pub(super) fn service_time(&self, job: DrawKey) -> KeyedRng {
        self.service_time.rng(job)
    }

    /// Whether a job fails with the service's own error.
    #[inline]
    pub(super) fn error(&self, job: DrawKey) -> KeyedRng {
        self.error.rng(job)
    }

    /// Whether a job makes a call of probability < 1.
    #[inline]
    pub(super) fn call(&self, call: DrawKey) -> KeyedRng {
        self.call.rng(call)
    }

    /// The jitter of the backoff before a retry attempt.
    pub(super) fn jitter(&self, attempt: DrawKey) -> KeyedRng {
        self.jitter.rng(attempt)
    }

    /// The boot time of an instance at its `restart`-th restart.
    pub(super) fn boot(&self, instance: u32, restart: u32) -> KeyedRng {
        self.boot
            .rng(BOOT.child(u64::from(instance)).child(u64::from(restart)))
    }

    /// Adaptive throttling's decision on an attempt.
    /// A gateway's split decision for `job` (its job at the gateway).
    pub(super) fn split(&self, job: DrawKey) -> KeyedRng {
        self.split.rng(job)
    }

    pub(super) fn throttle(&self, attempt: DrawKey) -> KeyedRng {
        self.throttle.rng(attempt)
    }
}

/// The key of the call at `index` of step `step` of a job.
#[inline]
pub(super) fn downstream_call(job: DrawKey, step: u16, index: u16) -> DrawKey {
    job.child((u64::from(step) << 16) | u64::from(index))
}

/// The key of the fallback call of a call (beside its attempts', whose
/// kinds are below 3).
#[inline]
pub(super) fn fallback(call: DrawKey) -> DrawKey {
    call.child(3 << 32)
}

/// The key of the saga started by `job` (beside its attempts' and its
/// fallback's); a saga call's key hangs below it (`saga.rs`).
#[inline]
pub(super) fn saga(job: DrawKey) -> DrawKey {
    job.child(4 << 32)
}

/// The key of the event committed by `job` (beside its saga's); its naive
/// publish call is keyed by it, a relay's n-th send below it
/// (`broker/publish.rs`), and each handling of it below it too.
#[inline]
pub(super) fn event(job: DrawKey) -> DrawKey {
    job.child(5 << 32)
}

/// The key of batch `batch` of `partition` delivered to `group`: its
/// trip to the member and its commit's trip back.
#[inline]
pub(super) fn delivery(group: u32, partition: u32, batch: u64) -> DrawKey {
    DELIVERIES
        .child((u64::from(group) << 32) | u64::from(partition))
        .child(batch)
}

/// The root of the deliveries' keys.
const DELIVERIES: DrawKey = DrawKey::root(8);

/// The key of attempt `n` of its kind (retries and hedges count from 1).
#[inline]
pub(super) fn attempt(call: DrawKey, kind: AttemptKind, n: u16) -> DrawKey {
    call.child(((kind as u64) << 32) | u64::from(n))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_of_different_things_differ() {
        let implicit = ClientKeys::new(IMPLICIT);
        let mobile = ClientKeys::new("mobile");
        let request = implicit.open_loop_request(3);
        let keys = [
            request,
            implicit.open_loop_request(4),
            implicit.user_request(3, 0),
            implicit.user_request(0, 3),
            implicit.think(3, 0),
            mobile.open_loop_request(3),
            mobile.user_request(3, 0),
            mobile.think(3, 0),
            ClientKeys::new("web").open_loop_request(3),
            downstream_call(request, 0, 1),
            downstream_call(request, 1, 0),
            attempt(request, AttemptKind::First, 0),
            attempt(request, AttemptKind::Retry, 1),
            attempt(request, AttemptKind::Hedge, 1),
        ];
        for (i, a) in keys.iter().enumerate() {
            for b in &keys[i + 1..] {
                assert_ne!(a, b);
            }
        }
    }

    /// The implicit client's keys are those of the first version, pinned:
    /// every committed report hangs on them.
    #[test]
    fn the_implicit_client_keeps_the_keys_it_always_had() {
        let implicit = ClientKeys::new(IMPLICIT);
        assert_eq!(implicit.open_loop_request(7), DrawKey::root(1).child(7));
        assert_eq!(
            implicit.user_request(2, 5),
            DrawKey::root(2).child(2).child(5)
        );
        assert_eq!(implicit.think(2, 5), DrawKey::root(3).child(2).child(5));
        assert_eq!(ClientKeys::arrival_stream(IMPLICIT), "workload/arrivals");
        assert_eq!(
            ClientKeys::arrival_stream("mobile"),
            "workload/arrivals/mobile"
        );
    }
}
