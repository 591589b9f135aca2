//! The clients' side of a route: a request gets its context (id, route,
//! method, path, key), starts as a call on the route's edge, and its end is
//! counted for the route (and wakes a closed-loop user).

use crate::kernel::Kernel;
use crate::kernel::dist::index;

use super::calls::{Parent, counts_outcome};
use super::draws::{self};
use super::request::RequestContext;
use super::slab::Key;
use super::{Event, Status, World};

impl World<'_> {
    pub(super) fn send_request(&mut self, kernel: &mut Kernel<Event>, user: Option<u32>) {
        let request = match (user, &mut self.users) {
            (Some(user), Some(users)) => {
                let k = &mut users.requests[user as usize];
                *k += 1;
                draws::user_request(user, *k - 1)
            }
            _ => {
                self.open_loop_sent += 1;
                draws::open_loop_request(self.open_loop_sent - 1)
            }
        };
        let route = self.picker.pick(&mut self.draws.route(request));
        if self.requests.len() >= self.max_requests {
            // At the bound on requests in flight: refused and counted, so
            // that requests that never end cannot exhaust memory.
            let stats = &mut self.route_stats[route as usize];
            stats.window.requests += 1;
            stats.window.capped += 1;
            self.requests_capped += 1;
            if let (Some(user), Some(users)) = (user, &self.users) {
                let k = users.requests[user as usize];
                let think = users.think.sample(&mut self.draws.think(user, k));
                kernel.schedule_in(think, Event::UserWake(user));
            }
            return;
        }
        let keys = self.route_requests[route as usize].2;
        let key = keys.map(|n| draw_key(&mut self.draws.request_key(request), n));
        let id = self.requests_sent;
        self.requests_sent += 1;
        let context =
            (self.requests).insert(RequestContext::new(id, kernel.now(), route, user, key));
        let stats = &mut self.route_stats[route as usize];
        stats.window.requests += 1;
        stats.in_flight += 1;
        let parent = Parent::Client { request: context };
        self.start_call(kernel, parent, request, route, None, false);
    }

    /// A client request has ended: its context goes, and work still on its
    /// behalf downstream becomes orphan work.
    pub(super) fn client_done(
        &mut self,
        kernel: &mut Kernel<Event>,
        request: Key,
        outcome: Status,
    ) {
        let now = kernel.now();
        let context = self
            .requests
            .remove(request)
            .expect("a client request ends once");
        let (route, user, sent) = (context.route, context.user(), context.sent);
        let stats = &mut self.route_stats[route as usize];
        stats.in_flight -= 1;
        counts_outcome(&mut stats.window, outcome);
        if outcome == Status::Ok {
            let latency = now - sent;
            stats.latency.record(latency);
            stats.window_latency.record(latency);
        }
        if let (Some(user), Some(users)) = (user, &self.users) {
            // Before its k-th request (k ≥ 1; the 0th is the start stagger).
            let k = users.requests[user as usize];
            let think = users.think.sample(&mut self.draws.think(user, k));
            kernel.schedule_in(think, Event::UserWake(user));
        }
    }
}

/// A request key uniformly among `n` (1 to 2^32 - 1, as validation allows).
fn draw_key(rng: &mut crate::kernel::KeyedRng, n: u64) -> u64 {
    u64::from(index(rng, u32::try_from(n).unwrap_or(u32::MAX).max(1)))
}
