//! A request's identity: what every hop of a client request knows about
//! it, kept once per request in a slab and reached from its calls and jobs
//! by key, so that events stay 16 bytes.
//!
//! The context lives from the client's send to the client's end (answer,
//! timeout or refusal). Work downstream that outlives it (an orphan: the
//! client gave up, the callee works on) finds its key stale: that is how
//! a component can tell wasted work.
//!
//! The id is for tracing and reports; it is *not* a randomness key (draws
//! are keyed by the request's structural key, see `draws.rs`, so that ids,
//! which depend on event order, never move a random number).

use crate::kernel::SimTime;
use crate::scenario::HttpMethod;

use super::World;

/// Everything a request carries, from its client to the last hop: 32
/// bytes, written once per request (checked by a test). What is the same
/// for every request of a route, its method and path, is read from the
/// route instead, and what is the same for every request of a client, its
/// credential class, from the client.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct RequestContext {
    /// Run-unique, in send order, never reused.
    pub(super) id: u64,
    /// When the client sent it.
    pub(super) sent: SimTime,
    /// The route it was sent on.
    pub(super) route: u32,
    /// The closed-loop user that sent it, numbered over every client
    /// (`NO_USER` for none).
    user: u32,
    /// Its request key (`NO_KEY` for none), drawn for routes with `keys`,
    /// for hashing and sagas: below 2^32 - 1, as validation allows at most
    /// 2^32 - 1 keys, so 4 bytes hold it and its absence.
    key: u32,
    /// The client that sent it (an index into the world's clients; at most
    /// `MAX_CLIENTS`, 1024, fit in 16 bits).
    pub(super) client: u16,
    /// How a gateway let its credential through (`ADMITTED_*`; 0: no
    /// gateway has checked it).
    pub(super) admitted: u8,
    /// A fallback answered for some failed call on its way: a success is
    /// a degraded one.
    pub(super) degraded: bool,
}

/// A gateway verified its token (locally, by the auth service, or by a
/// fresh cached answer).
pub(super) const ADMITTED_VERIFIED: u8 = 1;
/// A gateway forwarded it on a stale cached answer while the auth service
/// was unreachable (fail-open).
pub(super) const ADMITTED_FAIL_OPEN: u8 = 2;

const NO_KEY: u32 = u32::MAX;
const NO_USER: u32 = u32::MAX;

impl RequestContext {
    /// A context; `key` below `u32::MAX` and `user` below `u32::MAX`, as
    /// validation guarantees.
    pub(super) fn new(
        id: u64,
        sent: SimTime,
        route: u32,
        client: u16,
        user: Option<u32>,
        key: Option<u32>,
    ) -> Self {
        debug_assert!(key.is_none_or(|k| k < NO_KEY));
        debug_assert!(user.is_none_or(|u| u < NO_USER));
        RequestContext {
            id,
            sent,
            route,
            user: user.unwrap_or(NO_USER),
            key: key.unwrap_or(NO_KEY),
            client,
            admitted: 0,
            degraded: false,
        }
    }

    /// Its request key, if its route draws one.
    pub(super) fn key(&self) -> Option<u64> {
        (self.key != NO_KEY).then_some(u64::from(self.key))
    }

    /// The closed-loop user that sent it.
    pub(super) fn user(&self) -> Option<u32> {
        (self.user != NO_USER).then_some(self.user)
    }

    /// Who holds its token: its closed-loop user (users are numbered over
    /// every client, so a user's number is its token), else its client
    /// alone (an open-loop client is one integration with one API key,
    /// whatever customers its requests are about).
    pub(super) fn token_key(&self) -> u64 {
        match self.user() {
            Some(user) => u64::from(user),
            None => (1 << 32) | u64::from(self.client),
        }
    }
}

impl World<'_> {
    /// The method and path of a request (those of its route).
    pub(super) fn method_and_path(&self, context: &RequestContext) -> (HttpMethod, &str) {
        let (method, path, _) = self.route_requests[context.route as usize];
        (method, &self.paths[path as usize])
    }

    /// The name and credential class of a request's client (those of the
    /// client that sent it; nothing checks the class yet, the gateway will).
    pub(super) fn client_and_credential(&self, context: &RequestContext) -> (&str, &str) {
        self.clients.name_and_credential(context.client)
    }
}

#[cfg(test)]
mod tests {
    use crate::kernel::{Kernel, RngStreams, RunLimits, SimTime};
    use crate::scenario::{self, HttpMethod};
    use crate::world::World;

    /// Written once per request and copied by every hop that reads it:
    /// the client index fits in what the key's 4 spare bytes freed.
    #[test]
    fn a_context_stays_in_32_bytes() {
        let size = std::mem::size_of::<super::RequestContext>();
        assert!(size <= 32, "RequestContext: {size}");
    }

    #[test]
    fn a_request_carries_its_identity_until_its_client_is_answered() {
        let compiled = scenario::parse(
            r#"{
                "name": "ids", "duration": "1s",
                "services": {"s": {"service_time": {"constant": "5ms"}}},
                "workload": {"arrivals": {"constant": {"rate": 1000}},
                             "routes": [{"service": "s", "method": "POST",
                                         "path": "/v1/orders", "keys": 10}]}
            }"#,
            "ids.json",
        )
        .expect("valid");
        let mut sink = ();
        let (mut world, _) = World::new(&compiled, &RngStreams::new(1), &mut sink);
        let mut kernel = Kernel::new();
        world.start(&mut kernel);
        // Arrivals at 1, 2, 3 ms; each takes 5 ms: three requests in flight.
        let limits = RunLimits {
            event_budget: 3,
            ..RunLimits::until(SimTime::from_nanos(1_000_000_000))
        };
        let _ = kernel.run(&mut world, limits);
        assert_eq!(world.requests.len(), 3);
        assert_eq!(world.requests_sent, 3);
        assert_eq!(world.paths, ["/v1/orders"]);
        let mut ids: Vec<u64> = Vec::new();
        for key in world.requests.keys_where(|_| true) {
            let context = *world.requests.get(key).expect("live");
            assert_eq!(
                world.method_and_path(&context),
                (HttpMethod::Post, "/v1/orders")
            );
            assert_eq!(context.route, 0);
            assert_eq!(context.client, 0);
            assert_eq!(world.client_and_credential(&context), ("default", "none"));
            assert_eq!(context.user(), None);
            assert!(context.key().is_some_and(|k| k < 10), "{context:?}");
            ids.push(context.id);
        }
        ids.sort_unstable();
        assert_eq!(ids, [0, 1, 2]);
        // Once the clients are answered the contexts are gone.
        let _ = kernel.run(
            &mut world,
            RunLimits::until(SimTime::from_nanos(20_000_000)),
        );
        let answered = world.route_stats[0].window.successes;
        assert!(answered >= 3, "{answered}");
        assert_eq!(world.requests.len() as u64, world.route_stats[0].in_flight);
    }
}
